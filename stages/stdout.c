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

struct stdout_conf {
	struct output_conf out;
};

static const struct option stdout_options[] = {
	OUTPUT_OPTIONS(struct stdout_conf),
	{ .name = NULL },
};

static int stdout_check(struct stage *st, struct diags *d)
{
	struct stdout_conf *c = st->conf;

	st->priv = c;   /* so that free runs and releases the columns */
	return output_check(st, &c->out, d);
}

static void stdout_free(struct stage *st)
{
	struct stdout_conf *c = st->conf;

	output_conf_free(&c->out);
}

static void *stdout_worker_new(struct stage *st, int index)
{
	struct writer *w = csp_calloc(1, sizeof *w);

	(void)index;
	writer_init(w, 1, "stdout", stage_ctx(st));
	writer_set_codec(w, &((struct stdout_conf *)st->conf)->out);
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
	.conf_size = sizeof(struct stdout_conf),
	.shorthand = "codec",
	.example = "- stdout: {codec: csv, columns: [.LineId, .Level]}",
	.worker_mem = 64 * 1024,
	.check = stdout_check,
	.free = stdout_free,
	.worker_new = stdout_worker_new,
	.process = stdout_process,
	.flush = stdout_flush,
	.worker_free = stdout_worker_free,
};
