/*
 * throttle.c — a scan's share of one CPU core (throttle.h).
 */
#define _GNU_SOURCE
#include "throttle.h"

#include <time.h>

#define MAX_STEP_NS 100000000LL /* 100 ms: a cancel is seen within it */

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t pal_throttle_now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

void pal_throttle_init(pal_throttle *t, unsigned percent)
{
    t->percent = percent;
    pthread_mutex_init(&t->lock, NULL);
    t->start_ns = pal_throttle_now_ns();
    t->cost_ns = 0;
}

void pal_throttle_destroy(pal_throttle *t)
{
    pthread_mutex_destroy(&t->lock);
}

int pal_throttle_active(const pal_throttle *t)
{
    return t->percent > 0 && t->percent < 100;
}

void pal_throttle_begin(pal_throttle_mark *m)
{
    m->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    m->wall_ns = pal_throttle_now_ns();
}

void pal_throttle_charge(pal_throttle *t, const pal_throttle_mark *m, int64_t wall_ns)
{
    if (!pal_throttle_active(t))
        return;
    int64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - m->cpu_ns;
    int64_t cost = cpu > wall_ns ? cpu : wall_ns;
    pthread_mutex_lock(&t->lock);
    t->cost_ns += cost;
    pthread_mutex_unlock(&t->lock);
}

void pal_throttle_pause(pal_throttle *t, const volatile int *cancel)
{
    if (!pal_throttle_active(t))
        return;
    for (;;) {
        if (cancel && *cancel)
            return;
        pthread_mutex_lock(&t->lock);
        /* the elapsed time at which cost is percent of it */
        int64_t due = t->start_ns + t->cost_ns / (int64_t)t->percent * 100;
        pthread_mutex_unlock(&t->lock);
        int64_t wait = due - pal_throttle_now_ns();
        if (wait <= 0)
            return;
        if (wait > MAX_STEP_NS)
            wait = MAX_STEP_NS;
        struct timespec ts = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
        nanosleep(&ts, NULL);
    }
}
