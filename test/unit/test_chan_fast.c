/* SPDX-License-Identifier: MIT */
/*
 * test_chan_fast.c - the channels' lock-free paths under stress: the ring
 * of a buffered channel (chan_ring.c) and the hand-over slot of a
 * rendezvous channel (chan_slot.c), each against every other kind of call,
 * parking, select, close and abandon.
 *
 * Every test checks what a user would notice: each value that a call
 * reported as sent is received exactly once, in order where the channel
 * promises order, and nothing hangs (every blocking call of a helper has
 * a deadline far beyond the test's length; one that passes is a lost
 * wake-up and fails the test).  Helper threads never assert; they record
 * and the test checks after the join.
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

#define MS CSP_NS_PER_MS
/* Far beyond any honest wait, even under ThreadSanitizer. */
#define HANG (120 * CSP_NS_PER_S)

#if defined(__SANITIZE_THREAD__)
#define SLOW 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SLOW 1
#endif
#endif
#ifdef SLOW
#define N_VALUES 20000
#else
#define N_VALUES 100000
#endif

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* --- one producer, one consumer: every kind of call, strict order --- */

struct spsc {
	struct chan *ch;
	long n;
	uint64_t seed;
	long got, disorder, hung;
	int last;  /* the consumer's final result */
};

static void *spsc_produce(void *p)
{
	struct spsc *s = p;
	struct ctx *c = ctx_with_timeout(NULL, HANG);
	uint64_t r = s->seed;
	long v[16], i = 0;
	size_t k, moved, want;

	while (i < s->n) {
		switch (rnd(&r) % 4) {
		case 0:
			if (chan_send(s->ch, &i, c) != CSP_OK)
				s->hung++;
			i++;
			break;
		case 1:
			if (chan_try_send(s->ch, &i) == CSP_OK)
				i++;
			break;
		default:
			want = 1 + rnd(&r) % 16;
			if (want > (size_t)(s->n - i))
				want = (size_t)(s->n - i);
			for (k = 0; k < want; k++)
				v[k] = i + (long)k;
			for (k = 0; k < want; k += moved)
				if (chan_send_n(s->ch, v + k, want - k, &moved, c) != CSP_OK) {
					s->hung++;
					break;
				}
			i += (long)want;
			break;
		}
		if (rnd(&r) % 4096 == 0)
			csp_sleep(1 * MS, NULL); /* let the consumer park */
	}
	chan_close(s->ch);
	ctx_release(c);
	return NULL;
}

static void *spsc_consume(void *p)
{
	struct spsc *s = p;
	struct ctx *c = ctx_with_timeout(NULL, HANG);
	uint64_t r = s->seed * 3;
	long v[16], want = 0;
	size_t moved, k;
	int res;

	for (;;) {
		switch (rnd(&r) % 3) {
		case 0:
			res = chan_recv(s->ch, v, c);
			moved = res == CSP_OK;
			break;
		case 1:
			res = chan_try_recv(s->ch, v);
			moved = res == CSP_OK;
			if (res == CSP_WOULDBLOCK)
				res = CSP_OK;
			break;
		default:
			res = chan_recv_n(s->ch, v, 1 + rnd(&r) % 16, &moved, c);
			break;
		}
		for (k = 0; k < moved; k++)
			if (v[k] != want++)
				s->disorder++;
		s->got += (long)moved;
		if (res != CSP_OK)
			break;
		if (rnd(&r) % 4096 == 0)
			csp_sleep(1 * MS, NULL); /* let the producer park */
	}
	s->last = res;
	ctx_release(c);
	return NULL;
}

static void run_spsc(size_t cap, uint64_t seed)
{
	struct spsc s = { .ch = chan_new(sizeof(long), cap), .n = N_VALUES,
			  .seed = seed };
	struct chan_stats st;
	pthread_t p, q;

	assert_int_equal(pthread_create(&q, NULL, spsc_consume, &s), 0);
	assert_int_equal(pthread_create(&p, NULL, spsc_produce, &s), 0);
	pthread_join(p, NULL);
	pthread_join(q, NULL);
	assert_int_equal(s.hung, 0);
	assert_int_equal(s.last, CSP_CLOSED);
	assert_int_equal(s.got, s.n);
	assert_int_equal(s.disorder, 0);
	chan_stats(s.ch, &st);
	assert_int_equal(st.sent, (uint64_t)s.n);
	assert_int_equal(st.received, (uint64_t)s.n);
	assert_int_equal(chan_len(s.ch), 0);
	chan_free(s.ch);
}

static void test_ring_spsc(void **state)
{
	(void)state;
	/* 1: every value parks someone; 7: laps of an odd size; 1024: the
	 * two sides rarely meet. */
	run_spsc(1, 11);
	run_spsc(7, 12);
	run_spsc(1024, 13);
}

static void test_slot_spsc(void **state)
{
	(void)state;
	run_spsc(0, 14);
}

/* --- many producers and consumers: once each, in each producer's order --- */

enum { NPROD = 4, NCONS = 4 };

struct world {
	struct chan *ch;
	/* A select's other case, never ready: nobody receives from the one
	 * or sends on the other. */
	struct chan *nobody_recvs, *nobody_sends;
	long per;
	atomic_uchar *seen;        /* per value: times received */
	atomic_long sent, hung, disorder;
	atomic_int producing;
};

struct actor {
	struct world *w;
	pthread_t t;
	int id;
	uint64_t rng;
};

static void *mp_produce(void *p)
{
	struct actor *a = p;
	struct world *w = a->w;
	struct ctx *c = ctx_with_timeout(NULL, HANG);
	struct sel_case cases[2];
	uint64_t v;
	int r;

	for (long i = 0; i < w->per; i++) {
		v = (uint64_t)a->id << 32 | (uint64_t)i;
		switch (rnd(&a->rng) % 3) {
		case 0:
			r = chan_send(w->ch, &v, c);
			break;
		case 1:
			while ((r = chan_try_send(w->ch, &v)) == CSP_WOULDBLOCK)
				csp_sleep(1000, NULL);
			break;
		default:
			cases[0] = (struct sel_case){ w->nobody_recvs, SEL_SEND, &v, 0 };
			cases[1] = (struct sel_case){ w->ch, SEL_SEND, &v, 0 };
			r = chan_select(cases, 2, 0, c);
			r = r == 1 ? cases[1].result : CSP_DEADLINE;
			break;
		}
		if (r != CSP_OK) {
			atomic_fetch_add(&w->hung, 1);
			break;
		}
		atomic_fetch_add(&w->sent, 1);
	}
	if (atomic_fetch_sub(&w->producing, 1) == 1)
		chan_close(w->ch);
	ctx_release(c);
	return NULL;
}

static void *mp_consume(void *p)
{
	struct actor *a = p;
	struct world *w = a->w;
	struct ctx *c = ctx_with_timeout(NULL, HANG);
	struct sel_case cases[2];
	uint64_t v[8], last[NPROD];
	size_t moved, k;
	int r;

	memset(last, 0xff, sizeof last);
	for (;;) {
		switch (rnd(&a->rng) % 3) {
		case 0:
			r = chan_recv(w->ch, v, c);
			moved = r == CSP_OK;
			break;
		case 1:
			r = chan_recv_n(w->ch, v, 1 + rnd(&a->rng) % 8, &moved, c);
			break;
		default:
			cases[0] = (struct sel_case){ w->nobody_sends, SEL_RECV, NULL, 0 };
			cases[1] = (struct sel_case){ w->ch, SEL_RECV, v, 0 };
			r = chan_select(cases, 2, 0, c);
			r = r == 1 ? cases[1].result : CSP_DEADLINE;
			moved = r == CSP_OK;
			break;
		}
		for (k = 0; k < moved; k++) {
			uint64_t who = v[k] >> 32, seq = v[k] & 0xffffffffu;

			if (who >= NPROD || seq >= (uint64_t)w->per) {
				atomic_fetch_add(&w->disorder, 1);
				continue;
			}
			/* One consumer sees one producer's values in the
			 * order they were sent. */
			if (last[who] != UINT64_MAX && seq <= last[who])
				atomic_fetch_add(&w->disorder, 1);
			last[who] = seq;
			atomic_fetch_add(&w->seen[who * (uint64_t)w->per + seq], 1);
		}
		if (r == CSP_CLOSED)
			break;
		if (r != CSP_OK) {
			atomic_fetch_add(&w->hung, 1);
			break;
		}
	}
	ctx_release(c);
	return NULL;
}

static void run_mpmc(size_t cap, uint64_t seed)
{
	struct world w = { .ch = chan_new(sizeof(uint64_t), cap),
			   .nobody_recvs = chan_new(sizeof(uint64_t), 0),
			   .nobody_sends = chan_new(sizeof(uint64_t), cap),
			   .per = N_VALUES / NPROD };
	struct actor a[NPROD + NCONS];
	struct chan_stats st;

	w.seen = calloc((size_t)(NPROD * w.per), sizeof *w.seen);
	assert_non_null(w.seen);
	atomic_store(&w.producing, NPROD);
	for (int i = 0; i < NPROD + NCONS; i++) {
		a[i] = (struct actor){ .w = &w, .id = i < NPROD ? i : -1,
				       .rng = seed * 7919 + (uint64_t)i + 1 };
		assert_int_equal(pthread_create(&a[i].t, NULL,
						i < NPROD ? mp_produce : mp_consume,
						&a[i]), 0);
	}
	for (int i = 0; i < NPROD + NCONS; i++)
		pthread_join(a[i].t, NULL);
	assert_int_equal(atomic_load(&w.hung), 0);
	assert_int_equal(atomic_load(&w.disorder), 0);
	assert_int_equal(atomic_load(&w.sent), NPROD * w.per);
	for (long i = 0; i < NPROD * w.per; i++)
		if (atomic_load(&w.seen[i]) != 1)
			fail_msg("value %ld/%ld received %d times", i / w.per,
				 i % w.per, atomic_load(&w.seen[i]));
	chan_stats(w.ch, &st);
	assert_int_equal(st.sent, (uint64_t)(NPROD * w.per));
	assert_int_equal(st.received, (uint64_t)(NPROD * w.per));
	free(w.seen);
	chan_free(w.ch);
	chan_free(w.nobody_recvs);
	chan_free(w.nobody_sends);
}

static void test_ring_mpmc(void **state)
{
	(void)state;
	run_mpmc(1, 21);
	run_mpmc(5, 22);
	run_mpmc(256, 23);
}

static void test_slot_mpmc(void **state)
{
	(void)state;
	run_mpmc(0, 24);
}

/* --- close and abandon in the middle of the traffic --- */

struct racer {
	struct chan *ch;
	pthread_t t;
	long ok, closed_seen, other, got;
	long sum_sent, sum_got;
	int zeroed;   /* a receive that got CSP_CLOSED left its value zero */
};

static void *race_send(void *p)
{
	struct racer *r = p;
	long v;
	int res;

	for (v = 1;; v++) {
		res = chan_send(r->ch, &v, NULL);
		if (res == CSP_OK) {
			r->ok++;
			r->sum_sent += v;
		} else {
			if (res == CSP_CLOSED)
				r->closed_seen++;
			else
				r->other++;
			break;
		}
	}
	return NULL;
}

static void *race_recv(void *p)
{
	struct racer *r = p;
	long v;
	int res;

	r->zeroed = 1;
	for (;;) {
		v = -1;
		res = chan_recv(r->ch, &v, NULL);
		if (res == CSP_OK) {
			r->got++;
			r->sum_got += v;
			continue;
		}
		if (res != CSP_CLOSED)
			r->other++;
		if (v != 0)
			r->zeroed = 0;
		break;
	}
	return NULL;
}

/* Two senders and two receivers; the test closes (or the reader side
 * abandons and then drains) after a moment. */
static void run_race(size_t cap, int abandon)
{
	struct chan *ch = chan_new(sizeof(long), cap);
	struct racer s[2], q[2];
	long sent = 0, got = 0, sum_sent = 0, sum_got = 0, v;

	memset(s, 0, sizeof s);
	memset(q, 0, sizeof q);
	for (int i = 0; i < 2; i++) {
		s[i].ch = q[i].ch = ch;
		assert_int_equal(pthread_create(&s[i].t, NULL, race_send, &s[i]), 0);
		assert_int_equal(pthread_create(&q[i].t, NULL, race_recv, &q[i]), 0);
	}
	csp_sleep(2 * MS, NULL);
	if (abandon) {
		chan_abandon(ch);
	} else {
		assert_int_equal(chan_close(ch), CSP_OK);
		assert_int_equal(chan_close(ch), CSP_INVALID);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(s[i].t, NULL);
		pthread_join(q[i].t, NULL);
	}
	/* What the reader gave up on is still there to drain. */
	while (chan_try_recv(ch, &v) == CSP_OK) {
		got++;
		sum_got += v;
	}
	v = 5;
	assert_int_equal(chan_send(ch, &v, NULL), CSP_CLOSED);
	assert_int_equal(chan_recv(ch, &v, NULL), CSP_CLOSED);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(s[i].closed_seen, 1);
		assert_int_equal(s[i].other + q[i].other, 0);
		assert_true(q[i].zeroed);
		sent += s[i].ok;
		sum_sent += s[i].sum_sent;
		got += q[i].got;
		sum_got += q[i].sum_got;
	}
	assert_int_equal(got, sent);
	assert_int_equal(sum_got, sum_sent);
	chan_free(ch);
}

static void test_close_races(void **state)
{
	(void)state;
	for (int round = 0; round < 10; round++) {
		run_race(0, 0);
		run_race(0, 1);
		run_race(3, 0);
		run_race(3, 1);
	}
}

/* --- parking and waking: a peer that arrives late --- */

struct late {
	struct chan *a, *b;
	pthread_t t;
	int64_t delay;
	int res;
};

static void *late_send(void *p)
{
	struct late *l = p;
	long v = 99;

	csp_sleep(l->delay, NULL);
	l->res = chan_send(l->a, &v, NULL);
	return NULL;
}

/* A receive and a select each wait past their spinning and park (the
 * delays straddle it), then a send wakes them. */
static void test_late_peer(void **state)
{
	static const int64_t delays[] = { 0, 1000, 20000, 200000, 2 * MS };

	(void)state;
	for (size_t cap = 0; cap < 3; cap += 2)
		for (size_t d = 0; d < sizeof delays / sizeof delays[0]; d++) {
			struct late l = { .a = chan_new(sizeof(long), cap),
					  .b = chan_new(sizeof(long), cap),
					  .delay = delays[d] };
			struct sel_case cases[2];
			struct chan_stats st;
			long v = 0;

			assert_int_equal(pthread_create(&l.t, NULL, late_send, &l), 0);
			assert_int_equal(chan_recv(l.a, &v, NULL), CSP_OK);
			assert_int_equal(v, 99);
			pthread_join(l.t, NULL);
			assert_int_equal(l.res, CSP_OK);

			v = 0;
			cases[0] = (struct sel_case){ l.b, SEL_RECV, &v, 0 };
			cases[1] = (struct sel_case){ l.a, SEL_RECV, &v, 0 };
			assert_int_equal(pthread_create(&l.t, NULL, late_send, &l), 0);
			assert_int_equal(chan_select(cases, 2, 0, NULL), 1);
			assert_int_equal(cases[1].result, CSP_OK);
			assert_int_equal(v, 99);
			pthread_join(l.t, NULL);
			chan_stats(l.a, &st);
			assert_int_equal(st.sent, 2);
			assert_int_equal(st.received, 2);
			chan_free(l.a);
			chan_free(l.b);
		}
}

/* A buffered receive that parks is counted as a wait, with its time. */
static void test_ring_wait_stats(void **state)
{
	struct late l = { .a = chan_new(sizeof(long), 4), .delay = 50 * MS };
	struct chan_stats st;
	long v;

	(void)state;
	assert_int_equal(pthread_create(&l.t, NULL, late_send, &l), 0);
	assert_int_equal(chan_recv(l.a, &v, NULL), CSP_OK);
	pthread_join(l.t, NULL);
	chan_stats(l.a, &st);
	assert_true(st.recv_waits >= 1);
	assert_true(st.recv_blocked_ns > 0);
	assert_int_equal(st.send_waits, 0);
	chan_free(l.a);
}

/* A context cancelled while a receive spins or parks ends it, on either
 * kind of channel, and a value sent afterwards is still there. */
static void *cancel_later(void *p)
{
	csp_sleep(5 * MS, NULL);
	ctx_cancel(p);
	return NULL;
}

static void test_cancel_spinning(void **state)
{
	(void)state;
	for (size_t cap = 0; cap < 2; cap++) {
		struct chan *ch = chan_new(sizeof(long), cap);
		struct ctx *c = ctx_with_cancel(NULL);
		pthread_t t;
		long v = 7;

		assert_int_equal(pthread_create(&t, NULL, cancel_later, c), 0);
		assert_int_equal(chan_recv(ch, &v, c), CSP_CANCELED);
		pthread_join(t, NULL);
		ctx_release(c);
		if (cap) {
			v = 8;
			assert_int_equal(chan_send(ch, &v, NULL), CSP_OK);
			assert_int_equal(chan_recv(ch, &v, NULL), CSP_OK);
			assert_int_equal(v, 8);
		} else {
			/* No receiver is left: the send cannot complete. */
			assert_int_equal(chan_try_send(ch, &v), CSP_WOULDBLOCK);
		}
		chan_free(ch);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_spsc),
		cmocka_unit_test(test_slot_spsc),
		cmocka_unit_test(test_ring_mpmc),
		cmocka_unit_test(test_slot_mpmc),
		cmocka_unit_test(test_close_races),
		cmocka_unit_test(test_late_peer),
		cmocka_unit_test(test_ring_wait_stats),
		cmocka_unit_test(test_cancel_spinning),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
