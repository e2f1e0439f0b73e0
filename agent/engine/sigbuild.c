/*
 * sigbuild.c — owns writing signed signature packages: collecting the catalog, hashes and
 * YARA sources, checking that they agree, laying the file out as sigpkg.c's table says,
 * signing it and putting it in place atomically; and generating signing key pairs. Reading
 * a source directory (palisade-sigtool build DIR) is sigbuild_dir.c's.
 *
 * Cross-references (rule -> threat, hash -> threat) are checked when the package is
 * written, not when an item is added, so that items may be added in any order. YARA
 * warnings fail the build like errors: a rule libyara calls slow slows every scan of
 * every file on every machine that installs the package.
 */
#define _GNU_SOURCE
#include "sigbuild.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <yara.h>

#include "sigpkg_format.h"
#include "sigpkg_hashdb.h"

#define KEY_FILE_MAX (64u * 1024)

struct sb_threat {
    char *name;     /* owned */
    char *category; /* owned */
    pal_severity severity;
    pal_action action;
    uint32_t name_off; /* in the string pool, set while writing */
    uint32_t cat_off;
};

struct sb_hash {
    uint8_t sha256[32];
    char *threat; /* owned */
    uint32_t id;  /* catalog index, set while writing */
};

/* A sized hash (format 2 tables): MD5, SHA-1 or SHA-256 with a size, or an allow entry. */
struct sb_xhash {
    pal_hashdb_item it; /* it.id set while writing */
    uint8_t alg;
    char *threat; /* owned; NULL for an allow entry */
};

struct pal_sigbuild {
    struct sb_xhash *xhashes;
    size_t n_xhashes, cap_xhashes;
    struct sb_threat *threats;
    size_t n_threats, cap_threats;
    struct sb_hash *hashes;
    size_t n_hashes, cap_hashes;
    YR_COMPILER *compiler; /* until the rules are taken out of it */
    YR_RULES *rules;       /* after the first write */
    int broken;            /* a source failed: libyara forbids using the compiler again */
};

/* ---- small helpers ------------------------------------------------------------------------ */

/* Room for element n of arr: arr itself, or the array moved and *cap doubled; NULL (arr
   untouched) when memory runs out. */
static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / elem)
        return NULL;
    void *p = realloc(arr, ncap * elem);
    if (p)
        *cap = ncap;
    return p;
}

/* Names and categories end up in JSON, logs and terminals: keep them plain. */
static int check_label(const char *s, const char *what, pal_errbuf *err)
{
    if (!s || !*s)
        return pal_err_set(err, PAL_EINVAL, "empty %s", what);
    size_t len = 0;
    for (; s[len]; len++) {
        unsigned char c = (unsigned char)s[len];
        if (c < 0x20 || c > 0x7e)
            return pal_err_set(err, PAL_EINVAL, "%s \"%.64s\" has a non-printable byte 0x%02x",
                               what, s, c);
        if (len == PAL_THREAT_NAME_MAX)
            return pal_err_set(err, PAL_EINVAL, "%s \"%.64s...\" longer than %d bytes", what, s,
                               PAL_THREAT_NAME_MAX);
    }
    return 0;
}

static void sha_hex(const uint8_t sha[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[sha[i] >> 4];
        out[2 * i + 1] = hex[sha[i] & 15];
    }
    out[64] = '\0';
}

/* ---- keys --------------------------------------------------------------------------------- */

static int load_private_key(const char *path, EVP_PKEY **out, pal_errbuf *err)
{
    char *pem = NULL;
    size_t len = 0;
    int rc = pal_sigfile_read(path, KEY_FILE_MAX, &pem, &len, err);
    if (rc)
        return rc;
    EVP_PKEY *pkey = NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len); /* len <= KEY_FILE_MAX fits an int */
    if (!bio) {
        rc = PAL_ENOMEM;
        goto out;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (!pkey) {
        rc = pal_err_set(err, PAL_EFORMAT, "%s: not a PEM private key", path);
        goto out;
    }
    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
        rc = pal_err_set(err, PAL_EFORMAT, "%s: not an Ed25519 private key", path);
        goto out;
    }
    *out = pkey;
    pkey = NULL;
    rc = 0;
out:
    ERR_clear_error();
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    OPENSSL_cleanse(pem, len);
    free(pem);
    return rc;
}

static int key_id_of(EVP_PKEY *pkey, uint8_t id[PAL_KEY_ID_LEN], pal_errbuf *err)
{
    uint8_t raw[32];
    size_t raw_len = sizeof(raw);
    if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1 || raw_len != sizeof(raw)) {
        ERR_clear_error();
        return pal_err_set(err, PAL_EENGINE, "cannot extract the raw public key");
    }
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(raw, sizeof(raw), digest);
    memcpy(id, digest, PAL_KEY_ID_LEN);
    return 0;
}

static int sign_with(EVP_PKEY *pkey, const void *msg, size_t len, uint8_t sig[64], pal_errbuf *err)
{
    int rc = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return PAL_ENOMEM;
    size_t sig_len = PAL_SIGPKG_SIG_SIZE;
    if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
        EVP_DigestSign(ctx, sig, &sig_len, msg, len) != 1 || sig_len != PAL_SIGPKG_SIG_SIZE)
        rc = pal_err_set(err, PAL_EENGINE, "Ed25519 signing failed");
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    return rc;
}

int pal_sigbuild_sign_bytes(const char *privkey_pem_path, const void *msg, size_t len,
                            uint8_t sig[64], uint8_t key_id[PAL_KEY_ID_LEN], pal_errbuf *err)
{
    if (!privkey_pem_path || (!msg && len) || !sig)
        return pal_err_set(err, PAL_EINVAL, "invalid arguments to pal_sigbuild_sign_bytes");
    EVP_PKEY *pkey = NULL;
    int rc = load_private_key(privkey_pem_path, &pkey, err);
    if (rc)
        return rc;
    uint8_t id[PAL_KEY_ID_LEN];
    uint8_t s[PAL_SIGPKG_SIG_SIZE] = {0};
    rc = key_id_of(pkey, id, err);
    if (!rc)
        rc = sign_with(pkey, msg, len, s, err);
    if (!rc) {
        memcpy(sig, s, sizeof(s));
        if (key_id)
            memcpy(key_id, id, sizeof(id));
    }
    EVP_PKEY_free(pkey);
    return rc;
}

/*
 * Put data in path: write it to a new temporary file beside path (mode applied, fsync'd),
 * then either link it to path, which fails if path exists (replace = 0: key files are
 * never overwritten), or rename it over path (replace = 1). The directory is not synced.
 */
static int put_file(const char *path, const void *data, size_t len, mode_t mode, int replace,
                    pal_errbuf *err)
{
    int rc = 0;
    size_t need = strlen(path) + sizeof(".tmp.XXXXXX");
    char *tmp = malloc(need);
    if (!tmp)
        return PAL_ENOMEM;
    snprintf(tmp, need, "%s.tmp.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC); /* created 0600: a private key is never exposed */
    if (fd < 0) {
        rc = pal_err_set(err, PAL_EIO, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    const uint8_t *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = pal_err_set(err, PAL_EIO, "%s: write: %s", tmp, strerror(errno));
            goto fail;
        }
        done += (size_t)n;
    }
    if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
        rc = pal_err_set(err, PAL_EIO, "%s: %s", tmp, strerror(errno));
        goto fail;
    }
    int closed = close(fd);
    fd = -1;
    if (closed != 0) {
        rc = pal_err_set(err, PAL_EIO, "%s: close: %s", tmp, strerror(errno));
        goto fail;
    }
    if (replace ? rename(tmp, path) != 0 : link(tmp, path) != 0) {
        rc = pal_err_set(err, errno == EEXIST ? PAL_EEXIST : PAL_EIO, "%s: %s", path,
                         strerror(errno));
        goto fail;
    }
    if (!replace)
        unlink(tmp);
    free(tmp);
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return rc;
}

/* fsync the directory holding path, so that a rename or link survives a crash. */
static int sync_parent_dir(const char *path, pal_errbuf *err)
{
    char *dir = strdup(path);
    if (!dir)
        return PAL_ENOMEM;
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash == dir)
        d = "/";
    else if (slash) {
        *slash = '\0';
        d = dir;
    }
    int rc = 0;
    int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0)
        rc = pal_err_set(err, PAL_EIO, "%s: %s", d, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    free(dir);
    return rc;
}

int pal_sigbuild_keygen(const char *prefix, pal_errbuf *err)
{
    if (!prefix || !*prefix)
        return pal_err_set(err, PAL_EINVAL, "empty key prefix");
    int rc;
    EVP_PKEY *pkey = NULL;
    BIO *priv = NULL, *pub = NULL;
    char *key_path = NULL, *pub_path = NULL;
    size_t need = strlen(prefix) + 5;
    key_path = malloc(need);
    pub_path = malloc(need);
    if (!key_path || !pub_path) {
        rc = PAL_ENOMEM;
        goto out;
    }
    snprintf(key_path, need, "%s.key", prefix);
    snprintf(pub_path, need, "%s.pub", prefix);
    struct stat st;
    if (lstat(key_path, &st) == 0 || lstat(pub_path, &st) == 0) {
        rc = pal_err_set(err, PAL_EEXIST, "%s.key or %s.pub already exists", prefix, prefix);
        goto out;
    }

    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    priv = BIO_new(BIO_s_secmem());
    pub = BIO_new(BIO_s_mem());
    if (!pkey || !priv || !pub) {
        rc = pal_err_set(err, PAL_EENGINE, "Ed25519 key generation failed");
        goto out;
    }
    if (PEM_write_bio_PrivateKey(priv, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_PUBKEY(pub, pkey) != 1) {
        rc = pal_err_set(err, PAL_EENGINE, "PEM encoding of the key pair failed");
        goto out;
    }
    char *pem;
    long len = BIO_get_mem_data(pub, &pem);
    if (len <= 0) {
        rc = pal_err_set(err, PAL_EENGINE, "PEM encoding of the public key failed");
        goto out;
    }
    /* Public half first: a crash between the two leaves no private key without its pair. */
    rc = put_file(pub_path, pem, (size_t)len, 0644, 0, err);
    if (rc)
        goto out;
    len = BIO_get_mem_data(priv, &pem);
    if (len <= 0) {
        unlink(pub_path);
        rc = pal_err_set(err, PAL_EENGINE, "PEM encoding of the private key failed");
        goto out;
    }
    rc = put_file(key_path, pem, (size_t)len, 0600, 0, err);
    if (rc) {
        unlink(pub_path);
        goto out;
    }
    rc = sync_parent_dir(key_path, err);
out:
    ERR_clear_error();
    BIO_free(priv);
    BIO_free(pub);
    EVP_PKEY_free(pkey);
    free(key_path);
    free(pub_path);
    return rc;
}

/* ---- the builder -------------------------------------------------------------------------- */

int pal_sigbuild_new(pal_sigbuild **out)
{
    if (!out)
        return PAL_EINVAL;
    pal_sigbuild *b = calloc(1, sizeof(*b));
    if (!b)
        return PAL_ENOMEM;
    if (yr_initialize() != ERROR_SUCCESS) {
        free(b);
        return PAL_EENGINE;
    }
    if (yr_compiler_create(&b->compiler) != ERROR_SUCCESS) {
        yr_finalize();
        free(b);
        return PAL_ENOMEM;
    }
    /* Packages are built from exactly the sources given: no file is read behind our back. */
    yr_compiler_set_include_callback(b->compiler, NULL, NULL, NULL);
    *out = b;
    return 0;
}

void pal_sigbuild_free(pal_sigbuild *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_threats; i++) {
        free(b->threats[i].name);
        free(b->threats[i].category);
    }
    free(b->threats);
    for (size_t i = 0; i < b->n_hashes; i++)
        free(b->hashes[i].threat);
    free(b->hashes);
    for (size_t i = 0; i < b->n_xhashes; i++)
        free(b->xhashes[i].threat);
    free(b->xhashes);
    if (b->compiler)
        yr_compiler_destroy(b->compiler);
    if (b->rules)
        yr_rules_destroy(b->rules);
    yr_finalize();
    free(b);
}

int pal_sigbuild_add_threat(pal_sigbuild *b, const char *name, pal_severity sev,
                            const char *category, pal_action default_action, pal_errbuf *err)
{
    if (!b)
        return pal_err_set(err, PAL_EINVAL, "no builder");
    int rc = check_label(name, "threat name", err);
    if (rc)
        return rc;
    if ((rc = check_label(category, "category", err)))
        return rc;
    if (!pal_severity_name(sev))
        return pal_err_set(err, PAL_EINVAL, "threat %s: invalid severity %d", name, (int)sev);
    if (!pal_action_name(default_action))
        return pal_err_set(err, PAL_EINVAL, "threat %s: invalid action %d", name,
                           (int)default_action);
    struct sb_threat *threats =
        grow(b->threats, &b->cap_threats, b->n_threats, sizeof(*b->threats));
    if (!threats)
        return PAL_ENOMEM;
    b->threats = threats;
    struct sb_threat t = {.severity = sev, .action = default_action};
    t.name = strdup(name);
    t.category = strdup(category);
    if (!t.name || !t.category) {
        free(t.name);
        free(t.category);
        return PAL_ENOMEM;
    }
    b->threats[b->n_threats++] = t;
    return 0;
}

int pal_sigbuild_add_sha256(pal_sigbuild *b, const uint8_t sha256[32], const char *threat,
                            pal_errbuf *err)
{
    if (!b || !sha256)
        return pal_err_set(err, PAL_EINVAL, "no builder or hash");
    int rc = check_label(threat, "threat name", err);
    if (rc)
        return rc;
    struct sb_hash *hashes = grow(b->hashes, &b->cap_hashes, b->n_hashes, sizeof(*b->hashes));
    if (!hashes)
        return PAL_ENOMEM;
    b->hashes = hashes;
    struct sb_hash h;
    memcpy(h.sha256, sha256, 32);
    h.id = 0;
    h.threat = strdup(threat);
    if (!h.threat)
        return PAL_ENOMEM;
    b->hashes[b->n_hashes++] = h;
    return 0;
}

int pal_sigbuild_add_hash(pal_sigbuild *b, pal_hash_alg alg, const uint8_t *digest, uint64_t size,
                          const char *threat, pal_errbuf *err)
{
    unsigned dlen = pal_hashdb_dlen(alg);
    if (!b || !digest || !dlen)
        return pal_err_set(err, PAL_EINVAL, "no builder, digest or algorithm");
    int rc = threat ? check_label(threat, "threat name", err) : 0;
    if (rc)
        return rc;
    struct sb_xhash *xs = grow(b->xhashes, &b->cap_xhashes, b->n_xhashes, sizeof(*xs));
    if (!xs)
        return PAL_ENOMEM;
    b->xhashes = xs;
    struct sb_xhash h = {.alg = (uint8_t)alg};
    memcpy(h.it.digest, digest, dlen);
    h.it.size = size;
    h.it.id = PAL_HASH_ALLOW;
    if (threat && !(h.threat = strdup(threat)))
        return PAL_ENOMEM;
    b->xhashes[b->n_xhashes++] = h;
    return 0;
}

struct compile_ctx {
    const char *name;
    pal_errbuf msg;
    size_t len;
    unsigned problems;
};

static void compile_cb(int level, const char *file_name, int line, const YR_RULE *rule,
                       const char *message, void *user)
{
    (void)file_name; /* always NULL for sources added as strings */
    (void)rule;
    struct compile_ctx *ctx = user;
    ctx->problems++;
    if (ctx->len >= sizeof(ctx->msg.msg) - 1)
        return;
    int n = snprintf(ctx->msg.msg + ctx->len, sizeof(ctx->msg.msg) - ctx->len, "%s%s:%d: %s%s",
                     ctx->len ? "; " : "", ctx->name, line,
                     level == YARA_ERROR_LEVEL_WARNING ? "warning: " : "", message);
    if (n > 0)
        ctx->len += (size_t)n;
    if (ctx->len > sizeof(ctx->msg.msg) - 1)
        ctx->len = sizeof(ctx->msg.msg) - 1;
}

int pal_sigbuild_add_rules(pal_sigbuild *b, const char *source, const char *name, pal_errbuf *err)
{
    if (!b || !source)
        return pal_err_set(err, PAL_EINVAL, "no builder or source");
    if (b->broken)
        return pal_err_set(err, PAL_ESTATE, "an earlier rule source failed to compile");
    if (!b->compiler)
        return pal_err_set(err, PAL_ESTATE, "rules were already compiled into a package");
    struct compile_ctx ctx = {.name = name ? name : "<rules>"};
    yr_compiler_set_callback(b->compiler, compile_cb, &ctx);
    int errors = yr_compiler_add_string(b->compiler, source, NULL);
    yr_compiler_set_callback(b->compiler, NULL, NULL);
    if (errors > 0 || ctx.problems > 0) {
        b->broken = 1;
        if (errors == 0)
            return pal_err_set(err, PAL_EFORMAT, "%s (warnings are errors in a package)",
                               ctx.msg.msg);
        return pal_err_set(err, PAL_EFORMAT, "%s", ctx.msg.msg);
    }
    return 0;
}

static int cmp_strptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- writing ------------------------------------------------------------------------------ */

static int cmp_threat(const void *a, const void *b)
{
    return strcmp(((const struct sb_threat *)a)->name, ((const struct sb_threat *)b)->name);
}

static int cmp_hash(const void *a, const void *b)
{
    return memcmp(((const struct sb_hash *)a)->sha256, ((const struct sb_hash *)b)->sha256, 32);
}

static int cmp_xhash(const void *a, const void *b)
{
    const struct sb_xhash *x = a, *y = b;
    if (x->alg != y->alg)
        return x->alg < y->alg ? -1 : 1;
    return pal_hashdb_item_cmp(&x->it, &y->it, pal_hashdb_dlen((pal_hash_alg)x->alg));
}

/* Catalog index of name in the sorted threats, or -1. */
static long find_threat(const pal_sigbuild *b, const char *name)
{
    size_t lo = 0, hi = b->n_threats;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, b->threats[mid].name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

/* Every rule that can report a match must name a catalog threat, exactly once. */
static int check_rules(const pal_sigbuild *b, uint32_t *rule_count, pal_errbuf *err)
{
    const YR_RULE *rule;
    uint32_t count = 0;
    yr_rules_foreach(b->rules, rule)
    {
        count++;
        if (RULE_IS_PRIVATE(rule))
            continue; /* private rules never reach the match callback */
        const YR_META *meta;
        const char *threat = NULL;
        int seen = 0;
        yr_rule_metas_foreach(rule, meta)
        {
            if (strcmp(meta->identifier, "threat") != 0)
                continue;
            if (meta->type != META_TYPE_STRING)
                return pal_err_set(err, PAL_EFORMAT, "rule %s: meta threat is not a string",
                                   rule->identifier);
            threat = meta->string;
            seen++;
        }
        if (seen == 0)
            return pal_err_set(err, PAL_EFORMAT, "rule %s has no meta threat = \"...\"",
                               rule->identifier);
        if (seen > 1)
            return pal_err_set(err, PAL_EFORMAT, "rule %s has more than one meta threat",
                               rule->identifier);
        if (find_threat(b, threat) < 0)
            return pal_err_set(err, PAL_EFORMAT, "rule %s: threat \"%.255s\" is not in the catalog",
                               rule->identifier, threat);
    }
    *rule_count = count;
    return 0;
}

struct membuf {
    uint8_t *data;
    size_t len, cap;
    int failed;
};

static size_t membuf_write(const void *ptr, size_t size, size_t count, void *user)
{
    struct membuf *m = user;
    if (m->failed || size == 0 || count == 0)
        return m->failed ? 0 : count;
    if (count > PAL_SIGPKG_MAX_SIZE / size || size * count > PAL_SIGPKG_MAX_SIZE - m->len) {
        m->failed = 1;
        return 0;
    }
    size_t add = size * count;
    if (m->len + add > m->cap) {
        size_t ncap = m->cap ? m->cap : 64 * 1024;
        while (ncap < m->len + add)
            ncap *= 2;
        uint8_t *p = realloc(m->data, ncap);
        if (!p) {
            m->failed = 1;
            return 0;
        }
        m->data = p;
        m->cap = ncap;
    }
    memcpy(m->data + m->len, ptr, add);
    m->len += add;
    return count;
}

static uint64_t align_up(uint64_t v)
{
    return (v + (PAL_SIGPKG_SECTION_ALIGN - 1)) & ~(uint64_t)(PAL_SIGPKG_SECTION_ALIGN - 1);
}

/* Lay out the string pool: names in catalog order, then each distinct category once. */
static int build_strings(pal_sigbuild *b, uint8_t **pool_out, size_t *len_out, pal_errbuf *err)
{
    int rc = 0;
    uint64_t total = 0;
    char **cats = NULL;
    uint32_t *cat_offs = NULL;
    uint8_t *pool = NULL;
    size_t n = b->n_threats, n_cats = 0;

    if (n > 0) {
        cats = malloc(n * sizeof(*cats));
        cat_offs = malloc(n * sizeof(*cat_offs));
        if (!cats || !cat_offs) {
            rc = PAL_ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        total += strlen(b->threats[i].name) + 1;
        cats[i] = b->threats[i].category;
    }
    if (n > 0)
        qsort(cats, n, sizeof(*cats), cmp_strptr);
    for (size_t i = 0; i < n; i++) {
        if (n_cats > 0 && strcmp(cats[n_cats - 1], cats[i]) == 0)
            continue;
        cats[n_cats++] = cats[i];
        total += strlen(cats[i]) + 1;
    }
    if (total > UINT32_MAX || total > PAL_SIGPKG_MAX_SIZE) {
        rc = pal_err_set(err, PAL_ELIMIT, "string pool of %llu bytes too large",
                         (unsigned long long)total);
        goto out;
    }
    pool = malloc(total ? total : 1);
    if (!pool) {
        rc = PAL_ENOMEM;
        goto out;
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(b->threats[i].name) + 1;
        memcpy(pool + off, b->threats[i].name, l);
        b->threats[i].name_off = (uint32_t)off;
        off += l;
    }
    for (size_t i = 0; i < n_cats; i++) {
        size_t l = strlen(cats[i]) + 1;
        memcpy(pool + off, cats[i], l);
        cat_offs[i] = (uint32_t)off;
        off += l;
    }
    for (size_t i = 0; i < n; i++) {
        const char *key = b->threats[i].category;
        char **hit = bsearch(&key, cats, n_cats, sizeof(*cats), cmp_strptr);
        b->threats[i].cat_off = cat_offs[hit - cats]; /* every category is in cats */
    }
    *pool_out = pool;
    *len_out = (size_t)total;
    pool = NULL;
out:
    free(pool);
    free(cats);
    free(cat_offs);
    return rc;
}

static int take_rules(pal_sigbuild *b, pal_errbuf *err)
{
    if (b->rules)
        return 0;
    if (yr_compiler_get_rules(b->compiler, &b->rules) != ERROR_SUCCESS) {
        b->rules = NULL;
        return pal_err_set(err, PAL_EENGINE, "libyara could not produce the compiled rules");
    }
    yr_compiler_destroy(b->compiler);
    b->compiler = NULL;
    return 0;
}

/* Sort, check cross-references and duplicates: everything that can fail on content. */
static int prepare(pal_sigbuild *b, uint32_t *rule_count, pal_errbuf *err)
{
    int rc = take_rules(b, err);
    if (rc)
        return rc;
    if (b->n_threats > UINT32_MAX || b->n_hashes > UINT32_MAX)
        return pal_err_set(err, PAL_ELIMIT, "more than 2^32 threats or hashes");
    if (b->n_threats > 0)
        qsort(b->threats, b->n_threats, sizeof(*b->threats), cmp_threat);
    for (size_t i = 1; i < b->n_threats; i++)
        if (strcmp(b->threats[i - 1].name, b->threats[i].name) == 0)
            return pal_err_set(err, PAL_EEXIST, "threat \"%s\" is in the catalog twice",
                               b->threats[i].name);
    if ((rc = check_rules(b, rule_count, err)))
        return rc;
    char hex[65];
    for (size_t i = 0; i < b->n_hashes; i++) {
        long id = find_threat(b, b->hashes[i].threat);
        if (id < 0) {
            sha_hex(b->hashes[i].sha256, hex);
            return pal_err_set(err, PAL_EFORMAT, "hash %s: threat \"%s\" is not in the catalog",
                               hex, b->hashes[i].threat);
        }
        b->hashes[i].id = (uint32_t)id;
    }
    for (size_t i = 0; i < b->n_xhashes; i++) {
        struct sb_xhash *x = &b->xhashes[i];
        if (!x->threat)
            continue;
        long id = find_threat(b, x->threat);
        if (id < 0)
            return pal_err_set(err, PAL_EFORMAT, "a %s hash: threat \"%s\" is not in the catalog",
                               x->alg == PAL_HASH_MD5    ? "MD5"
                               : x->alg == PAL_HASH_SHA1 ? "SHA-1"
                                                         : "SHA-256",
                               x->threat);
        x->it.id = (uint32_t)id;
    }
    if (b->n_xhashes > 0)
        qsort(b->xhashes, b->n_xhashes, sizeof(*b->xhashes), cmp_xhash);
    for (size_t i = 1; i < b->n_xhashes; i++)
        if (cmp_xhash(&b->xhashes[i - 1], &b->xhashes[i]) == 0)
            return pal_err_set(err, PAL_EEXIST,
                               "a %s hash is listed twice for the same size "
                               "and threat (or allowed twice)",
                               b->xhashes[i].alg == PAL_HASH_MD5    ? "MD5"
                               : b->xhashes[i].alg == PAL_HASH_SHA1 ? "SHA-1"
                                                                    : "SHA-256");
    if (b->n_xhashes > UINT32_MAX)
        return pal_err_set(err, PAL_ELIMIT, "more than 2^32 sized hashes");
    if (b->n_hashes > 0)
        qsort(b->hashes, b->n_hashes, sizeof(*b->hashes), cmp_hash);
    for (size_t i = 1; i < b->n_hashes; i++) {
        if (memcmp(b->hashes[i - 1].sha256, b->hashes[i].sha256, 32) == 0) {
            sha_hex(b->hashes[i].sha256, hex);
            return pal_err_set(err, PAL_EEXIST, "hash %s is listed twice", hex);
        }
    }
    return 0;
}

struct header_fields {
    uint64_t version, created;
    uint8_t key_id[PAL_KEY_ID_LEN];
    uint32_t rule_count;
};

/* Lay the unsigned package out as the table in sigpkg.c says; the last 64 bytes of *file
   are left for the signature. */
static int lay_out(const pal_sigbuild *b, const struct header_fields *hf, const uint8_t *pool,
                   size_t pool_len, const struct membuf *yara, uint8_t **file_out, size_t *len_out,
                   pal_errbuf *err)
{
    unsigned bits = 0; /* smallest index with about one entry per bucket */
    while (bits < PAL_SIGPKG_MAX_BUCKET_BITS && ((uint64_t)1 << bits) < b->n_hashes)
        bits++;
    uint64_t nbuckets = (uint64_t)1 << bits;
    /* Sized tables, one per algorithm present: [first, end) runs of the sorted xhashes. */
    struct {
        unsigned alg, bits;
        size_t first, n;
        uint64_t off, len;
    } ext[3];
    unsigned n_ext = 0;
    for (size_t i = 0; i < b->n_xhashes;) {
        size_t j = i;
        while (j < b->n_xhashes && b->xhashes[j].alg == b->xhashes[i].alg)
            j++;
        ext[n_ext].alg = b->xhashes[i].alg;
        ext[n_ext].first = i;
        ext[n_ext].n = j - i;
        ext[n_ext].bits = pal_hashdb_bits_for(j - i);
        ext[n_ext].len = pal_hashdb_section_len(pal_hashdb_dlen((pal_hash_alg)ext[n_ext].alg),
                                                ext[n_ext].bits, (uint32_t)(j - i));
        n_ext++;
        i = j;
    }
    uint64_t cat_off = PAL_SIGPKG_HEADER_SIZE + (uint64_t)n_ext * PAL_SIGPKG_EXT_ENTRY_SIZE;
    uint64_t cat_len = (uint64_t)b->n_threats * PAL_SIGPKG_CATALOG_ENTRY_SIZE;
    uint64_t str_off = align_up(cat_off + cat_len);
    uint64_t hash_off = align_up(str_off + pool_len);
    uint64_t hash_len = (nbuckets + 1) * 4 + (uint64_t)b->n_hashes * PAL_SIGPKG_HASH_ENTRY_SIZE;
    uint64_t yara_off = align_up(hash_off + hash_len);
    uint64_t body_len = yara_off + yara->len; /* no overflow: each term is far below 2^60 */
    for (unsigned x = 0; x < n_ext; x++) {
        ext[x].off = align_up(body_len);
        body_len = ext[x].off + ext[x].len;
    }
    if (body_len > PAL_SIGPKG_MAX_SIZE - PAL_SIGPKG_SIG_SIZE)
        return pal_err_set(err, PAL_ELIMIT, "package of %llu bytes larger than the limit",
                           (unsigned long long)body_len + PAL_SIGPKG_SIG_SIZE);
    size_t file_len = (size_t)body_len + PAL_SIGPKG_SIG_SIZE;
    uint8_t *file = calloc(1, file_len); /* zeroed: padding and reserved fields */
    if (!file)
        return PAL_ENOMEM;

    memcpy(file + PAL_SIGPKG_H_MAGIC, PAL_SIGPKG_MAGIC, PAL_SIGPKG_MAGIC_LEN);
    /* Version 1 when there is no extension: readers of version 1 still load such a package. */
    pal_put_le32(file + PAL_SIGPKG_H_FORMAT,
                 n_ext ? PAL_SIGPKG_FORMAT_VERSION_EXT : PAL_SIGPKG_FORMAT_VERSION);
    pal_put_le32(file + PAL_SIGPKG_H_RESERVED, n_ext);
    pal_put_le32(file + PAL_SIGPKG_H_BUCKET_BITS, bits);
    pal_put_le64(file + PAL_SIGPKG_H_VERSION, hf->version);
    pal_put_le64(file + PAL_SIGPKG_H_CREATED, hf->created);
    memcpy(file + PAL_SIGPKG_H_KEY_ID, hf->key_id, PAL_KEY_ID_LEN);
    pal_put_le32(file + PAL_SIGPKG_H_THREAT_COUNT, (uint32_t)b->n_threats);
    pal_put_le32(file + PAL_SIGPKG_H_HASH_COUNT, (uint32_t)b->n_hashes);
    pal_put_le32(file + PAL_SIGPKG_H_RULE_COUNT, hf->rule_count);
    pal_put_le64(file + PAL_SIGPKG_H_CATALOG_OFF, cat_off);
    pal_put_le64(file + PAL_SIGPKG_H_CATALOG_LEN, cat_len);
    pal_put_le64(file + PAL_SIGPKG_H_STRINGS_OFF, str_off);
    pal_put_le64(file + PAL_SIGPKG_H_STRINGS_LEN, pool_len);
    pal_put_le64(file + PAL_SIGPKG_H_HASH_OFF, hash_off);
    pal_put_le64(file + PAL_SIGPKG_H_HASH_LEN, hash_len);
    pal_put_le64(file + PAL_SIGPKG_H_YARA_OFF, yara_off);
    pal_put_le64(file + PAL_SIGPKG_H_YARA_LEN, yara->len);
    pal_put_le64(file + PAL_SIGPKG_H_BODY_LEN, body_len);

    for (size_t i = 0; i < b->n_threats; i++) {
        uint8_t *e = file + cat_off + i * PAL_SIGPKG_CATALOG_ENTRY_SIZE;
        pal_put_le32(e + PAL_SIGPKG_C_NAME, b->threats[i].name_off);
        pal_put_le32(e + PAL_SIGPKG_C_CATEGORY, b->threats[i].cat_off);
        e[PAL_SIGPKG_C_SEVERITY] = (uint8_t)b->threats[i].severity;
        e[PAL_SIGPKG_C_ACTION] = (uint8_t)b->threats[i].action;
    }
    if (pool_len)
        memcpy(file + str_off, pool, pool_len);
    /* Bucket index: idx[k] = first entry whose bucket is >= k (entries are sorted). */
    uint8_t *idx = file + hash_off;
    uint8_t *ent = idx + (nbuckets + 1) * 4;
    size_t i = 0;
    for (uint64_t k = 0; k <= nbuckets; k++) {
        while (i < b->n_hashes && pal_sigpkg_bucket(b->hashes[i].sha256, bits) < k)
            i++;
        pal_put_le32(idx + k * 4, (uint32_t)i);
    }
    for (i = 0; i < b->n_hashes; i++) {
        uint8_t *e = ent + i * PAL_SIGPKG_HASH_ENTRY_SIZE;
        memcpy(e, b->hashes[i].sha256, 32);
        pal_put_le32(e + 32, b->hashes[i].id);
    }
    if (yara->len)
        memcpy(file + yara_off, yara->data, yara->len);
    for (unsigned x = 0; x < n_ext; x++) {
        uint8_t *d = file + PAL_SIGPKG_HEADER_SIZE + (size_t)x * PAL_SIGPKG_EXT_ENTRY_SIZE;
        pal_put_le32(d + PAL_SIGPKG_X_TYPE, ext[x].alg); /* the type is the algorithm */
        pal_put_le32(d + PAL_SIGPKG_X_COUNT, (uint32_t)ext[x].n);
        pal_put_le64(d + PAL_SIGPKG_X_OFF, ext[x].off);
        pal_put_le64(d + PAL_SIGPKG_X_LEN, ext[x].len);
        /* the items are contiguous in xhashes but interleaved with alg/threat: gather */
        pal_hashdb_item *items = malloc((ext[x].n ? ext[x].n : 1) * sizeof(*items));
        if (!items) {
            free(file);
            return PAL_ENOMEM;
        }
        for (size_t k = 0; k < ext[x].n; k++)
            items[k] = b->xhashes[ext[x].first + k].it;
        pal_hashdb_write(file + ext[x].off, pal_hashdb_dlen((pal_hash_alg)ext[x].alg), ext[x].bits,
                         items, (uint32_t)ext[x].n);
        free(items);
    }
    *file_out = file;
    *len_out = file_len;
    return 0;
}

int pal_sigbuild_write(pal_sigbuild *b, uint64_t version, uint64_t created,
                       const char *privkey_pem_path, const char *out_path, pal_errbuf *err)
{
    if (!b || !privkey_pem_path || !out_path)
        return pal_err_set(err, PAL_EINVAL, "invalid arguments to pal_sigbuild_write");
    if (b->broken)
        return pal_err_set(err, PAL_ESTATE, "a rule source failed to compile");
    int rc;
    uint8_t *pool = NULL, *file = NULL;
    size_t pool_len = 0, file_len = 0;
    struct membuf yara = {0};
    EVP_PKEY *pkey = NULL;
    struct header_fields hf = {.version = version, .created = created};

    if ((rc = prepare(b, &hf.rule_count, err)))
        goto out;
    if ((rc = build_strings(b, &pool, &pool_len, err)))
        goto out;
    YR_STREAM stream = {.user_data = &yara, .write = membuf_write};
    if (yr_rules_save_stream(b->rules, &stream) != ERROR_SUCCESS || yara.failed) {
        rc = pal_err_set(err, yara.failed ? PAL_ELIMIT : PAL_EENGINE,
                         "could not serialise the compiled rules");
        goto out;
    }
    if ((rc = load_private_key(privkey_pem_path, &pkey, err)) ||
        (rc = key_id_of(pkey, hf.key_id, err)))
        goto out;
    if ((rc = lay_out(b, &hf, pool, pool_len, &yara, &file, &file_len, err)))
        goto out;
    size_t body_len = file_len - PAL_SIGPKG_SIG_SIZE;
    if ((rc = sign_with(pkey, file, body_len, file + body_len, err)))
        goto out;
    /* Durable before it replaces the old package, and the rename durable after. */
    rc = put_file(out_path, file, file_len, 0644, 1, err);
    if (!rc)
        rc = sync_parent_dir(out_path, err);
out:
    EVP_PKEY_free(pkey);
    free(yara.data);
    free(file);
    free(pool);
    return rc;
}
