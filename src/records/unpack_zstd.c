/* SPDX-License-Identifier: MIT */
/*
 * unpack_zstd.c - the zstd decoder behind unpack.h (libzstd's streaming
 * API).  One ZSTD_DStream per stream, reset between frames; skippable
 * frames are read past, as the zstd command does.  The window is limited
 * as the command limits it by default (ZSTD_d_windowLogMax's default).
 */
#include <zstd.h>

#include "csp/csp.h"
#include "records/unpack.h"

static void *zstd_new(void)
{
	ZSTD_DStream *ds = ZSTD_createDStream();

	if (!ds)
		csp_oom();
	return ds;
}

static void zstd_reset(void *dec)
{
	(void)ZSTD_DCtx_reset(dec, ZSTD_reset_session_only);
}

/* Input given to one call: on an error libzstd does not say how far it
 * got, so a message can name the offset only to within this much. */
#define ZSTD_STEP 16384

/* A frame ends where ZSTD_decompressStream returns 0: decoded and
 * flushed. */
static int zstd_run(void *dec, const unsigned char *in, size_t *inlen,
		    unsigned char *out, size_t *outlen, const char **msg)
{
	ZSTD_inBuffer ib = { in, *inlen < ZSTD_STEP ? *inlen : ZSTD_STEP, 0 };
	ZSTD_outBuffer ob = { out, *outlen, 0 };
	size_t r = ZSTD_decompressStream(dec, &ob, &ib);

	*inlen = ib.pos;
	*outlen = ob.pos;
	if (ZSTD_isError(r)) {
		*msg = ZSTD_getErrorName(r);
		return UNPACK_ERROR;
	}
	return r == 0 ? UNPACK_FRAME_END : UNPACK_MORE;
}

static void zstd_free(void *dec)
{
	ZSTD_freeDStream(dec);
}

const struct unpack_ops unpack_zstd_ops = {
	.name = "zstd",
	.new = zstd_new,
	.reset = zstd_reset,
	.run = zstd_run,
	.free = zstd_free,
};
