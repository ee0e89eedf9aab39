/* SPDX-License-Identifier: MIT */
/*
 * units.c - the values a pipeline file writes, read and written back:
 * durations as Go writes them (300ms, 1h30m), sizes with binary and
 * decimal units (64KiB, 1MB), integers and booleans.  util.h declares
 * them and states their grammar.
 */
#include "base/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* See util.h.  Both forms divide by 1024 while the figure is 1024 or more,
 * up to TiB. */
void format_size_human(char *out, size_t n, uint64_t bytes, int compact)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)bytes;
	int u = 0;

	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (!compact) {
		if (u == 0)
			snprintf(out, n, "%llu B", (unsigned long long)bytes);
		else
			snprintf(out, n, "%.1f %s", d, units[u]);
	} else if (u == 0 || d == (double)(uint64_t)d) {
		snprintf(out, n, "%.0f%s", d, units[u]);
	} else {
		snprintf(out, n, "%.1f%s", d, units[u]);
	}
}
