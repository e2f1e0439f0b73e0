/*
 * sigtool_cost.h — the `palisade-sigtool cost` subcommand (sigtool_cost.c): each rule
 * source's scan cost on a sample tree, and the gate the build runs on the starter set.
 */
#ifndef PAL_SIGTOOL_COST_H
#define PAL_SIGTOOL_COST_H

/* argv[0] is "cost"; returns the process exit status (0 ok, 2 error, 3 gate failed). */
int sigtool_cmd_cost(int argc, char **argv);

#endif
