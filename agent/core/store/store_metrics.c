/*
 * store_metrics.c — the aggregates the metrics op (agent/core/daemon/ops_metrics.h) takes
 * from the store: finished scans by type and outcome with their objects and bytes,
 * detections by severity and origin, remediations by action and result, the last scan of
 * each type, and the quarantine's size. Each is one GROUP BY over its table (a full scan of
 * the table, no index needed: 100,000 scans and 100,000 detections take milliseconds,
 * bench/RESULTS.md), read under the store's lock in one read transaction so the figures
 * agree with each other.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "storedb.h"

/* Running scans are left out: a counter of {type, status} must never go down, and a
   Running scan becomes Completed, Cancelled or Failed. */
static const char SQL_M_SCANS[] =
    "SELECT type, outcome, count(*), coalesce(sum(files), 0), coalesce(sum(bytes), 0) "
    "FROM scans WHERE outcome <> 'Running' GROUP BY type, outcome ORDER BY type, outcome";
static const char SQL_M_DETECTIONS[] =
    "SELECT severity, source, count(*) FROM detections GROUP BY severity, source "
    "ORDER BY severity, source";
/* A remediation is a Quarantine or Remove carried out (or tried) on a detection; NoAction
   and Allow are not, and Pending is not finished. */
static const char SQL_M_REMEDIATIONS[] =
    "SELECT action, action_result, count(*) FROM detections "
    "WHERE action IN ('Quarantine', 'Remove') AND action_result <> 'Pending' "
    "GROUP BY action, action_result ORDER BY action, action_result";
static const char SQL_M_LAST[] =
    "SELECT type, max(ended_at), max(CASE WHEN outcome = 'Completed' THEN ended_at END) "
    "FROM scans WHERE outcome <> 'Running' AND ended_at IS NOT NULL GROUP BY type "
    "ORDER BY type";
static const char SQL_M_QUARANTINE[] = "SELECT count(*), coalesce(sum(size), 0) FROM quarantine";

/* One query's rows into an array of objects: column i is named names[i]; a text column
   becomes a string, an integer one an integer, NULL null. */
static int rows_json(pal_store *st, const char *sql, const char *const *names, size_t ncols,
                     json_t **out, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    int ret = sdb_stmt(st, sql, &s, err);
    if (ret != 0)
        return ret;
    json_t *arr = json_array();
    int rc;
    while (arr && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *o = json_object();
        for (size_t i = 0; o && i < ncols; i++) {
            json_t *v;
            switch (sqlite3_column_type(s, (int)i)) {
            case SQLITE_INTEGER:
                v = json_integer((json_int_t)sqlite3_column_int64(s, (int)i));
                break;
            case SQLITE_TEXT:
                v = json_string((const char *)sqlite3_column_text(s, (int)i));
                break;
            default:
                v = json_null();
            }
            if (!v || json_object_set_new(o, names[i], v) != 0) {
                json_decref(o);
                o = NULL;
            }
        }
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (!arr) {
        sdb_finish(s);
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    if (rc != SQLITE_DONE) {
        json_decref(arr);
        ret = sdb_fail(st, rc, "reading the metrics", err);
        sdb_finish(s);
        return ret;
    }
    sdb_finish(s);
    *out = arr;
    return 0;
}

int pal_store_metrics(pal_store *st, json_t **out, pal_errbuf *err)
{
    static const char *const scan_cols[] = {"type", "status", "count", "objects", "bytes"};
    static const char *const det_cols[] = {"severity", "origin", "count"};
    static const char *const rem_cols[] = {"action", "result", "count"};
    static const char *const last_cols[] = {"type", "end_time_ms", "completed_end_time_ms"};
    static const char *const q_cols[] = {"items", "bytes"};
    if (!out)
        return pal_err_set(err, PAL_EINVAL, "metrics: bad arguments");
    json_t *scans = NULL, *dets = NULL, *rems = NULL, *last = NULL, *q = NULL;
    sdb_lock(st);
    int ret = sdb_run(st, "BEGIN", err);
    if (ret == 0) {
        ret = rows_json(st, SQL_M_SCANS, scan_cols, 5, &scans, err);
        if (ret == 0)
            ret = rows_json(st, SQL_M_DETECTIONS, det_cols, 3, &dets, err);
        if (ret == 0)
            ret = rows_json(st, SQL_M_REMEDIATIONS, rem_cols, 3, &rems, err);
        if (ret == 0)
            ret = rows_json(st, SQL_M_LAST, last_cols, 3, &last, err);
        if (ret == 0)
            ret = rows_json(st, SQL_M_QUARANTINE, q_cols, 2, &q, err);
        pal_errbuf ignored;
        sdb_run(st, "COMMIT", &ignored);
    }
    sdb_unlock(st);
    json_t *o = NULL;
    if (ret == 0) {
        o = json_pack("{s:o, s:o, s:o, s:o, s:O}", "scans", scans, "detections", dets,
                      "remediations", rems, "last_scans", last, "quarantine",
                      json_array_get(q, 0) ? json_array_get(q, 0) : json_null());
        scans = dets = rems = last = NULL;
        if (!o)
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    json_decref(scans);
    json_decref(dets);
    json_decref(rems);
    json_decref(last);
    json_decref(q);
    if (ret == 0)
        *out = o;
    return ret;
}
