/* SPDX-License-Identifier: MIT */
/*
 * spec_int.h - the spec's arena and node constructors, shared by the YAML
 * reader (spec.c) and the tree (tree.c).  Private to src/pipeline.
 */
#ifndef CSPIPE_SPEC_INT_H
#define CSPIPE_SPEC_INT_H

#include <stddef.h>

#include "pipeline/spec.h"

struct block {
	struct block *next;
	size_t used, size;
	max_align_t data[];
};

struct spec {
	struct block *blocks;
	const char *file;
	struct node *root;
};

/* n bytes from s's arena, aligned to align (a power of two), zeroed; the
 * spec owns them.  Cannot fail (aborts on OOM). */
void *arena_alloc(struct spec *s, size_t n, size_t align);
void *arena_new(struct spec *s, size_t n);                  /* max-aligned */
char *arena_memdup(struct spec *s, const char *p, size_t len);  /* plus a NUL */
/* Arrays of children, with a power-of-two capacity (see tree.c). */
size_t array_cap(size_t n);
struct node **array_new(struct spec *s, struct node *const *from, size_t n,
			size_t room);
struct node **array_push(struct spec *s, struct node **a, size_t n, struct node *v);
struct node *node_new(struct spec *s, enum node_type type, const char *file,
		      int line, int col);
/* "", "~", "null", "Null" or "NULL": a null plain scalar. */
int text_is_null(const char *p, size_t len);

#endif
