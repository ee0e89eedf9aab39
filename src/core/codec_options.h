/* SPDX-License-Identifier: MIT */
/*
 * codec_options.h - the codec rows of the option tables of the stages
 * that decode or encode records (stdin, files and parse decode; stdout
 * and file encode).
 *
 * Each row's name, type, choices and default are written here once, so
 * that the stages cannot drift apart: `codec: csv` or `on_error: drop`
 * means the same wherever a pipeline writes it.  The description is the
 * stage's, since decoding and encoding say different things.  `field` is
 * the member of the config struct T that holds the value (in.codec,
 * out.columns, on_error).
 */
#ifndef CSPIPE_CODEC_OPTIONS_H
#define CSPIPE_CODEC_OPTIONS_H

#include <stddef.h>

#include "records/codec.h"
#include "pipeline/config.h"

/* codec: text (the default), json, csv or logfmt; an int (enum codec). */
#define CODEC_OPTION(T, field, description)                                    \
	{ .name = "codec", .type = OPT_ENUM, .offset = offsetof(T, field),       \
	  .def = "text", .choices = codec_names, .doc = description }

/* on_error: fail (the default), drop or keep; an int (CODEC_FAIL, ...). */
#define CODEC_ON_ERROR_OPTION(T, field, description)                           \
	{ .name = "on_error", .type = OPT_ENUM, .offset = offsetof(T, field),    \
	  .def = "fail", .choices = codec_on_error_names, .doc = description }

/* columns: csv's fields as paths; a struct strlist. */
#define CODEC_COLUMNS_OPTION(T, field, description)                            \
	{ .name = "columns", .type = OPT_STRLIST, .offset = offsetof(T, field),  \
	  .doc = description }

#endif
