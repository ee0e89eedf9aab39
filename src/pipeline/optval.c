/* SPDX-License-Identifier: MIT */
/*
 * optval.c - struct optval, a value of the pipeline file as a custom
 * option parser reads it: a node of the tree seen through a narrow window
 * (type, text, items, entries, position), so that stages never see the
 * tree itself.
 */
#include "pipeline/config.h"
#include "pipeline/spec.h"

/* An optval is a node: the type stays incomplete outside this file. */
const struct node *optval_node(const struct optval *v)
{
	return (const struct node *)(const void *)v;
}

static const struct node *N(const struct optval *v)
{
	return optval_node(v);
}

const struct optval *optval_of(const struct node *n)
{
	return (const struct optval *)(const void *)n;
}

enum optval_type optval_type(const struct optval *v)
{
	switch (N(v)->type) {
	case NODE_SEQ:
		return OPTVAL_LIST;
	case NODE_MAP:
		return OPTVAL_TABLE;
	default:
		return OPTVAL_SCALAR;
	}
}

int optval_is_null(const struct optval *v)
{
	return N(v)->type == NODE_SCALAR && N(v)->is_null;
}

int optval_is_plain(const struct optval *v)
{
	return N(v)->type == NODE_SCALAR && N(v)->plain;
}

const char *optval_str(const struct optval *v, size_t *len)
{
	const struct node *n = N(v);

	if (n->type != NODE_SCALAR) {
		if (len)
			*len = 0;
		return "";
	}
	if (len)
		*len = n->len;
	return n->str;
}

size_t optval_len(const struct optval *v)
{
	return N(v)->type == NODE_SCALAR ? N(v)->len : 0;
}

size_t optval_count(const struct optval *v)
{
	return N(v)->type == NODE_SCALAR ? 0 : N(v)->n;
}

const struct optval *optval_item(const struct optval *v, size_t i)
{
	return N(v)->type == NODE_SEQ && i < N(v)->n ? optval_of(N(v)->items[i]) : NULL;
}

const struct optval *optval_key(const struct optval *v, size_t i)
{
	return N(v)->type == NODE_MAP && i < N(v)->n ? optval_of(N(v)->keys[i]) : NULL;
}

const struct optval *optval_value(const struct optval *v, size_t i)
{
	return N(v)->type == NODE_MAP && i < N(v)->n ? optval_of(N(v)->vals[i]) : NULL;
}

const struct optval *optval_get(const struct optval *v, const char *key)
{
	return optval_of(node_get(N(v), key));
}

const char *optval_type_name(const struct optval *v)
{
	return node_type_name(N(v));
}

struct pos optval_pos(const struct optval *v)
{
	return node_pos(N(v));
}

int optval_each(const struct optval *v, optval_item_fn *fn, void *arg, struct diags *d)
{
	int rc = 0;

	if (optval_type(v) != OPTVAL_LIST)
		return fn(v, 0, arg, d) < 0 ? -1 : 0;
	for (size_t i = 0; i < optval_count(v); i++)
		if (fn(optval_item(v, i), i + 1, arg, d) < 0)
			rc = -1;
	return rc;
}
