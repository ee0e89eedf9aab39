/* SPDX-License-Identifier: MIT */
/*
 * head.c - the `head` stage: pass the first N records, then stop
 * everything upstream, as head(1) does to a pipe.
 *
 * Once N records have gone out the stage returns STAGE_STOP: the engine
 * abandons its input, the writers above get CSP_CLOSED on their next send
 * and stop in turn, up to the source, which stops reading.  So a huge
 * input is not read to its end.  Stopping is not an error: exit 0.
 */
#include <stdint.h>
#include <stdlib.h>

#include "csp/csp.h"
#include "core/stage.h"

struct head_conf {
	int64_t count;
};

static const struct option head_options[] = {
	{ .name = "count", .type = OPT_INT, .offset = offsetof(struct head_conf, count),
	  .def = "10", .min = 0, .max = INT64_MAX,
	  .doc = "how many records to pass (0: none)" },
	{ .name = NULL },
};

/* The one worker's state: records passed so far. */
static void *head_worker_new(struct stage *st, int index)
{
	(void)st;
	(void)index;
	return csp_calloc(1, sizeof(uint64_t));
}

static void head_worker_free(struct stage *st, void *state)
{
	(void)st;
	free(state);
}

/*
 * Pass b, or its first records up to the count (the record array is cut;
 * no byte moves), and count the rest as filtered.  Takes ownership of b.
 * Returns STAGE_STOP once the count has gone out (or the output is gone),
 * else STAGE_OK.  This can't fail.
 */
static int head_process(struct worker *w, struct batch *b, struct outq *out, struct err *e)
{
	const struct head_conf *c = w->stage->conf;
	uint64_t *passed = w->state;
	uint64_t left = (uint64_t)c->count - *passed;

	(void)e;
	if (b->n > left) {
		wstat_add(&w->stats->filtered, b->n - left);
		b->n = (uint32_t)left;
		b->records = left;
	}
	*passed += b->n;
	if (b->n == 0)
		batch_free(b);
	else if (outq_push(out, b) != 0)
		return STAGE_STOP;
	return *passed == (uint64_t)c->count ? STAGE_STOP : STAGE_OK;
}

const struct stage_kind kind_head = {
	.name = "head",
	.summary = "pass the first N records, then stop reading the input",
	.role = ROLE_TRANSFORM,
	.flags = KIND_ONE_WORKER | KIND_NO_SHARD,
	.options = head_options,
	.conf_size = sizeof(struct head_conf),
	.shorthand = "count",
	.example = "head: 10",
	.worker_new = head_worker_new,
	.worker_free = head_worker_free,
	.process = head_process,
};
