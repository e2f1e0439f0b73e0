/*
 * store_cp.c — the content-process events table: starts, exits, crashes and kills of
 * palisade-cp with the tail of its stderr, for diagnosis. Only the newest
 * PAL_STORE_CP_EVENTS_KEEP are kept; writes commit with synchronous=NORMAL.
 */
#include <stdlib.h>
#include <string.h>

#include "storedb.h"

#define CP_COLS "id, at, pid, event, exit_code, signal, reason, object, stderr_tail"

static const char SQL_CP_INSERT[] =
    "INSERT INTO cp_events (at, pid, event, exit_code, signal, reason, object, "
    "stderr_tail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char SQL_CP_PRUNE[] = "DELETE FROM cp_events WHERE id <= ?1";
static const char SQL_CP_LIST[] = "SELECT " CP_COLS " FROM cp_events ORDER BY id DESC LIMIT ?1";

SDB_NAME_FN(cp_kind_nm, pal_cp_event_kind_name, pal_cp_event_kind)

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
    sdb_lock(st);
    int ret = sdb_begin(st, 0, err);
    if (ret)
        goto out;
    ret = sdb_stmt(st, SQL_CP_INSERT, &s, err);
    if (ret == 0) {
        sdb_bind_i64(s, 1, sdb_or_now(e->at));
        sdb_bind_id_or_null(s, 2, e->pid);
        sdb_bind_text(s, 3, pal_cp_event_kind_name(e->kind));
        if (e->exit_code >= 0)
            sdb_bind_i64(s, 4, e->exit_code);
        if (e->signal > 0)
            sdb_bind_i64(s, 5, e->signal);
        sdb_bind_text(s, 6, e->reason);
        sdb_bind_text(s, 7, e->object);
        sdb_bind_text(s, 8, tail);
        ret = sdb_step_done(st, s, "recording a content-process event", err);
        new_id = sqlite3_last_insert_rowid(st->db);
    }
    if (ret == 0 && new_id > PAL_STORE_CP_EVENTS_KEEP) {
        ret = sdb_stmt(st, SQL_CP_PRUNE, &s, err);
        if (ret == 0) {
            sdb_bind_i64(s, 1, new_id - PAL_STORE_CP_EVENTS_KEEP);
            ret = sdb_step_done(st, s, "pruning content-process events", err);
        }
    }
    if (ret == 0)
        ret = sdb_commit(st, err);
    if (ret)
        sdb_rollback(st);
    else if (id)
        *id = new_id;
out:
    sdb_unlock(st);
    return ret;
}

static void clear_cp_event(void *rec)
{
    pal_cp_event *e = rec;
    free(e->reason);
    free(e->object);
    free(e->stderr_tail);
}

static int read_cp_event(sqlite3_stmt *s, void *rec)
{
    pal_cp_event *e = rec;
    int v;
    e->id = sqlite3_column_int64(s, 0);
    e->at = sqlite3_column_int64(s, 1);
    e->pid = sqlite3_column_int64(s, 2);
    if (sdb_col_enum(s, 3, cp_kind_nm, 1, 5, &v))
        return PAL_EFORMAT;
    e->kind = (pal_cp_event_kind)v;
    e->exit_code = sqlite3_column_type(s, 4) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 4);
    e->signal = sqlite3_column_int(s, 5);
    if (sdb_col_str(s, 6, &e->reason) || sdb_col_str(s, 7, &e->object) ||
        sdb_col_str(s, 8, &e->stderr_tail)) {
        clear_cp_event(e);
        return PAL_ENOMEM;
    }
    return 0;
}

static const sdb_rowtype cp_event_rows = {sizeof(pal_cp_event), read_cp_event, clear_cp_event,
                                          "content-process event"};

int pal_store_cp_event_list(pal_store *st, size_t limit, pal_cp_event **out, size_t *n,
                            pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "cp_event_list: bad arguments");
    sqlite3_stmt *s = NULL;
    void *recs = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_CP_LIST, &s, err);
    if (ret == 0) {
        sdb_bind_i64(s, 1, (int64_t)sdb_clamp_limit(limit));
        ret = sdb_collect(st, s, &cp_event_rows, &recs, n, err);
    }
    sdb_unlock(st);
    if (ret == 0)
        *out = recs;
    return ret;
}
