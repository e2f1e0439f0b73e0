/*
 * store_lists.c — the administrator's lists: exclusions (paths and extensions not scanned)
 * and the allowed list (threat names and hashes never acted on), each change audited in the
 * same transaction.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "storedb.h"

static const char SQL_EXCL_ADD[] = "INSERT INTO exclusions (kind, value, added_at, added_by) "
                                   "VALUES (?1, ?2, ?3, ?4)";
static const char SQL_EXCL_ADD_IGNORE[] =
    "INSERT INTO exclusions (kind, value, added_at, added_by) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING";
static const char SQL_EXCL_DEL[] = "DELETE FROM exclusions WHERE kind = ?1 AND value = ?2";
static const char SQL_EXCL_DEL_KIND[] = "DELETE FROM exclusions WHERE kind = ?1";
static const char SQL_EXCL_LIST[] = "SELECT id, kind, value, added_at, added_by FROM exclusions "
                                    "WHERE (?1 IS NULL OR kind = ?1) ORDER BY id";
static const char SQL_ALLOW_ADD[] = "INSERT INTO allowed_threats (kind, value, added_at, added_by) "
                                    "VALUES (?1, ?2, ?3, ?4)";
static const char SQL_ALLOW_DEL[] = "DELETE FROM allowed_threats WHERE kind = ?1 AND value = ?2";
static const char SQL_ALLOW_LIST[] =
    "SELECT id, kind, value, added_at, added_by FROM allowed_threats "
    "ORDER BY id";
static const char SQL_ALLOW_CHECK[] =
    "SELECT 1 FROM allowed_threats WHERE (kind = 'ThreatName' AND value = ?1) "
    "OR (kind = 'Sha256' AND value = ?2) LIMIT 1";

SDB_NAME_FN(excl_kind_nm, pal_excl_kind_name, pal_excl_kind)
SDB_NAME_FN(allow_kind_nm, pal_allow_kind_name, pal_allow_kind)

/* ---- exclusions ------------------------------------------------------------------------ */

void pal_exclusions_free(pal_exclusion *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++)
        free(e[i].value);
    free(e);
}

/* Exclusions and allowed-list entries share a row shape: id, kind, value, added_at/by. */
static int read_exclusion(sqlite3_stmt *s, void *rec)
{
    pal_exclusion *e = rec;
    int v;
    e->id = sqlite3_column_int64(s, 0);
    if (sdb_col_enum(s, 1, excl_kind_nm, 1, 2, &v))
        return PAL_EFORMAT;
    e->kind = (pal_excl_kind)v;
    if (sdb_col_str(s, 2, &e->value))
        return PAL_ENOMEM;
    e->added_at = sqlite3_column_int64(s, 3);
    e->added_by = sdb_col_uid(s, 4);
    return 0;
}

static void clear_exclusion(void *rec)
{
    free(((pal_exclusion *)rec)->value);
}

static const sdb_rowtype exclusion_rows = {sizeof(pal_exclusion), read_exclusion, clear_exclusion,
                                           "exclusion"};

static int list_exclusions_locked(pal_store *st, pal_excl_kind kind, pal_exclusion **out, size_t *n,
                                  pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    void *recs = NULL;
    int ret = sdb_stmt(st, SQL_EXCL_LIST, &s, err);
    if (ret)
        return ret;
    if (kind)
        sdb_bind_text(s, 1, pal_excl_kind_name(kind));
    ret = sdb_collect(st, s, &exclusion_rows, &recs, n, err);
    if (ret == 0)
        *out = recs;
    return ret;
}

int pal_store_exclusion_list(pal_store *st, pal_excl_kind kind, pal_exclusion **out, size_t *n,
                             pal_errbuf *err)
{
    if (!out || !n || (kind && !pal_excl_kind_name(kind)))
        return pal_err_set(err, PAL_EINVAL, "exclusion_list: bad arguments");
    sdb_lock(st);
    int ret = list_exclusions_locked(st, kind, out, n, err);
    sdb_unlock(st);
    return ret;
}

int pal_store_exclusion_add(pal_store *st, pal_excl_kind kind, const char *value, uid_t uid,
                            pal_errbuf *err)
{
    if (!pal_excl_kind_name(kind) || !value || !*value)
        return pal_err_set(err, PAL_EINVAL, "exclusion_add: bad arguments");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_begin(st, 1, err);
    if (ret)
        goto out;
    ret = sdb_stmt(st, SQL_EXCL_ADD, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, pal_excl_kind_name(kind));
        sdb_bind_text(s, 2, value);
        sdb_bind_i64(s, 3, sdb_now_ms());
        sdb_bind_uid(s, 4, uid);
        ret = sdb_step_done(st, s, "adding an exclusion", err);
        if (ret == PAL_EEXIST)
            pal_err_set(err, PAL_EEXIST, "%s exclusion %s already exists", pal_excl_kind_name(kind),
                        value);
    }
    if (ret == 0)
        ret = store_audit_row(st, uid, "AddExclusion", pal_excl_kind_name(kind), NULL, value, err);
    ret = sdb_end(st, ret, err);
out:
    sdb_unlock(st);
    return ret;
}

int pal_store_exclusion_remove(pal_store *st, pal_excl_kind kind, const char *value, uid_t uid,
                               pal_errbuf *err)
{
    if (!pal_excl_kind_name(kind) || !value)
        return pal_err_set(err, PAL_EINVAL, "exclusion_remove: bad arguments");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_begin(st, 1, err);
    if (ret)
        goto out;
    ret = sdb_stmt(st, SQL_EXCL_DEL, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, pal_excl_kind_name(kind));
        sdb_bind_text(s, 2, value);
        ret = sdb_step_done(st, s, "removing an exclusion", err);
        if (ret == 0 && sqlite3_changes(st->db) == 0)
            ret = pal_err_set(err, PAL_ENOTFOUND, "no %s exclusion %s", pal_excl_kind_name(kind),
                              value);
    }
    if (ret == 0)
        ret =
            store_audit_row(st, uid, "RemoveExclusion", pal_excl_kind_name(kind), value, NULL, err);
    ret = sdb_end(st, ret, err);
out:
    sdb_unlock(st);
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
    sdb_lock(st);
    int ret = sdb_begin(st, 1, err);
    if (ret)
        goto out;
    ret = list_exclusions_locked(st, kind, &old, &n_old, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_EXCL_DEL_KIND, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, pal_excl_kind_name(kind));
        ret = sdb_step_done(st, s, "replacing exclusions", err);
    }
    int64_t at = sdb_now_ms();
    for (size_t i = 0; ret == 0 && i < n_values; i++) {
        ret = sdb_stmt(st, SQL_EXCL_ADD_IGNORE, &s, err);
        if (ret)
            break;
        sdb_bind_text(s, 1, pal_excl_kind_name(kind));
        sdb_bind_text(s, 2, values[i]);
        sdb_bind_i64(s, 3, at);
        sdb_bind_uid(s, 4, uid);
        ret = sdb_step_done(st, s, "replacing exclusions", err);
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
        ret = store_audit_row(st, uid, "SetExclusions", pal_excl_kind_name(kind), old_json,
                              new_json, err);
    ret = sdb_end(st, ret, err);
out:
    sdb_unlock(st);
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
        int ret = sdb_norm_sha256(value, buf, 1, err);
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
    sdb_lock(st);
    ret = sdb_begin(st, 1, err);
    if (ret)
        goto out;
    ret = sdb_stmt(st, SQL_ALLOW_ADD, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, pal_allow_kind_name(kind));
        sdb_bind_text(s, 2, v);
        sdb_bind_i64(s, 3, sdb_now_ms());
        sdb_bind_uid(s, 4, uid);
        ret = sdb_step_done(st, s, "adding an allowed threat", err);
        if (ret == PAL_EEXIST)
            pal_err_set(err, PAL_EEXIST, "%s %s is already allowed", pal_allow_kind_name(kind), v);
    }
    if (ret == 0)
        ret = store_audit_row(st, uid, "AddAllowedThreat", pal_allow_kind_name(kind), NULL, v, err);
    ret = sdb_end(st, ret, err);
out:
    sdb_unlock(st);
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
    sdb_lock(st);
    ret = sdb_begin(st, 1, err);
    if (ret)
        goto out;
    ret = sdb_stmt(st, SQL_ALLOW_DEL, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, pal_allow_kind_name(kind));
        sdb_bind_text(s, 2, v);
        ret = sdb_step_done(st, s, "removing an allowed threat", err);
        if (ret == 0 && sqlite3_changes(st->db) == 0)
            ret = pal_err_set(err, PAL_ENOTFOUND, "%s %s is not allowed", pal_allow_kind_name(kind),
                              v);
    }
    if (ret == 0)
        ret = store_audit_row(st, uid, "RemoveAllowedThreat", pal_allow_kind_name(kind), v, NULL,
                              err);
    ret = sdb_end(st, ret, err);
out:
    sdb_unlock(st);
    return ret;
}

static int read_allowed(sqlite3_stmt *s, void *rec)
{
    pal_allowed *a = rec;
    int v;
    a->id = sqlite3_column_int64(s, 0);
    if (sdb_col_enum(s, 1, allow_kind_nm, 1, 2, &v))
        return PAL_EFORMAT;
    a->kind = (pal_allow_kind)v;
    if (sdb_col_str(s, 2, &a->value))
        return PAL_ENOMEM;
    a->added_at = sqlite3_column_int64(s, 3);
    a->added_by = sdb_col_uid(s, 4);
    return 0;
}

static void clear_allowed(void *rec)
{
    free(((pal_allowed *)rec)->value);
}

static const sdb_rowtype allowed_rows = {sizeof(pal_allowed), read_allowed, clear_allowed,
                                         "allowed threat"};

int pal_store_allowed_list(pal_store *st, pal_allowed **out, size_t *n, pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "allowed_list: bad arguments");
    sqlite3_stmt *s = NULL;
    void *recs = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_ALLOW_LIST, &s, err);
    if (ret == 0)
        ret = sdb_collect(st, s, &allowed_rows, &recs, n, err);
    sdb_unlock(st);
    if (ret == 0)
        *out = recs;
    return ret;
}

int pal_store_allowed_check(pal_store *st, const char *threat_name, const char *sha256_hex,
                            int *allowed, pal_errbuf *err)
{
    char sha[65];
    if (!allowed)
        return pal_err_set(err, PAL_EINVAL, "allowed_check: bad arguments");
    /* A malformed hash can match nothing; it is not the caller's error here. */
    if (sdb_norm_sha256(sha256_hex, sha, 0, NULL) != 0)
        sha[0] = '\0';
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_ALLOW_CHECK, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, threat_name);
        sdb_bind_text(s, 2, sha[0] ? sha : NULL);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            *allowed = rc == SQLITE_ROW;
        else
            ret = sdb_fail(st, rc, "checking allowed threats", err);
        sdb_finish(s);
    }
    sdb_unlock(st);
    return ret;
}
