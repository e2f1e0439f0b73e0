/*
 * ops_rtp.h — the control operations of real-time protection: rtp.stats, the processes
 * that caused the most real-time scans and scan time (agent/ipc/PROTOCOL.md). Its state and
 * counters are in status (status_health.c); switching it is a setting.
 */
#ifndef PAL_OPS_RTP_H
#define PAL_OPS_RTP_H

#include "control.h"
#include "daemon.h"

#define PAL_RTP_STATS_DEFAULT_LIMIT 20
#define PAL_RTP_STATS_MAX_LIMIT 1000

int pal_daemon_register_rtp_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err);

#endif
