/*
 * rtp_internal.h — what rtp.c (the group, the reader, life and status) and rtpwork.c (the
 * workers) share: the event, the state behind pal_rtp and its lock's rules (rtp.c's header
 * comment), and the few functions both sides call. Private to agent/core/rtp.
 */
#ifndef PAL_RTP_INTERNAL_H
#define PAL_RTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "cachebatch.h"
#include "cachetrust.h"
#include "rtp.h"
#include "rtpattr.h"
#include "rtpmounts.h"
#include "rtpproc.h"
#include "rtptally.h"
#include "store.h"

#define N_WORKERS 4
#define QUEUE_MAX 8192 /* events held (queued or scanning) before new ones are overloads */
#define PERM_MASK (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM)
#define MARK_MASK (PERM_MASK | FAN_CLOSE_WRITE)
#define EXPIRE_SLACK_NS (10 * 1000000LL) /* answered up to 10 ms before the deadline */
#define LOG_EVERY_MS 5000 /* timeouts and overloads: one log line per period, with counts */

enum { ST_DISABLED = 0, ST_ENABLED, ST_UNAVAILABLE };

typedef struct ev {
    int fd, pidfd;
    pid_t pid;
    uint64_t mask;
    int perm;
    int answered; /* lock */
    volatile int cancel;
    int refs; /* lock: the queue or a worker, and the unanswered list */
    int64_t deadline_ns;
    /* a written file's writer, told when the event was read: by the time a worker looks,
       the writer may have exited (NULL: not told) */
    char *writer_exe;
    uid_t writer_uid;
    struct ev *qnext;
    struct ev *uprev, *unext;
} ev;

/* The exclusion lists as they were at the last apply: copying them from the settings on
   every event was the main per-event cost. ExclusionPath, ExclusionExtension and
   RealTimeProcessExclusions apply through PAL_APPLY_RTP, so a change reaches load_live. */
typedef struct excl_snap {
    int refs; /* lock */
    char **paths, **exts, **procs;
    size_t np, ne, nproc;
} excl_snap;

typedef struct counters {
    atomic_uint_fast64_t events, cache_hits, scans, blocked, timeouts, overloads, detections;
    atomic_uint_fast64_t empty_allowed, ignore_marks, ignore_marks_dropped;
} counters;

struct pal_rtp {
    pal_rtp_env env;
    pthread_mutex_t life; /* serialises apply, stop and status's reading of the config */

    /* running state (life) */
    int running;
    int fan_fd, wake_fd, mount_fd;
    pthread_t reader, workers[N_WORKERS];
    int reader_started;
    int n_workers;
    int has_pidfd;
    pid_t self;
    char **cfg_paths, **cfg_unmon; /* what the marks were made from */
    size_t n_cfg_paths, n_cfg_unmon;

    pthread_mutex_t lock;
    pthread_cond_t work;
    int stopping;             /* lock */
    volatile int stop_cancel; /* set while stopping: the scans of written files give up */
    ev *uhead, *utail;
    ev *pq_head, *pq_tail, *aq_head, *aq_tail;
    size_t held; /* lock: events alive */
    int64_t timeout_ns;
    int deny_on_timeout;
    struct excl_snap *excl; /* lock: replaced whole by load_live, held by the workers */
    pal_rtp_marked marked;  /* lock */
    pal_rtp_attr *attr;     /* lock (the set of marked inodes; NULL: no ignore marks) */
    int64_t last_timeout_log, last_overload_log;
    pal_rtp_tally unchecked; /* answers without a verdict, for the security events */
    uint64_t defs_gen;       /* lock: signature packages installed since start */

    /* Clean verdicts on their way to the store, also written by a worker that finds the
       queue empty; the ignore mark answers the file's next opens meanwhile. */
    pal_cachebatch cache;

    /* status (life for state and reason) */
    int state;
    char reason[600];
    int64_t since_ms;
    counters c;
    atomic_uint_fast64_t rate_prev_events;
    atomic_int_fast64_t rate_prev_ns;
    atomic_uint_fast64_t rate_value;
    pal_rtp_pstats *pstats;
    pal_cachetrust trust;
    json_t *others; /* life: other permission listeners when protection started */
};

static inline int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* rtp.c: answer the kernel once (lock held; returns whether this call answered), the same
   taking the lock, drop a reference (lock held), count and log an answer without a verdict */
int rtp_ev_answer(pal_rtp *r, ev *e, int allow);
void rtp_answer(pal_rtp *r, ev *e, int allow);
void rtp_ev_unref(pal_rtp *r, ev *e);
void rtp_note_overload(pal_rtp *r, const char *what, const char *action);
/* rtp.c: a line for the daemon's log, at a syslog level */
__attribute__((format(printf, 3, 4))) void rtp_log(pal_rtp *r, int level, const char *fmt, ...);

/* rtpwork.c: a worker thread's body; dropping an exclusion snapshot (lock not held) */
void *rtp_worker_main(void *arg);
void rtp_excl_unref(pal_rtp *r, excl_snap *x);

#endif
