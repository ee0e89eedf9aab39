/* SPDX-License-Identifier: MIT */
/*
 * rate.c - token-bucket rate limiter, after golang.org/x/time/rate.
 *
 * The bucket is not refilled by a timer: it remembers how many tokens it
 * held at `last` and works out the current level from the time passed
 * (advance).  Tokens may go negative: a reservation takes its tokens at
 * once and is told how long it must wait until the bucket would have held
 * them, which is what makes reservations and Wait fair and cheap.
 *
 * Go's arithmetic is kept on purpose, including its float token count and
 * its conversions between durations and tokens, so that the limiter
 * behaves as the one Go programmers know.  Where Go's time arithmetic
 * saturates (time.Time.Sub, Add), ours saturates too.
 */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "csp.h"

/* Go's Inf is math.MaxFloat64 and its arithmetic relies on that (a zero
 * duration times Inf is zero tokens, not NaN), so the public -1 is stored
 * as DBL_MAX. */
#define RATE_INF DBL_MAX

struct limiter {
	pthread_mutex_t mu;
	double limit;        /* tokens per second; RATE_INF: no limit */
	int burst;
	double tokens;       /* level at `last`; negative while owed */
	int64_t last;        /* when tokens was last brought up to date */
	int64_t last_event;  /* latest time_to_act handed out, past or future */
	csp_clock_fn clock;  /* NULL: csp_now */
	void *clock_arg;
};

static int64_t add_sat(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static int64_t sub_sat(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_sub_overflow(a, b, &r))
		return b < 0 ? INT64_MAX : INT64_MIN;
	return r;
}

static double rate_norm(double rate)
{
	if (isnan(rate))
		return 0;
	if (rate < 0 || rate >= RATE_INF)
		return RATE_INF;
	return rate;
}

/* How long it takes to accumulate `tokens` at `limit` (Go's
 * durationFromTokens): never, for a limit of zero, and capped rather than
 * overflowing for tiny limits. */
static int64_t duration_from_tokens(double limit, double tokens)
{
	double ns;

	if (limit <= 0)
		return INT64_MAX;
	ns = tokens / limit * 1e9;
	if (ns >= (double)INT64_MAX)
		return INT64_MAX;
	if (ns <= (double)INT64_MIN)
		return INT64_MIN;
	return (int64_t)ns;
}

/* How many tokens accumulate in d at `limit` (Go's tokensFromDuration,
 * with time.Duration.Seconds' split of whole and fractional seconds). */
static double tokens_from_duration(double limit, int64_t d)
{
	double sec;

	if (limit <= 0)
		return 0;
	sec = (double)(d / CSP_NS_PER_S) + (double)(d % CSP_NS_PER_S) / 1e9;
	return sec * limit;
}

/* Caller holds l->mu: the clock may be replaced by limiter_set_clock. */
static int64_t lim_now(struct limiter *l)
{
	return l->clock != NULL ? l->clock(l->clock_arg) : csp_now();
}

/* The token level at time t, without changing l (Go's advance).  A clock
 * that went backwards counts as no time passed.  Caller holds l->mu. */
static double lim_advance(struct limiter *l, int64_t t)
{
	int64_t last = l->last;
	double tokens;

	if (t < last)
		last = t;
	tokens = l->tokens + tokens_from_duration(l->limit, sub_sat(t, last));
	if (tokens > (double)l->burst)
		tokens = (double)l->burst;
	return tokens;
}

/* Bring the level up to date at the current time, so that a change of
 * limit or burst applies from now on only.  Caller holds l->mu. */
static void lim_catch_up(struct limiter *l)
{
	int64_t t = lim_now(l);

	l->tokens = lim_advance(l, t);
	l->last = t;
}

/*
 * Take n tokens at time t if they can be had within max_future (Go's
 * reserveN).  A reservation that is not ok changes nothing.  Caller holds
 * l->mu.
 *
 * Rate 0 follows Go: the burst is an allowance of events in all, spent by
 * each reservation and never refilled.
 */
static struct reservation lim_reserve(struct limiter *l, int64_t t, int n,
				      int64_t max_future)
{
	struct reservation r = {
		.ok = 0, .delay_ns = INT64_MAX, .time_to_act = 0, .n = 0,
		.lim = l, .limit = l->limit,
	};
	double tokens;
	int64_t wait = 0;

	if (n < 0)
		return r;
	if (l->limit == RATE_INF || l->limit == 0) {
		if (l->limit == 0) {
			if (n > l->burst)
				return r;
			l->burst -= n;
		}
		r.ok = 1;
		r.n = n;
		r.time_to_act = t;
		r.delay_ns = 0;
		return r;
	}

	tokens = lim_advance(l, t) - n;
	if (tokens < 0)
		wait = duration_from_tokens(l->limit, -tokens);
	if (n > l->burst || wait > max_future)
		return r;

	r.ok = 1;
	r.n = n;
	r.time_to_act = add_sat(t, wait);
	r.delay_ns = sub_sat(r.time_to_act, t);
	l->last = t;
	l->tokens = tokens;
	l->last_event = r.time_to_act;
	return r;
}

/*
 * A limiter allowing `rate` events per second with bursts of up to `burst`,
 * its bucket full.  See rate.h for the special rates.  Never returns NULL.
 */
struct limiter *limiter_new(double rate, int burst)
{
	struct limiter *l = csp_calloc(1, sizeof *l);

	pthread_mutex_init(&l->mu, NULL);
	l->limit = rate_norm(rate);
	l->burst = burst;
	/* As Go's zero time: so long ago that the first advance fills the
	 * bucket, whatever the clock reads then. */
	l->tokens = 0;
	l->last = INT64_MIN;
	l->last_event = INT64_MIN;
	return l;
}

/* Free a limiter; nobody may be using it.  NULL is harmless. */
void limiter_free(struct limiter *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* Read time through clock(arg) from now on, or csp_now when clock is NULL.
 * The clock is called with the limiter's lock held: it must not call back
 * into this limiter. */
void limiter_set_clock(struct limiter *l, csp_clock_fn clock, void *arg)
{
	pthread_mutex_lock(&l->mu);
	l->clock = clock;
	l->clock_arg = arg;
	pthread_mutex_unlock(&l->mu);
}

/* Change the rate from now on; tokens accumulated so far at the old rate
 * are kept (Go's SetLimit).  Reservations already made keep their times. */
void limiter_set_limit(struct limiter *l, double rate)
{
	pthread_mutex_lock(&l->mu);
	lim_catch_up(l);
	l->limit = rate_norm(rate);
	pthread_mutex_unlock(&l->mu);
}

/* Change the burst from now on (Go's SetBurst): the level is brought up to
 * date under the old burst; a smaller burst caps it at the next update. */
void limiter_set_burst(struct limiter *l, int burst)
{
	pthread_mutex_lock(&l->mu);
	lim_catch_up(l);
	l->burst = burst;
	pthread_mutex_unlock(&l->mu);
}

double limiter_limit(struct limiter *l)
{
	double limit;

	pthread_mutex_lock(&l->mu);
	limit = l->limit;
	pthread_mutex_unlock(&l->mu);
	return limit == RATE_INF ? CSP_RATE_INF : limit;
}

int limiter_burst(struct limiter *l)
{
	int burst;

	pthread_mutex_lock(&l->mu);
	burst = l->burst;
	pthread_mutex_unlock(&l->mu);
	return burst;
}

/* The tokens available now (Go's Tokens); negative while reservations owe
 * tokens that have not accumulated yet.  Changes nothing. */
double limiter_tokens(struct limiter *l)
{
	double tokens;

	pthread_mutex_lock(&l->mu);
	tokens = lim_advance(l, lim_now(l));
	pthread_mutex_unlock(&l->mu);
	return tokens;
}

/* 1 if n tokens were available now and have been taken, else 0 (nothing
 * taken).  Never blocks. */
int limiter_allow_n(struct limiter *l, int n)
{
	struct reservation r;

	pthread_mutex_lock(&l->mu);
	r = lim_reserve(l, lim_now(l), n, 0);
	pthread_mutex_unlock(&l->mu);
	return r.ok;
}

int limiter_allow(struct limiter *l)
{
	return limiter_allow_n(l, 1);
}

/* Reserve n tokens however far in the future they come (Go's ReserveN).
 * !ok (nothing reserved) only when n exceeds the burst, or under rate 0
 * when the allowance is spent, or for n < 0. */
struct reservation limiter_reserve_n(struct limiter *l, int n)
{
	struct reservation r;

	pthread_mutex_lock(&l->mu);
	r = lim_reserve(l, lim_now(l), n, INT64_MAX);
	pthread_mutex_unlock(&l->mu);
	return r;
}

struct reservation limiter_reserve(struct limiter *l)
{
	return limiter_reserve_n(l, 1);
}

/*
 * Give back what an unused reservation took (Go's Reservation.Cancel):
 * nothing if its time to act has passed (it was used), and not the tokens
 * that reservations made after it already count on (those made while the
 * bucket was owed tokens behind it).  Reservations made under an infinite
 * rate or rate 0 took nothing from the bucket and give nothing back.
 * Afterwards r->n is 0, so a second call does nothing.
 */
void reservation_cancel(struct reservation *r)
{
	struct limiter *l = r->lim;
	double restore, tokens;
	int64_t t, prev;

	if (!r->ok || r->n == 0)
		return;
	pthread_mutex_lock(&l->mu);
	t = lim_now(l);
	if (l->limit == RATE_INF || r->limit == RATE_INF || r->limit == 0 ||
	    r->time_to_act < t)
		goto out;
	restore = r->n - tokens_from_duration(r->limit,
					      sub_sat(l->last_event, r->time_to_act));
	if (restore <= 0)
		goto out;
	tokens = lim_advance(l, t) + restore;
	if (tokens > (double)l->burst)
		tokens = (double)l->burst;
	l->last = t;
	l->tokens = tokens;
	if (r->time_to_act == l->last_event) {
		/* It was the latest: the next reservation may act as early as
		 * if this one had never been made. */
		prev = add_sat(r->time_to_act,
			       duration_from_tokens(r->limit, -(double)r->n));
		if (prev >= t)
			l->last_event = prev;
	}
out:
	pthread_mutex_unlock(&l->mu);
	r->n = 0;
}

/*
 * Wait until n tokens can be had, or ctx is done (Go's WaitN).
 *
 * Returns CSP_OK once the tokens are ours; CSP_INVALID at once, taking
 * nothing, when n exceeds the burst (unless the rate is infinite) or when
 * the wait would last past ctx's deadline; or the context's CSP_CANCELED /
 * CSP_DEADLINE, having given the reservation back (reservation_cancel), when
 * ctx ends first or has already ended.
 *
 * The delay is measured on the limiter's clock but slept on the real one
 * (csp_sleep), as Go's fake clocks would have it: a test clock decides how
 * long to wait, not how fast time passes.
 */
int limiter_wait_n(struct limiter *l, int n, struct ctx *ctx)
{
	struct reservation r;
	int64_t deadline, wait_limit = INT64_MAX;
	int burst, inf, err;

	pthread_mutex_lock(&l->mu);
	burst = l->burst;
	inf = l->limit == RATE_INF;
	pthread_mutex_unlock(&l->mu);
	if (n < 0 || (n > burst && !inf))
		return CSP_INVALID;
	err = ctx_err(ctx);
	if (err != 0)
		return err;
	deadline = ctx_deadline(ctx);
	if (deadline != 0)
		wait_limit = sub_sat(deadline, csp_now());

	pthread_mutex_lock(&l->mu);
	r = lim_reserve(l, lim_now(l), n, wait_limit);
	pthread_mutex_unlock(&l->mu);
	if (!r.ok)
		return CSP_INVALID;
	if (r.delay_ns == 0)
		return CSP_OK;
	err = csp_sleep(r.delay_ns, ctx);
	if (err != CSP_OK)
		reservation_cancel(&r);
	return err;
}

int limiter_wait(struct limiter *l, struct ctx *ctx)
{
	return limiter_wait_n(l, 1, ctx);
}
