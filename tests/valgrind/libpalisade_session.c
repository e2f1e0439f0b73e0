/*
 * libpalisade_session.c — a scripted session that drives every entry point of libpalisade
 * (psmodule/native/palisade.h), on its success and its failure paths, so that valgrind
 * (tests/valgrind/run-session.sh) can show the library frees everything it allocates.
 *
 *   libpalisade_session admin SOCKET DIR   as root or an admin: calls, streaming scans,
 *                                          cancel, errors, a close with requests in flight
 *   libpalisade_session user SOCKET        as an unprivileged user: the fallback to the
 *                                          read-only status socket and AccessDenied
 *   libpalisade_session offline DIR        no agent: Unavailable; and two fake agents in
 *                                          this process (a thread) that break the protocol
 *                                          so the library's fatal paths run
 *
 * Each expectation that fails prints one line naming it; the exit status is 1 if any did.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "palisade.h"

static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("libpalisade_session: FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    failures++;
}

static const char *str_or(const char *s, const char *dflt)
{
    return s ? s : dflt;
}

/* The handle's last error code must be `code` (NULL: no error). */
static void expect_code(palisade *h, const char *code, const char *what)
{
    const char *got = palisade_error_code(h);
    if ((code == NULL) != (got == NULL) || (code && strcmp(code, got) != 0))
        fail("%s: error code %s, want %s (message: %s)", what, str_or(got, "(none)"),
             str_or(code, "(none)"), str_or(palisade_error_string(h), "(none)"));
    if (code && !palisade_error_string(h))
        fail("%s: error code %s without a message", what, code);
}

static void expect_rc(int got, int want, palisade *h, const char *what)
{
    if (got != want)
        fail("%s: returned %d, want %d (%s: %s)", what, got, want,
             str_or(palisade_error_code(h), "-"), str_or(palisade_error_string(h), "-"));
}

/* palisade_call that must succeed; the result must contain `needle` when it is not NULL. */
static void call_ok(palisade *h, const char *op, const char *args, const char *needle)
{
    char *res = NULL;
    int rc = palisade_call(h, op, args, &res);
    expect_rc(rc, PALISADE_OK, h, op);
    expect_code(h, NULL, op);
    if (rc == PALISADE_OK && needle && (!res || !strstr(res, needle)))
        fail("%s: result lacks %s: %s", op, needle, str_or(res, "(null)"));
    palisade_free_string(res);
}

/* palisade_call that must fail with PALISADE_FAILED and `code` (NULL: any code); the
   result pointer must stay untouched. */
static void call_fails(palisade *h, const char *op, const char *args, const char *code)
{
    char *res = NULL;
    int rc = palisade_call(h, op, args, &res);
    expect_rc(rc, PALISADE_FAILED, h, op);
    if (code)
        expect_code(h, code, op);
    else if (!palisade_error_code(h))
        fail("%s: failed without an error code", op);
    if (res) {
        fail("%s: a failed call set its result", op);
        palisade_free_string(res);
    }
}

/*
 * Read the messages of the started requests until every id in ids[] has ended (or a
 * bound on polls passes). ended_kind[i] receives the kind that ended ids[i]; *events
 * counts the events seen. Returns false if the bound passed or the library failed.
 */
static bool drain(palisade *h, const int64_t *ids, int *ended_kind, size_t n, int timeout_ms,
                  size_t *events)
{
    size_t open = n;
    for (int polls = 0; open > 0 && polls < 6000; polls++) {
        int64_t rid = -1;
        char *json = NULL;
        int k = palisade_next_event(h, timeout_ms, &rid, &json);
        if (k == PALISADE_TIMEOUT) {
            if (rid != 0 || json)
                fail("next_event: a timeout set its outputs");
            continue;
        }
        if (k < 0) {
            fail("next_event: returned %d (%s: %s)", k, str_or(palisade_error_code(h), "-"),
                 str_or(palisade_error_string(h), "-"));
            return false;
        }
        if (!json)
            fail("next_event: kind %d without JSON", k);
        size_t i = 0;
        while (i < n && ids[i] != rid)
            i++;
        if (i == n) {
            fail("next_event: a message for id %lld, which was not started", (long long)rid);
        } else if (k == PALISADE_EVENT) {
            (*events)++;
        } else {
            if (ended_kind[i] != 0)
                fail("next_event: request %lld ended twice", (long long)rid);
            ended_kind[i] = k;
            open--;
        }
        palisade_free_string(json);
    }
    return open == 0;
}

static void before_connect(palisade *h)
{
    char *res = NULL;
    int64_t rid = 0;
    expect_code(h, NULL, "new handle");
    if (palisade_socket_path(h) != NULL)
        fail("socket_path before connect is not NULL");
    if (palisade_agent_info(h) != NULL)
        fail("agent_info before connect is not NULL");
    expect_rc(palisade_call(h, "status", NULL, &res), PALISADE_FAILED, h, "call unconnected");
    expect_code(h, "BadRequest", "call unconnected");
    expect_rc((int)palisade_start(h, "status", NULL), PALISADE_FAILED, h, "start unconnected");
    expect_rc(palisade_next_event(h, 0, &rid, &res), PALISADE_FAILED, h, "next unconnected");
    expect_rc(palisade_cancel(h, 1), PALISADE_FAILED, h, "cancel unconnected");
}

static void session_admin(const char *sock, const char *dir)
{
    palisade *h = palisade_new();
    if (!h) {
        fail("palisade_new returned NULL");
        return;
    }
    before_connect(h);
    expect_rc(palisade_connect(h, sock), PALISADE_OK, h, "connect");
    expect_rc(palisade_connect(h, sock), PALISADE_FAILED, h, "connect twice");
    expect_code(h, "BadRequest", "connect twice");
    if (!palisade_socket_path(h) || strcmp(palisade_socket_path(h), sock) != 0)
        fail("socket_path is %s, want %s", str_or(palisade_socket_path(h), "(null)"), sock);
    const char *info = palisade_agent_info(h);
    if (!info || !strstr(info, "\"admin\":true"))
        fail("agent_info does not say admin: %s", str_or(info, "(null)"));

    /* plain calls, with and without a result */
    call_ok(h, "status", NULL, "\"agent_version\"");
    call_ok(h, "status", "", "\"sandbox_mode\"");
    expect_rc(palisade_call(h, "status", NULL, NULL), PALISADE_OK, h, "call without result");
    call_ok(h, "config.list", NULL, "\"SandboxMode\"");
    call_ok(h, "config.get", "{\"name\":\"ScanThreads\"}", "\"ScanThreads\"");
    call_ok(h, "config.set", "{\"name\":\"SandboxMode\",\"value\":\"Enabled\"}", "\"Enabled\"");
    call_ok(h, "exclusion.add", "{\"kind\":\"Extension\",\"value\":\"vgtest\"}", "vgtest");
    call_ok(h, "exclusion.list", NULL, "vgtest");
    call_ok(h, "exclusion.remove", "{\"kind\":\"Extension\",\"value\":\"vgtest\"}", "\"items\"");
    call_ok(h, "scans.list", "{\"limit\":5}", "\"items\"");
    call_ok(h, "threats.list", "{\"limit\":5}", "\"items\"");

    /* failures the agent reports, and the library's own */
    call_fails(h, "config.get", "{\"name\":\"NoSuchSetting\"}", "NotFound");
    call_fails(h, "config.set", "{\"name\":\"SandboxMode\",\"value\":\"Sometimes\"}",
               "InvalidValue");
    call_fails(h, "exclusion.remove", "{\"kind\":\"Path\",\"value\":\"/not/excluded\"}",
               "NotFound");
    call_fails(h, "no.such.op", NULL, "UnknownOp");
    call_fails(h, "status", "{not json", "BadRequest");
    call_fails(h, "status", "[1,2]", "BadRequest");
    call_fails(h, "", NULL, "BadRequest");
    call_fails(h, NULL, NULL, "BadRequest");

    /* the remediation ops, whichever way this agent answers them: no leak either way */
    static const char *const remediation[] = {"quarantine.list", "allow.list"};
    for (size_t i = 0; i < sizeof(remediation) / sizeof(*remediation); i++) {
        char *res = NULL;
        if (palisade_call(h, remediation[i], NULL, &res) == PALISADE_OK)
            palisade_free_string(res);
        else if (!palisade_error_code(h))
            fail("%s failed without an error code", remediation[i]);
    }
    /* NotFound, or UnknownOp from an agent without remediation */
    call_fails(h, "quarantine.get", "{\"id\":999999}", NULL);

    /* streaming: nothing in flight yet */
    int64_t rid = 0;
    char *json = NULL;
    expect_rc(palisade_next_event(h, 0, &rid, &json), PALISADE_FAILED, h, "next idle");
    expect_code(h, "NotFound", "next idle");
    expect_rc(palisade_next_event(h, 0, NULL, &json), PALISADE_FAILED, h, "next NULL id");
    expect_rc((int)palisade_start(h, "scan.start", "{bad"), PALISADE_FAILED, h, "start bad args");
    expect_code(h, "BadRequest", "start bad args");
    expect_rc(palisade_cancel(h, 0), PALISADE_FAILED, h, "cancel id 0");
    expect_code(h, "BadRequest", "cancel id 0");

    /* a scan to its result, with its progress events */
    char args[4096];
    snprintf(args, sizeof(args), "{\"type\":\"Custom\",\"paths\":[\"%s\"]}", dir);
    int64_t ids[2] = {palisade_start(h, "scan.start", args), 0};
    int kinds[2] = {0, 0};
    size_t events = 0;
    if (ids[0] <= 0)
        fail("start scan: %lld", (long long)ids[0]);
    else if (!drain(h, ids, kinds, 1, 50, &events) || kinds[0] != PALISADE_RESULT)
        fail("scan did not end with a result (kind %d)", kinds[0]);
    if (events == 0)
        fail("scan sent no progress event");
    expect_rc(palisade_cancel(h, ids[0]), 0, h, "cancel a finished scan");

    /* a request that ends with an error through next_event */
    ids[0] = palisade_start(h, "scan.start", "{\"type\":\"Custom\"}");
    kinds[0] = 0;
    if (ids[0] <= 0 || !drain(h, ids, kinds, 1, -1, &events) || kinds[0] != PALISADE_ERROR)
        fail("a scan without paths did not end with an error (kind %d)", kinds[0]);
    expect_code(h, "BadRequest", "scan without paths");

    /* two in flight at once; the first cancelled; a call while both stream */
    ids[0] = palisade_start(h, "scan.start", args);
    ids[1] = palisade_start(h, "scan.start", args);
    kinds[0] = kinds[1] = 0;
    call_ok(h, "status", NULL, "\"active_scans\"");
    int c = palisade_cancel(h, ids[0]);
    if (c != 0 && c != 1)
        fail("cancel in flight returned %d", c);
    if (!drain(h, ids, kinds, 2, 100, &events) || kinds[0] != PALISADE_RESULT ||
        kinds[1] != PALISADE_RESULT)
        fail("two scans did not both end with results (%d, %d)", kinds[0], kinds[1]);

    /* requests in flight and unread messages are freed by close */
    ids[0] = palisade_start(h, "scan.start", args);
    ids[1] = palisade_start(h, "status", NULL);
    if (ids[0] <= 0 || ids[1] <= 0)
        fail("start before close failed");
    usleep(200 * 1000); /* let some of their messages arrive unread */
    expect_rc(palisade_call(h, "status", NULL, NULL), PALISADE_OK, h, "call with queue");
    expect_rc(palisade_close(h), PALISADE_OK, NULL, "close with requests in flight");

    palisade_free_string(NULL);
    expect_rc(palisade_close(NULL), PALISADE_OK, NULL, "close NULL");
}

static void buffer_scans(palisade *h);

static void session_user(const char *sock)
{
    palisade *h = palisade_new();
    if (!h) {
        fail("palisade_new returned NULL");
        return;
    }
    expect_rc(palisade_connect(h, sock), PALISADE_OK, h, "connect as user (status socket)");
    const char *info = palisade_agent_info(h);
    if (!info || !strstr(info, "\"admin\":false"))
        fail("agent_info of a user does not say admin false: %s", str_or(info, "(null)"));
    call_ok(h, "status", NULL, "\"agent_version\"");
    buffer_scans(h);
    call_fails(h, "config.list", NULL, "AccessDenied");
    if (!strstr(str_or(palisade_error_string(h), ""), "group"))
        fail("AccessDenied does not name the admin group: %s",
             str_or(palisade_error_string(h), "(none)"));
    int64_t ids[1] = {palisade_start(h, "scan.start", "{\"type\":\"Quick\"}")};
    int kinds[1] = {0};
    size_t events = 0;
    if (ids[0] <= 0 || !drain(h, ids, kinds, 1, -1, &events) || kinds[0] != PALISADE_ERROR)
        fail("a user's scan did not end with an error (kind %d)", kinds[0]);
    expect_code(h, "AccessDenied", "user scan");
    expect_rc(palisade_close(h), PALISADE_OK, NULL, "close user");
}

/* palisade_scan_buffer on its success and failure paths (any user may call it). */
static void buffer_scans(palisade *h)
{
    /* EICAR from two halves, so that no file of the tree holds it */
    char eicar[80];
    snprintf(eicar, sizeof(eicar), "%s%s", "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
             "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    char *res = NULL;
    expect_rc(palisade_scan_buffer(h, eicar, (int64_t)strlen(eicar), "session.txt", &res),
              PALISADE_OK, h, "scan_buffer eicar");
    if (!res || !strstr(res, "\"verdict\":\"threat\"") || !strstr(res, "buffer:session.txt"))
        fail("scan_buffer of EICAR: %s", str_or(res, "(null)"));
    palisade_free_string(res);
    res = NULL;
    expect_rc(palisade_scan_buffer(h, NULL, 0, NULL, &res), PALISADE_OK, h, "scan_buffer empty");
    if (!res || !strstr(res, "\"verdict\":\"clean\""))
        fail("scan_buffer of nothing: %s", str_or(res, "(null)"));
    palisade_free_string(res);
    res = NULL;
    static char big[PALISADE_BUFFER_SCAN_MAX + 1];
    expect_rc(palisade_scan_buffer(h, big, (int64_t)sizeof(big), NULL, &res), PALISADE_FAILED, h,
              "scan_buffer too large");
    expect_code(h, "InvalidValue", "scan_buffer too large");
    expect_rc(palisade_scan_buffer(h, eicar, 4, "\xff", &res), PALISADE_FAILED, h,
              "scan_buffer name not UTF-8");
    expect_code(h, "BadRequest", "scan_buffer name not UTF-8");
    if (res)
        fail("a failed scan_buffer set its result");
}

/* ---- fake agents for the fatal paths ----------------------------------------------------- */

enum fake_mode {
    FAKE_GARBAGE,  /* answers hello with a frame that is not JSON */
    FAKE_HANGUP,   /* answers hello, then closes at the first request */
    FAKE_STRANGER, /* answers hello, then sends a response for an id never used */
};

typedef struct fake {
    int listen_fd;
    enum fake_mode mode;
} fake;

static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_frame(int fd, const char *json)
{
    size_t n = strlen(json);
    uint32_t len = htonl((uint32_t)n);
    if (write(fd, &len, sizeof(len)) != (ssize_t)sizeof(len) || write(fd, json, n) != (ssize_t)n)
        return -1;
    return 0;
}

/* Read one frame and throw it away. */
static int skip_frame(int fd)
{
    uint32_t len;
    char buf[4096];
    if (read_full(fd, &len, sizeof(len)) != 0)
        return -1;
    len = ntohl(len);
    while (len > 0) {
        size_t chunk = len < sizeof(buf) ? len : sizeof(buf);
        if (read_full(fd, buf, chunk) != 0)
            return -1;
        len -= (uint32_t)chunk;
    }
    return 0;
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return NULL;
    static const char hello[] =
        "{\"id\":0,\"result\":{\"protocol\":1,\"agent_version\":\"fake\",\"uid\":0,"
        "\"admin\":true}}";
    if (skip_frame(fd) == 0) {
        switch (f->mode) {
        case FAKE_GARBAGE:
            write_frame(fd, "this is not json");
            break;
        case FAKE_HANGUP:
            if (write_frame(fd, hello) == 0)
                skip_frame(fd);
            break;
        case FAKE_STRANGER:
            if (write_frame(fd, hello) == 0 && skip_frame(fd) == 0)
                write_frame(fd, "{\"id\":77,\"result\":{}}");
            break;
        }
    }
    close(fd);
    return NULL;
}

static int fake_listen(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void run_fake(const char *dir, enum fake_mode mode)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/fake-%d.sock", dir, (int)mode);
    fake f = {.listen_fd = fake_listen(path), .mode = mode};
    if (f.listen_fd < 0) {
        fail("cannot listen on %s: %s", path, strerror(errno));
        return;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, fake_main, &f) != 0) {
        fail("pthread_create failed");
        close(f.listen_fd);
        return;
    }
    palisade *h = palisade_new();
    if (!h) {
        fail("palisade_new returned NULL");
    } else if (mode == FAKE_GARBAGE) {
        expect_rc(palisade_connect(h, path), PALISADE_FAILED, h, "connect to a garbage agent");
        expect_code(h, "ProtocolError", "connect to a garbage agent");
    } else {
        expect_rc(palisade_connect(h, path), PALISADE_OK, h, "connect to a fake agent");
        char *res = NULL;
        int64_t id = palisade_start(h, "scan.start", "{\"type\":\"Quick\"}");
        if (id <= 0)
            fail("start on a fake agent: %lld", (long long)id);
        int rc = palisade_call(h, "status", NULL, &res);
        expect_rc(rc, PALISADE_FATAL, h, "call on a broken connection");
        expect_code(h, mode == FAKE_HANGUP ? "Unavailable" : "ProtocolError",
                    "call on a broken connection");
        /* dead: every call says so and keeps the error that killed it */
        expect_rc(palisade_call(h, "status", NULL, &res), PALISADE_FATAL, h, "call when dead");
        int64_t rid = 0;
        expect_rc(palisade_next_event(h, 0, &rid, &res), PALISADE_FATAL, h, "next when dead");
        expect_rc(palisade_cancel(h, 1), PALISADE_FATAL, h, "cancel when dead");
        if (!palisade_error_code(h))
            fail("a dead handle lost its error");
    }
    expect_rc(palisade_close(h), PALISADE_OK, NULL, "close fake");
    pthread_join(t, NULL);
    close(f.listen_fd);
    unlink(path);
}

static void session_offline(const char *dir)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/nobody-listens.sock", dir);
    palisade *h = palisade_new();
    if (!h) {
        fail("palisade_new returned NULL");
        return;
    }
    expect_rc(palisade_connect(h, path), PALISADE_FAILED, h, "connect, no agent");
    expect_code(h, "Unavailable", "connect, no agent");
    if (!strstr(str_or(palisade_error_string(h), ""), "start"))
        fail("Unavailable does not say how to start the agent: %s",
             str_or(palisade_error_string(h), "(none)"));
    /* the handle stays usable for another try */
    expect_rc(palisade_connect(h, path), PALISADE_FAILED, h, "connect again, no agent");
    expect_rc(palisade_close(h), PALISADE_OK, NULL, "close offline");

    run_fake(dir, FAKE_GARBAGE);
    run_fake(dir, FAKE_HANGUP);
    run_fake(dir, FAKE_STRANGER);
}

int main(int argc, char **argv)
{
    if (strcmp(palisade_version(), PALISADE_VERSION_STRING) != 0)
        fail("palisade_version is %s, want %s", palisade_version(), PALISADE_VERSION_STRING);
    if (argc == 4 && strcmp(argv[1], "admin") == 0) {
        session_admin(argv[2], argv[3]);
    } else if (argc == 3 && strcmp(argv[1], "user") == 0) {
        session_user(argv[2]);
    } else if (argc == 3 && strcmp(argv[1], "offline") == 0) {
        session_offline(argv[2]);
    } else {
        fprintf(stderr, "usage: libpalisade_session admin SOCKET DIR | user SOCKET | "
                        "offline DIR\n");
        return 2;
    }
    if (failures) {
        fprintf(stderr, "libpalisade_session %s: %d expectation(s) failed\n", argv[1], failures);
        return 1;
    }
    printf("libpalisade_session %s: ok\n", argv[1]);
    return 0;
}
