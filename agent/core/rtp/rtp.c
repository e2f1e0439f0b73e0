/*
 * rtp.c — real-time protection's life (see rtp.h): the fanotify group, the reader thread
 * (reads events, answers the broker's own at once, queues the rest, answers expired and
 * overflowing ones by policy, re-marks on mount changes, drops the ignore marks when the
 * attribute watch says so), starting and stopping the workers (rtpwork.c), and the status.
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
#include "rtpattr.h"
#include "rtpmounts.h"
#include "rtpproc.h"
#include "rtptally.h"
#include "walker.h"

#include "rtp_internal.h"

void rtp_log(pal_rtp *r, int level, const char *fmt, ...)
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
void rtp_ev_unref(pal_rtp *r, ev *e)
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
int rtp_ev_answer(pal_rtp *r, ev *e, int allow)
{
    if (!e->perm || e->answered)
        return 0;
    respond(r->fan_fd, e->fd, allow);
    e->answered = 1;
    e->cancel = 1; /* a scan still running for it may stop */
    ev_unlink_u(r, e);
    rtp_ev_unref(r, e); /* the unanswered list's reference */
    return 1;
}

void rtp_answer(pal_rtp *r, ev *e, int allow)
{
    pthread_mutex_lock(&r->lock);
    rtp_ev_answer(r, e, allow);
    pthread_mutex_unlock(&r->lock);
}

/* Every ignore mark goes (lock held): a marked file's attributes changed, or the set that
   remembers them is full. The next opens of each file are checked again. */
static void drop_ignore_marks(pal_rtp *r)
{
    fanotify_mark(r->fan_fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL);
    if (r->attr)
        pal_rtp_attr_forget(r->attr);
    atomic_fetch_add(&r->c.ignore_marks_dropped, 1);
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
void rtp_note_overload(pal_rtp *r, const char *what, const char *action)
{
    pal_rtp_tally_add(&r->unchecked, what, action, 1);
    uint64_t n = atomic_fetch_add(&r->c.overloads, 1) + 1;
    int64_t now = pal_time_now_ms();
    if (now - r->last_overload_log >= LOG_EVERY_MS) {
        r->last_overload_log = now;
        rtp_log(r, LOG_WARNING, "real-time protection overloaded: %s (%llu overloads since start)",
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
        rtp_note_overload(r,
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
        rtp_note_overload(r, "out of memory", !perm ? "None" : allow ? "Allow" : "Deny");
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
            rtp_ev_answer(r, e, allow);
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
            rtp_log(r, LOG_WARNING,
                    "real-time protection: %llu open(s) not checked within "
                    "RealTimeResponseTimeoutMs were answered %s (%llu timeouts since start)",
                    (unsigned long long)expired, allow ? "Allow" : "Deny", (unsigned long long)n);
        }
    }
    return wait_ms;
}

/* Watch the attribute changes of every marked file system (lock held). One the watch cannot
   follow (no file handles, no fsid) is still protected; its files only get no ignore marks,
   and each open of them is checked against the store's cache instead. */
static void watch_attributes(pal_rtp *r)
{
    if (!r->attr)
        return;
    char why[600] = "";
    size_t failed = pal_rtp_attr_watch(r->attr, r->cfg_paths, r->n_cfg_paths, r->cfg_unmon,
                                       r->n_cfg_unmon, why, sizeof(why));
    if (failed)
        rtp_log(r, LOG_INFO,
                "real-time protection: %zu file system(s) without an attribute watch (their "
                "clean files are checked against the scan cache at every open): %s",
                failed, why);
}

static void remark(pal_rtp *r)
{
    char why[600] = "";
    pal_rtp_marked m;
    pthread_mutex_lock(&r->lock);
    m = r->marked;
    memset(&r->marked, 0, sizeof(r->marked));
    pthread_mutex_unlock(&r->lock);
    pal_rtp_marked_prune(&m);
    size_t failed = pal_rtp_mark_mounts(r->fan_fd, MARK_MASK, NULL, r->cfg_paths, r->n_cfg_paths,
                                        r->cfg_unmon, r->n_cfg_unmon, &m, why, sizeof(why));
    if (failed)
        rtp_log(r, LOG_WARNING, "real-time protection: %zu file system(s) not monitored: %s",
                failed, why);
    pthread_mutex_lock(&r->lock);
    r->marked = m;
    watch_attributes(r);
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
        struct pollfd pf[4] = {{.fd = r->fan_fd, .events = POLLIN},
                               {.fd = r->wake_fd, .events = POLLIN},
                               {.fd = r->mount_fd, .events = POLLPRI},
                               {.fd = pal_rtp_attr_fd(r->attr), .events = POLLIN}};
        int np = poll(pf, 4, wait_ms);
        if (np < 0 && errno != EINTR)
            break;
        if (pf[1].revents & POLLIN)
            break; /* stop */
        if (pf[2].revents & (POLLPRI | POLLERR))
            remark(r);
        if (pf[3].revents & POLLIN) {
            pthread_mutex_lock(&r->lock);
            if (pal_rtp_attr_changed(r->attr))
                drop_ignore_marks(r);
            pthread_mutex_unlock(&r->lock);
        }
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
                    rtp_note_overload(r,
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
    pal_cachebatch_init(&r->cache, env->store);
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
        rtp_ev_unref(r, e);
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
        rtp_ev_answer(r, r->uhead, 1);
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
    pal_rtp_attr_close(r->attr);
    r->attr = NULL;
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
    rtp_log(r, LOG_NOTICE, "real-time protection stopped");
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
        rtp_log(r, LOG_ERR, "real-time protection is unavailable: %s", r->reason);
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
        rtp_log(r, LOG_ERR, "real-time protection is unavailable: %s", why);
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
        rtp_log(r, LOG_WARNING, "real-time protection: %zu file system(s) not monitored: %s",
                failed, why);
    pal_rtp_attr *attr = NULL;
    if (pal_rtp_attr_open(&attr) != 0)
        rtp_log(r, LOG_WARNING,
                "real-time protection: no attribute watch (fanotify FID reporting: %s): clean "
                "files get no ignore marks, each open is checked against the scan cache",
                strerror(errno));
    pthread_mutex_lock(&r->lock);
    r->marked = m;
    r->attr = attr;
    watch_attributes(r);
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
        if (pthread_create(&r->workers[r->n_workers], NULL, rtp_worker_main, r) == 0)
            r->n_workers++;
    r->since_ms = pal_time_now_ms();
    atomic_store(&r->rate_prev_ns, mono_ns());
    atomic_store(&r->rate_prev_events, atomic_load(&r->c.events));
    pal_rtp_pstats_reset(r->pstats, r->since_ms);
    json_decref(r->others);
    r->others = pal_rtp_other_listeners(r->self);
    for (size_t i = 0; r->others && i < json_array_size(r->others); i++)
        rtp_log(r, LOG_WARNING,
                "another fanotify permission listener is running (pid and executable: %s): two "
                "products checking the same opens can stall each other",
                json_string_value(json_array_get(r->others, i)));
    set_state(r, ST_ENABLED, NULL);
    rtp_log(r, LOG_NOTICE, "real-time protection enabled on %zu file system(s)%s%s", m.n,
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
    rtp_excl_unref(r, old);
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
    rtp_excl_unref(r, r->excl);
    json_decref(r->others);
    pthread_cond_destroy(&r->work);
    pthread_mutex_destroy(&r->lock);
    pal_cachebatch_destroy(&r->cache);
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
        if (r->attr)
            pal_rtp_attr_forget(r->attr);
        pthread_mutex_unlock(&r->lock);
    }
    pal_cachebatch_drop(&r->cache);
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
            json_object_set_new(stats, "ignore_marks_dropped",
                                json_integer((json_int_t)atomic_load(&r->c.ignore_marks_dropped)));
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
