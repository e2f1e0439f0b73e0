/*
 * rtp.c — real-time protection's life and its threads (see rtp.h): the fanotify group, the
 * reader thread (reads events, answers the broker's own at once, queues the rest, answers
 * expired and overflowing ones by policy, re-marks on mount changes) and the workers (scan
 * on a slot, answer, record, remediate).
 *
 * One lock (r->lock) protects the queues, the unanswered list and every event's state. It
 * is held only for list work and the response write(2) to the fanotify fd (non-blocking):
 * never across a scan, a file open or a store call, so the reader never waits on a worker.
 */
#define _GNU_SOURCE
#include "rtp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cachetrust.h"
#include "scanjob.h"
#include "events.h"
#include "fdsource.h"
#include "msg.h"
#include "rtpmounts.h"
#include "rtpproc.h"
#include "rtptally.h"
#include "walker.h"

#define N_WORKERS 4
#define QUEUE_MAX 8192 /* events held (queued or scanning) before new ones are overloads */
#define PERM_MASK (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM)
#define MARK_MASK (PERM_MASK | FAN_CLOSE_WRITE)
#define EXPIRE_SLACK_NS (10 * 1000000LL) /* answered up to 10 ms before the deadline */
#define LOG_EVERY_MS 5000 /* timeouts and overloads: one log line per period, with counts */
#define CACHE_BATCH 64    /* clean verdicts stored in one transaction (a commit each: ~45 us) */

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
    atomic_uint_fast64_t empty_allowed, ignore_marks;
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
    int64_t last_timeout_log, last_overload_log;
    pal_rtp_tally unchecked; /* answers without a verdict, for the security events */
    uint64_t defs_gen;       /* lock: signature packages installed since start */

    /* Clean verdicts waiting for their store insert: stored CACHE_BATCH at a time, and by a
       worker that finds the queue empty, so a storm of first opens does not pay a commit per
       file. Losing them (a crash) costs only a rescan; the ignore mark answers the file's
       next opens meanwhile. */
    pthread_mutex_t cache_lock;
    pal_cache_key cache_keys[CACHE_BATCH];
    size_t cache_n;
    uint64_t cache_sigver;

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

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((format(printf, 3, 4))) static void rlog(pal_rtp *r, int level, const char *fmt, ...)
{
    if (!r->env.log)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->env.log(r->env.ctx, level, msg);
}

/* ---- events ----------------------------------------------------------------------------- */

static void ev_unlink_u(pal_rtp *r, ev *e)
{
    if (e->uprev)
        e->uprev->unext = e->unext;
    else
        r->uhead = e->unext;
    if (e->unext)
        e->unext->uprev = e->uprev;
    else
        r->utail = e->uprev;
    e->uprev = e->unext = NULL;
}

/* lock held */
static void ev_unref(pal_rtp *r, ev *e)
{
    if (--e->refs > 0)
        return;
    close(e->fd);
    if (e->pidfd >= 0)
        close(e->pidfd);
    r->held--;
    free(e->writer_exe);
    free(e);
}

static void respond(int fan_fd, int fd, int allow)
{
    struct fanotify_response resp = {.fd = fd, .response = allow ? FAN_ALLOW : FAN_DENY};
    /* the only failure that matters is none: the kernel takes the answer or the event is
       already gone (ENOENT) */
    ssize_t n;
    do {
        n = write(fan_fd, &resp, sizeof(resp));
    } while (n < 0 && errno == EINTR);
}

/* Answer e once (lock held); later answers of the same event are ignored. */
static int ev_answer(pal_rtp *r, ev *e, int allow)
{
    if (!e->perm || e->answered)
        return 0;
    respond(r->fan_fd, e->fd, allow);
    e->answered = 1;
    e->cancel = 1; /* a scan still running for it may stop */
    ev_unlink_u(r, e);
    ev_unref(r, e); /* the unanswered list's reference */
    return 1;
}

static void answer(pal_rtp *r, ev *e, int allow)
{
    pthread_mutex_lock(&r->lock);
    ev_answer(r, e, allow);
    pthread_mutex_unlock(&r->lock);
}

/* ---- the reader thread ------------------------------------------------------------------ */

/* The broker itself, or one of its children (the content process, the clone child that
   execs it): asks the event's pidfd (one ioctl) or reads /proc, never a marked file system. */
static int is_ours(pal_rtp *r, pid_t pid, int pidfd)
{
    if (pid == r->self)
        return 1;
    pal_rtp_ids ids;
    return pal_rtp_proc_ids(pid, pidfd, &ids) == 0 && ids.ppid == r->self;
}

/* action: what the kernel was told ("Allow", "Deny"), or "None" for a written file that
   was not scanned */
static void note_overload(pal_rtp *r, const char *what, const char *action)
{
    pal_rtp_tally_add(&r->unchecked, what, action, 1);
    uint64_t n = atomic_fetch_add(&r->c.overloads, 1) + 1;
    int64_t now = pal_time_now_ms();
    if (now - r->last_overload_log >= LOG_EVERY_MS) {
        r->last_overload_log = now;
        rlog(r, LOG_WARNING, "real-time protection overloaded: %s (%llu overloads since start)",
             what, (unsigned long long)n);
    }
}

static void enqueue(pal_rtp *r, ev *e)
{
    ev **head = e->perm ? &r->pq_head : &r->aq_head;
    ev **tail = e->perm ? &r->pq_tail : &r->aq_tail;
    e->qnext = NULL;
    if (*tail)
        (*tail)->qnext = e;
    else
        *head = e;
    *tail = e;
    pthread_cond_signal(&r->work);
}

static void take_event(pal_rtp *r, const struct fanotify_event_metadata *m)
{
    int pidfd = -1;
    for (size_t off = m->metadata_len;
         off + sizeof(struct fanotify_event_info_header) <= m->event_len;) {
        const struct fanotify_event_info_header *h = (const void *)((const char *)m + off);
        if (h->len == 0)
            break;
        if (h->info_type == FAN_EVENT_INFO_TYPE_PIDFD &&
            off + sizeof(struct fanotify_event_info_pidfd) <= m->event_len)
            pidfd = ((const struct fanotify_event_info_pidfd *)h)->pidfd;
        off += h->len;
    }
    int perm = (m->mask & PERM_MASK) != 0;
    atomic_fetch_add(&r->c.events, 1);
    if (m->fd < 0) {
        if (pidfd >= 0)
            close(pidfd);
        return;
    }
    if (is_ours(r, m->pid, pidfd)) {
        if (perm)
            respond(r->fan_fd, m->fd, 1);
        close(m->fd);
        if (pidfd >= 0)
            close(pidfd);
        return;
    }
    /* an open of an empty regular file has no content to check: allowed here, without a
       queue entry, a slot or a content-process round trip (what makes tar -x cheap: every
       file it extracts is opened empty). fstat on the event's fd opens nothing. What is
       written into it afterwards is scanned after the close (FAN_CLOSE_WRITE), and an open
       made while a writer has filled it sees a size above 0 and is checked. */
    struct stat est;
    if (perm && fstat(m->fd, &est) == 0 && S_ISREG(est.st_mode) && est.st_size == 0) {
        respond(r->fan_fd, m->fd, 1);
        close(m->fd);
        if (pidfd >= 0)
            close(pidfd);
        atomic_fetch_add(&r->c.empty_allowed, 1);
        return;
    }
    /* the writer of a closed file may exit at once: told now, from /proc (never marked) */
    static __thread pal_rtp_proc writer;
    if (!perm)
        pal_rtp_proc_identify(&writer, m->pid, pidfd);
    pthread_mutex_lock(&r->lock);
    if (r->stopping) {
        /* switched off: let everything through, as closing the group will */
        pthread_mutex_unlock(&r->lock);
        if (perm)
            respond(r->fan_fd, m->fd, 1);
        close(m->fd);
        if (pidfd >= 0)
            close(pidfd);
        return;
    }
    if (r->held >= QUEUE_MAX) {
        int allow = !r->deny_on_timeout;
        pthread_mutex_unlock(&r->lock);
        if (perm)
            respond(r->fan_fd, m->fd, allow);
        close(m->fd);
        if (pidfd >= 0)
            close(pidfd);
        note_overload(r,
                      perm ? "the queue was full: an open was answered by RealTimeTimeoutAction"
                           : "the queue was full: a written file was not scanned",
                      !perm   ? "None"
                      : allow ? "Allow"
                              : "Deny");
        return;
    }
    ev *e = calloc(1, sizeof(*e));
    if (!e) {
        int allow = !r->deny_on_timeout;
        pthread_mutex_unlock(&r->lock);
        if (perm)
            respond(r->fan_fd, m->fd, allow);
        close(m->fd);
        if (pidfd >= 0)
            close(pidfd);
        note_overload(r, "out of memory", !perm ? "None" : allow ? "Allow" : "Deny");
        return;
    }
    e->fd = m->fd;
    e->pidfd = pidfd;
    e->pid = m->pid;
    e->mask = m->mask;
    e->perm = perm;
    e->refs = 1;
    if (!perm && writer.known) {
        e->writer_exe = strdup(writer.exe);
        e->writer_uid = writer.uid;
    }
    r->held++;
    if (perm) {
        e->refs++;
        e->deadline_ns = mono_ns() + r->timeout_ns;
        e->uprev = r->utail;
        if (r->utail)
            r->utail->unext = e;
        else
            r->uhead = e;
        r->utail = e;
    }
    enqueue(r, e);
    pthread_mutex_unlock(&r->lock);
}

/* Answer every event past its deadline; returns ms until the next deadline (or -1). */
static int expire(pal_rtp *r)
{
    /* events due within the slack are answered in the same pass: one wake-up for a burst,
       not one per event (a wake-up costs milliseconds on a loaded machine) */
    int64_t now = mono_ns() + EXPIRE_SLACK_NS;
    uint64_t expired = 0;
    int wait_ms = -1;
    pthread_mutex_lock(&r->lock);
    int allow = !r->deny_on_timeout;
    /* deadlines are in arrival order unless the timeout was changed meanwhile: all of them
       are looked at (a few thousand at most: QUEUE_MAX) */
    for (ev *e = r->uhead, *next; e; e = next) {
        next = e->unext;
        if (e->deadline_ns <= now) {
            ev_answer(r, e, allow);
            expired++;
            continue;
        }
        int64_t left = (e->deadline_ns - now) / 1000000 + 1;
        if (wait_ms < 0 || left < wait_ms)
            wait_ms = (int)left;
    }
    pthread_mutex_unlock(&r->lock);
    if (expired) {
        pal_rtp_tally_add(&r->unchecked, "no verdict within RealTimeResponseTimeoutMs",
                          allow ? "Allow" : "Deny", expired);
        uint64_t n = atomic_fetch_add(&r->c.timeouts, expired) + expired;
        int64_t ms = pal_time_now_ms();
        if (ms - r->last_timeout_log >= LOG_EVERY_MS) {
            r->last_timeout_log = ms;
            rlog(r, LOG_WARNING,
                 "real-time protection: %llu open(s) not checked within "
                 "RealTimeResponseTimeoutMs were answered %s (%llu timeouts since start)",
                 (unsigned long long)expired, allow ? "Allow" : "Deny", (unsigned long long)n);
        }
    }
    return wait_ms;
}

static void remark(pal_rtp *r)
{
    char why[600] = "";
    pal_rtp_marked m;
    pthread_mutex_lock(&r->lock);
    m = r->marked;
    memset(&r->marked, 0, sizeof(r->marked));
    pthread_mutex_unlock(&r->lock);
    /* forget superblocks that are gone, so that a new mount reusing the device is marked */
    struct stat st;
    for (size_t i = 0; i < m.n;) {
        if (stat(m.mount_points[i], &st) == 0 && (uint64_t)st.st_dev == m.devs[i]) {
            i++;
            continue;
        }
        free(m.mount_points[i]);
        m.mount_points[i] = m.mount_points[m.n - 1];
        m.devs[i] = m.devs[m.n - 1];
        m.n--;
    }
    size_t failed = pal_rtp_mark_mounts(r->fan_fd, MARK_MASK, NULL, r->cfg_paths, r->n_cfg_paths,
                                        r->cfg_unmon, r->n_cfg_unmon, &m, why, sizeof(why));
    if (failed)
        rlog(r, LOG_WARNING, "real-time protection: %zu file system(s) not monitored: %s", failed,
             why);
    pthread_mutex_lock(&r->lock);
    r->marked = m;
    pthread_mutex_unlock(&r->lock);
}

static void *reader_main(void *arg)
{
    pal_rtp *r = arg;
    /* every opener on the machine may be waiting for this thread: it should not lose the
       CPU to the very processes it wakes (best effort; root may raise it) */
    setpriority(PRIO_PROCESS, (id_t)gettid(), -10);
    static __thread char buf[64 * 1024] __attribute__((aligned(8)));
    for (;;) {
        int wait_ms = expire(r);
        pal_rtp_tally_flush(&r->unchecked, 0);
        if (wait_ms < 0 || wait_ms > 1000)
            wait_ms = 1000;
        struct pollfd pf[3] = {{.fd = r->fan_fd, .events = POLLIN},
                               {.fd = r->wake_fd, .events = POLLIN},
                               {.fd = r->mount_fd, .events = POLLPRI}};
        int np = poll(pf, r->mount_fd >= 0 ? 3 : 2, wait_ms);
        if (np < 0 && errno != EINTR)
            break;
        if (pf[1].revents & POLLIN)
            break; /* stop */
        if (pf[2].revents & (POLLPRI | POLLERR))
            remark(r);
        if (!(pf[0].revents & POLLIN))
            continue;
        /* drain what is there now; deadlines are looked at between reads */
        for (int rounds = 0; rounds < 64; rounds++) {
            ssize_t n = read(r->fan_fd, buf, sizeof(buf));
            if (n <= 0)
                break;
            struct fanotify_event_metadata *m = (void *)buf;
            while (FAN_EVENT_OK(m, n)) {
                if (m->vers != FANOTIFY_METADATA_VERSION)
                    break;
                if (m->mask & FAN_Q_OVERFLOW)
                    note_overload(r,
                                  "the kernel's event queue overflowed (written files were "
                                  "not all scanned)",
                                  "None");
                else
                    take_event(r, m);
                m = FAN_EVENT_NEXT(m, n);
            }
            expire(r);
        }
    }
    return NULL;
}

/* ---- the workers ------------------------------------------------------------------------ */

/* The next event, opens and execs first (someone waits for them); NULL when stopping, or
   at once when nothing is queued and !wait. */
static ev *pop(pal_rtp *r, int wait)
{
    pthread_mutex_lock(&r->lock);
    ev *e = NULL;
    while (!r->stopping) {
        if ((e = r->pq_head)) {
            r->pq_head = e->qnext;
            if (!r->pq_head)
                r->pq_tail = NULL;
            break;
        }
        if ((e = r->aq_head)) {
            r->aq_head = e->qnext;
            if (!r->aq_head)
                r->aq_tail = NULL;
            break;
        }
        if (!wait)
            break;
        pthread_cond_wait(&r->work, &r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return e;
}

/* Store the clean verdicts waiting (from a worker: a store call, never under r->lock). */
static void cache_flush(pal_rtp *r)
{
    pal_cache_key keys[CACHE_BATCH];
    pthread_mutex_lock(&r->cache_lock);
    size_t n = r->cache_n;
    uint64_t sigver = r->cache_sigver;
    memcpy(keys, r->cache_keys, n * sizeof(keys[0]));
    r->cache_n = 0;
    pthread_mutex_unlock(&r->cache_lock);
    if (n > 0)
        pal_store_cache_insert_many(r->env.store, keys, n, sigver, NULL);
}

static void cache_note(pal_rtp *r, const pal_cache_key *key, uint64_t sigver)
{
    pthread_mutex_lock(&r->cache_lock);
    if (r->cache_n > 0 && r->cache_sigver != sigver)
        r->cache_n = 0; /* verdicts of a package no longer installed: worthless */
    r->cache_sigver = sigver;
    r->cache_keys[r->cache_n++] = *key;
    int full = r->cache_n == CACHE_BATCH;
    pthread_mutex_unlock(&r->cache_lock);
    if (full)
        cache_flush(r);
}

static void done(pal_rtp *r, ev *e)
{
    pthread_mutex_lock(&r->lock);
    ev_unref(r, e);
    pthread_mutex_unlock(&r->lock);
}

/* An evictable inode ignore mark: the kernel stops asking about opens of this file until it
   is written (no FAN_MARK_IGNORED_SURV_MODIFY) or the inode leaves the cache. */
static void ignore_mark(pal_rtp *r, const ev *e)
{
    if (fanotify_mark(r->fan_fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_EVICTABLE,
                      PERM_MASK, e->fd, NULL) == 0)
        atomic_fetch_add(&r->c.ignore_marks, 1);
}

static void excl_unref(pal_rtp *r, excl_snap *x)
{
    if (!x)
        return;
    pthread_mutex_lock(&r->lock);
    int last = --x->refs == 0;
    pthread_mutex_unlock(&r->lock);
    if (!last)
        return;
    pal_strlist_free(x->paths, x->np);
    pal_strlist_free(x->exts, x->ne);
    pal_strlist_free(x->procs, x->nproc);
    free(x);
}

static excl_snap *excl_get(pal_rtp *r)
{
    pthread_mutex_lock(&r->lock);
    excl_snap *x = r->excl;
    if (x)
        x->refs++;
    pthread_mutex_unlock(&r->lock);
    return x;
}

static int excluded_path(const excl_snap *x, const char *path)
{
    if (!x || (!x->np && !x->ne))
        return 0;
    pal_walk_options o = {.exclude_paths = (const char *const *)x->paths,
                          .n_exclude_paths = x->np,
                          .exclude_exts = (const char *const *)x->exts,
                          .n_exclude_exts = x->ne};
    pal_skip_reason why;
    return pal_walk_is_excluded(&o, path, strlen(path), 0, &why);
}

static int proc_excluded(const excl_snap *x, const pal_rtp_proc *p, int pidfd)
{
    return x && pal_rtp_proc_excluded(p, pidfd, x->procs, x->nproc);
}

/* As an on-demand scan decides (scanjob.h); a store that cannot answer fails towards
   protection. */
static pal_det_action decide(pal_rtp *r, const pal_finding *f, const pal_report *rep)
{
    pal_det_action a;
    if (pal_scan_decide_action(r->env.store, r->env.settings, f, rep, &a) != 0)
        return PAL_DET_ACTION_QUARANTINE;
    return a;
}

/* Record the findings with the process, deny (when e is an open), then remediate. Returns 1
   when a finding not on the allowed list was there. */
static int handle_findings(pal_rtp *r, ev *e, char *path, const struct stat *st,
                           const pal_report *rep, uint64_t sigver, pal_rtp_proc *p, int64_t dt)
{
    size_t n = rep->n_findings;
    int64_t *ids = calloc(n, sizeof(*ids));
    pal_det_action *acts = calloc(n, sizeof(*acts));
    int threat = 0;
    for (size_t i = 0; i < n; i++) {
        acts ? acts[i] = decide(r, &rep->findings[i], rep) : 0;
        if (!acts || acts[i] != PAL_DET_ACTION_ALLOW)
            threat = 1;
    }
    /* the opener waits: it gets its answer before anything is written down */
    if (e->perm) {
        answer(r, e, !threat);
        if (threat)
            atomic_fetch_add(&r->c.blocked, 1);
    }
    pal_rtp_pstats_add(r->pstats, p, 1, dt, threat && e->perm);
    if (!ids || !acts) {
        free(ids);
        free(acts);
        rlog(r, LOG_ERR, "real-time protection: out of memory recording a threat in %s", path);
        return threat;
    }
    pal_action file_action = PAL_ACTION_NOACTION;
    size_t first = n;
    const char *how = e->mask & FAN_OPEN_EXEC_PERM ? "executing" : e->perm ? "opening" : "writing";
    for (size_t i = 0; i < n; i++) {
        const pal_finding *f = &rep->findings[i];
        pal_detection d = {0};
        d.threat_name = f->threat;
        d.severity = f->severity;
        d.category = f->category;
        d.path = path;
        d.chain = f->chain;
        pal_store_sha256_hex(f->sha256, d.sha256);
        d.size = f->size;
        d.source = PAL_DET_REAL_TIME;
        d.matched_by = f->matched_by;
        d.sig_version = sigver;
        d.action = acts[i];
        /* a process that could not be told for sure is not named (its pid may be reused) */
        d.process_pid = p->known ? p->pid : 0;
        d.process_uid = (uint32_t)p->uid;
        d.process_exe = p->known ? p->exe : NULL;
        pal_errbuf err;
        if (pal_store_detection_insert(r->env.store, &d, &ids[i], &err) != 0) {
            rlog(r, LOG_ERR, "real-time protection: cannot record %s in %s: %s", f->threat, path,
                 err.msg);
            ids[i] = 0;
            continue; /* never act on what could not be recorded */
        }
        atomic_fetch_add(&r->c.detections, 1);
        rlog(r, LOG_WARNING,
             "real-time protection: threat %s in %s, found when %s it (pid %ld, "
             "uid %ld, %s)%s",
             f->threat, path, how, (long)p->pid, p->known ? (long)p->uid : -1L,
             p->known ? p->exe : "executable unknown",
             e->perm && acts[i] != PAL_DET_ACTION_ALLOW ? "; access denied" : "");
        if ((acts[i] == PAL_DET_ACTION_QUARANTINE || acts[i] == PAL_DET_ACTION_REMOVE) &&
            pal_scan_action_rank((pal_action)acts[i]) > pal_scan_action_rank(file_action)) {
            file_action = (pal_action)acts[i];
            if (first == n)
                first = i;
        }
    }
    int act_rc = 0;
    char *detail = NULL;
    if (file_action != PAL_ACTION_NOACTION) {
        pal_remediator rem = r->env.remediator(r->env.ctx);
        if (!rem.fn) {
            act_rc = PAL_ESTATE;
            detail = strdup("remediation is not available in this agent");
        } else {
            pal_remediation_req rq = {
                .path = path,
                .path_len = strlen(path),
                .scanned = st,
                .action = file_action,
                .detection_id = ids[first],
                .threat = rep->findings[first].threat,
                .sha256 = rep->sha256_valid ? rep->sha256 : NULL,
            };
            act_rc = rem.fn(rem.ctx, &rq, &detail);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!ids[i])
            continue;
        pal_det_action rec = acts[i];
        pal_det_result res = PAL_DET_SUCCESS;
        if (acts[i] != PAL_DET_ACTION_ALLOW && acts[i] != PAL_DET_ACTION_NOACTION) {
            rec = (pal_det_action)file_action;
            res = act_rc == 0 ? PAL_DET_SUCCESS : PAL_DET_FAILED;
        }
        pal_store_detection_set_action(r->env.store, ids[i], rec, res, detail, 0, NULL);
        const pal_finding *f = &rep->findings[i];
        char sha[65];
        pal_store_sha256_hex(f->sha256, sha);
        pal_event_emit(&(pal_event){.kind = PAL_EV_DETECTION,
                                    .origin = pal_det_source_name(PAL_DET_REAL_TIME),
                                    .threat = f->threat,
                                    .severity = pal_severity_name(f->severity),
                                    .category = f->category,
                                    .path = path,
                                    .object = f->chain,
                                    .action = pal_det_action_name(rec),
                                    .result = pal_det_result_name(res),
                                    .detail = detail,
                                    .sha256 = sha,
                                    .detection_id = ids[i],
                                    .pid = p->known ? p->pid : 0,
                                    .exe = p->known ? p->exe : NULL,
                                    .has_uid = p->known,
                                    .uid = (uint32_t)p->uid,
                                    .signature_version = sigver});
    }
    free(detail);
    free(ids);
    free(acts);
    return threat;
}

static void handle(pal_rtp *r, ev *e, const excl_snap *x)
{
    int64_t t0 = mono_ns();
    int allow_unchecked = 0; /* set: answer by policy (could not be checked) */
    struct stat st;
    pal_rtp_proc p;
    memset(&p, 0, sizeof(p));
    p.pid = e->pid;
    if (fstat(e->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        answer(r, e, 1); /* a directory, device or socket: no content to check */
        return;
    }
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", e->fd);
    ssize_t pl = readlink(link, path, sizeof(path) - 1);
    if (pl <= 0) {
        answer(r, e, 1);
        return;
    }
    path[pl] = '\0';
    if (excluded_path(x, path)) {
        answer(r, e, 1);
        return;
    }
    if (e->writer_exe) {
        p.known = 1;
        p.uid = e->writer_uid;
        snprintf(p.exe, sizeof(p.exe), "%s", e->writer_exe);
    } else if (e->perm) {
        pal_rtp_proc_identify(&p, e->pid, e->pidfd); /* the opener waits: it is alive */
    }
    if (proc_excluded(x, &p, e->pidfd)) {
        answer(r, e, 1);
        return;
    }
    /* read before the package is taken: a package installed after this read bumps it */
    pthread_mutex_lock(&r->lock);
    uint64_t defs_gen = r->defs_gen;
    pthread_mutex_unlock(&r->lock);
    pal_defs *defs = r->env.get_defs(r->env.ctx);
    if (!defs) {
        allow_unchecked = 1;
        goto unchecked;
    }
    uint64_t sigver = pal_defs_info(defs)->version;
    int cache = 1;
    pal_settings_get_bool(r->env.settings, "ScanCacheEnabled", &cache);
    pal_cache_key key;
    pal_cachetrust_key(&st, &key);
    if (cache) {
        int hit = 0;
        if (pal_store_cache_lookup(r->env.store, &key, sigver, &hit, NULL) == 0 && hit) {
            atomic_fetch_add(&r->c.cache_hits, 1);
            if (e->perm) {
                pthread_mutex_lock(&r->lock);
                if (!e->answered && r->defs_gen == defs_gen)
                    ignore_mark(r, e);
                ev_answer(r, e, 1);
                pthread_mutex_unlock(&r->lock);
            }
            pal_rtp_pstats_add(r->pstats, &p, 0, 0, 0);
            pal_defs_unref(defs);
            return;
        }
    }
    int may_cache = cache && pal_cachetrust_ok(pal_cachetrust_before_read(&r->trust, e->fd, &st));
    void *hold = NULL;
    pal_slots *slots = r->env.slots_begin(r->env.ctx, &hold);
    pal_slot *slot = NULL;
    /* an open gives up at its deadline (answered then), a written file when stopping */
    const volatile int *cancel = e->perm ? &e->cancel : &r->stop_cancel;
    if (slots)
        slot = e->perm ? pal_slots_acquire_prio(slots, cancel, e->deadline_ns)
                       : pal_slots_acquire(slots, cancel);
    if (!slot) {
        if (slots)
            r->env.slots_end(r->env.ctx, hold);
        pal_defs_unref(defs);
        allow_unchecked = 1;
        goto unchecked;
    }
    pal_fdsource fs;
    pal_source src;
    pal_fdsource_init(&fs, e->fd, (uint64_t)st.st_size, &src);
    pal_report rep;
    int rc = pal_slot_scan(slot, defs, &src, path, cancel, &rep);
    pal_slots_release(slots, slot);
    r->env.slots_end(r->env.ctx, hold);
    atomic_fetch_add(&r->c.scans, 1);
    int64_t dt = mono_ns() - t0;
    if (rc != 0) {
        /* the content process could not answer: no parsing in its place */
        pal_defs_unref(defs);
        pal_rtp_pstats_add(r->pstats, &p, 1, dt, 0);
        allow_unchecked = 1;
        goto unchecked;
    }
    int threat = 0;
    if (rep.n_findings > 0)
        threat = handle_findings(r, e, path, &st, &rep, sigver, &p, dt);
    else
        pal_rtp_pstats_add(r->pstats, &p, 1, dt, 0);
    if (!threat && rep.reason == PAL_UNSCANNABLE_CANCELLED) {
        /* past its deadline: already answered by policy */
    } else if (!threat) {
        int clean = rep.verdict == PAL_VERDICT_CLEAN;
        struct stat now;
        int cacheable = may_cache && clean && fstat(e->fd, &now) == 0 &&
                        pal_cachetrust_same_identity(&now, &st);
        if (cacheable)
            cache_note(r, &key, sigver);
        pthread_mutex_lock(&r->lock);
        /* not when a package came after this scan's: its verdict must not stand for it */
        if (cacheable && e->perm && !e->answered && r->defs_gen == defs_gen)
            ignore_mark(r, e);
        /* unscannable by the engine's limits (too big, too deep): allowed, as an on-demand
           scan reports it and moves on; a threat found is never in this branch */
        ev_answer(r, e, 1);
        pthread_mutex_unlock(&r->lock);
    }
    pal_report_free(&rep);
    pal_defs_unref(defs);
    return;
unchecked:
    if (allow_unchecked && e->perm) {
        pthread_mutex_lock(&r->lock);
        int allow = !r->deny_on_timeout;
        int did = ev_answer(r, e, allow);
        pthread_mutex_unlock(&r->lock);
        if (did)
            note_overload(r,
                          "an open could not be checked (no signatures, no slot or the "
                          "content process failed) and was answered by "
                          "RealTimeTimeoutAction",
                          allow ? "Allow" : "Deny");
    }
}

static void *worker_main(void *arg)
{
    pal_rtp *r = arg;
    for (;;) {
        ev *e = pop(r, 0);
        if (!e) {
            cache_flush(r); /* idle (or stopping): nothing waits behind the commit */
            if (!(e = pop(r, 1)))
                break;
        }
        int skip;
        pthread_mutex_lock(&r->lock);
        skip = e->perm && e->answered; /* its deadline passed while it was queued */
        pthread_mutex_unlock(&r->lock);
        if (!skip) {
            excl_snap *x = excl_get(r);
            handle(r, e, x);
            excl_unref(r, x);
        }
        done(r, e);
    }
    return NULL;
}

/* ---- life ------------------------------------------------------------------------------- */

int pal_rtp_new(const pal_rtp_env *env, pal_rtp **out)
{
    pal_rtp *r = calloc(1, sizeof(*r));
    if (!r)
        return PAL_ENOMEM;
    r->env = *env;
    r->fan_fd = r->wake_fd = r->mount_fd = -1;
    r->pstats = pal_rtp_pstats_new();
    if (!r->pstats) {
        free(r);
        return PAL_ENOMEM;
    }
    pthread_mutex_init(&r->life, NULL);
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->cache_lock, NULL);
    pal_rtp_tally_init(&r->unchecked, LOG_EVERY_MS);
    pthread_cond_init(&r->work, NULL);
    r->timeout_ns = 4000LL * 1000000LL;
    *out = r;
    return 0;
}

static int strlists_equal(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

static void drain_queue(pal_rtp *r, ev **head, ev **tail)
{
    while (*head) {
        ev *e = *head;
        *head = e->qnext;
        ev_unref(r, e);
    }
    *tail = NULL;
}

static void stop_locked(pal_rtp *r)
{
    if (!r->running)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    r->stop_cancel = 1;
    /* every open still waiting is let through now: protection is being switched off */
    while (r->uhead)
        ev_answer(r, r->uhead, 1);
    pthread_cond_broadcast(&r->work);
    pthread_mutex_unlock(&r->lock);
    /* the workers first, while the reader still answers: a worker finishing its event may
       open a file on a marked file system (quarantine), and only the reader can let it */
    for (int i = 0; i < r->n_workers; i++)
        pthread_join(r->workers[i], NULL);
    uint64_t one = 1;
    ssize_t w = write(r->wake_fd, &one, sizeof(one));
    (void)w;
    if (r->reader_started)
        pthread_join(r->reader, NULL);
    r->reader_started = 0;
    pal_rtp_tally_flush(&r->unchecked, 1);
    pthread_mutex_lock(&r->lock);
    drain_queue(r, &r->pq_head, &r->pq_tail);
    drain_queue(r, &r->aq_head, &r->aq_tail);
    pal_rtp_marked_free(&r->marked);
    r->stopping = 0;
    pthread_mutex_unlock(&r->lock);
    /* closing the group allows whatever the kernel still holds */
    close(r->fan_fd);
    close(r->wake_fd);
    if (r->mount_fd >= 0)
        close(r->mount_fd);
    r->fan_fd = r->wake_fd = r->mount_fd = -1;
    r->n_workers = 0;
    r->running = 0;
    pal_strlist_free(r->cfg_paths, r->n_cfg_paths);
    pal_strlist_free(r->cfg_unmon, r->n_cfg_unmon);
    r->cfg_paths = r->cfg_unmon = NULL;
    r->n_cfg_paths = r->n_cfg_unmon = 0;
    rlog(r, LOG_NOTICE, "real-time protection stopped");
}

static void set_state(pal_rtp *r, int state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_state(pal_rtp *r, int state, const char *fmt, ...)
{
    r->state = state;
    r->reason[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
        va_end(ap);
    }
}

/* fanotify_init: with pidfds where the kernel has them (5.15). */
static int open_group(pal_rtp *r)
{
    unsigned flags = FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK;
    unsigned ev_flags = O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NOATIME;
    int fd = fanotify_init(flags | FAN_REPORT_PIDFD, ev_flags);
    r->has_pidfd = fd >= 0;
    if (fd < 0 && errno == EINVAL)
        fd = fanotify_init(flags, ev_flags);
    if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership or CAP_FOWNER */
        fd = fanotify_init(flags | FAN_REPORT_PIDFD, ev_flags & ~(unsigned)O_NOATIME);
    return fd;
}

static int start_locked(pal_rtp *r)
{
    int fd = open_group(r);
    if (fd < 0) {
        int e = errno;
        if (e == EPERM)
            set_state(r, ST_UNAVAILABLE, "needs CAP_SYS_ADMIN (fanotify_init: %s)", strerror(e));
        else if (e == ENOSYS || e == EINVAL)
            set_state(r, ST_UNAVAILABLE,
                      "the kernel has no fanotify permission events (fanotify_init: %s)",
                      strerror(e));
        else
            set_state(r, ST_UNAVAILABLE, "fanotify_init: %s", strerror(e));
        rlog(r, LOG_ERR, "real-time protection is unavailable: %s", r->reason);
        return -1;
    }
    r->fan_fd = fd;
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r->mount_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    r->self = getpid();
    pal_cachetrust_init(&r->trust, NULL);
    pal_settings_get_strlist(r->env.settings, "RealTimeMonitoredPaths", &r->cfg_paths,
                             &r->n_cfg_paths);
    pal_settings_get_strlist(r->env.settings, "RealTimeUnmonitoredFileSystems", &r->cfg_unmon,
                             &r->n_cfg_unmon);
    char why[600] = "";
    pal_rtp_marked m = {0};
    size_t failed = pal_rtp_mark_mounts(fd, MARK_MASK, NULL, r->cfg_paths, r->n_cfg_paths,
                                        r->cfg_unmon, r->n_cfg_unmon, &m, why, sizeof(why));
    if (r->wake_fd < 0 || (failed && m.n == 0)) {
        if (r->wake_fd < 0)
            snprintf(why, sizeof(why), "eventfd: %s", strerror(errno));
        set_state(r, ST_UNAVAILABLE, "%s", why);
        rlog(r, LOG_ERR, "real-time protection is unavailable: %s", why);
        pal_rtp_marked_free(&m);
        close(fd);
        if (r->wake_fd >= 0)
            close(r->wake_fd);
        if (r->mount_fd >= 0)
            close(r->mount_fd);
        r->fan_fd = r->wake_fd = r->mount_fd = -1;
        pal_strlist_free(r->cfg_paths, r->n_cfg_paths);
        pal_strlist_free(r->cfg_unmon, r->n_cfg_unmon);
        r->cfg_paths = r->cfg_unmon = NULL;
        r->n_cfg_paths = r->n_cfg_unmon = 0;
        return -1;
    }
    if (failed)
        rlog(r, LOG_WARNING, "real-time protection: %zu file system(s) not monitored: %s", failed,
             why);
    pthread_mutex_lock(&r->lock);
    r->marked = m;
    r->stopping = 0;
    r->stop_cancel = 0;
    pthread_mutex_unlock(&r->lock);
    r->running = 1;
    r->reader_started = pthread_create(&r->reader, NULL, reader_main, r) == 0;
    if (!r->reader_started) {
        r->n_workers = 0;
        stop_locked(r);
        set_state(r, ST_UNAVAILABLE, "cannot start its thread");
        return -1;
    }
    r->n_workers = 0;
    for (int i = 0; i < N_WORKERS; i++)
        if (pthread_create(&r->workers[r->n_workers], NULL, worker_main, r) == 0)
            r->n_workers++;
    r->since_ms = pal_time_now_ms();
    atomic_store(&r->rate_prev_ns, mono_ns());
    atomic_store(&r->rate_prev_events, atomic_load(&r->c.events));
    pal_rtp_pstats_reset(r->pstats, r->since_ms);
    json_decref(r->others);
    r->others = pal_rtp_other_listeners(r->self);
    for (size_t i = 0; r->others && i < json_array_size(r->others); i++)
        rlog(r, LOG_WARNING,
             "another fanotify permission listener is running (pid and executable: %s): two "
             "products checking the same opens can stall each other",
             json_string_value(json_array_get(r->others, i)));
    set_state(r, ST_ENABLED, NULL);
    rlog(r, LOG_NOTICE, "real-time protection enabled on %zu file system(s)%s%s", m.n,
         r->has_pidfd ? "" : " (this kernel reports no pidfds: process exclusions cannot apply)",
         "");
    return 0;
}

/* The parts of the settings read on every event's path (lock). */
static void load_live(pal_rtp *r)
{
    uint64_t ms = 4000;
    pal_settings_get_uint(r->env.settings, "RealTimeResponseTimeoutMs", &ms);
    char *action = NULL;
    pal_settings_get_string(r->env.settings, "RealTimeTimeoutAction", &action);
    excl_snap *x = calloc(1, sizeof(*x)), *old = NULL;
    if (x) {
        x->refs = 1;
        pal_settings_get_strlist(r->env.settings, "ExclusionPath", &x->paths, &x->np);
        pal_settings_get_strlist(r->env.settings, "ExclusionExtension", &x->exts, &x->ne);
        pal_settings_get_strlist(r->env.settings, "RealTimeProcessExclusions", &x->procs,
                                 &x->nproc);
    }
    pthread_mutex_lock(&r->lock);
    r->timeout_ns = (int64_t)ms * 1000000LL;
    r->deny_on_timeout = action && strcmp(action, "Deny") == 0;
    if (x) { /* out of memory: the previous lists stay */
        old = r->excl;
        r->excl = x;
    }
    pthread_mutex_unlock(&r->lock);
    excl_unref(r, old);
    free(action);
}

static void disabled_reason(pal_rtp *r)
{
    json_t *v = NULL;
    pal_setting_source src;
    char *detail = NULL;
    pal_errbuf err;
    if (pal_settings_get(r->env.settings, "RealTimeProtectionEnabled", &v, &src, &detail, &err) ==
            0 &&
        src == PAL_SOURCE_POLICY)
        set_state(r, ST_DISABLED, "disabled by policy file %s", detail ? detail : "(unknown)");
    else if (src == PAL_SOURCE_PREFERENCE)
        set_state(r, ST_DISABLED, "disabled by preference (RealTimeProtectionEnabled)");
    else if (src == PAL_SOURCE_ENVIRONMENT)
        set_state(r, ST_DISABLED, "disabled by the environment variable %s of palisaded",
                  detail ? detail : PAL_ENV_FORCE_REAL_TIME);
    else
        set_state(r, ST_DISABLED, "disabled (RealTimeProtectionEnabled is false)");
    json_decref(v);
    free(detail);
}

void pal_rtp_apply(pal_rtp *r)
{
    pthread_mutex_lock(&r->life);
    load_live(r);
    int enabled = 1;
    pal_settings_get_bool(r->env.settings, "RealTimeProtectionEnabled", &enabled);
    if (!enabled) {
        stop_locked(r);
        disabled_reason(r);
        pthread_mutex_unlock(&r->life);
        return;
    }
    if (r->running) {
        /* the marks were made from the monitored paths and types: redo them if those
           changed (a new group: the old one's pending events are answered first) */
        char **paths = NULL, **unmon = NULL;
        size_t np = 0, nu = 0;
        pal_settings_get_strlist(r->env.settings, "RealTimeMonitoredPaths", &paths, &np);
        pal_settings_get_strlist(r->env.settings, "RealTimeUnmonitoredFileSystems", &unmon, &nu);
        int same = strlists_equal(paths, np, r->cfg_paths, r->n_cfg_paths) &&
                   strlists_equal(unmon, nu, r->cfg_unmon, r->n_cfg_unmon);
        pal_strlist_free(paths, np);
        pal_strlist_free(unmon, nu);
        if (same) {
            pthread_mutex_unlock(&r->life);
            return;
        }
        stop_locked(r);
    }
    start_locked(r);
    pthread_mutex_unlock(&r->life);
}

void pal_rtp_stop(pal_rtp *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->life);
    stop_locked(r);
    set_state(r, ST_DISABLED, "the agent is stopping");
    pthread_mutex_unlock(&r->life);
}

void pal_rtp_free(pal_rtp *r)
{
    if (!r)
        return;
    pal_rtp_stop(r);
    pal_rtp_pstats_free(r->pstats);
    excl_unref(r, r->excl);
    json_decref(r->others);
    pthread_cond_destroy(&r->work);
    pthread_mutex_destroy(&r->lock);
    pthread_mutex_destroy(&r->cache_lock);
    pal_rtp_tally_destroy(&r->unchecked);
    pthread_mutex_destroy(&r->life);
    free(r);
}

void pal_rtp_defs_changed(pal_rtp *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->life);
    if (r->running) {
        /* the only inode marks of the group are the ignore marks; a scan in flight on the
           old package sees defs_gen moved and marks nothing */
        pthread_mutex_lock(&r->lock);
        r->defs_gen++;
        fanotify_mark(r->fan_fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL);
        pthread_mutex_unlock(&r->lock);
    }
    pthread_mutex_lock(&r->cache_lock);
    r->cache_n = 0;
    pthread_mutex_unlock(&r->cache_lock);
    pthread_mutex_unlock(&r->life);
}

/* ---- status ----------------------------------------------------------------------------- */

static uint64_t events_per_second(pal_rtp *r)
{
    /* over the time since the previous look, at least a second */
    int64_t now = mono_ns();
    int64_t prev = atomic_load(&r->rate_prev_ns);
    uint64_t ev_now = atomic_load(&r->c.events);
    if (now - prev >= 1000000000LL) {
        uint64_t ev_prev = atomic_exchange(&r->rate_prev_events, ev_now);
        atomic_store(&r->rate_prev_ns, now);
        uint64_t rate = (uint64_t)((double)(ev_now - ev_prev) * 1e9 / (double)(now - prev) + 0.5);
        atomic_store(&r->rate_value, rate);
    }
    return atomic_load(&r->rate_value);
}

int pal_rtp_status_add(pal_rtp *r, json_t *o, int *healthy)
{
    static const char *const names[] = {"Disabled", "Enabled", "Unavailable"};
    pthread_mutex_lock(&r->life);
    int state = r->state;
    json_t *reason = state == ST_ENABLED ? json_null() : json_string(r->reason);
    json_t *stats = json_null();
    if (r->running) {
        stats = json_object();
        json_t *fs = json_array();
        pthread_mutex_lock(&r->lock);
        size_t depth = r->held;
        for (size_t i = 0; fs && i < r->marked.n; i++)
            json_array_append_new(fs, json_string(r->marked.mount_points[i]));
        pthread_mutex_unlock(&r->lock);
        uint64_t events = atomic_load(&r->c.events), hits = atomic_load(&r->c.cache_hits),
                 scans = atomic_load(&r->c.scans);
        if (stats && fs) {
            json_object_set_new(stats, "since", pal_time_json(r->since_ms));
            json_object_set_new(stats, "file_systems", fs);
            fs = NULL;
            json_object_set_new(stats, "events", json_integer((json_int_t)events));
            json_object_set_new(stats, "events_per_second",
                                json_integer((json_int_t)events_per_second(r)));
            json_object_set_new(stats, "queue_depth", json_integer((json_int_t)depth));
            json_object_set_new(stats, "cache_hits", json_integer((json_int_t)hits));
            json_object_set_new(
                stats, "cache_hit_rate",
                json_real(hits + scans ? (double)hits / (double)(hits + scans) : 0.0));
            json_object_set_new(stats, "scans", json_integer((json_int_t)scans));
            json_object_set_new(stats, "empty_allowed",
                                json_integer((json_int_t)atomic_load(&r->c.empty_allowed)));
            json_object_set_new(stats, "ignore_marks",
                                json_integer((json_int_t)atomic_load(&r->c.ignore_marks)));
            json_object_set_new(stats, "blocked",
                                json_integer((json_int_t)atomic_load(&r->c.blocked)));
            json_object_set_new(stats, "timeouts",
                                json_integer((json_int_t)atomic_load(&r->c.timeouts)));
            json_object_set_new(stats, "overloads",
                                json_integer((json_int_t)atomic_load(&r->c.overloads)));
            json_object_set_new(stats, "other_permission_listeners",
                                r->others ? json_copy(r->others) : json_array());
        }
        json_decref(fs);
    }
    pthread_mutex_unlock(&r->life);
    *healthy = state == ST_ENABLED;
    if (!reason || !stats ||
        json_object_set_new(o, "real_time_protection", json_string(names[state])) != 0) {
        json_decref(reason);
        json_decref(stats);
        return PAL_ENOMEM;
    }
    if (json_object_set_new(o, "real_time_protection_reason", reason) != 0 ||
        json_object_set_new(o, "real_time_protection_stats", stats) != 0)
        return PAL_ENOMEM;
    return 0;
}

json_t *pal_rtp_process_stats_json(pal_rtp *r, size_t limit)
{
    return pal_rtp_pstats_json(r->pstats, limit);
}
