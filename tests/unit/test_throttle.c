/*
 * test_throttle.c — a scan's share of one core (throttle.h): no pause at 100 percent or
 * below the share, a pause that brings the elapsed time up to cost / percent, the larger of
 * CPU and wall time charged, and a cancel that ends a pause. Sleeps are short (well under a
 * second) and only lower bounds are asserted, except for the cancel, whose bound is loose.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <time.h>

#include "throttle.h"

#define MS 1000000LL

static void test_no_pause_without_a_share(void **state)
{
    (void)state;
    pal_throttle t;
    pal_throttle_init(&t, 100);
    assert_false(pal_throttle_active(&t));
    pal_throttle_mark m;
    pal_throttle_begin(&m);
    pal_throttle_charge(&t, &m, 500 * MS); /* not counted at 100 */
    assert_int_equal(t.cost_ns, 0);
    int64_t t0 = pal_throttle_now_ns();
    pal_throttle_pause(&t, NULL);
    assert_true(pal_throttle_now_ns() - t0 < 50 * MS);
    pal_throttle_destroy(&t);
    pal_throttle_init(&t, 0);
    assert_false(pal_throttle_active(&t));
    pal_throttle_destroy(&t);
}

static void test_pause_reaches_the_share(void **state)
{
    (void)state;
    pal_throttle t;
    pal_throttle_init(&t, 25);
    assert_true(pal_throttle_active(&t));
    pal_throttle_mark m;
    pal_throttle_begin(&m);
    /* 60 ms of work elsewhere (wall) at 25 %: the scan may have used the core for 60 ms of
       240 ms, so the pause ends no sooner than 240 ms after the start */
    pal_throttle_charge(&t, &m, 60 * MS);
    assert_true(t.cost_ns >= 60 * MS);
    pal_throttle_pause(&t, NULL);
    assert_true(pal_throttle_now_ns() - t.start_ns >= 240 * MS);
    /* within the share already: no further pause */
    int64_t t0 = pal_throttle_now_ns();
    pal_throttle_pause(&t, NULL);
    assert_true(pal_throttle_now_ns() - t0 < 50 * MS);
    pal_throttle_destroy(&t);
}

static void test_cpu_time_counts_when_larger(void **state)
{
    (void)state;
    pal_throttle t;
    pal_throttle_init(&t, 50);
    pal_throttle_mark m;
    pal_throttle_begin(&m);
    struct timespec ts;
    int64_t cpu0 = 0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    cpu0 = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    volatile uint64_t x = 0;
    for (;;) { /* 20 ms of this thread's CPU */
        for (int i = 0; i < 100000; i++)
            x += (uint64_t)i * 2654435761u;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        if ((int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec - cpu0 >= 20 * MS)
            break;
    }
    assert_true(x != 1);                 /* keeps the loop's work */
    pal_throttle_charge(&t, &m, 1 * MS); /* the wall part is smaller: CPU is charged */
    assert_true(t.cost_ns >= 20 * MS);
    pal_throttle_destroy(&t);
}

static volatile int cancel_flag;

static void *cancel_later(void *arg)
{
    (void)arg;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 150 * MS};
    nanosleep(&ts, NULL);
    cancel_flag = 1;
    return NULL;
}

static void test_cancel_ends_a_pause(void **state)
{
    (void)state;
    pal_throttle t;
    pal_throttle_init(&t, 5);
    pal_throttle_mark m;
    pal_throttle_begin(&m);
    pal_throttle_charge(&t, &m, 3000 * MS); /* owes a minute */
    cancel_flag = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_later, NULL), 0);
    int64_t t0 = pal_throttle_now_ns();
    pal_throttle_pause(&t, &cancel_flag);
    int64_t took = pal_throttle_now_ns() - t0;
    pthread_join(th, NULL);
    assert_true(cancel_flag);
    assert_true(took < 30000 * MS); /* not the minute: the cancel was seen */
    pal_throttle_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_pause_without_a_share),
        cmocka_unit_test(test_pause_reaches_the_share),
        cmocka_unit_test(test_cpu_time_counts_when_larger),
        cmocka_unit_test(test_cancel_ends_a_pause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
