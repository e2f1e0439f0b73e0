/*
 * safepath.h — reaching a file in a directory tree that hostile users own, for the root
 * broker's remediation (quarantine, remove, restore).
 *
 * A path is never handed to the kernel whole: it is resolved one component at a time with
 * openat(O_NOFOLLOW | O_DIRECTORY) from an fd of "/", so a symbolic link anywhere on the
 * way fails the resolution instead of being followed, and the result is an open fd of the
 * verified parent directory plus the final name. Every later step acts relative to that fd
 * (fstatat, openat, renameat2, unlinkat with the final name), so a directory swapped for a
 * symlink after the resolution cannot redirect the action: the fd keeps pointing at the
 * directory that was verified. Whether the final name still holds the file that was
 * scanned is the caller's question, answered with pal_safepath_same_file.
 *
 * Paths are raw bytes (NUL-terminated). "." and ".." components are refused (a lexical
 * path with ".." means something else than the directory it resolves through), empty
 * components ("//") are skipped.
 */
#ifndef PAL_SAFEPATH_H
#define PAL_SAFEPATH_H

#include <stdbool.h>
#include <sys/stat.h>

#include "pal_error.h"

typedef struct pal_safepath {
    int dirfd;  /* O_RDONLY | O_DIRECTORY fd of the parent, reached without following links */
    char *name; /* final component (malloc'd), never empty, ".", ".." or containing '/' */
} pal_safepath;

#define PAL_SAFEPATH_INIT                                                                          \
    {                                                                                              \
        .dirfd = -1, .name = NULL                                                                  \
    }

/*
 * Resolve path to its verified parent directory. On success *out holds the fd and name
 * (release with pal_safepath_close). Errors, with a message naming the component:
 *   PAL_EINVAL    not absolute, a "." or ".." component, no final name, a name too long
 *   PAL_ERACE     a component on the way is a symbolic link or not a directory
 *   PAL_ENOTFOUND a directory on the way does not exist
 *   PAL_EPERM     a directory on the way cannot be searched
 *   PAL_EIO       any other failure (the message holds the system's reason)
 */
int pal_safepath_open(const char *path, pal_safepath *out, pal_errbuf *err);

/* Closes the fd and frees the name; accepts NULL, PAL_SAFEPATH_INIT and a closed struct. */
void pal_safepath_close(pal_safepath *sp);

/* lstat of the final name, relative to the verified parent: 0 or -errno. */
int pal_safepath_lstat(const pal_safepath *sp, struct stat *st);

/*
 * Whether now is the file that was scanned: same device, inode, size and modification
 * time (seconds and nanoseconds). A file replaced after the scan, or rewritten in place,
 * differs in at least one of them.
 */
bool pal_safepath_same_file(const struct stat *now, const struct stat *scanned);

/* 16 random bytes as 32 lowercase hex digits + NUL, for unguessable temporary names.
   0 or PAL_EIO (getrandom failed). */
int pal_safepath_random_hex(char out[33]);

#endif
