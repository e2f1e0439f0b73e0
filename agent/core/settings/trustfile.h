/*
 * trustfile.h — the one rule for the files root's configuration management puts in place
 * for the daemon to trust (policy files, trusted signature keys) and the directories that
 * hold them: owned by root and writable by nobody else. A group-writable entry is accepted
 * only when the group is root's.
 *
 * Why: whoever can write such a file steers the root daemon (unlock a setting, make it
 * trust a package signer), so it must be as hard to change as the daemon's own binary.
 * The rule is checked on an fstat of the opened fd, never on a path stat'd before the
 * open, so a file swapped between the check and the use is the one checked.
 */
#ifndef PAL_TRUSTFILE_H
#define PAL_TRUSTFILE_H

#include <sys/stat.h>

#include "pal_error.h"

/* NULL when sb satisfies the rule, else what is wrong ("not owned by root", "writable by
   others", "writable by a group other than root"), a static string. */
const char *pal_trustfile_problem(const struct stat *sb);

/*
 * Open name relative to dirfd (AT_FDCWD: name is a path) for reading without following a
 * symbolic link in its last component, and vet what was opened: a directory (want_dir) or
 * a regular file, and, when check_owner, the rule above. shown is the path for messages,
 * what the kind of thing ("trusted keys directory", "trusted key file"). On success *fd
 * holds the open fd (O_CLOEXEC) and *sb its fstat. Errors: PAL_ENOTFOUND (absent), PAL_EPERM
 * (a symbolic link, or the ownership rule: the message gives uid and mode), PAL_EFORMAT
 * (not a directory / not a regular file), PAL_EIO.
 */
int pal_trustfile_open(int dirfd, const char *name, const char *shown, const char *what,
                       int want_dir, int check_owner, int *fd, struct stat *sb, pal_errbuf *err);

/*
 * Open the directory at the absolute path for the broker to create files in (the metrics
 * textfile): walked from / one component at a time with O_NOFOLLOW, never following a
 * symbolic link; every directory on the way must be owned by root (or the daemon's own
 * uid) and writable by nobody else (a group-writable one only by root's group), except
 * that a sticky directory of root's such as /tmp may be passed through (nobody else can
 * rename or remove what is in it); the last one may not be sticky-writable. On success *fd
 * is an O_RDONLY|O_DIRECTORY fd of it. Errors: PAL_EPERM (a symbolic link, or the rule:
 * the message names the directory, its uid and mode), PAL_ENOTFOUND, PAL_EINVAL, PAL_EIO.
 */
int pal_trustfile_open_dir_path(const char *path, int *fd, pal_errbuf *err);

#endif
