/*
 * rtpwork.c — real-time protection's workers (see rtp.c for the group and the reader): take
 * an event, skip what is excluded, answer from the scan cache or scan on a slot, answer the
 * kernel, record, remediate; and what a clean verdict leaves behind: the store's cache entry
 * (written in batches) and the inode's ignore mark (with the attribute watch, rtpattr.h).
 */
#define _GNU_SOURCE
#include "rtp_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "events.h"
#include "fdsource.h"
#include "msg.h"
#include "scanjob.h"
#include "walker.h"

/* ---- the workers ------------------------------------------------------------------------ */

/* The next event, opens and execs first (someone waits for them); NULL when stopping, or
   at once when nothing is queued and !wait. */
static ev *pop(pal_rtp *r, int wait)
{
    pthread_mutex_lock(&r->lock);
    ev *e = NULL;
    while (!r->stopping) {
        if ((e = r->pq_head)) {
            r->pq_head = e->qnext;
            if (!r->pq_head)
                r->pq_tail = NULL;
            break;
        }
        if ((e = r->aq_head)) {
            r->aq_head = e->qnext;
            if (!r->aq_head)
                r->aq_tail = NULL;
            break;
        }
        if (!wait)
            break;
        pthread_cond_wait(&r->work, &r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return e;
}

static void done(pal_rtp *r, ev *e)
{
    pthread_mutex_lock(&r->lock);
    rtp_ev_unref(r, e);
    pthread_mutex_unlock(&r->lock);
}

/* An evictable inode ignore mark (lock held): the kernel stops asking about opens of this
   file until it is written (no FAN_MARK_IGNORED_SURV_MODIFY), the inode leaves the cache, or
   its attributes change (rtpattr.h: a chmod can make it writable by someone the mark was not
   given to). Only on a file system whose attribute changes are watched; key from
   pal_rtp_attr_key, outside the lock. */
static void ignore_mark(pal_rtp *r, const ev *e, uint64_t key, uint64_t dev)
{
    if (!r->attr || key == 0 || !pal_rtp_attr_watches(r->attr, dev))
        return;
    int rc = pal_rtp_attr_note(r->attr, key);
    if (rc < 0)
        return;
    if (rc > 0) {
        /* the set was full and now holds this key alone: the marks it forgot must go */
        fanotify_mark(r->fan_fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL);
        atomic_fetch_add(&r->c.ignore_marks_dropped, 1);
    }
    if (fanotify_mark(r->fan_fd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_EVICTABLE,
                      PERM_MASK, e->fd, NULL) == 0)
        atomic_fetch_add(&r->c.ignore_marks, 1);
}

/* After a mark was set: a change of the file's attributes between the check that allowed
   the mark and the mark itself reached no watch that knew the file, so look again (its
   ctime moved) and take the mark back. */
static void ignore_mark_recheck(pal_rtp *r, const ev *e, const struct stat *st)
{
    struct stat now;
    if (fstat(e->fd, &now) == 0 && pal_cachetrust_same_identity(&now, st))
        return;
    pthread_mutex_lock(&r->lock);
    fanotify_mark(r->fan_fd, FAN_MARK_REMOVE | FAN_MARK_IGNORED_MASK, PERM_MASK, e->fd, NULL);
    pthread_mutex_unlock(&r->lock);
}

void rtp_excl_unref(pal_rtp *r, excl_snap *x)
{
    if (!x)
        return;
    pthread_mutex_lock(&r->lock);
    int last = --x->refs == 0;
    pthread_mutex_unlock(&r->lock);
    if (!last)
        return;
    pal_strlist_free(x->paths, x->np);
    pal_strlist_free(x->exts, x->ne);
    pal_strlist_free(x->procs, x->nproc);
    free(x);
}

static excl_snap *excl_get(pal_rtp *r)
{
    pthread_mutex_lock(&r->lock);
    excl_snap *x = r->excl;
    if (x)
        x->refs++;
    pthread_mutex_unlock(&r->lock);
    return x;
}

static int excluded_path(const excl_snap *x, const char *path)
{
    if (!x || (!x->np && !x->ne))
        return 0;
    pal_walk_options o = {.exclude_paths = (const char *const *)x->paths,
                          .n_exclude_paths = x->np,
                          .exclude_exts = (const char *const *)x->exts,
                          .n_exclude_exts = x->ne};
    pal_skip_reason why;
    return pal_walk_is_excluded(&o, path, strlen(path), 0, &why);
}

static int proc_excluded(const excl_snap *x, const pal_rtp_proc *p, int pidfd)
{
    return x && pal_rtp_proc_excluded(p, pidfd, x->procs, x->nproc);
}

/* As an on-demand scan decides (scanjob.h); a store that cannot answer fails towards
   protection. */
static pal_det_action decide(pal_rtp *r, const pal_finding *f, const pal_report *rep)
{
    pal_det_action a;
    if (pal_scan_decide_action(r->env.store, r->env.settings, f, rep, &a) != 0)
        return PAL_DET_ACTION_QUARANTINE;
    return a;
}

/* Record the findings with the process, deny (when e is an open), then remediate. Returns 1
   when a finding not on the allowed list was there. */
static int handle_findings(pal_rtp *r, ev *e, char *path, const struct stat *st,
                           const pal_report *rep, uint64_t sigver, pal_rtp_proc *p, int64_t dt)
{
    size_t n = rep->n_findings;
    int64_t *ids = calloc(n, sizeof(*ids));
    pal_det_action *acts = calloc(n, sizeof(*acts));
    int threat = 0;
    for (size_t i = 0; i < n; i++) {
        acts ? acts[i] = decide(r, &rep->findings[i], rep) : 0;
        if (!acts || acts[i] != PAL_DET_ACTION_ALLOW)
            threat = 1;
    }
    /* the opener waits: it gets its answer before anything is written down */
    if (e->perm) {
        rtp_answer(r, e, !threat);
        if (threat)
            atomic_fetch_add(&r->c.blocked, 1);
    }
    pal_rtp_pstats_add(r->pstats, p, 1, dt, threat && e->perm);
    if (!ids || !acts) {
        free(ids);
        free(acts);
        rtp_log(r, LOG_ERR, "real-time protection: out of memory recording a threat in %s", path);
        return threat;
    }
    pal_action file_action = PAL_ACTION_NOACTION;
    size_t first = n;
    const char *how = e->mask & FAN_OPEN_EXEC_PERM ? "executing" : e->perm ? "opening" : "writing";
    for (size_t i = 0; i < n; i++) {
        const pal_finding *f = &rep->findings[i];
        pal_detection d = {0};
        d.threat_name = f->threat;
        d.severity = f->severity;
        d.category = f->category;
        d.path = path;
        d.chain = f->chain;
        pal_store_sha256_hex(f->sha256, d.sha256);
        d.size = f->size;
        d.source = PAL_DET_REAL_TIME;
        d.matched_by = f->matched_by;
        d.sig_version = sigver;
        d.action = acts[i];
        /* a process that could not be told for sure is not named (its pid may be reused) */
        d.process_pid = p->known ? p->pid : 0;
        d.process_uid = (uint32_t)p->uid;
        d.process_exe = p->known ? p->exe : NULL;
        pal_errbuf err;
        if (pal_store_detection_insert(r->env.store, &d, &ids[i], &err) != 0) {
            rtp_log(r, LOG_ERR, "real-time protection: cannot record %s in %s: %s", f->threat, path,
                    err.msg);
            ids[i] = 0;
            continue; /* never act on what could not be recorded */
        }
        atomic_fetch_add(&r->c.detections, 1);
        rtp_log(r, LOG_WARNING,
                "real-time protection: threat %s in %s, found when %s it (pid %ld, "
                "uid %ld, %s)%s",
                f->threat, path, how, (long)p->pid, p->known ? (long)p->uid : -1L,
                p->known ? p->exe : "executable unknown",
                e->perm && acts[i] != PAL_DET_ACTION_ALLOW ? "; access denied" : "");
        if ((acts[i] == PAL_DET_ACTION_QUARANTINE || acts[i] == PAL_DET_ACTION_REMOVE) &&
            pal_scan_action_rank((pal_action)acts[i]) > pal_scan_action_rank(file_action)) {
            file_action = (pal_action)acts[i];
            if (first == n)
                first = i;
        }
    }
    int act_rc = 0;
    char *detail = NULL;
    if (file_action != PAL_ACTION_NOACTION) {
        pal_remediator rem = r->env.remediator(r->env.ctx);
        if (!rem.fn) {
            act_rc = PAL_ESTATE;
            detail = strdup("remediation is not available in this agent");
        } else {
            pal_remediation_req rq = {
                .path = path,
                .path_len = strlen(path),
                .scanned = st,
                .action = file_action,
                .detection_id = ids[first],
                .threat = rep->findings[first].threat,
                .sha256 = rep->sha256_valid ? rep->sha256 : NULL,
            };
            act_rc = rem.fn(rem.ctx, &rq, &detail);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!ids[i])
            continue;
        pal_det_action rec = acts[i];
        pal_det_result res = PAL_DET_SUCCESS;
        if (acts[i] != PAL_DET_ACTION_ALLOW && acts[i] != PAL_DET_ACTION_NOACTION) {
            rec = (pal_det_action)file_action;
            res = act_rc == 0 ? PAL_DET_SUCCESS : PAL_DET_FAILED;
        }
        pal_store_detection_set_action(r->env.store, ids[i], rec, res, detail, 0, NULL);
        const pal_finding *f = &rep->findings[i];
        char sha[65];
        pal_store_sha256_hex(f->sha256, sha);
        pal_event_emit(&(pal_event){.kind = PAL_EV_DETECTION,
                                    .origin = pal_det_source_name(PAL_DET_REAL_TIME),
                                    .threat = f->threat,
                                    .severity = pal_severity_name(f->severity),
                                    .category = f->category,
                                    .path = path,
                                    .object = f->chain,
                                    .action = pal_det_action_name(rec),
                                    .result = pal_det_result_name(res),
                                    .detail = detail,
                                    .sha256 = sha,
                                    .detection_id = ids[i],
                                    .pid = p->known ? p->pid : 0,
                                    .exe = p->known ? p->exe : NULL,
                                    .has_uid = p->known,
                                    .uid = (uint32_t)p->uid,
                                    .signature_version = sigver});
    }
    free(detail);
    free(ids);
    free(acts);
    return threat;
}

static void handle(pal_rtp *r, ev *e, const excl_snap *x)
{
    int64_t t0 = mono_ns();
    int allow_unchecked = 0; /* set: answer by policy (could not be checked) */
    struct stat st;
    pal_rtp_proc p;
    memset(&p, 0, sizeof(p));
    p.pid = e->pid;
    if (fstat(e->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rtp_answer(r, e, 1); /* a directory, device or socket: no content to check */
        return;
    }
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", e->fd);
    ssize_t pl = readlink(link, path, sizeof(path) - 1);
    if (pl <= 0) {
        rtp_answer(r, e, 1);
        return;
    }
    path[pl] = '\0';
    if (excluded_path(x, path)) {
        rtp_answer(r, e, 1);
        return;
    }
    if (e->writer_exe) {
        p.known = 1;
        p.uid = e->writer_uid;
        snprintf(p.exe, sizeof(p.exe), "%s", e->writer_exe);
    } else if (e->perm) {
        pal_rtp_proc_identify(&p, e->pid, e->pidfd); /* the opener waits: it is alive */
    }
    if (proc_excluded(x, &p, e->pidfd)) {
        rtp_answer(r, e, 1);
        return;
    }
    /* read before the package is taken: a package installed after this read bumps it */
    pthread_mutex_lock(&r->lock);
    uint64_t defs_gen = r->defs_gen;
    pthread_mutex_unlock(&r->lock);
    pal_defs *defs = r->env.get_defs(r->env.ctx);
    if (!defs) {
        allow_unchecked = 1;
        goto unchecked;
    }
    uint64_t sigver = pal_defs_info(defs)->version;
    int cache = 1;
    pal_settings_get_bool(r->env.settings, "ScanCacheEnabled", &cache);
    pal_cache_key key;
    pal_cachetrust_key(&st, &key);
    if (cache) {
        int hit = 0;
        if (pal_store_cache_lookup(r->env.store, &key, sigver, &hit, NULL) == 0 && hit) {
            atomic_fetch_add(&r->c.cache_hits, 1);
            if (e->perm) {
                uint64_t akey = pal_rtp_attr_key(e->fd);
                pthread_mutex_lock(&r->lock);
                int marked = !e->answered && r->defs_gen == defs_gen;
                if (marked)
                    ignore_mark(r, e, akey, (uint64_t)st.st_dev);
                rtp_ev_answer(r, e, 1);
                pthread_mutex_unlock(&r->lock);
                if (marked)
                    ignore_mark_recheck(r, e, &st);
            }
            pal_rtp_pstats_add(r->pstats, &p, 0, 0, 0);
            pal_defs_unref(defs);
            return;
        }
    }
    int may_cache = cache && pal_cachetrust_ok(pal_cachetrust_before_read(&r->trust, e->fd, &st));
    void *hold = NULL;
    pal_slots *slots = r->env.slots_begin(r->env.ctx, &hold);
    pal_slot *slot = NULL;
    /* an open gives up at its deadline (answered then), a written file when stopping */
    const volatile int *cancel = e->perm ? &e->cancel : &r->stop_cancel;
    if (slots)
        slot = e->perm ? pal_slots_acquire_prio(slots, cancel, e->deadline_ns)
                       : pal_slots_acquire(slots, cancel);
    if (!slot) {
        if (slots)
            r->env.slots_end(r->env.ctx, hold);
        pal_defs_unref(defs);
        allow_unchecked = 1;
        goto unchecked;
    }
    pal_fdsource fs;
    pal_source src;
    pal_fdsource_init(&fs, e->fd, (uint64_t)st.st_size, &src);
    pal_report rep;
    int rc = pal_slot_scan(slot, defs, &src, path, cancel, &rep);
    pal_slots_release(slots, slot);
    r->env.slots_end(r->env.ctx, hold);
    atomic_fetch_add(&r->c.scans, 1);
    int64_t dt = mono_ns() - t0;
    if (rc != 0) {
        /* the content process could not answer: no parsing in its place */
        pal_defs_unref(defs);
        pal_rtp_pstats_add(r->pstats, &p, 1, dt, 0);
        allow_unchecked = 1;
        goto unchecked;
    }
    int threat = 0;
    if (rep.n_findings > 0)
        threat = handle_findings(r, e, path, &st, &rep, sigver, &p, dt);
    else
        pal_rtp_pstats_add(r->pstats, &p, 1, dt, 0);
    if (!threat && rep.reason == PAL_UNSCANNABLE_CANCELLED) {
        /* past its deadline: already answered by policy */
    } else if (!threat) {
        int clean = rep.verdict == PAL_VERDICT_CLEAN;
        struct stat now;
        int cacheable = may_cache && clean && fstat(e->fd, &now) == 0 &&
                        pal_cachetrust_same_identity(&now, &st);
        if (cacheable)
            pal_cachebatch_add(&r->cache, &key, sigver);
        uint64_t akey = cacheable && e->perm ? pal_rtp_attr_key(e->fd) : 0;
        pthread_mutex_lock(&r->lock);
        /* not when a package came after this scan's: its verdict must not stand for it */
        int marked = cacheable && e->perm && !e->answered && r->defs_gen == defs_gen;
        if (marked)
            ignore_mark(r, e, akey, (uint64_t)st.st_dev);
        /* unscannable by the engine's limits (too big, too deep): allowed, as an on-demand
           scan reports it and moves on; a threat found is never in this branch */
        rtp_ev_answer(r, e, 1);
        pthread_mutex_unlock(&r->lock);
        if (marked)
            ignore_mark_recheck(r, e, &st);
    }
    pal_report_free(&rep);
    pal_defs_unref(defs);
    return;
unchecked:
    if (allow_unchecked && e->perm) {
        pthread_mutex_lock(&r->lock);
        int allow = !r->deny_on_timeout;
        int did = rtp_ev_answer(r, e, allow);
        pthread_mutex_unlock(&r->lock);
        if (did)
            rtp_note_overload(r,
                              "an open could not be checked (no signatures, no slot or the "
                              "content process failed) and was answered by "
                              "RealTimeTimeoutAction",
                              allow ? "Allow" : "Deny");
    }
}

void *rtp_worker_main(void *arg)
{
    pal_rtp *r = arg;
    for (;;) {
        ev *e = pop(r, 0);
        if (!e) {
            pal_cachebatch_flush(&r->cache); /* idle (or stopping): nothing waits behind it */
            if (!(e = pop(r, 1)))
                break;
        }
        int skip;
        pthread_mutex_lock(&r->lock);
        skip = e->perm && e->answered; /* its deadline passed while it was queued */
        pthread_mutex_unlock(&r->lock);
        if (!skip) {
            excl_snap *x = excl_get(r);
            handle(r, e, x);
            rtp_excl_unref(r, x);
        }
        done(r, e);
    }
    return NULL;
}
