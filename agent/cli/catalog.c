/*
 * catalog.c — `palisade catalog` (catalog.h): the catalog.list op as a table or JSON.
 */
#include "catalog.h"

#include <stdlib.h>
#include <string.h>

#include "out.h"

int cli_catalog(palisade **h, const char *socket, bool json, int argc, char **argv)
{
    static const char usage[] = "usage: catalog [--severity Low|Moderate|High|Severe] "
                                "[NAME-PATTERN] (* and ? match any run / one character)";
    const char *pattern = NULL, *severity = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--severity") == 0) {
            if (severity || i + 1 >= argc)
                return out_usage_error("%s", usage);
            severity = argv[++i];
        } else if (strcmp(a, "--") == 0 && i + 2 == argc && !pattern) {
            pattern = argv[++i];
        } else if (a[0] == '-' || pattern || a[0] == '\0') {
            return out_usage_error("%s", usage);
        } else {
            pattern = a;
        }
    }
    json_t *args = json_object();
    if (!args || (pattern && json_object_set_new(args, "name", json_string(pattern)) != 0) ||
        (severity && json_object_set_new(args, "severity", json_string(severity)) != 0)) {
        json_decref(args);
        return out_usage_error("the pattern and the severity must be UTF-8 text");
    }
    json_t *res = NULL;
    int rc = out_call(h, socket, "catalog.list", args, &res);
    if (rc != EXIT_OK)
        return rc;
    if (json) {
        out_json(res);
    } else {
        static const char *const keys[] = {"name", "category", "severity", "default_action"};
        static const char *const heads[] = {"NAME", "CATEGORY", "SEVERITY", "DEFAULT ACTION"};
        out_items(res, keys, heads, sizeof(keys) / sizeof(keys[0]));
    }
    json_decref(res);
    return EXIT_OK;
}
