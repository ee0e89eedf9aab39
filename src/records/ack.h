/* SPDX-License-Identifier: MIT */
/*
 * ack.h - end-to-end acknowledgements: a source learns when every record
 * made from a piece of its input has been made durable by every sink that
 * got one, or was filtered.
 *
 * A source that wants to know (nats_in acks messages, a followed file
 * records how far it got) makes an ack group with a callback, and one
 * token per piece of input (a message, a batch, a range of bytes): each
 * token is a reference count.  The batches made from that input carry a
 * set of references (b->acks); the engine hands references on to every
 * batch derived from it (broadcast clones, route's branches, a worker's
 * outputs, merge's sorted batches), and a reference is released:
 *
 *   - done, when its batch's records are durable (a sink that takes its
 *     acks itself: nats_out, file with sync), written (stdout), filtered,
 *     or when the batch holds no records any more;
 *   - failed, when its batch is freed with records in it for any other
 *     reason (an error, an abort, a reader gone).
 *
 * When the last reference goes, the group's callback is called once with
 * the token's id, its user pointer and whether every reference was done.
 * A run in which no source asks for acks carries NULL sets and pays
 * nothing.
 */
#ifndef CSPIPE_ACK_H
#define CSPIPE_ACK_H

#include <stddef.h>
#include <stdint.h>

struct ack_group;
struct ack_token;
struct batch;

/* A set of token references, owned by one batch (or one holder). */
struct ackset {
	uint32_t n, cap;
	struct ack_token *t[];
};

/* Called once per token, on whichever thread released its last
 * reference, with the group's lock held when the group is ordered (keep
 * it short; never touch acks from it).  ok: every reference was done. */
typedef void (*ack_fn)(void *arg, uint64_t id, void *user, int ok);

/* A group whose callback gets tokens as they complete, or, when
 * `ordered`, in the order of their ids (which must then be 0, 1, 2, ...
 * with no gap: a token that completes early waits for those before it). */
struct ack_group *ack_group_new(ack_fn fn, void *arg, int ordered);
/* Free g once every token of it has completed (NULL is harmless). */
void ack_group_free(struct ack_group *g);
/* Tokens of g made and not yet completed. */
uint64_t ack_group_pending(struct ack_group *g);

/* A token of g holding one reference, which the caller owns (usually
 * handed to a batch with batch_ack).  Never NULL. */
struct ack_token *ack_token_new(struct ack_group *g, uint64_t id, void *user);
void ack_token_ref(struct ack_token *t);
/* Release one reference; ok = 0 marks the token failed. */
void ack_token_release(struct ack_token *t, int ok);

/* The creator of t says it keeps its own reference until
 * ack_token_let_go: should t complete before (a reference released twice
 * elsewhere), the run stops at once with an internal error rather than
 * free what the creator still reads. */
void ack_token_keep(struct ack_token *t);
void ack_token_let_go(struct ack_token *t, int ok);

/* A token whose completion releases the references in `held` (taken
 * over), done or failed as the token ends: for a stage whose outputs
 * cannot be matched to its inputs (decompress, exec), so its outputs
 * carry one reference each instead of every input's.  *held may be added
 * to (ack_chain_hold) while the caller still owns a reference. */
struct ack_token *ack_chain_new(void);
void ack_chain_hold(struct ack_token *chain, struct ackset **from);

/* Add a reference to every token of src to *dst (which may be NULL). */
void ackset_add(struct ackset **dst, const struct ackset *src);
/* Move src's references into *dst; src is freed. */
void ackset_move(struct ackset **dst, struct ackset *src);
/* Append one reference the caller owns. */
void ackset_push(struct ackset **dst, struct ack_token *t);
/* Release every reference and free the set (NULL is harmless). */
void ackset_release(struct ackset *s, int ok);

/* Hand the caller's reference to t to b. */
void batch_ack(struct batch *b, struct ack_token *t);
/* Take b's references (NULL when it has none): the caller now owns them. */
struct ackset *batch_take_acks(struct batch *b);
/* b's records are durable: release its references as done. */
void batch_acks_done(struct batch *b);

#endif
