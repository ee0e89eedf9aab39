/* SPDX-License-Identifier: MIT */
/*
 * shard.c - keyed fan-out for shard_by.
 *
 * The key of a record is a field (blank-separated as awk splits, or by a
 * delimiter) or the first capture group of a pattern; its FNV-1a hash
 * picks the worker, so equal keys always meet the same worker.  Copying
 * the records into the parts costs a memcpy per record, small next to
 * the work of the stage that wanted sharding.
 */
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "records/ack.h"
#include "records/batch.h"
#include "records/jpath.h"
#include "records/pattern.h"
#include "records/shard.h"

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The key of one record, as a span of it (empty when absent; for a path,
 * also when the record is not JSON).  room: bytes readable after s. */
static void record_key(const struct shard_key *k, struct pattern_match *m,
		       struct field_reader *fr, const char *s, size_t len, size_t room,
		       const char **key, size_t *klen)
{
	*key = s;
	*klen = 0;
	if (k->path) {
		if (field_read(fr, k->path, s, len, room, key, klen) != 1) {
			*key = s;
			*klen = 0;
		}
		return;
	}
	if (k->pattern) {
		if (pattern_exec(k->pattern, m, s, len, 0) == 1) {
			const size_t *ov = pattern_ovector(m);
			size_t g = pattern_captures(k->pattern) >= 1 && ov[2] != (size_t)-1 ? 1 : 0;
			*key = s + ov[2 * g];
			*klen = ov[2 * g + 1] - ov[2 * g];
		}
		return;
	}
	const char *p = s, *end = s + len;
	size_t dl = k->delimiter ? strlen(k->delimiter) : 0;
	for (int f = 1; p <= end; f++) {
		const char *start, *stop;
		if (dl) {
			start = p;
			stop = memmem(p, (size_t)(end - p), k->delimiter, dl);
			if (!stop)
				stop = end;
			p = stop + dl;
		} else {
			while (p < end && blank(*p))
				p++;
			if (p == end)
				return;
			start = p;
			while (p < end && !blank(*p))
				p++;
			stop = p;
		}
		if (f == k->field) {
			*key = start;
			*klen = (size_t)(stop - start);
			return;
		}
		if (dl && stop == end)
			return;
	}
}

void shard_split(const struct shard_key *k, struct pattern_match *m,
		 struct field_reader *fr, struct batch *in, struct batch **parts, uint32_t n)
{
	struct ackset *acks = batch_take_acks(in);

	for (uint32_t i = 0; i < n; i++) {
		parts[i] = batch_new((enum framing)in->framing, in->len / n + 4096, in->n / n + 16);
		parts[i]->seq = in->seq;
		parts[i]->origin = in->origin;
		parts[i]->first_rec = in->first_rec;
		parts[i]->offset = in->offset;
		parts[i]->records = 0;
		ackset_add(&parts[i]->acks, acks);
	}
	/* Every part holds its own references now. */
	ackset_release(acks, 1);
	for (uint32_t r = 0; r < in->n; r++) {
		const char *s = in->data + in->recs[r].off, *key;
		size_t len = in->recs[r].len, klen;
		record_key(k, m, fr, s, len, in->cap - in->recs[r].off - len, &key, &klen);
		struct batch *p = parts[fnv1a(key, klen) % n];
		batch_add(p, s, len, in->recs[r].tag);
	}
	batch_free(in);
}

/* Append the record r of b to the list being built (its last batch). */
static void put(struct batch **head, struct batch **tail, const struct batch *b, uint32_t r,
		int port)
{
	uint32_t len = b->recs[r].len;

	if (!*tail || ((*tail)->len + len + 1 > BATCH_DATA && (*tail)->n > 0) ||
	    (*tail)->n >= BATCH_RECS) {
		struct batch *nb = batch_new((enum framing)b->framing, len + 1, 0);
		nb->seq = b->seq;
		nb->origin = b->origin;
		nb->first_rec = b->first_rec;
		nb->offset = b->offset;
		nb->port = (uint8_t)port;
		if (*tail)
			(*tail)->next = nb;
		else
			*head = nb;
		*tail = nb;
	}
	batch_add(*tail, b->data + b->recs[r].off, len, b->recs[r].tag);
}

static void free_all(struct batch *b)
{
	while (b) {
		struct batch *next = b->next;
		batch_free(b);
		b = next;
	}
}

struct batch *shard_merge(struct batch **parts, uint32_t n, size_t nports, int by_tag)
{
	struct batch *head = NULL, *tail = NULL;

	if (!by_tag) {
		for (uint32_t i = 0; i < n; i++) {
			struct batch *b = parts[i];
			while (b) {
				struct batch *next = b->next;
				b->next = NULL;
				if (b->n == 0 && b->len == 0) {
					batch_free(b);
				} else {
					if (tail)
						tail->next = b;
					else
						head = b;
					tail = b;
				}
				b = next;
			}
		}
		return head;
	}
	/* The rebuilt batches stand for every record of every part: each
	 * takes a reference to every part's tokens. */
	struct ackset *acks = NULL;
	for (uint32_t i = 0; i < n; i++)
		for (struct batch *b = parts[i]; b; b = b->next)
			ackset_move(&acks, batch_take_acks(b));
	if (nports == 0)
		nports = 1;
	/* One cursor per part: its current batch of the port and the
	 * record in it. */
	struct batch **cur = csp_calloc(n, sizeof *cur);
	uint32_t *at = csp_calloc(n, sizeof *at);
	for (size_t port = 0; port < nports; port++) {
		struct batch *ptail = NULL, *phead = NULL;

		for (uint32_t i = 0; i < n; i++) {
			cur[i] = parts[i];
			at[i] = 0;
		}
		for (;;) {
			int best = -1;
			for (uint32_t i = 0; i < n; i++) {
				while (cur[i] && (cur[i]->port != port || at[i] >= cur[i]->n)) {
					cur[i] = cur[i]->next;
					at[i] = 0;
				}
				if (cur[i] && (best < 0 ||
					       cur[i]->recs[at[i]].tag < cur[best]->recs[at[best]].tag))
					best = (int)i;
			}
			if (best < 0)
				break;
			put(&phead, &ptail, cur[best], at[best], (int)port);
			at[best]++;
		}
		if (phead) {
			if (tail)
				tail->next = phead;
			else
				head = phead;
			tail = ptail;
		}
	}
	free(cur);
	free(at);
	for (uint32_t i = 0; i < n; i++)
		free_all(parts[i]);
	for (struct batch *b = head; b; b = b->next)
		ackset_add(&b->acks, acks);
	ackset_release(acks, 1);
	return head;
}
