/*
 * qspace.h — how much disk the quarantine may take: the per-item and total limits and the
 * free-space reserve of the quarantine directory's file system, checked before an item is
 * written, so that quarantining a file never fills the disk.
 *
 * Sizes are allocated bytes, not apparent sizes: what an item takes is
 * pal_qstore_stored_bytes of its map (the blocks its data extents and header touch), and
 * what the quarantine holds is the sum of st_blocks * 512 of the files in its directory.
 * A sparse file of 250 MiB with 16 KiB of data therefore counts as about 20 KiB, the disk
 * space it really takes.
 *
 * Threads: no state; the caller serialises checks with the writes they admit.
 */
#ifndef PAL_QSPACE_H
#define PAL_QSPACE_H

#include <stdint.h>

#include "pal_error.h"

/* The limits, from the settings of the same names (settings.c). */
typedef struct pal_qspace_limits {
    uint64_t max_item;         /* QuarantineMaxItemBytes */
    uint64_t max_total;        /* QuarantineMaxTotalBytes */
    uint64_t min_free_percent; /* QuarantineMinFreePercent */
} pal_qspace_limits;

/* The block size of the file system of dirfd, for qstore.h (4096 when unknown). */
uint64_t pal_qspace_block_size(int dirfd);

/*
 * May an item taking need bytes be added to the quarantine directory dirfd under l? 0, or
 * PAL_ELIMIT with a message that starts "quarantine limit: " and names the limit, e.g.
 * "quarantine limit: item 600.0 MiB (629145600 bytes) > QuarantineMaxItemBytes 512.0 MiB
 * (536870912 bytes)". PAL_EIO when the directory or its file system cannot be examined.
 */
int pal_qspace_check(int dirfd, const pal_qspace_limits *l, uint64_t need, pal_errbuf *err);

/* The allocated bytes of the regular files in dirfd (the quarantine's usage). */
int pal_qspace_used(int dirfd, uint64_t *used, pal_errbuf *err);

#endif
