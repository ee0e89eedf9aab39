/* SPDX-License-Identifier: MIT */
/*
 * test_ack - end-to-end acknowledgements: tokens, chains and ordered
 * groups on their own, then whole pipelines in which a source hands each
 * batch a token and learns when every record made from it is durable
 * (through filters, broadcasts, routes, sorted merges, shard_by workers
 * and a reframing exec), and that a record that failed is never reported
 * done.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "csp/csp.h"
#include "core/engine.h"
#include "core/graph.h"
#include "core/stage.h"
#include "pipeline/spec.h"
#include "records/ack.h"
#include "records/batch.h"
#include "base/util.h"

#define MAX_TOKENS 4096

static char dir[64];

/* What the group's callback saw. */
static struct {
	int calls[MAX_TOKENS];
	int ok[MAX_TOKENS];
	uint64_t order[MAX_TOKENS];
	size_t n, done, failed, made;
} seen;

static void note(void *arg, uint64_t id, void *user, int ok)
{
	(void)arg;
	(void)user;
	assert_true(id < MAX_TOKENS);
	seen.calls[id]++;
	seen.ok[id] = ok;
	seen.order[seen.n++] = id;
	if (ok)
		seen.done++;
	else
		seen.failed++;
}

static int setup(void **state)
{
	(void)state;
	memset(&seen, 0, sizeof seen);
	snprintf(dir, sizeof dir, "/tmp/cspipe-ack.XXXXXX");
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

/* ---- tokens on their own --------------------------------------------- */

/* In a child: a token its creator keeps, one batch holding a reference,
 * and that reference released twice (the batch done, then freed with its
 * set still on it).  The token must not complete under its creator: the
 * run stops with an internal error instead.  Returns the child's status. */
static int release_twice_in_child(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct ack_group *g = ack_group_new(note, NULL, 0);
		struct ack_token *t = ack_token_new(g, 0, NULL);
		struct batch *b = batch_new(FRAMING_LINES, 0, 0);
		struct ackset *s;

		ack_token_keep(t);
		ack_token_ref(t);
		batch_ack(b, t);
		s = b->acks;
		ack_token_release(s->t[0], 1);   /* the holder's release */
		batch_free(b);                   /* and the batch's: one too many */
		ack_token_let_go(t, 1);
		_exit(seen.calls[0] == 1 ? 3 : 4);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void a_token_never_completes_under_its_creator(void **state)
{
	(void)state;
	int status = release_twice_in_child();
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void ordered_group_reports_in_id_order(void **state)
{
	struct ack_group *g = ack_group_new(note, NULL, 1);
	struct ack_token *t[5];

	(void)state;
	for (int i = 0; i < 5; i++)
		t[i] = ack_token_new(g, (uint64_t)i, NULL);
	ack_token_release(t[3], 1);
	ack_token_release(t[1], 1);
	assert_int_equal(seen.n, 0);
	ack_token_release(t[0], 1);
	assert_int_equal(seen.n, 2);          /* 0 and 1; 3 waits for 2 */
	ack_token_release(t[4], 0);
	ack_token_release(t[2], 1);
	assert_int_equal(seen.n, 5);
	for (uint64_t i = 0; i < 5; i++)
		assert_int_equal(seen.order[i], i);
	assert_int_equal(seen.ok[4], 0);
	assert_int_equal(seen.failed, 1);
	assert_int_equal(ack_group_pending(g), 0);
	ack_group_free(g);
}

static void a_batch_and_its_clones_release_each_reference(void **state)
{
	struct ack_group *g = ack_group_new(note, NULL, 0);
	struct batch *b = batch_new(FRAMING_LINES, 0, 0), *c, *empty;

	(void)state;
	batch_add(b, "x", 1, 0);
	batch_ack(b, ack_token_new(g, 7, NULL));
	c = batch_clone(b);
	empty = batch_new(FRAMING_LINES, 0, 0);
	ackset_add(&empty->acks, b->acks);
	batch_acks_done(b);
	batch_free(b);
	batch_free(empty);                  /* no records: done */
	assert_int_equal(seen.n, 0);
	batch_free(c);                      /* records never made durable */
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.calls[7], 1);
	assert_int_equal(seen.ok[7], 0);
	ack_group_free(g);
}

static void a_chain_releases_what_it_holds_as_it_ends(void **state)
{
	struct ack_group *g = ack_group_new(note, NULL, 0);
	struct ack_token *chain = ack_chain_new();
	struct ackset *in = NULL, *out = NULL;

	(void)state;
	ackset_push(&in, ack_token_new(g, 1, NULL));
	ackset_push(&in, ack_token_new(g, 2, NULL));
	ack_chain_hold(chain, &in);
	assert_null(in);
	ack_token_ref(chain);
	ackset_push(&out, chain);           /* an output's reference */
	ack_token_release(chain, 1);        /* the holder lets go */
	assert_int_equal(seen.n, 0);
	ackset_release(out, 1);
	assert_int_equal(seen.done, 2);
	ack_group_free(g);
}

/* ---- through the engine ---------------------------------------------- */

/* A source like generate (count records "1".."count"), 100 records a
 * batch, each batch with a token of an ordered group numbered from 0. */
static int acking_run(struct stage *st, struct stage_io *io, struct err *e)
{
	int64_t count = *(int64_t *)st->conf;   /* generate's first option */
	struct ack_group *g = st->priv;
	int64_t n = 1;
	uint64_t id = 0;

	(void)e;
	while (n <= count) {
		struct batch *b = batch_new(FRAMING_LINES, 0, 0);
		char text[32];
		for (int i = 0; i < 100 && n <= count; i++, n++) {
			int len = snprintf(text, sizeof text, "%lld", (long long)n);
			batch_add(b, text, (size_t)len, b->n);
		}
		batch_ack(b, ack_token_new(g, id++, NULL));
		seen.made = id;
		int r = io_send(io, b);
		if (r == CSP_CLOSED)
			return STAGE_STOP;
		if (r != CSP_OK)
			break;
	}
	return STAGE_OK;
}

static struct stage_kind acking_kind;

/* Run YAML text whose first stage is `generate: {count: N}`, made to
 * hand out tokens; returns the exit status.  Every token made must have
 * been reported exactly once by then. */
static int run(const char *fmt, ...)
{
	char yaml[4096];
	va_list ap;
	struct diags d = { 0 };
	struct spec *spec;
	struct pipeline *p;
	struct graph_opts go = { .kinds = &stage_registry };
	struct run_opts o = { 0 };
	struct ack_group *g = ack_group_new(note, NULL, 1);
	void *priv;
	int code;

	va_start(ap, fmt);
	vsnprintf(yaml, sizeof yaml, fmt, ap);
	va_end(ap);
	spec = spec_load_string("test", yaml, strlen(yaml), &d);
	p = spec ? pipeline_load(spec, &go, &d) : NULL;
	if (!p) {
		diag_print(&d);
		fail();
	}
	diags_free(&d);
	acking_kind = *p->stages[0]->kind;
	acking_kind.run = acking_run;
	p->stages[0]->kind = &acking_kind;
	priv = p->stages[0]->priv;              /* generate's, freed by its kind */
	p->stages[0]->priv = g;
	code = engine_run(p, &o);
	p->stages[0]->priv = priv;
	pipeline_free(p);
	spec_free(spec);
	for (size_t i = 0; i < seen.made; i++)
		assert_int_equal(seen.calls[i], 1);
	assert_int_equal(ack_group_pending(g), 0);
	for (size_t i = 0; i < seen.n; i++)
		assert_int_equal(seen.order[i], i);
	ack_group_free(g);
	return code;
}

static void filtered_and_synced_records_are_done(void **state)
{
	(void)state;
	/* 1000..1999 and 3000..3999: whole batches filtered away. */
	assert_int_equal(run("stages:\n"
			     "  - generate: 5000\n"
			     "  - filter: {pattern: '^[1-3]...$', invert: true}\n"
			     "  - filter: '^[^2]'\n"
			     "    workers: 3\n"
			     "  - file: {path: %s/out, append: true, sync: true}\n", dir), 0);
	assert_int_equal(seen.made, 50);
	assert_int_equal(seen.done, 50);
}

static void broadcast_route_and_sorted_merge_are_done(void **state)
{
	(void)state;
	assert_int_equal(run("stages:\n"
			     "  - name: src\n"
			     "    generate: 3000\n"
			     "  - {name: a, from: src, file: {path: %s/a, append: true, sync: true}}\n"
			     "  - name: r\n"
			     "    from: src\n"
			     "    route: {cases: {odd: '[13579]$'}, default: even}\n"
			     "  - {name: m, from: [r.odd, r.even], merge: {mode: sorted, "
			     "key: {field: 1, numeric: true}}}\n"
			     "  - map: {prefix: 'x'}\n"
			     "    workers: 4\n"
			     "    shard_by: {field: 1}\n"
			     "  - file: %s/b\n", dir, dir), 0);
	assert_int_equal(seen.made, 30);
	assert_int_equal(seen.done, 30);
}

static void a_reframing_stage_passes_them_on_at_the_end(void **state)
{
	(void)state;
	assert_int_equal(run("stages:\n"
			     "  - generate: 2000\n"
			     "  - exec: [cat]\n"
			     "  - file: {path: %s/out, append: true, sync: true}\n", dir), 0);
	assert_int_equal(seen.made, 20);
	assert_int_equal(seen.done, 20);
}

static void head_counts_what_it_cut_as_done(void **state)
{
	(void)state;
	assert_int_equal(run("stages:\n"
			     "  - generate: 100000\n"
			     "  - head: 150\n"
			     "  - file: {path: %s/out, append: true, sync: true}\n", dir), 0);
	assert_true(seen.made >= 2);
	assert_int_equal(seen.ok[0], 1);
	assert_int_equal(seen.ok[1], 1);
}

static void a_failed_write_is_never_done(void **state)
{
	(void)state;
	assert_int_equal(run("stages:\n"
			     "  - generate: 3000\n"
			     "  - file: {path: /dev/full, append: true, sync: true}\n"), 1);
	assert_int_equal(seen.done, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(ordered_group_reports_in_id_order, setup, teardown),
		cmocka_unit_test_setup_teardown(a_token_never_completes_under_its_creator, setup, teardown),
		cmocka_unit_test_setup_teardown(a_batch_and_its_clones_release_each_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(a_chain_releases_what_it_holds_as_it_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(filtered_and_synced_records_are_done, setup, teardown),
		cmocka_unit_test_setup_teardown(broadcast_route_and_sorted_merge_are_done, setup, teardown),
		cmocka_unit_test_setup_teardown(a_reframing_stage_passes_them_on_at_the_end, setup, teardown),
		cmocka_unit_test_setup_teardown(head_counts_what_it_cut_as_done, setup, teardown),
		cmocka_unit_test_setup_teardown(a_failed_write_is_never_done, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
