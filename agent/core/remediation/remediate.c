/* remediate.c — Quarantine or Remove one detected file (remediate.h). */
#define _GNU_SOURCE
#include "remediate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "events.h"

struct pal_remediate {
    pal_quarantine *quarantine;
    pal_settings *settings;
    pal_remediate_note_fn note;
    void *note_ctx;
};

int pal_remediate_new(pal_quarantine *q, pal_settings *settings, pal_remediate_note_fn note,
                      void *note_ctx, pal_remediate **out)
{
    if (!q || !settings || !out)
        return PAL_EINVAL;
    pal_remediate *r = calloc(1, sizeof(*r));
    if (!r)
        return PAL_ENOMEM;
    r->quarantine = q;
    r->settings = settings;
    r->note = note;
    r->note_ctx = note_ctx;
    *out = r;
    return 0;
}

void pal_remediate_free(pal_remediate *r)
{
    free(r);
}

static void note(pal_remediate *r, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void note(pal_remediate *r, int level, const char *fmt, ...)
{
    if (!r->note)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->note(r->note_ctx, level, msg);
}

/* The quarantine's space limits from the settings; a value that cannot be read is the
   registry's default, never "unlimited". */
static void space_limits(pal_settings *s, pal_qspace_limits *l)
{
    static const char *const names[] = {"QuarantineMaxItemBytes", "QuarantineMaxTotalBytes",
                                        "QuarantineMinFreePercent"};
    uint64_t *dst[] = {&l->max_item, &l->max_total, &l->min_free_percent};
    for (size_t i = 0; i < 3; i++) {
        const pal_setting_def *def = pal_setting_find(names[i]);
        *dst[i] = def ? def->def_uint : 0;
        pal_settings_get_uint(s, names[i], dst[i]);
    }
}

int pal_remediate_file(pal_remediate *r, const pal_remediation_req *req, char **detail)
{
    *detail = NULL;
    if (!r) {
        *detail = strdup("remediation is not available in this agent");
        return PAL_ESTATE;
    }
    pal_qfile_req q = {
        .path = req->path,
        .scanned = req->scanned,
        .detection_id = req->detection_id,
        .threat = req->threat,
        .sha256 = req->sha256,
    };
    pal_errbuf err = {{0}};
    int rc;
    char text[64];
    pal_qspace_limits limits;
    space_limits(r->settings, &limits);
    q.limits = &limits;
    int64_t id = 0;
    if (req->action == PAL_ACTION_QUARANTINE) {
        rc = pal_quarantine_file(r->quarantine, &q, &id, &err);
        if (rc == 0) {
            snprintf(text, sizeof(text), "quarantined as item %lld", (long long)id);
            note(r, LOG_NOTICE, "%s (%s) %s", req->path, req->threat, text);
        }
    } else if (req->action == PAL_ACTION_REMOVE) {
        rc = pal_quarantine_delete_file(r->quarantine, &q, &err);
        if (rc == 0) {
            snprintf(text, sizeof(text), "removed");
            note(r, LOG_NOTICE, "%s (%s) removed", req->path, req->threat);
        }
    } else {
        rc = pal_err_set(&err, PAL_EINVAL, "no remediation for action %d", (int)req->action);
    }
    if (rc != 0)
        note(r, LOG_WARNING, "remediation of %s (%s) failed safely: %s", req->path, req->threat,
             err.msg);
    *detail = strdup(rc == 0 ? text : err.msg);
    pal_event_emit(&(pal_event){.kind = PAL_EV_REMEDIATION,
                                .threat = req->threat,
                                .path = req->path,
                                .path_len = req->path_len,
                                .action = pal_action_name(req->action),
                                .result = rc == 0 ? "Success" : "Failed",
                                .detail = rc == 0 ? text : err.msg,
                                .detection_id = req->detection_id,
                                .quarantine_id = id});
    return rc;
}

static int iface_fn(void *ctx, const pal_remediation_req *req, char **detail)
{
    return pal_remediate_file(ctx, req, detail);
}

pal_remediator pal_remediate_iface(pal_remediate *r)
{
    return (pal_remediator){.fn = iface_fn, .ctx = r};
}
