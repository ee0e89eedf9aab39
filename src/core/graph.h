/* SPDX-License-Identifier: MIT */
/*
 * graph.h - from a pipeline file's tree to validated stages and edges.
 *
 * pipeline_load reads the top-level keys, every stage's common keys and its
 * kind's options, adds the implicit stdin source and stdout sink, resolves
 * `from`, and checks the graph (unknown names, cycles, stages that reach
 * no sink, byte streams read by record stages).  Every error of the file is
 * reported in one run, positioned.  The command line's INPUT files, -o and
 * -s are applied to the tree first, so they are validated like the file.
 */
#ifndef CSPIPE_GRAPH_H
#define CSPIPE_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "core/pipeline.h"

struct spec;
struct node;
struct stage;
struct diags;

struct override {
	const char *stage;   /* NULL: a top-level key */
	const char *key;
	const char *value;   /* YAML text */
};

struct graph_opts {
	const struct stage_registry *kinds;  /* the kinds a stage may be (required) */
	const char *const *inputs;   /* INPUT files: replace the source */
	size_t ninputs;
	const char *output;          /* -o FILE: replaces the sink */
	const struct override *overrides;
	size_t noverrides;
	int64_t timeout;             /* -t: replaces the pipeline's timeout */
	int timeout_set;             /* -t was given (-t 0s: no deadline) */
};

/* Build the pipeline from spec (which must outlive it).  Returns NULL with
 * diagnostics when the file has errors. */
struct pipeline *pipeline_load(struct spec *spec, const struct graph_opts *o,
			       struct diags *d);
void pipeline_free(struct pipeline *p);

#endif
