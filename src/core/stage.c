/* SPDX-License-Identifier: MIT */
/*
 * stage.c - the helpers stage.h offers every kind that need no engine
 * (where an option was written, output ports, the outq, the reorder
 * window), lookups in a registry of kinds, and pipeline_find.
 */
#include "core/pipeline.h"
#include "core/stage.h"
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
