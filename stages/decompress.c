/* SPDX-License-Identifier: MIT */
/*
 * decompress.c - the `decompress` stage: gzip (one member or many), zlib
 * or raw deflate in, records out.
 *
 * The input's bytes (records with their terminators, or chunks) are the
 * compressed stream; a change of batch origin (the files source reading
 * a.gz then b.gz) starts a new stream, so each file must be complete on its
 * own and errors name the file and the offset in it.  Inflated bytes go
 * straight into a framer's batch and are cut into records there; each full
 * batch goes out at once through outq_push (one worker: the engine sends
 * it on immediately), so a small input that inflates to gigabytes (a zip
 * bomb) stays in bounded memory.
 *
 * Members.  Each member starts with a header the stage reads itself (two
 * bytes, which may arrive in different batches): 1f 8b is gzip, a valid
 * RFC 1950 CMF/FLG pair is zlib; format says which are accepted.  After a
 * member ends, more input starts another member, as gzip -d does with
 * concatenated files.  Zero bytes after the last member are ignored (tape
 * padding; gzip does the same), and so is one newline at the very end when
 * the bytes came framed as lines (the source adds one to an input that
 * lacked it); any other trailing bytes are an error, "trailing garbage
 * after gzip data in FILE at byte N", where gzip only warns: a pipeline
 * should not pass over data it cannot read.  Raw deflate has no header and
 * no framing, so it is one stream.  An empty input gives empty output (as
 * Python's gzip module), not an error.
 *
 * zstd, xz and bzip2.  Their streams are decoded through records/unpack.h
 * (a decoder per format, each in its own file), recognised by their magic
 * bytes under auto (up to ten bytes, which may arrive in different
 * batches) and accepted alone under their own format.  Concatenated frames
 * (zstd) and streams (xz, with its zero padding; bzip2) are read as one,
 * as their commands do.  The newline a lines-framed source adds at the
 * very end is held back and dropped when the data ends complete without
 * it.
 *
 * Errors.  Corrupt data, a truncated stream or trailing garbage fail the
 * stage with the origin and the byte offset in the compressed stream where
 * decoding stopped.  What the framer holds when that happens, whole records
 * included, is discarded: nothing after the last batch already sent goes
 * out, and no record is ever torn.
 */
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "base/inflate.h"
#include "records/framer.h"
#include "records/unpack.h"
#include "core/stage.h"

enum { FMT_AUTO, FMT_GZIP, FMT_ZLIB, FMT_DEFLATE, FMT_ZSTD, FMT_XZ, FMT_BZIP2 };

struct decompress_conf {
	int format;
	int framing;
	uint64_t chunk_size;
	uint64_t max_record;
};

static const char *const format_names[] = { "auto", "gzip", "zlib", "deflate", "zstd",
					    "xz", "bzip2", NULL };
static const char *const framing_names[] = { "lines", "nul", "chunk", NULL };

static const struct option decompress_options[] = {
	{ .name = "format", .type = OPT_ENUM,
	  .offset = offsetof(struct decompress_conf, format), .def = "auto",
	  .doc = "input: auto (by magic bytes: gzip, zlib, zstd, xz, bzip2), one of those, or deflate (raw)",
	  .choices = format_names },
	{ .name = "framing", .type = OPT_ENUM,
	  .offset = offsetof(struct decompress_conf, framing), .def = "lines",
	  .doc = "how the output is cut into records: lines, nul or chunk",
	  .choices = framing_names },
	{ .name = "chunk_size", .type = OPT_SIZE,
	  .offset = offsetof(struct decompress_conf, chunk_size), .def = "64KiB",
	  .doc = "record size for framing: chunk",
	  .min = 1, .max = (int64_t)1 << 30 },
	{ .name = "max_record", .type = OPT_SIZE,
	  .offset = offsetof(struct decompress_conf, max_record), .def = "64MiB",
	  .doc = "longest output record (lines, nul); a longer one is an error",
	  .min = 1, .max = (int64_t)1 << 30 },
	{ .name = NULL },
};

/* Where the current stream is. */
enum {
	AT_START,   /* before a member's header (npeek of its bytes seen) */
	AT_BODY,    /* inside a member: inflate has it */
	AT_ZEROS,   /* zero padding after the last member */
	AT_UNPACK,  /* zstd, xz or bzip2: unpack has it */
};

struct decompress_worker {
	const struct decompress_conf *conf;
	struct infl zs;
	struct framer fr;
	struct outq *out;        /* of the current process/flush call */
	const char *origin;      /* the stream's name; NULL: none begun */
	uint64_t pos;            /* bytes of the stream handled so far */
	uint64_t members;        /* members completed in this stream */
	int at;                  /* AT_* */
	int fmt;                 /* the latest member's format; FMT_AUTO: none yet */
	unsigned char peek[UNPACK_MAGIC_MAX];
	int npeek;
	struct unpack un;        /* AT_UNPACK's decoder (un.dec NULL: none) */
	int held;                /* AT_UNPACK: a final terminator held back, or -1 */
	int done;                /* stopped or failed: ignore further input */
	int added_term;          /* terminator of the input's framing, or -1 */
};

/* What the messages call the data. */
static const char *label(const struct decompress_worker *dw)
{
	int f = dw->fmt != FMT_AUTO ? dw->fmt : dw->conf->format;

	/* Under auto, a member cut after one byte is named by that byte. */
	if (f == FMT_AUTO && dw->npeek == 1)
		f = dw->peek[0] == 0x1f ? FMT_GZIP : (dw->peek[0] & 0x0f) == 8 ? FMT_ZLIB : f;
	return f == FMT_AUTO ? "compressed" : format_names[f];
}

/* The framer's emit: the batch goes on (at once, with one worker).  A
 * refusal (CSP_CLOSED, a cancelled context: negative codes) becomes
 * STAGE_STOP, which framer_commit passes back, so it cannot be taken for
 * the framer's own -1. */
static int push(void *arg, struct batch *b)
{
	struct decompress_worker *dw = arg;

	return outq_push(dw->out, b) != 0 ? STAGE_STOP : 0;
}

/* One inflate stream per worker, reset for each member.  Cannot fail (out
 * of memory aborts). */
static void *decompress_worker_new(struct stage *st, int index)
{
	struct decompress_worker *dw = csp_calloc(1, sizeof *dw);

	dw->conf = st->conf;
	dw->added_term = -1;
	infl_init(&dw->zs, INFL_RAW);
	return dw;
}

static void decompress_worker_free(struct stage *st, void *state)
{
	struct decompress_worker *dw = state;

	if (!dw)
		return;
	infl_end(&dw->zs);
	unpack_fini(&dw->un);
	framer_discard(&dw->fr);
	free(dw);
}

static void begin_stream(struct decompress_worker *dw, const char *origin)
{
	static const enum framing framings[] = { FRAMING_LINES, FRAMING_NUL, FRAMING_CHUNK };
	const struct decompress_conf *c = dw->conf;

	framer_init(&dw->fr, framings[c->framing], (size_t)c->chunk_size,
		    (size_t)c->max_record, origin, push, dw);
	dw->origin = origin;
	dw->pos = 0;
	dw->members = 0;
	dw->at = AT_START;
	dw->fmt = FMT_AUTO;
	dw->npeek = 0;
	dw->held = -1;
	unpack_fini(&dw->un);
}

static int garbage(struct decompress_worker *dw, uint64_t at, struct err *e)
{
	err_set(e, "trailing garbage after %s data in %s at byte %llu",
		label(dw), dw->origin, (unsigned long long)at);
	return -1;
}

/* The format of a member whose first two bytes are h, among those the
 * format option accepts; FMT_AUTO when neither. */
static int detect(int want, const unsigned char *h)
{
	if (want != FMT_ZLIB && h[0] == 0x1f && h[1] == 0x8b)
		return FMT_GZIP;
	if (want != FMT_GZIP && (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 &&
	    ((unsigned)h[0] << 8 | h[1]) % 31 == 0)
		return FMT_ZLIB;
	return FMT_AUTO;
}

/* The unpack format the stage's format option names, or UNPACK_NONE. */
static int unpack_format_of(int format)
{
	return format == FMT_ZSTD ? UNPACK_ZSTD : format == FMT_XZ ? UNPACK_XZ
		: format == FMT_BZIP2 ? UNPACK_BZIP2 : UNPACK_NONE;
}

/* The stage's format for an unpack format. */
static int fmt_of_unpack(int u)
{
	return u == UNPACK_ZSTD ? FMT_ZSTD : u == UNPACK_XZ ? FMT_XZ : FMT_BZIP2;
}

/* unpack's result as the stage's: its own errors get the message. */
static int unpacked(struct decompress_worker *dw, int r, struct err *e)
{
	if (r < 0 && dw->un.fail)
		unpack_error(&dw->un, dw->origin, 1, e);
	return r;
}

/*
 * AT_UNPACK: n more bytes of the stream.  A last byte that is the
 * framing's terminator is held back until more follows: end_stream drops
 * it when the data is complete without it.  Returns 0, -1 with e set, or
 * STAGE_STOP.
 */
static int feed_unpack(struct decompress_worker *dw, const unsigned char *p, size_t n,
		       struct err *e)
{
	int r;

	if (dw->held >= 0) {
		unsigned char b = (unsigned char)dw->held;

		dw->held = -1;
		if ((r = unpack_feed(&dw->un, &b, 1, &dw->fr, e)) != 0)
			return unpacked(dw, r, e);
	}
	if (n > 0 && p[n - 1] == dw->added_term) {
		dw->held = p[n - 1];
		n--;
	}
	return unpacked(dw, unpack_feed(&dw->un, p, n, &dw->fr, e), e);
}

/*
 * The first member's opening bytes, dw->peek[0..npeek), under a format
 * that may be zstd, xz or bzip2: decide.  Returns SNIFF_WAIT when more
 * bytes are needed, SNIFF_NOT when it is none of them (gzip, zlib or bad
 * data: the caller goes on with its two bytes), or, when it is one of
 * them (dw->at is AT_UNPACK, the peeked bytes fed), feed_unpack's result.
 */
enum { SNIFF_WAIT = 10, SNIFF_NOT = 11 };
static int start_unpack(struct decompress_worker *dw, struct err *e)
{
	int want = unpack_format_of(dw->conf->format), got;

	if (dw->conf->format != FMT_AUTO && !want)
		return SNIFF_NOT;
	if (dw->conf->format == FMT_AUTO && detect(FMT_AUTO, dw->peek) != FMT_AUTO)
		return SNIFF_NOT;
	got = unpack_sniff(dw->peek, (size_t)dw->npeek);
	if (got < 0 && dw->npeek < UNPACK_MAGIC_MAX)
		return SNIFF_WAIT;
	if (got <= 0 || (want && got != want)) {
		if (!want)
			return SNIFF_NOT;
		err_set(e, "corrupt %s data in %s at byte 0: not in %s format",
			unpack_name(want), dw->origin, unpack_name(want));
		return -1;
	}
	unpack_init(&dw->un, got);
	dw->fmt = fmt_of_unpack(got);
	dw->at = AT_UNPACK;
	dw->held = -1;
	got = dw->npeek;
	dw->npeek = 0;
	return feed_unpack(dw, dw->peek, (size_t)got, e);
}

/* run()'s results, apart from STAGE_STOP (1). */
enum { RUN_MORE = 0, RUN_END = 2, RUN_ERROR = -1 };

/*
 * Inflate n bytes at p into the framer until they are used up or the
 * member ends; *used says how many were consumed (pos advances by as
 * many).  Returns RUN_MORE, RUN_END, RUN_ERROR with e set, or STAGE_STOP
 * when the output could not go on.
 */
static int run(struct decompress_worker *dw, const unsigned char *p, size_t n,
	       size_t *used, struct err *e)
{
	struct infl *zs = &dw->zs;
	int ret, rc = RUN_MORE;

	zs->next_in = p;
	zs->avail_in = n;
	for (;;) {
		size_t room, before = zs->avail_in;
		int fr;

		zs->next_out = (unsigned char *)framer_space(&dw->fr, 0, &room);
		zs->avail_out = room;
		ret = infl_run(zs);
		dw->pos += before - zs->avail_in;
		fr = framer_commit(&dw->fr, room - zs->avail_out, e);
		if (fr < 0) {
			rc = RUN_ERROR;
			break;
		}
		if (fr > 0) {
			rc = STAGE_STOP;
			break;
		}
		if (ret == INFL_END) {
			rc = RUN_END;
			break;
		}
		if (ret == INFL_ERROR) {
			err_set(e, "corrupt %s data in %s at byte %llu: %s",
				label(dw), dw->origin,
				(unsigned long long)(dw->pos - infl_behind(zs)), zs->msg);
			rc = RUN_ERROR;
			break;
		}
		/* Done once the input is used up and the output was not full
		 * (nothing left pending inside). */
		if (zs->avail_in == 0 && zs->avail_out > 0)
			break;
	}
	*used = n - zs->avail_in;
	return rc;
}

/*
 * Feed n bytes of the current stream through the member state machine.
 * Returns 0, -1 with e set, or STAGE_STOP.
 */
static int feed(struct decompress_worker *dw, const unsigned char *p, size_t n,
		struct err *e)
{
	const struct decompress_conf *c = dw->conf;
	size_t used;
	int rc, fmt;

	while (n > 0) {
		switch (dw->at) {
		case AT_ZEROS: {
			for (size_t i = 0; i < n; i++) {
				if (p[i] == 0)
					continue;
				/* The newline a source added after the padding
				 * is not garbage if nothing follows it:
				 * end_stream decides. */
				if (i == n - 1 && p[i] == dw->added_term) {
					dw->pos += i;
					dw->peek[0] = p[i];
					dw->npeek = 1;
					dw->at = AT_START;
					return 0;
				}
				return garbage(dw, dw->pos + i, e);
			}
			dw->pos += n;
			return 0;
		}
		case AT_START:
			if (dw->members > 0 && dw->npeek == 0 && p[0] == 0) {
				dw->at = AT_ZEROS;
				continue;
			}
			if (c->format == FMT_DEFLATE && dw->members == 0) {
				infl_reset(&dw->zs, INFL_RAW);
				dw->fmt = FMT_DEFLATE;
				dw->at = AT_BODY;
				continue;
			}
			dw->peek[dw->npeek++] = *p++;
			n--;
			if (dw->npeek < 2)
				continue;
			if (dw->members == 0) {
				rc = start_unpack(dw, e);
				if (rc == SNIFF_WAIT)
					continue;
				if (rc != SNIFF_NOT) {
					if (rc != 0)
						return rc;
					break;
				}
			}
			/* Raw deflate has no members: two bytes after its end
			 * are garbage. */
			fmt = c->format == FMT_DEFLATE ? FMT_AUTO : detect(c->format, dw->peek);
			if (fmt == FMT_AUTO) {
				/* garbage() names the format of the member before. */
				if (dw->members > 0)
					return garbage(dw, dw->pos, e);
				err_set(e, "corrupt %s data in %s at byte %llu: not in %s format",
					label(dw), dw->origin, (unsigned long long)dw->pos,
					c->format == FMT_AUTO ? "gzip, zlib, zstd, xz or bzip2"
					: format_names[c->format]);
				return -1;
			}
			dw->fmt = fmt;
			infl_reset(&dw->zs, fmt == FMT_GZIP ? INFL_GZIP : INFL_ZLIB);
			dw->at = AT_BODY;
			dw->npeek = 0;
			/* Two header bytes cannot end a member. */
			rc = run(dw, dw->peek, 2, &used, e);
			if (rc != RUN_MORE)
				return rc;
			break;
		case AT_UNPACK:
			return feed_unpack(dw, p, n, e);
		case AT_BODY:
			rc = run(dw, p, n, &used, e);
			p += used;
			n -= used;
			if (rc == RUN_END) {
				dw->members++;
				dw->at = AT_START;
			} else if (rc != RUN_MORE) {
				return rc;
			}
			break;
		}
	}
	return 0;
}

/*
 * The current stream has no more bytes: it must not stop inside a member.
 * Its last record is completed and the framer's last batch sent.  Returns
 * 0, -1 with e set, or STAGE_STOP.
 */
static int end_stream(struct decompress_worker *dw, struct err *e)
{
	int rc;

	if (dw->at == AT_UNPACK) {
		/* The held terminator is data only if the stream needs it. */
		if (dw->held >= 0 && !dw->un.between) {
			unsigned char b = (unsigned char)dw->held;

			dw->held = -1;
			rc = unpacked(dw, unpack_feed(&dw->un, &b, 1, &dw->fr, e), e);
			if (rc != 0)
				return rc;
		}
		if (unpack_end(&dw->un) != 0)
			return unpacked(dw, -1, e);
	} else if (dw->at == AT_BODY || (dw->at == AT_START && dw->npeek > 0)) {
		uint64_t end = dw->pos + (uint64_t)dw->npeek;

		if (dw->at == AT_START && dw->members > 0) {
			/* The newline a lines-framed source adds to an input
			 * that lacked one is not garbage. */
			if (dw->peek[0] != dw->added_term)
				return garbage(dw, dw->pos, e);
		} else {
			err_set(e, "truncated %s data in %s: stream ends at byte %llu",
				label(dw), dw->origin, (unsigned long long)end);
			return -1;
		}
	}
	rc = framer_finish(&dw->fr, e);
	dw->origin = NULL;
	return rc;
}

/* The stream failed (rc < 0) or its output is gone: the stage takes no
 * more.  After a failure the complete records decoded before it go on, as
 * zcat writes everything before a corrupt or truncated spot; the
 * unfinished one would be torn and is dropped. */
static void stop_stream(struct decompress_worker *dw, int rc)
{
	if (rc < 0)
		framer_stop(&dw->fr);
	framer_discard(&dw->fr);
	dw->done = 1;
}

/* The name of the stream a batch belongs to: its origin, or the stage
 * that made it (a compress stage's output has none). */
static const char *stream_name(const struct stage *st, const struct batch *b)
{
	if (b->origin)
		return b->origin;
	if (st->ninputs > 0 && st->inputs[0] && st->inputs[0]->name)
		return st->inputs[0]->name;
	return "input";
}

/*
 * Feed one input batch's bytes to the stream (runs of adjacent records
 * at once).  Takes ownership of in.  Returns 0, -1 with e set (corrupt,
 * truncated, trailing garbage, record too long), or STAGE_STOP when the
 * output cannot go on.  After -1 or STAGE_STOP the stage holds nothing
 * more to send.
 */
static int decompress_process(struct worker *w, struct batch *in,
			      struct outq *out, struct err *e)
{
	struct decompress_worker *dw = w->state;
	const char *name = stream_name(w->stage, in);
	size_t t = batch_term_len(in);
	int rc = 0;

	if (dw->done) {
		rc = STAGE_STOP;
		goto out;
	}
	dw->out = out;
	if (dw->origin && name != dw->origin && strcmp(name, dw->origin) != 0) {
		rc = end_stream(dw, e);
		if (rc != 0)
			goto fail;
	}
	if (!dw->origin)
		begin_stream(dw, name);
	dw->added_term = t ? framing_term((enum framing)in->framing) : -1;
	for (uint32_t i = 0; i < in->n; ) {
		size_t start = in->recs[i].off, end = start + in->recs[i].len + t;

		for (i++; i < in->n && in->recs[i].off == end; i++)
			end += in->recs[i].len + t;
		rc = feed(dw, (const unsigned char *)in->data + start, end - start, e);
		if (rc != 0)
			goto fail;
	}
	goto out;
fail:
	stop_stream(dw, rc);
out:
	batch_free(in);
	return rc;
}

/* End of input: the last stream must be complete.  Returns as process. */
static int decompress_flush(struct worker *w, struct outq *out, struct err *e)
{
	struct decompress_worker *dw = w->state;
	int rc;

	if (dw->done || !dw->origin)
		return 0;
	dw->out = out;
	rc = end_stream(dw, e);
	if (rc != 0)
		stop_stream(dw, rc);
	return rc;
}

const struct stage_kind kind_decompress = {
	.name = "decompress",
	.summary = "decompress gzip, zstd, xz, bzip2 (all multi-member), zlib or deflate into records",
	.role = ROLE_TRANSFORM,
	.flags = KIND_ONE_WORKER | KIND_BYTES_IN | KIND_REFRAMES | KIND_NO_SHARD,
	.options = decompress_options,
	.conf_size = sizeof(struct decompress_conf),
	.shorthand = "format",
	.example = "decompress: {format: auto, framing: lines}",
	/* zlib's state and window, igzip's state (its window and tables);
	 * the framer's batch is a batch */
	.worker_mem = 64 * 1024 + 96 * 1024,
	.worker_new = decompress_worker_new,
	.worker_free = decompress_worker_free,
	.process = decompress_process,
	.flush = decompress_flush,
};
