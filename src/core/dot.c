/* SPDX-License-Identifier: MIT */
/*
 * dot.c - `cspipe graph`: stages as boxes (kind, workers, buffer), edges
 * labelled with branch names and, from a finished run's JSON, records and
 * the bottleneck.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "core/dot.h"
#include "core/pipeline.h"
#include "base/json.h"
#include "core/stage.h"
#include "base/util.h"

static void dot_id(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void count(char *out, size_t n, double v)
{
	if (v >= 1e9)
		snprintf(out, n, "%.1fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(out, n, "%.1fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(out, n, "%.1fk", v / 1e3);
	else
		snprintf(out, n, "%.0f", v);
}

static double num(const struct json *obj, const char *key)
{
	const struct json *v = json_get(obj, key);
	return v && (v->type == JSON_NUMBER || v->type == JSON_BOOL) ? v->num : 0;
}

static const struct json *stage_stats(const struct json *stages, const char *name)
{
	for (size_t i = 0; stages && i < stages->n; i++) {
		const struct json *nm = json_get(stages->items[i], "name");
		if (nm && nm->type == JSON_STRING && !strcmp(nm->str, name))
			return stages->items[i];
	}
	return NULL;
}

static int has_stage(const struct pipeline *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->stages[i]->name, name))
			return 1;
	return 0;
}

/*
 * The figures of st.  INPUT files make the run's source files and -o its
 * sink file, which the graph alone cannot know: the source cspipe added,
 * or an unnamed one the file gave, has another name and kind in the run.
 * A source or sink with no figures of its own name takes those of the
 * run's stage of the same role that the graph does not have, and *name
 * and *kind say what the run called it.
 */
static const struct json *figures(const struct stage_registry *kinds,
				  const struct json *stages, const struct pipeline *p,
				  const struct stage *st, const char **name, const char **kind)
{
	const struct json *s = stage_stats(stages, st->name);

	*name = st->name;
	*kind = st->kind->name;
	if (s || st->kind->role == ROLE_TRANSFORM)
		return s;
	for (size_t i = 0; stages && i < stages->n; i++) {
		const struct json *nm = json_get(stages->items[i], "name");
		const struct json *kd = json_get(stages->items[i], "kind");
		const struct stage_kind *k;
		if (!nm || nm->type != JSON_STRING || !kd || kd->type != JSON_STRING ||
		    has_stage(p, nm->str))
			continue;
		k = registry_find(kinds, kd->str);
		if (k && k->role == st->kind->role) {
			*name = nm->str;
			*kind = k->name;
			return stages->items[i];
		}
	}
	return NULL;
}

static struct json *read_stats(const char *path, struct err *e)
{
	FILE *f = fopen(path, "rb");
	struct buf b = { 0 };
	char tmp[65536], msg[256];
	size_t n;
	struct json *j;

	if (!f) {
		err_set(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0 && b.len < (64u << 20))
		buf_append(&b, tmp, n);
	fclose(f);
	j = json_parse(b.p ? b.p : "", b.len, msg, sizeof msg);
	buf_free(&b);
	if (!j) {
		err_set(e, "%s: not the JSON of run --stats=json: %s", path, msg);
		return NULL;
	}
	if (j->type != JSON_OBJECT || !json_get(j, "stages")) {
		err_set(e, "%s: not the JSON of run --stats=json (no \"stages\")", path);
		json_free(j);
		return NULL;
	}
	return j;
}

int dot_write(FILE *f, const struct pipeline *p, const struct stage_registry *kinds,
	      const char *stats_file, struct err *e)
{
	struct json *js = NULL;
	const struct json *stages = NULL;

	if (stats_file) {
		if (!(js = read_stats(stats_file, e)))
			return -1;
		stages = json_get(js, "stages");
		for (size_t i = 0; i < p->n; i++) {
			const char *name, *kind;
			if (!figures(kinds, stages, p, p->stages[i], &name, &kind)) {
				err_set(e, "%s: has no figures for stage '%s' (a run of another "
					"pipeline?)", stats_file, p->stages[i]->name);
				json_free(js);
				return -1;
			}
		}
	}
	fprintf(f, "digraph ");
	dot_id(f, p->name && *p->name ? p->name : "pipeline");
	fprintf(f, " {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
		"  edge [fontname=\"Helvetica\", fontsize=10];\n");
	for (size_t i = 0; i < p->n; i++) {
		const struct stage *st = p->stages[i];
		const char *name, *kind;
		const struct json *s = figures(kinds, stages, p, st, &name, &kind);
		int bottleneck = s && num(s, "bottleneck");
		struct buf label = { 0 };

		buf_printf(&label, "%s\\n%s", name, kind);
		if (st->workers_auto)
			buf_printf(&label, " · workers auto (up to %d) · buffer %lld", st->workers,
				   (long long)st->buffer);
		else if (st->kind->role != ROLE_SINK)
			buf_printf(&label, " · %d worker%s · buffer %lld", st->workers,
				   st->workers == 1 ? "" : "s", (long long)st->buffer);
		else
			buf_printf(&label, " · %d worker", st->workers);
		if (s) {
			char in[32], out[32], fl[32];
			count(in, sizeof in, num(s, "records_in"));
			count(out, sizeof out, num(s, "records_out"));
			count(fl, sizeof fl, num(s, "filtered"));
			buf_printf(&label, "\\nin %s · out %s · filtered %s\\nbusy %.2fs", in, out,
				   fl, num(s, "busy_s"));
		}
		fprintf(f, "  ");
		dot_id(f, name);
		fprintf(f, " [label=\"%s\"", buf_cstr(&label));
		if (st->implicit || bottleneck)
			fprintf(f, ", style=\"rounded%s%s\"", bottleneck ? ",filled,bold" : "",
				st->implicit ? ",dashed" : "");
		if (bottleneck)
			fprintf(f, ", fillcolor=\"#f4cccc\", color=\"#cc0000\", "
				"xlabel=\"bottleneck\"");
		fprintf(f, "];\n");
		buf_free(&label);
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct stage *st = p->stages[i];
		const char *name, *kind, *from_name;
		const struct json *s = figures(kinds, stages, p, st, &name, &kind);
		for (size_t k = 0; k < st->ninputs; k++) {
			const struct stage *from = st->inputs[k];
			struct buf label = { 0 };
			figures(kinds, stages, p, from, &from_name, &kind);
			fprintf(f, "  ");
			dot_id(f, from_name);
			fprintf(f, " -> ");
			dot_id(f, name);
			if (from->nports)
				buf_printf(&label, "%s", from->ports[st->input_ports[k]]);
			if (s && st->ninputs == 1) {
				char c[32];
				count(c, sizeof c, num(s, "records_in"));
				buf_printf(&label, "%s%s rec", label.len ? "\\n" : "", c);
			}
			if (label.len)
				fprintf(f, " [label=\"%s\"]", buf_cstr(&label));
			fprintf(f, ";\n");
			buf_free(&label);
		}
	}
	fprintf(f, "}\n");
	json_free(js);
	return 0;
}
