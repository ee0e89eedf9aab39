/* SPDX-License-Identifier: MIT */
/*
 * fuzz_records - structured records from arbitrary bytes: the input's
 * first line is a where expression and the rest a record.  The expression
 * is compiled (or refused) and, when it compiles, evaluated on the record
 * when that is JSON; the record is also decoded as one CSV row and one
 * logfmt line, and every JSON value that comes out must parse again, and
 * write back (compact) to text that parses to the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "records/codec.h"
#include "records/json_doc.h"
#include "records/jpath.h"
#include "records/where.h"

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
