/*
 * jobs.h — detached scans: the scans that belong to the agent rather than to a client
 * (PROTOCOL.md, scan.start with "detach": true, scan.list, scan.get, scan.wait, scan.stop).
 *
 * This module owns the registry of detached scans: for each one its thread, its scan id,
 * its state, the last progress it reported, its own cancel flag (no connection's: a client
 * that disconnects neither starts nor stops it) and, once it ended, its rendered result.
 * At most PAL_JOBS_MAX_RUNNING run at once (beyond that: Busy); the last PAL_JOBS_KEEP
 * finished ones are kept for scan.get/scan.wait (the scan history keeps every scan).
 * Stopping the registry cancels every running scan and waits for each to be recorded
 * (Cancelled) before the daemon closes its store.
 *
 * A detached scan runs in the background: its threads (the walker, the workers, which
 * inherit it) at nice 19 under SCHED_BATCH and in the idle I/O class (ioprio_set, per
 * thread), and held to ScanAvgCPULoadFactor (throttle.h). The content process is shared
 * with foreground scans, so its priority is left alone; the load factor, which counts the
 * wall time of the content process's work for the scan, bounds what it spends on the scan.
 *
 * Threads: any thread may call every function but pal_jobs_free; one mutex guards the
 * registry, a job's thread reports into it through the scan job's callbacks.
 */
#ifndef PAL_JOBS_H
#define PAL_JOBS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "daemon.h"
#include "pal_error.h"

#define PAL_JOBS_MAX_RUNNING 4
#define PAL_JOBS_KEEP 32

typedef struct pal_jobs pal_jobs;

int pal_jobs_new(pal_daemon *d, pal_jobs **out);
/* Cancel every running job and join every thread; later starts are refused (Busy). */
void pal_jobs_stop(pal_jobs *j);
void pal_jobs_free(pal_jobs *j); /* stops first; accepts NULL */

/*
 * Start a detached scan of type (Custom: paths, copied) for uid. Returns once the scan is
 * recorded, with its id in *scan_id, or an error with the protocol code in *code:
 * Busy (PAL_JOBS_MAX_RUNNING running, or the daemon is stopping), Unavailable (no
 * signatures), Internal.
 */
int pal_jobs_start(pal_jobs *j, pal_scan_type type, char *const *paths, const size_t *lens,
                   size_t n_paths, uid_t uid, int64_t *scan_id, const char **code, pal_errbuf *err);

/*
 * Start a detached scan owned by the agent itself (the scheduler): no client's uid (the
 * history's started_by is null), trigger "Scheduled" or "CatchUp" (a static string) shown
 * by scan.list/scan.get and recorded for the history (scheduler.h). Errors as above.
 */
int pal_jobs_start_agent(pal_jobs *j, pal_scan_type type, const char *trigger, int64_t *scan_id,
                         const char **code, pal_errbuf *err);

/* scan.list's result: {"items": [job...]}, newest first, without results. */
json_t *pal_jobs_list_json(pal_jobs *j);

/*
 * One job as JSON (with_result: its rendered result once it ended). NULL with *code
 * NotFound when no detached scan has that id.
 */
json_t *pal_jobs_get_json(pal_jobs *j, int64_t scan_id, int with_result, const char **code);

/* Ask a running job to stop. 0, or PAL_ENOTFOUND (no such detached scan). */
int pal_jobs_stop_one(pal_jobs *j, int64_t scan_id);

/*
 * Poll support for scan.wait: *seq grows each time the job reports progress. Returns 1
 * when the job ended (*out: its result, a new reference), 0 while it runs (*out: its
 * progress as scan.start's progress event, a new reference, only when *seq changed, else
 * NULL), PAL_ENOTFOUND when there is no such job.
 */
int pal_jobs_poll(pal_jobs *j, int64_t scan_id, uint64_t *seq, json_t **out);

#endif
