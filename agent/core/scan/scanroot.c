/* scanroot.c — a scan's named roots, looked at once before the walk (see scanroot.h). */
#define _GNU_SOURCE
#include "scanroot.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static pal_skip_reason reason_of(int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
        return PAL_SKIP_UNREADABLE;
    case ENOENT:
    case ENOTDIR:
        return PAL_SKIP_VANISHED;
    case ELOOP:
        return PAL_SKIP_SYMLINK;
    default:
        return PAL_SKIP_ERROR;
    }
}

int pal_scanroot_resolve(const char *named, pal_scanroot *out)
{
    if (!named || named[0] != '/' || !out)
        return PAL_EINVAL;
    memset(out, 0, sizeof(*out));
    char *path = strdup(named);
    if (!path)
        return PAL_ENOMEM;
    /* "link/" would make lstat follow the link: the trailing slashes are not the root's name */
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';

    struct stat st;
    if (lstat(path, &st) != 0) {
        out->errnum = errno;
        out->reason = reason_of(errno);
        free(path);
        return 0;
    }
    if (S_ISLNK(st.st_mode)) {
        char *target = realpath(path, NULL);
        if (!target) {
            if (errno == ENOMEM) {
                free(path);
                return PAL_ENOMEM;
            }
            out->errnum = errno;
            out->reason = reason_of(errno);
            free(path);
            return 0;
        }
        free(path);
        path = target;
        out->resolved = 1;
    }
    out->path = path;
    return 0;
}

void pal_scanroot_free(pal_scanroot *r)
{
    if (!r)
        return;
    free(r->path);
    r->path = NULL;
}

const char *pal_scanroot_error_name(pal_skip_reason reason, int errnum)
{
    if (reason == PAL_SKIP_SPECIAL)
        return "not-a-file-or-directory";
    switch (errnum) {
    case ENOENT:
    case ENOTDIR:
    case ESTALE:
        return "not-found";
    case EACCES:
    case EPERM:
        return "access-denied";
    case ELOOP:
        return "symlink-loop";
    default:
        return "error";
    }
}

const char *pal_scanroot_error_text(pal_skip_reason reason, int errnum)
{
    if (reason == PAL_SKIP_SPECIAL)
        return "not a regular file or directory";
    if (errnum == ESTALE)
        return "replaced while it was being opened";
    if (errnum == ELOOP)
        return "too many levels of symbolic links";
    const char *t = errnum ? strerrordesc_np(errnum) : NULL; /* thread-safe, unlike strerror */
    return t ? t : "cannot be scanned";
}
