/* SPDX-License-Identifier: MIT */
/*
 * pattern.h - PCRE2 patterns, compiled once with JIT, matched with
 * per-worker match data.  Shared by filter, map, route, merge keys and
 * shard_by.
 *
 * A pattern is compiled in a stage's check (so `cspipe validate` reports a
 * bad one at its file:line:col) and is read-only afterwards; each worker
 * makes its own struct pattern_match.
 */
#ifndef CSPIPE_PATTERN_H
#define CSPIPE_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#define PAT_ICASE  1u   /* ignore case */
#define PAT_FIXED  2u   /* a literal string, not a regex */

/* Default limits: a catastrophic pattern such as (a+)+$ gives up instead of
 * hanging a worker. */
#define PAT_MATCH_LIMIT 10000000u
#define PAT_DEPTH_LIMIT 100000u

struct pattern;
struct pattern_match;

/* Compile src[0..len).  On error returns NULL and writes PCRE2's message
 * and the offset in the pattern into err / *erroff. */
struct pattern *pattern_compile(const char *src, size_t len, unsigned flags,
				char *err, size_t errlen, size_t *erroff);
void pattern_free(struct pattern *p);
void pattern_set_limits(struct pattern *p, uint32_t match_limit, uint32_t depth_limit);
uint32_t pattern_captures(const struct pattern *p);   /* number of capture groups */
/* The group number of a named group, or -1. */
int pattern_group(const struct pattern *p, const char *name, size_t len);
const char *pattern_source(const struct pattern *p);
/* The i-th named group (name order): 0 with its name and number, or -1
 * past the last. */
int pattern_name(const struct pattern *p, uint32_t i, const char **name, int *group);

struct pattern_match *pattern_match_new(const struct pattern *p);
void pattern_match_free(struct pattern_match *m);

/* Search subject[0..len) from `start`.  Returns 1 on a match (offsets via
 * pattern_ovector), 0 for none, PAT_LIMIT when a match or depth limit was
 * hit, PAT_ERROR for any other PCRE2 error (subject is not valid for the
 * pattern, ...). */
enum { PAT_LIMIT = -1, PAT_ERROR = -2 };
int pattern_exec(const struct pattern *p, struct pattern_match *m,
		 const char *subject, size_t len, size_t start);
/* After a match: pairs of offsets, [0] and [1] the whole match, then each
 * group (PCRE2_UNSET for a group that did not take part). */
const size_t *pattern_ovector(const struct pattern_match *m);
/* Text of the last PAT_ERROR/PAT_LIMIT. */
const char *pattern_errtext(const struct pattern_match *m);

/* pattern_exec with flags: PAT_NOTEMPTY_ATSTART refuses an empty match at
 * `start` (a global replace after a non-empty match, as sed does). */
#define PAT_NOTEMPTY_ATSTART 1u
int pattern_exec_flags(const struct pattern *p, struct pattern_match *m,
		       const char *subject, size_t len, size_t start,
		       unsigned flags);

/* Literal prefilter.  PAT_SCAN_NEEDED: every match contains one of a few
 * literals, so a subject in which pattern_scan finds none cannot match;
 * PAT_SCAN_EXACT: moreover a subject matches exactly when it holds one.
 * The literals never contain '\n' or '\0', so a hit found anywhere in a
 * terminated batch's data lies inside one record.  Read-only: any thread. */
enum { PAT_SCAN_NONE = 0, PAT_SCAN_NEEDED = 1, PAT_SCAN_EXACT = 2 };
int pattern_scan_kind(const struct pattern *p);
/* The first hit in s[0..len) (every hit lies wholly inside), or NULL. */
const char *pattern_scan(const struct pattern *p, const char *s, size_t len);

#endif
