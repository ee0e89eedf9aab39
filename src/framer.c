/*
 * framer.c - cut a byte stream into records and batches.
 *
 * The caller reads straight into the current batch's data; commit scans
 * only the new bytes for terminators (memchr), so every byte is looked at
 * once.  A full batch is cut after its last complete record: the
 * unfinished tail, usually part of one line, is the only thing copied.
 */
#include <string.h>

#include "framer.h"
#include "util.h"

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
 * Return where the caller may write at least `want` bytes (fewer only if
 * want exceeds what a record may still grow to; never 0).  The current
 * batch is cut first when it holds complete records and is nearly full,
 * else it grows: a record longer than a batch makes the batch grow.
 */
char *framer_space(struct framer *f, size_t want, size_t *room)
{
	struct batch *b;

	if (want == 0)
		want = MIN_ROOM;
	if (!f->cur)
		f->cur = fresh(f, want);
	b = f->cur;
	if (b->cap - b->len < want) {
		if (b->n > 0 && b->cap - b->len < MIN_ROOM) {
			/* The cut emits; its result is reported by the next
			 * commit, which is where the caller looks. */
			f->pending = cut(f, want);
			b = f->cur;
		} else if (b->n == 0 || b->cap - b->len < MIN_ROOM) {
			batch_reserve(b, want);
		}
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

/*
 * Account for n new bytes at the end of the current batch: complete every
 * record they end, check the unfinished one against max_record, and cut
 * the batch when it is full.  Returns 0, the emit callback's non-zero
 * result, or -1 with e set.
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
			if (b->n == b->rcap)
				batch_reserve_recs(b, 1);
			b->recs[b->n] = (struct rec){ (uint32_t)f->rec_start,
				(uint32_t)f->chunk, b->n };
			b->n++;
			b->records++;
			f->recno++;
			f->rec_start += f->chunk;
		}
		f->scanned = b->len;
	} else {
		char term = (char)framing_term(f->framing);
		const char *base = b->data;
		const char *p = base + f->scanned, *end = base + b->len, *t;

		while ((t = memchr(p, term, (size_t)(end - p))) != NULL) {
			size_t len = (size_t)(t - base) - f->rec_start;

			if (len > f->max_record)
				return too_long(f, e);
			if (b->n == b->rcap)
				batch_reserve_recs(b, 1);
			b->recs[b->n] = (struct rec){ (uint32_t)f->rec_start,
				(uint32_t)len, b->n };
			b->n++;
			f->recno++;
			f->rec_start = (size_t)(t - base) + 1;
			p = t + 1;
		}
		b->records = b->n;
		f->scanned = b->len;
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
		f->rec_start = b->len;
	}
	f->cur = NULL;
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
