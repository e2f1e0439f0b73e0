/*
 * render.h — the protocol's form of what the scan job returns: the scan.start result object
 * (agent/ipc/PROTOCOL.md). The job (scanjob.h) knows nothing of the protocol; this is the
 * only place its result becomes JSON.
 */
#ifndef PAL_RENDER_H
#define PAL_RENDER_H

#include <jansson.h>

#include "scanjob.h"

/* The scan.start result object (new reference), or NULL when out of memory. */
json_t *pal_render_scan_result(const pal_scan_result *r);

#endif
