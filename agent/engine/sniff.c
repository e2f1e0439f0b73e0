/*
 * sniff.c — the container pre-check: could any reader expand.c enables bid on these bytes?
 *
 * Setting up a libarchive reader with twelve formats and ten filters and letting each bid
 * costs malloc/free of every format's state, a seek to the end for the zip reader and a
 * line scan for the uu filter, on every object, although nearly all objects are not
 * containers. This module decides from the bytes, cheaply, whether a bidder COULD accept
 * them, so that libarchive is only set up for those.
 *
 * The rule: a strict superset of libarchive 3.6.2's bidders (Debian 12's, the one we link),
 * as expand.c drives them, i.e. archive_read_open_memory on the whole object, which hands
 * libarchive the object as ONE block, so that every __archive_read_ahead sees the whole
 * object. Each condition below is one a bidder REQUIRES (cited by file and function), taken
 * loosely or left out, never made stricter; when in doubt, "maybe". Only the first filter
 * layer matters: when no filter bids on the raw bytes, the formats bid on the raw bytes;
 * when one does, this says maybe. tests/unit/test_sniff.c runs every container fixture and
 * crafted edge cases through both this and libarchive's real probe, and fuzz/fuzz_sniff.c
 * checks the same property on arbitrary input.
 */
#define _GNU_SOURCE /* memmem */
#include "sniff.h"

#include <string.h>

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int has_prefix(const uint8_t *d, size_t len, const char *magic, size_t mlen)
{
    return len >= mlen && memcmp(d, magic, mlen) == 0;
}

/*
 * The searches below run over whole objects (an executable, the tail of every object), so
 * they compare 16 positions at a time (GCC/clang vector extensions: SSE2 on x86-64) and
 * only look closer at a block where something matched.
 */
typedef uint8_t v16 __attribute__((vector_size(16)));
typedef int8_t v16m __attribute__((vector_size(16)));

static v16 load16(const uint8_t *p)
{
    v16 v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static int any16(v16m m)
{
    uint64_t a, b;
    memcpy(&a, &m, 8);
    memcpy(&b, (const uint8_t *)&m + 8, 8);
    return (a | b) != 0;
}

/* The first occurrence of sig (at least 4 bytes) in d[0..n), or NULL. */
static const uint8_t *find_sig(const uint8_t *d, size_t n, const char *sig, size_t slen)
{
    const uint8_t *s = (const uint8_t *)sig;
    if (n < slen)
        return NULL;
    size_t last = n - slen; /* the last position a match can start at */
    size_t i = 0;
    for (; i + 16 + 3 <= n && i <= last; i += 16) {
        v16m m = (load16(d + i) == s[0]) & (load16(d + i + 1) == s[1]) &
                 (load16(d + i + 2) == s[2]) & (load16(d + i + 3) == s[3]);
        if (!any16(m))
            continue;
        for (size_t k = i; k < i + 16 && k <= last; k++)
            if (memcmp(d + k, s, slen) == 0)
                return d + k;
    }
    for (; i <= last; i++)
        if (memcmp(d + i, s, slen) == 0)
            return d + i;
    return NULL;
}

/* ---- filters (archive_read_support_filter_*.c) ------------------------------------------ */

/*
 * The magic-number filters. Each bidder compares a fixed prefix and returns 0 on mismatch;
 * only the prefix is checked here (their further checks, and the minimum lengths, are left
 * out: looser).
 *   bzip2_reader_bid      "BZh"
 *   compress_bidder_bid   1F 9D
 *   gzip peek_at_header   1F 8B 08 (checked: 1F 8B)
 *   lz4_reader_bid        le32 0x184D2204 (frame) or 0x184C2102 (legacy)
 *   lzip_has_member       "LZIP"
 *   rpm_bidder_bid        ED AB EE DB
 *   xz_bidder_bid         FD "7zXZ" 00
 *   zstd_bidder_bid       le32 0xFD2FB528, or a skippable frame 0x184D2A5?
 * and the three expand.c reports unscannable without letting libarchive run a program
 * (external_only_format; their bidders are never registered): lzop 89 "LZO", lrzip "LRZI",
 * grzip "GRZi".
 */
static unsigned sniff_compressed(const uint8_t *d, size_t len)
{
    if (has_prefix(d, len, "BZh", 3) || has_prefix(d, len, "\x1f\x9d", 2) ||
        has_prefix(d, len, "\x1f\x8b", 2) || has_prefix(d, len, "LZIP", 4) ||
        has_prefix(d, len, "\xed\xab\xee\xdb", 4) ||
        has_prefix(d, len,
                   "\xfd"
                   "7zXZ\x00",
                   6))
        return PAL_SNIFF_COMPRESSED;
    if (len >= 4) {
        uint32_t m = le32(d);
        if (m == 0x184D2204U || m == 0x184C2102U || m == 0xFD2FB528U ||
            (m & 0xFFFFFFF0U) == 0x184D2A50U)
            return PAL_SNIFF_COMPRESSED;
    }
    if (has_prefix(d, len, "\x89LZO", 4) || has_prefix(d, len, "LRZI", 4) ||
        has_prefix(d, len, "GRZi", 4))
        return PAL_SNIFF_EXTERNAL;
    return 0;
}

/*
 * lzma_bidder_bid (filter_xz.c): reads 14 bytes (fewer: no bid); byte 0 at most
 * (4 * 5 + 4) * 9 + 8 = 224; the dictionary size (le32 at 1) one of 2^12 .. 2^27, or else a
 * multiple of 1 MiB from 3 MiB to 63 MiB (which the bidder accepts only together with
 * byte 0 = 5D/5E and an unknown size: not checked here, looser). Anything else returns 0.
 */
static unsigned sniff_lzma(const uint8_t *d, size_t len)
{
    if (len < 14 || d[0] > 224)
        return 0;
    uint32_t dic = le32(d + 1);
    if (dic >= 0x1000U && dic <= 0x08000000U && (dic & (dic - 1)) == 0)
        return PAL_SNIFF_LZMA;
    if (dic >= 0x00300000U && dic <= 0x03F00000U && (dic & 0xFFFFFU) == 0)
        return PAL_SNIFF_LZMA;
    return 0;
}

/*
 * uudecode_bidder_bid (filter_uu.c) reads line by line from the start: a line holding a
 * byte its ascii[] table rejects (anything but 0x20-0x7E, CR and LF) ends the bid with no
 * match, so the "begin " / "begin-base64 " line it looks for lies inside the prefix of such
 * bytes and starts the file or follows a CR or LF. It gives up after a line once it has
 * read UUENCODE_BID_MAX_READ (128 KiB) bytes, and every line it examines starts inside
 * what it has read, so the begin line starts before 128 KiB (in memory, read in one block,
 * only the first line of a longer object is examined: looser here). The mode digits, the
 * line after it, and the line ends it requires are not checked here.
 */
#define UU_BID_MAX_READ (128U * 1024U)

static int uu_bad(uint8_t c)
{
    return (uint8_t)(c - 0x20) >= 0x5F && c != '\n' && c != '\r';
}

static int uu_begin_at(const uint8_t *d, size_t i, size_t end)
{
    return i + 5 <= end && memcmp(d + i, "begin", 5) == 0;
}

static unsigned sniff_uu(const uint8_t *d, size_t len)
{
    size_t scan = len < UU_BID_MAX_READ + 5 ? len : UU_BID_MAX_READ + 5;
    if (uu_begin_at(d, 0, scan))
        return PAL_SNIFF_UU;
    /* One pass: stop at the first byte the bidder's table rejects; look closer where a
       CR or LF is followed by 'b' (a line that may start "begin"). 16 bytes at a time:
       c - 0x20 >= 0x5F (as a byte) is c < 0x20 or c >= 0x7F. */
    size_t i = 0;
    for (; i + 17 <= scan; i += 16) {
        v16 c = load16(d + i);
        v16 next = load16(d + i + 1);
        v16m nl = (c == '\n') | (c == '\r');
        v16m bad = ((v16)(c - 0x20) >= 0x5F) & ~nl;
        v16m cand = nl & (next == 'b');
        if (!any16(bad | cand))
            continue;
        for (size_t k = i; k < i + 16; k++) {
            if (uu_bad(d[k]))
                return 0;
            if ((d[k] == '\n' || d[k] == '\r') && uu_begin_at(d, k + 1, scan))
                return PAL_SNIFF_UU;
        }
    }
    for (; i < scan; i++) {
        if (uu_bad(d[i]))
            return 0;
        if ((d[i] == '\n' || d[i] == '\r') && uu_begin_at(d, i + 1, scan))
            return PAL_SNIFF_UU;
    }
    return 0;
}

/* ---- formats (archive_read_support_format_*.c) ------------------------------------------- */

/*
 * Formats recognised by a magic at offset 0 (the prefix only; looser):
 *   archive_read_format_7zip_bid      "7z" BC AF 27 1C
 *   archive_read_format_ar_bid        "!<arch>\n"
 *   archive_read_format_cab_bid       "MSCF" 00 00 00 00 (checked: "MSCF")
 *   archive_read_format_cpio_bid      "070707" "070727" "070701" "070702" (checked: "0707"),
 *                                     binary 070707 as a 16-bit word in either byte order
 *                                     (71 C7 or C7 71)
 *   archive_read_format_lha_bid       lha_check_header_format at 0: "-l" at 2, '-' at 6,
 *                                     after reading H_SIZE (22) bytes
 *   archive_read_format_rar_bid       "Rar!" 1A 07 00; rar5_bid "Rar!" 1A 07 01 00
 *                                     (checked: "Rar!" 1A 07)
 *   _warc_bid / _warc_rdver           "WARC/"
 *   xar_bid                           be32 HEADER_MAGIC 0x78617221 ("xar!")
 *   archive_read_format_zip_streamable_bid  "PK" and one of six pairs (checked: "PK")
 */
static unsigned sniff_magic(const uint8_t *d, size_t len)
{
    static const struct {
        const char *magic;
        size_t len;
    } k_magic[] = {
        {"7z\xbc\xaf\x27\x1c", 6}, {"!<arch>\n", 8},    {"MSCF", 4},  {"0707", 4}, {"\x71\xc7", 2},
        {"\xc7\x71", 2},           {"Rar!\x1a\x07", 6}, {"WARC/", 5}, {"xar!", 4}, {"PK", 2},
    };
    for (size_t i = 0; i < sizeof(k_magic) / sizeof(k_magic[0]); i++)
        if (has_prefix(d, len, k_magic[i].magic, k_magic[i].len))
            return PAL_SNIFF_MAGIC;
    if (len >= 22 && d[2] == '-' && d[3] == 'l' && d[6] == '-')
        return PAL_SNIFF_MAGIC;
    return 0;
}

/*
 * archive_read_format_tar_bid reads a 512-byte header (fewer bytes: no bid) and bids on an
 * all-zero block (an end-of-archive mark) or on a header whose checksum() holds: the field
 * at 148 (8 bytes) only spaces, NULs and octal digits, and its value (tar_atol8: leading
 * spaces, then octal digits) the sum of the header's bytes with the field counted as
 * spaces, taken unsigned or signed. Its magic, type flag and number fields are checked only
 * after that (not here: v7 and old tar headers have no magic). An all-zero block is
 * PAL_SNIFF_TAR_ZERO: expand.c offers such data to every format but tar.
 */
static unsigned sniff_tar(const uint8_t *d, size_t len)
{
    if (len < 512)
        return 0;
    const uint8_t *f = d + 148;
    for (size_t i = 0; i < 8; i++)
        if (f[i] != ' ' && f[i] != 0 && (f[i] < '0' || f[i] > '7'))
            goto not_header;
    size_t i = 0;
    while (i < 8 && f[i] == ' ')
        i++;
    long want = 0;
    for (; i < 8 && f[i] >= '0' && f[i] <= '7'; i++)
        want = want * 8 + (f[i] - '0');
    long usum = 8 * 32, ssum = 8 * 32;
    for (size_t k = 0; k < 512; k++) {
        if (k == 148)
            k = 156;
        usum += d[k];
        ssum += (signed char)d[k];
    }
    if (want == usum || want == ssum)
        return PAL_SNIFF_TAR;
not_header:
    if (d[0] == 0 && d[511] == 0 && memcmp(d, d + 1, 511) == 0)
        return PAL_SNIFF_TAR_ZERO;
    return 0;
}

/*
 * archive_read_format_iso9660_bid reads 32 KiB of system area plus eight 2 KiB sectors and
 * requires "CD001" at 1 in the first volume descriptor (at 32 KiB). Checked: the length to
 * reach that field and the identifier.
 */
static unsigned sniff_iso9660(const uint8_t *d, size_t len)
{
    if (len >= 32768 + 6 && memcmp(d + 32769, "CD001", 5) == 0)
        return PAL_SNIFF_ISO9660;
    return 0;
}

/*
 * archive_read_format_zip_seekable_bid seeks to the end and searches the last
 * min(16 KiB, size) bytes for the end-of-central-directory signature "PK\5\6" (the last
 * one found, validated by read_eocd). Checked: the signature anywhere in that tail.
 */
#define ZIP_EOCD_TAIL (16U * 1024U)

static unsigned sniff_zip_eocd(const uint8_t *d, size_t len)
{
    size_t tail = len < ZIP_EOCD_TAIL ? len : ZIP_EOCD_TAIL;
    if (find_sig(d + len - tail, tail, "PK\x05\x06", 4) != NULL)
        return PAL_SNIFF_ZIP_EOCD;
    return 0;
}

/*
 * Self-extracting archives: four readers search an executable for an embedded archive.
 * Read in one block, each search runs from its start offset to the end of the object
 * (the inner loops run while the signature fits in what __archive_read_ahead returned,
 * which is everything), so the search here runs to the end as well.
 *   archive_read_format_7zip_bid   'MZ' or 7F "ELF": "7z" BC AF 27 1C (then a CRC, not
 *                                  checked here) anywhere from SFX_MIN_ADDR (0x27000)
 *   archive_read_format_rar_bid,   'MZ' or 7F "ELF": "Rar!" 1A 07 00 (rar) or 01 00 (rar5,
 *   rar5 bid_sfx                   its signature XORed in the source) at 0x10000 + 16 k
 *   archive_read_format_cab_bid    'MZ': "MSCF" 00 00 00 00 anywhere (find_cab_magic)
 *   archive_read_format_lha_bid    'MZ': a header anywhere: "-l" at 2 and '-' at 6 of it
 */
#define SFX_7Z_MIN 0x27000U
#define SFX_RAR_MIN 0x10000U

static unsigned sniff_sfx(const uint8_t *d, size_t len)
{
    int mz = len >= 2 && d[0] == 'M' && d[1] == 'Z';
    int elf = len >= 4 && memcmp(d,
                                 "\x7f"
                                 "ELF",
                                 4) == 0;
    if (!mz && !elf)
        return 0;
    if (len > SFX_7Z_MIN && find_sig(d + SFX_7Z_MIN, len - SFX_7Z_MIN, "7z\xbc\xaf\x27\x1c", 6))
        return PAL_SNIFF_SFX;
    for (size_t off = SFX_RAR_MIN; len >= 6 && off <= len - 6; off += 16)
        if (d[off] == 'R' && memcmp(d + off, "Rar!\x1a\x07", 6) == 0)
            return PAL_SNIFF_SFX;
    if (!mz)
        return 0;
    if (find_sig(d, len, "MSCF\0\0\0\0", 8) != NULL)
        return PAL_SNIFF_SFX;
    const uint8_t *p = d + 2;
    const uint8_t *end = d + len;
    while (end - p >= 5) {
        const uint8_t *hit = memmem(p, (size_t)(end - p), "-l", 2);
        if (hit == NULL || end - hit < 5)
            break;
        if (hit[4] == '-')
            return PAL_SNIFF_SFX;
        p = hit + 1;
    }
    return 0;
}

unsigned pal_sniff(const uint8_t *data, size_t len)
{
    if (len == 0)
        return 0; /* no bidder accepts nothing (the seekable zip reader wants a size > 0) */
    /* Cheapest first; the first hit answers, except a zero block, which expand.c ignores
       (it offers such data to every format but tar): then the others still count. */
    unsigned m = sniff_compressed(data, len) | sniff_magic(data, len) | sniff_lzma(data, len);
    if (m != 0)
        return m;
    unsigned zero = sniff_tar(data, len);
    if (zero & PAL_SNIFF_TAR)
        return zero;
    m = sniff_iso9660(data, len) | sniff_zip_eocd(data, len);
    if (m == 0)
        m = sniff_sfx(data, len);
    if (m == 0)
        m = sniff_uu(data, len);
    return m | zero;
}
