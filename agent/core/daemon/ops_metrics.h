/*
 * ops_metrics.h — palisaded's metrics: the control operation `metrics` (agent/ipc/PROTOCOL.md)
 * and the writer of the node_exporter textfile (MetricsTextfilePath, every
 * MetricsIntervalSeconds). Both take the same figures: the store's aggregates
 * (pal_store_metrics: scans, objects, bytes, detections, remediations, last scans,
 * quarantine), the status fields that are figures (signature, content process,
 * real-time protection and its real_time_protection_stats when status has them, health
 * issues, unremediated threats) and the counters kept here since the daemon started (scan
 * cache hits, bytes read). The text form is agent/ipc/promtext.h's, shared with the CLI.
 *
 * Access: `metrics` is readable by any local user, on the control socket and the read-only
 * status socket alike, like `status`: it holds counts and the status's own figures, no
 * path, threat name or setting.
 *
 * The textfile is written by root, so where it goes must not be steerable by a user: the
 * directory is opened by walking from / without following links and vetted
 * (pal_trustfile_open_dir_path) at every write, the file is written as a temporary file in
 * that directory fd (O_CREAT|O_EXCL|O_NOFOLLOW), fsync'd, renamed over the target, and the
 * directory fsync'd. A refused directory writes nothing and logs why (once per reason).
 */
#ifndef PAL_OPS_METRICS_H
#define PAL_OPS_METRICS_H

#include "daemon.h" /* acts on the daemon, which registers it: see daemon.c's includes */

/* Register `metrics` on srv (any user, both sockets). */
int pal_daemon_register_metrics_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err);

/* The metrics op's result (a new object) in *out; 0 or a PAL_E* code with err set. */
int pal_metrics_json(pal_daemon *d, json_t **out, pal_errbuf *err);

/* Count a finished scan's in-memory figures (scan cache hits, bytes read). Thread-safe. */
void pal_metrics_note_scan(const pal_scan_result *res);

/* The textfile writer: a thread that writes the file when MetricsTextfilePath is set, at
   once when the path changes and then every MetricsIntervalSeconds. stop joins it
   (accepts NULL). */
typedef struct pal_metrics_writer pal_metrics_writer;
int pal_metrics_writer_start(pal_daemon *d, pal_metrics_writer **out, pal_errbuf *err);
void pal_metrics_writer_stop(pal_metrics_writer *w);
/* Write the textfile at path once, now (what the thread does). */
int pal_metrics_write_textfile(pal_daemon *d, const char *path, pal_errbuf *err);

#endif
