/* SPDX-License-Identifier: MIT */
/*
 * expand.h - ${VAR} expansion of the pipeline file's text, private to the
 * pipeline-file reader (spec.c, expand.c).  The syntax and its messages
 * are in spec.h's contract.
 */
#ifndef CSPIPE_EXPAND_H
#define CSPIPE_EXPAND_H

#include <stdarg.h>
#include <stddef.h>

#include "base/util.h"

/* Where a scalar's text starts, to place an error inside it. */
struct textpos {
	int line, col;
	int exact;   /* raw bytes are the source bytes: count into them */
};

/* An expansion's scratch and where its errors go: error(arg, line, col,
 * fmt, ap) with a 1-based position.  Zero-initialise name; buf_free it. */
struct expand {
	struct buf name;
	void (*error)(void *arg, int line, int col, const char *fmt, va_list ap);
	void *arg;
};

/*
 * Expand raw[from..to) into out: ${VAR}, ${VAR:-default} (default when
 * unset or empty, itself expanded), ${VAR-default} (only when unset),
 * ${VAR:?message} (an error "VAR: message" when unset or empty),
 * ${VAR?message} (only when unset), $${ -> ${; any other $ stays.  Returns
 * 0, or -1 after positioned errors: every unset variable is reported
 * (a user fixes them all at once), while the first syntax error ends the
 * scalar's expansion.  depth is 0 for a scalar.
 */
int expand_text(struct expand *x, const struct textpos *tp, const char *raw,
		size_t from, size_t to, struct buf *out, int depth);

/* Characters (not bytes) in p[0..n), for columns. */
size_t utf8_chars(const char *p, size_t n);

#endif
