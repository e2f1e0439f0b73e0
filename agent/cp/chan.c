/* chan.c — one engine thread's channel: requests in, answers and data requests out (chan.h). */
#define _GNU_SOURCE
#include "chan.h"

#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h"
#include "sandbox.h"
#ifdef PAL_CP_SELFTEST
#include "selftest.h"
#endif

/* How long a channel waits for a request before its thread gives memory back. */
#define CP_IDLE_MS 2000

void cp_log(const char *fmt, ...)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "palisade-cp: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* one write: the line arrives whole even when several threads log */
    ssize_t w = write(CP_FD_STDERR, line, len);
    (void)w;
}

int cp_worker_init(cp_worker *w, unsigned index, pal_engine *eng, const uint8_t *shm,
                   uint32_t stride, int bulk)
{
    memset(w, 0, sizeof(*w));
    w->index = index;
    w->fd = CP_FD_CHANNEL0 + (int)index;
    /* wake up from an idle wait now and then to give memory back (recv_next); no system
       call can set it once the sandbox is closed */
    struct timeval idle = {.tv_sec = CP_IDLE_MS / 1000, .tv_usec = (CP_IDLE_MS % 1000) * 1000};
    if (setsockopt(w->fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle)) != 0)
        return PAL_EIO;
    const uint8_t *slot = shm + (size_t)index * stride;
    w->cancel = (const volatile int *)(const void *)slot;
    w->bulk = bulk ? slot + 4096 : NULL;
    w->rx = malloc(PAL_CPMSG_MAX + 1);
    w->tx = malloc(PAL_CPMSG_MAX);
    w->name = malloc(PAL_CPMSG_NAME_MAX + 1);
    w->inl = malloc(PAL_CPMSG_INLINE_MAX);
    w->hold_buf = malloc(CP_HOLD_MAX);
    if (!w->rx || !w->tx || !w->name || !w->inl || !w->hold_buf)
        return PAL_ENOMEM;
    pal_cpmsg_bundle_start(&w->hold, w->hold_buf, CP_HOLD_MAX);
    return pal_scanner_new(eng, &w->sc);
}

int cp_worker_warmup(cp_worker *w, const uint8_t *sample, size_t len)
{
    pal_source src;
    pal_report rep;
    pal_source_from_memory(&src, sample, len);
    int rc = pal_scan(w->sc, &src, "warm-up.zip", NULL, &rep);
    if (rc < 0)
        return rc;
    /* the sample is a clean zip with one member: anything else means the engine is not
       what the broker runs */
    int ok = rep.verdict == PAL_VERDICT_CLEAN && rep.objects_scanned == 2;
    pal_report_free(&rep);
    return ok ? 0 : PAL_EENGINE;
}

static __attribute__((noreturn)) void broker_bug(cp_worker *w, const char *what)
{
    cp_log("channel %u: %s", w->index, what);
    _exit(PAL_CPMSG_EXIT_PROTO);
}

static void decode_from_broker(cp_worker *w, const uint8_t *p, size_t n, pal_cpmsg *m)
{
    pal_errbuf err;
    if (pal_cpmsg_decode(p, n, PAL_CPMSG_FROM_BROKER, m, &err) < 0) {
        cp_log("channel %u: bad message from the broker: %s", w->index, err.msg);
        _exit(PAL_CPMSG_EXIT_PROTO);
    }
}

/* The next item of the REQUESTS in w->rx. Only SCANs whose whole object waits in the bulk
   area come that way: nothing in them asks for DATA, whose receive would overwrite rx. */
static void take_pending(cp_worker *w, pal_cpmsg *m)
{
    pal_cpmsg_bytes item;
    if (!pal_cpmsg_bundle_next(&w->pending, &item))
        broker_bug(w, "REQUESTS framing changed under us");
    decode_from_broker(w, item.p, item.len, m);
    const pal_cpmsg_scan *s = &m->u.scan;
    if (m->type != PAL_CPMSG_SCAN || !(m->flags & PAL_CPMSG_SCAN_SHM) ||
        s->status != PAL_CPMSG_ST_OK || s->data.len != s->size)
        broker_bug(w, "REQUESTS holding something other than whole objects in the bulk area");
}

/* Decode the n bytes received into w->rx; a malformed message from the broker ends us. */
static void decode_or_exit(cp_worker *w, size_t n, pal_cpmsg *m)
{
    decode_from_broker(w, w->rx, n, m);
    if (m->type == PAL_CPMSG_REQUESTS) {
        w->pending = m->u.items;
        take_pending(w, m);
    }
}

/*
 * The next message. The channel's receive timeout (CP_IDLE_MS, set before the sandbox
 * closed) wakes the wait now and then; between requests (idle) the first such wake-up gives
 * back what the last scans left behind, once per idle period: the scanner's kept buffers and
 * the allocator's free memory (malloc_trim: per-thread arenas keep what large objects used).
 * An agent between scans then holds the rules and the package pages it uses, not its peak.
 */
static void recv_next(cp_worker *w, pal_cpmsg *m, int idle)
{
    if (w->pending.len > 0) {
        take_pending(w, m);
        return;
    }
    ssize_t n;
    for (;;) {
        n = recv(w->fd, w->rx, PAL_CPMSG_MAX + 1, MSG_TRUNC);
        if (n >= 0 || (errno != EINTR && errno != EAGAIN))
            break;
        if (errno == EAGAIN && idle) {
            pal_scanner_release_buffers(w->sc);
            malloc_trim(0);
            idle = 0;
        }
    }
    if (n == 0)
        _exit(0); /* the broker closed the channel: our work is over */
    if (n < 0) {
        cp_log("channel %u: recv: %s", w->index, strerror(errno));
        _exit(PAL_CPMSG_EXIT_IO);
    }
    decode_or_exit(w, (size_t)n, m);
}

void cp_worker_recv(cp_worker *w, pal_cpmsg *m)
{
    recv_next(w, m, 0);
}

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000L + t.tv_nsec;
}

static void send_bytes(cp_worker *w, const uint8_t *buf, size_t len)
{
    ssize_t n;
    do {
        n = send(w->fd, buf, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EPIPE || errno == ECONNRESET)
            _exit(0);
        cp_log("channel %u: send: %s", w->index, strerror(errno));
        _exit(PAL_CPMSG_EXIT_IO);
    }
}

/* Everything held, in one datagram: the message itself when it is alone, else an ANSWERS. */
void cp_worker_flush(cp_worker *w)
{
    if (w->hold.count == 1) {
        uint32_t len = pal_le32(w->hold_buf + PAL_CPMSG_BUNDLE_FIXED);
        send_bytes(w, w->hold_buf + PAL_CPMSG_BUNDLE_FIXED + 4, len);
    } else if (w->hold.count > 1) {
        size_t len = pal_cpmsg_bundle_finish(&w->hold, PAL_CPMSG_ANSWERS);
        send_bytes(w, w->hold_buf, len);
    }
    pal_cpmsg_bundle_start(&w->hold, w->hold_buf, CP_HOLD_MAX);
}

int cp_worker_request_waiting(cp_worker *w)
{
    if (w->pending.len > 0)
        return 1;
    uint8_t b;
    ssize_t n = recv(w->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0;
}

/*
 * Answers leave in the order of the requests: m joins what is held, and unless w->holding
 * everything goes at once, in one datagram (the last answer of a batch: one send, one
 * wake-up). When m does not fit behind what is held, that goes first; one that does not fit
 * the hold buffer at all goes out alone after it.
 */
void cp_worker_send(cp_worker *w, const pal_cpmsg *m)
{
    int first = w->hold.count == 0;
    if (pal_cpmsg_bundle_add(&w->hold, m) != 0) {
        cp_worker_flush(w);
        first = 1;
        if (pal_cpmsg_bundle_add(&w->hold, m) != 0) {
            size_t len = pal_cpmsg_encode(m, w->tx, PAL_CPMSG_MAX);
            if (len == 0) {
                cp_log("channel %u: cannot encode a message of type 0x%x", w->index, m->type);
                _exit(PAL_CPMSG_EXIT_PROTO);
            }
            send_bytes(w, w->tx, len);
            return;
        }
    }
    if (!w->holding)
        cp_worker_flush(w);
    else if (first)
        w->hold_since = mono_ns();
}

/* ---- the source: inline bytes, then data requests ------------------------------------------ */

static ssize_t chan_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
    cp_worker *w = ctx;
    if (len == 0 || off >= w->size)
        return 0;
    if (off < w->first_len) {
        /* the engine reads front to back once; were it to come back to bytes a data answer
           has replaced in the bulk area, it gets an error, never other bytes */
        if (w->first_gone)
            return PAL_EIO;
        size_t n = w->first_len - (size_t)off;
        if (n > len)
            n = len;
        memcpy(buf, w->first + off, n);
        return (ssize_t)n;
    }
    if (w->first_status != PAL_CPMSG_ST_OK)
        return w->first_status == PAL_CPMSG_ST_EOF ? 0 : w->first_status;
    if (w->has_pend && off == w->pend_off) {
        w->has_pend = 0;
        return w->pend_status == PAL_CPMSG_ST_EOF ? 0 : w->pend_status;
    }
    w->has_pend = 0;

    uint64_t left = w->size - off;
    uint32_t want = len < PAL_CPMSG_REQ_MAX ? (uint32_t)len : PAL_CPMSG_REQ_MAX;
    if (want > left)
        want = (uint32_t)left;
    pal_cpmsg req = {.type = PAL_CPMSG_DATA_REQ, .id = w->id};
    req.u.data_req.off = off;
    req.u.data_req.len = want;
    cp_worker_send(w, &req);
    if (w->first != w->inl)
        w->first_gone = 1; /* the answer lands in the bulk area, where the first bytes were */

    uint8_t *out = buf;
    uint32_t got = 0;
    for (;;) {
        pal_cpmsg m;
        cp_worker_recv(w, &m);
        if (m.type != PAL_CPMSG_DATA || m.id != w->id)
            broker_bug(w, "expected DATA for the scan in progress");
        const pal_cpmsg_data *d = &m.u.data;
        if (d->off != off + got || d->len > want - got)
            broker_bug(w, "DATA outside the requested range");
        if (m.flags & PAL_CPMSG_DATA_SHM) {
            if (w->bulk == NULL)
                broker_bug(w, "DATA in shared memory without a bulk area");
            memcpy(out + got, w->bulk, d->len);
        } else {
            memcpy(out + got, d->data.p, d->len);
        }
        got += d->len;
        if (d->status != PAL_CPMSG_ST_OK) {
            if (got == 0)
                return d->status == PAL_CPMSG_ST_EOF ? 0 : d->status;
            w->has_pend = 1;
            w->pend_off = off + got;
            w->pend_status = d->status;
            return (ssize_t)got;
        }
        if (m.flags & PAL_CPMSG_DATA_LAST) {
            if (got != want)
                broker_bug(w, "DATA ended short without a status");
            return (ssize_t)got;
        }
    }
}

/* ---- answers ------------------------------------------------------------------------------- */

static pal_cpmsg_bytes str_bytes(const char *s)
{
    pal_cpmsg_bytes b = {.p = (const uint8_t *)s, .len = s != NULL ? (uint32_t)strlen(s) : 0};
    return b;
}

static void send_error(cp_worker *w, int code)
{
    pal_cpmsg m = {.type = PAL_CPMSG_ERROR, .id = w->id};
    m.u.error_code = code;
    cp_worker_send(w, &m);
}

static int fits(const char *s, size_t max)
{
    return s == NULL || strnlen(s, max + 1) <= max;
}

static void send_report(cp_worker *w, const pal_report *rep)
{
    /* The engine's strings are bounded well under the wire limits (a chain is the name plus
       at most 64 members of 1 KiB); a report that would not fit is an engine failure. */
    int ok =
        rep->n_findings <= PAL_CPMSG_MAX_FINDINGS && fits(rep->reason_chain, PAL_CPMSG_CHAIN_MAX);
    for (size_t i = 0; ok && i < rep->n_findings; i++) {
        const pal_finding *f = &rep->findings[i];
        ok = fits(f->threat, PAL_CPMSG_THREAT_MAX) && fits(f->chain, PAL_CPMSG_CHAIN_MAX) &&
             fits(f->matched_by, PAL_CPMSG_BY_MAX);
    }
    if (!ok) {
        cp_log("channel %u: report too large for the wire", w->index);
        send_error(w, PAL_ELIMIT);
        return;
    }
    pal_cpmsg m = {.type = PAL_CPMSG_RESULT, .id = w->id};
    pal_cpmsg_result *r = &m.u.result;
    r->verdict = (uint32_t)rep->verdict;
    r->reason = (uint32_t)rep->reason;
    r->flags = rep->sha256_valid ? PAL_CPMSG_RES_SHA_VALID : 0;
    r->n_findings = (uint32_t)rep->n_findings;
    r->size = rep->size;
    r->bytes_read = rep->bytes_read;
    r->objects_scanned = rep->objects_scanned;
    if (rep->sha256_valid)
        memcpy(r->sha256, rep->sha256, 32);
    if (rep->reason != PAL_UNSCANNABLE_NONE) {
        r->chain = str_bytes(rep->reason_chain);
        r->detail = str_bytes(rep->reason_detail);
        /* human text: cut it rather than fail the scan */
        if (r->detail.len > PAL_CPMSG_DETAIL_MAX)
            r->detail.len = PAL_CPMSG_DETAIL_MAX;
    }
    cp_worker_send(w, &m);
    for (size_t i = 0; i < rep->n_findings; i++) {
        const pal_finding *f = &rep->findings[i];
        pal_cpmsg fm = {.type = PAL_CPMSG_FINDING, .id = w->id};
        pal_cpmsg_finding *o = &fm.u.finding;
        o->index = (uint32_t)i;
        o->size = f->size;
        memcpy(o->sha256, f->sha256, 32);
        o->threat = str_bytes(f->threat);
        o->chain = str_bytes(f->chain);
        o->by = str_bytes(f->matched_by);
        cp_worker_send(w, &fm);
    }
}

static void handle_scan(cp_worker *w, const pal_cpmsg *m)
{
    const pal_cpmsg_scan *s = &m->u.scan;
    w->id = m->id;
    w->size = s->size;
    w->first_len = s->data.len;
    w->first_status = s->status;
    w->first_gone = 0;
    w->has_pend = 0;
    memcpy(w->name, s->name.p, s->name.len);
    w->name[s->name.len] = '\0';
    if (m->flags & PAL_CPMSG_SCAN_SHM) {
        /* read where they lie (the decoder checked the range against PAL_CPMSG_REQ_MAX,
           the smallest area CONFIG accepts): the broker writes the area again only to
           answer a data request of ours or after our answer */
        if (w->bulk == NULL)
            broker_bug(w, "SCAN in shared memory without a bulk area");
        w->first = w->bulk + s->bulk_off;
    } else {
        memcpy(w->inl, s->data.p, s->data.len);
        w->first = w->inl;
    }

#ifdef PAL_CP_SELFTEST
    if (cp_selftest_trigger(w))
        return;
#endif
    int64_t t0 = mono_ns();
    if (w->hold.count != 0 && t0 - w->hold_since > CP_HOLD_NS)
        cp_worker_flush(w);
    pal_source src = {.size = w->size, .read_at = chan_read_at, .ctx = w};
    pal_report rep;
    int rc;
    if (w->first != w->inl && w->first_status == PAL_CPMSG_ST_OK && w->first_len == w->size)
        rc = pal_scan_memory(w->sc, w->first, w->first_len, w->name, w->cancel, &rep);
    else
        rc = pal_scan(w->sc, &src, w->name, w->cancel, &rep);
    if (rc < 0) {
        cp_log("channel %u: the engine failed: %s", w->index, pal_strerror(rc));
        send_error(w, rc);
        return;
    }
    /* the broker sent more at once: answer them together (chan.h), unless this scan was
       slow, so that an answer is never held behind more than one slow scan */
    w->holding = mono_ns() - t0 <= CP_HOLD_NS && cp_worker_request_waiting(w);
    send_report(w, &rep);
    w->holding = 0;
    pal_report_free(&rep);
}

static void handle_selftest(cp_worker *w, const pal_cpmsg *m)
{
    w->id = m->id;
#ifdef PAL_CP_SELFTEST
    pal_cpmsg r = {.type = PAL_CPMSG_SELFTEST_RESULT, .id = m->id};
    r.u.selftest_result.action = m->u.selftest.action;
    r.u.selftest_result.err = cp_selftest_attack(&m->u.selftest);
    cp_worker_send(w, &r);
#else
    /* the installed binary has no self-tests */
    send_error(w, PAL_EPERM);
#endif
}

/*
 * During a scan the broker's next request follows the last answer within microseconds,
 * while waking a thread that went to sleep costs tens of them where an idle CPU must be
 * woken (a virtual machine's vCPU above all: bench/RESULTS.md, "Sandbox"). So the thread
 * polls its channel for a moment before it blocks. Bounded: at most CP_SPIN_NS of CPU per
 * idle period, and only between requests, never while the broker reads data for us.
 */
#define CP_SPIN_NS 50000L

/* 1 with *m when a request came within the spin, 0 when the caller should block. */
static int recv_spin(cp_worker *w, pal_cpmsg *m)
{
    if (w->pending.len > 0) {
        take_pending(w, m);
        return 1;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        ssize_t n = recv(w->fd, w->rx, PAL_CPMSG_MAX + 1, MSG_TRUNC | MSG_DONTWAIT);
        if (n > 0) {
            decode_or_exit(w, (size_t)n, m);
            return 1;
        }
        /* end of file and errors are the blocking receive's to handle */
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            return 0;
        sched_yield(); /* a broker thread waiting for this CPU goes first */
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > CP_SPIN_NS)
            return 0;
    }
}

void cp_worker_run(cp_worker *w)
{
    for (;;) {
        pal_cpmsg m;
        /* held answers never wait for a request that is not there (handle_scan holds them
           only when one is; this is the guard for every other way here) */
        if (w->hold.count != 0 && !cp_worker_request_waiting(w))
            cp_worker_flush(w);
        if (!recv_spin(w, &m))
            recv_next(w, &m, 1);
        switch (m.type) {
        case PAL_CPMSG_SCAN:
            handle_scan(w, &m);
            break;
        case PAL_CPMSG_SELFTEST:
            handle_selftest(w, &m);
            break;
        default:
            broker_bug(w, "unexpected message outside a request");
        }
    }
}
