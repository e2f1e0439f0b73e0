/*
 * scanjob.h — one on-demand scan from start to recorded result.
 *
 * The calling thread walks the scan's roots (walker.h) and queues each regular file; one
 * worker per slot takes files from the queue, checks the scan cache, acquires a slot,
 * scans (small files several at a time: up to 16 queued one behind the other, each checked
 * against the cache as alone, then one hand-off of the slot for all, slots.h), and for
 * every finding records the detection in the store *before* any action,
 * decides the action (allowed list, per-threat override, the severity's default action from
 * the settings) and hands the file to the remediation interface it was given (remediate.h). Clean,
 * fully examined files whose identity did not change during the scan enter the cache, if
 * cachetrust.h says their key can stand for their content (nobody but root can write them, or they
 * are old enough on a file system that writes pages back).
 *
 * The scan is recorded as it starts (Running) and closed with its totals and outcome
 * (Completed, Cancelled, Failed). The job returns a pal_scan_result and knows nothing of the
 * protocol: the daemon's handler renders it (agent/ipc/PROTOCOL.md, scan.start).
 */
#ifndef PAL_SCANJOB_H
#define PAL_SCANJOB_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "defs.h"
#include "remediate.h"
#include "settings.h"
#include "slots.h"
#include "store.h"
#include "walker.h"

typedef struct pal_scan_progress {
    uint64_t files_done, bytes_done; /* examined (cache hits included) */
    uint64_t files_found;            /* handed over by the walker so far */
    uint64_t threats, unscannable;
    const char *current_path; /* raw bytes, NUL-terminated */
    size_t current_path_len;
} pal_scan_progress;

typedef struct pal_scanjob_env {
    pal_store *store;
    pal_settings *settings;
    pal_slots *slots;
    /* The defs in force, as a new reference (the job drops it). NULL: none loaded. */
    pal_defs *(*get_defs)(void *ctx);
    void *defs_ctx;
    pal_remediator remediate; /* .fn NULL: remediation not available */
} pal_scanjob_env;

typedef struct pal_scanjob_req {
    pal_scan_type type;
    char **paths; /* Custom: absolute paths (raw bytes) */
    size_t *path_lens;
    size_t n_paths;
    uid_t uid; /* who started it (audit) */
    const volatile int *cancel;
    /* At most every 200 ms, from any of the job's threads (serialised by the job). */
    void (*on_progress)(void *ctx, const pal_scan_progress *p);
    void *progress_ctx;
    /* Called once the scan is recorded, with its id (status can show it). */
    void (*on_started)(void *ctx, int64_t scan_id);
    /* Percent of one core the scan may use on average (throttle.h); 0 or 100: no limit. */
    unsigned cpu_load_percent;
} pal_scanjob_req;

/* Counters readable by the cache test and the benchmark. */
typedef struct pal_scanjob_stats {
    uint64_t bytes_read; /* bytes pulled from files */
    uint64_t cache_hits;
} pal_scanjob_stats;

/* At most this many entries in each list of a result (the counts are exact). */
#define PAL_SCAN_RESULT_LIST_MAX 1000

/* One finding (a file or a member inside it) and what was done about it. */
typedef struct pal_scan_threat {
    int64_t detection_id;
    char *path; /* the chain: file, then members (raw bytes) */
    char *threat;
    pal_severity severity;
    char *category;
    pal_det_action action; /* as recorded: the file's action, or Allow / NoAction */
    pal_det_result result;
    char *action_detail; /* NULL: none */
    char sha256[65];     /* of the object that matched */
} pal_scan_threat;

/* A file (or member) not fully examined. */
typedef struct pal_scan_unscannable {
    char *path;
    const char *reason; /* static: pal_unscannable_name() or "engine-error" */
    char *detail;       /* NULL: none */
} pal_scan_unscannable;

/* A root of a Custom scan that could not be walked at all. */
typedef struct pal_scan_root_error {
    char *path;
    pal_skip_reason reason; /* with errnum: pal_scanroot_error_name/_text */
    int errnum;
} pal_scan_root_error;

/* A named root that was a symlink, and the target walked instead. */
typedef struct pal_scan_resolved_root {
    char *path, *resolved;
} pal_scan_resolved_root;

typedef struct pal_scan_result {
    int64_t scan_id;
    pal_scan_type type;
    pal_scan_outcome outcome;
    char *error; /* why the scan failed (outcome Failed), else NULL */
    int64_t start_ms, end_ms;
    uint64_t files_scanned, bytes_scanned;
    uint64_t threats_found; /* findings not on the allowed list */
    uint64_t allowed_count; /* findings on the allowed list: listed, not threats */
    uint64_t unremediated_count;
    uint64_t unscannable_count;
    uint64_t skipped[PAL_SKIP__COUNT];
    int fully_examined; /* Completed, and nothing was left unexamined */
    pal_scanjob_stats stats;
    pal_scan_threat *threats; /* at most PAL_SCAN_RESULT_LIST_MAX of each list */
    size_t n_threats;
    pal_scan_unscannable *unscannable;
    size_t n_unscannable;
    pal_scan_root_error *root_errors;
    size_t n_root_errors;
    pal_scan_resolved_root *resolved_roots;
    size_t n_resolved_roots;
} pal_scan_result;

/* Frees what a result holds and zeroes it. Accepts a zeroed result. */
void pal_scan_result_clear(pal_scan_result *r);

/*
 * Run the scan to its end. On 0, *result is filled (pal_scan_result_clear it). Errors:
 * PAL_EINVAL (bad request), PAL_ESTATE (no signatures loaded), store errors (the scan could
 * not be recorded); *result is then zeroed.
 */
/*
 * A finding's action, as every scan of a file decides it (on-demand and real-time): the
 * allowed list (the threat's name, the matching object's hash or the whole file's), then
 * the per-threat override, then the severity's default action from the settings (an unknown
 * severity or an unreadable setting gives Quarantine). 0, or the store's error: the caller
 * fails towards protection.
 */
int pal_scan_decide_action(pal_store *st, pal_settings *settings, const pal_finding *f,
                           const pal_report *rep, pal_det_action *out);
/* The allowed-list part of that decision alone (buffer scans, which take no action). */
int pal_scan_finding_allowed(pal_store *st, const pal_finding *f, const pal_report *rep,
                             int *allowed);
/* A file gets the strongest action any of its findings asked for: Remove > Quarantine > the
   rest. */
int pal_scan_action_rank(pal_action a);

int pal_scanjob_run(const pal_scanjob_env *env, const pal_scanjob_req *req, pal_scan_result *result,
                    pal_errbuf *err);

#endif
