/* SPDX-License-Identifier: MIT */
/*
 * engine_collect.c - the two threads that stand beside an ordered or
 * sharded stage's workers: the collector, which puts their results back
 * in input order, and the dispatcher of shard_by, which splits each input
 * batch by key among them.
 */
#include <stdlib.h>
#include <string.h>

#include "core/engine_rt.h"
#include "core/oom.h"
#include "records/shard.h"

/*
 * The collector of an ordered multi-worker stage: results back in order.
 * With shard_by, each input batch comes back as one part per worker, put
 * together again (by tag) once all have come.
 */
void *engine_collector_main(void *arg)
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

	oom_set_stage(st->name);
	for (;;) {
		int r = chan_recv(rt->collect, &res, eng->drain);
		if (r == CSP_CLOSED)
			break;
		if (r != CSP_OK) {
			ok = 0;
			break;
		}
		if (gone) {
			engine_free_list(rt, res.list, ws, 1);
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
		if (!res.nudge) {
			ring[slot * nparts + (nparts > 1 ? (uint32_t)res.worker : 0)] = res.list;
			if (res.err && !errs[slot])
				errs[slot] = res.err;
			else
				free(res.err);
			got[slot]++;
		}
		/* The batches an auto stage's one worker emitted itself. */
		if (rt->slots) {
			uint64_t dd = atomic_load(&rt->direct_done);
			if (next < dd)
				next = dd;
		}
		/* A failed worker sends no more: a batch it would have sent a
		 * part of never completes, but its own error comes first. */
		while (got[next % (uint64_t)W] == nparts || errs[next % (uint64_t)W]) {
			struct batch *list;
			slot = next % (uint64_t)W;
			if (errs[slot]) {
				/* What the failing batch made before its
				 * failing record goes on first. */
				if (nparts == 1 && !gone) {
					engine_emit_list(rt, ring[slot], ws);
					ring[slot] = NULL;
				}
				engine_fail(eng, st, errs[slot]);
				/* Everything before it has gone on: the
				 * workers, busy after it or waiting for room
				 * in the window, stop now. */
				ctx_cancel_cause(rt->ctx, CSP_CANCELED, STAGE_CAUSE_ERROR, "failed");
				ok = 0;
				goto out;
			}
			list = nparts == 1 ? ring[slot] :
				shard_merge(&ring[slot * nparts], nparts, rt->nports,
					    !(st->kind->flags & KIND_REFRAMES));
			memset(&ring[slot * nparts], 0, nparts * sizeof *ring);
			got[slot] = 0;
			next++;
			r = gone ? CSP_CLOSED : engine_emit_list(rt, list, ws);
			if (gone)
				engine_free_list(rt, list, ws, 1);
			sem_release(rt->window);
			if (r == CSP_CLOSED && !gone) {
				gone = 1;
				engine_stop_stage(rt);
			} else if (r != CSP_OK && !gone) {
				ok = 0;
				goto out;
			}
		}
	}
	if (ok && !gone && !engine_aborted(eng)) {
		if (engine_emit_list(rt, flushed, ws) == CSP_CLOSED)
			engine_stop_stage(rt);
		flushed = NULL;
	}
out:
	engine_free_list(rt, flushed, ws, gone);
	for (size_t i = 0; i < (size_t)W * nparts; i++)
		engine_free_list(rt, ring[i], ws, 0);
	for (int i = 0; i < W; i++)
		free(errs[i]);
	/* No result can arrive any more: a worker still running (it may not
	 * have seen the abort yet) gets CSP_CLOSED and counts its own.  Those
	 * already queued (after an abort) are counted as dropped. */
	chan_abandon(rt->collect);
	while (chan_try_recv(rt->collect, &res) == CSP_OK) {
		engine_free_list(rt, res.list, ws, 0);
		free(res.err);
	}
	free(ring);
	free(errs);
	free(got);
	engine_finish_stage(rt, ws, ok && !gone && !engine_aborted(eng));
	engine_thread_exit(eng);
	return NULL;
}

/*
 * The dispatcher of a stage with shard_by: takes each input batch, splits
 * it by key into one part per worker, and hands each worker its part (an
 * empty part too, so that the collector knows when a batch is complete).
 */
void *engine_dispatch_main(void *arg)
{
	struct stage_rt *rt = arg;
	struct stage *st = rt->st;
	uint32_t n = rt->nshards;
	struct batch **parts;
	uint64_t seq = 0;

	oom_set_stage(st->name);
	parts = csp_calloc(n, sizeof *parts);
	for (;;) {
		struct batch *b;
		int r;

		if (rt->window && sem_acquire(rt->window, rt->ctx) != CSP_OK)
			break;
		r = engine_take_input(rt, &b, rt->ctx);
		if (r != CSP_OK) {
			if (rt->window)
				sem_release(rt->window);
			break;
		}
		b->seq = seq++;
		shard_split(st->shard, rt->shard_m, rt->shard_fr, b, parts, n);
		for (uint32_t i = 0; i < n; i++) {
			if (r == CSP_OK)
				r = chan_send(rt->wins[i], &parts[i], rt->ctx);
			if (r != CSP_OK) {
				/* Stopped or aborted: what was not handed over
				 * stops here. */
				engine_count_untaken(rt, parts[i], atomic_load(&rt->stopped));
			}
		}
		if (r != CSP_OK)
			break;
	}
	for (uint32_t i = 0; i < n; i++)
		chan_close(rt->wins[i]);
	free(parts);
	engine_thread_exit(rt->eng);
	return NULL;
}

