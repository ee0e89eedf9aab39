/* SPDX-License-Identifier: MIT */
/*
 * unpack.h - streaming decoders for zstd, xz and bzip2 behind one
 * interface, and the driver that feeds one into a framer.
 *
 * Each format is one file (unpack_zstd.c, unpack_xz.c, unpack_bzip2.c)
 * exporting one struct unpack_ops; unpack.c recognises the formats by
 * their magic bytes and runs a decoder over a stream of many frames
 * (zstd) or streams (xz, bzip2) as the zstd, xz and bzip2 commands do.
 * gzip, zlib and raw deflate are not here: fdio.c and decompress.c read
 * them with zlib themselves.
 */
#ifndef CSPIPE_UNPACK_H
#define CSPIPE_UNPACK_H

#include <stddef.h>
#include <stdint.h>

struct framer;
struct err;

enum unpack_format { UNPACK_NONE = 0, UNPACK_ZSTD, UNPACK_XZ, UNPACK_BZIP2 };

/* The most bytes unpack_sniff may need to decide. */
#define UNPACK_MAGIC_MAX 10

/* One format's decoder.  run decodes from in[0..*inlen) into
 * out[0..*outlen) and sets both to what it consumed and made; it returns
 * UNPACK_MORE (call again: more input, or more room), UNPACK_FRAME_END (a
 * frame or stream ended exactly after the bytes consumed; the next call
 * after reset starts another) or UNPACK_ERROR with *msg set (a static
 * string).  new cannot fail (out of memory aborts). */
enum { UNPACK_MORE, UNPACK_FRAME_END, UNPACK_ERROR };
struct unpack_ops {
	const char *name;
	void *(*new)(void);
	void (*reset)(void *dec);
	int (*run)(void *dec, const unsigned char *in, size_t *inlen,
		   unsigned char *out, size_t *outlen, const char **msg);
	void (*free)(void *dec);
};
extern const struct unpack_ops unpack_zstd_ops, unpack_xz_ops, unpack_bzip2_ops;

/* What the first n bytes of a stream are: a format, UNPACK_NONE when
 * none of them, or -1 when n bytes are a prefix of a magic and too few to
 * tell.  Cannot fail. */
int unpack_sniff(const unsigned char *p, size_t n);
/* "zstd", "xz" or "bzip2". */
const char *unpack_name(int format);

/* What went wrong, for the caller's message. */
enum { UNPACK_CORRUPT = 1, UNPACK_GARBAGE, UNPACK_TRUNCATED };

/* A stream being decoded into a framer. */
struct unpack {
	const struct unpack_ops *ops;
	int format;
	void *dec;
	uint64_t pos;            /* compressed bytes consumed */
	uint64_t frames;         /* frames (streams) completed */
	uint64_t frame_start;    /* pos where the current frame began */
	uint64_t frame_out;      /* bytes the current frame made so far */
	int between;             /* at a frame boundary (after one ended) */
	unsigned char head[UNPACK_MAGIC_MAX];  /* the current frame's first bytes */
	size_t nhead;
	/* set with -1: */
	int fail;                /* UNPACK_CORRUPT, _GARBAGE, _TRUNCATED */
	uint64_t fail_at;        /* the byte offset the message names */
	const char *fail_msg;    /* the decoder's words (CORRUPT) */
};

/* Begin decoding a stream of format.  Cannot fail. */
void unpack_init(struct unpack *u, int format);
void unpack_fini(struct unpack *u);
/* Decode n bytes into fr.  Returns 0, -1 with u->fail set (corrupt data
 * or trailing garbage), -1 with e set by the framer (a record too long),
 * or the framer's positive stop value.  The two -1 cases differ in
 * u->fail (0 for the framer's). */
int unpack_feed(struct unpack *u, const unsigned char *p, size_t n,
		struct framer *fr, struct err *e);
/* The stream has no more bytes: 0 when it ended at a frame boundary,
 * -1 with u->fail = UNPACK_TRUNCATED otherwise.  Does not touch the
 * framer. */
int unpack_end(struct unpack *u);
/* "corrupt zstd data at byte N: why" and the like, into e, the origin
 * placed as the caller's style wants: before ("FILE: ...", in_origin 0)
 * or after the format ("... data in FILE at byte N", in_origin 1). */
void unpack_error(const struct unpack *u, const char *origin, int in_origin,
		  struct err *e);

#endif
