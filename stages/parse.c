/* SPDX-License-Identifier: MIT */
/*
 * parse.c - the `parse` stage: decode text already in the pipeline into
 * structured records.
 *
 *   parse: {regex: '(?<ip>\S+) (?<rest>.*)'}      one field per named group
 *   parse: {codec: logfmt}                        json | csv | logfmt
 *   parse: {codec: csv, columns: [.a, .b]}        one CSV row a record
 *   parse: {regex: '...', field: .Content}        a field's text, in place
 *
 * Without field the record becomes the decoded value; with field, the
 * record (a JSON object) keeps its other members and the field becomes
 * the decoded value.  A record that does not match or decode goes by
 * on_error: fail, drop (counted) or keep (passed on as it is).
 *
 * Output goes into new batches of the standard size, each record keeping
 * its tag, with per-worker buffers reused: nothing is allocated per
 * record.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "records/codec.h"
#include "records/jedit.h"
#include "records/json_doc.h"
#include "records/jpath.h"
#include "records/pattern.h"
#include "core/codec_options.h"
#include "core/stage.h"

struct parse_conf {
	char *regex;
	int codec;
	struct strlist columns;
	char *field;
	int on_error;
	int ignore_case;
};

static const struct option parse_options[] = {
	{ .name = "regex", .type = OPT_STRING, .offset = offsetof(struct parse_conf, regex),
	  .doc = "PCRE2 pattern: each named group (?<name>...) becomes a field" },
	CODEC_OPTION(struct parse_conf, codec,
		     "decode the text as json, csv (one row, needs columns) or logfmt"),
	CODEC_COLUMNS_OPTION(struct parse_conf, columns,
			     "codec csv: the field names (paths such as .a)"),
	{ .name = "field", .type = OPT_STRING, .offset = offsetof(struct parse_conf, field),
	  .doc = "parse this field's text and put the result in its place" },
	CODEC_ON_ERROR_OPTION(struct parse_conf, on_error,
			      "a record that does not match or decode: fail the run, drop it, "
			      "or keep it"),
	{ .name = "ignore_case", .type = OPT_BOOL,
	  .offset = offsetof(struct parse_conf, ignore_case), .def = "false",
	  .doc = "regex: match ASCII letters regardless of case" },
	{ .name = NULL },
};

/* What check compiles. */
struct parse_group {
	const char *name;        /* the pattern's */
	int group;
};

struct parse_priv {
	struct pattern *re;
	struct parse_group *groups;   /* named groups, in the pattern's order */
	size_t ngroups;
	struct columns cols;
	struct jpath field;
	struct jedits put;       /* with field: one set of the field */
	int by_field;
};

/* Where a bad option is reported: its own value, else the stage. */
static struct pos key_pos(const struct stage *st, const char *key)
{
	struct pos at = stage_opt_pos(st, key);

	return at.file ? at : stage_pos(st);
}

static void parse_free(struct stage *st)
{
	struct parse_priv *pp = st->priv;

	if (!pp)
		return;
	pattern_free(pp->re);
	free(pp->groups);
	columns_free(&pp->cols);
	jpath_free(&pp->field);
	jedits_free(&pp->put);
	free(pp);
	st->priv = NULL;
}

/*
 * Compile the regex or check the codec, the columns and the field, so
 * that `cspipe validate` reports each at its position.  Returns 0, or -1
 * after a diagnostic.
 */
static int parse_check(struct stage *st, struct diags *d)
{
	const struct parse_conf *c = st->conf;
	struct parse_priv *pp;
	char msg[256];
	size_t off = 0, bad = 0;

	parse_free(st);
	pp = st->priv = csp_calloc(1, sizeof *pp);
	if (!c->regex == (c->codec == CODEC_TEXT)) {
		diag_at(d, stage_pos(st), c->regex
			 ? "parse takes regex or codec, not both"
			 : "parse needs regex or codec (json, csv or logfmt)");
		return -1;
	}
	if (c->regex) {
		pp->re = pattern_compile(c->regex, strlen(c->regex),
					 c->ignore_case ? PAT_ICASE : 0, msg, sizeof msg, &off);
		if (!pp->re) {
			diag_at(d, key_pos(st, "regex"), "bad pattern: %s at offset %zu", msg, off);
			return -1;
		}
		const char *name;
		int group;
		for (uint32_t i = 0; pattern_name(pp->re, i, &name, &group) == 0; i++) {
			/* Insertion by group number: the fields come in the
			 * pattern's order, not the name table's. */
			size_t k = pp->ngroups++;
			pp->groups = csp_realloc(pp->groups, pp->ngroups * sizeof *pp->groups);
			while (k > 0 && pp->groups[k - 1].group > group) {
				pp->groups[k] = pp->groups[k - 1];
				k--;
			}
			pp->groups[k].name = name;
			pp->groups[k].group = group;
		}
		if (pp->ngroups == 0) {
			diag_at(d, key_pos(st, "regex"), "regex: no named group: name the "
				 "fields with (?<name>...)");
			return -1;
		}
	}
	if (c->columns.n && c->codec != CODEC_CSV) {
		diag_at(d, key_pos(st, "columns"), "columns: only codec csv takes columns");
		return -1;
	}
	if (c->codec == CODEC_CSV && !c->columns.n) {
		diag_at(d, key_pos(st, "codec"), "codec csv needs columns: each record is one "
			 "row, with no header");
		return -1;
	}
	if (columns_compile(&pp->cols, c->columns.v, c->columns.n, msg, sizeof msg, &bad,
			    &off)) {
		diag_at(d, c->columns.at && c->columns.at[bad].file ? c->columns.at[bad]
			 : key_pos(st, "columns"), "columns: item %zu: bad path '%s': %s at "
			 "column %zu", bad + 1, c->columns.v[bad], msg, off + 1);
		return -1;
	}
	if (c->field) {
		struct jedit *ed;
		if (field_path(&pp->field, c->field, msg, sizeof msg, &off)) {
			diag_at(d, key_pos(st, "field"), "field: bad path '%s': %s at column %zu",
				 c->field, msg, off + 1);
			return -1;
		}
		for (size_t i = 0; i < pp->field.n; i++)
			if (!pp->field.steps[i].key) {
				diag_at(d, key_pos(st, "field"), "field: '%s' is not a member "
					 "path such as .a or .a.b", c->field);
				return -1;
			}
		if (pp->field.n == 0) {
			diag_at(d, key_pos(st, "field"), "field: '.' is the record; leave "
				 "field out to parse the whole record");
			return -1;
		}
		pp->put.v = csp_calloc(1, sizeof *pp->put.v);
		pp->put.n = 1;
		ed = &pp->put.v[0];
		ed->kind = JE_SET;
		ed->src = JS_CONST;
		ed->dynamic = 1;
		if (field_path(&ed->path, c->field, msg, sizeof msg, &off))
			abort();   /* it parsed a moment ago */
		pp->by_field = 1;
	}
	return 0;
}

struct parse_worker {
	struct pattern_match *m;
	struct decoder *dec;
	struct jdoc *doc;
	struct buf value, rec, tmp;
};

static void *parse_worker_new(struct stage *st, int index)
{
	const struct parse_conf *c = st->conf;
	const struct parse_priv *pp = st->priv;
	struct parse_worker *pw = csp_calloc(1, sizeof *pw);

	if (pp->re)
		pw->m = pattern_match_new(pp->re);
	else
		pw->dec = decoder_new((enum codec)c->codec, c->on_error, &pp->cols);
	pw->doc = jdoc_new();
	(void)index;
	return pw;
}

static void parse_worker_free(struct stage *st, void *state)
{
	struct parse_worker *pw = state;

	if (!pw)
		return;
	pattern_match_free(pw->m);
	decoder_free(pw->dec);
	jdoc_free(pw->doc);
	buf_free(&pw->value);
	buf_free(&pw->rec);
	buf_free(&pw->tmp);
	free(pw);
}

/* The named groups of the last match of s as a JSON object in out; a
 * group that took no part is null. */
static void captures_json(const struct parse_priv *pp, struct pattern_match *m, const char *s,
			  struct buf *out)
{
	const size_t *ov = pattern_ovector(m);

	out->len = 0;
	jbuf_put(out, '{');
	for (size_t i = 0; i < pp->ngroups; i++) {
		const char *name = pp->groups[i].name;
		int group = pp->groups[i].group;
		if (i)
			jbuf_put(out, ',');
		json_put_string(out, name, strlen(name));
		jbuf_put(out, ':');
		if (ov[2 * group] == (size_t)-1)
			buf_append(out, "null", 4);
		else
			json_put_string(out, s + ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
	}
	jbuf_put(out, '}');
}

/*
 * Parse text s[0..n) into a JSON value.  Returns 1 with *json, *jlen, 0
 * when it does not match or decode (*why), or -1 on a pattern's limit
 * (*why).
 */
static int parse_text(const struct parse_priv *pp, struct parse_worker *pw, const char *s,
		      size_t n, const char **json, size_t *jlen, const char **why)
{
	if (pp->re) {
		int r = pattern_exec(pp->re, pw->m, s, n, 0);
		if (r < 0) {
			*why = pattern_errtext(pw->m);
			return -1;
		}
		if (r == 0) {
			*why = "no match for the regex";
			return 0;
		}
		captures_json(pp, pw->m, s, &pw->value);
		*json = pw->value.p;
		*jlen = pw->value.len;
		return 1;
	}
	return decoder_one(pw->dec, s, n, json, jlen, why) == 0 ? 1 : 0;
}

/*
 * The new value of record s[0..n) (room: bytes readable after it) in
 * *out, *olen.  Returns 1, 0 (does not parse: *why), or -1 (a limit).
 */
static int parse_record(const struct parse_priv *pp, struct parse_worker *pw, const char *s,
			size_t n, size_t room, const char **out, size_t *olen, const char **why)
{
	struct jval root, v;
	const char *text, *json;
	size_t tlen, jlen;
	int r;

	if (!pp->by_field)
		return parse_text(pp, pw, s, n, out, olen, why);
	if (jdoc_parse(pw->doc, s, n, room) != 0) {
		*why = "the record is not JSON, so its field cannot be read";
		return 0;
	}
	jdoc_root(pw->doc, &root);
	if (root.type != JT_OBJECT) {
		*why = "the record is not a JSON object";
		return 0;
	}
	if (!jpath_eval(&pp->field, &root, &v) || v.type == JT_NULL) {
		*why = "the field is missing";
		return 0;
	}
	if (v.type == JT_STRING) {
		text = v.str;
		tlen = v.len;
	} else {
		pw->tmp.len = 0;
		json_put_value(&pw->tmp, &v);
		text = pw->tmp.p;
		tlen = pw->tmp.len;
	}
	r = parse_text(pp, pw, text, tlen, &json, &jlen, why);
	if (r <= 0)
		return r;
	/* The decoded value goes in as the field's new JSON; the document
	 * still holds the record (parse_text used other buffers). */
	{
		struct buf dyn = { (char *)json, jlen, jlen };
		jedits_apply(&pp->put, &root, &pw->rec, &pw->tmp, &dyn);
	}
	*out = pw->rec.p;
	*olen = pw->rec.len;
	return 1;
}

/*
 * Parse batch in into new batches pushed on out in order.  Takes
 * ownership of in.  Records dropped by on_error are counted as dropped.
 * Returns STAGE_OK, STAGE_STOP when the output is gone, or STAGE_ERROR
 * after err_set.
 */
static int parse_process(struct worker *w, struct batch *in, struct outq *out, struct err *e)
{
	const struct parse_conf *c = w->stage->conf;
	const struct parse_priv *pp = w->stage->priv;
	struct parse_worker *pw = w->state;
	struct batch *o = NULL;
	uint64_t dropped = 0;
	int rc = STAGE_OK;

	for (uint32_t i = 0; i < in->n; i++) {
		const char *s = in->data + in->recs[i].off, *val = NULL, *why = "";
		size_t n = in->recs[i].len, vlen = 0;
		int r = parse_record(pp, pw, s, n, in->cap - in->recs[i].off - n, &val, &vlen,
				     &why);

		if (r <= 0) {
			if (r == 0 && c->on_error == CODEC_DROP) {
				dropped++;
				continue;
			}
			if (r == 0 && c->on_error == CODEC_KEEP) {
				val = s;
				vlen = n;
			} else {
				err_set(e, "%s: record %" PRIu64 ": %s", in->origin ? in->origin
					: "input", in->first_rec ? in->first_rec + in->recs[i].tag
					: (uint64_t)i + 1, why);
				rc = STAGE_ERROR;
				break;
			}
		}
		if (outq_add(out, &o, in, val, vlen, in->recs[i].tag) != 0) {
			rc = STAGE_STOP;
			break;
		}
	}
	wstat_add(&w->stats->dropped, dropped);
	/* After an error the records before the bad one still go on. */
	if (outq_done(out, &o, rc == STAGE_STOP) != 0 && rc == STAGE_OK)
		rc = STAGE_STOP;
	batch_free(in);
	return rc;
}

const struct stage_kind kind_parse = {
	.name = "parse",
	.summary = "decode text in the pipeline into structured records (regex, json, csv, logfmt)",
	.role = ROLE_TRANSFORM,
	.flags = 0,
	.options = parse_options,
	.conf_size = sizeof(struct parse_conf),
	.shorthand = "regex",
	.example = "parse: {regex: '(?<ip>\\S+) \\S+ \\S+ \\[(?<time>[^]]+)\\] \"(?<request>[^\"]*)\"'}",
	.worker_mem = 256 * 1024,
	.check = parse_check,
	.worker_new = parse_worker_new,
	.worker_free = parse_worker_free,
	.process = parse_process,
	.free = parse_free,
};
