/*
 * status_health.h — the part of the status result that answers "is this machine protected?"
 * (what Get-MpComputerStatus and `mdatp health` answer): the signature package's age, the
 * last Quick and Full scans, real-time protection's state, and health_issues, one list of
 * every problem with a stable id and a reason (agent/ipc/PROTOCOL.md, "Health issues").
 * `degraded` stays as it was (ops.c) for the clients that read it.
 */
#ifndef PAL_STATUS_HEALTH_H
#define PAL_STATUS_HEALTH_H

#include <jansson.h>

#include "daemon.h"

/* Days without a Completed Full scan after which health_issues holds NoRecentFullScan. */
#define PAL_HEALTH_FULL_SCAN_DAYS 30

/* Add signature_age_days, last_quick_scan, last_full_scan, real_time_protection,
   real_time_protection_reason and health_issues to the status object o. 0, or PAL_ENOMEM
   (o then holds some of them: the caller drops it). */
int pal_status_add_health(pal_daemon *d, json_t *o);

#endif
