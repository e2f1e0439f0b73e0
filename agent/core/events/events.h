/*
 * events.h — the broker's security events for a SIEM: one structured record per event
 * (a detection, a remediation, a restore, an allowed threat added or removed, a scan's start
 * and end, a content-process start, crash, kill or crash loop, a policy reload, a signature
 * update), each with a stable MESSAGE_ID per kind and PALISADE_* fields, sent to
 *   - the systemd journal through its native protocol (sd_journal_sendv), when the journal's
 *     socket /run/systemd/journal/socket exists (evjournal.c);
 *   - RFC 5424 syslog with structured data (SD-ID palisade@32473) to the configured target,
 *     or to /dev/log when no target is configured and there is no journal (evsyslog.c);
 *   - and, per detection, one more line in ClamAV's form "PATH: THREAT FOUND" with the
 *     identifier clamd, unless switched off, so that rules written for ClamAV match.
 * The table of kinds, MESSAGE_IDs and fields is in installer/man/palisaded.8 (EVENTS).
 *
 * One process-wide sender: pal_event_emit can be called from any thread of the broker
 * without a handle. It copies the event into a record and queues it (at most
 * PAL_EVENTS_QUEUE_MAX records; beyond that the record is dropped and counted) and never
 * waits for a socket: a dedicated thread sends. Before pal_events_configure and after
 * pal_events_shutdown, pal_event_emit does nothing.
 *
 * Names are raw bytes an attacker may choose: every text field is sent in the display form
 * (display.h), which has no newline or control character, and the path's exact bytes travel
 * beside it: PALISADE_PATH_BYTES (binary-safe in the journal's native protocol) and, in
 * syslog, path_hex (lower-case hex of the bytes) whenever the display form differs from them.
 * SD-PARAM values escape '"', '\' and ']' as RFC 5424 says.
 */
#ifndef PAL_EVENTS_H
#define PAL_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pal_error.h"

typedef enum pal_event_kind {
    PAL_EV_DETECTION = 0,    /* a finding, with the action taken and its result */
    PAL_EV_REMEDIATION,      /* a file quarantined or removed (or the attempt failed) */
    PAL_EV_RESTORE,          /* a quarantined item restored (or the attempt failed) */
    PAL_EV_ALLOW_ADDED,      /* a threat put on the allowed list */
    PAL_EV_ALLOW_REMOVED,    /* a threat taken off the allowed list */
    PAL_EV_SCAN_STARTED,     /* an on-demand scan recorded as Running */
    PAL_EV_SCAN_FINISHED,    /* its end: outcome and counts */
    PAL_EV_CP_STARTED,       /* a content process is ready */
    PAL_EV_CP_CRASHED,       /* one died by a signal the broker did not send, or exited */
    PAL_EV_CP_KILLED,        /* the broker killed one (timeout, misbehaviour, tampering) */
    PAL_EV_CP_DEGRADED,      /* consecutive failures reached the crash-loop threshold */
    PAL_EV_POLICY_APPLIED,   /* the policy directory was read and is in force */
    PAL_EV_POLICY_ERROR,     /* it could not be read; the last good policy stays */
    PAL_EV_SIGNATURE_UPDATE, /* a signature package offered: in force, refused or rolled back */
    PAL_EV_RTP_UNCHECKED     /* real-time events answered without a verdict (timeout,
                                overload): COUNT of them in the period, ACTION, DETAIL */
} pal_event_kind;
#define PAL_EV__COUNT 15

/* "detection", "remediation", ... (PALISADE_EVENT and the syslog MSGID); NULL if unknown. */
const char *pal_event_kind_name(pal_event_kind k);
/* The kind's MESSAGE_ID: 32 lower-case hex digits, stable across versions. */
const char *pal_event_message_id(pal_event_kind k);
/* The MESSAGE_ID of the ClamAV-form line that follows each detection. */
#define PAL_EVENT_CLAMAV_MESSAGE_ID "3270548d8e434929b8458aef1ea6d316"

/*
 * One event. Every member is optional except kind: NULL strings, zero ids and counts, and
 * has_* 0 mean "absent" and the field is not sent. Strings are raw bytes (NUL-terminated;
 * path may carry a length). Built by the caller on its stack, usually as a compound literal
 * in one statement; pal_event_emit copies what it needs.
 */
typedef struct pal_event {
    pal_event_kind kind;
    const char *origin; /* detection: "OnDemand", "RealTime", "Buffer" (pal_det_source_name) */
    const char *threat;
    const char *severity; /* "Low" .. "Severe" */
    const char *category;
    const char *path; /* the file (a chain "file\x1fmember" is sent as it is) */
    size_t path_len;  /* 0: strlen(path) */
    /* what matched inside the file ("file->member") or, for a content process, the objects
       it was scanning (newline-separated): sent as OBJECT when it is not the path itself */
    const char *object;
    const char *action;
    const char *result;
    const char *detail; /* why, what: one line in the display form */
    const char *sha256;
    int64_t scan_id, detection_id, quarantine_id;
    const char *scan_type; /* "Quick", "Full", "Custom" */
    const char *status;    /* a scan's outcome */
    const char *const *roots;
    size_t n_roots;
    int has_counts;
    uint64_t files, bytes, threats, unscannable;
    int64_t duration_ms;
    pid_t pid; /* the process concerned, when known (0: absent) */
    int has_uid;
    uid_t uid; /* the user concerned: the process's, or who asked */
    const char *exe;
    int exit_code; /* content process: has_exit */
    int has_exit;
    int signal;                                        /* 0: absent */
    uint64_t signature_version, old_signature_version; /* 0: absent (no package) */
    int has_count;
    uint64_t count; /* how many times it happened (real-time-unchecked) */
    const char *policy_dir;
} pal_event;

/* Queue ev for every sink in force (see above); never blocks, never fails the caller. */
void pal_event_emit(const pal_event *ev);

/* ---- configuration and state (the daemon) ---------------------------------------------- */

#define PAL_EVENTS_QUEUE_MAX 4096

typedef enum pal_syslog_transport {
    PAL_SYSLOG_OFF = 0,
    PAL_SYSLOG_UNIX, /* datagram socket at a path (imuxsock, /dev/log) */
    PAL_SYSLOG_UDP,
    PAL_SYSLOG_TCP, /* RFC 6587 octet-counting framing: "LEN SP RECORD" */
} pal_syslog_transport;

typedef struct pal_syslog_target {
    pal_syslog_transport transport;
    char path[108]; /* UNIX */
    char host[64];  /* UDP, TCP: a numeric IPv4 or IPv6 address */
    unsigned port;  /* UDP, TCP */
    int is_default; /* "" resolved to /dev/log because there is no journal */
} pal_syslog_target;

/*
 * Parse a value of EventSyslogTarget: "" (automatic: off when the journal is there, else
 * unix:/dev/log), "off", "unix:/absolute/path", "udp:ADDR:PORT", "tcp:ADDR:PORT" (IPv6 as
 * "[::1]:514"). No name resolution: a numeric address, so that sending never waits for DNS.
 * PAL_EINVAL with a message naming what is allowed.
 */
int pal_syslog_target_parse(const char *s, pal_syslog_target *out, pal_errbuf *err);
/* A facility's number (LOG_DAEMON >> 3 ...) from its name ("daemon", "local0"...); -1. */
int pal_syslog_facility_parse(const char *name);

typedef struct pal_events_config {
    const char *syslog_target; /* EventSyslogTarget */
    const char *facility;      /* EventSyslogFacility */
    int clamav_compatible;     /* EventClamAvCompatible */
} pal_events_config;

/* Put cfg in force (starting the sender thread the first time). PAL_EINVAL on a bad target
   or facility: nothing changes. Thread-safe. */
int pal_events_configure(const pal_events_config *cfg, pal_errbuf *err);
/* Send what is queued (waiting at most timeout_ms), stop the thread and free everything.
   pal_event_emit does nothing afterwards until the next pal_events_configure. */
void pal_events_shutdown(int timeout_ms);

typedef struct pal_events_stats {
    int journal;      /* the journal sink is on */
    char syslog[160]; /* the target in force ("off", "udp:127.0.0.1:514"...) */
    uint64_t emitted; /* records queued */
    uint64_t sent_journal, sent_syslog;
    uint64_t dropped; /* not queued: the queue was full or memory ran out */
    uint64_t failed;  /* a sink refused or could not take a record */
    size_t queued;    /* waiting now */
} pal_events_stats;

void pal_events_get_stats(pal_events_stats *out);

/* The stats as status shows them (new reference; NULL when out of memory):
   {journal, syslog_target, emitted, sent_journal, sent_syslog, dropped, failed, queued}. */
struct json_t;
struct json_t *pal_events_status_json(void);

#endif
