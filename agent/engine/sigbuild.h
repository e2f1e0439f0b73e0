/*
 * sigbuild.h — writing a signed signature package (palisade-sigtool build, tests).
 *
 * The builder collects catalog entries, SHA-256 signatures and YARA sources, compiles the
 * rules with libyara, checks that every rule names a catalog threat in its `threat` meta
 * string and every hash names a catalog threat, lays the file out as sigpkg.h describes and
 * signs it with an Ed25519 private key. The output is written to a temporary file, fsync'd
 * and renamed into place.
 *
 * Source formats (palisade-sigtool build DIR reads DIR/catalog.tsv, DIR/hashes.tsv and
 * every DIR/NAME.yar):
 *   catalog.tsv: threat-name TAB severity TAB category TAB default-action   ('#' comments)
 *   hashes.tsv:  sha256-hex TAB threat-name                                 ('#' comments)
 *            or  digest-hex TAB size-or-* TAB threat-name  (MD5, SHA-1 or SHA-256 by length)
 *   allow.tsv:   digest-hex TAB size-or-*     (optional: objects never reported)
 *   *.yar:       YARA rules; each rule has meta: threat = "<catalog threat name>"
 */
#ifndef PAL_SIGBUILD_H
#define PAL_SIGBUILD_H

#include <stddef.h>
#include <stdint.h>

#include "pal_error.h"
#include "sigpkg.h"

typedef struct pal_sigbuild pal_sigbuild;

int pal_sigbuild_new(pal_sigbuild **out);
void pal_sigbuild_free(pal_sigbuild *b);

int pal_sigbuild_add_threat(pal_sigbuild *b, const char *name, pal_severity sev,
                            const char *category, pal_action default_action, pal_errbuf *err);
int pal_sigbuild_add_sha256(pal_sigbuild *b, const uint8_t sha256[32], const char *threat,
                            pal_errbuf *err);
/*
 * A sized hash (ClamAV .hdb/.hsb/.fp): digest of alg, object size in bytes or
 * PAL_HASH_ANY_SIZE, and the catalog threat it detects, or NULL for an allow entry (an
 * object with that digest and size is not reported, whatever else matches it). Packages
 * holding such hashes are written in format 2.
 */
int pal_sigbuild_add_hash(pal_sigbuild *b, pal_hash_alg alg, const uint8_t *digest, uint64_t size,
                          const char *threat, pal_errbuf *err);
/*
 * YARA source text; name is used in compile error messages ("name:line: message"). libyara
 * warnings (e.g. a string that slows down scanning) fail like errors; `include` is refused;
 * no external variables are defined. After a failed source the builder only accepts free.
 */
int pal_sigbuild_add_rules(pal_sigbuild *b, const char *source, const char *name, pal_errbuf *err);
/* Read catalog.tsv, hashes.tsv (optional) and every *.yar of dir. */
int pal_sigbuild_add_dir(pal_sigbuild *b, const char *dir, pal_errbuf *err);

/* Write the signed package. privkey_pem_path: PEM PKCS#8 Ed25519 private key. */
int pal_sigbuild_write(pal_sigbuild *b, uint64_t version, uint64_t created,
                       const char *privkey_pem_path, const char *out_path, pal_errbuf *err);

/* Generate an Ed25519 key pair: <prefix>.key (0600, PKCS#8 PEM) and <prefix>.pub (PEM).
   Never overwrites: PAL_EEXIST when either file exists. */
int pal_sigbuild_keygen(const char *prefix, pal_errbuf *err);

/*
 * Sign len bytes of msg with the Ed25519 private key in privkey_pem_path and store the
 * 64-byte signature in sig: the signing pal_sigbuild_write does, for tests that re-sign a
 * package they altered on purpose (so that the reader's structure checks, not the signature, must
 * catch the change). If key_id is not NULL it receives the id of the signing key.
 */
int pal_sigbuild_sign_bytes(const char *privkey_pem_path, const void *msg, size_t len,
                            uint8_t sig[64], uint8_t key_id[PAL_KEY_ID_LEN], pal_errbuf *err);

#endif
