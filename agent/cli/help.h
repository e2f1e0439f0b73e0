/*
 * help.h — the palisade CLI's help: the list of commands (`palisade help`, `--help`) and
 * each command's usage, options, who may run it and an example (`palisade help CMD`,
 * `palisade CMD --help`). The texts live here so that every command has one and the
 * dispatch in main.c stays short.
 */
#ifndef PAL_CLI_HELP_H
#define PAL_CLI_HELP_H

/* The list of commands and global options. */
const char *help_overview(void);

/* The help of one command, or NULL when there is no such command. */
const char *help_for(const char *command);

#endif
