/*
 * storedb.h — the store's row layer, private to pal_store (the rest of the broker uses
 * store.h): the connection and its mutex, opening/checking/migrating the file (storedb.c),
 * the prepared-statement cache, transactions and durability, binding and reading columns,
 * and the two loops every table needs once: "run this query and collect its rows with this
 * row reader" (sdb_collect) and "get one row by id" (sdb_get_by_id).
 *
 * Statements: each table module keeps its SQL in its own static strings and asks for them
 * with sdb_stmt(st, SQL); the statement is prepared on first use and kept
 * (SQLITE_PREPARE_PERSISTENT) for the life of the connection, keyed by the string's
 * address. Each use ends with sdb_finish (or a helper that calls it), which resets and
 * unbinds, so a cached statement never holds a read transaction open between calls.
 *
 * Locking: the functions that take a pal_store must be called with its lock held
 * (sdb_lock / sdb_unlock), except those marked "takes the lock".
 */
#ifndef PAL_STOREDB_H
#define PAL_STOREDB_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define SDB_MAX_STMTS 128 /* distinct statements across the table modules (about 60 today) */

struct sdb_cached {
    const char *sql; /* the module's static string: the key */
    sqlite3_stmt *stmt;
};

/* Which (dev, ino) the scan cache may hold (store_cache.c): a lookup it rules out costs no
   query. Over-inclusive by design (removals leave their bits); never under-inclusive for
   this connection's own writes. */
struct sdb_cache_filter {
    uint64_t *bits; /* NULL: not built (built at the next lookup) */
    unsigned log2_bits;
    size_t added; /* entries added since it was built: rebuilt larger past 1 in 16 bits */
    int unusable; /* out of memory once: every lookup queries */
};

struct pal_store {
    pthread_mutex_t lock;
    sqlite3 *db;                            /* lock */
    char *path;                             /* immutable */
    int version;                            /* immutable after open */
    int sync_full;                          /* current PRAGMA synchronous is FULL; lock */
    struct sdb_cached stmts[SDB_MAX_STMTS]; /* open addressing by address; lock */
    struct sdb_cache_filter cache_filter;   /* lock */
};

void sdb_cache_filter_free(pal_store *st);
void sdb_cache_filter_free_bits(struct sdb_cache_filter *f);

/* ---- time, limits, values -------------------------------------------------------------- */

int64_t sdb_now_ms(void);
static inline int64_t sdb_or_now(int64_t t)
{
    return t ? t : sdb_now_ms();
}
/* 0 = PAL_STORE_DEFAULT_LIMIT, at most PAL_STORE_MAX_LIMIT */
size_t sdb_clamp_limit(size_t limit);
/* Copy a hex SHA-256 lowercased into out; "" and NULL give "". PAL_EINVAL if malformed. */
int sdb_norm_sha256(const char *in, char out[65], int required, pal_errbuf *err);

/* ---- locking, statements, transactions ------------------------------------------------- */

void sdb_lock(pal_store *st);
void sdb_unlock(pal_store *st);
/* The cached statement for sql (a static string of the caller's module). */
int sdb_stmt(pal_store *st, const char *sql, sqlite3_stmt **out, pal_errbuf *err);
void sdb_finish(sqlite3_stmt *s); /* reset and unbind; accepts NULL */
/* PAL_E* code for a SQLite result code. */
int sdb_map_rc(int rc);
/* Set err from the connection's message: "database <path>: <what>: <sqlite message>". */
int sdb_fail(pal_store *st, int rc, const char *what, pal_errbuf *err);
/* Prepare-and-step a statement that takes no parameters. */
int sdb_run(pal_store *st, const char *sql, pal_errbuf *err);
/* Step a bound write statement to completion; the statement is finished either way. */
int sdb_step_done(pal_store *st, sqlite3_stmt *s, const char *what, pal_errbuf *err);
/* Step a bound statement that answers one integer (count, flag); *found = 0 for no row
   (found may be NULL when a row always comes). Finishes s. */
int sdb_step_int(pal_store *st, sqlite3_stmt *s, int64_t *value, int *found, const char *what,
                 pal_errbuf *err);
/* After a guarded update of row id changed nothing: why. state_sql (?1 = id) answers the
   row's state; PAL_ESTATE "<what> <id> is <not_state> (<state>)" when the row exists,
   PAL_ENOTFOUND "no <what> <id>" when it does not. Lock held by the caller. */
int sdb_why_unchanged(pal_store *st, const char *state_sql, int64_t id, const char *what,
                      const char *not_state, pal_errbuf *err);
/* full: PRAGMA synchronous FULL (records that must survive) or NORMAL (rebuildable). */
int sdb_set_sync(pal_store *st, int full, pal_errbuf *err);
int sdb_begin(pal_store *st, int full, pal_errbuf *err); /* BEGIN IMMEDIATE */
int sdb_commit(pal_store *st, pal_errbuf *err);
void sdb_rollback(pal_store *st); /* when a transaction is open */
/* Commit when ret is 0, else roll back; returns the outcome. The usual end of a write. */
int sdb_end(pal_store *st, int ret, pal_errbuf *err);

/* ---- binding and reading --------------------------------------------------------------- */

/* Bind helpers return the sqlite code; a caller may collect them with |= since every
   failure (SQLITE_RANGE, SQLITE_NOMEM, SQLITE_TOOBIG) is a non-zero code. Text longer than
   PAL_STORE_MAX_TEXT is cut there: a hostile member name shortens a record, never loses it. */
int sdb_bind_text(sqlite3_stmt *s, int i, const char *v); /* NULL binds NULL */
static inline int sdb_bind_i64(sqlite3_stmt *s, int i, int64_t v)
{
    return sqlite3_bind_int64(s, i, v);
}
/* dev, ino, sizes and versions are unsigned 64-bit; stored as the same bits in SQLite's
   signed INTEGER (equality and the values we read back are what matter). */
static inline int sdb_bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
    return sqlite3_bind_int64(s, i, (sqlite3_int64)v);
}
static inline int sdb_bind_id_or_null(sqlite3_stmt *s, int i, int64_t v)
{
    return v ? sqlite3_bind_int64(s, i, v) : sqlite3_bind_null(s, i);
}
static inline int sdb_bind_uid(sqlite3_stmt *s, int i, uid_t uid)
{
    return uid == PAL_UID_DAEMON ? sqlite3_bind_null(s, i) : sqlite3_bind_int64(s, i, uid);
}
static inline uid_t sdb_col_uid(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL)
        return PAL_UID_DAEMON;
    return (uid_t)sqlite3_column_int64(s, i);
}
/* *out = malloc'd copy of a text column, NULL for SQL NULL; PAL_ENOMEM. */
int sdb_col_str(sqlite3_stmt *s, int i, char **out);

/* An enum's name function seen through int, so one column reader serves every enum. */
typedef const char *(*sdb_name_fn)(int v);
#define SDB_NAME_FN(fn, name_fn, type)                                                             \
    static const char *fn(int v)                                                                   \
    {                                                                                              \
        return name_fn((type)v);                                                                   \
    }
/* The value in [lo, hi] whose name is the column's text, exactly (the schema's CHECK
   constraints store the canonical spelling); PAL_EFORMAT for any other word or NULL. */
int sdb_col_enum(sqlite3_stmt *s, int i, sdb_name_fn name, int lo, int hi, int *out);

/* ---- the generic row loops ------------------------------------------------------------- */

/* How to read one table's rows into its record type. */
typedef struct sdb_rowtype {
    size_t size; /* sizeof one record */
    /* Fill rec (zeroed) from the current row: 0, PAL_ENOMEM or PAL_EFORMAT; on failure rec
       holds nothing that needs freeing. */
    int (*read)(sqlite3_stmt *s, void *rec);
    void (*clear)(void *rec); /* frees one record's contents */
    const char *what;         /* "scan", "quarantine item": for messages */
} sdb_rowtype;

/*
 * Step s (prepared and bound; lock held) to the end, reading every row with rt into one
 * growing array; finishes s. On success *out is the array (NULL when there are no rows) and
 * *n its length; on failure nothing is left allocated.
 */
int sdb_collect(pal_store *st, sqlite3_stmt *s, const sdb_rowtype *rt, void **out, size_t *n,
                pal_errbuf *err);

/* Takes the lock. Run sql (whose ?1 is an id) and read its one row into out (rt->size
   bytes); PAL_ENOTFOUND "no <what> <id>" when there is none. */
int sdb_get_by_id(pal_store *st, const char *sql, int64_t id, const sdb_rowtype *rt, void *out,
                  pal_errbuf *err);

/* Takes the lock. Run a write (whose ?1 is an id) with synchronous=FULL; PAL_ENOTFOUND
   "no <what> <id>" when it changed no row. */
int sdb_write_by_id(pal_store *st, const char *sql, int64_t id, const char *what, pal_errbuf *err);

/* The stored words for pal_severity and pal_action: the vocabulary's names
   (agent/util/names.h), NULL for an invalid value. */
const char *store_severity_name(int v);
const char *store_action_name(int v);

/* ---- shared between table modules ----------------------------------------------------- */

/* Write one audit row (store_prefs.c owns the table); lock held, inside the caller's
   transaction so that the change and its record commit together. */
int store_audit_row(pal_store *st, uid_t uid, const char *action, const char *target,
                    const char *old_value, const char *new_value, pal_errbuf *err);

#endif
