/*
 * updates.h — signature updates with the daemon running: install a package, roll back to
 * the previous one.
 *
 * Files in <state>/defs (0700, owned by the daemon):
 *   current.sig            the installed package (daemon.c loads it at start and uses the
 *                          newer of it and --defs)
 *   previous.sig           the package that was in force before the last update or
 *                          rollback, kept for update.rollback (a rollback swaps the two)
 *   .incoming-<hex>.sig,   temporaries; removed by pal_updater_new, so a crash leaves none
 *   .previous-<hex>.sig
 *
 * Install: the broker opens the package itself and copies it into a temporary file in the
 * defs directory, so the bytes verified are the bytes installed (a user cannot swap the
 * file between check and use). That copy is verified (Ed25519 signature, structure) and an
 * engine is built on it; a version lower than the one in force, or the same version, is
 * refused unless forced;
 * the package in force is copied to previous.sig (temporary, fsync, rename); the new one is
 * fsync'd, renamed over current.sig and the directory fsync'd. Every rename is atomic, so at
 * any instant current.sig is a complete, verified package: a SIGKILL anywhere leaves the
 * old or the new one in force after a restart. Then the package goes in force through
 * pal_daemon_put_in_force (daemon.h), the one place it changes: every scanner takes the new engine
 * for its next file while a file being scanned finishes on the reference it holds (pal_defs is
 * reference counted), so no scan in flight fails; and the scan cache is emptied.
 *
 * A tampered, truncated or unknown-key package is refused with the verifier's reason and
 * nothing changes. Threads: calls are serialised by a mutex inside the updater.
 */
#ifndef PAL_UPDATES_H
#define PAL_UPDATES_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h" /* acts on the daemon, which registers it: see daemon.c's includes */

typedef struct pal_updater pal_updater;

typedef struct pal_update_info {
    uint64_t version;          /* now in force */
    uint64_t created;          /* its creation time, unix seconds */
    uint64_t previous_version; /* in force before; 0 when none was */
} pal_update_info;

/* Open <state>/defs and remove temporaries a crash left there. d must outlive it. */
int pal_updater_new(pal_daemon *d, pal_updater **out, pal_errbuf *err);
void pal_updater_free(pal_updater *u); /* accepts NULL */

/*
 * With no package in force at start-up (current.sig and --defs both refused or absent),
 * put previous.sig in force if it verifies. Returns 1 when it did, 0 when not.
 */
int pal_updater_fallback(pal_updater *u, pal_errbuf *err);

/*
 * Install the package at path. uid is recorded in the audit row. On 0, *out (may be NULL)
 * describes the switch. A file larger than PAL_SIGPKG_MAX_SIZE (fstat of the opened file)
 * is refused before anything is copied, and the copy stops at that fstat size. Errors:
 * PAL_ENOTFOUND (no such file), PAL_EINVAL (not a regular file), PAL_ELIMIT (too large, or
 * grew while copied), PAL_ESIGNATURE / PAL_EUNKNOWNKEY / PAL_EFORMAT / PAL_EVERSION (refused
 * by the verifier: err has its reason), PAL_ESTATE (a lower version than the one in force,
 * without force), PAL_EEXIST (the version in force, without force), PAL_EIO, PAL_ENOMEM.
 */
int pal_updater_install(pal_updater *u, const char *path, bool force, uid_t uid,
                        pal_update_info *out, pal_errbuf *err);

/* Put previous.sig back in force (it is verified again first); the package that was in
   force becomes previous.sig. PAL_ENOTFOUND when there is no previous package; other
   errors as for install. */
int pal_updater_rollback(pal_updater *u, uid_t uid, pal_update_info *out, pal_errbuf *err);

#endif
