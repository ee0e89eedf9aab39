/* SPDX-License-Identifier: MIT */
/*
 * engine.c - run a pipeline: wire the stages with channels, start their
 * threads, and drive the phases of the run (running, draining, aborting)
 * to their end.  The flow of batches through a stage's threads is in
 * engine_flow.c, the counters' report in engine_report.c; the state they
 * share is engine_rt.h.
 *
 * Every stage runs on its own threads; stages are joined by bounded
 * channels of batch pointers, one channel per (writer, reader) pair, so a
 * stage with several readers broadcasts.
 *
 * The context tree:
 *
 *   drain      cancelled only to abort: a second signal, or the drain
 *     |        outliving shutdown_timeout.  Every stage but the sources
 *     |        blocks under it, so in-flight batches keep flowing after a
 *     |        deadline, a first signal or an error.
 *     run      cancelled by the first signal, the deadline (the earliest
 *       |      of the pipeline's and the stages' timeouts) or an error.
 *       |      Sources read under it: cancelling it stops the input, and
 *       |      end of stream then closes the channels stage by stage (a
 *       |      failed stage ends its output where it failed).
 *       source stages
 *     stage    one per other stage, cancelled when the stage stops early
 *              (head reached, every reader gone) so its workers stop too.
 *
 * A stage whose readers have all gone (head reached, stdout closed)
 * abandons its input channels: the writers above get CSP_CLOSED and stop
 * in turn, up to the source, which stops reading.  That is not an error.
 *
 * Order: a stage with several ordered workers takes its input through a
 * turnstile (a channel holding the next sequence number), so batches are
 * numbered in the order they were taken; a collector thread puts results
 * back in that order.  A semaphore bounds the batches between taking and
 * emitting (the reorder window), which bounds memory.
 *
 * Accounting: each stage's workers count records in and out, filtered,
 * dropped and created; a batch that cannot go on is counted where it
 * stops.  The totals satisfy read + created = written + filtered + dropped.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine_rt.h"
#include "core/observe.h"
#include "core/oom.h"
#include "core/progress.h"
#include "records/jpath.h"
#include "records/pattern.h"
#include "records/shard.h"

/* A second SIGINT/SIGTERM aborts only when it comes this long after the
 * first; sooner, it is the same request delivered twice. */
#define SECOND_SIGNAL_AFTER (250 * CSP_NS_PER_MS)

/* ---- setting up and tearing down -------------------------------------- */

static struct edge *add_edge(struct engine *eng, struct stage *from, int port, struct stage *to)
{
	struct edge *e = csp_calloc(1, sizeof *e);

	e->ch = chan_new(sizeof(struct batch *), (size_t)from->buffer);
	e->from = from;
	e->to = to;
	e->port = port;
	eng->edges = csp_realloc(eng->edges, (eng->nedges + 1) * sizeof *eng->edges);
	eng->edges[eng->nedges++] = e;
	return e;
}

static void wire(struct engine *eng)
{
	struct pipeline *p = eng->p;

	for (size_t i = 0; i < p->n; i++) {
		struct stage *st = p->stages[i];
		struct stage_rt *rt = csp_calloc(1, sizeof *rt);
		rt->eng = eng;
		rt->st = st;
		rt->nports = st->kind->role == ROLE_SINK ? 0 : (st->nports ? st->nports : 1);
		rt->out = csp_calloc(rt->nports + 1, sizeof *rt->out);
		rt->nout = csp_calloc(rt->nports + 1, sizeof *rt->nout);
		st->rt = rt;
	}
	for (size_t i = 0; i < p->n; i++) {
		struct stage *st = p->stages[i];
		struct stage_rt *rt = st->rt;
		rt->in = csp_calloc(st->ninputs + 1, sizeof *rt->in);
		rt->in_closed = csp_calloc(st->ninputs + 1, sizeof *rt->in_closed);
		for (size_t j = 0; j < st->ninputs; j++) {
			struct stage *from = st->inputs[j];
			struct stage_rt *frt = from->rt;
			int port = st->input_ports[j];
			struct edge *e = add_edge(eng, from, port, st);
			rt->in[rt->nin++] = e;
			frt->out[port] = csp_realloc(frt->out[port],
						     (frt->nout[port] + 1) * sizeof **frt->out);
			frt->out[port][frt->nout[port]++] = e;
		}
	}
}

static int start_threads(struct engine *eng, struct err *e)
{
	struct pipeline *p = eng->p;

	for (size_t i = 0; i < p->n; i++) {
		struct stage *st = p->stages[i];
		struct stage_rt *rt = st->rt;
		int run_style = st->kind->run != NULL;
		int nw = run_style ? 1 : st->workers;

		rt->ctx = ctx_with_cancel(st->kind->role == ROLE_SOURCE ? eng->run : eng->drain);
		rt->pace = ctx_with_cancel(rt->ctx);
		rt->ws = csp_calloc((size_t)nw + 2, sizeof *rt->ws);
		rt->ews = &rt->ws[nw + 1];
		rt->workers = csp_calloc((size_t)nw, sizeof *rt->workers);
		rt->threads = csp_calloc((size_t)nw + 2, sizeof *rt->threads);
		rt->window_size = stage_window(st);
		if (!run_style && nw > 1 && st->shard) {
			rt->nshards = (uint32_t)nw;
			rt->wins = csp_calloc((size_t)nw, sizeof *rt->wins);
			for (int w = 0; w < nw; w++)
				rt->wins[w] = chan_new(sizeof(struct batch *), SHARD_BUFFER);
			if (st->shard->pattern)
				rt->shard_m = pattern_match_new(st->shard->pattern);
			if (st->shard->path)
				rt->shard_fr = field_reader_new();
		}
		if (!run_style && nw > 1 && st->ordered) {
			uint64_t zero = 0;
			if (!rt->nshards) {
				rt->turn = chan_new(sizeof(uint64_t), 1);
				chan_try_send(rt->turn, &zero);
			}
			rt->collect = chan_new(sizeof(struct result),
					       (size_t)rt->window_size * (rt->nshards ? rt->nshards : 1));
			rt->window = sem_new((size_t)rt->window_size);
		}
		/* An auto stage starts with one worker, in place 0; the
		 * controller starts the others (engine_auto.c). */
		if (!run_style && st->workers_auto && nw > 1) {
			rt->slots = csp_calloc((size_t)nw, sizeof *rt->slots);
			atomic_store(&rt->nworkers, 1);
		}
		atomic_store(&rt->live, rt->slots ? 1 : nw);
		rt->start_ns = csp_now();
		for (int w = 0; w < nw; w++) {
			struct worker *wk = &rt->workers[w];
			wk->stage = st;
			wk->index = w;
			wk->stats = &rt->ws[w];
			wk->ctx = rt->ctx;
			wk->state = st->kind->worker_new ? st->kind->worker_new(st, w) : NULL;
		}
	}
	/* The count of live threads is set in full before any starts, and
	 * held one higher until all have started, so that `done` cannot close
	 * while threads are still being started. */
	int total = 1;
	for (size_t i = 0; i < p->n; i++) {
		struct stage_rt *rt = p->stages[i]->rt;
		total += (rt->slots ? 1 : p->stages[i]->kind->run ? 1 : p->stages[i]->workers) +
			 (rt->collect != NULL) + (rt->nshards != 0);
	}
	atomic_store(&eng->threads_live, total);
	for (size_t i = p->n; i-- > 0;) {
		struct stage *st = p->stages[i];
		struct stage_rt *rt = st->rt;
		int run_style = st->kind->run != NULL;
		int nw = rt->slots ? 1 : run_style ? 1 : st->workers;

		int nt = nw + (rt->collect != NULL) + (rt->nshards != 0);
		for (int w = 0; w < nt; w++) {
			int err;
			if (w < nw && rt->slots) {
				atomic_store(&rt->slots[0].state, SLOT_RUNNING);
				err = csp_thread_start(&rt->slots[0].th, engine_worker_main,
						       &rt->workers[0], 0);
				if (err) {
					atomic_store(&rt->slots[0].state, SLOT_EMPTY);
				} else {
					total--;
					continue;
				}
			} else if (w < nw)
				err = csp_thread_start(&rt->threads[rt->nthreads], run_style ?
						       engine_runner_main : engine_worker_main, &rt->workers[w], 0);
			else if (w == nw && rt->collect)
				err = csp_thread_start(&rt->threads[rt->nthreads], engine_collector_main, rt, 0);
			else
				err = csp_thread_start(&rt->threads[rt->nthreads], engine_dispatch_main, rt, 0);
			if (err) {
				err_set(e, "%s: cannot start thread %d of %d: %s", st->name, w + 1,
					nt, strerror(err));
				goto fail;
			}
			rt->nthreads++;
			total--;
		}
	}
	engine_thread_exit(eng);
	return 0;
fail:
	/* Those that did start see the abort and end; the count drops by
	 * the threads that never started (and our hold). */
	ctx_cancel_cause(eng->drain, CSP_CANCELED, STAGE_CAUSE_ERROR, "error");
	if (atomic_fetch_sub(&eng->threads_live, total) == total)
		chan_close(eng->done);
	return -1;
}

/* ---- the run ------------------------------------------------------------ */

/* How a wait_phase ended. */
enum phase_end {
	PHASE_DONE,      /* every thread has ended */
	PHASE_CTX,       /* ctx ended (a deadline, the drain timer) */
	PHASE_SIGNAL,    /* sig (may be NULL) fired: SIGINT or SIGTERM */
};

/* Wait for the threads, or for something that changes the course of the
 * run, meanwhile drawing the progress view (pg, may be NULL) and printing
 * the stats on SIGUSR1.  Returns how the wait ended. */
static enum phase_end wait_phase(struct engine *eng, struct ctx *ctx, struct chan *sig,
				 struct progress *pg)
{
	for (;;) {
		int signo = 0;
		char dummy;
		struct sel_case c[3] = {
			{ eng->done, SEL_RECV, &dummy, 0 },
			{ sig, SEL_RECV, NULL, 0 },
			{ eng->o->usr1, SEL_RECV, &signo, 0 },
		};
		int64_t tick = pg ? PROGRESS_INTERVAL : 0, due = observe_next(eng->obs);
		if (due) {
			int64_t left = due - csp_now();
			left = left > 0 ? left : 1;
			tick = tick && tick < left ? tick : left;
		}
		struct ctx *t = tick ? ctx_with_timeout(ctx, tick) : ctx;
		int r = chan_select(c, 3, 0, t);

		if (t != ctx)
			ctx_release(t);
		observe_tick(eng->obs);
		if (r == 0)
			return PHASE_DONE;
		if (r == 1)
			return PHASE_SIGNAL;
		if (r == 2) {
			struct run_report rep;
			engine_build_report(eng, &rep);
			if (pg)
				progress_clear(pg);
			stats_print_table(stderr, &rep);
			report_free(&rep);
			continue;
		}
		if (ctx && ctx_err(ctx))
			return PHASE_CTX;
		if (pg) {
			struct run_report rep;
			engine_build_report(eng, &rep);
			progress_draw(pg, &rep);
			report_free(&rep);
		}
	}
}

void engine_setup(struct run_opts *o)
{
	signal(SIGPIPE, SIG_IGN);
	o->signals = ctx_with_signals(NULL);
	o->usr1 = chan_new(sizeof(int), 1);
	csp_signal_notify(o->usr1, SIGUSR1);
}

void engine_teardown(struct run_opts *o)
{
	csp_signal_stop(o->usr1);
	ctx_release(o->signals);
	csp_signal_shutdown();
	chan_free(o->usr1);
	o->usr1 = NULL;
	o->signals = NULL;
	batch_pool_drain();
}

/*
 * The most memory the pipeline can hold at once, assuming records no
 * longer than a batch (a longer record makes its batch larger, up to
 * max_record).  Every batch is in a channel, in a worker's hands, in a
 * reorder window or in the pool, and each of those is bounded; to them
 * come what each kind's workers keep (kind->worker_mem), every thread's
 * stack, and the program itself.
 */
uint64_t engine_memory_bound(const struct pipeline *p)
{
	const uint64_t batch = BATCH_DATA + BATCH_RECS * sizeof(struct rec) + sizeof(struct batch);
	const uint64_t base = 8u << 20;   /* code, libraries, allocator slack */
	uint64_t total = base + (uint64_t)BATCH_POOL_MAX * batch;
	uint64_t *readers_of = csp_calloc(p->n + 1, sizeof *readers_of);

	for (size_t i = 0; i < p->n; i++)
		for (size_t j = 0; j < p->stages[i]->ninputs; j++)
			readers_of[p->stages[i]->inputs[j]->id]++;
	for (size_t i = 0; i < p->n; i++) {
		const struct stage *st = p->stages[i];
		uint64_t readers = readers_of[st->id], threads = (uint64_t)st->workers;
		size_t nports = st->nports ? st->nports : 1;

		/* Its output channels: their capacity, plus the batch a
		 * blocked sender holds. */
		total += readers * ((uint64_t)st->buffer + 1) * batch;
		/* Each worker holds its input and its outputs (one per
		 * port), and what its kind keeps. */
		total += (uint64_t)st->workers * ((1 + nports) * batch + st->kind->worker_mem);
		/* The reorder window of ordered workers, and the collector. */
		if (st->workers > 1 && st->ordered) {
			total += (uint64_t)stage_window(st) * nports * batch;
			threads++;
		}
		/* shard_by: each worker's own input channel, and the parts
		 * of a batch the dispatcher holds. */
		if (st->shard && st->workers > 1) {
			total += (uint64_t)st->workers * (SHARD_BUFFER + 2) * batch;
			threads++;
		}
		/* A stage reading several inputs may hold one batch of each. */
		if (st->ninputs > 1)
			total += (uint64_t)st->ninputs * batch;
		total += threads * CSP_STACK_SIZE;
	}
	free(readers_of);
	return total;
}

/* The stage with the earliest timeout among those still running, or
 * NULL. */
static const struct stage *next_stage_deadline(const struct pipeline *p)
{
	const struct stage *next = NULL;

	for (size_t i = 0; i < p->n; i++) {
		const struct stage *st = p->stages[i];
		if (st->timeout && !atomic_load(&st->rt->ended) &&
		    (!next || st->timeout < next->timeout))
			next = st;
	}
	return next;
}

/* The run is stopping (a signal, a deadline): pacing would only hold up
 * the drain. */
static void stop_pacing(struct engine *eng)
{
	for (size_t i = 0; i < eng->p->n; i++)
		ctx_cancel_cause(eng->p->stages[i]->rt->pace, CSP_CANCELED, 0, "stopping");
}

/* Keep e as the run's error unless it has one, and abort the run. */
static void first_error(struct engine *eng, const struct err *e)
{
	pthread_mutex_lock(&eng->mu);
	if (!eng->failed) {
		eng->failed = 1;
		eng->first = *e;
	}
	pthread_mutex_unlock(&eng->mu);
	ctx_cancel_cause(eng->drain, CSP_CANCELED, STAGE_CAUSE_ERROR, "error");
}

/*
 * Run the pipeline: see engine.h.  The pipeline's stages are checked
 * already (pipeline_load); here they are started, run, and closed.
 * Returns the exit status and prints the error, if any, once.
 */
int engine_run(struct pipeline *p, const struct run_opts *o)
{
	struct engine eng = { 0 };
	struct progress *pg = NULL;
	struct err e = { 0 };
	int64_t deadline = p->timeout;
	const char *deadline_stage = NULL;
	int signo = 0, deadline_hit = 0, drain_timeout = 0, abort_signal = 0, abort_run = 0, stuck = 0;
	size_t started = 0;
	int code = EXIT_OK;
	const char *outcome = "ok";

	oom_install();
	eng.p = p;
	eng.o = o;
	pthread_mutex_init(&eng.mu, NULL);
	eng.start_ns = csp_now();
	eng.drain = ctx_with_cancel(NULL);
	eng.run = deadline ? ctx_with_deadline(eng.drain, eng.start_ns + deadline)
			   : ctx_with_cancel(eng.drain);
	eng.done = chan_new(1, 0);
	{
		struct observe_opts oo = { o->stats_file, o->stats_interval, o->metrics_addr };
		eng.obs = observe_new(&oo, &e);
		if (!eng.obs) {
			/* Before anything started: nothing to undo. */
			fprintf(stderr, "cspipe: %s\n", e.msg);
			code = EXIT_RUNTIME;
			wire(&eng);
			goto free_wiring;
		}
	}

	for (; started < p->n; started++) {
		struct stage *st = p->stages[started];
		if (st->kind->start && st->kind->start(st, &e)) {
			engine_fail(&eng, st, &e);
			break;
		}
	}
	wire(&eng);
	if (eng.failed) {
		/* Nothing ran; close what started, as aborted. */
		for (size_t i = 0; i < started; i++) {
			struct err ce = { 0 };
			if (p->stages[i]->kind->close)
				p->stages[i]->kind->close(p->stages[i], OUTCOME_ABORTED, &ce);
		}
		fprintf(stderr, "cspipe: %s\n", eng.first.msg);
		code = engine_print_report(&eng, "error", EXIT_RUNTIME);
		goto free_wiring;
	}
	if (o->progress)
		pg = progress_new(stderr, o->progress == 2);
	if (start_threads(&eng, &e))
		first_error(&eng, &e);
	else if (engine_auto_start(&eng, &e))
		first_error(&eng, &e);
	if (observe_serve(eng.obs, engine_snapshot, &eng, &e))
		first_error(&eng, &e);

	/* Phase 1: running, until the end, a signal, an error (engine_fail
	 * stops the run as a signal does), the pipeline's deadline, or the
	 * timeout of a stage that is still running (a stage that ended in
	 * time is no longer waited for). */
	for (;;) {
		const struct stage *next = next_stage_deadline(p);
		struct ctx *w = next && (!deadline || next->timeout < deadline)
			? ctx_with_deadline(eng.run, eng.start_ns + next->timeout) : eng.run;
		int r = wait_phase(&eng, w, o->signals ? ctx_done(o->signals) : NULL, pg);

		if (w != eng.run)
			ctx_release(w);
		if (r == PHASE_DONE)
			goto joined;
		if (r == PHASE_SIGNAL) {
			signo = ctx_cause(o->signals, NULL);
			ctx_cancel_cause(eng.run, CSP_CANCELED, signo, "signal");
			break;
		}
		if (engine_aborted(&eng)) {
			abort_run = 1;
			break;
		}
		if (atomic_load(&eng.erred))
			break;   /* an error stopped the run: it drains */
		if (w != eng.run && !ctx_err(eng.run)) {
			if (atomic_load(&next->rt->ended))
				continue;
			deadline = next->timeout;
			deadline_stage = next->name;
			ctx_cancel_cause(eng.run, CSP_DEADLINE, 0, NULL);
		}
		deadline_hit = 1;
		break;
	}
	/* Phase 2: draining after a signal, an error or the deadline, within
	 * shutdown_timeout; a second signal (a first one after an error or
	 * the deadline) or the timer aborts. */
	observe_draining(eng.obs);
	if (!abort_run) {
		struct ctx *timer = ctx_with_timeout(NULL, p->shutdown_timeout);
		stop_pacing(&eng);
		struct ctx *sig2 = NULL;
		int r = -1;

		/* timeout(1) and a kill of a process group deliver a signal
		 * twice in quick succession: a second signal counts only
		 * from a quarter of a second after the first. */
		if (signo) {
			struct ctx *grace = ctx_with_timeout(timer, SECOND_SIGNAL_AFTER);
			if (wait_phase(&eng, grace, NULL, pg) == PHASE_DONE)
				r = PHASE_DONE;
			ctx_release(grace);
		}
		if (r != PHASE_DONE) {
			/* Three quarters in, the waiting stages are cut; the
			 * rest has the last quarter to finish. */
			struct ctx *cut_at = ctx_with_timeout(timer, p->shutdown_timeout -
							      p->shutdown_timeout / 4);
			sig2 = o->signals ? ctx_with_signals(NULL) : NULL;
			r = wait_phase(&eng, cut_at, sig2 ? ctx_done(sig2) : NULL, pg);
			ctx_release(cut_at);
			if (r == PHASE_CTX && !ctx_err(timer)) {
				engine_cut_waiting(&eng);
				r = wait_phase(&eng, timer, sig2 ? ctx_done(sig2) : NULL, pg);
			}
		}
		if (r == PHASE_SIGNAL) {
			/* 2: the second signal; 1: a first one, in the drain
			 * after a deadline. */
			abort_signal = signo ? 2 : 1;
			if (!signo)
				signo = ctx_cause(sig2, NULL);
			abort_run = 1;
		} else if (r == PHASE_CTX) {
			drain_timeout = 1;
			abort_run = 1;
		}
		ctx_release(sig2);
		ctx_release(timer);
	}
	if (abort_run) {
		struct ctx *grace = ctx_with_timeout(NULL, 2 * CSP_NS_PER_S);
		ctx_cancel_cause(eng.drain, CSP_CANCELED, STAGE_CAUSE_ABORT, "abort");
		if (wait_phase(&eng, grace, NULL, NULL) != PHASE_DONE)
			stuck = 1;
		ctx_release(grace);
	}
joined:
	/* No worker may start once the run's threads are being joined. */
	engine_auto_stop(&eng);
	if (pg)
		progress_clear(pg);
	if (stuck) {
		/* A thread is blocked outside the runtime (a write to a pipe
		 * nobody reads): it cannot be joined, and the process ends
		 * with it.  Finalise what can be finalised. */
		fprintf(stderr, "cspipe: some stages did not stop; exiting\n");
	} else {
		for (size_t i = 0; i < p->n; i++) {
			struct stage_rt *rt = p->stages[i]->rt;
			for (size_t t = 0; t < rt->nthreads; t++)
				pthread_join(rt->threads[t], NULL);
		}
		engine_auto_join(&eng);
		/* Batches still in channels were never taken: count them
		 * where they stopped. */
		for (size_t i = 0; i < eng.nedges; i++) {
			struct batch *b;
			struct stage_rt *to = eng.edges[i]->to->rt;
			while (chan_try_recv(eng.edges[i]->ch, &b) == CSP_OK)
				engine_count_untaken(to, b, atomic_load(&to->stopped));
		}
		for (size_t i = 0; i < p->n; i++) {
			struct stage_rt *rt = p->stages[i]->rt;
			for (uint32_t w = 0; w < rt->nshards; w++) {
				struct batch *b;
				while (chan_try_recv(rt->wins[w], &b) == CSP_OK)
					engine_count_untaken(rt, b, atomic_load(&rt->stopped));
			}
			engine_balance(rt);
		}
	}
	abort_run |= eng.failed;
	/* Downstream first: a sink commits (and releases the ack references
	 * it held) before a source learns what is durable. */
	for (size_t i = p->n; i-- > 0;) {
		struct stage *st = p->stages[i];
		struct err ce = { 0 };
		int cr = st->kind->close ?
			st->kind->close(st, abort_run || stuck ? OUTCOME_ABORTED : OUTCOME_OK, &ce) : 0;
		if (cr < 0 && !eng.failed) {
			eng.failed = 1;
			snprintf(eng.first.msg, sizeof eng.first.msg, "%.200s: %.800s", st->name, ce.msg);
		}
		if (cr == STAGE_DISCARDED && !stuck)
			engine_discard_written(st->rt);
	}

	if (eng.failed) {
		fprintf(stderr, "cspipe: %s\n", eng.first.msg);
		code = EXIT_RUNTIME;
		outcome = "error";
	} else if (deadline_hit) {   /* a signal may have aborted its drain */
		char d[32];
		format_duration(d, sizeof d, deadline);
		if (deadline_stage)
			fprintf(stderr, "cspipe: %s: deadline exceeded (timeout %s)\n",
				deadline_stage, d);
		else
			fprintf(stderr, "cspipe: deadline exceeded (%s %s)\n", p->timeout_from, d);
		code = EXIT_DEADLINE;
		outcome = "deadline";
	} else if (signo) {
		code = 128 + signo;
		outcome = signo == SIGINT ? "interrupted" : "terminated";
	}
	if (drain_timeout) {
		char d[32];
		format_duration(d, sizeof d, p->shutdown_timeout);
		fprintf(stderr, "cspipe: the pipeline did not drain within shutdown_timeout "
			"(%s): aborted, file outputs discarded\n", d);
	} else if (abort_signal) {
		fprintf(stderr, "cspipe: a %ssignal while draining: aborted, file "
			"outputs discarded\n", abort_signal == 2 ? "second " : "");
	}
	code = engine_print_report(&eng, outcome, code);
	if (stuck) {
		/* Threads still run: leave the memory to them, but close the
		 * server, which reads it. */
		observe_free(eng.obs);
		return code;
	}

	for (size_t i = 0; i < p->n; i++) {
		struct stage *st = p->stages[i];
		struct stage_rt *rt = st->rt;
		int nw = st->kind->run ? 1 : st->workers;
		for (int w = 0; w < nw; w++)
			if (st->kind->worker_free)
				st->kind->worker_free(st, rt->workers[w].state);
	}
free_wiring:
	/* The server reads the stages' counters: it goes first. */
	observe_free(eng.obs);
	for (size_t i = 0; i < p->n; i++) {
		struct stage_rt *rt = p->stages[i]->rt;
		if (!rt)
			continue;
		ctx_release(rt->pace);
		ctx_release(rt->ctx);
		if (rt->turn)
			chan_free(rt->turn);
		if (rt->collect)
			chan_free(rt->collect);
		for (uint32_t w = 0; w < rt->nshards; w++)
			chan_free(rt->wins[w]);
		free(rt->wins);
		pattern_match_free(rt->shard_m);
		field_reader_free(rt->shard_fr);
		sem_free(rt->window);
		for (size_t port = 0; port < rt->nports; port++)
			free(rt->out[port]);
		free(rt->out);
		free(rt->nout);
		free(rt->in);
		free(rt->in_closed);
		free(rt->ws);
		free(rt->workers);
		free(rt->threads);
		free(rt->slots);
		free(rt);
		p->stages[i]->rt = NULL;
	}
	for (size_t i = 0; i < eng.nedges; i++) {
		chan_free(eng.edges[i]->ch);
		free(eng.edges[i]);
	}
	free(eng.edges);
	chan_free(eng.done);
	ctx_release(eng.run);
	ctx_release(eng.drain);
	progress_free(pg);
	pthread_mutex_destroy(&eng.mu);
	return code;
}
