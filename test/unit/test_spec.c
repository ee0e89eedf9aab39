/* SPDX-License-Identifier: MIT */
/*
 * test_spec.c - the file layer: util (buffers, diagnostics, value
 * parsers), spec (YAML to positioned nodes, aliases, expansion) and config
 * (option tables).  Messages are asserted exactly: they are the interface
 * a user sees.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipeline/config.h"
#include "pipeline/spec.h"
#include "base/util.h"

/* ---- helpers ---- */

static struct spec *load(const char *text, struct diags *d)
{
	return spec_load_string("p.yaml", text, strlen(text), d);
}

/* Loading text fails with exactly one message, msg. */
static void load_fails(const char *text, const char *msg)
{
	struct diags d = {0};
	struct spec *s = load(text, &d);

	assert_null(s);
	if (d.n != 1) {
		size_t i;

		for (i = 0; i < d.n; i++)
			print_error("got: %s\n", d.msgs[i]);
	}
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0], msg);
	diags_free(&d);
}

/* Load text that must succeed; *s to free. */
static struct node *load_ok(const char *text, struct spec **s)
{
	struct diags d = {0};

	*s = load(text, &d);
	if (d.n)
		print_error("unexpected: %s\n", d.msgs[0]);
	assert_int_equal(d.n, 0);
	assert_non_null(*s);
	diags_free(&d);
	return spec_root(*s);
}

/* The expansion of one value: "v: TEXT" loaded, the value's text. */
static void expands_to(const char *yaml, const char *want)
{
	struct spec *s;
	struct node *root = load_ok(yaml, &s);
	struct node *v = node_get(root, "v");

	assert_non_null(v);
	assert_string_equal(v->str, want);
	assert_int_equal(v->len, strlen(want));
	spec_free(s);
}

/* ---- util: buffers, errors, diagnostics ---- */

static void t_buf(void **state)
{
	struct buf b = {0};

	assert_string_equal(buf_cstr(&b), "");
	buf_append(&b, "ab", 2);
	buf_putc(&b, 'c');
	buf_printf(&b, "-%d-%s", 42, "x");
	assert_string_equal(buf_cstr(&b), "abc-42-x");
	assert_int_equal(b.len, 8);
	buf_append(&b, "\0z", 2);
	assert_int_equal(b.len, 10);
	assert_int_equal(b.p[9], 'z');
	buf_free(&b);
	assert_null(b.p);
	buf_free(&b);
}

static void t_err(void **state)
{
	struct err e = {0};

	assert_false(e.set);
	err_set(&e, "bad %s", "thing");
	assert_true(e.set);
	assert_string_equal(e.msg, "bad thing");
	err_prefix(&e, "stage '%s'", "gz");
	assert_string_equal(e.msg, "stage 'gz': bad thing");
}

static void t_diags(void **state)
{
	struct diags d = {0};
	struct node n = {0};

	n.file = "p.yaml";
	n.line = 3;
	n.col = 5;
	diag_add(&d, &n, "unknown option '%s'", "x");
	n.line = 0;
	diag_add(&d, &n, "implicit");
	diag_add(&d, NULL, "no place");
	diag_addf(&d, "-s a.b", "bad %d", 1);
	diag_addf(&d, NULL, "plain");
	n.line = 7;
	n.col = 1;
	diag_warn(&d, &n, "careful");
	assert_int_equal(d.n, 6);
	assert_int_equal(d.warnings, 1);
	assert_int_equal(diag_errors(&d), 5);
	assert_string_equal(d.msgs[0], "p.yaml:3:5: unknown option 'x'");
	assert_string_equal(d.msgs[1], "p.yaml: implicit");
	assert_string_equal(d.msgs[2], "no place");
	assert_string_equal(d.msgs[3], "-s a.b: bad 1");
	assert_string_equal(d.msgs[4], "plain");
	assert_string_equal(d.msgs[5], "p.yaml:7:1: warning: careful");
	diags_free(&d);
	assert_int_equal(d.n, 0);
	diags_free(&d);
}

static void t_diag_print(void **state)
{
	struct diags d = {0};
	char path[] = "/tmp/test_spec_XXXXXX", got[256];
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	diag_addf(&d, "p.yaml:1:2", "first");
	diag_addf(&d, NULL, "second");
	fflush(stderr);
	dup2(fd, 2);
	diag_print(&d);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, got, sizeof got - 1, 0);
	assert_true(n > 0);
	got[n] = '\0';
	assert_string_equal(got, "cspipe: p.yaml:1:2: first\ncspipe: second\n");
	close(fd);
	unlink(path);
	diags_free(&d);
}

static void t_util_show(void **state)
{
	char out[128];
	char big[300];

	util_show(out, sizeof out, "a\tb\n\0c\x01", 7);
	assert_string_equal(out, "a\\tb\\n\\0c\\x01");
	memset(big, 'x', sizeof big);
	util_show(out, sizeof out, big, sizeof big);
	assert_int_equal(strlen(out), 63);
	assert_string_equal(out + 60, "...");
	util_show(out, 5, "abcdefgh", 8);
	assert_string_equal(out, "abcd");
}

/* ---- util: value parsers ---- */

static void duration_is(const char *s, int64_t want)
{
	int64_t v = -1;
	const char *why = NULL;

	if (parse_duration(s, &v, &why) != 0)
		print_error("'%s': %s\n", s, why);
	assert_int_equal(parse_duration(s, &v, &why), 0);
	assert_int_equal(v, want);
}

static void duration_bad(const char *s, const char *want)
{
	int64_t v = -1;
	const char *why = NULL;

	assert_int_equal(parse_duration(s, &v, &why), -1);
	assert_string_equal(why, want);
	assert_int_equal(v, -1);
}

static void t_duration(void **state)
{
	const int64_t s = 1000000000;

	duration_is("1h30m", 5400 * s);
	duration_is("1.5s", 1500000000);
	duration_is("300ms", 300000000);
	duration_is("0", 0);
	duration_is("0s", 0);
	duration_is("1ns", 1);
	duration_is("1us", 1000);
	duration_is("1\xc2\xb5s", 1000);
	duration_is("1\xce\xbcs", 1000);
	duration_is(".5s", 500000000);
	duration_is("5.s", 5 * s);
	duration_is("2h45m30.5s", (2 * 3600 + 45 * 60 + 30) * s + s / 2);
	duration_is("1.000000001s", s + 1);
	duration_is("4611686018427387903ns", INT64_MAX / 2);
	duration_is("1281023h", (int64_t)1281023 * 3600 * s);
	duration_is("1m1m", 120 * s);

	duration_bad("5", "missing unit (e.g. 5s)");
	duration_bad("1h30", "missing unit (e.g. 5s)");
	duration_bad("-1s", "negative durations are not allowed");
	duration_bad("+1s", "a duration has no sign (e.g. 5s)");
	duration_bad("1d", "unknown unit (days, weeks and years are not "
		     "supported: write hours, e.g. 24h)");
	duration_bad("1x", "unknown unit (use ns, us, ms, s, m or h)");
	duration_bad("1S", "unknown unit (use ns, us, ms, s, m or h)");
	duration_bad("", "empty duration (e.g. 5s)");
	duration_bad("5 s", "unexpected space (write e.g. 5s)");
	duration_bad("1h 30m", "unexpected space (write e.g. 1h30m)");
	duration_bad("s", "expected a number (e.g. 5s, 300ms, 1h30m)");
	duration_bad(".s", "expected a number (e.g. 5s, 300ms, 1h30m)");
	/* what the clock cannot hold: now + the duration would overflow */
	duration_bad("4611686018427387904ns", "duration too large for the clock (at most 1281023h)");
	duration_bad("1281024h", "duration too large for the clock (at most 1281023h)");
	duration_bad("2562047h", "duration too large for the clock (at most 1281023h)");
	duration_bad("9223372036854775808ns", "duration too large for the clock (at most 1281023h)");
	duration_bad("99999999999999999999999s", "duration too large for the clock (at most 1281023h)");
	duration_bad("1000000h1000000h", "duration too large for the clock (at most 1281023h)");
}

static void t_format_duration(void **state)
{
	static const struct {
		int64_t ns;
		const char *text;
	} cases[] = {
		{0, "0s"},
		{1, "1ns"},
		{1500, "1.5us"},
		{250000000, "250ms"},
		{1500000, "1.5ms"},
		{1234567, "1.234567ms"},
		{1000000000, "1s"},
		{1500000000, "1.5s"},
		{90000000000, "1m30s"},
		{5400000000000, "1h30m"},
		{7200500000000, "2h0.5s"},
		{3600000000001, "1h0.000000001s"},
		{INT64_MAX / 2, "1281023h53m38.427387903s"},
	};
	char out[64];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		int64_t back;
		const char *why;

		format_duration(out, sizeof out, cases[i].ns);
		assert_string_equal(out, cases[i].text);
		assert_int_equal(parse_duration(out, &back, &why), 0);
		assert_int_equal(back, cases[i].ns);
	}
	format_duration(out, sizeof out, -1500000000);
	assert_string_equal(out, "-1.5s");
}

static void size_is(const char *s, uint64_t want)
{
	uint64_t v = 0;
	const char *why = NULL;

	if (parse_size(s, &v, &why) != 0)
		print_error("'%s': %s\n", s, why);
	assert_int_equal(parse_size(s, &v, &why), 0);
	assert_true(v == want);
}

static void size_bad(const char *s, const char *want)
{
	uint64_t v = 7;
	const char *why = NULL;

	assert_int_equal(parse_size(s, &v, &why), -1);
	assert_string_equal(why, want);
	assert_int_equal(v, 7);
}

static void t_size(void **state)
{
	size_is("4096", 4096);
	size_is("0", 0);
	size_is("4096B", 4096);
	size_is("64KiB", 65536);
	size_is("1.5MiB", 1572864);
	size_is("2GiB", 2147483648ull);
	size_is("1TiB", 1ull << 40);
	size_is("15EiB", 15ull << 60);
	size_is("1KB", 1000);
	size_is("1kB", 1000);
	size_is("2.5MB", 2500000);
	size_is("1GB", 1000000000);
	size_is("1.1KiB", 1126);   /* rounded down */
	size_is("18446744073709551615", UINT64_MAX);
	size_is("1.0", 1);
	size_is(".5KiB", 512);
	size_is("15.99999999999999999999EiB", (15ull << 60) + (1ull << 60) - 1);
}

static void t_size_bad(void **state)
{
	const char *ambiguous = "ambiguous unit (write KiB, MiB, GiB for powers of "
				"1024 or KB, MB, GB for powers of 1000)";
	const char *unknown = "unknown unit (use B, KiB, MiB, GiB, TiB, or KB, MB, "
			      "GB, TB)";

	size_bad("64K", ambiguous);
	size_bad("64k", ambiguous);
	size_bad("1M", ambiguous);
	size_bad("1G", ambiguous);
	size_bad("1Gi", ambiguous);
	size_bad("64kib", unknown);
	size_bad("64mb", unknown);
	size_bad("64KiBs", unknown);
	size_bad("1.5", "a byte count must be a whole number");
	size_bad("1.5B", "a byte count must be a whole number");
	size_bad("18446744073709551616", "size too large");
	size_bad("16EiB", "size too large");
	size_bad("17179869184GiB", "size too large");
	size_bad("99999999999999999999999", "size too large");
	size_bad("-1", "negative sizes are not allowed");
	size_bad("KiB", "expected a number (e.g. 4096, 64KiB, 1.5MiB)");
	size_bad("", "empty size (e.g. 64KiB)");
	size_bad("64 KiB", "unexpected space (write e.g. 64KiB)");
}

static void t_format_size(void **state)
{
	static const struct {
		uint64_t bytes;
		const char *text;
	} cases[] = {
		{0, "0"},
		{1000, "1000"},
		{1024, "1KiB"},
		{65536, "64KiB"},
		{1572864, "1536KiB"},
		{3ull << 30, "3GiB"},
		{1ull << 60, "1EiB"},
		{UINT64_MAX, "18446744073709551615"},
	};
	char out[64];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		uint64_t back;
		const char *why;

		format_size(out, sizeof out, cases[i].bytes);
		assert_string_equal(out, cases[i].text);
		assert_int_equal(parse_size(out, &back, &why), 0);
		assert_true(back == cases[i].bytes);
	}
}

static void t_int(void **state)
{
	int64_t v;
	const char *why;

	assert_int_equal(parse_int("0", &v, &why), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_int("-5", &v, &why), 0);
	assert_int_equal(v, -5);
	assert_int_equal(parse_int("+7", &v, &why), 0);
	assert_int_equal(v, 7);
	assert_int_equal(parse_int("010", &v, &why), 0);
	assert_int_equal(v, 10);
	assert_int_equal(parse_int("9223372036854775807", &v, &why), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(parse_int("-9223372036854775808", &v, &why), 0);
	assert_true(v == INT64_MIN);

	assert_int_equal(parse_int("9223372036854775808", &v, &why), -1);
	assert_string_equal(why, "integer too large");
	assert_int_equal(parse_int("-9223372036854775809", &v, &why), -1);
	assert_string_equal(why, "integer too large");
	assert_int_equal(parse_int("12a", &v, &why), -1);
	assert_string_equal(why, "expected an integer");
	assert_int_equal(parse_int("", &v, &why), -1);
	assert_string_equal(why, "expected an integer");
	assert_int_equal(parse_int("-", &v, &why), -1);
	assert_int_equal(parse_int(" 1", &v, &why), -1);
	assert_int_equal(parse_int("1 ", &v, &why), -1);
	assert_int_equal(parse_int("0x10", &v, &why), -1);
	assert_int_equal(parse_int("1.0", &v, &why), -1);
}

static void t_bool(void **state)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "ON"};
	static const char *const no[] = {"false", "False", "no", "NO", "off", "Off"};
	static const char *const bad[] = {"", "1", "0", "y", "n", "truthy", "nope"};
	size_t i;
	int v;

	for (i = 0; i < sizeof yes / sizeof *yes; i++) {
		v = -1;
		assert_int_equal(parse_bool(yes[i], &v), 0);
		assert_int_equal(v, 1);
	}
	for (i = 0; i < sizeof no / sizeof *no; i++) {
		v = -1;
		assert_int_equal(parse_bool(no[i], &v), 0);
		assert_int_equal(v, 0);
	}
	for (i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(parse_bool(bad[i], &v), -1);
}

static void t_did_you_mean(void **state)
{
	static const char *const opts[] = {"pattern", "invert", "workers", "buffer",
					   "ordered", "timeout"};
	static const char *const fmts[] = {"gzip", "zlib", "deflate"};
	static const char *const ties[] = {"ab", "ac"};
	char *big;

	assert_int_equal(edit_distance("", ""), 0);
	assert_int_equal(edit_distance("abc", ""), 3);
	assert_int_equal(edit_distance("kitten", "sitting"), 3);
	assert_int_equal(edit_distance("sitting", "kitten"), 3);
	assert_int_equal(edit_distance("patern", "pattern"), 1);

	assert_string_equal(did_you_mean("patern", opts, 6), "pattern");
	assert_string_equal(did_you_mean("wrokers", opts, 6), "workers");
	assert_string_equal(did_you_mean("work", opts, 6), "workers");
	assert_string_equal(did_you_mean("timeouts", opts, 6), "timeout");
	assert_string_equal(did_you_mean("Invert", opts, 6), "invert");
	assert_null(did_you_mean("xyz", opts, 6));
	assert_null(did_you_mean("", opts, 6));
	assert_null(did_you_mean("i", opts, 6));
	assert_string_equal(did_you_mean("gz", fmts, 3), "gzip");
	assert_string_equal(did_you_mean("GZIP", fmts, 3), "gzip");
	assert_string_equal(did_you_mean("zlip", fmts, 3), "zlib");
	assert_null(did_you_mean("bzip2", fmts, 3));
	/* ties go to the earlier name, whatever the order of the calls */
	assert_string_equal(did_you_mean("aa", ties, 2), "ab");
	/* a huge key is compared by length first: no suggestion, no wait */
	big = calloc(1, 1 << 20);
	memset(big, 'q', (1 << 20) - 1);
	assert_null(did_you_mean(big, opts, 6));
	memcpy(big, "pattern", 7);
	assert_string_equal(did_you_mean(big, opts, 6), "pattern");
	free(big);
}

/* ---- spec: structure and positions ---- */

static void t_positions(void **state)
{
	struct spec *s;
	struct node *root = load_ok(
		"name: errors\n"
		"stages:\n"
		"  - files: [app.log, \"old.log.gz\"]\n"
		"  - filter: 'a|b'\n"
		"    workers: 2\n"
		"empty:\n"
		"tilde: ~\n", &s);
	struct node *stages, *st, *files;

	assert_int_equal(root->type, NODE_MAP);
	assert_int_equal(root->n, 4);
	assert_string_equal(root->file, "p.yaml");
	assert_int_equal(root->line, 1);
	assert_int_equal(root->col, 1);
	assert_string_equal(root->keys[0]->str, "name");
	assert_int_equal(root->keys[0]->line, 1);
	assert_int_equal(root->keys[0]->col, 1);
	assert_string_equal(root->vals[0]->str, "errors");
	assert_int_equal(root->vals[0]->line, 1);
	assert_int_equal(root->vals[0]->col, 7);
	assert_true(root->vals[0]->plain);
	assert_false(root->vals[0]->is_null);

	stages = node_get(root, "stages");
	assert_non_null(stages);
	assert_int_equal(stages->type, NODE_SEQ);
	assert_int_equal(stages->n, 2);
	assert_int_equal(stages->line, 3);
	assert_int_equal(stages->col, 3);
	st = stages->items[0];
	assert_int_equal(st->line, 3);
	assert_int_equal(st->col, 5);
	files = node_get(st, "files");
	assert_int_equal(files->type, NODE_SEQ);
	assert_int_equal(files->line, 3);
	assert_int_equal(files->col, 12);
	assert_int_equal(files->n, 2);
	assert_string_equal(files->items[0]->str, "app.log");
	assert_int_equal(files->items[0]->col, 13);
	assert_string_equal(files->items[1]->str, "old.log.gz");
	assert_int_equal(files->items[1]->col, 22);
	assert_false(files->items[1]->plain);

	st = stages->items[1];
	assert_string_equal(node_get(st, "filter")->str, "a|b");
	assert_false(node_get(st, "filter")->plain);
	assert_int_equal(node_get(st, "workers")->line, 5);
	assert_int_equal(node_get(st, "workers")->col, 14);
	assert_int_equal(st->keys[1]->line, 5);
	assert_int_equal(st->keys[1]->col, 5);

	assert_true(node_get(root, "empty")->is_null);
	assert_int_equal(node_get(root, "empty")->line, 6);
	assert_int_equal(node_get(root, "empty")->col, 7);
	assert_true(node_get(root, "tilde")->is_null);
	assert_null(node_get(root, "nope"));
	assert_null(node_get(stages, "x"));
	assert_null(node_get(NULL, "x"));
	assert_string_equal(node_type_name(root), "mapping");
	assert_string_equal(node_type_name(stages), "list");
	assert_string_equal(node_type_name(files->items[0]), "string");
	spec_free(s);
}

static void t_scalars(void **state)
{
	struct spec *s;
	struct node *root = load_ok(
		"a: \"x\\0y\"\n"
		"b: null\n"
		"c: 'null'\n"
		"d: !!str null\n"
		"e: NULL\n"
		"f: ''\n"
		"g: |\n  line1\n  line2\n"
		"h: \xc3\xa9t\xc3\xa9\n"
		"i: trailing   \n", &s);

	assert_int_equal(node_get(root, "a")->len, 3);
	assert_memory_equal(node_get(root, "a")->str, "x\0y", 4);
	assert_true(node_get(root, "b")->is_null);
	assert_false(node_get(root, "c")->is_null);
	assert_false(node_get(root, "d")->is_null);
	assert_true(node_get(root, "e")->is_null);
	assert_false(node_get(root, "f")->is_null);
	assert_int_equal(node_get(root, "f")->len, 0);
	assert_string_equal(node_get(root, "g")->str, "line1\nline2\n");
	assert_false(node_get(root, "g")->plain);
	assert_string_equal(node_get(root, "h")->str, "\xc3\xa9t\xc3\xa9");
	assert_string_equal(node_get(root, "i")->str, "trailing");
	spec_free(s);
}

static void t_columns_count_characters(void **state)
{
	struct spec *s;
	struct node *root = load_ok("\xc3\xa9\xc3\xa9: x\n", &s);

	assert_int_equal(root->vals[0]->col, 5);
	spec_free(s);
}

static void t_empty(void **state)
{
	static const char *const empties[] = {"", "# only a comment\n", "---\n",
					      "\n\n", "--- ~\n", "null"};
	size_t i;

	for (i = 0; i < sizeof empties / sizeof *empties; i++) {
		struct diags d = {0};
		struct spec *s = load(empties[i], &d);

		assert_non_null(s);
		assert_null(spec_root(s));
		assert_int_equal(d.n, 0);
		spec_free(s);
	}
	assert_null(spec_root(NULL));
	spec_free(NULL);
}

static void t_file(void **state)
{
	char path[] = "/tmp/test_spec_XXXXXX";
	int fd = mkstemp(path);
	struct diags d = {0};
	struct spec *s;
	const char text[] = "stages:\n  - stdin: {}\n";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof text - 1), sizeof text - 1);
	close(fd);
	s = spec_load_file(path, &d);
	assert_non_null(s);
	assert_int_equal(d.n, 0);
	assert_string_equal(spec_root(s)->file, path);
	assert_int_equal(node_get(spec_root(s), "stages")->items[0]->line, 2);
	spec_free(s);
	unlink(path);
}

static void t_file_errors(void **state)
{
	struct diags d = {0};
	char path[] = "/tmp/test_spec_XXXXXX";
	int fd;

	assert_null(spec_load_file("/nonexistent/p.yaml", &d));
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0], "/nonexistent/p.yaml: cannot open: No "
			    "such file or directory");
	diags_free(&d);

	assert_null(spec_load_file("/tmp", &d));
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0], "/tmp: cannot read: Is a directory");
	diags_free(&d);

	/* too large: a sparse file of 16 MiB and a byte */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (16 << 20) + 1), 0);
	close(fd);
	assert_null(spec_load_file(path, &d));
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[1 - 1] + strlen(path),
			    ": pipeline file too large (more than 16 MiB)");
	diags_free(&d);
	unlink(path);
}

static void t_too_large(void **state)
{
	size_t len = (16 << 20) + 1;
	char *big = malloc(len);
	struct diags d = {0};

	memset(big, ' ', len);
	assert_null(spec_load_string("big.yaml", big, len, &d));
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0], "big.yaml: pipeline file too large (more "
			    "than 16 MiB)");
	diags_free(&d);
	free(big);
}

/* A realistic 10 MB pipeline loads (how fast is measured by hand: no
 * timed assertions in tests). */
static void t_big_file(void **state)
{
	struct buf b = {0};
	struct diags d = {0};
	struct spec *s;
	size_t i, n = 0;

	buf_printf(&b, "name: big\nstages:\n");
	for (i = 0; b.len < 10u << 20; i++, n++)
		buf_printf(&b, "  - {name: s%zu, filter: 'error|fail(ed)?', "
			   "workers: 2, timeout: 5s}\n", i);
	s = spec_load_string("big.yaml", b.p, b.len, &d);
	assert_non_null(s);
	assert_int_equal(d.n, 0);
	assert_int_equal(node_get(spec_root(s), "stages")->n, n);
	spec_free(s);
	buf_free(&b);
}

/* ---- spec: error paths ---- */

static void t_malformed(void **state)
{
	load_fails("a: b: c\n", "p.yaml:1:5: mapping values are not allowed in "
		   "this context (put a value that contains ': ' in quotes)");
	load_fails("a:\n\tb: 1\n", "p.yaml:2:1: tab characters are not allowed "
		   "for indentation (use spaces)");
	load_fails("a:\n  b: 1\n  \tc: 2\n", "p.yaml:3:3: tab characters are "
		   "not allowed for indentation (use spaces)");
	load_fails("a: \"abc\nb: 1\n", "p.yaml:1:4: unterminated quoted string");
	load_fails("a: @x\n", "p.yaml:1:4: found character '@' that cannot "
		   "start any token (put the value in quotes)");
	load_fails("a: *.log\n", "p.yaml:1:5: did not find expected alphabetic "
		   "or numeric character (while scanning an alias at 1:4; put a "
		   "value that starts with '*' or '&' in quotes)");
	load_fails("a:\n  - b\n c: d\n", "p.yaml:3:2: did not find expected key "
		   "(while parsing a block mapping at 1:1)");
	load_fails("a: [b\n", "p.yaml:2:1: did not find expected ',' or ']' "
		   "(while parsing a flow sequence at 1:4)");
	load_fails("files: [${LOGDIR}/a.log]\n", "p.yaml:1:10: did not find "
		   "expected ',' or ']' (while parsing a flow sequence at 1:8; "
		   "inside [ ] or { }, put a value that uses ${...} in quotes)");
	load_fails("a: \xff\n", "p.yaml:1:4: invalid leading UTF-8 octet (0xff)");
	load_fails("a: b\x01\n", "p.yaml:1:5: control characters are not "
		   "allowed (0x1)");
	load_fails("a: 1\n---\nb: 2\n", "p.yaml:2:1: only one YAML document is "
		   "allowed");
	load_fails("- a\n--- \n- b\n", "p.yaml:2:1: only one YAML document is "
		   "allowed");
}

static void t_nul_in_input(void **state)
{
	struct diags d = {0};

	assert_null(spec_load_string("p.yaml", "a: b\0c\n", 7, &d));
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0], "p.yaml:1:5: control characters are not "
			    "allowed (0x0)");
	diags_free(&d);
}

static void t_duplicate_keys(void **state)
{
	struct buf b = {0};
	struct diags d = {0};
	size_t i;

	load_fails("name: a\nworkers: 1\nworkers: 2\n",
		   "p.yaml:3:1: duplicate key 'workers' (first at 2:1)");
	load_fails("s:\n  - {a: 1, b: 2, 'a': 3}\n",
		   "p.yaml:2:18: duplicate key 'a' (first at 2:6)");

	/* a large mapping takes the hashed path */
	for (i = 0; i < 100; i++)
		buf_printf(&b, "k%zu: %zu\n", i, i);
	buf_printf(&b, "k42: again\nk99: again\n");
	assert_null(spec_load_string("p.yaml", b.p, b.len, &d));
	assert_int_equal(d.n, 2);
	assert_string_equal(d.msgs[0], "p.yaml:101:1: duplicate key 'k42' "
			    "(first at 43:1)");
	assert_string_equal(d.msgs[1], "p.yaml:102:1: duplicate key 'k99' "
			    "(first at 100:1)");
	diags_free(&d);

	/* a generated file with endless mistakes: the first 100, then one line */
	b.len = 0;
	for (i = 0; i < 1000; i++)
		buf_printf(&b, "k: %zu\n", i);
	assert_null(spec_load_string("p.yaml", b.p, b.len, &d));
	assert_int_equal(d.n, 101);
	assert_string_equal(d.msgs[0], "p.yaml:2:1: duplicate key 'k' (first at "
			    "1:1)");
	assert_string_equal(d.msgs[99], "p.yaml:101:1: duplicate key 'k' (first "
			    "at 1:1)");
	assert_string_equal(d.msgs[100], "p.yaml: too many errors (stopping "
			    "after 100)");
	diags_free(&d);
	buf_free(&b);

	/* after expansion, two keys that read alike are one */
	setenv("CSPIPE_T_K", "workers", 1);
	load_fails("workers: 1\n${CSPIPE_T_K}: 2\n",
		   "p.yaml:2:1: duplicate key 'workers' (first at 1:1)");
}

static void t_keys(void **state)
{
	load_fails("? [a]\n: b\n", "p.yaml:1:3: a mapping key must be a string, "
		   "not a list");
	load_fails("{a: 1}: x\n", "p.yaml:1:1: a mapping key must be a string, "
		   "not a mapping");
	load_fails("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n",
		   "p.yaml:3:3: merge keys (<<) are not supported");
}

static void t_aliases(void **state)
{
	struct spec *s;
	struct node *root = load_ok(
		"common: &c {workers: 2, buffer: 8}\n"
		"word: &w hello\n"
		"a: *c\n"
		"b: *w\n"
		"*w : key-from-alias\n"
		"word2: &w again\n"
		"c: *w\n", &s);

	assert_ptr_equal(node_get(root, "a"), node_get(root, "common"));
	assert_ptr_equal(node_get(root, "b"), node_get(root, "word"));
	assert_string_equal(node_get(root, "hello")->str, "key-from-alias");
	/* a later anchor takes the name over */
	assert_string_equal(node_get(root, "c")->str, "again");
	/* a shared node keeps the anchor's position */
	assert_int_equal(node_get(root, "a")->line, 1);
	spec_free(s);

	/* the anchor table grows while an anchored collection is open */
	{
		struct buf b = {0};
		int i;

		buf_printf(&b, "outer: &outer\n");
		for (i = 0; i < 40; i++)
			buf_printf(&b, "  k%d: &a%d v%d\n", i, i, i);
		buf_printf(&b, "again: *outer\nlast: *a39\n");
		root = load_ok(buf_cstr(&b), &s);
		assert_ptr_equal(node_get(root, "again"), node_get(root, "outer"));
		assert_string_equal(node_get(root, "last")->str, "v39");
		spec_free(s);
		buf_free(&b);
	}

	load_fails("a: *nope\n", "p.yaml:1:4: unknown alias '*nope' (define the "
		   "anchor '&nope' before it)");
	load_fails("a: &x [*x]\n", "p.yaml:1:8: alias '*x' refers to a node "
		   "that contains it");
}

static void t_alias_bomb(void **state)
{
	load_fails(
		"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
		"h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
		"i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n",
		"p.yaml:5:36: alias expansion too large (more than 100000 nodes)");
}

static void t_nesting(void **state)
{
	struct buf b = {0};
	struct spec *s;
	int i;

	for (i = 0; i < 200; i++)
		buf_putc(&b, '[');
	for (i = 0; i < 200; i++)
		buf_putc(&b, ']');
	load_fails(buf_cstr(&b), "p.yaml:1:101: nesting too deep (more than 100 "
		   "levels)");

	/* 100 levels are fine */
	b.len = 0;
	for (i = 0; i < 100; i++)
		buf_putc(&b, '[');
	for (i = 0; i < 100; i++)
		buf_putc(&b, ']');
	load_ok(buf_cstr(&b), &s);
	spec_free(s);

	/* aliases count at their full height */
	b.len = 0;
	buf_printf(&b, "a: &a ");
	for (i = 0; i < 60; i++)
		buf_putc(&b, '[');
	for (i = 0; i < 60; i++)
		buf_putc(&b, ']');
	buf_printf(&b, "\nb: ");
	for (i = 0; i < 50; i++)
		buf_putc(&b, '[');
	buf_printf(&b, "*a");
	for (i = 0; i < 50; i++)
		buf_putc(&b, ']');
	buf_putc(&b, '\n');
	load_fails(buf_cstr(&b), "p.yaml:2:54: nesting too deep (more than 100 "
		   "levels)");
	buf_free(&b);
}

/* ---- spec: environment expansion ---- */

static void t_expand(void **state)
{
	setenv("CSPIPE_T_X", "hello", 1);
	setenv("CSPIPE_T_EMPTY", "", 1);
	unsetenv("CSPIPE_T_UNSET");
	unsetenv("CSPIPE_T_UNSET2");

	expands_to("v: ${CSPIPE_T_X}\n", "hello");
	expands_to("v: a${CSPIPE_T_X}b${CSPIPE_T_X}\n", "ahellobhello");
	expands_to("v: \"${CSPIPE_T_X}\"\n", "hello");
	expands_to("v: ${CSPIPE_T_EMPTY}\n", "");
	expands_to("v: ${CSPIPE_T_UNSET:-dflt}\n", "dflt");
	expands_to("v: ${CSPIPE_T_EMPTY:-dflt}\n", "dflt");
	expands_to("v: ${CSPIPE_T_X:-dflt}\n", "hello");
	expands_to("v: ${CSPIPE_T_UNSET:-}\n", "");
	expands_to("v: ${CSPIPE_T_UNSET:-a b}c\n", "a bc");
	expands_to("v: ${CSPIPE_T_UNSET:-${CSPIPE_T_X}}\n", "hello");
	expands_to("v: ${CSPIPE_T_UNSET:-${CSPIPE_T_UNSET2:-deep}}\n", "deep");
	expands_to("v: $${HOME}\n", "${HOME}");
	expands_to("v: 'x $${name}y'\n", "x ${name}y");
	expands_to("v: $1 $name $$ $ $x{y} $\n", "$1 $name $$ $ $x{y} $");
	expands_to("v: ${CSPIPE_T_UNSET:-$1}\n", "$1");
	/* without the colon, a default only for an unset variable */
	expands_to("v: ${CSPIPE_T_UNSET-dflt}\n", "dflt");
	expands_to("v: ${CSPIPE_T_EMPTY-dflt}x\n", "x");
	expands_to("v: ${CSPIPE_T_X-dflt}\n", "hello");
	expands_to("v: ${CSPIPE_T_UNSET-}\n", "");
	expands_to("v: ${CSPIPE_T_X:?needed}\n", "hello");
	expands_to("v: ${CSPIPE_T_EMPTY?needed}x\n", "x");
	/* keys too */
	expands_to("${CSPIPE_T_X}: 1\nv: ${CSPIPE_T_X}\n", "hello");
	{
		struct spec *s;
		struct node *root = load_ok("${CSPIPE_T_X}: 1\n", &s);

		assert_string_equal(root->keys[0]->str, "hello");
		spec_free(s);
	}
	/* an expanded empty value is an empty string, not null */
	{
		struct spec *s;
		struct node *root = load_ok("v: ${CSPIPE_T_EMPTY}\n", &s);

		assert_false(root->vals[0]->is_null);
		spec_free(s);
	}
}

static void t_expand_errors(void **state)
{
	setenv("CSPIPE_T_X", "hello", 1);
	setenv("CSPIPE_T_EMPTY", "", 1);
	unsetenv("CSPIPE_T_UNSET");
	unsetenv("CSPIPE_T_UNSET2");
	load_fails("v: ${CSPIPE_T_UNSET}\n", "p.yaml:1:4: environment variable "
		   "'CSPIPE_T_UNSET' is not set");
	load_fails("a: 1\nv: pre ${CSPIPE_T_UNSET} post\n", "p.yaml:2:8: "
		   "environment variable 'CSPIPE_T_UNSET' is not set");
	load_fails("v: \xc3\xa9 ${CSPIPE_T_UNSET}\n", "p.yaml:1:6: environment "
		   "variable 'CSPIPE_T_UNSET' is not set");
	load_fails("v: 'x ${CSPIPE_T_UNSET}'\n", "p.yaml:1:7: environment "
		   "variable 'CSPIPE_T_UNSET' is not set");
	load_fails("v: \"x ${CSPIPE_T_UNSET}\"\n", "p.yaml:1:7: environment "
		   "variable 'CSPIPE_T_UNSET' is not set");
	/* escapes: the value is not the source; point at the scalar */
	load_fails("v: \"\\t ${CSPIPE_T_UNSET}\"\n", "p.yaml:1:4: environment "
		   "variable 'CSPIPE_T_UNSET' is not set");
	load_fails("v: |\n  ${CSPIPE_T_UNSET}\n", "p.yaml:1:4: environment "
		   "variable 'CSPIPE_T_UNSET' is not set");
	load_fails("v: a\n  ${CSPIPE_T_UNSET}\n", "p.yaml:1:4: environment "
		   "variable 'CSPIPE_T_UNSET' is not set");
	load_fails("${CSPIPE_T_UNSET}: 1\n", "p.yaml:1:1: environment "
		   "variable 'CSPIPE_T_UNSET' is not set");
	load_fails("v: ${CSPIPE_T_UNSET:-${CSPIPE_T_UNSET2}}\n", "p.yaml:1:22: "
		   "environment variable 'CSPIPE_T_UNSET2' is not set");

	load_fails("v: ${CSPIPE_T_X\n", "p.yaml:1:4: unterminated '${' (add "
		   "'}', or write '$${' for a literal '${')");
	load_fails("v: ${A:-x\n", "p.yaml:1:4: unterminated '${' (add '}', or "
		   "write '$${' for a literal '${')");
	load_fails("v: x${}\n", "p.yaml:1:5: missing variable name after '${' "
		   "(write ${NAME}, or '$${' for a literal '${')");
	load_fails("v: ${:-x}\n", "p.yaml:1:4: missing variable name after '${' "
		   "(write ${NAME}, or '$${' for a literal '${')");
	load_fails("v: ${1}\n", "p.yaml:1:4: invalid variable name '1' (a name "
		   "starts with a letter or '_'; write '$${' for a literal '${')");
	load_fails("v: ${A=b}\n", "p.yaml:1:4: unsupported form '${A=' (use ${A}, "
		   "${A:-default}, ${A-default} or ${A:?message})");
	load_fails("v: ${A:=b}\n", "p.yaml:1:4: unsupported form '${A:' (use "
		   "${A}, ${A:-default}, ${A-default} or ${A:?message})");
	load_fails("v: x ${CSPIPE_T_UNSET:?set it to the log folder}\n",
		   "p.yaml:1:6: CSPIPE_T_UNSET: set it to the log folder");
	load_fails("v: ${CSPIPE_T_EMPTY:?}\n", "p.yaml:1:4: environment variable "
		   "'CSPIPE_T_EMPTY' is empty");
	load_fails("v: ${CSPIPE_T_UNSET?}\n", "p.yaml:1:4: environment variable "
		   "'CSPIPE_T_UNSET' is not set");
	load_fails("v: ${CSPIPE_T_UNSET:?no ${CSPIPE_T_X:-x}}\n",
		   "p.yaml:1:4: CSPIPE_T_UNSET: no hello");
	load_fails("v: ${A.b}\n", "p.yaml:1:4: invalid character '.' in variable "
		   "name after '${A' (a name is letters, digits and '_')");
}

static void t_expand_many_errors(void **state)
{
	struct diags d = {0};

	unsetenv("CSPIPE_T_UNSET");
	assert_null(load("a: ${CSPIPE_T_UNSET}\nb: 1\nb: 2\nc: ${}\n", &d));
	assert_int_equal(d.n, 3);
	assert_string_equal(d.msgs[0], "p.yaml:1:4: environment variable "
			    "'CSPIPE_T_UNSET' is not set");
	/* in file order, though the duplicate is found when the map ends */
	assert_string_equal(d.msgs[1], "p.yaml:3:1: duplicate key 'b' (first at "
			    "2:1)");
	assert_string_equal(d.msgs[2], "p.yaml:4:4: missing variable name after "
			    "'${' (write ${NAME}, or '$${' for a literal '${')");
	diags_free(&d);
}

static void t_expand_nested_too_deep(void **state)
{
	struct buf b = {0};
	int i;

	unsetenv("CSPIPE_T_UNSET");
	buf_printf(&b, "v: ");
	for (i = 0; i < 20; i++)
		buf_printf(&b, "${CSPIPE_T_UNSET:-");
	for (i = 0; i < 20; i++)
		buf_putc(&b, '}');
	load_fails(buf_cstr(&b), "p.yaml:1:292: defaults nested too deeply (more "
		   "than 16 levels)");
	buf_free(&b);
}

/* ---- spec: values for -s, nodes made by the program ---- */

static void t_parse_value(void **state)
{
	struct spec *s;
	struct diags d = {0};
	struct node *n;

	load_ok("a: 1\n", &s);

	setenv("CSPIPE_T_X", "hello", 1);
	unsetenv("CSPIPE_T_UNSET");

	n = spec_parse_value(s, "-s compress.level", "9", &d);
	assert_non_null(n);
	assert_int_equal(n->type, NODE_SCALAR);
	assert_string_equal(n->str, "9");
	assert_string_equal(n->file, "-s compress.level");
	assert_int_equal(n->line, 1);
	assert_int_equal(n->col, 1);
	assert_true(n->plain);

	n = spec_parse_value(s, "-s", "a|b", &d);
	assert_string_equal(n->str, "a|b");
	n = spec_parse_value(s, "-s", "*.log", &d);
	assert_string_equal(n->str, "*.log");
	n = spec_parse_value(s, "-s", "x: y # z", &d);
	assert_string_equal(n->str, "x: y # z");
	n = spec_parse_value(s, "-s", "", &d);
	assert_true(n->is_null);
	n = spec_parse_value(s, "-s", "null", &d);
	assert_true(n->is_null);
	n = spec_parse_value(s, "-s", "'quoted'", &d);
	assert_string_equal(n->str, "quoted");
	assert_false(n->plain);
	n = spec_parse_value(s, "-s", "pre${CSPIPE_T_X}", &d);
	assert_string_equal(n->str, "prehello");

	n = spec_parse_value(s, "-s files.paths", "[a, b]", &d);
	assert_int_equal(n->type, NODE_SEQ);
	assert_int_equal(n->n, 2);
	assert_string_equal(n->items[1]->str, "b");
	assert_string_equal(n->items[1]->file, "-s files.paths");
	assert_int_equal(n->items[1]->col, 5);
	n = spec_parse_value(s, "-s", "{level: 9, format: gzip}", &d);
	assert_int_equal(n->type, NODE_MAP);
	assert_string_equal(node_get(n, "format")->str, "gzip");
	assert_int_equal(d.n, 0);

	assert_null(spec_parse_value(s, "-s x.y", "pre ${CSPIPE_T_UNSET}", &d));
	assert_null(spec_parse_value(s, "-s x.y", "[a, \"${CSPIPE_T_UNSET}\"]", &d));
	assert_null(spec_parse_value(s, "-s x.y", "[a,", &d));
	assert_null(spec_parse_value(s, "-s x.y", "{a: 1, a: 2}", &d));
	assert_int_equal(d.n, 4);
	assert_string_equal(d.msgs[0], "-s x.y:1:5: environment variable "
			    "'CSPIPE_T_UNSET' is not set");
	assert_string_equal(d.msgs[1], "-s x.y:1:6: environment variable "
			    "'CSPIPE_T_UNSET' is not set");
	assert_string_equal(d.msgs[2], "-s x.y:1:4: did not find expected node "
			    "content");
	assert_string_equal(d.msgs[3], "-s x.y:1:8: duplicate key 'a' (first at "
			    "1:2)");
	diags_free(&d);
	spec_free(s);
}

static void t_new_nodes(void **state)
{
	struct spec *s;
	struct node *root = load_ok("a: 1\nb: 2\nc: 3\n", &s);
	struct node *seq, *map, *v;
	struct diags d = {0};
	char key[16];
	int i;

	/* a parsed map grows */
	spec_map_set(s, root, "d", spec_new_scalar(s, "-s d", "4"));
	spec_map_set(s, root, "e", spec_new_scalar(s, NULL, "5"));
	spec_map_set(s, root, "a", spec_new_scalar(s, "-s a", "one"));
	assert_int_equal(root->n, 5);
	assert_string_equal(node_get(root, "a")->str, "one");
	assert_string_equal(node_get(root, "b")->str, "2");
	assert_string_equal(node_get(root, "d")->str, "4");
	assert_string_equal(node_get(root, "e")->str, "5");
	assert_string_equal(node_get(root, "e")->file, "p.yaml");
	assert_string_equal(root->keys[3]->file, "-s d");
	assert_int_equal(root->keys[3]->line, 0);

	v = spec_new_scalar(s, "implicit", NULL);
	assert_true(v->is_null);
	assert_string_equal(v->str, "");
	diag_add(&d, v, "x");
	assert_string_equal(d.msgs[0], "implicit: x");
	diags_free(&d);

	seq = spec_new_seq(s, "implicit");
	map = spec_new_map(s, "implicit");
	assert_int_equal(seq->type, NODE_SEQ);
	assert_int_equal(map->type, NODE_MAP);
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "k%d", i);
		spec_seq_append(s, seq, spec_new_scalar(s, "implicit", key));
		spec_map_set(s, map, key, spec_new_scalar(s, "implicit", key));
	}
	assert_int_equal(seq->n, 100);
	assert_int_equal(map->n, 100);
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "k%d", i);
		assert_string_equal(seq->items[i]->str, key);
		assert_string_equal(node_get(map, key)->str, key);
	}
	spec_seq_append(s, node_get(root, "a"), seq);   /* not a list: ignored */
	spec_map_set(s, seq, "x", seq);                 /* not a map: ignored */
	spec_free(s);
}

/* ---- config ---- */

struct pair {
	char *left, *right;
};

struct sample {
	char *pattern;
	int64_t level;
	int ordered;
	int64_t timeout;
	uint64_t buffer;
	int format;
	struct strlist paths;
	int delimiter;
	struct pair *pair;
};

/* A custom type: "LEFT=RIGHT". */
static int pair_parse(const struct optval *v, void *dst, struct diags *d)
{
	struct pair **p = dst;
	const char *eq, *s = optval_str(v, NULL);

	if (optval_type(v) != OPTVAL_SCALAR || !(eq = strchr(s, '='))) {
		diag_at(d, optval_pos(v), "pair: expected LEFT=RIGHT");
		return -1;
	}
	*p = calloc(1, sizeof **p);
	(*p)->left = strndup(s, (size_t)(eq - s));
	(*p)->right = strdup(eq + 1);
	return 0;
}

static void pair_free(void *dst)
{
	struct pair **p = dst;

	if (*p) {
		free((*p)->left);
		free((*p)->right);
		free(*p);
		*p = NULL;
	}
}

static const char *const formats[] = {"gzip", "zlib", "deflate", NULL};

static const struct option sample_opts[] = {
	{.name = "pattern", .type = OPT_STRING, .offset = offsetof(struct sample, pattern),
	 .doc = "regular expression", .flags = OPT_REQUIRED},
	{.name = "level", .type = OPT_INT, .offset = offsetof(struct sample, level),
	 .def = "6", .doc = "compression level", .min = 0, .max = 9},
	{.name = "ordered", .type = OPT_BOOL, .offset = offsetof(struct sample, ordered),
	 .def = "true", .doc = "keep order"},
	{.name = "timeout", .type = OPT_DURATION, .offset = offsetof(struct sample, timeout),
	 .def = "1.5s", .doc = "deadline", .min = 1000000, .max = 3600000000000},
	{.name = "buffer", .type = OPT_SIZE, .offset = offsetof(struct sample, buffer),
	 .def = "64KiB", .doc = "buffer size"},
	{.name = "format", .type = OPT_ENUM, .offset = offsetof(struct sample, format),
	 .def = "zlib", .doc = "format", .choices = formats},
	{.name = "paths", .type = OPT_STRLIST, .offset = offsetof(struct sample, paths),
	 .def = "-", .doc = "inputs"},
	{.name = "delimiter", .type = OPT_CHAR, .offset = offsetof(struct sample, delimiter),
	 .def = ",", .doc = "field separator"},
	{.name = "pair", .type = OPT_CUSTOM, .offset = offsetof(struct sample, pair),
	 .doc = "a pair", .parse = pair_parse, .free = pair_free,
	 .type_name = "LEFT=RIGHT"},
	{0},
};

/* Load yaml's root into a zeroed sample; returns config_load's result. */
static int sample_load(const char *yaml, struct sample *c, struct diags *d)
{
	struct diags sd = {0};
	struct spec *s = load(yaml, &sd);
	int rc;

	assert_non_null(s);
	assert_int_equal(sd.n, 0);
	memset(c, 0, sizeof *c);
	rc = config_load(sample_opts, c, spec_root(s), d);
	/* c->paths.at now dangles: these tests do not read it */
	spec_free(s);
	return rc;
}

/* Loading fails with exactly one message. */
static void sample_fails(const char *yaml, const char *msg)
{
	struct sample c;
	struct diags d = {0};

	assert_int_equal(sample_load(yaml, &c, &d), -1);
	if (d.n != 1) {
		size_t i;

		for (i = 0; i < d.n; i++)
			print_error("got: %s\n", d.msgs[i]);
	}
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0], msg);
	diags_free(&d);
	config_free(sample_opts, &c);
}

static void t_config_defaults(void **state)
{
	struct sample c;
	struct diags d = {0};

	memset(&c, 0, sizeof c);
	assert_int_equal(config_load(sample_opts, &c, NULL, &d), 0);
	assert_int_equal(d.n, 0);
	assert_null(c.pattern);
	assert_int_equal(c.level, 6);
	assert_int_equal(c.ordered, 1);
	assert_int_equal(c.timeout, 1500000000);
	assert_int_equal(c.buffer, 65536);
	assert_int_equal(c.format, 1);
	assert_int_equal(c.paths.n, 1);
	assert_string_equal(c.paths.v[0], "-");
	assert_null(c.paths.at[0].file);
	assert_int_equal(c.delimiter, ',');
	assert_null(c.pair);
	/* loading again frees and replaces */
	assert_int_equal(config_load(sample_opts, &c, NULL, &d), 0);
	config_free(sample_opts, &c);
	assert_null(c.paths.v);
	config_free(sample_opts, &c);
}

static void t_config_all_types(void **state)
{
	struct spec *s;
	struct node *root = load_ok(
		"pattern: 'error|fail'\n"
		"level: 9\n"
		"ordered: no\n"
		"timeout: 1h\n"
		"buffer: 1.5MiB\n"
		"format: deflate\n"
		"paths: [a.log, b.log]\n"
		"delimiter: \"\\t\"\n"
		"pair: k=v\n", &s);
	struct sample c;
	struct diags d = {0};

	memset(&c, 0, sizeof c);
	assert_int_equal(config_load(sample_opts, &c, root, &d), 0);
	assert_int_equal(d.n, 0);
	assert_string_equal(c.pattern, "error|fail");
	assert_int_equal(c.level, 9);
	assert_int_equal(c.ordered, 0);
	assert_int_equal(c.timeout, 3600000000000);
	assert_int_equal(c.buffer, 1572864);
	assert_int_equal(c.format, 2);
	assert_int_equal(c.paths.n, 2);
	assert_string_equal(c.paths.v[0], "a.log");
	assert_string_equal(c.paths.v[1], "b.log");
	assert_int_equal(c.paths.at[1].line, node_get(root, "paths")->items[1]->line);
	assert_int_equal(c.paths.at[1].col, node_get(root, "paths")->items[1]->col);
	assert_int_equal(c.delimiter, '\t');
	assert_string_equal(c.pair->left, "k");
	assert_string_equal(c.pair->right, "v");

	/* one option again, from a -s override: old values are freed */
	assert_int_equal(config_load_one(config_find(sample_opts, "pattern"), &c,
					 spec_parse_value(s, "-s", "x", &d), &d), 0);
	assert_string_equal(c.pattern, "x");
	assert_int_equal(config_load_one(config_find(sample_opts, "paths"), &c,
					 spec_parse_value(s, "-s", "*.log", &d), &d), 0);
	assert_int_equal(c.paths.n, 1);
	assert_string_equal(c.paths.v[0], "*.log");
	assert_int_equal(config_load_one(config_find(sample_opts, "pair"), &c,
					 spec_parse_value(s, "-s", "a=b", &d), &d), 0);
	assert_string_equal(c.pair->left, "a");
	/* a failed override keeps the old value */
	assert_int_equal(config_load_one(config_find(sample_opts, "level"), &c,
					 spec_parse_value(s, "-s", "99", &d), &d), -1);
	assert_int_equal(c.level, 9);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0], "-s:1:1: level: 99 is out of range 0..9");
	diags_free(&d);
	config_free(sample_opts, &c);
	spec_free(s);
}

static void t_config_scalars_as_text(void **state)
{
	struct sample c;
	struct diags d = {0};

	assert_int_equal(sample_load("pattern: 42\nlevel: '3'\npaths: x\n"
				     "delimiter: \"\\0\"\n", &c, &d), 0);
	assert_string_equal(c.pattern, "42");
	assert_int_equal(c.level, 3);
	assert_int_equal(c.paths.n, 1);
	assert_int_equal(c.delimiter, 0);
	config_free(sample_opts, &c);
	assert_int_equal(sample_load("pattern: ''\npaths: []\n", &c, &d), 0);
	assert_string_equal(c.pattern, "");
	assert_int_equal(c.paths.n, 0);
	config_free(sample_opts, &c);
}

static void t_config_unknown(void **state)
{
	struct spec *s;
	struct node *root = load_ok("pattern: x\npatern: y\n", &s);
	struct sample c;
	struct diags d = {0};

	memset(&c, 0, sizeof c);
	assert_int_equal(config_load_for(sample_opts, &c, root, "filter", &d), -1);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0], "p.yaml:2:1: unknown option 'patern' for "
			    "filter (did you mean 'pattern'?)");
	diags_free(&d);
	config_free(sample_opts, &c);
	spec_free(s);

	memset(&c, 0, sizeof c);
	root = load_ok("level: 1\n", &s);
	assert_int_equal(config_load_for(sample_opts, &c, root, "filter", &d), -1);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0], "p.yaml:1:1: missing required option "
			    "'pattern' for filter");
	diags_free(&d);
	config_free(sample_opts, &c);
	spec_free(s);

	sample_fails("pattern: x\npatern: y\n", "p.yaml:2:1: unknown option "
		     "'patern' (did you mean 'pattern'?)");
	sample_fails("pattern: x\nxyz: 1\n", "p.yaml:2:1: unknown option 'xyz' "
		     "(known options: pattern, level, ordered, timeout, buffer, "
		     "format, paths, delimiter, pair)");
	sample_fails("level: 1\n", "p.yaml:1:1: missing required option "
		     "'pattern'");
}

static void t_config_type_errors(void **state)
{
	sample_fails("pattern: x\nlevel: 12\n", "p.yaml:2:8: level: 12 is out of "
		     "range 0..9");
	sample_fails("pattern: x\nlevel: -1\n", "p.yaml:2:8: level: -1 is out of "
		     "range 0..9");
	sample_fails("pattern: x\nlevel: 99999999999999999999\n", "p.yaml:2:8: "
		     "level: 99999999999999999999 is out of range 0..9");
	sample_fails("pattern: x\nlevel: {a: 1}\n", "p.yaml:2:8: level: expected "
		     "an integer, got a mapping");
	sample_fails("pattern: x\nlevel: many\n", "p.yaml:2:8: level: expected "
		     "an integer, got 'many'");
	sample_fails("pattern: x\nlevel:\n", "p.yaml:2:7: level: missing value "
		     "(expected an integer)");
	sample_fails("pattern: [a]\n", "p.yaml:1:10: pattern: expected a string, "
		     "got a list");
	sample_fails("pattern:\n", "p.yaml:1:9: pattern: missing value (expected "
		     "a string; write '' for an empty one)");
	sample_fails("pattern: \"a\\0b\"\n", "p.yaml:1:10: pattern: the value "
		     "contains a NUL character");
	sample_fails("pattern: x\nordered: maybe\n", "p.yaml:2:10: ordered: "
		     "expected true or false, got 'maybe'");
	sample_fails("pattern: x\ntimeout: 5 s\n", "p.yaml:2:10: timeout: bad "
		     "duration '5 s': unexpected space (write e.g. 5s)");
	sample_fails("pattern: x\ntimeout: 5\n", "p.yaml:2:10: timeout: bad "
		     "duration '5': missing unit (e.g. 5s)");
	sample_fails("pattern: x\ntimeout: 2h\n", "p.yaml:2:10: timeout: 2h is "
		     "out of range 1ms..1h");
	sample_fails("pattern: x\nbuffer: 64K\n", "p.yaml:2:9: buffer: bad size "
		     "'64K': ambiguous unit (write KiB, MiB, GiB for powers of 1024 "
		     "or KB, MB, GB for powers of 1000)");
	sample_fails("pattern: x\nformat: gz\n", "p.yaml:2:9: unknown format 'gz' "
		     "(expected gzip, zlib or deflate; did you mean 'gzip'?)");
	sample_fails("pattern: x\nformat: bzip2\n", "p.yaml:2:9: unknown format "
		     "'bzip2' (expected gzip, zlib or deflate)");
	sample_fails("pattern: x\npaths: {a: 1}\n", "p.yaml:2:8: paths: expected "
		     "a string or a list of strings, got a mapping");
	sample_fails("pattern: x\npaths: [a, {b: 1}]\n", "p.yaml:2:12: paths: "
		     "item 2: expected a string, got a mapping");
	sample_fails("pattern: x\npaths: [a, ~]\n", "p.yaml:2:12: paths: item 2: "
		     "missing value (expected a string; write '' for an empty one)");
	sample_fails("pattern: x\npaths:\n", "p.yaml:2:7: paths: missing value "
		     "(expected a string or a list of strings)");
	sample_fails("pattern: x\ndelimiter: ab\n", "p.yaml:2:12: delimiter: "
		     "expected a single character (one byte), got 'ab'");
	sample_fails("pattern: x\ndelimiter: '\\t'\n", "p.yaml:2:12: delimiter: "
		     "expected a single character, got '\\t' (write escapes such as "
		     "\"\\t\" in double quotes)");
	sample_fails("pattern: x\ndelimiter: ''\n", "p.yaml:2:12: delimiter: "
		     "expected a single character (one byte), got ''");
	sample_fails("pattern: x\npair: nope\n", "p.yaml:2:7: pair: expected "
		     "LEFT=RIGHT");
	sample_fails("- a\n", "p.yaml:1:1: expected a mapping of options, got a "
		     "list");
}

static void t_config_many_errors(void **state)
{
	struct sample c;
	struct diags d = {0};

	assert_int_equal(sample_load("level: 12\nordered: maybe\nwrokers: 2\n"
				     "format: gz\n", &c, &d), -1);
	assert_int_equal(d.n, 5);
	assert_string_equal(d.msgs[0], "p.yaml:1:8: level: 12 is out of range "
			    "0..9");
	assert_string_equal(d.msgs[1], "p.yaml:2:10: ordered: expected true or "
			    "false, got 'maybe'");
	assert_string_equal(d.msgs[2], "p.yaml:3:1: unknown option 'wrokers' "
			    "(known options: pattern, level, ordered, timeout, "
			    "buffer, format, paths, delimiter, pair)");
	assert_string_equal(d.msgs[3], "p.yaml:4:9: unknown format 'gz' (expected "
			    "gzip, zlib or deflate; did you mean 'gzip'?)");
	assert_string_equal(d.msgs[4], "p.yaml:1:1: missing required option "
			    "'pattern'");
	/* the good values still hold their defaults */
	assert_int_equal(c.level, 6);
	diags_free(&d);
	config_free(sample_opts, &c);
}

static void t_config_table(void **state)
{
	static const struct {
		const char *name, *text;
	} want[] = {
		{"pattern", "string"},
		{"level", "integer 0..9"},
		{"ordered", "boolean"},
		{"timeout", "duration 1ms..1h"},
		{"buffer", "size"},
		{"format", "one of gzip, zlib, deflate"},
		{"paths", "string list"},
		{"delimiter", "character"},
		{"pair", "LEFT=RIGHT"},
	};
	static const struct option bounded_size[] = {
		{.name = "n", .type = OPT_SIZE, .min = 4096, .max = 1 << 30},
		{.name = "i", .type = OPT_INT},
		{.name = "c", .type = OPT_CUSTOM},
		{0},
	};
	char out[128];
	size_t i;

	assert_int_equal(config_count(sample_opts), 9);
	for (i = 0; i < sizeof want / sizeof *want; i++) {
		const struct option *o = config_find(sample_opts, want[i].name);

		assert_non_null(o);
		config_type_text(o, out, sizeof out);
		assert_string_equal(out, want[i].text);
	}
	assert_null(config_find(sample_opts, "nope"));
	config_type_text(&bounded_size[0], out, sizeof out);
	assert_string_equal(out, "size 4KiB..1GiB");
	config_type_text(&bounded_size[1], out, sizeof out);
	assert_string_equal(out, "integer");
	config_type_text(&bounded_size[2], out, sizeof out);
	assert_string_equal(out, "value");
}

/* A bad default is a bug in the table: the loader says so and aborts. */
/* A nested table (OPT_TABLE): absent, its struct is zero; given, its
 * options load with their defaults, and its errors name it.  The loader
 * records where each option was written. */
struct inner {
	int64_t n;
	char *name;
};
struct outer {
	struct inner in;
	int64_t top;
};
static const struct option inner_opts[] = {
	{.name = "n", .type = OPT_INT, .offset = offsetof(struct inner, n), .def = "5",
	 .doc = "a count", .min = 1, .max = 9},
	{.name = "name", .type = OPT_STRING, .offset = offsetof(struct inner, name),
	 .doc = "a name"},
	{0},
};
static const struct option outer_opts[] = {
	{.name = "in", .type = OPT_TABLE, .offset = offsetof(struct outer, in),
	 .doc = "nested", .table = inner_opts, .example = "{n: 3}"},
	{.name = "top", .type = OPT_INT, .offset = offsetof(struct outer, top),
	 .def = "1", .doc = "top"},
	{0},
};

static void t_config_nested_table(void **state)
{
	struct outer c;
	struct diags d = {0};
	struct pos where[2];
	struct spec *s = load("top: 2\nin: {name: x}\n", &d);
	char type[64];

	(void)state;
	assert_non_null(s);
	memset(&c, 0, sizeof c);
	assert_int_equal(config_load_at(outer_opts, &c, spec_root(s), "t", where, &d), 0);
	assert_int_equal(c.top, 2);
	assert_int_equal(c.in.n, 5);
	assert_string_equal(c.in.name, "x");
	assert_string_equal(where[0].file, "p.yaml");
	assert_int_equal(where[0].line, 2);
	assert_int_equal(where[0].col, 5);
	assert_int_equal(where[1].line, 1);
	assert_int_equal(where[1].col, 6);
	config_type_text(&outer_opts[0], type, sizeof type);
	assert_string_equal(type, "mapping");
	spec_free(s);

	/* absent: zero, and no position */
	s = load("top: 3\n", &d);
	assert_int_equal(config_load_at(outer_opts, &c, spec_root(s), "t", where, &d), 0);
	assert_int_equal(c.in.n, 0);
	assert_null(c.in.name);
	assert_null(where[0].file);
	spec_free(s);

	s = load("in: [1]\n", &d);
	assert_int_equal(config_load(outer_opts, &c, spec_root(s), &d), -1);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.msgs[0], "p.yaml:1:5: in: expected a mapping (e.g. {n: 3}), "
			    "got a list");
	diags_free(&d);
	spec_free(s);

	s = load("in: {n: 12, nme: y}\n", &d);
	assert_int_equal(config_load(outer_opts, &c, spec_root(s), &d), -1);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.msgs[0], "p.yaml:1:9: n: 12 is out of range 1..9");
	assert_string_equal(d.msgs[1], "p.yaml:1:13: unknown option 'nme' for in "
			    "(did you mean 'name'?)");
	assert_int_equal(c.in.n, 0);
	diags_free(&d);
	spec_free(s);
	config_free(outer_opts, &c);
}

/* optval_each's step in t_optval_each: records each index; "bad" fails. */
static int each_step(const struct optval *v, size_t index, void *arg, struct diags *d)
{
	struct buf *seen = arg;
	char tmp[32];

	snprintf(tmp, sizeof tmp, "%zu=%s;", index, optval_str(v, NULL));
	buf_append(seen, tmp, strlen(tmp));
	if (!strcmp(optval_str(v, NULL), "bad")) {
		diag_at(d, optval_pos(v), "bad item");
		return -1;
	}
	return 0;
}

/* One value or a list: each item from 1, a lone value as index 0, every
 * item visited even after a failure, an empty list visits nothing. */
static void t_optval_each(void **state)
{
	struct spec *s;
	struct node *root = load_ok("one: x\nlist: [a, bad, c, bad]\nnone: []\n", &s);
	struct diags d = {0};
	struct buf seen = {0};
	(void)state;

	assert_int_equal(optval_each(optval_of(node_get(root, "one")), each_step, &seen, &d), 0);
	assert_int_equal(optval_each(optval_of(node_get(root, "none")), each_step, &seen, &d), 0);
	buf_append(&seen, "", 1);
	assert_string_equal(seen.p, "0=x;");
	seen.len = 0;
	assert_int_equal(optval_each(optval_of(node_get(root, "list")), each_step, &seen, &d), -1);
	buf_append(&seen, "", 1);
	assert_string_equal(seen.p, "1=a;2=bad;3=c;4=bad;");
	assert_int_equal(d.n, 2);
	assert_string_equal(d.msgs[0], "p.yaml:2:11: bad item");
	buf_free(&seen);
	diags_free(&d);
	spec_free(s);
}

static void t_config_bad_default(void **state)
{
	static const struct option bad[] = {
		{.name = "level", .type = OPT_INT, .def = "high"},
		{0},
	};
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int64_t v = 0;
		struct diags d = {0};
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 2);
		config_load(bad, &v, NULL, &d);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_buf),
		cmocka_unit_test(t_err),
		cmocka_unit_test(t_diags),
		cmocka_unit_test(t_diag_print),
		cmocka_unit_test(t_util_show),
		cmocka_unit_test(t_duration),
		cmocka_unit_test(t_format_duration),
		cmocka_unit_test(t_size),
		cmocka_unit_test(t_size_bad),
		cmocka_unit_test(t_format_size),
		cmocka_unit_test(t_int),
		cmocka_unit_test(t_bool),
		cmocka_unit_test(t_did_you_mean),
		cmocka_unit_test(t_positions),
		cmocka_unit_test(t_scalars),
		cmocka_unit_test(t_columns_count_characters),
		cmocka_unit_test(t_empty),
		cmocka_unit_test(t_file),
		cmocka_unit_test(t_file_errors),
		cmocka_unit_test(t_too_large),
		cmocka_unit_test(t_big_file),
		cmocka_unit_test(t_malformed),
		cmocka_unit_test(t_nul_in_input),
		cmocka_unit_test(t_duplicate_keys),
		cmocka_unit_test(t_keys),
		cmocka_unit_test(t_aliases),
		cmocka_unit_test(t_alias_bomb),
		cmocka_unit_test(t_nesting),
		cmocka_unit_test(t_expand),
		cmocka_unit_test(t_expand_errors),
		cmocka_unit_test(t_expand_many_errors),
		cmocka_unit_test(t_expand_nested_too_deep),
		cmocka_unit_test(t_parse_value),
		cmocka_unit_test(t_new_nodes),
		cmocka_unit_test(t_config_defaults),
		cmocka_unit_test(t_config_all_types),
		cmocka_unit_test(t_config_scalars_as_text),
		cmocka_unit_test(t_config_unknown),
		cmocka_unit_test(t_config_type_errors),
		cmocka_unit_test(t_config_many_errors),
		cmocka_unit_test(t_config_table),
		cmocka_unit_test(t_config_nested_table),
		cmocka_unit_test(t_config_bad_default),
		cmocka_unit_test(t_optval_each),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
