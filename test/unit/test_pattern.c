/* SPDX-License-Identifier: MIT */
/*
 * test_pattern.c - patterns (PCRE2 and fixed strings), the literal
 * prefilter, and templates.  Messages and offsets are asserted exactly:
 * they are what `cspipe validate` shows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records/pattern.h"
#include "records/template.h"

/* ---- helpers ---- */

static struct pattern *compile_ok(const char *src, unsigned flags)
{
	char err[256] = "";
	size_t off = 0;
	struct pattern *p = pattern_compile(src, strlen(src), flags, err, sizeof err, &off);

	if (!p)
		print_error("compile '%s': %s at %zu\n", src, err, off);
	assert_non_null(p);
	return p;
}

static void compile_fails(const char *src, unsigned flags, const char *msg, size_t at)
{
	char err[256] = "";
	size_t off = 12345;
	struct pattern *p = pattern_compile(src, strlen(src), flags, err, sizeof err, &off);

	assert_null(p);
	assert_string_equal(err, msg);
	assert_int_equal(off, at);
}

/* Match subject[0..len) from 0: the result, and the whole match in s, e. */
static int exec_n(const char *src, unsigned flags, const char *subj, size_t len,
		  size_t *s, size_t *e)
{
	struct pattern *p = compile_ok(src, flags);
	struct pattern_match *m = pattern_match_new(p);
	int r = pattern_exec(p, m, subj, len, 0);

	if (r == 1) {
		*s = pattern_ovector(m)[0];
		*e = pattern_ovector(m)[1];
	}
	pattern_match_free(m);
	pattern_free(p);
	return r;
}

static int matches(const char *src, unsigned flags, const char *subj)
{
	size_t s, e;

	return exec_n(src, flags, subj, strlen(subj), &s, &e);
}

/* ---- compile errors ---- */

static void test_compile_errors(void **state)
{
	(void)state;
	compile_fails("(abc", 0, "missing closing parenthesis", 4);
	compile_fails("a{2,1}", 0, "numbers out of order in {} quantifier", 5);
	compile_fails("[a", 0, "missing terminating ] for character class", 2);
	compile_fails("a)", 0, "unmatched closing parenthesis", 1);
	compile_fails("\\", 0, "\\ at end of pattern", 1);
	/* Patterns match bytes: UTF and UCP modes are refused. */
	compile_fails("(*UTF)x", 0, "using UTF is disabled by the application", 6);
	compile_fails("(*UCP)x", 0, "using UCP is disabled by the application", 6);
}

static void test_fixed_never_fails(void **state)
{
	(void)state;
	struct pattern *p = compile_ok("(abc", PAT_FIXED);
	assert_int_equal(pattern_captures(p), 0);
	assert_int_equal(pattern_group(p, "x", 1), -1);
	assert_string_equal(pattern_source(p), "(abc");
	pattern_free(p);
}

/* ---- matching ---- */

static void test_match_basic(void **state)
{
	size_t s = 0, e = 0;

	(void)state;
	assert_int_equal(exec_n("b+", 0, "abbbc", 5, &s, &e), 1);
	assert_int_equal(s, 1);
	assert_int_equal(e, 4);
	assert_int_equal(matches("x", 0, "abc"), 0);
	assert_int_equal(matches("^abc$", 0, "abc"), 1);
	assert_int_equal(matches("^bc", 0, "abc"), 0);
	/* Empty subject, NULL subject. */
	assert_int_equal(matches("^$", 0, ""), 1);
	struct pattern *p = compile_ok("^$", 0);
	struct pattern_match *m = pattern_match_new(p);
	assert_int_equal(pattern_exec(p, m, NULL, 0, 0), 1);
	pattern_match_free(m);
	pattern_free(p);
}

static void test_match_groups(void **state)
{
	(void)state;
	struct pattern *p = compile_ok("(?<user>\\w+)@(\\w+)(x)?", 0);
	struct pattern_match *m = pattern_match_new(p);

	assert_int_equal(pattern_captures(p), 3);
	assert_int_equal(pattern_group(p, "user", 4), 1);
	assert_int_equal(pattern_group(p, "userx", 4), 1);   /* length counts */
	assert_int_equal(pattern_group(p, "nope", 4), -1);
	assert_int_equal(pattern_group(p, "", 0), -1);
	assert_int_equal(pattern_exec(p, m, " bob@host ", 10, 0), 1);
	const size_t *ov = pattern_ovector(m);
	assert_int_equal(ov[0], 1);
	assert_int_equal(ov[1], 9);
	assert_int_equal(ov[2], 1);
	assert_int_equal(ov[3], 4);
	assert_int_equal(ov[4], 5);
	assert_int_equal(ov[5], 9);
	assert_true(ov[6] == ~(size_t)0);  /* did not take part */
	pattern_match_free(m);
	pattern_free(p);
}

static void test_match_start_and_notempty(void **state)
{
	(void)state;
	struct pattern *p = compile_ok("a*", 0);
	struct pattern_match *m = pattern_match_new(p);

	assert_int_equal(pattern_exec(p, m, "baa", 3, 1), 1);
	assert_int_equal(pattern_ovector(m)[0], 1);
	assert_int_equal(pattern_ovector(m)[1], 3);
	/* At 3 only an empty match is possible: refused at the start. */
	assert_int_equal(pattern_exec_flags(p, m, "baa", 3, 3, PAT_NOTEMPTY_ATSTART), 0);
	assert_int_equal(pattern_exec_flags(p, m, "baab", 4, 3, PAT_NOTEMPTY_ATSTART), 1);
	assert_int_equal(pattern_ovector(m)[0], 4);
	assert_int_equal(pattern_exec(p, m, "baa", 3, 4), PAT_ERROR);
	assert_string_equal(pattern_errtext(m),
			    "start offset 4 is past the end of the subject (3)");
	/* Lookbehind sees bytes before start. */
	pattern_match_free(m);
	pattern_free(p);
	p = compile_ok("(?<=a)b", 0);
	m = pattern_match_new(p);
	assert_int_equal(pattern_exec(p, m, "ab", 2, 1), 1);
	pattern_match_free(m);
	pattern_free(p);
}

static void test_match_bytes(void **state)
{
	size_t s = 0, e = 0;

	(void)state;
	/* Invalid UTF-8 and NULs are ordinary bytes. */
	assert_int_equal(exec_n("\\xff\\x00z", 0, "a\xff\0z", 4, &s, &e), 1);
	assert_int_equal(s, 1);
	assert_int_equal(e, 4);
	assert_int_equal(exec_n("a.c", 0, "a\0c", 3, &s, &e), 1);
	assert_int_equal(exec_n("^.{3}$", 0, "\xc3\xa9x", 3, &s, &e), 1);
	/* A pattern with a NUL byte in it. */
	struct pattern *p = pattern_compile("a\0b", 3, 0, NULL, 0, NULL);
	struct pattern_match *m = pattern_match_new(p);
	assert_int_equal(pattern_exec(p, m, "xa\0b", 4, 0), 1);
	assert_int_equal(pattern_exec(p, m, "xab", 3, 0), 0);
	pattern_match_free(m);
	pattern_free(p);
}

static void test_ignore_case(void **state)
{
	(void)state;
	assert_int_equal(matches("error", PAT_ICASE, "An ERROR here"), 1);
	assert_int_equal(matches("error", 0, "An ERROR here"), 0);
	assert_int_equal(matches("(?i)error", 0, "An ErRoR here"), 1);
	assert_int_equal(matches("a(?i)b", 0, "aB"), 1);
	assert_int_equal(matches("a(?i)b", 0, "AB"), 0);
	/* ASCII folding only: bytes from 0x80 up are not letters. */
	assert_int_equal(matches("\xe9", PAT_ICASE, "\xc9"), 0);
	assert_int_equal(matches("\xe9", PAT_ICASE, "\xe9"), 1);
	/* '@' and '`' differ by 0x20 but are not a case pair. */
	assert_int_equal(matches("@", PAT_ICASE, "`"), 0);
}

static void test_fixed(void **state)
{
	size_t s = 0, e = 0;

	(void)state;
	assert_int_equal(exec_n("a.c", PAT_FIXED, "abc a.c", 7, &s, &e), 1);
	assert_int_equal(s, 4);
	assert_int_equal(e, 7);
	assert_int_equal(matches("(x", PAT_FIXED, "a(x"), 1);
	assert_int_equal(matches("ERROR", PAT_FIXED, "error"), 0);
	assert_int_equal(matches("ERROR", PAT_FIXED | PAT_ICASE, "an error"), 1);
	assert_int_equal(matches("Err@", PAT_FIXED | PAT_ICASE, "eRR`"), 0);
	/* NUL bytes in pattern and subject. */
	struct pattern *p = pattern_compile("b\0c", 3, PAT_FIXED, NULL, 0, NULL);
	struct pattern_match *m = pattern_match_new(p);
	assert_int_equal(pattern_exec(p, m, "ab\0cd", 5, 0), 1);
	assert_int_equal(pattern_ovector(m)[0], 1);
	assert_int_equal(pattern_ovector(m)[1], 4);
	assert_int_equal(pattern_exec(p, m, "ab\0c", 4, 2), 0);
	assert_int_equal(pattern_exec(p, m, "abc", 3, 0), 0);
	/* It holds a NUL: no batch-wide prefilter. */
	assert_int_equal(pattern_scan_kind(p), PAT_SCAN_NONE);
	pattern_match_free(m);
	pattern_free(p);
	p = pattern_compile("B\0C", 3, PAT_FIXED | PAT_ICASE, NULL, 0, NULL);
	m = pattern_match_new(p);
	assert_int_equal(pattern_exec(p, m, "ab\0cd", 5, 0), 1);
	assert_int_equal(pattern_ovector(m)[0], 1);
	pattern_match_free(m);
	pattern_free(p);
	/* The empty string matches everywhere. */
	p = compile_ok("", PAT_FIXED);
	m = pattern_match_new(p);
	assert_int_equal(pattern_exec(p, m, "ab", 2, 1), 1);
	assert_int_equal(pattern_ovector(m)[0], 1);
	assert_int_equal(pattern_ovector(m)[1], 1);
	assert_int_equal(pattern_exec_flags(p, m, "ab", 2, 1, PAT_NOTEMPTY_ATSTART), 1);
	assert_int_equal(pattern_ovector(m)[0], 2);
	assert_int_equal(pattern_exec_flags(p, m, "ab", 2, 2, PAT_NOTEMPTY_ATSTART), 0);
	pattern_match_free(m);
	pattern_free(p);
	/* A long literal (beyond the bytes the vector search compares). */
	char big[300], subj[1000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)('a' + i % 7);
	memset(subj, 'a', sizeof subj);
	memcpy(subj + 650, big, sizeof big);
	p = pattern_compile(big, sizeof big, PAT_FIXED, NULL, 0, NULL);
	m = pattern_match_new(p);
	assert_int_equal(pattern_exec(p, m, subj, sizeof subj, 0), 1);
	assert_int_equal(pattern_ovector(m)[0], 650);
	assert_int_equal(pattern_exec(p, m, subj, 949, 0), 0);
	pattern_match_free(m);
	pattern_free(p);
}

static void test_limits(void **state)
{
	(void)state;
	size_t n = 100000;
	char *s = malloc(n + 1);
	memset(s, 'a', n);
	s[n] = 'b';

	/* Catastrophic backtracking gives up instead of hanging. */
	struct pattern *p = compile_ok("(a+)+$", 0);
	struct pattern_match *m = pattern_match_new(p);
	assert_int_equal(pattern_exec(p, m, s, n + 1, 0), PAT_LIMIT);
	assert_true(strlen(pattern_errtext(m)) > 0);
	pattern_match_free(m);
	pattern_free(p);

	p = compile_ok("(a|aa)+$", 0);
	m = pattern_match_new(p);
	assert_int_equal(pattern_exec(p, m, s, n + 1, 0), PAT_LIMIT);
	pattern_match_free(m);
	pattern_free(p);

	/* A small match limit is reported as such. */
	p = compile_ok("(a+)+$", 0);
	pattern_set_limits(p, 1000, 100);
	m = pattern_match_new(p);
	assert_int_equal(pattern_exec(p, m, s + n - 40, 41, 0), PAT_LIMIT);
	assert_string_equal(pattern_errtext(m), "match limit exceeded");
	pattern_match_free(m);
	pattern_free(p);
	free(s);
}

/* ---- the prefilter ---- */

static int scan_kind_of(const char *src, unsigned flags)
{
	struct pattern *p = compile_ok(src, flags);
	int k = pattern_scan_kind(p);

	pattern_free(p);
	return k;
}

static void test_scan_kinds(void **state)
{
	(void)state;
	assert_int_equal(scan_kind_of("(?i)error|fail(ed|ure)?|denied", 0), PAT_SCAN_EXACT);
	assert_int_equal(scan_kind_of("error", PAT_ICASE), PAT_SCAN_EXACT);
	assert_int_equal(scan_kind_of("(ab)?abc", 0), PAT_SCAN_EXACT);
	assert_int_equal(scan_kind_of("a\\.b", 0), PAT_SCAN_EXACT);
	assert_int_equal(scan_kind_of("plain", PAT_FIXED), PAT_SCAN_EXACT);
	/* Needs a literal, but more than the literal decides. */
	assert_int_equal(scan_kind_of("^\\d+ ERROR", 0), PAT_SCAN_NEEDED);
	assert_int_equal(scan_kind_of("foo(bar|baz)qux", 0), PAT_SCAN_NEEDED);
	assert_int_equal(scan_kind_of("(abc)?+abcd", 0), PAT_SCAN_NEEDED);
	assert_int_equal(scan_kind_of("(?>abc|abd)", 0), PAT_SCAN_NEEDED);
	assert_int_equal(scan_kind_of("fail(?i)ure", 0), PAT_SCAN_NEEDED);
	assert_int_equal(scan_kind_of("(?=abc)abd", 0), PAT_SCAN_NEEDED);
	assert_int_equal(scan_kind_of("\\bword\\b", 0), PAT_SCAN_NEEDED);
	/* Regression: PCRE2 10.42 treats this as anchored and misses "xAab",
	 * so an exact verdict from the literal alone would disagree with it. */
	assert_int_equal(scan_kind_of("(a|(B{0}\\A)+){0}Aab", 0), PAT_SCAN_NEEDED);
	assert_int_equal(scan_kind_of("error.*", 0), PAT_SCAN_NEEDED);
	/* Nothing usable, or syntax outside the model. */
	assert_int_equal(scan_kind_of("(a+)+$", 0), PAT_SCAN_NONE);
	assert_int_equal(scan_kind_of("foo|", 0), PAT_SCAN_NONE);
	assert_int_equal(scan_kind_of("x*", 0), PAT_SCAN_NONE);
	assert_int_equal(scan_kind_of("", 0), PAT_SCAN_NONE);
	assert_int_equal(scan_kind_of("\\Qabc\\E", 0), PAT_SCAN_NONE);
	assert_int_equal(scan_kind_of("abc(?#x)", 0), PAT_SCAN_NONE);
	assert_int_equal(scan_kind_of("error(?x) ", 0), PAT_SCAN_NONE);
	assert_int_equal(scan_kind_of("abc(*SKIP)", 0), PAT_SCAN_NONE);
	assert_int_equal(scan_kind_of("[[:alpha:]]abc", 0), PAT_SCAN_NONE);
	assert_int_equal(scan_kind_of("(abc)\\1", 0), PAT_SCAN_NONE);
	assert_int_equal(scan_kind_of("a{,3}bcd", 0), PAT_SCAN_NONE);
	/* \c] is one escape: the class runs on to the last ']'. */
	assert_int_equal(scan_kind_of("[\\c]abc[x]", 0), PAT_SCAN_NONE);
	assert_int_equal(matches("[\\c]abc[x]", 0, "a"), 1);
	assert_int_equal(scan_kind_of("a\nb", PAT_FIXED), PAT_SCAN_NONE);
}

/* A small deterministic generator (xorshift). */
static uint64_t rng_state = 88172645463325252u;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Text made of words that the patterns below look for, in mixed case,
 * with blanks, punctuation, CR, NUL and high bytes between them. */
static size_t gen_subject(char *out, size_t max)
{
	static const char *const words[] = {
		"error", "ERROR", "Error", "fail", "FAILED", "failure", "denied",
		"abc", "abd", "ab", "abcd", "x", "yy", "foo", "bar", "baz", "qux",
		"12", "3", "a.b", "\r", " ", "  ", "\t", ",", "=", "\xe9", "\xc9",
		"\0", "session", "opened", "closed", "user", "root", "kernel",
		"(", ")", "\\", "[", "]", "word", "WORD",
	};
	size_t n = 0, want = rnd() % max;

	while (n < want) {
		const char *w = words[rnd() % (sizeof words / sizeof *words)];
		size_t l = w[0] ? strlen(w) : 1;
		if (n + l > want)
			break;
		memcpy(out + n, w, l);
		n += l;
	}
	return n;
}

/* The prefilter's verdict agrees with PCRE2 on every subject (a subject
 * without a hit never matches; with an exact prefilter a hit always
 * does), and the scan only reports hits that lie inside the subject. */
static void test_scan_agrees(void **state)
{
	static const char *const pats[] = {
		"(?i)error|fail(ed|ure)?|denied", "error", "ERROR|fail", "(ab)?abc",
		"abc?d", "ab+cd", "x{2}yyy", "(?i)user\\s+root", "session (opened|closed)",
		"foo(bar|baz)qux", "(?:foo|bar)baz", "(abc)?+abcd", "(?>abc|abd)d",
		"fail(?i)ure", "(?=abc)ab", "\\bword\\b", "(?i)\\bword\\b", "a\\.b",
		"^abc", "abc$", "\\Aerror", "error\\z", "(?<=x)abc", "(?<!a)bd",
		"(?i:err)or", "(?i)e\\xe9|\xc9rr", "\\(abc\\)", "denied\\r",
		"(?|(abc)|(abd))", "(?<n>foo)|(?'m'bar)|(?P<o>baz)", "err(or)*",
		"er{2}or", "(er){1,}ror", "(ERROR)?fail", "fail(ed)??", "[a-c]bc",
		"(?s)ab.d", "(?m)^abc$", "e.r.o.r", "(?n)(abc)d",
		"(a|(B{0}\\A)+){0}Aab", "(ab|(b{0}\\A)+){0}abc", "error.*",
	};
	char subj[200];

	(void)state;
	for (size_t k = 0; k < sizeof pats / sizeof *pats; k++) {
		for (unsigned flags = 0; flags <= PAT_ICASE; flags += PAT_ICASE) {
			struct pattern *p = compile_ok(pats[k], flags);
			struct pattern_match *m = pattern_match_new(p);
			int kind = pattern_scan_kind(p);
			for (int t = 0; t < 3000 && kind != PAT_SCAN_NONE; t++) {
				size_t len = gen_subject(subj, sizeof subj);
				const char *h = pattern_scan(p, subj, len);
				int r = pattern_exec(p, m, subj, len, 0);
				assert_true(r >= 0);
				if (!h && r) {
					print_error("'%s': a match without a hit\n", pats[k]);
					fail();
				}
				if (h && kind == PAT_SCAN_EXACT && !r) {
					print_error("'%s': an exact hit without a match\n", pats[k]);
					fail();
				}
				assert_true(!h || (h >= subj && h < subj + len));
			}
			pattern_match_free(m);
			pattern_free(p);
		}
	}
}

/* The literal search finds the first occurrence, wherever it lies
 * (vector body, tail), against a naive search. */
static void test_scan_positions(void **state)
{
	char subj[300], lit[80];

	(void)state;
	for (int t = 0; t < 20000; t++) {
		int icase = (int)(rnd() % 2);
		size_t ll = 1 + rnd() % (t % 10 == 0 ? 70 : 5);
		for (size_t i = 0; i < ll; i++)
			lit[i] = "aAbB\0\n"[rnd() % (t % 3 ? 4 : 6)];
		size_t len = rnd() % sizeof subj;
		for (size_t i = 0; i < len; i++)
			subj[i] = "aAbBc"[rnd() % 5];
		/* Plant the literal sometimes, near the end often. */
		if (len >= ll && rnd() % 2) {
			size_t at = rnd() % 2 ? len - ll - rnd() % (len - ll + 1) / 8
					      : rnd() % (len - ll + 1);
			memcpy(subj + at, lit, ll);
		}
		struct pattern *p = pattern_compile(lit, ll, PAT_FIXED | (icase ? PAT_ICASE : 0),
						    NULL, 0, NULL);
		struct pattern_match *m = pattern_match_new(p);
		long want = -1;
		for (size_t i = 0; i + ll <= len && want < 0; i++) {
			size_t j = 0;
			for (; j < ll; j++) {
				unsigned char a = (unsigned char)subj[i + j], b = (unsigned char)lit[j];
				if (icase && (unsigned)a - 'A' < 26u)
					a |= 0x20;
				if (icase && (unsigned)b - 'A' < 26u)
					b |= 0x20;
				if (a != b)
					break;
			}
			if (j == ll)
				want = (long)i;
		}
		int r = pattern_exec(p, m, subj, len, 0);
		assert_int_equal(r, want >= 0);
		if (r)
			assert_int_equal(pattern_ovector(m)[0], (size_t)want);
		pattern_match_free(m);
		pattern_free(p);
	}
}

/* ---- templates ---- */

static char *expand(const char *pat, const char *text, unsigned flags,
		    const char *subj, int64_t counter)
{
	char err[256] = "";
	size_t off = 0;
	struct pattern *p = pat ? compile_ok(pat, 0) : NULL;
	struct pattern_match *m = p ? pattern_match_new(p) : NULL;
	struct tmpl *t = tmpl_compile(text, strlen(text), p, flags, err, sizeof err, &off);
	const size_t *ov = NULL;

	if (!t)
		print_error("template '%s': %s at %zu\n", text, err, off);
	assert_non_null(t);
	if (p) {
		assert_int_equal(pattern_exec(p, m, subj, strlen(subj), 0), 1);
		ov = pattern_ovector(m);
	}
	size_t n = tmpl_size(t, ov, counter);
	char *out = malloc(n + 1);
	assert_int_equal(tmpl_expand(t, out, subj, ov, counter), n);
	out[n] = '\0';
	tmpl_free(t);
	pattern_match_free(m);
	pattern_free(p);
	return out;
}

static void expands(const char *pat, const char *text, unsigned flags,
		    const char *subj, int64_t counter, const char *want)
{
	char *got = expand(pat, text, flags, subj, counter);

	assert_string_equal(got, want);
	free(got);
}

static void tmpl_fails(const char *pat, const char *text, unsigned flags,
		       const char *msg, size_t at)
{
	char err[256] = "";
	size_t off = 999;
	struct pattern *p = pat ? compile_ok(pat, 0) : NULL;
	struct tmpl *t = tmpl_compile(text, strlen(text), p, flags, err, sizeof err, &off);

	assert_null(t);
	assert_string_equal(err, msg);
	assert_int_equal(off, at);
	pattern_free(p);
}

static void test_template_syntax(void **state)
{
	const char *pat = "(?<user>\\w+)@(?<host>\\w+)";

	(void)state;
	expands(pat, "$2 <- $1", 0, "bob@box", 0, "box <- bob");
	expands(pat, "[$0]", 0, "x bob@box y", 0, "[bob@box]");
	expands(pat, "$user at $host!", 0, "bob@box", 0, "bob at box!");
	expands(pat, "${user}name", 0, "bob@box", 0, "bobname");
	expands(pat, "${1}0", 0, "bob@box", 0, "bob0");
	expands(pat, "$$1 costs $$", 0, "bob@box", 0, "$1 costs $");
	expands(pat, "plain", 0, "bob@box", 0, "plain");
	expands(pat, "", 0, "bob@box", 0, "");
	/* $user_x is one name; a digit after a number is a second digit. */
	expands("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)", "$12-$1", 0, "abcdefghijkl", 0, "l-a");
	/* A group that did not take part is empty. */
	expands("(a)|(b)", "<$1|$2>", 0, "b", 0, "<|b>");
	/* NUL bytes in the subject are copied. */
	struct pattern *p = compile_ok("(x.y)", 0);
	struct pattern_match *m = pattern_match_new(p);
	struct tmpl *t = tmpl_compile("<$1>", 4, p, 0, NULL, 0, NULL);
	char out[16];
	assert_int_equal(pattern_exec(p, m, "ax\0yb", 5, 0), 1);
	assert_int_equal(tmpl_size(t, pattern_ovector(m), 0), 5);
	assert_int_equal(tmpl_expand(t, out, "ax\0yb", pattern_ovector(m), 0), 5);
	assert_memory_equal(out, "<x\0y>", 5);
	tmpl_free(t);
	pattern_match_free(m);
	pattern_free(p);
	/* The counter. */
	expands(NULL, "line $n", TMPL_COUNTER, "", 0, "line 0");
	expands(NULL, "$n$n", TMPL_COUNTER, "", INT64_MAX,
		"92233720368547758079223372036854775807");
	expands(NULL, "$n", TMPL_COUNTER, "", INT64_MIN, "-9223372036854775808");
	expands(NULL, "[$n]", TMPL_COUNTER, "", -7, "[-7]");
	expands(NULL, "$n", TMPL_COUNTER, "", 0, "0");
	expands(NULL, "${n}th", TMPL_COUNTER, "", 4, "4th");
	expands(NULL, "$$n", TMPL_COUNTER, "", 4, "$n");
}

static void test_template_errors(void **state)
{
	const char *pat = "(?<user>\\w+)@(\\w+)";

	(void)state;
	tmpl_fails(pat, "x $foo", 0, "unknown group '$foo'", 2);
	tmpl_fails(pat, "${foo}", 0, "unknown group '${foo}'", 0);
	tmpl_fails(pat, "ab $7", 0, "group $7 does not exist (the pattern has 2)", 3);
	tmpl_fails(pat, "$12", 0, "group $12 does not exist (the pattern has 2; "
		   "write ${1}2 for group 1 then '2')", 0);
	tmpl_fails(pat, "${9}", 0, "group ${9} does not exist (the pattern has 2)", 0);
	tmpl_fails(pat, "a ${user", 0, "unterminated '${' (missing '}')", 2);
	tmpl_fails(pat, "${}", 0, "empty group name '${}'", 0);
	tmpl_fails(pat, "${a-b}", 0, "bad group name '${a-b}' (letters, digits and '_')", 0);
	tmpl_fails(pat, "${1a}", 0, "bad group name '${1a}' (a name starts with a letter or '_')", 0);
	tmpl_fails(pat, "cost: 5$", 0, "'$' at the end of the text (write $$ for a literal $)", 7);
	tmpl_fails(pat, "5$ each", 0, "'$' must be followed by a group number, a name, "
		   "'{' or '$' (write $$ for a literal $)", 1);
	/* $n is only the counter where the caller allows it. */
	tmpl_fails(pat, "$n", 0, "unknown group '$n'", 0);
	tmpl_fails(NULL, "$n", 0, "unknown group '$n' (there is no pattern)", 0);
	tmpl_fails(NULL, "$1", TMPL_COUNTER, "group $1 does not exist (there is no pattern)", 0);
	tmpl_fails(NULL, "$0", 0, "group $0 does not exist (there is no pattern)", 0);
}

static void test_template_literal(void **state)
{
	(void)state;
	struct tmpl *t = tmpl_compile("a$$b", 4, NULL, 0, NULL, 0, NULL);
	assert_non_null(t);
	assert_int_equal(tmpl_is_literal(t), 1);
	assert_int_equal(tmpl_size(t, NULL, 0), 3);
	tmpl_free(t);
	t = tmpl_compile("$n", 2, NULL, TMPL_COUNTER, NULL, 0, NULL);
	assert_int_equal(tmpl_is_literal(t), 0);
	assert_int_equal(tmpl_size(t, NULL, 12345), 5);
	tmpl_free(t);
	tmpl_free(NULL);
	pattern_free(NULL);
	pattern_match_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_fixed_never_fails),
		cmocka_unit_test(test_match_basic),
		cmocka_unit_test(test_match_groups),
		cmocka_unit_test(test_match_start_and_notempty),
		cmocka_unit_test(test_match_bytes),
		cmocka_unit_test(test_ignore_case),
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_scan_kinds),
		cmocka_unit_test(test_scan_agrees),
		cmocka_unit_test(test_scan_positions),
		cmocka_unit_test(test_template_syntax),
		cmocka_unit_test(test_template_errors),
		cmocka_unit_test(test_template_literal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
