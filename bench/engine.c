/*
 * engine.c — palisade-bench-engine: the scan engine's throughput against the yara CLI.
 *
 *   palisade-bench-engine [--threads N] [--repeat R] [--package PKG --trusted-keys DIR]
 *                         [--no-yara] DIR RULES.yar
 *
 * Scans every regular file under DIR in-process with N threads (default: the number of
 * cores), each with its own pal_scanner reading files through the broker's pread source
 * (agent/engine/fdsource.c); then times `yara -r -p N RULES DIR` (fork + exec,
 * output to /dev/null, wall time, peak RSS from wait4). R rounds of both, interleaved so
 * that background noise hits both alike (default 5); prints the median files, bytes,
 * seconds, files/s, MB/s, the peak RSS of each and the ratios. Both read a warm page
 * cache: every file is read once before anything is timed.
 *
 * The engine must run the same rules as yara: without --package a package is built from
 * RULES in a temporary directory (one catalog entry per distinct `threat` meta, signed with
 * a throwaway key); with --package the caller vouches that PKG was built from RULES.
 * yara -r does not look inside archives while the engine does, so on trees with containers
 * the engine does more work per byte of input. --no-yara times the engine only (for
 * bench/yara_vs.py, which runs yara itself, interleaved with the daemon's scans).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <yara.h>

#include "engine.h"
#include "fdsource.h"
#include "sigbuild.h"
#include "sigpkg.h"
#include "walker.h"

#define BENCH_MAX_THREADS 256
#define BENCH_MAX_RULES_BYTES (64u << 20)
#define BENCH_MAX_REPEAT 100

typedef struct file_list {
    char **paths;
    size_t n, cap;
    uint64_t bytes;
} file_list;

typedef struct bench_shared {
    const file_list *files;
    pthread_mutex_t lock; /* protects next and the totals */
    size_t next;
    uint64_t files_done, bytes_done, threats, unscannable, objects, failures;
} bench_shared;

typedef struct bench_worker {
    bench_shared *sh;
    pal_scanner *sc;
    pthread_t tid;
} bench_worker;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the file list ----------------------------------------------------------------------- */

static int list_file(void *ctx, const pal_walk_file *wf)
{
    file_list *fl = ctx;
    close(wf->fd);
    if (fl->n == fl->cap) {
        size_t ncap = fl->cap ? fl->cap * 2 : 1024;
        char **p = realloc(fl->paths, ncap * sizeof(*p));
        if (!p)
            return PAL_ENOMEM;
        fl->paths = p;
        fl->cap = ncap;
    }
    fl->paths[fl->n] = strdup(wf->path);
    if (!fl->paths[fl->n])
        return PAL_ENOMEM;
    fl->n++;
    fl->bytes += wf->st->st_size > 0 ? (uint64_t)wf->st->st_size : 0;
    return 0;
}

static void list_skip(void *ctx, const char *path, size_t path_len, pal_skip_reason reason,
                      int errnum)
{
    (void)ctx;
    (void)path_len;
    fprintf(stderr, "palisade-bench-engine: skipping %s (%s%s%s)\n", path,
            pal_skip_reason_name(reason), errnum ? ": " : "", errnum ? strerror(errnum) : "");
}

static void file_list_free(file_list *fl)
{
    for (size_t i = 0; i < fl->n; i++)
        free(fl->paths[i]);
    free(fl->paths);
}

/* Read every file once so that neither timed run pays for the disk. */
static void warm_cache(const file_list *fl)
{
    static char buf[1 << 16];
    for (size_t i = 0; i < fl->n; i++) {
        int fd = open(fl->paths[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        while (read(fd, buf, sizeof(buf)) > 0)
            ;
        close(fd);
    }
}

/* ---- the package ------------------------------------------------------------------------- */

static int read_rules(const char *path, char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    size_t got = 0;

    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        (uint64_t)st.st_size > BENCH_MAX_RULES_BYTES)
        goto fail;
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        goto fail;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    *out = buf;
    return 0;
fail:
    free(buf);
    if (fd >= 0)
        close(fd);
    return PAL_EIO;
}

static void yara_error(int level, const char *file, int line, const YR_RULE *rule, const char *msg,
                       void *user)
{
    (void)rule;
    (void)user;
    if (level == YARA_ERROR_LEVEL_ERROR)
        fprintf(stderr, "palisade-bench-engine: %s:%d: %s\n", file ? file : "rules", line, msg);
}

static int seen_before(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

/* Add a catalog entry (Severe, Quarantine) for every distinct `threat` meta of the rules. */
static int add_threats(pal_sigbuild *b, const char *source, pal_errbuf *err)
{
    YR_COMPILER *comp = NULL;
    YR_RULES *rules = NULL;
    const YR_RULE *rule;
    const YR_META *meta;
    char **names = NULL;
    size_t n = 0;
    int rc = PAL_EENGINE;

    if (yr_initialize() != ERROR_SUCCESS)
        return pal_err_set(err, PAL_EENGINE, "yr_initialize failed");
    if (yr_compiler_create(&comp) != ERROR_SUCCESS)
        goto out;
    yr_compiler_set_callback(comp, yara_error, NULL);
    if (yr_compiler_add_string(comp, source, NULL) != 0 ||
        yr_compiler_get_rules(comp, &rules) != ERROR_SUCCESS) {
        rc = pal_err_set(err, PAL_EFORMAT, "the rules do not compile");
        goto out;
    }
    rc = 0;
    yr_rules_foreach(rules, rule)
    {
        yr_rule_metas_foreach(rule, meta)
        {
            if (meta->type != META_TYPE_STRING || strcmp(meta->identifier, "threat") != 0 ||
                seen_before(names, n, meta->string))
                continue;
            const char *name = meta->string;
            const char *colon = strchr(name, ':');
            size_t clen = colon ? (size_t)(colon - name) : 0;
            char category[64];
            if (clen == 0 || clen >= sizeof(category))
                snprintf(category, sizeof(category), "Unknown");
            else
                snprintf(category, sizeof(category), "%.*s", (int)clen, name);
            rc = pal_sigbuild_add_threat(b, name, PAL_SEV_SEVERE, category, PAL_ACTION_QUARANTINE,
                                         err);
            if (rc < 0)
                goto out;
            char **nn = realloc(names, (n + 1) * sizeof(*nn));
            if (!nn) {
                rc = PAL_ENOMEM;
                goto out;
            }
            names = nn;
            names[n] = strdup(name);
            if (!names[n]) {
                rc = PAL_ENOMEM;
                goto out;
            }
            n++;
        }
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rules)
        yr_rules_destroy(rules);
    if (comp)
        yr_compiler_destroy(comp);
    yr_finalize();
    return rc;
}

static void remove_tmp(const char *dir)
{
    static const char *const names[] = {"bench.key", "bench.pub", "bench.sig"};
    char p[64];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* Build, sign and open a package of the rules in rules_path, with a throwaway key. */
static int package_from_rules(const char *rules_path, pal_sigpkg **out, pal_errbuf *err)
{
    char dir[] = "/tmp/palisade-bench.XXXXXX";
    char prefix[64], key[64], pub[64], sig[64];
    char *source = NULL;
    pal_sigbuild *b = NULL;
    pal_keyring *kr = NULL;
    int rc;

    if (!mkdtemp(dir))
        return pal_err_set(err, PAL_EIO, "mkdtemp: %s", strerror(errno));
    snprintf(prefix, sizeof(prefix), "%s/bench", dir);
    snprintf(key, sizeof(key), "%s/bench.key", dir);
    snprintf(pub, sizeof(pub), "%s/bench.pub", dir);
    snprintf(sig, sizeof(sig), "%s/bench.sig", dir);

    rc = read_rules(rules_path, &source);
    if (rc < 0) {
        pal_err_set(err, rc, "%s: cannot read (at most %u bytes)", rules_path,
                    BENCH_MAX_RULES_BYTES);
        goto out;
    }
    rc = pal_sigbuild_new(&b);
    if (rc < 0)
        goto out;
    rc = add_threats(b, source, err);
    if (rc < 0)
        goto out;
    rc = pal_sigbuild_add_rules(b, source, rules_path, err);
    if (rc < 0)
        goto out;
    rc = pal_sigbuild_keygen(prefix, err);
    if (rc < 0)
        goto out;
    rc = pal_sigbuild_write(b, 1, (uint64_t)time(NULL), key, sig, err);
    if (rc < 0)
        goto out;
    rc = pal_keyring_new(&kr);
    if (rc < 0)
        goto out;
    rc = pal_keyring_add_pem_file(kr, pub, err);
    if (rc < 0)
        goto out;
    /* The mapping stays valid after the file is unlinked. */
    rc = pal_sigpkg_open_path(sig, kr, PAL_SIGPKG_VERIFY, out, err);
out:
    pal_keyring_free(kr);
    pal_sigbuild_free(b);
    free(source);
    remove_tmp(dir);
    return rc;
}

static int package_from_file(const char *pkg_path, const char *keys_dir, pal_sigpkg **out,
                             pal_errbuf *err)
{
    pal_keyring *kr = NULL;
    int rc = pal_keyring_new(&kr);
    if (rc == 0)
        rc = pal_keyring_load_dir(kr, keys_dir, err);
    if (rc == 0)
        rc = pal_sigpkg_open_path(pkg_path, kr, PAL_SIGPKG_VERIFY, out, err);
    pal_keyring_free(kr);
    return rc;
}

/* ---- the palisade run -------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    bench_worker *wk = arg;
    bench_shared *sh = wk->sh;
    uint64_t files = 0, bytes = 0, threats = 0, unscannable = 0, objects = 0, failures = 0;

    for (;;) {
        pthread_mutex_lock(&sh->lock);
        size_t i = sh->next < sh->files->n ? sh->next++ : SIZE_MAX;
        pthread_mutex_unlock(&sh->lock);
        if (i == SIZE_MAX)
            break;

        const char *path = sh->files->paths[i];
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            failures++;
            if (fd >= 0)
                close(fd);
            continue;
        }
        pal_fdsource fs;
        pal_source src;
        pal_report rep;
        pal_fdsource_init(&fs, fd, (uint64_t)st.st_size, &src);
        if (pal_scan(wk->sc, &src, path, NULL, &rep) != 0) {
            failures++;
            close(fd);
            continue;
        }
        files++;
        bytes += rep.size;
        threats += rep.n_findings;
        objects += rep.objects_scanned;
        if (rep.reason != PAL_UNSCANNABLE_NONE)
            unscannable++;
        pal_report_free(&rep);
        close(fd);
    }
    pthread_mutex_lock(&sh->lock);
    sh->files_done += files;
    sh->bytes_done += bytes;
    sh->threats += threats;
    sh->unscannable += unscannable;
    sh->objects += objects;
    sh->failures += failures;
    pthread_mutex_unlock(&sh->lock);
    return NULL;
}

/* Scan the list with n threads; *secs gets the wall time. */
static int run_palisade(pal_engine *eng, const file_list *fl, unsigned n, bench_shared *sh,
                        double *secs)
{
    bench_worker wk[BENCH_MAX_THREADS];
    unsigned made = 0, started = 0;
    int rc = 0;

    memset(wk, 0, sizeof(wk));
    sh->files = fl;
    for (; made < n; made++) {
        wk[made].sh = sh;
        rc = pal_scanner_new(eng, &wk[made].sc);
        if (rc < 0)
            goto out;
    }
    double t0 = now_seconds();
    for (; started < n; started++) {
        if (pthread_create(&wk[started].tid, NULL, worker_main, &wk[started]) != 0) {
            rc = PAL_ENOMEM;
            break;
        }
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(wk[i].tid, NULL);
    *secs = now_seconds() - t0;
out:
    for (unsigned i = 0; i < made; i++)
        pal_scanner_free(wk[i].sc);
    return rc;
}

static double tv_seconds(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

/* Median of n (>= 1) values; sorts v. */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the yara run ------------------------------------------------------------------------ */

/* Wall seconds of `yara -r -p n rules dir`, its peak RSS (KiB) and exit status. */
static int run_yara(char *rules, char *dir, unsigned n, double *secs, long *maxrss_kib, int *status)
{
    char threads[16];
    snprintf(threads, sizeof(threads), "%u", n);
    char *const argv[] = {"yara", "-r", "-w", "-p", threads, rules, dir, NULL};

    double t0 = now_seconds();
    pid_t pid = fork();
    if (pid < 0)
        return PAL_EIO;
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (devnull < 0 || dup2(devnull, STDOUT_FILENO) < 0 || dup2(devnull, STDERR_FILENO) < 0)
            _exit(126);
        execvp("yara", argv);
        _exit(127);
    }
    struct rusage ru;
    int st;
    while (wait4(pid, &st, 0, &ru) < 0) {
        if (errno != EINTR)
            return PAL_EIO;
    }
    *secs = now_seconds() - t0;
    *maxrss_kib = ru.ru_maxrss;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

/* ---- main -------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs("usage: palisade-bench-engine [--threads N] [--repeat R]\n"
          "                             [--package PKG --trusted-keys DIR] [--no-yara]\n"
          "                             DIR RULES.yar\n"
          "Scan DIR with the engine (N threads, default: number of cores), then time\n"
          "`yara -r -p N RULES.yar DIR`; R rounds of both (default 5), and print the median\n"
          "throughputs and their ratio. Without --package the engine uses a package built\n"
          "from RULES.yar. --no-yara times the engine only.\n",
          f);
}

static int parse_uint(const char *s, unsigned long max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < 1 || v > max)
        return PAL_EINVAL;
    *out = (unsigned)v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"threads", required_argument, NULL, 't'},
        {"package", required_argument, NULL, 'p'},
        {"trusted-keys", required_argument, NULL, 'k'},
        {"repeat", required_argument, NULL, 'r'},
        {"no-yara", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *pkg_path = NULL, *keys_dir = NULL;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cores > 0 && cores <= BENCH_MAX_THREADS ? (unsigned)cores : 1;
    unsigned repeat = 5;
    int no_yara = 0;
    file_list fl = {0};
    pal_sigpkg *pkg = NULL;
    pal_engine *eng = NULL;
    pal_errbuf err = {{0}};
    bench_shared sh;
    int c, rc, ret = 2;

    setenv("TZ", "UTC", 1);
    tzset();
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (parse_uint(optarg, BENCH_MAX_THREADS, &threads) != 0) {
                fprintf(stderr, "palisade-bench-engine: --threads wants 1..%d\n",
                        BENCH_MAX_THREADS);
                return 2;
            }
            break;
        case 'r':
            if (parse_uint(optarg, BENCH_MAX_REPEAT, &repeat) != 0) {
                fprintf(stderr, "palisade-bench-engine: --repeat wants 1..%d\n", BENCH_MAX_REPEAT);
                return 2;
            }
            break;
        case 'p':
            pkg_path = optarg;
            break;
        case 'k':
            keys_dir = optarg;
            break;
        case 'n':
            no_yara = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind != 2 || !pkg_path != !keys_dir) {
        usage(stderr);
        return 2;
    }
    char *dir = argv[optind], *rules = argv[optind + 1];

    memset(&sh, 0, sizeof(sh));
    pthread_mutex_init(&sh.lock, NULL);

    rc = pkg_path ? package_from_file(pkg_path, keys_dir, &pkg, &err)
                  : package_from_rules(rules, &pkg, &err);
    if (rc < 0) {
        fprintf(stderr, "palisade-bench-engine: package: %s (%s)\n", err.msg, pal_strerror(rc));
        goto out;
    }
    pal_limits lim;
    pal_limits_default(&lim);
    rc = pal_engine_new(pkg, &lim, &eng, &err);
    if (rc < 0) {
        fprintf(stderr, "palisade-bench-engine: engine: %s (%s)\n", err.msg, pal_strerror(rc));
        goto out;
    }
    const pal_walk_ops ops = {.on_file = list_file, .on_skip = list_skip, .ctx = &fl};
    const pal_walk_options wopts = {0};
    rc = pal_walk(dir, &wopts, &ops);
    if (rc < 0) {
        fprintf(stderr, "palisade-bench-engine: walking %s: %s\n", dir, pal_strerror(rc));
        goto out;
    }
    if (fl.n == 0) {
        fprintf(stderr, "palisade-bench-engine: no files under %s\n", dir);
        goto out;
    }
    warm_cache(&fl);

    pal_sigpkg_info info;
    pal_sigpkg_get_info(pkg, &info);
    printf("tree:     %s: %zu files, %" PRIu64 " bytes\n", dir, fl.n, fl.bytes);
    printf("rules:    %s (package: %s, %" PRIu32 " rules, %" PRIu32 " hashes)\n", rules,
           pkg_path ? pkg_path : "built from the rules", info.rule_count, info.hash_count);
    printf("threads:  %u\n", threads);

    double pt[BENCH_MAX_REPEAT], yt[BENCH_MAX_REPEAT];
    long yrss = 0;
    int ystatus = 0;
    for (unsigned r = 0; r < repeat; r++) {
        long rss = 0;
        int st = 0;
        sh.next = 0;
        sh.files_done = sh.bytes_done = sh.threats = sh.unscannable = sh.objects = 0;
        sh.failures = 0;
        struct rusage ru0, ru1;
        getrusage(RUSAGE_SELF, &ru0);
        rc = run_palisade(eng, &fl, threads, &sh, &pt[r]);
        getrusage(RUSAGE_SELF, &ru1);
        if (rc < 0) {
            fprintf(stderr, "palisade-bench-engine: %s\n", pal_strerror(rc));
            goto out;
        }
        if (no_yara) {
            yt[r] = 0;
            /* CPU of the scan alone: on a shared machine the wall time depends on the others */
            printf("round %u:  palisade %.3f s (cpu %.3f s)\n", r + 1, pt[r],
                   tv_seconds(&ru1.ru_utime) - tv_seconds(&ru0.ru_utime) +
                       tv_seconds(&ru1.ru_stime) - tv_seconds(&ru0.ru_stime));
            continue;
        }
        if (run_yara(rules, dir, threads, &yt[r], &rss, &st) < 0) {
            fprintf(stderr, "palisade-bench-engine: cannot run yara: %s\n", strerror(errno));
            goto out;
        }
        if (rss > yrss)
            yrss = rss;
        if (st != 0)
            ystatus = st;
        printf("round %u:  palisade %.3f s, yara %.3f s\n", r + 1, pt[r], yt[r]);
    }
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    double psecs = median(pt, repeat), ysecs = median(yt, repeat);
    double pmbs = (double)sh.bytes_done / 1e6 / psecs, pfps = (double)sh.files_done / psecs;
    double ymbs = (double)fl.bytes / 1e6 / ysecs, yfps = (double)fl.n / ysecs;
    printf("palisade: files=%" PRIu64 " bytes=%" PRIu64 " seconds=%.3f files/s=%.1f "
           "MB/s=%.1f peak_rss=%ld KiB (objects=%" PRIu64 " threats=%" PRIu64
           " unscannable=%" PRIu64 " failed=%" PRIu64 ")\n",
           sh.files_done, sh.bytes_done, psecs, pfps, pmbs, self.ru_maxrss, sh.objects, sh.threats,
           sh.unscannable, sh.failures);
    if (no_yara) {
        ret = sh.failures == 0 ? 0 : 1;
        goto out;
    }
    printf("yara:     files=%zu bytes=%" PRIu64 " seconds=%.3f files/s=%.1f MB/s=%.1f "
           "peak_rss=%ld KiB (yara -r -w -p %u, exit %d)\n",
           fl.n, fl.bytes, ysecs, yfps, ymbs, yrss, threads, ystatus);
    printf("ratio:    palisade/yara MB/s=%.2f files/s=%.2f (median of %u rounds; "
           "yara -r does not look inside archives, palisade does)\n",
           pmbs / ymbs, pfps / yfps, repeat);
    ret = ystatus == 0 && sh.failures == 0 ? 0 : 1;
    if (ystatus != 0)
        fprintf(stderr, "palisade-bench-engine: yara exited with %d\n", ystatus);

out:
    pal_engine_free(eng);
    pal_sigpkg_free(pkg);
    file_list_free(&fl);
    pthread_mutex_destroy(&sh.lock);
    return ret;
}
