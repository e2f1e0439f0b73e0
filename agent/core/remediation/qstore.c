/*
 * qstore.c — the stored form of a quarantine item, versions 1 and 2 (qstore.h).
 */
#define _GNU_SOURCE
#include "qstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "byteorder.h"

#define QMAGIC "PALQUAR\x01"
#define CHUNK (256u * 1024u) /* a multiple of 64: chunks never split a keystream block */
#define MAX_CONTENT_OFF (64ULL << 20)

/* ---- small helpers ---------------------------------------------------------------------- */

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static int random_bytes(uint8_t *b, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(b, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return PAL_EIO;
        }
        b += got;
        n -= (size_t)got;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len, uint64_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int read_full(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
    char *p = buf;
    size_t total = 0;
    while (total < len) {
        ssize_t n = pread(fd, p + total, len - total, (off_t)(off + total));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        total += (size_t)n;
    }
    *got = total;
    return 0;
}

static bool blk_ok(uint64_t blk)
{
    return blk >= 4096 && blk <= (1u << 20) && (blk & (blk - 1)) == 0;
}

/* ---- the map ---------------------------------------------------------------------------- */

void pal_qstore_map_clear(pal_qstore_map *m)
{
    if (!m)
        return;
    free(m->ext);
    memset(m, 0, sizeof(*m));
}

static int map_add(pal_qstore_map *m, size_t *cap, uint64_t off, uint64_t len)
{
    if (m->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        pal_qstore_extent *e = realloc(m->ext, nc * sizeof(*e));
        if (!e)
            return PAL_ENOMEM;
        m->ext = e;
        *cap = nc;
    }
    m->ext[m->n].off = off;
    m->ext[m->n].len = len;
    m->n++;
    m->data += len;
    return 0;
}

int pal_qstore_map_fd(int fd, uint64_t size, pal_qstore_map *m, pal_errbuf *err)
{
    pal_qstore_map r = {.size = size};
    size_t cap = 0;
    uint64_t off = 0;
    int rc = 0;
    while (off < size) {
        if (r.n == PAL_QSTORE_MAX_EXTENTS - 1) {
            /* too fragmented to map: the rest is one extent, read whole */
            rc = map_add(&r, &cap, off, size - off);
            break;
        }
        off_t d = lseek(fd, (off_t)off, SEEK_DATA);
        if (d < 0 && errno == ENXIO)
            break; /* only a hole is left */
        if (d < 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
            rc = map_add(&r, &cap, off, size - off); /* no hole support */
            break;
        }
        if (d < 0) {
            rc = pal_err_set(err, PAL_EIO, "cannot find the data of the file: %s", strerror(errno));
            goto fail;
        }
        if ((uint64_t)d >= size)
            break;
        off_t h = lseek(fd, d, SEEK_HOLE);
        if (h < 0) {
            rc =
                pal_err_set(err, PAL_EIO, "cannot find the holes of the file: %s", strerror(errno));
            goto fail;
        }
        uint64_t end = (uint64_t)h > size ? size : (uint64_t)h;
        if (end <= (uint64_t)d) { /* a file system that says otherwise: read it all */
            rc = map_add(&r, &cap, (uint64_t)d, size - (uint64_t)d);
            break;
        }
        if ((rc = map_add(&r, &cap, (uint64_t)d, end - (uint64_t)d)) != 0)
            break;
        off = end;
    }
    if (rc == PAL_ENOMEM) {
        rc = pal_err_set(err, PAL_ENOMEM, "out of memory");
        goto fail;
    }
    *m = r;
    return 0;
fail:
    pal_qstore_map_clear(&r);
    return rc;
}

static uint64_t map_bytes(size_t n)
{
    return PAL_QSTORE_HEADER_SIZE + 16ULL * n;
}

uint64_t pal_qstore_stored_bytes(const pal_qstore_map *m, uint64_t blk)
{
    if (!blk_ok(blk))
        blk = 4096;
    uint64_t total = align_up(map_bytes(m->n), blk);
    for (size_t i = 0; i < m->n; i++)
        total += align_up(m->ext[i].off + m->ext[i].len, blk) - (m->ext[i].off & ~(blk - 1));
    return total;
}

/* ---- the transform ---------------------------------------------------------------------- */

/* A keystream positioned at a content offset: version 2 restarts it at every chunk (the
   counter is the offset's block), version 1 is one stream from the IV. */
typedef struct ks {
    EVP_CIPHER_CTX *c;
    const uint8_t *key, *iv;
    uint32_t version;
    bool started;
} ks;

static int ks_xor(ks *k, uint64_t off, const uint8_t *in, uint8_t *out, size_t len)
{
    int l = 0;
    if (k->version == 1) {
        if (!k->started && EVP_EncryptInit_ex(k->c, EVP_chacha20(), NULL, k->key, k->iv) != 1)
            return PAL_EENGINE;
        k->started = true;
    } else {
        uint8_t iv[16];
        pal_put_le64(iv, off / 64);
        memcpy(iv + 8, k->iv + 8, 8);
        if (EVP_EncryptInit_ex(k->c, EVP_chacha20(), NULL, k->key, iv) != 1)
            return PAL_EENGINE;
        uint8_t junk[64] = {0};
        if (off % 64 && EVP_EncryptUpdate(k->c, junk, &l, junk, (int)(off % 64)) != 1)
            return PAL_EENGINE;
    }
    if (EVP_EncryptUpdate(k->c, out, &l, in, (int)len) != 1 || (size_t)l != len)
        return PAL_EENGINE;
    return 0;
}

/* Where the chunk that starts at o inside an extent ending at end stops: never across a
   multiple of CHUNK, so that its 64-byte blocks never wrap the counter's low word. */
static uint64_t chunk_end(uint64_t o, uint64_t end)
{
    uint64_t next = (o / CHUNK + 1) * CHUNK;
    return next < end ? next : end;
}

static const uint8_t zeros[CHUNK];

static int hash_zeros(EVP_MD_CTX *m, uint64_t n)
{
    while (n > 0) {
        size_t k = n < CHUNK ? (size_t)n : CHUNK;
        if (EVP_DigestUpdate(m, zeros, k) != 1)
            return PAL_EENGINE;
        n -= k;
    }
    return 0;
}

typedef struct bufs {
    uint8_t *in, *out;
    EVP_CIPHER_CTX *c;
    EVP_MD_CTX *m;
} bufs;

static int bufs_new(bufs *b, pal_errbuf *err)
{
    b->in = malloc(CHUNK);
    b->out = malloc(CHUNK);
    b->c = EVP_CIPHER_CTX_new();
    b->m = EVP_MD_CTX_new();
    if (!b->in || !b->out || !b->c || !b->m)
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    if (EVP_DigestInit_ex(b->m, EVP_sha256(), NULL) != 1)
        return pal_err_set(err, PAL_EENGINE, "cannot set up SHA-256");
    return 0;
}

static void bufs_free(bufs *b)
{
    EVP_MD_CTX_free(b->m);
    EVP_CIPHER_CTX_free(b->c);
    free(b->in);
    free(b->out);
}

static int digest_final(EVP_MD_CTX *m, uint8_t sha[32], pal_errbuf *err)
{
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(m, sha, &len) != 1 || len != 32)
        return pal_err_set(err, PAL_EENGINE, "SHA-256 failed");
    return 0;
}

/* ---- writing ---------------------------------------------------------------------------- */

int pal_qstore_write(int in, const pal_qstore_map *m, int out, uint64_t blk, uint8_t sha[32],
                     uint64_t *moved, pal_errbuf *err)
{
    if (!blk_ok(blk))
        blk = 4096;
    uint8_t key[32], iv[16] = {0};
    if (random_bytes(key, sizeof(key)) != 0 || random_bytes(iv + 8, 8) != 0)
        return pal_err_set(err, PAL_EIO, "no random bytes for the transform key");
    uint64_t coff = align_up(map_bytes(m->n), blk);
    bufs b = {0};
    int rc = bufs_new(&b, err), e;
    if (rc != 0)
        goto out;
    /* the size first: every byte not written below is a hole */
    if (ftruncate(out, (off_t)(coff + m->size)) != 0) {
        rc = pal_err_set(err, PAL_EIO, "cannot size the item: %s", strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < m->n; i += CHUNK / 16) {
        size_t k = m->n - i < CHUNK / 16 ? m->n - i : CHUNK / 16;
        for (size_t j = 0; j < k; j++) {
            pal_put_le64(b.out + 16 * j, m->ext[i + j].off);
            pal_put_le64(b.out + 16 * j + 8, m->ext[i + j].len);
        }
        if ((e = write_full(out, b.out, 16 * k, map_bytes(i))) != 0) {
            rc = pal_err_set(err, PAL_EIO, "write failed: %s", strerror(-e));
            goto out;
        }
    }
    ks k = {.c = b.c, .key = key, .iv = iv, .version = 2};
    uint64_t pos = 0; /* content accounted for (hashed) */
    for (size_t i = 0; i < m->n; i++) {
        const pal_qstore_extent *x = &m->ext[i];
        if ((rc = hash_zeros(b.m, x->off - pos)) != 0)
            goto engine;
        pos = x->off;
        while (pos < x->off + x->len) {
            size_t want = (size_t)(chunk_end(pos, x->off + x->len) - pos), got = 0;
            if ((e = read_full(in, b.in, want, pos, &got)) != 0) {
                rc = pal_err_set(err, PAL_EIO, "read failed: %s", strerror(-e));
                goto out;
            }
            if (got == 0)
                goto shrunk;
            if ((rc = ks_xor(&k, pos, b.in, b.out, got)) != 0 ||
                EVP_DigestUpdate(b.m, b.in, got) != 1)
                goto engine;
            if ((e = write_full(out, b.out, got, coff + pos)) != 0) {
                rc = pal_err_set(err, PAL_EIO, "write failed: %s", strerror(-e));
                goto out;
            }
            pos += got;
            if (got < want)
                goto shrunk;
        }
    }
    if ((rc = hash_zeros(b.m, m->size - pos)) != 0)
        goto engine;
    pos = m->size;
shrunk:
    if ((rc = digest_final(b.m, sha, err)) != 0)
        goto out;
    uint8_t h[PAL_QSTORE_HEADER_SIZE] = {0};
    memcpy(h, QMAGIC, 8);
    pal_put_le32(h + 8, PAL_QSTORE_VERSION);
    pal_put_le32(h + 12, PAL_QSTORE_HEADER_SIZE);
    pal_put_le64(h + 16, m->size);
    memcpy(h + 24, key, 32);
    memcpy(h + 56, iv, 16);
    memcpy(h + 72, sha, 32);
    pal_put_le64(h + 104, coff);
    pal_put_le64(h + 112, m->n);
    if ((e = write_full(out, h, sizeof(h), 0)) != 0) {
        rc = pal_err_set(err, PAL_EIO, "write failed: %s", strerror(-e));
        goto out;
    }
    *moved = pos;
    goto out;
engine:
    rc = pal_err_set(err, PAL_EENGINE, "the quarantine transform failed");
out:
    bufs_free(&b);
    return rc;
}

/* ---- reading ---------------------------------------------------------------------------- */

void pal_qstore_item_clear(pal_qstore_item *it)
{
    if (!it)
        return;
    pal_qstore_map_clear(&it->map);
    memset(it, 0, sizeof(*it));
}

int pal_qstore_open(int fd, uint64_t file_size, pal_qstore_item *it, pal_errbuf *err)
{
    uint8_t h[PAL_QSTORE_HEADER_SIZE];
    size_t got = 0;
    if (read_full(fd, h, sizeof(h), 0, &got) != 0 || got != sizeof(h) ||
        memcmp(h, QMAGIC, 8) != 0 || pal_le32(h + 12) != PAL_QSTORE_HEADER_SIZE)
        return pal_err_set(err, PAL_EFORMAT, "no valid header");
    pal_qstore_item r = {.version = pal_le32(h + 8)};
    r.map.size = pal_le64(h + 16);
    memcpy(r.key, h + 24, 32);
    memcpy(r.iv, h + 56, 16);
    memcpy(r.sha256, h + 72, 32);
    uint64_t n = 0;
    if (r.version == 1) {
        r.content_off = PAL_QSTORE_HEADER_SIZE;
    } else if (r.version == 2) {
        r.content_off = pal_le64(h + 104);
        n = pal_le64(h + 112);
        if (n > PAL_QSTORE_MAX_EXTENTS || r.content_off < map_bytes((size_t)n) ||
            r.content_off > MAX_CONTENT_OFF || r.content_off % 4096)
            return pal_err_set(err, PAL_EFORMAT, "an invalid extent map");
    } else {
        return pal_err_set(err, PAL_EFORMAT, "format version %u, unknown", (unsigned)r.version);
    }
    if (r.map.size > UINT64_MAX - r.content_off || file_size != r.content_off + r.map.size)
        return pal_err_set(
            err, PAL_EFORMAT, "%llu bytes of content, its header says %llu",
            (unsigned long long)(file_size < r.content_off ? 0 : file_size - r.content_off),
            (unsigned long long)r.map.size);
    if (r.version == 1) {
        if (r.map.size > 0) {
            r.map.ext = malloc(sizeof(*r.map.ext));
            if (!r.map.ext)
                return pal_err_set(err, PAL_ENOMEM, "out of memory");
            r.map.ext[0] = (pal_qstore_extent){0, r.map.size};
            r.map.n = 1;
            r.map.data = r.map.size;
        }
        *it = r;
        return 0;
    }
    if (n > 0 && !(r.map.ext = malloc((size_t)n * sizeof(*r.map.ext))))
        return pal_err_set(err, PAL_ENOMEM, "out of memory");
    uint8_t buf[16 * 256];
    uint64_t prev_end = 0;
    for (uint64_t i = 0; i < n; i += 256) {
        size_t k = n - i < 256 ? (size_t)(n - i) : 256;
        if (read_full(fd, buf, 16 * k, map_bytes((size_t)i), &got) != 0 || got != 16 * k) {
            pal_qstore_item_clear(&r);
            return pal_err_set(err, PAL_EFORMAT, "a truncated extent map");
        }
        for (size_t j = 0; j < k; j++) {
            uint64_t off = pal_le64(buf + 16 * j), len = pal_le64(buf + 16 * j + 8);
            if (len == 0 || off < prev_end || off > r.map.size || len > r.map.size - off) {
                pal_qstore_item_clear(&r);
                return pal_err_set(err, PAL_EFORMAT, "an invalid extent map");
            }
            r.map.ext[r.map.n++] = (pal_qstore_extent){off, len};
            r.map.data += len;
            prev_end = off + len;
        }
    }
    *it = r;
    return 0;
}

int pal_qstore_decode(int fd, const pal_qstore_item *it, int out, uint8_t sha[32], pal_errbuf *err)
{
    bufs b = {0};
    int rc = bufs_new(&b, err), e;
    if (rc != 0)
        goto out;
    if (out >= 0 && ftruncate(out, (off_t)it->map.size) != 0) {
        rc = pal_err_set(err, PAL_EIO, "cannot size the file: %s", strerror(errno));
        goto out;
    }
    ks k = {.c = b.c, .key = it->key, .iv = it->iv, .version = it->version};
    uint64_t pos = 0;
    for (size_t i = 0; i < it->map.n; i++) {
        const pal_qstore_extent *x = &it->map.ext[i];
        if ((rc = hash_zeros(b.m, x->off - pos)) != 0)
            goto engine;
        pos = x->off;
        while (pos < x->off + x->len) {
            size_t want = (size_t)(chunk_end(pos, x->off + x->len) - pos), got = 0;
            if ((e = read_full(fd, b.in, want, it->content_off + pos, &got)) != 0) {
                rc = pal_err_set(err, PAL_EIO, "read failed: %s", strerror(-e));
                goto out;
            }
            if (got != want) {
                rc = pal_err_set(err, PAL_EFORMAT, "the stored content is truncated");
                goto out;
            }
            if ((rc = ks_xor(&k, pos, b.in, b.out, got)) != 0 ||
                EVP_DigestUpdate(b.m, b.out, got) != 1)
                goto engine;
            if (out >= 0 && (e = write_full(out, b.out, got, pos)) != 0) {
                rc = pal_err_set(err, PAL_EIO, "write failed: %s", strerror(-e));
                goto out;
            }
            pos += got;
        }
    }
    if ((rc = hash_zeros(b.m, it->map.size - pos)) != 0)
        goto engine;
    rc = digest_final(b.m, sha, err);
    goto out;
engine:
    rc = pal_err_set(err, PAL_EENGINE, "the quarantine transform failed");
out:
    bufs_free(&b);
    return rc;
}

int pal_qstore_hash_fd(int fd, uint8_t sha[32], uint64_t *size, pal_errbuf *err)
{
    bufs b = {0};
    int rc = bufs_new(&b, err);
    uint64_t done = 0;
    while (rc == 0) {
        size_t got = 0;
        int e = read_full(fd, b.in, CHUNK, done, &got);
        if (e != 0) {
            rc = pal_err_set(err, PAL_EIO, "read failed: %s", strerror(-e));
            break;
        }
        if (got > 0 && EVP_DigestUpdate(b.m, b.in, got) != 1)
            rc = pal_err_set(err, PAL_EENGINE, "SHA-256 failed");
        done += got;
        if (got < CHUNK)
            break;
    }
    if (rc == 0 && (rc = digest_final(b.m, sha, err)) == 0)
        *size = done;
    bufs_free(&b);
    return rc;
}
