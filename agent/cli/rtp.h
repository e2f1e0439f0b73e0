/*
 * rtp.h — the CLI's real-time protection commands (PROTOCOL.md: status, rtp.stats,
 * config.set of RealTimeProtectionEnabled): `palisade rtp status`, `palisade rtp stats`,
 * `palisade rtp enable|disable`, and the real-time lines of `palisade status`.
 */
#ifndef PAL_CLI_RTP_H
#define PAL_CLI_RTP_H

#include <stdbool.h>

#include <jansson.h>

#include "palisade.h"

int cli_rtp(palisade **h, const char *socket, bool json, int argc, char **argv);

/* In a copy of the status result about to be printed as fields: real_time_protection_stats
   becomes one line of words (file systems, rates, counters) instead of raw JSON. */
void cli_rtp_status_fields(json_t *status_copy);

#endif
