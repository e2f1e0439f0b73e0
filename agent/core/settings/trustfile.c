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

/* May the broker create files in (last) or pass through (!last) this directory? */
static const char *dir_problem(const struct stat *sb, int last)
{
    if (!S_ISDIR(sb->st_mode))
        return "not a directory";
    if (sb->st_uid != 0 && sb->st_uid != geteuid())
        return "not owned by root";
    /* a sticky directory of root's (/tmp) lets nobody else rename or remove what is in it:
       it may be passed through, never written in */
    int sticky_pass = !last && sb->st_uid == 0 && (sb->st_mode & S_ISVTX);
    if ((sb->st_mode & S_IWOTH) && !sticky_pass)
        return "writable by others";
    if ((sb->st_mode & S_IWGRP) && sb->st_gid != 0 && !sticky_pass)
        return "writable by a group other than root";
    return NULL;
}

static int dir_refused(const char *shown, int shown_len, const struct stat *sb, const char *why,
                       pal_errbuf *err)
{
    return pal_err_set(err, PAL_EPERM,
                       "directory %.*s is %s (uid %u, mode %04o): the agent writes only in a "
                       "directory that root owns and nobody else can write, reached without "
                       "symbolic links",
                       shown_len, shown, why, (unsigned)sb->st_uid,
                       (unsigned)(sb->st_mode & 07777));
}

int pal_trustfile_open_dir_path(const char *path, int *out, pal_errbuf *err)
{
    if (!path || path[0] != '/')
        return pal_err_set(err, PAL_EINVAL, "%s is not an absolute path", path ? path : "(null)");
    int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return pal_err_set(err, PAL_EIO, "cannot open /: %s", strerror(errno));
    const char *p = path;
    int done_len = 1; /* shown: path[0, done_len) is the directory fd is */
    for (;;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        struct stat sb;
        if (fstat(fd, &sb) != 0) {
            int e = errno;
            close(fd);
            return pal_err_set(err, PAL_EIO, "cannot stat %.*s: %s", done_len, path, strerror(e));
        }
        const char *why = dir_problem(&sb, len == 0);
        if (why) {
            close(fd);
            return dir_refused(path, done_len, &sb, why, err);
        }
        if (len == 0)
            break;
        char comp[256];
        if (len >= sizeof(comp) || (len == 1 && p[0] == '.') ||
            (len == 2 && p[0] == '.' && p[1] == '.')) {
            close(fd);
            return pal_err_set(err, PAL_EINVAL, "%s: a component is \".\", \"..\" or too long",
                               path);
        }
        memcpy(comp, p, len);
        comp[len] = '\0';
        int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        int e = errno;
        struct stat lst;
        int is_link =
            next < 0 && fstatat(fd, comp, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode);
        close(fd);
        done_len = (int)(p + len - path);
        if (is_link)
            return pal_err_set(err, PAL_EPERM,
                               "%.*s is a symbolic link: the agent follows none on the way to a "
                               "directory it writes in",
                               done_len, path);
        if (next < 0)
            return pal_err_set(err, e == ENOENT ? PAL_ENOTFOUND : PAL_EIO, "cannot open %.*s: %s",
                               done_len, path, strerror(e));
        fd = next;
        p += len;
    }
    *out = fd;
    return 0;
}
