/*
 * cppipe.c — several small objects per round trip on one channel (pal_cpsup_scan_pipelined,
 * cpsup.h). A small file costs the broker and the content process far more in waking each
 * other up and in the kernel's work per datagram than in scanning: one SCAN out, a sleep,
 * the RESULT back, another wake-up, and the identity guard's read of /proc before each
 * object. Here the guard runs once, every object goes out at once as a complete SCAN (each
 * its own request): with the slot's bulk area, all of them in one REQUESTS datagram and
 * their bytes in the area, else one datagram each with the bytes inline; and the content
 * process, seeing more requests waiting, holds its answers and sends them together in one
 * ANSWERS (agent/cp/chan.c), so a batch costs each side about one send and one wake-up.
 *
 * Nothing is trusted more than on the single path: each answer goes through the same
 * conversation code (cpchan_answer: request id, state, sizes, "clean" only for content read,
 * catalog, chains), in request order. A failure under one object ends the pipeline there;
 * what comes after goes through the single path (cpchan_scan_on_slot), so that a crash is
 * laid on the object that caused it and a retry runs alone as it always does.
 */
#define _GNU_SOURCE
#include "cpchan.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cpspawn.h"

/* What the pipeline left to the single path. */
typedef struct pipe_state {
    int settled[PAL_CPSUP_PIPE_MAX];       /* the report is final */
    uint64_t died_gen[PAL_CPSUP_PIPE_MAX]; /* it killed this instance once: retry alone */
} pipe_state;

/* Send what fits now (sent .. n-1), never waiting for room: the content process's queue
   holds few datagrams (net.unix.max_dgram_qlen), and a wait here while it is busy sending
   its answers would hold both sides. *more goes 0 when sending failed for good. */
static size_t top_up(scan_ctx *c, size_t sent, size_t n, int *more)
{
    while (*more && sent < n) {
        errno = 0;
        if (cpchan_send_scan(&c[sent], MSG_DONTWAIT) != 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                *more = 0;
            break;
        }
        sent++;
    }
    return sent;
}

/* Run as much of the batch as one instance will answer; the rest is left unsettled. */
static void pipe_run(pal_cpsup *sup, unsigned slot, size_t n, const pal_source *srcs,
                     const char *const *names, const volatile int *cancel, pal_report *reps,
                     int *rcs, pal_cpsup_outcome *ocs, pipe_state *ps)
{
    cp_inst *in = NULL;
    char why[700];
    cpsup_acq_result a = cpsup_acquire(sup, slot, 0, 0, names[0], cancel, &in, why, sizeof(why));
    if (a == CPSUP_ACQ_STOPPED) {
        for (size_t i = 0; i < n; i++) {
            rcs[i] = PAL_ESTATE;
            ps->settled[i] = 1;
        }
        return;
    }
    if (a != CPSUP_ACQ_OK)
        return; /* cancelled or unavailable: the single path says so for each object */
    /* The identity guard, once for the whole hand-off. A failure is left to the single
       path, which checks again and kills, waits or retries exactly as it always does. */
    pal_errbuf terr;
    if (pal_cpident_guard_check(&in->guard, &terr) != 0) {
        cpsup_release(sup, slot, in, 0, 0);
        return;
    }
    scan_ctx c[PAL_CPSUP_PIPE_MAX];
    for (size_t i = 0; i < n; i++) {
        size_t name_len = strlen(names[i]);
        size_t hint_len;
        const char *hint = cpchan_hint(names[i], name_len, &hint_len);
        c[i] = (scan_ctx){.sup = sup,
                          .slot = slot,
                          .in = in,
                          .s = &sup->slots[slot],
                          .fd = in->chan[slot],
                          .src = &srcs[i],
                          .name = names[i],
                          .name_len = name_len,
                          .hint = hint,
                          .hint_len = hint_len,
                          .cancel = cancel};
    }
    uint64_t gen = in->gen;
    run_result r = cpchan_begin(&c[0]);
    size_t sent = 0;
    int more = 1;
    if (r == RUN_OK && in->bulk) {
        /* One REQUESTS with every object in the bulk area; what did not go in (a source
           that came up short) is scanned afterwards on its own. */
        int k = cpchan_send_batch(c, n);
        if (k < 0)
            r = RUN_DIED;
        else
            sent = (size_t)k;
        more = 0;
    } else if (r == RUN_OK) {
        /* The first SCAN may wait for room (the channel is idle); the others are sent as
           room comes (top_up), and what never went out is scanned afterwards on its own. */
        if (cpchan_send_scan(&c[0], 0) != 0)
            r = RUN_DIED;
        else
            sent = top_up(c, 1, n, &more);
    }
    if (r != RUN_OK) {
        /* as on the single path: a death before the answer counts as the first object's
           first death, and it is retried alone on the next instance */
        cpsup_kill_and_wait(sup, in);
        cpsup_release(sup, slot, in, 0, 0);
        ps->died_gen[0] = gen;
        return;
    }
    /* For events, the objects in flight are the one waited for and every one of the batch
       behind it (its answer may be held while a later one scans): "j\nj+1\n...", a tail
       of one string. */
    size_t at[PAL_CPSUP_PIPE_MAX], len = 0;
    for (size_t i = 0; i < n; i++)
        len += c[i].name_len + 1;
    char *inflight = malloc(len);
    len = 0;
    for (size_t i = 0; inflight != NULL && i < n; i++) {
        at[i] = len;
        memcpy(inflight + len, names[i], c[i].name_len);
        len += c[i].name_len;
        inflight[len++] = i + 1 < n ? '\n' : '\0';
    }
    unsigned answered = 0;
    uint64_t served = 0;
    for (size_t j = 0; j < sent; j++) {
        if (j > 0)
            sent = top_up(c, sent, n, &more);
        cpsup_set_slot_object(sup, slot, inflight != NULL ? inflight + at[j] : names[j]);
        pal_report_init(&reps[j]);
        c[j].pipe_behind = j + 1 < sent;
        c[j].pipe_names = inflight != NULL ? inflight + at[j] : NULL;
        c[j].pipe_eager = 1;
        r = cpchan_answer(&c[j], &reps[j]);
        reps[j].bytes_read = c[j].served;
        served += c[j].served;
        if (r == RUN_OK || r == RUN_CP_ERROR)
            answered++;
        if (r == RUN_OK || r == RUN_CP_ERROR || r == RUN_NOMEM) {
            /* the instance is sound (after RUN_NOMEM the rest of that answer is still on
               the channel: the next object's read calls it late and restarts the instance,
               as the single path's next request would) */
            ps->settled[j] = cpchan_settle(&c[j], r, 0, "", &reps[j], &ocs[j], &rcs[j]);
            continue;
        }
        /* died, misbehaved or timed out under object j: the objects after it are not
           answered; the instance goes before anything else is sent */
        char end[200] = "";
        cpsup_kill_and_wait(sup, in);
        if (r == RUN_DIED)
            cpspawn_describe_end(end, sizeof(end), in->exit_code, in->term_signal);
        if (r == RUN_TIMEOUT && c[j].pipe_behind)
            break; /* whose time it was is not known (the content process holds answers
                      while later objects scan): j and the rest are rescanned one by one */
        if (cpchan_settle(&c[j], r, 0, end, &reps[j], &ocs[j], &rcs[j]))
            ps->settled[j] = 1;
        else
            ps->died_gen[j] = gen;
        break;
    }
    pthread_mutex_lock(&sup->lock);
    sup->st.bytes_served += served;
    pthread_mutex_unlock(&sup->lock);
    cpsup_release(sup, slot, in, 0, answered); /* forgets the slot's object */
    free(inflight);
}

int pal_cpsup_scan_pipelined(pal_cpsup *sup, unsigned slot, int pkg_fd, const pal_limits *limits,
                             size_t n, const pal_source *srcs, const char *const *names,
                             const volatile int *cancel, pal_report *reps, int *rcs,
                             pal_cpsup_outcome *outcomes)
{
    if (reps == NULL || rcs == NULL || n > PAL_CPSUP_PIPE_MAX)
        return PAL_EINVAL;
    for (size_t i = 0; i < n; i++)
        pal_report_init(&reps[i]);
    if (sup == NULL || slot >= sup->cfg.channels || pkg_fd < 0 || limits == NULL || srcs == NULL ||
        names == NULL || n == 0)
        return PAL_EINVAL;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (srcs[i].read_at == NULL || names[i] == NULL || names[i][0] == '\0' ||
            srcs[i].size > PAL_CPMSG_INLINE_MAX)
            return PAL_EINVAL;
        total += srcs[i].size;
    }
    if (total > PAL_CPSUP_PIPE_BYTES)
        return PAL_EINVAL;
    pal_cpsup_outcome ocs[PAL_CPSUP_PIPE_MAX];
    for (size_t i = 0; i < n; i++) {
        rcs[i] = 0;
        ocs[i] = PAL_CPSUP_SCANNED;
    }
    int rc = cpchan_slot_enter(sup, slot);
    if (rc != 0)
        return rc;
    pipe_state ps;
    memset(&ps, 0, sizeof(ps));
    pal_errbuf perr;
    rc = cpsup_offer_package(sup, pkg_fd, limits, &perr);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            rcs[i] = rc;
            ps.settled[i] = 1;
        }
    } else {
        pipe_run(sup, slot, n, srcs, names, cancel, reps, rcs, ocs, &ps);
    }
    for (size_t i = 0; i < n; i++)
        if (!ps.settled[i]) {
            pal_report_free(&reps[i]);
            rcs[i] = cpchan_scan_on_slot(sup, slot, &srcs[i], names[i], strlen(names[i]), cancel,
                                         ps.died_gen[i], &reps[i], &ocs[i]);
        } else if (rcs[i] == 0 && reps[i].reason_chain == NULL &&
                   reps[i].reason != PAL_UNSCANNABLE_NONE) {
            /* as pal_cpsup_scan: an unscannable report without its chain is out of memory */
            pal_report_free(&reps[i]);
            rcs[i] = PAL_ENOMEM;
        }
    cpchan_slot_leave(sup, slot);
    if (outcomes != NULL)
        memcpy(outcomes, ocs, n * sizeof(*ocs));
    return 0;
}
