/* SPDX-License-Identifier: MIT */
/*
 * test_engine - whole pipelines run through the engine: order across
 * workers, broadcast, early stop, errors, deadlines, and the shapes that
 * stress the wiring (1,000 workers, unbuffered channels, 50 stages).
 * Sinks are files in a temporary folder, so stdout stays TAP's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "records/batch.h"
#include "core/stage.h"
#include "csp/csp.h"
#include "core/engine.h"
#include "core/graph.h"
#include "pipeline/spec.h"
#include "base/util.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/cspipe-engine.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	batch_pool_drain();
	return 0;
}

/* Run YAML text (printf-style, %s gets the temp folder); returns the exit
 * status. */
static int run(const char *fmt, ...)
{
	char yaml[8192];
	va_list ap;
	struct diags d = { 0 };
	struct spec *spec;
	struct pipeline *p;
	struct graph_opts go = { .kinds = &stage_registry };
	struct run_opts o = { 0 };
	int code;

	va_start(ap, fmt);
	vsnprintf(yaml, sizeof yaml, fmt, ap);
	va_end(ap);
	spec = spec_load_string("test", yaml, strlen(yaml), &d);
	p = spec ? pipeline_load(spec, &go, &d) : NULL;
	if (!p) {
		diag_print(&d);
		diags_free(&d);
		spec_free(spec);
		return EXIT_USAGE;
	}
	diags_free(&d);
	code = engine_run(p, &o);
	pipeline_free(p);
	spec_free(spec);
	return code;
}

/* The lines of a file in the temp folder, as one string. */
static char *slurp(const char *name)
{
	char path[256];
	struct buf b = { 0 };
	char tmp[65536];
	size_t n;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	buf_cstr(&b);
	return b.p ? b.p : csp_strdup("");
}

/* As run(), with --stats=json; the JSON report is left in the temp
 * folder's "stats". */
static int run_stats(const char *fmt, ...)
{
	char yaml[8192], path[256];
	va_list ap;
	struct diags d = { 0 };
	struct spec *spec;
	struct pipeline *p;
	struct graph_opts go = { .kinds = &stage_registry };
	struct run_opts o = { .stats = STATS_JSON };
	int code, saved;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(yaml, sizeof yaml, fmt, ap);
	va_end(ap);
	spec = spec_load_string("test", yaml, strlen(yaml), &d);
	p = spec ? pipeline_load(spec, &go, &d) : NULL;
	assert_non_null(p);
	diags_free(&d);
	snprintf(path, sizeof path, "%s/stats", dir);
	fflush(stderr);
	saved = dup(2);
	f = fopen(path, "w");
	assert_non_null(f);
	dup2(fileno(f), 2);
	fclose(f);
	code = engine_run(p, &o);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	pipeline_free(p);
	spec_free(spec);
	return code;
}

/* The number after "key": in JSON text s (its first occurrence). */
static uint64_t json_count(const char *s, const char *key)
{
	char k[64];
	const char *at;

	snprintf(k, sizeof k, "\"%s\":", key);
	at = strstr(s, k);
	assert_non_null(at);
	return strtoull(at + strlen(k), NULL, 10);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Every line of s is "<prefix>N<suffix>" with N = 1, 2, ... in order. */
static void assert_sequence(const char *s, size_t count, const char *prefix)
{
	size_t n = 1, pl = strlen(prefix);

	while (*s) {
		const char *nl = strchr(s, '\n');
		char want[64];
		assert_non_null(nl);
		snprintf(want, sizeof want, "%s%zu", prefix, n);
		if ((size_t)(nl - s) != strlen(want) || memcmp(s, want, strlen(want))) {
			fprintf(stderr, "line %zu: got '%.*s', want '%s'\n", n, (int)(nl - s), s,
				want);
			fail();
		}
		s = nl + 1;
		n++;
	}
	assert_int_equal(n - 1, count);
	(void)pl;
}

/* workers: auto, stirred: the controller looks every millisecond and is
 * told to add or retire a worker of every auto stage at random, so that
 * workers join and leave the input channel, the turnstile and compress's
 * dictionary handoff mid-stream: order holds, nothing is lost, and the
 * gzip stream decompresses to its input. */
static _Atomic unsigned auto_seed = 1;
static _Atomic unsigned auto_asked;

static int auto_stir(const struct stage *st, int workers, int max)
{
	unsigned x = atomic_fetch_add(&auto_seed, 0x9e3779b9u) * 2654435761u;

	(void)st;
	atomic_fetch_add(&auto_asked, 1);
	return x >> 31 ? (workers < max ? workers + 1 : workers) : (workers > 1 ? workers - 1 : 1);
}

static void auto_workers_come_and_go_keeping_order(void **state)
{
	(void)state;
	engine_auto_want = auto_stir;
	engine_auto_tick = CSP_NS_PER_MS;
	atomic_store(&auto_asked, 0);
	/* Three rounds, and more (up to twenty) until the controller has
	 * been asked at all: on a loaded machine a run can end before its
	 * controller first gets the CPU. */
	for (int round = 0; round < 3 || (round < 20 && !atomic_load(&auto_asked)); round++) {
		assert_int_equal(run("max_workers: 4\n"
				     "stages:\n"
				     "  - generate: {count: 60000, template: 'n$n'}\n"
				     "  - filter: 'n'\n"
				     "    workers: auto\n"
				     "  - map: [{replace: 'n', with: 'line '}]\n"
				     "    workers: auto\n"
				     "  - map: [{replace: 'line ', with: 'l'}]\n"
				     "    workers: auto\n"
				     "    ordered: false\n"
				     "  - file: %s/unordered\n"
				     "  - file: %s/ordered\n"
				     "    from: map-3\n"
				     "  - compress: {level: 1}\n"
				     "    from: map-3\n"
				     "    workers: auto\n"
				     "  - decompress: {}\n"
				     "  - file: %s/roundtrip\n", dir, dir, dir), 0);
		char *got = slurp("ordered");
		assert_sequence(got, 60000, "line ");
		free(got);
		got = slurp("roundtrip");
		assert_sequence(got, 60000, "line ");
		free(got);
		got = slurp("unordered");
		assert_int_equal(count_lines(got), 60000);
		free(got);
	}
	assert_true(atomic_load(&auto_asked) > 0);
	engine_auto_want = NULL;
	engine_auto_tick = 200 * CSP_NS_PER_MS;
}

static void ordered_workers_keep_input_order(void **state)
{
	(void)state;
	assert_int_equal(run("stages:\n"
			     "  - generate: {count: 200000, template: 'r$n'}\n"
			     "  - map: {prefix: 'x'}\n"
			     "    workers: 8\n"
			     "  - filter: {pattern: 'zzz', invert: true}\n"
			     "    workers: 3\n"
			     "  - file: %s/out\n", dir), 0);
	char *out = slurp("out");
	assert_non_null(out);
	assert_sequence(out, 200000, "xr");
	free(out);
}

static void unordered_workers_keep_every_record(void **state)
{
	(void)state;
	assert_int_equal(run("stages:\n"
			     "  - generate: {count: 100000}\n"
			     "  - map: {suffix: '!'}\n"
			     "    workers: 4\n"
			     "    ordered: false\n"
			     "  - file: %s/out\n", dir), 0);
	char *out = slurp("out");
	assert_int_equal(count_lines(out), 100000);
	/* Each number appears once: sum them. */
	uint64_t sum = 0;
	for (char *p = out; *p;) {
		sum += strtoull(p, &p, 10);
		assert_true(*p == '!');
		p += 2;
	}
	assert_true(sum == 100000ULL * 100001ULL / 2);
	free(out);
}

static void broadcast_gives_every_reader_everything(void **state)
{
	(void)state;
	assert_int_equal(run("stages:\n"
			     "  - {name: src, generate: {count: 50000, template: 'n$n'}}\n"
			     "  - {name: a, from: src, file: %s/a}\n"
			     "  - {name: b, from: src, map: {case: upper}}\n"
			     "  - {name: c, from: b, file: %s/b}\n", dir, dir), 0);
	char *a = slurp("a"), *b = slurp("b");
	assert_sequence(a, 50000, "n");
	assert_sequence(b, 50000, "N");
	free(a);
	free(b);
}

static void head_stops_an_endless_source(void **state)
{
	(void)state;
	assert_int_equal(run("stages:\n"
			     "  - generate: {template: 'x$n'}\n"
			     "  - map: {suffix: ''}\n"
			     "    workers: 4\n"
			     "  - head: 10\n"
			     "  - file: %s/out\n", dir), 0);
	char *out = slurp("out");
	assert_sequence(out, 10, "x");
	free(out);
}

static void first_error_of_sixteen_workers_ends_the_run(void **state)
{
	(void)state;
	/* (a+)+$ on a long line of a's exhausts a tiny match limit. */
	assert_int_equal(run("stages:\n"
			     "  - generate: {template: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab'}\n"
			     "  - filter: {pattern: '(a+)+$', match_limit: 1000}\n"
			     "    workers: 16\n"
			     "  - file: %s/out\n", dir), EXIT_RUNTIME);
	/* The target was never created: the temporary file went away. */
	char *out = slurp("out");
	assert_null(out);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "ls -A %s | grep -q . && exit 1 || exit 0", dir);
	assert_int_equal(system(cmd), 0);
}

static void deadline_exits_124_with_whole_records(void **state)
{
	(void)state;
	assert_int_equal(run("timeout: 300ms\n"
			     "stages:\n"
			     "  - generate: {template: 'line $n'}\n"
			     "  - map: {suffix: ' end'}\n"
			     "    workers: 2\n"
			     "  - file: %s/out\n", dir), EXIT_DEADLINE);
	char *out = slurp("out");
	assert_non_null(out);
	size_t n = count_lines(out);
	assert_true(n > 0);
	/* A prefix of the full output, every record whole. */
	char *p = out;
	for (size_t i = 1; i <= n; i++) {
		char want[64];
		int len = snprintf(want, sizeof want, "line %zu end\n", i);
		assert_memory_equal(p, want, (size_t)len);
		p += len;
	}
	assert_int_equal(*p, '\0');
	free(out);
}

static void a_thousand_workers(void **state)
{
	(void)state;
	assert_int_equal(run("stages:\n"
			     "  - generate: {count: 300000, template: 'w$n'}\n"
			     "  - map: {case: upper}\n"
			     "    workers: 1000\n"
			     "  - file: %s/out\n", dir), 0);
	char *out = slurp("out");
	assert_sequence(out, 300000, "W");
	free(out);
}

static void unbuffered_fifty_stages(void **state)
{
	struct buf y = { 0 };

	(void)state;
	buf_printf(&y, "defaults: {buffer: 0}\nstages:\n  - generate: {count: 20000, template: 's$n'}\n");
	for (int i = 0; i < 48; i++)
		buf_printf(&y, "  - map: {suffix: ''}\n%s", i % 7 == 0 ? "    workers: 3\n" : "");
	buf_printf(&y, "  - file: %%s/out\n");
	assert_int_equal(run(buf_cstr(&y), dir), 0);
	char *out = slurp("out");
	assert_sequence(out, 20000, "s");
	free(out);
	buf_free(&y);
}

static void pause_in_emit(void)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	nanosleep(&ts, NULL);
}

/* A reader that leaves between a writer's choice of readers and its send
 * (head has its one record) once took the batch with it, neither sent,
 * freed nor counted. */
static void a_reader_leaving_mid_send_keeps_the_books(void **state)
{
	(void)state;
	engine_emit_pause = pause_in_emit;
	for (int i = 0; i < 10; i++) {
		assert_int_equal(run_stats("stages:\n"
					   "  - generate: {count: 20000}\n"
					   "  - head: 1\n"
					   "  - file: %s/out\n", dir), 0);
		char *js = slurp("stats");
		assert_non_null(js);
		uint64_t read = json_count(js, "records_read"),
			 written = json_count(js, "records_written"),
			 filtered = json_count(js, "records_filtered"),
			 dropped = json_count(js, "records_dropped"),
			 created = json_count(js, "records_created");
		if (read + created != written + filtered + dropped) {
			fprintf(stderr, "%s\n", js);
			engine_emit_pause = NULL;
			fail();
		}
		assert_int_equal(written, 1);
		free(js);
	}
	engine_emit_pause = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(ordered_workers_keep_input_order, setup, teardown),
		cmocka_unit_test_setup_teardown(unordered_workers_keep_every_record, setup, teardown),
		cmocka_unit_test_setup_teardown(broadcast_gives_every_reader_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(head_stops_an_endless_source, setup, teardown),
		cmocka_unit_test_setup_teardown(first_error_of_sixteen_workers_ends_the_run, setup, teardown),
		cmocka_unit_test_setup_teardown(deadline_exits_124_with_whole_records, setup, teardown),
		cmocka_unit_test_setup_teardown(a_thousand_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(unbuffered_fifty_stages, setup, teardown),
		cmocka_unit_test_setup_teardown(a_reader_leaving_mid_send_keeps_the_books, setup, teardown),
		cmocka_unit_test_setup_teardown(auto_workers_come_and_go_keeping_order, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
