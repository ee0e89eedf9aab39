/* SPDX-License-Identifier: MIT */
/*
 * filter.c - the `filter` stage: keep the records that match a pattern
 * (or, with invert, those that do not), as grep does.
 *
 * A batch is filtered in place: the record array is compacted and no byte
 * moves, so every kept record is still followed by its terminator.
 *
 * The fast path.  When the pattern has a literal prefilter (pattern.h:
 * every match contains one of a few literals, none holding '\n' or '\0')
 * and the batch's records lie in data in increasing order, the whole data
 * buffer is searched for the literals at once instead of record by record,
 * and the hits are mapped to records:
 *
 *   - a record that holds no hit cannot match, so it is decided without
 *     PCRE2; the search skips it at vector speed;
 *   - a record that holds a hit is decided by PCRE2 on that record alone,
 *     exactly as the slow path would (for an exact prefilter, such as an
 *     alternation of words or a fixed string, the hit itself decides).
 *
 * Why a hit is always inside one record: a record's bytes are followed by
 * its terminator in data, and no literal contains a terminator byte, so an
 * occurrence that starts inside a record also ends inside it.  Hits that
 * start between records (bytes of records an earlier stage removed) are
 * skipped.  Records are matched as separate subjects either way, so
 * anchors, lookbehinds and \z see exactly one record, as they do on the
 * slow path: the two paths decide every record identically.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "records/json_doc.h"
#include "records/jpath.h"
#include "records/pattern.h"
#include "records/where.h"
#include "core/stage.h"

enum { ON_ERROR_FAIL, ON_ERROR_DROP, ON_ERROR_KEEP };

struct filter_conf {
	char *pattern;
	char *where;
	char *field;
	int ignore_case;
	int invert;
	int fixed;
	int on_error;
	int64_t match_limit;
	int64_t depth_limit;
};

static const char *const on_error_names[] = { "fail", "drop", "keep", NULL };

static const struct option filter_options[] = {
	{ .name = "pattern", .type = OPT_STRING,
	  .offset = offsetof(struct filter_conf, pattern),
	  .doc = "PCRE2 pattern (or fixed string) searched for in each record" },
	{ .name = "where", .type = OPT_STRING, .offset = offsetof(struct filter_conf, where),
	  .doc = "keep the structured records for which this expression is true" },
	{ .name = "field", .type = OPT_STRING, .offset = offsetof(struct filter_conf, field),
	  .doc = "match the pattern against this field's text (a path such as .Content)" },
	{ .name = "ignore_case", .type = OPT_BOOL,
	  .offset = offsetof(struct filter_conf, ignore_case), .def = "false",
	  .doc = "match ASCII letters regardless of case" },
	{ .name = "invert", .type = OPT_BOOL,
	  .offset = offsetof(struct filter_conf, invert), .def = "false",
	  .doc = "keep the records that do not match (grep -v)" },
	{ .name = "fixed", .type = OPT_BOOL,
	  .offset = offsetof(struct filter_conf, fixed), .def = "false",
	  .doc = "the pattern is a literal string (grep -F)" },
	{ .name = "on_error", .type = OPT_ENUM,
	  .offset = offsetof(struct filter_conf, on_error), .def = "fail",
	  .doc = "a record that hits a match limit (or, with where, is not JSON): fail the run, drop it, or keep it",
	  .choices = on_error_names },
	{ .name = "match_limit", .type = OPT_INT,
	  .offset = offsetof(struct filter_conf, match_limit), .def = "10000000",
	  .doc = "most backtracking steps PCRE2 may take on one record",
	  .min = 1, .max = UINT32_MAX },
	{ .name = "depth_limit", .type = OPT_INT,
	  .offset = offsetof(struct filter_conf, depth_limit), .def = "100000",
	  .doc = "deepest backtracking PCRE2 may reach on one record",
	  .min = 1, .max = UINT32_MAX },
	{ .name = NULL },
};

/* Where a bad pattern or expression is reported: its own value. */
static struct pos option_pos(const struct stage *st, const char *key)
{
	struct pos at = stage_opt_pos(st, key);

	return at.file ? at : stage_pos(st);
}

/* What check compiles: one of the two (the pattern first: test_filter
 * reads it). */
struct filter_priv {
	struct pattern *pattern;
	struct where *where;
	struct jpath field;      /* n == 0 and no text: the whole record */
	int by_field;
};

/* Compile the pattern or the expression, so that `cspipe validate`
 * reports a bad one at its position.  Returns 0, or -1 after a
 * diagnostic. */
static int filter_check(struct stage *st, struct diags *d)
{
	const struct filter_conf *c = st->conf;
	unsigned flags = (c->ignore_case ? PAT_ICASE : 0) | (c->fixed ? PAT_FIXED : 0);
	struct filter_priv *fp;
	char msg[256];
	size_t off = 0;

	if (!c->pattern == !c->where) {
		diag_at(d, stage_pos(st), c->pattern
			 ? "filter takes pattern or where, not both"
			 : "missing required option 'pattern' for filter");
		return -1;
	}
	if (!st->priv)
		st->priv = csp_calloc(1, sizeof(struct filter_priv));
	fp = st->priv;
	jpath_free(&fp->field);
	fp->by_field = 0;
	if (c->field) {
		if (c->where) {
			diag_at(d, option_pos(st, "field"), "field goes with pattern; "
				 "where names its fields itself");
			return -1;
		}
		if (field_path(&fp->field, c->field, msg, sizeof msg, &off)) {
			diag_at(d, option_pos(st, "field"), "field: bad path '%s': %s at column %zu",
				 c->field, msg, off + 1);
			return -1;
		}
		fp->by_field = 1;
	}
	if (c->where) {
		struct where *w = where_compile(c->where, strlen(c->where), msg, sizeof msg, &off);
		if (!w) {
			diag_at(d, option_pos(st, "where"),
				 "bad where expression at column %zu: %s", off, msg);
			return -1;
		}
		where_free(fp->where);
		fp->where = w;
		return 0;
	}
	struct pattern *p = pattern_compile(c->pattern, strlen(c->pattern), flags, msg,
					    sizeof msg, &off);
	if (!p) {
		diag_at(d, option_pos(st, "pattern"), "bad pattern: %s at offset %zu", msg, off);
		return -1;
	}
	pattern_set_limits(p, (uint32_t)c->match_limit, (uint32_t)c->depth_limit);
	pattern_free(fp->pattern);
	fp->pattern = p;
	return 0;
}

static void filter_free(struct stage *st)
{
	struct filter_priv *fp = st->priv;

	pattern_free(fp->pattern);
	where_free(fp->where);
	jpath_free(&fp->field);
	free(fp);
	st->priv = NULL;
}

/* A worker's state: match data, or for where a JSON document. */
struct filter_worker {
	struct pattern_match *m;
	struct where_match *wm;
	struct jdoc *doc;
	struct field_reader *fr;  /* with field */
};

static void *filter_worker_new(struct stage *st, int index)
{
	const struct filter_priv *fp = st->priv;
	struct filter_worker *fw = csp_calloc(1, sizeof *fw);

	if (fp->where) {
		fw->wm = where_match_new(fp->where);
		fw->doc = jdoc_new();
	} else {
		fw->m = pattern_match_new(fp->pattern);
	}
	if (fp->by_field)
		fw->fr = field_reader_new();
	return fw;
}

static void filter_worker_free(struct stage *st, void *state)
{
	struct filter_worker *fw = state;

	pattern_match_free(fw->m);
	where_match_free(fw->wm);
	jdoc_free(fw->doc);
	field_reader_free(fw->fr);
	free(fw);
}

/* Does record s[0..len) match?  1, 0, or PAT_LIMIT / PAT_ERROR. */
static int record_matches(const struct pattern *p, struct pattern_match *m,
			  int scan, const char *s, size_t len)
{
	if (scan != PAT_SCAN_NONE) {
		if (!pattern_scan(p, s, len))
			return 0;
		if (scan == PAT_SCAN_EXACT)
			return 1;
	}
	return pattern_exec(p, m, s, len, 0);
}

struct pass {
	const struct filter_conf *c;
	struct pattern_match *m;
	const char *why;            /* with where: why a record failed */
	struct batch *b;
	uint32_t kept;              /* records compacted so far */
	uint64_t filtered, dropped;
};

/*
 * Apply the outcome r of record i (in order: i never falls behind kept).
 * Returns 0, or -1 after err_set when on_error is fail.
 */
static int outcome(struct pass *ps, uint32_t i, int r, struct err *e)
{
	struct batch *b = ps->b;
	int keep;

	if (r >= 0) {
		keep = r != ps->c->invert;
		if (!keep)
			ps->filtered++;
	} else {
		switch (ps->c->on_error) {
		case ON_ERROR_DROP:
			keep = 0;
			ps->dropped++;
			break;
		case ON_ERROR_KEEP:
			keep = 1;
			break;
		default: {
			char where[768];

			batch_rec_where(where, sizeof where, b, i);
			if (ps->why)
				err_set(e, "%s: %s", where, ps->why);
			else
				err_set(e, "%s: %s (match_limit %" PRId64 ", depth_limit %" PRId64 ")",
					where, pattern_errtext(ps->m), ps->c->match_limit,
					ps->c->depth_limit);
			return -1;
		}
		}
	}
	if (keep)
		b->recs[ps->kept++] = b->recs[i];
	return 0;
}

/* Can the whole data buffer be searched at once?  Records must follow one
 * another (gaps allowed) and be terminated; then the end of the last one
 * bounds the search. */
static int batch_scannable(const struct batch *b, size_t *end)
{
	size_t t = batch_term_len(b), covered = 0, prev_end = 0;

	if (t == 0 || b->n == 0)
		return 0;
	for (uint32_t i = 0; i < b->n; i++) {
		if (b->recs[i].off < prev_end)
			return 0;
		prev_end = (size_t)b->recs[i].off + b->recs[i].len + t;
		covered += b->recs[i].len + t;
	}
	/* Mostly gaps (an earlier filter removed most records): searching
	 * them would be wasted; go record by record. */
	if (covered < (prev_end - b->recs[0].off) / 2)
		return 0;
	*end = prev_end - t;
	return 1;
}

/*
 * Filter batch b in place and pass it on.  Takes ownership of b.  Counts
 * records removed by the pattern as filtered and records lost to a limit
 * with on_error: drop as dropped.  Returns STAGE_OK, STAGE_STOP when the
 * output is gone, or STAGE_ERROR after err_set (on_error: fail), when the
 * records kept before the failing one have gone on.
 */
static int filter_process(struct worker *w, struct batch *b, struct outq *out,
			  struct err *e)
{
	const struct filter_priv *fp = w->stage->priv;
	const struct pattern *p = fp->pattern;
	struct filter_worker *fw = w->state;
	struct pass ps = { w->stage->conf, fw->m, NULL, b, 0, 0, 0 };
	int scan = p ? pattern_scan_kind(p) : PAT_SCAN_NONE;
	size_t end = 0;
	int rc = STAGE_OK;
	uint32_t i = 0;

	if (fp->where) {
		char why[256];
		for (; i < b->n; i++) {
			const struct rec *r = &b->recs[i];
			struct jval root;
			int res;

			ps.why = NULL;			if (jdoc_parse(fw->doc, b->data + r->off, r->len,
				       b->cap - r->off - r->len) != 0) {
				snprintf(why, sizeof why, "not JSON (%s), so where cannot read it",
					 jdoc_error(fw->doc));
				ps.why = why;
				res = PAT_ERROR;
			} else {
				jdoc_root(fw->doc, &root);
				res = where_eval(fp->where, fw->wm, &root);
				if (res < 0) {
					snprintf(why, sizeof why, "%s", where_errtext(fw->wm));
					ps.why = why;
				}
			}
			if (outcome(&ps, i, res, e) < 0)
				goto fail;
		}
	} else if (fp->by_field) {
		char why[256];
		for (; i < b->n; i++) {
			const struct rec *r = &b->recs[i];
			const char *t;
			size_t tl;
			int res;

			ps.why = NULL;
			res = field_read(fw->fr, &fp->field, b->data + r->off, r->len,
					     b->cap - r->off - r->len, &t, &tl);
			if (res < 0) {
				snprintf(why, sizeof why, "not JSON (%s), so its field %s cannot "
					 "be read", field_reader_error(fw->fr), fp->field.text);
				ps.why = why;
				res = PAT_ERROR;
			} else if (res > 0) {
				res = record_matches(p, ps.m, scan, t, tl);
			}
			if (outcome(&ps, i, res, e) < 0)
				goto fail;
		}
	} else if (scan != PAT_SCAN_NONE && batch_scannable(b, &end)) {
		size_t pos = b->recs[0].off;
		while (i < b->n) {
			const char *h = pattern_scan(p, b->data + pos, end - pos);
			size_t hp = h ? (size_t)(h - b->data) : SIZE_MAX;

			/* Records that end before the first hit at or after
			 * pos hold none (all the rest, when there is no hit). */
			while (i < b->n && (size_t)b->recs[i].off + b->recs[i].len <= hp) {
				if (outcome(&ps, i, 0, e) < 0)
					goto fail;
				i++;
			}
			if (i == b->n)
				break;
			const struct rec *r = &b->recs[i];
			if (hp >= r->off) {
				int res = scan == PAT_SCAN_EXACT ? 1
					: pattern_exec(p, ps.m, b->data + r->off, r->len, 0);
				if (outcome(&ps, i, res, e) < 0)
					goto fail;
				i++;
			}
			/* A hit between records (in bytes no record owns) only
			 * moves the search to the next record. */
			if (i < b->n)
				pos = b->recs[i].off;
		}
	} else {
		for (; i < b->n; i++) {
			const struct rec *r = &b->recs[i];
			int res = record_matches(p, ps.m, scan, b->data + r->off, r->len);
			if (outcome(&ps, i, res, e) < 0)
				goto fail;
		}
	}
	goto out;
fail:
	/* The records kept before the failing one still go on. */
	rc = STAGE_ERROR;
out:
	wstat_add(&w->stats->filtered, ps.filtered);
	wstat_add(&w->stats->dropped, ps.dropped);
	b->n = ps.kept;
	b->records = ps.kept;
	b->port = 0;
	if (b->n == 0) {
		batch_free(b);
		return rc;
	}
	if (outq_push(out, b) != 0 && rc == STAGE_OK)
		rc = STAGE_STOP;
	return rc;
}

const struct stage_kind kind_filter = {
	.name = "filter",
	.summary = "keep the records that match a pattern (as grep -P) or a where expression",
	.role = ROLE_TRANSFORM,
	.flags = 0,
	.options = filter_options,
	.conf_size = sizeof(struct filter_conf),
	.shorthand = "pattern",
	.example = "filter: '(?i)error|fail(ed|ure)?|denied'",
	.worker_mem = 256 * 1024,
	.check = filter_check,
	.worker_new = filter_worker_new,
	.worker_free = filter_worker_free,
	.process = filter_process,
	.free = filter_free,
};
