/*
 * tree_walk.h — walk a file tree without ever following a symbolic link.
 *
 * For signature authors' tools (palisade-sigtool scan, the engine benchmark); the daemon has
 * its own walker. Every step is relative to an open directory fd (openat/fstatat with
 * O_NOFOLLOW / AT_SYMLINK_NOFOLLOW), so a symlink planted anywhere in the tree, or swapped in
 * during the walk, is reported and never entered or opened. FIFOs, sockets and devices are
 * reported and never opened (opening one can block or have side effects). Entries of each
 * directory are visited in byte order of their names, so output is reproducible.
 */
#ifndef PAL_TREE_WALK_H
#define PAL_TREE_WALK_H

#include <sys/stat.h>

#include "pal_error.h"

/* Deepest directory nesting walked below a root; deeper directories are reported. */
#define TREE_WALK_MAX_DEPTH 256

typedef enum tree_walk_event {
    TREE_WALK_SYMLINK = 1, /* a symbolic link: not followed */
    TREE_WALK_SPECIAL,     /* FIFO, socket, character or block device: not opened */
    TREE_WALK_TOO_DEEP,    /* a directory nested deeper than TREE_WALK_MAX_DEPTH: not entered */
    TREE_WALK_ERROR,       /* stat, open or read of the entry failed; errnum says why */
    TREE_WALK_CHANGED,     /* the entry changed type or identity between stat and open */
} tree_walk_event;

typedef struct tree_walk_ops {
    /*
     * A regular file, opened O_RDONLY | O_NOFOLLOW | O_CLOEXEC; st is fstat of fd. The
     * callback owns fd and must close it. Return 0 to go on, a negative PAL_E* code to stop
     * the walk (tree_walk returns that code).
     */
    int (*file)(void *ctx, int fd, const char *path, const struct stat *st);
    /* Anything else not walked; errnum is an errno value for TREE_WALK_ERROR, else 0.
       Return 0 to go on, negative to stop. */
    int (*event)(void *ctx, tree_walk_event ev, const char *path, int errnum);
} tree_walk_ops;

/* Short lowercase name of an event ("symlink", "special", ...). */
const char *tree_walk_event_name(tree_walk_event ev);

/*
 * Walk root (a regular file or a directory; a root that is a symlink or special file is
 * passed to ops->event). Paths given to the callbacks are root joined with the names below
 * it by '/'. Returns 0 when the walk completed (problems with entries went to ops->event),
 * PAL_ENOTFOUND, PAL_EIO or PAL_ERACE (err says why) when root itself cannot be examined or
 * opened, PAL_ENOMEM,
 * or the negative code a callback returned to stop.
 */
int tree_walk(const char *root, const tree_walk_ops *ops, void *ctx, pal_errbuf *err);

#endif
