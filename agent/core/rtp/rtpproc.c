/* rtpproc.c — the process behind a real-time event, process exclusions, per-process
   statistics (see rtpproc.h). */
#define _GNU_SOURCE
#include "rtpproc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "msg.h"

#define PSTATS_MAX 1024 /* distinct (executable, uid) pairs kept; later ones are folded */

static int pidfd_alive(int pidfd)
{
    if (pidfd < 0)
        return 0;
    return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
}

/* PIDFD_GET_INFO (Linux 6.13): the parent and the credentials of the process behind a pidfd
   in one ioctl, where /proc/<pid>/stat and /status render a page of text per event. Defined
   here because Debian 12's headers predate it; the first 64 bytes are the published ABI
   (PIDFD_INFO_SIZE_VER0) and the kernel takes the size from the request number. */
struct pal_pidfd_info {
    uint64_t mask, cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
};
_Static_assert(sizeof(struct pal_pidfd_info) == 64, "PIDFD_INFO_SIZE_VER0");
#define PAL_PIDFD_GET_INFO _IOWR(0xFF, 11, struct pal_pidfd_info)
#define PAL_PIDFD_INFO_CREDS (1ULL << 1)

static atomic_int pidfd_info_missing; /* the kernel said ENOTTY/EINVAL once: /proc from then */

int pal_rtp_proc_ids_from_pidfd(int pidfd, pal_rtp_ids *out)
{
    if (pidfd < 0)
        return -1;
    if (atomic_load_explicit(&pidfd_info_missing, memory_order_relaxed)) {
        errno = ENOTTY;
        return -1;
    }
    struct pal_pidfd_info i;
    memset(&i, 0, sizeof(i));
    i.mask = PAL_PIDFD_INFO_CREDS;
    if (ioctl(pidfd, PAL_PIDFD_GET_INFO, &i) != 0) {
        if (errno == ENOTTY || errno == EINVAL)
            atomic_store(&pidfd_info_missing, 1);
        return -1;
    }
    if (!(i.mask & PAL_PIDFD_INFO_CREDS)) {
        errno = ENOTTY;
        return -1;
    }
    out->ppid = (pid_t)i.ppid;
    out->ruid = i.ruid;
    out->euid = i.euid;
    out->suid = i.suid;
    out->rgid = i.rgid;
    out->egid = i.egid;
    out->sgid = i.sgid;
    return 0;
}

int pal_rtp_proc_ids_from_proc(pid_t pid, pal_rtp_ids *out)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *pp = strstr(buf, "\nPPid:");
    const char *u = strstr(buf, "\nUid:");
    const char *g = strstr(buf, "\nGid:");
    long ppid;
    unsigned long ur, ue, us, gr, ge, gs;
    if (!pp || !u || !g || sscanf(pp + 6, "%ld", &ppid) != 1 ||
        sscanf(u + 5, "%lu %lu %lu", &ur, &ue, &us) != 3 ||
        sscanf(g + 5, "%lu %lu %lu", &gr, &ge, &gs) != 3)
        return -1;
    out->ppid = (pid_t)ppid;
    out->ruid = (uid_t)ur;
    out->euid = (uid_t)ue;
    out->suid = (uid_t)us;
    out->rgid = (gid_t)gr;
    out->egid = (gid_t)ge;
    out->sgid = (gid_t)gs;
    return 0;
}

int pal_rtp_proc_ids(pid_t pid, int pidfd, pal_rtp_ids *out)
{
    if (pal_rtp_proc_ids_from_pidfd(pidfd, out) == 0)
        return 0;
    return pal_rtp_proc_ids_from_proc(pid, out);
}

/*
 * Without CAP_SYS_PTRACE (the installed unit has none: it would raise its exposure), the
 * kernel lets /proc/<pid>/exe be read by a caller whose file-system ids equal the target's
 * real, effective and saved ids and whose effective capabilities cover the target's
 * permitted ones (ptrace_may_access, PTRACE_MODE_READ_FSCREDS). So this thread takes the
 * target's ids as its fsuid and fsgid for the read (setfsuid is per thread, unlike setuid)
 * and takes its own back at once. Processes that stay unreadable — root ones with
 * capabilities this daemon lacks, set-id or non-dumpable programs — stay unknown: never
 * excluded, not named. Returns what f returned, -1 when it was not tried.
 */
static ssize_t as_target(long uid, long gid, ssize_t (*f)(pid_t, void *, size_t), pid_t pid,
                         void *buf, size_t len)
{
    if (uid < 0 || (uid == 0 && gid == 0))
        return -1;
    long old_gid = syscall(SYS_setfsgid, (gid_t)gid);
    long old_uid = syscall(SYS_setfsuid, (uid_t)uid);
    ssize_t n = f(pid, buf, len);
    int e = errno;
    syscall(SYS_setfsuid, (uid_t)old_uid);
    syscall(SYS_setfsgid, (gid_t)old_gid);
    errno = e;
    return n;
}

static ssize_t exe_link(pid_t pid, void *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
    return readlink(path, buf, len);
}

static ssize_t exe_open(pid_t pid, void *buf, size_t len)
{
    (void)buf;
    (void)len;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
    return open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

void pal_rtp_proc_identify(pal_rtp_proc *p, pid_t pid, int pidfd)
{
    memset(p, 0, sizeof(*p));
    p->pid = pid;
    pal_rtp_ids ids;
    if (pal_rtp_proc_ids(pid, pidfd, &ids) != 0)
        return;
    uid_t uid = ids.ruid;
    /* the ids that let exe be read without CAP_SYS_PTRACE: none for a set-id program */
    long as_uid =
        ids.ruid == ids.euid && ids.ruid == ids.suid && ids.rgid == ids.egid && ids.rgid == ids.sgid
            ? (long)ids.ruid
            : -1;
    long as_gid = (long)ids.rgid;
    ssize_t n = exe_link(pid, p->exe, sizeof(p->exe) - 1);
    if (n <= 0 && (errno == EACCES || errno == EPERM))
        n = as_target(as_uid, as_gid, exe_link, pid, p->exe, sizeof(p->exe) - 1);
    /* only the pidfd proves the pid still names the process that caused the event */
    if (n <= 0 || !pidfd_alive(pidfd)) {
        p->exe[0] = '\0';
        return;
    }
    p->exe[n] = '\0';
    p->uid = uid;
    p->as_uid = as_uid;
    p->as_gid = as_gid;
    p->known = 1;
}

/* SHA-256 of the process's binary through /proc/<pid>/exe, as lowercase hex. */
static int hash_exe(const pal_rtp_proc *p, char hex[65])
{
    int fd = (int)exe_open(p->pid, NULL, 0);
    if (fd < 0 && (errno == EACCES || errno == EPERM))
        fd = (int)as_target(p->as_uid, p->as_gid, exe_open, p->pid, NULL, 0);
    if (fd < 0)
        return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    static __thread unsigned char buf[65536];
    for (;;) {
        if (!ok)
            break;
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ok = 0;
            break;
        }
        if (n == 0)
            break;
        ok = EVP_DigestUpdate(ctx, buf, (size_t)n) == 1;
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (ok)
        ok = EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    close(fd);
    if (!ok)
        return -1;
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int pal_rtp_proc_excluded(const pal_rtp_proc *p, int pidfd, char *const *entries, size_t n)
{
    if (!p->known || n == 0)
        return 0;
    size_t elen = strlen(p->exe);
    char hex[65] = "";
    int hashed = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = entries[i];
        const char *colon = strrchr(e, ':');
        size_t plen = colon ? (size_t)(colon - e) : strlen(e);
        if (plen != elen || memcmp(e, p->exe, elen) != 0)
            continue;
        if (!colon)
            return 1;
        if (!hashed) {
            hashed = hash_exe(p, hex) == 0 ? 1 : -1;
            /* the binary hashed must be the live process's: checked after the read */
            if (hashed == 1 && !pidfd_alive(pidfd))
                hashed = -1;
        }
        if (hashed == 1 && strcmp(hex, colon + 1) == 0)
            return 1;
    }
    return 0;
}

/* The "fanotify flags:" of an fdinfo, or -1 when the fd is not a fanotify group. */
static long fanotify_flags(int pid_dir, const char *fd_name)
{
    char path[300], link[64];
    snprintf(path, sizeof(path), "fd/%s", fd_name);
    ssize_t n = readlinkat(pid_dir, path, link, sizeof(link) - 1);
    if (n <= 0)
        return -1;
    link[n] = '\0';
    if (strcmp(link, "anon_inode:[fanotify]") != 0)
        return -1;
    snprintf(path, sizeof(path), "fdinfo/%s", fd_name);
    int fd = openat(pid_dir, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096];
    ssize_t r = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (r <= 0)
        return -1;
    buf[r] = '\0';
    const char *f = strstr(buf, "fanotify flags:");
    return f ? strtol(f + 15, NULL, 16) : -1;
}

json_t *pal_rtp_other_listeners(pid_t self)
{
    json_t *out = json_array();
    DIR *proc = opendir("/proc");
    if (!out || !proc) {
        if (proc)
            closedir(proc);
        return out;
    }
    struct dirent *de;
    while ((de = readdir(proc))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0 || pid == (long)self)
            continue;
        int pd = openat(dirfd(proc), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pd < 0)
            continue;
        int fds = openat(pd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *fdd = fds >= 0 ? fdopendir(fds) : NULL;
        if (!fdd && fds >= 0)
            close(fds);
        int found = 0;
        struct dirent *fe;
        while (fdd && !found && (fe = readdir(fdd))) {
            if (fe->d_name[0] == '.')
                continue;
            long flags = fanotify_flags(pd, fe->d_name);
            /* FAN_CLASS_CONTENT 0x4, FAN_CLASS_PRE_CONTENT 0x8 */
            found = flags >= 0 && (flags & 0xc) != 0;
        }
        if (fdd)
            closedir(fdd);
        if (found) {
            char exe[1024] = "", line[1100];
            ssize_t n = readlinkat(pd, "exe", exe, sizeof(exe) - 1);
            exe[n > 0 ? n : 0] = '\0';
            snprintf(line, sizeof(line), "%ld %s", pid, exe[0] ? exe : "(unknown)");
            json_array_append_new(out, json_string(line));
        }
        close(pd);
    }
    closedir(proc);
    return out;
}

/* ---- per-process statistics ------------------------------------------------------------ */

typedef struct pstat {
    char *exe;
    uid_t uid;
    uint64_t scans, blocked;
    int64_t scan_ns;
} pstat;

struct pal_rtp_pstats {
    pthread_mutex_t lock;
    int64_t since_ms;
    pstat *v;
    size_t n;
};

pal_rtp_pstats *pal_rtp_pstats_new(void)
{
    pal_rtp_pstats *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->v = calloc(PSTATS_MAX, sizeof(*s->v));
    if (!s->v) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->since_ms = pal_time_now_ms();
    return s;
}

static void clear_locked(pal_rtp_pstats *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].exe);
    memset(s->v, 0, PSTATS_MAX * sizeof(*s->v));
    s->n = 0;
}

void pal_rtp_pstats_free(pal_rtp_pstats *s)
{
    if (!s)
        return;
    clear_locked(s);
    free(s->v);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void pal_rtp_pstats_reset(pal_rtp_pstats *s, int64_t since_ms)
{
    pthread_mutex_lock(&s->lock);
    clear_locked(s);
    s->since_ms = since_ms;
    pthread_mutex_unlock(&s->lock);
}

void pal_rtp_pstats_add(pal_rtp_pstats *s, const pal_rtp_proc *p, int scanned, int64_t scan_ns,
                        int blocked)
{
    /* processes that could not be identified, and those past the table, share one row */
    const char *exe = p->known ? p->exe : "(unknown)";
    uid_t uid = p->known ? p->uid : (uid_t)-1;
    pthread_mutex_lock(&s->lock);
    pstat *e = NULL;
    for (size_t i = 0; i < s->n && !e; i++)
        if (s->v[i].uid == uid && strcmp(s->v[i].exe, exe) == 0)
            e = &s->v[i];
    if (!e && s->n < PSTATS_MAX - 1) {
        char *copy = strdup(exe);
        if (copy) {
            e = &s->v[s->n++];
            e->exe = copy;
            e->uid = uid;
        }
    }
    if (!e) {
        e = &s->v[PSTATS_MAX - 1];
        if (!e->exe && !(e->exe = strdup("(other)"))) {
            pthread_mutex_unlock(&s->lock);
            return;
        }
        e->uid = (uid_t)-1;
    }
    e->scans += scanned ? 1 : 0;
    e->scan_ns += scan_ns;
    e->blocked += blocked ? 1 : 0;
    pthread_mutex_unlock(&s->lock);
}

static int by_time(const void *a, const void *b)
{
    const pstat *x = a, *y = b;
    if (x->scan_ns != y->scan_ns)
        return x->scan_ns < y->scan_ns ? 1 : -1;
    if (x->scans != y->scans)
        return x->scans < y->scans ? 1 : -1;
    return 0;
}

json_t *pal_rtp_pstats_json(pal_rtp_pstats *s, size_t limit)
{
    json_t *o = json_object(), *list = json_array();
    if (!o || !list) {
        json_decref(o);
        json_decref(list);
        return NULL;
    }
    pthread_mutex_lock(&s->lock);
    size_t n = 0;
    pstat *copy = calloc(PSTATS_MAX, sizeof(*copy));
    if (copy) {
        for (size_t i = 0; i < PSTATS_MAX; i++)
            if (s->v[i].exe && (s->v[i].scans || s->v[i].blocked))
                copy[n++] = s->v[i]; /* the strings stay owned by s: used under the lock */
        qsort(copy, n, sizeof(*copy), by_time);
        for (size_t i = 0; i < n && i < limit; i++) {
            json_t *e = json_object();
            if (!e)
                break;
            pal_msg_set_path(e, "executable", copy[i].exe, strlen(copy[i].exe));
            json_object_set_new(e, "uid",
                                copy[i].uid == (uid_t)-1 ? json_null()
                                                         : json_integer((json_int_t)copy[i].uid));
            json_object_set_new(e, "scans", json_integer((json_int_t)copy[i].scans));
            json_object_set_new(e, "scan_time_ms",
                                json_integer((json_int_t)(copy[i].scan_ns / 1000000)));
            json_object_set_new(e, "blocked", json_integer((json_int_t)copy[i].blocked));
            json_array_append_new(list, e);
        }
    }
    int64_t since = s->since_ms;
    pthread_mutex_unlock(&s->lock);
    free(copy);
    json_object_set_new(o, "since", pal_time_json(since));
    json_object_set_new(o, "processes", list);
    return o;
}
