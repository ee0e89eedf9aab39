/* SPDX-License-Identifier: MIT */
/*
 * codec.h - decoding structured input into records and encoding records
 * as structured output.
 *
 * Inside the pipeline a structured record is a JSON value (an object for
 * CSV and logfmt rows) whose bytes are its compact JSON text.  A decoder
 * turns the line records a source framed into such records; an encoder
 * turns records into the bytes a sink writes.
 *
 *   json     JSON Lines: one JSON value a line; blank lines are skipped; a
 *            CR before the newline is accepted (and dropped).  Decoding
 *            validates each record and keeps its text as it is; encoding
 *            writes it compact.
 *   csv      RFC 4180.  Decoding: the first row names the fields (unless
 *            columns are given); quoted fields hold commas, doubled quotes
 *            and newlines (a row may span lines); every value is a string.
 *            Encoding: a header row, then one row a record, quoting only
 *            where needed.
 *   logfmt   as Go's logfmt: key=value pairs separated by blanks; a value
 *            may be quoted with Go's escapes; a bare key is true.  Values
 *            decode as strings.  Encoding writes each top-level member,
 *            quoting values that hold blanks, '=', '"' or control bytes.
 *   text     the record's bytes, unchanged (no decoder or encoder).
 *
 * A record that is not valid for its codec is handled by the on_error
 * policy: fail (an error naming the origin and record number), drop
 * (counted in dropped) or keep (passed on as it is, as text).
 *
 * Decoders and encoders hold per-worker state (a JSON document, buffers)
 * made once: nothing is allocated per record.
 */
#ifndef CSPIPE_CODEC_H
#define CSPIPE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "records/batch.h"
#include "base/util.h"

struct wstats;
struct jpath;

enum codec { CODEC_TEXT, CODEC_JSON, CODEC_CSV, CODEC_LOGFMT };
extern const char *const codec_names[];      /* "text", "json", "csv", "logfmt", NULL */

enum { CODEC_FAIL, CODEC_DROP, CODEC_KEEP };
extern const char *const codec_on_error_names[];   /* "fail", "drop", "keep" */

/* Columns given in a pipeline (paths), compiled. */
struct columns {
	struct jpath *paths;
	size_t n;
};
/* Compile the path texts v[0..n).  Returns 0, or -1 with msg naming the
 * bad one and its offset. */
int columns_compile(struct columns *c, char *const *v, size_t n, char *msg, size_t msglen,
		    size_t *bad, size_t *at);
void columns_free(struct columns *c);

struct decoder;
/* A decoder for one input (a CSV header belongs to its file).  cols may
 * be NULL; it must outlive the decoder.  NULL for CODEC_TEXT. */
struct decoder *decoder_new(enum codec codec, int on_error, const struct columns *cols);
void decoder_free(struct decoder *d);
/* Decode the line records of b.  Returns the batch to send on (b itself,
 * or a new one: b is then freed), or NULL when nothing is left to send
 * (b was freed).  A record refused under on_error: fail sets e, and what
 * is returned then holds the records before it (NULL: none); the rest of
 * b is freed.  Records dropped by on_error are counted in ws (read and
 * dropped). */
struct batch *decoder_batch(struct decoder *d, struct batch *b, struct wstats *ws,
			    struct err *e);
/* Decode one text (a record, or a field's text, for the parse stage) as
 * one value: 0 with its JSON text (valid until the next call), or -1 with
 * *why.  CSV needs the decoder's columns. */
int decoder_one(struct decoder *d, const char *s, size_t n, const char **json, size_t *jlen,
		const char **why);
/* At the end of an input: 0, or -1 with e set when a record was left
 * unfinished (an open quote). */
int decoder_finish(struct decoder *d, const char *origin, struct err *e);

struct encoder;
/* An encoder for one sink worker; header_claim is shared by the workers
 * of a sink so that the CSV header is written once (may be NULL for one
 * worker).  NULL for CODEC_TEXT. */
struct encoder *encoder_new(enum codec codec, const struct columns *cols,
			    _Atomic int *header_claim);
void encoder_free(struct encoder *en);
/* Encode b into a new batch of output lines (b->records kept: a CSV
 * header is not a record), returned, never NULL.  A record that cannot be
 * encoded sets e; the batch then holds the lines of the records before it
 * (its records count those), to be written before the error stops the
 * run.  b stays the caller's.  name: the sink, for messages. */
struct batch *encoder_batch(struct encoder *en, const struct batch *b, const char *name,
			    struct err *e);

#endif
