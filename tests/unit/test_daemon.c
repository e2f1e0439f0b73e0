/*
 * test_daemon.c — the daemon's state (daemon.h) built as palisaded builds it, over a temp
 * state directory, with a real signed package, the in-process engine (MP_FORCE_USE_SANDBOX=0)
 * and no content process:
 *   - signature updates (updates.h): install, the same version refused unless forced, a
 *     lower version refused unless forced, a tampered package refused, rollback both ways,
 *     and what a restart puts in force;
 *   - handlers through the real control socket with libpalisade, as a client sees them:
 *     status, exclusion.add/list, scan.start on a real file and threats.list.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "palisade.h"
#include "sigbuild.h"
#include "updates.h"

#define MARKER "palisade-unit-test-threat-marker-7f3a"
#define THREAT "Test.Severe"

typedef struct fx {
    char dir[512], state[600], sock[600], policy[600], keys[600];
    char v1[600], v2[600], bad[600];
    pal_daemon *d;
} fx;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void build_package(const char *key, uint64_t version, const char *out)
{
    pal_errbuf err = {{0}};
    pal_sigbuild *b = NULL;
    assert_int_equal(pal_sigbuild_new(&b), 0);
    assert_int_equal(
        pal_sigbuild_add_threat(b, THREAT, PAL_SEV_SEVERE, "Virus", PAL_ACTION_QUARANTINE, &err),
        0);
    if (pal_sigbuild_add_rules(b,
                               "rule Marker { meta: threat = \"" THREAT "\" strings: $a = \"" MARKER
                               "\" condition: $a }",
                               "marker", &err) != 0)
        fail_msg("rules: %s", err.msg);
    if (pal_sigbuild_write(b, version, 1700000000 + version, key, out, &err) != 0)
        fail_msg("write: %s", err.msg);
    pal_sigbuild_free(b);
}

static void start_daemon(fx *f)
{
    pal_daemon_config cfg = {
        .paths = {.state_dir = f->state,
                  .socket_path = f->sock,
                  .policy_dir = f->policy,
                  .trusted_keys_dir = f->keys,
                  .defs_path = f->v1,
                  .cp_binary = "/nonexistent/palisade-cp"},
        .force_sandbox = "0",
        .check_owners = 0,
    };
    pal_errbuf err = {{0}};
    if (pal_daemon_new(&cfg, &f->d, &err) != 0)
        fail_msg("pal_daemon_new: %s", err.msg);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/pal-daemon-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(chmod(f->dir, 0755), 0);
    snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
    snprintf(f->sock, sizeof(f->sock), "%s/run/palisaded.sock", f->dir);
    snprintf(f->policy, sizeof(f->policy), "%s/policy.d", f->dir);
    snprintf(f->keys, sizeof(f->keys), "%s/keys", f->dir);
    assert_int_equal(mkdir(f->policy, 0755), 0);
    assert_int_equal(mkdir(f->keys, 0755), 0);
    char prefix[600], key[700], pub[700], dst[700];
    snprintf(prefix, sizeof(prefix), "%s/signer", f->dir);
    pal_errbuf err = {{0}};
    if (pal_sigbuild_keygen(prefix, &err) != 0)
        fail_msg("keygen: %s", err.msg);
    snprintf(key, sizeof(key), "%s.key", prefix);
    snprintf(pub, sizeof(pub), "%s.pub", prefix);
    snprintf(dst, sizeof(dst), "%s/signer.pub", f->keys);
    assert_int_equal(rename(pub, dst), 0);
    snprintf(f->v1, sizeof(f->v1), "%s/v1.sig", f->dir);
    snprintf(f->v2, sizeof(f->v2), "%s/v2.sig", f->dir);
    snprintf(f->bad, sizeof(f->bad), "%s/bad.sig", f->dir);
    build_package(key, 1, f->v1);
    build_package(key, 2, f->v2);
    /* v2 with one byte changed past the header: the signature no longer holds */
    build_package(key, 3, f->bad);
    int fd = open(f->bad, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, st.st_size - 10), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, st.st_size - 10), 1);
    close(fd);
    start_daemon(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    pal_daemon_free(f->d);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static uint64_t version_in_force(pal_daemon *d)
{
    pal_defs *defs = pal_daemon_defs(d);
    assert_non_null(defs);
    uint64_t v = pal_defs_info(defs)->version;
    pal_defs_unref(defs);
    return v;
}

/* ---- updates ------------------------------------------------------------------------- */

static void test_update_install_refusals_and_rollback(void **state)
{
    fx *f = *state;
    pal_updater *u = pal_daemon_updater(f->d);
    assert_non_null(u);
    assert_int_equal(version_in_force(f->d), 1); /* --defs at start */
    pal_update_info info;
    pal_errbuf err = {{0}};

    assert_int_equal(pal_updater_install(u, f->v2, false, 0, &info, &err), 0);
    assert_int_equal(info.version, 2);
    assert_int_equal(info.previous_version, 1);
    assert_int_equal(version_in_force(f->d), 2);

    /* the same version again: refused without force, nothing changes */
    assert_int_equal(pal_updater_install(u, f->v2, false, 0, &info, &err), PAL_EEXIST);
    assert_non_null(strstr(err.msg, "already in force"));
    /* a lower version: refused without force */
    assert_int_equal(pal_updater_install(u, f->v1, false, 0, &info, &err), PAL_ESTATE);
    assert_int_equal(version_in_force(f->d), 2);
    /* a tampered package: refused with the verifier's reason */
    int rc = pal_updater_install(u, f->bad, true, 0, &info, &err);
    assert_true(rc == PAL_ESIGNATURE || rc == PAL_EFORMAT);
    assert_int_equal(version_in_force(f->d), 2);
    /* a missing one */
    assert_int_equal(pal_updater_install(u, "/nonexistent/x.sig", false, 0, &info, &err),
                     PAL_ENOTFOUND);

    /* rollback: back to 1, and again: back to 2 (the two swap) */
    assert_int_equal(pal_updater_rollback(u, 0, &info, &err), 0);
    assert_int_equal(info.version, 1);
    assert_int_equal(info.previous_version, 2);
    assert_int_equal(version_in_force(f->d), 1);
    assert_int_equal(pal_updater_rollback(u, 0, &info, &err), 0);
    assert_int_equal(version_in_force(f->d), 2);

    /* forced: the same version again is installed */
    assert_int_equal(pal_updater_install(u, f->v2, true, 0, &info, &err), 0);
    assert_int_equal(info.previous_version, 2);

    /* the store's audit saw each change; a restart keeps the installed package (2), not
       the --defs one (1) */
    pal_daemon_free(f->d);
    f->d = NULL;
    start_daemon(f);
    assert_int_equal(version_in_force(f->d), 2);
}

static void test_rollback_without_previous_is_not_found(void **state)
{
    fx *f = *state;
    pal_update_info info;
    pal_errbuf err = {{0}};
    assert_int_equal(pal_updater_rollback(pal_daemon_updater(f->d), 0, &info, &err), PAL_ENOTFOUND);
    assert_int_equal(version_in_force(f->d), 1);
}

static void test_one_daemon_per_state_directory(void **state)
{
    fx *f = *state;
    pal_daemon_config cfg = {
        .paths = {.state_dir = f->state,
                  .socket_path = f->sock,
                  .cp_binary = "/nonexistent/palisade-cp"},
        .force_sandbox = "0",
    };
    pal_daemon *other = NULL;
    pal_errbuf err = {{0}};
    assert_int_equal(pal_daemon_new(&cfg, &other, &err), PAL_EEXIST);
    assert_non_null(strstr(err.msg, "already running"));
    assert_null(other);
}

/* ---- handlers through the socket ----------------------------------------------------- */

static json_t *call(palisade *h, const char *op, const char *args)
{
    char *out = NULL;
    if (palisade_call(h, op, args, &out) != PALISADE_OK)
        fail_msg("%s: %s: %s", op, palisade_error_code(h), palisade_error_string(h));
    json_error_t je;
    json_t *v = json_loads(out, 0, &je);
    palisade_free_string(out);
    assert_non_null(v);
    return v;
}

static palisade *connect_to(fx *f)
{
    pal_errbuf err = {{0}};
    if (pal_daemon_start(f->d, &err) != 0)
        fail_msg("start: %s", err.msg);
    palisade *h = palisade_new();
    assert_non_null(h);
    if (palisade_connect(h, f->sock) != PALISADE_OK)
        fail_msg("connect: %s", palisade_error_string(h));
    return h;
}

static void test_status_matches_the_state(void **state)
{
    fx *f = *state;
    palisade *h = connect_to(f);
    json_t *s = call(h, "status", NULL);
    assert_string_equal(json_string_value(json_object_get(s, "agent_version")), PAL_AGENT_VERSION);
    assert_int_equal(json_integer_value(json_object_get(s, "pid")), getpid());
    assert_int_equal(json_integer_value(json_object_get(s, "signature_version")), 1);
    assert_string_equal(json_string_value(json_object_get(s, "scan_engine")), "InProcess");
    assert_string_equal(json_string_value(json_object_get(s, "content_process_state")), "Disabled");
    assert_int_equal(json_array_size(json_object_get(s, "degraded")), 0);
    assert_true(json_is_null(json_object_get(s, "last_scan")));
    assert_int_equal(json_integer_value(json_object_get(s, "active_scans")), 0);
    /* the socket answers what pal_daemon_status_json says */
    json_t *direct = pal_daemon_status_json(f->d);
    assert_non_null(direct);
    const char *k;
    json_t *v;
    json_object_foreach(direct, k, v)
    {
        assert_non_null(json_object_get(s, k));
    }
    assert_int_equal(json_object_size(direct), json_object_size(s));
    json_decref(direct);
    json_decref(s);
    palisade_close(h);
}

static void test_exclusions_round_trip(void **state)
{
    fx *f = *state;
    palisade *h = connect_to(f);
    json_t *l = call(h, "exclusion.list", NULL);
    assert_int_equal(json_array_size(json_object_get(l, "items")), 0);
    json_decref(l);
    json_decref(call(h, "exclusion.add", "{\"kind\":\"Path\",\"value\":\"/srv/excluded\"}"));
    json_decref(call(h, "exclusion.add", "{\"kind\":\"Extension\",\"value\":\"iso\"}"));
    l = call(h, "exclusion.list", NULL);
    json_t *items = json_object_get(l, "items");
    assert_int_equal(json_array_size(items), 2);
    json_t *p = json_array_get(items, 0);
    assert_string_equal(json_string_value(json_object_get(p, "kind")), "Path");
    assert_string_equal(json_string_value(json_object_get(p, "value")), "/srv/excluded");
    json_decref(l);
    /* a relative path is refused */
    assert_int_equal(
        palisade_call(h, "exclusion.add", "{\"kind\":\"Path\",\"value\":\"rel\"}", NULL),
        PALISADE_FAILED);
    assert_string_equal(palisade_error_code(h), "InvalidValue");
    palisade_close(h);
}

static void test_scan_then_threats_list(void **state)
{
    fx *f = *state;
    char tree[700], bad[800], good[800];
    snprintf(tree, sizeof(tree), "%s/tree", f->dir);
    assert_int_equal(mkdir(tree, 0755), 0);
    snprintf(bad, sizeof(bad), "%s/infected.txt", tree);
    snprintf(good, sizeof(good), "%s/clean.txt", tree);
    FILE *fp = fopen(bad, "w");
    assert_non_null(fp);
    fputs("some text " MARKER " more text\n", fp);
    fclose(fp);
    fp = fopen(good, "w");
    assert_non_null(fp);
    fputs("nothing to see\n", fp);
    fclose(fp);

    palisade *h = connect_to(f);
    char args[1000];
    snprintf(args, sizeof(args), "{\"type\":\"Custom\",\"paths\":[\"%s\"]}", tree);
    json_t *r = call(h, "scan.start", args);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "Completed");
    assert_int_equal(json_integer_value(json_object_get(r, "files_scanned")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "threats_found")), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "unscannable_count")), 0);
    assert_true(json_is_true(json_object_get(r, "fully_examined")));
    json_t *t = json_array_get(json_object_get(r, "threats"), 0);
    assert_string_equal(json_string_value(json_object_get(t, "threat")), THREAT);
    assert_string_equal(json_string_value(json_object_get(t, "path")), bad);
    assert_string_equal(json_string_value(json_object_get(t, "action")), "Quarantine");
    json_int_t det = json_integer_value(json_object_get(t, "detection_id"));
    json_int_t scan_id = json_integer_value(json_object_get(r, "scan_id"));
    json_decref(r);

    json_t *l = call(h, "threats.list", NULL);
    json_t *items = json_object_get(l, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *d = json_array_get(items, 0);
    assert_int_equal(json_integer_value(json_object_get(d, "detection_id")), det);
    assert_int_equal(json_integer_value(json_object_get(d, "scan_id")), scan_id);
    assert_string_equal(json_string_value(json_object_get(d, "file")), bad);
    assert_string_equal(json_string_value(json_object_get(d, "severity")), "Severe");
    json_decref(l);

    json_t *s = call(h, "status", NULL);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(s, "last_scan"), "scan_id")), scan_id);
    json_decref(s);
    palisade_close(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_update_install_refusals_and_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_without_previous_is_not_found, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_one_daemon_per_state_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_matches_the_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusions_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_then_threats_list, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
