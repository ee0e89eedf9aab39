/* SPDX-License-Identifier: MIT */
/*
 * config.c - the generic loader for option tables.  (The struct optval
 * view through which custom parsers read a value is optval.c.)
 *
 * A stage describes its options once (struct option: name, type, default,
 * offset into its config struct); this file reads spec nodes into such a
 * struct, so that every stage gets the same checks and the same messages.
 * Every message names the key the user wrote, and the loader goes on after
 * an error so that one run reports every mistake of a file.
 */
#include "pipeline/config.h"
#include "csp/csp.h"
#include "pipeline/spec.h"
#include "base/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the loader --------------------------------------------------------- */

static void *field(const struct option *o, void *conf)
{
	return (char *)conf + o->offset;
}

static int bounded(const struct option *o)
{
	return o->min < o->max;
}

/* Whether the option has no upper bound of its own: the largest integer,
 * or a duration the parser's cap (INT64_MAX / 2) keeps below.  Its range
 * is then written "MIN..". */
static int open_ended(const struct option *o)
{
	return o->max == INT64_MAX || (o->type == OPT_DURATION && o->max >= INT64_MAX / 2);
}

/* The option's range, "1..9", "1ms..1h" or "0..", into lo (hi is scratch). */
static void range_text(const struct option *o, char *lo, size_t lsz, char *hi, size_t hsz)
{
	if (o->type == OPT_DURATION) {
		format_duration(lo, lsz, o->min);
		format_duration(hi, hsz, o->max);
	} else if (o->type == OPT_SIZE) {
		format_size(lo, lsz, (uint64_t)(o->min > 0 ? o->min : 0));
		format_size(hi, hsz, (uint64_t)(o->max > 0 ? o->max : 0));
	} else {
		snprintf(lo, lsz, "%" PRId64, o->min);
		snprintf(hi, hsz, "%" PRId64, o->max);
	}
	if (open_ended(o))
		*hi = 0;
	size_t n = strlen(lo);
	snprintf(lo + n, lsz - n, "..%s", hi);
}

/* "a", "a or b", "a, b or c": the choices of an enum for a message. */
static void choices_text(struct buf *b, const char *const *c, const char *last_sep)
{
	size_t n = 0, i;

	while (c && c[n])
		n++;
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_printf(b, "%s", i + 1 == n ? last_sep : ", ");
		buf_printf(b, "%s", c[i]);
	}
}

/* What a value of this option looks like, for "expected ..." messages. */
static void expected_text(const struct option *o, struct buf *b)
{
	switch (o->type) {
	case OPT_STRING:
		buf_printf(b, "a string");
		break;
	case OPT_INT:
		buf_printf(b, "an integer");
		break;
	case OPT_BOOL:
		buf_printf(b, "true or false");
		break;
	case OPT_DURATION:
		buf_printf(b, "a duration (e.g. 5s)");
		break;
	case OPT_SIZE:
		buf_printf(b, "a size (e.g. 64KiB)");
		break;
	case OPT_ENUM:
		buf_printf(b, "one of ");
		choices_text(b, o->choices, " or ");
		break;
	case OPT_STRLIST:
		buf_printf(b, "a string or a list of strings");
		break;
	case OPT_CHAR:
		buf_printf(b, "a single character");
		break;
	case OPT_TABLE:
		buf_printf(b, "a mapping");
		break;
	case OPT_CUSTOM:
		buf_printf(b, "%s", o->type_name ? o->type_name : "a value");
		break;
	}
}

/*
 * Check that n is a scalar with a value, and one C string (no NUL inside,
 * since every parser below reads C strings).  Returns 0, or -1 after
 * "KEY: expected X, got a mapping" or "KEY: missing value (expected X)".
 * `item` (1-based, 0 for none) names a list item in the message.
 */
static int scalar_check(const struct option *o, const struct node *n,
			size_t item, struct diags *d)
{
	struct buf exp = {0}, key = {0};
	int rc = -1;

	expected_text(o, &exp);
	if (item)
		buf_printf(&key, "%s: item %zu", o->name, item);
	else
		buf_printf(&key, "%s", o->name);
	if (n->type != NODE_SCALAR) {
		diag_add(d, n, "%s: expected %s, got a %s", buf_cstr(&key),
			 item ? "a string" : buf_cstr(&exp), node_type_name(n));
		goto out;
	}
	if (n->is_null) {
		if (o->type == OPT_STRING || item)
			diag_add(d, n, "%s: missing value (expected a string; write "
				 "'' for an empty one)", buf_cstr(&key));
		else
			diag_add(d, n, "%s: missing value (expected %s)",
				 buf_cstr(&key), buf_cstr(&exp));
		goto out;
	}
	if (o->type != OPT_CHAR && strlen(n->str) != n->len) {
		diag_add(d, n, "%s: the value contains a NUL character",
			 buf_cstr(&key));
		goto out;
	}
	rc = 0;
out:
	buf_free(&exp);
	buf_free(&key);
	return rc;
}

static void strlist_clear(struct strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->at);
	l->v = NULL;
	l->at = NULL;
	l->n = 0;
}

/* Read a string or a list of strings; the nodes stay the spec's. */
static int strlist_load(const struct option *o, struct strlist *dst,
			const struct node *n, struct diags *d)
{
	struct strlist l = {0};
	size_t i, count;
	int rc = 0;

	if (n->type == NODE_MAP) {
		diag_add(d, n, "%s: expected a string or a list of strings, got "
			 "a mapping", o->name);
		return -1;
	}
	if (n->type == NODE_SCALAR && scalar_check(o, n, 0, d) < 0)
		return -1;
	count = n->type == NODE_SCALAR ? 1 : n->n;
	l.v = csp_calloc(count, sizeof *l.v);
	l.at = csp_calloc(count, sizeof *l.at);
	for (i = 0; i < count; i++) {
		const struct node *it = n->type == NODE_SCALAR ? n : n->items[i];

		if (n->type == NODE_SEQ && scalar_check(o, it, i + 1, d) < 0) {
			rc = -1;
			continue;
		}
		l.v[l.n] = util_memdup(it->str, it->len);
		l.at[l.n++] = node_pos(it);
	}
	if (rc < 0) {
		strlist_clear(&l);
		return -1;
	}
	strlist_clear(dst);
	*dst = l;
	return 0;
}

/* An integer-like value against the option's bounds, in the option's unit. */
static int range_check(const struct option *o, const struct node *n,
		       int64_t v, uint64_t uv, int is_unsigned, struct diags *d)
{
	char lo[64], hi[64], show[128];

	if (!bounded(o))
		return 0;
	if (is_unsigned ? (o->min >= 0 && uv >= (uint64_t)o->min &&
			   o->max >= 0 && uv <= (uint64_t)o->max)
			: (v >= o->min && v <= o->max))
		return 0;
	range_text(o, lo, sizeof lo, hi, sizeof hi);
	util_show(show, sizeof show, n->str, n->len);
	diag_add(d, n, "%s: %s is out of range %s", o->name, show, lo);
	return -1;
}

static int enum_load(const struct option *o, int *dst, const struct node *n,
		     struct diags *d)
{
	const char *const *c = o->choices;
	const char *hint;
	struct buf b = {0};
	char show[128];
	size_t i, count = 0;

	while (c && c[count])
		count++;
	for (i = 0; i < count; i++)
		if (strcmp(n->str, c[i]) == 0) {
			*dst = (int)i;
			return 0;
		}
	/* A choice named true or false takes every spelling of a boolean
	 * (yes, on, no, off), as a boolean option does. */
	for (i = 0; i < count; i++) {
		int v;
		if ((!strcmp(c[i], "true") || !strcmp(c[i], "false")) &&
		    parse_bool(n->str, &v) == 0 && v == !strcmp(c[i], "true")) {
			*dst = (int)i;
			return 0;
		}
	}
	util_show(show, sizeof show, n->str, n->len);
	choices_text(&b, c, " or ");
	hint = did_you_mean(n->str, c, count);
	if (hint)
		diag_add(d, n, "unknown %s '%s' (expected %s; did you mean '%s'?)",
			 o->name, show, buf_cstr(&b), hint);
	else
		diag_add(d, n, "unknown %s '%s' (expected %s)", o->name, show,
			 buf_cstr(&b));
	buf_free(&b);
	return -1;
}

static int char_load(const struct option *o, int *dst, const struct node *n,
		     struct diags *d)
{
	char show[128];

	if (n->len == 1) {
		*dst = (unsigned char)n->str[0];
		return 0;
	}
	util_show(show, sizeof show, n->str, n->len);
	if (n->len == 2 && n->str[0] == '\\')
		diag_add(d, n, "%s: expected a single character, got '%s' (write "
			 "escapes such as \"\\t\" in double quotes)", o->name, show);
	else
		diag_add(d, n, "%s: expected a single character (one byte), got "
			 "'%s'", o->name, show);
	return -1;
}

static void table_clear(const struct option *opts, void *conf);

/* An option's field emptied, what it owned freed: zero, NULL, an empty
 * list, an empty nested table.  Repeatable. */
static void field_clear(const struct option *o, void *dst)
{
	switch (o->type) {
	case OPT_STRING:
		free(*(char **)dst);
		*(char **)dst = NULL;
		break;
	case OPT_INT:
	case OPT_DURATION:
		*(int64_t *)dst = 0;
		break;
	case OPT_SIZE:
		*(uint64_t *)dst = 0;
		break;
	case OPT_BOOL:
	case OPT_ENUM:
	case OPT_CHAR:
		*(int *)dst = 0;
		break;
	case OPT_STRLIST:
		strlist_clear(dst);
		break;
	case OPT_TABLE:
		table_clear(o->table, dst);
		break;
	case OPT_CUSTOM:
		if (o->free)
			o->free(dst);
		break;
	}
}

/* Every field of a nested table emptied. */
static void table_clear(const struct option *opts, void *conf)
{
	for (const struct option *o = opts; o->name; o++)
		field_clear(o, field(o, conf));
}

/* OPT_TABLE: a mapping of o->table's options into the nested struct. */
static int table_load(const struct option *o, void *dst, const struct node *n,
		      struct diags *d)
{
	table_clear(o->table, dst);
	if (n->type != NODE_MAP) {
		diag_add(d, n, "%s: expected a mapping (e.g. %s), got %s%s", o->name,
			 o->example ? o->example : "{...}",
			 n->is_null ? "nothing" : "a ", n->is_null ? "" : node_type_name(n));
		return -1;
	}
	if (config_load_for(o->table, dst, n, o->name, d) < 0) {
		table_clear(o->table, dst);
		return -1;
	}
	return 0;
}

/*
 * Load one option from node n into conf.  Returns 0, or -1 after a
 * positioned diagnostic that names the option; on error the stored value
 * is left as it was (a custom option's free() has run, though).  A
 * string, list or custom value stored before is freed when replaced.
 */
int config_load_one(const struct option *opt, void *conf, const struct node *n,
		    struct diags *d)
{
	void *dst = field(opt, conf);
	const char *why;
	char show[128];

	if (opt->type == OPT_CUSTOM) {
		if (opt->free)
			opt->free(dst);
		return opt->parse(optval_of(n), dst, d);
	}
	if (opt->type == OPT_TABLE)
		return table_load(opt, dst, n, d);
	if (opt->type == OPT_STRLIST)
		return strlist_load(opt, dst, n, d);
	if (scalar_check(opt, n, 0, d) < 0)
		return -1;
	util_show(show, sizeof show, n->str, n->len);
	switch (opt->type) {
	case OPT_STRING: {
		char **s = dst;

		free(*s);
		*s = util_memdup(n->str, n->len);
		return 0;
	}
	case OPT_INT: {
		int64_t v;

		if (parse_int(n->str, &v, &why) < 0) {
			if (strcmp(why, "integer too large") != 0)
				diag_add(d, n, "%s: expected an integer, got '%s'",
					 opt->name, show);
			else if (bounded(opt))
				diag_add(d, n, "%s: %s is out of range %" PRId64
					 "..%" PRId64, opt->name, show, opt->min,
					 opt->max);
			else
				diag_add(d, n, "%s: %s is too large for an integer",
					 opt->name, show);
			return -1;
		}
		if (range_check(opt, n, v, 0, 0, d) < 0)
			return -1;
		*(int64_t *)dst = v;
		return 0;
	}
	case OPT_BOOL: {
		int v;

		if (parse_bool(n->str, &v) < 0) {
			diag_add(d, n, "%s: expected true or false, got '%s'",
				 opt->name, show);
			return -1;
		}
		*(int *)dst = v;
		return 0;
	}
	case OPT_DURATION: {
		int64_t v;

		if (parse_duration(n->str, &v, &why) < 0) {
			diag_add(d, n, "%s: bad duration '%s': %s", opt->name,
				 show, why);
			return -1;
		}
		if (range_check(opt, n, v, 0, 0, d) < 0)
			return -1;
		*(int64_t *)dst = v;
		return 0;
	}
	case OPT_SIZE: {
		uint64_t v;

		if (parse_size(n->str, &v, &why) < 0) {
			diag_add(d, n, "%s: bad size '%s': %s", opt->name, show, why);
			return -1;
		}
		if (range_check(opt, n, 0, v, 1, d) < 0)
			return -1;
		*(uint64_t *)dst = v;
		return 0;
	}
	case OPT_ENUM:
		return enum_load(opt, dst, n, d);
	case OPT_CHAR:
		return char_load(opt, dst, n, d);
	default:
		break;
	}
	return 0;
}

/*
 * Store an option's default, or its zero value when it has none.  A
 * default is text as the file would write it, read by the same code; one
 * that does not load is a bug in the table: say so and abort.
 */
static void default_store(const struct option *o, void *conf)
{
	void *dst = field(o, conf);
	struct node n;
	struct diags d = {0};

	if (!o->def) {
		field_clear(o, dst);
		return;
	}
	memset(&n, 0, sizeof n);
	n.type = NODE_SCALAR;
	n.file = "option table";
	n.str = (char *)o->def;
	n.len = strlen(o->def);
	if (config_load_one(o, conf, &n, &d) == 0) {
		/* n dies here: a default list item comes from no node */
		if (o->type == OPT_STRLIST) {
			struct strlist *l = dst;
			size_t i;

			for (i = 0; i < l->n; i++)
				l->at[i] = (struct pos){ NULL, 0, 0 };
		}
	} else {
		size_t i;

		for (i = 0; i < d.n; i++)
			fprintf(stderr, "cspipe: internal error: bad default '%s' for "
				"option '%s': %s\n", o->def, o->name, d.msgs[i]);
		diags_free(&d);
		abort();
	}
	diags_free(&d);
}

/*
 * config_load with `what` naming the owner of the options in messages
 * ("unknown option 'patern' for filter"), recording in where[] (when not
 * NULL) the position of each option's value.  Defaults first, then every
 * key of map; every error is reported, the first does not stop the others.
 * Returns 0, or -1 if any error.
 */
int config_load_at(const struct option *opts, void *conf, const struct node *map,
		   const char *what, struct pos *where, struct diags *d)
{
	size_t count = config_count(opts), i;
	const char **names = NULL;
	struct buf known = {0};
	int rc = 0;

	for (i = 0; i < count; i++) {
		default_store(&opts[i], conf);
		if (where)
			where[i] = (struct pos){ NULL, 0, 0 };
	}
	if (!map)
		return 0;
	if (map->type != NODE_MAP) {
		diag_add(d, map, "%s%sexpected a mapping of options, got a %s",
			 what ? what : "", what ? ": " : "", node_type_name(map));
		return -1;
	}
	names = csp_calloc(count, sizeof *names);
	for (i = 0; i < count; i++) {
		names[i] = opts[i].name;
		if (count <= 10)
			buf_printf(&known, "%s%s", i ? ", " : "", opts[i].name);
	}
	for (i = 0; i < map->n; i++) {
		const struct node *k = map->keys[i];
		const struct option *o;
		const char *hint;
		char show[128];

		if (k->type != NODE_SCALAR) {
			/* the spec reported it; a hand-made map may still hold one */
			diag_add(d, k, "an option name must be a string, not a %s",
				 node_type_name(k));
			rc = -1;
			continue;
		}
		o = strlen(k->str) == k->len ? config_find(opts, k->str) : NULL;
		if (o) {
			if (where)
				where[o - opts] = node_pos(map->vals[i]);
			if (config_load_one(o, conf, map->vals[i], d) < 0)
				rc = -1;
			continue;
		}
		util_show(show, sizeof show, k->str, k->len);
		hint = did_you_mean(k->str, names, count);
		if (hint)
			diag_add(d, k, "unknown option '%s'%s%s%s%s%s", show,
				 what ? " for " : "", what ? what : "", DYM_ARGS(hint));
		else if (count && count <= 10)
			diag_add(d, k, "unknown option '%s'%s%s (known options: %s)",
				 show, what ? " for " : "", what ? what : "",
				 buf_cstr(&known));
		else
			diag_add(d, k, "unknown option '%s'%s%s", show,
				 what ? " for " : "", what ? what : "");
		rc = -1;
	}
	for (i = 0; i < count; i++)
		if ((opts[i].flags & OPT_REQUIRED) && !node_get(map, opts[i].name)) {
			diag_add(d, map, "missing required option '%s'%s%s",
				 opts[i].name, what ? " for " : "", what ? what : "");
			rc = -1;
		}
	free(names);
	buf_free(&known);
	return rc;
}

int config_load_for(const struct option *opts, void *conf, const struct node *map,
		    const char *what, struct diags *d)
{
	return config_load_at(opts, conf, map, what, NULL, d);
}

int config_load(const struct option *opts, void *conf, const struct node *map,
		struct diags *d)
{
	return config_load_at(opts, conf, map, NULL, NULL, d);
}

int config_load_table(const struct option *opts, void *conf,
		      const struct optval *table, const char *what,
		      struct pos *where, struct diags *d)
{
	return config_load_at(opts, conf, optval_node(table), what, where, d);
}

/* Free what the options own and leave each field empty; can be repeated. */
void config_free(const struct option *opts, void *conf)
{
	for (const struct option *o = opts; o->name; o++)
		if (o->type == OPT_STRING || o->type == OPT_STRLIST ||
		    o->type == OPT_TABLE || o->type == OPT_CUSTOM)
			field_clear(o, field(o, conf));
}

const struct option *config_find(const struct option *opts, const char *name)
{
	const struct option *o;

	for (o = opts; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

/* The type as `cspipe stages` shows it: "integer 0..9", "one of a, b". */
void config_type_text(const struct option *o, char *out, size_t n)
{
	struct buf b = {0};
	char lo[64], hi[64];

	switch (o->type) {
	case OPT_STRING:
		buf_printf(&b, "string");
		break;
	case OPT_INT:
	case OPT_DURATION:
	case OPT_SIZE:
		buf_printf(&b, "%s", o->type == OPT_INT ? "integer" :
			   o->type == OPT_DURATION ? "duration" : "size");
		if (bounded(o)) {
			range_text(o, lo, sizeof lo, hi, sizeof hi);
			buf_printf(&b, " %s", lo);
		}
		break;
	case OPT_BOOL:
		buf_printf(&b, "boolean");
		break;
	case OPT_ENUM:
		buf_printf(&b, "one of ");
		choices_text(&b, o->choices, ", ");
		break;
	case OPT_STRLIST:
		buf_printf(&b, "string list");
		break;
	case OPT_CHAR:
		buf_printf(&b, "character");
		break;
	case OPT_TABLE:
		buf_printf(&b, "mapping");
		break;
	case OPT_CUSTOM:
		buf_printf(&b, "%s", o->type_name ? o->type_name : "value");
		break;
	}
	snprintf(out, n, "%s", buf_cstr(&b));
	buf_free(&b);
}

size_t config_count(const struct option *opts)
{
	size_t n = 0;

	while (opts[n].name)
		n++;
	return n;
}
