/*
 * test_quarantine.c — the quarantine module on a real store and directory: a round trip,
 * refusals of a changed file, the start-up reconciliation of every crash point, built
 * deterministically (the journal row and the files exactly as a crash there leaves them),
 * sparse files kept sparse both ways, items of the older format version 1 restored, and
 * the space limits (qspace.h) refusing with the file left in place.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "quarantine.h"
#include "store.h"

typedef struct fx {
    char base[PATH_MAX];
    char qdir[PATH_MAX];
    char user[PATH_MAX];
    pal_store *st;
    pal_quarantine *q;
} fx;

static const char content[] = "pretend this is malware\n";

static void pathf(char *out, const char *a, const char *b)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", a, b);
    assert_true(n > 0 && n < PATH_MAX);
}

static void write_file(const char *p, const char *data, size_t len)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static size_t read_file(const char *p, char *buf, size_t cap)
{
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, cap);
    close(fd);
    assert_true(n >= 0);
    return (size_t)n;
}

static void sha256_of(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL), 1);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Where the content of a stored item of format version 2 starts (qstore.h). */
static uint64_t content_off(const char *stored)
{
    uint8_t h[PAL_QUARANTINE_HEADER_SIZE];
    assert_int_equal(read_file(stored, (char *)h, sizeof(h)), sizeof(h));
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | h[104 + i];
    return v;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    char tmpl[] = "/tmp/pal-quarantine.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, f->base));
    pathf(f->qdir, f->base, "quarantine");
    pathf(f->user, f->base, "user");
    assert_int_equal(mkdir(f->user, 0755), 0);
    char db[PATH_MAX];
    pathf(db, f->base, "palisade.db");
    pal_errbuf err;
    assert_int_equal(pal_store_open(db, &f->st, &err), 0);
    assert_int_equal(pal_quarantine_open(f->st, f->qdir, &f->q, &err), 0);
    struct stat st;
    assert_int_equal(stat(f->qdir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    pal_quarantine_free(f->q);
    pal_store_close(f->st);
    char cmd[PATH_MAX + 16];
    int n = snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->base);
    assert_true(n > 0 && (size_t)n < sizeof(cmd));
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* A file in the user directory, quarantined for real; returns its item. */
static int64_t quarantine(fx *f, const char *name, char *path_out)
{
    char p[PATH_MAX];
    pathf(p, f->user, name);
    write_file(p, content, sizeof(content) - 1);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    uint8_t sha[32];
    sha256_of(content, sizeof(content) - 1, sha);
    pal_qfile_req r = {.path = p, .scanned = &st, .threat = "Test:Unit/Q", .sha256 = sha};
    int64_t id = 0;
    pal_errbuf err;
    assert_int_equal(pal_quarantine_file(f->q, &r, &id, &err), 0);
    assert_true(id > 0);
    if (path_out)
        memcpy(path_out, p, strlen(p) + 1);
    return id;
}

static int64_t journal(fx *f, pal_fileop_kind kind, const char *path, const char *storage,
                       const char *plan)
{
    pal_fileop op = {.kind = kind,
                     .path = (char *)(uintptr_t)path,
                     .storage_name = (char *)(uintptr_t)storage,
                     .detail = (char *)(uintptr_t)plan};
    int64_t id = 0;
    assert_int_equal(pal_store_fileop_begin(f->st, &op, &id, NULL), 0);
    return id;
}

static pal_fileop_state journal_state(fx *f, int64_t id)
{
    pal_fileop op;
    assert_int_equal(pal_store_fileop_get(f->st, id, &op, NULL), 0);
    pal_fileop_state s = op.state;
    pal_fileop_clear(&op);
    return s;
}

static pal_reconcile_stats reconcile(fx *f)
{
    pal_reconcile_stats s;
    pal_errbuf err;
    assert_int_equal(pal_quarantine_reconcile(f->q, &s, NULL, NULL, &err), 0);
    return s;
}

static void test_round_trip(void **state)
{
    fx *f = *state;
    char p[PATH_MAX];
    int64_t id = quarantine(f, "a.bin", p);
    assert_int_equal(access(p, F_OK), -1);
    pal_quarantine_item it;
    assert_int_equal(pal_store_quarantine_get(f->st, id, &it, NULL), 0);
    char stored[PATH_MAX], buf[16384];
    pathf(stored, f->qdir, it.storage_name);
    size_t n = read_file(stored, buf, sizeof(buf));
    assert_int_equal(n, content_off(stored) + sizeof(content) - 1);
    assert_memory_equal(buf, "PALQUAR\x01", 8);
    assert_int_equal(buf[8], 2); /* format version 2 */
    assert_null(memmem(buf, n, "malware", 7));
    pal_quarantine_item_clear(&it);

    pal_restore_req r = {.id = id, .uid = PAL_UID_DAEMON};
    pal_restore_result res = {0};
    pal_errbuf err;
    assert_int_equal(pal_quarantine_restore(f->q, &r, &res, &err), 0);
    assert_string_equal(res.path, p);
    pal_restore_result_clear(&res);
    n = read_file(p, buf, sizeof(buf));
    assert_int_equal(n, sizeof(content) - 1);
    assert_memory_equal(buf, content, n);
    assert_int_equal(pal_store_quarantine_get(f->st, id, &it, NULL), PAL_ENOTFOUND);
    assert_int_equal(count_entries(f->qdir), 0);
    assert_int_equal(count_entries(f->user), 1);
}

static void test_changed_file_is_left_alone(void **state)
{
    fx *f = *state;
    char p[PATH_MAX];
    pathf(p, f->user, "b.bin");
    write_file(p, content, sizeof(content) - 1);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    pal_qfile_req r = {.path = p, .scanned = &st, .threat = "Test:Unit/Q"};
    /* grown after the scan */
    write_file(p, "different and longer content\n", 29);
    int64_t id = 0;
    pal_errbuf err;
    assert_int_equal(pal_quarantine_file(f->q, &r, &id, &err), PAL_ERACE);
    assert_non_null(strstr(err.msg, "nothing was done"));
    /* same size and mtime, other content: the scan's hash catches it */
    write_file(p, content, sizeof(content) - 1);
    assert_int_equal(stat(p, &st), 0);
    uint8_t wrong[32] = {1};
    r.sha256 = wrong;
    assert_int_equal(pal_quarantine_file(f->q, &r, &id, &err), PAL_ERACE);
    assert_non_null(strstr(err.msg, "SHA-256 differs"));
    assert_int_equal(access(p, F_OK), 0);
    assert_int_equal(count_entries(f->qdir), 0);
    assert_int_equal(count_entries(f->user), 1);
    pal_fileop *ops = NULL;
    size_t n = 0;
    assert_int_equal(pal_store_fileop_list(f->st, PAL_FILEOP_FAILED, 0, &ops, &n, NULL), 0);
    assert_int_equal(n, 1); /* the first never got as far as the journal */
    pal_fileops_free(ops, n);
}

/* Crash after the file was renamed to its hidden name and partly copied: rolled back. */
static void test_reconcile_rolls_back_an_unrecorded_quarantine(void **state)
{
    fx *f = *state;
    char p[PATH_MAX], hidden[PATH_MAX], stmp[PATH_MAX], stray[PATH_MAX];
    pathf(p, f->user, "c.bin");
    write_file(p, content, sizeof(content) - 1);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    const char *tmp = ".palisade-q-0123456789abcdef0123456789abcdef";
    pathf(hidden, f->user, tmp);
    assert_int_equal(rename(p, hidden), 0);
    pathf(stmp, f->qdir, "ffffffffffffffffffffffffffffffff.pq.tmp");
    write_file(stmp, "partial", 7);
    pathf(stray, f->qdir, "0000.tmp");
    write_file(stray, "x", 1);
    char plan[512];
    snprintf(plan, sizeof(plan), "{\"tmp\":\"%s\",\"dev\":%llu,\"ino\":%llu,\"size\":%lld}", tmp,
             (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, (long long)st.st_size);
    int64_t op = journal(f, PAL_FILEOP_QUARANTINE, p, "ffffffffffffffffffffffffffffffff.pq", plan);
    pal_reconcile_stats s = reconcile(f);
    assert_int_equal(s.rolled_back, 1);
    assert_int_equal(s.completed, 0);
    assert_int_equal(s.temp_removed, 1);
    assert_int_equal(journal_state(f, op), PAL_FILEOP_FAILED);
    struct stat now;
    assert_int_equal(stat(p, &now), 0);
    assert_int_equal(now.st_ino, st.st_ino);
    assert_int_equal(access(hidden, F_OK), -1);
    assert_int_equal(count_entries(f->qdir), 0);
    /* a second start finds nothing to do */
    s = reconcile(f);
    assert_int_equal(s.rolled_back + s.completed + s.temp_removed, 0);
}

/* Crash after the record was written, before the hidden name was unlinked: completed, and
   only the inode of the plan is ever unlinked. */
static void test_reconcile_completes_a_recorded_quarantine(void **state)
{
    fx *f = *state;
    int64_t id = quarantine(f, "d.bin", NULL);
    pal_quarantine_item it;
    assert_int_equal(pal_store_quarantine_get(f->st, id, &it, NULL), 0);
    char mine[PATH_MAX], other[PATH_MAX];
    const char *tmp1 = ".palisade-q-11111111111111111111111111111111";
    const char *tmp2 = ".palisade-q-22222222222222222222222222222222";
    pathf(mine, f->user, tmp1);
    pathf(other, f->user, tmp2);
    write_file(mine, content, sizeof(content) - 1);
    write_file(other, content, sizeof(content) - 1);
    struct stat st;
    assert_int_equal(stat(mine, &st), 0);
    char plan[512], path[PATH_MAX];
    pathf(path, f->user, "d.bin");
    snprintf(plan, sizeof(plan), "{\"tmp\":\"%s\",\"dev\":%llu,\"ino\":%llu}", tmp1,
             (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    int64_t op1 = journal(f, PAL_FILEOP_QUARANTINE, path, it.storage_name, plan);
    /* a plan whose identity is not what sits under the hidden name */
    snprintf(plan, sizeof(plan), "{\"tmp\":\"%s\",\"dev\":%llu,\"ino\":%llu}", tmp2,
             (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    int64_t op2 = journal(f, PAL_FILEOP_QUARANTINE, path, it.storage_name, plan);
    pal_reconcile_stats s = reconcile(f);
    assert_int_equal(s.completed, 2);
    assert_int_equal(journal_state(f, op1), PAL_FILEOP_DONE);
    assert_int_equal(journal_state(f, op2), PAL_FILEOP_DONE);
    assert_int_equal(access(mine, F_OK), -1);
    assert_int_equal(access(other, F_OK), 0); /* not ours: never unlinked */
    pal_quarantine_item it2;
    assert_int_equal(pal_store_quarantine_get(f->st, id, &it2, NULL), 0);
    pal_quarantine_item_clear(&it2);
    pal_quarantine_item_clear(&it);
}

/* Crash while a restore wrote its temporary file: the item stays, the temporary goes. */
static void test_reconcile_rolls_back_a_restore(void **state)
{
    fx *f = *state;
    char p[PATH_MAX];
    int64_t id = quarantine(f, "e.bin", p);
    pal_quarantine_item it;
    assert_int_equal(pal_store_quarantine_get(f->st, id, &it, NULL), 0);
    const char *tmp = ".palisade-r-33333333333333333333333333333333";
    char hidden[PATH_MAX], plan[256];
    pathf(hidden, f->user, tmp);
    write_file(hidden, "half", 4);
    snprintf(plan, sizeof(plan), "{\"tmp\":\"%s\",\"item\":%lld}", tmp, (long long)id);
    int64_t op = journal(f, PAL_FILEOP_RESTORE, p, it.storage_name, plan);
    pal_reconcile_stats s = reconcile(f);
    assert_int_equal(s.rolled_back, 1);
    assert_int_equal(journal_state(f, op), PAL_FILEOP_FAILED);
    assert_int_equal(access(hidden, F_OK), -1);
    assert_int_equal(access(p, F_OK), -1);
    pal_quarantine_item it2;
    assert_int_equal(pal_store_quarantine_get(f->st, id, &it2, NULL), 0);
    pal_quarantine_item_clear(&it2);
    pal_quarantine_item_clear(&it);
    assert_int_equal(count_entries(f->qdir), 1);
}

/* Crash after a restore put the file in place: rolled forward (item and file deleted). */
static void test_reconcile_completes_a_restore(void **state)
{
    fx *f = *state;
    char p[PATH_MAX];
    int64_t id = quarantine(f, "g.bin", p);
    pal_quarantine_item it;
    assert_int_equal(pal_store_quarantine_get(f->st, id, &it, NULL), 0);
    write_file(p, content, sizeof(content) - 1);
    struct timespec times[2] = {{0, UTIME_OMIT},
                                {it.mtime_ns / 1000000000LL, it.mtime_ns % 1000000000LL}};
    assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
    char plan[256];
    snprintf(plan, sizeof(plan),
             "{\"tmp\":\".palisade-r-44444444444444444444444444444444\",\"item\":%lld,"
             "\"allow\":true,\"uid\":0}",
             (long long)id);
    int64_t op = journal(f, PAL_FILEOP_RESTORE, p, it.storage_name, plan);
    pal_reconcile_stats s = reconcile(f);
    assert_int_equal(s.completed, 1);
    assert_int_equal(journal_state(f, op), PAL_FILEOP_DONE);
    pal_quarantine_item it2;
    assert_int_equal(pal_store_quarantine_get(f->st, id, &it2, NULL), PAL_ENOTFOUND);
    assert_int_equal(count_entries(f->qdir), 0);
    int allowed = 0;
    assert_int_equal(pal_store_allowed_check(f->st, NULL, it.sha256, &allowed, NULL), 0);
    assert_int_equal(allowed, 1);
    pal_quarantine_item_clear(&it);
}

/* Crash in the middle of deleting an item, and the retention purge. */
static void test_remove_and_purge(void **state)
{
    fx *f = *state;
    int64_t id = quarantine(f, "h.bin", NULL);
    pal_quarantine_item it;
    assert_int_equal(pal_store_quarantine_get(f->st, id, &it, NULL), 0);
    char plan[64];
    snprintf(plan, sizeof(plan), "{\"item\":%lld}", (long long)id);
    int64_t op = journal(f, PAL_FILEOP_REMOVE, it.original_path, it.storage_name, plan);
    pal_reconcile_stats s = reconcile(f);
    assert_int_equal(s.completed, 1);
    assert_int_equal(journal_state(f, op), PAL_FILEOP_DONE);
    assert_int_equal(count_entries(f->qdir), 0);
    pal_quarantine_item_clear(&it);

    int64_t old = quarantine(f, "i.bin", NULL);
    int64_t young = quarantine(f, "j.bin", NULL);
    assert_int_equal(pal_store_quarantine_get(f->st, old, &it, NULL), 0);
    it.quarantined_at -= 31LL * 86400000LL;
    assert_int_equal(pal_store_quarantine_update(f->st, &it, NULL), 0);
    pal_quarantine_item_clear(&it);
    size_t purged = 99;
    assert_int_equal(pal_quarantine_purge(f->q, 0, 0, &purged, NULL), 0);
    assert_int_equal(purged, 0); /* 0 days: forever */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    assert_int_equal(pal_quarantine_purge(f->q, 30, now_ms, &purged, NULL), 0);
    assert_int_equal(purged, 1);
    assert_int_equal(pal_store_quarantine_get(f->st, old, &it, NULL), PAL_ENOTFOUND);
    assert_int_equal(pal_store_quarantine_get(f->st, young, &it, NULL), 0);
    pal_quarantine_item_clear(&it);
    assert_int_equal(pal_quarantine_remove(f->q, young, 0, NULL), 0);
    assert_int_equal(pal_quarantine_remove(f->q, young, 0, NULL), PAL_ENOTFOUND);
    assert_int_equal(count_entries(f->qdir), 0);
}

static void test_restore_refusals(void **state)
{
    fx *f = *state;
    char p[PATH_MAX];
    int64_t id = quarantine(f, "k.bin", p);
    write_file(p, "new", 3);
    pal_restore_req r = {.id = id, .uid = 0};
    pal_errbuf err;
    assert_int_equal(pal_quarantine_restore(f->q, &r, NULL, &err), PAL_EEXIST);
    /* damaged storage: refused before anything is written */
    pal_quarantine_item it;
    assert_int_equal(pal_store_quarantine_get(f->st, id, &it, NULL), 0);
    char stored[PATH_MAX];
    pathf(stored, f->qdir, it.storage_name);
    int fd = open(stored, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "Z", 1, (off_t)content_off(stored) + 3), 1);
    close(fd);
    r.force = true;
    assert_int_equal(pal_quarantine_restore(f->q, &r, NULL, &err), PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "SHA-256"));
    char buf[8];
    assert_int_equal(read_file(p, buf, sizeof(buf)), 3);
    assert_int_equal(count_entries(f->user), 1);
    pal_quarantine_item_clear(&it);
    /* a damaged extent map: refused as damaged, nothing written */
    fd = open(stored, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    static const uint8_t huge[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(pwrite(fd, huge, 8, PAL_QUARANTINE_HEADER_SIZE + 8), 8); /* a length */
    close(fd);
    assert_int_equal(pal_quarantine_restore(f->q, &r, NULL, &err), PAL_EFORMAT);
    assert_non_null(strstr(err.msg, "extent map"));
    assert_int_equal(read_file(p, buf, sizeof(buf)), 3);
    assert_int_equal(count_entries(f->user), 1);
    r.id = 424242;
    assert_int_equal(pal_quarantine_restore(f->q, &r, NULL, &err), PAL_ENOTFOUND);
}

/* A sparse file: quarantined into a sparse item, restored sparse and identical. */
static void test_sparse_round_trip(void **state)
{
    fx *f = *state;
    char p[PATH_MAX];
    pathf(p, f->user, "sparse.img");
    const off_t size = 64 << 20, second = 40 << 20;
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, size), 0);
    assert_int_equal(pwrite(fd, content, sizeof(content) - 1, 0), (ssize_t)sizeof(content) - 1);
    assert_int_equal(pwrite(fd, content, sizeof(content) - 1, second),
                     (ssize_t)sizeof(content) - 1);
    close(fd);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    if ((uint64_t)st.st_blocks * 512 > (1 << 20))
        skip(); /* no holes on this file system */
    pal_qspace_limits lim = {.max_item = 64 << 10, .max_total = 1 << 20};
    pal_qfile_req r = {.path = p, .scanned = &st, .threat = "Test:Unit/Q", .limits = &lim};
    int64_t id = 0;
    pal_errbuf err;
    assert_int_equal(pal_quarantine_file(f->q, &r, &id, &err), 0);
    pal_quarantine_item it;
    assert_int_equal(pal_store_quarantine_get(f->st, id, &it, NULL), 0);
    char stored[PATH_MAX];
    pathf(stored, f->qdir, it.storage_name);
    pal_quarantine_item_clear(&it);
    struct stat sst;
    assert_int_equal(stat(stored, &sst), 0);
    assert_int_equal((uint64_t)sst.st_size, content_off(stored) + (uint64_t)size);
    assert_true((uint64_t)sst.st_blocks * 512 <= (64 << 10));
    /* holes filled with zeros (a backup copied without --sparse): the map, not the holes
       of the stored file, says what is data, so the item still decodes and restores sparse */
    fd = open(stored, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    static const char zero[65536];
    assert_int_equal(pwrite(fd, zero, sizeof(zero), (off_t)content_off(stored) + (10 << 20)),
                     (ssize_t)sizeof(zero));
    close(fd);

    pal_restore_req rr = {.id = id, .uid = PAL_UID_DAEMON};
    assert_int_equal(pal_quarantine_restore(f->q, &rr, NULL, &err), 0);
    struct stat rst;
    assert_int_equal(stat(p, &rst), 0);
    assert_int_equal(rst.st_size, size);
    assert_true((uint64_t)rst.st_blocks * 512 <= (64 << 10));
    fd = open(p, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    char buf[sizeof(content)];
    assert_int_equal(pread(fd, buf, sizeof(content) - 1, second), (ssize_t)sizeof(content) - 1);
    assert_memory_equal(buf, content, sizeof(content) - 1);
    assert_int_equal(pread(fd, buf, sizeof(content) - 1, 0), (ssize_t)sizeof(content) - 1);
    assert_memory_equal(buf, content, sizeof(content) - 1);
    /* the holes are holes again, the zeros written into the item above included: the next
       data after the first block is the second write */
    off_t next = lseek(fd, 1 << 20, SEEK_DATA);
    assert_int_equal(next, second);
    close(fd);
}

/* An item written by the dense format version 1 (before sparse items) is still restored. */
static void test_version1_item_is_restored(void **state)
{
    fx *f = *state;
    size_t len = 600 << 10; /* more than one copy chunk: the stream continues across */
    uint8_t *plain = malloc(len), *enc = malloc(len);
    assert_non_null(plain);
    assert_non_null(enc);
    for (size_t i = 0; i < len; i++)
        plain[i] = (uint8_t)(i * 7 + (i >> 9));
    uint8_t key[32], iv[16], sha[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)(i + 1);
    for (int i = 0; i < 16; i++)
        iv[i] = (uint8_t)(0xA0 + i);
    sha256_of(plain, len, sha);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0;
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_chacha20(), NULL, key, iv), 1);
    assert_int_equal(EVP_EncryptUpdate(c, enc, &outl, plain, (int)len), 1);
    EVP_CIPHER_CTX_free(c);
    uint8_t h[PAL_QUARANTINE_HEADER_SIZE] = {0};
    memcpy(h, "PALQUAR\x01", 8);
    h[8] = 1;    /* version 1 */
    h[12] = 128; /* header size */
    for (int i = 0; i < 8; i++)
        h[16 + i] = (uint8_t)((uint64_t)len >> (8 * i));
    memcpy(h + 24, key, 32);
    memcpy(h + 56, iv, 16);
    memcpy(h + 72, sha, 32);
    char stored[PATH_MAX], orig[PATH_MAX];
    pathf(stored, f->qdir, "0123456789abcdef0123456789abcdef.pq");
    int fd = open(stored, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
    assert_int_equal(write(fd, enc, len), (ssize_t)len);
    close(fd);
    pathf(orig, f->user, "v1.bin");
    pal_quarantine_item it = {.threat_name = (char *)(uintptr_t) "Test:Unit/Q",
                              .original_path = orig,
                              .owner = getuid(),
                              .group = getgid(),
                              .mode = S_IFREG | 0640,
                              .mtime_ns = 1500000000LL * 1000000000LL,
                              .atime_ns = 1500000000LL * 1000000000LL,
                              .size = len,
                              .storage_name =
                                  (char *)(uintptr_t) "0123456789abcdef0123456789abcdef.pq"};
    pal_store_sha256_hex(sha, it.sha256);
    int64_t id = 0;
    assert_int_equal(pal_store_quarantine_insert(f->st, &it, &id, NULL), 0);
    pal_restore_req r = {.id = id, .uid = PAL_UID_DAEMON};
    pal_errbuf err;
    assert_int_equal(pal_quarantine_restore(f->q, &r, NULL, &err), 0);
    uint8_t *back = malloc(len + 1);
    assert_non_null(back);
    assert_int_equal(read_file(orig, (char *)back, len + 1), len);
    assert_memory_equal(back, plain, len);
    assert_int_equal(count_entries(f->qdir), 0);
    free(back);
    free(plain);
    free(enc);
}

/* Space limits: refused with the limit named, the file left in place, nothing stored. */
static void test_space_limits(void **state)
{
    fx *f = *state;
    char p[PATH_MAX];
    pathf(p, f->user, "big.bin");
    size_t len = 200 << 10;
    char *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)(i * 13 + 5);
    write_file(p, data, len);
    free(data);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    pal_qspace_limits lim = {.max_item = 64 << 10, .max_total = 1ULL << 40};
    pal_qfile_req r = {.path = p, .scanned = &st, .threat = "Test:Unit/Q", .limits = &lim};
    int64_t id = 0;
    pal_errbuf err;
    /* by the scanned allocation: refused before the file is touched */
    assert_int_equal(pal_quarantine_file(f->q, &r, &id, &err), PAL_ELIMIT);
    assert_non_null(strstr(err.msg, "quarantine limit: item "));
    assert_non_null(strstr(err.msg, "> QuarantineMaxItemBytes 64.0 KiB (65536 bytes)"));
    assert_non_null(strstr(err.msg, "was left in place"));
    pal_fileop *ops = NULL;
    size_t n = 9;
    assert_int_equal(pal_store_fileop_list(f->st, PAL_FILEOP_FAILED, 0, &ops, &n, NULL), 0);
    assert_int_equal(n, 0);
    pal_fileops_free(ops, n);
    /* a scanned allocation that understates: the exact check refuses and puts it back */
    struct stat lie = st;
    lie.st_blocks = 0;
    r.scanned = &lie;
    assert_int_equal(pal_quarantine_file(f->q, &r, &id, &err), PAL_ELIMIT);
    assert_non_null(strstr(err.msg, "QuarantineMaxItemBytes"));
    struct stat now;
    assert_int_equal(stat(p, &now), 0);
    assert_true(now.st_ino == st.st_ino && now.st_size == st.st_size);
    assert_int_equal(count_entries(f->user), 1);
    assert_int_equal(count_entries(f->qdir), 0);
    assert_int_equal(pal_store_fileop_list(f->st, PAL_FILEOP_FAILED, 0, &ops, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_non_null(strstr(ops[0].detail, "QuarantineMaxItemBytes"));
    pal_fileops_free(ops, n);
    /* the free-space reserve */
    r.scanned = &st;
    lim.max_item = 1ULL << 40;
    lim.min_free_percent = 100;
    assert_int_equal(pal_quarantine_file(f->q, &r, &id, &err), PAL_ELIMIT);
    assert_non_null(strstr(err.msg, "QuarantineMinFreePercent 100%"));
    /* the total: what is in the quarantine counts by its allocation */
    lim.min_free_percent = 0;
    int64_t first = quarantine(f, "small.bin", NULL);
    assert_true(first > 0);
    uint64_t used = 0;
    int qfd = open(f->qdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(qfd >= 0);
    assert_int_equal(pal_qspace_used(qfd, &used, NULL), 0);
    close(qfd);
    assert_true(used > 0 && used <= (64 << 10));
    lim.max_total = used + 4096; /* the next item needs at least two blocks */
    pathf(p, f->user, "small2.bin");
    write_file(p, content, sizeof(content) - 1);
    assert_int_equal(stat(p, &st), 0);
    r.path = p;
    assert_int_equal(pal_quarantine_file(f->q, &r, &id, &err), PAL_ELIMIT);
    assert_non_null(strstr(err.msg, "in quarantine + item"));
    assert_non_null(strstr(err.msg, "QuarantineMaxTotalBytes"));
    assert_int_equal(access(p, F_OK), 0);
    assert_int_equal(count_entries(f->qdir), 1);
    lim.max_total += 64 << 10;
    assert_int_equal(pal_quarantine_file(f->q, &r, &id, &err), 0);
    assert_int_equal(count_entries(f->qdir), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_file_is_left_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_rolls_back_an_unrecorded_quarantine, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_completes_a_recorded_quarantine, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_rolls_back_a_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconcile_completes_a_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_and_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sparse_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version1_item_is_restored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_space_limits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
