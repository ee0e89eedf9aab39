/* SPDX-License-Identifier: MIT */
/*
 * jflat.c - the flat record reader (jflat.h): one pass over a record,
 * eight bytes at a time through string bodies.
 */
#include <string.h>

#include "records/jflat.h"

static inline int is_blank(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline size_t skip_blanks(const char *p, size_t i, size_t n)
{
	while (i < n && is_blank((unsigned char)p[i]))
		i++;
	return i;
}

/* The lowest flagged byte of word x (little- or big-endian) among those
 * that end a plain string body: '"', '\\', below 0x20, above 0x7f; 8
 * when none.  Each "has byte" term may flag bytes above a true match (a
 * borrow), never below one, so the lowest flag is exact. */
static inline unsigned word_special(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
	uint64_t m = (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | x)
		     & high;

	if (!m)
		return 8;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (unsigned)__builtin_ctzll(m) / 8;
#else
	for (unsigned k = 0; k < 8; k++)
		if ((m >> (56 - 8 * k)) & 0x80)
			return k;
	return 8;
#endif
}

/* A string whose opening quote is p[i]: the index after its closing
 * quote, or 0 when it is not a plain string. */
static size_t scan_string(const char *p, size_t i, size_t n)
{
	i++;
	for (;;) {
		unsigned char c;
		while (i + 8 <= n) {
			uint64_t x;
			unsigned k;
			memcpy(&x, p + i, 8);
			k = word_special(x);
			i += k;
			if (k < 8)
				break;
		}
		if (i >= n)
			return 0;
		c = (unsigned char)p[i];
		if (c == '"')
			return i + 1;
		if (c < 0x20 || c >= 0x80 || c == '\\')
			return 0;
		i++;
	}
}

/* A value at p[i] (not a blank): its end, with *type, or 0. */
static size_t scan_value(const char *p, size_t i, size_t n, uint8_t *type)
{
	size_t start = i, digits;

	switch (p[i]) {
	case '"':
		*type = JF_STRING;
		return scan_string(p, i, n);
	case 't':
		*type = JF_TRUE;
		return n - i >= 4 && !memcmp(p + i, "true", 4) ? i + 4 : 0;
	case 'f':
		*type = JF_FALSE;
		return n - i >= 5 && !memcmp(p + i, "false", 5) ? i + 5 : 0;
	case 'n':
		*type = JF_NULL;
		return n - i >= 4 && !memcmp(p + i, "null", 4) ? i + 4 : 0;
	default:
		break;
	}
	*type = JF_NUMBER;
	if (p[i] == '-')
		i++;
	if (i >= n || p[i] < '0' || p[i] > '9')
		return 0;
	if (p[i] == '0') {
		/* A leading zero is the whole integer part; -0 is a double. */
		if (i > start)
			return 0;
		return i + 1;
	}
	for (digits = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		digits++;
	return digits <= 18 ? i : 0;
}

/*
 * After the value, the caller insists on a blank, ',' or '}', so "01",
 * "1.5", "1e3" and "truex" are refused there, not here.
 */
int jflat_scan(const char *p, size_t n, struct jflat *f)
{
	size_t i = skip_blanks(p, 0, n);

	f->n = 0;
	if (n > UINT32_MAX || i >= n || p[i] != '{')
		return -1;
	i = skip_blanks(p, i + 1, n);
	if (i < n && p[i] == '}')
		return skip_blanks(p, i + 1, n) == n ? 0 : -1;
	for (;;) {
		struct jflat_member *m;
		size_t end;

		if (i >= n || p[i] != '"' || f->n == JFLAT_MAX)
			return -1;
		m = &f->m[f->n++];
		end = scan_string(p, i, n);
		if (!end)
			return -1;
		m->key = p + i + 1;
		m->klen = (uint32_t)(end - i - 2);
		i = skip_blanks(p, end, n);
		if (i >= n || p[i] != ':')
			return -1;
		i = skip_blanks(p, i + 1, n);
		if (i >= n)
			return -1;
		end = scan_value(p, i, n, &m->type);
		if (!end)
			return -1;
		m->val = p + i;
		m->vlen = (uint32_t)(end - i);
		i = skip_blanks(p, end, n);
		if (i >= n)
			return -1;
		if (p[i] == '}')
			return skip_blanks(p, i + 1, n) == n ? 0 : -1;
		if (p[i] != ',')
			return -1;
		i = skip_blanks(p, i + 1, n);
	}
}

int jflat_find(const struct jflat *f, const char *k, size_t klen)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->m[i].klen == klen && !memcmp(f->m[i].key, k, klen))
			return (int)i;
	return -1;
}
