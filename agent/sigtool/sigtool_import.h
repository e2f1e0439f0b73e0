/*
 * sigtool_import.h — the `palisade-sigtool import` subcommand (sigtool_import.c): ClamAV
 * databases (loose files and .cvd/.cld containers) and YARA rule directories turned into a
 * source directory for `palisade-sigtool build`.
 */
#ifndef PAL_SIGTOOL_IMPORT_H
#define PAL_SIGTOOL_IMPORT_H

/* argv[0] is "import"; returns the process exit status (0 ok, 2 error). */
int sigtool_cmd_import(int argc, char **argv);

#endif
