/* fdsource.c — pread-backed pal_source (see fdsource.h). */
#include "fdsource.h"

#include <errno.h>
#include <unistd.h>

static ssize_t fd_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
    pal_fdsource *fs = ctx;
    if (off > (uint64_t)INT64_MAX)
        return PAL_EINVAL;
    for (;;) {
        ssize_t n = pread(fs->fd, buf, len, (off_t)off);
        if (n >= 0) {
            fs->bytes_read += (uint64_t)n;
            return n;
        }
        if (errno != EINTR)
            return PAL_EIO;
    }
}

void pal_fdsource_init(pal_fdsource *fs, int fd, uint64_t size, pal_source *src)
{
    fs->fd = fd;
    fs->bytes_read = 0;
    src->size = size;
    src->read_at = fd_read_at;
    src->ctx = fs;
}
