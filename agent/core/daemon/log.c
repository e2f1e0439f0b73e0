/* log.c — leveled logging to stderr and syslog with a ring of recent lines (see log.h). */
#include "log.h"

#include "display.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define RECENT_LINES 256
#define LINE_MAX_LEN 1024

static struct {
    pthread_mutex_t lock; /* protects everything below */
    int to_stderr, to_syslog;
    pal_log_level max_level;
    char ident[32];
    char recent[RECENT_LINES][LINE_MAX_LEN]; /* ring of formatted lines */
    unsigned next, count;
} logger = {.lock = PTHREAD_MUTEX_INITIALIZER,
            .to_stderr = 1,
            .max_level = PAL_LOG_INFO,
            .ident = "palisaded"};

static const char *level_name(pal_log_level l)
{
    switch (l) {
    case PAL_LOG_ERROR:
        return "error";
    case PAL_LOG_WARNING:
        return "warning";
    case PAL_LOG_NOTICE:
        return "notice";
    case PAL_LOG_INFO:
        return "info";
    case PAL_LOG_DEBUG:
        return "debug";
    }
    return "info";
}

void pal_log_init(const char *ident, int to_stderr, int to_syslog, pal_log_level max_level)
{
    pthread_mutex_lock(&logger.lock);
    snprintf(logger.ident, sizeof(logger.ident), "%s", ident);
    logger.to_stderr = to_stderr;
    logger.to_syslog = to_syslog;
    logger.max_level = max_level;
    if (to_syslog)
        openlog(logger.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    pthread_mutex_unlock(&logger.lock);
}

void pal_log(pal_log_level level, const char *fmt, ...)
{
    char raw[LINE_MAX_LEN - 64], msg[LINE_MAX_LEN - 64];
    va_list ap;
    va_start(ap, fmt);
    int rlen = vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    /* A hostile file name must neither forge log lines nor drive the terminal or journal
       viewer of whoever reads them: the whole line is shown in the display form. */
    size_t n = rlen < 0 ? 0 : (size_t)rlen < sizeof(raw) ? (size_t)rlen : sizeof(raw) - 1;
    pal_display_buf(raw, n, msg, sizeof(msg));

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

    pthread_mutex_lock(&logger.lock);
    if (level <= logger.max_level) {
        char *line = logger.recent[logger.next];
        snprintf(line, LINE_MAX_LEN, "%s.%03ldZ %s: %s", stamp, ts.tv_nsec / 1000000L,
                 level_name(level), msg);
        logger.next = (logger.next + 1) % RECENT_LINES;
        if (logger.count < RECENT_LINES)
            logger.count++;
        if (logger.to_stderr)
            fprintf(stderr, "%s[%ld]: %s: %s\n", logger.ident, (long)getpid(), level_name(level),
                    msg);
        if (logger.to_syslog)
            syslog((int)level, "%s", msg);
    }
    pthread_mutex_unlock(&logger.lock);
}

char *pal_log_recent(void)
{
    pthread_mutex_lock(&logger.lock);
    size_t cap = (size_t)logger.count * LINE_MAX_LEN + 1, len = 0;
    char *out = malloc(cap);
    if (out) {
        unsigned start = (logger.next + RECENT_LINES - logger.count) % RECENT_LINES;
        for (unsigned i = 0; i < logger.count; i++) {
            const char *line = logger.recent[(start + i) % RECENT_LINES];
            size_t l = strlen(line);
            memcpy(out + len, line, l);
            len += l;
            out[len++] = '\n';
        }
        out[len] = '\0';
    }
    pthread_mutex_unlock(&logger.lock);
    return out;
}
