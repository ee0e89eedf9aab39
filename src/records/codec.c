/* SPDX-License-Identifier: MIT */
/*
 * codec.c - the codec names, compiled CSV columns and the JSON Lines, CSV
 * and logfmt decoders (codec.h); codec_encode.c holds the encoders.
 *
 * CSV is read by our own RFC 4180 reader rather than libcsv: libcsv calls
 * back once per field and once per row and owns the row's bytes, while
 * cspipe needs a row as (offset, length) pairs over bytes it already holds
 * in a batch, turned at once into one JSON object; the reader below is a
 * single pass over the row's bytes with no callbacks and no copies but
 * the output.
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
#include "records/json_doc.h"
#include "records/jpath.h"

const char *const codec_names[] = { "text", "json", "csv", "logfmt", NULL };
const char *const codec_on_error_names[] = { "fail", "drop", "keep", NULL };

int columns_compile(struct columns *c, char *const *v, size_t n, char *msg, size_t msglen,
		    size_t *bad, size_t *at)
{
	memset(c, 0, sizeof *c);
	c->paths = csp_calloc(n ? n : 1, sizeof *c->paths);
	for (size_t i = 0; i < n; i++) {
		if (jpath_parse(&c->paths[i], v[i], strlen(v[i]), 1, NULL, msg, msglen, at)) {
			*bad = i;
			c->n = i;
			columns_free(c);
			return -1;
		}
		c->n = i + 1;
	}
	return 0;
}

void columns_free(struct columns *c)
{
	for (size_t i = 0; i < c->n; i++)
		jpath_free(&c->paths[i]);
	free(c->paths);
	memset(c, 0, sizeof *c);
}

/* A column's name in a CSV header: its path without the leading dot
 * (".a.b" -> "a.b", as mlr flattens), or the key of a one-step path. */
void codec_column_name(struct buf *b, const struct jpath *p)
{
	if (p->n == 1 && p->steps[0].key)
		jbuf_append(b, p->steps[0].key, p->steps[0].klen);
	else
		jbuf_append(b, p->text + (p->text[0] == '.' && p->text[1] ? 1 : 0),
			   strlen(p->text) - (p->text[0] == '.' && p->text[1] ? 1 : 0));
}

/* ---- decoding --------------------------------------------------------- */

struct decoder {
	enum codec codec;
	int on_error;
	const struct columns *cols;
	struct jdoc *doc;
	uint32_t *start;            /* JSON: where each record of a batch begins */
	size_t scap;
	uint64_t recno;             /* records decoded so far in this input */
	int started;                /* a batch of this input came (a BOM opens only the first) */
	/* CSV */
	int have_header;
	struct buf header;          /* field names, each as a JSON string + ':' */
	size_t *hoff;               /* offset of each name in header */
	size_t nh;
	struct buf row;             /* a row spanning lines, so far */
	uint64_t row_line;          /* line number where it began */
	struct buf out;             /* one record's JSON */
	struct buf unq;             /* a quoted field, unquoted */
	size_t *foff, *flen;        /* fields of the current row */
	size_t fcap;
};

struct decoder *decoder_new(enum codec codec, int on_error, const struct columns *cols)
{
	struct decoder *d;

	if (codec == CODEC_TEXT)
		return NULL;
	d = csp_calloc(1, sizeof *d);
	d->codec = codec;
	d->on_error = on_error;
	d->cols = cols;
	if (codec == CODEC_JSON)
		d->doc = jdoc_new();
	return d;
}

void decoder_free(struct decoder *d)
{
	if (!d)
		return;
	jdoc_free(d->doc);
	free(d->start);
	buf_free(&d->header);
	buf_free(&d->row);
	buf_free(&d->out);
	buf_free(&d->unq);
	free(d->hoff);
	free(d->foff);
	free(d->flen);
	free(d);
}

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return 0;
	return 1;
}

static void bad_record(struct err *e, const char *origin, uint64_t recno, uint64_t line,
		       const char *what, const char *why)
{
	if (line)
		err_set(e, "%s: record %" PRIu64 " (line %" PRIu64 "): %s: %s",
			origin ? origin : "input", recno, line, what, why);
	else
		err_set(e, "%s: record %" PRIu64 ": %s: %s", origin ? origin : "input",
			recno, what, why);
}

/* The batch a decoder that rewrites records fills from b: from the same
 * origin, its records numbered on from the decoder's count. */
static struct batch *decode_start(const struct decoder *d, const struct batch *b,
				  size_t bytes)
{
	struct batch *out = batch_new(FRAMING_LINES, bytes, b->n);

	out->origin = b->origin;
	out->offset = b->offset;
	out->first_rec = d->recno + 1;
	return out;
}

/* End a rewriting decode: count the dropped records (taken in, then
 * lost to on_error: drop), free the input b, and return out, or NULL when
 * it holds no record. */
static struct batch *decode_done(struct batch *out, struct batch *b, uint64_t dropped,
				 struct wstats *ws)
{
	if (dropped) {
		wstat_add(&ws->rec_in, dropped);
		wstat_add(&ws->dropped, dropped);
	}
	batch_free(b);
	out->records = out->n;
	if (out->n == 0) {
		batch_free(out);
		return NULL;
	}
	return out;
}

/*
 * JSON Lines, in place: blank lines leave, a CR before the newline is
 * dropped, each record is validated.  Kept records keep their bytes.
 *
 * The records are checked all at once when they lie one after another in
 * the batch (as a source frames them); when that check cannot vouch for
 * every one, they are checked one by one, which finds the bad record and
 * says why, as if the batch check had not been tried.
 */
static struct batch *decode_json(struct decoder *d, struct batch *b, struct wstats *ws,
				 struct err *e)
{
	uint32_t kept = 0, nonblank = 0, prev_len = 0;
	uint64_t dropped = 0;
	int adjacent = b->n > 1 && b->framing == FRAMING_LINES;
	int checked = 0;

	if (d->scap < b->n) {
		d->scap = b->n;
		d->start = csp_realloc(d->start, d->scap * sizeof *d->start);
	}
	for (uint32_t i = 0; i < b->n; i++) {
		struct rec *r = &b->recs[i];
		char *p = b->data + r->off;
		uint32_t lead = 0;
		if (i && r->off != b->recs[i - 1].off + prev_len + 1)
			adjacent = 0;
		prev_len = r->len;
		if (r->len && p[r->len - 1] == '\r' && batch_term_len(b)) {
			/* The terminator moves onto the CR: batch.h's
			 * invariant holds, and the CR is no longer data. */
			p[r->len - 1] = (char)framing_term((enum framing)b->framing);
			r->len--;
		}
		while (lead < r->len && (p[lead] == ' ' || p[lead] == '\t' || p[lead] == '\r'))
			lead++;
		if (lead < r->len)
			d->start[nonblank++] = r->off - b->recs[0].off + lead;
	}
	if (adjacent && nonblank > 1) {
		const struct rec *last = &b->recs[b->n - 1];
		size_t span = last->off + last->len - b->recs[0].off;
		checked = jdoc_check_lines(d->doc, b->data + b->recs[0].off, span,
					   b->cap - last->off - last->len, d->start, nonblank);
	}
	for (uint32_t i = 0; i < b->n; i++) {
		struct rec r = b->recs[i];
		char *p = b->data + r.off;
		if (blank(p, r.len))
			continue;
		d->recno++;
		if (!checked &&
		    jdoc_parse(d->doc, p, r.len, b->cap - r.off - r.len) != 0) {
			if (d->on_error == CODEC_DROP) {
				dropped++;
				continue;
			}
			if (d->on_error == CODEC_FAIL) {
				bad_record(e, b->origin, d->recno, codec_line_of(b, i), "invalid JSON",
					   jdoc_error(d->doc));
				break;
			}
		}
		b->recs[kept++] = r;
	}
	if (dropped) {
		wstat_add(&ws->rec_in, dropped);
		wstat_add(&ws->dropped, dropped);
	}
	b->n = kept;
	b->records = kept;
	if (kept == 0) {
		batch_free(b);
		return NULL;
	}
	return b;
}

/* Does s[0..n) close every quote it opens (counting from a row's start)? */
static int quotes_even(const char *s, size_t n, int odd)
{
	for (const char *q = memchr(s, '"', n); q; q = memchr(q + 1, '"', n - (size_t)(q + 1 - s)))
		odd = !odd;
	return !odd;
}

/*
 * Split a complete CSV row s[0..n) into fields (d->foff/flen hold each
 * field's raw bytes, quotes included).  Returns the number of fields, or
 * -1 when a quote is misplaced (text after a closing quote).
 */
static long csv_split(struct decoder *d, const char *s, size_t n)
{
	size_t nf = 0, i = 0;

	if (n && s[n - 1] == '\r')
		n--;
	for (;;) {
		size_t start = i;
		if (nf == d->fcap) {
			d->fcap = d->fcap ? d->fcap * 2 : 32;
			d->foff = csp_realloc(d->foff, d->fcap * sizeof *d->foff);
			d->flen = csp_realloc(d->flen, d->fcap * sizeof *d->flen);
		}
		if (i < n && s[i] == '"') {
			i++;
			for (;;) {
				const char *q = memchr(s + i, '"', n - i);
				if (!q)
					return -1;
				i = (size_t)(q - s) + 1;
				if (i < n && s[i] == '"') {
					i++;
					continue;
				}
				break;
			}
			if (i < n && s[i] != ',')
				return -1;
		} else {
			const char *c = memchr(s + i, ',', n - i);
			i = c ? (size_t)(c - s) : n;
		}
		d->foff[nf] = start;
		d->flen[nf] = i - start;
		nf++;
		if (i >= n)
			break;
		i++;   /* the comma */
		if (i == n) {
			/* A trailing comma: one more, empty field. */
			if (nf == d->fcap) {
				d->fcap *= 2;
				d->foff = csp_realloc(d->foff, d->fcap * sizeof *d->foff);
				d->flen = csp_realloc(d->flen, d->fcap * sizeof *d->flen);
			}
			d->foff[nf] = n;
			d->flen[nf] = 0;
			nf++;
			break;
		}
	}
	return (long)nf;
}

/* Append field f (raw, maybe quoted) as a JSON string. */
static void csv_field_json(struct buf *out, struct buf *tmp, const char *f, size_t n)
{
	if (n >= 2 && f[0] == '"') {
		/* Unquote ("" -> ") into tmp, then write that. */
		const char *s = f + 1, *end = f + n - 1;
		if (!memchr(s, '"', (size_t)(end - s))) {
			json_put_string(out, s, (size_t)(end - s));
			return;
		}
		tmp->len = 0;
		while (s < end) {
			const char *q = memchr(s, '"', (size_t)(end - s));
			size_t k = q ? (size_t)(q - s) + 1 : (size_t)(end - s);
			jbuf_append(tmp, s, k);
			s += k + (q ? 1 : 0);
		}
		json_put_string(out, tmp->p, tmp->len);
		return;
	}
	json_put_string(out, f, n);
}

/* Take a header row (fields of s). */
static void csv_header(struct decoder *d, const char *s, size_t nf)
{
	struct buf name = { 0 };

	d->header.len = 0;
	d->hoff = csp_realloc(d->hoff, (nf + 1) * sizeof *d->hoff);
	for (size_t i = 0; i < nf; i++) {
		d->hoff[i] = d->header.len;
		name.len = 0;
		csv_field_json(&name, &d->unq, s + d->foff[i], d->flen[i]);
		jbuf_append(&d->header, name.p, name.len);
		jbuf_put(&d->header, ':');
	}
	d->hoff[nf] = d->header.len;
	d->nh = nf;
	d->have_header = 1;
	buf_free(&name);
}

static void columns_header(struct decoder *d)
{
	struct buf name = { 0 };

	d->hoff = csp_realloc(d->hoff, (d->cols->n + 1) * sizeof *d->hoff);
	for (size_t i = 0; i < d->cols->n; i++) {
		d->hoff[i] = d->header.len;
		name.len = 0;
		codec_column_name(&name, &d->cols->paths[i]);
		json_put_string(&d->header, name.p, name.len);
		jbuf_put(&d->header, ':');
	}
	d->hoff[d->cols->n] = d->header.len;
	d->nh = d->cols->n;
	d->have_header = 1;
	buf_free(&name);
}

/* The row whose nf fields csv_split found in s, as a JSON object in
 * d->out. */
static void csv_object(struct decoder *d, const char *s, size_t nf)
{
	d->out.len = 0;
	jbuf_put(&d->out, '{');
	for (size_t i = 0; i < nf; i++) {
		if (i)
			jbuf_put(&d->out, ',');
		jbuf_append(&d->out, d->header.p + d->hoff[i], d->hoff[i + 1] - d->hoff[i]);
		csv_field_json(&d->out, &d->unq, s + d->foff[i], d->flen[i]);
	}
	jbuf_put(&d->out, '}');
}

/*
 * One complete CSV row s[0..n): the header, or a record appended to out.
 * Returns 1 when a record was added, 0 when none (header, blank), -1 when
 * the row is bad (e set, or counted, per on_error).
 */
static int csv_row(struct decoder *d, const char *s, size_t n, uint64_t line,
		   const char *origin, struct batch *out, uint32_t tag, struct err *e,
		   uint64_t *dropped)
{
	long nf;
	const char *why = NULL;
	char tmp[96];

	if (blank(s, n) && !(n && s[0] == '"'))
		return 0;
	nf = csv_split(d, s, n);
	if (nf < 0)
		why = "a quote inside an unquoted field, or text after a closing quote";
	if (!why && !d->have_header) {
		csv_header(d, s, (size_t)nf);
		return 0;
	}
	d->recno++;
	if (!why && (size_t)nf != d->nh) {
		snprintf(tmp, sizeof tmp, "%ld fields, the header has %zu", nf, d->nh);
		why = tmp;
	}
	if (why) {
		if (d->on_error == CODEC_DROP) {
			(*dropped)++;
			return 0;
		}
		if (d->on_error == CODEC_KEEP) {
			batch_add(out, s, n, tag);
			return 1;
		}
		bad_record(e, origin, d->recno, line, "invalid CSV", why);
		return -1;
	}
	csv_object(d, s, (size_t)nf);
	batch_add(out, d->out.p, d->out.len, tag);
	return 1;
}

static struct batch *decode_csv(struct decoder *d, struct batch *b, struct wstats *ws,
				struct err *e)
{
	struct batch *out = decode_start(d, b, b->len + b->len / 2 + 64);
	uint64_t dropped = 0;
	uint32_t tag = 0;

	if (!d->have_header && d->cols && d->cols->n)
		columns_header(d);
	for (uint32_t i = 0; i < b->n; i++) {
		const char *p = b->data + b->recs[i].off;
		size_t n = b->recs[i].len;
		int r;

		if (d->row.len || !quotes_even(p, n, 0)) {
			/* Inside quotes: the newline is data; gather lines
			 * until the quotes balance. */
			if (d->row.len == 0)
				d->row_line = codec_line_of(b, i);
			jbuf_append(&d->row, p, n);
			if (!quotes_even(d->row.p, d->row.len, 0)) {
				jbuf_put(&d->row, '\n');
				continue;
			}
			r = csv_row(d, d->row.p, d->row.len, d->row_line, b->origin, out, tag,
				    e, &dropped);
			d->row.len = 0;
		} else {
			r = csv_row(d, p, n, codec_line_of(b, i), b->origin, out, tag, e, &dropped);
		}
		if (r < 0)
			break;
		tag += (uint32_t)r;
	}
	return decode_done(out, b, dropped, ws);
}

/* ---- logfmt ---- */

static int lf_key_byte(unsigned char c)
{
	return c > ' ' && c != '=' && c != '"' && c != 0x7f;
}

/*
 * Decode the quoted logfmt value at s[0..n) (s[0] is the quote) into tmp.
 * Returns the bytes taken, or 0 when it is not closed or holds a bad
 * escape.
 */
static size_t lf_quoted(struct buf *tmp, const char *s, size_t n)
{
	size_t i = 1;

	tmp->len = 0;
	while (i < n && s[i] != '"') {
		if (s[i] != '\\') {
			jbuf_put(tmp, s[i++]);
			continue;
		}
		if (i + 1 >= n)
			return 0;
		switch (s[i + 1]) {
		case '"': case '\\': case '/': jbuf_put(tmp, s[i + 1]); break;
		case 'n': jbuf_put(tmp, '\n'); break;
		case 't': jbuf_put(tmp, '\t'); break;
		case 'r': jbuf_put(tmp, '\r'); break;
		case 'b': jbuf_put(tmp, '\b'); break;
		case 'f': jbuf_put(tmp, '\f'); break;
		case 'u': {
			unsigned u = 0;
			char c8[4];
			size_t k;
			if (i + 6 > n)
				return 0;
			for (k = 2; k < 6; k++) {
				char h = s[i + k];
				u = u * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0'
					: h >= 'a' && h <= 'f' ? h - 'a' + 10
					: h >= 'A' && h <= 'F' ? h - 'A' + 10 : 99);
				if (u > 0xffff)
					return 0;
			}
			if (u < 0x80) {
				jbuf_put(tmp, (char)u);
			} else if (u < 0x800) {
				c8[0] = (char)(0xc0 | (u >> 6));
				c8[1] = (char)(0x80 | (u & 0x3f));
				jbuf_append(tmp, c8, 2);
			} else {
				c8[0] = (char)(0xe0 | (u >> 12));
				c8[1] = (char)(0x80 | ((u >> 6) & 0x3f));
				c8[2] = (char)(0x80 | (u & 0x3f));
				jbuf_append(tmp, c8, 3);
			}
			i += 6;
			continue;
		}
		default:
			return 0;
		}
		i += 2;
	}
	return i < n ? i + 1 : 0;
}

/*
 * One logfmt line s[0..n) into d->out as a JSON object.  Returns 0, or
 * -1 with *why.
 */
static int lf_line(struct decoder *d, const char *s, size_t n, const char **why)
{
	size_t i = 0;
	int first = 1;

	if (n && s[n - 1] == '\r')
		n--;
	d->out.len = 0;
	jbuf_put(&d->out, '{');
	for (;;) {
		while (i < n && (unsigned char)s[i] <= ' ')
			i++;
		if (i >= n)
			break;
		size_t k = i;
		while (k < n && lf_key_byte((unsigned char)s[k]))
			k++;
		if (k == i) {
			*why = s[i] == '=' ? "a '=' without a key" : "a '\"' where a key should be";
			return -1;
		}
		if (!first)
			jbuf_put(&d->out, ',');
		first = 0;
		json_put_string(&d->out, s + i, k - i);
		jbuf_put(&d->out, ':');
		i = k;
		if (i >= n || s[i] != '=') {
			/* A bare key. */
			if (i < n && s[i] == '"') {
				*why = "a '\"' inside a key";
				return -1;
			}
			jbuf_append(&d->out, "true", 4);
			continue;
		}
		i++;
		if (i < n && s[i] == '"') {
			size_t used = lf_quoted(&d->unq, s + i, n - i);
			if (!used) {
				*why = "a quoted value is not closed, or holds a bad escape";
				return -1;
			}
			json_put_string(&d->out, d->unq.p, d->unq.len);
			i += used;
			if (i < n && (unsigned char)s[i] > ' ') {
				*why = "text right after a closing quote";
				return -1;
			}
			continue;
		}
		k = i;
		while (k < n && (unsigned char)s[k] > ' ') {
			if (s[k] == '=' || s[k] == '"') {
				*why = s[k] == '=' ? "a '=' inside an unquoted value"
					: "a '\"' inside an unquoted value";
				return -1;
			}
			k++;
		}
		json_put_string(&d->out, s + i, k - i);
		i = k;
	}
	jbuf_put(&d->out, '}');
	return 0;
}

static struct batch *decode_logfmt(struct decoder *d, struct batch *b, struct wstats *ws,
				   struct err *e)
{
	struct batch *out = decode_start(d, b, b->len * 2 + 64);
	uint64_t dropped = 0;

	for (uint32_t i = 0; i < b->n; i++) {
		const char *p = b->data + b->recs[i].off, *why = NULL;
		size_t n = b->recs[i].len;

		if (blank(p, n))
			continue;
		d->recno++;
		if (lf_line(d, p, n, &why) == 0) {
			batch_add(out, d->out.p, d->out.len, out->n);
			continue;
		}
		if (d->on_error == CODEC_DROP) {
			dropped++;
		} else if (d->on_error == CODEC_KEEP) {
			batch_add(out, p, n, out->n);
		} else {
			bad_record(e, b->origin, d->recno, codec_line_of(b, i), "invalid logfmt", why);
			break;
		}
	}
	return decode_done(out, b, dropped, ws);
}

/*
 * Decode one text s[0..n) (a record or a field's text) as one value of
 * the decoder's codec: JSON (checked, returned as it is), a CSV row under
 * the decoder's columns, or a logfmt line.  Returns 0 with *json and
 * *jlen (valid until the next call), or -1 with *why.
 */
int decoder_one(struct decoder *d, const char *s, size_t n, const char **json, size_t *jlen,
		const char **why)
{
	long nf;

	switch (d->codec) {
	case CODEC_JSON:
		if (jdoc_parse(d->doc, s, n, 0) != 0) {
			*why = jdoc_error(d->doc);
			return -1;
		}
		*json = s;
		*jlen = n;
		return 0;
	case CODEC_CSV:
		if (!d->have_header)
			columns_header(d);
		if (n && s[n - 1] == '\r')
			n--;
		nf = csv_split(d, s, n);
		if (nf < 0) {
			*why = "a quote inside an unquoted field, or text after a closing quote";
			return -1;
		}
		if ((size_t)nf != d->nh) {
			*why = "the number of fields is not that of the columns";
			return -1;
		}
		csv_object(d, s, (size_t)nf);
		break;
	default:
		if (lf_line(d, s, n, why) != 0)
			return -1;
		break;
	}
	*json = d->out.p;
	*jlen = d->out.len;
	return 0;
}

struct batch *decoder_batch(struct decoder *d, struct batch *b, struct wstats *ws,
			    struct err *e)
{
	if (!d->started && b->n) {
		/* A UTF-8 byte order mark opening the input (spreadsheets
		 * write one) is not part of the first field, as for mlr and
		 * jq. */
		struct rec *r = &b->recs[0];
		d->started = 1;
		if (r->len >= 3 && !memcmp(b->data + r->off, "\xef\xbb\xbf", 3)) {
			r->off += 3;
			r->len -= 3;
		}
	}
	if (d->codec == CODEC_JSON)
		return decode_json(d, b, ws, e);
	if (d->codec == CODEC_LOGFMT)
		return decode_logfmt(d, b, ws, e);
	return decode_csv(d, b, ws, e);
}

int decoder_finish(struct decoder *d, const char *origin, struct err *e)
{
	if (d->codec == CODEC_CSV && d->row.len) {
		bad_record(e, origin, d->recno + 1, d->row_line, "invalid CSV",
			   "a quoted field is not closed before the end of the input");
		return -1;
	}
	return 0;
}
