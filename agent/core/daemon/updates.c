/* updates.c — install and roll back signature packages with the daemon running (updates.h). */
#define _GNU_SOURCE
#include "updates.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safepath.h"

#define CURRENT_NAME "current.sig"
#define PREVIOUS_NAME "previous.sig"
#define INCOMING_PREFIX ".incoming-"
#define PREVIOUS_PREFIX ".previous-"
#define COPY_CHUNK (256u * 1024u)

struct pal_updater {
    pthread_mutex_t lock; /* serialises installs and rollbacks */
    pal_daemon *d;
    int dirfd; /* <state>/defs */
    char dir[PATH_MAX];
};

/* Copy src (from offset 0 to EOF, at most max bytes: more is PAL_ELIMIT) into a new
   temporary file of the defs directory, fsync'd. name receives its name. */
static int copy_to_temp(pal_updater *u, int src, const char *prefix, char name[64], uint64_t max,
                        pal_errbuf *err)
{
    char hex[33];
    if (pal_safepath_random_hex(hex) != 0)
        return pal_err_set(err, PAL_EIO, "no random bytes for a temporary name");
    snprintf(name, 64, "%s%s.sig", prefix, hex);
    int out = openat(u->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0)
        return pal_err_set(err, PAL_EIO, "cannot create %s/%s: %s", u->dir, name, strerror(errno));
    char *buf = malloc(COPY_CHUNK);
    int rc = 0;
    uint64_t off = 0;
    if (!buf) {
        rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto fail;
    }
    for (;;) {
        ssize_t n = pread(src, buf, COPY_CHUNK, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = pal_err_set(err, PAL_EIO, "cannot read the package: %s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        if (off + (uint64_t)n > max) {
            rc =
                pal_err_set(err, PAL_ELIMIT, "the package grew past %llu bytes while it was copied",
                            (unsigned long long)max);
            goto fail;
        }
        for (ssize_t w = 0; w < n;) {
            ssize_t k = pwrite(out, buf + w, (size_t)(n - w), (off_t)(off + (uint64_t)w));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0) {
                rc = pal_err_set(err, PAL_EIO, "cannot write %s/%s: %s", u->dir, name,
                                 k < 0 ? strerror(errno) : "short write");
                goto fail;
            }
            w += k;
        }
        off += (uint64_t)n;
    }
    if (fsync(out) != 0) {
        rc = pal_err_set(err, PAL_EIO, "cannot sync %s/%s: %s", u->dir, name, strerror(errno));
        goto fail;
    }
    free(buf);
    if (close(out) != 0) {
        unlinkat(u->dirfd, name, 0);
        return pal_err_set(err, PAL_EIO, "cannot write %s/%s: %s", u->dir, name, strerror(errno));
    }
    return 0;
fail:
    free(buf);
    close(out);
    unlinkat(u->dirfd, name, 0);
    return rc;
}

static void remove_temporaries(pal_updater *u)
{
    int fd = openat(u->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *de;
    int removed = 0;
    while ((de = readdir(dir)) != NULL) {
        if (strncmp(de->d_name, INCOMING_PREFIX, strlen(INCOMING_PREFIX)) == 0 ||
            strncmp(de->d_name, PREVIOUS_PREFIX, strlen(PREVIOUS_PREFIX)) == 0)
            removed |= unlinkat(u->dirfd, de->d_name, 0) == 0;
    }
    closedir(dir);
    if (removed)
        fsync(u->dirfd);
}

int pal_updater_new(pal_daemon *d, pal_updater **out, pal_errbuf *err)
{
    pal_updater *u = calloc(1, sizeof(*u));
    if (!u)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    int n = snprintf(u->dir, sizeof(u->dir), "%s/defs", pal_daemon_paths_of(d)->state_dir);
    if (n < 0 || (size_t)n >= sizeof(u->dir)) {
        free(u);
        return pal_err_set(err, PAL_EINVAL, "state directory path too long");
    }
    if (mkdir(u->dir, 0700) != 0 && errno != EEXIST) {
        free(u);
        return pal_err_set(err, PAL_EIO, "cannot create %s: %s", pal_daemon_paths_of(d)->state_dir,
                           strerror(errno));
    }
    u->dirfd = open(u->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (u->dirfd < 0 || fstat(u->dirfd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
        int e = errno;
        if (u->dirfd >= 0)
            close(u->dirfd);
        free(u);
        return pal_err_set(err, PAL_EPERM,
                           "the signature directory %s must be a directory owned by uid %u and "
                           "not writable by others (%s)",
                           pal_daemon_paths_of(d)->state_dir, (unsigned)geteuid(), strerror(e));
    }
    pthread_mutex_init(&u->lock, NULL);
    u->d = d;
    remove_temporaries(u);
    *out = u;
    return 0;
}

void pal_updater_free(pal_updater *u)
{
    if (!u)
        return;
    close(u->dirfd);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

int pal_updater_fallback(pal_updater *u, pal_errbuf *err)
{
    pal_daemon *d = u->d;
    pal_defs *cur = pal_daemon_defs(d);
    if (cur) {
        pal_defs_unref(cur);
        return 0;
    }
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/" PREVIOUS_NAME, u->dir);
    if (faccessat(u->dirfd, PREVIOUS_NAME, F_OK, AT_SYMLINK_NOFOLLOW) != 0)
        return 0;
    pal_limits lim;
    pal_settings_limits(pal_daemon_settings(d), &lim);
    pal_defs *prev = NULL;
    if (pal_defs_load(path, pal_daemon_keys(d), &lim, &prev, err) != 0)
        return 0;
    pal_daemon_put_in_force(d, prev);
    pal_store_cache_clear(pal_daemon_store(d), NULL);
    return 1;
}

/* Install the package copied into the temporary tmp (removed on failure). */
static int install_temp(pal_updater *u, const char *tmp, const char *what, bool force, uid_t uid,
                        const char *audit_action, pal_update_info *out, pal_errbuf *err)
{
    pal_daemon *d = u->d;
    char tmp_path[PATH_MAX + 80], cur_path[PATH_MAX + 16];
    snprintf(tmp_path, sizeof(tmp_path), "%s/%s", u->dir, tmp);
    snprintf(cur_path, sizeof(cur_path), "%s/" CURRENT_NAME, u->dir);
    pal_limits lim;
    pal_settings_limits(pal_daemon_settings(d), &lim);
    pal_defs *next = NULL, *cur = NULL;
    char prev_tmp[64] = "";
    pal_errbuf why;
    int rc = pal_defs_load(tmp_path, pal_daemon_keys(d), &lim, &next, &why);
    if (rc != 0) {
        pal_err_set(err, rc, "package %s refused: %s", what, why.msg);
        goto fail;
    }
    const pal_sigpkg_info *ni = pal_defs_info(next);
    cur = pal_daemon_defs(d);
    uint64_t cur_version = cur ? pal_defs_info(cur)->version : 0;
    /* the same version again changes nothing a client can see but throws away the
       rollback package (previous.sig becomes the one in force): refused unless forced */
    if (cur && ni->version == cur_version && !force) {
        rc = pal_err_set(err, PAL_EEXIST,
                         "package %s has version %llu, the version already in force "
                         "(force installs it again)",
                         what, (unsigned long long)ni->version);
        goto fail;
    }
    if (cur && ni->version < cur_version && !force) {
        rc = pal_err_set(err, PAL_ESTATE,
                         "package %s has version %llu, lower than version %llu in force "
                         "(force installs it anyway)",
                         what, (unsigned long long)ni->version, (unsigned long long)cur_version);
        goto fail;
    }
    /* keep what is in force for a rollback; without a package in force the old
       previous.sig stays */
    if (cur) {
        if ((rc = copy_to_temp(u, pal_defs_fd(cur), PREVIOUS_PREFIX, prev_tmp, PAL_SIGPKG_MAX_SIZE,
                               err)) != 0)
            goto fail;
        if (renameat(u->dirfd, prev_tmp, u->dirfd, PREVIOUS_NAME) != 0) {
            rc = pal_err_set(err, PAL_EIO, "cannot keep the previous package: %s", strerror(errno));
            goto fail;
        }
        prev_tmp[0] = '\0';
    }
    if (renameat(u->dirfd, tmp, u->dirfd, CURRENT_NAME) != 0) {
        rc = pal_err_set(err, PAL_EIO, "cannot install %s: %s", cur_path, strerror(errno));
        goto fail;
    }
    if (fsync(u->dirfd) != 0) {
        /* the rename is visible; only its durability is in doubt: go on */
        pal_err_set(&why, PAL_EIO, "fsync %s: %s", u->dir, strerror(errno));
    }
    /* the engine under its installed name; the one built on the temporary will do if that
       fails (same bytes, same inode) */
    pal_defs *named = NULL;
    if (pal_defs_load(cur_path, pal_daemon_keys(d), &lim, &named, &why) == 0) {
        pal_defs_unref(next);
        next = named;
    }
    ni = pal_defs_info(next);
    if (out) {
        out->version = ni->version;
        out->created = ni->created;
        out->previous_version = cur_version;
    }
    char oldv[32], newv[32];
    snprintf(oldv, sizeof(oldv), "%llu", (unsigned long long)cur_version);
    snprintf(newv, sizeof(newv), "%llu", (unsigned long long)ni->version);
    pal_daemon_put_in_force(d, next);
    next = NULL;
    pal_store_cache_clear(pal_daemon_store(d), NULL);
    pal_store_meta_set(pal_daemon_store(d), "defs.installed_version", newv, NULL);
    pal_store_audit_insert(pal_daemon_store(d), uid, audit_action, what, cur ? oldv : NULL, newv,
                           NULL);
    pal_defs_unref(cur);
    return 0;
fail:
    if (prev_tmp[0])
        unlinkat(u->dirfd, prev_tmp, 0);
    unlinkat(u->dirfd, tmp, 0);
    pal_defs_unref(next);
    pal_defs_unref(cur);
    return rc;
}

int pal_updater_install(pal_updater *u, const char *path, bool force, uid_t uid,
                        pal_update_info *out, pal_errbuf *err)
{
    if (!u || !path || !*path)
        return pal_err_set(err, PAL_EINVAL, "update: a package path is required");
    if (path[0] != '/')
        return pal_err_set(err, PAL_EINVAL, "the package path must be absolute (got %s)", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return pal_err_set(err, errno == ENOENT ? PAL_ENOTFOUND : PAL_EIO,
                           "cannot open the package %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return pal_err_set(err, PAL_EINVAL, "%s is not a regular file", path);
    }
    /* Refuse an oversized package before a byte is copied; then copy no more than the size
       seen here, so a file that grows while it is copied is refused too (copy_to_temp). */
    if (st.st_size < 0 || (uint64_t)st.st_size > PAL_SIGPKG_MAX_SIZE) {
        close(fd);
        return pal_err_set(err, PAL_ELIMIT,
                           "package %s refused: it is %lld bytes; a signature package is at "
                           "most %llu bytes",
                           path, (long long)st.st_size, (unsigned long long)PAL_SIGPKG_MAX_SIZE);
    }
    pthread_mutex_lock(&u->lock);
    char tmp[64];
    int rc = copy_to_temp(u, fd, INCOMING_PREFIX, tmp, (uint64_t)st.st_size, err);
    close(fd);
    if (rc == PAL_ELIMIT) {
        pal_errbuf why = err ? *err : (pal_errbuf){{0}};
        pal_err_set(err, rc, "package %s refused: %s", path, why.msg);
    }
    if (rc == 0)
        rc = install_temp(u, tmp, path, force, uid, "UpdateSignatures", out, err);
    pthread_mutex_unlock(&u->lock);
    return rc;
}

int pal_updater_rollback(pal_updater *u, uid_t uid, pal_update_info *out, pal_errbuf *err)
{
    if (!u)
        return pal_err_set(err, PAL_EINVAL, "rollback: bad arguments");
    pthread_mutex_lock(&u->lock);
    int rc;
    int fd = openat(u->dirfd, PREVIOUS_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT ? pal_err_set(err, PAL_ENOTFOUND,
                                           "there is no previous signature package to "
                                           "roll back to")
                             : pal_err_set(err, PAL_EIO, "cannot open %s/" PREVIOUS_NAME ": %s",
                                           u->dir, strerror(errno));
        pthread_mutex_unlock(&u->lock);
        return rc;
    }
    char tmp[64];
    rc = copy_to_temp(u, fd, INCOMING_PREFIX, tmp, PAL_SIGPKG_MAX_SIZE, err);
    close(fd);
    if (rc == 0)
        rc =
            install_temp(u, tmp, "the previous package", true, uid, "RollbackSignatures", out, err);
    pthread_mutex_unlock(&u->lock);
    return rc;
}
