/*
 * promtext.h — the Prometheus text exposition format (version 0.0.4) of the metrics op's
 * result (agent/ipc/PROTOCOL.md, "metrics"): what `palisade metrics` prints and what
 * palisaded writes for node_exporter's textfile collector, from the same function so the
 * two never differ. Every family has HELP and TYPE lines, counters end in _total, units
 * are in the names (_seconds, _bytes), label values are escaped (\\, \", \n). A family
 * with no sample is left out altogether (the real-time protection figures while status
 * has no real_time_protection_stats).
 */
#ifndef PAL_PROMTEXT_H
#define PAL_PROMTEXT_H

#include <jansson.h>

#include "pal_error.h"

/* The text for the metrics result m, malloc'd (NUL-terminated), or NULL with err set
   (PAL_ENOMEM; PAL_EFORMAT when m is not an object). */
char *pal_promtext_render(const json_t *m, pal_errbuf *err);

#endif
