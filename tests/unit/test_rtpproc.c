/* test_rtpproc.c — the process behind a real-time event: its parent and credentials read from
   the event's pidfd (PIDFD_GET_INFO) agree with /proc, for a process whose real, effective and
   saved ids all differ, and an exited process is not identified. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtpproc.h"

/* Linux 6.13 added PIDFD_GET_INFO: from there on the pidfd's way must work, not fall back. */
static int kernel_has_pidfd_info(void)
{
    struct utsname u;
    int major = 0, minor = 0;
    if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
        return 0;
    return major > 6 || (major == 6 && minor >= 13);
}

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* A child with distinct real, effective and saved ids (root can set them), waiting to be
   killed; *pidfd refers to it. */
static pid_t child_with_ids(int *pidfd)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        /* never outlives a failed test, nor holds its output open */
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
            _exit(2);
        alarm(60);
        if (setresgid(1001, 1002, 1003) != 0 || setresuid(2001, 2002, 2003) != 0)
            _exit(3);
        /* set after the ids change, which clears it */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1)
            _exit(5);
        char c = 'r';
        if (write(ready[1], &c, 1) != 1)
            _exit(4);
        for (;;)
            pause();
    }
    close(ready[1]);
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    *pidfd = pidfd_open_(pid);
    assert_true(*pidfd >= 0);
    return pid;
}

static void test_ids_agree_with_proc(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();
    }
    int pidfd;
    pid_t pid = child_with_ids(&pidfd);
    pal_rtp_ids a, b;
    memset(&a, 0xff, sizeof(a));
    memset(&b, 0xff, sizeof(b));
    if (kernel_has_pidfd_info())
        assert_int_equal(pal_rtp_proc_ids_from_pidfd(pidfd, &a), 0);
    else
        assert_int_equal(pal_rtp_proc_ids(pid, pidfd, &a), 0);
    assert_int_equal(pal_rtp_proc_ids_from_proc(pid, &b), 0);
    assert_int_equal(a.ppid, getpid());
    assert_int_equal(b.ppid, getpid());
    assert_int_equal(a.ruid, 2001);
    assert_int_equal(a.euid, 2002);
    assert_int_equal(a.suid, 2003);
    assert_int_equal(a.rgid, 1001);
    assert_int_equal(a.egid, 1002);
    assert_int_equal(a.sgid, 1003);
    assert_memory_equal(&a, &b, sizeof(a));

    /* a set-id process: known, but its exe cannot be read as it (as_uid -1) */
    pal_rtp_proc p;
    pal_rtp_proc_identify(&p, pid, pidfd);
    assert_int_equal(p.known, 1);
    assert_int_equal(p.uid, 2001);
    assert_int_equal(p.as_uid, -1);
    assert_true(p.exe[0] == '/');

    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    /* gone: neither way names it, and its identity is unknown */
    assert_int_not_equal(pal_rtp_proc_ids_from_proc(pid, &b), 0);
    assert_int_not_equal(pal_rtp_proc_ids(pid, pidfd, &b), 0);
    pal_rtp_proc_identify(&p, pid, pidfd);
    assert_int_equal(p.known, 0);
    assert_string_equal(p.exe, "");
    close(pidfd);
}

static void test_self_and_no_pidfd(void **state)
{
    (void)state;
    pal_rtp_ids a, b;
    int pidfd = pidfd_open_(getpid());
    assert_true(pidfd >= 0);
    assert_int_equal(pal_rtp_proc_ids(getpid(), pidfd, &a), 0);
    assert_int_equal(pal_rtp_proc_ids(getpid(), -1, &b), 0); /* no pidfd: /proc */
    assert_int_equal(a.ppid, getppid());
    assert_int_equal(a.ruid, getuid());
    assert_int_equal(a.egid, getegid());
    assert_memory_equal(&a, &b, sizeof(a));
    close(pidfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_agree_with_proc),
        cmocka_unit_test(test_self_and_no_pidfd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
