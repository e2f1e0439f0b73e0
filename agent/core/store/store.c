/*
 * store.c — the broker's SQLite store: opening and checking the file, migrations, and every
 * SQL statement the daemon runs (see store.h for the contract, db/README.md for the schema).
 *
 * Statements live in one table (stmt_sql) indexed by enum stmt_id and are prepared on first
 * use and kept (SQLITE_PREPARE_PERSISTENT) for the life of the connection; each use ends
 * with finish(), which resets and unbinds, so a cached statement never holds a read
 * transaction open between calls.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAL_APPLICATION_ID 0x50414C53 /* 'PALS', set by 0001_initial.sql */
#define BUSY_TIMEOUT_MS 5000

/* ---- statements ------------------------------------------------------------------------ */

#define SCAN_COLS                                                                                  \
    "id, type, paths, started_at, ended_at, files, bytes, threats, unscannable, outcome, "         \
    "error, started_by"
#define DET_COLS                                                                                   \
    "id, scan_id, detected_at, threat_name, severity, category, path, chain, sha256, size, "       \
    "source, matched_by, sig_version, action, action_result, action_detail, action_at"
#define Q_COLS                                                                                     \
    "id, detection_id, threat_name, original_path, owner_uid, group_gid, mode, atime_ns, "         \
    "mtime_ns, ctime_ns, size, sha256, quarantined_at, storage_name"
#define FO_COLS                                                                                    \
    "id, op, state, detection_id, quarantine_id, path, storage_name, created_at, updated_at, "     \
    "detail"
#define CP_COLS "id, at, pid, event, exit_code, signal, reason, object, stderr_tail"

enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SYNC_FULL,
    S_SYNC_NORMAL,
    S_META_GET,
    S_META_SET,
    S_META_DEL,
    S_SCAN_BEGIN,
    S_SCAN_FINISH,
    S_SCAN_OUTCOME,
    S_SCAN_GET,
    S_SCAN_LIST,
    S_SCAN_INTERRUPT,
    S_DET_INSERT,
    S_DET_SET_ACTION,
    S_DET_GET,
    S_DET_QUERY,
    S_AUDIT_INSERT,
    S_AUDIT_LIST,
    S_PREF_ALL,
    S_PREF_GET,
    S_PREF_SET,
    S_PREF_DEL,
    S_EXCL_ADD,
    S_EXCL_ADD_IGNORE,
    S_EXCL_DEL,
    S_EXCL_DEL_KIND,
    S_EXCL_LIST,
    S_ALLOW_ADD,
    S_ALLOW_DEL,
    S_ALLOW_LIST,
    S_ALLOW_CHECK,
    S_TA_SET,
    S_TA_GET,
    S_TA_DEL,
    S_TA_LIST,
    S_CACHE_LOOKUP,
    S_CACHE_INSERT,
    S_CACHE_REMOVE,
    S_CACHE_CLEAR,
    S_CACHE_CLEAR_OTHER,
    S_CACHE_COUNT,
    S_CP_INSERT,
    S_CP_PRUNE,
    S_CP_LIST,
    S_Q_INSERT,
    S_Q_UPDATE,
    S_Q_GET,
    S_Q_LIST,
    S_Q_DEL,
    S_FO_INSERT,
    S_FO_FINISH,
    S_FO_STATE,
    S_FO_GET,
    S_FO_LIST,
    S_FO_DEL,
    S_UNREMEDIATED,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [S_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",

    [S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [S_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [S_META_DEL] = "DELETE FROM meta WHERE key = ?1",

    [S_SCAN_BEGIN] = "INSERT INTO scans (type, paths, started_at, started_by) "
                     "VALUES (?1, ?2, ?3, ?4)",
    [S_SCAN_FINISH] = "UPDATE scans SET ended_at = ?2, files = ?3, bytes = ?4, threats = ?5, "
                      "unscannable = ?6, outcome = ?7, error = ?8 "
                      "WHERE id = ?1 AND outcome = 'Running'",
    [S_SCAN_OUTCOME] = "SELECT outcome FROM scans WHERE id = ?1",
    [S_SCAN_GET] = "SELECT " SCAN_COLS " FROM scans WHERE id = ?1",
    [S_SCAN_LIST] = "SELECT " SCAN_COLS " FROM scans ORDER BY started_at DESC, id DESC "
                    "LIMIT ?1",
    [S_SCAN_INTERRUPT] = "UPDATE scans SET outcome = 'Failed', ended_at = ?1, error = ?2 "
                         "WHERE outcome = 'Running'",

    [S_DET_INSERT] = "INSERT INTO detections (scan_id, detected_at, threat_name, severity, "
                     "category, path, chain, sha256, size, source, matched_by, sig_version, "
                     "action) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [S_DET_SET_ACTION] = "UPDATE detections SET action = ?2, action_result = ?3, "
                         "action_detail = ?4, action_at = ?5 WHERE id = ?1",
    [S_DET_GET] = "SELECT " DET_COLS " FROM detections WHERE id = ?1",
    /* One statement for every combination of filters: a NULL parameter disables its test. */
    [S_DET_QUERY] = "SELECT " DET_COLS " FROM detections "
                    "WHERE (?1 IS NULL OR detected_at >= ?1) "
                    "AND (?2 IS NULL OR detected_at < ?2) "
                    "AND (?3 IS NULL OR threat_name LIKE ?3 ESCAPE '\\') "
                    "AND (?4 IS NULL OR severity = ?4) "
                    "AND (?5 IS NULL OR path GLOB ?5 OR chain GLOB ?5) "
                    "AND (?6 IS NULL OR scan_id = ?6) "
                    "ORDER BY detected_at DESC, id DESC LIMIT ?7",

    [S_AUDIT_INSERT] = "INSERT INTO audit (at, uid, action, target, old_value, new_value) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [S_AUDIT_LIST] = "SELECT id, at, uid, action, target, old_value, new_value FROM audit "
                     "WHERE at >= ?1 ORDER BY at DESC, id DESC LIMIT ?2",

    [S_PREF_ALL] = "SELECT name, value, updated_at, updated_by FROM preferences ORDER BY name",
    [S_PREF_GET] = "SELECT value FROM preferences WHERE name = ?1",
    [S_PREF_SET] = "INSERT INTO preferences (name, value, updated_at, updated_by) "
                   "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET "
                   "value = excluded.value, updated_at = excluded.updated_at, "
                   "updated_by = excluded.updated_by",
    [S_PREF_DEL] = "DELETE FROM preferences WHERE name = ?1",

    [S_EXCL_ADD] = "INSERT INTO exclusions (kind, value, added_at, added_by) "
                   "VALUES (?1, ?2, ?3, ?4)",
    [S_EXCL_ADD_IGNORE] = "INSERT INTO exclusions (kind, value, added_at, added_by) "
                          "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    [S_EXCL_DEL] = "DELETE FROM exclusions WHERE kind = ?1 AND value = ?2",
    [S_EXCL_DEL_KIND] = "DELETE FROM exclusions WHERE kind = ?1",
    [S_EXCL_LIST] = "SELECT id, kind, value, added_at, added_by FROM exclusions "
                    "WHERE (?1 IS NULL OR kind = ?1) ORDER BY id",

    [S_ALLOW_ADD] = "INSERT INTO allowed_threats (kind, value, added_at, added_by) "
                    "VALUES (?1, ?2, ?3, ?4)",
    [S_ALLOW_DEL] = "DELETE FROM allowed_threats WHERE kind = ?1 AND value = ?2",
    [S_ALLOW_LIST] = "SELECT id, kind, value, added_at, added_by FROM allowed_threats "
                     "ORDER BY id",
    [S_ALLOW_CHECK] = "SELECT 1 FROM allowed_threats WHERE (kind = 'ThreatName' AND value = ?1) "
                      "OR (kind = 'Sha256' AND value = ?2) LIMIT 1",

    [S_TA_SET] = "INSERT INTO threat_actions (threat_name, action, set_at, set_by) "
                 "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (threat_name) DO UPDATE SET "
                 "action = excluded.action, set_at = excluded.set_at, set_by = excluded.set_by",
    [S_TA_GET] = "SELECT action FROM threat_actions WHERE threat_name = ?1",
    [S_TA_DEL] = "DELETE FROM threat_actions WHERE threat_name = ?1",
    [S_TA_LIST] = "SELECT threat_name, action, set_at, set_by FROM threat_actions "
                  "ORDER BY threat_name",

    [S_CACHE_LOOKUP] = "SELECT 1 FROM scan_cache WHERE dev = ?1 AND ino = ?2 AND size = ?3 "
                       "AND mtime_ns = ?4 AND ctime_ns = ?5 AND sig_version = ?6",
    [S_CACHE_INSERT] = "INSERT OR REPLACE INTO scan_cache (dev, ino, size, mtime_ns, ctime_ns, "
                       "sig_version, verdict_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_CACHE_REMOVE] = "DELETE FROM scan_cache WHERE dev = ?1 AND ino = ?2",
    [S_CACHE_CLEAR] = "DELETE FROM scan_cache",
    [S_CACHE_CLEAR_OTHER] = "DELETE FROM scan_cache WHERE sig_version <> ?1",
    [S_CACHE_COUNT] = "SELECT count(*) FROM scan_cache",

    [S_CP_INSERT] = "INSERT INTO cp_events (at, pid, event, exit_code, signal, reason, object, "
                    "stderr_tail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [S_CP_PRUNE] = "DELETE FROM cp_events WHERE id <= ?1",
    [S_CP_LIST] = "SELECT " CP_COLS " FROM cp_events ORDER BY id DESC LIMIT ?1",

    [S_Q_INSERT] = "INSERT INTO quarantine (detection_id, threat_name, original_path, "
                   "owner_uid, group_gid, mode, atime_ns, mtime_ns, ctime_ns, size, sha256, "
                   "quarantined_at, storage_name) "
                   "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [S_Q_UPDATE] = "UPDATE quarantine SET detection_id = ?2, threat_name = ?3, "
                   "original_path = ?4, owner_uid = ?5, group_gid = ?6, mode = ?7, "
                   "atime_ns = ?8, mtime_ns = ?9, ctime_ns = ?10, size = ?11, sha256 = ?12, "
                   "quarantined_at = ?13, storage_name = ?14 WHERE id = ?1",
    [S_Q_GET] = "SELECT " Q_COLS " FROM quarantine WHERE id = ?1",
    [S_Q_LIST] = "SELECT " Q_COLS " FROM quarantine ORDER BY quarantined_at DESC, id DESC "
                 "LIMIT ?1",
    [S_Q_DEL] = "DELETE FROM quarantine WHERE id = ?1",

    [S_FO_INSERT] = "INSERT INTO file_ops (op, state, detection_id, quarantine_id, path, "
                    "storage_name, created_at, updated_at, detail) "
                    "VALUES (?1, 'Pending', ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
    [S_FO_FINISH] = "UPDATE file_ops SET state = ?2, detail = ?3, updated_at = ?4 "
                    "WHERE id = ?1 AND state = 'Pending'",
    [S_FO_STATE] = "SELECT state FROM file_ops WHERE id = ?1",
    [S_FO_GET] = "SELECT " FO_COLS " FROM file_ops WHERE id = ?1",
    [S_FO_LIST] = "SELECT " FO_COLS " FROM file_ops WHERE (?1 IS NULL OR state = ?1) "
                  "ORDER BY id LIMIT ?2",
    [S_FO_DEL] = "DELETE FROM file_ops WHERE id = ?1",
    /* see pal_store_unremediated_count for what "dealt with" means. Written as set joins
       (the failed rows, the roots of later scans, each failed path's ancestors) rather than
       correlated subqueries: one pass over detections instead of one per failed row. */
    [S_UNREMEDIATED] =
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
        "OR (a.kind = 'Sha256' AND a.value = f.sha256))",
};

struct pal_store {
    pthread_mutex_t lock;
    sqlite3 *db;                  /* lock */
    char *path;                   /* immutable */
    int version;                  /* immutable after open */
    int sync_full;                /* current PRAGMA synchronous is FULL; lock */
    sqlite3_stmt *stmts[S_COUNT]; /* prepared on first use; lock */
};

/* ---- small helpers --------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t or_now(int64_t t)
{
    return t ? t : now_ms();
}

static size_t clamp_limit(size_t limit)
{
    if (limit == 0)
        return PAL_STORE_DEFAULT_LIMIT;
    return limit > PAL_STORE_MAX_LIMIT ? PAL_STORE_MAX_LIMIT : limit;
}

/* Grow an array of elem-sized records so that it holds at least n + 1; NULL on failure
   (the old array is untouched). */
static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / elem)
        return NULL;
    void *p = realloc(arr, ncap * elem);
    if (p) {
        memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
        *cap = ncap;
    }
    return p;
}

/* The name tables are the vocabulary's (agent/util/names.h); a column holds the name. */
#define NAMES(a) PAL_NAMES(pal_##a)
#define name_of pal_name_of

void pal_store_sha256_hex(const uint8_t sha256[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[sha256[i] >> 4];
        out[2 * i + 1] = hex[sha256[i] & 15];
    }
    out[64] = '\0';
}

/* Copy a hex SHA-256 lowercased into out; "" and NULL give "". PAL_EINVAL if malformed. */
static int norm_sha256(const char *in, char out[65], int required, pal_errbuf *err)
{
    if (!in || !*in) {
        if (required)
            return pal_err_set(err, PAL_EINVAL, "a SHA-256 is required");
        out[0] = '\0';
        return 0;
    }
    size_t len = strnlen(in, 65);
    if (len != 64)
        return pal_err_set(err, PAL_EINVAL, "SHA-256 must be 64 hex digits (got %zu chars)", len);
    for (size_t i = 0; i < 64; i++) {
        char c = in[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return pal_err_set(err, PAL_EINVAL, "SHA-256 contains a non-hex character");
        out[i] = c;
    }
    out[64] = '\0';
    return 0;
}

/* ---- statement plumbing (all called with st->lock held) -------------------------------- */

static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOMEM:
        return PAL_ENOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return PAL_EFORMAT;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return PAL_EEXIST;
        return PAL_EINVAL;
    default:
        return PAL_EIO;
    }
}

static int db_fail(pal_store *st, int rc, const char *what, pal_errbuf *err)
{
    return pal_err_set(err, map_rc(rc), "database %s: %s: %s", st->path, what,
                       sqlite3_errmsg(st->db));
}

static int get_stmt(pal_store *st, enum stmt_id id, sqlite3_stmt **out, pal_errbuf *err)
{
    if (!st->stmts[id]) {
        int rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            st->stmts[id] = NULL;
            return db_fail(st, rc, "preparing a statement", err);
        }
    }
    *out = st->stmts[id];
    return 0;
}

static void finish(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

/* Bind helpers return the sqlite code; callers collect them with |= since every failure
   (SQLITE_RANGE, SQLITE_NOMEM, SQLITE_TOOBIG) is a non-zero code. */
static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (!v)
        return sqlite3_bind_null(s, i);
    size_t len = strlen(v);
    if (len > PAL_STORE_MAX_TEXT)
        len = PAL_STORE_MAX_TEXT; /* a hostile member name shortens a record, never loses it */
    return sqlite3_bind_text(s, i, v, (int)len, SQLITE_STATIC);
}

static int bind_i64(sqlite3_stmt *s, int i, int64_t v)
{
    return sqlite3_bind_int64(s, i, v);
}

/* dev, ino, sizes and versions are unsigned 64-bit; stored as the same bits in SQLite's
   signed INTEGER (equality and the values we read back are what matter). */
static int bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
    return sqlite3_bind_int64(s, i, (sqlite3_int64)v);
}

static int bind_id_or_null(sqlite3_stmt *s, int i, int64_t v)
{
    return v ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
}

static int bind_uid(sqlite3_stmt *s, int i, uid_t uid)
{
    return uid == PAL_UID_DAEMON ? sqlite3_bind_null(s, i) : sqlite3_bind_int64(s, i, uid);
}

static uid_t col_uid(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return PAL_UID_DAEMON;
    return (uid_t)sqlite3_column_int64(s, i);
}

/* *out = malloc'd copy of a text column, NULL for SQL NULL. */
static int col_str(sqlite3_stmt *s, int i, char **out)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL) {
        *out = NULL;
        return 0;
    }
    const unsigned char *t = sqlite3_column_text(s, i);
    int len = sqlite3_column_bytes(s, i);
    if (!t || len < 0)
        return PAL_ENOMEM;
    char *p = malloc((size_t)len + 1);
    if (!p)
        return PAL_ENOMEM;
    memcpy(p, t, (size_t)len);
    p[len] = '\0';
    *out = p;
    return 0;
}

/* Enum from a text column through a name table; PAL_EFORMAT for an unknown word. */
static int col_enum(sqlite3_stmt *s, int i, const char *const *names, size_t n, int *out)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    for (size_t k = 0; t && k < n; k++) {
        if (names[k] && strcmp(names[k], t) == 0) {
            *out = (int)k;
            return 0;
        }
    }
    return PAL_EFORMAT;
}

static int run(pal_store *st, enum stmt_id id, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    int rc = get_stmt(st, id, &s, err);
    if (rc)
        return rc;
    int src = sqlite3_step(s);
    int ret = 0;
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        ret = db_fail(st, src, stmt_sql[id], err);
    finish(s);
    return ret;
}

static int set_sync(pal_store *st, int full, pal_errbuf *err)
{
    if (st->sync_full == full)
        return 0;
    int rc = run(st, full ? S_SYNC_FULL : S_SYNC_NORMAL, err);
    if (rc == 0)
        st->sync_full = full;
    return rc;
}

static int tx_begin(pal_store *st, int full, pal_errbuf *err)
{
    int rc = set_sync(st, full, err);
    return rc ? rc : run(st, S_BEGIN, err);
}

static int tx_commit(pal_store *st, pal_errbuf *err)
{
    return run(st, S_COMMIT, err);
}

static void tx_rollback(pal_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        run(st, S_ROLLBACK, NULL);
}

static void lock(pal_store *st)
{
    pthread_mutex_lock(&st->lock);
}

static void unlock(pal_store *st)
{
    pthread_mutex_unlock(&st->lock);
}

/* Step a bound write statement to completion; on error the statement is finished. */
static int step_done(pal_store *st, sqlite3_stmt *s, const char *what, pal_errbuf *err)
{
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = db_fail(st, rc, what, err);
    finish(s);
    return ret;
}

static int audit_row(pal_store *st, uid_t uid, const char *action, const char *target,
                     const char *old_value, const char *new_value, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    int rc = get_stmt(st, S_AUDIT_INSERT, &s, err);
    if (rc)
        return rc;
    int b = bind_i64(s, 1, now_ms()) | bind_uid(s, 2, uid) | bind_text(s, 3, action) |
            bind_text(s, 4, target ? target : "") | bind_text(s, 5, old_value) |
            bind_text(s, 6, new_value);
    if (b != SQLITE_OK) {
        finish(s);
        return db_fail(st, b, "binding an audit row", err);
    }
    return step_done(st, s, "writing an audit row", err);
}

/* ---- opening --------------------------------------------------------------------------- */

int pal_store_latest_version(void)
{
    return (int)pal_store_migrations_count;
}

/*
 * Look at the file before SQLite does: create it 0600 if absent (SQLite would use 0644),
 * refuse what is not a regular file, and refuse a non-empty file without the SQLite header
 * without ever handing it to SQLite. *is_new = 1 for a new or empty file.
 */
static int precheck_file(const char *path, int *is_new, pal_errbuf *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
            return pal_err_set(err, PAL_EIO, "cannot create database %s: %s", path,
                               strerror(errno));
        close(fd);
        *is_new = 1;
        return 0;
    }
    if (fd < 0)
        return pal_err_set(err, PAL_EIO, "cannot open database %s: %s", path, strerror(errno));

    int ret = 0;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        ret = pal_err_set(err, PAL_EIO, "cannot stat database %s: %s", path, strerror(errno));
        goto out_close;
    }
    if (S_ISDIR(sb.st_mode)) {
        ret = pal_err_set(err, PAL_EIO, "cannot open database %s: it is a directory", path);
        goto out_close;
    }
    if (!S_ISREG(sb.st_mode)) {
        ret = pal_err_set(err, PAL_EIO, "cannot open database %s: not a regular file", path);
        goto out_close;
    }
    if (sb.st_size == 0) {
        *is_new = 1;
        goto out_close;
    }
    static const char magic[16] = "SQLite format 3";
    char hdr[16];
    ssize_t n = pread(fd, hdr, sizeof(hdr), 0);
    if (n < 0) {
        ret = pal_err_set(err, PAL_EIO, "cannot read database %s: %s", path, strerror(errno));
        goto out_close;
    }
    if (sb.st_size < 100 || n != (ssize_t)sizeof(hdr) || memcmp(hdr, magic, sizeof(magic))) {
        ret = pal_err_set(err, PAL_EFORMAT,
                          "database %s is not a SQLite database (no SQLite header); "
                          "refusing to use or overwrite it",
                          path);
        goto out_close;
    }
    *is_new = 0;
out_close:
    close(fd);
    return ret;
}

static int pragma_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(s, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(s);
    return rc;
}

static int refuse_sqlite(const char *path, sqlite3 *db, int rc, pal_errbuf *err)
{
    int code = map_rc(rc);
    if (code == PAL_EFORMAT)
        return pal_err_set(err, PAL_EFORMAT,
                           "database %s is unusable: %s; refusing to use or overwrite it", path,
                           db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return pal_err_set(err, code == PAL_ENOMEM ? PAL_ENOMEM : PAL_EIO,
                       "cannot read database %s: %s", path,
                       db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static int sidecar_exists(const char *path, const char *suffix)
{
    char buf[4096];
    struct stat sb;
    int n = snprintf(buf, sizeof(buf), "%s%s", path, suffix);
    /* a path too long to test is treated as present: the safe (non-immutable) way */
    return n < 0 || (size_t)n >= sizeof(buf) || lstat(buf, &sb) == 0 || errno != ENOENT;
}

/*
 * The URI that opens path read-only. With no WAL or rollback journal beside it (a clean
 * shutdown) the file alone is the database, and immutable=1 lets SQLite read it without
 * creating -wal/-shm files next to a file we may be about to refuse. Otherwise the journal
 * has to be read, through a plain read-only connection.
 */
static char *readonly_uri(const char *path)
{
    int immutable = !sidecar_exists(path, "-wal") && !sidecar_exists(path, "-journal");
    size_t len = strlen(path);
    if (len > SIZE_MAX / 3 - 32)
        return NULL;
    char *uri = malloc(len * 3 + 32), *o = uri;
    if (!uri)
        return NULL;
    static const char hex[] = "0123456789ABCDEF";
    memcpy(o, "file:", 5);
    o += 5;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    memcpy(o, immutable ? "?mode=ro&immutable=1" : "?mode=ro", immutable ? 21 : 9);
    return uri;
}

/*
 * Check an existing database on a read-only connection, which cannot write to the file
 * (not even the checkpoint a read-write connection does when it closes a WAL database).
 * *version is its PRAGMA user_version.
 */
static int verify_existing(const char *path, int max_version, int *version, pal_errbuf *err)
{
    sqlite3 *db = NULL;
    int ret = 0;
    char *uri = readonly_uri(path);
    if (!uri)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI,
                             NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        ret = refuse_sqlite(path, db, rc, err);
        goto out;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);

    int64_t app_id = 0, user_version = 0, tables = 0;
    rc = pragma_int(db, "PRAGMA application_id", &app_id);
    if (rc == SQLITE_OK)
        rc = pragma_int(db, "PRAGMA user_version", &user_version);
    if (rc == SQLITE_OK)
        rc = pragma_int(db, "SELECT count(*) FROM sqlite_schema", &tables);
    if (rc != SQLITE_OK) {
        ret = refuse_sqlite(path, db, rc, err);
        goto out;
    }
    if (app_id != 0 && app_id != PAL_APPLICATION_ID) {
        ret = pal_err_set(err, PAL_EFORMAT,
                          "database %s belongs to another application (application_id "
                          "0x%08llx); refusing to use or overwrite it",
                          path, (unsigned long long)(uint32_t)app_id);
        goto out;
    }
    if (user_version < 0 || (user_version == 0 && tables > 0) ||
        (user_version > 0 && app_id != PAL_APPLICATION_ID)) {
        ret = pal_err_set(err, PAL_EFORMAT,
                          "database %s is not a Palisade database (schema version %lld, "
                          "%lld schema objects); refusing to use or overwrite it",
                          path, (long long)user_version, (long long)tables);
        goto out;
    }
    if (user_version > max_version) {
        ret = pal_err_set(err, PAL_EVERSION,
                          "database %s has schema version %lld, this palisaded knows up to %d; "
                          "refusing to use or overwrite it",
                          path, (long long)user_version, max_version);
        goto out;
    }

    sqlite3_stmt *s = NULL;
    rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *res = (const char *)sqlite3_column_text(s, 0);
        if (!res || strcmp(res, "ok") != 0)
            ret = pal_err_set(err, PAL_EFORMAT,
                              "database %s is corrupt (quick_check: %s); refusing to use or "
                              "overwrite it",
                              path, res ? res : "no result");
    } else {
        ret = refuse_sqlite(path, db, rc, err);
    }
    sqlite3_finalize(s);
    if (ret == 0)
        *version = (int)user_version;
out:
    sqlite3_close(db);
    return ret;
}

static int exec_sql(pal_store *st, const char *sql, const char *what, pal_errbuf *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        int code = pal_err_set(err, map_rc(rc), "database %s: %s: %s", st->path, what,
                               msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return code;
    }
    return 0;
}

static int migrate(pal_store *st, int from, int to, pal_errbuf *err)
{
    for (int v = from + 1; v <= to; v++) {
        const struct pal_store_migration *m = &pal_store_migrations[v - 1];
        char what[128];
        if (m->version != v)
            return pal_err_set(err, PAL_ESTATE, "embedded migration %d has number %d", v,
                               m->version);
        snprintf(what, sizeof(what), "migration %04d_%s", v, m->name);

        int rc = tx_begin(st, 1, err);
        if (rc)
            return rc;
        rc = exec_sql(st, m->sql, what, err);
        if (rc == 0 && sqlite3_get_autocommit(st->db))
            rc = pal_err_set(err, PAL_ESTATE, "database %s: %s ended its transaction", st->path,
                             what);
        if (rc == 0) {
            char pragma[64];
            snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v);
            rc = exec_sql(st, pragma, what, err);
        }
        if (rc == 0)
            rc = tx_commit(st, err);
        if (rc) {
            tx_rollback(st);
            return rc;
        }
    }
    return 0;
}

void pal_store_close(pal_store *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->lock);
    free(st->path);
    free(st);
}

int pal_store_open_at_version(const char *path, int max_version, pal_store **out, pal_errbuf *err)
{
    if (!path || !out || max_version < 1 || max_version > pal_store_latest_version())
        return pal_err_set(err, PAL_EINVAL, "pal_store_open: bad arguments");

    int is_new = 0, version = 0;
    int ret = precheck_file(path, &is_new, err);
    if (ret)
        return ret;
    if (!is_new) {
        ret = verify_existing(path, max_version, &version, err);
        if (ret)
            return ret;
    }

    pal_store *st = calloc(1, sizeof(*st));
    if (!st)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    st->path = strdup(path);
    if (!st->path || pthread_mutex_init(&st->lock, NULL) != 0) {
        free(st->path);
        free(st);
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    st->sync_full = -1;

    int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        ret = refuse_sqlite(path, st->db, rc, err);
        goto fail;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    /* Nothing may rewrite the schema behind the migrations' back, and schema code runs only
       functions marked innocuous. */
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);

    ret = exec_sql(st, "PRAGMA foreign_keys = ON", "enabling foreign keys", err);
    if (ret)
        goto fail;
    sqlite3_stmt *s = NULL;
    rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
    if (!mode || strcmp(mode, "wal") != 0) {
        /* the pragma answers with the mode in force when it cannot switch */
        ret = pal_err_set(err, rc == SQLITE_ROW ? PAL_EIO : map_rc(rc),
                          "database %s: cannot switch to WAL mode: %s", path,
                          mode ? mode : sqlite3_errmsg(st->db));
        sqlite3_finalize(s);
        goto fail;
    }
    sqlite3_finalize(s);

    ret = migrate(st, version, max_version, err);
    if (ret)
        goto fail;
    st->version = max_version;
    *out = st;
    return 0;
fail:
    pal_store_close(st);
    return ret;
}

int pal_store_open(const char *path, pal_store **out, pal_errbuf *err)
{
    return pal_store_open_at_version(path, pal_store_latest_version(), out, err);
}

const char *pal_store_path(const pal_store *st)
{
    return st->path;
}

int pal_store_schema_version(const pal_store *st)
{
    return st->version;
}

/* ---- meta ------------------------------------------------------------------------------ */

int pal_store_meta_get(pal_store *st, const char *key, char **value, pal_errbuf *err)
{
    if (!key || !value)
        return pal_err_set(err, PAL_EINVAL, "meta_get: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = get_stmt(st, S_META_GET, &s, err);
    if (ret)
        goto out;
    bind_text(s, 1, key);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        char *v;
        ret = col_str(s, 0, &v);
        if (ret == 0)
            *value = v;
        else
            pal_err_set(err, ret, "out of memory");
    } else if (rc == SQLITE_DONE) {
        ret = pal_err_set(err, PAL_ENOTFOUND, "no meta key %s", key);
    } else {
        ret = db_fail(st, rc, "reading meta", err);
    }
    finish(s);
out:
    unlock(st);
    return ret;
}

int pal_store_meta_set(pal_store *st, const char *key, const char *value, pal_errbuf *err)
{
    if (!key || !value)
        return pal_err_set(err, PAL_EINVAL, "meta_set: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_META_SET, &s, err);
    if (ret == 0) {
        bind_text(s, 1, key);
        bind_text(s, 2, value);
        ret = step_done(st, s, "writing meta", err);
    }
    unlock(st);
    return ret;
}

int pal_store_meta_delete(pal_store *st, const char *key, pal_errbuf *err)
{
    if (!key)
        return pal_err_set(err, PAL_EINVAL, "meta_delete: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_META_DEL, &s, err);
    if (ret == 0) {
        bind_text(s, 1, key);
        ret = step_done(st, s, "deleting meta", err);
    }
    unlock(st);
    return ret;
}

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
    if (col_enum(s, 1, NAMES(scan_type_names), &v))
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
    if (col_enum(s, 9, NAMES(scan_outcome_names), &v)) {
        pal_scan_rec_clear(r);
        return PAL_EFORMAT;
    }
    r->outcome = (pal_scan_outcome)v;
    ret = col_str(s, 10, &r->error);
    r->started_by = col_uid(s, 11);
    if (ret)
        pal_scan_rec_clear(r);
    return ret;
}

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
    lock(st);
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_SCAN_BEGIN, &s, err);
    if (ret == 0) {
        bind_text(s, 1, pal_scan_type_name(type));
        sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
        bind_i64(s, 3, or_now(started_at));
        bind_uid(s, 4, started_by);
        ret = step_done(st, s, "recording a scan", err);
        if (ret == 0)
            *id = sqlite3_last_insert_rowid(st->db);
    }
    unlock(st);
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
    lock(st);
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_SCAN_FINISH, &s, err);
    if (ret)
        goto out;
    bind_i64(s, 1, id);
    bind_i64(s, 2, or_now(ended_at));
    bind_u64(s, 3, totals->files);
    bind_u64(s, 4, totals->bytes);
    bind_u64(s, 5, totals->threats);
    bind_u64(s, 6, totals->unscannable);
    bind_text(s, 7, pal_scan_outcome_name(outcome));
    bind_text(s, 8, error);
    ret = step_done(st, s, "finishing a scan", err);
    if (ret || sqlite3_changes(st->db) == 1)
        goto out;
    ret = get_stmt(st, S_SCAN_OUTCOME, &s, err);
    if (ret)
        goto out;
    bind_i64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        ret = pal_err_set(err, PAL_ESTATE, "scan %lld is already finished (%s)", (long long)id,
                          (const char *)sqlite3_column_text(s, 0));
    else if (rc == SQLITE_DONE)
        ret = pal_err_set(err, PAL_ENOTFOUND, "no scan %lld", (long long)id);
    else
        ret = db_fail(st, rc, "reading a scan", err);
    finish(s);
out:
    unlock(st);
    return ret;
}

int pal_store_scan_get(pal_store *st, int64_t id, pal_scan_rec *out, pal_errbuf *err)
{
    if (!out)
        return pal_err_set(err, PAL_EINVAL, "scan_get: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = get_stmt(st, S_SCAN_GET, &s, err);
    if (ret)
        goto out;
    bind_i64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        pal_scan_rec r;
        ret = read_scan(s, &r);
        if (ret == 0)
            *out = r;
        else
            pal_err_set(err, ret, "database %s: scan %lld is unreadable", st->path, (long long)id);
    } else if (rc == SQLITE_DONE) {
        ret = pal_err_set(err, PAL_ENOTFOUND, "no scan %lld", (long long)id);
    } else {
        ret = db_fail(st, rc, "reading a scan", err);
    }
    finish(s);
out:
    unlock(st);
    return ret;
}

int pal_store_scan_list(pal_store *st, size_t limit, pal_scan_rec **out, size_t *n, pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "scan_list: bad arguments");
    sqlite3_stmt *s = NULL;
    pal_scan_rec *recs = NULL;
    size_t cnt = 0, cap = 0;
    lock(st);
    int ret = get_stmt(st, S_SCAN_LIST, &s, err);
    if (ret)
        goto out;
    bind_i64(s, 1, (int64_t)clamp_limit(limit));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        pal_scan_rec *g = grow(recs, &cap, cnt, sizeof(*recs));
        if (!g) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        recs = g;
        ret = read_scan(s, &recs[cnt]);
        if (ret) {
            pal_err_set(err, ret, "database %s: a scan row is unreadable", st->path);
            break;
        }
        cnt++;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(st, rc, "listing scans", err);
    finish(s);
out:
    unlock(st);
    if (ret) {
        pal_scan_recs_free(recs, cnt);
        return ret;
    }
    *out = recs;
    *n = cnt;
    return 0;
}

int pal_store_scan_mark_interrupted(pal_store *st, size_t *n, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_SCAN_INTERRUPT, &s, err);
    if (ret == 0) {
        bind_i64(s, 1, now_ms());
        bind_text(s, 2, "interrupted: palisaded stopped during the scan");
        ret = step_done(st, s, "closing interrupted scans", err);
        if (ret == 0 && n)
            *n = (size_t)sqlite3_changes(st->db);
    }
    unlock(st);
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
    if (col_enum(s, 4, NAMES(severity_names), &sev) ||
        col_enum(s, 10, NAMES(det_source_names), &src) ||
        (sqlite3_column_type(s, 13) != SQLITE_NULL &&
         col_enum(s, 13, NAMES(det_action_names), &act)) ||
        col_enum(s, 14, NAMES(det_result_names), &res))
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
    if (col_str(s, 3, &d->threat_name) || col_str(s, 5, &d->category) || col_str(s, 6, &d->path) ||
        col_str(s, 7, &d->chain) || col_str(s, 11, &d->matched_by) ||
        col_str(s, 15, &d->action_detail)) {
        pal_detection_clear(d);
        return PAL_ENOMEM;
    }
    return 0;
}

int pal_store_detection_insert(pal_store *st, const pal_detection *d, int64_t *id, pal_errbuf *err)
{
    char sha[65];
    if (!d || !id || !d->threat_name || !*d->threat_name || !d->path || !*d->path)
        return pal_err_set(err, PAL_EINVAL, "detection_insert: threat name and path required");
    if (!name_of(NAMES(severity_names), (int)d->severity))
        return pal_err_set(err, PAL_EINVAL, "detection_insert: invalid severity %d",
                           (int)d->severity);
    if (!pal_det_source_name(d->source))
        return pal_err_set(err, PAL_EINVAL, "detection_insert: invalid source %d", (int)d->source);
    if (!pal_det_action_name(d->action))
        return pal_err_set(err, PAL_EINVAL, "detection_insert: invalid action %d", (int)d->action);
    int ret = norm_sha256(d->sha256, sha, 0, err);
    if (ret)
        return ret;

    sqlite3_stmt *s = NULL;
    lock(st);
    ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_DET_INSERT, &s, err);
    if (ret == 0) {
        bind_id_or_null(s, 1, d->scan_id);
        bind_i64(s, 2, or_now(d->detected_at));
        bind_text(s, 3, d->threat_name);
        bind_text(s, 4, name_of(NAMES(severity_names), (int)d->severity));
        bind_text(s, 5, d->category ? d->category : "");
        bind_text(s, 6, d->path);
        bind_text(s, 7, d->chain ? d->chain : d->path);
        bind_text(s, 8, sha[0] ? sha : NULL);
        bind_u64(s, 9, d->size);
        bind_text(s, 10, pal_det_source_name(d->source));
        bind_text(s, 11, d->matched_by);
        if (d->sig_version)
            bind_u64(s, 12, d->sig_version);
        if (d->action != PAL_DET_ACTION_NONE)
            bind_text(s, 13, pal_det_action_name(d->action));
        ret = step_done(st, s, "recording a detection", err);
        if (ret == 0)
            *id = sqlite3_last_insert_rowid(st->db);
    }
    unlock(st);
    return ret;
}

int pal_store_detection_set_action(pal_store *st, int64_t id, pal_det_action action,
                                   pal_det_result result, const char *detail, int64_t at,
                                   pal_errbuf *err)
{
    if (!pal_det_action_name(action) || !pal_det_result_name(result))
        return pal_err_set(err, PAL_EINVAL, "detection_set_action: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_DET_SET_ACTION, &s, err);
    if (ret == 0) {
        bind_i64(s, 1, id);
        if (action != PAL_DET_ACTION_NONE)
            bind_text(s, 2, pal_det_action_name(action));
        bind_text(s, 3, pal_det_result_name(result));
        bind_text(s, 4, detail);
        bind_i64(s, 5, or_now(at));
        ret = step_done(st, s, "recording a detection's action", err);
        if (ret == 0 && sqlite3_changes(st->db) == 0)
            ret = pal_err_set(err, PAL_ENOTFOUND, "no detection %lld", (long long)id);
    }
    unlock(st);
    return ret;
}

int pal_store_detection_get(pal_store *st, int64_t id, pal_detection *out, pal_errbuf *err)
{
    if (!out)
        return pal_err_set(err, PAL_EINVAL, "detection_get: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = get_stmt(st, S_DET_GET, &s, err);
    if (ret)
        goto out;
    bind_i64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        pal_detection d;
        ret = read_detection(s, &d);
        if (ret == 0)
            *out = d;
        else
            pal_err_set(err, ret, "database %s: detection %lld is unreadable", st->path,
                        (long long)id);
    } else if (rc == SQLITE_DONE) {
        ret = pal_err_set(err, PAL_ENOTFOUND, "no detection %lld", (long long)id);
    } else {
        ret = db_fail(st, rc, "reading a detection", err);
    }
    finish(s);
out:
    unlock(st);
    return ret;
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

int pal_store_detection_query(pal_store *st, const pal_detection_filter *filter,
                              pal_detection **out, size_t *n, pal_errbuf *err)
{
    static const pal_detection_filter none;
    const pal_detection_filter *f = filter ? filter : &none;
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "detection_query: bad arguments");
    if (f->severity && !name_of(NAMES(severity_names), (int)f->severity))
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
    pal_detection *recs = NULL;
    size_t cnt = 0, cap = 0;
    lock(st);
    int ret = get_stmt(st, S_DET_QUERY, &s, err);
    if (ret)
        goto out;
    if (f->since)
        bind_i64(s, 1, f->since);
    if (f->until)
        bind_i64(s, 2, f->until);
    bind_text(s, 3, like);
    if (f->severity)
        bind_text(s, 4, name_of(NAMES(severity_names), (int)f->severity));
    bind_text(s, 5, glob);
    if (f->scan_id)
        bind_i64(s, 6, f->scan_id);
    bind_i64(s, 7, (int64_t)clamp_limit(f->limit));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        pal_detection *g = grow(recs, &cap, cnt, sizeof(*recs));
        if (!g) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        recs = g;
        ret = read_detection(s, &recs[cnt]);
        if (ret) {
            pal_err_set(err, ret, "database %s: a detection row is unreadable", st->path);
            break;
        }
        cnt++;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(st, rc, "querying detections", err);
    finish(s);
out:
    unlock(st);
    free(like);
    free(glob);
    if (ret) {
        pal_detections_free(recs, cnt);
        return ret;
    }
    *out = recs;
    *n = cnt;
    return 0;
}

/* ---- audit ----------------------------------------------------------------------------- */

void pal_audit_recs_free(pal_audit_rec *r, size_t n)
{
    if (!r)
        return;
    for (size_t i = 0; i < n; i++) {
        free(r[i].action);
        free(r[i].target);
        free(r[i].old_value);
        free(r[i].new_value);
    }
    free(r);
}

int pal_store_audit_insert(pal_store *st, uid_t uid, const char *action, const char *target,
                           const char *old_value, const char *new_value, pal_errbuf *err)
{
    if (!action || !*action)
        return pal_err_set(err, PAL_EINVAL, "audit_insert: action required");
    lock(st);
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = audit_row(st, uid, action, target, old_value, new_value, err);
    unlock(st);
    return ret;
}

int pal_store_audit_list(pal_store *st, int64_t since, size_t limit, pal_audit_rec **out, size_t *n,
                         pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "audit_list: bad arguments");
    sqlite3_stmt *s = NULL;
    pal_audit_rec *recs = NULL;
    size_t cnt = 0, cap = 0;
    lock(st);
    int ret = get_stmt(st, S_AUDIT_LIST, &s, err);
    if (ret)
        goto out;
    bind_i64(s, 1, since);
    bind_i64(s, 2, (int64_t)clamp_limit(limit));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        pal_audit_rec *g = grow(recs, &cap, cnt, sizeof(*recs));
        if (!g) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        recs = g;
        pal_audit_rec *r = &recs[cnt++];
        r->id = sqlite3_column_int64(s, 0);
        r->at = sqlite3_column_int64(s, 1);
        r->uid = col_uid(s, 2);
        if (col_str(s, 3, &r->action) || col_str(s, 4, &r->target) ||
            col_str(s, 5, &r->old_value) || col_str(s, 6, &r->new_value)) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(st, rc, "listing the audit trail", err);
    finish(s);
out:
    unlock(st);
    if (ret) {
        pal_audit_recs_free(recs, cnt);
        return ret;
    }
    *out = recs;
    *n = cnt;
    return 0;
}

/* ---- preferences ----------------------------------------------------------------------- */

void pal_prefs_free(pal_pref *p, size_t n)
{
    if (!p)
        return;
    for (size_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].value_json);
    }
    free(p);
}

int pal_store_pref_get_all(pal_store *st, pal_pref **out, size_t *n, pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "pref_get_all: bad arguments");
    sqlite3_stmt *s = NULL;
    pal_pref *recs = NULL;
    size_t cnt = 0, cap = 0;
    lock(st);
    int ret = get_stmt(st, S_PREF_ALL, &s, err);
    if (ret)
        goto out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        pal_pref *g = grow(recs, &cap, cnt, sizeof(*recs));
        if (!g) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        recs = g;
        pal_pref *p = &recs[cnt++];
        if (col_str(s, 0, &p->name) || col_str(s, 1, &p->value_json)) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        p->updated_at = sqlite3_column_int64(s, 2);
        p->updated_by = col_uid(s, 3);
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(st, rc, "reading preferences", err);
    finish(s);
out:
    unlock(st);
    if (ret) {
        pal_prefs_free(recs, cnt);
        return ret;
    }
    *out = recs;
    *n = cnt;
    return 0;
}

/* Current preference value of name (malloc'd JSON) or NULL; lock held. */
static int pref_current(pal_store *st, const char *name, char **old, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    int ret = get_stmt(st, S_PREF_GET, &s, err);
    if (ret)
        return ret;
    bind_text(s, 1, name);
    int rc = sqlite3_step(s);
    *old = NULL;
    if (rc == SQLITE_ROW)
        ret = col_str(s, 0, old) ? pal_err_set(err, PAL_ENOMEM, "out of memory") : 0;
    else if (rc != SQLITE_DONE)
        ret = db_fail(st, rc, "reading a preference", err);
    finish(s);
    return ret;
}

int pal_store_pref_set(pal_store *st, const char *name, const char *value_json, uid_t uid,
                       pal_errbuf *err)
{
    if (!name || !*name || !value_json)
        return pal_err_set(err, PAL_EINVAL, "pref_set: bad arguments");
    json_error_t jerr;
    json_t *check = json_loads(value_json, JSON_DECODE_ANY, &jerr);
    if (!check)
        return pal_err_set(err, PAL_EINVAL, "preference %s: value is not JSON: %s", name,
                           jerr.text);
    json_decref(check);

    char *old = NULL;
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = tx_begin(st, 1, err);
    if (ret)
        goto out;
    ret = pref_current(st, name, &old, err);
    if (ret == 0)
        ret = get_stmt(st, S_PREF_SET, &s, err);
    if (ret == 0) {
        bind_text(s, 1, name);
        bind_text(s, 2, value_json);
        bind_i64(s, 3, now_ms());
        bind_uid(s, 4, uid);
        ret = step_done(st, s, "writing a preference", err);
    }
    if (ret == 0)
        ret = audit_row(st, uid, "SetPreference", name, old, value_json, err);
    if (ret == 0)
        ret = tx_commit(st, err);
    if (ret)
        tx_rollback(st);
out:
    unlock(st);
    free(old);
    return ret;
}

int pal_store_pref_delete(pal_store *st, const char *name, uid_t uid, pal_errbuf *err)
{
    if (!name || !*name)
        return pal_err_set(err, PAL_EINVAL, "pref_delete: bad arguments");
    char *old = NULL;
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = tx_begin(st, 1, err);
    if (ret)
        goto out;
    ret = pref_current(st, name, &old, err);
    if (ret == 0 && !old)
        ret = pal_err_set(err, PAL_ENOTFOUND, "preference %s is not set", name);
    if (ret == 0)
        ret = get_stmt(st, S_PREF_DEL, &s, err);
    if (ret == 0) {
        bind_text(s, 1, name);
        ret = step_done(st, s, "deleting a preference", err);
    }
    if (ret == 0)
        ret = audit_row(st, uid, "ResetPreference", name, old, NULL, err);
    if (ret == 0)
        ret = tx_commit(st, err);
    if (ret)
        tx_rollback(st);
out:
    unlock(st);
    free(old);
    return ret;
}

/* ---- exclusions ------------------------------------------------------------------------ */

void pal_exclusions_free(pal_exclusion *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++)
        free(e[i].value);
    free(e);
}

static int list_exclusions_locked(pal_store *st, pal_excl_kind kind, pal_exclusion **out, size_t *n,
                                  pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    pal_exclusion *recs = NULL;
    size_t cnt = 0, cap = 0;
    int ret = get_stmt(st, S_EXCL_LIST, &s, err);
    if (ret)
        return ret;
    if (kind)
        bind_text(s, 1, pal_excl_kind_name(kind));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        pal_exclusion *g = grow(recs, &cap, cnt, sizeof(*recs));
        if (!g) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        recs = g;
        pal_exclusion *e = &recs[cnt];
        int v;
        e->id = sqlite3_column_int64(s, 0);
        if (col_enum(s, 1, NAMES(excl_kind_names), &v)) {
            ret = pal_err_set(err, PAL_EFORMAT, "database %s: bad exclusion kind", st->path);
            break;
        }
        e->kind = (pal_excl_kind)v;
        if (col_str(s, 2, &e->value)) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        e->added_at = sqlite3_column_int64(s, 3);
        e->added_by = col_uid(s, 4);
        cnt++;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(st, rc, "listing exclusions", err);
    finish(s);
    if (ret) {
        pal_exclusions_free(recs, cnt);
        return ret;
    }
    *out = recs;
    *n = cnt;
    return 0;
}

int pal_store_exclusion_list(pal_store *st, pal_excl_kind kind, pal_exclusion **out, size_t *n,
                             pal_errbuf *err)
{
    if (!out || !n || (kind && !pal_excl_kind_name(kind)))
        return pal_err_set(err, PAL_EINVAL, "exclusion_list: bad arguments");
    lock(st);
    int ret = list_exclusions_locked(st, kind, out, n, err);
    unlock(st);
    return ret;
}

int pal_store_exclusion_add(pal_store *st, pal_excl_kind kind, const char *value, uid_t uid,
                            pal_errbuf *err)
{
    if (!pal_excl_kind_name(kind) || !value || !*value)
        return pal_err_set(err, PAL_EINVAL, "exclusion_add: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = tx_begin(st, 1, err);
    if (ret)
        goto out;
    ret = get_stmt(st, S_EXCL_ADD, &s, err);
    if (ret == 0) {
        bind_text(s, 1, pal_excl_kind_name(kind));
        bind_text(s, 2, value);
        bind_i64(s, 3, now_ms());
        bind_uid(s, 4, uid);
        ret = step_done(st, s, "adding an exclusion", err);
        if (ret == PAL_EEXIST)
            pal_err_set(err, PAL_EEXIST, "%s exclusion %s already exists", pal_excl_kind_name(kind),
                        value);
    }
    if (ret == 0)
        ret = audit_row(st, uid, "AddExclusion", pal_excl_kind_name(kind), NULL, value, err);
    if (ret == 0)
        ret = tx_commit(st, err);
    if (ret)
        tx_rollback(st);
out:
    unlock(st);
    return ret;
}

int pal_store_exclusion_remove(pal_store *st, pal_excl_kind kind, const char *value, uid_t uid,
                               pal_errbuf *err)
{
    if (!pal_excl_kind_name(kind) || !value)
        return pal_err_set(err, PAL_EINVAL, "exclusion_remove: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = tx_begin(st, 1, err);
    if (ret)
        goto out;
    ret = get_stmt(st, S_EXCL_DEL, &s, err);
    if (ret == 0) {
        bind_text(s, 1, pal_excl_kind_name(kind));
        bind_text(s, 2, value);
        ret = step_done(st, s, "removing an exclusion", err);
        if (ret == 0 && sqlite3_changes(st->db) == 0)
            ret = pal_err_set(err, PAL_ENOTFOUND, "no %s exclusion %s", pal_excl_kind_name(kind),
                              value);
    }
    if (ret == 0)
        ret = audit_row(st, uid, "RemoveExclusion", pal_excl_kind_name(kind), value, NULL, err);
    if (ret == 0)
        ret = tx_commit(st, err);
    if (ret)
        tx_rollback(st);
out:
    unlock(st);
    return ret;
}

static char *excl_values_json(const pal_exclusion *e, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        if (json_array_append_new(arr, json_string(e[i].value)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return text;
}

int pal_store_exclusion_replace(pal_store *st, pal_excl_kind kind, const char *const *values,
                                size_t n_values, uid_t uid, pal_errbuf *err)
{
    if (!pal_excl_kind_name(kind) || (n_values && !values))
        return pal_err_set(err, PAL_EINVAL, "exclusion_replace: bad arguments");
    for (size_t i = 0; i < n_values; i++)
        if (!values[i] || !*values[i])
            return pal_err_set(err, PAL_EINVAL, "exclusion_replace: empty value %zu", i);

    pal_exclusion *old = NULL, *now = NULL;
    size_t n_old = 0, n_now = 0;
    char *old_json = NULL, *new_json = NULL;
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = tx_begin(st, 1, err);
    if (ret)
        goto out;
    ret = list_exclusions_locked(st, kind, &old, &n_old, err);
    if (ret == 0)
        ret = get_stmt(st, S_EXCL_DEL_KIND, &s, err);
    if (ret == 0) {
        bind_text(s, 1, pal_excl_kind_name(kind));
        ret = step_done(st, s, "replacing exclusions", err);
    }
    int64_t at = now_ms();
    for (size_t i = 0; ret == 0 && i < n_values; i++) {
        ret = get_stmt(st, S_EXCL_ADD_IGNORE, &s, err);
        if (ret)
            break;
        bind_text(s, 1, pal_excl_kind_name(kind));
        bind_text(s, 2, values[i]);
        bind_i64(s, 3, at);
        bind_uid(s, 4, uid);
        ret = step_done(st, s, "replacing exclusions", err);
    }
    if (ret == 0)
        ret = list_exclusions_locked(st, kind, &now, &n_now, err);
    if (ret == 0) {
        old_json = excl_values_json(old, n_old);
        new_json = excl_values_json(now, n_now);
        if (!old_json || !new_json)
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    if (ret == 0)
        ret =
            audit_row(st, uid, "SetExclusions", pal_excl_kind_name(kind), old_json, new_json, err);
    if (ret == 0)
        ret = tx_commit(st, err);
    if (ret)
        tx_rollback(st);
out:
    unlock(st);
    pal_exclusions_free(old, n_old);
    pal_exclusions_free(now, n_now);
    free(old_json);
    free(new_json);
    return ret;
}

/* ---- allowed threats ------------------------------------------------------------------- */

void pal_allowed_free(pal_allowed *a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++)
        free(a[i].value);
    free(a);
}

/* Validate and normalise an allowed-list value into buf (a hash lowercased). */
static int allowed_value(pal_allow_kind kind, const char *value, char *buf, size_t bufsz,
                         const char **norm, pal_errbuf *err)
{
    if (!pal_allow_kind_name(kind) || !value || !*value)
        return pal_err_set(err, PAL_EINVAL, "allowed threat: kind and value required");
    if (kind == PAL_ALLOW_SHA256) {
        if (bufsz < 65)
            return PAL_EINVAL;
        int ret = norm_sha256(value, buf, 1, err);
        if (ret)
            return ret;
        *norm = buf;
        return 0;
    }
    *norm = value;
    return 0;
}

int pal_store_allowed_add(pal_store *st, pal_allow_kind kind, const char *value, uid_t uid,
                          pal_errbuf *err)
{
    char buf[65];
    const char *v;
    int ret = allowed_value(kind, value, buf, sizeof(buf), &v, err);
    if (ret)
        return ret;
    sqlite3_stmt *s = NULL;
    lock(st);
    ret = tx_begin(st, 1, err);
    if (ret)
        goto out;
    ret = get_stmt(st, S_ALLOW_ADD, &s, err);
    if (ret == 0) {
        bind_text(s, 1, pal_allow_kind_name(kind));
        bind_text(s, 2, v);
        bind_i64(s, 3, now_ms());
        bind_uid(s, 4, uid);
        ret = step_done(st, s, "adding an allowed threat", err);
        if (ret == PAL_EEXIST)
            pal_err_set(err, PAL_EEXIST, "%s %s is already allowed", pal_allow_kind_name(kind), v);
    }
    if (ret == 0)
        ret = audit_row(st, uid, "AddAllowedThreat", pal_allow_kind_name(kind), NULL, v, err);
    if (ret == 0)
        ret = tx_commit(st, err);
    if (ret)
        tx_rollback(st);
out:
    unlock(st);
    return ret;
}

int pal_store_allowed_remove(pal_store *st, pal_allow_kind kind, const char *value, uid_t uid,
                             pal_errbuf *err)
{
    char buf[65];
    const char *v;
    int ret = allowed_value(kind, value, buf, sizeof(buf), &v, err);
    if (ret)
        return ret;
    sqlite3_stmt *s = NULL;
    lock(st);
    ret = tx_begin(st, 1, err);
    if (ret)
        goto out;
    ret = get_stmt(st, S_ALLOW_DEL, &s, err);
    if (ret == 0) {
        bind_text(s, 1, pal_allow_kind_name(kind));
        bind_text(s, 2, v);
        ret = step_done(st, s, "removing an allowed threat", err);
        if (ret == 0 && sqlite3_changes(st->db) == 0)
            ret = pal_err_set(err, PAL_ENOTFOUND, "%s %s is not allowed", pal_allow_kind_name(kind),
                              v);
    }
    if (ret == 0)
        ret = audit_row(st, uid, "RemoveAllowedThreat", pal_allow_kind_name(kind), v, NULL, err);
    if (ret == 0)
        ret = tx_commit(st, err);
    if (ret)
        tx_rollback(st);
out:
    unlock(st);
    return ret;
}

int pal_store_allowed_list(pal_store *st, pal_allowed **out, size_t *n, pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "allowed_list: bad arguments");
    sqlite3_stmt *s = NULL;
    pal_allowed *recs = NULL;
    size_t cnt = 0, cap = 0;
    lock(st);
    int ret = get_stmt(st, S_ALLOW_LIST, &s, err);
    if (ret)
        goto out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        pal_allowed *g = grow(recs, &cap, cnt, sizeof(*recs));
        if (!g) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        recs = g;
        pal_allowed *a = &recs[cnt];
        int v;
        a->id = sqlite3_column_int64(s, 0);
        if (col_enum(s, 1, NAMES(allow_kind_names), &v)) {
            ret = pal_err_set(err, PAL_EFORMAT, "database %s: bad allowed kind", st->path);
            break;
        }
        a->kind = (pal_allow_kind)v;
        if (col_str(s, 2, &a->value)) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        a->added_at = sqlite3_column_int64(s, 3);
        a->added_by = col_uid(s, 4);
        cnt++;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(st, rc, "listing allowed threats", err);
    finish(s);
out:
    unlock(st);
    if (ret) {
        pal_allowed_free(recs, cnt);
        return ret;
    }
    *out = recs;
    *n = cnt;
    return 0;
}

int pal_store_allowed_check(pal_store *st, const char *threat_name, const char *sha256_hex,
                            int *allowed, pal_errbuf *err)
{
    char sha[65];
    if (!allowed)
        return pal_err_set(err, PAL_EINVAL, "allowed_check: bad arguments");
    /* A malformed hash can match nothing; it is not the caller's error here. */
    if (norm_sha256(sha256_hex, sha, 0, NULL) != 0)
        sha[0] = '\0';
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = get_stmt(st, S_ALLOW_CHECK, &s, err);
    if (ret == 0) {
        bind_text(s, 1, threat_name);
        bind_text(s, 2, sha[0] ? sha : NULL);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            *allowed = rc == SQLITE_ROW;
        else
            ret = db_fail(st, rc, "checking allowed threats", err);
        finish(s);
    }
    unlock(st);
    return ret;
}

int pal_store_unremediated_count(pal_store *st, int64_t *count, pal_errbuf *err)
{
    if (!count)
        return pal_err_set(err, PAL_EINVAL, "unremediated_count: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = get_stmt(st, S_UNREMEDIATED, &s, err);
    if (ret == 0) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            *count = sqlite3_column_int64(s, 0);
        else
            ret = db_fail(st, rc, "counting unremediated threats", err);
        finish(s);
    }
    unlock(st);
    return ret;
}

/* ---- per-threat action overrides ------------------------------------------------------- */

void pal_threat_actions_free(pal_threat_action *t, size_t n)
{
    if (!t)
        return;
    for (size_t i = 0; i < n; i++)
        free(t[i].threat_name);
    free(t);
}

/* The override of name, or 0 when there is none; lock held. */
static int threat_action_locked(pal_store *st, const char *name, int *action, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    int ret = get_stmt(st, S_TA_GET, &s, err);
    if (ret)
        return ret;
    bind_text(s, 1, name);
    int rc = sqlite3_step(s);
    *action = 0;
    if (rc == SQLITE_ROW) {
        if (col_enum(s, 0, NAMES(action_names), action))
            ret = pal_err_set(err, PAL_EFORMAT, "database %s: bad action for %s", st->path, name);
    } else if (rc != SQLITE_DONE) {
        ret = db_fail(st, rc, "reading a threat action", err);
    }
    finish(s);
    return ret;
}

int pal_store_threat_action_set(pal_store *st, const char *threat_name, pal_action action,
                                uid_t uid, pal_errbuf *err)
{
    const char *an = name_of(NAMES(action_names), (int)action);
    if (!threat_name || !*threat_name || !an)
        return pal_err_set(err, PAL_EINVAL, "threat_action_set: bad arguments");
    sqlite3_stmt *s = NULL;
    int old = 0;
    lock(st);
    int ret = tx_begin(st, 1, err);
    if (ret)
        goto out;
    ret = threat_action_locked(st, threat_name, &old, err);
    if (ret == 0)
        ret = get_stmt(st, S_TA_SET, &s, err);
    if (ret == 0) {
        bind_text(s, 1, threat_name);
        bind_text(s, 2, an);
        bind_i64(s, 3, now_ms());
        bind_uid(s, 4, uid);
        ret = step_done(st, s, "setting a threat action", err);
    }
    if (ret == 0)
        ret = audit_row(st, uid, "SetThreatAction", threat_name,
                        old ? name_of(NAMES(action_names), old) : NULL, an, err);
    if (ret == 0)
        ret = tx_commit(st, err);
    if (ret)
        tx_rollback(st);
out:
    unlock(st);
    return ret;
}

int pal_store_threat_action_get(pal_store *st, const char *threat_name, pal_action *action,
                                pal_errbuf *err)
{
    if (!threat_name || !action)
        return pal_err_set(err, PAL_EINVAL, "threat_action_get: bad arguments");
    int a = 0;
    lock(st);
    int ret = threat_action_locked(st, threat_name, &a, err);
    unlock(st);
    if (ret)
        return ret;
    if (!a)
        return pal_err_set(err, PAL_ENOTFOUND, "no action override for %s", threat_name);
    *action = (pal_action)a;
    return 0;
}

int pal_store_threat_action_remove(pal_store *st, const char *threat_name, uid_t uid,
                                   pal_errbuf *err)
{
    if (!threat_name)
        return pal_err_set(err, PAL_EINVAL, "threat_action_remove: bad arguments");
    sqlite3_stmt *s = NULL;
    int old = 0;
    lock(st);
    int ret = tx_begin(st, 1, err);
    if (ret)
        goto out;
    ret = threat_action_locked(st, threat_name, &old, err);
    if (ret == 0 && !old)
        ret = pal_err_set(err, PAL_ENOTFOUND, "no action override for %s", threat_name);
    if (ret == 0)
        ret = get_stmt(st, S_TA_DEL, &s, err);
    if (ret == 0) {
        bind_text(s, 1, threat_name);
        ret = step_done(st, s, "removing a threat action", err);
    }
    if (ret == 0)
        ret = audit_row(st, uid, "RemoveThreatAction", threat_name,
                        name_of(NAMES(action_names), old), NULL, err);
    if (ret == 0)
        ret = tx_commit(st, err);
    if (ret)
        tx_rollback(st);
out:
    unlock(st);
    return ret;
}

int pal_store_threat_action_list(pal_store *st, pal_threat_action **out, size_t *n, pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "threat_action_list: bad arguments");
    sqlite3_stmt *s = NULL;
    pal_threat_action *recs = NULL;
    size_t cnt = 0, cap = 0;
    lock(st);
    int ret = get_stmt(st, S_TA_LIST, &s, err);
    if (ret)
        goto out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        pal_threat_action *g = grow(recs, &cap, cnt, sizeof(*recs));
        if (!g) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        recs = g;
        pal_threat_action *t = &recs[cnt];
        int v;
        if (col_str(s, 0, &t->threat_name)) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        cnt++;
        if (col_enum(s, 1, NAMES(action_names), &v)) {
            ret = pal_err_set(err, PAL_EFORMAT, "database %s: bad threat action", st->path);
            break;
        }
        t->action = (pal_action)v;
        t->set_at = sqlite3_column_int64(s, 2);
        t->set_by = col_uid(s, 3);
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(st, rc, "listing threat actions", err);
    finish(s);
out:
    unlock(st);
    if (ret) {
        pal_threat_actions_free(recs, cnt);
        return ret;
    }
    *out = recs;
    *n = cnt;
    return 0;
}

/* ---- scan cache ------------------------------------------------------------------------ */

static void bind_cache_key(sqlite3_stmt *s, const pal_cache_key *k)
{
    bind_u64(s, 1, k->dev);
    bind_u64(s, 2, k->ino);
    bind_u64(s, 3, k->size);
    bind_i64(s, 4, k->mtime_ns);
    bind_i64(s, 5, k->ctime_ns);
}

int pal_store_cache_lookup(pal_store *st, const pal_cache_key *key, uint64_t sig_version, int *hit,
                           pal_errbuf *err)
{
    if (!key || !hit)
        return pal_err_set(err, PAL_EINVAL, "cache_lookup: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = get_stmt(st, S_CACHE_LOOKUP, &s, err);
    if (ret == 0) {
        bind_cache_key(s, key);
        bind_u64(s, 6, sig_version);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            *hit = rc == SQLITE_ROW;
        else
            ret = db_fail(st, rc, "looking up the scan cache", err);
        finish(s);
    }
    unlock(st);
    return ret;
}

int pal_store_cache_insert(pal_store *st, const pal_cache_key *key, uint64_t sig_version,
                           pal_errbuf *err)
{
    if (!key)
        return pal_err_set(err, PAL_EINVAL, "cache_insert: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = set_sync(st, 0, err);
    if (ret == 0)
        ret = get_stmt(st, S_CACHE_INSERT, &s, err);
    if (ret == 0) {
        bind_cache_key(s, key);
        bind_u64(s, 6, sig_version);
        bind_i64(s, 7, now_ms());
        ret = step_done(st, s, "writing the scan cache", err);
    }
    unlock(st);
    return ret;
}

int pal_store_cache_remove(pal_store *st, uint64_t dev, uint64_t ino, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    lock(st);
    /* FULL: forgetting a verdict about a file now known to be bad must not be lost. */
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_CACHE_REMOVE, &s, err);
    if (ret == 0) {
        bind_u64(s, 1, dev);
        bind_u64(s, 2, ino);
        ret = step_done(st, s, "removing a scan cache entry", err);
    }
    unlock(st);
    return ret;
}

int pal_store_cache_clear(pal_store *st, pal_errbuf *err)
{
    lock(st);
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = run(st, S_CACHE_CLEAR, err);
    unlock(st);
    return ret;
}

int pal_store_cache_clear_other_versions(pal_store *st, uint64_t sig_version, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_CACHE_CLEAR_OTHER, &s, err);
    if (ret == 0) {
        bind_u64(s, 1, sig_version);
        ret = step_done(st, s, "clearing the scan cache", err);
    }
    unlock(st);
    return ret;
}

int pal_store_cache_count(pal_store *st, uint64_t *n, pal_errbuf *err)
{
    if (!n)
        return pal_err_set(err, PAL_EINVAL, "cache_count: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = get_stmt(st, S_CACHE_COUNT, &s, err);
    if (ret == 0) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            *n = (uint64_t)sqlite3_column_int64(s, 0);
        else
            ret = db_fail(st, rc, "counting the scan cache", err);
        finish(s);
    }
    unlock(st);
    return ret;
}

/* ---- content-process events ------------------------------------------------------------ */

void pal_cp_events_free(pal_cp_event *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++) {
        free(e[i].reason);
        free(e[i].object);
        free(e[i].stderr_tail);
    }
    free(e);
}

int pal_store_cp_event_insert(pal_store *st, const pal_cp_event *e, int64_t *id, pal_errbuf *err)
{
    if (!e || !pal_cp_event_kind_name(e->kind))
        return pal_err_set(err, PAL_EINVAL, "cp_event_insert: bad arguments");
    const char *tail = e->stderr_tail;
    if (tail) {
        size_t len = strlen(tail);
        if (len > PAL_STORE_MAX_STDERR)
            tail += len - PAL_STORE_MAX_STDERR;
    }
    sqlite3_stmt *s = NULL;
    int64_t new_id = 0;
    lock(st);
    int ret = tx_begin(st, 0, err);
    if (ret)
        goto out;
    ret = get_stmt(st, S_CP_INSERT, &s, err);
    if (ret == 0) {
        bind_i64(s, 1, or_now(e->at));
        bind_id_or_null(s, 2, e->pid);
        bind_text(s, 3, pal_cp_event_kind_name(e->kind));
        if (e->exit_code >= 0)
            bind_i64(s, 4, e->exit_code);
        if (e->signal > 0)
            bind_i64(s, 5, e->signal);
        bind_text(s, 6, e->reason);
        bind_text(s, 7, e->object);
        bind_text(s, 8, tail);
        ret = step_done(st, s, "recording a content-process event", err);
        new_id = sqlite3_last_insert_rowid(st->db);
    }
    if (ret == 0 && new_id > PAL_STORE_CP_EVENTS_KEEP) {
        ret = get_stmt(st, S_CP_PRUNE, &s, err);
        if (ret == 0) {
            bind_i64(s, 1, new_id - PAL_STORE_CP_EVENTS_KEEP);
            ret = step_done(st, s, "pruning content-process events", err);
        }
    }
    if (ret == 0)
        ret = tx_commit(st, err);
    if (ret)
        tx_rollback(st);
    else if (id)
        *id = new_id;
out:
    unlock(st);
    return ret;
}

int pal_store_cp_event_list(pal_store *st, size_t limit, pal_cp_event **out, size_t *n,
                            pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "cp_event_list: bad arguments");
    sqlite3_stmt *s = NULL;
    pal_cp_event *recs = NULL;
    size_t cnt = 0, cap = 0;
    lock(st);
    int ret = get_stmt(st, S_CP_LIST, &s, err);
    if (ret)
        goto out;
    bind_i64(s, 1, (int64_t)clamp_limit(limit));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        pal_cp_event *g = grow(recs, &cap, cnt, sizeof(*recs));
        if (!g) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        recs = g;
        pal_cp_event *e = &recs[cnt++];
        int v;
        e->id = sqlite3_column_int64(s, 0);
        e->at = sqlite3_column_int64(s, 1);
        e->pid = sqlite3_column_int64(s, 2);
        if (col_enum(s, 3, NAMES(cp_kind_names), &v)) {
            ret = pal_err_set(err, PAL_EFORMAT, "database %s: bad event kind", st->path);
            break;
        }
        e->kind = (pal_cp_event_kind)v;
        e->exit_code = sqlite3_column_type(s, 4) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 4);
        e->signal = sqlite3_column_int(s, 5);
        if (col_str(s, 6, &e->reason) || col_str(s, 7, &e->object) ||
            col_str(s, 8, &e->stderr_tail)) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(st, rc, "listing content-process events", err);
    finish(s);
out:
    unlock(st);
    if (ret) {
        pal_cp_events_free(recs, cnt);
        return ret;
    }
    *out = recs;
    *n = cnt;
    return 0;
}

/* ---- quarantine items ------------------------------------------------------------------ */

void pal_quarantine_item_clear(pal_quarantine_item *q)
{
    if (!q)
        return;
    free(q->threat_name);
    free(q->original_path);
    free(q->storage_name);
    memset(q, 0, sizeof(*q));
}

void pal_quarantine_items_free(pal_quarantine_item *q, size_t n)
{
    if (!q)
        return;
    for (size_t i = 0; i < n; i++)
        pal_quarantine_item_clear(&q[i]);
    free(q);
}

static int check_quarantine_item(const pal_quarantine_item *q, char sha[65], pal_errbuf *err)
{
    if (!q->threat_name || !*q->threat_name || !q->original_path || q->original_path[0] != '/')
        return pal_err_set(err, PAL_EINVAL,
                           "quarantine item: threat name and absolute original path required");
    /* the name is joined to the quarantine directory: it must be a plain file name */
    const char *sn = q->storage_name;
    if (!sn || !*sn || strchr(sn, '/') || strcmp(sn, ".") == 0 || strcmp(sn, "..") == 0)
        return pal_err_set(err, PAL_EINVAL,
                           "quarantine item: storage name must be a plain file name");
    return norm_sha256(q->sha256, sha, 1, err);
}

static void bind_quarantine(sqlite3_stmt *s, const pal_quarantine_item *q, const char *sha)
{
    bind_i64(s, 1, q->id);
    bind_id_or_null(s, 2, q->detection_id);
    bind_text(s, 3, q->threat_name);
    bind_text(s, 4, q->original_path);
    bind_i64(s, 5, q->owner);
    bind_i64(s, 6, q->group);
    bind_i64(s, 7, q->mode);
    bind_i64(s, 8, q->atime_ns);
    bind_i64(s, 9, q->mtime_ns);
    bind_i64(s, 10, q->ctime_ns);
    bind_u64(s, 11, q->size);
    bind_text(s, 12, sha);
    bind_i64(s, 13, or_now(q->quarantined_at));
    bind_text(s, 14, q->storage_name);
}

static int read_quarantine(sqlite3_stmt *s, pal_quarantine_item *q)
{
    memset(q, 0, sizeof(*q));
    q->id = sqlite3_column_int64(s, 0);
    q->detection_id = sqlite3_column_int64(s, 1);
    int ret = col_str(s, 2, &q->threat_name) | col_str(s, 3, &q->original_path);
    q->owner = (uid_t)sqlite3_column_int64(s, 4);
    q->group = (gid_t)sqlite3_column_int64(s, 5);
    q->mode = (uint32_t)sqlite3_column_int64(s, 6);
    q->atime_ns = sqlite3_column_int64(s, 7);
    q->mtime_ns = sqlite3_column_int64(s, 8);
    q->ctime_ns = sqlite3_column_int64(s, 9);
    q->size = (uint64_t)sqlite3_column_int64(s, 10);
    const char *sha = (const char *)sqlite3_column_text(s, 11);
    if (sha && strlen(sha) == 64)
        memcpy(q->sha256, sha, 65);
    q->quarantined_at = sqlite3_column_int64(s, 12);
    ret |= col_str(s, 13, &q->storage_name);
    if (ret) {
        pal_quarantine_item_clear(q);
        return PAL_ENOMEM;
    }
    return 0;
}

int pal_store_quarantine_insert(pal_store *st, const pal_quarantine_item *q, int64_t *id,
                                pal_errbuf *err)
{
    char sha[65];
    if (!q || !id)
        return pal_err_set(err, PAL_EINVAL, "quarantine_insert: bad arguments");
    int ret = check_quarantine_item(q, sha, err);
    if (ret)
        return ret;
    sqlite3_stmt *s = NULL;
    lock(st);
    ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_Q_INSERT, &s, err);
    if (ret == 0) {
        bind_quarantine(s, q, sha);
        ret = step_done(st, s, "recording a quarantine item", err);
        if (ret == PAL_EEXIST)
            pal_err_set(err, PAL_EEXIST, "quarantine storage name %s is taken", q->storage_name);
        if (ret == 0)
            *id = sqlite3_last_insert_rowid(st->db);
    }
    unlock(st);
    return ret;
}

int pal_store_quarantine_update(pal_store *st, const pal_quarantine_item *q, pal_errbuf *err)
{
    char sha[65];
    if (!q)
        return pal_err_set(err, PAL_EINVAL, "quarantine_update: bad arguments");
    int ret = check_quarantine_item(q, sha, err);
    if (ret)
        return ret;
    sqlite3_stmt *s = NULL;
    lock(st);
    ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_Q_UPDATE, &s, err);
    if (ret == 0) {
        bind_quarantine(s, q, sha);
        ret = step_done(st, s, "updating a quarantine item", err);
        if (ret == 0 && sqlite3_changes(st->db) == 0)
            ret = pal_err_set(err, PAL_ENOTFOUND, "no quarantine item %lld", (long long)q->id);
    }
    unlock(st);
    return ret;
}

int pal_store_quarantine_get(pal_store *st, int64_t id, pal_quarantine_item *out, pal_errbuf *err)
{
    if (!out)
        return pal_err_set(err, PAL_EINVAL, "quarantine_get: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = get_stmt(st, S_Q_GET, &s, err);
    if (ret)
        goto out;
    bind_i64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        pal_quarantine_item q;
        ret = read_quarantine(s, &q);
        if (ret == 0)
            *out = q;
        else
            pal_err_set(err, ret, "out of memory");
    } else if (rc == SQLITE_DONE) {
        ret = pal_err_set(err, PAL_ENOTFOUND, "no quarantine item %lld", (long long)id);
    } else {
        ret = db_fail(st, rc, "reading a quarantine item", err);
    }
    finish(s);
out:
    unlock(st);
    return ret;
}

int pal_store_quarantine_list(pal_store *st, size_t limit, pal_quarantine_item **out, size_t *n,
                              pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "quarantine_list: bad arguments");
    sqlite3_stmt *s = NULL;
    pal_quarantine_item *recs = NULL;
    size_t cnt = 0, cap = 0;
    lock(st);
    int ret = get_stmt(st, S_Q_LIST, &s, err);
    if (ret)
        goto out;
    bind_i64(s, 1, (int64_t)clamp_limit(limit));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        pal_quarantine_item *g = grow(recs, &cap, cnt, sizeof(*recs));
        if (!g) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        recs = g;
        ret = read_quarantine(s, &recs[cnt]);
        if (ret) {
            pal_err_set(err, ret, "out of memory");
            break;
        }
        cnt++;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(st, rc, "listing quarantine items", err);
    finish(s);
out:
    unlock(st);
    if (ret) {
        pal_quarantine_items_free(recs, cnt);
        return ret;
    }
    *out = recs;
    *n = cnt;
    return 0;
}

int pal_store_quarantine_delete(pal_store *st, int64_t id, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_Q_DEL, &s, err);
    if (ret == 0) {
        bind_i64(s, 1, id);
        ret = step_done(st, s, "deleting a quarantine item", err);
        if (ret == 0 && sqlite3_changes(st->db) == 0)
            ret = pal_err_set(err, PAL_ENOTFOUND, "no quarantine item %lld", (long long)id);
    }
    unlock(st);
    return ret;
}

/* ---- file-operation journal ------------------------------------------------------------ */

void pal_fileop_clear(pal_fileop *f)
{
    if (!f)
        return;
    free(f->path);
    free(f->storage_name);
    free(f->detail);
    memset(f, 0, sizeof(*f));
}

void pal_fileops_free(pal_fileop *f, size_t n)
{
    if (!f)
        return;
    for (size_t i = 0; i < n; i++)
        pal_fileop_clear(&f[i]);
    free(f);
}

static int read_fileop(sqlite3_stmt *s, pal_fileop *f)
{
    int k, st;
    memset(f, 0, sizeof(*f));
    if (col_enum(s, 1, NAMES(fileop_kind_names), &k) ||
        col_enum(s, 2, NAMES(fileop_state_names), &st))
        return PAL_EFORMAT;
    f->id = sqlite3_column_int64(s, 0);
    f->kind = (pal_fileop_kind)k;
    f->state = (pal_fileop_state)st;
    f->detection_id = sqlite3_column_int64(s, 3);
    f->quarantine_id = sqlite3_column_int64(s, 4);
    int ret = col_str(s, 5, &f->path) | col_str(s, 6, &f->storage_name);
    f->created_at = sqlite3_column_int64(s, 7);
    f->updated_at = sqlite3_column_int64(s, 8);
    ret |= col_str(s, 9, &f->detail);
    if (ret) {
        pal_fileop_clear(f);
        return PAL_ENOMEM;
    }
    return 0;
}

int pal_store_fileop_begin(pal_store *st, const pal_fileop *f, int64_t *id, pal_errbuf *err)
{
    if (!f || !id || !pal_fileop_kind_name(f->kind) || !f->path || !*f->path)
        return pal_err_set(err, PAL_EINVAL, "fileop_begin: kind and path required");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_FO_INSERT, &s, err);
    if (ret == 0) {
        bind_text(s, 1, pal_fileop_kind_name(f->kind));
        bind_id_or_null(s, 2, f->detection_id);
        bind_id_or_null(s, 3, f->quarantine_id);
        bind_text(s, 4, f->path);
        bind_text(s, 5, f->storage_name);
        bind_i64(s, 6, or_now(f->created_at));
        bind_text(s, 7, f->detail);
        ret = step_done(st, s, "journalling a file operation", err);
        if (ret == 0)
            *id = sqlite3_last_insert_rowid(st->db);
    }
    unlock(st);
    return ret;
}

int pal_store_fileop_finish(pal_store *st, int64_t id, pal_fileop_state state, const char *detail,
                            pal_errbuf *err)
{
    if (state != PAL_FILEOP_DONE && state != PAL_FILEOP_FAILED)
        return pal_err_set(err, PAL_EINVAL, "fileop_finish: state must be Done or Failed");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_FO_FINISH, &s, err);
    if (ret)
        goto out;
    bind_i64(s, 1, id);
    bind_text(s, 2, pal_fileop_state_name(state));
    bind_text(s, 3, detail);
    bind_i64(s, 4, now_ms());
    ret = step_done(st, s, "finishing a file operation", err);
    if (ret || sqlite3_changes(st->db) == 1)
        goto out;
    ret = get_stmt(st, S_FO_STATE, &s, err);
    if (ret)
        goto out;
    bind_i64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        ret = pal_err_set(err, PAL_ESTATE, "file operation %lld is not pending (%s)", (long long)id,
                          (const char *)sqlite3_column_text(s, 0));
    else if (rc == SQLITE_DONE)
        ret = pal_err_set(err, PAL_ENOTFOUND, "no file operation %lld", (long long)id);
    else
        ret = db_fail(st, rc, "reading a file operation", err);
    finish(s);
out:
    unlock(st);
    return ret;
}

int pal_store_fileop_get(pal_store *st, int64_t id, pal_fileop *out, pal_errbuf *err)
{
    if (!out)
        return pal_err_set(err, PAL_EINVAL, "fileop_get: bad arguments");
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = get_stmt(st, S_FO_GET, &s, err);
    if (ret)
        goto out;
    bind_i64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        pal_fileop f;
        ret = read_fileop(s, &f);
        if (ret == 0)
            *out = f;
        else
            pal_err_set(err, ret, "database %s: file operation %lld is unreadable", st->path,
                        (long long)id);
    } else if (rc == SQLITE_DONE) {
        ret = pal_err_set(err, PAL_ENOTFOUND, "no file operation %lld", (long long)id);
    } else {
        ret = db_fail(st, rc, "reading a file operation", err);
    }
    finish(s);
out:
    unlock(st);
    return ret;
}

int pal_store_fileop_list(pal_store *st, pal_fileop_state state, size_t limit, pal_fileop **out,
                          size_t *n, pal_errbuf *err)
{
    if (!out || !n || (state && !pal_fileop_state_name(state)))
        return pal_err_set(err, PAL_EINVAL, "fileop_list: bad arguments");
    sqlite3_stmt *s = NULL;
    pal_fileop *recs = NULL;
    size_t cnt = 0, cap = 0;
    lock(st);
    int ret = get_stmt(st, S_FO_LIST, &s, err);
    if (ret)
        goto out;
    if (state)
        bind_text(s, 1, pal_fileop_state_name(state));
    bind_i64(s, 2, (int64_t)clamp_limit(limit));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        pal_fileop *g = grow(recs, &cap, cnt, sizeof(*recs));
        if (!g) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        recs = g;
        ret = read_fileop(s, &recs[cnt]);
        if (ret) {
            pal_err_set(err, ret, "database %s: a file operation is unreadable", st->path);
            break;
        }
        cnt++;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_fail(st, rc, "listing file operations", err);
    finish(s);
out:
    unlock(st);
    if (ret) {
        pal_fileops_free(recs, cnt);
        return ret;
    }
    *out = recs;
    *n = cnt;
    return 0;
}

int pal_store_fileop_delete(pal_store *st, int64_t id, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    lock(st);
    int ret = set_sync(st, 1, err);
    if (ret == 0)
        ret = get_stmt(st, S_FO_DEL, &s, err);
    if (ret == 0) {
        bind_i64(s, 1, id);
        ret = step_done(st, s, "deleting a file operation", err);
        if (ret == 0 && sqlite3_changes(st->db) == 0)
            ret = pal_err_set(err, PAL_ENOTFOUND, "no file operation %lld", (long long)id);
    }
    unlock(st);
    return ret;
}
