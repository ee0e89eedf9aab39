/* SPDX-License-Identifier: MIT */
/*
 * sync.c - wait group, once, counting semaphore.
 *
 * None of these parks a thread by itself: the blocking calls wait on
 * runtime channels, so they honour contexts exactly as chan_send and
 * chan_recv do and there is one parking scheme in the runtime, not two.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "csp.h"

/*
 * Wait group.
 *
 * The count lives under a mutex.  Waiters do not poll it: they receive from
 * a channel that is closed when the count drops to zero.  That channel is
 * made lazily, by the first waiter that finds the count above zero, so a
 * group that nobody waits on while it is busy costs no allocation, and it
 * is detached from the group when it is closed, so the next busy period
 * (reuse, as Go allows) gets a fresh one.
 *
 * A waiter may still be inside chan_recv on a detached channel when the
 * group moves on, so each channel is reference counted: one reference for
 * the group while attached, one per waiter.  The last to let go frees it.
 */
struct wg_gen {
	struct chan *zero;  /* closed when this busy period's count hit zero */
	atomic_int refs;
};

struct waitgroup {
	pthread_mutex_t mu;
	long count;
	struct wg_gen *gen; /* NULL until someone waits during a busy period */
};

static void wg_gen_put(struct wg_gen *g)
{
	if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1) {
		chan_free(g->zero);
		free(g);
	}
}

/* A new wait group with a count of zero.  Never returns NULL. */
struct waitgroup *wg_new(void)
{
	struct waitgroup *wg = csp_calloc(1, sizeof *wg);

	pthread_mutex_init(&wg->mu, NULL);
	return wg;
}

/* Free a wait group.  No call may be blocked in wg_wait on it.  NULL is
 * harmless. */
void wg_free(struct waitgroup *wg)
{
	if (wg == NULL)
		return;
	if (wg->gen != NULL)
		wg_gen_put(wg->gen);
	pthread_mutex_destroy(&wg->mu);
	free(wg);
}

/*
 * Add delta (which may be negative) to the count.  When the count reaches
 * zero every wg_wait returns.  A count below zero is a bug in the caller
 * (more wg_done than wg_add), as it is a panic in Go: it is reported on
 * stderr and aborts, because no caller could recover from it sensibly.
 */
void wg_add(struct waitgroup *wg, int delta)
{
	struct wg_gen *done = NULL;

	pthread_mutex_lock(&wg->mu);
	wg->count += delta;
	if (wg->count < 0) {
		pthread_mutex_unlock(&wg->mu);
		fputs("cspipe: wg_add: negative wait group counter\n", stderr);
		abort();
	}
	if (wg->count == 0 && wg->gen != NULL) {
		done = wg->gen;
		wg->gen = NULL;
	}
	pthread_mutex_unlock(&wg->mu);
	/* Closed outside the group's lock: the waiters it wakes need no lock
	 * of ours to leave, and the group's reference passes to us here. */
	if (done != NULL) {
		chan_close(done->zero);
		wg_gen_put(done);
	}
}

void wg_done(struct waitgroup *wg)
{
	wg_add(wg, -1);
}

/*
 * Block until the count is zero or ctx is done.  Returns CSP_OK when the
 * count was zero at some moment during the call (at once if it is zero now,
 * even under a cancelled context), else the context's CSP_CANCELED or
 * CSP_DEADLINE.  Several threads may wait at once.
 */
int wg_wait(struct waitgroup *wg, struct ctx *ctx)
{
	struct wg_gen *g;
	char dummy;
	int r;

	pthread_mutex_lock(&wg->mu);
	if (wg->count == 0) {
		pthread_mutex_unlock(&wg->mu);
		return CSP_OK;
	}
	if (wg->gen == NULL) {
		g = csp_malloc(sizeof *g);
		g->zero = chan_new(1, 0);
		atomic_init(&g->refs, 1);
		wg->gen = g;
	}
	g = wg->gen;
	atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&wg->mu);

	/* Nobody ever sends on zero: the only way for the receive to finish
	 * without the context is the close. */
	r = chan_recv(g->zero, &dummy, ctx);
	wg_gen_put(g);
	return r == CSP_CLOSED ? CSP_OK : r;
}

/*
 * Once.
 *
 * Run fn(arg) the first time once_do is called on o, and make every other
 * call, concurrent or later, return only after that first fn has returned
 * (so what fn set up is visible to all of them).  The common case, already
 * done, is one acquire load.  fn must not call once_do on the same o: that
 * deadlocks, as it does in Go.
 */
void once_do(struct once *o, void (*fn)(void *), void *arg)
{
	if (atomic_load_explicit(&o->done, memory_order_acquire))
		return;
	pthread_mutex_lock(&o->mu);
	if (!atomic_load_explicit(&o->done, memory_order_relaxed)) {
		fn(arg);
		atomic_store_explicit(&o->done, 1, memory_order_release);
	}
	pthread_mutex_unlock(&o->mu);
}

/*
 * Counting semaphore: Go's buffered-channel pattern.  The channel holds one
 * token per unit held; acquiring puts a token in (and so blocks while the
 * channel is full), releasing takes one out.  Waiting acquirers are woken
 * by the channel in the order and with the fairness that channels give.
 *
 * A semaphore of size 0 never grants anything.  A channel of capacity 0
 * would be a rendezvous instead (a release could take the token of a
 * blocked acquirer), so that case uses a channel of capacity 1 that starts
 * full and n records that nothing may be released.
 */
struct sem {
	struct chan *tokens;
	size_t n;
};

/* A semaphore that admits n holders at once.  Never returns NULL. */
struct sem *sem_new(size_t n)
{
	struct sem *s = csp_malloc(sizeof *s);
	char token = 0;

	s->n = n;
	s->tokens = chan_new(1, n > 0 ? n : 1);
	if (n == 0)
		chan_try_send(s->tokens, &token);
	return s;
}

/* Free a semaphore.  No call may be blocked on it.  NULL is harmless. */
void sem_free(struct sem *s)
{
	if (s == NULL)
		return;
	chan_free(s->tokens);
	free(s);
}

/* Take one unit, waiting while all are held.  Returns CSP_OK, or the
 * context's CSP_CANCELED / CSP_DEADLINE (then nothing is held). */
int sem_acquire(struct sem *s, struct ctx *ctx)
{
	char token = 0;

	return chan_send(s->tokens, &token, ctx);
}

/* Take one unit if one is free now: CSP_OK or CSP_WOULDBLOCK. */
int sem_try_acquire(struct sem *s)
{
	char token = 0;

	return chan_try_send(s->tokens, &token);
}

/* Give one unit back, waking one waiting acquirer if there is one.
 * Returns CSP_OK, or CSP_INVALID when no unit is held (a bug in the
 * caller, reported rather than fatal). */
int sem_release(struct sem *s)
{
	char token;

	if (s->n == 0)
		return CSP_INVALID;
	return chan_try_recv(s->tokens, &token) == CSP_OK ? CSP_OK : CSP_INVALID;
}

/* How many units are held now (a snapshot: it may change at once). */
size_t sem_held(struct sem *s)
{
	return s->n == 0 ? 0 : chan_len(s->tokens);
}
