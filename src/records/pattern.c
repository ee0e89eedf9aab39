/* SPDX-License-Identifier: MIT */
/*
 * pattern.c - PCRE2 patterns, fixed strings, and a literal prefilter.
 *
 * Records are arbitrary bytes (invalid UTF-8, NULs), so every pattern is
 * compiled without UTF, and (*UTF) and (*UCP) in a pattern are refused:
 * a pattern matches bytes, any byte string is a valid subject, and (?i)
 * folds the ASCII letters only (PCRE2's built-in tables are the C
 * locale's).  Refusing UTF is also what makes the unchecked
 * pcre2_jit_match entry safe on any subject.
 *
 * The same literal searcher serves two purposes.  A fixed pattern
 * (PAT_FIXED) is nothing but a literal search, with no PCRE2 at all.  For
 * a regex, pattern_compile tries to prove that every match contains one of
 * a few literals (extract_literals below); if it can, pattern_scan finds
 * those literals with SIMD compares, and a stage can skip every record
 * without a hit.  The extraction gives up on any syntax it does not model,
 * so an unusual pattern is merely slower, never wrong.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86_SIMD 1
#endif

#include "csp/csp.h"
#include "records/pattern.h"

#define SCAN_MAX 8       /* literals in a prefilter set */
#define LIT_MAX 32       /* longest extracted literal (a prefix is kept) */
#define PAIR_MAX 32      /* compared bytes are chosen among the first PAIR_MAX */

#define JIT_STACK_MIN (32 * 1024)
#define JIT_STACK_MAX (1024 * 1024)

struct lit {
	const unsigned char *b;    /* the bytes, lower case when the search folds */
	size_t len;
	uint32_t o1, o2;           /* offsets of the two rarest bytes */
	unsigned char c1, c2;      /* b[o1], b[o2] */
	unsigned char m1, m2;      /* 0x20 when that byte is a letter and we fold */
};

struct scanner;
typedef const unsigned char *(*find_fn)(const struct scanner *sc,
					const unsigned char *s,
					const unsigned char *end);

struct scanner {
	int n;                     /* literals; 0: no scanner */
	int icase;
	size_t minlen;
	uint32_t span;             /* largest o1/o2: bytes a vector step reads past its start */
	struct lit lit[SCAN_MAX];
	find_fn find;
};

struct pattern {
	char *src;                 /* the pattern, NUL-terminated copy */
	size_t len;
	unsigned flags;
	pcre2_code *code;          /* NULL for fixed patterns */
	int jit;                   /* JIT compiled: use pcre2_jit_match */
	uint32_t captures;
	uint32_t match_limit, depth_limit;
	int scan_kind;             /* PAT_SCAN_* */
	struct scanner scan;       /* the prefilter, or a fixed pattern's matcher */
	unsigned char *litbuf;     /* bytes the scanner's literals point into */
};

struct pattern_match {
	const struct pattern *p;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jstack;
	size_t fixed_ov[2];
	char errtext[160];
};

/* ------------------------------------------------------------------ */
/* Literal search                                                      */
/* ------------------------------------------------------------------ */

/*
 * How common each byte is in text such as logs (0 rare .. 255 common),
 * measured on the Loghub samples.  Only the order matters: it picks the two
 * bytes of a literal a vector step compares, so that candidates are rare.
 */
static const uint8_t byte_rank[256] = {
	  0,   1,   2,   3,   4,   5,   6,   7,   8,   9, 223,  10,  11, 220,  12,  13,
	 14,  15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25,  26,  27,  28,  29,
	255, 165, 180, 189, 179, 162, 161, 172, 195, 194, 187, 164, 209, 237, 243, 218,
	254, 252, 248, 238, 236, 239, 235, 234, 231, 232, 245, 174, 173, 208, 170, 163,
	186, 205, 197, 210, 199, 204, 206, 182, 185, 211, 193, 188, 198, 201, 219, 200,
	196, 175, 213, 222, 203, 191, 183, 192, 171, 167, 176, 215, 166, 214,  30, 216,
	 31, 251, 227, 242, 240, 253, 224, 225, 226, 244, 178, 221, 233, 229, 246, 249,
	228, 184, 247, 241, 250, 230, 217, 202, 207, 212, 181, 168, 190, 169, 177,  32,
	 33,  34,  35,  36,  37,  38,  39,  40,  41,  42,  43,  44,  45,  46,  47,  48,
	 49,  50,  51,  52,  53,  54,  55,  56,  57,  58,  59,  60,  61,  62,  63,  64,
	 65,  66,  67,  68,  69,  70,  71,  72,  73,  74,  75,  76,  77,  78,  79,  80,
	 81,  82,  83,  84,  85,  86,  87,  88,  89,  90,  91,  92,  93,  94,  95,  96,
	 97,  98,  99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112,
	113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127, 128,
	129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144,
	145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160,
};

static inline int is_upper(unsigned c) { return c - 'A' < 26u; }
static inline int is_lower(unsigned c) { return c - 'a' < 26u; }
static inline int is_alpha(unsigned c) { return is_upper(c) || is_lower(c); }
static inline int is_digit(unsigned c) { return c - '0' < 10u; }
static inline unsigned char fold(unsigned char c) { return is_upper(c) ? (unsigned char)(c | 0x20) : c; }

/* Does the literal occur at q (which has at least l->len bytes)? */
static inline int lit_at(const struct lit *l, const unsigned char *q, int icase)
{
	if (!icase)
		return memcmp(q, l->b, l->len) == 0;
	for (size_t i = 0; i < l->len; i++)
		if (fold(q[i]) != l->b[i])
			return 0;
	return 1;
}

/* The first literal occurrence starting at q, checking bounds against end. */
static inline int hit_at(const struct scanner *sc, const unsigned char *q,
			 const unsigned char *end)
{
	for (int j = 0; j < sc->n; j++) {
		const struct lit *l = &sc->lit[j];
		if ((size_t)(end - q) >= l->len && lit_at(l, q, sc->icase))
			return 1;
	}
	return 0;
}

/* Portable search: check the first byte at each position, then verify. */
static const unsigned char *find_scalar(const struct scanner *sc,
					const unsigned char *s,
					const unsigned char *end)
{
	for (const unsigned char *q = s; (size_t)(end - q) >= sc->minlen; q++) {
		for (int j = 0; j < sc->n; j++) {
			const struct lit *l = &sc->lit[j];
			if ((q[0] | (sc->icase && is_alpha(l->b[0]) ? 0x20 : 0)) == l->b[0] &&
			    (size_t)(end - q) >= l->len && lit_at(l, q, sc->icase))
				return q;
		}
	}
	return NULL;
}

#ifdef HAVE_X86_SIMD
/*
 * The vector searches compare, for every literal, the bytes at its two rare
 * offsets for 16 (SSE2) or 32 (AVX2) start positions at once ("packed
 * pair"); a start position where both agree for some literal is verified
 * in full.  The inner function is instantiated for small literal counts so
 * that the broadcast constants stay in registers.
 *
 * The last positions, where a vector load would read past end, are
 * searched by copying them into a zero-padded local buffer: padding can
 * only make extra candidates, and verification uses the real bounds.
 */
#define VEC_STEP(W, LOADU, OR, CMPEQ, AND, MOVEMASK, p, acc)                   \
	do {                                                                   \
		for (int j = 0; j < N; j++) {                                  \
			W a = CMPEQ(OR(LOADU((const W *)(p + o1[j])), m1[j]), c1[j]); \
			W b = CMPEQ(OR(LOADU((const W *)(p + o2[j])), m2[j]), c2[j]); \
			acc = OR(acc, AND(a, b));                              \
		}                                                              \
	} while (0)

static inline __attribute__((always_inline)) const unsigned char *
find_sse2_n(const struct scanner *sc, const unsigned char *s,
	    const unsigned char *end, const int N)
{
	__m128i c1[SCAN_MAX], c2[SCAN_MAX], m1[SCAN_MAX], m2[SCAN_MAX];
	size_t o1[SCAN_MAX], o2[SCAN_MAX];
	const unsigned char *p = s;

	for (int j = 0; j < N; j++) {
		const struct lit *l = &sc->lit[j];
		c1[j] = _mm_set1_epi8((char)l->c1);
		c2[j] = _mm_set1_epi8((char)l->c2);
		m1[j] = _mm_set1_epi8((char)l->m1);
		m2[j] = _mm_set1_epi8((char)l->m2);
		o1[j] = l->o1;
		o2[j] = l->o2;
	}
	if ((size_t)(end - s) < sc->minlen)
		return NULL;
	while ((size_t)(end - p) >= sc->span + 16) {
		__m128i acc = _mm_setzero_si128();
		VEC_STEP(__m128i, _mm_loadu_si128, _mm_or_si128, _mm_cmpeq_epi8,
			 _mm_and_si128, _mm_movemask_epi8, p, acc);
		unsigned bits = (unsigned)_mm_movemask_epi8(acc);
		while (bits) {
			const unsigned char *q = p + __builtin_ctz(bits);
			if (hit_at(sc, q, end))
				return q;
			bits &= bits - 1;
		}
		p += 16;
	}
	/* Tail: fewer than span + 16 positions left. */
	unsigned char pad[PAIR_MAX + 64];
	size_t left = (size_t)(end - p);
	memcpy(pad, p, left);
	memset(pad + left, 0, sizeof pad - left);
	for (size_t base = 0; base < left; base += 16) {
		const unsigned char *pp = pad + base;
		__m128i acc = _mm_setzero_si128();
		VEC_STEP(__m128i, _mm_loadu_si128, _mm_or_si128, _mm_cmpeq_epi8,
			 _mm_and_si128, _mm_movemask_epi8, pp, acc);
		unsigned bits = (unsigned)_mm_movemask_epi8(acc);
		while (bits) {
			size_t k = base + (size_t)__builtin_ctz(bits);
			if (k >= left)
				break;
			if (hit_at(sc, p + k, end))
				return p + k;
			bits &= bits - 1;
		}
	}
	return NULL;
}

static const unsigned char *find_sse2(const struct scanner *sc,
				      const unsigned char *s,
				      const unsigned char *end)
{
	switch (sc->n) {
	case 1: return find_sse2_n(sc, s, end, 1);
	case 2: return find_sse2_n(sc, s, end, 2);
	case 3: return find_sse2_n(sc, s, end, 3);
	case 4: return find_sse2_n(sc, s, end, 4);
	default: return find_sse2_n(sc, s, end, sc->n);
	}
}

__attribute__((target("avx2"))) static inline __attribute__((always_inline))
const unsigned char *find_avx2_n(const struct scanner *sc,
				 const unsigned char *s,
				 const unsigned char *end, const int N)
{
	__m256i c1[SCAN_MAX], c2[SCAN_MAX], m1[SCAN_MAX], m2[SCAN_MAX];
	size_t o1[SCAN_MAX], o2[SCAN_MAX];
	const unsigned char *p = s;

	for (int j = 0; j < N; j++) {
		const struct lit *l = &sc->lit[j];
		c1[j] = _mm256_set1_epi8((char)l->c1);
		c2[j] = _mm256_set1_epi8((char)l->c2);
		m1[j] = _mm256_set1_epi8((char)l->m1);
		m2[j] = _mm256_set1_epi8((char)l->m2);
		o1[j] = l->o1;
		o2[j] = l->o2;
	}
	if ((size_t)(end - s) < sc->minlen)
		return NULL;
	while ((size_t)(end - p) >= sc->span + 32) {
		__m256i acc = _mm256_setzero_si256();
		VEC_STEP(__m256i, _mm256_loadu_si256, _mm256_or_si256,
			 _mm256_cmpeq_epi8, _mm256_and_si256, _mm256_movemask_epi8,
			 p, acc);
		unsigned bits = (unsigned)_mm256_movemask_epi8(acc);
		while (bits) {
			const unsigned char *q = p + __builtin_ctz(bits);
			if (hit_at(sc, q, end))
				return q;
			bits &= bits - 1;
		}
		p += 32;
	}
	unsigned char pad[PAIR_MAX + 96];
	size_t left = (size_t)(end - p);
	memcpy(pad, p, left);
	memset(pad + left, 0, sizeof pad - left);
	for (size_t base = 0; base < left; base += 32) {
		const unsigned char *pp = pad + base;
		__m256i acc = _mm256_setzero_si256();
		VEC_STEP(__m256i, _mm256_loadu_si256, _mm256_or_si256,
			 _mm256_cmpeq_epi8, _mm256_and_si256, _mm256_movemask_epi8,
			 pp, acc);
		unsigned bits = (unsigned)_mm256_movemask_epi8(acc);
		while (bits) {
			size_t k = base + (size_t)__builtin_ctz(bits);
			if (k >= left)
				break;
			if (hit_at(sc, p + k, end))
				return p + k;
			bits &= bits - 1;
		}
	}
	return NULL;
}

__attribute__((target("avx2")))
static const unsigned char *find_avx2(const struct scanner *sc,
				      const unsigned char *s,
				      const unsigned char *end)
{
	switch (sc->n) {
	case 1: return find_avx2_n(sc, s, end, 1);
	case 2: return find_avx2_n(sc, s, end, 2);
	case 3: return find_avx2_n(sc, s, end, 3);
	case 4: return find_avx2_n(sc, s, end, 4);
	default: return find_avx2_n(sc, s, end, sc->n);
	}
}
#endif

/* Rank of a byte as the search sees it: a folded letter stands for both
 * cases, so it is as common as the commoner of the two. */
static unsigned lit_rank(unsigned char c, int icase)
{
	if (icase && is_alpha(c)) {
		unsigned a = byte_rank[c | 0x20], b = byte_rank[c & ~0x20];
		return a > b ? a : b;
	}
	return byte_rank[c];
}

/*
 * Set up a scanner over n literals (bytes already folded when icase).  The
 * literal bytes must stay valid as long as the scanner.  This function
 * can't fail.
 */
static void scanner_init(struct scanner *sc, const unsigned char *const *b,
			 const size_t *len, int n, int icase)
{
	memset(sc, 0, sizeof *sc);
	sc->n = n;
	sc->icase = icase;
	sc->minlen = SIZE_MAX;
	for (int j = 0; j < n; j++) {
		struct lit *l = &sc->lit[j];
		size_t lim = len[j] < PAIR_MAX ? len[j] : PAIR_MAX;
		uint32_t o1 = 0, o2 = 0;

		l->b = b[j];
		l->len = len[j];
		for (uint32_t i = 1; i < lim; i++)
			if (lit_rank(l->b[i], icase) < lit_rank(l->b[o1], icase))
				o1 = i;
		o2 = o1;
		for (uint32_t i = 0; i < lim; i++)
			if (i != o1 && (o2 == o1 || lit_rank(l->b[i], icase) <
						    lit_rank(l->b[o2], icase)))
				o2 = i;
		l->o1 = o1;
		l->o2 = o2;
		l->c1 = l->b[o1];
		l->c2 = l->b[o2];
		l->m1 = icase && is_alpha(l->c1) ? 0x20 : 0;
		l->m2 = icase && is_alpha(l->c2) ? 0x20 : 0;
		if (l->len < sc->minlen)
			sc->minlen = l->len;
		if (o1 > sc->span)
			sc->span = o1;
		if (o2 > sc->span)
			sc->span = o2;
	}
	sc->find = find_scalar;
#ifdef HAVE_X86_SIMD
	sc->find = find_sse2;
	if (__builtin_cpu_supports("avx2"))
		sc->find = find_avx2;
#endif
}

/* ------------------------------------------------------------------ */
/* Prefilter extraction                                                */
/* ------------------------------------------------------------------ */

/*
 * extract_literals reads the pattern with a small parser that models a
 * subset of PCRE2's syntax and computes, for each piece, a set of literals
 * one of which every match of the piece must contain:
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
static void extract_literals(struct pattern *p)
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

/* ------------------------------------------------------------------ */
/* Patterns                                                            */
/* ------------------------------------------------------------------ */

/*
 * Compile src[0..len) (any bytes; NULs allowed).  Returns NULL on error
 * with PCRE2's message in err and the offset in the pattern in *erroff;
 * never fails for lack of memory (that aborts).  A fixed pattern cannot
 * fail.  The caller owns the result (pattern_free).
 */
struct pattern *pattern_compile(const char *src, size_t len, unsigned flags,
				char *err, size_t errlen, size_t *erroff)
{
	struct pattern *p = csp_calloc(1, sizeof *p);

	p->src = csp_malloc(len + 1);
	memcpy(p->src, src, len);
	p->src[len] = '\0';
	p->len = len;
	p->flags = flags;
	p->match_limit = PAT_MATCH_LIMIT;
	p->depth_limit = PAT_DEPTH_LIMIT;
	if (flags & PAT_FIXED) {
		const unsigned char *b = (const unsigned char *)p->src;
		int hazard = 0;
		if (flags & PAT_ICASE) {
			p->litbuf = csp_malloc(len + 1);
			for (size_t i = 0; i < len; i++)
				p->litbuf[i] = fold((unsigned char)src[i]);
			b = p->litbuf;
		}
		if (len > 0)
			scanner_init(&p->scan, &b, &len, 1, (flags & PAT_ICASE) != 0);
		for (size_t i = 0; i < len; i++)
			hazard |= src[i] == '\n' || src[i] == '\0';
		if (len > 0 && !hazard)
			p->scan_kind = PAT_SCAN_EXACT;
		return p;
	}

	int code = 0;
	PCRE2_SIZE off = 0;
	uint32_t opts = PCRE2_NEVER_UTF | PCRE2_NEVER_UCP;
	if (flags & PAT_ICASE)
		opts |= PCRE2_CASELESS;
	p->code = pcre2_compile((PCRE2_SPTR)src, len, opts, &code, &off, NULL);
	if (!p->code) {
		/* A message too long for err comes back cut, which will do. */
		if (err && errlen &&
		    pcre2_get_error_message(code, (PCRE2_UCHAR *)err, errlen) ==
		    PCRE2_ERROR_BADDATA)
			snprintf(err, errlen, "PCRE2 error %d", code);
		if (erroff)
			*erroff = off;
		pattern_free(p);
		return NULL;
	}
	/* Without JIT support (or on a platform it does not cover) the
	 * interpreter gives the same results, only slower. */
	p->jit = pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE) == 0;
	pcre2_pattern_info(p->code, PCRE2_INFO_CAPTURECOUNT, &p->captures);
	extract_literals(p);
	return p;
}

void pattern_free(struct pattern *p)
{
	if (!p)
		return;
	pcre2_code_free(p->code);
	free(p->litbuf);
	free(p->src);
	free(p);
}

/* Limits apply to match states made afterwards (pattern_match_new): set
 * them in check, before any worker starts. */
void pattern_set_limits(struct pattern *p, uint32_t match_limit, uint32_t depth_limit)
{
	p->match_limit = match_limit;
	p->depth_limit = depth_limit;
}

uint32_t pattern_captures(const struct pattern *p)
{
	return p->captures;
}

/* The number of the named group name[0..len), or -1 when there is none.
 * With duplicate names ((?J)) the lowest number is returned. */
int pattern_group(const struct pattern *p, const char *name, size_t len)
{
	char buf[256];

	if (!p->code || len == 0 || len >= sizeof buf || memchr(name, '\0', len))
		return -1;
	memcpy(buf, name, len);
	buf[len] = '\0';
	int n = pcre2_substring_number_from_name(p->code, (PCRE2_SPTR)buf);
	if (n == PCRE2_ERROR_NOUNIQUESUBSTRING) {
		PCRE2_SPTR first, last;
		int size = pcre2_substring_nametable_scan(p->code, (PCRE2_SPTR)buf,
							  &first, &last);
		if (size > 0)
			n = (first[0] << 8) | first[1];
	}
	return n > 0 ? n : -1;
}

const char *pattern_source(const struct pattern *p)
{
	return p->src;
}

int pattern_scan_kind(const struct pattern *p)
{
	return p->scan_kind;
}

const char *pattern_scan(const struct pattern *p, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	return (const char *)p->scan.find(&p->scan, u, u + len);
}

/*
 * A match state for one worker: match data sized for the pattern, and a
 * match context with the pattern's limits and a JIT stack of its own (a
 * JIT stack must not be shared between threads).  Never NULL.
 */
struct pattern_match *pattern_match_new(const struct pattern *p)
{
	struct pattern_match *m = csp_calloc(1, sizeof *m);

	m->p = p;
	if (!p->code)
		return m;
	m->md = pcre2_match_data_create_from_pattern(p->code, NULL);
	m->mctx = pcre2_match_context_create(NULL);
	if (!m->md || !m->mctx)
		csp_oom();
	pcre2_set_match_limit(m->mctx, p->match_limit);
	pcre2_set_depth_limit(m->mctx, p->depth_limit);
	if (p->jit) {
		m->jstack = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
		if (!m->jstack)
			csp_oom();
		pcre2_jit_stack_assign(m->mctx, NULL, m->jstack);
	}
	return m;
}

void pattern_match_free(struct pattern_match *m)
{
	if (!m)
		return;
	pcre2_jit_stack_free(m->jstack);
	pcre2_match_context_free(m->mctx);
	pcre2_match_data_free(m->md);
	free(m);
}

int pattern_exec(const struct pattern *p, struct pattern_match *m,
		 const char *subject, size_t len, size_t start)
{
	return pattern_exec_flags(p, m, subject, len, start, 0);
}

static int fixed_exec(const struct pattern *p, struct pattern_match *m,
		      const char *subject, size_t len, size_t start,
		      unsigned flags)
{
	if (p->len == 0) {
		/* The empty string matches everywhere. */
		if (flags & PAT_NOTEMPTY_ATSTART)
			start++;
		if (start > len)
			return 0;
		m->fixed_ov[0] = m->fixed_ov[1] = start;
		return 1;
	}
	const char *q = pattern_scan(p, subject + start, len - start);
	if (!q)
		return 0;
	m->fixed_ov[0] = (size_t)(q - subject);
	m->fixed_ov[1] = m->fixed_ov[0] + p->len;
	return 1;
}

/*
 * Search subject[0..len) from start.  Returns 1 (offsets in
 * pattern_ovector), 0 for no match, PAT_LIMIT when a match, depth, heap
 * or JIT stack limit stopped the search, PAT_ERROR otherwise (start past
 * len, ...), with the reason in pattern_errtext.  m must be p's.
 */
int pattern_exec_flags(const struct pattern *p, struct pattern_match *m,
		       const char *subject, size_t len, size_t start,
		       unsigned flags)
{
	if (!subject)
		subject = "";
	if (start > len) {
		snprintf(m->errtext, sizeof m->errtext,
			 "start offset %zu is past the end of the subject (%zu)",
			 start, len);
		return PAT_ERROR;
	}
	if (!p->code)
		return fixed_exec(p, m, subject, len, start, flags);

	uint32_t opts = flags & PAT_NOTEMPTY_ATSTART ? PCRE2_NOTEMPTY_ATSTART : 0;
	int rc;
	if (p->jit)
		rc = pcre2_jit_match(p->code, (PCRE2_SPTR)subject, len, start,
				     opts, m->md, m->mctx);
	else
		rc = pcre2_match(p->code, (PCRE2_SPTR)subject, len, start, opts,
				 m->md, m->mctx);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	if (pcre2_get_error_message(rc, (PCRE2_UCHAR *)m->errtext,
				    sizeof m->errtext) < 0)
		snprintf(m->errtext, sizeof m->errtext, "PCRE2 error %d", rc);
	switch (rc) {
	case PCRE2_ERROR_MATCHLIMIT:
	case PCRE2_ERROR_DEPTHLIMIT:
	case PCRE2_ERROR_HEAPLIMIT:
	case PCRE2_ERROR_JIT_STACKLIMIT:
		return PAT_LIMIT;
	default:
		return PAT_ERROR;
	}
}

const size_t *pattern_ovector(const struct pattern_match *m)
{
	if (!m->md)
		return m->fixed_ov;
	return pcre2_get_ovector_pointer(m->md);
}

const char *pattern_errtext(const struct pattern_match *m)
{
	return m->errtext;
}

/* The i-th entry of the name table (0-based, in name order): its name
 * (NUL-terminated, the pattern's) and group number.  Returns 0, or -1
 * past the end. */
int pattern_name(const struct pattern *p, uint32_t i, const char **name, int *group)
{
	uint32_t count = 0, size = 0;
	PCRE2_SPTR table;

	if (!p->code || pcre2_pattern_info(p->code, PCRE2_INFO_NAMECOUNT, &count) != 0 ||
	    i >= count)
		return -1;
	pcre2_pattern_info(p->code, PCRE2_INFO_NAMEENTRYSIZE, &size);
	pcre2_pattern_info(p->code, PCRE2_INFO_NAMETABLE, &table);
	table += (size_t)i * size;
	*group = (table[0] << 8) | table[1];
	*name = (const char *)table + 2;
	return 0;
}
