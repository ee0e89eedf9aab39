/* SPDX-License-Identifier: MIT */
/*
 * tree.c - the pipeline file's tree once read: nodes in one arena owned by
 * the spec, the edits the command line makes (spec_new_*, spec_map_set),
 * lookups, and diagnostics positioned at a node.  Reading YAML into it is
 * spec.c's job.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/spec.h"
#include "csp/csp.h"
#include "pipeline/spec_int.h"

enum { BLOCK_SIZE = 256 * 1024 };


/*
 * n bytes from s's arena, aligned to align (a power of two), zeroed.
 * Blocks come zeroed from calloc and are never reused, so nothing is
 * cleared here: a 10 MB file makes a million nodes, and touching their
 * memory twice showed in the profile.  Big requests get a block of their
 * own so that the current block is not wasted.  Cannot fail (aborts on
 * OOM).
 */
void *arena_alloc(struct spec *s, size_t n, size_t align)
{
	struct block *b = s->blocks;
	size_t at;

	if (n > SIZE_MAX / 2)
		csp_oom();
	at = b ? (b->used + align - 1) & ~(align - 1) : 0;
	if (!b || at > b->size || b->size - at < n) {
		size_t size = n > BLOCK_SIZE / 4 ? n : BLOCK_SIZE;
		struct block *nb = csp_calloc(1, sizeof *nb + size);

		nb->size = size;
		if (n > BLOCK_SIZE / 4 && b) {
			/* keep filling the current block: insert behind it */
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			s->blocks = nb;
		}
		b = nb;
		at = 0;
	}
	b->used = at + n;
	return (char *)b->data + at;
}

void *arena_new(struct spec *s, size_t n)
{
	return arena_alloc(s, n, sizeof(max_align_t));
}

char *arena_memdup(struct spec *s, const char *p, size_t len)
{
	char *q;

	if (len == SIZE_MAX)
		csp_oom();
	q = arena_alloc(s, len + 1, 1);
	if (len)
		memcpy(q, p, len);
	q[len] = '\0';
	return q;
}

/*
 * Arrays of children are allocated with a power-of-two capacity, so that
 * spec_seq_append and spec_map_set can tell from n alone whether there is
 * room, without a capacity field in the public struct node.
 */
size_t array_cap(size_t n)
{
	size_t c = 1;

	if (n == 0)
		return 0;
	while (c < n) {
		if (c > SIZE_MAX / 2)
			csp_oom();
		c *= 2;
	}
	return c;
}

/* An array with room for `room` elements, holding from[0..n). */
struct node **array_new(struct spec *s, struct node *const *from,
			       size_t n, size_t room)
{
	size_t cap = array_cap(room);
	struct node **a;

	if (cap == 0)
		return NULL;
	if (cap > SIZE_MAX / sizeof *a)
		csp_oom();
	a = arena_new(s, cap * sizeof *a);
	if (n)
		memcpy(a, from, n * sizeof *a);
	return a;
}

/* Append v to a[0..n), moving the array when it is full. */
struct node **array_push(struct spec *s, struct node **a, size_t n,
				struct node *v)
{
	if (array_cap(n) == n)
		a = array_new(s, a, n, n + 1);
	a[n] = v;
	return a;
}

struct node *node_new(struct spec *s, enum node_type type,
			     const char *file, int line, int col)
{
	struct node *n = arena_new(s, sizeof *n);

	n->type = type;
	n->file = file;
	n->line = line;
	n->col = col;
	return n;
}

int text_is_null(const char *p, size_t len)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	size_t i;

	for (i = 0; i < sizeof nulls / sizeof *nulls; i++)
		if (strlen(nulls[i]) == len && memcmp(nulls[i], p, len) == 0)
			return 1;
	return 0;
}

struct node *spec_root(struct spec *s)
{
	return s ? s->root : NULL;
}

const char *spec_name(const struct spec *s)
{
	return s ? s->file : NULL;
}

void spec_free(struct spec *s)
{
	struct block *b, *next;

	if (!s)
		return;
	for (b = s->blocks; b; b = next) {
		next = b->next;
		free(b);
	}
	free(s);
}

/*
 * Nodes the program makes: position "WHERE" without line (diag_add then
 * writes "WHERE: message").  text NULL makes a null scalar.  Never fail.
 */
struct node *spec_new_scalar(struct spec *s, const char *where, const char *text)
{
	const char *file = where ? arena_memdup(s, where, strlen(where)) : s->file;
	struct node *n = node_new(s, NODE_SCALAR, file, 0, 0);

	if (!text) {
		n->str = arena_memdup(s, "", 0);
		n->plain = 1;
		n->is_null = 1;
		return n;
	}
	n->len = strlen(text);
	n->str = arena_memdup(s, text, n->len);
	return n;
}

struct node *spec_new_map(struct spec *s, const char *where)
{
	const char *file = where ? arena_memdup(s, where, strlen(where)) : s->file;

	return node_new(s, NODE_MAP, file, 0, 0);
}

struct node *spec_new_seq(struct spec *s, const char *where)
{
	const char *file = where ? arena_memdup(s, where, strlen(where)) : s->file;

	return node_new(s, NODE_SEQ, file, 0, 0);
}

/*
 * Set key to val in map: replace the value of an existing key, or append
 * the key (a new scalar positioned where val is, since that is where the
 * user asked for it).  A map reached through an alias is shared: the
 * change shows wherever the alias was used.
 */
void spec_map_set(struct spec *s, struct node *map, const char *key, struct node *val)
{
	size_t len = strlen(key), i;
	struct node *k, **keys;

	if (!map || map->type != NODE_MAP)
		return;
	for (i = 0; i < map->n; i++)
		if (map->keys[i]->type == NODE_SCALAR && map->keys[i]->len == len &&
		    memcmp(map->keys[i]->str, key, len) == 0) {
			map->vals[i] = val;
			return;
		}
	k = node_new(s, NODE_SCALAR, val->file, val->line, val->col);
	k->str = arena_memdup(s, key, len);
	k->len = len;
	keys = array_push(s, map->keys, map->n, k);
	map->vals = array_push(s, map->vals, map->n, val);
	map->keys = keys;
	map->n++;
}

void spec_seq_append(struct spec *s, struct node *seq, struct node *val)
{
	if (!seq || seq->type != NODE_SEQ)
		return;
	seq->items = array_push(s, seq->items, seq->n, val);
	seq->n++;
}

struct node *node_get(const struct node *map, const char *key)
{
	size_t len, i;

	if (!map || map->type != NODE_MAP)
		return NULL;
	len = strlen(key);
	for (i = 0; i < map->n; i++)
		if (map->keys[i]->type == NODE_SCALAR && map->keys[i]->len == len &&
		    memcmp(map->keys[i]->str, key, len) == 0)
			return map->vals[i];
	return NULL;
}

const char *node_type_name(const struct node *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case NODE_SEQ:
		return "list";
	case NODE_MAP:
		return "mapping";
	default:
		return "string";
	}
}

struct pos node_pos(const struct node *n)
{
	struct pos p = { NULL, 0, 0 };

	if (n) {
		p.file = n->file;
		p.line = n->line;
		p.col = n->col;
	}
	return p;
}

void diag_add(struct diags *d, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vat(d, node_pos(n), "", fmt, ap);
	va_end(ap);
}

void diag_warn(struct diags *d, const struct node *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vat(d, node_pos(n), "warning: ", fmt, ap);
	va_end(ap);
	d->warnings++;
}
