/* SPDX-License-Identifier: MIT */
/*
 * wait.c - locks and parking: spin briefly, then sleep on a futex.
 *
 * Linux only: the futex is the one primitive that lets a waker skip the
 * system call when nobody sleeps and lets a sleeper give an absolute
 * CLOCK_MONOTONIC timeout (the deadline of its context).
 */
#include "csp/wait.h"
#include "csp/csp.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How long a waiter spins before it sleeps, in pause instructions, and how
 * many times it then yields the processor.  A peer that answers within a
 * few microseconds (a ping-pong, a consumer keeping up) is caught without a
 * system call on either side; a longer wait costs one futex sleep. */
#define SPIN_PAUSES 200
#define SPIN_YIELDS 4
/* The lock's critical sections are a few memcpy's long. */
#define LOCK_SPINS 100

static _Thread_local struct waiter self_waiter;

/* Sleep while *word == val, until woken or until the absolute monotonic
 * time deadline (0: none).  Returns 0, or ETIMEDOUT; spurious wake-ups and
 * EAGAIN (the word had already changed) return 0 and callers recheck. */
static int futex_wait(atomic_int *word, int val, int64_t deadline)
{
	struct timespec ts, *tsp = NULL;

	if (deadline > 0) {
		ts.tv_sec = deadline / CSP_NS_PER_S;
		ts.tv_nsec = deadline % CSP_NS_PER_S;
		tsp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout, so a
	 * wait that is woken spuriously keeps the same deadline. */
	if (syscall(SYS_futex, word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
		    val, tsp, NULL, FUTEX_BITSET_MATCH_ANY) == -1 &&
	    errno == ETIMEDOUT)
		return ETIMEDOUT;
	return 0;
}

static void futex_wake(atomic_int *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL,
		NULL, 0);
}

/* The contended path of csp_lock: spin while the holder is likely to be
 * quick, then mark the lock contended (2) and sleep until it is free. */
void csp_lock_slow(struct csp_lock *l)
{
	int c;

	for (int i = 0; i < LOCK_SPINS; i++) {
		c = atomic_load_explicit(&l->v, memory_order_relaxed);
		if (c == 0 && atomic_compare_exchange_weak_explicit(
				      &l->v, &c, 1, memory_order_acquire,
				      memory_order_relaxed))
			return;
		if (c == 2)
			break;
		csp_pause();
	}
	/* Taking it as 2 may wake one sleeper too many at unlock; that is the
	 * price of never losing a wake-up. */
	while (atomic_exchange_explicit(&l->v, 2, memory_order_acquire) != 0)
		futex_wait(&l->v, 2, 0);
}

void csp_unlock_slow(struct csp_lock *l)
{
	futex_wake(&l->v, 1);
}

struct waiter *waiter_self(void)
{
	return &self_waiter;
}

int waiter_claim(struct waiter *w)
{
	int s = atomic_load_explicit(&w->state, memory_order_relaxed);

	for (;;) {
		int to;

		if (s == WAIT_ARMED)
			to = WAIT_CLAIMED;
		else if (s == WAIT_SLEEPING)
			to = WAIT_CLAIMED_SLEEPING;
		else
			return 0;
		if (atomic_compare_exchange_weak_explicit(
			    &w->state, &s, to, memory_order_acquire,
			    memory_order_relaxed))
			return 1;
	}
}

void waiter_fire(struct waiter *w, int idx)
{
	/* Release: what the waker wrote into the sudog is visible to the
	 * waiter once it sees idx. */
	if (atomic_exchange_explicit(&w->state, idx, memory_order_release) ==
	    WAIT_CLAIMED_SLEEPING)
		futex_wake(&w->state, 1);
}

int waiter_try_fire(struct waiter *w, int idx)
{
	if (!waiter_claim(w))
		return 0;
	waiter_fire(w, idx);
	return 1;
}

/*
 * Wait for a waker.  The state moves ARMED -> SLEEPING before the thread
 * sleeps, so a waker knows whether a futex wake is needed; a claimed
 * waiter (CLAIMED) only waits for the waker's fire, which takes as long as
 * a memcpy, and does not time out then: the value is already on its way.
 * Returns the fired index or WAIT_TIMEOUT.
 */
int waiter_park(struct waiter *w, int64_t deadline)
{
	int spins = 0, s;

	for (;;) {
		s = atomic_load_explicit(&w->state, memory_order_acquire);
		if (s >= 0 || s == WAIT_TIMEOUT)
			return s;
		if ((s == WAIT_ARMED || s == WAIT_CLAIMED) &&
		    spins < SPIN_PAUSES + SPIN_YIELDS) {
			if (spins++ < SPIN_PAUSES)
				csp_pause();
			else
				sched_yield();
			continue;
		}
		switch (s) {
		case WAIT_ARMED:
			atomic_compare_exchange_strong_explicit(
				&w->state, &s, WAIT_SLEEPING,
				memory_order_relaxed, memory_order_relaxed);
			break;
		case WAIT_CLAIMED:
			atomic_compare_exchange_strong_explicit(
				&w->state, &s, WAIT_CLAIMED_SLEEPING,
				memory_order_relaxed, memory_order_relaxed);
			break;
		case WAIT_SLEEPING:
			if (futex_wait(&w->state, s, deadline) == ETIMEDOUT)
				atomic_compare_exchange_strong_explicit(
					&w->state, &s, WAIT_TIMEOUT,
					memory_order_relaxed,
					memory_order_relaxed);
			break;
		default: /* WAIT_CLAIMED_SLEEPING */
			futex_wait(&w->state, s, 0);
			break;
		}
	}
}
