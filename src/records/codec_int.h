/* SPDX-License-Identifier: MIT */
/*
 * codec_int.h - what the decoders (codec.c) and the encoders
 * (codec_encode.c) share; private to those two files.
 */
#ifndef CSPIPE_CODEC_INT_H
#define CSPIPE_CODEC_INT_H

#include <stdint.h>

#include "records/batch.h"
#include "records/jpath.h"
#include "records/json_doc.h"

/* The line number of record i of b in its origin (0: unknown). */
static inline uint64_t codec_line_of(const struct batch *b, uint32_t i)
{
	return b->first_rec ? b->first_rec + b->recs[i].tag : 0;
}

/* A column's name in a CSV header: its path without the leading dot
 * (".a.b" -> "a.b", as mlr flattens), or the key of a one-step path. */
void codec_column_name(struct buf *b, const struct jpath *p);

#endif
