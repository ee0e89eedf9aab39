/* SPDX-License-Identifier: MIT */
/*
 * util.c - allocation, buffers, errors, diagnostics and "did you mean".
 * The parsers and formatters of the values a pipeline file writes
 * (durations, sizes, integers, booleans) are units.c; util.h declares
 * both.
 *
 * Memory comes from the runtime's allocator (csp_malloc and its family,
 * csp.h), the one out-of-memory policy of the program: the handler the
 * engine sets says so, naming the stage, removes temporary files, and the
 * process exits 1.
 */
#include "base/util.h"
#include "csp/csp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- allocation ---- */

/*
 * Copy len bytes and add a NUL, so that a scalar holding NULs stays whole
 * and can still be used as a C string.  Cannot fail (aborts on OOM).
 */
char *util_memdup(const void *p, size_t len)
{
	char *q;

	if (len == SIZE_MAX)
		csp_oom();
	q = csp_malloc(len + 1);
	if (len)
		memcpy(q, p, len);
	q[len] = '\0';
	return q;
}

/*
 * Grow a capacity to hold at least need elements of size elem, doubling so
 * that appending n elements costs O(n).  Aborts rather than overflow.
 */
void *util_grow(void *p, size_t *cap, size_t need, size_t elem)
{
	size_t c = *cap ? *cap : 8;

	if (need <= *cap)
		return p;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			csp_oom();
		c *= 2;
	}
	if (c > SIZE_MAX / elem)
		csp_oom();
	p = csp_realloc(p, c * elem);
	*cap = c;
	return p;
}

/* ---- buffers ---- */

void buf_reserve(struct buf *b, size_t extra)
{
	/* +1: buf_cstr can always terminate without another allocation */
	if (extra > SIZE_MAX - b->len - 1)
		csp_oom();
	b->p = util_grow(b->p, &b->cap, b->len + extra + 1, 1);
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_putc(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return;   /* an encoding error in a format is a programming bug */
	buf_reserve(b, (size_t)n);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

const char *buf_cstr(struct buf *b)
{
	buf_reserve(b, 0);
	b->p[b->len] = '\0';
	return b->p;
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* ---- errors ---- */

void err_vset(struct err *e, const char *fmt, va_list ap)
{
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	e->set = 1;
}

void err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(e, fmt, ap);
	va_end(ap);
}

/*
 * Prefix the message with "where: ".  A message that no longer fits is
 * truncated at the end: the place it happened matters more than the tail.
 */
void err_prefix(struct err *e, const char *fmt, ...)
{
	char old[sizeof e->msg];
	va_list ap;
	size_t n;

	memcpy(old, e->msg, sizeof old);
	old[sizeof old - 1] = '\0';
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof e->msg - n, ": %s", old);
	e->set = 1;
}

/* ---- diagnostics ---- */

static void diag_push(struct diags *d, char *msg)
{
	d->msgs = util_grow(d->msgs, &d->cap, d->n + 1, sizeof *d->msgs);
	d->msgs[d->n++] = msg;
}

/*
 * Format one entry: "FILE:LINE:COL: " for a position in the file, "FILE: "
 * for a place the program made (line 0), nothing without a file; then
 * `kind` ("" or "warning: ") and the message.
 */
void diag_vat(struct diags *d, struct pos p, const char *kind, const char *fmt,
	      va_list ap)
{
	struct buf b = {0};

	if (p.file && p.line > 0)
		buf_printf(&b, "%s:%d:%d: ", p.file, p.line, p.col);
	else if (p.file)
		buf_printf(&b, "%s: ", p.file);
	buf_printf(&b, "%s", kind);
	buf_vprintf(&b, fmt, ap);
	diag_push(d, (char *)buf_cstr(&b));
}

void diag_at(struct diags *d, struct pos p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vat(d, p, "", fmt, ap);
	va_end(ap);
}

void diag_warn_at(struct diags *d, struct pos p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vat(d, p, "warning: ", fmt, ap);
	va_end(ap);
	d->warnings++;
}

void diag_vaddf(struct diags *d, const char *where, const char *fmt, va_list ap)
{
	struct buf b = {0};

	if (where)
		buf_printf(&b, "%s: ", where);
	buf_vprintf(&b, fmt, ap);
	diag_push(d, (char *)buf_cstr(&b));
}

void diag_addf(struct diags *d, const char *where, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vaddf(d, where, fmt, ap);
	va_end(ap);
}

size_t diag_errors(const struct diags *d)
{
	return d->n - d->warnings;
}

void diag_print(const struct diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		fprintf(stderr, "cspipe: %s\n", d->msgs[i]);
}

void diags_free(struct diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->msgs[i]);
	free(d->msgs);
	d->msgs = NULL;
	d->n = d->cap = d->warnings = 0;
}

/*
 * Render len bytes of user text for a message: printable ASCII and UTF-8
 * as they are, other bytes as \n, \t, \0 or \xHH, and at most about 60
 * characters followed by "...".  out always ends in NUL.  A 1 MiB key in
 * a file becomes a readable one-line message.
 */
void util_show(char *out, size_t n, const char *s, size_t len)
{
	size_t o = 0, i, shown = 0;
	const size_t max_shown = 60;

	if (!n)
		return;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[8];
		size_t t;

		if (shown >= max_shown) {
			if (o + 4 <= n - 1) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (c == '\n')
			t = (size_t)snprintf(tmp, sizeof tmp, "\\n");
		else if (c == '\t')
			t = (size_t)snprintf(tmp, sizeof tmp, "\\t");
		else if (c == '\r')
			t = (size_t)snprintf(tmp, sizeof tmp, "\\r");
		else if (c == '\0')
			t = (size_t)snprintf(tmp, sizeof tmp, "\\0");
		else if (c < 0x20 || c == 0x7f)
			t = (size_t)snprintf(tmp, sizeof tmp, "\\x%02x", c);
		else {
			tmp[0] = (char)c;
			t = 1;
		}
		if (o + t > n - 1)
			break;
		memcpy(out + o, tmp, t);
		o += t;
		if ((c & 0xc0) != 0x80)   /* count characters, not UTF-8 bytes */
			shown++;
	}
	out[o] = '\0';
}

/* ---- "did you mean" ---- */

/*
 * Edit distance by bytes, counting a swap of two adjacent bytes as one
 * edit (optimal string alignment), since "rnu" for "run" is one slip of
 * the fingers, not two.  O(len(a) * len(b)) time, three rows of memory.
 * Cannot fail (aborts on OOM).
 */
size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, r;
	size_t *prev2, *prev, *row, *t;

	prev2 = csp_calloc(lb + 1, sizeof *prev2);
	prev = csp_calloc(lb + 1, sizeof *prev);
	row = csp_calloc(lb + 1, sizeof *row);
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t best = prev[j - 1] + (a[i - 1] != b[j - 1]);

			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			row[j] = best;
		}
		t = prev2;
		prev2 = prev;
		prev = row;
		row = t;
	}
	r = prev[lb];
	free(prev2);
	free(prev);
	free(row);
	return r;
}

/*
 * The name to suggest for a misspelt s: the first of names with the
 * smallest edit distance among those within max(1, strlen(s) / 3) edits,
 * or that s is a prefix of (or that is a prefix of s), both at least two
 * characters long; a name equal but for case wins outright.  NULL when
 * none is close.  Deterministic: ties go to the earlier name.  The
 * distance is only computed when the lengths allow a match, so a 1 MiB
 * key costs next to nothing.
 */
const char *did_you_mean(const char *s, const char *const *names, size_t n)
{
	size_t ls = strlen(s), limit = ls / 3 > 1 ? ls / 3 : 1, i;
	size_t best_d = SIZE_MAX;
	const char *best = NULL;

	if (ls == 0)
		return NULL;
	for (i = 0; i < n; i++)
		if (names[i] && strcasecmp(s, names[i]) == 0)
			return names[i];
	for (i = 0; i < n; i++) {
		size_t ln, d, diff, shorter;
		int prefix;

		if (!names[i])
			continue;
		ln = strlen(names[i]);
		shorter = ls < ln ? ls : ln;
		prefix = shorter >= 2 && strncmp(s, names[i], shorter) == 0;
		diff = ls > ln ? ls - ln : ln - ls;
		if (!prefix && diff > limit)
			continue;
		d = diff > limit ? diff : edit_distance(s, names[i]);
		if (!prefix && d > limit)
			continue;
		if (d < best_d) {
			best_d = d;
			best = names[i];
		}
	}
	return best;
}
