/* SPDX-License-Identifier: MIT */
/*
 * test_stress.c - many threads at once.
 *
 * Conservation: producers, consumers and threads that do both move
 * uniquely numbered values over a few channels of different capacities
 * with every kind of call (send, try, batch, select over several send or
 * mixed cases), under contexts that time out or are cancelled at random,
 * while a chaos thread closes one channel and abandons another.  At the
 * end every value that a call reported as sent was received exactly once,
 * nothing else was received, and the channels' counters agree.
 *
 * Crowds: 1,000 threads blocked on channels at once, released by sends,
 * by one context's cancellation, and by a close.
 *
 * A ring: a token passed around unbuffered channels by threads whose
 * every call has a deadline of a few microseconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"

#define US CSP_NS_PER_US
#define MS CSP_NS_PER_MS

enum {
	NCHAN = 4,
	NPROD = 8,      /* producers */
	NCONS = 8,      /* consumers */
	NMIXED = 8,     /* produce and consume in the same selects */
	NSENDERS = NPROD + NMIXED,
	PER = 10000,    /* values per sending thread */
	BATCH = 8,
};

static const size_t caps[NCHAN] = { 0, 1, 7, 64 };

struct world {
	struct chan *ch[NCHAN];
	unsigned char sent[NSENDERS * PER];   /* written by the value's sender */
	atomic_uchar got[NSENDERS * PER];
	atomic_long nsent, nrecv;
	atomic_long dups, invented;
	atomic_int producing;                 /* senders still producing */
	/* The chaos thread replaces the epoch and cancels the old one; calls
	 * that take a child of it are cancelled at random moments. */
	pthread_mutex_t epoch_mu;
	struct ctx *epoch;
	atomic_int stop;
};

static struct world W;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A context for one call: none (only when may_block_forever), a timeout
 * of up to 50 us, or a child of the current epoch.  *made is what the
 * caller must release. */
static struct ctx *op_ctx(uint64_t *r, int may_block_forever, struct ctx **made)
{
	switch (rnd(r) % 4) {
	case 0:
	case 1:
		if (may_block_forever) {
			*made = NULL;
			return NULL;
		}
		/* fall through */
	case 2:
		*made = ctx_with_timeout(NULL, (int64_t)(rnd(r) % 50) * US);
		return *made;
	default:
		pthread_mutex_lock(&W.epoch_mu);
		*made = ctx_with_cancel(W.epoch);
		pthread_mutex_unlock(&W.epoch_mu);
		return *made;
	}
}

static void take(uint64_t v)
{
	uint64_t who = v >> 32, seq = v & 0xffffffffu;

	if (who >= NSENDERS || seq >= PER) {
		atomic_fetch_add(&W.invented, 1);
		return;
	}
	if (atomic_fetch_add(&W.got[who * PER + seq], 1) != 0)
		atomic_fetch_add(&W.dups, 1);
	atomic_fetch_add(&W.nrecv, 1);
}

static void mark_sent(uint64_t v)
{
	W.sent[(v >> 32) * PER + (v & 0xffffffffu)] = 1;
	atomic_fetch_add(&W.nsent, 1);
}

struct worker {
	pthread_t t;
	int id;         /* sender number, or -1 */
	int consumes;
	uint64_t rng;
	struct chan *open[NCHAN]; /* NULL once seen closed */
	int nopen;
};

static void drop(struct worker *w, struct chan *ch)
{
	for (int i = 0; i < NCHAN; i++)
		if (w->open[i] == ch) {
			w->open[i] = NULL;
			w->nopen--;
		}
}

static struct chan *pick(struct worker *w)
{
	int k = (int)(rnd(&w->rng) % NCHAN);

	for (int i = 0; i < NCHAN; i++, k = (k + 1) % NCHAN)
		if (w->open[k])
			return w->open[k];
	return NULL;
}

/* One attempt to send values seq..; returns how many were sent. */
static int produce(struct worker *w, int seq)
{
	uint64_t vals[BATCH], base = (uint64_t)w->id << 32;
	struct ctx *made = NULL, *ctx;
	struct chan *a = pick(w), *b = pick(w);
	struct sel_case cases[3];
	size_t moved = 0, n;
	int r, k, sent = 0;

	if (!a)
		return 0;
	ctx = op_ctx(&w->rng, 1, &made);
	vals[0] = base | (uint64_t)seq;
	switch (rnd(&w->rng) % 5) {
	case 0:
		r = chan_send(a, &vals[0], ctx);
		sent = r == CSP_OK;
		break;
	case 1:
		r = chan_try_send(a, &vals[0]);
		sent = r == CSP_OK;
		break;
	case 2:
		n = 1 + rnd(&w->rng) % BATCH;
		if (n > (size_t)(PER - seq))
			n = (size_t)(PER - seq);
		for (size_t i = 0; i < n; i++)
			vals[i] = base | (uint64_t)(seq + (int)i);
		r = chan_send_n(a, vals, n, &moved, ctx);
		sent = (int)moved;
		break;
	default:
		/* The same value offered on two channels: it must go once.
		 * A mixed worker also offers to receive. */
		cases[0] = (struct sel_case){ a, SEL_SEND, &vals[0], 0 };
		cases[1] = (struct sel_case){ b, SEL_SEND, &vals[0], 0 };
		cases[2] = (struct sel_case){ pick(w), SEL_RECV, &vals[1], 0 };
		k = chan_select(cases, w->consumes ? 3 : 2,
				rnd(&w->rng) % 4 ? 0 : SEL_NONBLOCK, ctx);
		r = k;
		if (k >= 0) {
			r = cases[k].result;
			if (k < 2 && r == CSP_OK)
				sent = 1;
			else if (k == 2 && r == CSP_OK)
				take(vals[1]);
			if (r == CSP_CLOSED)
				drop(w, cases[k].ch);
			r = 0;
		}
		break;
	}
	for (int i = 0; i < sent; i++)
		mark_sent(base | (uint64_t)(seq + i));
	if (r == CSP_CLOSED)
		drop(w, a);
	ctx_release(made);
	return sent;
}

/* One attempt to receive.  A thread that still has values to send must
 * not wait without an end: the receivers might all be waiting for it. */
static void consume(struct worker *w, int may_block_forever)
{
	uint64_t vals[BATCH];
	struct ctx *made = NULL, *ctx;
	struct chan *a = pick(w);
	struct sel_case cases[NCHAN];
	size_t moved = 0;
	int r, k;

	if (!a)
		return;
	switch (rnd(&w->rng) % 4) {
	case 0:
		/* Blocking single-channel calls always have an end, so that
		 * consumers parked on one channel cannot starve the others. */
		ctx = op_ctx(&w->rng, 0, &made);
		if ((r = chan_recv(a, &vals[0], ctx)) == CSP_OK)
			take(vals[0]);
		break;
	case 1:
		if ((r = chan_try_recv(a, &vals[0])) == CSP_OK)
			take(vals[0]);
		break;
	case 2:
		ctx = op_ctx(&w->rng, 0, &made);
		r = chan_recv_n(a, vals, 1 + rnd(&w->rng) % BATCH, &moved, ctx);
		for (size_t i = 0; i < moved; i++)
			take(vals[i]);
		break;
	default:
		ctx = op_ctx(&w->rng, may_block_forever, &made);
		for (int i = 0; i < NCHAN; i++)
			cases[i] = (struct sel_case){ w->open[i], SEL_RECV,
						      &vals[i], 0 };
		k = chan_select(cases, NCHAN, 0, ctx);
		r = 0;
		if (k >= 0 && cases[k].result == CSP_OK)
			take(vals[k]);
		else if (k >= 0)
			drop(w, cases[k].ch);
		break;
	}
	if (r == CSP_CLOSED)
		drop(w, a);
	ctx_release(made);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int seq = 0;

	for (int i = 0; i < NCHAN; i++)
		w->open[i] = W.ch[i];
	w->nopen = NCHAN;
	if (w->id >= 0) {
		while (seq < PER && w->nopen > 0) {
			seq += produce(w, seq);
			if (w->consumes && rnd(&w->rng) % 2)
				consume(w, 0);
		}
		atomic_fetch_sub(&W.producing, 1);
		if (!w->consumes)
			return NULL;
		/* Channels a producer saw closed may still hold values. */
		for (int i = 0; i < NCHAN; i++)
			w->open[i] = W.ch[i];
		w->nopen = NCHAN;
	}
	while (w->nopen > 0)
		consume(w, 1);
	return NULL;
}

static void *chaos_main(void *arg)
{
	uint64_t r = 0x9e3779b97f4a7c15ULL;
	int round = 0;

	(void)arg;
	while (!atomic_load(&W.stop)) {
		struct ctx *old, *fresh = ctx_with_cancel(NULL);

		csp_sleep((int64_t)(200 + rnd(&r) % 800) * US, NULL);
		pthread_mutex_lock(&W.epoch_mu);
		old = W.epoch;
		W.epoch = fresh;
		pthread_mutex_unlock(&W.epoch_mu);
		ctx_cancel(old);
		ctx_release(old);
		/* Early on, a sender closes one channel and the readers of
		 * another give up on it. */
		if (++round == 20)
			chan_close(W.ch[1]);
		if (round == 30)
			chan_abandon(W.ch[2]);
	}
	return NULL;
}

static void test_conservation(void **state)
{
	struct worker w[NPROD + NCONS + NMIXED];
	pthread_t chaos;
	int n = 0;
	uint64_t total_sent = 0, total_recv = 0;

	(void)state;
	memset(&W, 0, sizeof W);
	pthread_mutex_init(&W.epoch_mu, NULL);
	W.epoch = ctx_with_cancel(NULL);
	for (int i = 0; i < NCHAN; i++)
		W.ch[i] = chan_new(sizeof(uint64_t), caps[i]);
	atomic_store(&W.producing, NSENDERS);
	memset(w, 0, sizeof w);
	for (int i = 0; i < NPROD; i++, n++)
		w[n] = (struct worker){ .id = i, .consumes = 0 };
	for (int i = 0; i < NMIXED; i++, n++)
		w[n] = (struct worker){ .id = NPROD + i, .consumes = 1 };
	for (int i = 0; i < NCONS; i++, n++)
		w[n] = (struct worker){ .id = -1, .consumes = 1 };
	for (int i = 0; i < n; i++) {
		w[i].rng = 0x2545F4914F6CDD1DULL * (uint64_t)(i + 1);
		assert_int_equal(pthread_create(&w[i].t, NULL, worker_main,
						&w[i]), 0);
	}
	assert_int_equal(pthread_create(&chaos, NULL, chaos_main, NULL), 0);

	/* When every value has been offered, close what is still open: the
	 * consumers drain the rest and stop. */
	while (atomic_load(&W.producing) > 0)
		csp_sleep(1 * MS, NULL);
	for (int i = 0; i < NCHAN; i++)
		chan_close(W.ch[i]);
	for (int i = 0; i < n; i++)
		pthread_join(w[i].t, NULL);
	atomic_store(&W.stop, 1);
	pthread_join(chaos, NULL);

	assert_int_equal(atomic_load(&W.invented), 0);
	assert_int_equal(atomic_load(&W.dups), 0);
	for (int i = 0; i < NSENDERS * PER; i++)
		if (W.sent[i] != atomic_load(&W.got[i]))
			fail_msg("value %d/%d: sent %d, received %d", i / PER,
				 i % PER, W.sent[i], atomic_load(&W.got[i]));
	assert_int_equal(atomic_load(&W.nsent), atomic_load(&W.nrecv));
	/* Most values made it (the rest met a closed channel or a
	 * cancellation and were not sent, which the loop above allows). */
	assert_true(atomic_load(&W.nsent) > 0);
	for (int i = 0; i < NCHAN; i++) {
		struct chan_stats st;

		chan_stats(W.ch[i], &st);
		assert_int_equal(st.sent, st.received);
		assert_int_equal(chan_len(W.ch[i]), 0);
		total_sent += st.sent;
		total_recv += st.received;
		chan_free(W.ch[i]);
	}
	assert_int_equal(total_sent, (uint64_t)atomic_load(&W.nsent));
	assert_int_equal(total_recv, (uint64_t)atomic_load(&W.nrecv));
	ctx_release(W.epoch);
	pthread_mutex_destroy(&W.epoch_mu);
}

/* ThreadSanitizer takes about 25 ms to start a thread here, so its build
 * gathers a smaller crowd; every other build gathers the full 1,000. */
#if defined(__SANITIZE_THREAD__)
#define CROWD 250
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CROWD 250
#endif
#endif
#ifndef CROWD
#define CROWD 1000
#endif

struct crowd {
	struct chan *ch[4];   /* one value each */
	struct chan *quiet[4];/* never a value */
	struct chan *never;   /* never ready, never closed */
	struct chan *other;   /* never ready, then closed */
	struct ctx *root, *shared;
	atomic_int phase[3];  /* threads about to block in each phase */
};

struct blocked {
	pthread_t t;
	struct crowd *cr;
	int id;
	long value;
	int result[3];
};

/* Block three times: in a receive released by a send, in a select under
 * a context released by its parent's cancellation, and in a send
 * released by a close.  The select's channels are not the send's: a
 * select that began before the cancellation may still take a ready case,
 * as in Go, and one slow to start would take a send of a faster thread. */
static void *blocked_main(void *arg)
{
	struct blocked *b = arg;
	struct crowd *cr = b->cr;
	long junk;
	struct sel_case cases[2] = {
		{ cr->quiet[b->id % 4], SEL_RECV, &junk, 0 },
		{ cr->never, SEL_RECV, &junk, 0 },
	};

	atomic_fetch_add(&cr->phase[0], 1);
	b->result[0] = chan_recv(cr->ch[b->id % 4], &b->value, NULL);
	atomic_fetch_add(&cr->phase[1], 1);
	b->result[1] = chan_select(cases, 2, 0, cr->shared);
	atomic_fetch_add(&cr->phase[2], 1);
	b->result[2] = chan_send(cr->other, &junk, NULL);
	return NULL;
}

static void wait_phase(struct crowd *cr, int phase)
{
	while (atomic_load(&cr->phase[phase]) < CROWD)
		csp_sleep(1 * MS, NULL);
}

static void test_crowd_blocked(void **state)
{
	struct blocked *bs = calloc(CROWD, sizeof *bs);
	unsigned char *seen = calloc(CROWD, 1);
	struct crowd cr;
	pthread_attr_t attr;

	(void)state;
	memset(&cr, 0, sizeof cr);
	for (int i = 0; i < 4; i++) {
		cr.ch[i] = chan_new(sizeof(long), (size_t)i);
		cr.quiet[i] = chan_new(sizeof(long), (size_t)i);
	}
	cr.never = chan_new(sizeof(long), 0);
	cr.other = chan_new(sizeof(long), 0);
	cr.root = ctx_with_cancel(NULL);
	cr.shared = ctx_with_cancel(cr.root);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 128 * 1024);
	for (int i = 0; i < CROWD; i++) {
		bs[i].cr = &cr;
		bs[i].id = i;
		assert_int_equal(pthread_create(&bs[i].t, &attr, blocked_main,
						&bs[i]), 0);
	}
	pthread_attr_destroy(&attr);

	wait_phase(&cr, 0);
	for (long v = 0; v < CROWD; v++)
		assert_int_equal(chan_send(cr.ch[v % 4], &v, NULL), CSP_OK);
	wait_phase(&cr, 1);
	ctx_cancel(cr.root);
	wait_phase(&cr, 2);
	assert_int_equal(chan_close(cr.other), CSP_OK);

	for (int i = 0; i < CROWD; i++) {
		pthread_join(bs[i].t, NULL);
		assert_int_equal(bs[i].result[0], CSP_OK);
		assert_true(bs[i].value >= 0 && bs[i].value < CROWD);
		assert_int_equal(bs[i].value % 4, i % 4);
		assert_int_equal(seen[bs[i].value], 0);
		seen[bs[i].value] = 1;
		assert_int_equal(bs[i].result[1], CSP_CANCELED);
		assert_int_equal(bs[i].result[2], CSP_CLOSED);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(chan_len(cr.ch[i]), 0);
		chan_free(cr.ch[i]);
		chan_free(cr.quiet[i]);
	}
	chan_free(cr.never);
	chan_free(cr.other);
	ctx_release(cr.shared);
	ctx_release(cr.root);
	free(seen);
	free(bs);
}

/* Ping-pong across a ring of threads on unbuffered channels, with
 * deadlines firing all around: a token is never lost or duplicated. */
enum { RING = 8, LAPS = 1000 };

struct ring_node {
	pthread_t t;
	struct chan *in, *out;
	long passes;
	uint64_t rng;
};

static void *ring_main(void *arg)
{
	struct ring_node *n = arg;
	long token;

	for (;;) {
		struct ctx *ctx = ctx_with_timeout(NULL,
				(int64_t)(rnd(&n->rng) % 100) * US);
		int r = chan_recv(n->in, &token, ctx);

		ctx_release(ctx);
		if (r == CSP_CLOSED) {
			/* Pass the end on around the ring (once). */
			chan_close(n->out);
			return NULL;
		}
		if (r != CSP_OK)
			continue;
		n->passes++;
		if (token == RING * LAPS) {
			chan_close(n->out);
			continue;
		}
		token++;
		/* The next node may be timing out: retry until it takes it. */
		for (;;) {
			ctx = ctx_with_timeout(NULL,
					(int64_t)(rnd(&n->rng) % 100) * US);
			r = chan_send(n->out, &token, ctx);
			ctx_release(ctx);
			if (r == CSP_OK || r == CSP_CLOSED)
				break;
		}
	}
}

static void test_token_ring(void **state)
{
	struct ring_node nodes[RING];
	struct chan *ch[RING];
	long token = 1, total = 0;

	(void)state;
	for (int i = 0; i < RING; i++)
		ch[i] = chan_new(sizeof(long), 0);
	for (int i = 0; i < RING; i++) {
		nodes[i] = (struct ring_node){ .in = ch[i],
					       .out = ch[(i + 1) % RING],
					       .rng = 77 + (uint64_t)i };
		pthread_create(&nodes[i].t, NULL, ring_main, &nodes[i]);
	}
	assert_int_equal(chan_send(ch[0], &token, NULL), CSP_OK);
	for (int i = 0; i < RING; i++)
		pthread_join(nodes[i].t, NULL);
	for (int i = 0; i < RING; i++) {
		total += nodes[i].passes;
		chan_free(ch[i]);
	}
	/* Each pass incremented the token once: none lost, none doubled. */
	assert_int_equal(total, RING * LAPS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conservation),
		cmocka_unit_test(test_crowd_blocked),
		cmocka_unit_test(test_token_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
