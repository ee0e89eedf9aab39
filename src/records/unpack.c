/* SPDX-License-Identifier: MIT */
/*
 * unpack.c - recognise zstd, xz and bzip2 by their magic bytes, and drive
 * one format's decoder over a stream of many frames into a framer.
 *
 * Many frames.  The zstd command decodes concatenated frames (skippable
 * ones included) as one output, xz concatenated streams with zero padding
 * between and after them, bzip2 concatenated streams; so does the driver.
 * After a frame ends, more bytes start another; bytes that are not a
 * frame there are "trailing garbage" (an error, as for gzip: a pipeline
 * should not pass over data it cannot read, where bzip2 only warns).
 */
#include <string.h>

#include "base/util.h"
#include "records/framer.h"
#include "records/unpack.h"

static const struct unpack_ops *ops_of(int format)
{
	switch (format) {
	case UNPACK_ZSTD: return &unpack_zstd_ops;
	case UNPACK_XZ: return &unpack_xz_ops;
	case UNPACK_BZIP2: return &unpack_bzip2_ops;
	}
	return NULL;
}

const char *unpack_name(int format)
{
	const struct unpack_ops *o = ops_of(format);

	return o ? o->name : "compressed";
}

/* Whether p[0..n) agrees with magic m (len bytes, 0xff in mask = exact,
 * 0xf0 = the high nibble only) as far as either goes: 1 all of m seen, -1
 * a prefix, 0 a mismatch. */
static int match(const unsigned char *p, size_t n, const unsigned char *m,
		 const unsigned char *mask, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (i == n)
			return -1;
		if ((p[i] & mask[i]) != m[i])
			return 0;
	}
	return 1;
}

/*
 * zstd: 28 b5 2f fd, or a skippable frame 5? 2a 4d 18.  xz: fd 37 7a 58
 * 5a 00.  bzip2: "BZh" and a block size digit, then the magic of the
 * first block (pi) or of the end of an empty stream (sqrt(pi)): ten bytes,
 * so that a text line that starts with "BZh9" is not taken for bzip2.
 */
int unpack_sniff(const unsigned char *p, size_t n)
{
	static const unsigned char all[10] = { 0xff, 0xff, 0xff, 0xff, 0xff,
					       0xff, 0xff, 0xff, 0xff, 0xff };
	static const unsigned char zstd[4] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const unsigned char skip[4] = { 0x50, 0x2a, 0x4d, 0x18 };
	static const unsigned char skip_mask[4] = { 0xf0, 0xff, 0xff, 0xff };
	static const unsigned char xz[6] = { 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00 };
	static const unsigned char bz_block[10] = { 'B', 'Z', 'h', 0x30, 0x31, 0x41,
						    0x59, 0x26, 0x53, 0x59 };
	static const unsigned char bz_end[10] = { 'B', 'Z', 'h', 0x30, 0x17, 0x72,
						  0x45, 0x38, 0x50, 0x90 };
	static const unsigned char bz_mask[10] = { 0xff, 0xff, 0xff, 0xf0, 0xff,
						   0xff, 0xff, 0xff, 0xff, 0xff };
	int r[5], more = 0;

	r[0] = match(p, n, zstd, all, 4);
	r[1] = match(p, n, skip, skip_mask, 4);
	r[2] = match(p, n, xz, all, 6);
	r[3] = match(p, n, bz_block, bz_mask, 10);
	r[4] = match(p, n, bz_end, bz_mask, 10);
	if (r[0] == 1 || r[1] == 1)
		return UNPACK_ZSTD;
	if (r[2] == 1)
		return UNPACK_XZ;
	/* The block size digit is '1'..'9'. */
	if ((r[3] == 1 || r[4] == 1) && p[3] >= '1' && p[3] <= '9')
		return UNPACK_BZIP2;
	for (int i = 0; i < 5; i++)
		more |= r[i] == -1;
	return more ? -1 : UNPACK_NONE;
}

void unpack_init(struct unpack *u, int format)
{
	memset(u, 0, sizeof *u);
	u->format = format;
	u->ops = ops_of(format);
	u->dec = u->ops->new();
}

void unpack_fini(struct unpack *u)
{
	if (u->ops && u->dec)
		u->ops->free(u->dec);
	u->dec = NULL;
}

/* Where the current frame failed (an error, or the end of the input
 * inside it): after an earlier frame, bytes that do not begin with the
 * format's magic are trailing garbage, not a corrupt frame. */
static void fail(struct unpack *u, int kind, const char *msg)
{
	if (u->frames > 0 && u->frame_out == 0 &&
	    unpack_sniff(u->head, u->nhead) != u->format &&
	    (u->nhead == UNPACK_MAGIC_MAX || unpack_sniff(u->head, u->nhead) == UNPACK_NONE)) {
		u->fail = UNPACK_GARBAGE;
		u->fail_at = u->frame_start;
		return;
	}
	u->fail = kind;
	u->fail_at = u->pos;
	u->fail_msg = msg;
}

/* Keep the frame's first bytes, for fail(): p is at u->pos. */
static void keep_head(struct unpack *u, const unsigned char *p, size_t n)
{
	uint64_t off = u->pos - u->frame_start;

	while (off == u->nhead && u->nhead < UNPACK_MAGIC_MAX && n > 0) {
		u->head[u->nhead++] = *p++;
		n--;
		off++;
	}
}

/*
 * Decode p[0..n) into fr: see unpack.h.  Between frames, xz's zero
 * padding is skipped.  Once the input is used up the decoder is called
 * again, without input, for as long as it fills the room it is given:
 * output it held back comes out then.
 */
int unpack_feed(struct unpack *u, const unsigned char *p, size_t n,
		struct framer *fr, struct err *e)
{
	int full = 0;            /* the last call filled its room */

	while (n > 0 || full) {
		size_t room, used = n, made;
		const char *msg = NULL;
		char *dst;
		int r, fc;

		if (u->between) {
			if (u->format == UNPACK_XZ && *p == 0) {
				p++;
				n--;
				u->pos++;
				continue;
			}
			u->ops->reset(u->dec);
			u->between = 0;
			u->frame_start = u->pos;
			u->frame_out = 0;
			u->nhead = 0;
		}
		keep_head(u, p, n);
		dst = framer_space(fr, 0, &room);
		made = room;
		r = u->ops->run(u->dec, p, &used, (unsigned char *)dst, &made, &msg);
		p += used;
		n -= used;
		u->pos += used;
		u->frame_out += made;
		if ((fc = framer_commit(fr, made, e)) != 0)
			return fc;
		if (r == UNPACK_MORE && used == 0 && made == 0 && n > 0) {
			r = UNPACK_ERROR;
			msg = "the decoder made no progress";
		}
		if (r == UNPACK_ERROR) {
			fail(u, UNPACK_CORRUPT, msg);
			return -1;
		}
		full = r == UNPACK_MORE && made == room;
		if (r == UNPACK_FRAME_END) {
			u->frames++;
			u->between = 1;
		}
	}
	return 0;
}

int unpack_end(struct unpack *u)
{
	if (u->between)
		return 0;
	fail(u, UNPACK_TRUNCATED, NULL);
	return -1;
}

void unpack_error(const struct unpack *u, const char *origin, int in_origin,
		  struct err *e)
{
	const char *f = unpack_name(u->format);
	unsigned long long at = (unsigned long long)u->fail_at;

	switch (u->fail) {
	case UNPACK_GARBAGE:
		if (in_origin)
			err_set(e, "trailing garbage after %s data in %s at byte %llu", f, origin, at);
		else
			err_set(e, "%s: trailing garbage after %s data at byte %llu", origin, f, at);
		break;
	case UNPACK_TRUNCATED:
		if (in_origin)
			err_set(e, "truncated %s data in %s: stream ends at byte %llu", f, origin, at);
		else
			err_set(e, "%s: truncated %s data (the stream ends at byte %llu)", origin, f, at);
		break;
	default:
		if (in_origin)
			err_set(e, "corrupt %s data in %s at byte %llu: %s", f, origin, at,
				u->fail_msg ? u->fail_msg : "invalid data");
		else
			err_set(e, "%s: corrupt %s data at byte %llu: %s", origin, f, at,
				u->fail_msg ? u->fail_msg : "invalid data");
		break;
	}
}
