/*
 * sigpkg.c — owns reading the signed signature package: the trusted keyring, opening a
 * package (map, check structure, verify the Ed25519 signature) and the in-place lookups.
 *
 * The file may be hostile until its signature is verified, and the header must be parsed
 * before that to find the key id, so every length and offset is checked with arithmetic
 * that cannot overflow. Checks run cheapest first: the fixed header (O(1)), then the
 * signature, then the deep walk over the catalog and the hash table (O(size)). A process
 * that opens without PAL_SIGPKG_VERIFY (the content process, handed a package the broker
 * verified) still gets every structural check, so no lookup can leave the mapping.
 *
 * The mapping is MAP_SHARED from a file the caller must own (the broker keeps installed
 * packages in its root-owned state directory): a file truncated under the mapping would
 * fault, and one rewritten in place would change bytes already checked.
 *
 * On-disk format, version 1 (and 2, below). All integers little-endian; offsets are from
 * the file start.
 *
 * File:
 *   offset       size        meaning
 *   0            128         header
 *   catalog_off  catalog_len catalog: threat_count entries of 12 bytes, sorted by name
 *   strings_off  strings_len string pool: NUL-terminated names and categories
 *   hash_off     hash_len    hash section: bucket index, then sorted hash entries
 *   yara_off     yara_len    compiled YARA rules (yr_rules_save_stream output, "YARA" v19)
 *   body_len     64          Ed25519 signature over bytes [0, body_len)
 * Sections appear in this order, each starting at or after the end of the one before (the
 * builder pads to 8 bytes with zeros); the file ends right after the signature.
 *
 * Header (128 bytes):
 *   offset  size  meaning
 *   0       8     magic "PALSIGPK"
 *   8       4     format version (1); anything else is PAL_EVERSION
 *   12      4     hash index bits B, 0..24: the index has 2^B buckets
 *   16      8     package version (increases with every release)
 *   24      8     created, unix seconds
 *   32      8     key id of the signing key: first 8 bytes of SHA-256(raw public key)
 *   40      4     threat_count (catalog entries)
 *   44      4     hash_count (hash entries)
 *   48      4     rule_count (YARA rules in the blob; informative)
 *   52      4     reserved, zero
 *   56      8     catalog_off          64  8  catalog_len  = threat_count * 12
 *   72      8     strings_off          80  8  strings_len
 *   88      8     hash_off             96  8  hash_len     = (2^B + 1) * 4 + hash_count * 36
 *   104     8     yara_off             112 8  yara_len
 *   120     8     body_len = file size - 64
 *
 * Catalog entry (12 bytes), entries strictly ascending by name (byte order, strcmp):
 *   0  4  name offset in the string pool     ("Virus:DOS/EICAR_Test_File")
 *   4  4  category offset in the string pool ("Virus")
 *   8  1  severity: 1 Low, 2 Moderate, 3 High, 4 Severe
 *   9  1  default action: 1 Quarantine, 2 Remove, 3 NoAction
 *   10 2  reserved, zero
 * The threat id is the entry's index. Strings are 1..255 printable ASCII bytes + NUL.
 *
 * Hash section:
 *   0               (2^B + 1) * 4  bucket index: u32 idx[k] = first entry whose bucket is
 *                                  >= k; idx[0] = 0, idx[2^B] = hash_count, non-decreasing
 *   (2^B + 1) * 4   hash_count*36  entries strictly ascending by SHA-256 (memcmp):
 *                                  0 32 SHA-256, 32 4 threat id (< threat_count)
 * The bucket of a hash is its first 32 bits read big-endian, shifted right by 32 - B
 * (bucket 0 when B = 0), so entries of bucket k are exactly [idx[k], idx[k+1]) and a
 * lookup is a binary search over a bucket of about one entry.
 *
 * Version 2 = version 1 plus extension sections. The header's field 52 (zero in version 1)
 * counts them (1..8); a directory of that many 24-byte entries follows the header at 128
 * (u32 type, u32 count, u64 offset, u64 length) and the catalog starts after it. The
 * sections follow the YARA section in directory order, 8-byte aligned, before the
 * signature, which covers them like everything else. Types 1, 2, 3 are the MD5, SHA-1 and
 * SHA-256 sized hash tables (digest + file size or any size + threat id or allow), laid out
 * as sigpkg_hashdb.h says; each type appears at most once, an unknown type is refused. The
 * builder writes version 1 whenever there is no extension, so such packages still load in
 * a version 1 reader.
 */
#define _GNU_SOURCE
#include "sigpkg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <yara.h>

#include "sigpkg_format.h"
#include "sigpkg_hashdb.h"

#define KEYRING_MAX_KEYS 256
#define KEY_FILE_MAX (64 * 1024)
#define ED25519_RAW_LEN 32

/* ---- keyring ------------------------------------------------------------------------------ */

struct keyring_key {
    uint8_t id[PAL_KEY_ID_LEN];
    uint8_t raw[ED25519_RAW_LEN];
    EVP_PKEY *pkey; /* owned */
};

struct pal_keyring {
    struct keyring_key *keys; /* in insertion order */
    size_t n, cap;
};

void pal_key_id_hex(const uint8_t key_id[PAL_KEY_ID_LEN], char out[2 * PAL_KEY_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < PAL_KEY_ID_LEN; i++) {
        out[2 * i] = hex[key_id[i] >> 4];
        out[2 * i + 1] = hex[key_id[i] & 15];
    }
    out[2 * PAL_KEY_ID_LEN] = '\0';
}

int pal_keyring_new(pal_keyring **out)
{
    if (!out)
        return PAL_EINVAL;
    pal_keyring *kr = calloc(1, sizeof(*kr));
    if (!kr)
        return PAL_ENOMEM;
    *out = kr;
    return 0;
}

void pal_keyring_free(pal_keyring *kr)
{
    if (!kr)
        return;
    for (size_t i = 0; i < kr->n; i++)
        EVP_PKEY_free(kr->keys[i].pkey);
    free(kr->keys);
    free(kr);
}

size_t pal_keyring_count(const pal_keyring *kr)
{
    return kr ? kr->n : 0;
}

int pal_sigfile_read(const char *path, size_t max, char **buf, size_t *len, pal_errbuf *err)
{
    int rc;
    char *data = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return pal_err_set(err, errno == ENOENT ? PAL_ENOTFOUND : PAL_EIO, "%s: %s", path,
                           strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = pal_err_set(err, PAL_EIO, "%s: %s", path, strerror(errno));
        goto out_close;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = pal_err_set(err, PAL_EINVAL, "%s: not a regular file", path);
        goto out_close;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > max) {
        rc = pal_err_set(err, PAL_ELIMIT, "%s: larger than %zu bytes", path, max);
        goto out_close;
    }
    size_t size = (size_t)st.st_size;
    data = malloc(size + 1);
    if (!data) {
        rc = PAL_ENOMEM;
        goto out_close;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = pal_err_set(err, PAL_EIO, "%s: %s", path, strerror(errno));
            goto out_free;
        }
        if (n == 0)
            break; /* shrank while we read: take what is there */
        got += (size_t)n;
    }
    data[got] = '\0';
    *buf = data;
    *len = got;
    data = NULL;
    rc = 0;
out_free:
    if (data) {
        OPENSSL_cleanse(data, size);
        free(data);
    }
out_close:
    close(fd);
    return rc;
}

static int keyring_add_pkey(pal_keyring *kr, EVP_PKEY *pkey, const char *what, pal_errbuf *err)
{
    uint8_t raw[ED25519_RAW_LEN];
    size_t raw_len = sizeof(raw);
    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519)
        return pal_err_set(err, PAL_EFORMAT, "%s: not an Ed25519 public key", what);
    if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1 || raw_len != sizeof(raw)) {
        ERR_clear_error();
        return pal_err_set(err, PAL_EENGINE, "%s: cannot extract the raw public key", what);
    }
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(raw, sizeof(raw), digest);

    for (size_t i = 0; i < kr->n; i++) {
        if (memcmp(kr->keys[i].id, digest, PAL_KEY_ID_LEN) != 0)
            continue;
        if (memcmp(kr->keys[i].raw, raw, sizeof(raw)) == 0)
            return 0; /* the same key twice (e.g. two copies in the directory) */
        char hex[2 * PAL_KEY_ID_LEN + 1];
        pal_key_id_hex(digest, hex);
        return pal_err_set(err, PAL_EEXIST, "%s: another trusted key has the same id %s", what,
                           hex);
    }
    if (kr->n == KEYRING_MAX_KEYS)
        return pal_err_set(err, PAL_ELIMIT, "%s: more than %d trusted keys", what,
                           KEYRING_MAX_KEYS);
    if (kr->n == kr->cap) {
        size_t cap = kr->cap ? 2 * kr->cap : 4;
        struct keyring_key *keys = realloc(kr->keys, cap * sizeof(*keys));
        if (!keys)
            return PAL_ENOMEM;
        kr->keys = keys;
        kr->cap = cap;
    }
    if (EVP_PKEY_up_ref(pkey) != 1)
        return pal_err_set(err, PAL_EENGINE, "%s: EVP_PKEY_up_ref failed", what);
    struct keyring_key *k = &kr->keys[kr->n++];
    memcpy(k->id, digest, PAL_KEY_ID_LEN);
    memcpy(k->raw, raw, sizeof(raw));
    k->pkey = pkey;
    return 0;
}

int pal_keyring_add_pem(pal_keyring *kr, const char *pem, size_t len, const char *what,
                        pal_errbuf *err)
{
    if (!kr || !pem || !what)
        return pal_err_set(err, PAL_EINVAL, "no keyring or key");
    if (len > KEY_FILE_MAX)
        return pal_err_set(err, PAL_ELIMIT, "%s: larger than %d bytes", what, KEY_FILE_MAX);
    int rc;
    EVP_PKEY *pkey = NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len); /* len <= KEY_FILE_MAX fits an int */
    if (!bio)
        return PAL_ENOMEM;
    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (!pkey) {
        ERR_clear_error();
        rc = pal_err_set(err, PAL_EFORMAT, "%s: not a PEM public key (SubjectPublicKeyInfo)", what);
        goto out;
    }
    rc = keyring_add_pkey(kr, pkey, what, err);
out:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return rc;
}

int pal_keyring_add_pem_file(pal_keyring *kr, const char *path, pal_errbuf *err)
{
    if (!kr || !path)
        return pal_err_set(err, PAL_EINVAL, "no keyring or path");
    char *pem = NULL;
    size_t len = 0;
    int rc = pal_sigfile_read(path, KEY_FILE_MAX, &pem, &len, err);
    if (rc)
        return rc;
    rc = pal_keyring_add_pem(kr, pem, len, path, err);
    free(pem);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int pal_keyring_load_dir(pal_keyring *kr, const char *dir, pal_errbuf *err)
{
    if (!kr || !dir)
        return pal_err_set(err, PAL_EINVAL, "no keyring or directory");
    int rc = 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return pal_err_set(err, errno == ENOENT ? PAL_ENOTFOUND : PAL_EIO, "%s: %s", dir,
                           strerror(errno));
    DIR *d = fdopendir(dfd);
    if (!d) {
        rc = pal_err_set(err, PAL_EIO, "%s: %s", dir, strerror(errno));
        close(dfd);
        return rc;
    }
    struct dirent *de;
    while ((errno = 0, de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (de->d_name[0] == '.' || nl < 5 || strcmp(de->d_name + nl - 4, ".pub") != 0)
            continue;
        if (n == KEYRING_MAX_KEYS) {
            rc =
                pal_err_set(err, PAL_ELIMIT, "%s: more than %d *.pub files", dir, KEYRING_MAX_KEYS);
            goto out;
        }
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 8;
            char **nn = realloc(names, ncap * sizeof(*nn));
            if (!nn) {
                rc = PAL_ENOMEM;
                goto out;
            }
            names = nn;
            cap = ncap;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) {
            rc = PAL_ENOMEM;
            goto out;
        }
        n++;
    }
    if (errno != 0) {
        rc = pal_err_set(err, PAL_EIO, "%s: %s", dir, strerror(errno));
        goto out;
    }
    if (n == 0) {
        rc = pal_err_set(err, PAL_ENOTFOUND, "%s: no *.pub key file", dir);
        goto out;
    }
    /* Sorted, so that which key wins a conflict does not depend on readdir order. */
    qsort(names, n, sizeof(*names), cmp_names);

    /* A file that is not a usable key is skipped: it cannot make a package verify, only
       keep the others from being trusted. The directory must yield at least one key. */
    size_t usable = 0;
    pal_errbuf last = {.msg = ""};
    for (size_t i = 0; i < n; i++) {
        size_t need = strlen(dir) + 1 + strlen(names[i]) + 1;
        char *path = malloc(need);
        if (!path) {
            rc = PAL_ENOMEM;
            goto out;
        }
        snprintf(path, need, "%s/%s", dir, names[i]);
        int r = pal_keyring_add_pem_file(kr, path, &last);
        free(path);
        if (r == PAL_ENOMEM) {
            rc = r;
            goto out;
        }
        if (r == 0)
            usable++;
    }
    if (usable == 0)
        rc = pal_err_set(err, PAL_ENOTFOUND, "%s: no usable key (%s)", dir, last.msg);
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

static const struct keyring_key *keyring_find(const pal_keyring *kr,
                                              const uint8_t id[PAL_KEY_ID_LEN])
{
    for (size_t i = 0; i < kr->n; i++)
        if (memcmp(kr->keys[i].id, id, PAL_KEY_ID_LEN) == 0)
            return &kr->keys[i];
    return NULL;
}

/* ---- the package -------------------------------------------------------------------------- */

struct pal_sigpkg {
    const uint8_t *base;     /* the whole mapping, PROT_READ */
    size_t size;             /* file size */
    const uint8_t *catalog;  /* threat_count entries */
    const char *strings;     /* pool; every referenced string ends inside it */
    const uint8_t *hindex;   /* 2^bits + 1 bucket starts */
    const uint8_t *hentries; /* hash_count entries */
    const uint8_t *yara;
    pal_hashdb sized[4]; /* by pal_hash_alg; count 0 when absent */
    uint32_t sized_present;
    pal_sigpkg_info info;
    pal_sigpkg_layout layout;
};

struct section {
    const char *name;
    uint64_t off, len;
};

/* Fixed-header checks: everything that needs no walk over the sections. */
static int check_header(const uint8_t *p, uint64_t size, pal_sigpkg_info *info,
                        pal_sigpkg_layout *lay, pal_errbuf *err)
{
    if (size < (uint64_t)PAL_SIGPKG_HEADER_SIZE + PAL_SIGPKG_SIG_SIZE)
        return pal_err_set(err, PAL_EFORMAT,
                           "file too small (%llu bytes) for a header and a signature",
                           (unsigned long long)size);
    if (memcmp(p + PAL_SIGPKG_H_MAGIC, PAL_SIGPKG_MAGIC, PAL_SIGPKG_MAGIC_LEN) != 0)
        return pal_err_set(err, PAL_EFORMAT, "bad magic: not a Palisade signature package");
    uint32_t fmt = pal_le32(p + PAL_SIGPKG_H_FORMAT);
    if (fmt != PAL_SIGPKG_FORMAT_VERSION && fmt != PAL_SIGPKG_FORMAT_VERSION_EXT)
        return pal_err_set(err, PAL_EVERSION,
                           "unsupported package format version %u (this "
                           "reader knows %u and %u)",
                           fmt, PAL_SIGPKG_FORMAT_VERSION, PAL_SIGPKG_FORMAT_VERSION_EXT);
    uint32_t n_ext = pal_le32(p + PAL_SIGPKG_H_RESERVED);
    if (fmt == PAL_SIGPKG_FORMAT_VERSION && n_ext != 0)
        return pal_err_set(err, PAL_EFORMAT, "reserved header field is not zero");
    if (fmt == PAL_SIGPKG_FORMAT_VERSION_EXT && (n_ext == 0 || n_ext > PAL_SIGPKG_MAX_EXT))
        return pal_err_set(err, PAL_EFORMAT, "extension count %u not in 1..%d", n_ext,
                           PAL_SIGPKG_MAX_EXT);
    /* the directory lies inside the file: size >= header + signature was checked, and
       8 * 24 more bytes are checked against the body below */

    uint32_t bits = pal_le32(p + PAL_SIGPKG_H_BUCKET_BITS);
    if (bits > PAL_SIGPKG_MAX_BUCKET_BITS)
        return pal_err_set(err, PAL_EFORMAT, "hash index bits %u larger than %u", bits,
                           PAL_SIGPKG_MAX_BUCKET_BITS);

    uint64_t body_len = pal_le64(p + PAL_SIGPKG_H_BODY_LEN);
    if (body_len != size - PAL_SIGPKG_SIG_SIZE)
        return pal_err_set(err, PAL_EFORMAT,
                           "body length %llu does not match file size %llu minus the "
                           "%d-byte signature",
                           (unsigned long long)body_len, (unsigned long long)size,
                           PAL_SIGPKG_SIG_SIZE);

    uint64_t dir_end = PAL_SIGPKG_HEADER_SIZE + (uint64_t)n_ext * PAL_SIGPKG_EXT_ENTRY_SIZE;
    if (dir_end > body_len)
        return pal_err_set(err, PAL_EFORMAT, "extension directory beyond end of body");
    struct section sec[4 + PAL_SIGPKG_MAX_EXT] = {
        {"catalog", pal_le64(p + PAL_SIGPKG_H_CATALOG_OFF), pal_le64(p + PAL_SIGPKG_H_CATALOG_LEN)},
        {"strings", pal_le64(p + PAL_SIGPKG_H_STRINGS_OFF), pal_le64(p + PAL_SIGPKG_H_STRINGS_LEN)},
        {"hash table", pal_le64(p + PAL_SIGPKG_H_HASH_OFF), pal_le64(p + PAL_SIGPKG_H_HASH_LEN)},
        {"yara", pal_le64(p + PAL_SIGPKG_H_YARA_OFF), pal_le64(p + PAL_SIGPKG_H_YARA_LEN)},
    };
    static const char *const ext_names[] = {NULL, "md5 table", "sha1 table", "sha256 table"};
    uint32_t ext_type[PAL_SIGPKG_MAX_EXT] = {0}, ext_count[PAL_SIGPKG_MAX_EXT] = {0};
    for (uint32_t x = 0; x < n_ext; x++) {
        const uint8_t *d = p + PAL_SIGPKG_HEADER_SIZE + (size_t)x * PAL_SIGPKG_EXT_ENTRY_SIZE;
        uint32_t type = pal_le32(d + PAL_SIGPKG_X_TYPE);
        if (type < PAL_SIGPKG_EXT_MD5 || type > PAL_SIGPKG_EXT_SHA256)
            return pal_err_set(err, PAL_EFORMAT, "extension %u: unknown type %u", x, type);
        for (uint32_t y = 0; y < x; y++)
            if (ext_type[y] == type)
                return pal_err_set(err, PAL_EFORMAT, "extension type %u appears twice", type);
        ext_type[x] = type;
        ext_count[x] = pal_le32(d + PAL_SIGPKG_X_COUNT);
        sec[4 + x].name = ext_names[type];
        sec[4 + x].off = pal_le64(d + PAL_SIGPKG_X_OFF);
        sec[4 + x].len = pal_le64(d + PAL_SIGPKG_X_LEN);
    }
    uint64_t prev_end = dir_end;
    const char *prev = n_ext ? "extension directory" : "header";
    for (size_t i = 0; i < 4 + n_ext; i++) {
        if (sec[i].off < prev_end)
            return pal_err_set(
                err, PAL_EFORMAT, "%s section offset %llu overlaps the %s (which ends at %llu)",
                sec[i].name, (unsigned long long)sec[i].off, prev, (unsigned long long)prev_end);
        /* off <= body_len - len, written so that nothing can wrap */
        if (sec[i].off > body_len || sec[i].len > body_len - sec[i].off)
            return pal_err_set(err, PAL_EFORMAT,
                               "%s section offset %llu+%llu beyond end of body (%llu)", sec[i].name,
                               (unsigned long long)sec[i].off, (unsigned long long)sec[i].len,
                               (unsigned long long)body_len);
        prev_end = sec[i].off + sec[i].len;
        prev = sec[i].name;
    }

    uint32_t threats = pal_le32(p + PAL_SIGPKG_H_THREAT_COUNT);
    uint32_t hashes = pal_le32(p + PAL_SIGPKG_H_HASH_COUNT);
    /* u32 counts times small constants cannot overflow u64 */
    if (sec[0].len != (uint64_t)threats * PAL_SIGPKG_CATALOG_ENTRY_SIZE)
        return pal_err_set(err, PAL_EFORMAT, "catalog length %llu is not %u entries of %d bytes",
                           (unsigned long long)sec[0].len, threats, PAL_SIGPKG_CATALOG_ENTRY_SIZE);
    if (threats > 0 && sec[1].len == 0)
        return pal_err_set(err, PAL_EFORMAT, "empty string pool with %u threats", threats);
    uint64_t index_len = ((UINT64_C(1) << bits) + 1) * 4;
    if (sec[2].len != index_len + (uint64_t)hashes * PAL_SIGPKG_HASH_ENTRY_SIZE)
        return pal_err_set(err, PAL_EFORMAT,
                           "hash table length %llu is not a %llu-byte index plus %u entries "
                           "of %d bytes",
                           (unsigned long long)sec[2].len, (unsigned long long)index_len, hashes,
                           PAL_SIGPKG_HASH_ENTRY_SIZE);
    if (sec[3].len < 5)
        return pal_err_set(err, PAL_EFORMAT, "yara section too short (%llu bytes)",
                           (unsigned long long)sec[3].len);

    memset(info, 0, sizeof(*info));
    info->format_version = fmt;
    info->version = pal_le64(p + PAL_SIGPKG_H_VERSION);
    info->created = pal_le64(p + PAL_SIGPKG_H_CREATED);
    memcpy(info->key_id, p + PAL_SIGPKG_H_KEY_ID, PAL_KEY_ID_LEN);
    info->threat_count = threats;
    info->hash_count = hashes;
    info->rule_count = pal_le32(p + PAL_SIGPKG_H_RULE_COUNT);
    info->file_size = size;
    info->catalog_bytes = sec[0].len;
    info->strings_bytes = sec[1].len;
    info->hash_bytes = sec[2].len;
    info->yara_bytes = sec[3].len;

    memset(lay, 0, sizeof(*lay));
    lay->catalog_off = sec[0].off;
    lay->catalog_len = sec[0].len;
    lay->strings_off = sec[1].off;
    lay->strings_len = sec[1].len;
    lay->hash_off = sec[2].off;
    lay->hash_len = sec[2].len;
    lay->yara_off = sec[3].off;
    lay->yara_len = sec[3].len;
    lay->body_len = body_len;
    lay->hash_bucket_bits = bits;
    for (uint32_t x = 0; x < n_ext; x++) {
        lay->sized_off[ext_type[x]] = sec[4 + x].off;
        lay->sized_len[ext_type[x]] = sec[4 + x].len;
        info->sized_count[ext_type[x]] = ext_count[x];
        info->sized_bytes += sec[4 + x].len;
    }
    return 0;
}

static int check_signature(const uint8_t *p, uint64_t body_len, const pal_keyring *keys,
                           const uint8_t key_id[PAL_KEY_ID_LEN], pal_errbuf *err)
{
    char hex[2 * PAL_KEY_ID_LEN + 1];
    pal_key_id_hex(key_id, hex);
    const struct keyring_key *k = keyring_find(keys, key_id);
    if (!k)
        return pal_err_set(err, PAL_EUNKNOWNKEY, "signed by unknown key %s", hex);

    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return PAL_ENOMEM;
    int rc;
    /* Ed25519 is one-shot over the whole message: no digest argument. */
    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) != 1) {
        rc = pal_err_set(err, PAL_EENGINE, "EVP_DigestVerifyInit failed for key %s", hex);
        goto out;
    }
    int ok = EVP_DigestVerify(ctx, p + body_len, PAL_SIGPKG_SIG_SIZE, p, (size_t)body_len);
    if (ok != 1)
        rc = pal_err_set(err, PAL_ESIGNATURE, "signature does not verify (key %s)", hex);
    else
        rc = 0;
out:
    ERR_clear_error();
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* A pool string: in range, NUL-terminated within PAL_THREAT_NAME_MAX, printable ASCII. */
static int check_string(const pal_sigpkg *pkg, uint32_t off, const char *what, uint32_t entry,
                        pal_errbuf *err)
{
    uint64_t pool = pkg->layout.strings_len;
    if (off >= pool)
        return pal_err_set(err, PAL_EFORMAT,
                           "catalog entry %u: %s offset %u outside the string pool (%llu "
                           "bytes)",
                           entry, what, off, (unsigned long long)pool);
    uint64_t room = pool - off;
    size_t limit = room < PAL_THREAT_NAME_MAX + 1 ? (size_t)room : PAL_THREAT_NAME_MAX + 1;
    const char *s = pkg->strings + off;
    size_t len = 0;
    while (len < limit && s[len] != '\0') {
        unsigned char c = (unsigned char)s[len];
        if (c < 0x20 || c > 0x7e)
            return pal_err_set(err, PAL_EFORMAT,
                               "catalog entry %u: %s has a non-printable byte 0x%02x", entry, what,
                               c);
        len++;
    }
    if (len == limit && len > PAL_THREAT_NAME_MAX)
        return pal_err_set(err, PAL_EFORMAT, "catalog entry %u: %s longer than %d bytes", entry,
                           what, PAL_THREAT_NAME_MAX);
    if (len == limit)
        return pal_err_set(err, PAL_EFORMAT,
                           "catalog entry %u: %s not NUL-terminated in the string pool", entry,
                           what);
    if (len == 0)
        return pal_err_set(err, PAL_EFORMAT, "catalog entry %u: empty %s", entry, what);
    return 0;
}

static int check_catalog(const pal_sigpkg *pkg, pal_errbuf *err)
{
    const char *prev = NULL;
    for (uint32_t i = 0; i < pkg->info.threat_count; i++) {
        const uint8_t *e = pkg->catalog + (size_t)i * PAL_SIGPKG_CATALOG_ENTRY_SIZE;
        uint32_t name_off = pal_le32(e + PAL_SIGPKG_C_NAME);
        uint32_t cat_off = pal_le32(e + PAL_SIGPKG_C_CATEGORY);
        int rc = check_string(pkg, name_off, "name", i, err);
        if (rc)
            return rc;
        rc = check_string(pkg, cat_off, "category", i, err);
        if (rc)
            return rc;
        if (!pal_severity_name((pal_severity)e[PAL_SIGPKG_C_SEVERITY]))
            return pal_err_set(err, PAL_EFORMAT, "catalog entry %u: invalid severity %u", i,
                               e[PAL_SIGPKG_C_SEVERITY]);
        if (!pal_action_name((pal_action)e[PAL_SIGPKG_C_ACTION]))
            return pal_err_set(err, PAL_EFORMAT, "catalog entry %u: invalid action %u", i,
                               e[PAL_SIGPKG_C_ACTION]);
        if (pal_le16(e + PAL_SIGPKG_C_RESERVED) != 0)
            return pal_err_set(err, PAL_EFORMAT, "catalog entry %u: reserved field not zero", i);
        const char *name = pkg->strings + name_off;
        /* strictly ascending also rules out duplicates; both strings are bounded above */
        if (prev && strcmp(prev, name) >= 0)
            return pal_err_set(err, PAL_EFORMAT,
                               "catalog not sorted: entry %u \"%s\" does not sort after "
                               "\"%s\"",
                               i, name, prev);
        prev = name;
    }
    return 0;
}

static int check_hashes(const pal_sigpkg *pkg, pal_errbuf *err)
{
    uint32_t count = pkg->info.hash_count;
    uint32_t nbuckets = UINT32_C(1) << pkg->layout.hash_bucket_bits;
    if (pal_le32(pkg->hindex) != 0)
        return pal_err_set(err, PAL_EFORMAT, "hash index: bucket 0 does not start at 0");
    if (pal_le32(pkg->hindex + (size_t)nbuckets * 4) != count)
        return pal_err_set(err, PAL_EFORMAT, "hash index: end %u is not the hash count %u",
                           pal_le32(pkg->hindex + (size_t)nbuckets * 4), count);
    /* Walk buckets and entries together: each entry must lie in its own bucket. With
       idx non-decreasing and ending at count, every later lookup stays in range. */
    uint32_t i = 0;
    for (uint32_t k = 0; k < nbuckets; k++) {
        uint32_t lo = pal_le32(pkg->hindex + (size_t)k * 4);
        uint32_t hi = pal_le32(pkg->hindex + (size_t)k * 4 + 4);
        if (lo != i || hi < lo || hi > count)
            return pal_err_set(err, PAL_EFORMAT,
                               "hash index: bucket %u range [%u, %u) inconsistent (expected "
                               "start %u, %u entries)",
                               k, lo, hi, i, count);
        for (; i < hi; i++) {
            const uint8_t *e = pkg->hentries + (size_t)i * PAL_SIGPKG_HASH_ENTRY_SIZE;
            if (pal_sigpkg_bucket(e, pkg->layout.hash_bucket_bits) != k)
                return pal_err_set(err, PAL_EFORMAT, "hash index: entry %u is not in bucket %u", i,
                                   k);
            if (i > 0 && memcmp(e - PAL_SIGPKG_HASH_ENTRY_SIZE, e, 32) >= 0)
                return pal_err_set(err, PAL_EFORMAT,
                                   "hash entries not sorted: entry %u does not sort after "
                                   "entry %u",
                                   i, i - 1);
            uint32_t tid = pal_le32(e + 32);
            if (tid >= pkg->info.threat_count)
                return pal_err_set(err, PAL_EFORMAT,
                                   "hash entry %u: threat id %u not in the catalog (%u "
                                   "threats)",
                                   i, tid, pkg->info.threat_count);
        }
    }
    return 0;
}

static int check_yara(const pal_sigpkg *pkg, pal_errbuf *err)
{
    /* The arena file header of libyara: "YARA", version byte, buffer count. libyara does
       not check integrity beyond this; the signature is what makes the blob trustworthy. */
    if (memcmp(pkg->yara, "YARA", 4) != 0)
        return pal_err_set(err, PAL_EFORMAT, "yara section is not compiled YARA rules");
    if (pkg->yara[4] != YR_ARENA_FILE_VERSION)
        return pal_err_set(err, PAL_EVERSION,
                           "yara rules compiled for format %u, this libyara loads %u", pkg->yara[4],
                           YR_ARENA_FILE_VERSION);
    return 0;
}

static int open_sized(pal_sigpkg *pkg, pal_errbuf *err)
{
    static const char *const what[] = {NULL, "md5 table", "sha1 table", "sha256 table"};
    for (int a = PAL_HASH_MD5; a <= PAL_HASH_SHA256; a++) {
        if (pkg->layout.sized_len[a] == 0)
            continue;
        int rc =
            pal_hashdb_open(&pkg->sized[a], pkg->base + pkg->layout.sized_off[a],
                            pkg->layout.sized_len[a], pkg->info.sized_count[a],
                            pal_hashdb_dlen((pal_hash_alg)a), pkg->info.threat_count, what[a], err);
        if (rc)
            return rc;
        pkg->info.allow_count += pkg->sized[a].allow_count;
    }
    return 0;
}

int pal_sigpkg_open_fd(int fd, const pal_keyring *keys, unsigned flags, pal_sigpkg **out,
                       pal_errbuf *err)
{
    if (fd < 0 || !out || (flags & ~(unsigned)PAL_SIGPKG_VERIFY))
        return pal_err_set(err, PAL_EINVAL, "invalid arguments to pal_sigpkg_open_fd");
    if ((flags & PAL_SIGPKG_VERIFY) && !keys)
        return pal_err_set(err, PAL_EINVAL, "verification requested without a keyring");

    struct stat st;
    if (fstat(fd, &st) != 0)
        return pal_err_set(err, PAL_EIO, "fstat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return pal_err_set(err, PAL_EFORMAT, "not a regular file");
    if (st.st_size < 0 || (uint64_t)st.st_size > PAL_SIGPKG_MAX_SIZE)
        return pal_err_set(err, PAL_ELIMIT, "file size %lld larger than the limit of %llu",
                           (long long)st.st_size, (unsigned long long)PAL_SIGPKG_MAX_SIZE);
    uint64_t size = (uint64_t)st.st_size;
    /* Refuse a short file before mapping it: mmap of length 0 fails anyway. */
    if (size < (uint64_t)PAL_SIGPKG_HEADER_SIZE + PAL_SIGPKG_SIG_SIZE)
        return pal_err_set(err, PAL_EFORMAT,
                           "file too small (%llu bytes) for a header and a signature",
                           (unsigned long long)size);

    pal_sigpkg *pkg = calloc(1, sizeof(*pkg));
    if (!pkg)
        return PAL_ENOMEM;
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        int e = errno;
        free(pkg);
        return pal_err_set(err, PAL_EIO, "mmap: %s", strerror(e));
    }
    pkg->base = map;
    pkg->size = (size_t)size;

    int rc = check_header(pkg->base, size, &pkg->info, &pkg->layout, err);
    if (rc)
        goto fail;
    if (flags & PAL_SIGPKG_VERIFY) {
        rc = check_signature(pkg->base, pkg->layout.body_len, keys, pkg->info.key_id, err);
        if (rc)
            goto fail;
    }
    pkg->catalog = pkg->base + pkg->layout.catalog_off;
    pkg->strings = (const char *)pkg->base + pkg->layout.strings_off;
    pkg->hindex = pkg->base + pkg->layout.hash_off;
    pkg->hentries = pkg->hindex + ((size_t)1 << pkg->layout.hash_bucket_bits) * 4 + 4;
    pkg->yara = pkg->base + pkg->layout.yara_off;
    if ((rc = check_catalog(pkg, err)) || (rc = check_hashes(pkg, err)) ||
        (rc = check_yara(pkg, err)) || (rc = open_sized(pkg, err)))
        goto fail;
    pal_sigpkg_release_resident(pkg);
    *out = pkg;
    return 0;
fail:
    pal_sigpkg_free(pkg);
    return rc;
}

int pal_sigpkg_open_path(const char *path, const pal_keyring *keys, unsigned flags,
                         pal_sigpkg **out, pal_errbuf *err)
{
    if (!path)
        return pal_err_set(err, PAL_EINVAL, "no path");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return pal_err_set(err, errno == ENOENT ? PAL_ENOTFOUND : PAL_EIO, "%s: %s", path,
                           strerror(errno));
    int rc = pal_sigpkg_open_fd(fd, keys, flags, out, err);
    close(fd);
    return rc;
}

void pal_sigpkg_free(pal_sigpkg *pkg)
{
    if (!pkg)
        return;
    if (pkg->base)
        munmap((void *)(uintptr_t)pkg->base, pkg->size);
    free(pkg);
}

void pal_sigpkg_release_resident(const pal_sigpkg *pkg)
{
    /* the mapping is page-aligned (mmap) and its length is rounded up by the kernel */
    (void)madvise((void *)(uintptr_t)pkg->base, pkg->size, MADV_DONTNEED);
}

void pal_sigpkg_get_info(const pal_sigpkg *pkg, pal_sigpkg_info *out)
{
    *out = pkg->info;
}

void pal_sigpkg_get_layout(const pal_sigpkg *pkg, pal_sigpkg_layout *out)
{
    *out = pkg->layout;
}

static void threat_at(const pal_sigpkg *pkg, uint32_t id, pal_threat *out)
{
    const uint8_t *e = pkg->catalog + (size_t)id * PAL_SIGPKG_CATALOG_ENTRY_SIZE;
    out->id = id;
    out->name = pkg->strings + pal_le32(e + PAL_SIGPKG_C_NAME);
    out->category = pkg->strings + pal_le32(e + PAL_SIGPKG_C_CATEGORY);
    out->severity = (pal_severity)e[PAL_SIGPKG_C_SEVERITY];
    out->default_action = (pal_action)e[PAL_SIGPKG_C_ACTION];
}

int pal_sigpkg_threat(const pal_sigpkg *pkg, uint32_t id, pal_threat *out)
{
    if (!pkg || !out)
        return PAL_EINVAL;
    if (id >= pkg->info.threat_count)
        return PAL_ENOTFOUND;
    threat_at(pkg, id, out);
    return 0;
}

int pal_sigpkg_find_threat(const pal_sigpkg *pkg, const char *name, pal_threat *out)
{
    if (!pkg || !name || !out)
        return PAL_EINVAL;
    uint32_t lo = 0, hi = pkg->info.threat_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const uint8_t *e = pkg->catalog + (size_t)mid * PAL_SIGPKG_CATALOG_ENTRY_SIZE;
        int c = strcmp(name, pkg->strings + pal_le32(e + PAL_SIGPKG_C_NAME));
        if (c == 0) {
            threat_at(pkg, mid, out);
            return 0;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return PAL_ENOTFOUND;
}

int pal_sigpkg_lookup_sha256(const pal_sigpkg *pkg, const uint8_t sha256[32], uint32_t *id)
{
    if (!pkg || !sha256 || !id)
        return PAL_EINVAL;
    uint32_t k = pal_sigpkg_bucket(sha256, pkg->layout.hash_bucket_bits);
    uint32_t lo = pal_le32(pkg->hindex + (size_t)k * 4);
    uint32_t hi = pal_le32(pkg->hindex + (size_t)k * 4 + 4);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const uint8_t *e = pkg->hentries + (size_t)mid * PAL_SIGPKG_HASH_ENTRY_SIZE;
        int c = memcmp(sha256, e, 32);
        if (c == 0) {
            *id = pal_le32(e + 32);
            return 0;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return PAL_ENOTFOUND;
}

uint32_t pal_sigpkg_has_hashes(const pal_sigpkg *pkg, pal_hash_alg alg)
{
    if (!pkg || alg < PAL_HASH_MD5 || alg > PAL_HASH_SHA256)
        return 0;
    return pkg->sized[alg].count;
}

int pal_sigpkg_lookup_hash(const pal_sigpkg *pkg, pal_hash_alg alg, const uint8_t *digest,
                           uint64_t size, uint32_t *id, int *allowed)
{
    if (!pkg || !digest || !id || !allowed || alg < PAL_HASH_MD5 || alg > PAL_HASH_SHA256)
        return PAL_EINVAL;
    return pal_hashdb_lookup(&pkg->sized[alg], digest, size, id, allowed);
}

void pal_sigpkg_yara_blob(const pal_sigpkg *pkg, const void **data, size_t *len)
{
    *data = pkg->yara;
    *len = (size_t)pkg->layout.yara_len;
}

void pal_sigpkg_mapping(const pal_sigpkg *pkg, const void **base, size_t *len)
{
    *base = pkg->base;
    *len = pkg->size;
}
