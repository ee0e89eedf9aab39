/* SPDX-License-Identifier: MIT */
/*
 * pipetest.c - `cspipe test`: run a pipeline file's `tests:` cases.
 *
 * A case gives records to the source (input: [..], or input_file:, which
 * replace the source as INPUT files on the command line do) and says what
 * each sink must receive (expect: [..] with one sink, expect: {SINK: [..]}
 * with several, or expect_file:).  The pipeline runs for real, with its
 * workers and channels, except that every sink is swapped for a capture
 * that keeps in memory the bytes the sink would have written: a case
 * writes no file.  The captured bytes are split into records at the
 * sink's terminator and compared with the expectation, record by record;
 * a mismatch prints a diff (- expected, + got).
 *
 * input: records are written one per line (a newline after each) into an
 * anonymous in-memory file (memfd) that the source reads.  Relative
 * input_file: and expect_file: paths are taken from the pipeline file's
 * folder (the current folder for a pipeline read from stdin).
 */
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/pipetest.h"
#include "cli/pipetest_int.h"
#include "csp/csp.h"
#include "core/engine.h"
#include "core/graph.h"
#include "core/stage.h"
#include "pipeline/spec.h"
#include "base/util.h"

/* The most diff lines printed for one sink before "...". */
#define DIFF_MAX_LINES 40

/* Records shown unchanged around each difference. */
#define DIFF_CONTEXT 2

/* ---- the capture sink --------------------------------------------------- */

/* What one sink received: the bytes it would have written. */
struct capture {
	pthread_mutex_t mu;
	struct buf bytes;
	int term;                 /* terminator of the records, -1: not seen yet */
};

static const struct option capture_options[] = {
	{ .name = NULL },
};

static int capture_process(struct worker *w, struct batch *in, struct outq *out,
			   struct err *e)
{
	struct capture *c = w->stage->priv;
	size_t tl = batch_term_len(in);

	(void)out;
	(void)e;
	pthread_mutex_lock(&c->mu);
	if (c->term < 0 && tl)
		c->term = framing_term((enum framing)in->framing);
	for (uint32_t i = 0; i < in->n; i++) {
		buf_append(&c->bytes, rec_ptr(in, i), in->recs[i].len);
		if (tl)
			buf_putc(&c->bytes, (char)framing_term((enum framing)in->framing));
	}
	pthread_mutex_unlock(&c->mu);
	wstat_add(&w->stats->rec_out, in->records);
	wstat_add(&w->stats->bytes_out, batch_bytes(in));
	batch_free(in);
	return 0;
}

static void capture_free(struct stage *st)
{
	struct capture *c = st->priv;

	pthread_mutex_destroy(&c->mu);
	buf_free(&c->bytes);
	free(c);
	st->priv = NULL;
}

static const struct stage_kind kind_capture = {
	.name = "capture",
	.summary = "keep what reaches a sink in memory (cspipe test)",
	.role = ROLE_SINK,
	.flags = KIND_BYTES_IN | KIND_ONE_WORKER,
	.options = capture_options,
	.process = capture_process,
	.free = capture_free,
};

/* Swap sink st for a capture: release what its kind's check made and its
 * options, keep its name, inputs and position.  Can't fail. */
static void capture_install(struct stage *st)
{
	struct capture *c = csp_calloc(1, sizeof *c);

	if (st->kind->free && st->priv)
		st->kind->free(st);
	if (st->conf) {
		config_free(st->kind->options, st->conf);
		free(st->conf);
		st->conf = NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	c->term = -1;
	st->priv = c;
	st->kind = &kind_capture;
	st->workers = 1;
}

/* ---- records ------------------------------------------------------------- */

struct recs {
	char **p;
	size_t *len;
	size_t n;
};

static void recs_add(struct recs *r, const char *p, size_t len)
{
	r->p = csp_realloc(r->p, (r->n + 1) * sizeof *r->p);
	r->len = csp_realloc(r->len, (r->n + 1) * sizeof *r->len);
	r->p[r->n] = csp_malloc(len + 1);
	memcpy(r->p[r->n], p, len);
	r->p[r->n][len] = '\0';
	r->len[r->n++] = len;
}

static void recs_free(struct recs *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->p[i]);
	free(r->p);
	free(r->len);
	memset(r, 0, sizeof *r);
}

/* Split a byte stream into records at term; a last record without its
 * terminator counts too (as a sink would write it). */
static void recs_split(struct recs *r, const char *p, size_t len, int term)
{
	size_t i = 0;

	while (i < len) {
		const char *t = memchr(p + i, term, len - i);
		size_t end = t ? (size_t)(t - p) : len;
		recs_add(r, p + i, end - i);
		i = end + 1;
	}
}

/* ---- running a case ----------------------------------------------------- */

/* A path of a case: relative ones from the pipeline file's folder. */
static char *case_path(const char *file, const char *path)
{
	char *dir, *out;
	size_t n;

	if (path[0] == '/' || !strcmp(file, "-") || !strchr(file, '/'))
		return csp_strdup(path);
	dir = csp_strdup(file);
	n = strlen(dirname(dir)) + strlen(path) + 2;
	out = csp_malloc(n);
	snprintf(out, n, "%s/%s", dir, path);
	free(dir);
	return out;
}

/* Read a whole file into b; -1 with e set. */
static int slurp(const char *path, struct buf *b, struct err *e)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t got;
	int rc = 0;

	if (!f) {
		err_set(e, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(b, chunk, got);
	if (ferror(f)) {
		err_set(e, "%s: cannot read: %s", path, strerror(errno));
		rc = -1;
	}
	fclose(f);
	return rc;
}

/* Print one record of a diff, escaping what a terminal would hide. */
static void diff_line(FILE *f, char mark, const char *p, size_t len)
{
	fprintf(f, "      %c ", mark);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\\')
			fputs("\\\\", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('\n', f);
}

static int rec_eq(const struct recs *a, size_t i, const struct recs *b, size_t j)
{
	return a->len[i] == b->len[j] && !memcmp(a->p[i], b->p[j], a->len[i]);
}

/*
 * Compare want with got; on a difference print, under a heading naming the
 * sink, a diff built from their longest common subsequence (records in
 * both: "  ", only expected: "-", only got: "+").  Returns 1 when equal.
 */
static int compare(FILE *f, const char *sink, const struct recs *want,
		   const struct recs *got)
{
	size_t n = want->n, m = got->n, i = 0, j = 0, lines = 0;
	uint32_t *lcs;

	if (n == m) {
		size_t k = 0;
		while (k < n && rec_eq(want, k, got, k))
			k++;
		if (k == n)
			return 1;
	}
	fprintf(f, "    sink %s: expected %zu record%s, got %zu (- expected, + got):\n",
		sink, n, n == 1 ? "" : "s", m);
	if ((n + 1) * (m + 1) > ((size_t)1 << 26)) {
		/* Too large for the table: show the first difference. */
		while (i < n && i < m && rec_eq(want, i, got, i))
			i++;
		fprintf(f, "      first difference at record %zu\n", i + 1);
		if (i < n)
			diff_line(f, '-', want->p[i], want->len[i]);
		if (i < m)
			diff_line(f, '+', got->p[i], got->len[i]);
		return 0;
	}
	lcs = csp_calloc((n + 1) * (m + 1), sizeof *lcs);
#define L(a, b) lcs[(a) * (m + 1) + (b)]
	for (size_t a = n; a-- > 0;)
		for (size_t b = m; b-- > 0;)
			L(a, b) = rec_eq(want, a, got, b) ? L(a + 1, b + 1) + 1
				: L(a + 1, b) > L(a, b + 1) ? L(a + 1, b) : L(a, b + 1);
	/* The edit script: ' ' both, '-' want only, '+' got only; then print
	 * the changes with DIFF_CONTEXT records around each. */
	char *op = csp_malloc(n + m + 1);
	size_t *oi = csp_malloc((n + m + 1) * sizeof *oi), nops = 0, shown = 0;
	while (i < n || j < m) {
		if (i < n && j < m && rec_eq(want, i, got, j)) {
			op[nops] = ' ';
			oi[nops++] = i++;
			j++;
		} else if (i < n && (j == m || L(i + 1, j) >= L(i, j + 1))) {
			op[nops] = '-';
			oi[nops++] = i++;
		} else {
			op[nops] = '+';
			oi[nops++] = j++;
		}
	}
#undef L
	for (size_t k = 0, last = SIZE_MAX; k < nops && lines < DIFF_MAX_LINES; k++) {
		int near = 0;
		for (size_t c = k >= DIFF_CONTEXT ? k - DIFF_CONTEXT : 0;
		     c < nops && c <= k + DIFF_CONTEXT && !near; c++)
			near = op[c] != ' ';
		if (!near)
			continue;
		if (last != SIZE_MAX ? k != last + 1 : k != 0)
			fprintf(f, "      ...\n");
		last = k;
		if (op[k] == '+')
			diff_line(f, '+', got->p[oi[k]], got->len[oi[k]]);
		else
			diff_line(f, op[k], want->p[oi[k]], want->len[oi[k]]);
		lines++;
		shown = k + 1;
	}
	if (shown < nops) {
		int more = 0;
		for (size_t k = shown; k < nops && !more; k++)
			more = op[k] != ' ' || lines >= DIFF_MAX_LINES;
		if (more)
			fprintf(f, "      ...\n");
	}
	free(op);
	free(oi);
	free(lcs);
	return 0;
}

static void recs_from_node(struct recs *r, const struct node *list)
{
	for (size_t i = 0; i < list->n; i++)
		recs_add(r, list->items[i]->str, list->items[i]->len);
}

/*
 * Run case tc of `file` (whose text is `text`): load the pipeline again
 * (loading edits the tree), with the case's input as the source, sinks
 * captured.  Prints the verdict and any diff on stdout.  Returns 1 when
 * it passed, 0 when it failed, -1 when the file is bad.
 */
static int run_case(const struct stage_registry *kinds, const struct run_opts *ro,
		    const char *file, const char *text, size_t len,
		    const struct tcase *tc, size_t index)
{
	struct diags d = { 0 };
	struct spec *spec = NULL;
	struct pipeline *p = NULL;
	struct graph_opts go = { 0 };
	struct err e = { 0 };
	struct buf out = { 0 };
	char fdpath[64], label[256];
	const char *input;
	char *ipath = NULL;
	int fd = -1, code, ok = 1, rc = -1;

	if (tc->name)
		snprintf(label, sizeof label, "%s: %s", strcmp(file, "-") ? file : "stdin", tc->name);
	else
		snprintf(label, sizeof label, "%s: case %zu (line %d)", strcmp(file, "-") ? file : "stdin", index + 1,
			 tc->at->line);
	if (tc->input) {
		fd = memfd_create("cspipe-test-input", MFD_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "cspipe: test: memfd_create: %s\n", strerror(errno));
			goto out;
		}
		struct buf in = { 0 };
		for (size_t i = 0; i < tc->input->n; i++) {
			buf_append(&in, tc->input->items[i]->str, tc->input->items[i]->len);
			buf_putc(&in, '\n');
		}
		for (size_t off = 0; off < in.len;) {
			ssize_t w = write(fd, in.p + off, in.len - off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				fprintf(stderr, "cspipe: test: writing the input: %s\n",
					strerror(errno));
				buf_free(&in);
				goto out;
			}
			off += (size_t)w;
		}
		buf_free(&in);
		snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
		input = fdpath;
	} else {
		ipath = case_path(file, tc->input_file->str);
		input = ipath;
	}
	spec = spec_load_string(strcmp(file, "-") ? file : "stdin", text, len, &d);
	if (spec) {
		go.kinds = kinds;
		go.inputs = &input;
		go.ninputs = 1;
		p = pipeline_load(spec, &go, &d);
	}
	diag_print(&d);
	diags_free(&d);
	if (!p)
		goto out;
	for (size_t i = 0; i < p->n; i++)
		if (p->stages[i]->kind->role == ROLE_SINK)
			capture_install(p->stages[i]);
	code = engine_run(p, ro);
	if (code != EXIT_OK) {
		char msg[96];
		int ml = snprintf(msg, sizeof msg, "    the run failed (exit %d; its "
				  "error is above)\n", code);
		buf_append(&out, msg, (size_t)ml);
		ok = 0;
	} else {
		FILE *mf;
		char *mp = NULL;
		size_t ml = 0;

		mf = open_memstream(&mp, &ml);
		for (size_t i = 0; i < p->n; i++) {
			struct stage *st = p->stages[i];
			struct capture *c = st->priv;
			const struct node *want_n = NULL;
			struct recs want = { 0 }, got = { 0 };

			if (st->kind != &kind_capture)
				continue;
			if (tc->expect && tc->expect->type == NODE_MAP)
				want_n = node_get(tc->expect, st->name);
			else if (tc->expect)
				want_n = tc->expect;
			if (want_n) {
				recs_from_node(&want, want_n);
			} else if (tc->expect_file) {
				struct buf wb = { 0 };
				char *ep = case_path(file, tc->expect_file->str);
				if (slurp(ep, &wb, &e)) {
					fprintf(mf, "    %s\n", e.msg);
					ok = 0;
				} else {
					recs_split(&want, wb.p, wb.len, '\n');
				}
				free(ep);
				buf_free(&wb);
			} else {
				continue;   /* a sink the case says nothing of */
			}
			recs_split(&got, c->bytes.p, c->bytes.len, c->term < 0 ? '\n' : c->term);
			if (ok || tc->expect)
				ok &= compare(mf, st->name, &want, &got);
			recs_free(&want);
			recs_free(&got);
		}
		fclose(mf);
		buf_append(&out, mp, ml);
		free(mp);
	}
	printf("%s %s\n", ok ? "ok  " : "FAIL", label);
	fwrite(out.p, 1, out.len, stdout);
	rc = ok;
out:
	if (rc < 0)
		printf("FAIL %s\n", label);
	buf_free(&out);
	free(ipath);
	if (fd >= 0)
		close(fd);
	pipeline_free(p);
	spec_free(spec);
	return rc;
}

/* Read a pipeline file ("-": stdin) whole. */
static int read_pipeline(const char *file, struct buf *b)
{
	struct err e = { 0 };

	if (strcmp(file, "-"))
		return slurp(file, b, &e) ? (fprintf(stderr, "cspipe: %s\n", e.msg), -1) : 0;
	char chunk[65536];
	size_t got;
	while ((got = fread(chunk, 1, sizeof chunk, stdin)) > 0)
		buf_append(b, chunk, got);
	if (ferror(stdin)) {
		fprintf(stderr, "cspipe: stdin: cannot read: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * cspipe test FILE...: see the top of this file.  Returns EXIT_OK when
 * every case of every file passed, EXIT_RUNTIME when one failed, and
 * EXIT_USAGE when a file could not be loaded or its tests: section is bad
 * (its cases do not run; the other files' do).
 */
int pipetest_main(const struct stage_registry *kinds, const char *const *files,
		  size_t nfiles)
{
	size_t passed = 0, failed = 0;
	int bad_file = 0;
	struct run_opts ro = { 0 };

	/* Before any thread exists: SIGPIPE ignored, SIGINT stops a case. */
	engine_setup(&ro);
	for (size_t f = 0; f < nfiles; f++) {
		const char *file = files[f];
		const char *name = strcmp(file, "-") ? file : "stdin";
		struct buf text = { 0 };
		struct diags d = { 0 };
		struct spec *spec = NULL;
		struct pipeline *p = NULL;
		struct tcase *cases = NULL;
		size_t ncases = 0;
		struct graph_opts go = { .kinds = kinds };

		if (read_pipeline(file, &text)) {
			bad_file = 1;
			goto next;
		}
		spec = spec_load_string(name, text.p ? text.p : "", text.len, &d);
		if (spec)
			p = pipeline_load(spec, &go, &d);
		if (p && pipetest_check(spec_root(spec), p, &cases, &ncases, &d) == 0 &&
		    ncases == 0)
			diag_addf(&d, name, "no tests: section (nothing to test)");
		diag_print(&d);
		if (!p || diag_errors(&d)) {
			bad_file = 1;
			goto next;
		}
		for (size_t i = 0; i < ncases; i++) {
			int r = run_case(kinds, &ro, file, text.p, text.len, &cases[i], i);
			if (r < 0)
				bad_file = 1;
			if (r > 0)
				passed++;
			else
				failed++;
		}
next:
		free(cases);
		diags_free(&d);
		pipeline_free(p);
		spec_free(spec);
		buf_free(&text);
	}
	printf("%zu passed, %zu failed\n", passed, failed);
	engine_teardown(&ro);
	if (bad_file)
		return EXIT_USAGE;
	return failed ? EXIT_RUNTIME : EXIT_OK;
}
