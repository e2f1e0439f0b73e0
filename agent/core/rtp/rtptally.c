/* rtptally.c — answers without a verdict, counted and reported as events (see rtptally.h). */
#include "rtptally.h"

#include <string.h>

#include "events.h"
#include "msg.h" /* pal_time_now_ms */

void pal_rtp_tally_init(pal_rtp_tally *t, int64_t period_ms)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->period_ms = period_ms;
}

void pal_rtp_tally_destroy(pal_rtp_tally *t)
{
    pthread_mutex_destroy(&t->lock);
}

void pal_rtp_tally_add(pal_rtp_tally *t, const char *detail, const char *action, uint64_t n)
{
    pthread_mutex_lock(&t->lock);
    size_t i = 0;
    while (i < PAL_RTP_TALLY_CAUSES && t->cause[i].detail &&
           !(t->cause[i].detail == detail && t->cause[i].action == action))
        i++;
    if (i == PAL_RTP_TALLY_CAUSES)
        i = PAL_RTP_TALLY_CAUSES - 1; /* more causes than entries: counted, under another */
    if (!t->cause[i].detail) {
        t->cause[i].detail = detail;
        t->cause[i].action = action;
    }
    t->cause[i].n += n;
    pthread_mutex_unlock(&t->lock);
}

void pal_rtp_tally_flush(pal_rtp_tally *t, int force)
{
    struct {
        const char *detail, *action;
        uint64_t n;
    } out[PAL_RTP_TALLY_CAUSES];
    size_t k = 0;
    int64_t now = pal_time_now_ms();
    pthread_mutex_lock(&t->lock);
    if (force || now - t->last_emit_ms >= t->period_ms) {
        for (size_t i = 0; i < PAL_RTP_TALLY_CAUSES; i++) {
            if (t->cause[i].n) {
                out[k].detail = t->cause[i].detail;
                out[k].action = t->cause[i].action;
                out[k++].n = t->cause[i].n;
            }
            t->cause[i].detail = t->cause[i].action = NULL;
            t->cause[i].n = 0;
        }
        if (k)
            t->last_emit_ms = now;
    }
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < k; i++)
        pal_event_emit(&(pal_event){.kind = PAL_EV_RTP_UNCHECKED,
                                    .action = out[i].action,
                                    .detail = out[i].detail,
                                    .has_count = 1,
                                    .count = out[i].n});
}
