/* SPDX-License-Identifier: MIT */
/*
 * chan_ring.c - buffered channels: a lock-free ring (chan_impl.h) that
 * senders and receivers claim positions of with one compare-and-swap per
 * batch of values, never taking the channel's lock to move a value; and
 * the blocking calls on it, which spin, then park on the channel's queues
 * until a peer's move wakes them to try again.
 *
 * Memory orders, once for the whole file:
 *  - A cell's stamp hands the cell over.  A sender stores "holds a value"
 *    with release after copying the value in; a receiver loads it with
 *    acquire before copying out, so the copy-in happens before the
 *    copy-out.  The receiver's "free for the next lap" store is release
 *    and the next sender's load acquire, so the copy-out happens before
 *    the next copy-in.
 *  - head and tail only decide who owns which position; the stamps carry
 *    the data.  Their compare-and-swaps are nonetheless seq_cst, and so
 *    are ring_ready's loads: a parker stores its flag (seq_cst) and then
 *    reads head and tail, a mover advances head or tail and then reads the
 *    flag (seq_cst, chan.c).  In the single total order of seq_cst
 *    operations one of the two comes first, so either the parker sees the
 *    move and does not sleep, or the mover sees the parker and wakes it:
 *    no wake-up is lost, and a mover that finds no flag set makes no call
 *    at all.
 */
#include "csp/chan_impl.h"
#include "csp/csp.h"

#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A peer holds a cell between its compare-and-swap and its stamp store,
 * the time of one memcpy.  Spin that long; if it takes longer the peer
 * has lost its processor, so give it ours. */
#define CLAIM_SPINS 64

/* A buffered call that finds the ring full or empty tries again after 4,
 * 8, 16 and 32 pauses (about 0.25 to 2 microseconds), then after yielding
 * the processor a few times (a peer on the same processor gets to run),
 * before it parks: a peer a few microseconds behind is met without either
 * side making a system call, and an idle stage is asleep within some tens
 * of microseconds.  The first wait is not shorter on purpose: a consumer
 * that took each value the moment it appeared would pull the producer's
 * cache lines across once per value; one that comes back a little later
 * takes the values that gathered meanwhile at the cost of one. */
#define RING_FIRST_LOG 2
#define RING_SPIN_STEPS 4
#define RING_YIELDS 3

static inline size_t one_lap(const struct chan *ch)
{
	return (size_t)1 << ch->lap_shift;
}

/* The position k after p, where p's index + k <= cap (a batch never runs
 * past the end of the array: the next lap starts at index 0). */
static inline size_t advance(const struct chan *ch, size_t p, size_t k)
{
	size_t i = p & (ch->mark - 1);

	if (i + k < ch->cap)
		return p + k;
	return (p & ~(one_lap(ch) - 1)) + one_lap(ch);
}

/* How many values went through position p. */
static inline uint64_t count(const struct chan *ch, size_t p)
{
	return (uint64_t)(p >> ch->lap_shift) * ch->cap + (p & (ch->mark - 1));
}

static inline void wait_claim(unsigned *spins)
{
	if (*spins < CLAIM_SPINS) {
		(*spins)++;
		csp_pause();
	} else {
		sched_yield();
	}
}

/* How many cells from index i on, up to n and not past the end of the
 * array, have the stamps stamp, stamp + 1, ...: the run a sender (free
 * cells) or a receiver (filled ones) can claim at once. */
static inline size_t run_of(struct chan *ch, size_t i, size_t stamp, size_t n)
{
	size_t k, room = ch->cap - i < n ? ch->cap - i : n;

	for (k = 0; k < room; k++)
		if (atomic_load_explicit(&ch->stamps[i + k],
					 memory_order_acquire) != stamp + k)
			break;
	return k;
}

/* Can't fail: out of memory aborts. */
void ring_init(struct chan *ch)
{
	size_t mark = 1, i;
	unsigned shift = 1;

	if (ch->cap > SIZE_MAX / 4)
		csp_oom();
	while (mark <= ch->cap) {
		mark <<= 1;
		shift++;
	}
	ch->mark = mark;
	ch->lap_shift = shift;
	ch->stamps = csp_malloc(ch->cap * sizeof *ch->stamps);
	for (i = 0; i < ch->cap; i++)
		atomic_init(&ch->stamps[i], i);
	atomic_init(&ch->head, 0);
	atomic_init(&ch->tail, 0);
}

/*
 * Claim the free cells at the tail, up to n of them and not past the end
 * of the array, fill them from src and publish them.  Returns how many;
 * 0 with *r CSP_CLOSED once the mark is set, or CSP_WOULDBLOCK when the
 * ring is full.
 */
static size_t ring_send(struct chan *ch, const void *src, size_t n, int *r)
{
	size_t es = ch->elem_size, t, h, i, k;
	unsigned spins = 0;

	t = atomic_load_explicit(&ch->tail, memory_order_relaxed);
	for (;;) {
		if (t & ch->mark) {
			*r = CSP_CLOSED;
			return 0;
		}
		i = t & (ch->mark - 1);
		k = run_of(ch, i, t, n);
		if (k > 0) {
			if (atomic_compare_exchange_weak_explicit(
				    &ch->tail, &t, advance(ch, t, k),
				    memory_order_seq_cst, memory_order_relaxed))
				break;
			continue;
		}
		/* Cell i still holds last lap's value: the ring is full, or a
		 * receiver has claimed that value and is copying it out. */
		h = atomic_load_explicit(&ch->head, memory_order_seq_cst);
		if (atomic_load_explicit(&ch->tail, memory_order_relaxed) == t) {
			if (h + one_lap(ch) == t) {
				*r = CSP_WOULDBLOCK;
				return 0;
			}
			wait_claim(&spins);
		}
		t = atomic_load_explicit(&ch->tail, memory_order_relaxed);
	}
	if (es)
		memcpy(ch->buf + i * es, src, k * es);
	for (size_t j = k; j-- > 0;)
		atomic_store_explicit(&ch->stamps[i + j], t + j + 1,
				      memory_order_release);
	*r = CSP_OK;
	return k;
}

/*
 * Claim the filled cells at the head, up to n of them and not past the
 * end of the array, copy them to dst (NULL: drop them) and free them for
 * the next lap.  Returns how many; 0 with *r CSP_WOULDBLOCK when the ring
 * is empty, or CSP_CLOSED when it is also marked (nothing more can come).
 */
static size_t ring_recv(struct chan *ch, void *dst, size_t n, int *r)
{
	size_t es = ch->elem_size, h, t, i, k;
	unsigned spins = 0;

	h = atomic_load_explicit(&ch->head, memory_order_relaxed);
	for (;;) {
		i = h & (ch->mark - 1);
		k = run_of(ch, i, h + 1, n);
		if (k > 0) {
			if (atomic_compare_exchange_weak_explicit(
				    &ch->head, &h, advance(ch, h, k),
				    memory_order_seq_cst, memory_order_relaxed))
				break;
			continue;
		}
		/* Cell i is empty: the ring is, or a sender has claimed the
		 * cell and is copying its value in. */
		t = atomic_load_explicit(&ch->tail, memory_order_seq_cst);
		if (atomic_load_explicit(&ch->head, memory_order_relaxed) == h) {
			if ((t & ~ch->mark) == h) {
				*r = t & ch->mark ? CSP_CLOSED : CSP_WOULDBLOCK;
				return 0;
			}
			wait_claim(&spins);
		}
		h = atomic_load_explicit(&ch->head, memory_order_relaxed);
	}
	if (dst && es)
		memcpy(dst, ch->buf + i * es, k * es);
	for (size_t j = k; j-- > 0;)
		atomic_store_explicit(&ch->stamps[i + j], h + j + one_lap(ch),
				      memory_order_release);
	*r = CSP_OK;
	return k;
}

/* Called with a sudog queued and its flag stored (seq_cst): see the top
 * of this file for why these loads are seq_cst. */
int ring_ready(struct chan *ch, int dir)
{
	size_t h, t;

	if (dir == SEL_SEND) {
		t = atomic_load_explicit(&ch->tail, memory_order_seq_cst);
		h = atomic_load_explicit(&ch->head, memory_order_seq_cst);
		return (t & ch->mark) || h + one_lap(ch) != t;
	}
	h = atomic_load_explicit(&ch->head, memory_order_seq_cst);
	t = atomic_load_explicit(&ch->tail, memory_order_seq_cst);
	return t != h;
}

/* Under the channel's lock; harmless twice.  Seq_cst like every other
 * change of tail.  A send either got its position before the mark (and
 * tail counts it, so receivers wait for its value) or finds the mark;
 * so a receiver that sees the mark and head == tail knows that nothing
 * more can come. */
void ring_shut(struct chan *ch)
{
	atomic_fetch_or_explicit(&ch->tail, ch->mark, memory_order_seq_cst);
}

/* A snapshot: head and tail are read one after the other. */
size_t ring_len(struct chan *ch)
{
	uint64_t t, h;

	h = count(ch, atomic_load_explicit(&ch->head, memory_order_acquire));
	t = count(ch, atomic_load_explicit(&ch->tail, memory_order_acquire) &
			   ~ch->mark);
	return t > h ? (size_t)(t - h) : 0;
}

uint64_t ring_sent(struct chan *ch)
{
	return count(ch, atomic_load_explicit(&ch->tail, memory_order_acquire) &
			      ~ch->mark);
}

uint64_t ring_received(struct chan *ch)
{
	return count(ch, atomic_load_explicit(&ch->head, memory_order_acquire));
}

/* Fire up to k parked calls of direction dir, which a move of k values
 * in the other direction may let proceed; the caller holds the lock. */
static void wake_peers_locked(struct chan *ch, int dir, size_t k,
			      struct wakeup *wk)
{
	struct sudog *sg;

	while (k-- > 0 && (sg = q_claim(ch, dir)) != NULL)
		wake_later(ch, wk, sg, dir, CSP_OK);
}

/* After a ring move of k values in direction dir, without the lock: wake
 * parked peers if the flag says there are any.  The load is seq_cst for
 * the handshake described at the top of this file. */
static void wake_peers(struct chan *ch, int dir, size_t k)
{
	struct wakeup wk = { NULL, 0 };
	int peer = dir == SEL_SEND ? SEL_RECV : SEL_SEND;

	if (!atomic_load_explicit(parked(ch, peer), memory_order_seq_cst))
		return;
	csp_lock(&ch->lock);
	wake_peers_locked(ch, peer, k, &wk);
	csp_unlock(&ch->lock);
	wake_all(&wk);
}

/* Move up to n values through the ring without blocking: as many as fit
 * (or are there), in one or two claims.  Returns the count; when it is 0,
 * *r says CSP_WOULDBLOCK or CSP_CLOSED. */
static size_t ring_move_now(struct chan *ch, int dir, void *elems, size_t n,
			    int *r)
{
	size_t es = ch->elem_size, k = 0, m;

	do {
		if (dir == SEL_SEND)
			m = ring_send(ch, at(elems, k, es), n - k, r);
		else
			m = ring_recv(ch, at(elems, k, es), n - k, r);
		k += m;
	} while (m && k < n);
	return k;
}

/* One try of a buffered case or call, waking peers after it: CSP_OK,
 * CSP_WOULDBLOCK or CSP_CLOSED (a one-value receive zeroed).  wk: the
 * caller holds ch's lock and fires wk after unlocking; NULL: it does not. */
int ring_try(struct chan *ch, int dir, void *elems, size_t n, size_t *moved,
	     struct wakeup *wk)
{
	int r;

	*moved = ring_move_now(ch, dir, elems, n, &r);
	if (*moved) {
		if (wk)
			wake_peers_locked(ch, dir == SEL_SEND ? SEL_RECV : SEL_SEND,
					  *moved, wk);
		else
			wake_peers(ch, dir, *moved);
		return CSP_OK;
	}
	if (r == CSP_CLOSED && dir == SEL_RECV && n == 1 && elems)
		memset(elems, 0, ch->elem_size);
	return r;
}

/* Back off before trying a full or empty ring again (*step counts from
 * 0).  Returns 0, without waiting, once the caller has spun and yielded
 * long enough and should park. */
int ring_backoff(int *step)
{
	if (*step >= RING_SPIN_STEPS + RING_YIELDS)
		return 0;
	if (*step < RING_SPIN_STEPS)
		for (int i = 0; i < 1 << (*step + RING_FIRST_LOG); i++)
			csp_pause();
	else
		sched_yield();
	(*step)++;
	return 1;
}

/*
 * Buffered: move up to n values through the ring; else, when block is
 * set, spin a little and then park until a peer moves values the other
 * way (or the channel closes, or ctx ends) and try again.  A woken call
 * does not look at its context before it tries: the wake-up was meant
 * for a value, and one that it dropped would leave that value to nobody.
 *
 * The wait is counted once, by this call, from the moment its pauses run
 * out: a peer met within them costs no clock reads.
 */
int ring_move(struct chan *ch, int dir, void *elems, size_t n, size_t *moved,
	      struct ctx *ctx, int block)
{
	struct sudog sg;
	struct waiter *w;
	int r, fired, step = 0;
	int64_t since = 0;

	for (;;) {
		r = ring_try(ch, dir, elems, n, moved, NULL);
		if (r != CSP_WOULDBLOCK || !block)
			break;
		if (!since && step >= RING_SPIN_STEPS)
			since = csp_now();
		if (ring_backoff(&step))
			continue;
		w = waiter_self();
		waiter_arm(w);
		sudog_init(&sg, w, NULL, n, 0, 0);
		csp_lock(&ch->lock);
		q_push(ch, dir, &sg);
		if (ring_ready(ch, dir)) {
			q_remove(ch, dir, &sg);
			csp_unlock(&ch->lock);
			continue;
		}
		csp_unlock(&ch->lock);
		fired = chan_park(w, ctx, 0);
		if (fired == 0)
			continue;
		csp_lock(&ch->lock);
		if (sg.queued)
			q_remove(ch, dir, &sg);
		csp_unlock(&ch->lock);
		r = fired == WAIT_TIMEOUT ? ctx_expire(ctx) : ctx_err_fast(ctx);
		break;
	}
	if (since) {
		csp_lock(&ch->lock);
		count_wait(ch, dir, since, csp_now());
		csp_unlock(&ch->lock);
	}
	return r;
}
