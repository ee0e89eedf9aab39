/* SPDX-License-Identifier: MIT */
/*
 * fuzz_records - structured records from arbitrary bytes: the input's
 * first line is a where expression and the rest a record.  The expression
 * is compiled (or refused) and, when it compiles, evaluated on the record
 * when that is JSON; the record is also decoded as one CSV row and one
 * logfmt line, and every JSON value that comes out must parse again, and
 * write back (compact) to text that parses to the same text.
 *
 * The record is also read by the flat reader, which must agree with the
 * parser on every record it takes, and, split into lines, decoded as a
 * batch of JSON Lines, which must keep and refuse the records that
 * checking each line alone keeps and refuses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "records/batch.h"
#include "records/codec.h"
#include "records/jflat.h"
#include "records/json_doc.h"
#include "records/jpath.h"
#include "records/where.h"
#include "records/wstats.h"

/* A flat record (jflat.h) must be an object the parser reads with the
 * same members, each member's bytes being its compact JSON. */
static void flat_agrees(struct jdoc *d, const char *rec, size_t n)
{
	static struct jflat f;
	struct jval root, v;
	struct buf b = { 0 };

	if (jflat_scan(rec, n, &f) != 0)
		return;
	if (jdoc_parse(d, rec, n, 0) != 0)
		abort();
	jdoc_root(d, &root);
	if (root.type != JT_OBJECT || jval_size(&root) != f.n)
		abort();
	for (size_t i = 0; i < f.n; i++) {
		int j = jflat_find(&f, f.m[i].key, f.m[i].klen);
		if (j < 0 || !jval_key(&root, f.m[i].key, f.m[i].klen, &v))
			abort();
		b.len = 0;
		json_put_value(&b, &v);
		if (b.len != f.m[j].vlen || memcmp(b.p, f.m[j].val, b.len) != 0)
			abort();
	}
	buf_free(&b);
}

static int line_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

/* rec's lines as one batch of JSON Lines: the batch decoder keeps the
 * valid records before the first invalid one and fails there, exactly as
 * parsing each line alone says. */
static void lines_agree(struct jdoc *d, const char *rec, size_t n)
{
	struct batch *b = batch_new(FRAMING_LINES, n + 1, 0), *out;
	struct decoder *dec = decoder_new(CODEC_JSON, CODEC_FAIL, NULL);
	struct wstats ws = { 0 };
	struct err e = { .set = 0 };
	uint32_t want = 0;
	int bad = 0;
	const char *p = rec, *end = rec + n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		size_t core = len && p[len - 1] == '\r' ? len - 1 : len;
		batch_add(b, p, len, b->n);
		if (!bad && !line_blank(p, core)) {
			if (jdoc_parse(d, p, core, 0) == 0)
				want++;
			else
				bad = 1;
		}
		p += len + 1;
	}
	b->records = b->n;
	out = decoder_batch(dec, b, &ws, &e);
	if ((out ? out->n : 0) != want || e.set != bad)
		abort();
	batch_free(out);
	decoder_free(dec);
}

/* Write the value of text[0..n) compact, twice through the parser: the
 * second writing must equal the first. */
static void round_trip(struct jdoc *d, const char *text, size_t n)
{
	struct buf a = { 0 }, b = { 0 };
	struct jval v;

	if (jdoc_parse(d, text, n, 0) != 0)
		abort();   /* a decoder made invalid JSON */
	jdoc_root(d, &v);
	json_put_value(&a, &v);
	if (jdoc_parse(d, a.p, a.len, 0) != 0)
		abort();   /* what we wrote does not parse */
	jdoc_root(d, &v);
	json_put_value(&b, &v);
	if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
		abort();
	buf_free(&a);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *nl = memchr(s, '\n', size);
	size_t elen = nl ? (size_t)(nl - s) : size;
	const char *rec = nl ? nl + 1 : s + size;
	size_t rlen = size - (size_t)(rec - s);
	struct jdoc *d = jdoc_new();
	char msg[256];
	size_t col = 0;
	struct where *w = where_compile(s, elen, msg, sizeof msg, &col);
	static char *const colv[] = { ".a", ".b.c", ".\"x y\"" };
	struct columns cols;
	size_t bad, at;
	const char *json, *why;
	size_t jlen;

	if (!w && (col == 0 || col > elen + 1))
		abort();   /* an error must point inside the expression */
	flat_agrees(d, rec, rlen);
	lines_agree(d, rec, rlen);
	if (jdoc_parse(d, rec, rlen, 0) == 0) {
		round_trip(d, rec, rlen);
		if (w) {
			struct where_match *m = where_match_new(w);
			struct jval root;
			jdoc_parse(d, rec, rlen, 0);
			jdoc_root(d, &root);
			(void)where_eval(w, m, &root);
			where_match_free(m);
		}
	}
	where_free(w);

	if (columns_compile(&cols, colv, 3, msg, sizeof msg, &bad, &at) != 0)
		abort();
	for (int codec = CODEC_CSV; codec <= CODEC_LOGFMT; codec++) {
		struct decoder *dec = decoder_new((enum codec)codec, CODEC_FAIL, &cols);
		if (decoder_one(dec, rec, rlen, &json, &jlen, &why) == 0)
			round_trip(d, json, jlen);
		decoder_free(dec);
	}
	columns_free(&cols);
	jdoc_free(d);
	return 0;
}
