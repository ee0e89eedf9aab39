/* SPDX-License-Identifier: MIT */
/*
 * graph_shard.c - a stage's shard_by key read from the file: a field
 * (with an optional delimiter) or a pattern, exactly one, the pattern
 * compiled where it is written.
 */
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "core/graph_int.h"
#include "records/jpath.h"
#include "records/pattern.h"
#include "records/shard.h"

int graph_parse_shard(const struct optval *v, void *dst, struct diags *d)
{
	struct shard_key *k;
	const struct optval *f, *p, *del;
	int rc = -1;

	if (optval_type(v) != OPTVAL_TABLE) {
		diag_at(d, optval_pos(v), "shard_by: expected a mapping ({field: N} or "
			"{pattern: P}), got a %s", optval_type_name(v));
		return -1;
	}
	k = csp_calloc(1, sizeof *k);
	f = optval_get(v, "field");
	p = optval_get(v, "pattern");
	del = optval_get(v, "delimiter");
	for (size_t i = 0; i < optval_count(v); i++) {
		static const char *const names[] = { "field", "delimiter", "pattern" };
		const char *key = optval_str(optval_key(v, i), NULL);
		if (strcmp(key, "field") && strcmp(key, "delimiter") && strcmp(key, "pattern")) {
			const char *dym = did_you_mean(key, names, 3);
			diag_at(d, optval_pos(optval_key(v, i)), "shard_by: unknown key '%s'%s%s%s",
				key, DYM_ARGS(dym));
			goto out;
		}
	}
	if (!!f == !!p) {
		diag_at(d, optval_pos(v), "shard_by: give exactly one of 'field' and 'pattern'");
		goto out;
	}
	if (f && optval_type(f) == OPTVAL_SCALAR && optval_str(f, NULL)[0] == '.') {
		/* A path: a structured record's field. */
		char msg[128];
		size_t at = 0;
		if (del) {
			diag_at(d, optval_pos(del), "shard_by: delimiter goes with a field number, "
				"not a path");
			goto out;
		}
		k->path = csp_calloc(1, sizeof *k->path);
		if (field_path(k->path, optval_str(f, NULL), msg, sizeof msg, &at)) {
			diag_at(d, optval_pos(f), "shard_by: field: bad path '%s': %s at column %zu",
				optval_str(f, NULL), msg, at + 1);
			goto out;
		}
	} else if (f) {
		int64_t n;
		const char *why;
		if (optval_type(f) != OPTVAL_SCALAR ||
		    parse_int(optval_str(f, NULL), &n, &why) || n < 1 || n > 1000000) {
			diag_at(d, optval_pos(f), "shard_by: field: expected a field number "
				"from 1, got '%s'", optval_type(f) == OPTVAL_SCALAR ?
				optval_str(f, NULL) : optval_type_name(f));
			goto out;
		}
		k->field = (int)n;
		if (del) {
			if (optval_type(del) != OPTVAL_SCALAR || optval_len(del) == 0) {
				diag_at(d, optval_pos(del), "shard_by: delimiter: expected a "
					"non-empty string");
				goto out;
			}
			k->delimiter = csp_strdup(optval_str(del, NULL));
		}
	} else {
		char msg[256];
		size_t off = 0, len;
		const char *text;
		if (del) {
			diag_at(d, optval_pos(del), "shard_by: delimiter goes with field, "
				"not pattern");
			goto out;
		}
		if (optval_type(p) != OPTVAL_SCALAR) {
			diag_at(d, optval_pos(p), "shard_by: pattern: expected a string");
			goto out;
		}
		text = optval_str(p, &len);
		k->pattern = pattern_compile(text, len, 0, msg, sizeof msg, &off);
		if (!k->pattern) {
			diag_at(d, optval_pos(p), "shard_by: bad pattern: %s at offset %zu",
				msg, off);
			goto out;
		}
	}
	*(struct shard_key **)dst = k;
	k = NULL;
	rc = 0;
out:
	graph_free_shard(&k);
	return rc;
}

void graph_free_shard(void *dst)
{
	struct shard_key *k = *(struct shard_key **)dst;

	if (!k)
		return;
	free(k->delimiter);
	pattern_free(k->pattern);
	if (k->path)
		jpath_free(k->path);
	free(k->path);
	free(k);
	*(struct shard_key **)dst = NULL;
}
