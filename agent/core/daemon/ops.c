/*
 * ops.c — palisaded's control operations (agent/ipc/PROTOCOL.md): each handler parses all of
 * its arguments first, then checks state, then acts, and answers with one result object.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "jobs.h"
#include "log.h"
#include "msg.h"
#include "ops_remediation.h"
#include "quarantine.h"
#include "render.h"
#include "scanjob.h"
#include "status_health.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static json_t *time_or_null(int64_t ms)
{
    return ms > 0 ? pal_time_json(ms) : json_null();
}

json_t *pal_daemon_scan_rec_json(const pal_scan_rec *r)
{
    json_t *paths = json_array();
    for (size_t i = 0; paths && i < r->n_paths; i++) {
        char *shown = pal_path_display(r->paths[i], strlen(r->paths[i]));
        json_array_append_new(paths, shown ? json_string(shown) : json_null());
        free(shown);
    }
    json_t *o = json_object();
    if (!o) {
        json_decref(paths);
        return NULL;
    }
    json_object_set_new(o, "scan_id", json_integer(r->id));
    json_object_set_new(o, "type", json_string(pal_scan_type_name(r->type)));
    json_object_set_new(o, "paths", paths ? paths : json_array());
    json_object_set_new(o, "status", json_string(pal_scan_outcome_name(r->outcome)));
    json_object_set_new(o, "start_time", time_or_null(r->started_at));
    json_object_set_new(o, "end_time", time_or_null(r->ended_at));
    json_object_set_new(o, "files_scanned", json_integer((json_int_t)r->totals.files));
    json_object_set_new(o, "bytes_scanned", json_integer((json_int_t)r->totals.bytes));
    json_object_set_new(o, "threats", json_integer((json_int_t)r->totals.threats));
    json_object_set_new(o, "unscannable", json_integer((json_int_t)r->totals.unscannable));
    json_object_set_new(o, "error", r->error ? json_string(r->error) : json_null());
    return o;
}

/* ---- status ----------------------------------------------------------------------------- */

json_t *pal_daemon_status_json(pal_daemon *d)
{
    json_t *o = json_object();
    json_t *degraded = json_array();
    if (!o || !degraded) {
        json_decref(o);
        json_decref(degraded);
        return NULL;
    }
    json_object_set_new(o, "agent_version", json_string(PAL_AGENT_VERSION));
    json_object_set_new(o, "pid", json_integer(getpid()));
    json_object_set_new(o, "started_at", pal_time_json(pal_daemon_started_at(d)));

    json_t *mode = NULL;
    pal_setting_source src = PAL_SOURCE_DEFAULT;
    char *detail = NULL;
    if (pal_settings_get(pal_daemon_settings(d), "SandboxMode", &mode, &src, &detail, NULL) == 0) {
        json_object_set_new(o, "sandbox_mode", mode);
        json_object_set_new(o, "sandbox_mode_source", json_string(pal_setting_source_name(src)));
        json_object_set_new(o, "sandbox_mode_source_detail",
                            detail ? json_string(detail) : json_null());
    }
    free(detail);
    pal_scanhost_status hs;
    pal_scanhost_get_status(pal_daemon_host(d), &hs);
    static const char *const states[] = {"Stopped", "Starting", "Running", "Restarting"};
    const char *cp_state = "Disabled";
    if (hs.sandbox)
        cp_state = !hs.cp_present   ? "Unavailable"
                   : hs.cp.degraded ? "Degraded"
                                    : states[hs.cp.state <= PAL_CPSUP_RESTARTING ? hs.cp.state : 0];
    int running = hs.cp_present && hs.cp.pid > 0;
    json_object_set_new(o, "scan_engine", json_string(hs.sandbox ? "ContentProcess" : "InProcess"));
    json_object_set_new(o, "content_process_state", json_string(cp_state));
    json_object_set_new(o, "content_process_pid", running ? json_integer(hs.cp.pid) : json_null());
    json_object_set_new(o, "content_process_started_at",
                        running && hs.cp.start_time ? pal_time_json(hs.cp.start_time * 1000)
                                                    : json_null());
    json_object_set_new(o, "content_process_restarts",
                        json_integer(hs.cp_present ? (json_int_t)hs.cp.restarts : 0));
    if (hs.cp_present) {
        char steps[256];
        pal_cpsup_steps_string(hs.cp.sandbox_steps, steps, sizeof(steps));
        json_object_set_new(o, "content_process_sandbox", json_string(steps));
        json_object_set_new(o, "content_process_landlock_abi", json_integer(hs.cp.landlock_abi));
        json_object_set_new(o, "content_process_uid",
                            running ? json_integer(hs.cp.uid) : json_null());
        json_object_set_new(o, "content_process_identity",
                            running ? json_string(hs.cp.identity) : json_null());
        json_object_set_new(o, "content_process_crashes", json_integer((json_int_t)hs.cp.crashes));
        json_object_set_new(o, "content_process_last_exit",
                            hs.cp.last_exit[0] ? json_string(hs.cp.last_exit) : json_null());
    }
    if (hs.sandbox && hs.cp_present && hs.cp.degraded)
        json_array_append_new(
            degraded, json_sprintf("content process crash loop: %s", hs.cp.degraded_reason));
    if (hs.sandbox && hs.last_error[0])
        json_array_append_new(degraded,
                              json_sprintf("content process cannot start: %s", hs.last_error));

    pal_defs *defs = pal_daemon_defs(d);
    if (defs) {
        const pal_sigpkg_info *info = pal_defs_info(defs);
        json_object_set_new(o, "signature_version", json_integer((json_int_t)info->version));
        json_object_set_new(o, "signature_created", pal_time_json((int64_t)info->created * 1000));
        pal_defs_unref(defs);
    } else {
        json_object_set_new(o, "signature_version", json_null());
        json_object_set_new(o, "signature_created", json_null());
        char why[640];
        pal_daemon_defs_error(d, why, sizeof(why));
        json_array_append_new(degraded, json_sprintf("no signature package in force: %s", why));
    }

    pal_scan_rec *recs = NULL;
    size_t n = 0;
    if (pal_store_scan_list(pal_daemon_store(d), 1, &recs, &n, NULL) == 0 && n > 0) {
        json_t *ls = json_object();
        json_object_set_new(ls, "scan_id", json_integer(recs[0].id));
        json_object_set_new(ls, "type", json_string(pal_scan_type_name(recs[0].type)));
        json_object_set_new(ls, "status", json_string(pal_scan_outcome_name(recs[0].outcome)));
        json_object_set_new(ls, "start_time", time_or_null(recs[0].started_at));
        json_object_set_new(ls, "end_time", time_or_null(recs[0].ended_at));
        json_object_set_new(ls, "threats", json_integer((json_int_t)recs[0].totals.threats));
        json_object_set_new(o, "last_scan", ls);
    } else {
        json_object_set_new(o, "last_scan", json_null());
    }
    pal_scan_recs_free(recs, n);

    const char *const *keys_problems = NULL;
    size_t n_keys_problems = pal_daemon_keys_problems(d, &keys_problems);
    for (size_t i = 0; i < n_keys_problems; i++)
        json_array_append_new(degraded, json_sprintf("trusted keys: %s", keys_problems[i]));

    pal_errbuf pe;
    if (pal_settings_policy_error(pal_daemon_settings(d), &pe)) {
        json_object_set_new(o, "policy_error", json_string(pe.msg));
        json_array_append_new(degraded, json_sprintf("policy not applied: %s", pe.msg));
    } else {
        json_object_set_new(o, "policy_error", json_null());
    }
    if (pal_settings_env_error(pal_daemon_settings(d), &pe))
        json_array_append_new(degraded, json_string(pe.msg));
    /* a threat left in place because its quarantine or removal failed keeps the agent
       Degraded until it is dealt with (see pal_store_unremediated_count) */
    int64_t unremediated = 0;
    if (pal_store_unremediated_count(pal_daemon_store(d), &unremediated, NULL) == 0) {
        json_object_set_new(o, "unremediated_threats", json_integer((json_int_t)unremediated));
        if (unremediated > 0)
            json_array_append_new(
                degraded, json_sprintf("unremediated threats: %lld detected threat%s could not "
                                       "be quarantined or removed and %s still in place",
                                       (long long)unremediated, unremediated == 1 ? "" : "s",
                                       unremediated == 1 ? "is" : "are"));
    } else {
        json_object_set_new(o, "unremediated_threats", json_null());
    }
    json_object_set_new(o, "degraded", degraded);
    json_object_set_new(o, "active_scans", json_integer(pal_daemon_active_scans(d)));
    if (pal_status_add_health(d, o) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *op_status(pal_ctl_request *req, void *arg)
{
    json_t *o = pal_daemon_status_json(arg);
    return o ? o : pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
}

/* ---- scans ------------------------------------------------------------------------------ */

typedef struct scan_call {
    pal_ctl_request *req;
    pal_daemon *d;
} scan_call;

json_t *pal_daemon_progress_json(const pal_scan_progress *p)
{
    json_t *data = json_object();
    if (!data)
        return NULL;
    json_object_set_new(data, "files_done", json_integer((json_int_t)p->files_done));
    json_object_set_new(data, "bytes_done", json_integer((json_int_t)p->bytes_done));
    json_object_set_new(data, "files_found", json_integer((json_int_t)p->files_found));
    json_object_set_new(data, "files_total", json_null());
    if (p->current_path_len > 0)
        pal_msg_set_path(data, "current_path", p->current_path, p->current_path_len);
    else
        json_object_set_new(data, "current_path", json_string(""));
    json_object_set_new(data, "threats_so_far", json_integer((json_int_t)p->threats));
    json_object_set_new(data, "unscannable_so_far", json_integer((json_int_t)p->unscannable));
    return data;
}

static void scan_progress(void *ctx, const pal_scan_progress *p)
{
    scan_call *c = ctx;
    json_t *data = pal_daemon_progress_json(p);
    if (data)
        pal_ctl_event(c->req, "progress", data);
}

static void scan_started(void *ctx, int64_t id)
{
    scan_call *c = ctx;
    pal_daemon_set_last_scan(c->d, id);
}

static pal_defs *job_defs(void *ctx)
{
    return pal_daemon_defs(ctx);
}

/* One log line per detection, whatever its action (Allow and NoAction too): the log is where
   an administrator and a SIEM see what was found. pal_log writes the whole line in the
   display form (display.h), so a crafted file name can neither forge nor hide a line. */
static void log_detections(const pal_scan_result *r)
{
    for (size_t i = 0; i < r->n_threats; i++) {
        const pal_scan_threat *t = &r->threats[i];
        pal_log(PAL_LOG_NOTICE,
                "scan %lld detection %lld: threat %s severity %s path %s action %s result %s%s%s",
                (long long)r->scan_id, (long long)t->detection_id, t->threat,
                pal_severity_name(t->severity), t->path, pal_det_action_name(t->action),
                pal_det_result_name(t->result), t->action_detail ? " detail " : "",
                t->action_detail ? t->action_detail : "");
    }
}

int pal_daemon_run_scan(pal_daemon *d, const pal_scanjob_req *sreq, pal_scan_result *res,
                        const char **code, pal_errbuf *err)
{
    memset(res, 0, sizeof(*res));
    pal_slots_ref *slots = pal_daemon_scan_begin(d);
    if (!slots) {
        *code = PAL_CODE_BUSY;
        return pal_err_set(err, PAL_ESTATE, "palisaded is shutting down");
    }
    pal_scanjob_env env = {
        .store = pal_daemon_store(d),
        .settings = pal_daemon_settings(d),
        .slots = pal_slots_ref_pool(slots),
        .get_defs = job_defs,
        .defs_ctx = d,
        .remediate = pal_daemon_remediator(d),
    };
    int rc = pal_scanjob_run(&env, sreq, res, err);
    pal_daemon_scan_end(d, slots);
    if (rc != 0) {
        pal_log(PAL_LOG_ERROR, "scan failed: %s", err->msg);
        *code = rc == PAL_ESTATE   ? PAL_CODE_UNAVAILABLE
                : rc == PAL_EINVAL ? PAL_CODE_BAD_REQUEST
                                   : PAL_CODE_INTERNAL;
        return rc;
    }
    pal_log(PAL_LOG_INFO, "scan %lld %s: %llu files, %llu threats, %llu unscannable",
            (long long)res->scan_id, pal_scan_outcome_name(res->outcome),
            (unsigned long long)res->files_scanned, (unsigned long long)res->threats_found,
            (unsigned long long)res->unscannable_count);
    log_detections(res);
    return 0;
}

static json_t *op_scan_start(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"type", "paths", "detach", NULL};
    static const char *const types[] = {"Quick", "Full", "Custom", NULL};
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);

    const json_t *paths_json = NULL;
    /* the getters return 1 for an absent optional field: only a negative code is an error */
    int rc = pal_msg_get_array(args, "paths", PAL_MSG_OPTIONAL, &paths_json, &err);
    if (rc < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    int type_idx = -1;
    rc = pal_msg_get_enum(args, "type", PAL_MSG_OPTIONAL, types, &type_idx, &err);
    if (rc < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    bool detach = false;
    if (pal_msg_get_bool(args, "detach", PAL_MSG_OPTIONAL, &detach, &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    size_t n_paths = paths_json ? json_array_size(paths_json) : 0;
    pal_scan_type type =
        type_idx < 0 ? (n_paths ? PAL_SCAN_CUSTOM : PAL_SCAN_QUICK) : (pal_scan_type)(type_idx + 1);
    if (type == PAL_SCAN_CUSTOM && n_paths == 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "a Custom scan needs 'paths'");
    if (type != PAL_SCAN_CUSTOM && n_paths > 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST,
                            "'paths' is only for a Custom scan (type %s)", types[type - 1]);
    if (n_paths > 4096)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "at most 4096 paths per scan");

    char **paths = calloc(n_paths ? n_paths : 1, sizeof(*paths));
    size_t *lens = calloc(n_paths ? n_paths : 1, sizeof(*lens));
    json_t *result = NULL;
    size_t decoded = 0;
    if (!paths || !lens) {
        pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
        goto out;
    }
    for (; decoded < n_paths; decoded++) {
        char what[32];
        snprintf(what, sizeof(what), "paths[%zu]", decoded);
        if (pal_msg_path_arg_decode(json_array_get(paths_json, decoded), what, &paths[decoded],
                                    &lens[decoded], &err) != 0) {
            pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
            goto out;
        }
        if (paths[decoded][0] != '/') {
            pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s must be an absolute path", what);
            decoded++;
            goto out;
        }
    }
    if (detach) {
        int64_t scan_id = 0;
        const char *code = NULL;
        pal_log(PAL_LOG_INFO, "detached %s scan requested by uid %u", types[type - 1],
                (unsigned)pal_ctl_request_uid(req));
        rc = pal_jobs_start(pal_daemon_jobs(d), type, paths, lens, n_paths,
                            pal_ctl_request_uid(req), &scan_id, &code, &err);
        if (rc != 0)
            pal_ctl_fail(req, code, "%s", err.msg);
        else if (!(result =
                       json_pack("{s:I,s:s}", "scan_id", (json_int_t)scan_id, "status", "Running")))
            pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
        goto out;
    }
    scan_call call = {.req = req, .d = d};
    pal_scanjob_req sreq = {
        .type = type,
        .paths = paths,
        .path_lens = lens,
        .n_paths = n_paths,
        .uid = pal_ctl_request_uid(req),
        .cancel = pal_ctl_cancel_flag(req),
        .on_progress = scan_progress,
        .progress_ctx = &call,
        .on_started = scan_started,
    };
    pal_log(PAL_LOG_INFO, "%s scan requested by uid %u", types[type - 1],
            (unsigned)pal_ctl_request_uid(req));
    pal_scan_result res;
    const char *code = NULL;
    rc = pal_daemon_run_scan(d, &sreq, &res, &code, &err);
    if (rc != 0) {
        pal_ctl_fail(req, code, "%s", err.msg);
    } else {
        result = pal_render_scan_result(&res);
        if (!result)
            pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
        pal_scan_result_clear(&res);
    }
out:
    for (size_t i = 0; i < decoded; i++)
        free(paths[i]);
    free(paths);
    free(lens);
    return result;
}

static json_t *op_scans_list(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"limit", NULL};
    pal_errbuf err;
    json_int_t limit = 50;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_int(args, "limit", PAL_MSG_OPTIONAL, 1, 10000, &limit, &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    pal_scan_rec *recs = NULL;
    size_t n = 0;
    if (pal_store_scan_list(pal_daemon_store(d), (size_t)limit, &recs, &n, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_INTERNAL, "%s", err.msg);
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++)
        json_array_append_new(items, pal_daemon_scan_rec_json(&recs[i]));
    pal_scan_recs_free(recs, n);
    return json_pack("{so}", "items", items ? items : json_array());
}

/* ---- detections ------------------------------------------------------------------------- */

static json_t *detection_json(const pal_detection *det, int64_t quarantine_id)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "detection_id", json_integer(det->id));
    json_object_set_new(o, "threat", json_string(det->threat_name));
    json_object_set_new(o, "severity", json_string(pal_severity_name(det->severity)));
    json_object_set_new(o, "category", json_string(det->category ? det->category : ""));
    const char *chain = det->chain ? det->chain : det->path;
    pal_msg_set_path(o, "path", chain, strlen(chain));
    pal_msg_set_path(o, "file", det->path, strlen(det->path));
    json_object_set_new(o, "sha256", json_string(det->sha256));
    json_object_set_new(o, "size", json_integer((json_int_t)det->size));
    json_object_set_new(o, "detected_at", pal_time_json(det->detected_at));
    json_object_set_new(o, "source", json_string(pal_det_source_name(det->source)));
    json_object_set_new(o, "scan_id", det->scan_id ? json_integer(det->scan_id) : json_null());
    json_object_set_new(o, "action", json_string(pal_det_action_name(det->action)));
    json_object_set_new(o, "action_result", json_string(pal_det_result_name(det->result)));
    json_object_set_new(o, "action_detail",
                        det->action_detail ? json_string(det->action_detail) : json_null());
    json_object_set_new(o, "matched_by",
                        det->matched_by ? json_string(det->matched_by) : json_null());
    json_object_set_new(o, "quarantine_id",
                        quarantine_id > 0 ? json_integer(quarantine_id) : json_null());
    /* the process behind a real-time or buffer-scan detection (null: none, or unknown) */
    int known = det->process_pid > 0;
    json_object_set_new(o, "process_pid", known ? json_integer(det->process_pid) : json_null());
    json_object_set_new(o, "process_uid",
                        known ? json_integer((json_int_t)det->process_uid) : json_null());
    if (known && det->process_exe)
        pal_msg_set_path(o, "process_exe", det->process_exe, strlen(det->process_exe));
    else
        json_object_set_new(o, "process_exe", json_null());
    return o;
}

static json_t *op_threats_list(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"since",   "threat", "severity", "path",
                                          "scan_id", "limit",  NULL};
    pal_errbuf err;
    pal_detection_filter f = {0};
    json_int_t limit = 1000, scan_id = 0;
    int sev = 0;
    const char *threat = NULL, *path = NULL;
    int64_t since = 0;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_time(args, "since", PAL_MSG_OPTIONAL, &since, &err) < 0 ||
        pal_msg_get_string(args, "threat", PAL_MSG_OPTIONAL, &threat, &err) < 0 ||
        pal_msg_get_name(args, "severity", PAL_MSG_OPTIONAL, PAL_NAMES(pal_severity_names), &sev,
                         &err) < 0 ||
        pal_msg_get_string(args, "path", PAL_MSG_OPTIONAL, &path, &err) < 0 ||
        pal_msg_get_int(args, "scan_id", PAL_MSG_OPTIONAL, 1, INT64_MAX, &scan_id, &err) < 0 ||
        pal_msg_get_int(args, "limit", PAL_MSG_OPTIONAL, 1, 100000, &limit, &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    f.since = since;
    f.threat = threat;
    f.severity = (pal_severity)sev;
    f.path = path;
    f.scan_id = scan_id;
    f.limit = (size_t)limit;
    pal_threat_row *rows = NULL;
    size_t n = 0;
    if (pal_store_threat_list(pal_daemon_store(d), &f, &rows, &n, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_INTERNAL, "%s", err.msg);
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++)
        json_array_append_new(items, detection_json(&rows[i].det, rows[i].quarantine_id));
    pal_threat_rows_free(rows, n);
    return json_pack("{so}", "items", items ? items : json_array());
}

/* ---- settings --------------------------------------------------------------------------- */

static json_t *setting_item(pal_daemon *d, const char *name)
{
    json_t *all = NULL;
    if (pal_settings_list_json(pal_daemon_settings(d), &all) != 0)
        return NULL;
    json_t *found = NULL;
    size_t i;
    json_t *it;
    json_array_foreach(all, i, it)
    {
        const char *n = json_string_value(json_object_get(it, "name"));
        if (n && strcasecmp(n, name) == 0) {
            found = json_incref(it);
            break;
        }
    }
    json_decref(all);
    return found;
}

static json_t *op_config_list(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    json_t *all = NULL;
    if (pal_settings_list_json(pal_daemon_settings(d), &all) != 0)
        return pal_ctl_fail(req, PAL_CODE_INTERNAL, "cannot list the settings");
    return json_pack("{so}", "items", all);
}

static json_t *op_config_get(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"name", NULL};
    const char *name = NULL;
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_string(args, "name", PAL_MSG_REQUIRED, &name, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    json_t *item = setting_item(d, name);
    if (!item)
        return pal_ctl_fail(
            req, PAL_CODE_NOT_FOUND,
            "no setting named '%s' (`palisade config get` and Get-AgentPreference list them all)",
            name);
    return item;
}

static json_t *op_config_set(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"name", "value", NULL};
    const char *name = NULL;
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_string(args, "name", PAL_MSG_REQUIRED, &name, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    const json_t *value = json_object_get(args, "value");
    if (!value)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "missing field 'value'");
    if (!pal_setting_find(name))
        return pal_ctl_fail(
            req, PAL_CODE_NOT_FOUND,
            "no setting named '%s' (`palisade config get` and Get-AgentPreference list them all)",
            name);
    int rc = pal_settings_set_preference(pal_daemon_settings(d), name, value,
                                         pal_ctl_request_uid(req), &err);
    if (rc != 0)
        return pal_ctl_fail(req, pal_code_for_err(rc), "%s", err.msg);
    pal_log(PAL_LOG_NOTICE, "setting %s changed by uid %u", name,
            (unsigned)pal_ctl_request_uid(req));
    json_t *item = setting_item(d, name);
    return item ? item : pal_ctl_fail(req, PAL_CODE_INTERNAL, "setting vanished");
}

/* ---- exclusions ------------------------------------------------------------------------- */

static const char *exclusion_setting(const char *kind)
{
    return strcmp(kind, "Path") == 0 ? "ExclusionPath" : "ExclusionExtension";
}

static json_t *exclusions_json(pal_daemon *d)
{
    json_t *items = json_array();
    static const char *const kinds[] = {"Path", "Extension"};
    for (size_t k = 0; items && k < 2; k++) {
        /* each entry with its own origin: policy entries stand beside local ones */
        json_t *entries = NULL;
        if (pal_settings_get_entries(pal_daemon_settings(d), exclusion_setting(kinds[k]), &entries,
                                     NULL) != 0)
            continue;
        size_t i;
        json_t *e;
        json_array_foreach(entries, i, e)
        {
            json_t *o = json_pack("{ss}", "kind", kinds[k]);
            if (o && json_object_update(o, e) == 0)
                json_array_append(items, o);
            json_decref(o);
        }
        json_decref(entries);
    }
    return json_pack("{so}", "items", items ? items : json_array());
}

static json_t *op_exclusion_list(pal_ctl_request *req, void *arg)
{
    (void)req;
    return exclusions_json(arg);
}

static json_t *exclusion_change(pal_ctl_request *req, pal_daemon *d, int add)
{
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"kind", "value", NULL};
    static const char *const kinds[] = {"Path", "Extension", NULL};
    int kind = -1;
    const char *value = NULL;
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_enum(args, "kind", PAL_MSG_REQUIRED, kinds, &kind, &err) != 0 ||
        pal_msg_get_string(args, "value", PAL_MSG_REQUIRED, &value, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    if (kind == 0 && value[0] != '/')
        return pal_ctl_fail(req, PAL_CODE_INVALID_VALUE,
                            "an exclusion path must be absolute (got %s)", value);
    const char *setting = exclusion_setting(kinds[kind]);
    uid_t uid = pal_ctl_request_uid(req);
    int rc = add ? pal_settings_add_item(pal_daemon_settings(d), setting, value, uid, &err)
                 : pal_settings_remove_item(pal_daemon_settings(d), setting, value, uid, &err);
    if (rc != 0)
        return pal_ctl_fail(req, pal_code_for_err(rc), "%s", err.msg);
    return exclusions_json(d);
}

static json_t *op_exclusion_add(pal_ctl_request *req, void *arg)
{
    return exclusion_change(req, arg, 1);
}

static json_t *op_exclusion_remove(pal_ctl_request *req, void *arg)
{
    return exclusion_change(req, arg, 0);
}

/* ---- registration ----------------------------------------------------------------------- */

int pal_daemon_register_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err)
{
    static const pal_ctl_op ops[] = {
        {"status", 0, op_status},
        {"scan.start", PAL_CTL_ADMIN_ONLY | PAL_CTL_STREAMING, op_scan_start},
        {"scans.list", PAL_CTL_ADMIN_ONLY, op_scans_list},
        {"threats.list", PAL_CTL_ADMIN_ONLY, op_threats_list},
        {"config.list", PAL_CTL_ADMIN_ONLY, op_config_list},
        {"config.get", PAL_CTL_ADMIN_ONLY, op_config_get},
        {"config.set", PAL_CTL_ADMIN_ONLY, op_config_set},
        {"exclusion.list", PAL_CTL_ADMIN_ONLY, op_exclusion_list},
        {"exclusion.add", PAL_CTL_ADMIN_ONLY, op_exclusion_add},
        {"exclusion.remove", PAL_CTL_ADMIN_ONLY, op_exclusion_remove},
    };
    return pal_ctl_server_register(srv, ops, sizeof(ops) / sizeof(*ops), d, err);
}
