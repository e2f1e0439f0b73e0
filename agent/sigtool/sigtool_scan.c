/*
 * sigtool_scan.c — `palisade-sigtool scan`: scan files and trees with a verified package.
 *
 * A tool for signature authors: it verifies a package, builds the engine in-process (no
 * daemon, no sandbox) and scans the paths given, so that a new rule can be tried on samples
 * and the chain to a detection inside containers can be seen. Trees are walked by the
 * daemon's walker (agent/core/scan/walker.c: never following symlinks, paths of any length);
 * each regular file is read with pread on the fd the walker opened. With --threads N the
 * walker feeds a small bounded queue and N workers, each with its own pal_scanner, scan
 * from it.
 *
 * Output, one line per item (control characters in names are shown as \xNN so that a
 * hostile member name cannot forge a line):
 *   THREAT <threat> [<severity>] <chain>
 *   UNSCANNABLE <reason> <chain>: <detail>
 *   SUMMARY files=N bytes=N threats=N unscannable=N skipped=N time=S.SSSs
 * or, with --json, one JSON object at the end. Exit 0 clean, 1 threats found, 2 error (bad
 * arguments, package refused, a path that cannot be examined, engine failure); threats win
 * over a path error so that a detection is never reported as a mere error.
 */
#include "sigtool_scan.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "sigpkg.h"
#include "utf8.h"
#include "walker.h"

#define SCAN_MAX_THREADS 64
#define SCAN_QUEUE_LEN 64
/* pal_walk counts the root as depth 0: 257 enters 256 directory levels below a root. */
#define SCAN_MAX_DEPTH 257

enum { EXIT_CLEAN = 0, EXIT_THREATS = 1, EXIT_ERROR = 2 };

typedef struct scan_opts {
    const char *package;
    const char *keys_dir;
    const char *key_file;
    int json;
    unsigned threads;
} scan_opts;

/* Growable text for the JSON arrays; failed sticks once an allocation failed. */
typedef struct textbuf {
    char *data;
    size_t len, cap;
    int failed;
} textbuf;

typedef struct scan_job {
    int fd;     /* owned: closed after the scan */
    char *path; /* owned */
    uint64_t size;
} scan_job;

typedef struct scan_run {
    const scan_opts *opts;
    pal_engine *eng;
    pal_scanner *inline_scanner; /* threads == 1: the walker scans itself */
    const char *root;            /* the PATH being walked, to tell its own failures apart */
    size_t root_len;             /* without trailing slashes, as pal_walk reports it */

    pthread_mutex_t qlock; /* protects queue, qhead, qcount, qclosed */
    pthread_cond_t qnonempty, qnonfull;
    scan_job queue[SCAN_QUEUE_LEN];
    size_t qhead, qcount;
    int qclosed;

    pthread_mutex_t olock; /* protects stdout and every field below */
    uint64_t files, bytes, threats, unscannable, skipped_symlink, skipped_special;
    uint64_t path_errors;
    textbuf json_threats, json_unscannable, json_errors;
    int broken; /* the engine failed (out of memory): stop, exit 2 */
} scan_run;

typedef struct scan_worker {
    scan_run *run;
    pal_scanner *sc;
    pthread_t tid;
} scan_worker;

typedef struct fd_source {
    int fd;
} fd_source;

/* ---- output helpers ---------------------------------------------------------------------- */

static void tb_reserve(textbuf *tb, size_t more)
{
    if (tb->failed)
        return;
    if (more > SIZE_MAX - tb->len - 1) {
        tb->failed = 1;
        return;
    }
    size_t need = tb->len + more + 1;
    if (need <= tb->cap)
        return;
    size_t ncap = tb->cap ? tb->cap : 256;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    char *p = realloc(tb->data, ncap);
    if (!p) {
        tb->failed = 1;
        return;
    }
    tb->data = p;
    tb->cap = ncap;
}

static void tb_putc(textbuf *tb, char c)
{
    tb_reserve(tb, 1);
    if (tb->failed)
        return;
    tb->data[tb->len++] = c;
    tb->data[tb->len] = '\0';
}

static void tb_puts(textbuf *tb, const char *s)
{
    size_t n = strlen(s);
    tb_reserve(tb, n);
    if (tb->failed)
        return;
    memcpy(tb->data + tb->len, s, n + 1);
    tb->len += n;
}

static void tb_printf(textbuf *tb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tb_printf(textbuf *tb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        tb->failed = 1;
        return;
    }
    tb_reserve(tb, (size_t)n);
    if (tb->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(tb->data + tb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    tb->len += (size_t)n;
}

/* A JSON string literal; bytes that are not valid UTF-8 become U+FFFD. */
static void tb_json_string(textbuf *tb, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    const unsigned char *end = s + strlen((const char *)s);
    tb_putc(tb, '"');
    while (*s) {
        if (*s == '"' || *s == '\\') {
            tb_putc(tb, '\\');
            tb_putc(tb, (char)*s++);
        } else if (*s < 0x20) {
            tb_printf(tb, "\\u%04x", *s++);
        } else {
            size_t n = pal_utf8_seq(s, (size_t)(end - s), NULL);
            if (n == 0) {
                tb_puts(tb, "\\ufffd");
                s++;
                continue;
            }
            for (size_t i = 0; i < n; i++)
                tb_putc(tb, (char)s[i]);
            s += n;
        }
    }
    tb_putc(tb, '"');
}

/* Text output: control characters and DEL as \xNN so a name cannot start a new line. */
static void put_text(FILE *f, const char *str)
{
    for (const unsigned char *s = (const unsigned char *)(str ? str : ""); *s; s++) {
        if (*s < 0x20 || *s == 0x7f)
            fprintf(f, "\\x%02x", *s);
        else
            fputc(*s, f);
    }
}

static void sep(textbuf *tb)
{
    if (tb->len > 0)
        tb_putc(tb, ',');
}

static const char *severity_text(pal_severity sev)
{
    const char *s = pal_severity_name(sev);
    return s ? s : "Unknown";
}

/* ---- reporting (callers hold olock) ------------------------------------------------------ */

static void emit_threat(scan_run *run, const pal_finding *f)
{
    run->threats++;
    if (run->opts->json) {
        textbuf *tb = &run->json_threats;
        char hex[65];
        for (size_t i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", f->sha256[i]);
        sep(tb);
        tb_puts(tb, "{\"path\":");
        tb_json_string(tb, f->chain);
        tb_puts(tb, ",\"threat\":");
        tb_json_string(tb, f->threat);
        tb_puts(tb, ",\"severity\":");
        tb_json_string(tb, severity_text(f->severity));
        tb_puts(tb, ",\"category\":");
        tb_json_string(tb, f->category);
        tb_puts(tb, ",\"matched_by\":");
        tb_json_string(tb, f->matched_by);
        tb_printf(tb, ",\"sha256\":\"%s\",\"size\":%" PRIu64 "}", hex, f->size);
        return;
    }
    fputs("THREAT ", stdout);
    put_text(stdout, f->threat);
    printf(" [%s] ", severity_text(f->severity));
    put_text(stdout, f->chain);
    fputc('\n', stdout);
}

static void emit_unscannable(scan_run *run, const char *reason, const char *chain,
                             const char *detail)
{
    run->unscannable++;
    if (run->opts->json) {
        textbuf *tb = &run->json_unscannable;
        sep(tb);
        tb_puts(tb, "{\"path\":");
        tb_json_string(tb, chain);
        tb_puts(tb, ",\"reason\":");
        tb_json_string(tb, reason);
        tb_puts(tb, ",\"detail\":");
        if (detail)
            tb_json_string(tb, detail);
        else
            tb_puts(tb, "null");
        tb_putc(tb, '}');
        return;
    }
    printf("UNSCANNABLE %s ", reason);
    put_text(stdout, chain);
    fputs(": ", stdout);
    put_text(stdout, detail ? detail : "no detail");
    fputc('\n', stdout);
}

/* A problem that makes the run fail (exit 2) unless threats were found. */
static void emit_error(scan_run *run, const char *msg)
{
    run->path_errors++;
    if (run->opts->json) {
        sep(&run->json_errors);
        tb_json_string(&run->json_errors, msg);
    }
    fputs("palisade-sigtool scan: ", stderr);
    put_text(stderr, msg);
    fputc('\n', stderr);
}

/* ---- scanning ---------------------------------------------------------------------------- */

static ssize_t fd_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
    const fd_source *fs = ctx;
    if (off > (uint64_t)INT64_MAX)
        return PAL_EINVAL;
    for (;;) {
        ssize_t n = pread(fs->fd, buf, len, (off_t)off);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return PAL_EIO;
    }
}

static int is_broken(scan_run *run)
{
    pthread_mutex_lock(&run->olock);
    int b = run->broken;
    pthread_mutex_unlock(&run->olock);
    return b;
}

/* Scan the file open on fd (not closed here). Negative only when the engine is broken. */
static int scan_fd(scan_run *run, pal_scanner *sc, int fd, const char *path, uint64_t size)
{
    fd_source fs = {.fd = fd};
    pal_source src = {.size = size, .read_at = fd_read_at, .ctx = &fs};
    pal_report rep;

    int rc = pal_scan(sc, &src, path, NULL, &rep);
    pthread_mutex_lock(&run->olock);
    if (rc < 0) {
        run->broken = 1;
        fprintf(stderr, "palisade-sigtool scan: engine failed on ");
        put_text(stderr, path);
        fprintf(stderr, ": %s\n", pal_strerror(rc));
        pthread_mutex_unlock(&run->olock);
        return rc;
    }
    run->files++;
    run->bytes += rep.size;
    for (size_t i = 0; i < rep.n_findings; i++)
        emit_threat(run, &rep.findings[i]);
    if (rep.reason != PAL_UNSCANNABLE_NONE)
        emit_unscannable(run, pal_unscannable_name(rep.reason),
                         rep.reason_chain ? rep.reason_chain : path, rep.reason_detail);
    pthread_mutex_unlock(&run->olock);
    pal_report_free(&rep);
    return 0;
}

static void *worker_main(void *arg)
{
    scan_worker *wk = arg;
    scan_run *run = wk->run;

    for (;;) {
        pthread_mutex_lock(&run->qlock);
        while (run->qcount == 0 && !run->qclosed)
            pthread_cond_wait(&run->qnonempty, &run->qlock);
        if (run->qcount == 0) {
            pthread_mutex_unlock(&run->qlock);
            break;
        }
        scan_job job = run->queue[run->qhead];
        run->qhead = (run->qhead + 1) % SCAN_QUEUE_LEN;
        run->qcount--;
        pthread_cond_signal(&run->qnonfull);
        pthread_mutex_unlock(&run->qlock);

        /* After an engine failure the queue is only drained. */
        if (!is_broken(run))
            scan_fd(run, wk->sc, job.fd, job.path, job.size);
        close(job.fd);
        free(job.path);
    }
    return NULL;
}

static int on_file(void *ctx, const pal_walk_file *wf)
{
    scan_run *run = ctx;
    int fd = wf->fd;
    const char *path = wf->path;
    uint64_t size = wf->st->st_size > 0 ? (uint64_t)wf->st->st_size : 0;

    if (run->inline_scanner) {
        int rc = scan_fd(run, run->inline_scanner, fd, path, size);
        close(fd);
        return rc;
    }
    char *p = strdup(path);
    if (!p) {
        close(fd);
        return PAL_ENOMEM;
    }
    pthread_mutex_lock(&run->qlock);
    while (run->qcount == SCAN_QUEUE_LEN)
        pthread_cond_wait(&run->qnonfull, &run->qlock);
    run->queue[(run->qhead + run->qcount) % SCAN_QUEUE_LEN] =
        (scan_job){.fd = fd, .path = p, .size = size};
    run->qcount++;
    pthread_cond_signal(&run->qnonempty);
    pthread_mutex_unlock(&run->qlock);
    return is_broken(run) ? PAL_EENGINE : 0;
}

static int is_root(const scan_run *run, const char *path, size_t path_len)
{
    return path_len == run->root_len && memcmp(path, run->root, path_len) == 0;
}

static void on_skip(void *ctx, const char *path, size_t path_len, pal_skip_reason reason,
                    int errnum)
{
    scan_run *run = ctx;

    pthread_mutex_lock(&run->olock);
    switch (reason) {
    case PAL_SKIP_SYMLINK:
        run->skipped_symlink++;
        break;
    case PAL_SKIP_SPECIAL:
        run->skipped_special++;
        break;
    case PAL_SKIP_TOO_DEEP:
        emit_unscannable(run, pal_unscannable_name(PAL_UNSCANNABLE_DEPTH), path,
                         "directory nested too deeply, not entered");
        break;
    case PAL_SKIP_VANISHED:
    case PAL_SKIP_UNREADABLE:
    case PAL_SKIP_ERROR:
        if (is_root(run, path, path_len)) {
            /* A PATH that cannot be examined at all is an error of the run (exit 2). */
            textbuf msg = {0};
            tb_puts(&msg, path);
            tb_puts(&msg, ": ");
            tb_puts(&msg, errnum ? strerror(errnum) : "changed while being opened");
            emit_error(run, msg.failed ? path : msg.data);
            free(msg.data);
        } else {
            emit_unscannable(run, pal_unscannable_name(PAL_UNSCANNABLE_READ_ERROR), path,
                             errnum ? strerror(errnum) : "changed while being opened");
        }
        break;
    default:
        /* exclusions and file-system filtering are not requested by this tool */
        emit_unscannable(run, "skipped", path, pal_skip_reason_name(reason));
        break;
    }
    pthread_mutex_unlock(&run->olock);
}

/* ---- command line ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs("usage: palisade-sigtool scan --package PKG (--trusted-keys DIR | --key PUB)\n"
          "                             [--json] [--threads N] PATH...\n"
          "Verify PKG, then scan each PATH (a file or a directory tree; symlinks are not\n"
          "followed, FIFOs, sockets and devices are skipped), inside containers too.\n"
          "Exit status: 0 clean, 1 threats found, 2 error.\n",
          f);
}

static int parse_threads(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < 1 || v > SCAN_MAX_THREADS)
        return PAL_EINVAL;
    *out = (unsigned)v;
    return 0;
}

/* Returns the index of the first path in argv, or -1 after printing the problem. */
static int parse_args(int argc, char **argv, scan_opts *o)
{
    static const struct option longopts[] = {
        {"package", required_argument, NULL, 'p'},
        {"trusted-keys", required_argument, NULL, 'k'},
        {"key", required_argument, NULL, 'K'},
        {"json", no_argument, NULL, 'j'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    *o = (scan_opts){.threads = 1};
    optind = 0; /* glibc: full reset, the main program may have used getopt already */
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            o->package = optarg;
            break;
        case 'k':
            o->keys_dir = optarg;
            break;
        case 'K':
            o->key_file = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 't':
            if (parse_threads(optarg, &o->threads) != 0) {
                fprintf(stderr, "palisade-sigtool scan: --threads wants 1..%d, not '%s'\n",
                        SCAN_MAX_THREADS, optarg);
                return -1;
            }
            break;
        case 'h':
            usage(stdout);
            exit(EXIT_CLEAN);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (!o->package || (!o->keys_dir == !o->key_file) || optind >= argc) {
        if (!o->package)
            fputs("palisade-sigtool scan: --package is required\n", stderr);
        if (!o->keys_dir == !o->key_file)
            fputs("palisade-sigtool scan: give exactly one of --trusted-keys and --key\n", stderr);
        if (optind >= argc)
            fputs("palisade-sigtool scan: no PATH to scan\n", stderr);
        usage(stderr);
        return -1;
    }
    return optind;
}

static int load_engine(const scan_opts *o, pal_keyring **kr_out, pal_sigpkg **pkg_out,
                       pal_engine **eng_out)
{
    pal_keyring *kr = NULL;
    pal_sigpkg *pkg = NULL;
    pal_engine *eng = NULL;
    pal_errbuf err = {{0}};
    pal_limits lim;
    int rc;

    rc = pal_keyring_new(&kr);
    if (rc < 0) {
        fprintf(stderr, "palisade-sigtool scan: %s\n", pal_strerror(rc));
        goto fail;
    }
    rc = o->keys_dir ? pal_keyring_load_dir(kr, o->keys_dir, &err)
                     : pal_keyring_add_pem_file(kr, o->key_file, &err);
    if (rc < 0) {
        fprintf(stderr, "palisade-sigtool scan: trusted keys %s: %s\n",
                o->keys_dir ? o->keys_dir : o->key_file, err.msg[0] ? err.msg : pal_strerror(rc));
        goto fail;
    }
    rc = pal_sigpkg_open_path(o->package, kr, PAL_SIGPKG_VERIFY, &pkg, &err);
    if (rc < 0) {
        fprintf(stderr, "palisade-sigtool scan: package %s refused: %s\n", o->package,
                err.msg[0] ? err.msg : pal_strerror(rc));
        goto fail;
    }
    pal_limits_default(&lim);
    rc = pal_engine_new(pkg, &lim, &eng, &err);
    if (rc < 0) {
        fprintf(stderr, "palisade-sigtool scan: cannot build the engine: %s\n",
                err.msg[0] ? err.msg : pal_strerror(rc));
        goto fail;
    }
    *kr_out = kr;
    *pkg_out = pkg;
    *eng_out = eng;
    return 0;

fail:
    pal_sigpkg_free(pkg);
    pal_keyring_free(kr);
    return rc < 0 ? rc : PAL_EINVAL;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_summary(scan_run *run, double secs)
{
    uint64_t skipped = run->skipped_symlink + run->skipped_special;

    if (!run->opts->json) {
        printf("SUMMARY files=%" PRIu64 " bytes=%" PRIu64 " threats=%" PRIu64
               " unscannable=%" PRIu64 " skipped=%" PRIu64 " time=%.3fs\n",
               run->files, run->bytes, run->threats, run->unscannable, skipped, secs);
        return;
    }
    const char *empty = "";
    pal_sigpkg_info info;
    pal_sigpkg_get_info(pal_engine_package(run->eng), &info);
    printf("{\"files_scanned\":%" PRIu64 ",\"bytes_scanned\":%" PRIu64
           ",\"threats\":[%s],\"unscannable\":[%s],"
           "\"skipped\":{\"symlink\":%" PRIu64 ",\"special\":%" PRIu64 "},"
           "\"errors\":[%s],\"signature_version\":%" PRIu64 ",\"seconds\":%.3f}\n",
           run->files, run->bytes, run->json_threats.data ? run->json_threats.data : empty,
           run->json_unscannable.data ? run->json_unscannable.data : empty, run->skipped_symlink,
           run->skipped_special, run->json_errors.data ? run->json_errors.data : empty,
           info.version, secs);
}

/* Walk every path, feeding the queue or scanning inline. Negative: stop everything. */
static int walk_paths(scan_run *run, int argc, char **argv, int first)
{
    const pal_walk_ops ops = {.on_file = on_file, .on_skip = on_skip, .ctx = run};
    const pal_walk_options wopts = {.max_depth = SCAN_MAX_DEPTH};

    for (int i = first; i < argc; i++) {
        if (argv[i][0] == '\0') {
            pthread_mutex_lock(&run->olock);
            emit_error(run, "an empty PATH cannot be scanned");
            pthread_mutex_unlock(&run->olock);
            continue;
        }
        size_t len = strlen(argv[i]);
        while (len > 1 && argv[i][len - 1] == '/')
            len--;
        run->root = argv[i];
        run->root_len = len;
        int rc = pal_walk(argv[i], &wopts, &ops);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int sigtool_cmd_scan(int argc, char **argv)
{
    scan_opts opts;
    scan_run run;
    pal_keyring *kr = NULL;
    pal_sigpkg *pkg = NULL;
    scan_worker workers[SCAN_MAX_THREADS];
    unsigned started = 0;
    double t0;
    int ret = EXIT_ERROR, rc;

    /* Zip and 7z date handling would open /etc/localtime on every member. */
    setenv("TZ", "UTC", 1);
    tzset();

    int first = parse_args(argc, argv, &opts);
    if (first < 0)
        return EXIT_ERROR;

    memset(&run, 0, sizeof(run));
    memset(workers, 0, sizeof(workers));
    run.opts = &opts;
    pthread_mutex_init(&run.qlock, NULL);
    pthread_mutex_init(&run.olock, NULL);
    pthread_cond_init(&run.qnonempty, NULL);
    pthread_cond_init(&run.qnonfull, NULL);

    if (load_engine(&opts, &kr, &pkg, &run.eng) < 0)
        goto out;
    for (unsigned i = 0; i < opts.threads; i++) {
        workers[i].run = &run;
        rc = pal_scanner_new(run.eng, &workers[i].sc);
        if (rc < 0) {
            fprintf(stderr, "palisade-sigtool scan: cannot create a scanner: %s\n",
                    pal_strerror(rc));
            goto out_scanners;
        }
    }

    t0 = now_seconds();
    if (opts.threads == 1) {
        run.inline_scanner = workers[0].sc;
    } else {
        for (; started < opts.threads; started++) {
            if (pthread_create(&workers[started].tid, NULL, worker_main, &workers[started])) {
                fputs("palisade-sigtool scan: cannot start a scan thread\n", stderr);
                pthread_mutex_lock(&run.olock);
                run.broken = 1;
                pthread_mutex_unlock(&run.olock);
                break;
            }
        }
    }
    if (!is_broken(&run)) {
        rc = walk_paths(&run, argc, argv, first);
        if (rc < 0) {
            pthread_mutex_lock(&run.olock);
            if (!run.broken) /* else the engine failure was already reported */
                fprintf(stderr, "palisade-sigtool scan: %s\n", pal_strerror(rc));
            run.broken = 1;
            pthread_mutex_unlock(&run.olock);
        }
    }
    pthread_mutex_lock(&run.qlock);
    run.qclosed = 1;
    pthread_cond_broadcast(&run.qnonempty);
    pthread_mutex_unlock(&run.qlock);
    for (unsigned i = 0; i < started; i++)
        pthread_join(workers[i].tid, NULL);

    if (run.broken) {
        ret = EXIT_ERROR;
    } else if (run.json_threats.failed || run.json_unscannable.failed || run.json_errors.failed) {
        fputs("palisade-sigtool scan: out of memory for the JSON output\n", stderr);
        ret = EXIT_ERROR;
    } else {
        print_summary(&run, now_seconds() - t0);
        ret = run.threats > 0 ? EXIT_THREATS : run.path_errors > 0 ? EXIT_ERROR : EXIT_CLEAN;
    }
    if (fflush(stdout) != 0)
        ret = EXIT_ERROR;

out_scanners:
    for (unsigned i = 0; i < opts.threads; i++)
        pal_scanner_free(workers[i].sc);
out:
    pal_engine_free(run.eng);
    pal_sigpkg_free(pkg);
    pal_keyring_free(kr);
    free(run.json_threats.data);
    free(run.json_unscannable.data);
    free(run.json_errors.data);
    pthread_cond_destroy(&run.qnonfull);
    pthread_cond_destroy(&run.qnonempty);
    pthread_mutex_destroy(&run.olock);
    pthread_mutex_destroy(&run.qlock);
    return ret;
}
