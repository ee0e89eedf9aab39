/* SPDX-License-Identifier: MIT */
/*
 * ack.c - acknowledgement tokens, their groups, and the reference sets
 * batches carry (see ack.h for the contract).
 *
 * A token is one atomic count; a set is a small array owned by one
 * batch.  Nothing here runs unless a source made a group, so a run
 * without acks only tests b->acks against NULL.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "records/ack.h"
#include "records/batch.h"
#include "csp/csp.h"

struct ack_group {
	pthread_mutex_t mu;
	ack_fn fn;
	void *arg;
	int ordered;
	uint64_t next;                /* ordered: the id due next */
	struct ack_token *waiting;    /* ordered: completed early, by id */
	_Atomic uint64_t made, completed;
};

struct ack_token {
	_Atomic uint32_t refs;
	_Atomic int failed;
	_Atomic int kept;             /* its creator still holds a reference */
	struct ack_group *g;          /* NULL: a chain */
	uint64_t id;
	void *user;
	struct ackset *held;          /* a chain's references */
	struct ack_token *next;
};

struct ack_group *ack_group_new(ack_fn fn, void *arg, int ordered)
{
	struct ack_group *g = csp_calloc(1, sizeof *g);

	pthread_mutex_init(&g->mu, NULL);
	g->fn = fn;
	g->arg = arg;
	g->ordered = ordered;
	return g;
}

void ack_group_free(struct ack_group *g)
{
	if (!g)
		return;
	pthread_mutex_destroy(&g->mu);
	free(g);
}

uint64_t ack_group_pending(struct ack_group *g)
{
	return atomic_load(&g->made) - atomic_load(&g->completed);
}

struct ack_token *ack_token_new(struct ack_group *g, uint64_t id, void *user)
{
	struct ack_token *t = csp_calloc(1, sizeof *t);

	atomic_init(&t->refs, 1);
	t->g = g;
	t->id = id;
	t->user = user;
	atomic_fetch_add(&g->made, 1);
	return t;
}

struct ack_token *ack_chain_new(void)
{
	struct ack_token *t = csp_calloc(1, sizeof *t);

	atomic_init(&t->refs, 1);
	return t;
}

void ack_chain_hold(struct ack_token *chain, struct ackset **from)
{
	if (*from) {
		ackset_move(&chain->held, *from);
		*from = NULL;
	}
}

void ack_token_ref(struct ack_token *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

/* The last reference went: tell the group (in id order when it asks for
 * it), or release what a chain held.  Frees t. */
static void complete(struct ack_token *t)
{
	struct ack_group *g = t->g;
	int ok = !atomic_load(&t->failed);

	if (atomic_load(&t->kept)) {
		/* Someone let go of the creator's reference for it. */
		fprintf(stderr, "cspipe: internal error: an ack token completed while its "
			"creator holds it\n");
		abort();
	}
	if (!g) {
		ackset_release(t->held, ok);
		free(t);
		return;
	}
	if (!g->ordered) {
		g->fn(g->arg, t->id, t->user, ok);
		free(t);
		atomic_fetch_add(&g->completed, 1);
		return;
	}
	pthread_mutex_lock(&g->mu);
	struct ack_token **p = &g->waiting;
	while (*p && (*p)->id < t->id)
		p = &(*p)->next;
	t->next = *p;
	*p = t;
	while (g->waiting && g->waiting->id == g->next) {
		struct ack_token *d = g->waiting;
		g->waiting = d->next;
		g->next++;
		g->fn(g->arg, d->id, d->user, !atomic_load(&d->failed));
		free(d);
		atomic_fetch_add(&g->completed, 1);
	}
	pthread_mutex_unlock(&g->mu);
}

void ack_token_release(struct ack_token *t, int ok)
{
	if (!ok)
		atomic_store(&t->failed, 1);
	uint32_t had = atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel);
	if (had == 0) {
		/* A reference released twice, or never taken. */
		fprintf(stderr, "cspipe: internal error: an ack token released below zero\n");
		abort();
	}
	if (had == 1)
		complete(t);
}

void ack_token_keep(struct ack_token *t)
{
	atomic_store(&t->kept, 1);
}

void ack_token_let_go(struct ack_token *t, int ok)
{
	atomic_store(&t->kept, 0);
	ack_token_release(t, ok);
}

static void ackset_grow(struct ackset **dst, uint32_t extra)
{
	struct ackset *s = *dst;
	uint32_t need = (s ? s->n : 0) + extra;

	if (s && need <= s->cap)
		return;
	uint32_t cap = s && s->cap ? s->cap : 2;
	while (cap < need)
		cap *= 2;
	s = csp_realloc(s, sizeof *s + cap * sizeof s->t[0]);
	if (!*dst)
		s->n = 0;
	s->cap = cap;
	*dst = s;
}

void ackset_add(struct ackset **dst, const struct ackset *src)
{
	if (!src || !src->n)
		return;
	ackset_grow(dst, src->n);
	for (uint32_t i = 0; i < src->n; i++) {
		ack_token_ref(src->t[i]);
		(*dst)->t[(*dst)->n++] = src->t[i];
	}
}

void ackset_move(struct ackset **dst, struct ackset *src)
{
	if (!src)
		return;
	if (!*dst) {
		*dst = src;
		return;
	}
	ackset_grow(dst, src->n);
	for (uint32_t i = 0; i < src->n; i++)
		(*dst)->t[(*dst)->n++] = src->t[i];
	free(src);
}

void ackset_push(struct ackset **dst, struct ack_token *t)
{
	ackset_grow(dst, 1);
	(*dst)->t[(*dst)->n++] = t;
}

void ackset_release(struct ackset *s, int ok)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->n; i++)
		ack_token_release(s->t[i], ok);
	free(s);
}

void batch_ack(struct batch *b, struct ack_token *t)
{
	ackset_push(&b->acks, t);
}

struct ackset *batch_take_acks(struct batch *b)
{
	struct ackset *s = b->acks;

	b->acks = NULL;
	return s;
}

void batch_acks_done(struct batch *b)
{
	ackset_release(batch_take_acks(b), 1);
}
