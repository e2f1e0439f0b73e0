/*
 * test_store.c — the SQLite store: migrations from empty and from an older schema, refusal
 * (byte for byte untouched) of files that are not databases, corrupt, foreign, newer or
 * unreadable, the CRUD of every table, detection filters, the scan cache keys, and
 * concurrent use from several threads.
 *
 * Every test works on real database files in its own temporary directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"

/* ---- fixture --------------------------------------------------------------------------- */

typedef struct fx {
    char dir[128];
    char db[192];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/pal-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/palisade.db", f->dir);
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
    chmod(f->dir, 0700);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static pal_store *open_ok(const char *path)
{
    pal_store *st = NULL;
    pal_errbuf err = {{0}};
    int rc = pal_store_open(path, &st, &err);
    if (rc != 0)
        fail_msg("pal_store_open(%s) = %d: %s", path, rc, err.msg);
    return st;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    unsigned char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Deterministic filler (xorshift) so failures reproduce. */
static void fill(unsigned char *buf, size_t len, uint32_t seed)
{
    uint32_t x = seed ? seed : 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
}

/* Open must fail with code, leave the file byte-identical, and name the file. */
static void expect_refused(const char *path, int code, const char *needle)
{
    size_t before_len, after_len;
    unsigned char *before = read_file(path, &before_len);
    char wal[300], shm[300];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    snprintf(shm, sizeof(shm), "%s-shm", path);
    int had_wal = exists(wal), had_shm = exists(shm);
    pal_store *st = NULL;
    pal_errbuf err = {{0}};
    int rc = pal_store_open(path, &st, &err);
    if (rc != code)
        fail_msg("open(%s) = %d (%s), want %d", path, rc, err.msg, code);
    assert_null(st);
    assert_non_null(strstr(err.msg, path));
    if (needle && !strstr(err.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
    unsigned char *after = read_file(path, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    /* not even journal files appear next to a refused file */
    assert_int_equal(exists(wal), had_wal);
    assert_int_equal(exists(shm), had_shm);
    free(before);
    free(after);
}

static int64_t raw_pragma(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static pal_detection sample_detection(const char *threat, pal_severity sev, const char *path,
                                      int64_t at)
{
    pal_detection d = {0};
    d.threat_name = (char *)(uintptr_t)threat;
    d.severity = sev;
    d.category = (char *)(uintptr_t) "Virus";
    d.path = (char *)(uintptr_t)path;
    d.detected_at = at;
    d.size = 68;
    d.source = PAL_DET_ON_DEMAND;
    d.matched_by = (char *)(uintptr_t) "sha256";
    d.sig_version = 7;
    memcpy(d.sha256, "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", 65);
    return d;
}

/* ---- opening and migrations ------------------------------------------------------------ */

static void test_create_from_empty(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    assert_int_equal(pal_store_schema_version(st), pal_store_latest_version());
    assert_true(pal_store_latest_version() >= 2);
    assert_string_equal(pal_store_path(st), f->db);
    pal_store_close(st);

    struct stat sb;
    assert_int_equal(stat(f->db, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(raw_pragma(f->db, "PRAGMA user_version"), pal_store_latest_version());
    assert_int_equal(raw_pragma(f->db, "PRAGMA application_id"), 0x50414C53);
    assert_int_equal(raw_pragma(f->db, "SELECT count(*) FROM sqlite_schema WHERE type='table' "
                                       "AND name IN ('scans','detections','preferences',"
                                       "'exclusions','allowed_threats','audit','scan_cache',"
                                       "'meta','quarantine','file_ops','threat_actions',"
                                       "'cp_events')"),
                     12);
    /* the mode really is WAL */
    sqlite3 *db;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);

    /* reopening an up-to-date database changes nothing and works */
    st = open_ok(f->db);
    assert_int_equal(pal_store_schema_version(st), pal_store_latest_version());
    pal_store_close(st);

    /* a zero-length file (a crash right after creation) is a new database */
    char empty[256];
    snprintf(empty, sizeof(empty), "%s/empty.db", f->dir);
    write_file(empty, "", 0);
    st = open_ok(empty);
    pal_store_close(st);
}

static void test_embedded_migrations(void **state)
{
    (void)state;
    assert_int_equal(pal_store_migrations_count, (size_t)pal_store_latest_version());
    for (size_t i = 0; i < pal_store_migrations_count; i++) {
        assert_int_equal(pal_store_migrations[i].version, (int)i + 1);
        assert_true(strlen(pal_store_migrations[i].sql) > 10);
        assert_null(strstr(pal_store_migrations[i].sql, "COMMIT"));
    }
    assert_string_equal(pal_store_migrations[0].name, "initial");
}

static void test_upgrade_from_v1(void **state)
{
    fx *f = *state;
    pal_store *st = NULL;
    pal_errbuf err = {{0}};
    assert_int_equal(pal_store_open_at_version(f->db, 1, &st, &err), 0);
    assert_int_equal(pal_store_schema_version(st), 1);
    assert_int_equal(raw_pragma(f->db, "PRAGMA user_version"), 1);

    const char *paths[] = {"/srv", "/home"};
    int64_t scan;
    assert_int_equal(pal_store_scan_begin(st, PAL_SCAN_CUSTOM, paths, 2, 1000, 0, &scan, &err), 0);
    pal_detection d =
        sample_detection("Virus:DOS/EICAR_Test_File", PAL_SEV_SEVERE, "/srv/eicar.com", 2000);
    d.scan_id = scan;
    int64_t det;
    assert_int_equal(pal_store_detection_insert(st, &d, &det, &err), 0);
    assert_int_equal(pal_store_pref_set(st, "ScanThreads", "4", 1000, &err), 0);
    assert_int_equal(pal_store_exclusion_add(st, PAL_EXCL_PATH, "/srv/build", 0, &err), 0);
    pal_cache_key k = {1, 2, 3, 4, 5};
    assert_int_equal(pal_store_cache_insert(st, &k, 7, &err), 0);
    /* the remediation tables do not exist yet at version 1 */
    pal_quarantine_item *qs;
    size_t nq;
    assert_int_not_equal(pal_store_quarantine_list(st, 0, &qs, &nq, &err), 0);
    pal_store_close(st);

    /* the current binary upgrades it and keeps everything */
    st = open_ok(f->db);
    assert_int_equal(pal_store_schema_version(st), pal_store_latest_version());
    assert_int_equal(raw_pragma(f->db, "PRAGMA user_version"), pal_store_latest_version());
    pal_scan_rec r;
    assert_int_equal(pal_store_scan_get(st, scan, &r, &err), 0);
    assert_int_equal(r.n_paths, 2);
    assert_string_equal(r.paths[1], "/home");
    pal_scan_rec_clear(&r);
    pal_detection got;
    assert_int_equal(pal_store_detection_get(st, det, &got, &err), 0);
    assert_string_equal(got.threat_name, "Virus:DOS/EICAR_Test_File");
    assert_int_equal(got.scan_id, scan);
    pal_detection_clear(&got);
    pal_pref *prefs;
    size_t np;
    assert_int_equal(pal_store_pref_get_all(st, &prefs, &np, &err), 0);
    assert_int_equal(np, 1);
    assert_string_equal(prefs[0].value_json, "4");
    pal_prefs_free(prefs, np);
    /* except the scan cache: its entries were made by metadata alone (0003_cache_trust) */
    int hit = 1;
    assert_int_equal(pal_store_cache_lookup(st, &k, 7, &hit, &err), 0);
    assert_int_equal(hit, 0);
    /* and the new tables work, referencing old rows */
    pal_quarantine_item q = {0};
    q.detection_id = det;
    q.threat_name = (char *)(uintptr_t) "Virus:DOS/EICAR_Test_File";
    q.original_path = (char *)(uintptr_t) "/srv/eicar.com";
    q.storage_name = (char *)(uintptr_t) "q1";
    memcpy(q.sha256, d.sha256, 65);
    int64_t qid;
    assert_int_equal(pal_store_quarantine_insert(st, &q, &qid, &err), 0);
    pal_store_close(st);

    /* asking an old binary to open the upgraded file is refused untouched */
    size_t len;
    unsigned char *before = read_file(f->db, &len);
    assert_int_equal(pal_store_open_at_version(f->db, 1, &st, &err), PAL_EVERSION);
    size_t len2;
    unsigned char *after = read_file(f->db, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(before, after, len);
    free(before);
    free(after);
}

static void copy_file(const char *from, const char *to)
{
    size_t len;
    unsigned char *data = read_file(from, &len);
    write_file(to, data, len);
    free(data);
}

/* A daemon killed before SQLite checkpointed its WAL: the copy of the files taken while
   the store is open is what the disk holds after the crash. */
static void test_open_after_crash(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    assert_int_equal(pal_store_meta_set(st, "signature_version", "42", &err), 0);
    char wal[256], copy[200], copy_wal[256];
    snprintf(wal, sizeof(wal), "%s-wal", f->db);
    snprintf(copy, sizeof(copy), "%s/crashed.db", f->dir);
    snprintf(copy_wal, sizeof(copy_wal), "%s-wal", copy);
    assert_true(exists(wal));
    copy_file(f->db, copy);
    copy_file(wal, copy_wal); /* no -shm: it does not survive a reboot either */
    pal_store_close(st);

    st = open_ok(copy);
    char *v = NULL;
    assert_int_equal(pal_store_meta_get(st, "signature_version", &v, &err), 0);
    assert_string_equal(v, "42");
    free(v);
    assert_int_equal(pal_store_schema_version(st), pal_store_latest_version());
    pal_store_close(st);
}

static void test_refuse_random_bytes(void **state)
{
    fx *f = *state;
    unsigned char junk[8192];
    fill(junk, sizeof(junk), 12345);
    write_file(f->db, junk, sizeof(junk));
    expect_refused(f->db, PAL_EFORMAT, "not a SQLite database");

    /* a file too short for the header */
    write_file(f->db, "SQLite", 6);
    expect_refused(f->db, PAL_EFORMAT, "not a SQLite database");
}

static void test_refuse_header_then_garbage(void **state)
{
    fx *f = *state;
    unsigned char junk[4096];
    fill(junk, sizeof(junk), 777);
    memcpy(junk, "SQLite format 3", 16);
    write_file(f->db, junk, sizeof(junk));
    expect_refused(f->db, PAL_EFORMAT, NULL);
}

static void test_refuse_corrupt_pages(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    char path[256];
    /* enough rows for a few dozen pages */
    for (int i = 0; i < 400; i++) {
        snprintf(path, sizeof(path), "/srv/data/some/long/directory/name/file-%04d.bin", i);
        pal_detection d = sample_detection("Trojan:Linux/Test.A", PAL_SEV_HIGH, path, 1000 + i);
        int64_t id;
        assert_int_equal(pal_store_detection_insert(st, &d, &id, &err), 0);
    }
    pal_store_close(st);
    char wal[256];
    snprintf(wal, sizeof(wal), "%s-wal", f->db);
    assert_false(exists(wal)); /* checkpointed at close: every page is in the main file */

    size_t len;
    unsigned char *db = read_file(f->db, &len);
    size_t page = ((size_t)db[16] << 8) | db[17];
    if (page == 1)
        page = 65536;
    size_t pages = len / page;
    assert_true(pages >= 8);
    /* overwrite a whole page in the middle */
    fill(db + (pages / 2) * page, page, 99);
    write_file(f->db, db, len);
    free(db);
    expect_refused(f->db, PAL_EFORMAT, "corrupt");
}

static void test_refuse_newer_schema(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_store_close(st);
    raw_exec(f->db, "PRAGMA user_version = 999");
    char msg[256];
    snprintf(msg, sizeof(msg), "has schema version 999, this palisaded knows up to %d",
             pal_store_latest_version());
    expect_refused(f->db, PAL_EVERSION, msg);
    assert_int_equal(raw_pragma(f->db, "PRAGMA user_version"), 999);
}

static void test_refuse_foreign_database(void **state)
{
    fx *f = *state;
    raw_exec(f->db, "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')");
    expect_refused(f->db, PAL_EFORMAT, "not a Palisade database");

    char other[256];
    snprintf(other, sizeof(other), "%s/other.db", f->dir);
    raw_exec(other, "PRAGMA application_id = 42; CREATE TABLE t (x)");
    expect_refused(other, PAL_EFORMAT, "another application");
}

static void test_refuse_unreadable(void **state)
{
    fx *f = *state;
    pal_store *st = NULL;
    pal_errbuf err = {{0}};

    /* a directory where the database should be */
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/adir", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(pal_store_open(dir, &st, &err), PAL_EIO);
    assert_non_null(strstr(err.msg, dir));
    assert_non_null(strstr(err.msg, "directory"));

    /* a missing parent directory */
    char missing[256];
    snprintf(missing, sizeof(missing), "%s/nope/palisade.db", f->dir);
    assert_int_equal(pal_store_open(missing, &st, &err), PAL_EIO);
    assert_non_null(strstr(err.msg, missing));
    assert_null(st);

    /* a file without read permission: root reads anything, so as root the open runs in a
       child that has dropped to nobody */
    st = open_ok(f->db);
    pal_store_close(st);
    assert_int_equal(chmod(f->db, 0), 0);
    assert_int_equal(chmod(f->dir, 0755), 0);
    if (geteuid() != 0) {
        assert_int_equal(pal_store_open(f->db, &st, &err), PAL_EIO);
        assert_non_null(strstr(err.msg, "Permission denied"));
        return;
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        gid_t nobody_gid = 65534;
        if (setgroups(1, &nobody_gid) != 0 || setresgid(65534, 65534, 65534) != 0 ||
            setresuid(65534, 65534, 65534) != 0)
            _exit(3);
        pal_store *cst = NULL;
        pal_errbuf cerr = {{0}};
        int rc = pal_store_open(f->db, &cst, &cerr);
        _exit(rc == PAL_EIO && strstr(cerr.msg, f->db) && strstr(cerr.msg, "Permission denied")
                  ? 0
                  : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- tables ---------------------------------------------------------------------------- */

static void test_meta(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    char *v = NULL;
    assert_int_equal(pal_store_meta_get(st, "signature_version", &v, &err), PAL_ENOTFOUND);
    assert_int_equal(pal_store_meta_set(st, "signature_version", "41", &err), 0);
    assert_int_equal(pal_store_meta_set(st, "signature_version", "42", &err), 0);
    assert_int_equal(pal_store_meta_get(st, "signature_version", &v, &err), 0);
    assert_string_equal(v, "42");
    free(v);
    assert_int_equal(pal_store_meta_delete(st, "signature_version", &err), 0);
    assert_int_equal(pal_store_meta_get(st, "signature_version", &v, &err), PAL_ENOTFOUND);
    pal_store_close(st);
}

static void test_scans(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    const char *paths[] = {"/", "/tmp/odd \"name\""};
    int64_t a, b, c;
    assert_int_equal(pal_store_scan_begin(st, PAL_SCAN_FULL, paths, 1, 1000, 0, &a, &err), 0);
    assert_int_equal(pal_store_scan_begin(st, PAL_SCAN_CUSTOM, paths, 2, 2000, 1000, &b, &err), 0);
    assert_int_equal(
        pal_store_scan_begin(st, PAL_SCAN_QUICK, NULL, 0, 3000, PAL_UID_DAEMON, &c, &err), 0);
    assert_int_equal(pal_store_scan_begin(st, (pal_scan_type)9, NULL, 0, 0, 0, &c, &err),
                     PAL_EINVAL);

    pal_scan_totals t = {.files = 10, .bytes = 1ULL << 40, .threats = 2, .unscannable = 1};
    assert_int_equal(pal_store_scan_finish(st, a, &t, PAL_SCAN_COMPLETED, NULL, 1500, &err), 0);
    assert_int_equal(pal_store_scan_finish(st, a, &t, PAL_SCAN_FAILED, "x", 0, &err), PAL_ESTATE);
    assert_int_equal(pal_store_scan_finish(st, 9999, &t, PAL_SCAN_FAILED, "x", 0, &err),
                     PAL_ENOTFOUND);
    assert_int_equal(pal_store_scan_finish(st, b, &t, PAL_SCAN_RUNNING, NULL, 0, &err), PAL_EINVAL);

    pal_scan_rec r;
    assert_int_equal(pal_store_scan_get(st, a, &r, &err), 0);
    assert_int_equal(r.type, PAL_SCAN_FULL);
    assert_int_equal(r.outcome, PAL_SCAN_COMPLETED);
    assert_int_equal(r.started_at, 1000);
    assert_int_equal(r.ended_at, 1500);
    assert_true(r.totals.bytes == 1ULL << 40);
    assert_int_equal(r.totals.files, 10);
    assert_int_equal(r.started_by, 0);
    pal_scan_rec_clear(&r);
    assert_int_equal(pal_store_scan_get(st, b, &r, &err), 0);
    assert_int_equal(r.n_paths, 2);
    assert_string_equal(r.paths[1], "/tmp/odd \"name\"");
    assert_int_equal(r.outcome, PAL_SCAN_RUNNING);
    assert_int_equal(r.started_by, 1000);
    pal_scan_rec_clear(&r);
    assert_int_equal(pal_store_scan_get(st, 4242, &r, &err), PAL_ENOTFOUND);

    pal_scan_rec *list;
    size_t n;
    assert_int_equal(pal_store_scan_list(st, 2, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, c); /* newest first */
    assert_int_equal(list[0].started_by, PAL_UID_DAEMON);
    assert_int_equal(list[1].id, b);
    pal_scan_recs_free(list, n);

    /* a restart finds b and c still Running: they were interrupted */
    size_t closed = 0;
    assert_int_equal(pal_store_scan_mark_interrupted(st, &closed, &err), 0);
    assert_int_equal(closed, 2);
    assert_int_equal(pal_store_scan_get(st, c, &r, &err), 0);
    assert_int_equal(r.outcome, PAL_SCAN_FAILED);
    assert_non_null(strstr(r.error, "interrupted"));
    assert_true(r.ended_at > 0);
    pal_scan_rec_clear(&r);
    pal_store_close(st);

    pal_scan_type ty;
    assert_int_equal(pal_scan_type_parse("full", &ty), 0);
    assert_int_equal(ty, PAL_SCAN_FULL);
    assert_int_equal(pal_scan_type_parse("deep", &ty), PAL_EINVAL);
}

static void test_detections_crud(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    int64_t scan, id;
    assert_int_equal(pal_store_scan_begin(st, PAL_SCAN_QUICK, NULL, 0, 0, 0, &scan, &err), 0);
    pal_detection d =
        sample_detection("Virus:DOS/EICAR_Test_File", PAL_SEV_SEVERE, "/srv/a.zip", 5000);
    d.chain = (char *)(uintptr_t) "/srv/a.zip->docs/b.tar.gz->eicar.com";
    d.scan_id = scan;
    d.action = PAL_DET_ACTION_QUARANTINE;
    memcpy(d.sha256, "275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F", 65);
    assert_int_equal(pal_store_detection_insert(st, &d, &id, &err), 0);

    pal_detection g;
    assert_int_equal(pal_store_detection_get(st, id, &g, &err), 0);
    assert_string_equal(g.chain, "/srv/a.zip->docs/b.tar.gz->eicar.com");
    assert_string_equal(g.path, "/srv/a.zip");
    assert_string_equal(g.sha256,
                        "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f");
    assert_int_equal(g.severity, PAL_SEV_SEVERE);
    assert_int_equal(g.action, PAL_DET_ACTION_QUARANTINE);
    assert_int_equal(g.result, PAL_DET_PENDING);
    assert_int_equal(g.action_at, 0);
    assert_int_equal(g.sig_version, 7);
    assert_string_equal(g.matched_by, "sha256");
    pal_detection_clear(&g);

    assert_int_equal(pal_store_detection_set_action(st, id, PAL_DET_ACTION_QUARANTINE,
                                                    PAL_DET_FAILED, "EBUSY", 6000, &err),
                     0);
    assert_int_equal(pal_store_detection_get(st, id, &g, &err), 0);
    assert_int_equal(g.result, PAL_DET_FAILED);
    assert_string_equal(g.action_detail, "EBUSY");
    assert_int_equal(g.action_at, 6000);
    pal_detection_clear(&g);
    assert_int_equal(pal_store_detection_set_action(st, 777, PAL_DET_ACTION_REMOVE, PAL_DET_SUCCESS,
                                                    NULL, 0, &err),
                     PAL_ENOTFOUND);

    /* without a chain, the chain is the path; an unknown hash stays empty */
    pal_detection p = sample_detection("Trojan:Linux/X", PAL_SEV_LOW, "/bin/x", 0);
    p.sha256[0] = '\0';
    int64_t id2;
    assert_int_equal(pal_store_detection_insert(st, &p, &id2, &err), 0);
    assert_int_equal(pal_store_detection_get(st, id2, &g, &err), 0);
    assert_string_equal(g.chain, "/bin/x");
    assert_string_equal(g.sha256, "");
    assert_int_equal(g.action, PAL_DET_ACTION_NONE);
    assert_int_equal(g.scan_id, 0);
    assert_true(g.detected_at > 0); /* 0 = now */
    pal_detection_clear(&g);

    /* bad input */
    p.severity = (pal_severity)9;
    assert_int_equal(pal_store_detection_insert(st, &p, &id2, &err), PAL_EINVAL);
    p.severity = PAL_SEV_LOW;
    memcpy(p.sha256, "xyz", 4);
    assert_int_equal(pal_store_detection_insert(st, &p, &id2, &err), PAL_EINVAL);
    p.sha256[0] = '\0';
    p.scan_id = 123456; /* no such scan */
    assert_int_equal(pal_store_detection_insert(st, &p, &id2, &err), PAL_EINVAL);

    /* a hostile member name of any length is kept up to the limit, not refused */
    size_t big = PAL_STORE_MAX_TEXT * 2;
    char *chain = malloc(big + 1);
    assert_non_null(chain);
    memset(chain, 'A', big);
    chain[big] = '\0';
    p.scan_id = 0;
    p.chain = chain;
    assert_int_equal(pal_store_detection_insert(st, &p, &id2, &err), 0);
    assert_int_equal(pal_store_detection_get(st, id2, &g, &err), 0);
    assert_int_equal(strlen(g.chain), PAL_STORE_MAX_TEXT);
    pal_detection_clear(&g);
    free(chain);
    pal_store_close(st);
}

static void test_detection_query_filters(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    int64_t s1, s2, id;
    assert_int_equal(pal_store_scan_begin(st, PAL_SCAN_FULL, NULL, 0, 0, 0, &s1, &err), 0);
    assert_int_equal(pal_store_scan_begin(st, PAL_SCAN_FULL, NULL, 0, 0, 0, &s2, &err), 0);
    struct {
        const char *threat;
        pal_severity sev;
        const char *path;
        const char *chain;
        int64_t at;
        int64_t scan;
    } rows[] = {
        {"Virus:DOS/EICAR_Test_File", PAL_SEV_SEVERE, "/srv/a.zip",
         "/srv/a.zip->docs/b.tar.gz->eicar.com", 100, s1},
        {"Trojan:Linux/Mirai.A", PAL_SEV_HIGH, "/home/u/bot", NULL, 200, s1},
        {"Trojan:Linux/Mirai.B", PAL_SEV_HIGH, "/home/u/[x]/bot", NULL, 300, s2},
        {"PUA:Linux/Miner_100%", PAL_SEV_LOW, "/opt/miner", NULL, 400, 0},
        {"PUA:Linux/MinerX100x", PAL_SEV_MODERATE, "/opt/minerx", NULL, 500, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        pal_detection d = sample_detection(rows[i].threat, rows[i].sev, rows[i].path, rows[i].at);
        d.chain = (char *)(uintptr_t)rows[i].chain;
        d.scan_id = rows[i].scan;
        assert_int_equal(pal_store_detection_insert(st, &d, &id, &err), 0);
    }

    struct {
        pal_detection_filter f;
        size_t n;
        int64_t first_at;
    } cases[] = {
        {{0}, 5, 500},                                /* all, newest first */
        {{.since = 200}, 4, 500},                     /* since is inclusive */
        {{.since = 200, .until = 400}, 2, 300},       /* until is exclusive */
        {{.threat = "trojan:linux/mirai.*"}, 2, 300}, /* case-insensitive */
        {{.threat = "Trojan:Linux/Mirai.?"}, 2, 300},
        {{.threat = "Mirai"}, 0, 0},         /* no implicit substring */
        {{.threat = "*Miner_100%"}, 1, 400}, /* % and _ are literal */
        {{.threat = "PUA:Linux/Miner_100*"}, 1, 400},
        {{.severity = PAL_SEV_HIGH}, 2, 300},
        {{.path = "/home/*"}, 2, 300},
        {{.path = "/home/u/[x]/*"}, 1, 300}, /* [ is literal */
        {{.path = "*eicar.com"}, 1, 100},    /* matches inside the chain */
        {{.path = "/srv/a.zip"}, 1, 100},    /* the file path itself */
        {{.path = "/HOME/*"}, 0, 0},         /* paths are case-sensitive */
        {{.scan_id = 0, .limit = 2}, 2, 500},
        {{.scan_id = s1}, 2, 200},
        {{.scan_id = s2 + 100}, 0, 0},
        {{.severity = PAL_SEV_HIGH, .path = "/home/u/bot"}, 1, 200},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pal_detection *res;
        size_t n;
        assert_int_equal(pal_store_detection_query(st, &cases[i].f, &res, &n, &err), 0);
        if (n != cases[i].n)
            fail_msg("case %zu: %zu rows, want %zu", i, n, cases[i].n);
        if (n)
            assert_int_equal(res[0].detected_at, cases[i].first_at);
        for (size_t k = 1; k < n; k++)
            assert_true(res[k - 1].detected_at >= res[k].detected_at);
        pal_detections_free(res, n);
    }
    pal_detection *res;
    size_t n;
    assert_int_equal(pal_store_detection_query(st, NULL, &res, &n, &err), 0);
    assert_int_equal(n, 5);
    pal_detections_free(res, n);
    pal_detection_filter bad = {.severity = (pal_severity)7};
    assert_int_equal(pal_store_detection_query(st, &bad, &res, &n, &err), PAL_EINVAL);
    pal_store_close(st);
}

static void test_preferences_and_audit(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    assert_int_equal(pal_store_pref_set(st, "ScanThreads", "4", 1000, &err), 0);
    assert_int_equal(pal_store_pref_set(st, "ScanThreads", "8", 1001, &err), 0);
    assert_int_equal(pal_store_pref_set(st, "SandboxMode", "\"Disabled\"", 0, &err), 0);
    assert_int_equal(pal_store_pref_set(st, "Bad", "{not json", 0, &err), PAL_EINVAL);

    pal_pref *p;
    size_t n;
    assert_int_equal(pal_store_pref_get_all(st, &p, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(p[0].name, "SandboxMode"); /* by name */
    assert_string_equal(p[1].value_json, "8");
    assert_int_equal(p[1].updated_by, 1001);
    pal_prefs_free(p, n);

    assert_int_equal(pal_store_pref_delete(st, "SandboxMode", 5, &err), 0);
    assert_int_equal(pal_store_pref_delete(st, "SandboxMode", 5, &err), PAL_ENOTFOUND);

    assert_int_equal(pal_store_audit_insert(st, PAL_UID_DAEMON, "RestoreQuarantineItem", "12", NULL,
                                            "/srv/x", &err),
                     0);
    pal_audit_rec *a;
    assert_int_equal(pal_store_audit_list(st, 0, 0, &a, &n, &err), 0);
    assert_int_equal(n, 5);
    /* newest first */
    assert_string_equal(a[0].action, "RestoreQuarantineItem");
    assert_int_equal(a[0].uid, PAL_UID_DAEMON);
    assert_string_equal(a[1].action, "ResetPreference");
    assert_int_equal(a[1].uid, 5);
    assert_string_equal(a[1].old_value, "\"Disabled\"");
    assert_null(a[1].new_value);
    assert_string_equal(a[3].action, "SetPreference");
    assert_string_equal(a[3].target, "ScanThreads");
    assert_int_equal(a[3].uid, 1001);
    assert_string_equal(a[3].old_value, "4");
    assert_string_equal(a[3].new_value, "8");
    assert_null(a[4].old_value);
    assert_true(a[0].at > 0);
    pal_audit_recs_free(a, n);
    assert_int_equal(pal_store_audit_list(st, 0, 2, &a, &n, &err), 0);
    assert_int_equal(n, 2);
    pal_audit_recs_free(a, n);
    assert_int_equal(pal_store_audit_list(st, INT64_MAX, 0, &a, &n, &err), 0);
    assert_int_equal(n, 0);
    pal_audit_recs_free(a, n);
    pal_store_close(st);
}

static void test_exclusions(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    assert_int_equal(pal_store_exclusion_add(st, PAL_EXCL_PATH, "/srv/build", 1000, &err), 0);
    assert_int_equal(pal_store_exclusion_add(st, PAL_EXCL_PATH, "/srv/build", 1000, &err),
                     PAL_EEXIST);
    assert_non_null(strstr(err.msg, "/srv/build"));
    assert_int_equal(pal_store_exclusion_add(st, PAL_EXCL_EXTENSION, "log", 1000, &err), 0);
    assert_int_equal(pal_store_exclusion_add(st, PAL_EXCL_PATH, "", 1000, &err), PAL_EINVAL);

    pal_exclusion *e;
    size_t n;
    assert_int_equal(pal_store_exclusion_list(st, 0, &e, &n, &err), 0);
    assert_int_equal(n, 2);
    pal_exclusions_free(e, n);
    assert_int_equal(pal_store_exclusion_list(st, PAL_EXCL_EXTENSION, &e, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].value, "log");
    assert_int_equal(e[0].kind, PAL_EXCL_EXTENSION);
    assert_int_equal(e[0].added_by, 1000);
    pal_exclusions_free(e, n);

    const char *vals[] = {"/a", "/b", "/a"};
    assert_int_equal(pal_store_exclusion_replace(st, PAL_EXCL_PATH, vals, 3, 7, &err), 0);
    assert_int_equal(pal_store_exclusion_list(st, PAL_EXCL_PATH, &e, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(e[0].value, "/a");
    assert_string_equal(e[1].value, "/b");
    pal_exclusions_free(e, n);

    assert_int_equal(pal_store_exclusion_remove(st, PAL_EXCL_PATH, "/a", 8, &err), 0);
    assert_int_equal(pal_store_exclusion_remove(st, PAL_EXCL_PATH, "/a", 8, &err), PAL_ENOTFOUND);

    pal_audit_rec *a;
    assert_int_equal(pal_store_audit_list(st, 0, 0, &a, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_string_equal(a[0].action, "RemoveExclusion");
    assert_string_equal(a[0].old_value, "/a");
    assert_string_equal(a[1].action, "SetExclusions");
    assert_string_equal(a[1].old_value, "[\"/srv/build\"]");
    assert_string_equal(a[1].new_value, "[\"/a\",\"/b\"]");
    assert_int_equal(a[1].uid, 7);
    pal_audit_recs_free(a, n);
    pal_store_close(st);
}

static void test_allowed_threats(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    const char *hash = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    const char *lower = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_int_equal(pal_store_allowed_add(st, PAL_ALLOW_THREAT_NAME, "PUA:Linux/Miner", 0, &err),
                     0);
    assert_int_equal(pal_store_allowed_add(st, PAL_ALLOW_THREAT_NAME, "pua:linux/miner", 0, &err),
                     PAL_EEXIST);
    assert_int_equal(pal_store_allowed_add(st, PAL_ALLOW_SHA256, hash, 0, &err), 0);
    assert_int_equal(pal_store_allowed_add(st, PAL_ALLOW_SHA256, lower, 0, &err), PAL_EEXIST);
    assert_int_equal(pal_store_allowed_add(st, PAL_ALLOW_SHA256, "abc", 0, &err), PAL_EINVAL);

    int ok = -1;
    assert_int_equal(pal_store_allowed_check(st, "PUA:LINUX/MINER", NULL, &ok, &err), 0);
    assert_int_equal(ok, 1);
    assert_int_equal(pal_store_allowed_check(st, "Virus:X", lower, &ok, &err), 0);
    assert_int_equal(ok, 1);
    assert_int_equal(pal_store_allowed_check(st, "Virus:X", hash, &ok, &err), 0);
    assert_int_equal(ok, 1);
    assert_int_equal(pal_store_allowed_check(st, "Virus:X", "", &ok, &err), 0);
    assert_int_equal(ok, 0);
    /* a name equal to the hash text does not match the hash entry */
    assert_int_equal(pal_store_allowed_check(st, lower, NULL, &ok, &err), 0);
    assert_int_equal(ok, 0);
    assert_int_equal(pal_store_allowed_check(st, NULL, "zz", &ok, &err), 0);
    assert_int_equal(ok, 0);

    pal_allowed *a;
    size_t n;
    assert_int_equal(pal_store_allowed_list(st, &a, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(a[1].kind, PAL_ALLOW_SHA256);
    assert_string_equal(a[1].value, lower);
    pal_allowed_free(a, n);

    assert_int_equal(pal_store_allowed_remove(st, PAL_ALLOW_SHA256, hash, 3, &err), 0);
    assert_int_equal(pal_store_allowed_remove(st, PAL_ALLOW_SHA256, hash, 3, &err), PAL_ENOTFOUND);
    assert_int_equal(pal_store_allowed_check(st, NULL, lower, &ok, &err), 0);
    assert_int_equal(ok, 0);

    pal_audit_rec *au;
    assert_int_equal(pal_store_audit_list(st, 0, 0, &au, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(au[0].action, "RemoveAllowedThreat");
    assert_string_equal(au[0].target, "Sha256");
    assert_int_equal(au[0].uid, 3);
    pal_audit_recs_free(au, n);
    pal_store_close(st);
}

static void test_threat_actions(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    pal_action act;
    assert_int_equal(pal_store_threat_action_get(st, "Virus:X", &act, &err), PAL_ENOTFOUND);
    assert_int_equal(pal_store_threat_action_set(st, "Virus:X", PAL_ACTION_REMOVE, 1, &err), 0);
    assert_int_equal(pal_store_threat_action_set(st, "virus:x", PAL_ACTION_NOACTION, 2, &err), 0);
    assert_int_equal(pal_store_threat_action_get(st, "VIRUS:X", &act, &err), 0);
    assert_int_equal(act, PAL_ACTION_NOACTION);
    assert_int_equal(pal_store_threat_action_set(st, "Virus:Y", (pal_action)0, 2, &err),
                     PAL_EINVAL);
    pal_threat_action *t;
    size_t n;
    assert_int_equal(pal_store_threat_action_list(st, &t, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(t[0].set_by, 2);
    pal_threat_actions_free(t, n);
    assert_int_equal(pal_store_threat_action_remove(st, "Virus:X", 3, &err), 0);
    assert_int_equal(pal_store_threat_action_remove(st, "Virus:X", 3, &err), PAL_ENOTFOUND);

    pal_audit_rec *a;
    assert_int_equal(pal_store_audit_list(st, 0, 0, &a, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(a[1].old_value, "Remove");
    assert_string_equal(a[1].new_value, "NoAction");
    assert_string_equal(a[0].old_value, "NoAction");
    pal_audit_recs_free(a, n);
    pal_store_close(st);
}

static void test_scan_cache(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    /* values beyond INT64_MAX must survive the trip through SQLite's signed integers */
    pal_cache_key k = {.dev = UINT64_MAX - 1,
                       .ino = 1ULL << 63,
                       .size = 4096,
                       .mtime_ns = 1700000000123456789LL,
                       .ctime_ns = 1700000000987654321LL};
    int hit = -1;
    assert_int_equal(pal_store_cache_lookup(st, &k, 5, &hit, &err), 0);
    assert_int_equal(hit, 0);
    assert_int_equal(pal_store_cache_insert(st, &k, 5, &err), 0);
    assert_int_equal(pal_store_cache_lookup(st, &k, 5, &hit, &err), 0);
    assert_int_equal(hit, 1);

    /* each field of the key, and the signature version, must match */
    for (int field = 0; field < 6; field++) {
        pal_cache_key m = k;
        uint64_t ver = 5;
        switch (field) {
        case 0:
            m.dev++;
            break;
        case 1:
            m.ino++;
            break;
        case 2:
            m.size++;
            break;
        case 3:
            m.mtime_ns++;
            break;
        case 4:
            m.ctime_ns++;
            break;
        case 5:
            ver = 6;
            break;
        }
        hit = -1;
        assert_int_equal(pal_store_cache_lookup(st, &m, ver, &hit, &err), 0);
        if (hit != 0)
            fail_msg("a change of field %d still hits", field);
    }

    /* a re-verdict of the same file replaces its entry */
    pal_cache_key k2 = k;
    k2.mtime_ns += 10;
    assert_int_equal(pal_store_cache_insert(st, &k2, 5, &err), 0);
    assert_int_equal(pal_store_cache_lookup(st, &k, 5, &hit, &err), 0);
    assert_int_equal(hit, 0);
    assert_int_equal(pal_store_cache_lookup(st, &k2, 5, &hit, &err), 0);
    assert_int_equal(hit, 1);

    pal_cache_key other = {.dev = 1, .ino = 2, .size = 3, .mtime_ns = 4, .ctime_ns = 5};
    assert_int_equal(pal_store_cache_insert(st, &other, 4, &err), 0);
    uint64_t n;
    assert_int_equal(pal_store_cache_count(st, &n, &err), 0);
    assert_int_equal(n, 2);
    pal_store_close(st);

    /* the cache survives a restart */
    st = open_ok(f->db);
    assert_int_equal(pal_store_cache_lookup(st, &k2, 5, &hit, &err), 0);
    assert_int_equal(hit, 1);
    /* a new signature version empties the entries of other versions */
    assert_int_equal(pal_store_cache_clear_other_versions(st, 5, &err), 0);
    assert_int_equal(pal_store_cache_count(st, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(pal_store_cache_lookup(st, &other, 4, &hit, &err), 0);
    assert_int_equal(hit, 0);
    assert_int_equal(pal_store_cache_remove(st, k2.dev, k2.ino, &err), 0);
    assert_int_equal(pal_store_cache_count(st, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(pal_store_cache_insert(st, &k, 5, &err), 0);
    assert_int_equal(pal_store_cache_clear(st, &err), 0);
    assert_int_equal(pal_store_cache_count(st, &n, &err), 0);
    assert_int_equal(n, 0);
    pal_store_close(st);
}

/* A scan's batch: all entries in one transaction, each one as a single insert would be. */
static void test_scan_cache_batch(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    pal_cache_key keys[300];
    for (size_t i = 0; i < 300; i++)
        keys[i] =
            (pal_cache_key){.dev = 9, .ino = 1000 + i, .size = i, .mtime_ns = 7, .ctime_ns = 8};
    assert_int_equal(pal_store_cache_insert_many(st, keys, 0, 5, &err), 0);
    assert_int_equal(pal_store_cache_insert_many(st, NULL, 1, 5, &err), PAL_EINVAL);
    assert_int_equal(pal_store_cache_insert_many(st, keys, 300, 5, &err), 0);
    uint64_t n;
    assert_int_equal(pal_store_cache_count(st, &n, &err), 0);
    assert_int_equal(n, 300);
    int hit = -1;
    assert_int_equal(pal_store_cache_lookup(st, &keys[299], 5, &hit, &err), 0);
    assert_int_equal(hit, 1);
    assert_int_equal(pal_store_cache_lookup(st, &keys[299], 6, &hit, &err), 0);
    assert_int_equal(hit, 0);
    /* a later verdict of the same file replaces its entry, as a single insert does */
    pal_cache_key k = keys[0];
    k.mtime_ns = 70;
    assert_int_equal(pal_store_cache_insert_many(st, &k, 1, 5, &err), 0);
    assert_int_equal(pal_store_cache_count(st, &n, &err), 0);
    assert_int_equal(n, 300);
    assert_int_equal(pal_store_cache_lookup(st, &keys[0], 5, &hit, &err), 0);
    assert_int_equal(hit, 0);
    pal_store_close(st);

    /* committed: they survive a restart */
    st = open_ok(f->db);
    assert_int_equal(pal_store_cache_lookup(st, &k, 5, &hit, &err), 0);
    assert_int_equal(hit, 1);
    assert_int_equal(pal_store_cache_count(st, &n, &err), 0);
    assert_int_equal(n, 300);
    pal_store_close(st);
}

/* The filter that answers lookups of files the cache never saw: grown past its first size by
   the writes it is told of, built again from the table at a restart, it never misses an entry
   (a miss would only cost a rescan, but every entry must still hit). */
static void test_scan_cache_filter(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    enum { N = 100000, CHUNK = 1000 };
    static pal_cache_key keys[N];
    for (size_t i = 0; i < N; i++)
        keys[i] = (pal_cache_key){
            .dev = 2049 + (i % 3), .ino = 7 + i * 13, .size = i, .mtime_ns = 1, .ctime_ns = 2};
    int hit = -1;
    assert_int_equal(pal_store_cache_lookup(st, &keys[0], 5, &hit, &err), 0); /* built empty */
    assert_int_equal(hit, 0);
    /* past the first size (65,536 pairs): the filter is built again, larger, on the way */
    for (size_t i = 0; i < N; i += CHUNK) {
        assert_int_equal(pal_store_cache_insert_many(st, keys + i, CHUNK, 5, &err), 0);
        assert_int_equal(pal_store_cache_lookup(st, &keys[i], 5, &hit, &err), 0);
        assert_int_equal(hit, 1);
    }
    pal_cache_key one = {.dev = 77, .ino = 78, .size = 1, .mtime_ns = 1, .ctime_ns = 2};
    assert_int_equal(pal_store_cache_insert(st, &one, 5, &err), 0);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < N; i++) {
            hit = -1;
            assert_int_equal(pal_store_cache_lookup(st, &keys[i], 5, &hit, &err), 0);
            if (hit != 1)
                fail_msg("entry %zu misses (pass %d)", i, pass);
            pal_cache_key absent = keys[i];
            absent.ino += 1; /* no key's inode: 7 + 13i + 1 */
            assert_int_equal(pal_store_cache_lookup(st, &absent, 5, &hit, &err), 0);
            if (hit != 0)
                fail_msg("an absent file hits (%zu, pass %d)", i, pass);
        }
        assert_int_equal(pal_store_cache_lookup(st, &one, 5, &hit, &err), 0);
        assert_int_equal(hit, 1);
        /* the second pass: built from the table by a new connection */
        pal_store_close(st);
        st = open_ok(f->db);
    }
    /* emptied, then refilled: the entries written after the clear hit */
    assert_int_equal(pal_store_cache_clear(st, &err), 0);
    assert_int_equal(pal_store_cache_lookup(st, &keys[5], 5, &hit, &err), 0);
    assert_int_equal(hit, 0);
    assert_int_equal(pal_store_cache_insert(st, &keys[5], 6, &err), 0);
    assert_int_equal(pal_store_cache_clear_other_versions(st, 6, &err), 0);
    assert_int_equal(pal_store_cache_lookup(st, &keys[5], 6, &hit, &err), 0);
    assert_int_equal(hit, 1);
    pal_store_close(st);
}

static void test_cp_events(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    pal_cp_event e = {.pid = 4242, .kind = PAL_CP_START, .exit_code = -1};
    int64_t id;
    assert_int_equal(pal_store_cp_event_insert(st, &e, &id, &err), 0);

    size_t big = PAL_STORE_MAX_STDERR + 100;
    char *tail = malloc(big + 1);
    assert_non_null(tail);
    memset(tail, 'x', big);
    memcpy(tail + big - 4, "END!", 4);
    tail[big] = '\0';
    pal_cp_event c = {.pid = 4242,
                      .kind = PAL_CP_CRASH,
                      .exit_code = -1,
                      .signal = 11,
                      .object = (char *)(uintptr_t) "/srv/evil.zip->a",
                      .stderr_tail = tail};
    assert_int_equal(pal_store_cp_event_insert(st, &c, &id, &err), 0);
    free(tail);
    pal_cp_event k = {.pid = 4243,
                      .kind = PAL_CP_KILL,
                      .exit_code = -1,
                      .signal = 9,
                      .reason = (char *)(uintptr_t) "timeout"};
    assert_int_equal(pal_store_cp_event_insert(st, &k, &id, &err), 0);
    pal_cp_event x = {.pid = 4244, .kind = PAL_CP_EXIT, .exit_code = 0};
    assert_int_equal(pal_store_cp_event_insert(st, &x, &id, &err), 0);
    pal_cp_event bad = {.kind = (pal_cp_event_kind)0};
    assert_int_equal(pal_store_cp_event_insert(st, &bad, &id, &err), PAL_EINVAL);

    pal_cp_event *l;
    size_t n;
    assert_int_equal(pal_store_cp_event_list(st, 0, &l, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_int_equal(l[0].kind, PAL_CP_EXIT);
    assert_int_equal(l[0].exit_code, 0);
    assert_int_equal(l[1].kind, PAL_CP_KILL);
    assert_string_equal(l[1].reason, "timeout");
    assert_int_equal(l[2].kind, PAL_CP_CRASH);
    assert_int_equal(l[2].signal, 11);
    assert_int_equal(l[2].exit_code, -1);
    assert_string_equal(l[2].object, "/srv/evil.zip->a");
    assert_int_equal(strlen(l[2].stderr_tail), PAL_STORE_MAX_STDERR);
    assert_string_equal(l[2].stderr_tail + PAL_STORE_MAX_STDERR - 4, "END!"); /* the tail */
    assert_int_equal(l[3].kind, PAL_CP_START);
    assert_int_equal(l[3].pid, 4242);
    assert_null(l[3].stderr_tail);
    pal_cp_events_free(l, n);

    /* a crash loop keeps only the newest events */
    for (int i = 0; i < PAL_STORE_CP_EVENTS_KEEP + 50; i++) {
        pal_cp_event r = {.pid = 5000 + i, .kind = PAL_CP_SIGNAL, .exit_code = -1, .signal = 9};
        assert_int_equal(pal_store_cp_event_insert(st, &r, &id, &err), 0);
    }
    assert_int_equal(pal_store_cp_event_list(st, PAL_STORE_MAX_LIMIT, &l, &n, &err), 0);
    assert_int_equal(n, PAL_STORE_CP_EVENTS_KEEP);
    assert_int_equal(l[0].pid, 5000 + PAL_STORE_CP_EVENTS_KEEP + 49);
    pal_cp_events_free(l, n);
    pal_store_close(st);
}

static void test_quarantine_and_journal(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    pal_detection d =
        sample_detection("Virus:DOS/EICAR_Test_File", PAL_SEV_SEVERE, "/home/u/eicar.com", 0);
    int64_t det;
    assert_int_equal(pal_store_detection_insert(st, &d, &det, &err), 0);

    /* journal first: Pending before the file is touched */
    pal_fileop op = {.kind = PAL_FILEOP_QUARANTINE,
                     .detection_id = det,
                     .path = (char *)(uintptr_t) "/home/u/eicar.com",
                     .storage_name = (char *)(uintptr_t) "0001-abc"};
    int64_t opid;
    assert_int_equal(pal_store_fileop_begin(st, &op, &opid, &err), 0);

    pal_quarantine_item q = {0};
    q.detection_id = det;
    q.threat_name = (char *)(uintptr_t) "Virus:DOS/EICAR_Test_File";
    q.original_path = (char *)(uintptr_t) "/home/u/eicar.com";
    q.owner = 1000;
    q.group = 1000;
    q.mode = 0100644;
    q.atime_ns = 1;
    q.mtime_ns = 2;
    q.ctime_ns = 3;
    q.size = 68;
    memcpy(q.sha256, d.sha256, 65);
    q.quarantined_at = 9000;
    q.storage_name = (char *)(uintptr_t) "0001-abc";
    int64_t qid, qid2;
    assert_int_equal(pal_store_quarantine_insert(st, &q, &qid, &err), 0);
    assert_int_equal(pal_store_quarantine_insert(st, &q, &qid2, &err), PAL_EEXIST);
    q.storage_name = (char *)(uintptr_t) "../escape";
    assert_int_equal(pal_store_quarantine_insert(st, &q, &qid2, &err), PAL_EINVAL);
    q.storage_name = (char *)(uintptr_t) "0002-def";
    q.sha256[0] = '\0';
    assert_int_equal(pal_store_quarantine_insert(st, &q, &qid2, &err), PAL_EINVAL);
    memcpy(q.sha256, d.sha256, 65);
    q.quarantined_at = 9500;
    assert_int_equal(pal_store_quarantine_insert(st, &q, &qid2, &err), 0);

    assert_int_equal(pal_store_fileop_finish(st, opid, PAL_FILEOP_DONE, NULL, &err), 0);
    assert_int_equal(pal_store_fileop_finish(st, opid, PAL_FILEOP_FAILED, "x", &err), PAL_ESTATE);
    assert_int_equal(pal_store_fileop_finish(st, 999, PAL_FILEOP_DONE, NULL, &err), PAL_ENOTFOUND);
    assert_int_equal(pal_store_fileop_finish(st, opid, PAL_FILEOP_PENDING, NULL, &err), PAL_EINVAL);

    pal_quarantine_item g;
    assert_int_equal(pal_store_quarantine_get(st, qid, &g, &err), 0);
    assert_int_equal(g.mode, 0100644);
    assert_int_equal(g.owner, 1000);
    assert_int_equal(g.ctime_ns, 3);
    assert_int_equal(g.detection_id, det);
    assert_string_equal(g.storage_name, "0001-abc");
    assert_string_equal(g.sha256, d.sha256);
    g.mode = 0100600;
    assert_int_equal(pal_store_quarantine_update(st, &g, &err), 0);
    pal_quarantine_item_clear(&g);
    assert_int_equal(pal_store_quarantine_get(st, qid, &g, &err), 0);
    assert_int_equal(g.mode, 0100600);
    g.id = 4242;
    assert_int_equal(pal_store_quarantine_update(st, &g, &err), PAL_ENOTFOUND);
    pal_quarantine_item_clear(&g);

    pal_quarantine_item *l;
    size_t n;
    assert_int_equal(pal_store_quarantine_list(st, 0, &l, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(l[0].id, qid2); /* newest first */
    pal_quarantine_items_free(l, n);

    /* a restore: journal Pending, then the item goes */
    pal_fileop r = {.kind = PAL_FILEOP_RESTORE,
                    .quarantine_id = qid,
                    .path = (char *)(uintptr_t) "/home/u/eicar.com"};
    int64_t rid;
    assert_int_equal(pal_store_fileop_begin(st, &r, &rid, &err), 0);
    pal_fileop *ops;
    assert_int_equal(pal_store_fileop_list(st, PAL_FILEOP_PENDING, 0, &ops, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ops[0].id, rid);
    assert_int_equal(ops[0].kind, PAL_FILEOP_RESTORE);
    assert_int_equal(ops[0].quarantine_id, qid);
    assert_null(ops[0].storage_name);
    pal_fileops_free(ops, n);
    assert_int_equal(pal_store_quarantine_delete(st, qid, &err), 0);
    assert_int_equal(pal_store_quarantine_delete(st, qid, &err), PAL_ENOTFOUND);
    /* the journal keeps its row, without the dangling reference */
    pal_fileop fo;
    assert_int_equal(pal_store_fileop_get(st, rid, &fo, &err), 0);
    assert_int_equal(fo.quarantine_id, 0);
    assert_int_equal(fo.state, PAL_FILEOP_PENDING);
    pal_fileop_clear(&fo);
    assert_int_equal(pal_store_fileop_finish(st, rid, PAL_FILEOP_FAILED, "EEXIST", &err), 0);
    assert_int_equal(pal_store_fileop_list(st, 0, 0, &ops, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ops[0].id, opid); /* oldest first: replay order */
    assert_int_equal(ops[0].state, PAL_FILEOP_DONE);
    assert_int_equal(ops[1].state, PAL_FILEOP_FAILED);
    assert_string_equal(ops[1].detail, "EEXIST");
    pal_fileops_free(ops, n);
    assert_int_equal(pal_store_fileop_delete(st, opid, &err), 0);
    assert_int_equal(pal_store_fileop_delete(st, opid, &err), PAL_ENOTFOUND);
    pal_store_close(st);
}

/* ---- threads --------------------------------------------------------------------------- */

#define N_THREADS 4
#define N_PER_THREAD 50

typedef struct worker {
    pal_store *st;
    int index;
    int failures;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    pal_errbuf err;
    char path[64];
    for (int i = 0; i < N_PER_THREAD; i++) {
        snprintf(path, sizeof(path), "/t%d/f%d", w->index, i);
        pal_detection d = sample_detection("Trojan:Linux/T", PAL_SEV_HIGH, path, 0);
        int64_t id;
        pal_cache_key k = {.dev = (uint64_t)w->index, .ino = (uint64_t)i, .size = 1};
        int hit = 0;
        pal_detection *res;
        size_t n;
        pal_detection_filter filt = {.path = path};
        if (pal_store_detection_insert(w->st, &d, &id, &err) ||
            pal_store_cache_insert(w->st, &k, 1, &err) ||
            pal_store_cache_lookup(w->st, &k, 1, &hit, &err) || !hit ||
            pal_store_detection_query(w->st, &filt, &res, &n, &err) || n != 1) {
            w->failures++;
            continue;
        }
        pal_detections_free(res, n);
    }
    return NULL;
}

/* threats.list's rows: each detection with the quarantine item it caused, joined in SQL. */
static int64_t add_item(pal_store *st, int64_t det, const char *storage, int64_t at)
{
    pal_errbuf err = {{0}};
    pal_quarantine_item q = {0};
    q.detection_id = det;
    q.threat_name = (char *)(uintptr_t) "Virus:DOS/EICAR_Test_File";
    q.original_path = (char *)(uintptr_t) "/home/u/x";
    q.mode = 0100644;
    memcpy(q.sha256, "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", 65);
    q.quarantined_at = at;
    q.storage_name = (char *)(uintptr_t)storage;
    int64_t id;
    if (pal_store_quarantine_insert(st, &q, &id, &err) != 0)
        fail_msg("quarantine_insert: %s", err.msg);
    return id;
}

static void expect_threats(pal_store *st, size_t limit, const int64_t *dets, const int64_t *items,
                           size_t want)
{
    pal_errbuf err = {{0}};
    pal_detection_filter f = {.limit = limit};
    pal_threat_row *rows = NULL;
    size_t n = 0;
    if (pal_store_threat_list(st, &f, &rows, &n, &err) != 0)
        fail_msg("threat_list: %s", err.msg);
    assert_int_equal(n, want);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rows[i].det.id, dets[i]);
        assert_int_equal(rows[i].quarantine_id, items[i]);
        assert_string_equal(rows[i].det.threat_name, "Virus:DOS/EICAR_Test_File");
    }
    /* the same detections, in the same order, as the detection query gives */
    pal_detection *d = NULL;
    size_t dn = 0;
    assert_int_equal(pal_store_detection_query(st, &f, &d, &dn, &err), 0);
    assert_int_equal(dn, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(d[i].id, rows[i].det.id);
    pal_detections_free(d, dn);
    pal_threat_rows_free(rows, n);
}

static void test_threat_list(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    int64_t det[6];
    for (int i = 1; i <= 5; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/home/u/f%d", i);
        pal_detection d =
            sample_detection("Virus:DOS/EICAR_Test_File", PAL_SEV_SEVERE, path, 1000 * i);
        assert_int_equal(pal_store_detection_insert(st, &d, &det[i], &err), 0);
    }
    add_item(st, 0, "orphan", 100); /* an item without a detection names no row */
    int64_t q2 = add_item(st, det[2], "q2", 200);
    int64_t q4 = add_item(st, det[4], "q4", 400);

    /* newest first; detections never quarantined have no item */
    expect_threats(st, 0, (int64_t[]){det[5], det[4], det[3], det[2], det[1]},
                   (int64_t[]){0, q4, 0, q2, 0}, 5);
    expect_threats(st, 2, (int64_t[]){det[5], det[4]}, (int64_t[]){0, q4}, 2);

    /* a restored or removed item no longer names its detection */
    assert_int_equal(pal_store_quarantine_delete(st, q2, &err), 0);
    expect_threats(st, 0, (int64_t[]){det[5], det[4], det[3], det[2], det[1]},
                   (int64_t[]){0, q4, 0, 0, 0}, 5);

    /* a detection with two items (the broker makes one; the schema allows more) is listed
       once with the newer item, and the limit counts detections, also when the limit
       ends on it */
    int64_t q4b = add_item(st, det[4], "q4b", 450);
    expect_threats(st, 0, (int64_t[]){det[5], det[4], det[3], det[2], det[1]},
                   (int64_t[]){0, q4b, 0, 0, 0}, 5);
    expect_threats(st, 2, (int64_t[]){det[5], det[4]}, (int64_t[]){0, q4b}, 2);
    expect_threats(st, 3, (int64_t[]){det[5], det[4], det[3]}, (int64_t[]){0, q4b, 0}, 3);

    /* filters apply as in the detection query */
    pal_detection_filter flt = {.since = 2000, .until = 5000};
    pal_threat_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(pal_store_threat_list(st, &flt, &rows, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].det.id, det[4]);
    assert_int_equal(rows[0].quarantine_id, q4b);
    assert_int_equal(rows[2].det.id, det[2]);
    pal_threat_rows_free(rows, n);
    pal_store_close(st);
}

static void test_threads(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pthread_t th[N_THREADS];
    worker w[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (worker){.st = st, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    pal_errbuf err;
    uint64_t n;
    assert_int_equal(pal_store_cache_count(st, &n, &err), 0);
    assert_int_equal(n, N_THREADS * N_PER_THREAD);
    pal_detection *res;
    size_t nd;
    assert_int_equal(
        pal_store_detection_query(st, &(pal_detection_filter){.limit = 100000}, &res, &nd, &err),
        0);
    assert_int_equal(nd, N_THREADS * N_PER_THREAD);
    pal_detections_free(res, nd);
    pal_store_close(st);
}

/* ---- documentation --------------------------------------------------------------------- */

/* db/README.md has a section for every table of the schema. */
static void test_readme_describes_every_table(void **state)
{
    fx *f = *state;
    const char *src = getenv("PAL_SOURCE_DIR");
    if (!src)
        skip();
    char readme[512];
    snprintf(readme, sizeof(readme), "%s/db/README.md", src);
    size_t len;
    unsigned char *text = read_file(readme, &len);
    text[len] = '\0';

    pal_store *st = open_ok(f->db);
    pal_store_close(st);
    sqlite3 *db;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name FROM sqlite_schema WHERE type = 'table' "
                                        "AND name NOT LIKE 'sqlite_%'",
                                        -1, &s, NULL),
                     SQLITE_OK);
    int tables = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        char heading[128];
        snprintf(heading, sizeof(heading), "### `%s`", (const char *)sqlite3_column_text(s, 0));
        if (!strstr((const char *)text, heading))
            fail_msg("db/README.md has no \"%s\" section", heading);
        tables++;
    }
    assert_true(tables >= 12);
    sqlite3_finalize(s);
    sqlite3_close(db);
    free(text);
}

/* Failed remediations count until dealt with (pal_store_unremediated_count's contract). */
static int64_t failed_detection(pal_store *st, int64_t scan, const char *path, const char *threat,
                                int64_t at)
{
    pal_errbuf err = {{0}};
    int64_t id;
    pal_detection d = sample_detection(threat, PAL_SEV_SEVERE, path, at);
    d.scan_id = scan;
    d.action = PAL_DET_ACTION_QUARANTINE;
    assert_int_equal(pal_store_detection_insert(st, &d, &id, &err), 0);
    assert_int_equal(pal_store_detection_set_action(st, id, PAL_DET_ACTION_QUARANTINE,
                                                    PAL_DET_FAILED, "EPERM", at, &err),
                     0);
    return id;
}

static int64_t scan_of(pal_store *st, const char *root, int64_t at, pal_scan_outcome outcome)
{
    pal_errbuf err = {{0}};
    int64_t id;
    const char *paths[1] = {root};
    assert_int_equal(
        pal_store_scan_begin(st, PAL_SCAN_CUSTOM, paths, root ? 1 : 0, at, 0, &id, &err), 0);
    pal_scan_totals t = {0};
    assert_int_equal(pal_store_scan_finish(st, id, &t, outcome, NULL, at + 1, &err), 0);
    return id;
}

static int64_t unremediated(pal_store *st)
{
    int64_t n = -1;
    pal_errbuf err = {{0}};
    assert_int_equal(pal_store_unremediated_count(st, &n, &err), 0);
    return n;
}

static void test_unremediated_count(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    pal_errbuf err = {{0}};
    assert_int_equal(unremediated(st), 0);

    /* two findings in one file of one scan: both count, neither supersedes the other */
    int64_t s1 = scan_of(st, "/srv", 1000, PAL_SCAN_COMPLETED);
    failed_detection(st, s1, "/srv/a/x.zip", "Virus:DOS/EICAR_Test_File", 1001);
    failed_detection(st, s1, "/srv/a/x.zip", "Trojan:Linux/Other", 1002);
    assert_int_equal(unremediated(st), 2);

    /* scans that do not cover it: another directory whose name shares the prefix, a
       cancelled scan of its directory, a scan that started before the detection */
    scan_of(st, "/srv/a/x", 2000, PAL_SCAN_COMPLETED);
    scan_of(st, "/srv/a/x.zi", 2010, PAL_SCAN_COMPLETED);
    scan_of(st, "/srv/a", 2020, PAL_SCAN_CANCELLED);
    scan_of(st, NULL, 2030, PAL_SCAN_COMPLETED);
    assert_int_equal(unremediated(st), 2);

    /* a later completed scan of the directory that holds it, with no new detection */
    scan_of(st, "/srv/a", 3000, PAL_SCAN_COMPLETED);
    assert_int_equal(unremediated(st), 0);

    /* a rescan that finds it again and fails again: the newest record stands, once */
    int64_t s2 = scan_of(st, "/home", 4000, PAL_SCAN_COMPLETED);
    failed_detection(st, s2, "/home/u/e.com", "Virus:DOS/EICAR_Test_File", 4001);
    int64_t s3 = scan_of(st, "/home", 4100, PAL_SCAN_COMPLETED);
    int64_t last = failed_detection(st, s3, "/home/u/e.com", "Virus:DOS/EICAR_Test_File", 4101);
    assert_int_equal(unremediated(st), 1);
    /* ... and succeeds the next time */
    int64_t s4 = scan_of(st, "/home", 4200, PAL_SCAN_COMPLETED);
    int64_t ok = failed_detection(st, s4, "/home/u/e.com", "Virus:DOS/EICAR_Test_File", 4201);
    assert_int_equal(pal_store_detection_set_action(st, ok, PAL_DET_ACTION_QUARANTINE,
                                                    PAL_DET_SUCCESS, NULL, 4202, &err),
                     0);
    (void)last;
    assert_int_equal(unremediated(st), 0);

    /* an on-access detection (no scan) that failed, dealt with by allowing its hash; a scan
       of / covers everything */
    failed_detection(st, 0, "/opt/tool", "PUA:Linux/Miner", 5000);
    assert_int_equal(unremediated(st), 1);
    assert_int_equal(
        pal_store_allowed_add(st, PAL_ALLOW_SHA256,
                              "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", 0,
                              &err),
        0);
    assert_int_equal(unremediated(st), 0);
    failed_detection(st, 0, "/var/lib/x", "PUA:Linux/Other", 6000);
    assert_int_equal(
        pal_store_allowed_remove(st, PAL_ALLOW_SHA256,
                                 "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
                                 0, &err),
        0);
    assert_int_equal(unremediated(st), 2);
    assert_int_equal(pal_store_allowed_add(st, PAL_ALLOW_THREAT_NAME, "pua:linux/miner", 0, &err),
                     0);
    assert_int_equal(unremediated(st), 1);
    scan_of(st, "/", 7000, PAL_SCAN_COMPLETED);
    assert_int_equal(unremediated(st), 0);
    pal_store_close(st);
}

/* The query plan of sql on the database at path, one detail line per row, "|"-separated. */
static char *query_plan(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    char *q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
    assert_non_null(q);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", q, sqlite3_errmsg(db));
    size_t cap = 8192, len = 0;
    char *plan = calloc(1, cap);
    assert_non_null(plan);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(s, 3);
        int n = snprintf(plan + len, cap - len, "%s|", detail ? detail : "");
        assert_true(n > 0 && (size_t)n < cap - len);
        len += (size_t)n;
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    sqlite3_free(q);
    return plan;
}

/* status (open to every local user, under the store's lock) runs these on every call: each
   step must be an index search, never a pass over detections or scans nor a transient index
   built per call (the 5.8 s status and the minutes-long one of bench/RESULTS.md). */
static void test_status_queries_use_indexes(void **state)
{
    fx *f = *state;
    pal_store *st = open_ok(f->db);
    /* some history, so that the planner sees tables with rows */
    for (int i = 0; i < 50; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/srv/d%d/f%d", i % 5, i);
        int64_t sc = scan_of(st, i % 2 ? "/srv" : "/home", 1000 + 10 * i, PAL_SCAN_COMPLETED);
        failed_detection(st, sc, path, "Virus:DOS/EICAR_Test_File", 1001 + 10 * i);
    }
    pal_store_close(st);

    char *plan = query_plan(f->db, pal_store_unremediated_sql());
    if (strstr(plan, "SCAN detections|") ||
        strstr(plan, "SCAN detections USING INDEX detections_at") || strstr(plan, "SCAN scans") ||
        strstr(plan, "AUTOMATIC") || strstr(plan, "SCAN s|") ||
        !strstr(plan, "USING INDEX detections_failed") ||
        !strstr(plan, "SEARCH l USING INDEX detections_path (path=? AND rowid>?)") ||
        !strstr(plan, "completed_roots_root (root=? AND started_at>?)"))
        fail_msg("unremediated count: not index-driven: %s", plan);
    free(plan);

    plan = query_plan(f->db, pal_store_scan_last_sql());
    if (!strstr(plan, "SEARCH scans USING INDEX scans_type_started (type=?)"))
        fail_msg("last scan of a type: not index-driven: %s", plan);
    free(plan);
}

/* A database made before completed_roots (version 4) gets the roots of the scans it already
   holds: a Completed scan recorded then still covers a failed detection afterwards, and the
   triggers keep the table for the scans recorded after the upgrade. */
static void test_completed_roots_upgrade(void **state)
{
    fx *f = *state;
    pal_store *st = NULL;
    pal_errbuf err = {{0}};
    assert_int_equal(pal_store_open_at_version(f->db, 4, &st, &err), 0);
    int64_t s1 = scan_of(st, "/srv", 1000, PAL_SCAN_COMPLETED);
    failed_detection(st, s1, "/srv/a/x.zip", "Virus:DOS/EICAR_Test_File", 1001);
    failed_detection(st, 0, "/home/u/y", "Virus:DOS/EICAR_Test_File", 1002);
    scan_of(st, "/srv/a", 2000, PAL_SCAN_COMPLETED);
    scan_of(st, "/home", 2100, PAL_SCAN_FAILED);
    pal_store_close(st);

    st = open_ok(f->db);
    assert_int_equal(pal_store_schema_version(st), pal_store_latest_version());
    assert_int_equal(unremediated(st), 1); /* /srv/a covered /srv/a/x.zip; /home failed */
    int64_t id = 0;
    const char *home[1] = {"/home"};
    assert_int_equal(pal_store_scan_begin(st, PAL_SCAN_CUSTOM, home, 1, 3000, 0, &id, &err), 0);
    assert_int_equal(unremediated(st), 1); /* Running covers nothing */
    pal_scan_totals t = {0};
    assert_int_equal(pal_store_scan_finish(st, id, &t, PAL_SCAN_COMPLETED, NULL, 3001, &err), 0);
    assert_int_equal(unremediated(st), 0);
    pal_store_close(st);
    assert_int_equal(raw_pragma(f->db, "SELECT count(*) FROM completed_roots"), 3);
}

/* The metrics op's running totals (scan_counts, detection_counts, kept by triggers) equal the
   GROUP BY over the rows after inserts, finished scans and action results, and are filled by
   the upgrade from a version-4 database's rows; the op's reads are index searches. */
static void test_metrics_totals(void **state)
{
    fx *f = *state;
    pal_store *st = NULL;
    pal_errbuf err = {{0}};
    assert_int_equal(pal_store_open_at_version(f->db, 4, &st, &err), 0);
    int64_t s1 = scan_of(st, "/srv", 1000, PAL_SCAN_COMPLETED);
    failed_detection(st, s1, "/srv/a", "Virus:DOS/EICAR_Test_File", 1001);
    pal_store_close(st);

    st = open_ok(f->db);
    for (int i = 0; i < 30; i++) {
        int64_t sc =
            scan_of(st, "/home", 2000 + 10 * i, i % 3 ? PAL_SCAN_COMPLETED : PAL_SCAN_CANCELLED);
        int64_t id = failed_detection(st, sc, "/home/x", "Trojan:Linux/Other", 2001 + 10 * i);
        if (i % 2)
            assert_int_equal(pal_store_detection_set_action(st, id, PAL_DET_ACTION_QUARANTINE,
                                                            PAL_DET_SUCCESS, NULL, 2002, &err),
                             0);
    }
    int64_t running = 0;
    const char *home[1] = {"/home"};
    assert_int_equal(pal_store_scan_begin(st, PAL_SCAN_FULL, home, 1, 9000, 0, &running, &err), 0);
    pal_store_close(st);

    assert_int_equal(raw_pragma(f->db, "SELECT count(*) FROM (SELECT type, outcome, count(*), "
                                       "sum(files), sum(bytes) FROM scans GROUP BY 1, 2 EXCEPT "
                                       "SELECT type, outcome, count, files, bytes FROM "
                                       "scan_counts WHERE count > 0)"),
                     0);
    assert_int_equal(raw_pragma(f->db, "SELECT count(*) FROM scan_counts WHERE count > 0"),
                     raw_pragma(f->db, "SELECT count(*) FROM (SELECT DISTINCT type, outcome "
                                       "FROM scans)"));
    assert_int_equal(
        raw_pragma(f->db, "SELECT count(*) FROM (SELECT severity, source, coalesce(action, "
                          "'None'), action_result, count(*) FROM detections GROUP BY 1, 2, 3, 4 "
                          "EXCEPT SELECT severity, source, action, action_result, count FROM "
                          "detection_counts WHERE count > 0)"),
        0);
    assert_int_equal(raw_pragma(f->db, "SELECT sum(count) FROM detection_counts"), 31);
    assert_int_equal(
        raw_pragma(f->db, "SELECT count FROM detection_counts WHERE action_result = 'Success'"),
        15);

    char *plan = query_plan(f->db, "SELECT (SELECT max(ended_at) FROM scans s WHERE s.type = "
                                   "c.type AND s.outcome = c.outcome) FROM scan_counts c");
    if (!strstr(plan, "SEARCH s USING COVERING INDEX scans_type_outcome_ended"))
        fail_msg("newest end of a scan group: not an index search: %s", plan);
    free(plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_from_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_embedded_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_random_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_header_then_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_corrupt_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_foreign_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detections_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detection_query_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preferences_and_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclusions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allowed_threats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threat_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_cache_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_cache_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cp_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine_and_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threat_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unremediated_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_queries_use_indexes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_completed_roots_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_totals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readme_describes_every_table, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
