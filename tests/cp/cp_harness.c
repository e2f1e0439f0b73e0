/*
 * cp_harness.c — plays the broker with pal_cpsup and the real palisade-cp(-selftest), one
 * scenario per command (tests/cp.cmake registers each as a CTest test):
 *
 *   basic       start, scan EICAR and a clean object, status and the START event
 *   corpus      every file of the engine's corpus (tests/engine/mkcorpus.sh) and the
 *               starter package's ELF sample scanned in-process and in the content process,
 *               through both data paths: the reports must be the same
 *   procstatus  /proc/<pid> of the running content process: Seccomp 2, NoNewPrivs 1, no
 *               capabilities, not root, own namespaces, descriptors only its channels
 *   attacks     every self-test attack fails or kills the content process; the harness
 *               stays up and records it; the installed binary refuses self-tests
 *   misbehave   each kind of bad message kills the content process, the object is
 *               unscannable (misbehaved), the event names it, a new instance takes over
 *   timeout     a content process that hangs is killed: unscannable (timeout), restart
 *   crash       1,000 objects with a SIGKILL from outside mid-scan and an object that
 *               crashes the process (SIGSEGV) every time: everything else scanned as
 *               in-process, the killer object unscannable (crashed), events, new instance
 *   degraded    a crash loop shows as degraded, and clears when a scan succeeds
 *   startfail   a sandbox step that fails is reported by name; insecure binaries refused
 *   switch      sandbox off and on, new definitions: live, no broker restart
 *   package     the supervisor takes a package descriptor and limits: another file with the
 *               same package is a new package; the supervisor's own hold outlives the
 *               caller's descriptor and the file's name; a descriptor that is not a
 *               package is refused without touching the instance
 *   pss         a package of 500,000 hashes is shared: Pss of its mapping about half of Rss
 *               in the broker and in the content process (figures printed)
 *   bench       round trips per object and throughput, in-process and sandboxed (printed)
 *   nonroot     (as root) the basic scenario again as user nobody, in a user namespace
 *   pdeathsig   a broker that dies takes its content process with it (SIGKILL)
 *   pipeline    several small objects per round trip (pal_cpsup_scan_pipelined): each gets
 *               the single path's report (clean, EICAR, unscannable, mixed in one batch);
 *               a content process that answers out of order, stops answering or dies in
 *               the middle of a batch is caught, the culprit alone is unscannable, the
 *               objects around it are scanned clean
 *
 * The EICAR string is assembled from pieces at run time, never stored whole.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cpmsg.h"
#include "cpsup.h"
#include "defs.h"
#include "engine.h"
#include "fdsource.h"
#include "sigbuild.h"
#include "../test_support.h"

#include <openssl/evp.h>

#define EICAR_THREAT "Virus:DOS/EICAR_Test_File"
#define SKIP 77

/* ---- failing --------------------------------------------------------------------------- */

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            die(__VA_ARGS__);                                                                      \
    } while (0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- environment ----------------------------------------------------------------------- */

static const char *g_cp_bin = PAL_TEST_CP_SELFTEST;
static const char *g_cp_prod = PAL_TEST_CP;
static const char *g_pkg = PAL_TEST_DEFS_PACKAGE;
static const char *g_keys_dir = PAL_TEST_KEYS_DIR;
static char g_work[1024];
static pal_keyring *g_keys;

static void make_eicar(uint8_t out[68])
{
    static const char *const parts[] = {"X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-",
                                        "ANTIVIRUS-TEST-", "FILE!$H+H*"};
    size_t off = 0;
    for (size_t i = 0; i < 4; i++) {
        size_t n = strlen(parts[i]);
        memcpy(out + off, parts[i], n);
        off += n;
    }
    CHECK(off == 68, "EICAR length");
}

static pal_defs *load_defs(const char *pkg, const pal_limits *lim)
{
    pal_errbuf err = {{0}};
    pal_defs *d = NULL;
    if (g_keys == NULL) {
        CHECK(pal_keyring_new(&g_keys) == 0, "keyring");
        CHECK(pal_keyring_load_dir(g_keys, g_keys_dir, &err) == 0, "keys: %s", err.msg);
    }
    int rc = pal_defs_load(pkg, g_keys, lim, &d, &err);
    CHECK(rc == 0, "loading %s: %s", pkg, err.msg);
    return d;
}

/* What the supervisor takes of a pal_defs, as the broker's scanhost hands it over: the
   package's descriptor and the engine limits. */
#define PKG(d) pal_defs_fd(d), pal_engine_limits(pal_defs_engine(d))

/* A fresh signing key for this command under g_work/keys-NAME, trusted by g_keys. */
static void test_key(const char *tag, char *keyfile, size_t len)
{
    char dir[1200], prefix[1300];
    pal_errbuf err = {{0}};
    snprintf(dir, sizeof(dir), "%s/keys-%s", g_work, tag);
    CHECK(run_cmd("rm -rf '%s' && mkdir -p '%s'", dir, dir) == 0, "key dir");
    snprintf(prefix, sizeof(prefix), "%s/test", dir);
    CHECK(pal_sigbuild_keygen(prefix, &err) == 0, "keygen: %s", err.msg);
    snprintf(keyfile, len, "%s.key", prefix);
    if (g_keys == NULL) {
        CHECK(pal_keyring_new(&g_keys) == 0, "keyring");
        CHECK(pal_keyring_load_dir(g_keys, g_keys_dir, &err) == 0, "keys: %s", err.msg);
    }
    char pub[1400];
    snprintf(pub, sizeof(pub), "%s.pub", prefix);
    CHECK(pal_keyring_add_pem_file(g_keys, pub, &err) == 0, "%s", err.msg);
}

static void hexify(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 3 * i, 4, "%02X ", p[i]);
}

/*
 * The engine tests' main package: EICAR by SHA-256 and by a rule anchored at 0, so that the
 * corpus manifest's verdicts hold. extra_hashes random hashes of another threat make it big.
 */
static void build_test_package(const char *tag, const char *out, uint32_t extra_hashes)
{
    char key[1400];
    test_key(tag, key, sizeof(key));
    uint8_t eicar[68], sha[32];
    make_eicar(eicar);
    unsigned int mdlen = 0;
    CHECK(EVP_Digest(eicar, sizeof(eicar), sha, &mdlen, EVP_sha256(), NULL) == 1, "sha256");
    char hex[3 * 68 + 1], rule[1024];
    hexify(eicar, sizeof(eicar), hex);
    snprintf(rule, sizeof(rule),
             "rule EICAR_At_Start { meta: threat = \"%s\" strings: $e = { %s } "
             "condition: $e at 0 }",
             EICAR_THREAT, hex);
    pal_errbuf err = {{0}};
    pal_sigbuild *b = NULL;
    CHECK(pal_sigbuild_new(&b) == 0, "sigbuild");
    CHECK(pal_sigbuild_add_threat(b, EICAR_THREAT, PAL_SEV_SEVERE, "Virus", PAL_ACTION_QUARANTINE,
                                  &err) == 0,
          "%s", err.msg);
    CHECK(pal_sigbuild_add_threat(b, "Trojan:Linux/Filler.A", PAL_SEV_LOW, "Trojan",
                                  PAL_ACTION_QUARANTINE, &err) == 0,
          "%s", err.msg);
    CHECK(pal_sigbuild_add_sha256(b, sha, EICAR_THREAT, &err) == 0, "%s", err.msg);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (uint32_t i = 0; i < extra_hashes; i++) {
        uint8_t h[32];
        for (int k = 0; k < 32; k += 8) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            memcpy(h + k, &x, 8);
        }
        CHECK(pal_sigbuild_add_sha256(b, h, "Trojan:Linux/Filler.A", &err) == 0, "%s", err.msg);
    }
    CHECK(pal_sigbuild_add_rules(b, rule, "eicar", &err) == 0, "%s", err.msg);
    CHECK(pal_sigbuild_write(b, 7, 1700000000, key, out, &err) == 0, "write: %s", err.msg);
    pal_sigbuild_free(b);
}

/* ---- events ---------------------------------------------------------------------------- */

typedef struct ev_rec {
    pal_cpsup_event_kind kind;
    pid_t pid;
    int sig, exit_code;
    char *object, *detail, *tail;
} ev_rec;

static pthread_mutex_t g_ev_lock = PTHREAD_MUTEX_INITIALIZER;
static ev_rec g_evs[8192];
static size_t g_n_evs;
static int g_quiet_events;

static void on_event(void *ctx, const pal_cpsup_event *ev)
{
    (void)ctx;
    pthread_mutex_lock(&g_ev_lock);
    if (g_n_evs < sizeof(g_evs) / sizeof(g_evs[0])) {
        ev_rec *r = &g_evs[g_n_evs++];
        r->kind = ev->kind;
        r->pid = ev->pid;
        r->sig = ev->signal;
        r->exit_code = ev->exit_code;
        r->object = ev->object ? strdup(ev->object) : NULL;
        r->detail = strdup(ev->detail);
        r->tail = strdup(ev->stderr_tail);
    }
    pthread_mutex_unlock(&g_ev_lock);
    if (!g_quiet_events)
        printf("  event %-15s gen %llu pid %d exit %d signal %d object %s: %s\n",
               pal_cpsup_event_name(ev->kind), (unsigned long long)ev->generation, (int)ev->pid,
               ev->exit_code, ev->signal, ev->object ? ev->object : "-", ev->detail);
    if (!g_quiet_events && ev->stderr_tail[0] && ev->kind != PAL_CPSUP_EV_START &&
        ev->kind != PAL_CPSUP_EV_STOP)
        printf("    stderr: %s", ev->stderr_tail);
}

/* Events of kind (0: any) whose object contains obj (NULL: any). */
static size_t count_events(pal_cpsup_event_kind kind, const char *obj)
{
    size_t n = 0;
    pthread_mutex_lock(&g_ev_lock);
    for (size_t i = 0; i < g_n_evs; i++)
        if ((kind == 0 || g_evs[i].kind == kind) &&
            (obj == NULL || (g_evs[i].object && strstr(g_evs[i].object, obj))))
            n++;
    pthread_mutex_unlock(&g_ev_lock);
    return n;
}

static ev_rec *last_event(pal_cpsup_event_kind kind)
{
    ev_rec *r = NULL;
    pthread_mutex_lock(&g_ev_lock);
    for (size_t i = 0; i < g_n_evs; i++)
        if (g_evs[i].kind == kind)
            r = &g_evs[i];
    pthread_mutex_unlock(&g_ev_lock);
    return r;
}

/* ---- the supervisor -------------------------------------------------------------------- */

static void test_config(pal_cpsup_config *cfg, const char *bin, unsigned k)
{
    pal_cpsup_config_default(cfg);
    cfg->binary = bin;
    cfg->channels = k;
    /* a dynamic uid of its own for each instance: scenarios run side by side, and whether
       the palisade-cp account exists on this machine must not matter */
    cfg->account = NULL;
    cfg->backoff_base_ms = 10;
    cfg->backoff_max_ms = 200;
    cfg->degraded_after = 1000;
    cfg->on_event = on_event;
}

static pal_cpsup *start_sup(const pal_cpsup_config *cfg, pal_defs *defs)
{
    pal_cpsup *sup = NULL;
    pal_errbuf err = {{0}};
    CHECK(pal_cpsup_new(cfg, &sup, &err) == 0, "pal_cpsup_new: %s", err.msg);
    int rc = pal_cpsup_start(sup, PKG(defs), &err);
    CHECK(rc == 0, "pal_cpsup_start: %s", err.msg);
    return sup;
}

static pid_t cp_pid(pal_cpsup *sup)
{
    pal_cpsup_status st;
    pal_cpsup_get_status(sup, &st);
    return st.pid;
}

/* Scan memory through the content process. */
static pal_cpsup_outcome scan_mem(pal_cpsup *sup, unsigned slot, pal_defs *defs, const void *data,
                                  size_t len, const char *name, pal_report *rep)
{
    pal_source src;
    pal_source_from_memory(&src, data, len);
    pal_cpsup_outcome oc = PAL_CPSUP_SCANNED;
    int rc = pal_cpsup_scan(sup, slot, PKG(defs), &src, name, NULL, rep, &oc);
    CHECK(rc == 0, "pal_cpsup_scan(%s): %s", name, pal_strerror(rc));
    return oc;
}

/*
 * In-process scanners, one per slot and kept across objects like the content process's
 * engine threads: the engine's objects_scanned depends on what a scanner scanned before
 * (a damaged stored zip member counts on a fresh scanner, not on one with grown buffers),
 * so the comparison is made with the same history.
 */
typedef struct inproc {
    pal_scanner *sc[PAL_CPMSG_MAX_CHANNELS];
} inproc;

static void scan_inproc(inproc *ip, unsigned slot, pal_defs *defs, const pal_source *src,
                        const char *name, pal_report *rep)
{
    if (ip->sc[slot] == NULL)
        CHECK(pal_scanner_new(pal_defs_engine(defs), &ip->sc[slot]) == 0, "scanner");
    CHECK(pal_scan(ip->sc[slot], src, name, NULL, rep) == 0, "pal_scan(%s)", name);
}

static void inproc_free(inproc *ip)
{
    for (unsigned i = 0; i < PAL_CPMSG_MAX_CHANNELS; i++)
        pal_scanner_free(ip->sc[i]);
    memset(ip, 0, sizeof(*ip));
}

static int has_threat(const pal_report *rep, const char *threat)
{
    for (size_t i = 0; i < rep->n_findings; i++)
        if (strcmp(rep->findings[i].threat, threat) == 0)
            return 1;
    return 0;
}

static int streq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The report of the content process must be the in-process one. */
static void same_report(const char *name, const pal_report *a, const pal_report *b)
{
    CHECK(a->verdict == b->verdict, "%s: verdict %d in-process, %d sandboxed", name, a->verdict,
          b->verdict);
    CHECK(a->reason == b->reason, "%s: reason %s in-process, %s sandboxed", name,
          pal_unscannable_name(a->reason), pal_unscannable_name(b->reason));
    CHECK(streq(a->reason_chain, b->reason_chain), "%s: reason chain %s / %s", name,
          a->reason_chain ? a->reason_chain : "-", b->reason_chain ? b->reason_chain : "-");
    CHECK(streq(a->reason_detail, b->reason_detail), "%s: detail '%s' / '%s'", name,
          a->reason_detail ? a->reason_detail : "-", b->reason_detail ? b->reason_detail : "-");
    CHECK(a->sha256_valid == b->sha256_valid && memcmp(a->sha256, b->sha256, 32) == 0,
          "%s: sha256 differs", name);
    CHECK(a->size == b->size, "%s: size", name);
    CHECK(a->objects_scanned == b->objects_scanned, "%s: objects scanned %llu / %llu", name,
          (unsigned long long)a->objects_scanned, (unsigned long long)b->objects_scanned);
    if (a->reason == PAL_UNSCANNABLE_NONE)
        CHECK(a->bytes_read == b->bytes_read, "%s: bytes read %llu / %llu", name,
              (unsigned long long)a->bytes_read, (unsigned long long)b->bytes_read);
    CHECK(a->n_findings == b->n_findings, "%s: %zu findings in-process, %zu sandboxed", name,
          a->n_findings, b->n_findings);
    for (size_t i = 0; i < a->n_findings; i++) {
        const pal_finding *x = &a->findings[i], *y = &b->findings[i];
        CHECK(streq(x->chain, y->chain) && streq(x->threat, y->threat) &&
                  streq(x->category, y->category) && streq(x->matched_by, y->matched_by) &&
                  x->severity == y->severity && x->default_action == y->default_action &&
                  x->threat_id == y->threat_id && x->size == y->size &&
                  memcmp(x->sha256, y->sha256, 32) == 0,
              "%s: finding %zu differs (%s %s %s / %s %s %s)", name, i, x->chain, x->threat,
              x->matched_by, y->chain, y->threat, y->matched_by);
    }
}

/* ---- basic ----------------------------------------------------------------------------- */

static int cmd_basic(void)
{
    pal_defs *defs = load_defs(g_pkg, NULL);
    pal_cpsup_config cfg;
    test_config(&cfg, g_cp_bin, 2);
    pal_cpsup *sup = start_sup(&cfg, defs);

    pal_cpsup_status st;
    pal_cpsup_get_status(sup, &st);
    char steps[512];
    pal_cpsup_steps_string(st.sandbox_steps, steps, sizeof(steps));
    printf("content process pid %d state %s uid %u gid %u landlock ABI %d steps: %s\n", (int)st.pid,
           pal_cpsup_state_name(st.state), (unsigned)st.uid, (unsigned)st.gid, st.landlock_abi,
           steps);
    CHECK(st.state == PAL_CPSUP_RUNNING && st.pid > 0 && st.start_time > 0, "not running");
    CHECK(st.uid != 0 && st.gid != 0, "content process runs as root");
    CHECK(st.sandbox_steps & (1U << PAL_CPMSG_STEP_SECCOMP), "no seccomp step");
    CHECK(st.selftest_build, "selftest build not reported");
    CHECK(count_events(PAL_CPSUP_EV_START, NULL) == 1, "one START event");

    uint8_t eicar[68];
    make_eicar(eicar);
    pal_report rep;
    pal_cpsup_outcome oc = scan_mem(sup, 0, defs, eicar, sizeof(eicar), "/virtual/eicar.com", &rep);
    CHECK(oc == PAL_CPSUP_SCANNED && rep.verdict == PAL_VERDICT_THREAT &&
              has_threat(&rep, EICAR_THREAT) && rep.findings[0].severity == PAL_SEV_SEVERE,
          "EICAR not found (outcome %s verdict %d)", pal_cpsup_outcome_name(oc), rep.verdict);
    CHECK(strcmp(rep.findings[0].chain, "/virtual/eicar.com") == 0, "chain");
    CHECK(rep.sha256_valid && rep.bytes_read == 68, "sha/bytes");
    pal_report_free(&rep);

    static const char clean[] = "nothing to see here\n";
    oc = scan_mem(sup, 1, defs, clean, sizeof(clean) - 1, "/virtual/clean.txt", &rep);
    CHECK(oc == PAL_CPSUP_SCANNED && rep.verdict == PAL_VERDICT_CLEAN, "clean file not clean");
    pal_report_free(&rep);

    /* one round trip for a small object */
    pal_cpsup_get_status(sup, &st);
    CHECK(st.scans == 2 && st.data_requests == 0, "scans %llu data requests %llu",
          (unsigned long long)st.scans, (unsigned long long)st.data_requests);
    pal_cpsup_free(sup);
    CHECK(count_events(PAL_CPSUP_EV_STOP, NULL) == 1, "STOP event on free");
    pal_defs_unref(defs);
    printf("basic: ok\n");
    return 0;
}

/* ---- corpus ---------------------------------------------------------------------------- */

static time_t mtime_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_mtime : 0;
}

typedef struct corpus_file {
    char path[1600];
    char name[300];
    char verdict[32]; /* expected for profile "default", "" when not listed */
} corpus_file;

static size_t list_corpus(const char *dir, corpus_file **out)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL, "opendir %s", dir);
    size_t n = 0, cap = 0;
    corpus_file *v = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "manifest.tsv") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 128;
            v = realloc(v, cap * sizeof(*v));
            CHECK(v != NULL, "oom");
        }
        memset(&v[n], 0, sizeof(v[n]));
        snprintf(v[n].name, sizeof(v[n].name), "%s", e->d_name);
        snprintf(v[n].path, sizeof(v[n].path), "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    /* expected verdicts from the manifest */
    char mpath[1300];
    snprintf(mpath, sizeof(mpath), "%s/manifest.tsv", dir);
    FILE *f = fopen(mpath, "re");
    CHECK(f != NULL, "manifest");
    char line[8192];
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#')
            continue;
        char *save = NULL, *file = strtok_r(line, "\t", &save);
        char *profile = strtok_r(NULL, "\t", &save);
        char *verdict = strtok_r(NULL, "\t", &save);
        if (!file || !profile || !verdict || strcmp(profile, "default") != 0)
            continue;
        for (size_t i = 0; i < n; i++)
            if (strcmp(v[i].name, file) == 0)
                snprintf(v[i].verdict, sizeof(v[i].verdict), "%s", verdict);
    }
    fclose(f);
    *out = v;
    return n;
}

static const char *verdict_word(pal_verdict v)
{
    return v == PAL_VERDICT_CLEAN ? "clean" : v == PAL_VERDICT_THREAT ? "threat" : "unscannable";
}

static int cmd_corpus(void)
{
    char dir[1200], script[1200], manifest[1300];
    snprintf(dir, sizeof(dir), "%s/corpus", g_work);
    snprintf(script, sizeof(script), "%s/tests/engine/mkcorpus.sh", PAL_TEST_SOURCE_DIR);
    snprintf(manifest, sizeof(manifest), "%s/manifest.tsv", dir);
    if (mtime_of(manifest) == 0 || mtime_of(manifest) < mtime_of(script))
        CHECK(run_cmd("bash '%s' '%s'", script, dir) == 0, "mkcorpus.sh failed");
    corpus_file *files = NULL;
    size_t n = list_corpus(dir, &files);
    CHECK(n > 50, "corpus has only %zu files", n);

    char testpkg[1200];
    snprintf(testpkg, sizeof(testpkg), "%s/corpus-test.sig", g_work);
    build_test_package("corpus", testpkg, 0);
    for (int run = 0; run < 3; run++) {
        /* the engine tests' package (manifest verdicts hold) through both data paths, then
           the starter package */
        int bulk = run != 1;
        int starter = run == 2;
        pal_defs *defs = load_defs(starter ? g_pkg : testpkg, NULL);
        pal_cpsup_config cfg;
        test_config(&cfg, g_cp_bin, 2);
        cfg.bulk_shm = bulk;
        pal_cpsup *sup = start_sup(&cfg, defs);
        inproc ip = {{0}};
        size_t threats = 0, checked = 0;
        for (size_t i = 0; i <= n; i++) {
            const char *path = i < n ? files[i].path : PAL_TEST_ELF_SAMPLE;
            const char *name = i < n ? files[i].name : "elf-implant";
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            CHECK(fd >= 0, "open %s", path);
            struct stat st;
            CHECK(fstat(fd, &st) == 0, "fstat");
            pal_fdsource fs;
            pal_source src;
            pal_report a, b;
            pal_fdsource_init(&fs, fd, (uint64_t)st.st_size, &src);
            scan_inproc(&ip, (unsigned)(i % 2), defs, &src, name, &a);
            pal_fdsource_init(&fs, fd, (uint64_t)st.st_size, &src);
            pal_cpsup_outcome oc = PAL_CPSUP_SCANNED;
            CHECK(pal_cpsup_scan(sup, (unsigned)(i % 2), PKG(defs), &src, name, NULL, &b, &oc) == 0,
                  "scan %s", name);
            CHECK(oc == PAL_CPSUP_SCANNED, "%s: outcome %s (%s)", name, pal_cpsup_outcome_name(oc),
                  b.reason_detail ? b.reason_detail : "");
            CHECK(b.bytes_read == fs.bytes_read, "%s: bytes_read %llu, source read %llu", name,
                  (unsigned long long)b.bytes_read, (unsigned long long)fs.bytes_read);
            same_report(name, &a, &b);
            if (i < n && files[i].verdict[0] && !starter) {
                CHECK(strcmp(files[i].verdict, verdict_word(b.verdict)) == 0,
                      "%s: %s, the manifest says %s", name, verdict_word(b.verdict),
                      files[i].verdict);
                checked++;
            }
            if (i == n && starter)
                CHECK(has_threat(&b, "Trojan:Linux/ImplantCfg.A"), "ELF sample not detected");
            threats += b.verdict == PAL_VERDICT_THREAT;
            pal_report_free(&a);
            pal_report_free(&b);
            close(fd);
        }
        pal_cpsup_status st;
        pal_cpsup_get_status(sup, &st);
        CHECK(st.restarts == 0 && st.starts == 1, "the content process restarted");
        printf("corpus (%s package, %s): %zu objects identical in-process and sandboxed, "
               "%zu threats, %zu verdicts checked against the manifest, %llu data requests\n",
               starter ? "starter" : "test", bulk ? "shared bulk area" : "inline DATA", n + 1,
               threats, checked, (unsigned long long)st.data_requests);
        CHECK(threats > 40, "only %zu threats", threats);
        CHECK(starter || checked > 50, "only %zu verdicts checked", checked);
        pal_cpsup_free(sup);
        inproc_free(&ip);
        pal_defs_unref(defs);
    }
    free(files);
    printf("corpus: ok\n");
    return 0;
}

/* ---- /proc of the content process ------------------------------------------------------ */

static int read_text(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    ssize_t n;
    while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    buf[got] = '\0';
    return 0;
}

static const char *field(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, key, klen) == 0 && p[klen] == ':')
            return p + klen + 1 + strspn(p + klen + 1, " \t");
    return "";
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Seccomp 2, NoNewPrivs 1, no capabilities, not root (any broker). */
static void check_status_file(pid_t pid, int bounding_dropped)
{
    char path[64], st[8192];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    CHECK(read_text(path, st, sizeof(st)) == 0, "read %s", path);
    printf("  %s: Seccomp %.1s, NoNewPrivs %.1s, CapEff %.16s, CapPrm %.16s, CapBnd %.16s, "
           "Uid %.*s\n",
           path, field(st, "Seccomp"), field(st, "NoNewPrivs"), field(st, "CapEff"),
           field(st, "CapPrm"), field(st, "CapBnd"), (int)strcspn(field(st, "Uid"), "\n"),
           field(st, "Uid"));
    CHECK(starts(field(st, "Seccomp"), "2\n"), "Seccomp is not 2");
    CHECK(starts(field(st, "NoNewPrivs"), "1\n"), "NoNewPrivs is not 1");
    CHECK(starts(field(st, "CapEff"), "0000000000000000\n"), "CapEff not 0");
    CHECK(starts(field(st, "CapPrm"), "0000000000000000\n"), "CapPrm not 0");
    CHECK(starts(field(st, "CapInh"), "0000000000000000\n"), "CapInh not 0");
    if (bounding_dropped)
        CHECK(starts(field(st, "CapBnd"), "0000000000000000\n"), "CapBnd not 0");
    const char *uid = field(st, "Uid");
    CHECK(!starts(uid, "0\t") && strtoul(uid, NULL, 10) != 0, "runs as root");
    CHECK(strtoul(field(st, "Seccomp_filters"), NULL, 10) >= 1, "no seccomp filter");
}

static int cmd_procstatus(void)
{
    pal_defs *defs = load_defs(g_pkg, NULL);
    pal_cpsup_config cfg;
    unsigned k = 3;
    test_config(&cfg, g_cp_bin, k);
    pal_cpsup *sup = start_sup(&cfg, defs);
    pid_t pid = cp_pid(sup);
    check_status_file(pid, 1);
    char path[600], link[512], mine[512];

    /* namespaces of its own */
    static const char *const k_ns[] = {"pid", "mnt", "net", "ipc", "uts"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, k_ns[i]);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        if (n < 0 && geteuid() != 0) {
            printf("  (not root: %s is not readable, namespaces not compared)\n", path);
            break;
        }
        CHECK(n > 0, "readlink %s", path);
        link[n] = '\0';
        snprintf(path, sizeof(path), "/proc/self/ns/%s", k_ns[i]);
        ssize_t m = readlink(path, mine, sizeof(mine) - 1);
        CHECK(m > 0, "readlink %s", path);
        mine[m] = '\0';
        printf("  namespace %s: %s (broker %s)\n", k_ns[i], link, mine);
        CHECK(strcmp(link, mine) != 0, "shares the %s namespace with the broker", k_ns[i]);
    }

    if (geteuid() != 0) {
        printf("  (not root: /proc/%d/fd, root and limits need ptrace access; not checked)\n",
               (int)pid);
    } else {
        /* descriptors: stderr pipe and the K channels, nothing else */
        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
        DIR *d = opendir(path);
        CHECK(d != NULL, "opendir %s", path);
        struct dirent *e;
        unsigned n_fds = 0;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            int fd = (int)strtol(e->d_name, NULL, 10);
            snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid, e->d_name);
            ssize_t n = readlink(path, link, sizeof(link) - 1);
            CHECK(n > 0, "readlink %s", path);
            link[n] = '\0';
            printf("  fd %d -> %s\n", fd, link);
            if (fd == 2)
                CHECK(starts(link, "pipe:["), "fd 2 is not the stderr pipe");
            else
                CHECK(fd >= 5 && fd < 5 + (int)k && starts(link, "socket:["),
                      "unexpected descriptor %d -> %s", fd, link);
            n_fds++;
        }
        closedir(d);
        CHECK(n_fds == k + 1, "%u descriptors, expected %u", n_fds, k + 1);

        /* the package is mapped read-only and shared, though its descriptor is closed */
        struct stat pst;
        CHECK(stat(g_pkg, &pst) == 0, "stat package");
        char maps[65536];
        snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
        CHECK(read_text(path, maps, sizeof(maps)) == 0, "maps");
        int mapped = 0, exec_writable = 0;
        for (char *l = maps; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            char perms[5] = {0};
            const char *sp = strchr(l, ' ');
            if (sp == NULL)
                break;
            memcpy(perms, sp + 1, 4);
            unsigned long ino = 0;
            const char *q = sp + 1;
            for (int f = 0; f < 3 && q; f++)
                q = strchr(q, ' ') ? strchr(q, ' ') + 1 : NULL;
            if (q)
                ino = strtoul(q, NULL, 10);
            if (ino == (unsigned long)pst.st_ino && strcmp(perms, "r--s") == 0)
                mapped = 1;
            if (perms[1] == 'w' && perms[2] == 'x')
                exec_writable = 1;
        }
        CHECK(mapped, "the package is not mapped r--s");
        CHECK(!exec_writable, "a writable and executable mapping exists");
        printf("  package mapped r--s (inode %lu); no writable+executable mapping\n",
               (unsigned long)pst.st_ino);

        /* an empty root */
        snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
        d = opendir(path);
        CHECK(d != NULL, "opendir %s", path);
        unsigned entries = 0;
        while ((e = readdir(d)) != NULL)
            entries += e->d_name[0] != '.';
        closedir(d);
        CHECK(entries == 0, "its root holds %u entries", entries);
        printf("  root directory: empty\n");

        char lim[8192];
        snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
        CHECK(read_text(path, lim, sizeof(lim)) == 0, "limits");
        CHECK(strstr(lim, "Max open files            0                    0") != NULL,
              "RLIMIT_NOFILE not 0");
        CHECK(strstr(lim, "Max processes             0                    0") != NULL,
              "RLIMIT_NPROC not 0");
        CHECK(strstr(lim, "Max core file size        0                    0") != NULL,
              "RLIMIT_CORE not 0");
        printf("  limits: no new files, no processes, no core\n");
    }
    pal_cpsup_free(sup);
    pal_defs_unref(defs);
    printf("procstatus: ok\n");
    return 0;
}

/* ---- attacks --------------------------------------------------------------------------- */

static int cmd_attacks(void)
{
    pal_defs *defs = load_defs(g_pkg, NULL);
    pal_cpsup_config cfg;
    test_config(&cfg, g_cp_bin, 1);
    pal_cpsup *sup = start_sup(&cfg, defs);

    /* a control socket to try to reach */
    char ctl[1200];
    snprintf(ctl, sizeof(ctl), "%s/ctl.sock", g_work);
    unlink(ctl);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(strlen(ctl) < sizeof(sa.sun_path), "socket path too long");
    memcpy(sa.sun_path, ctl, strlen(ctl));
    CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 4) == 0,
          "control socket");
    chmod(ctl, 0666);
    unlink("/palisade-cp-selftest");

    unsigned killed = 0, blocked = 0;
    for (unsigned a = 1; a < PAL_CPMSG_ATTACK_COUNT; a++) {
        size_t deaths =
            count_events(PAL_CPSUP_EV_CRASH, NULL) + count_events(PAL_CPSUP_EV_EXIT, NULL);
        pal_cpsup_attack_result res;
        pal_errbuf err = {{0}};
        int rc = pal_cpsup_attack(sup, 0, a, ctl, (uint64_t)getpid(), &res, &err);
        CHECK(rc == 0, "attack %s: %s", pal_cpmsg_attack_name(a), err.msg);
        switch (res.outcome) {
        case PAL_CPSUP_ATTACK_BLOCKED:
            printf("attack %-24s blocked: %s\n", pal_cpmsg_attack_name(a), strerror(res.err));
            blocked++;
            break;
        case PAL_CPSUP_ATTACK_KILLED:
            printf("attack %-24s killed the content process (signal %d%s%s, exit %d)\n",
                   pal_cpmsg_attack_name(a), res.signal, res.signal ? ": " : "",
                   res.signal ? strsignal(res.signal) : "", res.exit_code);
            CHECK(count_events(PAL_CPSUP_EV_CRASH, NULL) + count_events(PAL_CPSUP_EV_EXIT, NULL) ==
                      deaths + 1,
                  "death not recorded");
            pthread_mutex_lock(&g_ev_lock);
            ev_rec *ev = &g_evs[g_n_evs - 1];
            pthread_mutex_unlock(&g_ev_lock);
            CHECK((ev->kind == PAL_CPSUP_EV_CRASH || ev->kind == PAL_CPSUP_EV_EXIT) &&
                      ev->pid > 0 && ev->object && strcmp(ev->object, "(self-test)") == 0,
                  "the death is not the last event, or does not name the self-test");
            killed++;
            break;
        default:
            die("attack %s: outcome %d: THE SANDBOX DID NOT STOP IT", pal_cpmsg_attack_name(a),
                res.outcome);
        }
    }
    /* nothing reached us */
    CHECK(accept(lfd, NULL, NULL) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
          "the control socket got a connection");
    struct stat st;
    CHECK(stat("/palisade-cp-selftest", &st) != 0, "a file was created");
    char self[8192];
    CHECK(read_text("/proc/self/status", self, sizeof(self)) == 0, "status");
    CHECK(starts(field(self, "TracerPid"), "0\n"), "the broker is being traced");
    close(lfd);
    unlink(ctl);

    /* and the service goes on */
    uint8_t eicar[68];
    make_eicar(eicar);
    pal_report rep;
    CHECK(scan_mem(sup, 0, defs, eicar, 68, "after-attacks", &rep) == PAL_CPSUP_SCANNED &&
              rep.verdict == PAL_VERDICT_THREAT,
          "scanning after the attacks");
    pal_report_free(&rep);
    pal_cpsup_free(sup);
    printf("attacks: %u blocked, %u killed the content process, 0 succeeded\n", blocked, killed);
    CHECK(blocked + killed == PAL_CPMSG_ATTACK_COUNT - 1, "count");

    /* the installed binary has no self-tests */
    test_config(&cfg, g_cp_prod, 1);
    sup = start_sup(&cfg, defs);
    pal_cpsup_status sst;
    pal_cpsup_get_status(sup, &sst);
    CHECK(!sst.selftest_build, "installed build reports self-tests");
    pal_cpsup_attack_result res;
    pal_errbuf err = {{0}};
    CHECK(pal_cpsup_attack(sup, 0, PAL_CPMSG_ATTACK_OPEN_PASSWD, NULL, 0, &res, &err) == 0 &&
              res.outcome == PAL_CPSUP_ATTACK_UNSUPPORTED,
          "installed binary did not refuse a self-test");
    printf("installed palisade-cp refuses self-tests\n");
    pal_cpsup_free(sup);
    pal_defs_unref(defs);
    printf("attacks: ok\n");
    return 0;
}

/* ---- misbehaviour ---------------------------------------------------------------------- */

/* A trigger object: the magic word, padded to size bytes. */
static uint8_t *trigger(const char *word, size_t size, size_t *len)
{
    char head[128];
    int n = snprintf(head, sizeof(head), "PALISADE-SELFTEST:%s\n", word);
    if ((size_t)n > size)
        size = (size_t)n;
    uint8_t *b = malloc(size);
    CHECK(b != NULL, "oom");
    memset(b, 'x', size);
    memcpy(b, head, (size_t)n);
    *len = size;
    return b;
}

static void scan_clean_after(pal_cpsup *sup, pal_defs *defs, pid_t old)
{
    static const char clean[] = "an ordinary file\n";
    pal_report rep;
    pal_cpsup_outcome oc = scan_mem(sup, 0, defs, clean, sizeof(clean) - 1, "/virtual/after", &rep);
    CHECK(oc == PAL_CPSUP_SCANNED && rep.verdict == PAL_VERDICT_CLEAN, "scan after: %s",
          pal_cpsup_outcome_name(oc));
    pal_report_free(&rep);
    pid_t now = cp_pid(sup);
    CHECK(now > 0 && now != old, "no new content process (pid %d, was %d)", (int)now, (int)old);
}

static int cmd_misbehave(void)
{
    static const struct {
        const char *word;
        size_t size;
    } k_cases[] = {
        {"bad-id", 100},           {"bad-offset", 100},      {"bad-length", 100},
        {"beyond-end", 100 << 10}, {"oversize", 100},        {"garbage", 100},
        {"unknown-threat", 100},   {"bad-chain", 100},       {"wrong-type", 100},
        {"lie-clean", 2 << 20},    {"bundle-bad-item", 100}, {"bundle-nested", 100},
    };
    pal_defs *defs = load_defs(g_pkg, NULL);
    pal_cpsup_config cfg;
    test_config(&cfg, g_cp_bin, 2);
    pal_cpsup *sup = start_sup(&cfg, defs);
    for (size_t i = 0; i < sizeof(k_cases) / sizeof(k_cases[0]); i++) {
        size_t len;
        uint8_t *obj = trigger(k_cases[i].word, k_cases[i].size, &len);
        char name[128];
        snprintf(name, sizeof(name), "/virtual/misbehave-%s", k_cases[i].word);
        pid_t before = cp_pid(sup);
        pal_report rep;
        pal_cpsup_outcome oc = scan_mem(sup, 1, defs, obj, len, name, &rep);
        printf("%-15s -> %s: %s\n", k_cases[i].word, pal_cpsup_outcome_name(oc),
               rep.reason_detail ? rep.reason_detail : "-");
        CHECK(oc == PAL_CPSUP_MISBEHAVED, "%s: outcome %s", name, pal_cpsup_outcome_name(oc));
        CHECK(rep.verdict == PAL_VERDICT_UNSCANNABLE &&
                  rep.reason == PAL_UNSCANNABLE_CP_MISBEHAVED &&
                  starts(rep.reason_detail, "content process misbehaved: ") &&
                  strcmp(rep.reason_chain, name) == 0 && rep.n_findings == 0,
              "%s: report", name);
        pal_report_free(&rep);
        scan_clean_after(sup, defs, before);
        CHECK(count_events(PAL_CPSUP_EV_KILL_MISBEHAVED, name) == 1, "%s: no event", name);
        free(obj);
    }
    /* a message nobody asked for, alone or behind the answer in the same ANSWERS, is
       noticed at the next request on that channel */
    static const char *const k_unsolicited[] = {"unsolicited", "bundle-unsolicited"};
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        uint8_t *obj = trigger(k_unsolicited[i], 100, &len);
        pid_t before = cp_pid(sup);
        size_t kills = count_events(PAL_CPSUP_EV_KILL_MISBEHAVED, NULL);
        pal_report rep;
        CHECK(scan_mem(sup, 0, defs, obj, len, "/virtual/unsolicited", &rep) == PAL_CPSUP_SCANNED,
              "%s: first answer", k_unsolicited[i]);
        pal_report_free(&rep);
        scan_clean_after(sup, defs, before);
        CHECK(count_events(PAL_CPSUP_EV_KILL_MISBEHAVED, NULL) == kills + 1, "%s: no kill",
              k_unsolicited[i]);
        ev_rec *ev = last_event(PAL_CPSUP_EV_KILL_MISBEHAVED);
        CHECK(ev != NULL, "no event");
        printf("%-18s -> next request restarted it: %s\n", k_unsolicited[i], ev->detail);
        free(obj);
    }

    pal_cpsup_status st;
    pal_cpsup_get_status(sup, &st);
    CHECK(st.kills_misbehaved == sizeof(k_cases) / sizeof(k_cases[0]) + 2, "kill count %llu",
          (unsigned long long)st.kills_misbehaved);
    pal_cpsup_free(sup);
    pal_defs_unref(defs);
    printf("misbehave: ok\n");
    return 0;
}

/* ---- pipeline: several small objects per round trip ---------------------------------------- */

typedef struct pobj {
    char name[96];
    uint8_t *data;
    size_t len;
} pobj;

static void pobj_set(pobj *o, const char *name, const void *data, size_t len)
{
    snprintf(o->name, sizeof(o->name), "%s", name);
    o->data = malloc(len ? len : 1);
    CHECK(o->data != NULL, "oom");
    memcpy(o->data, data, len);
    o->len = len;
}

static void pobj_text(pobj *o, const char *name, size_t len, unsigned seed)
{
    uint8_t *b = malloc(len);
    CHECK(b != NULL, "oom");
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)('a' + (i * 7 + seed) % 26);
    pobj_set(o, name, b, len);
    free(b);
}

/* n objects through one pipelined call on slot. */
static void scan_pipe(pal_cpsup *sup, unsigned slot, pal_defs *defs, const pobj *objs, size_t n,
                      pal_report *reps, pal_cpsup_outcome *ocs)
{
    pal_source srcs[PAL_CPSUP_PIPE_MAX];
    const char *names[PAL_CPSUP_PIPE_MAX];
    int rcs[PAL_CPSUP_PIPE_MAX];
    for (size_t i = 0; i < n; i++) {
        pal_source_from_memory(&srcs[i], objs[i].data, objs[i].len);
        names[i] = objs[i].name;
    }
    int rc = pal_cpsup_scan_pipelined(sup, slot, PKG(defs), n, srcs, names, NULL, reps, rcs, ocs);
    CHECK(rc == 0, "pal_cpsup_scan_pipelined: %s", pal_strerror(rc));
    for (size_t i = 0; i < n; i++)
        CHECK(rcs[i] == 0, "%s: %s", names[i], pal_strerror(rcs[i]));
}

/* A batch [clean, clean, trigger, clean, clean]: what each object's report must be. */
static void pipe_misbehaviour(pal_cpsup *sup, pal_defs *defs, const char *word,
                              pal_cpsup_outcome want, pal_cpsup_event_kind ev)
{
    pobj o[5];
    char name[96];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "/virtual/pipe-%s-%d.txt", word, i);
        if (i == 2) {
            size_t len;
            uint8_t *t = trigger(word, 200, &len);
            snprintf(name, sizeof(name), "/virtual/pipe-%s-trigger", word);
            pobj_set(&o[i], name, t, len);
            free(t);
        } else {
            pobj_text(&o[i], name, 3000 + (size_t)i * 100, (unsigned)i);
        }
    }
    pid_t before = cp_pid(sup);
    /* a sanitizer build's runtime may turn the fault into an exit */
    size_t evs = count_events(ev, o[2].name) +
                 (ev == PAL_CPSUP_EV_CRASH ? count_events(PAL_CPSUP_EV_EXIT, o[2].name) : 0);
    pal_report reps[5];
    pal_cpsup_outcome ocs[5];
    scan_pipe(sup, 0, defs, o, 5, reps, ocs);
    for (int i = 0; i < 5; i++) {
        printf("  %-34s -> %s %s%s%s\n", o[i].name, pal_cpsup_outcome_name(ocs[i]),
               verdict_word(reps[i].verdict), reps[i].reason_detail ? ": " : "",
               reps[i].reason_detail ? reps[i].reason_detail : "");
        if (i == 2) {
            CHECK(ocs[i] == want && reps[i].verdict == PAL_VERDICT_UNSCANNABLE &&
                      strcmp(reps[i].reason_chain, o[i].name) == 0,
                  "%s: outcome %s, want %s", o[i].name, pal_cpsup_outcome_name(ocs[i]),
                  pal_cpsup_outcome_name(want));
        } else {
            CHECK(ocs[i] == PAL_CPSUP_SCANNED && reps[i].verdict == PAL_VERDICT_CLEAN &&
                      reps[i].bytes_read == o[i].len && reps[i].sha256_valid,
                  "%s: %s %s, want scanned clean", o[i].name, pal_cpsup_outcome_name(ocs[i]),
                  verdict_word(reps[i].verdict));
        }
        pal_report_free(&reps[i]);
        free(o[i].data);
    }
    size_t now_evs = count_events(ev, o[2].name) +
                     (ev == PAL_CPSUP_EV_CRASH ? count_events(PAL_CPSUP_EV_EXIT, o[2].name) : 0);
    CHECK(now_evs >= evs + 1, "%s: no %s event naming the trigger", word, pal_cpsup_event_name(ev));
    pid_t now = cp_pid(sup);
    CHECK(now > 0 && now != before, "%s: the instance was not replaced", word);
}

static int cmd_pipeline(void)
{
    pal_limits lim;
    pal_limits_default(&lim);
    lim.max_scan_ms = 1000;
    pal_defs *defs = load_defs(g_pkg, &lim);
    pal_cpsup_config cfg;
    test_config(&cfg, g_cp_bin, 2);
    cfg.timeout_grace_ms = 500;
    pal_cpsup *sup = start_sup(&cfg, defs);

    /* 1. the same reports as the single path, object by object: clean, EICAR, unscannable
          (a gzip header with no deflate stream), an empty file, a mix of sizes */
    pobj o[PAL_CPSUP_PIPE_MAX];
    size_t n = PAL_CPSUP_PIPE_MAX;
    uint8_t eicar[68];
    make_eicar(eicar);
    static const uint8_t badgz[] = "\x1f\x8b\x08\0\0\0\0\0\0\x03\xff\xff\xff\xff\xff\xff\xff\xff";
    char name[96];
    for (size_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "/virtual/batch/%02zu", i);
        switch (i % 4) {
        case 1:
            strcat(name, "-eicar.com");
            pobj_set(&o[i], name, eicar, sizeof(eicar));
            break;
        case 2:
            strcat(name, "-bad.gz");
            pobj_set(&o[i], name, badgz, sizeof(badgz) - 1);
            break;
        default:
            strcat(name, ".txt");
            pobj_text(&o[i], name, i == 0 ? 0 : 1000 + i * 500, (unsigned)i);
        }
    }
    pal_cpsup_status st0, st1;
    pal_cpsup_get_status(sup, &st0);
    pal_report reps[PAL_CPSUP_PIPE_MAX];
    pal_cpsup_outcome ocs[PAL_CPSUP_PIPE_MAX];
    scan_pipe(sup, 0, defs, o, n, reps, ocs);
    pal_cpsup_get_status(sup, &st1);
    CHECK(st1.scans == st0.scans + n && st1.data_requests == st0.data_requests,
          "a batch of %zu: %llu scans, %llu data requests", n,
          (unsigned long long)(st1.scans - st0.scans),
          (unsigned long long)(st1.data_requests - st0.data_requests));
    CHECK(st1.pid == st0.pid, "the instance changed under a sound batch");
    size_t threats = 0, unscannables = 0;
    for (size_t i = 0; i < n; i++) {
        pal_report one;
        pal_cpsup_outcome oc = scan_mem(sup, 1, defs, o[i].data, o[i].len, o[i].name, &one);
        CHECK(oc == PAL_CPSUP_SCANNED && ocs[i] == PAL_CPSUP_SCANNED, "%s: outcome %s / %s",
              o[i].name, pal_cpsup_outcome_name(oc), pal_cpsup_outcome_name(ocs[i]));
        same_report(o[i].name, &one, &reps[i]);
        threats += reps[i].verdict == PAL_VERDICT_THREAT;
        unscannables += reps[i].verdict == PAL_VERDICT_UNSCANNABLE;
        if (i % 4 == 1)
            CHECK(has_threat(&reps[i], EICAR_THREAT) &&
                      strcmp(reps[i].findings[0].chain, o[i].name) == 0,
                  "%s: EICAR not found in the batch", o[i].name);
        if (i % 4 == 2)
            CHECK(reps[i].reason == PAL_UNSCANNABLE_CORRUPT, "%s: reason %s", o[i].name,
                  pal_unscannable_name(reps[i].reason));
        pal_report_free(&one);
        pal_report_free(&reps[i]);
    }
    printf("batch of %zu: the single path's report for each (%zu threats, %zu unscannable), "
           "%llu data requests\n",
           n, threats, unscannables, (unsigned long long)(st1.data_requests - st0.data_requests));
    CHECK(threats == n / 4 && unscannables == n / 4, "threats %zu unscannable %zu", threats,
          unscannables);
    /* what a pipeline may not take is refused, not scanned half */
    pal_source big;
    static uint8_t bigbuf[PAL_CPMSG_INLINE_MAX + 1];
    pal_source_from_memory(&big, bigbuf, sizeof(bigbuf));
    const char *bn = "/virtual/big";
    int brc;
    CHECK(pal_cpsup_scan_pipelined(sup, 0, PKG(defs), 1, &big, &bn, NULL, reps, &brc, NULL) ==
              PAL_EINVAL,
          "an object over the inline size was taken");
    for (size_t i = 0; i < n; i++)
        free(o[i].data);

    /* 2. a hostile content process in the middle of a batch */
    printf("a result for the next object first:\n");
    pipe_misbehaviour(sup, defs, "out-of-order", PAL_CPSUP_MISBEHAVED,
                      PAL_CPSUP_EV_KILL_MISBEHAVED);
    printf("a result with the next request's id:\n");
    pipe_misbehaviour(sup, defs, "bad-id", PAL_CPSUP_MISBEHAVED, PAL_CPSUP_EV_KILL_MISBEHAVED);
    printf("stops answering in the middle:\n");
    pipe_misbehaviour(sup, defs, "hang", PAL_CPSUP_TIMEOUT, PAL_CPSUP_EV_KILL_TIMEOUT);
    printf("dies in the middle:\n");
    pipe_misbehaviour(sup, defs, "crash", PAL_CPSUP_CRASHED, PAL_CPSUP_EV_CRASH);

    pal_cpsup_free(sup);
    pal_defs_unref(defs);
    printf("pipeline: ok\n");
    return 0;
}

/* ---- timeout and cancel ----------------------------------------------------------------- */

static int cmd_timeout(void)
{
    pal_limits lim;
    pal_limits_default(&lim);
    lim.max_scan_ms = 1000;
    pal_defs *defs = load_defs(g_pkg, &lim);
    pal_cpsup_config cfg;
    test_config(&cfg, g_cp_bin, 1);
    cfg.timeout_grace_ms = 500;
    pal_cpsup *sup = start_sup(&cfg, defs);
    size_t len;
    uint8_t *obj = trigger("hang", 100, &len);
    pid_t before = cp_pid(sup);
    pal_report rep;
    pal_cpsup_outcome oc = scan_mem(sup, 0, defs, obj, len, "/virtual/hang", &rep);
    printf("hang -> %s, reason %s: %s\n", pal_cpsup_outcome_name(oc),
           pal_unscannable_name(rep.reason), rep.reason_detail ? rep.reason_detail : "-");
    CHECK(oc == PAL_CPSUP_TIMEOUT && rep.verdict == PAL_VERDICT_UNSCANNABLE &&
              rep.reason == PAL_UNSCANNABLE_TIMEOUT,
          "hang not reported as a timeout");
    pal_report_free(&rep);
    scan_clean_after(sup, defs, before);
    CHECK(count_events(PAL_CPSUP_EV_KILL_TIMEOUT, "/virtual/hang") == 1, "no timeout event");
    free(obj);

    /* cancel: raised before the scan, seen by the engine at its next check */
    size_t big = 8U << 20;
    uint8_t *data = calloc(1, big);
    CHECK(data != NULL, "oom");
    volatile int cancel = 1;
    pal_source src;
    pal_source_from_memory(&src, data, big);
    CHECK(pal_cpsup_scan(sup, 0, PKG(defs), &src, "/virtual/cancelled", &cancel, &rep, &oc) == 0,
          "scan");
    printf("cancelled scan -> %s, reason %s after %llu bytes\n", pal_cpsup_outcome_name(oc),
           pal_unscannable_name(rep.reason), (unsigned long long)rep.bytes_read);
    CHECK(rep.reason == PAL_UNSCANNABLE_CANCELLED && rep.verdict == PAL_VERDICT_UNSCANNABLE,
          "cancel not honoured");
    CHECK(rep.bytes_read < big, "cancelled scan read everything");
    pal_report_free(&rep);
    free(data);
    pal_cpsup_free(sup);
    pal_defs_unref(defs);
    printf("timeout: ok\n");
    return 0;
}

/* ---- crash: 1,000 objects --------------------------------------------------------------- */

#define N_OBJ 1000
#define CRASH_AT 300
#define KILL_AT 600

typedef struct cobj {
    char name[64];
    uint8_t *data;
    size_t len;
    pal_verdict expect;
    size_t expect_findings;
    pal_cpsup_outcome got;
    pal_verdict got_verdict;
    size_t got_findings;
} cobj;

typedef struct crash_run {
    pal_cpsup *sup;
    pal_defs *defs;
    cobj *objs;
    pthread_mutex_t lock;
    unsigned next;
    int killed;
} crash_run;

typedef struct kill_src {
    crash_run *run;
    const cobj *o;
} kill_src;

/* Kills the content process from outside while it waits for the bytes after the first
   chunk, once. */
static ssize_t kill_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
    kill_src *ks = ctx;
    if (off >= PAL_CPMSG_INLINE_MAX && !ks->run->killed) {
        ks->run->killed = 1;
        pid_t pid = cp_pid(ks->run->sup);
        printf("  SIGKILL to content process %d while it scans %s\n", (int)pid, ks->o->name);
        kill(pid, SIGKILL);
    }
    if (off >= ks->o->len)
        return 0;
    if (len > ks->o->len - off)
        len = ks->o->len - off;
    memcpy(buf, ks->o->data + off, len);
    return (ssize_t)len;
}

static void *crash_worker(void *arg)
{
    crash_run *run = ((crash_run **)arg)[0];
    unsigned slot = (unsigned)(uintptr_t)((void **)arg)[1];
    for (;;) {
        pthread_mutex_lock(&run->lock);
        unsigned i = run->next++;
        pthread_mutex_unlock(&run->lock);
        if (i >= N_OBJ)
            break;
        cobj *o = &run->objs[i];
        pal_source src;
        kill_src ks = {.run = run, .o = o};
        if (i == KILL_AT) {
            src.size = o->len;
            src.read_at = kill_read_at;
            src.ctx = &ks;
        } else {
            pal_source_from_memory(&src, o->data, o->len);
        }
        pal_report rep;
        int rc = pal_cpsup_scan(run->sup, slot, PKG(run->defs), &src, o->name, NULL, &rep, &o->got);
        CHECK(rc == 0, "scan %s: %s", o->name, pal_strerror(rc));
        o->got_verdict = rep.verdict;
        o->got_findings = rep.n_findings;
        if (i == CRASH_AT)
            printf("  %s -> %s: %s\n", o->name, pal_cpsup_outcome_name(o->got),
                   rep.reason_detail ? rep.reason_detail : "-");
        pal_report_free(&rep);
    }
    return NULL;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

static cobj *make_objects(pal_defs *defs)
{
    cobj *objs = calloc(N_OBJ, sizeof(cobj));
    CHECK(objs != NULL, "oom");
    uint8_t eicar[68];
    make_eicar(eicar);
    inproc ip = {{0}};
    for (unsigned i = 0; i < N_OBJ; i++) {
        cobj *o = &objs[i];
        snprintf(o->name, sizeof(o->name), "/virtual/file-%04u", i);
        if (i == CRASH_AT) {
            o->data = trigger("crash", 64, &o->len);
        } else if (i == KILL_AT || i % 7 == 0) {
            o->len = i == KILL_AT ? 3U << 20 : 100U << 10;
            o->data = malloc(o->len);
            CHECK(o->data != NULL, "oom");
            fill_random(o->data, o->len, i);
        } else if (i % 50 == 0) {
            o->len = 68;
            o->data = malloc(68);
            CHECK(o->data != NULL, "oom");
            memcpy(o->data, eicar, 68);
        } else {
            char text[64];
            o->len = (size_t)snprintf(text, sizeof(text), "ordinary file number %u\n", i);
            o->data = malloc(o->len);
            CHECK(o->data != NULL, "oom");
            memcpy(o->data, text, o->len);
        }
        pal_source src;
        pal_report rep;
        pal_source_from_memory(&src, o->data, o->len);
        scan_inproc(&ip, 0, defs, &src, o->name, &rep);
        o->expect = rep.verdict;
        o->expect_findings = rep.n_findings;
        pal_report_free(&rep);
    }
    inproc_free(&ip);
    return objs;
}

static int cmd_crash(void)
{
    pal_defs *defs = load_defs(g_pkg, NULL);
    cobj *objs = make_objects(defs);
    pal_cpsup_config cfg;
    test_config(&cfg, g_cp_bin, 2);
    pal_cpsup *sup = start_sup(&cfg, defs);
    pid_t first = cp_pid(sup);
    crash_run run = {.sup = sup, .defs = defs, .objs = objs, .next = 0};
    pthread_mutex_init(&run.lock, NULL);
    crash_run *rp = &run;
    void *args[2][2] = {{rp, (void *)(uintptr_t)0}, {rp, (void *)(uintptr_t)1}};
    pthread_t th[2];
    double t0 = now_s();
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&th[i], NULL, crash_worker, args[i]) == 0, "thread");
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    double dt = now_s() - t0;

    unsigned threats = 0;
    for (unsigned i = 0; i < N_OBJ; i++) {
        cobj *o = &objs[i];
        if (i == CRASH_AT) {
            CHECK(o->got == PAL_CPSUP_CRASHED && o->got_verdict == PAL_VERDICT_UNSCANNABLE,
                  "%s: %s", o->name, pal_cpsup_outcome_name(o->got));
            continue;
        }
        CHECK(o->got == PAL_CPSUP_SCANNED, "%s: outcome %s", o->name,
              pal_cpsup_outcome_name(o->got));
        CHECK(o->got_verdict == o->expect && o->got_findings == o->expect_findings,
              "%s: verdict %d/%d findings %zu/%zu", o->name, o->got_verdict, o->expect,
              o->got_findings, o->expect_findings);
        threats += o->got_verdict == PAL_VERDICT_THREAT;
    }
    unsigned want_threats = 0;
    for (unsigned i = 0; i < N_OBJ; i++)
        want_threats += i != CRASH_AT && objs[i].expect == PAL_VERDICT_THREAT;
    CHECK(threats == want_threats && threats >= 10, "%u threats, %u in-process", threats,
          want_threats);
    /* the killer twice (the second time alone: it is named alone), SIGKILL once */
    size_t crash_ev = count_events(PAL_CPSUP_EV_CRASH, objs[CRASH_AT].name) +
                      count_events(PAL_CPSUP_EV_EXIT, objs[CRASH_AT].name);
    CHECK(crash_ev == 2, "%zu death events name %s", crash_ev, objs[CRASH_AT].name);
    int saw_kill = 0;
    pthread_mutex_lock(&g_ev_lock);
    for (size_t i = 0; i < g_n_evs; i++)
        if (g_evs[i].kind == PAL_CPSUP_EV_CRASH && g_evs[i].sig == SIGKILL && g_evs[i].object &&
            strstr(g_evs[i].object, objs[KILL_AT].name))
            saw_kill = 1;
    pthread_mutex_unlock(&g_ev_lock);
    CHECK(saw_kill, "no crash event with SIGKILL naming %s", objs[KILL_AT].name);
    pal_cpsup_status st;
    pal_cpsup_get_status(sup, &st);
    CHECK(st.state == PAL_CPSUP_RUNNING && st.pid > 0 && st.pid != first, "not running anew");
    CHECK(st.restarts == 3 && st.starts == 4, "restarts %llu starts %llu",
          (unsigned long long)st.restarts, (unsigned long long)st.starts);
    printf("crash: %u objects in %.2f s, %u threats, 1 unscannable (crashed the content "
           "process), restarts %llu, content process %d -> %d\n",
           N_OBJ, dt, threats, (unsigned long long)st.restarts, (int)first, (int)st.pid);
    pal_cpsup_free(sup);
    for (unsigned i = 0; i < N_OBJ; i++)
        free(objs[i].data);
    free(objs);
    pal_defs_unref(defs);
    printf("crash: ok\n");
    return 0;
}

/* ---- degraded -------------------------------------------------------------------------- */

static int cmd_degraded(void)
{
    pal_defs *defs = load_defs(g_pkg, NULL);
    pal_cpsup_config cfg;
    test_config(&cfg, g_cp_bin, 1);
    cfg.degraded_after = 3;
    pal_cpsup *sup = start_sup(&cfg, defs);
    size_t len;
    uint8_t *obj = trigger("crash", 64, &len);
    pal_report rep;
    for (int i = 0; i < 2; i++) {
        CHECK(scan_mem(sup, 0, defs, obj, len, "/virtual/killer", &rep) == PAL_CPSUP_CRASHED,
              "killer not reported");
        pal_report_free(&rep);
    }
    pal_cpsup_status st;
    pal_cpsup_get_status(sup, &st);
    printf("after 4 crashes: degraded %d (%s), consecutive failures %u\n", st.degraded,
           st.degraded_reason, st.consecutive_failures);
    CHECK(st.degraded && st.degraded_reason[0] && st.consecutive_failures == 4, "not degraded");
    CHECK(count_events(PAL_CPSUP_EV_DEGRADED, NULL) == 1, "no degraded event");
    static const char clean[] = "fine\n";
    CHECK(scan_mem(sup, 0, defs, clean, 5, "/virtual/fine", &rep) == PAL_CPSUP_SCANNED,
          "scan after the loop");
    pal_report_free(&rep);
    pal_cpsup_get_status(sup, &st);
    CHECK(!st.degraded && st.consecutive_failures == 0, "still degraded");
    printf("after a good scan: degraded %d\n", st.degraded);
    free(obj);
    pal_cpsup_free(sup);
    pal_defs_unref(defs);
    printf("degraded: ok\n");
    return 0;
}

/* ---- start failures -------------------------------------------------------------------- */

static void expect_start_failure(const char *bin, unsigned fail_step, pal_defs *defs,
                                 const char *want)
{
    pal_cpsup_config cfg;
    test_config(&cfg, bin, 2);
    cfg.fail_step = fail_step;
    cfg.backoff_base_ms = 1000; /* no second attempt during the check */
    cfg.backoff_max_ms = 1000;
    pal_cpsup *sup = NULL;
    pal_errbuf err = {{0}};
    CHECK(pal_cpsup_new(&cfg, &sup, &err) == 0, "new: %s", err.msg);
    size_t fails = count_events(PAL_CPSUP_EV_START_FAILED, NULL);
    int rc = pal_cpsup_start(sup, PKG(defs), &err);
    printf("  %s -> %s\n", fail_step ? pal_cpmsg_step_name(fail_step) : bin, err.msg);
    CHECK(rc != 0 && strstr(err.msg, want) != NULL, "start error '%s' lacks '%s'", err.msg, want);
    CHECK(count_events(PAL_CPSUP_EV_START_FAILED, NULL) == fails + 1, "no start-failed event");
    pal_cpsup_status st;
    pal_cpsup_get_status(sup, &st);
    CHECK(st.pid == 0 && st.state != PAL_CPSUP_RUNNING, "running after a failed start");
    pal_cpsup_free(sup);
}

static int cmd_startfail(void)
{
    pal_defs *defs = load_defs(g_pkg, NULL);
    printf("a sandbox step that fails is named:\n");
    for (unsigned step = PAL_CPMSG_STEP_PREWARM; step < PAL_CPMSG_STEP_COUNT; step++) {
        char want[128];
        snprintf(want, sizeof(want), "status %d: sandbox step %s failed",
                 PAL_CPMSG_EXIT_STEP_BASE + (int)step, pal_cpmsg_step_name(step));
        expect_start_failure(g_cp_bin, step, defs, want);
        ev_rec *ev = last_event(PAL_CPSUP_EV_START_FAILED);
        CHECK(ev != NULL, "no start-failed event");
        CHECK(ev->exit_code == PAL_CPMSG_EXIT_STEP_BASE + (int)step, "exit code %d", ev->exit_code);
        CHECK(strstr(ev->tail, "failed on request") != NULL, "stderr tail lacks the reason");
    }
    printf("the installed binary has no self-test knobs:\n");
    expect_start_failure(g_cp_prod, PAL_CPMSG_STEP_SECCOMP, defs, "configuration");

    printf("insecure binaries are refused:\n");
    char dir[1200], bin[1300];
    snprintf(dir, sizeof(dir), "%s/insecure", g_work);
    snprintf(bin, sizeof(bin), "%s/palisade-cp", dir);
    CHECK(run_cmd("rm -rf '%s' && mkdir -p '%s' && cp '%s' '%s' && chmod 0755 '%s' '%s'", dir, dir,
                  g_cp_bin, bin, dir, bin) == 0,
          "copy");
    pal_errbuf err;
    CHECK(pal_cpsup_check_binary(bin, &err) == 0, "a proper copy is refused: %s", err.msg);
    CHECK(chmod(bin, 0757) == 0, "chmod");
    expect_start_failure(bin, 0, defs, "refusing");
    CHECK(chmod(bin, 0775) == 0, "chmod");
    expect_start_failure(bin, 0, defs, "refusing");
    CHECK(chmod(bin, 0755) == 0 && chmod(dir, 0777) == 0, "chmod");
    expect_start_failure(bin, 0, defs, "refusing");
    CHECK(chmod(dir, 0755) == 0, "chmod");
    if (geteuid() == 0) {
        CHECK(chown(bin, 65534, 65534) == 0, "chown");
        expect_start_failure(bin, 0, defs, "refusing");
        CHECK(chown(bin, 0, 0) == 0 && chown(dir, 65534, 65534) == 0, "chown");
        expect_start_failure(bin, 0, defs, "refusing");
        CHECK(chown(dir, 0, 0) == 0, "chown");
    }
    char link[1300];
    snprintf(link, sizeof(link), "%s/link", dir);
    CHECK(symlink(bin, link) == 0, "symlink");
    expect_start_failure(link, 0, defs, "symlink");
    pal_defs_unref(defs);
    printf("startfail: ok\n");
    return 0;
}

/* ---- live switching -------------------------------------------------------------------- */

static int cmd_switch(void)
{
    pal_defs *a = load_defs(g_pkg, NULL);
    pal_cpsup_config cfg;
    test_config(&cfg, g_cp_bin, 2);
    pal_cpsup *sup = start_sup(&cfg, a);
    uint8_t eicar[68];
    make_eicar(eicar);
    pal_report rep;
    CHECK(scan_mem(sup, 0, a, eicar, 68, "/virtual/e1", &rep) == PAL_CPSUP_SCANNED &&
              rep.verdict == PAL_VERDICT_THREAT,
          "scan 1");
    pal_report_free(&rep);
    pid_t p1 = cp_pid(sup);

    pal_cpsup_stop(sup);
    pal_cpsup_status st;
    pal_cpsup_get_status(sup, &st);
    CHECK(st.state == PAL_CPSUP_STOPPED && st.pid == 0, "not stopped");
    pal_source src;
    pal_source_from_memory(&src, eicar, 68);
    CHECK(pal_cpsup_scan(sup, 0, PKG(a), &src, "/virtual/e2", NULL, &rep, NULL) == PAL_ESTATE,
          "scan while stopped");
    CHECK(kill(p1, 0) != 0, "old content process still alive");
    printf("sandbox off: state %s, scans refused with PAL_ESTATE, process %d gone\n",
           pal_cpsup_state_name(st.state), (int)p1);

    pal_errbuf err;
    CHECK(pal_cpsup_start(sup, PKG(a), &err) == 0, "restart: %s", err.msg);
    pid_t p2 = cp_pid(sup);
    CHECK(p2 > 0 && p2 != p1, "no new process");
    CHECK(scan_mem(sup, 1, a, eicar, 68, "/virtual/e3", &rep) == PAL_CPSUP_SCANNED, "scan 3");
    pal_report_free(&rep);
    printf("sandbox on again: process %d\n", (int)p2);

    /* new limits: the instance is replaced, and uses them */
    pal_limits lim;
    pal_limits_default(&lim);
    lim.max_object_size = 1000;
    pal_defs *b = NULL;
    CHECK(pal_defs_with_limits(a, &lim, &b, &err) == 0, "with limits: %s", err.msg);
    uint8_t big[2000];
    memset(big, 'a', sizeof(big));
    CHECK(scan_mem(sup, 0, b, big, sizeof(big), "/virtual/big", &rep) == PAL_CPSUP_SCANNED,
          "scan with new defs");
    CHECK(rep.reason == PAL_UNSCANNABLE_TOO_LARGE, "new limits not in force (%s)",
          pal_unscannable_name(rep.reason));
    pal_report_free(&rep);
    pid_t p3 = cp_pid(sup);
    CHECK(p3 != p2, "instance not replaced for new definitions");
    /* a scan still holding the old definitions runs on the new instance */
    CHECK(scan_mem(sup, 1, a, eicar, 68, "/virtual/e4", &rep) == PAL_CPSUP_SCANNED &&
              rep.verdict == PAL_VERDICT_THREAT,
          "scan with retired defs");
    pal_report_free(&rep);
    CHECK(cp_pid(sup) == p3, "flip-flop between definitions");
    CHECK(count_events(PAL_CPSUP_EV_STOP, NULL) == 2, "stop events");
    printf("new definitions: process %d replaced by %d; old definitions still served\n", (int)p2,
           (int)p3);
    pal_cpsup_get_status(sup, &st);
    CHECK(st.restarts == 0 && st.crashes == 0, "unplanned restarts");
    pal_cpsup_free(sup);
    pal_defs_unref(b);
    pal_defs_unref(a);
    printf("switch: ok\n");
    return 0;
}

/* ---- the package the supervisor is handed ------------------------------------------------ */

static int cmd_package(void)
{
    /* a forced reinstall of the same version: the same bytes in another file */
    char copy[1200];
    snprintf(copy, sizeof(copy), "%s/package-copy.sig", g_work);
    CHECK(run_cmd("cp '%s' '%s'", g_pkg, copy) == 0, "copy %s", g_pkg);
    pal_defs *a = load_defs(g_pkg, NULL);
    pal_defs *c = load_defs(copy, NULL);
    CHECK(pal_defs_info(a)->version == pal_defs_info(c)->version, "copy has another version");
    pal_cpsup_config cfg;
    test_config(&cfg, g_cp_bin, 2);
    pal_cpsup *sup = start_sup(&cfg, a);
    uint8_t eicar[68];
    make_eicar(eicar);
    pal_report rep;
    pid_t p1 = cp_pid(sup);

    /* not a package: refused, and the instance goes on */
    pal_source src;
    pal_source_from_memory(&src, eicar, 68);
    const pal_limits *lim = pal_engine_limits(pal_defs_engine(a));
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(devnull >= 0, "/dev/null");
    CHECK(pal_cpsup_scan(sup, 0, devnull, lim, &src, "/virtual/n", NULL, &rep, NULL) == PAL_EINVAL,
          "/dev/null taken for a package");
    close(devnull);
    CHECK(pal_cpsup_scan(sup, 0, -1, lim, &src, "/virtual/n", NULL, &rep, NULL) == PAL_EINVAL,
          "descriptor -1 taken for a package");
    pal_errbuf err = {{0}};
    CHECK(pal_cpsup_set_package(sup, -1, lim, &err) == PAL_EINVAL, "set_package(-1)");
    CHECK(scan_mem(sup, 0, a, eicar, 68, "/virtual/e1", &rep) == PAL_CPSUP_SCANNED &&
              rep.verdict == PAL_VERDICT_THREAT,
          "scan after refusals");
    pal_report_free(&rep);
    CHECK(cp_pid(sup) == p1, "a refused descriptor replaced the instance");
    printf("not a package (/dev/null, -1): PAL_EINVAL, process %d still serving\n", (int)p1);

    /* the same version in another file is another package: the instance is replaced */
    CHECK(scan_mem(sup, 1, c, eicar, 68, "/virtual/e2", &rep) == PAL_CPSUP_SCANNED &&
              rep.verdict == PAL_VERDICT_THREAT,
          "scan with the copy");
    pal_report_free(&rep);
    pid_t p2 = cp_pid(sup);
    CHECK(p2 > 0 && p2 != p1, "instance not replaced for another package file");
    CHECK(count_events(PAL_CPSUP_EV_STOP, NULL) == 1, "stop events");
    printf("same version in another file: process %d replaced by %d\n", (int)p1, (int)p2);

    /* the caller lets go of the copy (descriptor closed) and its name goes: a new instance
       still gets the package, from the supervisor's own descriptor */
    pal_defs_unref(c);
    c = NULL;
    CHECK(unlink(copy) == 0, "unlink %s", copy);
    CHECK(kill(p2, SIGKILL) == 0, "kill %d", (int)p2);
    /* a scan with the retired package runs on the instance of the one in force */
    CHECK(scan_mem(sup, 0, a, eicar, 68, "/virtual/e3", &rep) == PAL_CPSUP_SCANNED &&
              rep.verdict == PAL_VERDICT_THREAT,
          "scan after the caller closed the package");
    pal_report_free(&rep);
    pid_t p3 = cp_pid(sup);
    CHECK(p3 > 0 && p3 != p2, "no new instance after the kill");
    CHECK(count_events(PAL_CPSUP_EV_STOP, NULL) == 1, "the retired package was put back");
    /* it keeps only the mapping of the package (its descriptor 3 is closed after READY) */
    if (geteuid() == 0) {
        char maps[64], line[1400];
        snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)p3);
        FILE *f = fopen(maps, "re");
        CHECK(f != NULL, "%s: %s", maps, strerror(errno));
        int mapped = 0;
        while (fgets(line, sizeof(line), f) != NULL)
            if (strstr(line, "/package-copy.sig (deleted)") != NULL)
                mapped = 1;
        fclose(f);
        CHECK(mapped, "new instance does not map the deleted copy");
    } else {
        printf("  (not root: /proc/%d/maps needs ptrace access; not checked)\n", (int)p3);
    }
    printf("caller's descriptor closed, file unlinked: process %d restarted as %d, mapping "
           "the deleted copy\n",
           (int)p2, (int)p3);
    pal_cpsup_free(sup);
    pal_defs_unref(a);
    printf("package: ok\n");
    return 0;
}

/* ---- PSS of the shared package ---------------------------------------------------------- */

typedef struct map_use {
    unsigned long size_kb, rss_kb, pss_kb;
} map_use;

static int mapping_use(pid_t pid, unsigned long ino, map_use *out)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char line[1024];
    int in_map = 0, found = 0;
    memset(out, 0, sizeof(*out));
    while (fgets(line, sizeof(line), f)) {
        int header = (line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f');
        if (header && strchr(line, '-') && strchr(line, '-') < strchr(line, ' ')) {
            /* start-end perms offset dev inode path */
            const char *q = line;
            for (int fld = 0; fld < 4 && q; fld++)
                q = strchr(q, ' ') ? strchr(q, ' ') + 1 : NULL;
            in_map = q != NULL && strtoul(q, NULL, 10) == ino;
            found |= in_map;
            continue;
        }
        if (!in_map)
            continue;
        if (starts(line, "Size:"))
            out->size_kb += strtoul(line + 5, NULL, 10);
        else if (starts(line, "Rss:"))
            out->rss_kb += strtoul(line + 4, NULL, 10);
        else if (starts(line, "Pss:"))
            out->pss_kb += strtoul(line + 4, NULL, 10);
    }
    fclose(f);
    return found ? 0 : -1;
}

/* A total of /proc/PID/smaps_rollup ("Anonymous:", "Pss:", ...) in kB; 0 if unreadable. */
static unsigned long rollup_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    unsigned long v = 0;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, key, klen) == 0)
            v = strtoul(line + klen, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static int cmd_pss(void)
{
    if (geteuid() != 0) {
        printf("pss: needs root (the content process is not dumpable)\n");
        return SKIP;
    }
    char pkg[1200];
    snprintf(pkg, sizeof(pkg), "%s/pss-500k.sig", g_work);
    double t0 = now_s();
    build_test_package("pss", pkg, 500000);
    double t1 = now_s();
    pal_defs *defs = load_defs(pkg, NULL);
    const pal_sigpkg_info *info = pal_defs_info(defs);
    struct stat st;
    CHECK(stat(pkg, &st) == 0, "stat");
    printf("package: %u hashes, %llu bytes (built in %.1f s)\n", info->hash_count,
           (unsigned long long)info->file_size, t1 - t0);
    pal_cpsup_config cfg;
    test_config(&cfg, g_cp_bin, 2);
    pal_cpsup *sup = start_sup(&cfg, defs);
    unsigned long file_kb = (unsigned long)(st.st_size / 1024);
    /* loaded, checked and then let go: before any lookup, neither process keeps the package
       resident (the page cache keeps it for both) */
    map_use b0, c0;
    CHECK(mapping_use(getpid(), (unsigned long)st.st_ino, &b0) == 0, "broker mapping not found");
    CHECK(mapping_use(cp_pid(sup), (unsigned long)st.st_ino, &c0) == 0,
          "content process mapping not found");
    printf("after loading: broker Rss %lu kB, content process Rss %lu kB, package %lu kB\n",
           b0.rss_kb, c0.rss_kb, file_kb);
    CHECK(b0.rss_kb < file_kb / 4 && c0.rss_kb < file_kb / 4,
          "the package stays resident after loading (Rss %lu / %lu kB of %lu)", b0.rss_kb,
          c0.rss_kb, file_kb);
    uint8_t eicar[68];
    make_eicar(eicar);
    pal_report rep;
    CHECK(scan_mem(sup, 0, defs, eicar, 68, "/virtual/eicar", &rep) == PAL_CPSUP_SCANNED &&
              rep.verdict == PAL_VERDICT_THREAT,
          "EICAR through the big package");
    pal_report_free(&rep);
    pid_t pid = cp_pid(sup);
    map_use b, c;
    CHECK(mapping_use(getpid(), (unsigned long)st.st_ino, &b) == 0, "broker mapping not found");
    CHECK(mapping_use(pid, (unsigned long)st.st_ino, &c) == 0, "content process mapping not found");
    printf("package mapping   Size kB   Rss kB   Pss kB   Pss/Rss\n");
    printf("  broker        %8lu %8lu %8lu     %.2f\n", b.size_kb, b.rss_kb, b.pss_kb,
           b.rss_kb ? (double)b.pss_kb / (double)b.rss_kb : 0.0);
    printf("  content proc. %8lu %8lu %8lu     %.2f\n", c.size_kb, c.rss_kb, c.pss_kb,
           c.rss_kb ? (double)c.pss_kb / (double)c.rss_kb : 0.0);
    /* and nothing of it was copied: the content process's private memory is the rules, its
       buffers and libraries, far below the package */
    unsigned long anon_kb = rollup_kb(pid, "Anonymous:");
    printf("  content process Anonymous %lu kB, package %lu kB\n", anon_kb, file_kb);
    CHECK(anon_kb < file_kb / 2, "the content process holds %lu kB of anonymous memory", anon_kb);
    pal_cpsup_free(sup);
    pal_defs_unref(defs);
    unlink(pkg);
    printf("pss: ok\n");
    return 0;
}

/* ---- bench ----------------------------------------------------------------------------- */

static double bench_scan(pal_cpsup *sup, pal_defs *defs, inproc *ip, const uint8_t *data,
                         size_t len, unsigned times, uint64_t *data_requests)
{
    pal_cpsup_status a, b;
    if (sup)
        pal_cpsup_get_status(sup, &a);
    double t0 = now_s();
    for (unsigned i = 0; i < times; i++) {
        pal_report rep;
        pal_source src;
        pal_source_from_memory(&src, data, len);
        if (sup) {
            pal_cpsup_outcome oc;
            CHECK(pal_cpsup_scan(sup, 0, PKG(defs), &src, "/bench/object", NULL, &rep, &oc) == 0 &&
                      oc == PAL_CPSUP_SCANNED,
                  "bench scan");
        } else {
            CHECK(ip != NULL, "no in-process scanner");
            scan_inproc(ip, 0, defs, &src, "/bench/object", &rep);
        }
        CHECK(rep.reason == PAL_UNSCANNABLE_NONE, "bench object not fully scanned");
        pal_report_free(&rep);
    }
    double dt = now_s() - t0;
    if (sup) {
        pal_cpsup_get_status(sup, &b);
        *data_requests = b.data_requests - a.data_requests;
    }
    return dt;
}

static int cmd_bench(void)
{
    pal_defs *defs = load_defs(g_pkg, NULL);
    pal_cpsup_config cfg;
    test_config(&cfg, g_cp_bin, 1);
    pal_cpsup *shm = start_sup(&cfg, defs);
    cfg.bulk_shm = 0;
    pal_cpsup *sock = start_sup(&cfg, defs);
    inproc ip = {{0}};
    static const struct {
        size_t len;
        unsigned times;
    } k_sizes[] = {{1024, 2000}, {64 << 10, 500}, {1 << 20, 100}, {64 << 20, 3}};
    printf("%10s %7s %14s %14s %14s %14s\n", "object", "count", "in-process", "sandbox shm",
           "sandbox inline", "round trips");
    for (size_t i = 0; i < sizeof(k_sizes) / sizeof(k_sizes[0]); i++) {
        size_t len = k_sizes[i].len;
        unsigned times = k_sizes[i].times;
        uint8_t *data = malloc(len);
        CHECK(data != NULL, "oom");
        fill_random(data, len, i + 7);
        uint64_t r1 = 0, r2 = 0;
        double tin = bench_scan(NULL, defs, &ip, data, len, times, NULL);
        double tshm = bench_scan(shm, defs, NULL, data, len, times, &r1);
        double tsock = bench_scan(sock, defs, NULL, data, len, times, &r2);
        /* the first chunk travels with the request (the bulk area's worth through it, else
           an inline chunk); the rest in requests of at most 1 MiB */
        uint64_t rest1 = len > PAL_CPMSG_REQ_MAX ? len - PAL_CPMSG_REQ_MAX : 0;
        uint64_t rest2 = len > PAL_CPMSG_INLINE_MAX ? len - PAL_CPMSG_INLINE_MAX : 0;
        uint64_t want1 = (rest1 + PAL_CPMSG_REQ_MAX - 1) / PAL_CPMSG_REQ_MAX;
        uint64_t want = (rest2 + PAL_CPMSG_REQ_MAX - 1) / PAL_CPMSG_REQ_MAX;
        CHECK(r1 == want1 * times && r2 == want * times,
              "%zu bytes: %llu/%llu data requests, "
              "expected %llu/%llu per object",
              len, (unsigned long long)r1, (unsigned long long)r2, (unsigned long long)want1,
              (unsigned long long)want);
        char label[32];
        if (len >= (1 << 20))
            snprintf(label, sizeof(label), "%zu MiB", len >> 20);
        else
            snprintf(label, sizeof(label), "%zu KiB", len >> 10);
        char trips[32];
        snprintf(trips, sizeof(trips), "%llu / %llu", (unsigned long long)(1 + want1),
                 (unsigned long long)(1 + want));
        if (len < (1 << 20))
            printf("%10s %7u %11.1f us %11.1f us %11.1f us %14s\n", label, times, tin / times * 1e6,
                   tshm / times * 1e6, tsock / times * 1e6, trips);
        else
            printf("%10s %7u %9.0f MB/s %9.0f MB/s %9.0f MB/s %14s\n", label, times,
                   (double)len * times / tin / 1e6, (double)len * times / tshm / 1e6,
                   (double)len * times / tsock / 1e6, trips);
        free(data);
    }
    inproc_free(&ip);
    pal_cpsup_free(shm);
    pal_cpsup_free(sock);
    pal_defs_unref(defs);
    printf("bench: ok (figures are informative; only round-trip counts are checked)\n");
    return 0;
}

/* ---- the content process dies with the broker ------------------------------------------ */

static int cmd_pdeathsig(void)
{
    /* orphans come to us, so that we can see how the content process ended */
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "subreaper");
    int pfd[2];
    CHECK(pipe(pfd) == 0, "pipe");
    pid_t broker = fork();
    CHECK(broker >= 0, "fork");
    if (broker == 0) {
        /* a broker that dies without a word: no free, no stop */
        close(pfd[0]);
        g_quiet_events = 1;
        pal_defs *defs = load_defs(g_pkg, NULL);
        pal_cpsup_config cfg;
        test_config(&cfg, g_cp_bin, 2);
        pal_cpsup *sup = start_sup(&cfg, defs);
        /* A copy of the broker's descriptors outlives it, so that the content process sees
           no end of file on its channels: only the parent-death signal can end it. */
        pid_t holder = fork();
        if (holder == 0) {
            for (;;)
                pause();
        }
        pid_t pids[2] = {cp_pid(sup), holder};
        ssize_t w = write(pfd[1], pids, sizeof(pids));
        _exit(w == (ssize_t)sizeof(pids) && holder > 0 ? 0 : 1);
    }
    close(pfd[1]);
    pid_t pids[2] = {0, 0};
    CHECK(read(pfd[0], pids, sizeof(pids)) == (ssize_t)sizeof(pids) && pids[0] > 0 && pids[1] > 0,
          "no pids from the broker");
    close(pfd[0]);
    pid_t cp = pids[0];
    int status;
    CHECK(waitpid(broker, &status, 0) == broker && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "broker status %d", status);
    /* the content process was the broker's; now it is ours to reap */
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    CHECK(waitid(P_PID, (id_t)cp, &si, WEXITED | __WALL) == 0, "waitid %d: %s", (int)cp,
          strerror(errno));
    printf("broker %d died; its content process %d ended: %s %d\n", (int)broker, (int)cp,
           si.si_code == CLD_KILLED ? "killed by signal" : "exit code", si.si_status);
    CHECK(si.si_code == CLD_KILLED && si.si_status == SIGKILL,
          "the content process did not get its parent-death signal");
    kill(pids[1], SIGKILL);
    CHECK(waitpid(pids[1], &status, 0) == pids[1], "holder");
    printf("pdeathsig: ok\n");
    return 0;
}

/* ---- not root --------------------------------------------------------------------------- */

static int nonroot_inner(void)
{
    pal_defs *defs = load_defs(g_pkg, NULL);
    pal_cpsup_config cfg;
    test_config(&cfg, g_cp_bin, 2);
    pal_cpsup *sup = start_sup(&cfg, defs);
    pal_cpsup_status st;
    pal_cpsup_get_status(sup, &st);
    char steps[512];
    pal_cpsup_steps_string(st.sandbox_steps, steps, sizeof(steps));
    printf("as uid %u: content process %d uid %u, steps: %s\n", (unsigned)getuid(), (int)st.pid,
           (unsigned)st.uid, steps);
    CHECK(st.sandbox_steps & (1U << PAL_CPMSG_STEP_NS_USER), "no user namespace");
    CHECK(st.sandbox_steps & (1U << PAL_CPMSG_STEP_ROOT), "no empty root");
    CHECK(st.sandbox_steps & (1U << PAL_CPMSG_STEP_SECCOMP), "no seccomp");
    CHECK(st.uid == getuid(), "uid %u as seen from outside", (unsigned)st.uid);
    check_status_file(st.pid, 1);
    uint8_t eicar[68];
    make_eicar(eicar);
    pal_report rep;
    CHECK(scan_mem(sup, 0, defs, eicar, 68, "/virtual/eicar", &rep) == PAL_CPSUP_SCANNED &&
              rep.verdict == PAL_VERDICT_THREAT,
          "EICAR as non-root");
    pal_report_free(&rep);
    pal_cpsup_attack_result res;
    pal_errbuf err;
    CHECK(pal_cpsup_attack(sup, 1, PAL_CPMSG_ATTACK_OPEN_PASSWD, NULL, 0, &res, &err) == 0 &&
              res.outcome == PAL_CPSUP_ATTACK_BLOCKED,
          "open /etc/passwd");
    CHECK(pal_cpsup_attack(sup, 1, PAL_CPMSG_ATTACK_SOCKET_INET, NULL, 0, &res, &err) == 0 &&
              res.outcome == PAL_CPSUP_ATTACK_KILLED,
          "socket");
    CHECK(scan_mem(sup, 1, defs, eicar, 68, "/virtual/eicar2", &rep) == PAL_CPSUP_SCANNED,
          "after the attack");
    pal_report_free(&rep);
    pal_cpsup_free(sup);
    pal_defs_unref(defs);
    printf("nonroot: ok\n");
    return 0;
}

static int cmd_nonroot(void)
{
    if (geteuid() != 0)
        return nonroot_inner();
    /* a copy of the binary the unprivileged broker may run: its own, in its own directory */
    char dir[1200], bin[1300], self[1024];
    snprintf(dir, sizeof(dir), "%s/nonroot", g_work);
    snprintf(bin, sizeof(bin), "%s/palisade-cp-selftest", dir);
    CHECK(run_cmd("rm -rf '%s' && mkdir -p '%s' && cp '%s' '%s' && chown -R 65534:65534 '%s' && "
                  "chmod 0755 '%s' '%s'",
                  dir, dir, g_cp_bin, bin, dir, dir, bin) == 0,
          "preparing %s", dir);
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    CHECK(n > 0, "readlink");
    self[n] = '\0';
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
            setresuid(65534, 65534, 65534) != 0)
            _exit(99);
        setenv("PAL_CP_WORK", dir, 1);
        setenv("PAL_CP_BINARY", bin, 1);
        execl(self, self, "nonroot", (char *)NULL);
        _exit(98);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "as nobody: status %d", status);
    return 0;
}

/* ---- main ------------------------------------------------------------------------------ */

typedef struct command {
    const char *name;
    int (*fn)(void);
} command;

static int cmd_list(void);

static const command k_commands[] = {
    {"basic", cmd_basic},       {"corpus", cmd_corpus},       {"procstatus", cmd_procstatus},
    {"attacks", cmd_attacks},   {"misbehave", cmd_misbehave}, {"timeout", cmd_timeout},
    {"crash", cmd_crash},       {"degraded", cmd_degraded},   {"startfail", cmd_startfail},
    {"switch", cmd_switch},     {"package", cmd_package},     {"pss", cmd_pss},
    {"bench", cmd_bench},       {"nonroot", cmd_nonroot},     {"pdeathsig", cmd_pdeathsig},
    {"pipeline", cmd_pipeline}, {"list", cmd_list},
};

static int cmd_list(void)
{
    for (size_t i = 0; i < sizeof(k_commands) / sizeof(k_commands[0]); i++)
        printf("%s\n", k_commands[i].name);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        die("usage: cp_harness COMMAND (cp_harness list)");
    const char *w = getenv("PAL_CP_WORK");
    snprintf(g_work, sizeof(g_work), "%s", w ? w : PAL_TEST_WORK_DIR);
    if (getenv("PAL_CP_BINARY"))
        g_cp_bin = getenv("PAL_CP_BINARY");
    CHECK(run_cmd("mkdir -p '%s'", g_work) == 0, "mkdir %s", g_work);
    for (size_t i = 0; i < sizeof(k_commands) / sizeof(k_commands[0]); i++)
        if (strcmp(argv[1], k_commands[i].name) == 0)
            return k_commands[i].fn();
    die("unknown command %s", argv[1]);
}
