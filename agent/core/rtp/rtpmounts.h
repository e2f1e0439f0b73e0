/*
 * rtpmounts.h — which file systems real-time protection marks: the mounts of
 * /proc/self/mountinfo whose type is not unmonitored (RealTimeUnmonitoredFileSystems,
 * fnmatch patterns such as "fuse.*") and, when RealTimeMonitoredPaths is set, whose mount
 * point is listed. Each superblock is marked once (FAN_MARK_FILESYSTEM); marking again
 * after a change of mountinfo adds the new ones (a mark dies with its superblock).
 *
 * Runs on the reader thread: it only reads /proc (never marked: proc is refused whatever
 * the setting says) and looks up mount points, which raises no permission event.
 */
#ifndef PAL_RTPMOUNTS_H
#define PAL_RTPMOUNTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct pal_rtp_marked {
    char **mount_points; /* one per marked superblock, as mountinfo shows it */
    uint64_t *devs;
    size_t n;
} pal_rtp_marked;

void pal_rtp_marked_free(pal_rtp_marked *m);
/* Forget the superblocks that are gone (their mount point no longer shows the same device),
   so that a new mount reusing the device is marked again. */
void pal_rtp_marked_prune(pal_rtp_marked *m);

/*
 * Read mountinfo (NULL: /proc/self/mountinfo) and mark, on fan_fd with mask, every
 * monitored superblock not in *m yet; *m gets them. paths: the monitored mount points (n
 * 0 = all). Returns the number of marks that failed (errors are not fatal: the first one
 * is described in why).
 */
size_t pal_rtp_mark_mounts(int fan_fd, uint64_t mask, const char *mountinfo, char *const *paths,
                           size_t n_paths, char *const *unmonitored, size_t n_unmonitored,
                           pal_rtp_marked *m, char *why, size_t why_size);

#endif
