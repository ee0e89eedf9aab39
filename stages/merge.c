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
 *               (see merge_cmp for the mapping of the key to sort's
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
#include "pipeline/spec.h"
#include "core/stage.h"

enum merge_mode { MODE_INTERLEAVE, MODE_CONCAT, MODE_SORTED };
enum { UNSORTED_FAIL, UNSORTED_WARN };

/* PCRE2_UNSET (a group that took no part), without pcre2.h. */
#define GROUP_UNSET (~(size_t)0)

/* How a mode's loop ends, besides a context's error (the runtime's
 * negative codes): every input ended, every reader went, or an error was
 * set. */
enum { M_END = 1, M_GONE = 2, M_FAILED = 3 };

/* The sort key: a field, a pattern's capture, or the whole record. */
struct merge_key {
	int64_t field;          /* 1-based; 0: not by field */
	int delimiter;          /* the field separator byte; with has_delim */
	int has_delim;          /* 0: fields are separated by blanks, as sort's */
	char *pattern;          /* the source, for messages */
	struct pattern *re;     /* compiled from pattern, or NULL */
	int numeric;            /* compare as sort -n */
	int reverse;            /* descending, as sort -r */
};

struct merge_conf {
	int mode;
	struct merge_key *key;  /* NULL: the whole record, bytewise */
	int on_unsorted;
};

static const char *const mode_names[] = { "interleave", "concat", "sorted", NULL };
static const char *const unsorted_names[] = { "fail", "warn", NULL };

/* ---- the key option ------------------------------------------------ */

/* What the key mapping loads into before it is checked. */
struct key_conf {
	int64_t field;
	int delimiter;
	char *pattern;
	int numeric;
	int reverse;
};

static const struct option key_options[] = {
	{ .name = "field", .type = OPT_INT, .offset = offsetof(struct key_conf, field),
	  .def = "0", .min = 0, .max = 1000000,
	  .doc = "1-based field number (0: not by field)" },
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
	free(k);
	*(struct merge_key **)dst = NULL;
}

/*
 * Parse `key: {field: N, delimiter: D, pattern: P, numeric: B, reverse: B}`
 * into a struct merge_key (stored at dst).  field and pattern exclude each
 * other; delimiter goes with field.  The pattern is compiled here so that a
 * bad one is reported at its position.  Returns 0, or -1 after diagnostics.
 */
static int key_parse(const struct node *n, void *dst, struct diags *d)
{
	struct key_conf kc = { 0 };
	struct merge_key *k = NULL;
	const struct node *del, *pat;
	int rc = -1;

	if (n->type != NODE_MAP) {
		diag_add(d, n, "key: expected a mapping (e.g. {field: 2, numeric: true}), got %s",
			 n->is_null ? "nothing" : n->type == NODE_SCALAR ? "a string"
			 : n->type == NODE_SEQ ? "a list" : "a mapping");
		return -1;
	}
	if (config_load_for(key_options, &kc, n, "key", d))
		goto out;
	del = node_get(n, "delimiter");
	pat = node_get(n, "pattern");
	if (kc.field && pat) {
		diag_add(d, pat, "key: give either field or pattern, not both");
		goto out;
	}
	if (del && !kc.field) {
		diag_add(d, del, "key: delimiter goes with field");
		goto out;
	}
	k = calloc(1, sizeof *k);
	if (!k)
		util_oom();
	k->field = kc.field;
	k->delimiter = kc.delimiter;
	k->has_delim = del != NULL;
	k->numeric = kc.numeric;
	k->reverse = kc.reverse;
	if (pat) {
		char msg[256];
		size_t off = 0;
		k->re = pattern_compile(kc.pattern, strlen(kc.pattern), 0, msg, sizeof msg, &off);
		if (!k->re) {
			diag_add(d, pat, "key: bad pattern: %s at offset %zu", msg, off);
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
	const struct node *m = st->kind_at;
	static const char *const sorted_only[] = { "key", "on_unsorted" };
	int rc = 0;

	if (c->mode == MODE_SORTED || !m || m->type != NODE_MAP)
		return 0;
	for (size_t i = 0; i < 2; i++) {
		const struct node *v = node_get(m, sorted_only[i]);
		if (v) {
			diag_add(d, v, "%s: only for mode: sorted (this merge is %s)",
				 sorted_only[i], mode_names[c->mode]);
			rc = -1;
		}
	}
	return rc;
}

/* ---- start: which inputs share an upstream stage -------------------- */

struct merge_state {
	int *coupled;     /* per input: shares an upstream stage with another */
	int warned;       /* on_unsorted: warn said so already */
};

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

struct input {
	struct batch *b;                 /* current batch (sorted); NULL: none */
	uint32_t i;                      /* its head record */
	const char *key;                 /* the head's key */
	size_t klen;
	uint64_t nrec;                   /* records taken so far: the head's number */
	struct batch *queue, **qtail;    /* taken early (coupled inputs) */
	int closed;                      /* its channel has ended */
	uint64_t acked_into;             /* sorted: the output batch (by number)
					    that holds references to b's acks */
};

struct merger {
	struct stage *st;
	const struct merge_conf *c;
	struct merge_state *ms;
	struct stage_io *io;
	struct ctx *ctx;
	struct wstats *ws;
	struct input *in;
	size_t n;
	struct pattern_match *m;
	uint64_t taken, given;           /* records received / handed to io_send */
	struct sel_case *cases;
	size_t *idx;
};

/* The name of input i as `from` wrote it ("route.errors"). */
static const char *input_name(const struct stage *st, size_t i)
{
	if (st->nfrom == st->ninputs)
		return st->from[i];
	return st->inputs[i]->name;
}

static void taken(struct merger *mg, const struct batch *b)
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

/*
 * The next batch of input i (empty ones skipped): CSP_OK with *out set,
 * CSP_CLOSED at its end, or the context's error.  A coupled input waits in
 * a select that also takes the other coupled inputs' batches into their
 * queues, so that a shared upstream stage never blocks for good.
 */
static int next_batch(struct merger *mg, size_t i, struct batch **out)
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
			struct sel_case c = { io_input(mg->io, i), SEL_RECV, &b, 0 };
			r = io_select(mg->io, &c, 1);
			if (r < 0)
				return r;
			if (c.result == CSP_CLOSED) {
				in->closed = 1;
				return CSP_CLOSED;
			}
			taken(mg, b);
		} else {
			mg->cases[n] = (struct sel_case){ io_input(mg->io, i), SEL_RECV, &b, 0 };
			mg->idx[n++] = i;
			for (size_t j = 0; j < mg->n; j++)
				if (j != i && mg->ms->coupled[j] && !mg->in[j].closed) {
					mg->cases[n] = (struct sel_case){ io_input(mg->io, j),
									  SEL_RECV, &b, 0 };
					mg->idx[n++] = j;
				}
			r = io_select(mg->io, mg->cases, (int)n);
			if (r < 0)
				return r;
			if (mg->cases[r].result == CSP_CLOSED) {
				mg->in[mg->idx[r]].closed = 1;
				continue;
			}
			taken(mg, b);
			if (mg->idx[r] != i) {
				enqueue(&mg->in[mg->idx[r]], b);
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
static int give(struct merger *mg, struct batch *b)
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

		for (size_t i = 0; i < mg->n; i++)
			if (!mg->in[i].closed) {
				mg->cases[n] = (struct sel_case){ io_input(mg->io, i), SEL_RECV, &b, 0 };
				mg->idx[n++] = i;
			}
		if (n == 0)
			return M_END;
		r = io_select(mg->io, mg->cases, (int)n);
		if (r < 0)
			return r;
		if (mg->cases[r].result == CSP_CLOSED) {
			mg->in[mg->idx[r]].closed = 1;
			continue;
		}
		taken(mg, b);
		if (b->n == 0) {
			batch_free(b);
			continue;
		}
		r = give(mg, b);
		if (r != CSP_OK)
			return r;
	}
}

static int run_concat(struct merger *mg)
{
	for (size_t i = 0; i < mg->n; i++) {
		struct batch *b;
		int r;

		while ((r = next_batch(mg, i, &b)) == CSP_OK) {
			r = give(mg, b);
			if (r != CSP_OK)
				return r;
		}
		if (r != CSP_CLOSED)
			return r;
	}
	return M_END;
}

/* ---- sorted ---------------------------------------------------------- */

/* sort's blanks in the C locale: isblank() and the newline. */
static int is_blank(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n';
}

/*
 * The key of record s[0..len) as GNU sort's -k N,N finds it (begfield and
 * limfield): with a delimiter D (-t D) the bytes between the (N-1)th and
 * the Nth D; without one, fields are a run of blanks followed by a run of
 * non-blanks, and the key is field N with its leading blanks.  A record
 * with fewer fields has an empty key.  With a pattern: group 1 of the first
 * match (the whole match for a pattern without groups), empty when it
 * does not match or group 1 took no part.  Returns 0, or PAT_LIMIT /
 * PAT_ERROR from the pattern.
 */
static int record_key(struct merger *mg, const char *s, size_t len, const char **key,
		      size_t *klen)
{
	const struct merge_key *k = mg->c->key;
	const char *p = s, *end = s + len, *beg;

	if (!k || (!k->field && !k->re)) {
		*key = s;
		*klen = len;
		return 0;
	}
	if (k->re) {
		int r = pattern_exec(k->re, mg->m, s, len, 0);
		const size_t *ov;
		if (r < 0)
			return r;
		*key = s;
		*klen = 0;
		if (r == 0)
			return 0;
		ov = pattern_ovector(mg->m);
		if (pattern_captures(k->re) >= 1) {
			if (ov[2] == GROUP_UNSET || ov[3] < ov[2])
				return 0;
			*key = s + ov[2];
			*klen = ov[3] - ov[2];
		} else {
			*key = s + ov[0];
			*klen = ov[1] - ov[0];
		}
		return 0;
	}
	for (int64_t f = 1; f < k->field && p < end; f++) {
		if (k->has_delim) {
			const char *d = memchr(p, k->delimiter, (size_t)(end - p));
			p = d ? d + 1 : end;
		} else {
			while (p < end && is_blank((unsigned char)*p))
				p++;
			while (p < end && !is_blank((unsigned char)*p))
				p++;
		}
	}
	beg = p;
	if (k->has_delim) {
		const char *d = memchr(p, k->delimiter, (size_t)(end - p));
		p = d ? d : end;
	} else {
		while (p < end && is_blank((unsigned char)*p))
			p++;
		while (p < end && !is_blank((unsigned char)*p))
			p++;
	}
	*key = beg;
	*klen = (size_t)(p - beg);
	return 0;
}

/* A number as sort -n reads it in the C locale: blanks, an optional '-',
 * digits, an optional '.' and digits; no '+', no thousands separator, no
 * exponent.  Anything else (an empty key, text) is zero. */
struct num {
	int neg;
	const char *ip, *fp;   /* integer digits (no leading zeros), fraction
				  digits (no trailing zeros) */
	size_t il, fl;
};

static int is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static void num_parse(const char *s, size_t len, struct num *x)
{
	const char *p = s, *end = s + len;

	memset(x, 0, sizeof *x);
	while (p < end && is_blank((unsigned char)*p))
		p++;
	if (p < end && *p == '-') {
		x->neg = 1;
		p++;
	}
	while (p < end && *p == '0')
		p++;
	x->ip = p;
	while (p < end && is_digit((unsigned char)*p))
		p++;
	x->il = (size_t)(p - x->ip);
	if (p < end && *p == '.') {
		x->fp = ++p;
		while (p < end && is_digit((unsigned char)*p))
			p++;
		x->fl = (size_t)(p - x->fp);
		while (x->fl && x->fp[x->fl - 1] == '0')
			x->fl--;
	}
	if (x->il == 0 && x->fl == 0)
		x->neg = 0;   /* -0 is 0 */
}

static int num_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	struct num x, y;
	int r;

	num_parse(a, al, &x);
	num_parse(b, bl, &y);
	if (x.neg != y.neg)
		return x.neg ? -1 : 1;
	if (x.il != y.il)
		r = x.il < y.il ? -1 : 1;
	else if ((r = memcmp(x.ip, y.ip, x.il)) == 0) {
		size_t m = x.fl < y.fl ? x.fl : y.fl;
		if ((r = m ? memcmp(x.fp, y.fp, m) : 0) == 0)
			r = x.fl < y.fl ? -1 : x.fl > y.fl;
	}
	r = r < 0 ? -1 : r > 0;
	return x.neg ? -r : r;
}

/*
 * Compare two keys as `LC_ALL=C sort -s` compares lines by the matching
 * key: bytes as unsigned (a shorter key that is a prefix comes first) or,
 * numeric, as sort -n; reverse negates.  With -s sort never falls back to
 * comparing whole lines, so equal keys are a tie, which the merge breaks
 * by input order (sort -m: the earlier file first).
 */
static int merge_cmp(const struct merge_key *k, const char *a, size_t al,
		     const char *b, size_t bl)
{
	int r;

	if (k && k->numeric) {
		r = num_cmp(a, al, b, bl);
	} else {
		r = memcmp(a, b, al < bl ? al : bl);
		if (r == 0)
			r = al < bl ? -1 : al > bl;
	}
	return k && k->reverse ? -r : r;
}

/* Heap order: the smaller key, then the earlier input. */
static int heap_less(struct merger *mg, size_t a, size_t b)
{
	int r = merge_cmp(mg->c->key, mg->in[a].key, mg->in[a].klen, mg->in[b].key,
			  mg->in[b].klen);

	return r < 0 || (r == 0 && a < b);
}

static void sift_down(struct merger *mg, size_t *heap, size_t n, size_t at)
{
	for (;;) {
		size_t l = 2 * at + 1, r = l + 1, min = at, t;

		if (l < n && heap_less(mg, heap[l], heap[min]))
			min = l;
		if (r < n && heap_less(mg, heap[r], heap[min]))
			min = r;
		if (min == at)
			return;
		t = heap[at];
		heap[at] = heap[min];
		heap[min] = t;
		at = min;
	}
}

/* Report the record that broke the order of input i; per on_unsorted
 * returns -1 after err_set, or 0 after warning once on stderr. */
static int unsorted(struct merger *mg, size_t i, struct err *e)
{
	const struct input *in = &mg->in[i];
	const struct batch *b = in->b;
	char where[160] = "";

	if (b->origin && b->first_rec &&
	    b->first_rec + b->recs[in->i].tag != in->nrec)
		snprintf(where, sizeof where, " (%s record %" PRIu64 ")", b->origin,
			 b->first_rec + b->recs[in->i].tag);
	if (mg->c->on_unsorted == UNSORTED_FAIL) {
		err_set(e, "input '%s' is not sorted at record %" PRIu64 "%s",
			input_name(mg->st, i), in->nrec, where);
		return -1;
	}
	if (!mg->ms->warned) {
		mg->ms->warned = 1;
		fprintf(stderr, "cspipe: %s: warning: input '%s' is not sorted at record %"
			PRIu64 "%s; the output is not sorted either\n", mg->st->name,
			input_name(mg->st, i), in->nrec, where);
	}
	return 0;
}

static void key_error(struct merger *mg, size_t i, struct err *e)
{
	err_set(e, "input '%s' record %" PRIu64 ": key pattern: %s", input_name(mg->st, i),
		mg->in[i].nrec, pattern_errtext(mg->m));
}

/*
 * Move input i to its next record: the next of its batch, or the first of
 * its next batch (the old batch is freed once the new head has been
 * checked against its last record).  Sets in->b NULL at the input's end.
 * Returns CSP_OK, CSP_CLOSED at the end, a context error, or M_FAILED
 * after err_set.
 */
static int advance(struct merger *mg, size_t i, struct err *e)
{
	struct input *in = &mg->in[i];
	struct batch *old = NULL, *b = in->b;
	const char *pkey = in->key;
	size_t plen = in->klen;
	int r, first = b == NULL;

	if (b && in->i + 1 < b->n) {
		in->i++;
	} else {
		r = next_batch(mg, i, &b);
		if (r != CSP_OK) {
			/* At the end every record of it went out, and the
			 * batches that took them hold its acks. */
			if (r == CSP_CLOSED && in->b)
				batch_acks_done(in->b);
			batch_free(in->b);
			in->b = NULL;
			return r;
		}
		old = in->b;
		in->b = b;
		in->i = 0;
		in->acked_into = 0;
		if (old)
			batch_acks_done(old);
	}
	in->nrec++;
	r = record_key(mg, rec_ptr(in->b, in->i), in->b->recs[in->i].len, &in->key, &in->klen);
	if (r < 0) {
		key_error(mg, i, e);
		r = M_FAILED;
	} else if (!first && merge_cmp(mg->c->key, in->key, in->klen, pkey, plen) < 0 &&
		   unsorted(mg, i, e) < 0) {
		r = M_FAILED;
	} else {
		r = CSP_OK;
	}
	/* The previous head's key lay in old: free it only now. */
	batch_free(old);
	return r;
}

/*
 * The k-way merge.  A heap of the inputs that have a head record, ordered
 * by (key, input index); the least goes out, its input advances, and the
 * heap is repaired.  Output batches are standard-sized copies in the
 * framing of the first input that has records.
 */
static int run_sorted(struct merger *mg, struct err *e)
{
	size_t *heap = csp_calloc(mg->n + 1, sizeof *heap);
	size_t nh = 0;
	struct batch *out = NULL;
	enum framing framing = FRAMING_LINES;
	uint64_t made = 0, nout = 0;
	int r = CSP_OK;

	for (size_t i = 0; i < mg->n; i++) {
		r = advance(mg, i, e);
		if (r == CSP_CLOSED)
			continue;
		if (r != CSP_OK)
			goto out;
		if (nh == 0)
			framing = (enum framing)mg->in[i].b->framing;
		heap[nh++] = i;
	}
	for (size_t at = nh / 2; at-- > 0;)
		sift_down(mg, heap, nh, at);
	while (nh) {
		struct input *in = &mg->in[heap[0]];
		const struct rec *rec = &in->b->recs[in->i];

		if (out && out->n && (out->len + rec->len + 1 > BATCH_DATA || out->n >= BATCH_RECS)) {
			made += out->n;
			r = give(mg, out);
			out = NULL;
			if (r != CSP_OK)
				goto out;
		}
		if (!out) {
			out = batch_new(framing, 0, 0);
			out->origin = mg->st->name;
			out->first_rec = made + 1;
			nout++;
		}
		batch_add(out, rec_ptr(in->b, in->i), rec->len, out->n);
		if (in->b->acks && in->acked_into != nout) {
			ackset_add(&out->acks, in->b->acks);
			in->acked_into = nout;
		}
		r = advance(mg, heap[0], e);
		if (r == CSP_CLOSED)
			heap[0] = heap[--nh];
		else if (r != CSP_OK)
			goto out;
		sift_down(mg, heap, nh, 0);
	}
	r = M_END;
	if (out) {
		int s = give(mg, out);
		out = NULL;
		if (s != CSP_OK)
			r = s;
	}
out:
	/* What was copied into out but not handed on is among the records
	 * taken and not given: the caller counts them. */
	batch_free(out);
	free(heap);
	return r;
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
		r = run_sorted(&mg, e);
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
