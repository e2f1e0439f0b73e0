/*
 * cachebatch.h — clean verdicts on their way to the store's scan cache, written several per
 * transaction (a commit per file cost a first scan ~70 us and a first real-time open ~45 us).
 * Shared by a scan job and real-time protection's workers. An entry is written at the latest
 * when the batch is full, when its oldest entry is PAL_CACHEBATCH_MS old at the next add, or
 * at a flush; losing entries (a crash) only costs rescans. Entries of two signature versions
 * never share a write: the older batch goes first. Thread-safe; the store is called without
 * the batch's lock held by anyone waiting to add.
 */
#ifndef PAL_CACHEBATCH_H
#define PAL_CACHEBATCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define PAL_CACHEBATCH_MAX 128
#define PAL_CACHEBATCH_MS 1000

typedef struct pal_cachebatch {
    pthread_mutex_t lock;
    pal_store *store;
    pal_cache_key keys[PAL_CACHEBATCH_MAX];
    size_t n;
    uint64_t sigver;   /* the signature version of every entry in the batch */
    int64_t oldest_ms; /* when the first entry of the batch was added (monotonic) */
} pal_cachebatch;

void pal_cachebatch_init(pal_cachebatch *b, pal_store *store);
void pal_cachebatch_destroy(pal_cachebatch *b); /* writes nothing: flush first */
void pal_cachebatch_add(pal_cachebatch *b, const pal_cache_key *key, uint64_t sigver);
void pal_cachebatch_flush(pal_cachebatch *b);
/* Forget what is not written yet (a new package: those verdicts are worthless). */
void pal_cachebatch_drop(pal_cachebatch *b);

#endif
