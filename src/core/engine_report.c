/* SPDX-License-Identifier: MIT */
/*
 * engine_report.c - the engine's counters summed into a run report, for
 * the progress view, SIGUSR1 and --stats; and the balancing of the books
 * of stages that make new records.
 */
#include <stdio.h>
#include <string.h>

#include "core/engine_rt.h"
#include "core/observe.h"

/* ---- reporting -------------------------------------------------------- */

/* Sum the live counters into r (the caller frees it with report_free).
 * Safe while the run is going: counters are atomics, channels lock. */
void engine_build_report(struct engine *eng, struct run_report *r)
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
		s->workers = rt->slots ? atomic_load(&rt->nworkers) : nw;
		s->nworker_recs = nw;
		s->workers_auto = st->workers_auto;
		s->worker_recs = csp_calloc((size_t)nw, sizeof *s->worker_recs);
		if (rt->slots) {
			int k = atomic_load_explicit(&rt->nchanges, memory_order_acquire);
			s->nchanges_all = k;
			s->nchanges = k < WCHANGES_MAX ? k : WCHANGES_MAX;
			s->changes = csp_calloc((size_t)s->nchanges + 1, sizeof *s->changes);
			memcpy(s->changes, rt->changes, (size_t)s->nchanges * sizeof *s->changes);
		}
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
 * the end: what went in and did not come out was consumed (filtered) or,
 * when the run failed, was aborted or had its drain cut before the stage
 * finished (a truncated .gz, a failing or cut command), lost (dropped);
 * what came out beyond was made (created). */
void engine_balance(struct stage_rt *rt)
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
	if (in + cr > out + f + dr) {
		struct engine *eng = rt->eng;
		int lost = !atomic_load(&rt->finished) &&
			   (atomic_load(&eng->erred) ||
			    ((engine_aborted(eng) || atomic_load(&eng->cut)) &&
			     !atomic_load(&rt->stopped)));
		wstat_add(lost ? &rt->ws[0].dropped : &rt->ws[0].filtered, in + cr - out - f - dr);
	} else if (in + cr < out + f + dr) {
		wstat_add(&rt->ws[0].created, out + f + dr - in - cr);
	}
}

/* A sink's output was taken back (an aborted run's file): what it wrote
 * does not exist, so those records count as dropped, not written.  The
 * threads are joined. */
void engine_discard_written(struct stage_rt *rt)
{
	int nw = rt->st->kind->run ? 1 : rt->st->workers;

	for (int w = 0; w <= nw + 1; w++) {
		struct wstats *ws = &rt->ws[w];
		wstat_add(&ws->dropped, atomic_load(&ws->rec_out));
		atomic_store(&ws->rec_out, 0);
		atomic_store(&ws->bytes_out, 0);
	}
}

/* The last report: on stderr as asked, and into the stats file.  Returns
 * code, or EXIT_RUNTIME when a successful run's stats file cannot be
 * written. */
int engine_print_report(struct engine *eng, const char *outcome, int code)
{
	struct run_report r;
	struct err e = { 0 };

	if (eng->o->stats == STATS_NONE && !eng->o->stats_file)
		return code;
	engine_build_report(eng, &r);
	r.outcome = outcome;
	r.exit_code = code;
	if (eng->o->stats == STATS_JSON)
		stats_print_json(stderr, &r);
	else if (eng->o->stats == STATS_TABLE)
		stats_print_table(stderr, &r);
	if (observe_finish(eng->obs, &r, &e)) {
		fprintf(stderr, "cspipe: %s\n", e.msg);
		if (code == EXIT_OK)
			code = EXIT_RUNTIME;
	}
	report_free(&r);
	return code;
}

/* A live report, for the observer's server thread. */
void engine_snapshot(void *arg, struct run_report *r)
{
	engine_build_report(arg, r);
}
