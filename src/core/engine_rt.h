/* SPDX-License-Identifier: MIT */
/*
 * engine_rt.h - the engine's private state of one run, shared by its
 * files: engine.c (wiring, threads and the phases of the run),
 * engine_flow.c (batches flowing through a stage's workers),
 * engine_collect.c (the collector and the shard dispatcher), engine_io.c
 * (run-style stages), engine_auto.c (workers: auto) and engine_report.c
 * (counters summed into a report).  Nothing outside
 * src/core/engine*.c includes it; stages see a stage_rt only as st->rt.
 */
#ifndef CSPIPE_ENGINE_RT_H
#define CSPIPE_ENGINE_RT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "csp/csp.h"
#include "core/engine.h"
#include "core/pipeline.h"
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
	int nudge;                /* no result: a batch was emitted directly
				     (stage_rt.direct_done moved) */
	int worker;               /* shard_by: whose part of the batch */
	struct err *err;          /* the batch failed: reported in its turn */
};

/* A worker place of an auto stage (workers: auto): the controller
 * (engine_auto.c) starts a thread in it, asks that thread to retire, and
 * joins it before starting another there. */
enum { SLOT_EMPTY, SLOT_RUNNING, SLOT_DONE };

struct wslot {
	pthread_t th;
	atomic_int state;         /* SLOT_*: DONE once its thread has ended */
	atomic_int retire;        /* finish the batch in hand, then end */
};

/* The most worker changes an auto stage keeps for the report (later ones
 * are counted only). */
#define WCHANGES_MAX 32

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
	struct ctx *pace;         /* child of ctx, also cancelled when the run stops */
	struct chan *turn;        /* ordered multi-worker: next seq */
	atomic_uint_least64_t next_seq; /* without a turnstile: numbers as taken */
	struct chan *collect;     /* ordered multi-worker: results */
	struct chan **wins;       /* shard_by: each worker's own input */
	uint32_t nshards;         /* shard_by: workers sharing the input, else 0 */
	struct pattern_match *shard_m; /* the dispatcher's, for a pattern key */
	struct field_reader *shard_fr; /* the dispatcher's, for a path key */
	struct sem *window;
	int window_size;
	atomic_int live;          /* workers still running */
	atomic_int stopped;       /* stopped early on purpose */
	atomic_int finished;      /* reached the end of its input normally */
	atomic_int ended;         /* finish_stage ran: its timeout no longer counts */
	atomic_int failed;        /* this stage failed: it takes no more input,
				     flushes nothing, and its output ends where
				     it failed */
	int64_t busy_mark;        /* run-style stages: when the last wait ended */
	int64_t start_ns, end_ns;
	pthread_t *threads;
	size_t nthreads;
	struct err err;
	/* workers: auto (NULL otherwise): a place per worker it may have
	 * (st->workers), the workers it has now (not counting those
	 * retiring), and its changes, written by the controller only. */
	struct wslot *slots;
	atomic_int nworkers;
	/* An ordered auto stage's one worker emits each batch itself, as a
	 * stage of one worker does, until a second worker is first added
	 * (via_collect, set before it starts); each batch's taker reads it
	 * under the turnstile.  direct_done is one past the last batch
	 * emitted so: the collector starts after it. */
	atomic_int via_collect;
	atomic_uint_least64_t direct_done;
	struct worker_change changes[WCHANGES_MAX];
	atomic_int nchanges;      /* all of them, also those not kept */
	int64_t auto_busy;        /* the controller's: busy_ns at its last look */
	int auto_settle;          /* the controller's: looks to wait after a change */
};

struct observer;

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
	atomic_int cut;           /* the drain ran short: waiting stages were cut */
	atomic_int erred;         /* a stage failed: the run drains, then exits 1 */
	struct observer *obs;     /* the stats file and the metrics server */
	struct ctx *auto_ctx;     /* the controller of auto stages, while it runs */
	pthread_t auto_th;
	int auto_budget;          /* workers it may add in all (max_workers - 1) */
};

/* The depth of each worker's own input under shard_by, in batches. */
#define SHARD_BUFFER 2

struct stage_io {
	struct stage_rt *rt;
	struct wstats *ws;
};

/* engine_flow.c, engine_collect.c, engine_io.c: the threads of a stage
 * and what they share. */

/* Record the first error, with the stage's name, and stop the run: the
 * failed stage takes no more input, the sources stop, and what is before
 * the failure drains to the sinks. */
void engine_fail(struct engine *eng, const struct stage *st, const struct err *e);
/* Whether the run is being aborted (the drain context is cancelled). */
int engine_aborted(struct engine *eng);
/* Whether records that stop short of a sink now are lost (dropped) rather
 * than removed on purpose: the run is aborting, has failed, or its drain
 * was cut. */
int engine_losing(struct engine *eng);
/* Count a batch that was never taken where it stopped, and free it. */
void engine_count_untaken(struct stage_rt *rt, struct batch *b, int filtered);
/* Cut the stages that wait by design (KIND_WAITS) late in a drain. */
void engine_cut_waiting(struct engine *eng);
/* Free a list of batches that stop at rt, counted in ws (when not NULL)
 * as filtered (filtered: a reader left on purpose) or dropped. */
void engine_free_list(struct stage_rt *rt, struct batch *b, struct wstats *ws, int filtered);
/* Emit a list in order, through the kind's serial emit hook.  On a stop or
 * error the rest of the list is freed and counted.  CSP_OK, or CSP_CLOSED
 * when nobody reads the stage any more, or the context's error. */
int engine_emit_list(struct stage_rt *rt, struct batch *b, struct wstats *ws);
/* The stage has what it wants or nobody reads it any more. */
void engine_stop_stage(struct stage_rt *rt);
/* End of the stage's output: the kind's trailer (not after the stage
 * failed), then close every edge. */
void engine_finish_stage(struct stage_rt *rt, struct wstats *ws, int ok);
/* Take the next batch from the stage's inputs: CSP_OK, CSP_CLOSED when
 * every input has ended, or the context's error. */
int engine_take_input(struct stage_rt *rt, struct batch **b, struct ctx *ctx);
/* A worker of rt leaves: the last one ends the stage's output. */
void engine_worker_leave(struct stage_rt *rt, struct wstats *ws, int ok);
/* A thread of the run ends: the last one closes eng->done. */
void engine_thread_exit(struct engine *eng);
/* Thread bodies: a process-style worker, a run-style stage's thread, the
 * collector of ordered workers and the dispatcher of shard_by. */
void *engine_worker_main(void *arg);
void *engine_runner_main(void *arg);
void *engine_collector_main(void *arg);
void *engine_dispatch_main(void *arg);

/* engine_auto.c: the controller of workers: auto. */

/* Start the controller when some stage has workers: auto and may grow;
 * 0, or -1 with e set. */
int engine_auto_start(struct engine *eng, struct err *e);
/* Stop the controller and join it; then join every auto stage's worker
 * threads (the run's threads have all ended). */
void engine_auto_stop(struct engine *eng);
void engine_auto_join(struct engine *eng);
/* The worker in w's place was asked to retire. */
int engine_worker_retiring(const struct worker *w);
/* A worker's thread ends: its place may be used again. */
void engine_worker_ended(const struct worker *w);

/* engine_report.c */

/* Sum the live counters into r (the caller frees it with report_free).
 * Safe while the run is going. */
void engine_build_report(struct engine *eng, struct run_report *r);
/* Balance the books of a stage whose records are new (KIND_REFRAMES). */
void engine_balance(struct stage_rt *rt);
/* A sink's output was taken back: what it wrote counts as dropped. */
void engine_discard_written(struct stage_rt *rt);
/* Print the final report as the run options ask (none, table, JSON). */
int engine_print_report(struct engine *eng, const char *outcome, int code);
void engine_snapshot(void *eng, struct run_report *r);   /* for the observer */

#endif
