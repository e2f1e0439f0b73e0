/*
 * quarantine.h — the broker's file remediation: quarantine, remove, restore, delete and
 * purge quarantined items, and the start-up reconciliation of steps a crash interrupted.
 *
 * The quarantine directory (<state>/quarantine, 0700, owned by the daemon's user) holds one
 * file per item (0600), named by a random storage name. Its content is transformed so that
 * it is neither runnable nor recognisable by other scanners where it sits, and a sparse
 * file stays sparse: qstore.h has the format (a 128-byte header, a map of the original's
 * data extents, then the transformed extents at their offsets with the holes left as holes;
 * items of the older, dense format version 1 are still verified and restored). The
 * SHA-256, computed by the broker while copying, is also in the store's record and is
 * checked before anything is restored. A restore writes the extents and leaves the holes,
 * so the restored file is as sparse as the original was.
 *
 * Space: a quarantine never fills the disk. When the request carries limits (qspace.h:
 * QuarantineMaxItemBytes, QuarantineMaxTotalBytes, QuarantineMinFreePercent, counted in
 * allocated bytes, not apparent sizes), an item that would pass one is refused before
 * anything is written to the quarantine: pal_quarantine_file fails with PAL_ELIMIT and a
 * message "quarantine limit: <what> > <setting> <value>; <path> was left in place". The
 * file stays where it is, untouched (byte-identical, same inode), so the detection's
 * action fails and the threat stays an unremediated one for the administrator to handle
 * (raise the limit and scan again, or remove the file). The check is made twice: on the
 * scanned allocation (st_blocks) before the file is touched, and on the exact data extents
 * once it is held; a refusal at the second puts the file back under its name.
 *
 * Race safety: every action on a user's file goes through safepath.h (component-wise
 * O_NOFOLLOW resolution to a verified parent fd), checks that the file is still the inode
 * that was scanned (device, inode, size, mtime), renames it inside that parent to a hidden
 * random name with RENAME_NOREPLACE, checks the renamed inode again, copies it, and only
 * then unlinks that name, after a last check that it still holds the same inode. Anything
 * unexpected puts the name back and fails with PAL_ERACE and a message that says what was
 * found: nothing outside the verified directory is ever written or deleted.
 *
 * Crash safety: each operation is journalled (store.h, file_ops) Pending before the file
 * system is touched, with its plan (temporary names, the scanned identity) as JSON in the
 * detail, and set Done or Failed after; file data is fsync'd before a rename, and a
 * directory after the entries in it changed. pal_quarantine_reconcile, at start-up, rolls
 * each Pending step forward when its point of no return was passed (the record of a
 * quarantined item exists; a restored file is in place with the right content) and back
 * otherwise, then removes temporary files left in the quarantine directory. So after any
 * crash a file is either in its original place or in quarantine with a record, a record
 * always has its file, and no temporary file is left.
 *
 * Threads: every function may be called from any thread; file operations are serialised
 * by one mutex inside the object.
 */
#ifndef PAL_QUARANTINE_H
#define PAL_QUARANTINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "pal_error.h"
#include "qspace.h"
#include "qstore.h"
#include "store.h"

#define PAL_QUARANTINE_HEADER_SIZE PAL_QSTORE_HEADER_SIZE

typedef struct pal_quarantine pal_quarantine;

/*
 * Open the quarantine directory dir (created 0700 if absent) over st. The directory must
 * be a real directory (not a symlink) owned by the effective uid and closed to group and
 * others; otherwise PAL_EPERM with a message. st must outlive the object.
 */
int pal_quarantine_open(pal_store *st, const char *dir, pal_quarantine **out, pal_errbuf *err);
void pal_quarantine_free(pal_quarantine *q); /* accepts NULL */

/* One file a scan asked to remediate. */
typedef struct pal_qfile_req {
    const char *path;                /* absolute, raw bytes, NUL-terminated */
    const struct stat *scanned;      /* identity at scan time: dev, ino, size, mtime */
    int64_t detection_id;            /* 0 = none */
    const char *threat;              /* required for a quarantine */
    const uint8_t *sha256;           /* of the whole file at scan time, NULL when unknown */
    const pal_qspace_limits *limits; /* quarantine: the space limits; NULL: none */
} pal_qfile_req;

/*
 * Take the file out of place into the quarantine. On 0, *item_id is the new item.
 * PAL_ERACE (the path or the file changed since the scan: a symlink on the way, another
 * inode, other size/mtime/content; nothing was changed), PAL_ENOTFOUND (a directory on the
 * way is gone), PAL_EINVAL (bad path), PAL_EIO (copy or system failure, e.g. the disk
 * filled anyway; rolled back), PAL_ELIMIT (a space limit: nothing was changed, see "Space" above),
 * store errors.
 */
int pal_quarantine_file(pal_quarantine *q, const pal_qfile_req *r, int64_t *item_id,
                        pal_errbuf *err);

/* The Remove action: delete the file for good, with the same checks. Errors as above. */
int pal_quarantine_delete_file(pal_quarantine *q, const pal_qfile_req *r, pal_errbuf *err);

typedef struct pal_restore_req {
    int64_t id;       /* the item */
    const char *dest; /* absolute path to restore to; NULL: the original path */
    bool force;       /* replace an existing file at dest */
    bool allow;       /* add the item's SHA-256 to the allowed list */
    uid_t uid;        /* who asked (audit) */
} pal_restore_req;

typedef struct pal_restore_result {
    char *path;   /* where the file went (malloc'd) */
    bool allowed; /* its SHA-256 is on the allowed list now (allow was asked) */
    char sha256[65];
} pal_restore_result;

void pal_restore_result_clear(pal_restore_result *res); /* accepts NULL */

/*
 * Put the item back byte-identical with its owner, group, mode and access/modification
 * times, then delete the item. dest may name an existing directory: the file goes into it
 * under its original name. On 0, *res (may be NULL) says where it went. PAL_ENOTFOUND (no
 * such item, or dest's directory is missing), PAL_EEXIST (the target exists and force is
 * false, or is a directory), PAL_EFORMAT (the stored content does not match its SHA-256 or
 * header: nothing was written), PAL_ERACE (a symlink on the way to dest), PAL_EINVAL,
 * PAL_EIO, store errors. Audited "RestoreQuarantineItem".
 */
int pal_quarantine_restore(pal_quarantine *q, const pal_restore_req *r, pal_restore_result *res,
                           pal_errbuf *err);

/* Delete an item for good. PAL_ENOTFOUND for an unknown id. Audited "RemoveQuarantineItem". */
int pal_quarantine_remove(pal_quarantine *q, int64_t id, uid_t uid, pal_errbuf *err);

/* Delete every item quarantined before now_ms - days (days 0: keep forever). *purged (may
   be NULL) is how many. Each is journalled as a Purge. */
int pal_quarantine_purge(pal_quarantine *q, uint64_t days, int64_t now_ms, size_t *purged,
                         pal_errbuf *err);

typedef struct pal_reconcile_stats {
    size_t completed;    /* pending steps rolled forward */
    size_t rolled_back;  /* pending steps undone */
    size_t unreachable;  /* steps whose directory could not be reached safely */
    size_t temp_removed; /* temporary files removed from the quarantine directory */
} pal_reconcile_stats;

/*
 * Finish what a crash left: every Pending journal step, oldest first, then temporary
 * files in the quarantine directory. note (may be NULL) is called with one line per step
 * for the daemon's log. Call before any other operation (at start-up).
 */
int pal_quarantine_reconcile(pal_quarantine *q, pal_reconcile_stats *stats,
                             void (*note)(void *ctx, const char *line), void *note_ctx,
                             pal_errbuf *err);

#endif
