/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pipeline - what `cspipe validate` runs on an untrusted file: the
 * YAML reader, the pipeline loader and every stage kind's real options
 * and checks (patterns, templates, where: expressions, durations, sizes).
 * Nothing is started.  A load that fails must say why.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/engine.h"
#include "core/graph.h"
#include "core/stage.h"
#include "pipeline/spec.h"
#include "base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diags d = { 0 };
	struct graph_opts go = { .kinds = &stage_registry };
	struct spec *s = spec_load_string("fuzz.yaml", (const char *)data, size, &d);
	struct pipeline *p = s ? pipeline_load(s, &go, &d) : NULL;

	if (!p && d.n == 0)
		abort();   /* a refused file always says why */
	if (p)
		(void)engine_memory_bound(p);
	pipeline_free(p);
	spec_free(s);
	diags_free(&d);
	return 0;
}
