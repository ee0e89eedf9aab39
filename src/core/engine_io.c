/* SPDX-License-Identifier: MIT */
/*
 * engine_io.c - a run-style stage (sources, merge) on its one thread, and
 * the stage_io calls it reads and sends with: each wait is timed apart
 * from the stage's busy time.
 */
#include "core/engine_rt.h"
#include "core/oom.h"

/* The one thread of a run-style stage (sources, merge). */
void *engine_runner_main(void *arg)
{
	struct worker *w = arg;
	struct stage *st = w->stage;
	struct stage_rt *rt = st->rt;
	struct stage_io io = { rt, w->stats };
	struct err e = { 0 };
	int rc;

	oom_set_stage(st->name);
	rt->busy_mark = csp_now();
	atomic_store_explicit(&w->stats->busy, 1, memory_order_relaxed);
	rc = st->kind->run(st, &io, &e);
	atomic_store_explicit(&w->stats->busy, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->stats->busy_ns, csp_now() - rt->busy_mark,
				  memory_order_relaxed);
	if (rc == STAGE_ERROR)
		engine_fail(rt->eng, st, &e);
	if (rc == STAGE_STOP)
		engine_stop_stage(rt);
	atomic_store(&rt->live, 0);
	engine_finish_stage(rt, w->stats, rc != STAGE_ERROR && !engine_aborted(rt->eng));
	engine_thread_exit(rt->eng);
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

void io_wait_begins(struct stage_io *io)
{
	wait_begins(io, csp_now());
}

void io_wait_ends(struct stage_io *io)
{
	wait_ends(io);
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
	r = engine_emit_list(rt, b, io->ws);
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
