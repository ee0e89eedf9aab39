// SPDX-License-Identifier: MIT
/*
 * json_doc.cc - the JSON reader behind json_doc.h: simdjson's DOM parser,
 * one per worker, wrapped for C.  This is cspipe's only C++: it throws
 * nothing (simdjson's error-code interface) and allocates only when a
 * record is larger than every one before it.
 */
#include <cerrno>
#include <cfloat>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <simdjson.h>

#include "records/json_doc.h"

using simdjson::dom::element;
using simdjson::dom::object;
using simdjson::dom::array;

static_assert(sizeof(element) <= sizeof(((struct jval *)0)->el),
	      "jval.el holds a simdjson element");
static_assert(sizeof(object::iterator) <= sizeof(((struct jiter *)0)->pos),
	      "jiter.pos holds an object iterator");
static_assert(sizeof(array::iterator) <= sizeof(((struct jiter *)0)->pos),
	      "jiter.pos holds an array iterator");
static_assert(JDOC_PADDING >= simdjson::SIMDJSON_PADDING, "padding");

struct jdoc {
	simdjson::dom::parser parser;
	element root;
	char *scratch = nullptr;     // a padded copy, when the record has no room
	size_t scratch_cap = 0;
	char *numbers = nullptr;     // a copy with out-of-range numbers rewritten
	size_t numbers_cap = 0;
	const char *err = "no document";
};

/* Room for n bytes plus padding in *buf. */
static char *room_for(char **buf, size_t *cap, size_t n)
{
	if (*cap < n + JDOC_PADDING) {
		size_t c = (n + JDOC_PADDING) * 2;
		char *p = static_cast<char *>(std::realloc(*buf, c));
		if (!p)
			std::abort();
		*buf = p;
		*cap = c;
	}
	return *buf;
}

static char *scratch(struct jdoc *d, size_t n)
{
	return room_for(&d->scratch, &d->scratch_cap, n);
}

/*
 * Copy s[0..n) to d->numbers with every number simdjson cannot hold
 * rewritten as the double jq reads it: an integer beyond 64 bits
 * (123456789012345678901234567890 -> 1.2345678901234568e+29) and a
 * number beyond the double range (1e400 -> 1.7976931348623157e+308).
 * Strings are copied as they are.  Sets *out_n; returns the copy, or NULL
 * when nothing was rewritten (the error is then another one).
 */
static char *rewrite_numbers(struct jdoc *d, const char *s, size_t n, size_t *out_n)
{
	/* A rewritten number is at most 24 bytes, and no shorter token
	 * than "1e400" grows: five bytes become at most 24. */
	char *o = room_for(&d->numbers, &d->numbers_cap, n * 5 + 32);
	size_t k = 0;
	int changed = 0;

	for (size_t i = 0; i < n;) {
		char c = s[i];
		if (c == '"') {
			size_t j = i + 1;
			while (j < n && s[j] != '"')
				j += s[j] == '\\' ? 2 : 1;
			j = j < n ? j + 1 : n;
			std::memcpy(o + k, s + i, j - i);
			k += j - i;
			i = j;
			continue;
		}
		if (c != '-' && (c < '0' || c > '9')) {
			o[k++] = c;
			i++;
			continue;
		}
		size_t j = i + 1, digits = c != '-';
		int integer = 1;
		while (j < n && s[j] && std::strchr("0123456789.eE+-", s[j])) {
			if (s[j] >= '0' && s[j] <= '9')
				digits++;
			else
				integer = 0;
			j++;
		}
		/* A double has at most 309 integer digits: a longer token is
		 * beyond the range whatever it holds. */
		char tok[400];
		double v = c == '-' ? -DBL_MAX : DBL_MAX;
		int wide = 1;
		if (j - i < sizeof tok) {
			std::memcpy(tok, s + i, j - i);
			tok[j - i] = 0;
			errno = 0;
			char *end;
			v = std::strtod(tok, &end);
			/* Beyond 64 bits: 19 digits or more, and at or past
			 * the int64 (negative) or uint64 range as a double. */
			int big = integer && digits >= 19 &&
				  (c == '-' ? v <= -9223372036854775808.0 : v >= 18446744073709551616.0);
			wide = *end == 0 && ((errno == ERANGE && (v > 1 || v < -1)) || big);
		}
		if (wide) {
			if (v > DBL_MAX)
				v = DBL_MAX;
			if (v < -DBL_MAX)
				v = -DBL_MAX;
			k += (size_t)std::snprintf(o + k, 32, "%.17g", v);
			changed = 1;
		} else {
			std::memcpy(o + k, s + i, j - i);
			k += j - i;
		}
		i = j;
	}
	*out_n = k;
	return changed ? o : nullptr;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

extern "C" struct jdoc *jdoc_new(void)
{
	struct jdoc *d = new (std::nothrow) jdoc();
	if (!d)
		std::abort();
	return d;
}

extern "C" void jdoc_free(struct jdoc *d)
{
	if (!d)
		return;
	std::free(d->scratch);
	std::free(d->numbers);
	delete d;
}

/*
 * Parse one record.  A record with invalid UTF-8 is parsed again from a
 * copy in which each invalid byte is U+FFFD, so that bytes carried in
 * from text are read, not refused; one with a number out of simdjson's
 * range again from a copy holding the double that number reads as (jq's
 * reading: 1e400 is the largest double, a 30-digit integer a double);
 * any other error refuses the record.
 * Returns 0 or -1 (jdoc_error).  Cannot fail otherwise.
 */
extern "C" int jdoc_parse(struct jdoc *d, const char *p, size_t len, size_t room)
{
	const char *text = p;

	if (room < JDOC_PADDING) {
		char *s = scratch(d, len);
		std::memcpy(s, p, len);
		text = s;
	}
	auto r = d->parser.parse(text, len, false);
	if (r.error() == simdjson::UTF8_ERROR) {
		char *s = scratch(d, len * 3);
		size_t n = 0;
		for (size_t i = 0; i < len;) {
			size_t k = utf8_seq(reinterpret_cast<const unsigned char *>(p) + i, len - i);
			if (k == 0) {
				std::memcpy(s + n, "\xef\xbf\xbd", 3);
				n += 3;
				i++;
			} else {
				std::memcpy(s + n, p + i, k);
				n += k;
				i += k;
			}
		}
		r = d->parser.parse(s, n, false);
		text = s;
		len = n;
	}
	if (r.error() == simdjson::NUMBER_ERROR) {
		size_t n;
		const char *s = rewrite_numbers(d, text, len, &n);
		if (s)
			r = d->parser.parse(s, n, false);
	}
	if (r.error()) {
		d->err = simdjson::error_message(r.error());
		return -1;
	}
	d->root = r.value_unsafe();
	d->err = nullptr;
	return 0;
}

/*
 * One document stream over the whole text: simdjson's first stage runs
 * once over it instead of once a record, which is most of a short
 * record's cost.  The stream splits documents by its own rules; the
 * records are what it found only when each document begins exactly where
 * a record does and there are as many, so that no record holds two
 * values and no value spans records.  The last record is also checked
 * on its own: a stream does not yield a document cut short at its end.
 */
extern "C" int jdoc_check_lines(struct jdoc *d, const char *text, size_t len, size_t room,
				const uint32_t *start, size_t n)
{
	simdjson::dom::document_stream docs;
	size_t k = 0;

	if (room < JDOC_PADDING || n == 0)
		return 0;
#ifdef SIMDJSON_THREADS_ENABLED
	d->parser.threaded = false;   // the worker thread is ours; no other
#endif
	if (d->parser.parse_many(text, len, len).get(docs))
		return 0;
	for (auto it = docs.begin(); it != docs.end(); ++it) {
		if ((*it).error() || k == n || it.current_index() != start[k])
			return 0;
		k++;
	}
	if (k != n)
		return 0;
	return jdoc_parse(d, text + start[n - 1], len - start[n - 1], room) == 0;
}

extern "C" const char *jdoc_error(const struct jdoc *d)
{
	return d->err ? d->err : "no error";
}

/* Describe element e as a jval. */
static void describe(const element &e, struct jval *v)
{
	std::memset(v, 0, sizeof *v);
	std::memcpy(v->el, &e, sizeof e);
	switch (e.type()) {
	case simdjson::dom::element_type::ARRAY:
		v->type = JT_ARRAY;
		break;
	case simdjson::dom::element_type::OBJECT:
		v->type = JT_OBJECT;
		break;
	case simdjson::dom::element_type::INT64:
		v->type = JT_NUMBER;
		v->is_int = 1;
		v->i = e.get_int64().value_unsafe();
		v->num = static_cast<double>(v->i);
		break;
	case simdjson::dom::element_type::UINT64:
		v->type = JT_NUMBER;
		v->num = static_cast<double>(e.get_uint64().value_unsafe());
		break;
	case simdjson::dom::element_type::DOUBLE:
		v->type = JT_NUMBER;
		v->num = e.get_double().value_unsafe();
		break;
	case simdjson::dom::element_type::STRING: {
		std::string_view s = e.get_string().value_unsafe();
		v->type = JT_STRING;
		v->str = s.data();
		v->len = s.size();
		break;
	}
	case simdjson::dom::element_type::BOOL:
		v->type = e.get_bool().value_unsafe() ? JT_TRUE : JT_FALSE;
		break;
	case simdjson::dom::element_type::NULL_VALUE:
		v->type = JT_NULL;
		break;
	}
}

static element elem(const struct jval *v)
{
	element e;
	std::memcpy(static_cast<void *>(&e), v->el, sizeof e);
	return e;
}

extern "C" void jdoc_root(struct jdoc *d, struct jval *out)
{
	describe(d->root, out);
}

static int null_out(struct jval *out)
{
	std::memset(out, 0, sizeof *out);
	out->type = JT_NULL;
	return 0;
}

extern "C" int jval_key(const struct jval *v, const char *key, size_t klen, struct jval *out)
{
	if (v->type != JT_OBJECT)
		return null_out(out);
	object o = elem(v).get_object().value_unsafe();
	auto r = o.at_key(std::string_view(key, klen));
	if (r.error())
		return null_out(out);
	describe(r.value_unsafe(), out);
	return 1;
}

extern "C" int jval_index(const struct jval *v, int64_t index, struct jval *out)
{
	if (v->type != JT_ARRAY)
		return null_out(out);
	array a = elem(v).get_array().value_unsafe();
	if (index < 0) {
		index += static_cast<int64_t>(a.size());
		if (index < 0)
			return null_out(out);
	}
	auto r = a.at(static_cast<size_t>(index));
	if (r.error())
		return null_out(out);
	describe(r.value_unsafe(), out);
	return 1;
}

extern "C" size_t jval_size(const struct jval *v)
{
	if (v->type == JT_OBJECT)
		return elem(v).get_object().value_unsafe().size();
	if (v->type == JT_ARRAY)
		return elem(v).get_array().value_unsafe().size();
	return 0;
}

extern "C" void jval_iter(const struct jval *v, struct jiter *it)
{
	std::memset(it, 0, sizeof *it);
	if (v->type == JT_OBJECT) {
		object::iterator i = elem(v).get_object().value_unsafe().begin();
		std::memcpy(it->pos, static_cast<void *>(&i), sizeof i);
	} else if (v->type == JT_ARRAY) {
		array::iterator i = elem(v).get_array().value_unsafe().begin();
		std::memcpy(it->pos, static_cast<void *>(&i), sizeof i);
	}
}

extern "C" int jval_next(struct jiter *it, const struct jval *v, const char **key,
			 size_t *klen, struct jval *out)
{
	if (it->i >= jval_size(v))
		return 0;
	if (v->type == JT_OBJECT) {
		object::iterator i;
		std::memcpy(static_cast<void *>(&i), it->pos, sizeof i);
		std::string_view k = i.key();
		*key = k.data();
		*klen = k.size();
		describe(i.value(), out);
		++i;
		std::memcpy(it->pos, static_cast<void *>(&i), sizeof i);
	} else {
		array::iterator i;
		std::memcpy(static_cast<void *>(&i), it->pos, sizeof i);
		*key = nullptr;
		*klen = 0;
		describe(*i, out);
		++i;
		std::memcpy(it->pos, static_cast<void *>(&i), sizeof i);
	}
	it->i++;
	return 1;
}

extern "C" size_t jdoc_minify(const char *p, size_t len, char *out)
{
	size_t n = 0;
	if (simdjson::minify(p, len, out, n) != simdjson::SUCCESS)
		std::abort();   // minify fails only on bad arguments
	return n;
}
