/*
 * rtpattr.h — the attribute watch behind the ignore marks. An ignore mark lets every later
 * open of a clean file through without asking, until the file is written (the kernel drops
 * the mark on a write). A mark was only given to a file no untrusted user could write
 * (agent/core/scan/cachetrust.h); a chmod, chown or ACL change can make it writable
 * afterwards, and a write through a shared mapping does not drop the mark. So every inode
 * given a mark is remembered here by its file handle, a second fanotify group (notification
 * class, FAN_REPORT_FID) watches FAN_ATTRIB on the marked file systems, and when one of
 * those inodes changes attributes every ignore mark goes (the caller flushes them): the next
 * opens are checked again and get a mark only if the file still deserves one.
 *
 * Locking: the caller serialises pal_rtp_attr_note, pal_rtp_attr_changed and
 * pal_rtp_attr_forget with the setting and flushing of the marks (rtp.c's lock), so that a
 * note can never be forgotten by a flush that did not also remove its mark.
 */
#ifndef PAL_RTPATTR_H
#define PAL_RTPATTR_H

#include <stddef.h>
#include <stdint.h>

#include "rtpmounts.h"

#define PAL_RTP_ATTR_KEYS 65536 /* inodes remembered; past that every mark is flushed */

typedef struct pal_rtp_attr pal_rtp_attr;

/* The watch's group; PAL_ENOMEM, or PAL_EIO with errno (EINVAL: the kernel has no FID
   reporting, before 5.1). */
int pal_rtp_attr_open(pal_rtp_attr **out);
void pal_rtp_attr_close(pal_rtp_attr *a); /* accepts NULL */
int pal_rtp_attr_fd(const pal_rtp_attr *a);

/* Watch attribute changes on the superblocks of *marked that are not watched yet (the same
   list real-time protection marked). Returns the number that failed; why as for
   pal_rtp_mark_mounts. */
size_t pal_rtp_attr_watch(pal_rtp_attr *a, char *const *paths, size_t n_paths,
                          char *const *unmonitored, size_t n_unmonitored, char *why,
                          size_t why_size);

/* The identity of fd's inode as the watch reports it (fsid and file handle, hashed); 0 when
   it has none (a file system without handles: nothing can be watched, so no mark). */
uint64_t pal_rtp_attr_key(int fd);

/* Whether the attribute changes of the superblock dev (st_dev) reach the watch: a file
   elsewhere gets no ignore mark. */
int pal_rtp_attr_watches(const pal_rtp_attr *a, uint64_t dev);

/* An ignore mark is about to be set on the inode of key: remember it. Returns 0; 1 when the
   set was full and the caller must flush every mark before setting this one (the set then
   holds key alone); -1 when nothing can be remembered (no memory): set no mark. */
int pal_rtp_attr_note(pal_rtp_attr *a, uint64_t key);

/* Read what the watch has; returns 1 when an inode with a mark changed attributes, or
   events were lost: the caller flushes every mark and calls pal_rtp_attr_forget. Never
   waits (the group is non-blocking). */
int pal_rtp_attr_changed(pal_rtp_attr *a);

/* Every mark was flushed: remember nothing. */
void pal_rtp_attr_forget(pal_rtp_attr *a);

#endif
