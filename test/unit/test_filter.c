/* SPDX-License-Identifier: MIT */
/*
 * test_filter.c - the filter stage, driven by hand: options loaded from
 * YAML, check, a worker, and process() on batches built here.  Filtering
 * is in place, so besides the verdicts the tests check that kept records
 * still point at the same bytes, keep their tags, and are followed by
 * their terminators.  A differential test runs the batch-wide fast path
 * against a plain per-record PCRE2 reference.
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
#include "records/pattern.h"
#include "pipeline/spec.h"
#include "core/stage.h"
#include "base/util.h"

extern const struct stage_kind kind_filter;

/* ---- fixture ---- */

struct fx {
	struct spec *sp;
	struct diags d;
	struct stage st;
	struct wstats ws;
	struct worker w;
};

/* Load the filter's options from a YAML mapping and run check.  Returns
 * check's result; diagnostics stay in f->d. */
static int fx_try(struct fx *f, const char *yaml)
{
	memset(f, 0, sizeof *f);
	f->sp = spec_load_string("p.yaml", yaml, strlen(yaml), &f->d);
	assert_non_null(f->sp);
	f->st.kind = &kind_filter;
	f->st.name = "filter";
	f->st.pos = f->st.kind_pos = node_pos(spec_root(f->sp));
	f->st.conf = calloc(1, kind_filter.conf_size);
	f->st.opt_pos = calloc(config_count(kind_filter.options), sizeof *f->st.opt_pos);
	assert_int_equal(config_load_at(kind_filter.options, f->st.conf, spec_root(f->sp),
					NULL, f->st.opt_pos, &f->d), 0);
	return kind_filter.check(&f->st, &f->d);
}

static void fx_open(struct fx *f, const char *yaml)
{
	if (fx_try(f, yaml) != 0)
		print_error("check: %s\n", f->d.n ? f->d.msgs[0] : "?");
	assert_int_equal(f->d.n, 0);
	f->w.stage = &f->st;
	f->w.stats = &f->ws;
	f->w.state = kind_filter.worker_new(&f->st, 0);
}

static void fx_close(struct fx *f)
{
	if (f->w.state)
		kind_filter.worker_free(&f->st, f->w.state);
	if (f->st.priv)
		kind_filter.free(&f->st);
	config_free(kind_filter.options, f->st.conf);
	free(f->st.conf);
	free(f->st.opt_pos);
	spec_free(f->sp);
	diags_free(&f->d);
}

/* A batch of the given records, each added with its terminator. */
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

/* Run process; returns its result and the single output batch (or NULL). */
static int run(struct fx *f, struct batch *b, struct batch **out, struct err *e)
{
	struct outq q = {0};
	int rc = kind_filter.process(&f->w, b, &q, e);

	assert_true(q.n <= 1);
	*out = q.head;
	return rc;
}

/* Every kept record is followed by its terminator. */
static void check_terms(const struct batch *b)
{
	for (uint32_t i = 0; i < b->n && b->framing != FRAMING_CHUNK; i++)
		assert_int_equal(b->data[b->recs[i].off + b->recs[i].len],
				 framing_term((enum framing)b->framing));
}

/* ---- tests ---- */

static void test_keeps_in_place(void **state)
{
	static const char *const recs[] = {
		"an ERROR here", "all fine", "it FAILED", "", "access denied\r", "ok",
	};
	struct fx f;
	struct err e = {0};
	struct batch *out;

	(void)state;
	fx_open(&f, "{pattern: '(?i)error|fail(ed|ure)?|denied'}");
	struct batch *b = mk(FRAMING_LINES, recs, NULL, 6);
	struct rec before[6];
	memcpy(before, b->recs, sizeof before);
	assert_int_equal(run(&f, b, &out, &e), STAGE_OK);
	assert_ptr_equal(out, b);
	assert_int_equal(out->n, 3);
	assert_int_equal(out->records, 3);
	/* The same bytes, the same tags: nothing was copied. */
	assert_memory_equal(&out->recs[0], &before[0], sizeof *before);
	assert_memory_equal(&out->recs[1], &before[2], sizeof *before);
	assert_memory_equal(&out->recs[2], &before[4], sizeof *before);
	check_terms(out);
	assert_int_equal(f.ws.filtered, 3);
	assert_int_equal(f.ws.dropped, 0);
	batch_free(out);
	fx_close(&f);
}

static void test_invert(void **state)
{
	static const char *const recs[] = { "error", "fine", "Error", "" };
	struct fx f;
	struct err e = {0};
	struct batch *out;

	(void)state;
	fx_open(&f, "{pattern: error, invert: true}");
	assert_int_equal(run(&f, mk(FRAMING_LINES, recs, NULL, 4), &out, &e), STAGE_OK);
	assert_int_equal(out->n, 3);
	assert_int_equal(out->recs[0].tag, 1);
	assert_int_equal(out->recs[1].tag, 2);
	assert_int_equal(out->recs[2].tag, 3);
	check_terms(out);
	assert_int_equal(f.ws.filtered, 1);
	batch_free(out);
	fx_close(&f);
}

static void test_fixed_and_case(void **state)
{
	static const char *const recs[] = { "a.c", "abc", "A.C", "x(a.c" };
	struct fx f;
	struct err e = {0};
	struct batch *out;

	(void)state;
	fx_open(&f, "{pattern: a.c, fixed: true}");
	assert_int_equal(run(&f, mk(FRAMING_LINES, recs, NULL, 4), &out, &e), STAGE_OK);
	assert_int_equal(out->n, 2);
	assert_int_equal(out->recs[0].tag, 0);
	assert_int_equal(out->recs[1].tag, 3);
	batch_free(out);
	fx_close(&f);

	fx_open(&f, "{pattern: a.c, fixed: true, ignore_case: true}");
	assert_int_equal(run(&f, mk(FRAMING_LINES, recs, NULL, 4), &out, &e), STAGE_OK);
	assert_int_equal(out->n, 3);
	assert_int_equal(out->recs[1].tag, 2);
	batch_free(out);
	fx_close(&f);

	fx_open(&f, "{pattern: ABC, ignore_case: true}");
	assert_int_equal(run(&f, mk(FRAMING_LINES, recs, NULL, 4), &out, &e), STAGE_OK);
	assert_int_equal(out->n, 1);
	assert_int_equal(out->recs[0].tag, 1);
	batch_free(out);
	fx_close(&f);
}

static void test_nul_bytes(void **state)
{
	static const char *const recs[] = { "a\0b", "ab", "\0\0", "x\nb" };
	static const size_t lens[] = { 3, 2, 2, 3 };
	struct fx f;
	struct err e = {0};
	struct batch *out;

	(void)state;
	/* Lines framing: NULs are data. */
	fx_open(&f, "{pattern: 'a\\x00b'}");
	assert_int_equal(run(&f, mk(FRAMING_LINES, recs, lens, 3), &out, &e), STAGE_OK);
	assert_int_equal(out->n, 1);
	assert_int_equal(out->recs[0].tag, 0);
	batch_free(out);
	fx_close(&f);
	/* NUL framing: a newline is data, and the fast path must not see
	 * across the NUL terminators. */
	fx_open(&f, "{pattern: 'b'}");
	assert_int_equal(run(&f, mk(FRAMING_NUL, recs + 1, lens + 1, 3), &out, &e), STAGE_OK);
	assert_int_equal(out->n, 2);
	assert_int_equal(out->recs[0].tag, 0);
	assert_int_equal(out->recs[1].tag, 2);
	check_terms(out);
	batch_free(out);
	fx_close(&f);
}

static void test_all_filtered(void **state)
{
	static const char *const recs[] = { "a", "b" };
	struct fx f;
	struct err e = {0};
	struct batch *out;

	(void)state;
	fx_open(&f, "{pattern: zzz}");
	assert_int_equal(run(&f, mk(FRAMING_LINES, recs, NULL, 2), &out, &e), STAGE_OK);
	assert_null(out);
	assert_int_equal(f.ws.filtered, 2);
	assert_int_equal(run(&f, mk(FRAMING_LINES, recs, NULL, 0), &out, &e), STAGE_OK);
	assert_null(out);
	assert_int_equal(f.ws.filtered, 2);
	fx_close(&f);
}

/* Records: a match, one that hits the limit, a non-match. */
static struct batch *limit_batch(void)
{
	static char slow[41];
	static const char *recs[] = { "aaa", slow, "xyz" };

	memset(slow, 'a', 39);
	slow[39] = 'b';
	return mk(FRAMING_LINES, recs, NULL, 3);
}

static void test_on_error(void **state)
{
	struct fx f;
	struct err e = {0};
	struct batch *out;

	(void)state;
	fx_open(&f, "{pattern: '(a+)+$', match_limit: 1000}");
	assert_int_equal(run(&f, limit_batch(), &out, &e), STAGE_ERROR);
	assert_string_equal(e.msg, "in.log: record 2: match limit exceeded "
			    "(match_limit 1000, depth_limit 100000)");
	/* The record kept before the failing one still goes on. */
	assert_non_null(out);
	assert_int_equal(out->n, 1);
	assert_int_equal(out->recs[0].tag, 0);
	batch_free(out);
	fx_close(&f);

	fx_open(&f, "{pattern: '(a+)+$', match_limit: 1000, on_error: drop}");
	assert_int_equal(run(&f, limit_batch(), &out, &e), STAGE_OK);
	assert_int_equal(out->n, 1);
	assert_int_equal(out->recs[0].tag, 0);
	assert_int_equal(f.ws.dropped, 1);
	assert_int_equal(f.ws.filtered, 1);
	batch_free(out);
	fx_close(&f);

	fx_open(&f, "{pattern: '(a+)+$', match_limit: 1000, on_error: keep}");
	assert_int_equal(run(&f, limit_batch(), &out, &e), STAGE_OK);
	assert_int_equal(out->n, 2);
	assert_int_equal(out->recs[1].tag, 1);
	assert_int_equal(f.ws.dropped, 0);
	assert_int_equal(f.ws.filtered, 1);
	batch_free(out);
	fx_close(&f);

	/* Without a record number, the byte offset of the batch. */
	fx_open(&f, "{pattern: '(a+)+$', match_limit: 1000}");
	struct batch *b = limit_batch();
	b->first_rec = 0;
	b->offset = 4096;
	b->origin = NULL;
	assert_int_equal(run(&f, b, &out, &e), STAGE_ERROR);
	assert_string_equal(e.msg, "input: a record at byte offset 4096: match limit "
			    "exceeded (match_limit 1000, depth_limit 100000)");
	batch_free(out);
	fx_close(&f);
}

static void test_bad_pattern(void **state)
{
	struct fx f;

	(void)state;
	assert_int_equal(fx_try(&f, "{pattern: '(abc'}"), -1);
	assert_int_equal(f.d.n, 1);
	assert_string_equal(f.d.msgs[0], "p.yaml:1:11: bad pattern: missing closing "
			    "parenthesis at offset 4");
	fx_close(&f);
	assert_int_equal(fx_try(&f, "{pattern: '(*UTF)x'}"), -1);
	assert_string_equal(f.d.msgs[0], "p.yaml:1:11: bad pattern: using UTF is "
			    "disabled by the application at offset 6");
	fx_close(&f);
	/* A fixed string is never a bad pattern. */
	assert_int_equal(fx_try(&f, "{pattern: '(abc', fixed: true}"), 0);
	fx_close(&f);
}

/* ---- differential: fast path against a per-record reference ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static size_t gen_record(char *out, size_t max, enum framing fr)
{
	static const char *const words[] = {
		"error", "ERROR", "Fail", "failed", "denied", "abc", "abd", "foo",
		"bar", "baz", "qux", "x", "yy", "12", "a.b", " ", "  ", "\t", "\r",
		",", "\xe9", "\0", "\n", "word", "session", "opened", "closed",
	};
	size_t n = 0, want = rnd() % max;

	while (n < want) {
		const char *w = words[rnd() % (sizeof words / sizeof *words)];
		size_t l = w[0] ? strlen(w) : 1;
		if (n + l > want)
			break;
		if (l == 1 && (char)framing_term(fr) == w[0] && fr != FRAMING_CHUNK)
			continue;   /* a record holds no terminator */
		memcpy(out + n, w, l);
		n += l;
	}
	return n;
}

static void test_differential(void **state)
{
	static const char *const pats[] = {
		"(?i)error|fail(ed|ure)?|denied", "error", "ERROR|Fail", "foo(bar|baz)qux",
		"^abc", "abc$", "\\Aerror", "error\\z", "(?<=x)abc", "(?<!a)bd",
		"(?i)\\bword\\b", "session (opened|closed)", "a\\.b", "(ab)?abd",
		"^$", "\\r$", "x", "(?:)", "[a-c]bd", "error\\n?", "(abc)?+abcd",
	};
	static const char *const opts[] = { "", ", invert: true", ", fixed: true",
					     ", ignore_case: true" };
	char rec[120], yaml[256];

	(void)state;
	for (size_t k = 0; k < sizeof pats / sizeof *pats; k++) {
		for (size_t o = 0; o < sizeof opts / sizeof *opts; o++) {
			struct fx f;
			snprintf(yaml, sizeof yaml, "{pattern: '%s'%s}", pats[k], opts[o]);
			fx_open(&f, yaml);
			/* The stage's compiled pattern leads its private state. */
			const struct pattern *p = *(struct pattern *const *)f.st.priv;
			struct pattern_match *m = pattern_match_new(p);
			int invert = o == 1;
			for (int t = 0; t < 60; t++) {
				enum framing fr = t % 5 == 0 ? FRAMING_NUL : FRAMING_LINES;
				if (t % 17 == 0)
					fr = FRAMING_CHUNK;
				struct batch *b = batch_new(fr, 0, 0);
				b->origin = "in.log";
				b->first_rec = 1;
				uint32_t n = (uint32_t)(rnd() % 300);
				for (uint32_t i = 0; i < n; i++) {
					size_t l = gen_record(rec, sizeof rec, fr);
					batch_add(b, rec, l, i);
				}
				/* Gaps: drop records without moving bytes, as an
				 * upstream filter does; sometimes disorder. */
				if (t % 3 == 1) {
					uint32_t j = 0;
					for (uint32_t i = 0; i < b->n; i++)
						if (rnd() % 3)
							b->recs[j++] = b->recs[i];
					b->n = b->records = j;
				}
				if (t % 7 == 2 && b->n > 2) {
					struct rec tmp = b->recs[0];
					b->recs[0] = b->recs[b->n - 1];
					b->recs[b->n - 1] = tmp;
				}
				/* The reference: PCRE2 (or the literal) per record. */
				uint32_t want[300], nw = 0;
				for (uint32_t i = 0; i < b->n; i++) {
					int r = pattern_exec(p, m, rec_ptr(b, i), b->recs[i].len, 0);
					assert_true(r >= 0);
					if (r != invert)
						want[nw++] = b->recs[i].tag;
				}
				struct err e = {0};
				struct batch *out;
				assert_int_equal(run(&f, b, &out, &e), STAGE_OK);
				uint32_t got = out ? out->n : 0;
				if (got != nw)
					print_error("'%s'%s: kept %u, want %u\n", pats[k], opts[o],
						    got, nw);
				assert_int_equal(got, nw);
				for (uint32_t i = 0; i < got; i++)
					assert_int_equal(out->recs[i].tag, want[i]);
				if (out)
					check_terms(out);
				batch_free(out);
			}
			pattern_match_free(m);
			fx_close(&f);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keeps_in_place),
		cmocka_unit_test(test_invert),
		cmocka_unit_test(test_fixed_and_case),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_all_filtered),
		cmocka_unit_test(test_on_error),
		cmocka_unit_test(test_bad_pattern),
		cmocka_unit_test(test_differential),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	batch_pool_drain();
	return rc;
}
