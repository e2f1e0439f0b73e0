/*
 * cppkg.c — the supervisor's own hold on a signature package (cppkg.h): the duplicate
 * descriptor the content process receives, the catalog mapping, and package identity.
 */
#define _GNU_SOURCE
#include "cppkg.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

cp_pkg *cppkg_ref(cp_pkg *p)
{
    p->refs++;
    return p;
}

void cppkg_unref(cp_pkg *p)
{
    if (p == NULL || --p->refs > 0)
        return;
    pal_sigpkg_free(p->catalog);
    close(p->fd);
    free(p);
}

static int limits_equal(const pal_limits *a, const pal_limits *b)
{
    return a->max_depth == b->max_depth && a->max_members == b->max_members &&
           a->max_expanded_bytes == b->max_expanded_bytes && a->max_ratio == b->max_ratio &&
           a->max_object_size == b->max_object_size && a->max_scan_ms == b->max_scan_ms;
}

int cppkg_is(const cp_pkg *p, const struct stat *st, const pal_limits *lim)
{
    return p != NULL && p->dev == st->st_dev && p->ino == st->st_ino &&
           limits_equal(&p->limits, lim);
}

int cppkg_new(int fd, const struct stat *st, const pal_limits *lim, cp_pkg **out, pal_errbuf *err)
{
    cp_pkg *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (p->fd < 0) {
        free(p);
        return pal_err_set(err, PAL_EIO, "duplicating the package descriptor: %m");
    }
    pal_errbuf perr = {{0}};
    int rc = pal_sigpkg_open_fd(p->fd, NULL, 0, &p->catalog, &perr);
    if (rc != 0) {
        close(p->fd);
        free(p);
        if (rc == PAL_EFORMAT || rc == PAL_ELIMIT)
            rc = PAL_EINVAL; /* the caller's mistake, not the package's */
        return pal_err_set(err, rc, "not a signature package: %s", perr.msg);
    }
    p->refs = 1;
    p->dev = st->st_dev;
    p->ino = st->st_ino;
    p->size = (uint64_t)st->st_size;
    p->limits = *lim;
    *out = p;
    return 0;
}
