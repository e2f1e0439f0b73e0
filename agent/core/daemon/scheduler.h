/*
 * scheduler.h — the scheduled Quick and Full scans: the agent runs them itself.
 *
 * This module owns, for each of the two schedules, computing the next run from the settings
 * (ScanSchedule{Quick,Full}ScanDay / ...Time, ScheduleRandomizationMinutes,
 * ScheduledScanCatchUp), the last run recorded in the store (meta "schedule.Quick",
 * "schedule.Full") and the clock, and starting the scan as a detached scan owned by the
 * agent (jobs.h) with the trigger Scheduled, or CatchUp for a run missed while the agent was
 * down (run once, soon after start, however many runs were missed). The scan is then a scan
 * like any other: in scan.list / `palisade jobs`, in the history (scans.list shows its
 * trigger), at low priority and held to ScanAvgCPULoadFactor like every detached scan.
 *
 * Time: a schedule's time of day is the machine's local time. palisaded runs with TZ=UTC
 * (main.c: the engine's date handling must not read /etc/localtime inside scans), so
 * pal_sched_capture_local_zone, called before that, records the local UTC offset of every
 * hour of the next 400 days: daylight-saving changes within that span are honoured; a
 * daemon running longer keeps the last offset until it restarts.
 *
 * The clock: the scheduler's "now" is the real time plus the offset in seconds read from
 * the file given to palisaded --clock-offset-file (root's command line only, never a setting
 * or an operation; the file must pass the trust rule of trustfile.h when the daemon checks
 * owners), re-read at every tick. Tests use it to move the scheduler's clock without
 * sleeping; status shows the next runs in that clock.
 *
 * Threads: one thread ticks once a second (settings are re-read each tick, so a change takes
 * effect within a second; a clock that jumps is seen at the next tick). Every function may
 * be called from any thread.
 */
#ifndef PAL_SCHEDULER_H
#define PAL_SCHEDULER_H

#include <stdint.h>

#include <jansson.h>

#include "daemon.h"
#include "pal_error.h"

typedef struct pal_sched pal_sched;

/* Before TZ=UTC is set: the local offsets the schedules' times are read in (see above). */
void pal_sched_capture_local_zone(void);

/* clock_offset_file: NULL for the real clock. check_owner: the file must pass trustfile.h. */
int pal_sched_new(pal_daemon *d, const char *clock_offset_file, int check_owner, pal_sched **out,
                  pal_errbuf *err);
/* Start the ticking thread (a catch-up run is judged at its first tick). */
int pal_sched_start(pal_sched *s, pal_errbuf *err);
/* A setting changed: tick now rather than within the second (any thread; never blocks on a
   tick in progress). */
void pal_sched_poke(pal_sched *s);
/* Stop the thread; scans it started are the jobs registry's to cancel. */
void pal_sched_stop(pal_sched *s);
void pal_sched_free(pal_sched *s); /* stops first; accepts NULL */

/*
 * Status: next_quick_scan and next_full_scan (the planned start, random delay included,
 * in the scheduler's clock; null when the day is Never), and a ScheduledScanFailed health
 * issue in issues for a schedule whose last run could not start, or whose newest scheduled
 * run that Completed or Failed ended Failed (the store's scans."trigger"). 0 or PAL_ENOMEM.
 */
int pal_sched_add_status(pal_sched *s, json_t *o, json_t *issues);

/*
 * The trigger of scan scan_id as the history shows it: "Scheduled" or "CatchUp" for the
 * scheduler's, else "Client" (NULL store: "Client"). Static strings.
 */
const char *pal_sched_scan_trigger(pal_store *st, int64_t scan_id);
/* Record the trigger of a scan the scheduler started (jobs.c, once the scan is recorded). */
int pal_sched_record_trigger(pal_store *st, int64_t scan_id, const char *trigger, pal_errbuf *err);

#endif
