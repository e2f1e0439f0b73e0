/*
 * slots.h — the scan slots: one slot is one object scan in flight. Every caller (on-demand
 * scans now, real-time and buffer scans later) acquires a slot before it dispatches, so the
 * slot count (setting ScanThreads) is both the throttle and the concurrency limit.
 *
 * Behind a slot the engine runs in-process (this module) or in the content process (the
 * sandbox, through the same pal_slot_scan call), so callers never know which.
 */
#ifndef PAL_SLOTS_H
#define PAL_SLOTS_H

#include "defs.h"
#include "engine.h"

typedef struct pal_slots pal_slots;
typedef struct pal_slot pal_slot;

int pal_slots_new(unsigned count, pal_slots **out);
/* All slots must have been released. Accepts NULL. */
void pal_slots_free(pal_slots *slots);
unsigned pal_slots_count(const pal_slots *slots);

/* Waits for a free slot; NULL when cancel became non-zero first. */
pal_slot *pal_slots_acquire(pal_slots *slots, const volatile int *cancel);
void pal_slots_release(pal_slots *slots, pal_slot *slot);

/*
 * Scan one object on this slot with the engine of defs (the slot keeps a scanner per
 * engine and rebuilds it when defs changes). Same contract as pal_scan.
 */
int pal_slot_scan(pal_slot *slot, pal_defs *defs, const pal_source *src, const char *name,
                  const volatile int *cancel, pal_report *rep);

#endif
