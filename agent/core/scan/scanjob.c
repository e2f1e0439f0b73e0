/*
 * scanjob.c — one on-demand scan: walker → bounded queue → one worker per slot (see
 * scanjob.h). The queue is what keeps the walker at most a few files ahead of the scanners,
 * so a scan of a huge tree holds a bounded number of open fds.
 */
#define _GNU_SOURCE
#include "scanjob.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cachebatch.h"
#include "cachetrust.h"
#include "events.h"
#include "fdsource.h"
#include "scanpaths.h"
#include "scanroot.h"
#include "throttle.h"
#include "walker.h"

/* Enough queued for each worker to take a full batch of small files (pop_many); every
   queued item holds an open descriptor, hence the cap (the old 4 per worker at 64 slots) */
#define QUEUE_PER_WORKER (2 * PAL_SLOT_BATCH_MAX)
#define QUEUE_MAX 256
/* The walker, finding the queue full, sleeps until it is down to this share (1/REFILL_DIV)
   and then refills it in one go: one wake-up per few files instead of one per file
   (bench/RESULTS.md, issue 13: a futex wake-up and a context switch per file). */
#define QUEUE_REFILL_DIV 2
#define PROGRESS_INTERVAL_MS 200
/* Clean verdicts are written to the scan cache in batches of this many, one transaction each
   (a commit per file cost a first scan about 70 us per file: bench/RESULTS.md, issue 13), or
   once the oldest waited this long, and at the end of the scan. Delaying them is safe: an
   entry is the file's identity and stamps as they were before it was read, checked unchanged
   after the scan, so a later change of the file can only make it miss. */

typedef struct work_item {
    int fd;
    char *path;
    size_t path_len;
    struct stat st;
} work_item;

typedef struct job {
    const pal_scanjob_env *env;
    const pal_scanjob_req *req;
    int64_t scan_id;
    int cache_enabled;
    pal_cachetrust trust; /* writeback sysctls as the scan started */

    pthread_mutex_t lock; /* protects everything below */
    pthread_cond_t not_empty, not_full;
    work_item *queue;
    size_t q_cap, q_head, q_len;
    int walker_waiting; /* the walker sleeps on not_full until q_len <= q_cap / REFILL_DIV */
    int walking_done;
    int fatal; /* a store failure: stop and fail the scan */
    char fatal_msg[256];

    uint64_t files_found;
    uint64_t root_errors; /* all of them, listed or not: judged by fully_examined */
    /* counts, stats and the bounded lists: root_errors are roots that could not be scanned
       at all, resolved_roots the named symlink roots and the targets walked */
    pal_scan_result res;
    int64_t last_progress_ms;
    char *current; /* the file a worker took last (for the ticker) */
    size_t current_len;
    int finished; /* the ticker stops */
    pthread_cond_t tick;

    pthread_mutex_t progress_lock; /* serialises on_progress calls */
    pal_throttle throttle;         /* req->cpu_load_percent; its own lock */

    pal_cachebatch cache; /* clean verdicts on their way to the store */
} job;

/* Wall-clock ms: the times the store records and the result carries. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int job_cancelled(const job *j)
{
    return j->req->cancel && *j->req->cancel;
}

static void job_fail(job *j, const char *msg)
{
    pthread_mutex_lock(&j->lock);
    if (!j->fatal) {
        j->fatal = 1;
        snprintf(j->fatal_msg, sizeof(j->fatal_msg), "%s", msg);
    }
    pthread_cond_broadcast(&j->not_full);
    pthread_cond_broadcast(&j->not_empty);
    pthread_mutex_unlock(&j->lock);
}

static void maybe_progress(job *j, const char *path, size_t path_len, int force)
{
    if (!j->req->on_progress)
        return;
    int64_t now = now_ms();
    pal_scan_progress p;
    pthread_mutex_lock(&j->lock);
    if (!force && now - j->last_progress_ms < PROGRESS_INTERVAL_MS) {
        pthread_mutex_unlock(&j->lock);
        return;
    }
    j->last_progress_ms = now;
    p.files_done = j->res.files_scanned;
    p.bytes_done = j->res.bytes_scanned;
    p.files_found = j->files_found;
    p.threats = j->res.threats_found;
    p.unscannable = j->res.unscannable_count;
    pthread_mutex_unlock(&j->lock);
    p.current_path = path;
    p.current_path_len = path_len;
    pthread_mutex_lock(&j->progress_lock);
    j->req->on_progress(j->req->progress_ctx, &p);
    pthread_mutex_unlock(&j->progress_lock);
}

/* ---- the walker side ------------------------------------------------------------------ */

static int on_file(void *ctx, const pal_walk_file *f)
{
    job *j = ctx;
    char *copy = malloc(f->path_len + 1);
    if (!copy) {
        close(f->fd);
        return PAL_ENOMEM;
    }
    memcpy(copy, f->path, f->path_len + 1);

    pthread_mutex_lock(&j->lock);
    if (j->q_len == j->q_cap) {
        j->walker_waiting = 1;
        while (j->q_len > j->q_cap / QUEUE_REFILL_DIV && !j->fatal && !job_cancelled(j)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&j->not_full, &j->lock, &ts);
        }
        j->walker_waiting = 0;
    }
    if (j->fatal || job_cancelled(j)) {
        pthread_mutex_unlock(&j->lock);
        close(f->fd);
        free(copy);
        return PAL_ECANCELLED;
    }
    work_item *it = &j->queue[(j->q_head + j->q_len) % j->q_cap];
    it->fd = f->fd;
    it->path = copy;
    it->path_len = f->path_len;
    it->st = *f->st;
    j->q_len++;
    j->files_found++;
    pthread_cond_signal(&j->not_empty);
    pthread_mutex_unlock(&j->lock);
    maybe_progress(j, f->path, f->path_len, 0);
    return 0;
}

static void on_skip(void *ctx, const char *path, size_t path_len, pal_skip_reason r, int errnum)
{
    (void)path;
    (void)path_len;
    (void)errnum;
    job *j = ctx;
    pthread_mutex_lock(&j->lock);
    j->res.skipped[r]++;
    pthread_mutex_unlock(&j->lock);
}

/* Append one entry to a bounded list (called with j->lock held). 0, or PAL_ENOMEM. */
static int list_grow(void **items, size_t *n, size_t size)
{
    if (*n >= PAL_SCAN_RESULT_LIST_MAX)
        return PAL_ELIMIT;
    void *p = realloc(*items, (*n + 1) * size);
    if (!p)
        return PAL_ENOMEM;
    *items = p;
    memset((char *)p + *n * size, 0, size);
    (*n)++;
    return 0;
}

static void add_root_error(job *j, const char *path, size_t path_len, pal_skip_reason r, int errnum)
{
    char *copy = strndup(path, path_len);
    pthread_mutex_lock(&j->lock);
    j->root_errors++; /* counted even when it cannot be listed */
    if (copy && list_grow((void **)&j->res.root_errors, &j->res.n_root_errors,
                          sizeof(*j->res.root_errors)) == 0) {
        pal_scan_root_error *e = &j->res.root_errors[j->res.n_root_errors - 1];
        e->path = copy;
        e->reason = r;
        e->errnum = errnum;
        copy = NULL;
    }
    pthread_mutex_unlock(&j->lock);
    free(copy);
}

/* The root vanished or became unreadable between its resolution and the walk. */
static void on_root_error(void *ctx, const char *path, size_t path_len, pal_skip_reason r,
                          int errnum)
{
    add_root_error(ctx, path, path_len, r, errnum);
}

/* ---- the worker side ------------------------------------------------------------------ */

/* Whether it, already in a batch of n items of total bytes, may join it. */
static int joins_batch(const work_item *it, size_t n, uint64_t total)
{
    uint64_t size = (uint64_t)it->st.st_size;
    return n < PAL_SLOT_BATCH_MAX && size <= PAL_SLOT_BATCH_OBJ_MAX &&
           total + size <= PAL_SLOT_BATCH_BYTES;
}

/*
 * The next item, and with it, when it is small, the small ones queued right behind it (at
 * most max, at most half of what is queued so that the other workers get their share): one
 * lock for all, one hand-off of the slot for all (scan_items). A large item goes alone.
 */
static size_t pop_many(job *j, work_item *out, size_t max)
{
    pthread_mutex_lock(&j->lock);
    while (j->q_len == 0 && !j->walking_done && !j->fatal)
        pthread_cond_wait(&j->not_empty, &j->lock);
    if (j->q_len == 0 || j->fatal) {
        pthread_mutex_unlock(&j->lock);
        return 0;
    }
    size_t share = (j->q_len + 1) / 2;
    if (max > share)
        max = share;
    size_t n = 0;
    uint64_t total = 0;
    while (n < max && j->q_len > 0) {
        const work_item *it = &j->queue[j->q_head];
        if (n > 0 && !joins_batch(it, n, total))
            break;
        out[n] = *it;
        total += (uint64_t)it->st.st_size;
        n++;
        j->q_head = (j->q_head + 1) % j->q_cap;
        j->q_len--;
        if (n == 1 && !joins_batch(&out[0], 0, 0))
            break; /* a large one goes alone */
    }
    char *cur = realloc(j->current, out[0].path_len + 1);
    if (cur) {
        memcpy(cur, out[0].path, out[0].path_len + 1);
        j->current = cur;
        j->current_len = out[0].path_len;
    }
    if (j->walker_waiting && j->q_len <= j->q_cap / QUEUE_REFILL_DIV)
        pthread_cond_signal(&j->not_full);
    pthread_mutex_unlock(&j->lock);
    return n;
}

int pal_scan_action_rank(pal_action a)
{
    switch (a) {
    case PAL_ACTION_REMOVE:
        return 3;
    case PAL_ACTION_QUARANTINE:
        return 2;
    default:
        return 1;
    }
}

int pal_scan_finding_allowed(pal_store *st, const pal_finding *f, const pal_report *rep,
                             int *allowed)
{
    char hex[65];
    pal_store_sha256_hex(f->sha256, hex);
    *allowed = 0;
    int rc = pal_store_allowed_check(st, f->threat, hex, allowed, NULL);
    if (rc == 0 && !*allowed && rep->sha256_valid) {
        pal_store_sha256_hex(rep->sha256, hex);
        rc = pal_store_allowed_check(st, NULL, hex, allowed, NULL);
    }
    return rc;
}

int pal_scan_decide_action(pal_store *st, pal_settings *settings, const pal_finding *f,
                           const pal_report *rep, pal_det_action *out)
{
    int allowed;
    int rc = pal_scan_finding_allowed(st, f, rep, &allowed);
    if (rc != 0)
        return rc;
    if (allowed) {
        *out = PAL_DET_ACTION_ALLOW;
        return 0;
    }
    pal_action a;
    rc = pal_store_threat_action_get(st, f->threat, &a, NULL);
    if (rc == PAL_ENOTFOUND) {
        /* the severity's default from the settings; an unknown severity or an unreadable
           setting fails towards protection */
        if (pal_settings_default_action(settings, f->severity, &a) != 0)
            a = PAL_ACTION_QUARANTINE;
        rc = 0;
    }
    if (rc != 0)
        return rc;
    *out = (pal_det_action)a;
    return 0;
}

static void add_unscannable(job *j, const char *chain, const char *reason, const char *detail)
{
    char *path = strdup(chain);
    char *det = detail ? strdup(detail) : NULL;
    pthread_mutex_lock(&j->lock);
    j->res.unscannable_count++;
    if (path && (!detail || det) &&
        list_grow((void **)&j->res.unscannable, &j->res.n_unscannable,
                  sizeof(*j->res.unscannable)) == 0) {
        pal_scan_unscannable *u = &j->res.unscannable[j->res.n_unscannable - 1];
        u->path = path;
        u->reason = reason;
        u->detail = det;
        path = det = NULL;
    }
    pthread_mutex_unlock(&j->lock);
    free(path);
    free(det);
}

/* The list entry for one finding, or 0 fields when out of memory (the counts still hold). */
static int threat_entry(pal_scan_threat *t, int64_t id, const pal_finding *f, pal_det_action action,
                        pal_det_result res, const char *detail)
{
    t->detection_id = id;
    t->path = strdup(f->chain);
    t->threat = strdup(f->threat);
    t->severity = f->severity;
    t->category = strdup(f->category ? f->category : "");
    t->action = action;
    t->result = res;
    t->action_detail = detail ? strdup(detail) : NULL;
    pal_store_sha256_hex(f->sha256, t->sha256);
    return t->path && t->threat && t->category && (!detail || t->action_detail) ? 0 : PAL_ENOMEM;
}

static void threat_entry_clear(pal_scan_threat *t)
{
    free(t->path);
    free(t->threat);
    free(t->category);
    free(t->action_detail);
    memset(t, 0, sizeof(*t));
}

/* Record every finding, then act once on the file with the strongest action asked for. */
static void handle_findings(job *j, const work_item *it, const pal_report *rep, uint64_t sigver)
{
    size_t n = rep->n_findings;
    int64_t *ids = calloc(n, sizeof(*ids));
    pal_det_action *acts = calloc(n, sizeof(*acts));
    if (!ids || !acts) {
        free(ids);
        free(acts);
        job_fail(j, "out of memory recording detections");
        return;
    }
    pal_action file_action = PAL_ACTION_NOACTION;
    size_t first_acting = n;
    pal_errbuf err;
    for (size_t i = 0; i < n; i++) {
        const pal_finding *f = &rep->findings[i];
        if (pal_scan_decide_action(j->env->store, j->env->settings, f, rep, &acts[i]) != 0) {
            acts[i] = PAL_DET_ACTION_QUARANTINE; /* fail towards protection */
        }
        pal_detection d = {0};
        d.scan_id = j->scan_id;
        d.threat_name = f->threat;
        d.severity = f->severity;
        d.category = f->category;
        d.path = it->path;
        d.chain = f->chain;
        pal_store_sha256_hex(f->sha256, d.sha256);
        d.size = f->size;
        d.source = PAL_DET_ON_DEMAND;
        d.matched_by = f->matched_by;
        d.sig_version = sigver;
        d.action = acts[i];
        if (pal_store_detection_insert(j->env->store, &d, &ids[i], &err) != 0) {
            /* never act on what could not be recorded */
            job_fail(j, err.msg);
            free(ids);
            free(acts);
            return;
        }
        if ((acts[i] == PAL_DET_ACTION_QUARANTINE || acts[i] == PAL_DET_ACTION_REMOVE) &&
            pal_scan_action_rank((pal_action)acts[i]) > pal_scan_action_rank(file_action)) {
            file_action = (pal_action)acts[i];
            if (first_acting == n)
                first_acting = i;
        }
    }

    int act_rc = 0;
    char *detail = NULL;
    if (file_action != PAL_ACTION_NOACTION) {
        if (!j->env->remediate.fn) {
            act_rc = PAL_ESTATE;
            detail = strdup("remediation is not available in this agent");
        } else {
            pal_remediation_req rq = {
                .path = it->path,
                .path_len = it->path_len,
                .scanned = &it->st,
                .action = file_action,
                .detection_id = ids[first_acting],
                .threat = rep->findings[first_acting].threat,
                .sha256 = rep->sha256_valid ? rep->sha256 : NULL,
            };
            act_rc = j->env->remediate.fn(j->env->remediate.ctx, &rq, &detail);
        }
    }

    for (size_t i = 0; i < n; i++) {
        const pal_finding *f = &rep->findings[i];
        pal_det_result res;
        pal_det_action recorded = acts[i];
        if (acts[i] == PAL_DET_ACTION_ALLOW || acts[i] == PAL_DET_ACTION_NOACTION) {
            res = PAL_DET_SUCCESS;
        } else {
            /* the file got the strongest action any of its findings asked for */
            recorded = (pal_det_action)file_action;
            res = act_rc == 0 ? PAL_DET_SUCCESS : PAL_DET_FAILED;
        }
        pal_store_detection_set_action(j->env->store, ids[i], recorded, res, detail, 0, NULL);

        pal_scan_threat t = {0};
        int have = threat_entry(&t, ids[i], f, recorded, res, detail) == 0;
        pal_event_emit(&(pal_event){.kind = PAL_EV_DETECTION,
                                    .origin = pal_det_source_name(PAL_DET_ON_DEMAND),
                                    .threat = f->threat,
                                    .severity = pal_severity_name(f->severity),
                                    .category = f->category,
                                    .path = it->path,
                                    .path_len = it->path_len,
                                    .object = f->chain,
                                    .action = pal_det_action_name(recorded),
                                    .result = pal_det_result_name(res),
                                    .detail = detail,
                                    .sha256 = t.sha256,
                                    .scan_id = j->scan_id,
                                    .detection_id = ids[i],
                                    .has_uid = 1,
                                    .uid = j->req->uid,
                                    .signature_version = sigver});
        pthread_mutex_lock(&j->lock);
        /* an allowed finding is listed (the administrator sees it was there) but is not a
           threat: it counts neither in threats_found nor in the exit status */
        if (acts[i] == PAL_DET_ACTION_ALLOW)
            j->res.allowed_count++;
        else
            j->res.threats_found++;
        if (res == PAL_DET_FAILED)
            j->res.unremediated_count++;
        if (have &&
            list_grow((void **)&j->res.threats, &j->res.n_threats, sizeof(*j->res.threats)) == 0) {
            j->res.threats[j->res.n_threats - 1] = t;
            memset(&t, 0, sizeof(t));
        }
        pthread_mutex_unlock(&j->lock);
        threat_entry_clear(&t);
    }
    free(detail);
    free(ids);
    free(acts);
}

/* An item's part before the read: the cache, and whether a clean verdict may enter it. */
typedef struct item_prep {
    pal_cache_key key;
    int may_cache;
} item_prep;

/* 1 when the item is answered from the cache (counted), 0 when it is to be scanned. */
static int before_scan(job *j, const work_item *it, uint64_t sigver, item_prep *p)
{
    pal_cachetrust_key(&it->st, &p->key);
    if (j->cache_enabled) {
        int hit = 0;
        if (pal_store_cache_lookup(j->env->store, &p->key, sigver, &hit, NULL) == 0 && hit) {
            pthread_mutex_lock(&j->lock);
            j->res.files_scanned++;
            j->res.bytes_scanned += (uint64_t)it->st.st_size;
            j->res.stats.cache_hits++;
            pthread_mutex_unlock(&j->lock);
            return 1;
        }
    }
    /* decided, and the file's pages made clean, before a byte is read (cachetrust.h) */
    p->may_cache = j->cache_enabled &&
                   pal_cachetrust_ok(pal_cachetrust_before_read(&j->trust, it->fd, &it->st));
    return 0;
}

/* An item's part after the scan that returned rc with rep (freed here). */
static void after_scan(job *j, const work_item *it, uint64_t sigver, const item_prep *p, int rc,
                       pal_report *rep)
{
    if (rc != 0) {
        add_unscannable(j, it->path, "engine-error", pal_strerror(rc));
        return;
    }
    if (rep->reason == PAL_UNSCANNABLE_CANCELLED) {
        pal_report_free(rep);
        return;
    }

    pthread_mutex_lock(&j->lock);
    j->res.files_scanned++;
    j->res.bytes_scanned += (uint64_t)it->st.st_size;
    pthread_mutex_unlock(&j->lock);

    if (rep->n_findings > 0)
        handle_findings(j, it, rep, sigver);
    if (rep->reason != PAL_UNSCANNABLE_NONE)
        add_unscannable(j, rep->reason_chain ? rep->reason_chain : it->path,
                        pal_unscannable_name(rep->reason), rep->reason_detail);

    if (p->may_cache && rep->verdict == PAL_VERDICT_CLEAN) {
        /* only what was examined as it still is may be trusted next time */
        struct stat now;
        if (fstat(it->fd, &now) == 0 && pal_cachetrust_same_identity(&now, &it->st))
            pal_cachebatch_add(&j->cache, &p->key, sigver);
    }
    pal_report_free(rep);
}

/*
 * The items pop_many gave (one file of any size, or several small enough for one batch):
 * each item's cache lookup and trust decision, then one slot and one hand-off for those
 * left to scan (for several, in the sandbox one round trip for all: slots.h,
 * pal_slot_scan_many), then each item's result.
 */
static void scan_items(job *j, const work_item *its, size_t n, int64_t *slot_wall_ns)
{
    const pal_scanjob_env *env = j->env;
    pal_defs *defs = env->get_defs(env->defs_ctx);
    if (!defs) {
        for (size_t i = 0; i < n; i++)
            add_unscannable(j, its[i].path, "engine-error", "no signature package is loaded");
        return;
    }
    uint64_t sigver = pal_defs_info(defs)->version;
    item_prep p[PAL_SLOT_BATCH_MAX];
    size_t left[PAL_SLOT_BATCH_MAX], m = 0; /* the items still to scan */
    for (size_t i = 0; i < n; i++)
        if (!before_scan(j, &its[i], sigver, &p[i]))
            left[m++] = i;
    if (m == 0) {
        pal_defs_unref(defs);
        return;
    }
    pal_slot *slot = pal_slots_acquire(env->slots, j->req->cancel);
    if (!slot) {
        pal_defs_unref(defs);
        return; /* cancelled while waiting: not counted as scanned */
    }
    pal_fdsource fs[PAL_SLOT_BATCH_MAX];
    pal_source src[PAL_SLOT_BATCH_MAX];
    const char *names[PAL_SLOT_BATCH_MAX];
    pal_report rep[PAL_SLOT_BATCH_MAX];
    int rcs[PAL_SLOT_BATCH_MAX];
    for (size_t k = 0; k < m; k++) {
        const work_item *it = &its[left[k]];
        pal_fdsource_init(&fs[k], it->fd, (uint64_t)it->st.st_size, &src[k]);
        names[k] = it->path;
    }
    int64_t slot_start = pal_throttle_now_ns();
    int rc = m == 1 ? PAL_EINVAL /* alone, of any size */
                    : pal_slot_scan_many(slot, defs, m, src, names, j->req->cancel, rep, rcs);
    if (rc !=
        0) /* one file, or (not reached: pop_many keeps to the batch's bounds) one at a time */
        for (size_t k = 0; k < m; k++)
            rcs[k] = pal_slot_scan(slot, defs, &src[k], names[k], j->req->cancel, &rep[k]);
    pal_slots_release(env->slots, slot);
    *slot_wall_ns = pal_throttle_now_ns() - slot_start;

    uint64_t bytes_read = 0;
    for (size_t k = 0; k < m; k++)
        bytes_read += fs[k].bytes_read;
    pthread_mutex_lock(&j->lock);
    j->res.stats.bytes_read += bytes_read;
    pthread_mutex_unlock(&j->lock);

    for (size_t k = 0; k < m; k++)
        after_scan(j, &its[left[k]], sigver, &p[left[k]], rcs[k], &rep[k]);
    pal_defs_unref(defs);
}

static void *worker_main(void *arg)
{
    job *j = arg;
    work_item its[PAL_SLOT_BATCH_MAX];
    size_t n;
    /* Batch work (SCHED_BATCH: the same share of the CPU, but never preempting on wake-up).
       A scan runs in the background of whoever uses the machine; and with the sandbox, a
       worker woken by each of the content process's answers would preempt it between them
       (about 1.6 context switches per small file; 0.2 as batch work). Real-time workers
       (agent/core/rtp) stay ordinary: someone waits for them. Failure changes nothing. */
    struct sched_param sp = {.sched_priority = 0};
    (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    while ((n = pop_many(j, its, PAL_SLOT_BATCH_MAX)) > 0) {
        if (!job_cancelled(j)) {
            pal_throttle_mark mark;
            int64_t slot_wall_ns = 0;
            pal_throttle_begin(&mark);
            scan_items(j, its, n, &slot_wall_ns);
            pal_throttle_charge(&j->throttle, &mark, slot_wall_ns);
        }
        for (size_t i = 0; i < n; i++) {
            maybe_progress(j, its[i].path, its[i].path_len, 0);
            close(its[i].fd);
            free(its[i].path);
        }
        pal_throttle_pause(&j->throttle, j->req->cancel);
    }
    return NULL;
}

/* A file that takes long (a big archive) must not freeze the progress a client shows. */
static void *ticker_main(void *arg)
{
    job *j = arg;
    pthread_mutex_lock(&j->lock);
    while (!j->finished) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&j->tick, &j->lock, &ts);
        if (j->finished || !j->current)
            continue;
        char *path = strndup(j->current, j->current_len);
        size_t len = j->current_len;
        pthread_mutex_unlock(&j->lock);
        if (path)
            maybe_progress(j, path, len, 0);
        free(path);
        pthread_mutex_lock(&j->lock);
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

/* ---- the job -------------------------------------------------------------------------- */

static int load_strlist(pal_settings *s, const char *name, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return pal_settings_get_strlist(s, name, out, n);
}

static void free_strlist(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static void load_settings(job *j)
{
    int enabled = 1;
    if (pal_settings_get_bool(j->env->settings, "ScanCacheEnabled", &enabled) != 0)
        enabled = 1;
    j->cache_enabled = enabled;
    if (enabled)
        pal_cachetrust_init(&j->trust, NULL); /* once per scan, not per file */
}

/*
 * Whether everything the scan was asked to look at was examined: every root walked, every
 * file read to the end by the engine, nothing left out for being unreadable, too deep or an
 * error. Skips by policy (exclusions, symlinks, special files, file-system filter) and files
 * that vanished while walked are not gaps: there was nothing there to examine.
 */
static int fully_examined(const job *j)
{
    return j->root_errors == 0 && j->res.unscannable_count == 0 &&
           j->res.skipped[PAL_SKIP_UNREADABLE] == 0 && j->res.skipped[PAL_SKIP_TOO_DEEP] == 0 &&
           j->res.skipped[PAL_SKIP_ERROR] == 0;
}

/*
 * Each root of a Custom scan looked at once before the walk: a missing one is a root error, a
 * symlink is resolved to its target (noted in resolved_roots). *walk gets the roots to walk.
 * Quick and Full roots are the agent's own choice, not the administrator's: they are walked
 * as listed (a symlink among them, such as /bin on a merged-/usr system, is skipped, since
 * its target is a root of the same scan).
 */
static int resolve_roots(job *j, const pal_pathlist *named, pal_pathlist *walk)
{
    for (size_t i = 0; i < named->n; i++) {
        if (j->req->type != PAL_SCAN_CUSTOM) {
            int rc = pal_pathlist_add(walk, named->paths[i]);
            if (rc != 0)
                return rc;
            continue;
        }
        pal_scanroot r;
        int rc = pal_scanroot_resolve(named->paths[i], &r);
        if (rc != 0)
            return rc;
        if (!r.path) {
            add_root_error(j, named->paths[i], strlen(named->paths[i]), r.reason, r.errnum);
            continue;
        }
        if (r.resolved) {
            pal_scan_resolved_root rr = {strdup(named->paths[i]), strdup(r.path)};
            void *grown =
                realloc(j->res.resolved_roots, (j->res.n_resolved_roots + 1) * sizeof(rr));
            if (!rr.path || !rr.resolved || !grown) {
                free(rr.path);
                free(rr.resolved);
                if (grown)
                    j->res.resolved_roots = grown;
                pal_scanroot_free(&r);
                return PAL_ENOMEM;
            }
            j->res.resolved_roots = grown;
            j->res.resolved_roots[j->res.n_resolved_roots++] = rr;
        }
        rc = pal_pathlist_add(walk, r.path);
        pal_scanroot_free(&r);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void pal_scan_result_clear(pal_scan_result *r)
{
    if (!r)
        return;
    free(r->error);
    for (size_t i = 0; i < r->n_threats; i++)
        threat_entry_clear(&r->threats[i]);
    free(r->threats);
    for (size_t i = 0; i < r->n_unscannable; i++) {
        free(r->unscannable[i].path);
        free(r->unscannable[i].detail);
    }
    free(r->unscannable);
    for (size_t i = 0; i < r->n_root_errors; i++)
        free(r->root_errors[i].path);
    free(r->root_errors);
    for (size_t i = 0; i < r->n_resolved_roots; i++) {
        free(r->resolved_roots[i].path);
        free(r->resolved_roots[i].resolved);
    }
    free(r->resolved_roots);
    memset(r, 0, sizeof(*r));
}

int pal_scanjob_run(const pal_scanjob_env *env, const pal_scanjob_req *req, pal_scan_result *result,
                    pal_errbuf *err)
{
    memset(result, 0, sizeof(*result));
    pal_pathlist roots = {0}, walk_roots = {0};
    int rc = 0;

    if (req->type == PAL_SCAN_CUSTOM) {
        if (req->n_paths == 0)
            return pal_err_set(err, PAL_EINVAL, "a Custom scan needs at least one path");
        for (size_t i = 0; i < req->n_paths; i++) {
            if (req->paths[i][0] != '/') {
                pal_pathlist_free(&roots);
                return pal_err_set(err, PAL_EINVAL, "scan paths must be absolute (got %s)",
                                   req->paths[i]);
            }
            if ((rc = pal_pathlist_add(&roots, req->paths[i])) != 0) {
                pal_pathlist_free(&roots);
                return pal_err_set(err, rc, "out of memory");
            }
        }
    } else if (req->type == PAL_SCAN_QUICK) {
        rc = pal_quick_scan_paths(&roots);
    } else if (req->type == PAL_SCAN_FULL) {
        rc = pal_full_scan_paths(&roots);
    } else {
        return pal_err_set(err, PAL_EINVAL, "unknown scan type");
    }
    if (rc != 0)
        return pal_err_set(err, rc, "cannot list the scan's roots: %s", pal_strerror(rc));

    pal_defs *probe = env->get_defs(env->defs_ctx);
    if (!probe) {
        pal_pathlist_free(&roots);
        return pal_err_set(err, PAL_ESTATE, "no signature package is loaded");
    }
    pal_defs_unref(probe);

    job j = {.env = env, .req = req};
    pthread_mutex_init(&j.lock, NULL);
    pal_cachebatch_init(&j.cache, env->store);
    pthread_mutex_init(&j.progress_lock, NULL);
    pthread_cond_init(&j.not_empty, NULL);
    pthread_cond_init(&j.not_full, NULL);
    pthread_cond_init(&j.tick, NULL);
    pal_throttle_init(&j.throttle, req->cpu_load_percent);
    pthread_t ticker;
    int ticker_started = 0;
    unsigned workers = pal_slots_count(env->slots);
    j.q_cap = (size_t)workers * QUEUE_PER_WORKER;
    if (j.q_cap > QUEUE_MAX)
        j.q_cap = QUEUE_MAX;
    j.queue = calloc(j.q_cap, sizeof(*j.queue));
    pthread_t *tids = calloc(workers, sizeof(*tids));
    char **excl_paths = NULL, **excl_exts = NULL;
    size_t n_excl_paths = 0, n_excl_exts = 0;
    unsigned started = 0;
    if (!j.queue || !tids) {
        rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto out;
    }
    load_settings(&j);
    if (load_strlist(env->settings, "ExclusionPath", &excl_paths, &n_excl_paths) != 0 ||
        load_strlist(env->settings, "ExclusionExtension", &excl_exts, &n_excl_exts) != 0) {
        rc = pal_err_set(err, PAL_ENOMEM, "cannot read the exclusion settings");
        goto out;
    }

    if ((rc = resolve_roots(&j, &roots, &walk_roots)) != 0) {
        rc = pal_err_set(err, rc, "cannot look at the scan's roots: %s", pal_strerror(rc));
        goto out;
    }
    /* the history records the roots actually walked: what a later scan's coverage of a
       path is judged by (pal_store_unremediated_count) */
    rc = pal_store_scan_begin(env->store, req->type, (const char *const *)walk_roots.paths,
                              walk_roots.n, 0, req->uid, &j.scan_id, err);
    if (rc != 0)
        goto out;
    if (req->on_started)
        req->on_started(req->progress_ctx, j.scan_id);
    pal_event_emit(&(pal_event){.kind = PAL_EV_SCAN_STARTED,
                                .scan_id = j.scan_id,
                                .scan_type = pal_scan_type_name(req->type),
                                .roots = (const char *const *)walk_roots.paths,
                                .n_roots = walk_roots.n,
                                .has_uid = 1,
                                .uid = req->uid});
    int64_t start_ms = now_ms();

    for (; started < workers; started++)
        if (pthread_create(&tids[started], NULL, worker_main, &j) != 0)
            break;
    if (started == 0) {
        job_fail(&j, "cannot start scan workers");
    }
    if (req->on_progress)
        ticker_started = pthread_create(&ticker, NULL, ticker_main, &j) == 0;

    pal_walk_options wopts = {
        .exclude_paths = (const char *const *)excl_paths,
        .n_exclude_paths = n_excl_paths,
        .exclude_exts = (const char *const *)excl_exts,
        .n_exclude_exts = n_excl_exts,
        .skip_pseudo_fs = req->type != PAL_SCAN_CUSTOM,
        .cancel = req->cancel,
    };
    /* only the roots an administrator named are errors when they cannot be walked */
    pal_walk_ops wops = {.on_file = on_file,
                         .on_skip = on_skip,
                         .on_root_error = req->type == PAL_SCAN_CUSTOM ? on_root_error : NULL,
                         .ctx = &j};
    for (size_t i = 0; i < walk_roots.n && !j.fatal && !job_cancelled(&j); i++) {
        int wrc = pal_walk(walk_roots.paths[i], &wopts, &wops);
        if (wrc == PAL_ENOMEM)
            job_fail(&j, "out of memory while walking");
    }

    pthread_mutex_lock(&j.lock);
    j.walking_done = 1;
    pthread_cond_broadcast(&j.not_empty);
    pthread_mutex_unlock(&j.lock);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    pal_cachebatch_flush(&j.cache); /* before the scan is reported finished */
    pthread_mutex_lock(&j.lock);
    j.finished = 1;
    pthread_cond_signal(&j.tick);
    pthread_mutex_unlock(&j.lock);
    if (ticker_started)
        pthread_join(ticker, NULL);
    /* items left behind by a failed or cancelled scan */
    while (j.q_len > 0) {
        work_item *it = &j.queue[j.q_head];
        close(it->fd);
        free(it->path);
        j.q_head = (j.q_head + 1) % j.q_cap;
        j.q_len--;
    }
    maybe_progress(&j, "", 0, 1);

    pal_scan_outcome outcome = j.fatal             ? PAL_SCAN_FAILED
                               : job_cancelled(&j) ? PAL_SCAN_CANCELLED
                                                   : PAL_SCAN_COMPLETED;
    pal_scan_totals totals = {.files = j.res.files_scanned,
                              .bytes = j.res.bytes_scanned,
                              .threats = j.res.threats_found,
                              .unscannable = j.res.unscannable_count};
    int64_t end_ms = now_ms();
    pal_errbuf ferr;
    if (pal_store_scan_finish(env->store, j.scan_id, &totals, outcome, j.fatal ? j.fatal_msg : NULL,
                              end_ms, &ferr) != 0) {
        rc = pal_err_set(err, PAL_EIO, "cannot record the end of scan %lld: %s",
                         (long long)j.scan_id, ferr.msg);
        goto out;
    }
    if (j.fatal && !(j.res.error = strdup(j.fatal_msg))) {
        rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto out;
    }
    j.res.scan_id = j.scan_id;
    j.res.type = req->type;
    j.res.outcome = outcome;
    j.res.start_ms = start_ms;
    j.res.end_ms = end_ms;
    j.res.fully_examined = outcome == PAL_SCAN_COMPLETED && fully_examined(&j);
    pal_event_emit(&(pal_event){.kind = PAL_EV_SCAN_FINISHED,
                                .scan_id = j.scan_id,
                                .scan_type = pal_scan_type_name(req->type),
                                .status = pal_scan_outcome_name(outcome),
                                .detail = j.res.error,
                                .has_counts = 1,
                                .files = totals.files,
                                .bytes = totals.bytes,
                                .threats = totals.threats,
                                .unscannable = totals.unscannable,
                                .duration_ms = end_ms - start_ms,
                                .has_uid = 1,
                                .uid = req->uid});
    *result = j.res;
    memset(&j.res, 0, sizeof(j.res));
    rc = 0;

out:
    free(tids);
    free(j.queue);
    pal_scan_result_clear(&j.res);
    pal_pathlist_free(&walk_roots);
    free_strlist(excl_paths, n_excl_paths);
    free_strlist(excl_exts, n_excl_exts);
    pal_pathlist_free(&roots);
    pthread_cond_destroy(&j.not_empty);
    pthread_cond_destroy(&j.not_full);
    pthread_cond_destroy(&j.tick);
    pal_throttle_destroy(&j.throttle);
    free(j.current);
    pthread_mutex_destroy(&j.lock);
    pthread_mutex_destroy(&j.progress_lock);
    pal_cachebatch_destroy(&j.cache);
    return rc;
}
