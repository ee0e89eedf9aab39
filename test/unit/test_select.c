/* SPDX-License-Identifier: MIT */
/*
 * test_select.c - select: readiness, fairness, nil cases, determinism,
 * blocking over mixed send and receive cases, contexts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "csp/csp.h"

#define MS CSP_NS_PER_MS

static void settle(void)
{
	csp_sleep(20 * MS, NULL);
}

/* Three channels that are always ready: each selection is refilled.
 * Each should win about a third of the time; the band is wide enough
 * that a correct select fails it with probability far below 1e-9. */
static void test_fairness(void **state)
{
	struct chan *ch[3];
	struct sel_case cases[3];
	long counts[3] = { 0, 0, 0 }, v = 0;
	const long rounds = 30000;

	(void)state;
	for (int i = 0; i < 3; i++) {
		ch[i] = chan_new(sizeof(long), 1);
		assert_int_equal(chan_send(ch[i], &v, NULL), CSP_OK);
		cases[i] = (struct sel_case){ ch[i], SEL_RECV, &v, 99 };
	}
	for (long r = 0; r < rounds; r++) {
		int k = chan_select(cases, 3, 0, NULL);

		assert_true(k >= 0 && k < 3);
		assert_int_equal(cases[k].result, CSP_OK);
		counts[k]++;
		assert_int_equal(chan_send(ch[k], &v, NULL), CSP_OK);
	}
	for (int i = 0; i < 3; i++) {
		assert_true(counts[i] >= rounds * 28 / 100);
		assert_true(counts[i] <= rounds * 39 / 100);
		chan_free(ch[i]);
	}
}

/* Fair between sends and receives too, and a send case really sends. */
static void test_fairness_send_recv(void **state)
{
	struct chan *in = chan_new(sizeof(long), 1), *out = chan_new(sizeof(long), 1);
	long v = 5, w = 6, counts[2] = { 0, 0 };
	struct sel_case cases[2] = {
		{ in, SEL_RECV, &v, 0 },
		{ out, SEL_SEND, &w, 0 },
	};

	(void)state;
	assert_int_equal(chan_send(in, &v, NULL), CSP_OK);
	for (int r = 0; r < 10000; r++) {
		int k = chan_select(cases, 2, 0, NULL);

		assert_true(k == 0 || k == 1);
		counts[k]++;
		if (k == 0) {
			assert_int_equal(v, 5);
			assert_int_equal(chan_send(in, &v, NULL), CSP_OK);
		} else {
			assert_int_equal(chan_recv(out, &w, NULL), CSP_OK);
			assert_int_equal(w, 6);
		}
	}
	assert_true(counts[0] > 4000 && counts[1] > 4000);
	chan_free(in);
	chan_free(out);
}

static void test_default(void **state)
{
	struct chan *a = chan_new(sizeof(long), 1), *b = chan_new(sizeof(long), 0);
	long v = 3, got = 0;
	struct sel_case cases[2] = {
		{ a, SEL_RECV, &got, 0 },
		{ b, SEL_SEND, &v, 0 },
	};

	(void)state;
	assert_int_equal(chan_select(cases, 2, SEL_NONBLOCK, NULL), CSP_WOULDBLOCK);
	assert_int_equal(chan_send(a, &v, NULL), CSP_OK);
	assert_int_equal(chan_select(cases, 2, SEL_NONBLOCK, NULL), 0);
	assert_int_equal(cases[0].result, CSP_OK);
	assert_int_equal(got, 3);
	assert_int_equal(chan_select(cases, 2, SEL_NONBLOCK, NULL), CSP_WOULDBLOCK);
	assert_int_equal(chan_select(cases, 0, SEL_NONBLOCK, NULL), CSP_WOULDBLOCK);
	chan_free(a);
	chan_free(b);
}

static void test_nil_cases(void **state)
{
	struct chan *a = chan_new(sizeof(long), 1);
	struct ctx *ctx;
	long v = 8;
	struct sel_case cases[3] = {
		{ NULL, SEL_RECV, &v, 0 },
		{ a, SEL_RECV, &v, 0 },
		{ NULL, SEL_SEND, &v, 0 },
	};

	(void)state;
	assert_int_equal(chan_send(a, &v, NULL), CSP_OK);
	/* The nil cases are never chosen, however often we ask. */
	for (int i = 0; i < 200; i++) {
		assert_int_equal(chan_select(cases, 3, 0, NULL), 1);
		assert_int_equal(chan_send(a, &v, NULL), CSP_OK);
	}
	cases[1].ch = NULL;
	assert_int_equal(chan_select(cases, 3, SEL_NONBLOCK, NULL), CSP_WOULDBLOCK);
	/* Only nil cases: it waits for the context alone. */
	ctx = ctx_with_timeout(NULL, 30 * MS);
	assert_int_equal(chan_select(cases, 3, 0, ctx), CSP_DEADLINE);
	ctx_release(ctx);
	chan_free(a);
}

static void test_seeded_determinism(void **state)
{
	struct chan *ch[4];
	struct sel_case cases[4];
	int first[200];
	long v = 0;

	(void)state;
	for (int i = 0; i < 4; i++) {
		ch[i] = chan_new(sizeof(long), 1);
		assert_int_equal(chan_send(ch[i], &v, NULL), CSP_OK);
		cases[i] = (struct sel_case){ ch[i], SEL_RECV, &v, 0 };
	}
	for (int round = 0; round < 2; round++) {
		chan_select_seed(12345);
		for (int r = 0; r < 200; r++) {
			int k = chan_select(cases, 4, 0, NULL);

			assert_true(k >= 0 && k < 4);
			if (round == 0)
				first[r] = k;
			else
				assert_int_equal(k, first[r]);
			assert_int_equal(chan_send(ch[k], &v, NULL), CSP_OK);
		}
	}
	for (int i = 0; i < 4; i++)
		chan_free(ch[i]);
}

static void test_closed_case(void **state)
{
	struct chan *a = chan_new(sizeof(long), 0), *b = chan_new(sizeof(long), 0);
	long v = 77;
	struct sel_case cases[2] = {
		{ a, SEL_RECV, &v, 0 },
		{ b, SEL_SEND, &v, 0 },
	};

	(void)state;
	assert_int_equal(chan_close(a), CSP_OK);
	assert_int_equal(chan_select(cases, 2, 0, NULL), 0);
	assert_int_equal(cases[0].result, CSP_CLOSED);
	assert_int_equal(v, 0);
	/* A send case on a closed channel fires with CSP_CLOSED. */
	cases[0].ch = NULL;
	assert_int_equal(chan_close(b), CSP_OK);
	assert_int_equal(chan_select(cases, 2, 0, NULL), 1);
	assert_int_equal(cases[1].result, CSP_CLOSED);
	chan_free(a);
	chan_free(b);
}

struct selector {
	pthread_t t;
	struct sel_case cases[4];
	int n;
	struct ctx *ctx;
	int result;
	long got;
	atomic_int started;
	atomic_int finished;
};

static void *selector_main(void *arg)
{
	struct selector *s = arg;

	atomic_store(&s->started, 1);
	s->result = chan_select(s->cases, s->n, 0, s->ctx);
	atomic_store(&s->finished, 1);
	return NULL;
}

static void start(struct selector *s)
{
	assert_int_equal(pthread_create(&s->t, NULL, selector_main, s), 0);
	while (!atomic_load(&s->started))
		sched_yield();
}

/* A parked select over a send and a receive case: exactly the case its
 * peer completes fires, and the other leaves no trace. */
static void test_blocking_mixed(void **state)
{
	struct chan *a = chan_new(sizeof(long), 0), *b = chan_new(sizeof(long), 0);
	struct selector s;
	long out = 31, v;

	(void)state;
	/* Completed by a receiver on the send case. */
	memset(&s, 0, sizeof s);
	s.cases[0] = (struct sel_case){ a, SEL_SEND, &out, 0 };
	s.cases[1] = (struct sel_case){ b, SEL_RECV, &s.got, 0 };
	s.n = 2;
	start(&s);
	settle();
	assert_int_equal(atomic_load(&s.finished), 0);
	assert_int_equal(chan_recv(a, &v, NULL), CSP_OK);
	assert_int_equal(v, 31);
	pthread_join(s.t, NULL);
	assert_int_equal(s.result, 0);
	assert_int_equal(s.cases[0].result, CSP_OK);
	assert_int_equal(chan_try_send(b, &v), CSP_WOULDBLOCK);

	/* Completed by a sender on the receive case. */
	memset(&s, 0, sizeof s);
	s.cases[0] = (struct sel_case){ a, SEL_SEND, &out, 0 };
	s.cases[1] = (struct sel_case){ b, SEL_RECV, &s.got, 0 };
	s.n = 2;
	start(&s);
	settle();
	v = 55;
	assert_int_equal(chan_send(b, &v, NULL), CSP_OK);
	pthread_join(s.t, NULL);
	assert_int_equal(s.result, 1);
	assert_int_equal(s.got, 55);
	assert_int_equal(chan_try_recv(a, &v), CSP_WOULDBLOCK);

	/* Completed by a close. */
	memset(&s, 0, sizeof s);
	s.cases[0] = (struct sel_case){ a, SEL_RECV, &s.got, 0 };
	s.cases[1] = (struct sel_case){ b, SEL_RECV, &s.got, 0 };
	s.n = 2;
	s.got = 9;
	start(&s);
	settle();
	assert_int_equal(chan_close(b), CSP_OK);
	pthread_join(s.t, NULL);
	assert_int_equal(s.result, 1);
	assert_int_equal(s.cases[1].result, CSP_CLOSED);
	assert_int_equal(s.got, 0);
	chan_free(a);
	chan_free(b);
}

/* The same channel twice, in both directions. */
static void test_duplicate_channel(void **state)
{
	struct chan *a = chan_new(sizeof(long), 1);
	long in = 4, out = 0;
	struct sel_case cases[3] = {
		{ a, SEL_RECV, &out, 0 },
		{ a, SEL_SEND, &in, 0 },
		{ a, SEL_RECV, &out, 0 },
	};
	int k;

	(void)state;
	k = chan_select(cases, 3, 0, NULL);
	assert_int_equal(k, 1);
	k = chan_select(cases, 3, 0, NULL);
	assert_true(k == 0 || k == 2);
	assert_int_equal(out, 4);
	chan_free(a);
}

static void test_cancel_and_deadline(void **state)
{
	struct chan *a = chan_new(sizeof(long), 0), *b = chan_new(sizeof(long), 4);
	struct selector s;
	struct ctx *ctx;
	int64_t dl;
	long v = 1;

	(void)state;
	/* A context already done wins over a ready case. */
	ctx = ctx_with_cancel(NULL);
	ctx_cancel(ctx);
	memset(&s, 0, sizeof s);
	s.cases[0] = (struct sel_case){ b, SEL_SEND, &v, 0 };
	assert_int_equal(chan_select(s.cases, 1, 0, ctx), CSP_CANCELED);
	assert_int_equal(chan_select(s.cases, 1, SEL_NONBLOCK, ctx), CSP_CANCELED);
	assert_int_equal(chan_len(b), 0);
	ctx_release(ctx);

	/* Cancelled while parked. */
	memset(&s, 0, sizeof s);
	s.cases[0] = (struct sel_case){ a, SEL_RECV, &s.got, 0 };
	s.cases[1] = (struct sel_case){ a, SEL_SEND, &v, 0 };
	s.n = 2;
	s.ctx = ctx_with_cancel(NULL);
	start(&s);
	settle();
	ctx_cancel(s.ctx);
	pthread_join(s.t, NULL);
	assert_int_equal(s.result, CSP_CANCELED);
	ctx_release(s.ctx);

	/* A deadline passing while parked. */
	memset(&s, 0, sizeof s);
	s.cases[0] = (struct sel_case){ a, SEL_RECV, &s.got, 0 };
	s.n = 1;
	s.ctx = ctx_with_timeout(NULL, 50 * MS);
	dl = ctx_deadline(s.ctx);
	start(&s);
	pthread_join(s.t, NULL);
	assert_int_equal(s.result, CSP_DEADLINE);
	assert_true(csp_now() >= dl);
	assert_int_equal(ctx_err(s.ctx), CSP_DEADLINE);
	ctx_release(s.ctx);
	/* Nothing left queued on a: a try finds no peer. */
	assert_int_equal(chan_try_send(a, &v), CSP_WOULDBLOCK);
	chan_free(a);
	chan_free(b);
}

/* A context's done channel is a case like any other. */
static void test_done_as_case(void **state)
{
	struct chan *a = chan_new(sizeof(long), 0);
	struct ctx *ctx = ctx_with_cancel(NULL);
	struct selector s;

	(void)state;
	memset(&s, 0, sizeof s);
	s.cases[0] = (struct sel_case){ a, SEL_RECV, &s.got, 0 };
	s.cases[1] = (struct sel_case){ ctx_done(ctx), SEL_RECV, NULL, 0 };
	s.n = 2;
	start(&s);
	settle();
	ctx_cancel(ctx);
	pthread_join(s.t, NULL);
	assert_int_equal(s.result, 1);
	assert_int_equal(s.cases[1].result, CSP_CLOSED);
	ctx_release(ctx);
	chan_free(a);
}

/* More cases than fit on the stack. */
static void test_many_cases(void **state)
{
	enum { N = 40 };
	struct chan *ch[N];
	struct sel_case cases[N];
	struct ctx *ctx;
	long v = 2;
	int seen[N];

	(void)state;
	memset(seen, 0, sizeof seen);
	for (int i = 0; i < N; i++) {
		ch[i] = chan_new(sizeof(long), 1);
		cases[i] = (struct sel_case){ ch[i], SEL_RECV, &v, 0 };
	}
	assert_int_equal(chan_send(ch[N - 1], &v, NULL), CSP_OK);
	assert_int_equal(chan_select(cases, N, 0, NULL), N - 1);
	ctx = ctx_with_timeout(NULL, 20 * MS);
	assert_int_equal(chan_select(cases, N, 0, ctx), CSP_DEADLINE);
	ctx_release(ctx);
	for (int i = 0; i < N; i++)
		assert_int_equal(chan_send(ch[i], &v, NULL), CSP_OK);
	for (int r = 0; r < N; r++) {
		int k = chan_select(cases, N, 0, NULL);

		assert_true(k >= 0 && k < N);
		assert_int_equal(seen[k], 0);
		seen[k] = 1;
	}
	for (int i = 0; i < N; i++)
		chan_free(ch[i]);
}

static void test_invalid(void **state)
{
	struct chan *a = chan_new(sizeof(long), 1);
	struct sel_case c = { a, 7, NULL, 0 };

	(void)state;
	assert_int_equal(chan_select(&c, -1, 0, NULL), CSP_INVALID);
	assert_int_equal(chan_select(&c, 1, 0, NULL), CSP_INVALID);
	chan_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fairness),
		cmocka_unit_test(test_fairness_send_recv),
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_nil_cases),
		cmocka_unit_test(test_seeded_determinism),
		cmocka_unit_test(test_closed_case),
		cmocka_unit_test(test_blocking_mixed),
		cmocka_unit_test(test_duplicate_channel),
		cmocka_unit_test(test_cancel_and_deadline),
		cmocka_unit_test(test_done_as_case),
		cmocka_unit_test(test_many_cases),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
