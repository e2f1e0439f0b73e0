/*
 * ops_jobs.c — scan.list, scan.get, scan.wait and scan.stop (ops_jobs.h) over the registry
 * of detached scans (jobs.h).
 */
#include "ops_jobs.h"

#include <stdint.h>
#include <string.h>

#include "jobs.h"
#include "log.h"
#include "msg.h"

#define WAIT_POLL_MS 200 /* progress events at most ~5 a second, as scan.start's */

static int scan_id_arg(pal_ctl_request *req, json_int_t *id)
{
    static const char *const allowed[] = {"scan_id", NULL};
    const json_t *args = pal_ctl_request_args(req);
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_int(args, "scan_id", 0, 1, INT64_MAX, id, &err) != 0) {
        pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
        return -1;
    }
    return 0;
}

static json_t *not_found(pal_ctl_request *req, json_int_t id)
{
    return pal_ctl_fail(req, PAL_CODE_NOT_FOUND,
                        "no detached scan %lld (scan.list lists them; the history of every "
                        "scan is scans.list)",
                        (long long)id);
}

static json_t *op_scan_list(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    pal_errbuf err;
    static const char *const allowed[] = {NULL};
    if (pal_msg_check_fields(pal_ctl_request_args(req), allowed, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    json_t *o = pal_jobs_list_json(pal_daemon_jobs(d));
    return o ? o : pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
}

static json_t *op_scan_get(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    json_int_t id;
    if (scan_id_arg(req, &id) != 0)
        return NULL;
    const char *code;
    json_t *o = pal_jobs_get_json(pal_daemon_jobs(d), id, 1, &code);
    if (!o)
        return strcmp(code, PAL_CODE_NOT_FOUND) == 0 ? not_found(req, id)
                                                     : pal_ctl_fail(req, code, "out of memory");
    return o;
}

static json_t *op_scan_stop(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    json_int_t id;
    if (scan_id_arg(req, &id) != 0)
        return NULL;
    if (pal_jobs_stop_one(pal_daemon_jobs(d), id) != 0)
        return not_found(req, id);
    pal_log(PAL_LOG_NOTICE, "detached scan %lld: stop requested by uid %u", (long long)id,
            (unsigned)pal_ctl_request_uid(req));
    const char *code;
    json_t *o = pal_jobs_get_json(pal_daemon_jobs(d), id, 0, &code);
    return o ? o : pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
}

/* Follows the scan until it ends; a cancel or a disconnect ends the wait, not the scan. */
static json_t *op_scan_wait(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    json_int_t id;
    if (scan_id_arg(req, &id) != 0)
        return NULL;
    pal_log(PAL_LOG_INFO, "detached scan %lld: followed by uid %u (pid %d)", (long long)id,
            (unsigned)pal_ctl_request_uid(req), (int)pal_ctl_request_pid(req));
    uint64_t seq = 0;
    for (;;) {
        json_t *out = NULL;
        int rc = pal_jobs_poll(pal_daemon_jobs(d), id, &seq, &out);
        if (rc == 1) {
            return out ? out : pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
        } else if (rc < 0) {
            return not_found(req, id);
        }
        if (out)
            pal_ctl_event(req, "progress", out);
        if (pal_ctl_wait_cancel(req, WAIT_POLL_MS)) {
            /* the scan may have ended meanwhile (the daemon stopping cancels its detached
               scans before its waiters): its result then, else the scan as it stands */
            if (pal_jobs_poll(pal_daemon_jobs(d), id, &seq, &out) == 1)
                return out ? out : pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
            json_decref(out);
            const char *code;
            json_t *o = pal_jobs_get_json(pal_daemon_jobs(d), id, 0, &code);
            return o ? o : pal_ctl_fail(req, code, "no detached scan %lld", (long long)id);
        }
    }
}

int pal_daemon_register_job_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err)
{
    static const pal_ctl_op ops[] = {
        {"scan.list", PAL_CTL_ADMIN_ONLY, op_scan_list},
        {"scan.get", PAL_CTL_ADMIN_ONLY, op_scan_get},
        {"scan.wait", PAL_CTL_ADMIN_ONLY | PAL_CTL_STREAMING, op_scan_wait},
        {"scan.stop", PAL_CTL_ADMIN_ONLY, op_scan_stop},
    };
    return pal_ctl_server_register(srv, ops, sizeof(ops) / sizeof(*ops), d, err);
}
