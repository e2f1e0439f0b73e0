/*
 * test_sigpkg_ext.c — package format 2: the sized hash tables (MD5, SHA-1, SHA-256 with a
 * size or any size) and allow entries that `palisade-sigtool import` carries from ClamAV.
 *
 * A package is built with the real builder and a fresh key; lookups are checked for the
 * right size, a wrong size, the any-size form and allow entries; the engine is checked to
 * report an MD5 / SHA-1 match with matched_by naming the digest and to leave an allowed
 * object unreported even when a YARA rule matches it. A package without sized hashes is
 * still written as format 1. A changed byte is refused by the signature, and damage that is
 * re-signed (so that only the structure checks can catch it) is refused by them, each with
 * the message naming what is wrong.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "engine.h"
#include "sigbuild.h"
#include "sigpkg.h"
#include "sigpkg_format.h"
#include "sigpkg_hashdb.h"

static char dir[64], key[128], pub[128], pkg_path[128], v1_path[128];
static pal_keyring *ring;

static const char *const sample[] = {
    "an MD5 sample, detected by size",
    "an MD5 sample of any size",
    "a SHA-1 sample",
    "a SHA-256 sample with a size",
    "an allowed sample ALLOWMARKER-XYZ",
    "a sample whose listed size is wrong",
};

static void digest(const char *alg, const char *s, uint8_t *out)
{
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(s, strlen(s), out, &n, EVP_get_digestbyname(alg), NULL), 1);
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/pal-sigext.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof(key), "%s/k.key", dir);
    snprintf(pub, sizeof(pub), "%s/k.pub", dir);
    snprintf(pkg_path, sizeof(pkg_path), "%s/p.sig", dir);
    snprintf(v1_path, sizeof(v1_path), "%s/v1.sig", dir);
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "%s/k", dir);
    pal_errbuf err;
    assert_int_equal(pal_sigbuild_keygen(prefix, &err), 0);
    assert_int_equal(pal_keyring_new(&ring), 0);
    assert_int_equal(pal_keyring_add_pem_file(ring, pub, &err), 0);

    pal_sigbuild *b;
    assert_int_equal(pal_sigbuild_new(&b), 0);
    static const char *const names[] = {"Win.Trojan.Md5-1",     "Win.Trojan.Any-2",
                                        "Unix.Malware.Sha1-3",  "Doc.Exploit.Sha256-4",
                                        "Win.Trojan.Allowed-5", "Win.Trojan.WrongSize-6",
                                        "YARA.allowed_marker"};
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(pal_sigbuild_add_threat(b, names[i], PAL_SEV_HIGH, "Trojan",
                                                 PAL_ACTION_QUARANTINE, &err),
                         0);
    uint8_t d[32];
    digest("MD5", sample[0], d);
    assert_int_equal(pal_sigbuild_add_hash(b, PAL_HASH_MD5, d, strlen(sample[0]), names[0], &err),
                     0);
    digest("MD5", sample[1], d);
    assert_int_equal(pal_sigbuild_add_hash(b, PAL_HASH_MD5, d, PAL_HASH_ANY_SIZE, names[1], &err),
                     0);
    digest("SHA1", sample[2], d);
    assert_int_equal(pal_sigbuild_add_hash(b, PAL_HASH_SHA1, d, strlen(sample[2]), names[2], &err),
                     0);
    digest("SHA256", sample[3], d);
    assert_int_equal(
        pal_sigbuild_add_hash(b, PAL_HASH_SHA256, d, strlen(sample[3]), names[3], &err), 0);
    digest("MD5", sample[4], d); /* detected by MD5 and by a rule, and allowed by SHA-256 */
    assert_int_equal(pal_sigbuild_add_hash(b, PAL_HASH_MD5, d, strlen(sample[4]), names[4], &err),
                     0);
    digest("SHA256", sample[4], d);
    assert_int_equal(pal_sigbuild_add_hash(b, PAL_HASH_SHA256, d, strlen(sample[4]), NULL, &err),
                     0);
    digest("MD5", sample[5], d);
    assert_int_equal(
        pal_sigbuild_add_hash(b, PAL_HASH_MD5, d, strlen(sample[5]) + 1, names[5], &err), 0);
    assert_int_equal(pal_sigbuild_add_rules(b,
                                            "rule allowed_marker { meta: threat = "
                                            "\"YARA.allowed_marker\" strings: $a = "
                                            "\"ALLOWMARKER-XYZ\" condition: $a }",
                                            "t.yar", &err),
                     0);
    assert_int_equal(pal_sigbuild_write(b, 3, 1700000000, key, pkg_path, &err), 0);
    pal_sigbuild_free(b);

    assert_int_equal(pal_sigbuild_new(&b), 0);
    assert_int_equal(
        pal_sigbuild_add_threat(b, "T.One", PAL_SEV_LOW, "Trojan", PAL_ACTION_QUARANTINE, &err), 0);
    assert_int_equal(pal_sigbuild_write(b, 1, 1700000000, key, v1_path, &err), 0);
    pal_sigbuild_free(b);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pal_keyring_free(ring);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_lookups(void **state)
{
    (void)state;
    pal_sigpkg *pkg;
    pal_errbuf err;
    assert_int_equal(pal_sigpkg_open_path(pkg_path, ring, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    pal_sigpkg_info info;
    pal_sigpkg_get_info(pkg, &info);
    assert_int_equal(info.format_version, 2);
    assert_int_equal(info.sized_count[PAL_HASH_MD5], 4);
    assert_int_equal(info.sized_count[PAL_HASH_SHA1], 1);
    assert_int_equal(info.sized_count[PAL_HASH_SHA256], 2);
    assert_int_equal(info.allow_count, 1);
    assert_int_equal(pal_sigpkg_has_hashes(pkg, PAL_HASH_MD5), 4);

    uint8_t d[32];
    uint32_t id;
    int allowed;
    pal_threat t;
    digest("MD5", sample[0], d);
    assert_int_equal(pal_sigpkg_lookup_hash(pkg, PAL_HASH_MD5, d, strlen(sample[0]), &id, &allowed),
                     0);
    assert_int_equal(pal_sigpkg_threat(pkg, id, &t), 0);
    assert_string_equal(t.name, "Win.Trojan.Md5-1");
    assert_int_equal(allowed, 0);
    /* the same digest with another size: no match */
    assert_int_equal(
        pal_sigpkg_lookup_hash(pkg, PAL_HASH_MD5, d, strlen(sample[0]) + 1, &id, &allowed),
        PAL_ENOTFOUND);
    digest("MD5", sample[1], d); /* any size */
    assert_int_equal(pal_sigpkg_lookup_hash(pkg, PAL_HASH_MD5, d, 12345, &id, &allowed), 0);
    digest("SHA256", sample[4], d);
    assert_int_equal(
        pal_sigpkg_lookup_hash(pkg, PAL_HASH_SHA256, d, strlen(sample[4]), &id, &allowed),
        PAL_ENOTFOUND);
    assert_int_equal(allowed, 1);
    pal_sigpkg_free(pkg);

    /* no sized hash: still format 1, readable by a version 1 reader */
    assert_int_equal(pal_sigpkg_open_path(v1_path, ring, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    pal_sigpkg_get_info(pkg, &info);
    assert_int_equal(info.format_version, 1);
    assert_int_equal(pal_sigpkg_has_hashes(pkg, PAL_HASH_MD5), 0);
    assert_int_equal(pal_sigpkg_lookup_hash(pkg, PAL_HASH_MD5, d, 1, &id, &allowed), PAL_ENOTFOUND);
    pal_sigpkg_free(pkg);
}

static void scan_one(pal_scanner *sc, const char *s, pal_report *rep)
{
    pal_source src;
    pal_source_from_memory(&src, s, strlen(s));
    assert_int_equal(pal_scan(sc, &src, "mem", NULL, rep), 0);
}

static void test_engine(void **state)
{
    (void)state;
    pal_sigpkg *pkg;
    pal_errbuf err;
    assert_int_equal(pal_sigpkg_open_path(pkg_path, ring, PAL_SIGPKG_VERIFY, &pkg, &err), 0);
    pal_limits lim;
    pal_limits_default(&lim);
    pal_engine *eng;
    pal_scanner *sc;
    assert_int_equal(pal_engine_new(pkg, &lim, &eng, &err), 0);
    assert_int_equal(pal_scanner_new(eng, &sc), 0);
    static const struct {
        int sample;
        const char *threat, *by; /* NULL: clean */
    } cases[] = {
        {0, "Win.Trojan.Md5-1", "md5"},
        {1, "Win.Trojan.Any-2", "md5"},
        {2, "Unix.Malware.Sha1-3", "sha1"},
        {3, "Doc.Exploit.Sha256-4", "sha256"},
        {4, NULL, NULL}, /* allowed: neither its MD5 signature nor the rule reports it */
        {5, NULL, NULL}, /* listed with another size */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_report rep;
        scan_one(sc, sample[cases[i].sample], &rep);
        if (cases[i].threat) {
            assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
            assert_int_equal(rep.n_findings, 1);
            assert_string_equal(rep.findings[0].threat, cases[i].threat);
            assert_string_equal(rep.findings[0].matched_by, cases[i].by);
        } else {
            assert_int_equal(rep.verdict, PAL_VERDICT_CLEAN);
            assert_int_equal(rep.n_findings, 0);
        }
        pal_report_free(&rep);
    }
    /* the rule alone still matches what is not allowed */
    pal_report rep;
    scan_one(sc, "xx ALLOWMARKER-XYZ", &rep);
    assert_int_equal(rep.verdict, PAL_VERDICT_THREAT);
    assert_string_equal(rep.findings[0].threat, "YARA.allowed_marker");
    pal_report_free(&rep);
    pal_scanner_free(sc);
    pal_engine_free(eng);
    pal_sigpkg_free(pkg);
}

/* ---- damage ------------------------------------------------------------------------------ */

static uint8_t *read_pkg(size_t *len)
{
    FILE *f = fopen(pkg_path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    uint8_t *b = malloc(*len);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static int open_bytes(const uint8_t *b, size_t len, int resign, pal_errbuf *err)
{
    uint8_t *c = malloc(len);
    assert_non_null(c);
    memcpy(c, b, len);
    if (resign)
        assert_int_equal(pal_sigbuild_sign_bytes(key, c, len - 64, c + len - 64, NULL, err), 0);
    int fd = memfd_create("pkg", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, c, len), (ssize_t)len);
    free(c);
    pal_sigpkg *pkg = NULL;
    int rc = pal_sigpkg_open_fd(fd, ring, PAL_SIGPKG_VERIFY, &pkg, err);
    close(fd);
    pal_sigpkg_free(pkg);
    return rc;
}

/* Offset of the directory entry of table type. */
static size_t dir_entry(const uint8_t *b, uint32_t type)
{
    uint32_t n = pal_le32(b + PAL_SIGPKG_H_RESERVED);
    for (uint32_t x = 0; x < n; x++) {
        size_t e = PAL_SIGPKG_HEADER_SIZE + (size_t)x * PAL_SIGPKG_EXT_ENTRY_SIZE;
        if (pal_le32(b + e) == type)
            return e;
    }
    fail_msg("no table of type %u", type);
    return 0;
}

static void test_damage(void **state)
{
    (void)state;
    size_t len;
    uint8_t *orig = read_pkg(&len);
    pal_errbuf err;
    assert_int_equal(open_bytes(orig, len, 0, &err), 0);

    uint8_t *b = malloc(len);
    size_t md5 = dir_entry(orig, PAL_SIGPKG_EXT_MD5);
    uint64_t md5_off = pal_le64(orig + md5 + PAL_SIGPKG_X_OFF);
    uint32_t bits = pal_le32(orig + md5_off);
    size_t ents = md5_off + PAL_HASHDB_HEAD + (((size_t)1 << bits) + 1) * 4;
    size_t esz = 16 + 12;

    /* one changed byte in the MD5 table, not re-signed: the signature catches it */
    memcpy(b, orig, len);
    b[ents + 3] ^= 1;
    assert_int_equal(open_bytes(b, len, 0, &err), PAL_ESIGNATURE);

    struct {
        const char *what, *msg;
    } cases[] = {
        {"threat id out of range", "threat id"},
        {"entries out of order", "md5 table: entry"},
        {"index end", "index does not run"},
        {"unknown type", "unknown type"},
        {"type twice", "appears twice"},
        {"no extension in format 2", "extension count 0"},
        {"table overlaps yara", "overlaps"},
        {"length", "length"},
        {"extension in format 1", "reserved header field is not zero"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(b, orig, len);
        switch (i) {
        case 0:
            pal_put_le32(b + ents + 16 + 8, 9999);
            break;
        case 1: { /* swap the first two entries: out of order, or out of their bucket */
            uint8_t tmp[28];
            memcpy(tmp, b + ents, esz);
            memcpy(b + ents, b + ents + esz, esz);
            memcpy(b + ents + esz, tmp, esz);
            break;
        }
        case 2:
            pal_put_le32(b + md5_off + PAL_HASHDB_HEAD + ((size_t)1 << bits) * 4, 3);
            break;
        case 3:
            pal_put_le32(b + md5, 9);
            break;
        case 4:
            pal_put_le32(b + dir_entry(orig, PAL_SIGPKG_EXT_SHA1), PAL_SIGPKG_EXT_MD5);
            break;
        case 5:
            pal_put_le32(b + PAL_SIGPKG_H_RESERVED, 0);
            break;
        case 6:
            pal_put_le64(b + md5 + PAL_SIGPKG_X_OFF, pal_le64(b + PAL_SIGPKG_H_YARA_OFF));
            break;
        case 7:
            pal_put_le64(b + md5 + PAL_SIGPKG_X_LEN, pal_le64(b + md5 + PAL_SIGPKG_X_LEN) - esz);
            break;
        case 8:
            pal_put_le32(b + PAL_SIGPKG_H_FORMAT, 1);
            break;
        }
        int rc = open_bytes(b, len, 1, &err);
        if (rc != PAL_EFORMAT || !strstr(err.msg, cases[i].msg))
            fail_msg("%s: rc %d, \"%s\" (want \"%s\")", cases[i].what, rc, err.msg, cases[i].msg);
    }
    free(b);
    free(orig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_engine),
        cmocka_unit_test(test_damage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
