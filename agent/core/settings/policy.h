/*
 * policy.h — reading the policy directory: the file-system half of the policy layer.
 *
 * A policy directory holds *.json files put there by the site's configuration management,
 * each a JSON object mapping setting names to values. This module finds them (in byte-wise
 * sorted order of their names, skipping hidden files), checks that they can be trusted
 * (when the daemon runs as root: the directory and every file owned by root and writable by
 * nobody else, the rule of trustfile.h shared with the trusted keys; regular files only; at
 * most PAL_POLICY_MAX_FILES files of at most
 * PAL_POLICY_MAX_BYTES each) and parses them. A missing directory is an empty policy, not an error.
 * What the names and values mean is the registry's (settings_registry.c); policy.c also merges the
 * parsed files into one value per setting for settings.c (pal_policy_set, settings_internal.h).
 *
 * Any problem fails the whole read with a message naming the file and the problem, so the
 * caller can keep the last good policy.
 */
#ifndef PAL_POLICY_H
#define PAL_POLICY_H

#include <jansson.h>
#include <stddef.h>

#include "pal_error.h"

#define PAL_POLICY_MAX_FILES 256
#define PAL_POLICY_MAX_BYTES (1024 * 1024)

typedef struct pal_policy_file {
    char *path;  /* dir + "/" + name (owned) */
    json_t *doc; /* the top-level JSON object (owned reference) */
} pal_policy_file;

typedef struct pal_policy_files {
    pal_policy_file *files; /* in the order they apply: later files win */
    size_t n;
} pal_policy_files;

/*
 * Read every policy file of dir. check_owner: apply the ownership and permission checks
 * (the daemon passes geteuid() == 0). On success *out holds the files (possibly none).
 * Errors: PAL_EIO (unreadable directory or file), PAL_EPERM (ownership or permissions),
 * PAL_EFORMAT (malformed JSON, not an object, not a regular file), PAL_ELIMIT (too many or
 * too large files), PAL_ENOMEM.
 */
int pal_policy_read_dir(const char *dir, int check_owner, pal_policy_files *out, pal_errbuf *err);
void pal_policy_files_clear(pal_policy_files *pf); /* frees the contents; accepts NULL */

#endif
