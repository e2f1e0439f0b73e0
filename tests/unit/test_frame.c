/* test_frame.c — control-protocol frames: round trips, caps, partial and broken input. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "frame.h"

static void make_pair(int sv[2], bool nonblock)
{
    int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);
    assert_int_equal(socketpair(AF_UNIX, type, 0, sv), 0);
}

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void write_header(int fd, uint32_t n)
{
    unsigned char h[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    write_all(fd, h, 4);
}

/* Receive one frame within a generous safety deadline and check its bytes. */
static void expect_frame(pal_frame_reader *r, int fd, const char *want, size_t len)
{
    assert_int_equal(pal_frame_recv(r, fd, pal_mono_ms() + 5000, -1, -1), PAL_FRAME_READY);
    char *p;
    size_t n;
    assert_int_equal(pal_frame_reader_take(r, &p, &n), 0);
    assert_int_equal(n, len);
    assert_memory_equal(p, want, len);
    assert_int_equal(p[n], '\0');
    free(p);
}

static void test_round_trip(void **state)
{
    (void)state;
    int sv[2];
    make_pair(sv, false);
    pal_frame_reader *r = pal_frame_reader_new(PAL_FRAME_MAX_REQUEST);
    assert_non_null(r);
    const char *msgs[] = {"{}", "{\"id\":1,\"op\":\"status\"}", "x"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(
            pal_frame_write(sv[0], msgs[i], strlen(msgs[i]), PAL_FRAME_MAX_REQUEST, -1), 0);
    /* Three frames back to back in the socket come out one by one, in order. */
    for (size_t i = 0; i < 3; i++)
        expect_frame(r, sv[1], msgs[i], strlen(msgs[i]));
    close(sv[0]);
    assert_int_equal(pal_frame_recv(r, sv[1], pal_mono_ms() + 5000, -1, -1), PAL_FRAME_EOF);
    pal_frame_reader_free(r);
    close(sv[1]);
}

static void test_large_round_trip(void **state)
{
    (void)state;
    int sv[2];
    make_pair(sv, true);
    size_t len = 3u << 20; /* bigger than the socket buffer: both sides go partial */
    char *big = malloc(len);
    assert_non_null(big);
    for (size_t i = 0; i < len; i++)
        big[i] = (char)('a' + i % 26);
    pal_frame_out o;
    assert_int_equal(pal_frame_out_init(&o, big, len, PAL_FRAME_MAX_RESPONSE), 0);
    pal_frame_reader *r = pal_frame_reader_new(PAL_FRAME_MAX_RESPONSE);
    int wrc = 0, rrc = PAL_FRAME_AGAIN, partial_reads = 0;
    while (wrc != 1 || rrc != PAL_FRAME_READY) {
        if (wrc != 1)
            wrc = pal_frame_out_write(&o, sv[0]);
        assert_true(wrc >= 0);
        if (rrc != PAL_FRAME_READY) {
            rrc = pal_frame_reader_read(r, sv[1]);
            assert_true(rrc == PAL_FRAME_AGAIN || rrc == PAL_FRAME_READY);
            if (rrc == PAL_FRAME_AGAIN && pal_frame_reader_in_frame(r))
                partial_reads++;
        }
    }
    assert_true(partial_reads > 0);
    assert_int_equal(pal_frame_reader_announced(r), len);
    char *p;
    size_t n;
    assert_int_equal(pal_frame_reader_take(r, &p, &n), 0);
    assert_int_equal(n, len);
    assert_memory_equal(p, big, len);
    free(p);
    pal_frame_out_clear(&o);
    pal_frame_reader_free(r);
    free(big);
    close(sv[0]);
    close(sv[1]);
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    int sv[2];
    make_pair(sv, true);
    pal_frame_reader *r = pal_frame_reader_new(64);
    const char frame[] = "\0\0\0\x07{\"a\":1}";
    for (size_t i = 0; i < sizeof(frame) - 1; i++) {
        assert_int_equal(pal_frame_reader_read(r, sv[1]), PAL_FRAME_AGAIN); /* EAGAIN */
        write_all(sv[0], frame + i, 1);
        int rc = pal_frame_reader_read(r, sv[1]);
        if (i + 1 < sizeof(frame) - 1) {
            assert_int_equal(rc, PAL_FRAME_AGAIN);
            assert_true(pal_frame_reader_in_frame(r));
        } else {
            assert_int_equal(rc, PAL_FRAME_READY);
        }
    }
    assert_int_equal(pal_frame_reader_announced(r), 7);
    char *p;
    size_t n;
    assert_int_equal(pal_frame_reader_take(r, &p, &n), 0);
    assert_int_equal(n, 7);
    assert_string_equal(p, "{\"a\":1}");
    free(p);
    assert_false(pal_frame_reader_in_frame(r));
    assert_int_equal(pal_frame_reader_take(r, &p, &n), PAL_ESTATE);
    pal_frame_reader_free(r);
    close(sv[0]);
    close(sv[1]);
}

static void test_cap(void **state)
{
    (void)state;
    int sv[2];
    make_pair(sv, false);
    pal_frame_reader *r = pal_frame_reader_new(16);
    /* Exactly the cap is fine. */
    write_all(sv[0],
              "\0\0\0\x10"
              "0123456789abcdef",
              20);
    expect_frame(r, sv[1], "0123456789abcdef", 16);
    /* One over is refused from the header alone, before any payload is read. */
    write_header(sv[0], 17);
    assert_int_equal(pal_frame_recv(r, sv[1], pal_mono_ms() + 5000, -1, -1), PAL_ELIMIT);
    assert_int_equal(pal_frame_reader_announced(r), 17);
    /* The reader is spent after an error. */
    assert_int_equal(pal_frame_reader_read(r, sv[1]), PAL_ESTATE);
    pal_frame_reader_free(r);

    r = pal_frame_reader_new(PAL_FRAME_MAX_REQUEST);
    write_header(sv[0], 0xFFFFFFFFu);
    assert_int_equal(pal_frame_recv(r, sv[1], pal_mono_ms() + 5000, -1, -1), PAL_ELIMIT);
    pal_frame_reader_free(r);

    /* Writers refuse what readers would. */
    char buf[17] = {0};
    assert_int_equal(pal_frame_write(sv[0], buf, 17, 16, -1), PAL_ELIMIT);
    assert_int_equal(pal_frame_write(sv[0], buf, 0, 16, -1), PAL_ELIMIT);
    assert_null(pal_frame_reader_new(0));
    assert_null(pal_frame_reader_new((size_t)2 << 30));
    close(sv[0]);
    close(sv[1]);
}

static void test_zero_length(void **state)
{
    (void)state;
    int sv[2];
    make_pair(sv, false);
    pal_frame_reader *r = pal_frame_reader_new(PAL_FRAME_MAX_REQUEST);
    write_header(sv[0], 0);
    assert_int_equal(pal_frame_recv(r, sv[1], pal_mono_ms() + 5000, -1, -1), PAL_EFORMAT);
    pal_frame_reader_free(r);
    close(sv[0]);
    close(sv[1]);
}

static void test_truncated(void **state)
{
    (void)state;
    int sv[2];
    /* EOF inside the payload. */
    make_pair(sv, false);
    pal_frame_reader *r = pal_frame_reader_new(PAL_FRAME_MAX_REQUEST);
    write_header(sv[0], 10);
    write_all(sv[0], "{\"a\":", 5);
    close(sv[0]);
    assert_int_equal(pal_frame_recv(r, sv[1], pal_mono_ms() + 5000, -1, -1), PAL_EPROTO);
    pal_frame_reader_free(r);
    close(sv[1]);
    /* EOF inside the header. */
    make_pair(sv, false);
    r = pal_frame_reader_new(PAL_FRAME_MAX_REQUEST);
    write_all(sv[0], "\0\0", 2);
    close(sv[0]);
    assert_int_equal(pal_frame_recv(r, sv[1], pal_mono_ms() + 5000, -1, -1), PAL_EPROTO);
    pal_frame_reader_free(r);
    close(sv[1]);
}

static void test_deadlines(void **state)
{
    (void)state;
    int sv[2];
    make_pair(sv, false);
    pal_frame_reader *r = pal_frame_reader_new(PAL_FRAME_MAX_REQUEST);
    /* Nothing at all: the deadline ends the wait, no frame started. */
    assert_int_equal(pal_frame_recv(r, sv[1], pal_mono_ms() + 20, -1, -1), PAL_ETIMEOUT);
    assert_false(pal_frame_reader_in_frame(r));
    /* A stalled partial frame: the stall limit ends it even without a deadline. */
    write_header(sv[0], 8);
    write_all(sv[0], "{\"a\"", 4);
    assert_int_equal(pal_frame_recv(r, sv[1], -1, 20, -1), PAL_ETIMEOUT);
    assert_true(pal_frame_reader_in_frame(r));
    assert_int_equal(pal_frame_reader_announced(r), 8);
    /* The reader is still usable: the rest completes the same frame. */
    write_all(sv[0], ":1}", 3);
    write_all(sv[0], " ", 1);
    expect_frame(r, sv[1], "{\"a\":1} ", 8);
    /* A deadline already past still reads what is there. */
    write_all(sv[0], "\0\0\0\x02{}", 6);
    assert_int_equal(pal_frame_recv(r, sv[1], 0, -1, -1), PAL_FRAME_READY);
    char *p;
    size_t n;
    assert_int_equal(pal_frame_reader_take(r, &p, &n), 0);
    free(p);
    /* A readable wake fd interrupts the wait. */
    int wake[2];
    assert_int_equal(pipe(wake), 0);
    assert_int_equal(write(wake[1], "w", 1), 1);
    assert_int_equal(pal_frame_recv(r, sv[1], -1, -1, wake[0]), PAL_ECANCELLED);
    close(wake[0]);
    close(wake[1]);
    pal_frame_reader_free(r);
    close(sv[0]);
    close(sv[1]);
}

static void test_write_errors(void **state)
{
    (void)state;
    int sv[2];
    make_pair(sv, false);
    /* A peer that never reads: the deadline ends the write instead of blocking. */
    size_t len = PAL_FRAME_MAX_RESPONSE;
    char *big = calloc(1, len);
    assert_non_null(big);
    assert_int_equal(pal_frame_write(sv[0], big, len, PAL_FRAME_MAX_RESPONSE, pal_mono_ms() + 50),
                     PAL_ETIMEOUT);
    /* A peer that went away: an error, not SIGPIPE (the test would die). */
    close(sv[1]);
    assert_int_equal(pal_frame_write(sv[0], "{}", 2, 16, pal_mono_ms() + 5000), PAL_EIO);
    free(big);
    close(sv[0]);
}

static void expect_parse_error(const char *payload, size_t len, const char *msg_part)
{
    json_t *v = NULL;
    pal_errbuf err = {{0}};
    assert_int_equal(pal_frame_parse(payload, len, &v, &err), PAL_EFORMAT);
    assert_null(v);
    if (!strstr(err.msg, msg_part))
        fail_msg("'%s' does not mention '%s'", err.msg, msg_part);
}

static void test_parse(void **state)
{
    (void)state;
    json_t *v = NULL;
    pal_errbuf err;
    assert_int_equal(pal_frame_parse("{\"a\":[1,2]}", 11, &v, &err), 0);
    assert_true(json_is_object(v));
    json_decref(v);

    expect_parse_error("", 0, "empty");
    expect_parse_error("[1]", 3, "not a JSON object");
    expect_parse_error("1", 1, "not a JSON object");
    expect_parse_error("\"s\"", 3, "not a JSON object");
    expect_parse_error("null", 4, "not a JSON object");
    expect_parse_error("{\"a\":1,\"a\":2}", 13, "duplicate");
    expect_parse_error("{\"a\":\"\xff\"}", 9, "invalid JSON");
    expect_parse_error("{\"a\":\"\xc0\xaf\"}", 10, "invalid JSON");     /* overlong '/' */
    expect_parse_error("{\"a\":\"\xed\xa0\x80\"}", 11, "invalid JSON"); /* surrogate */
    expect_parse_error("{\"a\":1}\0", 8, "NUL");
    expect_parse_error("{\"a\":\"x\0y\"}", 11, "NUL");
    expect_parse_error("{\"a\":\"\\u0000\"}", 14, "invalid JSON");
    expect_parse_error("{} {}", 5, "invalid JSON");
    expect_parse_error("{\"a\":", 5, "invalid JSON");

    /* Nesting deeper than jansson's limit is an error, not a stack overflow. */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 16);
    size_t n = 0;
    memcpy(deep, "{\"a\":", 5);
    n = 5;
    for (size_t i = 0; i < depth; i++)
        deep[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    expect_parse_error(deep, n, "invalid JSON");
    free(deep);
}

static void test_encode(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:i, s:s}", "id", 1, "op", "status");
    char *s;
    size_t len;
    assert_int_equal(pal_frame_encode(o, 1024, &s, &len), 0);
    assert_int_equal(len, strlen(s));
    json_t *back;
    pal_errbuf err;
    assert_int_equal(pal_frame_parse(s, len, &back, &err), 0);
    assert_true(json_equal(o, back));
    json_decref(back);
    free(s);
    assert_int_equal(pal_frame_encode(o, 8, &s, &len), PAL_ELIMIT);
    json_t *a = json_array();
    assert_int_equal(pal_frame_encode(a, 1024, &s, &len), PAL_EINVAL);
    json_decref(a);

    /* send_json + recv + parse is the identity. */
    int sv[2];
    make_pair(sv, false);
    assert_int_equal(pal_frame_send_json(sv[0], o, 1024, -1), 0);
    pal_frame_reader *r = pal_frame_reader_new(1024);
    assert_int_equal(pal_frame_recv(r, sv[1], pal_mono_ms() + 5000, -1, -1), PAL_FRAME_READY);
    assert_int_equal(pal_frame_reader_take(r, &s, &len), 0);
    assert_int_equal(pal_frame_parse(s, len, &back, &err), 0);
    assert_true(json_equal(o, back));
    json_decref(back);
    free(s);
    pal_frame_reader_free(r);
    json_decref(o);
    close(sv[0]);
    close(sv[1]);
}

/* Frames work on pipes too (write(2) path). */
static void test_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(pal_frame_write(p[1], "{\"k\":true}", 10, 64, -1), 0);
    pal_frame_reader *r = pal_frame_reader_new(64);
    expect_frame(r, p[0], "{\"k\":true}", 10);
    pal_frame_reader_free(r);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_large_round_trip),
        cmocka_unit_test(test_byte_by_byte), cmocka_unit_test(test_cap),
        cmocka_unit_test(test_zero_length),  cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_deadlines),    cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_parse),        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_pipe),
    };
    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
