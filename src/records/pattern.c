/* SPDX-License-Identifier: MIT */
/*
 * pattern.c - PCRE2 patterns, fixed strings, and a literal prefilter:
 * compiling and matching.  The literal search (SIMD) is pattern_scan.c,
 * the extraction of a regex's literals pattern_lit.c; pattern_int.h is
 * what the three share.
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
 * a few literals (pattern_lit.c); if it can, pattern_scan finds
 * those literals with SIMD compares, and a stage can skip every record
 * without a hit.  The extraction gives up on any syntax it does not model,
 * so an unusual pattern is merely slower, never wrong.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "records/pattern_int.h"

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
	pattern_extract_literals(p);
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
