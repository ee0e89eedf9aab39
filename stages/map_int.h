/* SPDX-License-Identifier: MIT */
/*
 * map_int.h - the map stage's operations as loaded, shared by map.c (the
 * stage, applying them to records) and map_ops.c (reading them from the
 * file).  Private to those two.
 */
#ifndef CSPIPE_MAP_INT_H
#define CSPIPE_MAP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/config.h"
#include "records/jedit.h"
#include "records/jpath.h"
#include "records/pattern.h"
#include "records/template.h"

enum op_kind { OP_REPLACE, OP_FIELDS, OP_TEMPLATE, OP_CASE, OP_TRIM, OP_PREFIX,
	       OP_SUFFIX, OP_SET, OP_DELETE, OP_RENAME, OP_KEEP, OP_KINDS };


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
	int only_delimited;
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

/* The operations' names, indexed by enum op_kind. */
extern const char *const op_names[];

/* OPT_CUSTOM parse and free of `ops`: one operation or a list of them,
 * into a struct map_ops; every operation's errors are reported. */
int map_ops_parse(const struct optval *v, void *dst, struct diags *d);
void map_ops_free(void *dst);

#endif
