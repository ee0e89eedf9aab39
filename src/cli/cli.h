/* SPDX-License-Identifier: MIT */
/*
 * cli.h - the command line.
 */
#ifndef CSPIPE_CLI_H
#define CSPIPE_CLI_H

/* Run the command line; returns the exit status. */
int cli_main(int argc, char **argv);

#endif
