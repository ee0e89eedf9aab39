/* SPDX-License-Identifier: MIT */
/*
 * json_doc.h - JSON values of structured records, read with simdjson.
 *
 * The only C++ in cspipe lives behind this header (json_doc.cc): a
 * per-worker document (a simdjson DOM parser and its scratch buffers,
 * made once, reused for every record) that parses one record's JSON text,
 * validating all of it (syntax and UTF-8), and hands out its values.
 *
 * Why the DOM parser and not On-Demand: a source with `codec: json` must
 * reject an invalid record, which On-Demand only notices in the parts it
 * walks, and a `where` reads several paths in any order, which On-Demand
 * allows only by rewinding.  The DOM parser validates and indexes a record
 * in one pass at about 1 GB/s a core.
 *
 * Strings come back decoded (\uXXXX escapes, surrogate pairs too, as
 * UTF-8).  A record whose text holds invalid UTF-8 (carried in from CSV
 * or logfmt bytes) is read with each invalid byte seen as U+FFFD; its
 * bytes stay as they were.
 *
 * Values (struct jval) point into the document: they stay valid until the
 * next jdoc_parse on the same document.
 */
#ifndef CSPIPE_JSON_DOC_H
#define CSPIPE_JSON_DOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes simdjson may read beyond a record's end (their values do not
 * matter); with less room jdoc_parse copies the record first. */
#define JDOC_PADDING 64

enum jtype { JT_NULL, JT_FALSE, JT_TRUE, JT_NUMBER, JT_STRING, JT_ARRAY, JT_OBJECT };

struct jval {
	enum jtype type;
	int is_int;           /* JT_NUMBER: an integer that fits int64 */
	int64_t i;            /* JT_NUMBER with is_int */
	double num;           /* JT_NUMBER (always set) */
	const char *str;      /* JT_STRING: decoded bytes (not NUL-terminated) */
	size_t len;           /* JT_STRING: their length */
	uint64_t el[2];       /* the parser's element (opaque) */
};

struct jdoc;

/* A document for one worker.  Never NULL (out of memory aborts). */
struct jdoc *jdoc_new(void);
void jdoc_free(struct jdoc *d);   /* NULL is harmless */

/* Parse p[0..len).  room: bytes readable after p + len (JDOC_PADDING or
 * more: parsed in place).  Returns 0, or -1 when the text is not one
 * valid JSON value: jdoc_error says why. */
int jdoc_parse(struct jdoc *d, const char *p, size_t len, size_t room);
const char *jdoc_error(const struct jdoc *d);
/* Check many records at once: text[0..len) (room: bytes readable after
 * it, JDOC_PADDING or more) holds n records, each a line, the k-th
 * starting at text + start[k] (its first byte that is not a blank), and
 * between them only blanks and line ends.  Returns 1 when the text is n
 * valid JSON values, the k-th starting at start[k] and none other; 0
 * when that is not so or not certain (invalid UTF-8, a record that is
 * not one value, the last one cut short...): the caller then checks the
 * records one by one with jdoc_parse, which says which one is wrong and
 * why.  Leaves no parsed value (jdoc_root is undefined after it). */
int jdoc_check_lines(struct jdoc *d, const char *text, size_t len, size_t room,
		     const uint32_t *start, size_t n);
/* The parsed value. */
void jdoc_root(struct jdoc *d, struct jval *out);

/* A member of an object / an item of an array (negative: from the end,
 * as jq).  Returns 1, or 0 with out set to null when it is missing or v
 * is not an object / array. */
int jval_key(const struct jval *v, const char *key, size_t klen, struct jval *out);
int jval_index(const struct jval *v, int64_t index, struct jval *out);
/* Members of an object, items of an array: how many, and the i-th
 * (0-based; keys decoded).  Walking i = 0, 1, ... in order costs O(1)
 * a step. */
size_t jval_size(const struct jval *v);
struct jiter {
	uint64_t pos[2];
	size_t i;
};
void jval_iter(const struct jval *v, struct jiter *it);
/* The next member (key set for objects, else NULL) or item.  Returns 0 at
 * the end. */
int jval_next(struct jiter *it, const struct jval *v, const char **key,
	      size_t *klen, struct jval *out);

/* Copy p[0..len) to out without the whitespace between tokens (out has
 * room for len bytes).  Returns the bytes written.  The text is not
 * validated: parse it first. */
size_t jdoc_minify(const char *p, size_t len, char *out);

#ifdef __cplusplus
}
#endif

#endif
