/*
 * status_health.c — the status result's answer to "is this machine protected?": the
 * signature package's age, the last Quick and Full scans, real-time protection's state and
 * health_issues (status_health.h). Every check reads the daemon's own state at the time of
 * the call; a check that cannot be made (the store unreadable) is an issue itself, never a
 * silent pass.
 */
#define _GNU_SOURCE
#include "status_health.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include "msg.h"
#include "rtp.h"

#define DAY_MS (86400LL * 1000)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Append {id, reason} to issues unless the same pair is there already (one unreadable store
   fails every query alike); reason is printf-formatted. */
__attribute__((format(printf, 3, 4))) static int issue(json_t *issues, const char *id,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *reason = NULL;
    int n = vasprintf(&reason, fmt, ap);
    va_end(ap);
    if (n < 0)
        return PAL_ENOMEM;
    size_t i;
    json_t *old;
    json_array_foreach(issues, i, old)
    {
        if (strcmp(json_string_value(json_object_get(old, "id")), id) == 0 &&
            strcmp(json_string_value(json_object_get(old, "reason")), reason) == 0) {
            free(reason);
            return 0;
        }
    }
    json_t *it = json_pack("{s:s, s:s}", "id", id, "reason", reason);
    free(reason);
    if (!it || json_array_append_new(issues, it) != 0)
        return PAL_ENOMEM;
    return 0;
}

static json_t *time_or_null(int64_t ms)
{
    return ms > 0 ? pal_time_json(ms) : json_null();
}

static json_t *scan_summary(const pal_scan_rec *r)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "scan_id", json_integer(r->id));
    json_object_set_new(o, "status", json_string(pal_scan_outcome_name(r->outcome)));
    json_object_set_new(o, "start_time", time_or_null(r->started_at));
    json_object_set_new(o, "end_time", time_or_null(r->ended_at));
    json_object_set_new(o, "threats", json_integer((json_int_t)r->totals.threats));
    return o;
}

/* last_quick_scan / last_full_scan: the newest finished scan of the type, or null. */
static int add_last_scan(pal_daemon *d, json_t *o, json_t *issues, const char *key,
                         pal_scan_type type)
{
    pal_scan_rec rec;
    int found = 0;
    pal_errbuf err = {.msg = ""};
    if (pal_store_scan_last(pal_daemon_store(d), type, 0, &rec, &found, &err) != 0) {
        json_object_set_new(o, key, json_null());
        return issue(issues, "HistoryUnreadable", "the scan history cannot be read: %s", err.msg);
    }
    json_t *v = found ? scan_summary(&rec) : json_null();
    if (found)
        pal_scan_rec_clear(&rec);
    if (!v || json_object_set_new(o, key, v) != 0)
        return PAL_ENOMEM;
    return 0;
}

/* NoRecentFullScan: judged on Completed Full scans only; a cancelled or failed one did not
   examine the machine. */
static int check_full_scan(pal_daemon *d, json_t *issues, int64_t now)
{
    pal_scan_rec rec;
    int found = 0;
    pal_errbuf err = {.msg = ""};
    if (pal_store_scan_last(pal_daemon_store(d), PAL_SCAN_FULL, 1, &rec, &found, &err) != 0)
        return issue(issues, "HistoryUnreadable", "the scan history cannot be read: %s", err.msg);
    if (!found)
        return issue(issues, "NoRecentFullScan", "no Full scan has ever completed");
    int64_t ended = rec.ended_at > 0 ? rec.ended_at : rec.started_at;
    int64_t id = rec.id;
    pal_scan_rec_clear(&rec);
    if (now - ended <= PAL_HEALTH_FULL_SCAN_DAYS * DAY_MS)
        return 0;
    return issue(issues, "NoRecentFullScan",
                 "no Full scan has completed in the last %d days (the last, scan %lld, ended "
                 "%lld days ago)",
                 PAL_HEALTH_FULL_SCAN_DAYS, (long long)id, (long long)((now - ended) / DAY_MS));
}

static int check_signatures(pal_daemon *d, json_t *o, json_t *issues, int64_t now)
{
    pal_defs *defs = pal_daemon_defs(d);
    if (!defs) {
        json_object_set_new(o, "signature_age_days", json_null());
        char why[640];
        pal_daemon_defs_error(d, why, sizeof(why));
        return issue(issues, "NoSignaturePackage", "no signature package in force: %s", why);
    }
    const pal_sigpkg_info *info = pal_defs_info(defs);
    uint64_t version = info->version;
    int64_t created_ms = (int64_t)info->created * 1000;
    pal_defs_unref(defs);
    /* a package stamped in the future (a clock set back) is 0 days old, not negative */
    int64_t age = now > created_ms ? (now - created_ms) / DAY_MS : 0;
    json_object_set_new(o, "signature_age_days", json_integer((json_int_t)age));
    uint64_t limit = 7;
    pal_settings_get_uint(pal_daemon_settings(d), "SignatureOutdatedDays", &limit);
    if ((uint64_t)age <= limit)
        return 0;
    return issue(issues, "SignaturesOutdated",
                 "the signature package in force (version %llu) is %lld days old, more than "
                 "SignatureOutdatedDays (%llu)",
                 (unsigned long long)version, (long long)age, (unsigned long long)limit);
}

static int check_content_process(pal_daemon *d, json_t *issues)
{
    pal_scanhost_status hs;
    pal_scanhost_get_status(pal_daemon_host(d), &hs);
    if (!hs.sandbox)
        return 0;
    int ret = 0;
    if (hs.cp_present && hs.cp.degraded)
        ret = issue(issues, "ContentProcessDegraded", "content process crash loop: %s",
                    hs.cp.degraded_reason);
    if (ret == 0 && hs.last_error[0])
        ret = issue(issues, "ContentProcessUnavailable", "content process cannot start: %s",
                    hs.last_error);
    else if (ret == 0 && !hs.cp_present)
        ret = issue(issues, "ContentProcessUnavailable",
                    "the sandbox is on but no content process is supervised");
    return ret;
}

static int check_configuration(pal_daemon *d, json_t *issues)
{
    int ret = 0;
    const char *const *problems = NULL;
    size_t n = pal_daemon_keys_problems(d, &problems);
    for (size_t i = 0; ret == 0 && i < n; i++)
        ret = issue(issues, "TrustedKeys", "trusted keys: %s", problems[i]);
    pal_errbuf pe;
    if (ret == 0 && pal_settings_policy_error(pal_daemon_settings(d), &pe))
        ret = issue(issues, "PolicyError", "policy not applied: %s", pe.msg);
    if (ret == 0 && pal_settings_env_error(pal_daemon_settings(d), &pe))
        ret = issue(issues, "EnvironmentOverrideInvalid", "%s", pe.msg);
    return ret;
}

static int check_unremediated(pal_daemon *d, json_t *issues)
{
    int64_t n = 0;
    pal_errbuf err = {.msg = ""};
    if (pal_store_unremediated_count(pal_daemon_store(d), &n, &err) != 0)
        return issue(issues, "HistoryUnreadable", "the threat history cannot be read: %s", err.msg);
    if (n == 0)
        return 0;
    return issue(issues, "UnremediatedThreats",
                 "%lld detected threat%s could not be quarantined or removed and %s still in "
                 "place",
                 (long long)n, n == 1 ? "" : "s", n == 1 ? "is" : "are");
}

/* real_time_protection, its reason and stats (rtp.h); *healthy when Enabled. */
static int add_real_time(pal_daemon *d, json_t *o, int *healthy)
{
    return pal_rtp_status_add(pal_daemon_rtp(d), o, healthy);
}

/* Off or unavailable is an issue (listed after the others: the state is in its own field). */
static int check_real_time(json_t *o, json_t *issues, int healthy)
{
    if (healthy)
        return 0;
    const char *state = json_string_value(json_object_get(o, "real_time_protection"));
    const char *reason = json_string_value(json_object_get(o, "real_time_protection_reason"));
    int unavailable = state && strcmp(state, "Unavailable") == 0;
    return issue(issues,
                 unavailable ? "RealTimeProtectionUnavailable" : "RealTimeProtectionDisabled",
                 "real-time protection is %s: %s", unavailable ? "unavailable" : "off",
                 reason ? reason : "no reason given");
}

int pal_status_add_health(pal_daemon *d, json_t *o)
{
    json_t *issues = json_array();
    if (!issues)
        return PAL_ENOMEM;
    int64_t now = now_ms();
    int rtp_healthy = 0;
    int ret = check_signatures(d, o, issues, now);
    if (ret == 0)
        ret = add_real_time(d, o, &rtp_healthy);
    if (ret == 0)
        ret = check_content_process(d, issues);
    if (ret == 0)
        ret = check_configuration(d, issues);
    if (ret == 0)
        ret = check_unremediated(d, issues);
    if (ret == 0)
        ret = add_last_scan(d, o, issues, "last_quick_scan", PAL_SCAN_QUICK);
    if (ret == 0)
        ret = add_last_scan(d, o, issues, "last_full_scan", PAL_SCAN_FULL);
    if (ret == 0)
        ret = check_full_scan(d, issues, now);
    if (ret == 0)
        ret = check_real_time(o, issues, rtp_healthy);
    /* last, so that the text form ends with it */
    if (json_object_set_new(o, "health_issues", issues) != 0)
        return PAL_ENOMEM;
    return ret;
}
