/*
 * settings_get.c — the typed getters the daemon reads settings with (settings.h): one value
 * by name and type, the engine limits, the default action for a severity, the sandbox mode.
 * Each reads the effective value under the settings' read lock (settings_internal.h); the
 * layers themselves are settings.c's.
 */
#include "settings.h"

#include <stdlib.h>
#include <string.h>

#include "settings_internal.h"

static const pal_setting_def *const registry = pal_settings_table;

/* ---- typed getters --------------------------------------------------------------------- */

/* Index of name if it has type t (STRING also accepts ENUM). */
static int typed_index(const char *name, pal_setting_type t, int *out)
{
    int i = find_index(name);
    if (i < 0)
        return PAL_ENOTFOUND;
    pal_setting_type have = registry[i].type;
    if (have != t && !(t == PAL_SETTING_STRING && have == PAL_SETTING_ENUM))
        return PAL_EINVAL;
    *out = i;
    return 0;
}

int pal_settings_get_uint(pal_settings *s, const char *name, uint64_t *out)
{
    int i;
    int ret = typed_index(name, PAL_SETTING_UINT, &i);
    if (ret)
        return ret;
    pal_setting_source src;
    const char *d;
    rdlock(s);
    *out = (uint64_t)json_integer_value(pal_settings_effective(s, (size_t)i, &src, &d));
    unlock(s);
    return 0;
}

int pal_settings_get_bool(pal_settings *s, const char *name, int *out)
{
    int i;
    int ret = typed_index(name, PAL_SETTING_BOOL, &i);
    if (ret)
        return ret;
    pal_setting_source src;
    const char *d;
    rdlock(s);
    *out = json_is_true(pal_settings_effective(s, (size_t)i, &src, &d));
    unlock(s);
    return 0;
}

int pal_settings_get_string(pal_settings *s, const char *name, char **out)
{
    int i;
    int ret = typed_index(name, PAL_SETTING_STRING, &i);
    if (ret)
        return ret;
    pal_setting_source src;
    const char *d;
    rdlock(s);
    char *v = strdup(json_string_value(pal_settings_effective(s, (size_t)i, &src, &d)));
    unlock(s);
    if (!v)
        return PAL_ENOMEM;
    *out = v;
    return 0;
}

int pal_settings_get_strlist(pal_settings *s, const char *name, char ***out, size_t *n)
{
    int i;
    int ret = typed_index(name, PAL_SETTING_STRLIST, &i);
    if (ret)
        return ret;
    pal_setting_source src;
    const char *d;
    rdlock(s);
    const json_t *arr = pal_settings_effective(s, (size_t)i, &src, &d);
    size_t cnt = json_array_size(arr), k = 0;
    char **list = calloc(cnt ? cnt : 1, sizeof(*list));
    ret = list ? 0 : PAL_ENOMEM;
    for (; ret == 0 && k < cnt; k++)
        if (!(list[k] = strdup(json_string_value(json_array_get(arr, k)))))
            ret = PAL_ENOMEM;
    unlock(s);
    if (ret) {
        pal_strlist_free(list, k);
        return ret;
    }
    *out = list;
    *n = cnt;
    return 0;
}

/* Effective uint of a setting known to exist with that type; lock held. */
static uint64_t uint_locked(const pal_settings *s, const char *name)
{
    pal_setting_source src;
    const char *d;
    int i = find_index(name);
    return i < 0 ? 0 : (uint64_t)json_integer_value(pal_settings_effective(s, (size_t)i, &src, &d));
}

int pal_settings_limits(pal_settings *s, pal_limits *out)
{
    pal_limits lim;
    rdlock(s);
    lim.max_depth = (unsigned)uint_locked(s, "MaxRecursionDepth");
    lim.max_members = uint_locked(s, "MaxMembersPerContainer");
    lim.max_expanded_bytes = uint_locked(s, "MaxExpandedBytes");
    lim.max_ratio = (uint32_t)uint_locked(s, "MaxExpansionRatio");
    lim.max_object_size = uint_locked(s, "MaxObjectSize");
    lim.max_scan_ms = (uint32_t)(uint_locked(s, "MaxScanSecondsPerObject") * 1000);
    unlock(s);
    *out = lim;
    return 0;
}

int pal_settings_default_action(pal_settings *s, pal_severity sev, pal_action *out)
{
    static const char *const by_sev[] = {
        [PAL_SEV_LOW] = "LowThreatDefaultAction",
        [PAL_SEV_MODERATE] = "ModerateThreatDefaultAction",
        [PAL_SEV_HIGH] = "HighThreatDefaultAction",
        [PAL_SEV_SEVERE] = "SevereThreatDefaultAction",
    };
    static const pal_action acts[] = {PAL_ACTION_QUARANTINE, PAL_ACTION_REMOVE,
                                      PAL_ACTION_NOACTION};
    if ((int)sev < PAL_SEV_LOW || (int)sev > PAL_SEV_SEVERE)
        return PAL_EINVAL;
    int i = find_index(by_sev[sev]);
    pal_setting_source src;
    const char *d;
    int ret = PAL_EINVAL;
    if (i < 0)
        return PAL_EINVAL;
    rdlock(s);
    const char *v = json_string_value(pal_settings_effective(s, (size_t)i, &src, &d));
    for (size_t k = 0; v && pal_settings_action_values[k]; k++) {
        if (strcmp(v, pal_settings_action_values[k]) == 0) {
            *out = acts[k];
            ret = 0;
        }
    }
    unlock(s);
    return ret;
}

int pal_settings_sandbox_enabled(pal_settings *s)
{
    pal_setting_source src;
    const char *d;
    int i = find_index("SandboxMode");
    if (i < 0)
        return 1;
    rdlock(s);
    const char *v = json_string_value(pal_settings_effective(s, (size_t)i, &src, &d));
    int on = v && strcmp(v, "Enabled") == 0;
    unlock(s);
    return on;
}
