/* test_cachetrust.c — the scan cache's admission rule: sysctls, file systems, decision. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachetrust.h"

#define SEC 1000000000LL
#define EXT4 0xEF53L
#define TMPFS 0x01021994L
#define NFS 0x6969L
#define FUSE 0x65735546L
#define OVERLAY 0x794c7630L
#define NOW (1800000000LL * SEC)

static char vm[64];

static void put(const char *name, const char *content)
{
    char p[PATH_MAX];
    int n = snprintf(p, sizeof(p), "%s/%s", vm, name);
    assert_true(n > 0 && (size_t)n < sizeof(p));
    if (!content) {
        unlink(p);
        return;
    }
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/pal-cachetrust.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    snprintf(vm, sizeof(vm), "%s", tmpl);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    put("dirty_expire_centisecs", NULL);
    put("dirty_writeback_centisecs", NULL);
    rmdir(vm);
    return 0;
}

static pal_cachetrust init_with(const char *expire, const char *writeback)
{
    put("dirty_expire_centisecs", expire);
    put("dirty_writeback_centisecs", writeback);
    pal_cachetrust ct;
    memset(&ct, 0x5a, sizeof(ct));
    pal_cachetrust_init(&ct, vm);
    return ct;
}

static void test_sysctls(void **state)
{
    (void)state;
    pal_cachetrust ct = init_with("3000\n", "500\n");
    assert_int_equal(ct.writeback, 1);
    assert_true(ct.window_ns == 35 * SEC + PAL_CACHETRUST_MARGIN_NS);

    ct = init_with("0\n", "1\n"); /* expire 0 is allowed: the flusher's interval remains */
    assert_int_equal(ct.writeback, 1);
    assert_true(ct.window_ns == SEC / 100 + PAL_CACHETRUST_MARGIN_NS);

    ct = init_with("4000000000\n", "500\n"); /* capped, no overflow */
    assert_int_equal(ct.writeback, 1);
    assert_true(ct.window_ns > 1000000LL * SEC);

    /* periodic writeback off, or anything we cannot read: no age rule */
    static const char *const bad[][2] = {
        {"3000\n", "0\n"}, {"3000\n", "-5\n"},   {"3000\n", "abc\n"},
        {"3000\n", ""},    {"3000\n", "12x\n"},  {"99999999999999999999\n", "500\n"},
        {"-1\n", "500\n"}, {" 3000\n", "500\n"}, {NULL, "500\n"},
        {"3000\n", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ct = init_with(bad[i][0], bad[i][1]);
        assert_int_equal(ct.writeback, 0);
    }
    pal_cachetrust_init(&ct, "/nonexistent/pal-cachetrust");
    assert_int_equal(ct.writeback, 0);
}

static void test_file_systems(void **state)
{
    (void)state;
    assert_true(pal_cachetrust_fs_suitable(EXT4));
    assert_true(pal_cachetrust_fs_suitable(0x58465342L)); /* xfs */
    assert_true(pal_cachetrust_fs_suitable(0x9123683EL)); /* btrfs */
    assert_false(pal_cachetrust_fs_suitable(TMPFS));
    assert_false(pal_cachetrust_fs_suitable(0x858458f6L)); /* ramfs */
    assert_false(pal_cachetrust_fs_suitable(NFS));
    assert_false(pal_cachetrust_fs_suitable(FUSE));
    assert_false(pal_cachetrust_fs_suitable(OVERLAY));
    assert_false(pal_cachetrust_fs_suitable(0x01021997L)); /* 9p */
    assert_false(pal_cachetrust_fs_suitable(0));
}

static struct stat file(uid_t uid, mode_t mode, int64_t mtime_ns, int64_t ctime_ns)
{
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_uid = uid;
    st.st_mode = S_IFREG | mode;
    st.st_mtim.tv_sec = mtime_ns / SEC;
    st.st_mtim.tv_nsec = mtime_ns % SEC;
    st.st_ctim.tv_sec = ctime_ns / SEC;
    st.st_ctim.tv_nsec = ctime_ns % SEC;
    return st;
}

static void test_decide(void **state)
{
    (void)state;
    pal_cachetrust ct = {.writeback = 1, .window_ns = 45 * SEC};
    pal_cachetrust off = {.writeback = 0, .window_ns = 0};
    int64_t old = NOW - 46 * SEC, young = NOW - 1 * SEC;
    struct stat st;

    /* (a) nobody but root can write: on any file system, at any age */
    st = file(0, 0644, young, young);
    assert_int_equal(pal_cachetrust_decide(&ct, &st, TMPFS, NOW), PAL_CACHETRUST_ROOT_ONLY);
    assert_int_equal(pal_cachetrust_decide(&off, &st, FUSE, NOW), PAL_CACHETRUST_ROOT_ONLY);
    st = file(0, 0400, young, young);
    assert_int_equal(pal_cachetrust_decide(&ct, &st, NFS, NOW), PAL_CACHETRUST_ROOT_ONLY);
    /* root-owned but group- or world-writable: the age rule */
    st = file(0, 0664, young, young);
    assert_int_equal(pal_cachetrust_decide(&ct, &st, EXT4, NOW), PAL_CACHETRUST_RECENT);
    assert_int_equal(pal_cachetrust_decide(&ct, &st, TMPFS, NOW), PAL_CACHETRUST_FS_UNSUITED);
    st = file(0, 0646, old, old);
    assert_int_equal(pal_cachetrust_decide(&ct, &st, EXT4, NOW), PAL_CACHETRUST_SETTLED);
    /* a user's file that only the user can write is still the user's */
    st = file(1000, 0600, old, old);
    assert_int_equal(pal_cachetrust_decide(&ct, &st, EXT4, NOW), PAL_CACHETRUST_SETTLED);
    assert_int_equal(pal_cachetrust_decide(&ct, &st, TMPFS, NOW), PAL_CACHETRUST_FS_UNSUITED);
    assert_int_equal(pal_cachetrust_decide(&ct, &st, OVERLAY, NOW), PAL_CACHETRUST_FS_UNSUITED);
    assert_int_equal(pal_cachetrust_decide(&off, &st, EXT4, NOW), PAL_CACHETRUST_NO_WRITEBACK);

    /* both stamps must be older than the window, strictly */
    st = file(1000, 0644, old, young); /* mtime backdated with utimes: ctime tells */
    assert_int_equal(pal_cachetrust_decide(&ct, &st, EXT4, NOW), PAL_CACHETRUST_RECENT);
    st = file(1000, 0644, young, old);
    assert_int_equal(pal_cachetrust_decide(&ct, &st, EXT4, NOW), PAL_CACHETRUST_RECENT);
    st = file(1000, 0644, NOW + 3600 * SEC, old); /* mtime in the future */
    assert_int_equal(pal_cachetrust_decide(&ct, &st, EXT4, NOW), PAL_CACHETRUST_RECENT);
    st = file(1000, 0644, NOW - 45 * SEC, NOW - 45 * SEC);
    assert_int_equal(pal_cachetrust_decide(&ct, &st, EXT4, NOW), PAL_CACHETRUST_RECENT);
    st = file(1000, 0644, NOW - 45 * SEC - 1, NOW - 45 * SEC - 1);
    assert_int_equal(pal_cachetrust_decide(&ct, &st, EXT4, NOW), PAL_CACHETRUST_SETTLED);

    assert_true(pal_cachetrust_ok(PAL_CACHETRUST_ROOT_ONLY));
    assert_true(pal_cachetrust_ok(PAL_CACHETRUST_SETTLED));
    assert_false(pal_cachetrust_ok(PAL_CACHETRUST_RECENT));
    assert_false(pal_cachetrust_ok(PAL_CACHETRUST_SYNC_FAILED));
    assert_string_equal(pal_cachetrust_why_name(PAL_CACHETRUST_FS_UNSUITED), "fs-unsuited");
}

/* The whole call on a real file of the test's own directory. */
static void test_before_read(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char p[PATH_MAX];
    int n = snprintf(p, sizeof(p), "%s/f", vm);
    assert_true(n > 0 && (size_t)n < sizeof(p));
    int fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "data", 4), 4);
    int ro = open(p, O_RDONLY | O_CLOEXEC);
    assert_true(ro >= 0);
    pal_cachetrust ct = {.writeback = 1, .window_ns = 45 * SEC};
    struct stat st;
    assert_int_equal(fstat(ro, &st), 0);
    assert_int_equal(pal_cachetrust_before_read(&ct, ro, &st), PAL_CACHETRUST_ROOT_ONLY);
    assert_int_equal(fchown(fd, 65534, 65534), 0);
    assert_int_equal(fstat(ro, &st), 0);
    pal_cachetrust_why why = pal_cachetrust_before_read(&ct, ro, &st);
    assert_true(why == PAL_CACHETRUST_RECENT || why == PAL_CACHETRUST_FS_UNSUITED);
    close(ro);
    close(fd);
    unlink(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sysctls),
        cmocka_unit_test(test_file_systems),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_before_read),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
