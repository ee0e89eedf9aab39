/* SPDX-License-Identifier: MIT */
/*
 * expand.c - ${VAR} and ${VAR:-default} in the pipeline file's scalars,
 * from the environment, with every error placed where the user wrote it.
 * The YAML reader (spec.c) calls it on each scalar; the syntax is in
 * spec.h's contract.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/expand.h"

#define EXPAND_MAX_DEPTH 16                 /* ${A:-${B:-...}} */

size_t utf8_chars(const char *p, size_t n)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)p[i] & 0xc0) != 0x80)
			c++;
	return c;
}

static void textpos_at(const struct textpos *tp, const char *raw, size_t off,
		       int *line, int *col)
{
	size_t i, start = 0;
	int l = tp->line;

	if (!tp->exact) {
		*line = tp->line;
		*col = tp->col;
		return;
	}
	for (i = 0; i < off; i++)
		if (raw[i] == '\n') {
			l++;
			start = i + 1;
		}
	*line = l;
	*col = (start ? 1 : tp->col) + (int)utf8_chars(raw + start, off - start);
}

/*
 * Report an expansion error at raw[off].  The position is worked out only
 * here: doing it for every ${ would make a long scalar quadratic.
 */
static void expand_error(struct expand *x, const struct textpos *tp,
			 const char *raw, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void expand_error(struct expand *x, const struct textpos *tp,
			 const char *raw, size_t off, const char *fmt, ...)
{
	va_list ap;
	int line, col;

	textpos_at(tp, raw, off, &line, &col);
	va_start(ap, fmt);
	x->error(x->arg, line, col, fmt, ap);
	va_end(ap);
}

static int name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9');
}

/*
 * Find the '}' that closes a ${ whose inner text starts at i, counting
 * nested ${ (not $${, which is literal).  Returns its index or SIZE_MAX.
 */
static size_t find_close(const char *raw, size_t i, size_t end)
{
	int depth = 0;

	while (i < end) {
		if (raw[i] == '$' && i + 2 < end && raw[i + 1] == '$' &&
		    raw[i + 2] == '{') {
			i += 3;
		} else if (raw[i] == '$' && i + 1 < end && raw[i + 1] == '{') {
			depth++;
			i += 2;
		} else if (raw[i] == '}') {
			if (depth == 0)
				return i;
			depth--;
			i++;
		} else {
			i++;
		}
	}
	return SIZE_MAX;
}

/* See expand.h.  The first syntax error ends the scalar's expansion
 * because later ones would mostly be echoes of it. */
int expand_text(struct expand *x, const struct textpos *tp, const char *raw,
		size_t from, size_t to, struct buf *out, int depth)
{
	size_t i = from;
	char show[128];
	int unset = 0;

	while (i < to) {
		const char *dollar = memchr(raw + i, '$', to - i);
		size_t j, k, name_end, close, word;
		const char *val;
		int colon;
		char op;

		if (!dollar) {
			buf_append(out, raw + i, to - i);
			break;
		}
		j = (size_t)(dollar - raw);
		buf_append(out, raw + i, j - i);
		if (j + 2 < to && raw[j + 1] == '$' && raw[j + 2] == '{') {
			buf_append(out, "${", 2);
			i = j + 3;
			continue;
		}
		if (j + 1 >= to || raw[j + 1] != '{') {
			buf_putc(out, '$');
			i = j + 1;
			continue;
		}
		for (k = j + 2; k < to && name_char(raw[k]); k++)
			;
		name_end = k;
		if (k >= to) {
			expand_error(x, tp, raw, j, "unterminated '${' (add '}', or "
				     "write '$${' for a literal '${')");
			return -1;
		}
		if (name_end == j + 2) {
			expand_error(x, tp, raw, j, "missing variable name after '${' "
				     "(write ${NAME}, or '$${' for a literal '${')");
			return -1;
		}
		util_show(show, sizeof show, raw + j + 2, name_end - (j + 2));
		if (!name_start(raw[j + 2])) {
			expand_error(x, tp, raw, j, "invalid variable name '%s' (a "
				     "name starts with a letter or '_'; write '$${' "
				     "for a literal '${')", show);
			return -1;
		}
		if (raw[k] == '}') {
			close = k;
			op = '}';
			colon = 0;
			word = k;
		} else if ((raw[k] == '-' || raw[k] == '?') ||
			   (raw[k] == ':' && k + 1 < to && (raw[k + 1] == '-' || raw[k + 1] == '?'))) {
			colon = raw[k] == ':';
			op = raw[k + colon];
			word = k + colon + 1;
			close = find_close(raw, word, to);
			if (close == SIZE_MAX) {
				expand_error(x, tp, raw, j, "unterminated '${' (add "
					     "'}', or write '$${' for a literal '${')");
				return -1;
			}
		} else if (strchr("=+:", raw[k])) {
			expand_error(x, tp, raw, j, "unsupported form '${%s%c' (use "
				     "${%s}, ${%s:-default}, ${%s-default} or ${%s:?message})",
				     show, raw[k], show, show, show, show);
			return -1;
		} else {
			char c[8];

			util_show(c, sizeof c, raw + k, 1);
			expand_error(x, tp, raw, j, "invalid character '%s' in "
				     "variable name after '${%s' (a name is letters, "
				     "digits and '_')", c, show);
			return -1;
		}
		x->name.len = 0;
		buf_append(&x->name, raw + j + 2, name_end - (j + 2));
		val = getenv(buf_cstr(&x->name));
		/* With a colon, an empty value counts as unset (as in sh). */
		if (val && (*val || !colon)) {
			buf_append(out, val, strlen(val));
		} else if (op == '}') {
			expand_error(x, tp, raw, j, "environment variable "
				     "'%s' is not set", show);
			unset = 1;
		} else if (op == '?') {
			struct buf msg = { 0 };
			if (expand_text(x, tp, raw, word, close, &msg, depth + 1) < 0) {
				buf_free(&msg);
				return -1;
			}
			if (msg.len)
				expand_error(x, tp, raw, j, "%s: %s", show, buf_cstr(&msg));
			else
				expand_error(x, tp, raw, j, "environment variable "
					     "'%s' is %s", show, val ? "empty" : "not set");
			buf_free(&msg);
			unset = 1;
		} else {
			if (depth >= EXPAND_MAX_DEPTH) {
				expand_error(x, tp, raw, j, "defaults nested too "
					     "deeply (more than %d levels)",
					     EXPAND_MAX_DEPTH);
				return -1;
			}
			if (expand_text(x, tp, raw, word, close, out, depth + 1) < 0)
				return -1;
		}
		i = close + 1;
	}
	return unset ? -1 : 0;
}
