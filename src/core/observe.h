/* SPDX-License-Identifier: MIT */
/*
 * observe.h - watching a run from outside: the stats file (--stats=json:FILE,
 * rewritten every --stats-interval) and the metrics server (--metrics-addr:
 * GET /metrics, /healthz, /stats).
 *
 * The engine owns one observer per run: observe_new before any stage
 * starts (so that a busy port stops the run before it does anything),
 * observe_serve once the stages run, observe_tick from its wait loop,
 * observe_draining when the drain begins, observe_finish with the last
 * report, observe_free before the stages' state goes (it stops the server
 * and joins its thread).
 */
#ifndef CSPIPE_OBSERVE_H
#define CSPIPE_OBSERVE_H

#include <stdint.h>
#include <stdio.h>

struct err;
struct run_report;
struct observer;

struct observe_opts {
	const char *stats_file;      /* write the JSON stats here, or NULL */
	int64_t stats_interval;      /* ns between rewrites during the run; 0: at the end only */
	const char *metrics_addr;    /* HOST:PORT to serve on, or NULL */
};

/* A live report of the run (the caller frees it with report_free); called
 * from the server's thread while the run goes on. */
typedef void (*observe_snapshot_fn)(void *arg, struct run_report *r);

/* Bind the metrics address, if any (nothing is served yet); print the
 * bound address on stderr.  NULL with e set ("metrics: cannot listen on
 * ADDR: ...") when it cannot; an observer otherwise, even with nothing to
 * observe. */
struct observer *observe_new(const struct observe_opts *o, struct err *e);

/* Start answering requests, with fn(arg) for the figures.  0, or -1 with e
 * set. */
int observe_serve(struct observer *ob, observe_snapshot_fn fn, void *arg, struct err *e);

/* When the next periodic write is due (csp_now() time), or 0: never. */
int64_t observe_next(const struct observer *ob);

/* Rewrite the stats file if it is due (outcome "running", or "draining"
 * once observe_draining was called).  A failure is a warning (once): the
 * run goes on. */
void observe_tick(struct observer *ob);

/* From now on /healthz answers 503, and /stats and the stats file say
 * "draining". */
void observe_draining(struct observer *ob);

/* Write the final stats file from r.  0, or -1 with e set. */
int observe_finish(struct observer *ob, const struct run_report *r, struct err *e);

/* Stop accepting, let requests in progress finish (a second at most),
 * close, join the server's thread, free.  NULL is harmless. */
void observe_free(struct observer *ob);

/* Write the JSON of r to path atomically (a temporary file in the same
 * folder, renamed).  0, or -1 with e set. */
int stats_write_file(const char *path, const struct run_report *r, struct err *e);

/* The Prometheus text exposition of r. */
void stats_print_prometheus(FILE *f, const struct run_report *r);

#endif
