/* SPDX-License-Identifier: MIT */
/*
 * config.h - option tables, the single source of truth for a stage's
 * options: the generic loader reads what the pipeline file wrote into a
 * config struct by offsetof, applies defaults and rejects unknown keys;
 * `cspipe stages` prints the same table; a test checks that the man page
 * documents it.
 *
 * Stages never see the YAML tree: a value reaches a custom parser as a
 * struct optval (read through the accessors below), nested mappings load
 * through OPT_TABLE or config_load_table, and the loader records where each
 * option was written (struct pos) so that a stage can position a later
 * error without the tree.
 */
#ifndef CSPIPE_CONFIG_H
#define CSPIPE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

struct node;

/* A value as the pipeline file wrote it: a scalar, a list or a mapping
 * (a table), with its position.  Valid during the parse that receives it
 * only: keep copies, never the pointer. */
struct optval;

enum optval_type { OPTVAL_SCALAR, OPTVAL_LIST, OPTVAL_TABLE };

enum optval_type optval_type(const struct optval *v);
/* A scalar written as nothing: `key:`, `key: ~`, `key: null`. */
int optval_is_null(const struct optval *v);
/* A scalar written without quotes (so `5` may be a number, '5' is text). */
int optval_is_plain(const struct optval *v);
/* A scalar's text, NUL-terminated; it may hold NUL bytes (use *len). */
const char *optval_str(const struct optval *v, size_t *len);
size_t optval_len(const struct optval *v);
/* Items of a list, entries of a table (0 for a scalar). */
size_t optval_count(const struct optval *v);
const struct optval *optval_item(const struct optval *v, size_t i);
const struct optval *optval_key(const struct optval *v, size_t i);
const struct optval *optval_value(const struct optval *v, size_t i);
/* The value of `key` in a table; NULL when absent or v is no table. */
const struct optval *optval_get(const struct optval *v, const char *key);
/* "string", "list" or "mapping", for "got a ..." messages. */
const char *optval_type_name(const struct optval *v);
struct pos optval_pos(const struct optval *v);
/*
 * An option that takes one value or a list of them: fn(item, index, arg, d)
 * for each item of a list (index counting from 1), or once for v itself
 * when v is not a list (index 0).  Every item is visited, so that one run
 * reports every bad one.  Returns 0 when every call returned 0, else -1.
 * An empty list calls nothing and returns 0: the caller says what an empty
 * list means.
 */
typedef int optval_item_fn(const struct optval *item, size_t index, void *arg,
			   struct diags *d);
int optval_each(const struct optval *v, optval_item_fn *fn, void *arg, struct diags *d);
/* The view of a tree node and back (for the pipeline layer, which holds
 * nodes; stages have no use for them). */
const struct optval *optval_of(const struct node *n);
const struct node *optval_node(const struct optval *v);

enum opt_type {
	OPT_STRING,    /* char *          (NULL when absent and no default) */
	OPT_INT,       /* int64_t         min/max bound it */
	OPT_BOOL,      /* int             */
	OPT_DURATION,  /* int64_t ns      Go-style text */
	OPT_SIZE,      /* uint64_t bytes  4096, 64KiB, 1MiB */
	OPT_ENUM,      /* int             index into choices */
	OPT_STRLIST,   /* struct strlist  a string or a list of strings */
	OPT_CHAR,      /* int             a single character (e.g. a delimiter byte) */
	OPT_TABLE,     /* the struct of .table's options: a nested mapping */
	OPT_CUSTOM,    /* whatever parse() stores; free() releases it */
};

struct strlist {
	char **v;
	size_t n;
	struct pos *at;    /* where each was written (for later errors);
			    * file NULL for a default */
};

struct option {
	const char *name;
	enum opt_type type;
	size_t offset;            /* offsetof(the stage's config struct, field) */
	const char *def;          /* default, as the file would write it; NULL: none */
	const char *doc;          /* one line for `cspipe stages` and the man page check */
	int64_t min, max;         /* OPT_INT/OPT_SIZE/OPT_DURATION bounds when min < max */
	const char *const *choices;   /* OPT_ENUM: NULL-terminated */
	/* OPT_TABLE: the nested options.  Absent, every field of the nested
	 * struct is zero (defaults apply only to a table that is given);
	 * given, it loads as config_load_table with the option's name as
	 * `what`, and anything but a mapping is "NAME: expected a mapping
	 * (e.g. EXAMPLE), got a list" with .example. */
	const struct option *table;
	const char *example;
	/* OPT_CUSTOM: parse v into dst (return 0, or -1 after diag_at);
	 * free releases what parse stored.  type_name is shown as the type.
	 * free must accept a zeroed dst and leave dst so that it can run again
	 * (it runs before every parse, for fields without default, and in
	 * config_free).  A default reaches parse as a value that dies after
	 * the call (file "option table", line 0): do not keep it. */
	int (*parse)(const struct optval *v, void *dst, struct diags *d);
	void (*free)(void *dst);
	const char *type_name;
	unsigned flags;
};
#define OPT_REQUIRED 1u   /* must be given (no default) */

/* Store defaults, then every key of map (which may be NULL: defaults
 * only, no check of OPT_REQUIRED).  Unknown keys, wrong types and
 * out-of-range values add positioned diagnostics (with "did you mean" for
 * near misses); the loader goes on so that one run reports them all.
 * Returns 0, or -1 if any error.
 *
 * conf must be zeroed before its first load (or hold a previous load's
 * values: each string, list or custom value is freed when replaced).
 * Fields without default are set to zero / NULL / an empty list.  Values:
 * strings are copied (a value with a NUL byte is refused); a null value
 * (`key:` or `key: ~`) is "missing value" for every type but OPT_CUSTOM;
 * OPT_STRLIST defaults are one string; OPT_CHAR takes exactly one byte.
 * A default that does not load is a bug in the table: message, abort().
 *
 * Messages (each positioned at the value, or at the key if unknown):
 *   unknown option 'patern' (did you mean 'pattern'?)
 *   unknown option 'xyz' (known options: pattern, invert)   (<= 10 options)
 *   missing required option 'pattern'                      (at the map)
 *   workers: expected an integer, got a mapping
 *   workers: expected an integer, got 'many'
 *   workers: missing value (expected an integer)
 *   level: 12 is out of range 0..9
 *   ordered: expected true or false, got 'maybe'
 *   timeout: bad duration '5 s': unexpected space (write e.g. 5s)
 *   buffer: bad size '1X': unknown unit (use B, KiB, ...)
 *   unknown format 'gz' (expected gzip, zlib or deflate; did you mean 'gzip'?)
 *   paths: item 2: expected a string, got a list
 *   delimiter: expected a single character (one byte), got 'ab' */
int config_load(const struct option *opts, void *conf, const struct node *map,
		struct diags *d);
/* The same, naming the owner of the options in messages: "unknown option
 * 'patern' for filter (did you mean 'pattern'?)", "missing required
 * option 'pattern' for filter" (what NULL: as config_load). */
int config_load_for(const struct option *opts, void *conf, const struct node *map,
		    const char *what, struct diags *d);
/* The same, and where[i] (config_count(opts) entries, or where NULL) is
 * set to the position of the value written for opts[i]; file NULL for an
 * option the map does not name. */
int config_load_at(const struct option *opts, void *conf, const struct node *map,
		   const char *what, struct pos *where, struct diags *d);
/* config_load_at for a table handed to a custom parser (a stage's nested
 * mapping): what the stage uses instead of the tree. */
int config_load_table(const struct option *opts, void *conf,
		      const struct optval *table, const char *what,
		      struct pos *where, struct diags *d);
/* Load one option from a node (a scalar shorthand, a -s override),
 * replacing (and freeing) the value stored before.  On error the old value
 * stays, except for OPT_CUSTOM, whose free has run. */
int config_load_one(const struct option *opt, void *conf, const struct node *n,
		    struct diags *d);
/* Free strings, lists and custom values and empty the fields; repeatable. */
void config_free(const struct option *opts, void *conf);
const struct option *config_find(const struct option *opts, const char *name);
/* "string", "integer", "integer 0..9", "boolean", "duration", "duration
 * 1ms..1h", "size", "size 4KiB..1GiB", "one of gzip, zlib, deflate",
 * "string list", "character", "mapping", or the custom type_name ("value"
 * if none). */
void config_type_text(const struct option *o, char *out, size_t n);
size_t config_count(const struct option *opts);  /* table ends with name NULL */

#endif
