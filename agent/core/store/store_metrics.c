/*
 * store_metrics.c — the aggregates the metrics op (agent/core/daemon/ops_metrics.h) takes
 * from the store: finished scans by type and outcome with their objects and bytes,
 * detections by severity and origin, remediations by action and result, the last scan of
 * each type, and the quarantine's size. The scan and detection figures are running totals
 * kept by triggers (scan_counts, detection_counts: db/migrations/0005_status_index.sql), so
 * reading them does not grow with the history (the op is open to every local user and holds
 * the store's lock; figures for 100,000 rows in bench/RESULTS.md); the quarantine's is one
 * pass over its table (small: items are purged). Read under the store's lock in one read
 * transaction so the figures agree with each other, then folded here.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "storedb.h"

/* One pass over each table; the figures are folded from the groups in C (a few dozen rows).
   Running scans are left out: a counter of {type, status} must never go down, and a
   Running scan becomes Completed, Cancelled or Failed. */
static const char SQL_M_SCANS[] =
    "SELECT c.type, c.outcome, c.count, c.files, c.bytes, (SELECT max(ended_at) FROM scans s "
    "WHERE s.type = c.type AND s.outcome = c.outcome) FROM scan_counts c "
    "WHERE c.outcome <> 'Running' AND c.count > 0 ORDER BY c.type, c.outcome";
static const char SQL_M_DETECTIONS[] =
    "SELECT severity, source, action, action_result, count FROM detection_counts "
    "WHERE count > 0 ORDER BY severity, source, action, action_result";
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

/* The object of arr whose key k1 (and k2, when not NULL) equal v1 (v2), created with
   those keys when there is none; NULL when out of memory. */
static json_t *group(json_t *arr, const char *k1, const char *v1, const char *k2, const char *v2)
{
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        if (strcmp(json_string_value(json_object_get(it, k1)), v1) == 0 &&
            (!k2 || strcmp(json_string_value(json_object_get(it, k2)), v2) == 0))
            return it;
    }
    it = k2 ? json_pack("{s:s, s:s}", k1, v1, k2, v2) : json_pack("{s:s}", k1, v1);
    if (!it || json_array_append_new(arr, it) != 0)
        return NULL;
    return it;
}

/* o[key] += v (an integer); -1 when out of memory. */
static int add(json_t *o, const char *key, json_int_t v)
{
    return json_object_set_new(o, key,
                               json_integer(json_integer_value(json_object_get(o, key)) + v));
}

/* o[key] = max(o[key], v) for a nullable integer v. */
static int max_of(json_t *o, const char *key, const json_t *v)
{
    const json_t *cur = json_object_get(o, key);
    if (json_is_integer(cur) &&
        (!json_is_integer(v) || json_integer_value(cur) >= json_integer_value(v)))
        return 0;
    return json_object_set_new(
        o, key, json_is_integer(v) ? json_integer(json_integer_value(v)) : json_null());
}

/* last_scans from the scan groups: the newest end of each type, and of its Completed ones. */
static json_t *fold_last(const json_t *scans)
{
    json_t *last = json_array();
    size_t i;
    const json_t *r;
    int bad = !last;
    json_array_foreach(scans, i, r)
    {
        if (bad)
            break;
        json_t *g = group(last, "type", json_string_value(json_object_get(r, "type")), NULL, NULL);
        const json_t *end = json_object_get(r, "end_time_ms");
        int completed = strcmp(json_string_value(json_object_get(r, "status")), "Completed") == 0;
        bad = !g || max_of(g, "end_time_ms", end) != 0 ||
              max_of(g, "completed_end_time_ms", completed ? end : NULL) != 0;
    }
    if (bad) {
        json_decref(last);
        return NULL;
    }
    return last;
}

/* detections by severity and origin, remediations (finished Quarantine and Remove) by
   action and result, from the groups of (severity, origin, action, result). */
static int fold_detections(const json_t *groups, json_t **dets, json_t **rems)
{
    *dets = json_array();
    *rems = json_array();
    int bad = !*dets || !*rems;
    size_t i;
    const json_t *r;
    json_array_foreach(groups, i, r)
    {
        if (bad)
            break;
        json_int_t n = json_integer_value(json_object_get(r, "count"));
        const char *action = json_string_value(json_object_get(r, "action"));
        const char *result = json_string_value(json_object_get(r, "result"));
        json_t *g = group(*dets, "severity", json_string_value(json_object_get(r, "severity")),
                          "origin", json_string_value(json_object_get(r, "origin")));
        bad = !g || add(g, "count", n) != 0;
        if (!bad && (strcmp(action, "Quarantine") == 0 || strcmp(action, "Remove") == 0) &&
            strcmp(result, "Pending") != 0) {
            g = group(*rems, "action", action, "result", result);
            bad = !g || add(g, "count", n) != 0;
        }
    }
    if (bad) {
        json_decref(*dets);
        json_decref(*rems);
        *dets = *rems = NULL;
        return -1;
    }
    return 0;
}

int pal_store_metrics(pal_store *st, json_t **out, pal_errbuf *err)
{
    static const char *const scan_cols[] = {"type",    "status", "count",
                                            "objects", "bytes",  "end_time_ms"};
    static const char *const det_cols[] = {"severity", "origin", "action", "result", "count"};
    static const char *const q_cols[] = {"items", "bytes"};
    if (!out)
        return pal_err_set(err, PAL_EINVAL, "metrics: bad arguments");
    json_t *scans = NULL, *groups = NULL, *dets = NULL, *rems = NULL, *last = NULL, *q = NULL;
    sdb_lock(st);
    int ret = sdb_run(st, "BEGIN", err);
    if (ret == 0) {
        ret = rows_json(st, SQL_M_SCANS, scan_cols, 6, &scans, err);
        if (ret == 0)
            ret = rows_json(st, SQL_M_DETECTIONS, det_cols, 5, &groups, err);
        if (ret == 0)
            ret = rows_json(st, SQL_M_QUARANTINE, q_cols, 2, &q, err);
        pal_errbuf ignored;
        sdb_run(st, "COMMIT", &ignored);
    }
    sdb_unlock(st);
    if (ret == 0 && (!(last = fold_last(scans)) || fold_detections(groups, &dets, &rems) != 0))
        ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
    /* the scan groups as the op gives them: {type, status, count, objects, bytes} */
    size_t i;
    json_t *r;
    json_array_foreach(scans, i, r)
    {
        json_object_del(r, "end_time_ms");
    }
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
    json_decref(groups);
    json_decref(dets);
    json_decref(rems);
    json_decref(last);
    json_decref(q);
    if (ret == 0)
        *out = o;
    return ret;
}
