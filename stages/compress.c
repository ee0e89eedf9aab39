/* SPDX-License-Identifier: MIT */
/*
 * compress.c - the `compress` stage: gzip, zlib or raw deflate, made by
 * every worker at once as ONE stream, the way pigz does it.
 *
 * Each input batch is compressed on its own as raw deflate ending with
 * Z_SYNC_FLUSH (so it ends on a byte boundary and the pieces concatenate
 * into one valid deflate stream), primed with the 32 KiB of uncompressed
 * stream that precede it as dictionary, so that matches reach back across
 * batch boundaries and the ratio stays that of one deflate stream.  (A
 * worker that compressed the batch before goes on with its own stream
 * instead: same window, no reset, no priming.)  The
 * worker of batch 0 writes the header; emit, which runs serially in output
 * order, folds each piece's CRC-32 (or Adler-32) and length into the
 * stream's; finish writes an empty final block and the trailer.
 *
 * The dictionary handoff.  A worker cannot see batch s-1, so the stage
 * keeps a ring of nslots = stage_window(st)+1 slots.  Slot k holds a tail
 * (the last 32 KiB of the uncompressed stream up to the end of a batch s
 * with s % nslots == k) and two channels of capacity 1: `ready` carries
 * (s, the tail's length) once the tail is there; `free` holds a token
 * while no one needs the tail any more (one token at the start).  The
 * worker of batch s:
 *
 *   1. when its input has 32 KiB or more, takes slot s's token, copies the
 *      last 32 KiB of its input into slot s and sends on its `ready`,
 *      before anything else;
 *   2. receives the tail of s-1 from slot s-1's `ready` (not for s = 0);
 *   3. when its input is shorter than 32 KiB, takes slot s's token, makes
 *      its tail from the end of s-1's tail followed by its input, and sends
 *      on slot s's `ready`;
 *   4. primes its deflate stream with s-1's tail, then gives slot s-1's
 *      token back.
 *
 * Why this cannot deadlock.  Every wait is for a batch with a lower seq:
 * step 2 for s-1 (its step 1 or 3), steps 1 and 3 for s+1-nslots (its step
 * 4; nslots >= 2, so that is below s), and step 2's sender may itself wait
 * only in its steps 1 and 3.  The engine takes a stage's input batches in
 * seq order, each by a worker that runs process on it at once, so every
 * batch below s is being processed or is done while s is: the lowest batch
 * not done waits for nothing that is not done, so by induction every batch
 * finishes; there is no cycle.
 *
 * Why every batch gets the right tail.  The engine's reorder window
 * (stage_window's comment) keeps at most nslots-1 batches between being
 * taken and being emitted, and emits in seq order, so when s is taken,
 * batches 0..s+1-nslots are emitted.  Hence the token waits never block
 * (batch s+1-nslots gave slot s's token back), and when s waits on slot
 * s-1, the batch before it that used the slot, s-nslots, has been taken by
 * s+1-nslots: what arrives there is the tail of s-1.  The seq in the
 * message checks this; a mismatch would mean the window was not kept, and
 * fails the stage rather than make a wrong stream.  The token makes the
 * slot's buffer safe to overwrite even so.
 *
 * The waits take w->ctx.  If it is cancelled (the engine stops the worker
 * at once) a batch is compressed without a dictionary, which is still a
 * valid continuation of the stream, only a little larger, and its own tail
 * is not handed on when the slot could not be had: the output stays a
 * valid stream.
 *
 * independent: true (pigz -i).  Each batch is deflated from an empty
 * window, without the handoff: still one gzip stream, but a damaged block
 * spoils only its own batch (about 128 KiB of input), and a batch's
 * output depends on that batch alone, which keeps the output of an
 * unchanged region the same after an edit elsewhere (rsync's delta
 * transfer finds it) at the price of a few per cent in size.
 *
 * zstd.  Each batch is compressed by its worker as one zstd frame (with
 * its content size and checksum, as the zstd command writes them);
 * frames concatenate into a valid .zst, which zstd -d reads as one.  Frames
 * are independent by nature: no dictionary travels between workers.  On
 * the sixteen loghub logs (4.3 MB) at level 3 one frame per 128 KiB batch
 * is 5.8% larger than one frame for the whole (478577 against 452343
 * bytes); a single stream would need one worker to do it all, so frames
 * it is.  An empty input makes one empty frame.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "csp/csp.h"
#include "core/stage.h"

/* The deflate window: the most that a match can reach back. */
#define DICT_SIZE 32768

enum { FMT_GZIP, FMT_ZLIB, FMT_DEFLATE, FMT_ZSTD };

struct compress_conf {
	int format;
	int64_t level;
	int independent;
};

static const char *const format_names[] = { "gzip", "zlib", "deflate", "zstd", NULL };

static const struct option compress_options[] = {
	{ .name = "format", .type = OPT_ENUM,
	  .offset = offsetof(struct compress_conf, format), .def = "gzip",
	  .doc = "container: gzip (RFC 1952), zlib (RFC 1950), raw deflate, or zstd (a frame per batch)",
	  .choices = format_names },
	{ .name = "level", .type = OPT_INT,
	  .offset = offsetof(struct compress_conf, level), .def = "6",
	  .doc = "0 stores .. 9 smallest (deflate; default 6); -7 fastest .. 19 smallest (zstd; default 3)",
	  .min = -7, .max = 19 },
	{ .name = "independent", .type = OPT_BOOL,
	  .offset = offsetof(struct compress_conf, independent), .def = "false",
	  .doc = "deflate each batch from an empty window (pigz -i): damage and edits stay local" },
	{ .name = NULL },
};

/* What `ready` carries. */
struct handoff {
	uint64_t seq;                    /* the batch the tail ends */
	size_t len;                      /* bytes in tail */
};

struct dict_slot {
	struct chan *ready;              /* capacity 1: struct handoff */
	struct chan *free;               /* capacity 1: a token while tail is unused */
	unsigned char tail[DICT_SIZE];
};

/* Stage-wide state, made by start. */
struct compress_state {
	int format, level, independent;
	size_t nslots;
	struct dict_slot *slots;
	/* emit's, touched by it alone (it runs serially) */
	uint32_t check;                  /* CRC-32 or Adler-32 so far */
	uint64_t total;                  /* uncompressed bytes so far */
	int started;                     /* a batch, header included, went out */
};

struct compress_worker {
	z_stream zs;
	ZSTD_CCtx *zc;                   /* format zstd: instead of zs */
	struct buf gather;               /* input bytes of non-adjacent records */
	uint64_t next;                   /* zs has compressed the stream up to
					    the end of batch next-1 (0: none):
					    batch next continues it as is */
};

/* Levels beyond deflate's are zstd's alone; zstd has no store level 0
 * (libzstd would read it as its default).  Reported at the level's value,
 * as the table's own range check would. */
static int compress_check(struct stage *st, struct diags *d)
{
	const struct compress_conf *c = st->conf;
	struct pos at = stage_opt_pos(st, "level");

	if (!at.file)
		at = stage_pos(st);
	if (c->format != FMT_ZSTD && (c->level < 0 || c->level > 9)) {
		diag_at(d, at, "level: %lld is out of range 0..9", (long long)c->level);
		return -1;
	}
	if (c->format == FMT_ZSTD && c->level == 0) {
		diag_at(d, at, "level: 0 is not a zstd level (-7..-1 or 1..19)");
		return -1;
	}
	return 0;
}

/* The level to compress at: as written, or when not written the format's
 * own default, 6 as gzip's and 3 as zstd's. */
static int level_of(const struct stage *st)
{
	const struct compress_conf *c = st->conf;

	if (c->format == FMT_ZSTD && !stage_opt_pos(st, "level").file)
		return ZSTD_CLEVEL_DEFAULT;
	return (int)c->level;
}

static int compress_start(struct stage *st, struct err *e)
{
	const struct compress_conf *c = st->conf;
	struct compress_state *cs = csp_calloc(1, sizeof *cs);

	cs->format = c->format;
	cs->level = level_of(st);
	cs->independent = c->independent;
	cs->nslots = (size_t)stage_window(st) + 1;
	if (cs->nslots < 2)
		cs->nslots = 2;
	cs->slots = csp_calloc(cs->nslots, sizeof *cs->slots);
	for (size_t i = 0; i < cs->nslots; i++) {
		size_t token = 0;

		cs->slots[i].ready = chan_new(sizeof(struct handoff), 1);
		cs->slots[i].free = chan_new(sizeof(size_t), 1);
		(void)chan_try_send(cs->slots[i].free, &token);
	}
	cs->check = cs->format == FMT_ZLIB ? 1 : 0;  /* adler32/crc32 of nothing */
	st->priv = cs;
	return 0;
}

static void compress_free(struct stage *st)
{
	struct compress_state *cs = st->priv;

	if (!cs)
		return;
	for (size_t i = 0; i < cs->nslots; i++) {
		chan_free(cs->slots[i].ready);
		chan_free(cs->slots[i].free);
	}
	free(cs->slots);
	free(cs);
	st->priv = NULL;
}

/* A raw deflate stream per worker, reset for each batch that does not
 * follow the worker's previous one.  Cannot fail (out of memory aborts, as
 * everywhere). */
static void *compress_worker_new(struct stage *st, int index)
{
	const struct compress_conf *c = st->conf;
	struct compress_worker *cw = csp_calloc(1, sizeof *cw);

	if (c->format == FMT_ZSTD) {
		cw->zc = ZSTD_createCCtx();
		if (!cw->zc)
			csp_oom();
		(void)ZSTD_CCtx_setParameter(cw->zc, ZSTD_c_compressionLevel, level_of(st));
		(void)ZSTD_CCtx_setParameter(cw->zc, ZSTD_c_checksumFlag, 1);
		return cw;
	}
	if (deflateInit2(&cw->zs, (int)c->level, Z_DEFLATED, -15, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		csp_oom();
	return cw;
}

static void compress_worker_free(struct stage *st, void *state)
{
	struct compress_worker *cw = state;

	if (!cw)
		return;
	if (cw->zc)
		ZSTD_freeCCtx(cw->zc);
	else
		deflateEnd(&cw->zs);
	buf_free(&cw->gather);
	free(cw);
}

/*
 * The bytes batch b stands for in the stream: its records, each with its
 * terminator (none for chunks).  When the records lie back to back in data
 * (the usual case: straight from a framer, or from a filter that kept a
 * run) they are used in place; else they are gathered into g.  *p stays
 * valid until b or g changes.
 */
static void input_bytes(const struct batch *b, struct buf *g,
			const unsigned char **p, size_t *len)
{
	size_t t = batch_term_len(b);
	size_t start, end;
	uint32_t i;

	*p = NULL;
	*len = 0;
	if (b->n == 0)
		return;
	start = b->recs[0].off;
	end = start + b->recs[0].len + t;
	for (i = 1; i < b->n && b->recs[i].off == end; i++)
		end += b->recs[i].len + t;
	if (i == b->n) {
		*p = (const unsigned char *)b->data + start;
		*len = end - start;
		return;
	}
	g->len = 0;
	for (i = 0; i < b->n; i++)
		buf_append(g, rec_ptr(b, i), b->recs[i].len + t);
	*p = (const unsigned char *)g->p;
	*len = g->len;
}

/* A blocking receive that takes a value already there even when ctx is
 * cancelled: CSP_OK or the context's error. */
static int recv_now(struct chan *ch, void *v, struct ctx *ctx)
{
	if (chan_try_recv(ch, v) == CSP_OK)
		return CSP_OK;
	return chan_recv(ch, v, ctx);
}

/* Take slot's token: 0, or -1 when the wait was cancelled (then the slot
 * must not be written). */
static int claim(struct dict_slot *slot, struct ctx *ctx)
{
	size_t token;

	return recv_now(slot->free, &token, ctx) == CSP_OK ? 0 : -1;
}

/* Hand the tail of batch seq, already written, on.  The slot's token is
 * held, so `ready` is empty and the send cannot block. */
static void publish(struct dict_slot *slot, uint64_t seq, size_t len)
{
	struct handoff h = { seq, len };

	(void)chan_try_send(slot->ready, &h);
}

/* The tail was read: the slot may be written again. */
static void release(struct dict_slot *slot)
{
	size_t token = 0;

	(void)chan_try_send(slot->free, &token);
}

/* The tail of batch seq, once its worker has put it in slot: 0 and its
 * length in *len; 1 when the wait was cancelled (go without); -1 with e
 * set when another batch's tail was there (the window was not kept). */
static int take(struct dict_slot *slot, uint64_t seq, size_t *len,
		struct ctx *ctx, struct err *e)
{
	struct handoff h;

	if (recv_now(slot->ready, &h, ctx) != CSP_OK)
		return 1;
	if (h.seq != seq) {
		err_set(e, "batch %llu found the dictionary of batch %llu, not %llu "
			"(the reorder window was not kept)", (unsigned long long)seq + 1,
			(unsigned long long)h.seq, (unsigned long long)seq);
		return -1;
	}
	*len = h.len;
	return 0;
}

/* The gzip or zlib header, as gzip and zlib themselves write it (no name,
 * no time, OS Unix; the level in XFL / FLEVEL).  Returns its length. */
static size_t header(int format, int level, unsigned char *h)
{
	if (format == FMT_GZIP) {
		static const unsigned char gz[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };

		memcpy(h, gz, sizeof gz);
		h[8] = level == 9 ? 2 : level == 1 ? 4 : 0;
		return sizeof gz;
	}
	if (format == FMT_ZLIB) {
		unsigned flevel = level < 2 ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3;
		unsigned v = (0x78u << 8) | (flevel << 6);

		v += 31 - v % 31;
		h[0] = (unsigned char)(v >> 8);
		h[1] = (unsigned char)v;
		return 2;
	}
	return 0;
}

/* Make the output batch hold its bytes as chunk records, each short enough
 * for struct rec (one record in practice). */
static void set_records(struct batch *ob)
{
	const size_t most = (size_t)1 << 30;

	ob->n = 0;
	for (size_t off = 0; off < ob->len; off += most) {
		size_t len = ob->len - off < most ? ob->len - off : most;

		if (ob->n == ob->rcap)
			batch_reserve_recs(ob, 1);
		ob->recs[ob->n] = (struct rec){ (uint32_t)off, (uint32_t)len, ob->n };
		ob->n++;
	}
}

/* Deflate p[0..len) to the end of ob's data, ending with a sync flush
 * (an empty stored block that puts the end on a byte boundary).  ob grows
 * as needed.  Cannot fail: the stream is set up and the output room is
 * never zero. */
static void squeeze(z_stream *zs, const unsigned char *p, size_t len,
		    struct batch *ob)
{
	size_t left = len;

	zs->next_in = (z_const Bytef *)p;
	do {
		uInt chunk = left > UINT_MAX ? UINT_MAX : (uInt)left;
		int flush = chunk == left ? Z_SYNC_FLUSH : Z_NO_FLUSH;

		zs->avail_in = chunk;
		left -= chunk;
		do {
			size_t room;

			if (ob->cap - ob->len < 256)
				batch_reserve(ob, ob->cap);
			room = ob->cap - ob->len;
			if (room > UINT_MAX)
				room = UINT_MAX;
			zs->next_out = (Bytef *)ob->data + ob->len;
			zs->avail_out = (uInt)room;
			(void)deflate(zs, flush);
			ob->len += room - zs->avail_out;
		} while (zs->avail_out == 0 || zs->avail_in > 0);
	} while (left > 0);
}

/* Compress p[0..len) as one zstd frame at the end of ob's data.  Cannot
 * fail: the room is ZSTD_compressBound's, so libzstd can fail only to
 * allocate. */
static void zstd_frame(ZSTD_CCtx *zc, const unsigned char *p, size_t len,
		       struct batch *ob)
{
	size_t bound = ZSTD_compressBound(len), r;

	if (ob->cap - ob->len < bound)
		batch_reserve(ob, bound);
	r = ZSTD_compress2(zc, ob->data + ob->len, ob->cap - ob->len, p, len);
	if (ZSTD_isError(r))
		csp_oom();
	ob->len += r;
}

/*
 * format zstd: one input batch as one frame in one output batch (none
 * for an empty batch, which only passes its record count on).  Takes
 * ownership of in.  Returns 0 or STAGE_STOP.
 */
static int zstd_process(struct worker *w, struct batch *in, struct outq *out)
{
	struct compress_worker *cw = w->state;
	const unsigned char *p;
	struct batch *ob;
	size_t len;
	int rc = 0;

	input_bytes(in, &cw->gather, &p, &len);
	if (len == 0 && in->records == 0)
		goto done;
	ob = batch_new(FRAMING_CHUNK, 0, 1);
	if (len > 0)
		zstd_frame(cw->zc, p, len, ob);
	set_records(ob);
	ob->records = in->records;
	if (outq_push(out, ob) != 0)
		rc = STAGE_STOP;
done:
	batch_free(in);
	return rc;
}

/*
 * Compress one input batch into one output batch (none when the batch is
 * empty, except for batch 0, which always carries the header).  Takes
 * ownership of in.  The output has one chunk record with the compressed
 * bytes; records = the input's logical records; aux[0], aux[1] = the
 * check value and length of the input bytes, for emit.  Returns 0,
 * STAGE_STOP when the output could not go on, or -1 with e set if the
 * engine broke its reorder window (see the top of the file).
 */
static int compress_process(struct worker *w, struct batch *in,
			    struct outq *out, struct err *e)
{
	struct compress_state *cs = w->stage->priv;
	struct compress_worker *cw = w->state;
	z_stream *zs = &cw->zs;
	uint64_t seq = in->seq;
	struct dict_slot *mine = &cs->slots[seq % cs->nslots];
	struct dict_slot *prev = &cs->slots[(seq + cs->nslots - 1) % cs->nslots];
	const unsigned char *p;
	size_t len, dlen = 0;
	int got = 1;             /* take's result: 0 when s-1's tail is held */
	int cont;                /* zs goes on from the end of s-1 */
	struct batch *ob;
	int rc = 0;

	if (cw->zc)
		return zstd_process(w, in, out);
	input_bytes(in, &cw->gather, &p, &len);
	if (cs->independent) {
		/* No handoff: every batch starts from an empty window. */
		if (len > 0)
			deflateReset(zs);
		goto deflate;
	}

	/* Steps 1-3 of the handoff (see the top of the file). */
	if (len >= DICT_SIZE && claim(mine, w->ctx) == 0) {
		memcpy(mine->tail, p + len - DICT_SIZE, DICT_SIZE);
		publish(mine, seq, DICT_SIZE);
	}
	if (seq > 0 && (got = take(prev, seq - 1, &dlen, w->ctx, e)) < 0) {
		rc = STAGE_ERROR;
		goto done;
	}
	if (len < DICT_SIZE && claim(mine, w->ctx) == 0) {
		size_t keep = dlen < DICT_SIZE - len ? dlen : DICT_SIZE - len;

		memcpy(mine->tail, prev->tail + dlen - keep, keep);
		if (len)
			memcpy(mine->tail + keep, p, len);
		publish(mine, seq, keep + len);
	}

	/* Step 4.  A worker whose stream ends where batch s-1 ended (it
	 * compressed s-1 itself: always, with one worker) continues it: its
	 * window already holds s-1's tail, and what it deflates next follows
	 * s-1's sync flush.  An empty batch leaves the stream as it was, so it
	 * then ends where s ends only if it ended where s-1 did. */
	cont = seq > 0 && cw->next == seq;
	if (len > 0 && !cont) {
		deflateReset(zs);
		if (dlen > 0)
			deflateSetDictionary(zs, prev->tail, (uInt)dlen);
	}
	cw->next = len > 0 || cont ? seq + 1 : 0;
	if (got == 0)
		release(prev);   /* deflate keeps its own copy of the dictionary */
deflate:
	/* Nothing to say, and nothing to account for. */
	if (len == 0 && seq > 0 && in->records == 0)
		goto done;

	ob = batch_new(FRAMING_CHUNK, 0, 1);
	if (seq == 0)
		ob->len = header(cs->format, cs->level, (unsigned char *)ob->data);
	if (len > 0)
		squeeze(zs, p, len, ob);
	set_records(ob);
	ob->records = in->records;
	ob->aux[1] = len;
	if (cs->format == FMT_GZIP)
		ob->aux[0] = crc32_z(0, p, len);
	else if (cs->format == FMT_ZLIB)
		ob->aux[0] = adler32_z(1, p, len);
	/* The stream is this stage's, not the origin's (batch_new left origin
	 * NULL): a reader's messages name this stage. */
	if (outq_push(out, ob) != 0)
		rc = STAGE_STOP;
done:
	batch_free(in);
	return rc;
}

/* Fold a batch's check value and length into the stream's, in output
 * order.  Cannot fail. */
static int compress_emit(struct stage *st, struct batch *b, struct err *e)
{
	struct compress_state *cs = st->priv;
	uint64_t len = b->aux[1];

	cs->started = 1;
	if (len == 0)
		return 0;
	if (cs->format == FMT_GZIP)
		cs->check = (uint32_t)crc32_combine(cs->check, (uLong)b->aux[0], (z_off_t)len);
	else if (cs->format == FMT_ZLIB)
		cs->check = (uint32_t)adler32_combine(cs->check, (uLong)b->aux[0], (z_off_t)len);
	cs->total += len;
	return 0;
}

/* format zstd: the frames are complete; an empty input still makes a
 * valid .zst, one empty frame (as zstd does). */
static int zstd_finish(struct stage *st, struct outq *out)
{
	struct compress_state *cs = st->priv;
	ZSTD_CCtx *zc;
	struct batch *b;

	if (cs->started)
		return 0;
	zc = ZSTD_createCCtx();
	if (!zc)
		csp_oom();
	(void)ZSTD_CCtx_setParameter(zc, ZSTD_c_compressionLevel, cs->level);
	(void)ZSTD_CCtx_setParameter(zc, ZSTD_c_checksumFlag, 1);
	b = batch_new(FRAMING_CHUNK, 0, 1);
	zstd_frame(zc, (const unsigned char *)"", 0, b);
	ZSTD_freeCCtx(zc);
	set_records(b);
	b->records = 0;
	cs->started = 1;
	(void)outq_push(out, b);
	return 0;
}

/*
 * End the stream: the header when no batch went out (empty input still
 * makes a valid stream), an empty final block, and the trailer (gzip:
 * CRC-32 and length mod 2^32, little-endian; zlib: Adler-32, big-endian).
 * Runs after the last emit.  Cannot fail; a stopped output is not an
 * error.
 */
static int compress_finish(struct stage *st, struct outq *out, struct err *e)
{
	struct compress_state *cs = st->priv;
	struct batch *b;
	unsigned char *p;
	size_t n = 0;
	uint32_t c = cs->check, t = (uint32_t)cs->total;

	if (cs->format == FMT_ZSTD)
		return zstd_finish(st, out);
	b = batch_new(FRAMING_CHUNK, 0, 1);
	p = (unsigned char *)b->data;
	if (!cs->started)
		n = header(cs->format, cs->level, p);
	/* BFINAL=1, BTYPE=01 (fixed Huffman), end-of-block code: 10 bits. */
	p[n++] = 0x03;
	p[n++] = 0x00;
	if (cs->format == FMT_GZIP) {
		for (int i = 0; i < 4; i++)
			p[n++] = (unsigned char)(c >> (8 * i));
		for (int i = 0; i < 4; i++)
			p[n++] = (unsigned char)(t >> (8 * i));
	} else if (cs->format == FMT_ZLIB) {
		for (int i = 3; i >= 0; i--)
			p[n++] = (unsigned char)(c >> (8 * i));
	}
	b->len = n;
	set_records(b);
	b->records = 0;
	cs->started = 1;
	(void)outq_push(out, b);
	return 0;
}

const struct stage_kind kind_compress = {
	.name = "compress",
	.summary = "compress the stream with gzip, zlib, deflate or zstd, on every worker (as pigz)",
	.role = ROLE_TRANSFORM,
	.flags = KIND_BYTES_OUT | KIND_ORDERED | KIND_NO_SHARD,
	.options = compress_options,
	.conf_size = sizeof(struct compress_conf),
	.shorthand = "format",
	.example = "compress: {format: gzip, level: 6}",
	/* deflate at windowBits 15, memLevel 8 (256 KiB), the gather buffer
	 * (a batch), and its share of the stage's 2w+1 dictionary slots */
	.worker_mem = 448 * 1024,
	.check = compress_check,
	.start = compress_start,
	.worker_new = compress_worker_new,
	.worker_free = compress_worker_free,
	.process = compress_process,
	.emit = compress_emit,
	.finish = compress_finish,
	.free = compress_free,
};
