/* SPDX-License-Identifier: MIT */
/*
 * registry.c - every stage kind, in the order `cspipe stages` lists them.
 * A new kind is one file in stages/ and one line here (and in configure.py).
 */
#include "core/stage.h"

extern const struct stage_kind kind_stdin, kind_files, kind_generate;
extern const struct stage_kind kind_filter, kind_map;
extern const struct stage_kind kind_compress, kind_decompress;
extern const struct stage_kind kind_merge;
extern const struct stage_kind kind_route;
extern const struct stage_kind kind_head;
extern const struct stage_kind kind_rate;
extern const struct stage_kind kind_exec;
extern const struct stage_kind kind_stdout, kind_file;
extern const struct stage_kind kind_nats_in, kind_nats_out;

static const struct stage_kind *const stage_kinds[] = {
	&kind_stdin,
	&kind_files,
	&kind_generate,
	&kind_nats_in,
	&kind_filter,
	&kind_map,
	&kind_compress,
	&kind_decompress,
	&kind_merge,
	&kind_route,
	&kind_head,
	&kind_rate,
	&kind_exec,
	&kind_stdout,
	&kind_file,
	&kind_nats_out,
	NULL,
};

const struct stage_registry stage_registry = {
	stage_kinds, sizeof stage_kinds / sizeof *stage_kinds - 1,
};
