/* SPDX-License-Identifier: MIT */
/*
 * batch.c - batches and their pool.
 *
 * The pool is one mutex-protected free list: a batch is taken and given
 * back once per tens of KiB of data, so the lock is far from the hot path.
 * Only batches of the standard size are kept, and only up to BATCH_POOL_MAX of
 * them, so that a burst of long records or a passing spike of batches in
 * flight does not pin memory for the rest of the run.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records/ack.h"
#include "records/batch.h"
#include "csp/csp.h"


static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct batch *pool_head;
static size_t pool_count;

static void batch_reset(struct batch *b, enum framing framing)
{
	b->seq = 0;
	b->len = 0;
	b->n = 0;
	b->framing = (uint8_t)framing;
	b->port = 0;
	b->records = 0;
	b->origin = NULL;
	b->first_rec = 0;
	b->offset = 0;
	b->aux[0] = b->aux[1] = 0;
	b->acks = NULL;
	b->next = NULL;
}

/*
 * Take a batch from the pool, or make one.  The result has room for at
 * least `data` bytes and `recs` records (0 means the standard sizes) and is
 * empty.  Never returns NULL (out of memory aborts).
 */
struct batch *batch_new(enum framing framing, size_t data, size_t recs)
{
	struct batch *b = NULL;

	if (data == 0)
		data = BATCH_DATA;
	if (recs == 0)
		recs = BATCH_RECS;
	pthread_mutex_lock(&pool_mu);
	if (pool_head) {
		b = pool_head;
		pool_head = b->next;
		pool_count--;
	}
	pthread_mutex_unlock(&pool_mu);
	if (!b) {
		b = csp_calloc(1, sizeof *b);
		b->cap = BATCH_DATA;
		b->data = csp_malloc(b->cap);
		b->rcap = BATCH_RECS;
		b->recs = csp_malloc(b->rcap * sizeof *b->recs);
	}
	b->pooled = 0;
	batch_reset(b, framing);
	if (data > b->cap)
		batch_reserve(b, data);
	if (recs > b->rcap)
		batch_reserve_recs(b, recs);
	return b;
}

/* Give b back to the pool, or free it when it has grown past the standard
 * size or the pool is full.  NULL is harmless. */
void batch_free(struct batch *b)
{
	if (!b)
		return;
	if (b->pooled) {
		/* Two owners: both would use it, and release its acks. */
		fprintf(stderr, "cspipe: internal error: a batch freed twice\n");
		abort();
	}
	if (b->acks)
		ackset_release(batch_take_acks(b), b->n == 0 && b->records == 0);
	if (b->cap == BATCH_DATA && b->rcap == BATCH_RECS) {
		pthread_mutex_lock(&pool_mu);
		if (pool_count < BATCH_POOL_MAX) {
			b->next = pool_head;
			b->pooled = 1;
			pool_head = b;
			pool_count++;
			b = NULL;
		}
		pthread_mutex_unlock(&pool_mu);
	}
	if (b) {
		free(b->data);
		free(b->recs);
		free(b);
	}
}

void batch_pool_drain(void)
{
	pthread_mutex_lock(&pool_mu);
	struct batch *b = pool_head;
	pool_head = NULL;
	pool_count = 0;
	pthread_mutex_unlock(&pool_mu);
	while (b) {
		struct batch *next = b->next;
		free(b->data);
		free(b->recs);
		free(b);
		b = next;
	}
}

struct batch *batch_clone(const struct batch *b)
{
	struct batch *c = batch_new((enum framing)b->framing, b->len, b->n);

	memcpy(c->data, b->data, b->len);
	c->len = b->len;
	memcpy(c->recs, b->recs, b->n * sizeof *b->recs);
	c->n = b->n;
	c->seq = b->seq;
	c->port = b->port;
	c->records = b->records;
	c->origin = b->origin;
	c->first_rec = b->first_rec;
	c->offset = b->offset;
	c->aux[0] = b->aux[0];
	c->aux[1] = b->aux[1];
	ackset_add(&c->acks, b->acks);
	return c;
}

void batch_reserve(struct batch *b, size_t extra)
{
	size_t need = b->len + extra;

	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : BATCH_DATA;
	while (cap < need)
		cap = cap < ((size_t)1 << 40) ? cap * 2 : need;
	b->data = csp_realloc(b->data, cap);
	b->cap = cap;
}

void batch_reserve_recs(struct batch *b, size_t extra)
{
	size_t need = (size_t)b->n + extra;

	if (need <= b->rcap)
		return;
	size_t cap = b->rcap ? b->rcap : BATCH_RECS;
	while (cap < need)
		cap *= 2;
	if (cap > UINT32_MAX)
		csp_oom();
	b->recs = csp_realloc(b->recs, cap * sizeof *b->recs);
	b->rcap = (uint32_t)cap;
}

char *batch_add(struct batch *b, const void *p, size_t len, uint32_t tag)
{
	char *dst = batch_begin_rec(b, len);

	if (len)
		memcpy(dst, p, len);
	batch_end_rec(b, len, tag);
	return dst;
}

/* Room for a record of up to `need` bytes plus its terminator, at the end of
 * data.  The pointer is valid until the next call that may grow b. */
char *batch_begin_rec(struct batch *b, size_t need)
{
	batch_reserve(b, need + 1);
	return b->data + b->len;
}

/* Close the record started by batch_begin_rec: it has len bytes; the
 * terminator is written after it for terminated framings. */
void batch_end_rec(struct batch *b, size_t len, uint32_t tag)
{
	if (b->n == b->rcap)
		batch_reserve_recs(b, 1);
	b->recs[b->n].off = (uint32_t)b->len;
	b->recs[b->n].len = (uint32_t)len;
	b->recs[b->n].tag = tag;
	b->n++;
	b->records++;
	b->len += len;
	if (b->framing != FRAMING_CHUNK)
		b->data[b->len++] = (char)framing_term((enum framing)b->framing);
}

uint64_t batch_bytes(const struct batch *b)
{
	uint64_t sum = 0;
	size_t t = batch_term_len(b);

	for (uint32_t i = 0; i < b->n; i++)
		sum += b->recs[i].len + t;
	return sum;
}

uint64_t batch_rec_number(const struct batch *b, uint32_t i)
{
	return b->first_rec ? b->first_rec + b->recs[i].tag : 0;
}

void batch_rec_where(char *out, size_t n, const struct batch *b, uint32_t i)
{
	const char *origin = b->origin ? b->origin : "input";

	if (b->first_rec)
		snprintf(out, n, "%s: record %" PRIu64, origin, batch_rec_number(b, i));
	else
		snprintf(out, n, "%s: a record at byte offset %" PRIu64, origin,
			 b->offset);
}
