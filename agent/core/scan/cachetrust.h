/*
 * cachetrust.h — whether a clean verdict may enter the scan cache: the cache's threat model.
 *
 * The scan cache (store.h, "scan cache") answers a later scan from (dev, ino, size, mtime,
 * ctime) without reading the file. That is sound only if the content cannot change while
 * those five stay the same. It can, and any user who can write the file can do it:
 *
 *   A write through a MAP_SHARED writable mapping updates mtime and ctime only when it
 *   faults — the first write to a clean page (page_mkwrite → file_update_time). Once the
 *   page is dirty and its page-table entry writable, further writes go straight to memory:
 *   no fault, no new timestamps. The entry becomes write-protected again only when the
 *   kernel writes the page back (folio_mkclean before the I/O); the next write faults and
 *   stamps the file. So a user dirties a page of a clean file, waits for a scan to cache
 *   the file, writes malware through the same mapping, and every later cached scan says
 *   "clean". On tmpfs and ramfs nothing is ever written back: the window never closes.
 *
 * The attacker is any non-root user; root can defeat the agent in simpler ways. A verdict
 * of a read that started at time R enters the cache only when one of these holds:
 *
 *  (a) Nobody but root can write the file: owner uid 0 and neither the group nor the other
 *      write bit (with POSIX ACLs the group bits are the ACL mask, which bounds every named
 *      user and group entry, so the mode bits suffice). Then no non-root user holds a
 *      writable mapping — with the residual risk below — on any file system. This is what
 *      lets the system's own files (/usr, /etc, /opt: root-owned, 0644/0755) be cached at
 *      once, which is most of a Full scan.
 *
 *  (b) The file system writes pages back and keeps reliable timestamps (a local disk file
 *      system on the list in cachetrust.c: ext2/3/4, XFS, Btrfs, F2FS; tmpfs, ramfs,
 *      network, FUSE, overlay and anything unknown are not on it), periodic writeback is on
 *      (vm.dirty_writeback_centisecs > 0), and both mtime and ctime are older than R by more
 *      than the trust window:
 *
 *          window = dirty_expire_centisecs + dirty_writeback_centisecs + 10 s margin
 *
 *      read from /proc/sys/vm when the scan starts (defaults 30 s + 5 s + 10 s = 45 s).
 *      This is git's "racily clean" rule: any page dirtied through a mapping was dirtied
 *      by a fault that stamped the file, so at or before its ctime; an inode dirty for
 *      longer than the expiry is written back by the flusher's next periodic pass, so by R
 *      every such page should be clean and write-protected. The margin covers the flusher's
 *      own I/O time and timer slack, and keeps the window far above any timestamp
 *      granularity (1 s on ext4 with small inodes; the kernel's coarse clock lags by at most
 *      a jiffy), so that a write after R always produces timestamps different from the key.
 *      ctime matters more than mtime: the owner can set mtime to anything (utimes), but
 *      utimes itself stamps ctime with the current time, which no non-root user can choose.
 *
 *      "Should be clean" is not enough for a root daemon: writeback can lag far behind the
 *      expiry when a user first fills the dirty limit with other data (the flusher works
 *      through older inodes first), or when a device stalls. So before the read, the
 *      broker itself writes the file's dirty pages and waits for them
 *      (sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER): WB_SYNC_ALL writeback of the
 *      file's data only, no journal commit, no cache flush; it works on the read-only fd
 *      and costs one system call that finds nothing to do on a file old enough to qualify).
 *      After it returns, every page is clean and write-protected: whatever anyone writes
 *      after R faults first and stamps the file with a time later than R - window, so the
 *      key no longer matches. The window is then a second, independent guard.
 *
 * Everything else is scanned every time. The scan job also re-checks the identity with
 * fstat after the read (scanjob.c), so a file written or chmod'ed during the read is not
 * cached either. The lookup path is unchanged (one SQLite lookup of the key): the decision
 * is taken once, when the entry is made, because a key that still matches later proves,
 * under (a) or (b), that the content has not changed since.
 *
 * Residual risks (accepted, written here so they stay visible):
 *  - A write fd or writable MAP_SHARED mapping opened while a user could write the file
 *    survives a later chown to root or chmod go-w (permissions are checked at open), and
 *    rule (a) then trusts the file. On a file system of the list, for a file whose ctime
 *    is within the window (the chown or chmod stamped it), the broker forces the pages
 *    clean before the read under (a) as well, so a later write through the old mapping
 *    faults and changes the key (unless it lands within one timestamp tick of the chown);
 *    for an older file it relies on the flusher having cleaned them; on tmpfs and the
 *    rest nothing cleans them. It takes an administrator's chown or chmod of a file that
 *    a user holds open for writing.
 *  - A non-root process with CAP_DAC_OVERRIDE or CAP_FOWNER counts as root here, and so
 *    does a member of the group that owns the block devices (`disk`): a raw write to the
 *    device changes blocks under the file system, no timestamp involved.
 *  - A file system whose medium a user can write elsewhere (a USB stick mounted for the
 *    user, an image file the user owns mounted through a loop device) is the user's in
 *    every field: owner, mode, size and both timestamps can be forged offline, and the
 *    device number comes back when it is mounted again. Neither rule helps there. The fix
 *    belongs to the key: add the mount's never-reused id (statx STATX_MNT_ID_UNIQUE,
 *    Linux 6.8) so that every entry dies with the mount it was made on.
 *  - The cache key has no inode generation: an inode number freed and reused for a new file
 *    of the same size within one timestamp tick of the cached ctime would match. The new
 *    file's ctime is the time of its creation, so under (b) this needs a clock step back
 *    (only root can set the clock); under (a) the cached file must have been scanned within
 *    one tick of its last change, and root must have created it.
 *  - Entries written by a version of the broker without these rules stay until the
 *    signature package changes (a migration emptying scan_cache would drop them).
 *
 * Real-time protection must use the same decision (pal_cachetrust_before_read) before it
 * reads a file whose verdict it wants to cache.
 */
#ifndef PAL_CACHETRUST_H
#define PAL_CACHETRUST_H

#include <stdint.h>
#include <sys/stat.h>

#include "store.h"

#define PAL_CACHETRUST_MARGIN_NS (10LL * 1000000000LL) /* see (b) above */

/* What one scan knows about the kernel's writeback: read once when the scan starts. */
typedef struct pal_cachetrust {
    int writeback;     /* 1: periodic writeback is on and both sysctls were read */
    int64_t window_ns; /* expire + writeback interval + margin; meaningful if writeback */
} pal_cachetrust;

/* Why a verdict may or may not be cached (the first two: may). */
typedef enum pal_cachetrust_why {
    PAL_CACHETRUST_ROOT_ONLY = 0, /* (a): nobody but root can write the file */
    PAL_CACHETRUST_SETTLED,       /* (b): old enough on a file system with writeback; the
                                     caller must still force its pages clean before reading */
    PAL_CACHETRUST_FS_UNSUITED,   /* no writeback or unreliable timestamps (tmpfs, NFS, ...) */
    PAL_CACHETRUST_NO_WRITEBACK,  /* periodic writeback off or the sysctls unreadable */
    PAL_CACHETRUST_RECENT,        /* mtime or ctime within the window before the read */
    PAL_CACHETRUST_SYNC_FAILED,   /* the dirty pages could not be written back */
} pal_cachetrust_why;

/*
 * Reads dirty_expire_centisecs and dirty_writeback_centisecs from vm_dir (NULL:
 * /proc/sys/vm). Never fails: an unreadable or malformed value, or a writeback interval of
 * 0, leaves ct->writeback 0 (then only rule (a) can trust a file).
 */
void pal_cachetrust_init(pal_cachetrust *ct, const char *vm_dir);

/* 1 if fs_type (statfs f_type) writes pages back and keeps reliable timestamps. */
int pal_cachetrust_fs_suitable(long fs_type);

/*
 * The decision alone, without system calls: st is the file's identity when it was opened,
 * fs_type its statfs f_type (ignored when rule (a) applies), read_start_ns CLOCK_REALTIME
 * in nanoseconds, taken before the read.
 */
pal_cachetrust_why pal_cachetrust_decide(const pal_cachetrust *ct, const struct stat *st,
                                         long fs_type, int64_t read_start_ns);

/*
 * Called before the file behind fd (read-only is enough) is read, with st its fstat at
 * open: takes the read's start time, decides, and on a file system of the list writes back
 * the file's dirty pages and waits for them (always under rule (b), where a failure turns
 * the decision into PAL_CACHETRUST_SYNC_FAILED; under (a) only for a file changed within
 * the window: an older root-only file costs no system call). Returns the decision; a clean
 * verdict of the read that follows may be cached only if it is PAL_CACHETRUST_ROOT_ONLY or
 * PAL_CACHETRUST_SETTLED (pal_cachetrust_ok) and the file's identity is unchanged after
 * the read.
 */
pal_cachetrust_why pal_cachetrust_before_read(const pal_cachetrust *ct, int fd,
                                              const struct stat *st);

static inline int pal_cachetrust_ok(pal_cachetrust_why why)
{
    return why == PAL_CACHETRUST_ROOT_ONLY || why == PAL_CACHETRUST_SETTLED;
}

/* The cache key of a file: its (dev, ino, size, mtime, ctime) as st gives them. */
void pal_cachetrust_key(const struct stat *st, pal_cache_key *k);

/* 1 if a and b are the same identity (the five values of the key): a file fstat'd again
   after its read is unchanged, and its verdict may be cached. */
int pal_cachetrust_same_identity(const struct stat *a, const struct stat *b);

/* A short name for logs and tests ("root-only", "settled", "fs-unsuited", ...). */
const char *pal_cachetrust_why_name(pal_cachetrust_why why);

#endif
