/*
 * cpchan.c — the broker's side of the channels, one per slot (cpchan.h): a scan's and a
 * self-test's conversation with the content process, data served from the caller's
 * source, and the checks that treat every answer as hostile.
 */
#define _GNU_SOURCE
#include "cpchan.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cpspawn.h"

const char *pal_cpsup_outcome_name(pal_cpsup_outcome o)
{
    switch (o) {
    case PAL_CPSUP_SCANNED:
        return "scanned";
    case PAL_CPSUP_MISBEHAVED:
        return "content-process-misbehaved";
    case PAL_CPSUP_TIMEOUT:
        return "content-process-timeout";
    case PAL_CPSUP_CRASHED:
        return "content-process-crashed";
    case PAL_CPSUP_UNAVAILABLE:
        return "content-process-unavailable";
    case PAL_CPSUP_CP_ERROR:
        return "content-process-error";
    case PAL_CPSUP_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}

/* ---- requests: one scan ------------------------------------------------------------------- */

#define TAMPER_RETRIES 3       /* instances one object waits for when each is tampered with */
#define GONE_WAIT_MS 1000      /* how long an unreadable instance has to show it is exiting */
#define PAL_CPSUP_HINT_MAX 255 /* bytes of name hint the content process sees */

/* A chain the content process rooted at the hint, rooted at the object's full name. The
   caller checked that it starts with the hint. malloc'd or NULL. */
static char *reroot(const scan_ctx *c, pal_cpmsg_bytes chain)
{
    size_t rest = chain.len - c->hint_len;
    char *out = malloc(c->name_len + rest + 1);
    if (out) {
        memcpy(out, c->name, c->name_len);
        memcpy(out + c->name_len, chain.p + c->hint_len, rest);
        out[c->name_len + rest] = '\0';
    }
    return out;
}

static run_result misbehaved(scan_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static run_result misbehaved(scan_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
    cpsup_kill(c->sup, c->in, PAL_CPSUP_EV_KILL_MISBEHAVED, c->name, c->why);
    return RUN_MISBEHAVED;
}

/* The slot's shared bulk area (an instance with one): data answers, and SCANs' first bytes. */
static uint8_t *bulk_area(const scan_ctx *c)
{
    return c->in->shm + (size_t)c->slot * c->in->stride + CTL_PAGE;
}

/* Read len bytes at off from the caller's source; the status after them. */
static int32_t read_source(const pal_source *src, uint64_t off, uint8_t *buf, uint32_t len,
                           uint32_t *got)
{
    *got = 0;
    while (*got < len) {
        ssize_t n = src->read_at(src->ctx, off + *got, buf + *got, len - *got);
        if (n == 0)
            return PAL_CPMSG_ST_EOF;
        if (n < 0)
            return n >= PAL_EPROTO ? (int32_t)n : PAL_EIO;
        if ((size_t)n > len - *got)
            return PAL_EIO; /* a source that says it read more than asked is broken */
        *got += (uint32_t)n;
    }
    return PAL_CPMSG_ST_OK;
}

static void note_served(scan_ctx *c, uint64_t off, uint32_t got)
{
    c->served += got;
    if (off <= c->covered && off + got > c->covered)
        c->covered = off + got;
}

/* One datagram of len bytes from the slot's send buffer: 0, or -1 with errno. */
static int send_tx(scan_ctx *c, size_t len, int flags)
{
    ssize_t n;
    do {
        n = send(c->fd, c->s->tx, len, MSG_NOSIGNAL | flags);
    } while (n < 0 && errno == EINTR);
    if (n >= 0 && n != (ssize_t)len)
        errno = EIO;
    return n == (ssize_t)len ? 0 : -1;
}

static int send_msg_flags(scan_ctx *c, const pal_cpmsg *m, int flags)
{
    size_t len = pal_cpmsg_encode(m, c->s->tx, PAL_CPMSG_MAX);
    if (len == 0)
        return -2;
    return send_tx(c, len, flags);
}

static int send_msg(scan_ctx *c, const pal_cpmsg *m)
{
    return send_msg_flags(c, m, 0);
}

/* Wait for the next datagram and decode it, watching the cancel flag and the deadline. */
static run_result recv_datagram(scan_ctx *c, pal_cpmsg *m)
{
    for (;;) {
        if (c->cancel != NULL && *c->cancel && !c->cancel_sent) {
            __atomic_store_n(c->cancel_word, 1, __ATOMIC_RELEASE);
            c->cancel_sent = 1;
        }
        int64_t left = c->deadline - cpsup_mono_ms();
        if (left <= 0)
            return RUN_TIMEOUT;
        int ms = (int)(left > 1000 ? 1000 : left);
        if (c->cancel != NULL && !c->cancel_sent && ms > WAIT_TICK_MS)
            ms = WAIT_TICK_MS; /* the flag is polled, not signalled */
        /* in a pipeline the answers come together: most are there before we look */
        ssize_t n = -1;
        if (c->pipe_eager)
            n = recv(c->fd, c->s->rx, PAL_CPMSG_MAX + 1, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            /* the pidfd too: a copy of its channel end held elsewhere (a fork of the broker
               at the wrong moment) would keep end-of-file from ever coming */
            struct pollfd pf[2] = {{.fd = c->fd, .events = POLLIN},
                                   {.fd = c->in->pidfd, .events = POLLIN}};
            int np = poll(pf, 2, ms);
            if (np < 0 && errno != EINTR)
                return RUN_DIED;
            if (np <= 0)
                continue;
            if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
                return RUN_DIED; /* exited, and nothing left to read */
            n = recv(c->fd, c->s->rx, PAL_CPMSG_MAX + 1, MSG_DONTWAIT | MSG_TRUNC);
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return RUN_DIED;
        if ((size_t)n > PAL_CPMSG_MAX)
            return misbehaved(c, "message of %zd bytes, over the maximum of %u", n, PAL_CPMSG_MAX);
        pal_errbuf err;
        if (pal_cpmsg_decode(c->s->rx, (size_t)n, PAL_CPMSG_FROM_CP, m, &err) != 0)
            return misbehaved(c, "malformed message: %s", err.msg);
        return RUN_OK;
    }
}

/* The next message for c: the next item of an ANSWERS this instance sent, else the next
   datagram (an ANSWERS is opened and its first item taken). Each item is decoded and checked
   as if it had come alone. */
static run_result recv_msg(scan_ctx *c, pal_cpmsg *m)
{
    cp_slot *s = c->s;
    if (s->pending.len > 0 && s->pending_gen != c->in->gen)
        s->pending.len = 0; /* left by an instance that is gone */
    if (s->pending.len == 0) {
        run_result r = recv_datagram(c, m);
        if (r != RUN_OK)
            return r;
        if (m->type == PAL_CPMSG_ANSWERS) {
            s->pending = m->u.items;
            s->pending_gen = c->in->gen;
        }
    }
    if (s->pending.len > 0) {
        pal_cpmsg_bytes item;
        pal_errbuf err;
        (void)pal_cpmsg_bundle_next(&s->pending, &item); /* the decoder checked the framing */
        if (pal_cpmsg_decode(item.p, item.len, PAL_CPMSG_FROM_CP, m, &err) != 0)
            return misbehaved(c, "malformed message in ANSWERS: %s", err.msg);
    }
    if (m->id < c->id) {
        /* an extra message after an earlier answer, come late: not this object's
           doing, so it is retried on the next instance */
        snprintf(c->why, sizeof(c->why), "sent a message for request %llu after it was answered",
                 (unsigned long long)m->id);
        cpsup_kill(c->sup, c->in, PAL_CPSUP_EV_KILL_MISBEHAVED, NULL, c->why);
        return RUN_DIED;
    }
    if (m->id != c->id)
        return misbehaved(c, "answer for request %llu while request %llu is in flight",
                          (unsigned long long)m->id, (unsigned long long)c->id);
    return RUN_OK;
}

/* Answer one DATA_REQ. */
static run_result serve(scan_ctx *c, const pal_cpmsg_data_req *q)
{
    uint64_t size = c->src->size;
    if (q->off > size || q->len > size - q->off)
        return misbehaved(c, "asked for bytes %llu..%llu of a %llu-byte object",
                          (unsigned long long)q->off, (unsigned long long)(q->off + q->len),
                          (unsigned long long)size);
    /* the engine reads an object once: more than its size in all is a loop or a lie */
    if (c->served > size || q->len > size - c->served)
        return misbehaved(c, "asked for %llu bytes in all of a %llu-byte object",
                          (unsigned long long)(c->served + q->len), (unsigned long long)size);
    pthread_mutex_lock(&c->sup->lock);
    c->sup->st.data_requests++;
    pthread_mutex_unlock(&c->sup->lock);
    pal_cpmsg m = {.type = PAL_CPMSG_DATA, .id = c->id};
    if (c->in->bulk) {
        uint8_t *area = bulk_area(c);
        uint32_t got;
        int32_t st = read_source(c->src, q->off, area, q->len, &got);
        note_served(c, q->off, got);
        m.flags = PAL_CPMSG_DATA_LAST | PAL_CPMSG_DATA_SHM;
        m.u.data.off = q->off;
        m.u.data.len = got;
        m.u.data.status = st;
        return send_msg(c, &m) == 0 ? RUN_OK : RUN_DIED;
    }
    uint32_t done = 0;
    for (;;) {
        uint32_t part = q->len - done < PAL_CPMSG_CHUNK_MAX ? q->len - done : PAL_CPMSG_CHUNK_MAX;
        uint8_t *dst = c->s->tx + PAL_CPMSG_DATA_FIXED;
        uint32_t got;
        int32_t st = read_source(c->src, q->off + done, dst, part, &got);
        note_served(c, q->off + done, got);
        done += got;
        int last = done == q->len || st != PAL_CPMSG_ST_OK;
        m.flags = last ? PAL_CPMSG_DATA_LAST : 0;
        m.u.data.off = q->off + done - got;
        m.u.data.len = got;
        m.u.data.status = st;
        m.u.data.data.p = dst;
        m.u.data.data.len = got;
        if (send_msg(c, &m) != 0)
            return RUN_DIED;
        if (last)
            return RUN_OK;
    }
}

static char *dup_bytes(pal_cpmsg_bytes b)
{
    char *s = malloc((size_t)b.len + 1);
    if (s != NULL) {
        memcpy(s, b.p, b.len);
        s[b.len] = '\0';
    }
    return s;
}

/* Human text from the content process, made printable if it is not clean UTF-8. */
static char *dup_detail(pal_cpmsg_bytes b)
{
    char *s = dup_bytes(b);
    if (s != NULL && !pal_cpmsg_utf8_clean(b.p, b.len))
        for (uint32_t i = 0; i < b.len; i++)
            if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
                s[i] = '?';
    return s;
}

static volatile int *cancel_word(const scan_ctx *c)
{
    return (volatile int *)(void *)(c->in->shm + (size_t)c->slot * c->in->stride);
}

run_result cpchan_begin(scan_ctx *c)
{
    c->cancel_word = cancel_word(c);
    __atomic_store_n(c->cancel_word, 0, __ATOMIC_RELEASE);

    /* Anything waiting on an idle channel was sent unasked, in an ANSWERS or alone. */
    cp_slot *s = c->s;
    if (s->pending.len > 0 && s->pending_gen == c->in->gen) {
        snprintf(c->why, sizeof(c->why), "sent %u bytes of answers nobody asked for",
                 s->pending.len);
        s->pending.len = 0;
        cpsup_kill(c->sup, c->in, PAL_CPSUP_EV_KILL_MISBEHAVED, NULL, c->why);
        return RUN_DIED;
    }
    s->pending.len = 0;
    ssize_t early = recv(c->fd, c->s->rx, PAL_CPMSG_MAX + 1, MSG_DONTWAIT | MSG_TRUNC);
    if (early == 0)
        return RUN_DIED;
    if (early > 0) {
        snprintf(c->why, sizeof(c->why), "sent a message of %zd bytes nobody asked for", early);
        cpsup_kill(c->sup, c->in, PAL_CPSUP_EV_KILL_MISBEHAVED, NULL, c->why);
        return RUN_DIED; /* not this object's doing: retry it on the next instance */
    }
    return RUN_OK;
}

/* c's SCAN into m, its first bytes read to at: in the slot's bulk area at bulk_off (shm) or
   in place in the slot's send buffer. */
static void fill_scan(scan_ctx *c, pal_cpmsg *m, uint8_t *at, int shm, uint32_t bulk_off)
{
    const pal_source *src = c->src;
    c->cancel_word = cancel_word(c);
    c->served = c->covered = 0; /* a SCAN that could not go out is sent again later */
    c->id = atomic_fetch_add(&c->sup->next_id, 1);
    /* through the bulk area, as much as it holds: an object that fits is scanned in place */
    uint32_t first_max = shm ? PAL_CPMSG_REQ_MAX - bulk_off : PAL_CPMSG_INLINE_MAX;
    uint32_t want = src->size < first_max ? (uint32_t)src->size : first_max;
    uint32_t got;
    int32_t st = read_source(src, 0, at, want, &got);
    if (got == want)
        st = PAL_CPMSG_ST_OK; /* a failure past the first bytes is the engine's to meet */
    note_served(c, 0, got);
    *m = (pal_cpmsg){.type = PAL_CPMSG_SCAN, .id = c->id, .flags = shm ? PAL_CPMSG_SCAN_SHM : 0};
    m->u.scan.size = src->size;
    m->u.scan.status = st;
    m->u.scan.bulk_off = bulk_off;
    m->u.scan.name.p = (const uint8_t *)c->hint;
    m->u.scan.name.len = (uint32_t)c->hint_len;
    m->u.scan.data.p = shm ? NULL : at;
    m->u.scan.data.len = got;
}

int cpchan_send_scan(scan_ctx *c, int flags)
{
    pal_cpmsg m;
    if (c->in->bulk)
        fill_scan(c, &m, bulk_area(c), 1, 0);
    else
        fill_scan(c, &m, c->s->tx + PAL_CPMSG_SCAN_FIXED + c->hint_len, 0, 0);
    return send_msg_flags(c, &m, flags);
}

int cpchan_send_batch(scan_ctx *c, size_t n)
{
    cp_slot *s = c[0].s;
    uint8_t *area = bulk_area(&c[0]);
    uint32_t off = 0;
    pal_cpmsg_bundler b;
    pal_cpmsg_bundle_start(&b, s->tx, PAL_CPMSG_MAX);
    size_t k = 0;
    for (; k < n; k++) {
        uint64_t size = c[k].src->size;
        if (size > PAL_CPMSG_INLINE_MAX || size > PAL_CPMSG_REQ_MAX - off)
            break; /* the caller's limits keep a batch inside the area: this one goes alone */
        pal_cpmsg m;
        fill_scan(&c[k], &m, area + off, 1, off);
        /* a source that ended early or failed goes alone, as does what follows it */
        if (m.u.scan.status != PAL_CPMSG_ST_OK || m.u.scan.data.len != size ||
            pal_cpmsg_bundle_add(&b, &m) != 0)
            break;
        off += (uint32_t)((size + 63) & ~(uint64_t)63); /* each object on a cache line */
    }
    if (k == 0)
        return 0;
    return send_tx(&c[0], pal_cpmsg_bundle_finish(&b, PAL_CPMSG_REQUESTS), 0) == 0 ? (int)k : -1;
}

run_result cpchan_answer(scan_ctx *c, pal_report *rep)
{
    const pal_source *src = c->src;
    pal_cpmsg m;
    const pal_limits *lim = &c->in->pkg->limits;
    c->deadline = cpsup_mono_ms() + (int64_t)lim->max_scan_ms + c->sup->cfg.timeout_grace_ms;
    const pal_sigpkg *pkg = c->in->pkg->catalog;

    uint32_t n_findings = 0, next = 0;
    for (;;) {
        run_result r = recv_msg(c, &m);
        if (r == RUN_TIMEOUT) {
            snprintf(c->why, sizeof(c->why), "content process did not answer within %u ms",
                     lim->max_scan_ms + c->sup->cfg.timeout_grace_ms);
            /* behind a pipeline's later objects the culprit is not known (the answer may be
               held while a later object scans): the event names them all, each is
               rescanned */
            cpsup_kill(c->sup, c->in, PAL_CPSUP_EV_KILL_TIMEOUT,
                       c->pipe_behind ? c->pipe_names : c->name, c->why);
            return RUN_TIMEOUT;
        }
        if (r != RUN_OK)
            return r;
        int want_findings = rep->findings != NULL;
        switch (m.type) {
        case PAL_CPMSG_DATA_REQ:
            if (want_findings)
                return misbehaved(c, "DATA_REQ while sending findings");
            r = serve(c, &m.u.data_req);
            if (r != RUN_OK)
                return r;
            continue;
        case PAL_CPMSG_ERROR:
            if (want_findings)
                return misbehaved(c, "ERROR while sending findings");
            c->cp_code = m.u.error_code;
            return RUN_CP_ERROR;
        case PAL_CPMSG_RESULT: {
            const pal_cpmsg_result *res = &m.u.result;
            if (want_findings)
                return misbehaved(c, "second RESULT");
            if (res->size != src->size)
                return misbehaved(c, "RESULT for an object of %llu bytes, it has %llu",
                                  (unsigned long long)res->size, (unsigned long long)src->size);
            /* the engine never calls clean what it did not read */
            if ((res->reason == PAL_UNSCANNABLE_NONE || (res->flags & PAL_CPMSG_RES_SHA_VALID)) &&
                c->covered != src->size)
                return misbehaved(c,
                                  "claims the whole object was examined, only %llu of %llu "
                                  "bytes were read",
                                  (unsigned long long)c->covered, (unsigned long long)src->size);
            if (res->reason != PAL_UNSCANNABLE_NONE &&
                pal_cpmsg_check_chain(c->hint, c->hint_len, res->chain) != 0)
                return misbehaved(c, "reason chain not rooted at the object");
            rep->verdict = (pal_verdict)res->verdict;
            rep->reason = (pal_unscannable)res->reason;
            rep->size = src->size;
            rep->objects_scanned = res->objects_scanned;
            rep->sha256_valid = (res->flags & PAL_CPMSG_RES_SHA_VALID) != 0;
            memcpy(rep->sha256, res->sha256, 32);
            if (res->reason != PAL_UNSCANNABLE_NONE) {
                rep->reason_chain = reroot(c, res->chain);
                rep->reason_detail = res->detail.len ? dup_detail(res->detail) : NULL;
                if (rep->reason_chain == NULL || (res->detail.len && rep->reason_detail == NULL))
                    return RUN_NOMEM;
            }
            if (res->n_findings == 0)
                return RUN_OK;
            n_findings = res->n_findings;
            rep->findings = calloc(n_findings, sizeof(pal_finding));
            if (rep->findings == NULL)
                return RUN_NOMEM;
            continue;
        }
        case PAL_CPMSG_FINDING: {
            const pal_cpmsg_finding *f = &m.u.finding;
            if (!want_findings)
                return misbehaved(c, "FINDING before RESULT");
            if (f->index != next)
                return misbehaved(c, "finding %u where %u was due", f->index, next);
            char threat[PAL_CPMSG_THREAT_MAX + 1];
            memcpy(threat, f->threat.p, f->threat.len);
            threat[f->threat.len] = '\0';
            pal_threat t;
            if (pal_sigpkg_find_threat(pkg, threat, &t) != 0)
                return misbehaved(c, "threat \"%s\" is not in the catalog", threat);
            if (pal_cpmsg_check_chain(c->hint, c->hint_len, f->chain) != 0)
                return misbehaved(c, "finding chain not rooted at the object");
            uint64_t max_size = f->chain.len == c->hint_len ? src->size : lim->max_object_size;
            if (f->size > max_size)
                return misbehaved(c, "finding on an object of %llu bytes (at most %llu)",
                                  (unsigned long long)f->size, (unsigned long long)max_size);
            pal_finding *o = &rep->findings[next];
            o->chain = reroot(c, f->chain);
            o->threat = strdup(t.name);
            o->category = strdup(t.category);
            o->matched_by = dup_bytes(f->by);
            rep->n_findings = ++next;
            if (!o->chain || !o->threat || !o->category || !o->matched_by)
                return RUN_NOMEM;
            o->severity = t.severity;
            o->default_action = t.default_action;
            o->threat_id = t.id;
            memcpy(o->sha256, f->sha256, 32);
            o->size = f->size;
            if (next == n_findings)
                return RUN_OK;
            continue;
        }
        default:
            return misbehaved(c, "message of type 0x%x %s", m.type,
                              want_findings ? "while sending findings" : "during a scan");
        }
    }
}

/* The whole conversation of one scan: SCAN, data requests, RESULT, findings. */
static run_result run_scan(scan_ctx *c, pal_report *rep)
{
    run_result r = cpchan_begin(c);
    if (r != RUN_OK)
        return r;
    if (cpchan_send_scan(c, 0) != 0)
        return RUN_DIED;
    return cpchan_answer(c, rep);
}

/* Whether in has exited, waiting up to ms for its pidfd to say so. */
static int died_within(const cp_inst *in, int ms)
{
    struct pollfd pf = {.fd = in->pidfd, .events = POLLIN};
    int n;
    do {
        n = poll(&pf, 1, ms);
    } while (n < 0 && errno == EINTR);
    return n > 0;
}

void cpchan_unscannable(pal_report *rep, pal_unscannable reason, const char *name,
                        const char *detail, uint64_t size, uint64_t served)
{
    pal_report_free(rep);
    rep->verdict = PAL_VERDICT_UNSCANNABLE;
    rep->reason = reason;
    rep->reason_chain = strdup(name);
    rep->reason_detail = strdup(detail);
    rep->size = size;
    rep->bytes_read = served;
}

int cpchan_slot_enter(pal_cpsup *sup, unsigned slot)
{
    pthread_mutex_lock(&sup->lock);
    int busy = sup->slots[slot].busy;
    sup->slots[slot].busy = 1;
    pthread_mutex_unlock(&sup->lock);
    return busy ? PAL_ESTATE : 0;
}

void cpchan_slot_leave(pal_cpsup *sup, unsigned slot)
{
    pthread_mutex_lock(&sup->lock);
    sup->slots[slot].busy = 0;
    pthread_mutex_unlock(&sup->lock);
}

int pal_cpsup_scan(pal_cpsup *sup, unsigned slot, int pkg_fd, const pal_limits *limits,
                   const pal_source *src, const char *name, const volatile int *cancel,
                   pal_report *rep, pal_cpsup_outcome *outcome)
{
    if (rep == NULL)
        return PAL_EINVAL;
    pal_report_init(rep);
    if (sup == NULL || slot >= sup->cfg.channels || pkg_fd < 0 || limits == NULL || src == NULL ||
        src->read_at == NULL || name == NULL)
        return PAL_EINVAL;
    size_t name_len = strlen(name);
    if (name_len == 0)
        return PAL_EINVAL;
    int rc = cpchan_slot_enter(sup, slot);
    if (rc != 0)
        return rc;
    /* a package this supervisor has not met (an update, other limits) replaces the instance
       once the scans in flight on it finish */
    pal_errbuf perr;
    rc = cpsup_offer_package(sup, pkg_fd, limits, &perr);
    if (rc == 0)
        rc = cpchan_scan_on_slot(sup, slot, src, name, name_len, cancel, 0, rep, outcome);
    cpchan_slot_leave(sup, slot);
    return rc;
}

const char *cpchan_hint(const char *name, size_t name_len, size_t *hint_len)
{
    /* The content process learns no path: only the last component (a format hint), so a
       compromised one cannot map the file system through the names it is shown. */
    const char *hint = memrchr(name, '/', name_len);
    hint = hint && hint[1] ? hint + 1 : name;
    *hint_len = name_len - (size_t)(hint - name);
    if (*hint_len > PAL_CPSUP_HINT_MAX) {
        hint += *hint_len - PAL_CPSUP_HINT_MAX; /* keep the extension */
        *hint_len = PAL_CPSUP_HINT_MAX;
    }
    return hint;
}

int cpchan_settle(const scan_ctx *c, run_result r, int alone, const char *end, pal_report *rep,
                  pal_cpsup_outcome *oc, int *rc)
{
    const char *name = c->name;
    uint64_t size = c->src->size;
    char d[800];
    switch (r) {
    case RUN_OK:
        return 1;
    case RUN_NOMEM:
        /* nothing was killed; the channel holds the rest of an answer, so the next
           request would read it as unsolicited and restart the instance */
        pal_report_free(rep);
        *rc = PAL_ENOMEM;
        return 1;
    case RUN_MISBEHAVED:
        snprintf(d, sizeof(d), "content process misbehaved: %s", c->why);
        cpchan_unscannable(rep, PAL_UNSCANNABLE_CP_MISBEHAVED, name, d, size, c->served);
        *oc = PAL_CPSUP_MISBEHAVED;
        return 1;
    case RUN_TIMEOUT:
        cpchan_unscannable(rep, PAL_UNSCANNABLE_TIMEOUT, name, c->why, size, c->served);
        *oc = PAL_CPSUP_TIMEOUT;
        return 1;
    case RUN_CP_ERROR:
        snprintf(d, sizeof(d), "content process could not scan it: %s", pal_strerror(c->cp_code));
        cpchan_unscannable(rep, PAL_UNSCANNABLE_ENGINE_ERROR, name, d, size, c->served);
        *oc = PAL_CPSUP_CP_ERROR;
        return 1;
    case RUN_DIED:
        break;
    }
    /* RUN_DIED: once more, alone, in the next instance */
    if (!alone)
        return 0;
    snprintf(d, sizeof(d), "content process crashed twice on this object (last: %s)", end);
    cpchan_unscannable(rep, PAL_UNSCANNABLE_CP_CRASHED, name, d, size, c->served);
    *oc = PAL_CPSUP_CRASHED;
    return 1;
}

int cpchan_scan_on_slot(pal_cpsup *sup, unsigned slot, const pal_source *src, const char *name,
                        size_t name_len, const volatile int *cancel, uint64_t died_gen,
                        pal_report *rep, pal_cpsup_outcome *outcome)
{
    size_t hint_len;
    const char *hint = cpchan_hint(name, name_len, &hint_len);
    pal_cpsup_outcome oc = PAL_CPSUP_SCANNED;
    int alone = died_gen != 0, tampered = 0, gone = 0;
    uint64_t failed_gen = died_gen;
    char why[700];
    int rc = 0;
    for (;;) {
        cp_inst *in = NULL;
        cpsup_acq_result a =
            cpsup_acquire(sup, slot, alone, failed_gen, name, cancel, &in, why, sizeof(why));
        if (a == CPSUP_ACQ_STOPPED)
            return PAL_ESTATE;
        if (a == CPSUP_ACQ_CANCELLED) {
            cpchan_unscannable(rep, PAL_UNSCANNABLE_CANCELLED, name, "scan cancelled", src->size,
                               0);
            oc = PAL_CPSUP_CANCELLED;
            break;
        }
        if (a == CPSUP_ACQ_UNAVAILABLE) {
            char d[800];
            snprintf(d, sizeof(d), "content process unavailable: %s", why);
            cpchan_unscannable(rep, PAL_UNSCANNABLE_CP_UNAVAILABLE, name, d, src->size, 0);
            oc = PAL_CPSUP_UNAVAILABLE;
            break;
        }
        /* Its limits and priority are still the ones the broker set: a process that changed
           them (only root can, its uid being its own) would make this object fail for a
           reason that is not the object's. */
        pal_errbuf terr;
        int grc = pal_cpident_guard_check(&in->guard, &terr);
        if (grc == PAL_EIO && died_within(in, GONE_WAIT_MS)) {
            /* it could not be read because it is going away (killed from outside, crashed):
               a death, recorded as such, not tampering; the object was never sent */
            cpsup_kill_and_wait(sup, in);
            cpsup_release(sup, slot, in, alone, 0);
            in = NULL;
            if (++gone < TAMPER_RETRIES)
                continue;
            char d[800];
            snprintf(d, sizeof(d),
                     "content process unavailable: %d instances in a row died before the "
                     "object was sent",
                     gone);
            cpchan_unscannable(rep, PAL_UNSCANNABLE_CP_UNAVAILABLE, name, d, src->size, 0);
            oc = PAL_CPSUP_UNAVAILABLE;
            break;
        }
        if (grc != 0) {
            cpsup_kill(sup, in, PAL_CPSUP_EV_KILL_TAMPERED, NULL, terr.msg);
            cpsup_kill_and_wait(sup, in);
            cpsup_release(sup, slot, in, alone, 0);
            in = NULL;
            if (++tampered < TAMPER_RETRIES)
                continue;
            char d[800];
            snprintf(d, sizeof(d),
                     "content process unavailable: %d instances in a row were "
                     "tampered with (last: %s)",
                     tampered, terr.msg);
            cpchan_unscannable(rep, PAL_UNSCANNABLE_CP_UNAVAILABLE, name, d, src->size, 0);
            oc = PAL_CPSUP_UNAVAILABLE;
            break;
        }
        scan_ctx c = {.sup = sup,
                      .slot = slot,
                      .in = in,
                      .s = &sup->slots[slot],
                      .fd = in->chan[slot],
                      .src = src,
                      .name = name,
                      .name_len = name_len,
                      .hint = hint,
                      .hint_len = hint_len,
                      .cancel = cancel};
        pal_report_init(rep);
        run_result r = run_scan(&c, rep);
        rep->bytes_read = c.served;
        uint64_t gen = in->gen;
        char end[200] = "";
        if (r == RUN_DIED) {
            cpsup_kill_and_wait(sup, in);
            cpspawn_describe_end(end, sizeof(end), in->exit_code, in->term_signal);
        }
        pthread_mutex_lock(&sup->lock);
        sup->st.bytes_served += c.served;
        pthread_mutex_unlock(&sup->lock);
        cpsup_release(sup, slot, in, alone, r == RUN_OK || r == RUN_CP_ERROR);
        in = NULL;
        if (cpchan_settle(&c, r, alone, end, rep, &oc, &rc))
            break;
        alone = 1;
        failed_gen = gen;
    }
    if (rc == 0 && rep->reason_chain == NULL && rep->reason != PAL_UNSCANNABLE_NONE) {
        pal_report_free(rep);
        return PAL_ENOMEM;
    }
    if (outcome != NULL)
        *outcome = oc;
    return rc;
}

/* ---- self-test ---------------------------------------------------------------------------- */

int pal_cpsup_attack(pal_cpsup *sup, unsigned slot, unsigned action, const char *path, uint64_t arg,
                     pal_cpsup_attack_result *out, pal_errbuf *err)
{
    if (sup == NULL || out == NULL || slot >= sup->cfg.channels || action == 0 ||
        action >= PAL_CPMSG_ATTACK_COUNT)
        return pal_err_set(err, PAL_EINVAL, "pal_cpsup_attack: bad arguments");
    size_t plen = path != NULL ? strlen(path) : 0;
    if (plen > PAL_CPMSG_PATH_MAX)
        return pal_err_set(err, PAL_EINVAL, "path too long");
    if (cpchan_slot_enter(sup, slot) != 0)
        return pal_err_set(err, PAL_ESTATE, "slot %u is in use", slot);
    cp_inst *in = NULL;
    char why[700];
    cpsup_acq_result a = cpsup_acquire(sup, slot, 0, 0, "(self-test)", NULL, &in, why, sizeof(why));
    if (a != CPSUP_ACQ_OK) {
        cpchan_slot_leave(sup, slot);
        return pal_err_set(err, PAL_ESTATE, "no content process: %.600s",
                           a == CPSUP_ACQ_UNAVAILABLE ? why : "sandbox mode is off");
    }
    scan_ctx c = {.sup = sup,
                  .slot = slot,
                  .in = in,
                  .s = &sup->slots[slot],
                  .fd = in->chan[slot],
                  .name = "(self-test)",
                  .name_len = 11};
    c.id = atomic_fetch_add(&sup->next_id, 1);
    c.deadline = cpsup_mono_ms() + sup->cfg.start_timeout_ms;
    pal_cpmsg m = {.type = PAL_CPMSG_SELFTEST, .id = c.id};
    m.u.selftest.action = action;
    m.u.selftest.arg = arg;
    m.u.selftest.path.p = (const uint8_t *)path;
    m.u.selftest.path.len = (uint32_t)plen;
    run_result r = send_msg(&c, &m) == 0 ? recv_msg(&c, &m) : RUN_DIED;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    out->exit_code = -1;
    if (r == RUN_OK && m.type == PAL_CPMSG_SELFTEST_RESULT &&
        m.u.selftest_result.action == action) {
        out->err = m.u.selftest_result.err;
        out->outcome = out->err != 0 ? PAL_CPSUP_ATTACK_BLOCKED : PAL_CPSUP_ATTACK_SUCCEEDED;
    } else if (r == RUN_OK && m.type == PAL_CPMSG_ERROR) {
        out->outcome = PAL_CPSUP_ATTACK_UNSUPPORTED;
    } else if (r == RUN_OK) {
        (void)misbehaved(&c, "answered a self-test with type 0x%x", m.type);
        rc = pal_err_set(err, PAL_EPROTO, "%s", c.why);
    } else if (r == RUN_DIED) {
        cpsup_kill_and_wait(sup, in);
        out->outcome = PAL_CPSUP_ATTACK_KILLED;
        out->signal = in->term_signal;
        out->exit_code = in->exit_code;
    } else {
        if (r == RUN_TIMEOUT)
            cpsup_kill(sup, in, PAL_CPSUP_EV_KILL_TIMEOUT, NULL, "self-test did not answer");
        rc = pal_err_set(err, PAL_EPROTO, "self-test failed: %s", c.why);
    }
    cpsup_release(sup, slot, in, 0, r == RUN_OK && rc == 0);
    cpchan_slot_leave(sup, slot);
    return rc;
}

int cpchan_slot_init(cp_slot *s)
{
    s->rx = malloc(PAL_CPMSG_MAX + 1);
    s->tx = malloc(PAL_CPMSG_MAX);
    return s->rx != NULL && s->tx != NULL ? 0 : PAL_ENOMEM;
}

void cpchan_slot_free(cp_slot *s)
{
    free(s->rx);
    free(s->tx);
    s->rx = s->tx = NULL;
}
