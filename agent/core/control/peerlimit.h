/*
 * peerlimit.h — per-peer accounting for the control server (control.c), so that one local
 * user cannot take a resource every user shares:
 *
 *   pal_peer_count   simultaneous connections per uid on one socket, checked against a cap
 *                    before a connection is taken on (the connection table holds 128).
 *   pal_peer_log     a rate limit on the log lines a peer can cause (protocol errors,
 *                    refused and idle connections): the diagnostics ring keeps the last
 *                    256 lines, and 46,000 lines from one user in 5 s would push
 *                    everything else out of it.
 *
 * Rate-limit rule: per uid, a window opens with the uid's first line and lasts window_ms.
 * The first `burst` lines of a window are logged; the rest are counted, not logged. When
 * the window has ended, its count is handed back once as a summary (by
 * pal_peer_log_flush, which the caller runs on a timer, or by the uid's next
 * pal_peer_log_admit), so the log says how much was suppressed and whose. Not at
 * connection close: a flooder that reconnects for every frame would turn summaries into
 * the flood. Windows are tracked for up to PAL_PEER_LOG_SLOTS uids at once; uids beyond
 * that share one window, reported as uid (uid_t)-1 ("other users").
 *
 * Neither module logs (library code does not log): the caller logs what they decide.
 * pal_peer_count is not locked (its caller holds its own lock around it); pal_peer_log
 * has its own mutex and may be called from any thread.
 */
#ifndef PAL_PEERLIMIT_H
#define PAL_PEERLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- connections per uid ---------------------------------------------------------------- */

typedef struct pal_peer_count pal_peer_count;

/* A table for at most `capacity` connections at once (the server's connection limit).
   NULL on ENOMEM or capacity 0. */
pal_peer_count *pal_peer_count_new(unsigned capacity);
void pal_peer_count_free(pal_peer_count *t); /* accepts NULL */

/*
 * Take one connection for uid if it holds fewer than limit and the table has room.
 * Returns true (counted), or false with nothing changed; *held (optional) is what uid
 * held before the call.
 */
bool pal_peer_count_take(pal_peer_count *t, uid_t uid, unsigned limit, unsigned *held);

/* Give back one connection taken for uid. */
void pal_peer_count_give(pal_peer_count *t, uid_t uid);

/* Connections uid holds now. */
unsigned pal_peer_count_held(const pal_peer_count *t, uid_t uid);

/* ---- log lines per uid ------------------------------------------------------------------ */

#define PAL_PEER_LOG_SLOTS 64

typedef struct pal_peer_log pal_peer_log;

typedef struct pal_peer_summary {
    uid_t uid;           /* (uid_t)-1: the shared window of uids beyond the table */
    uint64_t suppressed; /* lines not logged in that window; always > 0 */
} pal_peer_summary;

/* burst >= 1 lines per window_ms >= 1. NULL on ENOMEM or a zero argument. */
pal_peer_log *pal_peer_log_new(unsigned burst, int64_t window_ms);
void pal_peer_log_free(pal_peer_log *l); /* accepts NULL */

/*
 * One line about uid is about to be logged at time now (pal_mono_ms). Returns true: log
 * it; false: it was counted as suppressed. When uid's previous window ended with lines
 * suppressed, *sum is set and *have_sum true (log the summary before the line); otherwise
 * *have_sum is false.
 */
bool pal_peer_log_admit(pal_peer_log *l, uid_t uid, int64_t now, pal_peer_summary *sum,
                        bool *have_sum);

/*
 * Close the windows that have ended by now: up to max summaries go to out (*n of them;
 * windows beyond max stay for the next call). Returns the time of the next window end that
 * will have a summary to give, or -1 for none (the caller's next timer).
 */
int64_t pal_peer_log_flush(pal_peer_log *l, int64_t now, pal_peer_summary *out, size_t max,
                           size_t *n);

#endif
