/* SPDX-License-Identifier: MIT */
/*
 * jpath.h - paths into structured records, as jq writes them, and the
 * JSON text cspipe writes for values.
 *
 *   .               the record itself
 *   .a  .a.b        members (a bare key: letters, digits, '_', not
 *                   starting with a digit)
 *   ."odd key"      a member whose key needs quoting (JSON escapes)
 *   .a[0]  .a[-1]   array items (negative: from the end)
 *   .["k"]          a member, jq's bracket form
 *
 * A missing member or item, or a step into something that is not an
 * object or array, gives null (jq's `.a` on a missing key).
 */
#ifndef CSPIPE_JPATH_H
#define CSPIPE_JPATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/util.h"
#include "records/json_doc.h"

struct jstep {
	char *key;           /* a member's key (decoded), or NULL for an index */
	size_t klen;
	int64_t index;
};

struct jpath {
	struct jstep *steps;
	size_t n;
	char *text;          /* as written, NUL-terminated */
};

/* Parse a path at s[0..len): as much as forms a path; *used gets the
 * bytes taken.  Returns 0, or -1 with msg and *at (offset of the
 * trouble in s).  With whole set, the path must take all of s. */
int jpath_parse(struct jpath *p, const char *s, size_t len, int whole,
		size_t *used, char *msg, size_t msglen, size_t *at);
void jpath_free(struct jpath *p);
/* The value at p in v (null when missing).  Returns 1 when found. */
int jpath_eval(const struct jpath *p, const struct jval *v, struct jval *out);

/* buf_putc without the call and the terminating NUL: for the hot loops
 * that write records (they are (pointer, length), never C strings). */
static inline void jbuf_put(struct buf *b, char c)
{
	if (b->len + 1 >= b->cap)
		buf_reserve(b, 1);
	b->p[b->len++] = c;
}

static inline void jbuf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;    /* p may be an empty buffer's NULL */
	if (b->len + n >= b->cap)
		buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* Append s[0..n) as a JSON string (quotes and escapes; bytes that are not
 * valid UTF-8 are copied as they are: carried, not mangled). */
void json_put_string(struct buf *b, const char *s, size_t n);
/* Append v as compact JSON. */
void json_put_value(struct buf *b, const struct jval *v);
/* Append v as text: a string's bytes, anything else as compact JSON,
 * null as nothing (what a template or a CSV cell shows). */
void json_put_text(struct buf *b, const struct jval *v);

#endif

/* ---- a field's text, for the stages that match or key on text --------- */

struct field_reader;
/* One per worker; never NULL. */
struct field_reader *field_reader_new(void);
void field_reader_free(struct field_reader *fr);   /* NULL is harmless */
/* The text of the field at p in record rec[0..len) (room: bytes readable
 * after it): a string's decoded bytes, any other value's compact JSON.
 * Returns 1 with *text and *tlen (valid until the next call), 0 when the
 * field is missing or null, -1 when the record is not JSON
 * (field_reader_error says why). */
int field_read(struct field_reader *fr, const struct jpath *p, const char *rec, size_t len,
	       size_t room, const char **text, size_t *tlen);
const char *field_reader_error(const struct field_reader *fr);
/* Compile a `field: .path` option's text; 0, or -1 with msg (and *at). */
int field_path(struct jpath *p, const char *s, char *msg, size_t msglen, size_t *at);
