/*
 * sigpkg_format.h — private: the byte layout of the signature package, shared by the reader
 * (sigpkg.c), the builder (sigbuild.c) and the package tests. The offset/size/meaning table
 * that these constants implement is in the header comment of sigpkg.c; keep the two in step.
 * Not part of the engine's API: nothing outside the package code should parse packages.
 */
#ifndef PAL_SIGPKG_FORMAT_H
#define PAL_SIGPKG_FORMAT_H

#include <stdint.h>
#include <string.h>

#include "byteorder.h" /* pal_le32, pal_put_le32...: the package is little-endian */
#include "pal_error.h"

#define PAL_SIGPKG_MAGIC "PALSIGPK" /* 8 bytes, no NUL in the file */
#define PAL_SIGPKG_MAGIC_LEN 8
#define PAL_SIGPKG_FORMAT_VERSION 1     /* a package with no extension section */
#define PAL_SIGPKG_FORMAT_VERSION_EXT 2 /* version 1 plus an extension directory */
#define PAL_SIGPKG_HEADER_SIZE 128
#define PAL_SIGPKG_SIG_SIZE 64 /* Ed25519 */
#define PAL_SIGPKG_CATALOG_ENTRY_SIZE 12
#define PAL_SIGPKG_HASH_ENTRY_SIZE 36 /* 32-byte SHA-256 + u32 threat id */
#define PAL_SIGPKG_MAX_BUCKET_BITS 24 /* index of at most 2^24 + 1 u32 (64 MiB) */
#define PAL_SIGPKG_SECTION_ALIGN 8    /* the builder's alignment; the reader needs none */

/* Header field offsets. */
enum pal_sigpkg_hdr {
    PAL_SIGPKG_H_MAGIC = 0,         /* 8  "PALSIGPK" */
    PAL_SIGPKG_H_FORMAT = 8,        /* u32 format version */
    PAL_SIGPKG_H_BUCKET_BITS = 12,  /* u32 hash index bits B */
    PAL_SIGPKG_H_VERSION = 16,      /* u64 package version */
    PAL_SIGPKG_H_CREATED = 24,      /* u64 unix seconds */
    PAL_SIGPKG_H_KEY_ID = 32,       /* 8   signing key id */
    PAL_SIGPKG_H_THREAT_COUNT = 40, /* u32 */
    PAL_SIGPKG_H_HASH_COUNT = 44,   /* u32 */
    PAL_SIGPKG_H_RULE_COUNT = 48,   /* u32 */
    PAL_SIGPKG_H_RESERVED = 52,     /* u32 zero in version 1; extension count in version 2 */
    PAL_SIGPKG_H_CATALOG_OFF = 56,  /* u64 */
    PAL_SIGPKG_H_CATALOG_LEN = 64,  /* u64 */
    PAL_SIGPKG_H_STRINGS_OFF = 72,  /* u64 */
    PAL_SIGPKG_H_STRINGS_LEN = 80,  /* u64 */
    PAL_SIGPKG_H_HASH_OFF = 88,     /* u64 */
    PAL_SIGPKG_H_HASH_LEN = 96,     /* u64 */
    PAL_SIGPKG_H_YARA_OFF = 104,    /* u64 */
    PAL_SIGPKG_H_YARA_LEN = 112,    /* u64 */
    PAL_SIGPKG_H_BODY_LEN = 120,    /* u64 bytes covered by the signature */
};

/*
 * Version 2: the header's field 52 counts extension sections (1..PAL_SIGPKG_MAX_EXT), and a
 * directory of that many 24-byte entries follows the header at offset 128 (the catalog
 * starts after it). Each extension section lies after the YARA section, in directory
 * order, 8-byte aligned, and is covered by the signature like everything else.
 */
#define PAL_SIGPKG_MAX_EXT 8
#define PAL_SIGPKG_EXT_ENTRY_SIZE 24
enum pal_sigpkg_ext_field {
    PAL_SIGPKG_X_TYPE = 0,  /* u32 pal_sigpkg_ext_type */
    PAL_SIGPKG_X_COUNT = 4, /* u32 entries in the section */
    PAL_SIGPKG_X_OFF = 8,   /* u64 */
    PAL_SIGPKG_X_LEN = 16,  /* u64 */
};
/* Extension types; each appears at most once. Types 1-3 are sized hash tables (hashdb). */
enum pal_sigpkg_ext_type {
    PAL_SIGPKG_EXT_MD5 = 1,
    PAL_SIGPKG_EXT_SHA1 = 2,
    PAL_SIGPKG_EXT_SHA256 = 3, /* SHA-256 with a file size, and SHA-256 allow entries */
};

/* Catalog entry field offsets. */
enum pal_sigpkg_cat {
    PAL_SIGPKG_C_NAME = 0,     /* u32 offset of the name in the string pool */
    PAL_SIGPKG_C_CATEGORY = 4, /* u32 offset of the category in the string pool */
    PAL_SIGPKG_C_SEVERITY = 8, /* u8 pal_severity */
    PAL_SIGPKG_C_ACTION = 9,   /* u8 pal_action */
    PAL_SIGPKG_C_RESERVED = 10 /* u16 zero */
};

/* The sizes above are the sums of these layouts: a field added to one without the other, or
   a severity or action that no longer fits its byte, fails to compile. */
_Static_assert(PAL_SIGPKG_H_BODY_LEN + 8 == PAL_SIGPKG_HEADER_SIZE, "header: last field ends it");
_Static_assert(PAL_SIGPKG_H_KEY_ID + 8 == PAL_SIGPKG_H_THREAT_COUNT, "header: 8-byte key id");
_Static_assert(PAL_SIGPKG_C_RESERVED + 2 == PAL_SIGPKG_CATALOG_ENTRY_SIZE,
               "catalog entry: last field ends it");
_Static_assert(PAL_SIGPKG_HASH_ENTRY_SIZE == 32 + 4, "hash entry: SHA-256 + u32 threat id");
_Static_assert(PAL_SEV_SEVERE <= 0xFF && PAL_ACTION_NOACTION <= 0xFF,
               "catalog severity and action are one byte each");

/* Bucket of a hash in an index of 2^bits buckets: its top bits, read big-endian. */
static inline uint32_t pal_sigpkg_bucket(const uint8_t sha256[32], unsigned bits)
{
    if (bits == 0)
        return 0;
    uint32_t top = (uint32_t)sha256[0] << 24 | (uint32_t)sha256[1] << 16 |
                   (uint32_t)sha256[2] << 8 | (uint32_t)sha256[3];
    return top >> (32 - bits);
}

/*
 * Read a small regular file (a key, a rule source) whole, for the reader and the builder.
 * *buf is NUL-terminated after *len bytes, owned by the caller, and wiped (OPENSSL_cleanse)
 * on failure, since it may hold a private key. Errors: PAL_ENOTFOUND, PAL_EIO, PAL_EINVAL
 * (not a regular file), PAL_ELIMIT (over max bytes), PAL_ENOMEM; err names the file.
 */
int pal_sigfile_read(const char *path, size_t max, char **buf, size_t *len, pal_errbuf *err);

#endif
