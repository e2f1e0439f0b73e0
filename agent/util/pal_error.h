/*
 * pal_error.h — the one error vocabulary of Palisade's C code.
 *
 * Functions return 0 on success or a negative PAL_E* code. A scan verdict (clean, threat,
 * unscannable) is data, never an error code. Where the caller needs to know *which* thing
 * was wrong (a package offset out of range, a key that is not trusted), the function also
 * takes a pal_errbuf and writes a one-line human message into it; library code never prints.
 */
#ifndef PAL_ERROR_H
#define PAL_ERROR_H

#include <stddef.h>

enum pal_err {
    PAL_OK = 0,
    PAL_EINVAL = -1,      /* invalid argument from the caller */
    PAL_ENOMEM = -2,      /* allocation failed */
    PAL_EIO = -3,         /* read/write/system call failed (errno-level problem) */
    PAL_EFORMAT = -4,     /* input structure is malformed (bad magic, offset out of range) */
    PAL_EVERSION = -5,    /* unsupported format version / newer schema */
    PAL_ESIGNATURE = -6,  /* Ed25519 signature does not verify */
    PAL_EUNKNOWNKEY = -7, /* signed by a key that is not trusted */
    PAL_ENOTFOUND = -8,   /* lookup found nothing */
    PAL_EEXIST = -9,      /* target already exists */
    PAL_ELIMIT = -10,     /* a configured limit was exceeded */
    PAL_ECANCELLED = -11, /* operation cancelled */
    PAL_ETIMEOUT = -12,   /* operation timed out */
    PAL_EPERM = -13,      /* permission denied */
    PAL_EENGINE = -14,    /* a library (yara, libarchive, openssl) failed internally */
    PAL_ESTATE = -15,     /* object in the wrong state for this call */
    PAL_ERACE = -16,      /* the file system changed under us (inode swapped, symlink) */
    PAL_EPROTO = -17,     /* peer violated the protocol */
    PAL_EPOLICY = -18,    /* locked by policy (a policy file, the environment): not the caller's
                             permission, which is PAL_EPERM */
};

/* Static, never NULL. */
const char *pal_strerror(int err);

/* A caller-provided buffer for the message that goes with an error. */
typedef struct pal_errbuf {
    char msg[512];
} pal_errbuf;

/*
 * Format a message into err (if non-NULL) and return code, so that callers can write
 * `return pal_err_set(err, PAL_EFORMAT, "catalog offset %llu out of range", off);`.
 */
int pal_err_set(pal_errbuf *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
