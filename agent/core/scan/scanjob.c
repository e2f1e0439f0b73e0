/*
 * scanjob.c — one on-demand scan: walker → bounded queue → one worker per slot (see
 * scanjob.h). The queue is what keeps the walker at most a few files ahead of the scanners,
 * so a scan of a huge tree holds a bounded number of open fds.
 */
#define _GNU_SOURCE
#include "scanjob.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cachetrust.h"
#include "fdsource.h"
#include "msg.h"
#include "scanpaths.h"
#include "scanroot.h"
#include "walker.h"

#define QUEUE_PER_WORKER 4
#define RESULT_LIST_MAX 1000 /* threats / unscannable entries in the result document */
#define PROGRESS_INTERVAL_MS 200

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
    pal_cachetrust trust;     /* writeback sysctls as the scan started */
    pal_action sev_action[5]; /* indexed by pal_severity */

    pthread_mutex_t lock; /* protects everything below */
    pthread_cond_t not_empty, not_full;
    work_item *queue;
    size_t q_cap, q_head, q_len;
    int walking_done;
    int fatal; /* a store failure: stop and fail the scan */
    char fatal_msg[256];

    uint64_t files_found, files_done, bytes_done, threats, unscannable;
    uint64_t allowed;      /* findings on the allowed list: not threats */
    uint64_t unremediated; /* threats whose quarantine/remove failed */
    uint64_t skipped[PAL_SKIP__COUNT];
    pal_scanjob_stats stats;
    json_t *threat_list, *unscannable_list;
    json_t *root_errors;    /* roots that could not be scanned at all */
    json_t *resolved_roots; /* named symlink roots and the targets walked */
    int64_t last_progress_ms;
    char *current; /* the file a worker took last (for the ticker) */
    size_t current_len;
    int finished; /* the ticker stops */
    pthread_cond_t tick;

    pthread_mutex_t progress_lock; /* serialises on_progress calls */
} job;

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
    int64_t now = pal_time_now_ms();
    pal_scan_progress p;
    pthread_mutex_lock(&j->lock);
    if (!force && now - j->last_progress_ms < PROGRESS_INTERVAL_MS) {
        pthread_mutex_unlock(&j->lock);
        return;
    }
    j->last_progress_ms = now;
    p.files_done = j->files_done;
    p.bytes_done = j->bytes_done;
    p.files_found = j->files_found;
    p.threats = j->threats;
    p.unscannable = j->unscannable;
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
    while (j->q_len == j->q_cap && !j->fatal && !job_cancelled(j)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&j->not_full, &j->lock, &ts);
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
    j->skipped[r]++;
    pthread_mutex_unlock(&j->lock);
}

static void add_root_error(job *j, const char *path, size_t path_len, pal_skip_reason r, int errnum)
{
    json_t *e = json_object();
    if (!e)
        return;
    pal_msg_set_path(e, "path", path, path_len);
    json_object_set_new(e, "error", json_string(pal_scanroot_error_name(r, errnum)));
    json_object_set_new(e, "reason", json_string(pal_scanroot_error_text(r, errnum)));
    pthread_mutex_lock(&j->lock);
    if (json_array_size(j->root_errors) < RESULT_LIST_MAX)
        json_array_append(j->root_errors, e);
    pthread_mutex_unlock(&j->lock);
    json_decref(e);
}

/* The root vanished or became unreadable between its resolution and the walk. */
static void on_root_error(void *ctx, const char *path, size_t path_len, pal_skip_reason r,
                          int errnum)
{
    add_root_error(ctx, path, path_len, r, errnum);
}

/* ---- the worker side ------------------------------------------------------------------ */

static int pop(job *j, work_item *out)
{
    pthread_mutex_lock(&j->lock);
    while (j->q_len == 0 && !j->walking_done && !j->fatal)
        pthread_cond_wait(&j->not_empty, &j->lock);
    if (j->q_len == 0 || j->fatal) {
        pthread_mutex_unlock(&j->lock);
        return 0;
    }
    *out = j->queue[j->q_head];
    char *cur = realloc(j->current, out->path_len + 1);
    if (cur) {
        memcpy(cur, out->path, out->path_len + 1);
        j->current = cur;
        j->current_len = out->path_len;
    }
    j->q_head = (j->q_head + 1) % j->q_cap;
    j->q_len--;
    pthread_cond_signal(&j->not_full);
    pthread_mutex_unlock(&j->lock);
    return 1;
}

static void cache_key_of(const struct stat *st, pal_cache_key *k)
{
    k->dev = (uint64_t)st->st_dev;
    k->ino = (uint64_t)st->st_ino;
    k->size = (uint64_t)st->st_size;
    k->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    k->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
}

static int same_identity(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int action_rank(pal_action a)
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

/* The action for one finding: allowed list, then per-threat override, then severity. */
static int decide_action(job *j, const pal_finding *fd, const pal_report *rep, pal_det_action *out)
{
    pal_store *st = j->env->store;
    char obj_hex[65], file_hex[65];
    pal_store_sha256_hex(fd->sha256, obj_hex);
    int allowed = 0;
    int rc = pal_store_allowed_check(st, fd->threat, obj_hex, &allowed, NULL);
    if (rc == 0 && !allowed && rep->sha256_valid) {
        pal_store_sha256_hex(rep->sha256, file_hex);
        rc = pal_store_allowed_check(st, fd->threat, file_hex, &allowed, NULL);
    }
    if (rc != 0)
        return rc;
    if (allowed) {
        *out = PAL_DET_ACTION_ALLOW;
        return 0;
    }
    pal_action a;
    rc = pal_store_threat_action_get(st, fd->threat, &a, NULL);
    if (rc == PAL_ENOTFOUND) {
        a = (fd->severity >= PAL_SEV_LOW && fd->severity <= PAL_SEV_SEVERE)
                ? j->sev_action[fd->severity]
                : PAL_ACTION_QUARANTINE;
        rc = 0;
    }
    if (rc != 0)
        return rc;
    *out = (pal_det_action)a;
    return 0;
}

static void add_unscannable(job *j, const char *chain, const char *reason, const char *detail)
{
    json_t *u = json_object();
    if (!u)
        return;
    pal_msg_set_path(u, "path", chain, strlen(chain));
    json_object_set_new(u, "reason", json_string(reason));
    json_object_set_new(u, "detail", detail ? json_string(detail) : json_null());
    pthread_mutex_lock(&j->lock);
    j->unscannable++;
    if (json_array_size(j->unscannable_list) < RESULT_LIST_MAX)
        json_array_append(j->unscannable_list, u);
    pthread_mutex_unlock(&j->lock);
    json_decref(u);
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
        if (decide_action(j, f, rep, &acts[i]) != 0) {
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
            action_rank((pal_action)acts[i]) > action_rank(file_action)) {
            file_action = (pal_action)acts[i];
            if (first_acting == n)
                first_acting = i;
        }
    }

    int act_rc = 0;
    char *detail = NULL;
    if (file_action != PAL_ACTION_NOACTION) {
        if (!j->env->remediate) {
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
            act_rc = j->env->remediate(j->env->remediate_ctx, &rq, &detail);
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

        json_t *t = json_object();
        if (t) {
            json_object_set_new(t, "detection_id", json_integer(ids[i]));
            pal_msg_set_path(t, "path", f->chain, strlen(f->chain));
            json_object_set_new(t, "threat", json_string(f->threat));
            json_object_set_new(t, "severity", json_string(pal_severity_name(f->severity)));
            json_object_set_new(t, "category", json_string(f->category));
            json_object_set_new(t, "action", json_string(pal_det_action_name(recorded)));
            json_object_set_new(t, "action_result", json_string(pal_det_result_name(res)));
            json_object_set_new(t, "action_detail", detail ? json_string(detail) : json_null());
            char hex[65];
            pal_store_sha256_hex(f->sha256, hex);
            json_object_set_new(t, "sha256", json_string(hex));
        }
        pthread_mutex_lock(&j->lock);
        /* an allowed finding is listed (the administrator sees it was there) but is not a
           threat: it counts neither in threats_found nor in the exit status */
        if (acts[i] == PAL_DET_ACTION_ALLOW)
            j->allowed++;
        else
            j->threats++;
        if (res == PAL_DET_FAILED)
            j->unremediated++;
        if (t && json_array_size(j->threat_list) < RESULT_LIST_MAX)
            json_array_append(j->threat_list, t);
        pthread_mutex_unlock(&j->lock);
        json_decref(t);
    }
    free(detail);
    free(ids);
    free(acts);
}

static void scan_item(job *j, const work_item *it)
{
    const pal_scanjob_env *env = j->env;
    pal_defs *defs = env->get_defs(env->defs_ctx);
    if (!defs) {
        add_unscannable(j, it->path, "engine-error", "no signature package is loaded");
        return;
    }
    uint64_t sigver = pal_defs_info(defs)->version;
    pal_cache_key key;
    cache_key_of(&it->st, &key);

    if (j->cache_enabled) {
        int hit = 0;
        if (pal_store_cache_lookup(env->store, &key, sigver, &hit, NULL) == 0 && hit) {
            pthread_mutex_lock(&j->lock);
            j->files_done++;
            j->bytes_done += (uint64_t)it->st.st_size;
            j->stats.cache_hits++;
            pthread_mutex_unlock(&j->lock);
            pal_defs_unref(defs);
            return;
        }
    }

    /* decided, and the file's pages made clean, before a byte is read (cachetrust.h) */
    int may_cache = j->cache_enabled &&
                    pal_cachetrust_ok(pal_cachetrust_before_read(&j->trust, it->fd, &it->st));

    pal_slot *slot = pal_slots_acquire(env->slots, j->req->cancel);
    if (!slot) {
        pal_defs_unref(defs);
        return; /* cancelled while waiting: not counted as scanned */
    }
    pal_fdsource fs;
    pal_source src;
    pal_fdsource_init(&fs, it->fd, (uint64_t)it->st.st_size, &src);
    pal_report rep;
    int rc = pal_slot_scan(slot, defs, &src, it->path, j->req->cancel, &rep);
    pal_slots_release(env->slots, slot);

    pthread_mutex_lock(&j->lock);
    j->stats.bytes_read += fs.bytes_read;
    pthread_mutex_unlock(&j->lock);

    if (rc != 0) {
        add_unscannable(j, it->path, "engine-error", pal_strerror(rc));
        pal_defs_unref(defs);
        return;
    }
    if (rep.reason == PAL_UNSCANNABLE_CANCELLED) {
        pal_report_free(&rep);
        pal_defs_unref(defs);
        return;
    }

    pthread_mutex_lock(&j->lock);
    j->files_done++;
    j->bytes_done += (uint64_t)it->st.st_size;
    pthread_mutex_unlock(&j->lock);

    if (rep.n_findings > 0)
        handle_findings(j, it, &rep, sigver);
    if (rep.reason != PAL_UNSCANNABLE_NONE)
        add_unscannable(j, rep.reason_chain ? rep.reason_chain : it->path,
                        pal_unscannable_name(rep.reason), rep.reason_detail);

    if (may_cache && rep.verdict == PAL_VERDICT_CLEAN) {
        /* only what was examined as it still is may be trusted next time */
        struct stat now;
        if (fstat(it->fd, &now) == 0 && same_identity(&now, &it->st))
            pal_store_cache_insert(env->store, &key, sigver, NULL);
    }
    pal_report_free(&rep);
    pal_defs_unref(defs);
}

static void *worker_main(void *arg)
{
    job *j = arg;
    work_item it;
    while (pop(j, &it)) {
        if (!job_cancelled(j))
            scan_item(j, &it);
        maybe_progress(j, it.path, it.path_len, 0);
        close(it.fd);
        free(it.path);
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

static int load_settings(job *j)
{
    static const char *const names[5] = {
        NULL,
        "LowThreatDefaultAction",
        "ModerateThreatDefaultAction",
        "HighThreatDefaultAction",
        "SevereThreatDefaultAction",
    };
    int enabled = 1;
    if (pal_settings_get_bool(j->env->settings, "ScanCacheEnabled", &enabled) != 0)
        enabled = 1;
    j->cache_enabled = enabled;
    if (enabled)
        pal_cachetrust_init(&j->trust, NULL); /* once per scan, not per file */
    for (int sev = PAL_SEV_LOW; sev <= PAL_SEV_SEVERE; sev++) {
        char *v = NULL;
        pal_action a = PAL_ACTION_QUARANTINE;
        if (pal_settings_get_string(j->env->settings, names[sev], &v) == 0) {
            if (pal_action_parse(v, &a) != 0)
                a = PAL_ACTION_QUARANTINE;
            free(v);
        }
        j->sev_action[sev] = a;
    }
    return 0;
}

/*
 * Whether everything the scan was asked to look at was examined: every root walked, every
 * file read to the end by the engine, nothing left out for being unreadable, too deep or an
 * error. Skips by policy (exclusions, symlinks, special files, file-system filter) and files
 * that vanished while walked are not gaps: there was nothing there to examine.
 */
static int fully_examined(const job *j)
{
    return json_array_size(j->root_errors) == 0 && j->unscannable == 0 &&
           j->skipped[PAL_SKIP_UNREADABLE] == 0 && j->skipped[PAL_SKIP_TOO_DEEP] == 0 &&
           j->skipped[PAL_SKIP_ERROR] == 0;
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
            json_t *o = json_object();
            if (o) {
                pal_msg_set_path(o, "path", named->paths[i], strlen(named->paths[i]));
                pal_msg_set_path(o, "resolved", r.path, strlen(r.path));
                json_array_append_new(j->resolved_roots, o);
            }
        }
        rc = pal_pathlist_add(walk, r.path);
        pal_scanroot_free(&r);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static json_t *skipped_json(const job *j)
{
    json_t *o = json_object();
    for (int r = 0; o && r < PAL_SKIP__COUNT; r++)
        if (j->skipped[r])
            json_object_set_new(o, pal_skip_reason_name((pal_skip_reason)r),
                                json_integer((json_int_t)j->skipped[r]));
    return o;
}

int pal_scanjob_run(const pal_scanjob_env *env, const pal_scanjob_req *req, json_t **result,
                    pal_errbuf *err)
{
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
    pthread_mutex_init(&j.progress_lock, NULL);
    pthread_cond_init(&j.not_empty, NULL);
    pthread_cond_init(&j.not_full, NULL);
    pthread_cond_init(&j.tick, NULL);
    pthread_t ticker;
    int ticker_started = 0;
    unsigned workers = pal_slots_count(env->slots);
    j.q_cap = (size_t)workers * QUEUE_PER_WORKER;
    j.queue = calloc(j.q_cap, sizeof(*j.queue));
    j.threat_list = json_array();
    j.unscannable_list = json_array();
    j.root_errors = json_array();
    j.resolved_roots = json_array();
    pthread_t *tids = calloc(workers, sizeof(*tids));
    char **excl_paths = NULL, **excl_exts = NULL;
    size_t n_excl_paths = 0, n_excl_exts = 0;
    unsigned started = 0;
    if (!j.queue || !j.threat_list || !j.unscannable_list || !j.root_errors || !j.resolved_roots ||
        !tids) {
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
    int64_t start_ms = pal_time_now_ms();

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
    pal_scan_totals totals = {.files = j.files_done,
                              .bytes = j.bytes_done,
                              .threats = j.threats,
                              .unscannable = j.unscannable};
    int64_t end_ms = pal_time_now_ms();
    pal_errbuf ferr;
    if (pal_store_scan_finish(env->store, j.scan_id, &totals, outcome, j.fatal ? j.fatal_msg : NULL,
                              end_ms, &ferr) != 0) {
        rc = pal_err_set(err, PAL_EIO, "cannot record the end of scan %lld: %s",
                         (long long)j.scan_id, ferr.msg);
        goto out;
    }

    json_t *res = json_object();
    if (!res) {
        rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto out;
    }
    json_object_set_new(res, "scan_id", json_integer(j.scan_id));
    json_object_set_new(res, "type", json_string(pal_scan_type_name(req->type)));
    json_object_set_new(res, "status", json_string(pal_scan_outcome_name(outcome)));
    if (j.fatal)
        json_object_set_new(res, "error", json_string(j.fatal_msg));
    json_object_set_new(res, "start_time", pal_time_json(start_ms));
    json_object_set_new(res, "end_time", pal_time_json(end_ms));
    json_object_set_new(res, "files_scanned", json_integer((json_int_t)j.files_done));
    json_object_set_new(res, "bytes_scanned", json_integer((json_int_t)j.bytes_done));
    json_object_set_new(res, "threats_found", json_integer((json_int_t)j.threats));
    json_object_set_new(res, "allowed_count", json_integer((json_int_t)j.allowed));
    json_object_set_new(res, "unremediated_count", json_integer((json_int_t)j.unremediated));
    json_object_set_new(res, "unscannable_count", json_integer((json_int_t)j.unscannable));
    json_object_set_new(res, "skipped", skipped_json(&j));
    json_object_set(res, "threats", j.threat_list);
    json_object_set(res, "unscannable", j.unscannable_list);
    json_object_set(res, "root_errors", j.root_errors);
    json_object_set(res, "resolved_roots", j.resolved_roots);
    json_object_set_new(res, "fully_examined",
                        json_boolean(outcome == PAL_SCAN_COMPLETED && fully_examined(&j)));
    json_object_set_new(res, "bytes_read", json_integer((json_int_t)j.stats.bytes_read));
    json_object_set_new(res, "cache_hits", json_integer((json_int_t)j.stats.cache_hits));
    *result = res;
    rc = 0;

out:
    free(tids);
    free(j.queue);
    json_decref(j.threat_list);
    json_decref(j.unscannable_list);
    json_decref(j.root_errors);
    json_decref(j.resolved_roots);
    pal_pathlist_free(&walk_roots);
    free_strlist(excl_paths, n_excl_paths);
    free_strlist(excl_exts, n_excl_exts);
    pal_pathlist_free(&roots);
    pthread_cond_destroy(&j.not_empty);
    pthread_cond_destroy(&j.not_full);
    pthread_cond_destroy(&j.tick);
    free(j.current);
    pthread_mutex_destroy(&j.lock);
    pthread_mutex_destroy(&j.progress_lock);
    return rc;
}
