/*
 * store_scans.c — the scans and detections tables: a scan's record from start to outcome,
 * every detection and the action taken on it, the filtered detection query, the threat
 * listing (each detection with the quarantine item it caused, joined in SQL), and the count
 * of threats whose remediation failed and that nothing has dealt with since.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "storedb.h"

#define SCAN_COLS                                                                                  \
    "id, type, paths, started_at, ended_at, files, bytes, threats, unscannable, outcome, "         \
    "error, started_by"
#define DET_COLS                                                                                   \
    "id, scan_id, detected_at, threat_name, severity, category, path, chain, sha256, size, "       \
    "source, matched_by, sig_version, action, action_result, action_detail, action_at, "           \
    "process_pid, process_uid, process_exe"
/* The same columns qualified with the table alias d, for the threat listing's join. */
#define DET_COLS_D                                                                                 \
    "d.id, d.scan_id, d.detected_at, d.threat_name, d.severity, d.category, d.path, d.chain, "     \
    "d.sha256, d.size, d.source, d.matched_by, d.sig_version, d.action, d.action_result, "         \
    "d.action_detail, d.action_at, d.process_pid, d.process_uid, d.process_exe"
/* One WHERE for every combination of the detection filters: a NULL parameter disables its
   test. ?7 is the limit. */
#define DET_FILTER(d)                                                                              \
    "WHERE (?1 IS NULL OR " d "detected_at >= ?1) "                                                \
    "AND (?2 IS NULL OR " d "detected_at < ?2) "                                                   \
    "AND (?3 IS NULL OR " d "threat_name LIKE ?3 ESCAPE '\\') "                                    \
    "AND (?4 IS NULL OR " d "severity = ?4) "                                                      \
    "AND (?5 IS NULL OR " d "path GLOB ?5 OR " d "chain GLOB ?5) "                                 \
    "AND (?6 IS NULL OR " d "scan_id = ?6) "                                                       \
    "ORDER BY " d "detected_at DESC, " d "id DESC LIMIT ?7"

static const char SQL_SCAN_BEGIN[] = "INSERT INTO scans (type, paths, started_at, started_by) "
                                     "VALUES (?1, ?2, ?3, ?4)";
static const char SQL_SCAN_FINISH[] =
    "UPDATE scans SET ended_at = ?2, files = ?3, bytes = ?4, threats = ?5, "
    "unscannable = ?6, outcome = ?7, error = ?8 "
    "WHERE id = ?1 AND outcome = 'Running'";
static const char SQL_SCAN_OUTCOME[] = "SELECT outcome FROM scans WHERE id = ?1";
static const char SQL_SCAN_INTERRUPT[] =
    "UPDATE scans SET outcome = 'Failed', ended_at = ?1, error = ?2 "
    "WHERE outcome = 'Running'";
static const char SQL_DET_INSERT[] =
    "INSERT INTO detections (scan_id, detected_at, threat_name, severity, "
    "category, path, chain, sha256, size, source, matched_by, sig_version, "
    "action) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
/* The same with the process behind it (0004_rtp.sql). */
static const char SQL_DET_INSERT_PROC[] =
    "INSERT INTO detections (scan_id, detected_at, threat_name, severity, "
    "category, path, chain, sha256, size, source, matched_by, sig_version, "
    "action, process_pid, process_uid, process_exe) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
static const char SQL_DET_SET_ACTION[] = "UPDATE detections SET action = ?2, action_result = ?3, "
                                         "action_detail = ?4, action_at = ?5 WHERE id = ?1";
static const char SQL_DET_NOTE[] =
    "UPDATE detections SET action_detail = coalesce(action_detail || '; ', '') || ?2 "
    "WHERE id = ?1";
static const char SQL_SCAN_GET[] = "SELECT " SCAN_COLS " FROM scans WHERE id = ?1";
static const char SQL_SCAN_LIST[] = "SELECT " SCAN_COLS " FROM scans "
                                    "ORDER BY started_at DESC, id DESC LIMIT ?1";
/* The newest finished scan of a type; with ?2 = 1 only one that Completed. */
static const char SQL_SCAN_LAST[] = "SELECT " SCAN_COLS " FROM scans "
                                    "WHERE type = ?1 AND outcome != 'Running' "
                                    "AND (?2 = 0 OR outcome = 'Completed') "
                                    "ORDER BY started_at DESC, id DESC LIMIT 1";
static const char SQL_DET_GET[] = "SELECT " DET_COLS " FROM detections WHERE id = ?1";
static const char SQL_DET_QUERY[] = "SELECT " DET_COLS " FROM detections " DET_FILTER("");
/* The quarantine item each detection caused. There is no index on quarantine.detection_id;
   SQLite builds a transient one for the join (one pass over the quarantine table) while it
   walks detections in index order, so the listing costs about what the detection query
   does. A detection with several items (the broker makes at most one today) gives a row
   per item in the first statement; the store then runs the second, which keeps the newest
   item of each detection so that the limit counts detections. */
static const char SQL_THREAT_LIST[] =
    "SELECT " DET_COLS_D ", q.id FROM detections d "
    "LEFT JOIN quarantine q ON q.detection_id = d.id " DET_FILTER("d.");
static const char SQL_THREAT_LIST_GROUPED[] =
    "SELECT " DET_COLS_D ", q.item_id FROM detections d "
    "LEFT JOIN (SELECT detection_id, max(id) AS item_id FROM quarantine "
    "WHERE detection_id IS NOT NULL GROUP BY detection_id) q ON q.detection_id = d.id " DET_FILTER(
        "d.");

/* see pal_store_unremediated_count for what "dealt with" means. Written as set joins
   (the failed rows, the roots of later scans, each failed path's ancestors) rather than
   correlated subqueries: one pass over detections instead of one per failed row. */
static const char SQL_UNREMEDIATED[] =
    "WITH f AS MATERIALIZED (SELECT id, scan_id, path, threat_name, sha256, detected_at "
    "FROM detections WHERE action_result = 'Failed'), "
    "superseded AS (SELECT f.id FROM f JOIN detections l ON l.path = f.path AND l.id > f.id "
    "AND (f.scan_id IS NULL OR l.scan_id IS NOT f.scan_id)), "
    "roots AS MATERIALIZED (SELECT s.started_at, r.value AS root FROM scans s, "
    "json_each(s.paths) r WHERE s.outcome = 'Completed' "
    "AND s.started_at > (SELECT min(detected_at) FROM f)), "
    /* the path, its parent, ... up to "/": rtrim(p, <p's non-slash characters>) cuts
       the last component and leaves its slash */
    "anc(id, detected_at, p) AS (SELECT id, detected_at, path FROM f UNION ALL "
    "SELECT id, detected_at, CASE WHEN rtrim(p, replace(p, '/', '')) = '/' THEN '/' "
    "ELSE substr(rtrim(p, replace(p, '/', '')), 1, "
    "length(rtrim(p, replace(p, '/', ''))) - 1) END "
    "FROM anc WHERE p <> '/' AND instr(p, '/') > 0), "
    "covered AS (SELECT anc.id FROM anc JOIN roots ON roots.root = anc.p "
    "AND roots.started_at > anc.detected_at) "
    "SELECT count(*) FROM f WHERE f.id NOT IN superseded AND f.id NOT IN covered "
    "AND NOT EXISTS (SELECT 1 FROM allowed_threats a "
    "WHERE (a.kind = 'ThreatName' AND a.value = f.threat_name) "
    "OR (a.kind = 'Sha256' AND a.value = f.sha256))";

SDB_NAME_FN(scan_type_nm, pal_scan_type_name, pal_scan_type)
SDB_NAME_FN(scan_outcome_nm, pal_scan_outcome_name, pal_scan_outcome)
SDB_NAME_FN(det_source_nm, pal_det_source_name, pal_det_source)
SDB_NAME_FN(det_action_nm, pal_det_action_name, pal_det_action)
SDB_NAME_FN(det_result_nm, pal_det_result_name, pal_det_result)

/* ---- scans ----------------------------------------------------------------------------- */

void pal_scan_rec_clear(pal_scan_rec *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_paths; i++)
        free(r->paths[i]);
    free(r->paths);
    free(r->error);
    memset(r, 0, sizeof(*r));
}

void pal_scan_recs_free(pal_scan_rec *r, size_t n)
{
    if (!r)
        return;
    for (size_t i = 0; i < n; i++)
        pal_scan_rec_clear(&r[i]);
    free(r);
}

static int paths_from_json(const char *text, char ***paths, size_t *n)
{
    json_t *arr = json_loads(text ? text : "", JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return PAL_EFORMAT;
    }
    size_t cnt = json_array_size(arr);
    char **p = calloc(cnt ? cnt : 1, sizeof(*p));
    int ret = p ? 0 : PAL_ENOMEM;
    for (size_t i = 0; ret == 0 && i < cnt; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (!s)
            ret = PAL_EFORMAT;
        else if (!(p[i] = strdup(s)))
            ret = PAL_ENOMEM;
    }
    json_decref(arr);
    if (ret) {
        for (size_t i = 0; p && i < cnt; i++)
            free(p[i]);
        free(p);
        return ret;
    }
    *paths = p;
    *n = cnt;
    return 0;
}

static int read_scan(sqlite3_stmt *s, pal_scan_rec *r)
{
    int v;
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(s, 0);
    if (sdb_col_enum(s, 1, scan_type_nm, 1, 3, &v))
        return PAL_EFORMAT;
    r->type = (pal_scan_type)v;
    int ret = paths_from_json((const char *)sqlite3_column_text(s, 2), &r->paths, &r->n_paths);
    if (ret)
        return ret;
    r->started_at = sqlite3_column_int64(s, 3);
    r->ended_at = sqlite3_column_int64(s, 4);
    r->totals.files = (uint64_t)sqlite3_column_int64(s, 5);
    r->totals.bytes = (uint64_t)sqlite3_column_int64(s, 6);
    r->totals.threats = (uint64_t)sqlite3_column_int64(s, 7);
    r->totals.unscannable = (uint64_t)sqlite3_column_int64(s, 8);
    if (sdb_col_enum(s, 9, scan_outcome_nm, 0, 3, &v)) {
        pal_scan_rec_clear(r);
        return PAL_EFORMAT;
    }
    r->outcome = (pal_scan_outcome)v;
    ret = sdb_col_str(s, 10, &r->error);
    r->started_by = sdb_col_uid(s, 11);
    if (ret)
        pal_scan_rec_clear(r);
    return ret;
}

static int read_scan_row(sqlite3_stmt *s, void *rec)
{
    return read_scan(s, rec);
}

static void clear_scan_row(void *rec)
{
    pal_scan_rec_clear(rec);
}

static const sdb_rowtype scan_rows = {sizeof(pal_scan_rec), read_scan_row, clear_scan_row, "scan"};

int pal_store_scan_begin(pal_store *st, pal_scan_type type, const char *const *paths,
                         size_t n_paths, int64_t started_at, uid_t started_by, int64_t *id,
                         pal_errbuf *err)
{
    if (!pal_scan_type_name(type) || (n_paths && !paths) || !id)
        return pal_err_set(err, PAL_EINVAL, "scan_begin: bad arguments");
    json_t *arr = json_array();
    if (!arr)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    for (size_t i = 0; i < n_paths; i++) {
        /* Paths are bytes on Linux; a non-UTF-8 one is kept visible with U+FFFD rather than
           dropped, since this list is a record for people, not input to the scan. */
        json_t *js = paths[i] ? json_string(paths[i]) : NULL;
        if (paths[i] && !js) {
            size_t len = strnlen(paths[i], PAL_STORE_MAX_TEXT);
            char *fixed = malloc(len * 3 + 1);
            if (fixed) {
                size_t o = 0;
                for (size_t k = 0; k < len; k++) {
                    unsigned char c = (unsigned char)paths[i][k];
                    if (c < 0x80) {
                        fixed[o++] = (char)c;
                    } else {
                        fixed[o++] = (char)0xEF;
                        fixed[o++] = (char)0xBF;
                        fixed[o++] = (char)0xBD;
                    }
                }
                fixed[o] = '\0';
                js = json_string(fixed);
                free(fixed);
            }
        }
        if (!js || json_array_append_new(arr, js) != 0) {
            json_decref(arr);
            return pal_err_set(err, paths[i] ? PAL_ENOMEM : PAL_EINVAL,
                               "scan_begin: cannot record path %zu", i);
        }
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!text)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");

    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_SCAN_BEGIN, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, pal_scan_type_name(type));
        sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
        sdb_bind_i64(s, 3, sdb_or_now(started_at));
        sdb_bind_uid(s, 4, started_by);
        ret = sdb_step_done(st, s, "recording a scan", err);
        if (ret == 0)
            *id = sqlite3_last_insert_rowid(st->db);
    }
    sdb_unlock(st);
    free(text);
    return ret;
}

int pal_store_scan_finish(pal_store *st, int64_t id, const pal_scan_totals *totals,
                          pal_scan_outcome outcome, const char *error, int64_t ended_at,
                          pal_errbuf *err)
{
    if (!totals || outcome == PAL_SCAN_RUNNING || !pal_scan_outcome_name(outcome))
        return pal_err_set(err, PAL_EINVAL, "scan_finish: bad arguments");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_SCAN_FINISH, &s, err);
    if (ret)
        goto out;
    sdb_bind_i64(s, 1, id);
    sdb_bind_i64(s, 2, sdb_or_now(ended_at));
    sdb_bind_u64(s, 3, totals->files);
    sdb_bind_u64(s, 4, totals->bytes);
    sdb_bind_u64(s, 5, totals->threats);
    sdb_bind_u64(s, 6, totals->unscannable);
    sdb_bind_text(s, 7, pal_scan_outcome_name(outcome));
    sdb_bind_text(s, 8, error);
    ret = sdb_step_done(st, s, "finishing a scan", err);
    if (ret || sqlite3_changes(st->db) == 1)
        goto out;
    ret = sdb_why_unchanged(st, SQL_SCAN_OUTCOME, id, "scan", "already finished", err);
out:
    sdb_unlock(st);
    return ret;
}

int pal_store_scan_get(pal_store *st, int64_t id, pal_scan_rec *out, pal_errbuf *err)
{
    if (!out)
        return pal_err_set(err, PAL_EINVAL, "scan_get: bad arguments");
    return sdb_get_by_id(st, SQL_SCAN_GET, id, &scan_rows, out, err);
}

int pal_store_scan_list(pal_store *st, size_t limit, pal_scan_rec **out, size_t *n, pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "scan_list: bad arguments");
    sqlite3_stmt *s = NULL;
    void *recs = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_SCAN_LIST, &s, err);
    if (ret == 0) {
        sdb_bind_i64(s, 1, (int64_t)sdb_clamp_limit(limit));
        ret = sdb_collect(st, s, &scan_rows, &recs, n, err);
    }
    sdb_unlock(st);
    if (ret == 0)
        *out = recs;
    return ret;
}

int pal_store_scan_last(pal_store *st, pal_scan_type type, int completed_only, pal_scan_rec *out,
                        int *found, pal_errbuf *err)
{
    if (!pal_scan_type_name(type) || !out || !found)
        return pal_err_set(err, PAL_EINVAL, "scan_last: bad arguments");
    sqlite3_stmt *s = NULL;
    void *recs = NULL;
    size_t n = 0;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_SCAN_LAST, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, pal_scan_type_name(type));
        sdb_bind_i64(s, 2, completed_only ? 1 : 0);
        ret = sdb_collect(st, s, &scan_rows, &recs, &n, err);
    }
    sdb_unlock(st);
    if (ret)
        return ret;
    *found = n > 0;
    if (n > 0)
        *out = *(pal_scan_rec *)recs; /* the contents move to *out */
    free(recs);
    return 0;
}

int pal_store_scan_mark_interrupted(pal_store *st, size_t *n, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_SCAN_INTERRUPT, &s, err);
    if (ret == 0) {
        sdb_bind_i64(s, 1, sdb_now_ms());
        sdb_bind_text(s, 2, "interrupted: palisaded stopped during the scan");
        ret = sdb_step_done(st, s, "closing interrupted scans", err);
        if (ret == 0 && n)
            *n = (size_t)sqlite3_changes(st->db);
    }
    sdb_unlock(st);
    return ret;
}

/* ---- detections ------------------------------------------------------------------------ */

void pal_detection_clear(pal_detection *d)
{
    if (!d)
        return;
    free(d->threat_name);
    free(d->category);
    free(d->path);
    free(d->chain);
    free(d->matched_by);
    free(d->action_detail);
    free(d->process_exe);
    memset(d, 0, sizeof(*d));
}

void pal_detections_free(pal_detection *d, size_t n)
{
    if (!d)
        return;
    for (size_t i = 0; i < n; i++)
        pal_detection_clear(&d[i]);
    free(d);
}

static int read_detection(sqlite3_stmt *s, pal_detection *d)
{
    int sev, src, act = PAL_DET_ACTION_NONE, res;
    memset(d, 0, sizeof(*d));
    if (sdb_col_enum(s, 4, store_severity_name, 1, 4, &sev) ||
        sdb_col_enum(s, 10, det_source_nm, 1, 3, &src) ||
        (sqlite3_column_type(s, 13) != SQLITE_NULL &&
         sdb_col_enum(s, 13, det_action_nm, 0, 4, &act)) ||
        sdb_col_enum(s, 14, det_result_nm, 0, 2, &res))
        return PAL_EFORMAT;
    d->id = sqlite3_column_int64(s, 0);
    d->scan_id = sqlite3_column_int64(s, 1);
    d->detected_at = sqlite3_column_int64(s, 2);
    d->severity = (pal_severity)sev;
    const char *sha = (const char *)sqlite3_column_text(s, 8);
    if (sha && strlen(sha) == 64)
        memcpy(d->sha256, sha, 65);
    d->size = (uint64_t)sqlite3_column_int64(s, 9);
    d->source = (pal_det_source)src;
    d->sig_version = (uint64_t)sqlite3_column_int64(s, 12);
    d->action = (pal_det_action)act;
    d->result = (pal_det_result)res;
    d->action_at = sqlite3_column_int64(s, 16);
    if (sqlite3_column_type(s, 17) != SQLITE_NULL) {
        d->process_pid = sqlite3_column_int64(s, 17);
        d->process_uid = (uint32_t)sqlite3_column_int64(s, 18);
    }
    if (sdb_col_str(s, 3, &d->threat_name) || sdb_col_str(s, 5, &d->category) ||
        sdb_col_str(s, 6, &d->path) || sdb_col_str(s, 7, &d->chain) ||
        sdb_col_str(s, 11, &d->matched_by) || sdb_col_str(s, 15, &d->action_detail) ||
        sdb_col_str(s, 19, &d->process_exe)) {
        pal_detection_clear(d);
        return PAL_ENOMEM;
    }
    return 0;
}

static int read_detection_row(sqlite3_stmt *s, void *rec)
{
    return read_detection(s, rec);
}

static void clear_detection_row(void *rec)
{
    pal_detection_clear(rec);
}

static const sdb_rowtype detection_rows = {sizeof(pal_detection), read_detection_row,
                                           clear_detection_row, "detection"};

/* A detection and, in the column after the detection's, its quarantine item id or NULL. */
static int read_threat_row(sqlite3_stmt *s, void *rec)
{
    pal_threat_row *t = rec;
    int ret = read_detection(s, &t->det);
    if (ret == 0)
        t->quarantine_id = sqlite3_column_int64(s, 20);
    return ret;
}

static void clear_threat_row(void *rec)
{
    pal_detection_clear(&((pal_threat_row *)rec)->det);
}

static const sdb_rowtype threat_rows = {sizeof(pal_threat_row), read_threat_row, clear_threat_row,
                                        "detection"};

int pal_store_detection_insert(pal_store *st, const pal_detection *d, int64_t *id, pal_errbuf *err)
{
    char sha[65];
    if (!d || !id || !d->threat_name || !*d->threat_name || !d->path || !*d->path)
        return pal_err_set(err, PAL_EINVAL, "detection_insert: threat name and path required");
    if (!store_severity_name((int)d->severity))
        return pal_err_set(err, PAL_EINVAL, "detection_insert: invalid severity %d",
                           (int)d->severity);
    if (!pal_det_source_name(d->source))
        return pal_err_set(err, PAL_EINVAL, "detection_insert: invalid source %d", (int)d->source);
    if (!pal_det_action_name(d->action))
        return pal_err_set(err, PAL_EINVAL, "detection_insert: invalid action %d", (int)d->action);
    int ret = sdb_norm_sha256(d->sha256, sha, 0, err);
    if (ret)
        return ret;

    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, d->process_pid > 0 ? SQL_DET_INSERT_PROC : SQL_DET_INSERT, &s, err);
    if (ret == 0) {
        sdb_bind_id_or_null(s, 1, d->scan_id);
        sdb_bind_i64(s, 2, sdb_or_now(d->detected_at));
        sdb_bind_text(s, 3, d->threat_name);
        sdb_bind_text(s, 4, store_severity_name((int)d->severity));
        sdb_bind_text(s, 5, d->category ? d->category : "");
        sdb_bind_text(s, 6, d->path);
        sdb_bind_text(s, 7, d->chain ? d->chain : d->path);
        sdb_bind_text(s, 8, sha[0] ? sha : NULL);
        sdb_bind_u64(s, 9, d->size);
        sdb_bind_text(s, 10, pal_det_source_name(d->source));
        sdb_bind_text(s, 11, d->matched_by);
        if (d->sig_version)
            sdb_bind_u64(s, 12, d->sig_version);
        if (d->action != PAL_DET_ACTION_NONE)
            sdb_bind_text(s, 13, pal_det_action_name(d->action));
        if (d->process_pid > 0) {
            sdb_bind_i64(s, 14, d->process_pid);
            sdb_bind_i64(s, 15, (int64_t)d->process_uid);
            sdb_bind_text(s, 16, d->process_exe);
        }
        ret = sdb_step_done(st, s, "recording a detection", err);
        if (ret == 0)
            *id = sqlite3_last_insert_rowid(st->db);
    }
    sdb_unlock(st);
    return ret;
}

int pal_store_detection_set_action(pal_store *st, int64_t id, pal_det_action action,
                                   pal_det_result result, const char *detail, int64_t at,
                                   pal_errbuf *err)
{
    if (!pal_det_action_name(action) || !pal_det_result_name(result))
        return pal_err_set(err, PAL_EINVAL, "detection_set_action: bad arguments");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_DET_SET_ACTION, &s, err);
    if (ret == 0) {
        sdb_bind_i64(s, 1, id);
        if (action != PAL_DET_ACTION_NONE)
            sdb_bind_text(s, 2, pal_det_action_name(action));
        sdb_bind_text(s, 3, pal_det_result_name(result));
        sdb_bind_text(s, 4, detail);
        sdb_bind_i64(s, 5, sdb_or_now(at));
        ret = sdb_step_done(st, s, "recording a detection's action", err);
        if (ret == 0 && sqlite3_changes(st->db) == 0)
            ret = pal_err_set(err, PAL_ENOTFOUND, "no detection %lld", (long long)id);
    }
    sdb_unlock(st);
    return ret;
}

int pal_store_detection_note(pal_store *st, int64_t id, const char *note, pal_errbuf *err)
{
    if (!note || !*note)
        return pal_err_set(err, PAL_EINVAL, "detection_note: no note");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_DET_NOTE, &s, err);
    if (ret == 0) {
        sdb_bind_i64(s, 1, id);
        sdb_bind_text(s, 2, note);
        ret = sdb_step_done(st, s, "adding a note to a detection", err);
        if (ret == 0 && sqlite3_changes(st->db) == 0)
            ret = pal_err_set(err, PAL_ENOTFOUND, "no detection %lld", (long long)id);
    }
    sdb_unlock(st);
    return ret;
}

int pal_store_detection_get(pal_store *st, int64_t id, pal_detection *out, pal_errbuf *err)
{
    if (!out)
        return pal_err_set(err, PAL_EINVAL, "detection_get: bad arguments");
    return sdb_get_by_id(st, SQL_DET_GET, id, &detection_rows, out, err);
}

/* '*' and '?' wildcards to a LIKE pattern with '\' as the escape character. */
static char *wild_to_like(const char *w)
{
    size_t len = strnlen(w, PAL_STORE_MAX_TEXT);
    char *p = malloc(len * 2 + 1), *o = p;
    if (!p)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = w[i];
        if (c == '*') {
            *o++ = '%';
        } else if (c == '?') {
            *o++ = '_';
        } else {
            if (c == '%' || c == '_' || c == '\\')
                *o++ = '\\';
            *o++ = c;
        }
    }
    *o = '\0';
    return p;
}

/* '*' and '?' wildcards to a GLOB pattern: only '[' is special beyond them in GLOB. */
static char *wild_to_glob(const char *w)
{
    size_t len = strnlen(w, PAL_STORE_MAX_TEXT);
    char *p = malloc(len * 3 + 1), *o = p;
    if (!p)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (w[i] == '[') {
            memcpy(o, "[[]", 3);
            o += 3;
        } else {
            *o++ = w[i];
        }
    }
    *o = '\0';
    return p;
}

/* Run a query whose WHERE is DET_FILTER with the filter f bound, reading rows with rt; extra
   rows are asked for beyond the filter's limit. */
static int query_detections(pal_store *st, const char *sql, const pal_detection_filter *filter,
                            size_t extra, const sdb_rowtype *rt, void **out, size_t *n,
                            pal_errbuf *err)
{
    static const pal_detection_filter none;
    const pal_detection_filter *f = filter ? filter : &none;
    if (f->severity && !store_severity_name((int)f->severity))
        return pal_err_set(err, PAL_EINVAL, "detection_query: invalid severity %d",
                           (int)f->severity);
    char *like = f->threat ? wild_to_like(f->threat) : NULL;
    char *glob = f->path ? wild_to_glob(f->path) : NULL;
    if ((f->threat && !like) || (f->path && !glob)) {
        free(like);
        free(glob);
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    }

    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, sql, &s, err);
    if (ret == 0) {
        if (f->since)
            sdb_bind_i64(s, 1, f->since);
        if (f->until)
            sdb_bind_i64(s, 2, f->until);
        sdb_bind_text(s, 3, like);
        if (f->severity)
            sdb_bind_text(s, 4, store_severity_name((int)f->severity));
        sdb_bind_text(s, 5, glob);
        if (f->scan_id)
            sdb_bind_i64(s, 6, f->scan_id);
        sdb_bind_i64(s, 7, (int64_t)(sdb_clamp_limit(f->limit) + extra));
        ret = sdb_collect(st, s, rt, out, n, err);
    }
    sdb_unlock(st);
    free(like);
    free(glob);
    return ret;
}

int pal_store_detection_query(pal_store *st, const pal_detection_filter *filter,
                              pal_detection **out, size_t *n, pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "detection_query: bad arguments");
    void *recs = NULL;
    int ret = query_detections(st, SQL_DET_QUERY, filter, 0, &detection_rows, &recs, n, err);
    if (ret == 0)
        *out = recs;
    return ret;
}

void pal_threat_rows_free(pal_threat_row *t, size_t n)
{
    if (!t)
        return;
    for (size_t i = 0; i < n; i++)
        pal_detection_clear(&t[i].det);
    free(t);
}

int pal_store_threat_list(pal_store *st, const pal_detection_filter *filter, pal_threat_row **out,
                          size_t *n, pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "threat_list: bad arguments");
    /* One row more than the limit: the rows of one detection are adjacent (the order is by
       detected_at, then id), so a detection with several items shows a repeated id within
       limit + 1 rows, even when it is the last one within the limit. */
    static const pal_detection_filter none;
    size_t limit = sdb_clamp_limit((filter ? filter : &none)->limit);
    void *recs = NULL;
    int ret = query_detections(st, SQL_THREAT_LIST, filter, 1, &threat_rows, &recs, n, err);
    pal_threat_row *rows = recs;
    int repeated = 0;
    for (size_t i = 1; ret == 0 && i < *n && !repeated; i++)
        repeated = rows[i].det.id == rows[i - 1].det.id;
    if (ret == 0 && repeated) {
        pal_threat_rows_free(rows, *n);
        recs = NULL;
        ret = query_detections(st, SQL_THREAT_LIST_GROUPED, filter, 0, &threat_rows, &recs, n, err);
    } else if (ret == 0 && *n > limit) {
        pal_detection_clear(&rows[limit].det);
        *n = limit;
    }
    if (ret == 0)
        *out = recs;
    return ret;
}

int pal_store_unremediated_count(pal_store *st, int64_t *count, pal_errbuf *err)
{
    if (!count)
        return pal_err_set(err, PAL_EINVAL, "unremediated_count: bad arguments");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_UNREMEDIATED, &s, err);
    if (ret == 0)
        ret = sdb_step_int(st, s, count, NULL, "counting unremediated threats", err);
    sdb_unlock(st);
    return ret;
}
