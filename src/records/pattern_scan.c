/* SPDX-License-Identifier: MIT */
/*
 * pattern_scan.c - the literal search behind fixed patterns and the
 * prefilter: a few literals found with packed-pair SIMD compares (SSE2,
 * AVX2 when the CPU has it) or a portable loop.
 */
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86_SIMD 1
#endif

#include "records/pattern_int.h"

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
 *
 * SCAN_VEC_DEFINE writes this search once over a vector type, its width
 * and its intrinsics; it is instantiated below for SSE2 and for AVX2.
 */
#define SCAN_VEC_DEFINE(NAME, TARGET, W, WIDTH, SET1, SETZERO, LOADU, OR,   \
			CMPEQ, AND, MOVEMASK)                                  \
	TARGET static inline __attribute__((always_inline))                    \
	unsigned NAME##_mask(const unsigned char *p, const int N,              \
			     const W *c1, const W *c2, const W *m1,           \
			     const W *m2, const size_t *o1, const size_t *o2)  \
	{                                                                      \
		W acc = SETZERO();                                             \
		for (int j = 0; j < N; j++) {                                  \
			W a = CMPEQ(OR(LOADU((const W *)(p + o1[j])), m1[j]),  \
				    c1[j]);                                    \
			W b = CMPEQ(OR(LOADU((const W *)(p + o2[j])), m2[j]),  \
				    c2[j]);                                    \
			acc = OR(acc, AND(a, b));                              \
		}                                                              \
		return (unsigned)MOVEMASK(acc);                                \
	}                                                                      \
                                                                               \
	TARGET static inline __attribute__((always_inline))                    \
	const unsigned char *NAME##_n(const struct scanner *sc,                \
				      const unsigned char *s,                  \
				      const unsigned char *end, const int N)   \
	{                                                                      \
		W c1[SCAN_MAX], c2[SCAN_MAX], m1[SCAN_MAX], m2[SCAN_MAX];      \
		size_t o1[SCAN_MAX], o2[SCAN_MAX];                             \
		const unsigned char *p = s;                                    \
                                                                               \
		for (int j = 0; j < N; j++) {                                  \
			const struct lit *l = &sc->lit[j];                     \
			c1[j] = SET1((char)l->c1);                             \
			c2[j] = SET1((char)l->c2);                             \
			m1[j] = SET1((char)l->m1);                             \
			m2[j] = SET1((char)l->m2);                             \
			o1[j] = l->o1;                                         \
			o2[j] = l->o2;                                         \
		}                                                              \
		if ((size_t)(end - s) < sc->minlen)                            \
			return NULL;                                           \
		while ((size_t)(end - p) >= sc->span + WIDTH) {                \
			unsigned bits = NAME##_mask(p, N, c1, c2, m1, m2, o1,  \
						    o2);                       \
			while (bits) {                                         \
				const unsigned char *q =                       \
					p + __builtin_ctz(bits);               \
				if (hit_at(sc, q, end))                        \
					return q;                              \
				bits &= bits - 1;                              \
			}                                                      \
			p += WIDTH;                                            \
		}                                                              \
		/* Tail: fewer than span + WIDTH positions left. */            \
		unsigned char pad[PAIR_MAX + 32 + 2 * WIDTH];                  \
		size_t left = (size_t)(end - p);                               \
		memcpy(pad, p, left);                                          \
		memset(pad + left, 0, sizeof pad - left);                      \
		for (size_t base = 0; base < left; base += WIDTH) {            \
			unsigned bits = NAME##_mask(pad + base, N, c1, c2, m1, \
						    m2, o1, o2);               \
			while (bits) {                                         \
				size_t k = base + (size_t)__builtin_ctz(bits); \
				if (k >= left)                                 \
					break;                                 \
				if (hit_at(sc, p + k, end))                    \
					return p + k;                          \
				bits &= bits - 1;                              \
			}                                                      \
		}                                                              \
		return NULL;                                                   \
	}                                                                      \
                                                                               \
	TARGET static const unsigned char *NAME(const struct scanner *sc,      \
						const unsigned char *s,        \
						const unsigned char *end)      \
	{                                                                      \
		switch (sc->n) {                                               \
		case 1: return NAME##_n(sc, s, end, 1);                        \
		case 2: return NAME##_n(sc, s, end, 2);                        \
		case 3: return NAME##_n(sc, s, end, 3);                        \
		case 4: return NAME##_n(sc, s, end, 4);                        \
		default: return NAME##_n(sc, s, end, sc->n);                   \
		}                                                              \
	}

/* No attribute: SSE2 is part of the x86-64 baseline. */
#define SCAN_NO_TARGET

SCAN_VEC_DEFINE(find_sse2, SCAN_NO_TARGET, __m128i, 16, _mm_set1_epi8,
		_mm_setzero_si128, _mm_loadu_si128, _mm_or_si128,
		_mm_cmpeq_epi8, _mm_and_si128, _mm_movemask_epi8)
SCAN_VEC_DEFINE(find_avx2, __attribute__((target("avx2"))), __m256i, 32,
		_mm256_set1_epi8, _mm256_setzero_si256, _mm256_loadu_si256,
		_mm256_or_si256, _mm256_cmpeq_epi8, _mm256_and_si256,
		_mm256_movemask_epi8)
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
void scanner_init(struct scanner *sc, const unsigned char *const *b,
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
