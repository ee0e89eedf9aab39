/* SPDX-License-Identifier: MIT */
/*
 * csp.h - the runtime: Go's concurrency model for C.
 *
 * Channels, select, contexts, wait groups, once, semaphores, rate limiters,
 * circuit breakers, error groups and threads.  The runtime knows nothing of
 * pipelines; it could ship as its own library.
 *
 * Conventions, for every module below:
 *  - Every call that can block takes a context and returns one of the
 *    results below, never a bare errno.
 *  - A value sent on a channel is copied in; ownership of whatever it points
 *    to passes to the receiver.
 *  - x_free(NULL) is harmless.
 *  - Out of memory ends the process with exit status 1 (csp_oom): the
 *    runtime has no partial-failure paths for allocation.  The program may
 *    set a handler that says where and cleans up first (csp_on_oom).
 */
#ifndef CSP_CSP_H
#define CSP_CSP_H

/* Results of runtime operations.  Zero is success; the others are distinct so
 * that a caller can tell why a blocking call returned. */
enum {
	CSP_OK = 0,
	CSP_CLOSED = -1,     /* the channel is closed (or abandoned by its reader) */
	CSP_CANCELED = -2,   /* the context was cancelled */
	CSP_DEADLINE = -3,   /* the context's deadline passed */
	CSP_WOULDBLOCK = -4, /* a non-blocking call could not proceed */
	CSP_INVALID = -5,    /* misuse reported instead of crashing (e.g. double close) */
	CSP_OPEN = -6,       /* circuit breaker is open: call refused */
};

/* A short English name for a result code ("closed", "deadline exceeded"). */
const char *csp_strerror(int result);

/* Report an allocation failure and end the process with status 1: the
 * handler set by csp_on_oom runs first (it must not allocate nor return
 * to its caller's work; it may print and unlink), else the message is
 * "cspipe: out of memory".  Never returns. */
_Noreturn void csp_oom(void);
void csp_on_oom(void (*handler)(void));

/* Allocation helpers that abort on failure (csp_oom). */
void *csp_malloc(unsigned long size);
void *csp_calloc(unsigned long n, unsigned long size);
void *csp_realloc(void *p, unsigned long size);
char *csp_strdup(const char *s);

#include "clock.h"
#include "chan.h"
#include "ctx.h"
#include "sync.h"
#include "rate.h"
#include "breaker.h"
#include "errgroup.h"
#include "thread.h"

#endif
