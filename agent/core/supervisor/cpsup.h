/*
 * cpsup.h — the broker's content-process supervisor and channels: starts palisade-cp in its
 * sandbox, keeps one running while sandbox mode is on, and scans objects through it with
 * the same contract as pal_scan, treating everything it says as hostile.
 *
 * Process: a supervisor thread owned by this module spawns the content process (clone3 with
 * new PID, mount, network, IPC and UTS namespaces, plus a user namespace when the broker is
 * not root; the binary is executed from a descriptor after an ownership check), hands it the
 * verified package's descriptor and the engine limits, a sealed read-only shared-memory
 * descriptor and K channels
 * (SOCK_SEQPACKET socketpairs, one per scan slot), waits for READY, verifies from
 * /proc/<pid>/status that the sandbox is in force (Seccomp 2, NoNewPrivs 1, no capabilities,
 * not root), reaps it, keeps the tail of its stderr, and restarts it with exponential backoff.
 * The spawning thread lives as long as the content process because PR_SET_PDEATHSIG fires
 * when the *thread* that created a process exits.
 *
 * Identity (cpident.h): each instance runs under a uid that no other process and no other
 * account has — the dedicated account (config.account, "palisade-cp") when it exists and is
 * free, else a dynamic uid picked at spawn — so that nothing else can signal it or change
 * its limits. An account that shares its uid (nobody's, root's, another account's) is
 * refused: the instance does not start, scans through it are unscannable ("content process
 * unavailable: ..."), and the reason is the start failure's (status, events). Before every
 * hand-off (one object, or one pipeline of small objects), its resource limits and the
 * priority of its threads are compared with what the broker set; a difference kills it (event
 * kill-tampered, detail "limits changed: ...") and the object goes to the next instance.
 *
 * Scans: pal_cpsup_scan sends SCAN with the first bytes (through the slot's shared bulk
 * area, as much as it holds, else a first chunk inline), answers the engine's data
 * requests with reads on the caller's pal_source (inline DATA parts or the slot's shared bulk
 * area), and checks every message (agent/ipc/cpmsg.h): type allowed in the scan's state,
 * request id, offsets within the object and under the per-request cap, threat names from
 * the catalog, chains rooted at the object's name, "clean" only for content that was read.
 * Any violation kills the content process (event kill-misbehaved) and the object is
 * unscannable; no answer by max_scan_ms + grace kills it too (kill-timeout). When the
 * process dies under a scan, the scan is retried once, alone, in the next instance; an
 * object that kills it again is unscannable (crashed the content process). Nothing here
 * ever falls back to scanning in-process.
 *
 * The package: the caller hands over the descriptor of the package file it verified and the
 * engine limits, nothing of its own types. The supervisor keeps its own duplicate of the
 * descriptor (what the content process receives) and its own read-only mapping of the
 * package for the threat catalog; a package is the file (device and inode) with its limits,
 * so an update or other limits replace the instance.
 *
 * Files: cpsup.c (state machine), cpspawn.c (one instance's process), cppkg.c (the
 * package it holds), cpchan.c (the channels), cppipe.c (several small objects per round
 * trip on a channel); their shared internals are in
 * cpsup_internal.h.
 *
 * Thread safety: every function may be called from any thread, except that a slot is used
 * by one caller at a time (the slot layer's guarantee). The event callback runs on the
 * supervisor thread without any lock held; it may call pal_cpsup_status but nothing else of
 * this module. Do not reap children with waitpid(-1)/__WALL elsewhere in the broker: the
 * content process is a clone child (no SIGCHLD), reaped here through its pidfd.
 */
#ifndef PAL_CPSUP_H
#define PAL_CPSUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine.h"
#include "pal_error.h"

typedef struct pal_cpsup pal_cpsup;

typedef enum pal_cpsup_state {
    PAL_CPSUP_STOPPED = 0, /* sandbox mode off (pal_cpsup_stop) or never started */
    PAL_CPSUP_STARTING,    /* spawned, sandboxing itself, no READY yet */
    PAL_CPSUP_RUNNING,
    PAL_CPSUP_RESTARTING, /* died or failed to start: next attempt after the backoff */
} pal_cpsup_state;

/* "stopped", "starting", "running", "restarting" */
const char *pal_cpsup_state_name(pal_cpsup_state s);

typedef enum pal_cpsup_event_kind {
    PAL_CPSUP_EV_START = 1,       /* an instance is READY; detail lists the sandbox steps */
    PAL_CPSUP_EV_START_FAILED,    /* it died or stalled before READY; detail says why, e.g.
                                     "sandbox step seccomp failed" */
    PAL_CPSUP_EV_EXIT,            /* it exited by itself while running */
    PAL_CPSUP_EV_CRASH,           /* a signal we did not send ended it (SIGSEGV, SIGSYS...) */
    PAL_CPSUP_EV_KILL_MISBEHAVED, /* killed for a protocol violation (detail: which) */
    PAL_CPSUP_EV_KILL_TIMEOUT,    /* killed for not answering in time */
    PAL_CPSUP_EV_STOP,            /* stopped on purpose: sandbox off, new definitions, free */
    PAL_CPSUP_EV_DEGRADED,        /* consecutive failures reached the crash-loop threshold */
    PAL_CPSUP_EV_KILL_TAMPERED,   /* killed because its limits or priority were changed
                                     (detail: "limits changed: RLIMIT_AS is ...") */
} pal_cpsup_event_kind;

/* "start", "start-failed", "exit", "crash", "kill-misbehaved", "kill-timeout", "stop",
   "degraded", "kill-tampered" */
const char *pal_cpsup_event_name(pal_cpsup_event_kind k);

typedef struct pal_cpsup_event {
    pal_cpsup_event_kind kind;
    int64_t time;            /* unix seconds */
    uint64_t generation;     /* instance number, from 1 */
    pid_t pid;               /* as the broker sees it; 0 if it never ran */
    int exit_code;           /* -1 unless it exited */
    int signal;              /* 0 unless a signal ended it */
    const char *object;      /* object(s) being scanned on it, newline-separated; NULL if none */
    const char *detail;      /* one line, never NULL */
    const char *stderr_tail; /* its last stderr output (at most 4 KiB), never NULL */
} pal_cpsup_event;

/* Strings in ev live until the callback returns. */
typedef void (*pal_cpsup_event_fn)(void *ctx, const pal_cpsup_event *ev);

typedef struct pal_cpsup_config {
    const char *binary;        /* absolute path of palisade-cp (copied) */
    unsigned channels;         /* K, one per scan slot: 1 .. 64 */
    const char *account;       /* the dedicated account it drops to when the broker is root
                                  (copied); NULL or "": a dynamic uid always (cpident.h) */
    uint32_t timeout_grace_ms; /* per-object timeout = the engine's max_scan_ms + this */
    uint32_t start_timeout_ms; /* READY must arrive within this */
    uint32_t start_wait_ms;    /* how long a scan waits for an instance to come up */
    uint32_t backoff_base_ms;  /* first restart delay after a failure; doubles each time */
    uint32_t backoff_max_ms;
    unsigned degraded_after;     /* consecutive failures that make a crash loop */
    uint64_t rlimit_cpu_s;       /* CPU seconds one instance may use; 0 = no limit */
    int core_dumps;              /* allow core dumps: the process stays non-dumpable, so the
                                    kernel writes them only with fs.suid_dumpable=2 and an
                                    absolute core_pattern, root-owned (0600) */
    int bulk_shm;                /* data answers through the shared bulk area (1, default) or
                                    as inline DATA parts (0) */
    unsigned fail_step;          /* test builds: ask the process to fail this sandbox step */
    pal_cpsup_event_fn on_event; /* may be NULL */
    void *event_ctx;
} pal_cpsup_config;

/* Defaults: channels 1, account "palisade-cp", grace 5 s, start timeout 10 s, start wait 60 s,
   backoff 100 ms .. 30 s, degraded after 5, CPU 24 h, no core dumps, bulk_shm 1. */
void pal_cpsup_config_default(pal_cpsup_config *cfg);

/* <directory of /proc/self/exe>/palisade-cp: the content process next to the daemon. */
int pal_cpsup_default_binary(char *buf, size_t len, pal_errbuf *err);

/*
 * The rule a binary must pass before it is executed: a regular file, not a symlink, whose
 * owner and directory's owner are root (broker root) or root or the broker's user (broker
 * not root), and neither writable by group or others. 0 or PAL_EPERM/PAL_EIO with err.
 */
int pal_cpsup_check_binary(const char *path, pal_errbuf *err);

int pal_cpsup_new(const pal_cpsup_config *cfg, pal_cpsup **out, pal_errbuf *err);
/* Stops the content process and the supervisor. No scan may be in flight. Accepts NULL. */
void pal_cpsup_free(pal_cpsup *sup);

/*
 * Turn sandbox mode on with the package open on pkg_fd (read-only; the supervisor keeps a
 * duplicate, the caller's descriptor may be closed afterwards) and the engine limits, and
 * wait until an instance is READY: 0, or the error of the first failed attempt (err: e.g.
 * "palisade-cp exited with status 81: sandbox step seccomp failed"), or PAL_EINVAL for a
 * descriptor that is not a package. On a failed start the supervisor keeps retrying with
 * backoff until pal_cpsup_stop.
 */
int pal_cpsup_start(pal_cpsup *sup, int pkg_fd, const pal_limits *limits, pal_errbuf *err);

/* Turn sandbox mode off: scans in flight finish, later ones get PAL_ESTATE, the content
   process is stopped. Returns when it is gone. */
void pal_cpsup_stop(pal_cpsup *sup);

/* A new package or other limits (update, settings): the running instance is replaced once
   the scans in flight on it finish. pal_cpsup_scan does the same when it meets a package
   other than the one in force and the one before it. 0 or a code with err. */
int pal_cpsup_set_package(pal_cpsup *sup, int pkg_fd, const pal_limits *limits, pal_errbuf *err);

/* How a scan through the content process ended. */
typedef enum pal_cpsup_outcome {
    PAL_CPSUP_SCANNED = 0, /* the report is the engine's */
    PAL_CPSUP_MISBEHAVED,  /* unscannable (engine-error): the process broke the protocol */
    PAL_CPSUP_TIMEOUT,     /* unscannable (timeout): no answer in time */
    PAL_CPSUP_CRASHED,     /* unscannable (engine-error): the object killed it twice */
    PAL_CPSUP_UNAVAILABLE, /* unscannable (engine-error): no instance came up */
    PAL_CPSUP_CP_ERROR,    /* unscannable (engine-error): it answered ERROR (e.g. ENOMEM) */
    PAL_CPSUP_CANCELLED,   /* unscannable (cancelled) while waiting for an instance */
} pal_cpsup_outcome;

/* "scanned", "content-process-misbehaved", "content-process-timeout",
   "content-process-crashed", "content-process-unavailable", "content-process-error",
   "cancelled": stable names for the store and JSON. */
const char *pal_cpsup_outcome_name(pal_cpsup_outcome o);

/*
 * Scan one object on slot (0 .. channels-1) in the content process, with the package open
 * on pkg_fd and limits (as for pal_cpsup_start; a scan that still holds the package just
 * replaced runs on the current instance): pal_scan's contract (returns 0 with *rep filled,
 * or a negative code: PAL_EINVAL for bad arguments, a name over 4095 bytes or a descriptor
 * that is not a package, PAL_ESTATE when sandbox mode is off, PAL_ENOMEM, PAL_EIO). A failure of
 * the content process is a verdict, not an error: unscannable, reason_detail starting with "content
 * process ..." — *outcome (may be NULL) says which. rep->bytes_read counts the bytes the broker
 * served.
 */
int pal_cpsup_scan(pal_cpsup *sup, unsigned slot, int pkg_fd, const pal_limits *limits,
                   const pal_source *src, const char *name, const volatile int *cancel,
                   pal_report *rep, pal_cpsup_outcome *outcome);

/*
 * Several small objects on one slot for the price of about one round trip (cppipe.c): the
 * instance's identity and limits are checked once for the hand-off, every object goes out as
 * a SCAN that holds all its bytes (with a bulk area all of them in one REQUESTS datagram,
 * the bytes side by side in the area; else inline, one datagram each), and the answers
 * (the content process sends them together, as one ANSWERS) are read and checked in order,
 * exactly as pal_cpsup_scan checks one. Each object's timeout starts when the previous one's
 * answer arrived. When the instance dies, misbehaves or times out under object j, the objects
 * before j keep their reports, j is handled as pal_cpsup_scan would handle it (a death:
 * retried once alone on the next instance), and every object after j is scanned again on
 * its own through pal_cpsup_scan's path, so that a crash is laid on the object that caused it.
 * One exception: no answer in time for j while later objects were in flight does not say
 * whose time it was (the content process may hold j's answer while a later one scans), so
 * j too is scanned again on its own (the kill-timeout event names every object in flight).
 *
 * n at most PAL_CPSUP_PIPE_MAX; each srcs[i].size at most PAL_CPMSG_INLINE_MAX and their sum at
 * most PAL_CPSUP_PIPE_BYTES (so that the SCANs fit in the channel's send buffer; one that does
 * not fit is sent later on its own). Returns PAL_EINVAL for bad arguments, PAL_ESTATE when the
 * slot is in use, else 0 with, for each object, rcs[i] what pal_cpsup_scan would have
 * returned, reps[i] and outcomes[i] (may be NULL) as it fills them.
 */
#define PAL_CPSUP_PIPE_MAX 16U
#define PAL_CPSUP_PIPE_BYTES (128U * 1024U)
int pal_cpsup_scan_pipelined(pal_cpsup *sup, unsigned slot, int pkg_fd, const pal_limits *limits,
                             size_t n, const pal_source *srcs, const char *const *names,
                             const volatile int *cancel, pal_report *reps, int *rcs,
                             pal_cpsup_outcome *outcomes);

/* ---- self-test (palisade-cp-selftest only; the installed binary answers unsupported) ---- */

typedef enum pal_cpsup_attack_outcome {
    PAL_CPSUP_ATTACK_BLOCKED = 1, /* the call failed with err */
    PAL_CPSUP_ATTACK_KILLED,      /* the content process died (signal / exit_code) */
    PAL_CPSUP_ATTACK_SUCCEEDED,   /* the call worked: the sandbox is broken */
    PAL_CPSUP_ATTACK_UNSUPPORTED, /* not a self-test build */
} pal_cpsup_attack_outcome;

typedef struct pal_cpsup_attack_result {
    pal_cpsup_attack_outcome outcome;
    int err;       /* errno, BLOCKED */
    int signal;    /* KILLED by a signal */
    int exit_code; /* KILLED by exiting; -1 otherwise */
} pal_cpsup_attack_result;

/* action: PAL_CPMSG_ATTACK_* (cpmsg.h); path for connect, arg a pid for ptrace/kill. */
int pal_cpsup_attack(pal_cpsup *sup, unsigned slot, unsigned action, const char *path, uint64_t arg,
                     pal_cpsup_attack_result *out, pal_errbuf *err);

/* ---- status ------------------------------------------------------------------------------ */

typedef struct pal_cpsup_status {
    pal_cpsup_state state;
    pid_t pid;           /* running instance; 0 when none */
    int64_t start_time;  /* unix seconds it became READY; 0 when none */
    uint64_t generation; /* instances spawned so far */
    uint64_t starts;     /* instances that became READY */
    uint64_t restarts;   /* restarts after a failure (crash, exit, kill, start) */
    uint64_t crashes, exits, kills_misbehaved, kills_timeout, start_failures;
    uint64_t kills_tampered;       /* killed because its limits or priority changed */
    unsigned consecutive_failures; /* since the last request answered properly */
    int degraded;                  /* crash loop */
    char degraded_reason[256];     /* "" unless degraded */
    uint32_t sandbox_steps;        /* bits 1 << PAL_CPMSG_STEP_* of the running instance */
    int landlock_abi;              /* 0: no Landlock */
    uid_t uid;                     /* of the running instance, as the broker sees it */
    gid_t gid;
    char identity[320];       /* how its uid was chosen: "account palisade-cp (uid
                                 998)", "dynamic uid 1879048200 (no account
                                 palisade-cp)", ...; "" when none runs */
    int selftest_build;       /* the running binary accepts self-tests */
    uint64_t package_version; /* the package the running instance mapped */
    char last_exit[256];      /* how the last instance ended; "" if none did */
    uint64_t scans;           /* requests answered */
    uint64_t data_requests;   /* DATA_REQ served: round trips beyond the first */
    uint64_t bytes_served;
} pal_cpsup_status;

void pal_cpsup_get_status(pal_cpsup *sup, pal_cpsup_status *out);

/* Space-separated step names of steps (e.g. "pid-namespace ... seccomp") into buf. */
void pal_cpsup_steps_string(uint32_t steps, char *buf, size_t len);

#endif
