/* scan.c — `palisade scan` (see scan.h). */
#include "scan.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <jansson.h>

#include "msg.h"
#include "out.h"

#define POLL_MS 200 /* how often the wait looks at Ctrl+C */

static volatile sig_atomic_t g_interrupts;

static void on_sigint(int sig)
{
    (void)sig;
    if (g_interrupts) {
        static const char m[] = "\npalisade: interrupted\n";
        ssize_t w = write(STDERR_FILENO, m, sizeof(m) - 1);
        (void)w;
        _exit(130);
    }
    g_interrupts = 1;
}

/* {"type": type, "paths": [...]} as text; NULL on failure (a message only when the path
   cannot be resolved: the rest is out of memory, reported by the caller). */
static char *scan_args(const char *type, char *const *paths, size_t npaths, bool detach)
{
    json_t *args = json_pack("{s:s}", "type", type);
    json_t *arr = json_array();
    char *cwd = NULL, *text = NULL;
    if (!args || !arr || (detach && json_object_set_new(args, "detach", json_true()) < 0))
        goto out;
    for (size_t i = 0; i < npaths; i++) {
        const char *p = paths[i];
        char *abs = NULL;
        if (p[0] != '/') {
            if (!cwd && !(cwd = getcwd(NULL, 0))) {
                out_usage_error("cannot resolve %s: no current directory", p);
                goto out;
            }
            size_t n = strlen(cwd) + strlen(p) + 2;
            abs = malloc(n);
            if (!abs)
                goto out;
            snprintf(abs, n, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", p);
            p = abs;
        }
        json_t *el = pal_msg_path_arg(p, strlen(p));
        free(abs);
        if (!el || json_array_append_new(arr, el) < 0)
            goto out;
    }
    if (npaths > 0 && json_object_set(args, "paths", arr) < 0)
        goto out;
    text = json_dumps(args, JSON_COMPACT);
out:
    free(cwd);
    json_decref(arr);
    json_decref(args);
    return text;
}

static unsigned terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    return 80;
}

static json_int_t int_field(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* One \r-updated line: counts, then as much of the current path's tail as fits. */
static void draw_progress(const json_t *data)
{
    char bytes[32], prefix[160];
    out_bytes((uint64_t)int_field(data, "bytes_done"), bytes, sizeof(bytes));
    const json_t *total = json_object_get(data, "files_total");
    char files[64];
    if (json_is_integer(total))
        snprintf(files, sizeof(files), "%lld/%lld files", (long long)int_field(data, "files_done"),
                 (long long)json_integer_value(total));
    else
        snprintf(files, sizeof(files), "%lld files", (long long)int_field(data, "files_done"));
    json_int_t threats = int_field(data, "threats_so_far");
    snprintf(prefix, sizeof(prefix), "Scanning: %s, %s, %lld threat%s, %lld unscannable  ", files,
             bytes, (long long)threats, threats == 1 ? "" : "s",
             (long long)int_field(data, "unscannable_so_far"));
    size_t width = terminal_width() - 1; /* never touch the last column: no wrap */
    size_t used = out_width(prefix);
    char *path = out_path(data, "current_path");
    const char *shown = "";
    const char *ellipsis = "";
    if (used < width && path) {
        size_t room = width - used;
        size_t pw = out_width(path);
        shown = path;
        if (pw > room) {
            /* Keep the tail: the file name says more than the mount point. */
            size_t keep = room > 3 ? room - 3 : room;
            ellipsis = room > 3 ? "..." : "";
            for (size_t skip = pw - keep; skip > 0 && *shown; skip--) {
                shown++;
                while (((unsigned char)*shown & 0xC0) == 0x80)
                    shown++;
            }
        }
    } else if (used >= width) {
        prefix[width < sizeof(prefix) ? width : sizeof(prefix) - 1] = '\0';
    }
    fprintf(stderr, "\r%s%s%s\033[K", prefix, ellipsis, shown);
    fflush(stderr);
    free(path);
}

static void clear_progress(bool tty)
{
    if (tty) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}

/* The documented `scan --json` shape (DESIGN.md), from the agent's result. */
static json_t *json_report(const json_t *res)
{
    json_t *out = json_object();
    json_object_set(out, "scan_id", json_object_get(res, "scan_id"));
    json_object_set(out, "status", json_object_get(res, "status"));
    json_object_set(out, "files_scanned", json_object_get(res, "files_scanned"));
    json_object_set(out, "bytes_scanned", json_object_get(res, "bytes_scanned"));
    const json_t *skipped = json_object_get(res, "skipped");
    json_object_set_new(out, "skipped", skipped ? json_deep_copy(skipped) : json_object());
    static const char *const extra[] = {
        "threats_found",  "allowed_count", "unremediated_count", "unscannable_count",
        "fully_examined", "root_errors",   "resolved_roots",     NULL};
    for (const char *const *k = extra; *k; k++) {
        json_t *v = json_object_get(res, *k);
        if (v)
            json_object_set(out, *k, v);
    }
    static const char *const tkeys[] = {"path",   "path_b64",      "threat", "severity",
                                        "action", "action_result", NULL};
    static const char *const ukeys[] = {"path", "path_b64", "reason", NULL};
    const char *const *keys[2] = {tkeys, ukeys};
    const char *lists[2] = {"threats", "unscannable"};
    for (int l = 0; l < 2; l++) {
        json_t *arr = json_array();
        size_t i;
        const json_t *item;
        json_array_foreach(json_object_get(res, lists[l]), i, item)
        {
            json_t *o = json_object();
            for (const char *const *k = keys[l]; *k; k++) {
                json_t *v = json_object_get(item, *k);
                if (v || strcmp(*k, "path_b64") != 0)
                    json_object_set(o, *k, v ? v : json_null());
            }
            json_array_append_new(arr, o);
        }
        json_object_set_new(out, lists[l], arr);
    }
    return out;
}

static char *item_path(const json_t *item, const char *key)
{
    return out_safe(json_string_value(json_object_get(item, key)));
}

/* The agent's fully_examined; from an agent that predates it, what its other keys tell. */
static bool examined_all(const json_t *res)
{
    const json_t *full = json_object_get(res, "fully_examined");
    if (json_is_boolean(full))
        return json_is_true(full);
    const json_t *sk = json_object_get(res, "skipped");
    return json_array_size(json_object_get(res, "unscannable")) == 0 &&
           int_field(sk, "unreadable") == 0 && int_field(sk, "too-deep") == 0 &&
           int_field(sk, "error") == 0;
}

/* What an administrator must not miss, on stderr in text and JSON mode alike: the roots that
   were not scanned, the symlink roots that were resolved, the threats left in place and the
   objects that could not be examined. */
static void report_notes(const json_t *res)
{
    size_t i;
    const json_t *it;
    json_array_foreach(json_object_get(res, "resolved_roots"), i, it)
    {
        char *p = item_path(it, "path"), *r = item_path(it, "resolved");
        fprintf(stderr, "palisade: %s is a symbolic link: scanned its target %s\n", p ? p : "?",
                r ? r : "?");
        free(p);
        free(r);
    }
    json_array_foreach(json_object_get(res, "root_errors"), i, it)
    {
        char *p = item_path(it, "path"), *why = item_path(it, "reason"),
             *code = item_path(it, "error");
        fprintf(stderr, "palisade: cannot scan %s: %s (%s)\n", p ? p : "?", why ? why : "?",
                code ? code : "error");
        free(p);
        free(why);
        free(code);
    }
    json_int_t unrem = int_field(res, "unremediated_count");
    if (unrem > 0)
        fprintf(stderr,
                "palisade: warning: %lld threat%s could not be quarantined or removed and %s "
                "still in place (see RESULT Failed); the agent stays Degraded until dealt with\n",
                (long long)unrem, unrem == 1 ? "" : "s", unrem == 1 ? "is" : "are");
    /* a scan that did not complete says so itself (scan_exit_status) */
    const char *status = json_string_value(json_object_get(res, "status"));
    if (!examined_all(res) && status && strcmp(status, "Completed") == 0 &&
        json_array_size(json_object_get(res, "root_errors")) == 0) {
        const json_t *sk = json_object_get(res, "skipped");
        fprintf(stderr,
                "palisade: warning: not everything was examined: %lld unscannable, %lld "
                "unreadable, %lld too deep, %lld errors\n",
                (long long)(json_is_integer(json_object_get(res, "unscannable_count"))
                                ? int_field(res, "unscannable_count")
                                : (json_int_t)json_array_size(json_object_get(res, "unscannable"))),
                (long long)int_field(sk, "unreadable"), (long long)int_field(sk, "too-deep"),
                (long long)int_field(sk, "error"));
    }
}

/*
 * The exit status (palisade(1), EXIT STATUS). 2 wins: a scan that did not complete, or did
 * not scan a root it was given, did not do what was asked, and a script must not read that
 * as a plain "threats found" (the threats are still printed and in the history). Then 1 when
 * a threat was found (allowed findings do not count), then 3 when nothing was found but
 * something could not be examined, else 0.
 */
static int scan_exit_status(const json_t *res)
{
    const char *status = json_string_value(json_object_get(res, "status"));
    if (!status || strcmp(status, "Completed") != 0) {
        char *s = out_safe(status ? status : "unknown");
        fprintf(stderr, "palisade: the scan ended %s: not every file was scanned\n",
                s ? s : "early");
        free(s);
        return EXIT_ERROR;
    }
    if (json_array_size(json_object_get(res, "root_errors")) > 0)
        return EXIT_ERROR;
    const json_t *found = json_object_get(res, "threats_found");
    json_int_t threats = json_is_integer(found)
                             ? json_integer_value(found)
                             : (json_int_t)json_array_size(json_object_get(res, "threats"));
    if (threats > 0)
        return EXIT_THREATS;
    if (!examined_all(res))
        return EXIT_INCOMPLETE;
    return EXIT_OK;
}

static void text_report(const json_t *res)
{
    const json_t *threats = json_object_get(res, "threats");
    const json_t *unscannable = json_object_get(res, "unscannable");
    size_t i;
    const json_t *it;
    if (json_array_size(threats) > 0) {
        static const char *const h[] = {"THREAT", "SEVERITY", "ACTION", "RESULT", "PATH"};
        out_table *t = out_table_new(5, h);
        json_array_foreach(threats, i, it)
        {
            char *path = out_text(it, "path"); /* exact bytes; the table shows them safely */
            const char *row[5] = {
                json_string_value(json_object_get(it, "threat")),
                json_string_value(json_object_get(it, "severity")),
                json_string_value(json_object_get(it, "action")),
                json_string_value(json_object_get(it, "action_result")),
                path,
            };
            out_table_add(t, row);
            free(path);
        }
        out_table_print(t, stdout);
        out_table_free(t);
        fputc('\n', stdout);
    }
    if (json_array_size(unscannable) > 0) {
        static const char *const h[] = {"UNSCANNABLE", "PATH", "DETAIL"};
        out_table *t = out_table_new(3, h);
        json_array_foreach(unscannable, i, it)
        {
            char *path = out_text(it, "path");
            const char *row[3] = {
                json_string_value(json_object_get(it, "reason")),
                path,
                json_string_value(json_object_get(it, "detail")),
            };
            out_table_add(t, row);
            free(path);
        }
        out_table_print(t, stdout);
        fputc('\n', stdout);
        out_table_free(t);
    }
    char bytes[32];
    out_bytes((uint64_t)int_field(res, "bytes_scanned"), bytes, sizeof(bytes));
    char *status = out_value(json_object_get(res, "status"));
    char *id = out_value(json_object_get(res, "scan_id"));
    char took[48] = "";
    int64_t t0, t1;
    const char *s0 = json_string_value(json_object_get(res, "start_time"));
    const char *s1 = json_string_value(json_object_get(res, "end_time"));
    if (s0 && s1 && pal_time_parse(s0, &t0) == 0 && pal_time_parse(s1, &t1) == 0 && t1 >= t0)
        snprintf(took, sizeof(took), " in %.1f s", (double)(t1 - t0) / 1000.0);
    size_t nu = json_array_size(unscannable);
    long long nt = (long long)json_array_size(threats);
    const json_t *found = json_object_get(res, "threats_found");
    if (json_is_integer(found))
        nt = (long long)json_integer_value(found);
    printf("Scan %s %s%s: %lld files (%s) scanned, %lld threat%s, %zu unscannable", id, status,
           took, (long long)int_field(res, "files_scanned"), bytes, nt, nt == 1 ? "" : "s", nu);
    if (int_field(res, "allowed_count") > 0)
        printf(", %lld allowed", (long long)int_field(res, "allowed_count"));
    if (json_array_size(json_object_get(res, "root_errors")) > 0)
        printf(", %zu root%s not scanned", json_array_size(json_object_get(res, "root_errors")),
               json_array_size(json_object_get(res, "root_errors")) == 1 ? "" : "s");
    const json_t *skipped = json_object_get(res, "skipped");
    if (json_object_size(skipped) > 0) {
        const char *k;
        json_t *v;
        const char *sep = "; skipped: ";
        json_object_foreach((json_t *)(uintptr_t)skipped, k, v)
        {
            char *sk = out_safe(k);
            printf("%s%s %lld", sep, sk ? sk : "?", (long long)json_integer_value(v));
            free(sk);
            sep = ", ";
        }
    }
    fputc('\n', stdout);
    free(status);
    free(id);
}

int cli_scan_detach(palisade *h, const char *type, char *const *paths, size_t npaths, bool json)
{
    char *args = scan_args(type, paths, npaths, true);
    if (!args)
        return EXIT_ERROR;
    char *res_text = NULL;
    int k = palisade_call(h, "scan.start", args, &res_text);
    free(args);
    if (k != PALISADE_OK)
        return out_error(h);
    json_error_t je;
    json_t *res = json_loads(res_text, 0, &je);
    palisade_free_string(res_text);
    if (!json_is_integer(json_object_get(res, "scan_id"))) {
        json_decref(res);
        return out_fail(PAL_CODE_PROTOCOL_ERROR, "the agent sent no scan id");
    }
    if (json) {
        out_json(res);
    } else {
        long long id = (long long)int_field(res, "scan_id");
        printf("%lld\n", id);
        fflush(stdout);
        fprintf(stderr,
                "palisade: scan %lld runs in the agent: `palisade jobs %lld` shows it, "
                "`palisade wait %lld` waits for its result, `palisade cancel %lld` stops it\n",
                id, id, id, id);
    }
    json_decref(res);
    return EXIT_OK;
}

int cli_scan(palisade *h, const char *type, char *const *paths, size_t npaths, bool json)
{
    char *args = scan_args(type, paths, npaths, false);
    if (!args)
        return EXIT_ERROR;
    int rc = cli_scan_follow(h, "scan.start", args, true, json);
    free(args);
    return rc;
}

int cli_scan_follow(palisade *h, const char *op, const char *args, bool owns_scan, bool json)
{
    int64_t id = palisade_start(h, op, args);
    if (id < 0)
        return out_error(h);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the wait wakes up and looks */
    sigaction(SIGINT, &sa, &old);

    bool tty = !json && isatty(STDERR_FILENO);
    bool cancel_sent = false;
    json_t *res = NULL;
    int rc = EXIT_ERROR;
    for (;;) {
        if (g_interrupts && !owns_scan) {
            /* the scan is the agent's: Ctrl+C only ends this wait */
            clear_progress(tty);
            fputs("palisade: stopped waiting; the scan goes on in the agent\n", stderr);
            rc = 130;
            goto out;
        }
        if (g_interrupts && !cancel_sent) {
            cancel_sent = true;
            clear_progress(tty);
            fputs("palisade: cancelling the scan (press Ctrl+C again to quit at once)\n", stderr);
            if (palisade_cancel(h, id) < 0) {
                rc = out_error(h);
                goto out;
            }
        }
        int64_t rid;
        char *js = NULL;
        int k = palisade_next_event(h, POLL_MS, &rid, &js);
        if (k == PALISADE_TIMEOUT)
            continue;
        if (k < 0) {
            clear_progress(tty);
            rc = out_error(h);
            goto out;
        }
        json_error_t je;
        json_t *msg = json_loads(js, 0, &je);
        palisade_free_string(js);
        if (k == PALISADE_EVENT) {
            const char *name = json_string_value(json_object_get(msg, "event"));
            if (tty && name && strcmp(name, "progress") == 0)
                draw_progress(json_object_get(msg, "data"));
            json_decref(msg);
            continue;
        }
        clear_progress(tty);
        if (k == PALISADE_ERROR) {
            json_decref(msg);
            rc = out_error(h);
            goto out;
        }
        res = msg; /* PALISADE_RESULT */
        break;
    }
    if (!res) {
        rc = out_fail(PAL_CODE_PROTOCOL_ERROR, "the agent sent an unreadable scan result");
        goto out;
    }
    if (json) {
        json_t *rep = json_report(res);
        out_json(rep);
        json_decref(rep);
    } else {
        text_report(res);
    }
    fflush(stdout);
    report_notes(res);
    rc = scan_exit_status(res);
out:
    json_decref(res);
    sigaction(SIGINT, &old, NULL);
    return rc;
}

int cli_scan_stdin(palisade *h, const char *name, bool json)
{
    size_t cap = PALISADE_BUFFER_SCAN_MAX + 1, len = 0;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return out_fail("OutOfMemory", "out of memory");
    /* one byte more than the limit tells "too large" from "exactly the limit" */
    while (len < cap) {
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            return out_fail("Unreadable", "cannot read standard input: %s", strerror(errno));
        }
        len += (size_t)n;
    }
    if (len > PALISADE_BUFFER_SCAN_MAX) {
        free(buf);
        return out_fail("InvalidValue",
                        "standard input is larger than the %d bytes a buffer scan takes; save "
                        "it to a file and scan the file",
                        PALISADE_BUFFER_SCAN_MAX);
    }
    char *js = NULL;
    int rc = palisade_scan_buffer(h, buf, (int64_t)len, name ? name : "stdin", &js);
    free(buf);
    if (rc != PALISADE_OK)
        return out_error(h);
    json_error_t je;
    json_t *res = json_loads(js, 0, &je);
    palisade_free_string(js);
    if (!res)
        return out_fail("ProtocolError", "the agent's result is not JSON: %s", je.text);
    const char *verdict = json_string_value(json_object_get(res, "verdict"));
    const json_t *threats = json_object_get(res, "threats");
    if (json) {
        out_json(res);
    } else {
        if (json_array_size(threats) > 0) {
            static const char *const hd[] = {"THREAT", "SEVERITY", "CATEGORY", "ACTION"};
            out_table *t = out_table_new(4, hd);
            size_t i;
            const json_t *it;
            json_array_foreach(threats, i, it)
            {
                /* nothing is remediated: there is no file; an allowed finding does not count */
                const char *row[4] = {json_string_value(json_object_get(it, "threat")),
                                      json_string_value(json_object_get(it, "severity")),
                                      json_string_value(json_object_get(it, "category")),
                                      json_is_true(json_object_get(it, "allowed")) ? "Allow"
                                                                                   : "NoAction"};
                out_table_add(t, row);
            }
            out_table_print(t, stdout);
            out_table_free(t);
            fputc('\n', stdout);
        }
        char *shown = out_text(res, "name");
        char *v = out_value(json_object_get(res, "verdict"));
        char *reason = out_text(res, "reason");
        printf("%s (%lld bytes): %s%s%s%s\n", shown ? shown : "buffer",
               (long long)int_field(res, "size"), v ? v : "?", reason ? " (" : "",
               reason ? reason : "", reason ? ")" : "");
        free(shown);
        free(v);
        free(reason);
    }
    if (verdict && strcmp(verdict, "threat") == 0)
        rc = EXIT_THREATS;
    else if (verdict && strcmp(verdict, "clean") == 0)
        rc = EXIT_OK;
    else if (verdict && strcmp(verdict, "unscannable") == 0)
        rc = EXIT_INCOMPLETE;
    else
        rc = out_fail("ProtocolError", "the agent's verdict is missing or unknown");
    if (!json && rc == EXIT_INCOMPLETE)
        fprintf(stderr, "palisade: warning: the content could not be examined fully\n");
    json_decref(res);
    return rc;
}
