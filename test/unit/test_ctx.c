/* SPDX-License-Identifier: MIT */
/*
 * test_ctx.c - contexts: cancellation down the tree, causes, deadlines,
 * values, lifetimes, sleeping, and the signal context.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csp/csp.h"

#define MS CSP_NS_PER_MS

/* 1 once c's done channel is closed (checked without blocking). */
static int done_closed(struct ctx *c)
{
	return chan_try_recv(ctx_done(c), NULL) == CSP_CLOSED;
}

static void test_background(void **state)
{
	struct ctx *bg = ctx_background();
	int key;

	(void)state;
	assert_non_null(bg);
	assert_int_equal(ctx_err(bg), 0);
	assert_int_equal(ctx_err(NULL), 0);
	assert_null(ctx_done(bg));
	assert_null(ctx_done(NULL));
	assert_int_equal(ctx_deadline(bg), 0);
	assert_null(ctx_value(bg, &key));
	assert_int_equal(ctx_cause(bg, NULL), 0);
	ctx_cancel(bg);
	ctx_cancel_cause(bg, CSP_CANCELED, 1, "no");
	ctx_release(bg);
	ctx_release(NULL);
	assert_int_equal(ctx_err(bg), 0);
}

static void test_cancel(void **state)
{
	struct ctx *c = ctx_with_cancel(NULL);
	const char *msg = "x";
	struct chan *done = ctx_done(c);

	(void)state;
	assert_non_null(done);
	assert_ptr_equal(ctx_done(c), done);
	assert_int_equal(ctx_err(c), 0);
	assert_int_equal(ctx_cause(c, &msg), 0);
	assert_null(msg);
	assert_int_equal(chan_try_recv(done, NULL), CSP_WOULDBLOCK);
	ctx_cancel(c);
	assert_int_equal(ctx_err(c), CSP_CANCELED);
	assert_int_equal(chan_recv(done, NULL, NULL), CSP_CLOSED);
	assert_int_equal(ctx_cause(c, &msg), CSP_CANCELED);
	assert_string_equal(msg, "context canceled");
	/* The first cancellation wins. */
	ctx_cancel_cause(c, CSP_DEADLINE, 5, "later");
	assert_int_equal(ctx_err(c), CSP_CANCELED);
	assert_int_equal(ctx_cause(c, NULL), CSP_CANCELED);
	ctx_release(c);
}

static void test_cause_copied_and_inherited(void **state)
{
	struct ctx *root = ctx_with_cancel(NULL);
	struct ctx *mid = ctx_with_value(root, "k", "v");
	struct ctx *leaf = ctx_with_cancel(mid);
	char buf[32];
	const char *msg;

	(void)state;
	strcpy(buf, "disk full");
	ctx_cancel_cause(mid, CSP_CANCELED, 28, buf);
	strcpy(buf, "overwritten");
	assert_int_equal(ctx_err(root), 0);
	assert_int_equal(ctx_err(mid), CSP_CANCELED);
	assert_int_equal(ctx_err(leaf), CSP_CANCELED);
	assert_int_equal(ctx_cause(mid, &msg), 28);
	assert_string_equal(msg, "disk full");
	assert_int_equal(ctx_cause(leaf, &msg), 28);
	assert_string_equal(msg, "disk full");
	/* Created under a cancelled parent: born cancelled, same cause. */
	{
		struct ctx *late = ctx_with_cancel(leaf);

		assert_int_equal(ctx_err(late), CSP_CANCELED);
		assert_int_equal(ctx_cause(late, &msg), 28);
		assert_string_equal(msg, "disk full");
		assert_true(done_closed(late));
		ctx_release(late);
	}
	/* Cancelling the root later changes nothing below. */
	ctx_cancel_cause(root, CSP_DEADLINE, 1, "root");
	assert_int_equal(ctx_cause(leaf, &msg), 28);
	assert_int_equal(ctx_err(root), CSP_DEADLINE);
	/* The cause outlives the context that made it, for its children. */
	ctx_release(mid);
	assert_int_equal(ctx_cause(leaf, &msg), 28);
	assert_string_equal(msg, "disk full");
	ctx_release(root);
	ctx_release(leaf);
}

static void test_child_does_not_cancel_parent(void **state)
{
	struct ctx *p = ctx_with_cancel(NULL);
	struct ctx *a = ctx_with_cancel(p), *b = ctx_with_cancel(p);

	(void)state;
	ctx_cancel(a);
	assert_int_equal(ctx_err(a), CSP_CANCELED);
	assert_int_equal(ctx_err(p), 0);
	assert_int_equal(ctx_err(b), 0);
	ctx_cancel(p);
	assert_int_equal(ctx_err(b), CSP_CANCELED);
	ctx_release(a);
	ctx_release(b);
	ctx_release(p);
}

/* 10,000 descendants, wide and deep; released in both orders. */
static void test_many_descendants(void **state)
{
	enum { N = 10000 };
	struct ctx *root = ctx_with_cancel(NULL);
	struct ctx **kids = malloc(N * sizeof *kids);
	struct ctx **chain = malloc(N * sizeof *chain);

	(void)state;
	for (int i = 0; i < N / 2; i++) {
		kids[i] = ctx_with_cancel(root);
		kids[N / 2 + i] = ctx_with_cancel(kids[i]);
	}
	chain[0] = ctx_with_cancel(root);
	for (int i = 1; i < N; i++)
		chain[i] = i % 3 ? ctx_with_cancel(chain[i - 1])
				 : ctx_with_value(chain[i - 1], &chain[i], NULL);
	/* Half the done channels exist before the cancel, half after. */
	for (int i = 0; i < N; i += 2) {
		ctx_done(kids[i]);
		ctx_done(chain[i]);
	}
	assert_int_equal(ctx_child_count(root), N / 2 + 1);
	ctx_cancel(root);
	for (int i = 0; i < N; i++) {
		assert_int_equal(ctx_err(kids[i]), CSP_CANCELED);
		assert_int_equal(ctx_err(chain[i]), CSP_CANCELED);
		assert_true(done_closed(kids[i]));
		assert_true(done_closed(chain[i]));
	}
	assert_int_equal(ctx_child_count(root), 0);
	/* Parents first for the chain, children first for the others. */
	for (int i = 0; i < N; i++)
		ctx_release(chain[i]);
	for (int i = N - 1; i >= 0; i--)
		ctx_release(kids[i]);
	ctx_release(root);
	free(kids);
	free(chain);
}

/* Releasing detaches: a parent that outlives a million children does not
 * keep them (AddressSanitizer checks that they are freed, too). */
static void test_release_detaches(void **state)
{
	struct ctx *root = ctx_with_cancel(NULL);
	struct ctx *a, *b;

	(void)state;
	for (long i = 0; i < 1000000; i++) {
		a = ctx_with_cancel(root);
		if (i % 2)
			ctx_cancel(a);
		ctx_release(a);
	}
	assert_int_equal(ctx_child_count(root), 0);
	assert_int_equal(ctx_err(root), 0);

	/* A child released after its parent is still usable until then. */
	a = ctx_with_cancel(root);
	b = ctx_with_timeout(a, 3600 * CSP_NS_PER_S);
	assert_int_equal(ctx_child_count(root), 1);
	assert_int_equal(ctx_child_count(a), 1);
	ctx_release(a);
	assert_int_equal(ctx_child_count(root), 0);
	assert_int_equal(ctx_err(b), CSP_CANCELED);
	assert_int_equal(chan_recv(ctx_done(b), NULL, NULL), CSP_CLOSED);
	ctx_release(b);
	ctx_release(root);
}

static void test_values(void **state)
{
	static int k1, k2, k3;
	struct ctx *a = ctx_with_value(NULL, &k1, "one");
	struct ctx *b = ctx_with_cancel(a);
	struct ctx *c = ctx_with_value(b, &k2, "two");
	struct ctx *d = ctx_with_value(c, &k1, "shadow");

	(void)state;
	assert_string_equal(ctx_value(c, &k1), "one");
	assert_string_equal(ctx_value(c, &k2), "two");
	assert_string_equal(ctx_value(d, &k1), "shadow");
	assert_null(ctx_value(c, &k3));
	assert_null(ctx_value(b, &k2));
	ctx_cancel(a);
	/* Values stay readable after cancellation. */
	assert_string_equal(ctx_value(d, &k2), "two");
	ctx_release(d);
	ctx_release(c);
	ctx_release(b);
	ctx_release(a);
}

static void test_deadlines(void **state)
{
	struct ctx *p, *c, *q;
	int64_t now = csp_now();
	const char *msg;

	(void)state;
	/* A child's later deadline gives way to the parent's earlier one. */
	p = ctx_with_deadline(NULL, now + 3600 * CSP_NS_PER_S);
	c = ctx_with_timeout(p, 7200 * CSP_NS_PER_S);
	assert_int_equal(ctx_deadline(c), ctx_deadline(p));
	q = ctx_with_timeout(p, 60 * CSP_NS_PER_S);
	assert_true(ctx_deadline(q) < ctx_deadline(p));
	ctx_release(q);
	ctx_release(c);
	ctx_release(p);

	/* A deadline already past: ended at birth. */
	p = ctx_with_deadline(NULL, now - 1);
	assert_int_equal(ctx_err(p), CSP_DEADLINE);
	assert_int_equal(ctx_cause(p, &msg), CSP_DEADLINE);
	assert_string_equal(msg, "context deadline exceeded");
	assert_true(done_closed(p));
	ctx_release(p);

	/* Seen lazily: no timer, but ctx_err reads the clock and cancels the
	 * owner of the deadline, so that its other descendants see it too. */
	p = ctx_with_timeout(NULL, 20 * MS);
	c = ctx_with_cancel(p);
	q = ctx_with_cancel(p);
	/* Not expired before its deadline; a loaded machine may already be
	 * past it, which proves nothing either way. */
	assert_true(ctx_err(c) == 0 || csp_now() >= ctx_deadline(p));
	while (csp_now() <= ctx_deadline(p))
		assert_int_equal(csp_sleep(ctx_deadline(p) - csp_now() + MS, NULL), CSP_OK);
	assert_int_equal(ctx_err(c), CSP_DEADLINE);
	assert_int_equal(ctx_err(p), CSP_DEADLINE);
	assert_int_equal(ctx_cause(q, NULL), CSP_DEADLINE);
	ctx_release(q);
	ctx_release(c);
	ctx_release(p);
}

static void test_deadline_wakes_done_waiter(void **state)
{
	struct ctx *p = ctx_with_timeout(NULL, 30 * MS);
	struct ctx *c = ctx_with_cancel(p);
	int64_t dl = ctx_deadline(p);

	(void)state;
	/* Waiting on the done channel of a child under the deadline. */
	assert_int_equal(chan_recv(ctx_done(c), NULL, c), CSP_DEADLINE);
	assert_true(csp_now() >= dl);
	assert_int_equal(ctx_err(p), CSP_DEADLINE);
	assert_true(done_closed(p));
	ctx_release(c);
	ctx_release(p);
}

struct sleeper {
	pthread_t t;
	struct ctx *ctx;
	int64_t ns;
	int result;
	atomic_int started;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;

	atomic_store(&s->started, 1);
	s->result = csp_sleep(s->ns, s->ctx);
	return NULL;
}

static void test_sleep(void **state)
{
	struct sleeper s;
	struct ctx *ctx;
	int64_t t0 = csp_now(), dl;

	(void)state;
	assert_int_equal(csp_sleep(10 * MS, NULL), CSP_OK);
	assert_true(csp_now() - t0 >= 10 * MS);
	assert_int_equal(csp_sleep(0, NULL), CSP_OK);

	ctx = ctx_with_timeout(NULL, 30 * MS);
	dl = ctx_deadline(ctx);
	assert_int_equal(csp_sleep(3600 * CSP_NS_PER_S, ctx), CSP_DEADLINE);
	assert_true(csp_now() >= dl);
	ctx_release(ctx);

	ctx = ctx_with_timeout(NULL, 3600 * CSP_NS_PER_S);
	t0 = csp_now();
	assert_int_equal(csp_sleep(10 * MS, ctx), CSP_OK);
	assert_true(csp_now() - t0 >= 10 * MS);
	ctx_release(ctx);

	/* Cancellation wakes a sleeper at once (well before its hour). */
	memset(&s, 0, sizeof s);
	s.ctx = ctx_with_cancel(NULL);
	s.ns = 3600 * CSP_NS_PER_S;
	pthread_create(&s.t, NULL, sleeper_main, &s);
	while (!atomic_load(&s.started))
		sched_yield();
	csp_sleep(10 * MS, NULL);
	ctx_cancel(s.ctx);
	pthread_join(s.t, NULL);
	assert_int_equal(s.result, CSP_CANCELED);
	assert_int_equal(csp_sleep(10 * MS, s.ctx), CSP_CANCELED);
	ctx_release(s.ctx);
}

/* Cancelling from many threads at once, while others make children. */
struct racer {
	pthread_t t;
	struct ctx *root;
	int id;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < 2000; i++) {
		struct ctx *c = ctx_with_cancel(r->root);
		struct ctx *g = ctx_with_timeout(c, (i % 7) * CSP_NS_PER_US);

		if (i % 3 == 0)
			ctx_cancel_cause(c, CSP_CANCELED, r->id, "racer");
		ctx_err(g);
		if (i % 2)
			ctx_release(c), ctx_release(g);
		else
			ctx_release(g), ctx_release(c);
	}
	return NULL;
}

static void test_concurrent_tree(void **state)
{
	enum { T = 8 };
	struct racer r[T];
	struct ctx *root = ctx_with_cancel(NULL);

	(void)state;
	for (int i = 0; i < T; i++) {
		r[i].root = root;
		r[i].id = i;
		pthread_create(&r[i].t, NULL, racer_main, &r[i]);
	}
	csp_sleep(2 * MS, NULL);
	ctx_cancel(root);
	for (int i = 0; i < T; i++)
		pthread_join(r[i].t, NULL);
	assert_int_equal(ctx_child_count(root), 0);
	ctx_release(root);
}

/* Wait (up to a generous bound) for a signal context to end. */
static int wait_done(struct ctx *c)
{
	struct ctx *limit = ctx_with_timeout(NULL, 10 * CSP_NS_PER_S);
	int r = chan_recv(ctx_done(c), NULL, limit);

	ctx_release(limit);
	return r;
}

static void test_signals(void **state)
{
	struct ctx *parent = ctx_with_cancel(NULL);
	struct ctx *s1 = ctx_with_signals(parent);
	struct ctx *gone = ctx_with_signals(NULL);
	struct ctx *child = ctx_with_cancel(s1);
	struct ctx *s2;
	unsigned before = csp_signal_count();
	const char *msg;

	(void)state;
	/* A released signal context unregisters. */
	ctx_release(gone);
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	assert_int_equal(wait_done(s1), CSP_CLOSED);
	assert_int_equal(ctx_err(s1), CSP_CANCELED);
	assert_int_equal(ctx_cause(s1, &msg), SIGTERM);
	assert_string_equal(msg, "terminated");
	/* As in Go, a parent's done channel closes before the cancellation
	 * reaches its children: wait for the child's own. */
	assert_int_equal(wait_done(child), CSP_CLOSED);
	assert_int_equal(ctx_cause(child, &msg), SIGTERM);
	assert_int_equal(ctx_err(parent), 0);
	assert_true(csp_signal_count() >= before + 1);

	/* Registered after that signal: sees only the next one. */
	s2 = ctx_with_signals(NULL);
	assert_int_equal(ctx_err(s2), 0);
	before = csp_signal_count();
	assert_int_equal(kill(getpid(), SIGINT), 0);
	assert_int_equal(wait_done(s2), CSP_CLOSED);
	assert_int_equal(ctx_cause(s2, &msg), SIGINT);
	assert_string_equal(msg, "interrupted");
	assert_int_equal(csp_signal_count(), before + 1);

	csp_signal_shutdown();
	csp_signal_shutdown();
	ctx_release(child);
	ctx_release(s1);
	ctx_release(s2);
	ctx_release(parent);

	/* It starts over after a shutdown. */
	s1 = ctx_with_signals(NULL);
	assert_int_equal(kill(getpid(), SIGINT), 0);
	assert_int_equal(wait_done(s1), CSP_CLOSED);
	assert_int_equal(ctx_cause(s1, NULL), SIGINT);
	csp_signal_shutdown();
	ctx_release(s1);
}

static void test_signal_notify(void **state)
{
	struct chan *ch = chan_new(sizeof(int), 1);
	struct ctx *limit = ctx_with_timeout(NULL, 10 * CSP_NS_PER_S);
	unsigned before = csp_signal_count();
	int sig = 0;

	(void)state;
	csp_signal_notify(ch, SIGUSR1);
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	assert_int_equal(chan_recv(ch, &sig, limit), CSP_OK);
	assert_int_equal(sig, SIGUSR1);
	/* Not a SIGINT or SIGTERM: not counted. */
	assert_int_equal(csp_signal_count(), before);
	csp_signal_stop(ch);
	csp_signal_shutdown();
	ctx_release(limit);
	chan_free(ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_background),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_cause_copied_and_inherited),
		cmocka_unit_test(test_child_does_not_cancel_parent),
		cmocka_unit_test(test_many_descendants),
		cmocka_unit_test(test_release_detaches),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_deadlines),
		cmocka_unit_test(test_deadline_wakes_done_waiter),
		cmocka_unit_test(test_sleep),
		cmocka_unit_test(test_concurrent_tree),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_signal_notify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
