/*
 * expand.h — container expansion for the scan engine (internal to agent/engine/).
 *
 * expand.c owns everything libarchive: which formats and filters are enabled, the probe
 * that decides whether an object is a container, and the loop that extracts each member
 * into memory within the limits and hands it back to the engine to be scanned (and, if it
 * is a container itself, expanded in turn). engine.c owns the walk: the report, the
 * buffers, the clock and the matching. The two meet through struct pal_walk below, which
 * lives only for the duration of one pal_scan call on one thread.
 */
#ifndef PAL_EXPAND_H
#define PAL_EXPAND_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* Hard ceiling on max_depth (each level holds one libarchive reader and one buffer). */
#define PAL_ENGINE_DEPTH_CAP 64

/*
 * Past PAL_RATIO_FLOOR (engine.h), a member whose expanded size stays under this many bytes
 * is still not judged by its ratio: tiny members compress arbitrarily well (a 4 KiB file of
 * zeros deflates 1:200) and cannot be bombs; the expanded-bytes budget bounds their sum.
 */
#define PAL_RATIO_MEMBER_MIN (1024U * 1024U)

/* ---- what this libarchive reads (probed once per engine) -------------------------------- */

typedef struct pal_expand_support {
    uint32_t formats; /* bit i set: pal_expand_format_name(i) is available in-process */
    uint32_t filters; /* bit i set: pal_expand_filter_name(i) is available in-process */
} pal_expand_support;

/*
 * Register every candidate format and filter on a scratch reader and keep those that
 * libarchive supports in-process (ARCHIVE_OK); a filter that would fall back to an external
 * program answers ARCHIVE_WARN and is left out. Returns 0 or PAL_ENOMEM.
 */
int pal_expand_probe(pal_expand_support *out);

/* Names of the candidates ("zip", "7zip", ... / "gzip", "xz", ...); NULL past the end. */
const char *pal_expand_format_name(unsigned i);
const char *pal_expand_filter_name(unsigned i);

/*
 * Whether the container probe, set up as pal_expand sets it up, engages on data: some
 * filter or format bids, or the data carries the magic of a compressor reported
 * unscannable. offer_tar_zero: offer tar a leading block of zeros too (pal_expand does
 * not). 1 or 0; PAL_ENOMEM. For the tests of the pre-check (sniff.h), which must answer
 * "maybe" whenever this is 1.
 */
int pal_expand_probe_engages(const pal_expand_support *sup, const uint8_t *data, size_t len,
                             int offer_tar_zero);

/* ---- one walk (one top-level object) ----------------------------------------------------- */

typedef struct pal_walk_buf {
    uint8_t *data;
    size_t cap;
    int mapped; /* data is an mmap of cap bytes (a large top-level object), not malloc */
} pal_walk_buf;

typedef struct pal_walk {
    pal_scanner *sc;               /* scanner running the walk (engine.c's business) */
    const pal_limits *lim;         /* the engine's limits */
    const pal_expand_support *sup; /* the engine's probed formats and filters */
    pal_report *rep;               /* being filled */
    const volatile int *cancel;    /* polled; may be NULL */
    uint64_t deadline_ns;          /* CLOCK_MONOTONIC; 0 = none */
    uint64_t expanded;             /* bytes extracted from containers so far */
    int stopped;                   /* cancelled or timed out: unwind without more work */
    int budget_hit;                /* expanded-bytes budget used up: extract nothing more */
    unsigned damage_is_guess;      /* > 0: inside a weak guess that does not decode, where
                                      damage is no reason (expand.c's top comment) */
    int nomem;                     /* an allocation failed: unwind, pal_scan says PAL_ENOMEM */
    pal_walk_buf *bufs;            /* bufs[d] holds the member being scanned at depth d */
} pal_walk;

/*
 * Services engine.c provides to expand.c. All return 0 or a negative PAL_E* code; only
 * PAL_ENOMEM is expected, and it unwinds the whole scan.
 */

/* Non-zero when the walk must stop (cancel flag raised or wall time used up); the first
   time it notices, it records the reason at chain. */
int pal_walk_should_stop(pal_walk *w, const char *chain);

/* Record an unscannable reason unless one is already recorded (the first one wins).
   detail may be NULL. */
int pal_walk_reason(pal_walk *w, pal_unscannable r, const char *chain, const char *detail);
/* The same with a printf-formatted detail (cut at 255 bytes). */
int pal_walk_reasonf(pal_walk *w, pal_unscannable r, const char *chain, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Grow bufs[depth] to hold at least need bytes (0 < need <= limit); it grows geometrically
   but never beyond limit. */
int pal_walk_reserve(pal_walk *w, unsigned depth, size_t need, size_t limit);

/* How pal_walk_object treats one object (flags, or-ed). */
enum {
    /* The object is whole. Without it the object was cut short (limit, corruption): it is
       still matched by YARA, but not by its hash, which would be the hash of a fragment. */
    PAL_OBJ_COMPLETE = 1U << 0,
    /* The container said what the object is, and it is not a container (an ar archive's
       symbol and name tables): match it, never offer it to the container readers. */
    PAL_OBJ_DATA_ONLY = 1U << 1,
};

/* Match one object (hash + YARA), then expand it if it is a container. */
int pal_walk_object(pal_walk *w, const uint8_t *data, size_t len, const char *chain, unsigned depth,
                    unsigned flags);

/*
 * Called by pal_walk_object: if data is a container (or a bare compressed stream), expand
 * its members and call pal_walk_object on each at depth + 1. Problems become reasons in
 * the report; only PAL_ENOMEM is returned.
 */
int pal_expand(pal_walk *w, const uint8_t *data, size_t len, const char *chain, unsigned depth);

#endif
