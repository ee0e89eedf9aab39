/* SPDX-License-Identifier: MIT */
/*
 * clock.c - monotonic time and sleeping.
 */
#include "csp/clock.h"
#include "csp/csp.h"
#include "csp/wait.h"

#include <time.h>

int64_t csp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * CSP_NS_PER_S + ts.tv_nsec;
}

/*
 * Park for ns nanoseconds on the same waiter as a blocked channel call, so
 * that the context's cancellation wakes the sleeper at once and its
 * deadline ends the sleep without a timer thread.  Returns CSP_OK when the
 * time has passed, or the context's error if it ended first (a deadline
 * that falls no later than the end of the sleep wins: the sleep did not
 * complete).  ns <= 0 only checks the context.  Can't fail otherwise.
 */
int csp_sleep(int64_t ns, struct ctx *ctx)
{
	struct waiter *w;
	int64_t until, dl;
	int err, fired;

	err = ctx_is_background(ctx) ? 0 : ctx_err(ctx);
	if (err || ns <= 0)
		return err;
	until = csp_now() + ns;
	w = waiter_self();
	waiter_arm(w);
	fired = chan_park(w, ctx, until);
	if (fired == WAIT_CTX_DONE)
		return ctx_err_fast(ctx);
	dl = ctx_is_background(ctx) ? 0 : ctx_deadline(ctx);
	if (dl && dl <= until)
		return ctx_expire(ctx);
	return CSP_OK;
}
