/*
 * sigtool_scan.h — the `palisade-sigtool scan` subcommand, implemented in sigtool_scan.c.
 * The dispatcher in sigtool.c offers it only when that file is built (PAL_SIGTOOL_HAVE_SCAN).
 */
#ifndef PAL_SIGTOOL_SCAN_H
#define PAL_SIGTOOL_SCAN_H

/* argv[0] is "scan"; returns the process exit status. */
int sigtool_cmd_scan(int argc, char **argv);

#endif
