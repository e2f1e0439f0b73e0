/* sandbox.c — the content process's demotion steps (see sandbox.h). */
#define _GNU_SOURCE
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/securebits.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Landlock, defined here because the build host's headers may be older than the kernel. */
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_FS_ABI1 ((1ULL << 13) - 1) /* EXECUTE .. MAKE_SYM */
#define LL_FS_REFER (1ULL << 13)      /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14)   /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15)  /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)   /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI >= 4 */
    uint64_t scoped;             /* ABI >= 6 */
};

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static int fail(cp_msg *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(cp_msg *msg, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg->text, sizeof(msg->text), fmt, ap);
    va_end(ap);
    errno = saved;
    return -1;
}

int cp_sb_pdeathsig(cp_msg *msg)
{
    int sig = 0;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
        return fail(msg, "prctl(PR_SET_PDEATHSIG): %m");
    if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) != 0 || sig != SIGKILL)
        return fail(msg, "parent-death signal is %d after setting it", sig);
    return 0;
}

int cp_sb_fds(unsigned channels, cp_msg *msg)
{
    struct stat st;
    if (fstat(CP_FD_STDERR, &st) != 0 || !S_ISFIFO(st.st_mode))
        return fail(msg, "fd %d is not the stderr pipe", CP_FD_STDERR);
    if (fstat(CP_FD_PACKAGE, &st) != 0 || !S_ISREG(st.st_mode))
        return fail(msg, "fd %d is not the signature package", CP_FD_PACKAGE);
    int seals = fcntl(CP_FD_SHM, F_GET_SEALS);
    int need = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE;
    if (seals < 0 || (seals & need) != need)
        return fail(msg, "fd %d is not the sealed shared memory (seals 0x%x)", CP_FD_SHM, seals);
    if ((fcntl(CP_FD_SHM, F_GETFL) & O_ACCMODE) != O_RDONLY)
        return fail(msg, "shared memory fd %d is writable", CP_FD_SHM);
    for (unsigned i = 0; i < channels; i++) {
        int fd = CP_FD_CHANNEL0 + (int)i, type = 0;
        socklen_t tl = sizeof(type);
        if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_SEQPACKET)
            return fail(msg, "fd %d is not a SEQPACKET channel", fd);
    }
    (void)close(0);
    (void)close(1);
    if (close_range(CP_FD_CHANNEL0 + channels, ~0U, 0) != 0)
        return fail(msg, "close_range: %m");
    if (fcntl(0, F_GETFD) != -1 || fcntl(1, F_GETFD) != -1 ||
        fcntl((int)(CP_FD_CHANNEL0 + channels), F_GETFD) != -1)
        return fail(msg, "descriptors still open after closing");
    return 0;
}

int cp_sb_landlock_prepare(int *abi_out, int *fd_out, cp_msg *msg)
{
    *abi_out = 0;
    *fd_out = -1;
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
    if (abi < 0) {
        if (errno == ENOSYS || errno == EOPNOTSUPP)
            return 0; /* not in this kernel, or disabled at boot: reported as not applied */
        return fail(msg, "landlock ABI probe: %m");
    }
    struct ll_ruleset_attr attr = {.handled_access_fs = LL_FS_ABI1};
    size_t size = sizeof(attr.handled_access_fs);
    if (abi >= 2)
        attr.handled_access_fs |= LL_FS_REFER;
    if (abi >= 3)
        attr.handled_access_fs |= LL_FS_TRUNCATE;
    if (abi >= 4) {
        attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
        size = offsetof(struct ll_ruleset_attr, scoped);
    }
    if (abi >= 5)
        attr.handled_access_fs |= LL_FS_IOCTL_DEV;
    if (abi >= 6) {
        /* no abstract unix sockets, no signals to processes outside the domain */
        attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
        size = sizeof(attr);
    }
    long fd = syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (fd < 0)
        return fail(msg, "landlock_create_ruleset (ABI %ld): %m", abi);
    *abi_out = (int)abi;
    *fd_out = (int)fd;
    return 0;
}

static int set_limit(int res, rlim_t v, const char *name, cp_msg *msg)
{
    struct rlimit rl = {.rlim_cur = v, .rlim_max = v};
    if (setrlimit(res, &rl) != 0)
        return fail(msg, "setrlimit(%s): %m", name);
    if (getrlimit(res, &rl) != 0 || rl.rlim_cur != v || rl.rlim_max != v)
        return fail(msg, "%s did not take effect", name);
    return 0;
}

int cp_sb_rlimits(const pal_cpmsg_config *cfg, cp_msg *msg)
{
#ifndef PAL_SANITIZE
    /* ASan reserves terabytes of shadow address space: no RLIMIT_AS in sanitizer builds */
    if (cfg->rlimit_as != 0 && set_limit(RLIMIT_AS, (rlim_t)cfg->rlimit_as, "RLIMIT_AS", msg))
        return -1;
#endif
    if (set_limit(RLIMIT_NOFILE, 0, "RLIMIT_NOFILE", msg) ||
        set_limit(RLIMIT_FSIZE, 0, "RLIMIT_FSIZE", msg) ||
        set_limit(RLIMIT_MEMLOCK, 0, "RLIMIT_MEMLOCK", msg) ||
        set_limit(RLIMIT_MSGQUEUE, 0, "RLIMIT_MSGQUEUE", msg) ||
        set_limit(RLIMIT_CORE, (cfg->flags & PAL_CPMSG_CFG_CORE) ? RLIM_INFINITY : 0, "RLIMIT_CORE",
                  msg))
        return -1;
    if (cfg->rlimit_cpu != 0 && set_limit(RLIMIT_CPU, (rlim_t)cfg->rlimit_cpu, "RLIMIT_CPU", msg))
        return -1;
    return 0;
}

int cp_sb_root(cp_msg *msg)
{
    /* Any directory that exists will do as the mount point: it is ours alone. */
    static const char *const k_mnt = "/proc";
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return fail(msg, "making mounts private: %m");
    if (mount("palisade-cp", k_mnt, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=4k,nr_inodes=4,mode=0555") != 0)
        return fail(msg, "mounting the empty root: %m");
    if (chdir(k_mnt) != 0)
        return fail(msg, "chdir to the empty root: %m");
    if (syscall(SYS_pivot_root, ".", ".") != 0)
        return fail(msg, "pivot_root: %m");
    if (umount2(".", MNT_DETACH) != 0)
        return fail(msg, "detaching the old root: %m");
    if (chdir("/") != 0)
        return fail(msg, "chdir /: %m");
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) !=
        0)
        return fail(msg, "remounting the root read-only: %m");
    struct statfs sf;
    struct stat st;
    if (statfs("/", &sf) != 0 || sf.f_type != TMPFS_MAGIC || !(sf.f_flags & ST_RDONLY))
        return fail(msg, "/ is not an empty read-only tmpfs");
    if (stat("/etc", &st) == 0 || errno != ENOENT)
        return fail(msg, "/etc is still visible");
    return 0;
}

int cp_sb_capbset(cp_msg *msg)
{
    int cap;
    for (cap = 0; cap < 64; cap++) {
        int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (r < 0)
            break; /* past the kernel's last capability */
        if (r == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
            return fail(msg, "dropping capability %d from the bounding set: %m", cap);
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0)
            return fail(msg, "capability %d still in the bounding set", cap);
    }
    if (cap == 0)
        return fail(msg, "cannot read the bounding set: %m");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        return fail(msg, "clearing ambient capabilities: %m");
    unsigned bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0)
        return fail(msg, "locking the securebits: %m");
    if ((unsigned)prctl(PR_GET_SECUREBITS, 0, 0, 0, 0) != bits)
        return fail(msg, "securebits did not take effect");
    return 0;
}

int cp_sb_ids(const pal_cpmsg_config *cfg, cp_msg *msg)
{
    switch (cfg->id_mode) {
    case PAL_CPMSG_IDS_DROP:
        if (cfg->uid == 0 || cfg->gid == 0)
            return fail(msg, "refusing to run as uid %u gid %u", cfg->uid, cfg->gid);
        if (setgroups(0, NULL) != 0)
            return fail(msg, "setgroups: %m");
        if (setresgid(cfg->gid, cfg->gid, cfg->gid) != 0)
            return fail(msg, "setresgid(%u): %m", cfg->gid);
        if (setresuid(cfg->uid, cfg->uid, cfg->uid) != 0)
            return fail(msg, "setresuid(%u): %m", cfg->uid);
        break;
    case PAL_CPMSG_IDS_USERNS:
        /* only the broker's uid is mapped (as 0): pin every id to it */
        if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)
            return fail(msg, "set*id in the user namespace: %m");
        break;
    default:
        break;
    }
    /* a change of credentials clears the parent-death signal */
    if (cp_sb_pdeathsig(msg) != 0)
        return -1;
    return cp_sb_ids_check(cfg, msg);
}

int cp_sb_ids_check(const pal_cpmsg_config *cfg, cp_msg *msg)
{
    uid_t r, e, s;
    gid_t gr, ge, gs;
    if (getresuid(&r, &e, &s) != 0 || getresgid(&gr, &ge, &gs) != 0)
        return fail(msg, "getresuid: %m");
    if (r != e || e != s || gr != ge || ge != gs)
        return fail(msg, "ids differ: uid %u/%u/%u gid %u/%u/%u", r, e, s, gr, ge, gs);
    switch (cfg->id_mode) {
    case PAL_CPMSG_IDS_DROP:
        if (r != cfg->uid || gr != cfg->gid)
            return fail(msg, "running as %u:%u, not %u:%u", r, gr, cfg->uid, cfg->gid);
        if (getgroups(0, NULL) != 0)
            return fail(msg, "supplementary groups remain");
        break;
    case PAL_CPMSG_IDS_USERNS:
        if (r != 0 || gr != 0)
            return fail(msg, "running as %u:%u in the user namespace", r, gr);
        break;
    default:
        if (r == 0)
            return fail(msg, "running as root without a way to drop it");
        break;
    }
    return 0;
}

int cp_sb_caps(cp_msg *msg)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        return fail(msg, "clearing ambient capabilities: %m");
    if (syscall(SYS_capset, &hdr, data) != 0)
        return fail(msg, "capset: %m");
    memset(data, 0xff, sizeof(data));
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    hdr.pid = 0;
    if (syscall(SYS_capget, &hdr, data) != 0)
        return fail(msg, "capget: %m");
    for (int i = 0; i < 2; i++)
        if (data[i].effective || data[i].permitted || data[i].inheritable)
            return fail(msg, "capabilities remain after capset");
    return 0;
}

int cp_sb_nnp(cp_msg *msg)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return fail(msg, "PR_SET_NO_NEW_PRIVS: %m");
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return fail(msg, "no_new_privs did not take effect");
    return 0;
}

int cp_sb_dumpable(cp_msg *msg)
{
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return fail(msg, "PR_SET_DUMPABLE: %m");
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
        return fail(msg, "still dumpable");
    return 0;
}

int cp_sb_landlock(int ruleset_fd, cp_msg *msg)
{
    if (ruleset_fd < 0)
        return 0;
    if (syscall(SYS_landlock_restrict_self, ruleset_fd, 0) != 0)
        return fail(msg, "landlock_restrict_self: %m");
    return 0;
}

int cp_sb_nproc(cp_msg *msg)
{
    return set_limit(RLIMIT_NPROC, 0, "RLIMIT_NPROC", msg);
}

/* ---- seccomp ------------------------------------------------------------------------------ */

static int allow(scmp_filter_ctx ctx, int nr)
{
    return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
}

/* Allowed only on descriptors [lo, hi) (libseccomp takes one comparison per argument). */
static int allow_fds(scmp_filter_ctx ctx, int nr, unsigned lo, unsigned hi)
{
    int rc = 0;
    for (unsigned fd = lo; rc == 0 && fd < hi; fd++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, fd, 0));
    return rc;
}

int cp_sb_seccomp(unsigned channels, cp_msg *msg)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (ctx == NULL)
        return fail(msg, "seccomp_init failed");
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    unsigned ch_lo = CP_FD_CHANNEL0, ch_hi = CP_FD_CHANNEL0 + channels;

    /* the channels, and stderr for the last words of a dying process */
    rc = rc ? rc : allow_fds(ctx, SCMP_SYS(recvfrom), ch_lo, ch_hi);
    rc = rc ? rc : allow_fds(ctx, SCMP_SYS(sendto), ch_lo, ch_hi);
    rc = rc ? rc : allow_fds(ctx, SCMP_SYS(read), ch_lo, ch_hi);
    rc = rc ? rc : allow_fds(ctx, SCMP_SYS(write), CP_FD_STDERR, CP_FD_STDERR + 1);

    /* memory, never executable (the counterpart of "signed code only") */
    rc = rc ? rc
            : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                               SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    rc = rc ? rc
            : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                               SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    static const int k_allowed[] = {
        SCMP_SYS(munmap),
        SCMP_SYS(mremap),
        SCMP_SYS(brk),
        SCMP_SYS(madvise),
        SCMP_SYS(futex),
        SCMP_SYS(clock_gettime),
        SCMP_SYS(gettimeofday),
        SCMP_SYS(time),
        SCMP_SYS(exit),
        SCMP_SYS(exit_group),
        SCMP_SYS(rt_sigreturn),
        SCMP_SYS(rt_sigprocmask),
        SCMP_SYS(sched_yield),
        SCMP_SYS(getrandom),
        SCMP_SYS(getpid),
        SCMP_SYS(gettid),
#ifdef PAL_SANITIZE
        /* ASan/UBSan runtime: reports, alternate signal stacks, thread registry */
        SCMP_SYS(sigaltstack),
        SCMP_SYS(rt_sigaction),
        SCMP_SYS(prctl),
        SCMP_SYS(tgkill),
        SCMP_SYS(getrusage),
        SCMP_SYS(sched_getaffinity),
        SCMP_SYS(close),
        SCMP_SYS(lseek),
        SCMP_SYS(pread64),
        SCMP_SYS(writev),
        SCMP_SYS(nanosleep),
        SCMP_SYS(clock_nanosleep),
        SCMP_SYS(getppid),
        SCMP_SYS(uname),
#endif
    };
    for (size_t i = 0; rc == 0 && i < sizeof(k_allowed) / sizeof(k_allowed[0]); i++)
        rc = allow(ctx, k_allowed[i]);

    /* Libraries probe files and devices now and then: a clean "no" keeps them working. */
    static const int k_eperm[] = {
        SCMP_SYS(open),     SCMP_SYS(openat),     SCMP_SYS(openat2),   SCMP_SYS(creat),
        SCMP_SYS(stat),     SCMP_SYS(lstat),      SCMP_SYS(fstat),     SCMP_SYS(newfstatat),
        SCMP_SYS(statx),    SCMP_SYS(access),     SCMP_SYS(faccessat), SCMP_SYS(faccessat2),
        SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(ioctl),     SCMP_SYS(sysinfo),
        SCMP_SYS(statfs),   SCMP_SYS(fstatfs),
#ifndef PAL_SANITIZE
        SCMP_SYS(lseek),
#endif
    };
    for (size_t i = 0; rc == 0 && i < sizeof(k_eperm) / sizeof(k_eperm[0]); i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), k_eperm[i], 0);

    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0) {
        errno = -rc;
        return fail(msg, "installing the seccomp filter: %m");
    }
    return 0;
}
