/*
 * engine.c — the scan engine: reads an object once through its pal_source, matches it by
 * SHA-256 (package hash table) and YARA (package rules), and walks containers through
 * expand.c. It owns the engine (rules loaded once, rule -> catalog map, limits), the
 * per-thread scanner (YARA scanner, digest context, buffers) and the report.
 *
 * One top-level scan is a "walk" (expand.h): buffers are per depth and reused, so a scan
 * holds at most the top object plus one member per nesting level, all bounded by the
 * object-size limit and the expanded-bytes budget.
 */
#include "engine.h"

#include <malloc.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <yara.h>

#include "expand.h"
#include "hash64.h"

/* Bytes asked of the source per read_at: the clock and cancel flag are checked between. */
#define TOP_READ_CHUNK (1024U * 1024U)
/* Buffers larger than this are released after each scan instead of kept for the next. */
#define KEEP_BUFFER_MAX (4U * 1024U * 1024U)
/* A top-level object above KEEP_BUFFER_MAX is read into a mapping of whole huge pages. */
#define HUGE_PAGE (2U * 1024U * 1024U)
/*
 * Findings kept per report. A hostile archive can hold 100000 infected members; each
 * finding owns its chain (up to depth x 1 KiB), so the list is capped. The verdict is
 * THREAT either way.
 */
#define MAX_FINDINGS 10000U

#define NO_THREAT UINT32_MAX

struct pal_engine {
    const pal_sigpkg *pkg; /* not owned; outlives the engine */
    pal_limits lim;
    YR_RULES *rules;            /* NULL when the package has no YARA rules, or parked */
    int rules_parked;           /* rules freed by pal_engine_park_rules: reload on demand */
    pthread_mutex_t rules_lock; /* guards rules and rules_parked after creation */
    uint32_t *rule_threat;      /* catalog id per rule index; NO_THREAT for private rules */
    uint32_t n_rules;
    EVP_MD *sha256; /* fetched once: no per-object provider lookup */
    /* MD5 and SHA-1 (ClamAV hash signatures): fetched only when the package has tables of
       them, so that a package without them costs nothing per object */
    EVP_MD *xmd[2];
    pal_expand_support sup;
};

struct pal_scanner {
    pal_engine *eng;
    YR_SCANNER *yr;   /* NULL when the engine has no rules */
    YR_RULES *yrules; /* what yr was made from */
    EVP_MD_CTX *md;
    EVP_MD_CTX *xmd[2];  /* MD5, SHA-1 contexts when eng->xmd[i] */
    pal_walk_buf *bufs;  /* eng->lim.max_depth + 1 */
    uint32_t *fidx;      /* open-addressing index of findings: finding index + 1 */
    size_t fidx_cap;     /* power of two, or 0 */
    size_t findings_cap; /* allocated entries of walk.rep->findings */
    uint64_t seed;       /* hash seed: member names are attacker-chosen */
    pal_walk walk;       /* the scan in progress */
    /* the object YARA is looking at, for the callback */
    const char *cur_chain;
    const uint8_t *cur_sha; /* NULL when the object is a fragment */
    uint64_t cur_size;
};

/* ---- small things ----------------------------------------------------------------------- */

void pal_limits_default(pal_limits *lim)
{
    lim->max_depth = PAL_DEFAULT_MAX_DEPTH;
    lim->max_members = PAL_DEFAULT_MAX_MEMBERS;
    lim->max_expanded_bytes = PAL_DEFAULT_MAX_EXPANDED_BYTES;
    lim->max_ratio = PAL_DEFAULT_MAX_RATIO;
    lim->max_object_size = PAL_DEFAULT_MAX_OBJECT_SIZE;
    lim->max_scan_ms = PAL_DEFAULT_MAX_SCAN_MS;
}

static ssize_t memory_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
    /* The engine never asks beyond src->size, which pal_source_from_memory set to the
       buffer's length. */
    memcpy(buf, (const uint8_t *)ctx + off, len);
    return (ssize_t)len;
}

void pal_source_from_memory(pal_source *src, const void *data, size_t len)
{
    static const uint8_t empty[1];
    src->size = len;
    src->read_at = memory_read_at;
    src->ctx = (void *)(uintptr_t)(data != NULL ? data : empty); /* read-only use */
}

void pal_report_init(pal_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    rep->verdict = PAL_VERDICT_CLEAN;
    rep->reason = PAL_UNSCANNABLE_NONE;
}

void pal_report_free(pal_report *rep)
{
    if (rep == NULL)
        return;
    for (size_t i = 0; i < rep->n_findings; i++) {
        free(rep->findings[i].chain);
        free(rep->findings[i].threat);
        free(rep->findings[i].category);
        free(rep->findings[i].matched_by);
    }
    free(rep->findings);
    free(rep->reason_chain);
    free(rep->reason_detail);
    pal_report_init(rep);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- engine ----------------------------------------------------------------------------- */

/* yr_initialize/yr_finalize keep a plain counter: serialise them. */
static pthread_mutex_t g_yara_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct mem_stream {
    const uint8_t *data;
    size_t len;
    size_t off;
} mem_stream;

static size_t mem_stream_read(void *ptr, size_t size, size_t count, void *user)
{
    mem_stream *m = user;
    if (size == 0 || count == 0)
        return 0;
    size_t items = (m->len - m->off) / size;
    if (items > count)
        items = count;
    memcpy(ptr, m->data + m->off, items * size);
    m->off += items * size;
    return items;
}

static int check_limits(const pal_limits *lim, pal_errbuf *err)
{
    if (lim->max_depth > PAL_ENGINE_DEPTH_CAP)
        return pal_err_set(err, PAL_EINVAL, "max_depth %u above the ceiling of %u", lim->max_depth,
                           PAL_ENGINE_DEPTH_CAP);
    if (lim->max_object_size == 0)
        return pal_err_set(err, PAL_EINVAL, "max_object_size must be at least 1");
    if (lim->max_ratio == 0)
        return pal_err_set(err, PAL_EINVAL, "max_ratio must be at least 1");
    if (lim->max_scan_ms == 0)
        return pal_err_set(err, PAL_EINVAL, "max_scan_ms must be at least 1");
    return 0;
}

/* Map every public rule to the catalog entry its `threat` meta string names. */
static int map_rules(pal_engine *eng, pal_errbuf *err)
{
    YR_RULES *rules = eng->rules;
    YR_RULE *rule;
    uint32_t n = rules->num_rules;

    eng->rule_threat = calloc(n > 0 ? n : 1, sizeof(uint32_t));
    if (eng->rule_threat == NULL)
        return pal_err_set(err, PAL_ENOMEM, "out of memory for the rule map");
    eng->n_rules = n;
    yr_rules_foreach(rules, rule)
    {
        size_t idx = (size_t)(rule - rules->rules_table);
        if (idx >= n)
            return pal_err_set(err, PAL_EFORMAT, "compiled rules hold more than %u rules", n);
        eng->rule_threat[idx] = NO_THREAT;
        if (RULE_IS_PRIVATE(rule))
            continue; /* never reported by libyara */
        const char *name = NULL;
        YR_META *meta;
        yr_rule_metas_foreach(rule, meta)
        {
            if (meta->type == META_TYPE_STRING && strcmp(meta->identifier, "threat") == 0) {
                name = meta->string;
                break;
            }
        }
        if (name == NULL)
            return pal_err_set(err, PAL_EFORMAT, "rule %s has no threat meta string",
                               rule->identifier);
        pal_threat t;
        if (pal_sigpkg_find_threat(eng->pkg, name, &t) != 0)
            return pal_err_set(err, PAL_EFORMAT, "rule %s names threat \"%s\", not in the catalog",
                               rule->identifier, name);
        eng->rule_threat[idx] = t.id;
    }
    return 0;
}

/* Load the package's compiled YARA rules into eng->rules (left NULL when it has none). */
static int load_rules(pal_engine *eng, pal_errbuf *err)
{
    const void *blob;
    size_t blob_len;
    pal_sigpkg_yara_blob(eng->pkg, &blob, &blob_len);
    if (blob_len == 0)
        return 0;
    mem_stream ms = {.data = blob, .len = blob_len, .off = 0};
    YR_STREAM stream = {.user_data = &ms, .read = mem_stream_read, .write = NULL};
    int yr = yr_rules_load_stream(&stream, &eng->rules);
    if (yr != ERROR_SUCCESS) {
        eng->rules = NULL;
        return pal_err_set(err, yr == ERROR_INSUFFICIENT_MEMORY ? PAL_ENOMEM : PAL_EFORMAT,
                           "cannot load the package's compiled YARA rules (yara error %d)", yr);
    }
    return 0;
}

int pal_engine_new(const pal_sigpkg *pkg, const pal_limits *limits, pal_engine **out,
                   pal_errbuf *err)
{
    if (pkg == NULL || out == NULL)
        return pal_err_set(err, PAL_EINVAL, "pal_engine_new: package and out are required");
    pal_limits lim;
    if (limits != NULL)
        lim = *limits;
    else
        pal_limits_default(&lim);
    int rc = check_limits(&lim, err);
    if (rc < 0)
        return rc;

    pal_engine *eng = calloc(1, sizeof(*eng));
    if (eng == NULL)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    eng->pkg = pkg;
    eng->lim = lim;
    pthread_mutex_init(&eng->rules_lock, NULL);

    pthread_mutex_lock(&g_yara_lock);
    int yr = yr_initialize();
    pthread_mutex_unlock(&g_yara_lock);
    if (yr != ERROR_SUCCESS) {
        free(eng);
        return pal_err_set(err, PAL_EENGINE, "yr_initialize failed (yara error %d)", yr);
    }

    rc = load_rules(eng, err);
    if (rc < 0)
        goto fail;
    if (eng->rules != NULL) {
        rc = map_rules(eng, err);
        if (rc < 0)
            goto fail;
    }

    eng->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (eng->sha256 == NULL) {
        rc = pal_err_set(err, PAL_EENGINE, "OpenSSL has no SHA256 implementation");
        goto fail;
    }
    static const char *const xmd_names[2] = {"MD5", "SHA1"};
    for (int i = 0; i < 2; i++) {
        if (pal_sigpkg_has_hashes(pkg, i == 0 ? PAL_HASH_MD5 : PAL_HASH_SHA1) == 0)
            continue;
        eng->xmd[i] = EVP_MD_fetch(NULL, xmd_names[i], NULL);
        if (eng->xmd[i] == NULL) {
            rc = pal_err_set(err, PAL_EENGINE, "OpenSSL has no %s implementation", xmd_names[i]);
            goto fail;
        }
    }
    rc = pal_expand_probe(&eng->sup);
    if (rc < 0) {
        pal_err_set(err, rc, "cannot probe libarchive support");
        goto fail;
    }
    /* the rules are in the heap now: their bytes in the package need not stay mapped */
    pal_sigpkg_release_resident(pkg);
    *out = eng;
    return 0;

fail:
    pal_engine_free(eng);
    return rc;
}

void pal_engine_free(pal_engine *eng)
{
    if (eng == NULL)
        return;
    if (eng->rules != NULL)
        yr_rules_destroy(eng->rules);
    free(eng->rule_threat);
    EVP_MD_free(eng->sha256);
    EVP_MD_free(eng->xmd[0]);
    EVP_MD_free(eng->xmd[1]);
    pthread_mutex_destroy(&eng->rules_lock);
    free(eng);
    pthread_mutex_lock(&g_yara_lock);
    yr_finalize();
    pthread_mutex_unlock(&g_yara_lock);
}

void pal_engine_park_rules(pal_engine *eng)
{
    pthread_mutex_lock(&eng->rules_lock);
    if (eng->rules != NULL) {
        yr_rules_destroy(eng->rules);
        eng->rules = NULL;
        eng->rules_parked = 1;
        /* the rules are a few large and many small blocks: give the heap back now */
        malloc_trim(0);
    }
    pthread_mutex_unlock(&eng->rules_lock);
}

int pal_engine_rules_resident(pal_engine *eng)
{
    pthread_mutex_lock(&eng->rules_lock);
    int resident = eng->rules != NULL;
    pthread_mutex_unlock(&eng->rules_lock);
    return resident;
}

/* The rules for a new scanner, reloaded from the package when parked; NULL with rc 0 when
   the package has none. */
static int scanner_rules(pal_engine *eng, YR_RULES **out)
{
    int rc = 0;
    pthread_mutex_lock(&eng->rules_lock);
    if (eng->rules == NULL && eng->rules_parked) {
        /* the same bytes loaded and mapped when the engine was made: only memory can fail */
        rc = load_rules(eng, NULL);
        if (rc == 0) {
            eng->rules_parked = 0;
            pal_sigpkg_release_resident(eng->pkg);
        }
    }
    *out = eng->rules;
    pthread_mutex_unlock(&eng->rules_lock);
    return rc;
}

const pal_sigpkg *pal_engine_package(const pal_engine *eng)
{
    return eng->pkg;
}

const pal_limits *pal_engine_limits(const pal_engine *eng)
{
    return &eng->lim;
}

/* ---- findings --------------------------------------------------------------------------- */

static uint64_t finding_hash(uint64_t seed, const char *chain, uint32_t threat_id)
{
    uint64_t h = pal_fnv1a64(PAL_FNV1A64_INIT ^ seed, chain, strlen(chain));
    return pal_mix64(h ^ threat_id); /* spread the bits before masking */
}

static int fidx_grow(pal_scanner *sc)
{
    size_t cap = sc->fidx_cap ? sc->fidx_cap * 2 : 64;
    uint32_t *idx = calloc(cap, sizeof(uint32_t));
    if (idx == NULL)
        return PAL_ENOMEM;
    const pal_report *rep = sc->walk.rep;
    for (size_t i = 0; i < rep->n_findings; i++) {
        const pal_finding *f = &rep->findings[i];
        size_t slot = (size_t)finding_hash(sc->seed, f->chain, f->threat_id) & (cap - 1);
        while (idx[slot] != 0)
            slot = (slot + 1) & (cap - 1);
        idx[slot] = (uint32_t)(i + 1);
    }
    free(sc->fidx);
    sc->fidx = idx;
    sc->fidx_cap = cap;
    return 0;
}

static char *dup_str(const char *s)
{
    return strdup(s != NULL ? s : "");
}

/* Add (chain, threat) unless the report has it already. */
static int add_finding(pal_scanner *sc, uint32_t threat_id, const char *matched_by)
{
    pal_walk *w = &sc->walk;
    pal_report *rep = w->rep;
    const char *chain = sc->cur_chain;

    if ((rep->n_findings + 1) * 2 > sc->fidx_cap && fidx_grow(sc) < 0)
        return PAL_ENOMEM;
    size_t mask = sc->fidx_cap - 1;
    size_t slot = (size_t)finding_hash(sc->seed, chain, threat_id) & mask;
    while (sc->fidx[slot] != 0) {
        const pal_finding *f = &rep->findings[sc->fidx[slot] - 1];
        if (f->threat_id == threat_id && strcmp(f->chain, chain) == 0)
            return 0; /* same threat on the same chain: one finding */
        slot = (slot + 1) & mask;
    }
    if (rep->n_findings >= MAX_FINDINGS)
        return 0;

    pal_threat t;
    if (pal_sigpkg_threat(sc->eng->pkg, threat_id, &t) != 0) {
        char detail[96];
        snprintf(detail, sizeof(detail), "signature names threat id %u, not in the catalog",
                 threat_id);
        return pal_walk_reason(w, PAL_UNSCANNABLE_ENGINE_ERROR, chain, detail);
    }
    if (rep->n_findings == sc->findings_cap) {
        size_t cap = sc->findings_cap ? sc->findings_cap * 2 : 4;
        pal_finding *nf = realloc(rep->findings, cap * sizeof(*nf));
        if (nf == NULL)
            return PAL_ENOMEM;
        rep->findings = nf;
        sc->findings_cap = cap;
    }
    pal_finding *f = &rep->findings[rep->n_findings];
    memset(f, 0, sizeof(*f));
    f->chain = dup_str(chain);
    f->threat = dup_str(t.name);
    f->category = dup_str(t.category);
    f->matched_by = dup_str(matched_by);
    if (f->chain == NULL || f->threat == NULL || f->category == NULL || f->matched_by == NULL) {
        free(f->chain);
        free(f->threat);
        free(f->category);
        free(f->matched_by);
        return PAL_ENOMEM;
    }
    f->severity = t.severity;
    f->default_action = t.default_action;
    f->threat_id = threat_id;
    if (sc->cur_sha != NULL)
        memcpy(f->sha256, sc->cur_sha, sizeof(f->sha256));
    f->size = sc->cur_size;
    sc->fidx[slot] = (uint32_t)(rep->n_findings + 1);
    rep->n_findings++;
    return 0;
}

/* ---- walk services (expand.h) ------------------------------------------------------------ */

int pal_walk_reason(pal_walk *w, pal_unscannable r, const char *chain, const char *detail)
{
    pal_report *rep = w->rep;
    if (rep->reason != PAL_UNSCANNABLE_NONE)
        return 0;
    if (w->damage_is_guess > 0 && r == PAL_UNSCANNABLE_CORRUPT)
        return 0;
    char *c = strdup(chain);
    char *d = detail != NULL ? strdup(detail) : NULL;
    if (c == NULL || (detail != NULL && d == NULL)) {
        free(c);
        free(d);
        w->nomem = 1;
        w->stopped = 1;
        return PAL_ENOMEM;
    }
    rep->reason = r;
    rep->reason_chain = c;
    rep->reason_detail = d;
    return 0;
}

int pal_walk_reasonf(pal_walk *w, pal_unscannable r, const char *chain, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return pal_walk_reason(w, r, chain, detail);
}

int pal_walk_should_stop(pal_walk *w, const char *chain)
{
    if (w->stopped)
        return 1;
    if (w->cancel != NULL && *w->cancel) {
        w->stopped = 1;
        pal_walk_reason(w, PAL_UNSCANNABLE_CANCELLED, chain, "scan cancelled");
        return 1;
    }
    if (w->deadline_ns != 0 && now_ns() >= w->deadline_ns) {
        w->stopped = 1;
        pal_walk_reasonf(w, PAL_UNSCANNABLE_TIMEOUT, chain, "scan time limit of %u ms reached",
                         w->lim->max_scan_ms);
        return 1;
    }
    return 0;
}

static void buf_release(pal_walk_buf *b)
{
    if (b->mapped)
        munmap(b->data, b->cap);
    else
        free(b->data);
    b->data = NULL;
    b->cap = 0;
    b->mapped = 0;
}

int pal_walk_reserve(pal_walk *w, unsigned depth, size_t need, size_t limit)
{
    pal_walk_buf *b = &w->bufs[depth];
    if (b->cap >= need)
        return 0;
    size_t cap = b->cap > limit / 2 ? limit : b->cap * 2;
    if (cap < need)
        cap = need;
    uint8_t *p;
    if (b->mapped) { /* not done today (only read_top maps, exactly), but keep it right */
        p = malloc(cap);
        if (p != NULL) {
            memcpy(p, b->data, b->cap);
            buf_release(b);
        }
    } else {
        p = realloc(b->data, cap);
    }
    if (p == NULL) {
        w->nomem = 1;
        w->stopped = 1;
        return PAL_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

/*
 * The buffer for a top-level object of size bytes. Above KEEP_BUFFER_MAX it is released
 * after the scan (trim_buffers), so every large object is read into fresh memory: the
 * kernel faults and clears it page by page while pread copies into it. An anonymous
 * mapping of whole 2 MiB pages with MADV_HUGEPAGE (transparent huge pages are "madvise"
 * on Debian) takes one fault per 2 MiB instead of 512, and YARA and SHA-256 then walk
 * it with fewer TLB misses. Memory is the same: at most one huge page more than the
 * object, released after the scan like before. madvise is a hint: without THP the
 * mapping is ordinary pages.
 */
static int reserve_top(pal_walk *w, size_t size)
{
    pal_walk_buf *b = &w->bufs[0];
    if (size <= KEEP_BUFFER_MAX || b->cap >= size)
        return pal_walk_reserve(w, 0, size, size);
    size_t len = (size + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
    buf_release(b);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        w->nomem = 1;
        w->stopped = 1;
        return PAL_ENOMEM;
    }
    (void)madvise(p, len, MADV_HUGEPAGE);
    b->data = p;
    b->cap = len;
    b->mapped = 1;
    return 0;
}

static int yara_callback(YR_SCAN_CONTEXT *ctx, int message, void *message_data, void *user)
{
    (void)ctx;
    pal_scanner *sc = user;
    if (message != CALLBACK_MSG_RULE_MATCHING)
        return CALLBACK_CONTINUE;
    const YR_RULE *rule = message_data;
    const YR_RULES *rules = sc->eng->rules;
    size_t idx = (size_t)(rule - rules->rules_table);
    if (idx >= sc->eng->n_rules || sc->eng->rule_threat[idx] == NO_THREAT)
        return CALLBACK_CONTINUE;
    char by[160];
    snprintf(by, sizeof(by), "yara:%s", rule->identifier);
    if (add_finding(sc, sc->eng->rule_threat[idx], by) < 0) {
        sc->walk.nomem = 1;
        return CALLBACK_ERROR;
    }
    return CALLBACK_CONTINUE;
}

static int match_yara(pal_scanner *sc, const uint8_t *data, size_t len, const char *chain)
{
    pal_walk *w = &sc->walk;
    static const uint8_t empty[1];
    if (sc->yr == NULL)
        return 0;
    /* libyara's timeout is in whole seconds, checked inside its loops: give it what is
       left of ours, rounded up. */
    uint64_t now = now_ns();
    uint64_t left = w->deadline_ns > now ? w->deadline_ns - now : 1;
    uint64_t secs = (left + 999999999ULL) / 1000000000ULL;
    yr_scanner_set_timeout(sc->yr, secs > INT32_MAX ? INT32_MAX : (int)secs);
    int yr = yr_scanner_scan_mem(sc->yr, len > 0 ? data : empty, len);
    switch (yr) {
    case ERROR_SUCCESS:
        return 0;
    case ERROR_SCAN_TIMEOUT:
        w->stopped = 1;
        return pal_walk_reasonf(w, PAL_UNSCANNABLE_TIMEOUT, chain,
                                "scan time limit of %u ms reached in YARA", w->lim->max_scan_ms);
    case ERROR_CALLBACK_ERROR:
    case ERROR_INSUFFICIENT_MEMORY:
        w->nomem = 1;
        w->stopped = 1;
        return PAL_ENOMEM;
    default:
        return pal_walk_reasonf(w, PAL_UNSCANNABLE_ENGINE_ERROR, chain,
                                "YARA scan failed (error %d)", yr);
    }
}

/*
 * The hash step of a complete object: SHA-256, and MD5 / SHA-1 when the package has tables
 * of them, all over the one buffer (in 256 KiB strides so that each stride is hashed by
 * every digest while it is in cache), then the lookups. An allow entry (ClamAV .fp/.sfp)
 * that matches any digest sets *allowed, and no finding is added for the object.
 */
#define HASH_STRIDE (256u * 1024)
static int hash_step(pal_scanner *sc, const uint8_t *data, size_t len, const char *chain,
                     unsigned depth, uint8_t sha[32], int *allowed)
{
    pal_walk *w = &sc->walk;
    const pal_engine *eng = sc->eng;
    EVP_MD_CTX *ctx[3] = {sc->md, NULL, NULL};
    const EVP_MD *mds[3] = {eng->sha256, NULL, NULL};
    pal_hash_alg algs[3] = {PAL_HASH_SHA256, PAL_HASH_MD5, PAL_HASH_SHA1};
    static const char *const by[3] = {"sha256", "md5", "sha1"};
    const char *names[3] = {by[0], NULL, NULL};
    uint8_t dig[3][EVP_MAX_MD_SIZE];
    unsigned int dlen[3] = {0, 0, 0};
    int ok = 1, n = 1;
    for (int i = 0; i < 2; i++)
        if (eng->xmd[i] != NULL) {
            ctx[n] = sc->xmd[i];
            mds[n] = eng->xmd[i];
            algs[n] = i == 0 ? PAL_HASH_MD5 : PAL_HASH_SHA1;
            names[n] = by[i + 1];
            n++;
        }
    for (int i = 0; i < n; i++)
        ok = ok && EVP_DigestInit_ex(ctx[i], mds[i], NULL) == 1;
    for (size_t off = 0; ok && off < len; off += HASH_STRIDE) {
        size_t part = len - off < HASH_STRIDE ? len - off : HASH_STRIDE;
        for (int i = 0; ok && i < n; i++)
            ok = EVP_DigestUpdate(ctx[i], data + off, part) == 1;
    }
    for (int i = 0; ok && i < n; i++)
        ok = EVP_DigestFinal_ex(ctx[i], dig[i], &dlen[i]) == 1;
    if (!ok || dlen[0] != 32) {
        int rc = pal_walk_reason(w, PAL_UNSCANNABLE_ENGINE_ERROR, chain, "hashing failed");
        return rc < 0 ? rc : 0;
    }
    memcpy(sha, dig[0], 32);
    sc->cur_sha = sha;
    if (depth == 0) {
        memcpy(w->rep->sha256, sha, 32);
        w->rep->sha256_valid = 1;
    }
    /* Allow entries first: an allowed object gets no finding from any signature. */
    uint32_t hit[3] = {NO_THREAT, NO_THREAT, NO_THREAT}, id;
    for (int i = 0; i < n; i++) {
        int allow = 0;
        if (pal_sigpkg_lookup_hash(eng->pkg, algs[i], dig[i], len, &id, &allow) == 0)
            hit[i] = id;
        if (allow) {
            *allowed = 1;
            return 0;
        }
    }
    if (pal_sigpkg_lookup_sha256(eng->pkg, sha, &id) == 0 && hit[0] == NO_THREAT)
        hit[0] = id;
    for (int i = 0; i < n; i++) {
        if (hit[i] == NO_THREAT)
            continue;
        int rc = add_finding(sc, hit[i], names[i]);
        if (rc < 0) {
            w->nomem = 1;
            return rc;
        }
    }
    return 0;
}

int pal_walk_object(pal_walk *w, const uint8_t *data, size_t len, const char *chain, unsigned depth,
                    unsigned flags)
{
    pal_scanner *sc = w->sc;
    uint8_t sha[32];
    int rc;

    if (pal_walk_should_stop(w, chain))
        return 0;
    w->rep->objects_scanned++;
    sc->cur_chain = chain;
    sc->cur_sha = NULL;
    sc->cur_size = len;

    if (flags & PAL_OBJ_COMPLETE) {
        int allowed = 0;
        rc = hash_step(sc, data, len, chain, depth, sha, &allowed);
        if (rc < 0)
            return rc;
        if (allowed)
            return 0; /* on the package's allow list: not matched, not expanded */
    }
    rc = match_yara(sc, data, len, chain);
    if (rc < 0 || w->stopped)
        return rc;
    if (flags & PAL_OBJ_DATA_ONLY)
        return 0;
    /* expand.c may reuse the deeper buffers and scan other chains: nothing above refers
       to cur_* after this point. */
    return pal_expand(w, data, len, chain, depth);
}

/* ---- scanner ---------------------------------------------------------------------------- */

/* A YARA scanner over sc's rules reporting to sc; NULL when out of memory. */
static YR_SCANNER *new_yr_scanner(pal_scanner *sc)
{
    YR_SCANNER *yr = NULL;
    if (yr_scanner_create(sc->yrules, &yr) != ERROR_SUCCESS)
        return NULL;
    /*
     * SCAN_FLAGS_NO_TRYCATCH, always: libyara's try/catch exists to survive SIGBUS
     * when a mapped file shrinks under the scan. We only ever hand it private heap
     * buffers, so there is nothing to catch; and the catch installs process-wide
     * SIGSEGV/SIGBUS handlers around every scan, which in the sandbox would turn a real
     * memory-safety fault into a silent "no match" instead of a crash the broker sees.
     */
    yr_scanner_set_flags(yr, SCAN_FLAGS_REPORT_RULES_MATCHING | SCAN_FLAGS_NO_TRYCATCH);
    yr_scanner_set_callback(yr, yara_callback, sc);
    return yr;
}

int pal_scanner_new(pal_engine *eng, pal_scanner **out)
{
    if (eng == NULL || out == NULL)
        return PAL_EINVAL;
    pal_scanner *sc = calloc(1, sizeof(*sc));
    if (sc == NULL)
        return PAL_ENOMEM;
    sc->eng = eng;
    sc->bufs = calloc((size_t)eng->lim.max_depth + 1, sizeof(*sc->bufs));
    sc->md = EVP_MD_CTX_new();
    if (sc->bufs == NULL || sc->md == NULL)
        goto fail;
    for (int i = 0; i < 2; i++)
        if (eng->xmd[i] != NULL && (sc->xmd[i] = EVP_MD_CTX_new()) == NULL)
            goto fail;
    YR_RULES *rules = NULL;
    int rc = scanner_rules(eng, &rules);
    if (rc != 0) {
        pal_scanner_free(sc);
        return rc;
    }
    sc->yrules = rules;
    if (rules != NULL && (sc->yr = new_yr_scanner(sc)) == NULL)
        goto fail;
    /* The seed only needs to be unknown to whoever names archive members. */
    sc->seed = now_ns() ^ (uint64_t)(uintptr_t)sc ^ ((uint64_t)(uintptr_t)&sc << 17);
    *out = sc;
    return 0;

fail:
    pal_scanner_free(sc);
    return PAL_ENOMEM;
}

void pal_scanner_free(pal_scanner *sc)
{
    if (sc == NULL)
        return;
    if (sc->yr != NULL)
        yr_scanner_destroy(sc->yr);
    EVP_MD_CTX_free(sc->md);
    EVP_MD_CTX_free(sc->xmd[0]);
    EVP_MD_CTX_free(sc->xmd[1]);
    if (sc->bufs != NULL)
        for (unsigned i = 0; i <= sc->eng->lim.max_depth; i++)
            buf_release(&sc->bufs[i]);
    free(sc->bufs);
    free(sc->fidx);
    free(sc);
}

/* 1 when a top-level object of size bytes is over the limit (the reason recorded in *rc). */
static int top_too_large(pal_walk *w, const char *name, uint64_t size, int *rc)
{
    if (size <= w->lim->max_object_size && size <= SIZE_MAX - 1)
        return 0;
    *rc = pal_walk_reasonf(w, PAL_UNSCANNABLE_TOO_LARGE, name,
                           "object is %llu bytes, the size limit is %llu", (unsigned long long)size,
                           (unsigned long long)w->lim->max_object_size);
    return 1;
}

/* Pull the top-level object from the source, front to back, once. */
static int read_top(pal_walk *w, const pal_source *src, const char *name, uint64_t size,
                    size_t *got)
{
    uint64_t off = 0;
    *got = 0;
    int too_large_rc;
    if (top_too_large(w, name, size, &too_large_rc))
        return too_large_rc;
    if (size > 0) {
        int rc = reserve_top(w, (size_t)size);
        if (rc < 0)
            return rc;
    }
    uint8_t *buf = w->bufs[0].data;
    while (off < size) {
        if (pal_walk_should_stop(w, name))
            break;
        size_t want = size - off < TOP_READ_CHUNK ? (size_t)(size - off) : TOP_READ_CHUNK;
        ssize_t n = src->read_at(src->ctx, off, buf + off, want);
        int rc = 0;
        if (n < 0)
            rc = pal_walk_reasonf(w, PAL_UNSCANNABLE_READ_ERROR, name,
                                  "read at offset %llu failed: %s", (unsigned long long)off,
                                  pal_strerror((int)n));
        else if (n == 0)
            rc = pal_walk_reasonf(w, PAL_UNSCANNABLE_READ_ERROR, name,
                                  "source ended at byte %llu of %llu", (unsigned long long)off,
                                  (unsigned long long)size);
        else if ((size_t)n > want)
            rc = pal_walk_reasonf(w, PAL_UNSCANNABLE_READ_ERROR, name,
                                  "source returned %zd bytes for a %zu-byte read", n, want);
        if (rc < 0)
            return rc;
        if (n <= 0 || (size_t)n > want)
            break;
        off += (uint64_t)n;
        w->rep->bytes_read += (uint64_t)n;
    }
    *got = (size_t)off;
    return 0;
}

/* Release the buffers above keep bytes, and the findings index above keep_fidx slots. */
static void drop_buffers(pal_scanner *sc, size_t keep, size_t keep_fidx)
{
    for (unsigned i = 0; i <= sc->eng->lim.max_depth; i++)
        if (sc->bufs[i].cap > keep)
            buf_release(&sc->bufs[i]);
    if (sc->fidx_cap > keep_fidx) {
        free(sc->fidx);
        sc->fidx = NULL;
        sc->fidx_cap = 0;
    }
}

static void trim_buffers(pal_scanner *sc)
{
    drop_buffers(sc, KEEP_BUFFER_MAX, 4096);
}

void pal_scanner_release_buffers(pal_scanner *sc)
{
    drop_buffers(sc, 0, 0);
    /* libyara's match notebook only grows (to the most string matches one scan had): a
       fresh YARA scanner starts small; the old one stays if there is no memory for it */
    if (sc->yr != NULL) {
        YR_SCANNER *fresh = new_yr_scanner(sc);
        if (fresh != NULL) {
            yr_scanner_destroy(sc->yr);
            sc->yr = fresh;
        }
    }
}

/* A scan's walk state, fresh; rep initialised by the caller. */
static void scan_begin(pal_scanner *sc, const volatile int *cancel, pal_report *rep, uint64_t size)
{
    pal_engine *eng = sc->eng;
    pal_walk *w = &sc->walk;
    memset(w, 0, sizeof(*w));
    w->sc = sc;
    w->lim = &eng->lim;
    w->sup = &eng->sup;
    w->rep = rep;
    w->cancel = cancel;
    w->deadline_ns = now_ns() + (uint64_t)eng->lim.max_scan_ms * 1000000ULL;
    w->bufs = sc->bufs;
    sc->findings_cap = 0;
    if (sc->fidx != NULL)
        memset(sc->fidx, 0, sc->fidx_cap * sizeof(*sc->fidx));
    rep->size = size;
}

/* The verdict from what the walk found, or rc when the engine itself failed. */
static int scan_end(pal_scanner *sc, int rc, pal_report *rep)
{
    sc->cur_chain = NULL;
    trim_buffers(sc);
    if (rc < 0 || sc->walk.nomem) {
        pal_report_free(rep);
        return rc < 0 ? rc : PAL_ENOMEM;
    }
    if (rep->n_findings > 0)
        rep->verdict = PAL_VERDICT_THREAT;
    else if (rep->reason != PAL_UNSCANNABLE_NONE)
        rep->verdict = PAL_VERDICT_UNSCANNABLE;
    else
        rep->verdict = PAL_VERDICT_CLEAN;
    return 0;
}

int pal_scan(pal_scanner *sc, const pal_source *src, const char *name, const volatile int *cancel,
             pal_report *rep)
{
    if (rep == NULL)
        return PAL_EINVAL;
    pal_report_init(rep);
    if (sc == NULL || src == NULL || src->read_at == NULL || name == NULL)
        return PAL_EINVAL;
    pal_walk *w = &sc->walk;
    uint64_t size = src->size;
    scan_begin(sc, cancel, rep, size);
    size_t got = 0;
    int rc = read_top(w, src, name, size, &got);
    if (rc == 0 && !w->stopped && (got > 0 || got == size))
        rc = pal_walk_object(w, w->bufs[0].data, got, name, 0, got == size ? PAL_OBJ_COMPLETE : 0);
    return scan_end(sc, rc, rep);
}

int pal_scan_memory(pal_scanner *sc, const void *data, size_t len, const char *name,
                    const volatile int *cancel, pal_report *rep)
{
    if (rep == NULL)
        return PAL_EINVAL;
    pal_report_init(rep);
    if (sc == NULL || (data == NULL && len > 0) || name == NULL)
        return PAL_EINVAL;
    pal_walk *w = &sc->walk;
    scan_begin(sc, cancel, rep, len);
    int rc = 0;
    if (!top_too_large(w, name, len, &rc) && !pal_walk_should_stop(w, name)) {
        rep->bytes_read = len;
        rc = pal_walk_object(w, data, len, name, 0, PAL_OBJ_COMPLETE);
    }
    return scan_end(sc, rc, rep);
}
