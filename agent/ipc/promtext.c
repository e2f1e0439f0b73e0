/*
 * promtext.c — the metrics op's result in the Prometheus text format (promtext.h). Reads
 * only what is there: a field missing or null in the result gives no sample, never a
 * made-up zero.
 */
#define _GNU_SOURCE
#include "promtext.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

/* One metric family: its HELP and TYPE lines are written before its first sample. */
typedef struct fam {
    FILE *f;
    const char *name, *type, *help;
    int started;
} fam;

static void fam_init(fam *m, FILE *f, const char *name, const char *type, const char *help)
{
    *m = (fam){.f = f, .name = name, .type = type, .help = help};
}

static void esc_label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", f);
        else if (*s == '"')
            fputs("\\\"", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

/* labels: NULL-terminated name, value pairs (a NULL value ends them too). */
static void sample_begin(fam *m, const char *const *labels)
{
    if (!m->started) {
        /* HELP texts are ours (no backslash or newline to escape) */
        fprintf(m->f, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, m->type);
        m->started = 1;
    }
    fputs(m->name, m->f);
    if (labels && labels[0] && labels[1]) {
        fputc('{', m->f);
        for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
            fprintf(m->f, "%s%s=\"", i ? "," : "", labels[i]);
            esc_label(m->f, labels[i + 1]);
            fputc('"', m->f);
        }
        fputc('}', m->f);
    }
}

static void sample_int(fam *m, const char *const *labels, json_int_t v)
{
    sample_begin(m, labels);
    fprintf(m->f, " %" JSON_INTEGER_FORMAT "\n", v);
}

static void sample_real(fam *m, const char *const *labels, double v)
{
    sample_begin(m, labels);
    if (isnan(v))
        fputs(" NaN\n", m->f);
    else if (isinf(v))
        fputs(v > 0 ? " +Inf\n" : " -Inf\n", m->f);
    else
        fprintf(m->f, " %.17g\n", v);
}

/* A JSON number as a sample; anything else (absent, null, text) gives none. */
static void sample_num(fam *m, const char *const *labels, const json_t *v)
{
    if (json_is_integer(v))
        sample_int(m, labels, json_integer_value(v));
    else if (json_is_real(v))
        sample_real(m, labels, json_real_value(v));
}

/* A protocol time (text, PROTOCOL.md) or a number of milliseconds, as unix seconds. */
static int time_seconds(const json_t *v, double *out)
{
    int64_t ms;
    if (json_is_string(v) && pal_time_parse(json_string_value(v), &ms) == 0) {
        *out = (double)ms / 1000.0;
        return 1;
    }
    if (json_is_integer(v)) {
        *out = (double)json_integer_value(v) / 1000.0;
        return 1;
    }
    return 0;
}

static void sample_time(fam *m, const char *const *labels, const json_t *v)
{
    double s;
    if (time_seconds(v, &s))
        sample_real(m, labels, s);
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* ---- the families ------------------------------------------------------------------------ */

static void agent(FILE *f, const json_t *m)
{
    fam x;
    fam_init(&x, f, "palisade_up", "gauge", "1 when the agent answered with these metrics.");
    sample_int(&x, NULL, 1);
    fam_init(&x, f, "palisade_agent_info", "gauge", "The agent's version, as a label.");
    const char *info[] = {"version", str(m, "agent_version"), NULL};
    sample_int(&x, info, 1);
    fam_init(&x, f, "palisade_agent_start_time_seconds", "gauge",
             "When the agent started, unix seconds.");
    sample_time(&x, NULL, json_object_get(m, "started_at"));
}

static void store(FILE *f, const json_t *st)
{
    const json_t *scans = json_object_get(st, "scans");
    size_t i;
    const json_t *r;
    fam x;
    fam_init(&x, f, "palisade_scans_total", "counter",
             "Finished scans (on-demand and detached) by type and final status.");
    json_array_foreach(scans, i, r)
    {
        const char *l[] = {"type", str(r, "type"), "status", str(r, "status"), NULL};
        sample_num(&x, l, json_object_get(r, "count"));
    }
    /* objects and bytes per type: summed over the statuses */
    static const char *const keys[] = {"objects", "bytes"};
    static const char *const names[] = {"palisade_scanned_objects_total",
                                        "palisade_scanned_bytes_total"};
    static const char *const helps[] = {"Files examined by finished scans, by scan type.",
                                        "Bytes examined by finished scans, by scan type."};
    for (size_t k = 0; k < 2; k++) {
        fam_init(&x, f, names[k], "counter", helps[k]);
        for (size_t a = 0; a < json_array_size(scans); a++) {
            const char *type = str(json_array_get(scans, a), "type");
            int seen = 0;
            for (size_t b = 0; b < a && !seen; b++)
                seen = strcmp(type, str(json_array_get(scans, b), "type")) == 0;
            if (seen)
                continue;
            json_int_t sum = 0;
            for (size_t b = a; b < json_array_size(scans); b++)
                if (strcmp(type, str(json_array_get(scans, b), "type")) == 0)
                    sum += json_integer_value(json_object_get(json_array_get(scans, b), keys[k]));
            const char *l[] = {"type", type, NULL};
            sample_int(&x, l, sum);
        }
    }
    fam_init(&x, f, "palisade_detections_total", "counter",
             "Threats detected, by severity and origin (OnDemand, RealTime, Buffer).");
    json_array_foreach(json_object_get(st, "detections"), i, r)
    {
        const char *l[] = {"severity", str(r, "severity"), "origin", str(r, "origin"), NULL};
        sample_num(&x, l, json_object_get(r, "count"));
    }
    fam_init(&x, f, "palisade_remediations_total", "counter",
             "Quarantines and removals of detected files, by action and result.");
    json_array_foreach(json_object_get(st, "remediations"), i, r)
    {
        const char *l[] = {"action", str(r, "action"), "result", str(r, "result"), NULL};
        sample_num(&x, l, json_object_get(r, "count"));
    }
    fam_init(&x, f, "palisade_last_scan_end_timestamp_seconds", "gauge",
             "When the newest finished scan of each type ended, unix seconds.");
    json_array_foreach(json_object_get(st, "last_scans"), i, r)
    {
        const char *l[] = {"type", str(r, "type"), NULL};
        sample_time(&x, l, json_object_get(r, "end_time_ms"));
    }
    fam_init(&x, f, "palisade_last_completed_scan_end_timestamp_seconds", "gauge",
             "When the newest Completed scan of each type ended, unix seconds.");
    json_array_foreach(json_object_get(st, "last_scans"), i, r)
    {
        const char *l[] = {"type", str(r, "type"), NULL};
        sample_time(&x, l, json_object_get(r, "completed_end_time_ms"));
    }
    const json_t *q = json_object_get(st, "quarantine");
    fam_init(&x, f, "palisade_quarantine_items", "gauge", "Files held in the quarantine.");
    sample_num(&x, NULL, json_object_get(q, "items"));
    fam_init(&x, f, "palisade_quarantine_original_bytes", "gauge",
             "Original size of the files held in the quarantine, in bytes.");
    sample_num(&x, NULL, json_object_get(q, "bytes"));
}

static void counters(FILE *f, const json_t *c)
{
    fam x;
    fam_init(&x, f, "palisade_scan_cache_hits_total", "counter",
             "Files answered from the scan cache without being read, since the agent started.");
    sample_num(&x, NULL, json_object_get(c, "scan_cache_hits"));
    fam_init(&x, f, "palisade_scan_read_bytes_total", "counter",
             "Bytes read from files by scans, since the agent started.");
    sample_num(&x, NULL, json_object_get(c, "bytes_read"));
}

static void status(FILE *f, const json_t *s, const json_t *m)
{
    fam x;
    fam_init(&x, f, "palisade_active_scans", "gauge", "Scans running now.");
    sample_num(&x, NULL, json_object_get(s, "active_scans"));
    fam_init(&x, f, "palisade_unremediated_threats", "gauge",
             "Detected threats that could not be quarantined or removed and are still in place.");
    sample_num(&x, NULL, json_object_get(s, "unremediated_threats"));

    const json_t *issues = json_object_get(s, "health_issues");
    if (json_is_array(issues)) {
        fam_init(&x, f, "palisade_health_issues", "gauge",
                 "Health issues the agent reports (0 = healthy).");
        sample_int(&x, NULL, (json_int_t)json_array_size(issues));
        fam_init(&x, f, "palisade_health_issue", "gauge",
                 "1 for each health issue the agent reports, by its id.");
        size_t i;
        const json_t *it;
        json_array_foreach(issues, i, it)
        {
            const char *l[] = {"id", str(it, "id"), NULL};
            sample_int(&x, l, 1);
        }
    }

    fam_init(&x, f, "palisade_content_process_restarts_total", "counter",
             "Restarts of the sandboxed content process since the agent started.");
    sample_num(&x, NULL, json_object_get(s, "content_process_restarts"));
    fam_init(&x, f, "palisade_content_process_crashes_total", "counter",
             "Crashes of the sandboxed content process since the agent started.");
    sample_num(&x, NULL, json_object_get(s, "content_process_crashes"));
    const char *cps = json_string_value(json_object_get(s, "content_process_state"));
    if (cps) {
        static const char *const states[] = {"Disabled", "Unavailable", "Degraded",  "Stopped",
                                             "Starting", "Running",     "Restarting"};
        fam_init(&x, f, "palisade_content_process_state", "gauge",
                 "The content process's state: 1 for the current one.");
        int known = 0;
        for (size_t i = 0; i < sizeof(states) / sizeof(*states); i++) {
            const char *l[] = {"state", states[i], NULL};
            known |= strcmp(cps, states[i]) == 0;
            sample_int(&x, l, strcmp(cps, states[i]) == 0);
        }
        if (!known) {
            const char *l[] = {"state", cps, NULL};
            sample_int(&x, l, 1);
        }
    }

    const json_t *ver = json_object_get(s, "signature_version");
    if (json_is_integer(ver)) {
        char vs[32];
        snprintf(vs, sizeof(vs), "%" JSON_INTEGER_FORMAT, json_integer_value(ver));
        fam_init(&x, f, "palisade_signature_info", "gauge",
                 "The signature package in force, its version as a label.");
        const char *l[] = {"version", vs, NULL};
        sample_int(&x, l, 1);
        fam_init(&x, f, "palisade_signature_version", "gauge",
                 "The version of the signature package in force.");
        sample_int(&x, NULL, json_integer_value(ver));
    }
    double created, now;
    if (time_seconds(json_object_get(s, "signature_created"), &created)) {
        fam_init(&x, f, "palisade_signature_created_timestamp_seconds", "gauge",
                 "When the signature package in force was built, unix seconds.");
        sample_real(&x, NULL, created);
        if (time_seconds(json_object_get(m, "generated_at"), &now)) {
            fam_init(&x, f, "palisade_signature_age_seconds", "gauge",
                     "Age of the signature package in force, in seconds.");
            sample_real(&x, NULL, now > created ? now - created : 0);
        }
    }

    const char *rtp = json_string_value(json_object_get(s, "real_time_protection"));
    if (rtp) {
        fam_init(&x, f, "palisade_real_time_protection_state", "gauge",
                 "Real-time protection's state, as a label (1).");
        const char *l[] = {"state", rtp, NULL};
        sample_int(&x, l, 1);
    }
    /* real-time protection's counters (agent/core/rtp), when status carries them */
    const json_t *rs = json_object_get(s, "real_time_protection_stats");
    if (!json_is_object(rs))
        return;
    static const struct {
        const char *key, *name, *type, *help;
    } rt[] = {
        {"file_systems", "palisade_realtime_file_systems", "gauge",
         "File systems real-time protection watches."},
        {"events", "palisade_realtime_events_total", "counter",
         "File events real-time protection handled."},
        {"events_per_second", "palisade_realtime_events_per_second", "gauge",
         "File events per second real-time protection handles now."},
        {"queue_depth", "palisade_realtime_queue_depth", "gauge",
         "File events waiting for real-time protection now."},
        {"cache_hits", "palisade_realtime_cache_hits_total", "counter",
         "File events answered from the verdict cache."},
        {"cache_hit_rate", "palisade_realtime_cache_hit_ratio", "gauge",
         "Share of file events answered from the verdict cache (0 to 1)."},
        {"scans", "palisade_realtime_scans_total", "counter",
         "Files real-time protection scanned."},
        {"blocked", "palisade_realtime_blocked_total", "counter",
         "File accesses real-time protection blocked."},
        {"timeouts", "palisade_realtime_timeouts_total", "counter",
         "File events whose verdict did not come in time."},
        {"overloads", "palisade_realtime_overloads_total", "counter",
         "Times real-time protection was overloaded."},
    };
    fam_init(&x, f, "palisade_realtime_since_timestamp_seconds", "gauge",
             "Since when real-time protection's counters count, unix seconds.");
    sample_time(&x, NULL, json_object_get(rs, "since"));
    for (size_t i = 0; i < sizeof(rt) / sizeof(*rt); i++) {
        fam_init(&x, f, rt[i].name, rt[i].type, rt[i].help);
        sample_num(&x, NULL, json_object_get(rs, rt[i].key));
    }
}

char *pal_promtext_render(const json_t *m, pal_errbuf *err)
{
    if (!json_is_object(m)) {
        pal_err_set(err, PAL_EFORMAT, "the metrics result is not an object");
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        pal_err_set(err, PAL_ENOMEM, "out of memory");
        return NULL;
    }
    agent(f, m);
    store(f, json_object_get(m, "store"));
    counters(f, json_object_get(m, "counters"));
    status(f, json_object_get(m, "status"), m);
    if (ferror(f) | fclose(f)) {
        free(buf);
        pal_err_set(err, PAL_ENOMEM, "out of memory");
        return NULL;
    }
    return buf;
}
