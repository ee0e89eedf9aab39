/* SPDX-License-Identifier: MIT */
/*
 * pipeline.h - the data model every layer above the stage interface
 * shares: a pipeline is its stages in file order (implicit ones included),
 * joined by each stage's inputs, with the run's timeouts, and the limits
 * on its size.  The loader (graph.h) makes one; the engine (engine.h)
 * runs it; dot and the stats read it.
 */
#ifndef CSPIPE_PIPELINE_H
#define CSPIPE_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

struct stage;

struct node;

struct pipeline {
	const char *file;            /* as given; "-e" for inline */
	char *name;
	int64_t timeout;             /* ns, 0: none */
	int64_t shutdown_timeout;    /* ns */
	const char *timeout_from;    /* "timeout" or "-t" (for messages) */
	char *metrics_addr;          /* metrics_addr: HOST:PORT, or NULL */
	const struct node *metrics_addr_at;
	int max_workers;             /* max_workers: the most workers an auto
					stage may have, and one more than the
					workers auto stages may add in all;
					0: the number of CPUs */
	struct stage **stages;       /* in file order; implicit stages included */
	size_t n;
};

/* The most stages a pipeline may have. */
#define MAX_STAGES 10000

/* The most workers a stage may have. */
#define MAX_WORKERS 10000

/* What the loader's common options hold for `workers: auto` before
 * st->workers is set (st->workers_auto says it then). */
#define STAGE_WORKERS_AUTO 0

/* The most stages one stage may read. */
#define MAX_INPUTS 64

/* Default drain time after a deadline or signal. */
#define SHUTDOWN_TIMEOUT_DEFAULT (5 * 1000000000LL)

/* The stage named name, or NULL. */
struct stage *pipeline_find(const struct pipeline *p, const char *name);

#endif
