/*
 * sigtool_cost.c — `palisade-sigtool cost`: what each rule source costs to scan a tree.
 *
 * libyara 4.2 has no per-rule profiling, so each rule source (one .yar file: the starter
 * set keeps one rule per file) is compiled alone and the whole tree is scanned with it;
 * an empty rule set scanned the same way is the baseline (reading memory, the scanner's
 * fixed cost per object). A rule's cost is its time minus the baseline's. The tree is read
 * into memory once, so the disk is not timed; every rule set is scanned once per round,
 * interleaved with the baseline, and each keeps the fastest of --repeat rounds: on a loaded
 * machine other work only ever adds time, so the minimum is the stable figure.
 *
 * The sample tree is a directory (regular files under it, symlinks not followed) or, with
 * --synthetic MiB, a mix generated in memory from a fixed seed: text (shell, PHP, JSON and
 * prose), high-entropy bytes, runs of zeros, and ELF files — copies of this program's own
 * executable (a real ELF with symbol tables, as the elf module must parse them) and files
 * that only start like an ELF (the ident, then noise: damaged, packed or misnamed files),
 * on which a module that trusts header counts spends the most.
 *
 * With --max-ratio R it is also a gate: exit 3 when the costliest rule costs more than R
 * times the median of the others. That median is taken at no less than half the baseline:
 * a rule costing less than half of a bare pass over the bytes is cheap whatever its exact
 * figure, and below that the figures are a few milliseconds of timer and load noise, which
 * would make a large ratio out of nothing when the other rules are all that cheap.
 *
 * Exit 0 done (gate passed), 3 gate failed, 2 error (usage, a rule that does not compile,
 * a file that cannot be read).
 */
#define _GNU_SOURCE
#include "sigtool_cost.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <yara.h>

enum { EXIT_OK = 0, EXIT_ERROR = 2, EXIT_GATE = 3 };

#define COST_DEFAULT_REPEAT 3
#define COST_DEFAULT_MAX_BYTES (1024ull * 1024 * 1024)
/* The gate's reference is at least this share of the baseline (see the header). */
#define COST_NOISE_FLOOR 0.5

typedef struct blob {
    unsigned char *data;
    size_t len;
} blob;

typedef struct corpus {
    blob *items;
    size_t n, cap;
    uint64_t bytes;
    uint64_t max_bytes;
} corpus;

typedef struct unit {
    char *path;    /* the .yar source; NULL for the baseline */
    char *rules_s; /* rule identifiers, comma-separated */
    YR_RULES *rules;
    double best; /* fastest round, seconds */
    double cost; /* best minus the baseline's best, at least 0 */
} unit;

static const char *prog = "palisade-sigtool cost";

static void cost_usage(FILE *f)
{
    fprintf(
        f, "usage: palisade-sigtool cost (RULES_DIR | FILE.yar)... (--tree DIR | --synthetic MIB)\n"
           "           [--repeat N] [--max-ratio R] [--max-bytes N] [--json]\n");
}

static int fail(const char *arg, const char *msg)
{
    fprintf(stderr, "%s: %s: %s\n", prog, arg, msg);
    return EXIT_ERROR;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the sample tree ---- */

static int corpus_add(corpus *c, unsigned char *data, size_t len)
{
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        blob *ni = realloc(c->items, nc * sizeof *ni);
        if (!ni)
            return -1;
        c->items = ni;
        c->cap = nc;
    }
    c->items[c->n++] = (blob){data, len};
    c->bytes += len;
    return 0;
}

static void corpus_free(corpus *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i].data);
    free(c->items);
}

static int read_whole(const char *path, int flags, off_t size, unsigned char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | flags);
    if (fd < 0)
        return -1;
    unsigned char *buf = malloc(size > 0 ? (size_t)size : 1);
    size_t got = 0;
    while (buf && got < (size_t)size) {
        ssize_t r = read(fd, buf + got, (size_t)size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* a file that shrank is timed as it is now */
        got += (size_t)r;
    }
    int saved = errno;
    close(fd);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    errno = saved;
    *out = buf;
    *len = got;
    return 0;
}

/* nftw has no user pointer; the path it passes lives only during the call, so the failing
   one is copied. */
static corpus *walk_corpus;
static char *walk_error;
static int walk_errno;

static int walk_fail(const char *path, int err)
{
    walk_error = strdup(path);
    walk_errno = err ? err : EIO;
    return 1;
}

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_DNR || type == FTW_NS)
        return walk_fail(path, errno ? errno : EACCES);
    if (type != FTW_F || !S_ISREG(st->st_mode))
        return 0; /* directories, symlinks (not followed), devices, FIFOs, sockets */
    if (walk_corpus->bytes + (uint64_t)st->st_size > walk_corpus->max_bytes)
        return walk_fail(path, EFBIG);
    unsigned char *data;
    size_t len;
    if (read_whole(path, O_NOFOLLOW, st->st_size, &data, &len))
        return walk_fail(path, errno);
    if (corpus_add(walk_corpus, data, len)) {
        free(data);
        return walk_fail(path, ENOMEM);
    }
    return 0;
}

static int load_tree(corpus *c, const char *root)
{
    walk_corpus = c;
    walk_error = NULL;
    walk_errno = 0;
    errno = 0;
    int rc = nftw(root, walk_one, 32, FTW_PHYS);
    if (rc != 0) {
        int err = walk_errno ? walk_errno : errno ? errno : EIO;
        fprintf(stderr, "%s: %s: %s%s\n", prog, walk_error ? walk_error : root, strerror(err),
                err == EFBIG ? " (the tree exceeds --max-bytes)" : "");
        free(walk_error);
        walk_error = NULL;
        return -1;
    }
    return 0;
}

/* xorshift64*: deterministic, so that every run times the same bytes. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Mostly prose; one word in 32 is from code (shell, PHP, C, JSON), as in a real tree. */
static const char *const prose[] = {
    "the",  "of",     "and",     "to",     "in",     "is",    "that",    "for",
    "it",   "as",     "with",    "was",    "on",     "be",    "by",      "this",
    "file", "system", "data",    "value",  "number", "error", "service", "package",
    "user", "time",   "version", "option", "list",   "name",  "default", "license",
};
static const char *const code[] = {
    "<?php", "$_POST",  "function", "return",   "curl", "wget",      "/tmp/x",  "chmod",
    "eval(", "system(", "base64",   "{",        "}",    "\"user\":", "stratum", "https://",
    "if",    "then",    "fi",       "#include", "int",  "static",    "echo",    "export",
};

static unsigned char *gen_text(uint64_t *s, size_t len)
{
    unsigned char *b = malloc(len ? len : 1);
    size_t i = 0;
    while (b && i < len) {
        uint64_t r = rng_next(s);
        const char *w = (r & 31) == 0 ? code[(r >> 8) % (sizeof code / sizeof code[0])]
                                      : prose[(r >> 8) % (sizeof prose / sizeof prose[0])];
        size_t wl = strlen(w);
        for (size_t k = 0; k < wl && i < len; k++)
            b[i++] = (unsigned char)w[k];
        if (i < len)
            b[i++] = ((r >> 32) % 12 == 0) ? '\n' : ' ';
    }
    return b;
}

static int gen_corpus(corpus *c, uint64_t mib)
{
    uint64_t target = mib * 1024 * 1024, s = 0x9E3779B97F4A7C15ull;
    unsigned char *self = NULL;
    size_t self_len = 0;
    struct stat st;
    if (stat("/proc/self/exe", &st) == 0)
        (void)read_whole("/proc/self/exe", 0, st.st_size, &self, &self_len);
    if (!self || self_len < 64) {
        free(self);
        fprintf(stderr, "%s: cannot read /proc/self/exe for the ELF samples\n", prog);
        return -1;
    }
    for (unsigned k = 0; c->bytes < target; k++) {
        /* Sizes roughly log-normal around 6 KiB (128 B to 256 KiB), 1% from 256 KiB to
           4 MiB: about 40 files per MB, as on a real disk. Kinds by share of files: 1% real
           ELF, 10% ELF-like, 10% high-entropy, 5% zeros, the rest text. */
        uint64_t r = rng_next(&s);
        size_t len = (r % 100) == 0 ? (size_t)256 * 1024 << (r >> 8) % 4
                                    : (size_t)128 << __builtin_popcountll((r >> 8) & 0x3ff);
        len += rng_next(&s) % len;
        unsigned kind = (unsigned)(k % 100);
        unsigned char *b = NULL;
        if (kind == 0) { /* a real ELF, as found in bin/ and lib/ */
            len = self_len;
            b = malloc(len);
            if (b)
                memcpy(b, self, len);
        } else if (kind <= 20) { /* ELF-like, then high-entropy: media, archives */
            b = malloc(len);
            for (size_t i = 0; b && i < len; i += 8) {
                uint64_t v = rng_next(&s);
                memcpy(b + i, &v, len - i < 8 ? len - i : 8);
            }
            if (b && kind <= 10 && len >= 64) {
                /* ident of an ELF64 (or, every other one, ELF32) little-endian file; the
                   header fields after it are noise, as in damaged or packed binaries */
                memcpy(b,
                       "\x7f"
                       "ELF",
                       4);
                b[4] = kind % 2 ? 1 : 2;
                b[5] = 1;
                b[6] = 1;
            }
        } else if (kind <= 25) { /* zeros: sparse images, empty pages */
            b = calloc(1, len);
        } else {
            b = gen_text(&s, len);
        }
        if (!b || corpus_add(c, b, len)) {
            free(b);
            free(self);
            fprintf(stderr, "%s: out of memory generating the tree\n", prog);
            return -1;
        }
    }
    free(self);
    return 0;
}

/* ---- the rules ---- */

static void compiler_error(int level, const char *file, int line, const YR_RULE *rule,
                           const char *msg, void *user)
{
    (void)rule;
    (void)user;
    fprintf(stderr, "%s: %s:%d: %s: %s\n", prog, file ? file : "?", line,
            level == YARA_ERROR_LEVEL_ERROR ? "error" : "warning", msg);
}

static int compile_unit(unit *u)
{
    YR_COMPILER *comp = NULL;
    if (yr_compiler_create(&comp) != ERROR_SUCCESS)
        return -1;
    yr_compiler_set_callback(comp, compiler_error, NULL);
    int errors = 0;
    if (u->path) {
        FILE *f = fopen(u->path, "r");
        if (!f) {
            fprintf(stderr, "%s: %s: %s\n", prog, u->path, strerror(errno));
            yr_compiler_destroy(comp);
            return -1;
        }
        errors = yr_compiler_add_file(comp, f, NULL, u->path);
        fclose(f);
    } else {
        errors = yr_compiler_add_string(comp, "", NULL);
    }
    if (errors || yr_compiler_get_rules(comp, &u->rules) != ERROR_SUCCESS) {
        yr_compiler_destroy(comp);
        return -1;
    }
    yr_compiler_destroy(comp);

    size_t cap = 64, len = 0;
    u->rules_s = calloc(1, cap);
    if (!u->rules_s)
        return -1;
    const YR_RULE *r;
    yr_rules_foreach(u->rules, r)
    {
        size_t need = len + strlen(r->identifier) + 2;
        if (need > cap) {
            char *n = realloc(u->rules_s, need * 2);
            if (!n)
                return -1;
            u->rules_s = n;
            cap = need * 2;
        }
        len += (size_t)sprintf(u->rules_s + len, "%s%s", len ? "," : "", r->identifier);
    }
    return 0;
}

static int scan_cb(YR_SCAN_CONTEXT *ctx, int message, void *data, void *user)
{
    (void)ctx;
    (void)message;
    (void)data;
    (void)user;
    return CALLBACK_CONTINUE;
}

static int time_unit(unit *u, const corpus *c, double *secs)
{
    double t0 = now_s();
    for (size_t i = 0; i < c->n; i++) {
        int rc =
            yr_rules_scan_mem(u->rules, c->items[i].data, c->items[i].len, 0, scan_cb, NULL, 0);
        if (rc != ERROR_SUCCESS) {
            fprintf(stderr, "%s: %s: yara scan failed (error %d)\n", prog,
                    u->path ? u->path : "baseline", rc);
            return -1;
        }
    }
    *secs = now_s() - t0;
    return 0;
}

static int add_source(unit **units, size_t *n, const char *path)
{
    unit *nu = realloc(*units, (*n + 1) * sizeof **units);
    if (!nu)
        return -1;
    *units = nu;
    nu[*n] = (unit){.path = strdup(path)};
    if (!nu[*n].path)
        return -1;
    (*n)++;
    return 0;
}

static int yar_filter(const struct dirent *d)
{
    size_t l = strlen(d->d_name);
    return l > 4 && strcmp(d->d_name + l - 4, ".yar") == 0;
}

static int add_sources(unit **units, size_t *n, const char *arg)
{
    struct stat st;
    if (stat(arg, &st) != 0)
        return fail(arg, "no such file or directory");
    if (!S_ISDIR(st.st_mode))
        return add_source(units, n, arg) ? fail(arg, "out of memory") : 0;
    struct dirent **ents;
    int k = scandir(arg, &ents, yar_filter, alphasort);
    if (k < 0)
        return fail(arg, "cannot list the directory");
    int rc = k == 0 ? fail(arg, "no .yar files") : 0;
    for (int i = 0; i < k; i++) {
        char *p = NULL;
        if (!rc && (asprintf(&p, "%s/%s", arg, ents[i]->d_name) < 0 || add_source(units, n, p)))
            rc = fail(arg, "out of memory");
        free(p);
        free(ents[i]);
    }
    free(ents);
    return rc;
}

static int by_cost_desc(const void *a, const void *b)
{
    double x = ((const unit *)a)->cost, y = ((const unit *)b)->cost;
    return x < y ? 1 : x > y ? -1 : strcmp(((const unit *)a)->path, ((const unit *)b)->path);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int parse_num(const char *s, double min, double max, double *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

int sigtool_cmd_cost(int argc, char **argv)
{
    const char *tree = NULL;
    double synthetic = 0, repeat = COST_DEFAULT_REPEAT, max_ratio = 0,
           max_bytes = (double)COST_DEFAULT_MAX_BYTES;
    int json = 0;
    unit *units = NULL;
    size_t n = 0;
    int ret = EXIT_ERROR;
    corpus c = {0};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cost_usage(stdout);
            ret = EXIT_OK;
            goto out;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "--tree") == 0 && v) {
            tree = v;
            i++;
        } else if (strcmp(a, "--synthetic") == 0 && v) {
            if (parse_num(v, 1, 65536, &synthetic))
                goto bad_usage;
            i++;
        } else if (strcmp(a, "--repeat") == 0 && v) {
            if (parse_num(v, 1, 1000, &repeat))
                goto bad_usage;
            i++;
        } else if (strcmp(a, "--max-ratio") == 0 && v) {
            if (parse_num(v, 1, 1e6, &max_ratio))
                goto bad_usage;
            i++;
        } else if (strcmp(a, "--max-bytes") == 0 && v) {
            if (parse_num(v, 1, 1e15, &max_bytes))
                goto bad_usage;
            i++;
        } else if (a[0] == '-') {
            goto bad_usage;
        } else if (add_sources(&units, &n, a)) {
            goto out;
        }
    }
    if (!n || (!tree) == (synthetic == 0))
        goto bad_usage;

    c.max_bytes = (uint64_t)max_bytes;
    if (tree ? load_tree(&c, tree) : gen_corpus(&c, (uint64_t)synthetic))
        goto out;

    if (yr_initialize() != ERROR_SUCCESS) {
        fprintf(stderr, "%s: yara failed to initialise\n", prog);
        goto out;
    }
    unit base = {0};
    if (compile_unit(&base)) {
        fprintf(stderr, "%s: cannot compile the empty baseline\n", prog);
        goto fini;
    }
    for (size_t k = 0; k < n; k++)
        if (compile_unit(&units[k])) {
            fprintf(stderr, "%s: %s does not compile\n", prog, units[k].path);
            goto fini_base;
        }

    /* Interleaved rounds: drift in machine load hits every rule set alike. */
    base.best = 1e300;
    for (size_t k = 0; k < n; k++)
        units[k].best = 1e300;
    for (int r = 0; r < (int)repeat; r++) {
        double t;
        if (time_unit(&base, &c, &t))
            goto fini_base;
        if (t < base.best)
            base.best = t;
        for (size_t k = 0; k < n; k++) {
            if (time_unit(&units[k], &c, &t))
                goto fini_base;
            if (t < units[k].best)
                units[k].best = t;
        }
    }
    double total = 0;
    for (size_t k = 0; k < n; k++) {
        units[k].cost = units[k].best > base.best ? units[k].best - base.best : 0;
        total += units[k].cost;
    }
    qsort(units, n, sizeof *units, by_cost_desc);

    /* The gate: the costliest against the median of the others. */
    double median = 0, ratio = 0;
    if (n > 1) {
        double *o = malloc((n - 1) * sizeof *o);
        if (!o)
            goto fini_base;
        for (size_t k = 1; k < n; k++)
            o[k - 1] = units[k].cost;
        qsort(o, n - 1, sizeof *o, dbl_cmp);
        median = (n - 1) % 2 ? o[(n - 1) / 2] : (o[(n - 1) / 2 - 1] + o[(n - 1) / 2]) / 2;
        free(o);
    }
    double floor_s = COST_NOISE_FLOOR * base.best;
    double ref = median > floor_s ? median : floor_s;
    ratio = ref > 0 ? units[0].cost / ref : 0;
    int gate_failed = max_ratio > 0 && n > 1 && ratio > max_ratio;
    double mb = (double)c.bytes / 1e6;

    if (json) {
        json_t *root = json_object(), *arr = json_array();
        json_object_set_new(root, "files", json_integer((json_int_t)c.n));
        json_object_set_new(root, "bytes", json_integer((json_int_t)c.bytes));
        json_object_set_new(root, "repeat", json_integer((json_int_t)repeat));
        json_object_set_new(root, "baseline_seconds", json_real(base.best));
        for (size_t k = 0; k < n; k++) {
            json_t *o = json_object();
            json_object_set_new(o, "source", json_string(units[k].path));
            json_object_set_new(o, "rules", json_string(units[k].rules_s));
            json_object_set_new(o, "seconds", json_real(units[k].cost));
            json_object_set_new(o, "share", json_real(total > 0 ? units[k].cost / total : 0));
            json_object_set_new(o, "mb_per_s",
                                units[k].cost > 0 ? json_real(mb / units[k].cost) : json_null());
            json_array_append_new(arr, o);
        }
        json_object_set_new(root, "rules", arr);
        json_object_set_new(root, "median_others_seconds", json_real(median));
        json_object_set_new(root, "reference_seconds", json_real(ref));
        json_object_set_new(root, "ratio", json_real(ratio));
        if (max_ratio > 0) {
            json_object_set_new(root, "max_ratio", json_real(max_ratio));
            json_object_set_new(root, "gate_passed", json_boolean(!gate_failed));
        }
        char *s = json_dumps(root, JSON_INDENT(2));
        json_decref(root);
        if (!s)
            goto fini_base;
        printf("%s\n", s);
        free(s);
    } else {
        printf("tree: %zu files, %.1f MB; baseline (no rules) %.3f s; best of %d rounds\n", c.n, mb,
               base.best, (int)repeat);
        printf("%-40s %9s %7s %10s  %s\n", "RULE", "SECONDS", "SHARE", "MB/S", "SOURCE");
        for (size_t k = 0; k < n; k++) {
            char rate[32] = "-";
            if (units[k].cost > 0)
                snprintf(rate, sizeof rate, "%.1f", mb / units[k].cost);
            printf("%-40s %9.3f %6.1f%% %10s  %s\n", units[k].rules_s, units[k].cost,
                   total > 0 ? 100 * units[k].cost / total : 0, rate, units[k].path);
        }
        printf("costliest / reference (median of the others, at least half the baseline): %.1f",
               ratio);
        if (max_ratio > 0)
            printf(" (limit %.1f): %s", max_ratio, gate_failed ? "FAILED" : "ok");
        printf("\n");
    }
    if (gate_failed)
        fprintf(stderr,
                "%s: %s costs %.1f times the median of the other rules (limit %.1f): see "
                "\"Rule cost\" in signatures/README.md\n",
                prog, units[0].path, ratio, max_ratio);
    ret = gate_failed ? EXIT_GATE : EXIT_OK;

fini_base:
    if (base.rules)
        yr_rules_destroy(base.rules);
    free(base.rules_s);
fini:
    for (size_t k = 0; k < n; k++)
        if (units[k].rules)
            yr_rules_destroy(units[k].rules);
    yr_finalize();
out:
    for (size_t k = 0; k < n; k++) {
        free(units[k].path);
        free(units[k].rules_s);
    }
    free(units);
    corpus_free(&c);
    return ret;

bad_usage:
    fprintf(stderr, "%s: bad arguments\n", prog);
    cost_usage(stderr);
    goto out;
}
