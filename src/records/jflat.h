/* SPDX-License-Identifier: MIT */
/*
 * jflat.h - a fast reader for the commonest structured record: a flat
 * JSON object of plain values.
 *
 * Most JSON Lines records are one object whose values are ASCII strings
 * without escapes, small integers, true, false or null.  For those, the
 * bytes of every member already are what cspipe would write back (its
 * compact JSON, its CSV cell), so a stage can take them from the record
 * without building a document.  jflat_scan reads such a record in one
 * pass, checking it as strictly as a JSON parser does, and refuses
 * anything outside that shape; the caller then takes the general road
 * (json_doc.h), which gives the same result, only slower.
 *
 * The shape (blanks are JSON's: space, tab, CR, LF; anywhere between
 * tokens):
 *
 *   record  { }  or  { member , member ... }
 *   member  string : value
 *   string  " bytes 0x20..0x7f but '"' and '\' "
 *   value   string, true, false, null, or an integer of at most 18
 *           digits (an int64 whatever they are), not -0
 *
 * Anything else (escapes, bytes above 0x7f, fractions, exponents, nested
 * objects and arrays, more than JFLAT_MAX members, invalid JSON) is
 * refused, never misread.
 */
#ifndef CSPIPE_JFLAT_H
#define CSPIPE_JFLAT_H

#include <stddef.h>
#include <stdint.h>

/* Most members a flat record may have (more: the general road). */
#define JFLAT_MAX 64

enum jflat_type { JF_STRING, JF_NUMBER, JF_TRUE, JF_FALSE, JF_NULL };

struct jflat {
	size_t n;                      /* members */
	struct jflat_member {
		const char *key;       /* the key's bytes, without quotes */
		const char *val;       /* the value's JSON text (a string with
					  its quotes) */
		uint32_t klen, vlen;
		uint8_t type;          /* enum jflat_type */
	} m[JFLAT_MAX];
};

/* Read p[0..n) as a flat record into f.  Returns 0, or -1 when it is not
 * one (f is then undefined).  Cannot fail otherwise; reads nothing past
 * p + n. */
int jflat_scan(const char *p, size_t n, struct jflat *f);
/* The index of the first member whose key is k[0..klen), or -1 (a JSON
 * parser's lookup: the first of duplicate keys). */
int jflat_find(const struct jflat *f, const char *k, size_t klen);

#endif
