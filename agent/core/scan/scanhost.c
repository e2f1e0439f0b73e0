/* scanhost.c — in-process or content-process scanning, switched live (see scanhost.h). */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include "scanhost.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pal_scanhost {
    pthread_rwlock_t mode_lock; /* scans hold it for reading; apply takes it for writing */
    int sandbox;                /* (mode_lock) */
    unsigned channels;          /* (mode_lock) channels of sup */
    pal_cpsup *sup;             /* (mode_lock) NULL when the sandbox is off */
    pal_scanhost_config cfg;    /* cfg.cp_binary points to cp_binary */
    char *cp_binary;            /* owned copy */
    char *cp_account;           /* owned copy, or NULL */
    pthread_mutex_t err_lock;
    char last_error[512]; /* (err_lock) */
};

int pal_scanhost_new(const pal_scanhost_config *cfg, pal_scanhost **out, pal_errbuf *err)
{
    pal_scanhost *h = calloc(1, sizeof(*h));
    if (!h)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    h->cfg = *cfg;
    h->cp_binary = cfg->cp_binary ? strdup(cfg->cp_binary) : NULL;
    if (cfg->cp_binary && !h->cp_binary) {
        free(h);
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    h->cfg.cp_binary = h->cp_binary;
    h->cp_account = cfg->cp_account ? strdup(cfg->cp_account) : NULL;
    if (cfg->cp_account && !h->cp_account) {
        free(h->cp_binary);
        free(h);
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    h->cfg.cp_account = h->cp_account;
    /* a switch must not starve behind a stream of file scans */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&h->mode_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&h->err_lock, NULL);
    *out = h;
    return 0;
}

void pal_scanhost_free(pal_scanhost *h)
{
    if (!h)
        return;
    pal_cpsup_free(h->sup);
    pthread_rwlock_destroy(&h->mode_lock);
    pthread_mutex_destroy(&h->err_lock);
    free(h->cp_binary);
    free(h->cp_account);
    free(h);
}

static void set_error(pal_scanhost *h, const char *msg)
{
    pthread_mutex_lock(&h->err_lock);
    snprintf(h->last_error, sizeof(h->last_error), "%s", msg);
    pthread_mutex_unlock(&h->err_lock);
}

/* With mode_lock held for writing. */
static int start_cp(pal_scanhost *h, unsigned slots, pal_defs *defs, pal_errbuf *err)
{
    pal_cpsup_config cc;
    pal_cpsup_config_default(&cc);
    cc.binary = h->cfg.cp_binary;
    cc.account = h->cfg.cp_account;
    cc.channels = slots;
    cc.core_dumps = h->cfg.core_dumps;
    if (h->cfg.timeout_grace_ms)
        cc.timeout_grace_ms = h->cfg.timeout_grace_ms;
    cc.on_event = h->cfg.on_event;
    cc.event_ctx = h->cfg.event_ctx;
    int rc = pal_cpsup_new(&cc, &h->sup, err);
    if (rc != 0)
        return rc;
    h->channels = slots;
    /* A start failure leaves the supervisor in place: it retries with backoff, and scans
       meanwhile report their objects unscannable with the reason. */
    return defs ? pal_cpsup_start(h->sup, pal_defs_fd(defs),
                                  pal_engine_limits(pal_defs_engine(defs)), err)
                : 0;
}

int pal_scanhost_apply(pal_scanhost *h, int sandbox, unsigned slots, pal_defs *defs,
                       pal_errbuf *err)
{
    int rc = 0;
    pal_errbuf e = {{0}};
    pthread_rwlock_wrlock(&h->mode_lock);
    if (!sandbox || (h->sup && h->channels != slots)) {
        pal_cpsup_free(h->sup);
        h->sup = NULL;
    }
    h->sandbox = sandbox;
    if (sandbox && !h->sup) {
        if (!h->cfg.cp_binary)
            rc = pal_err_set(&e, PAL_ENOTFOUND, "no palisade-cp binary is configured");
        else
            rc = start_cp(h, slots, defs, &e);
    }
    pthread_rwlock_unlock(&h->mode_lock);
    set_error(h, rc == 0 ? "" : e.msg);
    if (rc != 0)
        pal_err_set(err, rc, "%s", e.msg);
    return rc;
}

static void unavailable(pal_report *rep, const char *name, const char *why, uint64_t size)
{
    pal_report_init(rep);
    rep->verdict = PAL_VERDICT_UNSCANNABLE;
    rep->reason = PAL_UNSCANNABLE_CP_UNAVAILABLE;
    rep->reason_chain = strdup(name);
    size_t n = strlen(why) + 64;
    rep->reason_detail = malloc(n);
    if (rep->reason_detail)
        snprintf(rep->reason_detail, n, "content process unavailable: %s", why);
    rep->size = size;
}

/* In-process: the slot's own scanner, rebuilt when the defs in force change. The mode may
   flip meanwhile; a scan that started in-process finishes in-process. */
static int scan_inproc(pal_scanner **inproc, pal_defs **inproc_defs, pal_defs *defs,
                       const pal_source *src, const char *name, const volatile int *cancel,
                       pal_report *rep)
{
    if (*inproc_defs != defs) {
        pal_scanner *sc = NULL;
        int rc = pal_scanner_new(pal_defs_engine(defs), &sc);
        if (rc != 0) {
            pal_report_init(rep);
            return rc;
        }
        pal_scanner_free(*inproc);
        pal_defs_unref(*inproc_defs);
        *inproc = sc;
        *inproc_defs = pal_defs_ref(defs);
    }
    return pal_scan(*inproc, src, name, cancel, rep);
}

int pal_scanhost_scan(pal_scanhost *h, unsigned slot, pal_scanner **inproc, pal_defs **inproc_defs,
                      pal_defs *defs, const pal_source *src, const char *name,
                      const volatile int *cancel, pal_report *rep)
{
    int rc;
    pthread_rwlock_rdlock(&h->mode_lock);
    if (h->sandbox) {
        if (!h->sup || slot >= h->channels) {
            char why[512];
            pthread_mutex_lock(&h->err_lock);
            snprintf(why, sizeof(why), "%s", h->last_error[0] ? h->last_error : "not started");
            pthread_mutex_unlock(&h->err_lock);
            unavailable(rep, name, why, src->size);
            rc = rep->reason_chain ? 0 : PAL_ENOMEM;
        } else {
            pal_cpsup_outcome oc;
            /* the content process gets the package's descriptor and the limits, not our
               pal_defs: a new one (update, other limits) replaces its instance */
            rc = pal_cpsup_scan(h->sup, slot, pal_defs_fd(defs),
                                pal_engine_limits(pal_defs_engine(defs)), src, name, cancel, rep,
                                &oc);
            if (rc == PAL_ESTATE) {
                unavailable(rep, name, "stopped", src->size);
                rc = rep->reason_chain ? 0 : PAL_ENOMEM;
            }
        }
        pthread_rwlock_unlock(&h->mode_lock);
        return rc;
    }
    pthread_rwlock_unlock(&h->mode_lock);
    return scan_inproc(inproc, inproc_defs, defs, src, name, cancel, rep);
}

/* The sandbox's answer for an object it could not take: as pal_scanhost_scan gives it. */
static int cp_unavailable(pal_scanhost *h, pal_report *rep, const char *name, uint64_t size)
{
    char why[512];
    pthread_mutex_lock(&h->err_lock);
    snprintf(why, sizeof(why), "%s", h->last_error[0] ? h->last_error : "not started");
    pthread_mutex_unlock(&h->err_lock);
    unavailable(rep, name, why, size);
    return rep->reason_chain ? 0 : PAL_ENOMEM;
}

int pal_scanhost_scan_many(pal_scanhost *h, unsigned slot, pal_scanner **inproc,
                           pal_defs **inproc_defs, pal_defs *defs, size_t n, const pal_source *srcs,
                           const char *const *names, const volatile int *cancel, pal_report *reps,
                           int *rcs)
{
    pthread_rwlock_rdlock(&h->mode_lock);
    if (h->sandbox) {
        if (!h->sup || slot >= h->channels) {
            for (size_t i = 0; i < n; i++)
                rcs[i] = cp_unavailable(h, &reps[i], names[i], srcs[i].size);
        } else {
            int rc = pal_cpsup_scan_pipelined(h->sup, slot, pal_defs_fd(defs),
                                              pal_engine_limits(pal_defs_engine(defs)), n, srcs,
                                              names, cancel, reps, rcs, NULL);
            for (size_t i = 0; i < n; i++) {
                if (rc != 0) /* not a batch it takes: one object after the other */
                    rcs[i] = pal_cpsup_scan(h->sup, slot, pal_defs_fd(defs),
                                            pal_engine_limits(pal_defs_engine(defs)), &srcs[i],
                                            names[i], cancel, &reps[i], NULL);
                if (rcs[i] == PAL_ESTATE) {
                    unavailable(&reps[i], names[i], "stopped", srcs[i].size);
                    rcs[i] = reps[i].reason_chain ? 0 : PAL_ENOMEM;
                }
            }
        }
        pthread_rwlock_unlock(&h->mode_lock);
        return 0;
    }
    pthread_rwlock_unlock(&h->mode_lock);
    for (size_t i = 0; i < n; i++)
        rcs[i] = scan_inproc(inproc, inproc_defs, defs, &srcs[i], names[i], cancel, &reps[i]);
    return 0;
}

void pal_scanhost_get_status(pal_scanhost *h, pal_scanhost_status *out)
{
    memset(out, 0, sizeof(*out));
    pthread_rwlock_rdlock(&h->mode_lock);
    out->sandbox = h->sandbox;
    if (h->sup) {
        out->cp_present = 1;
        pal_cpsup_get_status(h->sup, &out->cp);
    }
    pthread_rwlock_unlock(&h->mode_lock);
    /* a start failure is history once the supervisor's retries brought an instance up
       (e.g. the administrator fixed the account it refused) */
    if (!(out->cp_present && out->cp.pid > 0)) {
        pthread_mutex_lock(&h->err_lock);
        snprintf(out->last_error, sizeof(out->last_error), "%s", h->last_error);
        pthread_mutex_unlock(&h->err_lock);
    }
}

pal_cpsup *pal_scanhost_cpsup(pal_scanhost *h)
{
    return h->sup;
}
