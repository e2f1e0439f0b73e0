/*
 * test_scanjob.c — the scan job (scanjob.h) over a real store and settings on a temp file, a
 * real signed package and a real tree of files, with the slots' scans answered by a fake
 * (pal_slots_new_fn) that returns canned reports by file name: clean, threats of each
 * severity, several findings in one file, unscannable. Checks the counts and lists of the
 * result, the decision order (allowed list, then per-threat override, then the severity's
 * default action from the settings), that remediation is asked for through the interface
 * the job is given exactly once per file with the strongest action, and what the store
 * recorded.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scanjob.h"
#include "sigbuild.h"
#include "slots.h"

#define MAX_CALLS 16

typedef struct fx {
    char dir[512], tree[600], db[600];
    pal_store *st;
    pal_settings *s;
    pal_keyring *keys;
    pal_defs *defs;
    pal_slots *slots;
    pthread_mutex_t lock;
    int n_calls;
    char call_path[MAX_CALLS][700];
    pal_action call_action[MAX_CALLS];
    int scans;     /* fake slot calls */
    int not_batch; /* ... made from a thread that is not SCHED_BATCH */
} fx;

static fx *F;

/* ---- the package --------------------------------------------------------------------- */

static void build_package(fx *f, const char *out)
{
    pal_errbuf err = {{0}};
    char prefix[600], key[700];
    snprintf(prefix, sizeof(prefix), "%s/test", f->dir);
    snprintf(key, sizeof(key), "%s.key", prefix);
    if (pal_sigbuild_keygen(prefix, &err) != 0)
        fail_msg("keygen: %s", err.msg);
    pal_sigbuild *b = NULL;
    assert_int_equal(pal_sigbuild_new(&b), 0);
    static const struct {
        const char *name;
        pal_severity sev;
    } threats[] = {{"Test.Low", PAL_SEV_LOW},
                   {"Test.Moderate", PAL_SEV_MODERATE},
                   {"Test.High", PAL_SEV_HIGH},
                   {"Test.Severe", PAL_SEV_SEVERE},
                   {"Test.Allowed", PAL_SEV_SEVERE}};
    for (size_t i = 0; i < sizeof(threats) / sizeof(*threats); i++)
        assert_int_equal(pal_sigbuild_add_threat(b, threats[i].name, threats[i].sev, "Virus",
                                                 PAL_ACTION_QUARANTINE, &err),
                         0);
    if (pal_sigbuild_add_rules(
            b,
            "rule Never { meta: threat = \"Test.Low\" strings: $a = \"never-present-xyzzy\" "
            "condition: $a }",
            "never", &err) != 0)
        fail_msg("rules: %s", err.msg);
    if (pal_sigbuild_write(b, 1, 1700000000, key, out, &err) != 0)
        fail_msg("write: %s", err.msg);
    pal_sigbuild_free(b);
    char keydir[600], pub[700], dst[700];
    snprintf(keydir, sizeof(keydir), "%s/keys", f->dir);
    assert_int_equal(mkdir(keydir, 0700), 0);
    snprintf(pub, sizeof(pub), "%s.pub", prefix);
    snprintf(dst, sizeof(dst), "%s/test.pub", keydir);
    assert_int_equal(rename(pub, dst), 0);
    assert_int_equal(pal_keyring_new(&f->keys), 0);
    if (pal_keyring_load_dir(f->keys, keydir, &err) != 0)
        fail_msg("keyring: %s", err.msg);
    pal_limits lim;
    pal_limits_default(&lim);
    if (pal_defs_load(out, f->keys, &lim, &f->defs, &err) != 0)
        fail_msg("defs: %s", err.msg);
}

/* ---- the fake slot host: canned reports by file name ------------------------------------ */

static void add_finding(pal_report *rep, const char *chain, const char *threat, pal_severity sev)
{
    pal_finding *n = realloc(rep->findings, (rep->n_findings + 1) * sizeof(*n));
    assert_non_null(n);
    rep->findings = n;
    pal_finding *fd = &n[rep->n_findings++];
    memset(fd, 0, sizeof(*fd));
    fd->chain = strdup(chain);
    fd->threat = strdup(threat);
    fd->category = strdup("Virus");
    fd->matched_by = strdup("yara:Canned");
    fd->severity = sev;
    fd->default_action = PAL_ACTION_QUARANTINE;
    memset(fd->sha256, (int)rep->n_findings, sizeof(fd->sha256));
    fd->size = 1;
    rep->verdict = PAL_VERDICT_THREAT;
}

static int fake_scan(void *ctx, unsigned slot, pal_defs *defs, const pal_source *src,
                     const char *name, const volatile int *cancel, pal_report *rep)
{
    fx *f = ctx;
    (void)slot;
    (void)cancel;
    assert_non_null(defs);
    pal_report_init(rep);
    rep->size = src->size;
    rep->sha256_valid = 1;
    memset(rep->sha256, 0xab, sizeof(rep->sha256));
    int policy = sched_getscheduler(0);
    pthread_mutex_lock(&f->lock);
    f->scans++;
    if (policy != SCHED_BATCH)
        f->not_batch++;
    pthread_mutex_unlock(&f->lock);
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    char chain[800];
    if (strcmp(base, "low.bin") == 0) {
        add_finding(rep, name, "Test.Low", PAL_SEV_LOW);
    } else if (strcmp(base, "moderate.bin") == 0) {
        add_finding(rep, name, "Test.Moderate", PAL_SEV_MODERATE);
    } else if (strcmp(base, "high.bin") == 0) {
        add_finding(rep, name, "Test.High", PAL_SEV_HIGH);
    } else if (strcmp(base, "severe.bin") == 0) {
        add_finding(rep, name, "Test.Severe", PAL_SEV_SEVERE);
    } else if (strcmp(base, "allowed.bin") == 0) {
        add_finding(rep, name, "Test.Allowed", PAL_SEV_SEVERE);
    } else if (strcmp(base, "multi.zip") == 0) {
        /* NoAction (Low), Quarantine (Moderate), Remove (High's override): one Remove */
        snprintf(chain, sizeof(chain), "%s->a", name);
        add_finding(rep, chain, "Test.Low", PAL_SEV_LOW);
        snprintf(chain, sizeof(chain), "%s->b", name);
        add_finding(rep, chain, "Test.Moderate", PAL_SEV_MODERATE);
        snprintf(chain, sizeof(chain), "%s->c", name);
        add_finding(rep, chain, "Test.High", PAL_SEV_HIGH);
    } else if (strncmp(base, "batch-low-", 10) == 0) {
        add_finding(rep, name, "Test.Low", PAL_SEV_LOW);
    } else if (strncmp(base, "batch-bad-", 10) == 0 || strcmp(base, "broken.zip") == 0) {
        rep->verdict = PAL_VERDICT_UNSCANNABLE;
        rep->reason = PAL_UNSCANNABLE_CORRUPT;
        snprintf(chain, sizeof(chain), "%s->inner", name);
        rep->reason_chain = strdup(chain);
        rep->reason_detail = strdup("canned corruption");
        rep->sha256_valid = 0;
    }
    return 0;
}

/* ---- the remediation interface: records each call; severe.bin fails ------------------- */

static int fake_remediate(void *ctx, const pal_remediation_req *req, char **detail)
{
    fx *f = ctx;
    pthread_mutex_lock(&f->lock);
    if (f->n_calls < MAX_CALLS) {
        snprintf(f->call_path[f->n_calls], sizeof(f->call_path[0]), "%s", req->path);
        f->call_action[f->n_calls] = req->action;
    }
    f->n_calls++;
    pthread_mutex_unlock(&f->lock);
    assert_true(req->detection_id > 0);
    assert_non_null(req->scanned);
    const char *base = strrchr(req->path, '/') + 1;
    if (strcmp(base, "severe.bin") == 0) {
        *detail = strdup("canned failure");
        return PAL_EIO;
    }
    *detail = strdup(req->action == PAL_ACTION_REMOVE ? "removed" : "quarantined as item 1");
    return 0;
}

static pal_defs *get_defs(void *ctx)
{
    fx *f = ctx;
    return f->defs ? pal_defs_ref(f->defs) : NULL;
}

/* ---- fixture ------------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[800];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    pthread_mutex_init(&f->lock, NULL);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/pal-scanjob-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/palisade.db", f->dir);
    snprintf(f->tree, sizeof(f->tree), "%s/tree", f->dir);
    assert_int_equal(mkdir(f->tree, 0755), 0);
    pal_errbuf err = {{0}};
    assert_int_equal(pal_store_open(f->db, &f->st, &err), 0);
    pal_settings_opts o = {.force_sandbox = "0"};
    if (pal_settings_new(f->st, &o, &f->s, &err) != 0)
        fail_msg("settings: %s", err.msg);
    char pkg[700];
    snprintf(pkg, sizeof(pkg), "%s/test.sig", f->dir);
    build_package(f, pkg);
    assert_int_equal(pal_slots_new_fn(3, fake_scan, f, &f->slots), 0);
    F = f;
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fx *f = *state;
    pal_slots_free(f->slots);
    pal_defs_unref(f->defs);
    pal_keyring_free(f->keys);
    pal_settings_free(f->s);
    pal_store_close(f->st);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return 0;
}

static int run(fx *f, pal_scan_result *res, pal_errbuf *err)
{
    pal_scanjob_env env = {
        .store = f->st,
        .settings = f->s,
        .slots = f->slots,
        .get_defs = get_defs,
        .defs_ctx = f,
        .remediate = {.fn = fake_remediate, .ctx = f},
    };
    char *paths[] = {f->tree};
    size_t lens[] = {strlen(f->tree)};
    int cancel = 0;
    pal_scanjob_req req = {.type = PAL_SCAN_CUSTOM,
                           .paths = paths,
                           .path_lens = lens,
                           .n_paths = 1,
                           .cancel = &cancel};
    return pal_scanjob_run(&env, &req, res, err);
}

static const pal_scan_threat *find_threat(const pal_scan_result *r, const char *suffix)
{
    for (size_t i = 0; i < r->n_threats; i++) {
        size_t n = strlen(r->threats[i].path), k = strlen(suffix);
        if (n >= k && strcmp(r->threats[i].path + n - k, suffix) == 0)
            return &r->threats[i];
    }
    fail_msg("no threat entry ending in %s", suffix);
    return NULL;
}

static int calls_for(fx *f, const char *base, pal_action *action)
{
    int n = 0;
    for (int i = 0; i < f->n_calls && i < MAX_CALLS; i++) {
        const char *b = strrchr(f->call_path[i], '/') + 1;
        if (strcmp(b, base) == 0) {
            n++;
            *action = f->call_action[i];
        }
    }
    return n;
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_decisions_counts_and_remediation(void **state)
{
    fx *f = *state;
    pal_errbuf err = {{0}};
    static const char *const names[] = {"clean.txt",  "low.bin",     "moderate.bin", "high.bin",
                                        "severe.bin", "allowed.bin", "multi.zip",    "broken.zip"};
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
        write_file(f->tree, names[i], "content");
    /* severity default from the settings: Low is NoAction, Moderate Quarantine (default) */
    json_t *v = json_string("NoAction");
    if (pal_settings_set_preference(f->s, "LowThreatDefaultAction", v, 0, &err) != 0)
        fail_msg("set: %s", err.msg);
    json_decref(v);
    /* the override beats the severity default; the allowed list beats the override */
    assert_int_equal(pal_store_threat_action_set(f->st, "Test.High", PAL_ACTION_REMOVE, 0, &err),
                     0);
    assert_int_equal(pal_store_threat_action_set(f->st, "Test.Allowed", PAL_ACTION_REMOVE, 0, &err),
                     0);
    assert_int_equal(pal_store_allowed_add(f->st, PAL_ALLOW_THREAT_NAME, "Test.Allowed", 0, &err),
                     0);

    pal_scan_result r;
    int rc = run(f, &r, &err);
    if (rc != 0)
        fail_msg("scan: %s", err.msg);
    assert_int_equal(r.outcome, PAL_SCAN_COMPLETED);
    assert_int_equal(r.type, PAL_SCAN_CUSTOM);
    assert_true(r.scan_id > 0);
    assert_int_equal(r.files_scanned, 8);
    assert_int_equal(f->scans, 8);
    /* low, moderate, high, severe, multi's three; allowed.bin is listed but not a threat */
    assert_int_equal(r.threats_found, 7);
    assert_int_equal(r.allowed_count, 1);
    assert_int_equal(r.n_threats, 8);
    assert_int_equal(r.unremediated_count, 1); /* severe.bin: the fake failed it */
    assert_int_equal(r.unscannable_count, 1);
    assert_int_equal(r.n_unscannable, 1);
    assert_string_equal(r.unscannable[0].reason, "corrupt");
    assert_string_equal(r.unscannable[0].detail, "canned corruption");
    assert_non_null(strstr(r.unscannable[0].path, "broken.zip->inner"));
    assert_false(r.fully_examined);
    assert_int_equal(r.n_root_errors, 0);
    assert_null(r.error);

    const pal_scan_threat *t = find_threat(&r, "/low.bin");
    assert_int_equal(t->action, PAL_DET_ACTION_NOACTION);
    assert_int_equal(t->result, PAL_DET_SUCCESS);
    t = find_threat(&r, "/moderate.bin");
    assert_int_equal(t->action, PAL_DET_ACTION_QUARANTINE);
    assert_int_equal(t->result, PAL_DET_SUCCESS);
    assert_string_equal(t->action_detail, "quarantined as item 1");
    t = find_threat(&r, "/high.bin");
    assert_int_equal(t->action, PAL_DET_ACTION_REMOVE);
    t = find_threat(&r, "/allowed.bin");
    assert_int_equal(t->action, PAL_DET_ACTION_ALLOW);
    assert_int_equal(t->result, PAL_DET_SUCCESS);
    t = find_threat(&r, "/severe.bin");
    assert_int_equal(t->action, PAL_DET_ACTION_QUARANTINE);
    assert_int_equal(t->result, PAL_DET_FAILED);
    assert_string_equal(t->action_detail, "canned failure");
    /* in one file, the findings that ask for an action all get the strongest one */
    assert_int_equal(find_threat(&r, "multi.zip->a")->action, PAL_DET_ACTION_NOACTION);
    assert_int_equal(find_threat(&r, "multi.zip->b")->action, PAL_DET_ACTION_REMOVE);
    assert_int_equal(find_threat(&r, "multi.zip->c")->action, PAL_DET_ACTION_REMOVE);
    assert_string_equal(find_threat(&r, "multi.zip->c")->threat, "Test.High");

    /* remediation: once per file that needed an action, with the strongest action */
    pal_action a = PAL_ACTION_NOACTION;
    assert_int_equal(f->n_calls, 4);
    assert_int_equal(calls_for(f, "moderate.bin", &a), 1);
    assert_int_equal(a, PAL_ACTION_QUARANTINE);
    assert_int_equal(calls_for(f, "high.bin", &a), 1);
    assert_int_equal(a, PAL_ACTION_REMOVE);
    assert_int_equal(calls_for(f, "severe.bin", &a), 1);
    assert_int_equal(a, PAL_ACTION_QUARANTINE);
    assert_int_equal(calls_for(f, "multi.zip", &a), 1);
    assert_int_equal(a, PAL_ACTION_REMOVE);
    assert_int_equal(calls_for(f, "low.bin", &a), 0);
    assert_int_equal(calls_for(f, "allowed.bin", &a), 0);

    /* the store recorded every detection with the same outcome, and the scan's totals */
    pal_detection_filter flt = {.scan_id = r.scan_id};
    pal_detection *dets = NULL;
    size_t n = 0;
    assert_int_equal(pal_store_detection_query(f->st, &flt, &dets, &n, &err), 0);
    assert_int_equal(n, 8);
    for (size_t i = 0; i < n; i++)
        if (strstr(dets[i].path, "severe.bin")) {
            assert_int_equal(dets[i].action, PAL_DET_ACTION_QUARANTINE);
            assert_int_equal(dets[i].result, PAL_DET_FAILED);
        }
    pal_detections_free(dets, n);
    pal_scan_rec *recs = NULL;
    assert_int_equal(pal_store_scan_list(f->st, 1, &recs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(recs[0].id, r.scan_id);
    assert_int_equal(recs[0].totals.files, 8);
    assert_int_equal(recs[0].totals.threats, 7);
    assert_int_equal(recs[0].totals.unscannable, 1);
    pal_scan_recs_free(recs, n);
    pal_scan_result_clear(&r);
    assert_int_equal(r.n_threats, 0);
}

static void test_clean_tree_is_fully_examined(void **state)
{
    fx *f = *state;
    write_file(f->tree, "a.txt", "x");
    write_file(f->tree, "b.txt", "y");
    pal_errbuf err = {{0}};
    pal_scan_result r;
    assert_int_equal(run(f, &r, &err), 0);
    assert_int_equal(r.outcome, PAL_SCAN_COMPLETED);
    assert_int_equal(r.files_scanned, 2);
    assert_int_equal(r.threats_found, 0);
    assert_int_equal(r.n_threats, 0);
    assert_int_equal(r.unscannable_count, 0);
    assert_true(r.fully_examined);
    assert_int_equal(f->n_calls, 0);
    /* scanning is batch work: it never preempts the machine's users on wake-up */
    assert_int_equal(f->scans, 2);
    assert_int_equal(f->not_batch, 0);
    pal_scan_result_clear(&r);
}

/* Small files go to the slot in batches (several per hand-off): each file must still get
   its own report, threats and unscannables on the right paths, a large file in between
   scanned alone, every file counted once. */
static void test_batches_keep_each_file_its_report(void **state)
{
    fx *f = *state;
    enum { N = 120 };
    char name[64];
    for (int i = 0; i < N; i++) {
        if (i % 11 == 3)
            snprintf(name, sizeof(name), "batch-low-%03d.bin", i);
        else if (i % 13 == 5)
            snprintf(name, sizeof(name), "batch-bad-%03d.zip", i);
        else
            snprintf(name, sizeof(name), "batch-%03d.txt", i);
        write_file(f->tree, name, "small");
    }
    /* larger than a batch may hold: alone, between the small ones */
    char big_path[700];
    snprintf(big_path, sizeof(big_path), "%s/batch-low-big.bin", f->tree);
    FILE *fp = fopen(big_path, "wb");
    assert_non_null(fp);
    static char chunk[4096];
    for (int i = 0; i < 40; i++)
        assert_int_equal(fwrite(chunk, 1, sizeof(chunk), fp), sizeof(chunk));
    fclose(fp);

    pal_errbuf err = {{0}};
    pal_scan_result r;
    assert_int_equal(run(f, &r, &err), 0);
    assert_int_equal(r.outcome, PAL_SCAN_COMPLETED);
    assert_int_equal(r.files_scanned, N + 1);
    assert_int_equal(f->scans, N + 1);
    size_t lows = 1, bads = 0;
    for (int i = 0; i < N; i++) {
        lows += i % 11 == 3;
        bads += i % 11 != 3 && i % 13 == 5;
    }
    assert_int_equal(r.threats_found, lows);
    assert_int_equal(r.n_threats, lows);
    for (size_t i = 0; i < r.n_threats; i++) {
        const char *b = strrchr(r.threats[i].path, '/') + 1;
        assert_true(strncmp(b, "batch-low-", 10) == 0);
        assert_string_equal(r.threats[i].threat, "Test.Low");
    }
    assert_int_equal(r.unscannable_count, bads);
    assert_int_equal(r.n_unscannable, bads);
    for (size_t i = 0; i < r.n_unscannable; i++) {
        const char *b = strrchr(r.unscannable[i].path, '/') + 1;
        assert_int_equal(strncmp(b, "batch-bad-", 10), 0);
        size_t n = strlen(b);
        assert_true(n > 7 && strcmp(b + n - 7, "->inner") == 0);
        assert_string_equal(r.unscannable[i].reason, "corrupt");
        assert_string_equal(r.unscannable[i].detail, "canned corruption");
    }
    pal_scan_result_clear(&r);
}

static void test_missing_root_and_symlink_root(void **state)
{
    fx *f = *state;
    write_file(f->tree, "a.txt", "x");
    char link[700], missing[700];
    snprintf(link, sizeof(link), "%s/link", f->dir);
    snprintf(missing, sizeof(missing), "%s/missing", f->dir);
    assert_int_equal(symlink(f->tree, link), 0);
    pal_scanjob_env env = {
        .store = f->st, .settings = f->s, .slots = f->slots, .get_defs = get_defs, .defs_ctx = f};
    char *paths[] = {link, missing};
    size_t lens[] = {strlen(link), strlen(missing)};
    pal_scanjob_req req = {
        .type = PAL_SCAN_CUSTOM, .paths = paths, .path_lens = lens, .n_paths = 2};
    pal_errbuf err = {{0}};
    pal_scan_result r;
    assert_int_equal(pal_scanjob_run(&env, &req, &r, &err), 0);
    assert_int_equal(r.files_scanned, 1);
    assert_int_equal(r.n_root_errors, 1);
    assert_string_equal(r.root_errors[0].path, missing);
    assert_int_equal(r.n_resolved_roots, 1);
    assert_string_equal(r.resolved_roots[0].path, link);
    assert_false(r.fully_examined); /* a named root was not there */
    pal_scan_result_clear(&r);
}

static void test_without_remediation_threat_is_unremediated(void **state)
{
    fx *f = *state;
    write_file(f->tree, "moderate.bin", "x");
    pal_scanjob_env env = {
        .store = f->st, .settings = f->s, .slots = f->slots, .get_defs = get_defs, .defs_ctx = f};
    char *paths[] = {f->tree};
    size_t lens[] = {strlen(f->tree)};
    pal_scanjob_req req = {
        .type = PAL_SCAN_CUSTOM, .paths = paths, .path_lens = lens, .n_paths = 1};
    pal_errbuf err = {{0}};
    pal_scan_result r;
    assert_int_equal(pal_scanjob_run(&env, &req, &r, &err), 0);
    assert_int_equal(r.threats_found, 1);
    assert_int_equal(r.unremediated_count, 1);
    assert_int_equal(r.threats[0].result, PAL_DET_FAILED);
    assert_non_null(strstr(r.threats[0].action_detail, "not available"));
    pal_scan_result_clear(&r);
}

static void test_no_package_is_refused(void **state)
{
    fx *f = *state;
    pal_defs_unref(f->defs);
    f->defs = NULL;
    pal_errbuf err = {{0}};
    pal_scan_result r;
    assert_int_equal(run(f, &r, &err), PAL_ESTATE);
    assert_int_equal(r.n_threats, 0);
    pal_scan_rec *recs = NULL;
    size_t n = 9;
    assert_int_equal(pal_store_scan_list(f->st, 1, &recs, &n, &err), 0);
    assert_int_equal(n, 0); /* nothing recorded */
    pal_scan_recs_free(recs, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_decisions_counts_and_remediation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_tree_is_fully_examined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_keep_each_file_its_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_root_and_symlink_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_remediation_threat_is_unremediated, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_package_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
