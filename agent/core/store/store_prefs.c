/*
 * store_prefs.c — the daemon's own state and the administrator's settings, with the record
 * of them: meta (the daemon's key/value state), preferences, per-threat action overrides,
 * and the audit trail, which every audited change (here and in store_lists.c) writes in the
 * same transaction as the change.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "storedb.h"

static const char SQL_META_GET[] = "SELECT value FROM meta WHERE key = ?1";
static const char SQL_META_SET[] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                                   "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
static const char SQL_META_DEL[] = "DELETE FROM meta WHERE key = ?1";
static const char SQL_AUDIT_INSERT[] =
    "INSERT INTO audit (at, uid, action, target, old_value, new_value) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_AUDIT_LIST[] =
    "SELECT id, at, uid, action, target, old_value, new_value FROM audit "
    "WHERE at >= ?1 ORDER BY at DESC, id DESC LIMIT ?2";
static const char SQL_PREF_ALL[] =
    "SELECT name, value, updated_at, updated_by FROM preferences ORDER BY name";
static const char SQL_PREF_GET[] = "SELECT value FROM preferences WHERE name = ?1";
static const char SQL_PREF_SET[] = "INSERT INTO preferences (name, value, updated_at, updated_by) "
                                   "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET "
                                   "value = excluded.value, updated_at = excluded.updated_at, "
                                   "updated_by = excluded.updated_by";
static const char SQL_PREF_DEL[] = "DELETE FROM preferences WHERE name = ?1";
static const char SQL_TA_SET[] =
    "INSERT INTO threat_actions (threat_name, action, set_at, set_by) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (threat_name) DO UPDATE SET "
    "action = excluded.action, set_at = excluded.set_at, set_by = excluded.set_by";
static const char SQL_TA_GET[] = "SELECT action FROM threat_actions WHERE threat_name = ?1";
static const char SQL_TA_DEL[] = "DELETE FROM threat_actions WHERE threat_name = ?1";
static const char SQL_TA_LIST[] = "SELECT threat_name, action, set_at, set_by FROM threat_actions "
                                  "ORDER BY threat_name";

/* One audit row (see storedb.h). */
int store_audit_row(pal_store *st, uid_t uid, const char *action, const char *target,
                    const char *old_value, const char *new_value, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sdb_stmt(st, SQL_AUDIT_INSERT, &s, err);
    if (rc)
        return rc;
    int b = sdb_bind_i64(s, 1, sdb_now_ms()) | sdb_bind_uid(s, 2, uid) |
            sdb_bind_text(s, 3, action) | sdb_bind_text(s, 4, target ? target : "") |
            sdb_bind_text(s, 5, old_value) | sdb_bind_text(s, 6, new_value);
    if (b != SQLITE_OK) {
        sdb_finish(s);
        return sdb_fail(st, b, "binding an audit row", err);
    }
    return sdb_step_done(st, s, "writing an audit row", err);
}

/* ---- meta ------------------------------------------------------------------------------ */

int pal_store_meta_get(pal_store *st, const char *key, char **value, pal_errbuf *err)
{
    if (!key || !value)
        return pal_err_set(err, PAL_EINVAL, "meta_get: bad arguments");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_META_GET, &s, err);
    if (ret)
        goto out;
    sdb_bind_text(s, 1, key);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        char *v;
        ret = sdb_col_str(s, 0, &v);
        if (ret == 0)
            *value = v;
        else
            pal_err_set(err, ret, "out of memory");
    } else if (rc == SQLITE_DONE) {
        ret = pal_err_set(err, PAL_ENOTFOUND, "no meta key %s", key);
    } else {
        ret = sdb_fail(st, rc, "reading meta", err);
    }
    sdb_finish(s);
out:
    sdb_unlock(st);
    return ret;
}

int pal_store_meta_set(pal_store *st, const char *key, const char *value, pal_errbuf *err)
{
    if (!key || !value)
        return pal_err_set(err, PAL_EINVAL, "meta_set: bad arguments");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_META_SET, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, key);
        sdb_bind_text(s, 2, value);
        ret = sdb_step_done(st, s, "writing meta", err);
    }
    sdb_unlock(st);
    return ret;
}

int pal_store_meta_delete(pal_store *st, const char *key, pal_errbuf *err)
{
    if (!key)
        return pal_err_set(err, PAL_EINVAL, "meta_delete: bad arguments");
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_META_DEL, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, key);
        ret = sdb_step_done(st, s, "deleting meta", err);
    }
    sdb_unlock(st);
    return ret;
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
    sdb_lock(st);
    int ret = sdb_set_sync(st, 1, err);
    if (ret == 0)
        ret = store_audit_row(st, uid, action, target, old_value, new_value, err);
    sdb_unlock(st);
    return ret;
}

static int read_audit(sqlite3_stmt *s, void *rec)
{
    pal_audit_rec *r = rec;
    r->id = sqlite3_column_int64(s, 0);
    r->at = sqlite3_column_int64(s, 1);
    r->uid = sdb_col_uid(s, 2);
    if (sdb_col_str(s, 3, &r->action) || sdb_col_str(s, 4, &r->target) ||
        sdb_col_str(s, 5, &r->old_value) || sdb_col_str(s, 6, &r->new_value)) {
        free(r->action);
        free(r->target);
        free(r->old_value);
        free(r->new_value);
        return PAL_ENOMEM;
    }
    return 0;
}

static void clear_audit(void *rec)
{
    pal_audit_rec *r = rec;
    free(r->action);
    free(r->target);
    free(r->old_value);
    free(r->new_value);
}

static const sdb_rowtype audit_rows = {sizeof(pal_audit_rec), read_audit, clear_audit, "audit"};

int pal_store_audit_list(pal_store *st, int64_t since, size_t limit, pal_audit_rec **out, size_t *n,
                         pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "audit_list: bad arguments");
    sqlite3_stmt *s = NULL;
    void *recs = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_AUDIT_LIST, &s, err);
    if (ret == 0) {
        sdb_bind_i64(s, 1, since);
        sdb_bind_i64(s, 2, (int64_t)sdb_clamp_limit(limit));
        ret = sdb_collect(st, s, &audit_rows, &recs, n, err);
    }
    sdb_unlock(st);
    if (ret == 0)
        *out = recs;
    return ret;
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

static int read_pref(sqlite3_stmt *s, void *rec)
{
    pal_pref *p = rec;
    if (sdb_col_str(s, 0, &p->name) || sdb_col_str(s, 1, &p->value_json)) {
        free(p->name);
        return PAL_ENOMEM;
    }
    p->updated_at = sqlite3_column_int64(s, 2);
    p->updated_by = sdb_col_uid(s, 3);
    return 0;
}

static void clear_pref(void *rec)
{
    pal_pref *p = rec;
    free(p->name);
    free(p->value_json);
}

static const sdb_rowtype pref_rows = {sizeof(pal_pref), read_pref, clear_pref, "preference"};

int pal_store_pref_get_all(pal_store *st, pal_pref **out, size_t *n, pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "pref_get_all: bad arguments");
    sqlite3_stmt *s = NULL;
    void *recs = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_PREF_ALL, &s, err);
    if (ret == 0)
        ret = sdb_collect(st, s, &pref_rows, &recs, n, err);
    sdb_unlock(st);
    if (ret == 0)
        *out = recs;
    return ret;
}

/* Current preference value of name (malloc'd JSON) or NULL; lock held. */
static int pref_current(pal_store *st, const char *name, char **old, pal_errbuf *err)
{
    sqlite3_stmt *s = NULL;
    int ret = sdb_stmt(st, SQL_PREF_GET, &s, err);
    if (ret)
        return ret;
    sdb_bind_text(s, 1, name);
    int rc = sqlite3_step(s);
    *old = NULL;
    if (rc == SQLITE_ROW)
        ret = sdb_col_str(s, 0, old) ? pal_err_set(err, PAL_ENOMEM, "out of memory") : 0;
    else if (rc != SQLITE_DONE)
        ret = sdb_fail(st, rc, "reading a preference", err);
    sdb_finish(s);
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
    sdb_lock(st);
    int ret = sdb_begin(st, 1, err);
    if (ret)
        goto out;
    ret = pref_current(st, name, &old, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_PREF_SET, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, name);
        sdb_bind_text(s, 2, value_json);
        sdb_bind_i64(s, 3, sdb_now_ms());
        sdb_bind_uid(s, 4, uid);
        ret = sdb_step_done(st, s, "writing a preference", err);
    }
    if (ret == 0)
        ret = store_audit_row(st, uid, "SetPreference", name, old, value_json, err);
    ret = sdb_end(st, ret, err);
out:
    sdb_unlock(st);
    free(old);
    return ret;
}

int pal_store_pref_delete(pal_store *st, const char *name, uid_t uid, pal_errbuf *err)
{
    if (!name || !*name)
        return pal_err_set(err, PAL_EINVAL, "pref_delete: bad arguments");
    char *old = NULL;
    sqlite3_stmt *s = NULL;
    sdb_lock(st);
    int ret = sdb_begin(st, 1, err);
    if (ret)
        goto out;
    ret = pref_current(st, name, &old, err);
    if (ret == 0 && !old)
        ret = pal_err_set(err, PAL_ENOTFOUND, "preference %s is not set", name);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_PREF_DEL, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, name);
        ret = sdb_step_done(st, s, "deleting a preference", err);
    }
    if (ret == 0)
        ret = store_audit_row(st, uid, "ResetPreference", name, old, NULL, err);
    ret = sdb_end(st, ret, err);
out:
    sdb_unlock(st);
    free(old);
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
    int ret = sdb_stmt(st, SQL_TA_GET, &s, err);
    if (ret)
        return ret;
    sdb_bind_text(s, 1, name);
    int rc = sqlite3_step(s);
    *action = 0;
    if (rc == SQLITE_ROW) {
        if (sdb_col_enum(s, 0, store_action_name, 1, 3, action))
            ret = pal_err_set(err, PAL_EFORMAT, "database %s: bad action for %s", st->path, name);
    } else if (rc != SQLITE_DONE) {
        ret = sdb_fail(st, rc, "reading a threat action", err);
    }
    sdb_finish(s);
    return ret;
}

int pal_store_threat_action_set(pal_store *st, const char *threat_name, pal_action action,
                                uid_t uid, pal_errbuf *err)
{
    const char *an = store_action_name((int)action);
    if (!threat_name || !*threat_name || !an)
        return pal_err_set(err, PAL_EINVAL, "threat_action_set: bad arguments");
    sqlite3_stmt *s = NULL;
    int old = 0;
    sdb_lock(st);
    int ret = sdb_begin(st, 1, err);
    if (ret)
        goto out;
    ret = threat_action_locked(st, threat_name, &old, err);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_TA_SET, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, threat_name);
        sdb_bind_text(s, 2, an);
        sdb_bind_i64(s, 3, sdb_now_ms());
        sdb_bind_uid(s, 4, uid);
        ret = sdb_step_done(st, s, "setting a threat action", err);
    }
    if (ret == 0)
        ret = store_audit_row(st, uid, "SetThreatAction", threat_name,
                              old ? store_action_name(old) : NULL, an, err);
    ret = sdb_end(st, ret, err);
out:
    sdb_unlock(st);
    return ret;
}

int pal_store_threat_action_get(pal_store *st, const char *threat_name, pal_action *action,
                                pal_errbuf *err)
{
    if (!threat_name || !action)
        return pal_err_set(err, PAL_EINVAL, "threat_action_get: bad arguments");
    int a = 0;
    sdb_lock(st);
    int ret = threat_action_locked(st, threat_name, &a, err);
    sdb_unlock(st);
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
    sdb_lock(st);
    int ret = sdb_begin(st, 1, err);
    if (ret)
        goto out;
    ret = threat_action_locked(st, threat_name, &old, err);
    if (ret == 0 && !old)
        ret = pal_err_set(err, PAL_ENOTFOUND, "no action override for %s", threat_name);
    if (ret == 0)
        ret = sdb_stmt(st, SQL_TA_DEL, &s, err);
    if (ret == 0) {
        sdb_bind_text(s, 1, threat_name);
        ret = sdb_step_done(st, s, "removing a threat action", err);
    }
    if (ret == 0)
        ret = store_audit_row(st, uid, "RemoveThreatAction", threat_name, store_action_name(old),
                              NULL, err);
    ret = sdb_end(st, ret, err);
out:
    sdb_unlock(st);
    return ret;
}

static int read_threat_action(sqlite3_stmt *s, void *rec)
{
    pal_threat_action *t = rec;
    int v;
    if (sdb_col_enum(s, 1, store_action_name, 1, 3, &v))
        return PAL_EFORMAT;
    t->action = (pal_action)v;
    if (sdb_col_str(s, 0, &t->threat_name))
        return PAL_ENOMEM;
    t->set_at = sqlite3_column_int64(s, 2);
    t->set_by = sdb_col_uid(s, 3);
    return 0;
}

static void clear_threat_action(void *rec)
{
    free(((pal_threat_action *)rec)->threat_name);
}

static const sdb_rowtype threat_action_rows = {sizeof(pal_threat_action), read_threat_action,
                                               clear_threat_action, "threat action"};

int pal_store_threat_action_list(pal_store *st, pal_threat_action **out, size_t *n, pal_errbuf *err)
{
    if (!out || !n)
        return pal_err_set(err, PAL_EINVAL, "threat_action_list: bad arguments");
    sqlite3_stmt *s = NULL;
    void *recs = NULL;
    sdb_lock(st);
    int ret = sdb_stmt(st, SQL_TA_LIST, &s, err);
    if (ret == 0)
        ret = sdb_collect(st, s, &threat_action_rows, &recs, n, err);
    sdb_unlock(st);
    if (ret == 0)
        *out = recs;
    return ret;
}
