/*
 * jobs.h — the CLI's commands on detached scans (PROTOCOL.md: scan.list, scan.get,
 * scan.wait, scan.stop): `palisade jobs [ID]`, `palisade wait ID`, `palisade cancel ID`.
 * `palisade scan --detach` is in scan.h.
 */
#ifndef PAL_CLI_JOBS_H
#define PAL_CLI_JOBS_H

#include <stdbool.h>

#include "palisade.h"

int cli_jobs(palisade **h, const char *socket, bool json, int argc, char **argv);
int cli_wait(palisade **h, const char *socket, bool json, int argc, char **argv);
int cli_cancel(palisade **h, const char *socket, bool json, int argc, char **argv);

#endif
