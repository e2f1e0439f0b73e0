/*
 * cachetrust.c — the scan cache's admission rule (see cachetrust.h for the threat model):
 * reading the writeback sysctls, the list of file systems whose timestamps can be trusted,
 * and forcing a file's dirty pages clean before it is read.
 */
#define _GNU_SOURCE /* sync_file_range */
#include "cachetrust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

/* statfs f_type values (linux/magic.h names; written out so the list reads as a whole) */
#define CT_EXT_SUPER_MAGIC 0xEF53L /* ext2, ext3, ext4 */
#define CT_XFS_SUPER_MAGIC 0x58465342L
#define CT_BTRFS_SUPER_MAGIC 0x9123683EL
#define CT_F2FS_SUPER_MAGIC 0xF2F52010L

/* A sysctl above this (about 116 days) is taken as "never": no overflow in the window. */
#define CT_CENTISECS_MAX 1000000000UL

int pal_cachetrust_fs_suitable(long fs_type)
{
    /*
     * An allowlist: local disk file systems that write dirty pages back through the page
     * cache (so a written-back page is write-protected and the next write through a
     * mapping faults and stamps the inode) and keep timestamps of 1 s or finer set by this
     * kernel. Not on it, on purpose: tmpfs, ramfs, hugetlbfs (never written back); NFS,
     * CIFS/SMB, 9p, Ceph, AFS, FUSE (timestamps set or cached by another machine or a
     * user-space server, writeback under its control); overlayfs (the pages belong to the
     * layer below; not examined yet); FAT, exFAT, NTFS drivers (2 s or coarser times,
     * removable media a user may mount). Anything unknown is not trusted.
     */
    switch (fs_type) {
    case CT_EXT_SUPER_MAGIC:
    case CT_XFS_SUPER_MAGIC:
    case CT_BTRFS_SUPER_MAGIC:
    case CT_F2FS_SUPER_MAGIC:
        return 1;
    default:
        return 0;
    }
}

/* One non-negative decimal integer and a newline, as /proc/sys writes it; -1 otherwise. */
static int read_centisecs(const char *dir, const char *name, unsigned long *out)
{
    char path[PATH_MAX], buf[32];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    ssize_t got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (got <= 0)
        return -1;
    buf[got] = '\0';
    if (buf[0] < '0' || buf[0] > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(buf, &end, 10);
    if (errno != 0 || (*end != '\n' && *end != '\0'))
        return -1;
    *out = v > CT_CENTISECS_MAX ? CT_CENTISECS_MAX : v;
    return 0;
}

void pal_cachetrust_init(pal_cachetrust *ct, const char *vm_dir)
{
    unsigned long expire = 0, interval = 0;
    const char *dir = vm_dir ? vm_dir : "/proc/sys/vm";
    ct->writeback = 0;
    ct->window_ns = 0;
    if (read_centisecs(dir, "dirty_expire_centisecs", &expire) != 0 ||
        read_centisecs(dir, "dirty_writeback_centisecs", &interval) != 0)
        return; /* cannot tell when pages are written back: only rule (a) */
    if (interval == 0)
        return; /* periodic writeback is off: a dirty page may stay dirty indefinitely */
    ct->writeback = 1;
    ct->window_ns = (int64_t)(expire + interval) * 10000000LL + PAL_CACHETRUST_MARGIN_NS;
}

static int64_t ts_ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static int root_only(const struct stat *st)
{
    return st->st_uid == 0 && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* Both stamps strictly older than the window; a time in the future (utimes) is not. */
static int stamps_settled(const pal_cachetrust *ct, const struct stat *st, int64_t read_start_ns)
{
    int64_t limit = read_start_ns - ct->window_ns;
    return ct->writeback && ts_ns(&st->st_mtim) < limit && ts_ns(&st->st_ctim) < limit;
}

pal_cachetrust_why pal_cachetrust_decide(const pal_cachetrust *ct, const struct stat *st,
                                         long fs_type, int64_t read_start_ns)
{
    if (root_only(st))
        return PAL_CACHETRUST_ROOT_ONLY;
    if (!pal_cachetrust_fs_suitable(fs_type))
        return PAL_CACHETRUST_FS_UNSUITED;
    if (!ct->writeback)
        return PAL_CACHETRUST_NO_WRITEBACK;
    if (!stamps_settled(ct, st, read_start_ns))
        return PAL_CACHETRUST_RECENT;
    return PAL_CACHETRUST_SETTLED;
}

pal_cachetrust_why pal_cachetrust_before_read(const pal_cachetrust *ct, int fd,
                                              const struct stat *st)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0)
        return PAL_CACHETRUST_NO_WRITEBACK; /* cannot happen; never trust what we can't time */
    int64_t read_start_ns = ts_ns(&now);
    /* the system's own files, unchanged for a while: no system call at all */
    if (root_only(st) && stamps_settled(ct, st, read_start_ns))
        return PAL_CACHETRUST_ROOT_ONLY;
    struct statfs sfs;
    long fs_type = fstatfs(fd, &sfs) == 0 ? (long)sfs.f_type : 0;
    pal_cachetrust_why why = pal_cachetrust_decide(ct, st, fs_type, read_start_ns);
    if (pal_cachetrust_ok(why) && pal_cachetrust_fs_suitable(fs_type)) {
        /*
         * Write back and wait for whatever is dirty now, so every page is write-protected
         * before the read: a later write through a mapping then faults and stamps the file.
         * Required under (b). Under (a) it narrows the chown-after-open risk for a file
         * changed within the window (a chown or chmod stamps ctime). A clean file, the
         * usual case, costs one look at the mapping's dirty tags.
         */
        unsigned flags =
            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
        if (sync_file_range(fd, 0, 0, flags) != 0 && why == PAL_CACHETRUST_SETTLED)
            why = PAL_CACHETRUST_SYNC_FAILED;
    }
    return why;
}

const char *pal_cachetrust_why_name(pal_cachetrust_why why)
{
    switch (why) {
    case PAL_CACHETRUST_ROOT_ONLY:
        return "root-only";
    case PAL_CACHETRUST_SETTLED:
        return "settled";
    case PAL_CACHETRUST_FS_UNSUITED:
        return "fs-unsuited";
    case PAL_CACHETRUST_NO_WRITEBACK:
        return "no-writeback";
    case PAL_CACHETRUST_RECENT:
        return "recent";
    case PAL_CACHETRUST_SYNC_FAILED:
        return "sync-failed";
    }
    return "unknown";
}

void pal_cachetrust_key(const struct stat *st, pal_cache_key *k)
{
    k->dev = (uint64_t)st->st_dev;
    k->ino = (uint64_t)st->st_ino;
    k->size = (uint64_t)st->st_size;
    k->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    k->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
}

int pal_cachetrust_same_identity(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}
