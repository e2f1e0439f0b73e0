/*
 * daemon.h — palisaded's shared state and its one owner: the store, the settings, the
 * trusted keys, the signature package in force, the slot pool, the scan host, the
 * quarantine and the updater, the control sockets, and the counters status shows.
 * pal_daemon is opaque: handlers (ops*.c) and the updater reach the state through these
 * functions, and only pal_daemon_put_in_force changes the package in force.
 *
 * Life: pal_daemon_new builds it all (state directory and its lock, store, settings, keys,
 * package, scan host and slots, quarantine reconciliation); pal_daemon_start opens the
 * control sockets; pal_daemon_stop refuses new scans and closes the sockets (cancelling
 * the scans in flight, which end recorded as Cancelled); pal_daemon_free releases the rest.
 *
 * Locks (inside daemon.c): one lock protects the package in force, its error text and the
 * slot pool (the pointers; each object is itself thread-safe); another the last-scan id.
 * No lock is held while a scan runs or a handler waits.
 */
#ifndef PAL_DAEMON_H
#define PAL_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include "control.h"
#include "defs.h"
#include "quarantine.h"
#include "remediate.h"
#include "scanhost.h"
#include "scanjob.h"
#include "settings.h"
#include "slots.h"
#include "store.h"

#define PAL_AGENT_VERSION "0.1.0"

typedef struct pal_daemon_paths {
    const char *state_dir;
    const char *socket_path;
    const char *policy_dir;
    const char *trusted_keys_dir;
    const char *defs_path; /* --defs: package offered at start (may be NULL) */
    const char *cp_binary; /* palisade-cp (--content-process; NULL: the one beside us) */
} pal_daemon_paths;

typedef struct pal_daemon_config {
    pal_daemon_paths paths;      /* copied */
    const char *cp_account;      /* the content process's account; NULL: dynamic uids (copied) */
    const char *force_sandbox;   /* PAL_ENV_FORCE_SANDBOX's value, or NULL (copied) */
    const char *force_real_time; /* PAL_ENV_FORCE_REAL_TIME's value, or NULL (copied) */
    int check_owners;            /* policy, keys and state must be owned by us (running as root) */
    /* --clock-offset-file: shifts the scheduler's clock (scheduler.h); NULL: real clock */
    const char *clock_offset_file;
} pal_daemon_config;

typedef struct pal_daemon pal_daemon;

/* Build the daemon (see above). Errors are logged as well as returned. */
int pal_daemon_new(const pal_daemon_config *cfg, pal_daemon **out, pal_errbuf *err);
/* Open the control socket and the read-only status socket beside it (<socket>.status). */
int pal_daemon_start(pal_daemon *d, pal_errbuf *err);
/* New scans are refused; the control sockets are closed after their handlers returned. */
void pal_daemon_stop(pal_daemon *d);
void pal_daemon_free(pal_daemon *d); /* stops it first; accepts NULL */

/* Periodic work (once a minute): the quarantine retention purge and journal pruning. */
void pal_daemon_tick(pal_daemon *d);
/* SIGHUP: re-read the policy directory (the last good policy stays on error). */
int pal_daemon_reload_policy(pal_daemon *d, pal_errbuf *err);

/* ---- the state, for the handlers ------------------------------------------------------- */

pal_store *pal_daemon_store(pal_daemon *d);
pal_settings *pal_daemon_settings(pal_daemon *d);
const pal_daemon_paths *pal_daemon_paths_of(pal_daemon *d);
const pal_keyring *pal_daemon_keys(pal_daemon *d);
pal_scanhost *pal_daemon_host(pal_daemon *d);
int64_t pal_daemon_started_at(pal_daemon *d); /* ms */
/* What --trusted-keys refused (fixed after start). */
size_t pal_daemon_keys_problems(pal_daemon *d, const char *const **out);

/* A new reference to the defs in force, or NULL. */
pal_defs *pal_daemon_defs(pal_daemon *d);
/* Why no package is in force ("" when one is), copied into buf. */
void pal_daemon_defs_error(pal_daemon *d, char *buf, size_t size);
/*
 * Put next in force (the reference is taken over; NULL is refused). Scans holding the old
 * package finish their file on it, then it is freed. The one place the package in force
 * changes: start-up, updates and rollbacks (updates.h) all come here.
 */
int pal_daemon_put_in_force(pal_daemon *d, pal_defs *next);

/* The slot pool in force, held by one scan: pal_daemon_scan_begin gives it (and counts the
   scan as active), or NULL when the daemon is stopping; pal_daemon_scan_end gives it back
   (a pool replaced meanwhile is freed when its last scan ends). */
typedef struct pal_slots_ref pal_slots_ref;
pal_slots_ref *pal_daemon_scan_begin(pal_daemon *d);
pal_slots *pal_slots_ref_pool(const pal_slots_ref *r);
void pal_daemon_scan_end(pal_daemon *d, pal_slots_ref *r);
int pal_daemon_active_scans(pal_daemon *d);
void pal_daemon_set_last_scan(pal_daemon *d, int64_t scan_id);

/* The quarantine, the updater and the remediation interface scans are given; NULL (fn NULL)
   before pal_daemon_new finished setting them up. */
pal_quarantine *pal_daemon_quarantine(pal_daemon *d);
struct pal_updater *pal_daemon_updater(pal_daemon *d);
pal_remediator pal_daemon_remediator(pal_daemon *d);

/* Rebuild the engine with the limits now in the settings (after a limit setting changed). */
int pal_daemon_apply_limits(pal_daemon *d, pal_errbuf *err);
/* Replace the slot pool with one of the ScanThreads now set, and put SandboxMode in force
   with one content-process channel per slot. */
int pal_daemon_apply_scan_threads(pal_daemon *d, pal_errbuf *err);
/* Put SandboxMode in force (start or stop the content process), live. */
int pal_daemon_apply_sandbox(pal_daemon *d, pal_errbuf *err);

/* ---- the handlers (ops*.c) ------------------------------------------------------------- */

/* Register every control operation of the daemon (ops.c) on srv. */
int pal_daemon_register_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err);
/* The status op's result object (ops.c), also written into the diagnostics bundle; NULL
   when out of memory. */
json_t *pal_daemon_status_json(pal_daemon *d);
/* One scan record as scans.list shows it (ops.c); NULL when out of memory. */
json_t *pal_daemon_scan_rec_json(const pal_scan_rec *r);
/* scan.start's progress event data (ops.c); NULL when out of memory. */
json_t *pal_daemon_progress_json(const pal_scan_progress *p);
/* Run one scan on the slots in force, log it and its detections (ops.c): the foreground
   scan.start and a detached scan (jobs.h) alike. On an error, *code is its protocol code. */
int pal_daemon_run_scan(pal_daemon *d, const pal_scanjob_req *sreq, pal_scan_result *res,
                        const char **code, pal_errbuf *err);
/* Real-time protection (rtp.h); never NULL once pal_daemon_new succeeded. */
struct pal_rtp *pal_daemon_rtp(pal_daemon *d);
/* The registry of detached scans (jobs.h). */
struct pal_jobs *pal_daemon_jobs(pal_daemon *d);
/* The scheduled scans (scheduler.h); NULL before pal_daemon_new finished. */
struct pal_sched *pal_daemon_scheduler(pal_daemon *d);

#endif
