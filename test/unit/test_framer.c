/* SPDX-License-Identifier: MIT */
/*
 * test_framer - records and batches from a byte stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "records/framer.h"
#include "base/util.h"

struct got {
	struct batch *b[256];
	int n;
	int stop_after;   /* return non-zero from the n-th emit */
};

static int keep(void *arg, struct batch *b)
{
	struct got *g = arg;

	assert_true(g->n < 256);
	g->b[g->n++] = b;
	return g->stop_after && g->n >= g->stop_after ? 7 : 0;
}

static void release(struct got *g)
{
	for (int i = 0; i < g->n; i++)
		batch_free(g->b[i]);
	g->n = 0;
}

/* Feed text in pieces of `step` bytes. */
static int feed(struct framer *f, const char *text, size_t len, size_t step, struct err *e)
{
	for (size_t pos = 0; pos < len;) {
		size_t room, n;
		char *dst = framer_space(f, step, &room);
		n = len - pos < room ? len - pos : room;
		if (n > step)
			n = step;
		memcpy(dst, text + pos, n);
		pos += n;
		int rc = framer_commit(f, n, e);
		if (rc)
			return rc;
	}
	return framer_finish(f, e);
}

static char *rec(const struct batch *b, uint32_t i)
{
	static char s[256];
	memcpy(s, b->data + b->recs[i].off, b->recs[i].len);
	s[b->recs[i].len] = '\0';
	return s;
}

static void lines_with_cr_and_missing_newline(void **state)
{
	struct got g = { 0 };
	struct framer f;
	struct err e = { 0 };
	const char text[] = "one\r\ntwo\n\nthree";

	(void)state;
	framer_init(&f, FRAMING_LINES, 0, 1 << 20, "t.log", keep, &g);
	for (size_t step = 1; step <= sizeof text; step++) {
		g.n = 0;
		framer_init(&f, FRAMING_LINES, 0, 1 << 20, "t.log", keep, &g);
		assert_int_equal(feed(&f, text, sizeof text - 1, step, &e), 0);
		assert_int_equal(g.n, 1);
		assert_int_equal(g.b[0]->n, 4);
		assert_string_equal(rec(g.b[0], 0), "one\r");   /* CR is data */
		assert_string_equal(rec(g.b[0], 1), "two");
		assert_string_equal(rec(g.b[0], 2), "");
		assert_string_equal(rec(g.b[0], 3), "three");
		/* The terminator the input lacked was added. */
		assert_int_equal(g.b[0]->data[g.b[0]->recs[3].off + 5], '\n');
		assert_true(f.missing_term);
		assert_int_equal(g.b[0]->first_rec, 1);
		assert_string_equal(g.b[0]->origin, "t.log");
		release(&g);
	}
}

static void nul_and_chunk(void **state)
{
	struct got g = { 0 };
	struct framer f;
	struct err e = { 0 };

	(void)state;
	framer_init(&f, FRAMING_NUL, 0, 100, "x", keep, &g);
	assert_int_equal(feed(&f, "a\nb\0c\0", 6, 2, &e), 0);
	assert_int_equal(g.b[0]->n, 2);
	assert_string_equal(rec(g.b[0], 0), "a\nb");
	assert_string_equal(rec(g.b[0], 1), "c");
	release(&g);

	framer_init(&f, FRAMING_CHUNK, 4, 100, "x", keep, &g);
	assert_int_equal(feed(&f, "abcdefghij", 10, 3, &e), 0);
	assert_int_equal(g.b[0]->n, 3);
	assert_string_equal(rec(g.b[0], 0), "abcd");
	assert_string_equal(rec(g.b[0], 2), "ij");   /* the short last chunk */
	assert_int_equal(g.b[0]->len, 10);           /* no terminators */
	release(&g);
}

static void many_batches_keep_numbers(void **state)
{
	struct got g = { 0 };
	struct framer f;
	struct err e = { 0 };
	struct buf text = { 0 };
	uint64_t expect = 1;

	(void)state;
	for (int i = 1; i <= 20000; i++)
		buf_printf(&text, "record number %d\n", i);
	framer_init(&f, FRAMING_LINES, 0, 1 << 20, "big", keep, &g);
	assert_int_equal(feed(&f, text.p, text.len, 5000, &e), 0);
	assert_true(g.n > 2);
	for (int i = 0; i < g.n; i++) {
		assert_int_equal(g.b[i]->first_rec, expect);
		for (uint32_t r = 0; r < g.b[i]->n; r++) {
			char want[64];
			snprintf(want, sizeof want, "record number %llu",
				 (unsigned long long)(expect + r));
			assert_string_equal(rec(g.b[i], r), want);
			assert_int_equal(g.b[i]->recs[r].tag, r);
		}
		expect += g.b[i]->n;
		assert_true(g.b[i]->len <= BATCH_DATA);
	}
	assert_int_equal(expect, 20001);
	release(&g);
	buf_free(&text);
}

static void too_long_is_an_error_naming_the_record(void **state)
{
	struct got g = { 0 };
	struct framer f;
	struct err e = { 0 };
	char *text = malloc(300000);

	(void)state;
	memset(text, 'x', 300000);
	memcpy(text, "ok\nfine\n", 8);
	framer_init(&f, FRAMING_LINES, 0, 100000, "long.log", keep, &g);
	assert_int_equal(feed(&f, text, 300000, 65536, &e), -1);
	assert_string_equal(e.msg, "long.log:3: record longer than max_record (100000)");
	framer_discard(&f);
	release(&g);
	free(text);
}

static void a_stop_drops_only_the_unfinished_record(void **state)
{
	struct got g = { 0 };
	struct framer f;
	struct err e = { 0 };
	size_t room;

	(void)state;
	framer_init(&f, FRAMING_LINES, 0, 1000, "s", keep, &g);
	char *dst = framer_space(&f, 64, &room);
	memcpy(dst, "whole\nhalf", 10);
	assert_int_equal(framer_commit(&f, 10, &e), 0);
	assert_int_equal(framer_stop(&f), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.b[0]->n, 1);
	assert_string_equal(rec(g.b[0], 0), "whole");
	assert_int_equal(g.b[0]->len, 6);
	release(&g);
}

static void emit_result_is_returned(void **state)
{
	struct got g = { .stop_after = 1 };
	struct framer f;
	struct err e = { 0 };
	struct buf text = { 0 };

	(void)state;
	for (int i = 0; i < 10000; i++)
		buf_printf(&text, "line %d\n", i);
	framer_init(&f, FRAMING_LINES, 0, 1000, "s", keep, &g);
	assert_int_equal(feed(&f, text.p, text.len, 65536, &e), 7);
	framer_discard(&f);
	release(&g);
	buf_free(&text);
}

static void empty_input_emits_nothing(void **state)
{
	struct got g = { 0 };
	struct framer f;
	struct err e = { 0 };

	(void)state;
	framer_init(&f, FRAMING_LINES, 0, 1000, "s", keep, &g);
	assert_int_equal(framer_finish(&f, &e), 0);
	assert_int_equal(g.n, 0);
}

static int teardown(void **state)
{
	(void)state;
	batch_pool_drain();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lines_with_cr_and_missing_newline),
		cmocka_unit_test(nul_and_chunk),
		cmocka_unit_test(many_batches_keep_numbers),
		cmocka_unit_test(too_long_is_an_error_naming_the_record),
		cmocka_unit_test(a_stop_drops_only_the_unfinished_record),
		cmocka_unit_test(emit_result_is_returned),
		cmocka_unit_test(empty_input_emits_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
