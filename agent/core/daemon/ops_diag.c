/*
 * ops_diag.c — the support bundle and the content-process event listing (ops_diag.h).
 * Handlers parse all arguments first, then gather, then write.
 */
#define _GNU_SOURCE
#include "ops_diag.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <yara.h>

#include "log.h"
#include "msg.h"

#define DIAG_DIR "diagnostics"
#define DIAG_PREFIX "palisade-diagnostics-"
#define DIAG_SUFFIX ".tar.gz"
#define DIAG_KEEP 10                         /* bundles kept in DIAG_DIR */
#define DIAG_SCANS 100                       /* scans in scans.json */
#define DIAG_EVENTS PAL_STORE_CP_EVENTS_KEEP /* events in cp_events.json: all the store has */
#define EVENTS_DEFAULT 100                   /* cp.events without a limit */

/* One bundle at a time: two admins asking at once get two whole bundles, and the pruning
   of old ones never races the writing of a new one. */
static pthread_mutex_t diag_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- JSON pieces -------------------------------------------------------------------------- */

/* Set o[key] = v (stolen); -1 when v is NULL (out of memory) or the set fails. */
static int put(json_t *o, const char *key, json_t *v)
{
    if (!v)
        return -1;
    return json_object_set_new(o, key, v);
}

/* Text that may hold any bytes (a content process's stderr, a reason naming a file): as it
   is when it is UTF-8, else its display form (invalid bytes as \xNN). NULL gives null. */
static json_t *text_json(const char *s)
{
    if (!s)
        return json_null();
    size_t len = strlen(s);
    if (pal_utf8_valid(s, len))
        return json_stringn(s, len);
    char *disp = pal_path_display(s, len);
    json_t *v = disp ? json_string(disp) : NULL;
    free(disp);
    return v;
}

static json_t *time_or_null(int64_t ms)
{
    json_t *v = ms > 0 ? pal_time_json(ms) : NULL;
    return v ? v : json_null();
}

static json_t *cp_event_json(const pal_cp_event *e)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    const char *kind = pal_cp_event_kind_name(e->kind);
    int bad = put(o, "id", json_integer(e->id)) || put(o, "at", time_or_null(e->at)) ||
              put(o, "pid", e->pid > 0 ? json_integer(e->pid) : json_null()) ||
              put(o, "kind", kind ? json_string(kind) : json_null()) ||
              put(o, "exit_code", e->exit_code >= 0 ? json_integer(e->exit_code) : json_null()) ||
              put(o, "signal", e->signal > 0 ? json_integer(e->signal) : json_null()) ||
              put(o, "reason", text_json(e->reason)) ||
              put(o, "stderr_tail", text_json(e->stderr_tail));
    /* object is a path (or several, one a line): carried faithfully, as paths are */
    if (!bad)
        bad = e->object ? pal_msg_set_path(o, "object", e->object, strlen(e->object)) != 0
                        : put(o, "object", json_null());
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* {"items": [...]} of the newest limit events. */
static int cp_events_json(pal_daemon *d, size_t limit, json_t **out, pal_errbuf *err)
{
    pal_cp_event *ev = NULL;
    size_t n = 0;
    int rc = pal_store_cp_event_list(pal_daemon_store(d), limit, &ev, &n, err);
    if (rc != 0)
        return rc;
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++)
        if (json_array_append_new(items, cp_event_json(&ev[i])) != 0) {
            json_decref(items);
            items = NULL;
        }
    pal_cp_events_free(ev, n);
    json_t *o = items ? json_pack("{so}", "items", items) : NULL;
    if (!o)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    *out = o;
    return 0;
}

static int scans_json(pal_daemon *d, json_t **out, pal_errbuf *err)
{
    pal_scan_rec *recs = NULL;
    size_t n = 0;
    int rc = pal_store_scan_list(pal_daemon_store(d), DIAG_SCANS, &recs, &n, err);
    if (rc != 0)
        return rc;
    json_t *items = json_array();
    for (size_t i = 0; items && i < n; i++)
        if (json_array_append_new(items, pal_daemon_scan_rec_json(&recs[i])) != 0) {
            json_decref(items);
            items = NULL;
        }
    pal_scan_recs_free(recs, n);
    json_t *o = items ? json_pack("{so}", "items", items) : NULL;
    if (!o)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    *out = o;
    return 0;
}

static json_t *package_json(pal_daemon *d)
{
    pal_defs *defs = pal_daemon_defs(d);
    if (!defs) {
        char why[640];
        pal_daemon_defs_error(d, why, sizeof(why));
        json_t *v = json_pack("{s:n, s:o*}", "in_force", "error", text_json(why));
        return v;
    }
    const pal_sigpkg_info *info = pal_defs_info(defs);
    char key[2 * PAL_KEY_ID_LEN + 1];
    pal_key_id_hex(info->key_id, key);
    json_t *pkg = json_object();
    int bad = !pkg || put(pkg, "version", json_integer((json_int_t)info->version)) ||
              put(pkg, "created", time_or_null((int64_t)info->created * 1000)) ||
              put(pkg, "format_version", json_integer(info->format_version)) ||
              put(pkg, "key_id", json_string(key)) ||
              put(pkg, "threats", json_integer(info->threat_count)) ||
              put(pkg, "hashes", json_integer(info->hash_count)) ||
              put(pkg, "rules", json_integer(info->rule_count)) ||
              put(pkg, "file_size", json_integer((json_int_t)info->file_size)) ||
              pal_msg_set_path(pkg, "path", pal_defs_path(defs), strlen(pal_defs_path(defs)));
    pal_defs_unref(defs);
    if (bad) {
        json_decref(pkg);
        return NULL;
    }
    return json_pack("{s:o, s:n}", "in_force", pkg, "error");
}

/* libarchive 3.6.2's archive_version_details() rebuilds a static string on every call and
   leaks the previous one: ask once. */
static pthread_once_t archive_details_once = PTHREAD_ONCE_INIT;
static char archive_details[256];

static void read_archive_details(void)
{
    snprintf(archive_details, sizeof(archive_details), "%s", archive_version_details());
}

static json_t *versions_json(pal_daemon *d)
{
    json_t *o = json_object();
    json_t *libs = json_object();
    json_t *kernel = json_object();
    struct utsname u;
    int bad = !o || !libs || !kernel;
    pthread_once(&archive_details_once, read_archive_details);
    bad = bad || put(libs, "libarchive", json_string(archive_details)) ||
          put(libs, "libyara", json_string(YR_VERSION)) ||
          put(libs, "sqlite", json_string(sqlite3_libversion())) ||
          put(libs, "openssl", json_string(OpenSSL_version(OPENSSL_VERSION))) ||
          put(libs, "jansson", json_string(jansson_version_str()));
    if (!bad && uname(&u) == 0)
        bad = put(kernel, "sysname", text_json(u.sysname)) ||
              put(kernel, "release", text_json(u.release)) ||
              put(kernel, "version", text_json(u.version)) ||
              put(kernel, "machine", text_json(u.machine)) ||
              put(kernel, "nodename", text_json(u.nodename));
    const char *cp = pal_daemon_paths_of(d)->cp_binary ? pal_daemon_paths_of(d)->cp_binary : "";
    bad = bad || put(o, "agent_version", json_string(PAL_AGENT_VERSION)) ||
          put(o, "signature_package", package_json(d)) ||
          pal_msg_set_path(o, "content_process_binary", cp, strlen(cp)) ||
          put(o, "libraries", json_incref(libs)) || put(o, "kernel", json_incref(kernel));
    json_decref(libs);
    json_decref(kernel);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- the bundle --------------------------------------------------------------------------- */

typedef struct member {
    const char *name;
    char *data; /* owned */
    size_t len;
} member;

/* A JSON document as member m (v stolen). */
static int member_json(member *m, const char *name, json_t *v, pal_errbuf *err)
{
    m->name = name;
    m->data = v ? json_dumps(v, JSON_INDENT(2)) : NULL;
    json_decref(v);
    if (!m->data)
        return pal_err_set(err, PAL_ENOMEM, "cannot build %s: out of memory", name);
    m->len = strlen(m->data);
    return 0;
}

/* Gather every member; on failure the ones built are freed by the caller. */
static int gather(pal_daemon *d, member *m, size_t *n, pal_errbuf *err)
{
    json_t *v = NULL;
    int rc;
    *n = 0;
    if ((rc = member_json(&m[(*n)++], "status.json", pal_daemon_status_json(d), err)) != 0)
        return rc;
    json_t *all = NULL;
    if (pal_settings_list_json(pal_daemon_settings(d), &all) != 0)
        return pal_err_set(err, PAL_ENOMEM, "cannot list the settings");
    if ((rc = member_json(&m[(*n)++], "settings.json", json_pack("{so}", "items", all), err)))
        return rc;
    if ((rc = member_json(&m[(*n)++], "versions.json", versions_json(d), err)) != 0)
        return rc;
    if ((rc = scans_json(d, &v, err)) != 0 ||
        (rc = member_json(&m[(*n)++], "scans.json", v, err)) != 0)
        return rc;
    if ((rc = cp_events_json(d, DIAG_EVENTS, &v, err)) != 0 ||
        (rc = member_json(&m[(*n)++], "cp_events.json", v, err)) != 0)
        return rc;
    member *log = &m[(*n)++];
    log->name = "daemon.log";
    log->data = pal_log_recent();
    if (!log->data)
        return pal_err_set(err, PAL_ENOMEM, "cannot copy the log: out of memory");
    log->len = strlen(log->data);
    return 0;
}

static int archive_fail(struct archive *a, const char *what, pal_errbuf *err)
{
    const char *why = archive_error_string(a);
    return pal_err_set(err, PAL_EIO, "writing the bundle (%s): %s", what, why ? why : "failed");
}

/* The tar.gz on fd: a directory stem/ (0700) holding the members (0600). */
static int write_archive(int fd, const char *stem, const member *m, size_t n, time_t mtime,
                         pal_errbuf *err)
{
    struct archive *a = archive_write_new();
    if (!a)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    int rc = 0;
    struct archive_entry *e = NULL;
    if (archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
        archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_open_fd(a, fd) != ARCHIVE_OK) {
        rc = archive_fail(a, "open", err);
        goto out;
    }
    for (size_t i = 0; i <= n; i++) {
        char path[PATH_MAX];
        /* i == 0 is the directory; members follow */
        snprintf(path, sizeof(path), "%s/%s", stem, i ? m[i - 1].name : "");
        e = archive_entry_new();
        if (!e) {
            rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
            goto out;
        }
        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, i ? AE_IFREG : AE_IFDIR);
        archive_entry_set_perm(e, i ? 0600 : 0700);
        archive_entry_set_size(e, i ? (la_int64_t)m[i - 1].len : 0);
        archive_entry_set_mtime(e, mtime, 0);
        archive_entry_set_uid(e, geteuid());
        archive_entry_set_gid(e, getegid());
        if (archive_write_header(a, e) != ARCHIVE_OK) {
            rc = archive_fail(a, path, err);
            goto out;
        }
        archive_entry_free(e);
        e = NULL;
        size_t done = 0;
        while (i && done < m[i - 1].len) {
            la_ssize_t w = archive_write_data(a, m[i - 1].data + done, m[i - 1].len - done);
            if (w <= 0) {
                rc = archive_fail(a, path, err);
                goto out;
            }
            done += (size_t)w;
        }
    }
    if (archive_write_close(a) != ARCHIVE_OK)
        rc = archive_fail(a, "close", err);
out:
    archive_entry_free(e);
    archive_write_free(a);
    return rc;
}

/* <state>/diagnostics, root-only: created 0700, or put back to 0700. */
static int open_diag_dir(pal_daemon *d, char *path, size_t size, pal_errbuf *err)
{
    int n = snprintf(path, size, "%s/" DIAG_DIR, pal_daemon_paths_of(d)->state_dir);
    if (n < 0 || (size_t)n >= size)
        return pal_err_set(err, PAL_ELIMIT, "state directory path too long");
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return pal_err_set(err, PAL_EIO, "cannot create %s: %m", path);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return pal_err_set(err, PAL_EIO, "cannot open %s: %m", path);
    struct stat st;
    if (fstat(dfd, &st) != 0 || st.st_uid != geteuid()) {
        close(dfd);
        return pal_err_set(err, PAL_EPERM, "%s is not the daemon's own directory", path);
    }
    if ((st.st_mode & 07777) != 0700 && fchmod(dfd, 0700) != 0) {
        close(dfd);
        return pal_err_set(err, PAL_EIO, "cannot make %s private: %m", path);
    }
    return dfd;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Keep the newest DIAG_KEEP bundles (names sort by time) and drop temporaries a crash left. */
static void prune(int dfd)
{
    int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0)
            close(fd);
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        const char *nm = de->d_name;
        if (nm[0] == '.' && strncmp(nm + 1, DIAG_PREFIX, strlen(DIAG_PREFIX)) == 0 &&
            has_suffix(nm, ".tmp")) {
            unlinkat(dfd, nm, 0); /* ours is renamed already: this one is a crash's */
            continue;
        }
        if (strncmp(nm, DIAG_PREFIX, strlen(DIAG_PREFIX)) != 0 || !has_suffix(nm, DIAG_SUFFIX))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **g = realloc(names, ncap * sizeof(*g));
            if (!g)
                break;
            names = g;
            cap = ncap;
        }
        if (!(names[n] = strdup(nm)))
            break;
        n++;
    }
    closedir(dir);
    if (names)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i + DIAG_KEEP < n && unlinkat(dfd, names[i], 0) == 0)
            pal_log(PAL_LOG_INFO, "diagnostics: old bundle %s deleted", names[i]);
        free(names[i]);
    }
    free(names);
}

/* "palisade-diagnostics-YYYYMMDDTHHMMSS.mmmZ" for ms. */
static void bundle_stem(int64_t ms, char *buf, size_t size)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y%m%dT%H%M%S", &tm);
    snprintf(buf, size, DIAG_PREFIX "%s.%03dZ", when, (int)(ms % 1000));
}

typedef struct bundle {
    char stem[96]; /* the name without DIAG_SUFFIX: the directory inside the archive */
    char path[PATH_MAX];
    uint64_t size;
} bundle;

/* Write the members as a new bundle in dfd (dir is its path); lock held. */
static int write_bundle(int dfd, const char *dir, const member *m, size_t n, bundle *out,
                        pal_errbuf *err)
{
    char stem[96], tmp[128], final[128];
    struct stat st;
    /* The name is the time; a second bundle in the same millisecond takes the next one, so
       names stay unique and in time order. */
    int64_t ms = pal_time_now_ms();
    for (int tries = 0;; tries++, ms++) {
        bundle_stem(ms, stem, sizeof(stem));
        snprintf(final, sizeof(final), "%s" DIAG_SUFFIX, stem);
        if (fstatat(dfd, final, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
            break;
        if (tries == 1000)
            return pal_err_set(err, PAL_EEXIST, "no free bundle name in %s", dir);
    }
    snprintf(tmp, sizeof(tmp), ".%s.tmp", stem);
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return pal_err_set(err, PAL_EIO, "cannot create %s/%s: %m", dir, tmp);
    int rc = write_archive(fd, stem, m, n, (time_t)(ms / 1000), err);
    if (rc == 0 && (fsync(fd) != 0 || fstat(fd, &st) != 0))
        rc = pal_err_set(err, PAL_EIO, "writing %s/%s: %m", dir, tmp);
    close(fd);
    /* only a whole bundle ever carries the final name */
    if (rc == 0 && renameat2(dfd, tmp, dfd, final, RENAME_NOREPLACE) != 0)
        rc = pal_err_set(err, PAL_EIO, "cannot rename %s/%s to %s: %m", dir, tmp, final);
    if (rc != 0) {
        unlinkat(dfd, tmp, 0);
        return rc;
    }
    snprintf(out->stem, sizeof(out->stem), "%s", stem);
    snprintf(out->path, sizeof(out->path), "%s/%s", dir, final);
    out->size = (uint64_t)st.st_size;
    return 0;
}

/* ---- operations --------------------------------------------------------------------------- */

static json_t *op_diagnostics(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    static const char *const allowed[] = {NULL};
    pal_errbuf err;
    if (pal_msg_check_fields(pal_ctl_request_args(req), allowed, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);

    member m[8];
    memset(m, 0, sizeof(m));
    size_t n = 0;
    json_t *result = NULL;
    int rc = gather(d, m, &n, &err);
    if (rc != 0) {
        pal_ctl_fail(req, PAL_CODE_INTERNAL, "%s", err.msg);
        goto out;
    }
    pthread_mutex_lock(&diag_lock);
    char dir[PATH_MAX];
    bundle b;
    int dfd = open_diag_dir(d, dir, sizeof(dir), &err);
    rc = dfd < 0 ? dfd : 0;
    if (rc == 0) {
        /* the path an administrator can use from anywhere */
        char *real = realpath(dir, NULL);
        if (real && strlen(real) < sizeof(dir))
            memcpy(dir, real, strlen(real) + 1);
        free(real);
        rc = write_bundle(dfd, dir, m, n, &b, &err);
        if (rc == 0)
            prune(dfd);
        close(dfd);
    }
    pthread_mutex_unlock(&diag_lock);
    if (rc != 0) {
        pal_log(PAL_LOG_ERROR, "diagnostics bundle not written: %s", err.msg);
        pal_ctl_fail(req, PAL_CODE_INTERNAL, "%s", err.msg);
        goto out;
    }
    uid_t uid = pal_ctl_request_uid(req);
    pal_log(PAL_LOG_NOTICE, "diagnostics bundle %s written for uid %u (%llu bytes)", b.path,
            (unsigned)uid, (unsigned long long)b.size);
    if (pal_store_audit_insert(pal_daemon_store(d), uid, "CreateDiagnostics", b.path, NULL, NULL,
                               &err) != 0)
        pal_log(PAL_LOG_ERROR, "cannot audit the diagnostics bundle: %s", err.msg);

    json_t *files = json_array();
    for (size_t i = 0; files && i < n; i++) {
        char name[160];
        snprintf(name, sizeof(name), "%s/%s", b.stem, m[i].name);
        if (json_array_append_new(files, json_string(name)) != 0) {
            json_decref(files);
            files = NULL;
        }
    }
    result = json_object();
    if (!files || !result || pal_msg_set_path(result, "path", b.path, strlen(b.path)) != 0 ||
        put(result, "size", json_integer((json_int_t)b.size)) ||
        put(result, "files", json_incref(files))) {
        json_decref(result);
        result = pal_ctl_fail(req, PAL_CODE_INTERNAL, "out of memory");
    }
    json_decref(files);
out:
    for (size_t i = 0; i < n; i++)
        free(m[i].data);
    return result;
}

static json_t *op_cp_events(pal_ctl_request *req, void *arg)
{
    pal_daemon *d = arg;
    const json_t *args = pal_ctl_request_args(req);
    static const char *const allowed[] = {"limit", NULL};
    pal_errbuf err;
    json_int_t limit = EVENTS_DEFAULT;
    if (pal_msg_check_fields(args, allowed, &err) != 0 ||
        pal_msg_get_int(args, "limit", PAL_MSG_OPTIONAL, 1, PAL_STORE_CP_EVENTS_KEEP, &limit,
                        &err) < 0)
        return pal_ctl_fail(req, PAL_CODE_BAD_REQUEST, "%s", err.msg);
    json_t *res = NULL;
    if (cp_events_json(d, (size_t)limit, &res, &err) != 0)
        return pal_ctl_fail(req, PAL_CODE_INTERNAL, "%s", err.msg);
    return res;
}

/* ---- registration ------------------------------------------------------------------------- */

int pal_daemon_register_diag_ops(pal_daemon *d, pal_ctl_server *srv, pal_errbuf *err)
{
    static const pal_ctl_op ops[] = {
        {"diagnostics", PAL_CTL_ADMIN_ONLY, op_diagnostics},
        {"cp.events", PAL_CTL_ADMIN_ONLY, op_cp_events},
    };
    return pal_ctl_server_register(srv, ops, sizeof(ops) / sizeof(*ops), d, err);
}
