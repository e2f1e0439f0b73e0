/*
 * remediation.h — the CLI's remediation commands:
 *
 *   palisade quarantine list [--json]
 *   palisade quarantine restore ID [--to PATH] [--force] [--allow]
 *   palisade quarantine remove ID
 *   palisade allow list | allow add|remove (--threat NAME | --sha256 HEX)
 *   palisade update PKG [--force] | update rollback
 *
 * Each parses its arguments first (a usage error needs no agent), then connects: *h is
 * set to the connected handle, which the caller closes. Relative paths are made absolute
 * against the current directory, since the agent does not share it. Returns the exit code
 * (0 ok, 2 error with "palisade: <Code>: <message>" on stderr).
 */
#ifndef PAL_CLI_REMEDIATION_H
#define PAL_CLI_REMEDIATION_H

#include <stdbool.h>

#include "palisade.h"

int cli_quarantine(palisade **h, const char *socket, bool json, int argc, char **argv);
int cli_allow(palisade **h, const char *socket, bool json, int argc, char **argv);
/* palisade action list | action set THREAT ACTION | action remove THREAT */
int cli_action(palisade **h, const char *socket, bool json, int argc, char **argv);
int cli_update(palisade **h, const char *socket, bool json, int argc, char **argv);

#endif
