/*
 * test_cli.c — the `palisade` CLI end to end: a control server with fake agent ops runs
 * in-process, the real CLI binary ($PAL_CLI) runs against it as a child process, and the
 * tests check what it sent, what it printed and how it exited (including Ctrl+C). The
 * status document is not invented: it is the real daemon's (pal_daemon_status_json on a
 * daemon built over a temp state directory), so the CLI is tested against the contract.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <ftw.h>

#include "control.h"
#include "daemon.h"
#include "msg.h"

#define SAFETY_MS 20000

static char g_dir[64];
static char g_sock[128];
static const char *g_cli;
static pal_ctl_server *g_srv;
static pal_daemon *g_daemon; /* answers status */

/* What the fake agent saw (the tests read these after the CLI exited). */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *g_last_args;        /* (g_mu) args of the last request */
static char g_last_path[512];      /* (g_mu) first scan path, raw bytes */
static size_t g_last_path_len;     /* (g_mu) */
static atomic_int g_progress_sent; /* progress events of endless scans */
static atomic_int g_saw_cancel;    /* endless scans that saw their cancel flag */

static void remember(pal_ctl_request *req)
{
    pthread_mutex_lock(&g_mu);
    json_decref(g_last_args);
    g_last_args = json_deep_copy(pal_ctl_request_args(req));
    pthread_mutex_unlock(&g_mu);
}

static json_t *last_args(void)
{
    pthread_mutex_lock(&g_mu);
    json_t *a = json_incref(g_last_args);
    pthread_mutex_unlock(&g_mu);
    return a;
}

/* ---- the fake agent ----------------------------------------------------------------------- */

static json_t *op_status(pal_ctl_request *req, void *arg)
{
    (void)arg;
    json_t *o = pal_daemon_status_json(g_daemon);
    return o ? o : pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
}

static json_t *progress(json_int_t n, const char *path)
{
    return json_pack("{s:I, s:I, s:n, s:s, s:i, s:i}", "files_done", n, "bytes_done", n * 1000,
                     "files_total", "current_path", path, "threats_so_far", 0, "unscannable_so_far",
                     0);
}

static json_t *op_scan(pal_ctl_request *req, void *arg)
{
    (void)arg;
    remember(req);
    const json_t *a = pal_ctl_request_args(req);
    static const char *const types[] = {"Quick", "Full", "Custom", NULL};
    int type;
    const json_t *paths = NULL;
    pal_errbuf err;
    if (pal_msg_get_enum(a, "type", PAL_MSG_REQUIRED, types, &type, &err) < 0 ||
        pal_msg_get_array(a, "paths", type == 2 ? PAL_MSG_REQUIRED : 0, &paths, &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    char *first = NULL;
    size_t flen = 0;
    if (json_array_size(paths) > 0 &&
        pal_msg_path_arg_decode(json_array_get(paths, 0), "paths[0]", &first, &flen, &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    pthread_mutex_lock(&g_mu);
    g_last_path_len = first && flen < sizeof(g_last_path) ? flen : 0;
    memcpy(g_last_path, first ? first : "", g_last_path_len);
    pthread_mutex_unlock(&g_mu);

    bool endless = first && strcmp(first, "/endless") == 0;
    bool stubborn = first && strcmp(first, "/stubborn") == 0; /* ignores cancel */
    bool eicar = first && strstr(first, "eicar");
    bool clean = first && strstr(first, "clean");     /* nothing unscannable */
    bool allowed = first && strstr(first, "allowed"); /* an allowed finding */
    bool missing = first && strstr(first, "missing"); /* the first root is a root error */
    free(first);
    const char *status = "Completed";
    if (endless || stubborn) {
        bool noted = false;
        for (json_int_t n = 0;; n++) {
            if (pal_ctl_cancelled(req)) {
                if (!noted)
                    atomic_fetch_add(&g_saw_cancel, 1);
                noted = true;
                if (!stubborn) {
                    status = "Cancelled";
                    break;
                }
            }
            if (pal_ctl_event(req, "progress", progress(n, "/srv/some/deep/dir/file.bin")) < 0)
                break; /* the client is gone */
            atomic_fetch_add(&g_progress_sent, 1);
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
    } else {
        for (json_int_t n = 0; n < 3; n++)
            pal_ctl_event(req, "progress", progress(n, "/tmp/x"));
    }
    json_t *threats = json_array();
    if (eicar)
        json_array_append_new(
            threats, json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "detection_id", 7,
                               "path", "/tmp/eicar.com", "threat", "Virus:DOS/EICAR_Test_File",
                               "severity", "Severe", "category", "Virus", "action", "Quarantine",
                               "action_result", "Success", "sha256",
                               "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"));
    if (allowed)
        json_array_append_new(threats,
                              json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s}", "detection_id", 8,
                                        "path", "/srv/clean-allowed/tool", "threat",
                                        "PUA:Linux/Miner", "severity", "Low", "category", "PUA",
                                        "action", "Allow", "action_result", "Success"));
    json_t *unscannable = clean ? json_array()
                                : json_pack("[{s:s, s:s, s:s, s:s}]", "path", "/tmp/\\xff.zip",
                                            "path_b64", "L3RtcC//LnppcA==", "reason", "encrypted",
                                            "detail", "zip entry is encrypted");
    json_t *root_errors = missing ? json_pack("[{s:s, s:s, s:s}]", "path", "/srv/missing", "error",
                                              "not-found", "reason", "No such file or directory")
                                  : json_array();
    json_t *res = json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:i, s:{s:i}, s:o, s:o}", "scan_id", 12,
                            "type", types[type], "status", status, "start_time",
                            "2026-11-25T23:40:00.000Z", "end_time", "2026-11-25T23:40:02.500Z",
                            "files_scanned", 1234, "bytes_scanned", 56700000, "skipped", "excluded",
                            3, "threats", threats, "unscannable", unscannable);
    /* the keys of PROTOCOL.md's "Scan roots and counts" */
    json_object_set_new(res, "threats_found", json_integer(eicar ? 1 : 0));
    json_object_set_new(res, "allowed_count", json_integer(allowed ? 1 : 0));
    json_object_set_new(res, "unremediated_count", json_integer(0));
    json_object_set_new(res, "unscannable_count", json_integer(clean ? 0 : 1));
    json_object_set_new(res, "fully_examined",
                        json_boolean(clean && !missing && strcmp(status, "Completed") == 0));
    json_object_set_new(res, "root_errors", root_errors);
    json_object_set_new(res, "resolved_roots", json_array());
    return res;
}

static json_t *op_list(pal_ctl_request *req, void *arg)
{
    (void)arg;
    remember(req);
    return json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}", "items", "detected_at",
                     "2026-11-25T23:40:01.000Z", "threat", "Virus:DOS/EICAR_Test_File", "severity",
                     "Severe", "action", "Quarantine", "action_result", "Success", "path",
                     "/tmp/evil\x1b[2Jname");
}

static json_t *setting(const char *name, json_t *value)
{
    return json_pack("{s:s, s:o, s:s, s:n, s:s, s:s}", "name", name, "value", value, "source",
                     "Preference", "source_detail", "description", "test", "type", "string");
}

static json_t *op_config_get(pal_ctl_request *req, void *arg)
{
    (void)arg;
    remember(req);
    const char *name;
    pal_errbuf err;
    if (pal_msg_get_string(pal_ctl_request_args(req), "name", PAL_MSG_REQUIRED, &name, &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    if (strcmp(name, "SandboxMode") != 0)
        return pal_ctl_fail(req, PAL_CODE_NOT_FOUND, "no setting '%s'", name);
    return setting(name, json_string("Enabled"));
}

static json_t *op_config_set(pal_ctl_request *req, void *arg)
{
    (void)arg;
    remember(req);
    const json_t *a = pal_ctl_request_args(req);
    const char *name = json_string_value(json_object_get(a, "name"));
    const json_t *value = json_object_get(a, "value");
    if (!name || !value)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "missing field");
    if (strcmp(name, "Locked") == 0)
        return pal_ctl_fail(req, PAL_CODE_POLICY_LOCKED, "managed by /etc/palisade/p.json");
    return setting(name, json_deep_copy(value));
}

static json_t *op_exclusions(pal_ctl_request *req, void *arg)
{
    (void)arg;
    remember(req);
    return json_pack("{s:[{s:s, s:s, s:s}]}", "items", "kind", "Path", "value", "/srv/build",
                     "source", "Preference");
}

static const pal_ctl_op fake_ops[] = {
    {"status", 0, op_status},
    {"scan.start", PAL_CTL_ADMIN_ONLY | PAL_CTL_STREAMING, op_scan},
    {"threats.list", PAL_CTL_ADMIN_ONLY, op_list},
    {"scans.list", PAL_CTL_ADMIN_ONLY, op_list},
    {"config.list", PAL_CTL_ADMIN_ONLY, op_exclusions},
    {"config.get", PAL_CTL_ADMIN_ONLY, op_config_get},
    {"config.set", PAL_CTL_ADMIN_ONLY, op_config_set},
    {"exclusion.list", PAL_CTL_ADMIN_ONLY, op_exclusions},
    {"exclusion.add", PAL_CTL_ADMIN_ONLY, op_exclusions},
    {"exclusion.remove", PAL_CTL_ADMIN_ONLY, op_exclusions},
};

/* ---- running the CLI ---------------------------------------------------------------------- */

typedef struct run {
    pid_t pid;
    int out_fd, err_fd;
    char *out, *err; /* NUL-terminated captures */
    size_t out_len, err_len;
    int status; /* exit code, or 128 + signal */
} run;

/* Start the CLI with --socket and the given args (NULL-terminated), cwd = dir if set. */
static void run_start(run *r, const char *cwd, const char *const *args)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = g_cli;
    argv[n++] = "--socket";
    argv[n++] = g_sock;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int o[2], e[2];
    assert_int_equal(pipe2(o, O_CLOEXEC), 0);
    assert_int_equal(pipe2(e, O_CLOEXEC), 0);
    memset(r, 0, sizeof(*r));
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        /* Only async-signal-safe calls: the parent has server threads. */
        dup2(o[1], STDOUT_FILENO);
        dup2(e[1], STDERR_FILENO);
        if (cwd && chdir(cwd) < 0)
            _exit(99);
        execv(g_cli, (char *const *)(uintptr_t)argv);
        _exit(98);
    }
    close(o[1]);
    close(e[1]);
    r->out_fd = o[0];
    r->err_fd = e[0];
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    char *nb = realloc(*buf, *len + n + 1);
    assert_non_null(nb);
    memcpy(nb + *len, data, n);
    *len += n;
    nb[*len] = '\0';
    *buf = nb;
}

/* Collect both outputs until EOF, then the exit status. */
static int run_finish(run *r)
{
    append(&r->out, &r->out_len, "", 0);
    append(&r->err, &r->err_len, "", 0);
    int64_t deadline = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + SAFETY_MS;
    while (r->out_fd >= 0 || r->err_fd >= 0) {
        struct pollfd p[2] = {{.fd = r->out_fd, .events = POLLIN},
                              {.fd = r->err_fd, .events = POLLIN}};
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (now > deadline) {
            kill(r->pid, SIGKILL);
            fail_msg("the CLI did not finish; stderr so far: %s", r->err);
        }
        if (poll(p, 2, 100) < 0 && errno != EINTR)
            fail_msg("poll: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            char buf[4096];
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            if (n > 0) {
                if (i == 0)
                    append(&r->out, &r->out_len, buf, (size_t)n);
                else
                    append(&r->err, &r->err_len, buf, (size_t)n);
            } else {
                close(p[i].fd);
                if (i == 0)
                    r->out_fd = -1;
                else
                    r->err_fd = -1;
            }
        }
    }
    int st;
    assert_int_equal(waitpid(r->pid, &st, 0), r->pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r->status;
}

static void run_free(run *r)
{
    free(r->out);
    free(r->err);
}

/* Run to completion; check the exit code; return the run for output checks. */
static void run_cli(run *r, const char *cwd, int want_status, const char *const *args)
{
    run_start(r, cwd, args);
    run_finish(r);
    if (getenv("PAL_TEST_VERBOSE"))
        fprintf(stderr, "--- palisade %s ... -> %d\n%s%s", args[0], r->status, r->out, r->err);
    if (r->status != want_status)
        fail_msg("exit %d, wanted %d\nstdout: %s\nstderr: %s", r->status, want_status, r->out,
                 r->err);
}

static void contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("'%s' not in:\n%s", needle, hay);
}

static json_t *parse_out(const run *r)
{
    json_error_t je;
    json_t *v = json_loads(r->out, 0, &je);
    if (!v)
        fail_msg("stdout is not one JSON document (%s):\n%s", je.text, r->out);
    return v;
}

static void wait_counter(atomic_int *c, int want)
{
    for (int i = 0; i < SAFETY_MS / 5 && atomic_load(c) < want; i++) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(atomic_load(c) >= want);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_scan_clean(void **state)
{
    (void)state;
    run r;
    /* an unscannable object: nothing found, but not everything examined (exit 3) */
    run_cli(&r, NULL, 3, (const char *const[]){"scan", "--full", NULL});
    contains(r.out, "Scan 12 Completed in 2.5 s: 1234 files (56.7 MB) scanned, 0 threats, "
                    "1 unscannable; skipped: excluded 3");
    contains(r.err, "palisade: warning: not everything was examined: 1 unscannable");
    contains(r.out, "encrypted");
    contains(r.out, "/tmp/\\xff.zip");
    json_t *a = last_args();
    assert_string_equal(json_string_value(json_object_get(a, "type")), "Full");
    assert_null(json_object_get(a, "paths"));
    json_decref(a);
    run_free(&r);
    /* No arguments: a quick scan. */
    run_cli(&r, NULL, 3, (const char *const[]){"scan", NULL});
    a = last_args();
    assert_string_equal(json_string_value(json_object_get(a, "type")), "Quick");
    json_decref(a);
    run_free(&r);
    /* everything examined, nothing found: 0, and nothing on stderr */
    run_cli(&r, NULL, 0, (const char *const[]){"scan", "/srv/clean", NULL});
    contains(r.out, "0 threats, 0 unscannable");
    assert_string_equal(r.err, "");
    run_free(&r);
    /* an allowed finding is listed but is no threat */
    run_cli(&r, NULL, 0, (const char *const[]){"scan", "/srv/clean-allowed", NULL});
    contains(r.out, "PUA:Linux/Miner");
    contains(r.out, "Allow");
    contains(r.out, "0 threats, 0 unscannable, 1 allowed");
    run_free(&r);
}

static void test_scan_root_errors(void **state)
{
    (void)state;
    run r;
    /* a root that could not be scanned wins over threats found in another: exit 2 */
    /* (the fake agent reads its story from the first path: a root error and a threat) */
    run_cli(&r, NULL, 2, (const char *const[]){"scan", "/srv/missing-eicar", "/srv/b", NULL});
    contains(r.err, "palisade: cannot scan /srv/missing: No such file or directory (not-found)");
    contains(r.out, "Virus:DOS/EICAR_Test_File");
    contains(r.out, "1 root not scanned");
    run_free(&r);
    run_cli(&r, NULL, 2, (const char *const[]){"scan", "--json", "/srv/missing-clean", NULL});
    json_t *v = parse_out(&r);
    const json_t *e = json_array_get(json_object_get(v, "root_errors"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "error")), "not-found");
    assert_true(json_is_false(json_object_get(v, "fully_examined")));
    json_decref(v);
    run_free(&r);
}

static void test_scan_threats(void **state)
{
    (void)state;
    run r;
    run_cli(&r, NULL, 1, (const char *const[]){"scan", "/tmp/eicar.com", NULL});
    contains(r.out, "Virus:DOS/EICAR_Test_File");
    contains(r.out, "Severe");
    contains(r.out, "Quarantine");
    contains(r.out, "/tmp/eicar.com");
    contains(r.out, "1 threat,");
    run_free(&r);

    /* --json: exactly the documented keys, one document, exit code unchanged. */
    run_cli(&r, NULL, 1, (const char *const[]){"scan", "--json", "/tmp/eicar.com", NULL});
    json_t *v = parse_out(&r);
    static const char *const keys[] = {"scan_id",           "status",
                                       "files_scanned",     "bytes_scanned",
                                       "skipped",           "threats",
                                       "unscannable",       "threats_found",
                                       "allowed_count",     "unremediated_count",
                                       "unscannable_count", "fully_examined",
                                       "root_errors",       "resolved_roots"};
    assert_int_equal(json_object_size(v), 14);
    assert_int_equal(json_integer_value(json_object_get(v, "threats_found")), 1);
    for (size_t i = 0; i < 14; i++)
        if (!json_object_get(v, keys[i]))
            fail_msg("scan --json lacks %s", keys[i]);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "skipped"), "excluded")),
                     3);
    const json_t *t = json_array_get(json_object_get(v, "threats"), 0);
    assert_int_equal(json_object_size(t), 5);
    assert_string_equal(json_string_value(json_object_get(t, "path")), "/tmp/eicar.com");
    assert_string_equal(json_string_value(json_object_get(t, "action_result")), "Success");
    const json_t *u = json_array_get(json_object_get(v, "unscannable"), 0);
    assert_string_equal(json_string_value(json_object_get(u, "reason")), "encrypted");
    assert_string_equal(json_string_value(json_object_get(u, "path_b64")), "L3RtcC//LnppcA==");
    assert_null(json_object_get(u, "detail"));
    json_decref(v);
    run_free(&r);
}

static void test_scan_paths(void **state)
{
    (void)state;
    /* Relative paths are made absolute against the CLI's directory. */
    run r;
    run_cli(&r, g_dir, 3, (const char *const[]){"scan", "rel/file", NULL});
    char want[160];
    snprintf(want, sizeof(want), "%s/rel/file", g_dir);
    pthread_mutex_lock(&g_mu);
    assert_int_equal(g_last_path_len, strlen(want));
    assert_memory_equal(g_last_path, want, strlen(want));
    pthread_mutex_unlock(&g_mu);
    json_t *a = last_args();
    assert_string_equal(json_string_value(json_object_get(a, "type")), "Custom");
    json_decref(a);
    run_free(&r);
    /* A name that is not UTF-8 travels as {"b64"} and arrives byte for byte. */
    run_cli(&r, NULL, 3, (const char *const[]){"scan", "--", "/tmp/\xff\xfe-x", NULL});
    pthread_mutex_lock(&g_mu);
    assert_int_equal(g_last_path_len, 9);
    assert_memory_equal(g_last_path, "/tmp/\xff\xfe-x", 9);
    pthread_mutex_unlock(&g_mu);
    a = last_args();
    assert_true(json_is_object(json_array_get(json_object_get(a, "paths"), 0)));
    json_decref(a);
    run_free(&r);
    /* Usage errors exit 2 without talking to the agent. */
    run_cli(&r, NULL, 2, (const char *const[]){"scan", "--quick", "/x", NULL});
    contains(r.err, "either --quick/--full or paths");
    run_free(&r);
    run_cli(&r, NULL, 2, (const char *const[]){"scan", "--bogus", NULL});
    contains(r.err, "unknown option --bogus");
    run_free(&r);
}

static void test_scan_ctrl_c(void **state)
{
    (void)state;
    int sent = atomic_load(&g_progress_sent);
    int cancels = atomic_load(&g_saw_cancel);
    run r;
    run_start(&r, NULL, (const char *const[]){"scan", "--json", "/endless", NULL});
    wait_counter(&g_progress_sent, sent + 2);
    kill(r.pid, SIGINT);
    run_finish(&r);
    /* The cancel reached the scan, the Cancelled result came back and was reported. */
    assert_int_equal(atomic_load(&g_saw_cancel), cancels + 1);
    assert_int_equal(r.status, 2);
    contains(r.err, "cancelling the scan");
    contains(r.err, "the scan ended Cancelled");
    json_t *v = parse_out(&r);
    assert_string_equal(json_string_value(json_object_get(v, "status")), "Cancelled");
    json_decref(v);
    run_free(&r);
}

static void test_scan_double_ctrl_c(void **state)
{
    (void)state;
    int sent = atomic_load(&g_progress_sent);
    int cancels = atomic_load(&g_saw_cancel);
    run r;
    run_start(&r, NULL, (const char *const[]){"scan", "/stubborn", NULL});
    wait_counter(&g_progress_sent, sent + 2);
    kill(r.pid, SIGINT);
    /* This scan ignores its cancel: only a second Ctrl+C ends the CLI, at once. */
    wait_counter(&g_saw_cancel, cancels + 1);
    kill(r.pid, SIGINT);
    run_finish(&r);
    assert_int_equal(r.status, 130);
    contains(r.err, "interrupted");
    run_free(&r);
}

static void test_status(void **state)
{
    (void)state;
    run r;
    run_cli(&r, NULL, 0, (const char *const[]){"status", "--json", NULL});
    json_t *v = parse_out(&r);
    static const char *const keys[] = {"agent_version",
                                       "sandbox_mode",
                                       "sandbox_mode_source",
                                       "content_process_pid",
                                       "content_process_state",
                                       "content_process_restarts",
                                       "signature_version",
                                       "signature_created",
                                       "last_scan",
                                       "degraded"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (!json_object_get(v, keys[i]))
            fail_msg("status --json lacks %s", keys[i]);
    /* the daemon runs the engine in-process (MP_FORCE_USE_SANDBOX=0) and has no package */
    assert_true(json_is_null(json_object_get(v, "content_process_pid")));
    assert_true(json_is_null(json_object_get(v, "signature_version")));
    assert_int_equal(json_integer_value(json_object_get(v, "pid")), getpid());
    assert_int_equal(json_array_size(json_object_get(v, "degraded")), 1);
    json_decref(v);
    run_free(&r);
    run_cli(&r, NULL, 0, (const char *const[]){"status", NULL});
    contains(r.out, "sandbox_mode:");
    contains(r.out, "Disabled");
    contains(r.out, "no signature package in force");
    run_free(&r);
}

static void test_lists(void **state)
{
    (void)state;
    run r;
    run_cli(&r, NULL, 0, (const char *const[]){"threats", NULL});
    contains(r.out, "THREAT");
    contains(r.out, "Virus:DOS/EICAR_Test_File");
    /* An escape sequence in a file name never reaches the terminal. */
    assert_null(strchr(r.out, '\x1b'));
    contains(r.out, "/tmp/evil\\e[2Jname"); /* escaped, still distinguishable */
    run_free(&r);
    run_cli(&r, NULL, 0, (const char *const[]){"threats", "--json", NULL});
    json_t *v = parse_out(&r);
    assert_int_equal(json_array_size(json_object_get(v, "items")), 1);
    json_decref(v);
    run_free(&r);
    run_cli(&r, NULL, 0, (const char *const[]){"--json", "scans", NULL});
    v = parse_out(&r);
    json_decref(v);
    run_free(&r);
    run_cli(&r, NULL, 0, (const char *const[]){"exclusion", "list", NULL});
    contains(r.out, "/srv/build");
    run_free(&r);
}

static void check_set(const char *text, const char *want_json)
{
    run r;
    run_cli(&r, NULL, 0, (const char *const[]){"config", "set", "ScanThreads", text, NULL});
    json_t *a = last_args();
    json_error_t je;
    json_t *want = json_loads(want_json, JSON_DECODE_ANY, &je);
    if (!json_equal(json_object_get(a, "value"), want))
        fail_msg("config set %s sent the wrong value", text);
    assert_string_equal(json_string_value(json_object_get(a, "name")), "ScanThreads");
    json_decref(want);
    json_decref(a);
    contains(r.out, "ScanThreads = ");
    run_free(&r);
}

static void test_config(void **state)
{
    (void)state;
    check_set("4", "4");
    check_set("true", "true");
    check_set("[\"/srv\",\"/opt\"]", "[\"/srv\",\"/opt\"]");
    check_set("hello world", "\"hello world\"");
    check_set("\"quoted\"", "\"quoted\"");

    run r;
    run_cli(&r, NULL, 0, (const char *const[]){"sandbox", "disable", NULL});
    json_t *a = last_args();
    assert_string_equal(json_string_value(json_object_get(a, "name")), "SandboxMode");
    assert_string_equal(json_string_value(json_object_get(a, "value")), "Disabled");
    json_decref(a);
    run_free(&r);
    run_cli(&r, NULL, 0, (const char *const[]){"sandbox", "enable", "--json", NULL});
    json_t *v = parse_out(&r);
    assert_string_equal(json_string_value(json_object_get(v, "value")), "Enabled");
    json_decref(v);
    run_free(&r);
    run_cli(&r, NULL, 0, (const char *const[]){"config", "get", "SandboxMode", NULL});
    contains(r.out, "Enabled");
    run_free(&r);
    /* The agent's errors: code and message on stderr, exit 2. */
    run_cli(&r, NULL, 2, (const char *const[]){"config", "get", "Nope", NULL});
    contains(r.err, "palisade: NotFound: no setting 'Nope'");
    run_free(&r);
    run_cli(&r, NULL, 2, (const char *const[]){"config", "set", "Locked", "1", NULL});
    contains(r.err, "palisade: PolicyLocked: managed by /etc/palisade/p.json");
    run_free(&r);
    run_cli(&r, NULL, 2, (const char *const[]){"sandbox", "maybe", NULL});
    run_free(&r);
}

static void test_exclusions(void **state)
{
    (void)state;
    run r;
    run_cli(&r, g_dir, 0, (const char *const[]){"exclusion", "add", "--path", "build", NULL});
    json_t *a = last_args();
    char want[160];
    snprintf(want, sizeof(want), "%s/build", g_dir);
    assert_string_equal(json_string_value(json_object_get(a, "kind")), "Path");
    assert_string_equal(json_string_value(json_object_get(a, "value")), want);
    json_decref(a);
    run_free(&r);
    run_cli(&r, NULL, 0, (const char *const[]){"exclusion", "remove", "--extension", ".tmp", NULL});
    a = last_args();
    assert_string_equal(json_string_value(json_object_get(a, "kind")), "Extension");
    assert_string_equal(json_string_value(json_object_get(a, "value")), ".tmp");
    json_decref(a);
    run_free(&r);
    run_cli(&r, NULL, 2, (const char *const[]){"exclusion", "add", NULL});
    run_free(&r);
}

static void test_unavailable(void **state)
{
    (void)state;
    const char *argv[] = {g_cli, "--socket", "/nonexistent/palisaded.sock", "status", NULL};
    run r;
    int o[2], e[2];
    assert_int_equal(pipe2(o, O_CLOEXEC), 0);
    assert_int_equal(pipe2(e, O_CLOEXEC), 0);
    memset(&r, 0, sizeof(r));
    r.pid = fork();
    assert_true(r.pid >= 0);
    if (r.pid == 0) {
        dup2(o[1], STDOUT_FILENO);
        dup2(e[1], STDERR_FILENO);
        execv(g_cli, (char *const *)(uintptr_t)argv);
        _exit(98);
    }
    close(o[1]);
    close(e[1]);
    r.out_fd = o[0];
    r.err_fd = e[0];
    assert_int_equal(run_finish(&r), 2);
    contains(r.err, "palisade: Unavailable: palisaded is not running (socket "
                    "/nonexistent/palisaded.sock): start it with `systemctl start palisaded`");
    run_free(&r);
    run_cli(&r, NULL, 2, (const char *const[]){"frobnicate", NULL});
    contains(r.err, "unknown command 'frobnicate'");
    run_free(&r);
}

static int group_setup(void **state)
{
    (void)state;
    g_cli = getenv("PAL_CLI");
    if (!g_cli || access(g_cli, X_OK) != 0) {
        fprintf(stderr, "test_cli: PAL_CLI must name the palisade binary\n");
        return -1;
    }
    snprintf(g_dir, sizeof(g_dir), "/tmp/palcli.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_sock, sizeof(g_sock), "%s/ctl.sock", g_dir);
    char state_dir[128];
    snprintf(state_dir, sizeof(state_dir), "%s/state", g_dir);
    pal_daemon_config dcfg = {
        .paths = {.state_dir = state_dir,
                  .socket_path = "/nonexistent/palisaded.sock", /* never started */
                  .cp_binary = "/nonexistent/palisade-cp"},
        .force_sandbox = "0",
    };
    pal_errbuf derr;
    if (pal_daemon_new(&dcfg, &g_daemon, &derr) != 0) {
        fprintf(stderr, "test_cli: %s\n", derr.msg);
        return -1;
    }
    pal_ctl_config cfg = {.socket_path = g_sock, .admin_group = "palisade-test-no-such-group"};
    pal_errbuf err;
    if (pal_ctl_server_new(&cfg, &g_srv, &err) < 0 ||
        pal_ctl_server_register(g_srv, fake_ops, sizeof(fake_ops) / sizeof(fake_ops[0]), NULL,
                                &err) < 0 ||
        pal_ctl_server_start(g_srv, &err) < 0) {
        fprintf(stderr, "test_cli: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_teardown(void **state)
{
    (void)state;
    pal_ctl_server_free(g_srv);
    pal_daemon_free(g_daemon);
    json_decref(g_last_args);
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_clean),  cmocka_unit_test(test_scan_threats),
        cmocka_unit_test(test_scan_paths),  cmocka_unit_test(test_scan_root_errors),
        cmocka_unit_test(test_scan_ctrl_c), cmocka_unit_test(test_scan_double_ctrl_c),
        cmocka_unit_test(test_status),      cmocka_unit_test(test_lists),
        cmocka_unit_test(test_config),      cmocka_unit_test(test_exclusions),
        cmocka_unit_test(test_unavailable),
    };
    return cmocka_run_group_tests_name("cli", tests, group_setup, group_teardown);
}
