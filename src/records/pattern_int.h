/* SPDX-License-Identifier: MIT */
/*
 * pattern_int.h - the inside of a pattern, shared by pattern.c (PCRE2 and
 * matching), pattern_scan.c (the literal search) and pattern_lit.c (the
 * extraction of a regex's literals).  Private to those three.
 */
#ifndef CSPIPE_PATTERN_INT_H
#define CSPIPE_PATTERN_INT_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

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

static inline int is_upper(unsigned c) { return c - 'A' < 26u; }
static inline int is_lower(unsigned c) { return c - 'a' < 26u; }
static inline int is_alpha(unsigned c) { return is_upper(c) || is_lower(c); }
static inline int is_digit(unsigned c) { return c - '0' < 10u; }
static inline unsigned char fold(unsigned char c) { return is_upper(c) ? (unsigned char)(c | 0x20) : c; }

/* Set up a scanner over n literals (bytes already folded when icase).  The
 * literal bytes must stay valid as long as the scanner.  Picks the SIMD
 * search the CPU has.  This function can't fail. */
void scanner_init(struct scanner *sc, const unsigned char *const *b,
		  const size_t *len, int n, int icase);

/* Compute p's prefilter: sets p->scan_kind and p->scan (with p->litbuf).
 * Leaves PAT_SCAN_NONE when the pattern cannot be analysed or its
 * literals would be a poor filter.  This function can't fail. */
void pattern_extract_literals(struct pattern *p);

#endif
