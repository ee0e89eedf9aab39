/* SPDX-License-Identifier: MIT */
/*
 * chan.c - channels and select, after Go's runtime/chan.go and select.go,
 * and the parking every blocking call of the runtime shares (csp_sleep is
 * a park on no channel).  Send, receive, select and park work on the same
 * queues and lock, so they stay in one file (about 790 lines); the
 * lock-free paths are chan_ring.c (a buffered channel's ring) and
 * chan_slot.c (the hand-over slot of a rendezvous).
 *
 * A channel is a lock, two FIFO queues of parked calls (sudogs, wait.h)
 * and, when buffered, a ring of `cap` values.
 *
 * Capacity 0 (a rendezvous): a receive that finds no parked sender first
 * offers the channel's hand-over slot and polls it for a few
 * microseconds; a sender that finds the offer writes its value there,
 * with no lock (chan_slot.c).  Everything else runs under the lock: a
 * call that finds a parked peer moves the values straight between its
 * own memory and the peer's and fires the peer; a send returns once a
 * receiver holds its value.
 *
 * Buffered: values move through the ring without the lock.  A call that
 * finds the ring full (or empty) spins a little, then queues a sudog,
 * raises the queue's parked flag and checks the ring once more before it
 * parks (chan_ring.c says why no wake-up is lost).  A call that moves
 * values reads the other side's flag and takes the lock only when it is
 * set, to fire one parked peer per value moved; the peer wakes and tries
 * again.  So a producer and a consumer that keep up with each other never
 * touch the lock, and neither pays for a wake-up.
 *
 * Waking a peer is a futex call made after the lock is released, and only
 * if the peer sleeps.  Select polls its cases in a random order (without
 * locks when every case is buffered); to park it locks its channels in
 * address order, queues a sudog on each and parks once; the first waker
 * to claim the thread's waiter decides which case fired.
 *
 * Statistics: a parked call's blocked time and wait count go to the
 * channel that woke it (read from the clock by the waker, once per
 * operation); a call that its context ends counts on every channel it was
 * queued on.  Capacity 0 counts values under the lock, and the slot's
 * hand-overs in its own counter; a ring's positions are its counts of
 * values sent and received.
 */
#include "csp/chan.h"
#include "csp/chan_impl.h"
#include "csp/csp.h"
#include "csp/wait.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Selects with up to this many cases keep their bookkeeping on the stack. */
#define SEL_STACK 16

/* How long a rendezvous send polls for a receiver's offer before it takes
 * the lock and parks: about a microsecond, the time a receiver that has
 * just taken a value needs to come back for the next. */
#define SLOT_SEND_POLLS 32

static _Thread_local uint64_t sel_rng;
static _Thread_local int sel_seeded;

static inline size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static inline void copy(void *dst, const void *src, size_t bytes)
{
	if (bytes)
		memcpy(dst, src, bytes);
}

void count_wait(struct chan *ch, int dir, int64_t since, int64_t now)
{
	if (dir == SEL_SEND) {
		ch->stats.send_waits++;
		ch->stats.send_blocked_ns += now - since;
	} else {
		ch->stats.recv_waits++;
		ch->stats.recv_blocked_ns += now - since;
	}
}

/* Record that this operation completes the parked call sg (on ch's queue
 * for dir) with result, and queue it to be fired after the unlock. */
void wake_later(struct chan *ch, struct wakeup *wk, struct sudog *sg,
		       int dir, int result)
{
	sg->result = result;
	if (sg->since) {
		if (!wk->now)
			wk->now = csp_now();
		count_wait(ch, dir, sg->since, wk->now);
	}
	sg->next = wk->list;
	wk->list = sg;
}

void wake_all(struct wakeup *wk)
{
	struct sudog *sg = wk->list, *next;

	while (sg) {
		/* Once fired, sg may vanish with its thread's stack frame. */
		next = sg->next;
		waiter_fire(sg->w, sg->idx);
		sg = next;
	}
}

void sudog_init(struct sudog *sg, struct waiter *w, void *elem,
		       size_t n, int idx, int64_t since)
{
	memset(sg, 0, sizeof *sg);
	sg->w = w;
	sg->elem = elem;
	sg->n = n;
	sg->idx = idx;
	sg->since = since;
	sg->result = CSP_OK;
}

/* The queue helpers keep each parked flag equal to "its queue is not
 * empty"; they run under the lock.  The stores are seq_cst for the
 * handshake chan_ring.c describes (the one that sets the flag matters;
 * the others are as cheap on the slow path and need no argument). */
void q_push(struct chan *ch, int dir, struct sudog *sg)
{
	waitq_push(queue(ch, dir), sg);
	atomic_store_explicit(parked(ch, dir), 1, memory_order_seq_cst);
}

void q_remove(struct chan *ch, int dir, struct sudog *sg)
{
	struct waitq *q = queue(ch, dir);

	waitq_remove(q, sg);
	atomic_store_explicit(parked(ch, dir), q->head != NULL,
			      memory_order_seq_cst);
}

struct sudog *q_claim(struct chan *ch, int dir)
{
	struct waitq *q = queue(ch, dir);
	struct sudog *sg = waitq_claim(q);

	atomic_store_explicit(parked(ch, dir), q->head != NULL,
			      memory_order_seq_cst);
	return sg;
}

/*
 * Capacity 0: send up to n values from src to parked receivers without
 * blocking.  Returns CSP_OK with *moved >= 1, CSP_WOULDBLOCK with nothing
 * moved, or CSP_CLOSED when the channel is closed or abandoned.
 */
static int send_locked(struct chan *ch, const void *src, size_t n,
		       size_t *moved, struct wakeup *wk)
{
	size_t es = ch->elem_size, k = 0, m;
	struct sudog *sg;

	*moved = 0;
	if (ch->closed || ch->abandoned)
		return CSP_CLOSED;
	while (k < n && (sg = q_claim(ch, SEL_RECV)) != NULL) {
		m = min_size(n - k, sg->n);
		if (sg->elem)
			copy(sg->elem, at(src, k, es), m * es);
		sg->moved = m;
		ch->stats.received += m;
		wake_later(ch, wk, sg, SEL_RECV, CSP_OK);
		k += m;
	}
	ch->stats.sent += k;
	*moved = k;
	return k ? CSP_OK : CSP_WOULDBLOCK;
}

/*
 * Capacity 0: receive up to n values into dst (NULL: discard them) from
 * parked senders without blocking.  Returns CSP_OK with *moved >= 1,
 * CSP_WOULDBLOCK, or CSP_CLOSED once the channel is closed or abandoned;
 * a one-value receive that gets CSP_CLOSED is zeroed.
 */
static int recv_locked(struct chan *ch, void *dst, size_t n, size_t *moved,
		       struct wakeup *wk)
{
	size_t es = ch->elem_size, k = 0, m;
	struct sudog *sg;

	while (k < n && (sg = q_claim(ch, SEL_SEND)) != NULL) {
		m = min_size(n - k, sg->n);
		if (dst)
			copy(at(dst, k, es), sg->elem, m * es);
		sg->moved = m;
		ch->stats.sent += m;
		wake_later(ch, wk, sg, SEL_SEND, CSP_OK);
		k += m;
	}
	*moved = k;
	if (k) {
		ch->stats.received += k;
		return CSP_OK;
	}
	if (ch->closed || ch->abandoned) {
		if (n == 1 && dst)
			memset(dst, 0, es);
		return CSP_CLOSED;
	}
	return CSP_WOULDBLOCK;
}

/* Close and abandon: nothing will ever reach a parked call again, so each
 * ends with CSP_CLOSED (a one-value receive zeroed, as Go's zero value). */
static void flush_waiters(struct chan *ch, struct wakeup *wk)
{
	struct sudog *sg;

	while ((sg = q_claim(ch, SEL_RECV)) != NULL) {
		if (sg->n == 1 && sg->elem)
			memset(sg->elem, 0, ch->elem_size);
		sg->moved = 0;
		wake_later(ch, wk, sg, SEL_RECV, CSP_CLOSED);
	}
	while ((sg = q_claim(ch, SEL_SEND)) != NULL) {
		sg->moved = 0;
		wake_later(ch, wk, sg, SEL_SEND, CSP_CLOSED);
	}
}

/*
 * Park the calling thread, whose armed waiter w has its sudogs queued,
 * until one fires, ctx is done, or a deadline passes (see wait.h).  A
 * context's done channel is just one more queue to wait on: cancellation
 * closes it and the close fires this waiter with WAIT_CTX_DONE.
 */
int chan_park(struct waiter *w, struct ctx *ctx, int64_t until)
{
	struct sudog sg;
	struct chan *done = NULL;
	int64_t deadline = until, dl;
	int fired;

	memset(&sg, 0, sizeof sg);
	if (!ctx_is_background(ctx)) {
		dl = ctx_deadline(ctx);
		if (dl && (!deadline || dl < deadline))
			deadline = dl;
		done = ctx_done(ctx);
		csp_lock(&done->lock);
		if (done->closed) {
			/* Loses only to a case that has already fired. */
			waiter_try_fire(w, WAIT_CTX_DONE);
			csp_unlock(&done->lock);
			done = NULL;
		} else {
			sudog_init(&sg, w, NULL, 1, WAIT_CTX_DONE, 0);
			q_push(done, SEL_RECV, &sg);
			csp_unlock(&done->lock);
		}
	}
	fired = waiter_park(w, deadline);
	if (done && fired != WAIT_CTX_DONE) {
		csp_lock(&done->lock);
		if (sg.queued)
			q_remove(done, SEL_RECV, &sg);
		csp_unlock(&done->lock);
	}
	return fired;
}

/*
 * Capacity 0: move up to n values to or from parked peers; else, when
 * block is set, park until a peer takes or gives at least one.  See
 * chan_move for the results.
 */
static int rdv_move(struct chan *ch, int dir, void *elems, size_t n,
		    size_t *moved, struct ctx *ctx, int block)
{
	struct wakeup wk = { NULL, 0 };
	struct sudog sg;
	struct waiter *w;
	int r, fired;

	/* The slot first: a peer spinning there is met without the lock. */
	if (n == 1) {
		if (dir == SEL_SEND)
			r = slot_send(ch, elems, block ? SLOT_SEND_POLLS : 0);
		else
			r = block ? slot_recv(ch, elems) : CSP_WOULDBLOCK;
		if (r != CSP_WOULDBLOCK) {
			*moved = r == CSP_OK;
			return r;
		}
	}
	csp_lock(&ch->lock);
	if (dir == SEL_SEND)
		r = send_locked(ch, elems, n, moved, &wk);
	else
		r = recv_locked(ch, elems, n, moved, &wk);
	if (r != CSP_WOULDBLOCK || !block) {
		csp_unlock(&ch->lock);
		wake_all(&wk);
		return r;
	}

	w = waiter_self();
	waiter_arm(w);
	sudog_init(&sg, w, elems, n, 0, csp_now());
	q_push(ch, dir, &sg);
	/* An offer made before the flag went up (chan_slot.c). */
	if (dir == SEL_SEND && n == 1 &&
	    (r = slot_send(ch, elems, 0)) != CSP_WOULDBLOCK) {
		q_remove(ch, dir, &sg);
		csp_unlock(&ch->lock);
		*moved = r == CSP_OK;
		return r;
	}
	csp_unlock(&ch->lock);

	fired = chan_park(w, ctx, 0);
	if (fired == 0) {
		*moved = sg.moved;
		return sg.result;
	}
	/* The context ended the wait; no waker can claim sg any more. */
	csp_lock(&ch->lock);
	if (sg.queued)
		q_remove(ch, dir, &sg);
	count_wait(ch, dir, sg.since, csp_now());
	csp_unlock(&ch->lock);
	return fired == WAIT_TIMEOUT ? ctx_expire(ctx) : ctx_err_fast(ctx);
}

/*
 * The one path of every single-channel call: move up to n values without
 * blocking if possible; else, when block is set, park until at least one
 * moves, the channel closes, or ctx ends.  Returns CSP_OK, CSP_CLOSED,
 * CSP_WOULDBLOCK (only when !block) or the context's error; *moved says
 * how many values moved in every case.  A context already done wins over
 * a channel that is ready (only its cancellation flag is read here; its
 * deadline is checked by the clock when the call would park).
 */
static int chan_move(struct chan *ch, int dir, void *elems, size_t n,
		     size_t *moved, struct ctx *ctx, int block)
{
	int r;

	*moved = 0;
	if (block && ctx && (r = ctx_err_fast(ctx)) != 0)
		return r;
	if (ch->cap)
		return ring_move(ch, dir, elems, n, moved, ctx, block);
	return rdv_move(ch, dir, elems, n, moved, ctx, block);
}

/* Never returns NULL (out of memory aborts). */
struct chan *chan_new(size_t elem_size, size_t cap)
{
	size_t size = (sizeof(struct chan) + 63) / 64 * 64;
	struct chan *ch;

	if (cap && elem_size > SIZE_MAX / cap)
		csp_oom();
	/* Aligned, so that the counters really do sit on lines of their
	 * own. */
	ch = aligned_alloc(64, size);
	if (!ch)
		csp_oom();
	memset(ch, 0, size);
	ch->elem_size = elem_size;
	ch->cap = cap;
	atomic_init(&ch->send_parked, 0);
	atomic_init(&ch->recv_parked, 0);
	atomic_init(&ch->slot_state, 0);
	atomic_init(&ch->shut, 0);
	atomic_init(&ch->slot_moved, 0);
	if (cap) {
		ch->buf = csp_malloc(cap * elem_size);
		ring_init(ch);
	}
	return ch;
}

/* No call may be blocked on ch, nor start on it, once this is called. */
void chan_free(struct chan *ch)
{
	if (!ch)
		return;
	free(ch->stamps);
	free(ch->buf);
	free(ch);
}

int chan_send(struct chan *ch, const void *elem, struct ctx *ctx)
{
	size_t moved;

	return chan_move(ch, SEL_SEND, (void *)elem, 1, &moved, ctx, 1);
}

int chan_recv(struct chan *ch, void *elem, struct ctx *ctx)
{
	size_t moved;

	return chan_move(ch, SEL_RECV, elem, 1, &moved, ctx, 1);
}

int chan_try_send(struct chan *ch, const void *elem)
{
	size_t moved;

	return chan_move(ch, SEL_SEND, (void *)elem, 1, &moved, NULL, 0);
}

int chan_try_recv(struct chan *ch, void *elem)
{
	size_t moved;

	return chan_move(ch, SEL_RECV, elem, 1, &moved, NULL, 0);
}

/* n == 0 moves nothing and returns CSP_OK at once. */
int chan_send_n(struct chan *ch, const void *elems, size_t n, size_t *moved,
		struct ctx *ctx)
{
	*moved = 0;
	if (n == 0)
		return CSP_OK;
	return chan_move(ch, SEL_SEND, (void *)elems, n, moved, ctx, 1);
}

int chan_recv_n(struct chan *ch, void *elems, size_t n, size_t *moved,
		struct ctx *ctx)
{
	*moved = 0;
	if (n == 0)
		return CSP_OK;
	return chan_move(ch, SEL_RECV, elems, n, moved, ctx, 1);
}

/* Wakes every parked call with CSP_CLOSED; buffered values stay
 * receivable.  CSP_INVALID, changing nothing, if already closed. */
int chan_close(struct chan *ch)
{
	struct wakeup wk = { NULL, 0 };

	csp_lock(&ch->lock);
	if (ch->closed) {
		csp_unlock(&ch->lock);
		return CSP_INVALID;
	}
	ch->closed = 1;
	if (ch->cap)
		ring_shut(ch);
	else
		slot_shut(ch);
	flush_waiters(ch, &wk);
	csp_unlock(&ch->lock);
	wake_all(&wk);
	return CSP_OK;
}

/*
 * The reader gives up: parked and later sends get CSP_CLOSED at once.
 * Values already buffered stay receivable (drain them with chan_try_recv);
 * after them a receive gets CSP_CLOSED too, as on a closed channel, since
 * nothing can arrive any more.  A sender may still chan_close the channel
 * afterwards.  Abandoning twice is harmless.
 */
void chan_abandon(struct chan *ch)
{
	struct wakeup wk = { NULL, 0 };

	csp_lock(&ch->lock);
	if (!ch->abandoned) {
		ch->abandoned = 1;
		if (ch->cap)
			ring_shut(ch);
		else
			slot_shut(ch);
		flush_waiters(ch, &wk);
	}
	csp_unlock(&ch->lock);
	wake_all(&wk);
}

int chan_closed(struct chan *ch)
{
	int r;

	csp_lock(&ch->lock);
	r = ch->closed || ch->abandoned;
	csp_unlock(&ch->lock);
	return r;
}

int chan_abandoned(struct chan *ch)
{
	int r;

	csp_lock(&ch->lock);
	r = ch->abandoned;
	csp_unlock(&ch->lock);
	return r;
}

/* A snapshot (a rendezvous holds nothing); never above cap. */
size_t chan_len(struct chan *ch)
{
	size_t n;

	if (!ch->cap)
		return 0;
	n = ring_len(ch);
	return n < ch->cap ? n : ch->cap;
}

size_t chan_cap(struct chan *ch)
{
	return ch->cap;
}

size_t chan_elem_size(struct chan *ch)
{
	return ch->elem_size;
}

void chan_stats(struct chan *ch, struct chan_stats *out)
{
	csp_lock(&ch->lock);
	*out = ch->stats;
	if (ch->cap) {
		out->sent = ring_sent(ch);
		out->received = ring_received(ch);
	} else {
		out->sent += slot_moved(ch);
		out->received += slot_moved(ch);
	}
	csp_unlock(&ch->lock);
}

/* splitmix64: any seed, 0 included, gives a good sequence. */
static uint64_t sel_next(void)
{
	uint64_t z;

	if (!sel_seeded) {
		sel_rng = (uint64_t)csp_now() ^ (uint64_t)(uintptr_t)&sel_rng;
		sel_seeded = 1;
	}
	z = (sel_rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void chan_select_seed(uint64_t seed)
{
	sel_rng = seed;
	sel_seeded = 1;
}

/* A uniform integer in [0, bound) (Lemire's multiply-shift; the bias for
 * bounds of a few cases is below 2^-28). */
static inline int sel_below(int bound)
{
	return (int)(((sel_next() >> 32) * (uint64_t)bound) >> 32);
}

static void lock_cases(const struct sel_case *cases, const int *order, int nl)
{
	for (int k = 0; k < nl; k++)
		if (k == 0 || cases[order[k]].ch != cases[order[k - 1]].ch)
			csp_lock(&cases[order[k]].ch->lock);
}

static void unlock_cases(const struct sel_case *cases, const int *order,
			 int nl)
{
	for (int k = nl - 1; k >= 0; k--)
		if (k == 0 || cases[order[k]].ch != cases[order[k - 1]].ch)
			csp_unlock(&cases[order[k]].ch->lock);
}

/* Poll one case of a select: a buffered one without its lock, or with it
 * when wk is given; a rendezvous always with it (wk given). */
static int sel_poll(struct sel_case *c, struct wakeup *wk)
{
	size_t moved;
	int r;

	if (c->ch->cap)
		return ring_try(c->ch, c->dir, c->elem, 1, &moved, wk);
	if (c->dir == SEL_SEND) {
		r = send_locked(c->ch, c->elem, 1, &moved, wk);
		return r == CSP_WOULDBLOCK ? slot_send(c->ch, c->elem, 0) : r;
	}
	return recv_locked(c->ch, c->elem, 1, &moved, wk);
}

/* Poll the cases in the order perm; the index of the first that is ready
 * (its result set), or CSP_WOULDBLOCK. */
static int sel_poll_all(struct sel_case *cases, const int *perm, int n,
			struct wakeup *wk)
{
	int i, r;

	for (int k = 0; k < n; k++) {
		i = perm[k];
		if (!cases[i].ch)
			continue;
		r = sel_poll(&cases[i], wk);
		if (r != CSP_WOULDBLOCK) {
			cases[i].result = r;
			return i;
		}
	}
	return CSP_WOULDBLOCK;
}

/*
 * Select: see chan.h.  Returns the index of the case that fired (its
 * result set), CSP_WOULDBLOCK (SEL_NONBLOCK, nothing ready), the context's
 * error, or CSP_INVALID for n < 0 or a dir that is neither SEL_RECV nor
 * SEL_SEND.  A context already done wins over ready cases.  Selects of
 * more than SEL_STACK cases allocate their bookkeeping; the others never
 * allocate.  With no case that can ever fire it waits for ctx alone.
 *
 * A buffered case that wakes the select only says that its ring moved:
 * the select tries that case first, and polls them all again if someone
 * else got there before it.
 */
int chan_select(struct sel_case *cases, int n, int flags, struct ctx *ctx)
{
	int perm_buf[SEL_STACK], order_buf[SEL_STACK];
	struct sudog sg_buf[SEL_STACK];
	int *perm = perm_buf, *order = order_buf;
	struct sudog *sgs = sg_buf;
	struct wakeup wk = { NULL, 0 };
	struct waiter *w;
	int nl = 0, rdv = 0, step, r, fired, i, j, k;
	int64_t now;

	if (n < 0)
		return CSP_INVALID;
	for (i = 0; i < n; i++)
		if (cases[i].ch && cases[i].dir != SEL_SEND &&
		    cases[i].dir != SEL_RECV)
			return CSP_INVALID;
	if (ctx && (r = ctx_err_fast(ctx)) != 0)
		return r;
	if (n > SEL_STACK) {
		perm = csp_malloc(2 * (size_t)n * sizeof *perm);
		order = perm + n;
		sgs = NULL;
	}

	/* Poll order: a uniform random permutation (inside-out Fisher-Yates),
	 * so that each ready case is equally likely to win. */
	for (i = 0; i < n; i++) {
		j = sel_below(i + 1);
		perm[i] = perm[j];
		perm[j] = i;
	}
	/* Lock order: by channel address, so that two selects never wait
	 * for each other's locks. */
	for (i = 0; i < n; i++) {
		if (!cases[i].ch)
			continue;
		if (!cases[i].ch->cap)
			rdv = 1;
		for (k = nl; k > 0 && (uintptr_t)cases[order[k - 1]].ch >
					      (uintptr_t)cases[i].ch; k--)
			order[k] = order[k - 1];
		order[k] = i;
		nl++;
	}

again:
	/* Every case buffered: poll without a lock, and back off and poll
	 * again for a while before parking, as a buffered call does. */
	if (!rdv) {
		step = 0;
		do {
			r = sel_poll_all(cases, perm, n, NULL);
			if (r != CSP_WOULDBLOCK || (flags & SEL_NONBLOCK))
				goto out;
		} while (ring_backoff(&step));
	}
	lock_cases(cases, order, nl);
	r = sel_poll_all(cases, perm, n, &wk);
	if (r != CSP_WOULDBLOCK || (flags & SEL_NONBLOCK)) {
		unlock_cases(cases, order, nl);
		wake_all(&wk);
		goto out;
	}

	if (!sgs)
		sgs = csp_malloc((size_t)n * sizeof *sgs);
	w = waiter_self();
	waiter_arm(w);
	now = csp_now();
	for (k = 0; k < nl; k++) {
		i = order[k];
		sudog_init(&sgs[i], w, cases[i].ch->cap ? NULL : cases[i].elem,
			   1, i, now);
		q_push(cases[i].ch, cases[i].dir, &sgs[i]);
	}
	/* A ring that moved after the poll and before its flag was up. */
	for (k = 0; k < nl; k++) {
		i = order[k];
		if (cases[i].ch->cap && ring_ready(cases[i].ch, cases[i].dir))
			break;
	}
	if (k < nl) {
		for (k = 0; k < nl; k++) {
			i = order[k];
			q_remove(cases[i].ch, cases[i].dir, &sgs[i]);
		}
		unlock_cases(cases, order, nl);
		goto again;
	}
	unlock_cases(cases, order, nl);

	fired = chan_park(w, ctx, 0);

	/* Take the other sudogs back before this frame goes away. */
	now = fired >= 0 && fired < n ? 0 : csp_now();
	for (k = 0; k < nl; k++) {
		struct chan *ch = cases[order[k]].ch;

		i = order[k];
		if (i == fired)
			continue;
		csp_lock(&ch->lock);
		if (sgs[i].queued)
			q_remove(ch, cases[i].dir, &sgs[i]);
		if (now)
			count_wait(ch, cases[i].dir, sgs[i].since, now);
		csp_unlock(&ch->lock);
	}
	if (fired >= 0 && fired < n && cases[fired].ch->cap) {
		r = sel_poll(&cases[fired], NULL);
		if (r == CSP_WOULDBLOCK)
			goto again;
		cases[fired].result = r;
		r = fired;
	} else if (fired >= 0 && fired < n) {
		cases[fired].result = sgs[fired].result;
		r = fired;
	} else if (fired == WAIT_TIMEOUT) {
		r = ctx_expire(ctx);
	} else {
		r = ctx_err_fast(ctx);
	}
out:
	if (sgs != sg_buf)
		free(sgs);
	if (perm != perm_buf)
		free(perm);
	return r;
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
