/*
 * diag.h — the CLI's diagnostics commands:
 *
 *   palisade diagnostics [--json]           write a support bundle; prints its path
 *   palisade events [--limit N] [--json]    recent content-process events, newest first
 *
 * Each parses its arguments first (a usage error needs no agent), then connects: *h is set
 * to the connected handle, which the caller closes. Returns the exit code (0 ok, 2 error
 * with "palisade: <Code>: <message>" on stderr).
 */
#ifndef PAL_CLI_DIAG_H
#define PAL_CLI_DIAG_H

#include <stdbool.h>

#include "palisade.h"

int cli_diagnostics(palisade **h, const char *socket, bool json, int argc, char **argv);
int cli_events(palisade **h, const char *socket, bool json, int argc, char **argv);

#endif
