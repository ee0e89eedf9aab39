/* SPDX-License-Identifier: MIT */
/*
 * test_errgroup.c - error groups, and the threads under them.
 *
 * Tasks record what they saw in atomics; only the main thread asserts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"

static int count_task(struct ctx *ctx, void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
	return 0;
}

static void test_all_succeed(void **state)
{
	struct errgroup *g = errgroup_new(NULL, 0);
	atomic_int ran = 0;
	int i;

	assert_int_equal(ctx_err(errgroup_ctx(g)), 0);
	for (i = 0; i < 10; i++)
		assert_int_equal(errgroup_go(g, count_task, &ran), CSP_OK);
	assert_int_equal(errgroup_wait(g), 0);
	assert_int_equal(atomic_load(&ran), 10);
	/* As in Go, the group's context ends with wait. */
	assert_int_equal(ctx_err(errgroup_ctx(g)), CSP_CANCELED);
	assert_int_equal(errgroup_wait(g), 0);
	errgroup_free(g);
	errgroup_free(NULL);
}

static void test_empty_group(void **state)
{
	struct errgroup *g = errgroup_new(NULL, 4);

	assert_int_equal(errgroup_wait(g), 0);
	errgroup_free(g);
}

struct siblings {
	atomic_int blocked;    /* siblings that have started waiting */
	atomic_int canceled;   /* siblings whose wait ended by cancellation */
};

/* A sibling waits on the group's context for far longer than any test
 * runs, and returns an error of its own once cancelled: wait must still
 * return the first error. */
static int sibling_task(struct ctx *ctx, void *arg)
{
	struct siblings *s = arg;

	atomic_fetch_add(&s->blocked, 1);
	if (csp_sleep(3600 * CSP_NS_PER_S, ctx) == CSP_CANCELED)
		atomic_fetch_add(&s->canceled, 1);
	return 9;
}

static int failing_task(struct ctx *ctx, void *arg)
{
	struct siblings *s = arg;

	/* Fail only once every sibling is blocked on the context. */
	while (atomic_load(&s->blocked) < 3)
		csp_sleep(CSP_NS_PER_MS, NULL);
	return 7;
}

static void test_first_error_cancels_siblings(void **state)
{
	struct ctx *parent = ctx_with_cancel(NULL);
	struct errgroup *g = errgroup_new(parent, 0);
	struct siblings s = { 0, 0 };
	const char *msg = NULL;
	int i;

	for (i = 0; i < 3; i++)
		assert_int_equal(errgroup_go(g, sibling_task, &s), CSP_OK);
	assert_int_equal(errgroup_go(g, failing_task, &s), CSP_OK);
	assert_int_equal(errgroup_wait(g), 7);
	assert_int_equal(atomic_load(&s.canceled), 3);
	assert_int_equal(ctx_err(errgroup_ctx(g)), CSP_CANCELED);
	assert_int_equal(ctx_cause(errgroup_ctx(g), &msg), 7);
	assert_non_null(msg);
	assert_string_equal(msg, "errgroup: task failed (code 7)");
	/* The group's failure stays in the group. */
	assert_int_equal(ctx_err(parent), 0);
	errgroup_free(g);
	ctx_release(parent);
}

/* Cancelling the parent cancels the tasks. */
static void test_parent_cancel_reaches_tasks(void **state)
{
	struct ctx *parent = ctx_with_cancel(NULL);
	struct errgroup *g = errgroup_new(parent, 0);
	struct siblings s = { 0, 0 };
	int i;

	for (i = 0; i < 3; i++)
		assert_int_equal(errgroup_go(g, sibling_task, &s), CSP_OK);
	ctx_cancel(parent);
	assert_int_equal(errgroup_wait(g), 9);
	assert_int_equal(atomic_load(&s.canceled), 3);
	errgroup_free(g);
	ctx_release(parent);
}

struct gauge {
	atomic_int running, max, total;
};

static int gauge_task(struct ctx *ctx, void *arg)
{
	struct gauge *gg = arg;
	int now = atomic_fetch_add(&gg->running, 1) + 1;
	int m = atomic_load(&gg->max);

	while (now > m && !atomic_compare_exchange_weak(&gg->max, &m, now))
		;
	csp_sleep(CSP_NS_PER_MS / 2, NULL);
	atomic_fetch_sub(&gg->running, 1);
	atomic_fetch_add(&gg->total, 1);
	return 0;
}

static void test_limit_respected(void **state)
{
	struct errgroup *g = errgroup_new(NULL, 3);
	struct gauge gg = { 0, 0, 0 };
	int i;

	for (i = 0; i < 60; i++)
		assert_int_equal(errgroup_go(g, gauge_task, &gg), CSP_OK);
	assert_int_equal(errgroup_wait(g), 0);
	assert_int_equal(atomic_load(&gg.total), 60);
	assert_true(atomic_load(&gg.max) >= 1);
	assert_true(atomic_load(&gg.max) <= 3);
	errgroup_free(g);
}

static int gate_task(struct ctx *ctx, void *arg)
{
	char c;

	/* Deliberately deaf to the group's context: only the gate ends it. */
	chan_recv(arg, &c, NULL);
	return 0;
}

/* errgroup_go waiting for a slot gives up when the parent ends, and then
 * does not run fn. */
static void test_limit_wait_honours_parent(void **state)
{
	struct ctx *parent = ctx_with_timeout(NULL, 20 * CSP_NS_PER_MS);
	struct errgroup *g = errgroup_new(parent, 1);
	struct chan *gate = chan_new(1, 0);
	atomic_int ran = 0;

	assert_int_equal(errgroup_go(g, gate_task, gate), CSP_OK);
	assert_int_equal(errgroup_go(g, count_task, &ran), CSP_DEADLINE);
	chan_close(gate);
	assert_int_equal(errgroup_wait(g), 0);
	assert_int_equal(atomic_load(&ran), 0);
	errgroup_free(g);
	chan_free(gate);
	ctx_release(parent);
}

static void test_thousand_tasks(void **state)
{
	struct errgroup *g = errgroup_new(NULL, 0);
	struct errgroup *lg = errgroup_new(NULL, 8);
	atomic_int ran = 0;
	int i;

	for (i = 0; i < 1000; i++)
		assert_int_equal(errgroup_go(g, count_task, &ran), CSP_OK);
	for (i = 0; i < 1000; i++)
		assert_int_equal(errgroup_go(lg, count_task, &ran), CSP_OK);
	assert_int_equal(errgroup_wait(g), 0);
	assert_int_equal(errgroup_wait(lg), 0);
	assert_int_equal(atomic_load(&ran), 2000);
	errgroup_free(lg);
	errgroup_free(g);
}

/* Tasks may start tasks. */
struct nest {
	struct errgroup *g;
	atomic_int ran;
};

static int leaf_task(struct ctx *ctx, void *arg)
{
	struct nest *n = arg;

	atomic_fetch_add(&n->ran, 1);
	return 0;
}

static int spawn_task(struct ctx *ctx, void *arg)
{
	struct nest *n = arg;
	int i;

	for (i = 0; i < 10; i++)
		if (errgroup_go(n->g, leaf_task, n) != CSP_OK)
			return 1;
	return 0;
}

static void test_nested_go(void **state)
{
	struct nest n;
	int i;

	n.g = errgroup_new(NULL, 0);
	atomic_init(&n.ran, 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(errgroup_go(n.g, spawn_task, &n), CSP_OK);
	assert_int_equal(errgroup_wait(n.g), 0);
	assert_int_equal(atomic_load(&n.ran), 50);
	errgroup_free(n.g);
}

/* Free without wait still joins what runs. */
static void test_free_without_wait(void **state)
{
	struct errgroup *g = errgroup_new(NULL, 0);
	struct gauge gg = { 0, 0, 0 };
	int i;

	for (i = 0; i < 20; i++)
		assert_int_equal(errgroup_go(g, gauge_task, &gg), CSP_OK);
	errgroup_free(g);
	assert_int_equal(atomic_load(&gg.total), 20);
}

/* --- threads --- */

struct crowd {
	struct waitgroup *started;
	struct chan *release;
	atomic_int done;
};

static void *crowd_member(void *p)
{
	struct crowd *c = p;
	char x;

	wg_done(c->started);
	chan_recv(c->release, &x, NULL);   /* all stay alive until released */
	atomic_fetch_add(&c->done, 1);
	return NULL;
}

/* A thousand workers alive at once on small stacks, all joined. */
static void test_thousand_threads(void **state)
{
	enum { N = 1000 };
	pthread_t *t = calloc(N, sizeof *t);
	struct crowd c;
	int i;

	assert_non_null(t);
	c.started = wg_new();
	c.release = chan_new(1, 0);
	atomic_init(&c.done, 0);
	wg_add(c.started, N);
	for (i = 0; i < N; i++)
		assert_int_equal(csp_thread_start(&t[i], crowd_member, &c, 0), 0);
	assert_int_equal(wg_wait(c.started, NULL), CSP_OK);
	chan_close(c.release);
	for (i = 0; i < N; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(atomic_load(&c.done), N);
	chan_free(c.release);
	wg_free(c.started);
	free(t);
}

static void *return_arg(void *p)
{
	return p;
}

/* Explicit sizes, a too-small one raised to the minimum. */
static void test_thread_stack_sizes(void **state)
{
	size_t sizes[] = { 1, 64 * 1024, 1024 * 1024 };
	pthread_t t;
	void *r;
	size_t i;

	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		assert_int_equal(csp_thread_start(&t, return_arg, &sizes[i],
						  sizes[i]), 0);
		assert_int_equal(pthread_join(t, &r), 0);
		assert_ptr_equal(r, &sizes[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_succeed),
		cmocka_unit_test(test_empty_group),
		cmocka_unit_test(test_first_error_cancels_siblings),
		cmocka_unit_test(test_parent_cancel_reaches_tasks),
		cmocka_unit_test(test_limit_respected),
		cmocka_unit_test(test_limit_wait_honours_parent),
		cmocka_unit_test(test_thousand_tasks),
		cmocka_unit_test(test_nested_go),
		cmocka_unit_test(test_free_without_wait),
		cmocka_unit_test(test_thousand_threads),
		cmocka_unit_test(test_thread_stack_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
