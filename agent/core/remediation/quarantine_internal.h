/*
 * quarantine_internal.h — what quarantine.c and quarantine_journal.c share and nobody else
 * may use: the quarantine object, the names of temporary files, the journal's plans (what
 * each step records before it touches the file system) and the small file-system helpers
 * both the operations and the reconciliation use. Include it after defining _GNU_SOURCE
 * (renameat2).
 */
#ifndef PAL_QUARANTINE_INTERNAL_H
#define PAL_QUARANTINE_INTERNAL_H

#ifndef PAL_QUARANTINE_BUILD
#error "quarantine_internal.h is private to pal_remediation; include quarantine.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "quarantine.h"

#define TMP_SUFFIX ".tmp"
#define USER_TMP_QUARANTINE ".palisade-q-"
#define USER_TMP_REMOVE ".palisade-d-"
#define USER_TMP_RESTORE ".palisade-r-"
#define NAME_BUF 64 /* prefix + 32 hex digits + suffix */

struct pal_quarantine {
    pthread_mutex_t lock; /* serialises every file operation */
    pal_store *store;
    int dirfd; /* the quarantine directory, verified at open */
};

/* ---- small helpers ---------------------------------------------------------------------- */

static inline int64_t ts_ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* rename without replacing; falls back to link + unlink where RENAME_NOREPLACE is not
   supported (both refuse an existing target atomically). 0 or -errno. */
static inline int rename_noreplace(int dirfd, const char *from, const char *to)
{
    if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    if (linkat(dirfd, from, dirfd, to, 0) != 0)
        return -errno;
    if (unlinkat(dirfd, from, 0) != 0)
        return -errno;
    return 0;
}

static inline int fsync_dir(int dirfd)
{
    return fsync(dirfd) == 0 ? 0 : -errno;
}

static inline void storage_tmp_name(const char *storage, char *out, size_t size)
{
    snprintf(out, size, "%s" TMP_SUFFIX, storage);
}

/* ---- quarantine.c ----------------------------------------------------------------------- */

/* SHA-256 of a regular file named name in dirfd, with its lstat; 0 or negative. */
int pal_quarantine_hash_entry(int dirfd, const char *name, struct stat *st, uint8_t sha[32]);
/* Delete the record, then the stored file: a record never points to nothing. */
void pal_quarantine_drop_item(pal_quarantine *q, const pal_quarantine_item *rec);

/* ---- quarantine_journal.c --------------------------------------------------------------- */

/* The plan of a step on a user's file: its hidden name and scanned identity (JSON,
   malloc'd; NULL when out of memory). */
char *pal_quarantine_plan_user(const char *tmp, const struct stat *id);
/* The plan of a restore: the hidden name, the item, whether to allow it, for whom. */
char *pal_quarantine_plan_restore(const char *tmp, int64_t item, bool allow, uid_t uid);
/* The plan of a step on a stored item. */
char *pal_quarantine_plan_item(int64_t item);
/* Set journal step op_id (if any) to state with detail; best effort (see the definition). */
void pal_quarantine_journal_end(pal_quarantine *q, int64_t op_id, pal_fileop_state state,
                                const char *detail);

#endif
