/* SPDX-License-Identifier: MIT */
/*
 * template.c - replacement and template text with captures.
 *
 * A template is compiled once into segments (literal text, a group, the
 * counter) so that expanding it is a walk over the segments with no
 * parsing and no allocation: tmpl_size says how much room the caller must
 * reserve, tmpl_expand writes into it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "records/pattern.h"
#include "records/template.h"

/* PCRE2_UNSET, without pulling pcre2.h into every user of templates. */
#define GROUP_UNSET (~(size_t)0)

enum seg_kind { SEG_TEXT, SEG_GROUP, SEG_COUNTER };

struct seg {
	enum seg_kind kind;
	uint32_t group;        /* SEG_GROUP */
	size_t off, len;       /* SEG_TEXT: bytes in t->text */
};

struct tmpl {
	struct seg *segs;
	size_t nseg;
	char *text;            /* the literal bytes of every SEG_TEXT */
	size_t textlen;
};

static int is_digit(unsigned c)
{
	return c - '0' < 10u;
}

static int is_name_start(unsigned char c)
{
	return c == '_' || (unsigned)(c | 0x20) - 'a' < 26u;
}

static int is_name_char(unsigned char c)
{
	return is_name_start(c) || is_digit(c);
}

static void add_seg(struct tmpl *t, size_t *cap, struct seg s)
{
	if (t->nseg == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		t->segs = csp_realloc(t->segs, *cap * sizeof *t->segs);
	}
	t->segs[t->nseg++] = s;
}

/* Append one literal byte, extending the last text segment when it ends
 * where the text does. */
static void add_byte(struct tmpl *t, size_t *cap, char c)
{
	t->text[t->textlen] = c;
	if (t->nseg && t->segs[t->nseg - 1].kind == SEG_TEXT &&
	    t->segs[t->nseg - 1].off + t->segs[t->nseg - 1].len == t->textlen)
		t->segs[t->nseg - 1].len++;
	else
		add_seg(t, cap, (struct seg){SEG_TEXT, 0, t->textlen, 1});
	t->textlen++;
}

/*
 * Resolve a group number written as digits: fails (-1 with a message) when
 * the pattern has no such group.
 */
static int number_ref(const struct pattern *p, unsigned long n, const char *shown,
		      char *err, size_t errlen)
{
	uint32_t have = p ? pattern_captures(p) : 0;

	if (!p) {
		snprintf(err, errlen, "group %s does not exist (there is no pattern)",
			 shown);
		return -1;
	}
	if (n > have) {
		snprintf(err, errlen, "group %s does not exist (the pattern has %u)",
			 shown, have);
		return -1;
	}
	return (int)n;
}

/*
 * Compile text[0..len) against p (NULL: no groups).  Returns NULL on error
 * with the message in err and the offset of the offending '$' in *erroff.
 * The caller owns the result (tmpl_free).
 */
struct tmpl *tmpl_compile(const char *text, size_t len, const struct pattern *p,
			  unsigned flags, char *err, size_t errlen, size_t *erroff)
{
	struct tmpl *t = csp_calloc(1, sizeof *t);
	size_t cap = 0, i = 0, at = 0;
	char tmp[64];

	t->text = csp_malloc(len + 1);
	while (i < len) {
		unsigned char c = (unsigned char)text[i];
		if (c != '$') {
			add_byte(t, &cap, (char)c);
			i++;
			continue;
		}
		at = i++;
		if (i == len) {
			snprintf(err, errlen, "'$' at the end of the text (write $$ for a literal $)");
			goto fail;
		}
		c = (unsigned char)text[i];
		if (c == '$') {
			add_byte(t, &cap, '$');
			i++;
		} else if (is_digit(c)) {
			unsigned long n = c - '0';
			i++;
			if (i < len && is_digit((unsigned char)text[i]))
				n = n * 10 + (unsigned long)(text[i++] - '0');
			snprintf(tmp, sizeof tmp, "$%lu", n);
			int g = number_ref(p, n, tmp, err, errlen);
			if (g < 0 && n >= 10 && p && n / 10 <= pattern_captures(p)) {
				snprintf(err, errlen, "group $%lu does not exist (the "
					 "pattern has %u; write ${%lu}%lu for group %lu "
					 "then '%lu')", n, pattern_captures(p), n / 10,
					 n % 10, n / 10, n % 10);
			}
			if (g < 0)
				goto fail;
			add_seg(t, &cap, (struct seg){SEG_GROUP, (uint32_t)g, 0, 0});
		} else if (c == '{' || is_name_start(c)) {
			int braced = c == '{';
			size_t ns = braced ? i + 1 : i, ne = ns;
			while (ne < len && is_name_char((unsigned char)text[ne]))
				ne++;
			size_t nl = ne - ns;
			const char *name = text + ns;
			if (braced) {
				if (ne >= len || text[ne] != '}') {
					const char *close = memchr(text + ns, '}', len - ns);
					if (!close)
						snprintf(err, errlen, "unterminated '${' (missing '}')");
					else
						snprintf(err, errlen, "bad group name '${%.*s}' "
							 "(letters, digits and '_')",
							 (int)(close - name > 40 ? 40 : close - name),
							 name);
					goto fail;
				}
				if (nl == 0) {
					snprintf(err, errlen, "empty group name '${}'");
					goto fail;
				}
				i = ne + 1;
			} else {
				i = ne;
			}
			int shown = nl > 40 ? 40 : (int)nl;
			if (is_digit((unsigned char)name[0])) {
				/* ${12}: a number, so that "${1}0" is group 1 then "0". */
				unsigned long n = 0;
				for (size_t k = 0; k < nl; k++) {
					if (!is_digit((unsigned char)name[k]) || n > 100000) {
						snprintf(err, errlen, "bad group name '${%.*s}' "
							 "(a name starts with a letter or '_')",
							 shown, name);
						goto fail;
					}
					n = n * 10 + (unsigned long)(name[k] - '0');
				}
				snprintf(tmp, sizeof tmp, "${%.*s}", shown, name);
				int g = number_ref(p, n, tmp, err, errlen);
				if (g < 0)
					goto fail;
				add_seg(t, &cap, (struct seg){SEG_GROUP, (uint32_t)g, 0, 0});
				continue;
			}
			if ((flags & TMPL_COUNTER) && nl == 1 && name[0] == 'n') {
				add_seg(t, &cap, (struct seg){SEG_COUNTER, 0, 0, 0});
				continue;
			}
			int g = p ? pattern_group(p, name, nl) : -1;
			if (g < 0) {
				snprintf(err, errlen, braced ? "unknown group '${%.*s}'%s"
							     : "unknown group '$%.*s'%s",
					 shown, name, p ? "" : " (there is no pattern)");
				goto fail;
			}
			add_seg(t, &cap, (struct seg){SEG_GROUP, (uint32_t)g, 0, 0});
		} else {
			snprintf(err, errlen, "'$' must be followed by a group number, "
				 "a name, '{' or '$' (write $$ for a literal $)");
			goto fail;
		}
	}
	return t;
fail:
	if (erroff)
		*erroff = at;
	tmpl_free(t);
	return NULL;
}

void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	free(t->segs);
	free(t->text);
	free(t);
}

/* The magnitude of v, which INT64_MIN has too. */
static uint64_t magnitude(int64_t v)
{
	return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

/* Length of v in decimal, its sign included. */
static size_t counter_len(int64_t v)
{
	uint64_t m = magnitude(v);
	size_t n = v < 0 ? 2 : 1;

	while (m >= 10) {
		m /= 10;
		n++;
	}
	return n;
}

static size_t group_len(const size_t *ov, uint32_t g)
{
	if (!ov || ov[2 * g] == GROUP_UNSET || ov[2 * g + 1] < ov[2 * g])
		return 0;
	return ov[2 * g + 1] - ov[2 * g];
}

/* The exact length tmpl_expand writes.  This function can't fail. */
size_t tmpl_size(const struct tmpl *t, const size_t *ovector, int64_t counter)
{
	size_t n = 0;

	for (size_t i = 0; i < t->nseg; i++) {
		const struct seg *s = &t->segs[i];
		switch (s->kind) {
		case SEG_TEXT: n += s->len; break;
		case SEG_GROUP: n += group_len(ovector, s->group); break;
		case SEG_COUNTER: n += counter_len(counter); break;
		}
	}
	return n;
}

/*
 * Write the expansion to out, which has tmpl_size bytes of room; a group
 * that did not take part in the match expands to nothing.  Returns the
 * length written.  No allocation; this function can't fail.
 */
size_t tmpl_expand(const struct tmpl *t, char *out, const char *subject,
		   const size_t *ovector, int64_t counter)
{
	char *w = out;

	for (size_t i = 0; i < t->nseg; i++) {
		const struct seg *s = &t->segs[i];
		switch (s->kind) {
		case SEG_TEXT:
			memcpy(w, t->text + s->off, s->len);
			w += s->len;
			break;
		case SEG_GROUP: {
			size_t n = group_len(ovector, s->group);
			if (n)
				memcpy(w, subject + ovector[2 * s->group], n);
			w += n;
			break;
		}
		case SEG_COUNTER: {
			uint64_t v = magnitude(counter);
			size_t n = counter_len(counter);
			for (size_t k = n; k > (counter < 0); k--) {
				w[k - 1] = (char)('0' + v % 10);
				v /= 10;
			}
			if (counter < 0)
				w[0] = '-';
			w += n;
			break;
		}
		}
	}
	return (size_t)(w - out);
}

int tmpl_is_literal(const struct tmpl *t)
{
	for (size_t i = 0; i < t->nseg; i++)
		if (t->segs[i].kind != SEG_TEXT)
			return 0;
	return 1;
}
