/* SPDX-License-Identifier: MIT */
/*
 * test_sync.c - wait group, once, counting semaphore.
 *
 * Threads never call cmocka's assertions (they longjmp into the main
 * thread's stack): they record what they saw, the main thread asserts.
 * No test bounds how long anything takes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csp/csp.h"

#define NTHREADS 8

static void start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	assert_int_equal(csp_thread_start(t, fn, arg, 0), 0);
}

static void join(pthread_t t)
{
	assert_int_equal(pthread_join(t, NULL), 0);
}

/* --- wait group --- */

static void test_wg_zero_returns_at_once(void **state)
{
	struct waitgroup *wg = wg_new();
	struct ctx *c = ctx_with_cancel(NULL);

	assert_int_equal(wg_wait(wg, NULL), CSP_OK);
	/* Zero is zero even under a cancelled context. */
	ctx_cancel(c);
	assert_int_equal(wg_wait(wg, c), CSP_OK);
	wg_add(wg, 2);
	wg_done(wg);
	wg_add(wg, -1);
	assert_int_equal(wg_wait(wg, NULL), CSP_OK);
	ctx_release(c);
	wg_free(wg);
	wg_free(NULL);
}

struct wg_work {
	struct waitgroup *wg;
	int *slot;
};

static void *wg_worker(void *p)
{
	struct wg_work *w = p;

	csp_sleep(CSP_NS_PER_MS, NULL);
	*w->slot = 1;  /* published to the waiter by wg_done -> wg_wait */
	wg_done(w->wg);
	return NULL;
}

static void test_wg_waits_for_all(void **state)
{
	struct waitgroup *wg = wg_new();
	struct wg_work w[NTHREADS];
	pthread_t t[NTHREADS];
	int slots[NTHREADS] = { 0 };
	int i;

	wg_add(wg, NTHREADS);
	for (i = 0; i < NTHREADS; i++) {
		w[i] = (struct wg_work){ wg, &slots[i] };
		start(&t[i], wg_worker, &w[i]);
	}
	assert_int_equal(wg_wait(wg, NULL), CSP_OK);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(slots[i], 1);
	for (i = 0; i < NTHREADS; i++)
		join(t[i]);
	wg_free(wg);
}

static void test_wg_context_ends_wait(void **state)
{
	struct waitgroup *wg = wg_new();
	struct ctx *c = ctx_with_cancel(NULL);
	struct ctx *d = ctx_with_timeout(NULL, 10 * CSP_NS_PER_MS);

	wg_add(wg, 1);
	assert_int_equal(wg_wait(wg, d), CSP_DEADLINE);
	ctx_cancel(c);
	assert_int_equal(wg_wait(wg, c), CSP_CANCELED);
	/* The group is unharmed by waiters that gave up. */
	wg_done(wg);
	assert_int_equal(wg_wait(wg, NULL), CSP_OK);
	ctx_release(d);
	ctx_release(c);
	wg_free(wg);
}

struct waiter {
	struct waitgroup *wg;
	atomic_int *ok;
};

static void *wg_waiter(void *p)
{
	struct waiter *w = p;

	if (wg_wait(w->wg, NULL) == CSP_OK)
		atomic_fetch_add(w->ok, 1);
	return NULL;
}

/* Several waiters, and the group reused for many busy periods while
 * waiters of earlier periods may still be leaving: the sanitizers check
 * that no period's channel is freed under a waiter. */
static void test_wg_many_waiters_and_reuse(void **state)
{
	struct waitgroup *wg = wg_new();
	pthread_t t[4];
	struct waiter w;
	atomic_int ok = 0;
	int round, i;

	w.wg = wg;
	w.ok = &ok;
	for (round = 0; round < 200; round++) {
		wg_add(wg, 1);
		for (i = 0; i < 4; i++)
			start(&t[i], wg_waiter, &w);
		if (round % 2)
			csp_sleep(CSP_NS_PER_US * 50, NULL);
		wg_done(wg);
		/* The next period starts before this one's waiters join. */
		wg_add(wg, 1);
		wg_done(wg);
		for (i = 0; i < 4; i++)
			join(t[i]);
	}
	assert_int_equal(atomic_load(&ok), 200 * 4);
	wg_free(wg);
}

/* A negative count is a bug that aborts, as Go panics. */
static void test_wg_negative_aborts(void **state)
{
	pid_t pid;
	int status, fd;

	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct waitgroup *wg;

		fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 2);
		wg = wg_new();
		wg_add(wg, 1);
		wg_add(wg, -2);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* --- once --- */

struct once_state {
	struct once once;
	int calls;     /* plain int: once_do must order it for every caller */
	int value;
	atomic_int seen;
	struct waitgroup *go;
};

static void once_init(void *p)
{
	struct once_state *s = p;

	s->calls++;
	csp_sleep(CSP_NS_PER_MS, NULL);  /* let the others pile up */
	s->value = 42;
}

static void *once_caller(void *p)
{
	struct once_state *s = p;

	wg_wait(s->go, NULL);
	once_do(&s->once, once_init, s);
	if (s->value == 42)
		atomic_fetch_add(&s->seen, 1);
	return NULL;
}

static void test_once_runs_once_under_contention(void **state)
{
	static struct once_state s = { ONCE_INIT, 0, 0, 0, NULL };
	pthread_t t[NTHREADS];
	int i;

	s.go = wg_new();
	wg_add(s.go, 1);
	for (i = 0; i < NTHREADS; i++)
		start(&t[i], once_caller, &s);
	wg_done(s.go);  /* release them together */
	for (i = 0; i < NTHREADS; i++)
		join(t[i]);
	assert_int_equal(s.calls, 1);
	assert_int_equal(atomic_load(&s.seen), NTHREADS);
	once_do(&s.once, once_init, &s);
	assert_int_equal(s.calls, 1);
	wg_free(s.go);
}

/* --- semaphore --- */

static void test_sem_counts(void **state)
{
	struct sem *s = sem_new(2);

	assert_int_equal(sem_held(s), 0);
	assert_int_equal(sem_try_acquire(s), CSP_OK);
	assert_int_equal(sem_acquire(s, NULL), CSP_OK);
	assert_int_equal(sem_held(s), 2);
	assert_int_equal(sem_try_acquire(s), CSP_WOULDBLOCK);
	assert_int_equal(sem_release(s), CSP_OK);
	assert_int_equal(sem_held(s), 1);
	assert_int_equal(sem_try_acquire(s), CSP_OK);
	assert_int_equal(sem_release(s), CSP_OK);
	assert_int_equal(sem_release(s), CSP_OK);
	assert_int_equal(sem_release(s), CSP_INVALID);
	assert_int_equal(sem_held(s), 0);
	sem_free(s);
	sem_free(NULL);
}

static void test_sem_acquire_honours_context(void **state)
{
	struct sem *s = sem_new(1);
	struct ctx *c = ctx_with_cancel(NULL);
	struct ctx *d = ctx_with_timeout(NULL, 10 * CSP_NS_PER_MS);

	assert_int_equal(sem_acquire(s, NULL), CSP_OK);
	assert_int_equal(sem_acquire(s, d), CSP_DEADLINE);
	ctx_cancel(c);
	assert_int_equal(sem_acquire(s, c), CSP_CANCELED);
	assert_int_equal(sem_held(s), 1);
	assert_int_equal(sem_release(s), CSP_OK);
	ctx_release(d);
	ctx_release(c);
	sem_free(s);
}

static void test_sem_zero_never_grants(void **state)
{
	struct sem *s = sem_new(0);
	struct ctx *d = ctx_with_timeout(NULL, 5 * CSP_NS_PER_MS);

	assert_int_equal(sem_try_acquire(s), CSP_WOULDBLOCK);
	assert_int_equal(sem_acquire(s, d), CSP_DEADLINE);
	assert_int_equal(sem_release(s), CSP_INVALID);
	assert_int_equal(sem_held(s), 0);
	ctx_release(d);
	sem_free(s);
}

struct sem_user {
	struct sem *s;
	atomic_int *inside, *max;
	int acquired;
};

static void *sem_worker(void *p)
{
	struct sem_user *u = p;
	int i, now, m;

	for (i = 0; i < 200; i++) {
		if (sem_acquire(u->s, NULL) != CSP_OK)
			continue;
		u->acquired++;
		now = atomic_fetch_add(u->inside, 1) + 1;
		m = atomic_load(u->max);
		while (now > m && !atomic_compare_exchange_weak(u->max, &m, now))
			;
		if (i % 16 == 0)
			csp_sleep(CSP_NS_PER_US * 20, NULL);
		atomic_fetch_sub(u->inside, 1);
		sem_release(u->s);
	}
	return NULL;
}

/* Blocked acquirers are woken by releases, and never more than n hold. */
static void test_sem_bounds_concurrency(void **state)
{
	struct sem *s = sem_new(3);
	struct sem_user u[NTHREADS];
	pthread_t t[NTHREADS];
	atomic_int inside = 0, max = 0;
	int i;

	for (i = 0; i < NTHREADS; i++) {
		u[i] = (struct sem_user){ s, &inside, &max, 0 };
		start(&t[i], sem_worker, &u[i]);
	}
	for (i = 0; i < NTHREADS; i++) {
		join(t[i]);
		assert_int_equal(u[i].acquired, 200);
	}
	assert_true(atomic_load(&max) >= 1);
	assert_true(atomic_load(&max) <= 3);
	assert_int_equal(sem_held(s), 0);
	sem_free(s);
}

struct blocked {
	struct sem *s;
	int result;
};

static void *sem_blocked(void *p)
{
	struct blocked *b = p;

	b->result = sem_acquire(b->s, NULL);
	return NULL;
}

static void test_sem_release_wakes_acquirer(void **state)
{
	struct sem *s = sem_new(1);
	struct blocked b = { s, -100 };
	pthread_t t;

	assert_int_equal(sem_try_acquire(s), CSP_OK);
	start(&t, sem_blocked, &b);
	csp_sleep(2 * CSP_NS_PER_MS, NULL);  /* likely parked; either way is fine */
	assert_int_equal(sem_release(s), CSP_OK);
	join(t);
	assert_int_equal(b.result, CSP_OK);
	assert_int_equal(sem_held(s), 1);
	assert_int_equal(sem_release(s), CSP_OK);
	sem_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wg_zero_returns_at_once),
		cmocka_unit_test(test_wg_waits_for_all),
		cmocka_unit_test(test_wg_context_ends_wait),
		cmocka_unit_test(test_wg_many_waiters_and_reuse),
		cmocka_unit_test(test_wg_negative_aborts),
		cmocka_unit_test(test_once_runs_once_under_contention),
		cmocka_unit_test(test_sem_counts),
		cmocka_unit_test(test_sem_acquire_honours_context),
		cmocka_unit_test(test_sem_zero_never_grants),
		cmocka_unit_test(test_sem_bounds_concurrency),
		cmocka_unit_test(test_sem_release_wakes_acquirer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
