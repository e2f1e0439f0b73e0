/* test_rtpattr.c — the attribute watch behind real-time protection's ignore marks, on a tmpfs
   and a loop-mounted ext4 image of the test's own: the key taken from an open file matches
   what the watch reports when that file's mode or owner changes, so a noted file's chmod is
   seen, an unnoted file's is not, and forgetting empties the set. (The attack itself, a
   chmod then a write through a shared mapping, is tests/integration/test_rtp_more.py.) */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../test_support.h"
#include "rtpattr.h"

static char base[64], tmpfs_dir[128], ext4_dir[128], image[128];

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0)
        return 0;
    snprintf(base, sizeof(base), "/tmp/pal-rtpattr.XXXXXX");
    assert_non_null(mkdtemp(base));
    snprintf(tmpfs_dir, sizeof(tmpfs_dir), "%s/tmpfs", base);
    snprintf(ext4_dir, sizeof(ext4_dir), "%s/ext4", base);
    snprintf(image, sizeof(image), "%s/ext4.img", base);
    assert_int_equal(mkdir(tmpfs_dir, 0755), 0);
    assert_int_equal(mkdir(ext4_dir, 0755), 0);
    assert_int_equal(run_cmd("mount -t tmpfs -o size=8m tmpfs %s", tmpfs_dir), 0);
    assert_int_equal(run_cmd("truncate -s 32M %s && mkfs.ext4 -q -F %s >/dev/null 2>&1 && "
                             "mount -o loop %s %s",
                             image, image, image, ext4_dir),
                     0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (base[0] == '\0')
        return 0;
    run_cmd("umount %s 2>/dev/null; umount %s 2>/dev/null; rm -rf %s", tmpfs_dir, ext4_dir, base);
    return 0;
}

/* What the watch says within a second (events arrive asynchronously). */
static int changed_within(pal_rtp_attr *a, int want)
{
    for (int i = 0; i < 20; i++) {
        struct pollfd pf = {.fd = pal_rtp_attr_fd(a), .events = POLLIN};
        poll(&pf, 1, 50);
        if (pal_rtp_attr_changed(a))
            return 1;
        if (!want && i >= 4)
            break; /* 250 ms of nothing is enough to say "not seen" */
    }
    return 0;
}

static int make_file(const char *dir, const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "clean\n", 6), 6);
    return fd;
}

static void check_fs(pal_rtp_attr *a, const char *dir)
{
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_true(pal_rtp_attr_watches(a, (uint64_t)st.st_dev));

    char noted[PATH_MAX], other[PATH_MAX];
    int fd = make_file(dir, "noted", noted, sizeof(noted));
    int fd2 = make_file(dir, "other", other, sizeof(other));
    uint64_t key = pal_rtp_attr_key(fd), key2 = pal_rtp_attr_key(fd2);
    assert_true(key != 0 && key2 != 0 && key != key2);
    /* the same inode through another open gives the same key */
    int again = open(noted, O_RDONLY | O_CLOEXEC);
    assert_true(again >= 0);
    assert_true(pal_rtp_attr_key(again) == key);
    close(again);
    (void)changed_within(a, 0); /* the creations' events, if any */

    assert_int_equal(pal_rtp_attr_note(a, key), 0);
    /* an unnoted file's chmod is not a reason to drop the marks */
    assert_int_equal(chmod(other, 0666), 0);
    assert_int_equal(changed_within(a, 0), 0);
    /* the noted file's chmod, chown and hard link's chmod are */
    assert_int_equal(chmod(noted, 0666), 0);
    assert_int_equal(changed_within(a, 1), 1);
    assert_int_equal(chown(noted, 65534, 65534), 0);
    assert_int_equal(changed_within(a, 1), 1);
    char hard[PATH_MAX];
    snprintf(hard, sizeof(hard), "%s/link", dir);
    assert_int_equal(link(noted, hard), 0);
    (void)changed_within(a, 0); /* a new link changes the inode's link count: an event */
    assert_int_equal(chmod(hard, 0600), 0);
    assert_int_equal(changed_within(a, 1), 1);
    /* many events in one read, the noted file's last: FID events have any length, so all but
       the first start unaligned (the sanitizer build checks every field is read safely) */
    for (int i = 0; i < 40; i++)
        assert_int_equal(chmod(other, i % 2 ? 0644 : 0600), 0);
    assert_int_equal(chmod(noted, 0640), 0);
    assert_int_equal(changed_within(a, 1), 1);
    /* forgotten: the same chmod says nothing */
    pal_rtp_attr_forget(a);
    assert_int_equal(chmod(noted, 0644), 0);
    assert_int_equal(changed_within(a, 0), 0);
    close(fd);
    close(fd2);
}

static void test_chmod_of_noted_inode_is_seen(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    pal_rtp_attr *a = NULL;
    assert_int_equal(pal_rtp_attr_open(&a), 0);
    char *paths[] = {tmpfs_dir, ext4_dir};
    char why[600] = "";
    assert_int_equal(pal_rtp_attr_watch(a, paths, 2, NULL, 0, why, sizeof(why)), 0);
    check_fs(a, tmpfs_dir);
    check_fs(a, ext4_dir);
    /* a file system not watched: its files must get no mark */
    struct stat st;
    assert_int_equal(stat("/proc/self", &st), 0);
    assert_false(pal_rtp_attr_watches(a, (uint64_t)st.st_dev));
    pal_rtp_attr_close(a);
}

/* The set is bounded: past PAL_RTP_ATTR_KEYS the caller is told to drop every mark, and the
   set then holds the newest key alone. */
static void test_full_set_asks_for_a_flush(void **state)
{
    (void)state;
    pal_rtp_attr *a = NULL;
    if (pal_rtp_attr_open(&a) != 0)
        skip(); /* fanotify needs CAP_SYS_ADMIN */
    for (uint64_t k = 1; k <= PAL_RTP_ATTR_KEYS; k++)
        assert_int_equal(pal_rtp_attr_note(a, k * 7919), 0);
    assert_int_equal(pal_rtp_attr_note(a, 3), 1);
    assert_int_equal(pal_rtp_attr_note(a, 5), 0);
    pal_rtp_attr_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chmod_of_noted_inode_is_seen),
        cmocka_unit_test(test_full_set_asks_for_a_flush),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
