/* SPDX-License-Identifier: MIT */
/*
 * engine_flow.c - batches through a stage: its workers take input (in
 * turn when ordered, or from the shard dispatcher), process it and emit
 * the output on every edge of its ports.
 * Also how a stage stops early and how lost batches are counted.  The
 * collector and dispatcher are in engine_collect.c, run-style stages and
 * their stage_io calls in engine_io.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine_rt.h"
#include "records/ack.h"
#include "core/oom.h"
#include "records/pattern.h"

/* ---- small pieces ---------------------------------------------------- */


/* Where records that stop at rt count: filtered when they stop because a
 * reader left on purpose (head reached, stdout's reader gone), dropped
 * when the run is aborting, has failed or its drain was cut, whatever
 * made the reader leave. */
static _Atomic uint64_t *stop_counter(struct stage_rt *rt, struct wstats *ws, int on_purpose)
{
	return on_purpose && !engine_losing(rt->eng) ? &ws->filtered : &ws->dropped;
}

void engine_free_list(struct stage_rt *rt, struct batch *b, struct wstats *ws, int filtered)
{
	while (b) {
		struct batch *next = b->next;
		if (ws)
			wstat_add(stop_counter(rt, ws, filtered), b->records);
		batch_free(b);
		b = next;
	}
}

struct ctx *stage_ctx(const struct stage *st)
{
	return st->rt ? st->rt->ctx : NULL;
}

struct ctx *stage_pace_ctx(const struct stage *st)
{
	return st->rt ? st->rt->pace : NULL;
}

static void abandon_inputs(struct stage_rt *rt);

/*
 * Record the first error, with the stage's name, and stop the run.  An
 * error stops it as a signal does, so that everything before the failure
 * reaches the sinks, as it would through grep or zcat: the sources stop
 * reading, and the failed stage takes no more input (what is queued for
 * it and what its writers still send is dropped there) and ends its
 * output where it failed; the stages after it drain and finish within
 * shutdown_timeout.  The run then exits 1.  May run on any thread, and
 * before the run is wired (a stage that cannot start).
 */
void engine_fail(struct engine *eng, const struct stage *st, const struct err *e)
{
	pthread_mutex_lock(&eng->mu);
	if (!eng->failed) {
		const char *msg = e->set ? e->msg : "failed";
		size_t nl = strlen(st->name);
		eng->failed = 1;
		/* "stdin: stdin: read error" says the name twice. */
		if (!strncmp(msg, st->name, nl) && msg[nl] == ':')
			snprintf(eng->first.msg, sizeof eng->first.msg, "%s", msg);
		else
			snprintf(eng->first.msg, sizeof eng->first.msg, "%.200s: %.800s",
				 st->name, msg);
		eng->first.set = 1;
	}
	pthread_mutex_unlock(&eng->mu);
	atomic_store(&eng->erred, 1);
	if (st->rt) {
		atomic_store(&st->rt->failed, 1);
		abandon_inputs(st->rt);
	}
	ctx_cancel_cause(eng->run, CSP_CANCELED, STAGE_CAUSE_ERROR, "error");
}

int engine_aborted(struct engine *eng)
{
	return ctx_err(eng->drain) != 0;
}

int engine_losing(struct engine *eng)
{
	return engine_aborted(eng) || atomic_load(&eng->erred) || atomic_load(&eng->cut);
}

/* ---- output ---------------------------------------------------------- */

void (*engine_emit_pause)(void);

/*
 * Send b out of its port to every reader still reading: clones for all but
 * the last (a broadcast), the batch itself to the last.  Counts what went
 * out, what was copied, and what stopped here.  Returns CSP_OK while some
 * reader on some port remains, CSP_CLOSED when none does (stop quietly),
 * or CSP_CANCELED when the run is aborting.  Takes ownership of b.
 */
static int emit_batch(struct stage_rt *rt, struct batch *b, struct wstats *ws)
{
	size_t port = b->port < rt->nports ? b->port : 0;
	struct edge **edges = rt->out[port];
	size_t n = rt->nout[port], live = 0, last = n;
	uint64_t recs = b->records, bytes = batch_bytes(b);
	int rc = CSP_OK;

	for (size_t i = 0; i < n; i++)
		if (!atomic_load(&edges[i]->gone)) {
			live++;
			last = i;
		}
	if (live == 0) {
		wstat_add(stop_counter(rt, ws, 1), recs);
		batch_free(b);
	}
	for (size_t i = 0; i < n && live; i++) {
		struct edge *e = edges[i];
		struct batch *send;
		int r;

		if (engine_emit_pause)
			engine_emit_pause();
		if (atomic_load(&e->gone)) {
			/* The reader left after the edges were chosen: had it
			 * been the last, b itself stops here. */
			if (i == last) {
				wstat_add(stop_counter(rt, ws, 1), recs);
				batch_free(b);
			}
			continue;
		}
		send = i == last ? b : batch_clone(b);
		if (i != last)
			wstat_add(&ws->created, recs);
		r = chan_send(e->ch, &send, rt->eng->drain);
		if (r == CSP_OK) {
			wstat_add(&ws->rec_out, recs);
			wstat_add(&ws->bytes_out, bytes);
			continue;
		}
		batch_free(send);
		if (r == CSP_CLOSED) {
			atomic_store(&e->gone, 1);
			wstat_add(stop_counter(rt, ws, 1), recs);
		} else {
			wstat_add(&ws->dropped, recs);
			rc = r;
		}
	}
	if (rc != CSP_OK)
		return rc;
	for (size_t p = 0; p < rt->nports; p++)
		for (size_t i = 0; i < rt->nout[p]; i++)
			if (!atomic_load(&rt->out[p][i]->gone))
				return CSP_OK;
	return rt->nports ? CSP_CLOSED : CSP_OK;
}

/* Emit a list in order, through the kind's serial emit hook.  On a stop or
 * error the rest of the list is freed and counted. */
int engine_emit_list(struct stage_rt *rt, struct batch *b, struct wstats *ws)
{
	int rc = CSP_OK;

	while (b) {
		struct batch *next = b->next;
		b->next = NULL;
		if (rt->st->kind->emit) {
			struct err e = { 0 };
			if (rt->st->kind->emit(rt->st, b, &e)) {
				engine_fail(rt->eng, rt->st, &e);
				batch_free(b);
				engine_free_list(rt, next, ws, 0);
				return CSP_CANCELED;
			}
		}
		rc = emit_batch(rt, b, ws);
		if (rc != CSP_OK) {
			engine_free_list(rt, next, ws, rc == CSP_CLOSED);
			return rc;
		}
		b = next;
	}
	return rc;
}

/* outq's direct path, for stages whose one worker emits in order. */
struct direct {
	struct stage_rt *rt;
	struct wstats *ws;
};

static int direct_send(void *arg, struct batch *b)
{
	struct direct *d = arg;

	b->next = NULL;
	return engine_emit_list(d->rt, b, d->ws);
}

/* A batch that reached rt's input and was never taken: counted in (so
 * that rt's books and its upstream's agree) and as stopping there, in the
 * engine's slot (this may run on any thread), and freed. */
void engine_count_untaken(struct stage_rt *rt, struct batch *b, int filtered)
{
	struct wstats *ws = rt->ews;

	atomic_fetch_add(&ws->rec_in, b->records);
	atomic_fetch_add(&ws->bytes_in, batch_bytes(b));
	atomic_fetch_add(stop_counter(rt, ws, filtered), b->records);
	batch_free(b);
}

/*
 * The reader of e has gone (head reached, stdout closed).  A writer would
 * learn that only when it next sends, and a source blocked in read() on an
 * input that stays silent (a FIFO whose writer stalls) might never send
 * again.  So when it was the last reader of e's writer, that stage is
 * stopped at once (its workers' context is cancelled, so a read it waits on
 * or a command it runs ends now), and the news goes on up.
 */
static void reader_gone(struct edge *e)
{
	struct stage_rt *frt = e->from->rt;

	atomic_store(&e->gone, 1);
	for (size_t p = 0; p < frt->nports; p++)
		for (size_t i = 0; i < frt->nout[p]; i++)
			if (!atomic_load(&frt->out[p][i]->gone))
				return;
	if (atomic_exchange(&frt->stopped, 1) == 0)
		ctx_cancel_cause(frt->ctx, CSP_CANCELED, STAGE_CAUSE_STOPPED, "stopped");
	abandon_inputs(frt);
}

/* Stop taking input: tell the writers above, then drop what is queued.
 * This may run on another stage's thread (reader_gone). */
static void abandon_inputs(struct stage_rt *rt)
{
	for (size_t i = 0; i < rt->nin; i++) {
		struct batch *b;
		if (atomic_exchange(&rt->in[i]->gone, 1))
			continue;
		chan_abandon(rt->in[i]->ch);
		reader_gone(rt->in[i]);
		while (chan_try_recv(rt->in[i]->ch, &b) == CSP_OK)
			engine_count_untaken(rt, b, 1);
	}
}

/* The stage has what it wants or nobody reads it any more. */
void engine_stop_stage(struct stage_rt *rt)
{
	if (atomic_exchange(&rt->stopped, 1) == 0)
		ctx_cancel_cause(rt->ctx, CSP_CANCELED, STAGE_CAUSE_STOPPED, "stopped");
	abandon_inputs(rt);
}

/*
 * The drain has used most of shutdown_timeout: the stages still waiting by
 * design (a slow command) are cut, so that the rest can finish in time.
 * Each stops at once, drops what it holds and what is queued for it, and
 * ends its output; the stages after it drain and finish as usual, so what
 * reached the sinks is kept and a gzip stream still gets its trailer.
 */
void engine_cut_waiting(struct engine *eng)
{
	atomic_store(&eng->cut, 1);
	for (size_t i = 0; i < eng->p->n; i++) {
		struct stage *st = eng->p->stages[i];
		struct stage_rt *rt = st->rt;
		if (!(st->kind->flags & KIND_WAITS) || atomic_load(&rt->ended))
			continue;
		fprintf(stderr, "cspipe: %s: still busy late in the drain: cut, "
			"its records in flight dropped\n", st->name);
		ctx_cancel_cause(rt->ctx, CSP_CANCELED, STAGE_CAUSE_CUT, "cut");
		abandon_inputs(rt);
	}
}

/* End of the stage's output: the kind's trailer (not after the stage
 * failed: its output ends where it failed), then close every edge. */
void engine_finish_stage(struct stage_rt *rt, struct wstats *ws, int ok)
{
	ok = ok && !atomic_load(&rt->failed);
	if (ok && rt->st->kind->finish && !engine_aborted(rt->eng)) {
		struct outq q = { 0 };
		struct err e = { 0 };
		if (rt->st->kind->finish(rt->st, &q, &e))
			engine_fail(rt->eng, rt->st, &e);
		if (engine_emit_list(rt, q.head, ws) == CSP_CLOSED)
			engine_stop_stage(rt);
	}
	for (size_t p = 0; p < rt->nports; p++)
		for (size_t i = 0; i < rt->nout[p]; i++)
			chan_close(rt->out[p][i]->ch);
	if (ok && !atomic_load(&rt->stopped))
		atomic_store(&rt->finished, 1);
	rt->end_ns = csp_now();
	atomic_store(&rt->ended, 1);
}

/* ---- input ----------------------------------------------------------- */

/*
 * Take the next batch from the stage's inputs (several are read as they
 * come, like merge: interleave).  Returns CSP_OK, CSP_CLOSED when every
 * input has ended, or the context's error.
 */
int engine_take_input(struct stage_rt *rt, struct batch **b, struct ctx *ctx)
{
	if (rt->nin == 1) {
		int r = chan_recv(rt->in[0]->ch, b, ctx);
		if (r == CSP_CLOSED)
			atomic_store(&rt->in_closed[0], 1);
		return r;
	}
	for (;;) {
		struct sel_case cases[MAX_INPUTS];
		size_t idx[MAX_INPUTS], n = 0;
		int r;

		for (size_t i = 0; i < rt->nin; i++)
			if (!atomic_load(&rt->in_closed[i])) {
				cases[n] = (struct sel_case){ rt->in[i]->ch, SEL_RECV, b, 0 };
				idx[n++] = i;
			}
		if (n == 0)
			return CSP_CLOSED;
		r = chan_select(cases, (int)n, 0, ctx);
		if (r < 0)
			return r;
		if (cases[r].result == CSP_OK)
			return CSP_OK;
		atomic_store(&rt->in_closed[idx[r]], 1);
	}
}

/* Take input in turn: the ordered workers number batches as they take
 * them.  *direct says whether the batch is emitted by its worker rather
 * than the collector (an ordered auto stage that has had one worker so
 * far), decided under the turnstile. */
static int take_numbered(struct stage_rt *rt, struct batch **b, uint64_t *seq,
			 int *direct, struct ctx *ctx)
{
	uint64_t s;
	int r;

	*direct = 0;
	if (!rt->turn) {
		r = engine_take_input(rt, b, ctx);
		if (r == CSP_OK)
			*seq = atomic_fetch_add_explicit(&rt->next_seq, 1, memory_order_relaxed);
		return r;
	}
	r = chan_recv(rt->turn, &s, ctx);
	if (r != CSP_OK)
		return r;
	*direct = rt->slots && !atomic_load(&rt->via_collect);
	r = engine_take_input(rt, b, ctx);
	*seq = s;
	if (r == CSP_OK)
		s++;
	chan_try_send(rt->turn, &s);
	return r;
}

/* ---- threads ---------------------------------------------------------- */

void engine_thread_exit(struct engine *eng)
{
	if (atomic_fetch_sub(&eng->threads_live, 1) == 1)
		chan_close(eng->done);
}

/* Batch seq, taken to be emitted directly, has been (or was dropped): the
 * collector may go on after it, and is told so once it may have results
 * waiting behind it. */
static void direct_emitted(struct stage_rt *rt, struct worker *w, uint64_t seq)
{
	atomic_store(&rt->direct_done, seq + 1);
	sem_release(rt->window);
	if (atomic_load(&rt->via_collect)) {
		struct result res = { seq, NULL, 0, 1, w->index, NULL };
		(void)chan_send(rt->collect, &res, w->ctx);
	}
}

/* A worker of rt leaves: the last one ends the stage's output (through
 * the collector when there is one). */
void engine_worker_leave(struct stage_rt *rt, struct wstats *ws, int ok)
{
	if (atomic_fetch_sub(&rt->live, 1) == 1) {
		if (rt->collect)
			chan_close(rt->collect);
		else
			engine_finish_stage(rt, ws, ok && !engine_aborted(rt->eng));
	}
}

/* The worker of a process-style stage. */
void *engine_worker_main(void *arg)
{
	struct worker *w = arg;
	struct stage *st = w->stage;
	struct stage_rt *rt = st->rt;
	struct engine *eng = rt->eng;
	struct wstats *ws = w->stats;
	struct direct direct = { rt, ws };
	/* A reframing stage's inputs' ack references, under one chain
	 * token its outputs refer to (stage.h). */
	struct ackset *chain = NULL;
	int reframes = (st->kind->flags & KIND_REFRAMES) != 0;
	int takes_acks = (st->kind->flags & KIND_TAKES_ACKS) != 0;
	int ok = 1, flushed = 0;

	oom_set_stage(st->name);
	for (;;) {
		struct batch *b;
		struct outq q = { 0 };
		struct err e = { 0 };
		uint64_t seq = 0;
		int64_t t0;
		int r, rc, by_self = 0;

		/* Asked to retire (workers: auto): before taking a batch, so
		 * that every number taken is processed and order holds. */
		if (rt->slots && engine_worker_retiring(w))
			break;
		if (rt->nshards) {
			/* The dispatcher numbered it and holds its window slot. */
			r = chan_recv(rt->wins[w->index], &b, w->ctx);
			if (r != CSP_OK) {
				ok = r == CSP_CLOSED;
				break;
			}
			seq = b->seq;
		} else {
			if (rt->window && sem_acquire(rt->window, w->ctx) != CSP_OK) {
				ok = 0;
				break;
			}
			r = take_numbered(rt, &b, &seq, &by_self, w->ctx);
			if (r != CSP_OK) {
				if (rt->window)
					sem_release(rt->window);
				if (r != CSP_CLOSED)
					ok = 0;
				break;
			}
		}
		b->seq = seq;
		b->next = NULL;
		wstat_add(&ws->rec_in, b->records);
		wstat_add(&ws->bytes_in, batch_bytes(b));
		wstat_add(&ws->batches, 1);
		if (!rt->collect && st->workers == 1) {
			q.send = direct_send;
			q.arg = &direct;
		}
		struct ackset *acks = NULL;
		if (b->acks && !takes_acks) {
			acks = batch_take_acks(b);
			if (reframes) {
				if (!chain)
					ackset_push(&chain, ack_chain_new());
				ack_chain_hold(chain->t[0], &acks);
			}
		}
		q.acks = reframes ? chain : acks;
		uint64_t in_recs = b->records;
		uint64_t before = atomic_load(&ws->rec_out) + atomic_load(&ws->filtered) +
				  atomic_load(&ws->dropped) - atomic_load(&ws->created);
		t0 = csp_now();
		atomic_store_explicit(&ws->busy, 1, memory_order_relaxed);
		rc = st->kind->process(w, b, &q, &e);
		atomic_store_explicit(&ws->busy, 0, memory_order_relaxed);
		atomic_fetch_add_explicit(&ws->busy_ns, csp_now() - t0, memory_order_relaxed);
		/* Its outputs hold their own references now. */
		ackset_release(acks, rc == STAGE_OK ||
			       (rc == STAGE_STOP && st->kind->role != ROLE_SINK));
		if (rc == STAGE_ERROR) {
			/* The records of the failed batch that were neither sent,
			 * counted, nor queued are lost with it. */
			uint64_t after = atomic_load(&ws->rec_out) + atomic_load(&ws->filtered) +
					 atomic_load(&ws->dropped) - atomic_load(&ws->created);
			uint64_t queued = 0;
			for (struct batch *x = q.head; x; x = x->next)
				queued += x->records;
			if (in_recs > after - before + queued &&
			    !(st->kind->flags & KIND_REFRAMES))
				wstat_add(&ws->dropped, in_recs - (after - before) - queued);
			ok = 0;
			/* What the batch made before its failing record goes
			 * on, as one worker sending at once would have sent
			 * it. */
			if (rt->collect) {
				/* In order: the error of the earliest failing
				 * batch is the one reported, as with one worker,
				 * whichever worker fails first in time. */
				struct result res = { seq, q.head, 0, 0, w->index,
						      csp_malloc(sizeof e) };
				*res.err = e;
				if (chan_send(rt->collect, &res, w->ctx) == CSP_OK)
					break;
				engine_free_list(rt, q.head, ws, 0);
				free(res.err);
			} else {
				engine_emit_list(rt, q.head, ws);
			}
			/* shard_by: the dispatcher must not wait on this
			 * worker's input any more. */
			if (rt->nshards)
				chan_abandon(rt->wins[w->index]);
			engine_fail(eng, st, &e);
			break;
		}
		if (rt->collect && !by_self) {
			struct result res = { seq, q.head, 0, 0, w->index, NULL };
			r = chan_send(rt->collect, &res, w->ctx);
			if (r != CSP_OK) {
				engine_free_list(rt, q.head, ws, atomic_load(&rt->stopped));
				ok = 0;
				break;
			}
		} else {
			r = q.stopped ? q.stopped : engine_emit_list(rt, q.head, ws);
			if (by_self)
				direct_emitted(rt, w, seq);
			if (r == CSP_CLOSED) {
				engine_stop_stage(rt);
				break;
			}
			if (r != CSP_OK) {
				ok = 0;
				break;
			}
		}
		if (rc == STAGE_STOP) {
			engine_stop_stage(rt);
			break;
		}
	}
	/* A failed stage's output ends where it failed: no worker flushes. */
	if (atomic_load(&rt->failed))
		ok = 0;
	if (ok && !atomic_load(&rt->stopped) && st->kind->flush && !engine_aborted(eng)) {
		struct outq q = { 0 };
		struct err e = { 0 };
		if (!rt->collect && st->workers == 1) {
			q.send = direct_send;
			q.arg = &direct;
		}
		q.acks = chain;
		if (st->kind->flush(w, &q, &e) == STAGE_ERROR) {
			engine_fail(eng, st, &e);
			engine_free_list(rt, q.head, ws, 0);
			ok = 0;
		} else if (rt->collect) {
			struct result res = { 0, q.head, 1, 0, w->index, NULL };
			flushed = 1;
			if (chan_send(rt->collect, &res, w->ctx) != CSP_OK)
				engine_free_list(rt, q.head, ws, atomic_load(&rt->stopped));
		} else if (!q.stopped && engine_emit_list(rt, q.head, ws) == CSP_CLOSED) {
			engine_stop_stage(rt);
		} else {
			flushed = !q.stopped;
		}
	} else if (ok && !atomic_load(&rt->stopped) && !engine_aborted(eng)) {
		flushed = 1;
	}
	/* What a reframing stage took in is done only when all of its
	 * output has gone on. */
	ackset_release(chain, flushed);
	engine_worker_leave(rt, ws, ok);
	if (rt->slots)
		engine_worker_ended(w);
	engine_thread_exit(eng);
	return NULL;
}
