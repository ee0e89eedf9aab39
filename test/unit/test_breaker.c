/* SPDX-License-Identifier: MIT */
/*
 * test_breaker.c - the circuit breaker's transitions and callback.
 *
 * Time comes from a fake clock the test moves by hand.  The concurrent
 * test is there for ThreadSanitizer and for the callback's ordering.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <string.h>

#include "csp/csp.h"

#define MS CSP_NS_PER_MS

static _Atomic int64_t fake_now;

static int64_t fake_clock(void *arg)
{
	return atomic_load((_Atomic int64_t *)arg);
}

static void advance(int64_t ns)
{
	atomic_fetch_add(&fake_now, ns);
}

/* What the change callback saw, in order. */
struct log {
	struct breaker *b;
	int n;
	enum breaker_state from[64], to[64];
	int reentered;  /* breaker_state from inside the callback agreed */
};

static void log_change(void *arg, enum breaker_state from,
		       enum breaker_state to)
{
	struct log *lg = arg;

	if (lg->n < 64) {
		lg->from[lg->n] = from;
		lg->to[lg->n] = to;
	}
	lg->n++;
	/* The callback runs outside the lock: it may look at the breaker. */
	if (lg->b != NULL && breaker_state(lg->b) == to)
		lg->reentered++;
}

static struct breaker *fake_breaker(int failures, int64_t cooldown, int probes,
				    struct log *lg)
{
	struct breaker *b = breaker_new(failures, cooldown, probes);

	atomic_store(&fake_now, 0);
	breaker_set_clock(b, fake_clock, &fake_now);
	if (lg != NULL) {
		memset(lg, 0, sizeof *lg);
		lg->b = b;
		breaker_on_change(b, log_change, lg);
	}
	return b;
}

static void call(struct breaker *b, int success)
{
	assert_int_equal(breaker_allow(b), CSP_OK);
	breaker_done(b, success);
}

/* Consecutive failures open it; a success in between starts the count
 * again. */
static void test_closed_to_open(void **state)
{
	struct log lg;
	struct breaker *b = fake_breaker(3, 1000 * MS, 2, &lg);

	assert_int_equal(breaker_state(b), BREAKER_CLOSED);
	call(b, 0);
	call(b, 0);
	call(b, 1);
	call(b, 0);
	call(b, 0);
	assert_int_equal(breaker_state(b), BREAKER_CLOSED);
	assert_int_equal(lg.n, 0);
	call(b, 0);
	assert_int_equal(breaker_state(b), BREAKER_OPEN);
	assert_int_equal(breaker_allow(b), CSP_OPEN);
	assert_int_equal(lg.n, 1);
	assert_int_equal(lg.from[0], BREAKER_CLOSED);
	assert_int_equal(lg.to[0], BREAKER_OPEN);
	breaker_free(b);
	breaker_free(NULL);
}

/* Open refuses until the cooldown has passed, then admits `probes` calls;
 * that many successes close it. */
static void test_open_half_open_closed(void **state)
{
	struct log lg;
	struct breaker *b = fake_breaker(1, 1000 * MS, 2, &lg);

	call(b, 0);
	assert_int_equal(breaker_state(b), BREAKER_OPEN);
	advance(999 * MS);
	assert_int_equal(breaker_allow(b), CSP_OPEN);
	assert_int_equal(breaker_state(b), BREAKER_OPEN);
	/* Reports while open concern calls admitted before: ignored. */
	breaker_done(b, 1);
	assert_int_equal(breaker_state(b), BREAKER_OPEN);
	advance(1 * MS);
	assert_int_equal(breaker_allow(b), CSP_OK);
	assert_int_equal(breaker_state(b), BREAKER_HALF_OPEN);
	assert_int_equal(breaker_allow(b), CSP_OK);
	assert_int_equal(breaker_allow(b), CSP_OPEN);   /* probes all out */
	breaker_done(b, 1);
	assert_int_equal(breaker_state(b), BREAKER_HALF_OPEN);
	assert_int_equal(breaker_allow(b), CSP_OPEN);   /* still only two */
	breaker_done(b, 1);
	assert_int_equal(breaker_state(b), BREAKER_CLOSED);
	call(b, 1);
	assert_int_equal(lg.n, 3);
	assert_int_equal(lg.to[0], BREAKER_OPEN);
	assert_int_equal(lg.from[1], BREAKER_OPEN);
	assert_int_equal(lg.to[1], BREAKER_HALF_OPEN);
	assert_int_equal(lg.from[2], BREAKER_HALF_OPEN);
	assert_int_equal(lg.to[2], BREAKER_CLOSED);
	assert_int_equal(lg.reentered, 3);
	breaker_free(b);
}

/* Any failure while half-open opens it again, for a new cooldown counted
 * from that failure. */
static void test_half_open_failure_reopens(void **state)
{
	static const enum breaker_state want[][2] = {
		{ BREAKER_CLOSED, BREAKER_OPEN },
		{ BREAKER_OPEN, BREAKER_HALF_OPEN },
		{ BREAKER_HALF_OPEN, BREAKER_OPEN },
		{ BREAKER_OPEN, BREAKER_HALF_OPEN },
		{ BREAKER_HALF_OPEN, BREAKER_CLOSED },
	};
	struct log lg;
	struct breaker *b = fake_breaker(2, 500 * MS, 3, &lg);
	int i;

	call(b, 0);
	call(b, 0);
	advance(600 * MS);
	call(b, 1);
	call(b, 0);                                     /* second probe fails */
	assert_int_equal(breaker_state(b), BREAKER_OPEN);
	advance(499 * MS);
	assert_int_equal(breaker_allow(b), CSP_OPEN);
	advance(1 * MS);
	for (i = 0; i < 3; i++)
		call(b, 1);
	assert_int_equal(breaker_state(b), BREAKER_CLOSED);
	assert_int_equal(lg.n, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(lg.from[i], want[i][0]);
		assert_int_equal(lg.to[i], want[i][1]);
	}
	breaker_free(b);
}

/* With generations, a late report from a call admitted while closed is not
 * taken for a probe's. */
static void test_generation_ignores_late_reports(void **state)
{
	struct breaker *b = fake_breaker(1, 100 * MS, 1, NULL);
	uint64_t old, failing, probe;

	assert_int_equal(breaker_allow_gen(b, &old), CSP_OK);
	assert_int_equal(breaker_allow_gen(b, &failing), CSP_OK);
	breaker_done_gen(b, failing, 0);
	assert_int_equal(breaker_state(b), BREAKER_OPEN);
	advance(100 * MS);
	assert_int_equal(breaker_allow_gen(b, &probe), CSP_OK);
	assert_true(probe != old);
	breaker_done_gen(b, old, 1);                    /* late: ignored */
	assert_int_equal(breaker_state(b), BREAKER_HALF_OPEN);
	breaker_done_gen(b, old, 0);                    /* late: ignored */
	assert_int_equal(breaker_state(b), BREAKER_HALF_OPEN);
	breaker_done_gen(b, probe, 1);
	assert_int_equal(breaker_state(b), BREAKER_CLOSED);
	breaker_free(b);
}

static void test_names_and_odd_arguments(void **state)
{
	struct breaker *b = fake_breaker(0, -5, 0, NULL);

	assert_string_equal(breaker_state_name(BREAKER_CLOSED), "closed");
	assert_string_equal(breaker_state_name(BREAKER_OPEN), "open");
	assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half-open");
	/* failures 0 counts as 1, cooldown -5 as 0, probes 0 as 1. */
	call(b, 0);
	assert_int_equal(breaker_state(b), BREAKER_HALF_OPEN);
	assert_int_equal(breaker_allow(b), CSP_OK);
	assert_int_equal(breaker_allow(b), CSP_OPEN);
	breaker_done(b, 1);
	assert_int_equal(breaker_state(b), BREAKER_CLOSED);
	breaker_free(b);
}

/* Several threads on one breaker with the real clock and no cooldown, so
 * that it moves through every state many times.  The callback must see a
 * chain (each transition starts where the previous one ended), delivered
 * one at a time. */
struct chain {
	atomic_int inside;        /* callbacks running now */
	int overlap;              /* a second ran while one was running */
	int n, broken;
	enum breaker_state last;  /* plain: callbacks never overlap */
};

static void chain_change(void *arg, enum breaker_state from,
			 enum breaker_state to)
{
	struct chain *c = arg;

	if (atomic_fetch_add(&c->inside, 1) != 0)
		c->overlap = 1;
	if (from != c->last || from == to)
		c->broken++;
	c->last = to;
	c->n++;
	atomic_fetch_sub(&c->inside, 1);
}

struct hammer {
	struct breaker *b;
	unsigned seed;
	int allowed, refused;
};

static void *hammer(void *p)
{
	struct hammer *h = p;
	uint64_t gen;
	int i;

	for (i = 0; i < 20000; i++) {
		h->seed = h->seed * 1103515245u + 12345u;
		if (breaker_allow_gen(h->b, &gen) != CSP_OK) {
			h->refused++;
			continue;
		}
		h->allowed++;
		breaker_done_gen(h->b, gen, (h->seed >> 16) % 4 != 0);
	}
	return NULL;
}

static void test_concurrent_use(void **state)
{
	struct breaker *b = breaker_new(2, 0, 2);
	struct chain c = { 0, 0, 0, 0, BREAKER_CLOSED };
	struct hammer h[4];
	pthread_t t[4];
	enum breaker_state s;
	int i, total = 0;

	breaker_on_change(b, chain_change, &c);
	for (i = 0; i < 4; i++) {
		h[i] = (struct hammer){ b, 7u + (unsigned)i, 0, 0 };
		assert_int_equal(csp_thread_start(&t[i], hammer, &h[i], 0), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		total += h[i].allowed + h[i].refused;
	}
	assert_int_equal(total, 4 * 20000);
	assert_int_equal(c.overlap, 0);
	assert_int_equal(c.broken, 0);
	assert_true(c.n > 0);
	/* Every transition was delivered, including any that this last look
	 * makes (open with no cooldown becomes half-open). */
	s = breaker_state(b);
	assert_int_equal(c.last, s);
	breaker_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_closed_to_open),
		cmocka_unit_test(test_open_half_open_closed),
		cmocka_unit_test(test_half_open_failure_reopens),
		cmocka_unit_test(test_generation_ignores_late_reports),
		cmocka_unit_test(test_names_and_odd_arguments),
		cmocka_unit_test(test_concurrent_use),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
