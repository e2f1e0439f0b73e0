/*
 * test_sigpkg.c — the signature package: builder, reader, keyring, and the reader's refusal
 * of every kind of damaged, truncated, re-signed-but-malformed or foreign-signed package.
 *
 * Packages are built with the real builder into a temporary directory with fresh keys.
 * Damaged variants are fed to the reader through a memfd, so that hundreds of variants
 * cost no disk I/O.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <yara.h>

#include "sigbuild.h"
#include "sigpkg.h"
#include "sigpkg_format.h"

#define N_THREATS 40
#define N_HASHES 300
#define MARKER_ONE "PALISADE-TEST-MARKER-ONE"
#define MARKER_TWO "PALISADE-TEST-MARKER-TWO"

static const char test_rules[] = "private rule big_enough { condition: filesize > 4 }\n"
                                 "rule marker_one {\n"
                                 "  meta:\n"
                                 "    threat = \"Trojan:Linux/Test01.B\"\n"
                                 "    note = 7\n"
                                 "  strings:\n"
                                 "    $a = \"" MARKER_ONE "\"\n"
                                 "  condition:\n"
                                 "    big_enough and $a\n"
                                 "}\n"
                                 "rule marker_two {\n"
                                 "  meta:\n"
                                 "    threat = \"Virus:Linux/Test02.C\"\n"
                                 "  strings:\n"
                                 "    $a = \"" MARKER_TWO "\"\n"
                                 "  condition:\n"
                                 "    $a\n"
                                 "}\n";

/* Shared fixture: keys and one valid package, built once. */
static char tmpdir[64];
static char key_a[128], key_b[128], pub_a[128], pub_b[128], pkg_path[128];
static uint8_t *pkg_bytes;
static size_t pkg_len;
static pal_keyring *ring_a;
static uint8_t key_a_id[PAL_KEY_ID_LEN];

static void threat_name(int i, char *buf, size_t len)
{
    /* two platforms, so that the catalog order differs from the insertion order */
    snprintf(buf, len, "%s:Linux/Test%02d.%c", i % 2 ? "Trojan" : "Virus", i, 'A' + i % 3);
}

static const char *category_of(int i)
{
    static const char *const cats[] = {"Trojan", "Virus", "Backdoor", "PUA"};
    return cats[i % 4];
}

static void sample_hash(int i, uint8_t out[32])
{
    char s[32];
    int n = snprintf(s, sizeof(s), "sample-%d", i);
    SHA256((const uint8_t *)s, (size_t)n, out);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rbe");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void path_in_tmp(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", tmpdir, name);
}

/* The standard test package: N_THREATS threats (added in reverse order), N_HASHES hashes,
   two reporting rules and one private rule. */
static void fill_builder(pal_sigbuild *b)
{
    pal_errbuf err;
    char name[64];
    for (int i = N_THREATS - 1; i >= 0; i--) {
        threat_name(i, name, sizeof(name));
        assert_int_equal(pal_sigbuild_add_threat(b, name, (pal_severity)(1 + i % 4), category_of(i),
                                                 (pal_action)(1 + i % 3), &err),
                         0);
    }
    for (int i = 0; i < N_HASHES; i++) {
        uint8_t h[32];
        sample_hash(i, h);
        threat_name(i % N_THREATS, name, sizeof(name));
        assert_int_equal(pal_sigbuild_add_sha256(b, h, name, &err), 0);
    }
    assert_int_equal(pal_sigbuild_add_rules(b, test_rules, "test.yar", &err), 0);
}

static void build_standard(const char *key, const char *out)
{
    pal_sigbuild *b = NULL;
    pal_errbuf err = {.msg = ""};
    assert_int_equal(pal_sigbuild_new(&b), 0);
    fill_builder(b);
    int rc = pal_sigbuild_write(b, 42, 1700000000, key, out, &err);
    if (rc)
        fail_msg("write: %s", err.msg);
    pal_sigbuild_free(b);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/pal-test-sigpkg-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    char prefix[128];
    pal_errbuf err;
    path_in_tmp(prefix, sizeof(prefix), "a");
    if (pal_sigbuild_keygen(prefix, &err))
        return -1;
    path_in_tmp(prefix, sizeof(prefix), "b");
    if (pal_sigbuild_keygen(prefix, &err))
        return -1;
    path_in_tmp(key_a, sizeof(key_a), "a.key");
    path_in_tmp(pub_a, sizeof(pub_a), "a.pub");
    path_in_tmp(key_b, sizeof(key_b), "b.key");
    path_in_tmp(pub_b, sizeof(pub_b), "b.pub");
    path_in_tmp(pkg_path, sizeof(pkg_path), "std.sig");
    build_standard(key_a, pkg_path);
    pkg_bytes = slurp(pkg_path, &pkg_len);
    if (pal_keyring_new(&ring_a) || pal_keyring_add_pem_file(ring_a, pub_a, &err))
        return -1;
    uint8_t sig[64];
    if (pal_sigbuild_sign_bytes(key_a, "x", 1, sig, key_a_id, &err))
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(pkg_bytes);
    pal_keyring_free(ring_a);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Open bytes through a memfd, as the content process opens an fd it was handed. */
static int open_bytes(const uint8_t *buf, size_t len, const pal_keyring *kr, unsigned flags,
                      pal_sigpkg **out, pal_errbuf *err)
{
    int fd = memfd_create("pkg", MFD_CLOEXEC);
    assert_true(fd >= 0);
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        assert_true(n > 0);
        done += (size_t)n;
    }
    int rc = pal_sigpkg_open_fd(fd, kr, flags, out, err);
    close(fd);
    return rc;
}

static void resign(uint8_t *buf, size_t len)
{
    pal_errbuf err;
    assert_true(len > PAL_SIGPKG_SIG_SIZE);
    int rc = pal_sigbuild_sign_bytes(key_a, buf, len - PAL_SIGPKG_SIG_SIZE,
                                     buf + len - PAL_SIGPKG_SIG_SIZE, NULL, &err);
    assert_int_equal(rc, 0);
}

static uint8_t *copy_pkg(void)
{
    uint8_t *c = malloc(pkg_len);
    assert_non_null(c);
    memcpy(c, pkg_bytes, pkg_len);
    return c;
}

/* ---- names ---------------------------------------------------------------------------------- */

static void test_severity_action_names(void **state)
{
    (void)state;
    pal_severity s;
    pal_action a;
    assert_string_equal(pal_severity_name(PAL_SEV_LOW), "Low");
    assert_string_equal(pal_severity_name(PAL_SEV_MODERATE), "Moderate");
    assert_string_equal(pal_severity_name(PAL_SEV_HIGH), "High");
    assert_string_equal(pal_severity_name(PAL_SEV_SEVERE), "Severe");
    assert_null(pal_severity_name((pal_severity)0));
    assert_null(pal_severity_name((pal_severity)5));
    assert_int_equal(pal_severity_parse("severe", &s), 0);
    assert_int_equal(s, PAL_SEV_SEVERE);
    assert_int_equal(pal_severity_parse("MODERATE", &s), 0);
    assert_int_equal(s, PAL_SEV_MODERATE);
    assert_int_equal(pal_severity_parse("Critical", &s), PAL_EINVAL);
    assert_int_equal(pal_severity_parse("", &s), PAL_EINVAL);
    assert_int_equal(pal_severity_parse("Low ", &s), PAL_EINVAL);

    assert_string_equal(pal_action_name(PAL_ACTION_QUARANTINE), "Quarantine");
    assert_string_equal(pal_action_name(PAL_ACTION_REMOVE), "Remove");
    assert_string_equal(pal_action_name(PAL_ACTION_NOACTION), "NoAction");
    assert_null(pal_action_name((pal_action)0));
    assert_null(pal_action_name((pal_action)4));
    assert_int_equal(pal_action_parse("noaction", &a), 0);
    assert_int_equal(a, PAL_ACTION_NOACTION);
    assert_int_equal(pal_action_parse("Quarantine", &a), 0);
    assert_int_equal(a, PAL_ACTION_QUARANTINE);
    assert_int_equal(pal_action_parse("Clean", &a), PAL_EINVAL);
}

/* ---- a valid package ------------------------------------------------------------------------ */

static void test_valid_package_opens(void **state)
{
    (void)state;
    pal_sigpkg *pkg = NULL;
    pal_errbuf err = {.msg = ""};
    int rc = pal_sigpkg_open_path(pkg_path, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err);
    if (rc)
        fail_msg("open: %s", err.msg);
    pal_sigpkg_info info;
    pal_sigpkg_get_info(pkg, &info);
    assert_int_equal(info.format_version, 1);
    assert_int_equal(info.version, 42);
    assert_int_equal(info.created, 1700000000);
    assert_memory_equal(info.key_id, key_a_id, PAL_KEY_ID_LEN);
    assert_int_equal(info.threat_count, N_THREATS);
    assert_int_equal(info.hash_count, N_HASHES);
    assert_int_equal(info.rule_count, 3); /* the private rule counts too */
    assert_int_equal(info.file_size, pkg_len);
    assert_int_equal(info.catalog_bytes, N_THREATS * PAL_SIGPKG_CATALOG_ENTRY_SIZE);

    pal_sigpkg_layout lay;
    pal_sigpkg_get_layout(pkg, &lay);
    assert_int_equal(lay.body_len, pkg_len - 64);
    assert_int_equal(lay.hash_bucket_bits, 9); /* smallest 2^B >= 300 */
    assert_int_equal(lay.hash_len, (512 + 1) * 4 + N_HASHES * PAL_SIGPKG_HASH_ENTRY_SIZE);
    assert_true(lay.catalog_off >= 128 && lay.strings_off >= lay.catalog_off + lay.catalog_len);
    assert_true(lay.hash_off >= lay.strings_off + lay.strings_len);
    assert_true(lay.yara_off >= lay.hash_off + lay.hash_len);
    assert_int_equal(lay.yara_off + lay.yara_len, lay.body_len);

    const void *base;
    size_t len;
    pal_sigpkg_mapping(pkg, &base, &len);
    assert_int_equal(len, pkg_len);
    assert_memory_equal(base, pkg_bytes, pkg_len);
    const void *blob;
    size_t blob_len;
    pal_sigpkg_yara_blob(pkg, &blob, &blob_len);
    assert_ptr_equal(blob, (const uint8_t *)base + lay.yara_off);
    assert_int_equal(blob_len, lay.yara_len);
    assert_memory_equal(blob, "YARA", 4);
    pal_sigpkg_free(pkg);

    /* Structure-only open (content process) accepts it without keys. */
    pkg = NULL;
    assert_int_equal(pal_sigpkg_open_path(pkg_path, NULL, 0, &pkg, &err), 0);
    pal_sigpkg_free(pkg);
    pal_sigpkg_free(NULL);
}

static void test_lookups(void **state)
{
    (void)state;
    pal_sigpkg *pkg = NULL;
    pal_errbuf err;
    assert_int_equal(pal_sigpkg_open_path(pkg_path, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    const void *base;
    size_t maplen;
    pal_sigpkg_mapping(pkg, &base, &maplen);
    const char *lo = base, *hi = lo + maplen;

    char name[64];
    pal_threat t;
    const char *prev = NULL;
    for (uint32_t id = 0; id < N_THREATS; id++) {
        assert_int_equal(pal_sigpkg_threat(pkg, id, &t), 0);
        assert_int_equal(t.id, id);
        if (prev)
            assert_true(strcmp(prev, t.name) < 0); /* the catalog is sorted */
        prev = t.name;
        /* lookups hand out pointers into the mapping: nothing is copied */
        assert_true(t.name >= lo && t.name < hi);
        assert_true(t.category >= lo && t.category < hi);
    }
    assert_int_equal(pal_sigpkg_threat(pkg, N_THREATS, &t), PAL_ENOTFOUND);
    assert_int_equal(pal_sigpkg_threat(pkg, UINT32_MAX, &t), PAL_ENOTFOUND);

    for (int i = 0; i < N_THREATS; i++) {
        threat_name(i, name, sizeof(name));
        assert_int_equal(pal_sigpkg_find_threat(pkg, name, &t), 0);
        assert_string_equal(t.name, name);
        assert_string_equal(t.category, category_of(i));
        assert_int_equal(t.severity, 1 + i % 4);
        assert_int_equal(t.default_action, 1 + i % 3);
        pal_threat again;
        assert_int_equal(pal_sigpkg_threat(pkg, t.id, &again), 0);
        assert_ptr_equal(again.name, t.name);
    }
    assert_int_equal(pal_sigpkg_find_threat(pkg, "", &t), PAL_ENOTFOUND);
    assert_int_equal(pal_sigpkg_find_threat(pkg, "Trojan:Linux/Test01", &t), PAL_ENOTFOUND);
    assert_int_equal(pal_sigpkg_find_threat(pkg, "Trojan:Linux/Test01.AA", &t), PAL_ENOTFOUND);
    assert_int_equal(pal_sigpkg_find_threat(pkg, "Aaa", &t), PAL_ENOTFOUND);
    assert_int_equal(pal_sigpkg_find_threat(pkg, "zzz", &t), PAL_ENOTFOUND);

    for (int i = 0; i < N_HASHES; i++) {
        uint8_t h[32];
        uint32_t id = UINT32_MAX;
        sample_hash(i, h);
        assert_int_equal(pal_sigpkg_lookup_sha256(pkg, h, &id), 0);
        assert_int_equal(pal_sigpkg_threat(pkg, id, &t), 0);
        threat_name(i % N_THREATS, name, sizeof(name));
        assert_string_equal(t.name, name);
        /* a hash differing in one bit, at the start (other bucket) or the end (same bucket) */
        h[0] ^= 0x80;
        assert_int_equal(pal_sigpkg_lookup_sha256(pkg, h, &id), PAL_ENOTFOUND);
        h[0] ^= 0x80;
        h[31] ^= 0x01;
        assert_int_equal(pal_sigpkg_lookup_sha256(pkg, h, &id), PAL_ENOTFOUND);
    }
    uint8_t zero[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof(ones));
    uint32_t id;
    assert_int_equal(pal_sigpkg_lookup_sha256(pkg, zero, &id), PAL_ENOTFOUND);
    assert_int_equal(pal_sigpkg_lookup_sha256(pkg, ones, &id), PAL_ENOTFOUND);
    pal_sigpkg_free(pkg);
}

struct match_ctx {
    char threats[4][64];
    int n;
};

static int match_cb(YR_SCAN_CONTEXT *ctx, int msg, void *data, void *user)
{
    (void)ctx;
    struct match_ctx *m = user;
    if (msg != CALLBACK_MSG_RULE_MATCHING)
        return CALLBACK_CONTINUE;
    const YR_RULE *rule = data;
    const YR_META *meta;
    yr_rule_metas_foreach(rule, meta)
    {
        if (strcmp(meta->identifier, "threat") == 0 && m->n < 4)
            snprintf(m->threats[m->n++], sizeof(m->threats[0]), "%s", meta->string);
    }
    return CALLBACK_CONTINUE;
}

struct mem_stream {
    const uint8_t *p;
    size_t len, pos;
};

static size_t mem_read(void *ptr, size_t size, size_t count, void *user)
{
    struct mem_stream *s = user;
    if (size == 0 || (s->len - s->pos) / size < count)
        return 0;
    memcpy(ptr, s->p + s->pos, size * count);
    s->pos += size * count;
    return count;
}

/* The blob in the package is what the engine will load: it must load and match. */
static void test_yara_blob_loads_and_matches(void **state)
{
    (void)state;
    pal_sigpkg *pkg = NULL;
    pal_errbuf err;
    assert_int_equal(pal_sigpkg_open_path(pkg_path, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    const void *blob;
    size_t len;
    pal_sigpkg_yara_blob(pkg, &blob, &len);
    assert_int_equal(yr_initialize(), ERROR_SUCCESS);
    struct mem_stream ms = {.p = blob, .len = len};
    YR_STREAM stream = {.user_data = &ms, .read = mem_read};
    YR_RULES *rules = NULL;
    assert_int_equal(yr_rules_load_stream(&stream, &rules), ERROR_SUCCESS);

    static const char data[] = "some text " MARKER_ONE " more text";
    struct match_ctx m = {.n = 0};
    assert_int_equal(
        yr_rules_scan_mem(rules, (const uint8_t *)data, sizeof(data) - 1, 0, match_cb, &m, 0),
        ERROR_SUCCESS);
    assert_int_equal(m.n, 1);
    assert_string_equal(m.threats[0], "Trojan:Linux/Test01.B");
    pal_threat t;
    assert_int_equal(pal_sigpkg_find_threat(pkg, m.threats[0], &t), 0);

    m.n = 0;
    static const char clean[] = "nothing to see here";
    assert_int_equal(
        yr_rules_scan_mem(rules, (const uint8_t *)clean, sizeof(clean) - 1, 0, match_cb, &m, 0),
        ERROR_SUCCESS);
    assert_int_equal(m.n, 0);
    yr_rules_destroy(rules);
    yr_finalize();
    pal_sigpkg_free(pkg);
}

/* ---- damaged packages ----------------------------------------------------------------------- */

static int refused_code(int rc)
{
    return rc == PAL_EFORMAT || rc == PAL_EVERSION || rc == PAL_ESIGNATURE || rc == PAL_EUNKNOWNKEY;
}

/* Flip bits of one byte of the package held in memfd fd, open it, restore the byte. */
static void expect_refused_flip(int fd, size_t pos, uint8_t mask)
{
    pal_sigpkg *pkg = NULL;
    pal_errbuf err = {.msg = ""};
    uint8_t flipped = pkg_bytes[pos] ^ mask;
    assert_int_equal(pwrite(fd, &flipped, 1, (off_t)pos), 1);
    int rc = pal_sigpkg_open_fd(fd, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err);
    assert_int_equal(pwrite(fd, &pkg_bytes[pos], 1, (off_t)pos), 1);
    if (rc == 0)
        fail_msg("flipping byte %zu (mask 0x%02x) was accepted", pos, mask);
    if (!refused_code(rc))
        fail_msg("flipping byte %zu: unexpected code %d (%s)", pos, rc, err.msg);
    assert_null(pkg);
    assert_true(err.msg[0] != '\0');
    if (pos >= PAL_SIGPKG_H_KEY_ID && pos < PAL_SIGPKG_H_KEY_ID + PAL_KEY_ID_LEN) {
        assert_int_equal(rc, PAL_EUNKNOWNKEY);
        assert_non_null(strstr(err.msg, "signed by unknown key "));
    }
    if (pos >= pkg_len - PAL_SIGPKG_SIG_SIZE) {
        assert_int_equal(rc, PAL_ESIGNATURE);
        assert_non_null(strstr(err.msg, "signature does not verify"));
    }
}

static void test_flipped_bytes_refused(void **state)
{
    (void)state;
    pal_sigpkg_layout lay;
    pal_sigpkg *pkg = NULL;
    pal_errbuf err;
    assert_int_equal(open_bytes(pkg_bytes, pkg_len, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    pal_sigpkg_get_layout(pkg, &lay);
    pal_sigpkg_free(pkg);
    int fd = memfd_create("pkg", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, pkg_bytes, pkg_len), (ssize_t)pkg_len);

    /* Every byte of the header, catalog, string pool, bucket index, padding and signature
       with two masks; every 5th byte of the hash entries and every 13th of the YARA blob
       (uniform content, where more positions would add time, not coverage). */
    uint64_t entries_off = lay.hash_off + (((uint64_t)1 << lay.hash_bucket_bits) + 1) * 4;
    size_t tested = 0;
    for (size_t pos = 0; pos < pkg_len; pos++) {
        int in_yara = pos >= lay.yara_off && pos < lay.yara_off + lay.yara_len;
        int in_entries = pos >= entries_off && pos < lay.hash_off + lay.hash_len;
        if (in_yara && (pos - lay.yara_off) % 13 != 0)
            continue;
        if (in_entries && (pos - entries_off) % 5 != 0)
            continue;
        expect_refused_flip(fd, pos, 0x01);
        if (!in_yara && !in_entries)
            expect_refused_flip(fd, pos, 0x80);
        tested++;
    }
    assert_true(tested > 4000);
    /* the loop restored every byte */
    assert_int_equal(pal_sigpkg_open_fd(fd, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    pal_sigpkg_free(pkg);
    close(fd);
}

static void test_truncated_and_extended_refused(void **state)
{
    (void)state;
    size_t lens[] = {
        0,   1,   8,   64,          127,          128,          129,          191,
        192, 193, 256, pkg_len / 2, pkg_len - 65, pkg_len - 64, pkg_len - 63, pkg_len - 1};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        pal_sigpkg *pkg = NULL;
        pal_errbuf err = {.msg = ""};
        int rc = open_bytes(pkg_bytes, lens[i], ring_a, PAL_SIGPKG_VERIFY, &pkg, &err);
        if (rc != PAL_EFORMAT)
            fail_msg("truncated to %zu: rc %d (%s)", lens[i], rc, err.msg);
        assert_null(pkg);
        /* structure-only open refuses it too */
        rc = open_bytes(pkg_bytes, lens[i], NULL, 0, &pkg, &err);
        assert_int_equal(rc, PAL_EFORMAT);
    }
    pal_sigpkg *pkg = NULL;
    pal_errbuf err = {.msg = ""};
    assert_int_equal(open_bytes(pkg_bytes, 100, NULL, 0, &pkg, &err), PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "file too small (100 bytes)"));
    assert_int_equal(open_bytes(pkg_bytes, pkg_len - 1, NULL, 0, &pkg, &err), PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "body length"));

    uint8_t *longer = malloc(pkg_len + 1);
    assert_non_null(longer);
    memcpy(longer, pkg_bytes, pkg_len);
    longer[pkg_len] = 0;
    assert_int_equal(open_bytes(longer, pkg_len + 1, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err),
                     PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "body length"));
    free(longer);
}

static void test_unknown_key(void **state)
{
    (void)state;
    char path[160];
    path_in_tmp(path, sizeof(path), "by-b.sig");
    build_standard(key_b, path);
    pal_sigpkg *pkg = NULL;
    pal_errbuf err = {.msg = ""};
    assert_int_equal(pal_sigpkg_open_path(path, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err),
                     PAL_EUNKNOWNKEY);
    assert_null(pkg);
    uint8_t sig[64], id_b[PAL_KEY_ID_LEN];
    assert_int_equal(pal_sigbuild_sign_bytes(key_b, "x", 1, sig, id_b, &err), 0);
    char hex[2 * PAL_KEY_ID_LEN + 1], want[64];
    pal_key_id_hex(id_b, hex);
    snprintf(want, sizeof(want), "signed by unknown key %s", hex);
    assert_int_equal(pal_sigpkg_open_path(path, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err),
                     PAL_EUNKNOWNKEY);
    assert_string_equal(err.msg, want);

    /* Trusting both keys accepts it; trusting only b refuses the package signed by a. */
    pal_keyring *both = NULL, *only_b = NULL;
    assert_int_equal(pal_keyring_new(&both), 0);
    assert_int_equal(pal_keyring_add_pem_file(both, pub_a, &err), 0);
    assert_int_equal(pal_keyring_add_pem_file(both, pub_b, &err), 0);
    assert_int_equal(pal_keyring_count(both), 2);
    assert_int_equal(pal_sigpkg_open_path(path, both, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    pal_sigpkg_free(pkg);
    pkg = NULL;
    assert_int_equal(pal_sigpkg_open_path(pkg_path, both, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    pal_sigpkg_free(pkg);
    pkg = NULL;
    assert_int_equal(pal_keyring_new(&only_b), 0);
    assert_int_equal(pal_keyring_add_pem_file(only_b, pub_b, &err), 0);
    assert_int_equal(pal_sigpkg_open_path(pkg_path, only_b, PAL_SIGPKG_VERIFY, &pkg, &err),
                     PAL_EUNKNOWNKEY);

    /* Key id of a, signature by b: the id is known but the signature must not verify. */
    size_t blen;
    uint8_t *buf = slurp(path, &blen);
    memcpy(buf + PAL_SIGPKG_H_KEY_ID, key_a_id, PAL_KEY_ID_LEN);
    assert_int_equal(pal_sigbuild_sign_bytes(key_b, buf, blen - 64, buf + blen - 64, NULL, &err),
                     0);
    assert_int_equal(open_bytes(buf, blen, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err), PAL_ESIGNATURE);
    assert_non_null(strstr(err.msg, "signature does not verify"));
    free(buf);
    pal_keyring_free(both);
    pal_keyring_free(only_b);
}

/* ---- malformed but correctly signed --------------------------------------------------------- */

struct layout {
    uint64_t cat_off, str_off, str_len, hash_off, yara_off;
    uint32_t bits, threats, hashes;
};

static struct layout layout_of(const uint8_t *b)
{
    struct layout l = {
        .cat_off = pal_le64(b + PAL_SIGPKG_H_CATALOG_OFF),
        .str_off = pal_le64(b + PAL_SIGPKG_H_STRINGS_OFF),
        .str_len = pal_le64(b + PAL_SIGPKG_H_STRINGS_LEN),
        .hash_off = pal_le64(b + PAL_SIGPKG_H_HASH_OFF),
        .yara_off = pal_le64(b + PAL_SIGPKG_H_YARA_OFF),
        .bits = pal_le32(b + PAL_SIGPKG_H_BUCKET_BITS),
        .threats = pal_le32(b + PAL_SIGPKG_H_THREAT_COUNT),
        .hashes = pal_le32(b + PAL_SIGPKG_H_HASH_COUNT),
    };
    return l;
}

static uint8_t *hash_entry(uint8_t *b, const struct layout *l, uint32_t i)
{
    return b + l->hash_off + (((size_t)1 << l->bits) + 1) * 4 +
           (size_t)i * PAL_SIGPKG_HASH_ENTRY_SIZE;
}

static uint8_t *cat_entry(uint8_t *b, const struct layout *l, uint32_t i)
{
    return b + l->cat_off + (size_t)i * PAL_SIGPKG_CATALOG_ENTRY_SIZE;
}

/* First i with entries i and i+1 in the same bucket (exists: 300 hashes, 512 buckets). */
static uint32_t same_bucket_pair(uint8_t *b, const struct layout *l)
{
    for (uint32_t i = 0; i + 1 < l->hashes; i++)
        if (pal_sigpkg_bucket(hash_entry(b, l, i), l->bits) ==
            pal_sigpkg_bucket(hash_entry(b, l, i + 1), l->bits))
            return i;
    fail_msg("no two hashes share a bucket");
    return 0;
}

static void swap(uint8_t *a, uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

enum mutation {
    M_MAGIC,
    M_FORMAT_VERSION,
    M_RESERVED,
    M_BUCKET_BITS,
    M_BODY_LEN,
    M_CATALOG_OVERLAPS_HEADER,
    M_HASH_OFFSET_OUT_OF_RANGE,
    M_HASH_OFFSET_WRAPS,
    M_YARA_LEN_OUT_OF_RANGE,
    M_STRINGS_OVERLAP_CATALOG,
    M_SECTIONS_OUT_OF_ORDER,
    M_THREAT_COUNT,
    M_HASH_COUNT,
    M_NAME_OFFSET,
    M_CATEGORY_UNTERMINATED,
    M_NAME_NONPRINTABLE,
    M_NAME_EMPTY,
    M_SEVERITY_ZERO,
    M_SEVERITY_FIVE,
    M_ACTION,
    M_CATALOG_RESERVED,
    M_CATALOG_UNSORTED,
    M_CATALOG_DUPLICATE,
    M_HASHES_UNSORTED,
    M_HASH_DUPLICATE,
    M_HASH_WRONG_BUCKET,
    M_HASH_THREAT_ID,
    M_INDEX_START,
    M_INDEX_END,
    M_INDEX_INCONSISTENT,
    M_YARA_MAGIC,
    M_YARA_VERSION,
    M_COUNT
};

struct mutation_case {
    enum mutation m;
    int code;
    const char *msg;
};

static const struct mutation_case mutation_cases[] = {
    {M_MAGIC, PAL_EFORMAT, "bad magic"},
    {M_FORMAT_VERSION, PAL_EVERSION, "unsupported package format version 3"},
    {M_RESERVED, PAL_EFORMAT, "reserved header field is not zero"},
    {M_BUCKET_BITS, PAL_EFORMAT, "hash index bits 25 larger than 24"},
    {M_BODY_LEN, PAL_EFORMAT, "does not match file size"},
    {M_CATALOG_OVERLAPS_HEADER, PAL_EFORMAT, "catalog section offset 64 overlaps the header"},
    {M_HASH_OFFSET_OUT_OF_RANGE, PAL_EFORMAT, "hash table section offset"},
    {M_HASH_OFFSET_WRAPS, PAL_EFORMAT, "beyond end of body"},
    {M_YARA_LEN_OUT_OF_RANGE, PAL_EFORMAT, "yara section offset"},
    {M_STRINGS_OVERLAP_CATALOG, PAL_EFORMAT, "strings section offset"},
    {M_SECTIONS_OUT_OF_ORDER, PAL_EFORMAT, "overlaps the hash table"},
    {M_THREAT_COUNT, PAL_EFORMAT, "catalog length"},
    {M_HASH_COUNT, PAL_EFORMAT, "hash table length"},
    {M_NAME_OFFSET, PAL_EFORMAT, "outside the string pool"},
    {M_CATEGORY_UNTERMINATED, PAL_EFORMAT, "not NUL-terminated"},
    {M_NAME_NONPRINTABLE, PAL_EFORMAT, "non-printable byte 0x07"},
    {M_NAME_EMPTY, PAL_EFORMAT, "empty name"},
    {M_SEVERITY_ZERO, PAL_EFORMAT, "invalid severity 0"},
    {M_SEVERITY_FIVE, PAL_EFORMAT, "invalid severity 5"},
    {M_ACTION, PAL_EFORMAT, "invalid action 9"},
    {M_CATALOG_RESERVED, PAL_EFORMAT, "reserved field not zero"},
    {M_CATALOG_UNSORTED, PAL_EFORMAT, "catalog not sorted"},
    {M_CATALOG_DUPLICATE, PAL_EFORMAT, "catalog not sorted"},
    {M_HASHES_UNSORTED, PAL_EFORMAT, "hash entries not sorted"},
    {M_HASH_DUPLICATE, PAL_EFORMAT, "hash entries not sorted"},
    {M_HASH_WRONG_BUCKET, PAL_EFORMAT, "is not in bucket"},
    {M_HASH_THREAT_ID, PAL_EFORMAT, "threat id 40 not in the catalog"},
    {M_INDEX_START, PAL_EFORMAT, "bucket 0 does not start at 0"},
    {M_INDEX_END, PAL_EFORMAT, "is not the hash count"},
    {M_INDEX_INCONSISTENT, PAL_EFORMAT, "inconsistent"},
    {M_YARA_MAGIC, PAL_EFORMAT, "yara section is not compiled YARA rules"},
    {M_YARA_VERSION, PAL_EVERSION, "yara rules compiled for format"},
};

static void apply_mutation(uint8_t *b, enum mutation m)
{
    struct layout l = layout_of(b);
    switch (m) {
    case M_MAGIC:
        b[0] = 'Q';
        break;
    case M_FORMAT_VERSION:
        pal_put_le32(b + PAL_SIGPKG_H_FORMAT, 3);
        break;
    case M_RESERVED:
        pal_put_le32(b + PAL_SIGPKG_H_RESERVED, 1);
        break;
    case M_BUCKET_BITS:
        pal_put_le32(b + PAL_SIGPKG_H_BUCKET_BITS, 25);
        break;
    case M_BODY_LEN:
        pal_put_le64(b + PAL_SIGPKG_H_BODY_LEN, pkg_len - 65);
        break;
    case M_CATALOG_OVERLAPS_HEADER:
        pal_put_le64(b + PAL_SIGPKG_H_CATALOG_OFF, 64);
        break;
    case M_HASH_OFFSET_OUT_OF_RANGE:
        pal_put_le64(b + PAL_SIGPKG_H_HASH_OFF, pkg_len - 100);
        break;
    case M_HASH_OFFSET_WRAPS:
        /* off + len wraps to a small number: must not pass as "in range" */
        pal_put_le64(b + PAL_SIGPKG_H_HASH_OFF, UINT64_MAX - 8);
        pal_put_le64(b + PAL_SIGPKG_H_HASH_LEN, 1000);
        break;
    case M_YARA_LEN_OUT_OF_RANGE:
        pal_put_le64(b + PAL_SIGPKG_H_YARA_LEN, pal_le64(b + PAL_SIGPKG_H_YARA_LEN) + 1);
        break;
    case M_STRINGS_OVERLAP_CATALOG:
        pal_put_le64(b + PAL_SIGPKG_H_STRINGS_OFF, l.cat_off + 4);
        break;
    case M_SECTIONS_OUT_OF_ORDER:
        pal_put_le64(b + PAL_SIGPKG_H_YARA_OFF, l.hash_off);
        break;
    case M_THREAT_COUNT:
        pal_put_le32(b + PAL_SIGPKG_H_THREAT_COUNT, l.threats + 1);
        break;
    case M_HASH_COUNT:
        pal_put_le32(b + PAL_SIGPKG_H_HASH_COUNT, l.hashes - 1);
        break;
    case M_NAME_OFFSET:
        pal_put_le32(cat_entry(b, &l, 3) + PAL_SIGPKG_C_NAME, (uint32_t)l.str_len);
        break;
    case M_CATEGORY_UNTERMINATED:
        /* the pool ends with the last category's NUL */
        b[l.str_off + l.str_len - 1] = 'x';
        break;
    case M_NAME_NONPRINTABLE:
        b[l.str_off + 2] = 0x07;
        break;
    case M_NAME_EMPTY:
        /* point entry 0's name at the NUL that ends the first name */
        pal_put_le32(cat_entry(b, &l, 0) + PAL_SIGPKG_C_NAME,
                     (uint32_t)strlen((const char *)b + l.str_off));
        break;
    case M_SEVERITY_ZERO:
        cat_entry(b, &l, 5)[PAL_SIGPKG_C_SEVERITY] = 0;
        break;
    case M_SEVERITY_FIVE:
        cat_entry(b, &l, 5)[PAL_SIGPKG_C_SEVERITY] = 5;
        break;
    case M_ACTION:
        cat_entry(b, &l, l.threats - 1)[PAL_SIGPKG_C_ACTION] = 9;
        break;
    case M_CATALOG_RESERVED:
        cat_entry(b, &l, 1)[PAL_SIGPKG_C_RESERVED + 1] = 1;
        break;
    case M_CATALOG_UNSORTED:
        swap(cat_entry(b, &l, 10), cat_entry(b, &l, 11), PAL_SIGPKG_CATALOG_ENTRY_SIZE);
        break;
    case M_CATALOG_DUPLICATE:
        memcpy(cat_entry(b, &l, 11), cat_entry(b, &l, 10), PAL_SIGPKG_CATALOG_ENTRY_SIZE);
        break;
    case M_HASHES_UNSORTED: {
        uint32_t i = same_bucket_pair(b, &l);
        swap(hash_entry(b, &l, i), hash_entry(b, &l, i + 1), PAL_SIGPKG_HASH_ENTRY_SIZE);
        break;
    }
    case M_HASH_DUPLICATE: {
        uint32_t i = same_bucket_pair(b, &l);
        memcpy(hash_entry(b, &l, i + 1), hash_entry(b, &l, i), 32);
        break;
    }
    case M_HASH_WRONG_BUCKET:
        hash_entry(b, &l, 0)[0] ^= 0x80;
        break;
    case M_HASH_THREAT_ID:
        pal_put_le32(hash_entry(b, &l, 17) + 32, l.threats);
        break;
    case M_INDEX_START:
        pal_put_le32(b + l.hash_off, 1);
        break;
    case M_INDEX_END:
        pal_put_le32(b + l.hash_off + ((size_t)1 << l.bits) * 4, l.hashes + 1);
        break;
    case M_INDEX_INCONSISTENT: {
        /* a bucket in the middle that claims to end past the last entry */
        pal_put_le32(b + l.hash_off + 100 * 4, l.hashes + 7);
        break;
    }
    case M_YARA_MAGIC:
        b[l.yara_off] = 'y';
        break;
    case M_YARA_VERSION:
        b[l.yara_off + 4] ^= 0x40;
        break;
    case M_COUNT:
        break;
    }
}

static void test_resigned_structure_errors(void **state)
{
    (void)state;
    assert_int_equal(sizeof(mutation_cases) / sizeof(mutation_cases[0]), M_COUNT);
    for (size_t i = 0; i < M_COUNT; i++) {
        const struct mutation_case *c = &mutation_cases[i];
        uint8_t *buf = copy_pkg();
        apply_mutation(buf, c->m);
        assert_memory_not_equal(buf, pkg_bytes, pkg_len);
        resign(buf, pkg_len);
        for (int verify = 0; verify < 2; verify++) {
            pal_sigpkg *pkg = NULL;
            pal_errbuf err = {.msg = ""};
            int rc = open_bytes(buf, pkg_len, verify ? ring_a : NULL,
                                verify ? PAL_SIGPKG_VERIFY : 0, &pkg, &err);
            if (rc != c->code || !strstr(err.msg, c->msg))
                fail_msg("mutation %zu (verify=%d): got %d \"%s\", want %d \"%s\"", i, verify, rc,
                         err.msg, c->code, c->msg);
            assert_null(pkg);
        }
        free(buf);
    }

    /* The same change without re-signing is caught by the signature (or earlier). */
    uint8_t *buf = copy_pkg();
    apply_mutation(buf, M_CATALOG_UNSORTED);
    pal_sigpkg *pkg = NULL;
    pal_errbuf err;
    assert_int_equal(open_bytes(buf, pkg_len, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err),
                     PAL_ESIGNATURE);
    free(buf);
}

/* Random damage without the signature check: the structural checks alone must keep every
   lookup inside the mapping (ASan watches). */
static void test_random_damage_structure_only(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int accepted = 0;
    for (int iter = 0; iter < 1500; iter++) {
        uint8_t *buf = copy_pkg();
        int n = 1 + iter % 4;
        for (int j = 0; j < n; j++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            /* bias towards the header and the small sections, where structure lives */
            size_t limit = iter % 2 ? 128 : (size_t)pal_le64(buf + PAL_SIGPKG_H_YARA_OFF);
            if (limit == 0 || limit > pkg_len)
                limit = pkg_len;
            buf[seed % limit] = (uint8_t)(seed >> 32);
        }
        pal_sigpkg *pkg = NULL;
        pal_errbuf err = {.msg = ""};
        int rc = open_bytes(buf, pkg_len, NULL, 0, &pkg, &err);
        if (rc == 0) {
            accepted++;
            pal_sigpkg_info info;
            pal_sigpkg_get_info(pkg, &info);
            pal_threat t;
            for (uint32_t id = 0; id < info.threat_count; id++) {
                assert_int_equal(pal_sigpkg_threat(pkg, id, &t), 0);
                assert_true(strlen(t.name) <= PAL_THREAT_NAME_MAX);
                pal_threat t2;
                (void)pal_sigpkg_find_threat(pkg, t.name, &t2);
            }
            for (int h = 0; h < N_HASHES; h += 7) {
                uint8_t sha[32];
                uint32_t id;
                sample_hash(h, sha);
                if (pal_sigpkg_lookup_sha256(pkg, sha, &id) == 0)
                    assert_true(id < info.threat_count);
            }
            pal_sigpkg_free(pkg);
        } else {
            assert_true(refused_code(rc));
            assert_true(err.msg[0] != '\0');
        }
        free(buf);
    }
    /* Damage to padding or to names that stay valid is accepted without a signature check;
       most damage is not. */
    assert_true(accepted < 1500);
}

/* ---- builder ------------------------------------------------------------------------------- */

static int build_with(const char *catalog_threat, const char *rules, const char *hash_threat,
                      pal_errbuf *err)
{
    pal_sigbuild *b = NULL;
    char out[160];
    path_in_tmp(out, sizeof(out), "case.sig");
    assert_int_equal(pal_sigbuild_new(&b), 0);
    int rc = pal_sigbuild_add_threat(b, catalog_threat, PAL_SEV_HIGH, "Trojan",
                                     PAL_ACTION_QUARANTINE, err);
    if (!rc && rules)
        rc = pal_sigbuild_add_rules(b, rules, "case.yar", err);
    if (!rc && hash_threat) {
        uint8_t h[32];
        sample_hash(1, h);
        rc = pal_sigbuild_add_sha256(b, h, hash_threat, err);
    }
    if (!rc)
        rc = pal_sigbuild_write(b, 1, 1, key_a, out, err);
    pal_sigbuild_free(b);
    return rc;
}

static void test_build_errors(void **state)
{
    (void)state;
    pal_errbuf err = {.msg = ""};
    const char *t = "Trojan:Linux/Known.A";

    assert_int_equal(build_with(t,
                                "rule ok { meta: threat = \"Trojan:Linux/Known.A\" "
                                "condition: filesize == 3 }",
                                t, &err),
                     0);

    assert_int_equal(build_with(t, "rule nometa { condition: filesize == 3 }", NULL, &err),
                     PAL_EFORMAT);
    assert_string_equal(err.msg, "rule nometa has no meta threat = \"...\"");

    assert_int_equal(
        build_with(t, "rule other { meta: author = \"x\" condition: true }", NULL, &err),
        PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "rule other has no meta threat"));

    assert_int_equal(build_with(t,
                                "rule unknown { meta: threat = \"Trojan:Linux/Nope.A\" "
                                "condition: true }",
                                NULL, &err),
                     PAL_EFORMAT);
    assert_string_equal(err.msg, "rule unknown: threat \"Trojan:Linux/Nope.A\" is not in the "
                                 "catalog");

    assert_int_equal(build_with(t, "rule intmeta { meta: threat = 3 condition: true }", NULL, &err),
                     PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "not a string"));

    assert_int_equal(build_with(t,
                                "rule twice { meta: threat = \"Trojan:Linux/Known.A\" "
                                "threat = \"Trojan:Linux/Known.A\" condition: true }",
                                NULL, &err),
                     PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "more than one meta threat"));

    /* compile errors name the source and the line */
    assert_int_equal(build_with(t,
                                "rule a {\n meta: threat = \"Trojan:Linux/Known.A\"\n"
                                " condition: nosuchthing\n}\n",
                                NULL, &err),
                     PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "case.yar:3: "));
    assert_non_null(strstr(err.msg, "nosuchthing"));

    assert_int_equal(build_with(t, "include \"/etc/passwd\"\n", NULL, &err), PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "includes are disabled"));

    /* a rule libyara warns is slow is refused like an error */
    assert_int_equal(build_with(t,
                                "rule slow { meta: threat = \"Trojan:Linux/Known.A\" "
                                "strings: $a = { 00 ?? } condition: $a }",
                                NULL, &err),
                     PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "may slow down scanning"));

    assert_int_equal(build_with(t, NULL, "Trojan:Linux/Other.A", &err), PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "threat \"Trojan:Linux/Other.A\" is not in the catalog"));
    assert_non_null(strstr(err.msg, "hash "));

    /* names: empty, control characters, too long */
    assert_int_equal(build_with("", NULL, NULL, &err), PAL_EINVAL);
    assert_int_equal(build_with("Bad\tName", NULL, NULL, &err), PAL_EINVAL);
    assert_non_null(strstr(err.msg, "non-printable"));
    char longname[PAL_THREAT_NAME_MAX + 2];
    memset(longname, 'A', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(build_with(longname, NULL, NULL, &err), PAL_EINVAL);
    assert_non_null(strstr(err.msg, "longer than 255"));
    longname[PAL_THREAT_NAME_MAX] = '\0'; /* exactly the maximum is fine */
    assert_int_equal(build_with(longname, NULL, NULL, &err), 0);
}

static void test_builder_state_and_duplicates(void **state)
{
    (void)state;
    pal_errbuf err = {.msg = ""};
    char out[160];
    path_in_tmp(out, sizeof(out), "dup.sig");
    pal_sigbuild *b = NULL;

    /* after a failed source, the builder refuses to write */
    assert_int_equal(pal_sigbuild_new(&b), 0);
    assert_int_equal(pal_sigbuild_add_rules(b, "rule {", "bad.yar", &err), PAL_EFORMAT);
    assert_int_equal(pal_sigbuild_add_rules(b, "rule x { condition: true }", "x.yar", &err),
                     PAL_ESTATE);
    assert_int_equal(pal_sigbuild_write(b, 1, 1, key_a, out, &err), PAL_ESTATE);
    pal_sigbuild_free(b);
    assert_int_equal(access(out, F_OK), -1);

    assert_int_equal(pal_sigbuild_new(&b), 0);
    assert_int_equal(pal_sigbuild_add_threat(b, "A:B/C", PAL_SEV_LOW, "X", PAL_ACTION_REMOVE, &err),
                     0);
    assert_int_equal(
        pal_sigbuild_add_threat(b, "A:B/C", PAL_SEV_HIGH, "Y", PAL_ACTION_REMOVE, &err), 0);
    assert_int_equal(pal_sigbuild_write(b, 1, 1, key_a, out, &err), PAL_EEXIST);
    assert_non_null(strstr(err.msg, "\"A:B/C\" is in the catalog twice"));
    pal_sigbuild_free(b);

    assert_int_equal(pal_sigbuild_new(&b), 0);
    uint8_t h[32];
    sample_hash(9, h);
    assert_int_equal(pal_sigbuild_add_threat(b, "A:B/C", PAL_SEV_LOW, "X", PAL_ACTION_REMOVE, &err),
                     0);
    assert_int_equal(pal_sigbuild_add_sha256(b, h, "A:B/C", &err), 0);
    assert_int_equal(pal_sigbuild_add_sha256(b, h, "A:B/C", &err), 0);
    assert_int_equal(pal_sigbuild_write(b, 1, 1, key_a, out, &err), PAL_EEXIST);
    assert_non_null(strstr(err.msg, "listed twice"));
    pal_sigbuild_free(b);

    assert_int_equal(pal_sigbuild_new(&b), 0);
    assert_int_equal(
        pal_sigbuild_add_threat(b, "A:B/C", (pal_severity)7, "X", PAL_ACTION_REMOVE, &err),
        PAL_EINVAL);
    assert_int_equal(pal_sigbuild_add_threat(b, "A:B/C", PAL_SEV_LOW, "X", (pal_action)0, &err),
                     PAL_EINVAL);
    /* wrong key type or missing key: nothing written */
    assert_int_equal(pal_sigbuild_write(b, 1, 1, pub_a, out, &err), PAL_EFORMAT);
    assert_int_equal(access(out, F_OK), -1);
    char missing[160];
    path_in_tmp(missing, sizeof(missing), "missing.key");
    assert_int_equal(pal_sigbuild_write(b, 1, 1, missing, out, &err), PAL_ENOTFOUND);
    pal_sigbuild_free(b);
    pal_sigbuild_free(NULL);
}

static void test_empty_package(void **state)
{
    (void)state;
    pal_errbuf err = {.msg = ""};
    char out[160];
    path_in_tmp(out, sizeof(out), "empty.sig");
    pal_sigbuild *b = NULL;
    assert_int_equal(pal_sigbuild_new(&b), 0);
    assert_int_equal(pal_sigbuild_write(b, 0, 0, key_a, out, &err), 0);
    pal_sigbuild_free(b);
    pal_sigpkg *pkg = NULL;
    assert_int_equal(pal_sigpkg_open_path(out, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    pal_sigpkg_info info;
    pal_sigpkg_get_info(pkg, &info);
    assert_int_equal(info.threat_count, 0);
    assert_int_equal(info.hash_count, 0);
    assert_int_equal(info.rule_count, 0);
    uint8_t h[32] = {0};
    uint32_t id;
    pal_threat t;
    assert_int_equal(pal_sigpkg_lookup_sha256(pkg, h, &id), PAL_ENOTFOUND);
    assert_int_equal(pal_sigpkg_find_threat(pkg, "X", &t), PAL_ENOTFOUND);
    assert_int_equal(pal_sigpkg_threat(pkg, 0, &t), PAL_ENOTFOUND);
    pal_sigpkg_free(pkg);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void test_add_dir_sources(void **state)
{
    (void)state;
    char dir[160], out[160];
    path_in_tmp(dir, sizeof(dir), "src");
    path_in_tmp(out, sizeof(out), "src.sig");
    assert_int_equal(mkdir(dir, 0700), 0);
    write_text(dir, "catalog.tsv",
               "# comment\r\n\n"
               "Trojan:Linux/One.A\tSevere\tTrojan\tQuarantine\r\n"
               "  Virus:Linux/Two.A \t low\tVirus\tNoAction\n");
    write_text(dir, "hashes.tsv",
               "# sha256\tthreat\n"
               "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F\t"
               "Virus:Linux/Two.A\n");
    write_text(dir, "b.yar",
               "rule b { meta: threat = \"Trojan:Linux/One.A\" condition: "
               "filesize == 1 }\n");
    write_text(dir, "a.yar",
               "rule a { meta: threat = \"Virus:Linux/Two.A\" condition: "
               "filesize == 2 }\n");
    write_text(dir, "notes.txt", "not a rule file {");

    pal_errbuf err = {.msg = ""};
    pal_sigbuild *b = NULL;
    assert_int_equal(pal_sigbuild_new(&b), 0);
    int rc = pal_sigbuild_add_dir(b, dir, &err);
    if (rc)
        fail_msg("add_dir: %s", err.msg);
    assert_int_equal(pal_sigbuild_write(b, 5, 6, key_a, out, &err), 0);
    pal_sigbuild_free(b);

    pal_sigpkg *pkg = NULL;
    assert_int_equal(pal_sigpkg_open_path(out, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    pal_sigpkg_info info;
    pal_sigpkg_get_info(pkg, &info);
    assert_int_equal(info.threat_count, 2);
    assert_int_equal(info.hash_count, 1);
    assert_int_equal(info.rule_count, 2);
    pal_threat t;
    assert_int_equal(pal_sigpkg_find_threat(pkg, "Virus:Linux/Two.A", &t), 0);
    assert_int_equal(t.severity, PAL_SEV_LOW);
    assert_int_equal(t.default_action, PAL_ACTION_NOACTION);
    assert_string_equal(t.category, "Virus");
    pal_sigpkg_free(pkg);

    /* errors carry file:line */
    write_text(dir, "catalog.tsv",
               "Trojan:Linux/One.A\tSevere\tTrojan\tQuarantine\n"
               "Virus:Linux/Two.A\tCritical\tVirus\tNoAction\n");
    assert_int_equal(pal_sigbuild_new(&b), 0);
    assert_int_equal(pal_sigbuild_add_dir(b, dir, &err), PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "catalog.tsv:2: unknown severity \"Critical\""));
    pal_sigbuild_free(b);

    write_text(dir, "catalog.tsv", "Trojan:Linux/One.A\tSevere\tTrojan\n");
    assert_int_equal(pal_sigbuild_new(&b), 0);
    assert_int_equal(pal_sigbuild_add_dir(b, dir, &err), PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "catalog.tsv:1: expected 4 tab-separated fields"));
    pal_sigbuild_free(b);

    write_text(dir, "catalog.tsv",
               "Trojan:Linux/One.A\tSevere\tTrojan\tQuarantine\n"
               "Virus:Linux/Two.A\tLow\tVirus\tNoAction\n");
    write_text(dir, "hashes.tsv", "\n\n275a02\tVirus:Linux/Two.A\n");
    assert_int_equal(pal_sigbuild_new(&b), 0);
    assert_int_equal(pal_sigbuild_add_dir(b, dir, &err), PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "hashes.tsv:3: \"275a02\" is not 64 hex digits"));
    pal_sigbuild_free(b);

    /* hashes.tsv is optional; catalog.tsv is not */
    char p[256];
    snprintf(p, sizeof(p), "%s/hashes.tsv", dir);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(pal_sigbuild_new(&b), 0);
    assert_int_equal(pal_sigbuild_add_dir(b, dir, &err), 0);
    pal_sigbuild_free(b);
    snprintf(p, sizeof(p), "%s/catalog.tsv", dir);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(pal_sigbuild_new(&b), 0);
    assert_int_equal(pal_sigbuild_add_dir(b, dir, &err), PAL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "catalog.tsv"));
    pal_sigbuild_free(b);
}

/* The starter set in the source tree builds, and has EICAR by hash and by rule. */
static void test_starter_set(void **state)
{
    (void)state;
    const char *src = getenv("PAL_SOURCE_DIR");
    if (!src)
        fail_msg("PAL_SOURCE_DIR is not set (run through ctest)");
    char dir[512], out[160];
    snprintf(dir, sizeof(dir), "%s/signatures", src);
    path_in_tmp(out, sizeof(out), "starter.sig");
    pal_errbuf err = {.msg = ""};
    pal_sigbuild *b = NULL;
    assert_int_equal(pal_sigbuild_new(&b), 0);
    int rc = pal_sigbuild_add_dir(b, dir, &err);
    if (!rc)
        rc = pal_sigbuild_write(b, 1, 1, key_a, out, &err);
    if (rc)
        fail_msg("starter set: %s", err.msg);
    pal_sigbuild_free(b);

    pal_sigpkg *pkg = NULL;
    assert_int_equal(pal_sigpkg_open_path(out, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    static const char eicar_hex[] =
        "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
    uint8_t h[32];
    for (int i = 0; i < 32; i++) {
        char byte[3] = {eicar_hex[2 * i], eicar_hex[2 * i + 1], 0};
        h[i] = (uint8_t)strtoul(byte, NULL, 16);
    }
    uint32_t id;
    pal_threat t;
    assert_int_equal(pal_sigpkg_lookup_sha256(pkg, h, &id), 0);
    assert_int_equal(pal_sigpkg_threat(pkg, id, &t), 0);
    assert_string_equal(t.name, "Virus:DOS/EICAR_Test_File");
    assert_string_equal(t.category, "Virus");
    assert_int_equal(t.severity, PAL_SEV_SEVERE);
    assert_int_equal(t.default_action, PAL_ACTION_QUARANTINE);
    pal_sigpkg_info info;
    pal_sigpkg_get_info(pkg, &info);
    assert_true(info.threat_count >= 5);
    assert_true(info.rule_count >= 5);
    pal_sigpkg_free(pkg);
}

/* ---- keys ------------------------------------------------------------------------------------ */

static void test_keygen_files(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat(key_a, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(pub_a, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    char prefix[160];
    pal_errbuf err = {.msg = ""};
    path_in_tmp(prefix, sizeof(prefix), "a");
    assert_int_equal(pal_sigbuild_keygen(prefix, &err), PAL_EEXIST);
    assert_int_equal(pal_sigbuild_keygen("", &err), PAL_EINVAL);

    char hex[2 * PAL_KEY_ID_LEN + 1];
    const uint8_t id[PAL_KEY_ID_LEN] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    pal_key_id_hex(id, hex);
    assert_string_equal(hex, "0123456789abcdef");
}

static void test_keyring(void **state)
{
    (void)state;
    pal_errbuf err = {.msg = ""};
    pal_keyring *kr = NULL;
    char dir[160];
    path_in_tmp(dir, sizeof(dir), "ring");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(pal_keyring_new(&kr), 0);

    assert_int_equal(pal_keyring_load_dir(kr, dir, &err), PAL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no *.pub key file"));

    write_text(dir, "broken.pub", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
    assert_int_equal(pal_keyring_load_dir(kr, dir, &err), PAL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no usable key"));
    assert_int_equal(pal_keyring_count(kr), 0);

    /* an EC key is a public key, but not an Ed25519 one */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ec);
    char ecpath[256];
    snprintf(ecpath, sizeof(ecpath), "%s/ec.pub", dir);
    FILE *f = fopen(ecpath, "we");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, ec), 1);
    fclose(f);
    EVP_PKEY_free(ec);
    assert_int_equal(pal_keyring_add_pem_file(kr, ecpath, &err), PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "not an Ed25519 public key"));

    /* a private key file is not a public key file */
    assert_int_equal(pal_keyring_add_pem_file(kr, key_a, &err), PAL_EFORMAT);
    char nofile[160];
    path_in_tmp(nofile, sizeof(nofile), "nope.pub");
    assert_int_equal(pal_keyring_add_pem_file(kr, nofile, &err), PAL_ENOTFOUND);

    /* good keys are loaded next to the bad ones; duplicates count once; others ignored */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "cp '%s' '%s/a.pub' && cp '%s' '%s/a-copy.pub' && "
             "cp '%s' '%s/b.pub.disabled'",
             pub_a, dir, pub_a, dir, pub_b, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(pal_keyring_load_dir(kr, dir, &err), 0);
    assert_int_equal(pal_keyring_count(kr), 1);
    pal_sigpkg *pkg = NULL;
    assert_int_equal(pal_sigpkg_open_path(pkg_path, kr, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    pal_sigpkg_free(pkg);
    pal_keyring_free(kr);
    pal_keyring_free(NULL);

    path_in_tmp(nofile, sizeof(nofile), "no-such-dir");
    assert_int_equal(pal_keyring_new(&kr), 0);
    assert_int_equal(pal_keyring_load_dir(kr, nofile, &err), PAL_ENOTFOUND);
    pal_keyring_free(kr);
}

static void test_open_errors(void **state)
{
    (void)state;
    pal_errbuf err = {.msg = ""};
    pal_sigpkg *pkg = NULL;
    char p[160];
    path_in_tmp(p, sizeof(p), "missing.sig");
    assert_int_equal(pal_sigpkg_open_path(p, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err), PAL_ENOTFOUND);
    assert_int_equal(pal_sigpkg_open_path(tmpdir, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err),
                     PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "not a regular file"));
    assert_int_equal(pal_sigpkg_open_path(pkg_path, NULL, PAL_SIGPKG_VERIFY, &pkg, &err),
                     PAL_EINVAL);
    assert_int_equal(pal_sigpkg_open_fd(-1, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err), PAL_EINVAL);
    assert_null(pkg);
}

/* Writing replaces the old package atomically and leaves no temporary file behind. */
static void test_write_replaces(void **state)
{
    (void)state;
    char dir[160], out[200];
    path_in_tmp(dir, sizeof(dir), "replace");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(out, sizeof(out), "%s/p.sig", dir);
    build_standard(key_a, out);
    pal_sigbuild *b = NULL;
    pal_errbuf err;
    assert_int_equal(pal_sigbuild_new(&b), 0);
    assert_int_equal(pal_sigbuild_write(b, 43, 5, key_a, out, &err), 0);
    pal_sigbuild_free(b);
    pal_sigpkg *pkg = NULL;
    assert_int_equal(pal_sigpkg_open_path(out, ring_a, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    pal_sigpkg_info info;
    pal_sigpkg_get_info(pkg, &info);
    assert_int_equal(info.version, 43);
    assert_int_equal(info.threat_count, 0);
    pal_sigpkg_free(pkg);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = p.sig", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_severity_action_names),
        cmocka_unit_test(test_valid_package_opens),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_yara_blob_loads_and_matches),
        cmocka_unit_test(test_flipped_bytes_refused),
        cmocka_unit_test(test_truncated_and_extended_refused),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_resigned_structure_errors),
        cmocka_unit_test(test_random_damage_structure_only),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_builder_state_and_duplicates),
        cmocka_unit_test(test_empty_package),
        cmocka_unit_test(test_add_dir_sources),
        cmocka_unit_test(test_starter_set),
        cmocka_unit_test(test_keygen_files),
        cmocka_unit_test(test_keyring),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_write_replaces),
    };
    return cmocka_run_group_tests_name("sigpkg", tests, group_setup, group_teardown);
}
