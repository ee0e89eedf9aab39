/* SPDX-License-Identifier: MIT */
/*
 * engine.c - run a pipeline.
 *
 * Every stage runs on its own threads; stages are joined by bounded
 * channels of batch pointers, one channel per (writer, reader) pair, so a
 * stage with several readers broadcasts.
 *
 * The context tree:
 *
 *   drain      cancelled only to abort: an error, a second signal, or the
 *     |        drain outliving shutdown_timeout.  Every stage but the
 *     |        sources blocks under it, so in-flight batches keep flowing
 *     |        after a deadline or a first signal.
 *     run      cancelled by the first signal or the deadline (the earliest
 *       |      of the pipeline's and the stages' timeouts).  Sources read
 *       |      under it: cancelling it stops the input, and end of stream
 *       |      then closes the channels stage by stage.
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
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csp/csp.h"
#include "core/engine.h"
#include "core/graph.h"
#include "records/ack.h"
#include "records/pattern.h"
#include "core/progress.h"
#include "records/shard.h"
#include "core/stage.h"
#include "core/stats.h"

struct engine;

struct edge {
	struct chan *ch;          /* struct batch * */
	struct stage *from, *to;
	int port;
	atomic_int gone;          /* the reader abandoned it */
};

/* A result on its way from an ordered worker to the collector. */
struct result {
	uint64_t seq;
	struct batch *list;       /* output batches, linked by next */
	int flush;                /* from flush(): emitted after every seq */
	int worker;               /* shard_by: whose part of the batch */
	struct err *err;          /* the batch failed: reported in its turn */
};

struct stage_rt {
	struct engine *eng;
	struct stage *st;
	struct edge **in;
	size_t nin;
	atomic_int *in_closed;    /* per input: seen closed */
	struct edge ***out;       /* per port: its edges */
	size_t *nout;
	size_t nports;
	struct worker *workers;
	struct wstats *ws;        /* one per worker, then the collector's */
	struct wstats *ews;       /* the engine's, for counts made on other
				     threads: only atomic_fetch_add */
	struct ctx *ctx;          /* sources: child of run; others: of drain */
	struct chan *turn;        /* ordered multi-worker: next seq */
	atomic_uint_least64_t next_seq; /* without a turnstile: numbers as taken */
	struct chan *collect;     /* ordered multi-worker: results */
	struct chan **wins;       /* shard_by: each worker's own input */
	uint32_t nshards;         /* shard_by: workers sharing the input, else 0 */
	struct pattern_match *shard_m; /* the dispatcher's, for a pattern key */
	struct sem *window;
	int window_size;
	atomic_int live;          /* workers still running */
	atomic_int stopped;       /* stopped early on purpose */
	atomic_int finished;      /* reached the end of its input normally */
	atomic_int ended;         /* finish_stage ran: its timeout no longer counts */
	int64_t busy_mark;        /* run-style stages: when the last wait ended */
	int64_t start_ns, end_ns;
	pthread_t *threads;
	size_t nthreads;
	struct err err;
};

struct engine {
	struct pipeline *p;
	const struct run_opts *o;
	struct ctx *drain, *run;
	struct edge **edges;
	size_t nedges;
	struct chan *done;        /* closed when the last thread ends */
	atomic_int threads_live;
	pthread_mutex_t mu;       /* guards the first error */
	int failed;
	struct err first;
	const char *deadline_stage;  /* stage whose timeout is the run's, or NULL */
	int64_t deadline_ns;
	int64_t start_ns;
};

/* The depth of each worker's own input under shard_by, in batches. */
#define SHARD_BUFFER 2

/* A second SIGINT/SIGTERM aborts only when it comes this long after the
 * first; sooner, it is the same request delivered twice. */
#define SECOND_SIGNAL_AFTER (250 * CSP_NS_PER_MS)

struct stage_io {
	struct stage_rt *rt;
	struct wstats *ws;
};

/* ---- small pieces ---------------------------------------------------- */

int outq_push(struct outq *q, struct batch *b)
{
	if (q->acks)
		ackset_add(&b->acks, q->acks);
	if (q->send) {
		int rc = q->send(q->arg, b);
		if (rc)
			q->stopped = rc;
		return rc;
	}
	b->next = NULL;
	if (q->tail)
		q->tail->next = b;
	else
		q->head = b;
	q->tail = b;
	q->n++;
	return 0;
}

static void free_list(struct batch *b, struct wstats *ws, int filtered)
{
	while (b) {
		struct batch *next = b->next;
		if (ws)
			wstat_add(filtered ? &ws->filtered : &ws->dropped, b->records);
		batch_free(b);
		b = next;
	}
}

struct ctx *stage_ctx(const struct stage *st)
{
	return st->rt ? st->rt->ctx : NULL;
}

int stage_window(const struct stage *st)
{
	return st->workers > 1 && st->ordered ? 2 * st->workers : 1;
}

/* Record the first error, with the stage's name, and abort the run. */
static void fail(struct engine *eng, const struct stage *st, const struct err *e)
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
	ctx_cancel_cause(eng->drain, CSP_CANCELED, 1, "error");
}

static int aborted(struct engine *eng)
{
	return ctx_err(eng->drain) != 0;
}

/* ---- output ---------------------------------------------------------- */

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
		wstat_add(&ws->filtered, recs);
		batch_free(b);
	}
	for (size_t i = 0; i < n && live; i++) {
		struct edge *e = edges[i];
		struct batch *send;
		int r;

		if (atomic_load(&e->gone))
			continue;
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
			wstat_add(&ws->filtered, recs);
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
static int emit_list(struct stage_rt *rt, struct batch *b, struct wstats *ws)
{
	int rc = CSP_OK;

	while (b) {
		struct batch *next = b->next;
		b->next = NULL;
		if (rt->st->kind->emit) {
			struct err e = { 0 };
			if (rt->st->kind->emit(rt->st, b, &e)) {
				fail(rt->eng, rt->st, &e);
				batch_free(b);
				free_list(next, ws, 0);
				return CSP_CANCELED;
			}
		}
		rc = emit_batch(rt, b, ws);
		if (rc != CSP_OK) {
			free_list(next, ws, rc == CSP_CLOSED);
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
	return emit_list(d->rt, b, d->ws);
}

static void abandon_inputs(struct stage_rt *rt);

/* A batch that reached rt's input and was never taken: counted in (so
 * that rt's books and its upstream's agree) and as stopping there, in the
 * engine's slot (this may run on any thread), and freed. */
static void count_untaken(struct stage_rt *rt, struct batch *b, int filtered)
{
	struct wstats *ws = rt->ews;

	atomic_fetch_add(&ws->rec_in, b->records);
	atomic_fetch_add(&ws->bytes_in, batch_bytes(b));
	atomic_fetch_add(filtered ? &ws->filtered : &ws->dropped, b->records);
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
			count_untaken(rt, b, 1);
	}
}

/* The stage has what it wants or nobody reads it any more. */
static void stop_stage(struct stage_rt *rt)
{
	if (atomic_exchange(&rt->stopped, 1) == 0)
		ctx_cancel_cause(rt->ctx, CSP_CANCELED, STAGE_CAUSE_STOPPED, "stopped");
	abandon_inputs(rt);
}

/* End of the stage's output: the kind's trailer, then close every edge. */
static void finish_stage(struct stage_rt *rt, struct wstats *ws, int ok)
{
	if (ok && rt->st->kind->finish && !aborted(rt->eng)) {
		struct outq q = { 0 };
		struct err e = { 0 };
		if (rt->st->kind->finish(rt->st, &q, &e))
			fail(rt->eng, rt->st, &e);
		if (emit_list(rt, q.head, ws) == CSP_CLOSED)
			stop_stage(rt);
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
static int take_input(struct stage_rt *rt, struct batch **b, struct ctx *ctx)
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

/* Take input in turn: the ordered workers number batches as they take them. */
static int take_numbered(struct stage_rt *rt, struct batch **b, uint64_t *seq,
			 struct ctx *ctx)
{
	uint64_t s;
	int r;

	if (!rt->turn) {
		r = take_input(rt, b, ctx);
		if (r == CSP_OK)
			*seq = atomic_fetch_add_explicit(&rt->next_seq, 1, memory_order_relaxed);
		return r;
	}
	r = chan_recv(rt->turn, &s, ctx);
	if (r != CSP_OK)
		return r;
	r = take_input(rt, b, ctx);
	*seq = s;
	if (r == CSP_OK)
		s++;
	chan_try_send(rt->turn, &s);
	return r;
}

/* ---- threads ---------------------------------------------------------- */

static void thread_exit(struct engine *eng)
{
	if (atomic_fetch_sub(&eng->threads_live, 1) == 1)
		chan_close(eng->done);
}

/* The worker of a process-style stage. */
static void *worker_main(void *arg)
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

	for (;;) {
		struct batch *b;
		struct outq q = { 0 };
		struct err e = { 0 };
		uint64_t seq = 0;
		int64_t t0;
		int r, rc;

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
			r = take_numbered(rt, &b, &seq, w->ctx);
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
			free_list(q.head, ws, 0);
			ok = 0;
			if (rt->collect) {
				/* In order: the error of the earliest failing
				 * batch is the one reported, as with one worker,
				 * whichever worker fails first in time. */
				struct result res = { seq, NULL, 0, w->index,
						      csp_malloc(sizeof e) };
				*res.err = e;
				if (chan_send(rt->collect, &res, w->ctx) == CSP_OK)
					break;
				free(res.err);
			}
			fail(eng, st, &e);
			break;
		}
		if (rt->collect) {
			struct result res = { seq, q.head, 0, w->index, NULL };
			r = chan_send(rt->collect, &res, w->ctx);
			if (r != CSP_OK) {
				free_list(q.head, ws, atomic_load(&rt->stopped));
				ok = 0;
				break;
			}
		} else {
			r = q.stopped ? q.stopped : emit_list(rt, q.head, ws);
			if (r == CSP_CLOSED) {
				stop_stage(rt);
				break;
			}
			if (r != CSP_OK) {
				ok = 0;
				break;
			}
		}
		if (rc == STAGE_STOP) {
			stop_stage(rt);
			break;
		}
	}
	if (ok && !atomic_load(&rt->stopped) && st->kind->flush && !aborted(eng)) {
		struct outq q = { 0 };
		struct err e = { 0 };
		if (!rt->collect && st->workers == 1) {
			q.send = direct_send;
			q.arg = &direct;
		}
		q.acks = chain;
		if (st->kind->flush(w, &q, &e) == STAGE_ERROR) {
			fail(eng, st, &e);
			free_list(q.head, ws, 0);
			ok = 0;
		} else if (rt->collect) {
			struct result res = { 0, q.head, 1, w->index, NULL };
			flushed = 1;
			if (chan_send(rt->collect, &res, w->ctx) != CSP_OK)
				free_list(q.head, ws, atomic_load(&rt->stopped));
		} else if (!q.stopped && emit_list(rt, q.head, ws) == CSP_CLOSED) {
			stop_stage(rt);
		} else {
			flushed = !q.stopped;
		}
	} else if (ok && !atomic_load(&rt->stopped) && !aborted(eng)) {
		flushed = 1;
	}
	/* What a reframing stage took in is done only when all of its
	 * output has gone on. */
	ackset_release(chain, flushed);
	if (atomic_fetch_sub(&rt->live, 1) == 1) {
		if (rt->collect)
			chan_close(rt->collect);
		else
			finish_stage(rt, ws, ok && !aborted(eng));
	}
	thread_exit(eng);
	return NULL;
}

/*
 * The collector of an ordered multi-worker stage: results back in order.
 * With shard_by, each input batch comes back as one part per worker, put
 * together again (by tag) once all have come.
 */
static void *collector_main(void *arg)
{
	struct stage_rt *rt = arg;
	struct engine *eng = rt->eng;
	struct stage *st = rt->st;
	struct wstats *ws = &rt->ws[st->workers];
	int W = rt->window_size;
	uint32_t nparts = rt->nshards ? rt->nshards : 1;
	struct batch **ring = csp_calloc((size_t)W * nparts, sizeof *ring);
	struct err **errs = csp_calloc((size_t)W, sizeof *errs);
	uint32_t *got = csp_calloc((size_t)W, sizeof *got);
	struct batch *flushed = NULL, **flushed_tail = &flushed;
	uint64_t next = 0;
	int ok = 1, gone = 0;
	struct result res;

	for (;;) {
		int r = chan_recv(rt->collect, &res, eng->drain);
		if (r == CSP_CLOSED)
			break;
		if (r != CSP_OK) {
			ok = 0;
			break;
		}
		if (gone) {
			free_list(res.list, ws, 1);
			free(res.err);
			continue;
		}
		if (res.flush) {
			*flushed_tail = res.list;
			while (*flushed_tail)
				flushed_tail = &(*flushed_tail)->next;
			continue;
		}
		size_t slot = res.seq % (uint64_t)W;
		ring[slot * nparts + (nparts > 1 ? (uint32_t)res.worker : 0)] = res.list;
		if (res.err && !errs[slot])
			errs[slot] = res.err;
		else
			free(res.err);
		got[slot]++;
		/* A failed worker sends no more: a batch it would have sent a
		 * part of never completes, but its own error comes first. */
		while (got[next % (uint64_t)W] == nparts || errs[next % (uint64_t)W]) {
			struct batch *list;
			slot = next % (uint64_t)W;
			if (errs[slot]) {
				fail(eng, st, errs[slot]);
				ok = 0;
				goto out;
			}
			list = nparts == 1 ? ring[slot] :
				shard_merge(&ring[slot * nparts], nparts, rt->nports,
					    !(st->kind->flags & KIND_REFRAMES));
			memset(&ring[slot * nparts], 0, nparts * sizeof *ring);
			got[slot] = 0;
			next++;
			r = gone ? CSP_CLOSED : emit_list(rt, list, ws);
			if (gone)
				free_list(list, ws, 1);
			sem_release(rt->window);
			if (r == CSP_CLOSED && !gone) {
				gone = 1;
				stop_stage(rt);
			} else if (r != CSP_OK && !gone) {
				ok = 0;
				goto out;
			}
		}
	}
	if (ok && !gone && !aborted(eng)) {
		if (emit_list(rt, flushed, ws) == CSP_CLOSED)
			stop_stage(rt);
		flushed = NULL;
	}
out:
	free_list(flushed, ws, gone);
	for (size_t i = 0; i < (size_t)W * nparts; i++)
		free_list(ring[i], ws, 0);
	for (int i = 0; i < W; i++)
		free(errs[i]);
	/* No result can arrive any more: a worker still running (it may not
	 * have seen the abort yet) gets CSP_CLOSED and counts its own.  Those
	 * already queued (after an abort) are counted as dropped. */
	chan_abandon(rt->collect);
	while (chan_try_recv(rt->collect, &res) == CSP_OK) {
		free_list(res.list, ws, 0);
		free(res.err);
	}
	free(ring);
	free(errs);
	free(got);
	finish_stage(rt, ws, ok && !gone && !aborted(eng));
	thread_exit(eng);
	return NULL;
}

/*
 * The dispatcher of a stage with shard_by: takes each input batch, splits
 * it by key into one part per worker, and hands each worker its part (an
 * empty part too, so that the collector knows when a batch is complete).
 */
static void *dispatch_main(void *arg)
{
	struct stage_rt *rt = arg;
	struct stage *st = rt->st;
	uint32_t n = rt->nshards;
	struct batch **parts = csp_calloc(n, sizeof *parts);
	uint64_t seq = 0;

	for (;;) {
		struct batch *b;
		int r;

		if (rt->window && sem_acquire(rt->window, rt->ctx) != CSP_OK)
			break;
		r = take_input(rt, &b, rt->ctx);
		if (r != CSP_OK) {
			if (rt->window)
				sem_release(rt->window);
			break;
		}
		b->seq = seq++;
		shard_split(st->shard, rt->shard_m, b, parts, n);
		for (uint32_t i = 0; i < n; i++) {
			if (r == CSP_OK)
				r = chan_send(rt->wins[i], &parts[i], rt->ctx);
			if (r != CSP_OK) {
				/* Stopped or aborted: what was not handed over
				 * stops here. */
				count_untaken(rt, parts[i], atomic_load(&rt->stopped));
			}
		}
		if (r != CSP_OK)
			break;
	}
	for (uint32_t i = 0; i < n; i++)
		chan_close(rt->wins[i]);
	free(parts);
	thread_exit(rt->eng);
	return NULL;
}

/* The one thread of a run-style stage (sources, merge). */
static void *runner_main(void *arg)
{
	struct worker *w = arg;
	struct stage *st = w->stage;
	struct stage_rt *rt = st->rt;
	struct stage_io io = { rt, w->stats };
	struct err e = { 0 };
	int rc;

	rt->busy_mark = csp_now();
	atomic_store_explicit(&w->stats->busy, 1, memory_order_relaxed);
	rc = st->kind->run(st, &io, &e);
	atomic_store_explicit(&w->stats->busy, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->stats->busy_ns, csp_now() - rt->busy_mark,
				  memory_order_relaxed);
	if (rc == STAGE_ERROR)
		fail(rt->eng, st, &e);
	if (rc == STAGE_STOP)
		stop_stage(rt);
	atomic_store(&rt->live, 0);
	finish_stage(rt, w->stats, rc != STAGE_ERROR && !aborted(rt->eng));
	thread_exit(rt->eng);
	return NULL;
}

/* ---- stage_io --------------------------------------------------------- */

struct ctx *io_ctx(struct stage_io *io)
{
	return io->rt->ctx;
}

struct wstats *io_stats(struct stage_io *io)
{
	return io->ws;
}

/* A run-style stage's busy time is what lies between its waits, added as
 * each wait begins, so that a report in mid-run (SIGUSR1, --progress)
 * shows it too. */
static void wait_begins(struct stage_io *io, int64_t now)
{
	atomic_fetch_add_explicit(&io->ws->busy_ns, now - io->rt->busy_mark,
				  memory_order_relaxed);
	atomic_store_explicit(&io->ws->busy, 0, memory_order_relaxed);
}

static void wait_ends(struct stage_io *io)
{
	io->rt->busy_mark = csp_now();
	atomic_store_explicit(&io->ws->busy, 1, memory_order_relaxed);
}

int io_send(struct stage_io *io, struct batch *b)
{
	struct stage_rt *rt = io->rt;
	int r;

	wait_begins(io, csp_now());
	if (rt->st->kind->role == ROLE_SOURCE) {
		wstat_add(&io->ws->rec_in, b->records);
		wstat_add(&io->ws->bytes_in, b->len);
	}
	wstat_add(&io->ws->batches, 1);
	b->next = NULL;
	r = emit_list(rt, b, io->ws);
	wait_ends(io);
	return r;
}

size_t io_ninputs(struct stage_io *io)
{
	return io->rt->nin;
}

int io_select(struct stage_io *io, struct sel_case *cases, int n)
{
	int r;

	wait_begins(io, csp_now());
	r = chan_select(cases, n, 0, io->rt->ctx);
	wait_ends(io);
	return r;
}

struct chan *io_input(struct stage_io *io, size_t i)
{
	return io->rt->in[i]->ch;
}

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
		atomic_store(&rt->live, nw);
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
		total += (p->stages[i]->kind->run ? 1 : p->stages[i]->workers) +
			 (rt->collect != NULL) + (rt->nshards != 0);
	}
	atomic_store(&eng->threads_live, total);
	for (size_t i = p->n; i-- > 0;) {
		struct stage *st = p->stages[i];
		struct stage_rt *rt = st->rt;
		int run_style = st->kind->run != NULL;
		int nw = run_style ? 1 : st->workers;

		int nt = nw + (rt->collect != NULL) + (rt->nshards != 0);
		for (int w = 0; w < nt; w++) {
			int err;
			if (w < nw)
				err = csp_thread_start(&rt->threads[rt->nthreads], run_style ?
						       runner_main : worker_main, &rt->workers[w], 0);
			else if (w == nw && rt->collect)
				err = csp_thread_start(&rt->threads[rt->nthreads], collector_main, rt, 0);
			else
				err = csp_thread_start(&rt->threads[rt->nthreads], dispatch_main, rt, 0);
			if (err) {
				err_set(e, "%s: cannot start thread %d of %d: %s", st->name, w + 1,
					nt, strerror(err));
				goto fail;
			}
			rt->nthreads++;
			total--;
		}
	}
	thread_exit(eng);
	return 0;
fail:
	/* Those that did start see the abort and end; the count drops by
	 * the threads that never started (and our hold). */
	ctx_cancel_cause(eng->drain, CSP_CANCELED, 1, "error");
	if (atomic_fetch_sub(&eng->threads_live, total) == total)
		chan_close(eng->done);
	return -1;
}

/* ---- reporting -------------------------------------------------------- */

/* Sum the live counters into r (the caller frees it with report_free).
 * Safe while the run is going: counters are atomics, channels lock. */
static void build_report(struct engine *eng, struct run_report *r)
{
	struct pipeline *p = eng->p;

	memset(r, 0, sizeof *r);
	r->p = p;
	r->n = p->n;
	r->stages = csp_calloc(p->n, sizeof *r->stages);
	r->elapsed_s = (double)(csp_now() - eng->start_ns) / 1e9;
	r->outcome = "running";
	for (size_t i = 0; i < p->n; i++) {
		struct stage *st = p->stages[i];
		struct stage_rt *rt = st->rt;
		struct stage_report *s = &r->stages[i];
		int nw = st->kind->run ? 1 : st->workers;

		s->st = st;
		s->workers = nw;
		s->worker_recs = csp_calloc((size_t)nw, sizeof *s->worker_recs);
		if (st->kind->counters && st->priv) {
			s->extra = csp_calloc(STAGE_COUNTERS_MAX, sizeof *s->extra);
			s->nextra = st->kind->counters(st, s->extra);
		}
		for (int w = 0; w <= nw + 1 && rt->ws; w++) {
			struct wstats *ws = &rt->ws[w];
			uint64_t in = atomic_load_explicit(&ws->rec_in, memory_order_relaxed);
			s->rec_in += in;
			s->rec_out += atomic_load_explicit(&ws->rec_out, memory_order_relaxed);
			s->bytes_in += atomic_load_explicit(&ws->bytes_in, memory_order_relaxed);
			s->bytes_out += atomic_load_explicit(&ws->bytes_out, memory_order_relaxed);
			s->filtered += atomic_load_explicit(&ws->filtered, memory_order_relaxed);
			s->dropped += atomic_load_explicit(&ws->dropped, memory_order_relaxed);
			s->created += atomic_load_explicit(&ws->created, memory_order_relaxed);
			s->batches += atomic_load_explicit(&ws->batches, memory_order_relaxed);
			s->busy_ns += atomic_load_explicit(&ws->busy_ns, memory_order_relaxed);
			if (w < nw) {
				s->worker_recs[w] = in;
				s->busy_workers += atomic_load_explicit(&ws->busy, memory_order_relaxed);
			}
		}
		for (size_t j = 0; j < rt->nin; j++) {
			struct chan_stats cs;
			chan_stats(rt->in[j]->ch, &cs);
			s->wait_in_ns += cs.recv_blocked_ns;
		}
		for (size_t port = 0; port < rt->nports; port++)
			for (size_t j = 0; j < rt->nout[port]; j++) {
				struct chan_stats cs;
				chan_stats(rt->out[port][j]->ch, &cs);
				s->wait_out_ns += cs.send_blocked_ns;
				s->out_len += chan_len(rt->out[port][j]->ch);
				s->out_cap += chan_cap(rt->out[port][j]->ch);
			}
		if (st->kind->role == ROLE_SOURCE)
			r->read += s->rec_in;
		if (st->kind->role == ROLE_SINK)
			r->written += s->rec_out;
		r->filtered += s->filtered;
		r->dropped += s->dropped;
		r->created += s->created;
	}
	report_verdict(r);
}

/* Stages whose records are new (decompress, exec) balance their books at
 * the end: what went in and did not come out was consumed (filtered),
 * what came out beyond was made (created). */
static void balance(struct stage_rt *rt)
{
	struct stage *st = rt->st;
	int nw = st->kind->run ? 1 : st->workers;
	uint64_t in = 0, out = 0, f = 0, dr = 0, cr = 0;

	if (!(st->kind->flags & KIND_REFRAMES))
		return;
	for (int w = 0; w <= nw + 1; w++) {
		in += atomic_load(&rt->ws[w].rec_in);
		out += atomic_load(&rt->ws[w].rec_out);
		f += atomic_load(&rt->ws[w].filtered);
		dr += atomic_load(&rt->ws[w].dropped);
		cr += atomic_load(&rt->ws[w].created);
	}
	if (in + cr > out + f + dr)
		wstat_add(&rt->ws[0].filtered, in + cr - out - f - dr);
	else if (in + cr < out + f + dr)
		wstat_add(&rt->ws[0].created, out + f + dr - in - cr);
}

static void print_report(struct engine *eng, const char *outcome, int code)
{
	struct run_report r;

	if (eng->o->stats == STATS_NONE)
		return;
	build_report(eng, &r);
	r.outcome = outcome;
	r.exit_code = code;
	if (eng->o->stats == STATS_JSON)
		stats_print_json(stderr, &r);
	else
		stats_print_table(stderr, &r);
	report_free(&r);
}

/* ---- the run ------------------------------------------------------------ */

/* Wait for the threads, or for something that changes the course of the
 * run.  Returns 0 when the threads are done, 1 when `stop` (may be NULL)
 * fired, 2 when ctx ended, 3 when a signal context fired. */
static int wait_phase(struct engine *eng, struct ctx *ctx, struct chan *sig,
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
		struct ctx *t = pg ? ctx_with_timeout(ctx, PROGRESS_INTERVAL) : ctx;
		int r = chan_select(c, 3, 0, t);

		if (t != ctx)
			ctx_release(t);
		if (r == 0)
			return 0;
		if (r == 1)
			return 3;
		if (r == 2) {
			struct run_report rep;
			build_report(eng, &rep);
			if (pg)
				progress_clear(pg);
			stats_print_table(stderr, &rep);
			report_free(&rep);
			continue;
		}
		if (ctx && ctx_err(ctx))
			return 2;
		if (pg) {
			struct run_report rep;
			build_report(eng, &rep);
			progress_draw(pg, &rep);
			report_free(&rep);
		}
	}
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

	eng.p = p;
	eng.o = o;
	pthread_mutex_init(&eng.mu, NULL);
	eng.start_ns = csp_now();
	eng.drain = ctx_with_cancel(NULL);
	eng.run = deadline ? ctx_with_deadline(eng.drain, eng.start_ns + deadline)
			   : ctx_with_cancel(eng.drain);
	eng.done = chan_new(1, 0);

	for (; started < p->n; started++) {
		struct stage *st = p->stages[started];
		if (st->kind->start && st->kind->start(st, &e)) {
			fail(&eng, st, &e);
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
		code = EXIT_RUNTIME;
		goto free_wiring;
	}
	if (o->progress)
		pg = progress_new(stderr, o->progress == 2);
	if (start_threads(&eng, &e)) {
		struct stage tmp = { .name = "cspipe" };
		(void)tmp;
		pthread_mutex_lock(&eng.mu);
		if (!eng.failed) {
			eng.failed = 1;
			eng.first = e;
		}
		pthread_mutex_unlock(&eng.mu);
	}

	/* Phase 1: running, until the end, a signal, an error, the pipeline's
	 * deadline, or the timeout of a stage that is still running (a stage
	 * that ended in time is no longer waited for). */
	for (;;) {
		const struct stage *next = next_stage_deadline(p);
		struct ctx *w = next && (!deadline || next->timeout < deadline)
			? ctx_with_deadline(eng.run, eng.start_ns + next->timeout) : eng.run;
		int r = wait_phase(&eng, w, o->signals ? ctx_done(o->signals) : NULL, pg);

		if (w != eng.run)
			ctx_release(w);
		if (r == 0)
			goto joined;
		if (r == 3) {
			signo = ctx_cause(o->signals, NULL);
			ctx_cancel_cause(eng.run, CSP_CANCELED, signo, "signal");
			break;
		}
		if (aborted(&eng)) {
			abort_run = 1;
			break;
		}
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
	/* Phase 2: draining after a signal or the deadline, within
	 * shutdown_timeout; a second signal or the timer aborts. */
	if (!abort_run) {
		struct ctx *timer = ctx_with_timeout(NULL, p->shutdown_timeout);
		struct ctx *sig2 = NULL;
		int r = -1;

		/* timeout(1) and a kill of a process group deliver a signal
		 * twice in quick succession: a second signal counts only
		 * from a quarter of a second after the first. */
		if (signo) {
			struct ctx *grace = ctx_with_timeout(timer, SECOND_SIGNAL_AFTER);
			if (wait_phase(&eng, grace, NULL, pg) == 0)
				r = 0;
			ctx_release(grace);
		}
		if (r != 0) {
			sig2 = o->signals ? ctx_with_signals(NULL) : NULL;
			r = wait_phase(&eng, timer, sig2 ? ctx_done(sig2) : NULL, pg);
		}
		if (r == 3) {
			/* 2: the second signal; 1: a first one, in the drain
			 * after a deadline. */
			abort_signal = signo ? 2 : 1;
			if (!signo)
				signo = ctx_cause(sig2, NULL);
			abort_run = 1;
		} else if (r == 2) {
			drain_timeout = 1;
			abort_run = 1;
		}
		ctx_release(sig2);
		ctx_release(timer);
	}
	if (abort_run) {
		struct ctx *grace = ctx_with_timeout(NULL, 2 * CSP_NS_PER_S);
		ctx_cancel_cause(eng.drain, CSP_CANCELED, 3, "abort");
		if (wait_phase(&eng, grace, NULL, NULL) != 0)
			stuck = 1;
		ctx_release(grace);
	}
joined:
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
		/* Batches still in channels were never taken: count them
		 * where they stopped. */
		for (size_t i = 0; i < eng.nedges; i++) {
			struct batch *b;
			struct stage_rt *to = eng.edges[i]->to->rt;
			while (chan_try_recv(eng.edges[i]->ch, &b) == CSP_OK)
				count_untaken(to, b, atomic_load(&to->stopped));
		}
		for (size_t i = 0; i < p->n; i++) {
			struct stage_rt *rt = p->stages[i]->rt;
			for (uint32_t w = 0; w < rt->nshards; w++) {
				struct batch *b;
				while (chan_try_recv(rt->wins[w], &b) == CSP_OK)
					count_untaken(rt, b, atomic_load(&rt->stopped));
			}
			balance(rt);
		}
	}
	abort_run |= eng.failed;
	/* Downstream first: a sink commits (and releases the ack references
	 * it held) before a source learns what is durable. */
	for (size_t i = p->n; i-- > 0;) {
		struct stage *st = p->stages[i];
		struct err ce = { 0 };
		if (st->kind->close &&
		    st->kind->close(st, abort_run || stuck ? OUTCOME_ABORTED : OUTCOME_OK, &ce) &&
		    !eng.failed) {
			eng.failed = 1;
			snprintf(eng.first.msg, sizeof eng.first.msg, "%.200s: %.800s", st->name, ce.msg);
		}
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
	if (!stuck)
		print_report(&eng, outcome, code);
	if (stuck)
		return code;   /* threads still run: leave the memory to them */

	for (size_t i = 0; i < p->n; i++) {
		struct stage *st = p->stages[i];
		struct stage_rt *rt = st->rt;
		int nw = st->kind->run ? 1 : st->workers;
		for (int w = 0; w < nw; w++)
			if (st->kind->worker_free)
				st->kind->worker_free(st, rt->workers[w].state);
	}
free_wiring:
	for (size_t i = 0; i < p->n; i++) {
		struct stage_rt *rt = p->stages[i]->rt;
		if (!rt)
			continue;
		ctx_release(rt->ctx);
		if (rt->turn)
			chan_free(rt->turn);
		if (rt->collect)
			chan_free(rt->collect);
		for (uint32_t w = 0; w < rt->nshards; w++)
			chan_free(rt->wins[w]);
		free(rt->wins);
		pattern_match_free(rt->shard_m);
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
