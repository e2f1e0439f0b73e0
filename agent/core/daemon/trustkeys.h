/*
 * trustkeys.h — loading the daemon's trusted signature keys (--trusted-keys DIR) with the
 * same trust rule as the policy directory (trustfile.h).
 *
 * The directory and every *.pub key file in it are opened without following a symbolic
 * link and vetted on the opened fd: owned by root, writable by nobody else (when the daemon
 * runs as root), a real directory / regular file.
 *
 *   - A directory that fails is refused as a whole: no key from it is trusted, since
 *     whoever can write it can add a key of their own. The daemon still starts; no package
 *     verifies, and the problem is reported (status "degraded").
 *   - A key file that fails (symlink, wrong owner or mode, not a regular file, not a key)
 *     is skipped and reported; the other keys stay trusted. The directory's own vetting
 *     means only root can add, remove or rename its entries, so a bad file taints only
 *     itself; refusing every key because of it would let whoever can write that one file
 *     switch off signature updates altogether.
 *
 * Hidden files and names not ending in ".pub" are ignored, as before. At most
 * PAL_TRUSTKEYS_MAX_FILES key files of at most PAL_TRUSTKEYS_MAX_BYTES each.
 */
#ifndef PAL_TRUSTKEYS_H
#define PAL_TRUSTKEYS_H

#include <stddef.h>

#include "pal_error.h"
#include "sigpkg.h"

#define PAL_TRUSTKEYS_MAX_FILES 256
#define PAL_TRUSTKEYS_MAX_BYTES (64 * 1024)

/*
 * Add the keys of dir to kr. check_owner: apply the ownership rule (the daemon passes
 * geteuid() == 0). *problems (malloc'd array of malloc'd messages, free with
 * pal_strlist_free; possibly empty) receives one line per thing refused, on success and on
 * failure alike, each naming the path and the problem. Returns 0 when at least one key was
 * added; PAL_EPERM / PAL_EFORMAT / PAL_ENOTFOUND / PAL_EIO when the directory is refused or
 * absent, PAL_ENOTFOUND when it yields no usable key, PAL_ELIMIT for too many files,
 * PAL_ENOMEM; err then says why.
 */
int pal_trustkeys_load(pal_keyring *kr, const char *dir, int check_owner, char ***problems,
                       size_t *n_problems, pal_errbuf *err);

#endif
