/* safepath.c — component-wise, no-follow path resolution to a verified parent (safepath.h). */
#define _GNU_SOURCE
#include "safepath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)

static int open_failed(int errnum, int dirfd, const char *comp, const char *path, size_t upto,
                       pal_errbuf *err)
{
    int len = upto > INT_MAX ? INT_MAX : (int)upto;
    /* O_DIRECTORY | O_NOFOLLOW on a symlink gives ENOTDIR: say which it is */
    struct stat st;
    if ((errnum == ENOTDIR || errnum == ELOOP) &&
        fstatat(dirfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0)
        errnum = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
    switch (errnum) {
    case ELOOP:
        return pal_err_set(err, PAL_ERACE, "%.*s is a symbolic link (not followed)", len, path);
    case ENOTDIR:
        return pal_err_set(err, PAL_ERACE, "%.*s is not a directory", len, path);
    case ENOENT:
        return pal_err_set(err, PAL_ENOTFOUND, "directory %.*s does not exist", len, path);
    case EACCES:
    case EPERM:
        return pal_err_set(err, PAL_EPERM, "directory %.*s cannot be searched", len, path);
    default:
        return pal_err_set(err, PAL_EIO, "cannot open directory %.*s: %s", len, path,
                           strerror(errnum));
    }
}

int pal_safepath_open(const char *path, pal_safepath *out, pal_errbuf *err)
{
    if (!path || path[0] != '/')
        return pal_err_set(err, PAL_EINVAL, "path must be absolute");
    size_t total = strlen(path);
    /* the final name: after the last '/', ignoring trailing slashes is not allowed (a
       trailing '/' names a directory, never a file we act on) */
    const char *last = strrchr(path, '/') + 1;
    size_t last_len = total - (size_t)(last - path);
    if (last_len == 0 || strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
        return pal_err_set(err, PAL_EINVAL, "path %s does not end in a file name", path);
    if (last_len > NAME_MAX)
        return pal_err_set(err, PAL_EINVAL, "file name too long in %s", path);

    int fd = open("/", DIR_FLAGS);
    if (fd < 0)
        return pal_err_set(err, PAL_EIO, "cannot open /: %s", strerror(errno));
    char comp[NAME_MAX + 1];
    const char *p = path;
    while (p < last) {
        while (*p == '/')
            p++;
        if (p >= last)
            break;
        const char *end = strchr(p, '/'); /* never NULL: last follows a '/' */
        size_t len = (size_t)(end - p);
        if (len > NAME_MAX) {
            close(fd);
            return pal_err_set(err, PAL_EINVAL, "a directory name is too long in %s", path);
        }
        memcpy(comp, p, len);
        comp[len] = '\0';
        if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
            close(fd);
            return pal_err_set(err, PAL_EINVAL, "path %s has a '.' or '..' component", path);
        }
        int next = openat(fd, comp, DIR_FLAGS);
        if (next < 0) {
            int e = errno;
            int rc = open_failed(e, fd, comp, path, (size_t)(end - path), err);
            close(fd);
            return rc;
        }
        close(fd);
        fd = next;
        p = end;
    }
    char *name = strdup(last);
    if (!name) {
        close(fd);
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    out->dirfd = fd;
    out->name = name;
    return 0;
}

void pal_safepath_close(pal_safepath *sp)
{
    if (!sp)
        return;
    if (sp->dirfd >= 0)
        close(sp->dirfd);
    free(sp->name);
    sp->dirfd = -1;
    sp->name = NULL;
}

int pal_safepath_lstat(const pal_safepath *sp, struct stat *st)
{
    if (fstatat(sp->dirfd, sp->name, st, AT_SYMLINK_NOFOLLOW) != 0)
        return -errno;
    return 0;
}

bool pal_safepath_same_file(const struct stat *now, const struct stat *scanned)
{
    return now->st_dev == scanned->st_dev && now->st_ino == scanned->st_ino &&
           now->st_size == scanned->st_size && now->st_mtim.tv_sec == scanned->st_mtim.tv_sec &&
           now->st_mtim.tv_nsec == scanned->st_mtim.tv_nsec;
}

int pal_safepath_random_hex(char out[33])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return PAL_EIO;
        }
        got += (size_t)n;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(b); i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[32] = '\0';
    return 0;
}
