/* SPDX-License-Identifier: MIT */
/*
 * merge.c - the `merge` stage: several inputs into one stream.
 *
 *   interleave  batches as they arrive, from whichever input is ready
 *               (the runtime's select is fair, so none starves); passed
 *               through as they are.
 *   concat      all of the first input, then all of the second, ... in
 *               `from` order; passed through as they are.
 *   sorted      a k-way merge of inputs each sorted by a key: the output
 *               is what `LC_ALL=C sort -s -m` writes for the same inputs
 *               (see merge_cmp in merge_sorted.c for the mapping of the key to sort's
 *               options).  Records are copied into new batches.
 *
 * Inputs that share an upstream stage (two branches of one route, two
 * readers of one source) cannot be read one at a time with bounded
 * channels: while merge waits for the first, the shared stage blocks on
 * the second's full channel and never feeds the first.  For such inputs
 * concat and sorted take what the others offer while they wait and keep
 * it in memory (how much depends on how far apart the inputs run); inputs
 * with no stage in common are read strictly one at a time, in bounded
 * memory.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "records/pattern.h"
#include "core/stage.h"
#include "merge_int.h"

static const char *const mode_names[] = { "interleave", "concat", "sorted", NULL };
static const char *const unsorted_names[] = { "fail", "warn", NULL };

/* ---- the key option ------------------------------------------------ */

/* What the key mapping loads into before it is checked. */
struct key_field {
	int64_t n;              /* a field number */
	struct jpath *path;     /* or a path */
};

struct key_conf {
	struct key_field field;
	int delimiter;
	char *pattern;
	int numeric;
	int reverse;
};

static void key_field_free(void *dst)
{
	struct key_field *f = dst;

	if (f->path)
		jpath_free(f->path);
	free(f->path);
	memset(f, 0, sizeof *f);
}

/* OPT_CUSTOM parse for key's field: a number (sort -k N), or a path to a
 * structured record's field (.LineId). */
static int key_field_parse(const struct optval *v, void *dst, struct diags *d)
{
	struct key_field *f = dst;
	const char *why = NULL, *s = optval_type(v) == OPTVAL_SCALAR ? optval_str(v, NULL) : "";
	char msg[128];
	size_t at = 0;

	memset(f, 0, sizeof *f);
	if (optval_type(v) == OPTVAL_SCALAR && !optval_is_null(v) && s[0] == '.') {
		f->path = csp_calloc(1, sizeof *f->path);
		if (field_path(f->path, s, msg, sizeof msg, &at)) {
			diag_at(d, optval_pos(v), "key: field: bad path '%s': %s at column %zu", s,
				msg, at + 1);
			key_field_free(f);
			return -1;
		}
		return 0;
	}
	if (optval_type(v) != OPTVAL_SCALAR || optval_is_null(v) || parse_int(s, &f->n, &why) ||
	    f->n < 0 || f->n > 1000000) {
		diag_at(d, optval_pos(v), "key: field: expected a field number (0 to 1000000) "
			"or a path such as .LineId, got %s%s%s",
			optval_type(v) == OPTVAL_SCALAR ? "'" : "",
			optval_type(v) == OPTVAL_SCALAR ? s : optval_type_name(v),
			optval_type(v) == OPTVAL_SCALAR ? "'" : "");
		return -1;
	}
	return 0;
}

static const struct option key_options[] = {
	{ .name = "field", .type = OPT_CUSTOM, .offset = offsetof(struct key_conf, field),
	  .parse = key_field_parse, .free = key_field_free,
	  .type_name = "field number or path",
	  .doc = "1-based field number (0: not by field), or a path such as .LineId" },
	{ .name = "delimiter", .type = OPT_CHAR, .offset = offsetof(struct key_conf, delimiter),
	  .doc = "field separator (default: runs of blanks)" },
	{ .name = "pattern", .type = OPT_STRING, .offset = offsetof(struct key_conf, pattern),
	  .doc = "the key is the first capture group of this pattern" },
	{ .name = "numeric", .type = OPT_BOOL, .offset = offsetof(struct key_conf, numeric),
	  .def = "false", .doc = "compare as numbers (sort -n)" },
	{ .name = "reverse", .type = OPT_BOOL, .offset = offsetof(struct key_conf, reverse),
	  .def = "false", .doc = "descending order (sort -r)" },
	{ .name = NULL },
};

static void key_free(void *dst)
{
	struct merge_key *k = *(struct merge_key **)dst;

	if (!k)
		return;
	free(k->pattern);
	pattern_free(k->re);
	if (k->path)
		jpath_free(k->path);
	free(k->path);
	free(k);
	*(struct merge_key **)dst = NULL;
}

/*
 * Parse `key: {field: N, delimiter: D, pattern: P, numeric: B, reverse: B}`
 * into a struct merge_key (stored at dst).  field and pattern exclude each
 * other; delimiter goes with field.  The pattern is compiled here so that a
 * bad one is reported at its position.  Returns 0, or -1 after diagnostics.
 */
static int key_parse(const struct optval *v, void *dst, struct diags *d)
{
	struct key_conf kc = { 0 };
	struct merge_key *k = NULL;
	const struct optval *del, *pat;
	int rc = -1;

	if (optval_type(v) != OPTVAL_TABLE) {
		diag_at(d, optval_pos(v), "key: expected a mapping (e.g. {field: 2, "
			"numeric: true}), got %s", optval_is_null(v) ? "nothing" :
			optval_type(v) == OPTVAL_SCALAR ? "a string" : "a list");
		return -1;
	}
	if (config_load_table(key_options, &kc, v, "key", NULL, d))
		goto out;
	del = optval_get(v, "delimiter");
	pat = optval_get(v, "pattern");
	if ((kc.field.n || kc.field.path) && pat) {
		diag_at(d, optval_pos(pat), "key: give either field or pattern, not both");
		goto out;
	}
	if (del && !kc.field.n) {
		diag_at(d, optval_pos(del), "key: delimiter goes with field");
		goto out;
	}
	k = csp_calloc(1, sizeof *k);
	k->field = kc.field.n;
	k->path = kc.field.path;
	kc.field.path = NULL;
	k->delimiter = kc.delimiter;
	k->has_delim = del != NULL;
	k->numeric = kc.numeric;
	k->reverse = kc.reverse;
	if (pat) {
		char msg[256];
		size_t off = 0;
		k->re = pattern_compile(kc.pattern, strlen(kc.pattern), 0, msg, sizeof msg, &off);
		if (!k->re) {
			diag_at(d, optval_pos(pat), "key: bad pattern: %s at offset %zu", msg, off);
			goto out;
		}
		k->pattern = kc.pattern;
		kc.pattern = NULL;
	}
	*(struct merge_key **)dst = k;
	k = NULL;
	rc = 0;
out:
	key_free(&k);
	config_free(key_options, &kc);
	return rc;
}

static const struct option merge_options[] = {
	{ .name = "mode", .type = OPT_ENUM, .offset = offsetof(struct merge_conf, mode),
	  .def = "interleave", .choices = mode_names,
	  .doc = "interleave (as batches come), concat (input after input) or sorted" },
	{ .name = "key", .type = OPT_CUSTOM, .offset = offsetof(struct merge_conf, key),
	  .parse = key_parse, .free = key_free,
	  .type_name = "{field: N, delimiter: D, pattern: P, numeric: B, reverse: B}",
	  .doc = "what sorted compares (default: the whole record, bytewise)" },
	{ .name = "on_unsorted", .type = OPT_ENUM, .offset = offsetof(struct merge_conf, on_unsorted),
	  .def = "fail", .choices = unsorted_names,
	  .doc = "an input out of order in sorted mode: fail the run, or warn once and go on" },
	{ .name = NULL },
};

/* key and on_unsorted mean something only to sorted. */
static int merge_check(struct stage *st, struct diags *d)
{
	const struct merge_conf *c = st->conf;
	static const char *const sorted_only[] = { "key", "on_unsorted" };
	int rc = 0;

	if (c->mode == MODE_SORTED)
		return 0;
	for (size_t i = 0; i < 2; i++) {
		struct pos at = stage_opt_pos(st, sorted_only[i]);
		if (at.file) {
			diag_at(d, at, "%s: only for mode: sorted (this merge is %s)",
				 sorted_only[i], mode_names[c->mode]);
			rc = -1;
		}
	}
	return rc;
}

/* ---- start: which inputs share an upstream stage -------------------- */

/* Add st and every stage above it to the set (a list; graphs are small). */
static void ancestors(struct stage *st, struct stage ***set, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		if ((*set)[i] == st)
			return;
	*set = csp_realloc(*set, (*n + 1) * sizeof **set);
	(*set)[(*n)++] = st;
	for (size_t i = 0; i < st->ninputs; i++)
		ancestors(st->inputs[i], set, n);
}

/* Mark in coupled[] the inputs that share an upstream stage (including
 * each other: two branches of one route); returns how many are. */
static size_t couple(const struct stage *st, int *coupled)
{
	struct stage ***sets = csp_calloc(st->ninputs + 1, sizeof *sets);
	size_t *ns = csp_calloc(st->ninputs + 1, sizeof *ns);
	size_t n = 0;

	for (size_t i = 0; i < st->ninputs; i++)
		ancestors(st->inputs[i], &sets[i], &ns[i]);
	for (size_t i = 0; i < st->ninputs; i++)
		for (size_t j = i + 1; j < st->ninputs; j++)
			for (size_t a = 0; a < ns[i]; a++)
				for (size_t b = 0; b < ns[j]; b++)
					if (sets[i][a] == sets[j][b])
						coupled[i] = coupled[j] = 1;
	for (size_t i = 0; i < st->ninputs; i++) {
		n += coupled[i] != 0;
		free(sets[i]);
	}
	free(sets);
	free(ns);
	return n;
}

/* This can't fail. */
static int merge_start(struct stage *st, struct err *e)
{
	struct merge_state *ms = csp_calloc(1, sizeof *ms);

	ms->coupled = csp_calloc(st->ninputs + 1, sizeof *ms->coupled);
	couple(st, ms->coupled);
	st->priv = ms;
	(void)e;
	return 0;
}

/* concat and sorted wait for one input at a time: what coupled inputs
 * send meanwhile is queued, as much as the distance between them. */
static const char *merge_unbounded(const struct stage *st)
{
	const struct merge_conf *c = st->conf;
	int *coupled;
	size_t n;

	if (c->mode == MODE_INTERLEAVE)
		return NULL;
	coupled = csp_calloc(st->ninputs + 1, sizeof *coupled);
	n = couple(st, coupled);
	free(coupled);
	return n ? "its inputs share an upstream stage, so it keeps in memory what one "
		"sends while it waits for another (see merge in cspipe-pipeline(5))" : NULL;
}

static void merge_free(struct stage *st)
{
	struct merge_state *ms = st->priv;

	if (ms)
		free(ms->coupled);
	free(ms);
	st->priv = NULL;
}

/* ---- reading the inputs -------------------------------------------- */

/* The name of input i as `from` wrote it ("route.errors"). */
const char *merge_input_name(const struct stage *st, size_t i)
{
	if (st->nfrom == st->ninputs)
		return st->from[i];
	return st->inputs[i]->name;
}

void merge_taken(struct merger *mg, const struct batch *b)
{
	mg->taken += b->records;
	wstat_add(&mg->ws->rec_in, b->records);
	wstat_add(&mg->ws->bytes_in, batch_bytes(b));
}

static void enqueue(struct input *in, struct batch *b)
{
	b->next = NULL;
	if (!in->queue)
		in->qtail = &in->queue;
	*in->qtail = b;
	in->qtail = &b->next;
}

/* Add input i, received into *b, as case *n of mg's select. */
static void merge_case(struct merger *mg, size_t *n, size_t i, struct batch **b)
{
	mg->cases[*n] = (struct sel_case){ io_input(mg->io, i), SEL_RECV, b, 0 };
	mg->idx[(*n)++] = i;
}

/*
 * Wait on the n cases merge_case listed; *from is the input that answered.
 * Returns 1 with its batch in *b (counted as taken), 0 when that input has
 * ended (marked closed), or the context's error.
 */
static int merge_select(struct merger *mg, size_t n, struct batch **b, size_t *from)
{
	int r = io_select(mg->io, mg->cases, (int)n);

	if (r < 0)
		return r;
	*from = mg->idx[r];
	if (mg->cases[r].result == CSP_CLOSED) {
		mg->in[*from].closed = 1;
		return 0;
	}
	merge_taken(mg, *b);
	return 1;
}

/*
 * The next batch of input i (empty ones skipped): CSP_OK with *out set,
 * CSP_CLOSED at its end, or the context's error.  A coupled input waits in
 * a select that also takes the other coupled inputs' batches into their
 * queues, so that a shared upstream stage never blocks for good.
 */
int merge_next_batch(struct merger *mg, size_t i, struct batch **out)
{
	struct input *in = &mg->in[i];

	for (;;) {
		struct batch *b = NULL;
		size_t n = 0;
		int r;

		if (in->queue) {
			b = in->queue;
			in->queue = b->next;
			b->next = NULL;
		} else if (in->closed) {
			return CSP_CLOSED;
		} else if (!mg->ms->coupled[i]) {
			size_t from;

			merge_case(mg, &n, i, &b);
			r = merge_select(mg, n, &b, &from);
			if (r <= 0)
				return r < 0 ? r : CSP_CLOSED;
		} else {
			size_t from;

			merge_case(mg, &n, i, &b);
			for (size_t j = 0; j < mg->n; j++)
				if (j != i && mg->ms->coupled[j] && !mg->in[j].closed)
					merge_case(mg, &n, j, &b);
			r = merge_select(mg, n, &b, &from);
			if (r <= 0) {
				if (r < 0)
					return r;
				continue;
			}
			if (from != i) {
				enqueue(&mg->in[from], b);
				continue;
			}
		}
		if (b->n == 0) {
			batch_free(b);
			continue;
		}
		*out = b;
		return CSP_OK;
	}
}

/* Hand b on.  Returns CSP_OK, M_GONE when every reader has gone, or the
 * context's error. */
int merge_give(struct merger *mg, struct batch *b)
{
	int r;

	mg->given += b->records;
	b->port = 0;
	r = io_send(mg->io, b);
	return r == CSP_CLOSED ? M_GONE : r;
}

/* ---- interleave and concat ----------------------------------------- */

static int run_interleave(struct merger *mg)
{
	for (;;) {
		struct batch *b = NULL;
		size_t n = 0;
		int r;

		size_t from;

		for (size_t i = 0; i < mg->n; i++)
			if (!mg->in[i].closed)
				merge_case(mg, &n, i, &b);
		if (n == 0)
			return M_END;
		r = merge_select(mg, n, &b, &from);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		if (b->n == 0) {
			batch_free(b);
			continue;
		}
		r = merge_give(mg, b);
		if (r != CSP_OK)
			return r;
	}
}

static int run_concat(struct merger *mg)
{
	for (size_t i = 0; i < mg->n; i++) {
		struct batch *b;
		int r;

		while ((r = merge_next_batch(mg, i, &b)) == CSP_OK) {
			r = merge_give(mg, b);
			if (r != CSP_OK)
				return r;
		}
		if (r != CSP_CLOSED)
			return r;
	}
	return M_END;
}

/* ---- the stage ------------------------------------------------------- */

/*
 * Read every input and write one stream, per mode.  Returns STAGE_OK at
 * the end of every input or after a cancellation, STAGE_STOP when every
 * reader has gone, STAGE_ERROR after err_set (an input out of order with
 * on_unsorted: fail, a key pattern's error).  Records taken in and not
 * handed on (held when the run stopped) are counted: filtered when the
 * stage stopped on purpose (its readers gone), dropped on an abort.
 */
static int merge_run(struct stage *st, struct stage_io *io, struct err *e)
{
	struct merger mg = { 0 };
	int r, rc;

	mg.st = st;
	mg.c = st->conf;
	mg.ms = st->priv;
	mg.io = io;
	mg.ctx = io_ctx(io);
	mg.ws = io_stats(io);
	mg.n = io_ninputs(io);
	mg.in = csp_calloc(mg.n + 1, sizeof *mg.in);
	mg.cases = csp_calloc(mg.n + 1, sizeof *mg.cases);
	mg.idx = csp_calloc(mg.n + 1, sizeof *mg.idx);
	if (mg.c->key && mg.c->key->re)
		mg.m = pattern_match_new(mg.c->key->re);

	switch (mg.c->mode) {
	case MODE_CONCAT:
		r = run_concat(&mg);
		break;
	case MODE_SORTED:
		r = merge_run_sorted(&mg, e);
		break;
	default:
		r = run_interleave(&mg);
		break;
	}
	rc = r == M_FAILED ? STAGE_ERROR : STAGE_OK;
	/* Every reader gone, seen by io_send here or by the engine (which
	 * then cancels the context with its stop cause): a quiet stop. */
	if (r == M_GONE || (r < 0 && ctx_cause(mg.ctx, NULL) == STAGE_CAUSE_STOPPED))
		rc = STAGE_STOP;

	for (size_t i = 0; i < mg.n; i++) {
		field_reader_free(mg.in[i].fr[0]);
		field_reader_free(mg.in[i].fr[1]);
		batch_free(mg.in[i].b);
		while (mg.in[i].queue) {
			struct batch *b = mg.in[i].queue;
			mg.in[i].queue = b->next;
			batch_free(b);
		}
	}
	if (mg.taken > mg.given)
		wstat_add(rc == STAGE_STOP ? &mg.ws->filtered : &mg.ws->dropped,
			  mg.taken - mg.given);
	pattern_match_free(mg.m);
	free(mg.idx);
	free(mg.cases);
	free(mg.in);
	return rc;
}

const struct stage_kind kind_merge = {
	.name = "merge",
	.summary = "read several inputs into one stream: interleaved, concatenated or sorted",
	.role = ROLE_TRANSFORM,
	.flags = KIND_MULTI_IN | KIND_ONE_WORKER | KIND_NO_SHARD,
	.options = merge_options,
	.conf_size = sizeof(struct merge_conf),
	.shorthand = "mode",
	.example = "merge: {mode: sorted, key: {field: 1}}",
	.check = merge_check,
	.unbounded = merge_unbounded,
	.start = merge_start,
	.run = merge_run,
	.free = merge_free,
};
