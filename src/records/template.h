/* SPDX-License-Identifier: MIT */
/*
 * template.h - replacement and template text with captures.
 *
 * Syntax (after the file's ${VAR} expansion): $1..$99 a numbered group,
 * $name or ${name} a named group (${name} where a letter or digit follows;
 * in a pipeline file that is written $${name}), $0 the whole match, $$ a
 * literal $, and with TMPL_COUNTER $n the record counter (generate).  Any
 * other $ is an error at compile time, so typos are caught by `validate`.
 */
#ifndef CSPIPE_TEMPLATE_H
#define CSPIPE_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

struct pattern;
struct buf;

#define TMPL_COUNTER 1u

struct tmpl;

/* Compile text; group references are checked against p (may be NULL: then
 * only $$ and, with TMPL_COUNTER, $n are allowed).  NULL and a message with
 * the offset on error. */
struct tmpl *tmpl_compile(const char *text, size_t len, const struct pattern *p,
			  unsigned flags, char *err, size_t errlen, size_t *erroff);
void tmpl_free(struct tmpl *t);
/* Exact size tmpl_expand will write for this match (an upper bound is fine
 * for the caller's reserve). */
size_t tmpl_size(const struct tmpl *t, const size_t *ovector, int64_t counter);
/* Write the expansion into out (which must have tmpl_size bytes of room);
 * returns the length written.  subject/ovector may be NULL without groups. */
size_t tmpl_expand(const struct tmpl *t, char *out, const char *subject,
		   const size_t *ovector, int64_t counter);
/* 1 if the template is plain text with no reference. */
int tmpl_is_literal(const struct tmpl *t);

#endif
