/* SPDX-License-Identifier: MIT */
/*
 * map.c - the `map` stage: rewrite every record with a list of operations
 * (replace, fields, template, case, trim, prefix, suffix), applied in
 * order, as sed, awk and cut would.
 *
 * The whole value of `map:` is one custom option, `ops`: one operation (a
 * mapping) or a list of them.  Each operation's own keys are read by the
 * generic loader from a small option table per operation, so that unknown
 * keys, types and "did you mean" behave as everywhere else; its patterns
 * and templates are compiled there too, so `cspipe validate` reports them
 * at their position.
 *
 * Processing writes into new batches of the standard size (several when
 * the records grow), keeping each record's tag, with no allocation per
 * record: each operation reads the current value and writes the next one
 * into one of two per-worker scratch buffers that are reused; case and trim
 * work in place (the input batch is ours to change); a record left alone
 * by every operation is copied as it came.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "records/pattern.h"
#include "pipeline/spec.h"
#include "core/stage.h"
#include "records/template.h"
#include "records/jedit.h"
#include "records/json_doc.h"

enum op_kind { OP_REPLACE, OP_FIELDS, OP_TEMPLATE, OP_CASE, OP_TRIM, OP_PREFIX,
	       OP_SUFFIX, OP_SET, OP_DELETE, OP_RENAME, OP_KEEP, OP_KINDS };

static const char *const op_names[] = {
	"replace", "fields", "template", "case", "trim", "prefix", "suffix",
	"set", "delete", "rename", "keep", NULL,
};

/* One field selector: a field (negative: from the end) or a range. */
struct fsel {
	int64_t lo;           /* 1-based; negative counts from the end */
	int64_t hi;           /* ranges: last field, 0 for "to the end" */
	int range;
};

struct field_list {
	struct fsel *v;
	size_t n;
	int need_all;         /* some selector needs the number of fields */
	int64_t max_pos;      /* else: the highest field used */
};

enum { NOMATCH_KEEP, NOMATCH_DROP, NOMATCH_FAIL };
enum { CASE_UPPER, CASE_LOWER };

/* Every operation's keys, loaded by its own table below. */
struct op_conf {
	char *replace, *with;
	int first, ignore_case, fixed;
	struct field_list fields;
	char *delimiter, *join;
	char *template, *pattern;
	int on_nomatch;
	int which_case;
	int trim;
	char *prefix, *suffix;
	char *field;              /* replace, case: the field they change */
	struct jedits set, rename;
	struct strlist del, keep;
};

struct map_op {
	enum op_kind kind;
	struct op_conf c;
	struct pattern *pat;      /* replace, template */
	struct tmpl *tmpl;        /* replace's with, template's text */
	int tmpl_literal;
	const char *text;         /* prefix / suffix / join / delimiter bytes */
	size_t text_len;
	struct jedits ed;         /* set, delete, rename, keep; with field: one
				     set of the field's new value */
	struct jpath field;       /* replace, case with field */
};

struct map_ops {
	struct map_op *v;
	size_t n;
};

struct map_conf {
	struct map_ops ops;
};

/* ---- option tables ------------------------------------------------------ */

static int fields_parse(const struct node *n, void *dst, struct diags *d);
static void fields_free(void *dst);
static int set_parse(const struct node *n, void *dst, struct diags *d);
static int rename_parse(const struct node *n, void *dst, struct diags *d);
static void edits_free(void *dst);

static const char *const nomatch_names[] = { "keep", "drop", "fail", NULL };
static const char *const case_names[] = { "upper", "lower", NULL };

#define OFF(f) offsetof(struct op_conf, f)

static const struct option replace_opts[] = {
	{ .name = "replace", .type = OPT_STRING, .offset = OFF(replace),
	  .doc = "pattern whose matches are replaced", .flags = OPT_REQUIRED },
	{ .name = "with", .type = OPT_STRING, .offset = OFF(with),
	  .doc = "replacement, with $1, $name, ${name}, $0 and $$", .flags = OPT_REQUIRED },
	{ .name = "first", .type = OPT_BOOL, .offset = OFF(first), .def = "false",
	  .doc = "replace only the first match" },
	{ .name = "ignore_case", .type = OPT_BOOL, .offset = OFF(ignore_case),
	  .def = "false", .doc = "match ASCII letters regardless of case" },
	{ .name = "fixed", .type = OPT_BOOL, .offset = OFF(fixed), .def = "false",
	  .doc = "the pattern is a literal string" },
	{ .name = "field", .type = OPT_STRING, .offset = OFF(field),
	  .doc = "replace in this field's text (a path such as .Content), not the record" },
	{ .name = NULL },
};

static const struct option fields_opts[] = {
	{ .name = "fields", .type = OPT_CUSTOM, .offset = OFF(fields),
	  .doc = "fields to keep, in order: 3, -1, \"2-4\", \"5-\"",
	  .parse = fields_parse, .free = fields_free,
	  .type_name = "list of field numbers", .flags = OPT_REQUIRED },
	{ .name = "delimiter", .type = OPT_STRING, .offset = OFF(delimiter),
	  .doc = "string between fields (default: runs of blanks, as awk)" },
	{ .name = "join", .type = OPT_STRING, .offset = OFF(join), .def = " ",
	  .doc = "string written between the kept fields" },
	{ .name = NULL },
};

static const struct option template_opts[] = {
	{ .name = "template", .type = OPT_STRING, .offset = OFF(template),
	  .doc = "the new record, with the captures of the first match",
	  .flags = OPT_REQUIRED },
	{ .name = "pattern", .type = OPT_STRING, .offset = OFF(pattern),
	  .doc = "pattern whose first match fills the template", .flags = OPT_REQUIRED },
	{ .name = "on_nomatch", .type = OPT_ENUM, .offset = OFF(on_nomatch),
	  .def = "keep", .doc = "a record that does not match: keep it, drop it, or fail",
	  .choices = nomatch_names },
	{ .name = "ignore_case", .type = OPT_BOOL, .offset = OFF(ignore_case),
	  .def = "false", .doc = "match ASCII letters regardless of case" },
	{ .name = "fixed", .type = OPT_BOOL, .offset = OFF(fixed), .def = "false",
	  .doc = "the pattern is a literal string" },
	{ .name = NULL },
};

static const struct option case_opts[] = {
	{ .name = "case", .type = OPT_ENUM, .offset = OFF(which_case),
	  .doc = "ASCII letters to upper or lower case", .choices = case_names,
	  .flags = OPT_REQUIRED },
	{ .name = "field", .type = OPT_STRING, .offset = OFF(field),
	  .doc = "change this field's text (a path such as .Level), not the record" },
	{ .name = NULL },
};

static const struct option trim_opts[] = {
	{ .name = "trim", .type = OPT_BOOL, .offset = OFF(trim),
	  .doc = "strip ASCII white space at both ends", .flags = OPT_REQUIRED },
	{ .name = NULL },
};

static const struct option prefix_opts[] = {
	{ .name = "prefix", .type = OPT_STRING, .offset = OFF(prefix),
	  .doc = "text put before the record", .flags = OPT_REQUIRED },
	{ .name = NULL },
};

static const struct option suffix_opts[] = {
	{ .name = "suffix", .type = OPT_STRING, .offset = OFF(suffix),
	  .doc = "text put after the record", .flags = OPT_REQUIRED },
	{ .name = NULL },
};

static const struct option set_opts[] = {
	{ .name = "set", .type = OPT_CUSTOM, .offset = OFF(set),
	  .doc = "fields to set: {.path: value or template with $.path}",
	  .parse = set_parse, .free = edits_free, .type_name = "mapping of paths to values",
	  .flags = OPT_REQUIRED },
	{ .name = NULL },
};

static const struct option delete_opts[] = {
	{ .name = "delete", .type = OPT_STRLIST, .offset = OFF(del),
	  .doc = "fields to remove (paths)", .flags = OPT_REQUIRED },
	{ .name = NULL },
};

static const struct option rename_opts[] = {
	{ .name = "rename", .type = OPT_CUSTOM, .offset = OFF(rename),
	  .doc = "fields to rename: {.old: .new}",
	  .parse = rename_parse, .free = edits_free, .type_name = "mapping of paths to paths",
	  .flags = OPT_REQUIRED },
	{ .name = NULL },
};

static const struct option keep_opts[] = {
	{ .name = "keep", .type = OPT_STRLIST, .offset = OFF(keep),
	  .doc = "the only fields kept, in this order (paths)", .flags = OPT_REQUIRED },
	{ .name = NULL },
};

#undef OFF

static const struct option *const op_tables[OP_KINDS] = {
	replace_opts, fields_opts, template_opts, case_opts, trim_opts,
	prefix_opts, suffix_opts, set_opts, delete_opts, rename_opts, keep_opts,
};

static const char *const op_what[OP_KINDS] = {
	"a replace operation", "a fields operation", "a template operation",
	"a case operation", "a trim operation", "a prefix operation",
	"a suffix operation", "a set operation", "a delete operation",
	"a rename operation", "a keep operation",
};

/* ---- structured operations --------------------------------------------- */

/* Compile the path s (from node n) into p: a member path (.a, .a.b), as
 * set, delete, rename and keep take.  Returns 0, or -1 after a diagnostic. */
static int member_path(struct jpath *p, const char *s, size_t len, const struct node *n,
		       const char *what, struct diags *d)
{
	char msg[96];
	size_t used = 0, at = 0;

	if (jpath_parse(p, s, len, 1, &used, msg, sizeof msg, &at)) {
		diag_add(d, n, "%s: bad path '%s': %s at column %zu", what, s, msg, at + 1);
		return -1;
	}
	for (size_t i = 0; i < p->n; i++)
		if (!p->steps[i].key)
			goto bad;
	if (p->n == 0)
		goto bad;
	return 0;
bad:
	diag_add(d, n, "%s: '%s' is not a field: %s takes member paths such as .a or .a.b",
		 what, s, what);
	jpath_free(p);
	return -1;
}

static struct jedit *edit_add(struct jedits *e, enum jedit_kind kind)
{
	struct jedit *ed;

	e->v = csp_realloc(e->v, (e->n + 1) * sizeof *e->v);
	ed = &e->v[e->n++];
	memset(ed, 0, sizeof *ed);
	ed->kind = kind;
	return ed;
}

/* A mapping of paths to something, of at most JEDIT_MAX entries. */
static int edit_map(const struct node *n, const char *what, struct diags *d)
{
	if (n->type != NODE_MAP || n->n == 0) {
		diag_add(d, n, "%s: expected a mapping such as {.a: value}, got %s", what,
			 n->type == NODE_MAP ? "an empty one" : node_type_name(n));
		return -1;
	}
	if (n->n > JEDIT_MAX) {
		diag_add(d, n, "%s: at most %d fields in one operation", what, JEDIT_MAX);
		return -1;
	}
	return 0;
}

/* OPT_CUSTOM parse for `set`: {.path: value, ...}. */
static int set_parse(const struct node *n, void *dst, struct diags *d)
{
	struct jedits *e = dst;
	char msg[128];
	size_t at = 0;

	memset(e, 0, sizeof *e);
	if (edit_map(n, "set", d))
		return -1;
	for (size_t i = 0; i < n->n; i++) {
		const struct node *k = n->keys[i], *v = n->vals[i];
		struct jedit *ed = edit_add(e, JE_SET);
		if (member_path(&ed->path, k->str, k->len, k, "set", d))
			goto fail;
		if (v->type != NODE_SCALAR) {
			diag_add(d, v, "set: %s: expected a value or a template, got %s",
				 k->str, node_type_name(v));
			goto fail;
		}
		if (jedit_value(ed, v->is_null ? "null" : v->str, v->is_null ? 4 : v->len,
				v->plain, msg, sizeof msg, &at)) {
			diag_add(d, v, "set: %s: bad template: %s at offset %zu", k->str, msg, at);
			goto fail;
		}
	}
	return 0;
fail:
	jedits_free(e);
	return -1;
}

/* OPT_CUSTOM parse for `rename`: {.old: .new, ...}.  A one-step pair is
 * renamed in place; a longer one becomes a delete and a set. */
static int rename_parse(const struct node *n, void *dst, struct diags *d)
{
	struct jedits *e = dst;

	memset(e, 0, sizeof *e);
	if (edit_map(n, "rename", d))
		return -1;
	for (size_t i = 0; i < n->n; i++) {
		const struct node *k = n->keys[i], *v = n->vals[i];
		struct jpath from, to;
		struct jedit *ed;
		if (v->type != NODE_SCALAR || v->is_null) {
			diag_add(d, v, "rename: %s: expected the new path, got %s", k->str,
				 v->type == NODE_SCALAR ? "nothing" : node_type_name(v));
			goto fail;
		}
		if (member_path(&from, k->str, k->len, k, "rename", d))
			goto fail;
		if (member_path(&to, v->str, v->len, v, "rename", d)) {
			jpath_free(&from);
			goto fail;
		}
		if (from.n == 1 && to.n == 1) {
			ed = edit_add(e, JE_RENAME);
			ed->from = from;
			ed->path = to;
			continue;
		}
		ed = edit_add(e, JE_DELETE);
		ed->path = from;
		ed = edit_add(e, JE_SET);
		ed->path = to;
		ed->src = JS_COPY;
		if (jpath_parse(&ed->from, from.text, strlen(from.text), 1, NULL, NULL, 0, NULL))
			abort();   /* it parsed a moment ago */
		if (e->n > JEDIT_MAX) {
			diag_add(d, n, "rename: at most %d fields in one operation", JEDIT_MAX / 2);
			goto fail;
		}
	}
	return 0;
fail:
	jedits_free(e);
	return -1;
}

static void edits_free(void *dst)
{
	jedits_free(dst);
}

/* delete and keep: a list of paths into edits. */
static int edit_list(struct jedits *e, const struct strlist *l, enum op_kind kind,
		     const struct node *at, struct diags *d)
{
	const char *what = op_names[kind];

	memset(e, 0, sizeof *e);
	e->keep = kind == OP_KEEP;
	if (l->n == 0 || l->n > JEDIT_MAX) {
		diag_add(d, at, "%s: expected 1 to %d paths, got %zu", what, JEDIT_MAX, l->n);
		return -1;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct node *n = l->at && l->at[i] ? l->at[i] : at;
		struct jedit *ed = edit_add(e, kind == OP_KEEP ? JE_SET : JE_DELETE);
		if (member_path(&ed->path, l->v[i], strlen(l->v[i]), n, what, d))
			goto fail;
		if (kind == OP_KEEP) {
			ed->src = JS_COPY;
			if (jpath_parse(&ed->from, l->v[i], strlen(l->v[i]), 1, NULL, NULL, 0, NULL))
				abort();   /* it parsed a moment ago */
		}
	}
	return 0;
fail:
	jedits_free(e);
	return -1;
}

/* replace and case with field: the field's path, and one set of it. */
static int field_edit(struct map_op *op, const struct node *n, struct diags *d)
{
	struct jedit *ed;

	if (member_path(&op->field, op->c.field, strlen(op->c.field), n, "field", d))
		return -1;
	ed = edit_add(&op->ed, JE_SET);
	if (jpath_parse(&ed->path, op->c.field, strlen(op->c.field), 1, NULL, NULL, 0, NULL))
		abort();   /* it parsed a moment ago */
	ed->src = JS_CONST;
	ed->dynamic = 1;
	return 0;
}

/* ---- parsing ------------------------------------------------------------ */

static inline int is_digit(unsigned c)
{
	return c - '0' < 10u;
}

/* Read a decimal number at s (an optional '-' first); 0 on success. */
static int read_num(const char **s, const char *end, int64_t *v)
{
	const char *p = *s;
	int neg = 0;
	int64_t n = 0;

	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	if (p >= end || !is_digit((unsigned char)*p))
		return -1;
	while (p < end && is_digit((unsigned char)*p)) {
		if (n > 100000000)
			return -1;
		n = n * 10 + (*p++ - '0');
	}
	*v = neg ? -n : n;
	*s = p;
	return 0;
}

/* Parse one comma-separated list of selectors from a scalar into fl. */
static int fields_scalar(const struct node *n, struct field_list *fl,
			 size_t *cap, struct diags *d)
{
	const char *s = n->str, *end = n->str + n->len;
	char show[128];

	if (n->type != NODE_SCALAR || n->is_null) {
		diag_add(d, n, "fields: expected a field number or a range, got %s",
			 n->type == NODE_SCALAR ? "nothing" : node_type_name(n));
		return -1;
	}
	for (;;) {
		const char *item = s, *comma = memchr(s, ',', (size_t)(end - s));
		const char *iend = comma ? comma : end;
		struct fsel f = {0, 0, 0};

		while (item < iend && (*item == ' ' || *item == '\t'))
			item++;
		while (iend > item && (iend[-1] == ' ' || iend[-1] == '\t'))
			iend--;
		const char *p = item;
		if (read_num(&p, iend, &f.lo) < 0)
			goto bad;
		if (p < iend && *p == '-' && f.lo > 0) {
			f.range = 1;
			p++;
			if (p < iend && (read_num(&p, iend, &f.hi) < 0 || f.hi <= 0))
				goto bad;
			if (f.hi && f.hi < f.lo) {
				util_show(show, sizeof show, item, (size_t)(iend - item));
				diag_add(d, n, "fields: range %s runs backwards", show);
				return -1;
			}
		}
		if (p != iend)
			goto bad;
		if (f.lo == 0) {
			diag_add(d, n, "fields: field numbers start at 1 (-1 is the last)");
			return -1;
		}
		if (f.lo < 0 || (f.range && f.hi == 0))
			fl->need_all = 1;
		if (f.lo > fl->max_pos)
			fl->max_pos = f.lo;
		if (f.hi > fl->max_pos)
			fl->max_pos = f.hi;
		fl->v = util_grow(fl->v, cap, fl->n + 1, sizeof *fl->v);
		fl->v[fl->n++] = f;
		if (!comma)
			return 0;
		s = comma + 1;
		continue;
bad:
		util_show(show, sizeof show, item, (size_t)(iend - item));
		diag_add(d, n, "fields: bad field '%s' (expected a number such as 3 "
			 "or -1, or a range such as 2-4 or 5-)", show);
		return -1;
	}
}

/* OPT_CUSTOM parse for `fields`: a scalar ("1,3-5") or a list of them. */
static int fields_parse(const struct node *n, void *dst, struct diags *d)
{
	struct field_list *fl = dst;
	size_t cap = 0;
	int rc = 0;

	memset(fl, 0, sizeof *fl);
	if (n->type == NODE_MAP) {
		diag_add(d, n, "fields: expected a list of field numbers, got a mapping");
		return -1;
	}
	if (n->type == NODE_SCALAR)
		rc = fields_scalar(n, fl, &cap, d);
	else
		for (size_t i = 0; i < n->n; i++)
			if (fields_scalar(n->items[i], fl, &cap, d) < 0)
				rc = -1;
	if (rc == 0 && fl->n == 0) {
		diag_add(d, n, "fields: the list is empty");
		rc = -1;
	}
	if (rc < 0)
		fields_free(fl);
	return rc;
}

static void fields_free(void *dst)
{
	struct field_list *fl = dst;

	free(fl->v);
	memset(fl, 0, sizeof *fl);
}

static void op_clear(struct map_op *op)
{
	config_free(op_tables[op->kind], &op->c);
	pattern_free(op->pat);
	tmpl_free(op->tmpl);
	jedits_free(&op->ed);
	jpath_free(&op->field);
	memset(op, 0, sizeof *op);
}

static void ops_free(void *dst)
{
	struct map_ops *ops = dst;

	for (size_t i = 0; i < ops->n; i++)
		op_clear(&ops->v[i]);
	free(ops->v);
	ops->v = NULL;
	ops->n = 0;
}

/* Compile an operation's pattern (key `key`) and its template text (key
 * `tkey`); diagnostics at the values' nodes. */
static int op_compile(struct map_op *op, const struct node *map, const char *key,
		      const char *src, const char *tkey, const char *text,
		      const char *what, struct diags *d)
{
	unsigned flags = (op->c.ignore_case ? PAT_ICASE : 0) |
			 (op->c.fixed ? PAT_FIXED : 0);
	char msg[256];
	size_t off = 0;

	op->pat = pattern_compile(src, strlen(src), flags, msg, sizeof msg, &off);
	if (!op->pat) {
		diag_add(d, node_get(map, key), "bad pattern: %s at offset %zu", msg, off);
		return -1;
	}
	op->tmpl = tmpl_compile(text, strlen(text), op->pat, 0, msg, sizeof msg, &off);
	if (!op->tmpl) {
		diag_add(d, node_get(map, tkey), "bad %s: %s at offset %zu", what, msg, off);
		return -1;
	}
	op->tmpl_literal = tmpl_is_literal(op->tmpl);
	return 0;
}

/*
 * Read one operation from mapping n into op.  Returns 0, or -1 after one
 * or more positioned diagnostics (op is then cleared).
 */
static int op_parse(const struct node *n, struct map_op *op, struct diags *d)
{
	const struct node *second = NULL;
	int kind = -1;

	memset(op, 0, sizeof *op);
	if (n->type != NODE_MAP) {
		diag_add(d, n, "expected an operation (a mapping such as {case: upper}), "
			 "got a %s", node_type_name(n));
		return -1;
	}
	for (size_t i = 0; i < n->n; i++) {
		const struct node *k = n->keys[i];
		for (int j = 0; j < OP_KINDS; j++) {
			if (k->type != NODE_SCALAR || strcmp(k->str, op_names[j]) != 0)
				continue;
			if (kind < 0)
				kind = j;
			else if (!second)
				second = k;
		}
	}
	if (second) {
		diag_add(d, second, "an operation has exactly one of replace, fields, "
			 "template, case, trim, prefix, suffix, set, delete, rename and keep; "
			 "this one has both '%s' "
			 "and '%s' (make it a list: [{...}, {...}])", op_names[kind],
			 second->str);
		return -1;
	}
	if (kind < 0) {
		const char *hint = NULL;
		const struct node *k = n->n ? n->keys[0] : n;
		for (size_t i = 0; i < n->n && !hint; i++)
			if (n->keys[i]->type == NODE_SCALAR) {
				hint = did_you_mean(n->keys[i]->str, op_names, OP_KINDS);
				k = n->keys[i];
			}
		if (hint && k != n)
			diag_add(d, k, "unknown operation '%s' (did you mean '%s'?)",
				 k->str, hint);
		else
			diag_add(d, k, "an operation needs one of replace, fields, template, "
				 "case, trim, prefix, suffix, set, delete, rename or keep");
		return -1;
	}
	op->kind = (enum op_kind)kind;
	if (config_load_for(op_tables[kind], &op->c, n, op_what[kind], d) < 0)
		goto fail;
	switch (op->kind) {
	case OP_REPLACE:
		if (op_compile(op, n, "replace", op->c.replace, "with", op->c.with,
			       "replacement", d) < 0)
			goto fail;
		break;
	case OP_TEMPLATE:
		if (op_compile(op, n, "pattern", op->c.pattern, "template",
			       op->c.template, "template", d) < 0)
			goto fail;
		break;
	case OP_FIELDS:
		if (op->c.delimiter && !op->c.delimiter[0]) {
			diag_add(d, node_get(n, "delimiter"), "delimiter: must not be empty "
				 "(leave it out to split on runs of blanks)");
			goto fail;
		}
		op->text = op->c.join;
		op->text_len = strlen(op->c.join);
		break;
	case OP_PREFIX:
		op->text = op->c.prefix;
		op->text_len = strlen(op->text);
		break;
	case OP_SUFFIX:
		op->text = op->c.suffix;
		op->text_len = strlen(op->text);
		break;
	case OP_SET:
	case OP_RENAME:
		/* The loader's value moves to the operation. */
		op->ed = op->kind == OP_SET ? op->c.set : op->c.rename;
		memset(op->kind == OP_SET ? &op->c.set : &op->c.rename, 0, sizeof op->ed);
		break;
	case OP_DELETE:
	case OP_KEEP:
		if (edit_list(&op->ed, op->kind == OP_KEEP ? &op->c.keep : &op->c.del,
			      op->kind, node_get(n, op_names[op->kind]), d))
			goto fail;
		break;
	default:
		break;
	}
	if (op->c.field && field_edit(op, node_get(n, "field"), d))
		goto fail;
	return 0;
fail:
	op_clear(op);
	return -1;
}

/* OPT_CUSTOM parse for `ops`: one operation or a list of them.  Every
 * operation is read, so one run reports all their errors. */
static int ops_parse(const struct node *n, void *dst, struct diags *d)
{
	struct map_ops *ops = dst;
	size_t count = n->type == NODE_SEQ ? n->n : 1;
	int rc = 0;

	ops->v = NULL;
	ops->n = 0;
	/* {ops: [...]}: the option named, as other kinds' mappings do. */
	if (n->type == NODE_MAP && n->n == 1 && !strcmp(n->keys[0]->str, "ops"))
		return ops_parse(n->vals[0], dst, d);
	if (n->type == NODE_SCALAR) {
		diag_add(d, n, "map: expected an operation (e.g. {replace: PATTERN, "
			 "with: TEXT}) or a list of them, got a string");
		return -1;
	}
	if (count == 0) {
		diag_add(d, n, "map: the list of operations is empty");
		return -1;
	}
	ops->v = csp_calloc(count, sizeof *ops->v);
	for (size_t i = 0; i < count; i++) {
		const struct node *it = n->type == NODE_SEQ ? n->items[i] : n;
		if (op_parse(it, &ops->v[ops->n], d) < 0)
			rc = -1;
		else
			ops->n++;
	}
	if (rc < 0)
		ops_free(ops);
	return rc;
}

static const struct option map_options[] = {
	{ .name = "ops", .type = OPT_CUSTOM, .offset = offsetof(struct map_conf, ops),
	  .doc = "the operations, applied in order to every record",
	  .parse = ops_parse, .free = ops_free,
	  .type_name = "operation or list of operations", .flags = OPT_REQUIRED },
	{ .name = NULL },
};

static int map_check(struct stage *st, struct diags *d)
{
	const struct map_conf *c = st->conf;

	if (c->ops.n == 0) {
		diag_add(d, st->kind_at ? st->kind_at : st->at,
			 "map: needs an operation (e.g. {case: upper}) or a list of them");
		return -1;
	}
	return 0;
}

/* ---- workers ------------------------------------------------------------ */

struct map_worker {
	struct pattern_match **m;     /* per operation; NULL without a pattern */
	struct buf scratch[2];
	uint32_t *fb;                 /* field bounds: start, end pairs */
	size_t fbcap;                 /* in pairs */
	struct jdoc *doc;             /* structured operations */
	struct buf jtmp, jdyn, jtext;
};

static void *map_worker_new(struct stage *st, int index)
{
	const struct map_conf *c = st->conf;
	struct map_worker *mw = csp_calloc(1, sizeof *mw);

	mw->m = csp_calloc(c->ops.n ? c->ops.n : 1, sizeof *mw->m);
	mw->doc = jdoc_new();
	for (size_t i = 0; i < c->ops.n; i++)
		if (c->ops.v[i].pat)
			mw->m[i] = pattern_match_new(c->ops.v[i].pat);
	return mw;
}

static void map_worker_free(struct stage *st, void *state)
{
	const struct map_conf *c = st->conf;
	struct map_worker *mw = state;

	if (!mw)
		return;
	for (size_t i = 0; i < c->ops.n; i++)
		pattern_match_free(mw->m[i]);
	free(mw->m);
	buf_free(&mw->scratch[0]);
	buf_free(&mw->scratch[1]);
	buf_free(&mw->jtmp);
	buf_free(&mw->jdyn);
	buf_free(&mw->jtext);
	jdoc_free(mw->doc);
	free(mw->fb);
	free(mw);
}

/* Results of one operation on one record. */
enum { R_SAME, R_CHANGED, R_DROP, R_ERROR = -1 };

/* Where a record came from, for runtime errors: "app.log: record 12". */
static void rec_where(char *out, size_t n, const struct batch *b, uint32_t i)
{
	const char *origin = b->origin ? b->origin : "input";

	if (b->first_rec)
		snprintf(out, n, "%s: record %" PRIu64, origin,
			 b->first_rec + b->recs[i].tag);
	else
		snprintf(out, n, "%s: a record at byte offset %" PRIu64, origin,
			 b->offset);
}

static void limit_error(struct err *e, const struct batch *b, uint32_t i,
			const struct map_op *op, const struct pattern_match *m)
{
	char where[512];

	rec_where(where, sizeof where, b, i);
	err_set(e, "%s: %s (the %s pattern '%s')", where, pattern_errtext(m),
		op_names[op->kind], pattern_source(op->pat));
}

/*
 * Replace the matches of the pattern in s[0..len) (all, or the first),
 * writing into out.  Empty matches advance as sed's do: after an empty
 * match one byte is copied and the search goes on after it; right after a
 * non-empty match an empty one is not allowed (PCRE2_NOTEMPTY_ATSTART).
 * Returns R_SAME when nothing matched, R_CHANGED, or R_ERROR (limit).
 */
static int op_replace(const struct map_op *op, struct pattern_match *m,
		      const char *s, size_t len, struct buf *out)
{
	size_t start = 0, last = 0;
	unsigned flags = 0;
	int any = 0;

	if (pattern_scan_kind(op->pat) != PAT_SCAN_NONE && !pattern_scan(op->pat, s, len))
		return R_SAME;
	out->len = 0;
	for (;;) {
		int r = pattern_exec_flags(op->pat, m, s, len, start, flags);
		if (r == 0)
			break;
		if (r < 0)
			return R_ERROR;
		const size_t *ov = pattern_ovector(m);
		size_t ms = ov[0], me = ov[1];
		size_t need = (ms - last) + tmpl_size(op->tmpl, ov, 0);
		buf_reserve(out, need);
		memcpy(out->p + out->len, s + last, ms - last);
		out->len += ms - last;
		out->len += tmpl_expand(op->tmpl, out->p + out->len, s, ov, 0);
		last = me;
		any = 1;
		if (op->c.first)
			break;
		if (me == ms) {
			if (me >= len)
				break;
			start = me + 1;
			flags = 0;
		} else {
			start = me;
			flags = PAT_NOTEMPTY_ATSTART;
		}
	}
	if (!any)
		return R_SAME;
	buf_append(out, s + last, len - last);
	return R_CHANGED;
}

static inline int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

/* Record field k as s[a..b) in mw->fb. */
static void push_field(struct map_worker *mw, size_t k, size_t a, size_t b)
{
	if (k == mw->fbcap)
		mw->fb = util_grow(mw->fb, &mw->fbcap, k + 1, 2 * sizeof *mw->fb);
	mw->fb[2 * k] = (uint32_t)a;
	mw->fb[2 * k + 1] = (uint32_t)b;
}

/*
 * Split s[0..len) into fields, up to `want` of them (SIZE_MAX: all), into
 * mw->fb.  Without a delimiter, fields are runs of non-blanks (awk's
 * default: space, tab and newline separate, leading and trailing ones are
 * ignored); with one, every occurrence separates (cut -d, awk -F with a
 * literal), so "a,,b" has an empty second field and "" has one empty field.
 * Returns the number of fields found.
 */
static size_t split_fields(struct map_worker *mw, const struct map_op *op,
			   const char *s, size_t len, size_t want)
{
	size_t nf = 0, i = 0;

	if (!op->c.delimiter) {
		while (nf < want) {
			while (i < len && is_blank((unsigned char)s[i]))
				i++;
			if (i >= len)
				break;
			size_t start = i;
			while (i < len && !is_blank((unsigned char)s[i]))
				i++;
			push_field(mw, nf++, start, i);
		}
		return nf;
	}
	const char *dl = op->c.delimiter;
	size_t dlen = strlen(dl);
	while (nf < want) {
		const char *q = dlen == 1 ? memchr(s + i, dl[0], len - i)
					  : memmem(s + i, len - i, dl, dlen);
		if (!q) {
			push_field(mw, nf++, i, len);
			break;
		}
		push_field(mw, nf++, i, (size_t)(q - s));
		i = (size_t)(q - s) + dlen;
	}
	return nf;
}

/* Append one item, s[0..n), to out, after the join string unless it is
 * the first. */
static void put_item(struct buf *out, const struct map_op *op, int *items,
		     const char *s, size_t n)
{
	buf_reserve(out, op->text_len + n);
	if ((*items)++) {
		memcpy(out->p + out->len, op->text, op->text_len);
		out->len += op->text_len;
	}
	memcpy(out->p + out->len, s, n);
	out->len += n;
}

/* Keep the selected fields of s[0..len), joined, in out.  R_CHANGED. */
static int op_fields(struct map_worker *mw, const struct map_op *op,
		     const char *s, size_t len, struct buf *out)
{
	const struct field_list *fl = &op->c.fields;
	size_t want = fl->need_all ? SIZE_MAX : (size_t)fl->max_pos;
	size_t nf = split_fields(mw, op, s, len, want);
	const uint32_t *fb = mw->fb;
	int items = 0;

	out->len = 0;
	for (size_t i = 0; i < fl->n; i++) {
		const struct fsel *f = &fl->v[i];
		if (f->range) {
			/* As cut: the fields of the range that exist. */
			int64_t hi = f->hi && f->hi < (int64_t)nf ? f->hi : (int64_t)nf;
			for (int64_t k = f->lo - 1; k < hi; k++)
				put_item(out, op, &items, s + fb[2 * k], fb[2 * k + 1] - fb[2 * k]);
			continue;
		}
		int64_t k = f->lo > 0 ? f->lo : (int64_t)nf + f->lo + 1;
		if (k >= 1 && k <= (int64_t)nf)
			put_item(out, op, &items, s + fb[2 * k - 2], fb[2 * k - 1] - fb[2 * k - 2]);
		else
			put_item(out, op, &items, s, 0);  /* missing: empty, as awk */
	}
	return R_CHANGED;
}

/*
 * Flip the case of the ASCII letters from `first` ('a' or 'A') to
 * first + 25, in place, eight bytes at a time: for each byte below 0x80,
 * adding 0x80 - first sets its top bit when it is >= first, adding
 * 0x80 - (first + 26) when it is past the range; no sum carries into the
 * next byte.  Bytes from 0x80 up are left alone.
 */
static void change_case(char *s, size_t n, unsigned char first)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	const uint64_t ge = ones * (uint64_t)(0x80 - first);
	const uint64_t gt = ones * (uint64_t)(0x80 - (first + 26));
	size_t j = 0;

	for (; j + 8 <= n; j += 8) {
		uint64_t x, h;
		memcpy(&x, s + j, 8);
		h = x & ~high;
		x ^= (((h + ge) & ~(h + gt) & ~x & high) >> 2);
		memcpy(s + j, &x, 8);
	}
	for (; j < n; j++) {
		unsigned char c = (unsigned char)s[j];
		if ((unsigned char)(c - first) < 26)
			s[j] = (char)(c ^ 0x20);
	}
}

/* ASCII white space: space, \t, \n, \v, \f, \r. */
static inline int is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* A structured operation on a record that is not a JSON object. */
static void not_object(struct err *e, const struct batch *b, uint32_t i,
		       const struct map_op *op, const char *why)
{
	char where[512];

	rec_where(where, sizeof where, b, i);
	err_set(e, "%s: %s, so %s cannot change it", where, why, op_names[op->kind]);
}

/*
 * Run a structured operation (set, delete, rename, keep, or replace and
 * case on a field) on cur[0..n) (room: bytes readable after it), writing
 * the new record into out.  Returns R_SAME, R_CHANGED, or R_ERROR after
 * err_set (the record is not a JSON object, a pattern's limit).
 */
static int op_structured(struct map_worker *mw, const struct map_op *op,
			 struct pattern_match *m, const char *cur, size_t n, size_t room,
			 struct buf *out, const struct batch *in, uint32_t i, struct err *e)
{
	struct jval root, v;
	char why[160];
	int r;

	if (jdoc_parse(mw->doc, cur, n, room) != 0) {
		snprintf(why, sizeof why, "it is not JSON (%s)", jdoc_error(mw->doc));
		not_object(e, in, i, op, why);
		return R_ERROR;
	}
	jdoc_root(mw->doc, &root);
	if (root.type != JT_OBJECT) {
		not_object(e, in, i, op, "it is not a JSON object");
		return R_ERROR;
	}
	if (op->kind == OP_REPLACE || op->kind == OP_CASE) {
		/* The field's text, changed, is set back as a string. */
		if (!jpath_eval(&op->field, &root, &v) || v.type == JT_NULL)
			return R_SAME;
		mw->jtext.len = 0;
		json_put_text(&mw->jtext, &v);
		if (op->kind == OP_REPLACE) {
			r = op_replace(op, m, mw->jtext.p, mw->jtext.len, &mw->jtmp);
			if (r == R_ERROR) {
				limit_error(e, in, i, op, m);
				return R_ERROR;
			}
			if (r == R_SAME)
				return R_SAME;
			mw->jdyn.len = 0;
			json_put_string(&mw->jdyn, mw->jtmp.p, mw->jtmp.len);
		} else {
			change_case(mw->jtext.p, mw->jtext.len,
				    op->c.which_case == CASE_UPPER ? 'a' : 'A');
			mw->jdyn.len = 0;
			json_put_string(&mw->jdyn, mw->jtext.p, mw->jtext.len);
		}
	}
	jedits_apply(&op->ed, &root, out, &mw->jtmp, &mw->jdyn);
	return R_CHANGED;
}

/*
 * Run every operation on record i of in.  *p and *len hold the record on entry
 * and its new value on return (in a scratch buffer or in place in the
 * input).  Returns R_SAME, R_CHANGED, R_DROP or R_ERROR after err_set.
 */
static int apply_ops(const struct map_conf *c, struct map_worker *mw,
		     const struct batch *in, uint32_t i, char **p, size_t *len,
		     struct err *e)
{
	char *cur = *p;
	size_t n = *len;
	int which = 0, changed = 0;

	for (size_t k = 0; k < c->ops.n; k++) {
		const struct map_op *op = &c->ops.v[k];
		struct buf *out = &mw->scratch[which];
		int r = R_SAME;

		if (op->ed.n) {
			/* Bytes readable after cur: the rest of the input
			 * batch, or none in a scratch buffer. */
			size_t room = cur >= in->data && cur < in->data + in->cap
				? (size_t)(in->data + in->cap - (cur + n)) : 0;
			r = op_structured(mw, op, mw->m[k], cur, n, room, out, in, i, e);
			if (r == R_ERROR)
				return R_ERROR;
			if (r == R_CHANGED) {
				cur = out->p;
				n = out->len;
				which ^= 1;
				changed = 1;
			}
			continue;
		}
		switch (op->kind) {
		case OP_REPLACE:
			r = op_replace(op, mw->m[k], cur, n, out);
			if (r == R_ERROR) {
				limit_error(e, in, i, op, mw->m[k]);
				return R_ERROR;
			}
			break;
		case OP_FIELDS:
			r = op_fields(mw, op, cur, n, out);
			break;
		case OP_TEMPLATE: {
			int m = 1;
			const struct pattern *pat = op->pat;
			if (pattern_scan_kind(pat) != PAT_SCAN_NONE && !pattern_scan(pat, cur, n))
				m = 0;
			if (m)
				m = pattern_exec(pat, mw->m[k], cur, n, 0);
			if (m < 0) {
				limit_error(e, in, i, op, mw->m[k]);
				return R_ERROR;
			}
			if (m == 0) {
				if (op->c.on_nomatch == NOMATCH_KEEP)
					break;
				if (op->c.on_nomatch == NOMATCH_DROP)
					return R_DROP;
				char where[512];
				rec_where(where, sizeof where, in, i);
				err_set(e, "%s: no match for the template pattern '%s' "
					"(on_nomatch: fail)", where, pattern_source(pat));
				return R_ERROR;
			}
			const size_t *ov = pattern_ovector(mw->m[k]);
			out->len = 0;
			buf_reserve(out, tmpl_size(op->tmpl, ov, 0));
			out->len = tmpl_expand(op->tmpl, out->p, cur, ov, 0);
			r = R_CHANGED;
			break;
		}
		case OP_CASE:
			/* In place: cur is the input batch's or a scratch buffer,
			 * both ours. */
			change_case(cur, n, op->c.which_case == CASE_UPPER ? 'a' : 'A');
			changed = 1;
			break;
		case OP_TRIM:
			if (op->c.trim) {
				while (n && is_space((unsigned char)cur[0])) {
					cur++;
					n--;
				}
				while (n && is_space((unsigned char)cur[n - 1]))
					n--;
				changed = 1;
			}
			break;
		case OP_PREFIX:
		case OP_SUFFIX:
			out->len = 0;
			buf_reserve(out, n + op->text_len);
			if (op->kind == OP_PREFIX) {
				memcpy(out->p, op->text, op->text_len);
				memcpy(out->p + op->text_len, cur, n);
			} else {
				memcpy(out->p, cur, n);
				memcpy(out->p + n, op->text, op->text_len);
			}
			out->len = n + op->text_len;
			r = R_CHANGED;
			break;
		default:
			break;
		}
		if (r == R_CHANGED) {
			cur = out->p;
			n = out->len;
			which ^= 1;
			changed = 1;
		}
	}
	*p = cur;
	*len = n;
	return changed ? R_CHANGED : R_SAME;
}

/* A fresh output batch carrying in's provenance. */
static struct batch *out_batch(const struct batch *in)
{
	struct batch *o = batch_new((enum framing)in->framing, 0, 0);

	o->origin = in->origin;
	o->first_rec = in->first_rec;
	o->offset = in->offset;
	return o;
}

/*
 * Map batch in into new batches of the standard size, pushed on out in
 * order.  Takes ownership of in (freed).  Records dropped by a template's
 * on_nomatch are counted as filtered.  Returns STAGE_OK, STAGE_STOP when
 * the output is gone, or STAGE_ERROR after err_set.
 */
static int map_process(struct worker *w, struct batch *in, struct outq *out,
		       struct err *e)
{
	const struct map_conf *c = w->stage->conf;
	struct map_worker *mw = w->state;
	struct batch *o = out_batch(in);
	size_t term = batch_term_len(in);
	uint64_t filtered = 0;
	int rc = STAGE_OK;

	for (uint32_t i = 0; i < in->n; i++) {
		char *p = in->data + in->recs[i].off;
		size_t len = in->recs[i].len;
		int r = apply_ops(c, mw, in, i, &p, &len, e);

		if (r == R_ERROR) {
			rc = STAGE_ERROR;
			break;
		}
		if (r == R_DROP) {
			filtered++;
			continue;
		}
		/* Keep batches at the pooled size: start a new one rather
		 * than grow this one. */
		if (o->n > 0 && (o->len + len + term > o->cap || o->n == o->rcap)) {
			if (outq_push(out, o) != 0) {
				o = NULL;
				rc = STAGE_STOP;
				break;
			}
			o = out_batch(in);
		}
		batch_add(o, p, len, in->recs[i].tag);
	}
	wstat_add(&w->stats->filtered, filtered);
	if (rc == STAGE_OK && o && o->n > 0) {
		if (outq_push(out, o) != 0)
			rc = STAGE_STOP;
		o = NULL;
	}
	batch_free(o);
	batch_free(in);
	return rc;
}

const struct stage_kind kind_map = {
	.name = "map",
	.summary = "rewrite each record: replace, fields, template, case, trim, prefix, suffix; set, delete, rename, keep fields",
	.role = ROLE_TRANSFORM,
	.flags = KIND_SHORTHAND_ANY,
	.options = map_options,
	.conf_size = sizeof(struct map_conf),
	.shorthand = "ops",
	.example = "map: [{replace: '\\d+\\.\\d+\\.\\d+\\.\\d+', with: x.x.x.x}, {case: upper}]",
	.worker_mem = 512 * 1024,
	.check = map_check,
	.worker_new = map_worker_new,
	.worker_free = map_worker_free,
	.process = map_process,
};
