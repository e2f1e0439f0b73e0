/*
 * settings.c — the layered effective values: Environment > Policy > Preference > Default
 * (see settings.h). It owns the layers, changing them (set, reset, add and remove an item,
 * reload the policy), their persistence in the store (preferences, exclusions, the last good
 * policy), the change callbacks, the problems and the listing. The registry and the checks
 * of a value are settings_registry.c's, the policy files policy.c's, the typed getters
 * settings_get.c's.
 *
 * Layers are held in memory, one slot per registry entry, and recomputed never: the
 * effective value is the first non-NULL slot. Preferences are written through to the store
 * (with its audit row) before the in-memory slot changes, so memory never claims what the
 * database does not hold.
 */
#include "settings.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "listmerge.h"
#include "policy.h"
#include "settings_internal.h"

#define META_LAST_GOOD_POLICY "policy.last_good"

static const pal_setting_def *const registry = pal_settings_table;

/* ---- the layered settings -------------------------------------------------------------- */

const char *pal_setting_source_name(pal_setting_source s)
{
    switch (s) {
    case PAL_SOURCE_DEFAULT:
        return "Default";
    case PAL_SOURCE_PREFERENCE:
        return "Preference";
    case PAL_SOURCE_POLICY:
        return "Policy";
    case PAL_SOURCE_ENVIRONMENT:
        return "Environment";
    }
    return NULL;
}

void pal_strlist_free(char **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static char *dup_msg(const char *m)
{
    return m ? strdup(m) : NULL;
}

/* The policy file that sets ExclusionsMergePolicy to AdminOnly, or NULL (Merge: list
   settings merge their policy and local entries); lock held. */
static const char *admin_only_file(const pal_settings *s)
{
    int m = find_index("ExclusionsMergePolicy");
    const char *v = m < 0 ? NULL : json_string_value(s->policy[m]);
    return v && strcmp(v, "AdminOnly") == 0 ? s->policy_file[m] : NULL;
}

/* The effective layer of setting i; lock held (read). */
json_t *pal_settings_effective(const pal_settings *s, size_t i, pal_setting_source *src,
                               const char **detail)
{
    if (s->env[i]) {
        *src = PAL_SOURCE_ENVIRONMENT;
        *detail = s->env_detail[i];
        return s->env[i];
    }
    if (registry[i].type == PAL_SETTING_STRLIST) {
        /* listmerge.h: Merge takes the union, AdminOnly the policy's entries alone */
        const char *admin = admin_only_file(s);
        if (admin && !s->policy[i]) {
            *src = PAL_SOURCE_POLICY;
            *detail = admin;
            return s->defaults[i];
        }
        if (!admin && s->policy[i] && s->merged[i]) {
            *src = PAL_SOURCE_POLICY;
            *detail = s->policy_file[i];
            return s->merged[i];
        }
    }
    if (s->policy[i]) {
        *src = PAL_SOURCE_POLICY;
        *detail = s->policy_file[i];
        return s->policy[i];
    }
    *detail = NULL;
    if (s->pref[i]) {
        *src = PAL_SOURCE_PREFERENCE;
        return s->pref[i];
    }
    *src = PAL_SOURCE_DEFAULT;
    return s->defaults[i];
}

/* Effective values, each with a reference, for change detection; lock held. */
static void snapshot(const pal_settings *s, json_t *snap[N_SETTINGS])
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        pal_setting_source src;
        const char *d;
        snap[i] = json_incref(pal_settings_effective(s, i, &src, &d));
    }
}

/* Call on_change for every setting whose value differs; frees both snapshots. */
static void notify(const pal_settings *s, json_t *before[N_SETTINGS], json_t *after[N_SETTINGS])
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (s->on_change && !json_equal(before[i], after[i]))
            s->on_change(s->on_change_ctx, &registry[i]);
        json_decref(before[i]);
        json_decref(after[i]);
    }
}

/* PAL_EPOLICY with the reason when setting i may not be changed by a preference; lock held. */
static int locked_by(const pal_settings *s, size_t i, pal_errbuf *err)
{
    if (s->env[i])
        return pal_err_set(err, PAL_EPOLICY,
                           "%s is forced by the environment variable %s of palisaded",
                           registry[i].name, s->env_detail[i]);
    if (registry[i].policy_only)
        return pal_err_set(err, PAL_EPOLICY,
                           "%s can be set only in a policy file, not as a local preference",
                           registry[i].name);
    if (registry[i].type == PAL_SETTING_STRLIST) {
        /* policy entries stand beside local ones unless policy says AdminOnly */
        const char *admin = admin_only_file(s);
        if (admin)
            return pal_err_set(err, PAL_EPOLICY,
                               "%s: local entries do not apply because policy file %s sets "
                               "ExclusionsMergePolicy to AdminOnly",
                               registry[i].name, admin);
        return 0;
    }
    if (s->policy[i])
        return pal_err_set(err, PAL_EPOLICY, "%s is managed by policy file %s", registry[i].name,
                           s->policy_file[i]);
    return 0;
}

/* Recompute the union of list setting i's policy and local entries; wrlock held. Out of
   memory leaves none, and the policy's entries apply alone (effective()). */
static void remerge(pal_settings *s, size_t i)
{
    if (registry[i].type != PAL_SETTING_STRLIST)
        return;
    json_decref(s->merged[i]);
    s->merged[i] =
        s->policy[i] && s->pref[i] ? pal_listmerge_union(s->policy[i], s->pref[i]) : NULL;
}

/* Take norm (a reference) as the preference slot of i; an empty list counts as none. */
static void set_slot(pal_settings *s, size_t i, json_t *norm)
{
    json_decref(s->pref[i]);
    if (norm && json_is_array(norm) && json_array_size(norm) == 0) {
        json_decref(norm);
        norm = NULL;
    }
    s->pref[i] = norm;
    remerge(s, i);
}

/* The stored list of an exclusion-backed setting as a JSON array (NULL when empty). */
static int load_list(pal_store *st, pal_excl_kind kind, json_t **out, pal_errbuf *err)
{
    pal_exclusion *ex = NULL;
    size_t n = 0;
    int ret = pal_store_exclusion_list(st, kind, &ex, &n, err);
    if (ret)
        return ret;
    json_t *arr = n ? json_array() : NULL;
    for (size_t i = 0; arr && i < n; i++) {
        json_t *v = json_string(ex[i].value);
        if (!v || json_array_append_new(arr, v) != 0) {
            json_decref(arr);
            pal_exclusions_free(ex, n);
            return pal_err_set(err, PAL_EFORMAT, "stored %s exclusion %zu is not valid text",
                               pal_excl_kind_name(kind), i);
        }
    }
    pal_exclusions_free(ex, n);
    if (n && !arr)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    *out = arr;
    return 0;
}

static int add_problem(pal_settings *s, const char *msg)
{
    char **p = realloc(s->pref_problems, (s->n_pref_problems + 1) * sizeof(*p));
    if (!p)
        return PAL_ENOMEM;
    s->pref_problems = p;
    if (!(p[s->n_pref_problems] = strdup(msg)))
        return PAL_ENOMEM;
    s->n_pref_problems++;
    return 0;
}

/* Load the preference layer from the store; unusable rows become problems. */
static int load_preferences(pal_settings *s, pal_errbuf *err)
{
    shown sh;
    pal_pref *prefs = NULL;
    size_t n = 0;
    int ret = pal_store_pref_get_all(s->store, &prefs, &n, err);
    if (ret)
        return ret;
    for (size_t k = 0; k < n && ret == 0; k++) {
        pal_errbuf e = {{0}};
        char msg[sizeof(e.msg) + 160];
        int i = find_index(prefs[k].name);
        if (i < 0 || pal_settings_excl_kind(&registry[i])) {
            snprintf(msg, sizeof(msg), "stored preference %s is not a known setting; ignored",
                     printable(prefs[k].name, &sh));
            ret = add_problem(s, msg);
            continue;
        }
        json_error_t jerr;
        json_t *raw = json_loads(prefs[k].value_json, JSON_DECODE_ANY, &jerr);
        json_t *norm = NULL;
        if (!raw)
            pal_err_set(&e, PAL_EFORMAT, "not JSON: %s", jerr.text);
        if (raw && pal_setting_validate(&registry[i], raw, &norm, &e) == 0) {
            set_slot(s, (size_t)i, norm);
        } else {
            snprintf(msg, sizeof(msg),
                     "stored preference %s is invalid (%s); the default "
                     "applies",
                     registry[i].name, e.msg);
            ret = add_problem(s, msg);
        }
        json_decref(raw);
    }
    pal_prefs_free(prefs, n);
    if (ret)
        return ret == PAL_ENOMEM ? pal_err_set(err, PAL_ENOMEM, "out of memory") : ret;

    for (size_t i = 0; i < N_SETTINGS; i++) {
        pal_excl_kind kind = pal_settings_excl_kind(&registry[i]);
        json_t *list = NULL, *norm = NULL;
        pal_errbuf e = {{0}};
        if (!kind)
            continue;
        ret = load_list(s->store, kind, &list, err);
        if (ret)
            return ret;
        if (list && pal_setting_validate(&registry[i], list, &norm, &e) == 0) {
            set_slot(s, i, norm);
        } else if (list) {
            char msg[sizeof(e.msg) + 100];
            snprintf(msg, sizeof(msg), "stored %s list is invalid (%s); ignored", registry[i].name,
                     e.msg);
            if (add_problem(s, msg))
                ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
        }
        json_decref(list);
        if (ret)
            return ret;
    }
    return 0;
}

/* One environment variable forcing one setting: 0 or 1 give off_value or on_value. */
static int setup_env(pal_settings *s, const char *var, const char *v, const char *setting,
                     json_t *off_value, json_t *on_value)
{
    shown sh;
    json_t *val = !v                    ? NULL
                  : strcmp(v, "1") == 0 ? on_value
                  : strcmp(v, "0") == 0 ? off_value
                                        : NULL;
    int i = find_index(setting);
    char msg[200];
    int ret = 0;
    if (v && !val) {
        snprintf(msg, sizeof(msg),
                 "%s has the value \"%s\"; only 0 or 1 is accepted, so it is ignored", var,
                 printable(v, &sh));
        if (s->env_error) {
            /* both variables wrong: one message naming both */
            size_t len = strlen(s->env_error) + 2 + strlen(msg) + 1;
            char *both = malloc(len);
            if (both)
                snprintf(both, len, "%s; %s", s->env_error, msg);
            free(s->env_error);
            s->env_error = both;
        } else {
            s->env_error = strdup(msg);
        }
        ret = s->env_error ? 0 : PAL_ENOMEM;
    } else if (val && i >= 0) {
        snprintf(msg, sizeof(msg), "%s=%s", var, v);
        s->env[i] = json_incref(val);
        s->env_detail[i] = strdup(msg);
        ret = s->env_detail[i] ? 0 : PAL_ENOMEM;
    }
    json_decref(off_value);
    json_decref(on_value);
    return ret;
}

/* Install p as the policy in force (taking its contents); wrlock held. */
static void install_policy(pal_settings *s, pal_policy_set *p)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        json_decref(s->policy[i]);
        free(s->policy_file[i]);
        s->policy[i] = p->value[i];
        s->policy_file[i] = p->file[i];
        remerge(s, i);
    }
    pal_strlist_free(s->policy_files, s->n_policy_files);
    s->policy_files = p->files;
    s->n_policy_files = p->n_files;
    memset(p, 0, sizeof(*p));
}

static void set_policy_error(pal_settings *s, const char *msg)
{
    free(s->policy_error);
    s->policy_error = dup_msg(msg);
}

int pal_settings_reload_policy(pal_settings *s, pal_errbuf *err)
{
    if (!s->policy_dir)
        return 0;
    pal_policy_files pf = {0};
    pal_policy_set p;
    pal_errbuf e = {{0}};
    pthread_mutex_lock(&s->reload_lock);
    int ret = pal_policy_read_dir(s->policy_dir, s->check_owner, &pf, &e);
    if (ret == 0)
        ret = pal_policy_set_from_files(&pf, &p, &e);
    pal_policy_files_clear(&pf);
    if (ret) {
        wrlock(s);
        set_policy_error(s, e.msg);
        unlock(s);
        pthread_mutex_unlock(&s->reload_lock);
        return pal_err_set(err, ret, "%s", e.msg);
    }

    /* Keep it for the next start, so a file broken while the daemon was down does not
       unlock what the site had locked. */
    char *text = pal_policy_set_to_json(&p);
    int save_err = text ? pal_store_meta_set(s->store, META_LAST_GOOD_POLICY, text, &e)
                        : pal_err_set(&e, PAL_ENOMEM, "out of memory");
    free(text);

    json_t *before[N_SETTINGS], *after[N_SETTINGS];
    wrlock(s);
    snapshot(s, before);
    install_policy(s, &p);
    if (save_err) {
        char msg[sizeof(e.msg) + 100];
        snprintf(msg, sizeof(msg), "policy applied but not saved for the next start: %s", e.msg);
        set_policy_error(s, msg);
    } else {
        set_policy_error(s, NULL);
    }
    snapshot(s, after);
    unlock(s);
    pthread_mutex_unlock(&s->reload_lock);
    notify(s, before, after);
    if (save_err)
        return pal_err_set(err, save_err, "policy applied but not saved for the next start: %s",
                           e.msg);
    return 0;
}

void pal_settings_free(pal_settings *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        json_decref(s->defaults[i]);
        json_decref(s->env[i]);
        json_decref(s->pref[i]);
        json_decref(s->policy[i]);
        json_decref(s->merged[i]);
        free(s->policy_file[i]);
    }
    pal_strlist_free(s->policy_files, s->n_policy_files);
    pal_strlist_free(s->pref_problems, s->n_pref_problems);
    free(s->policy_error);
    for (size_t i = 0; i < N_SETTINGS; i++)
        free(s->env_detail[i]);
    free(s->env_error);
    free(s->policy_dir);
    pthread_mutex_destroy(&s->reload_lock);
    pthread_rwlock_destroy(&s->lock);
    free(s);
}

int pal_settings_new(pal_store *st, const pal_settings_opts *opts, pal_settings **out,
                     pal_errbuf *err)
{
    static const pal_settings_opts none;
    const pal_settings_opts *o = opts ? opts : &none;
    if (!st || !out)
        return pal_err_set(err, PAL_EINVAL, "pal_settings_new: bad arguments");
    pal_settings *s = calloc(1, sizeof(*s));
    if (!s)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    if (pthread_rwlock_init(&s->lock, NULL) != 0) {
        free(s);
        return pal_err_set(err, PAL_ENOMEM, "cannot create a lock");
    }
    if (pthread_mutex_init(&s->reload_lock, NULL) != 0) {
        pthread_rwlock_destroy(&s->lock);
        free(s);
        return pal_err_set(err, PAL_ENOMEM, "cannot create a lock");
    }
    s->store = st;
    s->check_owner = o->check_policy_owner;
    int ret = 0;
    if (o->policy_dir && !(s->policy_dir = strdup(o->policy_dir))) {
        ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < N_SETTINGS; i++) {
        json_t *d = pal_setting_default(&registry[i]), *norm = NULL;
        pal_errbuf e = {{0}};
        /* a registry whose default does not validate is a bug caught by the first run */
        if (!d || pal_setting_validate(&registry[i], d, &norm, &e) != 0) {
            json_decref(d);
            ret = pal_err_set(err, PAL_EINVAL, "registry default of %s is invalid: %s",
                              registry[i].name, e.msg);
            goto fail;
        }
        json_decref(norm);
        s->defaults[i] = d;
    }
    if (setup_env(s, PAL_ENV_FORCE_SANDBOX, o->force_sandbox, "SandboxMode",
                  json_string("Disabled"), json_string("Enabled")) != 0 ||
        setup_env(s, PAL_ENV_FORCE_REAL_TIME, o->force_real_time, "RealTimeProtectionEnabled",
                  json_false(), json_true()) != 0) {
        ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto fail;
    }
    ret = load_preferences(s, err);
    if (ret)
        goto fail;

    if (s->policy_dir) {
        pal_errbuf e = {{0}};
        if (pal_settings_reload_policy(s, &e) != 0) {
            /* no usable policy files now: fall back to what was in force last time */
            char *text = NULL;
            pal_policy_set p;
            if (pal_store_meta_get(st, META_LAST_GOOD_POLICY, &text, NULL) == 0 &&
                pal_policy_set_from_json(text, &p) == 0) {
                install_policy(s, &p);
                char msg[sizeof(e.msg) + 80];
                snprintf(msg, sizeof(msg), "%s (the last good policy stays in force)", e.msg);
                set_policy_error(s, msg);
            }
            free(text);
        }
    }
    /* only now: the building of the layers above is not a change anyone waits for */
    s->on_change = o->on_change;
    s->on_change_ctx = o->on_change_ctx;
    *out = s;
    return 0;
fail:
    pal_settings_free(s);
    return ret;
}

int pal_settings_policy_error(pal_settings *s, pal_errbuf *msg)
{
    rdlock(s);
    int have = s->policy_error != NULL;
    if (have && msg)
        pal_err_set(msg, 0, "%s", s->policy_error);
    unlock(s);
    return have;
}

int pal_settings_env_error(pal_settings *s, pal_errbuf *msg)
{
    if (s->env_error && msg)
        pal_err_set(msg, 0, "%s", s->env_error);
    return s->env_error != NULL;
}

int pal_settings_problems(pal_settings *s, char ***msgs, size_t *n)
{
    rdlock(s);
    size_t cnt = s->n_pref_problems + 2, k = 0;
    char **list = calloc(cnt, sizeof(*list));
    int ret = list ? 0 : PAL_ENOMEM;
    const char *fixed[2] = {s->policy_error, s->env_error};
    for (size_t i = 0; ret == 0 && i < 2; i++)
        if (fixed[i] && !(list[k++] = strdup(fixed[i])))
            ret = PAL_ENOMEM;
    for (size_t i = 0; ret == 0 && i < s->n_pref_problems; i++)
        if (!(list[k++] = strdup(s->pref_problems[i])))
            ret = PAL_ENOMEM;
    unlock(s);
    if (ret) {
        pal_strlist_free(list, k);
        return ret;
    }
    *msgs = list;
    *n = k;
    return 0;
}

int pal_settings_policy_files(pal_settings *s, char ***paths, size_t *n)
{
    rdlock(s);
    size_t cnt = s->n_policy_files, k = 0;
    char **list = calloc(cnt ? cnt : 1, sizeof(*list));
    int ret = list ? 0 : PAL_ENOMEM;
    for (; ret == 0 && k < cnt; k++)
        if (!(list[k] = strdup(s->policy_files[k])))
            ret = PAL_ENOMEM;
    unlock(s);
    if (ret) {
        pal_strlist_free(list, k);
        return ret;
    }
    *paths = list;
    *n = cnt;
    return 0;
}

int pal_settings_get(pal_settings *s, const char *name, json_t **value, pal_setting_source *source,
                     char **detail, pal_errbuf *err)
{
    shown sh;
    int i = find_index(name);
    if (i < 0)
        return pal_err_set(err, PAL_ENOTFOUND, "unknown setting %s", printable(name, &sh));
    if (!value || !source)
        return pal_err_set(err, PAL_EINVAL, "pal_settings_get: bad arguments");
    pal_setting_source src;
    const char *d;
    rdlock(s);
    json_t *v = json_deep_copy(pal_settings_effective(s, (size_t)i, &src, &d));
    char *dd = d && detail ? strdup(d) : NULL;
    unlock(s);
    if (!v || (d && detail && !dd)) {
        json_decref(v);
        free(dd);
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    *value = v;
    *source = src;
    if (detail)
        *detail = dd;
    return 0;
}

/* The entries in effect of list setting i with their origins (listmerge.h); lock held. */
static json_t *entries_locked(const pal_settings *s, size_t i)
{
    if (s->env[i])
        return pal_listmerge_entries(s->env[i], "Environment", NULL, NULL, NULL, 1);
    return pal_listmerge_entries(s->policy[i], "Policy", s->policy_file[i], s->pref[i],
                                 "Preference", admin_only_file(s) != NULL);
}

int pal_settings_get_entries(pal_settings *s, const char *name, json_t **out, pal_errbuf *err)
{
    shown sh;
    int i = find_index(name);
    if (i < 0)
        return pal_err_set(err, PAL_ENOTFOUND, "unknown setting %s", printable(name, &sh));
    if (registry[i].type != PAL_SETTING_STRLIST || !out)
        return pal_err_set(err, PAL_EINVAL, "%s is not a list setting", registry[i].name);
    rdlock(s);
    json_t *e = entries_locked(s, (size_t)i);
    unlock(s);
    if (!e)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    *out = e;
    return 0;
}

/* Persist a validated value of setting i as uid; wrlock held. */
static int persist(pal_settings *s, size_t i, const json_t *norm, uid_t uid, pal_errbuf *err)
{
    const pal_setting_def *def = &registry[i];
    pal_excl_kind kind = pal_settings_excl_kind(def);
    int ret;
    if (kind) {
        size_t n = json_array_size(norm);
        const char **vals = calloc(n ? n : 1, sizeof(*vals));
        if (!vals)
            return pal_err_set(err, PAL_ENOMEM, "out of memory");
        for (size_t k = 0; k < n; k++)
            vals[k] = json_string_value(json_array_get(norm, k));
        ret = pal_store_exclusion_replace(s->store, kind, vals, n, uid, err);
        free(vals);
        return ret;
    }
    char *text = json_dumps(norm, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    ret = pal_store_pref_set(s->store, def->name, text, uid, err);
    free(text);
    return ret;
}

int pal_settings_set_preference(pal_settings *s, const char *name, const json_t *value, uid_t uid,
                                pal_errbuf *err)
{
    shown sh;
    int i = find_index(name);
    if (i < 0)
        return pal_err_set(err, PAL_ENOTFOUND, "unknown setting %s", printable(name, &sh));
    json_t *norm = NULL;
    int ret = pal_setting_validate(&registry[i], value, &norm, err);
    if (ret)
        return ret;
    json_t *before[N_SETTINGS], *after[N_SETTINGS];
    wrlock(s);
    ret = locked_by(s, (size_t)i, err);
    if (ret == 0)
        ret = persist(s, (size_t)i, norm, uid, err);
    if (ret) {
        unlock(s);
        json_decref(norm);
        return ret;
    }
    snapshot(s, before);
    set_slot(s, (size_t)i, norm);
    snapshot(s, after);
    unlock(s);
    notify(s, before, after);
    return 0;
}

int pal_settings_reset_preference(pal_settings *s, const char *name, uid_t uid, pal_errbuf *err)
{
    shown sh;
    int i = find_index(name);
    if (i < 0)
        return pal_err_set(err, PAL_ENOTFOUND, "unknown setting %s", printable(name, &sh));
    const pal_setting_def *def = &registry[i];
    json_t *before[N_SETTINGS], *after[N_SETTINGS];
    wrlock(s);
    int ret = locked_by(s, (size_t)i, err);
    if (ret == 0 && !s->pref[i])
        ret = pal_err_set(err, PAL_ENOTFOUND, "%s has no preference to reset", def->name);
    if (ret == 0) {
        pal_excl_kind kind = pal_settings_excl_kind(def);
        ret = kind ? pal_store_exclusion_replace(s->store, kind, NULL, 0, uid, err)
                   : pal_store_pref_delete(s->store, def->name, uid, err);
    }
    if (ret) {
        unlock(s);
        return ret;
    }
    snapshot(s, before);
    set_slot(s, (size_t)i, NULL);
    snapshot(s, after);
    unlock(s);
    notify(s, before, after);
    return 0;
}

/* Add (add = 1) or remove one item of list setting name. */
static int change_item(pal_settings *s, const char *name, const char *item, int add, uid_t uid,
                       pal_errbuf *err)
{
    shown sh;
    int i = find_index(name);
    if (i < 0)
        return pal_err_set(err, PAL_ENOTFOUND, "unknown setting %s", printable(name, &sh));
    const pal_setting_def *def = &registry[i];
    if (def->type != PAL_SETTING_STRLIST)
        return pal_err_set(err, PAL_EINVAL, "%s is not a list setting", def->name);
    if (!item)
        return pal_err_set(err, PAL_EINVAL, "%s: no item given", def->name);
    json_t *raw = json_string(item), *norm = NULL;
    if (!raw)
        return pal_err_set(err, PAL_EINVAL, "%s: the item is not valid UTF-8", def->name);
    int ret = pal_settings_check_string(def, raw, &norm, err);
    json_decref(raw);
    if (ret)
        return ret;

    json_t *before[N_SETTINGS], *after[N_SETTINGS];
    json_t *cur = NULL, *next = NULL;
    wrlock(s);
    ret = locked_by(s, (size_t)i, err);
    if (ret)
        goto fail;
    cur = s->pref[i] ? json_deep_copy(s->pref[i]) : json_array();
    if (!cur) {
        ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto fail;
    }
    size_t pos = json_array_size(cur);
    for (size_t k = 0; k < json_array_size(cur); k++)
        if (json_equal(json_array_get(cur, k), norm))
            pos = k;
    const char *v = json_string_value(norm);
    if (add && pos < json_array_size(cur)) {
        ret = pal_err_set(err, PAL_EEXIST, "%s already contains %s", def->name, v);
        goto fail;
    }
    /* an entry from policy is in effect already, and can be removed only where it is set */
    int from_policy = pos == json_array_size(cur) && pal_listmerge_contains(s->policy[i], norm);
    if (add && from_policy) {
        ret = pal_err_set(err, PAL_EEXIST, "%s already contains %s (from policy file %s)",
                          def->name, v, s->policy_file[i]);
        goto fail;
    }
    if (!add && from_policy) {
        ret = pal_err_set(err, PAL_EPOLICY,
                          "%s entry %s comes from policy file %s; it can be removed only there",
                          def->name, v, s->policy_file[i]);
        goto fail;
    }
    if (!add && pos == json_array_size(cur)) {
        ret = pal_err_set(err, PAL_ENOTFOUND, "%s does not contain %s", def->name, v);
        goto fail;
    }
    if (add && json_array_size(cur) >= PAL_SETTINGS_MAX_LIST) {
        ret = pal_err_set(err, PAL_EINVAL, "%s already has %d items, the most allowed", def->name,
                          PAL_SETTINGS_MAX_LIST);
        goto fail;
    }
    if ((add ? json_array_append(cur, norm) : json_array_remove(cur, pos)) != 0) {
        ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto fail;
    }
    next = cur;
    cur = NULL;
    pal_excl_kind kind = pal_settings_excl_kind(def);
    if (kind && add)
        ret = pal_store_exclusion_add(s->store, kind, v, uid, err);
    else if (kind)
        ret = pal_store_exclusion_remove(s->store, kind, v, uid, err);
    else
        ret = persist(s, (size_t)i, next, uid, err);
    if (ret)
        goto fail;
    snapshot(s, before);
    set_slot(s, (size_t)i, next);
    snapshot(s, after);
    unlock(s);
    json_decref(norm);
    notify(s, before, after);
    return 0;
fail:
    unlock(s);
    json_decref(cur);
    json_decref(next);
    json_decref(norm);
    return ret;
}

int pal_settings_add_item(pal_settings *s, const char *name, const char *item, uid_t uid,
                          pal_errbuf *err)
{
    return change_item(s, name, item, 1, uid, err);
}

int pal_settings_remove_item(pal_settings *s, const char *name, const char *item, uid_t uid,
                             pal_errbuf *err)
{
    return change_item(s, name, item, 0, uid, err);
}

/* ---- listing --------------------------------------------------------------------------- */

void pal_setting_values_free(pal_setting_value *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        json_decref(v[i].value);
        json_decref(v[i].entries);
        free(v[i].source_detail);
    }
    free(v);
}

int pal_settings_list(pal_settings *s, pal_setting_value **out, size_t *n)
{
    pal_setting_value *vals = calloc(N_SETTINGS, sizeof(*vals));
    if (!vals)
        return PAL_ENOMEM;
    int ret = 0;
    rdlock(s);
    for (size_t i = 0; i < N_SETTINGS && ret == 0; i++) {
        const char *d;
        vals[i].def = &registry[i];
        vals[i].value = json_deep_copy(pal_settings_effective(s, i, &vals[i].source, &d));
        vals[i].source_detail = dup_msg(d);
        if (registry[i].type == PAL_SETTING_STRLIST && !(vals[i].entries = entries_locked(s, i)))
            ret = PAL_ENOMEM;
        if (!vals[i].value || (d && !vals[i].source_detail))
            ret = PAL_ENOMEM;
    }
    unlock(s);
    if (ret) {
        pal_setting_values_free(vals, N_SETTINGS);
        return ret;
    }
    *out = vals;
    *n = N_SETTINGS;
    return 0;
}

static json_t *def_json(const pal_setting_value *v)
{
    const pal_setting_def *def = v->def;
    json_t *o = json_pack("{ss sO ss so ss so ss}", "name", def->name, "value", v->value, "source",
                          pal_setting_source_name(v->source), "source_detail",
                          v->source_detail ? json_string(v->source_detail) : json_null(), "type",
                          pal_setting_type_name(def->type), "default", pal_setting_default(def),
                          "description", def->description);
    if (!o)
        return NULL;
    int bad = 0;
    if (def->type == PAL_SETTING_ENUM) {
        json_t *allowed = json_array();
        for (size_t k = 0; allowed && def->values[k]; k++)
            bad |= json_array_append_new(allowed, json_string(def->values[k]));
        bad |= json_object_set_new(o, "allowed_values", allowed);
    } else if (def->type == PAL_SETTING_UINT) {
        bad |= json_object_set_new(o, "min", json_integer((json_int_t)def->min));
        bad |= json_object_set_new(o, "max", json_integer((json_int_t)def->max));
    } else if (def->type == PAL_SETTING_STRLIST && v->entries) {
        bad |= json_object_set(o, "entries", v->entries);
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int pal_settings_list_json(pal_settings *s, json_t **out)
{
    pal_setting_value *vals;
    size_t n;
    int ret = pal_settings_list(s, &vals, &n);
    if (ret)
        return ret;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = def_json(&vals[i]);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    pal_setting_values_free(vals, n);
    if (!arr)
        return PAL_ENOMEM;
    *out = arr;
    return 0;
}
