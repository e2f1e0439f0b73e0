/*
 * ops_buffer.c — scan.buffer (ops_buffer.h). The handler parses and decodes its arguments,
 * admits the request against the caller's per-uid limits, then scans the bytes on a slot
 * through a memsource, records any threat and answers the verdict.
 */
#define _GNU_SOURCE
#include "ops_buffer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "display.h"
#include "events.h"
#include "log.h"
#include "memsource.h"
#include "msg.h"
#include "scanjob.h"

/* ---- per-uid limits ---------------------------------------------------------------------- */

#define LIMIT_WINDOW_MS 60000
#define LIMIT_UIDS 256 /* uids tracked at once; beyond, a new uid waits for a window to end */

typedef struct uid_window {
    bool used;
    uid_t uid;
    int64_t start_ms;   /* monotonic start of the current minute */
    uint64_t requests;  /* admitted in this minute */
    uint64_t bytes;     /* admitted in this minute */
    unsigned in_flight; /* being scanned now */
} uid_window;

/* One table for the process: the same limits hold on the control and the status socket. */
static struct {
    pthread_mutex_t lock;
    uid_window w[LIMIT_UIDS]; /* lock */
} limits = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Admit len bytes for uid, or write why not into why and return false. */
static bool limits_admit(uid_t uid, size_t len, uint64_t max_requests, uint64_t max_bytes,
                         char *why, size_t why_size)
{
    int64_t now = mono_ms();
    bool ok = false;
    pthread_mutex_lock(&limits.lock);
    uid_window *w = NULL, *free_w = NULL;
    for (size_t i = 0; i < LIMIT_UIDS && !w; i++) {
        uid_window *c = &limits.w[i];
        if (c->used && c->uid == uid)
            w = c;
        else if (!free_w &&
                 (!c->used || (c->in_flight == 0 && now - c->start_ms >= LIMIT_WINDOW_MS)))
            free_w = c;
    }
    if (!w && free_w) {
        w = free_w;
        *w = (uid_window){.used = true, .uid = uid, .start_ms = now};
    }
    if (!w) {
        snprintf(why, why_size,
                 "buffer scans are being requested by %u users at once; try again in a minute",
                 LIMIT_UIDS);
        goto out;
    }
    if (now - w->start_ms >= LIMIT_WINDOW_MS) {
        w->start_ms = now;
        w->requests = 0;
        w->bytes = 0;
    }
    long wait_s = (long)((w->start_ms + LIMIT_WINDOW_MS - now + 999) / 1000);
    if (w->in_flight >= PAL_BUFFER_SCAN_INFLIGHT)
        snprintf(why, why_size, "uid %u already has %u buffer scans in flight", (unsigned)uid,
                 PAL_BUFFER_SCAN_INFLIGHT);
    else if (w->requests >= max_requests)
        snprintf(why, why_size,
                 "uid %u has made %llu buffer scans this minute, the limit "
                 "BufferScanMaxPerMinute; try again in %ld s",
                 (unsigned)uid, (unsigned long long)w->requests, wait_s);
    else if (len > max_bytes || w->bytes > max_bytes - len)
        snprintf(why, why_size,
                 "uid %u has submitted %llu bytes for buffer scans this minute and %zu more "
                 "would pass the limit BufferScanMaxBytesPerMinute (%llu); try again in %ld s",
                 (unsigned)uid, (unsigned long long)w->bytes, len, (unsigned long long)max_bytes,
                 wait_s);
    else {
        w->requests++;
        w->bytes += len;
        w->in_flight++;
        ok = true;
    }
out:
    pthread_mutex_unlock(&limits.lock);
    return ok;
}

static void limits_done(uid_t uid)
{
    pthread_mutex_lock(&limits.lock);
    for (size_t i = 0; i < LIMIT_UIDS; i++)
        if (limits.w[i].used && limits.w[i].uid == uid && limits.w[i].in_flight > 0) {
            limits.w[i].in_flight--;
            break;
        }
    pthread_mutex_unlock(&limits.lock);
}

/* ---- recording --------------------------------------------------------------------------- */

/* On the allowed list by threat name, the matching object's hash or the whole buffer's (as a
   file scan decides); a store that cannot answer fails towards reporting the threat. */
static bool is_allowed(pal_daemon *d, const pal_finding *f, const pal_report *rep)
{
    int allowed;
    return pal_scan_finding_allowed(pal_daemon_store(d), f, rep, &allowed) == 0 && allowed;
}

/* Record one finding (action Allow when allowed, else NoAction: there is no file); returns
   its detection id or 0 (the failure is logged: the verdict still reaches the caller). */
static int64_t record(pal_daemon *d, const pal_finding *f, bool allowed, char *path,
                      uint64_t sig_version, uid_t uid, pid_t pid)
{
    pal_detection det = {
        .detected_at = pal_time_now_ms(),
        .threat_name = f->threat,
        .severity = f->severity,
        .category = f->category,
        .path = path,
        .chain = f->chain,
        .size = f->size,
        .source = PAL_DET_BUFFER,
        .matched_by = f->matched_by,
        .sig_version = sig_version,
        .action = allowed ? PAL_DET_ACTION_ALLOW : PAL_DET_ACTION_NOACTION,
        .process_pid = pid,
        .process_uid = (uint32_t)uid,
    };
    pal_store_sha256_hex(f->sha256, det.sha256);
    char detail[160];
    /* the caller is in process_pid and process_uid (SO_PEERCRED) */
    snprintf(detail, sizeof(detail), "buffer scan; not remediated: there is no file");
    int64_t id = 0;
    pal_errbuf err;
    pal_store *st = pal_daemon_store(d);
    if (pal_store_detection_insert(st, &det, &id, &err) != 0 ||
        pal_store_detection_set_action(st, id, det.action, PAL_DET_SUCCESS, detail, 0, &err) != 0) {
        pal_log(PAL_LOG_ERROR, "cannot record the buffer-scan detection of %s in %s: %s", f->threat,
                path, err.msg);
        return id;
    }
    pal_log(PAL_LOG_WARNING, "threat %s found in %s (%s requested by uid %u, pid %ld); action %s",
            f->threat, path, detail, (unsigned)uid, (long)pid, allowed ? "Allow" : "NoAction");
    pal_event_emit(&(pal_event){.kind = PAL_EV_DETECTION,
                                .origin = pal_det_source_name(PAL_DET_BUFFER),
                                .threat = f->threat,
                                .severity = pal_severity_name(f->severity),
                                .category = f->category,
                                .path = path,
                                .object = f->chain,
                                .action = pal_det_action_name(det.action),
                                .result = pal_det_result_name(PAL_DET_SUCCESS),
                                .detail = detail,
                                .sha256 = det.sha256,
                                .detection_id = id,
                                .pid = pid,
                                .has_uid = 1,
                                .uid = uid,
                                .signature_version = sig_version});
    return id;
}

/* ---- the operation ----------------------------------------------------------------------- */

/* The verdict the caller acts on: allowed findings do not count (as in a file scan), so
   content whose every finding is allowed is clean, or unscannable when not all of it was
   examined. */
static const char *verdict_name(const pal_report *rep, const bool *allowed)
{
    for (size_t i = 0; i < rep->n_findings; i++)
        if (!allowed[i])
            return "threat";
    return rep->reason != PAL_UNSCANNABLE_NONE ? "unscannable" : "clean";
}

static json_t *result_json(const pal_report *rep, const char *path, const int64_t *ids,
                           const bool *allowed)
{
    const char *verdict = verdict_name(rep, allowed);
    json_t *threats = json_array();
    for (size_t i = 0; threats && i < rep->n_findings; i++) {
        const pal_finding *f = &rep->findings[i];
        const char *sev = pal_severity_name(f->severity);
        json_array_append_new(
            threats,
            json_pack("{sssssosssososb}", "threat", f->threat, "category", f->category, "severity",
                      sev ? json_string(sev) : json_null(), "chain", f->chain, "matched_by",
                      f->matched_by ? json_string(f->matched_by) : json_null(), "detection_id",
                      ids[i] ? json_integer(ids[i]) : json_null(), "allowed", allowed[i]));
    }
    const char *reason =
        rep->reason != PAL_UNSCANNABLE_NONE ? pal_unscannable_name(rep->reason) : NULL;
    return json_pack("{sssssIsososo}", "verdict", verdict, "name", path, "size",
                     (json_int_t)rep->size, "threats", threats ? threats : json_array(), "reason",
                     reason ? json_string(reason) : json_null(), "reason_detail",
                     rep->reason_detail ? json_string(rep->reason_detail) : json_null());
}

static json_t *op_scan_buffer(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const fields[] = {"content_b64", "name", NULL};
    const char *b64 = NULL, *hint = NULL;
    pal_errbuf err;
    if (pal_msg_check_fields(args, fields, &err) != 0 ||
        pal_msg_get_string(args, "content_b64", 0, &b64, &err) < 0 ||
        pal_msg_get_string(args, "name", PAL_MSG_OPTIONAL | PAL_MSG_NULLABLE, &hint, &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    size_t b64_len = strlen(b64);
    if (b64_len > (PAL_BUFFER_SCAN_MAX + 2) / 3 * 4)
        return pal_ctl_fail(req, PAL_CODE_INVALID_VALUE,
                            "the content is larger than the %u bytes a buffer scan takes",
                            PAL_BUFFER_SCAN_MAX);
    if (hint && strlen(hint) > PAL_BUFFER_NAME_MAX)
        return pal_ctl_fail(req, PAL_CODE_INVALID_VALUE, "name: longer than %u bytes",
                            PAL_BUFFER_NAME_MAX);
    unsigned char *content = NULL;
    size_t len = 0;
    int rc = pal_b64_decode(b64, b64_len, &content, &len);
    if (rc == PAL_ENOMEM)
        return pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
    if (rc != 0)
        return pal_ctl_fail(req, PAL_CODE_INVALID_VALUE,
                            "content_b64: not standard base64 with padding");
    if (len > PAL_BUFFER_SCAN_MAX) {
        free(content);
        return pal_ctl_fail(req, PAL_CODE_INVALID_VALUE,
                            "the content is %zu bytes, more than the %u a buffer scan takes", len,
                            PAL_BUFFER_SCAN_MAX);
    }

    /* the name a user chose goes into logs and listings: its display form only */
    char *shown = pal_display(hint ? hint : "", hint ? strlen(hint) : 0);
    char *path = NULL;
    if (!shown || asprintf(&path, "buffer:%s", shown) < 0)
        path = NULL;
    free(shown);
    if (!path) {
        free(content);
        return pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
    }

    uid_t uid = pal_ctl_request_uid(req);
    pid_t pid = pal_ctl_request_pid(req);
    uint64_t max_requests = 0, max_bytes = 0;
    pal_settings *set = pal_daemon_settings(d);
    if (pal_settings_get_uint(set, "BufferScanMaxPerMinute", &max_requests) != 0 ||
        pal_settings_get_uint(set, "BufferScanMaxBytesPerMinute", &max_bytes) != 0) {
        free(content);
        free(path);
        return pal_ctl_fail(req, PAL_CODE_INTERNAL, "the buffer-scan limits cannot be read");
    }
    char why[256];
    if (!limits_admit(uid, len, max_requests, max_bytes, why, sizeof(why))) {
        free(content);
        free(path);
        return pal_ctl_fail(req, PAL_CODE_BUSY, "%s", why);
    }

    json_t *res = NULL;
    pal_defs *defs = pal_daemon_defs(d);
    pal_slots_ref *ref = defs ? pal_daemon_scan_begin(d) : NULL;
    pal_slot *slot =
        ref ? pal_slots_acquire(pal_slots_ref_pool(ref), pal_ctl_cancel_flag(req)) : NULL;
    if (!defs) {
        pal_ctl_fail(req, PAL_CODE_UNAVAILABLE,
                     "no signature package is in force (`palisade update` puts one in force)");
    } else if (!ref) {
        pal_ctl_fail(req, PAL_CODE_UNAVAILABLE, "the agent is stopping");
    } else if (!slot) {
        pal_ctl_fail(req, PAL_CODE_BUSY, "cancelled while waiting for a scan slot");
    } else {
        pal_memsource ms;
        pal_source src;
        pal_report rep;
        pal_memsource_init(&ms, content, len, &src);
        rc = pal_slot_scan(slot, defs, &src, path, pal_ctl_cancel_flag(req), &rep);
        pal_slots_release(pal_slots_ref_pool(ref), slot);
        if (rc != 0) {
            pal_ctl_fail(req, PAL_CODE_INTERNAL, "the scan engine failed: %s", pal_strerror(rc));
        } else {
            size_t n = rep.n_findings ? rep.n_findings : 1;
            int64_t *ids = calloc(n, sizeof(*ids));
            bool *ok_list = calloc(n, sizeof(*ok_list));
            uint64_t sig_version = pal_defs_info(defs)->version;
            for (size_t i = 0; ids && ok_list && i < rep.n_findings; i++) {
                ok_list[i] = is_allowed(d, &rep.findings[i], &rep);
                ids[i] = record(d, &rep.findings[i], ok_list[i], path, sig_version, uid, pid);
            }
            res = ids && ok_list ? result_json(&rep, path, ids, ok_list) : NULL;
            if (!res)
                pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
            free(ids);
            free(ok_list);
            pal_report_free(&rep);
        }
    }
    if (ref)
        pal_daemon_scan_end(d, ref);
    pal_defs_unref(defs);
    limits_done(uid);
    /* the content is never stored: it dies with the request */
    if (content)
        explicit_bzero(content, len);
    free(content);
    free(path);
    return res;
}

int pal_daemon_register_buffer_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err)
{
    static const pal_ctl_op ops[] = {
        {"scan.buffer", PAL_CTL_STREAMING, op_scan_buffer},
    };
    return pal_ctl_server_register(srv, ops, sizeof(ops) / sizeof(*ops), d, err);
}
