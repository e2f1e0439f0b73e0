/*
 * test_settings.c — the settings registry and its layers: defaults, preferences persisted
 * in a real store, validation messages, the policy directory (order, locking, rejection of
 * bad files with the last good policy kept, ownership checks, persistence across restarts),
 * the MP_FORCE_USE_SANDBOX override, list settings backed by the exclusions table, the
 * listing, change notification and concurrent readers during reloads.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "settings.h"
#include "store.h"

/* ---- fixture --------------------------------------------------------------------------- */

typedef struct fx {
    char dir[128];
    char db[192];
    char policy[192];
    pal_store *st;
    pal_settings *s;
    int changes[64]; /* on_change calls per registry index */
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/pal-settings-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/palisade.db", f->dir);
    snprintf(f->policy, sizeof(f->policy), "%s/policy.d", f->dir);
    assert_int_equal(mkdir(f->policy, 0755), 0);
    pal_errbuf err = {{0}};
    assert_int_equal(pal_store_open(f->db, &f->st, &err), 0);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fx *f = *state;
    pal_settings_free(f->s);
    pal_store_close(f->st);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void on_change(void *ctx, const pal_setting_def *def)
{
    fx *f = ctx;
    size_t n;
    const pal_setting_def *reg = pal_settings_registry(&n);
    f->changes[def - reg]++;
}

static int changes_of(fx *f, const char *name)
{
    size_t n;
    const pal_setting_def *reg = pal_settings_registry(&n);
    return f->changes[pal_setting_find(name) - reg];
}

/* (Re)build f->s with optional MP_FORCE_USE_SANDBOX and PALISADE_FORCE_REAL_TIME_PROTECTION
   values. */
static void make_env(fx *f, const char *force, const char *force_rt)
{
    pal_settings_free(f->s);
    f->s = NULL;
    pal_settings_opts o = {.policy_dir = f->policy,
                           .force_sandbox = force,
                           .force_real_time = force_rt,
                           .check_policy_owner = geteuid() == 0,
                           .on_change = on_change,
                           .on_change_ctx = f};
    pal_errbuf err = {{0}};
    int rc = pal_settings_new(f->st, &o, &f->s, &err);
    if (rc)
        fail_msg("pal_settings_new = %d: %s", rc, err.msg);
}

static void make(fx *f, const char *force)
{
    make_env(f, force, NULL);
}

/* Close and reopen store and settings, as a daemon restart does. */
static void restart(fx *f, const char *force)
{
    pal_settings_free(f->s);
    f->s = NULL;
    pal_store_close(f->st);
    pal_errbuf err = {{0}};
    assert_int_equal(pal_store_open(f->db, &f->st, &err), 0);
    make(f, force);
}

static void write_policy(fx *f, const char *name, const char *text, char *path_out)
{
    char path[320];
    snprintf(path, sizeof(path), "%s/%s", f->policy, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(chmod(path, 0644), 0);
    if (path_out)
        snprintf(path_out, 320, "%s", path);
}

/* Effective value as compact JSON text, and its source. */
static char *get(fx *f, const char *name, pal_setting_source *src, char **detail)
{
    json_t *v = NULL;
    pal_setting_source s;
    char *d = NULL;
    pal_errbuf err = {{0}};
    int rc = pal_settings_get(f->s, name, &v, &s, &d, &err);
    if (rc)
        fail_msg("get %s = %d: %s", name, rc, err.msg);
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(v);
    if (src)
        *src = s;
    if (detail)
        *detail = d;
    else
        free(d);
    return text;
}

static void expect(fx *f, const char *name, const char *json, pal_setting_source src)
{
    pal_setting_source s;
    char *text = get(f, name, &s, NULL);
    if (strcmp(text, json) != 0 || s != src)
        fail_msg("%s = %s (%s), want %s (%s)", name, text, pal_setting_source_name(s), json,
                 pal_setting_source_name(src));
    free(text);
}

/* Set from JSON text; returns the code and leaves the message in err. */
static int set(fx *f, const char *name, const char *json, uid_t uid, pal_errbuf *err)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    assert_non_null(v);
    int rc = pal_settings_set_preference(f->s, name, v, uid, err);
    json_decref(v);
    return rc;
}

static void expect_set_fails(fx *f, const char *name, const char *json, int code,
                             const char *needle)
{
    pal_errbuf err = {{0}};
    int rc = set(f, name, json, 0, &err);
    if (rc != code)
        fail_msg("set %s=%s gave %d (%s), want %d", name, json, rc, err.msg, code);
    if (needle && !strstr(err.msg, needle))
        fail_msg("set %s=%s: message \"%s\" lacks \"%s\"", name, json, err.msg, needle);
}

/* ---- the registry ---------------------------------------------------------------------- */

/* What a change takes is declared by each setting (the daemon acts on these bits): every
   engine limit rebuilds the engine, and nothing else does. */
static void test_registry_applies(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        unsigned applies;
    } want[] = {
        {"SandboxMode", PAL_APPLY_SANDBOX},      {"ScanThreads", PAL_APPLY_SLOTS},
        {"MaxRecursionDepth", PAL_APPLY_ENGINE}, {"MaxMembersPerContainer", PAL_APPLY_ENGINE},
        {"MaxExpandedBytes", PAL_APPLY_ENGINE},  {"MaxExpansionRatio", PAL_APPLY_ENGINE},
        {"MaxObjectSize", PAL_APPLY_ENGINE},     {"MaxScanSecondsPerObject", PAL_APPLY_ENGINE},
        {"AdminGroup", PAL_APPLY_ADMIN},         {"ClientIdleTimeoutSeconds", PAL_APPLY_CONTROL},
        {"ScanCacheEnabled", PAL_APPLY_NOTHING}, {"ExclusionPath", PAL_APPLY_RTP},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const pal_setting_def *def = pal_setting_find(want[i].name);
        assert_non_null(def);
        assert_int_equal(def->applies, want[i].applies);
    }
    /* the security events' sinks are reconfigured when one of these changes */
    static const char *const events[] = {"EventSyslogTarget", "EventSyslogFacility",
                                         "EventClamAvCompatible"};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        assert_int_equal(pal_setting_find(events[i])->applies, PAL_APPLY_EVENTS);
    size_t n;
    const pal_setting_def *reg = pal_settings_registry(&n);
    size_t engine = 0;
    for (size_t i = 0; i < n; i++)
        engine += (reg[i].applies & PAL_APPLY_ENGINE) != 0;
    assert_int_equal(engine, 6);
}

static void test_registry(void **state)
{
    (void)state;
    size_t n;
    const pal_setting_def *reg = pal_settings_registry(&n);
    static const char *const required[] = {"SandboxMode",
                                           "ScanThreads",
                                           "MaxRecursionDepth",
                                           "MaxMembersPerContainer",
                                           "MaxExpandedBytes",
                                           "MaxExpansionRatio",
                                           "MaxObjectSize",
                                           "MaxScanSecondsPerObject",
                                           "LowThreatDefaultAction",
                                           "ModerateThreatDefaultAction",
                                           "HighThreatDefaultAction",
                                           "SevereThreatDefaultAction",
                                           "ExclusionPath",
                                           "ExclusionExtension",
                                           "ExclusionsMergePolicy",
                                           "ScanCacheEnabled",
                                           "QuarantineRetentionDays",
                                           "QuarantineMaxItemBytes",
                                           "QuarantineMaxTotalBytes",
                                           "QuarantineMinFreePercent",
                                           "AdminGroup",
                                           "CoreDumpsEnabled",
                                           "ContentProcessTimeoutSeconds"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!pal_setting_find(required[i]))
            fail_msg("registry lacks %s", required[i]);
    for (size_t i = 0; i < n; i++) {
        const pal_setting_def *d = &reg[i];
        assert_true(d->description && strlen(d->description) > 20);
        assert_non_null(pal_setting_type_name(d->type));
        assert_true(d->name[0] >= 'A' && d->name[0] <= 'Z'); /* PascalCase */
        for (size_t k = i + 1; k < n; k++)
            assert_int_not_equal(strcasecmp(d->name, reg[k].name), 0);
        /* every default is valid and already canonical */
        json_t *def = pal_setting_default(d), *norm = NULL;
        pal_errbuf err = {{0}};
        if (pal_setting_validate(d, def, &norm, &err) != 0)
            fail_msg("default of %s invalid: %s", d->name, err.msg);
        assert_true(json_equal(def, norm));
        json_decref(def);
        json_decref(norm);
        if (d->type == PAL_SETTING_UINT)
            assert_true(d->min <= d->def_uint && d->def_uint <= d->max);
    }
    assert_ptr_equal(pal_setting_find("sandboxmode"), pal_setting_find("SandboxMode"));
    assert_null(pal_setting_find("NoSuchSetting"));
}

static void test_defaults(void **state)
{
    fx *f = *state;
    make(f, NULL);
    expect(f, "SandboxMode", "\"Enabled\"", PAL_SOURCE_DEFAULT);
    expect(f, "ScanThreads", "0", PAL_SOURCE_DEFAULT);
    expect(f, "ScanCacheEnabled", "true", PAL_SOURCE_DEFAULT);
    expect(f, "CoreDumpsEnabled", "false", PAL_SOURCE_DEFAULT);
    expect(f, "QuarantineRetentionDays", "90", PAL_SOURCE_DEFAULT);
    expect(f, "QuarantineMaxItemBytes", "536870912", PAL_SOURCE_DEFAULT);
    expect(f, "QuarantineMaxTotalBytes", "4294967296", PAL_SOURCE_DEFAULT);
    expect(f, "QuarantineMinFreePercent", "5", PAL_SOURCE_DEFAULT);
    expect(f, "ContentProcessTimeoutSeconds", "60", PAL_SOURCE_DEFAULT);
    expect(f, "AdminGroup", "\"palisade-admin\"", PAL_SOURCE_DEFAULT);
    expect(f, "ExclusionPath", "[]", PAL_SOURCE_DEFAULT);
    expect(f, "SevereThreatDefaultAction", "\"Quarantine\"", PAL_SOURCE_DEFAULT);

    uint64_t u;
    int b;
    char *str;
    char **list;
    size_t n;
    assert_int_equal(pal_settings_get_uint(f->s, "QuarantineRetentionDays", &u), 0);
    assert_int_equal(u, 90);
    assert_int_equal(pal_settings_get_bool(f->s, "ScanCacheEnabled", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(pal_settings_get_string(f->s, "AdminGroup", &str), 0);
    assert_string_equal(str, "palisade-admin");
    free(str);
    assert_int_equal(pal_settings_get_string(f->s, "SandboxMode", &str), 0);
    assert_string_equal(str, "Enabled");
    free(str);
    assert_int_equal(pal_settings_get_strlist(f->s, "ExclusionExtension", &list, &n), 0);
    assert_int_equal(n, 0);
    pal_strlist_free(list, n);
    assert_int_equal(pal_settings_get_uint(f->s, "SandboxMode", &u), PAL_EINVAL);
    assert_int_equal(pal_settings_get_bool(f->s, "Nope", &b), PAL_ENOTFOUND);
    assert_int_equal(pal_settings_sandbox_enabled(f->s), 1);

    pal_limits lim;
    assert_int_equal(pal_settings_limits(f->s, &lim), 0);
    assert_int_equal(lim.max_depth, PAL_DEFAULT_MAX_DEPTH);
    assert_true(lim.max_members == PAL_DEFAULT_MAX_MEMBERS);
    assert_true(lim.max_expanded_bytes == PAL_DEFAULT_MAX_EXPANDED_BYTES);
    assert_int_equal(lim.max_ratio, PAL_DEFAULT_MAX_RATIO);
    assert_true(lim.max_object_size == PAL_DEFAULT_MAX_OBJECT_SIZE);
    assert_int_equal(lim.max_scan_ms, PAL_DEFAULT_MAX_SCAN_MS);
    pal_action act;
    for (int sev = PAL_SEV_LOW; sev <= PAL_SEV_SEVERE; sev++) {
        assert_int_equal(pal_settings_default_action(f->s, (pal_severity)sev, &act), 0);
        assert_int_equal(act, PAL_ACTION_QUARANTINE);
    }
    assert_int_equal(pal_settings_default_action(f->s, (pal_severity)0, &act), PAL_EINVAL);

    pal_errbuf msg;
    assert_int_equal(pal_settings_policy_error(f->s, &msg), 0);
    assert_int_equal(pal_settings_env_error(f->s, &msg), 0);
    char **probs;
    assert_int_equal(pal_settings_problems(f->s, &probs, &n), 0);
    assert_int_equal(n, 0);
    pal_strlist_free(probs, n);
}

static void test_preference_persisted(void **state)
{
    fx *f = *state;
    make(f, NULL);
    pal_errbuf err = {{0}};
    assert_int_equal(set(f, "ScanThreads", "4", 1000, &err), 0);
    assert_int_equal(set(f, "sandboxmode", "\"disabled\"", 1001, &err), 0); /* any case */
    assert_int_equal(set(f, "MaxScanSecondsPerObject", "30", 1000, &err), 0);
    assert_int_equal(set(f, "SevereThreatDefaultAction", "\"remove\"", 1000, &err), 0);
    expect(f, "ScanThreads", "4", PAL_SOURCE_PREFERENCE);
    expect(f, "SandboxMode", "\"Disabled\"", PAL_SOURCE_PREFERENCE);
    assert_int_equal(pal_settings_sandbox_enabled(f->s), 0);
    assert_int_equal(changes_of(f, "SandboxMode"), 1);

    /* the store holds the canonical value and an audit row with the peer's uid */
    pal_audit_rec *a;
    size_t n;
    assert_int_equal(pal_store_audit_list(f->st, 0, 0, &a, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_string_equal(a[2].target, "SandboxMode");
    assert_string_equal(a[2].new_value, "\"Disabled\"");
    assert_null(a[2].old_value);
    assert_int_equal(a[2].uid, 1001);
    pal_audit_recs_free(a, n);

    restart(f, NULL);
    expect(f, "ScanThreads", "4", PAL_SOURCE_PREFERENCE);
    expect(f, "SandboxMode", "\"Disabled\"", PAL_SOURCE_PREFERENCE);
    pal_limits lim;
    assert_int_equal(pal_settings_limits(f->s, &lim), 0);
    assert_int_equal(lim.max_scan_ms, 30000);
    pal_action act;
    assert_int_equal(pal_settings_default_action(f->s, PAL_SEV_SEVERE, &act), 0);
    assert_int_equal(act, PAL_ACTION_REMOVE);
    assert_int_equal(pal_settings_default_action(f->s, PAL_SEV_LOW, &act), 0);
    assert_int_equal(act, PAL_ACTION_QUARANTINE);

    /* setting the same value again changes nothing anyone waits for */
    memset(f->changes, 0, sizeof(f->changes));
    assert_int_equal(set(f, "ScanThreads", "4", 0, &err), 0);
    assert_int_equal(changes_of(f, "ScanThreads"), 0);

    /* reset goes back to the default, and is persisted */
    assert_int_equal(pal_settings_reset_preference(f->s, "ScanThreads", 0, &err), 0);
    expect(f, "ScanThreads", "0", PAL_SOURCE_DEFAULT);
    assert_int_equal(changes_of(f, "ScanThreads"), 1);
    assert_int_equal(pal_settings_reset_preference(f->s, "ScanThreads", 0, &err), PAL_ENOTFOUND);
    restart(f, NULL);
    expect(f, "ScanThreads", "0", PAL_SOURCE_DEFAULT);
}

static void test_validation(void **state)
{
    fx *f = *state;
    make(f, NULL);
    expect_set_fails(f, "ScanThreads", "65", PAL_EINVAL,
                     "ScanThreads must be an integer from 0 to 64 (got 65)");
    expect_set_fails(f, "ScanThreads", "-1", PAL_EINVAL, "from 0 to 64");
    expect_set_fails(f, "ScanThreads", "\"8\"", PAL_EINVAL, "(got \"8\")");
    expect_set_fails(f, "ScanThreads", "2.5", PAL_EINVAL, "integer");
    expect_set_fails(f, "SandboxMode", "\"Maybe\"", PAL_EINVAL,
                     "SandboxMode must be one of Enabled, Disabled (got \"Maybe\")");
    expect_set_fails(f, "SandboxMode", "1", PAL_EINVAL, "one of Enabled, Disabled");
    expect_set_fails(f, "HighThreatDefaultAction", "\"Clean\"", PAL_EINVAL,
                     "one of Quarantine, Remove, NoAction");
    expect_set_fails(f, "ScanCacheEnabled", "1", PAL_EINVAL,
                     "ScanCacheEnabled must be true or false (got 1)");
    expect_set_fails(f, "ExclusionPath", "\"/srv\"", PAL_EINVAL, "must be a list of strings");
    expect_set_fails(f, "ExclusionPath", "[\"/srv\", 3]", PAL_EINVAL, "item 1");
    expect_set_fails(f, "ExclusionPath", "[\"srv/build\"]", PAL_EINVAL,
                     "\"srv/build\" is not an absolute path");
    expect_set_fails(f, "ExclusionPath", "[\"/srv/../etc\"]", PAL_EINVAL, "\"..\"");
    expect_set_fails(f, "ExclusionPath", "[\"/srv/a\\nb\"]", PAL_EINVAL, "control character");
    expect_set_fails(f, "ExclusionPath", "[\"/srv/a\\u0000b\"]", PAL_EINVAL, "NUL");
    expect_set_fails(f, "ExclusionExtension", "[\"a/b\"]", PAL_EINVAL, "not a file extension");
    expect_set_fails(f, "ExclusionExtension", "[\".\"]", PAL_EINVAL, "not a file extension");
    expect_set_fails(f, "AdminGroup", "\"bad name\"", PAL_EINVAL, "not a valid group name");
    expect_set_fails(f, "AdminGroup", "\"\"", PAL_EINVAL, "empty");
    expect_set_fails(f, "MaxObjectSize", "1", PAL_EINVAL, "MaxObjectSize must be");
    expect_set_fails(f, "NoSuchSetting", "1", PAL_ENOTFOUND, "NoSuchSetting");

    /* a list longer than the limit */
    json_t *big = json_array();
    char item[32];
    for (int i = 0; i <= PAL_SETTINGS_MAX_LIST; i++) {
        snprintf(item, sizeof(item), "/p%d", i);
        json_array_append_new(big, json_string(item));
    }
    pal_errbuf err = {{0}};
    assert_int_equal(pal_settings_set_preference(f->s, "ExclusionPath", big, 0, &err), PAL_EINVAL);
    json_decref(big);

    /* nothing invalid reached the store */
    pal_pref *p;
    size_t n;
    assert_int_equal(pal_store_pref_get_all(f->st, &p, &n, &err), 0);
    assert_int_equal(n, 0);
    pal_prefs_free(p, n);
    expect(f, "ScanThreads", "0", PAL_SOURCE_DEFAULT);
}

static void test_list_settings(void **state)
{
    fx *f = *state;
    make(f, NULL);
    pal_errbuf err = {{0}};
    assert_int_equal(pal_settings_add_item(f->s, "ExclusionPath", "/srv//build/", 1000, &err), 0);
    assert_int_equal(pal_settings_add_item(f->s, "ExclusionPath", "/srv/build", 1000, &err),
                     PAL_EEXIST);
    assert_non_null(strstr(err.msg, "ExclusionPath already contains /srv/build"));
    assert_int_equal(pal_settings_add_item(f->s, "ExclusionPath", "/var/cache/*", 1000, &err), 0);
    assert_int_equal(pal_settings_add_item(f->s, "ExclusionPath", "relative", 1000, &err),
                     PAL_EINVAL);
    assert_int_equal(pal_settings_add_item(f->s, "ScanThreads", "1", 1000, &err), PAL_EINVAL);
    expect(f, "ExclusionPath", "[\"/srv/build\",\"/var/cache/*\"]", PAL_SOURCE_PREFERENCE);
    assert_int_equal(changes_of(f, "ExclusionPath"), 2);

    assert_int_equal(
        set(f, "ExclusionExtension", "[\".log\", \"iso\", \"log\", \"tar.gz\"]", 1000, &err), 0);
    expect(f, "ExclusionExtension", "[\"log\",\"iso\",\"tar.gz\"]", PAL_SOURCE_PREFERENCE);

    /* stored in the exclusions table, audited, and kept across a restart */
    pal_exclusion *e;
    size_t n;
    assert_int_equal(pal_store_exclusion_list(f->st, PAL_EXCL_PATH, &e, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(e[0].value, "/srv/build");
    pal_exclusions_free(e, n);
    restart(f, NULL);
    char **list;
    assert_int_equal(pal_settings_get_strlist(f->s, "ExclusionPath", &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[1], "/var/cache/*");
    pal_strlist_free(list, n);

    assert_int_equal(pal_settings_remove_item(f->s, "ExclusionPath", "/srv/build/", 7, &err), 0);
    assert_int_equal(pal_settings_remove_item(f->s, "ExclusionPath", "/srv/build", 7, &err),
                     PAL_ENOTFOUND);
    expect(f, "ExclusionPath", "[\"/var/cache/*\"]", PAL_SOURCE_PREFERENCE);
    assert_int_equal(pal_settings_remove_item(f->s, "ExclusionPath", "/var/cache/*", 7, &err), 0);
    expect(f, "ExclusionPath", "[]", PAL_SOURCE_DEFAULT);
    assert_int_equal(pal_settings_reset_preference(f->s, "ExclusionExtension", 7, &err), 0);
    expect(f, "ExclusionExtension", "[]", PAL_SOURCE_DEFAULT);
    pal_audit_rec *a;
    assert_int_equal(pal_store_audit_list(f->st, 0, 1, &a, &n, &err), 0);
    assert_string_equal(a[0].action, "SetExclusions");
    assert_string_equal(a[0].new_value, "[]");
    assert_int_equal(a[0].uid, 7);
    pal_audit_recs_free(a, n);
}

/* ---- policy ---------------------------------------------------------------------------- */

static void test_policy_overrides_and_locks(void **state)
{
    fx *f = *state;
    make(f, NULL);
    pal_errbuf err = {{0}};
    assert_int_equal(set(f, "SandboxMode", "\"Disabled\"", 0, &err), 0);
    assert_int_equal(set(f, "ScanThreads", "4", 0, &err), 0);

    char site[320];
    write_policy(f, "10-site.json",
                 "{\"SandboxMode\": \"Enabled\", \"ExclusionPath\": [\"/srv/build\"]}", site);
    memset(f->changes, 0, sizeof(f->changes));
    assert_int_equal(pal_settings_reload_policy(f->s, &err), 0);
    assert_int_equal(changes_of(f, "SandboxMode"), 1);
    assert_int_equal(changes_of(f, "ExclusionPath"), 1);
    assert_int_equal(changes_of(f, "ScanThreads"), 0);

    pal_setting_source src;
    char *detail = NULL;
    char *v = get(f, "SandboxMode", &src, &detail);
    assert_string_equal(v, "\"Enabled\"");
    assert_int_equal(src, PAL_SOURCE_POLICY);
    assert_string_equal(detail, site);
    free(v);
    free(detail);
    expect(f, "ScanThreads", "4", PAL_SOURCE_PREFERENCE); /* not managed: preference stands */

    /* a managed setting is read-only to the control socket, and says which file manages it */
    char want[512];
    snprintf(want, sizeof(want), "SandboxMode is managed by policy file %s", site);
    expect_set_fails(f, "SandboxMode", "\"Disabled\"", PAL_EPOLICY, want);
    assert_int_equal(pal_settings_reset_preference(f->s, "SandboxMode", 0, &err), PAL_EPOLICY);
    /* a list's policy entries stand beside local ones (ExclusionsMergePolicy Merge) */
    assert_int_equal(pal_settings_add_item(f->s, "ExclusionPath", "/home", 0, &err), 0);
    expect(f, "ExclusionPath", "[\"/srv/build\",\"/home\"]", PAL_SOURCE_POLICY);
    assert_int_equal(pal_settings_remove_item(f->s, "ExclusionPath", "/home", 0, &err), 0);
    expect(f, "ExclusionPath", "[\"/srv/build\"]", PAL_SOURCE_POLICY);

    char **files;
    size_t n;
    assert_int_equal(pal_settings_policy_files(f->s, &files, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(files[0], site);
    pal_strlist_free(files, n);

    /* the policy goes: the preference underneath is back */
    assert_int_equal(unlink(site), 0);
    assert_int_equal(pal_settings_reload_policy(f->s, &err), 0);
    expect(f, "SandboxMode", "\"Disabled\"", PAL_SOURCE_PREFERENCE);
    expect(f, "ExclusionPath", "[]", PAL_SOURCE_DEFAULT);
    assert_int_equal(set(f, "SandboxMode", "\"Enabled\"", 0, &err), 0);
}

/* Entries of list setting name as "value@source" separated by spaces (policy file paths
   are checked separately). */
static char *entries_text(fx *f, const char *name)
{
    json_t *e = NULL;
    pal_errbuf err = {{0}};
    int rc = pal_settings_get_entries(f->s, name, &e, &err);
    if (rc)
        fail_msg("get_entries %s = %d: %s", name, rc, err.msg);
    static char buf[1024];
    size_t o = 0;
    buf[0] = '\0';
    size_t i;
    json_t *it;
    json_array_foreach(e, i, it)
    {
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s@%s", i ? " " : "",
                              json_string_value(json_object_get(it, "value")),
                              json_string_value(json_object_get(it, "source")));
        const json_t *file = json_object_get(it, "file");
        const char *src = json_string_value(json_object_get(it, "source"));
        /* a policy entry names its file, a local one has none */
        assert_true(strcmp(src, "Policy") == 0 ? json_is_string(file) : json_is_null(file));
    }
    json_decref(e);
    return buf;
}

static void test_list_merge_policy(void **state)
{
    fx *f = *state;
    make(f, NULL);
    pal_errbuf err = {{0}};
    char site[320], merge[320];
    /* ten local exclusions, then a policy with one */
    for (int k = 0; k < 10; k++) {
        char item[64];
        snprintf(item, sizeof(item), "/srv/local%d", k);
        assert_int_equal(pal_settings_add_item(f->s, "ExclusionPath", item, 0, &err), 0);
    }
    assert_int_equal(pal_settings_add_item(f->s, "ExclusionExtension", "log", 0, &err), 0);
    write_policy(f, "10-site.json", "{\"ExclusionPath\": [\"/srv/policy-excl\", \"/srv/local3\"]}",
                 site);
    memset(f->changes, 0, sizeof(f->changes));
    assert_int_equal(pal_settings_reload_policy(f->s, &err), 0);
    assert_int_equal(changes_of(f, "ExclusionPath"), 1);

    /* Merge (the default): the walker's getter sees all eleven, the policy's first */
    char **list;
    size_t n;
    assert_int_equal(pal_settings_get_strlist(f->s, "ExclusionPath", &list, &n), 0);
    assert_int_equal(n, 11);
    assert_string_equal(list[0], "/srv/policy-excl");
    assert_string_equal(list[1], "/srv/local3");
    assert_string_equal(list[10], "/srv/local9");
    pal_strlist_free(list, n);
    const char *t = entries_text(f, "ExclusionPath");
    assert_non_null(strstr(t, "/srv/policy-excl@Policy /srv/local3@Policy /srv/local0@Preference"));
    assert_non_null(strstr(t, "/srv/local9@Preference"));
    json_t *e = NULL;
    assert_int_equal(pal_settings_get_entries(f->s, "ExclusionPath", &e, &err), 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(e, 0), "file")), site);
    json_decref(e);
    assert_string_equal(entries_text(f, "ExclusionExtension"), "log@Preference");
    assert_int_equal(pal_settings_get_entries(f->s, "ScanThreads", &e, &err), PAL_EINVAL);

    /* local entries stay editable; a policy entry is removed only in its file */
    assert_int_equal(pal_settings_add_item(f->s, "ExclusionPath", "/srv/new", 0, &err), 0);
    assert_int_equal(pal_settings_add_item(f->s, "ExclusionPath", "/srv/policy-excl", 0, &err),
                     PAL_EEXIST);
    assert_non_null(strstr(err.msg, site));
    assert_int_equal(pal_settings_remove_item(f->s, "ExclusionPath", "/srv/policy-excl", 0, &err),
                     PAL_EPOLICY);
    assert_non_null(strstr(err.msg, "comes from policy file"));
    assert_non_null(strstr(err.msg, site));
    /* in both layers: the local copy goes, the entry stays in effect through policy */
    assert_int_equal(pal_settings_remove_item(f->s, "ExclusionPath", "/srv/local3", 0, &err), 0);
    assert_int_equal(pal_settings_remove_item(f->s, "ExclusionPath", "/srv/local3", 0, &err),
                     PAL_EPOLICY);
    assert_int_equal(pal_settings_remove_item(f->s, "ExclusionPath", "/srv/none", 0, &err),
                     PAL_ENOTFOUND);
    assert_int_equal(pal_settings_get_strlist(f->s, "ExclusionPath", &list, &n), 0);
    assert_int_equal(n, 12); /* policy 2 + local0..9 but local3 + /srv/new */
    pal_strlist_free(list, n);

    /* the merge policy is managed-only */
    expect_set_fails(f, "ExclusionsMergePolicy", "\"AdminOnly\"", PAL_EPOLICY,
                     "only in a policy file");
    expect(f, "ExclusionsMergePolicy", "\"Merge\"", PAL_SOURCE_DEFAULT);

    /* AdminOnly: only the policy's entries apply, local ones are locked but kept */
    write_policy(f, "20-merge.json", "{\"ExclusionsMergePolicy\": \"adminonly\"}", merge);
    memset(f->changes, 0, sizeof(f->changes));
    assert_int_equal(pal_settings_reload_policy(f->s, &err), 0);
    assert_int_equal(changes_of(f, "ExclusionPath"), 1);
    assert_int_equal(changes_of(f, "ExclusionExtension"), 1);
    expect(f, "ExclusionsMergePolicy", "\"AdminOnly\"", PAL_SOURCE_POLICY);
    expect(f, "ExclusionPath", "[\"/srv/policy-excl\",\"/srv/local3\"]", PAL_SOURCE_POLICY);
    pal_setting_source src;
    char *detail = NULL;
    char *v = get(f, "ExclusionExtension", &src, &detail);
    assert_string_equal(v, "[]"); /* policy sets none: none applies */
    assert_int_equal(src, PAL_SOURCE_POLICY);
    assert_string_equal(detail, merge);
    free(v);
    free(detail);
    assert_string_equal(entries_text(f, "ExclusionPath"),
                        "/srv/policy-excl@Policy /srv/local3@Policy");
    assert_int_equal(pal_settings_add_item(f->s, "ExclusionPath", "/srv/more", 0, &err),
                     PAL_EPOLICY);
    assert_non_null(strstr(err.msg, "AdminOnly"));
    assert_non_null(strstr(err.msg, merge));
    assert_int_equal(pal_settings_remove_item(f->s, "ExclusionPath", "/srv/new", 0, &err),
                     PAL_EPOLICY);
    expect_set_fails(f, "ExclusionExtension", "[\"iso\"]", PAL_EPOLICY, "AdminOnly");

    /* back to Merge (and across a restart): the local entries were kept */
    assert_int_equal(unlink(merge), 0);
    assert_int_equal(pal_settings_reload_policy(f->s, &err), 0);
    restart(f, NULL);
    assert_int_equal(pal_settings_get_strlist(f->s, "ExclusionPath", &list, &n), 0);
    assert_int_equal(n, 12);
    pal_strlist_free(list, n);
    assert_string_equal(entries_text(f, "ExclusionExtension"), "log@Preference");

    /* the listing carries the entries of every list setting */
    json_t *arr;
    assert_int_equal(pal_settings_list_json(f->s, &arr), 0);
    size_t i;
    json_t *o;
    int lists = 0;
    json_array_foreach(arr, i, o)
    {
        const json_t *ent = json_object_get(o, "entries");
        if (strcmp(json_string_value(json_object_get(o, "type")), "list") == 0) {
            assert_true(json_is_array(ent));
            lists++;
        } else {
            assert_null(ent);
        }
        if (strcmp(json_string_value(json_object_get(o, "name")), "ExclusionPath") == 0)
            assert_int_equal(json_array_size(ent), 12);
    }
    assert_true(lists >= 2);
    json_decref(arr);
}

static void test_policy_order(void **state)
{
    fx *f = *state;
    char a[320], b[320];
    write_policy(f, "20-team.json", "{\"ScanThreads\": 3, \"QuarantineRetentionDays\": 30}", b);
    write_policy(f, "10-site.json", "{\"ScanThreads\": 2, \"AdminGroup\": \"secops\"}", a);
    write_policy(f, ".10-site.json", "garbage", NULL);  /* hidden: ignored */
    write_policy(f, "README", "not json either", NULL); /* not *.json: ignored */
    make(f, NULL);
    pal_setting_source src;
    char *detail;
    char *v = get(f, "ScanThreads", &src, &detail);
    assert_string_equal(v, "3"); /* the later file wins */
    assert_string_equal(detail, b);
    free(v);
    free(detail);
    v = get(f, "AdminGroup", &src, &detail);
    assert_string_equal(v, "\"secops\"");
    assert_string_equal(detail, a);
    free(v);
    free(detail);
    char **files;
    size_t n;
    assert_int_equal(pal_settings_policy_files(f->s, &files, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(files[0], a);
    assert_string_equal(files[1], b);
    pal_strlist_free(files, n);
}

/* A reload that must fail, keep ScanThreads=2 from good.json, and report why. */
static void expect_reload_rejected(fx *f, const char *name, const char *text, int code,
                                   const char *needle)
{
    char path[320];
    write_policy(f, name, text, path);
    pal_errbuf err = {{0}};
    int rc = pal_settings_reload_policy(f->s, &err);
    if (rc != code)
        fail_msg("reload with %s gave %d (%s), want %d", name, rc, err.msg, code);
    if (!strstr(err.msg, path) || (needle && !strstr(err.msg, needle)))
        fail_msg("reload with %s: message \"%s\" lacks the file or \"%s\"", name, err.msg, needle);
    expect(f, "ScanThreads", "2", PAL_SOURCE_POLICY);
    pal_errbuf msg = {{0}};
    assert_int_equal(pal_settings_policy_error(f->s, &msg), 1);
    assert_string_equal(msg.msg, err.msg);
    char **probs;
    size_t n;
    assert_int_equal(pal_settings_problems(f->s, &probs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(probs[0], err.msg);
    pal_strlist_free(probs, n);
    assert_int_equal(unlink(path), 0);
}

static void test_policy_rejected_keeps_last_good(void **state)
{
    fx *f = *state;
    write_policy(f, "10-good.json", "{\"ScanThreads\": 2}", NULL);
    make(f, NULL);
    expect(f, "ScanThreads", "2", PAL_SOURCE_POLICY);

    expect_reload_rejected(f, "30-bad.json", "{ \"ScanThreads\": 3,", PAL_EFORMAT, "line");
    expect_reload_rejected(f, "30-bad.json", "[\"ScanThreads\"]", PAL_EFORMAT,
                           "must be a JSON object");
    expect_reload_rejected(f, "30-bad.json", "{\"ScanThreads\": 3, \"ScanThreads\": 4}",
                           PAL_EFORMAT, "duplicate");
    expect_reload_rejected(f, "30-bad.json", "{\"ScanThreads\": 3, \"scanthreads\": 4}", PAL_EINVAL,
                           "appears twice");
    expect_reload_rejected(f, "30-bad.json", "{\"ScanThreads\": 3, \"TurboMode\": true}",
                           PAL_EINVAL, "unknown setting \"TurboMode\"");
    expect_reload_rejected(f, "30-bad.json", "{\"ScanThreads\": \"3\"}", PAL_EINVAL,
                           "ScanThreads must be an integer from 0 to 64");
    expect_reload_rejected(f, "30-bad.json", "{\"SandboxMode\": \"Off\"}", PAL_EINVAL,
                           "SandboxMode must be one of Enabled, Disabled");
    expect_reload_rejected(f, "30-bad.json", "{\"ExclusionPath\": [\"tmp\"]}", PAL_EINVAL,
                           "not an absolute path");
    /* a directory named *.json is not a policy file */
    char d[320];
    snprintf(d, sizeof(d), "%s/40-dir.json", f->policy);
    assert_int_equal(mkdir(d, 0755), 0);
    pal_errbuf err = {{0}};
    assert_int_equal(pal_settings_reload_policy(f->s, &err), PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "not a regular file"));
    assert_int_equal(rmdir(d), 0);

    /* fixed: the error clears and the new policy applies */
    write_policy(f, "30-fixed.json", "{\"ScanThreads\": 5}", NULL);
    assert_int_equal(pal_settings_reload_policy(f->s, &err), 0);
    expect(f, "ScanThreads", "5", PAL_SOURCE_POLICY);
    pal_errbuf msg;
    assert_int_equal(pal_settings_policy_error(f->s, &msg), 0);
}

static void test_policy_ownership(void **state)
{
    fx *f = *state;
    if (geteuid() != 0)
        skip(); /* the checks apply only when the daemon runs as root */
    write_policy(f, "10-good.json", "{\"ScanThreads\": 2}", NULL);
    make(f, NULL);
    char path[320];
    write_policy(f, "20-open.json", "{\"ScanThreads\": 9}", path);
    assert_int_equal(chmod(path, 0666), 0);
    pal_errbuf err = {{0}};
    assert_int_equal(pal_settings_reload_policy(f->s, &err), PAL_EPERM);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "writable by others"));
    expect(f, "ScanThreads", "2", PAL_SOURCE_POLICY);

    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(chown(path, 65534, 0), 0);
    assert_int_equal(pal_settings_reload_policy(f->s, &err), PAL_EPERM);
    assert_non_null(strstr(err.msg, "not owned by root"));
    assert_int_equal(chown(path, 0, 0), 0);

    assert_int_equal(chmod(f->policy, 0757), 0);
    assert_int_equal(pal_settings_reload_policy(f->s, &err), PAL_EPERM);
    assert_non_null(strstr(err.msg, "policy directory"));
    assert_int_equal(chmod(f->policy, 0755), 0);

    assert_int_equal(pal_settings_reload_policy(f->s, &err), 0);
    expect(f, "ScanThreads", "9", PAL_SOURCE_POLICY);

    /* without the check (a daemon not running as root) the file is accepted */
    assert_int_equal(chmod(path, 0666), 0);
    pal_settings_free(f->s);
    f->s = NULL;
    pal_settings_opts o = {.policy_dir = f->policy, .check_policy_owner = 0};
    assert_int_equal(pal_settings_new(f->st, &o, &f->s, &err), 0);
    expect(f, "ScanThreads", "9", PAL_SOURCE_POLICY);
}

static void test_policy_last_good_survives_restart(void **state)
{
    fx *f = *state;
    char path[320];
    write_policy(f, "10-site.json", "{\"SandboxMode\": \"Disabled\"}", path);
    make(f, NULL);
    expect(f, "SandboxMode", "\"Disabled\"", PAL_SOURCE_POLICY);

    /* broken while the daemon was down: what the site had locked stays locked */
    write_policy(f, "10-site.json", "{\"SandboxMode\": ", NULL);
    restart(f, NULL);
    pal_setting_source src;
    char *detail;
    char *v = get(f, "SandboxMode", &src, &detail);
    assert_string_equal(v, "\"Disabled\"");
    assert_int_equal(src, PAL_SOURCE_POLICY);
    assert_string_equal(detail, path);
    free(v);
    free(detail);
    pal_errbuf msg = {{0}};
    assert_int_equal(pal_settings_policy_error(f->s, &msg), 1);
    assert_non_null(strstr(msg.msg, path));
    assert_non_null(strstr(msg.msg, "last good policy"));
    expect_set_fails(f, "SandboxMode", "\"Enabled\"", PAL_EPOLICY, "managed by policy file");

    /* a policy directory that went away is an empty policy, not an error */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(f->policy), 0);
    pal_errbuf err = {{0}};
    assert_int_equal(pal_settings_reload_policy(f->s, &err), 0);
    expect(f, "SandboxMode", "\"Enabled\"", PAL_SOURCE_DEFAULT);
    assert_int_equal(pal_settings_policy_error(f->s, &msg), 0);
}

/* ---- environment ----------------------------------------------------------------------- */

static void test_environment_override(void **state)
{
    fx *f = *state;
    char path[320];
    write_policy(f, "10-site.json", "{\"SandboxMode\": \"Enabled\"}", path);
    make(f, "0");
    pal_setting_source src;
    char *detail;
    char *v = get(f, "SandboxMode", &src, &detail);
    assert_string_equal(v, "\"Disabled\""); /* over the policy too */
    assert_int_equal(src, PAL_SOURCE_ENVIRONMENT);
    assert_string_equal(detail, "MP_FORCE_USE_SANDBOX=0");
    free(v);
    free(detail);
    assert_int_equal(pal_settings_sandbox_enabled(f->s), 0);
    expect_set_fails(f, "SandboxMode", "\"Enabled\"", PAL_EPOLICY, "MP_FORCE_USE_SANDBOX");
    /* other settings are untouched by it */
    pal_errbuf err = {{0}};
    assert_int_equal(set(f, "ScanThreads", "2", 0, &err), 0);

    make(f, "1");
    expect(f, "SandboxMode", "\"Enabled\"", PAL_SOURCE_ENVIRONMENT);
    assert_int_equal(pal_settings_env_error(f->s, NULL), 0);

    /* anything else is ignored and reported */
    assert_int_equal(unlink(path), 0);
    make(f, "yes");
    expect(f, "SandboxMode", "\"Enabled\"", PAL_SOURCE_DEFAULT);
    pal_errbuf msg = {{0}};
    assert_int_equal(pal_settings_env_error(f->s, &msg), 1);
    assert_non_null(strstr(msg.msg, "MP_FORCE_USE_SANDBOX"));
    assert_non_null(strstr(msg.msg, "\"yes\""));
    assert_int_equal(set(f, "SandboxMode", "\"Disabled\"", 0, &err), 0);
    expect(f, "SandboxMode", "\"Disabled\"", PAL_SOURCE_PREFERENCE);
    char **probs;
    size_t n;
    assert_int_equal(pal_settings_problems(f->s, &probs, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(probs[0], msg.msg);
    pal_strlist_free(probs, n);

    make(f, "");
    assert_int_equal(pal_settings_env_error(f->s, NULL), 1);
}

/* PALISADE_FORCE_REAL_TIME_PROTECTION forces RealTimeProtectionEnabled over a policy (even a
   broken one, which leaves the defaults: the test daemons rely on it) and locks it. */
static void test_environment_forces_real_time(void **state)
{
    fx *f = *state;
    write_policy(f, "10-site.json", "{\"RealTimeProtectionEnabled\": true}", NULL);
    make_env(f, NULL, "0");
    pal_setting_source src;
    char *detail;
    char *v = get(f, "RealTimeProtectionEnabled", &src, &detail);
    assert_string_equal(v, "false");
    assert_int_equal(src, PAL_SOURCE_ENVIRONMENT);
    assert_string_equal(detail, "PALISADE_FORCE_REAL_TIME_PROTECTION=0");
    free(v);
    free(detail);
    expect_set_fails(f, "RealTimeProtectionEnabled", "true", PAL_EPOLICY,
                     "PALISADE_FORCE_REAL_TIME_PROTECTION");
    expect(f, "SandboxMode", "\"Enabled\"", PAL_SOURCE_DEFAULT); /* only its own setting */

    write_policy(f, "10-site.json", "{ broken", NULL);
    make_env(f, NULL, "0");
    expect(f, "RealTimeProtectionEnabled", "false", PAL_SOURCE_ENVIRONMENT);

    /* both variables at once, each on its own setting; both wrong: one message naming both */
    make_env(f, "0", "1");
    expect(f, "SandboxMode", "\"Disabled\"", PAL_SOURCE_ENVIRONMENT);
    expect(f, "RealTimeProtectionEnabled", "true", PAL_SOURCE_ENVIRONMENT);
    make_env(f, "maybe", "on");
    pal_errbuf msg = {{0}};
    assert_int_equal(pal_settings_env_error(f->s, &msg), 1);
    assert_non_null(strstr(msg.msg, "MP_FORCE_USE_SANDBOX"));
    assert_non_null(strstr(msg.msg, "PALISADE_FORCE_REAL_TIME_PROTECTION has the value \"on\""));
    /* ignored: the last good policy (true) stays in force under the broken file */
    expect(f, "RealTimeProtectionEnabled", "true", PAL_SOURCE_POLICY);
}

/* ---- stored preferences that no longer validate ---------------------------------------- */

static void test_invalid_stored_preferences(void **state)
{
    fx *f = *state;
    pal_errbuf err = {{0}};
    /* as an older or newer palisaded, or a hand edit, might have left them */
    assert_int_equal(pal_store_pref_set(f->st, "ScanThreads", "999", 0, &err), 0);
    assert_int_equal(pal_store_pref_set(f->st, "TurboMode", "true", 0, &err), 0);
    assert_int_equal(pal_store_pref_set(f->st, "QuarantineRetentionDays", "7", 0, &err), 0);
    make(f, NULL);
    expect(f, "ScanThreads", "0", PAL_SOURCE_DEFAULT);
    expect(f, "QuarantineRetentionDays", "7", PAL_SOURCE_PREFERENCE);
    char **probs;
    size_t n;
    assert_int_equal(pal_settings_problems(f->s, &probs, &n), 0);
    assert_int_equal(n, 2);
    int saw_threads = 0, saw_turbo = 0;
    for (size_t i = 0; i < n; i++) {
        saw_threads |= strstr(probs[i], "ScanThreads") != NULL;
        saw_turbo |= strstr(probs[i], "TurboMode") != NULL;
    }
    assert_true(saw_threads && saw_turbo);
    pal_strlist_free(probs, n);
}

/* ---- listing --------------------------------------------------------------------------- */

static void test_listing(void **state)
{
    fx *f = *state;
    char path[320];
    write_policy(f, "10-site.json", "{\"ScanCacheEnabled\": false}", path);
    make(f, "1");
    pal_errbuf err = {{0}};
    assert_int_equal(set(f, "ScanThreads", "3", 0, &err), 0);

    pal_setting_value *vals;
    size_t n, reg_n;
    pal_settings_registry(&reg_n);
    assert_int_equal(pal_settings_list(f->s, &vals, &n), 0);
    assert_int_equal(n, reg_n);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = vals[i].def->name;
        if (strcmp(name, "SandboxMode") == 0) {
            assert_int_equal(vals[i].source, PAL_SOURCE_ENVIRONMENT);
            assert_string_equal(vals[i].source_detail, "MP_FORCE_USE_SANDBOX=1");
            seen++;
        } else if (strcmp(name, "ScanCacheEnabled") == 0) {
            assert_int_equal(vals[i].source, PAL_SOURCE_POLICY);
            assert_string_equal(vals[i].source_detail, path);
            assert_true(json_is_false(vals[i].value));
            seen++;
        } else if (strcmp(name, "ScanThreads") == 0) {
            assert_int_equal(vals[i].source, PAL_SOURCE_PREFERENCE);
            assert_null(vals[i].source_detail);
            assert_int_equal(json_integer_value(vals[i].value), 3);
            seen++;
        } else {
            assert_int_equal(vals[i].source, PAL_SOURCE_DEFAULT);
            assert_null(vals[i].source_detail);
        }
    }
    assert_int_equal(seen, 3);
    pal_setting_values_free(vals, n);

    json_t *arr;
    assert_int_equal(pal_settings_list_json(f->s, &arr), 0);
    assert_int_equal(json_array_size(arr), reg_n);
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        const char *name = json_string_value(json_object_get(o, "name"));
        assert_non_null(name);
        assert_non_null(json_object_get(o, "value"));
        assert_non_null(json_string_value(json_object_get(o, "source")));
        assert_non_null(json_object_get(o, "source_detail"));
        assert_non_null(json_string_value(json_object_get(o, "type")));
        assert_non_null(json_object_get(o, "default"));
        assert_non_null(json_string_value(json_object_get(o, "description")));
        if (strcmp(name, "SandboxMode") == 0) {
            assert_string_equal(json_string_value(json_object_get(o, "source")), "Environment");
            assert_int_equal(json_array_size(json_object_get(o, "allowed_values")), 2);
            assert_string_equal(json_string_value(json_object_get(o, "default")), "Enabled");
        }
        if (strcmp(name, "ScanThreads") == 0) {
            assert_string_equal(json_string_value(json_object_get(o, "source")), "Preference");
            assert_true(json_is_null(json_object_get(o, "source_detail")));
            assert_int_equal(json_integer_value(json_object_get(o, "max")), 64);
            assert_string_equal(json_string_value(json_object_get(o, "type")), "uint");
        }
        if (strcmp(name, "ScanCacheEnabled") == 0)
            assert_string_equal(json_string_value(json_object_get(o, "source_detail")), path);
    }
    json_decref(arr);
}

/* ---- threads --------------------------------------------------------------------------- */

typedef struct reader {
    pal_settings *s;
    atomic_int *stop;
    int bad;
} reader;

static void *read_loop(void *arg)
{
    reader *r = arg;
    while (!atomic_load(r->stop)) {
        uint64_t u;
        pal_limits lim;
        char **list;
        size_t n;
        json_t *arr;
        if (pal_settings_get_uint(r->s, "ScanThreads", &u) || (u != 2 && u != 3) ||
            pal_settings_limits(r->s, &lim) ||
            pal_settings_get_strlist(r->s, "ExclusionPath", &list, &n)) {
            r->bad++;
            continue;
        }
        pal_strlist_free(list, n);
        if (pal_settings_list_json(r->s, &arr) == 0)
            json_decref(arr);
        else
            r->bad++;
    }
    return NULL;
}

static void test_concurrent_reload(void **state)
{
    fx *f = *state;
    write_policy(f, "10-site.json", "{\"ScanThreads\": 2}", NULL);
    make(f, NULL);
    atomic_int stop = 0;
    pthread_t th[3];
    reader r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = (reader){.s = f->s, .stop = &stop};
        assert_int_equal(pthread_create(&th[i], NULL, read_loop, &r[i]), 0);
    }
    pal_errbuf err = {{0}};
    for (int k = 0; k < 40; k++) {
        write_policy(f, "10-site.json", k % 2 ? "{\"ScanThreads\": 2}" : "{\"ScanThreads\": 3}",
                     NULL);
        assert_int_equal(pal_settings_reload_policy(f->s, &err), 0);
        assert_int_equal(pal_settings_add_item(f->s, "ExclusionExtension", "tmp", 0, &err), 0);
        assert_int_equal(pal_settings_remove_item(f->s, "ExclusionExtension", "tmp", 0, &err), 0);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].bad, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_registry_applies),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preference_persisted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_overrides_and_locks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_merge_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_rejected_keeps_last_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_ownership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_last_good_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_override, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment_forces_real_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_stored_preferences, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_reload, setup, teardown),
    };
    return cmocka_run_group_tests_name("settings", tests, NULL, NULL);
}
