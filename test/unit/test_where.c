/* SPDX-License-Identifier: MIT */
/*
 * test_where.c - the value layer of structured records: jq paths over
 * simdjson documents (escapes, surrogate pairs, invalid UTF-8), JSON
 * text written back, `where:` expressions with their error columns, the
 * flat record reader and the check of many JSON Lines at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "records/jflat.h"
#include "records/json_doc.h"
#include "records/jpath.h"
#include "records/where.h"

static struct jdoc *doc;

static int setup(void **state)
{
	doc = jdoc_new();
	return 0;
}

static int teardown(void **state)
{
	jdoc_free(doc);
	return 0;
}

/* Parse text (no padding room: the copy path) and return its root. */
static struct jval parse(const char *text)
{
	struct jval v;

	if (jdoc_parse(doc, text, strlen(text), 0) != 0)
		fail_msg("parse %s: %s", text, jdoc_error(doc));
	jdoc_root(doc, &v);
	return v;
}

/* The value at path in text, as compact JSON. */
static char *at(const char *text, const char *path)
{
	static char out[256];
	struct jpath p;
	struct jval root = parse(text), v;
	struct buf b = { 0 };
	char msg[64];
	size_t used, off;

	assert_int_equal(jpath_parse(&p, path, strlen(path), 1, &used, msg, sizeof msg, &off), 0);
	jpath_eval(&p, &root, &v);
	json_put_value(&b, &v);
	snprintf(out, sizeof out, "%.*s", (int)b.len, b.p);
	buf_free(&b);
	jpath_free(&p);
	return out;
}

static void test_paths(void **state)
{
	const char *t = "{\"a\":{\"b\":[10,20,{\"c\":\"x\"}]},\"odd key\":1,\"n\":null}";

	assert_string_equal(at(t, ".a.b[0]"), "10");
	assert_string_equal(at(t, ".a.b[-1].c"), "\"x\"");
	assert_string_equal(at(t, ".\"odd key\""), "1");
	assert_string_equal(at(t, ".[\"odd key\"]"), "1");
	assert_string_equal(at(t, ".missing"), "null");
	assert_string_equal(at(t, ".a.b[7]"), "null");
	assert_string_equal(at(t, ".n.deeper"), "null");
	assert_string_equal(at(t, ".a.b[1]"), "20");
	assert_string_equal(at(t, "."), t);
}

static void test_bad_paths(void **state)
{
	static const struct { const char *path, *msg; size_t at; } cases[] = {
		{ "a", "a path starts with '.'", 0 },
		{ ".a.", "expected a key after '.'", 3 },
		{ ".a[x]", "expected an array index or a quoted key", 3 },
		{ ".a[1", "expected ']'", 4 },
		{ ".\"open", "bad quoted key", 6 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct jpath p;
		char msg[64] = "";
		size_t used, off = 99;
		assert_int_equal(jpath_parse(&p, cases[i].path, strlen(cases[i].path), 1,
					     &used, msg, sizeof msg, &off), -1);
		assert_string_equal(msg, cases[i].msg);
		assert_int_equal(off, cases[i].at);
	}
}

static void test_unicode(void **state)
{
	/* Escapes decode when read, and are written back as UTF-8. */
	assert_string_equal(at("{\"s\":\"\\u00e9\\ud83d\\ude00\\n\"}", ".s"),
			    "\"\xc3\xa9\xf0\x9f\x98\x80\\n\"");
	/* A key written with an escape is found by its decoded name. */
	assert_string_equal(at("{\"\\u0041\":1}", ".A"), "1");
	/* Invalid UTF-8 is read (as U+FFFD), not refused. */
	assert_string_equal(at("{\"s\":\"a\xff" "b\"}", ".s"), "\"a\xef\xbf\xbd" "b\"");
	/* Invalid JSON is refused. */
	assert_int_equal(jdoc_parse(doc, "{\"a\":1,}", 8, 0), -1);
	assert_int_equal(jdoc_parse(doc, "", 0, 0), -1);
}

static void test_put_string(void **state)
{
	struct buf b = { 0 };

	json_put_string(&b, "q\"\\\x01\t\xff", 6);
	assert_int_equal(b.len, 16);
	assert_memory_equal(b.p, "\"q\\\"\\\\\\u0001\\t\xff\"", 16);
	buf_free(&b);
}

/* The escaping, byte by byte, as the JSON grammar states it. */
static void reference_string(struct buf *b, const unsigned char *s, size_t n)
{
	buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_printf(b, "\\%c", s[i]);
		else if (s[i] == '\n')
			buf_append(b, "\\n", 2);
		else if (s[i] == '\r')
			buf_append(b, "\\r", 2);
		else if (s[i] == '\t')
			buf_append(b, "\\t", 2);
		else if (s[i] == '\b')
			buf_append(b, "\\b", 2);
		else if (s[i] == '\f')
			buf_append(b, "\\f", 2);
		else if (s[i] < 0x20)
			buf_printf(b, "\\u%04x", s[i]);
		else
			buf_putc(b, (char)s[i]);
	}
	buf_putc(b, '"');
}

/* Every byte that needs an escape, at every position of strings up to 40
 * bytes long (the eight-at-a-time scan and its tail), among plain ASCII
 * and UTF-8 bytes. */
static void test_put_string_positions(void **state)
{
	unsigned char s[40];

	for (int c = 0; c < 256; c++) {
		for (size_t n = 1; n <= sizeof s; n++) {
			for (size_t at = 0; at < n; at++) {
				struct buf got = { 0 }, want = { 0 };
				for (size_t i = 0; i < n; i++)
					s[i] = (unsigned char)(i % 3 == 0 ? 'a' + i % 26 : 0xc3 + i % 2);
				s[at] = (unsigned char)c;
				json_put_string(&got, (const char *)s, n);
				reference_string(&want, s, n);
				assert_int_equal(got.len, want.len);
				assert_memory_equal(got.p, want.p, got.len);
				buf_free(&got);
				buf_free(&want);
			}
		}
	}
}

static int where_is(const char *expr, const char *text)
{
	char msg[128] = "";
	size_t col = 0;
	struct where *w = where_compile(expr, strlen(expr), msg, sizeof msg, &col);
	struct where_match *m;
	struct jval root;
	int r;

	if (!w)
		fail_msg("compile %s: %s at %zu", expr, msg, col);
	m = where_match_new(w);
	root = parse(text);
	r = where_eval(w, m, &root);
	where_match_free(m);
	where_free(w);
	return r;
}

static void test_where(void **state)
{
	const char *r = "{\"Level\":\"ERROR\",\"Pid\":1500,\"Code\":\"42\",\"Msg\":\"disk failed\","
			"\"tags\":[\"a\"],\"n\":null,\"ok\":false}";

	assert_int_equal(where_is(".Level == \"ERROR\"", r), 1);
	assert_int_equal(where_is(".Level != \"ERROR\"", r), 0);
	assert_int_equal(where_is(".Pid > 1000 && .Level != 'INFO'", r), 1);
	assert_int_equal(where_is(".Pid >= 1500 && .Pid <= 1500 && !(.Pid < 1500)", r), 1);
	/* awk's rule: a numeric string against a number compares as numbers. */
	assert_int_equal(where_is(".Code == 42", r), 1);
	assert_int_equal(where_is(".Code > 9", r), 1);
	/* Two strings compare as strings. */
	assert_int_equal(where_is(".Code > \"9\"", r), 0);
	/* A string that is not a number never equals one. */
	assert_int_equal(where_is(".Level == 0", r), 0);
	assert_int_equal(where_is(".Msg =~ '(?i)FAIL'", r), 1);
	assert_int_equal(where_is(".Msg !~ 'fail'", r), 0);
	assert_int_equal(where_is(".missing =~ '.*'", r), 0);
	assert_int_equal(where_is(".Level in [\"WARN\", \"ERROR\"]", r), 1);
	assert_int_equal(where_is(".Pid in [1, 2]", r), 0);
	assert_int_equal(where_is("exists(.n) && !exists(.nope)", r), 1);
	assert_int_equal(where_is(".n == null && .missing == null", r), 1);
	assert_int_equal(where_is(".ok || .n || .missing", r), 0);
	assert_int_equal(where_is(".tags[0] == \"a\" || false", r), 1);
	assert_int_equal(where_is(".Msg", r), 1);
	/* jq's order across types: null < false < numbers < strings. */
	assert_int_equal(where_is(".n < .ok && .ok < .Pid && .Pid < .Level", r), 1);
}

static void where_fails(const char *expr, const char *msg, size_t col)
{
	char got[128] = "";
	size_t c = 0;

	assert_null(where_compile(expr, strlen(expr), got, sizeof got, &c));
	assert_string_equal(got, msg);
	assert_int_equal(c, col);
}

static void test_where_errors(void **state)
{
	where_fails(".a ==", "expected a path, a value or '(' at the end", 6);
	where_fails(".a == && .b", "expected a path (.name), a value or '(', got '&&'", 7);
	where_fails("(.a == 1", "expected ')'", 9);
	where_fails(".a == 1 .b", "unexpected '.'", 9);
	where_fails(".a in [1, ", "expected a value in the list", 11);
	where_fails(".a =~ x", "=~ and !~ take a quoted regex", 7);
	where_fails(".a == \"open", "unterminated string", 7);
	where_fails("exists(a)", "exists() takes a path", 8);
	where_fails(".a == 1x", "bad number '1x'", 7);
}

/* What jflat_scan takes, and what it leaves to the parser. */
static void test_flat(void **state)
{
	static struct jflat f;
	static const char *const taken[] = {
		"{}", " { } ", "{\"a\":1}", "{\"a\":\"x y\" , \"b\" : -12 ,\"c\":true,\"d\":false,\"e\":null}\r",
		"{\"a\":0,\"b\":-1,\"c\":123456789012345678}", "{\"\":\"\"}", "{\"a\":\"\x7f\"}",
	};
	static const char *const left[] = {
		"", "[]", "1", "\"s\"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\":1}x",
		"{\"a\":1}{}", "{\"a\":01}", "{\"a\":-0}", "{\"a\":1.5}", "{\"a\":1e3}", "{\"a\":-}",
		"{\"a\":1234567890123456789}", "{\"a\":tru}", "{\"a\":truex}", "{\"a\":nul}",
		"{\"a\":\"x\\\"y\"}", "{\"a\":\"\xc3\xa9\"}", "{\"a\":\"tab\there\"}", "{\"a\":{}}",
		"{\"a\":[1]}", "{\"a\":\"unclosed}", "{\"a\" 1}", "{a:1}", "{\"a\":1 \"b\":2}",
	};
	char big[64 * 8 + 16], *q = big;

	for (size_t i = 0; i < sizeof taken / sizeof *taken; i++) {
		assert_int_equal(jflat_scan(taken[i], strlen(taken[i]), &f), 0);
		assert_int_equal(jdoc_parse(doc, taken[i], strlen(taken[i]), 0), 0);
	}
	for (size_t i = 0; i < sizeof left / sizeof *left; i++)
		if (jflat_scan(left[i], strlen(left[i]), &f) == 0)
			fail_msg("jflat took %s", left[i]);
	const char *dup = "{\"a\":\"x\",\"b\":2,\"a\":3}";
	assert_int_equal(jflat_scan(dup, strlen(dup), &f), 0);
	assert_int_equal(f.n, 3);
	assert_int_equal(jflat_find(&f, "a", 1), 0);
	assert_int_equal(jflat_find(&f, "b", 1), 1);
	assert_int_equal(jflat_find(&f, "c", 1), -1);
	assert_int_equal(f.m[0].vlen, 3);
	assert_memory_equal(f.m[0].val, "\"x\"", 3);
	/* More members than it holds: the parser's. */
	*q++ = '{';
	for (int i = 0; i <= JFLAT_MAX; i++)
		q += sprintf(q, "%s\"%02d\":1", i ? "," : "", i);
	*q++ = '}';
	assert_int_equal(jflat_scan(big, (size_t)(q - big), &f), -1);
}

/* Lines checked at once: vouched for only when each is one valid value. */
static void test_check_lines(void **state)
{
	static const struct {
		const char *text;
		int ok;
	} cases[] = {
		{ "{\"a\":1}\n[1, 2]\n  3 \n\n\"s\"", 1 },
		{ "{\"a\":1}\n{\"a\":1} {\"b\":2}\n{}", 0 },
		{ "{\"a\":1}\n{\"a\":\n{}", 0 },
		{ "{\"a\":1}\n1 2\n{}", 0 },
		{ "{\"a\":1}\n{}\n{\"a\":[1,", 0 },
		{ "{\"a\":1}\n{}\n{\"a\":1}}", 0 },
		{ "{\"a\":\"\xff\"}\n{}", 0 },
		{ "[1,\n2]\n3", 0 },
	};
	char text[256];
	uint32_t start[16];

	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		size_t len = strlen(cases[c].text), n = 0, at = 0;
		memset(text, ' ', sizeof text);
		memcpy(text, cases[c].text, len);
		while (at < len) {
			const char *nl = memchr(text + at, '\n', len - at);
			size_t end = nl ? (size_t)(nl - text) : len, k = at;
			while (k < end && text[k] == ' ')
				k++;
			if (k < end)
				start[n++] = (uint32_t)k;
			at = end + 1;
		}
		assert_int_equal(jdoc_check_lines(doc, text, len, sizeof text - len, start, n),
				 cases[c].ok);
	}
	/* Too little room after the text: never vouched for. */
	assert_int_equal(jdoc_check_lines(doc, "{}\n{}", 5, 0, (const uint32_t[]){ 0, 3 }, 2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_unicode),
		cmocka_unit_test(test_put_string),
		cmocka_unit_test(test_put_string_positions),
		cmocka_unit_test(test_where),
		cmocka_unit_test(test_where_errors),
		cmocka_unit_test(test_flat),
		cmocka_unit_test(test_check_lines),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
