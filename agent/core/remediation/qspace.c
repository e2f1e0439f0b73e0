/*
 * qspace.c — the quarantine's disk limits (qspace.h).
 */
#define _GNU_SOURCE
#include "qspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* "600.0 MiB (629145600 bytes)": readable, and exact where one decimal is not */
static const char *human(uint64_t v, char *buf, size_t size)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double x = (double)v;
    size_t u = 0;
    while (x >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        x /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%llu bytes", (unsigned long long)v);
    else
        snprintf(buf, size, "%.1f %s (%llu bytes)", x, units[u], (unsigned long long)v);
    return buf;
}

uint64_t pal_qspace_block_size(int dirfd)
{
    struct statvfs vfs;
    if (fstatvfs(dirfd, &vfs) != 0)
        return 4096;
    uint64_t b = vfs.f_bsize;
    if (b < 4096 || b > (1u << 20) || (b & (b - 1)) != 0)
        return 4096;
    return b;
}

int pal_qspace_used(int dirfd, uint64_t *used, pal_errbuf *err)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return pal_err_set(err, PAL_EIO, "cannot list the quarantine directory: %s", strerror(e));
    }
    uint64_t total = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            total += (uint64_t)st.st_blocks * 512u;
    }
    closedir(dir);
    *used = total;
    return 0;
}

int pal_qspace_check(int dirfd, const pal_qspace_limits *l, uint64_t need, pal_errbuf *err)
{
    char a[64], b[64], c[64];
    if (need > l->max_item)
        return pal_err_set(err, PAL_ELIMIT, "quarantine limit: item %s > QuarantineMaxItemBytes %s",
                           human(need, a, sizeof(a)), human(l->max_item, b, sizeof(b)));
    uint64_t used = 0;
    int rc = pal_qspace_used(dirfd, &used, err);
    if (rc != 0)
        return rc;
    if (used > l->max_total || need > l->max_total - used)
        return pal_err_set(err, PAL_ELIMIT,
                           "quarantine limit: %s in quarantine + item %s > "
                           "QuarantineMaxTotalBytes %s",
                           human(used, a, sizeof(a)), human(need, b, sizeof(b)),
                           human(l->max_total, c, sizeof(c)));
    struct statvfs vfs;
    if (fstatvfs(dirfd, &vfs) != 0)
        return pal_err_set(err, PAL_EIO, "cannot examine the quarantine's file system: %s",
                           strerror(errno));
    /* f_bavail: what an unprivileged user could still write, so the file system's own
       root reserve is never touched either */
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    uint64_t fs = (uint64_t)vfs.f_blocks * vfs.f_frsize;
    uint64_t reserve = fs / 100 * l->min_free_percent;
    if (avail < need || avail - need < reserve)
        return pal_err_set(err, PAL_ELIMIT,
                           "quarantine limit: item %s would leave %s of the quarantine's file "
                           "system available, less than QuarantineMinFreePercent %llu%% of %s",
                           human(need, a, sizeof(a)),
                           human(avail > need ? avail - need : 0, b, sizeof(b)),
                           (unsigned long long)l->min_free_percent, human(fs, c, sizeof(c)));
    return 0;
}
