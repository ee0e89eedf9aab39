/* SPDX-License-Identifier: MIT */
/*
 * unpack_bzip2.c - the bzip2 decoder behind unpack.h (libbz2).  libbz2
 * decodes one stream per BZ2_bzDecompressInit; reset ends it and begins
 * another, for the concatenated streams that bzip2 -d and pbzip2 write.
 */
#include <bzlib.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "records/unpack.h"

static void bz_begin(bz_stream *b)
{
	memset(b, 0, sizeof *b);
	if (BZ2_bzDecompressInit(b, 0, 0) != BZ_OK)
		csp_oom();
}

static void *bz_new(void)
{
	bz_stream *b = csp_malloc(sizeof *b);

	bz_begin(b);
	return b;
}

static void bz_reset(void *dec)
{
	BZ2_bzDecompressEnd(dec);
	bz_begin(dec);
}

static int bz_run(void *dec, const unsigned char *in, size_t *inlen,
		  unsigned char *out, size_t *outlen, const char **msg)
{
	bz_stream *b = dec;
	unsigned ai = *inlen > UINT_MAX ? UINT_MAX : (unsigned)*inlen;
	unsigned ao = *outlen > UINT_MAX ? UINT_MAX : (unsigned)*outlen;
	int r;

	/* libbz2 does not write through next_in; its type lacks the const. */
	b->next_in = (char *)(uintptr_t)in;
	b->avail_in = ai;
	b->next_out = (char *)out;
	b->avail_out = ao;
	r = BZ2_bzDecompress(b);
	*inlen = ai - b->avail_in;
	*outlen = ao - b->avail_out;
	switch (r) {
	case BZ_OK:
		return UNPACK_MORE;
	case BZ_STREAM_END:
		return UNPACK_FRAME_END;
	case BZ_MEM_ERROR:
		csp_oom();
		break;
	case BZ_DATA_ERROR_MAGIC:
		*msg = "not in bzip2 format";
		break;
	case BZ_DATA_ERROR:
		*msg = "data integrity error (a CRC or a block is wrong)";
		break;
	default:
		*msg = "decoder error";
		break;
	}
	return UNPACK_ERROR;
}

static void bz_free(void *dec)
{
	BZ2_bzDecompressEnd(dec);
	free(dec);
}

const struct unpack_ops unpack_bzip2_ops = {
	.name = "bzip2",
	.new = bz_new,
	.reset = bz_reset,
	.run = bz_run,
	.free = bz_free,
};
