/* peerlimit.c — connections and log lines per peer uid (see peerlimit.h). */
#include "peerlimit.h"

#include <pthread.h>
#include <stdlib.h>

/* ---- connections per uid ---------------------------------------------------------------- */

typedef struct count_slot {
    uid_t uid;
    unsigned n; /* 0: the slot is free */
} count_slot;

struct pal_peer_count {
    unsigned capacity; /* slots; every connection needs at most one */
    count_slot *slots;
};

pal_peer_count *pal_peer_count_new(unsigned capacity)
{
    if (capacity == 0)
        return NULL;
    pal_peer_count *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->slots = calloc(capacity, sizeof(*t->slots));
    if (!t->slots) {
        free(t);
        return NULL;
    }
    t->capacity = capacity;
    return t;
}

void pal_peer_count_free(pal_peer_count *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t);
}

static count_slot *count_find(const pal_peer_count *t, uid_t uid)
{
    for (unsigned i = 0; i < t->capacity; i++)
        if (t->slots[i].n > 0 && t->slots[i].uid == uid)
            return &t->slots[i];
    return NULL;
}

unsigned pal_peer_count_held(const pal_peer_count *t, uid_t uid)
{
    const count_slot *s = count_find(t, uid);
    return s ? s->n : 0;
}

bool pal_peer_count_take(pal_peer_count *t, uid_t uid, unsigned limit, unsigned *held)
{
    count_slot *s = count_find(t, uid);
    if (held)
        *held = s ? s->n : 0;
    if (s) {
        if (s->n >= limit)
            return false;
        s->n++;
        return true;
    }
    if (limit == 0)
        return false;
    for (unsigned i = 0; i < t->capacity; i++) {
        if (t->slots[i].n == 0) {
            t->slots[i].uid = uid;
            t->slots[i].n = 1;
            return true;
        }
    }
    return false; /* more connections than the table was made for: refuse */
}

void pal_peer_count_give(pal_peer_count *t, uid_t uid)
{
    count_slot *s = count_find(t, uid);
    if (s)
        s->n--;
}

/* ---- log lines per uid ------------------------------------------------------------------ */

#define OTHERS ((uid_t)-1)

typedef struct log_slot {
    bool used; /* a window is open (or ended with a summary still to give) */
    uid_t uid;
    int64_t start;       /* pal_mono_ms of the window's first line */
    unsigned lines;      /* logged in this window */
    uint64_t suppressed; /* counted, not logged, in this window */
} log_slot;

struct pal_peer_log {
    pthread_mutex_t mu; /* protects slots and others */
    unsigned burst;
    int64_t window_ms;
    log_slot slots[PAL_PEER_LOG_SLOTS];
    log_slot others; /* the window shared by uids that found no slot */
};

pal_peer_log *pal_peer_log_new(unsigned burst, int64_t window_ms)
{
    if (burst == 0 || window_ms <= 0)
        return NULL;
    pal_peer_log *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    pthread_mutex_init(&l->mu, NULL);
    l->burst = burst;
    l->window_ms = window_ms;
    l->others.uid = OTHERS;
    return l;
}

void pal_peer_log_free(pal_peer_log *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static bool window_over(const pal_peer_log *l, const log_slot *s, int64_t now)
{
    return now - s->start >= l->window_ms;
}

/* End s's window: its summary (when lines were suppressed) goes to sum. Locked. */
static bool window_close(log_slot *s, pal_peer_summary *sum)
{
    bool have = s->used && s->suppressed > 0;
    if (have) {
        sum->uid = s->uid;
        sum->suppressed = s->suppressed;
    }
    s->used = false;
    s->lines = 0;
    s->suppressed = 0;
    return have;
}

/* uid's slot, a new one, or the shared one. Locked. */
static log_slot *log_slot_for(pal_peer_log *l, uid_t uid, int64_t now)
{
    log_slot *free_slot = NULL;
    for (size_t i = 0; i < PAL_PEER_LOG_SLOTS; i++) {
        log_slot *s = &l->slots[i];
        if (s->used && s->uid == uid)
            return s;
        /* An ended window with nothing to report is as good as free. */
        if (!free_slot && (!s->used || (s->suppressed == 0 && window_over(l, s, now))))
            free_slot = s;
    }
    if (!free_slot)
        return &l->others;
    free_slot->used = false;
    free_slot->uid = uid;
    return free_slot;
}

bool pal_peer_log_admit(pal_peer_log *l, uid_t uid, int64_t now, pal_peer_summary *sum,
                        bool *have_sum)
{
    pthread_mutex_lock(&l->mu);
    log_slot *s = log_slot_for(l, uid, now);
    *have_sum = false;
    if (s->used && window_over(l, s, now))
        *have_sum = window_close(s, sum);
    if (!s->used) {
        s->used = true;
        s->start = now;
        s->lines = 0;
        s->suppressed = 0;
    }
    bool ok = s->lines < l->burst;
    if (ok)
        s->lines++;
    else
        s->suppressed++;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

int64_t pal_peer_log_flush(pal_peer_log *l, int64_t now, pal_peer_summary *out, size_t max,
                           size_t *n)
{
    *n = 0;
    int64_t next = -1;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i <= PAL_PEER_LOG_SLOTS; i++) {
        log_slot *s = i < PAL_PEER_LOG_SLOTS ? &l->slots[i] : &l->others;
        if (!s->used || s->suppressed == 0)
            continue;
        if (window_over(l, s, now)) {
            if (*n == max) {
                next = now; /* no room this time: call again at once */
                continue;
            }
            window_close(s, &out[*n]);
            (*n)++;
            continue;
        }
        int64_t end = s->start + l->window_ms;
        if (next < 0 || end < next)
            next = end;
    }
    pthread_mutex_unlock(&l->mu);
    return next;
}
