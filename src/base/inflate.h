/* SPDX-License-Identifier: MIT */
/*
 * inflate.h - one inflate stream (gzip member, zlib member or raw deflate)
 * with zlib's results and messages, decoded by ISA-L's igzip where it can.
 */
#ifndef CSPIPE_INFLATE_H
#define CSPIPE_INFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

enum infl_wrap { INFL_GZIP, INFL_ZLIB, INFL_RAW };

/* infl_run's results. */
enum {
	INFL_OK = 0,      /* progress, or more input / output room needed */
	INFL_END = 1,     /* the member ended; next_in is just past it */
	INFL_ERROR = -1,  /* corrupt data: msg says what, infl_at where */
};

struct inflate_state;

struct infl {
	/* The caller's window, advanced by infl_run as zlib's is. */
	const unsigned char *next_in;
	size_t avail_in;
	unsigned char *next_out;
	size_t avail_out;
	const char *msg;             /* after INFL_ERROR */

	/* private */
	z_stream zs;                 /* zlib: headers, or the whole stream */
	struct inflate_state *is;    /* igzip: a gzip member's body; NULL: zlib only */
	int wrap;
	int phase;
	int lag;                     /* bytes taken but not yet decoded */
	int ntrail;
	unsigned char trail[8];
	uint64_t taken;              /* bytes of the body igzip took */
	unsigned char tail[16];      /* the last of them, for messages */
};

/* Make f ready for a stream of kind wrap (infl_reset).  Cannot fail. */
void infl_init(struct infl *f, enum infl_wrap wrap);
/* Start a new stream of kind wrap; the window is left as it is. */
void infl_reset(struct infl *f, enum infl_wrap wrap);
/* Decode from next_in into next_out: INFL_OK, INFL_END or INFL_ERROR. */
int infl_run(struct infl *f);
/* After INFL_ERROR: how many bytes before next_in decoding stopped. */
size_t infl_behind(const struct infl *f);
void infl_end(struct infl *f);
/* The decoder in use: "isa-l" or "zlib" (CSPIPE_INFLATE=zlib picks zlib). */
const char *infl_engine(void);

#endif
