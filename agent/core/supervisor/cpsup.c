/*
 * cpsup.c — the content-process supervisor's state machine (cpsup.h): the package in
 * force, the instances and their reference counts, starting one, restarting after a
 * failure with exponential backoff, declaring and ending a crash loop (degraded), the
 * events and the status, and handing a running instance to a request (acquire, release,
 * kill). Spawning and checking one instance is cpspawn.c's, the hold on a package
 * cppkg.c's, the conversation on a channel cpchan.c's. Locking and lifetimes:
 * cpsup_internal.h.
 */
#define _GNU_SOURCE
#include "cpsup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cpchan.h"
#include "cpspawn.h"

/* ---- names ------------------------------------------------------------------------------ */

const char *pal_cpsup_state_name(pal_cpsup_state s)
{
    switch (s) {
    case PAL_CPSUP_STOPPED:
        return "stopped";
    case PAL_CPSUP_STARTING:
        return "starting";
    case PAL_CPSUP_RUNNING:
        return "running";
    case PAL_CPSUP_RESTARTING:
        return "restarting";
    }
    return "unknown";
}

const char *pal_cpsup_event_name(pal_cpsup_event_kind k)
{
    switch (k) {
    case PAL_CPSUP_EV_START:
        return "start";
    case PAL_CPSUP_EV_START_FAILED:
        return "start-failed";
    case PAL_CPSUP_EV_EXIT:
        return "exit";
    case PAL_CPSUP_EV_CRASH:
        return "crash";
    case PAL_CPSUP_EV_KILL_MISBEHAVED:
        return "kill-misbehaved";
    case PAL_CPSUP_EV_KILL_TIMEOUT:
        return "kill-timeout";
    case PAL_CPSUP_EV_KILL_TAMPERED:
        return "kill-tampered";
    case PAL_CPSUP_EV_STOP:
        return "stop";
    case PAL_CPSUP_EV_DEGRADED:
        return "degraded";
    }
    return "unknown";
}

/* ---- configuration ------------------------------------------------------------------------ */

void pal_cpsup_config_default(pal_cpsup_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->channels = 1;
    cfg->account = "palisade-cp";
    cfg->timeout_grace_ms = 5000;
    cfg->start_timeout_ms = 10000;
    cfg->start_wait_ms = 60000;
    cfg->backoff_base_ms = 100;
    cfg->backoff_max_ms = 30000;
    cfg->degraded_after = 5;
    cfg->rlimit_cpu_s = 24 * 3600;
    cfg->bulk_shm = 1;
}

static void wake(pal_cpsup *sup)
{
    uint64_t one = 1;
    ssize_t n = write(sup->wake_fd, &one, sizeof(one));
    (void)n;
    pthread_cond_broadcast(&sup->cond);
}

static int64_t real_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

/* ---- the package in force -------------------------------------------------------------- */

/* Put p (its reference passes to the supervisor) in force; the one in force is retired,
   still served by the current instance until the scans in flight on it finish. Lock held. */
static void set_pkg_locked(pal_cpsup *sup, cp_pkg *p)
{
    cppkg_unref(sup->retired);
    sup->retired = sup->pkg;
    sup->pkg = p;
    wake(sup);
}

/* Put the package open on fd with lim in force unless it is already, or, with
   keep_retired, unless it is the one just retired. No lock held. */
static int offer(pal_cpsup *sup, int fd, const pal_limits *lim, int keep_retired, pal_errbuf *err)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return pal_err_set(err, PAL_EINVAL, "bad package descriptor %d", fd);
    pthread_mutex_lock(&sup->lock);
    int known = cppkg_is(sup->pkg, &st, lim) || (keep_retired && cppkg_is(sup->retired, &st, lim));
    pthread_mutex_unlock(&sup->lock);
    if (known)
        return 0;
    cp_pkg *p = NULL;
    int rc = cppkg_new(fd, &st, lim, &p, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&sup->lock);
    /* another caller may have put it in force meanwhile */
    if (cppkg_is(sup->pkg, &st, lim) || (keep_retired && cppkg_is(sup->retired, &st, lim)))
        cppkg_unref(p);
    else
        set_pkg_locked(sup, p);
    pthread_mutex_unlock(&sup->lock);
    return 0;
}

int cpsup_offer_package(pal_cpsup *sup, int pkg_fd, const pal_limits *limits, pal_errbuf *err)
{
    return offer(sup, pkg_fd, limits, 1, err);
}

/* ---- instances -------------------------------------------------------------------------- */

static void inst_free(cp_inst *in)
{
    if (in == NULL)
        return;
    for (unsigned i = 0; in->chan != NULL && i < in->k; i++)
        cpsup_close_fd(&in->chan[i]);
    free(in->chan);
    cpsup_close_fd(&in->pidfd);
    cpsup_close_fd(&in->err_fd);
    if (in->shm != NULL)
        munmap(in->shm, in->shm_size);
    pal_cpident_guard_release(&in->guard);
    cppkg_unref(in->pkg);
    free(in->kill_object);
    free(in);
}

/* sup->lock held */
static void inst_unref(cp_inst *in)
{
    if (in != NULL && --in->refs == 0)
        inst_free(in);
}

/* ---- events ------------------------------------------------------------------------------- */

typedef struct ev_buf {
    pal_cpsup_event ev;
    char detail[640];
    char *object;
    char tail[TAIL_MAX + 1];
} ev_buf;

static void ev_init(ev_buf *eb, pal_cpsup_event_kind kind, const cp_inst *in)
{
    memset(eb, 0, sizeof(*eb));
    eb->ev.kind = kind;
    eb->ev.time = real_s();
    eb->ev.exit_code = -1;
    eb->ev.detail = eb->detail;
    eb->ev.stderr_tail = eb->tail;
    if (in != NULL) {
        eb->ev.generation = in->gen;
        eb->ev.pid = in->pid;
        memcpy(eb->tail, in->tail, in->tail_len);
        eb->tail[in->tail_len] = '\0';
    }
}

/* Names of the objects in flight on in, newline-separated (malloc'd or NULL). Lock held. */
static char *objects_on(pal_cpsup *sup, const cp_inst *in)
{
    size_t total = 0;
    for (unsigned i = 0; i < sup->cfg.channels; i++)
        if (sup->slots[i].inst == in && sup->slots[i].name != NULL)
            total += strlen(sup->slots[i].name) + 1;
    if (total == 0)
        return NULL;
    char *s = malloc(total);
    if (s == NULL)
        return NULL;
    size_t off = 0;
    for (unsigned i = 0; i < sup->cfg.channels; i++) {
        if (sup->slots[i].inst != in || sup->slots[i].name == NULL)
            continue;
        size_t n = strlen(sup->slots[i].name);
        if (off > 0)
            s[off - 1] = '\n';
        memcpy(s + off, sup->slots[i].name, n);
        s[off + n] = '\0';
        off += n + 1;
    }
    return s;
}

/* Lock held on entry and exit; released around the callback. Frees eb->object. */
static void emit(pal_cpsup *sup, ev_buf *eb)
{
    eb->ev.object = eb->object;
    if (sup->cfg.on_event != NULL) {
        pthread_mutex_unlock(&sup->lock);
        sup->cfg.on_event(sup->cfg.event_ctx, &eb->ev);
        pthread_mutex_lock(&sup->lock);
    }
    free(eb->object);
    eb->object = NULL;
}

/*
 * An unplanned end or a failed start: back off, maybe declare a crash loop (then *eb holds
 * the event to emit after the caller's own, and 1 is returned). Lock held.
 */
static int note_failure(pal_cpsup *sup, const cp_inst *in, ev_buf *eb)
{
    sup->consecutive++;
    sup->st.restarts++;
    unsigned shift = sup->consecutive > 20 ? 20 : sup->consecutive - 1;
    uint64_t delay = (uint64_t)sup->cfg.backoff_base_ms << shift;
    if (delay > sup->cfg.backoff_max_ms)
        delay = sup->cfg.backoff_max_ms;
    sup->next_start_ms = cpsup_mono_ms() + (int64_t)delay;
    if (!sup->degraded && sup->consecutive >= sup->cfg.degraded_after) {
        sup->degraded = 1;
        snprintf(sup->degraded_reason, sizeof(sup->degraded_reason),
                 "content process crash loop: %u consecutive failures%s%.160s%s", sup->consecutive,
                 sup->last_fail_start ? " to start (last: " : "",
                 sup->last_fail_start ? sup->last_start_error : "",
                 sup->last_fail_start ? ")" : "");
        ev_init(eb, PAL_CPSUP_EV_DEGRADED, in);
        snprintf(eb->detail, sizeof(eb->detail), "%s; restarting with backoff up to %u ms",
                 sup->degraded_reason, sup->cfg.backoff_max_ms);
        return 1;
    }
    return 0;
}

/* A request was answered properly: the crash loop, if any, is over. Lock held. */
static void note_success(pal_cpsup *sup)
{
    sup->consecutive = 0;
    sup->degraded = 0;
    sup->degraded_reason[0] = '\0';
    sup->last_fail_start = 0;
}

static void start_instance(pal_cpsup *sup)
{
    cp_inst *in = calloc(1, sizeof(*in));
    pal_errbuf err = {{0}};
    int rc = 0;
    if (in == NULL || (in->chan = malloc(sup->cfg.channels * sizeof(int))) == NULL) {
        free(in);
        sup->next_start_ms = cpsup_mono_ms() + sup->cfg.backoff_max_ms;
        return;
    }
    in->k = sup->cfg.channels;
    for (unsigned i = 0; i < in->k; i++)
        in->chan[i] = -1;
    in->pidfd = in->err_fd = -1;
    in->guard.limits_fd = -1;
    in->refs = 1;
    in->gen = ++sup->gen;
    in->pkg = cppkg_ref(sup->pkg);
    sup->st.generation = sup->gen;
    sup->state = PAL_CPSUP_STARTING;
    pthread_cond_broadcast(&sup->cond);
    pthread_mutex_unlock(&sup->lock);

    /* Chosen again for every instance: the processes on the machine change. */
    rc = pal_cpident_choose(sup->account, sup->avoid_account, &in->ident, &err);
    if (rc == 0)
        rc = cpspawn_start(&sup->cfg, sup->binary, in, &err);
    if (rc == 0)
        rc = cpspawn_wait_ready(in, sup->cfg.start_timeout_ms, &sup->shutdown, &err);
    if (rc == PAL_EEXIST && in->ident.kind == PAL_CPIDENT_ACCOUNT)
        sup->avoid_account = 1; /* lost a race for it: the next attempt takes a dynamic uid */
    if (rc != 0 && in->pidfd >= 0) {
        syscall(SYS_pidfd_send_signal, in->pidfd, SIGKILL, NULL, 0);
        cpspawn_reap(in);
    }

    pthread_mutex_lock(&sup->lock);
    if (rc == 0) {
        ev_buf eb;
        ev_init(&eb, PAL_CPSUP_EV_START, in);
        char steps[512];
        pal_cpsup_steps_string(in->steps, steps, sizeof(steps));
        snprintf(eb.detail, sizeof(eb.detail),
                 "running as uid %u gid %u (%.200s), landlock ABI %d%s; sandbox: %.300s",
                 (unsigned)in->uid, (unsigned)in->gid, in->ident.why, in->hello.landlock_abi,
                 (in->hello.build_flags & PAL_CPMSG_BUILD_SELFTEST) ? ", self-test build" : "",
                 steps);
        /* recorded before anyone can use it */
        emit(sup, &eb);
        in->ready = 1;
        in->start_time = real_s();
        sup->cur = in;
        sup->state = PAL_CPSUP_RUNNING;
        sup->st.starts++;
        sup->start_seq++;
        pthread_cond_broadcast(&sup->cond);
        return;
    }
    char why[512];
    if (in->pid > 0 && (in->exit_code >= 0 || in->term_signal != 0)) {
        char end[200];
        cpspawn_describe_end(end, sizeof(end), in->exit_code, in->term_signal);
        snprintf(why, sizeof(why), "palisade-cp %.150s (%.300s)", end, err.msg);
        snprintf(sup->st.last_exit, sizeof(sup->st.last_exit), "%s", end);
    } else {
        snprintf(why, sizeof(why), "%.500s", err.msg);
    }
    snprintf(sup->last_start_error, sizeof(sup->last_start_error), "%s", why);
    sup->st.start_failures++;
    sup->last_fail_start = 1;
    sup->state = PAL_CPSUP_RESTARTING;
    ev_buf eb;
    ev_init(&eb, PAL_CPSUP_EV_START_FAILED, in);
    eb.ev.exit_code = in->exit_code;
    eb.ev.signal = in->term_signal;
    snprintf(eb.detail, sizeof(eb.detail), "%s", why);
    static ev_buf deg; /* supervisor thread only */
    int degraded = note_failure(sup, in, &deg);
    inst_unref(in);
    emit(sup, &eb);
    if (degraded)
        emit(sup, &deg);
    sup->start_seq++; /* the attempt is over, and recorded */
    pthread_cond_broadcast(&sup->cond);
}

/* The current instance died (its pidfd said so). Lock held. */
static void instance_ended(pal_cpsup *sup)
{
    cp_inst *in = sup->cur;
    pthread_mutex_unlock(&sup->lock);
    cpspawn_reap(in);
    pthread_mutex_lock(&sup->lock);
    in->reaped = 1; /* no new request takes it; its end is recorded before anyone goes on */

    pal_cpsup_event_kind kind;
    if (in->planned)
        kind = PAL_CPSUP_EV_STOP;
    else if (in->kill_kind != 0)
        kind = (pal_cpsup_event_kind)in->kill_kind;
    else if (in->term_signal != 0)
        kind = PAL_CPSUP_EV_CRASH;
    else
        kind = PAL_CPSUP_EV_EXIT;
    ev_buf eb;
    ev_init(&eb, kind, in);
    eb.ev.exit_code = in->exit_code;
    eb.ev.signal = in->term_signal;
    char end[200];
    cpspawn_describe_end(end, sizeof(end), in->exit_code, in->term_signal);
    snprintf(sup->st.last_exit, sizeof(sup->st.last_exit), "%s", end);
    if (in->kill_kind != 0 && !in->planned) {
        snprintf(eb.detail, sizeof(eb.detail), "%s", in->kill_detail);
        eb.object = in->kill_object;
        in->kill_object = NULL;
    } else {
        snprintf(eb.detail, sizeof(eb.detail), "%s%s", in->planned ? "stopped: " : "", end);
        eb.object = objects_on(sup, in);
    }
    switch (kind) {
    case PAL_CPSUP_EV_CRASH:
        sup->st.crashes++;
        break;
    case PAL_CPSUP_EV_EXIT:
        sup->st.exits++;
        break;
    case PAL_CPSUP_EV_KILL_MISBEHAVED:
        sup->st.kills_misbehaved++;
        break;
    case PAL_CPSUP_EV_KILL_TIMEOUT:
        sup->st.kills_timeout++;
        break;
    case PAL_CPSUP_EV_KILL_TAMPERED:
        sup->st.kills_tampered++;
        break;
    default:
        break;
    }
    static ev_buf deg; /* supervisor thread only */
    int degraded = 0;
    if (!in->planned) {
        sup->last_fail_start = 0;
        sup->state = PAL_CPSUP_RESTARTING;
        degraded = note_failure(sup, in, &deg);
    } else {
        sup->next_start_ms = cpsup_mono_ms();
        sup->state = sup->enabled && !sup->shutdown ? PAL_CPSUP_RESTARTING : PAL_CPSUP_STOPPED;
    }
    emit(sup, &eb);
    if (degraded)
        emit(sup, &deg);
    in->dead = 1;
    sup->cur = NULL;
    inst_unref(in);
    pthread_cond_broadcast(&sup->cond);
}

static void *supervisor_main(void *arg)
{
    pal_cpsup *sup = arg;
    pthread_mutex_lock(&sup->lock);
    for (;;) {
        cp_inst *in = sup->cur;
        if (in != NULL && !in->planned && in->kill_kind == 0 && !in->reaped) {
            int stop = sup->shutdown || !sup->enabled || (in->pkg != sup->pkg);
            if (stop && sup->inflight == 0) {
                in->planned = 1;
                syscall(SYS_pidfd_send_signal, in->pidfd, SIGKILL, NULL, 0);
            }
        }
        if (in == NULL && sup->shutdown)
            break;
        if (in == NULL && !sup->enabled && sup->state != PAL_CPSUP_STOPPED) {
            sup->state = PAL_CPSUP_STOPPED;
            pthread_cond_broadcast(&sup->cond);
        }
        int64_t now = cpsup_mono_ms();
        if (in == NULL && sup->enabled && sup->pkg != NULL && now >= sup->next_start_ms) {
            start_instance(sup);
            continue;
        }
        int timeout = -1;
        if (in == NULL && sup->enabled && sup->pkg != NULL)
            timeout = (int)(sup->next_start_ms - now);
        struct pollfd pf[3] = {{.fd = sup->wake_fd, .events = POLLIN},
                               {.fd = in ? in->pidfd : -1, .events = POLLIN},
                               {.fd = in ? in->err_fd : -1, .events = POLLIN}};
        pthread_mutex_unlock(&sup->lock);
        int n = poll(pf, 3, timeout);
        if (n > 0 && pf[0].revents) {
            uint64_t v;
            ssize_t r = read(sup->wake_fd, &v, sizeof(v));
            (void)r;
        }
        if (n > 0 && pf[2].revents)
            cpspawn_drain_stderr(in);
        pthread_mutex_lock(&sup->lock);
        if (n > 0 && pf[1].revents)
            instance_ended(sup);
    }
    sup->state = PAL_CPSUP_STOPPED;
    pthread_cond_broadcast(&sup->cond);
    pthread_mutex_unlock(&sup->lock);
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int pal_cpsup_new(const pal_cpsup_config *cfg, pal_cpsup **out, pal_errbuf *err)
{
    if (cfg == NULL || out == NULL || cfg->binary == NULL)
        return pal_err_set(err, PAL_EINVAL, "pal_cpsup_new: configuration and binary required");
    if (cfg->channels == 0 || cfg->channels > PAL_CPMSG_MAX_CHANNELS)
        return pal_err_set(err, PAL_EINVAL, "%u channels (1..%u)", cfg->channels,
                           PAL_CPMSG_MAX_CHANNELS);
    if (cfg->start_timeout_ms == 0 || cfg->degraded_after == 0 || cfg->backoff_base_ms == 0 ||
        cfg->backoff_max_ms < cfg->backoff_base_ms)
        return pal_err_set(err, PAL_EINVAL, "timeouts and backoff must be positive");
    if (cfg->fail_step >= PAL_CPMSG_STEP_COUNT)
        return pal_err_set(err, PAL_EINVAL, "no sandbox step %u", cfg->fail_step);
    pal_cpsup *sup = calloc(1, sizeof(*sup));
    if (sup == NULL)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    sup->cfg = *cfg;
    sup->wake_fd = -1;
    sup->binary = strdup(cfg->binary);
    sup->cfg.binary = sup->binary;
    sup->account = cfg->account != NULL && cfg->account[0] != '\0' ? strdup(cfg->account) : NULL;
    sup->cfg.account = sup->account;
    sup->slots = calloc(cfg->channels, sizeof(cp_slot));
    int rc = 0;
    if (sup->binary == NULL || sup->slots == NULL ||
        (sup->account == NULL && cfg->account != NULL && cfg->account[0] != '\0')) {
        rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < cfg->channels; i++) {
        if (cpchan_slot_init(&sup->slots[i]) != 0) {
            rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
            goto fail;
        }
    }
    sup->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (sup->wake_fd < 0) {
        rc = pal_err_set(err, PAL_EIO, "eventfd: %m");
        goto fail;
    }
    atomic_init(&sup->next_id, 1);
    pthread_mutex_init(&sup->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sup->cond, &ca);
    pthread_condattr_destroy(&ca);
    sup->state = PAL_CPSUP_STOPPED;
    if (pthread_create(&sup->thread, NULL, supervisor_main, sup) != 0) {
        pthread_cond_destroy(&sup->cond);
        pthread_mutex_destroy(&sup->lock);
        rc = pal_err_set(err, PAL_EIO, "cannot start the supervisor thread");
        goto fail;
    }
    sup->thread_started = 1;
    *out = sup;
    return 0;
fail:
    pal_cpsup_free(sup);
    return rc;
}

void pal_cpsup_free(pal_cpsup *sup)
{
    if (sup == NULL)
        return;
    if (sup->thread_started) {
        pthread_mutex_lock(&sup->lock);
        __atomic_store_n(&sup->shutdown, 1, __ATOMIC_RELAXED); /* wait_ready reads it */
        sup->enabled = 0;
        wake(sup);
        pthread_mutex_unlock(&sup->lock);
        pthread_join(sup->thread, NULL);
        pthread_cond_destroy(&sup->cond);
        pthread_mutex_destroy(&sup->lock);
    }
    if (sup->wake_fd >= 0)
        close(sup->wake_fd);
    for (unsigned i = 0; sup->slots != NULL && i < sup->cfg.channels; i++) {
        cpchan_slot_free(&sup->slots[i]);
    }
    free(sup->slots);
    cppkg_unref(sup->pkg);
    cppkg_unref(sup->retired);
    free(sup->binary);
    free(sup->account);
    free(sup);
}

int pal_cpsup_set_package(pal_cpsup *sup, int pkg_fd, const pal_limits *limits, pal_errbuf *err)
{
    if (sup == NULL || limits == NULL)
        return pal_err_set(err, PAL_EINVAL,
                           "pal_cpsup_set_package: supervisor and limits required");
    return offer(sup, pkg_fd, limits, 0, err);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int pal_cpsup_start(pal_cpsup *sup, int pkg_fd, const pal_limits *limits, pal_errbuf *err)
{
    if (sup == NULL || limits == NULL)
        return pal_err_set(err, PAL_EINVAL, "pal_cpsup_start: supervisor and limits required");
    int rc = offer(sup, pkg_fd, limits, 0, err);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&sup->lock);
    if (!sup->enabled) {
        sup->enabled = 1;
        sup->next_start_ms = cpsup_mono_ms();
    }
    wake(sup);
    uint64_t seq = sup->start_seq;
    int64_t until =
        cpsup_mono_ms() + (int64_t)sup->cfg.start_timeout_ms + sup->cfg.backoff_max_ms + 1000;
    for (;;) {
        cp_inst *in = sup->cur;
        if (in != NULL && in->ready && !in->reaped && in->pkg == sup->pkg)
            break;
        if (sup->start_seq != seq && sup->cur == NULL && sup->last_fail_start) {
            rc = pal_err_set(err, PAL_EIO, "%s", sup->last_start_error);
            break;
        }
        if (cpsup_mono_ms() > until) {
            rc = pal_err_set(err, PAL_ETIMEOUT, "the content process did not start in time");
            break;
        }
        struct timespec ts;
        deadline_in(&ts, WAIT_TICK_MS);
        pthread_cond_timedwait(&sup->cond, &sup->lock, &ts);
    }
    pthread_mutex_unlock(&sup->lock);
    return rc;
}

void pal_cpsup_stop(pal_cpsup *sup)
{
    if (sup == NULL)
        return;
    pthread_mutex_lock(&sup->lock);
    sup->enabled = 0;
    wake(sup);
    while (sup->cur != NULL || sup->state == PAL_CPSUP_STARTING)
        pthread_cond_wait(&sup->cond, &sup->lock);
    sup->state = PAL_CPSUP_STOPPED;
    pthread_mutex_unlock(&sup->lock);
}

void pal_cpsup_get_status(pal_cpsup *sup, pal_cpsup_status *out)
{
    pthread_mutex_lock(&sup->lock);
    *out = sup->st;
    out->state = sup->state;
    out->consecutive_failures = sup->consecutive;
    out->degraded = sup->degraded;
    snprintf(out->degraded_reason, sizeof(out->degraded_reason), "%s", sup->degraded_reason);
    cp_inst *in = sup->cur;
    if (in != NULL && in->ready && !in->reaped) {
        out->pid = in->pid;
        out->start_time = in->start_time;
        out->sandbox_steps = in->steps;
        out->landlock_abi = in->hello.landlock_abi;
        out->uid = in->uid;
        out->gid = in->gid;
        snprintf(out->identity, sizeof(out->identity), "%s", in->ident.why);
        out->selftest_build = (in->hello.build_flags & PAL_CPMSG_BUILD_SELFTEST) != 0;
        out->package_version = in->hello.package_version;
    } else {
        out->pid = 0;
        out->start_time = 0;
        out->sandbox_steps = 0;
        out->landlock_abi = 0;
        out->uid = 0;
        out->gid = 0;
        out->identity[0] = '\0';
        out->selftest_build = 0;
        out->package_version = 0;
    }
    pthread_mutex_unlock(&sup->lock);
}

/* ---- requests: acquiring an instance ------------------------------------------------------ */

/*
 * Wait for a running instance for this request and mark it in flight. A retry (alone) waits
 * for an instance newer than the one that died and for every other request to finish.
 */
cpsup_acq_result cpsup_acquire(pal_cpsup *sup, unsigned slot, int alone, uint64_t after_gen,
                               const char *name, const volatile int *cancel, cp_inst **out,
                               char *why, size_t why_len)
{
    pthread_mutex_lock(&sup->lock);
    if (alone)
        sup->isolate_waiters++;
    int64_t wait_until = cpsup_mono_ms() + sup->cfg.start_wait_ms;
    cpsup_acq_result res;
    for (;;) {
        cp_inst *in = sup->cur;
        int up = in != NULL && in->ready && !in->reaped && !in->planned;
        if (sup->shutdown || !sup->enabled) {
            res = CPSUP_ACQ_STOPPED;
            break;
        }
        int fresh = up && in->pkg == sup->pkg;
        int ok = alone ? fresh && in->gen > after_gen && sup->inflight == 0 && !sup->isolated
                       : fresh && !sup->isolated && sup->isolate_waiters == 0;
        if (ok) {
            res = CPSUP_ACQ_OK;
            break;
        }
        if (cancel != NULL && *cancel) {
            res = CPSUP_ACQ_CANCELLED;
            break;
        }
        if (up) {
            /* the wait is for other requests, which have their own deadlines */
            wait_until = cpsup_mono_ms() + sup->cfg.start_wait_ms;
        } else if ((sup->degraded && sup->last_fail_start) || cpsup_mono_ms() > wait_until) {
            snprintf(why, why_len, "%s",
                     sup->last_fail_start ? sup->last_start_error : "no instance came up");
            res = CPSUP_ACQ_UNAVAILABLE;
            break;
        }
        struct timespec ts;
        deadline_in(&ts, WAIT_TICK_MS);
        pthread_cond_timedwait(&sup->cond, &sup->lock, &ts);
    }
    if (alone)
        sup->isolate_waiters--;
    if (res == CPSUP_ACQ_OK) {
        cp_inst *in = sup->cur;
        in->refs++;
        sup->inflight++;
        if (alone)
            sup->isolated = 1;
        sup->slots[slot].inst = in;
        sup->slots[slot].name = name;
        *out = in;
    }
    pthread_cond_broadcast(&sup->cond);
    pthread_mutex_unlock(&sup->lock);
    return res;
}

void cpsup_release(pal_cpsup *sup, unsigned slot, cp_inst *in, int alone, unsigned answered)
{
    pthread_mutex_lock(&sup->lock);
    sup->inflight--;
    if (alone)
        sup->isolated = 0;
    sup->slots[slot].inst = NULL;
    sup->slots[slot].name = NULL;
    if (answered) {
        sup->st.scans += answered;
        note_success(sup);
    }
    inst_unref(in);
    /* A planned stop (sandbox off, new definitions, shutdown) waits for the last request
       to finish: only then is the supervisor's poll worth waking. Waking it after every
       request would cost the broker a thread wake-up per object. Waiters on the condition
       (a retry waiting to run alone, pal_cpsup_stop) are told every time. */
    cp_inst *cur = sup->cur;
    if (sup->inflight == 0 &&
        (sup->shutdown || !sup->enabled || (cur != NULL && cur->pkg != sup->pkg)))
        wake(sup);
    else
        pthread_cond_broadcast(&sup->cond);
    pthread_mutex_unlock(&sup->lock);
}

void cpsup_set_slot_object(pal_cpsup *sup, unsigned slot, const char *name)
{
    pthread_mutex_lock(&sup->lock);
    sup->slots[slot].name = name;
    pthread_mutex_unlock(&sup->lock);
}

/* Kill in for a reason of ours (misbehaviour or timeout). */
void cpsup_kill(pal_cpsup *sup, cp_inst *in, pal_cpsup_event_kind kind, const char *object,
                const char *detail)
{
    pthread_mutex_lock(&sup->lock);
    if (!in->reaped && in->kill_kind == 0 && !in->planned) {
        in->kill_kind = (int)kind;
        snprintf(in->kill_detail, sizeof(in->kill_detail), "%s", detail);
        in->kill_object = object != NULL ? strdup(object) : NULL;
    }
    if (!in->reaped)
        syscall(SYS_pidfd_send_signal, in->pidfd, SIGKILL, NULL, 0);
    pthread_mutex_unlock(&sup->lock);
}

/* End an instance that stopped answering on a channel (it is normally dead already), and
   wait until the supervisor has reaped it, so that its end is known and recorded. */
void cpsup_kill_and_wait(pal_cpsup *sup, cp_inst *in)
{
    pthread_mutex_lock(&sup->lock);
    if (!in->reaped)
        syscall(SYS_pidfd_send_signal, in->pidfd, SIGKILL, NULL, 0);
    while (!in->dead && sup->cur == in)
        pthread_cond_wait(&sup->cond, &sup->lock);
    pthread_mutex_unlock(&sup->lock);
}
