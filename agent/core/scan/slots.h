/*
 * slots.h — the scan slots: one slot is one hand-off in flight (one object, or a batch of
 * small ones: pal_slot_scan_many). Every caller (on-demand
 * scans now, real-time and buffer scans later) acquires a slot before it dispatches, so the
 * slot count (setting ScanThreads) is both the throttle and the concurrency limit.
 *
 * Behind a slot the engine runs in-process (this module) or in the content process (the
 * sandbox, through the same pal_slot_scan call), so callers never know which.
 */
#ifndef PAL_SLOTS_H
#define PAL_SLOTS_H

#include <stdint.h>

#include "defs.h"
#include "engine.h"
#include "cpmsg.h"
#include "scanhost.h"

typedef struct pal_slots pal_slots;
typedef struct pal_slot pal_slot;

/* host decides where each slot's scans run (in-process or the content process). */
int pal_slots_new(unsigned count, pal_scanhost *host, pal_slots **out);

/* Where a slot's scans run instead of a scan host: same contract as pal_slot_scan, with the
   slot's index. For tests that give a scan job canned reports. */
typedef int (*pal_slot_scan_fn)(void *ctx, unsigned slot, pal_defs *defs, const pal_source *src,
                                const char *name, const volatile int *cancel, pal_report *rep);
int pal_slots_new_fn(unsigned count, pal_slot_scan_fn fn, void *ctx, pal_slots **out);
/* All slots must have been released. Accepts NULL. */
void pal_slots_free(pal_slots *slots);
unsigned pal_slots_count(const pal_slots *slots);

/* Waits for a free slot; NULL when cancel became non-zero first. */
pal_slot *pal_slots_acquire(pal_slots *slots, const volatile int *cancel);
void pal_slots_release(pal_slots *slots, pal_slot *slot);
/* The same for a real-time request: while one waits, pal_slots_acquire hands out no slot, so
   a freed slot goes to real-time work before on-demand scans. Gives up (NULL) when cancel
   becomes non-zero or at deadline_ns (CLOCK_MONOTONIC; 0 = none). */
pal_slot *pal_slots_acquire_prio(pal_slots *slots, const volatile int *cancel, int64_t deadline_ns);

/*
 * Scan one object on this slot with the engine of defs: through the content process's
 * channel of this slot, or in-process with the slot's own scanner (rebuilt when defs
 * changes). Same contract as pal_scan.
 */
int pal_slot_scan(pal_slot *slot, pal_defs *defs, const pal_source *src, const char *name,
                  const volatile int *cancel, pal_report *rep);

/*
 * Several small objects on this slot in one hand-off: for each, what pal_slot_scan would
 * give (rcs[i] its return code, reps[i] its report). At most PAL_SLOT_BATCH_MAX objects, each
 * of at most PAL_SLOT_BATCH_OBJ_MAX bytes, PAL_SLOT_BATCH_BYTES in all (the content process
 * takes them as one pipeline: cpsup.h, pal_cpsup_scan_pipelined). Returns PAL_EINVAL when
 * the batch breaks those bounds (nothing scanned), else 0.
 */
#define PAL_SLOT_BATCH_MAX PAL_CPSUP_PIPE_MAX
#define PAL_SLOT_BATCH_OBJ_MAX PAL_CPMSG_INLINE_MAX
#define PAL_SLOT_BATCH_BYTES PAL_CPSUP_PIPE_BYTES
int pal_slot_scan_many(pal_slot *slot, pal_defs *defs, size_t n, const pal_source *srcs,
                       const char *const *names, const volatile int *cancel, pal_report *reps,
                       int *rcs);

#endif
