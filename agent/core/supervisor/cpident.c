/* cpident.c — the content process's identity, limits and priority (see cpident.h). */
#define _GNU_SOURCE
#include "cpident.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NOBODY_ID 65534U
#define DYN_TRIES 16
#define PROC_STATUS_MAX 8192

_Static_assert(RLIMIT_CPU == 0 && RLIMIT_RTTIME == PAL_CPIDENT_NLIMITS - 1,
               "the rows of /proc/<pid>/limits are the RLIMIT_* numbers in order");

static const char *const k_limit_names[PAL_CPIDENT_NLIMITS] = {
    "RLIMIT_CPU",      "RLIMIT_FSIZE", "RLIMIT_DATA",   "RLIMIT_STACK",
    "RLIMIT_CORE",     "RLIMIT_RSS",   "RLIMIT_NPROC",  "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",  "RLIMIT_AS",    "RLIMIT_LOCKS",  "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE", "RLIMIT_NICE",  "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
};

const char *pal_cpident_limit_name(int resource)
{
    if (resource < 0 || resource >= PAL_CPIDENT_NLIMITS)
        return "RLIMIT_?";
    return k_limit_names[resource];
}

/* ---- /proc -------------------------------------------------------------------------------- */

/* Read a small /proc file whole into buf (NUL-terminated). Bytes read, or -1 (errno). */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    size_t got = 0;
    ssize_t n;
    while (got < len - 1) {
        n = read(fd, buf + got, len - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    buf[got] = '\0';
    return (ssize_t)got;
}

static const char *field(const char *text, const char *key)
{
    size_t klen = strlen(key);
    const char *p = text;
    while (p != NULL && *p) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ':')
            return p + klen + 1;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return NULL;
}

/* Does a "Uid:"/"Gid:" line (four ids) hold id? */
static int line_has(const char *v, unsigned long id)
{
    for (int i = 0; v != NULL && i < 4; i++) {
        char *end;
        errno = 0;
        unsigned long x = strtoul(v, &end, 10);
        if (errno != 0 || end == v)
            return 0;
        if (x == id)
            return 1;
        v = end;
    }
    return 0;
}

int pal_cpident_find_user(uid_t uid, gid_t gid, pid_t self, pid_t *other, char *comm,
                          size_t comm_len, pal_errbuf *err)
{
    DIR *dir = opendir("/proc");
    if (dir == NULL)
        return pal_err_set(err, PAL_EIO, "cannot list /proc: %m");
    char *text = malloc(PROC_STATUS_MAX);
    if (text == NULL) {
        closedir(dir);
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    int found = 0;
    struct dirent *de;
    while (!found && (de = readdir(dir)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || (pid_t)pid == self)
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/status", pid);
        if (read_small(path, text, PROC_STATUS_MAX) <= 0)
            continue; /* gone meanwhile */
        if (line_has(field(text, "Uid"), uid) ||
            (gid != (gid_t)-1 && line_has(field(text, "Gid"), gid))) {
            found = 1;
            *other = (pid_t)pid;
            const char *name = field(text, "Name");
            if (comm_len > 0) {
                comm[0] = '\0';
                if (name != NULL) {
                    name += strspn(name, " \t");
                    snprintf(comm, comm_len, "%.*s", (int)strcspn(name, "\n"), name);
                }
            }
        }
    }
    closedir(dir);
    free(text);
    return found;
}

/* ---- the account databases ------------------------------------------------------------- */

/* Is id inside a "name:start:count" range of file (/etc/subuid, /etc/subgid)? */
static int in_subid_range(const char *file, unsigned long id)
{
    FILE *f = fopen(file, "re");
    if (f == NULL)
        return 0; /* no such file: no ranges */
    char line[512];
    int hit = 0;
    while (!hit && fgets(line, sizeof(line), f) != NULL) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        unsigned long long start = strtoull(c1 + 1, NULL, 10);
        unsigned long long count = strtoull(c2 + 1, NULL, 10);
        if (id >= start && id - start < count)
            hit = 1;
    }
    fclose(f);
    return hit;
}

static int uid_has_entry(uid_t uid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    return getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL;
}

static int gid_has_entry(gid_t gid)
{
    struct group gr, *res = NULL;
    char buf[8192];
    return getgrgid_r(gid, &gr, buf, sizeof(buf), &res) == 0 && res != NULL;
}

/* Another local passwd entry than name with uid (duplicates getpwuid does not show). */
static int other_local_entry(const char *name, uid_t uid, char *who, size_t who_len)
{
    FILE *f = fopen("/etc/passwd", "re");
    if (f == NULL)
        return 0;
    struct passwd pw, *res = NULL;
    char buf[4096];
    int hit = 0;
    while (!hit && fgetpwent_r(f, &pw, buf, sizeof(buf), &res) == 0 && res != NULL) {
        if (res->pw_uid == uid && strcmp(res->pw_name, name) != 0) {
            snprintf(who, who_len, "%s", res->pw_name);
            hit = 1;
        }
    }
    fclose(f);
    return hit;
}

/* The account's ids if it is acceptable: 1 found and fine, 0 no such account, or a negative
   code (refused, with err). */
static int account_ids(const char *account, uid_t *uid, gid_t *gid, pal_errbuf *err)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int rc = getpwnam_r(account, &pw, buf, sizeof(buf), &res);
    if (rc != 0 && rc != ENOENT && rc != ESRCH && rc != EBADF && rc != EPERM)
        return pal_err_set(err, PAL_EIO, "cannot look up account %s: %s", account, strerror(rc));
    if (res == NULL)
        return 0;
    if (res->pw_uid == 0 || res->pw_gid == 0)
        return pal_err_set(err, PAL_EPERM,
                           "account %s has uid %u gid %u: the content process never runs as "
                           "root or in root's group",
                           account, (unsigned)res->pw_uid, (unsigned)res->pw_gid);
    uid_t u = res->pw_uid;
    gid_t g = res->pw_gid;
    /* nobody's uid is every unprivileged daemon's: the very sharing this module exists
       to prevent */
    struct passwd npw, *nres = NULL;
    char nbuf[4096];
    int is_nobody = u == NOBODY_ID || strcmp(account, "nobody") == 0 ||
                    (getpwnam_r("nobody", &npw, nbuf, sizeof(nbuf), &nres) == 0 && nres != NULL &&
                     nres->pw_uid == u);
    if (is_nobody)
        return pal_err_set(err, PAL_EPERM,
                           "account %s has nobody's uid %u, which other daemons share: "
                           "give it a uid of its own, or remove it (a dynamic uid is used then)",
                           account, (unsigned)u);
    struct passwd upw, *ures = NULL;
    char ubuf[4096], who[256] = "";
    if (getpwuid_r(u, &upw, ubuf, sizeof(ubuf), &ures) == 0 && ures != NULL &&
        strcmp(ures->pw_name, account) != 0)
        snprintf(who, sizeof(who), "%s", ures->pw_name);
    if (who[0] != '\0' || other_local_entry(account, u, who, sizeof(who)))
        return pal_err_set(err, PAL_EPERM,
                           "account %s shares uid %u with account %s: give it a uid of its own",
                           account, (unsigned)u, who);
    *uid = u;
    *gid = g;
    return 1;
}

static int pick_dynamic(pal_cpident *out, pal_errbuf *err)
{
    const uint32_t span = PAL_CPIDENT_DYN_LAST - PAL_CPIDENT_DYN_FIRST + 1;
    for (int i = 0; i < DYN_TRIES; i++) {
        uint32_t r;
        if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
            return pal_err_set(err, PAL_EIO, "getrandom: %m");
        uid_t id = (uid_t)(PAL_CPIDENT_DYN_FIRST + r % span);
        if (uid_has_entry(id) || gid_has_entry((gid_t)id) || in_subid_range("/etc/subuid", id) ||
            in_subid_range("/etc/subgid", id))
            continue;
        pid_t other;
        char comm[32];
        int rc = pal_cpident_find_user(id, (gid_t)id, 0, &other, comm, sizeof(comm), err);
        if (rc < 0)
            return rc;
        if (rc > 0)
            continue;
        out->kind = PAL_CPIDENT_DYNAMIC;
        out->uid = id;
        out->gid = (gid_t)id;
        return 0;
    }
    return pal_err_set(err, PAL_ENOTFOUND, "no free uid found in %u..%u after %d tries",
                       PAL_CPIDENT_DYN_FIRST, PAL_CPIDENT_DYN_LAST, DYN_TRIES);
}

int pal_cpident_choose(const char *account, int avoid_account, pal_cpident *out, pal_errbuf *err)
{
    pal_cpident id;
    memset(&id, 0, sizeof(id));
    if (geteuid() != 0) {
        id.kind = PAL_CPIDENT_BROKER;
        id.uid = geteuid();
        id.gid = getegid();
        snprintf(id.why, sizeof(id.why), "the broker's uid %u (the broker is not root)",
                 (unsigned)id.uid);
        *out = id;
        return 0;
    }
    char note[200] = "";
    if (account != NULL && account[0] != '\0') {
        uid_t u;
        gid_t g;
        int rc = account_ids(account, &u, &g, err);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            snprintf(note, sizeof(note), "no account %s", account);
        } else if (avoid_account) {
            snprintf(note, sizeof(note), "account %s's uid %u was taken during the last start",
                     account, (unsigned)u);
        } else {
            pid_t other;
            char comm[32];
            rc = pal_cpident_find_user(u, (gid_t)-1, 0, &other, comm, sizeof(comm), err);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                id.kind = PAL_CPIDENT_ACCOUNT;
                id.uid = u;
                id.gid = g;
                snprintf(id.why, sizeof(id.why), "account %s (uid %u)", account, (unsigned)u);
                *out = id;
                return 0;
            }
            snprintf(note, sizeof(note), "account %s's uid %u is in use by pid %d (%s)", account,
                     (unsigned)u, (int)other, comm);
        }
    } else {
        snprintf(note, sizeof(note), "no dedicated account configured");
    }
    int rc = pick_dynamic(&id, err);
    if (rc != 0)
        return rc;
    snprintf(id.why, sizeof(id.why), "dynamic uid %u (%s)", (unsigned)id.uid, note);
    *out = id;
    return 0;
}

/* ---- limits and priority ---------------------------------------------------------------- */

static int thread_priority(pid_t tid, int *nice, int *policy, int *rtprio)
{
    errno = 0;
    int n = getpriority(PRIO_PROCESS, (id_t)tid);
    if (n == -1 && errno != 0)
        return -1;
    int p = sched_getscheduler(tid);
    if (p < 0)
        return -1;
    p &= ~SCHED_RESET_ON_FORK;
    struct sched_param sp = {.sched_priority = 0};
    /* only the real-time policies have a static priority other than 0 */
    if ((p == SCHED_FIFO || p == SCHED_RR) && sched_getparam(tid, &sp) != 0)
        return -1;
    *nice = n;
    *policy = p;
    *rtprio = sp.sched_priority;
    return 0;
}

void pal_cpident_guard_init(pal_cpident_guard *g)
{
    memset(g, 0, sizeof(*g));
    g->limits_fd = -1;
    for (int r = 0; r < PAL_CPIDENT_NLIMITS; r++)
        if (getrlimit((__rlimit_resource_t)r, &g->lim[r]) != 0)
            g->lim[r].rlim_cur = g->lim[r].rlim_max = RLIM_INFINITY;
    pid_t self = (pid_t)syscall(SYS_gettid);
    if (thread_priority(self, &g->nice, &g->policy, &g->rtprio) != 0) {
        g->nice = 0;
        g->policy = SCHED_OTHER;
        g->rtprio = 0;
    }
}

void pal_cpident_guard_expect(pal_cpident_guard *g, int resource, rlim_t value)
{
    if (resource >= 0 && resource < PAL_CPIDENT_NLIMITS)
        g->lim[resource].rlim_cur = g->lim[resource].rlim_max = value;
}

/* "unlimited" or a number: the columns of /proc/<pid>/limits. */
static int limit_value(const char **p, rlim_t *out)
{
    const char *s = *p + strspn(*p, " \t");
    if (strncmp(s, "unlimited", 9) == 0) {
        *out = RLIM_INFINITY;
        *p = s + 9;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    *out = (rlim_t)v;
    *p = end;
    return 0;
}

static void show(char *buf, size_t len, rlim_t v)
{
    if (v == RLIM_INFINITY)
        snprintf(buf, len, "unlimited");
    else
        snprintf(buf, len, "%llu", (unsigned long long)v);
}

void pal_cpident_guard_release(pal_cpident_guard *g)
{
    if (g != NULL && g->limits_fd >= 0) {
        close(g->limits_fd);
        g->limits_fd = -1;
    }
}

/* Its limits, from /proc/<pid>/limits, against the expected ones. */
static int check_limits(const pal_cpident_guard *g, pal_errbuf *err)
{
    char path[64], text[4096];
    snprintf(path, sizeof(path), "/proc/%d/limits", (int)g->pid);
    /* one pread from 0 gives the whole file (about 1.3 KiB): it is generated afresh */
    ssize_t n = pread(g->limits_fd, text, sizeof(text) - 1, 0);
    if (n <= 0)
        return pal_err_set(err, PAL_EIO, "cannot read %s: %m", path);
    text[n] = '\0';
    /* a header line, then one row per resource: a 25-column name, soft, hard, units */
    const char *line = strchr(text, '\n');
    for (int r = 0; r < PAL_CPIDENT_NLIMITS; r++) {
        if (line == NULL || strlen(line + 1) < 26)
            return pal_err_set(err, PAL_EIO, "%s has no row for %s", path, k_limit_names[r]);
        line++;
        const char *p = line + 25;
        struct rlimit have;
        if (limit_value(&p, &have.rlim_cur) != 0 || limit_value(&p, &have.rlim_max) != 0)
            return pal_err_set(err, PAL_EIO, "%s: unreadable row for %s", path, k_limit_names[r]);
        if (have.rlim_cur != g->lim[r].rlim_cur || have.rlim_max != g->lim[r].rlim_max) {
            char hc[24], hm[24], wc[24], wm[24];
            show(hc, sizeof(hc), have.rlim_cur);
            show(hm, sizeof(hm), have.rlim_max);
            show(wc, sizeof(wc), g->lim[r].rlim_cur);
            show(wm, sizeof(wm), g->lim[r].rlim_max);
            return pal_err_set(err, PAL_EPERM, "limits changed: %s is %s/%s, the broker set %s/%s",
                               k_limit_names[r], hc, hm, wc, wm);
        }
        line = strchr(line, '\n');
    }
    return 0;
}

static int check_priority(const pal_cpident_guard *g, pal_errbuf *err)
{
    for (unsigned i = 0; i < g->ntids; i++) {
        int nice, policy, rtprio;
        if (thread_priority(g->tids[i], &nice, &policy, &rtprio) != 0)
            return pal_err_set(err, PAL_EIO, "cannot read the priority of its thread %d: %m",
                               (int)g->tids[i]);
        if (nice != g->nice || policy != g->policy || rtprio != g->rtprio)
            return pal_err_set(err, PAL_EPERM,
                               "priority changed: thread %d has nice %d, policy %d, real-time "
                               "priority %d; the broker set nice %d, policy %d, priority %d",
                               (int)g->tids[i], nice, policy, rtprio, g->nice, g->policy,
                               g->rtprio);
    }
    return 0;
}

int pal_cpident_guard_arm(pal_cpident_guard *g, pid_t pid, pal_errbuf *err)
{
    g->pid = pid;
    g->ntids = 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
        return pal_err_set(err, PAL_EIO, "cannot list %s: %m", path);
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(dir)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        if (g->ntids == PAL_CPIDENT_MAX_TASKS) {
            rc = pal_err_set(err, PAL_ELIMIT, "more than %d threads", PAL_CPIDENT_MAX_TASKS);
            break;
        }
        g->tids[g->ntids++] = (pid_t)strtol(de->d_name, NULL, 10);
    }
    closedir(dir);
    if (rc == 0 && g->ntids == 0)
        rc = pal_err_set(err, PAL_EIO, "%s lists no thread", path);
    if (rc == 0) {
        pal_cpident_guard_release(g);
        snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
        g->limits_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (g->limits_fd < 0)
            rc = pal_err_set(err, PAL_EIO, "cannot open %s: %m", path);
    }
    if (rc == 0)
        rc = pal_cpident_guard_check(g, err);
    return rc;
}

int pal_cpident_guard_check(const pal_cpident_guard *g, pal_errbuf *err)
{
    int rc = check_limits(g, err);
    return rc != 0 ? rc : check_priority(g, err);
}
