/*
 * ops_remediation.h — palisaded's remediation side: the quarantine and the signature
 * updater held for the daemon, the remediation interface scans are given, start-up reconciliation,
 * the periodic retention purge, and the control operations quarantine.*, allow.*, update
 * and update.rollback (agent/ipc/PROTOCOL.md).
 *
 * Remediation happens only here, in the broker: the content process never touches a file.
 */
#ifndef PAL_OPS_REMEDIATION_H
#define PAL_OPS_REMEDIATION_H

#include "daemon.h"
#include "scanjob.h"

/*
 * At start-up, after the store, settings, keys and defs and before the control server
 * starts: open <state>/quarantine, reconcile what the last run left unfinished (logged),
 * purge items past QuarantineRetentionDays, open the updater (removing temporaries of an
 * interrupted update) and, when no package is in force, fall back to the previous one.
 * Sets d->remediation.
 */
int pal_daemon_remediation_init(pal_daemon *d, pal_errbuf *err);
/* After the control server is stopped. Accepts a daemon never initialised. */
void pal_daemon_remediation_free(pal_daemon *d);

/* Periodic work from the main loop: the retention purge and journal pruning. */
void pal_daemon_remediation_tick(pal_daemon *d);

/* The remediation interface a scan job is given (remediate.h). */
pal_remediator pal_daemon_remediator(pal_daemon *d);

/* quarantine.list/get/restore/remove, allow.list/add/remove, update, update.rollback, on
   srv (all admin only: on the read-only status socket they answer AccessDenied). */
int pal_daemon_register_remediation_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err);

#endif
