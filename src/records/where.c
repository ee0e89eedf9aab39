/* SPDX-License-Identifier: MIT */
/*
 * where.c - compiling and evaluating `where:` expressions (where.h).
 *
 * The compiler is a recursive-descent parser that builds a small tree of
 * nodes in one array; evaluation walks it with values borrowed from the
 * record's document, so nothing is allocated per record.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "base/util.h"
#include "records/jpath.h"
#include "records/pattern.h"
#include "records/where.h"

enum op {
	N_PATH, N_LIT, N_EXISTS, N_NOT, N_AND, N_OR,
	N_EQ, N_NE, N_LT, N_LE, N_GT, N_GE, N_MATCH, N_NOMATCH, N_IN,
};

struct wnode {
	enum op op;
	int a, b;                /* children (indexes), -1: none */
	struct jpath path;       /* N_PATH, N_EXISTS */
	struct jval lit;         /* N_LIT (a string points into strs) */
	int re;                  /* N_MATCH / N_NOMATCH: index in res */
	int *set;                /* N_IN: literal nodes */
	size_t nset;
};

struct where {
	struct wnode *nodes;
	size_t n;
	int root;
	struct pattern **res;
	size_t nres;
	char **strs;             /* literal strings, decoded */
	size_t nstrs;
};

struct where_match {
	struct pattern_match **m;
	size_t n;
	const char *err;
	struct buf tmp;          /* a number's text, for =~ */
};

struct parser {
	struct where *w;
	const char *s;
	size_t len, i;
	char *msg;
	size_t msglen;
	size_t err_at;
	int failed;
};

static int fail(struct parser *p, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, size_t at, const char *fmt, ...)
{
	va_list ap;

	if (!p->failed) {
		va_start(ap, fmt);
		vsnprintf(p->msg, p->msglen, fmt, ap);
		va_end(ap);
		p->err_at = at;
		p->failed = 1;
	}
	return -1;
}

static void skip_ws(struct parser *p)
{
	while (p->i < p->len && isspace((unsigned char)p->s[p->i]))
		p->i++;
}

static int node_new(struct parser *p, enum op op, int a, int b)
{
	struct where *w = p->w;

	w->nodes = csp_realloc(w->nodes, (w->n + 1) * sizeof *w->nodes);
	memset(&w->nodes[w->n], 0, sizeof w->nodes[w->n]);
	w->nodes[w->n].op = op;
	w->nodes[w->n].a = a;
	w->nodes[w->n].b = b;
	return (int)w->n++;
}

static int accept(struct parser *p, const char *tok)
{
	size_t n = strlen(tok);

	skip_ws(p);
	if (p->len - p->i >= n && !memcmp(p->s + p->i, tok, n)) {
		/* A word must end there: `in` is not the start of `index`. */
		if (isalpha((unsigned char)tok[0]) && p->i + n < p->len &&
		    (isalnum((unsigned char)p->s[p->i + n]) || p->s[p->i + n] == '_'))
			return 0;
		p->i += n;
		return 1;
	}
	return 0;
}

static char *keep_str(struct parser *p, const char *s, size_t n)
{
	struct where *w = p->w;
	char *c = csp_malloc(n + 1);

	memcpy(c, s, n);
	c[n] = '\0';
	w->strs = csp_realloc(w->strs, (w->nstrs + 1) * sizeof *w->strs);
	w->strs[w->nstrs++] = c;
	return c;
}

/* A string literal at p->i: "JSON" or 'raw'.  Sets *out and *n.  Returns
 * 0 or -1. */
static int string_lit(struct parser *p, const char **out, size_t *n)
{
	size_t start = p->i;
	char q = p->s[p->i];

	if (q == '\'') {
		const char *end = memchr(p->s + p->i + 1, '\'', p->len - p->i - 1);
		if (!end)
			return fail(p, start, "%s", "unterminated string");
		*n = (size_t)(end - p->s) - p->i - 1;
		*out = keep_str(p, p->s + p->i + 1, *n);
		p->i = (size_t)(end - p->s) + 1;
		return 0;
	}
	/* "...": decoded as a one-step path's quoted key would be. */
	struct jpath tmp;
	size_t used = 0, at = 0;
	char m[64];
	{
		struct buf b = { 0 };
		buf_putc(&b, '.');
		/* Find the closing quote (skipping escapes). */
		size_t k = p->i + 1;
		while (k < p->len && p->s[k] != '"')
			k += p->s[k] == '\\' ? 2 : 1;
		if (k >= p->len) {
			buf_free(&b);
			return fail(p, start, "%s", "unterminated string");
		}
		buf_append(&b, p->s + p->i, k + 1 - p->i);
		if (jpath_parse(&tmp, b.p, b.len, 1, &used, m, sizeof m, &at)) {
			buf_free(&b);
			return fail(p, start + (at ? at - 1 : 0), "bad string: %s", m);
		}
		buf_free(&b);
		p->i = k + 1;
	}
	*n = tmp.steps[0].klen;
	*out = keep_str(p, tmp.steps[0].key, *n);
	jpath_free(&tmp);
	return 0;
}

/* A literal at p->i into *v.  Returns 0, or -1 (or 1: none there). */
static int literal(struct parser *p, struct jval *v)
{
	memset(v, 0, sizeof *v);
	skip_ws(p);
	if (p->i >= p->len)
		return 1;
	char c = p->s[p->i];
	if (c == '"' || c == '\'') {
		v->type = JT_STRING;
		return string_lit(p, &v->str, &v->len);
	}
	if (c == '-' || isdigit((unsigned char)c)) {
		char buf[64], *end;
		size_t k = 0;
		while (p->i + k < p->len && k < sizeof buf - 1 &&
		       (isalnum((unsigned char)p->s[p->i + k]) || strchr("+-.", p->s[p->i + k])))
			buf[k] = p->s[p->i + k], k++;
		buf[k] = '\0';
		v->type = JT_NUMBER;
		v->num = strtod(buf, &end);
		if (end == buf || *end || !isfinite(v->num))
			return fail(p, p->i, "bad number '%s'", buf);
		if (v->num == floor(v->num) && fabs(v->num) < 9.2e18) {
			v->is_int = 1;
			v->i = (int64_t)v->num;
		}
		p->i += k;
		return 0;
	}
	if (accept(p, "true")) { v->type = JT_TRUE; return 0; }
	if (accept(p, "false")) { v->type = JT_FALSE; return 0; }
	if (accept(p, "null")) { v->type = JT_NULL; return 0; }
	return 1;
}

static int expr(struct parser *p);

static int path_at(struct parser *p, struct jpath *path)
{
	char m[96];
	size_t used = 0, at = 0;

	if (jpath_parse(path, p->s + p->i, p->len - p->i, 0, &used, m, sizeof m, &at))
		return fail(p, p->i + at, "%s", m);
	p->i += used;
	return 0;
}

static int operand(struct parser *p)
{
	struct jval v;
	int n, r;

	skip_ws(p);
	if (p->i >= p->len)
		return fail(p, p->i, "%s", "expected a path, a value or '(' at the end");
	if (p->s[p->i] == '.') {
		n = node_new(p, N_PATH, -1, -1);
		return path_at(p, &p->w->nodes[n].path) ? -1 : n;
	}
	if (p->s[p->i] == '(') {
		p->i++;
		n = expr(p);
		if (n < 0)
			return -1;
		if (!accept(p, ")"))
			return fail(p, p->i, "%s", "expected ')'");
		return n;
	}
	if (accept(p, "exists")) {
		if (!accept(p, "("))
			return fail(p, p->i, "%s", "expected '(' after exists");
		skip_ws(p);
		n = node_new(p, N_EXISTS, -1, -1);
		if (p->i >= p->len || p->s[p->i] != '.')
			return fail(p, p->i, "%s", "exists() takes a path");
		if (path_at(p, &p->w->nodes[n].path))
			return -1;
		if (!accept(p, ")"))
			return fail(p, p->i, "%s", "expected ')'");
		return n;
	}
	size_t at = p->i;
	r = literal(p, &v);
	if (r < 0)
		return -1;
	if (r > 0) {
		char word[32];
		size_t k = 0;
		while (at + k < p->len && k < sizeof word - 1 &&
		       !isspace((unsigned char)p->s[at + k]))
			word[k] = p->s[at + k], k++;
		word[k] = '\0';
		return fail(p, at, "expected a path (.name), a value or '(', got '%s'", word);
	}
	n = node_new(p, N_LIT, -1, -1);
	p->w->nodes[n].lit = v;
	return n;
}

static int compare(struct parser *p)
{
	static const struct { const char *tok; enum op op; } ops[] = {
		{ "==", N_EQ }, { "!=", N_NE }, { "<=", N_LE }, { ">=", N_GE },
		{ "=~", N_MATCH }, { "!~", N_NOMATCH }, { "<", N_LT }, { ">", N_GT },
	};
	int a = operand(p), b;

	if (a < 0)
		return -1;
	if (accept(p, "in")) {
		int n = node_new(p, N_IN, a, -1);
		if (!accept(p, "["))
			return fail(p, p->i, "%s", "expected '[' after in");
		if (accept(p, "]"))
			return n;
		do {
			struct jval v;
			size_t at;
			skip_ws(p);
			at = p->i;
			int r = literal(p, &v);
			if (r < 0)
				return -1;
			if (r > 0)
				return fail(p, at, "%s", "expected a value in the list");
			int l = node_new(p, N_LIT, -1, -1);
			p->w->nodes[l].lit = v;
			struct wnode *nd = &p->w->nodes[n];
			nd->set = csp_realloc(nd->set, (nd->nset + 1) * sizeof *nd->set);
			nd->set[nd->nset++] = l;
		} while (accept(p, ","));
		if (!accept(p, "]"))
			return fail(p, p->i, "%s", "expected ',' or ']'");
		return n;
	}
	for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
		if (!accept(p, ops[k].tok))
			continue;
		if (ops[k].op == N_MATCH || ops[k].op == N_NOMATCH) {
			const char *re;
			size_t relen, at, off = 0;
			char m[200];
			skip_ws(p);
			at = p->i;
			if (p->i >= p->len || (p->s[p->i] != '\'' && p->s[p->i] != '"'))
				return fail(p, at, "%s", "=~ and !~ take a quoted regex");
			if (string_lit(p, &re, &relen))
				return -1;
			struct pattern *pat = pattern_compile(re, relen, 0, m, sizeof m, &off);
			if (!pat)
				return fail(p, at + 1 + off, "bad regex: %s", m);
			struct where *w = p->w;
			w->res = csp_realloc(w->res, (w->nres + 1) * sizeof *w->res);
			w->res[w->nres] = pat;
			int n = node_new(p, ops[k].op, a, -1);
			w->nodes[n].re = (int)w->nres++;
			return n;
		}
		b = operand(p);
		if (b < 0)
			return -1;
		return node_new(p, ops[k].op, a, b);
	}
	return a;
}

static int unary(struct parser *p)
{
	skip_ws(p);
	if (p->i < p->len && p->s[p->i] == '!' &&
	    !(p->i + 1 < p->len && (p->s[p->i + 1] == '=' || p->s[p->i + 1] == '~'))) {
		p->i++;
		int a = unary(p);
		return a < 0 ? -1 : node_new(p, N_NOT, a, -1);
	}
	return compare(p);
}

static int and_expr(struct parser *p)
{
	int a = unary(p);

	while (a >= 0 && accept(p, "&&")) {
		int b = unary(p);
		a = b < 0 ? -1 : node_new(p, N_AND, a, b);
	}
	return a;
}

static int expr(struct parser *p)
{
	int a = and_expr(p);

	while (a >= 0 && accept(p, "||")) {
		int b = and_expr(p);
		a = b < 0 ? -1 : node_new(p, N_OR, a, b);
	}
	return a;
}

struct where *where_compile(const char *src, size_t len, char *msg, size_t msglen,
			    size_t *col)
{
	struct parser p = { csp_calloc(1, sizeof(struct where)), src, len, 0, msg, msglen, 0, 0 };
	int root = expr(&p);

	skip_ws(&p);
	if (root >= 0 && p.i < len)
		fail(&p, p.i, "unexpected '%s'", (char[2]){ src[p.i], 0 });
	if (p.failed || root < 0) {
		*col = p.err_at + 1;
		where_free(p.w);
		return NULL;
	}
	p.w->root = root;
	return p.w;
}

void where_free(struct where *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++) {
		jpath_free(&w->nodes[i].path);
		free(w->nodes[i].set);
	}
	for (size_t i = 0; i < w->nres; i++)
		pattern_free(w->res[i]);
	for (size_t i = 0; i < w->nstrs; i++)
		free(w->strs[i]);
	free(w->nodes);
	free(w->res);
	free(w->strs);
	free(w);
}

struct where_match *where_match_new(const struct where *w)
{
	struct where_match *m = csp_calloc(1, sizeof *m);

	m->n = w->nres;
	m->m = csp_calloc(w->nres ? w->nres : 1, sizeof *m->m);
	for (size_t i = 0; i < w->nres; i++)
		m->m[i] = pattern_match_new(w->res[i]);
	return m;
}

void where_match_free(struct where_match *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		pattern_match_free(m->m[i]);
	free(m->m);
	buf_free(&m->tmp);
	free(m);
}

const char *where_errtext(const struct where_match *m)
{
	return m->err ? m->err : "no error";
}

/* ---- evaluation ------------------------------------------------------- */

/* Is s[0..n) a whole number (awk's numeric string: blanks around an
 * optional sign, digits, optional fraction and exponent)?  Sets *d. */
static int numeric_string(const char *s, size_t n, double *d)
{
	char buf[64], *end;

	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 0 || n >= sizeof buf)
		return 0;
	if (!isdigit((unsigned char)s[0]) && s[0] != '-' && s[0] != '+' && s[0] != '.')
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*d = strtod(buf, &end);
	return *end == '\0' && isfinite(*d) && !strpbrk(buf, "xXnN");
}

/* jq's order of types. */
static int type_rank(enum jtype t)
{
	switch (t) {
	case JT_NULL: return 0;
	case JT_FALSE: return 1;
	case JT_TRUE: return 2;
	case JT_NUMBER: return 3;
	case JT_STRING: return 4;
	case JT_ARRAY: return 5;
	default: return 6;
	}
}

static int cmp_num(double a, double b)
{
	return a < b ? -1 : a > b;
}

static int cmp_bytes(const char *a, size_t na, const char *b, size_t nb)
{
	int c = memcmp(a, b, na < nb ? na : nb);
	if (c)
		return c < 0 ? -1 : 1;
	return na < nb ? -1 : na > nb;
}

/* Compare two values: <0, 0, >0.  Arrays and objects compare by their
 * compact JSON text (equal values written the same way are equal). */
static int compare_vals(struct where_match *m, const struct jval *a, const struct jval *b)
{
	double d;

	if (a->type == JT_NUMBER && b->type == JT_STRING && numeric_string(b->str, b->len, &d))
		return cmp_num(a->num, d);
	if (a->type == JT_STRING && b->type == JT_NUMBER && numeric_string(a->str, a->len, &d))
		return cmp_num(d, b->num);
	if (type_rank(a->type) != type_rank(b->type))
		return type_rank(a->type) < type_rank(b->type) ? -1 : 1;
	switch (a->type) {
	case JT_NUMBER:
		if (a->is_int && b->is_int)
			return a->i < b->i ? -1 : a->i > b->i;
		return cmp_num(a->num, b->num);
	case JT_STRING:
		return cmp_bytes(a->str, a->len, b->str, b->len);
	case JT_ARRAY:
	case JT_OBJECT: {
		size_t na;
		m->tmp.len = 0;
		json_put_value(&m->tmp, a);
		na = m->tmp.len;
		json_put_value(&m->tmp, b);
		return cmp_bytes(m->tmp.p, na, m->tmp.p + na, m->tmp.len - na);
	}
	default:
		return 0;
	}
}

/* The value of node n: paths and literals give themselves, the rest give
 * true or false. */
static int value_of(const struct where *w, struct where_match *m, int n,
		    const struct jval *rec, struct jval *out);

static int truth(const struct where *w, struct where_match *m, int n, const struct jval *rec)
{
	struct jval v;
	int r = value_of(w, m, n, rec, &v);

	if (r < 0)
		return -1;
	return v.type != JT_NULL && v.type != JT_FALSE;
}

static int value_of(const struct where *w, struct where_match *m, int n,
		    const struct jval *rec, struct jval *out)
{
	const struct wnode *nd = &w->nodes[n];
	struct jval a, b;
	int r = 0;

	switch (nd->op) {
	case N_PATH:
		jpath_eval(&nd->path, rec, out);
		return 0;
	case N_LIT:
		*out = nd->lit;
		return 0;
	case N_EXISTS:
		r = jpath_eval(&nd->path, rec, &a);
		break;
	case N_NOT:
		r = truth(w, m, nd->a, rec);
		if (r < 0)
			return -1;
		r = !r;
		break;
	case N_AND:
		r = truth(w, m, nd->a, rec);
		if (r > 0)
			r = truth(w, m, nd->b, rec);
		break;
	case N_OR:
		r = truth(w, m, nd->a, rec);
		if (r == 0)
			r = truth(w, m, nd->b, rec);
		break;
	case N_MATCH:
	case N_NOMATCH: {
		const char *s;
		size_t len;
		if (value_of(w, m, nd->a, rec, &a) < 0)
			return -1;
		if (a.type == JT_NULL) {
			r = 0;
		} else {
			if (a.type == JT_STRING) {
				s = a.str;
				len = a.len;
			} else {
				m->tmp.len = 0;
				json_put_value(&m->tmp, &a);
				s = m->tmp.p;
				len = m->tmp.len;
			}
			r = pattern_exec(w->res[nd->re], m->m[nd->re], s, len, 0);
			if (r < 0) {
				m->err = pattern_errtext(m->m[nd->re]);
				return -1;
			}
			r = r > 0;
		}
		if (nd->op == N_NOMATCH)
			r = !r;
		break;
	}
	case N_IN:
		if (value_of(w, m, nd->a, rec, &a) < 0)
			return -1;
		r = 0;
		for (size_t k = 0; k < nd->nset && !r; k++)
			r = compare_vals(m, &a, &w->nodes[nd->set[k]].lit) == 0;
		break;
	default: {
		int c;
		if (value_of(w, m, nd->a, rec, &a) < 0 || value_of(w, m, nd->b, rec, &b) < 0)
			return -1;
		c = compare_vals(m, &a, &b);
		switch (nd->op) {
		case N_EQ: r = c == 0; break;
		case N_NE: r = c != 0; break;
		case N_LT: r = c < 0; break;
		case N_LE: r = c <= 0; break;
		case N_GT: r = c > 0; break;
		default: r = c >= 0; break;
		}
	}
	}
	if (r < 0)
		return -1;
	memset(out, 0, sizeof *out);
	out->type = r ? JT_TRUE : JT_FALSE;
	return 0;
}

int where_eval(const struct where *w, struct where_match *m, const struct jval *v)
{
	return truth(w, m, w->root, v);
}
