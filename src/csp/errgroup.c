/* SPDX-License-Identifier: MIT */
/*
 * errgroup.c - a group of threads whose first error cancels the rest.
 *
 * Every task runs on its own thread (csp_thread_start) and the group owns
 * every thread it starts: errgroup_wait joins them all.  So that a group
 * that runs many short tasks over a long time does not hold on to the
 * stacks of finished threads, each finished task puts itself on a list that
 * the next errgroup_go joins and frees.
 *
 * The limit is a semaphore (sync.c), so waiting for a free slot honours a
 * context the way every other blocking call does.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp.h"

struct eg_task {
	struct errgroup *g;
	errgroup_fn fn;
	void *arg;
	pthread_t thread;
	struct eg_task *next;     /* on g->finished once fn has returned */
};

struct errgroup {
	struct ctx *ctx;          /* the tasks' context: cancelled by the first error */
	struct ctx *parent;       /* what errgroup_go waits under for a slot */
	struct sem *slots;        /* NULL: no limit */
	struct waitgroup *running;/* tasks started and not yet on `finished` */
	pthread_mutex_t mu;
	int err;                  /* first non-zero result, 0 so far */
	struct eg_task *finished; /* returned, not yet joined */
};

/* Record err as the group's error if it is the first, and then cancel the
 * group's context with msg as the cause.  Can't fail. */
static void eg_fail(struct errgroup *g, int err, const char *msg)
{
	int first;

	pthread_mutex_lock(&g->mu);
	first = g->err == 0;
	if (first)
		g->err = err;
	pthread_mutex_unlock(&g->mu);
	if (first)
		ctx_cancel_cause(g->ctx, CSP_CANCELED, err, msg);
}

/* Join and free every task that has finished.  Each one is past its last
 * use of the group, so the join returns as soon as the thread exits. */
static void eg_reap(struct errgroup *g)
{
	struct eg_task *t, *next;

	pthread_mutex_lock(&g->mu);
	t = g->finished;
	g->finished = NULL;
	pthread_mutex_unlock(&g->mu);
	for (; t != NULL; t = next) {
		next = t->next;
		pthread_join(t->thread, NULL);
		free(t);
	}
}

static void *eg_run(void *p)
{
	struct eg_task *t = p;
	struct errgroup *g = t->g;
	char msg[64];
	int r;

	r = t->fn(g->ctx, t->arg);
	if (r != 0) {
		snprintf(msg, sizeof msg, "errgroup: task failed (code %d)", r);
		eg_fail(g, r, msg);
	}
	if (g->slots != NULL)
		sem_release(g->slots);
	/* From here on t belongs to whoever reaps it; and once `running`
	 * drops, to errgroup_wait. */
	pthread_mutex_lock(&g->mu);
	t->next = g->finished;
	g->finished = t;
	pthread_mutex_unlock(&g->mu);
	wg_done(g->running);
	return NULL;
}

/*
 * A group whose context is a child of parent (NULL: background); limit > 0
 * caps the tasks running at once.  The caller owns the group and frees it
 * with errgroup_free.  Never returns NULL.
 */
struct errgroup *errgroup_new(struct ctx *parent, int limit)
{
	struct errgroup *g = csp_calloc(1, sizeof *g);

	pthread_mutex_init(&g->mu, NULL);
	g->parent = parent;
	g->ctx = ctx_with_cancel(parent);
	g->slots = limit > 0 ? sem_new((size_t)limit) : NULL;
	g->running = wg_new();
	return g;
}

/* The context the tasks receive; valid until errgroup_free. */
struct ctx *errgroup_ctx(struct errgroup *g)
{
	return g->ctx;
}

/*
 * Start fn(ctx, arg) on a new thread, ctx being the group's context.  Tasks
 * may start further tasks (but with a limit, a task that waits for a slot
 * its siblings never free deadlocks, as in Go).
 *
 * Returns CSP_OK; or, fn not run, the parent context's CSP_CANCELED /
 * CSP_DEADLINE when it ended while waiting for a free slot; or CSP_INVALID
 * when the system would not start another thread: the group then fails
 * with CSP_INVALID as its error and a cause naming the reason, since a
 * pipeline that cannot start its workers cannot go on.
 */
int errgroup_go(struct errgroup *g, errgroup_fn fn, void *arg)
{
	struct eg_task *t;
	char msg[96];
	int err;

	eg_reap(g);
	if (g->slots != NULL) {
		err = sem_acquire(g->slots, g->parent);
		if (err != CSP_OK)
			return err;
	}
	t = csp_malloc(sizeof *t);
	t->g = g;
	t->fn = fn;
	t->arg = arg;
	t->next = NULL;
	wg_add(g->running, 1);
	err = csp_thread_start(&t->thread, eg_run, t, 0);
	if (err != 0)
		goto fail;
	return CSP_OK;

fail:
	wg_done(g->running);
	free(t);
	if (g->slots != NULL)
		sem_release(g->slots);
	snprintf(msg, sizeof msg, "errgroup: cannot start a thread: %s",
		 strerror(err));
	eg_fail(g, CSP_INVALID, msg);
	return CSP_INVALID;
}

/*
 * Wait for every task started so far, join their threads, and return the
 * first non-zero result (0 if every task returned 0).  As in Go, the
 * group's context is cancelled when wait returns, error or not.  Calling it
 * again returns the same result.
 */
int errgroup_wait(struct errgroup *g)
{
	int err;

	wg_wait(g->running, NULL);
	eg_reap(g);
	ctx_cancel(g->ctx);
	pthread_mutex_lock(&g->mu);
	err = g->err;
	pthread_mutex_unlock(&g->mu);
	return err;
}

/* Free the group, releasing its context.  Meant for after errgroup_wait;
 * tasks still running are waited for first, so nothing leaks.  NULL is
 * harmless. */
void errgroup_free(struct errgroup *g)
{
	if (g == NULL)
		return;
	errgroup_wait(g);
	ctx_release(g->ctx);
	sem_free(g->slots);
	wg_free(g->running);
	pthread_mutex_destroy(&g->mu);
	free(g);
}
