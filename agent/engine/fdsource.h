/*
 * fdsource.h — a pal_source reading an open file with pread: how the broker feeds the
 * engine (in-process) or answers the content process's data requests (sandboxed). The
 * size is the one fstat saw when the walker opened the file; a file that shrinks under the
 * scan yields a short read, which the engine reports as unscannable (read-error).
 */
#ifndef PAL_FDSOURCE_H
#define PAL_FDSOURCE_H

#include <stdint.h>

#include "engine.h"

typedef struct pal_fdsource {
    int fd;              /* not owned */
    uint64_t bytes_read; /* counted for the scan statistics and the cache test */
} pal_fdsource;

void pal_fdsource_init(pal_fdsource *fs, int fd, uint64_t size, pal_source *src);

#endif
