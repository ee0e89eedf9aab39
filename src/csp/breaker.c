/* SPDX-License-Identifier: MIT */
/*
 * breaker.c - circuit breaker: closed, open, half-open.
 *
 * All state is under one mutex; time is read through an injectable clock
 * so that tests drive the cooldown by hand.  Nothing here blocks: a refused
 * call gets CSP_OPEN at once, and the caller decides whether to wait.
 *
 * The move from open to half-open happens lazily, when someone looks (allow,
 * done, state) after the cooldown, so the breaker needs no timer.
 *
 * Transitions are queued under the lock and delivered to the change
 * callback after it is released, by whichever thread finds the queue
 * non-empty and nobody delivering.  That keeps the callback free to call
 * back into the breaker (log its state, say) and still delivers every
 * transition once, in order.
 */
#include <pthread.h>
#include <stdlib.h>

#include "csp.h"

struct transition {
	enum breaker_state from, to;
};

struct breaker {
	pthread_mutex_t mu;
	int failures;            /* consecutive failures that open it */
	int probes;              /* calls admitted, and successes needed, half-open */
	int64_t cooldown;
	csp_clock_fn clock;      /* NULL: csp_now */
	void *clock_arg;
	breaker_change_fn on_change;
	void *on_change_arg;

	enum breaker_state state;
	uint64_t gen;            /* bumped on every transition */
	int count;               /* closed: consecutive failures; half-open: successes */
	int admitted;            /* half-open: calls let through so far */
	int64_t opened_at;

	/* Transitions not yet handed to on_change: a ring. */
	struct transition *pending;
	size_t head, len, cap;
	int delivering;          /* a thread is running the queue */
};

/* Caller holds b->mu. */
static int64_t brk_now(struct breaker *b)
{
	return b->clock != NULL ? b->clock(b->clock_arg) : csp_now();
}

/* Caller holds b->mu. */
static void brk_queue(struct breaker *b, enum breaker_state from,
		      enum breaker_state to)
{
	struct transition *ring;
	size_t i, cap;

	if (b->len == b->cap) {
		cap = b->cap ? 2 * b->cap : 4;
		ring = csp_malloc(cap * sizeof *ring);
		for (i = 0; i < b->len; i++)
			ring[i] = b->pending[(b->head + i) % b->cap];
		free(b->pending);
		b->pending = ring;
		b->head = 0;
		b->cap = cap;
	}
	b->pending[(b->head + b->len) % b->cap] = (struct transition){ from, to };
	b->len++;
}

/* Move to `to`, starting a new generation with fresh counts.  Caller holds
 * b->mu. */
static void brk_set(struct breaker *b, enum breaker_state to, int64_t now)
{
	enum breaker_state from = b->state;

	b->state = to;
	b->gen++;
	b->count = 0;
	b->admitted = 0;
	if (to == BREAKER_OPEN)
		b->opened_at = now;
	brk_queue(b, from, to);
}

/* Open becomes half-open once the cooldown has passed.  A clock that went
 * backwards, or whose difference overflows, has not passed it.  Caller
 * holds b->mu. */
static void brk_tick(struct breaker *b, int64_t now)
{
	int64_t elapsed;

	if (b->state != BREAKER_OPEN)
		return;
	if (__builtin_sub_overflow(now, b->opened_at, &elapsed))
		return;
	if (elapsed >= b->cooldown)
		brk_set(b, BREAKER_HALF_OPEN, now);
}

/* Release b->mu, first delivering queued transitions unless another thread
 * already is (it will pick up ours: it loops until the queue is empty). */
static void brk_unlock(struct breaker *b)
{
	struct transition t;
	breaker_change_fn fn;
	void *arg;

	if (b->delivering || b->len == 0) {
		pthread_mutex_unlock(&b->mu);
		return;
	}
	b->delivering = 1;
	while (b->len > 0) {
		t = b->pending[b->head];
		b->head = (b->head + 1) % b->cap;
		b->len--;
		fn = b->on_change;
		arg = b->on_change_arg;
		pthread_mutex_unlock(&b->mu);
		if (fn != NULL)
			fn(arg, t.from, t.to);
		pthread_mutex_lock(&b->mu);
	}
	b->delivering = 0;
	pthread_mutex_unlock(&b->mu);
}

/*
 * A closed breaker that opens after `failures` consecutive failures, stays
 * open for cooldown_ns, then lets `probes` calls through.  failures and
 * probes below 1 count as 1, a negative cooldown as 0.  Never returns NULL.
 */
struct breaker *breaker_new(int failures, int64_t cooldown_ns, int probes)
{
	struct breaker *b = csp_calloc(1, sizeof *b);

	pthread_mutex_init(&b->mu, NULL);
	b->failures = failures > 0 ? failures : 1;
	b->probes = probes > 0 ? probes : 1;
	b->cooldown = cooldown_ns > 0 ? cooldown_ns : 0;
	b->state = BREAKER_CLOSED;
	return b;
}

/* Free a breaker; nobody may be using it.  Transitions not yet delivered
 * are dropped.  NULL is harmless. */
void breaker_free(struct breaker *b)
{
	if (b == NULL)
		return;
	free(b->pending);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

/* Read time through clock(arg), or csp_now when clock is NULL.  The clock
 * is called with the breaker's lock held: it must not call into it. */
void breaker_set_clock(struct breaker *b, csp_clock_fn clock, void *arg)
{
	pthread_mutex_lock(&b->mu);
	b->clock = clock;
	b->clock_arg = arg;
	pthread_mutex_unlock(&b->mu);
}

/* Call fn(arg, from, to) on every transition from now on (NULL: none).
 * See the top of this file for where and when it runs. */
void breaker_on_change(struct breaker *b, breaker_change_fn fn, void *arg)
{
	pthread_mutex_lock(&b->mu);
	b->on_change = fn;
	b->on_change_arg = arg;
	pthread_mutex_unlock(&b->mu);
}

/*
 * Ask to make a call.  CSP_OK: make it and report the outcome with
 * breaker_done_gen(b, *gen, ...); CSP_OPEN: refused (open, or half-open
 * with all its probes admitted), report nothing.  gen may be NULL.
 */
int breaker_allow_gen(struct breaker *b, uint64_t *gen)
{
	int r = CSP_OK;

	pthread_mutex_lock(&b->mu);
	brk_tick(b, brk_now(b));
	switch (b->state) {
	case BREAKER_CLOSED:
		break;
	case BREAKER_OPEN:
		r = CSP_OPEN;
		break;
	case BREAKER_HALF_OPEN:
		if (b->admitted >= b->probes)
			r = CSP_OPEN;
		else
			b->admitted++;
		break;
	}
	if (gen != NULL)
		*gen = b->gen;
	brk_unlock(b);
	return r;
}

int breaker_allow(struct breaker *b)
{
	return breaker_allow_gen(b, NULL);
}

/* Count one outcome in the current state.  Caller holds b->mu. */
static void brk_outcome(struct breaker *b, int success, int64_t now)
{
	switch (b->state) {
	case BREAKER_CLOSED:
		if (success)
			b->count = 0;
		else if (++b->count >= b->failures)
			brk_set(b, BREAKER_OPEN, now);
		break;
	case BREAKER_HALF_OPEN:
		if (!success)
			brk_set(b, BREAKER_OPEN, now);
		else if (++b->count >= b->probes)
			brk_set(b, BREAKER_CLOSED, now);
		break;
	case BREAKER_OPEN:
		/* Admitted before it opened: the verdict is in already. */
		break;
	}
}

/* Report the outcome of a call admitted in generation gen.  Ignored when
 * the breaker has changed state since (the call belonged to another
 * period). */
void breaker_done_gen(struct breaker *b, uint64_t gen, int success)
{
	int64_t now;

	pthread_mutex_lock(&b->mu);
	now = brk_now(b);
	brk_tick(b, now);
	if (gen == b->gen)
		brk_outcome(b, success, now);
	brk_unlock(b);
}

/* Report an outcome against the current state, whatever state the call
 * was admitted in (see breaker.h). */
void breaker_done(struct breaker *b, int success)
{
	int64_t now;

	pthread_mutex_lock(&b->mu);
	now = brk_now(b);
	brk_tick(b, now);
	brk_outcome(b, success, now);
	brk_unlock(b);
}

/* The state now; an open breaker whose cooldown has passed is reported,
 * and becomes, half-open. */
enum breaker_state breaker_state(struct breaker *b)
{
	enum breaker_state s;

	pthread_mutex_lock(&b->mu);
	brk_tick(b, brk_now(b));
	s = b->state;
	brk_unlock(b);
	return s;
}

const char *breaker_state_name(enum breaker_state s)
{
	switch (s) {
	case BREAKER_CLOSED:
		return "closed";
	case BREAKER_OPEN:
		return "open";
	case BREAKER_HALF_OPEN:
		return "half-open";
	}
	return "unknown";
}
