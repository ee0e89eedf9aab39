/* SPDX-License-Identifier: MIT */
/*
 * fuzz_spec.c - libFuzzer target for the file layer.
 *
 * Bytes go to spec_load_string; a tree that loads goes through config_load
 * with a table that has every option type (at the root and in every
 * mapping below it), every scalar through the value parsers with their
 * round trips checked, and the bytes once more through spec_parse_value.
 * Nothing may crash, leak, hang or break an invariant (abort).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     test/fuzz/fuzz_spec.c src/pipeline/spec.c src/pipeline/config.c src/base/util.c -lyaml \
 *     -o /tmp/fuzz_spec && /tmp/fuzz_spec test/fuzz/corpus/spec
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/config.h"
#include "pipeline/spec.h"
#include "base/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sample {
	char *pattern;
	int64_t level;
	int ordered;
	int64_t timeout;
	uint64_t buffer;
	int format;
	struct strlist paths;
	int delimiter;
	char *custom;
	int64_t count;
};

static int custom_parse(const struct optval *v, void *dst, struct diags *d)
{
	char **p = dst;
	size_t len;
	const char *s = optval_str(v, &len);

	if (optval_type(v) != OPTVAL_SCALAR) {
		diag_at(d, optval_pos(v), "custom: expected a string, got a %s",
			optval_type_name(v));
		return -1;
	}
	*p = util_memdup(s, len);
	return 0;
}

static void custom_free(void *dst)
{
	char **p = dst;

	free(*p);
	*p = NULL;
}

static const char *const formats[] = {"gzip", "zlib", "deflate", NULL};

static const struct option opts[] = {
	{.name = "pattern", .type = OPT_STRING, .offset = offsetof(struct sample, pattern),
	 .flags = OPT_REQUIRED},
	{.name = "level", .type = OPT_INT, .offset = offsetof(struct sample, level),
	 .def = "6", .min = 0, .max = 9},
	{.name = "ordered", .type = OPT_BOOL, .offset = offsetof(struct sample, ordered),
	 .def = "yes"},
	{.name = "timeout", .type = OPT_DURATION, .offset = offsetof(struct sample, timeout),
	 .def = "5s", .min = 1, .max = INT64_MAX},
	{.name = "buffer", .type = OPT_SIZE, .offset = offsetof(struct sample, buffer),
	 .def = "64KiB", .min = 1, .max = (int64_t)1 << 40},
	{.name = "format", .type = OPT_ENUM, .offset = offsetof(struct sample, format),
	 .def = "gzip", .choices = formats},
	{.name = "paths", .type = OPT_STRLIST, .offset = offsetof(struct sample, paths)},
	{.name = "delimiter", .type = OPT_CHAR, .offset = offsetof(struct sample, delimiter),
	 .def = "\t"},
	{.name = "custom", .type = OPT_CUSTOM, .offset = offsetof(struct sample, custom),
	 .def = "x", .parse = custom_parse, .free = custom_free, .type_name = "thing"},
	{.name = "count", .type = OPT_INT, .offset = offsetof(struct sample, count)},
	{0},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* names the seed corpus uses, set and empty; others stay unset */
	setenv("CSPIPE_FUZZ", "value", 1);
	setenv("CSPIPE_FUZZ_EMPTY", "", 1);
	setenv("HOME", "/home/fuzz", 1);
	return 0;
}

/* The parsers on one scalar: whatever they accept must round-trip. */
static void values_check(const struct node *n)
{
	const char *why;
	int64_t ns, ns2, iv;
	uint64_t sz, sz2;
	char out[128];
	int b;

	if (strlen(n->str) != n->len)
		return;
	if (parse_duration(n->str, &ns, &why) == 0) {
		format_duration(out, sizeof out, ns);
		if (parse_duration(out, &ns2, &why) != 0 || ns2 != ns)
			abort();
	}
	if (parse_size(n->str, &sz, &why) == 0) {
		format_size(out, sizeof out, sz);
		if (parse_size(out, &sz2, &why) != 0 || sz2 != sz)
			abort();
	}
	(void)parse_int(n->str, &iv, &why);
	(void)parse_bool(n->str, &b);
}

/*
 * Visit every node (shared nodes once per use: aliases may add at most
 * 100000, so this stays bounded) and load each mapping as options.
 */
static void walk(const struct node *n, struct diags *d, int depth)
{
	size_t i;

	if (depth > 200)   /* spec_load bounds nesting at 100 */
		abort();
	if (n->type == NODE_SCALAR) {
		values_check(n);
		return;
	}
	if (n->type == NODE_MAP) {
		struct sample c;

		memset(&c, 0, sizeof c);
		(void)config_load_for(opts, &c, n, "fuzz", d);
		config_free(opts, &c);
		for (i = 0; i < n->n; i++) {
			walk(n->keys[i], d, depth + 1);
			walk(n->vals[i], d, depth + 1);
		}
		(void)node_get(n, "pattern");
		return;
	}
	for (i = 0; i < n->n; i++)
		walk(n->items[i], d, depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diags d = {0};
	struct spec *s = spec_load_string("fuzz.yaml", (const char *)data, size, &d);
	struct node *root = spec_root(s);
	char *text;

	if (!s && d.n == 0)
		abort();   /* a failed load always says why */
	if (root)
		walk(root, &d, 0);
	if (s) {
		struct sample c;

		memset(&c, 0, sizeof c);
		(void)config_load(opts, &c, NULL, &d);
		config_free(opts, &c);
	}
	spec_free(s);

	/* the same bytes as a -s value, into a spec the engine would hold */
	text = util_memdup(data, size);
	s = spec_load_string("base.yaml", "a: 1\n", 5, &d);
	if (s) {
		struct node *v = spec_parse_value(s, "-s x.y", text, &d);

		if (v) {
			spec_map_set(s, spec_root(s), "x", v);
			walk(spec_root(s), &d, 0);
		}
	}
	spec_free(s);
	free(text);
	diags_free(&d);
	return 0;
}
