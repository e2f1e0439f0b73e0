/*
 * memsource.h — a pal_source over bytes held in memory: how the broker feeds a buffer scan
 * (content a client submitted without a file) to the engine in-process, or answers the
 * content process's data requests for it, exactly as fdsource does for a file.
 *
 * Unlike pal_source_from_memory (engine.h), which trusts its caller to stay in range, every
 * read is checked against the buffer's length: the offsets come from whoever pulls the
 * bytes, and a read past the end is a short read (0 at or past the end), never a copy from
 * beyond the buffer. The bytes are not owned and must outlive the scan.
 */
#ifndef PAL_MEMSOURCE_H
#define PAL_MEMSOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

typedef struct pal_memsource {
    const uint8_t *data; /* not owned */
    size_t len;
    uint64_t bytes_read; /* counted as fdsource counts them */
} pal_memsource;

/* Point src at ms, which reads data[0, len). data may be NULL when len is 0. */
void pal_memsource_init(pal_memsource *ms, const void *data, size_t len, pal_source *src);

#endif
