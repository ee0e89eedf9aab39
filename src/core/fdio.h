/* SPDX-License-Identifier: MIT */
/*
 * fdio.h - reading and writing file descriptors under a context, and the
 * reading and writing that sources and sinks share.
 *
 * A read from a pipe or a terminal can block for ever; so that a
 * cancelled run still stops, each waiter polls its descriptor together
 * with an eventfd that the context's cancellation signals (ctx_after_func).
 */
#ifndef CSPIPE_FDIO_H
#define CSPIPE_FDIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "records/batch.h"
#include "records/codec.h"
#include "pipeline/config.h"
#include "base/util.h"
#include "core/codec_options.h"

struct ctx;
struct stage_io;
struct wstats;
struct ctx_func;
struct output_conf;

struct fdwait {
	int efd;                 /* eventfd written on cancellation */
	struct ctx *ctx;
	struct ctx_func *fn;
};

int fdwait_init(struct fdwait *w, struct ctx *ctx);   /* 0 or -1 (errno) */
void fdwait_fini(struct fdwait *w);
/* read(2) that returns early with -2 when the context is done.  -1 with
 * errno for an I/O error; 0 at end of file. */
ssize_t fd_read(struct fdwait *w, int fd, void *buf, size_t n);
/* Write everything: 0, -1 with errno, or -2 when the context is done. */
int fd_write_all(struct fdwait *w, int fd, const void *buf, size_t n);

/* How a source frames what it reads. */
enum { GUNZIP_AUTO, GUNZIP_YES, GUNZIP_NO };
struct input_opts {
	int format;              /* enum framing */
	uint64_t chunk_size;
	uint64_t max_record;
	int gunzip;              /* GUNZIP_*: auto = for lines and nul, not chunk */
	int codec;               /* enum codec */
	int on_error;            /* CODEC_FAIL, _DROP, _KEEP */
	const struct columns *cols;
};
/* The options every reading source has, for its table. */
extern const char *const input_format_names[];
extern const char *const input_gunzip_names[];

/* Read fd to its end (or until the source's context is done) and send
 * it on as batches.  Returns STAGE_OK at the end or on cancellation (the
 * records complete so far went out, an unfinished one did not), STAGE_STOP
 * when every reader has gone, STAGE_ERROR with e set (the message names
 * origin). */
int input_read(struct stage_io *io, int fd, const char *origin,
	       const struct input_opts *o, struct err *e);

/* A sink's output: batches written with their terminators, adjacent
 * records in one piece, small pieces gathered into large writes. */
struct writer {
	int fd;
	const char *name;        /* for messages: "stdout" or the path */
	struct fdwait fw;
	struct buf pending;
	uint64_t written;        /* bytes */
	int cancelled;           /* the last write stopped because ctx ended */
	struct encoder *enc;     /* NULL: records written as they are */
};
int writer_init(struct writer *w, int fd, const char *name, struct ctx *ctx);
/* Encode what follows with the sink's codec (writer_fini frees it). */
void writer_set_codec(struct writer *w, const struct output_conf *c);
/* Write b's records (counting them written in ws).  Returns STAGE_OK,
 * STAGE_STOP when the reader went away (EPIPE: b's records count as
 * filtered) or the context ended (an abort: they count as dropped), or
 * STAGE_ERROR. */
int writer_batch(struct writer *w, const struct batch *b, struct wstats *ws, struct err *e);
int writer_flush(struct writer *w, struct err *e);
void writer_fini(struct writer *w);


/* The reading options of stdin and files, as rows of their tables;
 * `type` is the stage's config struct, which holds a struct input_conf
 * named `in`. */
struct input_conf {
	int format;
	uint64_t chunk_size;
	uint64_t max_record;
	int gunzip;
	int codec;
	int on_error;
	struct strlist columns;
	struct columns cols;     /* columns, compiled by input_check */
};
#define INPUT_OPTIONS(T)                                                        \
	{ .name = "format", .type = OPT_ENUM, .offset = offsetof(T, in.format),     \
	  .def = "lines", .choices = input_format_names,                              \
	  .doc = "framing: lines (newline), nul (NUL bytes) or chunk (fixed size)" }, \
	{ .name = "chunk_size", .type = OPT_SIZE, .offset = offsetof(T, in.chunk_size), \
	  .def = "64KiB", .min = 1, .max = 1073741824,                                \
	  .doc = "record size for format chunk" },                                    \
	{ .name = "max_record", .type = OPT_SIZE, .offset = offsetof(T, in.max_record), \
	  .def = "64MiB", .min = 1, .max = 1073741824,                                \
	  .doc = "longest record accepted; a longer one is an error" },               \
	{ .name = "gunzip", .type = OPT_ENUM, .offset = offsetof(T, in.gunzip),     \
	  .def = "auto", .choices = input_gunzip_names,                               \
	  .doc = "decompress gzip, zstd, xz, bzip2 input (auto: by magic bytes, except for chunk)" }, \
	CODEC_OPTION(T, in.codec, "decode records: text (as read), json (JSON Lines), " \
		     "csv (RFC 4180) or logfmt"),                                     \
	CODEC_ON_ERROR_OPTION(T, in.on_error, "a record invalid for its codec: fail " \
			      "the run, drop it, or keep it as text"),               \
	CODEC_COLUMNS_OPTION(T, in.columns, "csv: the field names (paths such as .a); " \
			     "the first row is then data")

static inline struct input_opts input_opts_of(const struct input_conf *c)
{
	struct input_opts o = { c->format, c->chunk_size, c->max_record, c->gunzip,
				c->codec, c->on_error, &c->cols };
	return o;
}

/* The encoding options of sinks (stdout, file), as rows of their tables;
 * `type` holds a struct output_conf named `out`. */
struct output_conf {
	int codec;
	struct strlist columns;
	struct columns cols;     /* compiled by output_check */
	_Atomic int header_claim; /* the CSV header is written once */
};
#define OUTPUT_OPTIONS(T)                                                        \
	CODEC_OPTION(T, out.codec, "encode records: text (as they are), json (compact " \
		     "JSON Lines), csv (header, then rows) or logfmt"),                 \
	CODEC_COLUMNS_OPTION(T, out.columns, "csv: the fields written, in order (paths " \
			     "such as .a); default: the first record's keys")

struct stage;
struct diags;
/* Check a sink's codec options (compile its columns); for its check
 * callback.  Returns 0, or -1 after a diagnostic. */
int output_check(struct stage *st, struct output_conf *c, struct diags *d);
void output_conf_free(struct output_conf *c);
/* Check a source's codec options (compile its columns); for its check
 * callback.  Returns 0, or -1 after a diagnostic. */
int input_check(struct stage *st, struct input_conf *c, struct diags *d);
/* Release what input_check made; for its free callback. */
void input_conf_free(struct input_conf *c);
#endif
