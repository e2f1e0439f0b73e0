/* render.c — a scan job's result as the scan.start result object (render.h). */
#include "render.h"

#include <string.h>

#include "msg.h"
#include "scanroot.h"

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *threats_json(const pal_scan_result *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < r->n_threats; i++) {
        const pal_scan_threat *t = &r->threats[i];
        json_t *o = json_object();
        if (!o)
            break;
        json_object_set_new(o, "detection_id", json_integer(t->detection_id));
        pal_msg_set_path(o, "path", t->path, strlen(t->path));
        json_object_set_new(o, "threat", json_string(t->threat));
        json_object_set_new(o, "severity", json_string(pal_severity_name(t->severity)));
        json_object_set_new(o, "category", json_string(t->category));
        json_object_set_new(o, "action", json_string(pal_det_action_name(t->action)));
        json_object_set_new(o, "action_result", json_string(pal_det_result_name(t->result)));
        json_object_set_new(o, "action_detail", str_or_null(t->action_detail));
        json_object_set_new(o, "sha256", json_string(t->sha256));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *unscannable_json(const pal_scan_result *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < r->n_unscannable; i++) {
        const pal_scan_unscannable *u = &r->unscannable[i];
        json_t *o = json_object();
        if (!o)
            break;
        pal_msg_set_path(o, "path", u->path, strlen(u->path));
        json_object_set_new(o, "reason", json_string(u->reason));
        json_object_set_new(o, "detail", str_or_null(u->detail));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *root_errors_json(const pal_scan_result *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < r->n_root_errors; i++) {
        const pal_scan_root_error *e = &r->root_errors[i];
        json_t *o = json_object();
        if (!o)
            break;
        pal_msg_set_path(o, "path", e->path, strlen(e->path));
        json_object_set_new(o, "error", json_string(pal_scanroot_error_name(e->reason, e->errnum)));
        json_object_set_new(o, "reason",
                            json_string(pal_scanroot_error_text(e->reason, e->errnum)));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *resolved_roots_json(const pal_scan_result *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < r->n_resolved_roots; i++) {
        const pal_scan_resolved_root *rr = &r->resolved_roots[i];
        json_t *o = json_object();
        if (!o)
            break;
        pal_msg_set_path(o, "path", rr->path, strlen(rr->path));
        pal_msg_set_path(o, "resolved", rr->resolved, strlen(rr->resolved));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *skipped_json(const pal_scan_result *r)
{
    json_t *o = json_object();
    for (int k = 0; o && k < PAL_SKIP__COUNT; k++)
        if (r->skipped[k])
            json_object_set_new(o, pal_skip_reason_name((pal_skip_reason)k),
                                json_integer((json_int_t)r->skipped[k]));
    return o;
}

json_t *pal_render_scan_result(const pal_scan_result *r)
{
    json_t *res = json_object();
    if (!res)
        return NULL;
    json_object_set_new(res, "scan_id", json_integer(r->scan_id));
    json_object_set_new(res, "type", json_string(pal_scan_type_name(r->type)));
    json_object_set_new(res, "status", json_string(pal_scan_outcome_name(r->outcome)));
    if (r->error)
        json_object_set_new(res, "error", json_string(r->error));
    json_object_set_new(res, "start_time", pal_time_json(r->start_ms));
    json_object_set_new(res, "end_time", pal_time_json(r->end_ms));
    json_object_set_new(res, "files_scanned", json_integer((json_int_t)r->files_scanned));
    json_object_set_new(res, "bytes_scanned", json_integer((json_int_t)r->bytes_scanned));
    json_object_set_new(res, "threats_found", json_integer((json_int_t)r->threats_found));
    json_object_set_new(res, "allowed_count", json_integer((json_int_t)r->allowed_count));
    json_object_set_new(res, "unremediated_count", json_integer((json_int_t)r->unremediated_count));
    json_object_set_new(res, "unscannable_count", json_integer((json_int_t)r->unscannable_count));
    json_object_set_new(res, "skipped", skipped_json(r));
    json_object_set_new(res, "threats", threats_json(r));
    json_object_set_new(res, "unscannable", unscannable_json(r));
    json_object_set_new(res, "root_errors", root_errors_json(r));
    json_object_set_new(res, "resolved_roots", resolved_roots_json(r));
    json_object_set_new(res, "fully_examined", json_boolean(r->fully_examined));
    json_object_set_new(res, "bytes_read", json_integer((json_int_t)r->stats.bytes_read));
    json_object_set_new(res, "cache_hits", json_integer((json_int_t)r->stats.cache_hits));
    return res;
}
