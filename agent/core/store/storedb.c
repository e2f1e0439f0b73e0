/*
 * storedb.c — the store's row layer (storedb.h): opening and checking the database file,
 * migrations, the statement cache, transactions, column helpers, and the generic row
 * loops every table module uses. It owns no table.
 */
#include "storedb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAL_APPLICATION_ID 0x50414C53 /* 'PALS', set by 0001_initial.sql */
#define BUSY_TIMEOUT_MS 5000

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SYNC_FULL[] = "PRAGMA synchronous = FULL";
static const char SQL_SYNC_NORMAL[] = "PRAGMA synchronous = NORMAL";

/* ---- small helpers --------------------------------------------------------------------- */

int64_t sdb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
size_t sdb_clamp_limit(size_t limit)
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

const char *store_severity_name(int v)
{
    return pal_name_of(PAL_NAMES(pal_severity_names), v);
}

const char *store_action_name(int v)
{
    return pal_name_of(PAL_NAMES(pal_action_names), v);
}

void pal_store_sha256_hex(const uint8_t sha256[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[sha256[i] >> 4];
        out[2 * i + 1] = hex[sha256[i] & 15];
    }
    out[64] = '\0';
}

int sdb_norm_sha256(const char *in, char out[65], int required, pal_errbuf *err)
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

int sdb_map_rc(int rc)
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

int sdb_fail(pal_store *st, int rc, const char *what, pal_errbuf *err)
{
    return pal_err_set(err, sdb_map_rc(rc), "database %s: %s: %s", st->path, what,
                       sqlite3_errmsg(st->db));
}

/* The cache slot for sql: its own, or the empty one where it goes. Open addressing on the
   string's address; the table is far larger than the number of statements. */
static struct sdb_cached *stmt_slot(pal_store *st, const char *sql)
{
    size_t h = (size_t)(((uintptr_t)sql >> 3) * 0x9E3779B97F4A7C15ull) % SDB_MAX_STMTS;
    for (size_t i = 0; i < SDB_MAX_STMTS; i++) {
        struct sdb_cached *c = &st->stmts[(h + i) % SDB_MAX_STMTS];
        if (c->sql == sql || !c->sql)
            return c;
    }
    return NULL;
}

int sdb_stmt(pal_store *st, const char *sql, sqlite3_stmt **out, pal_errbuf *err)
{
    struct sdb_cached *c = stmt_slot(st, sql);
    if (!c)
        return pal_err_set(err, PAL_ESTATE, "database %s: more than %d statements", st->path,
                           SDB_MAX_STMTS);
    if (!c->stmt) {
        int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->stmt, NULL);
        if (rc != SQLITE_OK) {
            c->stmt = NULL;
            return sdb_fail(st, rc, "preparing a statement", err);
        }
        c->sql = sql;
    }
    *out = c->stmt;
    return 0;
}

void sdb_finish(sqlite3_stmt *s)
{
    if (s) {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
}

int sdb_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (!v)
        return sqlite3_bind_null(s, i);
    size_t len = strlen(v);
    if (len > PAL_STORE_MAX_TEXT)
        len = PAL_STORE_MAX_TEXT;
    return sqlite3_bind_text(s, i, v, (int)len, SQLITE_STATIC);
}

int sdb_col_str(sqlite3_stmt *s, int i, char **out)
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

int sdb_col_enum(sqlite3_stmt *s, int i, sdb_name_fn name, int lo, int hi, int *out)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    for (int v = lo; t && v <= hi; v++) {
        const char *n = name(v);
        if (n && strcmp(n, t) == 0) {
            *out = v;
            return 0;
        }
    }
    return PAL_EFORMAT;
}

int sdb_run(pal_store *st, const char *sql, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sdb_stmt(st, sql, &s, err);
    if (rc)
        return rc;
    int src = sqlite3_step(s);
    int ret = 0;
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        ret = sdb_fail(st, src, sql, err);
    sdb_finish(s);
    return ret;
}

int sdb_step_done(pal_store *st, sqlite3_stmt *s, const char *what, pal_errbuf *err)
{
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc != SQLITE_DONE)
        ret = sdb_fail(st, rc, what, err);
    sdb_finish(s);
    return ret;
}

int sdb_why_unchanged(pal_store *st, const char *state_sql, int64_t id, const char *what,
                      const char *not_state, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    int ret = sdb_stmt(st, state_sql, &s, err);
    if (ret)
        return ret;
    sdb_bind_i64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        ret = pal_err_set(err, PAL_ESTATE, "%s %lld is %s (%s)", what, (long long)id, not_state,
                          (const char *)sqlite3_column_text(s, 0));
    else if (rc == SQLITE_DONE)
        ret = pal_err_set(err, PAL_ENOTFOUND, "no %s %lld", what, (long long)id);
    else
        ret = sdb_fail(st, rc, "reading a row's state", err);
    sdb_finish(s);
    return ret;
}

int sdb_step_int(pal_store *st, sqlite3_stmt *s, int64_t *value, int *found, const char *what,
                 pal_errbuf *err)
{
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        *value = sqlite3_column_int64(s, 0);
        if (found)
            *found = 1;
    } else if (rc == SQLITE_DONE && found) {
        *found = 0;
    } else {
        ret = sdb_fail(st, rc, what, err);
    }
    sdb_finish(s);
    return ret;
}

int sdb_set_sync(pal_store *st, int full, pal_errbuf *err)
{
    if (st->sync_full == full)
        return 0;
    int rc = sdb_run(st, full ? SQL_SYNC_FULL : SQL_SYNC_NORMAL, err);
    if (rc == 0)
        st->sync_full = full;
    return rc;
}

int sdb_begin(pal_store *st, int full, pal_errbuf *err)
{
    int rc = sdb_set_sync(st, full, err);
    return rc ? rc : sdb_run(st, SQL_BEGIN, err);
}

int sdb_commit(pal_store *st, pal_errbuf *err)
{
    return sdb_run(st, SQL_COMMIT, err);
}

void sdb_rollback(pal_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        sdb_run(st, SQL_ROLLBACK, NULL);
}

int sdb_end(pal_store *st, int ret, pal_errbuf *err)
{
    if (ret == 0)
        ret = sdb_commit(st, err);
    if (ret)
        sdb_rollback(st);
    return ret;
}

void sdb_lock(pal_store *st)
{
    pthread_mutex_lock(&st->lock);
}

void sdb_unlock(pal_store *st)
{
    pthread_mutex_unlock(&st->lock);
}

/* ---- the generic row loops ------------------------------------------------------------- */

static int read_failed(pal_store *st, int rc, const sdb_rowtype *rt, pal_errbuf *err)
{
    if (rc == PAL_ENOMEM)
        return pal_err_set(err, rc, "out of memory");
    return pal_err_set(err, rc, "database %s: a %s row is unreadable", st->path, rt->what);
}

int sdb_collect(pal_store *st, sqlite3_stmt *s, const sdb_rowtype *rt, void **out, size_t *n,
                pal_errbuf *err)
{
    char *recs = NULL;
    size_t cnt = 0, cap = 0;
    int ret = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char *g = grow(recs, &cap, cnt, rt->size);
        if (!g) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        recs = g;
        ret = rt->read(s, recs + cnt * rt->size);
        if (ret) {
            read_failed(st, ret, rt, err);
            break;
        }
        cnt++;
    }
    if (ret == 0 && rc != SQLITE_DONE) {
        char what[96];
        snprintf(what, sizeof(what), "listing %s rows", rt->what);
        ret = sdb_fail(st, rc, what, err);
    }
    sdb_finish(s);
    if (ret) {
        for (size_t i = 0; i < cnt; i++)
            rt->clear(recs + i * rt->size);
        free(recs);
        return ret;
    }
    *out = recs;
    *n = cnt;
    return 0;
}

int sdb_get_by_id(pal_store *st, const char *sql, int64_t id, const sdb_rowtype *rt, void *out,
                  pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, sql, &s, err);
    if (ret)
        goto out;
    sdb_bind_i64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        /* read into a scratch record so that out is set only on success */
        void *rec = calloc(1, rt->size);
        ret = rec ? rt->read(s, rec) : PAL_ENOMEM;
        if (ret == 0)
            memcpy(out, rec, rt->size);
        else if (ret == PAL_ENOMEM)
            pal_err_set(err, ret, "out of memory");
        else
            pal_err_set(err, ret, "database %s: %s %lld is unreadable", st->path, rt->what,
                        (long long)id);
        free(rec);
    } else if (rc == SQLITE_DONE) {
        ret = pal_err_set(err, PAL_ENOTFOUND, "no %s %lld", rt->what, (long long)id);
    } else {
        char what[96];
        snprintf(what, sizeof(what), "reading a %s", rt->what);
        ret = sdb_fail(st, rc, what, err);
    }
    sdb_finish(s);
out:
    sdb_unlock(st);
    return ret;
}

int sdb_write_by_id(pal_store *st, const char *sql, int64_t id, const char *what, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, sql, &s, err);
    if (ret == 0) {
        char msg[96];
        snprintf(msg, sizeof(msg), "writing a %s", what);
        sdb_bind_i64(s, 1, id);
        ret = sdb_step_done(st, s, msg, err);
        if (ret == 0 && sqlite3_changes(st->db) == 0)
            ret = pal_err_set(err, PAL_ENOTFOUND, "no %s %lld", what, (long long)id);
    }
    sdb_unlock(st);
    return ret;
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
    int code = sdb_map_rc(rc);
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
        int code = pal_err_set(err, sdb_map_rc(rc), "database %s: %s: %s", st->path, what,
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

        int rc = sdb_begin(st, 1, err);
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
            rc = sdb_commit(st, err);
        if (rc) {
            sdb_rollback(st);
            return rc;
        }
    }
    return 0;
}

void pal_store_close(pal_store *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < SDB_MAX_STMTS; i++)
        sqlite3_finalize(st->stmts[i].stmt);
    sdb_cache_filter_free(st);
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
        ret = pal_err_set(err, rc == SQLITE_ROW ? PAL_EIO : sdb_map_rc(rc),
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
