/*
 * main.c — `palisade`, the command-line client of palisaded: parses the command line,
 * connects through libpalisade, runs one command and maps the outcome to the exit code
 * (0 ok / clean, 1 threats found, 2 error with "palisade: <Code>: <message>" on stderr, or
 * with --json {"error": {...}} on stdout). The help texts are in help.c.
 */
#define _GNU_SOURCE /* asprintf */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog.h"
#include "jobs.h"
#include "diag.h"
#include "metrics.h"
#include "help.h"
#include "msg.h"
#include "out.h"
#include "palisade.h"
#include "remediation.h"
#include "rtp.h"
#include "scan.h"

typedef struct cli {
    const char *socket;
    bool json;
    palisade *h;
} cli;

static int connect_agent(cli *c)
{
    c->h = palisade_new();
    if (!c->h)
        return out_fail("OutOfMemory", "out of memory");
    if (palisade_connect(c->h, c->socket) != PALISADE_OK)
        return out_error(c->h);
    return EXIT_OK;
}

/* Call op with args (stolen, may be NULL); *res receives the parsed result. */
static int call(cli *c, const char *op, json_t *args, json_t **res)
{
    return out_call(&c->h, c->socket, op, args, res);
}

/* ---- commands --------------------------------------------------------------------------- */

static int cmd_scan(cli *c, int argc, char **argv)
{
    const char *type = NULL;
    char **paths = calloc((size_t)argc + 1, sizeof(*paths));
    size_t npaths = 0;
    bool literal = false, detach = false;
    int rc = EXIT_ERROR;
    if (!paths)
        return EXIT_ERROR;
    if ((argc == 1 && strcmp(argv[0], "-") == 0) ||
        (argc == 3 && (strcmp(argv[0], "-") == 0 || strcmp(argv[2], "-") == 0))) {
        /* `scan - [--name HINT]`: standard input as a buffer (scan.c) */
        const char *name = NULL;
        int at = strcmp(argv[0], "-") == 0 ? 1 : 0;
        if (argc == 3 && strcmp(argv[at], "--name") != 0) {
            rc = out_usage_error("scan -: the only option is --name HINT");
            goto out;
        }
        name = argc == 3 ? argv[at + 1] : NULL;
        rc = connect_agent(c);
        if (rc == EXIT_OK)
            rc = cli_scan_stdin(c->h, name, c->json);
        goto out;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!literal && strcmp(a, "--") == 0) {
            literal = true;
        } else if (!literal && strcmp(a, "--detach") == 0) {
            detach = true;
        } else if (!literal && (strcmp(a, "--quick") == 0 || strcmp(a, "--full") == 0)) {
            if (type) {
                rc = out_usage_error("scan: give --quick or --full once");
                goto out;
            }
            type = a[2] == 'q' ? "Quick" : "Full";
        } else if (!literal && a[0] == '-' && a[1]) {
            rc = out_usage_error("scan: unknown option %s (use -- before such a path)", a);
            goto out;
        } else {
            paths[npaths++] = argv[i];
        }
    }
    if (npaths > 0 && type) {
        rc = out_usage_error("scan: give either --quick/--full or paths, not both");
        goto out;
    }
    if (!type)
        type = npaths > 0 ? "Custom" : "Quick";
    rc = connect_agent(c);
    if (rc == EXIT_OK)
        rc = detach ? cli_scan_detach(c->h, type, paths, npaths, c->json)
                    : cli_scan(c->h, type, paths, npaths, c->json);
out:
    free(paths);
    return rc;
}

/* last_scan in words: "Quick scan 12: Completed, started ..., ended ... (3.2 s), 1 threat".
   last_quick_scan and last_full_scan have no type: theirs is the key's (of_type). */
static char *last_scan_text(const json_t *ls, const char *of_type)
{
    if (!json_is_object(ls))
        return strdup("none");
    char *type = of_type ? strdup(of_type) : out_text(ls, "type"), *status = out_text(ls, "status");
    char *id = out_text(ls, "scan_id"), *t0 = out_text(ls, "start_time");
    char *t1 = out_text(ls, "end_time");
    const json_t *th = json_object_get(ls, "threats");
    long long nt = json_is_integer(th) ? (long long)json_integer_value(th) : 0;
    char took[48] = "";
    int64_t s0, s1;
    if (json_is_string(json_object_get(ls, "start_time")) &&
        json_is_string(json_object_get(ls, "end_time")) && pal_time_parse(t0, &s0) == 0 &&
        pal_time_parse(t1, &s1) == 0 && s1 >= s0)
        snprintf(took, sizeof(took), " (%.1f s)", (double)(s1 - s0) / 1000.0);
    char *text = NULL;
    bool ended = json_is_string(json_object_get(ls, "end_time"));
    if (asprintf(&text, "%s scan %s: %s, started %s, %s%s%s, %lld threat%s", type ? type : "?",
                 id ? id : "?", status ? status : "?", t0 ? t0 : "?", ended ? "ended " : "",
                 ended ? t1 : "still running", took, nt, nt == 1 ? "" : "s") < 0)
        text = NULL;
    free(type);
    free(status);
    free(id);
    free(t0);
    free(t1);
    return text;
}

/* The status fields, with last_scan in words and each problem of degraded on its own line. */
static void print_status(json_t *res)
{
    json_t *copy = json_copy(res);
    if (!copy)
        return;
    char *ls = last_scan_text(json_object_get(res, "last_scan"), NULL);
    if (ls && json_object_get(copy, "last_scan"))
        json_object_set_new(copy, "last_scan", json_string(ls));
    static const char *const typed[][2] = {{"last_quick_scan", "Quick"},
                                           {"last_full_scan", "Full"}};
    for (size_t k = 0; k < sizeof(typed) / sizeof(typed[0]); k++) {
        if (!json_object_get(copy, typed[k][0]))
            continue;
        char *t = last_scan_text(json_object_get(res, typed[k][0]), typed[k][1]);
        if (t)
            json_object_set_new(copy, typed[k][0], json_string(t));
        free(t);
    }
    /* next_quick_scan / next_full_scan: null when the schedule's day is Never */
    static const char *const nexts[] = {"next_quick_scan", "next_full_scan"};
    for (size_t k = 0; k < sizeof(nexts) / sizeof(nexts[0]); k++)
        if (json_is_null(json_object_get(copy, nexts[k])))
            json_object_set_new(copy, nexts[k], json_string("none"));
    /* health_issues: "Id: reason; Id: reason", or none */
    const json_t *issues = json_object_get(res, "health_issues");
    if (json_is_array(issues)) {
        char *joined = NULL;
        size_t i;
        const json_t *it;
        json_array_foreach(issues, i, it)
        {
            const char *id = json_string_value(json_object_get(it, "id"));
            const char *why = json_string_value(json_object_get(it, "reason"));
            char *next = NULL;
            if (asprintf(&next, "%s%s%s: %s", joined ? joined : "", joined ? "; " : "",
                         id ? id : "?", why ? why : "?") < 0)
                next = NULL;
            free(joined);
            joined = next;
        }
        json_object_set_new(copy, "health_issues", json_string(joined ? joined : "none"));
        free(joined);
    }
    const json_t *deg = json_object_get(res, "degraded");
    if (json_is_array(deg)) {
        /* one line per problem, indented under the key */
        char *joined = NULL;
        size_t i;
        const json_t *it;
        json_array_foreach(deg, i, it)
        {
            const char *p = json_string_value(it);
            char *next = NULL;
            if (asprintf(&next, "%s%s%s", joined ? joined : "", joined ? "; " : "", p ? p : "?") <
                0)
                next = NULL;
            free(joined);
            joined = next;
        }
        json_object_set_new(copy, "degraded", json_string(joined ? joined : "none"));
        free(joined);
    }
    cli_rtp_status_fields(copy);
    out_fields(copy, stdout);
    free(ls);
    json_decref(copy);
}

static int cmd_status(cli *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return out_usage_error("status takes no arguments");
    json_t *res;
    int rc = call(c, "status", NULL, &res);
    if (rc != EXIT_OK)
        return rc;
    if (c->json)
        out_json(res);
    else
        print_status(res);
    json_decref(res);
    return EXIT_OK;
}

static int cmd_threats(cli *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return out_usage_error("threats takes no arguments");
    json_t *res;
    int rc = call(c, "threats.list", NULL, &res);
    if (rc != EXIT_OK)
        return rc;
    if (c->json) {
        out_json(res);
    } else {
        /* DETAIL: where the file went ("quarantined as item 7"), and a later restore */
        static const char *const keys[] = {"detected_at",   "threat",        "severity", "action",
                                           "action_result", "action_detail", "path"};
        static const char *const heads[] = {"DETECTED", "THREAT", "SEVERITY", "ACTION",
                                            "RESULT",   "DETAIL", "PATH"};
        out_items(res, keys, heads, 7);
    }
    json_decref(res);
    return EXIT_OK;
}

static int cmd_scans(cli *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return out_usage_error("scans takes no arguments");
    json_t *res;
    int rc = call(c, "scans.list", NULL, &res);
    if (rc != EXIT_OK)
        return rc;
    if (c->json) {
        out_json(res);
    } else {
        /* TRIGGER: Client, or Scheduled / CatchUp for the agent's scheduled scans */
        static const char *const keys[] = {"scan_id", "type",          "status",  "start_time",
                                           "trigger", "files_scanned", "threats", "unscannable"};
        static const char *const heads[] = {"ID",      "TYPE",  "STATUS",  "STARTED",
                                            "TRIGGER", "FILES", "THREATS", "UNSCANNABLE"};
        out_items(res, keys, heads, 8);
    }
    json_decref(res);
    return EXIT_OK;
}

static void print_setting(const json_t *item)
{
    char *name = out_value(json_object_get(item, "name"));
    char *value = out_value(json_object_get(item, "value"));
    char *source = out_value(json_object_get(item, "source"));
    const json_t *detail = json_object_get(item, "source_detail");
    char *det = json_is_string(detail) ? out_value(detail) : NULL;
    printf("%s = %s (%s%s%s)\n", name, value, source, det ? ": " : "", det ? det : "");
    free(name);
    free(value);
    free(source);
    free(det);
}

/* `config get NAME`: the fields, and a list setting's entries as a table saying where each
   comes from (policy file or local preference). */
static void print_setting_fields(json_t *item)
{
    json_t *entries = json_incref(json_object_get(item, "entries"));
    json_object_del(item, "entries");
    out_fields(item, stdout);
    if (entries) {
        static const char *const keys[] = {"value", "source", "file"};
        static const char *const heads[] = {"ENTRY", "SOURCE", "FILE"};
        json_t *wrap = json_pack("{sO}", "items", entries);
        if (wrap)
            out_items(wrap, keys, heads, 3);
        json_decref(wrap);
    }
    json_decref(entries);
}

/* VALUE of `config set`: JSON when it parses (numbers, true, arrays...), else a string. */
static json_t *parse_value(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    return v ? v : json_string(text);
}

static int set_setting(cli *c, const char *name, json_t *value)
{
    if (!value)
        return out_usage_error("the value is not valid UTF-8");
    json_t *res;
    int rc = call(c, "config.set", json_pack("{s:s, s:o}", "name", name, "value", value), &res);
    if (rc != EXIT_OK)
        return rc;
    if (c->json)
        out_json(res);
    else
        print_setting(res);
    json_decref(res);
    return EXIT_OK;
}

static int cmd_config(cli *c, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "get") == 0 && argc <= 2) {
        json_t *res;
        int rc = argc == 2 ? call(c, "config.get", json_pack("{s:s}", "name", argv[1]), &res)
                           : call(c, "config.list", NULL, &res);
        if (rc != EXIT_OK)
            return rc;
        if (c->json) {
            out_json(res);
        } else if (argc == 2) {
            print_setting_fields(res);
        } else {
            static const char *const keys[] = {"name", "value", "source"};
            static const char *const heads[] = {"NAME", "VALUE", "SOURCE"};
            out_items(res, keys, heads, 3);
        }
        json_decref(res);
        return EXIT_OK;
    }
    if (argc == 3 && strcmp(argv[0], "set") == 0)
        return set_setting(c, argv[1], parse_value(argv[2]));
    return out_usage_error("usage: config get [NAME] | config set NAME VALUE");
}

static int cmd_sandbox(cli *c, int argc, char **argv)
{
    if (argc == 1 && strcmp(argv[0], "enable") == 0)
        return set_setting(c, "SandboxMode", json_string("Enabled"));
    if (argc == 1 && strcmp(argv[0], "disable") == 0)
        return set_setting(c, "SandboxMode", json_string("Disabled"));
    return out_usage_error("usage: sandbox enable|disable");
}

static int cmd_exclusion(cli *c, int argc, char **argv)
{
    if (argc < 1)
        return out_usage_error("usage: exclusion add|remove|list [--path P|--extension E]");
    const char *verb = argv[0];
    json_t *res;
    int rc;
    if (strcmp(verb, "list") == 0) {
        if (argc != 1)
            return out_usage_error("exclusion list takes no arguments");
        rc = call(c, "exclusion.list", NULL, &res);
    } else if (strcmp(verb, "add") == 0 || strcmp(verb, "remove") == 0) {
        if (argc != 3 || (strcmp(argv[1], "--path") != 0 && strcmp(argv[1], "--extension") != 0))
            return out_usage_error("usage: exclusion %s --path P | --extension E", verb);
        bool is_path = strcmp(argv[1], "--path") == 0;
        const char *value = argv[2];
        char *abs = NULL;
        if (is_path && value[0] != '/') {
            /* The agent has its own current directory: send what the user means. */
            char *cwd = getcwd(NULL, 0);
            if (!cwd)
                return out_usage_error("cannot resolve %s: no current directory", value);
            size_t n = strlen(cwd) + strlen(value) + 2;
            abs = malloc(n);
            if (abs)
                snprintf(abs, n, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", value);
            free(cwd);
            if (!abs)
                return EXIT_ERROR;
            value = abs;
        }
        json_t *args =
            json_pack("{s:s, s:s}", "kind", is_path ? "Path" : "Extension", "value", value);
        free(abs);
        if (!args)
            return out_usage_error("the %s is not valid UTF-8", is_path ? "path" : "extension");
        char op[32];
        snprintf(op, sizeof(op), "exclusion.%s", verb);
        rc = call(c, op, args, &res);
    } else {
        return out_usage_error("usage: exclusion add|remove|list [--path P|--extension E]");
    }
    if (rc != EXIT_OK)
        return rc;
    if (c->json) {
        out_json(res);
    } else {
        static const char *const keys[] = {"kind", "value", "source", "file"};
        static const char *const heads[] = {"KIND", "VALUE", "SOURCE", "FILE"};
        out_items(res, keys, heads, 4);
    }
    json_decref(res);
    return EXIT_OK;
}

static int cmd_quarantine(cli *c, int argc, char **argv)
{
    return cli_quarantine(&c->h, c->socket, c->json, argc, argv);
}

static int cmd_allow(cli *c, int argc, char **argv)
{
    return cli_allow(&c->h, c->socket, c->json, argc, argv);
}

static int cmd_action(cli *c, int argc, char **argv)
{
    return cli_action(&c->h, c->socket, c->json, argc, argv);
}

static int cmd_update(cli *c, int argc, char **argv)
{
    return cli_update(&c->h, c->socket, c->json, argc, argv);
}

static int cmd_diagnostics(cli *c, int argc, char **argv)
{
    return cli_diagnostics(&c->h, c->socket, c->json, argc, argv);
}

static int cmd_events(cli *c, int argc, char **argv)
{
    return cli_events(&c->h, c->socket, c->json, argc, argv);
}

static int cmd_catalog(cli *c, int argc, char **argv)
{
    return cli_catalog(&c->h, c->socket, c->json, argc, argv);
}

static int cmd_metrics(cli *c, int argc, char **argv)
{
    return cli_metrics(&c->h, c->socket, c->json, argc, argv);
}

static int cmd_jobs(cli *c, int argc, char **argv)
{
    return cli_jobs(&c->h, c->socket, c->json, argc, argv);
}

static int cmd_wait(cli *c, int argc, char **argv)
{
    return cli_wait(&c->h, c->socket, c->json, argc, argv);
}

static int cmd_cancel(cli *c, int argc, char **argv)
{
    return cli_cancel(&c->h, c->socket, c->json, argc, argv);
}

static int cmd_rtp(cli *c, int argc, char **argv)
{
    return cli_rtp(&c->h, c->socket, c->json, argc, argv);
}

static const struct command {
    const char *name;
    int (*fn)(cli *c, int argc, char **argv);
} commands[] = {
    {"scan", cmd_scan},
    {"status", cmd_status},
    {"threats", cmd_threats},
    {"scans", cmd_scans},
    {"config", cmd_config},
    {"sandbox", cmd_sandbox},
    {"exclusion", cmd_exclusion},
    {"quarantine", cmd_quarantine},
    {"allow", cmd_allow},
    {"update", cmd_update},
    {"diagnostics", cmd_diagnostics},
    {"events", cmd_events},
    {"action", cmd_action},
    {"catalog", cmd_catalog},
    {"jobs", cmd_jobs},
    {"wait", cmd_wait},
    {"cancel", cmd_cancel},
    {"metrics", cmd_metrics},
    {"rtp", cmd_rtp},
};

/* `palisade help [COMMAND]`: the list, or one command's help, on stdout. */
static int cmd_help(int argc, char **argv)
{
    if (argc == 0) {
        fputs(help_overview(), stdout);
        return EXIT_OK;
    }
    const char *text = argc == 1 ? help_for(argv[0]) : NULL;
    if (!text)
        return argc == 1 ? out_usage_error("no command '%s' (palisade help lists them)", argv[0])
                         : out_usage_error("usage: help [COMMAND]");
    fputs(text, stdout);
    return EXIT_OK;
}

/* --help or -h among a command's arguments (before "--"): that command's help. */
static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

int main(int argc, char **argv)
{
    cli c = {0};
    /* --json anywhere before "--" also makes the errors found while parsing JSON documents */
    for (int k = 1; k < argc && strcmp(argv[k], "--") != 0; k++)
        if (strcmp(argv[k], "--json") == 0)
            out_json_errors = true;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--socket") == 0) {
            if (i + 1 >= argc)
                return out_usage_error("--socket needs a path");
            c.socket = argv[++i];
        } else if (strncmp(a, "--socket=", 9) == 0) {
            c.socket = a + 9;
        } else if (strcmp(a, "--json") == 0) {
            c.json = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(help_overview(), stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("palisade %s\n", palisade_version());
            return EXIT_OK;
        } else if (a[0] == '-') {
            return out_usage_error("unknown option %s", a);
        } else {
            break;
        }
    }
    if (i >= argc) {
        if (out_json_errors)
            return out_usage_error("no command given (palisade help lists them)");
        fputs(help_overview(), stderr);
        return EXIT_ERROR;
    }
    const char *name = argv[i++];
    /* --json may also follow the command; "--" ends option processing for paths. */
    int n = 0;
    char **rest = calloc((size_t)(argc - i) + 1, sizeof(*rest));
    if (!rest)
        return out_fail("OutOfMemory", "out of memory");
    bool literal = false;
    for (; i < argc; i++) {
        if (!literal && strcmp(argv[i], "--json") == 0) {
            c.json = true;
            continue;
        }
        if (strcmp(argv[i], "--") == 0)
            literal = true;
        rest[n++] = argv[i];
    }
    int rc = -1;
    if (help_for(name) && wants_help(n, rest)) {
        fputs(help_for(name), stdout);
        rc = EXIT_OK;
    } else if (strcmp(name, "help") == 0) {
        rc = cmd_help(n, rest);
    } else {
        for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
            if (strcmp(name, commands[k].name) == 0)
                rc = commands[k].fn(&c, n, rest);
    }
    if (rc < 0)
        rc = out_usage_error("unknown command '%s' (palisade help lists them)", name);
    free(rest);
    palisade_close(c.h);
    if (fflush(stdout) != 0) {
        perror("palisade: stdout");
        return EXIT_ERROR;
    }
    return rc;
}
