/* SPDX-License-Identifier: MIT */
/*
 * rate.h - token-bucket rate limiter, as Go's golang.org/x/time/rate.
 *
 * The bucket holds up to `burst` tokens and refills at `rate` tokens per
 * second; it starts full.  rate == CSP_RATE_INF allows everything (the
 * burst is then ignored); any other negative rate, or an infinite one, means
 * the same.  Rate 0 allows `burst` events in all (as Go's Limit 0).
 *
 * Times are nanoseconds on the limiter's clock (csp_now unless a test sets
 * another); the ctx deadlines used by limiter_wait are on csp_now.
 */
#ifndef CSP_RATE_H
#define CSP_RATE_H

#include <stdint.h>
#include "clock.h"

#define CSP_RATE_INF (-1.0)

struct ctx;
struct limiter;

struct limiter *limiter_new(double rate, int burst);
void limiter_free(struct limiter *l);
/* Read time through clock (tests); NULL restores csp_now. */
void limiter_set_clock(struct limiter *l, csp_clock_fn clock, void *arg);
void limiter_set_limit(struct limiter *l, double rate);
void limiter_set_burst(struct limiter *l, int burst);
double limiter_limit(struct limiter *l);           /* CSP_RATE_INF when infinite */
int limiter_burst(struct limiter *l);
double limiter_tokens(struct limiter *l);          /* available now; < 0 while owed */

int limiter_allow(struct limiter *l);              /* 1 if a token was taken now */
int limiter_allow_n(struct limiter *l, int n);
/* Block until n tokens are available or ctx is done.  Returns CSP_OK,
 * the context's error, or CSP_INVALID when n exceeds the burst or the wait
 * would outlast the context's deadline (then nothing is consumed). */
int limiter_wait(struct limiter *l, struct ctx *ctx);
int limiter_wait_n(struct limiter *l, int n, struct ctx *ctx);

/* A reservation: tokens taken now, usable after `delay_ns`. */
struct reservation {
	int ok;             /* 0 if n exceeds the burst: nothing reserved */
	int64_t delay_ns;   /* how long to wait before acting, from the reserve;
			     * INT64_MAX when !ok (Go's InfDuration) */
	int64_t time_to_act;/* absolute, on the limiter's clock */
	int n;              /* tokens held; 0 once cancelled */
	struct limiter *lim;
	double limit;       /* the rate when reserved (what cancel restores by) */
};
struct reservation limiter_reserve(struct limiter *l);
struct reservation limiter_reserve_n(struct limiter *l, int n);
/* Give the tokens of an unused reservation back (as far as Go does: not
 * those that later reservations already count on, nothing once its time to
 * act has passed).  Calling it twice, or on a !ok one, does nothing more. */
void reservation_cancel(struct reservation *r);

#endif
