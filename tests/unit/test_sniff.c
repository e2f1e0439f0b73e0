/*
 * test_sniff.c — the container pre-check (agent/engine/sniff.h) against libarchive's real
 * probe (pal_expand_probe_engages: the reader pal_expand sets up).
 *
 * The property: whenever libarchive engages on some bytes (a filter or format bids, or
 * the bytes carry an external compressor's magic), the pre-check says maybe. Checked on
 * every container fixture the repository has (the engine corpus tests/engine/mkcorpus.sh
 * generates, bombs and truncated archives included, the fuzz seeds) and on every member
 * and decompressed stream inside them, on crafted cases at the edge of each bidder's
 * window, and on a realistic tree (bench/gen_tree.py), where the pre-check must also
 * reject most of the objects libarchive does not recognise (the point of having it).
 *
 * PAL_SNIFF_TREE=DIR: use that tree instead of generating one (e.g. the benchmark's), and
 * print the share.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "expand.h"
#include "sniff.h"
#include "../test_support.h"

static struct {
    pal_expand_support sup;
    char src[1024];
    char bin[1024];
    unsigned checked; /* objects checked against libarchive */
    unsigned engaged; /* of which libarchive engaged on */
} T;

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

/*
 * The property, on one object. Returns whether libarchive engaged (with tar offered a
 * zero block, the plainest reading of "libarchive recognises it"). Both readings are
 * checked: the engine's (tar never offered a leading zero block) against the pre-check
 * without its zero-block bit, and plain libarchive against the whole answer.
 */
static int check_bytes(const char *what, const uint8_t *d, size_t len)
{
    unsigned m = pal_sniff(d, len);
    int plain = pal_expand_probe_engages(&T.sup, d, len, 1);
    int engine = pal_expand_probe_engages(&T.sup, d, len, 0);
    assert_true(plain >= 0 && engine >= 0);
    if (plain && m == 0)
        fail_msg("%s (%zu bytes): libarchive engages, the pre-check says no", what, len);
    if (engine && (m & ~(unsigned)PAL_SNIFF_TAR_ZERO) == 0)
        fail_msg("%s (%zu bytes): the engine's probe engages, the pre-check says no (0x%x)", what,
                 len, m);
    T.checked++;
    T.engaged += (unsigned)plain;
    return plain;
}

/* ---- members: every entry and decompressed stream inside a fixture ----------------------- */

/* Bounds on the walk, so that the bombs cost little: members are cut at 4 MiB (a cut
   member is arbitrary input, as good a case as any), at most 64 per container, 64 MiB per
   fixture. */
#define MEMBER_MAX (4U << 20)
#define MEMBERS_MAX 64
#define FIXTURE_BUDGET (64U << 20)
static size_t g_budget;

static void check_members(const char *what, const uint8_t *d, size_t len, unsigned depth);

static struct archive *reader(int raw)
{
    static int (*const fmts[])(struct archive *) = {
        archive_read_support_format_7zip,
        archive_read_support_format_ar,
        archive_read_support_format_cab,
        archive_read_support_format_cpio,
        archive_read_support_format_iso9660,
        archive_read_support_format_lha,
        archive_read_support_format_rar,
        archive_read_support_format_rar5,
        archive_read_support_format_tar,
        archive_read_support_format_warc,
        archive_read_support_format_xar,
        archive_read_support_format_zip_seekable,
        archive_read_support_format_zip_streamable,
    };
    static int (*const filters[])(struct archive *) = {
        archive_read_support_filter_bzip2, archive_read_support_filter_compress,
        archive_read_support_filter_gzip,  archive_read_support_filter_lz4,
        archive_read_support_filter_lzip,  archive_read_support_filter_lzma,
        archive_read_support_filter_rpm,   archive_read_support_filter_uu,
        archive_read_support_filter_xz,    archive_read_support_filter_zstd,
    };
    struct archive *a = archive_read_new();
    assert_non_null(a);
    if (raw) {
        archive_read_support_format_raw(a);
    } else {
        for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++)
            fmts[i](a);
    }
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
        filters[i](a);
    return a;
}

static void walk_reader(struct archive *a, const char *what, unsigned depth)
{
    struct archive_entry *e;
    int n = 0;
    while (n++ < MEMBERS_MAX && g_budget > 0 && archive_read_next_header(a, &e) == ARCHIVE_OK) {
        if (archive_entry_filetype(e) != AE_IFREG && archive_entry_filetype(e) != 0)
            continue;
        size_t cap = 1 << 16, used = 0;
        uint8_t *buf = malloc(cap);
        assert_non_null(buf);
        for (;;) {
            if (used >= g_budget)
                break;
            if (used == cap) {
                if (cap >= MEMBER_MAX)
                    break;
                cap *= 2;
                buf = realloc(buf, cap);
                assert_non_null(buf);
            }
            la_ssize_t got = archive_read_data(a, buf + used, cap - used);
            if (got <= 0)
                break;
            used += (size_t)got;
        }
        g_budget -= used < g_budget ? used : g_budget;
        char name[1400];
        const char *p = archive_entry_pathname(e);
        snprintf(name, sizeof(name), "%s->%s", what, p != NULL ? p : "?");
        check_members(name, buf, used, depth + 1);
        free(buf);
    }
}

static void check_members(const char *what, const uint8_t *d, size_t len, unsigned depth)
{
    if (!check_bytes(what, d, len) || depth >= 6)
        return;
    struct archive *a = reader(0);
    if (archive_read_open_memory(a, d, len) == ARCHIVE_OK) {
        walk_reader(a, what, depth);
        archive_read_free(a);
        return;
    }
    int nf = archive_filter_count(a);
    archive_read_free(a);
    if (nf > 1) { /* a bare compressed stream: its decompressed bytes */
        a = reader(1);
        if (archive_read_open_memory(a, d, len) == ARCHIVE_OK)
            walk_reader(a, what, depth);
        archive_read_free(a);
    }
}

static void check_dir(const char *dir, unsigned *files)
{
    DIR *dh = opendir(dir);
    if (dh == NULL)
        fail_msg("cannot open %s", dir);
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[2400];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        size_t len;
        uint8_t *d = read_file(path, &len);
        assert_non_null(d);
        g_budget = FIXTURE_BUDGET;
        check_members(path, d, len, 0);
        free(d);
        (*files)++;
    }
    closedir(dh);
}

/* Every fixture of the engine corpus (generated as test_engine does) and the fuzz seeds. */
static void test_fixtures(void **state)
{
    (void)state;
    char corpus[1200], manifest[1300];
    snprintf(corpus, sizeof(corpus), "%s/tests/engine/corpus", T.bin);
    snprintf(manifest, sizeof(manifest), "%s/manifest.tsv", corpus);
    if (access(manifest, R_OK) != 0 &&
        run_cmd("bash '%s/tests/engine/mkcorpus.sh' '%s'", T.src, corpus) != 0)
        fail_msg("mkcorpus.sh failed");
    unsigned files = 0, before = T.engaged;
    check_dir(corpus, &files);
    char seeds[1200];
    snprintf(seeds, sizeof(seeds), "%s/fuzz/corpus/engine", T.src);
    check_dir(seeds, &files);
    /* the corpus is nearly all containers: a run where libarchive engaged on few of them
       would check nothing */
    assert_true(files >= 100);
    assert_true(T.engaged - before >= 150);
    print_message("fixtures: %u files, %u objects with members, libarchive engaged on %u\n", files,
                  T.checked, T.engaged);
}

/* ---- crafted cases at the edges of the bidders' windows ---------------------------------- */

static uint8_t *fixture(const char *name, size_t *len)
{
    char path[1400];
    snprintf(path, sizeof(path), "%s/fuzz/corpus/engine/%s", T.src, name);
    uint8_t *d = read_file(path, len);
    if (d == NULL)
        fail_msg("missing seed %s", path);
    return d;
}

/* A case libarchive must engage on (else the case tests nothing) and the pre-check too. */
static void must_engage(const char *what, const uint8_t *d, size_t len)
{
    if (!check_bytes(what, d, len))
        fail_msg("%s: libarchive does not engage, the case is wrong", what);
}

/* lo..hi-1 filled with noise that holds no signature by chance (bytes 0x80-0xFF only:
   no ASCII, so no signature, no begin line, no zero block). */
static void noise(uint8_t *d, size_t lo, size_t hi, unsigned seed)
{
    for (size_t i = lo; i < hi; i++) {
        seed = seed * 1103515245U + 12345U;
        d[i] = (uint8_t)(0x80 | (seed >> 16));
    }
}

/* An executable of total bytes with the archive a at offset off. */
static uint8_t *sfx(const char *head, size_t hlen, size_t total, size_t off, const uint8_t *a,
                    size_t alen)
{
    assert_true(off + alen <= total);
    uint8_t *d = malloc(total);
    assert_non_null(d);
    noise(d, 0, total, (unsigned)total);
    memcpy(d, head, hlen);
    memcpy(d + off, a, alen);
    return d;
}

static void test_sfx(void **state)
{
    (void)state;
    size_t l7, lcab, lzip;
    uint8_t *a7 = fixture("hello.7z", &l7);
    uint8_t *cab = fixture("hello.cab", &lcab);
    uint8_t *zip = fixture("hello.zip", &lzip);
    static const struct {
        const char *head;
        size_t hlen;
    } heads[] = {{"MZ", 2},
                 {"\x7f"
                  "ELF\x02\x01\x01",
                  7}};
    for (size_t h = 0; h < 2; h++) {
        /* 7z from SFX_MIN_ADDR (0x27000) to the very end of a 3 MiB executable */
        size_t total = 3U << 20;
        size_t offs[] = {0x27000, 0x5ffe0, 0x60000, 0x123457, total - l7};
        for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
            uint8_t *d = sfx(heads[h].head, heads[h].hlen, total, offs[i], a7, l7);
            must_engage("7z sfx", d, total);
            free(d);
        }
        /* rar and rar5 signatures at 0x10000 + 16k, up to the end (the bidder bids on the
           signature alone) */
        size_t roffs[] = {0x10000, 0x1fff0, 0x7fff0, 0x80000, total - 16};
        for (size_t i = 0; i < sizeof(roffs) / sizeof(roffs[0]); i++) {
            uint8_t *d = sfx(heads[h].head, heads[h].hlen, total, roffs[i],
                             (const uint8_t *)"Rar!\x1a\x07\x00", 7);
            must_engage("rar sfx", d, total);
            memcpy(d + roffs[i], "Rar!\x1a\x07\x01\x00", 8);
            must_engage("rar5 sfx", d, total);
            free(d);
        }
        /* a rar signature off the 16-byte grid is not searched for: whatever both say */
        uint8_t *d = sfx(heads[h].head, heads[h].hlen, total, 0x10008,
                         (const uint8_t *)"Rar!\x1a\x07\x00", 7);
        check_bytes("rar sfx off grid", d, total);
        free(d);
    }
    /* cab and lha only behind MZ, anywhere */
    size_t total = 1U << 20;
    size_t coffs[] = {2, 0x1fff8, 0x20000, total - lcab};
    for (size_t i = 0; i < sizeof(coffs) / sizeof(coffs[0]); i++) {
        uint8_t *d = sfx("MZ", 2, total, coffs[i], cab, lcab);
        must_engage("cab sfx", d, total);
        free(d);
    }
    uint8_t lha[22] = {0};
    lha[0] = 0x20; /* header size */
    memcpy(lha + 2, "-lh0-", 5);
    lha[20] = 0; /* level 0 */
    size_t loffs[] = {2, 0x4ff0, 0x5000, total - 23};
    for (size_t i = 0; i < sizeof(loffs) / sizeof(loffs[0]); i++) {
        uint8_t *d = sfx("MZ", 2, total, loffs[i], lha, sizeof(lha));
        must_engage("lha sfx", d, total);
        free(d);
    }
    /* a zip behind an executable, found by its end of central directory */
    uint8_t *d = sfx("MZ", 2, 200000, 200000 - lzip, zip, lzip);
    must_engage("zip sfx", d, 200000);
    free(d);
    free(a7);
    free(cab);
    free(zip);
}

/* The end of central directory as far from the end as the seekable reader looks. */
static void test_zip_eocd(void **state)
{
    (void)state;
    size_t lzip;
    uint8_t *zip = fixture("hello.zip", &lzip);
    uint8_t *eocd = NULL;
    for (size_t i = lzip - 22;; i--) {
        if (memcmp(zip + i, "PK\x05\x06", 4) == 0) {
            eocd = zip + i;
            break;
        }
        assert_true(i > 0);
    }
    size_t body = (size_t)(eocd - zip);
    /* junk + zip + a comment of c bytes: EOCD at len - 22 - c */
    size_t comments[] = {0, 1000, 16384 - 23, 16384 - 22, 16384, 65535};
    for (size_t i = 0; i < sizeof(comments) / sizeof(comments[0]); i++) {
        size_t c = comments[i];
        size_t len = 4096 + body + 22 + c;
        uint8_t *d = malloc(len);
        assert_non_null(d);
        noise(d, 0, 4096, 7);
        memcpy(d + 4096, zip, body + 22);
        d[4096 + body + 20] = (uint8_t)(c & 0xff);
        d[4096 + body + 21] = (uint8_t)(c >> 8);
        noise(d, 4096 + body + 22, len, 9);
        if (22 + c < 16384)
            must_engage("zip eocd", d, len);
        else
            check_bytes("zip eocd beyond 16 KiB", d, len);
        free(d);
    }
    free(zip);
}

static void put_octal(uint8_t *f, size_t n, unsigned long v)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%0*lo", (int)(n - 1), v);
    memcpy(f, tmp, n - 1);
    f[n - 1] = 0;
}

static void tar_checksum(uint8_t *h, int sign)
{
    memset(h + 148, ' ', 8);
    long sum = 0;
    for (size_t i = 0; i < 512; i++)
        sum += sign ? (long)(signed char)h[i] : (long)h[i];
    char tmp[16];
    snprintf(tmp, sizeof(tmp), "%06lo", (unsigned long)sum);
    memcpy(h + 148, tmp, 6);
    h[154] = 0;
    h[155] = ' ';
}

/* v7 tar (no magic), an old tar with a signed checksum, a leading zero block. */
static void test_tar(void **state)
{
    (void)state;
    uint8_t d[2048] = {0};
    memcpy(d, "hello.txt", 9);
    put_octal(d + 100, 8, 0644);
    put_octal(d + 108, 8, 0);
    put_octal(d + 116, 8, 0);
    put_octal(d + 124, 12, 6);
    put_octal(d + 136, 12, 1234567);
    d[156] = '0';
    memcpy(d + 512, "hello\n", 6);
    tar_checksum(d, 0);
    must_engage("v7 tar", d, sizeof(d));
    d[0] = 0xe9; /* a high byte: only the signed sum matches */
    tar_checksum(d, 1);
    must_engage("old tar, signed checksum", d, sizeof(d));
    /* spaces before the digits, no terminator */
    memset(d + 148, ' ', 8);
    long sum = 0;
    for (size_t i = 0; i < 512; i++)
        sum += (signed char)d[i];
    char tmp[16];
    snprintf(tmp, sizeof(tmp), "%7lo", (unsigned long)sum);
    memcpy(d + 148, tmp, 7);
    d[155] = ' ';
    must_engage("tar, padded checksum", d, sizeof(d));
    uint8_t z[1024] = {0};
    memcpy(z + 700, "anything", 8);
    must_engage("tar zero block", z, sizeof(z));
    assert_true(pal_sniff(z, sizeof(z)) & PAL_SNIFF_TAR_ZERO);
    /* 511 bytes: no tar bid */
    check_bytes("short tar", d, 511);
}

static void test_cpio_iso_magic(void **state)
{
    (void)state;
    uint8_t d[4096];
    noise(d, 0, sizeof(d), 3);
    d[0] = 0x71, d[1] = 0xc7;
    must_engage("binary cpio big-endian", d, sizeof(d));
    d[0] = 0xc7, d[1] = 0x71;
    must_engage("binary cpio little-endian", d, sizeof(d));
    static const char *const ascii[] = {"070707", "070727", "070701", "070702"};
    for (size_t i = 0; i < 4; i++) {
        memcpy(d, ascii[i], 6);
        must_engage("ascii cpio", d, sizeof(d));
    }
    static const struct {
        const char *m;
        size_t n;
    } k[] = {
        {"!<arch>\n", 8},
        {"MSCF\0\0\0\0", 8},
        {"7z\xbc\xaf\x27\x1c", 6},
        {"Rar!\x1a\x07\x00", 7},
        {"Rar!\x1a\x07\x01\x00", 8},
        {"WARC/1.0\r\n", 10},
        {"xar!\x00\x1c\x00\x01", 8},
        {"PK\x03\x04", 4},
        {"PK00", 4},
        {"\x1f\x8b\x08\x00", 4},
        {"\x1f\x9d\x90", 3},
        {"BZh91AY&SY", 10},
        {"\xfd"
         "7zXZ\x00",
         6},
        {"\x28\xb5\x2f\xfd", 4},
        {"\x50\x2a\x4d\x18", 4}, /* zstd skippable frame */
        {"\x04\x22\x4d\x18\x64\x40", 6},
        {"\x02\x21\x4c\x18", 4},
        {"LZIP\x01\x0c", 6},
        {"\xed\xab\xee\xdb\x03\x00\x00\x00", 8},
        {"\x89LZO\x00\r\n\x1a\n", 9},
        {"LRZI\x00", 5},
        {"GRZipII\x00\x02\x04:)", 12},
    };
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
        noise(d, 0, sizeof(d), (unsigned)i);
        memcpy(d, k[i].m, k[i].n);
        if (i == 6) /* xar: a header size of 28, version 1, checksum none */
            memset(d + 24, 0, 4);
        check_bytes(k[i].m, d, sizeof(d));
        assert_true(pal_sniff(d, sizeof(d)) != 0);
    }
    /* iso9660: a primary volume descriptor and a terminator at 32 KiB */
    size_t lx;
    uint8_t *x = fixture("hello.iso.xz", &lx);
    g_budget = FIXTURE_BUDGET;
    check_members("hello.iso.xz", x, lx, 0);
    free(x);
    uint8_t *iso = calloc(1, 64 * 1024);
    assert_non_null(iso);
    iso[32768] = 1;
    memcpy(iso + 32769, "CD001", 5);
    check_bytes("iso descriptor only", iso, 64 * 1024);
    assert_true(pal_sniff(iso, 64 * 1024) & PAL_SNIFF_ISO9660);
    free(iso);
    /* lha at offset 0 */
    uint8_t lha[64];
    noise(lha, 0, sizeof(lha), 5);
    lha[0] = 0x20;
    memcpy(lha + 2, "-lh5-", 5);
    lha[20] = 1;
    lha[19] = 0x20;
    must_engage("lha", lha, sizeof(lha));
}

/* lzma-alone's guess: every dictionary size the bidder accepts, and the 1 MiB steps. */
static void test_lzma(void **state)
{
    (void)state;
    uint8_t d[64];
    for (unsigned sh = 12; sh <= 27; sh++) {
        memset(d, 0, sizeof(d));
        d[0] = 0x5d;
        uint32_t dic = 1U << sh;
        memcpy(d + 1, &dic, 4);
        memset(d + 5, 0xff, 8);
        must_engage("lzma", d, sizeof(d));
        d[0] = 224;
        must_engage("lzma byte 0 = 224", d, sizeof(d));
        check_bytes("lzma 14 bytes", d, 14);
        check_bytes("lzma 13 bytes", d, 13);
    }
    for (uint32_t mib = 1; mib <= 70; mib++) {
        memset(d, 0, sizeof(d));
        d[0] = 0x5e;
        uint32_t dic = mib << 20;
        memcpy(d + 1, &dic, 4);
        memset(d + 5, 0xff, 8);
        check_bytes("lzma MiB steps", d, sizeof(d));
    }
}

/* uuencode and base64 "begin" lines, up to the end of the bidder's 128 KiB. */
static void test_uu(void **state)
{
    (void)state;
    static const char uu[] = "begin 644 x.txt\n%:&5L;&\\*\n`\nend\n";
    static const char b64[] = "begin-base64 644 x.txt\naGVsbG8K\n====\n";
    const char *const bodies[] = {uu, b64};
    size_t lens[] = {1000, 130000, (128U << 10) - 40, (128U << 10) + 5000, 1U << 20};
    for (size_t b = 0; b < 2; b++) {
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            size_t n = lens[i];
            size_t blen = strlen(bodies[b]);
            uint8_t *d = malloc(n + blen);
            assert_non_null(d);
            for (size_t k = 0; k < n; k++)
                d[k] = (k % 64 == 63) ? '\n' : (uint8_t)('a' + k % 26);
            d[n - 1] = '\n';
            memcpy(d + n, bodies[b], blen);
            int got = check_bytes("uu at the end of text", d, n + blen);
            if (n + blen < (128U << 10))
                assert_true(got); /* the whole text is read: it must be found */
            /* CR line ends, and the begin line first */
            d[n - 1] = '\r';
            check_bytes("uu after CR", d, n + blen);
            memmove(d, d + n, blen);
            must_engage("uu first line", d, n + blen);
            free(d);
        }
    }
    /* a tab (not in the bidder's table) before the begin line: neither reads on */
    char t[] = "a\tb\nbegin 644 x\n%:&5L;&\\*\n`\nend\n";
    check_bytes("uu after a tab", (const uint8_t *)t, strlen(t));
}

/* ---- a realistic tree: superset, and the share the pre-check keeps from libarchive ------ */

static void test_tree(void **state)
{
    (void)state;
    char dir[1400];
    const char *given = getenv("PAL_SNIFF_TREE");
    char tmpl[] = "/tmp/pal-sniff-XXXXXX";
    if (given != NULL) {
        snprintf(dir, sizeof(dir), "%s", given);
    } else {
        assert_non_null(mkdtemp(tmpl));
        snprintf(dir, sizeof(dir), "%s/tree", tmpl);
        if (run_cmd("python3 '%s/bench/gen_tree.py' '%s' --shape mixed --total-mib 24 "
                    "--files 1200 --seed 13 >/dev/null",
                    T.src, dir) != 0)
            fail_msg("gen_tree.py failed");
    }
    char list[1600];
    snprintf(list, sizeof(list), "find '%s' -type f", dir);
    FILE *p = popen(list, "r");
    assert_non_null(p);
    unsigned files = 0, engaged = 0, rejected = 0, plain = 0;
    char path[4096];
    while (fgets(path, sizeof(path), p) != NULL) {
        path[strcspn(path, "\n")] = '\0';
        size_t len;
        uint8_t *d = read_file(path, &len);
        assert_non_null(d);
        int e = pal_expand_probe_engages(&T.sup, d, len, 0);
        unsigned m = pal_sniff(d, len) & ~(unsigned)PAL_SNIFF_TAR_ZERO;
        if (e && m == 0)
            fail_msg("%s: the engine's probe engages, the pre-check says no", path);
        files++;
        engaged += (unsigned)(e == 1);
        if (e == 0) {
            plain++;
            rejected += m == 0;
        }
        free(d);
    }
    pclose(p);
    if (given == NULL)
        run_cmd("rm -rf '%s'", tmpl);
    assert_true(files > 0 && plain > 0);
    print_message("tree %s: %u files; libarchive engages on %u; of the %u it does not, the "
                  "pre-check rejects %u (%.1f%%); objects sent to libarchive: %u (%.1f%%)\n",
                  dir, files, engaged, plain, rejected, 100.0 * rejected / plain, files - rejected,
                  100.0 * (files - rejected) / files);
    /* the point of the pre-check: most non-containers never reach libarchive */
    assert_true(rejected * 100U >= plain * 90U);
}

int main(void)
{
    const char *s = getenv("PAL_SOURCE_DIR");
    const char *b = getenv("PAL_BINARY_DIR");
    snprintf(T.src, sizeof(T.src), "%s", s ? s : PAL_TEST_SOURCE_DIR);
    snprintf(T.bin, sizeof(T.bin), "%s", b ? b : PAL_TEST_BINARY_DIR);
    if (pal_expand_probe(&T.sup) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sfx),      cmocka_unit_test(test_zip_eocd),
        cmocka_unit_test(test_tar),      cmocka_unit_test(test_cpio_iso_magic),
        cmocka_unit_test(test_lzma),     cmocka_unit_test(test_uu),
        cmocka_unit_test(test_fixtures), cmocka_unit_test(test_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
