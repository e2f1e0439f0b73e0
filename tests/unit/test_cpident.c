/* test_cpident.c — the content process's identity and its limits/priority guard
   (agent/core/supervisor/cpident.c), on real child processes. The identity tests that need root
   (setresuid to a dynamic uid, the account checks) are skipped otherwise. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpident.h"

/* A child that applies (resource, value) when value != RLIM_INFINITY, drops to uid when
   uid != 0 (as root), reports through a pipe, then waits to be killed. */
static pid_t child(int resource, rlim_t value, uid_t uid)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        if (value != RLIM_INFINITY) {
            struct rlimit rl = {.rlim_cur = value, .rlim_max = value};
            if (setrlimit(resource, &rl) != 0)
                _exit(1);
        }
        if (uid != 0 && (setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0))
            _exit(1);
        if (write(p[1], "x", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
    return pid;
}

static void end(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void test_guard_sees_a_changed_limit(void **state)
{
    (void)state;
    pal_cpident_guard g;
    pal_cpident_guard_init(&g);
    pid_t pid = child(RLIMIT_FSIZE, 12345, 0);
    pal_errbuf err;
    /* what the child set for itself is expected, or arming fails */
    assert_int_equal(pal_cpident_guard_arm(&g, pid, &err), PAL_EPERM);
    assert_non_null(strstr(err.msg, "limits changed: RLIMIT_FSIZE is 12345/12345"));
    pal_cpident_guard_expect(&g, RLIMIT_FSIZE, 12345);
    assert_int_equal(pal_cpident_guard_arm(&g, pid, &err), 0);
    assert_int_equal(g.ntids, 1);
    assert_int_equal(pal_cpident_guard_check(&g, &err), 0);

    /* another process with its ids lowers one limit: noticed, with the value */
    struct rlimit low = {.rlim_cur = 7, .rlim_max = 7};
    assert_int_equal(prlimit(pid, RLIMIT_NOFILE, &low, NULL), 0);
    assert_int_equal(pal_cpident_guard_check(&g, &err), PAL_EPERM);
    char want[128];
    snprintf(want, sizeof(want), "limits changed: RLIMIT_NOFILE is 7/7, the broker set ");
    assert_non_null(strstr(err.msg, want));
    pal_cpident_guard_release(&g);
    end(pid);
}

static void test_guard_sees_a_changed_priority(void **state)
{
    (void)state;
    pal_cpident_guard g;
    pal_cpident_guard_init(&g);
    if (g.nice >= 19)
        skip();
    pid_t pid = child(RLIMIT_FSIZE, RLIM_INFINITY, 0);
    pal_errbuf err;
    assert_int_equal(pal_cpident_guard_arm(&g, pid, &err), 0);
    assert_int_equal(setpriority(PRIO_PROCESS, (id_t)pid, 19), 0);
    assert_int_equal(pal_cpident_guard_check(&g, &err), PAL_EPERM);
    char want[64];
    snprintf(want, sizeof(want), "priority changed: thread %d has nice 19", (int)pid);
    assert_non_null(strstr(err.msg, want));
    pal_cpident_guard_release(&g);
    end(pid);
}

static void test_guard_fails_when_the_process_is_gone(void **state)
{
    (void)state;
    pal_cpident_guard g;
    pal_cpident_guard_init(&g);
    pid_t pid = child(RLIMIT_FSIZE, RLIM_INFINITY, 0);
    pal_errbuf err;
    assert_int_equal(pal_cpident_guard_arm(&g, pid, &err), 0);
    end(pid);
    assert_true(pal_cpident_guard_check(&g, &err) < 0);
    pal_cpident_guard_release(&g);
    pal_cpident_guard_release(&g); /* twice is fine */
}

static void test_dynamic_uid_is_free_and_found_when_used(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    pal_cpident id;
    pal_errbuf err;
    assert_int_equal(pal_cpident_choose(NULL, 0, &id, &err), 0);
    assert_int_equal(id.kind, PAL_CPIDENT_DYNAMIC);
    assert_true(id.uid >= PAL_CPIDENT_DYN_FIRST && id.uid <= PAL_CPIDENT_DYN_LAST);
    assert_int_equal(id.gid, id.uid);
    assert_non_null(strstr(id.why, "no dedicated account configured"));
    pid_t other;
    char comm[32];
    assert_int_equal(pal_cpident_find_user(id.uid, id.gid, 0, &other, comm, sizeof(comm), &err), 0);
    pid_t pid = child(RLIMIT_FSIZE, RLIM_INFINITY, id.uid);
    assert_int_equal(pal_cpident_find_user(id.uid, (gid_t)-1, 0, &other, comm, sizeof(comm), &err),
                     1);
    assert_int_equal(other, pid);
    assert_string_equal(comm, "test_cpident");
    /* the process itself is not "another" */
    assert_int_equal(
        pal_cpident_find_user(id.uid, (gid_t)-1, pid, &other, comm, sizeof(comm), &err), 0);
    end(pid);

    assert_int_equal(pal_cpident_choose("pal-no-such-account-here", 0, &id, &err), 0);
    assert_int_equal(id.kind, PAL_CPIDENT_DYNAMIC);
    assert_non_null(strstr(id.why, "(no account pal-no-such-account-here)"));
}

static void test_shared_accounts_are_refused(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    pal_cpident id;
    pal_errbuf err;
    assert_int_equal(pal_cpident_choose("nobody", 0, &id, &err), PAL_EPERM);
    assert_non_null(strstr(err.msg, "account nobody has nobody's uid 65534"));
    assert_int_equal(pal_cpident_choose("root", 0, &id, &err), PAL_EPERM);
    assert_non_null(strstr(err.msg, "never runs as root"));
}

static void test_unprivileged_broker_keeps_its_uid(void **state)
{
    (void)state;
    if (geteuid() == 0)
        skip();
    pal_cpident id;
    pal_errbuf err;
    assert_int_equal(pal_cpident_choose("palisade-cp", 0, &id, &err), 0);
    assert_int_equal(id.kind, PAL_CPIDENT_BROKER);
    assert_int_equal(id.uid, geteuid());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guard_sees_a_changed_limit),
        cmocka_unit_test(test_guard_sees_a_changed_priority),
        cmocka_unit_test(test_guard_fails_when_the_process_is_gone),
        cmocka_unit_test(test_dynamic_uid_is_free_and_found_when_used),
        cmocka_unit_test(test_shared_accounts_are_refused),
        cmocka_unit_test(test_unprivileged_broker_keeps_its_uid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
