/* trustfile.c — vetting root-managed files and directories before trusting them (trustfile.h). */
#define _GNU_SOURCE
#include "trustfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

const char *pal_trustfile_problem(const struct stat *sb)
{
    if (sb->st_uid != 0)
        return "not owned by root";
    if (sb->st_mode & S_IWOTH)
        return "writable by others";
    if ((sb->st_mode & S_IWGRP) && sb->st_gid != 0)
        return "writable by a group other than root";
    return NULL;
}

int pal_trustfile_open(int dirfd, const char *name, const char *shown, const char *what,
                       int want_dir, int check_owner, int *fd, struct stat *sb, pal_errbuf *err)
{
    /* O_NONBLOCK: a FIFO put in place of a file must not hang the daemon (refused below). */
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK;
    if (want_dir)
        flags |= O_DIRECTORY;
    int f = openat(dirfd, name, flags);
    if (f < 0) {
        int e = errno;
        if (e == ENOENT)
            return pal_err_set(err, PAL_ENOTFOUND, "%s %s does not exist", what, shown);
        struct stat lst;
        /* O_DIRECTORY | O_NOFOLLOW on a symlink says ENOTDIR: tell the real reason */
        if (e == ENOTDIR && want_dir && fstatat(dirfd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(lst.st_mode))
            e = ELOOP;
        if (e == ELOOP)
            return pal_err_set(err, PAL_EPERM,
                               "%s %s is a symbolic link; it must be the real %s, owned by root",
                               what, shown, want_dir ? "directory" : "file");
        if (e == ENOTDIR && want_dir)
            return pal_err_set(err, PAL_EFORMAT, "%s %s is not a directory", what, shown);
        return pal_err_set(err, PAL_EIO, "cannot open %s %s: %s", what, shown, strerror(e));
    }
    struct stat st;
    if (fstat(f, &st) != 0) {
        int e = errno;
        close(f);
        return pal_err_set(err, PAL_EIO, "cannot stat %s %s: %s", what, shown, strerror(e));
    }
    if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        close(f);
        return pal_err_set(err, PAL_EFORMAT, "%s %s is not a %s", what, shown,
                           want_dir ? "directory" : "regular file");
    }
    const char *why = check_owner ? pal_trustfile_problem(&st) : NULL;
    if (why) {
        close(f);
        return pal_err_set(err, PAL_EPERM,
                           "%s %s is %s (uid %u, mode %04o); it must be owned by root and "
                           "writable only by root",
                           what, shown, why, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    }
    /* the reads that follow block as usual */
    if (!want_dir)
        fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_NONBLOCK);
    *fd = f;
    if (sb)
        *sb = st;
    return 0;
}
