/* SPDX-License-Identifier: MIT */
/*
 * stdin - the source that reads standard input.
 */
#include <stddef.h>

#include "core/fdio.h"
#include "core/stage.h"

struct stdin_conf {
	struct input_conf in;
};

static const struct option stdin_options[] = {
	INPUT_OPTIONS(struct stdin_conf),
	{ .name = NULL },
};

static int stdin_check(struct stage *st, struct diags *d)
{
	struct stdin_conf *c = st->conf;

	st->priv = c;   /* so that free runs and releases the columns */
	return input_check(st, &c->in, d);
}

static void stdin_free(struct stage *st)
{
	struct stdin_conf *c = st->conf;

	input_conf_free(&c->in);
}

static int stdin_run(struct stage *st, struct stage_io *io, struct err *e)
{
	struct stdin_conf *c = st->conf;
	struct input_opts o = input_opts_of(&c->in);

	return input_read(io, 0, "stdin", &o, e);
}

static struct input_conf *stdin_input(struct stage *st)
{
	return &((struct stdin_conf *)st->conf)->in;
}

const struct stage_kind kind_stdin = {
	.name = "stdin",
	.summary = "read records from standard input (the default source)",
	.role = ROLE_SOURCE,
	.flags = KIND_READS_BYTES,
	.input = stdin_input,
	.options = stdin_options,
	.conf_size = sizeof(struct stdin_conf),
	.shorthand = "format",
	.example = "- stdin: {format: nul}",
	.worker_mem = 192 * 1024,
	.check = stdin_check,
	.run = stdin_run,
	.free = stdin_free,
};
