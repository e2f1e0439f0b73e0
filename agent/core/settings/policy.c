/* policy.c — finding, vetting and parsing the policy directory's files (see policy.h). */
#include "policy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trustfile.h"

void pal_policy_files_clear(pal_policy_files *pf)
{
    if (!pf)
        return;
    for (size_t i = 0; i < pf->n; i++) {
        free(pf->files[i].path);
        json_decref(pf->files[i].doc);
    }
    free(pf->files);
    pf->files = NULL;
    pf->n = 0;
}

static int is_policy_name(const char *name)
{
    size_t len = strlen(name);
    /* hidden files are editors' and tools' temporaries, not policy */
    return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".json") == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int read_one(int dfd, const char *dir, const char *name, int check_owner,
                    pal_policy_file *out, pal_errbuf *err)
{
    char *path = NULL, *buf = NULL;
    int fd = -1, ret = 0;
    size_t plen = strlen(dir) + 1 + strlen(name) + 1;
    path = malloc(plen);
    if (!path)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    snprintf(path, plen, "%s/%s", dir, name);

    /* O_NONBLOCK: a FIFO named *.json must not hang the daemon; it is refused below. */
    fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        ret = pal_err_set(err, PAL_EIO, "cannot open policy file %s: %s", path, strerror(errno));
        goto out;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        ret = pal_err_set(err, PAL_EIO, "cannot stat policy file %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        ret = pal_err_set(err, PAL_EFORMAT, "policy file %s is not a regular file", path);
        goto out;
    }
    const char *why = check_owner ? pal_trustfile_problem(&sb) : NULL;
    if (why) {
        ret = pal_err_set(err, PAL_EPERM,
                          "policy file %s is %s (uid %u, mode %04o); it must be owned by root "
                          "and writable only by root",
                          path, why, (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777));
        goto out;
    }
    if (sb.st_size > PAL_POLICY_MAX_BYTES) {
        ret = pal_err_set(err, PAL_ELIMIT, "policy file %s is %lld bytes; the limit is %d", path,
                          (long long)sb.st_size, PAL_POLICY_MAX_BYTES);
        goto out;
    }
    /* Read up to one byte past the limit so a file that grew since fstat is caught. */
    buf = malloc(PAL_POLICY_MAX_BYTES + 1);
    if (!buf) {
        ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto out;
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, PAL_POLICY_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ret =
                pal_err_set(err, PAL_EIO, "cannot read policy file %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > PAL_POLICY_MAX_BYTES) {
            ret = pal_err_set(err, PAL_ELIMIT, "policy file %s is over %d bytes", path,
                              PAL_POLICY_MAX_BYTES);
            goto out;
        }
    }
    json_error_t jerr;
    json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        ret = pal_err_set(err, PAL_EFORMAT, "policy file %s: line %d column %d: %s", path,
                          jerr.line, jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        ret = pal_err_set(err, PAL_EFORMAT,
                          "policy file %s: the top level must be a JSON object mapping "
                          "setting names to values",
                          path);
        goto out;
    }
    out->path = path;
    out->doc = doc;
    path = NULL;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(path);
    return ret;
}

int pal_policy_read_dir(const char *dir, int check_owner, pal_policy_files *out, pal_errbuf *err)
{
    if (!dir || !out)
        return pal_err_set(err, PAL_EINVAL, "pal_policy_read_dir: bad arguments");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 && errno == ENOENT) {
        out->files = NULL;
        out->n = 0;
        return 0;
    }
    if (dfd < 0)
        return pal_err_set(err, PAL_EIO, "cannot open policy directory %s: %s", dir,
                           strerror(errno));

    int ret = 0;
    DIR *d = NULL;
    char **names = NULL;
    size_t n_names = 0;
    pal_policy_files pf = {0};

    struct stat sb;
    if (fstat(dfd, &sb) != 0) {
        ret =
            pal_err_set(err, PAL_EIO, "cannot stat policy directory %s: %s", dir, strerror(errno));
        close(dfd);
        goto out;
    }
    const char *why = check_owner ? pal_trustfile_problem(&sb) : NULL;
    if (why) {
        ret = pal_err_set(err, PAL_EPERM,
                          "policy directory %s is %s (uid %u, mode %04o); it must be owned by "
                          "root and writable only by root",
                          dir, why, (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777));
        close(dfd);
        goto out;
    }
    d = fdopendir(dfd);
    if (!d) {
        ret =
            pal_err_set(err, PAL_EIO, "cannot read policy directory %s: %s", dir, strerror(errno));
        close(dfd);
        goto out;
    }
    names = calloc(PAL_POLICY_MAX_FILES, sizeof(*names));
    if (!names) {
        ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                ret = pal_err_set(err, PAL_EIO, "cannot read policy directory %s: %s", dir,
                                  strerror(errno));
            break;
        }
        if (!is_policy_name(de->d_name))
            continue;
        if (n_names == PAL_POLICY_MAX_FILES) {
            ret = pal_err_set(err, PAL_ELIMIT, "policy directory %s has more than %d files", dir,
                              PAL_POLICY_MAX_FILES);
            break;
        }
        if (!(names[n_names] = strdup(de->d_name))) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            break;
        }
        n_names++;
    }
    if (ret)
        goto out;
    qsort(names, n_names, sizeof(*names), cmp_names);

    if (n_names) {
        pf.files = calloc(n_names, sizeof(*pf.files));
        if (!pf.files) {
            ret = pal_err_set(err, PAL_ENOMEM, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < n_names; i++) {
        ret = read_one(dirfd(d), dir, names[i], check_owner, &pf.files[pf.n], err);
        if (ret)
            goto out;
        pf.n++;
    }
    *out = pf;
    pf.files = NULL;
    pf.n = 0;
out:
    pal_policy_files_clear(&pf);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    if (d)
        closedir(d);
    return ret;
}
