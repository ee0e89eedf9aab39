/* SPDX-License-Identifier: MIT */
/*
 * sync.h - wait group, once, counting semaphore.
 *
 * Mutexes and atomics are pthreads and <stdatomic.h>; this file does not
 * wrap what libc gives.
 */
#ifndef CSP_SYNC_H
#define CSP_SYNC_H

#include <stdatomic.h>
#include <stddef.h>
#include <pthread.h>

struct ctx;

/* Wait group (Go's sync.WaitGroup).  It may be reused once the count is
 * back at zero, even while waiters of the last round are still leaving. */
struct waitgroup;
struct waitgroup *wg_new(void);
void wg_free(struct waitgroup *wg);
void wg_add(struct waitgroup *wg, int delta);   /* a negative total aborts: misuse */
void wg_done(struct waitgroup *wg);
int wg_wait(struct waitgroup *wg, struct ctx *ctx); /* CSP_OK when the count is zero */

/* Once (Go's sync.Once).  Initialise with ONCE_INIT.  Every caller returns
 * after fn has run once; fn must not call once_do on the same once. */
struct once {
	atomic_int done;
	pthread_mutex_t mu;
};
#define ONCE_INIT { 0, PTHREAD_MUTEX_INITIALIZER }
void once_do(struct once *o, void (*fn)(void *), void *arg);

/* Counting semaphore (Go's buffered-channel pattern); n 0 never grants. */
struct sem;
struct sem *sem_new(size_t n);
void sem_free(struct sem *s);
int sem_acquire(struct sem *s, struct ctx *ctx); /* CSP_OK or the context's error */
int sem_try_acquire(struct sem *s);             /* CSP_OK or CSP_WOULDBLOCK */
int sem_release(struct sem *s);                 /* CSP_INVALID if none is held */
size_t sem_held(struct sem *s);

#endif
