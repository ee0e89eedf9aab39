/* SPDX-License-Identifier: MIT */
/*
 * thread.c - start worker threads with small stacks.
 *
 * Workers are plain pthreads; the only thing the runtime adds is the stack
 * size, so that a pipeline with a thousand workers does not reserve the
 * default 8 MiB each.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>

#include "csp.h"

/*
 * Start fn(arg) on a new joinable thread whose stack is `stack` bytes, or
 * CSP_STACK_SIZE when stack is 0.  A size below the system minimum is raised
 * to it rather than refused, since the caller asked for "small", not for an
 * exact figure.  The new thread inherits the caller's signal mask, which is
 * how ctx_with_signals keeps SIGINT/SIGTERM away from workers.
 *
 * Returns 0 and stores the thread in *t, or an errno value (EAGAIN when the
 * system refuses another thread, EINVAL for a size it cannot use); *t is
 * then unspecified and there is nothing to join.  The caller owns the thread
 * and must join it.
 */
int csp_thread_start(pthread_t *t, void *(*fn)(void *), void *arg, size_t stack)
{
	pthread_attr_t attr;
	int err;

	if (stack == 0)
		stack = CSP_STACK_SIZE;
	if (stack < (size_t)PTHREAD_STACK_MIN)
		stack = (size_t)PTHREAD_STACK_MIN;
	err = pthread_attr_init(&attr);
	if (err != 0)
		return err;
	err = pthread_attr_setstacksize(&attr, stack);
	if (err != 0)
		goto out;
	err = pthread_create(t, &attr, fn, arg);
out:
	pthread_attr_destroy(&attr);
	return err;
}
