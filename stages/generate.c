/* SPDX-License-Identifier: MIT */
/*
 * generate - a source for demos and load: records made from a template
 * with a counter.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "core/stage.h"
#include "records/template.h"

struct generate_conf {
	int64_t count;
	char *template;
	int64_t start;
};

static const struct option generate_options[] = {
	{ .name = "count", .type = OPT_INT, .offset = offsetof(struct generate_conf, count),
	  .def = "0", .min = 0, .max = INT64_MAX,
	  .doc = "how many records to make (0: until the run is stopped)" },
	{ .name = "template", .type = OPT_STRING, .offset = offsetof(struct generate_conf, template),
	  .def = "$n", .doc = "text of each record; $n is the counter, $$ a dollar sign" },
	{ .name = "start", .type = OPT_INT, .offset = offsetof(struct generate_conf, start),
	  .def = "1", .min = INT64_MIN, .max = INT64_MAX, .doc = "first value of the counter" },
	{ .name = NULL },
};

static int generate_check(struct stage *st, struct diags *d)
{
	struct generate_conf *c = st->conf;
	char msg[256];
	size_t off = 0;
	struct tmpl *t;

	if (c->count > 0 && c->start > 0 && c->count - 1 > INT64_MAX - c->start) {
		diag_at(d, stage_pos(st), "generate: the counter "
			 "would pass %" PRId64 " (start %" PRId64 ", count %" PRId64 ")",
			 INT64_MAX, c->start, c->count);
		return -1;
	}
	t = tmpl_compile(c->template, strlen(c->template), NULL, TMPL_COUNTER,
			 msg, sizeof msg, &off);

	if (!t) {
		struct pos at = stage_opt_pos(st, "template");
		diag_at(d, at.file ? at : st->pos, "generate: bad template: %s at offset %zu", msg, off);
		return -1;
	}
	st->priv = t;
	return 0;
}

static int generate_run(struct stage *st, struct stage_io *io, struct err *e)
{
	struct generate_conf *c = st->conf;
	struct tmpl *t = st->priv;
	struct ctx *ctx = io_ctx(io);
	uint64_t made = 0;

	while (c->count == 0 || made < (uint64_t)c->count) {
		struct batch *b = batch_new(FRAMING_LINES, 0, 0);
		if (ctx_err(ctx)) {
			batch_free(b);
			break;
		}
		b->origin = st->name;
		b->first_rec = made + 1;
		while (b->len < BATCH_DATA - 256 && b->n < BATCH_RECS &&
		       (c->count == 0 || made < (uint64_t)c->count)) {
			int64_t n;
			size_t need;

			if (made > (uint64_t)INT64_MAX ||
			    __builtin_add_overflow(c->start, (int64_t)made, &n)) {
				batch_free(b);
				err_set(e, "the counter would pass %" PRId64
					" after record %" PRIu64, INT64_MAX, made);
				return STAGE_ERROR;
			}
			need = tmpl_size(t, NULL, n);
			char *dst = batch_begin_rec(b, need);
			size_t len = tmpl_expand(t, dst, NULL, NULL, n);
			batch_end_rec(b, len, b->n);
			made++;
		}
		int r = io_send(io, b);
		if (r == CSP_CLOSED)
			return STAGE_STOP;
		if (r != CSP_OK)
			break;
	}
	return STAGE_OK;
}

static void generate_free(struct stage *st)
{
	tmpl_free(st->priv);
	st->priv = NULL;
}

const struct stage_kind kind_generate = {
	.name = "generate",
	.summary = "make records from a template with a counter (demos, load tests)",
	.role = ROLE_SOURCE,
	.options = generate_options,
	.conf_size = sizeof(struct generate_conf),
	.shorthand = "count",
	.example = "- generate: {count: 1000, template: 'line $n'}",
	.check = generate_check,
	.run = generate_run,
	.free = generate_free,
};
