/* SPDX-License-Identifier: MIT */
/*
 * batch.h - records and batches.
 *
 * A record is a byte string (any bytes, NUL included).  Records travel in
 * batches: one data buffer and an array of (offset, length) pairs, so that
 * one channel operation moves thousands of records, a stage that drops
 * records compacts the array without copying bytes, and buffers are
 * recycled through a pool instead of malloc'ed per record.
 *
 * Invariant: in a batch framed by a terminator (lines, nul) every record's
 * bytes are followed by the terminator byte in data, the last record too
 * (the source adds one when the input lacked it), so a sink can write runs
 * of adjacent records with one copy.  Chunk-framed batches (binary data,
 * compressed streams) have no terminator.
 */
#ifndef CSPIPE_BATCH_H
#define CSPIPE_BATCH_H

#include <stddef.h>
#include <stdint.h>

enum framing {
	FRAMING_LINES,   /* records end with '\n'; a '\r' before it is data */
	FRAMING_NUL,     /* records end with '\0' */
	FRAMING_CHUNK,   /* fixed-size pieces of a byte stream, no terminator */
};

struct rec {
	uint32_t off;    /* offset of the first byte in data */
	uint32_t len;    /* length, terminator excluded */
	uint32_t tag;    /* index in the batch its source made: first_rec + tag
			    is its number in the origin; shard_by restores
			    order by it.  Stages that keep records keep tags. */
};

struct batch {
	uint64_t seq;          /* position in the stream of its channel */
	char *data;
	size_t len, cap;       /* bytes used / allocated in data */
	struct rec *recs;
	uint32_t n, rcap;      /* records used / allocated */
	uint8_t framing;       /* enum framing */
	uint8_t port;          /* output port it leaves by (route branches) */
	uint8_t pooled;        /* in the pool: freeing it again is a bug */
	uint64_t records;      /* logical records: n, or for an encoded byte
				  stream (compress) the records it holds */
	/* Where the records came from, for error messages. */
	const char *origin;    /* file name or "stdin"; owned by its source */
	uint64_t first_rec;    /* 1-based number of recs[0] in origin (0: unknown) */
	uint64_t offset;       /* byte offset in origin of the batch's input */
	uint64_t aux[2];       /* private to the stage between process and emit */
	struct ackset *acks;   /* references to the acknowledgement tokens of
				  the source input its records came from
				  (ack.h); NULL when no source asks */
	struct batch *next;    /* lists: output queues, the pool */
};

/* Target size of a batch's data: large enough that channel operations are
 * rare and that the 32 KiB dictionary a compress worker primes each batch
 * with costs little next to the batch (pigz's blocks are 128 KiB too; at
 * 64 KiB, compress spent 5% of its time priming), small enough to stay in
 * a core's L2 cache. */
#define BATCH_DATA 131072
#define BATCH_RECS 2048

/* A batch from the pool with room for at least `data` bytes and `recs`
 * records (0: the defaults), empty, framing set.  Never NULL. */
struct batch *batch_new(enum framing framing, size_t data, size_t recs);
/* Return b to the pool (NULL is harmless).  Oversized buffers are freed,
 * not kept, so the pool's memory stays bounded.  Its ack references are
 * released: done when it holds no record, failed otherwise (a stage that
 * made its records durable, or filtered them all, says so first with
 * batch_acks_done, or the engine does it for it). */
void batch_free(struct batch *b);
/* A deep copy (for a second reader of a broadcast), with its own
 * references to b's ack tokens. */
struct batch *batch_clone(const struct batch *b);
/* The pool keeps at most this many free batches. */
#define BATCH_POOL_MAX 64
/* Free every batch still pooled (at exit, so leak checkers stay quiet). */
void batch_pool_drain(void);

/* Room for extra bytes / records at the end. */
void batch_reserve(struct batch *b, size_t extra);
void batch_reserve_recs(struct batch *b, size_t extra);
/* Append one record (its terminator added for terminated framings); keeps
 * tag.  Returns the record's bytes in data. */
char *batch_add(struct batch *b, const void *p, size_t len, uint32_t tag);
/* Start a record of unknown length: returns where to write and the room
 * available (at least `need`); finish it with batch_end_rec. */
char *batch_begin_rec(struct batch *b, size_t need);
void batch_end_rec(struct batch *b, size_t len, uint32_t tag);

/* The terminator byte of a framing, and its length (0 for chunks). */
static inline int framing_term(enum framing f) { return f == FRAMING_NUL ? '\0' : '\n'; }
static inline size_t framing_term_len(enum framing f) { return f == FRAMING_CHUNK ? 0 : 1; }
static inline size_t batch_term_len(const struct batch *b) { return framing_term_len((enum framing)b->framing); }
static inline const char *rec_ptr(const struct batch *b, uint32_t i) { return b->data + b->recs[i].off; }

/* Bytes the records of b stand for in a stream (records + terminators). */
uint64_t batch_bytes(const struct batch *b);

/* The 1-based number of record i of b in its origin, or 0 when unknown. */
uint64_t batch_rec_number(const struct batch *b, uint32_t i);
/* Where record i of b came from, for a runtime error: "ORIGIN: record N",
 * or "ORIGIN: a record at byte offset X" when numbers are unknown (ORIGIN
 * is "input" when b has none).  The one way messages place a record. */
void batch_rec_where(char *out, size_t n, const struct batch *b, uint32_t i);

#endif
