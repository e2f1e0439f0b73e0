/* test_walker.c — the broker's walker against the hostile trees users can build. */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "scanroot.h"
#include "walker.h"

typedef struct seen {
    char *files[64];
    size_t files_len[64];
    size_t n_files;
    size_t skips[PAL_SKIP__COUNT];
    char *skip_paths[64];
    pal_skip_reason skip_reasons[64];
    size_t n_skip_paths;
    size_t longest_path;
    const char *delete_on_first; /* unlinked when the first file is seen */
    volatile int *cancel_after_first;
} seen;

static int on_file(void *ctx, const pal_walk_file *f)
{
    seen *s = ctx;
    char buf[16];
    /* the fd must really be the file and readable */
    assert_true(pread(f->fd, buf, sizeof(buf), 0) >= 0);
    close(f->fd);
    if (s->n_files < 64) {
        s->files[s->n_files] = malloc(f->path_len + 1);
        memcpy(s->files[s->n_files], f->path, f->path_len + 1);
        s->files_len[s->n_files] = f->path_len;
        s->n_files++;
    }
    if (f->path_len > s->longest_path)
        s->longest_path = f->path_len;
    if (s->delete_on_first) {
        unlink(s->delete_on_first);
        s->delete_on_first = NULL;
    }
    if (s->cancel_after_first)
        *s->cancel_after_first = 1;
    return 0;
}

static void on_skip(void *ctx, const char *path, size_t len, pal_skip_reason r, int errnum)
{
    (void)errnum;
    seen *s = ctx;
    s->skips[r]++;
    if (s->n_skip_paths < 64) {
        s->skip_paths[s->n_skip_paths] = strndup(path, len);
        s->skip_reasons[s->n_skip_paths] = r;
        s->n_skip_paths++;
    }
}

static void seen_free(seen *s)
{
    for (size_t i = 0; i < s->n_files; i++)
        free(s->files[i]);
    for (size_t i = 0; i < s->n_skip_paths; i++)
        free(s->skip_paths[i]);
}

static int has_file(const seen *s, const char *path, size_t len)
{
    for (size_t i = 0; i < s->n_files; i++)
        if (s->files_len[i] == len && memcmp(s->files[i], path, len) == 0)
            return 1;
    return 0;
}

static int skipped_as(const seen *s, const char *path, pal_skip_reason r)
{
    for (size_t i = 0; i < s->n_skip_paths; i++)
        if (strcmp(s->skip_paths[i], path) == 0 && s->skip_reasons[i] == r)
            return 1;
    return 0;
}

static char root[64];

static void put(const char *rel, const char *content)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static char *at(const char *rel)
{
    static char p[8][PATH_MAX];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof(p[k]), "%s/%s", root, rel);
    return p[k];
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/pal-walk-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s'; rm -rf '%s'", root, root);
    return system(cmd) == 0 ? 0 : -1;
}

static void walk(seen *s, const char *start, const pal_walk_options *opt)
{
    pal_walk_options o = {0};
    pal_walk_ops ops = {.on_file = on_file, .on_skip = on_skip, .ctx = s};
    assert_int_equal(pal_walk(start, opt ? opt : &o, &ops), 0);
}

static void test_hostile_tree(void **state)
{
    (void)state;
    assert_int_equal(mkdir(at("d"), 0755), 0);
    put("d/plain.txt", "hello");
    assert_int_equal(mkfifo(at("d/fifo"), 0644), 0);
    assert_int_equal(symlink("loop2", at("d/loop1")), 0);
    assert_int_equal(symlink("loop1", at("d/loop2")), 0);
    assert_int_equal(symlink("/nonexistent/target", at("d/dangling")), 0);
    assert_int_equal(symlink("/etc", at("d/etc-link")), 0);
    assert_int_equal(symlink("plain.txt", at("d/file-link")), 0);
    put("d/new\nline", "x");
    put("d/bad-\xff\xfe-utf8", "x");
    put("d/mode000", "secret");
    assert_int_equal(chmod(at("d/mode000"), 0), 0);

    int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", at("d/sock"));
    assert_int_equal(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)), 0);

    seen s = {0};
    walk(&s, root, NULL);
    close(sfd);

    assert_true(has_file(&s, at("d/plain.txt"), strlen(at("d/plain.txt"))));
    assert_true(has_file(&s, at("d/new\nline"), strlen(at("d/new\nline"))));
    assert_true(has_file(&s, at("d/bad-\xff\xfe-utf8"), strlen(at("d/bad-\xff\xfe-utf8"))));
    assert_true(skipped_as(&s, at("d/fifo"), PAL_SKIP_SPECIAL));
    assert_true(skipped_as(&s, at("d/sock"), PAL_SKIP_SPECIAL));
    assert_true(skipped_as(&s, at("d/loop1"), PAL_SKIP_SYMLINK));
    assert_true(skipped_as(&s, at("d/loop2"), PAL_SKIP_SYMLINK));
    assert_true(skipped_as(&s, at("d/dangling"), PAL_SKIP_SYMLINK));
    assert_true(skipped_as(&s, at("d/etc-link"), PAL_SKIP_SYMLINK));
    assert_true(skipped_as(&s, at("d/file-link"), PAL_SKIP_SYMLINK));
    if (geteuid() == 0) {
        /* root reads mode-000 files: the broker must scan them */
        assert_true(has_file(&s, at("d/mode000"), strlen(at("d/mode000"))));
    } else {
        assert_true(skipped_as(&s, at("d/mode000"), PAL_SKIP_UNREADABLE));
    }
    /* nothing from /etc leaked in through the link */
    for (size_t i = 0; i < s.n_files; i++)
        assert_memory_equal(s.files[i], root, strlen(root));
    seen_free(&s);
}

static void test_deeper_than_path_max(void **state)
{
    (void)state;
    char name[201];
    memset(name, 'n', 200);
    name[200] = '\0';
    int dfd = open(root, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    size_t total = strlen(root);
    while (total < PATH_MAX + 600) {
        assert_int_equal(mkdirat(dfd, name, 0755), 0);
        int next = openat(dfd, name, O_RDONLY | O_DIRECTORY);
        assert_true(next >= 0);
        close(dfd);
        dfd = next;
        total += 201;
    }
    int ffd = openat(dfd, "deep.bin", O_WRONLY | O_CREAT, 0644);
    assert_true(ffd >= 0);
    assert_int_equal(write(ffd, "deep", 4), 4);
    close(ffd);
    close(dfd);

    seen s = {0};
    walk(&s, root, NULL);
    assert_int_equal(s.n_files, 1);
    assert_true(s.longest_path > PATH_MAX);
    assert_memory_equal(s.files[0] + s.files_len[0] - 8, "deep.bin", 8);
    seen_free(&s);

    /* the depth limit is honoured and reported */
    pal_walk_options o = {.max_depth = 3};
    seen t = {0};
    walk(&t, root, &o);
    assert_int_equal(t.n_files, 0);
    assert_int_equal(t.skips[PAL_SKIP_TOO_DEEP], 1);
    seen_free(&t);
}

static void test_exclusion_matching(void **state)
{
    (void)state;
    assert_int_equal(mkdir(at("keep"), 0755), 0);
    assert_int_equal(mkdir(at("skip"), 0755), 0);
    assert_int_equal(mkdir(at("skipnot"), 0755), 0);
    put("keep/a.bin", "a");
    put("keep/b.LOG", "b");
    put("skip/c.bin", "c");
    put("skipnot/d.bin", "d");
    const char *paths[] = {at("skip")};
    const char *exts[] = {".log"};
    pal_walk_options o = {
        .exclude_paths = paths, .n_exclude_paths = 1, .exclude_exts = exts, .n_exclude_exts = 1};
    seen s = {0};
    walk(&s, root, &o);
    assert_int_equal(s.n_files, 2);
    assert_true(has_file(&s, at("keep/a.bin"), strlen(at("keep/a.bin"))));
    assert_true(has_file(&s, at("skipnot/d.bin"), strlen(at("skipnot/d.bin"))));
    assert_true(skipped_as(&s, at("skip"), PAL_SKIP_EXCLUDED_PATH));
    assert_true(skipped_as(&s, at("keep/b.LOG"), PAL_SKIP_EXCLUDED_EXTENSION));
    seen_free(&s);
}

static int excluded_by(const char *entry, const char *path)
{
    const char *paths[] = {entry};
    pal_walk_options o = {.exclude_paths = paths, .n_exclude_paths = 1};
    pal_skip_reason why = PAL_SKIP_SYMLINK;
    int ex = pal_walk_is_excluded(&o, path, strlen(path), 0, &why);
    if (ex)
        assert_int_equal(why, PAL_SKIP_EXCLUDED_PATH);
    return ex;
}

/* ExclusionPath wildcards: '*' and '?' within one component, '[' literal, a match covers
   everything below; a plain entry is a whole-component prefix. */
static void test_exclusion_wildcards(void **state)
{
    (void)state;
    assert_true(excluded_by("/home/*/cache", "/home/alice/cache"));
    assert_true(excluded_by("/home/*/cache", "/home/alice/cache/a/b"));
    assert_true(excluded_by("/home/*/cache", "/home/.x/cache"));
    assert_false(excluded_by("/home/*/cache", "/home/alice/cachex"));
    assert_false(excluded_by("/home/*/cache", "/home/alice/tmp/cache"));
    assert_false(excluded_by("/home/*/cache", "/home/cache"));
    assert_false(excluded_by("/home/*/cache", "/home"));
    assert_false(excluded_by("/home/*/cache", "/homes/a/cache"));
    assert_true(excluded_by("/logs/day?", "/logs/day1/x"));
    assert_false(excluded_by("/logs/day?", "/logs/day12"));
    assert_false(excluded_by("/logs/day?", "/logs/day"));
    assert_true(excluded_by("/a/*b*c", "/a/xbybzc"));
    assert_true(excluded_by("/a/*b*c", "/a/bc"));
    assert_false(excluded_by("/a/*b*c", "/a/bcx"));
    assert_true(excluded_by("/a/**", "/a/x/y"));
    assert_false(excluded_by("/a/**", "/a"));
    assert_true(excluded_by("/*", "/anything"));
    assert_true(excluded_by("/w/a[1]*b", "/w/a[1]*b"));
    assert_true(excluded_by("/w/a[1]*b", "/w/a[1]zzb"));
    assert_false(excluded_by("/w/a[1]*b", "/w/a1b"));
    assert_true(excluded_by("/w/a[1]", "/w/a[1]"));
    assert_false(excluded_by("/w/a[1]", "/w/a1"));
    assert_true(excluded_by("/srv/build", "/srv/build/x"));
    assert_false(excluded_by("/srv/build", "/srv/buildx"));
    assert_true(excluded_by("/", "/etc/passwd"));
}

static void test_vanished_and_root_symlink_and_cancel(void **state)
{
    (void)state;
    put("a-first", "1");
    put("b-second", "2");
    put("c-third", "3");
    seen s = {.delete_on_first = at("b-second")};
    walk(&s, root, NULL);
    assert_int_equal(s.n_files, 2);
    assert_true(skipped_as(&s, at("b-second"), PAL_SKIP_VANISHED));
    seen_free(&s);

    assert_int_equal(symlink(root, at("../pal-walk-rootlink")), 0);
    seen t = {0};
    walk(&t, at("../pal-walk-rootlink"), NULL);
    unlink(at("../pal-walk-rootlink"));
    assert_int_equal(t.n_files, 0);
    assert_int_equal(t.skips[PAL_SKIP_SYMLINK], 1);
    seen_free(&t);

    volatile int cancel = 0;
    seen u = {.cancel_after_first = &cancel};
    pal_walk_options o = {.cancel = &cancel};
    pal_walk_ops ops = {.on_file = on_file, .on_skip = on_skip, .ctx = &u};
    assert_int_equal(pal_walk(root, &o, &ops), PAL_ECANCELLED);
    assert_int_equal(u.n_files, 1);
    seen_free(&u);
}

typedef struct root_seen {
    seen s;
    int calls;
    pal_skip_reason reason;
    int errnum;
} root_seen;

static void on_root_error(void *ctx, const char *path, size_t len, pal_skip_reason r, int errnum)
{
    (void)path;
    (void)len;
    root_seen *rs = ctx; /* seen is the first member: on_file/on_skip take the same ctx */
    rs->calls++;
    rs->reason = r;
    rs->errnum = errnum;
}

static void walk_root(root_seen *rs, const char *start)
{
    pal_walk_options o = {0};
    pal_walk_ops ops = {
        .on_file = on_file, .on_skip = on_skip, .on_root_error = on_root_error, .ctx = rs};
    assert_int_equal(pal_walk(start, &o, &ops), 0);
}

/* A root that cannot be walked goes to on_root_error, never counted as one skip among many;
   what fails below the root is still a skip. */
static void test_root_errors_are_not_skips(void **state)
{
    (void)state;
    root_seen missing = {0};
    walk_root(&missing, at("no/such/root"));
    assert_int_equal(missing.calls, 1);
    assert_int_equal(missing.errnum, ENOENT);
    assert_int_equal(missing.s.n_skip_paths, 0);

    put("file", "x");
    root_seen notdir = {0};
    walk_root(&notdir, at("file/below"));
    assert_int_equal(notdir.calls, 1);
    assert_int_equal(notdir.errnum, ENOTDIR);
    assert_string_equal(pal_scanroot_error_name(notdir.reason, notdir.errnum), "not-found");

    assert_int_equal(symlink(root, at("link")), 0);
    root_seen link = {0};
    walk_root(&link, at("link"));
    assert_int_equal(link.calls, 1);
    assert_int_equal(link.reason, PAL_SKIP_SYMLINK);
    assert_int_equal(link.s.n_files, 0);

    assert_int_equal(mkfifo(at("fifo"), 0644), 0);
    root_seen fifo = {0};
    walk_root(&fifo, at("fifo"));
    assert_int_equal(fifo.calls, 1);
    assert_string_equal(pal_scanroot_error_name(fifo.reason, fifo.errnum),
                        "not-a-file-or-directory");

    /* a dangling link below the root: a skip, and the root itself is fine */
    assert_int_equal(mkdir(at("d"), 0755), 0);
    put("d/a", "x");
    assert_int_equal(symlink("/nonexistent/palisade", at("d/dangling")), 0);
    root_seen d = {0};
    walk_root(&d, at("d"));
    assert_int_equal(d.calls, 0);
    assert_int_equal(d.s.n_files, 1);
    assert_int_equal(d.s.skips[PAL_SKIP_SYMLINK], 1);
    seen_free(&missing.s);
    seen_free(&notdir.s);
    seen_free(&link.s);
    seen_free(&fifo.s);
    seen_free(&d.s);
}

/* A named symlink root is resolved once to its target; trailing slashes do not make lstat
   follow it; what cannot be resolved is an error with its errno. */
static void test_scanroot_resolve(void **state)
{
    (void)state;
    assert_int_equal(mkdir(at("real"), 0755), 0);
    char *real = realpath(at("real"), NULL);
    assert_non_null(real);
    assert_int_equal(symlink(at("real"), at("link")), 0);

    pal_scanroot r;
    assert_int_equal(pal_scanroot_resolve(at("link//"), &r), 0);
    assert_int_equal(r.resolved, 1);
    assert_int_equal(r.errnum, 0);
    assert_string_equal(r.path, real);
    pal_scanroot_free(&r);

    assert_int_equal(pal_scanroot_resolve(at("real/"), &r), 0);
    assert_int_equal(r.resolved, 0);
    assert_string_equal(r.path, at("real"));
    pal_scanroot_free(&r);

    assert_int_equal(pal_scanroot_resolve("/", &r), 0);
    assert_string_equal(r.path, "/");
    pal_scanroot_free(&r);

    assert_int_equal(symlink("/nonexistent/palisade", at("dangling")), 0);
    assert_int_equal(pal_scanroot_resolve(at("dangling"), &r), 0);
    assert_null(r.path);
    assert_int_equal(r.errnum, ENOENT);

    assert_int_equal(symlink("loop-b", at("loop-a")), 0);
    assert_int_equal(symlink("loop-a", at("loop-b")), 0);
    assert_int_equal(pal_scanroot_resolve(at("loop-a"), &r), 0);
    assert_null(r.path);
    assert_int_equal(r.errnum, ELOOP);
    assert_string_equal(pal_scanroot_error_name(r.reason, r.errnum), "symlink-loop");

    assert_int_equal(pal_scanroot_resolve(at("missing"), &r), 0);
    assert_null(r.path);
    assert_string_equal(pal_scanroot_error_name(r.reason, r.errnum), "not-found");
    assert_string_equal(pal_scanroot_error_text(r.reason, r.errnum), "No such file or directory");

    assert_int_equal(pal_scanroot_resolve("relative", &r), PAL_EINVAL);
    free(real);
}

static void test_skip_reason_names(void **state)
{
    (void)state;
    assert_string_equal(pal_skip_reason_name(PAL_SKIP_SYMLINK), "symlink");
    assert_string_equal(pal_skip_reason_name(PAL_SKIP_SPECIAL), "special-file");
    assert_string_equal(pal_skip_reason_name(PAL_SKIP__COUNT), "unknown");
    for (int r = 0; r < PAL_SKIP__COUNT; r++)
        assert_non_null(pal_skip_reason_name((pal_skip_reason)r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostile_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deeper_than_path_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusion_matching, setup, teardown),
        cmocka_unit_test(test_exclusion_wildcards),
        cmocka_unit_test_setup_teardown(test_vanished_and_root_symlink_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_errors_are_not_skips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scanroot_resolve, setup, teardown),
        cmocka_unit_test(test_skip_reason_names),
    };
    return cmocka_run_group_tests_name("walker", tests, NULL, NULL);
}
