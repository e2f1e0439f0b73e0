/*
 * cpsup.c — the content-process supervisor and the broker's side of its channels (cpsup.h).
 *
 * Locking: one mutex (pal_cpsup.lock) protects the supervisor state, the current instance
 * pointer, instance reference counts and flags, the in-flight bookkeeping and the counters.
 * No lock is held while a scan waits on its channel or while the supervisor polls, spawns
 * or runs the event callback. A slot's buffers belong to the one caller using the slot.
 *
 * Instance lifetime: the supervisor holds one reference to the current instance; every
 * scan in flight holds one. Its descriptors (channels, pidfd, stderr) are closed only when
 * the last reference goes, so a scan never uses a descriptor number that was reused, and a
 * kill through the pidfd never reaches a stranger.
 */
#define _GNU_SOURCE
#include "cpsup.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cpident.h"
#include "cpmsg.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

/* struct clone_args of linux/sched.h (v0 layout), kept here: that header clashes with glibc's */
struct cp_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

#define TAIL_MAX 4096U
#define CTL_PAGE 4096U
#define WAIT_TICK_MS 100
#define STATUS_BUF 8192

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

void pal_cpsup_steps_string(uint32_t steps, char *buf, size_t len)
{
    size_t off = 0;
    if (len == 0)
        return;
    buf[0] = '\0';
    for (unsigned i = 0; i < PAL_CPMSG_STEP_COUNT; i++) {
        if (!(steps & (1U << i)))
            continue;
        int n = snprintf(buf + off, len - off, "%s%s", off ? " " : "", pal_cpmsg_step_name(i));
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
}

/* ---- small helpers ------------------------------------------------------------------------ */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return (b != 0 && a > UINT64_MAX / b) ? UINT64_MAX : a * b;
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

int pal_cpsup_default_binary(char *buf, size_t len, pal_errbuf *err)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return pal_err_set(err, PAL_EIO, "readlink /proc/self/exe: %m");
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return pal_err_set(err, PAL_EIO, "/proc/self/exe is not absolute");
    *slash = '\0';
    int w = snprintf(buf, len, "%s/palisade-cp", self);
    if (w < 0 || (size_t)w >= len)
        return pal_err_set(err, PAL_ELIMIT, "path of palisade-cp too long");
    return 0;
}

static int owner_ok(uid_t owner)
{
    uid_t me = geteuid();
    return owner == 0 || (me != 0 && owner == me);
}

/*
 * Check the binary (and its directory) and open it for execveat, so that what was checked
 * is what runs. Returns the O_CLOEXEC descriptor or a negative code.
 */
static int open_binary(const char *path, pal_errbuf *err)
{
    if (path == NULL || path[0] != '/')
        return pal_err_set(err, PAL_EINVAL, "the content process path must be absolute");
    char dir[4096], base[4096];
    size_t len = strlen(path);
    if (len >= sizeof(dir))
        return pal_err_set(err, PAL_ELIMIT, "content process path too long");
    memcpy(dir, path, len + 1);
    memcpy(base, path, len + 1);
    const char *d = dirname(dir);
    const char *b = basename(base);
    int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return pal_err_set(err, PAL_EIO, "cannot open %s: %m", d);
    struct stat st;
    int rc;
    if (fstat(dfd, &st) != 0) {
        rc = pal_err_set(err, PAL_EIO, "stat %s: %m", d);
        goto out;
    }
    if (!owner_ok(st.st_uid) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
        rc = pal_err_set(err, PAL_EPERM,
                         "refusing %s: its directory %s is owned by uid %u with mode %04o "
                         "(must be root's%s and not writable by group or others)",
                         path, d, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
                         geteuid() == 0 ? "" : " or the broker's");
        goto out;
    }
    int fd = openat(dfd, b, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) {
        rc = pal_err_set(err, errno == ELOOP ? PAL_EPERM : PAL_EIO, "cannot open %s: %m%s", path,
                         errno == ELOOP ? " (a symlink)" : "");
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        rc = pal_err_set(err, PAL_EPERM, "refusing %s: not a regular file", path);
        goto out;
    }
    if (!owner_ok(st.st_uid) || (st.st_mode & (S_IWGRP | S_IWOTH)) || !(st.st_mode & S_IXUSR)) {
        close(fd);
        rc = pal_err_set(err, PAL_EPERM,
                         "refusing %s: owned by uid %u with mode %04o (must be root's%s, "
                         "executable and not writable by group or others)",
                         path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
                         geteuid() == 0 ? "" : " or the broker's");
        goto out;
    }
    rc = fd;
out:
    close(dfd);
    return rc;
}

int pal_cpsup_check_binary(const char *path, pal_errbuf *err)
{
    int fd = open_binary(path, err);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

/* ---- state -------------------------------------------------------------------------------- */

typedef struct cp_inst {
    unsigned refs; /* sup->lock */
    uint64_t gen;
    pid_t pid;
    int pidfd;
    int *chan; /* broker ends, K */
    unsigned k;
    int err_fd;   /* read end of its stderr; supervisor thread only */
    uint8_t *shm; /* broker's writable mapping of the shared memory */
    size_t shm_size;
    uint32_t stride;
    int bulk;
    pal_defs *defs; /* reference: the definitions it runs */
    int64_t start_time;
    uint32_t steps; /* sandbox steps (broker's and its own) */
    int id_mode;
    pal_cpmsg_ready hello;
    pal_cpident ident;       /* who it was started as (chosen at spawn) */
    pal_cpident_guard guard; /* its limits and priority; immutable once ready */
    uint64_t rlimit_as;      /* the address-space limit it was told to set */
    uid_t uid;               /* from /proc/<pid>/status */
    gid_t gid;
    int ready, planned; /* sup->lock */
    int reaped;         /* exit status collected: unusable; sup->lock */
    int dead;           /* and its end recorded (event emitted); sup->lock */
    int kill_kind;      /* PAL_CPSUP_EV_KILL_* once we killed it; sup->lock */
    char kill_detail[320];
    char *kill_object;
    int exit_code, term_signal;
    char tail[TAIL_MAX]; /* last stderr bytes; supervisor thread */
    size_t tail_len;
} cp_inst;

typedef struct cp_slot {
    uint8_t *rx;      /* PAL_CPMSG_MAX + 1 */
    uint8_t *tx;      /* PAL_CPMSG_MAX */
    int busy;         /* a caller is using the slot; sup->lock */
    const char *name; /* object in flight, for events; sup->lock */
    cp_inst *inst;    /* instance it is in flight on; sup->lock */
} cp_slot;

struct pal_cpsup {
    pal_cpsup_config cfg;
    char *binary;
    char *account;     /* cfg.account, copied (NULL: dynamic uids only) */
    int avoid_account; /* supervisor thread: a start lost the account's uid to a race */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* any change of the state below */
    pthread_t thread;
    int thread_started;
    int wake_fd; /* eventfd: pokes the supervisor's poll */
    atomic_uint_fast64_t next_id;

    /* all below: lock */
    int enabled, shutdown;
    pal_defs *defs;    /* what the next instance runs */
    pal_defs *retired; /* the previous defs: still served by the current instance */
    cp_inst *cur;
    pal_cpsup_state state;
    int64_t next_start_ms; /* backoff: no spawn before this (monotonic) */
    unsigned consecutive;
    int degraded;
    char degraded_reason[256];
    int last_fail_start; /* the last failure was a failed start */
    char last_start_error[512];
    uint64_t start_seq; /* start attempts finished */
    uint64_t gen;
    unsigned inflight;
    int isolated; /* a retry runs alone */
    unsigned isolate_waiters;
    cp_slot *slots;
    pal_cpsup_status st; /* counters part of the status */
};

static void wake(pal_cpsup *sup)
{
    uint64_t one = 1;
    ssize_t n = write(sup->wake_fd, &one, sizeof(one));
    (void)n;
    pthread_cond_broadcast(&sup->cond);
}

static void inst_free(cp_inst *in)
{
    if (in == NULL)
        return;
    for (unsigned i = 0; in->chan != NULL && i < in->k; i++)
        close_fd(&in->chan[i]);
    free(in->chan);
    close_fd(&in->pidfd);
    close_fd(&in->err_fd);
    if (in->shm != NULL)
        munmap(in->shm, in->shm_size);
    pal_cpident_guard_release(&in->guard);
    pal_defs_unref(in->defs);
    free(in->kill_object);
    free(in);
}

/* sup->lock held */
static void inst_unref(cp_inst *in)
{
    if (in != NULL && --in->refs == 0)
        inst_free(in);
}

static void tail_append(cp_inst *in, const char *buf, size_t n)
{
    if (n >= TAIL_MAX) {
        memcpy(in->tail, buf + n - TAIL_MAX, TAIL_MAX);
        in->tail_len = TAIL_MAX;
        return;
    }
    if (in->tail_len + n > TAIL_MAX) {
        size_t drop = in->tail_len + n - TAIL_MAX;
        memmove(in->tail, in->tail + drop, in->tail_len - drop);
        in->tail_len -= drop;
    }
    memcpy(in->tail + in->tail_len, buf, n);
    in->tail_len += n;
}

/* Read what the content process wrote on stderr; 1 at end of file. */
static int drain_stderr(cp_inst *in)
{
    char buf[4096];
    for (;;) {
        if (in->err_fd < 0)
            return 1;
        ssize_t n = read(in->err_fd, buf, sizeof(buf));
        if (n > 0) {
            tail_append(in, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            close_fd(&in->err_fd);
            return 1;
        }
        return 0; /* EAGAIN */
    }
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
    sup->next_start_ms = mono_ms() + (int64_t)delay;
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

static void describe_end(char *buf, size_t len, int exit_code, int sig)
{
    if (sig != 0)
        snprintf(buf, len, "killed by signal %d (%s)", sig, strsignal(sig));
    else
        snprintf(buf, len, "exited with status %d: %s", exit_code,
                 pal_cpmsg_exit_meaning(exit_code));
}

/* Collect the exit status of a dead instance (its pidfd is readable). */
static void reap(cp_inst *in)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    in->exit_code = -1;
    in->term_signal = 0;
    int rc;
    do {
        rc = waitid((idtype_t)P_PIDFD, (id_t)in->pidfd, &si, WEXITED | __WALL);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) {
        if (si.si_code == CLD_EXITED)
            in->exit_code = si.si_status;
        else
            in->term_signal = si.si_status;
    }
    /* the pipe's writer is gone with it: read to the end */
    int fl = in->err_fd >= 0 ? fcntl(in->err_fd, F_GETFL) : -1;
    if (fl >= 0)
        fcntl(in->err_fd, F_SETFL, fl & ~O_NONBLOCK);
    drain_stderr(in);
}

/* ---- spawning ----------------------------------------------------------------------------- */

typedef struct spawn_plan {
    int bin_fd, err_w, pkg_fd, shm_ro;
    int chan_cp[PAL_CPMSG_MAX_CHANNELS];
    unsigned k;
    int userns;
    char setgroups[8], uid_map[40], gid_map[40];
    char chan_arg[8];
    char *argv[4];
    char *envp[8];
} spawn_plan;

static void child_say(const char *what)
{
    ssize_t n = write(2, what, strlen(what));
    (void)n;
}

static int child_write(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(s);
    ssize_t n = write(fd, s, len);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

/* In the new process, before exec: async-signal-safe calls only. */
static __attribute__((noreturn)) void child_exec(const spawn_plan *p)
{
    if (p->userns && (child_write("/proc/self/setgroups", p->setgroups) != 0 ||
                      child_write("/proc/self/uid_map", p->uid_map) != 0 ||
                      child_write("/proc/self/gid_map", p->gid_map) != 0)) {
        child_say("palisade-cp: cannot map ids in the user namespace\n");
        _exit(PAL_CPMSG_EXIT_STEP_BASE + PAL_CPMSG_STEP_NS_USER);
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
        _exit(PAL_CPMSG_EXIT_STEP_BASE + PAL_CPMSG_STEP_PDEATHSIG);

    /* Sources first above every target, then onto the fixed layout. */
    int src[3 + PAL_CPMSG_MAX_CHANNELS + 1];
    int dst[3 + PAL_CPMSG_MAX_CHANNELS + 1];
    unsigned n = 0;
    src[n] = p->err_w, dst[n++] = 2;
    src[n] = p->pkg_fd, dst[n++] = 3;
    src[n] = p->shm_ro, dst[n++] = 4;
    for (unsigned i = 0; i < p->k; i++)
        src[n] = p->chan_cp[i], dst[n++] = 5 + (int)i;
    src[n] = p->bin_fd, dst[n++] = 5 + (int)p->k;
    for (unsigned i = 0; i < n; i++) {
        src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 100);
        if (src[i] < 0)
            _exit(PAL_CPMSG_EXIT_STEP_BASE + PAL_CPMSG_STEP_FDS);
    }
    for (unsigned i = 0; i < n; i++) {
        /* the binary's descriptor stays close-on-exec: execveat closes it */
        int rc = i + 1 == n ? dup3(src[i], dst[i], O_CLOEXEC) : dup2(src[i], dst[i]);
        if (rc != dst[i])
            _exit(PAL_CPMSG_EXIT_STEP_BASE + PAL_CPMSG_STEP_FDS);
    }
    close_range((unsigned)p->k + 6, ~0U, 0);
    close(0);
    close(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    syscall(SYS_execveat, 5 + (int)p->k, "", p->argv, p->envp, AT_EMPTY_PATH);
    child_say("palisade-cp: execveat failed\n");
    _exit(127);
}

static void copy_env(spawn_plan *p, unsigned *n, const char *name)
{
#ifdef PAL_SANITIZE
    /* sanitizer builds pass the runtime's options on (supervisor thread only) */
    static char buf[4][1024];
    const char *v = getenv(name);
    if (v != NULL && *n >= 1 && *n < 5) {
        unsigned idx = *n - 1;
        snprintf(buf[idx], sizeof(buf[idx]), "%s=%s", name, v);
        p->envp[*n] = buf[idx];
        (*n)++;
    }
#else
    (void)p;
    (void)n;
    (void)name;
#endif
}

static uint64_t address_space_limit(const pal_limits *lim, unsigned k, uint64_t pkg_size,
                                    uint64_t shm_size)
{
    /* per thread: the object, the member buffers (bounded by the expanded-bytes budget),
       and room for libarchive and YARA; plus the package, the shared memory, code and heap */
    uint64_t members = sat_mul(lim->max_depth, lim->max_object_size);
    if (members > lim->max_expanded_bytes)
        members = lim->max_expanded_bytes;
    uint64_t per_thread = sat_add(sat_add(lim->max_object_size, members), 64ULL << 20);
    uint64_t total = sat_add(sat_mul(per_thread, k), sat_add(pkg_size, shm_size));
    return sat_add(total, 512ULL << 20);
}

static int make_shm(cp_inst *in, int *ro_fd, pal_errbuf *err)
{
    int fd = memfd_create("palisade-cp-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return pal_err_set(err, PAL_EIO, "memfd_create: %m");
    int rc = 0;
    if (ftruncate(fd, (off_t)in->shm_size) != 0) {
        rc = pal_err_set(err, PAL_EIO, "sizing the shared memory: %m");
        goto out;
    }
    in->shm = mmap(NULL, in->shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (in->shm == MAP_FAILED) {
        in->shm = NULL;
        rc = pal_err_set(err, PAL_EIO, "mapping the shared memory: %m");
        goto out;
    }
    /* From now on the content process can map it read-only only, and never resize it
       under our writable mapping. */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) !=
        0) {
        rc = pal_err_set(err, PAL_EIO, "sealing the shared memory: %m");
        goto out;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    *ro_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*ro_fd < 0)
        rc = pal_err_set(err, PAL_EIO, "reopening the shared memory read-only: %m");
out:
    close(fd);
    return rc;
}

/* Spawn an instance for defs and send CONFIG. Supervisor thread, no lock held. */
/* clone3, or clone(2) where a seccomp filter answers clone3 with ENOSYS (systemd's
   RestrictNamespaces= does, so that it can inspect clone's flags) — as glibc falls back. */
static long spawn_clone(struct cp_clone_args *ca, int *pidfd)
{
    long pid = syscall(SYS_clone3, ca, sizeof(*ca));
    if (pid >= 0 || errno != ENOSYS)
        return pid;
    /* all signals are blocked and the child execs at once: CLONE_CLEAR_SIGHAND can go */
    unsigned long flags = (unsigned long)(ca->flags & ~(uint64_t)CLONE_CLEAR_SIGHAND) |
                          (unsigned long)ca->exit_signal;
    return syscall(SYS_clone, flags, NULL, pidfd, NULL, 0UL); /* the pidfd lands in parent_tid */
}

static int spawn(pal_cpsup *sup, pal_defs *defs, cp_inst *in, pal_errbuf *err)
{
    spawn_plan p;
    memset(&p, 0, sizeof(p));
    p.bin_fd = p.err_w = p.shm_ro = -1;
    for (unsigned i = 0; i < PAL_CPMSG_MAX_CHANNELS; i++)
        p.chan_cp[i] = -1;
    unsigned k = sup->cfg.channels;
    int rc = 0, err_pipe[2] = {-1, -1};

    p.bin_fd = open_binary(sup->binary, err);
    if (p.bin_fd < 0)
        return p.bin_fd;
    for (unsigned i = 0; i < k; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
            rc = pal_err_set(err, PAL_EIO, "socketpair: %m");
            goto out;
        }
        /* room for one largest message in flight each way */
        int sz = (int)(PAL_CPMSG_MAX + 8192);
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        in->chan[i] = sv[0];
        p.chan_cp[i] = sv[1];
    }
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        rc = pal_err_set(err, PAL_EIO, "pipe2: %m");
        goto out;
    }
    in->err_fd = err_pipe[0];
    p.err_w = err_pipe[1];
    fcntl(in->err_fd, F_SETFL, fcntl(in->err_fd, F_GETFL) | O_NONBLOCK);
    in->bulk = sup->cfg.bulk_shm != 0;
    in->stride = CTL_PAGE + (in->bulk ? PAL_CPMSG_REQ_MAX : 0);
    in->shm_size = (size_t)in->stride * k;
    rc = make_shm(in, &p.shm_ro, err);
    if (rc < 0)
        goto out;
    p.pkg_fd = pal_defs_fd(defs);
    p.k = k;
    snprintf(p.chan_arg, sizeof(p.chan_arg), "%u", k);
    p.argv[0] = (char *)"palisade-cp";
    p.argv[1] = (char *)"--channels";
    p.argv[2] = p.chan_arg;
    p.argv[3] = NULL;
    unsigned ne = 0;
    p.envp[ne++] = (char *)"TZ=UTC";
    copy_env(&p, &ne, "ASAN_OPTIONS");
    copy_env(&p, &ne, "UBSAN_OPTIONS");
    copy_env(&p, &ne, "LSAN_OPTIONS");
    p.envp[ne] = NULL;

    int root = geteuid() == 0;
    uint64_t ns = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
    if (!root) {
        ns |= CLONE_NEWUSER;
        p.userns = 1;
        snprintf(p.setgroups, sizeof(p.setgroups), "deny");
        snprintf(p.uid_map, sizeof(p.uid_map), "0 %u 1\n", (unsigned)geteuid());
        snprintf(p.gid_map, sizeof(p.gid_map), "0 %u 1\n", (unsigned)getegid());
    }

    /* what the child inherits from this thread and this process */
    pal_cpident_guard_init(&in->guard);
    /* no handler of ours may run in the child before exec */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidfd = -1;
    struct cp_clone_args ca;
    memset(&ca, 0, sizeof(ca));
    ca.flags = CLONE_PIDFD | CLONE_CLEAR_SIGHAND | ns;
    ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
    ca.exit_signal = 0; /* a clone child: no SIGCHLD, invisible to waitpid(-1) */
    long pid = spawn_clone(&ca, &pidfd);
    if (pid < 0 && (errno == EPERM || errno == EINVAL || errno == ENOSPC || errno == EUSERS)) {
        /* no namespaces for us on this kernel: the rest of the sandbox still applies, and
           status shows what was applied */
        ns = 0;
        p.userns = 0;
        ca.flags = CLONE_PIDFD | CLONE_CLEAR_SIGHAND;
        pid = spawn_clone(&ca, &pidfd);
    }
    if (pid == 0)
        child_exec(&p);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        errno = saved;
        rc = pal_err_set(err, PAL_EIO, "clone3: %m");
        goto out;
    }
    in->pid = (pid_t)pid;
    in->pidfd = pidfd;
    in->steps = 0;
    if (ns & CLONE_NEWUSER)
        in->steps |= 1U << PAL_CPMSG_STEP_NS_USER;
    if (ns & CLONE_NEWPID)
        in->steps |= (1U << PAL_CPMSG_STEP_NS_PID) | (1U << PAL_CPMSG_STEP_NS_MOUNT) |
                     (1U << PAL_CPMSG_STEP_NS_NET) | (1U << PAL_CPMSG_STEP_NS_IPC) |
                     (1U << PAL_CPMSG_STEP_NS_UTS);
    in->id_mode = root                   ? PAL_CPMSG_IDS_DROP
                  : (ns & CLONE_NEWUSER) ? PAL_CPMSG_IDS_USERNS
                                         : PAL_CPMSG_IDS_KEEP;

    const pal_limits *lim = pal_engine_limits(pal_defs_engine(defs));
    pal_cpmsg m = {.type = PAL_CPMSG_CONFIG, .id = 0};
    pal_cpmsg_config *c = &m.u.config;
    c->version = PAL_CPMSG_VERSION;
    c->channels = k;
    c->flags = (in->bulk ? PAL_CPMSG_CFG_BULK_SHM : 0) |
               (sup->cfg.core_dumps ? PAL_CPMSG_CFG_CORE : 0) |
               ((ns & CLONE_NEWNS) ? PAL_CPMSG_CFG_MOUNT_NS : 0);
    c->id_mode = (uint32_t)in->id_mode;
    c->uid = (uint32_t)in->ident.uid;
    c->gid = (uint32_t)in->ident.gid;
    c->shm_size = in->shm_size;
    c->shm_stride = in->stride;
    c->fail_step = sup->cfg.fail_step;
    c->rlimit_as = address_space_limit(lim, k, pal_defs_info(defs)->file_size, in->shm_size);
    in->rlimit_as = c->rlimit_as;
    c->rlimit_cpu = sup->cfg.rlimit_cpu_s;
    c->max_depth = lim->max_depth;
    c->max_ratio = lim->max_ratio;
    c->max_members = lim->max_members;
    c->max_expanded_bytes = lim->max_expanded_bytes;
    c->max_object_size = lim->max_object_size;
    c->max_scan_ms = lim->max_scan_ms;
    /* what it sets for itself (cp_sb_rlimits, cp_sb_nproc); RLIMIT_AS once READY says
       whether this is a sanitizer build, which leaves it alone */
    pal_cpident_guard *g = &in->guard;
    pal_cpident_guard_expect(g, RLIMIT_NOFILE, 0);
    pal_cpident_guard_expect(g, RLIMIT_FSIZE, 0);
    pal_cpident_guard_expect(g, RLIMIT_MEMLOCK, 0);
    pal_cpident_guard_expect(g, RLIMIT_MSGQUEUE, 0);
    pal_cpident_guard_expect(g, RLIMIT_NPROC, 0);
    pal_cpident_guard_expect(g, RLIMIT_CORE, sup->cfg.core_dumps ? RLIM_INFINITY : 0);
    if (c->rlimit_cpu != 0)
        pal_cpident_guard_expect(g, RLIMIT_CPU, (rlim_t)c->rlimit_cpu);
    uint8_t buf[256];
    size_t len = pal_cpmsg_encode(&m, buf, sizeof(buf));
    if (len == 0 || send(in->chan[0], buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
        /* it died already (the exit status will say why) or the limits are off the wire */
        if (len == 0)
            rc =
                pal_err_set(err, PAL_EINVAL, "engine limits cannot be sent to the content process");
    }
out:
    close_fd(&p.bin_fd);
    close_fd(&p.err_w);
    close_fd(&p.shm_ro);
    for (unsigned i = 0; i < k; i++)
        close_fd(&p.chan_cp[i]);
    return rc;
}

/* ---- the sandbox as seen from outside ---------------------------------------------------- */

static const char *status_field(const char *text, const char *key)
{
    size_t klen = strlen(key);
    const char *p = text;
    while (p != NULL && *p) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
            p += klen + 1;
            while (*p == ' ' || *p == '\t')
                p++;
            return p;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return NULL;
}

static int hex_is_zero(const char *v)
{
    if (v == NULL)
        return 0;
    size_t n = 0;
    while (v[n] != '\0' && v[n] != '\n') {
        if (v[n] != '0')
            return 0;
        n++;
    }
    return n > 0;
}

/* First number of a "Uid:"/"Gid:" line; all four must be equal. -1 if not. */
static long long ids_of(const char *v)
{
    long long first = -1;
    for (int i = 0; i < 4; i++) {
        if (v == NULL)
            return -1;
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno != 0 || end == v || x > 0xffffffffULL)
            return -1;
        if (i == 0)
            first = (long long)x;
        else if ((long long)x != first)
            return -1;
        v = end;
        while (*v == '\t' || *v == ' ')
            v++;
    }
    return first;
}

/*
 * Check from /proc/<pid>/status that the sandbox it reported is in force: the kernel's
 * word, not the content process's. Lock not held.
 */
static int verify_from_outside(cp_inst *in, pal_errbuf *err)
{
    char path[64], text[STATUS_BUF];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)in->pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pal_err_set(err, PAL_EIO, "cannot read %s: %m", path);
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(text) - 1 && (n = read(fd, text + got, sizeof(text) - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    text[got] = '\0';
    const char *seccomp = status_field(text, "Seccomp");
    const char *nnp = status_field(text, "NoNewPrivs");
    if (seccomp == NULL || seccomp[0] != '2')
        return pal_err_set(err, PAL_EPERM, "seccomp filter not in force");
    if (nnp == NULL || nnp[0] != '1')
        return pal_err_set(err, PAL_EPERM, "no_new_privs not set");
    if (!hex_is_zero(status_field(text, "CapEff")) || !hex_is_zero(status_field(text, "CapPrm")) ||
        !hex_is_zero(status_field(text, "CapInh")))
        return pal_err_set(err, PAL_EPERM, "capabilities remain");
    if ((in->steps & (1U << PAL_CPMSG_STEP_CAPBSET)) && !hex_is_zero(status_field(text, "CapBnd")))
        return pal_err_set(err, PAL_EPERM, "bounding set not empty");
    long long uid = ids_of(status_field(text, "Uid"));
    long long gid = ids_of(status_field(text, "Gid"));
    if (uid <= 0 || gid < 0)
        return pal_err_set(err, PAL_EPERM, "runs as uid %lld", uid);
    in->uid = (uid_t)uid;
    in->gid = (gid_t)gid;
    return 0;
}

/*
 * The identity it runs under is the one chosen for it, and no other process has that uid
 * (PAL_EEXIST: another broker may have chosen it at the same moment); its limits and
 * priority are what the broker set (cpident.h). Lock not held.
 */
static int verify_identity(cp_inst *in, pal_errbuf *err)
{
    if (in->ident.kind != PAL_CPIDENT_BROKER) {
        if (in->uid != in->ident.uid || in->gid != in->ident.gid)
            return pal_err_set(err, PAL_EPERM, "runs as uid %u gid %u instead of %u/%u",
                               (unsigned)in->uid, (unsigned)in->gid, (unsigned)in->ident.uid,
                               (unsigned)in->ident.gid);
        pid_t other;
        char comm[32];
        int rc = pal_cpident_find_user(in->uid,
                                       in->ident.kind == PAL_CPIDENT_DYNAMIC ? in->gid : (gid_t)-1,
                                       in->pid, &other, comm, sizeof(comm), err);
        if (rc < 0)
            return rc;
        if (rc > 0)
            return pal_err_set(err, PAL_EEXIST, "uid %u is shared with pid %d (%s)",
                               (unsigned)in->uid, (int)other, comm);
    }
    if (!(in->hello.build_flags & PAL_CPMSG_BUILD_SANITIZE)) {
        pal_cpident_guard_expect(&in->guard, RLIMIT_AS, (rlim_t)in->rlimit_as);
    }
    return pal_cpident_guard_arm(&in->guard, in->pid, err);
}

/* Wait for READY (or death, or the start timeout). Supervisor thread, no lock. 0 or code. */
static int wait_ready(pal_cpsup *sup, cp_inst *in, pal_errbuf *err)
{
    int64_t deadline = mono_ms() + sup->cfg.start_timeout_ms;
    uint8_t *buf = malloc(PAL_CPMSG_MAX + 1);
    if (buf == NULL)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    int rc;
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            rc = pal_err_set(err, PAL_ETIMEOUT, "no READY within %u ms", sup->cfg.start_timeout_ms);
            break;
        }
        if (__atomic_load_n(&sup->shutdown, __ATOMIC_RELAXED)) {
            rc = pal_err_set(err, PAL_ECANCELLED, "shutting down");
            break;
        }
        struct pollfd pf[3] = {{.fd = in->chan[0], .events = POLLIN},
                               {.fd = in->pidfd, .events = POLLIN},
                               {.fd = in->err_fd, .events = POLLIN}};
        int np = poll(pf, 3, (int)(left > 1000 ? 1000 : left));
        if (np < 0 && errno != EINTR) {
            rc = pal_err_set(err, PAL_EIO, "poll: %m");
            break;
        }
        if (pf[2].revents)
            drain_stderr(in);
        if (pf[1].revents) {
            rc = pal_err_set(err, PAL_EIO, "died before READY");
            break;
        }
        if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = recv(in->chan[0], buf, PAL_CPMSG_MAX + 1, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            rc = pal_err_set(err, PAL_EIO, "died before READY");
            break;
        }
        pal_cpmsg m;
        pal_errbuf derr;
        if ((size_t)n > PAL_CPMSG_MAX) {
            rc = pal_err_set(err, PAL_EPROTO, "message of %zd bytes before READY", n);
            break;
        }
        if (pal_cpmsg_decode(buf, (size_t)n, PAL_CPMSG_FROM_CP, &m, &derr) != 0) {
            rc = pal_err_set(err, PAL_EPROTO, "malformed READY: %s", derr.msg);
            break;
        }
        if (m.type != PAL_CPMSG_READY || m.id != 0) {
            rc = pal_err_set(err, PAL_EPROTO, "message of type 0x%x instead of READY", m.type);
            break;
        }
        /* what it must have done, given what we asked for */
        uint32_t need = (1U << PAL_CPMSG_STEP_PDEATHSIG) | (1U << PAL_CPMSG_STEP_FDS) |
                        (1U << PAL_CPMSG_STEP_PREWARM) | (1U << PAL_CPMSG_STEP_RLIMITS) |
                        (1U << PAL_CPMSG_STEP_IDS) | (1U << PAL_CPMSG_STEP_CAPS) |
                        (1U << PAL_CPMSG_STEP_NNP) | (1U << PAL_CPMSG_STEP_DUMPABLE) |
                        (1U << PAL_CPMSG_STEP_SECCOMP);
        if (in->steps & (1U << PAL_CPMSG_STEP_NS_MOUNT))
            need |= 1U << PAL_CPMSG_STEP_ROOT;
        if (in->id_mode != PAL_CPMSG_IDS_KEEP)
            need |= 1U << PAL_CPMSG_STEP_CAPBSET;
        if (m.u.ready.landlock_abi > 0)
            need |= 1U << PAL_CPMSG_STEP_LANDLOCK;
        uint32_t own = m.u.ready.steps & ~((1U << PAL_CPMSG_STEP_PDEATHSIG) - 1);
        if ((own & need) != need || (m.u.ready.steps & ((1U << PAL_CPMSG_STEP_PDEATHSIG) - 1))) {
            char have[512];
            pal_cpsup_steps_string(m.u.ready.steps, have, sizeof(have));
            rc = pal_err_set(err, PAL_EPROTO, "READY without the whole sandbox (has: %s)", have);
            break;
        }
        in->hello = m.u.ready;
        in->steps |= own;
        rc = verify_from_outside(in, err);
        if (rc == 0)
            rc = verify_identity(in, err);
        break;
    }
    free(buf);
    return rc;
}

/* Start one instance; supervisor thread, lock held on entry and exit. */
static void start_instance(pal_cpsup *sup)
{
    cp_inst *in = calloc(1, sizeof(*in));
    pal_errbuf err = {{0}};
    int rc = 0;
    if (in == NULL || (in->chan = malloc(sup->cfg.channels * sizeof(int))) == NULL) {
        free(in);
        sup->next_start_ms = mono_ms() + sup->cfg.backoff_max_ms;
        return;
    }
    in->k = sup->cfg.channels;
    for (unsigned i = 0; i < in->k; i++)
        in->chan[i] = -1;
    in->pidfd = in->err_fd = -1;
    in->guard.limits_fd = -1;
    in->refs = 1;
    in->gen = ++sup->gen;
    in->defs = pal_defs_ref(sup->defs);
    sup->st.generation = sup->gen;
    sup->state = PAL_CPSUP_STARTING;
    pthread_cond_broadcast(&sup->cond);
    pthread_mutex_unlock(&sup->lock);

    /* Chosen again for every instance: the processes on the machine change. */
    rc = pal_cpident_choose(sup->account, sup->avoid_account, &in->ident, &err);
    if (rc == 0)
        rc = spawn(sup, in->defs, in, &err);
    if (rc == 0)
        rc = wait_ready(sup, in, &err);
    if (rc == PAL_EEXIST && in->ident.kind == PAL_CPIDENT_ACCOUNT)
        sup->avoid_account = 1; /* lost a race for it: the next attempt takes a dynamic uid */
    if (rc != 0 && in->pidfd >= 0) {
        syscall(SYS_pidfd_send_signal, in->pidfd, SIGKILL, NULL, 0);
        reap(in);
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
        describe_end(end, sizeof(end), in->exit_code, in->term_signal);
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
    reap(in);
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
    describe_end(end, sizeof(end), in->exit_code, in->term_signal);
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
        sup->next_start_ms = mono_ms();
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
            int stop = sup->shutdown || !sup->enabled || (in->defs != sup->defs);
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
        int64_t now = mono_ms();
        if (in == NULL && sup->enabled && sup->defs != NULL && now >= sup->next_start_ms) {
            start_instance(sup);
            continue;
        }
        int timeout = -1;
        if (in == NULL && sup->enabled && sup->defs != NULL)
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
            drain_stderr(in);
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
        sup->slots[i].rx = malloc(PAL_CPMSG_MAX + 1);
        sup->slots[i].tx = malloc(PAL_CPMSG_MAX);
        if (sup->slots[i].rx == NULL || sup->slots[i].tx == NULL) {
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
        free(sup->slots[i].rx);
        free(sup->slots[i].tx);
    }
    free(sup->slots);
    pal_defs_unref(sup->defs);
    pal_defs_unref(sup->retired);
    free(sup->binary);
    free(sup->account);
    free(sup);
}

/* Lock held. */
static void set_defs_locked(pal_cpsup *sup, pal_defs *defs)
{
    if (defs == sup->defs)
        return;
    pal_defs_unref(sup->retired);
    sup->retired = sup->defs;
    sup->defs = pal_defs_ref(defs);
    wake(sup);
}

int pal_cpsup_set_defs(pal_cpsup *sup, pal_defs *defs)
{
    if (sup == NULL || defs == NULL)
        return PAL_EINVAL;
    pthread_mutex_lock(&sup->lock);
    set_defs_locked(sup, defs);
    pthread_mutex_unlock(&sup->lock);
    return 0;
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

int pal_cpsup_start(pal_cpsup *sup, pal_defs *defs, pal_errbuf *err)
{
    if (sup == NULL || defs == NULL)
        return pal_err_set(err, PAL_EINVAL, "pal_cpsup_start: supervisor and defs required");
    pthread_mutex_lock(&sup->lock);
    set_defs_locked(sup, defs);
    if (!sup->enabled) {
        sup->enabled = 1;
        sup->next_start_ms = mono_ms();
    }
    wake(sup);
    uint64_t seq = sup->start_seq;
    int64_t until = mono_ms() + (int64_t)sup->cfg.start_timeout_ms + sup->cfg.backoff_max_ms + 1000;
    int rc = 0;
    for (;;) {
        cp_inst *in = sup->cur;
        if (in != NULL && in->ready && !in->reaped && in->defs == sup->defs)
            break;
        if (sup->start_seq != seq && sup->cur == NULL && sup->last_fail_start) {
            rc = pal_err_set(err, PAL_EIO, "%s", sup->last_start_error);
            break;
        }
        if (mono_ms() > until) {
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

typedef enum acq_result {
    ACQ_OK = 0,
    ACQ_STOPPED,
    ACQ_CANCELLED,
    ACQ_UNAVAILABLE,
} acq_result;

/*
 * Wait for a running instance for this request and mark it in flight. A retry (alone) waits
 * for an instance newer than the one that died and for every other request to finish.
 */
static acq_result acquire(pal_cpsup *sup, unsigned slot, pal_defs *defs, int alone,
                          uint64_t after_gen, const char *name, const volatile int *cancel,
                          cp_inst **out, char *why, size_t why_len)
{
    pthread_mutex_lock(&sup->lock);
    if (defs != NULL && defs != sup->defs && defs != sup->retired)
        set_defs_locked(sup, defs);
    if (alone)
        sup->isolate_waiters++;
    int64_t wait_until = mono_ms() + sup->cfg.start_wait_ms;
    acq_result res;
    for (;;) {
        cp_inst *in = sup->cur;
        int up = in != NULL && in->ready && !in->reaped && !in->planned;
        if (sup->shutdown || !sup->enabled) {
            res = ACQ_STOPPED;
            break;
        }
        int fresh = up && in->defs == sup->defs;
        int ok = alone ? fresh && in->gen > after_gen && sup->inflight == 0 && !sup->isolated
                       : fresh && !sup->isolated && sup->isolate_waiters == 0;
        if (ok) {
            res = ACQ_OK;
            break;
        }
        if (cancel != NULL && *cancel) {
            res = ACQ_CANCELLED;
            break;
        }
        if (up) {
            /* the wait is for other requests, which have their own deadlines */
            wait_until = mono_ms() + sup->cfg.start_wait_ms;
        } else if ((sup->degraded && sup->last_fail_start) || mono_ms() > wait_until) {
            snprintf(why, why_len, "%s",
                     sup->last_fail_start ? sup->last_start_error : "no instance came up");
            res = ACQ_UNAVAILABLE;
            break;
        }
        struct timespec ts;
        deadline_in(&ts, WAIT_TICK_MS);
        pthread_cond_timedwait(&sup->cond, &sup->lock, &ts);
    }
    if (alone)
        sup->isolate_waiters--;
    if (res == ACQ_OK) {
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

static void release(pal_cpsup *sup, unsigned slot, cp_inst *in, int alone, int answered)
{
    pthread_mutex_lock(&sup->lock);
    sup->inflight--;
    if (alone)
        sup->isolated = 0;
    sup->slots[slot].inst = NULL;
    sup->slots[slot].name = NULL;
    if (answered) {
        sup->st.scans++;
        note_success(sup);
    }
    inst_unref(in);
    /* A planned stop (sandbox off, new definitions, shutdown) waits for the last request
       to finish: only then is the supervisor's poll worth waking. Waking it after every
       request would cost the broker a thread wake-up per object. Waiters on the condition
       (a retry waiting to run alone, pal_cpsup_stop) are told every time. */
    cp_inst *cur = sup->cur;
    if (sup->inflight == 0 &&
        (sup->shutdown || !sup->enabled || (cur != NULL && cur->defs != sup->defs)))
        wake(sup);
    else
        pthread_cond_broadcast(&sup->cond);
    pthread_mutex_unlock(&sup->lock);
}

/* Kill in for a reason of ours (misbehaviour or timeout). */
static void kill_instance(pal_cpsup *sup, cp_inst *in, pal_cpsup_event_kind kind,
                          const char *object, const char *detail)
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
static void kill_and_wait(pal_cpsup *sup, cp_inst *in)
{
    pthread_mutex_lock(&sup->lock);
    if (!in->reaped)
        syscall(SYS_pidfd_send_signal, in->pidfd, SIGKILL, NULL, 0);
    while (!in->dead && sup->cur == in)
        pthread_cond_wait(&sup->cond, &sup->lock);
    pthread_mutex_unlock(&sup->lock);
}

/* ---- requests: one scan ------------------------------------------------------------------- */

typedef enum run_result {
    RUN_OK = 0,
    RUN_DIED,       /* the instance went away under the request */
    RUN_MISBEHAVED, /* killed for a violation (detail in why) */
    RUN_TIMEOUT,
    RUN_CP_ERROR, /* it answered ERROR (code in *cp_code) */
    RUN_NOMEM,    /* the broker ran out of memory */
} run_result;

#define TAMPER_RETRIES 3       /* instances one object waits for when each is tampered with */
#define PAL_CPSUP_HINT_MAX 255 /* bytes of name hint the content process sees */

typedef struct scan_ctx {
    pal_cpsup *sup;
    unsigned slot;
    cp_inst *in;
    cp_slot *s;
    int fd;
    uint64_t id;
    const pal_source *src;
    const char *name; /* the object's full name (events, reports) */
    size_t name_len;
    const char *hint; /* what the content process is told: the last component, at most
                         PAL_CPSUP_HINT_MAX bytes; its chains are rooted at it */
    size_t hint_len;
    const volatile int *cancel;
    volatile int *cancel_word;
    int cancel_sent;
    int64_t deadline;
    uint64_t served;  /* bytes handed over */
    uint64_t covered; /* bytes [0, covered) handed over at least once */
    char why[320];
    int cp_code;
} scan_ctx;

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
    kill_instance(c->sup, c->in, PAL_CPSUP_EV_KILL_MISBEHAVED, c->name, c->why);
    return RUN_MISBEHAVED;
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

static int send_msg(scan_ctx *c, const pal_cpmsg *m)
{
    size_t len = pal_cpmsg_encode(m, c->s->tx, PAL_CPMSG_MAX);
    if (len == 0)
        return -2;
    ssize_t n;
    do {
        n = send(c->fd, c->s->tx, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 0 : -1;
}

/* Wait for the next message, watching the cancel flag and the deadline. */
static run_result recv_msg(scan_ctx *c, pal_cpmsg *m)
{
    for (;;) {
        if (c->cancel != NULL && *c->cancel && !c->cancel_sent) {
            __atomic_store_n(c->cancel_word, 1, __ATOMIC_RELEASE);
            c->cancel_sent = 1;
        }
        int64_t left = c->deadline - mono_ms();
        if (left <= 0)
            return RUN_TIMEOUT;
        int ms = (int)(left > 1000 ? 1000 : left);
        if (c->cancel != NULL && !c->cancel_sent && ms > WAIT_TICK_MS)
            ms = WAIT_TICK_MS; /* the flag is polled, not signalled */
        /* the pidfd too: a copy of its channel end held elsewhere (a fork of the broker at
           the wrong moment) would keep end-of-file from ever coming */
        struct pollfd pf[2] = {{.fd = c->fd, .events = POLLIN},
                               {.fd = c->in->pidfd, .events = POLLIN}};
        int np = poll(pf, 2, ms);
        if (np < 0 && errno != EINTR)
            return RUN_DIED;
        if (np <= 0)
            continue;
        if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
            return RUN_DIED; /* exited, and nothing left to read */
        ssize_t n = recv(c->fd, c->s->rx, PAL_CPMSG_MAX + 1, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return RUN_DIED;
        if ((size_t)n > PAL_CPMSG_MAX)
            return misbehaved(c, "message of %zd bytes, over the maximum of %u", n, PAL_CPMSG_MAX);
        pal_errbuf err;
        if (pal_cpmsg_decode(c->s->rx, (size_t)n, PAL_CPMSG_FROM_CP, m, &err) != 0)
            return misbehaved(c, "malformed message: %s", err.msg);
        if (m->id < c->id) {
            /* an extra message after an earlier answer, come late: not this object's
               doing, so it is retried on the next instance */
            snprintf(c->why, sizeof(c->why),
                     "sent a message for request %llu after it was answered",
                     (unsigned long long)m->id);
            kill_instance(c->sup, c->in, PAL_CPSUP_EV_KILL_MISBEHAVED, NULL, c->why);
            return RUN_DIED;
        }
        if (m->id != c->id)
            return misbehaved(c, "answer for request %llu while request %llu is in flight",
                              (unsigned long long)m->id, (unsigned long long)c->id);
        return RUN_OK;
    }
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
        uint8_t *area = c->in->shm + (size_t)c->slot * c->in->stride + CTL_PAGE;
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

/* The whole conversation of one scan: SCAN, data requests, RESULT, findings. */
static run_result run_scan(scan_ctx *c, pal_report *rep)
{
    const pal_source *src = c->src;
    cp_slot *s = c->s;
    c->cancel_word = (volatile int *)(void *)(c->in->shm + (size_t)c->slot * c->in->stride);
    __atomic_store_n(c->cancel_word, 0, __ATOMIC_RELEASE);

    /* Anything waiting on an idle channel was sent unasked. */
    ssize_t early = recv(c->fd, s->rx, PAL_CPMSG_MAX + 1, MSG_DONTWAIT | MSG_TRUNC);
    if (early == 0)
        return RUN_DIED;
    if (early > 0) {
        snprintf(c->why, sizeof(c->why), "sent a message of %zd bytes nobody asked for", early);
        kill_instance(c->sup, c->in, PAL_CPSUP_EV_KILL_MISBEHAVED, NULL, c->why);
        return RUN_DIED; /* not this object's doing: retry it on the next instance */
    }

    /* SCAN with the first chunk read in place */
    c->id = atomic_fetch_add(&c->sup->next_id, 1);
    uint32_t want = src->size < PAL_CPMSG_INLINE_MAX ? (uint32_t)src->size : PAL_CPMSG_INLINE_MAX;
    uint8_t *inl = s->tx + PAL_CPMSG_SCAN_FIXED + c->name_len;
    uint32_t got;
    int32_t st = read_source(src, 0, inl, want, &got);
    if (got == want)
        st = PAL_CPMSG_ST_OK; /* a failure past the inline bytes is the engine's to meet */
    note_served(c, 0, got);
    pal_cpmsg m = {.type = PAL_CPMSG_SCAN, .id = c->id};
    m.u.scan.size = src->size;
    m.u.scan.status = st;
    m.u.scan.name.p = (const uint8_t *)c->hint;
    m.u.scan.name.len = (uint32_t)c->hint_len;
    m.u.scan.data.p = inl;
    m.u.scan.data.len = got;
    if (send_msg(c, &m) != 0)
        return RUN_DIED;

    const pal_limits *lim = pal_engine_limits(pal_defs_engine(c->in->defs));
    c->deadline = mono_ms() + (int64_t)lim->max_scan_ms + c->sup->cfg.timeout_grace_ms;
    const pal_sigpkg *pkg = pal_defs_package(c->in->defs);

    uint32_t n_findings = 0, next = 0;
    for (;;) {
        run_result r = recv_msg(c, &m);
        if (r == RUN_TIMEOUT) {
            snprintf(c->why, sizeof(c->why), "content process did not answer within %u ms",
                     lim->max_scan_ms + c->sup->cfg.timeout_grace_ms);
            kill_instance(c->sup, c->in, PAL_CPSUP_EV_KILL_TIMEOUT, c->name, c->why);
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

static void unscannable(pal_report *rep, pal_unscannable reason, const char *name,
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

/* One caller per slot (the slot layer's promise): a second one is refused, not raced. */
static int slot_enter(pal_cpsup *sup, unsigned slot)
{
    pthread_mutex_lock(&sup->lock);
    int busy = sup->slots[slot].busy;
    sup->slots[slot].busy = 1;
    pthread_mutex_unlock(&sup->lock);
    return busy ? PAL_ESTATE : 0;
}

static void slot_leave(pal_cpsup *sup, unsigned slot)
{
    pthread_mutex_lock(&sup->lock);
    sup->slots[slot].busy = 0;
    pthread_mutex_unlock(&sup->lock);
}

static int scan_on_slot(pal_cpsup *sup, unsigned slot, pal_defs *defs, const pal_source *src,
                        const char *name, size_t name_len, const volatile int *cancel,
                        pal_report *rep, pal_cpsup_outcome *outcome);

int pal_cpsup_scan(pal_cpsup *sup, unsigned slot, pal_defs *defs, const pal_source *src,
                   const char *name, const volatile int *cancel, pal_report *rep,
                   pal_cpsup_outcome *outcome)
{
    if (rep == NULL)
        return PAL_EINVAL;
    pal_report_init(rep);
    if (sup == NULL || slot >= sup->cfg.channels || defs == NULL || src == NULL ||
        src->read_at == NULL || name == NULL)
        return PAL_EINVAL;
    size_t name_len = strlen(name);
    if (name_len == 0)
        return PAL_EINVAL;
    int rc = slot_enter(sup, slot);
    if (rc != 0)
        return rc;
    rc = scan_on_slot(sup, slot, defs, src, name, name_len, cancel, rep, outcome);
    slot_leave(sup, slot);
    return rc;
}

static int scan_on_slot(pal_cpsup *sup, unsigned slot, pal_defs *defs, const pal_source *src,
                        const char *name, size_t name_len, const volatile int *cancel,
                        pal_report *rep, pal_cpsup_outcome *outcome)
{
    /* The content process learns no path: only the last component (a format hint), so a
       compromised one cannot map the file system through the names it is shown. */
    const char *hint = memrchr(name, '/', name_len);
    hint = hint && hint[1] ? hint + 1 : name;
    size_t hint_len = name_len - (size_t)(hint - name);
    if (hint_len > PAL_CPSUP_HINT_MAX) {
        hint += hint_len - PAL_CPSUP_HINT_MAX; /* keep the extension */
        hint_len = PAL_CPSUP_HINT_MAX;
    }
    pal_cpsup_outcome oc = PAL_CPSUP_SCANNED;
    int alone = 0, tampered = 0;
    uint64_t failed_gen = 0;
    char why[700];
    int rc = 0;
    for (;;) {
        cp_inst *in = NULL;
        acq_result a =
            acquire(sup, slot, defs, alone, failed_gen, name, cancel, &in, why, sizeof(why));
        if (a == ACQ_STOPPED)
            return PAL_ESTATE;
        if (a == ACQ_CANCELLED) {
            unscannable(rep, PAL_UNSCANNABLE_CANCELLED, name, "scan cancelled", src->size, 0);
            oc = PAL_CPSUP_CANCELLED;
            break;
        }
        if (a == ACQ_UNAVAILABLE) {
            char d[800];
            snprintf(d, sizeof(d), "content process unavailable: %s", why);
            unscannable(rep, PAL_UNSCANNABLE_CP_UNAVAILABLE, name, d, src->size, 0);
            oc = PAL_CPSUP_UNAVAILABLE;
            break;
        }
        /* Its limits and priority are still the ones the broker set: a process that changed
           them (only root can, its uid being its own) would make this object fail for a
           reason that is not the object's. */
        pal_errbuf terr;
        if (pal_cpident_guard_check(&in->guard, &terr) != 0) {
            kill_instance(sup, in, PAL_CPSUP_EV_KILL_TAMPERED, NULL, terr.msg);
            kill_and_wait(sup, in);
            release(sup, slot, in, alone, 0);
            in = NULL;
            if (++tampered < TAMPER_RETRIES)
                continue;
            char d[800];
            snprintf(d, sizeof(d),
                     "content process unavailable: %d instances in a row were "
                     "tampered with (last: %s)",
                     tampered, terr.msg);
            unscannable(rep, PAL_UNSCANNABLE_CP_UNAVAILABLE, name, d, src->size, 0);
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
            kill_and_wait(sup, in);
            describe_end(end, sizeof(end), in->exit_code, in->term_signal);
        }
        pthread_mutex_lock(&sup->lock);
        sup->st.bytes_served += c.served;
        pthread_mutex_unlock(&sup->lock);
        release(sup, slot, in, alone, r == RUN_OK || r == RUN_CP_ERROR);
        in = NULL;
        if (r == RUN_OK)
            break;
        if (r == RUN_NOMEM) {
            /* run_scan killed nothing; the channel holds the rest of an answer, so the next
               request would read it as unsolicited and restart the instance */
            pal_report_free(rep);
            rc = PAL_ENOMEM;
            break;
        }
        char d[800];
        if (r == RUN_MISBEHAVED) {
            snprintf(d, sizeof(d), "content process misbehaved: %s", c.why);
            unscannable(rep, PAL_UNSCANNABLE_CP_MISBEHAVED, name, d, src->size, c.served);
            oc = PAL_CPSUP_MISBEHAVED;
            break;
        }
        if (r == RUN_TIMEOUT) {
            unscannable(rep, PAL_UNSCANNABLE_TIMEOUT, name, c.why, src->size, c.served);
            oc = PAL_CPSUP_TIMEOUT;
            break;
        }
        if (r == RUN_CP_ERROR) {
            snprintf(d, sizeof(d), "content process could not scan it: %s",
                     pal_strerror(c.cp_code));
            unscannable(rep, PAL_UNSCANNABLE_ENGINE_ERROR, name, d, src->size, c.served);
            oc = PAL_CPSUP_CP_ERROR;
            break;
        }
        /* RUN_DIED: once more, alone, in the next instance */
        if (!alone) {
            alone = 1;
            failed_gen = gen;
            continue;
        }
        snprintf(d, sizeof(d), "content process crashed twice on this object (last: %s)", end);
        unscannable(rep, PAL_UNSCANNABLE_CP_CRASHED, name, d, src->size, c.served);
        oc = PAL_CPSUP_CRASHED;
        break;
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
    if (slot_enter(sup, slot) != 0)
        return pal_err_set(err, PAL_ESTATE, "slot %u is in use", slot);
    cp_inst *in = NULL;
    char why[700];
    acq_result a = acquire(sup, slot, NULL, 0, 0, "(self-test)", NULL, &in, why, sizeof(why));
    if (a != ACQ_OK) {
        slot_leave(sup, slot);
        return pal_err_set(err, PAL_ESTATE, "no content process: %.600s",
                           a == ACQ_UNAVAILABLE ? why : "sandbox mode is off");
    }
    scan_ctx c = {.sup = sup,
                  .slot = slot,
                  .in = in,
                  .s = &sup->slots[slot],
                  .fd = in->chan[slot],
                  .name = "(self-test)",
                  .name_len = 11};
    c.id = atomic_fetch_add(&sup->next_id, 1);
    c.deadline = mono_ms() + sup->cfg.start_timeout_ms;
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
        kill_and_wait(sup, in);
        out->outcome = PAL_CPSUP_ATTACK_KILLED;
        out->signal = in->term_signal;
        out->exit_code = in->exit_code;
    } else {
        if (r == RUN_TIMEOUT)
            kill_instance(sup, in, PAL_CPSUP_EV_KILL_TIMEOUT, NULL, "self-test did not answer");
        rc = pal_err_set(err, PAL_EPROTO, "self-test failed: %s", c.why);
    }
    release(sup, slot, in, 0, r == RUN_OK && rc == 0);
    slot_leave(sup, slot);
    return rc;
}
