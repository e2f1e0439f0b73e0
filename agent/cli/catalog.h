/*
 * catalog.h — the CLI's threat catalog command:
 *
 *   palisade catalog [--severity S] [NAME-PATTERN] [--json]
 *
 * The threats the signature package in force can report, sorted by name; NAME-PATTERN takes
 * * and ? (case-insensitive), S is Low, Moderate, High or Severe. Arguments are parsed first
 * (a usage error needs no agent), then *h is connected; the caller closes it. Returns the
 * exit code (0 ok, 2 error with "palisade: <Code>: <message>" on stderr).
 */
#ifndef PAL_CLI_CATALOG_H
#define PAL_CLI_CATALOG_H

#include <stdbool.h>

#include "palisade.h"

int cli_catalog(palisade **h, const char *socket, bool json, int argc, char **argv);

#endif
