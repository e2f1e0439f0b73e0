/*
 * cpsup_internal.h — private to the supervisor library (pal_cpsup): the state the three
 * parts of cpsup.h's implementation share, and what each offers the others. Not for the
 * rest of the broker, which uses cpsup.h.
 *
 *   cpsup.c    the state machine: the package in force, instances and their reference
 *              counts, start / restart with backoff / crash loop, events, status, and
 *              handing a running instance to a request (acquire / release / kill).
 *   cpspawn.c  one instance's process: the binary check, clone3 with namespaces, the
 *              descriptors, argv/env and CONFIG, READY and the /proc verification of the
 *              demoted child, reaping and its stderr tail (cpspawn.h).
 *   cppkg.c    the supervisor's own hold on a package: descriptor, catalog, identity
 *              (cppkg.h).
 *   cpchan.c   one channel per slot: a scan's or a self-test's conversation, data served
 *              from the caller's source, and the strict checks of what comes back
 *              (cpchan.h).
 *
 * Locking: one mutex (pal_cpsup.lock) protects the supervisor state, the current instance
 * pointer, instance and package reference counts and flags, the in-flight bookkeeping and
 * the counters. No lock is held while a scan waits on its channel or while the supervisor
 * polls, spawns or runs the event callback. A slot's buffers belong to the one caller using
 * the slot.
 *
 * Instance lifetime: the supervisor holds one reference to the current instance; every
 * scan in flight holds one. Its descriptors (channels, pidfd, stderr) are closed only when
 * the last reference goes, so a scan never uses a descriptor number that was reused, and a
 * kill through the pidfd never reaches a stranger.
 */
#ifndef PAL_CPSUP_INTERNAL_H
#define PAL_CPSUP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cpident.h"
#include "cpmsg.h"
#include "cppkg.h"
#include "cpsup.h"

#define TAIL_MAX 4096U   /* stderr bytes kept of an instance */
#define CTL_PAGE 4096U   /* per-slot control page of the shared memory (cancel word) */
#define WAIT_TICK_MS 100 /* condition waits re-check flags this often */

typedef struct cp_inst {
    unsigned refs; /* sup->lock */
    uint64_t gen;
    pid_t pid;
    int pidfd;
    int *chan; /* broker ends, K */
    unsigned k;
    int err_fd;   /* read end of its stderr; supervisor thread only */
    uint8_t *shm; /* broker's writable mapping of the shared memory */
    size_t shm_size;
    uint32_t stride;
    int bulk;
    cp_pkg *pkg; /* reference: the package and limits it runs */
    int64_t start_time;
    uint32_t steps; /* sandbox steps (broker's and its own) */
    int id_mode;
    pal_cpmsg_ready hello;
    pal_cpident ident;       /* who it was started as (chosen at spawn) */
    pal_cpident_guard guard; /* its limits and priority; immutable once ready */
    uint64_t rlimit_as;      /* the address-space limit it was told to set */
    uid_t uid;               /* from /proc/<pid>/status */
    gid_t gid;
    int ready, planned; /* sup->lock */
    int reaped;         /* exit status collected: unusable; sup->lock */
    int dead;           /* and its end recorded (event emitted); sup->lock */
    int kill_kind;      /* PAL_CPSUP_EV_KILL_* once we killed it; sup->lock */
    char kill_detail[320];
    char *kill_object;
    int exit_code, term_signal;
    char tail[TAIL_MAX]; /* last stderr bytes; supervisor thread */
    size_t tail_len;
} cp_inst;

typedef struct cp_slot {
    uint8_t *rx;             /* PAL_CPMSG_MAX + 1 */
    pal_cpmsg_bytes pending; /* the items of an ANSWERS in rx not taken yet ... */
    uint64_t pending_gen;    /* ... from this instance */
    uint8_t *tx;             /* PAL_CPMSG_MAX */
    int busy;                /* a caller is using the slot; sup->lock */
    const char *name;        /* object in flight, for events; sup->lock */
    cp_inst *inst;           /* instance it is in flight on; sup->lock */
} cp_slot;

struct pal_cpsup {
    pal_cpsup_config cfg;
    char *binary;
    char *account;     /* cfg.account, copied (NULL: dynamic uids only) */
    int avoid_account; /* supervisor thread: a start lost the account's uid to a race */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* any change of the state below */
    pthread_t thread;
    int thread_started;
    int wake_fd; /* eventfd: pokes the supervisor's poll */
    atomic_uint_fast64_t next_id;

    /* all below: lock */
    int enabled, shutdown;
    cp_pkg *pkg;     /* what the next instance runs */
    cp_pkg *retired; /* the previous package: still served by the current instance */
    cp_inst *cur;
    pal_cpsup_state state;
    int64_t next_start_ms; /* backoff: no spawn before this (monotonic) */
    unsigned consecutive;
    int degraded;
    char degraded_reason[256];
    int last_fail_start; /* the last failure was a failed start */
    char last_start_error[512];
    uint64_t start_seq; /* start attempts finished */
    uint64_t gen;
    unsigned inflight;
    int isolated; /* a retry runs alone */
    unsigned isolate_waiters;
    cp_slot *slots;
    pal_cpsup_status st; /* counters part of the status */
};

static inline int64_t cpsup_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void cpsup_close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* ---- cpsup.c: the state machine's side of a request ---------------------------------------- */

/*
 * Make the package open on pkg_fd with limits the one in force, unless it is the one in
 * force or the one just retired (a scan that still holds the previous package runs on the
 * current instance rather than flip-flop). 0, or PAL_EINVAL (not a package file), PAL_EIO,
 * PAL_ENOMEM. No lock held.
 */
int cpsup_offer_package(pal_cpsup *sup, int pkg_fd, const pal_limits *limits, pal_errbuf *err);

typedef enum cpsup_acq_result {
    CPSUP_ACQ_OK = 0,
    CPSUP_ACQ_STOPPED,
    CPSUP_ACQ_CANCELLED,
    CPSUP_ACQ_UNAVAILABLE,
} cpsup_acq_result;

/* Wait for a running instance of the package in force for this request and mark it in
   flight on slot (*out, one reference). A retry (alone) waits for an instance newer than
   after_gen and for every other request to finish. why: the reason when unavailable. */
cpsup_acq_result cpsup_acquire(pal_cpsup *sup, unsigned slot, int alone, uint64_t after_gen,
                               const char *name, const volatile int *cancel, cp_inst **out,
                               char *why, size_t why_len);
/* The request on slot is over; answered: how many objects it answered properly (one or
   more ends a crash loop; each counts a scan). */
void cpsup_release(pal_cpsup *sup, unsigned slot, cp_inst *in, int alone, unsigned answered);
/* The object now in flight on slot, for events (a pipeline moves on through its objects). */
void cpsup_set_slot_object(pal_cpsup *sup, unsigned slot, const char *name);
/* Kill in for a reason of ours (kind PAL_CPSUP_EV_KILL_*); the first reason is kept. */
void cpsup_kill(pal_cpsup *sup, cp_inst *in, pal_cpsup_event_kind kind, const char *object,
                const char *detail);
/* Kill in and wait until the supervisor has reaped it and recorded its end. */
void cpsup_kill_and_wait(pal_cpsup *sup, cp_inst *in);

#endif
