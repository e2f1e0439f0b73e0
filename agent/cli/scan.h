/*
 * scan.h — `palisade scan`: start an on-demand scan, show its progress on a terminal,
 * turn Ctrl+C into a cancel (a second Ctrl+C quits at once), and report the result as
 * text or as one JSON document.
 */
#ifndef PAL_CLI_SCAN_H
#define PAL_CLI_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "palisade.h"

/*
 * type: "Quick", "Full" or "Custom" (with paths; relative ones are made absolute against
 * the current directory, since the agent does not share it). Returns the exit code:
 * 0 no threat and Completed, 1 threats found, 2 error or scan not completed.
 */
int cli_scan(palisade *h, const char *type, char *const *paths, size_t npaths, bool json);

/* `scan --detach`: start the scan as the agent's own (PROTOCOL.md, detach) and print its id
   (text: the id alone on stdout, a hint on stderr; --json: {"scan_id", "status"}). */
int cli_scan_detach(palisade *h, const char *type, char *const *paths, size_t npaths, bool json);

/* Send op (scan.start or scan.wait) with args and follow it to its scan result: progress on
   a terminal, the report, cli_scan's exit status. owns_scan: Ctrl+C cancels the request (the
   scan); otherwise Ctrl+C only stops following (exit 130) and the scan goes on. */
int cli_scan_follow(palisade *h, const char *op, const char *args, bool owns_scan, bool json);

/*
 * `palisade scan - [--name HINT]`: scan standard input as a buffer (op scan.buffer), at most
 * PALISADE_BUFFER_SCAN_MAX bytes (more is an error, not a partial scan); name defaults to
 * "stdin". Returns 0 clean, 1 threat, 3 unscannable, 2 error, as for files.
 */
int cli_scan_stdin(palisade *h, const char *name, bool json);

#endif
