/*
 * sigpkg_hashdb.c — owns the sized hash tables of the signature package (layout in
 * sigpkg_hashdb.h): checking a table found in a mapping, looking a digest and size up in
 * place, and laying a table out for the builder.
 *
 * The table is checked whole at open (every entry in its bucket, sorted, ids in range), as
 * the SHA-256 table is, so that a lookup never leaves the mapping and a binary search over
 * a bucket is sound. Checking costs one pass over the section; nothing is copied.
 */
#include "sigpkg_hashdb.h"

#include <string.h>

#include "byteorder.h"
#include "sigpkg_format.h"

unsigned pal_hashdb_dlen(pal_hash_alg alg)
{
    switch (alg) {
    case PAL_HASH_MD5:
        return 16;
    case PAL_HASH_SHA1:
        return 20;
    case PAL_HASH_SHA256:
        return 32;
    }
    return 0;
}

uint64_t pal_hashdb_section_len(unsigned dlen, unsigned bits, uint32_t count)
{
    return PAL_HASHDB_HEAD + ((UINT64_C(1) << bits) + 1) * 4 + (uint64_t)count * (dlen + 12);
}

unsigned pal_hashdb_bits_for(uint64_t count)
{
    unsigned bits = 0;
    while (bits < PAL_SIGPKG_MAX_BUCKET_BITS && (UINT64_C(1) << bits) < count)
        bits++;
    return bits;
}

static int entry_cmp(const uint8_t *a, const uint8_t *b, unsigned dlen)
{
    int c = memcmp(a, b, dlen);
    if (c)
        return c;
    uint64_t sa = pal_le64(a + dlen), sb = pal_le64(b + dlen);
    if (sa != sb)
        return sa < sb ? -1 : 1;
    uint32_t ia = pal_le32(a + dlen + 8), ib = pal_le32(b + dlen + 8);
    return ia < ib ? -1 : ia > ib;
}

int pal_hashdb_open(pal_hashdb *t, const uint8_t *sec, uint64_t len, uint32_t count, unsigned dlen,
                    uint32_t threat_count, const char *what, pal_errbuf *err)
{
    if (len < PAL_HASHDB_HEAD)
        return pal_err_set(err, PAL_EFORMAT, "%s: section of %llu bytes too short", what,
                           (unsigned long long)len);
    uint32_t bits = pal_le32(sec);
    if (bits > PAL_SIGPKG_MAX_BUCKET_BITS || pal_le32(sec + 4) != 0)
        return pal_err_set(err, PAL_EFORMAT, "%s: bad bucket bits %u or reserved field", what,
                           bits);
    if (len != pal_hashdb_section_len(dlen, bits, count))
        return pal_err_set(err, PAL_EFORMAT,
                           "%s: length %llu is not a %u-bucket index plus %u entries of %u "
                           "bytes",
                           what, (unsigned long long)len, 1u << bits, count, dlen + 12);
    size_t esz = dlen + 12;
    uint32_t nbuckets = UINT32_C(1) << bits;
    const uint8_t *index = sec + PAL_HASHDB_HEAD;
    const uint8_t *entries = index + ((size_t)nbuckets + 1) * 4;
    if (pal_le32(index) != 0 || pal_le32(index + (size_t)nbuckets * 4) != count)
        return pal_err_set(err, PAL_EFORMAT, "%s: index does not run from 0 to %u", what, count);
    uint32_t allow = 0, i = 0;
    for (uint32_t k = 0; k < nbuckets; k++) {
        uint32_t lo = pal_le32(index + (size_t)k * 4), hi = pal_le32(index + (size_t)k * 4 + 4);
        if (lo != i || hi < lo || hi > count)
            return pal_err_set(err, PAL_EFORMAT, "%s: bucket %u range [%u, %u) inconsistent", what,
                               k, lo, hi);
        for (; i < hi; i++) {
            const uint8_t *e = entries + (size_t)i * esz;
            if (pal_sigpkg_bucket(e, bits) != k)
                return pal_err_set(err, PAL_EFORMAT, "%s: entry %u is not in bucket %u", what, i,
                                   k);
            if (i > 0 && entry_cmp(e - esz, e, dlen) >= 0)
                return pal_err_set(err, PAL_EFORMAT, "%s: entry %u does not sort after entry %u",
                                   what, i, i - 1);
            uint32_t id = pal_le32(e + dlen + 8);
            if (id == PAL_HASH_ALLOW)
                allow++;
            else if (id >= threat_count)
                return pal_err_set(err, PAL_EFORMAT,
                                   "%s: entry %u: threat id %u not in the catalog (%u threats)",
                                   what, i, id, threat_count);
        }
    }
    t->index = index;
    t->entries = entries;
    t->count = count;
    t->bits = bits;
    t->dlen = dlen;
    t->allow_count = allow;
    return 0;
}

int pal_hashdb_lookup(const pal_hashdb *t, const uint8_t *digest, uint64_t size, uint32_t *id,
                      int *allowed)
{
    *allowed = 0;
    if (t->count == 0)
        return PAL_ENOTFOUND;
    size_t esz = t->dlen + 12;
    uint32_t k = pal_sigpkg_bucket(digest, t->bits);
    uint32_t lo = pal_le32(t->index + (size_t)k * 4), hi = pal_le32(t->index + (size_t)k * 4 + 4);
    /* first entry whose digest is >= digest */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (memcmp(t->entries + (size_t)mid * esz, digest, t->dlen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    int found = 0;
    uint32_t end = pal_le32(t->index + (size_t)k * 4 + 4);
    for (uint32_t i = lo; i < end; i++) {
        const uint8_t *e = t->entries + (size_t)i * esz;
        if (memcmp(e, digest, t->dlen) != 0)
            break;
        uint64_t s = pal_le64(e + t->dlen);
        if (s != PAL_HASH_ANY_SIZE && s != size)
            continue;
        uint32_t v = pal_le32(e + t->dlen + 8);
        if (v == PAL_HASH_ALLOW)
            *allowed = 1;
        else if (!found) {
            *id = v;
            found = 1;
        }
    }
    return found ? 0 : PAL_ENOTFOUND;
}

int pal_hashdb_item_cmp(const pal_hashdb_item *a, const pal_hashdb_item *b, unsigned dlen)
{
    int c = memcmp(a->digest, b->digest, dlen);
    if (c)
        return c;
    if (a->size != b->size)
        return a->size < b->size ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

void pal_hashdb_write(uint8_t *out, unsigned dlen, unsigned bits, const pal_hashdb_item *items,
                      uint32_t n)
{
    uint64_t nbuckets = UINT64_C(1) << bits;
    pal_put_le32(out, bits);
    uint8_t *index = out + PAL_HASHDB_HEAD;
    uint8_t *entries = index + (nbuckets + 1) * 4;
    uint32_t i = 0;
    for (uint64_t k = 0; k <= nbuckets; k++) {
        while (i < n && pal_sigpkg_bucket(items[i].digest, bits) < k)
            i++;
        pal_put_le32(index + k * 4, i);
    }
    size_t esz = dlen + 12;
    for (i = 0; i < n; i++) {
        uint8_t *e = entries + (size_t)i * esz;
        memcpy(e, items[i].digest, dlen);
        pal_put_le64(e + dlen, items[i].size);
        pal_put_le32(e + dlen + 8, items[i].id);
    }
}
