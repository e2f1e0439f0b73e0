/*
 * ops_buffer.h — buffer scans: the control operation `scan.buffer`, which scans content a
 * client holds in memory (a script before it runs, a download before it is saved: what
 * Windows' AMSI asks of Defender) rather than a file, agent/ipc/PROTOCOL.md.
 *
 * The content goes through a scan slot like a file's (memsource.h): to the content process
 * when the sandbox is Enabled, which pulls the bytes as it pulls a file's, never parsed in
 * the broker unless the administrator chose Disabled. It is held in memory for the request
 * only and never stored. A threat is recorded as a detection with source Buffer, path
 * "buffer:<name hint>", action NoAction (there is no file to act on) and the caller's uid
 * and pid in its action_detail; nothing is quarantined.
 *
 * Any local user may call it, on the control and on the status socket (that is its point).
 * What one uid can make the broker do is bounded: at most PAL_BUFFER_SCAN_MAX bytes per
 * request, BufferScanMaxPerMinute requests and BufferScanMaxBytesPerMinute bytes per uid in
 * each minute (root included: a service running as root is a caller like any other), and
 * PAL_BUFFER_SCAN_INFLIGHT requests of one uid in flight at once, so that buffer scans cannot
 * hold every slot and starve file scans. Beyond a limit the request gets Busy, naming it.
 */
#ifndef PAL_OPS_BUFFER_H
#define PAL_OPS_BUFFER_H

#include "daemon.h" /* acts on the daemon, which registers it: see daemon.c's includes */

/* Largest content of one request: its base64 (4/3) fits a client frame (1 MiB). */
#define PAL_BUFFER_SCAN_MAX (512u * 1024u)
/* Requests of one uid scanning at once, over both sockets. */
#define PAL_BUFFER_SCAN_INFLIGHT 2u
/* Longest name hint, in bytes. */
#define PAL_BUFFER_NAME_MAX 255u

/* scan.buffer on srv. The per-uid limits are shared by every server it is registered on. */
int pal_daemon_register_buffer_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err);

#endif
