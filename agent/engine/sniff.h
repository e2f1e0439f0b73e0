/*
 * sniff.h — the container pre-check (internal to agent/engine/).
 *
 * sniff.c owns one question: could any reader expand.c enables (libarchive 3.6.2's formats
 * and filters, plus the magic of the external-only compressors it reports) bid on these
 * bytes? It answers from the bytes alone, in far less time than setting up a libarchive
 * reader, so that the container probe runs only on objects that might be containers. The
 * answer is a strict superset of libarchive's: every condition a bidder requires is
 * checked loosely or not at all, never more strictly (sniff.c cites each bidder). A zero
 * answer means no bidder can accept the bytes; anything else means "maybe".
 */
#ifndef PAL_SNIFF_H
#define PAL_SNIFF_H

#include <stddef.h>
#include <stdint.h>

/* Which bidders might accept the bytes (or-ed); 0 = none can. */
enum {
    PAL_SNIFF_COMPRESSED = 1U << 0, /* a compression filter's magic (gzip, xz, rpm...) */
    PAL_SNIFF_EXTERNAL = 1U << 1,   /* lzop, lrzip, grzip magic (reported unscannable) */
    PAL_SNIFF_LZMA = 1U << 2,       /* lzma-alone's weak guess */
    PAL_SNIFF_UU = 1U << 3,         /* a uuencode / base64 "begin" line */
    PAL_SNIFF_MAGIC = 1U << 4,      /* a format's magic at offset 0 (7z, ar, cab, cpio...) */
    PAL_SNIFF_TAR = 1U << 5,        /* a tar header with a valid checksum */
    PAL_SNIFF_TAR_ZERO = 1U << 6,   /* a leading all-zero 512-byte block (tar's end mark) */
    PAL_SNIFF_ISO9660 = 1U << 7,    /* "CD001" at 32 KiB + 1 */
    PAL_SNIFF_ZIP_EOCD = 1U << 8,   /* "PK\5\6" in the last 16 KiB */
    PAL_SNIFF_SFX = 1U << 9,        /* an MZ/ELF file with a 7z/rar/cab/lha signature inside */
};

/* The bidders that might accept data[0..len). Never reads outside it; len may be 0. */
unsigned pal_sniff(const uint8_t *data, size_t len);

#endif
