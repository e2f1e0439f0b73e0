/*
 * test_cpmsg.c — the broker <-> content process wire format (agent/ipc/cpmsg.h): every type
 * round-trips; every malformed case the decoder must refuse is refused; mutated and
 * truncated valid messages never crash it, and whatever it accepts re-encodes to the very
 * same bytes; the meaning checks (chains, matched-by, UTF-8) refuse what the engine never
 * writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpmsg.h"

static uint8_t g_buf[PAL_CPMSG_MAX + 64];
static uint8_t g_buf2[PAL_CPMSG_MAX + 64];

static pal_cpmsg_bytes B(const char *s)
{
    pal_cpmsg_bytes b = {.p = (const uint8_t *)s, .len = (uint32_t)strlen(s)};
    return b;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- valid samples of every type --------------------------------------------------------- */

static pal_cpmsg config_msg(void)
{
    pal_cpmsg m = {.type = PAL_CPMSG_CONFIG, .id = 0};
    pal_cpmsg_config *c = &m.u.config;
    c->version = PAL_CPMSG_VERSION;
    c->channels = 2;
    c->flags = PAL_CPMSG_CFG_BULK_SHM | PAL_CPMSG_CFG_MOUNT_NS;
    c->id_mode = PAL_CPMSG_IDS_DROP;
    c->uid = 65534;
    c->gid = 65534;
    c->shm_stride = 4096 + PAL_CPMSG_REQ_MAX;
    c->shm_size = 2ULL * c->shm_stride;
    c->fail_step = 0;
    c->rlimit_as = 1ULL << 32;
    c->rlimit_cpu = 86400;
    c->max_depth = 8;
    c->max_ratio = 250;
    c->max_members = 100000;
    c->max_expanded_bytes = 1ULL << 30;
    c->max_object_size = 256ULL << 20;
    c->max_scan_ms = 120000;
    return m;
}

static pal_cpmsg ready_msg(void)
{
    pal_cpmsg m = {.type = PAL_CPMSG_READY, .id = 0};
    m.u.ready.version = PAL_CPMSG_VERSION;
    m.u.ready.steps = (1U << PAL_CPMSG_STEP_SECCOMP) | (1U << PAL_CPMSG_STEP_PDEATHSIG);
    m.u.ready.landlock_abi = 7;
    m.u.ready.uid = 65534;
    m.u.ready.gid = 65534;
    m.u.ready.build_flags = PAL_CPMSG_BUILD_SELFTEST;
    m.u.ready.package_version = 42;
    m.u.ready.rule_count = 5;
    m.u.ready.hash_count = 1;
    return m;
}

static pal_cpmsg scan_msg(void)
{
    static const char data[] = "some bytes of the object";
    pal_cpmsg m = {.type = PAL_CPMSG_SCAN, .id = 7};
    m.u.scan.size = sizeof(data) - 1;
    m.u.scan.status = PAL_CPMSG_ST_OK;
    m.u.scan.name = B("/srv/a.zip");
    m.u.scan.data = B(data);
    return m;
}

/* SCAN whose first bytes wait in the slot's bulk area */
static pal_cpmsg scan_shm_msg(void)
{
    pal_cpmsg m = {.type = PAL_CPMSG_SCAN, .id = 8, .flags = PAL_CPMSG_SCAN_SHM};
    m.u.scan.size = 5000;
    m.u.scan.status = PAL_CPMSG_ST_OK;
    m.u.scan.bulk_off = 4096;
    m.u.scan.name = B("notes.txt");
    m.u.scan.data.len = 5000;
    return m;
}

static uint8_t g_items[2][8192]; /* the bundles' items, built once per sample */

/* A bundle of the given messages, its items in store. */
static pal_cpmsg bundle_of(uint16_t type, const pal_cpmsg *msgs, size_t n, uint8_t *store,
                           size_t cap)
{
    pal_cpmsg_bundler b;
    pal_cpmsg_bundle_start(&b, store, cap);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pal_cpmsg_bundle_add(&b, &msgs[i]), 0);
    size_t len = pal_cpmsg_bundle_finish(&b, type);
    assert_int_equal(len, b.len);
    pal_cpmsg m = {.type = type, .id = 0};
    m.u.items.p = store + PAL_CPMSG_BUNDLE_FIXED;
    m.u.items.len = (uint32_t)(len - PAL_CPMSG_BUNDLE_FIXED);
    return m;
}

static pal_cpmsg requests_msg(void)
{
    pal_cpmsg scans[3] = {scan_shm_msg(), scan_shm_msg(), scan_shm_msg()};
    scans[1].id = 9;
    scans[1].u.scan.bulk_off = 9096;
    scans[2].id = 10;
    scans[2].u.scan.size = scans[2].u.scan.data.len = 0;
    scans[2].u.scan.bulk_off = 14096;
    return bundle_of(PAL_CPMSG_REQUESTS, scans, 3, g_items[0], sizeof(g_items[0]));
}

static pal_cpmsg data_msg(void)
{
    pal_cpmsg m = {.type = PAL_CPMSG_DATA, .id = 7, .flags = PAL_CPMSG_DATA_LAST};
    m.u.data.off = 65536;
    m.u.data.status = PAL_CPMSG_ST_EOF;
    m.u.data.data = B("tail bytes");
    m.u.data.len = m.u.data.data.len;
    return m;
}

static pal_cpmsg data_shm_msg(void)
{
    pal_cpmsg m = {
        .type = PAL_CPMSG_DATA, .id = 7, .flags = PAL_CPMSG_DATA_LAST | PAL_CPMSG_DATA_SHM};
    m.u.data.off = 65536;
    m.u.data.status = PAL_CPMSG_ST_OK;
    m.u.data.len = PAL_CPMSG_REQ_MAX;
    return m;
}

static pal_cpmsg selftest_msg(void)
{
    pal_cpmsg m = {.type = PAL_CPMSG_SELFTEST, .id = 9};
    m.u.selftest.action = PAL_CPMSG_ATTACK_CONNECT_CONTROL;
    m.u.selftest.arg = 1234;
    m.u.selftest.path = B("/run/palisade/palisaded.sock");
    return m;
}

static pal_cpmsg data_req_msg(void)
{
    pal_cpmsg m = {.type = PAL_CPMSG_DATA_REQ, .id = 7};
    m.u.data_req.off = 65536;
    m.u.data_req.len = PAL_CPMSG_REQ_MAX;
    return m;
}

static pal_cpmsg result_msg(void)
{
    pal_cpmsg m = {.type = PAL_CPMSG_RESULT, .id = 7};
    pal_cpmsg_result *r = &m.u.result;
    r->verdict = 1; /* threat */
    r->reason = 9;  /* corrupt */
    r->flags = PAL_CPMSG_RES_SHA_VALID;
    r->n_findings = 2;
    r->size = 1000;
    r->bytes_read = 1000;
    r->objects_scanned = 3;
    memset(r->sha256, 0xab, 32);
    r->chain = B("/srv/a.zip->b.txt");
    r->detail = B("libarchive: ZIP bad CRC");
    return m;
}

static pal_cpmsg finding_msg(void)
{
    pal_cpmsg m = {.type = PAL_CPMSG_FINDING, .id = 7};
    pal_cpmsg_finding *f = &m.u.finding;
    f->index = 1;
    f->size = 68;
    memset(f->sha256, 0x27, 32);
    f->threat = B("Virus:DOS/EICAR_Test_File");
    f->chain = B("/srv/a.zip->docs/eicar.com");
    f->by = B("yara:Virus_DOS_EICAR_Test_File");
    return m;
}

static pal_cpmsg selftest_result_msg(void)
{
    pal_cpmsg m = {.type = PAL_CPMSG_SELFTEST_RESULT, .id = 9};
    m.u.selftest_result.action = PAL_CPMSG_ATTACK_OPEN_PASSWD;
    m.u.selftest_result.err = 1;
    return m;
}

static pal_cpmsg error_msg(void)
{
    pal_cpmsg m = {.type = PAL_CPMSG_ERROR, .id = 7};
    m.u.error_code = PAL_ENOMEM;
    return m;
}

static pal_cpmsg answers_msg(void)
{
    pal_cpmsg answers[3] = {result_msg(), finding_msg(), error_msg()};
    answers[1].u.finding.index = 0;
    answers[2].id = 8;
    return bundle_of(PAL_CPMSG_ANSWERS, answers, 3, g_items[1], sizeof(g_items[1]));
}

typedef pal_cpmsg (*sample_fn)(void);
static const sample_fn k_samples[] = {config_msg,   ready_msg,    scan_msg,     scan_shm_msg,
                                      data_msg,     data_shm_msg, selftest_msg, requests_msg,
                                      data_req_msg, result_msg,   finding_msg,  selftest_result_msg,
                                      error_msg,    answers_msg};
#define N_SAMPLES (sizeof(k_samples) / sizeof(k_samples[0]))

static pal_cpmsg_dir dir_of(uint16_t type)
{
    return (type & 0x80) ? PAL_CPMSG_FROM_CP : PAL_CPMSG_FROM_BROKER;
}

static size_t enc(const pal_cpmsg *m)
{
    size_t n = pal_cpmsg_encode(m, g_buf, PAL_CPMSG_MAX);
    assert_true(n >= PAL_CPMSG_HDR);
    return n;
}

static int dec(size_t len, pal_cpmsg_dir dir, pal_cpmsg *out)
{
    pal_errbuf err = {{0}};
    int rc = pal_cpmsg_decode(g_buf, len, dir, out, &err);
    if (rc != 0) {
        assert_int_equal(rc, PAL_EPROTO);
        assert_true(err.msg[0] != '\0'); /* every refusal says why */
    }
    return rc;
}

static int bytes_eq(pal_cpmsg_bytes a, pal_cpmsg_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* ---- round trips ------------------------------------------------------------------------ */

static void test_roundtrip_every_type(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_SAMPLES; i++) {
        pal_cpmsg m = k_samples[i](), d;
        size_t n = enc(&m);
        assert_int_equal(dec(n, dir_of(m.type), &d), 0);
        assert_int_equal(d.type, m.type);
        assert_int_equal(d.flags, m.flags);
        assert_true(d.id == m.id);
        /* and it re-encodes to the same bytes */
        size_t n2 = pal_cpmsg_encode(&d, g_buf2, PAL_CPMSG_MAX);
        assert_int_equal(n2, n);
        assert_memory_equal(g_buf, g_buf2, n);
    }
    /* a few fields in detail */
    pal_cpmsg m = scan_msg(), d;
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_BROKER, &d), 0);
    assert_true(bytes_eq(d.u.scan.name, m.u.scan.name) && bytes_eq(d.u.scan.data, m.u.scan.data));
    assert_true(d.u.scan.size == m.u.scan.size);
    m = config_msg();
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_BROKER, &d), 0);
    assert_memory_equal(&d.u.config, &m.u.config, sizeof(m.u.config));
    m = result_msg();
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_CP, &d), 0);
    assert_true(bytes_eq(d.u.result.chain, m.u.result.chain) &&
                bytes_eq(d.u.result.detail, m.u.result.detail));
    assert_memory_equal(d.u.result.sha256, m.u.result.sha256, 32);
    m = finding_msg();
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_CP, &d), 0);
    assert_true(bytes_eq(d.u.finding.threat, m.u.finding.threat) &&
                bytes_eq(d.u.finding.chain, m.u.finding.chain) &&
                bytes_eq(d.u.finding.by, m.u.finding.by));
    m = error_msg();
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_CP, &d), 0);
    assert_int_equal(d.u.error_code, PAL_ENOMEM);
}

/* SCAN and DATA encoded with their data already in place in the buffer */
static void test_encode_in_place(void **state)
{
    (void)state;
    pal_cpmsg m = scan_msg(), d;
    const char *name = "/x/y";
    uint8_t *inl = g_buf + PAL_CPMSG_SCAN_FIXED + strlen(name);
    memcpy(inl, "ABCDEFGH", 8);
    m.u.scan.name = B(name);
    m.u.scan.data.p = inl;
    m.u.scan.data.len = 8;
    m.u.scan.size = 8;
    size_t n = pal_cpmsg_encode(&m, g_buf, PAL_CPMSG_MAX);
    assert_int_equal(n, PAL_CPMSG_SCAN_FIXED + 4 + 8);
    assert_int_equal(dec(n, PAL_CPMSG_FROM_BROKER, &d), 0);
    assert_memory_equal(d.u.scan.data.p, "ABCDEFGH", 8);
    assert_memory_equal(d.u.scan.name.p, name, 4);

    m = data_msg();
    memcpy(g_buf + PAL_CPMSG_DATA_FIXED, "0123456789", 10);
    m.u.data.data.p = g_buf + PAL_CPMSG_DATA_FIXED;
    m.u.data.data.len = 10;
    m.u.data.len = 10;
    n = pal_cpmsg_encode(&m, g_buf, PAL_CPMSG_MAX);
    assert_int_equal(dec(n, PAL_CPMSG_FROM_BROKER, &d), 0);
    assert_memory_equal(d.u.data.data.p, "0123456789", 10);
}

/* ---- the encoder refuses what breaks the limits ------------------------------------------ */

static void test_encode_refusals(void **state)
{
    (void)state;
    static char big[PAL_CPMSG_CHAIN_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    pal_cpmsg m = {.type = 0x42};
    assert_int_equal(pal_cpmsg_encode(&m, g_buf, PAL_CPMSG_MAX), 0); /* unknown type */
    m = scan_msg();
    m.flags = 2;
    assert_int_equal(pal_cpmsg_encode(&m, g_buf, PAL_CPMSG_MAX), 0); /* unknown flag on SCAN */
    m = scan_msg();
    m.u.scan.name.p = (const uint8_t *)big;
    m.u.scan.name.len = PAL_CPMSG_NAME_MAX + 1;
    assert_int_equal(pal_cpmsg_encode(&m, g_buf, PAL_CPMSG_MAX), 0);
    m = result_msg();
    m.u.result.chain.p = (const uint8_t *)big;
    m.u.result.chain.len = PAL_CPMSG_CHAIN_MAX + 1;
    assert_int_equal(pal_cpmsg_encode(&m, g_buf, PAL_CPMSG_MAX), 0);
    m = finding_msg();
    m.u.finding.threat.p = (const uint8_t *)big;
    m.u.finding.threat.len = PAL_CPMSG_THREAT_MAX + 1;
    assert_int_equal(pal_cpmsg_encode(&m, g_buf, PAL_CPMSG_MAX), 0);
    m = data_msg();
    m.u.data.len = 3; /* disagrees with the payload */
    assert_int_equal(pal_cpmsg_encode(&m, g_buf, PAL_CPMSG_MAX), 0);
    m = finding_msg();
    assert_int_equal(pal_cpmsg_encode(&m, g_buf, 80), 0); /* does not fit */
    assert_int_equal(pal_cpmsg_encode(&m, g_buf, 10), 0);
    assert_int_equal(pal_cpmsg_encode(NULL, g_buf, PAL_CPMSG_MAX), 0);
}

/* ---- the header ------------------------------------------------------------------------- */

static void test_header_refusals(void **state)
{
    (void)state;
    pal_cpmsg d;
    pal_errbuf err;
    assert_int_equal(pal_cpmsg_decode(NULL, 100, PAL_CPMSG_FROM_CP, &d, &err), PAL_EPROTO);
    pal_cpmsg m = data_req_msg();
    size_t n = enc(&m);
    for (size_t len = 0; len < PAL_CPMSG_HDR; len++)
        assert_int_equal(dec(len, PAL_CPMSG_FROM_CP, &d), PAL_EPROTO);
    /* over the maximum, even if the header agrees */
    put32(g_buf + 4, PAL_CPMSG_MAX + 1);
    assert_int_equal(dec(PAL_CPMSG_MAX + 1, PAL_CPMSG_FROM_CP, &d), PAL_EPROTO);
    /* header length differs from the datagram */
    n = enc(&m);
    put32(g_buf + 4, (uint32_t)n + 1);
    assert_int_equal(dec(n, PAL_CPMSG_FROM_CP, &d), PAL_EPROTO);
    /* unknown types */
    static const uint16_t k_bad[] = {0, 6, 0x7f, 0x80, 0x88, 0xff, 0x103, 0xffff};
    for (size_t i = 0; i < sizeof(k_bad) / sizeof(k_bad[0]); i++) {
        n = enc(&m);
        g_buf[0] = (uint8_t)k_bad[i];
        g_buf[1] = (uint8_t)(k_bad[i] >> 8);
        assert_int_equal(dec(n, PAL_CPMSG_FROM_CP, &d), PAL_EPROTO);
        assert_int_equal(dec(n, PAL_CPMSG_FROM_BROKER, &d), PAL_EPROTO);
    }
    /* every type from the wrong side */
    for (size_t i = 0; i < N_SAMPLES; i++) {
        pal_cpmsg s = k_samples[i]();
        n = enc(&s);
        pal_cpmsg_dir wrong =
            dir_of(s.type) == PAL_CPMSG_FROM_CP ? PAL_CPMSG_FROM_BROKER : PAL_CPMSG_FROM_CP;
        assert_int_equal(dec(n, wrong, &d), PAL_EPROTO);
    }
    /* flags: none allowed except DATA's two and SCAN's one */
    for (size_t i = 0; i < N_SAMPLES; i++) {
        pal_cpmsg s = k_samples[i]();
        n = enc(&s);
        uint16_t bad = s.type == PAL_CPMSG_DATA ? 0x4 : s.type == PAL_CPMSG_SCAN ? 0x2 : 0x1;
        g_buf[2] |= (uint8_t)bad;
        assert_int_equal(dec(n, dir_of(s.type), &d), PAL_EPROTO);
    }
    /* shorter than the fixed part (the header agreeing), and trailing bytes */
    for (size_t i = 0; i < N_SAMPLES; i++) {
        pal_cpmsg s = k_samples[i]();
        n = enc(&s);
        put32(g_buf + 4, (uint32_t)(n - 1));
        assert_int_equal(dec(n - 1, dir_of(s.type), &d), PAL_EPROTO);
        n = enc(&s);
        g_buf[n] = 0;
        put32(g_buf + 4, (uint32_t)(n + 1));
        assert_int_equal(dec(n + 1, dir_of(s.type), &d), PAL_EPROTO);
    }
    /* out stays untouched on failure */
    memset(&d, 0x5a, sizeof(d));
    pal_cpmsg before = d;
    n = enc(&m);
    put32(g_buf + 24, 0);
    assert_int_equal(dec(n, PAL_CPMSG_FROM_CP, &d), PAL_EPROTO);
    assert_memory_equal(&d, &before, sizeof(d));
}

/* Encode the sample, let fix() damage it, and expect a refusal. */
typedef void (*damage_fn)(pal_cpmsg *m, uint8_t *b);

static void refused(sample_fn sample, damage_fn before, damage_fn after)
{
    pal_cpmsg m = sample(), d;
    if (before)
        before(&m, NULL);
    size_t n = pal_cpmsg_encode(&m, g_buf, PAL_CPMSG_MAX);
    assert_true(n >= PAL_CPMSG_HDR);
    if (after)
        after(&m, g_buf);
    assert_int_equal(dec(n, dir_of(m.type), &d), PAL_EPROTO);
}

/* ---- CONFIG and READY ------------------------------------------------------------------- */

#define DAMAGE(name, body)                                                                         \
    static void name(pal_cpmsg *m, uint8_t *b)                                                     \
    {                                                                                              \
        (void)m;                                                                                   \
        (void)b;                                                                                   \
        body;                                                                                      \
    }

DAMAGE(cfg_id, m->id = 1)
DAMAGE(cfg_version, m->u.config.version = PAL_CPMSG_VERSION - 1) /* an older build's broker */
DAMAGE(cfg_channels0, m->u.config.channels = 0)
DAMAGE(cfg_channels65, m->u.config.channels = 65;
       m->u.config.shm_size = 65ULL * m->u.config.shm_stride)
DAMAGE(cfg_flags, m->u.config.flags = 0x8)
DAMAGE(cfg_idmode, m->u.config.id_mode = 3)
DAMAGE(cfg_shm_size, m->u.config.shm_size += 4096)
DAMAGE(cfg_stride, m->u.config.shm_stride = 4097; m->u.config.shm_size = 2 * 4097)
DAMAGE(cfg_stride0, m->u.config.shm_stride = 0; m->u.config.shm_size = 0)
DAMAGE(cfg_bulk_small, m->u.config.shm_stride = 8192; m->u.config.shm_size = 16384)
DAMAGE(cfg_fail_step, m->u.config.fail_step = PAL_CPMSG_STEP_COUNT)
DAMAGE(cfg_depth, m->u.config.max_depth = 65)
DAMAGE(cfg_ratio, m->u.config.max_ratio = 0)
DAMAGE(cfg_objsize, m->u.config.max_object_size = 0)
DAMAGE(cfg_scanms, m->u.config.max_scan_ms = 0)
DAMAGE(cfg_reserved, put32(b + 108, 1))
DAMAGE(rdy_version, m->u.ready.version = 0)
DAMAGE(rdy_steps, m->u.ready.steps = 1U << PAL_CPMSG_STEP_COUNT)
DAMAGE(rdy_landlock, m->u.ready.landlock_abi = -1)
DAMAGE(rdy_build, m->u.ready.build_flags = 0x4)

static void test_config_ready_refusals(void **state)
{
    (void)state;
    damage_fn cfg_before[] = {cfg_version,    cfg_channels0, cfg_channels65, cfg_flags,
                              cfg_idmode,     cfg_shm_size,  cfg_stride,     cfg_stride0,
                              cfg_bulk_small, cfg_fail_step, cfg_depth,      cfg_ratio,
                              cfg_objsize,    cfg_scanms};
    for (size_t i = 0; i < sizeof(cfg_before) / sizeof(cfg_before[0]); i++)
        refused(config_msg, cfg_before[i], NULL);
    refused(config_msg, cfg_id, NULL);
    refused(config_msg, NULL, cfg_reserved);
    damage_fn rdy[] = {rdy_version, rdy_steps, rdy_landlock, rdy_build};
    for (size_t i = 0; i < sizeof(rdy) / sizeof(rdy[0]); i++)
        refused(ready_msg, rdy[i], NULL);
    /* without bulk shared memory a control page per slot is enough */
    pal_cpmsg m = config_msg(), d;
    m.u.config.flags = 0;
    m.u.config.shm_stride = 4096;
    m.u.config.shm_size = 8192;
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_BROKER, &d), 0);
}

/* ---- SCAN, DATA, DATA_REQ, SELFTEST ----------------------------------------------------- */

static const char k_nul_name[] = "/a\0b";

DAMAGE(scan_bulk_off_no_flag, put32(b + 36, 1))
DAMAGE(scan_shm_past_area, m->u.scan.bulk_off = PAL_CPMSG_REQ_MAX - 4999)
DAMAGE(scan_shm_off_huge, m->u.scan.bulk_off = UINT32_MAX - 10)
DAMAGE(scan_shm_short_ok, m->u.scan.data.len = 4999)
DAMAGE(scan_name0, m->u.scan.name.len = 0)
DAMAGE(scan_name_nul, m->u.scan.name.p = (const uint8_t *)k_nul_name; m->u.scan.name.len = 4)
DAMAGE(scan_status, m->u.scan.status = 2)
DAMAGE(scan_status_neg, m->u.scan.status = -18)
DAMAGE(scan_short_ok, m->u.scan.size = 100) /* status OK, yet fewer inline bytes */
DAMAGE(scan_data_gt_size, m->u.scan.size = 3; m->u.scan.status = PAL_CPMSG_ST_EOF)
DAMAGE(scan_name_len_big, put32(b + 28, PAL_CPMSG_NAME_MAX + 1))
DAMAGE(scan_data_len_big, put32(b + 32, PAL_CPMSG_INLINE_MAX + 1))
DAMAGE(scan_strings_past_end, put32(b + 28, 1000))
DAMAGE(data_status, m->u.data.status = 7)
DAMAGE(data_overflow, m->u.data.off = UINT64_MAX - 3)
DAMAGE(data_status_not_last, m->flags = 0)
DAMAGE(data_len_past_end, put32(b + 28, 100))
DAMAGE(data_chunk_big, put32(b + 28, PAL_CPMSG_CHUNK_MAX + 1))
DAMAGE(shm_not_last, m->flags = PAL_CPMSG_DATA_SHM)
DAMAGE(shm_too_big, put32(b + 28, PAL_CPMSG_REQ_MAX + 1))
DAMAGE(req_len0, m->u.data_req.len = 0)
DAMAGE(req_len_big, put32(b + 24, PAL_CPMSG_REQ_MAX + 1))
DAMAGE(req_overflow, m->u.data_req.off = UINT64_MAX - 10)
DAMAGE(req_reserved, put32(b + 28, 5))
DAMAGE(st_action0, m->u.selftest.action = 0)
DAMAGE(st_action_big, m->u.selftest.action = PAL_CPMSG_ATTACK_COUNT)
DAMAGE(st_path_nul, m->u.selftest.path.p = (const uint8_t *)k_nul_name; m->u.selftest.path.len = 4)
DAMAGE(st_path_big, put32(b + 20, PAL_CPMSG_PATH_MAX + 1))
DAMAGE(st_path_past_end, put32(b + 20, 200))

static void test_request_refusals(void **state)
{
    (void)state;
    damage_fn scan_b[] = {scan_name0,      scan_name_nul, scan_status,
                          scan_status_neg, scan_short_ok, scan_data_gt_size};
    for (size_t i = 0; i < sizeof(scan_b) / sizeof(scan_b[0]); i++)
        refused(scan_msg, scan_b[i], NULL);
    damage_fn scan_a[] = {scan_bulk_off_no_flag, scan_name_len_big, scan_data_len_big,
                          scan_strings_past_end};
    for (size_t i = 0; i < sizeof(scan_a) / sizeof(scan_a[0]); i++)
        refused(scan_msg, NULL, scan_a[i]);
    damage_fn shm_b[] = {scan_shm_past_area, scan_shm_off_huge, scan_shm_short_ok, scan_name0};
    for (size_t i = 0; i < sizeof(shm_b) / sizeof(shm_b[0]); i++)
        refused(scan_shm_msg, shm_b[i], NULL);
    refused(data_msg, data_status, NULL);
    refused(data_msg, data_overflow, NULL);
    refused(data_msg, data_status_not_last, NULL);
    refused(data_msg, NULL, data_len_past_end);
    refused(data_msg, NULL, data_chunk_big);
    refused(data_shm_msg, shm_not_last, NULL);
    refused(data_shm_msg, NULL, shm_too_big);
    refused(data_req_msg, req_len0, NULL);
    refused(data_req_msg, req_overflow, NULL);
    refused(data_req_msg, NULL, req_len_big);
    refused(data_req_msg, NULL, req_reserved);
    refused(selftest_msg, st_action0, NULL);
    refused(selftest_msg, st_action_big, NULL);
    refused(selftest_msg, st_path_nul, NULL);
    refused(selftest_msg, NULL, st_path_big);
    refused(selftest_msg, NULL, st_path_past_end);

    /* through the bulk area the first bytes may be the whole area's worth: an object of up
       to PAL_CPMSG_REQ_MAX bytes whole, the first PAL_CPMSG_REQ_MAX of a larger one; inline
       at most PAL_CPMSG_INLINE_MAX */
    pal_cpmsg big = scan_shm_msg(), dbig;
    big.u.scan.bulk_off = 0;
    big.u.scan.size = big.u.scan.data.len = PAL_CPMSG_REQ_MAX;
    assert_int_equal(dec(enc(&big), PAL_CPMSG_FROM_BROKER, &dbig), 0);
    big.u.scan.size = 3ULL * PAL_CPMSG_REQ_MAX;
    assert_int_equal(dec(enc(&big), PAL_CPMSG_FROM_BROKER, &dbig), 0);
    assert_int_equal(dbig.u.scan.data.len, PAL_CPMSG_REQ_MAX);
    big.u.scan.data.len = PAL_CPMSG_INLINE_MAX; /* status OK yet short of the area's worth */
    assert_int_equal(dec(enc(&big), PAL_CPMSG_FROM_BROKER, &dbig), PAL_EPROTO);
    big.u.scan.bulk_off = 64;
    big.u.scan.data.len = PAL_CPMSG_REQ_MAX; /* past the end of the area */
    assert_int_equal(dec(enc(&big), PAL_CPMSG_FROM_BROKER, &dbig), PAL_EPROTO);

    /* a short inline part is fine with an end status, and an error status */
    pal_cpmsg m = scan_msg(), d;
    m.u.scan.size = 100;
    m.u.scan.status = PAL_CPMSG_ST_EOF;
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_BROKER, &d), 0);
    m.u.scan.status = PAL_EIO;
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_BROKER, &d), 0);
    assert_int_equal(d.u.scan.status, PAL_EIO);
}

/* ---- REQUESTS and ANSWERS ---------------------------------------------------------------- */

/* Decode g_buf as a bundle from dir and every item in it; the number of items, or -1 when
   the bundle or one of its items is refused. */
static int walk_bundle(size_t n, pal_cpmsg_dir dir, uint16_t want_type)
{
    pal_cpmsg d;
    if (dec(n, dir, &d) != 0)
        return -1;
    assert_int_equal(d.type, want_type);
    pal_cpmsg_bytes rest = d.u.items, item;
    int count = 0;
    while (pal_cpmsg_bundle_next(&rest, &item)) {
        pal_cpmsg one;
        pal_errbuf err;
        if (pal_cpmsg_decode(item.p, item.len, dir, &one, &err) != 0)
            return -1;
        count++;
    }
    assert_int_equal(rest.len, 0);
    return count;
}

static void test_bundles(void **state)
{
    (void)state;
    /* the items come back in order, each a message as if it had come alone */
    pal_cpmsg m = requests_msg(), d;
    size_t n = enc(&m);
    assert_int_equal(walk_bundle(n, PAL_CPMSG_FROM_BROKER, PAL_CPMSG_REQUESTS), 3);
    assert_int_equal(dec(n, PAL_CPMSG_FROM_BROKER, &d), 0);
    pal_cpmsg_bytes rest = d.u.items, item;
    uint64_t ids[3];
    for (int i = 0; i < 3; i++) {
        assert_true(pal_cpmsg_bundle_next(&rest, &item));
        pal_cpmsg one;
        pal_errbuf err;
        assert_int_equal(pal_cpmsg_decode(item.p, item.len, PAL_CPMSG_FROM_BROKER, &one, &err), 0);
        assert_int_equal(one.type, PAL_CPMSG_SCAN);
        assert_true(one.flags & PAL_CPMSG_SCAN_SHM);
        assert_null(one.u.scan.data.p);
        ids[i] = one.id;
    }
    assert_false(pal_cpmsg_bundle_next(&rest, &item));
    assert_true(ids[0] == 8 && ids[1] == 9 && ids[2] == 10);
    m = answers_msg();
    assert_int_equal(walk_bundle(enc(&m), PAL_CPMSG_FROM_CP, PAL_CPMSG_ANSWERS), 3);

    /* framing the decoder refuses: an id, an empty bundle, a bundle in a bundle, an item
       from the other side, an item whose header disagrees with its length, an item cut
       short or running past the end, a length under a header */
    m = requests_msg();
    m.id = 1;
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_BROKER, &d), PAL_EPROTO);
    m = requests_msg();
    m.u.items.len = 0;
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_BROKER, &d), PAL_EPROTO);
    static uint8_t inner[4096], outer[8192];
    pal_cpmsg nest = requests_msg();
    size_t in_len = pal_cpmsg_encode(&nest, inner, sizeof(inner));
    assert_true(in_len > 0);
    put32(outer + PAL_CPMSG_BUNDLE_FIXED, (uint32_t)in_len);
    memcpy(outer + PAL_CPMSG_BUNDLE_FIXED + 4, inner, in_len);
    m = (pal_cpmsg){.type = PAL_CPMSG_REQUESTS};
    m.u.items.p = outer + PAL_CPMSG_BUNDLE_FIXED;
    m.u.items.len = (uint32_t)(4 + in_len);
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_BROKER, &d), PAL_EPROTO);
    pal_cpmsg mixed[2] = {scan_shm_msg(), result_msg()};
    pal_cpmsg_bundler b;
    pal_cpmsg_bundle_start(&b, outer, sizeof(outer));
    assert_int_equal(pal_cpmsg_bundle_add(&b, &mixed[0]), 0);
    assert_int_equal(pal_cpmsg_bundle_add(&b, &mixed[1]), 0);
    n = pal_cpmsg_bundle_finish(&b, PAL_CPMSG_REQUESTS);
    memcpy(g_buf, outer, n);
    assert_int_equal(dec(n, PAL_CPMSG_FROM_BROKER, &d), PAL_EPROTO);
    m = requests_msg();
    n = enc(&m);
    put32(g_buf + PAL_CPMSG_BUNDLE_FIXED + 4 + 4, 17); /* the first item's own length */
    assert_int_equal(dec(n, PAL_CPMSG_FROM_BROKER, &d), PAL_EPROTO);
    n = enc(&m);
    put32(g_buf + PAL_CPMSG_BUNDLE_FIXED, 100000); /* the first item's frame */
    assert_int_equal(dec(n, PAL_CPMSG_FROM_BROKER, &d), PAL_EPROTO);
    n = enc(&m);
    put32(g_buf + PAL_CPMSG_BUNDLE_FIXED, 8);
    assert_int_equal(dec(n, PAL_CPMSG_FROM_BROKER, &d), PAL_EPROTO);
    for (size_t cut = 1; cut < 8; cut++) {
        n = enc(&m);
        put32(g_buf + 4, (uint32_t)(n - cut));
        assert_int_equal(dec(n - cut, PAL_CPMSG_FROM_BROKER, &d), PAL_EPROTO);
    }
    /* an item the framing lets through is still decoded strictly: a SCAN with a NUL in its
       name inside a well-framed bundle is refused when it is taken */
    pal_cpmsg bad = scan_shm_msg();
    bad.u.scan.name.p = (const uint8_t *)"/a\0b";
    bad.u.scan.name.len = 4;
    m = bundle_of(PAL_CPMSG_REQUESTS, &bad, 1, outer, sizeof(outer));
    assert_int_equal(walk_bundle(enc(&m), PAL_CPMSG_FROM_BROKER, PAL_CPMSG_REQUESTS), -1);

    /* the builder: nothing to finish without an item, a bundle is no item, and what does
       not fit is refused and leaves the bundle as it was */
    pal_cpmsg_bundle_start(&b, outer, sizeof(outer));
    assert_int_equal(pal_cpmsg_bundle_finish(&b, PAL_CPMSG_REQUESTS), 0);
    pal_cpmsg r = requests_msg();
    assert_int_equal(pal_cpmsg_bundle_add(&b, &r), -1);
    pal_cpmsg_bundle_start(&b, outer, 200);
    pal_cpmsg f = finding_msg();
    assert_int_equal(pal_cpmsg_bundle_add(&b, &f), 0);
    size_t before = b.len;
    assert_int_equal(pal_cpmsg_bundle_add(&b, &f), -1);
    assert_int_equal(b.len, before);
    assert_int_equal(b.count, 1);
    assert_int_equal(pal_cpmsg_bundle_finish(&b, PAL_CPMSG_SCAN), 0);
    n = pal_cpmsg_bundle_finish(&b, PAL_CPMSG_ANSWERS);
    memcpy(g_buf, outer, n);
    assert_int_equal(walk_bundle(n, PAL_CPMSG_FROM_CP, PAL_CPMSG_ANSWERS), 1);
}

/* ---- RESULT, FINDING, SELFTEST_RESULT, ERROR --------------------------------------------- */

static char g_long[PAL_CPMSG_CHAIN_MAX + 8];

DAMAGE(res_verdict, m->u.result.verdict = 3)
DAMAGE(res_reason, m->u.result.reason = PAL_CPMSG_REASON_MAX + 1)
DAMAGE(res_flags, m->u.result.flags = 2)
DAMAGE(res_many, m->u.result.n_findings = PAL_CPMSG_MAX_FINDINGS + 1)
DAMAGE(res_threat_no_findings, m->u.result.n_findings = 0)
DAMAGE(res_clean_with_findings, m->u.result.verdict = 0)
DAMAGE(res_unscannable_no_reason, m->u.result.verdict = 2; m->u.result.n_findings = 0;
       m->u.result.reason = 0; m->u.result.chain.len = 0; m->u.result.detail.len = 0)
DAMAGE(res_clean_with_reason, m->u.result.verdict = 0; m->u.result.n_findings = 0)
DAMAGE(res_read_more, m->u.result.bytes_read = 1001)
DAMAGE(res_sha_not_valid, m->u.result.flags = 0)
DAMAGE(res_chain_no_reason, m->u.result.reason = 0; m->u.result.detail.len = 0)
DAMAGE(res_reason_no_chain, m->u.result.chain.len = 0)
DAMAGE(res_detail_no_reason, m->u.result.reason = 0; m->u.result.chain.len = 0)
DAMAGE(res_chain_nul, m->u.result.chain.p = (const uint8_t *)k_nul_name; m->u.result.chain.len = 4)
DAMAGE(res_chain_long, put32(b + 88, PAL_CPMSG_CHAIN_MAX + 1))
DAMAGE(res_detail_long, put32(b + 92, PAL_CPMSG_DETAIL_MAX + 1))
DAMAGE(res_past_end, put32(b + 92, 500))
DAMAGE(fnd_index, m->u.finding.index = PAL_CPMSG_MAX_FINDINGS)
DAMAGE(fnd_threat0, m->u.finding.threat.len = 0)
DAMAGE(fnd_threat_ctl, m->u.finding.threat = B("Virus:\x01X"))
DAMAGE(fnd_threat_8bit, m->u.finding.threat = B("Virus:\xc3\xa9"))
DAMAGE(fnd_chain0, m->u.finding.chain.len = 0)
DAMAGE(fnd_chain_nul, m->u.finding.chain.p = (const uint8_t *)k_nul_name;
       m->u.finding.chain.len = 4)
DAMAGE(fnd_chain_long, put32(b + 64, PAL_CPMSG_CHAIN_MAX + 1))
DAMAGE(fnd_by0, m->u.finding.by.len = 0)
DAMAGE(fnd_by_long, put32(b + 68, PAL_CPMSG_BY_MAX + 1))
DAMAGE(fnd_by_md5, m->u.finding.by = B("md4"))
DAMAGE(fnd_by_empty_rule, m->u.finding.by = B("yara:"))
DAMAGE(fnd_by_digit, m->u.finding.by = B("yara:1abc"))
DAMAGE(fnd_by_dash, m->u.finding.by = B("yara:a-b"))
DAMAGE(fnd_by_sha, m->u.finding.by = B("sha2567"))
DAMAGE(fnd_past_end, put32(b + 68, 120))
DAMAGE(str_action, m->u.selftest_result.action = 0)
DAMAGE(str_err_neg, m->u.selftest_result.err = -1)
DAMAGE(str_err_big, m->u.selftest_result.err = 4096)
DAMAGE(err_zero, m->u.error_code = 0)
DAMAGE(err_positive, m->u.error_code = 3)
DAMAGE(err_unknown, m->u.error_code = PAL_EPROTO - 1)
DAMAGE(err_reserved, put32(b + 20, 1))

static void test_answer_refusals(void **state)
{
    (void)state;
    memset(g_long, 'A', sizeof(g_long) - 1);
    damage_fn res_b[] = {res_verdict,
                         res_reason,
                         res_flags,
                         res_many,
                         res_threat_no_findings,
                         res_clean_with_findings,
                         res_unscannable_no_reason,
                         res_clean_with_reason,
                         res_read_more,
                         res_sha_not_valid,
                         res_chain_no_reason,
                         res_reason_no_chain,
                         res_detail_no_reason,
                         res_chain_nul};
    for (size_t i = 0; i < sizeof(res_b) / sizeof(res_b[0]); i++)
        refused(result_msg, res_b[i], NULL);
    refused(result_msg, NULL, res_chain_long);
    refused(result_msg, NULL, res_detail_long);
    refused(result_msg, NULL, res_past_end);
    damage_fn fnd_b[] = {fnd_index,         fnd_threat0,   fnd_threat_ctl, fnd_threat_8bit,
                         fnd_chain0,        fnd_chain_nul, fnd_by0,        fnd_by_md5,
                         fnd_by_empty_rule, fnd_by_digit,  fnd_by_dash,    fnd_by_sha};
    for (size_t i = 0; i < sizeof(fnd_b) / sizeof(fnd_b[0]); i++)
        refused(finding_msg, fnd_b[i], NULL);
    refused(finding_msg, NULL, fnd_chain_long);
    refused(finding_msg, NULL, fnd_by_long);
    refused(finding_msg, NULL, fnd_past_end);
    /* a threat name over 255 bytes, written by hand (the encoder refuses it) */
    {
        pal_cpmsg m = finding_msg(), d;
        m.u.finding.threat.p = (const uint8_t *)g_long;
        m.u.finding.threat.len = PAL_CPMSG_THREAT_MAX;
        size_t n = enc(&m);
        put32(g_buf + 20, PAL_CPMSG_THREAT_MAX + 1);
        put32(g_buf + 4, (uint32_t)n + 1);
        memmove(g_buf + 72 + 1, g_buf + 72, n - 72);
        g_buf[72] = 'A';
        assert_int_equal(dec(n + 1, PAL_CPMSG_FROM_CP, &d), PAL_EPROTO);
    }
    refused(selftest_result_msg, str_action, NULL);
    refused(selftest_result_msg, str_err_neg, NULL);
    refused(selftest_result_msg, str_err_big, NULL);
    refused(error_msg, err_zero, NULL);
    refused(error_msg, err_positive, NULL);
    refused(error_msg, err_unknown, NULL);
    refused(error_msg, NULL, err_reserved);

    /* the consistent variants are accepted */
    pal_cpmsg m = result_msg(), d;
    m.u.result.verdict = 2;
    m.u.result.n_findings = 0;
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_CP, &d), 0); /* unscannable */
    m.u.result.verdict = 0;
    m.u.result.reason = 0;
    m.u.result.chain.len = 0;
    m.u.result.detail.len = 0;
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_CP, &d), 0); /* clean */
    m = finding_msg();
    m.u.finding.by = B("sha256");
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_CP, &d), 0);
    m.u.finding.by = B("yara:_x9");
    assert_int_equal(dec(enc(&m), PAL_CPMSG_FROM_CP, &d), 0);
}

/* ---- mutation: bit flips and truncation never crash; what is accepted re-encodes --------- */

static void check_mutant(size_t len, pal_cpmsg_dir dir)
{
    pal_cpmsg d;
    pal_errbuf err;
    if (pal_cpmsg_decode(g_buf, len, dir, &d, &err) != 0)
        return;
    size_t n2 = pal_cpmsg_encode(&d, g_buf2, PAL_CPMSG_MAX);
    assert_int_equal(n2, len);
    assert_memory_equal(g_buf, g_buf2, len);
    if (d.type != PAL_CPMSG_REQUESTS && d.type != PAL_CPMSG_ANSWERS)
        return;
    /* and so does every item of an accepted bundle that is accepted itself */
    pal_cpmsg_bytes rest = d.u.items, item;
    size_t walked = 0;
    while (pal_cpmsg_bundle_next(&rest, &item)) {
        assert_true(item.p >= g_buf && item.p + item.len <= g_buf + len);
        walked += 4 + item.len;
        pal_cpmsg one;
        if (pal_cpmsg_decode(item.p, item.len, dir, &one, &err) != 0)
            continue;
        static uint8_t again[PAL_CPMSG_MAX];
        assert_int_equal(pal_cpmsg_encode(&one, again, sizeof(again)), item.len);
        assert_memory_equal(again, item.p, item.len);
    }
    assert_int_equal(walked, d.u.items.len);
}

static void test_mutations(void **state)
{
    (void)state;
    uint8_t orig[PAL_CPMSG_MAX];
    unsigned long accepted = 0, total = 0;
    for (size_t i = 0; i < N_SAMPLES; i++) {
        pal_cpmsg m = k_samples[i]();
        size_t n = enc(&m);
        memcpy(orig, g_buf, n);
        for (size_t bit = 0; bit < n * 8; bit++) {
            memcpy(g_buf, orig, n);
            g_buf[bit / 8] ^= (uint8_t)(1U << (bit % 8));
            for (int d = 0; d < 2; d++) {
                check_mutant(n, (pal_cpmsg_dir)d);
                total++;
            }
        }
        for (size_t len = 0; len < n; len++) {
            memcpy(g_buf, orig, n);
            put32(g_buf + 4, (uint32_t)len); /* even with a header that agrees */
            check_mutant(len, dir_of(m.type));
            memcpy(g_buf, orig, n);
            check_mutant(len, dir_of(m.type));
            total += 2;
        }
        memcpy(g_buf, orig, n);
        pal_cpmsg d;
        assert_int_equal(dec(n, dir_of(m.type), &d), 0);
        accepted++;
    }
    /* random bytes behind a plausible header */
    uint64_t x = 88172645463325252ULL;
    for (int round = 0; round < 20000; round++) {
        size_t len = PAL_CPMSG_HDR + (size_t)(x % 200);
        for (size_t k = 0; k < len; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            g_buf[k] = (uint8_t)x;
        }
        static const uint16_t types[] = {1, 2, 3, 4, 5, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87};
        uint16_t t = types[x % 12];
        g_buf[0] = (uint8_t)t;
        g_buf[1] = (uint8_t)(t >> 8);
        g_buf[2] = g_buf[3] = 0;
        put32(g_buf + 4, (uint32_t)len);
        check_mutant(len, dir_of(t));
        total++;
    }
    printf("    %lu mutants decoded (every one either refused or re-encoded to its bytes)\n",
           total);
    assert_int_equal(accepted, N_SAMPLES);
}

/* ---- meaning checks ---------------------------------------------------------------------- */

static void test_chain_check(void **state)
{
    (void)state;
    const char *name = "/srv/a.zip";
    size_t nl = strlen(name);
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/srv/a.zip")), 0);
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/srv/a.zip->b.tar->c")), 0);
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/srv/a.zip->na\xc3\xafve")), 0);
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/srv/a.zip->?")), 0);
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/srv/a.zi")), PAL_EPROTO);
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/srv/b.zip")), PAL_EPROTO);
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/etc/shadow")), PAL_EPROTO);
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/srv/a.zipx")), PAL_EPROTO);
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/srv/a.zip->")), PAL_EPROTO);
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/srv/a.zip-")), PAL_EPROTO);
    /* member names are raw bytes like paths (issue 10: a legacy code-page name, a name with
       an escape sequence stay exact and distinct; views escape them) */
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/srv/a.zip->a\nb")), 0);
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/srv/a.zip->a\x7f")), 0);
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/srv/a.zip->\xc2\x85")), 0);
    assert_int_equal(pal_cpmsg_check_chain(name, nl, B("/srv/a.zip->\xe1\xe7\xf1\xe2-1.com")), 0);
    /* the root name itself may hold anything a path holds */
    const char *odd = "/tmp/\x01\xff";
    assert_int_equal(pal_cpmsg_check_chain(odd, strlen(odd), B("/tmp/\x01\xff->x")), 0);
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
    } k[] = {
        {"plain ascii", 1},
        {"\xc3\xa9t\xc3\xa9", 1},
        {"\xe2\x82\xac", 1},
        {"\xf0\x9f\x98\x80", 1},
        {"\xc2\xa0", 1},         /* NBSP: not a control */
        {"\xc0\xaf", 0},         /* overlong */
        {"\xe0\x80\xaf", 0},     /* overlong */
        {"\xed\xa0\x80", 0},     /* surrogate */
        {"\xf4\x90\x80\x80", 0}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 0},
        {"\xe2\x82", 0}, /* truncated */
        {"\x80", 0},
        {"a\tb", 0},
        {"\xc2\x9b", 0}, /* C1 */
    };
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
        assert_int_equal(pal_cpmsg_utf8_clean((const uint8_t *)k[i].s, strlen(k[i].s)), k[i].ok);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(pal_cpmsg_step_name(PAL_CPMSG_STEP_SECCOMP), "seccomp");
    assert_string_equal(pal_cpmsg_step_name(PAL_CPMSG_STEP_COUNT), "unknown");
    assert_string_equal(pal_cpmsg_exit_meaning(PAL_CPMSG_EXIT_STEP_BASE + PAL_CPMSG_STEP_ROOT),
                        "sandbox step empty-root failed");
    assert_string_equal(pal_cpmsg_exit_meaning(PAL_CPMSG_EXIT_CONFIG),
                        "configuration missing or malformed");
    assert_string_equal(pal_cpmsg_exit_meaning(200), "unexpected exit status");
    for (unsigned s = 0; s < PAL_CPMSG_STEP_COUNT; s++) {
        assert_string_not_equal(pal_cpmsg_step_name(s), "unknown");
        assert_non_null(strstr(pal_cpmsg_exit_meaning(PAL_CPMSG_EXIT_STEP_BASE + (int)s),
                               pal_cpmsg_step_name(s)));
    }
    for (unsigned a = 1; a < PAL_CPMSG_ATTACK_COUNT; a++)
        assert_string_not_equal(pal_cpmsg_attack_name(a), "unknown");
    assert_string_equal(pal_cpmsg_attack_name(0), "unknown");
    assert_string_equal(pal_cpmsg_attack_name(PAL_CPMSG_ATTACK_COUNT), "unknown");
}

/* PAL_CPMSG_WRITE_SEEDS=DIR: write every sample as a seed for fuzz/fuzz_cpmsg.c (first byte:
   1 when it comes from the content process), then run the tests as usual. */
static void write_seeds(const char *dir)
{
    for (size_t i = 0; i < N_SAMPLES; i++) {
        pal_cpmsg m = k_samples[i]();
        size_t n = pal_cpmsg_encode(&m, g_buf + 1, PAL_CPMSG_MAX);
        if (n == 0)
            continue;
        g_buf[0] = dir_of(m.type) == PAL_CPMSG_FROM_CP ? 1 : 0;
        char path[4096];
        snprintf(path, sizeof(path), "%s/seed-%02zu-type-%02x", dir, i, m.type);
        FILE *f = fopen(path, "wbe");
        if (f == NULL || fwrite(g_buf, 1, n + 1, f) != n + 1) {
            fprintf(stderr, "cannot write %s\n", path);
            exit(1);
        }
        fclose(f);
    }
}

int main(void)
{
    const char *seeds = getenv("PAL_CPMSG_WRITE_SEEDS");
    if (seeds != NULL)
        write_seeds(seeds);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_encode_in_place),
        cmocka_unit_test(test_encode_refusals),
        cmocka_unit_test(test_header_refusals),
        cmocka_unit_test(test_config_ready_refusals),
        cmocka_unit_test(test_request_refusals),
        cmocka_unit_test(test_answer_refusals),
        cmocka_unit_test(test_bundles),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_chain_check),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests_name("cpmsg", tests, NULL, NULL);
}
