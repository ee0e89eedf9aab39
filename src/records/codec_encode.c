/* SPDX-License-Identifier: MIT */
/*
 * codec_encode.c - the JSON Lines, CSV and logfmt encoders (codec.h):
 * records (compact JSON) turned into the bytes a sink writes.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "records/wstats.h"
#include "records/codec.h"
#include "records/codec_int.h"
#include "records/jflat.h"
#include "records/json_doc.h"
#include "records/jpath.h"

/* ---- encoding --------------------------------------------------------- */

struct encoder {
	enum codec codec;
	const struct columns *cols;
	_Atomic int *header_claim;
	int header_done;
	struct jdoc *doc;
	struct buf out, tmp;
	char **keys;                /* CSV without columns: the first record's keys */
	size_t *klen, nk;
	/* CSV: the members each row is made of, when every one is a
	 * top-level key (the columns', or the first record's keys):
	 * then a flat record (jflat.h) is written from its bytes. */
	const char **fkey;
	size_t *fklen, nfk;
	int flat_ok;
	struct jflat flat;
};

struct encoder *encoder_new(enum codec codec, const struct columns *cols, _Atomic int *header_claim)
{
	struct encoder *en;

	if (codec == CODEC_TEXT)
		return NULL;
	en = csp_calloc(1, sizeof *en);
	en->codec = codec;
	en->cols = cols && cols->n ? cols : NULL;
	en->header_claim = header_claim;
	en->doc = jdoc_new();
	if (en->cols) {
		en->flat_ok = 1;
		en->fkey = csp_calloc(en->cols->n, sizeof *en->fkey);
		en->fklen = csp_calloc(en->cols->n, sizeof *en->fklen);
		for (size_t i = 0; i < en->cols->n; i++) {
			const struct jpath *p = &en->cols->paths[i];
			if (p->n != 1 || !p->steps[0].key) {
				en->flat_ok = 0;
				break;
			}
			en->fkey[i] = p->steps[0].key;
			en->fklen[i] = p->steps[0].klen;
		}
		en->nfk = en->cols->n;
	}
	return en;
}

void encoder_free(struct encoder *en)
{
	if (!en)
		return;
	jdoc_free(en->doc);
	buf_free(&en->out);
	buf_free(&en->tmp);
	for (size_t i = 0; i < en->nk; i++)
		free(en->keys[i]);
	free(en->keys);
	free(en->klen);
	free(en->fkey);
	free(en->fklen);
	free(en);
}

/* Append s[0..n) as a CSV field, quoted only when it must be. */
static void csv_put(struct buf *b, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
			break;
	if (i == n) {
		jbuf_append(b, s, n);
		return;
	}
	jbuf_put(b, '"');
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			jbuf_put(b, '"');
		jbuf_put(b, s[i]);
	}
	jbuf_put(b, '"');
}

static void csv_put_value(struct buf *b, struct buf *tmp, const struct jval *v)
{
	if (v->type == JT_STRING) {
		csv_put(b, v->str, v->len);
		return;
	}
	tmp->len = 0;
	json_put_text(tmp, v);
	csv_put(b, tmp->p, tmp->len);
}

/*
 * Record p[0..n) as a CSV row in en->out, straight from its bytes when it
 * is a flat record: a member's bytes are then its text (a string's
 * without the quotes, since it holds no escape).  Returns 1, or 0 when
 * the record takes the general road: not flat, or (without columns) with
 * a member the header lacks, for that road's error.
 */
static int csv_row_flat(struct encoder *en, const char *p, size_t n)
{
	size_t found = 0;

	if (!en->flat_ok || jflat_scan(p, n, &en->flat) != 0)
		return 0;
	en->out.len = 0;
	for (size_t k = 0; k < en->nfk; k++) {
		const struct jflat_member *m;
		int j = jflat_find(&en->flat, en->fkey[k], en->fklen[k]);
		if (k)
			jbuf_put(&en->out, ',');
		if (j < 0)
			continue;
		found++;
		m = &en->flat.m[j];
		if (m->type == JF_STRING)
			csv_put(&en->out, m->val + 1, m->vlen - 2);
		else if (m->type != JF_NULL)
			jbuf_append(&en->out, m->val, m->vlen);
	}
	return en->cols || found == en->flat.n;
}

/* The header row, once per sink. */
static void csv_header_row(struct encoder *en, struct batch *out, const struct jval *first)
{
	struct buf h = { 0 }, name = { 0 };

	if (!en->cols && first && first->type == JT_OBJECT) {
		struct jiter it;
		struct jval v;
		const char *k;
		size_t kl;
		jval_iter(first, &it);
		while (jval_next(&it, first, &k, &kl, &v)) {
			en->keys = csp_realloc(en->keys, (en->nk + 1) * sizeof *en->keys);
			en->klen = csp_realloc(en->klen, (en->nk + 1) * sizeof *en->klen);
			en->keys[en->nk] = csp_malloc(kl + 1);
			memcpy(en->keys[en->nk], k, kl);
			en->keys[en->nk][kl] = '\0';
			en->klen[en->nk++] = kl;
		}
		en->fkey = csp_calloc(en->nk ? en->nk : 1, sizeof *en->fkey);
		en->fklen = csp_calloc(en->nk ? en->nk : 1, sizeof *en->fklen);
		for (size_t i = 0; i < en->nk; i++) {
			en->fkey[i] = en->keys[i];
			en->fklen[i] = en->klen[i];
		}
		en->nfk = en->nk;
		en->flat_ok = 1;
	}
	en->header_done = 1;
	if (en->header_claim && atomic_exchange(en->header_claim, 1))
		return;
	if (en->cols) {
		for (size_t i = 0; i < en->cols->n; i++) {
			if (i)
				jbuf_put(&h, ',');
			name.len = 0;
			codec_column_name(&name, &en->cols->paths[i]);
			csv_put(&h, name.p, name.len);
		}
	} else {
		for (size_t i = 0; i < en->nk; i++) {
			if (i)
				jbuf_put(&h, ',');
			csv_put(&h, en->keys[i], en->klen[i]);
		}
	}
	batch_add(out, h.p, h.len, 0);
	buf_free(&h);
	buf_free(&name);
}

/* Append s[0..n) as a logfmt value: bare when it can be, else quoted
 * with JSON's escapes (which Go's logfmt reads). */
static void logfmt_put(struct buf *b, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == '=' || s[i] == '"' || s[i] == 0x7f)
			break;
	if (i == n && n > 0) {
		jbuf_append(b, s, n);
		return;
	}
	json_put_string(b, s, n);
}

/* One record as a logfmt line in en->out: 0, or -1 when it is not an
 * object. */
static int logfmt_record(struct encoder *en, const struct jval *root)
{
	struct jiter it;
	struct jval v;
	const char *k;
	size_t kl;
	int first = 1;

	if (root->type != JT_OBJECT)
		return -1;
	en->out.len = 0;
	jval_iter(root, &it);
	while (jval_next(&it, root, &k, &kl, &v)) {
		if (!first)
			jbuf_put(&en->out, ' ');
		first = 0;
		jbuf_append(&en->out, k, kl);
		jbuf_put(&en->out, '=');
		if (v.type == JT_STRING) {
			logfmt_put(&en->out, v.str, v.len);
		} else {
			en->tmp.len = 0;
			json_put_value(&en->tmp, &v);
			logfmt_put(&en->out, en->tmp.p, en->tmp.len);
		}
	}
	return 0;
}

struct batch *encoder_batch(struct encoder *en, const struct batch *b, const char *name,
			    struct err *e)
{
	struct batch *out = batch_new(FRAMING_LINES, b->len + b->len / 4 + 256, b->n + 1);
	struct buf *tmp = &en->tmp;
	uint32_t i;

	out->origin = b->origin;
	for (i = 0; i < b->n; i++) {
		const struct rec *r = &b->recs[i];
		const char *p = b->data + r->off;
		struct jval root, v;

		if (en->codec == CODEC_CSV && en->header_done && csv_row_flat(en, p, r->len)) {
			batch_add(out, en->out.p, en->out.len, r->tag);
			continue;
		}
		if (en->codec == CODEC_JSON && jflat_scan(p, r->len, &en->flat) == 0) {
			/* Valid as it is: only the blanks go. */
			char *dst = batch_begin_rec(out, r->len + JDOC_PADDING);
			batch_end_rec(out, jdoc_minify(p, r->len, dst), r->tag);
			continue;
		}
		if (jdoc_parse(en->doc, p, r->len, b->cap - r->off - r->len) != 0) {
			if (b->first_rec)
				err_set(e, "%s: record %" PRIu64 " of %s is not JSON (%s), so it "
					"cannot be written as %s", name, codec_line_of(b, i),
					b->origin ? b->origin : "its input", jdoc_error(en->doc),
					codec_names[en->codec]);
			else
				err_set(e, "%s: a record is not JSON (%s), so it cannot be "
					"written as %s", name, jdoc_error(en->doc),
					codec_names[en->codec]);
			goto fail;
		}
		if (en->codec == CODEC_JSON) {
			char *dst = batch_begin_rec(out, r->len + JDOC_PADDING);
			batch_end_rec(out, jdoc_minify(p, r->len, dst), r->tag);
			continue;
		}
		jdoc_root(en->doc, &root);
		if (en->codec == CODEC_LOGFMT) {
			if (logfmt_record(en, &root) != 0) {
				err_set(e, "%s: record %" PRIu64 " of %s is not a JSON object, so it "
					"cannot be written as logfmt", name, codec_line_of(b, i),
					b->origin ? b->origin : "its input");
				goto fail;
			}
			batch_add(out, en->out.p, en->out.len, r->tag);
			continue;
		}
		if (!en->header_done)
			csv_header_row(en, out, &root);
		en->out.len = 0;
		if (en->cols) {
			for (size_t k = 0; k < en->cols->n; k++) {
				if (k)
					jbuf_put(&en->out, ',');
				jpath_eval(&en->cols->paths[k], &root, &v);
				csv_put_value(&en->out, tmp, &v);
			}
		} else {
			size_t found = 0;
			for (size_t k = 0; k < en->nk; k++) {
				if (k)
					jbuf_put(&en->out, ',');
				found += (size_t)jval_key(&root, en->keys[k], en->klen[k], &v);
				csv_put_value(&en->out, tmp, &v);
			}
			if (found < jval_size(&root) || root.type != JT_OBJECT) {
				err_set(e, "%s: record %" PRIu64 " of %s has fields the CSV header "
					"(the first record's keys) lacks; name the fields with "
					"columns: [...]", name, codec_line_of(b, i),
					b->origin ? b->origin : "its input");
				goto fail;
			}
		}
		batch_add(out, en->out.p, en->out.len, r->tag);
	}
	/* Each record one line (batch_add counted them, and a header row
	 * is no record of the input). */
	out->records = b->records;
	return out;
fail:
	/* The records before the failing one are still written. */
	out->records = i;
	return out;
}
