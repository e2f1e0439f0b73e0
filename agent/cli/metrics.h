/*
 * metrics.h — the CLI's metrics command:
 *
 *   palisade metrics [--json]   the agent's metrics in the Prometheus text format
 *
 * Text: the exposition format (agent/ipc/promtext.h, the same text palisaded writes for
 * node_exporter's textfile collector); --json: the metrics op's result as it is. Any local
 * user may run it (the op answers on the read-only status socket too). Returns the exit
 * code (0 ok, 2 error with "palisade: <Code>: <message>" on stderr); *h as in diag.h.
 */
#ifndef PAL_CLI_METRICS_H
#define PAL_CLI_METRICS_H

#include <stdbool.h>

#include "palisade.h"

int cli_metrics(palisade **h, const char *socket, bool json, int argc, char **argv);

#endif
