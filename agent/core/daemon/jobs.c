/*
 * jobs.c — detached scans (jobs.h): the registry, one thread per running scan.
 */
#define _GNU_SOURCE
#include "jobs.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "msg.h"
#include "names.h"
#include "render.h"
#include "scanjob.h"
#include "scheduler.h"

typedef struct job {
    struct job *next; /* the registry's list, newest first */
    pal_jobs *owner;
    unsigned refs; /* under owner->lock: the list, the starter, pollers */
    pthread_t thread;
    int thread_taken; /* someone joins (or joined) the thread */
    int listed;

    pal_scan_type type;
    char **paths;
    size_t *lens;
    size_t n_paths;
    uid_t uid;
    const char *trigger; /* "Client", "Scheduled", "CatchUp" */
    int64_t start_ms;

    volatile int cancel; /* the scan's own: no connection sets it */
    int stop_requested;
    int64_t scan_id; /* 0 until recorded */
    int done;
    int rc; /* pal_daemon_run_scan's, once done */
    const char *code;
    pal_errbuf error;
    const char *status; /* "Running", then the outcome's name */

    pal_scan_progress prog; /* the last reported; prog.current_path is cur */
    char *cur;
    uint64_t seq;
    json_t *result; /* rendered, once done and rc == 0 */
} job;

struct pal_jobs {
    pal_daemon *d;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    job *head;
    unsigned running;
    int stopping;
};

int pal_jobs_new(pal_daemon *d, pal_jobs **out)
{
    pal_jobs *j = calloc(1, sizeof(*j));
    if (!j)
        return PAL_ENOMEM;
    j->d = d;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->changed, NULL);
    *out = j;
    return 0;
}

static void job_free(job *jb)
{
    for (size_t i = 0; i < jb->n_paths; i++)
        free(jb->paths ? jb->paths[i] : NULL);
    free(jb->paths);
    free(jb->lens);
    free(jb->cur);
    json_decref(jb->result);
    free(jb);
}

/* Drop one reference; the caller holds the lock. Returns the job to free (outside the lock)
   when that was the last. */
static job *unref_locked(job *jb)
{
    return --jb->refs == 0 ? jb : NULL;
}

static void unref(pal_jobs *j, job *jb)
{
    pthread_mutex_lock(&j->lock);
    job *dead = unref_locked(jb);
    pthread_mutex_unlock(&j->lock);
    if (dead)
        job_free(dead);
}

static void unlist_locked(pal_jobs *j, job *jb)
{
    for (job **p = &j->head; *p; p = &(*p)->next)
        if (*p == jb) {
            *p = jb->next;
            jb->listed = 0;
            return;
        }
}

/* ---- the job's thread ------------------------------------------------------------------- */

static void on_started(void *ctx, int64_t id)
{
    job *jb = ctx;
    pal_jobs *j = jb->owner;
    pthread_mutex_lock(&j->lock);
    jb->scan_id = id;
    pthread_mutex_unlock(&j->lock);
    /* recorded before pal_jobs_start answers, so that no listing shows it without */
    pal_errbuf err = {.msg = ""};
    if (strcmp(jb->trigger, "Client") != 0 &&
        pal_sched_record_trigger(pal_daemon_store(j->d), id, jb->trigger, &err) != 0)
        pal_log(PAL_LOG_ERROR, "scan %lld: cannot record its trigger %s: %s", (long long)id,
                jb->trigger, err.msg);
    pthread_mutex_lock(&j->lock);
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->lock);
    pal_daemon_set_last_scan(j->d, id);
}

static void on_progress(void *ctx, const pal_scan_progress *p)
{
    job *jb = ctx;
    pthread_mutex_lock(&jb->owner->lock);
    char *cur = realloc(jb->cur, p->current_path_len + 1);
    if (cur) {
        memcpy(cur, p->current_path_len ? p->current_path : "", p->current_path_len);
        cur[p->current_path_len] = '\0';
        jb->cur = cur;
    }
    jb->prog = *p;
    jb->prog.current_path = jb->cur ? jb->cur : "";
    jb->prog.current_path_len = jb->cur ? p->current_path_len : 0;
    jb->seq++;
    pthread_mutex_unlock(&jb->owner->lock);
}

/* The IOPRIO_CLASS_IDLE priority of linux/ioprio.h, which glibc does not wrap. */
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_CLASS_SHIFT 13

/* This thread and the threads it creates (the scan's workers and ticker inherit it): the
   lowest CPU and I/O priority that still makes progress (jobs.h). SCHED_BATCH rather than
   SCHED_IDLE: a worker holds a slot, shared with foreground scans, while it scans a file,
   and an idle-class thread on a busy machine could hold it for as long as the machine is
   busy; at nice 19 it keeps a small share. The idle I/O class is bounded the same way by
   the block layer on the usual schedulers (mq-deadline dispatches a starved lower-class
   request after its aging time; with none there are no classes); under BFQ it can wait
   while the disk is busy, which is what a background scan should do. Failures are logged
   and the scan goes on. */
static void background_priority(void)
{
    pid_t tid = (pid_t)syscall(SYS_gettid);
    struct sched_param sp = {.sched_priority = 0};
    if (sched_setscheduler(0, SCHED_BATCH, &sp) != 0)
        pal_log(PAL_LOG_WARNING, "detached scan: cannot set SCHED_BATCH: %m");
    if (setpriority(PRIO_PROCESS, (id_t)tid, 19) != 0)
        pal_log(PAL_LOG_WARNING, "detached scan: cannot set nice 19: %m");
    if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, (int)tid,
                IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT) != 0)
        pal_log(PAL_LOG_WARNING, "detached scan: cannot set the idle I/O class: %m");
}

static void *job_main(void *arg)
{
    job *jb = arg;
    pal_jobs *j = jb->owner;
    /* named so that one can tell a background scan's threads in ps/top (they inherit it) */
    pthread_setname_np(pthread_self(), "pal-bgscan");
    background_priority();
    uint64_t load = 100;
    pal_settings_get_uint(pal_daemon_settings(j->d), "ScanAvgCPULoadFactor", &load);
    pal_scanjob_req sreq = {
        .type = jb->type,
        .paths = jb->paths,
        .path_lens = jb->lens,
        .n_paths = jb->n_paths,
        .uid = jb->uid,
        .cancel = &jb->cancel,
        .on_progress = on_progress,
        .progress_ctx = jb,
        .on_started = on_started,
        .cpu_load_percent = (unsigned)load,
    };
    pal_scan_result res;
    pal_errbuf err = {0};
    const char *code = NULL;
    int rc = pal_daemon_run_scan(j->d, &sreq, &res, &code, &err);
    json_t *result = NULL;
    const char *status = "Failed";
    if (rc == 0) {
        status = pal_scan_outcome_name(res.outcome);
        result = pal_render_scan_result(&res);
        pal_scan_result_clear(&res);
        if (!result) {
            rc = PAL_ENOMEM;
            code = PAL_CODE_INTERNAL;
            snprintf(err.msg, sizeof(err.msg), "out of memory");
        }
    }
    pthread_mutex_lock(&j->lock);
    jb->rc = rc;
    jb->code = code;
    jb->error = err;
    jb->result = result;
    jb->status = status;
    jb->done = 1;
    j->running--;
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

/* ---- the registry ----------------------------------------------------------------------- */

/* Take the finished jobs beyond PAL_JOBS_KEEP off the list into *out (to join and unref
   outside the lock). */
static void evict_locked(pal_jobs *j, job **out)
{
    size_t n = 0;
    for (job **p = &j->head; *p;) {
        job *jb = *p;
        if (++n > PAL_JOBS_KEEP && jb->done && !jb->thread_taken) {
            *p = jb->next;
            jb->listed = 0;
            jb->thread_taken = 1;
            jb->next = *out;
            *out = jb;
            continue;
        }
        p = &jb->next;
    }
}

static void reap(pal_jobs *j, job *list)
{
    while (list) {
        job *next = list->next;
        pthread_join(list->thread, NULL);
        unref(j, list);
        list = next;
    }
}

static int start_job(pal_jobs *j, pal_scan_type type, char *const *paths, const size_t *lens,
                     size_t n_paths, uid_t uid, const char *trigger, int64_t *scan_id,
                     const char **code, pal_errbuf *err)
{
    *code = PAL_CODE_INTERNAL;
    job *jb = calloc(1, sizeof(*jb));
    if (!jb || !(jb->paths = calloc(n_paths ? n_paths : 1, sizeof(*jb->paths))) ||
        !(jb->lens = calloc(n_paths ? n_paths : 1, sizeof(*jb->lens)))) {
        if (jb)
            job_free(jb);
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    jb->n_paths = n_paths;
    for (size_t i = 0; i < n_paths; i++) {
        if (!(jb->paths[i] = malloc(lens[i] + 1))) {
            job_free(jb);
            return pal_err_set(err, PAL_ENOMEM, "out of memory");
        }
        memcpy(jb->paths[i], paths[i], lens[i] + 1);
        jb->lens[i] = lens[i];
    }
    jb->owner = j;
    jb->type = type;
    jb->uid = uid;
    jb->trigger = trigger;
    jb->start_ms = pal_time_now_ms();
    jb->status = "Running";
    jb->refs = 2; /* the list and this call */

    job *evicted = NULL;
    pthread_mutex_lock(&j->lock);
    if (j->stopping || j->running >= PAL_JOBS_MAX_RUNNING) {
        int stopping = j->stopping;
        pthread_mutex_unlock(&j->lock);
        job_free(jb);
        *code = PAL_CODE_BUSY;
        return stopping ? pal_err_set(err, PAL_ESTATE, "palisaded is shutting down")
                        : pal_err_set(err, PAL_ELIMIT,
                                      "%d detached scans are running already (the most at "
                                      "once); wait for one or stop one (scan.stop)",
                                      PAL_JOBS_MAX_RUNNING);
    }
    int prc = pthread_create(&jb->thread, NULL, job_main, jb);
    if (prc != 0) {
        pthread_mutex_unlock(&j->lock);
        job_free(jb);
        return pal_err_set(err, PAL_EIO, "cannot start the scan's thread: %s", strerror(prc));
    }
    j->running++;
    jb->next = j->head;
    j->head = jb;
    jb->listed = 1;
    evict_locked(j, &evicted);
    /* answer once the scan is recorded: the client gets an id the history knows too */
    while (!jb->scan_id && !jb->done)
        pthread_cond_wait(&j->changed, &j->lock);
    int rc = 0;
    job *failed = NULL;
    if (jb->done && jb->rc != 0) {
        rc = jb->rc;
        *code = jb->code ? jb->code : PAL_CODE_INTERNAL;
        pal_err_set(err, rc, "%s", jb->error.msg);
        if (!jb->scan_id && jb->listed && !jb->thread_taken) {
            /* never recorded: not a scan anyone can ask about */
            unlist_locked(j, jb);
            jb->thread_taken = 1;
            failed = jb;
        }
    }
    *scan_id = jb->scan_id;
    job *dead = unref_locked(jb);
    pthread_mutex_unlock(&j->lock);
    if (failed) {
        pthread_join(failed->thread, NULL);
        unref(j, failed);
    } else if (dead) {
        job_free(dead);
    }
    reap(j, evicted);
    return rc;
}

int pal_jobs_start(pal_jobs *j, pal_scan_type type, char *const *paths, const size_t *lens,
                   size_t n_paths, uid_t uid, int64_t *scan_id, const char **code, pal_errbuf *err)
{
    return start_job(j, type, paths, lens, n_paths, uid, "Client", scan_id, code, err);
}

int pal_jobs_start_agent(pal_jobs *j, pal_scan_type type, const char *trigger, int64_t *scan_id,
                         const char **code, pal_errbuf *err)
{
    return start_job(j, type, NULL, NULL, 0, PAL_UID_DAEMON, trigger, scan_id, code, err);
}

void pal_jobs_stop(pal_jobs *j)
{
    pthread_mutex_lock(&j->lock);
    j->stopping = 1;
    for (job *jb = j->head; jb; jb = jb->next) {
        if (!jb->done) {
            jb->cancel = 1;
            jb->stop_requested = 1;
        }
    }
    unsigned running = j->running;
    /* join outside the lock: the threads report through it until they end */
    size_t n = 0;
    for (job *jb = j->head; jb; jb = jb->next)
        if (!jb->thread_taken)
            n++;
    job **take = n ? calloc(n, sizeof(*take)) : NULL;
    size_t k = 0;
    for (job *jb = j->head; jb && take; jb = jb->next)
        if (!jb->thread_taken) {
            jb->thread_taken = 1;
            jb->refs++;
            take[k++] = jb;
        }
    pthread_mutex_unlock(&j->lock);
    if (running)
        pal_log(PAL_LOG_NOTICE, "stopping: %u detached scan%s cancelled", running,
                running == 1 ? "" : "s");
    if (n && !take) {
        /* out of memory: wait for the cancelled scans to end without joining each now */
        pthread_mutex_lock(&j->lock);
        while (j->running)
            pthread_cond_wait(&j->changed, &j->lock);
        pthread_mutex_unlock(&j->lock);
        return;
    }
    for (size_t i = 0; i < k; i++) {
        pthread_join(take[i]->thread, NULL);
        unref(j, take[i]);
    }
    free(take);
}

void pal_jobs_free(pal_jobs *j)
{
    if (!j)
        return;
    pal_jobs_stop(j);
    job *jb = j->head;
    while (jb) {
        job *next = jb->next;
        job_free(jb); /* every other reference belongs to a handler, all gone by now */
        jb = next;
    }
    pthread_cond_destroy(&j->changed);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

/* ---- views ------------------------------------------------------------------------------ */

static json_t *job_json_locked(const job *jb, int with_result)
{
    json_t *o = json_object();
    json_t *paths = json_array();
    if (!o || !paths) {
        json_decref(o);
        json_decref(paths);
        return NULL;
    }
    for (size_t i = 0; i < jb->n_paths; i++) {
        char *shown = pal_path_display(jb->paths[i], jb->lens[i]);
        json_array_append_new(paths, shown ? json_string(shown) : json_null());
        free(shown);
    }
    json_object_set_new(o, "scan_id", json_integer(jb->scan_id));
    json_object_set_new(o, "type", json_string(pal_scan_type_name(jb->type)));
    json_object_set_new(o, "paths", paths);
    json_object_set_new(o, "status", json_string(jb->status));
    json_object_set_new(o, "stop_requested", json_boolean(jb->stop_requested));
    json_object_set_new(o, "uid", jb->uid == PAL_UID_DAEMON ? json_null() : json_integer(jb->uid));
    json_object_set_new(o, "trigger", json_string(jb->trigger));
    json_object_set_new(o, "start_time", pal_time_json(jb->start_ms));
    json_t *end = json_object_get(jb->result, "end_time");
    json_object_set_new(o, "end_time", end ? json_incref(end) : json_null());
    json_object_set_new(o, "progress", pal_daemon_progress_json(&jb->prog));
    json_object_set_new(o, "error", jb->done && jb->rc ? json_string(jb->error.msg) : json_null());
    if (with_result)
        json_object_set_new(o, "result", jb->result ? json_deep_copy(jb->result) : json_null());
    return o;
}

json_t *pal_jobs_list_json(pal_jobs *j)
{
    json_t *items = json_array();
    if (!items)
        return NULL;
    pthread_mutex_lock(&j->lock);
    for (job *jb = j->head; jb; jb = jb->next)
        if (jb->scan_id)
            json_array_append_new(items, job_json_locked(jb, 0));
    pthread_mutex_unlock(&j->lock);
    json_t *o = json_object();
    if (!o) {
        json_decref(items);
        return NULL;
    }
    json_object_set_new(o, "items", items);
    json_object_set_new(o, "max_running", json_integer(PAL_JOBS_MAX_RUNNING));
    return o;
}

static job *find_locked(pal_jobs *j, int64_t scan_id)
{
    for (job *jb = j->head; jb; jb = jb->next)
        if (jb->scan_id == scan_id && scan_id > 0)
            return jb;
    return NULL;
}

json_t *pal_jobs_get_json(pal_jobs *j, int64_t scan_id, int with_result, const char **code)
{
    pthread_mutex_lock(&j->lock);
    job *jb = find_locked(j, scan_id);
    json_t *o = jb ? job_json_locked(jb, with_result) : NULL;
    pthread_mutex_unlock(&j->lock);
    *code = jb ? PAL_CODE_INTERNAL : PAL_CODE_NOT_FOUND;
    return o;
}

int pal_jobs_stop_one(pal_jobs *j, int64_t scan_id)
{
    pthread_mutex_lock(&j->lock);
    job *jb = find_locked(j, scan_id);
    if (jb && !jb->done) {
        jb->cancel = 1;
        jb->stop_requested = 1;
    }
    pthread_mutex_unlock(&j->lock);
    return jb ? 0 : PAL_ENOTFOUND;
}

int pal_jobs_poll(pal_jobs *j, int64_t scan_id, uint64_t *seq, json_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&j->lock);
    job *jb = find_locked(j, scan_id);
    int rc = PAL_ENOTFOUND;
    if (jb && jb->done) {
        rc = 1;
        *out = jb->result ? json_deep_copy(jb->result) : job_json_locked(jb, 0);
    } else if (jb) {
        rc = 0;
        if (jb->seq != *seq) {
            *seq = jb->seq;
            *out = pal_daemon_progress_json(&jb->prog);
        }
    }
    pthread_mutex_unlock(&j->lock);
    return rc;
}
