/*
 * jobs.c — `palisade jobs`, `palisade wait` and `palisade cancel` (jobs.h).
 */
#include "jobs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "out.h"
#include "scan.h"

/* A scan id argument: a positive decimal integer, nothing else. */
static int parse_id(const char *s, long long *id)
{
    if (!s || s[0] < '0' || s[0] > '9')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v <= 0)
        return -1;
    *id = v;
    return 0;
}

/* Connect *h on first use (out_call's way) for the ops that are not plain calls. */
static int ensure_connected(palisade **h, const char *socket)
{
    if (*h)
        return EXIT_OK;
    *h = palisade_new();
    if (!*h)
        return out_fail("OutOfMemory", "out of memory");
    if (palisade_connect(*h, socket) != PALISADE_OK)
        return out_error(*h);
    return EXIT_OK;
}

static void show_job(const json_t *job)
{
    const json_t *p = json_object_get(job, "progress");
    char *id = out_value(json_object_get(job, "scan_id"));
    char *type = out_value(json_object_get(job, "type"));
    char *status = out_value(json_object_get(job, "status"));
    char *started = out_value(json_object_get(job, "start_time"));
    char *cur = out_path(p, "current_path");
    printf("Scan %s (%s): %s%s, started %s\n", id ? id : "?", type ? type : "?",
           status ? status : "?",
           json_is_true(json_object_get(job, "stop_requested")) && status &&
                   strcmp(status, "Running") == 0
               ? " (stopping)"
               : "",
           started ? started : "?");
    printf("  %lld files, %lld bytes examined, %lld threats, %lld unscannable\n",
           (long long)json_integer_value(json_object_get(p, "files_done")),
           (long long)json_integer_value(json_object_get(p, "bytes_done")),
           (long long)json_integer_value(json_object_get(p, "threats_so_far")),
           (long long)json_integer_value(json_object_get(p, "unscannable_so_far")));
    if (cur && *cur)
        printf("  at %s\n", cur);
    const json_t *res = json_object_get(job, "result");
    if (json_is_object(res))
        printf("  result: %lld files scanned, %lld threats found (palisade wait %s shows it)\n",
               (long long)json_integer_value(json_object_get(res, "files_scanned")),
               (long long)json_integer_value(json_object_get(res, "threats_found")),
               id ? id : "ID");
    free(id);
    free(type);
    free(status);
    free(started);
    free(cur);
}

int cli_jobs(palisade **h, const char *socket, bool json, int argc, char **argv)
{
    long long id = 0;
    if (argc > 1 || (argc == 1 && parse_id(argv[0], &id) != 0))
        return out_usage_error("usage: jobs [ID] (ID: a scan id, as scan --detach printed it)");
    json_t *res = NULL;
    int rc =
        id ? out_call(h, socket, "scan.get", json_pack("{s:I}", "scan_id", (json_int_t)id), &res)
           : out_call(h, socket, "scan.list", NULL, &res);
    if (rc != EXIT_OK)
        return rc;
    if (json) {
        out_json(res);
    } else if (id) {
        show_job(res);
    } else {
        /* TRIGGER: Client, or Scheduled / CatchUp for the agent's scheduled scans */
        static const char *const keys[] = {"scan_id", "type", "status", "start_time", "trigger"};
        static const char *const heads[] = {"ID", "TYPE", "STATUS", "STARTED", "TRIGGER"};
        out_items(res, keys, heads, sizeof(keys) / sizeof(keys[0]));
    }
    json_decref(res);
    return EXIT_OK;
}

int cli_wait(palisade **h, const char *socket, bool json, int argc, char **argv)
{
    long long id = 0;
    if (argc != 1 || parse_id(argv[0], &id) != 0)
        return out_usage_error("usage: wait ID (ID: a scan id, as scan --detach printed it)");
    int rc = ensure_connected(h, socket);
    if (rc != EXIT_OK)
        return rc;
    char args[64];
    snprintf(args, sizeof(args), "{\"scan_id\":%lld}", id);
    return cli_scan_follow(*h, "scan.wait", args, false, json);
}

int cli_cancel(palisade **h, const char *socket, bool json, int argc, char **argv)
{
    long long id = 0;
    if (argc != 1 || parse_id(argv[0], &id) != 0)
        return out_usage_error("usage: cancel ID (ID: a scan id, as scan --detach printed it)");
    json_t *res = NULL;
    int rc = out_call(h, socket, "scan.stop", json_pack("{s:I}", "scan_id", (json_int_t)id), &res);
    if (rc != EXIT_OK)
        return rc;
    if (json) {
        out_json(res);
    } else {
        const char *status = json_string_value(json_object_get(res, "status"));
        if (status && strcmp(status, "Running") == 0)
            printf("Scan %lld is stopping (palisade wait %lld waits for its end)\n", id, id);
        else {
            char *s = out_safe(status ? status : "?");
            printf("Scan %lld had already ended: %s\n", id, s ? s : "?");
            free(s);
        }
    }
    json_decref(res);
    return EXIT_OK;
}
