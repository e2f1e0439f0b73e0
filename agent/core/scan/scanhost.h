/*
 * scanhost.h — where the engine runs: in the sandboxed content process (SandboxMode
 * Enabled) or in the broker (Disabled, Defender's in-process fallback). The choice is made
 * by the administrator only; a content process that cannot start or keeps crashing makes
 * objects unscannable, never a silent fall-back to parsing in the root broker, because that
 * is what an attacker would want.
 *
 * Switching is live: pal_scanhost_apply waits for the scans in flight on the old mode to
 * finish (a write lock that scans hold for reading), then stops or starts the content
 * process. The slot count can change the same way (the content process is restarted with
 * one channel per slot).
 */
#ifndef PAL_SCANHOST_H
#define PAL_SCANHOST_H

#include "cpsup.h"
#include "defs.h"
#include "engine.h"

typedef struct pal_scanhost pal_scanhost;

typedef struct pal_scanhost_config {
    const char *cp_binary;       /* palisade-cp to run (copied) */
    const char *cp_account;      /* its dedicated account; NULL: dynamic uids (copied) */
    int core_dumps;              /* setting CoreDumpsEnabled */
    uint32_t timeout_grace_ms;   /* per-object timeout beyond the engine's own limit */
    pal_cpsup_event_fn on_event; /* content-process events (record them) */
    void *event_ctx;
} pal_scanhost_config;

int pal_scanhost_new(const pal_scanhost_config *cfg, pal_scanhost **out, pal_errbuf *err);
void pal_scanhost_free(pal_scanhost *h); /* stops the content process; accepts NULL */

/*
 * Put sandbox mode and the slot count in force, starting the content process with defs
 * when needed. Returns 0, or the error that kept the content process from starting (the
 * mode is still Enabled then: scans report the objects unscannable until it starts).
 */
int pal_scanhost_apply(pal_scanhost *h, int sandbox, unsigned slots, pal_defs *defs,
                       pal_errbuf *err);

/* Scan on slot index with the in-process scanner *inproc (built lazily, owned by the slot)
   or through the content process, under the same contract as pal_scan. */
int pal_scanhost_scan(pal_scanhost *h, unsigned slot, pal_scanner **inproc, pal_defs **inproc_defs,
                      pal_defs *defs, const pal_source *src, const char *name,
                      const volatile int *cancel, pal_report *rep);

/* Several small objects on slot index at once, each with pal_scanhost_scan's contract
   (rcs[i] its return code, reps[i] its report): in the content process one pipelined
   hand-off (pal_cpsup_scan_pipelined: n <= PAL_CPSUP_PIPE_MAX, each object at most
   PAL_CPMSG_INLINE_MAX bytes, PAL_CPSUP_PIPE_BYTES in all), in-process one pal_scan after
   the other. */
int pal_scanhost_scan_many(pal_scanhost *h, unsigned slot, pal_scanner **inproc,
                           pal_defs **inproc_defs, pal_defs *defs, size_t n, const pal_source *srcs,
                           const char *const *names, const volatile int *cancel, pal_report *reps,
                           int *rcs);

typedef struct pal_scanhost_status {
    int sandbox;          /* mode in force */
    int cp_present;       /* a supervisor exists (sandbox on) */
    pal_cpsup_status cp;  /* valid when cp_present */
    char last_error[512]; /* why the content process could not start, or "" */
} pal_scanhost_status;

void pal_scanhost_get_status(pal_scanhost *h, pal_scanhost_status *out);

/* The supervisor (NULL when the sandbox is off), for tests and diagnostics; valid only
   while the caller keeps the mode from changing. */
pal_cpsup *pal_scanhost_cpsup(pal_scanhost *h);

#endif
