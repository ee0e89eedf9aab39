/* SPDX-License-Identifier: MIT */
/*
 * spec.h - the pipeline file as a tree of positioned nodes.
 *
 * libyaml is read here and nowhere else.  Every node keeps file:line:col
 * (1-based) so that any later layer can report an error where the user
 * wrote the value.  ${VAR} and ${VAR:-default} are expanded from the
 * environment in every scalar, keys included; $${ is a literal ${.
 * Aliases are resolved by sharing nodes, with a bound on the expanded size
 * (a billion-laughs file is an error, not an exhausted machine).
 *
 * Details of contract v1 as this reader implements them:
 *  - One document; an empty file (or one holding only comments, or a null
 *    document) loads with spec_root NULL and no error.
 *  - Files over 16 MiB are refused; nesting deeper than 100 lists and
 *    mappings is refused; aliases may add at most 100000 nodes.
 *  - Keys are unique after expansion and are scalars; merge keys (<<) are
 *    refused.  Tags are ignored (a tagged scalar is never null).
 *  - Expansion: ${NAME} (unset: error), ${NAME:-default} (when unset or
 *    empty; the default is expanded too), ${NAME-default} (only when
 *    unset), ${NAME:?message} (unset or empty: an error "NAME: message"),
 *    ${NAME?message} (only when unset), $${ -> ${; any other $ ($1,
 *    $name, $$) stays as written.  NAME is [A-Za-z_][A-Za-z0-9_]*.
 *    Expansion runs on parsed scalars, so in flow style ([ ], { }) a value
 *    with ${...} must be quoted: the braces are YAML syntax there.
 *  - An aliased node is shared: its position is the anchor's, and a
 *    change made through spec_map_set shows wherever it was used.
 *
 * Messages (each "FILE:LINE:COL: " first; LINE:COL 1-based, COL counted in
 * characters; libyaml's own problem text for other syntax errors):
 *   cannot open: No such file or directory        ("PATH: ..." only)
 *   pipeline file too large (more than 16 MiB)     ("PATH: ..." only)
 *   tab characters are not allowed for indentation (use spaces)
 *   unterminated quoted string                     (at the opening quote)
 *   found character '@' that cannot start any token (put the value in quotes)
 *   duplicate key 'workers' (first at 3:5)
 *   a mapping key must be a string, not a list
 *   merge keys (<<) are not supported
 *   only one YAML document is allowed
 *   unknown alias '*x' (define the anchor '&x' before it)
 *   alias '*x' refers to a node that contains it
 *   alias expansion too large (more than 100000 nodes)
 *   nesting too deep (more than 100 levels)
 *   environment variable 'VAR' is not set          (at the '${' when the
 *                                    scalar's text is the source's, else at
 *                                    the scalar)
 *   unterminated '${' (add '}', or write '$${' for a literal '${')
 *   missing variable name after '${' (write ${NAME}, or '$${' for a literal '${')
 *   invalid variable name '1' (a name starts with a letter or '_'; ...)
 *   unsupported form '${X=' (use ${X}, ${X:-default}, ${X-default} or ${X:?message})
 *   X: message                                     (${X:?message})
 *   too many errors (stopping after 100)           ("FILE: ..." only)
 * A load's diagnostics come in file order.
 */
#ifndef CSPIPE_SPEC_H
#define CSPIPE_SPEC_H

#include <stddef.h>

#include "base/util.h"

enum node_type { NODE_SCALAR, NODE_SEQ, NODE_MAP };

struct node {
	enum node_type type;
	const char *file;   /* as given to spec_load_*; owned by the spec */
	int line, col;
	/* scalar: the value after expansion, NUL-terminated (may hold NULs: use len) */
	char *str;
	size_t len;
	int plain;          /* 1: plain scalar (unquoted); 0: quoted or block */
	int is_null;        /* plain "", "~", "null", "Null" or "NULL" as written
			     * (before expansion: "${EMPTY}" is an empty string) */
	/* seq: items[0..n); map: keys[0..n) and vals[0..n) in file order */
	size_t n;
	struct node **items;
	struct node **keys;
	struct node **vals;
};

struct spec;

/* Load a pipeline file ("-": standard input, named "stdin").  On YAML or expansion errors returns NULL and adds
 * positioned diagnostics.  The spec owns every node. */
struct spec *spec_load_file(const char *path, struct diags *d);
/* The same from memory; name is used in positions ("-e" for inline). */
struct spec *spec_load_string(const char *name, const char *text, size_t len,
			      struct diags *d);
struct node *spec_root(struct spec *s);    /* NULL for an empty document */
const char *spec_name(const struct spec *s); /* the path or name it was loaded as */
void spec_free(struct spec *s);

/* Parse text as one value (a -s override's VALUE), positioned as
 * `where` ("WHERE:LINE:COL: ..." in messages; where is copied).  Text that
 * starts with '[', '{' or a quote (after spaces) is YAML: a flow list or
 * mapping, a quoted string.  Any other text is one plain string exactly as
 * given (so *.log, a|b, x: y need no YAML quoting); "", "~" and "null" are
 * null.  ${VAR} expands either way.  The node belongs to s.  NULL and a
 * diagnostic on error. */
struct node *spec_parse_value(struct spec *s, const char *where,
			      const char *text, struct diags *d);
/* Make nodes owned by s (for the engine's implicit stages and overrides).
 * Their position is `where` with line 0 (messages say "WHERE: ..."); where
 * NULL means the spec's file.  A NULL text makes a null scalar; other text
 * is taken as it is (not expanded, plain 0, never null). */
struct node *spec_new_scalar(struct spec *s, const char *where, const char *text);
struct node *spec_new_map(struct spec *s, const char *where);
struct node *spec_new_seq(struct spec *s, const char *where);
/* Set key in map to val, replacing an existing value (key is copied; a new
 * key node gets val's position).  Does nothing if map is not a mapping. */
void spec_map_set(struct spec *s, struct node *map, const char *key, struct node *val);
void spec_seq_append(struct spec *s, struct node *seq, struct node *val);

/* Where n was written (file NULL for n NULL). */
struct pos node_pos(const struct node *n);
/* Add "FILE:LINE:COL: message" at the node's position: a node made by the
 * program (line 0) gives "FILE: message"; n NULL gives only the message. */
void diag_add(struct diags *d, const struct node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same as a warning, counted in d->warnings. */
void diag_warn(struct diags *d, const struct node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Lookups. */
struct node *node_get(const struct node *map, const char *key); /* NULL if absent or not a map */
const char *node_type_name(const struct node *n);  /* "string", "list", "mapping" ("nothing" for NULL) */

#endif
