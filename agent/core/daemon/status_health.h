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

/* The unremediated-threat count as the status op read it (pal_store_unremediated_count):
   read once per status and given to both of its users (unremediated_threats, degraded and
   the UnremediatedThreats issue) so that the two agree and the store is asked once. */
typedef struct pal_status_unremediated {
    int ret;       /* 0, or the error the store returned */
    int64_t count; /* when ret == 0 */
    pal_errbuf err;
} pal_status_unremediated;

/* Add signature_age_days, last_quick_scan, last_full_scan, real_time_protection,
   real_time_protection_reason and health_issues to the status object o; u is the count read
   for this status. 0, or PAL_ENOMEM (o then holds some of them: the caller drops it). */
int pal_status_add_health(pal_daemon *d, json_t *o, const pal_status_unremediated *u);

#endif
