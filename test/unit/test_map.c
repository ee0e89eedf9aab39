/* SPDX-License-Identifier: MIT */
/*
 * test_map.c - the map stage, driven by hand: the operations loaded from
 * YAML through the stage's one option, check, a worker, and process() on
 * batches built here.  Outputs are compared byte for byte, and parse
 * errors with their positions.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records/batch.h"
#include "pipeline/config.h"
#include "pipeline/spec.h"
#include "core/stage.h"
#include "base/util.h"

extern const struct stage_kind kind_map;

/* ---- fixture ---- */

struct fx {
	struct spec *sp;
	struct diags d;
	struct stage st;
	struct wstats ws;
	struct worker w;
};

/* Load `map:`'s value from yaml, as the graph does for a kind with
 * KIND_SHORTHAND_ANY, and run check.  Returns -1 on any error. */
static int fx_try(struct fx *f, const char *yaml)
{
	memset(f, 0, sizeof *f);
	f->sp = spec_load_string("p.yaml", yaml, strlen(yaml), &f->d);
	assert_non_null(f->sp);
	f->st.kind = &kind_map;
	f->st.name = "map";
	f->st.pos = f->st.kind_pos = node_pos(spec_root(f->sp));
	f->st.conf = calloc(1, kind_map.conf_size);
	if (config_load_one(&kind_map.options[0], f->st.conf, spec_root(f->sp), &f->d) < 0)
		return -1;
	return kind_map.check(&f->st, &f->d);
}

static void fx_open(struct fx *f, const char *yaml)
{
	if (fx_try(f, yaml) != 0)
		print_error("load '%s': %s\n", yaml, f->d.n ? f->d.msgs[0] : "?");
	assert_int_equal(f->d.n, 0);
	f->w.stage = &f->st;
	f->w.stats = &f->ws;
	f->w.state = kind_map.worker_new(&f->st, 0);
}

static void fx_close(struct fx *f)
{
	if (f->w.state)
		kind_map.worker_free(&f->st, f->w.state);
	config_free(kind_map.options, f->st.conf);
	free(f->st.conf);
	spec_free(f->sp);
	diags_free(&f->d);
}

static struct batch *mk(enum framing fr, const char *const *recs, const size_t *lens,
			size_t n)
{
	struct batch *b = batch_new(fr, 0, 0);

	b->origin = "in.log";
	b->first_rec = 1;
	for (size_t i = 0; i < n; i++)
		batch_add(b, recs[i], lens ? lens[i] : strlen(recs[i]), (uint32_t)i);
	return b;
}

/* Every output record is followed by its terminator. */
static void check_terms(const struct batch *b)
{
	for (uint32_t i = 0; i < b->n && b->framing != FRAMING_CHUNK; i++)
		assert_int_equal(b->data[b->recs[i].off + b->recs[i].len],
				 framing_term((enum framing)b->framing));
}

/* Map C-string records through ops; compare with want (NULL-terminated;
 * dropped records are simply absent). */
static void maps(const char *ops, const char *const *in, size_t n,
		 const char *const *want)
{
	struct fx f;
	struct outq q = {0};
	struct err e = {0};
	size_t k = 0;

	fx_open(&f, ops);
	assert_int_equal(kind_map.process(&f.w, mk(FRAMING_LINES, in, NULL, n), &q, &e),
			 STAGE_OK);
	for (struct batch *b = q.head; b; ) {
		struct batch *next = b->next;
		check_terms(b);
		for (uint32_t i = 0; i < b->n; i++, k++) {
			assert_non_null(want[k]);
			if (b->recs[i].len != strlen(want[k]) ||
			    memcmp(rec_ptr(b, i), want[k], b->recs[i].len) != 0)
				print_error("%s: record %zu: got '%.*s', want '%s'\n", ops, k,
					    (int)b->recs[i].len, rec_ptr(b, i), want[k]);
			assert_int_equal(b->recs[i].len, strlen(want[k]));
			assert_memory_equal(rec_ptr(b, i), want[k], b->recs[i].len);
		}
		batch_free(b);
		b = next;
	}
	assert_null(want[k]);
	fx_close(&f);
}

#define MAPS(ops, in, ...) do {                                               \
		static const char *const in_[] = in;                          \
		static const char *const want_[] = { __VA_ARGS__, NULL };     \
		maps(ops, in_, sizeof in_ / sizeof *in_, want_);              \
	} while (0)
#define L(...) { __VA_ARGS__ }

/* Loading fails; the first diagnostic is msg. */
static void load_fails(const char *yaml, const char *msg)
{
	struct fx f;

	assert_int_equal(fx_try(&f, yaml), -1);
	assert_true(f.d.n >= 1);
	if (strcmp(f.d.msgs[0], msg) != 0)
		print_error("got: %s\n", f.d.msgs[0]);
	assert_string_equal(f.d.msgs[0], msg);
	fx_close(&f);
}

/* ---- replace ---- */

static void test_replace(void **state)
{
	(void)state;
	MAPS("{replace: '\\d+', with: N}", L("a1b22c333", "none", ""),
	     "aNbNcN", "none", "");
	MAPS("{replace: '\\d+', with: N, first: true}", L("a1b22"), "aNb22");
	MAPS("{replace: '(\\w+)=(\\w+)', with: '$2=$1'}", L("k=v x=y"), "v=k y=x");
	MAPS("{replace: '(?<k>\\w+)=(?<v>\\w+)', with: '$v:$${k}s'}", L("a=1"), "1:as");
	MAPS("{replace: '.', with: '[$0]$$'}", L("ab"), "[a]$[b]$");
	MAPS("{replace: ERROR, with: E, ignore_case: true}", L("error Error x"), "E E x");
	MAPS("{replace: a.c, with: X, fixed: true}", L("abc a.c"), "abc X");
	MAPS("{replace: '(a)|(b)', with: '<$1$2>'}", L("xaby"), "x<a><b>y");
}

/* Empty matches advance as GNU sed's do. */
static void test_replace_empty_matches(void **state)
{
	(void)state;
	MAPS("{replace: 'x*', with: '-'}", L("abc", ""), "-a-b-c-", "-");
	MAPS("{replace: 'a*', with: 'x'}", L("baaac"), "xbxcx");
	MAPS("{replace: 'b*', with: 'x'}", L("abc"), "xaxcx");
	MAPS("{replace: '^', with: '> '}", L("abc"), "> abc");
	MAPS("{replace: '$', with: ';'}", L("abc"), "abc;");
	MAPS("{replace: '^a', with: 'x'}", L("aaa"), "xaa");
	MAPS("{replace: '', with: '.', fixed: true}", L("ab"), ".a.b.");
}

static void test_replace_bytes(void **state)
{
	static const char *const in[] = { "a\0b\xff\r", "\xc3(" };
	static const size_t lens[] = { 5, 2 };
	struct fx f;
	struct outq q = {0};
	struct err e = {0};

	(void)state;
	fx_open(&f, "{replace: '\\x00|\\xff', with: '_'}");
	assert_int_equal(kind_map.process(&f.w, mk(FRAMING_LINES, in, lens, 2), &q, &e),
			 STAGE_OK);
	struct batch *b = q.head;
	assert_int_equal(b->n, 2);
	assert_int_equal(b->recs[0].len, 5);
	assert_memory_equal(rec_ptr(b, 0), "a_b_\r", 5);
	assert_int_equal(b->recs[1].len, 2);
	assert_memory_equal(rec_ptr(b, 1), "\xc3(", 2);
	batch_free(b);
	fx_close(&f);
}

/* ---- fields ---- */

static void test_fields_blanks(void **state)
{
	(void)state;
	/* As awk '{print $1, $3}'. */
	MAPS("{fields: [1, 3]}", L("a b c d", "  a \t b  c  ", "a", "", "   "),
	     "a c", "a c", "a ", " ", " ");
	MAPS("{fields: [-1, 1]}", L("a b c", "one", ""), "c a", "one one", " ");
	MAPS("{fields: [-3]}", L("a b"), "");
	MAPS("{fields: ['2-'], join: ','}", L("a b c d", "a"), "b,c,d", "");
	MAPS("{fields: ['2-3', 9]}", L("a b c d", "a b"), "b c ", "b ");
	MAPS("{fields: '3,1'}", L("a b c"), "c a");
	MAPS("{fields: [1, 1]}", L("x y"), "x x");
	/* CR is data: it stays on the last field, as with awk. */
	MAPS("{fields: [2, 1]}", L("a b\r"), "b\r a");
	/* \v, \f and \r do not separate (as awk's default FS). */
	MAPS("{fields: [2]}", L("a\vb\fc\rd e"), "e");
}

static void test_fields_delimiter(void **state)
{
	(void)state;
	/* As cut -d, -f2,5 (awk -F, -v OFS=, '{print $2,$5}' where the
	 * record has the delimiter): a record without it passes whole. */
	MAPS("{fields: [2, 5], delimiter: ',', join: ','}",
	     L("a,b,c,d,e,f", "a,,c", "", "abc", ",\r"),
	     "b,e", ",", "", "abc", "\r,");
	MAPS("{fields: [-1, 1], delimiter: '::', join: ''}", L("a::b::c", "a:b"),
	     "ca", "a:b");
	/* As cut -s: a record without the delimiter is dropped. */
	MAPS("{fields: [2], delimiter: ',', only_delimited: true}",
	     L("a,b", "abc", "", ",x"), "b", "x");
	MAPS("{fields: ['2-'], delimiter: ' '}", L("a  b"), " b");
	MAPS("{fields: [1], delimiter: \"\\t\"}", L("a b\tc"), "a b");
}

static void test_fields_nul(void **state)
{
	static const char *const in[] = { "a\0b c" };
	static const size_t lens[] = { 5 };
	struct fx f;
	struct outq q = {0};
	struct err e = {0};

	(void)state;
	fx_open(&f, "{fields: [2, 1]}");
	assert_int_equal(kind_map.process(&f.w, mk(FRAMING_LINES, in, lens, 1), &q, &e),
			 STAGE_OK);
	assert_int_equal(q.head->recs[0].len, 5);
	assert_memory_equal(rec_ptr(q.head, 0), "c a\0b", 5);
	batch_free(q.head);
	fx_close(&f);
}

/* ---- template, case, trim, prefix, suffix ---- */

/* q holds one batch of one record, want; it is freed. */
static void only_record(struct outq *q, const char *want)
{
	size_t n = strlen(want);

	assert_non_null(q->head);
	assert_null(q->head->next);
	assert_int_equal(q->head->n, 1);
	assert_int_equal(q->head->recs[0].len, n);
	assert_memory_equal(q->head->data + q->head->recs[0].off, want, n);
	batch_free(q->head);
	q->head = NULL;
}

static void test_template(void **state)
{
	struct fx f;
	struct outq q = {0};
	struct err e = {0};

	(void)state;
	MAPS("{template: '$2 <$user>', pattern: '(?<user>\\w+)@(\\w+)'}",
	     L("mail from bob@box ok", "nothing"), "box <bob>", "nothing");
	MAPS("{template: '[$1]', pattern: '(x)', on_nomatch: drop}", L("axb", "b", "x"),
	     "[x]", "[x]");
	MAPS("{template: 'E', pattern: error, ignore_case: true}", L("ERROR"), "E");

	/* Dropped records are counted as filtered. */
	static const char *const in[] = { "a", "b", "ab" };
	fx_open(&f, "{template: '$0', pattern: b, on_nomatch: drop}");
	assert_int_equal(kind_map.process(&f.w, mk(FRAMING_LINES, in, NULL, 3), &q, &e),
			 STAGE_OK);
	assert_int_equal(q.head->n, 2);
	assert_int_equal(q.head->recs[0].tag, 1);
	assert_int_equal(q.head->recs[1].tag, 2);
	assert_int_equal(f.ws.filtered, 1);
	batch_free(q.head);
	fx_close(&f);

	/* All dropped: nothing goes out. */
	fx_open(&f, "{template: '$0', pattern: zzz, on_nomatch: drop}");
	memset(&q, 0, sizeof q);
	assert_int_equal(kind_map.process(&f.w, mk(FRAMING_LINES, in, NULL, 3), &q, &e),
			 STAGE_OK);
	assert_null(q.head);
	assert_int_equal(f.ws.filtered, 3);
	fx_close(&f);

	fx_open(&f, "{template: '$0', pattern: a, on_nomatch: fail}");
	memset(&q, 0, sizeof q);
	assert_int_equal(kind_map.process(&f.w, mk(FRAMING_LINES, in, NULL, 3), &q, &e),
			 STAGE_ERROR);
	assert_string_equal(e.msg, "in.log: record 2: no match for the template "
			    "pattern 'a' (on_nomatch: fail)");
	/* The record before the failing one still goes on. */
	only_record(&q, "a");
	fx_close(&f);
}

static void test_simple_ops(void **state)
{
	(void)state;
	MAPS("{case: upper}", L("abc xyz 09 @[`{ \xe9", ""), "ABC XYZ 09 @[`{ \xe9", "");
	MAPS("{case: lower}", L("ABC XYZ Hello \xc9 long line of MIXED case text"),
	     "abc xyz hello \xc9 long line of mixed case text");
	MAPS("{trim: true}", L("  a b \t\r", "\v\fx\r", "   ", "", "a"),
	     "a b", "x", "", "", "a");
	MAPS("{trim: false}", L(" a "), " a ");
	MAPS("{prefix: '> '}", L("a", ""), "> a", "> ");
	MAPS("{suffix: ';'}", L("a", ""), "a;", ";");
}

static void test_combinations(void **state)
{
	(void)state;
	MAPS("[{replace: '\\d+', with: N}, {case: upper}, {trim: true}, {prefix: '> '}]",
	     L("  id 42 ok\r"), "> ID N OK");
	MAPS("[{trim: true}, {fields: [2]}, {suffix: '!'}, {case: upper}]",
	     L("  x yz  "), "YZ!");
	MAPS("[{fields: [3, 1], delimiter: ','}, {replace: ' ', with: '-'}]",
	     L("a,b,c"), "c-a");
	MAPS("[{template: '$1', pattern: '(\\d+)', on_nomatch: drop}, {prefix: '#'}]",
	     L("x", "a7b"), "#7");
	/* Unchanged by every operation: copied as it came. */
	MAPS("[{replace: zzz, with: y}, {template: '$0', pattern: qqq}]",
	     L("keep me\r", ""), "keep me\r", "");
}

/* Output grows past one batch: several standard batches, in order, with
 * tags and provenance kept; NUL framing stays NUL framing. */
static void test_output_batches(void **state)
{
	struct fx f;
	struct outq q = {0};
	struct err e = {0};
	char rec[100];

	(void)state;
	memset(rec, 'r', sizeof rec);
	const char *prefix = "a fairly long prefix for every record: ";
	char yaml[100];
	snprintf(yaml, sizeof yaml, "{prefix: '%s'}", prefix);
	fx_open(&f, yaml);
	struct batch *in = batch_new(FRAMING_NUL, 0, 0);
	in->origin = "in.log";
	in->first_rec = 1000;
	in->offset = 777;
	uint32_t n = 0;
	while (in->len + sizeof rec + 1 <= in->cap && n < in->rcap)
		batch_add(in, rec, sizeof rec, n++);
	assert_int_equal(kind_map.process(&f.w, in, &q, &e), STAGE_OK);
	assert_true(q.n >= 2);
	uint32_t k = 0;
	for (struct batch *b = q.head; b; ) {
		struct batch *next = b->next;
		assert_int_equal(b->framing, FRAMING_NUL);
		assert_string_equal(b->origin, "in.log");
		assert_int_equal(b->first_rec, 1000);
		assert_int_equal(b->offset, 777);
		assert_true(b->cap == BATCH_DATA);
		assert_int_equal(b->records, b->n);
		check_terms(b);
		for (uint32_t i = 0; i < b->n; i++, k++) {
			assert_int_equal(b->recs[i].tag, k);
			assert_int_equal(b->recs[i].len, strlen(prefix) + sizeof rec);
		}
		batch_free(b);
		b = next;
	}
	assert_int_equal(k, n);
	fx_close(&f);
}

/* A pattern that hits its match limit is a runtime error naming the record. */
static void test_limit_error(void **state)
{
	struct fx f;
	struct outq q = {0};
	struct err e = {0};
	char slow[60];
	const char *in[] = { "ok", slow };

	(void)state;
	memset(slow, 'a', sizeof slow - 2);
	slow[sizeof slow - 2] = 'b';
	slow[sizeof slow - 1] = '\0';
	fx_open(&f, "{replace: '(a+)+$', with: x}");
	assert_int_equal(kind_map.process(&f.w, mk(FRAMING_LINES, in, NULL, 2), &q, &e),
			 STAGE_ERROR);
	assert_string_equal(e.msg, "in.log: record 2: match limit exceeded (the replace "
			    "pattern '(a+)+$')");
	/* The record before the failing one still goes on. */
	only_record(&q, "ok");
	fx_close(&f);
}

/* ---- parse errors ---- */

static void test_parse_errors(void **state)
{
	(void)state;
	load_fails("{replce: x, with: y}",
		   "p.yaml:1:2: unknown operation 'replce' (did you mean 'replace'?)");
	load_fails("{frobnicate: x}",
		   "p.yaml:1:2: an operation needs one of replace, fields, template, "
		   "case, trim, prefix, suffix, set, delete, rename or keep");
	load_fails("{replace: x, with: y, case: upper}",
		   "p.yaml:1:23: an operation has exactly one of replace, fields, "
		   "template, case, trim, prefix, suffix, set, delete, rename and keep; "
		   "this one has both "
		   "'replace' and 'case' (make it a list: [{...}, {...}])");
	load_fails("{replace: x, whit: y}",
		   "p.yaml:1:14: unknown option 'whit' for a replace operation (known "
		   "options: replace, with, first, ignore_case, fixed, field)");
	load_fails("{replace: x}",
		   "p.yaml:1:1: missing required option 'with' for a replace operation");
	load_fails("{replace: '(x', with: y}",
		   "p.yaml:1:11: bad pattern: missing closing parenthesis at offset 2");
	load_fails("{replace: '(x)', with: 'a $2'}",
		   "p.yaml:1:24: bad replacement: group $2 does not exist (the pattern "
		   "has 1) at offset 2");
	load_fails("{template: '$who', pattern: x}",
		   "p.yaml:1:12: bad template: unknown group '$who' at offset 0");
	load_fails("{case: uper}",
		   "p.yaml:1:8: unknown case 'uper' (expected upper or lower; did you "
		   "mean 'upper'?)");
	load_fails("{fields: [1, 0]}",
		   "p.yaml:1:14: fields: field numbers start at 1 (-1 is the last)");
	load_fails("{fields: [1, x2]}",
		   "p.yaml:1:14: fields: bad field 'x2' (expected a number such as 3 or "
		   "-1, or a range such as 2-4 or 5-)");
	load_fails("{fields: ['4-2']}", "p.yaml:1:11: fields: range 4-2 runs backwards");
	load_fails("{fields: []}", "p.yaml:1:10: fields: the list is empty");
	load_fails("{fields: [1], delimiter: ''}",
		   "p.yaml:1:26: delimiter: must not be empty (leave it out to split "
		   "on runs of blanks)");
	load_fails("[{case: upper}, 3]",
		   "p.yaml:1:17: expected an operation (a mapping such as {case: upper}), "
		   "got a string");
	load_fails("[]", "p.yaml:1:1: map: the list of operations is empty");
	load_fails("upper",
		   "p.yaml:1:1: map: expected an operation (e.g. {replace: PATTERN, "
		   "with: TEXT}) or a list of them, got a string");
	load_fails("{trim: maybe}", "p.yaml:1:8: trim: expected true or false, got 'maybe'");
}

/* Every operation of a list is checked, not only the first bad one. */
static void test_parse_reports_all(void **state)
{
	struct fx f;

	(void)state;
	assert_int_equal(fx_try(&f, "[{case: uper}, {trim: true}, {prefx: a}]"), -1);
	assert_int_equal(f.d.n, 2);
	assert_string_equal(f.d.msgs[0], "p.yaml:1:9: unknown case 'uper' (expected "
			    "upper or lower; did you mean 'upper'?)");
	assert_string_equal(f.d.msgs[1], "p.yaml:1:31: unknown operation 'prefx' "
			    "(did you mean 'prefix'?)");
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_replace_empty_matches),
		cmocka_unit_test(test_replace_bytes),
		cmocka_unit_test(test_fields_blanks),
		cmocka_unit_test(test_fields_delimiter),
		cmocka_unit_test(test_fields_nul),
		cmocka_unit_test(test_template),
		cmocka_unit_test(test_simple_ops),
		cmocka_unit_test(test_combinations),
		cmocka_unit_test(test_output_batches),
		cmocka_unit_test(test_limit_error),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_reports_all),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	batch_pool_drain();
	return rc;
}
