/*
 * ops_catalog.h — palisaded's threat catalog: the control operation `catalog.list`, the
 * threats the signature package in force can report (name, category, severity, default
 * action), agent/ipc/PROTOCOL.md.
 *
 * Any local user may call it, on the control and on the read-only status socket: the catalog
 * is not secret (it ships in the package, which every scanning process maps, and a threat's
 * name is what a detection reports anyway), and reading it changes nothing.
 */
#ifndef PAL_OPS_CATALOG_H
#define PAL_OPS_CATALOG_H

#include "daemon.h" /* acts on the daemon, which registers it: see daemon.c's includes */

/* catalog.list on srv. */
int pal_daemon_register_catalog_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err);

#endif
