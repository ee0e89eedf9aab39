/* SPDX-License-Identifier: MIT */
/*
 * stage.c - the helpers stage.h offers every kind that need no engine
 * (where an option was written, output ports, the outq, the reorder
 * window), lookups in a registry of kinds, and pipeline_find.
 */
#include "core/pipeline.h"
#include "core/stage.h"
#include "records/ack.h"
#include "csp/csp.h"

#include <stdlib.h>
#include <string.h>

struct pos stage_opt_pos(const struct stage *st, const char *name)
{
	struct pos none = { NULL, 0, 0 };
	const struct option *o;

	if (!st->kind || !st->opt_pos)
		return none;
	o = config_find(st->kind->options, name);
	return o ? st->opt_pos[o - st->kind->options] : none;
}

struct pos stage_pos(const struct stage *st)
{
	return st->kind_pos.file ? st->kind_pos : st->pos;
}

void stage_set_ports(struct stage *st, const char *const *names, size_t n)
{
	for (size_t i = 0; i < st->nports; i++)
		free(st->ports[i]);
	free(st->ports);
	st->ports = csp_calloc(n ? n : 1, sizeof *st->ports);
	for (size_t i = 0; i < n; i++)
		st->ports[i] = csp_strdup(names[i]);
	st->nports = n;
}


int outq_push(struct outq *q, struct batch *b)
{
	if (q->acks)
		ackset_add(&b->acks, q->acks);
	if (q->send) {
		int rc = q->send(q->arg, b);
		if (rc)
			q->stopped = rc;
		return rc;
	}
	b->next = NULL;
	if (q->tail)
		q->tail->next = b;
	else
		q->head = b;
	q->tail = b;
	q->n++;
	return 0;
}

int stage_window(const struct stage *st)
{
	return st->workers > 1 && st->ordered ? 2 * st->workers : 1;
}

const struct stage_kind *registry_find(const struct stage_registry *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->kinds[i]->name, name))
			return r->kinds[i];
	return NULL;
}

size_t registry_index(const struct stage_registry *r, const struct stage_kind *k)
{
	size_t i;

	for (i = 0; i < r->n && r->kinds[i] != k; i++)
		;
	return i;
}

struct stage *pipeline_find(const struct pipeline *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->stages[i]->name, name))
			return p->stages[i];
	return NULL;
}

/* A fresh output batch carrying in's provenance. */
static struct batch *batch_like(const struct batch *in)
{
	struct batch *o = batch_new((enum framing)in->framing, 0, 0);

	o->origin = in->origin;
	o->first_rec = in->first_rec;
	o->offset = in->offset;
	return o;
}

/*
 * Append a record to *o (see stage.h).  A full batch goes on first: new
 * batches keep the pooled size rather than grow.
 */
int outq_add(struct outq *q, struct batch **o, const struct batch *in, const void *p,
	     size_t len, uint32_t tag)
{
	struct batch *b = *o;

	if (b && b->n > 0 && (b->len + len + batch_term_len(b) > b->cap || b->n == b->rcap)) {
		*o = NULL;
		if (outq_push(q, b) != 0)
			return 1;
		b = NULL;
	}
	if (!b)
		b = *o = batch_like(in);
	batch_add(b, p, len, tag);
	return 0;
}

int outq_done(struct outq *q, struct batch **o, int stopped)
{
	struct batch *b = *o;

	*o = NULL;
	if (!b)
		return 0;
	if (stopped || b->n == 0) {
		batch_free(b);
		return 0;
	}
	return outq_push(q, b);
}
