/* SPDX-License-Identifier: MIT */
/*
 * unpack_xz.c - the xz decoder behind unpack.h (liblzma).  One .xz
 * stream per decoder run, without LZMA_CONCATENATED: the driver sees each
 * stream end, skips the zero padding between streams and starts the next,
 * so that trailing garbage is named as such.  No memory limit, as xz -d
 * has none by default.
 */
#include <limits.h>
#include <lzma.h>
#include <stdlib.h>

#include "csp/csp.h"
#include "records/unpack.h"

static void xz_reset(void *dec)
{
	lzma_stream *s = dec;
	lzma_ret r = lzma_stream_decoder(s, UINT64_MAX, 0);

	if (r != LZMA_OK)
		csp_oom();
}

static void *xz_new(void)
{
	lzma_stream *s = csp_malloc(sizeof *s);
	lzma_stream init = LZMA_STREAM_INIT;

	*s = init;
	xz_reset(s);
	return s;
}

static const char *xz_message(lzma_ret r)
{
	switch (r) {
	case LZMA_FORMAT_ERROR: return "not in xz format";
	case LZMA_OPTIONS_ERROR: return "unsupported compression options";
	case LZMA_DATA_ERROR: return "compressed data is corrupt";
	case LZMA_BUF_ERROR: return "unexpected end of input";
	case LZMA_MEMLIMIT_ERROR: return "memory limit reached";
	default: return "decoder error";
	}
}

static int xz_run(void *dec, const unsigned char *in, size_t *inlen,
		  unsigned char *out, size_t *outlen, const char **msg)
{
	lzma_stream *s = dec;
	lzma_ret r;

	s->next_in = in;
	s->avail_in = *inlen;
	s->next_out = out;
	s->avail_out = *outlen;
	r = lzma_code(s, LZMA_RUN);
	*inlen -= s->avail_in;
	*outlen -= s->avail_out;
	if (r == LZMA_STREAM_END)
		return UNPACK_FRAME_END;
	/* LZMA_BUF_ERROR under LZMA_RUN only means no progress was
	 * possible: more input is needed. */
	if (r == LZMA_OK || r == LZMA_BUF_ERROR)
		return UNPACK_MORE;
	if (r == LZMA_MEM_ERROR)
		csp_oom();
	*msg = xz_message(r);
	return UNPACK_ERROR;
}

static void xz_free(void *dec)
{
	lzma_end(dec);
	free(dec);
}

const struct unpack_ops unpack_xz_ops = {
	.name = "xz",
	.new = xz_new,
	.reset = xz_reset,
	.run = xz_run,
	.free = xz_free,
};
