/* SPDX-License-Identifier: MIT */
/*
 * map.c - the `map` stage: rewrite every record with a list of operations
 * (replace, fields, template, case, trim, prefix, suffix), applied in
 * order, as sed, awk and cut would.
 *
 * The whole value of `map:` is one custom option, `ops`: one operation (a
 * mapping) or a list of them.  Each operation's own keys are read by the
 * generic loader from a small option table per operation, so that unknown
 * keys, types and "did you mean" behave as everywhere else; its patterns
 * and templates are compiled there too, so `cspipe validate` reports them
 * at their position.  That reading is map_ops.c; this file applies the
 * operations.
 *
 * Processing writes into new batches of the standard size (several when
 * the records grow), keeping each record's tag, with no allocation per
 * record: each operation reads the current value and writes the next one
 * into one of two per-worker scratch buffers that are reused; case and trim
 * work in place (the input batch is ours to change); a record left alone
 * by every operation is copied as it came.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "core/stage.h"
#include "records/jflat.h"
#include "records/json_doc.h"
#include "map_int.h"

static const struct option map_options[] = {
	{ .name = "ops", .type = OPT_CUSTOM, .offset = offsetof(struct map_conf, ops),
	  .doc = "the operations, applied in order to every record",
	  .parse = map_ops_parse, .free = map_ops_free,
	  .type_name = "operation or list of operations", .flags = OPT_REQUIRED },
	{ .name = NULL },
};

static int map_check(struct stage *st, struct diags *d)
{
	const struct map_conf *c = st->conf;

	if (c->ops.n == 0) {
		diag_at(d, stage_pos(st),
			"map: needs an operation (e.g. {case: upper}) or a list of them");
		return -1;
	}
	return 0;
}

/* ---- workers ------------------------------------------------------------ */

struct map_worker {
	struct pattern_match **m;     /* per operation; NULL without a pattern */
	struct buf scratch[2];
	uint32_t *fb;                 /* field bounds: start, end pairs */
	size_t fbcap;                 /* in pairs */
	struct jdoc *doc;             /* structured operations */
	struct buf jtmp, jdyn, jtext;
	unsigned char *flat_keep;     /* per operation: a keep flat records answer */
	struct jflat flat;
};

/* Is op a keep of top-level keys, each listed once?  Then a flat record
 * (jflat.h) is answered from its bytes. */
static int keep_is_flat(const struct map_op *op)
{
	if (op->kind != OP_KEEP)
		return 0;
	for (size_t i = 0; i < op->ed.n; i++) {
		const struct jstep *s = &op->ed.v[i].path.steps[0];
		if (op->ed.v[i].path.n != 1 || !s->key)
			return 0;
		for (size_t j = 0; j < i; j++) {
			const struct jstep *t = &op->ed.v[j].path.steps[0];
			if (t->klen == s->klen && !memcmp(t->key, s->key, s->klen))
				return 0;
		}
	}
	return 1;
}

static void *map_worker_new(struct stage *st, int index)
{
	const struct map_conf *c = st->conf;
	struct map_worker *mw = csp_calloc(1, sizeof *mw);

	mw->m = csp_calloc(c->ops.n ? c->ops.n : 1, sizeof *mw->m);
	mw->flat_keep = csp_calloc(c->ops.n ? c->ops.n : 1, 1);
	mw->doc = jdoc_new();
	for (size_t i = 0; i < c->ops.n; i++) {
		if (c->ops.v[i].pat)
			mw->m[i] = pattern_match_new(c->ops.v[i].pat);
		mw->flat_keep[i] = (unsigned char)keep_is_flat(&c->ops.v[i]);
	}
	return mw;
}

static void map_worker_free(struct stage *st, void *state)
{
	const struct map_conf *c = st->conf;
	struct map_worker *mw = state;

	if (!mw)
		return;
	for (size_t i = 0; i < c->ops.n; i++)
		pattern_match_free(mw->m[i]);
	free(mw->m);
	free(mw->flat_keep);
	buf_free(&mw->scratch[0]);
	buf_free(&mw->scratch[1]);
	buf_free(&mw->jtmp);
	buf_free(&mw->jdyn);
	buf_free(&mw->jtext);
	jdoc_free(mw->doc);
	free(mw->fb);
	free(mw);
}

/* Results of one operation on one record. */
enum { R_SAME, R_CHANGED, R_DROP, R_ERROR = -1 };

static void limit_error(struct err *e, const struct batch *b, uint32_t i,
			const struct map_op *op, const struct pattern_match *m)
{
	char where[512];

	batch_rec_where(where, sizeof where, b, i);
	err_set(e, "%s: %s (the %s pattern '%s')", where, pattern_errtext(m),
		op_names[op->kind], pattern_source(op->pat));
}

/*
 * Replace the matches of the pattern in s[0..len) (all, or the first),
 * writing into out.  Empty matches advance as sed's do: after an empty
 * match one byte is copied and the search goes on after it; right after a
 * non-empty match an empty one is not allowed (PCRE2_NOTEMPTY_ATSTART).
 * Returns R_SAME when nothing matched, R_CHANGED, or R_ERROR (limit).
 */
static int op_replace(const struct map_op *op, struct pattern_match *m,
		      const char *s, size_t len, struct buf *out)
{
	size_t start = 0, last = 0;
	unsigned flags = 0;
	int any = 0;

	if (pattern_scan_kind(op->pat) != PAT_SCAN_NONE && !pattern_scan(op->pat, s, len))
		return R_SAME;
	out->len = 0;
	for (;;) {
		int r = pattern_exec_flags(op->pat, m, s, len, start, flags);
		if (r == 0)
			break;
		if (r < 0)
			return R_ERROR;
		const size_t *ov = pattern_ovector(m);
		size_t ms = ov[0], me = ov[1];
		size_t need = (ms - last) + tmpl_size(op->tmpl, ov, 0);
		buf_reserve(out, need);
		memcpy(out->p + out->len, s + last, ms - last);
		out->len += ms - last;
		out->len += tmpl_expand(op->tmpl, out->p + out->len, s, ov, 0);
		last = me;
		any = 1;
		if (op->c.first)
			break;
		if (me == ms) {
			if (me >= len)
				break;
			start = me + 1;
			flags = 0;
		} else {
			start = me;
			flags = PAT_NOTEMPTY_ATSTART;
		}
	}
	if (!any)
		return R_SAME;
	buf_append(out, s + last, len - last);
	return R_CHANGED;
}

static inline int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* Record field k as s[a..b) in mw->fb. */
static void push_field(struct map_worker *mw, size_t k, size_t a, size_t b)
{
	if (k == mw->fbcap)
		mw->fb = util_grow(mw->fb, &mw->fbcap, k + 1, 2 * sizeof *mw->fb);
	mw->fb[2 * k] = (uint32_t)a;
	mw->fb[2 * k + 1] = (uint32_t)b;
}

/*
 * Split s[0..len) into fields, up to `want` of them (SIZE_MAX: all), into
 * mw->fb.  Without a delimiter, fields are runs of non-blanks (awk's
 * default: space, tab and newline separate, leading and trailing ones are
 * ignored); with one, every occurrence separates (cut -d, awk -F with a
 * literal), so "a,,b" has an empty second field and "" has one empty field.
 * Returns the number of fields found.
 */
static size_t split_fields(struct map_worker *mw, const struct map_op *op,
			   const char *s, size_t len, size_t want)
{
	size_t nf = 0, i = 0;

	if (!op->c.delimiter) {
		while (nf < want) {
			while (i < len && is_blank((unsigned char)s[i]))
				i++;
			if (i >= len)
				break;
			size_t start = i;
			while (i < len && !is_blank((unsigned char)s[i]))
				i++;
			push_field(mw, nf++, start, i);
		}
		return nf;
	}
	const char *dl = op->c.delimiter;
	size_t dlen = strlen(dl);
	while (nf < want) {
		const char *q = dlen == 1 ? memchr(s + i, dl[0], len - i)
					  : memmem(s + i, len - i, dl, dlen);
		if (!q) {
			push_field(mw, nf++, i, len);
			break;
		}
		push_field(mw, nf++, i, (size_t)(q - s));
		i = (size_t)(q - s) + dlen;
	}
	return nf;
}

/* Append one item, s[0..n), to out, after the join string unless it is
 * the first. */
static void put_item(struct buf *out, const struct map_op *op, int *items,
		     const char *s, size_t n)
{
	buf_reserve(out, op->text_len + n);
	if ((*items)++) {
		memcpy(out->p + out->len, op->text, op->text_len);
		out->len += op->text_len;
	}
	memcpy(out->p + out->len, s, n);
	out->len += n;
}

/* Whether s[0..len) holds the delimiter d. */
static int has_delimiter(const char *s, size_t len, const char *d)
{
	size_t dlen = strlen(d);

	return dlen == 1 ? memchr(s, d[0], len) != NULL : memmem(s, len, d, dlen) != NULL;
}

/*
 * Keep the selected fields of s[0..len), joined, in out: R_CHANGED.  With
 * a delimiter, a record that lacks it is not split, as with cut -d: it
 * passes whole (R_SAME), or with only_delimited is dropped (R_DROP), as
 * with cut -s.
 */
static int op_fields(struct map_worker *mw, const struct map_op *op,
		     const char *s, size_t len, struct buf *out)
{
	const struct field_list *fl = &op->c.fields;
	size_t want = fl->need_all ? SIZE_MAX : (size_t)fl->max_pos;
	size_t nf;
	const uint32_t *fb;
	int items = 0;

	if (op->c.delimiter && !has_delimiter(s, len, op->c.delimiter))
		return op->c.only_delimited ? R_DROP : R_SAME;
	nf = split_fields(mw, op, s, len, want);
	fb = mw->fb;

	out->len = 0;
	for (size_t i = 0; i < fl->n; i++) {
		const struct fsel *f = &fl->v[i];
		if (f->range) {
			/* As cut: the fields of the range that exist. */
			int64_t hi = f->hi && f->hi < (int64_t)nf ? f->hi : (int64_t)nf;
			for (int64_t k = f->lo - 1; k < hi; k++)
				put_item(out, op, &items, s + fb[2 * k], fb[2 * k + 1] - fb[2 * k]);
			continue;
		}
		int64_t k = f->lo > 0 ? f->lo : (int64_t)nf + f->lo + 1;
		if (k >= 1 && k <= (int64_t)nf)
			put_item(out, op, &items, s + fb[2 * k - 2], fb[2 * k - 1] - fb[2 * k - 2]);
		else
			put_item(out, op, &items, s, 0);  /* missing: empty, as awk */
	}
	return R_CHANGED;
}

/*
 * Flip the case of the ASCII letters from `first` ('a' or 'A') to
 * first + 25, in place, eight bytes at a time: for each byte below 0x80,
 * adding 0x80 - first sets its top bit when it is >= first, adding
 * 0x80 - (first + 26) when it is past the range; no sum carries into the
 * next byte.  Bytes from 0x80 up are left alone.
 */
static void change_case(char *s, size_t n, unsigned char first)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	const uint64_t ge = ones * (uint64_t)(0x80 - first);
	const uint64_t gt = ones * (uint64_t)(0x80 - (first + 26));
	size_t j = 0;

	for (; j + 8 <= n; j += 8) {
		uint64_t x, h;
		memcpy(&x, s + j, 8);
		h = x & ~high;
		x ^= (((h + ge) & ~(h + gt) & ~x & high) >> 2);
		memcpy(s + j, &x, 8);
	}
	for (; j < n; j++) {
		unsigned char c = (unsigned char)s[j];
		if ((unsigned char)(c - first) < 26)
			s[j] = (char)(c ^ 0x20);
	}
}

/* ASCII white space: space, \t, \n, \v, \f, \r. */
static inline int is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* A structured operation on a record that is not a JSON object. */
static void not_object(struct err *e, const struct batch *b, uint32_t i,
		       const struct map_op *op, const char *why)
{
	char where[512];

	batch_rec_where(where, sizeof where, b, i);
	err_set(e, "%s: %s, so %s cannot change it", where, why, op_names[op->kind]);
}

/*
 * Run a structured operation (set, delete, rename, keep, or replace and
 * case on a field) on cur[0..n) (room: bytes readable after it), writing
 * the new record into out.  Returns R_SAME, R_CHANGED, or R_ERROR after
 * err_set (the record is not a JSON object, a pattern's limit).
 */
static int op_structured(struct map_worker *mw, const struct map_op *op,
			 struct pattern_match *m, const char *cur, size_t n, size_t room,
			 struct buf *out, const struct batch *in, uint32_t i, struct err *e)
{
	struct jval root, v;
	char why[160];
	int r;

	if (jdoc_parse(mw->doc, cur, n, room) != 0) {
		snprintf(why, sizeof why, "it is not JSON (%s)", jdoc_error(mw->doc));
		not_object(e, in, i, op, why);
		return R_ERROR;
	}
	jdoc_root(mw->doc, &root);
	if (root.type != JT_OBJECT) {
		not_object(e, in, i, op, "it is not a JSON object");
		return R_ERROR;
	}
	if (op->kind == OP_REPLACE || op->kind == OP_CASE) {
		/* The field's text, changed, is set back as a string. */
		if (!jpath_eval(&op->field, &root, &v) || v.type == JT_NULL)
			return R_SAME;
		mw->jtext.len = 0;
		json_put_text(&mw->jtext, &v);
		if (op->kind == OP_REPLACE) {
			r = op_replace(op, m, mw->jtext.p, mw->jtext.len, &mw->jtmp);
			if (r == R_ERROR) {
				limit_error(e, in, i, op, m);
				return R_ERROR;
			}
			if (r == R_SAME)
				return R_SAME;
			mw->jdyn.len = 0;
			json_put_string(&mw->jdyn, mw->jtmp.p, mw->jtmp.len);
		} else {
			change_case(mw->jtext.p, mw->jtext.len,
				    op->c.which_case == CASE_UPPER ? 'a' : 'A');
			mw->jdyn.len = 0;
			json_put_string(&mw->jdyn, mw->jtext.p, mw->jtext.len);
		}
	}
	jedits_apply(&op->ed, &root, out, &mw->jtmp, &mw->jdyn);
	return R_CHANGED;
}

/*
 * keep (keep_is_flat) on cur[0..n) into out, from the bytes of a flat
 * record: each listed member that is there, in the listed order, as
 * jedits_apply writes it.  Returns 1, or 0 when the record is not flat
 * (op_structured then reads it).
 */
static int keep_flat(struct map_worker *mw, const struct map_op *op, const char *cur,
		     size_t n, struct buf *out)
{
	int first = 1;

	if (jflat_scan(cur, n, &mw->flat) != 0)
		return 0;
	out->len = 0;
	jbuf_put(out, '{');
	for (size_t i = 0; i < op->ed.n; i++) {
		const struct jstep *s = &op->ed.v[i].path.steps[0];
		int j = jflat_find(&mw->flat, s->key, s->klen);
		if (j < 0)
			continue;
		if (!first)
			jbuf_put(out, ',');
		first = 0;
		json_put_string(out, s->key, s->klen);
		jbuf_put(out, ':');
		jbuf_append(out, mw->flat.m[j].val, mw->flat.m[j].vlen);
	}
	jbuf_put(out, '}');
	return 1;
}

/*
 * Run every operation on record i of in.  *p and *len hold the record on entry
 * and its new value on return (in a scratch buffer or in place in the
 * input).  Returns R_SAME, R_CHANGED, R_DROP or R_ERROR after err_set.
 */
static int apply_ops(const struct map_conf *c, struct map_worker *mw,
		     const struct batch *in, uint32_t i, char **p, size_t *len,
		     struct err *e)
{
	char *cur = *p;
	size_t n = *len;
	int which = 0, changed = 0;

	for (size_t k = 0; k < c->ops.n; k++) {
		const struct map_op *op = &c->ops.v[k];
		struct buf *out = &mw->scratch[which];
		int r = R_SAME;

		if (op->ed.n) {
			/* Bytes readable after cur: the rest of the input
			 * batch, or none in a scratch buffer. */
			size_t room = cur >= in->data && cur < in->data + in->cap
				? (size_t)(in->data + in->cap - (cur + n)) : 0;
			if (mw->flat_keep[k] && keep_flat(mw, op, cur, n, out))
				r = R_CHANGED;
			else
				r = op_structured(mw, op, mw->m[k], cur, n, room, out, in, i, e);
			if (r == R_ERROR)
				return R_ERROR;
			if (r == R_CHANGED) {
				cur = out->p;
				n = out->len;
				which ^= 1;
				changed = 1;
			}
			continue;
		}
		switch (op->kind) {
		case OP_REPLACE:
			r = op_replace(op, mw->m[k], cur, n, out);
			if (r == R_ERROR) {
				limit_error(e, in, i, op, mw->m[k]);
				return R_ERROR;
			}
			break;
		case OP_FIELDS:
			r = op_fields(mw, op, cur, n, out);
			if (r == R_DROP)
				return R_DROP;
			break;
		case OP_TEMPLATE: {
			int m = 1;
			const struct pattern *pat = op->pat;
			if (pattern_scan_kind(pat) != PAT_SCAN_NONE && !pattern_scan(pat, cur, n))
				m = 0;
			if (m)
				m = pattern_exec(pat, mw->m[k], cur, n, 0);
			if (m < 0) {
				limit_error(e, in, i, op, mw->m[k]);
				return R_ERROR;
			}
			if (m == 0) {
				if (op->c.on_nomatch == NOMATCH_KEEP)
					break;
				if (op->c.on_nomatch == NOMATCH_DROP)
					return R_DROP;
				char where[512];
				batch_rec_where(where, sizeof where, in, i);
				err_set(e, "%s: no match for the template pattern '%s' "
					"(on_nomatch: fail)", where, pattern_source(pat));
				return R_ERROR;
			}
			const size_t *ov = pattern_ovector(mw->m[k]);
			out->len = 0;
			buf_reserve(out, tmpl_size(op->tmpl, ov, 0));
			out->len = tmpl_expand(op->tmpl, out->p, cur, ov, 0);
			r = R_CHANGED;
			break;
		}
		case OP_CASE:
			/* In place: cur is the input batch's or a scratch buffer,
			 * both ours. */
			change_case(cur, n, op->c.which_case == CASE_UPPER ? 'a' : 'A');
			changed = 1;
			break;
		case OP_TRIM:
			if (op->c.trim) {
				while (n && is_space((unsigned char)cur[0])) {
					cur++;
					n--;
				}
				while (n && is_space((unsigned char)cur[n - 1]))
					n--;
				changed = 1;
			}
			break;
		case OP_PREFIX:
		case OP_SUFFIX:
			out->len = 0;
			buf_reserve(out, n + op->text_len);
			if (op->kind == OP_PREFIX) {
				memcpy(out->p, op->text, op->text_len);
				memcpy(out->p + op->text_len, cur, n);
			} else {
				memcpy(out->p, cur, n);
				memcpy(out->p + n, op->text, op->text_len);
			}
			out->len = n + op->text_len;
			r = R_CHANGED;
			break;
		default:
			break;
		}
		if (r == R_CHANGED) {
			cur = out->p;
			n = out->len;
			which ^= 1;
			changed = 1;
		}
	}
	*p = cur;
	*len = n;
	return changed ? R_CHANGED : R_SAME;
}

/*
 * Map batch in into new batches of the standard size, pushed on out in
 * order.  Takes ownership of in (freed).  Records dropped by a template's
 * on_nomatch are counted as filtered.  Returns STAGE_OK, STAGE_STOP when
 * the output is gone, or STAGE_ERROR after err_set.
 */
static int map_process(struct worker *w, struct batch *in, struct outq *out,
		       struct err *e)
{
	const struct map_conf *c = w->stage->conf;
	struct map_worker *mw = w->state;
	struct batch *o = NULL;
	uint64_t filtered = 0;
	int rc = STAGE_OK;

	for (uint32_t i = 0; i < in->n; i++) {
		char *p = in->data + in->recs[i].off;
		size_t len = in->recs[i].len;
		int r = apply_ops(c, mw, in, i, &p, &len, e);

		if (r == R_ERROR) {
			rc = STAGE_ERROR;
			break;
		}
		if (r == R_DROP) {
			filtered++;
			continue;
		}
		if (outq_add(out, &o, in, p, len, in->recs[i].tag) != 0) {
			rc = STAGE_STOP;
			break;
		}
	}
	wstat_add(&w->stats->filtered, filtered);
	/* After an error the records before the failing one still go on. */
	if (outq_done(out, &o, rc == STAGE_STOP) != 0 && rc == STAGE_OK)
		rc = STAGE_STOP;
	batch_free(in);
	return rc;
}

const struct stage_kind kind_map = {
	.name = "map",
	.summary = "rewrite each record: replace, fields, template, case, trim, prefix, suffix; set, delete, rename, keep fields",
	.role = ROLE_TRANSFORM,
	.flags = KIND_SHORTHAND_ANY,
	.options = map_options,
	.conf_size = sizeof(struct map_conf),
	.shorthand = "ops",
	.example = "map: [{replace: '\\d+\\.\\d+\\.\\d+\\.\\d+', with: x.x.x.x}, {case: upper}]",
	.worker_mem = 512 * 1024,
	.check = map_check,
	.worker_new = map_worker_new,
	.worker_free = map_worker_free,
	.process = map_process,
};
