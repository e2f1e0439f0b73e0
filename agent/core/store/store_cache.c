/*
 * store_cache.c — the scan cache: clean verdicts keyed by a file's identity and change
 * stamps under one signature version, so that an unchanged file is not read again. Writes
 * commit with synchronous=NORMAL (a lost entry only costs a rescan), except forgetting a
 * verdict, which must not be lost.
 *
 * A lookup of a file the cache has never seen (every first open under real-time protection,
 * every file of a first scan) is answered by a Bloom filter of the (dev, ino) pairs the
 * table holds, without a query: about 15 us less per first-seen file. The filter is built
 * from the table at the first lookup and kept by this connection's writes; a row written by
 * another connection is not seen until it is rebuilt, which costs that row's hit, never a
 * wrong one (nothing else writes this table: the broker holds the only connection).
 */
#include <stdlib.h>

#include "hash64.h"
#include "storedb.h"

#define FILTER_MIN_LOG2 20     /* bits: 128 KiB */
#define FILTER_MAX_LOG2 33     /* bits: 1 GiB, past 500 million files */
#define FILTER_BITS_PER_KEY 16 /* with 3 probes about 1 absent file in 1,000 still queries */
#define FILTER_PROBES 3

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
static const char SQL_CACHE_KEYS[] = "SELECT dev, ino FROM scan_cache";

/* ---- the filter of (dev, ino) pairs ---------------------------------------------------- */

/* The probes' bit numbers for one pair (double hashing). */
static void filter_probes(const struct sdb_cache_filter *f, uint64_t dev, uint64_t ino,
                          uint64_t out[FILTER_PROBES])
{
    uint64_t h1 = pal_mix64(ino ^ pal_mix64(dev + 0x9e3779b97f4a7c15ULL));
    uint64_t h2 = pal_mix64(h1) | 1;
    uint64_t mask = ((uint64_t)1 << f->log2_bits) - 1;
    for (int i = 0; i < FILTER_PROBES; i++)
        out[i] = (h1 + (uint64_t)i * h2) & mask;
}

void sdb_cache_filter_free_bits(struct sdb_cache_filter *f)
{
    free(f->bits);
    f->bits = NULL;
    f->added = 0;
}

void sdb_cache_filter_free(pal_store *st)
{
    sdb_cache_filter_free_bits(&st->cache_filter);
}

static void filter_add(struct sdb_cache_filter *f, uint64_t dev, uint64_t ino)
{
    if (!f->bits)
        return;
    uint64_t b[FILTER_PROBES];
    filter_probes(f, dev, ino, b);
    for (int i = 0; i < FILTER_PROBES; i++)
        f->bits[b[i] >> 6] |= (uint64_t)1 << (b[i] & 63);
    f->added++;
    /* past 1 in FILTER_BITS_PER_KEY bits the false hits grow: built larger at next lookup */
    if (f->added > ((size_t)1 << f->log2_bits) / FILTER_BITS_PER_KEY)
        sdb_cache_filter_free_bits(f);
}

static int filter_may_hold(const struct sdb_cache_filter *f, uint64_t dev, uint64_t ino)
{
    uint64_t b[FILTER_PROBES];
    filter_probes(f, dev, ino, b);
    for (int i = 0; i < FILTER_PROBES; i++)
        if (!(f->bits[b[i] >> 6] & ((uint64_t)1 << (b[i] & 63))))
            return 0;
    return 1;
}

/* Build the filter from the table (lock held). Sized for twice the rows, so that the cache
   can double before it is built again. 0 with f->bits NULL: not usable, query instead. */
static int filter_build(pal_store *st, pal_errbuf *err)
{
    struct sdb_cache_filter *f = &st->cache_filter;
    sqlite3_stmt *s = NULL;
    int ret = sdb_stmt(st, SQL_CACHE_COUNT, &s, err);
    if (ret)
        return ret;
    int rc = sqlite3_step(s);
    uint64_t rows = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    sdb_finish(s);
    if (rc != SQLITE_ROW)
        return sdb_fail(st, rc, "counting the scan cache", err);
    unsigned lg = FILTER_MIN_LOG2;
    while (lg < FILTER_MAX_LOG2 && ((uint64_t)1 << lg) / FILTER_BITS_PER_KEY < 2 * rows)
        lg++;
    uint64_t *bits = calloc(((size_t)1 << lg) / 64, sizeof(uint64_t));
    if (!bits) {
        f->unusable = 1; /* every lookup queries: slower, still right */
        return 0;
    }
    f->bits = bits;
    f->log2_bits = lg;
    f->added = 0;
    ret = sdb_stmt(st, SQL_CACHE_KEYS, &s, err);
    if (ret) {
        sdb_cache_filter_free_bits(f);
        return ret;
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && f->bits)
        filter_add(f, (uint64_t)sqlite3_column_int64(s, 0), (uint64_t)sqlite3_column_int64(s, 1));
    sdb_finish(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        sdb_cache_filter_free_bits(f);
        return sdb_fail(st, rc, "reading the scan cache", err);
    }
    return 0;
}

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
    struct sdb_cache_filter *f = &st->cache_filter;
    if (!f->bits && !f->unusable)
        (void)filter_build(st, NULL); /* a failure here shows again in the query below */
    if (f->bits && !filter_may_hold(f, key->dev, key->ino)) {
        *hit = 0;
        sdb_unlock(st);
        return 0;
    }
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
    filter_add(&st->cache_filter, key->dev, key->ino); /* before: a failed write only widens it */
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
    for (size_t i = 0; i < n; i++)
        filter_add(&st->cache_filter, keys[i].dev, keys[i].ino);
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
    sdb_cache_filter_free_bits(&st->cache_filter); /* built again, empty, at the next lookup */
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
    sdb_cache_filter_free_bits(&st->cache_filter); /* the rows left, at the next lookup */
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
