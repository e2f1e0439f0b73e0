/*
 * sigtool_import.c — owns `palisade-sigtool import`: reading ClamAV databases (loose files,
 * and .cvd/.cld containers whose header is checked before they are unpacked) and writing
 * the source directory `palisade-sigtool build` signs: catalog.tsv, hashes.tsv, allow.tsv
 * and import-report.txt.
 *
 *   palisade-sigtool import [--clamav DBDIR]... --out SRCDIR [--report FILE]
 *
 * What is carried (agent/sigtool/README.md says why, and how names and severities are
 * chosen):
 *   .hdb .hsb (.hdu .hsu)  MD5 / SHA-1 / SHA-256 with a size or "*": hashes.tsv
 *   .fp .sfp               the same hashes as allow entries: allow.tsv
 *   .ign2 .ign             signature names dropped from the import (as ClamAV drops them
 *                          at load), each listed in the report
 * Everything else is listed in the report by file, line and signature name under
 * "not-carried", and counted per format: never dropped silently. A line that cannot be
 * parsed, a digest that is not hex, a truncated container or one whose MD5 does not match
 * its header is refused with the file and line named, and nothing is written.
 */
#define _GNU_SOURCE
#include "sigtool_import.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include <yara.h>

#include "sigpkg.h"
#include "sigpkg_format.h" /* pal_sigfile_read */
#include "sigtool_import_ldb.h"
#include "sigtool_import_ndb.h"
#include "sigtool_import_yara.h"

#define EXIT_OK 0
#define EXIT_ERROR 2
#define DB_FILE_MAX (1u << 30)
#define CVD_HEADER 512
#define MAX_DIRS 64

static const char *prog = "palisade-sigtool import";

/* ---- interned strings ------------------------------------------------------------------- */

typedef struct strset {
    char **s; /* by index */
    size_t n, cap;
    uint32_t *slot; /* open addressing: index + 1, 0 empty */
    size_t nslot;   /* power of two */
} strset;

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int strset_rehash(strset *t, size_t nslot)
{
    uint32_t *slot = calloc(nslot, sizeof(*slot));
    if (!slot)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        size_t k = str_hash(t->s[i]) & (nslot - 1);
        while (slot[k])
            k = (k + 1) & (nslot - 1);
        slot[k] = (uint32_t)i + 1;
    }
    free(t->slot);
    t->slot = slot;
    t->nslot = nslot;
    return 0;
}

/* Index of s in t, adding it when add; -1 when absent (or out of memory). */
static long strset_find(strset *t, const char *s, int add)
{
    if (t->nslot) {
        size_t k = str_hash(s) & (t->nslot - 1);
        while (t->slot[k]) {
            if (strcmp(t->s[t->slot[k] - 1], s) == 0)
                return (long)t->slot[k] - 1;
            k = (k + 1) & (t->nslot - 1);
        }
    }
    if (!add)
        return -1;
    if ((t->n + 1) * 2 > t->nslot && strset_rehash(t, t->nslot ? t->nslot * 2 : 1024))
        return -1;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        char **s2 = realloc(t->s, cap * sizeof(*s2));
        if (!s2)
            return -1;
        t->s = s2;
        t->cap = cap;
    }
    if (!(t->s[t->n] = strdup(s)))
        return -1;
    size_t k = str_hash(s) & (t->nslot - 1);
    while (t->slot[k])
        k = (k + 1) & (t->nslot - 1);
    t->slot[k] = (uint32_t)t->n + 1;
    return (long)t->n++;
}

static void strset_free(strset *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->slot);
}

/* ---- the import ------------------------------------------------------------------------- */

enum fmt { F_HDB, F_HSB, F_FP, F_SFP, F_IGN, F_NDB, F_LDB, F_MDB, F_MSB, F_OTHER, F_YARA, F_N };
static const char *const fmt_names[F_N] = {"hdb", "hsb", "fp",  "sfp",   "ign2",      "ndb",
                                           "ldb", "mdb", "msb", "other", "yara-files"};

struct hent {
    uint8_t d[32];
    uint64_t size;
    uint32_t name; /* index in imp.names; UINT32_MAX for an allow entry */
    uint8_t alg;
};

typedef struct member {
    char *name; /* "daily.cvd/daily.hdb" */
    char *data; /* NUL-terminated */
    size_t len;
} member;

#define NDB_BATCH 512
struct pending { /* a translated body or logical signature waiting for its batch check */
    char *rule, *name, *file;
    unsigned lineno;
    int f; /* F_NDB or F_LDB */
};

typedef struct imp {
    strset names;  /* threat names carried */
    strset ignore; /* .ign2 names */
    struct hent *h;
    size_t nh, caph;
    unsigned long carried[F_N], not_carried[F_N], ignored[F_N], dups[F_N];
    FILE *yara; /* translated body signatures (open_memstream) */
    char *yara_buf;
    size_t yara_len;
    unsigned long rule_no;
    struct pending batch[NDB_BATCH];
    size_t n_batch;
    strset rule_ids; /* YARA rule identifiers of carried files */
    member *yfiles;  /* carried YARA files: output name, rewritten text */
    size_t n_yfiles, cap_yfiles;
    unsigned long yara_rules; /* public rules carried from YARA files */
    int skip_broken;
    FILE *detail; /* the report's per-signature lines (open_memstream) */
    char *detail_buf;
    size_t detail_len;
    char msg[1024]; /* the error, "file:line: what" */
} imp;

static int fail(imp *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(imp *im, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(im->msg, sizeof(im->msg), fmt, ap);
    va_end(ap);
    return -1;
}

static enum fmt fmt_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return F_OTHER;
    dot++;
    static const struct {
        const char *ext;
        enum fmt f;
    } map[] = {{"hdb", F_HDB}, {"hdu", F_HDB}, {"hsb", F_HSB},  {"hsu", F_HSB},
               {"fp", F_FP},   {"sfp", F_SFP}, {"ign2", F_IGN}, {"ign", F_IGN},
               {"ndb", F_NDB}, {"ndu", F_NDB}, {"ldb", F_LDB},  {"ldu", F_LDB},
               {"mdb", F_MDB}, {"mdu", F_MDB}, {"msb", F_MSB},  {"msu", F_MSB}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(dot, map[i].ext) == 0)
            return map[i].f;
    return F_OTHER;
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

/* Split s at sep into at most max fields (the last takes the rest); returns the count. */
static size_t split(char *s, char sep, char **f, size_t max)
{
    size_t n = 0;
    f[n++] = s;
    for (char *p = s; *p && n < max; p++)
        if (*p == sep) {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

static int valid_name(const char *s)
{
    size_t l = strlen(s);
    if (l == 0 || l > PAL_THREAT_NAME_MAX)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

static int add_hash(imp *im, const struct hent *e)
{
    if (im->nh == im->caph) {
        size_t cap = im->caph ? im->caph * 2 : 4096;
        struct hent *h = realloc(im->h, cap * sizeof(*h));
        if (!h)
            return fail(im, "out of memory");
        im->h = h;
        im->caph = cap;
    }
    im->h[im->nh++] = *e;
    return 0;
}

/* A .hdb/.hsb/.fp/.sfp line: HASH:SIZE:NAME[:MINFL[:MAXFL]]. */
static int hash_line(imp *im, enum fmt f, char *line, const char *file, unsigned lineno)
{
    char *fl[6];
    size_t n = split(line, ':', fl, 6);
    if (n < 3 || n > 5)
        return fail(im, "%s:%u: expected HASH:SIZE:NAME[:MINFL[:MAXFL]], got %zu fields", file,
                    lineno, n);
    for (size_t i = 3; i < n; i++)
        for (const char *p = fl[i]; *p || p == fl[i]; p++)
            if (*p < '0' || *p > '9')
                return fail(im, "%s:%u: functionality level \"%.20s\" is not a number", file,
                            lineno, fl[i]);
    struct hent e = {0};
    size_t hl = strlen(fl[0]);
    e.alg = hl == 32 ? PAL_HASH_MD5 : hl == 40 ? PAL_HASH_SHA1 : hl == 64 ? PAL_HASH_SHA256 : 0;
    if (!e.alg)
        return fail(im, "%s:%u: hash \"%.70s\" is not 32, 40 or 64 hex digits", file, lineno,
                    fl[0]);
    for (size_t i = 0; i < hl / 2; i++) {
        int hi = hexval(fl[0][2 * i]), lo = hexval(fl[0][2 * i + 1]);
        if (hi < 0 || lo < 0)
            return fail(im, "%s:%u: hash \"%.70s\" is not hex", file, lineno, fl[0]);
        e.d[i] = (uint8_t)(hi << 4 | lo);
    }
    if (strcmp(fl[1], "*") == 0) {
        e.size = PAL_HASH_ANY_SIZE;
    } else {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(fl[1], &end, 10);
        if (!*fl[1] || *end || errno || fl[1][0] == '-' || fl[1][0] == '+' ||
            v == PAL_HASH_ANY_SIZE)
            return fail(im, "%s:%u: size \"%.30s\" is not a number or *", file, lineno, fl[1]);
        e.size = v;
    }
    if (!valid_name(fl[2]))
        return fail(im, "%s:%u: signature name \"%.64s\" is empty, too long or not printable", file,
                    lineno, fl[2]);
    if (f == F_FP || f == F_SFP) {
        e.name = UINT32_MAX;
    } else {
        if (strset_find(&im->ignore, fl[2], 0) >= 0) {
            im->ignored[f]++;
            fprintf(im->detail, "ignored\t%s\t%s:%u\tlisted in an ignore file\n", fl[2], file,
                    lineno);
            return 0;
        }
        long id = strset_find(&im->names, fl[2], 1);
        if (id < 0)
            return fail(im, "out of memory");
        e.name = (uint32_t)id;
    }
    im->carried[f]++;
    return add_hash(im, &e);
}

/*
 * Translated rules are checked with libyara in batches: one compile of NDB_BATCH rules costs
 * about what one compile of a single rule does, and a batch with any error or warning is
 * checked again rule by rule, so each rule is still judged alone.
 */
static void pending_free(struct pending *pd)
{
    free(pd->rule);
    free(pd->name);
    free(pd->file);
    memset(pd, 0, sizeof(*pd));
}

static int flush_batch(imp *im)
{
    char why[512];
    size_t total = 0;
    for (size_t i = 0; i < im->n_batch; i++)
        total += strlen(im->batch[i].rule);
    char *all = malloc(total + 1);
    if (!all)
        return fail(im, "out of memory");
    size_t off = 0;
    for (size_t i = 0; i < im->n_batch; i++) {
        size_t l = strlen(im->batch[i].rule);
        memcpy(all + off, im->batch[i].rule, l);
        off += l;
    }
    all[off] = '\0';
    int batch_ok = im->n_batch > 0 && ndb_compile_check(all, why, sizeof(why)) == 0;
    free(all);
    int rc = 0;
    for (size_t i = 0; i < im->n_batch; i++) {
        struct pending *pd = &im->batch[i];
        if (!rc && !batch_ok && ndb_compile_check(pd->rule, why, sizeof(why)) != 0) {
            im->not_carried[pd->f]++;
            fprintf(im->detail, "not-carried\t%s\t%s:%u\t%s\n", pd->name, pd->file, pd->lineno,
                    why);
        } else if (!rc) {
            if (strset_find(&im->names, pd->name, 1) < 0)
                rc = fail(im, "out of memory");
            fputs(pd->rule, im->yara);
            im->carried[pd->f]++;
        }
        pending_free(pd);
    }
    im->n_batch = 0;
    return rc;
}

/* A .ndb or .ldb line: translated to YARA (checked in a batch), or reported as not carried. */
static int body_line(imp *im, enum fmt f, char *line, const char *file, unsigned lineno)
{
    char id[32], why[512];
    const char *name;
    char *rule = NULL;
    snprintf(id, sizeof(id), "clamav_%s_%lu", f == F_LDB ? "ldb" : "ndb", im->rule_no + 1);
    int rc = f == F_LDB ? ldb_translate(line, id, &rule, &name, why, sizeof(why))
                        : ndb_translate(line, id, &rule, &name, why, sizeof(why));
    if (rc == NDB_MALFORMED)
        return fail(im, "%s:%u: %s", file, lineno, why);
    if (!valid_name(name)) {
        free(rule);
        return fail(im, "%s:%u: signature name \"%.64s\" is empty, too long or not printable", file,
                    lineno, name);
    }
    if (strset_find(&im->ignore, name, 0) >= 0) {
        free(rule);
        im->ignored[f]++;
        fprintf(im->detail, "ignored\t%s\t%s:%u\tlisted in an ignore file\n", name, file, lineno);
        return 0;
    }
    if (rc == NDB_NOT_CARRIED) {
        free(rule);
        im->not_carried[f]++;
        fprintf(im->detail, "not-carried\t%s\t%s:%u\t%s\n", name, file, lineno, why);
        return 0;
    }
    im->rule_no++; /* identifiers stay unique even when the batch check rejects one */
    struct pending *pd = &im->batch[im->n_batch++];
    pd->rule = rule;
    pd->lineno = lineno;
    pd->f = f;
    if (!(pd->name = strdup(name)) || !(pd->file = strdup(file)))
        return fail(im, "out of memory");
    return im->n_batch == NDB_BATCH ? flush_batch(im) : 0;
}

/* The name of a signature in a format that is not carried, for the report. */
static const char *sig_name(enum fmt f, char *line)
{
    char *end = strchr(line, f == F_LDB ? ';' : ':');
    if (f == F_MDB || f == F_MSB) { /* SIZE:HASH:NAME */
        char *fl[4];
        size_t n = split(line, ':', fl, 4);
        return n >= 3 ? fl[2] : line;
    }
    if (end)
        *end = '\0';
    return line;
}

static int process_text(imp *im, const char *file, char *text, size_t len, int ignore_pass)
{
    enum fmt f = fmt_of(file);
    if (ignore_pass != (f == F_IGN))
        return 0;
    size_t fl = strlen(file);
    if (fl > 5 && strcmp(file + fl - 5, ".info") == 0) {
        /* a container's index of its members, not signatures */
        fprintf(im->detail, "metadata\t%s\tcontainer index, holds no signature\n", file);
        return 0;
    }
    if (strlen(text) != len)
        return fail(im, "%s: contains a NUL byte", file);
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
        while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == ' '))
            line[--l] = '\0';
        if (l == 0 || line[0] == '#')
            continue;
        switch (f) {
        case F_HDB:
        case F_HSB:
        case F_FP:
        case F_SFP:
            if (hash_line(im, f, line, file, lineno))
                return -1;
            break;
        case F_NDB:
        case F_LDB:
            if (body_line(im, f, line, file, lineno))
                return -1;
            break;
        case F_IGN: {
            char *colon = strchr(line, ':'); /* NAME[:MD5 of the signature line] */
            if (colon)
                *colon = '\0';
            if (!valid_name(line))
                return fail(im, "%s:%u: signature name \"%.64s\" is not printable", file, lineno,
                            line);
            if (strset_find(&im->ignore, line, 1) < 0)
                return fail(im, "out of memory");
            im->carried[f]++;
            break;
        }
        default:
            im->not_carried[f]++;
            fprintf(im->detail, "not-carried\t%s\t%s:%u\t%s format not carried\n",
                    sig_name(f, line), file, lineno, fmt_names[f]);
            break;
        }
    }
    return flush_batch(im);
}

/* ---- containers ------------------------------------------------------------------------- */

typedef struct memberlist {
    member *m;
    size_t n, cap;
} memberlist;

static int add_member(imp *im, memberlist *ml, char *name, char *data, size_t len)
{
    if (ml->n == ml->cap) {
        size_t cap = ml->cap ? ml->cap * 2 : 16;
        member *m = realloc(ml->m, cap * sizeof(*m));
        if (!m) {
            free(name);
            free(data);
            return fail(im, "out of memory");
        }
        ml->m = m;
        ml->cap = cap;
    }
    ml->m[ml->n++] = (member){name, data, len};
    return 0;
}

/*
 * A .cvd/.cld: a 512-byte header "ClamAV-VDB:time:version:sigs:flevel:md5:dsig:builder:stime"
 * then a tar (gzip'd in a .cvd). The MD5 of everything after the header must be the
 * header's for a .cvd; a .cld is rewritten by freshclam's incremental updates, which leave
 * the header's MD5 stale, so ClamAV does not check it either. The dsig (ClamAV's RSA
 * signature over the MD5) is not checked: the site's trust in the result is its own
 * signature over the package it builds, and the report says so.
 */
static int unpack_cvd(imp *im, const char *file, const uint8_t *data, size_t len, int is_cld,
                      memberlist *ml)
{
    if (len < CVD_HEADER)
        return fail(im, "%s: truncated container: %zu bytes, shorter than the 512-byte header",
                    file, len);
    char hdr[CVD_HEADER + 1];
    memcpy(hdr, data, CVD_HEADER);
    hdr[CVD_HEADER] = '\0';
    if (strncmp(hdr, "ClamAV-VDB:", 11) != 0)
        return fail(im, "%s: not a ClamAV container (no ClamAV-VDB header)", file);
    char *fl[10];
    size_t n = split(hdr, ':', fl, 10);
    if (n < 8)
        return fail(im, "%s: container header has %zu fields, expected at least 8", file, n);
    const char *md5hex = fl[5];
    if (!is_cld) {
        uint8_t md[16];
        unsigned int mdl = 0;
        if (EVP_Digest(data + CVD_HEADER, len - CVD_HEADER, md, &mdl, EVP_md5(), NULL) != 1)
            return fail(im, "%s: MD5 failed", file);
        char hex[33];
        for (int i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        if (strlen(md5hex) != 32 || strcasecmp(hex, md5hex) != 0)
            return fail(im, "%s: bad digest: the body's MD5 is %s, the header says %.40s", file,
                        hex, md5hex);
    }
    fprintf(im->detail,
            "container\t%s\tversion %s, %s signatures, flevel %s, %s\tClamAV's RSA dsig not "
            "checked\n",
            file, fl[2], fl[3], fl[4], is_cld ? "MD5 not checked (.cld)" : "MD5 verified");

    struct archive *a = archive_read_new();
    if (!a)
        return fail(im, "out of memory");
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_none(a);
    int rc = 0;
    if (archive_read_open_memory(a, data + CVD_HEADER, len - CVD_HEADER) != ARCHIVE_OK) {
        rc = fail(im, "%s: cannot open the tar body: %s", file, archive_error_string(a));
        goto out;
    }
    struct archive_entry *ent;
    for (;;) {
        int r = archive_read_next_header(a, &ent);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            rc = fail(im, "%s: damaged or truncated container: %s", file, archive_error_string(a));
            goto out;
        }
        if (archive_entry_filetype(ent) != AE_IFREG)
            continue;
        int64_t sz = archive_entry_size(ent);
        if (sz < 0 || (uint64_t)sz > DB_FILE_MAX) {
            rc = fail(im, "%s: member %s too large", file, archive_entry_pathname(ent));
            goto out;
        }
        char *buf = malloc((size_t)sz + 1);
        if (!buf) {
            rc = fail(im, "out of memory");
            goto out;
        }
        la_ssize_t got = sz ? archive_read_data(a, buf, (size_t)sz) : 0;
        if (got != sz) {
            free(buf);
            rc = fail(im, "%s: damaged or truncated container at member %s: %s", file,
                      archive_entry_pathname(ent), got < 0 ? archive_error_string(a) : "short");
            goto out;
        }
        buf[sz] = '\0';
        const char *mn = archive_entry_pathname(ent);
        const char *base = strrchr(mn, '/');
        char *name = NULL;
        if (asprintf(&name, "%s/%s", file, base ? base + 1 : mn) < 0) {
            free(buf);
            rc = fail(im, "out of memory");
            goto out;
        }
        if ((rc = add_member(im, ml, name, buf, (size_t)sz)))
            goto out;
    }
out:
    archive_read_free(a);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir (sorted): containers unpacked, loose files read. */
static int read_dir(imp *im, const char *dir, memberlist *ml)
{
    DIR *d = opendir(dir);
    if (!d)
        return fail(im, "%s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (!nn) {
                rc = fail(im, "out of memory");
                goto out;
            }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = fail(im, "out of memory");
            goto out;
        }
        n++;
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n && !rc; i++) {
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
            rc = fail(im, "out of memory");
            break;
        }
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        char *data = NULL;
        size_t len = 0;
        pal_errbuf e;
        if (pal_sigfile_read(path, DB_FILE_MAX, &data, &len, &e)) {
            rc = fail(im, "%s", e.msg);
            free(path);
            break;
        }
        size_t nl = strlen(names[i]);
        int cvd = nl > 4 && strcmp(names[i] + nl - 4, ".cvd") == 0;
        int cld = nl > 4 && strcmp(names[i] + nl - 4, ".cld") == 0;
        int cud = nl > 4 && strcmp(names[i] + nl - 4, ".cud") == 0;
        if (cvd || cld || cud) {
            rc = unpack_cvd(im, path, (const uint8_t *)data, len, cld, ml);
            free(data);
            free(path);
        } else {
            rc = add_member(im, ml, path, data, len);
        }
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

static int yara_rule_cb(void *user, const char *rule_id, const char *threat, int commit)
{
    imp *im = user;
    if (!commit)
        return strset_find(&im->rule_ids, rule_id, 0) >= 0 || strncmp(rule_id, "clamav_", 7) == 0;
    if (!valid_name(threat))
        return fail(im, "rule %s: threat \"%.64s\" is empty, too long or not printable", rule_id,
                    threat);
    if (strset_find(&im->rule_ids, rule_id, 1) < 0 || strset_find(&im->names, threat, 1) < 0)
        return fail(im, "out of memory");
    im->yara_rules++;
    return 0;
}

static int is_yar(const char *n)
{
    size_t l = strlen(n);
    return n[0] != '.' && ((l > 4 && strcmp(n + l - 4, ".yar") == 0) ||
                           (l > 5 && strcmp(n + l - 5, ".yara") == 0));
}

/* Every *.yar / *.yara of dir, sorted: prepared for the builder, or reported as broken. */
static int read_yara_dir(imp *im, const char *dir, unsigned dir_no)
{
    DIR *d = opendir(dir);
    if (!d)
        return fail(im, "%s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_yar(de->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (!nn) {
                rc = fail(im, "out of memory");
                goto out;
            }
            names = nn;
        }
        if (!(names[n++] = strdup(de->d_name))) {
            rc = fail(im, "out of memory");
            goto out;
        }
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n && !rc; i++) {
        char *path = NULL, *data = NULL, *text = NULL, *oname = NULL, why[1024];
        size_t len;
        pal_errbuf e;
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
            rc = fail(im, "out of memory");
            break;
        }
        if (pal_sigfile_read(path, DB_FILE_MAX, &data, &len, &e)) {
            rc = fail(im, "%s", e.msg);
        } else if (strlen(data) != len) {
            snprintf(why, sizeof(why), "%s: contains a NUL byte", path);
            rc = 1;
        } else {
            rc = yara_prepare(path, data, yara_rule_cb, im, &text, why, sizeof(why));
            if (rc < 0 && !im->msg[0])
                fail(im, "out of memory");
        }
        if (rc == 1) {
            im->not_carried[F_YARA]++;
            fprintf(im->detail, "broken\t%s\t%s\n", path, why);
            rc = im->skip_broken ? 0 : fail(im, "%s (use --skip-broken to build the rest)", why);
        } else if (rc == 0 && text) {
            member *y = im->yfiles;
            if (im->n_yfiles == im->cap_yfiles) {
                size_t c2 = im->cap_yfiles ? im->cap_yfiles * 2 : 16;
                y = realloc(im->yfiles, c2 * sizeof(*y));
                if (y) {
                    im->yfiles = y;
                    im->cap_yfiles = c2;
                }
            }
            char *base = strdup(names[i]);
            if (base)
                base[strcspn(base, ".")] = '\0';
            if (!y || !base || asprintf(&oname, "yara-%02u-%s.yar", dir_no, base) < 0) {
                free(text);
                rc = fail(im, "out of memory");
            } else {
                im->yfiles[im->n_yfiles++] = (member){oname, text, strlen(text)};
                im->carried[F_YARA]++;
            }
            free(base);
        }
        free(path);
        free(data);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

/* ---- output ----------------------------------------------------------------------------- */

static int cmp_hent(const void *a, const void *b)
{
    const struct hent *x = a, *y = b;
    if (x->alg != y->alg)
        return x->alg < y->alg ? -1 : 1;
    int c = memcmp(x->d, y->d, 32);
    if (c)
        return c;
    if (x->size != y->size)
        return x->size < y->size ? -1 : 1;
    return x->name < y->name ? -1 : x->name > y->name;
}

/*
 * Category and severity of a ClamAV name, by the documented rule (agent/sigtool/README.md):
 * "PUA." names are Low, "Heuristics." Moderate; otherwise the category word (the second
 * dotted component, e.g. Trojan in Win.Trojan.Agent-1) decides.
 */
static void classify(const char *name, char *cat, size_t catlen, const char **sev)
{
    static const struct {
        const char *word, *sev;
    } words[] = {{"Ransomware", "Severe"}, {"Exploit", "High"},       {"Trojan", "High"},
                 {"Backdoor", "High"},     {"Worm", "High"},          {"Virus", "High"},
                 {"Dropper", "High"},      {"Downloader", "High"},    {"Keylogger", "High"},
                 {"Rootkit", "High"},      {"Coinminer", "Moderate"}, {"Phishing", "Moderate"},
                 {"Malware", "High"},      {"Spyware", "High"},       {"Packed", "Moderate"},
                 {"Adware", "Low"},        {"Tool", "Low"},           {"Test", "Low"}};
    size_t n_words = sizeof(words) / sizeof(words[0]);
    if (strncmp(name, "PUA.", 4) == 0) {
        snprintf(cat, catlen, "PUA");
        *sev = "Low";
        return;
    }
    if (strncmp(name, "Heuristics.", 11) == 0) {
        snprintf(cat, catlen, "Heuristics");
        *sev = "Moderate";
        return;
    }
    /* the category word: Defender-shaped "Word:Platform/Name", ClamAV "Platform.Word.Name" */
    const char *w = NULL, *end = NULL;
    const char *colon = strchr(name, ':'), *dot = strchr(name, '.');
    if (colon) {
        w = name;
        end = colon;
    } else if (dot && strncmp(name, "YARA.", 5) != 0) {
        w = dot + 1;
        end = strchr(w, '.');
    }
    size_t wl = w && end ? (size_t)(end - w) : 0;
    for (size_t i = 0; wl && i < n_words; i++)
        if (strlen(words[i].word) == wl && strncasecmp(w, words[i].word, wl) == 0) {
            snprintf(cat, catlen, "%s", words[i].word);
            *sev = words[i].sev;
            return;
        }
    if (strncmp(name, "YARA.", 5) == 0) { /* a rule name: the first category word in it */
        for (size_t i = 0; i < n_words; i++)
            if (strcasestr(name + 5, words[i].word)) {
                snprintf(cat, catlen, "%s", words[i].word);
                *sev = words[i].sev;
                return;
            }
        snprintf(cat, catlen, "YARA");
        *sev = "Moderate";
        return;
    }
    snprintf(cat, catlen, "ClamAV");
    *sev = "Moderate";
}

static int write_out(imp *im, const char *dir, const char *file, const char *text, size_t len)
{
    char *path = NULL, *tmp = NULL;
    int rc = 0;
    if (asprintf(&path, "%s/%s", dir, file) < 0 || asprintf(&tmp, "%s.tmp", path) < 0) {
        free(path);
        return fail(im, "out of memory");
    }
    FILE *f = fopen(tmp, "we");
    if (!f || fwrite(text, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        rc = fail(im, "%s: %s", tmp, strerror(errno));
        if (f)
            fclose(f);
        unlink(tmp);
    } else if (fclose(f) != 0 || rename(tmp, path) != 0) {
        rc = fail(im, "%s: %s", path, strerror(errno));
        unlink(tmp);
    }
    free(path);
    free(tmp);
    return rc;
}

static void hex_of(const uint8_t *d, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static int emit(imp *im, const char *out, const char *report_path)
{
    char *cat = NULL, *hashes = NULL, *allow = NULL, *rep = NULL;
    size_t cat_len = 0, hashes_len = 0, allow_len = 0, rep_len = 0;
    FILE *fc = open_memstream(&cat, &cat_len);
    FILE *fh = open_memstream(&hashes, &hashes_len);
    FILE *fa = open_memstream(&allow, &allow_len);
    FILE *fr = open_memstream(&rep, &rep_len);
    int rc = 0;
    if (!fc || !fh || !fa || !fr) {
        rc = fail(im, "out of memory");
        goto out;
    }
    fprintf(fc, "# imported by palisade-sigtool import: names kept as they are; category and "
                "severity by the rule in agent/sigtool/README.md\n");
    /* sorted, so that the same signatures give the same catalog whatever the file order */
    char **sorted = malloc((im->names.n ? im->names.n : 1) * sizeof(*sorted));
    if (!sorted) {
        rc = fail(im, "out of memory");
        goto out;
    }
    memcpy(sorted, im->names.s, im->names.n * sizeof(*sorted));
    if (im->names.n)
        qsort(sorted, im->names.n, sizeof(*sorted), cmp_str);
    for (size_t i = 0; i < im->names.n; i++) {
        char c[32];
        const char *sev;
        classify(sorted[i], c, sizeof(c), &sev);
        fprintf(fc, "%s\t%s\t%s\tQuarantine\n", sorted[i], sev, c);
    }
    free(sorted);
    if (im->nh)
        qsort(im->h, im->nh, sizeof(*im->h), cmp_hent);
    static const unsigned dl[4] = {0, 16, 20, 32};
    for (size_t i = 0; i < im->nh; i++) {
        const struct hent *e = &im->h[i];
        if (i > 0 && cmp_hent(&im->h[i - 1], e) == 0)
            continue; /* counted below */
        char hx[65], sz[24];
        hex_of(e->d, dl[e->alg], hx);
        if (e->size == PAL_HASH_ANY_SIZE)
            snprintf(sz, sizeof(sz), "*");
        else
            snprintf(sz, sizeof(sz), "%llu", (unsigned long long)e->size);
        if (e->name == UINT32_MAX)
            fprintf(fa, "%s\t%s\n", hx, sz);
        else
            fprintf(fh, "%s\t%s\t%s\n", hx, sz, im->names.s[e->name]);
    }
    unsigned long dup_hash = 0, dup_allow = 0;
    for (size_t i = 1; i < im->nh; i++)
        if (cmp_hent(&im->h[i - 1], &im->h[i]) == 0)
            *(im->h[i].name == UINT32_MAX ? &dup_allow : &dup_hash) += 1;

    fflush(im->detail);
    fprintf(fr, "# palisade-sigtool import report\n");
    fprintf(fr, "# format\tcarried\tnot-carried\tignored\n");
    unsigned long total_nc = 0;
    for (int f = 0; f < F_N; f++) {
        if (!im->carried[f] && !im->not_carried[f] && !im->ignored[f])
            continue;
        fprintf(fr, "count\t%s\t%lu\t%lu\t%lu\n", fmt_names[f], im->carried[f], im->not_carried[f],
                im->ignored[f]);
        total_nc += im->not_carried[f];
    }
    fprintf(fr,
            "duplicates\t%lu hash signatures, %lu allow entries listed more than once "
            "(kept once)\n",
            dup_hash, dup_allow);
    fprintf(fr, "yara\t%lu public rules carried from %lu files\n", im->yara_rules,
            im->carried[F_YARA]);
    fprintf(fr, "total\tthreats %zu\tnot-carried %lu\n", im->names.n, total_nc);
    if (im->detail_len)
        fwrite(im->detail_buf, 1, im->detail_len, fr);
    if (fclose(fc) | fclose(fh) | fclose(fa) | fclose(fr)) {
        fc = fh = fa = fr = NULL;
        rc = fail(im, "out of memory");
        goto out;
    }
    fc = fh = fa = fr = NULL;
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        rc = fail(im, "%s: %s", out, strerror(errno));
        goto out;
    }
    fflush(im->yara);
    if (im->rule_no && (rc = write_out(im, out, "clamav_body.yar", im->yara_buf, im->yara_len)))
        goto out;
    DIR *od = opendir(out); /* no stale rules from an earlier import into the same directory */
    struct dirent *de;
    while (od && (de = readdir(od)))
        if (strncmp(de->d_name, "yara-", 5) == 0 && is_yar(de->d_name))
            unlinkat(dirfd(od), de->d_name, 0);
    if (od)
        closedir(od);
    for (size_t i = 0; i < im->n_yfiles; i++)
        if ((rc = write_out(im, out, im->yfiles[i].name, im->yfiles[i].data, im->yfiles[i].len)))
            goto out;
    if (!im->rule_no) {
        char *old = NULL;
        if (asprintf(&old, "%s/clamav_body.yar", out) >= 0)
            unlink(old);
        free(old);
    }
    if ((rc = write_out(im, out, "catalog.tsv", cat, cat_len)) ||
        (rc = write_out(im, out, "hashes.tsv", hashes, hashes_len)) ||
        (rc = write_out(im, out, "allow.tsv", allow, allow_len)))
        goto out;
    if (report_path) {
        FILE *f = fopen(report_path, "we");
        if (!f || fwrite(rep, 1, rep_len, f) != rep_len || fclose(f) != 0) {
            rc = fail(im, "%s: %s", report_path, strerror(errno));
            goto out;
        }
    } else if ((rc = write_out(im, out, "import-report.txt", rep, rep_len))) {
        goto out;
    }
    printf("imported %zu threats: %lu hashes, %lu body signatures, %lu allow entries; %lu "
           "signatures not carried (see the report)\n",
           im->names.n, im->carried[F_HDB] + im->carried[F_HSB] - dup_hash, im->carried[F_NDB],
           im->carried[F_FP] + im->carried[F_SFP] - dup_allow, total_nc);
out:
    if (fc)
        fclose(fc);
    if (fh)
        fclose(fh);
    if (fa)
        fclose(fa);
    if (fr)
        fclose(fr);
    free(cat);
    free(hashes);
    free(allow);
    free(rep);
    return rc;
}

int sigtool_cmd_import(int argc, char **argv)
{
    const char *clam[MAX_DIRS], *yar[MAX_DIRS], *out = NULL, *report = NULL;
    size_t n_clam = 0, n_yar = 0;
    int skip_broken = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--skip-broken") == 0) {
            skip_broken = 1;
            continue;
        }
        if (strcmp(a, "--clamav") == 0 && n_clam < MAX_DIRS)
            slot = &clam[n_clam++];
        else if (strcmp(a, "--yara") == 0 && n_yar < MAX_DIRS)
            slot = &yar[n_yar++];
        else if (strcmp(a, "--out") == 0)
            slot = &out;
        else if (strcmp(a, "--report") == 0)
            slot = &report;
        if (!slot || i + 1 >= argc) {
            fprintf(stderr, "usage: palisade-sigtool import [--clamav DBDIR]... --out SRCDIR "
                            "[--report FILE]\n");
            return EXIT_ERROR;
        }
        *slot = argv[++i];
    }
    if (!out || n_clam + n_yar == 0) {
        fprintf(stderr, "%s: --out and at least one --clamav or --yara are required\n", prog);
        return EXIT_ERROR;
    }
    imp im = {.skip_broken = skip_broken};
    memberlist ml = {0};
    int rc = 0;
    im.detail = open_memstream(&im.detail_buf, &im.detail_len);
    im.yara = open_memstream(&im.yara_buf, &im.yara_len);
    if (!im.detail || !im.yara || yr_initialize() != ERROR_SUCCESS) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_ERROR;
    }
    fprintf(im.yara, "// ClamAV body (.ndb) and logical (.ldb) signatures translated by "
                     "palisade-sigtool import\n");
    for (size_t i = 0; i < n_clam && !rc; i++)
        rc = read_dir(&im, clam[i], &ml);
    /* ignore lists first, wherever they are: they apply to every database */
    for (int pass = 1; pass >= 0 && !rc; pass--)
        for (size_t i = 0; i < ml.n && !rc; i++)
            rc = process_text(&im, ml.m[i].name, ml.m[i].data, ml.m[i].len, pass);
    for (size_t i = 0; i < n_yar && !rc; i++)
        rc = read_yara_dir(&im, yar[i], (unsigned)i);
    if (!rc)
        rc = emit(&im, out, report);
    if (rc)
        fprintf(stderr, "%s: %s\n", prog, im.msg);
    for (size_t i = 0; i < ml.n; i++) {
        free(ml.m[i].name);
        free(ml.m[i].data);
    }
    free(ml.m);
    fclose(im.detail);
    free(im.detail_buf);
    fclose(im.yara);
    free(im.yara_buf);
    yr_finalize();
    strset_free(&im.names);
    strset_free(&im.ignore);
    strset_free(&im.rule_ids);
    for (size_t i = 0; i < im.n_batch; i++)
        pending_free(&im.batch[i]);
    for (size_t i = 0; i < im.n_yfiles; i++) {
        free(im.yfiles[i].name);
        free(im.yfiles[i].data);
    }
    free(im.yfiles);
    free(im.h);
    return rc ? EXIT_ERROR : EXIT_OK;
}
