/* SPDX-License-Identifier: MIT */
/*
 * route.c - the `route` stage: send each record to the first branch whose
 * pattern matches it.
 *
 *   route:
 *     cases: {errors: 'ERROR|FATAL', warnings: 'WARN'}
 *     default: rest
 *
 * Each case is an output port named after it, in the order the file lists
 * them, then the default's port when it names no case.  Downstream stages
 * read a branch with `from: ROUTE.NAME`.  A record no case matches goes to
 * the default branch, or without one is filtered out.
 *
 * A batch is split into one batch per port.  The port that gets the most
 * records keeps the input batch itself (its record array compacted, no
 * byte moved, as filter does); the others get copies.  So a route that
 * sends most records one way copies little.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "records/jpath.h"
#include "records/pattern.h"
#include "core/stage.h"

/* b->port is one byte. */
#define MAX_PORTS 255
#define NO_PORT 0xffffu

struct route_case {
	char *name;
	char *pattern;
	struct pos name_at, pattern_at;  /* where written; valid in check only */
};

struct route_cases {
	struct route_case *v;
	size_t n;
};

struct route_conf {
	struct route_cases *cases;
	char *def;
	int ignore_case;
	char *field;
};

static void cases_free(void *dst)
{
	struct route_cases *c = *(struct route_cases **)dst;

	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].name);
		free(c->v[i].pattern);
	}
	free(c->v);
	free(c);
	*(struct route_cases **)dst = NULL;
}

/* A branch name is a stage name's characters: a letter or '_', then
 * letters, digits, '_' and '-' (no '.', which `from` uses). */
static int valid_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

/*
 * Parse `cases: {NAME: PATTERN, ...}` in the file's order into a struct
 * route_cases at dst.  Names must be valid branch names; patterns strings.
 * The patterns are compiled in check, once ignore_case is known.  Returns
 * 0, or -1 after diagnostics (every bad entry is reported).
 */
static int cases_parse(const struct optval *v, void *dst, struct diags *d)
{
	struct route_cases *c;
	size_t n = optval_count(v);
	int bad = 0;

	if (optval_type(v) != OPTVAL_TABLE) {
		diag_at(d, optval_pos(v), "cases: expected a mapping of branch names to "
			"patterns (e.g. {errors: 'ERROR|FATAL'}), got %s",
			optval_is_null(v) ? "nothing" : optval_type(v) == OPTVAL_SCALAR ?
			"a string" : "a list");
		return -1;
	}
	if (n == 0) {
		diag_at(d, optval_pos(v), "cases: give at least one branch (e.g. {errors: "
			"'ERROR|FATAL'})");
		return -1;
	}
	if (n > MAX_PORTS) {
		diag_at(d, optval_pos(v), "cases: too many branches (%zu; at most %d)", n,
			MAX_PORTS);
		return -1;
	}
	c = csp_calloc(1, sizeof *c);
	c->v = csp_calloc(n, sizeof *c->v);
	for (size_t i = 0; i < n; i++) {
		const struct optval *k = optval_key(v, i), *p = optval_value(v, i);
		const char *name = optval_str(k, NULL), *pat;
		size_t len;

		if (!valid_name(name)) {
			diag_at(d, optval_pos(k), "cases: invalid branch name '%s' (use "
				"letters, digits, '_' and '-', starting with a letter or '_')",
				name);
			bad = 1;
			continue;
		}
		if (optval_type(p) != OPTVAL_SCALAR || optval_is_null(p)) {
			diag_at(d, optval_pos(p), "cases: %s: expected a pattern, got %s", name,
				optval_type(p) == OPTVAL_SCALAR ? "nothing" :
				optval_type(p) == OPTVAL_LIST ? "a list" : "a mapping");
			bad = 1;
			continue;
		}
		pat = optval_str(p, &len);
		if (strlen(pat) != len) {
			diag_at(d, optval_pos(p), "cases: %s: a pattern cannot hold a NUL byte "
				"(write \\x00)", name);
			bad = 1;
			continue;
		}
		c->v[c->n].name = csp_strdup(name);
		c->v[c->n].pattern = csp_strdup(pat);
		c->v[c->n].name_at = optval_pos(k);
		c->v[c->n].pattern_at = optval_pos(p);
		c->n++;
	}
	*(struct route_cases **)dst = c;
	if (bad) {
		cases_free(dst);
		return -1;
	}
	return 0;
}

static const struct option route_options[] = {
	{ .name = "cases", .type = OPT_CUSTOM, .offset = offsetof(struct route_conf, cases),
	  .parse = cases_parse, .free = cases_free, .type_name = "{NAME: PATTERN, ...}",
	  .doc = "branches in order: a record goes to the first whose pattern matches",
	  .flags = OPT_REQUIRED },
	{ .name = "default", .type = OPT_STRING, .offset = offsetof(struct route_conf, def),
	  .doc = "branch for records no case matches (none: they are filtered out)" },
	{ .name = "ignore_case", .type = OPT_BOOL,
	  .offset = offsetof(struct route_conf, ignore_case), .def = "false",
	  .doc = "match ASCII letters regardless of case" },
	{ .name = "field", .type = OPT_STRING, .offset = offsetof(struct route_conf, field),
	  .doc = "match every case against this field's text (a path such as .Level)" },
	{ .name = NULL },
};

/* What check makes: a pattern per case, and the default's port. */
struct route_state {
	struct pattern **pats;
	size_t n;
	unsigned def_port;     /* NO_PORT: none */
	struct jpath field;
	int by_field;
};

static void route_free(struct stage *st)
{
	struct route_state *rs = st->priv;

	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++)
		pattern_free(rs->pats[i]);
	free(rs->pats);
	jpath_free(&rs->field);
	free(rs);
	st->priv = NULL;
}

/*
 * Compile every case's pattern (a bad one is reported at its position)
 * and name the ports: the cases in order, then the default when it names
 * none of them.  Returns 0, or -1 after diagnostics.
 */
static int route_check(struct stage *st, struct diags *d)
{
	const struct route_conf *c = st->conf;
	struct pos def_at = stage_opt_pos(st, "default");
	struct route_state *rs;
	const char **names;
	size_t nports;
	int bad = 0;

	if (!c->cases)
		return -1;   /* reported by the loader */
	route_free(st);
	rs = csp_calloc(1, sizeof *rs);
	rs->pats = csp_calloc(c->cases->n, sizeof *rs->pats);
	rs->n = c->cases->n;
	rs->def_port = NO_PORT;
	st->priv = rs;
	if (c->field) {
		char msg[128];
		size_t at = 0;
		if (field_path(&rs->field, c->field, msg, sizeof msg, &at)) {
			struct pos fp = stage_opt_pos(st, "field");
			diag_at(d, fp.file ? fp : stage_pos(st),
				"field: bad path '%s': %s at column %zu", c->field, msg, at + 1);
			bad = 1;
		}
		rs->by_field = 1;
	}
	for (size_t i = 0; i < rs->n; i++) {
		const struct route_case *rc = &c->cases->v[i];
		char msg[256];
		size_t off = 0;

		rs->pats[i] = pattern_compile(rc->pattern, strlen(rc->pattern),
					      c->ignore_case ? PAT_ICASE : 0, msg, sizeof msg,
					      &off);
		if (!rs->pats[i]) {
			diag_at(d, rc->pattern_at, "cases: %s: bad pattern: %s at offset %zu",
				 rc->name, msg, off);
			bad = 1;
		}
	}
	nports = rs->n;
	if (c->def) {
		if (!valid_name(c->def)) {
			diag_at(d, def_at, "default: invalid branch name '%s' (use letters, "
				 "digits, '_' and '-', starting with a letter or '_')", c->def);
			bad = 1;
		}
		for (size_t i = 0; i < rs->n; i++)
			if (!strcmp(c->cases->v[i].name, c->def))
				rs->def_port = (unsigned)i;
		if (rs->def_port == NO_PORT) {
			if (nports == MAX_PORTS) {
				diag_at(d, def_at, "default: too many branches (at most %d)",
					 MAX_PORTS);
				bad = 1;
			}
			rs->def_port = (unsigned)nports++;
		}
	}
	if (bad)
		return -1;
	names = csp_calloc(nports, sizeof *names);
	for (size_t i = 0; i < rs->n; i++)
		names[i] = c->cases->v[i].name;
	if (nports > rs->n)
		names[rs->n] = c->def;
	stage_set_ports(st, names, nports);
	free(names);
	return 0;
}

/* A worker's match data per pattern and its scratch arrays. */
struct route_worker {
	struct pattern_match **m;
	struct field_reader *fr;   /* with field */
	uint16_t *port;        /* per record of the batch in hand */
	size_t cap;
	uint32_t count[MAX_PORTS + 1];
};

static void *route_worker_new(struct stage *st, int index)
{
	const struct route_state *rs = st->priv;
	struct route_worker *rw = csp_calloc(1, sizeof *rw);

	rw->m = csp_calloc(rs->n, sizeof *rw->m);
	for (size_t i = 0; i < rs->n; i++)
		rw->m[i] = pattern_match_new(rs->pats[i]);
	if (rs->by_field)
		rw->fr = field_reader_new();
	(void)index;
	return rw;
}

static void route_worker_free(struct stage *st, void *state)
{
	const struct route_state *rs = st->priv;
	struct route_worker *rw = state;

	if (!rw)
		return;
	for (size_t i = 0; i < rs->n; i++)
		pattern_match_free(rw->m[i]);
	free(rw->m);
	field_reader_free(rw->fr);
	free(rw->port);
	free(rw);
}

/* The port of record s[0..len): the first case that matches, else the
 * default's, else NO_PORT.  On a pattern error returns -1 with *which set
 * to the case. */
static int classify(const struct route_state *rs, struct route_worker *rw, const char *s,
		    size_t len, size_t *which)
{
	for (size_t i = 0; i < rs->n; i++) {
		const struct pattern *p = rs->pats[i];
		int scan = pattern_scan_kind(p), r;

		if (scan != PAT_SCAN_NONE && !pattern_scan(p, s, len))
			continue;
		r = scan == PAT_SCAN_EXACT ? 1 : pattern_exec(p, rw->m[i], s, len, 0);
		if (r < 0) {
			*which = i;
			return -1;
		}
		if (r)
			return (int)i;
	}
	return (int)rs->def_port;
}

/*
 * Split batch b by port and push one batch per port that has records, in
 * port order.  Takes ownership of b.  Records no branch takes are counted
 * as filtered.  Returns STAGE_OK, STAGE_STOP when the output is gone, or
 * STAGE_ERROR after err_set (a pattern hit its match limit).
 */
static int route_process(struct worker *w, struct batch *b, struct outq *out, struct err *e)
{
	const struct route_state *rs = w->stage->priv;
	const struct route_conf *c = w->stage->conf;
	struct route_worker *rw = w->state;
	size_t nports = w->stage->nports, keep = 0;
	struct batch *outs[MAX_PORTS + 1] = { 0 };
	uint32_t kept = 0;
	uint64_t filtered = 0;
	int rc = STAGE_OK;

	if (b->n > rw->cap) {
		rw->port = csp_realloc(rw->port, b->n * sizeof *rw->port);
		rw->cap = b->n;
	}
	memset(rw->count, 0, (nports + 1) * sizeof *rw->count);
	for (uint32_t i = 0; i < b->n; i++) {
		size_t which = 0;
		const char *s = rec_ptr(b, i);
		size_t len = b->recs[i].len;
		int p, missing = 0;

		if (rs->by_field) {
			int f = field_read(rw->fr, &rs->field, s, len,
					   b->cap - b->recs[i].off - len, &s, &len);
			if (f < 0) {
				err_set(e, "%s: record %" PRIu64 ": not JSON (%s), so its field "
					"%s cannot be read", b->origin ? b->origin : "input",
					b->first_rec ? b->first_rec + b->recs[i].tag
					: (uint64_t)i + 1, field_reader_error(rw->fr),
					rs->field.text);
				batch_free(b);
				return STAGE_ERROR;
			}
			/* A missing or null field matches no case. */
			missing = f == 0;
		}
		p = missing ? (int)rs->def_port : classify(rs, rw, s, len, &which);
		if (p < 0) {
			err_set(e, "%s: record %" PRIu64 ": case '%s': %s",
				b->origin ? b->origin : "input",
				b->first_rec ? b->first_rec + b->recs[i].tag : (uint64_t)i + 1,
				c->cases->v[which].name, pattern_errtext(rw->m[which]));
			batch_free(b);
			return STAGE_ERROR;
		}
		rw->port[i] = (uint16_t)p;
		if (p == NO_PORT)
			filtered++;
		else
			rw->count[p]++;
	}
	wstat_add(&w->stats->filtered, filtered);
	for (size_t p = 1; p < nports; p++)
		if (rw->count[p] > rw->count[keep])
			keep = p;
	/* Copies first: compacting b rewrites the record array they read. */
	for (size_t p = 0; p < nports; p++) {
		if (p == keep || rw->count[p] == 0)
			continue;
		outs[p] = batch_new((enum framing)b->framing, 0, rw->count[p]);
		outs[p]->origin = b->origin;
		outs[p]->first_rec = b->first_rec;
		outs[p]->offset = b->offset;
		outs[p]->port = (uint8_t)p;
	}
	for (uint32_t i = 0; i < b->n; i++) {
		unsigned p = rw->port[i];
		if (p == NO_PORT)
			continue;
		if (p == keep)
			b->recs[kept++] = b->recs[i];
		else
			batch_add(outs[p], rec_ptr(b, i), b->recs[i].len, b->recs[i].tag);
	}
	b->n = kept;
	b->records = kept;
	b->port = (uint8_t)keep;
	if (kept)
		outs[keep] = b;
	else
		batch_free(b);
	for (size_t p = 0; p < nports; p++) {
		if (!outs[p])
			continue;
		if (rc != STAGE_OK) {
			/* The stage stops: what it could not send stops here. */
			wstat_add(out->stopped == CSP_CLOSED ? &w->stats->filtered
				  : &w->stats->dropped, outs[p]->records);
			batch_free(outs[p]);
		} else if (outq_push(out, outs[p]) != 0) {
			rc = STAGE_STOP;
		}
	}
	return rc;
}

const struct stage_kind kind_route = {
	.name = "route",
	.summary = "send each record to the first branch whose pattern matches it",
	.role = ROLE_TRANSFORM,
	.flags = 0,
	.options = route_options,
	.conf_size = sizeof(struct route_conf),
	.example = "route: {cases: {errors: 'ERROR|FATAL'}, default: rest}",
	.worker_mem = 256 * 1024,
	.check = route_check,
	.worker_new = route_worker_new,
	.worker_free = route_worker_free,
	.process = route_process,
	.free = route_free,
};
