/* SPDX-License-Identifier: MIT */
/*
 * errgroup.h - a group of threads whose first error cancels the rest.
 *
 * As Go's errgroup: errgroup_go starts fn on a new thread with the group's
 * context; the first fn to return non-zero cancels that context; wait joins
 * every thread and returns the first error.  With a limit, errgroup_go
 * blocks while `limit` tasks are running.
 */
#ifndef CSP_ERRGROUP_H
#define CSP_ERRGROUP_H

struct ctx;
struct errgroup;

typedef int (*errgroup_fn)(struct ctx *ctx, void *arg);

/* The group's context is a child of parent.  limit 0: no limit. */
struct errgroup *errgroup_new(struct ctx *parent, int limit);
struct ctx *errgroup_ctx(struct errgroup *g);
/* Start fn(ctx, arg).  Returns CSP_OK, or the parent context's error if it
 * was waiting for a free slot and the context ended (fn is not run), or
 * CSP_INVALID when no thread could be started (fn is not run; the group
 * fails with CSP_INVALID, the cause says why). */
int errgroup_go(struct errgroup *g, errgroup_fn fn, void *arg);
/* Join all; return the first non-zero result of a task, or 0.  The
 * group's context is cancelled when it returns (as in Go). */
int errgroup_wait(struct errgroup *g);
void errgroup_free(struct errgroup *g); /* after wait (else it waits first) */

#endif
