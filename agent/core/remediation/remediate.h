/*
 * remediate.h — carrying out the action decided for a detected file: Quarantine or Remove
 * through quarantine.h, under the quarantine's space limits from the settings. It owns the
 * remediation request and the interface through which a scan job (scanjob.h) asks for one,
 * so that the job depends on this interface and not on the daemon or its handlers.
 *
 * Remediation happens only in the broker: the content process never touches a file.
 */
#ifndef PAL_REMEDIATE_H
#define PAL_REMEDIATE_H

#include <stdint.h>
#include <sys/stat.h>

#include "quarantine.h"
#include "settings.h"

/* What a remediation is asked to do, for one file on disk. */
typedef struct pal_remediation_req {
    const char *path; /* the file as the walker found it */
    size_t path_len;
    const struct stat *scanned; /* identity at scan time: dev, ino, size, mtime */
    pal_action action;          /* Quarantine or Remove (never NoAction) */
    int64_t detection_id;       /* the first detection that asked for the action */
    const char *threat;
    const uint8_t *sha256; /* of the whole file, NULL when unknown */
} pal_remediation_req;

/*
 * Carries out req. Returns 0 and sets *detail (malloc'd or NULL) on success, or a negative
 * code with *detail saying why it failed safely.
 */
typedef int (*pal_remediate_fn)(void *ctx, const pal_remediation_req *req, char **detail);

/* The interface a scan job is given: fn NULL means remediation is not available. */
typedef struct pal_remediator {
    pal_remediate_fn fn;
    void *ctx;
} pal_remediator;

/* Where the outcome of each remediation is told (the daemon's log); level is a syslog
   level (LOG_NOTICE on success, LOG_WARNING on a safe failure). */
typedef void (*pal_remediate_note_fn)(void *ctx, int level, const char *msg);

typedef struct pal_remediate pal_remediate;

/* q and settings are not owned and must outlive r; note may be NULL. */
int pal_remediate_new(pal_quarantine *q, pal_settings *settings, pal_remediate_note_fn note,
                      void *note_ctx, pal_remediate **out);
void pal_remediate_free(pal_remediate *r); /* accepts NULL */

/* Quarantine or remove req->path (pal_remediate_fn's contract). */
int pal_remediate_file(pal_remediate *r, const pal_remediation_req *req, char **detail);

/* The interface for a scan job; r NULL gives one that says remediation is unavailable. */
pal_remediator pal_remediate_iface(pal_remediate *r);

#endif
