/* SPDX-License-Identifier: MIT */
/*
 * util.c - buffers, errors, diagnostics and the parsers for the values a
 * pipeline file writes (durations, sizes, integers, booleans).
 *
 * Nothing here depends on the runtime (src/csp) so that the file layer can
 * be tested and fuzzed on its own.  The out-of-memory policy is the
 * runtime's all the same: print "cspipe: out of memory" and abort.
 */
#include "base/util.h"
#include "pipeline/spec.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation ---- */

_Noreturn void util_oom(void)
{
	static const char msg[] = "cspipe: out of memory\n";

	fputs(msg, stderr);
	abort();
}

void *util_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		util_oom();
	return p;
}

void *util_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		util_oom();
	return p;
}

void *util_realloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		util_oom();
	return p;
}

char *util_strdup(const char *s)
{
	return util_memdup(s, strlen(s));
}

/*
 * Copy len bytes and add a NUL, so that a scalar holding NULs stays whole
 * and can still be used as a C string.  Cannot fail (aborts on OOM).
 */
char *util_memdup(const void *p, size_t len)
{
	char *q;

	if (len == SIZE_MAX)
		util_oom();
	q = util_malloc(len + 1);
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
			util_oom();
		c *= 2;
	}
	if (c > SIZE_MAX / elem)
		util_oom();
	p = util_realloc(p, c * elem);
	*cap = c;
	return p;
}

/* ---- buffers ---- */

void buf_reserve(struct buf *b, size_t extra)
{
	/* +1: buf_cstr can always terminate without another allocation */
	if (extra > SIZE_MAX - b->len - 1)
		util_oom();
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
 * Format one entry: "FILE:LINE:COL: " for a node with a position, "FILE: "
 * for a node made by the program (line 0), nothing for no node; then
 * `kind` ("" or "warning: ") and the message.
 */
static void diag_vnode(struct diags *d, const struct node *n, const char *kind,
		       const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void diag_vnode(struct diags *d, const struct node *n, const char *kind,
		       const char *fmt, va_list ap)
{
	struct buf b = {0};

	if (n && n->file && n->line > 0)
		buf_printf(&b, "%s:%d:%d: ", n->file, n->line, n->col);
	else if (n && n->file)
		buf_printf(&b, "%s: ", n->file);
	buf_printf(&b, "%s", kind);
	buf_vprintf(&b, fmt, ap);
	diag_push(d, (char *)buf_cstr(&b));
}

void diag_add(struct diags *d, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vnode(d, n, "", fmt, ap);
	va_end(ap);
}

void diag_warn(struct diags *d, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vnode(d, n, "warning: ", fmt, ap);
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

/* ---- value parsers ---- */

/*
 * Units of a duration, in nanoseconds.  "µs" is written with U+00B5 (micro
 * sign) or U+03BC (Greek mu), as Go accepts both.
 */
#define DURATION_TOO_LARGE "duration too large for the clock (at most 1281023h)"

static const struct {
	const char *name;
	uint64_t ns;
} duration_units[] = {
	{"ns", 1},
	{"us", 1000},
	{"\xc2\xb5s", 1000},
	{"\xce\xbcs", 1000},
	{"ms", 1000000},
	{"s", 1000000000},
	{"m", 60ull * 1000000000},
	{"h", 3600ull * 1000000000},
};

/*
 * Read a decimal number "D", "D.F", ".F" or "D." at *sp: the integer part
 * into *ip (overflow: -1), the fraction digits as *fp (starting at the
 * first fraction digit, *fn of them).  Returns 1 if any digit was read,
 * 0 if none, -1 on overflow of the integer part.
 */
static int read_decimal(const char **sp, uint64_t *ip, const char **fp,
			size_t *fn)
{
	const char *s = *sp;
	uint64_t v = 0;
	int digits = 0, over = 0;

	while (*s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			over = 1;
		else
			v = v * 10 + d;
		digits = 1;
		s++;
	}
	*fp = s;
	*fn = 0;
	if (*s == '.') {
		s++;
		*fp = s;
		while (*s >= '0' && *s <= '9') {
			s++;
			(*fn)++;
			digits = 1;
		}
	}
	*sp = s;
	*ip = v;
	if (over)
		return -1;
	return digits;
}

/*
 * floor(0.F * mult) exactly, for fraction digits f[0..n), mult <= 2^60.
 * Long division from the last digit: floor((d + floor(x)) / 10) equals
 * floor((d + x) / 10), so the nested floors lose nothing.
 */
static uint64_t fraction_of(const char *f, size_t n, uint64_t mult)
{
	uint64_t carry = 0;

	while (n--)
		carry = ((uint64_t)(f[n] - '0') * mult + carry) / 10;
	return carry;
}

/*
 * Parse a Go-style duration: a sequence of decimal numbers, each with a
 * unit (ns, us, µs, ms, s, m, h), e.g. "300ms", "1.5s", "1h30m"; "0"
 * alone is zero; at most 2^62-1 ns (1281023h, about 146 years).  Unlike Go, no sign: negative durations make no sense in
 * a pipeline file.  Returns 0 with *ns set, or -1 with a static *why.
 */
int parse_duration(const char *s, int64_t *ns, const char **why)
{
	uint64_t total = 0;
	/* A deadline is the monotonic clock (nanoseconds since boot) plus the
	 * duration, in an int64_t: half its range leaves the clock 146 years
	 * of uptime, and refuses what would wrap into the past. */
	const uint64_t max = (uint64_t)INT64_MAX / 2;

	if (!*s) {
		*why = "empty duration (e.g. 5s)";
		return -1;
	}
	if (*s == '-') {
		*why = "negative durations are not allowed";
		return -1;
	}
	if (*s == '+') {
		*why = "a duration has no sign (e.g. 5s)";
		return -1;
	}
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	while (*s) {
		uint64_t ip, unit = 0, v;
		const char *f, *u;
		size_t fn, ul, i;
		int r = read_decimal(&s, &ip, &f, &fn);

		if (r < 0) {
			*why = DURATION_TOO_LARGE;
			return -1;
		}
		if (r == 0) {
			*why = *s == ' ' ? "unexpected space (write e.g. 1h30m)"
					 : "expected a number (e.g. 5s, 300ms, 1h30m)";
			return -1;
		}
		u = s;
		while (*s && *s != '.' && !(*s >= '0' && *s <= '9') && *s != ' ')
			s++;
		ul = (size_t)(s - u);
		if (ul == 0) {
			*why = *s == ' ' ? "unexpected space (write e.g. 5s)"
					 : "missing unit (e.g. 5s)";
			return -1;
		}
		for (i = 0; i < sizeof duration_units / sizeof *duration_units; i++)
			if (strlen(duration_units[i].name) == ul &&
			    memcmp(duration_units[i].name, u, ul) == 0)
				unit = duration_units[i].ns;
		if (!unit) {
			if (ul == 1 && (*u == 'd' || *u == 'w' || *u == 'y'))
				*why = "unknown unit (days, weeks and years are not "
				       "supported: write hours, e.g. 24h)";
			else
				*why = "unknown unit (use ns, us, ms, s, m or h)";
			return -1;
		}
		if (ip > max / unit) {
			*why = DURATION_TOO_LARGE;
			return -1;
		}
		v = ip * unit + fraction_of(f, fn, unit);
		if (v > max - total) {
			*why = DURATION_TOO_LARGE;
			return -1;
		}
		total += v;
	}
	*ns = (int64_t)total;
	return 0;
}

/*
 * Size units.  The bare K, M, G, T are refused rather than guessed: some
 * tools read them as 1000s, others as 1024s.
 */
static const struct {
	const char *name;
	uint64_t mult;
} size_units[] = {
	{"", 1},
	{"B", 1},
	{"KiB", 1ull << 10},
	{"MiB", 1ull << 20},
	{"GiB", 1ull << 30},
	{"TiB", 1ull << 40},
	{"PiB", 1ull << 50},
	{"EiB", 1ull << 60},
	{"kB", 1000ull},
	{"KB", 1000ull},
	{"MB", 1000000ull},
	{"GB", 1000000000ull},
	{"TB", 1000000000000ull},
	{"PB", 1000000000000000ull},
	{"EB", 1000000000000000000ull},
};

/*
 * Parse a size: a whole or decimal number, then optionally a unit: B,
 * KiB MiB GiB TiB PiB EiB (powers of 1024), kB/KB MB GB TB PB EB (powers
 * of 1000).  A fractional result is rounded down to whole bytes ("1.1KiB"
 * is 1126); a plain byte count must be whole.  Returns 0 or -1 with a
 * static *why.
 */
int parse_size(const char *s, uint64_t *bytes, const char **why)
{
	uint64_t ip, mult = 0, frac;
	const char *f;
	size_t fn, i;
	int r;

	if (!*s) {
		*why = "empty size (e.g. 64KiB)";
		return -1;
	}
	if (*s == '-') {
		*why = "negative sizes are not allowed";
		return -1;
	}
	r = read_decimal(&s, &ip, &f, &fn);
	if (r < 0) {
		*why = "size too large";
		return -1;
	}
	if (r == 0) {
		*why = "expected a number (e.g. 4096, 64KiB, 1.5MiB)";
		return -1;
	}
	if (*s == ' ') {
		*why = "unexpected space (write e.g. 64KiB)";
		return -1;
	}
	for (i = 0; i < sizeof size_units / sizeof *size_units; i++)
		if (strcmp(size_units[i].name, s) == 0)
			mult = size_units[i].mult;
	if (!mult) {
		if (strchr("kKMGTPE", *s) && (s[1] == '\0' || strcmp(s + 1, "i") == 0))
			*why = "ambiguous unit (write KiB, MiB, GiB for powers of "
			       "1024 or KB, MB, GB for powers of 1000)";
		else
			*why = "unknown unit (use B, KiB, MiB, GiB, TiB, or KB, "
			       "MB, GB, TB)";
		return -1;
	}
	if (mult == 1) {
		for (i = 0; i < fn; i++)
			if (f[i] != '0') {
				*why = "a byte count must be a whole number";
				return -1;
			}
	}
	if (ip > UINT64_MAX / mult) {
		*why = "size too large";
		return -1;
	}
	frac = fraction_of(f, fn, mult);
	if (ip * mult > UINT64_MAX - frac) {
		*why = "size too large";
		return -1;
	}
	*bytes = ip * mult + frac;
	return 0;
}

/*
 * Parse a decimal integer with an optional sign; no spaces, no other bases
 * ("010" is ten).  Returns 0 or -1 with a static *why.
 */
int parse_int(const char *s, int64_t *v, const char **why)
{
	uint64_t mag = 0, lim;
	int neg = 0;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!*s) {
		*why = "expected an integer";
		return -1;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9') {
			*why = "expected an integer";
			return -1;
		}
		d = (unsigned)(*s - '0');
		if (mag > (lim - d) / 10) {
			*why = "integer too large";
			return -1;
		}
		mag = mag * 10 + d;
	}
	if (neg)
		*v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	else
		*v = (int64_t)mag;
	return 0;
}

/* YAML 1.1 booleans, as a user of YAML expects them; any case. */
int parse_bool(const char *s, int *v)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	size_t i;

	for (i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v = 0;
			return 0;
		}
	}
	return -1;
}

/*
 * Write ns the way parse_duration reads it back exactly: "0s", "250ms",
 * "1.5ms", "1m30s", "1h30m", "2h0.5s".  Under a second the largest unit
 * (ms, us, ns) with an exact decimal is used; from a second up, hours and
 * minutes, then seconds with up to nine decimals.  A negative ns (which
 * parse_duration never produces) is written with a leading '-'.
 */
void format_duration(char *out, size_t n, int64_t ns)
{
	struct buf b = {0};
	uint64_t v;
	const char *sign = "";

	if (ns < 0) {
		sign = "-";
		v = (uint64_t)0 - (uint64_t)ns;
	} else {
		v = (uint64_t)ns;
	}
	buf_printf(&b, "%s", sign);
	if (v == 0) {
		buf_printf(&b, "0s");
	} else if (v < 1000000000) {
		uint64_t unit = v >= 1000000 ? 1000000 : v >= 1000 ? 1000 : 1;
		const char *name = unit == 1000000 ? "ms" : unit == 1000 ? "us" : "ns";
		uint64_t whole = v / unit, frac = v % unit;
		int digits = unit == 1000000 ? 6 : unit == 1000 ? 3 : 0;

		buf_printf(&b, "%llu", (unsigned long long)whole);
		if (frac) {
			char f[16];
			int len;

			snprintf(f, sizeof f, "%0*llu", digits, (unsigned long long)frac);
			len = digits;
			while (len > 0 && f[len - 1] == '0')
				len--;
			buf_printf(&b, ".%.*s", len, f);
		}
		buf_printf(&b, "%s", name);
	} else {
		uint64_t h = v / 3600000000000ull;
		uint64_t m = v / 60000000000ull % 60;
		uint64_t sns = v % 60000000000ull;

		if (h)
			buf_printf(&b, "%lluh", (unsigned long long)h);
		if (m)
			buf_printf(&b, "%llum", (unsigned long long)m);
		if (sns) {
			uint64_t sec = sns / 1000000000, frac = sns % 1000000000;

			buf_printf(&b, "%llu", (unsigned long long)sec);
			if (frac) {
				char f[16];
				int len = 9;

				snprintf(f, sizeof f, "%09llu", (unsigned long long)frac);
				while (len > 0 && f[len - 1] == '0')
					len--;
				buf_printf(&b, ".%.*s", len, f);
			}
			buf_printf(&b, "s");
		}
	}
	snprintf(out, n, "%s", buf_cstr(&b));
	buf_free(&b);
}

/*
 * Write bytes as parse_size reads it back exactly: the largest binary unit
 * that divides it ("64KiB", "3GiB"), else plain bytes ("1000").
 */
void format_size(char *out, size_t n, uint64_t bytes)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	int i, best = -1;

	for (i = 0; i < 6; i++)
		if (bytes && bytes % (1ull << (10 * (i + 1))) == 0)
			best = i;
	if (best < 0)
		snprintf(out, n, "%llu", (unsigned long long)bytes);
	else
		snprintf(out, n, "%llu%s",
			 (unsigned long long)(bytes >> (10 * (best + 1))), units[best]);
}

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

	prev2 = util_calloc(lb + 1, sizeof *prev2);
	prev = util_calloc(lb + 1, sizeof *prev);
	row = util_calloc(lb + 1, sizeof *row);
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
