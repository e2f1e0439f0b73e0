/*
 * rtptally.h — real-time events answered without a verdict (a deadline passed, the queue
 * was full, the content process could not be used...), counted per cause and reported as
 * one real-time-unchecked security event per cause and period, with the exact count: every
 * such answer is recorded, without one record per open in a storm of thousands.
 *
 * Any thread may add; the reader flushes (at once the first time, then at most every
 * period), and stopping protection flushes what is left. Neither ever blocks on more than
 * this module's own short lock: pal_event_emit only queues.
 */
#ifndef PAL_RTPTALLY_H
#define PAL_RTPTALLY_H

#include <pthread.h>
#include <stdint.h>

#define PAL_RTP_TALLY_CAUSES 8 /* more than the distinct causes rtp.c has */

typedef struct pal_rtp_tally {
    pthread_mutex_t lock;
    struct {
        const char *detail, *action; /* string literals: one entry per cause and action */
        uint64_t n;
    } cause[PAL_RTP_TALLY_CAUSES];
    int64_t last_emit_ms;
    int64_t period_ms;
} pal_rtp_tally;

void pal_rtp_tally_init(pal_rtp_tally *t, int64_t period_ms);
void pal_rtp_tally_destroy(pal_rtp_tally *t);

/* n more answers for detail (why, a literal) with action ("Allow", "Deny", or "None" for a
   written file that was not scanned; a literal). */
void pal_rtp_tally_add(pal_rtp_tally *t, const char *detail, const char *action, uint64_t n);

/* Emit what was counted if the period has passed since the last event (or force). */
void pal_rtp_tally_flush(pal_rtp_tally *t, int force);

#endif
