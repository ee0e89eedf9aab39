/* SPDX-License-Identifier: MIT */
/*
 * framer.h - cut a byte stream into records and batches.
 *
 * Bytes are read straight into the current batch (framer_space), then
 * framer_commit finds the record ends in what arrived.  When a batch is
 * full it is handed to the emit callback and the unfinished tail record
 * moves to the next batch, so framing copies only that tail.  A record
 * longer than max_record is an error naming the origin and the record
 * number, not unbounded growth.
 */
#ifndef CSPIPE_FRAMER_H
#define CSPIPE_FRAMER_H

#include <stddef.h>
#include <stdint.h>

#include "records/batch.h"

struct err;

/* Called with each complete batch (ownership passes).  Return 0 to go on,
 * or a positive value to stop: framer_commit/framer_finish return that
 * value (a negative one would read as the framer's own error). */
typedef int (*framer_emit_fn)(void *arg, struct batch *b);

struct framer {
	enum framing framing;
	size_t chunk;           /* FRAMING_CHUNK: record size */
	size_t max_record;      /* longest record accepted */
	size_t target;          /* batch data size to aim for */
	const char *origin;     /* for messages and batch->origin */
	framer_emit_fn emit;
	void *arg;
	/* state */
	struct batch *cur;
	size_t scanned;         /* bytes of cur->data already scanned */
	size_t rec_start;       /* offset of the unfinished record in cur */
	uint64_t recno;         /* records completed so far */
	uint64_t offset;        /* origin bytes before cur->data[0] */
	int missing_term;       /* the input's last record had no terminator */
	int pending;            /* emit result of a cut made by framer_space */
};

void framer_init(struct framer *f, enum framing framing, size_t chunk,
		 size_t max_record, const char *origin, framer_emit_fn emit, void *arg);
/* Where to write the next bytes; *room is at least min(want, 4 KiB). */
char *framer_space(struct framer *f, size_t want, size_t *room);
/* n bytes were written at framer_space.  Returns 0, the emit callback's
 * non-zero value, or -1 with err set (record too long). */
int framer_commit(struct framer *f, size_t n, struct err *e);
/* End of input: the last record (even without a terminator) is completed
 * and the last batch emitted.  Same results as framer_commit.  Bytes
 * written after it (framer_space) begin a new record. */
int framer_finish(struct framer *f, struct err *e);
/* Emit the complete records held now, without waiting for the batch to
 * fill: a source whose input went quiet (a pipe from `tail -f`) sends what
 * it has.  Same results as framer_commit. */
int framer_flush(struct framer *f);
/* Stop early (cancellation): emit the complete records held and drop the
 * unfinished one, which would be torn.  Same results as framer_commit. */
int framer_stop(struct framer *f);
/* Free whatever is held (after an early stop). */
void framer_discard(struct framer *f);

#endif
