/*
 * sigpkg.h — the signed signature package ("security intelligence"): verify, map, look up.
 *
 * One file, mapped read-only (PROT_READ, MAP_SHARED) by every process that scans, so the
 * protection data lives once in the page cache. Nothing is copied or parsed at load: the
 * catalog, the string pool and the hash table are used in place from the mapping. Only the
 * compiled YARA rules are loaded (by the engine) into per-process memory, because libyara
 * has no in-place loader.
 *
 * On-disk format, all integers little-endian (the full table lives in sigpkg.c):
 *   [header 128 bytes][catalog][strings][hash index][hash entries][yara blob][signature 64]
 * The Ed25519 signature covers every byte before it. A package is refused (never partly
 * used) when the signature does not verify against a trusted key, when the key is unknown,
 * or when any structural check fails; the error message says which.
 */
#ifndef PAL_SIGPKG_H
#define PAL_SIGPKG_H

#include <stddef.h>
#include <stdint.h>

#include "names.h" /* pal_severity, pal_action and their names */
#include "pal_error.h"

/* ---- trusted keys ---------------------------------------------------------------------- */

#define PAL_KEY_ID_LEN 8 /* first 8 bytes of SHA-256(raw 32-byte Ed25519 public key) */

typedef struct pal_keyring pal_keyring;

int pal_keyring_new(pal_keyring **out);
void pal_keyring_free(pal_keyring *kr);
/* Add a PEM (SubjectPublicKeyInfo) Ed25519 public key file. */
int pal_keyring_add_pem_file(pal_keyring *kr, const char *path, pal_errbuf *err);
/* Add a PEM public key already read into memory (len bytes at pem, at most 64 KiB); what
   names its origin in messages. For a caller that opened and vetted the file itself. */
int pal_keyring_add_pem(pal_keyring *kr, const char *pem, size_t len, const char *what,
                        pal_errbuf *err);
/* Add every *.pub file of dir. A directory with no usable key is an error (PAL_ENOTFOUND). */
int pal_keyring_load_dir(pal_keyring *kr, const char *dir, pal_errbuf *err);
size_t pal_keyring_count(const pal_keyring *kr);

/* Hex key id (16 chars + NUL) of a raw public key. */
void pal_key_id_hex(const uint8_t key_id[PAL_KEY_ID_LEN], char out[2 * PAL_KEY_ID_LEN + 1]);

/* ---- the package ----------------------------------------------------------------------- */

typedef struct pal_sigpkg pal_sigpkg;

#define PAL_SIGPKG_MAX_SIZE (1ULL << 30) /* larger files are refused (PAL_ELIMIT) */
#define PAL_THREAT_NAME_MAX 255          /* bytes in a threat name or category, printable ASCII */

enum pal_sigpkg_flags {
    PAL_SIGPKG_VERIFY = 1, /* check the Ed25519 signature against keys (broker, sigtool) */
    /* without it only the structure is checked: for a process handed an fd the broker
       already verified (the content process, which cannot read key files) */
};

/*
 * Map the package open on fd (the fd is not kept; the mapping is) and check it.
 * keys may be NULL only without PAL_SIGPKG_VERIFY. On failure *out is untouched and err
 * says what is wrong (e.g. "signature does not verify", "signed by unknown key 0123...",
 * "hash table offset 4096+800 beyond end of file (4500)").
 */
int pal_sigpkg_open_fd(int fd, const pal_keyring *keys, unsigned flags, pal_sigpkg **out,
                       pal_errbuf *err);
int pal_sigpkg_open_path(const char *path, const pal_keyring *keys, unsigned flags,
                         pal_sigpkg **out, pal_errbuf *err);
void pal_sigpkg_free(pal_sigpkg *pkg);
/*
 * Drop this mapping's resident pages (MADV_DONTNEED on the read-only file mapping): the
 * bytes stay in the page cache and come back on the next access, unchanged. Opening reads
 * every byte (signature, structure walk) and loading the YARA rules reads their blob; after
 * that only what lookups touch needs to be mapped, so that memory (PSS) counts the pages a
 * process uses, not the whole package once per mapping. Never fails (advice only).
 */
void pal_sigpkg_release_resident(const pal_sigpkg *pkg); /* accepts NULL; unmaps */

typedef struct pal_sigpkg_info {
    uint32_t format_version;
    uint64_t version; /* monotonically increasing package version */
    uint64_t created; /* unix seconds */
    uint8_t key_id[PAL_KEY_ID_LEN];
    uint32_t threat_count; /* catalog entries */
    uint32_t hash_count;   /* SHA-256 signatures */
    uint32_t rule_count;   /* YARA rules */
    uint64_t file_size;    /* whole file including the signature */
    uint64_t catalog_bytes, strings_bytes, hash_bytes, yara_bytes;
    /* format 2 sized hash tables (0 in a version 1 package): entries per algorithm,
       indexed by pal_hash_alg, and how many of all of them are allow entries */
    uint32_t sized_count[4];
    uint32_t allow_count;
    uint64_t sized_bytes; /* all sized tables together */
} pal_sigpkg_info;

void pal_sigpkg_get_info(const pal_sigpkg *pkg, pal_sigpkg_info *out);

/* One catalog entry; the strings point into the mapping and live as long as pkg. */
typedef struct pal_threat {
    uint32_t id;          /* index in the catalog */
    const char *name;     /* "Virus:DOS/EICAR_Test_File" */
    const char *category; /* "Virus", "Trojan", "TestFile", ... */
    pal_severity severity;
    pal_action default_action;
} pal_threat;

/* 0 and *out, or PAL_ENOTFOUND. */
int pal_sigpkg_threat(const pal_sigpkg *pkg, uint32_t id, pal_threat *out);
/* Catalog lookup by exact name (the catalog is sorted by name). */
int pal_sigpkg_find_threat(const pal_sigpkg *pkg, const char *name, pal_threat *out);
/* SHA-256 hash signature lookup: 0 and the threat id, or PAL_ENOTFOUND. O(1) average. */
int pal_sigpkg_lookup_sha256(const pal_sigpkg *pkg, const uint8_t sha256[32], uint32_t *id);

/*
 * Sized hash tables (format 2; ClamAV .hdb/.hsb/.fp carry MD5, SHA-1 and SHA-256 with the
 * file size). A table is present only when the package holds such hashes, so a scanner
 * computes MD5 or SHA-1 only for a package that has them (pal_sigpkg_has_hashes).
 */
typedef enum pal_hash_alg { PAL_HASH_MD5 = 1, PAL_HASH_SHA1 = 2, PAL_HASH_SHA256 = 3 } pal_hash_alg;
#define PAL_HASH_ANY_SIZE UINT64_MAX /* an entry that matches an object of any size */
#define PAL_HASH_ALLOW UINT32_MAX    /* the threat id of an allow entry */

/* Entries (threats and allow entries) in the table of alg; 0 when there is none. */
uint32_t pal_sigpkg_has_hashes(const pal_sigpkg *pkg, pal_hash_alg alg);
/*
 * Look a digest of an object of size bytes up in the table of alg. *allowed = 1 when an
 * allow entry matches (the object is on the package's allow list). Returns 0 and the first
 * matching threat id, or PAL_ENOTFOUND (also when there is no such table).
 */
int pal_sigpkg_lookup_hash(const pal_sigpkg *pkg, pal_hash_alg alg, const uint8_t *digest,
                           uint64_t size, uint32_t *id, int *allowed);

/* Where each section lies in the file (palisade-sigtool info, tests). */
typedef struct pal_sigpkg_layout {
    uint64_t catalog_off, catalog_len;
    uint64_t strings_off, strings_len;
    uint64_t hash_off, hash_len; /* bucket index followed by the sorted entries */
    uint64_t yara_off, yara_len;
    uint64_t body_len;                   /* bytes covered by the signature (= file size - 64) */
    uint32_t hash_bucket_bits;           /* the index has 2^bits buckets */
    uint64_t sized_off[4], sized_len[4]; /* format 2 tables by pal_hash_alg; len 0: none */
} pal_sigpkg_layout;

void pal_sigpkg_get_layout(const pal_sigpkg *pkg, pal_sigpkg_layout *out);

/* The compiled YARA rules (yr_rules_save_stream output), inside the mapping. */
void pal_sigpkg_yara_blob(const pal_sigpkg *pkg, const void **data, size_t *len);

/* Base and length of the whole mapping (for the content process handoff and PSS checks). */
void pal_sigpkg_mapping(const pal_sigpkg *pkg, const void **base, size_t *len);

#endif
