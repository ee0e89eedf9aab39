/* SPDX-License-Identifier: MIT */
/*
 * wait.h - private to the runtime: how a thread waits and is woken.
 *
 * One scheme serves channels, select, contexts and sleeps.  A blocked call
 * puts one `sudog` (a record on its own stack) in the wait queue of each
 * channel it waits on, then parks on its thread's `waiter`.  A waker that
 * finds the sudog first claims the waiter (an atomic compare-and-swap, so
 * exactly one case of a select wins), moves the value straight to or from
 * the sudog's memory under the channel's lock, and fires the waiter after
 * unlocking.  The parked thread spins a little, then sleeps on a futex with
 * the earliest deadline of its context as the timeout; on waking it takes
 * its other sudogs out of their queues before it returns, so that no queue
 * ever points at a dead stack frame.
 *
 * Contexts add nothing new: a call under a context also waits on the
 * context's done channel, which cancellation closes.
 *
 * Other runtime modules may build on this (a wait group or semaphore can
 * queue sudogs in its own waitq under its own csp_lock), but the simplest is
 * to build on channels and contexts.
 */
#ifndef CSP_WAIT_H
#define CSP_WAIT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct chan;
struct ctx;

/* Tell the processor that this is a spin-wait loop. */
static inline void csp_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* A lock for short critical sections: 0 free, 1 held, 2 held with
 * sleepers.  It spins briefly and then sleeps on a futex (Drepper,
 * "Futexes are tricky").  Four bytes, zero-initialised, nothing to free. */
struct csp_lock {
	atomic_int v;
};

void csp_lock_slow(struct csp_lock *l);
void csp_unlock_slow(struct csp_lock *l);

static inline void csp_lock(struct csp_lock *l)
{
	int free_ = 0;

	if (!atomic_compare_exchange_strong_explicit(&l->v, &free_, 1,
						     memory_order_acquire,
						     memory_order_relaxed))
		csp_lock_slow(l);
}

static inline void csp_unlock(struct csp_lock *l)
{
	if (atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2)
		csp_unlock_slow(l);
}

/* A parked thread.  Its state is the futex word: one of the negative
 * values below while waiting, then the index of the sudog that fired it. */
struct waiter {
	atomic_int state;
};

enum {
	WAIT_ARMED = -1,            /* waiting, spinning */
	WAIT_SLEEPING = -2,         /* waiting, asleep on the futex */
	WAIT_CLAIMED = -3,          /* a waker won and is moving the value */
	WAIT_CLAIMED_SLEEPING = -4, /* the same while the thread sleeps */
	WAIT_TIMEOUT = -5,          /* the deadline passed first */
	WAIT_CTX_DONE = 0x7fffffff, /* index of a context's done sudog */
};

/* This thread's waiter.  Can't fail. */
struct waiter *waiter_self(void);

/* Get ready to wait: call before the first sudog is queued. */
static inline void waiter_arm(struct waiter *w)
{
	/* Relaxed: wakers find the sudog through a lock, which orders this. */
	atomic_store_explicit(&w->state, WAIT_ARMED, memory_order_relaxed);
}

/* Waker side: 1 if the caller won the waiter and must now finish the
 * transfer and waiter_fire it; 0 if another case already won. */
int waiter_claim(struct waiter *w);
/* Waker side, after a successful claim: publish idx and wake the thread.
 * The waiter may return (and its stack vanish) as soon as this starts. */
void waiter_fire(struct waiter *w, int idx);
/* Claim and fire in one step, e.g. a waiter firing itself.  1 if won. */
int waiter_try_fire(struct waiter *w, int idx);
/* Park until fired or until the CLOCK_MONOTONIC time deadline (0: none).
 * Returns the fired index or WAIT_TIMEOUT.  Can't fail. */
int waiter_park(struct waiter *w, int64_t deadline);

/* One blocked call's entry in one wait queue.  Lives on the blocked
 * thread's stack; every field but the outputs belongs to the queue's lock. */
struct sudog {
	struct sudog *next, *prev;
	struct waiter *w;
	void *elem;         /* values to send, or room for received ones (NULL: discard) */
	size_t n;           /* how many values elem holds or has room for */
	size_t moved;       /* out: how many the waker moved */
	int64_t since;      /* csp_now() when queued (blocked-time stats); 0: not counted */
	int idx;            /* what the waiter sees when this sudog fires */
	int result;         /* out: CSP_OK or CSP_CLOSED */
	unsigned char queued; /* 1 while in a queue */
};

/* A FIFO of sudogs, guarded by its owner's lock. */
struct waitq {
	struct sudog *head, *tail;
};

static inline void waitq_push(struct waitq *q, struct sudog *sg)
{
	sg->next = NULL;
	sg->prev = q->tail;
	if (q->tail)
		q->tail->next = sg;
	else
		q->head = sg;
	q->tail = sg;
	sg->queued = 1;
}

static inline void waitq_remove(struct waitq *q, struct sudog *sg)
{
	if (sg->prev)
		sg->prev->next = sg->next;
	else
		q->head = sg->next;
	if (sg->next)
		sg->next->prev = sg->prev;
	else
		q->tail = sg->prev;
	sg->next = sg->prev = NULL;
	sg->queued = 0;
}

/* Take sudogs off the head of q until one whose waiter this caller wins;
 * the losers (other cases of a select that has already fired) are dropped.
 * NULL when none is left. */
static inline struct sudog *waitq_claim(struct waitq *q)
{
	struct sudog *sg;

	while ((sg = q->head) != NULL) {
		waitq_remove(q, sg);
		if (waiter_claim(sg->w))
			return sg;
	}
	return NULL;
}

/* Park the calling thread, whose armed waiter w already has its sudogs
 * queued, until a sudog fires, ctx is done, or the time until (0: none)
 * or ctx's deadline passes.  Waits on ctx's done channel for the time of
 * the call.  Returns the fired index, WAIT_CTX_DONE or WAIT_TIMEOUT; the
 * caller takes its own sudogs out of their queues.  (chan.c) */
int chan_park(struct waiter *w, struct ctx *ctx, int64_t until);

/* Hooks between channels and contexts (ctx.c). */
int ctx_is_background(struct ctx *c);   /* 1 for NULL and ctx_background() */
int ctx_err_fast(struct ctx *c);        /* ctx_err without the clock */
/* After a wait under c timed out at its deadline: cancel the ancestor that
 * owns the deadline with CSP_DEADLINE and return c's error. */
int ctx_expire(struct ctx *c);
void ctx_ref(struct ctx *c);
void ctx_unref(struct ctx *c);
/* Have fn(c) run when c is released (ctx_release), before it is cancelled:
 * how a registry that holds c lets go of it (signal.c's).  One per
 * context, set before c is shared. */
void ctx_on_release(struct ctx *c, void (*fn)(struct ctx *c));

#endif
