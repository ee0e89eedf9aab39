/* SPDX-License-Identifier: MIT */
/*
 * graph.c - from a pipeline file's tree to validated stages and edges.
 *
 * The work happens in passes over the tree, each adding diagnostics and
 * going on where it can, so that one run reports every error of a file:
 *
 *   1. command-line edits to the tree (INPUT, -o, -s)
 *   2. top-level keys and `defaults`
 *   3. each stage: its kind, common keys, the kind's options, check()
 *   4. names, `from`, implicit stdin/stdout, then the graph checks
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "csp/thread.h"
#include "core/fdio.h"
#include "core/graph.h"
#include "records/pattern.h"
#include "pipeline/spec.h"
#include "core/stage.h"
#include "base/util.h"

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

static int parse_shard(const struct node *n, void *dst, struct diags *d);
static void free_shard(void *dst);
static struct node *inputs_node(struct spec *spec, const struct graph_opts *o);
static const char *output_kind(const char *path);
static struct node *output_node(struct spec *spec, const char *path);

#define MAX_WORKERS 10000
#define MAX_BUFFER 65536

static const struct option common_opts[] = {
	{ .name = "name", .type = OPT_STRING, .offset = offsetof(struct common, name),
	  .doc = "the stage's name (default: its kind, or kind-N when the kind repeats)" },
	{ .name = "from", .type = OPT_STRLIST, .offset = offsetof(struct common, from),
	  .doc = "the stage or stages it reads (default: the stage listed before)" },
	{ .name = "workers", .type = OPT_INT, .offset = offsetof(struct common, workers),
	  .def = "1", .min = 1, .max = MAX_WORKERS,
	  .doc = "threads running the stage" },
	{ .name = "buffer", .type = OPT_INT, .offset = offsetof(struct common, buffer),
	  .def = "16", .min = 0, .max = MAX_BUFFER,
	  .doc = "capacity of the output channel, in batches (0: unbuffered)" },
	{ .name = "ordered", .type = OPT_BOOL, .offset = offsetof(struct common, ordered),
	  .def = "true", .doc = "keep input order across workers" },
	{ .name = "timeout", .type = OPT_DURATION, .offset = offsetof(struct common, timeout),
	  .def = "0s", .doc = "deadline for the stage, from the start of the run" },
	{ .name = "shard_by", .type = OPT_CUSTOM, .offset = offsetof(struct common, shard),
	  .parse = parse_shard, .free = free_shard, .type_name = "{field: N, delimiter: D} or {pattern: P}",
	  .doc = "send records with the same key to the same worker" },
	{ .name = NULL },
};

/* The keys `defaults` may set. */
static const char *const default_keys[] = { "workers", "buffer", "ordered", "timeout" };

static const char *const top_keys[] = { "name", "timeout", "shutdown_timeout",
					"defaults", "stages" };

/* ---- shard_by ------------------------------------------------------- */

static int parse_shard(const struct node *n, void *dst, struct diags *d)
{
	struct shard_key *k;
	struct node *f, *p, *del;
	int rc = -1;

	if (n->type != NODE_MAP) {
		diag_add(d, n, "shard_by: expected a mapping ({field: N} or {pattern: P}), got a %s",
			 node_type_name(n));
		return -1;
	}
	k = csp_calloc(1, sizeof *k);
	f = node_get(n, "field");
	p = node_get(n, "pattern");
	del = node_get(n, "delimiter");
	for (size_t i = 0; i < n->n; i++) {
		static const char *const names[] = { "field", "delimiter", "pattern" };
		const char *key = n->keys[i]->str;
		if (strcmp(key, "field") && strcmp(key, "delimiter") && strcmp(key, "pattern")) {
			const char *dym = did_you_mean(key, names, 3);
			diag_add(d, n->keys[i], "shard_by: unknown key '%s'%s%s%s", key,
				 dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
			goto out;
		}
	}
	if (!!f == !!p) {
		diag_add(d, n, "shard_by: give exactly one of 'field' and 'pattern'");
		goto out;
	}
	if (f) {
		int64_t v;
		const char *why;
		if (f->type != NODE_SCALAR || parse_int(f->str, &v, &why) || v < 1 || v > 1000000) {
			diag_add(d, f, "shard_by: field: expected a field number from 1, got '%s'",
				 f->type == NODE_SCALAR ? f->str : node_type_name(f));
			goto out;
		}
		k->field = (int)v;
		if (del) {
			if (del->type != NODE_SCALAR || del->len == 0) {
				diag_add(d, del, "shard_by: delimiter: expected a non-empty string");
				goto out;
			}
			k->delimiter = csp_strdup(del->str);
		}
	} else {
		char msg[256];
		size_t off = 0;
		if (del) {
			diag_add(d, del, "shard_by: delimiter goes with field, not pattern");
			goto out;
		}
		if (p->type != NODE_SCALAR) {
			diag_add(d, p, "shard_by: pattern: expected a string");
			goto out;
		}
		k->pattern = pattern_compile(p->str, p->len, 0, msg, sizeof msg, &off);
		if (!k->pattern) {
			diag_add(d, p, "shard_by: bad pattern: %s at offset %zu", msg, off);
			goto out;
		}
	}
	*(struct shard_key **)dst = k;
	k = NULL;
	rc = 0;
out:
	free_shard(&k);
	return rc;
}

static void free_shard(void *dst)
{
	struct shard_key *k = *(struct shard_key **)dst;

	if (!k)
		return;
	free(k->delimiter);
	pattern_free(k->pattern);
	free(k);
	*(struct shard_key **)dst = NULL;
}

/* ---- helpers -------------------------------------------------------- */

static int valid_name(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

/* The kind key of a stage map, or NULL; *count is set to how many kind
 * keys it has. */
static struct node *stage_kind_key(const struct node *m, size_t *count,
				   const struct stage_kind **kind)
{
	struct node *key = NULL;

	*count = 0;
	*kind = NULL;
	for (size_t i = 0; i < m->n; i++) {
		const struct stage_kind *k = stage_find(m->keys[i]->str);
		if (k) {
			if (!key) {
				key = m->keys[i];
				*kind = k;
			}
			(*count)++;
		}
	}
	return key;
}

/* How many stages of each registered kind the list has (indexed as
 * stage_kinds), so that default names cost no second pass. */
static size_t *count_kinds(const struct node *stages)
{
	size_t *counts = csp_calloc(stage_kind_count() + 1, sizeof *counts);

	for (size_t j = 0; j < stages->n; j++) {
		const struct stage_kind *k;
		size_t cnt;
		if (stages->items[j]->type != NODE_MAP)
			continue;
		stage_kind_key(stages->items[j], &cnt, &k);
		for (size_t x = 0; k && stage_kinds[x]; x++)
			if (stage_kinds[x] == k)
				counts[x]++;
	}
	return counts;
}

/* Default names: the kind when it appears once, else kind-N with N the
 * stage's position in the list (1-based). */
static char *default_name(const struct node *stages, size_t i, const size_t *counts)
{
	const struct stage_kind *k;
	size_t cnt, x;
	char buf[128];

	if (stages->items[i]->type != NODE_MAP)
		return NULL;
	stage_kind_key(stages->items[i], &cnt, &k);
	if (!k)
		return NULL;
	for (x = 0; stage_kinds[x] != k; x++)
		;
	if (counts[x] <= 1)
		return csp_strdup(k->name);
	snprintf(buf, sizeof buf, "%s-%zu", k->name, i + 1);
	return csp_strdup(buf);
}

static char *stage_name_of(const struct node *stages, size_t i, const size_t *counts)
{
	struct node *m = stages->items[i];
	struct node *n = m->type == NODE_MAP ? node_get(m, "name") : NULL;

	if (n && n->type == NODE_SCALAR)
		return csp_strdup(n->str);
	return default_name(stages, i, counts);
}

static struct node *find_stage_node(const struct node *stages, const char *name)
{
	size_t *counts = count_kinds(stages);
	struct node *found = NULL;

	for (size_t i = 0; i < stages->n && !found; i++) {
		char *s = stage_name_of(stages, i, counts);
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
	for (size_t i = 0; i < from->n; i++) {
		const char *key = from->keys[i]->str;
		if (strcmp(key, skip) && config_find(kind->options, key))
			spec_map_set(s, to, key, from->vals[i]);
	}
}

/* Replace the kind key of stage map m by `kind: value`, keeping the other
 * keys (name, workers, ...) where they were. */
static void replace_kind(struct spec *s, struct node *m, const char *kind, struct node *value)
{
	for (size_t i = 0; i < m->n; i++) {
		if (stage_find(m->keys[i]->str)) {
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

static size_t kind_index(const struct node *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (stage_find(m->keys[i]->str))
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
static int edit_io(struct spec *s, struct node *stages, const struct graph_opts *o,
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
		stage_kind_key(stages->items[i], &cnt, &k);
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
		struct node *v = inputs_node(s, o);
		size_t ki = kind_index(src);

		copy_options(s, v, src->vals[ki], stage_find(src->keys[ki]->str),
			     stage_find("files"), "paths");
		replace_kind(s, src, "files", v);
	}
	if (o->output && nsink > 1) {
		diag_addf(d, "command line", "-o replaces the pipeline's sink, but it has %zu sinks",
			  nsink);
		rc = -1;
	} else if (o->output && nsink == 1) {
		const char *kind = output_kind(o->output);
		struct node *v = output_node(s, o->output);
		size_t ki = kind_index(sink);

		copy_options(s, v, sink->vals[ki], stage_find(sink->keys[ki]->str),
			     stage_find(kind), "path");
		replace_kind(s, sink, kind, v);
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

	for (size_t j = 0; common_opts[j].name && nn < 64; j++)
		names[nn++] = common_opts[j].name;
	for (size_t j = 0; k->options[j].name && nn < 64; j++)
		names[nn++] = k->options[j].name;
	const char *dym = did_you_mean(key, names, nn);
	if (dym && config_find(common_opts, dym))
		diag_add(d, at, "unknown key '%s' (did you mean '%s'?)", key, dym);
	else
		diag_add(d, at, "unknown option '%s' for %s%s%s%s", key, k->name,
			 dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
}

/* A stage key that names another tool or another project's stage: how
 * cspipe says it, or NULL.  Users of grep, sed, gzip and cut reach for
 * those names first, and a spelling distance cannot find filter from
 * grep. */
static const char *peer_hint(const char *key)
{
	static const struct {
		const char *peer, *hint;
	} peers[] = {
		{ "grep", "filter: PATTERN" },
		{ "egrep", "filter: PATTERN" },
		{ "rg", "filter: PATTERN" },
		{ "match", "filter: PATTERN" },
		{ "sed", "map: {replace: PATTERN, with: TEXT}" },
		{ "replace", "map: {replace: PATTERN, with: TEXT}" },
		{ "substitute", "map: {replace: PATTERN, with: TEXT}" },
		{ "tr", "map: {case: upper}" },
		{ "cut", "map: {fields: LIST, delimiter: D}" },
		{ "awk", "map: {fields: LIST}" },
		{ "fields", "map: {fields: LIST}" },
		{ "template", "map: {template: TEXT, pattern: PATTERN}" },
		{ "gzip", "compress: gzip" },
		{ "pigz", "compress: gzip" },
		{ "zstd", "compress: zstd" },
		{ "gunzip", "decompress: gzip" },
		{ "zcat", "decompress: auto" },
		{ "unzstd", "decompress: zstd" },
		{ "zstdcat", "decompress: zstd" },
		{ "xz", "decompress: xz" },
		{ "unxz", "decompress: xz" },
		{ "xzcat", "decompress: xz" },
		{ "bzip2", "decompress: bzip2" },
		{ "bunzip2", "decompress: bzip2" },
		{ "bzcat", "decompress: bzip2" },
		{ "cat", "files: [PATH]" },
		{ "input", "files: [PATH]" },
		{ "output", "file: PATH" },
		{ "parallel", "exec: [COMMAND]" },
		{ "xargs", "exec: [COMMAND]" },
		{ "throttle", "rate: 1000/s" },
		{ "limit", "head: N" },
		{ "switch", "route: {cases: {NAME: PATTERN}}" },
	};

	for (size_t i = 0; i < sizeof peers / sizeof *peers; i++)
		if (!strcmp(key, peers[i].peer))
			return peers[i].hint;
	return NULL;
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
static int apply_overrides(struct spec *s, struct node *root, struct node *stages,
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
		m = stages ? find_stage_node(stages, ov->stage) : NULL;
		if (!m && implicit_name(ov->stage)) {
			const struct stage_kind *k = stage_find(ov->stage);
			struct node *opts;
			if (config_find(common_opts, ov->key)) {
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
		if (!m) {
			diag_addf(d, where, "no stage named '%s'", ov->stage);
			rc = -1;
			continue;
		}
		if (config_find(common_opts, ov->key)) {
			spec_map_set(s, m, ov->key, val);
			continue;
		}
		ki = kind_index(m);
		const struct stage_kind *k = ki < m->n ? stage_find(m->keys[ki]->str) : NULL;
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

/* ---- 2.-4. building ------------------------------------------------- */

struct name_entry {
	const char *name;
	struct stage *st;
	size_t pos;
};

struct builder {
	struct spec *spec;
	size_t *kind_counts;             /* count_kinds of the stages list */
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

static void stage_free(struct stage *st)
{
	if (!st)
		return;
	if (st->kind && st->kind->free && st->priv)
		st->kind->free(st);
	if (st->kind && st->conf) {
		config_free(st->kind->options, st->conf);
		free(st->conf);
	}
	free_shard(&st->shard);
	free(st->name);
	for (size_t i = 0; i < st->nfrom; i++)
		free(st->from[i]);
	free(st->from);
	free(st->from_at);
	for (size_t i = 0; i < st->nports; i++)
		free(st->ports[i]);
	free(st->ports);
	free(st->inputs);
	free(st->input_ports);
	free(st);
}

void stage_set_ports(struct stage *st, const char *const *names, size_t n)
{
	for (size_t i = 0; i < st->nports; i++)
		free(st->ports[i]);
	free(st->ports);
	st->ports = csp_calloc(n ? n : 1, sizeof *st->ports);
	for (size_t i = 0; i < n; i++)
		st->ports[i] = csp_strdup(names[i]);
	st->nports = n;
}

static void add_stage(struct pipeline *p, struct stage *st)
{
	p->stages = csp_realloc(p->stages, (p->n + 1) * sizeof *p->stages);
	p->stages[p->n++] = st;
}

/* Load the kind's options from the kind key's value: a mapping of options,
 * or a shorthand (a scalar, a list, or for KIND_SHORTHAND_ANY anything). */
/* After options that failed to load, whether the kind's check can still
 * run on what loaded, so that its errors (a bad pattern, a bad template)
 * are reported in the same run.  Each given option is tried again on a
 * scratch copy.  Only when those that failed are booleans or choices: a
 * failed option keeps its default, and a missing string or a zero count
 * would read to the check as "not given" (and a custom option, parsed by
 * the kind itself, is freed when it fails).  A required option must be
 * there. */
static int checkable(const struct stage_kind *k, const struct node *map)
{
	void *scratch;
	struct diags quiet = { 0 };
	int ok = 1;

	if (!map || map->type != NODE_MAP)
		return 0;
	scratch = csp_calloc(1, k->conf_size ? k->conf_size : 1);
	for (const struct option *o = k->options; ok && o->name; o++) {
		const struct node *given = node_get(map, o->name);
		if (!given)
			ok = !(o->flags & OPT_REQUIRED);
		else if (config_load_one(o, scratch, given, &quiet) < 0)
			ok = o->type == OPT_BOOL || o->type == OPT_ENUM;
	}
	config_free(k->options, scratch);
	free(scratch);
	diags_free(&quiet);
	return ok;
}

/* Load the kind's options from v into st->conf.  Returns 0, or -1 after
 * reporting every error; *check then says whether the kind's check may
 * still run, so that its errors are reported in the same run. */
static int load_kind_options(struct builder *b, struct stage *st, struct node *v,
			     int *check)
{
	const struct stage_kind *k = st->kind;
	struct node *map;

	*check = 0;
	st->conf = csp_calloc(1, k->conf_size ? k->conf_size : 1);
	if (v && v->type == NODE_MAP && !(k->flags & KIND_SHORTHAND_ANY)) {
		map = v;
	} else if (!v || v->is_null) {
		map = spec_new_map(b->spec, v ? v->file : "command line");
		if (v) {
			map->line = v->line;
			map->col = v->col;
		}
	} else if (!k->shorthand) {
		diag_add(b->d, v, "%s: expected a mapping of options, got a %s", k->name,
			 node_type_name(v));
		config_load(k->options, st->conf, NULL, b->d);
		return -1;
	} else {
		map = spec_new_map(b->spec, v->file);
		map->line = v->line;
		map->col = v->col;
		spec_map_set(b->spec, map, k->shorthand, v);
	}
	if (config_load_for(k->options, st->conf, map, k->name, b->d) == 0) {
		*check = 1;
		return 0;
	}
	*check = checkable(k, map);
	return -1;
}

static struct stage *build_stage(struct builder *b, const struct node *stages, size_t i)
{
	struct node *m = stages->items[i];
	struct stage *st;
	struct common c = b->defaults;
	const struct stage_kind *kind;
	struct node *kkey, *kval = NULL;
	size_t nkinds;
	int bad = 0, unknown = 0;
	static const char *names[64];
	size_t nnames = 0;

	if (m->type != NODE_MAP) {
		diag_add(b->d, m, "a stage must be a mapping (e.g. '- filter: ERROR'), got a %s",
			 node_type_name(m));
		return NULL;
	}
	if (!nnames) {
		for (size_t j = 0; common_opts[j].name; j++)
			names[nnames++] = common_opts[j].name;
		for (size_t j = 0; stage_kinds[j] && nnames < 64; j++)
			names[nnames++] = stage_kinds[j]->name;
	}
	kkey = stage_kind_key(m, &nkinds, &kind);
	st = csp_calloc(1, sizeof *st);
	st->index = (int)i + 1;
	st->at = m;
	c.name = NULL;
	memset(&c.from, 0, sizeof c.from);
	c.shard = NULL;
	for (size_t j = 0; j < m->n; j++) {
		const char *key = m->keys[j]->str;
		const struct option *o = config_find(common_opts, key);
		if (o) {
			if (config_load_one(o, &c, m->vals[j], b->d))
				bad = 1;
			else if (!strcmp(key, "workers") && kind &&
				 (kind->flags & KIND_ONE_WORKER || kind->role != ROLE_TRANSFORM) &&
				 c.workers != 1) {
				diag_add(b->d, m->vals[j], "%s runs on one worker (workers: %lld)",
					 kind->name, (long long)c.workers);
				bad = 1;
			}
		} else if (m->keys[j] == kkey) {
			kval = m->vals[j];
		} else if (!stage_find(key)) {
			const char *dym = did_you_mean(key, names, nnames);
			const char *peer = peer_hint(key);

			if (peer)
				diag_add(b->d, m->keys[j], "unknown key '%s' (did you mean "
					 "'%s'?)", key, peer);
			else
				diag_add(b->d, m->keys[j], "unknown key '%s'%s%s%s", key,
					 dym ? " (did you mean '" : "", dym ? dym : "",
					 dym ? "'?)" : "");
			bad = 1;
			unknown = 1;   /* most likely the kind, misspelt */
		}
	}
	if (nkinds == 0 && !unknown) {
		diag_add(b->d, m, "stage has no kind (give one of: stdin, files, generate, "
			 "filter, map, compress, decompress, merge, route, head, rate, exec, "
			 "stdout, file)");
		bad = 1;
	} else if (nkinds > 1) {
		const char *second = NULL;
		for (size_t j = 0; j < m->n; j++)
			if (m->keys[j] != kkey && stage_find(m->keys[j]->str) && !second)
				second = m->keys[j]->str;
		diag_add(b->d, kkey, "stage has several kinds: %s and %s (a stage has exactly one)",
			 kind->name, second);
		bad = 1;
	}
	st->kind = nkinds == 1 ? kind : NULL;
	st->kind_at = kval;
	if (c.name) {
		st->name = c.name;
		c.name = NULL;
		if (!valid_name(st->name)) {
			diag_add(b->d, node_get(m, "name"), "invalid stage name '%s' (use letters, "
				 "digits, '_' and '-', starting with a letter or '_')", st->name);
			bad = 1;
		}
	} else {
		st->name = default_name(stages, i, b->kind_counts);
		if (!st->name)
			st->name = csp_strdup("?");
	}
	if (c.from.n) {
		st->from = c.from.v;
		st->from_at = (const struct node **)c.from.at;
		st->nfrom = c.from.n;
		c.from.v = NULL;
		c.from.at = NULL;
	} else if (node_get(m, "from")) {
		diag_add(b->d, node_get(m, "from"), "from: expected a stage name or a list of names");
		bad = 1;
	}
	st->workers = (int)c.workers;
	if (st->kind && (st->kind->flags & KIND_ONE_WORKER || st->kind->role != ROLE_TRANSFORM))
		st->workers = 1;
	st->buffer = c.buffer;
	st->ordered = c.ordered || (st->kind && st->kind->flags & KIND_ORDERED);
	st->timeout = c.timeout;
	st->shard = c.shard;
	if (st->shard && st->kind && st->kind->flags & KIND_NO_SHARD) {
		diag_add(b->d, node_get(m, "shard_by"), "%s cannot shard its input", st->kind->name);
		bad = 1;
	}
	if (st->kind) {
		int check;
		if (load_kind_options(b, st, kval, &check))
			bad = 1;
		if (check && st->kind->check && st->kind->check(st, b->d))
			bad = 1;
	}
	if (bad)
		b->errors++;
	return st;
}

/* An implicit stage: stdin or the command line's files before, stdout or
 * -o's file after.  v is the kind's value (NULL: defaults). */
static struct stage *implicit_stage(struct builder *b, const char *kind, const char *name,
				    struct node *v)
{
	struct stage *st = csp_calloc(1, sizeof *st);
	struct node *ov = b->implicit_opts ? node_get(b->implicit_opts, name) : NULL;
	int check;

	if (ov) {
		/* -s NAME.KEY=VALUE, on top of the command line's. */
		if (!v)
			v = spec_new_map(b->spec, "command line");
		for (size_t i = 0; i < ov->n; i++)
			spec_map_set(b->spec, v, ov->keys[i]->str, ov->vals[i]);
	}
	st->kind = stage_find(kind);
	st->name = csp_strdup(name);
	st->implicit = 1;
	st->workers = 1;
	st->buffer = b->defaults.buffer;
	st->ordered = 1;
	st->kind_at = v;
	if (load_kind_options(b, st, v, &check) || (st->kind->check && st->kind->check(st, b->d)))
		b->errors++;
	return st;
}

/* The command line's INPUT files as the value of a files stage. */
static struct node *inputs_node(struct spec *spec, const struct graph_opts *o)
{
	struct node *v = spec_new_map(spec, "command line");
	struct node *paths = spec_new_seq(spec, "command line");

	for (size_t i = 0; i < o->ninputs; i++)
		spec_seq_append(spec, paths, spec_new_scalar(spec, "command line", o->inputs[i]));
	spec_map_set(spec, v, "paths", paths);
	return v;
}

/* -o FILE as the value of a file stage. */
/* -o FILE: a file sink; -o - standard output, as INPUT - is standard
 * input. */
static const char *output_kind(const char *path)
{
	return strcmp(path, "-") ? "file" : "stdout";
}

static struct node *output_node(struct spec *spec, const char *path)
{
	struct node *v = spec_new_map(spec, "command line");

	if (strcmp(path, "-"))
		spec_map_set(spec, v, "path", spec_new_scalar(spec, "command line", path));
	return v;
}

static void add_input(struct stage *st, struct stage *from, int port)
{
	st->inputs = csp_realloc(st->inputs, (st->ninputs + 1) * sizeof *st->inputs);
	st->input_ports = csp_realloc(st->input_ports, (st->ninputs + 1) * sizeof *st->input_ports);
	st->inputs[st->ninputs] = from;
	st->input_ports[st->ninputs++] = port;
}

/* Which port of `from` a reference "name" or "name.branch" means; -1 and a
 * diagnostic when the branch does not exist or one is needed. */
static int resolve_port(struct builder *b, const struct stage *from, const char *branch,
			const struct node *at, const struct stage *reader)
{
	if (!branch) {
		if (from->nports == 0)
			return 0;
		diag_add(b->d, at, "%s has branches (%s%s); read one with from: %s.%s",
			 from->name, from->ports[0], from->nports > 1 ? ", ..." : "",
			 from->name, from->ports[0]);
		return -1;
	}
	for (size_t i = 0; i < from->nports; i++)
		if (!strcmp(from->ports[i], branch))
			return (int)i;
	if (from->nports == 0)
		diag_add(b->d, at, "%s has no branches (only route has)", from->name);
	else {
		const char *dym = did_you_mean(branch, (const char *const *)from->ports,
					       from->nports);
		diag_add(b->d, at, "%s has no branch '%s'%s%s%s", from->name, branch,
			 dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
	}
	(void)reader;
	return -1;
}

struct stage *pipeline_find(const struct pipeline *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->stages[i]->name, name))
			return p->stages[i];
	return NULL;
}

static int name_cmp(const void *a, const void *b)
{
	const struct name_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* Number the stages and sort their names, once the list is complete, so
 * that lookups and the duplicate check do not grow with the square of a
 * long pipeline. */
static void index_stages(struct builder *b)
{
	struct pipeline *p = b->p;

	free(b->names);
	b->names = csp_calloc(p->n + 1, sizeof *b->names);
	b->nnames = p->n;
	for (size_t i = 0; i < p->n; i++) {
		p->stages[i]->id = i;
		b->names[i] = (struct name_entry){ p->stages[i]->name, p->stages[i], i };
	}
	qsort(b->names, p->n, sizeof *b->names, name_cmp);
}

static struct stage *find_name(const struct builder *b, const char *name)
{
	size_t lo = 0, hi = b->nnames;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(b->names[mid].name, name);
		if (c == 0) {
			while (mid > 0 && !strcmp(b->names[mid - 1].name, name))
				mid--;
			return b->names[mid].st;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Count the readers of every (stage, port), after from is resolved. */
static void index_readers(struct builder *b)
{
	struct pipeline *p = b->p;
	size_t total = 0;

	free(b->readers);
	free(b->reader_base);
	b->reader_base = csp_calloc(p->n + 1, sizeof *b->reader_base);
	for (size_t i = 0; i < p->n; i++) {
		p->stages[i]->id = i;
		b->reader_base[i] = total;
		total += p->stages[i]->nports ? p->stages[i]->nports : 1;
	}
	b->readers = csp_calloc(total + 1, sizeof *b->readers);
	for (size_t i = 0; i < p->n; i++)
		for (size_t j = 0; j < p->stages[i]->ninputs; j++)
			b->readers[b->reader_base[p->stages[i]->inputs[j]->id] +
				   (size_t)p->stages[i]->input_ports[j]]++;
}

/* "did you mean" over the pipeline's stage names. */
static const char *suggest_stage(const struct pipeline *p, const char *name)
{
	const char **names = csp_calloc(p->n + 1, sizeof *names);
	const char *dym;

	for (size_t i = 0; i < p->n; i++)
		names[i] = p->stages[i]->name;
	dym = did_you_mean(name, names, p->n);
	free(names);
	return dym;
}

/* Resolve every stage's `from` (default: the stage listed before it). */
static void resolve_from(struct builder *b, struct stage *first_src)
{
	struct pipeline *p = b->p;
	struct stage *prev = first_src;

	for (size_t i = 0; i < p->n; i++) {
		struct stage *st = p->stages[i];

		if (st->implicit) {
			continue;
		}
		if (!st->kind) {
			prev = st;
			continue;
		}
		if (st->kind->role == ROLE_SOURCE) {
			if (st->nfrom) {
				diag_add(b->d, st->from_at[0], "%s is a source: it reads no input "
					 "('from' is not allowed)", st->name);
				b->errors++;
			}
			prev = st;
			continue;
		}
		if (st->nfrom == 0) {
			if (!prev) {
				b->errors++;
				prev = st;
				continue;
			}
			if (prev->kind && prev->kind->role == ROLE_SINK) {
				diag_add(b->d, st->at, "%s would read from %s, which is a sink; "
					 "say where it reads with 'from'", st->name, prev->name);
				b->errors++;
			} else {
				int port = resolve_port(b, prev, NULL, st->at, st);
				if (port >= 0)
					add_input(st, prev, port);
				else
					b->errors++;
			}
			prev = st;
			continue;
		}
		if (st->nfrom > MAX_INPUTS) {
			diag_add(b->d, st->from_at[MAX_INPUTS], "from: a stage reads at most %d "
				 "stages (merge them in steps)", MAX_INPUTS);
			b->errors++;
			continue;
		}
		for (size_t j = 0; j < st->nfrom; j++) {
			char *ref = csp_strdup(st->from[j]);
			char *dot = strchr(ref, '.');
			struct stage *from;
			if (dot)
				*dot++ = '\0';
			from = find_name(b, ref);
			if (!from) {
				const char *dym = suggest_stage(p, ref);
				diag_add(b->d, st->from_at[j], "from: no stage named '%s'%s%s%s", ref,
					 dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
				b->errors++;
			} else if (from == st) {
				diag_add(b->d, st->from_at[j], "%s reads from itself", st->name);
				b->errors++;
			} else if (from->kind && from->kind->role == ROLE_SINK) {
				diag_add(b->d, st->from_at[j], "from: %s is a sink: it has no output",
					 from->name);
				b->errors++;
			} else {
				int port = resolve_port(b, from, dot, st->from_at[j], st);
				if (port >= 0) {
					for (size_t k = 0; k < st->ninputs; k++)
						if (st->inputs[k] == from && st->input_ports[k] == port) {
							diag_add(b->d, st->from_at[j], "from: %s is listed twice",
								 st->from[j]);
							b->errors++;
							port = -1;
							break;
						}
				}
				if (port >= 0)
					add_input(st, from, port);
				else
					b->errors++;
			}
			free(ref);
		}
		prev = st;
	}
}

/* Readers of (stage, port), from the table of index_readers. */
static size_t count_readers(const struct builder *b, const struct stage *st, int port)
{
	return b->readers[b->reader_base[st->id] + (size_t)port];
}

/* Depth-first search for a cycle through inputs; reports the first. */
static int find_cycle(struct builder *b, struct stage *st, int *state, struct stage **path,
		      size_t depth)
{
	size_t idx = st->id;

	if (state[idx] == 2)
		return 0;
	if (state[idx] == 1) {
		struct buf msg = { 0 };
		size_t k = 0;
		while (path[k] != st)
			k++;
		/* The search walks against the flow (a stage to its inputs):
		 * in the order records flow, st is followed by the stages
		 * found after it, last first. */
		buf_printf(&msg, "cycle: %s", st->name);
		for (size_t j = depth; j-- > k + 1;)
			buf_printf(&msg, " -> %s", path[j]->name);
		buf_printf(&msg, " -> %s", st->name);
		diag_add(b->d, st->nfrom ? st->from_at[0] : st->at, "%s", buf_cstr(&msg));
		buf_free(&msg);
		return 1;
	}
	state[idx] = 1;
	path[depth] = st;
	for (size_t i = 0; i < st->ninputs; i++)
		if (find_cycle(b, st->inputs[i], state, path, depth + 1))
			return 1;
	state[idx] = 2;
	return 0;
}

/*
 * A source read only by decompress stages must hand them the bytes as they
 * are: with gunzip left to auto, it does not decompress gzip itself.
 */
static void raw_for_decompress(struct pipeline *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct stage *src = p->stages[i];
		size_t readers = 0, decompressors = 0;

		if (!src->kind || !(src->kind->flags & KIND_READS_BYTES))
			continue;
		for (size_t j = 0; j < p->n; j++)
			for (size_t k = 0; k < p->stages[j]->ninputs; k++)
				if (p->stages[j]->inputs[k] == src) {
					readers++;
					decompressors += p->stages[j]->kind->role == ROLE_TRANSFORM &&
							 (p->stages[j]->kind->flags & KIND_BYTES_IN);
				}
		struct input_conf *in = src->conf;
		if (readers && readers == decompressors && in->gunzip == GUNZIP_AUTO)
			in->gunzip = GUNZIP_NO;
	}
}

static void check_graph(struct builder *b, const struct graph_opts *o)
{
	struct pipeline *p = b->p;
	size_t nsinks = 0;
	int *state = csp_calloc(p->n + 1, sizeof *state);
	struct stage **path = csp_calloc(p->n + 1, sizeof *path);

	for (size_t i = 0; i < p->n; i++) {
		if (find_cycle(b, p->stages[i], state, path, 0)) {
			b->errors++;
			goto out;
		}
	}
	for (size_t i = 0; i < p->n; i++)
		nsinks += p->stages[i]->kind && p->stages[i]->kind->role == ROLE_SINK;
	if (nsinks == 0) {
		/* Every stage whose output nobody reads feeds the implicit sink. */
		const char *kind = o->output ? output_kind(o->output) : "stdout";
		struct stage *sink = implicit_stage(b, kind, kind,
						    o->output ? output_node(b->spec, o->output) : NULL);
		if (find_name(b, sink->name)) {
			/* A stage of the file has the name already. */
			free(sink->name);
			sink->name = csp_strdup(o->output ? "file-output" : "stdout-output");
		}
		size_t n = p->n;
		for (size_t i = 0; i < n; i++) {
			struct stage *st = p->stages[i];
			if (!st->kind)
				continue;
			size_t nports = st->nports ? st->nports : 1;
			for (size_t port = 0; port < nports; port++)
				if (count_readers(b, st, (int)port) == 0)
					add_input(sink, st, (int)port);
		}
		add_stage(p, sink);
	} else {
		for (size_t i = 0; i < p->n; i++) {
			struct stage *st = p->stages[i];
			if (!st->kind || st->kind->role == ROLE_SINK)
				continue;
			size_t nports = st->nports ? st->nports : 1;
			for (size_t port = 0; port < nports; port++) {
				if (count_readers(b, st, (int)port))
					continue;
				if (st->nports)
					diag_add(b->d, st->at, "branch %s.%s has no path to a sink "
						 "(no stage reads it)", st->name, st->ports[port]);
				else
					diag_add(b->d, st->at, "%s has no path to a sink (no stage "
						 "reads its output)", st->name);
				b->errors++;
			}
		}
	}
	for (size_t i = 0; i < p->n; i++) {
		struct stage *st = p->stages[i];
		if (!st->kind)
			continue;
		if (st->kind->role != ROLE_SOURCE && st->ninputs == 0 && st->nfrom == 0 &&
		    !st->implicit) {
			diag_add(b->d, st->at, "%s has no path from a source", st->name);
			b->errors++;
		}
		for (size_t j = 0; j < st->ninputs; j++) {
			const struct stage *in = st->inputs[j];
			if (!in->kind || !(in->kind->flags & KIND_BYTES_OUT))
				continue;
			if (!(st->kind->flags & KIND_BYTES_IN))
				diag_add(b->d, st->nfrom ? st->from_at[0] : st->at,
					 "%s reads the byte stream of %s (%s); only a sink or "
					 "decompress may follow it", st->name, in->name,
					 in->kind->name), b->errors++;
			else if (st->ninputs > 1)
				diag_add(b->d, st->nfrom ? st->from_at[0] : st->at,
					 "%s mixes the byte stream of %s with other inputs",
					 st->name, in->name), b->errors++;
		}
	}
out:
	free(state);
	free(path);
}

static int64_t top_duration(struct builder *b, const struct node *root, const char *key,
			    int64_t def)
{
	struct node *n = node_get(root, key);
	int64_t v;
	const char *why;

	if (!n)
		return def;
	if (n->type != NODE_SCALAR) {
		diag_add(b->d, n, "%s: expected a duration (e.g. 5s), got a %s", key,
			 node_type_name(n));
		b->errors++;
		return def;
	}
	if (parse_duration(n->str, &v, &why)) {
		diag_add(b->d, n, "%s: bad duration '%s': %s", key, n->str, why);
		b->errors++;
		return def;
	}
	return v;
}

/*
 * Build and validate the pipeline described by spec.  See graph.h.  The
 * spec is edited in place by the command-line options and must outlive
 * the pipeline.  Returns NULL when any error was reported.
 */
struct pipeline *pipeline_load(struct spec *spec, const struct graph_opts *o,
			       struct diags *d)
{
	struct builder b = { .spec = spec, .d = d };
	struct node *root = spec_root(spec), *stages, *defaults;
	struct pipeline *p;
	struct stage *first_src = NULL;

	if (!root) {
		char where[1024];
		snprintf(where, sizeof where, "%.1000s:1:1", spec_name(spec));
		diag_addf(d, where, "empty pipeline (expected a mapping with a 'stages' list)");
		return NULL;
	}
	if (root->type != NODE_MAP) {
		diag_add(d, root, "a pipeline is a mapping with a 'stages' list, not a %s",
			 node_type_name(root));
		return NULL;
	}
	p = csp_calloc(1, sizeof *p);
	b.p = p;
	p->file = root->file;
	stages = node_get(root, "stages");
	if (stages && stages->type == NODE_SEQ) {
		if (edit_io(spec, stages, o, d))
			b.errors++;
	}
	if (apply_overrides(spec, root, stages && stages->type == NODE_SEQ ? stages : NULL, o,
			    &b.implicit_opts, d))
		b.errors++;
	for (size_t i = 0; i < root->n; i++) {
		const char *key = root->keys[i]->str;
		size_t k;
		for (k = 0; k < sizeof top_keys / sizeof *top_keys; k++)
			if (!strcmp(key, top_keys[k]))
				break;
		if (k == sizeof top_keys / sizeof *top_keys) {
			const char *dym = did_you_mean(key, top_keys, sizeof top_keys / sizeof *top_keys);
			if (!dym && stage_find(key))
				diag_add(d, root->keys[i], "unknown key '%s' (stages go in the "
					 "'stages' list)", key);
			else
				diag_add(d, root->keys[i], "unknown key '%s'%s%s%s", key,
					 dym ? " (did you mean '" : "", dym ? dym : "",
					 dym ? "'?)" : "");
			b.errors++;
		}
	}
	{
		struct node *name = node_get(root, "name");
		if (name && name->type != NODE_SCALAR) {
			diag_add(d, name, "name: expected a string, got a %s", node_type_name(name));
			b.errors++;
		}
		p->name = csp_strdup(name && name->type == NODE_SCALAR ? name->str : "");
	}
	p->timeout = top_duration(&b, root, "timeout", 0);
	p->timeout_from = "timeout";
	if (o->timeout) {
		p->timeout = o->timeout;
		p->timeout_from = "-t";
	}
	p->shutdown_timeout = top_duration(&b, root, "shutdown_timeout", SHUTDOWN_TIMEOUT_DEFAULT);

	/* defaults */
	config_load(common_opts, &b.defaults, NULL, d);
	defaults = node_get(root, "defaults");
	if (defaults && defaults->type != NODE_MAP && !defaults->is_null) {
		diag_add(d, defaults, "defaults: expected a mapping (e.g. {workers: 2}), got a %s",
			 node_type_name(defaults));
		b.errors++;
	} else if (defaults && defaults->type == NODE_MAP) {
		for (size_t i = 0; i < defaults->n; i++) {
			const char *key = defaults->keys[i]->str;
			size_t k;
			for (k = 0; k < 4; k++)
				if (!strcmp(key, default_keys[k]))
					break;
			if (k == 4) {
				const char *dym = did_you_mean(key, default_keys, 4);
				diag_add(d, defaults->keys[i], "defaults: unknown key '%s'%s%s%s "
					 "(defaults sets workers, buffer, ordered, timeout)", key,
					 dym ? " (did you mean '" : "", dym ? dym : "", dym ? "'?)" : "");
				b.errors++;
				continue;
			}
			if (config_load_one(config_find(common_opts, key), &b.defaults,
					    defaults->vals[i], d))
				b.errors++;
		}
	}

	if (!stages) {
		diag_add(d, root, "no 'stages' list");
		b.errors++;
		goto done;
	}
	if (stages->type != NODE_SEQ) {
		diag_add(d, stages, "stages: expected a list of stages, got %s%s",
			 stages->is_null ? "nothing" : "a ",
			 stages->is_null ? "" : node_type_name(stages));
		b.errors++;
		goto done;
	}
	if (stages->n == 0) {
		diag_add(d, stages, "stages: the list is empty");
		b.errors++;
		goto done;
	}
	if (stages->n > MAX_STAGES) {
		/* Every stage costs threads and a compiled pattern or two:
		 * refuse a runaway file before building any of it. */
		diag_add(d, stages, "stages: %zu stages; a pipeline has at most %d", stages->n,
			 MAX_STAGES);
		b.errors++;
		goto done;
	}
	b.kind_counts = count_kinds(stages);
	for (size_t i = 0; i < stages->n; i++) {
		struct stage *st = build_stage(&b, stages, i);
		if (!st) {
			b.errors++;
			continue;
		}
		add_stage(p, st);
	}
	/* Names are unique: in the sorted index, equal names are adjacent,
	 * the first in the file first. */
	index_stages(&b);
	for (size_t i = 1; i < b.nnames; i++) {
		size_t f = i - 1;
		if (strcmp(b.names[i].name, b.names[f].name))
			continue;
		while (f > 0 && !strcmp(b.names[f - 1].name, b.names[i].name))
			f--;
		const struct node *at = node_get(b.names[i].st->at, "name");
		const struct node *first = b.names[f].st->at;
		diag_add(d, at ? at : b.names[i].st->at, "duplicate stage name '%s' "
			 "(first at %d:%d)", b.names[i].name,
			 first ? first->line : 0, first ? first->col : 0);
		b.errors++;
	}
	/* The implicit source, unless the first stage is one. */
	for (size_t i = 0; i < p->n; i++)
		if (p->stages[i]->kind && p->stages[i]->kind->role == ROLE_SOURCE)
			first_src = first_src ? first_src : p->stages[i];
	if (!first_src || (p->stages[0]->kind && p->stages[0]->kind->role != ROLE_SOURCE &&
			   p->stages[0]->nfrom == 0)) {
		struct stage *src;
		if (o->ninputs) {
			src = implicit_stage(&b, "files", "files", inputs_node(spec, o));
		} else {
			src = implicit_stage(&b, "stdin", "stdin", NULL);
		}
		if (find_name(&b, src->name)) {
			free(src->name);
			src->name = csp_strdup(o->ninputs ? "files-input" : "stdin-input");
		}
		p->stages = csp_realloc(p->stages, (p->n + 1) * sizeof *p->stages);
		memmove(p->stages + 1, p->stages, p->n * sizeof *p->stages);
		p->stages[0] = src;
		p->n++;
		first_src = src;
	} else if (o->ninputs && first_src && first_src != p->stages[0]) {
		/* edit_io replaced it already. */
	}
	index_stages(&b);
	resolve_from(&b, p->stages[0]->implicit ? p->stages[0] : NULL);
	if (b.errors)
		goto done;
	index_readers(&b);
	check_graph(&b, o);
	for (size_t i = 0; i < p->n; i++)
		p->stages[i]->id = i;   /* the implicit sink came last */
	raw_for_decompress(p);
	/* -s for a stage cspipe would add, where it did not (the file has a
	 * source or sink of another name or kind). */
	for (size_t i = 0; b.implicit_opts && i < b.implicit_opts->n; i++) {
		const char *name = b.implicit_opts->keys[i]->str;
		size_t j;
		for (j = 0; j < p->n; j++)
			if (p->stages[j]->implicit && !strcmp(p->stages[j]->name, name))
				break;
		if (j == p->n) {
			char where[256];
			snprintf(where, sizeof where, "-s %s.%s", name,
				 b.implicit_opts->vals[i]->keys[0]->str);
			diag_addf(d, where, "no stage named '%s'%s", name,
				  !strcmp(name, "stdin") && o->ninputs ?
				  " (given INPUT files, the source is 'files')" :
				  !strcmp(name, "stdout") && o->output ?
				  " (given -o, the sink is 'file')" : "");
			b.errors++;
		}
	}
done:
	config_free(common_opts, &b.defaults);
	free(b.kind_counts);
	free(b.names);
	free(b.readers);
	free(b.reader_base);
	if (b.errors) {
		pipeline_free(p);
		return NULL;
	}
	return p;
}

void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		stage_free(p->stages[i]);
	free(p->stages);
	free(p->name);
	free(p);
}

/*
 * The most memory the pipeline can hold at once, assuming records no
 * longer than a batch (a longer record makes its batch larger, up to
 * max_record).  Every batch is in a channel, in a worker's hands, in a
 * reorder window or in the pool, and each of those is bounded; to them
 * come what each kind's workers keep (kind->worker_mem), every thread's
 * stack, and the program itself.
 */
uint64_t pipeline_memory_bound(const struct pipeline *p)
{
	const uint64_t batch = BATCH_DATA + BATCH_RECS * sizeof(struct rec) + sizeof(struct batch);
	const uint64_t base = 8u << 20;   /* code, libraries, allocator slack */
	uint64_t total = base + (uint64_t)BATCH_POOL_MAX * batch;
	uint64_t *readers_of = csp_calloc(p->n + 1, sizeof *readers_of);

	for (size_t i = 0; i < p->n; i++)
		for (size_t j = 0; j < p->stages[i]->ninputs; j++)
			readers_of[p->stages[i]->inputs[j]->id]++;
	for (size_t i = 0; i < p->n; i++) {
		const struct stage *st = p->stages[i];
		uint64_t readers = readers_of[st->id], threads = (uint64_t)st->workers;
		size_t nports = st->nports ? st->nports : 1;

		/* Its output channels: their capacity, plus the batch a
		 * blocked sender holds. */
		total += readers * ((uint64_t)st->buffer + 1) * batch;
		/* Each worker holds its input and its outputs (one per
		 * port), and what its kind keeps. */
		total += (uint64_t)st->workers * ((1 + nports) * batch + st->kind->worker_mem);
		/* The reorder window of ordered workers, and the collector. */
		if (st->workers > 1 && st->ordered) {
			total += (uint64_t)stage_window(st) * nports * batch;
			threads++;
		}
		/* shard_by: each worker's own input channel, and the parts
		 * of a batch the dispatcher holds. */
		if (st->shard && st->workers > 1) {
			total += (uint64_t)st->workers * 4 * batch;
			threads++;
		}
		/* A stage reading several inputs may hold one batch of each. */
		if (st->ninputs > 1)
			total += (uint64_t)st->ninputs * batch;
		total += threads * CSP_STACK_SIZE;
	}
	free(readers_of);
	return total;
}
