/* trustkeys.c — the daemon's vetted loading of its trusted signature keys (trustkeys.h). */
#define _GNU_SOURCE
#include "trustkeys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settings.h" /* pal_strlist_free */
#include "trustfile.h"

typedef struct problems {
    char **msgs;
    size_t n;
    int nomem;
} problems;

static void note(problems *p, const char *msg)
{
    char **m = realloc(p->msgs, (p->n + 1) * sizeof(*m));
    if (!m) {
        p->nomem = 1;
        return;
    }
    p->msgs = m;
    if (!(m[p->n] = strdup(msg)))
        p->nomem = 1;
    else
        p->n++;
}

static int is_key_name(const char *name)
{
    size_t len = strlen(name);
    return name[0] != '.' && len > 4 && strcmp(name + len - 4, ".pub") == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Read all of fd, at most PAL_TRUSTKEYS_MAX_BYTES (one more byte read catches a file that
   grew after fstat). */
static int read_bounded(int fd, const char *shown, char **out, size_t *len, pal_errbuf *err)
{
    char *buf = malloc(PAL_TRUSTKEYS_MAX_BYTES + 1);
    if (!buf)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, PAL_TRUSTKEYS_MAX_BYTES + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            return pal_err_set(err, PAL_EIO, "cannot read trusted key file %s: %s", shown,
                               strerror(e));
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > PAL_TRUSTKEYS_MAX_BYTES) {
            free(buf);
            return pal_err_set(err, PAL_ELIMIT, "trusted key file %s is over %d bytes", shown,
                               PAL_TRUSTKEYS_MAX_BYTES);
        }
    }
    *out = buf;
    *len = got;
    return 0;
}

/* Vet and add one key file; 0 when added, else the reason in err. */
static int load_one(pal_keyring *kr, int dfd, const char *dir, const char *name, int check_owner,
                    pal_errbuf *err)
{
    char shown[4200];
    snprintf(shown, sizeof(shown), "%s/%s", dir, name);
    int fd = -1;
    int rc =
        pal_trustfile_open(dfd, name, shown, "trusted key file", 0, check_owner, &fd, NULL, err);
    if (rc)
        return rc;
    char *pem = NULL;
    size_t len = 0;
    rc = read_bounded(fd, shown, &pem, &len, err);
    close(fd);
    if (rc)
        return rc;
    rc = pal_keyring_add_pem(kr, pem, len, shown, err);
    free(pem);
    return rc;
}

int pal_trustkeys_load(pal_keyring *kr, const char *dir, int check_owner, char ***problems_out,
                       size_t *n_problems, pal_errbuf *err)
{
    problems p = {0};
    char **names = NULL;
    size_t n = 0;
    DIR *d = NULL;
    int rc = 0;
    if (!kr || !dir || !problems_out || !n_problems)
        return pal_err_set(err, PAL_EINVAL, "pal_trustkeys_load: bad arguments");

    int dfd = -1;
    rc = pal_trustfile_open(AT_FDCWD, dir, dir, "trusted keys directory", 1, check_owner, &dfd,
                            NULL, err);
    if (rc) {
        char msg[sizeof(err->msg) + 64];
        snprintf(msg, sizeof(msg), "%s; no key from it is trusted", err ? err->msg : dir);
        note(&p, msg);
        goto out;
    }
    if (!(d = fdopendir(dfd))) {
        rc = pal_err_set(err, PAL_EIO, "cannot read trusted keys directory %s: %s", dir,
                         strerror(errno));
        close(dfd);
        note(&p, err ? err->msg : dir);
        goto out;
    }
    if (!(names = calloc(PAL_TRUSTKEYS_MAX_FILES, sizeof(*names)))) {
        rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                rc = pal_err_set(err, PAL_EIO, "cannot read trusted keys directory %s: %s", dir,
                                 strerror(errno));
            break;
        }
        if (!is_key_name(de->d_name))
            continue;
        if (n == PAL_TRUSTKEYS_MAX_FILES) {
            rc = pal_err_set(err, PAL_ELIMIT,
                             "trusted keys directory %s has more than %d *.pub "
                             "files",
                             dir, PAL_TRUSTKEYS_MAX_FILES);
            break;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        n++;
    }
    if (rc) {
        note(&p, err ? err->msg : dir);
        goto out;
    }
    /* sorted, so that which key wins a conflict does not depend on readdir order */
    qsort(names, n, sizeof(*names), cmp_names);
    size_t usable = 0;
    for (size_t i = 0; i < n; i++) {
        pal_errbuf e = {{0}};
        int r = load_one(kr, dirfd(d), dir, names[i], check_owner, &e);
        if (r == PAL_ENOMEM) {
            rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
            goto out;
        }
        if (r == 0) {
            usable++;
            continue;
        }
        char msg[sizeof(e.msg) + 32];
        snprintf(msg, sizeof(msg), "%s; this key is not trusted", e.msg);
        note(&p, msg);
    }
    if (usable == 0)
        rc = pal_err_set(err, PAL_ENOTFOUND, "trusted keys directory %s has no usable key%s", dir,
                         n ? " (see the problems reported with it)" : " (no *.pub file)");
out:
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    if (d)
        closedir(d);
    if (p.nomem) {
        pal_strlist_free(p.msgs, p.n);
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    }
    *problems_out = p.msgs;
    *n_problems = p.n;
    return rc;
}
