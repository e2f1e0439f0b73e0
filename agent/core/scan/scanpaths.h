/*
 * scanpaths.h — what the Quick and Full scan types cover.
 *
 * Quick: the places malware lands on Linux — world-writable temporary directories, each
 * user's downloads and autostart places, cron and systemd unit directories, shell start-up
 * files. Full: every local file system from /, minus /proc, /sys and /dev but with /dev/shm
 * (pseudo, network and FUSE mounts are skipped by the walker on their file-system type).
 */
#ifndef PAL_SCANPATHS_H
#define PAL_SCANPATHS_H

#include <stddef.h>

typedef struct pal_pathlist {
    char **paths;
    size_t n;
} pal_pathlist;

/* Existing Quick-scan roots (missing ones are left out). 0 or PAL_ENOMEM. */
int pal_quick_scan_paths(pal_pathlist *out);
/* The Full scan roots: every entry of / but proc, sys and dev, plus /dev/shm. */
int pal_full_scan_paths(pal_pathlist *roots);
void pal_pathlist_free(pal_pathlist *pl);
int pal_pathlist_add(pal_pathlist *pl, const char *path);

#endif
