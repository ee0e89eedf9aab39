/* SPDX-License-Identifier: MIT */
/*
 * cli.h - the command line.
 */
#ifndef CSPIPE_CLI_H
#define CSPIPE_CLI_H

struct stage_registry;

/* Run the command line with the stage kinds `kinds`; returns the exit
 * status. */
int cli_main(int argc, char **argv, const struct stage_registry *kinds);

#endif
