/*
 * control_conn.c — one connection of the control server (control.h): the admin check asked
 * per request, writing frames and replies, the requests in flight (ids, cancellation,
 * streaming workers), the dispatch of one frame (hello first, then ops from the server's
 * table), the idle timeout, and the reader thread that runs it all. The server, its
 * listening socket and accept thread are control.c's.
 */
#define _GNU_SOURCE /* struct ucred */
#include "control.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "control_internal.h"
#include "frame.h"

/* A condition variable on the monotonic clock, as pal_ctl_wait_cancel's deadline is. */
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

void cancel_all(conn *c)
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

void *conn_main(void *arg)
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

void conn_free(conn *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->wmu);
    free(c);
}
