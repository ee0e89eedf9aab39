/* SPDX-License-Identifier: MIT */
/*
 * pattern_lit.c - the literals every match of a regex must contain, read
 * from the pattern by a small parser of a subset of PCRE2's syntax, for
 * the prefilter; it gives up on anything it does not model.
 */
#include <stdint.h>
#include <string.h>

#include "csp/csp.h"
#include "records/pattern_int.h"

/* ------------------------------------------------------------------ */
/* Prefilter extraction                                                */
/* ------------------------------------------------------------------ */

/*
 * pattern_extract_literals reads the pattern with a small parser that
 * models a subset of PCRE2's syntax and computes, for each piece, a set of
 * literals one of which every match of the piece must contain:
 *
 *   - a run of adjacent plain characters is such a literal;
 *   - a sequence needs every required item, so any one required item's
 *     set will do (we keep the best: longest shortest literal, then fewest);
 *   - an alternation needs one of its branches: the union of the branches'
 *     sets, or nothing when one branch has none;
 *   - an item quantified with a minimum of 0 requires nothing; a minimum of
 *     1 or more requires the item once;
 *   - lookarounds, classes, dots, anchors and escapes such as \d require
 *     nothing we model.
 *
 * Soundness rests on never mistaking a non-literal for a literal and never
 * misjudging where an item ends, so anything outside the modelled subset
 * (\Q..\E, backreferences, recursion, conditionals, callouts, (*VERBS),
 * extended mode, POSIX classes, braces that are not quantifiers, numeric
 * escapes, ...) makes the whole extraction give up.  Case: once (?i)
 * appears anywhere (or PAT_ICASE is set) every literal is searched
 * caselessly, which finds a superset of the case-sensitive occurrences.
 * Literals never contain '\n' or '\0' (those are treated as unknown atoms),
 * which is what lets a stage search a whole batch's data at once.
 *
 * A piece is "exact" when a subject matches it exactly when the subject
 * contains one of its literals: a single core (a run of plain characters,
 * or an unquantified, non-atomic group that is itself exact) surrounded
 * only by optional plain text (characters, groups and alternatives of
 * them, with no quantifier inside, made optional by a ? or * that is not
 * possessive, so that backtracking can always choose the empty form), with
 * uniform case rules: no option setting but a leading (?i).  Such patterns
 * are word lists like "(?i)error|fail(ed|ure)?|denied": PCRE2 takes a
 * bounded, small number of steps on them, so it cannot hit a limit either,
 * and its answer on a record is the literal search's.  Exact patterns need
 * no PCRE2 call to decide a record.
 */
struct litset {
	int n;                          /* -1: no set */
	size_t len[SCAN_MAX];
	unsigned char b[SCAN_MAX][LIT_MAX];
	int trunc;                      /* a literal was cut at LIT_MAX */
};

struct piece {
	struct litset set;
	int exact;
	int pure;        /* only plain characters, groups and '|' */
};

struct xp {
	const unsigned char *start, *s, *end;
	int icase;
	int optset;      /* an option setting other than a leading (?i) */
	int bad;         /* syntax outside the model: give up */
	int depth;
};

struct quant {
	int present;
	unsigned min;
	int possessive;
	int brace;       /* written {n,m} */
};

static void set_none(struct litset *st)
{
	st->n = -1;
	st->trunc = 0;
}

static size_t set_minlen(const struct litset *st)
{
	size_t m = SIZE_MAX;

	for (int j = 0; j < st->n; j++)
		if (st->len[j] < m)
			m = st->len[j];
	return m;
}

/* Is a better prefilter than b (b may be none)? */
static int set_better(const struct litset *a, const struct litset *b)
{
	if (b->n < 0)
		return 1;
	size_t la = set_minlen(a), lb = set_minlen(b);
	if (la > 8)
		la = 8;
	if (lb > 8)
		lb = 8;
	if (la != lb)
		return la > lb;
	return a->n < b->n;
}

/* Add b's literals to a; a becomes none when it would hold too many. */
static void set_union(struct litset *a, const struct litset *b)
{
	if (a->n < 0)
		return;
	if (b->n < 0 || a->n + b->n > SCAN_MAX) {
		set_none(a);
		return;
	}
	for (int j = 0; j < b->n; j++) {
		a->len[a->n] = b->len[j];
		memcpy(a->b[a->n], b->b[j], b->len[j]);
		a->n++;
	}
	a->trunc |= b->trunc;
}

/* Read an optional quantifier.  Braces that do not form one make the
 * extraction give up, whatever the PCRE2 version makes of them. */
static struct quant parse_quant(struct xp *x)
{
	struct quant q = {0, 1, 0, 0};

	if (x->s >= x->end)
		return q;
	switch (*x->s) {
	case '?': q.min = 0; x->s++; break;
	case '*': q.min = 0; x->s++; break;
	case '+': q.min = 1; x->s++; break;
	case '{': {
		const unsigned char *t = x->s + 1;
		unsigned n = 0;
		int digits = 0;
		while (t < x->end && is_digit(*t) && digits < 6) {
			n = n * 10 + (unsigned)(*t - '0');
			t++;
			digits++;
		}
		if (!digits || digits >= 6) {
			x->bad = 1;
			return q;
		}
		if (t < x->end && *t == ',') {
			t++;
			digits = 0;
			while (t < x->end && is_digit(*t) && digits < 6) {
				t++;
				digits++;
			}
			if (digits >= 6) {
				x->bad = 1;
				return q;
			}
		}
		if (t >= x->end || *t != '}') {
			x->bad = 1;
			return q;
		}
		x->s = t + 1;
		q.min = n;
		q.brace = 1;
		break;
	}
	default:
		return q;
	}
	q.present = 1;
	if (x->s < x->end && *x->s == '?')
		x->s++;
	else if (x->s < x->end && *x->s == '+') {
		x->s++;
		q.possessive = 1;
	}
	if (x->s < x->end && (*x->s == '?' || *x->s == '*' || *x->s == '+' ||
			      *x->s == '{'))
		x->bad = 1;
	return q;
}

/* Skip a character class; x->s is just past '['. */
static void skip_class(struct xp *x)
{
	if (x->s < x->end && *x->s == '^')
		x->s++;
	if (x->s < x->end && *x->s == ']')
		x->s++;
	while (x->s < x->end) {
		unsigned char c = *x->s++;
		if (c == ']')
			return;
		if (c == '\\') {
			/* Every escape but these ends one byte after the
			 * backslash as far as ']' is concerned: \c takes the
			 * next byte too ("[\c]x]" is one class). */
			if (x->s >= x->end || *x->s == 'Q' || *x->s == 'E' ||
			    *x->s == 'c') {
				x->bad = 1;
				return;
			}
			x->s++;
		} else if (c == '[' && x->s < x->end &&
			   (*x->s == ':' || *x->s == '.' || *x->s == '=')) {
			x->bad = 1;
			return;
		}
	}
	x->bad = 1;
}

static void parse_alt(struct xp *x, struct piece *out);

/* Atoms as parse_seq sees them. */
enum atom { ATOM_LIT, ATOM_UNKNOWN, ATOM_GROUP, ATOM_LOOK, ATOM_OPTSET };

/*
 * Read one group after '(': its kind, and for groups that match their
 * content, the content's piece.  x->s ends past ')'.
 */
static enum atom parse_group(struct xp *x, struct piece *g, int *atomic)
{
	const unsigned char *open = x->s - 1;
	enum atom kind = ATOM_GROUP;

	*atomic = 0;
	if (x->s < x->end && *x->s == '*') {
		x->bad = 1;
		return ATOM_UNKNOWN;
	}
	if (x->s < x->end && *x->s == '?') {
		x->s++;
		if (x->s >= x->end) {
			x->bad = 1;
			return ATOM_UNKNOWN;
		}
		unsigned char c = *x->s;
		if (c == ':' || c == '|') {
			x->s++;
		} else if (c == '>') {
			x->s++;
			*atomic = 1;
		} else if (c == '=' || c == '!') {
			x->s++;
			kind = ATOM_LOOK;
		} else if (c == '<' && x->s + 1 < x->end &&
			   (x->s[1] == '=' || x->s[1] == '!')) {
			x->s += 2;
			kind = ATOM_LOOK;
		} else if (c == '<' || c == '\'' || (c == 'P' && x->s + 1 < x->end &&
							  x->s[1] == '<')) {
			unsigned char close = c == '\'' ? '\'' : '>';
			x->s += c == 'P' ? 2 : 1;
			const unsigned char *name = x->s;
			while (x->s < x->end && (is_alpha(*x->s) || *x->s == '_' ||
						 is_digit(*x->s)))
				x->s++;
			if (x->s == name || x->s >= x->end || *x->s != close) {
				x->bad = 1;
				return ATOM_UNKNOWN;
			}
			x->s++;
		} else {
			/* Option letters, then ')' (a setting) or ':' (a group). */
			const unsigned char *t = x->s;
			int has_i = 0, only_i = 1, n = 0;
			while (t < x->end && *t != ')' && *t != ':') {
				/* Anything else ("(?x)", "(?1)", "(?-1)", ...)
				 * is outside the model. */
				if (!strchr("imnsUJ-^", *t) || *t == '\0') {
					x->bad = 1;
					return ATOM_UNKNOWN;
				}
				has_i |= *t == 'i';
				only_i &= *t == 'i';
				t++;
				n++;
			}
			if (t >= x->end || (n == 0 && *t == ')')) {
				x->bad = 1;
				return ATOM_UNKNOWN;
			}
			if (has_i)
				x->icase = 1;
			if (*t == ')') {
				if (!(only_i && n == 1 && open == x->start))
					x->optset = 1;
				x->s = t + 1;
				return ATOM_OPTSET;
			}
			x->optset = 1;
			x->s = t + 1;
		}
	}
	if (++x->depth > 64) {
		x->bad = 1;
		return ATOM_UNKNOWN;
	}
	parse_alt(x, g);
	x->depth--;
	if (x->bad)
		return ATOM_UNKNOWN;
	if (x->s >= x->end || *x->s != ')') {
		x->bad = 1;
		return ATOM_UNKNOWN;
	}
	x->s++;
	return kind;
}

/*
 * Read one sequence (a branch), up to '|', ')' or the end.  See the comment
 * above struct litset for what out receives.
 */
static void parse_seq(struct xp *x, struct piece *out)
{
	unsigned char run[LIT_MAX];
	size_t rlen = 0;
	int rtrunc = 0, exact = 1, cores = 0, pure = 1;
	struct litset best, one;

	set_none(&best);
#define END_RUN()                                                       \
	do {                                                            \
		if (rlen > 0) {                                         \
			one.n = 1;                                      \
			one.len[0] = rlen;                              \
			memcpy(one.b[0], run, rlen);                    \
			one.trunc = rtrunc;                             \
			if (set_better(&one, &best))                    \
				best = one;                             \
			if (rtrunc)                                     \
				exact = 0;                              \
		}                                                       \
		rlen = 0;                                               \
		rtrunc = 0;                                             \
	} while (0)

	while (!x->bad && x->s < x->end && *x->s != '|' && *x->s != ')') {
		unsigned char c = *x->s++;
		enum atom kind = ATOM_LIT;
		unsigned char lit = c;
		struct piece g;
		int atomic = 0;

		g.exact = 0;
		g.pure = 0;
		set_none(&g.set);
		switch (c) {
		case '(':
			kind = parse_group(x, &g, &atomic);
			break;
		case '[':
			skip_class(x);
			kind = ATOM_UNKNOWN;
			break;
		case '.': case '^': case '$': case '\n': case '\0':
			kind = ATOM_UNKNOWN;
			break;
		case '*': case '+': case '?': case '{': case ']': case '}':
			x->bad = 1;
			break;
		case '\\': {
			if (x->s >= x->end) {
				x->bad = 1;
				break;
			}
			unsigned char e = *x->s++;
			if (strchr("dDwWsShHvVRXNCbBAzZGKn", e) && e) {
				if (e == 'N' && x->s < x->end && *x->s == '{')
					x->bad = 1;
				kind = ATOM_UNKNOWN;
			} else if (e == 't') {
				lit = '\t';
			} else if (e == 'r') {
				lit = '\r';
			} else if (e == 'f') {
				lit = '\f';
			} else if (e == 'e') {
				lit = 27;
			} else if (e == 'a') {
				lit = 7;
			} else if (e >= 0x20 && e < 0x7f && !is_alpha(e) &&
				   !is_digit(e)) {
				lit = e;
			} else {
				x->bad = 1;
			}
			break;
		}
		default:
			break;
		}
		if (x->bad)
			break;
		if (kind == ATOM_OPTSET) {
			pure = 0;
			continue;   /* zero-width, and case is handled globally */
		}
		struct quant q = parse_quant(x);
		if (x->bad)
			break;
		if (q.present || !(kind == ATOM_LIT || (kind == ATOM_GROUP && g.pure && !atomic)))
			pure = 0;

		if (kind == ATOM_LIT && !q.present) {
			if (rlen == 0)
				cores++;
			if (rlen < LIT_MAX)
				run[rlen++] = lit;
			else
				rtrunc = 1;
			continue;
		}
		if (kind == ATOM_LIT && q.min > 0) {
			/* "ab+c": "ab" is required, and so is "bc". */
			if (rlen < LIT_MAX)
				run[rlen++] = lit;
			else
				rtrunc = 1;
			END_RUN();
			run[rlen++] = lit;
			cores++;
			exact = 0;
			continue;
		}
		END_RUN();
		if (q.present && q.min == 0) {
			/* Optional: requires nothing.  By the regex semantics
			 * exactness survives any optional item that backtracking
			 * may skip (not possessive); we keep it only for plain
			 * text written with ? or *, so that the claim never
			 * leans on PCRE2's analysis of exotic patterns (it
			 * wrongly treats "(a|(\A)+){0}b" as anchored). */
			if (q.possessive || q.brace ||
			    !(kind == ATOM_LIT || (kind == ATOM_GROUP && g.pure && !atomic)))
				exact = 0;
			continue;
		}
		if (kind == ATOM_GROUP) {
			if (g.set.n > 0 && set_better(&g.set, &best))
				best = g.set;
			cores++;
			if (q.present || !g.exact || atomic)
				exact = 0;
			continue;
		}
		exact = 0;   /* a required unknown atom or lookaround */
	}
	END_RUN();
#undef END_RUN
	out->set = best;
	out->exact = exact && cores == 1 && best.n > 0 && !best.trunc;
	out->pure = pure;
}

static void parse_alt(struct xp *x, struct piece *out)
{
	out->set.n = 0;
	out->set.trunc = 0;
	out->exact = 1;
	out->pure = 1;
	for (;;) {
		struct piece br;
		parse_seq(x, &br);
		if (x->bad)
			return;
		set_union(&out->set, &br.set);
		out->exact &= br.exact;
		out->pure &= br.pure;
		if (x->s < x->end && *x->s == '|') {
			x->s++;
			continue;
		}
		break;
	}
	if (out->set.n <= 0) {
		set_none(&out->set);
		out->exact = 0;
	}
}

/*
 * Compute p's prefilter: sets p->scan_kind and p->scan (with p->litbuf).
 * Leaves PAT_SCAN_NONE when the pattern cannot be analysed or its
 * literals would be a poor filter.  This function can't fail.
 */
void pattern_extract_literals(struct pattern *p)
{
	struct xp x = {0};
	struct piece top;

	x.start = x.s = (const unsigned char *)p->src;
	x.end = x.s + p->len;
	x.icase = (p->flags & PAT_ICASE) != 0;
	parse_alt(&x, &top);
	if (x.bad || x.s != x.end || top.set.n <= 0)
		return;
	int exact = top.exact && !x.optset;
	/* One- or two-byte literals hit nearly every record; verifying
	 * them would cost more than PCRE2's own start-byte search. */
	if (!exact && set_minlen(&top.set) < 3)
		return;

	const unsigned char *b[SCAN_MAX];
	size_t len[SCAN_MAX], total = 0;
	int n = 0;
	for (int j = 0; j < top.set.n; j++)
		total += top.set.len[j];
	p->litbuf = csp_malloc(total ? total : 1);
	unsigned char *w = p->litbuf;
	for (int j = 0; j < top.set.n; j++) {
		size_t l = top.set.len[j];
		for (size_t i = 0; i < l; i++)
			w[i] = x.icase ? fold(top.set.b[j][i]) : top.set.b[j][i];
		int dup = 0;
		for (int k = 0; k < n; k++)
			if (len[k] == l && memcmp(b[k], w, l) == 0)
				dup = 1;
		if (dup)
			continue;
		b[n] = w;
		len[n] = l;
		n++;
		w += l;
	}
	scanner_init(&p->scan, b, len, n, x.icase);
	p->scan_kind = exact ? PAT_SCAN_EXACT : PAT_SCAN_NEEDED;
}
