/*
 * scanroot.h — the roots a scan was asked for, looked at once before the walk.
 *
 * A root the administrator named is different from an entry the walker meets: if it is
 * missing or cannot be opened the scan must say so as an error (not count one "vanished"
 * skip and report a clean machine), and if it is a symbolic link the administrator named the
 * link, so its target is what they mean to scan. This module resolves such a link exactly
 * once, here, with realpath(3) (every component, as the administrator's shell would); the
 * walk then starts from the resolved path and, below it, still never follows a link. The
 * result says which roots were resolved and to what, and which could not be scanned.
 */
#ifndef PAL_SCANROOT_H
#define PAL_SCANROOT_H

#include "walker.h"

typedef struct pal_scanroot {
    char *path;             /* what to walk (malloc'd): the named path without trailing
                               slashes, or the symlink's resolved target; NULL on error */
    int resolved;           /* 1: the named root was a symlink and path is its target */
    pal_skip_reason reason; /* when errnum != 0 or the root is unusable: why */
    int errnum;             /* 0, or the errno that keeps this root from being scanned */
} pal_scanroot;

/*
 * Look at the named absolute root once (lstat; realpath when it is a symlink). Returns 0 with
 * *out filled (out->path NULL and out->errnum set when the root cannot be scanned), or
 * PAL_ENOMEM / PAL_EINVAL. Free out with pal_scanroot_free.
 */
int pal_scanroot_resolve(const char *named, pal_scanroot *out);
void pal_scanroot_free(pal_scanroot *r);

/*
 * The stable kebab-case name of a root failure, used as root_errors[].error in the scan
 * result (PROTOCOL.md) and mapped by clients: "not-found" (ENOENT, ENOTDIR, or replaced while
 * opened), "access-denied" (EACCES, EPERM), "symlink-loop" (ELOOP), "not-a-file-or-directory"
 * (a FIFO, socket or device), "error" (anything else).
 */
const char *pal_scanroot_error_name(pal_skip_reason reason, int errnum);

/* A sentence for the same failure ("No such file or directory", "not a regular file or
   directory", ...): static storage. */
const char *pal_scanroot_error_text(pal_skip_reason reason, int errnum);

#endif
