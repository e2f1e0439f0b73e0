/*
 * rtp.c — `palisade rtp status|stats|enable|disable` and the real-time lines of `palisade
 * status` (rtp.h). Everything shown comes from the agent: the status op's
 * real_time_protection, real_time_protection_reason and real_time_protection_stats, and the
 * rtp.stats op's per-process table. Executable paths are attacker-chosen names: they reach
 * the terminal only through out_safe / out_table (display.h); --json keeps the exact bytes.
 */
#define _GNU_SOURCE /* asprintf */
#include "rtp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msg.h"
#include "out.h"

static long long int_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

static double num_of(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

/* One file system of stats.file_systems: a string as it is, an object as "MOUNT (TYPE)".
   malloc'd, NOT terminal-safe (the caller escapes). */
static char *fs_text(const json_t *fs)
{
    if (json_is_string(fs))
        return strdup(json_string_value(fs));
    if (!json_is_object(fs))
        return out_value(fs);
    static const char *const mounts[] = {"mount_point", "path", "mount"};
    static const char *const types[] = {"type", "fs_type", "fstype"};
    char *m = NULL, *t = NULL;
    for (size_t k = 0; k < 3 && !m; k++)
        if (json_object_get(fs, mounts[k]))
            m = out_text(fs, mounts[k]);
    for (size_t k = 0; k < 3 && !t; k++)
        if (json_is_string(json_object_get(fs, types[k])))
            t = out_text(fs, types[k]);
    char *text = NULL;
    if (!m) {
        free(t);
        return out_value(fs);
    }
    if (asprintf(&text, "%s%s%s%s", m, t ? " (" : "", t ? t : "", t ? ")" : "") < 0)
        text = NULL;
    free(m);
    free(t);
    return text;
}

/* "a, b, c" of the file systems, terminal-safe; "none" for an empty list. malloc'd. */
static char *fs_list(const json_t *stats)
{
    const json_t *fss = json_object_get(stats, "file_systems");
    char *joined = NULL;
    size_t i;
    const json_t *fs;
    json_array_foreach(fss, i, fs)
    {
        char *one = fs_text(fs);
        char *next = NULL;
        if (asprintf(&next, "%s%s%s", joined ? joined : "", joined ? ", " : "", one ? one : "?") <
            0)
            next = NULL;
        free(one);
        free(joined);
        joined = next;
    }
    char *safe = out_safe(joined ? joined : "none");
    free(joined);
    return safe;
}

/* The stats in one line (for `palisade status`). malloc'd. */
static char *stats_line(const json_t *stats)
{
    char *fss = fs_list(stats);
    char *text = NULL;
    if (asprintf(&text,
                 "%s; %lld events (%.1f/s), queue %lld, cache hit rate %.0f%%, %lld scans, "
                 "%lld blocked, %lld timeouts, %lld overloads",
                 fss ? fss : "?", int_of(stats, "events"), num_of(stats, "events_per_second"),
                 int_of(stats, "queue_depth"), 100.0 * num_of(stats, "cache_hit_rate"),
                 int_of(stats, "scans"), int_of(stats, "blocked"), int_of(stats, "timeouts"),
                 int_of(stats, "overloads")) < 0)
        text = NULL;
    free(fss);
    return text;
}

void cli_rtp_status_fields(json_t *copy)
{
    const json_t *stats = json_object_get(copy, "real_time_protection_stats");
    if (json_is_object(stats)) {
        char *line = stats_line(stats);
        if (line)
            json_object_set_new(copy, "real_time_protection_stats", json_string(line));
        free(line);
    }
}

static int print_rtp_status(const json_t *st)
{
    char *state = out_value(json_object_get(st, "real_time_protection"));
    printf("Real-time protection: %s\n", state ? state : "-");
    free(state);
    const json_t *reason = json_object_get(st, "real_time_protection_reason");
    if (json_is_string(reason)) {
        char *r = out_value(reason);
        printf("Reason:               %s\n", r ? r : "-");
        free(r);
    }
    const json_t *stats = json_object_get(st, "real_time_protection_stats");
    if (!json_is_object(stats))
        return EXIT_OK;
    char *since = out_value(json_object_get(stats, "since"));
    char *fss = fs_list(stats);
    printf("Since:                %s\n", since ? since : "-");
    printf("File systems:         %s\n", fss ? fss : "-");
    printf("Events:               %lld (%.1f per second)\n", int_of(stats, "events"),
           num_of(stats, "events_per_second"));
    printf("Queue depth:          %lld\n", int_of(stats, "queue_depth"));
    printf("Cache hits:           %lld (hit rate %.1f%%)\n", int_of(stats, "cache_hits"),
           100.0 * num_of(stats, "cache_hit_rate"));
    printf("Ignore marks:         %lld (files the kernel no longer asks about until written)\n",
           int_of(stats, "ignore_marks"));
    printf("Ignore marks dropped: %lld (times all went: a marked file's mode, owner or ACL "
           "changed)\n",
           int_of(stats, "ignore_marks_dropped"));
    printf("Empty files allowed:  %lld (nothing to check; scanned after their close)\n",
           int_of(stats, "empty_allowed"));
    printf("Scans:                %lld\n", int_of(stats, "scans"));
    printf("Blocked:              %lld\n", int_of(stats, "blocked"));
    printf("Timeouts:             %lld (answered by RealTimeTimeoutAction)\n",
           int_of(stats, "timeouts"));
    printf("Overloads:            %lld (answered by RealTimeTimeoutAction)\n",
           int_of(stats, "overloads"));
    free(since);
    free(fss);
    return EXIT_OK;
}

static int rtp_status(palisade **h, const char *socket, bool json)
{
    json_t *res = NULL;
    int rc = out_call(h, socket, "status", NULL, &res);
    if (rc != EXIT_OK)
        return rc;
    if (json) {
        json_t *doc = json_pack("{sOsOsO}", "real_time_protection",
                                json_object_get(res, "real_time_protection") ?: json_null(),
                                "real_time_protection_reason",
                                json_object_get(res, "real_time_protection_reason") ?: json_null(),
                                "real_time_protection_stats",
                                json_object_get(res, "real_time_protection_stats") ?: json_null());
        if (doc)
            out_json(doc);
        json_decref(doc);
    } else {
        print_rtp_status(res);
    }
    json_decref(res);
    return EXIT_OK;
}

static int rtp_stats(palisade **h, const char *socket, bool json, int argc, char **argv)
{
    static const char usage[] = "usage: rtp stats [--limit N] (N: 1..1000, default 20)";
    json_t *args = NULL;
    if (argc == 2 && strcmp(argv[0], "--limit") == 0) {
        const char *s = argv[1];
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (*s < '1' || *s > '9' || errno || *end || v > 1000)
            return out_usage_error("%s", usage);
        args = json_pack("{sI}", "limit", (json_int_t)v);
        if (!args)
            return out_fail("OutOfMemory", "out of memory");
    } else if (argc != 0) {
        return out_usage_error("%s", usage);
    }
    json_t *res = NULL;
    int rc = out_call(h, socket, "rtp.stats", args, &res);
    if (rc != EXIT_OK)
        return rc;
    if (json) {
        out_json(res);
        json_decref(res);
        return EXIT_OK;
    }
    char *since = out_value(json_object_get(res, "since"));
    printf("Since %s\n", since ? since : "-");
    free(since);
    const json_t *procs = json_object_get(res, "processes");
    if (json_array_size(procs) == 0) {
        puts("(none)");
        json_decref(res);
        return EXIT_OK;
    }
    static const char *const heads[] = {"EXECUTABLE", "UID", "SCANS", "SCAN TIME", "BLOCKED"};
    enum { NCOLS = 5 };
    out_table *t = out_table_new(NCOLS, heads);
    size_t i;
    const json_t *p;
    json_array_foreach(procs, i, p)
    {
        char uid[32], scans[32], took[48], blocked[32];
        snprintf(uid, sizeof(uid), "%lld", int_of(p, "uid"));
        snprintf(scans, sizeof(scans), "%lld", int_of(p, "scans"));
        double ms = num_of(p, "scan_time_ms");
        if (ms >= 1000.0)
            snprintf(took, sizeof(took), "%.2f s", ms / 1000.0);
        else
            snprintf(took, sizeof(took), "%.1f ms", ms);
        snprintf(blocked, sizeof(blocked), "%lld", int_of(p, "blocked"));
        /* exact bytes (executable_b64 when not UTF-8); out_table_add makes them safe */
        char *exe = out_text(p, "executable");
        const char *cells[NCOLS] = {exe, uid, scans, took, blocked};
        if (!json_is_integer(json_object_get(p, "uid")))
            cells[1] = "-";
        out_table_add(t, cells);
        free(exe);
    }
    out_table_print(t, stdout);
    out_table_free(t);
    json_decref(res);
    return EXIT_OK;
}

/* out_call on a new connection: out_call connects the handle it is given, which must not
   be connected already. */
static int call_again(palisade **h, const char *socket, const char *op, json_t **res)
{
    palisade_close(*h);
    *h = NULL;
    return out_call(h, socket, op, NULL, res);
}

/* The state the agent reports, once it is want (or Unavailable), for at most ~5 s: the
   switch is live but applied by the broker's own thread, not inside config.set. */
static json_t *settled_status(palisade **h, const char *socket, const char *want)
{
    json_t *res = NULL;
    for (int tries = 0; tries < 50; tries++) {
        json_decref(res);
        res = NULL;
        if (call_again(h, socket, "status", &res) != EXIT_OK)
            return NULL;
        const char *st = json_string_value(json_object_get(res, "real_time_protection"));
        if (!st || strcmp(st, want) == 0 || strcmp(st, "Unavailable") == 0)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    return res;
}

static int rtp_switch(palisade **h, const char *socket, bool json, bool on)
{
    if (!*h && !(*h = palisade_new()))
        return out_fail("OutOfMemory", "out of memory");
    if (palisade_connect(*h, socket) != PALISADE_OK)
        return out_error(*h);
    char *out = NULL;
    char args[96];
    snprintf(args, sizeof(args), "{\"name\":\"RealTimeProtectionEnabled\",\"value\":%s}",
             on ? "true" : "false");
    if (palisade_call(*h, "config.set", args, &out) != PALISADE_OK) {
        const char *code = palisade_error_code(*h);
        if (code && strcmp(code, "PolicyLocked") == 0) {
            const char *msg = palisade_error_string(*h);
            /* the code first in text too, as out_error prints an agent's error */
            return out_fail("PolicyLocked",
                            "%sreal-time protection is managed by policy; the preference was "
                            "not changed (%s)",
                            out_json_errors ? "" : "PolicyLocked: ", msg ? msg : "policy");
        }
        return out_error(*h);
    }
    json_error_t je;
    json_t *item = json_loads(out, 0, &je);
    palisade_free_string(out);
    if (!item)
        return out_fail(PAL_CODE_PROTOCOL_ERROR, "unreadable answer to config.set");
    json_t *st = settled_status(h, socket, on ? "Enabled" : "Disabled");
    if (!st) {
        json_decref(item);
        return EXIT_ERROR;
    }
    if (json) {
        json_t *doc = json_pack("{sOsOsO}", "setting", item, "real_time_protection",
                                json_object_get(st, "real_time_protection") ?: json_null(),
                                "real_time_protection_reason",
                                json_object_get(st, "real_time_protection_reason") ?: json_null());
        if (doc)
            out_json(doc);
        json_decref(doc);
    } else {
        char *src = out_value(json_object_get(item, "source"));
        char *state = out_value(json_object_get(st, "real_time_protection"));
        printf("RealTimeProtectionEnabled = %s (%s)\n", on ? "true" : "false", src ? src : "-");
        printf("Real-time protection: %s\n", state ? state : "-");
        const json_t *reason = json_object_get(st, "real_time_protection_reason");
        if (json_is_string(reason)) {
            char *r = out_value(reason);
            printf("Reason:               %s\n", r ? r : "-");
            free(r);
        }
        free(src);
        free(state);
    }
    json_decref(item);
    json_decref(st);
    return EXIT_OK;
}

int cli_rtp(palisade **h, const char *socket, bool json, int argc, char **argv)
{
    static const char usage[] = "usage: rtp status | stats [--limit N] | enable | disable";
    if (argc < 1)
        return out_usage_error("%s", usage);
    const char *verb = argv[0];
    if (strcmp(verb, "stats") == 0)
        return rtp_stats(h, socket, json, argc - 1, argv + 1);
    if (argc != 1)
        return out_usage_error("%s", usage);
    if (strcmp(verb, "status") == 0)
        return rtp_status(h, socket, json);
    if (strcmp(verb, "enable") == 0)
        return rtp_switch(h, socket, json, true);
    if (strcmp(verb, "disable") == 0)
        return rtp_switch(h, socket, json, false);
    return out_usage_error("%s", usage);
}
