/* SPDX-License-Identifier: MIT */
/*
 * jpath.c - jq-style paths into JSON values, and writing values as JSON
 * text (jpath.h).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "base/util.h"
#include "records/jpath.h"

static int key_start(int c)
{
	return isalpha(c) || c == '_';
}

static int key_char(int c)
{
	return isalnum(c) || c == '_';
}

/* Put code point u as UTF-8 at out; returns its length. */
static size_t utf8_put(char *out, uint32_t u)
{
	if (u < 0x80) {
		out[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		out[0] = (char)(0xc0 | (u >> 6));
		out[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	if (u < 0x10000) {
		out[0] = (char)(0xe0 | (u >> 12));
		out[1] = (char)(0x80 | ((u >> 6) & 0x3f));
		out[2] = (char)(0x80 | (u & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (u >> 18));
	out[1] = (char)(0x80 | ((u >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((u >> 6) & 0x3f));
	out[3] = (char)(0x80 | (u & 0x3f));
	return 4;
}

static int hex4(const char *s, size_t n, uint32_t *u)
{
	*u = 0;
	if (n < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)s[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		*u = *u * 16 + (uint32_t)d;
	}
	return 0;
}

/*
 * Decode the JSON string whose opening quote is s[0], into a new
 * allocation (*out, *olen).  Returns the bytes taken (quotes included), or
 * 0 with *bad at the offending offset.
 */
static size_t decode_quoted(const char *s, size_t len, char **out, size_t *olen, size_t *bad)
{
	struct buf b = { 0 };
	size_t i = 1;

	while (i < len && s[i] != '"') {
		char tmp[4];
		uint32_t u, lo;
		if (s[i] != '\\') {
			buf_putc(&b, s[i++]);
			continue;
		}
		if (i + 1 >= len)
			break;
		switch (s[i + 1]) {
		case '"': case '\\': case '/':
			buf_putc(&b, s[i + 1]);
			i += 2;
			continue;
		case 'b': buf_putc(&b, '\b'); i += 2; continue;
		case 'f': buf_putc(&b, '\f'); i += 2; continue;
		case 'n': buf_putc(&b, '\n'); i += 2; continue;
		case 'r': buf_putc(&b, '\r'); i += 2; continue;
		case 't': buf_putc(&b, '\t'); i += 2; continue;
		case 'u':
			if (hex4(s + i + 2, len - i - 2, &u)) {
				*bad = i;
				goto fail;
			}
			i += 6;
			if (u >= 0xd800 && u <= 0xdbff && i + 6 <= len && s[i] == '\\' &&
			    s[i + 1] == 'u' && !hex4(s + i + 2, len - i - 2, &lo) &&
			    lo >= 0xdc00 && lo <= 0xdfff) {
				u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			} else if (u >= 0xd800 && u <= 0xdfff) {
				u = 0xfffd;   /* a lone surrogate, as jq reads it */
			}
			buf_append(&b, tmp, utf8_put(tmp, u));
			continue;
		default:
			*bad = i;
			goto fail;
		}
	}
	if (i >= len) {
		*bad = len;
		goto fail;
	}
	buf_putc(&b, '\0');
	*out = b.p;
	*olen = b.len - 1;
	return i + 1;
fail:
	buf_free(&b);
	return 0;
}

static void add_step(struct jpath *p, char *key, size_t klen, int64_t index)
{
	p->steps = csp_realloc(p->steps, (p->n + 1) * sizeof *p->steps);
	p->steps[p->n].key = key;
	p->steps[p->n].klen = klen;
	p->steps[p->n].index = index;
	p->n++;
}

/*
 * Parse a path (jpath.h).  On error the path is freed and emptied.
 */
int jpath_parse(struct jpath *p, const char *s, size_t len, int whole,
		size_t *used, char *msg, size_t msglen, size_t *at)
{
	size_t i = 0;

	memset(p, 0, sizeof *p);
	if (len == 0 || s[0] != '.') {
		snprintf(msg, msglen, "a path starts with '.'");
		*at = 0;
		goto fail;
	}
	while (i < len) {
		if (s[i] == '.' && i + 1 < len && key_start((unsigned char)s[i + 1])) {
			size_t k = i + 1;
			while (k < len && key_char((unsigned char)s[k]))
				k++;
			char *key = csp_malloc(k - i);
			memcpy(key, s + i + 1, k - i - 1);
			key[k - i - 1] = '\0';
			add_step(p, key, k - i - 1, 0);
			i = k;
		} else if (s[i] == '.' && i + 1 < len && s[i + 1] == '"') {
			char *key;
			size_t klen, bad = 0;
			size_t n = decode_quoted(s + i + 1, len - i - 1, &key, &klen, &bad);
			if (!n) {
				snprintf(msg, msglen, "bad quoted key");
				*at = i + 1 + bad;
				goto fail;
			}
			add_step(p, key, klen, 0);
			i += 1 + n;
		} else if (s[i] == '[' || (s[i] == '.' && i + 1 < len && s[i + 1] == '[')) {
			size_t k = s[i] == '[' ? i + 1 : i + 2;
			if (i == 0 && s[i] == '[') {
				snprintf(msg, msglen, "a path starts with '.'");
				*at = 0;
				goto fail;
			}
			if (k < len && s[k] == '"') {
				char *key;
				size_t klen, bad = 0;
				size_t n = decode_quoted(s + k, len - k, &key, &klen, &bad);
				if (!n) {
					snprintf(msg, msglen, "bad quoted key");
					*at = k + bad;
					goto fail;
				}
				add_step(p, key, klen, 0);
				k += n;
			} else {
				char *end;
				char num[32];
				size_t m = 0;
				while (k + m < len && m < sizeof num - 1 &&
				       (isdigit((unsigned char)s[k + m]) || (m == 0 && s[k] == '-'))) {
					num[m] = s[k + m];
					m++;
				}
				num[m] = '\0';
				long long v = strtoll(num, &end, 10);
				if (m == 0 || *end != '\0' || !strcmp(num, "-")) {
					snprintf(msg, msglen, "expected an array index or a quoted key");
					*at = k;
					goto fail;
				}
				add_step(p, NULL, 0, (int64_t)v);
				k += m;
			}
			if (k >= len || s[k] != ']') {
				snprintf(msg, msglen, "expected ']'");
				*at = k;
				goto fail;
			}
			i = k + 1;
		} else if (s[i] == '.' && i == 0) {
			i++;    /* "." alone: the record itself */
			if (i < len && !whole)
				break;
			if (i < len) {
				snprintf(msg, msglen, "expected a key after '.'");
				*at = i;
				goto fail;
			}
		} else {
			if (!whole)
				break;
			snprintf(msg, msglen, s[i] == '.' ? "expected a key after '.'"
				 : "unexpected character in a path");
			*at = s[i] == '.' ? i + 1 : i;
			goto fail;
		}
	}
	p->text = csp_malloc(i + 1);
	memcpy(p->text, s, i);
	p->text[i] = '\0';
	if (used)
		*used = i;
	return 0;
fail:
	jpath_free(p);
	return -1;
}

void jpath_free(struct jpath *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->steps[i].key);
	free(p->steps);
	free(p->text);
	memset(p, 0, sizeof *p);
}

int jpath_eval(const struct jpath *p, const struct jval *v, struct jval *out)
{
	struct jval cur = *v;

	for (size_t i = 0; i < p->n; i++) {
		struct jval next;
		int found = p->steps[i].key
			? jval_key(&cur, p->steps[i].key, p->steps[i].klen, &next)
			: jval_index(&cur, p->steps[i].index, &next);
		if (!found) {
			*out = next;
			return 0;
		}
		cur = next;
	}
	*out = cur;
	return 1;
}

/* ---- writing ---------------------------------------------------------- */

/* Bytes a JSON string cannot hold as they are: control bytes, '"', '\\'. */
static const unsigned char must_escape[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	['"'] = 1, ['\\'] = 1,
};

/* Does the 8-byte word x hold a byte that must be escaped: below 0x20,
 * '"' or '\\'?  (Exact: the subtractions borrow only past a byte that
 * matches.) */
static inline int word_escapes(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
	uint64_t below = (x - ones * 0x20) & ~x;      /* a byte < 0x20 */
	uint64_t quote = (q - ones) & ~q;             /* a byte == '"' */
	uint64_t slash = (bs - ones) & ~bs;           /* a byte == '\\' */

	return ((below | quote | slash) & high) != 0;
}

/*
 * Append s[0..n) as a JSON string.  Runs of plain bytes are found eight
 * at a time and copied whole into room reserved once; only the bytes that
 * need an escape take the slow path.
 */
void json_put_string(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;

	if (b->len + n + 2 >= b->cap)
		buf_reserve(b, n + 2);
	b->p[b->len++] = '"';
	while (i < n) {
		size_t run = i;
		for (;;) {
			uint64_t x;
			if (run + 8 > n) {
				while (run < n && !must_escape[(unsigned char)s[run]])
					run++;
				break;
			}
			memcpy(&x, s + run, 8);
			if (word_escapes(x)) {
				while (run < n && !must_escape[(unsigned char)s[run]])
					run++;
				break;
			}
			run += 8;
		}
		if (run > i) {
			jbuf_append(b, s + i, run - i);
			i = run;
			if (i == n)
				break;
		}
		unsigned char c = (unsigned char)s[i++];
		char e[6] = { '\\', 0, '0', '0', hex[c >> 4], hex[c & 15] };
		size_t k = 2;
		switch (c) {
		case '"': e[1] = '"'; break;
		case '\\': e[1] = '\\'; break;
		case '\n': e[1] = 'n'; break;
		case '\r': e[1] = 'r'; break;
		case '\t': e[1] = 't'; break;
		case '\b': e[1] = 'b'; break;
		case '\f': e[1] = 'f'; break;
		default: e[1] = 'u'; k = 6; break;
		}
		jbuf_append(b, e, k);
	}
	jbuf_put(b, '"');
}

static void put_number(struct buf *b, const struct jval *v)
{
	char tmp[40];
	int n;

	if (v->is_int) {
		/* Integers are most numbers in logs: written by hand, not by
		 * snprintf, which costs as much as parsing the record. */
		uint64_t u = v->i < 0 ? 0 - (uint64_t)v->i : (uint64_t)v->i;
		char *e = tmp + sizeof tmp, *q = e;
		do
			*--q = (char)('0' + u % 10);
		while ((u /= 10) != 0);
		if (v->i < 0)
			*--q = '-';
		buf_append(b, q, (size_t)(e - q));
		return;
	}
	if (v->num >= 0 && !signbit(v->num) && v->num < 1.8e19 &&
	    v->num == (double)(uint64_t)v->num)
		/* In range before the cast: a double past uint64_t is undefined;
		 * -0 keeps its sign, as jq writes it. */
		n = snprintf(tmp, sizeof tmp, "%" PRIu64, (uint64_t)v->num);
	else
		/* The shortest text that reads back as the same double, as jq
		 * writes numbers: 7.77e+79, not 7.7700000000000001e+79. */
		for (int prec = 15; prec <= 17; prec++) {
			n = snprintf(tmp, sizeof tmp, "%.*g", prec, v->num);
			if (strtod(tmp, NULL) == v->num)
				break;
		}
	buf_append(b, tmp, (size_t)n);
}

void json_put_value(struct buf *b, const struct jval *v)
{
	struct jiter it;
	struct jval item;
	const char *k;
	size_t kl;
	int first = 1;

	switch (v->type) {
	case JT_NULL: buf_append(b, "null", 4); break;
	case JT_FALSE: buf_append(b, "false", 5); break;
	case JT_TRUE: buf_append(b, "true", 4); break;
	case JT_NUMBER: put_number(b, v); break;
	case JT_STRING: json_put_string(b, v->str, v->len); break;
	case JT_ARRAY:
	case JT_OBJECT:
		jbuf_put(b, v->type == JT_ARRAY ? '[' : '{');
		jval_iter(v, &it);
		while (jval_next(&it, v, &k, &kl, &item)) {
			if (!first)
				jbuf_put(b, ',');
			first = 0;
			if (v->type == JT_OBJECT) {
				json_put_string(b, k, kl);
				jbuf_put(b, ':');
			}
			json_put_value(b, &item);
		}
		jbuf_put(b, v->type == JT_ARRAY ? ']' : '}');
		break;
	}
}

void json_put_text(struct buf *b, const struct jval *v)
{
	if (v->type == JT_STRING)
		buf_append(b, v->str, v->len);
	else if (v->type != JT_NULL)
		json_put_value(b, v);
}

/* ---- field_reader ----------------------------------------------------- */

struct field_reader {
	struct jdoc *doc;
	struct buf text;
};

struct field_reader *field_reader_new(void)
{
	struct field_reader *fr = csp_calloc(1, sizeof *fr);

	fr->doc = jdoc_new();
	return fr;
}

void field_reader_free(struct field_reader *fr)
{
	if (!fr)
		return;
	jdoc_free(fr->doc);
	buf_free(&fr->text);
	free(fr);
}

int field_read(struct field_reader *fr, const struct jpath *p, const char *rec, size_t len,
	       size_t room, const char **text, size_t *tlen)
{
	struct jval root, v;

	if (jdoc_parse(fr->doc, rec, len, room) != 0)
		return -1;
	jdoc_root(fr->doc, &root);
	if (!jpath_eval(p, &root, &v) || v.type == JT_NULL)
		return 0;
	if (v.type == JT_STRING) {
		*text = v.str;
		*tlen = v.len;
		return 1;
	}
	fr->text.len = 0;
	json_put_value(&fr->text, &v);
	*text = fr->text.p ? fr->text.p : "";
	*tlen = fr->text.len;
	return 1;
}

const char *field_reader_error(const struct field_reader *fr)
{
	return jdoc_error(fr->doc);
}

int field_path(struct jpath *p, const char *s, char *msg, size_t msglen, size_t *at)
{
	size_t used = 0;

	return jpath_parse(p, s, strlen(s), 1, &used, msg, msglen, at);
}
