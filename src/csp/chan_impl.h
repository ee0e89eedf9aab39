/* SPDX-License-Identifier: MIT */
/*
 * chan_impl.h - private to chan.c and chan_ring.c: a channel's layout,
 * the lock-free buffer of a buffered channel, and the queue and wake-up
 * helpers both files use.
 *
 * A buffered channel's values move through a ring that senders and
 * receivers share without the channel's lock (after Vyukov's bounded
 * queue: each cell has a stamp that says whose turn it is).  The lock
 * guards only the wait queues and the closed flags; a value never waits
 * for it.  Capacity 0 has no ring: a rendezvous is always a hand-over
 * under the lock (chan.c).
 *
 * Positions: head and tail count lap * one_lap + index, where index <
 * cap and one_lap is a power of two above cap, so no division is ever
 * needed; `mark`, the bit between them, set in tail, closes the ring to
 * senders (chan_close or chan_abandon).  A cell at index i is free for
 * the send at position p when its stamp is p, and holds the value of that
 * send when its stamp is p + 1; the receive at p frees it for p + one_lap.
 */
#ifndef CSP_CHAN_IMPL_H
#define CSP_CHAN_IMPL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "csp/chan.h"
#include "csp/wait.h"

/* Senders write tail, receivers write head, and parkers the lock's line:
 * each on its own cache line, so that a sender and a receiver streaming
 * values do not pull one line back and forth for unrelated counters. */
struct chan {
	/* Set by chan_new, read-only after. */
	size_t elem_size;
	size_t cap;
	size_t mark;            /* tail's closed bit; index bits lie below it */
	unsigned lap_shift;     /* one_lap == (size_t)1 << lap_shift */
	unsigned char *buf;     /* cap values */
	atomic_size_t *stamps;  /* cap stamps */

	alignas(64) atomic_size_t tail;
	alignas(64) atomic_size_t head;

	alignas(64) struct csp_lock lock;
	/* 1 while sendq / recvq holds a sudog: written under the lock, read by
	 * senders and receivers of a buffered channel without it. */
	atomic_int send_parked, recv_parked;
	unsigned char closed;    /* by a sender: chan_close */
	unsigned char abandoned; /* by the reader: chan_abandon */
	struct waitq sendq, recvq;
	/* Capacity 0: every counter but the slot's hand-overs.  Buffered:
	 * only the waits; sent and received are the ring's positions. */
	struct chan_stats stats;

	/* Capacity 0: the hand-over slot (chan_slot.c), on a line of its own
	 * that a spinning receiver and its sender share. */
	alignas(64) atomic_int slot_state;
	atomic_int shut;               /* closed or abandoned: set under the lock */
	atomic_uint_least64_t slot_moved;
	unsigned char slot_val[48];
};

/* Peers an operation completed: fired once the lock is released, so that a
 * woken thread never runs into a lock its waker still holds. */
struct wakeup {
	struct sudog *list;
	int64_t now; /* read once, when the first parked peer is accounted */
};

/* Element i of an array of es-byte values; NULL stays NULL (a receive
 * that discards its values, or zero-size values). */
static inline unsigned char *at(const void *base, size_t i, size_t es)
{
	return base ? (unsigned char *)base + i * es : NULL;
}

static inline struct waitq *queue(struct chan *ch, int dir)
{
	return dir == SEL_SEND ? &ch->sendq : &ch->recvq;
}

static inline atomic_int *parked(struct chan *ch, int dir)
{
	return dir == SEL_SEND ? &ch->send_parked : &ch->recv_parked;
}

/* chan.c: queues (under the lock; they keep the parked flags) and wake-ups. */
void q_push(struct chan *ch, int dir, struct sudog *sg);
void q_remove(struct chan *ch, int dir, struct sudog *sg);
struct sudog *q_claim(struct chan *ch, int dir);
void sudog_init(struct sudog *sg, struct waiter *w, void *elem, size_t n,
		int idx, int64_t since);
void count_wait(struct chan *ch, int dir, int64_t since, int64_t now);
void wake_later(struct chan *ch, struct wakeup *wk, struct sudog *sg, int dir,
		int result);
void wake_all(struct wakeup *wk);

/* chan_ring.c: buffered channels.  ring_move is chan_move for them (see
 * chan.c); ring_try one non-blocking try that wakes the peers it may
 * let proceed (wk: the caller holds the lock and fires wk after; NULL: it
 * does not hold it).  CSP_OK, CSP_WOULDBLOCK or CSP_CLOSED. */
int ring_move(struct chan *ch, int dir, void *elems, size_t n, size_t *moved,
	      struct ctx *ctx, int block);
int ring_try(struct chan *ch, int dir, void *elems, size_t n, size_t *moved,
	     struct wakeup *wk);
/* Between tries of a full or empty ring: back off and return 1, or
 * return 0 once it is time to park (*step starts at 0). */
int ring_backoff(int *step);

/* chan_slot.c: a rendezvous channel's hand-over slot, for one value of at
 * most sizeof slot_val bytes.  slot_recv spins on an offer for a few
 * microseconds; slot_send fills an offer, polling up to `polls` times
 * for one.
 * Each returns CSP_OK, CSP_CLOSED or CSP_WOULDBLOCK (not done: take the
 * locked path). */
int slot_recv(struct chan *ch, void *dst);
int slot_send(struct chan *ch, const void *src, int polls);
void slot_shut(struct chan *ch);   /* under the lock: closed or abandoned */
uint64_t slot_moved(struct chan *ch);

/* Set up the ring of a channel whose elem_size and cap (> 0) are set. */
void ring_init(struct chan *ch);
/* After a sudog is queued and its parked flag set: 1 if a send (dir
 * SEL_SEND) or receive could now proceed or would find the ring closed,
 * so that the caller must not park. */
int ring_ready(struct chan *ch, int dir);
void ring_shut(struct chan *ch);      /* set the mark: no more sends */
size_t ring_len(struct chan *ch);     /* values buffered or being moved in */
uint64_t ring_sent(struct chan *ch);  /* values ever sent into the ring */
uint64_t ring_received(struct chan *ch);

#endif
