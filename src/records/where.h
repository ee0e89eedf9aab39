/* SPDX-License-Identifier: MIT */
/*
 * where.h - `where:` expressions over structured records.
 *
 *   expr    := and ('||' and)*
 *   and     := unary ('&&' unary)*
 *   unary   := '!' unary | compare
 *   compare := operand [ op operand | ('=~' | '!~') string
 *                      | 'in' '[' literal (',' literal)* ']' ]
 *   op      := '==' | '!=' | '<' | '<=' | '>' | '>='
 *   operand := path | literal | '(' expr ')' | 'exists' '(' path ')'
 *   literal := string | number | 'true' | 'false' | 'null'
 *   string  := "JSON string" | 'single quoted (no escapes)'
 *
 * Values compare as JSON types (jq's order across types: null < false <
 * true < numbers < strings < arrays < objects), except that a string that
 * is a whole number compares numerically with a number, as awk does.  An
 * operand alone is true unless it is null or false.  =~ matches a string's
 * text (a number's JSON text) with PCRE2; null and missing never match.
 *
 * An expression is compiled once (regexes included) and evaluated by any
 * number of workers, each with its own struct where_match.
 */
#ifndef CSPIPE_WHERE_H
#define CSPIPE_WHERE_H

#include <stddef.h>

#include "records/json_doc.h"

struct where;
struct where_match;

/* Compile src[0..len).  NULL with msg and *col (1-based column in src) on
 * error. */
struct where *where_compile(const char *src, size_t len, char *msg, size_t msglen,
			    size_t *col);
void where_free(struct where *w);
struct where_match *where_match_new(const struct where *w);
void where_match_free(struct where_match *m);
/* Is the expression true of the record v?  1, 0, or -1 when a regex hit
 * its match limit (where_errtext says more). */
int where_eval(const struct where *w, struct where_match *m, const struct jval *v);
const char *where_errtext(const struct where_match *m);

#endif
