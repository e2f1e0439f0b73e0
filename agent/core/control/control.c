/* control.c — palisaded's control server: socket, connections, dispatch (see control.h). */
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
#define GROUP_NAME_MAX 256
#define ERR_CODE_MAX 32
#define ERR_MSG_MAX 1024

typedef struct op_entry {
    char *name;            /* owned copy */
    unsigned flags;        /* PAL_CTL_* plus OPF_BUILTIN_CANCEL */
    pal_ctl_handler_fn fn; /* NULL for the built-in cancel */
    void *arg;
} op_entry;

#define OPF_BUILTIN_CANCEL 0x100u

typedef struct conn conn;

struct pal_ctl_request {
    conn *c;
    json_int_t id;
    const op_entry *op;
    json_t *args;        /* owned; an empty object when the request had none */
    bool admin;          /* the admin check's answer when this request came in */
    volatile int cancel; /* written with __atomic, read by handlers (pal_ctl_cancel_flag) */
    pthread_cond_t cond; /* signalled when cancel is set; waited on with c->mu */
    bool failed;         /* pal_ctl_fail was called (owner thread only) */
    char code[ERR_CODE_MAX];
    char message[ERR_MSG_MAX];
    bool threaded; /* runs on `thread` (streaming) */
    pthread_t thread;
    bool finished;         /* (c->mu) the response is decided; the id may be reused */
    pal_ctl_request *next; /* (c->mu) */
};

struct conn {
    pal_ctl_server *srv;
    int fd;                  /* closed only after every worker is joined */
    pthread_t thread;        /* the reader */
    struct ucred cred;       /* SO_PEERCRED, read once, by the accept thread */
    bool helloed;            /* (reader thread) */
    _Atomic int64_t last_ms; /* pal_mono_ms of the last frame in or response out (idle) */
    pthread_mutex_t mu;      /* protects reqs, n_active, finished flags */
    pal_ctl_request *reqs;   /* (mu) requests in flight plus finished, unjoined workers */
    unsigned n_active;       /* (mu) streaming requests not finished */
    pthread_mutex_t wmu;     /* serialises frames on fd; protects dead */
    bool dead;               /* (wmu) nothing more may be sent: a write failed, or ProtocolError */
    bool done;               /* (srv->mu) the reader has finished; join and free */
    conn *next;              /* (srv->mu) */
};

struct pal_ctl_server {
    char *socket_path;
    char *agent_version;
    mode_t socket_mode;
    bool read_only; /* status socket: no connection is ever admin */
    unsigned max_connections;
    unsigned max_streaming;
    unsigned max_per_uid, max_per_root;
    int hello_ms, stall_ms, write_ms;
    atomic_int idle_ms;      /* pal_ctl_server_set_idle_timeout may change it at any time */
    pal_peer_log *log_limit; /* lines a peer can cause, per uid */
    pal_ctl_log_fn log;
    void *log_arg;

    op_entry *ops; /* dispatch table; read-only once started */
    size_t n_ops;

    pthread_mutex_t mu;      /* protects everything below that says (mu) */
    char *admin_group;       /* (mu) */
    conn *conns;             /* (mu) */
    unsigned n_conns;        /* (mu) connections whose reader is still running */
    pal_peer_count *per_uid; /* (mu) those connections by peer uid */
    bool started;            /* (mu) */
    bool stopping;           /* (mu) */
    bool stopped;            /* (mu) */
    pthread_mutex_t stop_mu; /* makes concurrent _stop calls wait for the first */

    int listen_fd;
    dev_t sock_dev; /* identity of the socket file we created, to remove only it */
    ino_t sock_ino;
    int wake[2]; /* becomes readable, for good, when stop begins */
    int reap[2]; /* a reader that finished writes a byte: accept thread joins it */
    pthread_t accept_thread;
};

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
static int spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static int cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    if (pthread_condattr_init(&a) != 0)
        return -1;
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

/*
 * A line a peer can cause as often as it likes (a protocol error, a refused or idle
 * connection): rate-limited per uid (peerlimit.h), with a summary of what was held back
 * once the uid's window has ended.
 */
static void peer_log(pal_ctl_server *s, uid_t uid, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

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

static void peer_log(pal_ctl_server *s, uid_t uid, int level, const char *fmt, ...)
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

/* ---- admin check ------------------------------------------------------------------------ */

/*
 * Asked for every request, never cached: a user taken out of the admin group loses its
 * rights at its next request, on a connection opened before too (access.h says what
 * grants them and why the peer's own groups do not).
 */
static bool conn_is_admin(conn *c)
{
    pal_ctl_server *s = c->srv;
    if (s->read_only)
        return false;
    if (c->cred.uid == 0)
        return true;
    char group[GROUP_NAME_MAX];
    pthread_mutex_lock(&s->mu);
    snprintf(group, sizeof(group), "%s", s->admin_group);
    pthread_mutex_unlock(&s->mu);
    return pal_access_uid_in_group(c->cred.uid, group);
}

/* ---- sending ---------------------------------------------------------------------------- */

/* Write one encoded frame; on failure the connection is shut down (its reader then ends). */
static int conn_write(conn *c, const char *buf, size_t len)
{
    pal_ctl_server *s = c->srv;
    int rc;
    pthread_mutex_lock(&c->wmu);
    if (c->dead) {
        rc = PAL_EIO;
    } else {
        rc = pal_frame_write(c->fd, buf, len, PAL_FRAME_MAX_RESPONSE, pal_mono_ms() + s->write_ms);
        if (rc < 0) {
            /* A partial frame may be out: the stream is unusable. Wake the reader. */
            c->dead = true;
            shutdown(c->fd, SHUT_RDWR);
            if (rc == PAL_ETIMEOUT)
                peer_log(s, c->cred.uid, LOG_NOTICE,
                         "control: client pid %ld uid %ld did not read for %d ms; "
                         "disconnecting it",
                         (long)c->cred.pid, (long)c->cred.uid, s->write_ms);
            rc = PAL_EIO;
        }
    }
    pthread_mutex_unlock(&c->wmu);
    return rc;
}

/* Send msg (stolen). A response too large for a frame becomes an Internal error. */
static int conn_send(conn *c, json_t *msg)
{
    if (!msg)
        return PAL_ENOMEM;
    char *buf;
    size_t len;
    int rc = pal_frame_encode(msg, PAL_FRAME_MAX_RESPONSE, &buf, &len);
    if (rc == PAL_ELIMIT && json_object_get(msg, "result")) {
        json_int_t id = json_integer_value(json_object_get(msg, "id"));
        json_decref(msg);
        msg = pal_msg_error(id, PAL_CODE_INTERNAL,
                            "the result exceeds the 16 MiB frame limit; narrow the query "
                            "(limit, since)");
        if (!msg)
            return PAL_ENOMEM;
        rc = pal_frame_encode(msg, PAL_FRAME_MAX_RESPONSE, &buf, &len);
    }
    json_decref(msg);
    if (rc < 0)
        return rc;
    rc = conn_write(c, buf, len);
    free(buf);
    return rc;
}

static void send_error(conn *c, json_int_t id, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void send_error(conn *c, json_int_t id, const char *code, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    conn_send(c, pal_msg_error(id, code, msg));
}

/* ProtocolError to the peer and a line in the daemon's log; the caller then closes. */
static void protocol_error(conn *c, json_int_t id, const char *what)
{
    peer_log(c->srv, c->cred.uid, LOG_NOTICE, "control: protocol error from pid %ld uid %ld: %s",
             (long)c->cred.pid, (long)c->cred.uid, what);
    send_error(c, id, PAL_CODE_PROTOCOL_ERROR, "%s", what);
    /* Nothing may follow the ProtocolError: results of cancelled requests are dropped. */
    pthread_mutex_lock(&c->wmu);
    c->dead = true;
    pthread_mutex_unlock(&c->wmu);
}

/* ---- requests --------------------------------------------------------------------------- */

json_int_t pal_ctl_request_id(const pal_ctl_request *req)
{
    return req->id;
}

const char *pal_ctl_request_op(const pal_ctl_request *req)
{
    return req->op->name;
}

const json_t *pal_ctl_request_args(const pal_ctl_request *req)
{
    return req->args;
}

uid_t pal_ctl_request_uid(const pal_ctl_request *req)
{
    return req->c->cred.uid;
}

gid_t pal_ctl_request_gid(const pal_ctl_request *req)
{
    return req->c->cred.gid;
}

pid_t pal_ctl_request_pid(const pal_ctl_request *req)
{
    return req->c->cred.pid;
}

bool pal_ctl_request_admin(const pal_ctl_request *req)
{
    return req->admin;
}

bool pal_ctl_cancelled(const pal_ctl_request *req)
{
    return __atomic_load_n(&req->cancel, __ATOMIC_ACQUIRE) != 0;
}

const volatile int *pal_ctl_cancel_flag(const pal_ctl_request *req)
{
    return &req->cancel;
}

bool pal_ctl_wait_cancel(pal_ctl_request *req, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (timeout_ms > 0) {
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&req->c->mu);
    while (!pal_ctl_cancelled(req) && timeout_ms > 0) {
        if (pthread_cond_timedwait(&req->cond, &req->c->mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&req->c->mu);
    return pal_ctl_cancelled(req);
}

int pal_ctl_event(pal_ctl_request *req, const char *name, json_t *data)
{
    json_t *m = pal_msg_event(req->id, name, data);
    if (!m)
        return PAL_ENOMEM;
    char *buf;
    size_t len;
    int rc = pal_frame_encode(m, PAL_FRAME_MAX_RESPONSE, &buf, &len);
    json_decref(m);
    if (rc < 0)
        return rc;
    rc = conn_write(req->c, buf, len);
    free(buf);
    return rc;
}

json_t *pal_ctl_fail(pal_ctl_request *req, const char *code, const char *fmt, ...)
{
    snprintf(req->code, sizeof(req->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->message, sizeof(req->message), fmt, ap);
    va_end(ap);
    req->failed = true;
    return NULL;
}

/* Caller holds c->mu. */
static void request_cancel_locked(pal_ctl_request *r)
{
    __atomic_store_n(&r->cancel, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&r->cond);
}

static void cancel_all(conn *c)
{
    pthread_mutex_lock(&c->mu);
    for (pal_ctl_request *r = c->reqs; r; r = r->next)
        if (!r->finished)
            request_cancel_locked(r);
    pthread_mutex_unlock(&c->mu);
}

static pal_ctl_request *request_new(conn *c, json_int_t id, const op_entry *op, const json_t *args,
                                    bool admin)
{
    pal_ctl_request *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (cond_init_mono(&r->cond) != 0) {
        free(r);
        return NULL;
    }
    r->args = args ? json_deep_copy(args) : json_object();
    if (!r->args) {
        pthread_cond_destroy(&r->cond);
        free(r);
        return NULL;
    }
    r->c = c;
    r->id = id;
    r->op = op;
    r->admin = admin;
    return r;
}

static void request_free(pal_ctl_request *r)
{
    if (!r)
        return;
    json_decref(r->args);
    pthread_cond_destroy(&r->cond);
    free(r);
}

/* Link r into its connection's list (the id is now in flight). */
static void request_link(pal_ctl_request *r)
{
    conn *c = r->c;
    pthread_mutex_lock(&c->mu);
    r->next = c->reqs;
    c->reqs = r;
    if (r->threaded)
        c->n_active++;
    pthread_mutex_unlock(&c->mu);
}

static void request_unlink(pal_ctl_request *r)
{
    conn *c = r->c;
    pthread_mutex_lock(&c->mu);
    for (pal_ctl_request **pp = &c->reqs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

/*
 * Turn the handler's outcome into the one response and send it. The request is marked
 * finished before the response goes out, so that a client which reuses the id as soon as
 * it reads the response never finds it still "in flight".
 */
static void request_finish(pal_ctl_request *r, json_t *result)
{
    json_t *msg;
    if (result && json_is_object(result)) {
        msg = pal_msg_result(r->id, result);
    } else {
        json_decref(result);
        if (!r->failed)
            pal_ctl_fail(r, PAL_CODE_INTERNAL,
                         "op '%s' failed without saying why; see the palisaded log", r->op->name);
        msg = pal_msg_error(r->id, r->code, r->message);
    }
    conn *c = r->c;
    /* Activity before the count drops, so that the reader never sees an idle moment. */
    atomic_store(&c->last_ms, pal_mono_ms());
    pthread_mutex_lock(&c->mu);
    r->finished = true;
    if (r->threaded)
        c->n_active--;
    pthread_mutex_unlock(&c->mu);
    conn_send(c, msg);
    atomic_store(&c->last_ms, pal_mono_ms()); /* the idle time counts from the response */
}

static void *worker_main(void *arg)
{
    pal_ctl_request *r = arg;
    json_t *res = r->op->fn(r, r->op->arg);
    request_finish(r, res);
    return NULL;
}

/* Join and free finished workers; with all = true, every worker (they were cancelled). */
static void reap_requests(conn *c, bool all)
{
    for (;;) {
        pal_ctl_request *victim = NULL;
        pthread_mutex_lock(&c->mu);
        for (pal_ctl_request **pp = &c->reqs; *pp; pp = &(*pp)->next) {
            if ((*pp)->threaded && ((*pp)->finished || all)) {
                victim = *pp;
                *pp = victim->next;
                break;
            }
        }
        pthread_mutex_unlock(&c->mu);
        if (!victim)
            return;
        pthread_join(victim->thread, NULL);
        request_free(victim);
    }
}

/* True when id belongs to a request of c that has not finished. */
static bool id_in_flight(conn *c, json_int_t id)
{
    bool found = false;
    pthread_mutex_lock(&c->mu);
    for (pal_ctl_request *r = c->reqs; r && !found; r = r->next)
        found = r->id == id && !r->finished;
    pthread_mutex_unlock(&c->mu);
    return found;
}

/* ---- dispatch --------------------------------------------------------------------------- */

static const op_entry *find_op(const pal_ctl_server *s, const char *name)
{
    for (size_t i = 0; i < s->n_ops; i++)
        if (strcmp(s->ops[i].name, name) == 0)
            return &s->ops[i];
    return NULL;
}

static bool srv_stopping(pal_ctl_server *s)
{
    pthread_mutex_lock(&s->mu);
    bool st = s->stopping;
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* Returns false when the connection must be closed. */
static bool do_hello(conn *c, json_int_t id, const json_t *args)
{
    pal_errbuf err;
    json_int_t proto;
    const char *client;
    if (pal_msg_get_int(args, "protocol", PAL_MSG_REQUIRED, 0, PAL_MSG_INT_MAX, &proto, &err) < 0 ||
        pal_msg_get_string(args, "client", PAL_MSG_OPTIONAL, &client, &err) < 0) {
        send_error(c, id, PAL_CODE_BAD_REQUEST, "hello: %s", err.msg);
        return false;
    }
    if (proto != PAL_PROTOCOL_VERSION) {
        send_error(c, id, PAL_CODE_VERSION_MISMATCH,
                   "protocol %lld is not supported; palisaded speaks protocol %d", (long long)proto,
                   PAL_PROTOCOL_VERSION);
        return false;
    }
    json_t *res =
        json_pack("{s:i, s:s, s:I, s:b}", "protocol", PAL_PROTOCOL_VERSION, "agent_version",
                  c->srv->agent_version, "uid", (json_int_t)c->cred.uid, "admin", conn_is_admin(c));
    if (!res) {
        send_error(c, id, PAL_CODE_INTERNAL, "out of memory");
        return false;
    }
    c->helloed = true;
    return conn_send(c, pal_msg_result(id, res)) == 0;
}

static void do_cancel(conn *c, json_int_t id, const json_t *args)
{
    pal_errbuf err;
    json_int_t target;
    if (pal_msg_get_int(args, "target", PAL_MSG_REQUIRED, 1, PAL_MSG_ID_MAX, &target, &err) < 0) {
        send_error(c, id, PAL_CODE_BAD_REQUEST, "%s", err.msg);
        return;
    }
    bool found = false;
    pthread_mutex_lock(&c->mu);
    for (pal_ctl_request *r = c->reqs; r && !found; r = r->next) {
        if (r->id == target && !r->finished) {
            request_cancel_locked(r);
            found = true;
        }
    }
    pthread_mutex_unlock(&c->mu);
    conn_send(c, pal_msg_result(id, json_pack("{s:b}", "cancelled", found)));
}

/* One frame from the client. Returns false when the connection must be closed. */
static bool conn_dispatch(conn *c, const char *payload, size_t len)
{
    pal_ctl_server *s = c->srv;
    pal_errbuf err;
    json_t *msg = NULL;
    bool keep = false;
    if (pal_frame_parse(payload, len, &msg, &err) < 0) {
        protocol_error(c, -1, err.msg);
        return false;
    }
    json_int_t id;
    const char *opname;
    const json_t *args;
    if (pal_msg_parse_request(msg, &id, &opname, &args, &err) < 0) {
        json_int_t eid = -1;
        pal_msg_envelope_id(msg, &eid);
        protocol_error(c, eid, err.msg);
        goto out;
    }
    bool is_hello = strcmp(opname, "hello") == 0;
    if (!c->helloed) {
        if (!is_hello) {
            protocol_error(c, id, "the first request must be hello");
            goto out;
        }
        keep = do_hello(c, id, args);
        goto out;
    }
    if (is_hello) {
        protocol_error(c, id, "hello may be sent only once");
        goto out;
    }
    if (id == 0) {
        protocol_error(c, id, "request ids start at 1 (0 is hello's)");
        goto out;
    }
    if (id_in_flight(c, id)) {
        char m[96];
        snprintf(m, sizeof(m), "request id %lld is already in flight", (long long)id);
        protocol_error(c, id, m);
        goto out;
    }
    keep = true;

    const op_entry *op = find_op(s, opname);
    if (!op) {
        send_error(c, id, PAL_CODE_UNKNOWN_OP, "no such op '%s'", opname);
        goto out;
    }
    bool admin = conn_is_admin(c);
    if ((op->flags & PAL_CTL_ADMIN_ONLY) && !admin) {
        char group[GROUP_NAME_MAX];
        pthread_mutex_lock(&s->mu);
        snprintf(group, sizeof(group), "%s", s->admin_group);
        pthread_mutex_unlock(&s->mu);
        send_error(c, id, PAL_CODE_ACCESS_DENIED,
                   "op '%s' requires root or membership in the group '%s' (uid %ld is "
                   "neither)",
                   opname, group, (long)c->cred.uid);
        goto out;
    }
    if (srv_stopping(s)) {
        send_error(c, id, PAL_CODE_BUSY, "palisaded is shutting down");
        goto out;
    }
    if (op->flags & OPF_BUILTIN_CANCEL) {
        do_cancel(c, id, args);
        goto out;
    }

    bool streaming = (op->flags & PAL_CTL_STREAMING) != 0;
    if (streaming) {
        pthread_mutex_lock(&c->mu);
        bool full = c->n_active >= s->max_streaming;
        pthread_mutex_unlock(&c->mu);
        if (full) {
            send_error(c, id, PAL_CODE_BUSY,
                       "too many requests in flight on this connection (%u); wait for one "
                       "to finish",
                       s->max_streaming);
            goto out;
        }
    }
    pal_ctl_request *r = request_new(c, id, op, args, admin);
    if (!r) {
        send_error(c, id, PAL_CODE_INTERNAL, "out of memory");
        goto out;
    }
    r->threaded = streaming;
    request_link(r);
    if (!streaming) {
        request_finish(r, op->fn(r, op->arg));
        request_unlink(r);
        request_free(r);
        goto out;
    }
    /* The worker may finish (and be reaped) at once: r belongs to it from here on. */
    if (spawn(&r->thread, worker_main, r) != 0) {
        request_unlink(r);
        pthread_mutex_lock(&c->mu);
        c->n_active--;
        pthread_mutex_unlock(&c->mu);
        request_free(r);
        send_error(c, id, PAL_CODE_BUSY, "palisaded cannot start a thread for '%s' now", opname);
    }
out:
    json_decref(msg);
    return keep;
}

/* ---- connections ------------------------------------------------------------------------ */

/* Idle: nothing in flight and no frame in or response out for idle_ms. Reader thread. */
static bool conn_idle(conn *c)
{
    pthread_mutex_lock(&c->mu);
    unsigned active = c->n_active;
    pthread_mutex_unlock(&c->mu);
    int64_t idle_for = pal_mono_ms() - atomic_load(&c->last_ms);
    return active == 0 && idle_for >= atomic_load(&c->srv->idle_ms);
}

/*
 * Close a connection that said hello and then went quiet: its slot is worth more to the
 * next client. Busy (not ProtocolError: it broke no rule), then close.
 */
static void idle_close(conn *c)
{
    pal_ctl_server *s = c->srv;
    int idle_s = (atomic_load(&s->idle_ms) + 999) / 1000;
    peer_log(s, c->cred.uid, LOG_INFO,
             "control: closing the connection of pid %ld uid %ld: idle for %d s", (long)c->cred.pid,
             (long)c->cred.uid, idle_s);
    send_error(c, -1, PAL_CODE_BUSY,
               "connection closed after %d s without a request (idle timeout); reconnect to go "
               "on",
               idle_s);
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    pal_ctl_server *s = c->srv;
    pal_frame_reader *rd = pal_frame_reader_new(PAL_FRAME_MAX_REQUEST);
    if (!rd) {
        send_error(c, -1, PAL_CODE_INTERNAL, "out of memory");
        goto out;
    }
    int64_t hello_deadline = pal_mono_ms() + s->hello_ms;
    for (;;) {
        reap_requests(c, false);
        /* Before hello: the hello deadline. After: the idle deadline, except while a frame
           is arriving (then only the stall limit applies, which the reader keeps). */
        int64_t deadline = hello_deadline;
        if (c->helloed)
            deadline = pal_frame_reader_in_frame(rd)
                           ? -1
                           : atomic_load(&c->last_ms) + atomic_load(&s->idle_ms);
        int rc = pal_frame_recv(rd, c->fd, deadline, s->stall_ms, s->wake[0]);
        if (rc == PAL_ETIMEOUT && c->helloed) {
            if (pal_frame_reader_in_frame(rd) && deadline >= 0)
                continue; /* the idle deadline fell inside a frame: wait for the frame */
            if (!pal_frame_reader_in_frame(rd) && !conn_idle(c))
                continue; /* a request in flight, or activity since: not idle */
        }
        if (rc == PAL_FRAME_READY) {
            char *payload;
            size_t len;
            atomic_store(&c->last_ms, pal_mono_ms());
            pal_frame_reader_take(rd, &payload, &len);
            bool keep = conn_dispatch(c, payload, len);
            free(payload);
            if (!keep)
                break;
            continue;
        }
        char m[160];
        switch (rc) {
        case PAL_ETIMEOUT:
            if (pal_frame_reader_in_frame(rd)) {
                snprintf(m, sizeof(m), "incomplete frame: not all %zu bytes arrived within %d ms",
                         pal_frame_reader_announced(rd), s->stall_ms);
            } else if (c->helloed) {
                idle_close(c);
                break;
            } else {
                snprintf(m, sizeof(m), "no hello within %d ms", s->hello_ms);
            }
            protocol_error(c, -1, m);
            break;
        case PAL_ELIMIT:
            snprintf(m, sizeof(m), "frame of %zu bytes exceeds the limit of %u bytes",
                     pal_frame_reader_announced(rd), PAL_FRAME_MAX_REQUEST);
            protocol_error(c, -1, m);
            break;
        case PAL_EFORMAT:
            protocol_error(c, -1, "zero-length frame");
            break;
        default:
            /* EOF, truncated frame, read error, or stop: nobody left to tell. */
            break;
        }
        break;
    }
out:
    /* A client that goes away cancels everything it had in flight. */
    cancel_all(c);
    reap_requests(c, true);
    pal_frame_reader_free(rd);
    pthread_mutex_lock(&s->mu);
    c->done = true;
    s->n_conns--;
    pal_peer_count_give(s->per_uid, c->cred.uid);
    pthread_mutex_unlock(&s->mu);
    /* Every writer is joined: nobody can use fd any more. */
    close(c->fd);
    c->fd = -1;
    ssize_t wr = write(s->reap[1], "r", 1);
    (void)wr; /* a full pipe already holds a wake-up */
    return NULL;
}

static void conn_free(conn *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->wmu);
    free(c);
}

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
