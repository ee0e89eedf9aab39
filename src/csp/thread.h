/* SPDX-License-Identifier: MIT */
/*
 * thread.h - workers are OS threads with small stacks.
 */
#ifndef CSP_THREAD_H
#define CSP_THREAD_H

#include <pthread.h>
#include <stddef.h>

/* Default stack for workers: enough for PCRE2 JIT (which has its own stack)
 * and zlib (whose state is on the heap), small enough for 1,000 workers. */
#define CSP_STACK_SIZE (256 * 1024)

/* Start fn(arg) on a new thread with CSP_STACK_SIZE (stack 0) or the given
 * stack size.  Returns 0 or an errno value (EAGAIN when the system refuses
 * more threads); the caller owns the thread and must join it. */
int csp_thread_start(pthread_t *t, void *(*fn)(void *), void *arg, size_t stack);

#endif
