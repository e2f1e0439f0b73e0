/*
 * control.c — palisaded's control server (control.h): its lifecycle (new, register, start,
 * stop, free), the listening socket, the accept thread that admits or refuses connections
 * (per-uid and table limits), the dispatch table, and the log with its per-uid rate limit.
 * One connection, from its first frame to its close, is control_conn.c's.
 */
#define _GNU_SOURCE /* accept4, pipe2, struct ucred */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "control_internal.h"
#include "frame.h"
#include "peerlimit.h"

#ifndef PAL_VERSION
#define PAL_VERSION "0.1.0"
#endif

#define DEFAULT_ADMIN_GROUP "palisade-admin"
#define DEFAULT_MAX_CONNECTIONS 128u
#define DEFAULT_MAX_STREAMING 16u
#define DEFAULT_HELLO_MS 10000
#define DEFAULT_STALL_MS 10000
#define DEFAULT_WRITE_MS 30000
#define DEFAULT_IDLE_MS 60000
#define DEFAULT_MAX_PER_UID 16u
#define LOG_BURST 10u /* lines about one uid per LOG_WINDOW_MS, then a summary */
#define LOG_WINDOW_MS 5000
#define REFUSE_WRITE_MS 200 /* the accept thread never waits long on a refused client */
#define OP_NAME_MAX 64

/* ---- small helpers ---------------------------------------------------------------------- */

static void srv_log(pal_ctl_server *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void srv_log(pal_ctl_server *s, int level, const char *fmt, ...)
{
    if (!s->log)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    s->log(s->log_arg, level, buf);
}

/*
 * Start a thread with every signal blocked, so that signals keep going to the daemon's
 * own thread (its signalfd or handler) and never interrupt a connection at random.
 */
int spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static void log_summary(pal_ctl_server *s, const pal_peer_summary *sum)
{
    if (sum->uid == (uid_t)-1)
        srv_log(s, LOG_NOTICE,
                "control: suppressed %llu more log lines about connections of other users "
                "in the last %d s (protocol errors, refused or idle connections)",
                (unsigned long long)sum->suppressed, LOG_WINDOW_MS / 1000);
    else
        srv_log(s, LOG_NOTICE,
                "control: suppressed %llu more log lines about connections of uid %ld in the "
                "last %d s (protocol errors, refused or idle connections)",
                (unsigned long long)sum->suppressed, (long)sum->uid, LOG_WINDOW_MS / 1000);
}

/*
 * A line a peer can cause as often as it likes (a protocol error, a refused or idle
 * connection): rate-limited per uid (peerlimit.h), with a summary of what was held back
 * once the uid's window has ended.
 */
void peer_log(pal_ctl_server *s, uid_t uid, int level, const char *fmt, ...)
{
    if (!s->log)
        return;
    pal_peer_summary sum;
    bool have_sum;
    bool ok = pal_peer_log_admit(s->log_limit, uid, pal_mono_ms(), &sum, &have_sum);
    if (have_sum)
        log_summary(s, &sum);
    if (!ok)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    s->log(s->log_arg, level, buf);
}

/* Log the summaries of ended windows; returns the next time to call again (-1: none). */
static int64_t flush_peer_logs(pal_ctl_server *s)
{
    pal_peer_summary sums[16];
    size_t n;
    int64_t next = pal_peer_log_flush(s->log_limit, pal_mono_ms(), sums, 16, &n);
    for (size_t i = 0; i < n; i++)
        log_summary(s, &sums[i]);
    return next;
}

/* ---- accepting connections ------------------------------------------------------------- */

/* Tell a client we will not serve it, without ever blocking the accept thread for long. */
static void refuse(int fd, const char *code, const char *message)
{
    json_t *m = pal_msg_error(-1, code, message);
    if (m)
        pal_frame_send_json(fd, m, PAL_FRAME_MAX_RESPONSE, pal_mono_ms() + REFUSE_WRITE_MS);
    json_decref(m);
}

/* Join and free connections whose reader has finished. Accept thread or stop only. */
static void reap_conns(pal_ctl_server *s)
{
    for (;;) {
        conn *victim = NULL;
        pthread_mutex_lock(&s->mu);
        for (conn **pp = &s->conns; *pp; pp = &(*pp)->next) {
            if ((*pp)->done) {
                victim = *pp;
                *pp = victim->next;
                break;
            }
        }
        pthread_mutex_unlock(&s->mu);
        if (!victim)
            return;
        pthread_join(victim->thread, NULL);
        conn_free(victim);
    }
}

/*
 * Take the connection on, or refuse it with Busy: first the uid's own cap (so that one user
 * can never hold the whole table), then the table's.
 */
static void accept_one(pal_ctl_server *s, int fd)
{
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || clen != sizeof(cred)) {
        srv_log(s, LOG_WARNING, "control: SO_PEERCRED failed: %s", strerror(errno));
        close(fd);
        return;
    }
    unsigned limit = cred.uid == 0 ? s->max_per_root : s->max_per_uid;
    unsigned held = 0;
    pthread_mutex_lock(&s->mu);
    bool full = s->n_conns >= s->max_connections;
    bool user_full = false;
    if (!full && !pal_peer_count_take(s->per_uid, cred.uid, limit, &held))
        user_full = true;
    if (!full && !user_full)
        s->n_conns++;
    pthread_mutex_unlock(&s->mu);
    if (full || user_full) {
        char m[192];
        if (user_full)
            snprintf(m, sizeof(m),
                     "too many connections from uid %ld to this socket (%u; the per-user limit "
                     "is %u); close some and try again",
                     (long)cred.uid, held, limit);
        else
            snprintf(m, sizeof(m), "too many connections to palisaded (%u); try again later",
                     s->max_connections);
        peer_log(s, cred.uid, LOG_WARNING, "control: refused pid %ld uid %ld: %s", (long)cred.pid,
                 (long)cred.uid, m);
        refuse(fd, PAL_CODE_BUSY, m);
        close(fd);
        return;
    }
    conn *c = calloc(1, sizeof(*c));
    if (!c) {
        pthread_mutex_lock(&s->mu);
        s->n_conns--;
        pal_peer_count_give(s->per_uid, cred.uid);
        pthread_mutex_unlock(&s->mu);
        refuse(fd, PAL_CODE_INTERNAL, "out of memory");
        close(fd);
        return;
    }
    c->srv = s;
    c->fd = fd;
    c->cred = cred;
    atomic_init(&c->last_ms, pal_mono_ms());
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->wmu, NULL);
    pthread_mutex_lock(&s->mu);
    c->next = s->conns;
    s->conns = c;
    pthread_mutex_unlock(&s->mu);
    if (spawn(&c->thread, conn_main, c) != 0) {
        pthread_mutex_lock(&s->mu);
        for (conn **pp = &s->conns; *pp; pp = &(*pp)->next) {
            if (*pp == c) {
                *pp = c->next;
                break;
            }
        }
        s->n_conns--;
        pal_peer_count_give(s->per_uid, cred.uid);
        pthread_mutex_unlock(&s->mu);
        refuse(fd, PAL_CODE_BUSY, "palisaded cannot start a thread for this connection");
        conn_free(c);
    }
}

static void *accept_main(void *arg)
{
    pal_ctl_server *s = arg;
    int backoff = -1;
    for (;;) {
        reap_conns(s);
        /* The summaries of suppressed log lines are due when their windows end. */
        int64_t due = flush_peer_logs(s);
        int timeout = backoff;
        if (due >= 0) {
            int64_t left = due - pal_mono_ms();
            int t = left < 1 ? 1 : left > 60000 ? 60000 : (int)left;
            if (timeout < 0 || t < timeout)
                timeout = t;
        }
        struct pollfd pfd[3] = {
            {.fd = s->listen_fd, .events = POLLIN},
            {.fd = s->wake[0], .events = POLLIN},
            {.fd = s->reap[0], .events = POLLIN},
        };
        int n = poll(pfd, 3, timeout);
        backoff = -1;
        if (n < 0 && errno != EINTR)
            backoff = 100;
        if (n <= 0)
            continue;
        if (pfd[1].revents)
            break;
        if (pfd[2].revents) {
            char drain[64];
            while (read(s->reap[0], drain, sizeof(drain)) > 0)
                ;
        }
        if (!pfd[0].revents)
            continue;
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED)
                continue;
            /* EMFILE and friends: let some connections close before trying again. */
            srv_log(s, LOG_WARNING, "control: accept: %s", strerror(errno));
            backoff = 100;
            continue;
        }
        accept_one(s, fd);
    }
    return NULL;
}

/* ---- server ----------------------------------------------------------------------------- */

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static bool group_name_ok(const char *g)
{
    size_t n = g ? strlen(g) : 0;
    return n > 0 && n < GROUP_NAME_MAX;
}

int pal_ctl_server_new(const pal_ctl_config *cfg, pal_ctl_server **out, pal_errbuf *err)
{
    if (!cfg || !cfg->socket_path || !cfg->socket_path[0])
        return pal_err_set(err, PAL_EINVAL, "control: no socket path");
    const char *group = cfg->admin_group ? cfg->admin_group : DEFAULT_ADMIN_GROUP;
    if (!group_name_ok(group))
        return pal_err_set(err, PAL_EINVAL, "control: bad admin group name");
    if (cfg->hello_timeout_ms < 0 || cfg->stall_timeout_ms < 0 || cfg->write_timeout_ms < 0 ||
        cfg->idle_timeout_ms < 0)
        return pal_err_set(err, PAL_EINVAL, "control: negative timeout");
    pal_ctl_server *s = calloc(1, sizeof(*s));
    if (!s)
        return pal_err_set(err, PAL_ENOMEM, "control: out of memory");
    s->listen_fd = -1;
    s->wake[0] = s->wake[1] = s->reap[0] = s->reap[1] = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->stop_mu, NULL);
    s->socket_path = xstrdup(cfg->socket_path);
    s->agent_version = xstrdup(cfg->agent_version ? cfg->agent_version : PAL_VERSION);
    s->admin_group = xstrdup(group);
    s->socket_mode = cfg->socket_mode ? cfg->socket_mode & 07777 : 0660;
    s->read_only = cfg->read_only;
    s->max_connections = cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS;
    s->max_streaming = cfg->max_streaming ? cfg->max_streaming : DEFAULT_MAX_STREAMING;
    s->hello_ms = cfg->hello_timeout_ms ? cfg->hello_timeout_ms : DEFAULT_HELLO_MS;
    s->stall_ms = cfg->stall_timeout_ms ? cfg->stall_timeout_ms : DEFAULT_STALL_MS;
    s->write_ms = cfg->write_timeout_ms ? cfg->write_timeout_ms : DEFAULT_WRITE_MS;
    atomic_init(&s->idle_ms, cfg->idle_timeout_ms ? cfg->idle_timeout_ms : DEFAULT_IDLE_MS);
    s->max_per_uid = cfg->max_per_uid ? cfg->max_per_uid : DEFAULT_MAX_PER_UID;
    s->max_per_root = cfg->max_per_root ? cfg->max_per_root : s->max_connections / 2;
    /* Never one uid for the whole table, and never fewer than one connection per uid. */
    if (s->max_per_uid >= s->max_connections)
        s->max_per_uid = s->max_connections > 1 ? s->max_connections - 1 : 1;
    if (s->max_per_root >= s->max_connections || s->max_per_root == 0)
        s->max_per_root = s->max_connections > 1 ? s->max_connections - 1 : 1;
    s->per_uid = pal_peer_count_new(s->max_connections);
    s->log_limit = pal_peer_log_new(LOG_BURST, LOG_WINDOW_MS);
    s->log = cfg->log;
    s->log_arg = cfg->log_arg;
    /* The built-in cancel sits in the table like any op (admin only, PROTOCOL.md). */
    s->ops = calloc(1, sizeof(*s->ops));
    if (s->ops)
        s->ops[0].name = xstrdup("cancel");
    if (!s->socket_path || !s->agent_version || !s->admin_group || !s->ops || !s->ops[0].name ||
        !s->per_uid || !s->log_limit) {
        pal_ctl_server_free(s);
        return pal_err_set(err, PAL_ENOMEM, "control: out of memory");
    }
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(s->reap, O_CLOEXEC | O_NONBLOCK) < 0) {
        int e = errno;
        pal_ctl_server_free(s);
        return pal_err_set(err, PAL_EIO, "control: pipe: %s", strerror(e));
    }
    s->ops[0].flags = PAL_CTL_ADMIN_ONLY | OPF_BUILTIN_CANCEL;
    s->n_ops = 1;
    *out = s;
    return 0;
}

/* The dispatch table's entry for name (the built-in cancel included), or NULL. */
const op_entry *find_op(const pal_ctl_server *s, const char *name)
{
    for (size_t i = 0; i < s->n_ops; i++)
        if (strcmp(s->ops[i].name, name) == 0)
            return &s->ops[i];
    return NULL;
}

int pal_ctl_server_register(pal_ctl_server *s, const pal_ctl_op *ops, size_t n, void *arg,
                            pal_errbuf *err)
{
    pthread_mutex_lock(&s->mu);
    bool started = s->started;
    pthread_mutex_unlock(&s->mu);
    if (started)
        return pal_err_set(err, PAL_ESTATE, "control: ops must be registered before start");
    for (size_t i = 0; i < n; i++) {
        const char *name = ops[i].name;
        size_t len = name ? strlen(name) : 0;
        if (len == 0 || len > OP_NAME_MAX || !ops[i].fn ||
            (ops[i].flags & ~(PAL_CTL_ADMIN_ONLY | PAL_CTL_STREAMING)))
            return pal_err_set(err, PAL_EINVAL, "control: invalid op #%zu", i);
        if (strcmp(name, "hello") == 0 || find_op(s, name))
            return pal_err_set(err, PAL_EEXIST, "control: op '%s' is already registered", name);
        for (size_t k = 0; k < i; k++)
            if (strcmp(ops[k].name, name) == 0)
                return pal_err_set(err, PAL_EEXIST, "control: op '%s' listed twice", name);
    }
    if (n > SIZE_MAX / sizeof(*s->ops) - s->n_ops)
        return pal_err_set(err, PAL_ENOMEM, "control: out of memory");
    op_entry *nt = realloc(s->ops, (s->n_ops + n) * sizeof(*nt));
    if (!nt)
        return pal_err_set(err, PAL_ENOMEM, "control: out of memory");
    s->ops = nt;
    size_t added = 0;
    for (; added < n; added++) {
        op_entry *e = &s->ops[s->n_ops + added];
        e->name = xstrdup(ops[added].name);
        if (!e->name)
            break;
        e->flags = ops[added].flags;
        e->fn = ops[added].fn;
        e->arg = arg;
    }
    if (added < n) {
        for (size_t k = 0; k < added; k++)
            free(s->ops[s->n_ops + k].name);
        return pal_err_set(err, PAL_ENOMEM, "control: out of memory");
    }
    s->n_ops += n;
    return 0;
}

/* chgrp the socket file to group when that group exists; 0 also when it does not. */
static int socket_chgrp(pal_ctl_server *s, const char *group, pal_errbuf *err)
{
    gid_t gid;
    if (!pal_access_group_gid(group, &gid))
        return 0; /* root-only until the group exists (PROTOCOL.md: "when it exists") */
    if (lchown(s->socket_path, (uid_t)-1, gid) < 0)
        return pal_err_set(err, PAL_EIO, "control: chgrp %s to %s: %s", s->socket_path, group,
                           strerror(errno));
    return 0;
}

/*
 * Is something at path that we must not replace? A leftover socket that refuses
 * connections is a dead daemon's, and is removed.
 */
static int clear_stale_socket(const char *path, pal_errbuf *err)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return pal_err_set(err, PAL_EIO, "control: %s: %s", path, strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode))
        return pal_err_set(err, PAL_EEXIST,
                           "control: %s exists and is not a socket; not touching it", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return pal_err_set(err, PAL_EIO, "control: socket: %s", strerror(errno));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    close(fd);
    if (rc == 0)
        return pal_err_set(err, PAL_EEXIST, "control: another palisaded is already listening on %s",
                           path);
    if (e != ECONNREFUSED)
        return pal_err_set(err, PAL_EEXIST, "control: cannot tell whether %s is in use: %s", path,
                           strerror(e));
    if (unlink(path) < 0 && errno != ENOENT)
        return pal_err_set(err, PAL_EIO, "control: removing stale socket %s: %s", path,
                           strerror(errno));
    return 0;
}

int pal_ctl_server_start(pal_ctl_server *s, pal_errbuf *err)
{
    pthread_mutex_lock(&s->mu);
    bool started = s->started || s->stopping;
    pthread_mutex_unlock(&s->mu);
    if (started)
        return pal_err_set(err, PAL_ESTATE, "control: already started or stopped");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t plen = strlen(s->socket_path);
    if (plen >= sizeof(sa.sun_path))
        return pal_err_set(err, PAL_EINVAL,
                           "control: socket path is %zu bytes long; the limit is %zu", plen,
                           sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, s->socket_path, plen + 1);

    int rc = clear_stale_socket(s->socket_path, err);
    if (rc < 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return pal_err_set(err, PAL_EIO, "control: socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = errno == EADDRINUSE
                 ? pal_err_set(err, PAL_EEXIST, "control: %s appeared while starting",
                               s->socket_path)
                 : pal_err_set(err, PAL_EIO, "control: bind %s: %s", s->socket_path,
                               strerror(errno));
        close(fd);
        return rc;
    }
    /* Nobody can connect before listen(), so mode and group are right before anyone can. */
    struct stat st;
    char group[GROUP_NAME_MAX];
    pthread_mutex_lock(&s->mu);
    snprintf(group, sizeof(group), "%s", s->admin_group);
    pthread_mutex_unlock(&s->mu);
    if (lstat(s->socket_path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        rc = pal_err_set(err, PAL_EIO, "control: %s vanished after bind", s->socket_path);
        goto fail;
    }
    s->sock_dev = st.st_dev;
    s->sock_ino = st.st_ino;
    rc = socket_chgrp(s, group, err);
    if (rc < 0)
        goto fail;
    if (chmod(s->socket_path, s->socket_mode) < 0) {
        rc = pal_err_set(err, PAL_EIO, "control: chmod %s: %s", s->socket_path, strerror(errno));
        goto fail;
    }
    if (listen(fd, SOMAXCONN) < 0) {
        rc = pal_err_set(err, PAL_EIO, "control: listen %s: %s", s->socket_path, strerror(errno));
        goto fail;
    }
    s->listen_fd = fd;
    if (spawn(&s->accept_thread, accept_main, s) != 0) {
        s->listen_fd = -1;
        rc = pal_err_set(err, PAL_EIO, "control: cannot start the accept thread");
        goto fail;
    }
    pthread_mutex_lock(&s->mu);
    s->started = true;
    pthread_mutex_unlock(&s->mu);
    return 0;
fail:
    close(fd);
    unlink(s->socket_path);
    return rc;
}

int pal_ctl_server_set_admin_group(pal_ctl_server *s, const char *group, pal_errbuf *err)
{
    if (!group_name_ok(group))
        return pal_err_set(err, PAL_EINVAL, "control: bad admin group name");
    char *copy = xstrdup(group);
    if (!copy)
        return pal_err_set(err, PAL_ENOMEM, "control: out of memory");
    pthread_mutex_lock(&s->mu);
    free(s->admin_group);
    s->admin_group = copy;
    bool live = s->started && !s->stopping;
    pthread_mutex_unlock(&s->mu);
    return live ? socket_chgrp(s, group, err) : 0;
}

int pal_ctl_server_set_idle_timeout(pal_ctl_server *s, int idle_timeout_ms)
{
    if (idle_timeout_ms <= 0)
        return PAL_EINVAL;
    atomic_store(&s->idle_ms, idle_timeout_ms);
    return 0;
}

unsigned pal_ctl_server_connections(pal_ctl_server *s)
{
    pthread_mutex_lock(&s->mu);
    unsigned n = s->n_conns;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void pal_ctl_server_stop(pal_ctl_server *s)
{
    pthread_mutex_lock(&s->stop_mu);
    pthread_mutex_lock(&s->mu);
    bool run = s->started && !s->stopped;
    s->stopping = true;
    pthread_mutex_unlock(&s->mu);
    if (!run) {
        pthread_mutex_unlock(&s->stop_mu);
        return;
    }
    /* Stop accepting first: nothing new can arrive while we wind down. */
    ssize_t wr = write(s->wake[1], "s", 1);
    (void)wr; /* the pipe is empty until now: this cannot fail but by EINTR-less EBADF */
    pthread_join(s->accept_thread, NULL);
    close(s->listen_fd);
    s->listen_fd = -1;
    struct stat st;
    if (lstat(s->socket_path, &st) == 0 && st.st_dev == s->sock_dev && st.st_ino == s->sock_ino)
        unlink(s->socket_path);

    /* What was held back is said now, rather than lost with the server. */
    pal_peer_summary sums[16];
    size_t n;
    while (pal_peer_log_flush(s->log_limit, INT64_MAX / 2, sums, 16, &n) >= 0 || n > 0)
        for (size_t i = 0; i < n; i++)
            log_summary(s, &sums[i]);

    /* The list is ours now: only the (joined) accept thread ever changed it. */
    for (conn *c = s->conns; c; c = c->next)
        cancel_all(c);
    while (s->conns) {
        conn *c = s->conns;
        s->conns = c->next;
        pthread_join(c->thread, NULL);
        conn_free(c);
    }
    pthread_mutex_lock(&s->mu);
    s->stopped = true;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_unlock(&s->stop_mu);
}

void pal_ctl_server_free(pal_ctl_server *s)
{
    if (!s)
        return;
    pal_ctl_server_stop(s);
    for (int i = 0; i < 2; i++) {
        if (s->wake[i] >= 0)
            close(s->wake[i]);
        if (s->reap[i] >= 0)
            close(s->reap[i]);
    }
    for (size_t i = 0; i < s->n_ops; i++)
        free(s->ops[i].name);
    free(s->ops);
    free(s->socket_path);
    free(s->agent_version);
    free(s->admin_group);
    pal_peer_count_free(s->per_uid);
    pal_peer_log_free(s->log_limit);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->stop_mu);
    free(s);
}
