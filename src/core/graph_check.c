/* SPDX-License-Identifier: MIT */
/*
 * graph_check.c - pass 4 of the pipeline loader: stages found by name,
 * every `from` resolved to a stage and port, and the graph checked
 * (cycles, a path from a source and to a sink for every stage, readers of
 * every branch), with the implicit stdout or -o sink added where the
 * pipeline ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "core/fdio.h"
#include "core/graph.h"
#include "core/graph_int.h"
#include "core/stage.h"
#include "pipeline/spec.h"

static void add_input(struct stage *st, struct stage *from, int port)
{
	st->inputs = csp_realloc(st->inputs, (st->ninputs + 1) * sizeof *st->inputs);
	st->input_ports = csp_realloc(st->input_ports, (st->ninputs + 1) * sizeof *st->input_ports);
	st->inputs[st->ninputs] = from;
	st->input_ports[st->ninputs++] = port;
}

/* Which port of `from` a reference "name" or "name.branch" means; -1 and a
 * diagnostic when the branch does not exist or one is needed. */
static int resolve_port(struct builder *b, const struct stage *from, const char *branch,
			struct pos at, const struct stage *reader)
{
	if (!branch) {
		if (from->nports == 0)
			return 0;
		diag_at(b->d, at, "%s has branches (%s%s); read one with from: %s.%s",
			 from->name, from->ports[0], from->nports > 1 ? ", ..." : "",
			 from->name, from->ports[0]);
		return -1;
	}
	for (size_t i = 0; i < from->nports; i++)
		if (!strcmp(from->ports[i], branch))
			return (int)i;
	if (from->nports == 0)
		diag_at(b->d, at, "%s has no branches (only route has)", from->name);
	else {
		const char *dym = did_you_mean(branch, (const char *const *)from->ports,
					       from->nports);
		diag_at(b->d, at, "%s has no branch '%s'%s%s%s", from->name, branch,
			 DYM_ARGS(dym));
	}
	(void)reader;
	return -1;
}


static int name_cmp(const void *a, const void *b)
{
	const struct name_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* Number the stages and sort their names, once the list is complete, so
 * that lookups and the duplicate check do not grow with the square of a
 * long pipeline. */
void graph_index_stages(struct builder *b)
{
	struct pipeline *p = b->p;

	free(b->names);
	b->names = csp_calloc(p->n + 1, sizeof *b->names);
	b->nnames = p->n;
	for (size_t i = 0; i < p->n; i++) {
		p->stages[i]->id = i;
		b->names[i] = (struct name_entry){ p->stages[i]->name, p->stages[i], i };
	}
	qsort(b->names, p->n, sizeof *b->names, name_cmp);
}

struct stage *graph_find_name(const struct builder *b, const char *name)
{
	size_t lo = 0, hi = b->nnames;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(b->names[mid].name, name);
		if (c == 0) {
			while (mid > 0 && !strcmp(b->names[mid - 1].name, name))
				mid--;
			return b->names[mid].st;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Count the readers of every (stage, port), after from is resolved. */
void graph_index_readers(struct builder *b)
{
	struct pipeline *p = b->p;
	size_t total = 0;

	free(b->readers);
	free(b->reader_base);
	b->reader_base = csp_calloc(p->n + 1, sizeof *b->reader_base);
	for (size_t i = 0; i < p->n; i++) {
		p->stages[i]->id = i;
		b->reader_base[i] = total;
		total += p->stages[i]->nports ? p->stages[i]->nports : 1;
	}
	b->readers = csp_calloc(total + 1, sizeof *b->readers);
	for (size_t i = 0; i < p->n; i++)
		for (size_t j = 0; j < p->stages[i]->ninputs; j++)
			b->readers[b->reader_base[p->stages[i]->inputs[j]->id] +
				   (size_t)p->stages[i]->input_ports[j]]++;
}

/* "did you mean" over the pipeline's stage names. */
static const char *suggest_stage(const struct pipeline *p, const char *name)
{
	const char **names = csp_calloc(p->n + 1, sizeof *names);
	const char *dym;

	for (size_t i = 0; i < p->n; i++)
		names[i] = p->stages[i]->name;
	dym = did_you_mean(name, names, p->n);
	free(names);
	return dym;
}

/* Resolve every stage's `from` (default: the stage listed before it). */
void graph_resolve_from(struct builder *b, struct stage *first_src)
{
	struct pipeline *p = b->p;
	struct stage *prev = first_src;

	for (size_t i = 0; i < p->n; i++) {
		struct stage *st = p->stages[i];

		if (st->implicit) {
			continue;
		}
		if (!st->kind) {
			prev = st;
			continue;
		}
		if (st->kind->role == ROLE_SOURCE) {
			if (st->nfrom) {
				diag_at(b->d, st->from_at[0], "%s is a source: it reads no input "
					 "('from' is not allowed)", st->name);
				b->errors++;
			}
			prev = st;
			continue;
		}
		if (st->nfrom == 0) {
			if (!prev) {
				b->errors++;
				prev = st;
				continue;
			}
			if (prev->kind && prev->kind->role == ROLE_SINK) {
				diag_at(b->d, st->pos, "%s would read from %s, which is a sink; "
					 "say where it reads with 'from'", st->name, prev->name);
				b->errors++;
			} else {
				int port = resolve_port(b, prev, NULL, st->pos, st);
				if (port >= 0)
					add_input(st, prev, port);
				else
					b->errors++;
			}
			prev = st;
			continue;
		}
		if (st->nfrom > MAX_INPUTS) {
			diag_at(b->d, st->from_at[MAX_INPUTS], "from: a stage reads at most %d "
				 "stages (merge them in steps)", MAX_INPUTS);
			b->errors++;
			continue;
		}
		for (size_t j = 0; j < st->nfrom; j++) {
			char *ref = csp_strdup(st->from[j]);
			char *dot = strchr(ref, '.');
			struct stage *from;
			if (dot)
				*dot++ = '\0';
			from = graph_find_name(b, ref);
			if (!from) {
				const char *dym = suggest_stage(p, ref);
				diag_at(b->d, st->from_at[j], "from: no stage named '%s'%s%s%s", ref,
					 DYM_ARGS(dym));
				b->errors++;
			} else if (from == st) {
				diag_at(b->d, st->from_at[j], "%s reads from itself", st->name);
				b->errors++;
			} else if (from->kind && from->kind->role == ROLE_SINK) {
				diag_at(b->d, st->from_at[j], "from: %s is a sink: it has no output",
					 from->name);
				b->errors++;
			} else {
				int port = resolve_port(b, from, dot, st->from_at[j], st);
				if (port >= 0) {
					for (size_t k = 0; k < st->ninputs; k++)
						if (st->inputs[k] == from && st->input_ports[k] == port) {
							diag_at(b->d, st->from_at[j], "from: %s is listed twice",
								 st->from[j]);
							b->errors++;
							port = -1;
							break;
						}
				}
				if (port >= 0)
					add_input(st, from, port);
				else
					b->errors++;
			}
			free(ref);
		}
		prev = st;
	}
}

/* Readers of (stage, port), from the table of graph_index_readers. */
static size_t count_readers(const struct builder *b, const struct stage *st, int port)
{
	return b->readers[b->reader_base[st->id] + (size_t)port];
}

/* Depth-first search for a cycle through inputs; reports the first. */
static int find_cycle(struct builder *b, struct stage *st, int *state, struct stage **path,
		      size_t depth)
{
	size_t idx = st->id;

	if (state[idx] == 2)
		return 0;
	if (state[idx] == 1) {
		struct buf msg = { 0 };
		size_t k = 0;
		while (path[k] != st)
			k++;
		/* The search walks against the flow (a stage to its inputs):
		 * in the order records flow, st is followed by the stages
		 * found after it, last first. */
		buf_printf(&msg, "cycle: %s", st->name);
		for (size_t j = depth; j-- > k + 1;)
			buf_printf(&msg, " -> %s", path[j]->name);
		buf_printf(&msg, " -> %s", st->name);
		diag_at(b->d, st->nfrom ? st->from_at[0] : st->pos, "%s", buf_cstr(&msg));
		buf_free(&msg);
		return 1;
	}
	state[idx] = 1;
	path[depth] = st;
	for (size_t i = 0; i < st->ninputs; i++)
		if (find_cycle(b, st->inputs[i], state, path, depth + 1))
			return 1;
	state[idx] = 2;
	return 0;
}

/*
 * A source read only by decompress stages must hand them the bytes as they
 * are: with gunzip left to auto, it does not decompress gzip itself.
 */
void graph_raw_for_decompress(struct pipeline *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct stage *src = p->stages[i];
		size_t readers = 0, decompressors = 0;

		if (!src->kind || !(src->kind->flags & KIND_READS_BYTES) || !src->kind->input)
			continue;
		for (size_t j = 0; j < p->n; j++)
			for (size_t k = 0; k < p->stages[j]->ninputs; k++)
				if (p->stages[j]->inputs[k] == src) {
					readers++;
					decompressors += p->stages[j]->kind->role == ROLE_TRANSFORM &&
							 (p->stages[j]->kind->flags & KIND_BYTES_IN);
				}
		struct input_conf *in = src->kind->input(src);
		if (readers && readers == decompressors && in->gunzip == GUNZIP_AUTO)
			in->gunzip = GUNZIP_NO;
	}
}

/*
 * Two stages that write one file would each replace (or cut back) the
 * other's output: with temporary files renamed over the target, one
 * branch's records would vanish with exit 0.  Refused, at the second.
 */
void graph_check_outputs(struct builder *b)
{
	struct pipeline *p = b->p;
	char **paths = csp_calloc(p->n + 1, sizeof *paths);

	for (size_t i = 0; i < p->n; i++) {
		struct stage *st = p->stages[i];
		if (!st->kind || !st->kind->writes || !(paths[i] = st->kind->writes(st)))
			continue;
		for (size_t j = 0; j < i; j++)
			if (paths[j] && !strcmp(paths[i], paths[j])) {
				struct pos at = stage_pos(p->stages[j]);
				diag_at(b->d, stage_pos(st), "'%s' writes the same file as '%s' "
					"(%d:%d): %s; one output would replace the other", st->name,
					p->stages[j]->name, at.line, at.col, paths[i]);
				b->errors++;
				break;
			}
	}
	for (size_t i = 0; i < p->n; i++)
		free(paths[i]);
	free(paths);
}

void graph_check(struct builder *b, const struct graph_opts *o)
{
	struct pipeline *p = b->p;
	size_t nsinks = 0;
	int *state = csp_calloc(p->n + 1, sizeof *state);
	struct stage **path = csp_calloc(p->n + 1, sizeof *path);

	for (size_t i = 0; i < p->n; i++) {
		if (find_cycle(b, p->stages[i], state, path, 0)) {
			b->errors++;
			goto out;
		}
	}
	for (size_t i = 0; i < p->n; i++)
		nsinks += p->stages[i]->kind && p->stages[i]->kind->role == ROLE_SINK;
	if (nsinks == 0) {
		/* Every stage whose output nobody reads feeds the implicit sink. */
		const char *kind = o->output ? graph_output_kind(o->output) : "stdout";
		struct stage *sink = graph_implicit_stage(b, kind, kind,
						    o->output ? graph_output_node(b->spec, o->output) : NULL);
		if (graph_find_name(b, sink->name)) {
			/* A stage of the file has the name already. */
			free(sink->name);
			sink->name = csp_strdup(o->output ? "file-output" : "stdout-output");
		}
		size_t n = p->n;
		for (size_t i = 0; i < n; i++) {
			struct stage *st = p->stages[i];
			if (!st->kind)
				continue;
			size_t nports = st->nports ? st->nports : 1;
			for (size_t port = 0; port < nports; port++)
				if (count_readers(b, st, (int)port) == 0)
					add_input(sink, st, (int)port);
		}
		graph_add_stage(p, sink);
	} else {
		for (size_t i = 0; i < p->n; i++) {
			struct stage *st = p->stages[i];
			if (!st->kind || st->kind->role == ROLE_SINK)
				continue;
			size_t nports = st->nports ? st->nports : 1;
			for (size_t port = 0; port < nports; port++) {
				if (count_readers(b, st, (int)port))
					continue;
				if (st->nports)
					diag_at(b->d, st->pos, "branch %s.%s has no path to a sink "
						 "(no stage reads it)", st->name, st->ports[port]);
				else
					diag_at(b->d, st->pos, "%s has no path to a sink (no stage "
						 "reads its output)", st->name);
				b->errors++;
			}
		}
	}
	for (size_t i = 0; i < p->n; i++) {
		struct stage *st = p->stages[i];
		if (!st->kind)
			continue;
		if (st->kind->role != ROLE_SOURCE && st->ninputs == 0 && st->nfrom == 0 &&
		    !st->implicit) {
			diag_at(b->d, st->pos, "%s has no path from a source", st->name);
			b->errors++;
		}
		for (size_t j = 0; j < st->ninputs; j++) {
			const struct stage *in = st->inputs[j];
			if (!in->kind || !(in->kind->flags & KIND_BYTES_OUT))
				continue;
			if (!(st->kind->flags & KIND_BYTES_IN))
				diag_at(b->d, st->nfrom ? st->from_at[0] : st->pos,
					 "%s reads the byte stream of %s (%s); only a sink or "
					 "decompress may follow it", st->name, in->name,
					 in->kind->name), b->errors++;
			else if (st->ninputs > 1)
				diag_at(b->d, st->nfrom ? st->from_at[0] : st->pos,
					 "%s mixes the byte stream of %s with other inputs",
					 st->name, in->name), b->errors++;
		}
	}
out:
	free(state);
	free(path);
}
