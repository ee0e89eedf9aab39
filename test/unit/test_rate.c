/* SPDX-License-Identifier: MIT */
/*
 * test_rate.c - the token-bucket limiter.
 *
 * Almost every test reads time from a fake clock that only moves when the
 * test says so, which makes the expected token counts and delays exact.
 * One test uses the real clock and only checks that a wait did wait.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>

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

static struct limiter *fake_limiter(double rate, int burst)
{
	struct limiter *l = limiter_new(rate, burst);

	atomic_store(&fake_now, 0);
	limiter_set_clock(l, fake_clock, &fake_now);
	return l;
}

/* Burst 5 at 10/s: five at once, then one every 100 ms; never more than
 * the burst however long it rests. */
static void test_burst_then_steady(void **state)
{
	struct limiter *l = fake_limiter(10, 5);
	int i;

	for (i = 0; i < 5; i++)
		assert_true(limiter_allow(l));
	assert_false(limiter_allow(l));
	for (i = 0; i < 10; i++) {
		advance(50 * MS);
		assert_false(limiter_allow(l));
		advance(50 * MS);
		assert_true(limiter_allow(l));
		assert_false(limiter_allow(l));
	}
	advance(3600 * CSP_NS_PER_S);
	assert_true(limiter_tokens(l) == 5.0);
	for (i = 0; i < 5; i++)
		assert_true(limiter_allow(l));
	assert_false(limiter_allow(l));
	limiter_free(l);
	limiter_free(NULL);
}

static void test_allow_n(void **state)
{
	struct limiter *l = fake_limiter(10, 5);

	assert_false(limiter_allow_n(l, 6));     /* more than the burst */
	assert_true(limiter_tokens(l) == 5.0);   /* ... took nothing */
	assert_true(limiter_allow_n(l, 3));
	assert_false(limiter_allow_n(l, 3));
	assert_true(limiter_allow_n(l, 2));
	assert_true(limiter_allow_n(l, 0));
	advance(300 * MS);
	assert_true(limiter_allow_n(l, 3));
	assert_false(limiter_allow_n(l, -1));
	limiter_free(l);
}

/* Reservations queue up: each one's delay is when the bucket will have
 * held its tokens. */
static void test_reserve_delays(void **state)
{
	struct limiter *l = fake_limiter(10, 2);
	struct reservation r;

	r = limiter_reserve(l);
	assert_true(r.ok);
	assert_int_equal(r.delay_ns, 0);
	r = limiter_reserve(l);
	assert_int_equal(r.delay_ns, 0);
	r = limiter_reserve(l);
	assert_true(r.ok);
	assert_int_equal(r.delay_ns, 100 * MS);
	assert_int_equal(r.time_to_act, 100 * MS);
	assert_int_equal(r.n, 1);
	r = limiter_reserve_n(l, 2);
	assert_true(r.ok);
	assert_int_equal(r.delay_ns, 300 * MS);
	r = limiter_reserve_n(l, 3);               /* exceeds the burst */
	assert_false(r.ok);
	assert_true(r.delay_ns == INT64_MAX);
	assert_true(limiter_tokens(l) == -3.0);
	advance(100 * MS);
	r = limiter_reserve(l);
	assert_int_equal(r.delay_ns, 300 * MS);    /* at 400 ms */
	limiter_free(l);
}

/* Cancelling the latest reservation gives its tokens back; cancelling one
 * that later ones count on gives nothing back (as Go). */
static void test_reservation_cancel(void **state)
{
	struct limiter *l = fake_limiter(10, 1);
	struct reservation a, b, c;

	assert_true(limiter_allow(l));
	a = limiter_reserve(l);                    /* at 100 ms */
	b = limiter_reserve(l);                    /* at 200 ms */
	assert_int_equal(b.delay_ns, 200 * MS);
	reservation_cancel(&b);
	assert_int_equal(b.n, 0);
	assert_true(limiter_tokens(l) == -1.0);
	c = limiter_reserve(l);                    /* b's slot is free again */
	assert_int_equal(c.delay_ns, 200 * MS);
	reservation_cancel(&a);                    /* c counts on a's tokens */
	assert_true(limiter_tokens(l) == -2.0);
	reservation_cancel(&c);
	reservation_cancel(&c);                    /* a second cancel: nothing */
	assert_true(limiter_tokens(l) == -1.0);
	/* Once its time to act has passed, a reservation was used. */
	a = limiter_reserve(l);
	advance(300 * MS);
	reservation_cancel(&a);
	assert_true(limiter_tokens(l) == 1.0);
	assert_true(limiter_allow(l));
	assert_false(limiter_allow(l));
	limiter_free(l);
}

static void test_infinite_and_zero_rates(void **state)
{
	struct limiter *l = fake_limiter(CSP_RATE_INF, 0);
	struct reservation r;
	int i;

	assert_true(limiter_limit(l) == CSP_RATE_INF);
	for (i = 0; i < 1000; i++)
		assert_true(limiter_allow(l));
	assert_int_equal(limiter_wait_n(l, 1000, NULL), CSP_OK);
	r = limiter_reserve_n(l, 50);
	assert_true(r.ok);
	assert_int_equal(r.delay_ns, 0);
	limiter_free(l);

	/* Rate 0: the burst is an allowance, never refilled. */
	l = fake_limiter(0, 3);
	assert_true(limiter_allow(l));
	assert_true(limiter_allow_n(l, 2));
	assert_false(limiter_allow(l));
	advance(3600 * CSP_NS_PER_S);
	assert_false(limiter_allow(l));
	assert_int_equal(limiter_wait(l, NULL), CSP_INVALID);
	limiter_free(l);
}

/* Changing the rate keeps what accumulated at the old one; changing the
 * burst caps the level. */
static void test_set_limit_and_burst(void **state)
{
	struct limiter *l = fake_limiter(10, 10);

	assert_true(limiter_allow_n(l, 10));
	advance(500 * MS);
	limiter_set_limit(l, 1);
	assert_true(limiter_limit(l) == 1.0);
	assert_true(limiter_tokens(l) == 5.0);
	advance(1000 * MS);
	assert_true(limiter_tokens(l) == 6.0);
	limiter_set_limit(l, CSP_RATE_INF);
	assert_true(limiter_allow_n(l, 100));
	limiter_set_limit(l, 10);
	assert_true(limiter_tokens(l) == 6.0);     /* untouched while infinite */

	limiter_set_burst(l, 3);
	assert_int_equal(limiter_burst(l), 3);
	assert_true(limiter_tokens(l) == 3.0);
	assert_true(limiter_allow_n(l, 3));
	assert_false(limiter_allow(l));
	limiter_set_burst(l, 20);
	advance(2 * CSP_NS_PER_S);
	assert_true(limiter_tokens(l) == 20.0);
	limiter_free(l);
}

static void test_wait_n_over_burst_is_invalid(void **state)
{
	struct limiter *l = fake_limiter(10, 5);

	assert_int_equal(limiter_wait_n(l, 6, NULL), CSP_INVALID);
	assert_true(limiter_tokens(l) == 5.0);
	assert_int_equal(limiter_wait_n(l, 5, NULL), CSP_OK);
	assert_true(limiter_tokens(l) == 0.0);
	limiter_free(l);
}

/* A wait that would end after the deadline fails at once and takes
 * nothing, rather than sleeping until the deadline. */
static void test_wait_past_deadline_is_invalid(void **state)
{
	struct limiter *l = fake_limiter(20, 1);
	struct ctx *c = ctx_with_timeout(NULL, 3600 * CSP_NS_PER_S);
	struct ctx *d;

	assert_true(limiter_allow(l));
	/* An hour is enough for the 50 ms the next token takes ... */
	assert_int_equal(limiter_wait(l, c), CSP_OK);
	assert_true(limiter_tokens(l) == -1.0);
	/* ... ten seconds are not enough for the next one at this rate. */
	limiter_set_limit(l, 0.001);
	d = ctx_with_timeout(NULL, 10 * CSP_NS_PER_S);
	assert_int_equal(limiter_wait(l, d), CSP_INVALID);
	assert_true(limiter_tokens(l) == -1.0);
	assert_int_equal(ctx_err(d), 0);   /* it did not sit out the deadline */
	ctx_release(d);
	ctx_release(c);
	limiter_free(l);
}

struct waiting {
	struct limiter *l;
	struct ctx *ctx;
	atomic_int result;
};

static void *waiter(void *p)
{
	struct waiting *w = p;

	atomic_store(&w->result, limiter_wait(w->l, w->ctx));
	return NULL;
}

/* A wait cut short by its context returns the context's error and gives
 * its reservation back. */
static void test_wait_canceled_restores_tokens(void **state)
{
	struct limiter *l = fake_limiter(0.01, 1);   /* a token per 100 s */
	struct waiting w = { l, ctx_with_cancel(NULL), -100 };
	pthread_t t;

	assert_true(limiter_allow(l));
	assert_int_equal(csp_thread_start(&t, waiter, &w, 0), 0);
	/* The waiter has reserved once the level goes negative. */
	while (limiter_tokens(l) > -1.0)
		csp_sleep(CSP_NS_PER_MS, NULL);
	ctx_cancel(w.ctx);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(atomic_load(&w.result), CSP_CANCELED);
	assert_true(limiter_tokens(l) == 0.0);

	/* A context that has already ended takes nothing either. */
	advance(100 * CSP_NS_PER_S);
	assert_int_equal(limiter_wait(l, w.ctx), CSP_CANCELED);
	assert_true(limiter_tokens(l) == 1.0);
	ctx_release(w.ctx);
	limiter_free(l);
}

struct allower {
	struct limiter *l;
	int allowed;
};

static void *allow_many(void *p)
{
	struct allower *a = p;
	int i;

	for (i = 0; i < 1000; i++)
		a->allowed += limiter_allow(a->l);
	return NULL;
}

/* With the clock stopped, exactly the burst is handed out, however many
 * threads ask. */
static void test_concurrent_allow(void **state)
{
	struct limiter *l = fake_limiter(1000, 100);
	struct allower a[4];
	pthread_t t[4];
	int i, total = 0;

	for (i = 0; i < 4; i++) {
		a[i] = (struct allower){ l, 0 };
		assert_int_equal(csp_thread_start(&t[i], allow_many, &a[i], 0), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		total += a[i].allowed;
	}
	assert_int_equal(total, 100);
	limiter_free(l);
}

/* The real clock: a wait for a token 50 ms away does wait.  The clock is
 * read before the first token is taken, so a scheduler that runs this
 * thread late anywhere in between cannot shrink the measured wait; there
 * is no upper bound. */
static void test_real_clock_wait(void **state)
{
	struct limiter *l = limiter_new(20, 1);
	int64_t start;

	start = csp_now();
	assert_true(limiter_allow(l));
	assert_int_equal(limiter_wait(l, NULL), CSP_OK);
	assert_true(csp_now() - start >= 45 * MS);
	limiter_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_steady),
		cmocka_unit_test(test_allow_n),
		cmocka_unit_test(test_reserve_delays),
		cmocka_unit_test(test_reservation_cancel),
		cmocka_unit_test(test_infinite_and_zero_rates),
		cmocka_unit_test(test_set_limit_and_burst),
		cmocka_unit_test(test_wait_n_over_burst_is_invalid),
		cmocka_unit_test(test_wait_past_deadline_is_invalid),
		cmocka_unit_test(test_wait_canceled_restores_tokens),
		cmocka_unit_test(test_concurrent_allow),
		cmocka_unit_test(test_real_clock_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
