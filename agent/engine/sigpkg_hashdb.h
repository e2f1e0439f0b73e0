/*
 * sigpkg_hashdb.h — private: the sized hash tables of a version 2 package (MD5, SHA-1 and
 * SHA-256 with a file size, and allow entries), shared by the reader (sigpkg.c), the
 * builder (sigbuild.c) and the package tests. Used in place from the mapping: the builder
 * lays each table out sorted with a bucket index, so that opening a package copies nothing
 * and a lookup is one index read and a binary search over about one entry.
 *
 * Section layout (all little-endian):
 *   0   4   bucket bits B (0..PAL_SIGPKG_MAX_BUCKET_BITS)
 *   4   4   zero
 *   8   (2^B + 1) * 4          bucket index, as in the SHA-256 table: idx[k] = first entry
 *                              whose bucket is >= k; idx[0] = 0, idx[2^B] = count
 *   ..  count * (D + 12)       entries ascending by (digest, size):
 *                              0 D digest, D 8 size (UINT64_MAX: any size), D+8 4 threat
 *                              id (< threat_count) or UINT32_MAX: an allow entry
 * D is 16 (MD5), 20 (SHA-1) or 32 (SHA-256). The bucket of a digest is its first 32 bits
 * read big-endian, shifted right by 32 - B. Entries are unique by (digest, size, id).
 */
#ifndef PAL_SIGPKG_HASHDB_H
#define PAL_SIGPKG_HASHDB_H

#include <stddef.h>
#include <stdint.h>

#include "pal_error.h"
#include "sigpkg.h"

#define PAL_HASHDB_HEAD 8

typedef struct pal_hashdb {
    const uint8_t *index;   /* 2^bits + 1 u32 */
    const uint8_t *entries; /* count entries of dlen + 12 bytes */
    uint32_t count;
    unsigned bits, dlen;
    uint32_t allow_count; /* entries with the allow id */
} pal_hashdb;

/* Digest length of an algorithm (16, 20, 32), 0 for an unknown one. */
unsigned pal_hashdb_dlen(pal_hash_alg alg);

/* Bytes of a section with 2^bits buckets and count entries of digest length dlen. */
uint64_t pal_hashdb_section_len(unsigned dlen, unsigned bits, uint32_t count);

/* Smallest bits with about one entry per bucket. */
unsigned pal_hashdb_bits_for(uint64_t count);

/*
 * Check a section of len bytes at sec (already inside the mapping) holding count entries
 * of digest length dlen, every threat id below threat_count, and fill *t. O(len).
 * Errors: PAL_EFORMAT with what is wrong, prefixed by what (e.g. "md5 table").
 */
int pal_hashdb_open(pal_hashdb *t, const uint8_t *sec, uint64_t len, uint32_t count, unsigned dlen,
                    uint32_t threat_count, const char *what, pal_errbuf *err);

/*
 * Look digest up for an object of size bytes. *allowed = 1 when an allow entry matches;
 * returns 0 with *id the first matching threat, or PAL_ENOTFOUND when no threat entry
 * matches (either way *allowed is set).
 */
int pal_hashdb_lookup(const pal_hashdb *t, const uint8_t *digest, uint64_t size, uint32_t *id,
                      int *allowed);

/* One entry the builder lays out. */
typedef struct pal_hashdb_item {
    uint8_t digest[32]; /* dlen bytes used */
    uint64_t size;
    uint32_t id;
} pal_hashdb_item;

/* Order of items in a table: digest (first dlen bytes), size, id. */
int pal_hashdb_item_cmp(const pal_hashdb_item *a, const pal_hashdb_item *b, unsigned dlen);

/* Write the section for n sorted, unique items into out (pal_hashdb_section_len bytes,
   zeroed by the caller). */
void pal_hashdb_write(uint8_t *out, unsigned dlen, unsigned bits, const pal_hashdb_item *items,
                      uint32_t n);

#endif
