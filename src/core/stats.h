/* SPDX-License-Identifier: MIT */
/*
 * stats.h - what a run did, per stage and in total, for --stats, the
 * SIGUSR1 report, the live view and `cspipe graph --stats`.
 */
#ifndef CSPIPE_STATS_H
#define CSPIPE_STATS_H

#include <stdint.h>
#include <stdio.h>

struct pipeline;
struct stage;
struct stage_counter;

/* A change in the workers of an auto stage: from then on it had workers. */
struct worker_change {
	double at_s;             /* since the start of the run */
	int workers;
};

struct stage_report {
	const struct stage *st;
	uint64_t rec_in, rec_out, filtered, dropped, created;
	uint64_t bytes_in, bytes_out, batches;
	int64_t busy_ns;         /* summed over workers */
	int64_t wait_in_ns;      /* its readers blocked waiting for input */
	int64_t wait_out_ns;     /* its writers blocked waiting for output space */
	uint64_t *worker_recs;   /* records taken in, per worker */
	int workers;             /* auto: the workers it has now */
	int nworker_recs;        /* entries of worker_recs */
	int workers_auto;        /* workers: auto */
	struct worker_change *changes;  /* auto: in time order (the caller's copy) */
	int nchanges;            /* kept in changes */
	int nchanges_all;        /* made, kept or not */
	int busy_workers;        /* inside process right now (live view) */
	uint64_t out_len, out_cap; /* output channels: batches queued / capacity */
	int bottleneck;          /* 1 for the stage that limits throughput */
	struct stage_counter *extra;  /* the kind's own figures */
	size_t nextra;
};

struct run_report {
	const struct pipeline *p;
	struct stage_report *stages;
	size_t n;
	uint64_t read, written, filtered, dropped, created;
	double elapsed_s;
	const char *bottleneck;  /* name, or NULL when none stands out */
	const char *outcome;     /* "ok", "error", "deadline", "interrupted", "terminated", "running" */
	int exit_code;
};

/* Pick the stage that limits throughput: the busiest stage relative to
 * its workers, among those whose neighbours wait on it. */
void report_verdict(struct run_report *r);
void stats_print_table(FILE *f, const struct run_report *r);
void stats_print_json(FILE *f, const struct run_report *r);
void report_free(struct run_report *r);

#endif
