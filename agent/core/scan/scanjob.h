/*
 * scanjob.h — one on-demand scan from start to recorded result.
 *
 * The calling thread walks the scan's roots (walker.h) and queues each regular file; one
 * worker per slot takes files from the queue, checks the scan cache, acquires a slot,
 * scans, and for every finding records the detection in the store *before* any action,
 * decides the action (allowed list, per-threat override, per-severity setting) and hands
 * the file to the remediation hook. Clean, fully examined files whose identity did not
 * change during the scan enter the cache, if cachetrust.h says their key can stand for
 * their content (nobody but root can write them, or they are old enough on a file system
 * that writes pages back).
 *
 * The scan is recorded as it starts (Running) and closed with its totals and outcome
 * (Completed, Cancelled, Failed); the result JSON follows agent/ipc/PROTOCOL.md (scan.start).
 */
#ifndef PAL_SCANJOB_H
#define PAL_SCANJOB_H

#include <jansson.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "defs.h"
#include "settings.h"
#include "slots.h"
#include "store.h"

/* What a remediation is asked to do, for one file on disk. */
typedef struct pal_remediation_req {
    const char *path; /* the file as the walker found it */
    size_t path_len;
    const struct stat *scanned; /* identity at scan time: dev, ino, size, mtime */
    pal_action action;          /* Quarantine or Remove (never NoAction) */
    int64_t detection_id;       /* the first detection that asked for the action */
    const char *threat;
    const uint8_t *sha256; /* of the whole file, NULL when unknown */
} pal_remediation_req;

/*
 * Carries out req. Returns 0 and sets *detail (malloc'd or NULL) on success, or a negative
 * code with *detail saying why it failed safely.
 */
typedef int (*pal_remediate_fn)(void *ctx, const pal_remediation_req *req, char **detail);

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
    pal_remediate_fn remediate; /* NULL: remediation not available */
    void *remediate_ctx;
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
} pal_scanjob_req;

/* Counters readable by the cache test and the benchmark. */
typedef struct pal_scanjob_stats {
    uint64_t bytes_read; /* bytes pulled from files */
    uint64_t cache_hits;
} pal_scanjob_stats;

/*
 * Run the scan to its end. On 0, *result is the protocol's scan result object (new
 * reference) including "bytes_read" and "cache_hits". Errors: PAL_EINVAL (bad request),
 * PAL_ESTATE (no signatures loaded), store errors (the scan could not be recorded).
 */
int pal_scanjob_run(const pal_scanjob_env *env, const pal_scanjob_req *req, json_t **result,
                    pal_errbuf *err);

#endif
