/* test_safepath.c — component-wise no-follow resolution and the scanned-identity check. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safepath.h"

static char base[PATH_MAX];

static void path_of(char *out, const char *rel)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", base, rel);
    assert_true(n > 0 && n < PATH_MAX);
}

static void touch(const char *rel, const char *content)
{
    char p[PATH_MAX];
    path_of(p, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/pal-safepath.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    /* the walk must start from a path free of symlinks (on some systems /tmp is one) */
    assert_non_null(realpath(tmpl, base));
    char p[PATH_MAX];
    path_of(p, "dir");
    assert_int_equal(mkdir(p, 0755), 0);
    path_of(p, "dir/sub");
    assert_int_equal(mkdir(p, 0755), 0);
    path_of(p, "victim");
    assert_int_equal(mkdir(p, 0755), 0);
    touch("dir/sub/f", "user");
    touch("victim/f", "victim");
    path_of(p, "link");
    char target[PATH_MAX];
    path_of(target, "victim");
    assert_int_equal(symlink(target, p), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    int n = snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    assert_true(n > 0 && (size_t)n < sizeof(cmd));
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void test_resolves_to_the_parent(void **state)
{
    (void)state;
    char p[PATH_MAX];
    path_of(p, "dir/sub/f");
    pal_safepath sp = PAL_SAFEPATH_INIT;
    pal_errbuf err;
    assert_int_equal(pal_safepath_open(p, &sp, &err), 0);
    assert_string_equal(sp.name, "f");
    struct stat a, b;
    assert_int_equal(pal_safepath_lstat(&sp, &a), 0);
    assert_int_equal(stat(p, &b), 0);
    assert_true(pal_safepath_same_file(&a, &b));
    pal_safepath_close(&sp);
    pal_safepath_close(&sp); /* idempotent */

    /* repeated slashes are empty components, not errors */
    int n = snprintf(p, sizeof(p), "%s//dir///sub/f", base);
    assert_true(n > 0 && (size_t)n < sizeof(p));
    assert_int_equal(pal_safepath_open(p, &sp, &err), 0);
    pal_safepath_close(&sp);
}

static void test_symlink_on_the_way_is_refused(void **state)
{
    (void)state;
    char p[PATH_MAX];
    path_of(p, "link/f"); /* link -> victim, which has an f */
    pal_safepath sp = PAL_SAFEPATH_INIT;
    pal_errbuf err;
    assert_int_equal(pal_safepath_open(p, &sp, &err), PAL_ERACE);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_int_equal(sp.dirfd, -1);

    /* the same after the parent is swapped for the link */
    char sub[PATH_MAX], real[PATH_MAX], victim[PATH_MAX];
    path_of(sub, "dir/sub");
    path_of(real, "dir/sub.real");
    path_of(victim, "victim");
    assert_int_equal(rename(sub, real), 0);
    assert_int_equal(symlink(victim, sub), 0);
    path_of(p, "dir/sub/f");
    assert_int_equal(pal_safepath_open(p, &sp, &err), PAL_ERACE);
    assert_non_null(strstr(err.msg, "dir/sub is a symbolic link"));
    assert_int_equal(unlink(sub), 0);
    assert_int_equal(rename(real, sub), 0);
}

static void test_fd_stays_on_the_verified_directory(void **state)
{
    (void)state;
    char p[PATH_MAX], sub[PATH_MAX], real[PATH_MAX], victim[PATH_MAX];
    path_of(p, "dir/sub/f");
    pal_safepath sp = PAL_SAFEPATH_INIT;
    assert_int_equal(pal_safepath_open(p, &sp, NULL), 0);
    /* swapped after the resolution: acting through the fd still reaches the real file */
    path_of(sub, "dir/sub");
    path_of(real, "dir/sub.real");
    path_of(victim, "victim");
    assert_int_equal(rename(sub, real), 0);
    assert_int_equal(symlink(victim, sub), 0);
    char buf[16] = {0};
    int fd = openat(sp.dirfd, sp.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, sizeof(buf) - 1), 4);
    assert_string_equal(buf, "user");
    close(fd);
    pal_safepath_close(&sp);
    assert_int_equal(unlink(sub), 0);
    assert_int_equal(rename(real, sub), 0);
}

static void test_bad_paths(void **state)
{
    (void)state;
    pal_safepath sp = PAL_SAFEPATH_INIT;
    pal_errbuf err;
    char p[PATH_MAX];
    assert_int_equal(pal_safepath_open("relative/f", &sp, &err), PAL_EINVAL);
    assert_int_equal(pal_safepath_open("/", &sp, &err), PAL_EINVAL);
    path_of(p, "dir/");
    assert_int_equal(pal_safepath_open(p, &sp, &err), PAL_EINVAL);
    path_of(p, "dir/../victim/f");
    assert_int_equal(pal_safepath_open(p, &sp, &err), PAL_EINVAL);
    path_of(p, "dir/./sub/f");
    assert_int_equal(pal_safepath_open(p, &sp, &err), PAL_EINVAL);
    path_of(p, "dir/sub/..");
    assert_int_equal(pal_safepath_open(p, &sp, &err), PAL_EINVAL);
    path_of(p, "missing/f");
    assert_int_equal(pal_safepath_open(p, &sp, &err), PAL_ENOTFOUND);
    path_of(p, "dir/sub/f/g"); /* a file used as a directory */
    assert_int_equal(pal_safepath_open(p, &sp, &err), PAL_ERACE);
    assert_non_null(strstr(err.msg, "not a directory"));
    char longname[NAME_MAX + 8];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    int n = snprintf(p, sizeof(p), "%s/%s", base, longname);
    assert_true(n > 0 && (size_t)n < sizeof(p));
    assert_int_equal(pal_safepath_open(p, &sp, &err), PAL_EINVAL);
    /* a final name that does not exist resolves (restore creates it) */
    path_of(p, "dir/new-file");
    assert_int_equal(pal_safepath_open(p, &sp, &err), 0);
    struct stat st;
    assert_int_equal(pal_safepath_lstat(&sp, &st), -ENOENT);
    pal_safepath_close(&sp);
}

static void test_identity(void **state)
{
    (void)state;
    struct stat a = {0}, b;
    a.st_dev = 1;
    a.st_ino = 2;
    a.st_size = 3;
    a.st_mtim.tv_sec = 4;
    a.st_mtim.tv_nsec = 5;
    b = a;
    assert_true(pal_safepath_same_file(&a, &b));
    b.st_ino = 9;
    assert_false(pal_safepath_same_file(&a, &b));
    b = a;
    b.st_size = 4;
    assert_false(pal_safepath_same_file(&a, &b));
    b = a;
    b.st_mtim.tv_nsec = 6;
    assert_false(pal_safepath_same_file(&a, &b));
    b = a;
    b.st_dev = 7;
    assert_false(pal_safepath_same_file(&a, &b));

    char h1[33], h2[33];
    assert_int_equal(pal_safepath_random_hex(h1), 0);
    assert_int_equal(pal_safepath_random_hex(h2), 0);
    assert_int_equal(strlen(h1), 32);
    assert_int_equal(strspn(h1, "0123456789abcdef"), 32);
    assert_string_not_equal(h1, h2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolves_to_the_parent),
        cmocka_unit_test(test_symlink_on_the_way_is_refused),
        cmocka_unit_test(test_fd_stays_on_the_verified_directory),
        cmocka_unit_test(test_bad_paths),
        cmocka_unit_test(test_identity),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
