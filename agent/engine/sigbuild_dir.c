/*
 * sigbuild_dir.c — owns reading a package source directory for the builder (palisade-sigtool
 * build DIR): catalog.tsv, hashes.tsv (SHA-256 lines, and sized MD5/SHA-1/SHA-256 lines),
 * allow.tsv and every *.yar, each line or file handed to the builder's public calls, errors
 * named by file and line. The formats are in sigbuild.h.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigbuild.h"
#include "sigpkg_format.h" /* pal_sigfile_read */

#define SOURCE_FILE_MAX (64u << 20) /* one .yar file */
#define TSV_FILE_MAX (1u << 30)     /* catalog.tsv, hashes.tsv, allow.tsv: millions of lines */
#define TSV_MAX_FIELDS 4

/* Room for element n of arr: arr itself, or the array moved and *cap doubled; NULL (arr
   untouched) when memory runs out. */
static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / elem)
        return NULL;
    void *p = realloc(arr, ncap * elem);
    if (p)
        *cap = ncap;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int parse_sha256_hex(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64)
        return PAL_EINVAL;
    for (int i = 0; i < 32; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return PAL_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static char *join_path(const char *dir, const char *name)
{
    size_t need = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(need);
    if (p)
        snprintf(p, need, "%s/%s", dir, name);
    return p;
}

/* ---- source directory --------------------------------------------------------------------- */

/* Split line at tabs into at most max fields, trimming spaces; returns the field count. */
static size_t split_tsv(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *tab = strchr(p, '\t');
        if (tab)
            *tab = '\0';
        while (*p == ' ')
            p++;
        size_t l = strlen(p);
        while (l > 0 && p[l - 1] == ' ')
            p[--l] = '\0';
        if (n < max)
            fields[n] = p;
        n++;
        if (!tab)
            return n;
        p = tab + 1;
    }
}

typedef int (*tsv_line_fn)(pal_sigbuild *b, char **fields, size_t n, pal_errbuf *err);

static int parse_tsv(pal_sigbuild *b, char *text, const char *path, tsv_line_fn fn, pal_errbuf *err)
{
    unsigned lineno = 0;
    char *p = text;
    while (*p) {
        char *line = p;
        char *nl = strchr(p, '\n');
        if (nl) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p += strlen(p);
        }
        lineno++;
        size_t l = strlen(line);
        if (l > 0 && line[l - 1] == '\r')
            line[--l] = '\0';
        const char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        char *fields[TSV_MAX_FIELDS];
        size_t n = split_tsv(line, fields, TSV_MAX_FIELDS);
        pal_errbuf e;
        int rc = fn(b, fields, n, &e);
        if (rc)
            return pal_err_set(err, rc, "%s:%u: %s", path, lineno, e.msg);
    }
    return 0;
}

static int catalog_line(pal_sigbuild *b, char **f, size_t n, pal_errbuf *err)
{
    if (n != 4)
        return pal_err_set(err, PAL_EFORMAT,
                           "expected 4 tab-separated fields (name, severity, category, "
                           "action), got %zu",
                           n);
    pal_severity sev;
    pal_action act;
    if (pal_severity_parse(f[1], &sev))
        return pal_err_set(err, PAL_EFORMAT,
                           "unknown severity \"%.32s\" (Low, Moderate, High, Severe)", f[1]);
    if (pal_action_parse(f[3], &act))
        return pal_err_set(err, PAL_EFORMAT,
                           "unknown action \"%.32s\" (Quarantine, Remove, NoAction)", f[3]);
    return pal_sigbuild_add_threat(b, f[0], sev, f[2], act, err);
}

/* Hex digest of 32, 40 or 64 digits: its algorithm, or 0. */
static pal_hash_alg parse_digest_hex(const char *s, uint8_t out[32])
{
    size_t l = strlen(s);
    pal_hash_alg alg = l == 32   ? PAL_HASH_MD5
                       : l == 40 ? PAL_HASH_SHA1
                       : l == 64 ? PAL_HASH_SHA256
                                 : 0;
    for (size_t i = 0; alg && i < l / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return alg;
}

/* A size field: decimal bytes, or "*" for any size. */
static int parse_size(const char *s, uint64_t *out)
{
    if (strcmp(s, "*") == 0) {
        *out = PAL_HASH_ANY_SIZE;
        return 0;
    }
    uint64_t v = 0;
    if (!*s)
        return PAL_EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 10) / 10)
            return PAL_EINVAL;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int sized_line(pal_sigbuild *b, char **f, const char *threat, pal_errbuf *err)
{
    uint8_t d[32];
    uint64_t size;
    pal_hash_alg alg = parse_digest_hex(f[0], d);
    if (!alg)
        return pal_err_set(err, PAL_EFORMAT, "\"%.70s\" is not 32, 40 or 64 hex digits", f[0]);
    if (parse_size(f[1], &size))
        return pal_err_set(err, PAL_EFORMAT, "size \"%.30s\" is not a number or *", f[1]);
    return pal_sigbuild_add_hash(b, alg, d, size, threat, err);
}

static int allow_line(pal_sigbuild *b, char **f, size_t n, pal_errbuf *err)
{
    if (n != 2)
        return pal_err_set(err, PAL_EFORMAT,
                           "expected 2 tab-separated fields (digest, size), got %zu", n);
    return sized_line(b, f, NULL, err);
}

static int hashes_line(pal_sigbuild *b, char **f, size_t n, pal_errbuf *err)
{
    if (n == 3)
        return sized_line(b, f, f[2], err);
    if (n != 2)
        return pal_err_set(err, PAL_EFORMAT,
                           "expected 2 tab-separated fields (sha256, threat) or 3 (digest, "
                           "size, threat), got %zu",
                           n);
    uint8_t sha[32];
    if (parse_sha256_hex(f[0], sha))
        return pal_err_set(err, PAL_EFORMAT, "\"%.70s\" is not 64 hex digits", f[0]);
    return pal_sigbuild_add_sha256(b, sha, f[1], err);
}

static int ends_with_yar(const char *name)
{
    size_t l = strlen(name);
    return name[0] != '.' && l > 4 && strcmp(name + l - 4, ".yar") == 0;
}

static int list_yar(const char *dir, char ***out, size_t *count, pal_errbuf *err)
{
    int rc = 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (!d)
        return pal_err_set(err, PAL_EIO, "%s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((errno = 0, de = readdir(d)) != NULL) {
        if (!ends_with_yar(de->d_name))
            continue;
        char **more = grow(names, &cap, n, sizeof(*names));
        if (!more) {
            rc = PAL_ENOMEM;
            goto out;
        }
        names = more;
        if (!(names[n] = strdup(de->d_name))) {
            rc = PAL_ENOMEM;
            goto out;
        }
        n++;
    }
    if (errno != 0)
        rc = pal_err_set(err, PAL_EIO, "%s: %s", dir, strerror(errno));
out:
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    *out = names;
    *count = n;
    return 0;
}

static int cmp_strptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read DIR/NAME and feed each line to fn; an optional file that is absent adds nothing. */
static int read_tsv(pal_sigbuild *b, const char *dir, const char *name, int optional,
                    tsv_line_fn fn, pal_errbuf *err)
{
    char *path = join_path(dir, name), *text = NULL;
    size_t len;
    if (!path)
        return PAL_ENOMEM;
    int rc = pal_sigfile_read(path, TSV_FILE_MAX, &text, &len, err);
    if (rc == 0)
        rc = parse_tsv(b, text, path, fn, err);
    else if (rc == PAL_ENOTFOUND && optional)
        rc = 0;
    free(text);
    free(path);
    return rc;
}

int pal_sigbuild_add_dir(pal_sigbuild *b, const char *dir, pal_errbuf *err)
{
    if (!b || !dir)
        return pal_err_set(err, PAL_EINVAL, "no builder or directory");
    int rc;
    char *path = NULL, *text = NULL;
    char **yar = NULL;
    size_t n_yar = 0, len;

    if ((rc = read_tsv(b, dir, "catalog.tsv", 0, catalog_line, err)) ||
        (rc = read_tsv(b, dir, "hashes.tsv", 1, hashes_line, err)) ||
        (rc = read_tsv(b, dir, "allow.tsv", 1, allow_line, err)))
        goto out;

    if ((rc = list_yar(dir, &yar, &n_yar, err)))
        goto out;
    qsort(yar, n_yar, sizeof(*yar), cmp_strptr); /* deterministic rule order */
    for (size_t i = 0; i < n_yar; i++) {
        free(path);
        path = NULL;
        if (!(path = join_path(dir, yar[i]))) {
            rc = PAL_ENOMEM;
            goto out;
        }
        free(text);
        text = NULL;
        if ((rc = pal_sigfile_read(path, SOURCE_FILE_MAX, &text, &len, err)))
            goto out;
        if (strlen(text) != len) {
            rc = pal_err_set(err, PAL_EFORMAT, "%s: contains a NUL byte", path);
            goto out;
        }
        if ((rc = pal_sigbuild_add_rules(b, text, path, err)))
            goto out;
    }
out:
    for (size_t i = 0; i < n_yar; i++)
        free(yar[i]);
    free(yar);
    free(text);
    free(path);
    return rc;
}
