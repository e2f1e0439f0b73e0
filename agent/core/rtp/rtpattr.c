/* rtpattr.c — the attribute watch behind the ignore marks (see rtpattr.h). */
#define _GNU_SOURCE
#include "rtpattr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "hash64.h"
#include "pal_error.h"

#define SLOTS (2 * PAL_RTP_ATTR_KEYS) /* open addressing, at most half full */

#ifndef AT_HANDLE_FID
#define AT_HANDLE_FID 0x200 /* Linux 6.5: the handle fanotify reports, decodable or not */
#endif

struct pal_rtp_attr {
    int fd;
    pal_rtp_marked watched; /* the superblocks whose attribute changes reach this group */
    uint64_t *keys;         /* SLOTS entries, 0 = empty; allocated at the first note */
    size_t n;
};

int pal_rtp_attr_open(pal_rtp_attr **out)
{
    *out = NULL;
    pal_rtp_attr *a = calloc(1, sizeof(*a));
    if (!a)
        return PAL_ENOMEM;
    a->fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_FID,
                          O_RDONLY | O_CLOEXEC);
    if (a->fd < 0) {
        int e = errno;
        free(a);
        errno = e;
        return PAL_EIO;
    }
    *out = a;
    return 0;
}

void pal_rtp_attr_close(pal_rtp_attr *a)
{
    if (!a)
        return;
    close(a->fd);
    pal_rtp_marked_free(&a->watched);
    free(a->keys);
    free(a);
}

int pal_rtp_attr_fd(const pal_rtp_attr *a)
{
    return a ? a->fd : -1;
}

size_t pal_rtp_attr_watch(pal_rtp_attr *a, char *const *paths, size_t n_paths,
                          char *const *unmonitored, size_t n_unmonitored, char *why,
                          size_t why_size)
{
    pal_rtp_marked_prune(&a->watched);
    return pal_rtp_mark_mounts(a->fd, FAN_ATTRIB, NULL, paths, n_paths, unmonitored, n_unmonitored,
                               &a->watched, why, why_size);
}

static uint64_t hash_key(const void *fsid, size_t fsid_len, int type, const unsigned char *h,
                         size_t len)
{
    uint32_t t = (uint32_t)type;
    uint64_t x = pal_fnv1a64(PAL_FNV1A64_INIT, fsid, fsid_len);
    x = pal_mix64(pal_fnv1a64(pal_fnv1a64(x, &t, sizeof(t)), h, len));
    return x ? x : 1; /* 0 means "no key" */
}

uint64_t pal_rtp_attr_key(int fd)
{
    struct statfs sfs;
    if (fstatfs(fd, &sfs) != 0)
        return 0;
    union {
        struct file_handle fh;
        char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
    } u;
    int mount_id;
    u.fh.handle_bytes = MAX_HANDLE_SZ;
    if (name_to_handle_at(fd, "", &u.fh, &mount_id, AT_EMPTY_PATH | AT_HANDLE_FID) != 0) {
        if (errno != EINVAL)
            return 0;
        /* before 6.5: the regular handle, which is what fanotify reports for the file
           systems that have one (its FID is the same encoding) */
        u.fh.handle_bytes = MAX_HANDLE_SZ;
        if (name_to_handle_at(fd, "", &u.fh, &mount_id, AT_EMPTY_PATH) != 0)
            return 0;
    }
    return hash_key(&sfs.f_fsid, sizeof(sfs.f_fsid), u.fh.handle_type, u.fh.f_handle,
                    u.fh.handle_bytes);
}

static int covered(const pal_rtp_attr *a, uint64_t key, size_t *at)
{
    size_t i = (size_t)(key * 0x9e3779b97f4a7c15ULL) & (SLOTS - 1);
    while (a->keys[i] != 0 && a->keys[i] != key)
        i = (i + 1) & (SLOTS - 1);
    *at = i;
    return a->keys[i] == key;
}

int pal_rtp_attr_watches(const pal_rtp_attr *a, uint64_t dev)
{
    for (size_t i = 0; a && i < a->watched.n; i++)
        if (a->watched.devs[i] == dev)
            return 1;
    return 0;
}

int pal_rtp_attr_note(pal_rtp_attr *a, uint64_t key)
{
    int flushed = 0;
    if (!a->keys) {
        a->keys = calloc(SLOTS, sizeof(uint64_t));
        if (!a->keys)
            return -1;
    }
    if (a->n >= PAL_RTP_ATTR_KEYS) {
        pal_rtp_attr_forget(a);
        flushed = 1;
    }
    size_t at;
    if (!covered(a, key, &at)) {
        a->keys[at] = key;
        a->n++;
    }
    return flushed;
}

void pal_rtp_attr_forget(pal_rtp_attr *a)
{
    if (a->keys && a->n > 0)
        memset(a->keys, 0, SLOTS * sizeof(uint64_t));
    a->n = 0;
}

/* The key of one FAN_ATTRIB event (its bytes: ev, len): its FID record hashed as
   pal_rtp_attr_key does. FID events have any length, so an event, and the records in it,
   can start at any address: every field is copied out, never read in place. */
static uint64_t event_key(const unsigned char *ev, size_t len, size_t metadata_len)
{
    for (size_t off = metadata_len; off + sizeof(struct fanotify_event_info_header) <= len;) {
        struct fanotify_event_info_header h;
        memcpy(&h, ev + off, sizeof(h));
        if (h.len == 0 || off + h.len > len)
            break;
        size_t head = sizeof(struct fanotify_event_info_fid) + sizeof(struct file_handle);
        if (h.info_type == FAN_EVENT_INFO_TYPE_FID && h.len >= head) {
            struct fanotify_event_info_fid f;
            struct file_handle fh;
            memcpy(&f, ev + off, sizeof(f));
            memcpy(&fh, ev + off + sizeof(f), sizeof(fh));
            if (fh.handle_bytes > h.len - head)
                break;
            return hash_key(&f.fsid, sizeof(f.fsid), fh.handle_type, ev + off + head,
                            fh.handle_bytes);
        }
        off += h.len;
    }
    return 0;
}

int pal_rtp_attr_changed(pal_rtp_attr *a)
{
    static __thread unsigned char buf[16 * 1024];
    int changed = 0;
    for (int rounds = 0; rounds < 64; rounds++) {
        ssize_t n = read(a->fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (size_t off = 0; off + FAN_EVENT_METADATA_LEN <= (size_t)n;) {
            struct fanotify_event_metadata m;
            memcpy(&m, buf + off, sizeof(m));
            if (m.vers != FANOTIFY_METADATA_VERSION || m.event_len < FAN_EVENT_METADATA_LEN ||
                m.event_len > (size_t)n - off) {
                changed = 1; /* unreadable: whatever it said may concern a marked file */
                break;
            }
            if (m.mask & FAN_Q_OVERFLOW) {
                changed = 1; /* lost events: any of them may be a marked file */
            } else if (a->n > 0) {
                uint64_t key = event_key(buf + off, m.event_len, m.metadata_len);
                size_t at;
                if (key == 0 || covered(a, key, &at))
                    changed = 1;
            }
            off += m.event_len;
        }
    }
    return changed;
}
