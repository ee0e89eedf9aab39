/* SPDX-License-Identifier: MIT */
/*
 * json.c - a recursive-descent JSON reader.  Depth is bounded so that a
 * hostile file cannot exhaust the stack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "base/json.h"
#include "base/util.h"

#define MAX_DEPTH 64

struct parser {
	const char *p, *start, *end;
	char *err;
	size_t errlen;
	int failed;
};

static void fail(struct parser *ps, const char *what)
{
	if (!ps->failed)
		snprintf(ps->err, ps->errlen, "at byte %zu: %s", (size_t)(ps->p - ps->start), what);
	ps->failed = 1;
}

static void ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' ||
				   *ps->p == '\r'))
		ps->p++;
}

static struct json *value(struct parser *ps, int depth);

static char *string(struct parser *ps)
{
	struct buf b = { 0 };

	ps->p++;   /* the opening quote */
	while (ps->p < ps->end && *ps->p != '"') {
		char c = *ps->p++;
		if (c == '\\') {
			if (ps->p >= ps->end)
				break;
			c = *ps->p++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u': {
				unsigned v = 0;
				for (int i = 0; i < 4; i++) {
					char h = ps->p < ps->end ? *ps->p++ : 0;
					v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' :
						     h >= 'a' && h <= 'f' ? h - 'a' + 10 :
						     h >= 'A' && h <= 'F' ? h - 'A' + 10 : 0);
				}
				/* Only what cspipe writes: control characters. */
				c = v < 0x80 ? (char)v : '?';
				break;
			}
			default: break;   /* \" \\ \/ */
			}
		}
		buf_putc(&b, c);
	}
	if (ps->p >= ps->end) {
		fail(ps, "unterminated string");
		buf_free(&b);
		return NULL;
	}
	ps->p++;
	buf_cstr(&b);
	return b.p ? b.p : csp_strdup("");
}

static struct json *value(struct parser *ps, int depth)
{
	struct json *j;

	ws(ps);
	if (ps->p >= ps->end) {
		fail(ps, "unexpected end");
		return NULL;
	}
	if (depth > MAX_DEPTH) {
		fail(ps, "nested too deeply");
		return NULL;
	}
	j = csp_calloc(1, sizeof *j);
	switch (*ps->p) {
	case '{':
	case '[': {
		int obj = *ps->p == '{';
		char close = obj ? '}' : ']';
		j->type = obj ? JSON_OBJECT : JSON_ARRAY;
		ps->p++;
		ws(ps);
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			return j;
		}
		for (;;) {
			char *key = NULL;
			ws(ps);
			if (obj) {
				if (ps->p >= ps->end || *ps->p != '"') {
					fail(ps, "expected a key");
					goto bad;
				}
				if (!(key = string(ps)))
					goto bad;
				ws(ps);
				if (ps->p >= ps->end || *ps->p != ':') {
					free(key);
					fail(ps, "expected ':'");
					goto bad;
				}
				ps->p++;
			}
			struct json *v = value(ps, depth + 1);
			if (!v) {
				free(key);
				goto bad;
			}
			j->items = csp_realloc(j->items, (j->n + 1) * sizeof *j->items);
			if (obj)
				j->keys = csp_realloc(j->keys, (j->n + 1) * sizeof *j->keys);
			j->items[j->n] = v;
			if (obj)
				j->keys[j->n] = key;
			j->n++;
			ws(ps);
			if (ps->p < ps->end && *ps->p == ',') {
				ps->p++;
				continue;
			}
			if (ps->p < ps->end && *ps->p == close) {
				ps->p++;
				return j;
			}
			fail(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'");
			goto bad;
		}
	}
	case '"':
		j->type = JSON_STRING;
		if (!(j->str = string(ps)))
			goto bad;
		return j;
	case 't':
	case 'f':
	case 'n': {
		static const char *const words[] = { "true", "false", "null" };
		for (int i = 0; i < 3; i++) {
			size_t l = strlen(words[i]);
			if ((size_t)(ps->end - ps->p) >= l && !memcmp(ps->p, words[i], l)) {
				ps->p += l;
				j->type = i == 2 ? JSON_NULL : JSON_BOOL;
				j->num = i == 0;
				return j;
			}
		}
		fail(ps, "unexpected word");
		goto bad;
	}
	default: {
		char tmp[64];
		size_t n = 0;
		while (ps->p + n < ps->end && n < sizeof tmp - 1 &&
		       strchr("+-0123456789.eE", ps->p[n]))
			n++;
		if (n == 0) {
			fail(ps, "unexpected character");
			goto bad;
		}
		memcpy(tmp, ps->p, n);
		tmp[n] = '\0';
		char *end;
		j->num = strtod(tmp, &end);
		if (*end) {
			fail(ps, "bad number");
			goto bad;
		}
		j->type = JSON_NUMBER;
		ps->p += n;
		return j;
	}
	}
bad:
	json_free(j);
	return NULL;
}

struct json *json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct parser ps = { text, text, text + len, err, errlen, 0 };
	struct json *j = value(&ps, 0);

	if (j) {
		ws(&ps);
		if (ps.p != ps.end) {
			fail(&ps, "text after the value");
			json_free(j);
			return NULL;
		}
	}
	return j;
}

void json_free(struct json *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++) {
		json_free(j->items[i]);
		if (j->keys)
			free(j->keys[i]);
	}
	free(j->items);
	free(j->keys);
	free(j->str);
	free(j);
}

struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key))
			return obj->items[i];
	return NULL;
}
