/*
 * policy.c — the policy layer's input: finding, vetting and parsing the policy directory's
 * files (see policy.h), and turning the parsed files into one value and file per setting,
 * checked against the registry, with the stored form of the last good policy
 * (settings_internal.h). Putting a policy in force is settings.c's.
 */
#include "policy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "settings_internal.h"
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

/* ---- the files as per-setting values ------------------------------------------------------ */

static const pal_setting_def *const registry = pal_settings_table;

void pal_policy_set_clear(pal_policy_set *p)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        json_decref(p->value[i]);
        free(p->file[i]);
    }
    pal_strlist_free(p->files, p->n_files);
    memset(p, 0, sizeof(*p));
}

/* Merge parsed policy files into *p (later files win); the first problem fails it all. */
int pal_policy_set_from_files(const pal_policy_files *pf, pal_policy_set *p, pal_errbuf *err)
{
    shown sh;
    memset(p, 0, sizeof(*p));
    if (pf->n && !(p->files = calloc(pf->n, sizeof(*p->files))))
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    for (size_t f = 0; f < pf->n; f++) {
        const char *path = pf->files[f].path;
        const char *key;
        json_t *val;
        unsigned char seen[N_SETTINGS] = {0};
        if (!(p->files[p->n_files] = strdup(path)))
            goto nomem;
        p->n_files++;
        json_object_foreach(pf->files[f].doc, key, val)
        {
            pal_errbuf e = {{0}};
            json_t *norm = NULL;
            int i = find_index(key);
            if (i < 0) {
                pal_policy_set_clear(p);
                return pal_err_set(err, PAL_EINVAL, "policy file %s: unknown setting \"%s\"", path,
                                   printable(key, &sh));
            }
            if (seen[i]) {
                pal_policy_set_clear(p);
                return pal_err_set(err, PAL_EINVAL, "policy file %s: setting %s appears twice",
                                   path, registry[i].name);
            }
            seen[i] = 1;
            int ret = pal_setting_validate(&registry[i], val, &norm, &e);
            if (ret) {
                pal_policy_set_clear(p);
                return pal_err_set(err, ret == PAL_ENOMEM ? ret : PAL_EINVAL, "policy file %s: %s",
                                   path, e.msg);
            }
            json_decref(p->value[i]);
            free(p->file[i]);
            p->value[i] = norm;
            if (!(p->file[i] = strdup(path)))
                goto nomem;
        }
    }
    return 0;
nomem:
    pal_policy_set_clear(p);
    return pal_err_set(err, PAL_ENOMEM, "out of memory");
}

/* {"files": [...], "settings": {"Name": {"value": v, "file": f}}} for the store. */
char *pal_policy_set_to_json(const pal_policy_set *p)
{
    json_t *root = json_object(), *files = json_array(), *set = json_object();
    char *text = NULL;
    int bad = !root || !files || !set;
    for (size_t i = 0; !bad && i < p->n_files; i++)
        bad = json_array_append_new(files, json_string(p->files[i])) != 0;
    for (size_t i = 0; !bad && i < N_SETTINGS; i++) {
        if (!p->value[i])
            continue;
        json_t *e = json_pack("{sOss}", "value", p->value[i], "file", p->file[i]);
        bad = !e || json_object_set_new(set, registry[i].name, e) != 0;
    }
    if (!bad && json_object_set(root, "files", files) == 0 &&
        json_object_set(root, "settings", set) == 0)
        text = json_dumps(root, JSON_COMPACT);
    json_decref(files);
    json_decref(set);
    json_decref(root);
    return text;
}

/* The inverse of pal_policy_set_to_json; entries that no longer validate are dropped. */
int pal_policy_set_from_json(const char *text, pal_policy_set *p)
{
    memset(p, 0, sizeof(*p));
    json_t *root = json_loads(text, 0, NULL);
    json_t *files = json_object_get(root, "files"), *set = json_object_get(root, "settings");
    if (!json_is_array(files) || !json_is_object(set)) {
        json_decref(root);
        return PAL_EFORMAT;
    }
    int ret = 0;
    size_t k;
    json_t *v;
    if (json_array_size(files) > PAL_POLICY_MAX_FILES ||
        (json_array_size(files) && !(p->files = calloc(json_array_size(files), sizeof(char *)))))
        ret = PAL_EFORMAT;
    json_array_foreach(files, k, v)
    {
        if (ret || !json_is_string(v) || !(p->files[p->n_files] = strdup(json_string_value(v)))) {
            ret = PAL_EFORMAT;
            break;
        }
        p->n_files++;
    }
    const char *key;
    json_object_foreach(set, key, v)
    {
        int i = find_index(key);
        const char *file = json_string_value(json_object_get(v, "file"));
        json_t *norm = NULL;
        if (ret || i < 0 || !file ||
            pal_setting_validate(&registry[i], json_object_get(v, "value"), &norm, NULL) != 0)
            continue;
        p->value[i] = norm;
        if (!(p->file[i] = strdup(file)))
            ret = PAL_ENOMEM;
    }
    json_decref(root);
    if (ret)
        pal_policy_set_clear(p);
    return ret;
}
