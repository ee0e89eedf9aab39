/* SPDX-License-Identifier: MIT */
/*
 * chan.h - channels and select.
 *
 * A channel carries fixed-size values (elem_size bytes each, copied in and
 * out).  Capacity 0 is a true rendezvous: a send completes only when a
 * receiver has taken the value.  Senders close a channel (Go's close); a
 * receiver may abandon it, after which blocked and later senders get
 * CSP_CLOSED at once (how a consumer that has seen enough, like `head`,
 * stops everything upstream).  Misuse is reported, never a crash: a send on
 * a closed channel returns CSP_CLOSED, a second close CSP_INVALID.
 *
 * Every blocking call takes a context (NULL means never cancelled) and
 * returns CSP_OK, CSP_CLOSED, CSP_CANCELED or CSP_DEADLINE.  Blocked calls
 * spin for a few microseconds, then park; they wake when the channel moves,
 * the context is cancelled or its deadline passes, whichever comes first,
 * with no timer thread (a cancellation that lands while a call spins is
 * seen when the spin ends).  A context already cancelled wins over a
 * channel that is ready (nothing moves); its deadline is read from the
 * clock only when a call would park, so a call that never has to wait is
 * not slowed by it.
 *
 * Buffered values move without a lock, and a call wakes a parked peer only
 * when one is parked; a woken call tries again, so a blocked receiver is
 * not promised the next value, only that no value waits while it sleeps.
 *
 * After chan_abandon, values already buffered stay receivable; once they
 * are drained a receive gets CSP_CLOSED, as on a closed channel.
 */
#ifndef CSP_CHAN_H
#define CSP_CHAN_H

#include <stddef.h>
#include <stdint.h>

struct chan;
struct ctx;

/* Counters that cost the hot path nothing: sent and received come from
 * the buffer's positions (and, at capacity 0, from counts kept under the
 * lock or by the hand-over slot's owner).  A wait is counted, and its time
 * read from the clock, only once a call has spun for a few microseconds
 * without being met: a call met sooner counts nothing. */
struct chan_stats {
	uint64_t sent;             /* values sent (received or buffered) */
	uint64_t received;         /* values received */
	int64_t send_blocked_ns;   /* time senders spent blocked on a full channel */
	int64_t recv_blocked_ns;   /* time receivers spent blocked on an empty one */
	uint64_t send_waits;       /* how many sends had to wait */
	uint64_t recv_waits;       /* how many receives had to wait */
};

struct chan *chan_new(size_t elem_size, size_t cap); /* never NULL */
void chan_free(struct chan *ch);   /* no call may be blocked on ch */

int chan_send(struct chan *ch, const void *elem, struct ctx *ctx);
int chan_recv(struct chan *ch, void *elem, struct ctx *ctx);  /* CSP_CLOSED: *elem zeroed */
int chan_try_send(struct chan *ch, const void *elem);         /* CSP_WOULDBLOCK if it would block */
int chan_try_recv(struct chan *ch, void *elem);

/* Batch-native operations: move up to n values with one claim of the
 * buffer (a rendezvous: under one lock) and at most one wake-up per woken
 * peer.  They block until at least one value moves,
 * then move as many as can move without blocking again.  *moved (may not be
 * NULL) is set to the count even when the result is an error (a send can
 * move some values and then find the channel closed). */
/* n == 0 moves nothing and returns CSP_OK. */
int chan_send_n(struct chan *ch, const void *elems, size_t n, size_t *moved,
		struct ctx *ctx);
int chan_recv_n(struct chan *ch, void *elems, size_t n, size_t *moved,
		struct ctx *ctx);

int chan_close(struct chan *ch);    /* CSP_OK, or CSP_INVALID if already closed */
void chan_abandon(struct chan *ch); /* reader side: senders get CSP_CLOSED from now on */
int chan_closed(struct chan *ch);   /* 1 once closed or abandoned */
int chan_abandoned(struct chan *ch);/* 1 once abandoned by its reader */
size_t chan_len(struct chan *ch);   /* values buffered now */
size_t chan_cap(struct chan *ch);
size_t chan_elem_size(struct chan *ch);
void chan_stats(struct chan *ch, struct chan_stats *out);

/* Select. */
enum { SEL_RECV = 0, SEL_SEND = 1 };
enum { SEL_NONBLOCK = 1 };     /* flag: Go's `default` case */

struct sel_case {
	struct chan *ch;  /* NULL: a case that is never ready (Go's nil channel) */
	int dir;          /* SEL_RECV or SEL_SEND */
	void *elem;       /* value to send, or where to receive (may be NULL for recv) */
	int result;       /* out: CSP_OK, or CSP_CLOSED for the case that fired */
};

/* Wait until one case can proceed and perform it.  When several are ready,
 * each is chosen with equal probability.  Returns the index of the case that
 * fired (its result says CSP_OK or CSP_CLOSED), or CSP_WOULDBLOCK with
 * SEL_NONBLOCK when none is ready, or the context's CSP_CANCELED /
 * CSP_DEADLINE.  A context's done channel may appear as a case like any
 * other. */
int chan_select(struct sel_case *cases, int n, int flags, struct ctx *ctx);

/* Sleep for ns nanoseconds, or until ctx is done: parking with no channel,
 * so that cancellation wakes the sleeper at once.  Returns CSP_OK when the
 * time has passed, else the context's error. */
int csp_sleep(int64_t ns, struct ctx *ctx);

/* Seed this thread's select random source, so that a test can make the
 * choice among ready cases reproducible.  Threads start seeded from the
 * clock and thread identity. */
void chan_select_seed(uint64_t seed);

#endif
