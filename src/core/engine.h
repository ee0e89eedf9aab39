/* SPDX-License-Identifier: MIT */
/*
 * engine.h - run a pipeline: threads, channels, the context tree, shutdown
 * and the accounting of every record.
 */
#ifndef CSPIPE_ENGINE_H
#define CSPIPE_ENGINE_H

#include <stdint.h>

struct pipeline;
struct stage;
struct ctx;

enum stats_mode { STATS_NONE, STATS_TABLE, STATS_JSON };

struct run_opts {
	enum stats_mode stats;
	int progress;            /* 0 off, 1 when stderr is a terminal, 2 forced */
	struct ctx *signals;     /* cancelled by SIGINT/SIGTERM (ctx_with_signals) */
	struct chan *usr1;       /* receives SIGUSR1 (prints stats), or NULL */
	const char *stats_file;  /* --stats=json:FILE: the JSON stats, atomically */
	int64_t stats_interval;  /* ns: rewrite stats_file this often (0: at the end) */
	const char *metrics_addr; /* HOST:PORT: serve /metrics, /healthz, /stats */
};

/* The worst-case memory a run of p can hold, in bytes (channel
 * capacities times batch size, reorder windows, per-worker buffers and
 * the kinds' own, thread stacks), for `cspipe validate`. */
uint64_t engine_memory_bound(const struct pipeline *p);

/* What a process does around its runs, before any thread exists and at
 * the end: SIGPIPE ignored (a closed reader is an error return, not a
 * death), SIGINT and SIGTERM made the cancellation of o->signals, SIGUSR1
 * sent to o->usr1 (a stats print); engine_teardown undoes it and returns
 * the batch pool's memory.  Neither can fail. */
void engine_setup(struct run_opts *o);
void engine_teardown(struct run_opts *o);

/* Run p to the end and return the exit status (util.h's EXIT_*), having
 * printed any error and the requested statistics on stderr (and written
 * the stats file, whatever the outcome, once the stages were set up). */
int engine_run(struct pipeline *p, const struct run_opts *o);

/* For tests only: called while a batch is being sent, after its readers
 * were chosen (widens the window in which a reader may leave).  NULL in
 * every real run. */
extern void (*engine_emit_pause)(void);
/* For tests: when set, the controller of workers: auto does not measure:
 * at each look it asks this for the workers each auto stage st should
 * have (it has `workers` now and may have up to `max`), and moves towards
 * that by one; and it looks every engine_auto_tick ns (default 200 ms). */
extern int (*engine_auto_want)(const struct stage *st, int workers, int max);
extern int64_t engine_auto_tick;

#endif
