/*
 * store_cache.c — the scan cache: clean verdicts keyed by a file's identity and change
 * stamps under one signature version, so that an unchanged file is not read again. Writes
 * commit with synchronous=NORMAL (a lost entry only costs a rescan), except forgetting a
 * verdict, which must not be lost.
 */
#include "storedb.h"

static const char SQL_CACHE_LOOKUP[] =
    "SELECT 1 FROM scan_cache WHERE dev = ?1 AND ino = ?2 AND size = ?3 "
    "AND mtime_ns = ?4 AND ctime_ns = ?5 AND sig_version = ?6";
static const char SQL_CACHE_INSERT[] =
    "INSERT OR REPLACE INTO scan_cache (dev, ino, size, mtime_ns, ctime_ns, "
    "sig_version, verdict_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_CACHE_REMOVE[] = "DELETE FROM scan_cache WHERE dev = ?1 AND ino = ?2";
static const char SQL_CACHE_CLEAR[] = "DELETE FROM scan_cache";
static const char SQL_CACHE_CLEAR_OTHER[] = "DELETE FROM scan_cache WHERE sig_version <> ?1";
static const char SQL_CACHE_COUNT[] = "SELECT count(*) FROM scan_cache";

/* ---- scan cache ------------------------------------------------------------------------ */

static void bind_cache_key(sqlite3_stmt *s, const pal_cache_key *k)
{
    sdb_bind_u64(s, 1, k->dev);
    sdb_bind_u64(s, 2, k->ino);
    sdb_bind_u64(s, 3, k->size);
    sdb_bind_i64(s, 4, k->mtime_ns);
    sdb_bind_i64(s, 5, k->ctime_ns);
}

int pal_store_cache_lookup(pal_store *st, const pal_cache_key *key, uint64_t sig_version, int *hit,
                           pal_errbuf *err)
{
    if (!key || !hit)
        return pal_err_set(err, PAL_EINVAL, "cache_lookup: bad arguments");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_CACHE_LOOKUP, &s, err);
    if (ret == 0) {
        bind_cache_key(s, key);
        sdb_bind_u64(s, 6, sig_version);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            *hit = rc == SQLITE_ROW;
        else
            ret = sdb_fail(st, rc, "looking up the scan cache", err);
        sdb_finish(s);
    }
    sdb_unlock(st);
    return ret;
}

int pal_store_cache_insert(pal_store *st, const pal_cache_key *key, uint64_t sig_version,
                           pal_errbuf *err)
{
    if (!key)
        return pal_err_set(err, PAL_EINVAL, "cache_insert: bad arguments");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_set_sync(st, 0, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_CACHE_INSERT, &s, err);
    if (ret == 0) {
        bind_cache_key(s, key);
        sdb_bind_u64(s, 6, sig_version);
        sdb_bind_i64(s, 7, sdb_now_ms());
        ret = sdb_step_done(st, s, "writing the scan cache", err);
    }
    sdb_unlock(st);
    return ret;
}

int pal_store_cache_insert_many(pal_store *st, const pal_cache_key *keys, size_t n,
                                uint64_t sig_version, pal_errbuf *err)
{
    if (!keys && n > 0)
        return pal_err_set(err, PAL_EINVAL, "cache_insert_many: bad arguments");
    if (n == 0)
        return 0;
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_begin(st, 0, err);
    if (ret == 0) {
        int64_t now = sdb_now_ms();
        for (size_t i = 0; ret == 0 && i < n; i++) {
            ret = sdb_stmt(st, SQL_CACHE_INSERT, &s, err);
            if (ret == 0) {
                bind_cache_key(s, &keys[i]);
                sdb_bind_u64(s, 6, sig_version);
                sdb_bind_i64(s, 7, now);
                ret = sdb_step_done(st, s, "writing the scan cache", err);
            }
        }
        if (ret == 0)
            ret = sdb_commit(st, err);
        if (ret)
            sdb_rollback(st);
    }
    sdb_unlock(st);
    return ret;
}

int pal_store_cache_remove(pal_store *st, uint64_t dev, uint64_t ino, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    /* FULL: forgetting a verdict about a file now known to be bad must not be lost. */
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_CACHE_REMOVE, &s, err);
    if (ret == 0) {
        sdb_bind_u64(s, 1, dev);
        sdb_bind_u64(s, 2, ino);
        ret = sdb_step_done(st, s, "removing a scan cache entry", err);
    }
    sdb_unlock(st);
    return ret;
}

int pal_store_cache_clear(pal_store *st, pal_errbuf *err)
{
    sdb_lock(st);
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_run(st, SQL_CACHE_CLEAR, err);
    sdb_unlock(st);
    return ret;
}

int pal_store_cache_clear_other_versions(pal_store *st, uint64_t sig_version, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_CACHE_CLEAR_OTHER, &s, err);
    if (ret == 0) {
        sdb_bind_u64(s, 1, sig_version);
        ret = sdb_step_done(st, s, "clearing the scan cache", err);
    }
    sdb_unlock(st);
    return ret;
}

int pal_store_cache_count(pal_store *st, uint64_t *n, pal_errbuf *err)
{
    if (!n)
        return pal_err_set(err, PAL_EINVAL, "cache_count: bad arguments");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_CACHE_COUNT, &s, err);
    if (ret == 0) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            *n = (uint64_t)sqlite3_column_int64(s, 0);
        else
            ret = sdb_fail(st, rc, "counting the scan cache", err);
        sdb_finish(s);
    }
    sdb_unlock(st);
    return ret;
}
