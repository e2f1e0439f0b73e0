/* remediation.c — `palisade quarantine`, `allow` and `update` (see remediation.h). */
#include "remediation.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "msg.h"
#include "out.h"

/* A path argument for the agent: absolute, and {"b64"} when it is not UTF-8. NULL with a
   message on failure. */
static json_t *path_arg(const char *p)
{
    char *abs = NULL;
    if (p[0] != '/') {
        char *cwd = getcwd(NULL, 0);
        if (!cwd) {
            out_usage_error("cannot resolve %s: no current directory", p);
            return NULL;
        }
        size_t n = strlen(cwd) + strlen(p) + 2;
        abs = malloc(n);
        if (abs)
            snprintf(abs, n, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", p);
        free(cwd);
        if (!abs)
            return NULL;
        p = abs;
    }
    json_t *v = pal_msg_path_arg(p, strlen(p));
    free(abs);
    return v;
}

/* A quarantine item id: a positive decimal integer. */
static int parse_id(const char *s, json_int_t *out)
{
    if (!s || *s < '1' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > (unsigned long long)PAL_MSG_ID_MAX)
        return -1;
    *out = (json_int_t)v;
    return 0;
}

/* prefix, the value as text, suffix */
static void print_value(const char *prefix, const json_t *v, const char *suffix)
{
    char *s = out_value(v);
    printf("%s%s%s", prefix, s ? s : "-", suffix);
    free(s);
}

/* ---- quarantine ------------------------------------------------------------------------- */

static const char quarantine_usage[] =
    "usage: quarantine list | quarantine restore ID [--to PATH] [--force] [--allow] | "
    "quarantine remove ID";

int cli_quarantine(palisade **h, const char *socket, bool json, int argc, char **argv)
{
    if (argc < 1)
        return out_usage_error("%s", quarantine_usage);
    const char *verb = argv[0];
    json_t *res = NULL;
    int rc;
    if (strcmp(verb, "list") == 0) {
        if (argc != 1)
            return out_usage_error("quarantine list takes no arguments");
        if ((rc = out_call(h, socket, "quarantine.list", NULL, &res)) != EXIT_OK)
            return rc;
        if (json) {
            out_json(res);
        } else {
            static const char *const keys[] = {"id", "quarantined_at", "threat", "size",
                                               "original_path"};
            static const char *const heads[] = {"ID", "QUARANTINED", "THREAT", "SIZE", "PATH"};
            out_items(res, keys, heads, 5);
        }
        json_decref(res);
        return EXIT_OK;
    }
    if (strcmp(verb, "remove") == 0) {
        json_int_t id;
        if (argc != 2 || parse_id(argv[1], &id) != 0)
            return out_usage_error("usage: quarantine remove ID (a number from quarantine "
                                   "list)");
        if ((rc = out_call(h, socket, "quarantine.remove", json_pack("{sI}", "id", id), &res)) !=
            EXIT_OK)
            return rc;
        if (json)
            out_json(res);
        else
            printf("quarantine item %" JSON_INTEGER_FORMAT " deleted\n", id);
        json_decref(res);
        return EXIT_OK;
    }
    if (strcmp(verb, "restore") != 0)
        return out_usage_error("%s", quarantine_usage);
    json_int_t id = 0;
    bool have_id = false, force = false, allow = false;
    const char *to = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) {
            force = true;
        } else if (strcmp(argv[i], "--allow") == 0) {
            allow = true;
        } else if (strcmp(argv[i], "--to") == 0) {
            if (i + 1 >= argc || to)
                return out_usage_error("quarantine restore: --to needs one PATH");
            to = argv[++i];
        } else if (!have_id && parse_id(argv[i], &id) == 0) {
            have_id = true;
        } else {
            return out_usage_error("quarantine restore: unexpected argument %s\n%s", argv[i],
                                   quarantine_usage);
        }
    }
    if (!have_id)
        return out_usage_error("%s", quarantine_usage);
    /* "DIR/" names a directory, as in cp and Restore-QuarantineItem -Destination: it must
       exist, and the file goes into it under its own name (the agent does that for an
       existing directory named without the slash) */
    char *dir = NULL;
    size_t to_len = to ? strlen(to) : 0;
    if (to_len > 1 && to[to_len - 1] == '/') {
        if (!(dir = strdup(to)))
            return EXIT_ERROR;
        while (to_len > 1 && dir[to_len - 1] == '/')
            dir[--to_len] = '\0';
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            /* out_fail shows the names in their safe form */
            rc = out_fail("InvalidValue",
                          "--to %s ends with '/' but %s is not an existing directory; nothing "
                          "was restored",
                          to, dir);
            free(dir);
            return rc;
        }
        to = dir;
    }
    json_t *args = json_pack("{sIsbsb}", "id", id, "force", force, "allow", allow);
    if (!args) {
        free(dir);
        return EXIT_ERROR;
    }
    if (to) {
        json_t *p = path_arg(to);
        free(dir);
        if (!p) {
            json_decref(args);
            return EXIT_ERROR;
        }
        json_object_set_new(args, "destination", p);
    }
    if ((rc = out_call(h, socket, "quarantine.restore", args, &res)) != EXIT_OK)
        return rc;
    if (json) {
        out_json(res);
    } else {
        char *shown = out_path(res, "path"); /* from the exact bytes, even when not UTF-8 */
        printf("restored to %s%s", shown ? shown : "-",
               json_is_true(json_object_get(res, "allowed"))
                   ? " (its SHA-256 is allowed: scans will not quarantine it again)\n"
                   : "\n");
        free(shown);
    }
    json_decref(res);
    return EXIT_OK;
}

/* ---- allowed threats -------------------------------------------------------------------- */

int cli_allow(palisade **h, const char *socket, bool json, int argc, char **argv)
{
    static const char usage[] = "usage: allow list | allow add|remove (--threat NAME | "
                                "--sha256 HEX)";
    json_t *res = NULL;
    int rc;
    if (argc == 1 && strcmp(argv[0], "list") == 0) {
        rc = out_call(h, socket, "allow.list", NULL, &res);
    } else if (argc == 3 && (strcmp(argv[0], "add") == 0 || strcmp(argv[0], "remove") == 0) &&
               (strcmp(argv[1], "--threat") == 0 || strcmp(argv[1], "--sha256") == 0)) {
        const char *kind = strcmp(argv[1], "--threat") == 0 ? "ThreatName" : "Sha256";
        json_t *args = json_pack("{ssss}", "kind", kind, "value", argv[2]);
        if (!args)
            return out_usage_error("the value is not valid UTF-8");
        rc = out_call(h, socket, strcmp(argv[0], "add") == 0 ? "allow.add" : "allow.remove", args,
                      &res);
    } else {
        return out_usage_error("%s", usage);
    }
    if (rc != EXIT_OK)
        return rc;
    if (json) {
        out_json(res);
    } else {
        static const char *const keys[] = {"kind", "value", "added_at"};
        static const char *const heads[] = {"KIND", "VALUE", "ADDED"};
        out_items(res, keys, heads, 3);
    }
    json_decref(res);
    return EXIT_OK;
}

/* ---- per-threat action overrides -------------------------------------------------------- */

int cli_action(palisade **h, const char *socket, bool json, int argc, char **argv)
{
    static const char usage[] = "usage: action list | action set THREAT Quarantine|Remove|NoAction"
                                " | action remove THREAT";
    json_t *res = NULL, *args = NULL;
    const char *op;
    if (argc == 1 && strcmp(argv[0], "list") == 0) {
        op = "threat_action.list";
    } else if (argc == 3 && strcmp(argv[0], "set") == 0) {
        op = "threat_action.set";
        args = json_pack("{ssss}", "threat", argv[1], "action", argv[2]);
    } else if (argc == 2 && strcmp(argv[0], "remove") == 0) {
        op = "threat_action.remove";
        args = json_pack("{ss}", "threat", argv[1]);
    } else {
        return out_usage_error("%s", usage);
    }
    if (strcmp(op, "threat_action.list") != 0 && !args)
        return out_usage_error("the threat name is not valid UTF-8");
    int rc = out_call(h, socket, op, args, &res);
    if (rc != EXIT_OK)
        return rc;
    if (json) {
        out_json(res);
    } else {
        static const char *const keys[] = {"threat", "action", "set_at"};
        static const char *const heads[] = {"THREAT", "ACTION", "SET"};
        out_items(res, keys, heads, 3);
    }
    json_decref(res);
    return EXIT_OK;
}

/* ---- signature updates ------------------------------------------------------------------ */

int cli_update(palisade **h, const char *socket, bool json, int argc, char **argv)
{
    static const char usage[] = "usage: update PKG [--force] | update rollback";
    json_t *res = NULL, *args = NULL;
    const char *op;
    int rc;
    if (argc == 1 && strcmp(argv[0], "rollback") == 0) {
        op = "update.rollback";
    } else {
        const char *pkg = NULL;
        bool force = false;
        for (int i = 0; i < argc; i++) {
            if (strcmp(argv[i], "--force") == 0)
                force = true;
            else if (!pkg && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
                pkg = argv[i];
            else
                return out_usage_error("update: unexpected argument %s\n%s", argv[i], usage);
        }
        if (!pkg)
            return out_usage_error("%s", usage);
        json_t *p = path_arg(pkg);
        if (!p)
            return EXIT_ERROR;
        args = json_pack("{sosb}", "path", p, "force", force);
        if (!args)
            return EXIT_ERROR;
        op = "update";
    }
    if ((rc = out_call(h, socket, op, args, &res)) != EXIT_OK)
        return rc;
    if (json) {
        out_json(res);
    } else {
        print_value("signature version ", json_object_get(res, "signature_version"), " in force");
        print_value(" (was ", json_object_get(res, "previous_version"), ")\n");
    }
    json_decref(res);
    return EXIT_OK;
}
