/* palisade.c — libpalisade: the control-protocol client behind palisade.h. */
#include "palisade.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "frame.h"
#include "msg.h"

#define PALISADE_MAGIC 0x50414c49u  /* "PALI"; cleared by palisade_close */
#define HELLO_TIMEOUT_MS 10000      /* whatever listens must answer hello by then */
#define QUEUE_MAX_BYTES (64u << 20) /* unread messages of started requests */
#define OP_MAX 64
#define CODE_MAX 32
#define MESSAGE_MAX 1024
#define WANT_NONE (-2) /* step(): no particular response awaited */

enum hstate {
    ST_NEW = 0,   /* not connected; connect may be (re)tried */
    ST_CONNECTED, /* hello done */
    ST_DEAD,      /* the connection failed; the error that killed it is kept */
};

/* A message of a started request, waiting for palisade_next_event. */
typedef struct qmsg {
    json_t *msg;
    pal_msg_kind kind;
    int64_t id;
    size_t size; /* payload bytes, counted against QUEUE_MAX_BYTES */
    struct qmsg *next;
} qmsg;

struct palisade {
    uint32_t magic;
    enum hstate state;
    int fd;               /* -1 unless connected */
    char *socket_path;    /* resolved by connect */
    char *agent_info;     /* hello result as JSON text */
    pal_frame_reader *rd; /* server -> client frames, 16 MiB cap */
    int64_t next_id;
    int64_t *started; /* ids of started requests whose end has not arrived */
    size_t n_started, cap_started;
    qmsg *qhead, *qtail;
    size_t qbytes;
    bool has_error;
    char code[CODE_MAX];
    char message[MESSAGE_MAX];
};

/* ---- errors ----------------------------------------------------------------------------- */

/* Copy at most size-1 bytes of s without cutting a UTF-8 sequence in two. */
static void copy_utf8(char *dst, size_t size, const char *s)
{
    size_t n = pal_utf8_prefix(s, strlen(s), size - 1);
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static int set_error(palisade *h, int rv, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_error(palisade *h, int rv, const char *code, const char *fmt, ...)
{
    char buf[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    copy_utf8(h->code, sizeof(h->code), code);
    copy_utf8(h->message, sizeof(h->message), buf);
    h->has_error = true;
    return rv;
}

static void drop_connection(palisade *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    pal_frame_reader_free(h->rd);
    h->rd = NULL;
    while (h->qhead) {
        qmsg *q = h->qhead;
        h->qhead = q->next;
        json_decref(q->msg);
        free(q);
    }
    h->qtail = NULL;
    h->qbytes = 0;
    h->n_started = 0;
}

/* The connection is unusable: record why, close it, and return PALISADE_FATAL. */
static int fatal(palisade *h, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fatal(palisade *h, const char *code, const char *fmt, ...)
{
    char buf[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    set_error(h, 0, code, "%s", buf);
    drop_connection(h);
    h->state = ST_DEAD;
    return PALISADE_FATAL;
}

/* Every entry point: magic, then state. Clears the previous call's error. */
static int enter(palisade *h, enum hstate need)
{
    if (!h || h->magic != PALISADE_MAGIC)
        return PALISADE_FATAL;
    if (h->state == ST_DEAD)
        return PALISADE_FATAL; /* keep the error that killed it */
    h->has_error = false;
    if (h->state != need)
        return set_error(h, PALISADE_FAILED, PAL_CODE_BAD_REQUEST, "%s",
                         need == ST_CONNECTED ? "not connected: call palisade_connect first"
                                              : "already connected");
    return PALISADE_OK;
}

/* ---- started requests and the queue ------------------------------------------------------- */

static ssize_t started_index(const palisade *h, int64_t id)
{
    for (size_t i = 0; i < h->n_started; i++)
        if (h->started[i] == id)
            return (ssize_t)i;
    return -1;
}

static int started_add(palisade *h, int64_t id)
{
    if (h->n_started == h->cap_started) {
        size_t ncap = h->cap_started ? h->cap_started * 2 : 8;
        int64_t *n = realloc(h->started, ncap * sizeof(*n));
        if (!n)
            return -1;
        h->started = n;
        h->cap_started = ncap;
    }
    h->started[h->n_started++] = id;
    return 0;
}

static void started_remove(palisade *h, size_t i)
{
    h->started[i] = h->started[--h->n_started];
}

/* ---- receiving -------------------------------------------------------------------------- */

/* Read one validated message: 1 with *out, 0 when the deadline passed, or PALISADE_FATAL. */
static int recv_one(palisade *h, int64_t deadline, json_t **out, pal_msg_kind *kind, int64_t *id,
                    size_t *size)
{
    int rc = pal_frame_recv(h->rd, h->fd, deadline, -1, -1);
    switch (rc) {
    case PAL_FRAME_READY:
        break;
    case PAL_ETIMEOUT:
        return 0;
    case PAL_FRAME_EOF:
        return fatal(h, PAL_CODE_UNAVAILABLE, "palisaded closed the connection (socket %s)",
                     h->socket_path);
    case PAL_ELIMIT:
        return fatal(h, PAL_CODE_PROTOCOL_ERROR, "palisaded sent a frame over the 16 MiB limit");
    case PAL_EFORMAT:
        return fatal(h, PAL_CODE_PROTOCOL_ERROR, "palisaded sent a zero-length frame");
    case PAL_EPROTO:
        return fatal(h, PAL_CODE_UNAVAILABLE,
                     "the connection to palisaded ended in the middle of a message");
    case PAL_ENOMEM:
        return fatal(h, PAL_CODE_INTERNAL, "out of memory");
    default:
        return fatal(h, PAL_CODE_UNAVAILABLE, "the connection to palisaded failed: %s",
                     strerror(errno));
    }
    char *payload;
    size_t len;
    pal_frame_reader_take(h->rd, &payload, &len);
    pal_errbuf err;
    json_t *m;
    rc = pal_frame_parse(payload, len, &m, &err);
    free(payload);
    if (rc < 0)
        return fatal(h, PAL_CODE_PROTOCOL_ERROR, "palisaded sent a malformed message: %s", err.msg);
    json_int_t jid;
    if (pal_msg_parse_response(m, kind, &jid, &err) < 0) {
        json_decref(m);
        return fatal(h, PAL_CODE_PROTOCOL_ERROR, "palisaded sent a malformed message: %s", err.msg);
    }
    *out = m;
    *id = jid;
    *size = len;
    return 1;
}

static void error_from_msg(palisade *h, const json_t *m)
{
    const json_t *e = json_object_get(m, "error");
    set_error(h, 0, json_string_value(json_object_get(e, "code")), "%s",
              json_string_value(json_object_get(e, "message")));
}

enum step_result {
    STEP_TIMEOUT = 0, /* nothing complete arrived before the deadline */
    STEP_WANTED = 1,  /* the response to `want` is in *out */
    STEP_OTHER = 2,   /* a message was queued or dropped */
};

/*
 * Read and route one message. The response to `want` (a call's or cancel's own id) is
 * handed back; a message of a started request is queued; an event of `want` is dropped;
 * an error with id null ends the connection (the agent closes after it); anything else
 * is a protocol violation.
 */
static int step(palisade *h, int64_t want, int64_t deadline, json_t **out, pal_msg_kind *okind)
{
    json_t *m;
    pal_msg_kind kind;
    int64_t id;
    size_t size;
    int rc = recv_one(h, deadline, &m, &kind, &id, &size);
    if (rc <= 0)
        return rc == 0 ? STEP_TIMEOUT : rc;
    if (id < 0) {
        const json_t *e = json_object_get(m, "error");
        rc = fatal(h, json_string_value(json_object_get(e, "code")), "%s",
                   json_string_value(json_object_get(e, "message")));
        json_decref(m);
        return rc;
    }
    if (id == want) {
        if (kind == PAL_MSG_EVENT) {
            json_decref(m);
            return STEP_OTHER;
        }
        *out = m;
        *okind = kind;
        return STEP_WANTED;
    }
    ssize_t si = started_index(h, id);
    if (si < 0) {
        json_decref(m);
        return fatal(h, PAL_CODE_PROTOCOL_ERROR,
                     "palisaded sent a message for request %lld, which is not in flight",
                     (long long)id);
    }
    if (h->qbytes + size > QUEUE_MAX_BYTES) {
        json_decref(m);
        return fatal(h, PAL_CODE_INTERNAL,
                     "more than %u MiB of unread events: call palisade_next_event",
                     QUEUE_MAX_BYTES >> 20);
    }
    qmsg *q = calloc(1, sizeof(*q));
    if (!q) {
        json_decref(m);
        return fatal(h, PAL_CODE_INTERNAL, "out of memory");
    }
    q->msg = m;
    q->kind = kind;
    q->id = id;
    q->size = size;
    if (h->qtail)
        h->qtail->next = q;
    else
        h->qhead = q;
    h->qtail = q;
    h->qbytes += size;
    if (kind != PAL_MSG_EVENT)
        started_remove(h, (size_t)si);
    return STEP_OTHER;
}

/* Wait (without limit) for the response to want. 1 with *out, or PALISADE_FATAL. */
static int await(palisade *h, int64_t want, json_t **out, pal_msg_kind *kind)
{
    for (;;) {
        int rc = step(h, want, -1, out, kind);
        if (rc < 0 || rc == STEP_WANTED)
            return rc;
    }
}

/*
 * A write failed (EPIPE, ECONNRESET): the agent may have closed after saying why — an
 * error with id null (Busy, ProtocolError) waiting unread. Report that reason when it is
 * there, else `what` with errno's text. Returns PALISADE_FATAL.
 */
static int write_failed(palisade *h, int err, const char *what)
{
    for (int i = 0; i < 64 && h->state != ST_DEAD; i++) {
        json_t *unused;
        pal_msg_kind k;
        int rc = step(h, WANT_NONE, 0, &unused, &k);
        if (rc < 0)
            return rc; /* step recorded the agent's reason (or the close) */
        if (rc == STEP_TIMEOUT)
            break;
    }
    if (h->state == ST_DEAD)
        return PALISADE_FATAL;
    return fatal(h, PAL_CODE_UNAVAILABLE, "%s: %s", what, strerror(err));
}

/* ---- sending ---------------------------------------------------------------------------- */

/*
 * Write one frame. While the agent is not taking it, read what it sends (events of started
 * requests), so that neither side can block the other with full buffers.
 */
static int write_frame(palisade *h, const char *buf, size_t len)
{
    pal_frame_out o;
    if (pal_frame_out_init(&o, buf, len, PAL_FRAME_MAX_REQUEST) < 0)
        return fatal(h, PAL_CODE_INTERNAL, "out of memory");
    int rc;
    for (;;) {
        rc = pal_frame_out_write(&o, h->fd);
        if (rc == 1) {
            rc = PALISADE_OK;
            break;
        }
        if (rc < 0) {
            rc = write_failed(h, errno, "the connection to palisaded failed");
            break;
        }
        struct pollfd pfd = {.fd = h->fd, .events = POLLIN | POLLOUT};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
            rc = fatal(h, PAL_CODE_UNAVAILABLE, "poll: %s", strerror(errno));
            break;
        }
        if (pfd.revents & POLLIN) {
            json_t *unused;
            pal_msg_kind k;
            rc = step(h, WANT_NONE, 0, &unused, &k);
            if (rc < 0)
                break;
        }
    }
    pal_frame_out_clear(&o);
    return rc;
}

/* Send a request with args (stolen, may be NULL). Returns its id, or FAILED / FATAL. */
static int64_t send_request(palisade *h, const char *op, json_t *args)
{
    if (!op || !op[0] || strlen(op) > OP_MAX || !pal_utf8_valid(op, strlen(op))) {
        json_decref(args);
        return set_error(h, PALISADE_FAILED, PAL_CODE_BAD_REQUEST,
                         "op must be a name of 1 to %d bytes of UTF-8", OP_MAX);
    }
    if (h->next_id > PAL_MSG_ID_MAX) {
        json_decref(args);
        return fatal(h, PAL_CODE_INTERNAL, "request ids exhausted; reconnect");
    }
    int64_t id = h->next_id;
    json_t *m = pal_msg_request(id, op, args);
    if (!m)
        return set_error(h, PALISADE_FAILED, PAL_CODE_INTERNAL, "out of memory");
    char *buf;
    size_t len;
    int rc = pal_frame_encode(m, PAL_FRAME_MAX_REQUEST, &buf, &len);
    json_decref(m);
    if (rc == PAL_ELIMIT)
        return set_error(h, PALISADE_FAILED, PAL_CODE_BAD_REQUEST,
                         "the request exceeds the 1 MiB frame limit");
    if (rc < 0)
        return set_error(h, PALISADE_FAILED, PAL_CODE_INTERNAL, "out of memory");
    h->next_id++;
    rc = write_frame(h, buf, len);
    free(buf);
    return rc < 0 ? rc : id;
}

/* Parse the caller's args text: NULL/"" is no args; otherwise one JSON object. */
static int parse_args(palisade *h, const char *args_json, json_t **out)
{
    *out = NULL;
    if (!args_json || !args_json[0])
        return PALISADE_OK;
    json_error_t jerr;
    json_t *a = json_loads(args_json, JSON_REJECT_DUPLICATES, &jerr);
    if (!a)
        return set_error(h, PALISADE_FAILED, PAL_CODE_BAD_REQUEST,
                         "args is not valid JSON: %s (column %d)", jerr.text, jerr.column);
    if (!json_is_object(a)) {
        json_decref(a);
        return set_error(h, PALISADE_FAILED, PAL_CODE_BAD_REQUEST, "args must be a JSON object");
    }
    *out = a;
    return PALISADE_OK;
}

/* ---- public API ------------------------------------------------------------------------- */

const char *palisade_version(void)
{
    return PALISADE_VERSION_STRING;
}

palisade *palisade_new(void)
{
    palisade *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->magic = PALISADE_MAGIC;
    h->state = ST_NEW;
    h->fd = -1;
    h->next_id = 1;
    return h;
}

/* Resolve the path (argument, environment, default) into h->socket_path. */
static int resolve_path(palisade *h, const char *socket_path)
{
    const char *p = socket_path;
    if (!p || !p[0])
        p = getenv("PALISADE_SOCKET");
    if (!p || !p[0])
        p = PALISADE_DEFAULT_SOCKET;
    size_t n = strlen(p) + 1;
    char *copy = malloc(n);
    if (!copy)
        return set_error(h, PALISADE_FAILED, PAL_CODE_INTERNAL, "out of memory");
    memcpy(copy, p, n);
    free(h->socket_path);
    h->socket_path = copy;
    return PALISADE_OK;
}

/* connect(2) to path; 0 and *fd, or the errno. */
static int connect_path(const char *path, int *fd_out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof(sa.sun_path))
        return ENAMETOOLONG;
    memcpy(sa.sun_path, path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int rc;
    do {
        /* An AF_UNIX connect either happened or did not: retrying after EINTR is sound. */
        rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        int e = errno;
        close(fd);
        return e;
    }
    *fd_out = fd;
    return 0;
}

static int open_socket(palisade *h)
{
    struct sockaddr_un sa;
    if (strlen(h->socket_path) >= sizeof(sa.sun_path))
        return set_error(h, PALISADE_FAILED, PAL_CODE_BAD_REQUEST,
                         "socket path %s is longer than %zu bytes", h->socket_path,
                         sizeof(sa.sun_path) - 1);
    int fd = -1;
    int e = connect_path(h->socket_path, &fd);
    if (e == EACCES || e == EPERM) {
        /* The control socket is 0660 for the admin group; everyone else may still read
           status through the daemon's read-only status socket beside it. */
        char status_path[sizeof(sa.sun_path) + 8];
        snprintf(status_path, sizeof(status_path), "%s" PALISADE_STATUS_SOCKET_SUFFIX,
                 h->socket_path);
        if (connect_path(status_path, &fd) == 0)
            e = 0;
    }
    if (e != 0) {
        if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
            return set_error(h, PALISADE_FAILED, PAL_CODE_UNAVAILABLE,
                             "palisaded is not running (socket %s): start it with "
                             "`systemctl start palisaded` or `palisaded --foreground ...`",
                             h->socket_path);
        if (e == EACCES || e == EPERM)
            return set_error(h, PALISADE_FAILED, PAL_CODE_ACCESS_DENIED,
                             "permission denied on %s: only root and members of the "
                             "palisade admin group (AdminGroup, default palisade-admin) may "
                             "connect",
                             h->socket_path);
        return set_error(h, PALISADE_FAILED, PAL_CODE_UNAVAILABLE,
                         "cannot connect to palisaded at %s: %s", h->socket_path, strerror(e));
    }
    h->fd = fd;
    return PALISADE_OK;
}

static int do_hello(palisade *h)
{
    json_t *args = json_pack("{s:i, s:s}", "protocol", PAL_PROTOCOL_VERSION, "client",
                             "libpalisade/" PALISADE_VERSION_STRING);
    json_t *m = args ? pal_msg_request(0, "hello", args) : NULL;
    if (!m)
        return fatal(h, PAL_CODE_INTERNAL, "out of memory");
    int rc = pal_frame_send_json(h->fd, m, PAL_FRAME_MAX_REQUEST, pal_mono_ms() + HELLO_TIMEOUT_MS);
    int e = errno;
    json_decref(m);
    if (rc == PAL_ETIMEOUT)
        return fatal(h, PAL_CODE_UNAVAILABLE, "%s does not take a hello: is it palisaded?",
                     h->socket_path);
    if (rc < 0)
        return write_failed(h, e, "sending hello to palisaded failed");
    json_t *resp = NULL;
    pal_msg_kind kind;
    int64_t deadline = pal_mono_ms() + HELLO_TIMEOUT_MS;
    for (;;) {
        rc = step(h, 0, deadline, &resp, &kind);
        if (rc < 0)
            return rc;
        if (rc == STEP_WANTED)
            break;
        if (rc == STEP_TIMEOUT)
            return fatal(h, PAL_CODE_UNAVAILABLE,
                         "no answer to hello from %s within %d s: is it palisaded?", h->socket_path,
                         HELLO_TIMEOUT_MS / 1000);
    }
    if (kind == PAL_MSG_ERROR) {
        error_from_msg(h, resp);
        json_decref(resp);
        drop_connection(h);
        h->state = ST_DEAD;
        return PALISADE_FATAL;
    }
    const json_t *res = json_object_get(resp, "result");
    const json_t *proto = json_object_get(res, "protocol");
    if (!json_is_integer(proto) || json_integer_value(proto) != PAL_PROTOCOL_VERSION) {
        json_decref(resp);
        return fatal(h, PAL_CODE_VERSION_MISMATCH,
                     "the agent at %s answered hello with another protocol version",
                     h->socket_path);
    }
    char *info = json_dumps(res, JSON_COMPACT);
    json_decref(resp);
    if (!info)
        return fatal(h, PAL_CODE_INTERNAL, "out of memory");
    free(h->agent_info);
    h->agent_info = info;
    return PALISADE_OK;
}

int palisade_connect(palisade *h, const char *socket_path)
{
    int rc = enter(h, ST_NEW);
    if (rc != PALISADE_OK)
        return rc;
    rc = resolve_path(h, socket_path);
    if (rc != PALISADE_OK)
        return rc;
    rc = open_socket(h);
    if (rc != PALISADE_OK)
        return rc;
    h->rd = pal_frame_reader_new(PAL_FRAME_MAX_RESPONSE);
    if (!h->rd) {
        drop_connection(h);
        return set_error(h, PALISADE_FAILED, PAL_CODE_INTERNAL, "out of memory");
    }
    h->next_id = 1;
    rc = do_hello(h);
    if (rc != PALISADE_OK) {
        /* Keep the error but not the death: the caller may try again. */
        drop_connection(h);
        h->state = ST_NEW;
        return PALISADE_FAILED;
    }
    h->state = ST_CONNECTED;
    return PALISADE_OK;
}

const char *palisade_socket_path(palisade *h)
{
    if (!h || h->magic != PALISADE_MAGIC)
        return NULL;
    return h->socket_path;
}

const char *palisade_agent_info(palisade *h)
{
    if (!h || h->magic != PALISADE_MAGIC)
        return NULL;
    return h->agent_info;
}

int palisade_call(palisade *h, const char *op, const char *args_json, char **result_json)
{
    int rc = enter(h, ST_CONNECTED);
    if (rc != PALISADE_OK)
        return rc;
    json_t *args;
    rc = parse_args(h, args_json, &args);
    if (rc != PALISADE_OK)
        return rc;
    int64_t id = send_request(h, op, args);
    if (id < 0)
        return (int)id;
    json_t *resp;
    pal_msg_kind kind;
    rc = await(h, id, &resp, &kind);
    if (rc < 0)
        return rc;
    if (kind == PAL_MSG_ERROR) {
        error_from_msg(h, resp);
        json_decref(resp);
        return PALISADE_FAILED;
    }
    rc = PALISADE_OK;
    if (result_json) {
        char *s = json_dumps(json_object_get(resp, "result"), JSON_COMPACT);
        if (s)
            *result_json = s;
        else
            rc = set_error(h, PALISADE_FAILED, PAL_CODE_INTERNAL, "out of memory");
    }
    json_decref(resp);
    return rc;
}

int64_t palisade_start(palisade *h, const char *op, const char *args_json)
{
    int rc = enter(h, ST_CONNECTED);
    if (rc != PALISADE_OK)
        return rc;
    json_t *args;
    rc = parse_args(h, args_json, &args);
    if (rc != PALISADE_OK)
        return rc;
    /* Room first: once the request is out, its id must be tracked. */
    if (started_add(h, 0) < 0) {
        json_decref(args);
        return set_error(h, PALISADE_FAILED, PAL_CODE_INTERNAL, "out of memory");
    }
    h->n_started--;
    int64_t id = send_request(h, op, args);
    if (id < 0)
        return id;
    h->started[h->n_started++] = id;
    return id;
}

int palisade_next_event(palisade *h, int timeout_ms, int64_t *request_id, char **json)
{
    int rc = enter(h, ST_CONNECTED);
    if (rc != PALISADE_OK)
        return rc;
    if (!request_id || !json)
        return set_error(h, PALISADE_FAILED, PAL_CODE_BAD_REQUEST,
                         "request_id and json must not be NULL");
    int64_t deadline = timeout_ms < 0 ? -1 : pal_mono_ms() + timeout_ms;
    while (!h->qhead) {
        if (h->n_started == 0)
            return set_error(h, PALISADE_FAILED, PAL_CODE_NOT_FOUND,
                             "no request started with palisade_start is in flight");
        json_t *unused;
        pal_msg_kind k;
        rc = step(h, WANT_NONE, deadline, &unused, &k);
        if (rc < 0)
            return rc;
        if (rc == STEP_TIMEOUT) {
            *request_id = 0;
            *json = NULL;
            return PALISADE_TIMEOUT;
        }
    }
    qmsg *q = h->qhead;
    const json_t *body = q->msg;
    int kind = PALISADE_EVENT;
    if (q->kind == PAL_MSG_RESULT) {
        body = json_object_get(q->msg, "result");
        kind = PALISADE_RESULT;
    } else if (q->kind == PAL_MSG_ERROR) {
        body = json_object_get(q->msg, "error");
        kind = PALISADE_ERROR;
    }
    char *s = json_dumps(body, JSON_COMPACT);
    if (!s)
        return set_error(h, PALISADE_FAILED, PAL_CODE_INTERNAL, "out of memory");
    if (kind == PALISADE_ERROR)
        error_from_msg(h, q->msg);
    h->qhead = q->next;
    if (!h->qhead)
        h->qtail = NULL;
    h->qbytes -= q->size;
    *request_id = q->id;
    *json = s;
    json_decref(q->msg);
    free(q);
    return kind;
}

int palisade_cancel(palisade *h, int64_t request_id)
{
    int rc = enter(h, ST_CONNECTED);
    if (rc != PALISADE_OK)
        return rc;
    if (request_id < 1 || request_id > PAL_MSG_ID_MAX)
        return set_error(h, PALISADE_FAILED, PAL_CODE_BAD_REQUEST,
                         "request id %lld is out of range", (long long)request_id);
    json_t *args = json_pack("{s:I}", "target", (json_int_t)request_id);
    if (!args)
        return set_error(h, PALISADE_FAILED, PAL_CODE_INTERNAL, "out of memory");
    int64_t id = send_request(h, "cancel", args);
    if (id < 0)
        return (int)id;
    json_t *resp;
    pal_msg_kind kind;
    rc = await(h, id, &resp, &kind);
    if (rc < 0)
        return rc;
    if (kind == PAL_MSG_ERROR) {
        error_from_msg(h, resp);
        json_decref(resp);
        return PALISADE_FAILED;
    }
    const json_t *c = json_object_get(json_object_get(resp, "result"), "cancelled");
    rc = json_is_boolean(c) ? (json_is_true(c) ? 1 : 0) : -3;
    json_decref(resp);
    if (rc == -3)
        return fatal(h, PAL_CODE_PROTOCOL_ERROR,
                     "palisaded answered cancel without a boolean 'cancelled'");
    return rc;
}

const char *palisade_error_code(palisade *h)
{
    if (!h || h->magic != PALISADE_MAGIC)
        return PAL_CODE_BAD_REQUEST;
    return h->has_error ? h->code : NULL;
}

const char *palisade_error_string(palisade *h)
{
    if (!h || h->magic != PALISADE_MAGIC)
        return "invalid palisade handle (NULL, closed, or not from palisade_new)";
    return h->has_error ? h->message : NULL;
}

void palisade_free_string(char *s)
{
    free(s);
}

int palisade_close(palisade *h)
{
    if (!h)
        return PALISADE_OK;
    if (h->magic != PALISADE_MAGIC)
        return PALISADE_FATAL;
    drop_connection(h);
    free(h->socket_path);
    free(h->agent_info);
    free(h->started);
    h->magic = 0;
    free(h);
    return PALISADE_OK;
}

int palisade_scan_buffer(palisade *h, const void *data, int64_t len, const char *name,
                         char **result_json)
{
    int rc = enter(h, ST_CONNECTED);
    if (rc != PALISADE_OK)
        return rc;
    if (len < 0 || (len > 0 && !data))
        return set_error(h, PALISADE_FAILED, PAL_CODE_BAD_REQUEST,
                         "data must point at len bytes (len >= 0)");
    if (len > PALISADE_BUFFER_SCAN_MAX)
        return set_error(h, PALISADE_FAILED, PAL_CODE_INVALID_VALUE,
                         "the content is %lld bytes, more than the %d a buffer scan takes",
                         (long long)len, PALISADE_BUFFER_SCAN_MAX);
    size_t name_len = name ? strlen(name) : 0;
    if (name_len > 255 || !pal_utf8_valid(name ? name : "", name_len))
        return set_error(h, PALISADE_FAILED, PAL_CODE_BAD_REQUEST,
                         "the name hint must be UTF-8 of at most 255 bytes");
    char *b64 = pal_b64_encode(data ? data : "", (size_t)len);
    json_t *args = b64 ? json_object() : NULL;
    if (!args || json_object_set_new(args, "content_b64", json_string(b64)) != 0 ||
        (name_len > 0 && json_object_set_new(args, "name", json_string(name)) != 0)) {
        free(b64);
        json_decref(args);
        return set_error(h, PALISADE_FAILED, PAL_CODE_INTERNAL, "out of memory");
    }
    free(b64);
    int64_t id = send_request(h, "scan.buffer", args);
    if (id < 0)
        return (int)id;
    json_t *resp;
    pal_msg_kind kind;
    rc = await(h, id, &resp, &kind);
    if (rc < 0)
        return rc;
    if (kind == PAL_MSG_ERROR) {
        error_from_msg(h, resp);
        json_decref(resp);
        return PALISADE_FAILED;
    }
    rc = PALISADE_OK;
    if (result_json) {
        char *s = json_dumps(json_object_get(resp, "result"), JSON_COMPACT);
        if (s)
            *result_json = s;
        else
            rc = set_error(h, PALISADE_FAILED, PAL_CODE_INTERNAL, "out of memory");
    }
    json_decref(resp);
    return rc;
}
