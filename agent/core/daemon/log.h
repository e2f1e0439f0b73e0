/*
 * log.h — the daemon's log: leveled lines to stderr (foreground) and to syslog (background,
 * or when started by systemd, whose journal picks up both). Only programs log; library
 * modules return errors and let the caller decide.
 */
#ifndef PAL_LOG_H
#define PAL_LOG_H

typedef enum pal_log_level {
    PAL_LOG_ERROR = 3,
    PAL_LOG_WARNING = 4,
    PAL_LOG_NOTICE = 5,
    PAL_LOG_INFO = 6,
    PAL_LOG_DEBUG = 7,
} pal_log_level;

/* to_stderr: write "palisaded[pid]: LEVEL: msg" lines to stderr; to_syslog: openlog(). */
void pal_log_init(const char *ident, int to_stderr, int to_syslog, pal_log_level max_level);
void pal_log(pal_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last lines logged (ring buffer), for the diagnostics bundle. Returns a malloc'd
   string of newline-separated lines, or NULL. */
char *pal_log_recent(void);

#endif
