/*
 * ops_remediation.c — the control operations of quarantine, allowed threats, per-threat
 * actions and signature updates (ops_remediation.h). Handlers parse all arguments first,
 * then check state, then act.
 */
#define _GNU_SOURCE
#include "ops_remediation.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "display.h"
#include "events.h"
#include "log.h"
#include "msg.h"
#include "quarantine.h"
#include "updates.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static json_t *time_ns_json(int64_t ns)
{
    return pal_time_json(ns / 1000000LL);
}

static json_t *item_json(const pal_quarantine_item *q)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_integer(q->id));
    pal_msg_set_path(o, "original_path", q->original_path, strlen(q->original_path));
    json_object_set_new(o, "threat", json_string(q->threat_name));
    json_object_set_new(o, "quarantined_at", pal_time_json(q->quarantined_at));
    json_object_set_new(o, "sha256", json_string(q->sha256));
    json_object_set_new(o, "size", json_integer((json_int_t)q->size));
    json_object_set_new(o, "detection_id",
                        q->detection_id > 0 ? json_integer(q->detection_id) : json_null());
    json_object_set_new(o, "owner", json_integer((json_int_t)q->owner));
    json_object_set_new(o, "group", json_integer((json_int_t)q->group));
    json_object_set_new(o, "mode", json_integer((json_int_t)(q->mode & 07777)));
    json_object_set_new(o, "mtime", time_ns_json(q->mtime_ns));
    return o;
}

static json_t *need_remediation(pal_ctl_request *req, pal_daemon *d)
{
    (void)d;
    return pal_ctl_fail(req, PAL_CODE_BUSY, "remediation is not initialised");
}

/* ---- quarantine ------------------------------------------------------------------------- */

static json_t *op_quarantine_list(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"limit", NULL};
    json_int_t limit = PAL_STORE_DEFAULT_LIMIT;
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_int(args, "limit", PAL_MSG_OPTIONAL, 1, PAL_STORE_MAX_LIMIT, &limit, &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    pal_quarantine_item *items = NULL;
    size_t n = 0;
    if (pal_store_quarantine_list(pal_daemon_store(d), (size_t)limit, &items, &n, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_INTERNAL, "%s", err.msg);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, item_json(&items[i]));
    pal_quarantine_items_free(items, n);
    return json_pack("{so}", "items", arr ? arr : json_array());
}

static json_t *op_quarantine_get(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"id", NULL};
    json_int_t id = 0;
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_int(args, "id", PAL_MSG_REQUIRED, 1, PAL_MSG_INT_MAX, &id, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    pal_quarantine_item q;
    int rc = pal_store_quarantine_get(pal_daemon_store(d), id, &q, &err);
    if (rc != 0)
        return pal_ctl_fail(req, pal_code_for_err(rc), "%s", err.msg);
    json_t *o = item_json(&q);
    pal_quarantine_item_clear(&q);
    return o;
}

/* The threat history says the file is back: the detection's action_detail gains
   "restored to PATH by uid U at TIME" (PATH in display form, so the history stays UTF-8 and
   terminal-safe), after "quarantined as item N". Its action and result stay what they were:
   the quarantine did succeed, and the restore is the administrator's later decision. */
static void note_restore(pal_store *st, int64_t detection_id, const pal_restore_req *r,
                         const pal_restore_result *res)
{
    char when[40] = "?";
    char *shown = pal_display(res->path, strlen(res->path));
    char *note = NULL;
    pal_errbuf err;
    pal_time_format(pal_time_now_ms(), when, sizeof(when));
    if (shown && asprintf(&note, "restored to %s by uid %u at %s%s", shown, (unsigned)r->uid, when,
                          res->allowed ? " (its SHA-256 is now allowed)" : "") < 0)
        note = NULL;
    if (!note || pal_store_detection_note(st, detection_id, note, &err) != 0)
        pal_log(PAL_LOG_WARNING, "the restore of detection %lld is not in the threat history: %s",
                (long long)detection_id, note ? err.msg : "out of memory");
    free(note);
    free(shown);
}

static json_t *op_quarantine_restore(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"id", "destination", "force", "allow", NULL};
    json_int_t id = 0;
    bool force = false, allow = false;
    char *dest = NULL;
    size_t dest_len = 0;
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_int(args, "id", PAL_MSG_REQUIRED, 1, PAL_MSG_INT_MAX, &id, &err) != 0 ||
        pal_msg_get_bool(args, "force", PAL_MSG_OPTIONAL, &force, &err) < 0 ||
        pal_msg_get_bool(args, "allow", PAL_MSG_OPTIONAL, &allow, &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    const json_t *dv = json_object_get(args, "destination");
    if (dv && !json_is_null(dv)) {
        if (pal_msg_path_arg_decode(dv, "destination", &dest, &dest_len, &err) != 0)
            return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
        if (dest[0] != '/') {
            free(dest);
            return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "destination must be an absolute path");
        }
    }
    if (!pal_daemon_quarantine(d) || !pal_daemon_updater(d)) {
        free(dest);
        return need_remediation(req, d);
    }
    /* the detection the item came from, read before the restore drops the item */
    pal_quarantine_item before;
    int64_t detection_id = 0;
    char threat[256] = "";
    if (pal_store_quarantine_get(pal_daemon_store(d), id, &before, &err) == 0) {
        detection_id = before.detection_id;
        snprintf(threat, sizeof(threat), "%s", before.threat_name ? before.threat_name : "");
        pal_quarantine_item_clear(&before);
    }
    pal_restore_req r = {
        .id = id, .dest = dest, .force = force, .allow = allow, .uid = pal_ctl_request_uid(req)};
    pal_restore_result res = {0};
    int rc = pal_quarantine_restore(pal_daemon_quarantine(d), &r, &res, &err);
    pal_event_emit(&(pal_event){
        .kind = PAL_EV_RESTORE,
        .threat = threat[0] ? threat : NULL,
        .path = rc == 0 ? res.path : dest,
        .sha256 = rc == 0 ? res.sha256 : NULL,
        .result = rc == 0 ? "Success" : "Failed",
        .detail =
            rc == 0 ? (res.allowed ? "restored; its hash is now allowed" : "restored") : err.msg,
        .quarantine_id = id,
        .detection_id = detection_id,
        .has_uid = 1,
        .uid = r.uid,
        .pid = pal_ctl_request_pid(req)});
    free(dest);
    if (rc != 0) {
        pal_log(PAL_LOG_WARNING, "restore of quarantine item %lld refused: %s", (long long)id,
                err.msg);
        return pal_ctl_fail(req, pal_code_for_err(rc), "%s", err.msg);
    }
    pal_log(PAL_LOG_NOTICE, "quarantine item %lld restored to %s by uid %u%s", (long long)id,
            res.path, (unsigned)r.uid, res.allowed ? " (its hash is now allowed)" : "");
    if (detection_id > 0)
        note_restore(pal_daemon_store(d), detection_id, &r, &res);
    json_t *o = json_object();
    if (o) {
        json_object_set_new(o, "id", json_integer(id));
        pal_msg_set_path(o, "path", res.path, strlen(res.path));
        json_object_set_new(o, "sha256", json_string(res.sha256));
        json_object_set_new(o, "allowed", json_boolean(res.allowed));
    }
    pal_restore_result_clear(&res);
    return o;
}

static json_t *op_quarantine_remove(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"id", NULL};
    json_int_t id = 0;
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_int(args, "id", PAL_MSG_REQUIRED, 1, PAL_MSG_INT_MAX, &id, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    if (!pal_daemon_quarantine(d) || !pal_daemon_updater(d))
        return need_remediation(req, d);
    int rc = pal_quarantine_remove(pal_daemon_quarantine(d), id, pal_ctl_request_uid(req), &err);
    if (rc != 0)
        return pal_ctl_fail(req, pal_code_for_err(rc), "%s", err.msg);
    pal_log(PAL_LOG_NOTICE, "quarantine item %lld deleted by uid %u", (long long)id,
            (unsigned)pal_ctl_request_uid(req));
    return json_pack("{sIsb}", "id", (json_int_t)id, "removed", 1);
}

/* ---- allowed threats -------------------------------------------------------------------- */

static json_t *allowed_json(pal_ctl_request *req, pal_daemon *d)
{
    pal_allowed *a = NULL;
    size_t n = 0;
    pal_errbuf err;
    if (pal_store_allowed_list(pal_daemon_store(d), &a, &n, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_INTERNAL, "%s", err.msg);
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++) {
        json_t *o = json_object();
        if (!o)
            break;
        json_object_set_new(o, "kind", json_string(pal_allow_kind_name(a[i].kind)));
        json_object_set_new(o, "value", json_string(a[i].value));
        json_object_set_new(o, "added_at", pal_time_json(a[i].added_at));
        json_object_set_new(o, "added_by",
                            a[i].added_by == PAL_UID_DAEMON
                                ? json_null()
                                : json_integer((json_int_t)a[i].added_by));
        json_array_append_new(items, o);
    }
    pal_allowed_free(a, n);
    return json_pack("{so}", "items", items ? items : json_array());
}

static json_t *op_allow_list(pal_ctl_request *req, void *arg)
{
    pal_errbuf err;
    static const char *const allowed[] = {NULL};
    if (pal_msg_check_fields(pal_ctl_request_args(req), allowed, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    return allowed_json(req, arg);
}

/* Whether the catalog names this threat. The allowed list matches names without regard to
   case (PROTOCOL.md), so the check does too: exact first, then a walk of the catalog (a few
   hundred entries, once per allow.add). */
static int catalog_has_name(const pal_sigpkg *pkg, const char *name)
{
    pal_threat t;
    if (pal_sigpkg_find_threat(pkg, name, &t) == 0)
        return 1;
    pal_sigpkg_info info;
    pal_sigpkg_get_info(pkg, &info);
    for (uint32_t i = 0; i < info.threat_count; i++)
        if (pal_sigpkg_threat(pkg, i, &t) == 0 && t.name && strcasecmp(t.name, name) == 0)
            return 1;
    return 0;
}

static json_t *allow_change(pal_ctl_request *req, pal_daemon *d, int add)
{
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"kind", "value", NULL};
    static const char *const kinds[] = {"ThreatName", "Sha256", NULL};
    int kind = -1;
    const char *value = NULL;
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_enum(args, "kind", PAL_MSG_REQUIRED, kinds, &kind, &err) != 0 ||
        pal_msg_get_string(args, "value", PAL_MSG_REQUIRED | PAL_MSG_NONEMPTY, &value, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    pal_allow_kind k = kind == 0 ? PAL_ALLOW_THREAT_NAME : PAL_ALLOW_SHA256;
    /* A name outside the catalog would allow nothing and hide a typo: refuse it as
       threat_action.set does. Removing stays possible (a name from an older package). */
    pal_defs *defs = add && k == PAL_ALLOW_THREAT_NAME ? pal_daemon_defs(d) : NULL;
    if (defs) {
        int known = catalog_has_name(pal_defs_package(defs), value);
        pal_defs_unref(defs);
        if (!known)
            return pal_ctl_fail(req, PAL_CODE_INVALID_VALUE,
                                "'%s' is not a threat name of the signature package in force "
                                "(`palisade threats` and Get-ThreatHistory show the names found)",
                                value);
    }
    uid_t uid = pal_ctl_request_uid(req);
    int rc = add ? pal_store_allowed_add(pal_daemon_store(d), k, value, uid, &err)
                 : pal_store_allowed_remove(pal_daemon_store(d), k, value, uid, &err);
    if (rc != 0)
        return pal_ctl_fail(req, pal_code_for_err(rc), "%s", err.msg);
    pal_log(PAL_LOG_NOTICE, "allowed threat %s %s %s by uid %u", kinds[kind], value,
            add ? "added" : "removed", (unsigned)uid);
    pal_event_emit(&(pal_event){.kind = add ? PAL_EV_ALLOW_ADDED : PAL_EV_ALLOW_REMOVED,
                                .threat = k == PAL_ALLOW_THREAT_NAME ? value : NULL,
                                .sha256 = k == PAL_ALLOW_SHA256 ? value : NULL,
                                .has_uid = 1,
                                .uid = uid,
                                .pid = pal_ctl_request_pid(req)});
    return allowed_json(req, d);
}

static json_t *op_allow_add(pal_ctl_request *req, void *arg)
{
    return allow_change(req, arg, 1);
}

static json_t *op_allow_remove(pal_ctl_request *req, void *arg)
{
    return allow_change(req, arg, 0);
}

/* ---- per-threat action overrides -------------------------------------------------------- */

static json_t *threat_actions_json(pal_ctl_request *req, pal_daemon *d)
{
    pal_errbuf err;
    pal_threat_action *t = NULL;
    size_t n = 0;
    if (pal_store_threat_action_list(pal_daemon_store(d), &t, &n, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_INTERNAL, "%s", err.msg);
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++) {
        json_t *o = json_object();
        if (!o)
            continue;
        json_object_set_new(o, "threat", json_string(t[i].threat_name));
        json_object_set_new(o, "action", json_string(pal_action_name(t[i].action)));
        json_object_set_new(o, "set_at", pal_time_json(t[i].set_at));
        json_object_set_new(o, "set_by",
                            t[i].set_by == PAL_UID_DAEMON ? json_null()
                                                          : json_integer((json_int_t)t[i].set_by));
        json_array_append_new(items, o);
    }
    pal_threat_actions_free(t, n);
    return json_pack("{so}", "items", items ? items : json_array());
}

static json_t *op_threat_action_list(pal_ctl_request *req, void *arg)
{
    pal_errbuf err;
    static const char *const allowed[] = {NULL};
    if (pal_msg_check_fields(pal_ctl_request_args(req), allowed, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    return threat_actions_json(req, arg);
}

/* The override wins over the severity's default action for that threat name. */
static json_t *op_threat_action_set(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"threat", "action", NULL};
    const char *threat = NULL;
    int action = -1;
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_string(args, "threat", PAL_MSG_REQUIRED | PAL_MSG_NONEMPTY, &threat, &err) !=
            0 ||
        pal_msg_get_name(args, "action", PAL_MSG_REQUIRED, PAL_NAMES(pal_action_names), &action,
                         &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    pal_defs *defs = pal_daemon_defs(d);
    if (defs) {
        pal_threat t;
        int known = pal_sigpkg_find_threat(pal_defs_package(defs), threat, &t) == 0;
        pal_defs_unref(defs);
        if (!known)
            return pal_ctl_fail(req, PAL_CODE_INVALID_VALUE,
                                "'%s' is not a threat name of the signature package in force "
                                "(`palisade threats` and Get-ThreatHistory show the names found)",
                                threat);
    }
    uid_t uid = pal_ctl_request_uid(req);
    if (pal_store_threat_action_set(pal_daemon_store(d), threat, (pal_action)action, uid, &err) !=
        0)
        return pal_ctl_fail(req, PAL_CODE_INTERNAL, "%s", err.msg);
    pal_log(PAL_LOG_NOTICE, "action for threat %s set to %s by uid %u", threat,
            pal_action_name((pal_action)action), (unsigned)uid);
    return threat_actions_json(req, d);
}

static json_t *op_threat_action_remove(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"threat", NULL};
    const char *threat = NULL;
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_string(args, "threat", PAL_MSG_REQUIRED | PAL_MSG_NONEMPTY, &threat, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    uid_t uid = pal_ctl_request_uid(req);
    int rc = pal_store_threat_action_remove(pal_daemon_store(d), threat, uid, &err);
    if (rc == PAL_ENOTFOUND)
        return pal_ctl_fail(req, PAL_CODE_NOT_FOUND, "threat %s has no action override", threat);
    if (rc != 0)
        return pal_ctl_fail(req, PAL_CODE_INTERNAL, "%s", err.msg);
    pal_log(PAL_LOG_NOTICE, "action override for threat %s removed by uid %u", threat,
            (unsigned)uid);
    return threat_actions_json(req, d);
}

/* ---- signature updates ------------------------------------------------------------------ */

static json_t *update_json(const pal_update_info *in)
{
    return json_pack("{sIsoso}", "signature_version", (json_int_t)in->version, "signature_created",
                     pal_time_json((int64_t)in->created * 1000), "previous_version",
                     in->previous_version ? json_integer((json_int_t)in->previous_version)
                                          : json_null());
}

static json_t *op_update(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"path", "force", NULL};
    bool force = false;
    char *path = NULL;
    size_t len = 0;
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_bool(args, "force", PAL_MSG_OPTIONAL, &force, &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    const json_t *pv = json_object_get(args, "path");
    if (!pv)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "missing field 'path'");
    if (pal_msg_path_arg_decode(pv, "path", &path, &len, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    if (path[0] != '/') {
        free(path);
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "path must be absolute");
    }
    if (!pal_daemon_quarantine(d) || !pal_daemon_updater(d)) {
        free(path);
        return need_remediation(req, d);
    }
    pal_update_info info;
    uid_t uid = pal_ctl_request_uid(req);
    int rc = pal_updater_install(pal_daemon_updater(d), path, force, uid, &info, &err);
    pal_event_emit(&(pal_event){.kind = PAL_EV_SIGNATURE_UPDATE,
                                .action = "Install",
                                .path = path,
                                .result = rc == 0 ? "Success" : "Failed",
                                .detail = rc == 0 ? NULL : err.msg,
                                .signature_version = rc == 0 ? info.version : 0,
                                .old_signature_version = rc == 0 ? info.previous_version : 0,
                                .has_uid = 1,
                                .uid = uid});
    if (rc != 0) {
        pal_log(PAL_LOG_WARNING, "signature update from %s refused: %s", path, err.msg);
        free(path);
        return pal_ctl_fail(req, pal_code_for_err(rc), "%s", err.msg);
    }
    pal_log(PAL_LOG_NOTICE,
            "signature package version %llu installed from %s by uid %u "
            "(was %llu)",
            (unsigned long long)info.version, path, (unsigned)uid,
            (unsigned long long)info.previous_version);
    free(path);
    return update_json(&info);
}

static json_t *op_update_rollback(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    pal_errbuf err;
    static const char *const allowed[] = {NULL};
    if (pal_msg_check_fields(pal_ctl_request_args(req), allowed, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    if (!pal_daemon_quarantine(d) || !pal_daemon_updater(d))
        return need_remediation(req, d);
    pal_update_info info;
    uid_t uid = pal_ctl_request_uid(req);
    int rc = pal_updater_rollback(pal_daemon_updater(d), uid, &info, &err);
    pal_event_emit(&(pal_event){.kind = PAL_EV_SIGNATURE_UPDATE,
                                .action = "Rollback",
                                .result = rc == 0 ? "Success" : "Failed",
                                .detail = rc == 0 ? NULL : err.msg,
                                .signature_version = rc == 0 ? info.version : 0,
                                .old_signature_version = rc == 0 ? info.previous_version : 0,
                                .has_uid = 1,
                                .uid = uid});
    if (rc != 0) {
        pal_log(PAL_LOG_WARNING, "signature rollback refused: %s", err.msg);
        return pal_ctl_fail(req, pal_code_for_err(rc), "%s", err.msg);
    }
    pal_log(PAL_LOG_NOTICE, "signatures rolled back to version %llu by uid %u (was %llu)",
            (unsigned long long)info.version, (unsigned)uid,
            (unsigned long long)info.previous_version);
    return update_json(&info);
}

/* ---- registration ----------------------------------------------------------------------- */

int pal_daemon_register_remediation_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err)
{
    static const pal_ctl_op ops[] = {
        {"quarantine.list", PAL_CTL_ADMIN_ONLY, op_quarantine_list},
        {"quarantine.get", PAL_CTL_ADMIN_ONLY, op_quarantine_get},
        {"quarantine.restore", PAL_CTL_ADMIN_ONLY, op_quarantine_restore},
        {"quarantine.remove", PAL_CTL_ADMIN_ONLY, op_quarantine_remove},
        {"allow.list", PAL_CTL_ADMIN_ONLY, op_allow_list},
        {"allow.add", PAL_CTL_ADMIN_ONLY, op_allow_add},
        {"allow.remove", PAL_CTL_ADMIN_ONLY, op_allow_remove},
        {"threat_action.list", PAL_CTL_ADMIN_ONLY, op_threat_action_list},
        {"threat_action.set", PAL_CTL_ADMIN_ONLY, op_threat_action_set},
        {"threat_action.remove", PAL_CTL_ADMIN_ONLY, op_threat_action_remove},
        {"update", PAL_CTL_ADMIN_ONLY, op_update},
        {"update.rollback", PAL_CTL_ADMIN_ONLY, op_update_rollback},
    };
    return pal_ctl_server_register(srv, ops, sizeof(ops) / sizeof(*ops), d, err);
}
