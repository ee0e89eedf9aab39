/* SPDX-License-Identifier: MIT */
/*
 * graph_edit.c - the command line's edits to a pipeline file's tree,
 * before it is built: INPUT files replace the source, -o the sink, and
 * -s STAGE.KEY=VALUE / -s KEY=VALUE set values (pass 1 of graph.c).
 * What they write is positioned as "command line" or "-s ..." so that a
 * later error names the flag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "core/graph.h"
#include "core/graph_int.h"
#include "core/stage.h"
#include "pipeline/spec.h"

static char *stage_name_of(const struct stage_registry *r, const struct node *stages,
			   size_t i, const size_t *counts)
{
	struct node *m = stages->items[i];
	struct node *n = m->type == NODE_MAP ? node_get(m, "name") : NULL;

	if (n && n->type == NODE_SCALAR)
		return csp_strdup(n->str);
	return graph_default_name(r, stages, i, counts);
}

static struct node *find_stage_node(const struct stage_registry *r,
				    const struct node *stages, const char *name)
{
	size_t *counts = graph_count_kinds(r, stages);
	struct node *found = NULL;

	for (size_t i = 0; i < stages->n && !found; i++) {
		char *s = stage_name_of(r, stages, i, counts);
		if (s && strcmp(s, name) == 0)
			found = stages->items[i];
		free(s);
	}
	free(counts);
	return found;
}

/* ---- 1. command-line edits to the tree ------------------------------ */

/* The options a source or sink of another kind keeps when INPUT or -o
 * replaces it (those the new kind has). */
static void copy_options(struct spec *s, struct node *to, const struct node *from,
			 const struct stage_kind *from_kind, const struct stage_kind *kind,
			 const char *skip)
{
	if (!from || from->is_null)
		return;
	if (from->type != NODE_MAP) {
		/* A shorthand (`stdin: nul`) sets the old kind's main option. */
		if (from_kind && from_kind->shorthand && strcmp(from_kind->shorthand, skip) &&
		    config_find(kind->options, from_kind->shorthand))
			spec_map_set(s, to, from_kind->shorthand, (struct node *)from);
		return;
	}
	/* Files given in place of the source are read, not followed: the
	 * pipeline's follow options stay with the files it names. */
	static const char *const not_copied[] = { "follow", "checkpoint",
						  "flush_partial_after", "poll_interval" };
	for (size_t i = 0; i < from->n; i++) {
		const char *key = from->keys[i]->str;
		size_t k = 0;
		while (k < sizeof not_copied / sizeof *not_copied && strcmp(key, not_copied[k]))
			k++;
		if (strcmp(key, skip) && k == sizeof not_copied / sizeof *not_copied &&
		    config_find(kind->options, key))
			spec_map_set(s, to, key, from->vals[i]);
	}
}

/* Replace the kind key of stage map m by `kind: value`, keeping the other
 * keys (name, workers, ...) where they were. */
static void replace_kind(const struct stage_registry *r, struct spec *s, struct node *m,
			 const char *kind, struct node *value)
{
	for (size_t i = 0; i < m->n; i++) {
		if (registry_find(r, m->keys[i]->str)) {
			struct node *key = spec_new_scalar(s, m->keys[i]->file, kind);
			key->line = m->keys[i]->line;
			key->col = m->keys[i]->col;
			m->keys[i] = key;
			m->vals[i] = value;
			return;
		}
	}
	spec_map_set(s, m, kind, value);
}

/* The kind's option map of a stage map (the kind key's value), made a
 * mapping if it was a shorthand scalar or list, so that a key can be set. */
static struct node *kind_options(struct spec *s, struct node *m, const struct stage_kind *k,
				 size_t ki)
{
	struct node *v = m->vals[ki];

	if (v->type == NODE_MAP)
		return v;
	struct node *map = spec_new_map(s, v->file);
	map->line = v->line;
	map->col = v->col;
	if (!v->is_null && k->shorthand)
		spec_map_set(s, map, k->shorthand, v);
	m->vals[ki] = map;
	return map;
}

static size_t kind_index(const struct stage_registry *r, const struct node *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (registry_find(r, m->keys[i]->str))
			return i;
	return m->n;
}

/*
 * INPUT files replace the pipeline's source and -o its sink: the stage
 * keeps its position and its name if it has one (an unnamed one is named
 * after its new kind), its kind becomes files / file, and the
 * options the new kind shares with the old (format, max_record, mode...)
 * are kept.  Without an explicit source or sink, pass 4 makes the implicit
 * one of the right kind.
 */
int graph_edit_io(struct spec *s, struct node *stages, const struct graph_opts *o,
		  struct diags *d)
{
	struct node *src = NULL, *sink = NULL;
	size_t nsrc = 0, nsink = 0;
	int rc = 0;

	for (size_t i = 0; i < stages->n; i++) {
		const struct stage_kind *k;
		size_t cnt;
		if (stages->items[i]->type != NODE_MAP)
			continue;
		graph_kind_key(o->kinds, stages->items[i], &cnt, &k);
		if (!k || cnt != 1)
			continue;
		if (k->role == ROLE_SOURCE) {
			src = stages->items[i];
			nsrc++;
		} else if (k->role == ROLE_SINK) {
			sink = stages->items[i];
			nsink++;
		}
	}
	if (o->ninputs && nsrc > 1) {
		diag_addf(d, "command line", "INPUT files replace the pipeline's source, "
			  "but it has %zu sources", nsrc);
		rc = -1;
	} else if (o->ninputs && nsrc == 1) {
		struct node *v = graph_inputs_node(s, o);
		size_t ki = kind_index(o->kinds, src);

		copy_options(s, v, src->vals[ki], registry_find(o->kinds, src->keys[ki]->str),
			     registry_find(o->kinds, "files"), "paths");
		/* INPUT is literal even where the file's source globs. */
		spec_map_set(s, v, "glob", spec_new_scalar(s, "command line", "false"));
		replace_kind(o->kinds, s, src, "files", v);
	}
	if (o->output && nsink > 1) {
		diag_addf(d, "command line", "-o replaces the pipeline's sink, but it has %zu sinks",
			  nsink);
		rc = -1;
	} else if (o->output && nsink == 1) {
		const char *kind = graph_output_kind(o->output);
		struct node *v = graph_output_node(s, o->output);
		size_t ki = kind_index(o->kinds, sink);

		copy_options(s, v, sink->vals[ki], registry_find(o->kinds, sink->keys[ki]->str),
			     registry_find(o->kinds, kind), "path");
		replace_kind(o->kinds, s, sink, kind, v);
	}
	return rc;
}

/* KEY is neither a common key nor an option of kind k: say so, with the
 * nearest of both. */
static void unknown_key(struct diags *d, const struct node *at, const char *key,
			const struct stage_kind *k)
{
	const char *names[64];
	size_t nn = 0;

	for (size_t j = 0; graph_common_opts[j].name && nn < 64; j++)
		names[nn++] = graph_common_opts[j].name;
	for (size_t j = 0; k->options[j].name && nn < 64; j++)
		names[nn++] = k->options[j].name;
	const char *dym = did_you_mean(key, names, nn);
	if (dym && config_find(graph_common_opts, dym))
		diag_add(d, at, "unknown key '%s'%s%s%s", key, DYM_ARGS(dym));
	else
		diag_add(d, at, "unknown option '%s' for %s%s%s%s", key, k->name,
			 DYM_ARGS(dym));
}

/* The names the implicit stages take: stdin or files before, stdout or
 * file after (their kinds' names). */
static int implicit_name(const char *name)
{
	return !strcmp(name, "stdin") || !strcmp(name, "files") ||
	       !strcmp(name, "stdout") || !strcmp(name, "file");
}

/*
 * -s STAGE.KEY=VALUE sets a common key or one of the kind's options of
 * the named stage; -s KEY=VALUE a top-level key.  VALUE is YAML.  When no
 * stage in the file has the name of an implicit stage, its options are
 * kept in *implicit (stage name -> options) until that stage is made.
 */
int graph_apply_overrides(struct spec *s, struct node *root, struct node *stages,
			  const struct graph_opts *o, struct node **implicit,
			  struct diags *d)
{
	int rc = 0;

	for (size_t i = 0; i < o->noverrides; i++) {
		const struct override *ov = &o->overrides[i];
		char where[256];
		struct node *val, *m;
		size_t ki;

		snprintf(where, sizeof where, "-s %s%s%s", ov->stage ? ov->stage : "",
			 ov->stage ? "." : "", ov->key);
		val = spec_parse_value(s, where, ov->value, d);
		if (!val) {
			rc = -1;
			continue;
		}
		if (!ov->stage && !strcmp(ov->key, "stages")) {
			diag_addf(d, where, "the stages cannot be set with -s: set their "
				  "keys (-s STAGE.KEY=VALUE), or give the pipeline with -e");
			rc = -1;
			continue;
		}
		if (!ov->stage) {
			spec_map_set(s, root, ov->key, val);
			continue;
		}
		m = stages ? find_stage_node(o->kinds, stages, ov->stage) : NULL;
		if (!m && implicit_name(ov->stage)) {
			const struct stage_kind *k = registry_find(o->kinds, ov->stage);
			struct node *opts;
			if (config_find(graph_common_opts, ov->key)) {
				diag_addf(d, where, "'%s' cannot be set on the implicit %s "
					  "stage; name it in the file (- %s: {}) to set it",
					  ov->key, ov->stage, k->name);
				rc = -1;
				continue;
			}
			if (!config_find(k->options, ov->key)) {
				unknown_key(d, val, ov->key, k);
				rc = -1;
				continue;
			}
			if (!*implicit)
				*implicit = spec_new_map(s, "command line");
			opts = node_get(*implicit, ov->stage);
			if (!opts) {
				opts = spec_new_map(s, where);
				spec_map_set(s, *implicit, ov->stage, opts);
			}
			spec_map_set(s, opts, ov->key, val);
			continue;
		}
		if (!m && !strcmp(ov->stage, "defaults")) {
			diag_addf(d, where, "no stage named 'defaults' (defaults is set whole: "
				  "-s 'defaults={%s: VALUE}')", ov->key);
			rc = -1;
			continue;
		}
		if (!m) {
			diag_addf(d, where, "no stage named '%s'", ov->stage);
			rc = -1;
			continue;
		}
		if (config_find(graph_common_opts, ov->key)) {
			spec_map_set(s, m, ov->key, val);
			continue;
		}
		ki = kind_index(o->kinds, m);
		const struct stage_kind *k = ki < m->n ? registry_find(o->kinds, m->keys[ki]->str)
						      : NULL;
		if (!k) {
			spec_map_set(s, m, ov->key, val);  /* reported with the stage */
			continue;
		}
		if (!config_find(k->options, ov->key) &&
		    !((k->flags & KIND_SHORTHAND_ANY) && !strcmp(ov->key, k->shorthand))) {
			/* STAGE.KEY names a common key or one of the kind's
			 * options: suggest from both. */
			unknown_key(d, val, ov->key, k);
			rc = -1;
			continue;
		}
		if (k->flags & KIND_SHORTHAND_ANY) {
			if (strcmp(ov->key, k->shorthand) == 0) {
				m->vals[ki] = val;
				continue;
			}
		}
		spec_map_set(s, kind_options(s, m, k, ki), ov->key, val);
	}
	return rc;
}

/* The command line's INPUT files as the value of a files stage. */
struct node *graph_inputs_node(struct spec *spec, const struct graph_opts *o)
{
	struct node *v = spec_new_map(spec, "command line");
	struct node *paths = spec_new_seq(spec, "command line");

	for (size_t i = 0; i < o->ninputs; i++)
		spec_seq_append(spec, paths, spec_new_scalar(spec, "command line", o->inputs[i]));
	spec_map_set(spec, v, "paths", paths);
	/* The shell has expanded INPUT already: weird[1].log is a name, not
	 * a pattern. */
	spec_map_set(spec, v, "glob", spec_new_scalar(spec, "command line", "false"));
	return v;
}

/* -o FILE as the value of a file stage. */
/* -o FILE: a file sink; -o - standard output, as INPUT - is standard
 * input. */
const char *graph_output_kind(const char *path)
{
	return strcmp(path, "-") ? "file" : "stdout";
}

struct node *graph_output_node(struct spec *spec, const char *path)
{
	struct node *v = spec_new_map(spec, "command line");

	if (strcmp(path, "-"))
		spec_map_set(spec, v, "path", spec_new_scalar(spec, "command line", path));
	return v;
}
