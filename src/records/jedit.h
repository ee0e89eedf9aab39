/* SPDX-License-Identifier: MIT */
/*
 * jedit.h - editing structured records: set, delete, rename and keep
 * fields, writing the record's new JSON text.
 *
 * An edit list is compiled once from paths and value sources; applying it
 * reads the record's document and writes the new object in one pass, the
 * members in their order, with nothing allocated per record beyond the
 * caller's reused buffers.
 *
 *   set      a member gets a value: a constant (JSON), a copy of another
 *            field (the template is exactly one $.path), or a template's
 *            text ("$.a: $(.b)x"); a member that is there keeps its place,
 *            a new one goes at the end (objects on the way are made).
 *   delete   the member goes (a missing one is no error).
 *   rename   a one-step path is renamed in place; a longer one moves (its
 *            value is deleted and set at the new path's end).
 *   keep     only the listed fields, in the listed order (missing ones are
 *            left out, as mlr cut -o does).
 */
#ifndef CSPIPE_JEDIT_H
#define CSPIPE_JEDIT_H

#include <stddef.h>

#include "records/jpath.h"

struct buf;

/* Most edits one operation may hold (set, delete, rename or keep). */
#define JEDIT_MAX 64

enum jedit_kind { JE_SET, JE_DELETE, JE_RENAME };
enum jval_src { JS_CONST, JS_COPY, JS_TEMPLATE };

/* A template: text pieces and paths, alternately. */
struct jpiece {
	char *text;              /* literal bytes (NULL for a path) */
	size_t len;
	struct jpath path;
};

struct jedit {
	enum jedit_kind kind;
	struct jpath path;
	enum jval_src src;       /* JE_SET */
	char *json;              /* JS_CONST: JSON text */
	size_t json_len;
	struct jpath from;       /* JS_COPY; JE_RENAME: the old path */
	struct jpiece *pieces;   /* JS_TEMPLATE */
	size_t npieces;
	int dynamic;             /* JS_CONST whose text jedits_apply is given */
};

struct jedits {
	struct jedit *v;
	size_t n;
	int keep;                /* the list is a keep: only these fields */
};

/* Compile a set value written as text (a YAML scalar): plain scalars that
 * are JSON numbers, true, false or null keep their type (plain set); any
 * other text is a template.  Returns 0, or -1 with msg and *at. */
int jedit_value(struct jedit *ed, const char *s, size_t len, int plain, char *msg,
		size_t msglen, size_t *at);
void jedits_free(struct jedits *e);
/* Called by jedit_render after each path of a template, with its value
 * and the text written for it; non-zero stops the rendering. */
typedef int jedit_piece_fn(const struct jval *v, const char *text, size_t len, void *arg);
/* Append set value ed rendered as text for record root to out: a
 * template's text as it is and each path's value as its text (a string's
 * contents, nothing for null, another value's compact JSON); a copy
 * (one path alone) as a template of that path; a constant as its JSON
 * text.  check (may be NULL) sees each path's value.  Returns 0, or the
 * non-zero check returned (out then ends with that path's text). */
int jedit_render(const struct jedit *ed, const struct jval *root, struct buf *out,
		 jedit_piece_fn *check, void *arg);
/* Write record root edited by e into out (emptied first); tmp is scratch;
 * dyn is the JSON text of dynamic edits (NULL if none).  Returns 0, or -1
 * when the record is not an object. */
int jedits_apply(const struct jedits *e, const struct jval *root, struct buf *out,
		 struct buf *tmp, const struct buf *dyn);

#endif
