/* SPDX-License-Identifier: MIT */
/*
 * fuzz_prefilter - the literal prefilter in front of PCRE2 against PCRE2
 * alone.  Input: one byte of flags, a pattern, a NUL, then a subject (one
 * record: its newlines become spaces, as a record holds none).  When PCRE2
 * matches, the prefilter must find a literal (PAT_SCAN_NEEDED); with
 * PAT_SCAN_EXACT it must find one exactly when PCRE2 matches.  A prefilter
 * that rejects a record PCRE2 matches loses data silently: abort.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "records/pattern.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* PCRE2 with the options pattern_compile uses, no JIT, no prefilter: 1
 * match, 0 none, -1 no verdict (an error or a limit). */
static int pcre2_alone(const char *pat, size_t plen, int icase, const char *s, size_t len)
{
	uint32_t opts = PCRE2_NEVER_UTF | PCRE2_NEVER_UCP | (icase ? PCRE2_CASELESS : 0);
	int code, rc;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, plen, opts, &code, &off, NULL);
	pcre2_match_data *md;
	pcre2_match_context *mc;

	if (!re)
		return -1;
	md = pcre2_match_data_create_from_pattern(re, NULL);
	mc = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(mc, 100000);
	pcre2_set_depth_limit(mc, 10000);
	rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, mc);
	pcre2_match_context_free(mc);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nul;
	char err[256], *subject;
	size_t erroff, plen, slen;
	struct pattern *p;
	int icase, kind, want;

	if (size < 2)
		return 0;
	icase = data[0] & 1;
	data++;
	size--;
	nul = memchr(data, '\0', size);
	if (!nul)
		return 0;
	plen = (size_t)(nul - (const char *)data);
	slen = size - plen - 1;
	p = pattern_compile((const char *)data, plen, icase ? PAT_ICASE : 0, err, sizeof err,
			    &erroff);
	if (!p)
		return 0;
	subject = util_memdup(nul + 1, slen);
	for (size_t i = 0; i < slen; i++)
		if (subject[i] == '\n')
			subject[i] = ' ';
	kind = pattern_scan_kind(p);
	want = kind == PAT_SCAN_NONE ? -1 :
		pcre2_alone((const char *)data, plen, icase, subject, slen);
	if (want >= 0) {
		int hit = pattern_scan(p, subject, slen) != NULL;
		if (want == 1 && !hit)
			abort();   /* the prefilter rejected a record PCRE2 matches */
		if (kind == PAT_SCAN_EXACT && hit != want)
			abort();   /* an exact prefilter disagrees with PCRE2 */
	}
	free(subject);
	pattern_free(p);
	return 0;
}
