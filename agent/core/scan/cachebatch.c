/* cachebatch.c — clean verdicts written to the scan cache in batches (see cachebatch.h). */
#include "cachebatch.h"

#include <string.h>
#include <time.h>

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pal_cachebatch_init(pal_cachebatch *b, pal_store *store)
{
    memset(b, 0, sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);
    b->store = store;
}

void pal_cachebatch_destroy(pal_cachebatch *b)
{
    pthread_mutex_destroy(&b->lock);
}

/* Write out the batch (lock held; released and taken again around the write). */
static void flush_locked(pal_cachebatch *b)
{
    pal_cache_key keys[PAL_CACHEBATCH_MAX];
    size_t n = b->n;
    uint64_t sigver = b->sigver;
    if (n == 0)
        return;
    memcpy(keys, b->keys, n * sizeof(keys[0]));
    b->n = 0;
    pthread_mutex_unlock(&b->lock);
    /* a failed write only costs a rescan */
    pal_store_cache_insert_many(b->store, keys, n, sigver, NULL);
    pthread_mutex_lock(&b->lock);
}

void pal_cachebatch_add(pal_cachebatch *b, const pal_cache_key *key, uint64_t sigver)
{
    pthread_mutex_lock(&b->lock);
    /* A loop: the lock is let go during the write, and an entry must never join a batch of
       another version (it would be trusted under signatures it was not scanned with). */
    while (b->n > 0 && b->sigver != sigver)
        flush_locked(b);
    if (b->n == 0) {
        b->sigver = sigver;
        b->oldest_ms = mono_ms();
    }
    b->keys[b->n++] = *key;
    if (b->n == PAL_CACHEBATCH_MAX || mono_ms() - b->oldest_ms >= PAL_CACHEBATCH_MS)
        flush_locked(b);
    pthread_mutex_unlock(&b->lock);
}

void pal_cachebatch_flush(pal_cachebatch *b)
{
    pthread_mutex_lock(&b->lock);
    flush_locked(b);
    pthread_mutex_unlock(&b->lock);
}

void pal_cachebatch_drop(pal_cachebatch *b)
{
    pthread_mutex_lock(&b->lock);
    b->n = 0;
    pthread_mutex_unlock(&b->lock);
}
