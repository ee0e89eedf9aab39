/* SPDX-License-Identifier: MIT */
/*
 * pipetest_check.c - check a pipeline file's tests: section (the keys of
 * each case, its records, its sinks) with positioned diagnostics, and hand
 * the cases to pipetest.c, which runs them.
 */
#include <string.h>

#include "cli/pipetest.h"
#include "cli/pipetest_int.h"
#include "csp/csp.h"
#include "core/graph.h"
#include "core/stage.h"
#include "pipeline/spec.h"
#include "base/util.h"

/* The most diff lines printed for one sink before "...". */

static const char *const case_keys[] = { "name", "input", "input_file", "expect",
					 "expect_file" };

/* A list whose items are all strings (numbers and the like as written). */
static int check_records(const struct node *n, const char *what, struct diags *d)
{
	int bad = 0;

	if (n->type != NODE_SEQ) {
		diag_add(d, n, "%s: expected a list of records, got a %s", what,
			 node_type_name(n));
		return -1;
	}
	for (size_t i = 0; i < n->n; i++)
		if (n->items[i]->type != NODE_SCALAR || n->items[i]->is_null) {
			diag_add(d, n->items[i], "%s: a record is a string, got %s", what,
				 n->items[i]->type == NODE_SCALAR ? "null (write '' for "
				 "an empty record)" : n->items[i]->type == NODE_SEQ ?
				 "a list" : "a mapping");
			bad = -1;
		}
	return bad;
}

static int check_path(const struct node *n, const char *what, struct diags *d)
{
	if (n->type != NODE_SCALAR || n->is_null || !n->len) {
		diag_add(d, n, "%s: expected a file name, got %s", what,
			 n->type == NODE_SCALAR ? "nothing" : node_type_name(n));
		return -1;
	}
	return 0;
}

/* The sinks of p, named. */
static size_t sinks_of(const struct pipeline *p, const char **names, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		if (p->stages[i]->kind->role == ROLE_SINK && n < max)
			names[n++] = p->stages[i]->name;
	return n;
}

static int check_expect(const struct node *n, const struct pipeline *p, struct diags *d)
{
	const char *sinks[64];
	size_t ns = sinks_of(p, sinks, 64);
	int bad = 0;

	if (n->type == NODE_SEQ) {
		if (ns > 1) {
			diag_add(d, n, "expect: the pipeline has %zu sinks: say which "
				 "gets what (expect: {%s: [...], ...})", ns, sinks[0]);
			return -1;
		}
		return check_records(n, "expect", d);
	}
	if (n->type != NODE_MAP) {
		diag_add(d, n, "expect: expected a list of records, or a mapping of "
			 "sink names to lists, got a %s", node_type_name(n));
		return -1;
	}
	for (size_t i = 0; i < n->n; i++) {
		const char *k = n->keys[i]->str;
		size_t j;
		for (j = 0; j < ns; j++)
			if (!strcmp(k, sinks[j]))
				break;
		if (j == ns) {
			const char *dym = did_you_mean(k, sinks, ns);
			diag_add(d, n->keys[i], "expect: '%s' is not a sink of the "
				 "pipeline%s%s%s", k, dym ? " (did you mean '" : "",
				 dym ? dym : "", dym ? "'?)" : "");
			bad = -1;
		} else if (check_records(n->vals[i], k, d)) {
			bad = -1;
		}
	}
	return bad;
}

/*
 * Check the tests: section of root against pipeline p (loaded from the
 * same file), adding positioned diagnostics.  With cases non-NULL, fills
 * *cases (the caller frees the array; the nodes stay root's).  Returns 0,
 * or -1 when the section has errors.
 */
int pipetest_check(const struct node *root, const struct pipeline *p,
		   struct tcase **cases, size_t *ncases, struct diags *d)
{
	const struct node *tests = root ? node_get(root, "tests") : NULL;
	int bad = 0;

	if (cases) {
		*cases = NULL;
		*ncases = 0;
	}
	if (!tests)
		return 0;
	if (tests->type != NODE_SEQ) {
		diag_add(d, tests, "tests: expected a list of cases, got %s",
			 tests->type == NODE_SCALAR ? "a string" : "a mapping");
		return -1;
	}
	for (size_t i = 0; i < tests->n; i++) {
		const struct node *c = tests->items[i];
		struct tcase tc = { .at = c };
		int cbad = 0;

		if (c->type != NODE_MAP) {
			diag_add(d, c, "tests: a case is a mapping (input:, expect:), "
				 "got a %s", node_type_name(c));
			bad = -1;
			continue;
		}
		for (size_t k = 0; k < c->n; k++) {
			const char *key = c->keys[k]->str;
			const struct node *v = c->vals[k];
			if (!strcmp(key, "name")) {
				if (v->type != NODE_SCALAR) {
					diag_add(d, v, "name: expected a string, got a %s",
						 node_type_name(v));
					cbad = -1;
				}
				tc.name = v->type == NODE_SCALAR ? v->str : NULL;
			} else if (!strcmp(key, "input")) {
				tc.input = v;
				cbad |= check_records(v, "input", d);
			} else if (!strcmp(key, "input_file")) {
				tc.input_file = v;
				cbad |= check_path(v, "input_file", d);
			} else if (!strcmp(key, "expect")) {
				tc.expect = v;
				cbad |= check_expect(v, p, d);
			} else if (!strcmp(key, "expect_file")) {
				tc.expect_file = v;
				cbad |= check_path(v, "expect_file", d);
				if (!cbad) {
					const char *sinks[2];
					if (sinks_of(p, sinks, 2) > 1) {
						diag_add(d, v, "expect_file: the pipeline has "
							 "several sinks: use expect: {SINK: "
							 "[...]} instead");
						cbad = -1;
					}
				}
			} else {
				const char *dym = did_you_mean(key, case_keys, 5);
				diag_add(d, c->keys[k], "unknown key '%s' in a test case%s%s%s",
					 key, dym ? " (did you mean '" : "", dym ? dym : "",
					 dym ? "'?)" : " (known: name, input, input_file, "
					 "expect, expect_file)");
				cbad = -1;
			}
		}
		if (tc.input && tc.input_file) {
			diag_add(d, tc.input_file, "input_file: a case has input: or "
				 "input_file:, not both");
			cbad = -1;
		} else if (!tc.input && !tc.input_file) {
			diag_add(d, c, "a test case needs input: [records] or input_file:");
			cbad = -1;
		}
		if (tc.expect && tc.expect_file) {
			diag_add(d, tc.expect_file, "expect_file: a case has expect: or "
				 "expect_file:, not both");
			cbad = -1;
		} else if (!tc.expect && !tc.expect_file) {
			diag_add(d, c, "a test case needs expect: [records] or expect_file:");
			cbad = -1;
		}
		if (cbad) {
			bad = -1;
			continue;
		}
		if (cases) {
			*cases = csp_realloc(*cases, (*ncases + 1) * sizeof **cases);
			(*cases)[(*ncases)++] = tc;
		}
	}
	return bad;
}

