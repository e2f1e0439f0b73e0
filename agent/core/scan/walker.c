/*
 * walker.c — the broker's directory walker (see walker.h for the contract).
 *
 * Each directory is held open while its subtree is walked, so the walk only ever descends
 * through fds it opened itself with O_NOFOLLOW|O_DIRECTORY: a directory swapped for a
 * symlink mid-walk is refused by the kernel, not followed. The depth limit bounds the fds
 * held at once.
 */
#define _GNU_SOURCE /* memrchr, O_NOATIME */
#include "walker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* Some magics are missing from older linux/magic.h. */
#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif
#ifndef CIFS_SUPER_MAGIC
#define CIFS_SUPER_MAGIC 0xFF534D42
#endif
#ifndef SMB2_SUPER_MAGIC
#define SMB2_SUPER_MAGIC 0xFE534D42
#endif
#ifndef CEPH_SUPER_MAGIC
#define CEPH_SUPER_MAGIC 0x00C36400
#endif
#ifndef CONFIGFS_MAGIC
#define CONFIGFS_MAGIC 0x62656570
#endif
#ifndef MQUEUE_MAGIC
#define MQUEUE_MAGIC 0x19800202
#endif
#ifndef V9FS_MAGIC
#define V9FS_MAGIC 0x01021997
#endif

static const char *const skip_names[PAL_SKIP__COUNT] = {
    [PAL_SKIP_EXCLUDED_PATH] = "excluded-path",
    [PAL_SKIP_EXCLUDED_EXTENSION] = "excluded-extension",
    [PAL_SKIP_SYMLINK] = "symlink",
    [PAL_SKIP_SPECIAL] = "special-file",
    [PAL_SKIP_UNREADABLE] = "unreadable",
    [PAL_SKIP_VANISHED] = "vanished",
    [PAL_SKIP_FILESYSTEM] = "excluded-filesystem",
    [PAL_SKIP_TOO_DEEP] = "too-deep",
    [PAL_SKIP_ERROR] = "error",
};

const char *pal_skip_reason_name(pal_skip_reason r)
{
    if ((unsigned)r >= PAL_SKIP__COUNT)
        return "unknown";
    return skip_names[r];
}

/* A growable path buffer; the walk appends and truncates components in place. */
typedef struct path_buf {
    char *data;
    size_t len;
    size_t cap;
} path_buf;

static int path_push(path_buf *p, const char *name, size_t *saved_len)
{
    size_t nlen = strlen(name);
    int need_slash = p->len > 0 && p->data[p->len - 1] != '/';
    size_t need = p->len + (size_t)need_slash + nlen + 1;
    if (need > p->cap) {
        size_t cap = p->cap ? p->cap : 256;
        while (cap < need)
            cap *= 2;
        char *d = realloc(p->data, cap);
        if (!d)
            return PAL_ENOMEM;
        p->data = d;
        p->cap = cap;
    }
    *saved_len = p->len;
    if (need_slash)
        p->data[p->len++] = '/';
    memcpy(p->data + p->len, name, nlen + 1);
    p->len += nlen;
    return 0;
}

static void path_pop(path_buf *p, size_t saved_len)
{
    p->len = saved_len;
    p->data[p->len] = '\0';
}

typedef struct walk_state {
    const pal_walk_options *opts;
    const pal_walk_ops *ops;
    path_buf path;
    unsigned max_depth;
} walk_state;

static int cancelled(const walk_state *ws)
{
    return ws->opts->cancel && *ws->opts->cancel;
}

static void skip(walk_state *ws, pal_skip_reason r, int errnum)
{
    if (ws->ops->on_skip)
        ws->ops->on_skip(ws->ops->ctx, ws->path.data, ws->path.len, r, errnum);
}

/* A failure of the root itself is the administrator's business, not a skip among many: it
   goes to on_root_error when the caller set it (depth 0 is the root entry). */
static void fail(walk_state *ws, unsigned depth, pal_skip_reason r, int errnum)
{
    if (depth == 0 && ws->ops->on_root_error)
        ws->ops->on_root_error(ws->ops->ctx, ws->path.data, ws->path.len, r, errnum);
    else
        skip(ws, r, errnum);
}

static pal_skip_reason reason_for_errno(int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
        return PAL_SKIP_UNREADABLE;
    case ENOENT:
    case ENOTDIR:
    case ESTALE:
        return PAL_SKIP_VANISHED;
    case ELOOP:
        return PAL_SKIP_SYMLINK;
    default:
        return PAL_SKIP_ERROR;
    }
}

static int is_pseudo_or_remote(long f_type)
{
    switch (f_type) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEVPTS_SUPER_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case SECURITYFS_MAGIC:
    case PSTOREFS_MAGIC:
    case BPF_FS_MAGIC:
    case CONFIGFS_MAGIC:
    case AUTOFS_SUPER_MAGIC:
    case MQUEUE_MAGIC:
    case HUGETLBFS_MAGIC:
    case BINFMTFS_MAGIC:
    case EFIVARFS_MAGIC:
    case NFS_SUPER_MAGIC:
    case SMB_SUPER_MAGIC:
    case CIFS_SUPER_MAGIC:
    case SMB2_SUPER_MAGIC:
    case CODA_SUPER_MAGIC:
    case AFS_SUPER_MAGIC:
    case CEPH_SUPER_MAGIC:
    case V9FS_MAGIC:
    case FUSE_SUPER_MAGIC:
        return 1;
    default:
        return 0;
    }
}

/* Whether one path component s[0..slen) matches the pattern component p[0..plen), where '*'
   is any run of characters and '?' any one character (neither is ever '/': the caller has cut
   both at the slashes). Every other byte, '[' and backslash included, stands for itself. The
   classic one-backtrack-point loop: linear in practice, O(plen * slen) at worst. */
static int component_matches(const char *p, size_t plen, const char *s, size_t slen)
{
    size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;
    while (si < slen) {
        if (pi < plen && p[pi] == '*') {
            star_p = pi++;
            star_s = si;
        } else if (pi < plen && (p[pi] == '?' || p[pi] == s[si])) {
            pi++;
            si++;
        } else if (star_p != (size_t)-1) {
            pi = star_p + 1;
            si = ++star_s;
        } else {
            return 0;
        }
    }
    while (pi < plen && p[pi] == '*')
        pi++;
    return pi == plen;
}

/*
 * Whether the wildcard pattern matches path or a directory above it, component by component
 * (FNM_PATHNAME: a wildcard never crosses a '/'), so the entry /home/STAR/cache matches
 * /home/x/cache and everything below it, never /home/x/y/cache. Patterns are absolute and
 * have no repeated or trailing slash (the setting's check); the walker's paths have none.
 */
static int pattern_under(const char *path, size_t path_len, const char *pat)
{
    const char *pe = pat + strlen(pat);
    const char *end = path + path_len;
    const char *s = path;
    const char *p = pat;
    for (;;) {
        /* both at a '/' (or the pattern's end) here */
        if (p == pe)
            return s == end || *s == '/';
        if (s == end)
            return 0;
        p++;
        s++;
        const char *pn = memchr(p, '/', (size_t)(pe - p));
        const char *sn = memchr(s, '/', (size_t)(end - s));
        if (!pn)
            pn = pe;
        if (!sn)
            sn = end;
        if (!component_matches(p, (size_t)(pn - p), s, (size_t)(sn - s)))
            return 0;
        p = pn;
        s = sn;
    }
}

/* A plain entry (no '*' or '?'): the prefix compare the walker always made. */
static int path_under(const char *path, size_t path_len, const char *prefix)
{
    size_t plen = strlen(prefix);
    while (plen > 1 && prefix[plen - 1] == '/')
        plen--;
    if (plen == 0 || path_len < plen || memcmp(path, prefix, plen) != 0)
        return 0;
    return path_len == plen || path[plen] == '/' || (plen == 1 && prefix[0] == '/');
}

/* A wildcard entry: the literal part before its first wildcard must be a prefix first. */
static int wild_under(const char *path, size_t path_len, const char *pattern)
{
    size_t lit = strcspn(pattern, "*?");
    if (pattern[0] != '/' || path_len < lit || memcmp(path, pattern, lit) != 0)
        return 0;
    return pattern_under(path, path_len, pattern);
}

static int extension_matches(const char *path, size_t path_len, const char *ext)
{
    const char *base = memrchr(path, '/', path_len);
    base = base ? base + 1 : path;
    const char *dot = memrchr(base, '.', (size_t)(path + path_len - base));
    if (!dot || dot == base)
        return 0;
    if (ext[0] == '.')
        ext++;
    size_t elen = strlen(ext);
    return elen > 0 && (size_t)(path + path_len - dot - 1) == elen &&
           strncasecmp(dot + 1, ext, elen) == 0;
}

int pal_walk_is_excluded(const pal_walk_options *opts, const char *path, size_t path_len,
                         int is_dir, pal_skip_reason *why)
{
    for (size_t i = 0; i < opts->n_exclude_paths; i++) {
        const char *e = opts->exclude_paths[i];
        int wild = opts->exclude_path_wild ? opts->exclude_path_wild[i] : !!strpbrk(e, "*?");
        if (wild ? wild_under(path, path_len, e) : path_under(path, path_len, e)) {
            *why = PAL_SKIP_EXCLUDED_PATH;
            return 1;
        }
    }
    if (!is_dir) {
        for (size_t i = 0; i < opts->n_exclude_exts; i++) {
            if (extension_matches(path, path_len, opts->exclude_exts[i])) {
                *why = PAL_SKIP_EXCLUDED_EXTENSION;
                return 1;
            }
        }
    }
    return 0;
}

static int open_regular(int dirfd, const char *name)
{
    int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    /* O_NOATIME keeps a full scan from rewriting every inode; only the owner or root may. */
    int fd = openat(dirfd, name, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(dirfd, name, flags);
    return fd;
}

static int walk_dir(walk_state *ws, int dirfd, unsigned depth);

/* Handles one entry of an open directory (or the root, with dirfd AT_FDCWD). */
static int walk_entry(walk_state *ws, int dirfd, const char *name, unsigned depth)
{
    struct stat st;
    pal_skip_reason why;

    if (cancelled(ws))
        return PAL_ECANCELLED;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        fail(ws, depth, reason_for_errno(errno), errno);
        return 0;
    }
    if (S_ISLNK(st.st_mode)) {
        fail(ws, depth, PAL_SKIP_SYMLINK, ELOOP);
        return 0;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        fail(ws, depth, PAL_SKIP_SPECIAL, 0);
        return 0;
    }
    if (pal_walk_is_excluded(ws->opts, ws->path.data, ws->path.len, S_ISDIR(st.st_mode), &why)) {
        skip(ws, why, 0);
        return 0;
    }

    if (S_ISDIR(st.st_mode)) {
        if (depth >= ws->max_depth) {
            skip(ws, PAL_SKIP_TOO_DEEP, 0);
            return 0;
        }
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
            fail(ws, depth, reason_for_errno(errno), errno);
            return 0;
        }
        struct stat dst;
        if (fstat(fd, &dst) != 0 || dst.st_dev != st.st_dev || dst.st_ino != st.st_ino) {
            /* replaced between the lstat and the open: not the directory we decided on */
            close(fd);
            fail(ws, depth, PAL_SKIP_VANISHED, ESTALE);
            return 0;
        }
        if (ws->opts->skip_pseudo_fs) {
            struct statfs sfs;
            if (fstatfs(fd, &sfs) == 0 && is_pseudo_or_remote((long)sfs.f_type)) {
                close(fd);
                skip(ws, PAL_SKIP_FILESYSTEM, 0);
                return 0;
            }
        }
        int rc = walk_dir(ws, fd, depth + 1); /* takes fd */
        return rc;
    }

    int fd = open_regular(dirfd, name);
    if (fd < 0) {
        fail(ws, depth, reason_for_errno(errno), errno);
        return 0;
    }
    struct stat fst;
    if (fstat(fd, &fst) != 0) {
        int e = errno;
        close(fd);
        fail(ws, depth, reason_for_errno(e), e);
        return 0;
    }
    if (!S_ISREG(fst.st_mode)) {
        close(fd);
        fail(ws, depth, PAL_SKIP_SPECIAL, 0);
        return 0;
    }
    if (fst.st_dev != st.st_dev || fst.st_ino != st.st_ino) {
        close(fd);
        fail(ws, depth, PAL_SKIP_VANISHED, ESTALE);
        return 0;
    }
    pal_walk_file wf = {
        .fd = fd,
        .dirfd = dirfd,
        .name = name,
        .path = ws->path.data,
        .path_len = ws->path.len,
        .st = &fst,
    };
    return ws->ops->on_file(ws->ops->ctx, &wf);
}

/* Names are collected first so that the directory stream is not held across callbacks. */
typedef struct name_list {
    char **names;
    size_t n, cap;
} name_list;

static void name_list_free(name_list *nl)
{
    for (size_t i = 0; i < nl->n; i++)
        free(nl->names[i]);
    free(nl->names);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_names(int dirfd, name_list *nl, int *err_out)
{
    int dfd = dup(dirfd);
    if (dfd < 0) {
        *err_out = errno;
        return PAL_EIO;
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        *err_out = errno;
        close(dfd);
        return PAL_EIO;
    }
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                *err_out = errno;
                rc = PAL_EIO;
            }
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (nl->n == nl->cap) {
            size_t cap = nl->cap ? nl->cap * 2 : 64;
            char **nn = realloc(nl->names, cap * sizeof(*nn));
            if (!nn) {
                rc = PAL_ENOMEM;
                break;
            }
            nl->names = nn;
            nl->cap = cap;
        }
        char *copy = strdup(de->d_name);
        if (!copy) {
            rc = PAL_ENOMEM;
            break;
        }
        nl->names[nl->n++] = copy;
    }
    closedir(d);
    /* A stable order makes scans and their reports reproducible. */
    if (rc == 0 && nl->n > 1)
        qsort(nl->names, nl->n, sizeof(*nl->names), name_cmp);
    return rc;
}

static int walk_dir(walk_state *ws, int dirfd, unsigned depth)
{
    name_list nl = {0};
    int err = 0;
    int rc = read_names(dirfd, &nl, &err);
    if (rc == PAL_ENOMEM)
        goto out;
    if (rc != 0) {
        /* what was read is still walked; the failure itself is reported */
        fail(ws, depth - 1, reason_for_errno(err), err);
        rc = 0;
    }
    for (size_t i = 0; i < nl.n && rc == 0; i++) {
        size_t saved;
        rc = path_push(&ws->path, nl.names[i], &saved);
        if (rc != 0)
            break;
        rc = walk_entry(ws, dirfd, nl.names[i], depth);
        path_pop(&ws->path, saved);
    }
out:
    name_list_free(&nl);
    close(dirfd);
    return rc;
}

int pal_walk(const char *root, const pal_walk_options *opts, const pal_walk_ops *ops)
{
    if (!root || !*root || !opts || !ops || !ops->on_file)
        return PAL_EINVAL;
    walk_state ws = {
        .opts = opts,
        .ops = ops,
        .max_depth = opts->max_depth ? opts->max_depth : PAL_WALK_DEFAULT_MAX_DEPTH,
    };
    /* which exclusion entries have wildcards, found once per walk rather than per file:
       a plain entry then costs exactly the prefix compare it always did */
    pal_walk_options local = *opts;
    unsigned char *wild = NULL;
    if (opts->n_exclude_paths && !opts->exclude_path_wild) {
        wild = malloc(opts->n_exclude_paths);
        if (!wild)
            return PAL_ENOMEM;
        for (size_t i = 0; i < opts->n_exclude_paths; i++)
            wild[i] = strpbrk(opts->exclude_paths[i], "*?") != NULL;
        local.exclude_path_wild = wild;
        ws.opts = &local;
    }
    size_t saved;
    int rc = path_push(&ws.path, root, &saved);
    if (rc == 0) {
        /* the root's parents are the administrator's choice; only its last component is
           held to the no-follow rule, like every component below it */
        while (ws.path.len > 1 && ws.path.data[ws.path.len - 1] == '/')
            ws.path.data[--ws.path.len] = '\0';
        rc = walk_entry(&ws, AT_FDCWD, ws.path.data, 0);
    }
    free(ws.path.data);
    free(wild);
    return rc;
}
