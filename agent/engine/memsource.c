/* memsource.c — bounds-checked in-memory pal_source (see memsource.h). */
#include "memsource.h"

#include <limits.h>
#include <string.h>

static ssize_t mem_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
    pal_memsource *ms = ctx;
    if (off >= ms->len)
        return 0;
    size_t n = ms->len - (size_t)off;
    if (n > len)
        n = len;
    if (n > (size_t)SSIZE_MAX)
        n = (size_t)SSIZE_MAX;
    memcpy(buf, ms->data + off, n);
    ms->bytes_read += n;
    return (ssize_t)n;
}

void pal_memsource_init(pal_memsource *ms, const void *data, size_t len, pal_source *src)
{
    ms->data = data;
    ms->len = data != NULL ? len : 0;
    ms->bytes_read = 0;
    src->size = ms->len;
    src->read_at = mem_read_at;
    src->ctx = ms;
}
