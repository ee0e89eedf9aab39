/* SPDX-License-Identifier: MIT */
/*
 * spec.c - read a pipeline file with libyaml's event parser into a tree of
 * positioned nodes.  One job, the reader, that reads best whole (about 900
 * lines): the events, the anchors, the limits and the placing of libyaml's
 * errors all work on the one loader state.  ${VAR} expansion is expand.c;
 * the tree and its arena, tree.c.
 *
 * Why events and not yaml_parser_load: the document API resolves aliases
 * by sharing too, but gives no hook to bound their expansion before the
 * whole document is in memory, and we want our own error messages.
 *
 * Everything a spec owns comes from one arena (tree.c) that spec_free
 * releases at once: nodes, strings, arrays, file names.  The loader's own bookkeeping
 * (the stack of open collections, the anchor table) is plain malloc and
 * freed when the load ends.
 */
#include "pipeline/spec.h"
#include "csp/csp.h"
#include "pipeline/expand.h"
#include "pipeline/spec_int.h"
#include "base/util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define SPEC_MAX_BYTES ((size_t)16 << 20)   /* "pipeline file too large" */
#define SPEC_MAX_ALIAS_NODES 100000         /* nodes that aliases may add */
#define SPEC_MAX_DEPTH 100                  /* nested lists and mappings */
#define SPEC_MAX_ERRORS 100                 /* then "too many errors" */

/* ---- the loader ---- */

struct anchor {
	char *name;           /* NULL: an empty slot */
	struct node *node;
	uint64_t size;        /* nodes in the subtree, aliases expanded */
	unsigned height;      /* nested collections in it, aliases expanded */
	unsigned gen;         /* which definition of the name */
	int pending;          /* still open: an alias to it would be a cycle */
};

struct frame {
	struct node *node;
	size_t base;          /* its first child in loader.stack */
	uint64_t size;
	unsigned height;      /* of its tallest child */
	const char *anchor;   /* its anchor's name (the table's copy) or NULL */
	unsigned gen;         /* and which definition of it */
};

struct loader {
	struct spec *s;
	struct diags *d;
	const char *file;          /* arena copy: nodes point to it */
	const char *text;
	size_t len;

	struct frame *frames;
	size_t nframes, capframes;
	struct node **stack;       /* children of the open collections */
	size_t nstack, capstack;
	struct anchor *anchors;    /* open addressing, capanchors a power of 2 */
	size_t nanchors, capanchors;
	unsigned gen;
	uint64_t alias_nodes;

	size_t *dup;               /* scratch for duplicate-key checks */
	size_t capdup;
	struct buf out;            /* the expanded text */
	struct expand x;           /* ${VAR} expansion, its errors ours */

	struct node *root;
	int docs;
	int failed;                /* an error was reported; keep going */
	int nerrors;
	size_t first_diag;         /* d->n when the load began */
	struct diag_pos {
		int line, col;
	} *pos;                    /* where each of our diagnostics is */
	size_t cappos;
	int stop;                  /* an error after which nothing is sure */
};

/* Add "FILE:LINE:COL: message" for a 1-based position. */
static void loader_error(struct loader *l, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void loader_verror(struct loader *l, int line, int col, const char *fmt,
			  va_list ap)
	__attribute__((format(printf, 4, 0)));

static void loader_verror(struct loader *l, int line, int col, const char *fmt,
			  va_list ap)
{
	struct buf where = {0};

	l->failed = 1;
	l->pos = util_grow(l->pos, &l->cappos, (size_t)l->nerrors + 1,
			   sizeof *l->pos);
	if (l->nerrors >= SPEC_MAX_ERRORS) {
		/* a generated file with a million duplicate keys: say it once */
		if (l->nerrors == SPEC_MAX_ERRORS) {
			l->pos[l->nerrors].line = INT_MAX;
			l->pos[l->nerrors++].col = INT_MAX;
			diag_addf(l->d, l->file, "too many errors (stopping after "
				  "%d)", SPEC_MAX_ERRORS);
		}
		l->stop = 1;
		return;
	}
	l->pos[l->nerrors].line = line;
	l->pos[l->nerrors++].col = col;
	buf_printf(&where, "%s:%d:%d", l->file, line, col);
	diag_vaddf(l->d, buf_cstr(&where), fmt, ap);
	buf_free(&where);
}

static void loader_error(struct loader *l, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	loader_verror(l, line, col, fmt, ap);
	va_end(ap);
}

static int mark_line(yaml_mark_t m)
{
	/* a file is at most 16 MiB: lines and columns fit an int */
	return (int)m.line + 1;
}

static int mark_col(yaml_mark_t m)
{
	return (int)m.column + 1;
}


static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;   /* FNV-1a */

	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 1099511628211ull;
	}
	return h;
}

/* ---- anchors ---- */

static struct anchor *anchor_find(struct loader *l, const char *name)
{
	size_t mask, i;

	if (!l->capanchors)
		return NULL;
	mask = l->capanchors - 1;
	for (i = hash_bytes(name, strlen(name)) & mask; l->anchors[i].name;
	     i = (i + 1) & mask)
		if (strcmp(l->anchors[i].name, name) == 0)
			return &l->anchors[i];
	return NULL;
}

/*
 * Define (or redefine: YAML lets a later anchor take the name over) the
 * anchor name for node n.  Returns the table's copy of the name and sets
 * the generation, so that a collection's end updates this definition and
 * no later one (slots move when the table grows; names do not).
 */
static const char *anchor_define(struct loader *l, const char *name,
				 struct node *n, int pending, unsigned *gen)
{
	struct anchor *a = anchor_find(l, name);
	size_t mask, i;

	if (!a) {
		if ((l->nanchors + 1) * 2 > l->capanchors) {
			struct anchor *old = l->anchors;
			size_t oldcap = l->capanchors, j;

			l->capanchors = oldcap ? oldcap * 2 : 16;
			l->anchors = csp_calloc(l->capanchors, sizeof *l->anchors);
			for (j = 0; j < oldcap; j++) {
				if (!old[j].name)
					continue;
				mask = l->capanchors - 1;
				for (i = hash_bytes(old[j].name, strlen(old[j].name)) & mask;
				     l->anchors[i].name; i = (i + 1) & mask)
					;
				l->anchors[i] = old[j];
			}
			free(old);
		}
		mask = l->capanchors - 1;
		for (i = hash_bytes(name, strlen(name)) & mask; l->anchors[i].name;
		     i = (i + 1) & mask)
			;
		a = &l->anchors[i];
		a->name = csp_strdup(name);
		l->nanchors++;
	}
	a->node = n;
	a->size = 1;
	a->height = 0;
	a->pending = pending;
	a->gen = ++l->gen;
	*gen = a->gen;
	return a->name;
}

/* ---- building the tree ---- */

/*
 * A node for a scalar event: its text expanded, its position, plain and
 * is_null.  Always returns a node (with the raw text when expansion
 * failed, after a diagnostic) so that parsing goes on to find more errors.
 */
static struct node *scalar_new(struct loader *l, const yaml_event_t *ev)
{
	const char *raw = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	yaml_scalar_style_t style = ev->data.scalar.style;
	struct node *n = node_new(l->s, NODE_SCALAR, l->file,
				  mark_line(ev->start_mark),
				  mark_col(ev->start_mark));
	struct textpos tp = {n->line, n->col, 0};
	int one_line = ev->start_mark.line == ev->end_mark.line;

	n->plain = style == YAML_PLAIN_SCALAR_STYLE;
	n->is_null = n->plain && !ev->data.scalar.tag && text_is_null(raw, len);
	if (!memchr(raw, '$', len)) {
		n->str = arena_memdup(l->s, raw, len);
		n->len = len;
		return n;
	}
	/*
	 * The value's bytes are the source's when a plain scalar sits on one
	 * line, or a quoted one holds no escape (every escape is longer than
	 * what it stands for, so equal lengths mean none).
	 */
	if (one_line && n->plain) {
		tp.exact = 1;
	} else if (one_line && (style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
				style == YAML_DOUBLE_QUOTED_SCALAR_STYLE) &&
		   ev->end_mark.column >= ev->start_mark.column + 2 &&
		   utf8_chars(raw, len) ==
		   ev->end_mark.column - ev->start_mark.column - 2) {
		tp.exact = 1;
		tp.col++;
	}
	l->out.len = 0;
	if (expand_text(&l->x, &tp, raw, 0, len, &l->out, 0) < 0) {
		n->str = arena_memdup(l->s, raw, len);
		n->len = len;
		return n;
	}
	n->str = arena_memdup(l->s, l->out.p ? l->out.p : "", l->out.len);
	n->len = l->out.len;
	return n;
}

/*
 * Add a finished node (size nodes, height levels when expanded) to the
 * open collection, or make it the root.  In a mapping every other child
 * is a key: keys must be scalars, and "<<" merge keys are refused.
 * line/col is where the node appears (an alias's own position).
 */
static void child_add(struct loader *l, struct node *n, uint64_t size,
		      unsigned height, int line, int col)
{
	struct frame *f;

	if (!l->nframes) {
		l->root = n;
		return;
	}
	f = &l->frames[l->nframes - 1];
	if (f->node->type == NODE_MAP && (l->nstack - f->base) % 2 == 0) {
		if (n->type != NODE_SCALAR)
			loader_error(l, line, col, "a mapping key must be a "
				     "string, not a %s", node_type_name(n));
		else if (n->plain && n->len == 2 && memcmp(n->str, "<<", 2) == 0)
			loader_error(l, line, col, "merge keys (<<) are not "
				     "supported");
	}
	l->stack = util_grow(l->stack, &l->capstack, l->nstack + 1,
			     sizeof *l->stack);
	l->stack[l->nstack++] = n;
	f->size += size;
	if (height > f->height)
		f->height = height;
}

/* Open a sequence or mapping.  Returns -1 (stop) when nested too deeply. */
static int collection_start(struct loader *l, const yaml_event_t *ev,
			    enum node_type type, const yaml_char_t *anchor)
{
	struct frame *f;
	struct node *n;

	if (l->nframes >= SPEC_MAX_DEPTH) {
		loader_error(l, mark_line(ev->start_mark),
			     mark_col(ev->start_mark),
			     "nesting too deep (more than %d levels)",
			     SPEC_MAX_DEPTH);
		return -1;
	}
	n = node_new(l->s, type, l->file, mark_line(ev->start_mark),
		     mark_col(ev->start_mark));
	l->frames = util_grow(l->frames, &l->capframes, l->nframes + 1,
			      sizeof *l->frames);
	f = &l->frames[l->nframes++];
	memset(f, 0, sizeof *f);
	f->node = n;
	f->base = l->nstack;
	f->size = 1;
	if (anchor)
		f->anchor = anchor_define(l, (const char *)anchor, n, 1, &f->gen);
	return 0;
}

/* Two keys with the same text: report the later one. */
static void duplicate_report(struct loader *l, const struct node *first,
			     const struct node *again)
{
	char show[128];

	util_show(show, sizeof show, again->str, again->len);
	loader_error(l, again->line, again->col,
		     "duplicate key '%s' (first at %d:%d)", show,
		     first->line, first->col);
}

static int key_equal(const struct node *a, const struct node *b)
{
	return a->type == NODE_SCALAR && b->type == NODE_SCALAR &&
	       a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
}

/*
 * Report duplicate keys of a finished mapping, after expansion (two keys
 * that expand alike are the same key).  Small maps compare pairwise; large
 * ones through a hash table, so that a 10 MB mapping stays linear.
 */
static void duplicates_check(struct loader *l, const struct node *map)
{
	size_t i, j, mask, cap;

	if (map->n <= 16) {
		for (i = 1; i < map->n && !l->stop; i++)
			for (j = 0; j < i; j++)
				if (key_equal(map->keys[j], map->keys[i])) {
					duplicate_report(l, map->keys[j], map->keys[i]);
					break;
				}
		return;
	}
	cap = array_cap(map->n) * 2;
	l->dup = util_grow(l->dup, &l->capdup, cap, sizeof *l->dup);
	for (i = 0; i < cap; i++)
		l->dup[i] = SIZE_MAX;
	mask = cap - 1;
	for (i = 0; i < map->n && !l->stop; i++) {
		const struct node *k = map->keys[i];

		if (k->type != NODE_SCALAR)
			continue;
		for (j = hash_bytes(k->str, k->len) & mask; l->dup[j] != SIZE_MAX;
		     j = (j + 1) & mask)
			if (key_equal(map->keys[l->dup[j]], k))
				break;
		if (l->dup[j] != SIZE_MAX)
			duplicate_report(l, map->keys[l->dup[j]], k);
		else
			l->dup[j] = i;
	}
}

/* Close the innermost collection: give it its children and pass it up. */
static void collection_end(struct loader *l)
{
	struct frame f = l->frames[--l->nframes];
	struct node *n = f.node;
	struct anchor *a;
	size_t count = l->nstack - f.base, i;

	if (n->type == NODE_SEQ) {
		n->n = count;
		n->items = count ? array_new(l->s, l->stack + f.base, count, count)
				 : NULL;
	} else {
		n->n = count / 2;
		n->keys = array_new(l->s, NULL, 0, n->n);
		n->vals = array_new(l->s, NULL, 0, n->n);
		for (i = 0; i < n->n; i++) {
			n->keys[i] = l->stack[f.base + 2 * i];
			n->vals[i] = l->stack[f.base + 2 * i + 1];
		}
		duplicates_check(l, n);
	}
	l->nstack = f.base;
	if (f.anchor && (a = anchor_find(l, f.anchor)) && a->gen == f.gen) {
		a->pending = 0;
		a->size = f.size;
		a->height = f.height + 1;
	}
	child_add(l, n, f.size, f.height + 1, n->line, n->col);
}

/*
 * An alias shares its anchor's node.  The nodes it adds when the document
 * is expanded count against SPEC_MAX_ALIAS_NODES (a billion-laughs file
 * is refused at the alias that tips it over); an alias to an open
 * collection would make a cycle.  Returns -1 to stop loading.
 */
static int alias_add(struct loader *l, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct anchor *a = anchor_find(l, name);
	int line = mark_line(ev->start_mark), col = mark_col(ev->start_mark);
	struct node *stand_in;
	char show[128];

	util_show(show, sizeof show, name, strlen(name));
	if (!a || a->pending) {
		if (!a)
			loader_error(l, line, col, "unknown alias '*%s' (define "
				     "the anchor '&%s' before it)", show, show);
		else
			loader_error(l, line, col, "alias '*%s' refers to a node "
				     "that contains it", show);
		/* a stand-in keeps the structure for later errors */
		stand_in = node_new(l->s, NODE_SCALAR, l->file, line, col);
		stand_in->str = arena_memdup(l->s, "", 0);
		child_add(l, stand_in, 1, 0, line, col);
		return 0;
	}
	if (a->size > SPEC_MAX_ALIAS_NODES - l->alias_nodes) {
		loader_error(l, line, col, "alias expansion too large (more "
			     "than %d nodes)", SPEC_MAX_ALIAS_NODES);
		return -1;
	}
	l->alias_nodes += a->size;
	if (l->nframes + a->height > SPEC_MAX_DEPTH) {
		loader_error(l, line, col, "nesting too deep (more than %d "
			     "levels)", SPEC_MAX_DEPTH);
		return -1;
	}
	child_add(l, a->node, a->size, a->height, line, col);
	return 0;
}

/*
 * The byte at a libyaml mark, or -1 if it cannot be found.  Marks count
 * characters, not bytes, so walk lines then UTF-8 characters.
 */
static int byte_at_mark(const struct loader *l, yaml_mark_t m, size_t *off)
{
	size_t i = 0, line = 0, col = 0;

	while (i < l->len && line < m.line) {
		if (l->text[i] == '\n' ||
		    (l->text[i] == '\r' && (i + 1 >= l->len || l->text[i + 1] != '\n')))
			line++;
		i++;
	}
	while (i < l->len && col < m.column) {
		i++;
		while (i < l->len && ((unsigned char)l->text[i] & 0xc0) == 0x80)
			i++;
		col++;
	}
	if (i >= l->len || line != m.line)
		return -1;
	*off = i;
	return (unsigned char)l->text[i];
}

/*
 * At the end of the stream libyaml moves its mark to a line after the
 * text; a user looks for the error at the end of what they wrote.
 */
static yaml_mark_t end_clamp(const struct loader *l, yaml_mark_t m)
{
	size_t i, line = 0, start = 0;

	for (i = 0; i < l->len; i++)
		if (l->text[i] == '\n') {
			line++;
			start = i + 1;
		}
	if (m.line > line || (m.line == line &&
			      m.column > utf8_chars(l->text + start, l->len - start))) {
		m.line = line;
		m.column = utf8_chars(l->text + start, l->len - start);
	}
	return m;
}

/*
 * Report a libyaml error in words for the user who wrote the file: a tab
 * in indentation, an unterminated string, a value that needs quotes.
 * Otherwise libyaml's problem and, when it adds something, its context.
 */
static void yaml_error(struct loader *l, const yaml_parser_t *p)
{
	yaml_mark_t pm = end_clamp(l, p->problem_mark);
	yaml_mark_t cm = end_clamp(l, p->context_mark);
	int line = mark_line(pm), col = mark_col(pm);
	const char *problem = p->problem ? p->problem : "invalid YAML";
	const char *context = p->context;
	size_t off, i;
	int c;

	if (p->error == YAML_MEMORY_ERROR)
		csp_oom();
	if (p->error == YAML_READER_ERROR) {
		/* reader errors carry a byte offset, not a mark */
		size_t end = p->problem_offset < l->len ? p->problem_offset : l->len;
		size_t start = 0;

		line = 1;
		for (i = 0; i < end; i++)
			if (l->text[i] == '\n') {
				line++;
				start = i + 1;
			}
		col = 1 + (int)utf8_chars(l->text + start, end - start);
		if (p->problem_value >= 0)
			loader_error(l, line, col, "%s (0x%x)", problem,
				     (unsigned)p->problem_value);
		else
			loader_error(l, line, col, "%s", problem);
		return;
	}
	if (strcmp(problem, "found character that cannot start any token") == 0 &&
	    (c = byte_at_mark(l, pm, &off)) >= 0) {
		size_t ls = off;

		while (ls > 0 && l->text[ls - 1] != '\n' && l->text[ls - 1] != '\r')
			ls--;
		for (i = ls; i < off && (l->text[i] == ' ' || l->text[i] == '\t'); i++)
			;
		if (c == '\t' && i == off) {
			loader_error(l, line, col, "tab characters are not allowed "
				     "for indentation (use spaces)");
			return;
		}
		if (c == '\t') {
			loader_error(l, line, col, "a tab character is not allowed "
				     "here (use spaces)");
			return;
		}
		if (c > 0x20 && c < 0x7f) {
			loader_error(l, line, col, "found character '%c' that cannot "
				     "start any token (put the value in quotes)", c);
			return;
		}
	}
	if (strcmp(problem, "found a tab character that violates indentation") == 0 ||
	    strcmp(problem, "found a tab character where an indentation space "
		   "is expected") == 0) {
		loader_error(l, line, col, "tab characters are not allowed for "
			     "indentation (use spaces)");
		return;
	}
	if (strcmp(problem, "found unexpected end of stream") == 0 && context &&
	    strcmp(context, "while scanning a quoted scalar") == 0) {
		loader_error(l, mark_line(cm),
			     mark_col(cm),
			     "unterminated quoted string");
		return;
	}
	if (strcmp(problem, "mapping values are not allowed in this context") == 0) {
		loader_error(l, line, col, "mapping values are not allowed in "
			     "this context (put a value that contains ': ' in "
			     "quotes)");
		return;
	}
	if (context && (strcmp(context, "while scanning an alias") == 0 ||
			strcmp(context, "while scanning an anchor") == 0)) {
		loader_error(l, line, col, "%s (%s at %d:%d; put a value that "
			     "starts with '*' or '&' in quotes)", problem, context,
			     mark_line(cm), mark_col(cm));
		return;
	}
	if (context && byte_at_mark(l, pm, &off) == '{' && off > 0 &&
	    l->text[off - 1] == '$') {
		/* [${DIR}/a.log]: in flow style the braces are YAML's */
		loader_error(l, line, col, "%s (%s at %d:%d; inside [ ] or { }, "
			     "put a value that uses ${...} in quotes)", problem,
			     context, mark_line(cm), mark_col(cm));
		return;
	}
	if (context && (cm.line != pm.line || cm.column != pm.column))
		loader_error(l, line, col, "%s (%s at %d:%d)", problem, context,
			     mark_line(cm), mark_col(cm));
	else
		loader_error(l, line, col, "%s", problem);
}

/*
 * Put this load's diagnostics in file order.  They are found in the order
 * nodes complete (a mapping's duplicate keys when the mapping ends, after
 * the errors inside it); a user reads a file from the top.  Stable, and at
 * most SPEC_MAX_ERRORS + 1 entries: insertion sort.
 */
static void diags_sort(struct loader *l)
{
	size_t n = (size_t)l->nerrors, i, j;
	char **m;

	if (n < 2 || l->d->n - l->first_diag != n)
		return;   /* nothing to do, or someone else added to d */
	m = l->d->msgs + l->first_diag;
	for (i = 1; i < n; i++) {
		struct diag_pos p = l->pos[i];
		char *msg = m[i];

		for (j = i; j > 0 && (l->pos[j - 1].line > p.line ||
				      (l->pos[j - 1].line == p.line &&
				       l->pos[j - 1].col > p.col)); j--) {
			l->pos[j] = l->pos[j - 1];
			m[j] = m[j - 1];
		}
		l->pos[j] = p;
		m[j] = msg;
	}
}

/* What an event's anchor is, whichever kind of event it is. */
static const yaml_char_t *event_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return ev->data.scalar.anchor;
	case YAML_SEQUENCE_START_EVENT:
		return ev->data.sequence_start.anchor;
	case YAML_MAPPING_START_EVENT:
		return ev->data.mapping_start.anchor;
	default:
		return NULL;
	}
}

/*
 * Read l->text into l->root.  Returns 0, or -1 when any error was
 * reported.  Errors in values (duplicate keys, expansion, aliases) let the
 * parse go on so that one run reports them all; a YAML syntax error, a
 * second document, an alias bomb or deep nesting stop it.
 */
static int loader_run(struct loader *l)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int done = 0;

	if (!yaml_parser_initialize(&p))
		csp_oom();
	yaml_parser_set_input_string(&p, (const unsigned char *)l->text, l->len);
	while (!done && !l->stop) {
		struct node *n;
		int line, col;
		unsigned gen;

		if (!yaml_parser_parse(&p, &ev)) {
			yaml_error(l, &p);
			break;
		}
		line = mark_line(ev.start_mark);
		col = mark_col(ev.start_mark);
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++l->docs > 1) {
				loader_error(l, line, col, "only one YAML document "
					     "is allowed");
				l->stop = 1;
			}
			break;
		case YAML_SCALAR_EVENT:
			n = scalar_new(l, &ev);
			if (ev.data.scalar.anchor)
				anchor_define(l, (const char *)ev.data.scalar.anchor,
					      n, 0, &gen);
			child_add(l, n, 1, 0, line, col);
			break;
		case YAML_ALIAS_EVENT:
			if (alias_add(l, &ev) < 0)
				l->stop = 1;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (collection_start(l, &ev, ev.type == YAML_SEQUENCE_START_EVENT
					     ? NODE_SEQ : NODE_MAP, event_anchor(&ev)) < 0)
				l->stop = 1;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			collection_end(l);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	diags_sort(l);
	return l->failed ? -1 : 0;
}

static void loader_free(struct loader *l)
{
	size_t i;

	for (i = 0; i < l->capanchors; i++)
		free(l->anchors[i].name);
	free(l->anchors);
	free(l->frames);
	free(l->stack);
	free(l->dup);
	free(l->pos);
	buf_free(&l->out);
	buf_free(&l->x.name);
}

/* An expansion error is one of the loader's, at a position in the file. */
static void expand_report(void *arg, int line, int col, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void expand_report(void *arg, int line, int col, const char *fmt, va_list ap)
{
	loader_verror(arg, line, col, fmt, ap);
}

static void loader_init(struct loader *l, struct spec *s, struct diags *d,
			const char *file, const char *text, size_t len)
{
	memset(l, 0, sizeof *l);
	l->x.error = expand_report;
	l->x.arg = l;
	l->s = s;
	l->d = d;
	l->file = file;
	l->text = text;
	l->len = len;
	l->first_diag = d->n;
}

/* ---- the public face ---- */

/*
 * Load a pipeline from memory.  Returns a spec (its root NULL for an empty
 * document), or NULL after positioned diagnostics.  text need not be
 * NUL-terminated and is not kept; name is copied.
 */
struct spec *spec_load_string(const char *name, const char *text, size_t len,
			      struct diags *d)
{
	struct spec *s = csp_calloc(1, sizeof *s);
	struct loader l;

	s->file = arena_memdup(s, name, strlen(name));
	if (len > SPEC_MAX_BYTES) {
		diag_addf(d, name, "pipeline file too large (more than %zu MiB)",
			  SPEC_MAX_BYTES >> 20);
		spec_free(s);
		return NULL;
	}
	loader_init(&l, s, d, s->file, text, len);
	if (loader_run(&l) < 0) {
		loader_free(&l);
		spec_free(s);
		return NULL;
	}
	s->root = l.root;
	if (s->root && s->root->type == NODE_SCALAR && s->root->is_null)
		s->root = NULL;
	loader_free(&l);
	return s;
}

/*
 * Load a pipeline file: at most SPEC_MAX_BYTES are read (one more byte
 * tells that the file is too large).  NULL with "PATH: cannot open: ..."
 * and the like when it cannot be read.  "-" reads standard input, named
 * "stdin" in messages.
 */
struct spec *spec_load_file(const char *path, struct diags *d)
{
	struct buf b = {0};
	struct spec *s = NULL;
	int is_stdin = !strcmp(path, "-");
	FILE *f = is_stdin ? stdin : fopen(path, "rb");

	if (!f) {
		diag_addf(d, path, "cannot open: %s", strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t got;

		buf_reserve(&b, 64 * 1024);
		got = fread(b.p + b.len, 1, 64 * 1024, f);
		b.len += got;
		if (got == 0 || b.len > SPEC_MAX_BYTES)
			break;
	}
	if (ferror(f)) {
		diag_addf(d, is_stdin ? "stdin" : path, "cannot read: %s", strerror(errno));
		goto out;
	}
	s = spec_load_string(is_stdin ? "stdin" : path, b.p ? b.p : "", b.len, d);
out:
	if (!is_stdin)
		fclose(f);
	buf_free(&b);
	return s;
}




/*
 * Parse a -s override's VALUE.  A value that starts with '[', '{' or a
 * quote is YAML (a flow list or mapping, a quoted string); anything else
 * is taken as it is, as one plain string, so that *.log, a|b or 'x: y'
 * need no second layer of quoting.  ${VAR} expands either way.  The node
 * and its children belong to s; errors are positioned "WHERE:LINE:COL".
 */
struct node *spec_parse_value(struct spec *s, const char *where,
			      const char *text, struct diags *d)
{
	const char *file = arena_memdup(s, where, strlen(where));
	size_t len = strlen(text), i;
	struct node *n = NULL;
	struct loader l;

	for (i = 0; i < len && text[i] == ' '; i++)
		;
	loader_init(&l, s, d, file, text, len);
	if (i < len && strchr("[{\"'", text[i])) {
		if (loader_run(&l) == 0)
			n = l.root;
		if (!n && !l.failed)
			n = spec_new_scalar(s, where, NULL);
	} else {
		struct textpos tp = {1, 1, 1};

		n = node_new(s, NODE_SCALAR, file, 1, 1);
		n->plain = 1;
		n->is_null = text_is_null(text, len);
		if (expand_text(&l.x, &tp, text, 0, len, &l.out, 0) < 0) {
			n = NULL;
		} else {
			n->str = arena_memdup(s, l.out.p ? l.out.p : "", l.out.len);
			n->len = l.out.len;
		}
	}
	loader_free(&l);
	return n;
}










