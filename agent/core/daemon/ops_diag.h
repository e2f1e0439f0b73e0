/*
 * ops_diag.h — palisaded's diagnostics: the control operations `diagnostics` (write a support
 * bundle) and `cp.events` (the content-process events the store keeps), agent/ipc/PROTOCOL.md.
 *
 * The support bundle is a tar.gz written by the broker into <state>/diagnostics/ (mode 0700,
 * the bundle 0600: it holds file names, settings and the content process's stderr, which an
 * unprivileged user must not read). One directory inside the archive, named as the bundle
 * without ".tar.gz", holds:
 *
 *   status.json     the status op's result
 *   settings.json   {"items": [...]} as config.list, with each value's source
 *   versions.json   agent, signature package, library and kernel versions
 *   scans.json      {"items": [...]} the newest 100 scans, as scans.list
 *   cp_events.json  {"items": [...]} the newest 1000 content-process events, as cp.events
 *   daemon.log      the daemon's last 256 log lines
 *
 * The newest 10 bundles are kept; older ones are deleted when a new one is written.
 */
#ifndef PAL_OPS_DIAG_H
#define PAL_OPS_DIAG_H

#include "daemon.h" /* acts on the daemon, which registers it: see daemon.c's includes */

/* diagnostics and cp.events on srv (both admin only: on the read-only status socket they
   answer AccessDenied). */
int pal_daemon_register_diag_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err);

#endif
