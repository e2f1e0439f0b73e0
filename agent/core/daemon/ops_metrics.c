/*
 * ops_metrics.c — the metrics op and the textfile writer (ops_metrics.h).
 */
#define _GNU_SOURCE
#include "ops_metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "msg.h"
#include "promtext.h"
#include "trustfile.h"

/* Counted since the process started. One daemon per process (the state directory's lock),
   so process-wide counters are the daemon's. */
static _Atomic uint64_t scan_cache_hits;
static _Atomic uint64_t scan_bytes_read;

void pal_metrics_note_scan(const pal_scan_result *res)
{
    atomic_fetch_add(&scan_cache_hits, res->stats.cache_hits);
    atomic_fetch_add(&scan_bytes_read, res->stats.bytes_read);
}

/* The status fields that are figures (status is readable by anyone on the status socket,
   so none of this is new to any user); health issues by id only. */
static json_t *status_figures(pal_daemon *d)
{
    static const char *const keys[] = {
        "signature_version",          "signature_created",       "content_process_state",
        "content_process_restarts",   "content_process_crashes", "real_time_protection",
        "real_time_protection_stats", "unremediated_threats",    "active_scans",
    };
    json_t *st = pal_daemon_status_json(d);
    json_t *o = json_object();
    json_t *ids = json_array();
    if (!st || !o || !ids) {
        json_decref(st);
        json_decref(o);
        json_decref(ids);
        return NULL;
    }
    int bad = 0;
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
        json_t *v = json_object_get(st, keys[i]);
        if (v)
            bad |= json_object_set(o, keys[i], v);
    }
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(st, "health_issues"), i, it)
    {
        bad |= json_array_append_new(ids, json_pack("{s:O}", "id", json_object_get(it, "id")));
    }
    bad |= json_object_set_new(o, "health_issues", ids);
    json_decref(st);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int pal_metrics_json(pal_daemon *d, json_t **out, pal_errbuf *err)
{
    json_t *store = NULL;
    int rc = pal_store_metrics(pal_daemon_store(d), &store, err);
    if (rc != 0)
        return rc;
    json_t *status = status_figures(d);
    json_t *o =
        status ? json_pack("{s:s, s:o, s:o, s:o, s:o, s:{s:I, s:I}}", "agent_version",
                           PAL_AGENT_VERSION, "started_at", pal_time_json(pal_daemon_started_at(d)),
                           "generated_at", pal_time_json(pal_time_now_ms()), "store", store,
                           "status", status, "counters", "scan_cache_hits",
                           (json_int_t)atomic_load(&scan_cache_hits), "bytes_read",
                           (json_int_t)atomic_load(&scan_bytes_read))
               : NULL;
    if (!status)
        json_decref(store);
    if (!o)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    *out = o;
    return 0;
}

static json_t *op_metrics(pal_ctl_request *req, void *arg)
{
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {NULL};
    pal_errbuf err;
    if (pal_msg_check_fields(args, allowed, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    json_t *o = NULL;
    int rc = pal_metrics_json(arg, &o, &err);
    return rc == 0 ? o : pal_ctl_fail(req, pal_code_for_err(rc), "%s", err.msg);
}

int pal_daemon_register_metrics_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err)
{
    static const pal_ctl_op ops[] = {
        {"metrics", 0, op_metrics},
    };
    return pal_ctl_server_register(srv, ops, sizeof(ops) / sizeof(*ops), d, err);
}

/* ---- the textfile ------------------------------------------------------------------------ */

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int pal_metrics_write_textfile(pal_daemon *d, const char *path, pal_errbuf *err)
{
    const char *slash = strrchr(path, '/');
    if (path[0] != '/' || !slash || !slash[1])
        return pal_err_set(err, PAL_EINVAL, "%s is not an absolute file path", path);
    char dir[PATH_MAX];
    size_t dlen = (size_t)(slash - path);
    if (dlen >= sizeof(dir))
        return pal_err_set(err, PAL_EINVAL, "%s is too long", path);
    memcpy(dir, path, dlen ? dlen : 1);
    dir[dlen ? dlen : 1] = '\0';
    const char *base = slash + 1;
    char tmp[NAME_MAX + 1];
    if (snprintf(tmp, sizeof(tmp), ".%s.%d.tmp", base, (int)getpid()) >= (int)sizeof(tmp))
        return pal_err_set(err, PAL_EINVAL, "%s: the file name is too long", path);

    json_t *m = NULL;
    int ret = pal_metrics_json(d, &m, err);
    if (ret != 0)
        return ret;
    char *text = pal_promtext_render(m, err);
    json_decref(m);
    if (!text)
        return PAL_ENOMEM;

    int dfd = -1, fd = -1;
    if ((ret = pal_trustfile_open_dir_path(dir, &dfd, err)) != 0)
        goto out;
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0 && errno == EEXIST) {
        /* ours, left by a crash (the name holds our pid; the directory is root's alone) */
        unlinkat(dfd, tmp, 0);
        fd =
            openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    }
    if (fd < 0) {
        ret = pal_err_set(err, PAL_EIO, "cannot create %s/%s: %s", dir, tmp, strerror(errno));
        goto out;
    }
    /* node_exporter runs as its own user: the file is readable by all (the daemon's umask
       is 077); it holds nothing the status socket does not already tell any user */
    if (fchmod(fd, 0644) != 0 || write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
        ret = pal_err_set(err, PAL_EIO, "cannot write %s/%s: %s", dir, tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        ret = pal_err_set(err, PAL_EIO, "cannot write %s/%s: %s", dir, tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (renameat(dfd, tmp, dfd, base) != 0) {
        ret = pal_err_set(err, PAL_EIO, "cannot rename %s/%s to %s: %s", dir, tmp, path,
                          strerror(errno));
        goto out;
    }
    fsync(dfd); /* the rename itself durable; a failure here loses nothing written */
out:
    if (fd >= 0) {
        close(fd);
    }
    if (ret != 0 && dfd >= 0)
        unlinkat(dfd, tmp, 0);
    if (dfd >= 0)
        close(dfd);
    free(text);
    return ret;
}

struct pal_metrics_writer {
    pal_daemon *d;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;  /* signalled on stop */
    int stop;             /* lock */
    char last_error[512]; /* the thread's only: the last failure logged */
};

static void *writer_main(void *arg)
{
    pal_metrics_writer *w = arg;
    char *last_path = NULL;
    struct timespec next = {0};
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        struct timespec wake = {.tv_sec = now.tv_sec + 1, .tv_nsec = now.tv_nsec};
        /* the settings are read once a second: a new path is written to within a second */
        pthread_cond_timedwait(&w->cond, &w->lock, &wake);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->lock);
        char *path = NULL;
        uint64_t interval = 60;
        pal_settings_get_string(pal_daemon_settings(w->d), "MetricsTextfilePath", &path);
        pal_settings_get_uint(pal_daemon_settings(w->d), "MetricsIntervalSeconds", &interval);
        clock_gettime(CLOCK_MONOTONIC, &now);
        int changed = (path ? path : "")[0] && (!last_path || strcmp(path, last_path) != 0);
        int due =
            now.tv_sec > next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec >= next.tv_nsec);
        if (path && path[0] && (changed || due)) {
            pal_errbuf err = {.msg = ""};
            if (pal_metrics_write_textfile(w->d, path, &err) != 0) {
                if (strcmp(err.msg, w->last_error) != 0)
                    pal_log(PAL_LOG_ERROR, "metrics textfile not written: %s", err.msg);
                snprintf(w->last_error, sizeof(w->last_error), "%s", err.msg);
            } else if (w->last_error[0] || changed) {
                pal_log(PAL_LOG_INFO, "metrics textfile %s written (every %llu s)", path,
                        (unsigned long long)interval);
                w->last_error[0] = '\0';
            }
            next.tv_sec = now.tv_sec + (time_t)interval;
            next.tv_nsec = now.tv_nsec;
        }
        free(last_path);
        last_path = path && path[0] ? path : NULL;
        if (!last_path)
            free(path);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    free(last_path);
    return NULL;
}

int pal_metrics_writer_start(pal_daemon *d, pal_metrics_writer **out, pal_errbuf *err)
{
    pal_metrics_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    w->d = d;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return pal_err_set(err, PAL_EIO, "cannot start the metrics writer: %s", strerror(rc));
    }
    *out = w;
    return 0;
}

void pal_metrics_writer_stop(pal_metrics_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
