/*
 * quarantine.c — quarantine, remove, restore, delete and purge (quarantine.h), and the
 * index from detections to items. The journal's plans and the start-up reconciliation are
 * quarantine_journal.c's.
 *
 * Every operation follows the same pattern: check, journal Pending with the plan, act on
 * the file system through verified directory fds, record, journal Done. The comments at
 * each step say what a crash right there leaves and how pal_quarantine_reconcile
 * (quarantine_journal.c) finishes it.
 */
#define _GNU_SOURCE
#include "quarantine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qspace.h"
#include "qstore.h"
#include "quarantine_internal.h"
#include "safepath.h"

#define STORAGE_SUFFIX ".pq"

/* ---- small helpers ---------------------------------------------------------------------- */

static struct timespec ns_ts(int64_t ns)
{
    struct timespec t;
    t.tv_sec = ns / 1000000000LL;
    t.tv_nsec = ns % 1000000000LL;
    if (t.tv_nsec < 0) {
        t.tv_nsec += 1000000000LL;
        t.tv_sec--;
    }
    return t;
}

/* The store's records take char * fields it never writes through. */
static char *unconst(const char *s)
{
    union {
        const char *c;
        char *m;
    } u = {.c = s};
    return u.m;
}

static int make_name(char *out, const char *prefix, const char *suffix)
{
    char hex[33];
    if (pal_safepath_random_hex(hex) != 0)
        return PAL_EIO;
    snprintf(out, NAME_BUF, "%s%s%s", prefix, hex, suffix);
    return 0;
}

/* ---- the stored items (qstore.h) --------------------------------------------------------- */

/* Open a stored item and check its header, map and content against the record. On 0, *fd
   is the open storage file and *it its header and map. */
static int storage_verify(pal_quarantine *q, const pal_quarantine_item *rec, int *fd,
                          pal_qstore_item *it, pal_errbuf *err)
{
    int sfd = openat(q->dirfd, rec->storage_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (sfd < 0)
        return pal_err_set(err, PAL_EFORMAT, "the stored file of quarantine item %lld is %s",
                           (long long)rec->id, errno == ENOENT ? "missing" : strerror(errno));
    struct stat st;
    pal_errbuf why;
    int rc = 0;
    if (fstat(sfd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = pal_err_set(err, PAL_EFORMAT, "the stored file of quarantine item %lld is not a file",
                         (long long)rec->id);
        goto fail;
    }
    if ((rc = pal_qstore_open(sfd, (uint64_t)st.st_size, it, &why)) != 0) {
        rc = pal_err_set(err, rc, "the stored file of quarantine item %lld is damaged: %s",
                         (long long)rec->id, why.msg);
        goto fail;
    }
    if (it->map.size != rec->size) {
        rc = pal_err_set(err, PAL_EFORMAT,
                         "the stored file of quarantine item %lld has %llu bytes, its record "
                         "says %llu",
                         (long long)rec->id, (unsigned long long)it->map.size,
                         (unsigned long long)rec->size);
        goto fail_item;
    }
    uint8_t sha[32];
    if ((rc = pal_qstore_decode(sfd, it, -1, sha, &why)) != 0) {
        rc = pal_err_set(err, rc, "the stored file of quarantine item %lld is damaged: %s",
                         (long long)rec->id, why.msg);
        goto fail_item;
    }
    char hex[65];
    pal_store_sha256_hex(sha, hex);
    if (memcmp(sha, it->sha256, 32) != 0 || strcmp(hex, rec->sha256) != 0) {
        rc = pal_err_set(err, PAL_EFORMAT,
                         "the stored content of quarantine item %lld does not match its "
                         "SHA-256 %s (got %s): it is damaged and was not restored",
                         (long long)rec->id, rec->sha256, hex);
        goto fail_item;
    }
    *fd = sfd;
    return 0;
fail_item:
    pal_qstore_item_clear(it);
fail:
    close(sfd);
    return rc;
}

/* SHA-256 of a regular file named name in dirfd, with its lstat; 0 or negative. */
int pal_quarantine_hash_entry(int dirfd, const char *name, struct stat *st, uint8_t sha[32])
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return PAL_ENOTFOUND;
    int rc = PAL_ENOTFOUND;
    uint64_t size = 0;
    if (fstat(fd, st) == 0 && S_ISREG(st->st_mode))
        rc = pal_qstore_hash_fd(fd, sha, &size, NULL);
    close(fd);
    return rc;
}

/* ---- open ------------------------------------------------------------------------------- */

int pal_quarantine_open(pal_store *st, const char *dir, pal_quarantine **out, pal_errbuf *err)
{
    if (!st || !dir || !out)
        return pal_err_set(err, PAL_EINVAL, "quarantine_open: bad arguments");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return pal_err_set(err, PAL_EIO, "cannot create the quarantine directory %s: %s", dir,
                           strerror(errno));
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return pal_err_set(err, errno == ELOOP || errno == ENOTDIR ? PAL_EPERM : PAL_EIO,
                           "cannot open the quarantine directory %s: %s", dir,
                           errno == ELOOP ? "it is a symbolic link" : strerror(errno));
    struct stat s;
    if (fstat(fd, &s) != 0 || s.st_uid != geteuid()) {
        close(fd);
        return pal_err_set(err, PAL_EPERM, "the quarantine directory %s must be owned by uid %u",
                           dir, (unsigned)geteuid());
    }
    /* ours but too open (an older install, a manual chmod): close it before any use */
    if ((s.st_mode & 077) && fchmod(fd, 0700) != 0) {
        close(fd);
        return pal_err_set(err, PAL_EPERM, "cannot make the quarantine directory %s private: %s",
                           dir, strerror(errno));
    }
    pal_quarantine *q = calloc(1, sizeof(*q));
    if (!q) {
        close(fd);
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&q->lock, NULL);
    q->store = st;
    q->dirfd = fd;
    *out = q;
    return 0;
}

void pal_quarantine_free(pal_quarantine *q)
{
    if (!q)
        return;
    close(q->dirfd);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

/* ---- taking a user's file out of place -------------------------------------------------- */

/* A user's file renamed to a hidden name in its verified directory and opened. */
typedef struct taken {
    pal_safepath sp;
    char tmp[NAME_BUF];
    int fd;
    struct stat st; /* fstat of fd: the scanned inode */
    int64_t op_id;
} taken;

static int check_scanned(const struct stat *now, const struct stat *scanned, const char *path,
                         pal_errbuf *err)
{
    if (!S_ISREG(now->st_mode))
        return pal_err_set(err, PAL_ERACE,
                           "%s is no longer a regular file (replaced after the scan); nothing "
                           "was done",
                           path);
    if (!pal_safepath_same_file(now, scanned))
        return pal_err_set(err, PAL_ERACE,
                           "%s was replaced or modified after the scan (device, inode, size or "
                           "mtime differ); nothing was done",
                           path);
    return 0;
}

/* Put a taken file back under its name; says in err where it is when that fails. */
static void untake(pal_quarantine *q, taken *t, const char *path, int code, pal_errbuf *err)
{
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    int e = rename_noreplace(t->sp.dirfd, t->tmp, t->sp.name);
    if (e != 0 && e != -ENOENT) {
        pal_errbuf why = *err;
        pal_err_set(err, code,
                    "%s; the file could not be put back (%s) and is now named %s in the "
                    "directory of %s",
                    why.msg, strerror(-e), t->tmp, path);
    }
    pal_quarantine_journal_end(q, t->op_id, PAL_FILEOP_FAILED, err->msg);
    pal_safepath_close(&t->sp);
}

static int take(pal_quarantine *q, const pal_qfile_req *r, pal_fileop_kind kind,
                const char *storage, const char *prefix, taken *t, pal_errbuf *err)
{
    t->sp = (pal_safepath)PAL_SAFEPATH_INIT;
    t->fd = -1;
    t->op_id = 0;
    if (!r->path || r->path[0] != '/' || !r->scanned)
        return pal_err_set(err, PAL_EINVAL, "remediation needs an absolute path and its identity");
    if (strlen(r->path) >= PAL_STORE_MAX_TEXT)
        return pal_err_set(err, PAL_EINVAL,
                           "the path is too long to be recorded; nothing was done");
    pal_errbuf why;
    int rc = pal_safepath_open(r->path, &t->sp, &why);
    if (rc != 0)
        return pal_err_set(err, rc, "cannot reach %s safely: %s; nothing was done", r->path,
                           why.msg);
    struct stat now;
    int e = pal_safepath_lstat(&t->sp, &now);
    if (e != 0) {
        rc = pal_err_set(err, e == -ENOENT ? PAL_ERACE : PAL_EIO,
                         "%s: %s since the scan; nothing was done", r->path,
                         e == -ENOENT ? "gone" : strerror(-e));
        goto fail;
    }
    if ((rc = check_scanned(&now, r->scanned, r->path, err)) != 0)
        goto fail;
    if (make_name(t->tmp, prefix, "") != 0) {
        rc = pal_err_set(err, PAL_EIO, "no random bytes for a temporary name");
        goto fail;
    }
    char *plan = pal_quarantine_plan_user(t->tmp, r->scanned);
    if (!plan) {
        rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto fail;
    }
    pal_fileop f = {.kind = kind,
                    .detection_id = r->detection_id,
                    .path = unconst(r->path),
                    .storage_name = unconst(storage),
                    .detail = plan};
    rc = pal_store_fileop_begin(q->store, &f, &t->op_id, err);
    free(plan);
    if (rc != 0)
        goto fail;

    /* From here a crash leaves a Pending step: reconcile puts the hidden name back. */
    e = rename_noreplace(t->sp.dirfd, t->sp.name, t->tmp);
    if (e != 0) {
        rc = pal_err_set(err, e == -ENOENT ? PAL_ERACE : PAL_EIO,
                         "cannot take %s out of place: %s; nothing was done", r->path,
                         e == -ENOENT ? "it vanished" : strerror(-e));
        pal_quarantine_journal_end(q, t->op_id, PAL_FILEOP_FAILED, err->msg);
        goto fail;
    }
    /* the name may have been swapped between the check and the rename: check what moved */
    struct stat moved;
    if (fstatat(t->sp.dirfd, t->tmp, &moved, AT_SYMLINK_NOFOLLOW) != 0) {
        pal_err_set(err, PAL_ERACE, "%s was replaced after the scan; nothing was done", r->path);
        untake(q, t, r->path, PAL_ERACE, err);
        return PAL_ERACE;
    }
    if ((rc = check_scanned(&moved, r->scanned, r->path, err)) != 0) {
        untake(q, t, r->path, rc, err);
        return rc;
    }
    t->fd = openat(t->sp.dirfd, t->tmp,
                   O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_NOATIME);
    if (t->fd < 0 && errno == EPERM)
        t->fd =
            openat(t->sp.dirfd, t->tmp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (t->fd < 0 || fstat(t->fd, &t->st) != 0) {
        pal_err_set(err, PAL_ERACE, "%s was replaced after the scan (%s); nothing was done",
                    r->path, strerror(errno));
        untake(q, t, r->path, PAL_ERACE, err);
        return PAL_ERACE;
    }
    if ((rc = check_scanned(&t->st, r->scanned, r->path, err)) != 0) {
        untake(q, t, r->path, rc, err);
        return rc;
    }
    return 0;
fail:
    pal_safepath_close(&t->sp);
    return rc;
}

/* Unlink the hidden name if it still holds the taken inode. 0, PAL_ERACE, PAL_EIO. */
static int unlink_taken(taken *t, const char *path, pal_errbuf *err)
{
    struct stat now;
    if (fstatat(t->sp.dirfd, t->tmp, &now, AT_SYMLINK_NOFOLLOW) != 0 ||
        now.st_dev != t->st.st_dev || now.st_ino != t->st.st_ino)
        return pal_err_set(err, PAL_ERACE,
                           "%s was moved by someone else while it was being remediated", path);
    if (unlinkat(t->sp.dirfd, t->tmp, 0) != 0)
        return pal_err_set(err, PAL_EIO, "cannot remove %s: %s", path, strerror(errno));
    fsync_dir(t->sp.dirfd);
    return 0;
}

/* ---- quarantine ------------------------------------------------------------------------- */

/* A quarantine refused by a limit (qspace.h): the file stays, and the message says so. */
static void limit_refused(pal_errbuf *err, const char *path)
{
    pal_errbuf why = *err;
    pal_err_set(err, PAL_ELIMIT, "%s; %s was left in place", why.msg, path ? path : "the file");
}

int pal_quarantine_file(pal_quarantine *q, const pal_qfile_req *r, int64_t *item_id,
                        pal_errbuf *err)
{
    pal_errbuf local;
    if (!err)
        err = &local;
    if (!q || !r || !item_id || !r->threat || !*r->threat)
        return pal_err_set(err, PAL_EINVAL, "quarantine_file: bad arguments");
    char storage[NAME_BUF], stmp[NAME_BUF + 8];
    if (make_name(storage, "", STORAGE_SUFFIX) != 0)
        return pal_err_set(err, PAL_EIO, "no random bytes for a storage name");
    storage_tmp_name(storage, stmp, sizeof(stmp));

    pthread_mutex_lock(&q->lock);
    /* a file that cannot fit by its scanned allocation is refused before it is touched */
    int rc;
    if (r->limits && r->scanned &&
        (rc = pal_qspace_check(
             q->dirfd, r->limits,
             (uint64_t)r->scanned->st_blocks * 512u + pal_qspace_block_size(q->dirfd), err)) != 0) {
        limit_refused(err, r->path);
        pthread_mutex_unlock(&q->lock);
        return rc;
    }
    taken t;
    rc = take(q, r, PAL_FILEOP_QUARANTINE, storage, USER_TMP_QUARANTINE, &t, err);
    if (rc != 0) {
        pthread_mutex_unlock(&q->lock);
        return rc;
    }
    int stored = 0; /* 1: stmp exists, 2: storage exists */
    int64_t id = 0;
    int sfd = -1;
    pal_qstore_map map = {0};
    pal_errbuf why;
    uint64_t blk = pal_qspace_block_size(q->dirfd);
    if ((rc = pal_qstore_map_fd(t.fd, (uint64_t)t.st.st_size, &map, &why)) != 0) {
        pal_err_set(err, rc, "cannot copy %s into the quarantine: %s", r->path, why.msg);
        goto undo;
    }
    /* the exact space, now that the data extents are known */
    if (r->limits && (rc = pal_qspace_check(q->dirfd, r->limits, pal_qstore_stored_bytes(&map, blk),
                                            err)) != 0) {
        limit_refused(err, r->path);
        goto undo;
    }
    sfd = openat(q->dirfd, stmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (sfd < 0) {
        rc = pal_err_set(err, PAL_EIO, "cannot create a file in the quarantine directory: %s",
                         strerror(errno));
        goto undo;
    }
    stored = 1;
    uint8_t sha[32];
    uint64_t moved = 0;
    if ((rc = pal_qstore_write(t.fd, &map, sfd, blk, sha, &moved, &why)) != 0) {
        pal_err_set(err, rc, "cannot copy %s into the quarantine: %s", r->path, why.msg);
        goto undo;
    }
    struct stat after;
    if (moved != (uint64_t)t.st.st_size || fstat(t.fd, &after) != 0 ||
        !pal_safepath_same_file(&after, &t.st)) {
        rc = pal_err_set(err, PAL_ERACE, "%s changed while it was being copied; nothing was done",
                         r->path);
        goto undo;
    }
    if (r->sha256 && memcmp(r->sha256, sha, 32) != 0) {
        rc = pal_err_set(err, PAL_ERACE,
                         "the content of %s changed since the scan (SHA-256 differs); nothing "
                         "was done",
                         r->path);
        goto undo;
    }
    int e = fsync(sfd) == 0 ? 0 : -errno;
    if (e == 0 && close(sfd) != 0)
        e = -errno;
    sfd = -1;
    if (e == 0 && renameat(q->dirfd, stmp, q->dirfd, storage) != 0)
        e = -errno;
    if (e != 0) {
        rc = pal_err_set(err, PAL_EIO, "cannot store %s in the quarantine: %s", r->path,
                         strerror(-e));
        goto undo;
    }
    stored = 2;
    if ((e = fsync_dir(q->dirfd)) != 0) {
        rc = pal_err_set(err, PAL_EIO, "cannot sync the quarantine directory: %s", strerror(-e));
        goto undo;
    }

    /* The point of no return: once the record exists, reconcile completes the step. */
    pal_quarantine_item item = {
        .detection_id = r->detection_id,
        .threat_name = unconst(r->threat),
        .original_path = unconst(r->path),
        .owner = t.st.st_uid,
        .group = t.st.st_gid,
        .mode = t.st.st_mode,
        .atime_ns = ts_ns(&t.st.st_atim),
        .mtime_ns = ts_ns(&t.st.st_mtim),
        .ctime_ns = ts_ns(&t.st.st_ctim),
        .size = moved,
        .storage_name = storage,
    };
    pal_store_sha256_hex(sha, item.sha256);
    if ((rc = pal_store_quarantine_insert(q->store, &item, &id, err)) != 0)
        goto undo;
    pal_qstore_map_clear(&map);
    close(t.fd);
    t.fd = -1;
    if ((rc = unlink_taken(&t, r->path, err)) != 0) {
        /* the copy is dropped: the original is not removed, so it is not in quarantine */
        pal_store_quarantine_delete(q->store, id, NULL);
        unlinkat(q->dirfd, storage, 0);
        fsync_dir(q->dirfd);
        struct stat now;
        if (fstatat(t.sp.dirfd, t.tmp, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
            now.st_dev == t.st.st_dev && now.st_ino == t.st.st_ino) {
            untake(q, &t, r->path, rc, err);
        } else {
            pal_errbuf first = *err;
            pal_err_set(err, rc, "%s; it is not in quarantine", first.msg);
            pal_quarantine_journal_end(q, t.op_id, PAL_FILEOP_FAILED, err->msg);
            pal_safepath_close(&t.sp);
        }
        pthread_mutex_unlock(&q->lock);
        return rc;
    }
    char detail[96];
    snprintf(detail, sizeof(detail), "quarantined as item %lld", (long long)id);
    pal_quarantine_journal_end(q, t.op_id, PAL_FILEOP_DONE, detail);
    pal_safepath_close(&t.sp);
    pthread_mutex_unlock(&q->lock);
    *item_id = id;
    return 0;

undo:
    pal_qstore_map_clear(&map);
    if (sfd >= 0)
        close(sfd);
    if (stored)
        unlinkat(q->dirfd, stored == 2 ? storage : stmp, 0);
    fsync_dir(q->dirfd);
    untake(q, &t, r->path, rc, err);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int pal_quarantine_delete_file(pal_quarantine *q, const pal_qfile_req *r, pal_errbuf *err)
{
    pal_errbuf local;
    if (!err)
        err = &local;
    if (!q || !r)
        return pal_err_set(err, PAL_EINVAL, "delete_file: bad arguments");
    pthread_mutex_lock(&q->lock);
    taken t;
    int rc = take(q, r, PAL_FILEOP_REMOVE, NULL, USER_TMP_REMOVE, &t, err);
    if (rc != 0) {
        pthread_mutex_unlock(&q->lock);
        return rc;
    }
    if (r->sha256) {
        uint8_t sha[32];
        uint64_t moved = 0;
        rc = pal_qstore_hash_fd(t.fd, sha, &moved, err);
        if (rc == 0 && memcmp(sha, r->sha256, 32) != 0)
            rc = pal_err_set(err, PAL_ERACE,
                             "the content of %s changed since the scan (SHA-256 differs); "
                             "nothing was done",
                             r->path);
        if (rc != 0) {
            untake(q, &t, r->path, rc, err);
            pthread_mutex_unlock(&q->lock);
            return rc;
        }
    }
    close(t.fd);
    t.fd = -1;
    rc = unlink_taken(&t, r->path, err);
    pal_quarantine_journal_end(q, t.op_id, rc == 0 ? PAL_FILEOP_DONE : PAL_FILEOP_FAILED,
                               rc == 0 ? "removed" : err->msg);
    pal_safepath_close(&t.sp);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* ---- restore ---------------------------------------------------------------------------- */

/* Delete the record, then the stored file: a record never points to nothing. */
void pal_quarantine_drop_item(pal_quarantine *q, const pal_quarantine_item *rec)
{
    pal_store_quarantine_delete(q->store, rec->id, NULL);
    unlinkat(q->dirfd, rec->storage_name, 0);
    fsync_dir(q->dirfd);
}

void pal_restore_result_clear(pal_restore_result *res)
{
    if (!res)
        return;
    free(res->path);
    memset(res, 0, sizeof(*res));
}

/* dest resolved; a destination that is an existing directory receives the original name. */
static int restore_target(const pal_quarantine_item *rec, const char *dest, bool given,
                          pal_safepath *sp, char **path, pal_errbuf *err)
{
    pal_errbuf why;
    int rc = pal_safepath_open(dest, sp, &why);
    if (rc != 0)
        return pal_err_set(err, rc, "cannot restore to %s: %s; nothing was written", dest, why.msg);
    struct stat cur;
    if (given && pal_safepath_lstat(sp, &cur) == 0 && S_ISDIR(cur.st_mode)) {
        const char *base = strrchr(rec->original_path, '/') + 1;
        size_t dl = strlen(dest);
        char *full = malloc(dl + strlen(base) + 2);
        if (!full)
            return pal_err_set(err, PAL_ENOMEM, "out of memory");
        snprintf(full, dl + strlen(base) + 2, "%s%s%s", dest, dest[dl - 1] == '/' ? "" : "/", base);
        pal_safepath_close(sp);
        rc = pal_safepath_open(full, sp, &why);
        if (rc != 0) {
            pal_err_set(err, rc, "cannot restore to %s: %s; nothing was written", full, why.msg);
            free(full);
            return rc;
        }
        *path = full;
        return 0;
    }
    *path = strdup(dest);
    return *path ? 0 : pal_err_set(err, PAL_ENOMEM, "out of memory");
}

int pal_quarantine_restore(pal_quarantine *q, const pal_restore_req *r, pal_restore_result *res,
                           pal_errbuf *err)
{
    if (!q || !r)
        return pal_err_set(err, PAL_EINVAL, "restore: bad arguments");
    pal_errbuf local;
    if (!err)
        err = &local;
    pthread_mutex_lock(&q->lock);
    pal_quarantine_item rec = {0};
    pal_safepath sp = PAL_SAFEPATH_INIT;
    int sfd = -1, tfd = -1, rc;
    int64_t op_id = 0;
    char tmp[NAME_BUF] = "";
    char *dest = NULL;
    bool allowed = false;
    pal_qstore_item it = {0};
    if ((rc = pal_store_quarantine_get(q->store, r->id, &rec, err)) != 0)
        goto out;
    const char *want = r->dest ? r->dest : rec.original_path;
    if (want[0] != '/' || strlen(want) >= PAL_STORE_MAX_TEXT - NAME_MAX - 2) {
        rc = pal_err_set(err, PAL_EINVAL,
                         "the destination must be an absolute path of "
                         "reasonable length");
        goto out;
    }
    if ((rc = storage_verify(q, &rec, &sfd, &it, err)) != 0)
        goto out;
    if ((rc = restore_target(&rec, want, r->dest != NULL, &sp, &dest, err)) != 0)
        goto out;
    struct stat cur;
    int e = pal_safepath_lstat(&sp, &cur);
    if (e != 0 && e != -ENOENT) {
        rc = pal_err_set(err, PAL_EIO, "cannot examine %s: %s; nothing was written", dest,
                         strerror(-e));
        goto out;
    }
    if (e == 0 && S_ISDIR(cur.st_mode)) {
        rc = pal_err_set(err, PAL_EEXIST, "%s is a directory; nothing was written", dest);
        goto out;
    }
    if (e == 0 && !r->force) {
        rc = pal_err_set(err, PAL_EEXIST, "%s exists (force replaces it); nothing was written",
                         dest);
        goto out;
    }
    if (make_name(tmp, USER_TMP_RESTORE, "") != 0) {
        rc = pal_err_set(err, PAL_EIO, "no random bytes for a temporary name");
        goto out;
    }
    char *plan = pal_quarantine_plan_restore(tmp, rec.id, r->allow, r->uid);
    if (!plan) {
        rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto out;
    }
    pal_fileop f = {.kind = PAL_FILEOP_RESTORE,
                    .detection_id = rec.detection_id,
                    .quarantine_id = rec.id,
                    .path = dest,
                    .storage_name = rec.storage_name,
                    .detail = plan};
    rc = pal_store_fileop_begin(q->store, &f, &op_id, err);
    free(plan);
    if (rc != 0)
        goto out;

    /* a crash from here to the rename leaves tmp: reconcile deletes it, the item stays */
    tfd = openat(sp.dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                 0600);
    if (tfd < 0) {
        rc = pal_err_set(err, PAL_EIO, "cannot create a file beside %s: %s", dest, strerror(errno));
        goto fail_journal;
    }
    /* the extents are written, the holes stay holes: sparse as the original was */
    uint8_t sha[32];
    pal_errbuf why;
    if ((rc = pal_qstore_decode(sfd, &it, tfd, sha, &why)) != 0) {
        pal_err_set(err, rc, "cannot write %s: %s", dest, why.msg);
        goto fail_tmp;
    }
    if (memcmp(sha, it.sha256, 32) != 0) {
        rc = pal_err_set(err, PAL_EFORMAT,
                         "the stored content of quarantine item %lld changed while it was "
                         "restored; nothing was restored",
                         (long long)rec.id);
        goto fail_tmp;
    }
    /* owner first: chown clears set-id bits, which the mode then puts back */
    struct timespec times[2] = {ns_ts(rec.atime_ns), ns_ts(rec.mtime_ns)};
    if (fchown(tfd, rec.owner, rec.group) != 0 || fchmod(tfd, (mode_t)(rec.mode & 07777)) != 0 ||
        futimens(tfd, times) != 0 || fsync(tfd) != 0) {
        rc = pal_err_set(err, PAL_EIO, "cannot set the owner, mode or times of %s: %s", dest,
                         strerror(errno));
        goto fail_tmp;
    }
    struct stat mine, placed;
    if (fstat(tfd, &mine) != 0) {
        rc = pal_err_set(err, PAL_EIO, "cannot examine %s: %s", dest, strerror(errno));
        goto fail_tmp;
    }
    if (r->force)
        e = renameat(sp.dirfd, tmp, sp.dirfd, sp.name) == 0 ? 0 : -errno;
    else
        e = rename_noreplace(sp.dirfd, tmp, sp.name);
    if (e != 0) {
        rc = pal_err_set(err, e == -EEXIST ? PAL_EEXIST : PAL_EIO, "cannot put %s in place: %s",
                         dest, e == -EEXIST ? "it exists now" : strerror(-e));
        goto fail_tmp;
    }
    close(tfd);
    tfd = -1;
    fsync_dir(sp.dirfd);
    /* the directory's owner could have swapped the temporary name before the rename: the
       item is dropped only if what is in place is the file written here */
    if (fstatat(sp.dirfd, sp.name, &placed, AT_SYMLINK_NOFOLLOW) != 0 ||
        placed.st_dev != mine.st_dev || placed.st_ino != mine.st_ino) {
        rc = pal_err_set(err, PAL_ERACE,
                         "%s was replaced by someone else during the restore; the item stays "
                         "in quarantine",
                         dest);
        goto fail_journal;
    }

    /* the file is in place: from here reconcile rolls forward */
    if (r->allow) {
        int arc = pal_store_allowed_add(q->store, PAL_ALLOW_SHA256, rec.sha256, r->uid, NULL);
        allowed = arc == 0 || arc == PAL_EEXIST;
    }
    pal_quarantine_drop_item(q, &rec);
    char detail[64];
    snprintf(detail, sizeof(detail), "restored item %lld", (long long)rec.id);
    pal_quarantine_journal_end(q, op_id, PAL_FILEOP_DONE, detail);
    char idtxt[32];
    snprintf(idtxt, sizeof(idtxt), "%lld", (long long)rec.id);
    pal_store_audit_insert(q->store, r->uid, "RestoreQuarantineItem", idtxt, rec.original_path,
                           dest, NULL);
    if (res) {
        res->path = dest;
        dest = NULL;
        res->allowed = allowed;
        memcpy(res->sha256, rec.sha256, sizeof(res->sha256));
    }
    rc = 0;
    goto out;

fail_tmp:
    if (tfd >= 0)
        close(tfd);
    tfd = -1;
    unlinkat(sp.dirfd, tmp, 0);
    fsync_dir(sp.dirfd);
fail_journal:
    pal_quarantine_journal_end(q, op_id, PAL_FILEOP_FAILED, err->msg);
out:
    pal_qstore_item_clear(&it);
    if (sfd >= 0)
        close(sfd);
    free(dest);
    pal_safepath_close(&sp);
    pal_quarantine_item_clear(&rec);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* ---- remove and purge ------------------------------------------------------------------- */

static int remove_locked(pal_quarantine *q, const pal_quarantine_item *rec, pal_fileop_kind kind,
                         uid_t uid, pal_errbuf *err)
{
    char *plan = pal_quarantine_plan_item(rec->id);
    if (!plan)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    pal_fileop f = {.kind = kind,
                    .detection_id = rec->detection_id,
                    .quarantine_id = rec->id,
                    .path = rec->original_path,
                    .storage_name = rec->storage_name,
                    .detail = plan};
    int64_t op_id = 0;
    int rc = pal_store_fileop_begin(q->store, &f, &op_id, err);
    free(plan);
    if (rc != 0)
        return rc;
    pal_quarantine_drop_item(q, rec);
    pal_quarantine_journal_end(q, op_id, PAL_FILEOP_DONE,
                               kind == PAL_FILEOP_PURGE ? "retention expired" : "removed");
    char idtxt[32];
    snprintf(idtxt, sizeof(idtxt), "%lld", (long long)rec->id);
    pal_store_audit_insert(
        q->store, uid, kind == PAL_FILEOP_PURGE ? "PurgeQuarantineItem" : "RemoveQuarantineItem",
        idtxt, rec->original_path, NULL, NULL);
    return 0;
}

int pal_quarantine_remove(pal_quarantine *q, int64_t id, uid_t uid, pal_errbuf *err)
{
    if (!q)
        return pal_err_set(err, PAL_EINVAL, "remove: bad arguments");
    pthread_mutex_lock(&q->lock);
    pal_quarantine_item rec = {0};
    int rc = pal_store_quarantine_get(q->store, id, &rec, err);
    if (rc == 0)
        rc = remove_locked(q, &rec, PAL_FILEOP_REMOVE, uid, err);
    pal_quarantine_item_clear(&rec);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int pal_quarantine_purge(pal_quarantine *q, uint64_t days, int64_t now_ms, size_t *purged,
                         pal_errbuf *err)
{
    if (!q)
        return pal_err_set(err, PAL_EINVAL, "purge: bad arguments");
    size_t n_purged = 0;
    int rc = 0;
    if (days > 0) {
        int64_t cutoff = now_ms - (int64_t)days * 86400000LL;
        pthread_mutex_lock(&q->lock);
        pal_quarantine_item *items = NULL;
        size_t n = 0;
        rc = pal_store_quarantine_list(q->store, PAL_STORE_MAX_LIMIT, &items, &n, err);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (items[i].quarantined_at >= cutoff)
                continue;
            rc = remove_locked(q, &items[i], PAL_FILEOP_PURGE, PAL_UID_DAEMON, err);
            if (rc == 0)
                n_purged++;
        }
        pal_quarantine_items_free(items, n);
        pthread_mutex_unlock(&q->lock);
    }
    if (purged)
        *purged = n_purged;
    return rc;
}
