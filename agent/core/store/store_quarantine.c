/*
 * store_quarantine.c — the remediation records: quarantine items (what a quarantined file
 * was and where it is stored) and the file-operation journal (each step on the user's file
 * system, written Pending before it is taken, so that a crash can be finished at start-up).
 * quarantine.h owns the files themselves; this module owns only their rows.
 */
#include <stdlib.h>
#include <string.h>

#include "storedb.h"

#define Q_COLS                                                                                     \
    "id, detection_id, threat_name, original_path, owner_uid, group_gid, mode, atime_ns, "         \
    "mtime_ns, ctime_ns, size, sha256, quarantined_at, storage_name"
#define FO_COLS                                                                                    \
    "id, op, state, detection_id, quarantine_id, path, storage_name, created_at, updated_at, "     \
    "detail"

static const char SQL_Q_INSERT[] =
    "INSERT INTO quarantine (detection_id, threat_name, original_path, "
    "owner_uid, group_gid, mode, atime_ns, mtime_ns, ctime_ns, size, sha256, "
    "quarantined_at, storage_name) "
    "VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
static const char SQL_Q_UPDATE[] =
    "UPDATE quarantine SET detection_id = ?2, threat_name = ?3, "
    "original_path = ?4, owner_uid = ?5, group_gid = ?6, mode = ?7, "
    "atime_ns = ?8, mtime_ns = ?9, ctime_ns = ?10, size = ?11, sha256 = ?12, "
    "quarantined_at = ?13, storage_name = ?14 WHERE id = ?1";
static const char SQL_Q_DEL[] = "DELETE FROM quarantine WHERE id = ?1";
static const char SQL_FO_INSERT[] =
    "INSERT INTO file_ops (op, state, detection_id, quarantine_id, path, "
    "storage_name, created_at, updated_at, detail) "
    "VALUES (?1, 'Pending', ?2, ?3, ?4, ?5, ?6, ?6, ?7)";
static const char SQL_FO_FINISH[] = "UPDATE file_ops SET state = ?2, detail = ?3, updated_at = ?4 "
                                    "WHERE id = ?1 AND state = 'Pending'";
static const char SQL_FO_STATE[] = "SELECT state FROM file_ops WHERE id = ?1";
static const char SQL_FO_DEL[] = "DELETE FROM file_ops WHERE id = ?1";
static const char SQL_Q_GET[] = "SELECT " Q_COLS " FROM quarantine WHERE id = ?1";
static const char SQL_Q_LIST[] = "SELECT " Q_COLS " FROM quarantine "
                                 "ORDER BY quarantined_at DESC, id DESC LIMIT ?1";
static const char SQL_FO_GET[] = "SELECT " FO_COLS " FROM file_ops WHERE id = ?1";
static const char SQL_FO_LIST[] = "SELECT " FO_COLS " FROM file_ops "
                                  "WHERE (?1 IS NULL OR state = ?1) ORDER BY id LIMIT ?2";

SDB_NAME_FN(fileop_kind_nm, pal_fileop_kind_name, pal_fileop_kind)
SDB_NAME_FN(fileop_state_nm, pal_fileop_state_name, pal_fileop_state)

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
    return sdb_norm_sha256(q->sha256, sha, 1, err);
}

static void bind_quarantine(sqlite3_stmt *s, const pal_quarantine_item *q, const char *sha)
{
    sdb_bind_i64(s, 1, q->id);
    sdb_bind_id_or_null(s, 2, q->detection_id);
    sdb_bind_text(s, 3, q->threat_name);
    sdb_bind_text(s, 4, q->original_path);
    sdb_bind_i64(s, 5, q->owner);
    sdb_bind_i64(s, 6, q->group);
    sdb_bind_i64(s, 7, q->mode);
    sdb_bind_i64(s, 8, q->atime_ns);
    sdb_bind_i64(s, 9, q->mtime_ns);
    sdb_bind_i64(s, 10, q->ctime_ns);
    sdb_bind_u64(s, 11, q->size);
    sdb_bind_text(s, 12, sha);
    sdb_bind_i64(s, 13, sdb_or_now(q->quarantined_at));
    sdb_bind_text(s, 14, q->storage_name);
}

static int read_quarantine(sqlite3_stmt *s, pal_quarantine_item *q)
{
    memset(q, 0, sizeof(*q));
    q->id = sqlite3_column_int64(s, 0);
    q->detection_id = sqlite3_column_int64(s, 1);
    int ret = sdb_col_str(s, 2, &q->threat_name) | sdb_col_str(s, 3, &q->original_path);
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
    ret |= sdb_col_str(s, 13, &q->storage_name);
    if (ret) {
        pal_quarantine_item_clear(q);
        return PAL_ENOMEM;
    }
    return 0;
}

static int read_quarantine_row(sqlite3_stmt *s, void *rec)
{
    return read_quarantine(s, rec);
}

static void clear_quarantine_row(void *rec)
{
    pal_quarantine_item_clear(rec);
}

static const sdb_rowtype quarantine_rows = {sizeof(pal_quarantine_item), read_quarantine_row,
                                            clear_quarantine_row, "quarantine item"};

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
    sdb_lock(st);
    ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_Q_INSERT, &s, err);
    if (ret == 0) {
        bind_quarantine(s, q, sha);
        ret = sdb_step_done(st, s, "recording a quarantine item", err);
        if (ret == PAL_EEXIST)
            pal_err_set(err, PAL_EEXIST, "quarantine storage name %s is taken", q->storage_name);
        if (ret == 0)
            *id = sqlite3_last_insert_rowid(st->db);
    }
    sdb_unlock(st);
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
    sdb_lock(st);
    ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_Q_UPDATE, &s, err);
    if (ret == 0) {
        bind_quarantine(s, q, sha);
        ret = sdb_step_done(st, s, "updating a quarantine item", err);
        if (ret == 0 && sqlite3_changes(st->db) == 0)
            ret = pal_err_set(err, PAL_ENOTFOUND, "no quarantine item %lld", (long long)q->id);
    }
    sdb_unlock(st);
    return ret;
}

int pal_store_quarantine_get(pal_store *st, int64_t id, pal_quarantine_item *out, pal_errbuf *err)
{
    if (!out)
        return pal_err_set(err, PAL_EINVAL, "quarantine_get: bad arguments");
    return sdb_get_by_id(st, SQL_Q_GET, id, &quarantine_rows, out, err);
}

int pal_store_quarantine_list(pal_store *st, size_t limit, pal_quarantine_item **out, size_t *n,
                              pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "quarantine_list: bad arguments");
    sqlite3_stmt *s = NULL;
    void *recs = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_Q_LIST, &s, err);
    if (ret == 0) {
        sdb_bind_i64(s, 1, (int64_t)sdb_clamp_limit(limit));
        ret = sdb_collect(st, s, &quarantine_rows, &recs, n, err);
    }
    sdb_unlock(st);
    if (ret == 0)
        *out = recs;
    return ret;
}

int pal_store_quarantine_delete(pal_store *st, int64_t id, pal_errbuf *err)
{
    return sdb_write_by_id(st, SQL_Q_DEL, id, "quarantine item", err);
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
    if (sdb_col_enum(s, 1, fileop_kind_nm, 1, 4, &k) ||
        sdb_col_enum(s, 2, fileop_state_nm, 1, 3, &st))
        return PAL_EFORMAT;
    f->id = sqlite3_column_int64(s, 0);
    f->kind = (pal_fileop_kind)k;
    f->state = (pal_fileop_state)st;
    f->detection_id = sqlite3_column_int64(s, 3);
    f->quarantine_id = sqlite3_column_int64(s, 4);
    int ret = sdb_col_str(s, 5, &f->path) | sdb_col_str(s, 6, &f->storage_name);
    f->created_at = sqlite3_column_int64(s, 7);
    f->updated_at = sqlite3_column_int64(s, 8);
    ret |= sdb_col_str(s, 9, &f->detail);
    if (ret) {
        pal_fileop_clear(f);
        return PAL_ENOMEM;
    }
    return 0;
}

static int read_fileop_row(sqlite3_stmt *s, void *rec)
{
    return read_fileop(s, rec);
}

static void clear_fileop_row(void *rec)
{
    pal_fileop_clear(rec);
}

static const sdb_rowtype fileop_rows = {sizeof(pal_fileop), read_fileop_row, clear_fileop_row,
                                        "file operation"};

int pal_store_fileop_begin(pal_store *st, const pal_fileop *f, int64_t *id, pal_errbuf *err)
{
    if (!f || !id || !pal_fileop_kind_name(f->kind) || !f->path || !*f->path)
        return pal_err_set(err, PAL_EINVAL, "fileop_begin: kind and path required");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_FO_INSERT, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, pal_fileop_kind_name(f->kind));
        sdb_bind_id_or_null(s, 2, f->detection_id);
        sdb_bind_id_or_null(s, 3, f->quarantine_id);
        sdb_bind_text(s, 4, f->path);
        sdb_bind_text(s, 5, f->storage_name);
        sdb_bind_i64(s, 6, sdb_or_now(f->created_at));
        sdb_bind_text(s, 7, f->detail);
        ret = sdb_step_done(st, s, "journalling a file operation", err);
        if (ret == 0)
            *id = sqlite3_last_insert_rowid(st->db);
    }
    sdb_unlock(st);
    return ret;
}

int pal_store_fileop_finish(pal_store *st, int64_t id, pal_fileop_state state, const char *detail,
                            pal_errbuf *err)
{
    if (state != PAL_FILEOP_DONE && state != PAL_FILEOP_FAILED)
        return pal_err_set(err, PAL_EINVAL, "fileop_finish: state must be Done or Failed");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_FO_FINISH, &s, err);
    if (ret)
        goto out;
    sdb_bind_i64(s, 1, id);
    sdb_bind_text(s, 2, pal_fileop_state_name(state));
    sdb_bind_text(s, 3, detail);
    sdb_bind_i64(s, 4, sdb_now_ms());
    ret = sdb_step_done(st, s, "finishing a file operation", err);
    if (ret || sqlite3_changes(st->db) == 1)
        goto out;
    ret = sdb_why_unchanged(st, SQL_FO_STATE, id, "file operation", "not pending", err);
out:
    sdb_unlock(st);
    return ret;
}

int pal_store_fileop_get(pal_store *st, int64_t id, pal_fileop *out, pal_errbuf *err)
{
    if (!out)
        return pal_err_set(err, PAL_EINVAL, "fileop_get: bad arguments");
    return sdb_get_by_id(st, SQL_FO_GET, id, &fileop_rows, out, err);
}

int pal_store_fileop_list(pal_store *st, pal_fileop_state state, size_t limit, pal_fileop **out,
                          size_t *n, pal_errbuf *err)
{
    if (!out || !n || (state && !pal_fileop_state_name(state)))
        return pal_err_set(err, PAL_EINVAL, "fileop_list: bad arguments");
    sqlite3_stmt *s = NULL;
    void *recs = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_FO_LIST, &s, err);
    if (ret == 0) {
        if (state)
            sdb_bind_text(s, 1, pal_fileop_state_name(state));
        sdb_bind_i64(s, 2, (int64_t)sdb_clamp_limit(limit));
        ret = sdb_collect(st, s, &fileop_rows, &recs, n, err);
    }
    sdb_unlock(st);
    if (ret == 0)
        *out = recs;
    return ret;
}

int pal_store_fileop_delete(pal_store *st, int64_t id, pal_errbuf *err)
{
    return sdb_write_by_id(st, SQL_FO_DEL, id, "file operation", err);
}
