/* slots.c — the slot pool (see slots.h); where a slot's scan runs is scanhost's business. */
#include "slots.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct pal_slot {
    struct pal_slots *owner;
    unsigned index;
    int busy;             /* protected by pal_slots.lock */
    pal_defs *defs;       /* the defs scanner was built for (a reference), owner: the slot */
    pal_scanner *scanner; /* used only by the thread holding the slot */
};

struct pal_slots {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    unsigned count;
    unsigned in_use;     /* protected by lock */
    unsigned prio_wait;  /* real-time requests waiting (protected by lock): they go first */
    pal_scanhost *host;  /* not owned */
    pal_slot_scan_fn fn; /* instead of host, when set */
    void *fn_ctx;
    pal_slot *slots;
};

static int slots_new(unsigned count, pal_scanhost *host, pal_slot_scan_fn fn, void *ctx,
                     pal_slots **out)
{
    if (count == 0 || count > 1024)
        return PAL_EINVAL;
    pal_slots *s = calloc(1, sizeof(*s));
    if (!s)
        return PAL_ENOMEM;
    s->slots = calloc(count, sizeof(*s->slots));
    if (!s->slots) {
        free(s);
        return PAL_ENOMEM;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->freed, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->lock, NULL);
    s->count = count;
    s->host = host;
    s->fn = fn;
    s->fn_ctx = ctx;
    for (unsigned i = 0; i < count; i++) {
        s->slots[i].index = i;
        s->slots[i].owner = s;
    }
    *out = s;
    return 0;
}

int pal_slots_new(unsigned count, pal_scanhost *host, pal_slots **out)
{
    return slots_new(count, host, NULL, NULL, out);
}

int pal_slots_new_fn(unsigned count, pal_slot_scan_fn fn, void *ctx, pal_slots **out)
{
    if (!fn)
        return PAL_EINVAL;
    return slots_new(count, NULL, fn, ctx, out);
}

void pal_slots_free(pal_slots *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->count; i++) {
        pal_scanner_free(s->slots[i].scanner);
        pal_defs_unref(s->slots[i].defs);
    }
    pthread_cond_destroy(&s->freed);
    pthread_mutex_destroy(&s->lock);
    free(s->slots);
    free(s);
}

unsigned pal_slots_count(const pal_slots *s)
{
    return s->count;
}

/* A free slot, marked busy, or NULL; lock held. */
static pal_slot *take_free(pal_slots *s)
{
    for (unsigned i = 0; i < s->count; i++) {
        if (!s->slots[i].busy) {
            s->slots[i].busy = 1;
            s->in_use++;
            return &s->slots[i];
        }
    }
    return NULL;
}

static void wait_until(pal_slots *s, int64_t until_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    /* wake up now and then: cancel is a plain flag, not a condition */
    int64_t at = now + 100 * 1000000LL;
    if (until_ns && until_ns < at)
        at = until_ns;
    ts.tv_sec = (time_t)(at / 1000000000LL);
    ts.tv_nsec = (long)(at % 1000000000LL);
    pthread_cond_timedwait(&s->freed, &s->lock, &ts);
}

pal_slot *pal_slots_acquire(pal_slots *s, const volatile int *cancel)
{
    pal_slot *got = NULL;
    pthread_mutex_lock(&s->lock);
    while (!got) {
        if (cancel && *cancel)
            break;
        /* a real-time request waiting takes the next free slot before any other work */
        if (s->prio_wait == 0)
            got = take_free(s);
        if (!got)
            wait_until(s, 0);
    }
    pthread_mutex_unlock(&s->lock);
    return got;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

pal_slot *pal_slots_acquire_prio(pal_slots *s, const volatile int *cancel, int64_t deadline_ns)
{
    pal_slot *got = NULL;
    pthread_mutex_lock(&s->lock);
    s->prio_wait++;
    while (!(got = take_free(s))) {
        if ((cancel && *cancel) || (deadline_ns && mono_ns() >= deadline_ns))
            break;
        wait_until(s, deadline_ns);
    }
    s->prio_wait--;
    if (!got && s->prio_wait == 0)
        pthread_cond_broadcast(&s->freed); /* ordinary waiters may go again */
    pthread_mutex_unlock(&s->lock);
    return got;
}

void pal_slots_release(pal_slots *s, pal_slot *slot)
{
    pthread_mutex_lock(&s->lock);
    slot->busy = 0;
    s->in_use--;
    /* everyone looks: a priority waiter must not lose the wake-up to an ordinary one */
    pthread_cond_broadcast(&s->freed);
    pthread_mutex_unlock(&s->lock);
}

int pal_slot_scan(pal_slot *slot, pal_defs *defs, const pal_source *src, const char *name,
                  const volatile int *cancel, pal_report *rep)
{
    pal_slots *s = slot->owner;
    if (s->fn)
        return s->fn(s->fn_ctx, slot->index, defs, src, name, cancel, rep);
    return pal_scanhost_scan(slot->owner->host, slot->index, &slot->scanner, &slot->defs, defs, src,
                             name, cancel, rep);
}

int pal_slot_scan_many(pal_slot *slot, pal_defs *defs, size_t n, const pal_source *srcs,
                       const char *const *names, const volatile int *cancel, pal_report *reps,
                       int *rcs)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (srcs[i].size > PAL_SLOT_BATCH_OBJ_MAX)
            return PAL_EINVAL;
        total += srcs[i].size;
    }
    if (n == 0 || n > PAL_SLOT_BATCH_MAX || total > PAL_SLOT_BATCH_BYTES)
        return PAL_EINVAL;
    pal_slots *s = slot->owner;
    if (s->fn) {
        for (size_t i = 0; i < n; i++)
            rcs[i] = s->fn(s->fn_ctx, slot->index, defs, &srcs[i], names[i], cancel, &reps[i]);
        return 0;
    }
    return pal_scanhost_scan_many(s->host, slot->index, &slot->scanner, &slot->defs, defs, n, srcs,
                                  names, cancel, reps, rcs);
}
