/*
 * test_control.c — the control server (agent/core/control/control.c) run in-process on a temporary
 * socket with test handlers, driven by raw sockets (to break the protocol on purpose) and by
 * libpalisade (the way real clients use it). Timeouts are configured short so the whole
 * program runs in a couple of seconds; no assertion depends on timing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "frame.h"
#include "msg.h"
#include "palisade.h"
#include "peerlimit.h"

#define SAFETY_MS 20000 /* bound on every wait; reached only when something is broken */
#define TEST_VERSION "9.9.9-test"
#define NO_GROUP "palisade-test-no-such-group"
#define NOBODY_ID 65534

static atomic_int g_stream_ended;     /* stream handlers that returned */
static atomic_int g_stream_cancelled; /* ... and had been cancelled */

/* ---- test handlers ------------------------------------------------------------------------ */

static json_t *op_status(pal_ctl_request *req, void *arg)
{
    (void)arg;
    return json_pack("{s:s, s:I, s:b}", "agent_version", TEST_VERSION, "uid",
                     (json_int_t)pal_ctl_request_uid(req), "admin", pal_ctl_request_admin(req));
}

static json_t *op_echo(pal_ctl_request *req, void *arg)
{
    (void)arg;
    const json_t *a = pal_ctl_request_args(req);
    pal_errbuf err;
    json_int_t n;
    const char *pad = NULL;
    if (pal_msg_get_int(a, "n", PAL_MSG_REQUIRED, 0, 1000000000, &n, &err) < 0 ||
        pal_msg_get_string(a, "pad", PAL_MSG_OPTIONAL, &pad, &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    return json_pack("{s:I, s:I}", "n", n, "pad_len", (json_int_t)(pad ? strlen(pad) : 0));
}

static json_t *op_fail(pal_ctl_request *req, void *arg)
{
    (void)arg;
    return pal_ctl_fail(req, PAL_CODE_NOT_FOUND, "no such thing %d", 42);
}

static json_t *op_silent(pal_ctl_request *req, void *arg)
{
    (void)req;
    (void)arg;
    return NULL;
}

static json_t *op_big(pal_ctl_request *req, void *arg)
{
    (void)req;
    (void)arg;
    size_t len = (16u << 20) + 16;
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    memset(s, 'b', len);
    s[len] = '\0';
    json_t *r = json_pack("{s:s}", "blob", s);
    free(s);
    return r;
}

/*
 * Emits "tick" events until cancelled (or `count` of them), then returns its normal
 * result. With "pad", each event carries that many bytes and they go out back to back (a
 * flood for the slow-reader test).
 */
static json_t *op_stream(pal_ctl_request *req, void *arg)
{
    (void)arg;
    const json_t *a = pal_ctl_request_args(req);
    pal_errbuf err;
    json_int_t count = -1, pad = 0;
    if (pal_msg_get_int(a, "count", PAL_MSG_OPTIONAL, 0, 1000000, &count, &err) < 0 ||
        pal_msg_get_int(a, "pad", PAL_MSG_OPTIONAL, 0, 1 << 20, &pad, &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    char *padding = calloc(1, (size_t)pad + 1);
    if (!padding)
        return NULL;
    memset(padding, 'p', (size_t)pad);
    json_int_t n = 0;
    while (!pal_ctl_cancelled(req) && (count < 0 || n < count)) {
        json_t *data = json_pack("{s:I, s:s}", "n", n, "pad", padding);
        if (pal_ctl_event(req, "tick", data) < 0) {
            /* The connection is gone; the framework cancels us as it tears it down. */
            for (int i = 0; i < SAFETY_MS / 10 && !pal_ctl_wait_cancel(req, 10); i++)
                ;
            break;
        }
        n++;
        if (pad == 0)
            pal_ctl_wait_cancel(req, 2);
    }
    free(padding);
    bool cancelled = pal_ctl_cancelled(req);
    json_t *res =
        json_pack("{s:s, s:I}", "status", cancelled ? "Cancelled" : "Completed", "ticks", n);
    if (cancelled)
        atomic_fetch_add(&g_stream_cancelled, 1);
    atomic_fetch_add(&g_stream_ended, 1);
    return res;
}

static const pal_ctl_op test_ops[] = {
    {"status", 0, op_status},
    {"echo", PAL_CTL_ADMIN_ONLY, op_echo},
    {"fail", PAL_CTL_ADMIN_ONLY, op_fail},
    {"silent", PAL_CTL_ADMIN_ONLY, op_silent},
    {"big", PAL_CTL_ADMIN_ONLY, op_big},
    {"stream", PAL_CTL_ADMIN_ONLY | PAL_CTL_STREAMING, op_stream},
};

/* ---- fixture ------------------------------------------------------------------------------ */

typedef struct fixture {
    char dir[64];
    char path[128];
    pal_ctl_server *srv;
    palisade *bystander; /* a well-behaved client that must keep working throughout */
} fixture;

static void make_dir(char *dir, size_t size)
{
    snprintf(dir, size, "/tmp/palctl.XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0755), 0); /* the unprivileged test's user must reach it */
}

static void test_config(pal_ctl_config *cfg, const char *path)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->socket_path = path;
    cfg->admin_group = NO_GROUP;
    cfg->agent_version = TEST_VERSION;
    cfg->socket_mode = 0666;
    cfg->max_streaming = 4;
    cfg->hello_timeout_ms = 300;
    cfg->stall_timeout_ms = 300;
    cfg->write_timeout_ms = 300;
}

static pal_ctl_server *start_server(const pal_ctl_config *cfg)
{
    pal_ctl_server *s = NULL;
    pal_errbuf err;
    if (pal_ctl_server_new(cfg, &s, &err) < 0 ||
        pal_ctl_server_register(s, test_ops, sizeof(test_ops) / sizeof(test_ops[0]), NULL, &err) <
            0 ||
        pal_ctl_server_start(s, &err) < 0)
        fail_msg("server: %s", err.msg);
    return s;
}

static int setup_with(void **state, unsigned max_connections)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    make_dir(fx->dir, sizeof(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/ctl.sock", fx->dir);
    pal_ctl_config cfg;
    test_config(&cfg, fx->path);
    cfg.max_connections = max_connections;
    fx->srv = start_server(&cfg);
    fx->bystander = palisade_new();
    assert_int_equal(palisade_connect(fx->bystander, fx->path), PALISADE_OK);
    *state = fx;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 0);
}

static int setup_few(void **state)
{
    return setup_with(state, 4); /* uid 0 may hold 2 of them (max_connections / 2) */
}

static int teardown(void **state)
{
    fixture *fx = *state;
    palisade_close(fx->bystander);
    pal_ctl_server_free(fx->srv);
    struct stat st;
    assert_int_equal(lstat(fx->path, &st), -1); /* stop removed the socket */
    assert_int_equal(rmdir(fx->dir), 0);
    free(fx);
    return 0;
}

static void bystander_ok(fixture *fx)
{
    char *res = NULL;
    if (palisade_call(fx->bystander, "status", NULL, &res) != PALISADE_OK)
        fail_msg("bystander: %s: %s", palisade_error_code(fx->bystander),
                 palisade_error_string(fx->bystander));
    assert_non_null(strstr(res, TEST_VERSION));
    palisade_free_string(res);
}

/* Wait (bounded) until *counter reaches want. */
static void wait_counter(atomic_int *counter, int want)
{
    for (int i = 0; i < SAFETY_MS / 5 && atomic_load(counter) < want; i++) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(atomic_load(counter) >= want);
}

/* ---- raw client ---------------------------------------------------------------------------- */

static int raw_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void raw_bytes(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void raw_header(int fd, uint32_t n)
{
    unsigned char h[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    raw_bytes(fd, h, 4);
}

static void raw_send_len(int fd, const char *payload, size_t len)
{
    raw_header(fd, (uint32_t)len);
    raw_bytes(fd, payload, len);
}

static void raw_send(int fd, const char *text)
{
    raw_send_len(fd, text, strlen(text));
}

/* Next message, or NULL when the server closed the connection. */
static json_t *raw_recv(int fd)
{
    pal_frame_reader *r = pal_frame_reader_new(PAL_FRAME_MAX_RESPONSE);
    int rc = pal_frame_recv(r, fd, pal_mono_ms() + SAFETY_MS, -1, -1);
    json_t *m = NULL;
    if (rc == PAL_FRAME_READY) {
        char *p;
        size_t n;
        pal_errbuf err;
        pal_frame_reader_take(r, &p, &n);
        if (pal_frame_parse(p, n, &m, &err) < 0)
            fail_msg("server sent a bad frame: %s", err.msg);
        free(p);
    } else if (rc != PAL_FRAME_EOF && rc != PAL_EIO) {
        /* EIO: ECONNRESET, the server closed with our bytes unread — also a close. */
        fail_msg("raw_recv: %s", pal_strerror(rc));
    }
    pal_frame_reader_free(r);
    return m;
}

static void raw_hello(int fd)
{
    raw_send(fd, "{\"id\":0,\"op\":\"hello\",\"args\":{\"protocol\":1,\"client\":\"raw\"}}");
    json_t *m = raw_recv(fd);
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "result"), "protocol")),
                     1);
    json_decref(m);
}

/* The next message is an error with this id (-1: null) and code mentioning msg_part. */
static void expect_error(int fd, json_int_t id, const char *code, const char *msg_part)
{
    json_t *m = raw_recv(fd);
    if (!m)
        fail_msg("connection closed; expected %s", code);
    const json_t *e = json_object_get(m, "error");
    const char *c = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (!c || strcmp(c, code) != 0 || !msg || !strstr(msg, msg_part)) {
        char *d = json_dumps(m, 0);
        fail_msg("expected %s '%s', got %s", code, msg_part, d);
    }
    const json_t *jid = json_object_get(m, "id");
    if (id < 0)
        assert_true(json_is_null(jid));
    else
        assert_int_equal(json_integer_value(jid), id);
    json_decref(m);
}

static void expect_closed(int fd)
{
    json_t *m = raw_recv(fd);
    if (m) {
        char *d = json_dumps(m, 0);
        fail_msg("expected a close, got %s", d);
    }
    close(fd);
}

/* The next message is a result for id; returns it (caller decrefs). */
static json_t *expect_result(int fd, json_int_t id)
{
    for (;;) {
        json_t *m = raw_recv(fd);
        assert_non_null(m);
        if (json_object_get(m, "event")) { /* events of other requests may interleave */
            json_decref(m);
            continue;
        }
        if (!json_object_get(m, "result")) {
            char *d = json_dumps(m, 0);
            fail_msg("expected a result for %lld, got %s", (long long)id, d);
        }
        assert_int_equal(json_integer_value(json_object_get(m, "id")), id);
        return m;
    }
}

/* ---- handshake ------------------------------------------------------------------------------ */

static void test_hello_required(void **state)
{
    fixture *fx = *state;
    int fd = raw_connect(fx->path);
    raw_send(fd, "{\"id\":1,\"op\":\"status\"}");
    expect_error(fd, 1, "ProtocolError", "first request must be hello");
    expect_closed(fd);
    bystander_ok(fx);
}

static void test_hello_result(void **state)
{
    fixture *fx = *state;
    int fd = raw_connect(fx->path);
    raw_send(fd, "{\"id\":0,\"op\":\"hello\",\"args\":{\"protocol\":1,\"client\":\"t/1\"}}");
    json_t *m = expect_result(fd, 0);
    const json_t *r = json_object_get(m, "result");
    assert_int_equal(json_integer_value(json_object_get(r, "protocol")), 1);
    assert_string_equal(json_string_value(json_object_get(r, "agent_version")), TEST_VERSION);
    assert_int_equal(json_integer_value(json_object_get(r, "uid")), getuid());
    assert_true(json_is_true(json_object_get(r, "admin"))); /* root */
    json_decref(m);
    /* Hello is once only. */
    raw_send(fd, "{\"id\":0,\"op\":\"hello\",\"args\":{\"protocol\":1}}");
    expect_error(fd, 0, "ProtocolError", "only once");
    expect_closed(fd);
}

static void test_hello_version(void **state)
{
    fixture *fx = *state;
    int fd = raw_connect(fx->path);
    raw_send(fd, "{\"id\":0,\"op\":\"hello\",\"args\":{\"protocol\":2}}");
    expect_error(fd, 0, "VersionMismatch", "protocol 2 is not supported");
    expect_closed(fd);

    fd = raw_connect(fx->path);
    raw_send(fd, "{\"id\":0,\"op\":\"hello\",\"args\":{\"protocol\":\"1\"}}");
    expect_error(fd, 0, "BadRequest", "field 'protocol' must be an integer");
    expect_closed(fd);

    fd = raw_connect(fx->path);
    raw_send(fd, "{\"id\":0,\"op\":\"hello\"}");
    expect_error(fd, 0, "BadRequest", "missing field 'protocol'");
    expect_closed(fd);
    bystander_ok(fx);
}

static void test_idle_without_hello(void **state)
{
    fixture *fx = *state;
    int fd = raw_connect(fx->path);
    /* Sends nothing: closed after the (test-short) hello timeout. */
    expect_error(fd, -1, "ProtocolError", "no hello within 300 ms");
    expect_closed(fd);
    bystander_ok(fx);
}

/* ---- broken frames and envelopes ------------------------------------------------------------ */

static void test_malformed_frames(void **state)
{
    fixture *fx = *state;
    static const struct {
        const char *payload;
        size_t len;
        const char *msg;
    } bad[] = {
        {"not json", 8, "invalid JSON"},
        {"[1,2]", 5, "not a JSON object"},
        {"\"str\"", 5, "not a JSON object"},
        {"{\"id\":1,\"op\":\"st\xff\"}", 19, "invalid JSON"},
        {"{\"id\":1,\"id\":2,\"op\":\"status\"}", 29, "duplicate"},
        {"{\"id\":1,\"op\":\"status\"}\0", 23, "NUL"},
        {"{\"id\":1,\"op\":\"status\"} {}", 25, "invalid JSON"},
        {"{\"id\":1,\"op\":\"\\u0000\"}", 22, "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int fd = raw_connect(fx->path);
        raw_hello(fd);
        raw_send_len(fd, bad[i].payload, bad[i].len);
        expect_error(fd, -1, "ProtocolError", bad[i].msg);
        expect_closed(fd);
        bystander_ok(fx);
    }
    /* Garbage before hello gets the same treatment. */
    int fd = raw_connect(fx->path);
    raw_send(fd, "hello?");
    expect_error(fd, -1, "ProtocolError", "invalid JSON");
    expect_closed(fd);
}

static void test_envelope_errors(void **state)
{
    fixture *fx = *state;
    static const struct {
        const char *frame;
        json_int_t id;
        const char *msg;
    } bad[] = {
        {"{\"id\":\"7\",\"op\":\"status\"}", -1, "field 'id'"},
        {"{\"id\":-7,\"op\":\"status\"}", -1, "field 'id'"},
        {"{\"id\":9007199254740993,\"op\":\"status\"}", -1, "field 'id'"},
        {"{\"op\":\"status\"}", -1, "field 'id'"},
        {"{\"id\":3}", 3, "field 'op'"},
        {"{\"id\":3,\"op\":[]}", 3, "field 'op'"},
        {"{\"id\":4,\"op\":\"status\",\"args\":[1]}", 4, "field 'args'"},
        {"{\"id\":0,\"op\":\"status\"}", 0, "ids start at 1"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int fd = raw_connect(fx->path);
        raw_hello(fd);
        raw_send(fd, bad[i].frame);
        expect_error(fd, bad[i].id, "ProtocolError", bad[i].msg);
        expect_closed(fd);
    }
    bystander_ok(fx);
}

static void test_frame_sizes(void **state)
{
    fixture *fx = *state;
    /* Over the 1 MiB cap: refused from the header alone. */
    int fd = raw_connect(fx->path);
    raw_hello(fd);
    raw_header(fd, (1u << 20) + 1);
    expect_error(fd, -1, "ProtocolError", "exceeds the limit");
    expect_closed(fd);
    /* Zero length. */
    fd = raw_connect(fx->path);
    raw_hello(fd);
    raw_header(fd, 0);
    expect_error(fd, -1, "ProtocolError", "zero-length");
    expect_closed(fd);
    /* Exactly 1 MiB is allowed. */
    fd = raw_connect(fx->path);
    raw_hello(fd);
    const char *head = "{\"id\":5,\"op\":\"echo\",\"args\":{\"n\":5,\"pad\":\"";
    const char *tail = "\"}}";
    size_t total = 1u << 20;
    size_t pad = total - strlen(head) - strlen(tail);
    char *buf = malloc(total);
    assert_non_null(buf);
    memcpy(buf, head, strlen(head));
    memset(buf + strlen(head), 'x', pad);
    memcpy(buf + strlen(head) + pad, tail, strlen(tail));
    raw_send_len(fd, buf, total);
    free(buf);
    json_t *m = expect_result(fd, 5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "result"), "pad_len")),
                     pad);
    json_decref(m);
    close(fd);
    bystander_ok(fx);
}

static void test_stalled_frame(void **state)
{
    fixture *fx = *state;
    int fd = raw_connect(fx->path);
    raw_hello(fd);
    raw_header(fd, 100);
    raw_bytes(fd, "{\"id\":1,\"o", 10);
    /* ...and nothing more: closed after the (test-short) stall timeout. */
    expect_error(fd, -1, "ProtocolError", "incomplete frame");
    expect_closed(fd);
    bystander_ok(fx);
}

/* ---- requests ------------------------------------------------------------------------------- */

static void test_request_errors(void **state)
{
    fixture *fx = *state;
    int fd = raw_connect(fx->path);
    raw_hello(fd);
    raw_send(fd, "{\"id\":1,\"op\":\"nope\"}");
    expect_error(fd, 1, "UnknownOp", "no such op 'nope'");
    raw_send(fd, "{\"id\":2,\"op\":\"echo\",\"args\":{}}");
    expect_error(fd, 2, "BadRequest", "missing field 'n'");
    raw_send(fd, "{\"id\":3,\"op\":\"echo\",\"args\":{\"n\":\"x\"}}");
    expect_error(fd, 3, "BadRequest", "field 'n' must be an integer");
    raw_send(fd, "{\"id\":4,\"op\":\"echo\",\"args\":{\"n\":-1}}");
    expect_error(fd, 4, "BadRequest", "between 0 and 1000000000");
    raw_send(fd, "{\"id\":5,\"op\":\"fail\"}");
    expect_error(fd, 5, "NotFound", "no such thing 42");
    raw_send(fd, "{\"id\":6,\"op\":\"silent\"}");
    expect_error(fd, 6, "Internal", "op 'silent' failed");
    raw_send(fd, "{\"id\":7,\"op\":\"cancel\",\"args\":{\"target\":\"x\"}}");
    expect_error(fd, 7, "BadRequest", "field 'target' must be an integer");
    raw_send(fd, "{\"id\":8,\"op\":\"cancel\"}");
    expect_error(fd, 8, "BadRequest", "missing field 'target'");
    raw_send(fd, "{\"id\":9,\"op\":\"cancel\",\"args\":{\"target\":999}}");
    json_t *m = expect_result(fd, 9);
    assert_true(json_is_false(json_object_get(json_object_get(m, "result"), "cancelled")));
    json_decref(m);
    /* The connection survived all of that; args may be omitted or null. */
    raw_send(fd, "{\"id\":10,\"op\":\"status\"}");
    json_decref(expect_result(fd, 10));
    raw_send(fd, "{\"id\":11,\"op\":\"status\",\"args\":null}");
    json_decref(expect_result(fd, 11));
    raw_send(fd, "{\"id\":9007199254740992,\"op\":\"echo\",\"args\":{\"n\":1},\"extra\":1}");
    json_decref(expect_result(fd, 9007199254740992LL));
    close(fd);
}

static void test_big_result(void **state)
{
    fixture *fx = *state;
    char *res = NULL;
    assert_int_equal(palisade_call(fx->bystander, "big", NULL, &res), PALISADE_FAILED);
    assert_null(res);
    assert_string_equal(palisade_error_code(fx->bystander), "Internal");
    assert_non_null(strstr(palisade_error_string(fx->bystander), "16 MiB"));
    bystander_ok(fx);
}

static void test_duplicate_id(void **state)
{
    fixture *fx = *state;
    int before = atomic_load(&g_stream_cancelled);
    int fd = raw_connect(fx->path);
    raw_hello(fd);
    raw_send(fd, "{\"id\":5,\"op\":\"stream\"}");
    json_t *m = raw_recv(fd);
    assert_string_equal(json_string_value(json_object_get(m, "event")), "tick");
    json_decref(m);
    raw_send(fd, "{\"id\":5,\"op\":\"stream\"}");
    /* Events of request 5 may come first; the error then the close must follow. */
    for (;;) {
        m = raw_recv(fd);
        assert_non_null(m);
        if (json_object_get(m, "error"))
            break;
        json_decref(m);
    }
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "error"), "code")),
                        "ProtocolError");
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(m, "error"), "message")),
               "already in flight"));
    json_decref(m);
    expect_closed(fd);
    wait_counter(&g_stream_cancelled, before + 1); /* the close cancelled stream 5 */
}

/* ---- libpalisade ---------------------------------------------------------------------------- */

static void test_client_basics(void **state)
{
    fixture *fx = *state;
    /* No agent: Unavailable, with a message saying how to start it. */
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/missing.sock", fx->dir);
    palisade *h = palisade_new();
    assert_int_equal(palisade_connect(h, missing), PALISADE_FAILED);
    assert_string_equal(palisade_error_code(h), "Unavailable");
    char want[256];
    snprintf(want, sizeof(want),
             "palisaded is not running (socket %s): start it with "
             "`systemctl start palisaded`",
             missing);
    assert_non_null(strstr(palisade_error_string(h), want));
    /* Not connected: calls fail cleanly, the handle lives on. */
    assert_int_equal(palisade_call(h, "status", NULL, NULL), PALISADE_FAILED);
    assert_string_equal(palisade_error_code(h), "BadRequest");
    /* The environment variable names the socket when the argument does not. */
    setenv("PALISADE_SOCKET", fx->path, 1);
    assert_int_equal(palisade_connect(h, NULL), PALISADE_OK);
    unsetenv("PALISADE_SOCKET");
    assert_null(palisade_error_code(h));
    assert_null(palisade_error_string(h));
    assert_string_equal(palisade_socket_path(h), fx->path);
    assert_non_null(strstr(palisade_agent_info(h), "\"admin\":true"));
    assert_non_null(strstr(palisade_agent_info(h), TEST_VERSION));
    assert_int_equal(palisade_connect(h, fx->path), PALISADE_FAILED); /* already */

    char *res = NULL;
    assert_int_equal(palisade_call(h, "echo", "{\"n\":12}", &res), PALISADE_OK);
    json_error_t je;
    json_t *r = json_loads(res, 0, &je);
    assert_int_equal(json_integer_value(json_object_get(r, "n")), 12);
    json_decref(r);
    palisade_free_string(res);
    /* Bad args from the caller: this call fails, the connection stays. */
    assert_int_equal(palisade_call(h, "echo", "{\"n\":", &res), PALISADE_FAILED);
    assert_string_equal(palisade_error_code(h), "BadRequest");
    assert_int_equal(palisade_call(h, "echo", "[1]", &res), PALISADE_FAILED);
    assert_int_equal(palisade_call(h, "echo", "{\"n\":1,\"n\":2}", &res), PALISADE_FAILED);
    assert_int_equal(palisade_call(h, "", NULL, &res), PALISADE_FAILED);
    assert_int_equal(palisade_call(h, NULL, NULL, &res), PALISADE_FAILED);
    /* The agent's errors come through with code and message. */
    assert_int_equal(palisade_call(h, "fail", NULL, &res), PALISADE_FAILED);
    assert_string_equal(palisade_error_code(h), "NotFound");
    assert_string_equal(palisade_error_string(h), "no such thing 42");
    assert_int_equal(palisade_call(h, "nope", "{}", &res), PALISADE_FAILED);
    assert_string_equal(palisade_error_code(h), "UnknownOp");
    assert_int_equal(palisade_call(h, "status", "", NULL), PALISADE_OK);
    assert_null(palisade_error_code(h));
    /* Nothing started: next_event says so instead of waiting forever. */
    int64_t rid;
    char *js;
    assert_int_equal(palisade_next_event(h, 10, &rid, &js), PALISADE_FAILED);
    assert_string_equal(palisade_error_code(h), "NotFound");
    assert_int_equal(palisade_cancel(h, 0), PALISADE_FAILED);
    assert_int_equal(palisade_cancel(h, 12345), 0);
    assert_int_equal(palisade_close(h), PALISADE_OK);

    /* Invalid handles never crash. */
    assert_int_equal(palisade_call(NULL, "status", NULL, NULL), PALISADE_FATAL);
    assert_int_equal(palisade_connect(NULL, NULL), PALISADE_FATAL);
    assert_int_equal(palisade_next_event(NULL, 0, &rid, &js), PALISADE_FATAL);
    assert_int_equal(palisade_cancel(NULL, 1), PALISADE_FATAL);
    assert_true(palisade_start(NULL, "x", NULL) < 0);
    assert_non_null(palisade_error_code(NULL));
    assert_non_null(palisade_error_string(NULL));
    assert_null(palisade_agent_info(NULL));
    assert_int_equal(palisade_close(NULL), PALISADE_OK);
    assert_string_equal(palisade_version(), PALISADE_VERSION_STRING);
}

typedef struct worker_arg {
    const char *path;
    int index;
    int failures;
} worker_arg;

static void *client_worker(void *p)
{
    worker_arg *w = p;
    palisade *h = palisade_new();
    if (!h || palisade_connect(h, w->path) != PALISADE_OK) {
        w->failures = 1000;
        palisade_close(h);
        return NULL;
    }
    for (int i = 0; i < 100; i++) {
        int n = w->index * 1000 + i;
        char args[64], *res = NULL;
        snprintf(args, sizeof(args), "{\"n\":%d}", n);
        if (palisade_call(h, "echo", args, &res) != PALISADE_OK) {
            w->failures++;
            continue;
        }
        json_error_t je;
        json_t *r = json_loads(res, 0, &je);
        if (!r || json_integer_value(json_object_get(r, "n")) != n)
            w->failures++;
        json_decref(r);
        palisade_free_string(res);
        if (i % 10 == 0 && (palisade_call(h, "nope", NULL, NULL) != PALISADE_FAILED ||
                            strcmp(palisade_error_code(h), "UnknownOp") != 0))
            w->failures++;
    }
    palisade_close(h);
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    fixture *fx = *state;
    enum { N = 20 };
    pthread_t t[N];
    worker_arg w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker_arg){.path = fx->path, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, client_worker, &w[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (w[i].failures)
            fail_msg("client %d: %d failures", i, w[i].failures);
    }
    bystander_ok(fx);
}

/* Drain h until the RESULT of id; returns the result JSON (caller frees). */
static char *drain_until_result(palisade *h, int64_t id, int *events)
{
    for (;;) {
        int64_t rid;
        char *js = NULL;
        int k = palisade_next_event(h, SAFETY_MS, &rid, &js);
        if (k == PALISADE_EVENT) {
            if (rid == id && events)
                (*events)++;
            palisade_free_string(js);
            continue;
        }
        if (k == PALISADE_RESULT && rid == id)
            return js;
        fail_msg("next_event: kind %d id %lld (%s: %s)", k, (long long)rid, palisade_error_code(h),
                 palisade_error_string(h));
    }
}

static void test_stream_cancel(void **state)
{
    fixture *fx = *state;
    int before = atomic_load(&g_stream_cancelled);
    palisade *h = palisade_new();
    assert_int_equal(palisade_connect(h, fx->path), PALISADE_OK);
    int64_t id = palisade_start(h, "stream", NULL);
    assert_true(id > 0);
    for (int i = 0; i < 3; i++) {
        int64_t rid;
        char *js;
        assert_int_equal(palisade_next_event(h, SAFETY_MS, &rid, &js), PALISADE_EVENT);
        assert_int_equal(rid, id);
        json_error_t je;
        json_t *ev = json_loads(js, 0, &je);
        assert_string_equal(json_string_value(json_object_get(ev, "event")), "tick");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "data"), "n")), i);
        json_decref(ev);
        palisade_free_string(js);
    }
    /* A call while the stream runs: its events queue up meanwhile. */
    assert_int_equal(palisade_call(h, "echo", "{\"n\":1}", NULL), PALISADE_OK);
    assert_int_equal(palisade_cancel(h, id), 1);
    char *res = drain_until_result(h, id, NULL);
    assert_non_null(strstr(res, "\"status\":\"Cancelled\""));
    palisade_free_string(res);
    assert_int_equal(atomic_load(&g_stream_cancelled), before + 1);
    /* Finished: cancelling again finds nothing, and nothing is left to wait for. */
    assert_int_equal(palisade_cancel(h, id), 0);
    int64_t rid;
    char *js;
    assert_int_equal(palisade_next_event(h, 0, &rid, &js), PALISADE_FAILED);
    palisade_close(h);
}

static void test_stream_parallel(void **state)
{
    fixture *fx = *state;
    palisade *h = palisade_new();
    assert_int_equal(palisade_connect(h, fx->path), PALISADE_OK);
    int64_t a = palisade_start(h, "stream", NULL);
    int64_t b = palisade_start(h, "stream", "{\"count\":5}");
    int64_t c = palisade_start(h, "stream", "{\"count\":\"x\"}");
    assert_true(a > 0 && b > 0 && c > 0 && a != b && b != c);
    int b_events = 0, seen_a = 0;
    bool b_done = false, c_done = false;
    while (!b_done || !c_done || seen_a < 2) {
        int64_t rid;
        char *js = NULL;
        int k = palisade_next_event(h, SAFETY_MS, &rid, &js);
        if (k == PALISADE_EVENT && rid == a) {
            seen_a++;
        } else if (k == PALISADE_EVENT && rid == b) {
            b_events++;
        } else if (k == PALISADE_RESULT && rid == b) {
            assert_non_null(strstr(js, "\"status\":\"Completed\""));
            b_done = true;
        } else if (k == PALISADE_ERROR && rid == c) {
            assert_string_equal(palisade_error_code(h), "BadRequest");
            assert_non_null(strstr(js, "field 'count' must be an integer"));
            c_done = true;
        } else {
            fail_msg("unexpected kind %d for %lld: %s", k, (long long)rid, js ? js : "");
        }
        palisade_free_string(js);
    }
    assert_int_equal(b_events, 5);
    assert_int_equal(palisade_cancel(h, a), 1);
    char *res = drain_until_result(h, a, NULL);
    assert_non_null(strstr(res, "Cancelled"));
    palisade_free_string(res);
    palisade_close(h);
}

static void test_stream_limit(void **state)
{
    fixture *fx = *state;
    palisade *h = palisade_new();
    assert_int_equal(palisade_connect(h, fx->path), PALISADE_OK);
    int64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = palisade_start(h, "stream", NULL);
    /* max_streaming is 4 in the fixture: the fifth is refused, the others run. */
    int64_t rid = 0;
    char *js = NULL;
    for (;;) {
        int k = palisade_next_event(h, SAFETY_MS, &rid, &js);
        if (k == PALISADE_ERROR)
            break;
        assert_int_equal(k, PALISADE_EVENT);
        palisade_free_string(js);
    }
    assert_int_equal(rid, ids[4]);
    assert_string_equal(palisade_error_code(h), "Busy");
    assert_non_null(strstr(js, "too many requests in flight"));
    palisade_free_string(js);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(palisade_cancel(h, ids[i]), 1);
        char *res = drain_until_result(h, ids[i], NULL);
        palisade_free_string(res);
    }
    palisade_close(h);
}

static void test_disconnect_cancels(void **state)
{
    fixture *fx = *state;
    int before = atomic_load(&g_stream_cancelled);
    /* A raw client goes away mid-stream. */
    int fd = raw_connect(fx->path);
    raw_hello(fd);
    raw_send(fd, "{\"id\":1,\"op\":\"stream\"}");
    json_t *m = raw_recv(fd);
    assert_non_null(json_object_get(m, "event"));
    json_decref(m);
    close(fd);
    wait_counter(&g_stream_cancelled, before + 1);
    /* So does a libpalisade client with two streams in flight. */
    palisade *h = palisade_new();
    assert_int_equal(palisade_connect(h, fx->path), PALISADE_OK);
    int64_t a = palisade_start(h, "stream", NULL);
    int64_t b = palisade_start(h, "stream", NULL);
    int64_t rid;
    char *js;
    assert_int_equal(palisade_next_event(h, SAFETY_MS, &rid, &js), PALISADE_EVENT);
    assert_true(rid == a || rid == b);
    palisade_free_string(js);
    palisade_close(h);
    wait_counter(&g_stream_cancelled, before + 3);
    bystander_ok(fx);
}

static void test_slow_reader(void **state)
{
    fixture *fx = *state;
    int before = atomic_load(&g_stream_cancelled);
    int fd = raw_connect(fx->path);
    raw_hello(fd);
    /* Events of 64 KiB as fast as possible, and this client never reads them. */
    raw_send(fd, "{\"id\":1,\"op\":\"stream\",\"args\":{\"pad\":65536}}");
    bystander_ok(fx);
    /* The server gives up on it after its write timeout and cancels its request. */
    wait_counter(&g_stream_cancelled, before + 1);
    bystander_ok(fx);
    close(fd);
}

static void test_max_connections(void **state)
{
    fixture *fx = *state; /* max_connections 4, root may hold 2, the bystander holds one */
    int a = raw_connect(fx->path);
    raw_hello(a);
    /* One uid never takes the whole table: the third of uid 0's is refused at once. */
    int c = raw_connect(fx->path);
    expect_error(c, -1, "Busy", "the per-user limit is 2");
    expect_closed(c);
    bystander_ok(fx);
    assert_int_equal(pal_ctl_server_connections(fx->srv), 2);
    close(a);
    /* The slot frees once the server has seen a's close. */
    bool ok = false;
    for (int i = 0; i < SAFETY_MS / 10 && !ok; i++) {
        palisade *h = palisade_new();
        ok = palisade_connect(h, fx->path) == PALISADE_OK;
        if (!ok) {
            assert_string_equal(palisade_error_code(h), "Busy");
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        palisade_close(h);
    }
    assert_true(ok);
}

/* Log lines the server hands the daemon, for the rate-limit test. */
typedef struct log_capture {
    pthread_mutex_t mu;
    int protocol_errors; /* "protocol error" lines */
    int summaries;       /* "suppressed N" lines */
    unsigned long long suppressed;
} log_capture;

static void capture_log(void *arg, int level, const char *msg)
{
    (void)level;
    log_capture *lc = arg;
    pthread_mutex_lock(&lc->mu);
    if (strstr(msg, "protocol error from"))
        lc->protocol_errors++;
    const char *p = strstr(msg, "suppressed ");
    if (p) {
        lc->summaries++;
        lc->suppressed += strtoull(p + strlen("suppressed "), NULL, 10);
    }
    pthread_mutex_unlock(&lc->mu);
}

static void test_protocol_errors_rate_limited(void **state)
{
    (void)state;
    char dir[64], path[128];
    make_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/log.sock", dir);
    log_capture lc = {.mu = PTHREAD_MUTEX_INITIALIZER};
    pal_ctl_config cfg;
    test_config(&cfg, path);
    cfg.log = capture_log;
    cfg.log_arg = &lc;
    pal_ctl_server *s = start_server(&cfg);
    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        int fd = raw_connect(path);
        raw_send(fd, "[1]"); /* not an object: ProtocolError, one log line's worth */
        expect_error(fd, -1, "ProtocolError", "");
        expect_closed(fd);
    }
    /* 10 lines per uid and 5 s window; the rest is counted, and said at the latest at stop. */
    pal_ctl_server_free(s);
    assert_int_equal(rmdir(dir), 0);
    assert_true(lc.protocol_errors >= 10);
    assert_true(lc.protocol_errors <= 10 * (1 + N / 10)); /* one burst per window at most */
    assert_true(lc.summaries >= 1);
    assert_int_equal((unsigned long long)lc.protocol_errors + lc.suppressed, N);
}

static void test_idle_after_hello(void **state)
{
    (void)state;
    char dir[64], path[128];
    make_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/idle.sock", dir);
    pal_ctl_config cfg;
    test_config(&cfg, path);
    cfg.idle_timeout_ms = 300;
    pal_ctl_server *s = start_server(&cfg);

    /* Says hello, then nothing: Busy naming the idle timeout, then closed. */
    int idle = raw_connect(path);
    raw_hello(idle);
    /* A request in flight is not idle: a stream of 40 ticks, ~2 ms apart, then more. */
    int busy = raw_connect(path);
    raw_hello(busy);
    raw_send(busy, "{\"id\":1,\"op\":\"stream\",\"args\":{\"count\":250}}");
    expect_error(idle, -1, "Busy", "idle timeout");
    expect_closed(idle);
    json_t *m = expect_result(busy, 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "result"), "status")),
                        "Completed");
    json_decref(m);
    /* ... and the idle time counts from the response: the next request is served. */
    raw_send(busy, "{\"id\":2,\"op\":\"status\"}");
    json_decref(expect_result(busy, 2));
    expect_error(busy, -1, "Busy", "idle timeout");
    expect_closed(busy);

    /* Changed at run time: a longer timeout keeps a quiet connection open past 300 ms. */
    assert_int_equal(pal_ctl_server_set_idle_timeout(s, SAFETY_MS), 0);
    assert_int_equal(pal_ctl_server_set_idle_timeout(s, 0), PAL_EINVAL);
    int later = raw_connect(path);
    raw_hello(later);
    struct timespec ts = {0, 600 * 1000000L};
    nanosleep(&ts, NULL);
    raw_send(later, "{\"id\":1,\"op\":\"status\"}");
    json_decref(expect_result(later, 1));
    close(later);
    pal_ctl_server_free(s);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- peerlimit.c on its own ------------------------------------------------------------------ */

static void test_peer_count(void **state)
{
    (void)state;
    pal_peer_count *t = pal_peer_count_new(3);
    assert_non_null(t);
    unsigned held = 99;
    assert_true(pal_peer_count_take(t, 1000, 2, &held));
    assert_int_equal(held, 0);
    assert_true(pal_peer_count_take(t, 1000, 2, &held));
    assert_false(pal_peer_count_take(t, 1000, 2, &held));
    assert_int_equal(held, 2);
    assert_true(pal_peer_count_take(t, 1001, 2, NULL));
    assert_true(pal_peer_count_take(t, 1002, 2, NULL));
    assert_false(pal_peer_count_take(t, 1003, 2, NULL)); /* 3 uids in a table of 3 */
    pal_peer_count_give(t, 1000);
    assert_int_equal(pal_peer_count_held(t, 1000), 1);
    pal_peer_count_give(t, 1001); /* its last: the slot is free again */
    assert_int_equal(pal_peer_count_held(t, 1001), 0);
    assert_true(pal_peer_count_take(t, 1003, 2, NULL));
    assert_false(pal_peer_count_take(t, 1004, 0, NULL));
    pal_peer_count_give(t, 4242); /* not held: ignored */
    pal_peer_count_free(t);
    assert_null(pal_peer_count_new(0));
    pal_peer_count_free(NULL);
}

static void test_peer_log(void **state)
{
    (void)state;
    pal_peer_log *l = pal_peer_log_new(3, 1000);
    assert_non_null(l);
    pal_peer_summary sum, out[PAL_PEER_LOG_SLOTS + 1];
    bool have;
    size_t n;
    int logged = 0;
    for (int i = 0; i < 100; i++) {
        logged += pal_peer_log_admit(l, 7, 10 + i, &sum, &have);
        assert_false(have);
    }
    assert_int_equal(logged, 3);
    /* Another uid has its own window. */
    assert_true(pal_peer_log_admit(l, 8, 50, &sum, &have));
    /* Before the window ends: nothing to say, and the timer is its end. */
    assert_int_equal(pal_peer_log_flush(l, 500, out, 4, &n), 1010);
    assert_int_equal(n, 0);
    /* At its end: one summary of 97. uid 8 suppressed nothing: no summary, no timer. */
    assert_int_equal(pal_peer_log_flush(l, 1010, out, 4, &n), -1);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].uid, 7);
    assert_int_equal(out[0].suppressed, 97);
    /* A new window: 3 more lines; the summary of a window that ended comes with the next
       line of that uid when no flush ran in between. */
    for (int i = 0; i < 5; i++)
        pal_peer_log_admit(l, 7, 2000, &sum, &have);
    assert_true(pal_peer_log_admit(l, 7, 3500, &sum, &have));
    assert_true(have);
    assert_int_equal(sum.suppressed, 2);
    /* More uids than slots: the rest share one window, reported as uid -1. */
    for (uid_t u = 100; u < 100 + 2 * PAL_PEER_LOG_SLOTS; u++)
        for (int i = 0; i < 4; i++)
            pal_peer_log_admit(l, u, 4000, &sum, &have);
    assert_int_equal(pal_peer_log_flush(l, 9000, out, PAL_PEER_LOG_SLOTS + 1, &n), -1);
    assert_int_equal(n, PAL_PEER_LOG_SLOTS); /* 63 slots (uid 7 holds one) + the shared one */
    bool others = false;
    for (size_t i = 0; i < n; i++)
        others |= out[i].uid == (uid_t)-1;
    assert_true(others);
    pal_peer_log_free(l);
    assert_null(pal_peer_log_new(0, 10));
    pal_peer_log_free(NULL);
}

static void test_shutdown(void **state)
{
    fixture *fx = *state;
    int before = atomic_load(&g_stream_cancelled);
    palisade *h = palisade_new();
    assert_int_equal(palisade_connect(h, fx->path), PALISADE_OK);
    int64_t id = palisade_start(h, "stream", NULL);
    int64_t rid;
    char *js;
    assert_int_equal(palisade_next_event(h, SAFETY_MS, &rid, &js), PALISADE_EVENT);
    palisade_free_string(js);
    int raw = raw_connect(fx->path); /* connected, no hello: closed by the stop as well */

    /* Stop: no new connections, in-flight requests cancelled, their results still sent. */
    pal_ctl_server_stop(fx->srv);
    assert_int_equal(pal_ctl_server_connections(fx->srv), 0);
    assert_int_equal(atomic_load(&g_stream_cancelled), before + 1);
    struct stat st;
    assert_int_equal(lstat(fx->path, &st), -1);
    char *res = drain_until_result(h, id, NULL);
    assert_non_null(strstr(res, "\"status\":\"Cancelled\""));
    palisade_free_string(res);
    /* Then the connection is gone, and the client says so. */
    assert_int_equal(palisade_call(h, "status", NULL, NULL), PALISADE_FATAL);
    assert_string_equal(palisade_error_code(h), "Unavailable");
    assert_int_equal(palisade_call(h, "status", NULL, NULL), PALISADE_FATAL); /* stays dead */
    assert_string_equal(palisade_error_code(h), "Unavailable");
    palisade_close(h);
    expect_closed(raw);
    assert_int_equal(palisade_call(fx->bystander, "status", NULL, NULL), PALISADE_FATAL);
    pal_ctl_server_stop(fx->srv); /* idempotent */
    h = palisade_new();
    assert_int_equal(palisade_connect(h, fx->path), PALISADE_FAILED);
    assert_string_equal(palisade_error_code(h), "Unavailable");
    palisade_close(h);
}

/* ---- socket setup and registration ----------------------------------------------------------- */

static void test_socket_setup(void **state)
{
    (void)state;
    char dir[64], path[96];
    make_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/ctl.sock", dir);
    pal_ctl_config cfg;
    test_config(&cfg, path);
    cfg.socket_mode = 0; /* the protocol's 0660 */
    pal_ctl_server *s = start_server(&cfg);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0660);
    assert_int_equal(st.st_gid, 0); /* the admin group does not exist: root only */

    /* A second daemon on the same socket is refused; the first keeps it. */
    pal_ctl_server *s2 = NULL;
    pal_errbuf err;
    assert_int_equal(pal_ctl_server_new(&cfg, &s2, &err), 0);
    assert_int_equal(pal_ctl_server_start(s2, &err), PAL_EEXIST);
    assert_non_null(strstr(err.msg, "another palisaded is already listening"));
    pal_ctl_server_free(s2);
    palisade *h = palisade_new();
    assert_int_equal(palisade_connect(h, path), PALISADE_OK);
    palisade_close(h);

    /* The group follows AdminGroup at run time. */
    struct group *gr = getgrnam("nogroup");
    if (gr) {
        gid_t gid = gr->gr_gid;
        assert_int_equal(pal_ctl_server_set_admin_group(s, "nogroup", &err), 0);
        assert_int_equal(lstat(path, &st), 0);
        assert_int_equal(st.st_gid, gid);
    }
    assert_int_equal(pal_ctl_server_set_admin_group(s, "", &err), PAL_EINVAL);
    /* Registration is closed once running. */
    assert_int_equal(pal_ctl_server_register(s, test_ops, 1, NULL, &err), PAL_ESTATE);
    assert_int_equal(pal_ctl_server_start(s, &err), PAL_ESTATE);
    pal_ctl_server_free(s);
    assert_int_equal(lstat(path, &st), -1);

    /* A stale socket (its daemon died) is replaced. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    assert_int_equal(lstat(path, &st), 0);
    s = start_server(&cfg);
    h = palisade_new();
    assert_int_equal(palisade_connect(h, path), PALISADE_OK);
    palisade_close(h);
    pal_ctl_server_free(s);

    /* Anything else at the path is left alone. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "keep", 4), 4);
    close(fd);
    assert_int_equal(pal_ctl_server_new(&cfg, &s2, &err), 0);
    assert_int_equal(pal_ctl_server_start(s2, &err), PAL_EEXIST);
    assert_non_null(strstr(err.msg, "is not a socket"));
    pal_ctl_server_free(s2);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 4);
    assert_int_equal(unlink(path), 0);

    /* Paths that do not fit sun_path. */
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    cfg.socket_path = longpath;
    assert_int_equal(pal_ctl_server_new(&cfg, &s2, &err), 0);
    assert_int_equal(pal_ctl_server_start(s2, &err), PAL_EINVAL);
    pal_ctl_server_free(s2);

    /* Registration rules. */
    cfg.socket_path = path;
    assert_int_equal(pal_ctl_server_new(&cfg, &s2, &err), 0);
    static const pal_ctl_op hello_op[] = {{"hello", 0, op_status}};
    static const pal_ctl_op cancel_op[] = {{"cancel", 0, op_status}};
    static const pal_ctl_op twice[] = {{"a", 0, op_status}, {"a", 0, op_status}};
    static const pal_ctl_op no_fn[] = {{"b", 0, NULL}};
    static const pal_ctl_op bad_flag[] = {{"c", 0x80, op_status}};
    assert_int_equal(pal_ctl_server_register(s2, hello_op, 1, NULL, &err), PAL_EEXIST);
    assert_int_equal(pal_ctl_server_register(s2, cancel_op, 1, NULL, &err), PAL_EEXIST);
    assert_int_equal(pal_ctl_server_register(s2, twice, 2, NULL, &err), PAL_EEXIST);
    assert_int_equal(pal_ctl_server_register(s2, no_fn, 1, NULL, &err), PAL_EINVAL);
    assert_int_equal(pal_ctl_server_register(s2, bad_flag, 1, NULL, &err), PAL_EINVAL);
    assert_int_equal(pal_ctl_server_register(s2, test_ops, 2, NULL, &err), 0);
    assert_int_equal(pal_ctl_server_register(s2, test_ops + 1, 1, NULL, &err), PAL_EEXIST);
    pal_ctl_server_free(s2); /* never started: free is enough */
    pal_ctl_server_free(NULL);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- a real unprivileged user ---------------------------------------------------------------- */

static int child_fail(int step, palisade *h)
{
    fprintf(stderr, "unprivileged child: step %d failed: %s: %s\n", step,
            h ? palisade_error_code(h) : "-", h ? palisade_error_string(h) : "-");
    return step;
}

static bool code_is(palisade *h, const char *code)
{
    const char *c = palisade_error_code(h);
    return c && strcmp(c, code) == 0;
}

/* Runs as nobody in a child forked while the test process had no other thread. */
static int unprivileged_client(const char *open_path, const char *closed_path, int rd, int wr)
{
    char c;
    if (read(rd, &c, 1) != 1)
        return child_fail(1, NULL);
    if (setgroups(0, NULL) < 0 || setgid(NOBODY_ID) < 0 || setuid(NOBODY_ID) < 0 ||
        getuid() != NOBODY_ID || geteuid() != NOBODY_ID)
        return child_fail(2, NULL);

    /* The protocol's socket mode (0660, root:root without the group) keeps nobody out. */
    palisade *h = palisade_new();
    if (palisade_connect(h, closed_path) != PALISADE_FAILED || !code_is(h, "AccessDenied"))
        return child_fail(3, h);
    palisade_close(h);

    h = palisade_new();
    if (palisade_connect(h, open_path) != PALISADE_OK)
        return child_fail(4, h);
    const char *info = palisade_agent_info(h);
    if (!strstr(info, "\"admin\":false") || !strstr(info, "\"uid\":65534"))
        return child_fail(5, h);
    char *res = NULL;
    if (palisade_call(h, "status", NULL, &res) != PALISADE_OK || !strstr(res, "\"admin\":false"))
        return child_fail(6, h);
    palisade_free_string(res);
    if (palisade_call(h, "echo", "{\"n\":1}", &res) != PALISADE_FAILED ||
        !code_is(h, "AccessDenied") || !strstr(palisade_error_string(h), NO_GROUP))
        return child_fail(7, h);
    int64_t id = palisade_start(h, "stream", NULL);
    int64_t rid;
    char *js = NULL;
    if (id <= 0 || palisade_next_event(h, SAFETY_MS, &rid, &js) != PALISADE_ERROR || rid != id ||
        !code_is(h, "AccessDenied"))
        return child_fail(8, h);
    palisade_free_string(js);
    if (palisade_cancel(h, id) != PALISADE_FAILED || !code_is(h, "AccessDenied"))
        return child_fail(9, h);

    /* The parent makes nobody's primary group the admin group. */
    if (write(wr, "1", 1) != 1 || read(rd, &c, 1) != 1)
        return child_fail(10, h);
    if (palisade_call(h, "echo", "{\"n\":2}", NULL) != PALISADE_OK)
        return child_fail(11, h); /* same connection, re-resolved */
    palisade_close(h);
    h = palisade_new();
    if (palisade_connect(h, open_path) != PALISADE_OK ||
        !strstr(palisade_agent_info(h), "\"admin\":true"))
        return child_fail(12, h);
    palisade_close(h);
    return 0;
}

static void test_unprivileged(void **state)
{
    (void)state;
    if (getuid() != 0) {
        print_message("SKIPPED test_unprivileged: needs root to become 'nobody' "
                      "(the admin check for a real unprivileged user)\n");
        skip();
    }
    struct passwd *pw = getpwnam("nobody");
    struct group *gr = getgrnam("nogroup");
    if (!pw || !gr || pw->pw_uid != NOBODY_ID || pw->pw_gid != gr->gr_gid) {
        print_message("SKIPPED test_unprivileged: no nobody:nogroup (65534) on this system\n");
        skip();
    }
    char dir[64], open_path[128], closed_path[128];
    make_dir(dir, sizeof(dir));
    snprintf(open_path, sizeof(open_path), "%s/open.sock", dir);
    snprintf(closed_path, sizeof(closed_path), "%s/closed.sock", dir);
    int to_child[2], to_parent[2];
    assert_int_equal(pipe2(to_child, O_CLOEXEC), 0);
    assert_int_equal(pipe2(to_parent, O_CLOEXEC), 0);
    /* Fork before any server thread exists, so the child is an ordinary process. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        _exit(unprivileged_client(open_path, closed_path, to_child[0], to_parent[1]));
    }
    close(to_child[0]);
    close(to_parent[1]);

    pal_ctl_config cfg;
    test_config(&cfg, open_path); /* mode 0666: anyone may connect and call status */
    pal_ctl_server *open_srv = start_server(&cfg);
    test_config(&cfg, closed_path);
    cfg.socket_mode = 0;
    pal_ctl_server *closed_srv = start_server(&cfg);

    char c = 'g';
    assert_int_equal(write(to_child[1], &c, 1), 1);
    pal_errbuf err;
    if (read(to_parent[0], &c, 1) == 1) {
        assert_int_equal(pal_ctl_server_set_admin_group(open_srv, "nogroup", &err), 0);
        assert_int_equal(write(to_child[1], &c, 1), 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(to_child[1]);
    close(to_parent[0]);
    pal_ctl_server_free(open_srv);
    pal_ctl_server_free(closed_srv);
    assert_int_equal(rmdir(dir), 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("unprivileged client failed at step %d (status 0x%x)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, status);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hello_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hello_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hello_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_without_hello, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_envelope_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frame_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stalled_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_basics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_parallel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_connections, setup_few, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
        cmocka_unit_test(test_protocol_errors_rate_limited),
        cmocka_unit_test(test_idle_after_hello),
        cmocka_unit_test(test_peer_count),
        cmocka_unit_test(test_peer_log),
        cmocka_unit_test(test_socket_setup),
        cmocka_unit_test(test_unprivileged),
    };
    return cmocka_run_group_tests_name("control", tests, NULL, NULL);
}
