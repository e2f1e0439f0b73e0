/* frame.c — length-prefixed JSON frames on a stream fd (see frame.h). */
#include "frame.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h" /* the frame length is big-endian */

#define READER_MAX_CAP (1u << 30) /* no cap above 1 GiB makes sense for a control frame */
#define READER_MIN_CHUNK 4096u    /* first allocation for a payload */

enum reader_state {
    RS_READING = 0, /* assembling header or payload */
    RS_READY,       /* payload complete, waiting for _take */
    RS_DEAD,        /* error or EOF seen; nothing more will be read */
};

struct pal_frame_reader {
    size_t max; /* cap on the announced length */
    unsigned char hdr[PAL_FRAME_HEADER];
    size_t hdr_got;  /* header bytes received (0..4) */
    size_t need;     /* announced length, once hdr_got == 4 */
    char *buf;       /* payload bytes so far; cap + 1 bytes allocated */
    size_t cap;      /* payload capacity of buf */
    size_t got;      /* payload bytes received */
    int64_t started; /* pal_mono_ms() at the frame's first byte, or -1 */
    enum reader_state state;
};

int64_t pal_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

pal_frame_reader *pal_frame_reader_new(size_t max_payload)
{
    if (max_payload == 0 || max_payload > READER_MAX_CAP)
        return NULL;
    pal_frame_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->max = max_payload;
    r->started = -1;
    return r;
}

void pal_frame_reader_free(pal_frame_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}

bool pal_frame_reader_in_frame(const pal_frame_reader *r)
{
    return r->state == RS_READING && r->hdr_got > 0;
}

size_t pal_frame_reader_announced(const pal_frame_reader *r)
{
    return r->hdr_got == PAL_FRAME_HEADER ? r->need : 0;
}

static void reader_reset(pal_frame_reader *r)
{
    r->hdr_got = 0;
    r->need = 0;
    r->buf = NULL;
    r->cap = 0;
    r->got = 0;
    r->started = -1;
    r->state = RS_READING;
}

/* read(2) retried on EINTR; returns bytes, 0 at EOF, -1 with errno (EAGAIN included). */
static ssize_t read_retry(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

/* Make room for at least one more payload byte; capacity doubles, never beyond need. */
static int reader_grow(pal_frame_reader *r)
{
    if (r->got < r->cap)
        return 0;
    /* got == cap < need here, and need <= 1 GiB, so doubling neither stalls nor overflows. */
    size_t ncap = r->cap ? r->cap * 2 : READER_MIN_CHUNK;
    if (ncap > r->need)
        ncap = r->need;
    char *nb = realloc(r->buf, ncap + 1); /* need <= 1 GiB: no overflow */
    if (!nb)
        return PAL_ENOMEM;
    r->buf = nb;
    r->cap = ncap;
    return 0;
}

static int reader_fail(pal_frame_reader *r, int code)
{
    r->state = RS_DEAD;
    return code;
}

int pal_frame_reader_read(pal_frame_reader *r, int fd)
{
    if (r->state == RS_READY)
        return PAL_FRAME_READY;
    if (r->state == RS_DEAD)
        return PAL_ESTATE;

    if (r->hdr_got < PAL_FRAME_HEADER) {
        ssize_t n = read_retry(fd, r->hdr + r->hdr_got, PAL_FRAME_HEADER - r->hdr_got);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return PAL_FRAME_AGAIN;
            return reader_fail(r, PAL_EIO);
        }
        if (n == 0) {
            if (r->hdr_got == 0) {
                r->state = RS_DEAD;
                return PAL_FRAME_EOF;
            }
            return reader_fail(r, PAL_EPROTO);
        }
        if (r->hdr_got == 0)
            r->started = pal_mono_ms();
        r->hdr_got += (size_t)n;
        if (r->hdr_got < PAL_FRAME_HEADER)
            return PAL_FRAME_AGAIN;
        uint32_t n32 = pal_be32(r->hdr);
        r->need = n32;
        if (r->need == 0)
            return reader_fail(r, PAL_EFORMAT);
        if (r->need > r->max)
            return reader_fail(r, PAL_ELIMIT);
        return PAL_FRAME_AGAIN;
    }

    int rc = reader_grow(r);
    if (rc < 0)
        return reader_fail(r, rc);
    ssize_t n = read_retry(fd, r->buf + r->got, r->cap - r->got);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return PAL_FRAME_AGAIN;
        return reader_fail(r, PAL_EIO);
    }
    if (n == 0)
        return reader_fail(r, PAL_EPROTO);
    r->got += (size_t)n;
    if (r->got < r->need)
        return PAL_FRAME_AGAIN;
    r->buf[r->need] = '\0';
    r->state = RS_READY;
    return PAL_FRAME_READY;
}

int pal_frame_reader_take(pal_frame_reader *r, char **payload, size_t *len)
{
    if (r->state != RS_READY)
        return PAL_ESTATE;
    *payload = r->buf;
    *len = r->need;
    reader_reset(r);
    return 0;
}

static int ms_until(int64_t deadline, int64_t now)
{
    int64_t t = deadline - now;
    if (t <= 0)
        return 0;
    return t > INT_MAX ? INT_MAX : (int)t;
}

int pal_frame_recv(pal_frame_reader *r, int fd, int64_t deadline, int64_t stall_ms, int wake_fd)
{
    for (;;) {
        if (r->state == RS_READY)
            return PAL_FRAME_READY;
        if (r->state == RS_DEAD)
            return PAL_ESTATE;

        int64_t dl = deadline;
        if (pal_frame_reader_in_frame(r) && stall_ms >= 0) {
            int64_t stall_dl = r->started + stall_ms;
            if (dl < 0 || stall_dl < dl)
                dl = stall_dl;
        }
        /* A deadline already past still gets one poll: what has arrived is read. */
        int timeout = dl < 0 ? -1 : ms_until(dl, pal_mono_ms());

        struct pollfd pfd[2] = {
            {.fd = fd, .events = POLLIN},
            {.fd = wake_fd, .events = POLLIN},
        };
        int n = poll(pfd, wake_fd >= 0 ? 2 : 1, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return PAL_EIO;
        }
        if (wake_fd >= 0 && pfd[1].revents)
            return PAL_ECANCELLED;
        if (n == 0 || pfd[0].revents == 0) {
            if (dl >= 0 && pal_mono_ms() >= dl)
                return PAL_ETIMEOUT;
            continue;
        }
        if (pfd[0].revents & POLLNVAL)
            return PAL_EIO;
        int rc = pal_frame_reader_read(r, fd);
        if (rc != PAL_FRAME_AGAIN)
            return rc;
    }
}

int pal_frame_parse(const char *payload, size_t len, json_t **out, pal_errbuf *err)
{
    if (len == 0)
        return pal_err_set(err, PAL_EFORMAT, "empty frame");
    if (memchr(payload, '\0', len))
        return pal_err_set(err, PAL_EFORMAT, "frame contains a NUL byte");
    json_error_t jerr;
    json_t *v = json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!v)
        return pal_err_set(err, PAL_EFORMAT, "invalid JSON at line %d column %d: %s", jerr.line,
                           jerr.column, jerr.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return pal_err_set(err, PAL_EFORMAT, "frame is not a JSON object");
    }
    *out = v;
    return 0;
}

int pal_frame_encode(const json_t *obj, size_t max_payload, char **out, size_t *len)
{
    if (!json_is_object(obj))
        return PAL_EINVAL;
    char *s = json_dumps(obj, JSON_COMPACT);
    if (!s)
        return PAL_ENOMEM;
    size_t n = strlen(s);
    if (n == 0 || n > max_payload) {
        free(s);
        return PAL_ELIMIT;
    }
    *out = s;
    *len = n;
    return 0;
}

int pal_frame_out_init(pal_frame_out *o, const char *payload, size_t len, size_t max_payload)
{
    o->buf = NULL;
    o->len = 0;
    o->off = 0;
    if (len == 0 || len > max_payload || len > UINT32_MAX)
        return PAL_ELIMIT;
    unsigned char *b = malloc(PAL_FRAME_HEADER + len);
    if (!b)
        return PAL_ENOMEM;
    pal_put_be32(b, (uint32_t)len);
    memcpy(b + PAL_FRAME_HEADER, payload, len);
    o->buf = b;
    o->len = PAL_FRAME_HEADER + len;
    return 0;
}

void pal_frame_out_clear(pal_frame_out *o)
{
    free(o->buf);
    o->buf = NULL;
    o->len = 0;
    o->off = 0;
}

int pal_frame_out_write(pal_frame_out *o, int fd)
{
    while (o->off < o->len) {
        const unsigned char *p = o->buf + o->off;
        size_t left = o->len - o->off;
        /* MSG_DONTWAIT: the caller's poll decides how long to wait, even on a blocking fd. */
        ssize_t n = send(fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return PAL_EIO;
        }
        o->off += (size_t)n;
    }
    return 1;
}

int pal_frame_write(int fd, const char *payload, size_t len, size_t max_payload, int64_t deadline)
{
    pal_frame_out o;
    int rc = pal_frame_out_init(&o, payload, len, max_payload);
    if (rc < 0)
        return rc;
    for (;;) {
        rc = pal_frame_out_write(&o, fd);
        if (rc != 0)
            break;
        int timeout = -1;
        if (deadline >= 0) {
            timeout = ms_until(deadline, pal_mono_ms());
            if (timeout == 0) {
                rc = PAL_ETIMEOUT;
                break;
            }
        }
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int n = poll(&pfd, 1, timeout);
        if (n < 0 && errno != EINTR) {
            rc = PAL_EIO;
            break;
        }
        if (n > 0 && (pfd.revents & POLLNVAL)) {
            rc = PAL_EIO;
            break;
        }
    }
    pal_frame_out_clear(&o);
    return rc == 1 ? 0 : rc;
}

int pal_frame_send_json(int fd, const json_t *obj, size_t max_payload, int64_t deadline)
{
    char *s;
    size_t n;
    int rc = pal_frame_encode(obj, max_payload, &s, &n);
    if (rc < 0)
        return rc;
    rc = pal_frame_write(fd, s, n, max_payload, deadline);
    free(s);
    return rc;
}
