/* SPDX-License-Identifier: MIT */
/*
 * dot.h - the stage graph as Graphviz DOT, optionally with the figures of
 * a finished run (the JSON of `cspipe run --stats=json`).
 */
#ifndef CSPIPE_DOT_H
#define CSPIPE_DOT_H

#include <stdio.h>

struct pipeline;
struct stage_registry;
struct err;

/* Write p as DOT.  stats_file (may be NULL) is read for per-stage figures;
 * kinds names the kinds the run's figures may mention.  -1 with e set when
 * the file cannot be read or does not fit the pipeline. */
int dot_write(FILE *f, const struct pipeline *p, const struct stage_registry *kinds,
	      const char *stats_file, struct err *e);

#endif
