/*
 * evsyslog.c — one record as RFC 5424 syslog with structured data, and its transport: a
 * Unix datagram socket, UDP (one record per datagram, RFC 5426) or TCP with octet-counting
 * framing (RFC 6587: "LEN SP RECORD"), so that no byte of a record can end it early.
 *
 *   <PRI>1 TIMESTAMP HOSTNAME palisaded PID MSGID [palisade@32473 message_id="…" event="…" …] MSG
 *
 * 32473 is the example Private Enterprise Number of RFC 5612 (an IANA-registered number
 * would replace it); the SD-PARAM names are the journal's PALISADE_* fields in lower case,
 * without the prefix. Every value is the display form (display.h: valid UTF-8, no control
 * character) with '"', '\' and ']' escaped by a backslash as RFC 5424 §6.3.3 says; a path's
 * exact bytes are in path_hex whenever the display form differs from them. MSG is the
 * display form too, without a BOM, so that nothing can start a new line. The ClamAV-form
 * line is a record of its own: APP-NAME clamd, no MSGID, no structured data.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "events_internal.h"

#define SD_ID "palisade@32473"
#define IO_TIMEOUT_MS 3000
#define RECONNECT_MS 1000

/* ---- settings' values ------------------------------------------------------------------- */

static int parse_hostport(const char *s, pal_syslog_target *t, pal_errbuf *err)
{
    const char *host = s, *colon;
    size_t hlen;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return pal_err_set(err, PAL_EINVAL, "EventSyslogTarget: \"%s\" is not [ADDRESS]:PORT",
                               s);
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return pal_err_set(err, PAL_EINVAL, "EventSyslogTarget: \"%s\" has no :PORT", s);
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= sizeof(t->host))
        return pal_err_set(err, PAL_EINVAL, "EventSyslogTarget: no address in \"%s\"", s);
    memcpy(t->host, host, hlen);
    t->host[hlen] = '\0';
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port == 0 || port > 65535)
        return pal_err_set(err, PAL_EINVAL, "EventSyslogTarget: \"%s\" is not a port (1 to 65535)",
                           colon + 1);
    t->port = (unsigned)port;
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, t->host, buf) != 1 && inet_pton(AF_INET6, t->host, buf) != 1)
        return pal_err_set(err, PAL_EINVAL,
                           "EventSyslogTarget: \"%s\" is not a numeric IPv4 or IPv6 address "
                           "(names are not resolved)",
                           t->host);
    return 0;
}

int pal_syslog_target_parse(const char *s, pal_syslog_target *out, pal_errbuf *err)
{
    pal_syslog_target t = {0};
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return pal_err_set(err, PAL_EINVAL, "EventSyslogTarget contains a control character");
    if (*s == '\0') {
        t.is_default = 1;
    } else if (strcmp(s, "off") == 0) {
    } else if (strncmp(s, "unix:", 5) == 0) {
        const char *p = s + 5;
        if (p[0] != '/' || strlen(p) >= sizeof(t.path))
            return pal_err_set(err, PAL_EINVAL,
                               "EventSyslogTarget: \"%s\" is not an absolute socket path of at "
                               "most %zu bytes",
                               p, sizeof(t.path) - 1);
        t.transport = PAL_SYSLOG_UNIX;
        snprintf(t.path, sizeof(t.path), "%s", p);
    } else if (strncmp(s, "udp:", 4) == 0 || strncmp(s, "tcp:", 4) == 0) {
        t.transport = s[0] == 'u' ? PAL_SYSLOG_UDP : PAL_SYSLOG_TCP;
        int rc = parse_hostport(s + 4, &t, err);
        if (rc != 0)
            return rc;
    } else {
        return pal_err_set(err, PAL_EINVAL,
                           "EventSyslogTarget must be \"\" (automatic), \"off\", "
                           "\"unix:/path\", \"udp:ADDRESS:PORT\" or \"tcp:ADDRESS:PORT\" (got "
                           "\"%s\")",
                           s);
    }
    *out = t;
    return 0;
}

static const char *const facilities[] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog",   "lpr",     "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "security", "console", "solaris-cron",
    "local0", "local1", "local2",   "local3", "local4", "local5",   "local6",  "local7"};

int pal_syslog_facility_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(facilities) / sizeof(*facilities); i++)
        if (strcasecmp(name, facilities[i]) == 0)
            return (int)i;
    return -1;
}

/* ---- the record --------------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_(sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* An SD-PARAM value: '"', '\' and ']' escaped (RFC 5424 6.3.3). */
static void put_param_value(sbuf *b, const char *v, size_t n)
{
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '"' || v[i] == '\\' || v[i] == ']') {
            put(b, v + from, i - from);
            put(b, "\\", 1);
            from = i;
        }
    }
    put(b, v + from, n - from);
}

/* HOSTNAME: printable US-ASCII, at most 255, else the nil value. */
static void put_hostname(sbuf *b)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0') {
        puts_(b, "-");
        return;
    }
    host[sizeof(host) - 1] = '\0';
    for (const char *c = host; *c; c++)
        if (*c < 33 || *c > 126) {
            puts_(b, "-");
            return;
        }
    puts_(b, host);
}

char *ev_syslog_format(const ev_record *r, int facility, size_t *len)
{
    sbuf b = {0};
    char head[96];
    time_t sec = (time_t)(r->time_us / 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(head, sizeof(head), "<%d>1 %s.%06ldZ ", facility * 8 + r->priority, stamp,
             (long)(r->time_us % 1000000));
    puts_(&b, head);
    put_hostname(&b);
    snprintf(head, sizeof(head), " %s %ld %s ", r->clamav ? "clamd" : "palisaded", (long)r->pid,
             r->clamav ? "-" : pal_event_kind_name(r->kind));
    puts_(&b, head);
    if (r->clamav) {
        puts_(&b, "-");
    } else {
        puts_(&b, "[" SD_ID " message_id=\"");
        puts_(&b, pal_event_message_id(r->kind));
        puts_(&b, "\"");
        for (size_t i = 0; i < r->n; i++) {
            const ev_field *f = &r->f[i];
            if (f->to == EV_TO_JOURNAL)
                continue;
            char name[40];
            size_t k = 0;
            for (; f->key[k] && k < sizeof(name) - 1; k++)
                name[k] = (char)(f->key[k] >= 'A' && f->key[k] <= 'Z' ? f->key[k] + 32 : f->key[k]);
            name[k] = '\0';
            puts_(&b, " ");
            puts_(&b, name);
            puts_(&b, "=\"");
            put_param_value(&b, f->val, f->len);
            puts_(&b, "\"");
        }
        puts_(&b, "]");
    }
    puts_(&b, " ");
    puts_(&b, r->message);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/* ---- the transport ---------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ev_syslog_close(ev_syslog_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int inet_addr_of(const pal_syslog_target *t, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, t->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)t->port);
        *len = sizeof(*a4);
        return AF_INET;
    }
    if (inet_pton(AF_INET6, t->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)t->port);
        *len = sizeof(*a6);
        return AF_INET6;
    }
    return -1;
}

/* connect() that gives up after IO_TIMEOUT_MS (the socket is non-blocking meanwhile). */
static int connect_timed(int fd, const struct sockaddr *sa, socklen_t len)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int rc = connect(fd, sa, len);
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        rc = poll(&p, 1, IO_TIMEOUT_MS);
        if (rc == 0) {
            errno = ETIMEDOUT;
            rc = -1;
        } else if (rc > 0) {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
            errno = soerr;
            rc = soerr ? -1 : 0;
        }
    }
    int saved = errno;
    fcntl(fd, F_SETFL, fl);
    errno = saved;
    return rc;
}

static int open_conn(ev_syslog_conn *c)
{
    const pal_syslog_target *t = &c->target;
    struct sockaddr_storage ss;
    socklen_t len;
    int fd;
    if (t->transport == PAL_SYSLOG_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        memset(un, 0, sizeof(*un));
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof(un->sun_path), "%s", t->path);
        len = sizeof(*un);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    } else {
        int fam = inet_addr_of(t, &ss, &len);
        if (fam < 0)
            return -EINVAL;
        fd = socket(fam, (t->transport == PAL_SYSLOG_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC,
                    0);
    }
    if (fd < 0)
        return -errno;
    struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect_timed(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    c->fd = fd;
    return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int ev_syslog_send(ev_syslog_conn *c, const ev_record *r, int facility)
{
    if (c->fd < 0) {
        /* a peer that is down is tried again at most once a second: the records meanwhile
           are counted as failed rather than each waiting for a connect */
        if (c->target.transport == PAL_SYSLOG_TCP && mono_ms() < c->retry_after_ms)
            return -ECONNREFUSED;
        int rc = open_conn(c);
        if (rc != 0) {
            c->retry_after_ms = mono_ms() + RECONNECT_MS;
            return rc;
        }
    }
    size_t len;
    char *rec = ev_syslog_format(r, facility, &len);
    if (!rec)
        return -ENOMEM;
    int rc;
    if (c->target.transport == PAL_SYSLOG_TCP) {
        char prefix[24];
        int pl = snprintf(prefix, sizeof(prefix), "%zu ", len);
        rc = send_all(c->fd, prefix, (size_t)pl);
        if (rc == 0)
            rc = send_all(c->fd, rec, len);
    } else {
        rc = send(c->fd, rec, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
    }
    free(rec);
    if (rc != 0)
        ev_syslog_close(c); /* reconnect for the next record (a restarted syslog daemon) */
    return rc;
}
