/*
 * exclusion.c — palisade-bench-exclusion: the cost of one ExclusionPath check
 * (pal_walk_is_excluded, agent/core/scan/walker.c) per path, against two peers measured in
 * the same run: the plain prefix compare the walker used before wildcards (copied here as
 * it was) and glibc fnmatch(3) with FNM_PATHNAME | FNM_LEADING_DIR over the same entries.
 * Prints ns per path (median of 15 interleaved rounds) and ratios. Not a test: no pass/fail.
 */
#define _GNU_SOURCE
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "walker.h"

#define N_ENTRIES 50
#define N_PATHS 20000
#define ROUNDS 15

static char *entries_plain[N_ENTRIES], *entries_wild[N_ENTRIES];
static char *paths[N_PATHS];
static size_t lens[N_PATHS];
static volatile long sink;

/* the walker's check before wildcards (f4805f5), the reference for plain entries */
static int old_path_under(const char *path, size_t path_len, const char *prefix)
{
    size_t plen = strlen(prefix);
    while (plen > 1 && prefix[plen - 1] == '/')
        plen--;
    if (plen == 0 || path_len < plen || memcmp(path, prefix, plen) != 0)
        return 0;
    return path_len == plen || path[plen] == '/' || (plen == 1 && prefix[0] == '/');
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef long (*round_fn)(char **entries);

static long run_new(char **entries)
{
    /* as pal_walk does: which entries have wildcards is worked out once per walk */
    static unsigned char wild[N_ENTRIES];
    for (size_t k = 0; k < N_ENTRIES; k++)
        wild[k] = strpbrk(entries[k], "*?") != NULL;
    pal_walk_options o = {.exclude_paths = (const char *const *)entries,
                          .n_exclude_paths = N_ENTRIES,
                          .exclude_path_wild = wild};
    long hits = 0;
    pal_skip_reason why;
    for (size_t i = 0; i < N_PATHS; i++)
        hits += pal_walk_is_excluded(&o, paths[i], lens[i], 0, &why);
    return hits;
}

static long run_old(char **entries)
{
    long hits = 0;
    for (size_t i = 0; i < N_PATHS; i++)
        for (size_t k = 0; k < N_ENTRIES; k++)
            if (old_path_under(paths[i], lens[i], entries[k])) {
                hits++;
                break;
            }
    return hits;
}

static long run_fnmatch(char **entries)
{
    long hits = 0;
    for (size_t i = 0; i < N_PATHS; i++)
        for (size_t k = 0; k < N_ENTRIES; k++)
            if (fnmatch(entries[k], paths[i], FNM_PATHNAME | FNM_LEADING_DIR) == 0) {
                hits++;
                break;
            }
    return hits;
}

static double median(double *t)
{
    qsort(t, ROUNDS, sizeof(*t), cmp_d);
    return t[ROUNDS / 2];
}

static double time_ns(round_fn f, char **entries, long *hits)
{
    double t0 = now_ns();
    *hits = f(entries);
    sink += *hits;
    return (now_ns() - t0) / N_PATHS;
}

int main(void)
{
    char buf[512];
    for (int k = 0; k < N_ENTRIES; k++) {
        snprintf(buf, sizeof(buf), "/home/user%02d/project%02d/cache", k, k);
        entries_plain[k] = strdup(buf);
        snprintf(buf, sizeof(buf), "/home/*/project%02d/c?che", k);
        entries_wild[k] = strdup(buf);
    }
    unsigned seed = 1;
    for (int i = 0; i < N_PATHS; i++) {
        seed = seed * 1103515245u + 12345u;
        snprintf(buf, sizeof(buf), "/home/user%02u/project%02u/%s/src/file%05d.c",
                 (seed >> 8) % 100, (seed >> 16) % 100, (seed >> 4) % 4 ? "src" : "cache", i);
        paths[i] = strdup(buf);
        lens[i] = strlen(buf);
    }
    long h1, h2, h3, h4, h5;
    double t[5][ROUNDS];
    /* rounds interleaved, so that background load hits every variant alike */
    for (int r = 0; r < ROUNDS; r++) {
        t[0][r] = time_ns(run_old, entries_plain, &h1);
        t[1][r] = time_ns(run_new, entries_plain, &h2);
        t[2][r] = time_ns(run_fnmatch, entries_plain, &h3);
        t[3][r] = time_ns(run_new, entries_wild, &h4);
        t[4][r] = time_ns(run_fnmatch, entries_wild, &h5);
    }
    double old_plain = median(t[0]), new_plain = median(t[1]), fn_plain = median(t[2]);
    double new_wild = median(t[3]), fn_wild = median(t[4]);
    printf("%d entries, %d paths, median of %d rounds, ns per path (all entries tried)\n",
           N_ENTRIES, N_PATHS, ROUNDS);
    printf("plain entries:    palisade %.1f  previous prefix code %.1f  fnmatch %.1f  "
           "(palisade/previous %.2f, palisade/fnmatch %.2f; hits %ld %ld %ld)\n",
           new_plain, old_plain, fn_plain, new_plain / old_plain, new_plain / fn_plain, h2, h1, h3);
    printf("wildcard entries: palisade %.1f  fnmatch %.1f  (palisade/fnmatch %.2f; hits %ld "
           "%ld)\n",
           new_wild, fn_wild, new_wild / fn_wild, h4, h5);
    return h1 == h2 && h2 == h3 && h4 == h5 ? 0 : 1;
}
