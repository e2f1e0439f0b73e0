/*
 * test_engine.c — the scan engine (agent/engine/engine.h).
 *
 * Packages are built here with pal_sigbuild (a fresh key pair, verified on open), so that
 * the tests control exactly which hashes and rules exist; the build-time starter package
 * is used for its own samples. The container corpus is generated at test time by
 * tests/engine/mkcorpus.sh into the build tree, with a manifest of what the engine must
 * report for each file. The EICAR string is assembled from pieces at run time.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "engine.h"
#include "expand.h"
#include "memsource.h"
#include "sigbuild.h"
#include "sigpkg.h"
#include "../test_support.h"

#define EICAR_THREAT "Virus:DOS/EICAR_Test_File"
#define PAD_THREAT "Trojan:Test/Padding"
#define EICAR_LEN 68

/* ---- fixtures ---------------------------------------------------------------------------- */

enum { PKG_MAIN, PKG_HASH, PKG_RULE, PKG_MULTI, PKG_COUNT };

typedef struct profile {
    const char *name;
    pal_limits lim;
    pal_engine *eng;
} profile;

static struct {
    char src_dir[1024];
    char bin_dir[1024];
    char work[1100];   /* build/tests/engine */
    char corpus[1200]; /* build/tests/engine/corpus */
    uint8_t eicar[EICAR_LEN];
    uint8_t eicar_sha[32];
    pal_keyring *keys;
    pal_sigpkg *pkg[PKG_COUNT];
    profile profiles[7];
    size_t n_profiles;
} T;

static void make_eicar(uint8_t out[EICAR_LEN])
{
    /* In pieces, so that neither this source nor its object file holds the string. */
    static const char *const parts[] = {"X5O!P%@AP[4\\PZX54(P^)7CC)7}$", "EICAR-STANDARD-",
                                        "ANTIVIRUS-TEST-", "FILE!$H+H*"};
    size_t off = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        size_t l = strlen(parts[i]);
        memcpy(out + off, parts[i], l);
        off += l;
    }
    assert_int_equal(off, EICAR_LEN);
}

static void sha256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL), 1);
}

static void hexify(const uint8_t *data, size_t len, char *out)
{
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        out[3 * i] = hx[data[i] >> 4];
        out[3 * i + 1] = hx[data[i] & 15];
        out[3 * i + 2] = ' ';
    }
    out[3 * len] = '\0';
}

static time_t mtime_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_mtime : 0;
}

/* Generate the corpus unless it is newer than the script that makes it. */
static void ensure_corpus(void)
{
    char script[1200], manifest[1300];
    snprintf(script, sizeof(script), "%s/tests/engine/mkcorpus.sh", T.src_dir);
    snprintf(manifest, sizeof(manifest), "%s/manifest.tsv", T.corpus);
    time_t m = mtime_of(manifest);
    if (m != 0 && m >= mtime_of(script))
        return;
    int rc = run_cmd("bash '%s' '%s'", script, T.corpus);
    if (rc != 0)
        fail_msg("mkcorpus.sh failed with status %d", rc);
}

/* The keygen prefix shared by every test package. */
static void key_prefix(char *out, size_t len)
{
    snprintf(out, len, "%s/keys/test", T.work);
}

static pal_sigpkg *build_package(const char *file, int with_hash, const char *rules,
                                 int with_pad_threat)
{
    pal_errbuf err = {{0}};
    pal_sigbuild *b = NULL;
    char prefix[1300], key[1400], path[1300];
    key_prefix(prefix, sizeof(prefix));
    snprintf(key, sizeof(key), "%s.key", prefix);
    snprintf(path, sizeof(path), "%s/%s", T.work, file);

    assert_int_equal(pal_sigbuild_new(&b), 0);
    assert_int_equal(pal_sigbuild_add_threat(b, EICAR_THREAT, PAL_SEV_SEVERE, "Virus",
                                             PAL_ACTION_QUARANTINE, &err),
                     0);
    if (with_pad_threat)
        assert_int_equal(pal_sigbuild_add_threat(b, PAD_THREAT, PAL_SEV_LOW, "Trojan",
                                                 PAL_ACTION_NOACTION, &err),
                         0);
    if (with_hash)
        assert_int_equal(pal_sigbuild_add_sha256(b, T.eicar_sha, EICAR_THREAT, &err), 0);
    if (rules != NULL) {
        int rc = pal_sigbuild_add_rules(b, rules, file, &err);
        if (rc != 0)
            fail_msg("rules for %s: %s", file, err.msg);
    }
    int rc = pal_sigbuild_write(b, 1, 1700000000, key, path, &err);
    pal_sigbuild_free(b);
    if (rc != 0)
        fail_msg("writing %s: %s", file, err.msg);

    pal_sigpkg *pkg = NULL;
    rc = pal_sigpkg_open_path(path, T.keys, PAL_SIGPKG_VERIFY, &pkg, &err);
    if (rc != 0)
        fail_msg("opening %s: %s", file, err.msg);
    return pkg;
}

static const profile *get_profile(const char *name)
{
    for (size_t i = 0; i < T.n_profiles; i++)
        if (strcmp(T.profiles[i].name, name) == 0)
            return &T.profiles[i];
    return NULL;
}

static int group_setup(void **state)
{
    (void)state;
    const char *s = getenv("PAL_SOURCE_DIR");
    const char *b = getenv("PAL_BINARY_DIR");
    snprintf(T.src_dir, sizeof(T.src_dir), "%s", s ? s : PAL_TEST_SOURCE_DIR);
    snprintf(T.bin_dir, sizeof(T.bin_dir), "%s", b ? b : PAL_TEST_BINARY_DIR);
    snprintf(T.work, sizeof(T.work), "%s/tests/engine", T.bin_dir);
    snprintf(T.corpus, sizeof(T.corpus), "%s/corpus", T.work);
    make_eicar(T.eicar);
    sha256(T.eicar, EICAR_LEN, T.eicar_sha);

    if (run_cmd("mkdir -p '%s/keys'", T.work) != 0)
        return -1;
    ensure_corpus();

    /* A fresh key pair for this run; only its public half is trusted. */
    char key[1300], pub[1400], keydir[1200];
    pal_errbuf err = {{0}};
    key_prefix(key, sizeof(key));
    snprintf(pub, sizeof(pub), "%s.pub", key);
    snprintf(keydir, sizeof(keydir), "%s/keys", T.work);
    unlink(pub);
    snprintf(pub, sizeof(pub), "%s.key", key);
    unlink(pub);
    if (pal_sigbuild_keygen(key, &err) != 0) {
        print_error("keygen: %s\n", err.msg);
        return -1;
    }
    if (pal_keyring_new(&T.keys) != 0 || pal_keyring_load_dir(T.keys, keydir, &err) != 0) {
        print_error("keyring: %s\n", err.msg);
        return -1;
    }

    char hex[3 * EICAR_LEN + 1];
    hexify(T.eicar, EICAR_LEN, hex);
    char rule_main[1024], rule_any[1024], rule_multi[2048];
    /* anchored like the starter rule: a container that stores the file is not itself a
       match, its member is */
    snprintf(rule_main, sizeof(rule_main),
             "rule EICAR_At_Start { meta: threat = \"%s\" strings: $e = { %s } "
             "condition: $e at 0 }",
             EICAR_THREAT, hex);
    snprintf(rule_any, sizeof(rule_any),
             "rule EICAR_Anywhere { meta: threat = \"%s\" strings: $e = { %s } "
             "condition: $e }",
             EICAR_THREAT, hex);
    /* Two rules for one threat (one finding), another threat on the same object, and a
       private helper rule without a threat (never reported). */
    snprintf(rule_multi, sizeof(rule_multi),
             "private rule HasPadding { strings: $p = \"padding that compresses well\" "
             "condition: $p }\n"
             "rule EICAR_A { meta: threat = \"%s\" strings: $e = { %s } condition: $e at 0 }\n"
             "rule EICAR_B { meta: threat = \"%s\" strings: $e = { %s } condition: $e at 0 }\n"
             "rule Padding { meta: threat = \"%s\" condition: HasPadding }\n",
             EICAR_THREAT, hex, EICAR_THREAT, hex, PAD_THREAT);
    T.pkg[PKG_MAIN] = build_package("main.sig", 1, rule_main, 0);
    T.pkg[PKG_HASH] = build_package("hash.sig", 1, NULL, 0);
    T.pkg[PKG_RULE] = build_package("rule.sig", 0, rule_any, 0);
    T.pkg[PKG_MULTI] = build_package("multi.sig", 1, rule_multi, 1);

    /* heavy: the default limits on an engine of its own, for the bombs and the compressible
       data (left out of the four-thread comparison, which runs "default"); anywhere: the
       default limits with the unanchored EICAR rule, for a threat at the end of a member */
    static const char *const names[] = {"default", "members", "expanded", "size",
                                        "nodepth", "heavy",   "anywhere"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        profile *p = &T.profiles[i];
        int pkg = strcmp(names[i], "anywhere") == 0 ? PKG_RULE : PKG_MAIN;
        p->name = names[i];
        pal_limits_default(&p->lim);
        if (strcmp(p->name, "members") == 0)
            p->lim.max_members = 5;
        else if (strcmp(p->name, "expanded") == 0)
            p->lim.max_expanded_bytes = 1024 * 1024;
        else if (strcmp(p->name, "size") == 0)
            p->lim.max_object_size = 4096;
        else if (strcmp(p->name, "nodepth") == 0)
            p->lim.max_depth = 0;
        if (pal_engine_new(T.pkg[pkg], &p->lim, &p->eng, &err) != 0) {
            print_error("engine %s: %s\n", p->name, err.msg);
            return -1;
        }
        T.n_profiles++;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < T.n_profiles; i++)
        pal_engine_free(T.profiles[i].eng);
    for (int i = 0; i < PKG_COUNT; i++)
        pal_sigpkg_free(T.pkg[i]);
    pal_keyring_free(T.keys);
    return 0;
}

/* ---- sources ----------------------------------------------------------------------------- */

typedef struct file_source {
    int fd;
} file_source;

static ssize_t file_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
    file_source *fs = ctx;
    ssize_t n = pread(fs->fd, buf, len, (off_t)off);
    return n < 0 ? PAL_EIO : n;
}

/* Scan a file of the corpus under its own name. */
static int scan_corpus_file(pal_scanner *sc, const char *name, pal_report *rep)
{
    char path[1500];
    snprintf(path, sizeof(path), "%s/%s", T.corpus, name);
    file_source fs = {.fd = open(path, O_RDONLY | O_CLOEXEC)};
    if (fs.fd < 0)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    struct stat st;
    assert_int_equal(fstat(fs.fd, &st), 0);
    pal_source src = {.size = (uint64_t)st.st_size, .read_at = file_read_at, .ctx = &fs};
    int rc = pal_scan(sc, &src, name, NULL, rep);
    close(fs.fd);
    return rc;
}

static void scan_memory(pal_engine *eng, const void *data, size_t len, const char *name,
                        pal_report *rep)
{
    pal_scanner *sc = NULL;
    pal_source src;
    assert_int_equal(pal_scanner_new(eng, &sc), 0);
    pal_source_from_memory(&src, data, len);
    assert_int_equal(pal_scan(sc, &src, name, NULL, rep), 0);
    pal_scanner_free(sc);
}

static pal_engine *new_engine(int pkg, const pal_limits *lim)
{
    pal_engine *eng = NULL;
    pal_errbuf err = {{0}};
    if (pal_engine_new(T.pkg[pkg], lim, &eng, &err) != 0)
        fail_msg("pal_engine_new: %s", err.msg);
    return eng;
}

/* ---- basic API --------------------------------------------------------------------------- */

static void test_names_and_defaults(void **state)
{
    (void)state;
    static const char *const want[] = {"none",
                                       "depth-limit",
                                       "member-limit",
                                       "expanded-size-limit",
                                       "expansion-ratio-limit",
                                       "size-limit",
                                       "timeout",
                                       "encrypted",
                                       "corrupt",
                                       "read-error",
                                       "engine-error",
                                       "cancelled"};
    for (int r = PAL_UNSCANNABLE_NONE; r <= PAL_UNSCANNABLE_CANCELLED; r++)
        assert_string_equal(pal_unscannable_name((pal_unscannable)r), want[r]);
    assert_string_equal(pal_unscannable_name((pal_unscannable)99), "unknown");

    pal_limits lim;
    pal_limits_default(&lim);
    assert_int_equal(lim.max_depth, PAL_DEFAULT_MAX_DEPTH);
    assert_int_equal(lim.max_members, PAL_DEFAULT_MAX_MEMBERS);
    assert_int_equal(lim.max_expanded_bytes, PAL_DEFAULT_MAX_EXPANDED_BYTES);
    assert_int_equal(lim.max_ratio, PAL_DEFAULT_MAX_RATIO);
    assert_int_equal(lim.max_object_size, PAL_DEFAULT_MAX_OBJECT_SIZE);
    assert_int_equal(lim.max_scan_ms, PAL_DEFAULT_MAX_SCAN_MS);

    pal_report rep;
    pal_report_init(&rep);
    assert_int_equal(rep.verdict, PAL_VERDICT_CLEAN);
    assert_null(rep.findings);
    pal_report_free(&rep);
    pal_report_free(&rep); /* freeing twice is harmless: free re-initialises */
    pal_report_free(NULL);
    pal_engine_free(NULL);
    pal_scanner_free(NULL);
}

/* What the engine enables: every candidate is in-process with Debian 12's libarchive, and
   none of the candidates runs a program. */
static void test_libarchive_support(void **state)
{
    (void)state;
    static const char *const formats[] = {"7zip", "ar",  "cab",           "cpio", "iso9660",
                                          "lha",  "rar", "rar5",          "tar",  "warc",
                                          "xar",  "zip", "zip-streamable"};
    static const char *const filters[] = {"bzip2", "compress", "gzip", "lz4", "lzip",
                                          "lzma",  "rpm",      "uu",   "xz",  "zstd"};
    pal_expand_support sup;
    assert_int_equal(pal_expand_probe(&sup), 0);
    unsigned i;
    for (i = 0; pal_expand_format_name(i) != NULL; i++) {
        assert_true(i < sizeof(formats) / sizeof(formats[0]));
        assert_string_equal(pal_expand_format_name(i), formats[i]);
        assert_true(sup.formats & (1U << i));
    }
    assert_int_equal(i, sizeof(formats) / sizeof(formats[0]));
    for (i = 0; pal_expand_filter_name(i) != NULL; i++) {
        assert_true(i < sizeof(filters) / sizeof(filters[0]));
        assert_string_equal(pal_expand_filter_name(i), filters[i]);
        assert_true(sup.filters & (1U << i));
    }
    assert_int_equal(i, sizeof(filters) / sizeof(filters[0]));
}

static void test_engine_new_rejects(void **state)
{
    (void)state;
    pal_engine *eng = NULL;
    pal_errbuf err = {{0}};
    pal_limits lim;

    assert_int_equal(pal_engine_new(NULL, NULL, &eng, &err), PAL_EINVAL);
    pal_limits_default(&lim);
    lim.max_depth = 65;
    assert_int_equal(pal_engine_new(T.pkg[PKG_MAIN], &lim, &eng, &err), PAL_EINVAL);
    assert_non_null(strstr(err.msg, "max_depth"));
    pal_limits_default(&lim);
    lim.max_ratio = 0;
    assert_int_equal(pal_engine_new(T.pkg[PKG_MAIN], &lim, &eng, &err), PAL_EINVAL);
    pal_limits_default(&lim);
    lim.max_object_size = 0;
    assert_int_equal(pal_engine_new(T.pkg[PKG_MAIN], &lim, &eng, &err), PAL_EINVAL);
    pal_limits_default(&lim);
    lim.max_scan_ms = 0;
    assert_int_equal(pal_engine_new(T.pkg[PKG_MAIN], &lim, &eng, &err), PAL_EINVAL);
    assert_null(eng);

    /* NULL limits mean the defaults */
    assert_int_equal(pal_engine_new(T.pkg[PKG_MAIN], NULL, &eng, &err), 0);
    assert_ptr_equal(pal_engine_package(eng), T.pkg[PKG_MAIN]);
    assert_int_equal(pal_engine_limits(eng)->max_depth, PAL_DEFAULT_MAX_DEPTH);

    pal_scanner *sc = NULL;
    pal_report rep;
    pal_source src;
    pal_source_from_memory(&src, "x", 1);
    assert_int_equal(pal_scanner_new(eng, &sc), 0);
    assert_int_equal(pal_scan(sc, &src, "x", NULL, NULL), PAL_EINVAL);
    assert_int_equal(pal_scan(sc, NULL, "x", NULL, &rep), PAL_EINVAL);
    assert_int_equal(rep.n_findings, 0);
    assert_int_equal(pal_scan(sc, &src, NULL, NULL, &rep), PAL_EINVAL);
    pal_scanner_free(sc);
    pal_engine_free(eng);
}

static void check_eicar_finding(const pal_finding *f, const char *chain, const char *by)
{
    assert_string_equal(f->chain, chain);
    assert_string_equal(f->threat, EICAR_THREAT);
    assert_string_equal(f->category, "Virus");
    assert_int_equal(f->severity, PAL_SEV_SEVERE);
    assert_int_equal(f->default_action, PAL_ACTION_QUARANTINE);
    assert_string_equal(f->matched_by, by);
}

/* The raw EICAR file is found by its hash alone, by the rule alone, and once with both. */
static void test_eicar_raw_hash_and_rule(void **state)
{
    (void)state;
    struct {
        int pkg;
        const char *by;
    } cases[] = {{PKG_HASH, "sha256"}, {PKG_RULE, "yara:EICAR_Anywhere"}, {PKG_MAIN, "sha256"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_engine *eng = new_engine(cases[i].pkg, NULL);
        pal_report rep;
        scan_memory(eng, T.eicar, EICAR_LEN, "/tmp/eicar.com", &rep);
        assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
        assert_int_equal(rep.n_findings, 1); /* hash and rule: one finding */
        check_eicar_finding(&rep.findings[0], "/tmp/eicar.com", cases[i].by);
        assert_memory_equal(rep.findings[0].sha256, T.eicar_sha, 32);
        assert_int_equal(rep.findings[0].size, EICAR_LEN);
        assert_int_equal(rep.reason, PAL_UNSCANNABLE_NONE);
        assert_null(rep.reason_chain);
        assert_true(rep.sha256_valid);
        assert_memory_equal(rep.sha256, T.eicar_sha, 32);
        assert_int_equal(rep.size, EICAR_LEN);
        assert_int_equal(rep.bytes_read, EICAR_LEN);
        assert_int_equal(rep.objects_scanned, 1);
        pal_report_free(&rep);
        pal_engine_free(eng);
    }
}

/*
 * A broker whose scans run in the content process parks its compiled rules: they are not
 * in memory until an in-process scanner needs them, and a rule still matches then.
 */
static void test_parked_rules_reload(void **state)
{
    (void)state;
    pal_engine *eng = new_engine(PKG_RULE, NULL);
    assert_true(pal_engine_rules_resident(eng));
    pal_engine_park_rules(eng);
    assert_false(pal_engine_rules_resident(eng));
    pal_engine_park_rules(eng); /* twice is harmless */
    assert_false(pal_engine_rules_resident(eng));
    pal_report rep;
    scan_memory(eng, T.eicar, EICAR_LEN, "/tmp/eicar.com", &rep);
    assert_true(pal_engine_rules_resident(eng));
    assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
    assert_int_equal(rep.n_findings, 1);
    check_eicar_finding(&rep.findings[0], "/tmp/eicar.com", "yara:EICAR_Anywhere");
    pal_report_free(&rep);
    /* a second scanner shares the reloaded rules */
    scan_memory(eng, T.eicar, EICAR_LEN, "/tmp/eicar.com", &rep);
    assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
    pal_report_free(&rep);
    pal_engine_free(eng);

    /* hash signatures do not depend on the rules: they match while the rules are parked */
    eng = new_engine(PKG_HASH, NULL);
    pal_engine_park_rules(eng);
    scan_memory(eng, T.eicar, EICAR_LEN, "/tmp/eicar.com", &rep);
    assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
    check_eicar_finding(&rep.findings[0], "/tmp/eicar.com", "sha256");
    pal_report_free(&rep);
    pal_engine_free(eng);
}

/* Inside a zip the member is matched by its own hash, and the finding carries it. */
static void test_member_hash(void **state)
{
    (void)state;
    pal_engine *eng = new_engine(PKG_HASH, NULL);
    pal_scanner *sc = NULL;
    pal_report rep;
    assert_int_equal(pal_scanner_new(eng, &sc), 0);
    assert_int_equal(scan_corpus_file(sc, "zip.zip", &rep), 0);
    assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
    assert_int_equal(rep.n_findings, 1); /* eicar-pad.txt has no hash signature */
    check_eicar_finding(&rep.findings[0], "zip.zip->eicar.com", "sha256");
    assert_memory_equal(rep.findings[0].sha256, T.eicar_sha, 32);
    assert_int_equal(rep.findings[0].size, EICAR_LEN);
    assert_int_equal(rep.objects_scanned, 4); /* the zip and its three members */
    assert_true(rep.sha256_valid);
    pal_report_free(&rep);
    pal_scanner_free(sc);
    pal_engine_free(eng);
}

/* Every threat is reported; two rules naming one threat give one finding; private rules
   are never reported. */
static void test_all_matches_and_dedupe(void **state)
{
    (void)state;
    pal_engine *eng = new_engine(PKG_MULTI, NULL);
    char text[256];
    memcpy(text, T.eicar, EICAR_LEN);
    int n = snprintf(text + EICAR_LEN, sizeof(text) - EICAR_LEN,
                     "\nline 1 of padding that compresses well\n");
    pal_report rep;
    scan_memory(eng, text, EICAR_LEN + (size_t)n, "pad.txt", &rep);
    assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
    assert_int_equal(rep.n_findings, 2);
    int seen_eicar = 0, seen_pad = 0;
    for (size_t i = 0; i < rep.n_findings; i++) {
        const pal_finding *f = &rep.findings[i];
        assert_string_equal(f->chain, "pad.txt");
        if (strcmp(f->threat, EICAR_THREAT) == 0) {
            seen_eicar++;
            assert_int_equal(strncmp(f->matched_by, "yara:EICAR_", 11), 0);
        } else {
            seen_pad++;
            assert_string_equal(f->threat, PAD_THREAT);
            assert_string_equal(f->category, "Trojan");
            assert_int_equal(f->severity, PAL_SEV_LOW);
            assert_int_equal(f->default_action, PAL_ACTION_NOACTION);
            assert_string_equal(f->matched_by, "yara:Padding");
        }
    }
    assert_int_equal(seen_eicar, 1);
    assert_int_equal(seen_pad, 1);
    pal_report_free(&rep);

    /* the raw EICAR: hash + two rules, one finding */
    scan_memory(eng, T.eicar, EICAR_LEN, "e", &rep);
    assert_int_equal(rep.n_findings, 1);
    assert_string_equal(rep.findings[0].matched_by, "sha256");
    pal_report_free(&rep);
    pal_engine_free(eng);
}

/* Near misses, random data, a real ELF and an empty object are clean. */
static void test_clean_controls(void **state)
{
    (void)state;
    pal_engine *eng = T.profiles[0].eng;
    pal_report rep;
    uint8_t buf[EICAR_LEN];

    scan_memory(eng, T.eicar, EICAR_LEN / 2, "half", &rep);
    assert_int_equal(rep.verdict, PAL_VERDICT_CLEAN);
    assert_int_equal(rep.n_findings, 0);
    assert_int_equal(rep.reason, PAL_UNSCANNABLE_NONE);
    pal_report_free(&rep);

    for (size_t i = 0; i < EICAR_LEN; i++)
        buf[i] = T.eicar[EICAR_LEN - 1 - i];
    scan_memory(eng, buf, EICAR_LEN, "reversed", &rep);
    assert_int_equal(rep.verdict, PAL_VERDICT_CLEAN);
    pal_report_free(&rep);

    size_t rlen = 1024 * 1024;
    uint8_t *rnd = malloc(rlen);
    assert_non_null(rnd);
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < rlen; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rnd[i] = (uint8_t)(x >> 24);
    }
    scan_memory(eng, rnd, rlen, "random", &rep);
    assert_int_equal(rep.verdict, PAL_VERDICT_CLEAN);
    assert_int_equal(rep.bytes_read, rlen);
    pal_report_free(&rep);
    free(rnd);

    scan_memory(eng, NULL, 0, "empty", &rep);
    assert_int_equal(rep.verdict, PAL_VERDICT_CLEAN);
    assert_true(rep.sha256_valid); /* the empty object was read entirely */
    assert_int_equal(rep.objects_scanned, 1);
    pal_report_free(&rep);

    static const char *const elves[] = {"/bin/ls", "/usr/bin/cmake", "/usr/bin/bsdtar",
                                        "/usr/bin/7z"};
    pal_scanner *sc = NULL;
    assert_int_equal(pal_scanner_new(eng, &sc), 0);
    for (size_t i = 0; i < sizeof(elves) / sizeof(elves[0]); i++) {
        file_source fs = {.fd = open(elves[i], O_RDONLY | O_CLOEXEC)};
        if (fs.fd < 0)
            continue;
        struct stat st;
        assert_int_equal(fstat(fs.fd, &st), 0);
        pal_source src = {.size = (uint64_t)st.st_size, .read_at = file_read_at, .ctx = &fs};
        assert_int_equal(pal_scan(sc, &src, elves[i], NULL, &rep), 0);
        close(fs.fd);
        if (rep.verdict != PAL_VERDICT_CLEAN)
            fail_msg("%s: verdict %d reason %s (%s)", elves[i], rep.verdict,
                     pal_unscannable_name(rep.reason), rep.reason_detail ? rep.reason_detail : "");
        assert_int_equal(rep.bytes_read, (uint64_t)st.st_size);
        pal_report_free(&rep);
    }
    pal_scanner_free(sc);
}

/*
 * Data that opens with a zero block is not taken for a tar: EICAR after 1 KiB of zeros in a
 * .gz is found by a rule that is not anchored, and nothing is unscannable about it. With
 * the anchored rule the same file is clean (manifest): it is not the EICAR test file.
 */
static void test_zero_prefix_stream(void **state)
{
    (void)state;
    pal_engine *eng = new_engine(PKG_RULE, NULL);
    pal_scanner *sc = NULL;
    pal_report rep;
    assert_int_equal(pal_scanner_new(eng, &sc), 0);
    assert_int_equal(scan_corpus_file(sc, "zeropad.gz", &rep), 0);
    assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
    assert_int_equal(rep.n_findings, 1);
    check_eicar_finding(&rep.findings[0], "zeropad.gz->zeropad", "yara:EICAR_Anywhere");
    assert_int_equal(rep.findings[0].size, 1024 + EICAR_LEN);
    assert_int_equal(rep.reason, PAL_UNSCANNABLE_NONE);
    pal_report_free(&rep);
    pal_scanner_free(sc);
    pal_engine_free(eng);
}

/* ---- the corpus -------------------------------------------------------------------------- */

typedef struct manifest_line {
    char *file, *profile, *verdict, *reason, *reason_chain, *findings;
} manifest_line;

typedef struct manifest {
    char *text;
    manifest_line *lines;
    size_t n;
} manifest;

static void manifest_load(manifest *m)
{
    char path[1300];
    snprintf(path, sizeof(path), "%s/manifest.tsv", T.corpus);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len > 0);
    rewind(f);
    m->text = calloc(1, (size_t)len + 1);
    assert_non_null(m->text);
    assert_int_equal(fread(m->text, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    m->lines = calloc((size_t)len / 8 + 1, sizeof(*m->lines));
    assert_non_null(m->lines);
    m->n = 0;
    char *save = NULL;
    for (char *line = strtok_r(m->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        char *fields[6];
        size_t nf = 0;
        char *p = line;
        while (nf < 6) {
            fields[nf++] = p;
            char *tab = strchr(p, '\t');
            if (tab == NULL)
                break;
            *tab = '\0';
            p = tab + 1;
        }
        if (nf != 6)
            fail_msg("manifest line for %s has %zu fields", fields[0], nf);
        manifest_line *l = &m->lines[m->n++];
        l->file = fields[0];
        l->profile = fields[1];
        l->verdict = fields[2];
        l->reason = fields[3];
        l->reason_chain = fields[4];
        l->findings = fields[5];
    }
    assert_true(m->n > 50);
}

static void manifest_free(manifest *m)
{
    free(m->lines);
    free(m->text);
}

static const char *verdict_name(pal_verdict v)
{
    switch (v) {
    case PAL_VERDICT_CLEAN:
        return "clean";
    case PAL_VERDICT_THREAT:
        return "threat";
    case PAL_VERDICT_UNSCANNABLE:
        return "unscannable";
    }
    return "?";
}

static void describe(const pal_report *rep, char *out, size_t len)
{
    size_t off = (size_t)snprintf(
        out, len, "verdict %s reason %s at %s (%s); objects %llu, read %llu; findings:",
        verdict_name(rep->verdict), pal_unscannable_name(rep->reason),
        rep->reason_chain ? rep->reason_chain : "-", rep->reason_detail ? rep->reason_detail : "-",
        (unsigned long long)rep->objects_scanned, (unsigned long long)rep->bytes_read);
    for (size_t i = 0; i < rep->n_findings && off < len; i++)
        off += (size_t)snprintf(out + off, len - off, " [%s %s by %s]", rep->findings[i].chain,
                                rep->findings[i].threat, rep->findings[i].matched_by);
}

/* Empty string when rep matches the manifest line, else what differs. */
static void check_line(const manifest_line *l, const pal_report *rep, char *why, size_t len)
{
    why[0] = '\0';
    size_t rc_len = strlen(l->reason_chain);
    int prefix = rc_len > 0 && l->reason_chain[rc_len - 1] == '*';
    int chain_ok = strcmp(l->reason_chain, "-") == 0 ||
                   (rep->reason_chain != NULL &&
                    (prefix ? strncmp(rep->reason_chain, l->reason_chain, rc_len - 1) == 0
                            : strcmp(rep->reason_chain, l->reason_chain) == 0));
    if (strcmp(verdict_name(rep->verdict), l->verdict) != 0 ||
        strcmp(pal_unscannable_name(rep->reason), l->reason) != 0 || !chain_ok) {
        snprintf(why, len, "want %s/%s at %s", l->verdict, l->reason, l->reason_chain);
        return;
    }
    size_t want = 0;
    if (strcmp(l->findings, "-") != 0) {
        const char *p = l->findings;
        for (;;) {
            const char *bar = strchr(p, '|');
            size_t n = bar ? (size_t)(bar - p) : strlen(p);
            int found = 0;
            for (size_t i = 0; i < rep->n_findings; i++)
                if (strlen(rep->findings[i].chain) == n &&
                    memcmp(rep->findings[i].chain, p, n) == 0 &&
                    strcmp(rep->findings[i].threat, EICAR_THREAT) == 0)
                    found = 1;
            if (!found) {
                snprintf(why, len, "no finding at %.*s", (int)n, p);
                return;
            }
            want++;
            if (bar == NULL)
                break;
            p = bar + 1;
        }
    }
    if (rep->n_findings != want)
        snprintf(why, len, "want %zu findings", want);
}

/* Every corpus file, under the limits its manifest line names. */
static void test_corpus(void **state)
{
    (void)state;
    manifest m;
    manifest_load(&m);
    size_t failures = 0;
    for (size_t i = 0; i < m.n; i++) {
        const manifest_line *l = &m.lines[i];
        const profile *p = get_profile(l->profile);
        if (p == NULL) {
            fail_msg("manifest: unknown profile %s", l->profile);
            return;
        }
        pal_scanner *sc = NULL;
        pal_report rep;
        struct timespec t0, t1;
        assert_int_equal(pal_scanner_new(p->eng, &sc), 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(scan_corpus_file(sc, l->file, &rep), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        /* The bombs must stop within about a second; wall time is printed, not asserted
           (the machine is shared): bench/RESULTS.md records it. */
        if (strcmp(l->profile, "heavy") == 0)
            printf("heavy: %-24s %6.3f s  %s %s, %llu objects\n", l->file,
                   (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
                   verdict_name(rep.verdict), pal_unscannable_name(rep.reason),
                   (unsigned long long)rep.objects_scanned);
        char why[256], got[2048];
        check_line(l, &rep, why, sizeof(why));
        if (why[0] != '\0') {
            describe(&rep, got, sizeof(got));
            print_error("%s [%s]: %s; got %s\n", l->file, l->profile, why, got);
            failures++;
        }
        /* a report about the whole object is never wrong about its size */
        struct stat st;
        char path[1500];
        snprintf(path, sizeof(path), "%s/%s", T.corpus, l->file);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(rep.size, (uint64_t)st.st_size);
        pal_report_free(&rep);
        pal_scanner_free(sc);
    }
    manifest_free(&m);
    if (failures > 0)
        fail_msg("%zu of the corpus files were not reported as expected", failures);
}

/* ---- the build-time starter package and its samples ------------------------------------- */

static uint8_t *b64_decode_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char in[65536];
    size_t n = fread(in, 1, sizeof(in), f);
    fclose(f);
    uint8_t *out = malloc(n + 1);
    assert_non_null(out);
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    assert_non_null(ctx);
    int a = 0, b = 0;
    EVP_DecodeInit(ctx);
    assert_true(EVP_DecodeUpdate(ctx, out, &a, (const unsigned char *)in, (int)n) >= 0);
    assert_int_equal(EVP_DecodeFinal(ctx, out + a, &b), 1);
    EVP_ENCODE_CTX_free(ctx);
    *len_out = (size_t)(a + b);
    return out;
}

static void test_starter_samples(void **state)
{
    (void)state;
    char pkgpath[1200], keydir[1200], manifest_path[1200];
    snprintf(pkgpath, sizeof(pkgpath), "%s/signatures/palisade-defs.sig", T.bin_dir);
    snprintf(keydir, sizeof(keydir), "%s/trusted-keys", T.bin_dir);
    snprintf(manifest_path, sizeof(manifest_path), "%s/signatures/samples/MANIFEST.tsv", T.src_dir);

    pal_errbuf err = {{0}};
    pal_keyring *kr = NULL;
    pal_sigpkg *pkg = NULL;
    assert_int_equal(pal_keyring_new(&kr), 0);
    if (pal_keyring_load_dir(kr, keydir, &err) != 0)
        fail_msg("build-time keys: %s", err.msg);
    if (pal_sigpkg_open_path(pkgpath, kr, PAL_SIGPKG_VERIFY, &pkg, &err) != 0)
        fail_msg("build-time package: %s", err.msg);
    pal_engine *eng = NULL;
    if (pal_engine_new(pkg, NULL, &eng, &err) != 0)
        fail_msg("engine on the build-time package: %s", err.msg);

    FILE *f = fopen(manifest_path, "re");
    if (f == NULL)
        fail_msg("cannot open %s", manifest_path);
    char line[1024];
    size_t checked = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *save = NULL;
        char *sample = strtok_r(line, "\t", &save);
        char *threat = strtok_r(NULL, "\t", &save);
        char *by = strtok_r(NULL, "\t", &save);
        assert_non_null(sample);
        assert_non_null(threat);
        assert_non_null(by);
        char path[1400], name[256];
        snprintf(path, sizeof(path), "%s/signatures/samples/%s", T.src_dir, sample);
        snprintf(name, sizeof(name), "%.*s", (int)(strlen(sample) - 4), sample); /* - ".b64" */
        size_t len = 0;
        uint8_t *data = b64_decode_file(path, &len);
        pal_report rep;
        scan_memory(eng, data, len, name, &rep); /* decoded in memory, never on disk */
        free(data);
        if (strcmp(threat, "-") == 0) {
            if (rep.verdict != PAL_VERDICT_CLEAN)
                fail_msg("%s: near miss reported %s", name,
                         rep.n_findings ? rep.findings[0].threat : "unscannable");
        } else {
            if (rep.verdict != PAL_VERDICT_THREAT || rep.n_findings != 1)
                fail_msg("%s: want one finding of %s, got %zu", name, threat, rep.n_findings);
            assert_string_equal(rep.findings[0].threat, threat);
            assert_string_equal(rep.findings[0].chain, name);
            if (strcmp(by, "yara") == 0)
                assert_int_equal(strncmp(rep.findings[0].matched_by, "yara:", 5), 0);
            else /* "sha256+yara": the hash is looked up first, the duplicate is merged */
                assert_string_equal(rep.findings[0].matched_by, "sha256");
        }
        pal_report_free(&rep);
        checked++;
    }
    fclose(f);
    assert_true(checked >= 5);

    /* the compiled ELF sample */
    char elf[1300];
    snprintf(elf, sizeof(elf), "%s/signatures/samples/elf-implant", T.bin_dir);
    file_source fs = {.fd = open(elf, O_RDONLY | O_CLOEXEC)};
    if (fs.fd < 0)
        fail_msg("cannot open %s", elf);
    struct stat st;
    assert_int_equal(fstat(fs.fd, &st), 0);
    pal_source src = {.size = (uint64_t)st.st_size, .read_at = file_read_at, .ctx = &fs};
    pal_scanner *sc = NULL;
    pal_report rep;
    assert_int_equal(pal_scanner_new(eng, &sc), 0);
    assert_int_equal(pal_scan(sc, &src, "elf-implant", NULL, &rep), 0);
    close(fs.fd);
    assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
    assert_string_equal(rep.findings[0].threat, "Trojan:Linux/ImplantCfg.A");
    pal_report_free(&rep);

    /* and the corpus EICAR, raw and in a zip, with the starter package */
    assert_int_equal(scan_corpus_file(sc, "zip.zip", &rep), 0);
    assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
    assert_int_equal(rep.n_findings, 1); /* its EICAR rule is strict: not eicar-pad.txt */
    assert_string_equal(rep.findings[0].chain, "zip.zip->eicar.com");
    assert_string_equal(rep.findings[0].threat, EICAR_THREAT);
    pal_report_free(&rep);

    pal_scanner_free(sc);
    pal_engine_free(eng);
    pal_sigpkg_free(pkg);
    pal_keyring_free(kr);
}

/* ---- threads ----------------------------------------------------------------------------- */

#define N_THREADS 4

typedef struct thread_job {
    pal_engine *eng;
    const manifest *m;
    char **results; /* one description per manifest line */
    int rc;
} thread_job;

static char *describe_dup(const pal_report *rep)
{
    char buf[4096];
    describe(rep, buf, sizeof(buf));
    return strdup(buf);
}

static void *thread_main(void *arg)
{
    thread_job *job = arg;
    pal_scanner *sc = NULL;
    job->rc = pal_scanner_new(job->eng, &sc);
    if (job->rc != 0)
        return NULL;
    for (size_t k = 0; k < job->m->n; k++) {
        const manifest_line *l = &job->m->lines[k];
        if (strcmp(l->profile, "default") != 0)
            continue;
        char path[1500];
        snprintf(path, sizeof(path), "%s/%s", T.corpus, l->file);
        file_source fs = {.fd = open(path, O_RDONLY | O_CLOEXEC)};
        struct stat st;
        if (fs.fd < 0 || fstat(fs.fd, &st) != 0) {
            job->rc = -1;
            break;
        }
        pal_source src = {.size = (uint64_t)st.st_size, .read_at = file_read_at, .ctx = &fs};
        pal_report rep;
        int rc = pal_scan(sc, &src, l->file, NULL, &rep);
        close(fs.fd);
        if (rc != 0) {
            job->rc = rc;
            break;
        }
        job->results[k] = describe_dup(&rep);
        pal_report_free(&rep);
    }
    pal_scanner_free(sc);
    return NULL;
}

/* Four scanners on four threads over one engine give what one scanner gives alone. */
static void test_threads_agree(void **state)
{
    (void)state;
    manifest m;
    manifest_load(&m);
    thread_job jobs[N_THREADS + 1];
    pthread_t tids[N_THREADS];
    for (int t = 0; t <= N_THREADS; t++) {
        jobs[t].eng = T.profiles[0].eng;
        jobs[t].m = &m;
        jobs[t].results = calloc(m.n, sizeof(char *));
        jobs[t].rc = 0;
        assert_non_null(jobs[t].results);
    }
    thread_main(&jobs[N_THREADS]); /* the single-threaded reference */
    assert_int_equal(jobs[N_THREADS].rc, 0);
    for (int t = 0; t < N_THREADS; t++)
        assert_int_equal(pthread_create(&tids[t], NULL, thread_main, &jobs[t]), 0);
    for (int t = 0; t < N_THREADS; t++)
        assert_int_equal(pthread_join(tids[t], NULL), 0);
    size_t compared = 0;
    for (int t = 0; t < N_THREADS; t++) {
        assert_int_equal(jobs[t].rc, 0);
        for (size_t k = 0; k < m.n; k++) {
            const char *a = jobs[t].results[k], *b = jobs[N_THREADS].results[k];
            if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
                fail_msg("thread %d, %s: %s\nvs alone: %s", t, m.lines[k].file, a ? a : "-",
                         b ? b : "-");
            compared += a != NULL;
        }
    }
    assert_true(compared > 50 * N_THREADS);
    for (int t = 0; t <= N_THREADS; t++) {
        for (size_t k = 0; k < m.n; k++)
            free(jobs[t].results[k]);
        free(jobs[t].results);
    }
    manifest_free(&m);
}

/*
 * An object's report does not depend on what the scanner scanned before: the corpus in order
 * through one scanner, against each object through a scanner of its own (the content process
 * releases its buffers when idle, the broker's in-process scanner does not, and the two must
 * agree). A stored zip member with a bad CRC once gave 3 objects fresh and 2 after others.
 */
static void test_report_independent_of_history(void **state)
{
    (void)state;
    manifest m;
    manifest_load(&m);
    thread_job seq = {.eng = T.profiles[0].eng, .m = &m, .results = calloc(m.n, sizeof(char *))};
    assert_non_null(seq.results);
    thread_main(&seq);
    assert_int_equal(seq.rc, 0);
    size_t compared = 0;
    for (size_t k = 0; k < m.n; k++) {
        if (seq.results[k] == NULL)
            continue;
        manifest one = m;
        one.lines = &m.lines[k];
        one.n = 1;
        thread_job fresh = {
            .eng = T.profiles[0].eng, .m = &one, .results = calloc(1, sizeof(char *))};
        assert_non_null(fresh.results);
        thread_main(&fresh);
        assert_int_equal(fresh.rc, 0);
        if (fresh.results[0] == NULL || strcmp(fresh.results[0], seq.results[k]) != 0)
            fail_msg("%s: alone %s\nafter the others: %s", m.lines[k].file,
                     fresh.results[0] ? fresh.results[0] : "-", seq.results[k]);
        compared++;
        free(fresh.results[0]);
        free(fresh.results);
    }
    assert_true(compared > 50);
    for (size_t k = 0; k < m.n; k++)
        free(seq.results[k]);
    free(seq.results);
    manifest_free(&m);
}

/* pal_scan_memory gives every corpus object, under every profile's limits, the report that
   pal_scan gives when it reads the same bytes from the file (the content process scans a
   whole object in place in its shared bulk area). */
static void test_scan_in_place(void **state)
{
    (void)state;
    manifest m;
    manifest_load(&m);
    size_t compared = 0;
    for (size_t k = 0; k < m.n; k++) {
        const profile *p = get_profile(m.lines[k].profile);
        assert_non_null(p);
        char path[1500];
        snprintf(path, sizeof(path), "%s/%s", T.corpus, m.lines[k].file);
        file_source fs = {.fd = open(path, O_RDONLY | O_CLOEXEC)};
        struct stat st;
        assert_true(fs.fd >= 0 && fstat(fs.fd, &st) == 0);
        size_t len = (size_t)st.st_size;
        uint8_t *bytes = malloc(len ? len : 1);
        assert_non_null(bytes);
        assert_int_equal(pread(fs.fd, bytes, len, 0), (ssize_t)len);
        pal_scanner *sc;
        assert_int_equal(pal_scanner_new(p->eng, &sc), 0);
        pal_source src = {.size = (uint64_t)len, .read_at = file_read_at, .ctx = &fs};
        pal_report read, in_place;
        assert_int_equal(pal_scan(sc, &src, m.lines[k].file, NULL, &read), 0);
        assert_int_equal(pal_scan_memory(sc, bytes, len, m.lines[k].file, NULL, &in_place), 0);
        char a[4096], b[4096];
        describe(&read, a, sizeof(a));
        describe(&in_place, b, sizeof(b));
        if (strcmp(a, b) != 0 || read.bytes_read != in_place.bytes_read ||
            read.sha256_valid != in_place.sha256_valid ||
            memcmp(read.sha256, in_place.sha256, 32) != 0)
            fail_msg("%s (%s): read %s\nin place %s", m.lines[k].file, p->name, a, b);
        compared++;
        pal_report_free(&read);
        pal_report_free(&in_place);
        pal_scanner_free(sc);
        free(bytes);
        close(fs.fd);
    }
    assert_true(compared > 50);
    manifest_free(&m);
    /* a cancelled scan in place is cancelled, not clean */
    pal_scanner *sc;
    assert_int_equal(pal_scanner_new(T.profiles[0].eng, &sc), 0);
    volatile int cancel = 1;
    pal_report rep;
    assert_int_equal(pal_scan_memory(sc, "hello", 5, "c", &cancel, &rep), 0);
    assert_int_equal(rep.verdict, PAL_VERDICT_UNSCANNABLE);
    assert_int_equal(rep.reason, PAL_UNSCANNABLE_CANCELLED);
    pal_report_free(&rep);
    assert_int_equal(pal_scan_memory(sc, NULL, 5, "c", NULL, &rep), PAL_EINVAL);
    pal_scanner_free(sc);
}

/* ---- sources that misbehave, cancel, time ------------------------------------------------ */

typedef struct test_source {
    const uint8_t *data;
    size_t len;
    size_t fail_at;                   /* reads at or after this offset fail (or end) */
    int fail_code;                    /* 0: pretend the data ends there; else the error returned */
    volatile int *cancel_after_first; /* raised by the first read */
    unsigned sleep_ms;                /* per read */
    uint8_t *seen;                    /* per byte: times it was read */
    size_t reads;
} test_source;

static ssize_t test_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
    test_source *ts = ctx;
    ts->reads++;
    if (ts->sleep_ms) {
        struct timespec d = {.tv_sec = 0, .tv_nsec = (long)ts->sleep_ms * 1000000L};
        nanosleep(&d, NULL);
    }
    if (ts->cancel_after_first)
        *ts->cancel_after_first = 1;
    if (off >= ts->fail_at)
        return ts->fail_code ? ts->fail_code : 0;
    if (len > ts->fail_at - off)
        len = ts->fail_at - off;
    memcpy(buf, ts->data + off, len);
    if (ts->seen)
        for (size_t i = 0; i < len; i++)
            ts->seen[off + i]++;
    return (ssize_t)len;
}

static ssize_t liar_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
    (void)ctx;
    (void)off;
    memset(buf, 'L', len);
    return (ssize_t)len + 1;
}

/* 3 MiB: EICAR first, then filler. */
static uint8_t *big_object(size_t *len)
{
    *len = 3 * 1024 * 1024;
    uint8_t *d = malloc(*len);
    assert_non_null(d);
    memset(d, 'A', *len);
    memcpy(d, T.eicar, EICAR_LEN);
    return d;
}

static void test_read_errors(void **state)
{
    (void)state;
    pal_scanner *sc = NULL;
    pal_report rep;
    size_t len;
    uint8_t *d = big_object(&len);
    assert_int_equal(pal_scanner_new(T.profiles[0].eng, &sc), 0);

    /* fails after 1 MiB: what was read is still matched; unscannable read-error too */
    test_source ts = {.data = d, .len = len, .fail_at = 1024 * 1024, .fail_code = PAL_EIO};
    pal_source src = {.size = len, .read_at = test_read_at, .ctx = &ts};
    assert_int_equal(pal_scan(sc, &src, "/x/failing", NULL, &rep), 0);
    assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
    assert_int_equal(rep.reason, PAL_UNSCANNABLE_READ_ERROR);
    assert_string_equal(rep.reason_chain, "/x/failing");
    assert_false(rep.sha256_valid);
    assert_int_equal(rep.bytes_read, 1024 * 1024);
    assert_string_equal(rep.findings[0].matched_by, "yara:EICAR_At_Start");
    pal_report_free(&rep);

    /* shorter than its size, and nothing in it */
    memset(d, 'B', EICAR_LEN);
    ts = (test_source){.data = d, .len = len, .fail_at = 5000, .fail_code = 0};
    assert_int_equal(pal_scan(sc, &src, "/x/short", NULL, &rep), 0);
    assert_int_equal(rep.verdict, PAL_VERDICT_UNSCANNABLE);
    assert_int_equal(rep.reason, PAL_UNSCANNABLE_READ_ERROR);
    assert_non_null(strstr(rep.reason_detail, "ended"));
    assert_int_equal(rep.bytes_read, 5000);
    pal_report_free(&rep);

    /* a source that claims to have read more than it was asked */
    pal_source liar = {.size = 10, .read_at = liar_read_at, .ctx = NULL};
    assert_int_equal(pal_scan(sc, &liar, "/x/liar", NULL, &rep), 0);
    assert_int_equal(rep.verdict, PAL_VERDICT_UNSCANNABLE);
    assert_int_equal(rep.reason, PAL_UNSCANNABLE_READ_ERROR);
    assert_int_equal(rep.bytes_read, 0);
    pal_report_free(&rep);

    /* larger than the object size limit: not read at all */
    pal_scanner *small = NULL;
    const profile *size_profile = get_profile("size");
    assert_non_null(size_profile);
    if (!size_profile)
        return;
    assert_int_equal(pal_scanner_new((pal_engine *)size_profile->eng, &small), 0);
    ts = (test_source){.data = d, .len = len, .fail_at = len};
    assert_int_equal(pal_scan(small, &src, "/x/big", NULL, &rep), 0);
    assert_int_equal(rep.verdict, PAL_VERDICT_UNSCANNABLE);
    assert_int_equal(rep.reason, PAL_UNSCANNABLE_TOO_LARGE);
    assert_int_equal(ts.reads, 0);
    assert_int_equal(rep.bytes_read, 0);
    pal_report_free(&rep);
    pal_scanner_free(small);

    pal_scanner_free(sc);
    free(d);
}

/*
 * Objects above the 4 MiB kept-buffer size are read into a fresh mapping of huge pages
 * (engine.c reserve_top) that is unmapped after the scan: the same scanner, one after the
 * other, large, larger, small, then large again cut short by the source, all match whole
 * and hash right.
 */
static void test_large_objects(void **state)
{
    (void)state;
    pal_scanner *sc = NULL;
    pal_report rep;
    assert_int_equal(pal_scanner_new(T.profiles[0].eng, &sc), 0);
    size_t sizes[] = {9U * 1024 * 1024 + 123, 4U * 1024 * 1024 + 1, 1000, (6U << 20) + 4096,
                      2U * 1024 * 1024 * 3};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t len = sizes[i];
        uint8_t *d = malloc(len);
        assert_non_null(d);
        for (size_t k = 0; k < len; k++)
            d[k] = (uint8_t)('a' + (k * 7 + i) % 26);
        memcpy(d, T.eicar, EICAR_LEN);
        uint8_t want[32];
        sha256(d, len, want);
        test_source ts = {.data = d, .len = len, .fail_at = len};
        pal_source src = {.size = len, .read_at = test_read_at, .ctx = &ts};
        assert_int_equal(pal_scan(sc, &src, "/x/large", NULL, &rep), 0);
        assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
        assert_int_equal(rep.bytes_read, len);
        assert_true(rep.sha256_valid);
        assert_memory_equal(rep.sha256, want, 32);
        pal_report_free(&rep);
        /* cut short by the source after 4 MiB + 1: what was read is matched */
        ts = (test_source){.data = d, .len = len, .fail_at = (4U << 20) + 1, .fail_code = PAL_EIO};
        assert_int_equal(pal_scan(sc, &src, "/x/large-cut", NULL, &rep), 0);
        if (len > (4U << 20) + 1) {
            assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
            assert_int_equal(rep.reason, PAL_UNSCANNABLE_READ_ERROR);
            assert_false(rep.sha256_valid);
        }
        pal_report_free(&rep);
        free(d);
    }
    pal_scanner_free(sc);
}

/* No byte is pulled from the source twice, containers included. */
static void test_each_byte_read_once(void **state)
{
    (void)state;
    static const char *const files[] = {"zip.zip",    "7z-LZMA2.7z", "tar.tar.gz",
                                        "iso-rr.iso", "d16.zip",     "random-1m.bin"};
    pal_scanner *sc = NULL;
    assert_int_equal(pal_scanner_new(T.profiles[0].eng, &sc), 0);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[1500];
        snprintf(path, sizeof(path), "%s/%s", T.corpus, files[i]);
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        size_t len = (size_t)ftell(f);
        rewind(f);
        uint8_t *d = malloc(len);
        uint8_t *seen = calloc(len, 1);
        assert_non_null(d);
        assert_non_null(seen);
        assert_int_equal(fread(d, 1, len, f), len);
        fclose(f);
        test_source ts = {.data = d, .len = len, .fail_at = len, .seen = seen};
        pal_source src = {.size = len, .read_at = test_read_at, .ctx = &ts};
        pal_report rep;
        assert_int_equal(pal_scan(sc, &src, files[i], NULL, &rep), 0);
        for (size_t k = 0; k < len; k++)
            if (seen[k] != 1)
                fail_msg("%s: byte %zu read %u times", files[i], k, seen[k]);
        assert_int_equal(rep.bytes_read, len);
        assert_int_not_equal(rep.verdict, PAL_VERDICT_UNSCANNABLE);
        pal_report_free(&rep);
        free(seen);
        free(d);
    }
    pal_scanner_free(sc);
}

static void test_cancel(void **state)
{
    (void)state;
    pal_scanner *sc = NULL;
    pal_report rep;
    size_t len;
    uint8_t *d = big_object(&len);
    assert_int_equal(pal_scanner_new(T.profiles[0].eng, &sc), 0);

    volatile int cancel = 1; /* raised before the scan starts */
    test_source ts = {.data = d, .len = len, .fail_at = len};
    pal_source src = {.size = len, .read_at = test_read_at, .ctx = &ts};
    assert_int_equal(pal_scan(sc, &src, "/x/c1", &cancel, &rep), 0);
    assert_int_equal(rep.verdict, PAL_VERDICT_UNSCANNABLE);
    assert_int_equal(rep.reason, PAL_UNSCANNABLE_CANCELLED);
    assert_string_equal(rep.reason_chain, "/x/c1");
    assert_int_equal(ts.reads, 0);
    pal_report_free(&rep);

    /* raised during the read: the scan stops without matching */
    cancel = 0;
    ts = (test_source){.data = d, .len = len, .fail_at = len, .cancel_after_first = &cancel};
    assert_int_equal(pal_scan(sc, &src, "/x/c2", &cancel, &rep), 0);
    assert_int_equal(rep.verdict, PAL_VERDICT_UNSCANNABLE);
    assert_int_equal(rep.reason, PAL_UNSCANNABLE_CANCELLED);
    assert_int_equal(ts.reads, 1);
    assert_int_equal(rep.objects_scanned, 0);
    pal_report_free(&rep);

    /* a flag that stays 0 changes nothing */
    cancel = 0;
    ts = (test_source){.data = d, .len = len, .fail_at = len};
    assert_int_equal(pal_scan(sc, &src, "/x/c3", &cancel, &rep), 0);
    assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
    assert_int_equal(rep.reason, PAL_UNSCANNABLE_NONE);
    pal_report_free(&rep);

    pal_scanner_free(sc);
    free(d);
}

/* A source slower than the whole time budget: the scan ends with "timeout". Each read
   sleeps 5 ms against a 1 ms budget, so this does not depend on the machine's speed. */
static void test_timeout(void **state)
{
    (void)state;
    pal_limits lim;
    pal_limits_default(&lim);
    lim.max_scan_ms = 1;
    pal_engine *eng = new_engine(PKG_MAIN, &lim);
    pal_scanner *sc = NULL;
    pal_report rep;
    size_t len;
    uint8_t *d = big_object(&len);
    assert_int_equal(pal_scanner_new(eng, &sc), 0);
    test_source ts = {.data = d, .len = len, .fail_at = len, .sleep_ms = 5};
    pal_source src = {.size = len, .read_at = test_read_at, .ctx = &ts};
    assert_int_equal(pal_scan(sc, &src, "/x/slow", NULL, &rep), 0);
    assert_int_equal(rep.verdict, PAL_VERDICT_UNSCANNABLE);
    assert_int_equal(rep.reason, PAL_UNSCANNABLE_TIMEOUT);
    assert_true(ts.reads < 3);
    pal_report_free(&rep);
    pal_scanner_free(sc);
    pal_engine_free(eng);
    free(d);
}

/* Hostile bytes: every prefix and many single-byte mutations of a few containers scan
   without crashing and give a coherent report (the ASan build checks memory). */
static void test_mutations(void **state)
{
    (void)state;
    static const char *const files[] = {"zip.zip",       "7z-LZMA2.7z", "tar.tar.gz",
                                        "cab-mszip.cab", "xar.xar",     "cpio-newc.cpio"};
    pal_scanner *sc = NULL;
    assert_int_equal(pal_scanner_new(T.profiles[0].eng, &sc), 0);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[1500];
        snprintf(path, sizeof(path), "%s/%s", T.corpus, files[i]);
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        size_t len = (size_t)ftell(f);
        rewind(f);
        uint8_t *d = malloc(len);
        assert_non_null(d);
        assert_int_equal(fread(d, 1, len, f), len);
        fclose(f);
        size_t step = len / 64 + 1;
        for (size_t cut = 0; cut < len; cut += step) {
            pal_report rep;
            pal_source src;
            pal_source_from_memory(&src, d, cut);
            assert_int_equal(pal_scan(sc, &src, files[i], NULL, &rep), 0);
            assert_true(rep.verdict != PAL_VERDICT_UNSCANNABLE ||
                        rep.reason != PAL_UNSCANNABLE_NONE);
            pal_report_free(&rep);
        }
        uint64_t x = 88172645463325252ULL + i;
        for (int k = 0; k < 150; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t pos = (size_t)(x % len);
            uint8_t old = d[pos];
            d[pos] ^= (uint8_t)(1u << (x >> 61));
            pal_report rep;
            pal_source src;
            pal_source_from_memory(&src, d, len);
            assert_int_equal(pal_scan(sc, &src, files[i], NULL, &rep), 0);
            assert_true(rep.verdict == PAL_VERDICT_THREAT || rep.n_findings == 0);
            pal_report_free(&rep);
            d[pos] = old;
        }
        free(d);
    }
    pal_scanner_free(sc);
}

/* memsource: reads stay inside the buffer whatever offset the reader asks for (the content
   process chooses them), short at the end, 0 at and past it; bytes are counted. */
static void test_memsource_bounds(void **state)
{
    (void)state;
    static const char data[] = "0123456789";
    pal_memsource ms;
    pal_source src;
    pal_memsource_init(&ms, data, 10, &src);
    assert_int_equal(src.size, 10);
    char buf[32];
    memset(buf, 'z', sizeof(buf));
    assert_int_equal(src.read_at(src.ctx, 0, buf, 4), 4);
    assert_memory_equal(buf, "0123", 4);
    assert_int_equal(src.read_at(src.ctx, 7, buf, sizeof(buf)), 3);
    assert_memory_equal(buf, "789", 3);
    assert_int_equal(buf[3], '3'); /* nothing written past what was read */
    assert_int_equal(src.read_at(src.ctx, 10, buf, 4), 0);
    assert_int_equal(src.read_at(src.ctx, UINT64_MAX, buf, 4), 0);
    assert_int_equal(ms.bytes_read, 7);
    pal_memsource_init(&ms, NULL, 5, &src); /* no data: an empty object */
    assert_int_equal(src.size, 0);
    assert_int_equal(src.read_at(src.ctx, 0, buf, 4), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_defaults),
        cmocka_unit_test(test_libarchive_support),
        cmocka_unit_test(test_engine_new_rejects),
        cmocka_unit_test(test_eicar_raw_hash_and_rule),
        cmocka_unit_test(test_parked_rules_reload),
        cmocka_unit_test(test_member_hash),
        cmocka_unit_test(test_all_matches_and_dedupe),
        cmocka_unit_test(test_clean_controls),
        cmocka_unit_test(test_zero_prefix_stream),
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_starter_samples),
        cmocka_unit_test(test_threads_agree),
        cmocka_unit_test(test_report_independent_of_history),
        cmocka_unit_test(test_scan_in_place),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_memsource_bounds),
        cmocka_unit_test(test_each_byte_read_once),
        cmocka_unit_test(test_large_objects),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests_name("engine", tests, group_setup, group_teardown);
}
