/* SPDX-License-Identifier: MIT */
/*
 * graph_int.h - what the pipeline loader's three files share: graph.c
 * (building stages from the tree), graph_edit.c (the command line's edits
 * to the tree) and graph_check.c (names, `from`, and the graph checks).
 * Private to those files.
 */
#ifndef CSPIPE_GRAPH_INT_H
#define CSPIPE_GRAPH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/config.h"

struct diags;
struct graph_opts;
struct node;
struct spec;
struct stage_kind;
struct stage_registry;
struct stage;
struct pipeline;
struct shard_key;

/* The keys every stage may have besides its kind. */
struct common {
	char *name;
	struct strlist from;
	int64_t workers;
	int64_t buffer;
	int ordered;
	int64_t timeout;
	struct shard_key *shard;
};

struct name_entry {
	const char *name;
	struct stage *st;
	size_t pos;
};

/* The state of one pipeline_load. */
struct builder {
	struct spec *spec;
	const struct stage_registry *kinds;  /* the kinds a stage may be */
	size_t *kind_counts;             /* graph_count_kinds of the stages list */
	struct name_entry *names;        /* every stage by name, sorted */
	size_t nnames;
	size_t *readers;                 /* readers of (stage id, port) */
	size_t *reader_base;             /* where a stage's ports start in readers */
	struct diags *d;
	struct pipeline *p;
	struct common defaults;
	const struct node *defaults_at[4];
	struct node *implicit_opts;      /* -s options for implicit stages, by name */
	int errors;
};

/* graph_shard.c: OPT_CUSTOM parse and free of shard_by (a struct
 * shard_key * at dst). */
int graph_parse_shard(const struct optval *v, void *dst, struct diags *d);
void graph_free_shard(void *dst);

/* The keys every stage may have besides its kind (name, from, workers...). */
extern const struct option graph_common_opts[];

/* The kind key of a stage map, or NULL; *count is set to how many kind
 * keys it has and *kind to the first one's kind. */
struct node *graph_kind_key(const struct stage_registry *r, const struct node *m,
			    size_t *count, const struct stage_kind **kind);
/* How many stages of each registered kind the list has (indexed as the
 * registry); the caller frees the array. */
size_t *graph_count_kinds(const struct stage_registry *r, const struct node *stages);
/* A stage's default name: its kind when the kind appears once, else
 * kind-N (N its 1-based position); NULL without one kind.  Allocated. */
char *graph_default_name(const struct stage_registry *r, const struct node *stages,
			 size_t i, const size_t *counts);

/* Pass 1, graph_edit.c.  INPUT files replace the source and -o the sink
 * (returns 0, or -1 after a diagnostic when there are several). */
int graph_edit_io(struct spec *s, struct node *stages, const struct graph_opts *o,
		  struct diags *d);
/* -s overrides set into the tree; the options of implicit stages that the
 * file does not name are kept in *implicit.  0, or -1 after diagnostics. */
int graph_apply_overrides(struct spec *s, struct node *root, struct node *stages,
			  const struct graph_opts *o, struct node **implicit,
			  struct diags *d);
/* The command line's INPUT files as the value of a files stage. */
struct node *graph_inputs_node(struct spec *spec, const struct graph_opts *o);
/* -o FILE: "file"; -o -: "stdout". */
const char *graph_output_kind(const char *path);
/* -o's path as the value of the output_kind stage. */
struct node *graph_output_node(struct spec *spec, const char *path);

/* graph.c: append st to the pipeline; make an implicit stage of kind
 * `kind` named `name` from v (NULL: defaults), its errors counted in b. */
void graph_add_stage(struct pipeline *p, struct stage *st);
struct stage *graph_implicit_stage(struct builder *b, const char *kind, const char *name,
				   struct node *v);

/* graph_check.c, pass 4. */
/* Sort the stages by name for graph_find_name (duplicates reported by the
 * caller). */
void graph_index_stages(struct builder *b);
struct stage *graph_find_name(const struct builder *b, const char *name);
/* Count the readers of each (stage, port) for the checks. */
void graph_index_readers(struct builder *b);
/* Resolve every stage's `from` (first_src: the implicit source, or NULL)
 * into inputs and ports; diagnostics for the names that do not resolve. */
void graph_resolve_from(struct builder *b, struct stage *first_src);
/* A source read by decompress leaves its input as it is (no gunzip). */
void graph_raw_for_decompress(struct pipeline *p);
/* The graph checks: cycles, paths from a source and to a sink, readers of
 * every port; adds the implicit sink where one is needed. */
void graph_check(struct builder *b, const struct graph_opts *o);
/* No two stages write one file. */
void graph_check_outputs(struct builder *b);

#endif
