/* SPDX-License-Identifier: MIT */
/*
 * engine_auto.c - `workers: auto`: a controller thread that moves workers
 * to the stage that limits throughput while the pipeline runs.
 *
 * An auto stage starts with one worker and has a place (struct wslot) for
 * each worker it may grow to (st->workers: max_workers, by default the
 * number of CPUs).  Every AUTO_TICK (the first looks sooner: AUTO_FIRST
 * after the start, then at doubling intervals, so that a short run is
 * sized too) the controller looks at how busy each
 * stage's workers were since its last look (busy time over workers times
 * the tick, as the --stats verdict measures it) and makes at most one
 * change:
 *
 *   - the busiest stage of the pipeline, when it is an auto stage whose
 *     workers were busy AUTO_GROW of the time or more, gets one more
 *     worker, while the workers added in all (beyond each auto stage's
 *     first) stay within max_workers - 1;
 *   - when that budget is spent, the auto stage that waits the most (the
 *     least busy) with more than one worker gives one back, if what it
 *     does fits in one worker fewer at under AUTO_GROW busy (so that it
 *     does not become the stage that limits), and the next look can add
 *     it to the busiest;
 *   - otherwise an auto stage whose work would fit in one worker fewer at
 *     under AUTO_SHRINK busy gives one back.
 *
 * A stage that changed waits AUTO_SETTLE looks before it changes again, so
 * that its new figures are measured with its new workers.
 *
 * Adding: a thread is started in a free place, running the same worker
 * loop as the others (engine_worker_main), taking its input from the same
 * channel, in turn (the turnstile) when the stage is ordered.  It counts in
 * the stage's live workers and the run's live threads, each raised only
 * while not yet zero, so that a stage that has ended (or a run whose
 * threads have all ended) is never revived.
 *
 * Until its second worker is first added, an ordered auto stage's one
 * worker emits each batch itself, as a stage of one worker does, rather
 * than through the collector (a thread hop per batch): the worker that
 * takes a batch reads, under the turnstile, whether a second worker was
 * ever added (via_collect, set before it starts), and the collector goes
 * on after the last batch emitted so (direct_done).
 *
 * Retiring: the worker's place is marked; the worker sees the mark before
 * it takes its next batch, so every sequence number taken is processed
 * and the collector never waits for a missing one.  It then leaves as a
 * worker at the end of its input does (flush, and the last one ends the
 * stage), and marks its place done; the controller joins its thread
 * before it uses the place again, and engine_run joins the rest.
 *
 * The controller ends with the run's context (a signal or deadline stops
 * the changes; the stages keep the workers they have) or when every thread
 * of the run has ended.  An idle pipeline costs one look per tick.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine_rt.h"

#define AUTO_TICK   (200 * CSP_NS_PER_MS)
#define AUTO_FIRST  (25 * CSP_NS_PER_MS)   /* the first look; then doubling */

int (*engine_auto_want)(const struct stage *st, int workers, int max);
int64_t engine_auto_tick = AUTO_TICK;
#define AUTO_GROW   0.80
#define AUTO_SHRINK 0.50
#define AUTO_SETTLE 2

/* What the controller saw of a stage at one look. */
struct look {
	struct stage_rt *rt;
	double util;      /* busy time over workers times the interval */
	int n;            /* workers (auto: not counting those retiring) */
};

static int64_t stage_busy(const struct stage_rt *rt)
{
	const struct stage *st = rt->st;
	int nw = st->kind->run ? 1 : st->workers;
	int64_t busy = 0;

	for (int w = 0; w <= nw + 1; w++)
		busy += atomic_load_explicit(&rt->ws[w].busy_ns, memory_order_relaxed);
	return busy;
}

/* Raise *c by one unless it is zero: 0, or -1 when it was zero. */
static int raise_unless_zero(atomic_int *c)
{
	int n = atomic_load(c);

	while (n > 0)
		if (atomic_compare_exchange_weak(c, &n, n + 1))
			return 0;
	return -1;
}

static void note_change(struct engine *eng, struct stage_rt *rt, int workers)
{
	int k = atomic_load(&rt->nchanges);

	if (k < WCHANGES_MAX) {
		rt->changes[k].at_s = (double)(csp_now() - eng->start_ns) / 1e9;
		rt->changes[k].workers = workers;
	}
	/* Release: a report that sees the count sees the entry. */
	atomic_store_explicit(&rt->nchanges, k + 1, memory_order_release);
	rt->auto_settle = AUTO_SETTLE;
}

/* Start one more worker of rt in a free place: 0, or -1 when none is free
 * or the stage (or run) has ended. */
static int add_worker(struct engine *eng, struct stage_rt *rt)
{
	int nw = rt->st->workers, k;
	struct wslot *s = NULL;

	for (k = 0; k < nw; k++) {
		int state = atomic_load(&rt->slots[k].state);
		if (state == SLOT_DONE) {
			pthread_join(rt->slots[k].th, NULL);
			atomic_store(&rt->slots[k].state, SLOT_EMPTY);
			state = SLOT_EMPTY;
		}
		if (state == SLOT_EMPTY) {
			s = &rt->slots[k];
			break;
		}
	}
	if (!s || raise_unless_zero(&eng->threads_live))
		return -1;
	if (raise_unless_zero(&rt->live)) {
		engine_thread_exit(eng);
		return -1;
	}
	/* From the next batch taken on, results go through the collector. */
	atomic_store(&rt->via_collect, 1);
	atomic_store(&s->retire, 0);
	atomic_store(&s->state, SLOT_RUNNING);
	if (csp_thread_start(&s->th, engine_worker_main, &rt->workers[k], 0)) {
		/* Not started: leave as the worker would have, at once. */
		atomic_store(&s->state, SLOT_EMPTY);
		engine_worker_leave(rt, &rt->ws[k], !engine_aborted(eng));
		engine_thread_exit(eng);
		return -1;
	}
	note_change(eng, rt, atomic_fetch_add(&rt->nworkers, 1) + 1);
	return 0;
}

/* Ask one worker of rt to retire: the last running one. */
static void retire_worker(struct engine *eng, struct stage_rt *rt)
{
	for (int k = rt->st->workers; k-- > 0;) {
		struct wslot *s = &rt->slots[k];
		if (atomic_load(&s->state) == SLOT_RUNNING && !atomic_load(&s->retire)) {
			atomic_store(&s->retire, 1);
			note_change(eng, rt, atomic_fetch_sub(&rt->nworkers, 1) - 1);
			return;
		}
	}
}

/* One look: measure every stage, then make at most one change. */
static void auto_look(struct engine *eng, struct look *lk, int64_t dt)
{
	struct pipeline *p = eng->p;
	struct look *top = NULL, *donor = NULL;
	int extra = 0;

	for (size_t i = 0; i < p->n; i++) {
		struct stage_rt *rt = p->stages[i]->rt;
		int64_t busy = stage_busy(rt);
		int n = rt->slots ? atomic_load(&rt->nworkers) :
			rt->st->kind->run ? 1 : rt->st->workers;

		lk[i].rt = rt;
		lk[i].n = n > 0 ? n : 1;
		lk[i].util = (double)(busy - rt->auto_busy) / ((double)dt * lk[i].n);
		rt->auto_busy = busy;
		if (rt->auto_settle)
			rt->auto_settle--;
		if (atomic_load(&rt->ended))
			continue;
		if (!top || lk[i].util > top->util)
			top = &lk[i];
		if (rt->slots) {
			extra += lk[i].n - 1;
			if (lk[i].n > 1 && !rt->auto_settle && (!donor || lk[i].util < donor->util))
				donor = &lk[i];
		}
	}
	if (engine_auto_want) {
		for (size_t i = 0; i < p->n; i++) {
			struct stage_rt *rt = lk[i].rt;
			if (!rt->slots || atomic_load(&rt->ended))
				continue;
			int want = engine_auto_want(rt->st, lk[i].n, rt->st->workers);
			if (want > lk[i].n && lk[i].n < rt->st->workers)
				add_worker(eng, rt);
			else if (want < lk[i].n && lk[i].n > 1)
				retire_worker(eng, rt);
		}
		return;
	}
	if (top && top->rt->slots && !top->rt->auto_settle && top->util >= AUTO_GROW &&
	    top->n < top->rt->st->workers) {
		if (extra < eng->auto_budget) {
			add_worker(eng, top->rt);
			return;
		}
		if (donor && donor != top &&
		    donor->util * donor->n / (donor->n - 1) < AUTO_GROW) {
			retire_worker(eng, donor->rt);
			return;
		}
	}
	for (size_t i = 0; i < p->n; i++) {
		struct stage_rt *rt = lk[i].rt;
		if (!rt->slots || rt->auto_settle || lk[i].n < 2 || atomic_load(&rt->ended))
			continue;
		if (lk[i].util * lk[i].n / (lk[i].n - 1) < AUTO_SHRINK) {
			retire_worker(eng, rt);
			return;
		}
	}
}

static void *auto_main(void *arg)
{
	struct engine *eng = arg;
	struct look *lk = csp_calloc(eng->p->n, sizeof *lk);
	int64_t last = csp_now();
	int64_t tick = AUTO_FIRST < engine_auto_tick ? AUTO_FIRST : engine_auto_tick;

	for (size_t i = 0; i < eng->p->n; i++)
		eng->p->stages[i]->rt->auto_busy = stage_busy(eng->p->stages[i]->rt);
	for (;;) {
		char dummy;
		struct sel_case c[1] = { { eng->done, SEL_RECV, &dummy, 0 } };
		struct ctx *t = ctx_with_timeout(eng->auto_ctx, tick);
		int r = chan_select(c, 1, 0, t);
		int64_t now;

		ctx_release(t);
		if (r == 0 || ctx_err(eng->auto_ctx))
			break;
		now = csp_now();
		auto_look(eng, lk, now - last > 0 ? now - last : 1);
		last = now;
		tick = 2 * tick < engine_auto_tick ? 2 * tick : engine_auto_tick;
	}
	free(lk);
	return NULL;
}

int engine_auto_start(struct engine *eng, struct err *e)
{
	struct pipeline *p = eng->p;
	int any = 0, err;

	for (size_t i = 0; i < p->n; i++)
		any |= p->stages[i]->rt->slots != NULL;
	if (!any)
		return 0;
	if (p->max_workers)
		eng->auto_budget = p->max_workers - 1;
	else
		for (size_t i = 0; i < p->n; i++)
			if (p->stages[i]->rt->slots)
				eng->auto_budget = p->stages[i]->workers - 1;
	eng->auto_ctx = ctx_with_cancel(eng->run);
	err = csp_thread_start(&eng->auto_th, auto_main, eng, 0);
	if (err) {
		ctx_release(eng->auto_ctx);
		eng->auto_ctx = NULL;
		err_set(e, "cannot start the controller of workers: auto: %s", strerror(err));
		return -1;
	}
	return 0;
}

void engine_auto_stop(struct engine *eng)
{
	if (!eng->auto_ctx)
		return;
	ctx_cancel(eng->auto_ctx);
	pthread_join(eng->auto_th, NULL);
	ctx_release(eng->auto_ctx);
	eng->auto_ctx = NULL;
}

void engine_auto_join(struct engine *eng)
{
	for (size_t i = 0; i < eng->p->n; i++) {
		struct stage_rt *rt = eng->p->stages[i]->rt;
		for (int k = 0; rt->slots && k < rt->st->workers; k++)
			if (atomic_load(&rt->slots[k].state) != SLOT_EMPTY) {
				pthread_join(rt->slots[k].th, NULL);
				atomic_store(&rt->slots[k].state, SLOT_EMPTY);
			}
	}
}

int engine_worker_retiring(const struct worker *w)
{
	return atomic_load_explicit(&w->stage->rt->slots[w->index].retire, memory_order_relaxed);
}

void engine_worker_ended(const struct worker *w)
{
	atomic_store(&w->stage->rt->slots[w->index].state, SLOT_DONE);
}
