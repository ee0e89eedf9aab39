/* SPDX-License-Identifier: MIT */
/*
 * ctx.h - contexts: cancellation, deadlines and values down a tree.
 *
 * As Go's context package.  A context is cancelled by its own cancel call,
 * by its parent's cancellation, or by its deadline passing; cancelling a
 * parent cancels every descendant.  Its done channel is closed on
 * cancellation and may be used in chan_select like any channel.
 *
 * Deadlines need no timer thread: a call blocked under a context parks until
 * the earliest deadline in its ancestry, and whoever observes a passed
 * deadline (a parked call waking, ctx_err, ctx_done) cancels the context
 * that owns it with CSP_DEADLINE.
 *
 * Lifetime: every context made by ctx_with_* is handed to the caller, who
 * must ctx_release it (Go's `defer cancel()`); release cancels it, detaches
 * it from its parent and frees it once no child still refers to it.  So a
 * long run that makes and releases children does not grow.  A child may be
 * released before or after its parent.
 */
#ifndef CSP_CTX_H
#define CSP_CTX_H

#include <stddef.h>
#include <stdint.h>

struct ctx;
struct chan;

/* The root: never cancelled, no deadline, no values; releasing it does
 * nothing.  Passing NULL where a context is expected means the same. */
struct ctx *ctx_background(void);

struct ctx *ctx_with_cancel(struct ctx *parent);
struct ctx *ctx_with_deadline(struct ctx *parent, int64_t deadline); /* csp_now() clock */
struct ctx *ctx_with_timeout(struct ctx *parent, int64_t timeout_ns);
struct ctx *ctx_with_value(struct ctx *parent, const void *key, void *value);

/* A context cancelled when SIGINT or SIGTERM arrives (after this call).
 * The signals are blocked in the calling thread and in the threads it
 * starts afterwards, and consumed by a runtime thread, so install this in
 * main() before starting workers.  The cause code is the signal number. */
struct ctx *ctx_with_signals(struct ctx *parent);
/* How many SIGINT/SIGTERM the runtime has received so far. */
unsigned csp_signal_count(void);
/* Stop the runtime's signal thread (joins it) and restore the signals'
 * dispositions (the calling thread's mask, as before the first
 * ctx_with_signals or csp_signal_notify); contexts made by
 * ctx_with_signals stay valid but no signal cancels them any more. */
void csp_signal_shutdown(void);
/* Go's signal.Notify: from now on each `sig` the process receives is sent
 * to ch (a channel of int) with a non-blocking send, dropped when ch is
 * full.  Blocks sig in the calling thread like ctx_with_signals. */
void csp_signal_notify(struct chan *ch, int sig);
/* Go's signal.Stop: nothing is sent to ch once this returns. */
void csp_signal_stop(struct chan *ch);

void ctx_cancel(struct ctx *c);     /* cause: CSP_CANCELED, "context canceled" */
/* Cancel with a cause: err is CSP_CANCELED or CSP_DEADLINE (what ctx_err
 * will say), code and msg are the caller's (Go's context.Cause).  The first
 * cancellation wins; later ones do nothing.  msg is copied. */
void ctx_cancel_cause(struct ctx *c, int err, int code, const char *msg);
void ctx_release(struct ctx *c);

/* 0 while live, else CSP_CANCELED or CSP_DEADLINE (checks the deadline). */
int ctx_err(struct ctx *c);
/* The cause of cancellation: returns its code (0 while live) and, when msg
 * is not NULL, its message (valid as long as c).  A context cancelled by an
 * ancestor has that ancestor's cause. */
int ctx_cause(struct ctx *c, const char **msg);
struct chan *ctx_done(struct ctx *c);   /* closed when c is cancelled; NULL for background */
int64_t ctx_deadline(struct ctx *c);    /* earliest deadline in c's ancestry, or 0 */
void *ctx_value(struct ctx *c, const void *key); /* nearest ancestor's value, or NULL */
/* Children of c still attached: not yet released nor cancelled (with c).
 * For tests and leak checks: a parent whose children are all released has
 * none. */
size_t ctx_child_count(struct ctx *c);

/* Go's context.AfterFunc: call fn(arg) once, on the thread that cancels c
 * (or at once, on this thread, if c is already done).  It lets a call that
 * blocks outside the runtime (poll on a file descriptor) be woken by
 * cancellation.  fn must not block.  Returns a handle for ctx_stop_func, or
 * NULL when fn already ran.  ctx_stop_func frees the handle; it returns 1
 * if it stopped fn from running, 0 if fn has run (when fn is running on
 * another thread, it waits for fn to return, so that arg may be freed after
 * it).  Call it before releasing c; a handle never stopped is freed when c
 * is freed. */
struct ctx_func;
struct ctx_func *ctx_after_func(struct ctx *c, void (*fn)(void *), void *arg);
int ctx_stop_func(struct ctx *c, struct ctx_func *f);

#endif
