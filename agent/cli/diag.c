/* diag.c — `palisade diagnostics` and `palisade events` (see diag.h). */
#include "diag.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "out.h"

int cli_diagnostics(palisade **h, const char *socket, bool json, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return out_usage_error("diagnostics takes no arguments");
    json_t *res = NULL;
    int rc = out_call(h, socket, "diagnostics", NULL, &res);
    if (rc != EXIT_OK)
        return rc;
    if (json) {
        out_json(res);
    } else {
        /* the path alone, so that scripts can take it as it is */
        char *path = out_value(json_object_get(res, "path"));
        printf("%s\n", path ? path : "-");
        free(path);
    }
    json_decref(res);
    return EXIT_OK;
}

int cli_events(palisade **h, const char *socket, bool json, int argc, char **argv)
{
    static const char usage[] = "usage: events [--limit N] (N: 1..1000, default 100)";
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
            return EXIT_ERROR;
    } else if (argc != 0) {
        return out_usage_error("%s", usage);
    }
    json_t *res = NULL;
    int rc = out_call(h, socket, "cp.events", args, &res);
    if (rc != EXIT_OK)
        return rc;
    if (json) {
        out_json(res);
        json_decref(res);
        return EXIT_OK;
    }
    const json_t *items = json_object_get(res, "items");
    if (json_array_size(items) == 0) {
        puts("(none)");
    } else {
        static const char *const keys[] = {"id", "at", "kind", "pid", "signal", "reason", "object"};
        static const char *const heads[] = {"ID",     "AT",     "KIND",  "PID",
                                            "SIGNAL", "REASON", "OBJECT"};
        enum { NCOLS = sizeof(keys) / sizeof(keys[0]) };
        out_table *t = out_table_new(NCOLS, heads);
        size_t i;
        const json_t *it;
        json_array_foreach(items, i, it)
        {
            char *cells[NCOLS] = {0};
            for (size_t k = 0; k < NCOLS; k++)
                cells[k] = out_text(it, keys[k]);
            out_table_add(t, (const char *const *)cells);
            for (size_t k = 0; k < NCOLS; k++)
                free(cells[k]);
        }
        out_table_print(t, stdout);
        out_table_free(t);
    }
    json_decref(res);
    return EXIT_OK;
}
