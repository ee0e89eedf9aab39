/* SPDX-License-Identifier: MIT */
/*
 * util.h - small things every layer above the runtime uses: growable
 * buffers, error reports, diagnostics lists, number and duration parsing.
 */
#ifndef CSPIPE_UTIL_H
#define CSPIPE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes (DESIGN.md). */
enum {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,     /* runtime error: the message names the stage */
	EXIT_USAGE = 2,       /* usage or pipeline-file error: file:line:col */
	EXIT_DEADLINE = 124,  /* deadline exceeded, like timeout(1) */
	EXIT_SIGINT = 130,
	EXIT_SIGTERM = 143,
};

/* Allocation: the runtime's csp_malloc family (csp/csp.h), whose policy
 * on exhaustion is csp_oom's (the engine's handler, then exit 1); these
 * two build on it. */
char *util_memdup(const void *p, size_t len);  /* len bytes plus a NUL */
/* Grow array p of *cap elements of size elem to hold need (doubling). */
void *util_grow(void *p, size_t *cap, size_t need, size_t elem);
/* Render len bytes of user text for a message into out (n bytes): control
 * bytes escaped (\n, \t, \xHH), cut after about 60 characters with "...". */
void util_show(char *out, size_t n, const char *s, size_t len);

/* A growable byte buffer.  Zero-initialise; buf_free releases. */
struct buf {
	char *p;
	size_t len, cap;
};
void buf_reserve(struct buf *b, size_t extra);   /* room for len + extra */
void buf_append(struct buf *b, const void *p, size_t n);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
const char *buf_cstr(struct buf *b);             /* NUL-terminated view */
void buf_free(struct buf *b);

/* One error: a message for the user, already in the form
 * "WHERE: WHAT" without the "cspipe: " prefix.  Zero-initialise. */
struct err {
	char msg[1024];
	int set;
};
void err_set(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void err_vset(struct err *e, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Prefix the message with "where: " (used as an error climbs up). */
void err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A list of positioned diagnostics: every error of one pipeline file is
 * reported in one run.  Each entry is "FILE:LINE:COL: message". */
struct diags {
	char **msgs;
	size_t n, cap;
	size_t warnings;   /* entries that are warnings (do not fail) */
};
/* Where a value was written: FILE:LINE:COL, 1-based, COL counted in
 * characters.  line 0 is a place the program made ("FILE: message");
 * file NULL is no place at all (the message alone). */
struct pos {
	const char *file;
	int line, col;
};
/* Add "FILE:LINE:COL: message" at position p (see struct pos). */
void diag_at(struct diags *d, struct pos p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void diag_vat(struct diags *d, struct pos p, const char *kind, const char *fmt,
	      va_list ap)
	__attribute__((format(printf, 4, 0)));
/* The same as a warning: "FILE:LINE:COL: warning: message", counted in
 * d->warnings. */
void diag_warn_at(struct diags *d, struct pos p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Add "WHERE: message" (where NULL: only the message). */
void diag_addf(struct diags *d, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void diag_vaddf(struct diags *d, const char *where, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
size_t diag_errors(const struct diags *d);  /* entries that are not warnings */
void diag_print(const struct diags *d);  /* each as "cspipe: ENTRY\n" on stderr */
void diags_free(struct diags *d);

/* Parsing of values as the pipeline file writes them.  Each returns 0 or -1
 * with a message in *why (a static string, e.g. "missing unit (e.g. 5s)").
 *
 * parse_duration: Go's time.ParseDuration without a sign: a sequence of
 *   decimal numbers each with a unit ns, us (or µs), ms, s, m, h: "300ms",
 *   "1.5s", "1h30m", ".5s"; "0" alone is zero; a bare number, a space, a
 *   sign ("-1s") and other units ("1d") are errors; at most INT64_MAX ns.
 * parse_size: a whole or decimal number and an optional unit, no space:
 *   B or none (bytes, must be whole), KiB MiB GiB TiB PiB EiB (powers of
 *   1024), kB/KB MB GB TB PB EB (powers of 1000).  A bare K, M, G is
 *   refused as ambiguous.  Fractions round down ("1.1KiB" = 1126 bytes);
 *   overflow of 64 bits is an error.
 * parse_int: decimal with optional sign, no spaces or other bases ("010"
 *   is ten); overflow of int64 is an error.
 * parse_bool: true/false, yes/no, on/off in any case; returns -1 else. */
int parse_duration(const char *s, int64_t *ns, const char **why); /* Go-style: 300ms, 1.5s, 1h30m */
int parse_size(const char *s, uint64_t *bytes, const char **why); /* 4096, 64KiB, 1.5MiB, 2GiB, also KB/MB/GB = 1000s */
int parse_int(const char *s, int64_t *v, const char **why);
int parse_bool(const char *s, int *v);   /* true/false/yes/no/on/off */
/* Write a duration the way parse_duration reads it back exactly ("0s",
 * "250ms", "1.5us", "1m30s", "1h30m", "2h0.5s"). */
void format_duration(char *out, size_t n, int64_t ns);
/* "64KiB" when a binary unit divides bytes exactly, else "1000"; exact. */
void format_size(char *out, size_t n, uint64_t bytes);
/* A size for people to read, in binary units to a tenth: compact gives
 * "1.5MiB", "2MiB", "640B" (validate's bound); else "1.5 MiB", "2.0 MiB",
 * "640 B" (the stats table's columns). */
void format_size_human(char *out, size_t n, uint64_t bytes, int compact);

/* Levenshtein distance, for "did you mean". */
size_t edit_distance(const char *a, const char *b);
/* The closest of names[0..n) to s if it is close enough to suggest, else
 * NULL: a name equal but for case; else the nearest of those within
 * max(1, strlen(s) / 3) edits, or of which s is a prefix (or that are a
 * prefix of s), two characters or more (ties: the earlier name). */
const char *did_you_mean(const char *s, const char *const *names, size_t n);
/* The note that ends an "unknown ..." message, as the three arguments of
 * a "%s%s%s": " (did you mean 'HINT'?)" for a hint from did_you_mean, or
 * nothing when it is NULL.  The one place the note is worded. */
#define DYM_ARGS(hint) \
	(hint) ? " (did you mean '" : "", (hint) ? (hint) : "", (hint) ? "'?)" : ""

#endif
