/*
 * rtp.h — real-time protection: every open and execution of a file on the monitored file
 * systems is checked before it proceeds, and every file written is scanned after it is
 * closed (fanotify, FAN_CLASS_CONTENT). It owns the fanotify group and its life: the marks
 * (rtpmounts.h), the threads that answer the kernel, the bounded queue with its deadlines,
 * the verdicts, the detections with their process (rtpproc.h) and the status counters.
 *
 * The rules (DESIGN.md, "Real-time protection"), each a bug that shipped elsewhere:
 *  - permission only on open and exec (FAN_OPEN_PERM, FAN_OPEN_EXEC_PERM), never on read;
 *    written files from FAN_CLOSE_WRITE, asynchronously;
 *  - whole file systems (FAN_MARK_FILESYSTEM) of the monitored types, from
 *    /proc/self/mountinfo, re-read whenever it changes (POLLPRI);
 *  - the reader thread never opens a file on a marked file system and never waits on
 *    anything but poll: it answers the broker's own accesses and its children's (the content
 *    process, and the clone child that becomes it) at once, queues the rest, and answers
 *    every event whose deadline (RealTimeResponseTimeoutMs) passes with
 *    RealTimeTimeoutAction, whatever the workers are doing; a full queue is answered the same
 *    way at once (an overload), counted and logged; an open of a file that is empty when the
 *    event is read (fstat of its fd) is allowed at once: nothing to check, and what is
 *    written into it is scanned after the close;
 *  - content reaches the engine exactly as for on-demand scans: a worker holds the event's fd
 *    and scans it on a slot (slots.h, with priority over on-demand work), in the content
 *    process unless the administrator set SandboxMode Disabled; when the content process
 *    cannot answer, the broker does not parse in its place: the deadline answers;
 *  - a clean verdict enters the scan cache and gets an evictable inode ignore mark (cleared
 *    by the kernel at the next write) only when cachetrust.h admits it; both die with the
 *    signature package (pal_rtp_defs_changed);
 *  - process exclusions from the event's pidfd: /proc/<pid>/exe read (without CAP_SYS_PTRACE,
 *    with the process's own ids as the thread's file-system ids: rtpproc.c), then the pidfd
 *    checked to still be that live process; the exclusion lists are a snapshot taken when
 *    the settings are applied, not read per event.
 * If palisaded dies, the kernel allows every pending event when the group's fd closes.
 *
 * Residual risk of the ignore marks (accepted, like cachetrust.h's): a mark is cleared by a
 * write(2) or truncate, not by chown or chmod and not by a write through a shared mapping.
 * A root-only file that got a mark and that an administrator later gives to a user (chown,
 * chmod o+w) keeps it: the user can then open it read-write (not asked: marked), map it and
 * write through the mapping, and opens stay unchecked until the inode leaves the cache or
 * the signature package changes. The scan cache itself is not fooled (the chown stamped
 * ctime); only the kernel-side mark is. The fix is a mark that also dies on FAN_ATTRIB, which
 * fanotify offers only to groups without permission events.
 */
#ifndef PAL_RTP_H
#define PAL_RTP_H

#include <jansson.h>
#include <stddef.h>

#include "defs.h"
#include "remediate.h"
#include "settings.h"
#include "slots.h"
#include "store.h"

typedef struct pal_rtp pal_rtp;

/* What real-time protection is given by the daemon (all callbacks thread-safe). */
typedef struct pal_rtp_env {
    pal_store *store;
    pal_settings *settings;
    void *ctx;
    pal_defs *(*get_defs)(void *ctx); /* a new reference to the defs in force, or NULL */
    /* the slot pool in force, held until slots_end; NULL when the daemon is stopping */
    pal_slots *(*slots_begin)(void *ctx, void **hold);
    void (*slots_end)(void *ctx, void *hold);
    pal_remediator (*remediator)(void *ctx);
    void (*log)(void *ctx, int level, const char *msg); /* level: syslog's LOG_* */
} pal_rtp_env;

/* Nothing is marked until pal_rtp_apply. env is copied. */
int pal_rtp_new(const pal_rtp_env *env, pal_rtp **out);
/* Stops (every pending event answered) and frees; accepts NULL. */
void pal_rtp_free(pal_rtp *r);

/*
 * Put the RealTime* settings in force, live: start or stop, re-mark when the monitored
 * paths or file-system types changed, re-read the deadline, the timeout action and the
 * process exclusions. Failures to start are not errors of the call: status says
 * Unavailable and why.
 */
void pal_rtp_apply(pal_rtp *r);
/* Stop (as if disabled) without changing the settings: the daemon is shutting down. */
void pal_rtp_stop(pal_rtp *r);

/* The signature package changed: forget every ignore mark (cached verdicts in the store are
   keyed by signature version and die by themselves). */
void pal_rtp_defs_changed(pal_rtp *r);

/*
 * Add real_time_protection ("Enabled" | "Disabled" | "Unavailable"),
 * real_time_protection_reason (null when Enabled) and real_time_protection_stats (null
 * when not running) to the status object o (agent/ipc/PROTOCOL.md). *healthy is set to 1
 * when Enabled. 0 or PAL_ENOMEM.
 */
int pal_rtp_status_add(pal_rtp *r, json_t *o, int *healthy);

/* rtp.stats: {since, processes: [{executable, uid, scans, scan_time_ms, blocked}]}, the
   processes that caused the most scan time first, at most limit of them. NULL: no memory. */
json_t *pal_rtp_process_stats_json(pal_rtp *r, size_t limit);

#endif
