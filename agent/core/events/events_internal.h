/*
 * events_internal.h — what events.c (records, queue, sender thread) shares with its two
 * sinks, evjournal.c and evsyslog.c. Not for use outside agent/core/events.
 */
#ifndef PAL_EVENTS_INTERNAL_H
#define PAL_EVENTS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"

#define EV_MAX_FIELDS 48

enum ev_field_to {
    EV_TO_BOTH = 0,
    EV_TO_JOURNAL = 1, /* exact bytes: the native protocol carries them */
    EV_TO_SYSLOG = 2,  /* the hex form, for SD-PARAM values that must be UTF-8 */
};

typedef struct ev_field {
    const char *key; /* upper case without the PALISADE_ prefix, e.g. "PATH_BYTES" */
    char *val;       /* malloc'd; text fields are in the display form */
    size_t len;
    int to; /* enum ev_field_to */
} ev_field;

/* One record as queued: everything copied, ready for either sink. */
typedef struct ev_record {
    struct ev_record *next;
    pal_event_kind kind;
    int clamav;      /* the ClamAV-form line after a detection */
    int priority;    /* syslog severity 0..7 */
    int64_t time_us; /* CLOCK_REALTIME when emitted */
    pid_t pid;       /* ours */
    char *message;   /* display form: one line */
    size_t n;
    ev_field f[EV_MAX_FIELDS];
} ev_record;

/* The journal (evjournal.c): 0 or a negative errno. */
int ev_journal_send(const ev_record *r, int facility);

/* A syslog connection (evsyslog.c), owned by the sender thread. */
typedef struct ev_syslog_conn {
    pal_syslog_target target;
    int fd;
    int64_t retry_after_ms; /* TCP: no new connection attempt before this */
} ev_syslog_conn;

/* Format r as one RFC 5424 record (malloc'd, not NUL-terminated, *len); NULL on ENOMEM. */
char *ev_syslog_format(const ev_record *r, int facility, size_t *len);
/* Send r over c (connecting when needed): 0 or a negative errno. Waits at most a few
   seconds (the sender thread's time, never the broker's). */
int ev_syslog_send(ev_syslog_conn *c, const ev_record *r, int facility);
void ev_syslog_close(ev_syslog_conn *c);

#endif
