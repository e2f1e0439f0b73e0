/*
 * walker.h — walks the trees an on-demand scan covers, as the root broker must: never
 * following a symlink, never opening a FIFO, socket or device node (no hang, no side
 * effects), always relative to an open directory fd (so paths longer than PATH_MAX work),
 * and accounting for every entry it does not hand on, with the reason.
 *
 * Paths are raw bytes: a name may hold a newline or invalid UTF-8; encoding them for JSON
 * is the protocol layer's job. The walker is single-threaded; it hands each regular file
 * over as an open fd that the callback then owns (the scan pipeline scans it on another
 * thread and closes it).
 */
#ifndef PAL_WALKER_H
#define PAL_WALKER_H

#include <stddef.h>
#include <sys/stat.h>

#include "pal_error.h"

typedef enum pal_skip_reason {
    PAL_SKIP_EXCLUDED_PATH = 0,  /* under an ExclusionPath */
    PAL_SKIP_EXCLUDED_EXTENSION, /* extension in ExclusionExtension */
    PAL_SKIP_SYMLINK,            /* symbolic link: never followed */
    PAL_SKIP_SPECIAL,            /* FIFO, socket, character or block device */
    PAL_SKIP_UNREADABLE,         /* open or read denied */
    PAL_SKIP_VANISHED,           /* removed or replaced while walking */
    PAL_SKIP_FILESYSTEM,         /* pseudo, network or FUSE file system (Full scan) */
    PAL_SKIP_TOO_DEEP,           /* directory nesting beyond the walker's limit */
    PAL_SKIP_ERROR,              /* any other system error (errno is reported) */
    PAL_SKIP__COUNT
} pal_skip_reason;

/* Stable kebab-case names ("excluded-path", "symlink", ...) used in JSON and the store. */
const char *pal_skip_reason_name(pal_skip_reason r);

typedef struct pal_walk_file {
    int fd;           /* O_RDONLY regular file; ownership passes to the callback */
    int dirfd;        /* verified parent directory, valid during the callback only */
    const char *name; /* last component, valid during the callback only */
    const char *path; /* full path, NUL-terminated, valid during the callback only */
    size_t path_len;
    const struct stat *st; /* fstat of fd */
} pal_walk_file;

typedef struct pal_walk_ops {
    /* A regular file to scan. Returns 0 to go on, negative to stop the walk with that code. */
    int (*on_file)(void *ctx, const pal_walk_file *file);
    /* An entry not handed on. errnum is the errno for UNREADABLE/VANISHED/ERROR, else 0. */
    void (*on_skip)(void *ctx, const char *path, size_t path_len, pal_skip_reason reason,
                    int errnum);
    /* Optional. The root itself could not be walked (missing, a symlink, not a file or
       directory, cannot be opened or read): called instead of on_skip, since a scan that
       could not look at what it was asked to must say so, not count one skip. errnum is the
       errno (ELOOP for a symlink root, ESTALE when it was replaced while opened, 0 for a
       special file). Exclusions and the file-system filter still skip a root silently. */
    void (*on_root_error)(void *ctx, const char *path, size_t path_len, pal_skip_reason reason,
                          int errnum);
    void *ctx;
} pal_walk_ops;

typedef struct pal_walk_options {
    const char *const *exclude_paths; /* absolute; a match covers the path and below; in
                                         an entry, * and ? match within one component */
    size_t n_exclude_paths;
    /* optional, n_exclude_paths entries: nonzero where the entry has '*' or '?'; without it
       pal_walk works it out once per walk, pal_walk_is_excluded once per call */
    const unsigned char *exclude_path_wild;
    const char *const *exclude_exts; /* "log" or ".log", compared case-insensitively */
    size_t n_exclude_exts;
    int skip_pseudo_fs;         /* skip proc, sysfs, network and FUSE mounts */
    unsigned max_depth;         /* 0 = PAL_WALK_DEFAULT_MAX_DEPTH */
    const volatile int *cancel; /* non-zero stops the walk with PAL_ECANCELLED */
} pal_walk_options;

#define PAL_WALK_DEFAULT_MAX_DEPTH 512

/*
 * Walk root (a file or a directory). The last component of root is not followed if it is a
 * symlink (reported to on_root_error, or as a skip without it); a caller that means to scan
 * what a named link points to resolves it once before the walk (see scanroot.h). Returns 0 when the
 * walk completed (skips are not errors), PAL_ECANCELLED, the negative code an on_file callback
 * returned, or PAL_ENOMEM.
 */
int pal_walk(const char *root, const pal_walk_options *opts, const pal_walk_ops *ops);

/* Whether path (raw bytes) is excluded by the options' paths or extensions. */
int pal_walk_is_excluded(const pal_walk_options *opts, const char *path, size_t path_len,
                         int is_dir, pal_skip_reason *why);

#endif
