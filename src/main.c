/*
 * main.c - cspipe: Go's concurrency model for the Unix command line.
 */
#include "cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
