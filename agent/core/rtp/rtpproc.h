/*
 * rtpproc.h — the process behind a real-time event: its identity from the event's pidfd,
 * the process exclusions (RealTimeProcessExclusions) and the per-process statistics
 * (rtp.stats: which processes cause the most scans and scan time).
 *
 * Identity: /proc/<pid>/exe (read with the process's own ids as this thread's file-system
 * ids when the daemon lacks CAP_SYS_PTRACE, see rtpproc.c) and the ids (from the pidfd where
 * the kernel can tell them, PIDFD_GET_INFO, else /proc/<pid>/status) are read, then the
 * pidfd is asked whether that process still lives (pidfd_send_signal with signal 0). A pid
 * read without that check could name another process that reused it: the identity is then
 * "unknown" and no exclusion applies. Called from worker threads only: reading /proc and
 * hashing a pinned binary may open files on a marked file system (the reader thread answers
 * the broker's own opens at once).
 */
#ifndef PAL_RTPPROC_H
#define PAL_RTPPROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

typedef struct pal_rtp_proc {
    pid_t pid;
    int known;           /* exe and uid were read and the process was alive after the read */
    uid_t uid;           /* real uid */
    char exe[4096];      /* "" when unknown */
    long as_uid, as_gid; /* the ids that let exe be read without CAP_SYS_PTRACE (-1: none) */
} pal_rtp_proc;

/* A process's parent and credentials (real, effective, saved). */
typedef struct pal_rtp_ids {
    pid_t ppid;
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
} pal_rtp_ids;

/* From the pidfd (PIDFD_GET_INFO: one ioctl) when it is valid and the kernel has it, else
   from /proc/<pid>/status; 0 or -1 (the process is gone or unreadable). Opens nothing on a
   marked file system: the reader thread may call it. The ids are pid's; only the pidfd
   proves pid still names the event's process (see pal_rtp_proc_identify). */
int pal_rtp_proc_ids(pid_t pid, int pidfd, pal_rtp_ids *out);
/* Each way alone, for the tests to compare. The pidfd's fails with errno ENOTTY on a kernel
   without PIDFD_GET_INFO (before 6.13). */
int pal_rtp_proc_ids_from_pidfd(int pidfd, pal_rtp_ids *out);
int pal_rtp_proc_ids_from_proc(pid_t pid, pal_rtp_ids *out);

/* Fill p for pid (pidfd: the event's, or < 0 when none was reported). */
void pal_rtp_proc_identify(pal_rtp_proc *p, pid_t pid, int pidfd);

/*
 * Whether p is excluded by one of entries ("/path/to/exe" or "/path/to/exe:<sha256 hex>",
 * as the setting normalised them). A pinned entry hashes the binary behind
 * /proc/<pid>/exe; an unknown identity is never excluded.
 */
int pal_rtp_proc_excluded(const pal_rtp_proc *p, int pidfd, char *const *entries, size_t n);

/*
 * Other processes holding a fanotify group of a permission class (content or pre-content):
 * two products answering the same opens is how machines hang (each may wait on the other).
 * Walks /proc (tens of milliseconds): called when protection starts, never per event.
 * Returns a new array of "pid executable" strings (empty when none), NULL when out of memory.
 */
json_t *pal_rtp_other_listeners(pid_t self);

/* ---- per-process statistics ------------------------------------------------------------ */

typedef struct pal_rtp_pstats pal_rtp_pstats;

pal_rtp_pstats *pal_rtp_pstats_new(void); /* NULL: no memory */
void pal_rtp_pstats_free(pal_rtp_pstats *s);
void pal_rtp_pstats_reset(pal_rtp_pstats *s, int64_t since_ms);
/* One scan (or cached answer, scan_ns 0) caused by p; blocked when it was denied. */
void pal_rtp_pstats_add(pal_rtp_pstats *s, const pal_rtp_proc *p, int scanned, int64_t scan_ns,
                        int blocked);
/* {since, processes:[...]} ordered by scan time, descending (rtp.h). */
json_t *pal_rtp_pstats_json(pal_rtp_pstats *s, size_t limit);

#endif
