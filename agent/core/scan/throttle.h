/*
 * throttle.h — holding one scan to a share of one CPU core (ScanAvgCPULoadFactor): the
 * scan's workers report what each file cost, and pause between files so that the scan's
 * total cost stays at most percent of its elapsed time.
 *
 * What a file costs: the larger of the worker's own CPU time (CLOCK_THREAD_CPUTIME_ID) and
 * the wall time of the slot's scan. In the sandbox the matching runs in the content
 * process, whose CPU time the broker cannot read per request (it is shared with other
 * scans); the wall time of the request bounds it from above, so the share is never
 * exceeded, only sometimes undershot (waiting for the disk counts as work). The walker's
 * own CPU is not counted (it is small next to the reading and matching).
 *
 * A pause is taken by the worker that found the debt, in steps of at most 100 ms so that a
 * cancel is seen, and never while it holds a slot. Threads: any of the scan's workers.
 */
#ifndef PAL_THROTTLE_H
#define PAL_THROTTLE_H

#include <pthread.h>
#include <stdint.h>

typedef struct pal_throttle {
    unsigned percent; /* 0 or >= 100: no pauses */
    pthread_mutex_t lock;
    int64_t start_ns; /* CLOCK_MONOTONIC */
    int64_t cost_ns;  /* reported so far */
} pal_throttle;

/* The measure of one file's work, taken by the worker around it. */
typedef struct pal_throttle_mark {
    int64_t cpu_ns, wall_ns;
} pal_throttle_mark;

void pal_throttle_init(pal_throttle *t, unsigned percent);
void pal_throttle_destroy(pal_throttle *t);
int pal_throttle_active(const pal_throttle *t);

/* Start measuring a piece of work on this thread. */
void pal_throttle_begin(pal_throttle_mark *m);
/* The work is done: charge max(thread CPU, wall_ns) to the scan. wall_ns is the wall time
   of the part done elsewhere (the slot's scan), measured by the caller; 0 if none. */
void pal_throttle_charge(pal_throttle *t, const pal_throttle_mark *m, int64_t wall_ns);
/* Pause until the scan's cost is within its share of the elapsed time, or until *cancel. */
void pal_throttle_pause(pal_throttle *t, const volatile int *cancel);

/* CLOCK_MONOTONIC in ns, for the caller's wall measure. */
int64_t pal_throttle_now_ns(void);

#endif
