/*
 * tree_walk.c — the no-follow file tree walker described in tree_walk.h.
 *
 * Each entry is classified with fstatat(AT_SYMLINK_NOFOLLOW) relative to its directory fd,
 * then opened with openat(O_NOFOLLOW) and checked again with fstat: the type and the
 * (device, inode) pair must still match, so an entry replaced between the two calls is
 * reported as changed instead of being scanned under the wrong name. Opening uses
 * O_NONBLOCK so that a FIFO swapped in at the last moment cannot hang the walk.
 */
#include "tree_walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct walker {
    const tree_walk_ops *ops;
    void *ctx;
} walker;

const char *tree_walk_event_name(tree_walk_event ev)
{
    switch (ev) {
    case TREE_WALK_SYMLINK:
        return "symlink";
    case TREE_WALK_SPECIAL:
        return "special";
    case TREE_WALK_TOO_DEEP:
        return "too-deep";
    case TREE_WALK_ERROR:
        return "error";
    case TREE_WALK_CHANGED:
        return "changed";
    }
    return "unknown";
}

static int report(walker *w, tree_walk_event ev, const char *path, int errnum)
{
    return w->ops->event(w->ctx, ev, path, errnum);
}

/* dir + "/" + name, without doubling a trailing slash of dir. NULL when out of memory. */
static char *join_path(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    size_t slash = (dl > 0 && dir[dl - 1] != '/') ? 1 : 0;
    if (nl > SIZE_MAX - dl - slash - 1)
        return NULL;
    char *p = malloc(dl + slash + nl + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, dl);
    if (slash)
        p[dl] = '/';
    memcpy(p + dl + slash, name, nl + 1);
    return p;
}

static int same_object(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
           (a->st_mode & S_IFMT) == (b->st_mode & S_IFMT);
}

/*
 * Open name (relative to dirfd) if it is still the object fstatat saw; *now gets its fstat.
 * Returns the fd, or -1 after reporting the problem (*rc is the event callback's answer).
 */
static int open_checked(walker *w, int dirfd, const char *name, const char *path,
                        const struct stat *seen, int flags, struct stat *now, int *rc)
{
    int fd = openat(dirfd, name, flags | O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        /* ELOOP: it became a symlink since fstatat; ENXIO: it became a socket/FIFO. */
        if (errno == ELOOP || errno == ENXIO)
            *rc = report(w, TREE_WALK_CHANGED, path, 0);
        else
            *rc = report(w, TREE_WALK_ERROR, path, errno);
        return -1;
    }
    if (fstat(fd, now) != 0) {
        int e = errno;
        close(fd);
        *rc = report(w, TREE_WALK_ERROR, path, e);
        return -1;
    }
    if (!same_object(now, seen)) {
        close(fd);
        *rc = report(w, TREE_WALK_CHANGED, path, 0);
        return -1;
    }
    /* Reads of the regular file or directory should block normally from here on. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        *rc = report(w, TREE_WALK_ERROR, path, e);
        return -1;
    }
    *rc = 0;
    return fd;
}

static int visit_file(walker *w, int dirfd, const char *name, const char *path,
                      const struct stat *seen)
{
    struct stat st;
    int rc;
    int fd = open_checked(w, dirfd, name, path, seen, 0, &st, &rc);
    if (fd < 0)
        return rc;
    return w->ops->file(w->ctx, fd, path, &st);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    if (!names)
        return;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int walk_dir(walker *w, int dfd, const char *path, unsigned depth);

static int visit_entry(walker *w, int dirfd, const char *name, const char *path, unsigned depth)
{
    struct stat st;
    int rc;

    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return report(w, TREE_WALK_ERROR, path, errno);
    if (S_ISLNK(st.st_mode))
        return report(w, TREE_WALK_SYMLINK, path, 0);
    if (S_ISREG(st.st_mode))
        return visit_file(w, dirfd, name, path, &st);
    if (!S_ISDIR(st.st_mode))
        return report(w, TREE_WALK_SPECIAL, path, 0);
    if (depth >= TREE_WALK_MAX_DEPTH)
        return report(w, TREE_WALK_TOO_DEEP, path, 0);
    struct stat now;
    int fd = open_checked(w, dirfd, name, path, &st, O_DIRECTORY, &now, &rc);
    if (fd < 0)
        return rc;
    return walk_dir(w, fd, path, depth + 1);
}

/* Walk the directory open on dfd (consumed). */
static int walk_dir(walker *w, int dfd, const char *path, unsigned depth)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return report(w, TREE_WALK_ERROR, path, e);
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0)
                rc = report(w, TREE_WALK_ERROR, path, errno);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nn = ncap <= SIZE_MAX / sizeof(*nn) ? realloc(names, ncap * sizeof(*nn)) : NULL;
            if (!nn) {
                rc = PAL_ENOMEM;
                goto out_names;
            }
            names = nn;
            cap = ncap;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) {
            rc = PAL_ENOMEM;
            goto out_names;
        }
        n++;
    }
    if (rc < 0)
        goto out_names;
    if (n > 1)
        qsort(names, n, sizeof(*names), cmp_names);

    for (size_t i = 0; i < n && rc == 0; i++) {
        char *child = join_path(path, names[i]);
        if (!child) {
            rc = PAL_ENOMEM;
            break;
        }
        rc = visit_entry(w, dirfd(d), names[i], child, depth);
        free(child);
    }

out_names:
    free_names(names, n);
    closedir(d);
    return rc;
}

int tree_walk(const char *root, const tree_walk_ops *ops, void *ctx, pal_errbuf *err)
{
    walker w = {.ops = ops, .ctx = ctx};
    struct stat st;

    if (!root || !ops || !ops->file || !ops->event)
        return pal_err_set(err, PAL_EINVAL, "tree_walk: missing argument");
    if (fstatat(AT_FDCWD, root, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        int e = errno;
        return pal_err_set(err, (e == ENOENT || e == ENOTDIR) ? PAL_ENOTFOUND : PAL_EIO, "%s: %s",
                           root, strerror(e));
    }
    if (S_ISLNK(st.st_mode))
        return report(&w, TREE_WALK_SYMLINK, root, 0);
    if (S_ISREG(st.st_mode))
        return visit_file(&w, AT_FDCWD, root, root, &st);
    if (!S_ISDIR(st.st_mode))
        return report(&w, TREE_WALK_SPECIAL, root, 0);

    int fd = openat(AT_FDCWD, root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return pal_err_set(err, PAL_EIO, "%s: %s", root, strerror(e));
    }
    struct stat dst;
    if (fstat(fd, &dst) != 0 || !same_object(&dst, &st)) {
        close(fd);
        return pal_err_set(err, PAL_ERACE, "%s: changed while being opened", root);
    }
    return walk_dir(&w, fd, root, 0);
}
