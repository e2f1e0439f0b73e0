/* defs.c — the reference-counted package + engine in force (see defs.h). */
#define _GNU_SOURCE
#include "defs.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The package and its fd are shared between pal_defs built with different limits. */
typedef struct defs_package {
    atomic_uint refs;
    pal_sigpkg *pkg;
    pal_sigpkg_info info;
    int fd;
    char *path;
} defs_package;

struct pal_defs {
    atomic_uint refs;
    defs_package *package;
    pal_engine *engine;
};

static void package_unref(defs_package *p)
{
    if (p && atomic_fetch_sub(&p->refs, 1) == 1) {
        pal_sigpkg_free(p->pkg);
        if (p->fd >= 0)
            close(p->fd);
        free(p->path);
        free(p);
    }
}

static int defs_build(defs_package *p, const pal_limits *limits, pal_defs **out, pal_errbuf *err)
{
    pal_defs *d = calloc(1, sizeof(*d));
    if (!d)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    int rc = pal_engine_new(p->pkg, limits, &d->engine, err);
    if (rc != 0) {
        free(d);
        return rc;
    }
    /* The broker's scans run in the content process unless the administrator turns the
       sandbox off: its own compiled rules are loaded again by the first in-process scanner. */
    pal_engine_park_rules(d->engine);
    atomic_init(&d->refs, 1);
    atomic_fetch_add(&p->refs, 1);
    d->package = p;
    *out = d;
    return 0;
}

int pal_defs_load(const char *path, const pal_keyring *keys, const pal_limits *limits,
                  pal_defs **out, pal_errbuf *err)
{
    defs_package *p = calloc(1, sizeof(*p));
    if (!p)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    atomic_init(&p->refs, 1);
    p->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    int rc;
    if (p->fd < 0) {
        rc = pal_err_set(err, PAL_EIO, "cannot open signature package %s: %m", path);
        goto fail;
    }
    p->path = strdup(path);
    if (!p->path) {
        rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto fail;
    }
    rc = pal_sigpkg_open_fd(p->fd, keys, PAL_SIGPKG_VERIFY, &p->pkg, err);
    if (rc != 0)
        goto fail;
    pal_sigpkg_get_info(p->pkg, &p->info);
    rc = defs_build(p, limits, out, err);
fail:
    package_unref(p); /* on success the pal_defs holds its own reference */
    return rc;
}

int pal_defs_with_limits(pal_defs *base, const pal_limits *limits, pal_defs **out, pal_errbuf *err)
{
    return defs_build(base->package, limits, out, err);
}

pal_defs *pal_defs_ref(pal_defs *d)
{
    atomic_fetch_add(&d->refs, 1);
    return d;
}

void pal_defs_unref(pal_defs *d)
{
    if (d && atomic_fetch_sub(&d->refs, 1) == 1) {
        pal_engine_free(d->engine);
        package_unref(d->package);
        free(d);
    }
}

pal_engine *pal_defs_engine(const pal_defs *d)
{
    return d->engine;
}
const pal_sigpkg *pal_defs_package(const pal_defs *d)
{
    return d->package->pkg;
}
const pal_sigpkg_info *pal_defs_info(const pal_defs *d)
{
    return &d->package->info;
}
int pal_defs_fd(const pal_defs *d)
{
    return d->package->fd;
}
const char *pal_defs_path(const pal_defs *d)
{
    return d->package->path;
}
