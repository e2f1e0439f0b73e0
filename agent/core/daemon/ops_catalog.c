/*
 * ops_catalog.c — the threat catalog of the package in force (ops_catalog.h). The handler
 * parses all arguments first, then takes a reference to the package in force (an update
 * meanwhile does not pull the catalog from under it), then lists.
 */
#define _GNU_SOURCE
#include "ops_catalog.h"

#include <stdbool.h>
#include <string.h>

#include "msg.h"

#define CATALOG_PATTERN_MAX PAL_THREAT_NAME_MAX /* bytes in a name pattern */

static char fold(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/*
 * True when name matches pattern: '*' any run of characters, '?' one character, everything
 * else itself, ASCII case-insensitively (as threats.list's threat filter). Greedy with one
 * backtrack point (the last '*'), so it is O(len(name) * len(pattern)) at worst, and both
 * are at most 255 bytes.
 */
static bool name_matches(const char *pattern, const char *name)
{
    const char *p = pattern, *n = name;
    const char *star = NULL, *resume = NULL;
    while (*n) {
        if (*p == '*') {
            star = p++;
            resume = n;
        } else if (*p && (*p == '?' || fold(*p) == fold(*n))) {
            p++;
            n++;
        } else if (star) {
            p = star + 1;
            n = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

static json_t *entry_json(const pal_threat *t)
{
    const char *sev = pal_severity_name(t->severity);
    const char *act = pal_action_name(t->default_action);
    /* the package's structural check accepted these values; a name missing here means the
       two tables disagree, and null says so rather than a guess */
    json_t *o = json_pack("{sssssoso}", "name", t->name, "category", t->category, "severity",
                          sev ? json_string(sev) : json_null(), "default_action",
                          act ? json_string(act) : json_null());
    return o;
}

static json_t *op_catalog_list(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"name", "severity", NULL};
    const char *pattern = NULL, *sev_name = NULL;
    int sev = 0; /* 0: any severity */
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_string(args, "name", PAL_MSG_OPTIONAL | PAL_MSG_NULLABLE | PAL_MSG_NONEMPTY,
                           &pattern, &err) < 0 ||
        pal_msg_get_string(args, "severity", PAL_MSG_OPTIONAL | PAL_MSG_NULLABLE, &sev_name, &err) <
            0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    if (sev_name && pal_name_find(PAL_NAMES(pal_severity_names), sev_name, &sev) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST,
                            "severity: expected Low, Moderate, High or Severe, got '%s'", sev_name);
    if (pattern && strlen(pattern) > CATALOG_PATTERN_MAX)
        return pal_ctl_fail(req, PAL_CODE_INVALID_VALUE,
                            "the name pattern is longer than a threat name can be (%d bytes)",
                            CATALOG_PATTERN_MAX);

    pal_defs *defs = pal_daemon_defs(d);
    if (!defs) {
        char why[512];
        pal_daemon_defs_error(d, why, sizeof(why));
        return pal_ctl_fail(req, PAL_CODE_NOT_FOUND,
                            "no signature package is in force%s%s (Update-Signature or "
                            "`palisade update` puts one in force)",
                            why[0] ? ": " : "", why);
    }
    const pal_sigpkg *pkg = pal_defs_package(defs);
    pal_sigpkg_info info;
    pal_sigpkg_get_info(pkg, &info);
    json_t *items = json_array();
    json_t *res = items ? json_pack("{sIso}", "signature_version", (json_int_t)info.version,
                                    "items", json_incref(items))
                        : NULL;
    bool ok = res != NULL;
    for (uint32_t id = 0; ok && id < info.threat_count; id++) {
        pal_threat t;
        if (pal_sigpkg_threat(pkg, id, &t) != 0)
            continue; /* not reached: ids below threat_count are entries */
        if (sev != 0 && t.severity != (pal_severity)sev)
            continue;
        if (pattern && !name_matches(pattern, t.name))
            continue;
        ok = json_array_append_new(items, entry_json(&t)) == 0;
    }
    pal_defs_unref(defs);
    json_decref(items);
    if (!ok) {
        json_decref(res);
        return pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
    }
    return res;
}

int pal_daemon_register_catalog_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err)
{
    static const pal_ctl_op ops[] = {
        {"catalog.list", 0, op_catalog_list},
    };
    return pal_ctl_server_register(srv, ops, sizeof(ops) / sizeof(*ops), d, err);
}
