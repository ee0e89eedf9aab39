/* SPDX-License-Identifier: MIT */
/*
 * map_ops.c - the map stage's operations read from the pipeline file: a
 * small option table per operation (so unknown keys, types and "did you
 * mean" behave as everywhere else), field lists, and the patterns and
 * templates compiled where they are written.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "map_int.h"

const char *const op_names[] = {
	"replace", "fields", "template", "case", "trim", "prefix", "suffix",
	"set", "delete", "rename", "keep", NULL,
};

/* ---- option tables ------------------------------------------------------ */

static int fields_parse(const struct optval *v, void *dst, struct diags *d);
static void fields_free(void *dst);
static int set_parse(const struct optval *v, void *dst, struct diags *d);
static int rename_parse(const struct optval *v, void *dst, struct diags *d);
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
	{ .name = "only_delimited", .type = OPT_BOOL, .offset = OFF(only_delimited),
	  .def = "false",
	  .doc = "drop records without the delimiter (cut -s); else they pass whole, as cut" },
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

/* Compile the path s (written at `at`) into p: a member path (.a, .a.b),
 * as set, delete, rename and keep take.  Returns 0, or -1 after a
 * diagnostic. */
static int member_path(struct jpath *p, const char *s, size_t len, struct pos at,
		       const char *what, struct diags *d)
{
	char msg[96];
	size_t used = 0, off = 0;

	if (jpath_parse(p, s, len, 1, &used, msg, sizeof msg, &off)) {
		diag_at(d, at, "%s: bad path '%s': %s at column %zu", what, s, msg, off + 1);
		return -1;
	}
	for (size_t i = 0; i < p->n; i++)
		if (!p->steps[i].key)
			goto bad;
	if (p->n == 0)
		goto bad;
	return 0;
bad:
	diag_at(d, at, "%s: '%s' is not a field: %s takes member paths such as .a or .a.b",
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
static int edit_map(const struct optval *v, const char *what, struct diags *d)
{
	if (optval_type(v) != OPTVAL_TABLE || optval_count(v) == 0) {
		diag_at(d, optval_pos(v), "%s: expected a mapping such as {.a: value}, got %s",
			what, optval_type(v) == OPTVAL_TABLE ? "an empty one"
			: optval_type_name(v));
		return -1;
	}
	if (optval_count(v) > JEDIT_MAX) {
		diag_at(d, optval_pos(v), "%s: at most %d fields in one operation", what,
			JEDIT_MAX);
		return -1;
	}
	return 0;
}

/* OPT_CUSTOM parse for `set`: {.path: value, ...}. */
static int set_parse(const struct optval *v, void *dst, struct diags *d)
{
	struct jedits *e = dst;
	char msg[128];
	size_t at = 0;

	memset(e, 0, sizeof *e);
	if (edit_map(v, "set", d))
		return -1;
	for (size_t i = 0; i < optval_count(v); i++) {
		const struct optval *k = optval_key(v, i), *val = optval_value(v, i);
		size_t klen, vlen;
		const char *ks = optval_str(k, &klen), *vs;
		struct jedit *ed = edit_add(e, JE_SET);
		if (member_path(&ed->path, ks, klen, optval_pos(k), "set", d))
			goto fail;
		if (optval_type(val) != OPTVAL_SCALAR) {
			diag_at(d, optval_pos(val), "set: %s: expected a value or a template, "
				"got %s", ks, optval_type_name(val));
			goto fail;
		}
		vs = optval_is_null(val) ? "null" : optval_str(val, &vlen);
		if (optval_is_null(val))
			vlen = 4;
		if (jedit_value(ed, vs, vlen, optval_is_plain(val), msg, sizeof msg, &at)) {
			diag_at(d, optval_pos(val), "set: %s: bad template: %s at offset %zu", ks,
				msg, at);
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
static int rename_parse(const struct optval *v, void *dst, struct diags *d)
{
	struct jedits *e = dst;

	memset(e, 0, sizeof *e);
	if (edit_map(v, "rename", d))
		return -1;
	for (size_t i = 0; i < optval_count(v); i++) {
		const struct optval *k = optval_key(v, i), *val = optval_value(v, i);
		size_t klen, vlen;
		const char *ks = optval_str(k, &klen), *vs;
		struct jpath from, to;
		struct jedit *ed;
		if (optval_type(val) != OPTVAL_SCALAR || optval_is_null(val)) {
			diag_at(d, optval_pos(val), "rename: %s: expected the new path, got %s",
				ks, optval_type(val) == OPTVAL_SCALAR ? "nothing"
				: optval_type_name(val));
			goto fail;
		}
		vs = optval_str(val, &vlen);
		if (member_path(&from, ks, klen, optval_pos(k), "rename", d))
			goto fail;
		if (member_path(&to, vs, vlen, optval_pos(val), "rename", d)) {
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
			diag_at(d, optval_pos(v), "rename: at most %d fields in one operation",
				JEDIT_MAX / 2);
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

/* delete and keep: a list of paths (the option written at `at`) into
 * edits. */
static int edit_list(struct jedits *e, const struct strlist *l, enum op_kind kind,
		     struct pos at, struct diags *d)
{
	const char *what = op_names[kind];

	memset(e, 0, sizeof *e);
	e->keep = kind == OP_KEEP;
	if (l->n == 0 || l->n > JEDIT_MAX) {
		diag_at(d, at, "%s: expected 1 to %d paths, got %zu", what, JEDIT_MAX, l->n);
		return -1;
	}
	for (size_t i = 0; i < l->n; i++) {
		struct pos p = l->at && l->at[i].file ? l->at[i] : at;
		struct jedit *ed = edit_add(e, kind == OP_KEEP ? JE_SET : JE_DELETE);
		if (member_path(&ed->path, l->v[i], strlen(l->v[i]), p, what, d))
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
static int field_edit(struct map_op *op, struct pos at, struct diags *d)
{
	struct jedit *ed;

	if (member_path(&op->field, op->c.field, strlen(op->c.field), at, "field", d))
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
static int fields_scalar(const struct optval *v, struct field_list *fl,
			 size_t *cap, struct diags *d)
{
	size_t len;
	const char *s = optval_str(v, &len), *end = s + len;
	struct pos at = optval_pos(v);
	char show[128];

	if (optval_type(v) != OPTVAL_SCALAR || optval_is_null(v)) {
		diag_at(d, at, "fields: expected a field number or a range, got %s",
			optval_type(v) == OPTVAL_SCALAR ? "nothing" : optval_type_name(v));
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
				diag_at(d, at, "fields: range %s runs backwards", show);
				return -1;
			}
		}
		if (p != iend)
			goto bad;
		if (f.lo == 0) {
			diag_at(d, at, "fields: field numbers start at 1 (-1 is the last)");
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
		diag_at(d, at, "fields: bad field '%s' (expected a number such as 3 "
			 "or -1, or a range such as 2-4 or 5-)", show);
		return -1;
	}
}

/* The list fields_parse fills, and its capacity. */
struct fields_acc {
	struct field_list *fl;
	size_t cap;
};

/* optval_each's step for `fields`: one scalar's selectors into arg. */
static int fields_item(const struct optval *v, size_t index, void *arg, struct diags *d)
{
	struct fields_acc *a = arg;

	(void)index;
	return fields_scalar(v, a->fl, &a->cap, d);
}

/* OPT_CUSTOM parse for `fields`: a scalar ("1,3-5") or a list of them. */
static int fields_parse(const struct optval *v, void *dst, struct diags *d)
{
	struct field_list *fl = dst;
	struct fields_acc acc = { fl, 0 };
	int rc;

	memset(fl, 0, sizeof *fl);
	if (optval_type(v) == OPTVAL_TABLE) {
		diag_at(d, optval_pos(v), "fields: expected a list of field numbers, got "
			"a mapping");
		return -1;
	}
	rc = optval_each(v, fields_item, &acc, d);
	if (rc == 0 && fl->n == 0) {
		diag_at(d, optval_pos(v), "fields: the list is empty");
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

void map_ops_free(void *dst)
{
	struct map_ops *ops = dst;

	for (size_t i = 0; i < ops->n; i++)
		op_clear(&ops->v[i]);
	free(ops->v);
	ops->v = NULL;
	ops->n = 0;
}

/* Compile an operation's pattern (written at key_at) and its template
 * text (at text_at); diagnostics at those positions. */
static int op_compile(struct map_op *op, struct pos key_at, const char *src,
		      struct pos text_at, const char *text, const char *what,
		      struct diags *d)
{
	unsigned flags = (op->c.ignore_case ? PAT_ICASE : 0) |
			 (op->c.fixed ? PAT_FIXED : 0);
	char msg[256];
	size_t off = 0;

	op->pat = pattern_compile(src, strlen(src), flags, msg, sizeof msg, &off);
	if (!op->pat) {
		diag_at(d, key_at, "bad pattern: %s at offset %zu", msg, off);
		return -1;
	}
	op->tmpl = tmpl_compile(text, strlen(text), op->pat, 0, msg, sizeof msg, &off);
	if (!op->tmpl) {
		diag_at(d, text_at, "bad %s: %s at offset %zu", what, msg, off);
		return -1;
	}
	op->tmpl_literal = tmpl_is_literal(op->tmpl);
	return 0;
}

/* Where the operation's mapping wrote option `name` (where: as
 * config_load_table filled it for the operation's table). */
static struct pos op_at(const struct map_op *op, const struct pos *where,
			const char *name)
{
	const struct option *t = op_tables[op->kind];

	return where[config_find(t, name) - t];
}

/*
 * Read one operation from mapping v into op.  Returns 0, or -1 after one
 * or more positioned diagnostics (op is then cleared).
 */
static int op_parse(const struct optval *v, struct map_op *op, struct diags *d)
{
	const struct optval *second = NULL;
	struct pos where[8];
	size_t n = optval_count(v);
	int kind = -1;

	memset(op, 0, sizeof *op);
	if (optval_type(v) != OPTVAL_TABLE) {
		diag_at(d, optval_pos(v), "expected an operation (a mapping such as "
			"{case: upper}), got a %s", optval_type_name(v));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct optval *k = optval_key(v, i);
		for (int j = 0; j < OP_KINDS; j++) {
			if (optval_type(k) != OPTVAL_SCALAR ||
			    strcmp(optval_str(k, NULL), op_names[j]) != 0)
				continue;
			if (kind < 0)
				kind = j;
			else if (!second)
				second = k;
		}
	}
	if (second) {
		diag_at(d, optval_pos(second), "an operation has exactly one of replace, "
			"fields, template, case, trim, prefix, suffix, set, delete, rename and "
			"keep; this one has both "
			"'%s' and '%s' (make it a list: [{...}, {...}])", op_names[kind],
			optval_str(second, NULL));
		return -1;
	}
	if (kind < 0) {
		const char *hint = NULL;
		const struct optval *k = n ? optval_key(v, 0) : v;
		for (size_t i = 0; i < n && !hint; i++)
			if (optval_type(optval_key(v, i)) == OPTVAL_SCALAR) {
				k = optval_key(v, i);
				hint = did_you_mean(optval_str(k, NULL), op_names, OP_KINDS);
			}
		if (hint && k != v)
			diag_at(d, optval_pos(k), "unknown operation '%s'%s%s%s",
				optval_str(k, NULL), DYM_ARGS(hint));
		else
			diag_at(d, optval_pos(k), "an operation needs one of replace, fields, "
				"template, case, trim, prefix, suffix, set, delete, rename or keep");
		return -1;
	}
	op->kind = (enum op_kind)kind;
	if (config_load_table(op_tables[kind], &op->c, v, op_what[kind], where, d) < 0)
		goto fail;
	switch (op->kind) {
	case OP_REPLACE:
		if (op_compile(op, op_at(op, where, "replace"), op->c.replace,
			       op_at(op, where, "with"), op->c.with, "replacement", d) < 0)
			goto fail;
		break;
	case OP_TEMPLATE:
		if (op_compile(op, op_at(op, where, "pattern"), op->c.pattern,
			       op_at(op, where, "template"), op->c.template, "template",
			       d) < 0)
			goto fail;
		break;
	case OP_FIELDS:
		if (op->c.delimiter && !op->c.delimiter[0]) {
			diag_at(d, op_at(op, where, "delimiter"), "delimiter: must not be "
				"empty (leave it out to split on runs of blanks)");
			goto fail;
		}
		if (op->c.only_delimited && !op->c.delimiter) {
			diag_at(d, op_at(op, where, "only_delimited"), "only_delimited: needs "
				"a delimiter (records split on blanks have no missing delimiter)");
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
			      op->kind, op_at(op, where, op_names[op->kind]), d))
			goto fail;
		break;
	default:
		break;
	}
	if (op->c.field && field_edit(op, op_at(op, where, "field"), d))
		goto fail;
	return 0;
fail:
	op_clear(op);
	return -1;
}

/* optval_each's step for `ops`: parse one operation onto the end of arg's
 * array (sized for every item beforehand). */
static int op_item(const struct optval *v, size_t index, void *arg, struct diags *d)
{
	struct map_ops *ops = arg;

	(void)index;
	if (op_parse(v, &ops->v[ops->n], d) < 0)
		return -1;
	ops->n++;
	return 0;
}

/* OPT_CUSTOM parse for `ops`: one operation or a list of them.  Every
 * operation is read, so one run reports all their errors. */
int map_ops_parse(const struct optval *v, void *dst, struct diags *d)
{
	struct map_ops *ops = dst;
	size_t count = optval_type(v) == OPTVAL_LIST ? optval_count(v) : 1;
	int rc;

	ops->v = NULL;
	ops->n = 0;
	/* {ops: [...]}: the option named, as other kinds' mappings do. */
	if (optval_type(v) == OPTVAL_TABLE && optval_count(v) == 1 &&
	    !strcmp(optval_str(optval_key(v, 0), NULL), "ops"))
		return map_ops_parse(optval_value(v, 0), dst, d);
	if (optval_type(v) == OPTVAL_SCALAR) {
		diag_at(d, optval_pos(v), "map: expected an operation (e.g. {replace: "
			"PATTERN, with: TEXT}) or a list of them, got a string");
		return -1;
	}
	if (count == 0) {
		diag_at(d, optval_pos(v), "map: the list of operations is empty");
		return -1;
	}
	ops->v = csp_calloc(count, sizeof *ops->v);
	rc = optval_each(v, op_item, ops, d);
	if (rc < 0)
		map_ops_free(ops);
	return rc;
}
