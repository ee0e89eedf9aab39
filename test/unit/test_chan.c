/* SPDX-License-Identifier: MIT */
/*
 * test_chan.c - channels: Go's semantics, the unpleasant cases included.
 *
 * Helper threads never assert (cmocka's asserts belong to the test's own
 * thread); they record what they saw and the test checks it after a join.
 * Short sleeps only give a peer the chance to park; no assertion depends
 * on how long anything took, except "not before the deadline".
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

/* Let other threads run into their blocking call.  Correctness never
 * depends on it: if they are late, they find the same outcome. */
static void settle(void)
{
	csp_sleep(20 * MS, NULL);
}

struct peer {
	pthread_t t;
	struct chan *ch;
	struct ctx *ctx;
	long value;        /* to send, or received */
	long values[128];
	size_t n, moved;
	int result;
	atomic_int started;
	atomic_int finished;
};

static void *peer_send(void *arg)
{
	struct peer *p = arg;

	atomic_store(&p->started, 1);
	p->result = chan_send(p->ch, &p->value, p->ctx);
	atomic_store(&p->finished, 1);
	return NULL;
}

static void *peer_recv(void *arg)
{
	struct peer *p = arg;

	p->value = -1;
	atomic_store(&p->started, 1);
	p->result = chan_recv(p->ch, &p->value, p->ctx);
	atomic_store(&p->finished, 1);
	return NULL;
}

static void *peer_recv_n(void *arg)
{
	struct peer *p = arg;

	atomic_store(&p->started, 1);
	p->result = chan_recv_n(p->ch, p->values, p->n, &p->moved, p->ctx);
	atomic_store(&p->finished, 1);
	return NULL;
}

static void *peer_send_n(void *arg)
{
	struct peer *p = arg;

	atomic_store(&p->started, 1);
	p->result = chan_send_n(p->ch, p->values, p->n, &p->moved, p->ctx);
	atomic_store(&p->finished, 1);
	return NULL;
}

static void start(struct peer *p, void *(*fn)(void *))
{
	assert_int_equal(pthread_create(&p->t, NULL, fn, p), 0);
	while (!atomic_load(&p->started))
		sched_yield();
}

static void join(struct peer *p)
{
	assert_int_equal(pthread_join(p->t, NULL), 0);
}

static void test_new_len_cap(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 3);
	long v = 7;

	(void)state;
	assert_int_equal(chan_cap(ch), 3);
	assert_int_equal(chan_elem_size(ch), sizeof(long));
	assert_int_equal(chan_len(ch), 0);
	assert_int_equal(chan_send(ch, &v, NULL), CSP_OK);
	assert_int_equal(chan_try_send(ch, &v), CSP_OK);
	assert_int_equal(chan_len(ch), 2);
	assert_int_equal(chan_closed(ch), 0);
	assert_int_equal(chan_abandoned(ch), 0);
	chan_free(ch);
	chan_free(NULL);
}

static void test_buffered_fifo(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 4);
	long v;

	(void)state;
	/* Wrap the ring a few times. */
	for (long round = 0; round < 5; round++) {
		for (long i = 0; i < 4; i++) {
			v = round * 10 + i;
			assert_int_equal(chan_try_send(ch, &v), CSP_OK);
		}
		assert_int_equal(chan_try_send(ch, &v), CSP_WOULDBLOCK);
		for (long i = 0; i < 3; i++) {
			assert_int_equal(chan_try_recv(ch, &v), CSP_OK);
			assert_int_equal(v, round * 10 + i);
		}
		assert_int_equal(chan_recv(ch, &v, NULL), CSP_OK);
		assert_int_equal(v, round * 10 + 3);
		assert_int_equal(chan_try_recv(ch, &v), CSP_WOULDBLOCK);
	}
	chan_free(ch);
}

/* With capacity 0 nothing is buffered: a lone send cannot complete. */
static void test_unbuffered_send_blocks(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 0);
	struct ctx *ctx = ctx_with_timeout(NULL, 30 * MS);
	struct peer p = { .value = 42 };
	long v = 1;

	(void)state;
	assert_int_equal(chan_try_send(ch, &v), CSP_WOULDBLOCK);
	assert_int_equal(chan_send(ch, &v, ctx), CSP_DEADLINE);
	assert_int_equal(chan_len(ch), 0);
	ctx_release(ctx);

	/* A blocked sender stays blocked until a receiver takes the value. */
	p.ch = ch;
	start(&p, peer_send);
	settle();
	assert_int_equal(atomic_load(&p.finished), 0);
	assert_int_equal(chan_recv(ch, &v, NULL), CSP_OK);
	assert_int_equal(v, 42);
	join(&p);
	assert_int_equal(p.result, CSP_OK);
	chan_free(ch);
}

/* A receiver that arrives first gets the value straight from the send. */
static void test_unbuffered_recv_first(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 0);
	struct peer p = { .ch = NULL };
	long v = 99;

	(void)state;
	p.ch = ch;
	start(&p, peer_recv);
	settle();
	assert_int_equal(atomic_load(&p.finished), 0);
	assert_int_equal(chan_send(ch, &v, NULL), CSP_OK);
	join(&p);
	assert_int_equal(p.result, CSP_OK);
	assert_int_equal(p.value, 99);
	chan_free(ch);
}

static void test_close_semantics(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 4);
	size_t moved = 5;
	long v = 5, out[4];

	(void)state;
	assert_int_equal(chan_send(ch, &v, NULL), CSP_OK);
	v = 6;
	assert_int_equal(chan_send(ch, &v, NULL), CSP_OK);
	assert_int_equal(chan_close(ch), CSP_OK);
	assert_int_equal(chan_close(ch), CSP_INVALID);
	assert_int_equal(chan_closed(ch), 1);
	assert_int_equal(chan_abandoned(ch), 0);
	assert_int_equal(chan_send(ch, &v, NULL), CSP_CLOSED);
	assert_int_equal(chan_try_send(ch, &v), CSP_CLOSED);
	assert_int_equal(chan_send_n(ch, out, 2, &moved, NULL), CSP_CLOSED);
	assert_int_equal(moved, 0);
	/* Receivers drain the buffer, then see the close. */
	assert_int_equal(chan_recv(ch, &v, NULL), CSP_OK);
	assert_int_equal(v, 5);
	assert_int_equal(chan_try_recv(ch, &v), CSP_OK);
	assert_int_equal(v, 6);
	v = 123;
	assert_int_equal(chan_recv(ch, &v, NULL), CSP_CLOSED);
	assert_int_equal(v, 0);
	v = 123;
	assert_int_equal(chan_try_recv(ch, &v), CSP_CLOSED);
	assert_int_equal(v, 0);
	assert_int_equal(chan_recv_n(ch, out, 4, &moved, NULL), CSP_CLOSED);
	assert_int_equal(moved, 0);
	chan_free(ch);
}

#define NPEERS 8

static void test_close_wakes_receivers(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 2);
	struct peer p[NPEERS];

	(void)state;
	memset(p, 0, sizeof p);
	for (int i = 0; i < NPEERS; i++) {
		p[i].ch = ch;
		start(&p[i], peer_recv);
	}
	settle();
	for (int i = 0; i < NPEERS; i++)
		assert_int_equal(atomic_load(&p[i].finished), 0);
	assert_int_equal(chan_close(ch), CSP_OK);
	for (int i = 0; i < NPEERS; i++) {
		join(&p[i]);
		assert_int_equal(p[i].result, CSP_CLOSED);
		assert_int_equal(p[i].value, 0);
	}
	chan_free(ch);
}

static void test_close_wakes_senders(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 2);
	struct peer p[NPEERS];
	long v = 1;

	(void)state;
	memset(p, 0, sizeof p);
	assert_int_equal(chan_send(ch, &v, NULL), CSP_OK);
	v = 2;
	assert_int_equal(chan_send(ch, &v, NULL), CSP_OK);
	for (int i = 0; i < NPEERS; i++) {
		p[i].ch = ch;
		p[i].value = 100 + i;
		start(&p[i], peer_send);
	}
	settle();
	assert_int_equal(chan_close(ch), CSP_OK);
	for (int i = 0; i < NPEERS; i++) {
		join(&p[i]);
		assert_int_equal(p[i].result, CSP_CLOSED);
	}
	/* What was buffered before the close is still there. */
	assert_int_equal(chan_recv(ch, &v, NULL), CSP_OK);
	assert_int_equal(v, 1);
	assert_int_equal(chan_recv(ch, &v, NULL), CSP_OK);
	assert_int_equal(v, 2);
	assert_int_equal(chan_recv(ch, &v, NULL), CSP_CLOSED);
	chan_free(ch);
}

/* Unbuffered: both sides blocked at once cannot happen, so close each. */
static void test_close_unbuffered_both_sides(void **state)
{
	struct chan *rx = chan_new(sizeof(long), 0), *tx = chan_new(sizeof(long), 0);
	struct peer r[NPEERS], s[NPEERS];

	(void)state;
	memset(r, 0, sizeof r);
	memset(s, 0, sizeof s);
	for (int i = 0; i < NPEERS; i++) {
		r[i].ch = rx;
		start(&r[i], peer_recv);
		s[i].ch = tx;
		start(&s[i], peer_send);
	}
	settle();
	assert_int_equal(chan_close(rx), CSP_OK);
	assert_int_equal(chan_close(tx), CSP_OK);
	for (int i = 0; i < NPEERS; i++) {
		join(&r[i]);
		join(&s[i]);
		assert_int_equal(r[i].result, CSP_CLOSED);
		assert_int_equal(s[i].result, CSP_CLOSED);
	}
	chan_free(rx);
	chan_free(tx);
}

static void test_abandon(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 2);
	struct peer p[NPEERS];
	long v = 10;

	(void)state;
	memset(p, 0, sizeof p);
	assert_int_equal(chan_send(ch, &v, NULL), CSP_OK);
	v = 11;
	assert_int_equal(chan_send(ch, &v, NULL), CSP_OK);
	for (int i = 0; i < NPEERS; i++) {
		p[i].ch = ch;
		p[i].value = i;
		start(&p[i], peer_send);
	}
	settle();
	chan_abandon(ch);
	for (int i = 0; i < NPEERS; i++) {
		join(&p[i]);
		assert_int_equal(p[i].result, CSP_CLOSED);
	}
	assert_int_equal(chan_abandoned(ch), 1);
	assert_int_equal(chan_closed(ch), 1);
	assert_int_equal(chan_send(ch, &v, NULL), CSP_CLOSED);
	assert_int_equal(chan_try_send(ch, &v), CSP_CLOSED);
	/* The reader may still drain what was buffered... */
	assert_int_equal(chan_try_recv(ch, &v), CSP_OK);
	assert_int_equal(v, 10);
	assert_int_equal(chan_try_recv(ch, &v), CSP_OK);
	assert_int_equal(v, 11);
	/* ...and then an empty abandoned channel reads as closed. */
	assert_int_equal(chan_try_recv(ch, &v), CSP_CLOSED);
	assert_int_equal(chan_recv(ch, &v, NULL), CSP_CLOSED);
	chan_abandon(ch);
	/* The sender's close is still its own to make, once. */
	assert_int_equal(chan_close(ch), CSP_OK);
	assert_int_equal(chan_close(ch), CSP_INVALID);
	chan_free(ch);
}

static void test_abandon_wakes_unbuffered_sender(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 0);
	struct peer p = { .value = 3 };

	(void)state;
	p.ch = ch;
	start(&p, peer_send);
	settle();
	chan_abandon(ch);
	join(&p);
	assert_int_equal(p.result, CSP_CLOSED);
	chan_free(ch);
}

static void test_batch_buffered(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 8);
	long in[20], out[20];
	size_t moved;

	(void)state;
	for (int i = 0; i < 20; i++)
		in[i] = i;
	/* Moves what fits without blocking again. */
	assert_int_equal(chan_send_n(ch, in, 20, &moved, NULL), CSP_OK);
	assert_int_equal(moved, 8);
	assert_int_equal(chan_len(ch), 8);
	assert_int_equal(chan_recv_n(ch, out, 3, &moved, NULL), CSP_OK);
	assert_int_equal(moved, 3);
	assert_int_equal(chan_send_n(ch, in + 8, 12, &moved, NULL), CSP_OK);
	assert_int_equal(moved, 3);
	assert_int_equal(chan_recv_n(ch, out + 3, 20, &moved, NULL), CSP_OK);
	assert_int_equal(moved, 8);
	for (int i = 0; i < 11; i++)
		assert_int_equal(out[i], i);
	assert_int_equal(chan_send_n(ch, in, 0, &moved, NULL), CSP_OK);
	assert_int_equal(moved, 0);
	chan_free(ch);
}

/* A parked batch receiver on an unbuffered channel takes up to its n in
 * one rendezvous; the rest of the send moves on later calls. */
static void test_batch_rendezvous(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 0);
	struct peer p = { .n = 64 };
	long in[100], out[100];
	size_t moved, got = 0;

	(void)state;
	for (int i = 0; i < 100; i++)
		in[i] = 1000 + i;
	p.ch = ch;
	start(&p, peer_recv_n);
	settle();
	assert_int_equal(chan_send_n(ch, in, 100, &moved, NULL), CSP_OK);
	assert_int_equal(moved, 64);
	join(&p);
	assert_int_equal(p.result, CSP_OK);
	assert_int_equal(p.moved, 64);
	for (int i = 0; i < 64; i++)
		assert_int_equal(p.values[i], 1000 + i);

	/* A parked batch sender, drained by batch receives. */
	memset(&p, 0, sizeof p);
	p.ch = ch;
	p.n = 100;
	for (int i = 0; i < 100; i++)
		p.values[i] = i;
	start(&p, peer_send_n);
	settle();
	assert_int_equal(chan_recv_n(ch, out, 30, &moved, NULL), CSP_OK);
	assert_int_equal(moved, 30);
	join(&p);
	assert_int_equal(p.result, CSP_OK);
	assert_int_equal(p.moved, 30);
	got = moved;
	for (size_t i = 0; i < got; i++)
		assert_int_equal(out[i], (long)i);
	chan_free(ch);
}

/* Parked batch senders on a full buffer are topped up in order. */
static void test_batch_refill(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 4);
	struct peer p = { .n = 10 };
	long in[4] = { 0, 1, 2, 3 }, out[16];
	size_t moved, total = 0;

	(void)state;
	assert_int_equal(chan_send_n(ch, in, 4, &moved, NULL), CSP_OK);
	p.ch = ch;
	for (int i = 0; i < 10; i++)
		p.values[i] = 4 + i;
	start(&p, peer_send_n);
	settle();
	/* Takes the 4 buffered, then the parked sender's next 4 refill the
	 * buffer and are taken in the same call. */
	assert_int_equal(chan_recv_n(ch, out, 16, &moved, NULL), CSP_OK);
	join(&p);
	assert_int_equal(p.result, CSP_OK);
	assert_true(p.moved >= 1 && p.moved <= 10);
	total = moved;
	while (total < 4 + p.moved) {
		assert_int_equal(chan_recv_n(ch, out + total, 16 - total,
					     &moved, NULL), CSP_OK);
		total += moved;
	}
	assert_int_equal(total, 4 + p.moved);
	for (size_t i = 0; i < total; i++)
		assert_int_equal(out[i], (long)i);
	assert_int_equal(chan_len(ch), 0);
	chan_free(ch);
}

static void test_batch_close_parked(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 0);
	struct peer p = { .n = 5 };

	(void)state;
	p.ch = ch;
	start(&p, peer_recv_n);
	settle();
	assert_int_equal(chan_close(ch), CSP_OK);
	join(&p);
	assert_int_equal(p.result, CSP_CLOSED);
	assert_int_equal(p.moved, 0);
	chan_free(ch);
}

static void test_zero_size_values(void **state)
{
	struct chan *ch = chan_new(0, 2);
	struct chan *sync = chan_new(0, 0);
	struct peer p = { .n = 0 };

	(void)state;
	assert_int_equal(chan_send(ch, NULL, NULL), CSP_OK);
	assert_int_equal(chan_send(ch, NULL, NULL), CSP_OK);
	assert_int_equal(chan_try_send(ch, NULL), CSP_WOULDBLOCK);
	assert_int_equal(chan_len(ch), 2);
	assert_int_equal(chan_recv(ch, NULL, NULL), CSP_OK);
	assert_int_equal(chan_recv(ch, NULL, NULL), CSP_OK);
	assert_int_equal(chan_try_recv(ch, NULL), CSP_WOULDBLOCK);
	p.ch = sync;
	start(&p, peer_send);
	assert_int_equal(chan_recv(sync, NULL, NULL), CSP_OK);
	join(&p);
	assert_int_equal(p.result, CSP_OK);
	chan_free(ch);
	chan_free(sync);
}

static void test_ctx_canceled_first(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 4);
	struct ctx *ctx = ctx_with_cancel(NULL);
	long v = 1;

	(void)state;
	ctx_cancel(ctx);
	/* A context already done wins, even over a ready channel. */
	assert_int_equal(chan_send(ch, &v, ctx), CSP_CANCELED);
	assert_int_equal(chan_len(ch), 0);
	assert_int_equal(chan_send(ch, &v, NULL), CSP_OK);
	assert_int_equal(chan_recv(ch, &v, ctx), CSP_CANCELED);
	assert_int_equal(chan_len(ch), 1);
	ctx_release(ctx);
	chan_free(ch);
}

static void test_cancel_while_blocked(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 0);
	struct peer r = { .n = 0 }, s = { .value = 5 };
	long v;

	(void)state;
	r.ch = s.ch = ch;
	r.ctx = ctx_with_cancel(NULL);
	start(&r, peer_recv);
	settle();
	ctx_cancel(r.ctx);
	join(&r);
	assert_int_equal(r.result, CSP_CANCELED);

	s.ctx = ctx_with_cancel(NULL);
	start(&s, peer_send);
	settle();
	ctx_cancel(s.ctx);
	join(&s);
	assert_int_equal(s.result, CSP_CANCELED);
	/* A cancelled send moved nothing and left no trace in the queue. */
	assert_int_equal(chan_try_recv(ch, &v), CSP_WOULDBLOCK);
	ctx_release(r.ctx);
	ctx_release(s.ctx);
	chan_free(ch);
}

static void test_deadline_while_blocked(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 1);
	struct ctx *ctx;
	int64_t t0, deadline;
	long v = 0;
	size_t moved;

	(void)state;
	/* recv on an empty channel */
	t0 = csp_now();
	ctx = ctx_with_timeout(NULL, 50 * MS);
	deadline = ctx_deadline(ctx);
	assert_true(deadline >= t0 + 50 * MS);
	assert_int_equal(chan_recv(ch, &v, ctx), CSP_DEADLINE);
	assert_true(csp_now() >= deadline);
	assert_int_equal(ctx_err(ctx), CSP_DEADLINE);
	ctx_release(ctx);

	/* send on a full one */
	assert_int_equal(chan_send(ch, &v, NULL), CSP_OK);
	ctx = ctx_with_timeout(NULL, 50 * MS);
	deadline = ctx_deadline(ctx);
	assert_int_equal(chan_send(ch, &v, ctx), CSP_DEADLINE);
	assert_true(csp_now() >= deadline);
	ctx_release(ctx);

	/* a batch send, under a child of the context with the deadline */
	{
		struct ctx *parent = ctx_with_timeout(NULL, 50 * MS);
		struct ctx *child = ctx_with_cancel(parent);

		assert_int_equal(chan_send_n(ch, &v, 1, &moved, child),
				 CSP_DEADLINE);
		assert_int_equal(moved, 0);
		assert_true(csp_now() >= ctx_deadline(parent));
		/* The waker cancelled the owner of the deadline. */
		assert_int_equal(ctx_err(parent), CSP_DEADLINE);
		ctx_release(child);
		ctx_release(parent);
	}
	assert_int_equal(chan_len(ch), 1);
	chan_free(ch);
}

static void test_stats(void **state)
{
	struct chan *ch = chan_new(sizeof(long), 0);
	struct chan *buf = chan_new(sizeof(long), 8);
	struct chan_stats st;
	struct peer p = { .n = 0 };
	long in[5] = { 1, 2, 3, 4, 5 };
	size_t moved;
	long v = 7;

	(void)state;
	p.ch = ch;
	start(&p, peer_recv);
	settle();
	assert_int_equal(chan_send(ch, &v, NULL), CSP_OK);
	join(&p);
	chan_stats(ch, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.received, 1);
	/* Someone had to park; most likely the receiver. */
	assert_true(st.recv_waits + st.send_waits == 1);
	if (st.recv_waits)
		assert_true(st.recv_blocked_ns > 0);
	else
		assert_true(st.send_blocked_ns > 0);

	assert_int_equal(chan_send_n(buf, in, 5, &moved, NULL), CSP_OK);
	assert_int_equal(chan_recv(buf, &v, NULL), CSP_OK);
	chan_stats(buf, &st);
	assert_int_equal(st.sent, 5);
	assert_int_equal(st.received, 1);
	assert_int_equal(st.send_waits, 0);
	assert_int_equal(st.recv_waits, 0);
	assert_int_equal(st.send_blocked_ns, 0);
	assert_int_equal(st.recv_blocked_ns, 0);
	chan_free(ch);
	chan_free(buf);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(csp_strerror(CSP_OK), "ok");
	assert_string_equal(csp_strerror(CSP_CLOSED), "closed");
	assert_string_equal(csp_strerror(CSP_DEADLINE), "deadline exceeded");
	assert_string_equal(csp_strerror(CSP_CANCELED), "context canceled");
	assert_string_equal(csp_strerror(12345), "unknown result");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_len_cap),
		cmocka_unit_test(test_buffered_fifo),
		cmocka_unit_test(test_unbuffered_send_blocks),
		cmocka_unit_test(test_unbuffered_recv_first),
		cmocka_unit_test(test_close_semantics),
		cmocka_unit_test(test_close_wakes_receivers),
		cmocka_unit_test(test_close_wakes_senders),
		cmocka_unit_test(test_close_unbuffered_both_sides),
		cmocka_unit_test(test_abandon),
		cmocka_unit_test(test_abandon_wakes_unbuffered_sender),
		cmocka_unit_test(test_batch_buffered),
		cmocka_unit_test(test_batch_rendezvous),
		cmocka_unit_test(test_batch_refill),
		cmocka_unit_test(test_batch_close_parked),
		cmocka_unit_test(test_zero_size_values),
		cmocka_unit_test(test_ctx_canceled_first),
		cmocka_unit_test(test_cancel_while_blocked),
		cmocka_unit_test(test_deadline_while_blocked),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
