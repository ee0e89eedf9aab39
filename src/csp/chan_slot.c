/* SPDX-License-Identifier: MIT */
/*
 * chan_slot.c - the hand-over slot of a rendezvous channel: a receiver
 * that finds no sender waiting offers the slot and spins on it for a few
 * microseconds, and a sender that finds it offered writes its value
 * straight in.  Neither takes the channel's lock, queues a sudog or reads
 * the clock, so a value crosses between two running threads in about the
 * time one cache line takes to cross (bench/runtime's floor row); a
 * receiver that is not met in time takes the slot back and parks on the
 * channel's queue as before.
 *
 * The slot's state moves EMPTY -> OFFERED (a receiver owns the slot) ->
 * CLAIMED (a sender won it and is copying) -> FILLED -> EMPTY (the
 * receiver has copied out), or OFFERED -> EMPTY when the receiver takes it
 * back, or -> SHUT when the channel is closed or abandoned under it.
 *
 * Memory orders:
 *  - FILLED is stored with release after the value is copied in and
 *    loaded with acquire before it is copied out; EMPTY is stored with
 *    release after the copy-out, and the next receiver's offer and the
 *    next sender's claim read it through compare-and-swaps that acquire,
 *    so one hand-over's copy-out happens before the next one's copy-in.
 *  - The offer and the claim are seq_cst, and so are the loads of the
 *    channel's send_parked flag and its shut flag that follow them: with
 *    the seq_cst store of that flag (a sender about to park, or chan_close)
 *    this is the store-then-load handshake of chan_ring.c.  Either the
 *    receiver sees the parked sender (or the close) and takes its offer
 *    back, or the sender (or close) sees the offer; so no value waits in
 *    the queue while its receiver spins here, and no send completes
 *    after the channel is closed.
 */
#include "csp/chan_impl.h"
#include "csp/csp.h"

#include <sched.h>
#include <string.h>

/* How long an offer stands: polls back to back (a peer that is running
 * answers within a few hundred nanoseconds, and a pause, tens of
 * nanoseconds long, would only add to that), then polls a pause apart,
 * then yields, which let a sender on the same processor run. */
#define SLOT_BUSY 64
#define SLOT_PAUSES 100
#define SLOT_YIELDS 4
/* A sender's first polls for an offer that are back to back. */
#define SLOT_SEND_BUSY 16

/* The pauses this thread's offers make before they yield.  An offer that
 * was taken only after its receiver yielded says that the sender may
 * share the receiver's processor, where pausing only keeps the sender
 * from running; so the next offers pause only SLOT_PAUSES_SHARED times
 * (still longer than a sender on another processor takes to answer, so
 * such a sender is met there and the full count comes back), until one
 * is taken before its yields (or not at all) again. */
#define SLOT_PAUSES_SHARED 8
static _Thread_local int slot_pauses = SLOT_PAUSES;

/* Between polls number i of an offer. */
static inline void slot_wait(int i)
{
	if (i < SLOT_BUSY)
		return;
	if (i < SLOT_BUSY + slot_pauses)
		csp_pause();
	else
		sched_yield();
}

enum { SLOT_EMPTY, SLOT_OFFERED, SLOT_CLAIMED, SLOT_FILLED, SLOT_SHUT };

/* True when the slot can carry a value of this channel at all. */
static inline int slot_fits(const struct chan *ch)
{
	return ch->cap == 0 && ch->elem_size <= sizeof ch->slot_val;
}

/*
 * A receive of one value into dst (NULL: drop it) by way of the slot.
 * Returns CSP_OK, CSP_CLOSED (dst zeroed) when the channel was closed or
 * abandoned under the offer, or CSP_WOULDBLOCK when no sender came in
 * time or a sender is parked: the caller then takes the locked path.
 */
int slot_recv(struct chan *ch, void *dst)
{
	int s = SLOT_EMPTY, i;

	if (!slot_fits(ch) ||
	    atomic_load_explicit(&ch->send_parked, memory_order_seq_cst) ||
	    atomic_load_explicit(&ch->shut, memory_order_relaxed))
		return CSP_WOULDBLOCK;
	if (!atomic_compare_exchange_strong_explicit(
		    &ch->slot_state, &s, SLOT_OFFERED, memory_order_seq_cst,
		    memory_order_relaxed))
		return CSP_WOULDBLOCK; /* another receiver's offer stands */
	for (i = 0; i < SLOT_BUSY + slot_pauses + SLOT_YIELDS; i++) {
		if (atomic_load_explicit(&ch->slot_state, memory_order_acquire) !=
		    SLOT_OFFERED) {
			slot_pauses = i > SLOT_BUSY + slot_pauses ?
					      SLOT_PAUSES_SHARED : SLOT_PAUSES;
			goto taken;
		}
		if (atomic_load_explicit(&ch->send_parked, memory_order_seq_cst) ||
		    atomic_load_explicit(&ch->shut, memory_order_seq_cst))
			break;
		slot_wait(i);
	}
	slot_pauses = SLOT_PAUSES;
	/* acq_rel, like every step of the slot: each keeps the chain of
	 * hand-overs ordered for the next owner. */
	s = SLOT_OFFERED;
	if (atomic_compare_exchange_strong_explicit(
		    &ch->slot_state, &s, SLOT_EMPTY, memory_order_acq_rel,
		    memory_order_acquire))
		return CSP_WOULDBLOCK;
taken:
	/* A sender claimed the slot, or a close shut it. */
	i = 0;
	while ((s = atomic_load_explicit(&ch->slot_state,
					 memory_order_acquire)) == SLOT_CLAIMED)
		slot_wait(i < SLOT_BUSY + slot_pauses ? i++ : i);
	if (s == SLOT_SHUT) {
		if (dst)
			memset(dst, 0, ch->elem_size);
		atomic_store_explicit(&ch->slot_state, SLOT_EMPTY,
				      memory_order_release);
		return CSP_CLOSED;
	}
	if (dst && ch->elem_size)
		memcpy(dst, ch->slot_val, ch->elem_size);
	/* Only the slot's owner writes the count: a plain increment. */
	atomic_store_explicit(&ch->slot_moved,
			      atomic_load_explicit(&ch->slot_moved,
						   memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&ch->slot_state, SLOT_EMPTY, memory_order_release);
	return CSP_OK;
}

/*
 * A send of one value from src into an offered slot, polling up to
 * `polls` times for an offer, the first few back to back and then a
 * pause apart (no more once a receiver is parked on the queue instead,
 * or the channel is shut).  Returns CSP_OK once the
 * receiver holds the value (it is committed to it: only it can empty the
 * slot), CSP_CLOSED if the channel was closed or abandoned (the receiver
 * then gets CSP_CLOSED too), or CSP_WOULDBLOCK when no offer stood.
 */
int slot_send(struct chan *ch, const void *src, int polls)
{
	int s, i = 0;

	if (!slot_fits(ch))
		return CSP_WOULDBLOCK;
	for (;; i++) {
		s = atomic_load_explicit(&ch->slot_state, memory_order_seq_cst);
		if (s == SLOT_OFFERED &&
		    atomic_compare_exchange_strong_explicit(
			    &ch->slot_state, &s, SLOT_CLAIMED,
			    memory_order_seq_cst, memory_order_relaxed))
			break;
		if (i >= polls ||
		    atomic_load_explicit(&ch->recv_parked, memory_order_relaxed) ||
		    atomic_load_explicit(&ch->shut, memory_order_relaxed))
			return CSP_WOULDBLOCK;
		if (i >= SLOT_SEND_BUSY)
			csp_pause();
	}
	if (atomic_load_explicit(&ch->shut, memory_order_seq_cst)) {
		atomic_store_explicit(&ch->slot_state, SLOT_SHUT,
				      memory_order_release);
		return CSP_CLOSED;
	}
	if (ch->elem_size)
		memcpy(ch->slot_val, src, ch->elem_size);
	atomic_store_explicit(&ch->slot_state, SLOT_FILLED, memory_order_release);
	return CSP_OK;
}

/* chan_close and chan_abandon, under the lock: no send may use the slot
 * from now on, and a standing offer ends with CSP_CLOSED. */
void slot_shut(struct chan *ch)
{
	int s = SLOT_OFFERED;

	atomic_store_explicit(&ch->shut, 1, memory_order_seq_cst);
	atomic_compare_exchange_strong_explicit(&ch->slot_state, &s, SLOT_SHUT,
						memory_order_seq_cst,
						memory_order_relaxed);
}

/* Values handed over through the slot (each one sent and received). */
uint64_t slot_moved(struct chan *ch)
{
	return atomic_load_explicit(&ch->slot_moved, memory_order_relaxed);
}
