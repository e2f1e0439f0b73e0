/*
 * daemon.h — palisaded's shared state: what main() builds and the control operations use.
 *
 * Locks: defs_lock protects defs and slots (the pointers; each object is itself
 * thread-safe); status_lock protects the last-scan summary. No lock is held while a scan
 * runs or a handler waits.
 */
#ifndef PAL_DAEMON_H
#define PAL_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "control.h"
#include "defs.h"
#include "scanhost.h"
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
    const char *cp_binary; /* palisade-cp (--content-process or the default) */
} pal_daemon_paths;

/* The quarantine and the signature updater (ops_remediation.c). */
struct pal_remediation;

/* A slot pool shared by the scans that started on it; swapped when ScanThreads changes. */
typedef struct pal_slots_ref {
    atomic_uint refs;
    pal_slots *slots;
} pal_slots_ref;

typedef struct pal_daemon {
    pal_daemon_paths paths;
    pal_store *store;
    pal_settings *settings;
    pal_keyring *keys;
    char **keys_problems; /* immutable after start: what --trusted-keys refused */
    size_t n_keys_problems;
    pal_ctl_server *ctl;        /* the control socket, 0660, admin group */
    pal_ctl_server *ctl_status; /* the read-only status socket beside it, 0666 */
    int64_t started_at;         /* ms */

    pthread_mutex_t defs_lock;
    pal_defs *defs;       /* in force, or NULL (degraded) */
    pal_slots_ref *slots; /* in force */
    pal_scanhost *host;   /* where slots' scans run; owns the content process */
    char defs_error[640]; /* why no package is in force ("" if one is) */

    pthread_mutex_t status_lock;
    int64_t last_scan_id; /* 0: none since start (status then asks the store) */
    atomic_int active_scans;
    atomic_int stopping;

    struct pal_remediation *remediation; /* set at start-up before the control server starts */
} pal_daemon;

/* A new reference to the defs in force, or NULL. */
pal_defs *pal_daemon_defs(pal_daemon *d);
/* The slot pool in force, referenced; drop with pal_daemon_slots_unref. */
pal_slots_ref *pal_daemon_slots(pal_daemon *d);
void pal_daemon_slots_unref(pal_slots_ref *r);

/* Rebuild the engine with the limits now in the settings (after a limit setting changed). */
int pal_daemon_apply_limits(pal_daemon *d, pal_errbuf *err);
/* Replace the slot pool with one of the ScanThreads now set, and put SandboxMode in force
   with one content-process channel per slot. */
int pal_daemon_apply_scan_threads(pal_daemon *d, pal_errbuf *err);
/* Put SandboxMode in force (start or stop the content process), live. */
int pal_daemon_apply_sandbox(pal_daemon *d, pal_errbuf *err);

/* Register every control operation of the daemon (ops.c) on srv. */
int pal_daemon_register_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err);
/* The status op's result object (ops.c), also written into the diagnostics bundle; NULL
   when out of memory. */
json_t *pal_daemon_status_json(pal_daemon *d);
/* One scan record as scans.list shows it (ops.c); NULL when out of memory. */
json_t *pal_daemon_scan_rec_json(const pal_scan_rec *r);

#endif
