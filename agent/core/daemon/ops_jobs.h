/*
 * ops_jobs.h — the control operations on detached scans (PROTOCOL.md: scan.list, scan.get,
 * scan.wait, scan.stop); scan.start's "detach" is in ops.c, the registry in jobs.h.
 */
#ifndef PAL_OPS_JOBS_H
#define PAL_OPS_JOBS_H

#include "control.h"
#include "daemon.h"

int pal_daemon_register_job_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err);

#endif
