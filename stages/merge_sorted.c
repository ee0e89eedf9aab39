/* SPDX-License-Identifier: MIT */
/*
 * merge_sorted.c - merge's sorted mode: the head record of every input
 * kept in a heap by its key (a field, a capture, or the whole record,
 * compared as sort does, with -n and -r), the smallest sent on first, and
 * an input found out of order failed or warned about.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "merge_int.h"
#include "records/ack.h"

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
static int record_key(struct merger *mg, struct input *in, const char *s, size_t len,
		      size_t room, const char **key, size_t *klen)
{
	const struct merge_key *k = mg->c->key;
	const char *p = s, *end = s + len, *beg;

	if (k && k->path) {
		/* A structured record's field; missing, null or not JSON: the
		 * empty key. */
		in->which ^= 1;
		if (!in->fr[in->which])
			in->fr[in->which] = field_reader_new();
		if (field_read(in->fr[in->which], k->path, s, len, room, key, klen) != 1) {
			*key = s;
			*klen = 0;
		}
		return 0;
	}
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

	if (b->origin && b->first_rec && batch_rec_number(b, in->i) != in->nrec)
		snprintf(where, sizeof where, " (%s record %" PRIu64 ")", b->origin,
			 batch_rec_number(b, in->i));
	if (mg->c->on_unsorted == UNSORTED_FAIL) {
		err_set(e, "input '%s' is not sorted at record %" PRIu64 "%s",
			merge_input_name(mg->st, i), in->nrec, where);
		return -1;
	}
	if (!mg->ms->warned) {
		mg->ms->warned = 1;
		fprintf(stderr, "cspipe: %s: warning: input '%s' is not sorted at record %"
			PRIu64 "%s; the output is not sorted either\n", mg->st->name,
			merge_input_name(mg->st, i), in->nrec, where);
	}
	return 0;
}

static void key_error(struct merger *mg, size_t i, struct err *e)
{
	err_set(e, "input '%s' record %" PRIu64 ": key pattern: %s", merge_input_name(mg->st, i),
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
		r = merge_next_batch(mg, i, &b);
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
	r = record_key(mg, in, rec_ptr(in->b, in->i), in->b->recs[in->i].len,
		       in->b->cap - in->b->recs[in->i].off - in->b->recs[in->i].len, &in->key,
		       &in->klen);
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
int merge_run_sorted(struct merger *mg, struct err *e)
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
			r = merge_give(mg, out);
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
		int s = merge_give(mg, out);
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
