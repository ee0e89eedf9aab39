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
#include "core/graph_int.h"
#include "core/stage.h"
#include "base/util.h"


static int parse_shard(const struct optval *v, void *dst, struct diags *d);
static void free_shard(void *dst);

#define MAX_WORKERS 10000
#define MAX_BUFFER 65536

const struct option graph_common_opts[] = {
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

static int parse_shard(const struct optval *v, void *dst, struct diags *d)
{
	struct shard_key *k;
	const struct optval *f, *p, *del;
	int rc = -1;

	if (optval_type(v) != OPTVAL_TABLE) {
		diag_at(d, optval_pos(v), "shard_by: expected a mapping ({field: N} or "
			"{pattern: P}), got a %s", optval_type_name(v));
		return -1;
	}
	k = csp_calloc(1, sizeof *k);
	f = optval_get(v, "field");
	p = optval_get(v, "pattern");
	del = optval_get(v, "delimiter");
	for (size_t i = 0; i < optval_count(v); i++) {
		static const char *const names[] = { "field", "delimiter", "pattern" };
		const char *key = optval_str(optval_key(v, i), NULL);
		if (strcmp(key, "field") && strcmp(key, "delimiter") && strcmp(key, "pattern")) {
			const char *dym = did_you_mean(key, names, 3);
			diag_at(d, optval_pos(optval_key(v, i)), "shard_by: unknown key '%s'%s%s%s",
				key, DYM_ARGS(dym));
			goto out;
		}
	}
	if (!!f == !!p) {
		diag_at(d, optval_pos(v), "shard_by: give exactly one of 'field' and 'pattern'");
		goto out;
	}
	if (f) {
		int64_t n;
		const char *why;
		if (optval_type(f) != OPTVAL_SCALAR ||
		    parse_int(optval_str(f, NULL), &n, &why) || n < 1 || n > 1000000) {
			diag_at(d, optval_pos(f), "shard_by: field: expected a field number "
				"from 1, got '%s'", optval_type(f) == OPTVAL_SCALAR ?
				optval_str(f, NULL) : optval_type_name(f));
			goto out;
		}
		k->field = (int)n;
		if (del) {
			if (optval_type(del) != OPTVAL_SCALAR || optval_len(del) == 0) {
				diag_at(d, optval_pos(del), "shard_by: delimiter: expected a "
					"non-empty string");
				goto out;
			}
			k->delimiter = csp_strdup(optval_str(del, NULL));
		}
	} else {
		char msg[256];
		size_t off = 0, len;
		const char *text;
		if (del) {
			diag_at(d, optval_pos(del), "shard_by: delimiter goes with field, "
				"not pattern");
			goto out;
		}
		if (optval_type(p) != OPTVAL_SCALAR) {
			diag_at(d, optval_pos(p), "shard_by: pattern: expected a string");
			goto out;
		}
		text = optval_str(p, &len);
		k->pattern = pattern_compile(text, len, 0, msg, sizeof msg, &off);
		if (!k->pattern) {
			diag_at(d, optval_pos(p), "shard_by: bad pattern: %s at offset %zu",
				msg, off);
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
struct node *graph_kind_key(const struct stage_registry *r, const struct node *m,
			    size_t *count, const struct stage_kind **kind)
{
	struct node *key = NULL;

	*count = 0;
	*kind = NULL;
	for (size_t i = 0; i < m->n; i++) {
		const struct stage_kind *k = registry_find(r, m->keys[i]->str);
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
size_t *graph_count_kinds(const struct stage_registry *r, const struct node *stages)
{
	size_t *counts = csp_calloc(r->n + 1, sizeof *counts);

	for (size_t j = 0; j < stages->n; j++) {
		const struct stage_kind *k;
		size_t cnt;
		if (stages->items[j]->type != NODE_MAP)
			continue;
		graph_kind_key(r, stages->items[j], &cnt, &k);
		if (k)
			counts[registry_index(r, k)]++;
	}
	return counts;
}

/* Default names: the kind when it appears once, else kind-N with N the
 * stage's position in the list (1-based). */
char *graph_default_name(const struct stage_registry *r, const struct node *stages,
			 size_t i, const size_t *counts)
{
	const struct stage_kind *k;
	size_t cnt, x;
	char buf[128];

	if (stages->items[i]->type != NODE_MAP)
		return NULL;
	graph_kind_key(r, stages->items[i], &cnt, &k);
	if (!k)
		return NULL;
	x = registry_index(r, k);
	if (counts[x] <= 1)
		return csp_strdup(k->name);
	snprintf(buf, sizeof buf, "%s-%zu", k->name, i + 1);
	return csp_strdup(buf);
}

/* ---- 2.-4. building ------------------------------------------------- */


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
	free(st->opt_pos);
	for (size_t i = 0; i < st->nports; i++)
		free(st->ports[i]);
	free(st->ports);
	free(st->inputs);
	free(st->input_ports);
	free(st);
}

void graph_add_stage(struct pipeline *p, struct stage *st)
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
	free(st->opt_pos);
	st->opt_pos = csp_calloc(config_count(k->options) + 1, sizeof *st->opt_pos);
	/* positions of what the stage's own mapping wrote (a shorthand's is
	 * the kind's value) */
	if (config_load_at(k->options, st->conf, map, k->name,
			   map == v ? st->opt_pos : NULL, b->d) == 0) {
		*check = 1;
		return 0;
	}
	*check = checkable(k, map);
	return -1;
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

static struct stage *build_stage(struct builder *b, const struct node *stages, size_t i)
{
	struct node *m = stages->items[i];
	struct stage *st;
	struct common c = b->defaults;
	const struct stage_kind *kind;
	struct node *kkey, *kval = NULL;
	size_t nkinds;
	int bad = 0, unknown = 0;
	const char *names[64];
	size_t nnames = 0;

	if (m->type != NODE_MAP) {
		diag_add(b->d, m, "a stage must be a mapping (e.g. '- filter: ERROR'), got a %s",
			 node_type_name(m));
		return NULL;
	}
	for (size_t j = 0; graph_common_opts[j].name; j++)
		names[nnames++] = graph_common_opts[j].name;
	for (size_t j = 0; j < b->kinds->n && nnames < 64; j++)
		names[nnames++] = b->kinds->kinds[j]->name;
	kkey = graph_kind_key(b->kinds, m, &nkinds, &kind);
	st = csp_calloc(1, sizeof *st);
	st->index = (int)i + 1;
	st->at = m;
	st->pos = node_pos(m);
	c.name = NULL;
	memset(&c.from, 0, sizeof c.from);
	c.shard = NULL;
	for (size_t j = 0; j < m->n; j++) {
		const char *key = m->keys[j]->str;
		const struct option *o = config_find(graph_common_opts, key);
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
		} else if (!registry_find(b->kinds, key)) {
			const char *dym = did_you_mean(key, names, nnames);
			const char *peer = peer_hint(key);

			if (peer)
				diag_add(b->d, m->keys[j], "unknown key '%s' (did you mean "
					 "'%s'?)", key, peer);
			else
				diag_add(b->d, m->keys[j], "unknown key '%s'%s%s%s", key,
					 DYM_ARGS(dym));
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
			if (m->keys[j] != kkey && registry_find(b->kinds, m->keys[j]->str) && !second)
				second = m->keys[j]->str;
		diag_add(b->d, kkey, "stage has several kinds: %s and %s (a stage has exactly one)",
			 kind->name, second);
		bad = 1;
	}
	st->kind = nkinds == 1 ? kind : NULL;
	st->kind_at = kval;
	st->kind_pos = node_pos(kval);
	if (c.name) {
		st->name = c.name;
		c.name = NULL;
		if (!valid_name(st->name)) {
			diag_add(b->d, node_get(m, "name"), "invalid stage name '%s' (use letters, "
				 "digits, '_' and '-', starting with a letter or '_')", st->name);
			bad = 1;
		}
	} else {
		st->name = graph_default_name(b->kinds, stages, i, b->kind_counts);
		if (!st->name)
			st->name = csp_strdup("?");
	}
	if (c.from.n) {
		st->from = c.from.v;
		st->from_at = c.from.at;
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
struct stage *graph_implicit_stage(struct builder *b, const char *kind, const char *name,
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
	st->kind = registry_find(b->kinds, kind);
	st->name = csp_strdup(name);
	st->implicit = 1;
	st->workers = 1;
	st->buffer = b->defaults.buffer;
	st->ordered = 1;
	st->kind_at = v;
	st->kind_pos = node_pos(v);
	if (load_kind_options(b, st, v, &check) || (st->kind->check && st->kind->check(st, b->d)))
		b->errors++;
	return st;
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
	struct builder b = { .spec = spec, .kinds = o->kinds, .d = d };
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
		if (graph_edit_io(spec, stages, o, d))
			b.errors++;
	}
	if (graph_apply_overrides(spec, root, stages && stages->type == NODE_SEQ ? stages : NULL, o,
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
			if (!dym && registry_find(o->kinds, key))
				diag_add(d, root->keys[i], "unknown key '%s' (stages go in the "
					 "'stages' list)", key);
			else
				diag_add(d, root->keys[i], "unknown key '%s'%s%s%s", key,
					 DYM_ARGS(dym));
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
	if (o->timeout_set) {
		p->timeout = o->timeout;
		p->timeout_from = "-t";
	}
	p->shutdown_timeout = top_duration(&b, root, "shutdown_timeout", SHUTDOWN_TIMEOUT_DEFAULT);

	/* defaults */
	config_load(graph_common_opts, &b.defaults, NULL, d);
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
					 DYM_ARGS(dym));
				b.errors++;
				continue;
			}
			if (config_load_one(config_find(graph_common_opts, key), &b.defaults,
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
	b.kind_counts = graph_count_kinds(b.kinds, stages);
	for (size_t i = 0; i < stages->n; i++) {
		struct stage *st = build_stage(&b, stages, i);
		if (!st) {
			b.errors++;
			continue;
		}
		graph_add_stage(p, st);
	}
	/* Names are unique: in the sorted index, equal names are adjacent,
	 * the first in the file first. */
	graph_index_stages(&b);
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
			src = graph_implicit_stage(&b, "files", "files", graph_inputs_node(spec, o));
		} else {
			src = graph_implicit_stage(&b, "stdin", "stdin", NULL);
		}
		if (graph_find_name(&b, src->name)) {
			free(src->name);
			src->name = csp_strdup(o->ninputs ? "files-input" : "stdin-input");
		}
		p->stages = csp_realloc(p->stages, (p->n + 1) * sizeof *p->stages);
		memmove(p->stages + 1, p->stages, p->n * sizeof *p->stages);
		p->stages[0] = src;
		p->n++;
		first_src = src;
	} else if (o->ninputs && first_src && first_src != p->stages[0]) {
		/* graph_edit_io replaced it already. */
	}
	graph_index_stages(&b);
	graph_resolve_from(&b, p->stages[0]->implicit ? p->stages[0] : NULL);
	if (b.errors)
		goto done;
	graph_index_readers(&b);
	graph_check(&b, o);
	graph_check_outputs(&b);
	for (size_t i = 0; i < p->n; i++)
		p->stages[i]->id = i;   /* the implicit sink came last */
	graph_raw_for_decompress(p);
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
	config_free(graph_common_opts, &b.defaults);
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
