/* SPDX-License-Identifier: MIT */
/*
 * jedit.c - set, delete, rename and keep on structured records (jedit.h).
 *
 * Applying edits walks the record's object once per level: each member
 * is written as it was, or replaced, or left out, or descended into when
 * an edit's path goes deeper; the edits that found no member are then
 * added at the end.  Which edits apply at a level is a small array of
 * indexes on the stack.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "base/util.h"
#include "records/jedit.h"

/* Is s[0..n) a JSON number, true, false or null, as written? */
static int json_scalar(const char *s, size_t n)
{
	size_t i = 0;

	if ((n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "null", 4))) ||
	    (n == 5 && !memcmp(s, "false", 5)))
		return 1;
	if (i < n && s[i] == '-')
		i++;
	if (i >= n || !isdigit((unsigned char)s[i]))
		return 0;
	if (s[i] == '0')
		i++;
	else
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || !isdigit((unsigned char)s[i]))
			return 0;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !isdigit((unsigned char)s[i]))
			return 0;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
	}
	return i == n;
}

static void add_piece(struct jedit *ed, const char *text, size_t len, struct jpath *path)
{
	struct jpiece *p;

	ed->pieces = csp_realloc(ed->pieces, (ed->npieces + 1) * sizeof *ed->pieces);
	p = &ed->pieces[ed->npieces++];
	memset(p, 0, sizeof *p);
	if (path) {
		p->path = *path;
	} else {
		p->text = csp_malloc(len + 1);
		memcpy(p->text, text, len);
		p->text[len] = '\0';
		p->len = len;
	}
}

/*
 * Compile a set value (jedit.h).  Templates: $.path, $(.path), $$ for a
 * dollar sign; any other '$' is an error.
 */
int jedit_value(struct jedit *ed, const char *s, size_t len, int plain, char *msg,
		size_t msglen, size_t *at)
{
	struct buf lit = { 0 };
	size_t i = 0;

	if (plain && json_scalar(s, len)) {
		ed->src = JS_CONST;
		ed->json = csp_malloc(len + 1);
		memcpy(ed->json, s, len);
		ed->json[len] = '\0';
		ed->json_len = len;
		return 0;
	}
	ed->src = JS_TEMPLATE;
	while (i < len) {
		struct jpath p;
		size_t used = 0, off = 0;
		int paren;

		if (s[i] != '$') {
			jbuf_put(&lit, s[i++]);
			continue;
		}
		if (i + 1 < len && s[i + 1] == '$') {
			jbuf_put(&lit, '$');
			i += 2;
			continue;
		}
		paren = i + 1 < len && s[i + 1] == '(';
		if (i + 1 + paren >= len || s[i + 1 + paren] != '.') {
			snprintf(msg, msglen, "'$' must be followed by a path (.name), "
				 "(.path) or another '$'");
			*at = i;
			goto fail;
		}
		if (jpath_parse(&p, s + i + 1 + paren, len - i - 1 - paren, 0, &used, msg,
				msglen, &off)) {
			*at = i + 1 + paren + off;
			goto fail;
		}
		i += 1 + paren + used;
		if (paren) {
			if (i >= len || s[i] != ')') {
				jpath_free(&p);
				snprintf(msg, msglen, "expected ')' after the path");
				*at = i;
				goto fail;
			}
			i++;
		}
		if (lit.len) {
			add_piece(ed, lit.p, lit.len, NULL);
			lit.len = 0;
		}
		add_piece(ed, NULL, 0, &p);
	}
	if (lit.len || ed->npieces == 0)
		add_piece(ed, lit.p ? lit.p : "", lit.len, NULL);
	buf_free(&lit);
	/* Exactly one path and nothing else: the value is copied with its
	 * type, as jq's .a = .b. */
	if (ed->npieces == 1 && !ed->pieces[0].text) {
		ed->from = ed->pieces[0].path;
		free(ed->pieces);
		ed->pieces = NULL;
		ed->npieces = 0;
		ed->src = JS_COPY;
	}
	return 0;
fail:
	buf_free(&lit);
	return -1;
}

void jedits_free(struct jedits *e)
{
	for (size_t i = 0; i < e->n; i++) {
		struct jedit *ed = &e->v[i];
		jpath_free(&ed->path);
		jpath_free(&ed->from);
		free(ed->json);
		for (size_t k = 0; k < ed->npieces; k++) {
			free(ed->pieces[k].text);
			jpath_free(&ed->pieces[k].path);
		}
		free(ed->pieces);
	}
	free(e->v);
	memset(e, 0, sizeof *e);
}

/* One path of a template, for jedit_render. */
static int render_path(const struct jpath *p, const struct jval *root, struct buf *out,
		       jedit_piece_fn *check, void *arg)
{
	size_t at = out->len;
	struct jval v;

	jpath_eval(p, root, &v);
	json_put_text(out, &v);
	if (!check)
		return 0;
	return check(&v, out->len > at ? out->p + at : "", out->len - at, arg);
}

int jedit_render(const struct jedit *ed, const struct jval *root, struct buf *out,
		 jedit_piece_fn *check, void *arg)
{
	int r = 0;

	switch (ed->src) {
	case JS_CONST:
		buf_append(out, ed->json, ed->json_len);
		break;
	case JS_COPY:
		r = render_path(&ed->from, root, out, check, arg);
		break;
	case JS_TEMPLATE:
		for (size_t k = 0; !r && k < ed->npieces; k++) {
			if (ed->pieces[k].text)
				buf_append(out, ed->pieces[k].text, ed->pieces[k].len);
			else
				r = render_path(&ed->pieces[k].path, root, out, check, arg);
		}
		break;
	}
	return r;
}

/* One application of an edit list. */
struct apply {
	const struct jedits *e;
	const struct jval *root;
	struct buf *out, *tmp;
	const struct buf *dyn;
};

/* The value an edit sets, appended to out. */
static void put_new_value(const struct apply *a, const struct jedit *ed)
{
	const struct jval *root = a->root;
	struct buf *out = a->out, *tmp = a->tmp;
	struct jval v;

	switch (ed->src) {
	case JS_CONST:
		if (ed->dynamic)
			buf_append(out, a->dyn->p, a->dyn->len);
		else
			buf_append(out, ed->json, ed->json_len);
		break;
	case JS_COPY:
		jpath_eval(&ed->from, root, &v);
		json_put_value(out, &v);
		break;
	case JS_TEMPLATE:
		tmp->len = 0;
		jedit_render(ed, root, tmp, NULL, NULL);
		json_put_string(out, tmp->p, tmp->len);
		break;
	}
}

/* What edit i does at a member reached at depth: its step there. */
static const struct jstep *step_at(const struct jedits *e, int i, size_t depth)
{
	return &e->v[i].path.steps[depth];
}

static int key_is(const struct jstep *s, const char *k, size_t kl)
{
	return s->key && s->klen == kl && !memcmp(s->key, k, kl);
}

static void put_level(const struct apply *a, const int *idx, size_t nidx, size_t depth,
		      const struct jval *obj, int *first);

/* Write the member set by the edits idx (all reaching this key) whose
 * value vin may be NULL (a new member). */
static void put_member(const struct apply *a, const int *idx, size_t nidx, size_t depth,
		       const char *k, size_t kl, const struct jval *vin, int *first)
{
	const struct jedits *e = a->e;
	struct buf *out = a->out;
	int deeper[JEDIT_MAX];
	size_t nd = 0;
	int last = -1;

	/* The last edit that ends here decides (set wins over an earlier
	 * delete of the same path, and the other way round). */
	for (size_t j = 0; j < nidx; j++) {
		if (e->v[idx[j]].path.n == depth + 1)
			last = idx[j];
		else
			deeper[nd++] = idx[j];
	}
	if (last >= 0 && e->v[last].kind == JE_DELETE && nd == 0)
		return;
	if (last < 0 && !vin && nd == 0)
		return;
	if (!*first)
		jbuf_put(out, ',');
	*first = 0;
	json_put_string(out, k, kl);
	jbuf_put(out, ':');
	if (nd > 0) {
		struct jval base;
		int f2 = 1;
		if (last >= 0 && e->v[last].kind == JE_SET) {
			/* Set, then edited deeper: rare; the set value wins. */
			put_new_value(a, &e->v[last]);
			return;
		}
		if (vin && vin->type == JT_OBJECT && !(last >= 0))
			base = *vin;
		else
			memset(&base, 0, sizeof base);  /* JT_NULL: made anew */
		if (base.type != JT_OBJECT && vin && last < 0) {
			/* Not an object: a delete below it does nothing; a set
			 * makes it one. */
			int any_set = 0;
			for (size_t j = 0; j < nd; j++)
				any_set |= e->v[deeper[j]].kind == JE_SET;
			if (!any_set) {
				json_put_value(out, vin);
				return;
			}
		}
		jbuf_put(out, '{');
		put_level(a, deeper, nd, depth + 1, &base, &f2);
		jbuf_put(out, '}');
		return;
	}
	if (last >= 0)
		put_new_value(a, &e->v[last]);
	else
		json_put_value(out, vin);
}

/*
 * A top-level member under a one-step rename: written under its new
 * name, or left out when a rename writes another member under its name
 * (the renamed field replaces it, as mlr rename does).  Returns 1 when
 * the member was dealt with.
 */
static int renamed(const struct jedits *e, const int *idx, size_t nidx, const char *k,
		   size_t kl, const struct jval *v, struct buf *out, int *first)
{
	for (size_t j = 0; j < nidx; j++) {
		const struct jedit *ed = &e->v[idx[j]];
		if (ed->kind != JE_RENAME || !key_is(&ed->from.steps[0], k, kl))
			continue;
		if (!*first)
			jbuf_put(out, ',');
		*first = 0;
		json_put_string(out, ed->path.steps[0].key, ed->path.steps[0].klen);
		jbuf_put(out, ':');
		json_put_value(out, v);
		return 1;
	}
	for (size_t j = 0; j < nidx; j++) {
		const struct jedit *ed = &e->v[idx[j]];
		if (ed->kind == JE_RENAME && key_is(&ed->path.steps[0], k, kl))
			return 1;
	}
	return 0;
}

/* keep: is the field an edit copies there? */
static int kept_value(const struct jedit *ed, const struct jval *root)
{
	struct jval v;

	return ed->src != JS_COPY || jpath_eval(&ed->from, root, &v);
}

/*
 * Write the members of obj (an object, or JT_NULL for a new one) at depth,
 * with the edits idx applied, without braces.
 */
static void put_level(const struct apply *a, const int *idx, size_t nidx, size_t depth,
		      const struct jval *obj, int *first)
{
	const struct jedits *e = a->e;
	struct buf *out = a->out;
	unsigned char used[JEDIT_MAX] = { 0 };
	int here[JEDIT_MAX];
	struct jiter it;
	struct jval v;
	const char *k;
	size_t kl;

	if (obj->type == JT_OBJECT && !e->keep) {
		jval_iter(obj, &it);
		while (jval_next(&it, obj, &k, &kl, &v)) {
			size_t nh = 0;
			if (depth == 0 && renamed(e, idx, nidx, k, kl, &v, out, first))
				continue;
			for (size_t j = 0; j < nidx; j++)
				if (e->v[idx[j]].kind != JE_RENAME &&
				    key_is(step_at(e, idx[j], depth), k, kl)) {
					here[nh++] = idx[j];
					used[j] = 1;
				}
			if (nh == 0) {
				if (!*first)
					jbuf_put(out, ',');
				*first = 0;
				json_put_string(out, k, kl);
				jbuf_put(out, ':');
				json_put_value(out, &v);
				continue;
			}
			put_member(a, here, nh, depth, k, kl, &v, first);
		}
	}
	/* New members, in the order of their first edit. */
	for (size_t j = 0; j < nidx; j++) {
		size_t nh = 0;
		const struct jstep *s = step_at(e, idx[j], depth);
		if (used[j] || e->v[idx[j]].kind != JE_SET)
			continue;
		if (e->keep && !kept_value(&e->v[idx[j]], a->root))
			continue;
		for (size_t m = j; m < nidx; m++)
			if (!used[m] && e->v[idx[m]].kind != JE_RENAME && key_is(step_at(e, idx[m], depth), s->key, s->klen)) {
				here[nh++] = idx[m];
				used[m] = 1;
			}
		put_member(a, here, nh, depth, s->key, s->klen, NULL, first);
	}
}

int jedits_apply(const struct jedits *e, const struct jval *root, struct buf *out,
		 struct buf *tmp, const struct buf *dyn)
{
	struct apply a = { e, root, out, tmp, dyn };
	int idx[JEDIT_MAX];
	int first = 1;

	if (root->type != JT_OBJECT)
		return -1;
	for (size_t i = 0; i < e->n; i++)
		idx[i] = (int)i;
	out->len = 0;
	jbuf_put(out, '{');
	put_level(&a, idx, e->n, 0, root, &first);
	jbuf_put(out, '}');
	return 0;
}
