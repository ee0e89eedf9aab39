/* SPDX-License-Identifier: MIT */
/*
 * inflate.c - an inflate stream that answers as zlib does (results,
 * messages, byte offsets) but decodes gzip members with ISA-L's igzip,
 * several times faster than zlib's inflate.
 *
 * A gzip member goes through three phases.  zlib reads the header (inflate
 * with Z_BLOCK stops right after it), so header errors keep zlib's words.
 * igzip decodes the deflate body with its CRC-32 running (ISAL_GZIP_NO_HDR:
 * no header, no trailer check), and this file checks the trailer itself,
 * CRC first, then length, the order zlib reports them in.  igzip reads its
 * input eight bytes at a time, so at the end of the body up to eight bytes
 * of the trailer sit in its bit buffer: they are taken from there, and no
 * byte after the member is ever taken from the caller, so multi-member
 * input and trailing-byte checks work as with zlib.
 *
 * zlib members, raw deflate, and everything when CSPIPE_INFLATE=zlib is
 * set (the benchmark's comparison) go through zlib alone.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/igzip_lib.h>

#include "base/inflate.h"
#include "base/util.h"
#include "csp/csp.h"

enum { PH_HEAD, PH_BODY, PH_TRAIL, PH_DONE };

const char *infl_engine(void)
{
	const char *e = getenv("CSPIPE_INFLATE");

	return e && strcmp(e, "zlib") == 0 ? "zlib" : "isa-l";
}

void infl_init(struct infl *f, enum infl_wrap wrap)
{
	memset(f, 0, sizeof *f);
	if (inflateInit2(&f->zs, 15 + 16) != Z_OK)
		csp_oom();
	if (strcmp(infl_engine(), "isa-l") == 0) {
		f->is = csp_malloc(sizeof *f->is);
		isal_inflate_init(f->is);
	}
	infl_reset(f, wrap);
}

void infl_reset(struct infl *f, enum infl_wrap wrap)
{
	static const int bits[] = { 15 + 16, 15, -15 };

	f->wrap = wrap;
	f->phase = PH_HEAD;
	f->lag = 0;
	f->ntrail = 0;
	f->msg = NULL;
	inflateReset2(&f->zs, bits[wrap]);
}

void infl_end(struct infl *f)
{
	inflateEnd(&f->zs);
	free(f->is);
	f->is = NULL;
}

size_t infl_behind(const struct infl *f)
{
	return (size_t)f->lag;
}

static uint32_t clamp32(size_t n)
{
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* One call of zlib's inflate over the window with flush. */
static int zlib_step(struct infl *f, int flush)
{
	z_stream *zs = &f->zs;
	uInt in = (uInt)(f->avail_in > UINT_MAX ? UINT_MAX : f->avail_in);
	uInt out = (uInt)(f->avail_out > UINT_MAX ? UINT_MAX : f->avail_out);
	int r;

	zs->next_in = (z_const Bytef *)f->next_in;
	zs->avail_in = in;
	zs->next_out = f->next_out;
	zs->avail_out = out;
	r = inflate(zs, flush);
	f->next_in += in - zs->avail_in;
	f->avail_in -= in - zs->avail_in;
	f->next_out += out - zs->avail_out;
	f->avail_out -= out - zs->avail_out;
	if (r == Z_MEM_ERROR)
		csp_oom();
	if (r == Z_NEED_DICT) {
		f->msg = "needs a preset dictionary";
		return INFL_ERROR;
	}
	if (r == Z_DATA_ERROR || r == Z_STREAM_ERROR) {
		f->msg = zs->msg ? zs->msg : zError(r);
		return INFL_ERROR;
	}
	return r == Z_STREAM_END ? INFL_END : INFL_OK;
}

/* Bit number bit of the body, if tail still holds it; -1 if not. */
static int body_bit(const struct infl *f, uint64_t bit)
{
	uint64_t byte = bit / 8;

	if (byte >= f->taken || f->taken - byte > sizeof f->tail)
		return -1;
	return f->tail[sizeof f->tail - (f->taken - byte)] >> (bit % 8) & 1;
}

/* The two bytes of the body ending just before bit end, little-endian;
 * -1 when tail does not hold them. */
static long body_u16(const struct infl *f, uint64_t end)
{
	int v = 0;

	if (end % 8 || end < 16)
		return -1;
	for (int i = 0; i < 16; i++) {
		int b = body_bit(f, end - 16 + (uint64_t)i);
		if (b < 0)
			return -1;
		v |= b << i;
	}
	return v;
}

/* zlib's words for what igzip found wrong in the body.  igzip does not
 * say which check failed in a block header, so the bits it read last
 * tell: a block type of 3 (it stops right after the type), or a stored
 * block's length and its complement that disagree. */
static const char *isal_message(const struct infl *f, int r)
{
	const struct inflate_state *is = f->is;
	uint64_t end;

	switch (r) {
	case ISAL_INVALID_BLOCK:
		end = 8 * f->taken - (uint64_t)is->read_in_length;
		if (is->tmp_in_size == 0 && end >= 3 && body_bit(f, end - 1) == 1 &&
		    body_bit(f, end - 2) == 1)
			return "invalid block type";
		if (is->tmp_in_size == 0 && end >= 32 &&
		    body_u16(f, end) >= 0 && body_u16(f, end - 16) >= 0 &&
		    (body_u16(f, end) ^ body_u16(f, end - 16)) != 0xffff)
			return "invalid stored block lengths";
		return "invalid code lengths set";
	case ISAL_INVALID_SYMBOL:
		return "invalid literal/length or distance code";
	case ISAL_INVALID_LOOKBACK:
		return "invalid distance too far back";
	default:
		return "invalid data";
	}
}

/* Remember the last bytes igzip took, n of them ending at end. */
static void tail_add(struct infl *f, const unsigned char *end, size_t n)
{
	size_t keep = sizeof f->tail;

	f->taken += n;
	if (n >= keep) {
		memcpy(f->tail, end - keep, keep);
		return;
	}
	memmove(f->tail, f->tail + n, keep - n);
	memcpy(f->tail + keep - n, end - n, n);
}

/* The body of a gzip member through igzip. */
static int isal_step(struct infl *f)
{
	struct inflate_state *is = f->is;
	uint32_t in = clamp32(f->avail_in), out = clamp32(f->avail_out);
	int r;

	is->next_in = (uint8_t *)f->next_in;
	is->avail_in = in;
	is->next_out = f->next_out;
	is->avail_out = out;
	r = isal_inflate(is);
	f->next_in += in - is->avail_in;
	f->avail_in -= in - is->avail_in;
	f->next_out += out - is->avail_out;
	f->avail_out -= out - is->avail_out;
	tail_add(f, f->next_in, in - is->avail_in);
	if (r < 0) {
		f->lag = is->read_in_length / 8 + is->tmp_in_size;
		f->msg = isal_message(f, r);
		return INFL_ERROR;
	}
	if (is->block_state != ISAL_BLOCK_FINISH)
		return INFL_OK;
	/* The body ended on a bit: what igzip holds past the byte it ended
	 * in is the start of the trailer (never more than eight bytes). */
	uint64_t v = is->read_in >> (is->read_in_length % 8);
	int n = is->read_in_length / 8;
	for (int i = 0; i < n && i < 8; i++)
		f->trail[i] = (unsigned char)(v >> (8 * i));
	f->ntrail = n;
	f->lag = n;
	f->phase = PH_TRAIL;
	return INFL_OK;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Take trailer bytes from the window up to want; 1 when there are want. */
static int trail_fill(struct infl *f, int want)
{
	while (f->ntrail < want && f->avail_in > 0) {
		f->trail[f->ntrail++] = *f->next_in++;
		f->avail_in--;
	}
	return f->ntrail >= want;
}

/* The gzip trailer: CRC-32 then length, each checked once it is whole.
 * lag tracks bytes taken from igzip's buffer beyond the one checked. */
static int trail_step(struct infl *f)
{
	if (!trail_fill(f, 4))
		return INFL_OK;
	if (le32(f->trail) != f->is->crc) {
		f->lag = f->lag > 4 ? f->lag - 4 : 0;
		f->msg = "incorrect data check";
		return INFL_ERROR;
	}
	if (!trail_fill(f, 8))
		return INFL_OK;
	if (le32(f->trail + 4) != f->is->total_out) {
		f->lag = 0;
		f->msg = "incorrect length check";
		return INFL_ERROR;
	}
	f->lag = 0;
	f->phase = PH_DONE;
	return INFL_END;
}

/*
 * Decode what the window allows.  Returns INFL_END once the member's last
 * byte (its trailer's) is taken, INFL_ERROR with msg set (and infl_behind
 * saying how far before next_in the fault lies), else INFL_OK: stop when
 * the input is used up and the output is not full.  Calling again after
 * INFL_END or INFL_ERROR without infl_reset is a caller's error.
 */
int infl_run(struct infl *f)
{
	int r;

	if (!f->is || f->wrap != INFL_GZIP)
		return zlib_step(f, Z_NO_FLUSH);
	for (;;) {
		switch (f->phase) {
		case PH_HEAD:
			r = zlib_step(f, Z_BLOCK);
			if (r != INFL_OK)
				return r;
			if (!(f->zs.data_type & 128))
				return INFL_OK;
			isal_inflate_reset(f->is);
			f->is->crc_flag = ISAL_GZIP_NO_HDR;
			f->taken = 0;
			f->phase = PH_BODY;
			break;
		case PH_BODY:
			r = isal_step(f);
			if (r != INFL_OK || f->phase == PH_BODY)
				return r;
			break;
		case PH_TRAIL:
			return trail_step(f);
		default:
			return INFL_END;
		}
	}
}
