/*
 * test_slots.c — the slot pool (slots.h): the count bounds, every slot handed out once,
 * a waiter woken by a release, a waiter released by cancel, and a slot's scan going where
 * the pool says (here a fake, with the slot's own index).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slots.h"

static int fake_scan(void *ctx, unsigned slot, pal_defs *defs, const pal_source *src,
                     const char *name, const volatile int *cancel, pal_report *rep)
{
    (void)defs;
    (void)src;
    (void)cancel;
    int *seen = ctx;
    seen[slot]++;
    pal_report_init(rep);
    return strcmp(name, "fail") == 0 ? PAL_EIO : 0;
}

static void test_bounds(void **state)
{
    (void)state;
    pal_slots *s = NULL;
    int seen[4] = {0};
    assert_int_equal(pal_slots_new_fn(0, fake_scan, seen, &s), PAL_EINVAL);
    assert_int_equal(pal_slots_new_fn(1025, fake_scan, seen, &s), PAL_EINVAL);
    assert_int_equal(pal_slots_new_fn(1, NULL, seen, &s), PAL_EINVAL);
    assert_int_equal(pal_slots_new(0, NULL, &s), PAL_EINVAL);
    assert_int_equal(pal_slots_new_fn(1024, fake_scan, seen, &s), 0);
    assert_int_equal(pal_slots_count(s), 1024);
    pal_slots_free(s);
    pal_slots_free(NULL);
}

static void test_each_slot_once_and_scan_goes_to_its_slot(void **state)
{
    (void)state;
    int seen[3] = {0};
    pal_slots *s = NULL;
    assert_int_equal(pal_slots_new_fn(3, fake_scan, seen, &s), 0);
    pal_slot *got[3];
    for (int i = 0; i < 3; i++) {
        got[i] = pal_slots_acquire(s, NULL);
        assert_non_null(got[i]);
        for (int k = 0; k < i; k++)
            assert_ptr_not_equal(got[i], got[k]);
    }
    /* all busy: a cancelled caller does not wait */
    int cancel = 1;
    assert_null(pal_slots_acquire(s, &cancel));
    pal_report rep;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pal_slot_scan(got[i], NULL, NULL, "x", NULL, &rep), 0);
        pal_report_free(&rep);
    }
    assert_int_equal(pal_slot_scan(got[0], NULL, NULL, "fail", NULL, &rep), PAL_EIO);
    pal_report_free(&rep);
    /* each slot's scans ran with its own index */
    assert_int_equal(seen[0] + seen[1] + seen[2], 4);
    assert_true(seen[0] >= 1 && seen[1] >= 1 && seen[2] >= 1);
    for (int i = 0; i < 3; i++)
        pal_slots_release(s, got[i]);
    pal_slots_free(s);
}

typedef struct waiter {
    pal_slots *s;
    volatile int cancel;
    atomic_int done;
    pal_slot *got;
} waiter;

static void *wait_main(void *arg)
{
    waiter *w = arg;
    w->got = pal_slots_acquire(w->s, &w->cancel);
    atomic_store(&w->done, 1);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_release_wakes_a_waiter(void **state)
{
    (void)state;
    int seen[1] = {0};
    pal_slots *s = NULL;
    assert_int_equal(pal_slots_new_fn(1, fake_scan, seen, &s), 0);
    pal_slot *mine = pal_slots_acquire(s, NULL);
    assert_non_null(mine);
    waiter w = {.s = s};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_main, &w), 0);
    sleep_ms(300);
    assert_int_equal(atomic_load(&w.done), 0); /* still waiting: the only slot is taken */
    pal_slots_release(s, mine);
    pthread_join(t, NULL);
    assert_ptr_equal(w.got, mine);
    pal_slots_release(s, w.got);
    pal_slots_free(s);
}

static void test_cancel_releases_a_waiter(void **state)
{
    (void)state;
    int seen[1] = {0};
    pal_slots *s = NULL;
    assert_int_equal(pal_slots_new_fn(1, fake_scan, seen, &s), 0);
    pal_slot *mine = pal_slots_acquire(s, NULL);
    waiter w = {.s = s};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_main, &w), 0);
    sleep_ms(200);
    assert_int_equal(atomic_load(&w.done), 0);
    w.cancel = 1;
    pthread_join(t, NULL); /* the waiter looks at cancel at least every 100 ms */
    assert_null(w.got);
    pal_slots_release(s, mine);
    /* the slot is free again */
    pal_slot *again = pal_slots_acquire(s, NULL);
    assert_ptr_equal(again, mine);
    pal_slots_release(s, again);
    pal_slots_free(s);
}

static void *prio_main(void *arg)
{
    waiter *w = arg;
    w->got = pal_slots_acquire_prio(w->s, &w->cancel, 0);
    atomic_store(&w->done, 1);
    return NULL;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A real-time request waiting gets the freed slot before an on-demand scan that waited
   longer; the on-demand one gets it after. */
static void test_realtime_request_goes_first(void **state)
{
    (void)state;
    int seen[1] = {0};
    pal_slots *s = NULL;
    assert_int_equal(pal_slots_new_fn(1, fake_scan, seen, &s), 0);
    pal_slot *mine = pal_slots_acquire(s, NULL);
    waiter ondemand = {.s = s}, realtime = {.s = s};
    pthread_t t1, t2;
    assert_int_equal(pthread_create(&t1, NULL, wait_main, &ondemand), 0);
    sleep_ms(150);
    assert_int_equal(pthread_create(&t2, NULL, prio_main, &realtime), 0);
    sleep_ms(150);
    pal_slots_release(s, mine);
    pthread_join(t2, NULL);
    assert_ptr_equal(realtime.got, mine);
    sleep_ms(150);
    assert_int_equal(atomic_load(&ondemand.done), 0); /* the slot is the real-time one's */
    pal_slots_release(s, realtime.got);
    pthread_join(t1, NULL);
    assert_ptr_equal(ondemand.got, mine);
    pal_slots_release(s, ondemand.got);
    pal_slots_free(s);
}

/* A real-time request gives up at its deadline; the ordinary waiters are not held by it. */
static void test_realtime_request_deadline(void **state)
{
    (void)state;
    int seen[1] = {0};
    pal_slots *s = NULL;
    assert_int_equal(pal_slots_new_fn(1, fake_scan, seen, &s), 0);
    pal_slot *mine = pal_slots_acquire(s, NULL);
    int64_t t0 = mono_ns();
    assert_null(pal_slots_acquire_prio(s, NULL, t0 + 200 * 1000000LL));
    int64_t took = mono_ns() - t0;
    assert_true(took >= 200 * 1000000LL);
    pal_slots_release(s, mine);
    pal_slot *again = pal_slots_acquire(s, NULL);
    assert_ptr_equal(again, mine);
    pal_slots_release(s, again);
    pal_slots_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_each_slot_once_and_scan_goes_to_its_slot),
        cmocka_unit_test(test_release_wakes_a_waiter),
        cmocka_unit_test(test_cancel_releases_a_waiter),
        cmocka_unit_test(test_realtime_request_goes_first),
        cmocka_unit_test(test_realtime_request_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
