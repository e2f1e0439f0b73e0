/*
 * ops_remediation.h — the control operations quarantine.*, allow.*, threat_action.*, update
 * and update.rollback (agent/ipc/PROTOCOL.md). The quarantine and the updater they act on
 * belong to the daemon (daemon.h); carrying out a scan's action is remediate.h's.
 * Remediation happens only in the broker: the content process never touches a file.
 */
#ifndef PAL_OPS_REMEDIATION_H
#define PAL_OPS_REMEDIATION_H

#include "daemon.h" /* acts on the daemon, which registers it: see daemon.c's includes */

/* quarantine.list/get/restore/remove, allow.list/add/remove, update, update.rollback, on
   srv (all admin only: on the read-only status socket they answer AccessDenied). */
int pal_daemon_register_remediation_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err);

#endif
