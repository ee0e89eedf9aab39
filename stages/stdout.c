/* SPDX-License-Identifier: MIT */
/*
 * stdout - the sink that writes standard output (the default sink).
 *
 * When the reader goes away (`| head -1`) the run stops quietly with exit
 * 0, as ripgrep does; any other write error names stdout and exits 1.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "core/fdio.h"
#include "core/stage.h"

static const struct option stdout_options[] = {
	{ .name = NULL },
};

static void *stdout_worker_new(struct stage *st, int index)
{
	struct writer *w = csp_calloc(1, sizeof *w);

	(void)index;
	writer_init(w, 1, "stdout", stage_ctx(st));
	return w;
}

static int stdout_process(struct worker *w, struct batch *in, struct outq *out, struct err *e)
{
	struct writer *wr = w->state;
	int rc;

	rc = writer_batch(wr, in, w->stats, e);
	batch_free(in);
	(void)out;
	return rc;
}

static int stdout_flush(struct worker *w, struct outq *out, struct err *e)
{
	(void)out;
	return writer_flush(w->state, e);
}

static void stdout_worker_free(struct stage *st, void *state)
{
	(void)st;
	writer_fini(state);
	free(state);
}

const struct stage_kind kind_stdout = {
	.name = "stdout",
	.summary = "write records to standard output (the default sink)",
	.role = ROLE_SINK,
	.flags = KIND_BYTES_IN,
	.options = stdout_options,
	.conf_size = 0,
	.example = "- stdout: {}",
	.worker_mem = 64 * 1024,
	.worker_new = stdout_worker_new,
	.process = stdout_process,
	.flush = stdout_flush,
	.worker_free = stdout_worker_free,
};
