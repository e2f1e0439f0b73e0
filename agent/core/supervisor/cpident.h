/*
 * cpident.h — who the content process runs as, and whether what the broker set for it still
 * holds: the identity chosen at each spawn, and the resource limits and scheduling priority
 * checked when it is READY and again before every object it is given.
 *
 * Why a uid of its own: kill(2) is allowed to any process whose real or effective uid
 * matches the target's real or saved uid, and prlimit(2) to one whose uids and gids match
 * the target's; neither needs a capability then. A content process running as "nobody" could
 * be killed in a loop, or starved of memory with prlimit, by every other daemon running as
 * nobody: scans then fail while status says Running. So the uid the content process drops to
 * is one that no other account and no other process has:
 *
 *  - The dedicated account (pal_cpsup_config.account, default "palisade-cp", created by the
 *    package's postinst) when it exists. Refused, with the reason, when its uid is 0, when
 *    it is nobody's (65534 or the uid of "nobody") or when another passwd entry has it; and
 *    when its group is gid 0. The group may be shared (signals do not look at it; prlimit
 *    needs the uid as well). When another process runs under the account's uid at spawn
 *    time, that instance runs under a dynamic uid instead, and says why (the start event and
 *    pal_cpsup_status.identity): it never shares.
 *  - Else, or then, a dynamic uid: a random uid in [PAL_CPIDENT_DYN_FIRST,
 *    PAL_CPIDENT_DYN_LAST] with gid = uid, for which there is no passwd and no group entry,
 *    no range in /etc/subuid or /etc/subgid, and no process with it among its real,
 *    effective, saved or file-system uids or gids (/proc/<pid>/status of every process).
 *    The range lies in what systemd's map of uids leaves unused, between the container range
 *    (up to 0x6FFFFFFF) and the foreign range (from 0x7FFE0000), below 2^31 so that no tool
 *    that keeps ids in a signed int sees a negative one. It owns no file: the content process
 *    cannot open any.
 *  - A broker that is not root cannot choose: the content process keeps the broker's own
 *    uid, in a user namespace where it can. Whatever can signal it can signal the broker too.
 *
 * The /proc check is repeated once the instance is READY (two brokers spawning at the same
 * moment could have picked the same uid): another process with its uid fails the start, and
 * the supervisor's next attempt uses a dynamic uid. Only thread-group leaders are examined:
 * giving one thread of a process another uid takes root, and root can signal anything.
 *
 * Limits and priority: the expected value of each of the 16 resource limits is what the
 * content process sets for itself (cp_sb_rlimits and cp_sb_nproc in agent/cp/sandbox.c:
 * address space, CPU, open files, file size, locked memory, message queues, core size,
 * processes) or, for the others, what it inherited from the broker's process at spawn; the
 * expected priority is the nice value, policy and real-time priority of the broker's spawning
 * thread at spawn. They are read from /proc/<pid>/limits (readable without CAP_SYS_RESOURCE,
 * which the service's bounding set does not have) and with getpriority / sched_getscheduler /
 * sched_getparam on each of its threads (listed at READY; it cannot make new ones). A
 * difference makes the supervisor kill it and start another (event kill-tampered).
 * Not checked: I/O priority (the content process does no I/O of its own) and CPU affinity.
 *
 * Library code: nothing is logged; errors come back in pal_errbuf.
 */
#ifndef PAL_CPIDENT_H
#define PAL_CPIDENT_H

#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "pal_error.h"

#define PAL_CPIDENT_DYN_FIRST 0x70000000U
#define PAL_CPIDENT_DYN_LAST 0x7FFDFFFFU

typedef enum pal_cpident_kind {
    PAL_CPIDENT_BROKER = 0, /* the broker is not root: its own uid */
    PAL_CPIDENT_ACCOUNT,    /* the dedicated account */
    PAL_CPIDENT_DYNAMIC,    /* a uid no account and no process has */
} pal_cpident_kind;

typedef struct pal_cpident {
    pal_cpident_kind kind;
    uid_t uid; /* ACCOUNT, DYNAMIC: the ids to drop to */
    gid_t gid;
    char why[320]; /* one line: "account palisade-cp (uid 998)", "dynamic uid 1879… (no
                      account palisade-cp)", ... */
} pal_cpident;

/*
 * Choose the identity of the next instance. account: the dedicated account's name, or NULL
 * or "" for a dynamic uid always; avoid_account: use a dynamic uid even if the account is
 * free (set after a start lost a race for it). Returns 0 with *out set, PAL_EPERM (the
 * account is refused: err says why), PAL_ENOTFOUND (no free uid found) or PAL_EIO (/proc or
 * the account databases unreadable).
 */
int pal_cpident_choose(const char *account, int avoid_account, pal_cpident *out, pal_errbuf *err);

/*
 * Is uid (or gid, when gid != (gid_t)-1) among the ids of a process other than self?
 * 1 with *other and its command name in comm; 0 if none; PAL_EIO if /proc is unreadable.
 */
int pal_cpident_find_user(uid_t uid, gid_t gid, pid_t self, pid_t *other, char *comm,
                          size_t comm_len, pal_errbuf *err);

/* ---- limits and priority ---------------------------------------------------------------- */

#define PAL_CPIDENT_NLIMITS 16 /* RLIMIT_CPU .. RLIMIT_RTTIME, the rows of /proc/<pid>/limits */
#define PAL_CPIDENT_MAX_TASKS 80

typedef struct pal_cpident_guard {
    pid_t pid;
    struct rlimit lim[PAL_CPIDENT_NLIMITS]; /* expected */
    int nice, policy, rtprio;               /* expected, of every thread */
    pid_t tids[PAL_CPIDENT_MAX_TASKS];      /* its threads, from READY on */
    unsigned ntids;
    int limits_fd; /* /proc/<pid>/limits, open from READY on: re-read with pread, half the
                      cost of opening it per object, and bound to that process */
} pal_cpident_guard;

/* In the thread that spawns the content process, just before: what it will inherit. */
void pal_cpident_guard_init(pal_cpident_guard *g);

/* Close what pal_cpident_guard_arm opened. Accepts a guard that was only initialised. */
void pal_cpident_guard_release(pal_cpident_guard *g);

/* The content process sets resource (an RLIMIT_*) to value, soft and hard. */
void pal_cpident_guard_expect(pal_cpident_guard *g, int resource, rlim_t value);

/* When it is READY: list its threads and check everything. 0, or PAL_EPERM with err
   ("limits changed: ...", "priority changed: ..."), or PAL_EIO. */
int pal_cpident_guard_arm(pal_cpident_guard *g, pid_t pid, pal_errbuf *err);

/* Before an object: 0 if everything still holds, else PAL_EPERM with err as above (or
   PAL_EIO when it cannot be read, e.g. a thread is gone). Read-only on g: callers on
   several threads may check one guard at once. About 2 system calls per thread and one
   read of /proc/<pid>/limits. */
int pal_cpident_guard_check(const pal_cpident_guard *g, pal_errbuf *err);

/* "RLIMIT_AS", ... ("RLIMIT_?" out of range). */
const char *pal_cpident_limit_name(int resource);

#endif
