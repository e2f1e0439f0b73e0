/*
 * cppkg.h — private to pal_cpsup: the supervisor's own hold on a signature package it is
 * handed (a descriptor and the engine limits, no broker types). It owns the duplicate of the
 * descriptor that the content process receives, a read-only mapping of the package for the
 * threat catalog that the content process's findings are checked against, and the rule
 * that says whether two packages are the same. Reference counts are kept under the
 * supervisor's lock (cpsup_internal.h).
 */
#ifndef PAL_CPPKG_H
#define PAL_CPPKG_H

#include <stdint.h>
#include <sys/stat.h>

#include "engine.h"
#include "pal_error.h"
#include "sigpkg.h"

/*
 * The package an instance runs, as the supervisor holds it: its own duplicate of the
 * package file's descriptor (what the content process receives), the limits, and its own
 * read-only mapping of the package for the threat catalog that results are checked
 * against. The file is its identity together with the limits: the supervisor keeps it open,
 * so no other file can have its device and inode meanwhile.
 */
typedef struct cp_pkg {
    unsigned refs; /* sup->lock */
    int fd;
    dev_t dev;
    ino_t ino;
    uint64_t size; /* of the file */
    pal_limits limits;
    pal_sigpkg *catalog;
} cp_pkg;

/*
 * A hold on the package open on fd (st: its fstat) with lim, refcount 1. The caller
 * verified the signature; the structure is checked again, as the content process does
 * with the same descriptor. 0, or PAL_EINVAL (not a package), PAL_EIO, PAL_ENOMEM.
 */
int cppkg_new(int fd, const struct stat *st, const pal_limits *lim, cp_pkg **out, pal_errbuf *err);
cp_pkg *cppkg_ref(cp_pkg *p);
void cppkg_unref(cp_pkg *p); /* accepts NULL; the last one closes and unmaps */

/* p (may be NULL: no) is the file st describes with the limits lim: the same file, which p
   holds open so that no other file can have its device and inode, and equal limits. */
int cppkg_is(const cp_pkg *p, const struct stat *st, const pal_limits *lim);

#endif
