/*
 * quarantine_journal.c — the quarantine's journal (quarantine.h, "Crash safety"): the plan
 * each step records as JSON before it touches the file system (hidden names, the scanned
 * identity, the item), the end of a step, and pal_quarantine_reconcile, which at start-up
 * rolls every step a crash left Pending forward or back from its plan and removes the
 * temporary files left in the quarantine directory.
 */
#define _GNU_SOURCE
#include "quarantine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quarantine_internal.h"
#include "safepath.h"

/* ---- the plans each step records, and its end ------------------------------------------- */

/* Read back by plan_parse below: the keys written here are the ones reconcile trusts. */

char *pal_quarantine_plan_user(const char *tmp, const struct stat *id)
{
    json_t *o = json_pack("{ss sI sI sI sI}", "tmp", tmp, "dev", (json_int_t)id->st_dev, "ino",
                          (json_int_t)id->st_ino, "size", (json_int_t)id->st_size, "mtime_ns",
                          (json_int_t)ts_ns(&id->st_mtim));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

char *pal_quarantine_plan_restore(const char *tmp, int64_t item, bool allow, uid_t uid)
{
    json_t *o =
        json_pack("{ss sI sb sI}", "tmp", tmp, "item", (json_int_t)item, "allow", (int)allow, "uid",
                  (json_int_t)(uid == PAL_UID_DAEMON ? -1 : (json_int_t)uid));
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

char *pal_quarantine_plan_item(int64_t item)
{
    json_t *o = json_pack("{sI}", "item", (json_int_t)item);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

/* Best effort: a step whose end could not be recorded stays Pending and is finished again
   by the next start's reconciliation, which is idempotent. */
void pal_quarantine_journal_end(pal_quarantine *q, int64_t op_id, pal_fileop_state state,
                                const char *detail)
{
    if (op_id > 0)
        pal_store_fileop_finish(q->store, op_id, state, detail, NULL);
}

/* ---- reconcile -------------------------------------------------------------------------- */

typedef struct plan {
    char tmp[NAME_BUF]; /* "" when none */
    uint64_t dev, ino;
    int64_t item;
    bool allow;
    uid_t uid;
} plan;

/* A hidden name is one of ours only if it has our prefix and 32 hex digits. */
static bool our_tmp_name(const char *s)
{
    static const char *const prefixes[] = {USER_TMP_QUARANTINE, USER_TMP_REMOVE, USER_TMP_RESTORE};
    for (size_t i = 0; i < 3; i++) {
        size_t pl = strlen(prefixes[i]);
        if (strncmp(s, prefixes[i], pl) != 0)
            continue;
        const char *h = s + pl;
        if (strlen(h) != 32)
            return false;
        for (; *h; h++)
            if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
                return false;
        return true;
    }
    return false;
}

static void plan_parse(const char *detail, plan *p)
{
    memset(p, 0, sizeof(*p));
    p->uid = PAL_UID_DAEMON;
    json_t *o = detail ? json_loads(detail, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    const char *tmp = json_string_value(json_object_get(o, "tmp"));
    if (tmp && our_tmp_name(tmp))
        snprintf(p->tmp, sizeof(p->tmp), "%s", tmp);
    p->dev = (uint64_t)json_integer_value(json_object_get(o, "dev"));
    p->ino = (uint64_t)json_integer_value(json_object_get(o, "ino"));
    p->item = (int64_t)json_integer_value(json_object_get(o, "item"));
    p->allow = json_is_true(json_object_get(o, "allow"));
    json_int_t uid = json_integer_value(json_object_get(o, "uid"));
    if (json_is_integer(json_object_get(o, "uid")) && uid >= 0)
        p->uid = (uid_t)uid;
    json_decref(o);
}

typedef struct rec_ctx {
    pal_quarantine *q;
    pal_reconcile_stats *stats;
    void (*note)(void *ctx, const char *line);
    void *note_ctx;
} rec_ctx;

static void note(rec_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(rec_ctx *c, const char *fmt, ...)
{
    if (!c->note)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    c->note(c->note_ctx, line);
}

static int find_by_storage(pal_store *st, const char *storage, pal_quarantine_item *out)
{
    pal_quarantine_item *items = NULL;
    size_t n = 0;
    int rc = pal_store_quarantine_list(st, PAL_STORE_MAX_LIMIT, &items, &n, NULL);
    if (rc != 0)
        return rc;
    rc = PAL_ENOTFOUND;
    for (size_t i = 0; i < n; i++) {
        if (items[i].storage_name && strcmp(items[i].storage_name, storage) == 0) {
            *out = items[i];
            memset(&items[i], 0, sizeof(items[i]));
            rc = 0;
            break;
        }
    }
    pal_quarantine_items_free(items, n);
    return rc;
}

static void set_detection(rec_ctx *c, const pal_fileop *f, pal_det_action action,
                          pal_det_result result, const char *detail)
{
    if (f->detection_id > 0)
        pal_store_detection_set_action(c->q->store, f->detection_id, action, result, detail, 0,
                                       NULL);
}

static void reconcile_quarantine(rec_ctx *c, const pal_fileop *f, const plan *p)
{
    pal_quarantine *q = c->q;
    char stmp[NAME_BUF + 8] = "";
    if (f->storage_name && !strchr(f->storage_name, '/'))
        storage_tmp_name(f->storage_name, stmp, sizeof(stmp));
    pal_quarantine_item rec = {0};
    bool have_rec = f->storage_name && find_by_storage(q->store, f->storage_name, &rec) == 0;
    pal_safepath sp = PAL_SAFEPATH_INIT;
    bool reach = pal_safepath_open(f->path, &sp, NULL) == 0;
    char detail[256];
    struct stat st;
    if (have_rec) {
        /* copied and recorded: finish by removing the hidden name if it is still ours */
        if (reach && p->tmp[0] && fstatat(sp.dirfd, p->tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            (uint64_t)st.st_dev == p->dev && (uint64_t)st.st_ino == p->ino) {
            unlinkat(sp.dirfd, p->tmp, 0);
            fsync_dir(sp.dirfd);
        }
        if (stmp[0])
            unlinkat(q->dirfd, stmp, 0);
        snprintf(detail, sizeof(detail), "quarantined as item %lld (completed at start-up)",
                 (long long)rec.id);
        pal_quarantine_journal_end(q, f->id, PAL_FILEOP_DONE, detail);
        set_detection(c, f, PAL_DET_ACTION_QUARANTINE, PAL_DET_SUCCESS, detail);
        c->stats->completed++;
        note(c, "quarantine of %s completed: item %lld", f->path, (long long)rec.id);
    } else {
        /* not recorded: drop any copy, put the file back under its name */
        if (f->storage_name && !strchr(f->storage_name, '/'))
            unlinkat(q->dirfd, f->storage_name, 0);
        if (stmp[0])
            unlinkat(q->dirfd, stmp, 0);
        fsync_dir(q->dirfd);
        const char *where = "in place";
        if (!reach) {
            where = "unreachable (a directory on its path changed)";
            c->stats->unreachable++;
        } else if (p->tmp[0] && fstatat(sp.dirfd, p->tmp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            int e = rename_noreplace(sp.dirfd, p->tmp, sp.name);
            if (e == 0)
                fsync_dir(sp.dirfd);
            else
                where = "left under its hidden name (its name is taken)";
        }
        snprintf(detail, sizeof(detail),
                 "interrupted by a stop of palisaded; rolled back at start-up, file %s", where);
        pal_quarantine_journal_end(q, f->id, PAL_FILEOP_FAILED, detail);
        set_detection(c, f, PAL_DET_ACTION_QUARANTINE, PAL_DET_FAILED, detail);
        c->stats->rolled_back++;
        note(c, "quarantine of %s rolled back: file %s", f->path, where);
    }
    pal_quarantine_item_clear(&rec);
    pal_safepath_close(&sp);
}

static void reconcile_delete_file(rec_ctx *c, const pal_fileop *f, const plan *p)
{
    pal_quarantine *q = c->q;
    pal_safepath sp = PAL_SAFEPATH_INIT;
    struct stat st;
    if (pal_safepath_open(f->path, &sp, NULL) != 0 || !p->tmp[0]) {
        pal_quarantine_journal_end(q, f->id, PAL_FILEOP_FAILED,
                                   "interrupted; the directory is unreachable");
        c->stats->unreachable++;
        pal_safepath_close(&sp);
        return;
    }
    if (fstatat(sp.dirfd, p->tmp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if ((uint64_t)st.st_dev == p->dev && (uint64_t)st.st_ino == p->ino &&
            unlinkat(sp.dirfd, p->tmp, 0) == 0) {
            fsync_dir(sp.dirfd);
            pal_quarantine_journal_end(q, f->id, PAL_FILEOP_DONE,
                                       "removed (completed at start-up)");
            set_detection(c, f, PAL_DET_ACTION_REMOVE, PAL_DET_SUCCESS, "removed");
            c->stats->completed++;
        } else {
            rename_noreplace(sp.dirfd, p->tmp, sp.name);
            fsync_dir(sp.dirfd);
            pal_quarantine_journal_end(q, f->id, PAL_FILEOP_FAILED,
                                       "interrupted; rolled back at start-up");
            c->stats->rolled_back++;
        }
    } else if (fstatat(sp.dirfd, sp.name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               (uint64_t)st.st_dev == p->dev && (uint64_t)st.st_ino == p->ino) {
        pal_quarantine_journal_end(q, f->id, PAL_FILEOP_FAILED,
                                   "interrupted before the file was touched");
        c->stats->rolled_back++;
    } else {
        pal_quarantine_journal_end(q, f->id, PAL_FILEOP_DONE, "removed");
        set_detection(c, f, PAL_DET_ACTION_REMOVE, PAL_DET_SUCCESS, "removed");
        c->stats->completed++;
    }
    note(c, "removal of %s reconciled", f->path);
    pal_safepath_close(&sp);
}

static void reconcile_restore(rec_ctx *c, const pal_fileop *f, const plan *p)
{
    pal_quarantine *q = c->q;
    pal_quarantine_item rec = {0};
    bool have_rec = p->item > 0 && pal_store_quarantine_get(q->store, p->item, &rec, NULL) == 0 &&
                    f->storage_name && strcmp(rec.storage_name, f->storage_name) == 0;
    pal_safepath sp = PAL_SAFEPATH_INIT;
    bool reach = pal_safepath_open(f->path, &sp, NULL) == 0;
    struct stat st;
    bool tmp_there = reach && p->tmp[0] && fstatat(sp.dirfd, p->tmp, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (tmp_there) {
        /* not renamed into place yet: the item stays, the partial copy goes */
        unlinkat(sp.dirfd, p->tmp, 0);
        fsync_dir(sp.dirfd);
    }
    bool forward = !have_rec;
    if (have_rec && !tmp_there && reach) {
        uint8_t sha[32];
        char hex[65];
        if (pal_quarantine_hash_entry(sp.dirfd, sp.name, &st, sha) == 0) {
            pal_store_sha256_hex(sha, hex);
            forward = (uint64_t)st.st_size == rec.size && ts_ns(&st.st_mtim) == rec.mtime_ns &&
                      strcmp(hex, rec.sha256) == 0;
        }
    }
    if (forward) {
        if (have_rec) {
            if (p->allow)
                pal_store_allowed_add(q->store, PAL_ALLOW_SHA256, rec.sha256, p->uid, NULL);
            pal_quarantine_drop_item(q, &rec);
        } else if (f->storage_name && !strchr(f->storage_name, '/')) {
            unlinkat(q->dirfd, f->storage_name, 0);
            fsync_dir(q->dirfd);
        }
        pal_quarantine_journal_end(q, f->id, PAL_FILEOP_DONE, "restored (completed at start-up)");
        c->stats->completed++;
        note(c, "restore to %s completed", f->path);
    } else {
        if (!reach)
            c->stats->unreachable++;
        pal_quarantine_journal_end(
            q, f->id, PAL_FILEOP_FAILED,
            "interrupted by a stop of palisaded; rolled back at start-up, the item "
            "stays in quarantine");
        c->stats->rolled_back++;
        note(c, "restore to %s rolled back: item %lld stays in quarantine", f->path,
             (long long)p->item);
    }
    pal_quarantine_item_clear(&rec);
    pal_safepath_close(&sp);
}

static void reconcile_remove_item(rec_ctx *c, const pal_fileop *f, const plan *p)
{
    pal_quarantine *q = c->q;
    pal_quarantine_item rec = {0};
    if (p->item > 0 && pal_store_quarantine_get(q->store, p->item, &rec, NULL) == 0 &&
        f->storage_name && strcmp(rec.storage_name, f->storage_name) == 0)
        pal_store_quarantine_delete(q->store, rec.id, NULL);
    if (f->storage_name && !strchr(f->storage_name, '/'))
        unlinkat(q->dirfd, f->storage_name, 0);
    fsync_dir(q->dirfd);
    pal_quarantine_journal_end(q, f->id, PAL_FILEOP_DONE, "removed (completed at start-up)");
    c->stats->completed++;
    note(c, "removal of quarantine item %lld completed", (long long)p->item);
    pal_quarantine_item_clear(&rec);
}

int pal_quarantine_reconcile(pal_quarantine *q, pal_reconcile_stats *stats,
                             void (*note_fn)(void *ctx, const char *line), void *note_ctx,
                             pal_errbuf *err)
{
    if (!q)
        return pal_err_set(err, PAL_EINVAL, "reconcile: bad arguments");
    pal_reconcile_stats s = {0};
    rec_ctx c = {.q = q, .stats = &s, .note = note_fn, .note_ctx = note_ctx};
    pthread_mutex_lock(&q->lock);
    int rc = 0;
    int64_t last_id = 0;
    for (;;) {
        pal_fileop *ops = NULL;
        size_t n = 0;
        rc = pal_store_fileop_list(q->store, PAL_FILEOP_PENDING, 1000, &ops, &n, err);
        if (rc != 0 || n == 0) {
            pal_fileops_free(ops, n);
            break;
        }
        /* a step whose end cannot be recorded would come back forever */
        if (ops[0].id <= last_id) {
            pal_fileops_free(ops, n);
            rc = pal_err_set(err, PAL_EIO,
                             "cannot record the reconciliation of journal step "
                             "%lld",
                             (long long)last_id);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            plan p;
            plan_parse(ops[i].detail, &p);
            switch (ops[i].kind) {
            case PAL_FILEOP_QUARANTINE:
                reconcile_quarantine(&c, &ops[i], &p);
                break;
            case PAL_FILEOP_RESTORE:
                reconcile_restore(&c, &ops[i], &p);
                break;
            case PAL_FILEOP_REMOVE:
            case PAL_FILEOP_PURGE:
                if (p.item > 0 || ops[i].storage_name)
                    reconcile_remove_item(&c, &ops[i], &p);
                else
                    reconcile_delete_file(&c, &ops[i], &p);
                break;
            }
            last_id = ops[i].id;
        }
        pal_fileops_free(ops, n);
    }

    /* temporary files: only ever made by steps that were just reconciled */
    int dfd = openat(q->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!dir && dfd >= 0)
        close(dfd);
    if (dir) {
        struct dirent *de;
        size_t tl = strlen(TMP_SUFFIX);
        while ((de = readdir(dir)) != NULL) {
            size_t l = strlen(de->d_name);
            if (l > tl && strcmp(de->d_name + l - tl, TMP_SUFFIX) == 0 &&
                unlinkat(q->dirfd, de->d_name, 0) == 0)
                s.temp_removed++;
        }
        closedir(dir);
        if (s.temp_removed)
            fsync_dir(q->dirfd);
    }
    pthread_mutex_unlock(&q->lock);
    if (stats)
        *stats = s;
    return rc;
}
