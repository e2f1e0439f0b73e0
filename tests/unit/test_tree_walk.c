/*
 * test_tree_walk.c — the no-follow tree walker of palisade-sigtool (agent/sigtool/tree_walk.c).
 *
 * Builds small trees in a temporary directory with symlinks (to files, to directories, to
 * outside the tree), a FIFO and a unix socket, and checks what the walker reports, in which
 * order, and that it neither follows a link nor opens a special file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tree_walk.h"

#define MAX_SEEN 64

typedef struct seen {
    char files[MAX_SEEN][512];
    char contents[MAX_SEEN][32];
    size_t n_files;
    char events[MAX_SEEN][512];
    tree_walk_event kinds[MAX_SEEN];
    size_t n_events;
    int stop_after; /* >0: stop the walk after that many files */
    int cloexec_ok; /* every fd had FD_CLOEXEC */
} seen;

static char g_root[64];

static void write_file(const char *rel, const char *text)
{
    char p[2048];
    snprintf(p, sizeof(p), "%s/%s", g_root, rel);
    FILE *f = fopen(p, "we");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void make_dir(const char *rel)
{
    char p[2048];
    snprintf(p, sizeof(p), "%s/%s", g_root, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void make_link(const char *target, const char *rel)
{
    char p[2048];
    snprintf(p, sizeof(p), "%s/%s", g_root, rel);
    assert_int_equal(symlink(target, p), 0);
}

static int on_file(void *ctx, int fd, const char *path, const struct stat *st)
{
    seen *s = ctx;
    assert_true(s->n_files < MAX_SEEN);
    assert_true(S_ISREG(st->st_mode));
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || !(fl & FD_CLOEXEC))
        s->cloexec_ok = 0;
    snprintf(s->files[s->n_files], sizeof(s->files[0]), "%s", path + strlen(g_root));
    ssize_t n = pread(fd, s->contents[s->n_files], sizeof(s->contents[0]) - 1, 0);
    assert_true(n >= 0);
    s->contents[s->n_files][n] = '\0';
    s->n_files++;
    close(fd);
    if (s->stop_after > 0 && (int)s->n_files >= s->stop_after)
        return PAL_ECANCELLED;
    return 0;
}

static int on_event(void *ctx, tree_walk_event ev, const char *path, int errnum)
{
    seen *s = ctx;
    (void)errnum;
    assert_true(s->n_events < MAX_SEEN);
    const char *rel = strncmp(path, g_root, strlen(g_root)) == 0 ? path + strlen(g_root) : path;
    snprintf(s->events[s->n_events], sizeof(s->events[0]), "%s", rel);
    s->kinds[s->n_events] = ev;
    s->n_events++;
    return 0;
}

static const tree_walk_ops g_ops = {.file = on_file, .event = on_event};

static int setup(void **state)
{
    (void)state;
    snprintf(g_root, sizeof(g_root), "/tmp/pal-tree-walk.XXXXXX");
    return mkdtemp(g_root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

static void init_seen(seen *s)
{
    memset(s, 0, sizeof(*s));
    s->cloexec_ok = 1;
}

static void test_walk_skips_links_and_specials(void **state)
{
    (void)state;
    seen s;
    init_seen(&s);

    write_file("b.txt", "bee");
    write_file("a.txt", "ay");
    make_dir("sub");
    write_file("sub/inner.txt", "inner");
    make_dir("outside");
    write_file("outside/secret.txt", "secret");
    make_link("../outside/secret.txt", "sub/link-to-file");
    make_link("../outside", "sub/link-to-dir");
    make_link("/etc", "link-abs");
    char p[512];
    snprintf(p, sizeof(p), "%s/sub/fifo", g_root);
    assert_int_equal(mkfifo(p, 0600), 0);
    int sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(sk >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", g_root);
    assert_int_equal(bind(sk, (struct sockaddr *)&sa, sizeof(sa)), 0);

    char root[80];
    snprintf(root, sizeof(root), "%s/", g_root); /* trailing slash is not doubled */
    pal_errbuf err;
    assert_int_equal(tree_walk(root, &g_ops, &s, &err), 0);
    close(sk);

    /* Byte order of names at each level; outside/ is walked as a real directory. */
    assert_int_equal(s.n_files, 4);
    assert_string_equal(s.files[0], "/a.txt");
    assert_string_equal(s.contents[0], "ay");
    assert_string_equal(s.files[1], "/b.txt");
    assert_string_equal(s.files[2], "/outside/secret.txt");
    assert_string_equal(s.files[3], "/sub/inner.txt");
    assert_string_equal(s.contents[3], "inner");
    assert_true(s.cloexec_ok);

    assert_int_equal(s.n_events, 5);
    assert_string_equal(s.events[0], "/link-abs");
    assert_int_equal(s.kinds[0], TREE_WALK_SYMLINK);
    assert_string_equal(s.events[1], "/sock");
    assert_int_equal(s.kinds[1], TREE_WALK_SPECIAL);
    assert_string_equal(s.events[2], "/sub/fifo");
    assert_int_equal(s.kinds[2], TREE_WALK_SPECIAL);
    assert_string_equal(s.events[3], "/sub/link-to-dir");
    assert_int_equal(s.kinds[3], TREE_WALK_SYMLINK);
    assert_string_equal(s.events[4], "/sub/link-to-file");
    assert_int_equal(s.kinds[4], TREE_WALK_SYMLINK);
}

static void test_root_kinds(void **state)
{
    (void)state;
    seen s;
    pal_errbuf err;
    char p[512];

    write_file("only.txt", "solo");
    make_link("only.txt", "root-link");

    init_seen(&s);
    snprintf(p, sizeof(p), "%s/only.txt", g_root);
    assert_int_equal(tree_walk(p, &g_ops, &s, &err), 0);
    assert_int_equal(s.n_files, 1);
    assert_string_equal(s.contents[0], "solo");

    /* A root that is a symlink is reported, not followed. */
    init_seen(&s);
    snprintf(p, sizeof(p), "%s/root-link", g_root);
    assert_int_equal(tree_walk(p, &g_ops, &s, &err), 0);
    assert_int_equal(s.n_files, 0);
    assert_int_equal(s.n_events, 1);
    assert_int_equal(s.kinds[0], TREE_WALK_SYMLINK);

    init_seen(&s);
    snprintf(p, sizeof(p), "%s/missing", g_root);
    err.msg[0] = '\0';
    assert_int_equal(tree_walk(p, &g_ops, &s, &err), PAL_ENOTFOUND);
    assert_non_null(strstr(err.msg, "missing"));
    assert_int_equal(s.n_files + s.n_events, 0);

    /* A FIFO as root is never opened (opening it would block). */
    init_seen(&s);
    snprintf(p, sizeof(p), "%s/rootfifo", g_root);
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(tree_walk(p, &g_ops, &s, &err), 0);
    assert_int_equal(s.n_events, 1);
    assert_int_equal(s.kinds[0], TREE_WALK_SPECIAL);

    assert_int_equal(tree_walk(NULL, &g_ops, &s, &err), PAL_EINVAL);
}

static void test_callback_stops_walk(void **state)
{
    (void)state;
    seen s;
    pal_errbuf err;

    write_file("1", "one");
    write_file("2", "two");
    write_file("3", "three");
    init_seen(&s);
    s.stop_after = 2;
    assert_int_equal(tree_walk(g_root, &g_ops, &s, &err), PAL_ECANCELLED);
    assert_int_equal(s.n_files, 2);
    assert_string_equal(s.contents[1], "two");
}

static void test_depth_limit(void **state)
{
    (void)state;
    seen s;
    pal_errbuf err;
    char rel[4 * (TREE_WALK_MAX_DEPTH + 2)] = "";
    size_t len = 0;

    /* Directories d/d/d/... one level deeper than the walker enters, with a file at the
       deepest level it still enters and one beyond. */
    for (int i = 0; i <= TREE_WALK_MAX_DEPTH; i++) {
        len += (size_t)snprintf(rel + len, sizeof(rel) - len, "%sd", len ? "/" : "");
        make_dir(rel);
        if (i == TREE_WALK_MAX_DEPTH - 1) {
            char f[sizeof(rel) + 8];
            snprintf(f, sizeof(f), "%s/f", rel);
            write_file(f, "deep");
        }
    }
    char f[sizeof(rel) + 8];
    snprintf(f, sizeof(f), "%s/g", rel);
    write_file(f, "too deep");

    init_seen(&s);
    assert_int_equal(tree_walk(g_root, &g_ops, &s, &err), 0);
    assert_int_equal(s.n_files, 1);
    assert_string_equal(s.contents[0], "deep");
    assert_int_equal(s.n_events, 1);
    assert_int_equal(s.kinds[0], TREE_WALK_TOO_DEEP);
}

static void test_event_names(void **state)
{
    (void)state;
    assert_string_equal(tree_walk_event_name(TREE_WALK_SYMLINK), "symlink");
    assert_string_equal(tree_walk_event_name(TREE_WALK_SPECIAL), "special");
    assert_string_equal(tree_walk_event_name(TREE_WALK_TOO_DEEP), "too-deep");
    assert_string_equal(tree_walk_event_name(TREE_WALK_ERROR), "error");
    assert_string_equal(tree_walk_event_name(TREE_WALK_CHANGED), "changed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_walk_skips_links_and_specials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_stops_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
        cmocka_unit_test(test_event_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
