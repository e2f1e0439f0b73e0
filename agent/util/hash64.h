/*
 * hash64.h — the 64-bit hash steps of the tree's in-memory tables (findings seen, the scan
 * cache's filter, the inodes with ignore marks): FNV-1a over bytes and the splitmix64
 * finaliser that spreads its bits before a table masks them. Not for anything that must
 * resist a chosen input beyond a slower table.
 */
#ifndef PAL_HASH64_H
#define PAL_HASH64_H

#include <stddef.h>
#include <stdint.h>

#define PAL_FNV1A64_INIT 0xcbf29ce484222325ULL

static inline uint64_t pal_fnv1a64(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static inline uint64_t pal_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif
