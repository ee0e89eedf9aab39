/* SPDX-License-Identifier: MIT */
/*
 * framer.c - cut a byte stream into records and batches.
 *
 * The caller reads straight into the current batch's data; commit scans
 * only the new bytes for terminators (memchr), so every byte is looked at
 * once.  A full batch is cut after its last complete record: the
 * unfinished tail, usually part of one line, is the only thing copied.
 */
#include <string.h>

#include "records/framer.h"
#include "base/util.h"

/* A batch is cut once less than this is left free: reads stay large. */
#define MIN_ROOM 4096

void framer_init(struct framer *f, enum framing framing, size_t chunk,
		 size_t max_record, const char *origin, framer_emit_fn emit, void *arg)
{
	memset(f, 0, sizeof *f);
	f->framing = framing;
	f->chunk = chunk ? chunk : BATCH_DATA;
	f->max_record = max_record;
	f->target = framing == FRAMING_CHUNK && f->chunk > BATCH_DATA ? f->chunk : BATCH_DATA;
	f->origin = origin;
	f->emit = emit;
	f->arg = arg;
}

static struct batch *fresh(struct framer *f, size_t need)
{
	struct batch *b = batch_new(f->framing, need > f->target ? need : f->target, 0);

	b->origin = f->origin;
	b->first_rec = f->recno + 1;
	b->offset = f->offset;
	return b;
}

/*
 * Hand the complete records of the current batch to emit and start a new
 * batch holding the unfinished tail.  Returns emit's result.
 */
static int cut(struct framer *f, size_t room)
{
	struct batch *b = f->cur;
	size_t tail = b->len - f->rec_start;
	struct batch *nb;

	f->offset += f->rec_start;
	nb = fresh(f, tail + room);
	memcpy(nb->data, b->data + f->rec_start, tail);
	nb->len = tail;
	f->scanned -= f->rec_start;
	f->rec_start = 0;
	b->len -= tail;
	f->cur = nb;
	return f->emit(f->arg, b);
}

/*
 * Return where the caller may write, and how much room there is: at least
 * MIN_ROOM (or want, when smaller).  A nearly full batch is cut after its
 * last complete record; one that holds no complete record yet (a record
 * longer than a batch) grows.  Batches otherwise keep the standard size,
 * so they go back to the pool.
 */
char *framer_space(struct framer *f, size_t want, size_t *room)
{
	struct batch *b;
	size_t min = want < MIN_ROOM ? want : MIN_ROOM;

	if (min == 0)
		min = MIN_ROOM;
	if (!f->cur)
		f->cur = fresh(f, 0);
	b = f->cur;
	if (b->cap - b->len < min) {
		if (b->n > 0) {
			/* The cut emits; its result is reported by the next
			 * commit, which is where the caller looks. */
			f->pending = cut(f, MIN_ROOM);
			b = f->cur;
		}
		if (b->cap - b->len < min)
			batch_reserve(b, want > min ? want : min);
	}
	*room = b->cap - b->len;
	return b->data + b->len;
}

static int too_long(struct framer *f, struct err *e)
{
	char size[32];

	format_size(size, sizeof size, f->max_record);
	err_set(e, "%s:%llu: record longer than max_record (%s)", f->origin,
		(unsigned long long)(f->recno + 1), size);
	return -1;
}

/* A record ends at data[pos] (its terminator): add it.  Returns 1 when
 * the batch has no room for another record, -1 when it was too long. */
static int end_record(struct framer *f, struct batch *b, size_t pos)
{
	size_t len = pos - f->rec_start;

	if (len > f->max_record)
		return -1;
	b->recs[b->n] = (struct rec){ (uint32_t)f->rec_start, (uint32_t)len, b->n };
	b->n++;
	f->recno++;
	f->rec_start = pos + 1;
	return b->n == b->rcap;
}

#if defined(__SSE2__)
#include <emmintrin.h>
/* Bit i set when p[i] is the terminator, for the 64 bytes at p. */
static inline uint64_t term_mask64(const char *p, __m128i t)
{
	uint64_t m = 0;

	for (int k = 0; k < 4; k++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
		m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, t)) << (16 * k);
	}
	return m;
}
#endif

/*
 * Find the record ends in data[f->scanned, b->len).  Lines are short
 * (tens of bytes), so a call to memchr per record would cost more than the
 * search; 64 bytes are compared at once and the ends read off the bit
 * mask.  Stops early when the record array is full (returns 1) or a
 * record is too long (-1); f->scanned says how far it got.
 */
static int scan_terms(struct framer *f, struct batch *b)
{
	const char term = (char)framing_term(f->framing);
	const char *base = b->data;
	size_t i = f->scanned, len = b->len;
	int r;

#if defined(__SSE2__)
	const __m128i tv = _mm_set1_epi8(term);
	while (len - i >= 64) {
		uint64_t m = term_mask64(base + i, tv);
		while (m) {
			size_t pos = i + (size_t)__builtin_ctzll(m);
			m &= m - 1;
			if ((r = end_record(f, b, pos)) != 0) {
				f->scanned = pos + 1;
				return r;
			}
		}
		i += 64;
	}
#endif
	while (i < len) {
		const char *t = memchr(base + i, term, len - i);
		if (!t)
			break;
		size_t pos = (size_t)(t - base);
		i = pos + 1;
		if ((r = end_record(f, b, pos)) != 0) {
			f->scanned = i;
			return r;
		}
	}
	f->scanned = len;
	return 0;
}

/*
 * Account for n new bytes at the end of the current batch: complete every
 * record they end, check the unfinished one against max_record, and cut
 * the batch when it is full (of bytes or of records: batches keep the
 * standard size, so they go back to the pool).  Returns 0, the emit
 * callback's non-zero result, or -1 with e set.
 */
int framer_commit(struct framer *f, size_t n, struct err *e)
{
	struct batch *b = f->cur;
	int rc = f->pending;

	f->pending = 0;
	if (rc)
		return rc;
	b->len += n;
	if (f->framing == FRAMING_CHUNK) {
		while (b->len - f->rec_start >= f->chunk) {
			if (b->n == b->rcap && (rc = cut(f, MIN_ROOM)) != 0)
				return rc;
			b = f->cur;
			b->recs[b->n] = (struct rec){ (uint32_t)f->rec_start,
				(uint32_t)f->chunk, b->n };
			b->n++;
			b->records++;
			f->recno++;
			f->rec_start += f->chunk;
		}
		f->scanned = b->len;
	} else {
		for (;;) {
			int r = scan_terms(f, b);
			b->records = b->n;
			if (r < 0)
				return too_long(f, e);
			if (r == 0)
				break;
			/* Out of records: the rest goes on in a new batch. */
			if ((rc = cut(f, MIN_ROOM)) != 0)
				return rc;
			b = f->cur;
		}
		if (b->len - f->rec_start > f->max_record)
			return too_long(f, e);
	}
	if (b->n > 0 && b->cap - b->len < MIN_ROOM)
		return cut(f, MIN_ROOM);
	return 0;
}

/*
 * End of input: complete the last record, adding the terminator the input
 * lacked (a sink writes every record with one, as grep and sort do), and
 * emit what is left.  Returns as framer_commit.
 */
int framer_finish(struct framer *f, struct err *e)
{
	struct batch *b = f->cur;
	int rc = f->pending;

	f->pending = 0;
	if (rc)
		return rc;
	if (!b)
		return 0;
	if (b->len > f->rec_start) {
		size_t len = b->len - f->rec_start;

		if (f->framing != FRAMING_CHUNK && len > f->max_record)
			return too_long(f, e);
		if (f->framing != FRAMING_CHUNK) {
			batch_reserve(b, 1);
			b->data[b->len++] = (char)framing_term(f->framing);
			f->missing_term = 1;
		}
		if (b->n == b->rcap)
			batch_reserve_recs(b, 1);
		b->recs[b->n] = (struct rec){ (uint32_t)f->rec_start, (uint32_t)len, b->n };
		b->n++;
		b->records = b->n;
		f->recno++;
	}
	/* The next bytes, if the caller goes on (a followed file whose tail
	 * was sent unterminated), start a batch and a record of their own. */
	f->cur = NULL;
	f->rec_start = 0;
	f->scanned = 0;
	f->offset += b->len;
	if (b->n == 0) {
		batch_free(b);
		return 0;
	}
	return f->emit(f->arg, b);
}

int framer_flush(struct framer *f)
{
	int rc = f->pending;

	f->pending = 0;
	if (rc)
		return rc;
	if (!f->cur || f->cur->n == 0)
		return 0;
	return cut(f, MIN_ROOM);
}

int framer_stop(struct framer *f)
{
	struct batch *b = f->cur;
	int rc = f->pending;

	f->pending = 0;
	f->cur = NULL;
	if (rc || !b || b->n == 0) {
		batch_free(b);
		return rc;
	}
	b->len = f->rec_start;
	return f->emit(f->arg, b);
}

void framer_discard(struct framer *f)
{
	batch_free(f->cur);
	f->cur = NULL;
}
