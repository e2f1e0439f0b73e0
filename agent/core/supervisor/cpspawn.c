/*
 * cpspawn.c — one content-process instance's process (cpspawn.h): the binary check, the
 * spawn with its namespaces, descriptors, argv/env and CONFIG, READY and the verification
 * from outside of the demoted child, reaping and the stderr tail. Also the public helpers
 * of cpsup.h that are about the process: pal_cpsup_default_binary, pal_cpsup_check_binary,
 * pal_cpsup_steps_string.
 */
#define _GNU_SOURCE
#include "cpspawn.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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

#define STATUS_BUF 8192

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return (b != 0 && a > UINT64_MAX / b) ? UINT64_MAX : a * b;
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
int cpspawn_drain_stderr(cp_inst *in)
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
            cpsup_close_fd(&in->err_fd);
            return 1;
        }
        return 0; /* EAGAIN */
    }
}

void cpspawn_describe_end(char *buf, size_t len, int exit_code, int sig)
{
    if (sig != 0)
        snprintf(buf, len, "killed by signal %d (%s)", sig, strsignal(sig));
    else
        snprintf(buf, len, "exited with status %d: %s", exit_code,
                 pal_cpmsg_exit_meaning(exit_code));
}

/* Collect the exit status of a dead instance (its pidfd is readable). */
void cpspawn_reap(cp_inst *in)
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
    cpspawn_drain_stderr(in);
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

int cpspawn_start(const pal_cpsup_config *cfg, const char *binary, cp_inst *in, pal_errbuf *err)
{
    spawn_plan p;
    memset(&p, 0, sizeof(p));
    p.bin_fd = p.err_w = p.shm_ro = -1;
    for (unsigned i = 0; i < PAL_CPMSG_MAX_CHANNELS; i++)
        p.chan_cp[i] = -1;
    unsigned k = cfg->channels;
    int rc = 0, err_pipe[2] = {-1, -1};

    p.bin_fd = open_binary(binary, err);
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
    in->bulk = cfg->bulk_shm != 0;
    in->stride = CTL_PAGE + (in->bulk ? PAL_CPMSG_REQ_MAX : 0);
    in->shm_size = (size_t)in->stride * k;
    rc = make_shm(in, &p.shm_ro, err);
    if (rc < 0)
        goto out;
    p.pkg_fd = in->pkg->fd;
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

    const pal_limits *lim = &in->pkg->limits;
    pal_cpmsg m = {.type = PAL_CPMSG_CONFIG, .id = 0};
    pal_cpmsg_config *c = &m.u.config;
    c->version = PAL_CPMSG_VERSION;
    c->channels = k;
    c->flags = (in->bulk ? PAL_CPMSG_CFG_BULK_SHM : 0) |
               (cfg->core_dumps ? PAL_CPMSG_CFG_CORE : 0) |
               ((ns & CLONE_NEWNS) ? PAL_CPMSG_CFG_MOUNT_NS : 0);
    c->id_mode = (uint32_t)in->id_mode;
    c->uid = (uint32_t)in->ident.uid;
    c->gid = (uint32_t)in->ident.gid;
    c->shm_size = in->shm_size;
    c->shm_stride = in->stride;
    c->fail_step = cfg->fail_step;
    c->rlimit_as = address_space_limit(lim, k, in->pkg->size, in->shm_size);
    in->rlimit_as = c->rlimit_as;
    c->rlimit_cpu = cfg->rlimit_cpu_s;
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
    pal_cpident_guard_expect(g, RLIMIT_CORE, cfg->core_dumps ? RLIM_INFINITY : 0);
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
    cpsup_close_fd(&p.bin_fd);
    cpsup_close_fd(&p.err_w);
    cpsup_close_fd(&p.shm_ro);
    for (unsigned i = 0; i < k; i++)
        cpsup_close_fd(&p.chan_cp[i]);
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

int cpspawn_wait_ready(cp_inst *in, uint32_t timeout_ms, const int *shutdown, pal_errbuf *err)
{
    int64_t deadline = cpsup_mono_ms() + timeout_ms;
    uint8_t *buf = malloc(PAL_CPMSG_MAX + 1);
    if (buf == NULL)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    int rc;
    for (;;) {
        int64_t left = deadline - cpsup_mono_ms();
        if (left <= 0) {
            rc = pal_err_set(err, PAL_ETIMEOUT, "no READY within %u ms", timeout_ms);
            break;
        }
        if (__atomic_load_n(shutdown, __ATOMIC_RELAXED)) {
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
            cpspawn_drain_stderr(in);
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
