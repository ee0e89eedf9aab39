/* SPDX-License-Identifier: MIT */
/*
 * json.h - a small JSON reader, enough for cspipe's own --stats=json
 * output (read back by `cspipe graph --stats`).
 */
#ifndef CSPIPE_JSON_H
#define CSPIPE_JSON_H

#include <stddef.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	double num;             /* number, bool (0/1) */
	char *str;              /* string */
	size_t n;               /* array items / object members */
	struct json **items;    /* array items, object values */
	char **keys;            /* object keys */
};

/* Parse text; NULL with a message ("at byte N: ...") in err on error. */
struct json *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(struct json *j);
struct json *json_get(const struct json *obj, const char *key);  /* NULL if absent */

#endif
