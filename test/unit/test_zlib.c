/* SPDX-License-Identifier: MIT */
/*
 * test_zlib.c - the compress and decompress stages, driven through their
 * callbacks without the engine: hand-made stages, workers and output
 * queues; several threads for the multi-worker compress; zlib itself and
 * gzip(1) as the judges of what compress makes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "records/batch.h"
#include "pipeline/config.h"
#include "pipeline/spec.h"
#include "core/stage.h"
#include "base/util.h"

extern const struct stage_kind kind_compress, kind_decompress;

#define MAXW 8

/* ---------------------------------------------------------------- harness */

struct harness {
	const struct stage_kind *kind;
	struct stage st;
	struct stage feeder;          /* the stage upstream, for names */
	struct stage *inputs[1];
	struct spec *spec;
	void *conf;
	struct wstats stats[MAXW];
	struct worker w[MAXW];
	int nworkers;
};

/* A stage of kind k with its options from YAML (a mapping, or "" for the
 * defaults), started, with `workers` workers. */
static void h_init(struct harness *h, const struct stage_kind *k,
		   const char *yaml, int workers)
{
	struct diags d = { 0 };
	struct err e = { 0 };

	memset(h, 0, sizeof *h);
	h->kind = k;
	h->spec = spec_load_string("test.yaml", yaml, strlen(yaml), &d);
	assert_non_null(h->spec);
	h->conf = calloc(1, k->conf_size);
	assert_int_equal(config_load(k->options, h->conf, spec_root(h->spec), &d), 0);
	assert_int_equal(d.n, 0);
	diags_free(&d);
	h->st.kind = k;
	h->st.name = (char *)"z";
	h->st.index = 2;
	h->st.conf = h->conf;
	h->st.workers = workers;
	h->st.ordered = 1;
	h->st.buffer = 16;
	h->feeder.name = (char *)"feeder";
	h->inputs[0] = &h->feeder;
	h->st.inputs = h->inputs;
	h->st.ninputs = 1;
	if (k->start)
		assert_int_equal(k->start(&h->st, &e), 0);
	h->nworkers = workers;
	for (int i = 0; i < workers; i++) {
		h->w[i].stage = &h->st;
		h->w[i].state = k->worker_new(&h->st, i);
		h->w[i].index = i;
		h->w[i].stats = &h->stats[i];
		h->w[i].ctx = NULL;
	}
}

static void h_done(struct harness *h)
{
	for (int i = 0; i < h->nworkers; i++)
		h->kind->worker_free(&h->st, h->w[i].state);
	if (h->kind->free)
		h->kind->free(&h->st);
	config_free(h->kind->options, h->conf);
	free(h->conf);
	spec_free(h->spec);
}

/* Append every record of b (with its terminator) to out. */
static void collect(struct buf *out, const struct batch *b)
{
	size_t t = batch_term_len(b);

	for (uint32_t i = 0; i < b->n; i++) {
		/* The terminator invariant: it follows the record in data. */
		if (t)
			assert_int_equal(b->data[b->recs[i].off + b->recs[i].len],
					 framing_term((enum framing)b->framing));
		buf_append(out, rec_ptr(b, i), b->recs[i].len + t);
	}
}

static void free_list(struct batch *b)
{
	while (b) {
		struct batch *next = b->next;

		batch_free(b);
		b = next;
	}
}

/* ------------------------------------------------------------------ data */

static struct buf read_file(const char *path)
{
	struct buf b = { 0 };
	FILE *f = fopen(path, "rb");
	char tmp[65536];
	size_t n;

	assert_non_null(f);
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	return b;
}

/* The real logs, concatenated (LOGHUB or ../shared/data/loghub). */
static struct buf logs(void)
{
	static const char *const names[] = { "Apache_2k.log", "HDFS_2k.log",
		"Linux_2k.log", "OpenSSH_2k.log", "Spark_2k.log", "Zookeeper_2k.log" };
	const char *dir = getenv("LOGHUB");
	struct buf all = { 0 };
	char path[4096];

	if (!dir)
		dir = "../shared/data/loghub";
	/* Without them the test is skipped, saying why (test/run.py fails a
	 * skip under CI). */
	if (access(dir, R_OK | X_OK) != 0) {
		print_message("the real logs are not in %s: set LOGHUB to the loghub folder\n", dir);
		skip();
	}
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		struct buf b;

		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		b = read_file(path);
		/* as a source frames it: the last line gets its newline */
		if (b.len && b.p[b.len - 1] != '\n')
			buf_putc(&b, '\n');
		buf_append(&all, b.p, b.len);
		buf_free(&b);
	}
	return all;
}

/* Pseudo-random bytes, reproducibly. */
static struct buf noise(size_t n, uint64_t seed)
{
	struct buf b = { 0 };

	buf_reserve(&b, n);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		b.p[i] = (char)(seed >> 56);
	}
	b.len = n;
	return b;
}

/*
 * Cut p[0..len) into batches of about `target` bytes, seq 0, 1, ...: lines
 * (cut after a newline; a missing last newline is added, as a source
 * does) or chunks of 4 KiB.  Returns the count; *out is malloc'ed.
 */
static size_t make_batches(const char *p, size_t len, enum framing f,
			   size_t target, struct batch ***out)
{
	struct batch **v = NULL;
	size_t n = 0, off = 0;

	while (off < len) {
		struct batch *b = batch_new(f, 0, 0);
		size_t start = off;

		while (off < len && off - start < target) {
			size_t rl;

			if (f == FRAMING_CHUNK) {
				rl = len - off < 4096 ? len - off : 4096;
				batch_add(b, p + off, rl, b->n);
				off += rl;
			} else {
				const char *nl = memchr(p + off, framing_term(f), len - off);

				rl = nl ? (size_t)(nl - (p + off)) : len - off;
				batch_add(b, p + off, rl, b->n);
				off += rl + (nl != NULL);
			}
		}
		b->seq = n;
		b->origin = "stdin";
		v = realloc(v, (n + 1) * sizeof *v);
		v[n++] = b;
	}
	*out = v;
	return n;
}

/* -------------------------------------------------------------- compress */

struct job {
	struct harness *h;
	struct batch **in;            /* by seq */
	struct batch **outs;          /* by seq: the output list of each */
	size_t n;
	/* The engine's shared input and reorder window: batches are taken in
	 * seq order, and s only once every batch below s - window is done. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t next, prefix, window;
	char *done;
};

struct thr {
	struct job *j;
	int worker;
};

static void process_one(struct harness *h, int wi, struct batch *b,
			struct batch **out)
{
	struct outq q = { 0 };
	struct err e = { 0 };

	assert_int_equal(h->kind->process(&h->w[wi], b, &q, &e), 0);
	*out = q.head;
}

/* Worker thread, engine-like: take the next seq, scramble timing a bit. */
static void *take_in_order(void *arg)
{
	struct thr *t = arg;
	struct job *j = t->j;

	for (;;) {
		size_t s;

		pthread_mutex_lock(&j->mu);
		s = j->next++;
		while (s < j->n && s >= j->prefix + j->window)
			pthread_cond_wait(&j->cv, &j->mu);
		pthread_mutex_unlock(&j->mu);
		if (s >= j->n)
			break;
		if ((s * 7 + (size_t)t->worker) % 3 == 0)
			sched_yield();
		process_one(j->h, t->worker, j->in[s], &j->outs[s]);
		pthread_mutex_lock(&j->mu);
		j->done[s] = 1;
		while (j->prefix < j->n && j->done[j->prefix])
			j->prefix++;
		pthread_cond_broadcast(&j->cv);
		pthread_mutex_unlock(&j->mu);
	}
	return NULL;
}

/* Worker thread, maximally out of order: its share (s % workers ==
 * worker), highest seq first. */
static void *take_reversed(void *arg)
{
	struct thr *t = arg;
	struct job *j = t->j;
	int nw = j->h->nworkers;

	for (size_t k = j->n; k-- > 0;) {
		if ((int)(k % (size_t)nw) != t->worker)
			continue;
		process_one(j->h, t->worker, j->in[k], &j->outs[k]);
	}
	return NULL;
}

enum order { SEQUENTIAL, THREADS_IN_ORDER, THREADS_REVERSED };

/*
 * Compress the batches (ownership taken) with the harness's workers, emit
 * in seq order, finish, and return the stream.  *records gets the
 * logical records the output batches claim.
 */
static struct buf run_compress(struct harness *h, struct batch **in, size_t n,
			       enum order order, uint64_t *records)
{
	struct job j = { .h = h, .in = in, .n = n };
	struct buf out = { 0 };
	struct outq q = { 0 };
	struct err e = { 0 };
	uint64_t recs = 0;

	j.outs = calloc(n + 1, sizeof *j.outs);
	if (order == SEQUENTIAL) {
		for (size_t s = 0; s < n; s++)
			process_one(h, 0, in[s], &j.outs[s]);
	} else {
		pthread_t t[MAXW];
		struct thr ta[MAXW];

		pthread_mutex_init(&j.mu, NULL);
		pthread_cond_init(&j.cv, NULL);
		j.done = calloc(n + 1, 1);
		j.window = (size_t)stage_window(&h->st);
		for (int i = 0; i < h->nworkers; i++) {
			ta[i] = (struct thr){ &j, i };
			assert_int_equal(pthread_create(&t[i], NULL,
				order == THREADS_REVERSED ? take_reversed : take_in_order,
				&ta[i]), 0);
		}
		for (int i = 0; i < h->nworkers; i++)
			pthread_join(t[i], NULL);
		free(j.done);
		pthread_cond_destroy(&j.cv);
		pthread_mutex_destroy(&j.mu);
	}
	for (size_t s = 0; s < n; s++)
		for (struct batch *b = j.outs[s]; b; b = b->next) {
			assert_int_equal(b->framing, FRAMING_CHUNK);
			assert_int_equal(h->kind->emit(&h->st, b, &e), 0);
			collect(&out, b);
			recs += b->records;
		}
	for (size_t s = 0; s < n; s++)
		free_list(j.outs[s]);
	assert_int_equal(h->kind->finish(&h->st, &q, &e), 0);
	for (struct batch *b = q.head; b; b = b->next) {
		assert_int_equal(h->kind->emit(&h->st, b, &e), 0);
		collect(&out, b);
	}
	free_list(q.head);
	free(j.outs);
	if (records)
		*records = recs;
	return out;
}

/* Inflate a whole stream with zlib (windowBits as inflateInit2 takes it);
 * every byte of the input must be used.  Returns 0 or -1. */
static int zinflate(const void *p, size_t len, int wbits, struct buf *out)
{
	z_stream zs = { 0 };
	char tmp[65536];
	int ret;

	if (inflateInit2(&zs, wbits) != Z_OK)
		return -1;
	zs.next_in = (Bytef *)p;
	zs.avail_in = (uInt)len;
	do {
		zs.next_out = (Bytef *)tmp;
		zs.avail_out = sizeof tmp;
		ret = inflate(&zs, Z_NO_FLUSH);
		buf_append(out, tmp, sizeof tmp - zs.avail_out);
	} while (ret == Z_OK);
	inflateEnd(&zs);
	return ret == Z_STREAM_END && zs.avail_in == 0 ? 0 : -1;
}

/* Exit status of a shell command fed p on its standard input. */
static int pipe_to(const char *cmd, const void *p, size_t len)
{
	FILE *f = popen(cmd, "w");
	int st;

	assert_non_null(f);
	if (len)
		assert_int_equal(fwrite(p, 1, len, f), len);
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Single-threaded zlib over the same bytes: the size to stay close to. */
static size_t reference_size(const void *p, size_t len, int level, int wbits)
{
	z_stream zs = { 0 };
	size_t bound, n;
	unsigned char *out;

	assert_int_equal(deflateInit2(&zs, level, Z_DEFLATED, wbits, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	bound = deflateBound(&zs, len);
	out = malloc(bound);
	zs.next_in = (Bytef *)p;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)bound;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	n = zs.total_out;
	deflateEnd(&zs);
	free(out);
	return n;
}

static const int wbits_of[] = { 15 + 16, 15, -15 };   /* gzip, zlib, deflate */

/* Compress data as the options say, with `workers` and `order`, in
 * batches of `target` bytes; check with zlib that it inflates back to
 * data, and return the stream. */
static struct buf round_trip(const char *yaml, int fmt, const struct buf *data,
			     enum framing f, size_t target, int workers,
			     enum order order)
{
	struct harness h;
	struct batch **in;
	size_t n;
	uint64_t records = 0, want = 0;
	struct buf z, back = { 0 };

	h_init(&h, &kind_compress, yaml, workers);
	/* 0: as few batches as the reorder window holds, so that any order
	 * of processing is one the engine could produce */
	if (target == 0)
		target = data->len / (size_t)stage_window(&h.st) + 1;
	n = make_batches(data->p, data->len, f, target, &in);
	for (size_t i = 0; i < n; i++)
		want += in[i]->records;
	z = run_compress(&h, in, n, order, &records);
	h_done(&h);
	free(in);
	assert_int_equal(records, want);
	assert_int_equal(zinflate(z.p, z.len, wbits_of[fmt], &back), 0);
	assert_int_equal(back.len, data->len);
	assert_memory_equal(back.p, data->p, data->len);
	buf_free(&back);
	return z;
}

static void test_compress_logs_sequential(void **state)
{
	struct buf data = logs();
	struct buf z = round_trip("{format: gzip}", 0, &data, FRAMING_LINES,
				  65536, 1, SEQUENTIAL);
	size_t ref = reference_size(data.p, data.len, 6, 31);

	assert_int_equal(pipe_to("gzip -t", z.p, z.len), 0);
	assert_int_equal(pipe_to("pigz -t", z.p, z.len), 0);
	/* Within 1% of one single-threaded deflate stream. */
	assert_true(z.len * 100 <= ref * 101);
	buf_free(&z);
	buf_free(&data);
}

/* Several workers, engine-like (taken in order, finished in any order),
 * batch sizes that mix small ones (< 32 KiB: their tail needs the one
 * before) and large ones: the stream is byte for byte the sequential one. */
static void test_compress_threads_same_stream(void **state)
{
	struct buf data = logs();
	size_t sizes[] = { 1000, 20000, 65536, 200000 };

	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		struct buf a = round_trip("{}", 0, &data, FRAMING_LINES, sizes[i],
					  1, SEQUENTIAL);
		struct buf b = round_trip("{}", 0, &data, FRAMING_LINES, sizes[i],
					  4, THREADS_IN_ORDER);

		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.p, b.p, a.len);
		assert_int_equal(pipe_to("gzip -t", b.p, b.len), 0);
		buf_free(&a);
		buf_free(&b);
	}
	buf_free(&data);
}

/* Big batches (no more than the reorder window) taken in reverse order on
 * several threads: each publishes its tail before waiting for the one
 * before, so nothing waits in a cycle.  (At level 1 the bytes differ from
 * one worker's, which goes on with its own stream: deflate's fast levels
 * do not hash every string of a long match, priming does.  Both inflate
 * to the data, round_trip checks, and are the same size within 1%.) */
static void test_compress_threads_reversed(void **state)
{
	struct buf data = logs();
	struct buf a = round_trip("{format: zlib, level: 1}", 1, &data,
				  FRAMING_LINES, 0, 3, SEQUENTIAL);
	struct buf b = round_trip("{format: zlib, level: 1}", 1, &data,
				  FRAMING_LINES, 0, 3, THREADS_REVERSED);

	assert_true(b.len * 100 <= a.len * 101 && a.len * 100 <= b.len * 101);
	buf_free(&a);
	buf_free(&b);
	buf_free(&data);
}

static void test_compress_binary_chunks(void **state)
{
	struct buf data = noise(1000000, 42);

	for (int fmt = 0; fmt < 3; fmt++) {
		static const char *const yaml[] = { "{format: gzip}", "{format: zlib}",
						    "{format: deflate}" };
		struct buf z = round_trip(yaml[fmt], fmt, &data, FRAMING_CHUNK,
					  65536, 2, THREADS_IN_ORDER);

		/* Random bytes do not compress: stored-like size. */
		assert_true(z.len < data.len + data.len / 100);
		buf_free(&z);
	}
	buf_free(&data);
}

static void test_compress_levels(void **state)
{
	struct buf data = logs();
	size_t sizes[10];

	for (int level = 0; level <= 9; level += 1) {
		char yaml[64];
		struct buf z;

		snprintf(yaml, sizeof yaml, "{level: %d}", level);
		z = round_trip(yaml, 0, &data, FRAMING_LINES, 65536, 2,
			       THREADS_IN_ORDER);
		sizes[level] = z.len;
		if (level == 0 || level == 9)
			assert_int_equal(pipe_to("gzip -t", z.p, z.len), 0);
		/* XFL as gzip writes it */
		assert_int_equal((unsigned char)z.p[8], level == 9 ? 2 : level == 1 ? 4 : 0);
		buf_free(&z);
	}
	assert_true(sizes[0] > data.len);
	assert_true(sizes[9] <= sizes[6]);
	assert_true(sizes[6] < sizes[1]);
	buf_free(&data);
}

static void test_compress_formats(void **state)
{
	struct buf data = logs();
	struct buf z;
	size_t ref;

	z = round_trip("{format: zlib}", 1, &data, FRAMING_LINES, 65536, 1, SEQUENTIAL);
	assert_int_equal((unsigned char)z.p[0], 0x78);
	assert_int_equal((unsigned char)z.p[1], 0x9c);   /* as zlib writes level 6 */
	ref = reference_size(data.p, data.len, 6, 15);
	assert_true(z.len * 100 <= ref * 101);
	buf_free(&z);
	z = round_trip("{format: deflate, level: 9}", 2, &data, FRAMING_LINES,
		       30000, 2, THREADS_IN_ORDER);
	ref = reference_size(data.p, data.len, 9, -15);
	assert_true(z.len * 100 <= ref * 101);
	buf_free(&z);
	buf_free(&data);
}

/* A batch that finds another batch's tail where the one before it should
 * be (an engine that let more than the window in flight) fails the stage
 * instead of making a wrong stream. */
static void test_compress_window_broken_is_an_error(void **state)
{
	struct buf data = noise(100000, 3);
	struct harness h;
	struct batch *a = batch_new(FRAMING_CHUNK, 0, 0), *b = batch_new(FRAMING_CHUNK, 0, 0);
	struct outq q = { 0 };
	struct err e = { 0 };
	size_t nslots;
	char want[160];

	h_init(&h, &kind_compress, "{}", 2);
	nslots = (size_t)stage_window(&h.st) + 1;
	batch_add(a, data.p, 50000, 0);
	batch_add(b, data.p + 50000, 50000, 0);
	a->seq = 0;
	b->seq = nslots + 1;    /* its slot before holds batch 0's tail */
	assert_int_equal(kind_compress.process(&h.w[0], a, &q, &e), 0);
	assert_int_equal(kind_compress.process(&h.w[1], b, &q, &e), -1);
	snprintf(want, sizeof want, "batch %zu found the dictionary of batch 0, not %zu "
		 "(the reorder window was not kept)", nslots + 1, nslots);
	assert_string_equal(e.msg, want);
	free_list(q.head);
	h_done(&h);
	buf_free(&data);
}

/* No input at all: still a valid, empty stream of each format. */
static void test_compress_empty(void **state)
{
	static const char *const yaml[] = { "{format: gzip}", "{format: zlib}",
					    "{format: deflate}" };
	static const unsigned char gz[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3,
					    3, 0, 0, 0, 0, 0, 0, 0, 0, 0 };

	for (int fmt = 0; fmt < 3; fmt++) {
		struct harness h;
		struct buf z, back = { 0 };

		h_init(&h, &kind_compress, yaml[fmt], 2);
		z = run_compress(&h, NULL, 0, SEQUENTIAL, NULL);
		h_done(&h);
		assert_int_equal(zinflate(z.p, z.len, wbits_of[fmt], &back), 0);
		assert_int_equal(back.len, 0);
		buf_free(&back);
		if (fmt == 0) {
			assert_int_equal(z.len, sizeof gz);
			assert_memory_equal(z.p, gz, sizeof gz);
			assert_int_equal(pipe_to("gzip -t", z.p, z.len), 0);
		}
		buf_free(&z);
	}
}

/* Batches that hold no bytes (a filter upstream dropped everything),
 * first and in the middle: the dictionary chain goes through them. */
static void test_compress_empty_batches(void **state)
{
	struct buf data = logs();
	struct batch **in, **v;
	size_t n = make_batches(data.p, data.len, FRAMING_LINES, 20000, &in), m = 0;
	struct harness h;
	struct buf z, back = { 0 };

	v = calloc(2 * n + 1, sizeof *v);
	v[m++] = batch_new(FRAMING_LINES, 0, 0);
	for (size_t i = 0; i < n; i++) {
		v[m++] = in[i];
		if (i % 3 == 1)
			v[m++] = batch_new(FRAMING_LINES, 0, 0);
	}
	for (size_t i = 0; i < m; i++)
		v[i]->seq = i;
	h_init(&h, &kind_compress, "{}", 3);
	z = run_compress(&h, v, m, THREADS_IN_ORDER, NULL);
	h_done(&h);
	assert_int_equal(zinflate(z.p, z.len, 31, &back), 0);
	assert_int_equal(back.len, data.len);
	assert_memory_equal(back.p, data.p, data.len);
	assert_int_equal(pipe_to("gzip -t", z.p, z.len), 0);
	buf_free(&back);
	buf_free(&z);
	free(v);
	free(in);
	buf_free(&data);
}

/* Records that are not adjacent in data (a filter dropped every other
 * one without copying): the survivors are gathered, terminators included. */
static void test_compress_gathers(void **state)
{
	struct buf data = logs(), want = { 0 };
	struct batch **in;
	size_t n = make_batches(data.p, data.len, FRAMING_LINES, 65536, &in);
	struct harness h;
	struct buf z, back = { 0 };

	for (size_t i = 0; i < n; i++) {
		struct batch *b = in[i];
		uint32_t k = 0;

		for (uint32_t r = 0; r < b->n; r++)
			if (r % 2 == 0)
				b->recs[k++] = b->recs[r];
		b->n = k;
		b->records = k;
		collect(&want, b);
	}
	h_init(&h, &kind_compress, "{}", 2);
	z = run_compress(&h, in, n, THREADS_IN_ORDER, NULL);
	h_done(&h);
	assert_int_equal(zinflate(z.p, z.len, 31, &back), 0);
	assert_int_equal(back.len, want.len);
	assert_memory_equal(back.p, want.p, want.len);
	buf_free(&back);
	buf_free(&z);
	buf_free(&want);
	free(in);
	buf_free(&data);
}

/* ------------------------------------------------------------ decompress */

struct dres {
	int rc;                /* first non-zero result, else 0 */
	struct err e;
	struct buf out;        /* records with terminators */
	size_t batches;
	int origin_ok;         /* every output batch names the stream */
};

/*
 * Feed p[0..len) to a decompress stage in chunk batches whose sizes cycle
 * through `pieces` (0-terminated; NULL: one batch), all of origin
 * `origin` (NULL: none), then flush.  Output batches are collected.
 */
static struct dres run_decompress(const char *yaml, const void *p, size_t len,
				  const size_t *pieces, const char *origin)
{
	struct harness h;
	struct dres r = { 0 };
	size_t off = 0, k = 0;
	uint64_t seq = 0;

	h_init(&h, &kind_decompress, yaml, 1);
	r.origin_ok = 1;
	while (r.rc == 0 && off < len) {
		size_t want = pieces && pieces[k] ? pieces[k++] : len;
		size_t take = len - off < want ? len - off : want;
		struct batch *b = batch_new(FRAMING_CHUNK, take, 1);
		struct outq q = { 0 };

		if (pieces && !pieces[k])
			k = 0;
		batch_add(b, (const char *)p + off, take, 0);
		b->seq = seq++;
		b->origin = origin;
		off += take;
		r.rc = kind_decompress.process(&h.w[0], b, &q, &r.e);
		for (struct batch *o = q.head; o; o = o->next, r.batches++) {
			collect(&r.out, o);
			if (origin && o->origin != origin)
				r.origin_ok = 0;
		}
		free_list(q.head);
	}
	if (r.rc == 0) {
		struct outq q = { 0 };

		r.rc = kind_decompress.flush(&h.w[0], &q, &r.e);
		for (struct batch *o = q.head; o; o = o->next, r.batches++)
			collect(&r.out, o);
		free_list(q.head);
	}
	h_done(&h);
	return r;
}

/* The decompression succeeded and gave exactly data back; frees its output. */
static void gave_back(struct dres *r, const struct buf *data)
{
	assert_int_equal(r->rc, 0);
	assert_int_equal(r->out.len, data->len);
	assert_memory_equal(r->out.p, data->p, data->len);
	buf_free(&r->out);
}

/* A gzip / zlib / raw stream made by zlib itself. */
static struct buf zdeflate(const void *p, size_t len, int level, int wbits)
{
	z_stream zs = { 0 };
	struct buf out = { 0 };
	size_t bound;

	assert_int_equal(deflateInit2(&zs, level, Z_DEFLATED, wbits, 8,
				      Z_DEFAULT_STRATEGY), Z_OK);
	bound = deflateBound(&zs, len);
	buf_reserve(&out, bound);
	zs.next_in = (Bytef *)p;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out.p;
	zs.avail_out = (uInt)bound;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	out.len = zs.total_out;
	deflateEnd(&zs);
	return out;
}

static const size_t tiny[] = { 1, 2, 3, 5, 7, 1, 1, 4096, 0 };

static void test_decompress_round_trip(void **state)
{
	struct buf data = logs();
	struct buf z = round_trip("{}", 0, &data, FRAMING_LINES, 65536, 3,
				  THREADS_IN_ORDER);
	static const size_t odd[] = { 1, 9, 10, 11, 1000, 65536, 3, 0 };
	struct dres r = run_decompress("{}", z.p, z.len, NULL, "app.log.gz");
	struct dres r2 = run_decompress("{format: gzip}", z.p, z.len, odd, NULL);

	assert_int_equal(r.rc, 0);
	assert_int_equal(r.out.len, data.len);
	assert_memory_equal(r.out.p, data.p, data.len);
	assert_true(r.origin_ok);
	assert_true(r.batches > 1);
	assert_int_equal(r2.rc, 0);
	assert_int_equal(r2.out.len, data.len);
	assert_memory_equal(r2.out.p, data.p, data.len);
	buf_free(&r.out);
	buf_free(&r2.out);
	buf_free(&z);
	buf_free(&data);
}

/* Each format, made by zlib, read with its own format and with auto. */
static void test_decompress_formats(void **state)
{
	struct buf data = logs();
	static const char *const own[] = { "{format: gzip}", "{format: zlib}",
					   "{format: deflate}" };

	for (int fmt = 0; fmt < 3; fmt++) {
		struct buf z = zdeflate(data.p, data.len, 6, wbits_of[fmt]);
		struct dres r = run_decompress(own[fmt], z.p, z.len, NULL, "stdin");

		gave_back(&r, &data);
		if (fmt < 2) {
			r = run_decompress("{format: auto}", z.p, z.len, tiny, "stdin");
			gave_back(&r, &data);
		}
		buf_free(&z);
	}
	buf_free(&data);
}

/* Binary data out as chunks of chunk_size (the last one short). */
static void test_decompress_chunks(void **state)
{
	struct buf data = noise(1000000, 7);
	struct buf z = zdeflate(data.p, data.len, 1, 31);
	struct harness h;
	struct batch *b = batch_new(FRAMING_CHUNK, z.len, 1);
	struct outq q = { 0 };
	struct err e = { 0 };
	struct buf back = { 0 };
	size_t nrec = 0;

	batch_add(b, z.p, z.len, 0);
	h_init(&h, &kind_decompress, "{framing: chunk, chunk_size: 10000}", 1);
	assert_int_equal(kind_decompress.process(&h.w[0], b, &q, &e), 0);
	assert_int_equal(kind_decompress.flush(&h.w[0], &q, &e), 0);
	h_done(&h);
	for (struct batch *o = q.head; o; o = o->next) {
		assert_int_equal(o->framing, FRAMING_CHUNK);
		for (uint32_t i = 0; i < o->n; i++, nrec++)
			assert_int_equal(o->recs[i].len, nrec < 100 ? 10000 : 0);
		collect(&back, o);
	}
	free_list(q.head);
	assert_int_equal(nrec, 100);
	assert_int_equal(back.len, data.len);
	assert_memory_equal(back.p, data.p, data.len);
	buf_free(&back);
	buf_free(&z);
	buf_free(&data);
}

/* NUL framing, and a last record without its terminator gets one. */
static void test_decompress_nul_and_last_record(void **state)
{
	static const char text[] = "a\0bb\0ccc";
	struct buf z = zdeflate(text, sizeof text - 1, 6, 31);
	struct dres r = run_decompress("{framing: nul}", z.p, z.len, tiny, "stdin");

	assert_int_equal(r.rc, 0);
	assert_int_equal(r.out.len, sizeof text);
	assert_memory_equal(r.out.p, text, sizeof text);
	buf_free(&r.out);
	buf_free(&z);
}

/* Concatenated members (cat a.gz b.gz), a zlib stream after a gzip one
 * under auto, and zero padding at the end. */
static void test_decompress_multi_member(void **state)
{
	static const char a[] = "first member\nends mid", b[] = "-line\nsecond\n";
	struct buf za = zdeflate(a, sizeof a - 1, 6, 31);
	struct buf zb = zdeflate(b, sizeof b - 1, 9, 31);
	struct buf zz = zdeflate(b, sizeof b - 1, 1, 15);
	struct buf cat = { 0 };
	struct dres r;
	static const char want[] = "first member\nends mid-line\nsecond\n";
	static const char zeros[100];

	buf_append(&cat, za.p, za.len);
	buf_append(&cat, zb.p, zb.len);
	buf_append(&cat, za.p, za.len);
	r = run_decompress("{}", cat.p, cat.len, tiny, "stdin");
	assert_int_equal(r.rc, 0);
	assert_string_equal(buf_cstr(&r.out),
			    "first member\nends mid-line\nsecond\nfirst member\nends mid\n");
	buf_free(&r.out);

	cat.len = 0;
	buf_append(&cat, za.p, za.len);
	buf_append(&cat, zz.p, zz.len);
	buf_append(&cat, zeros, sizeof zeros);
	r = run_decompress("{format: auto}", cat.p, cat.len, NULL, "stdin");
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.out.len, sizeof want - 1);
	assert_memory_equal(r.out.p, want, sizeof want - 1);
	buf_free(&r.out);
	/* gzip only: the zlib member is garbage */
	r = run_decompress("{format: gzip}", cat.p, cat.len, NULL, "stdin");
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.e.msg, "trailing garbage after gzip data in stdin at byte 41");
	assert_int_equal(za.len, 41);
	buf_free(&r.out);

	buf_free(&cat);
	buf_free(&za);
	buf_free(&zb);
	buf_free(&zz);
}

/* A new origin is a new stream: each file must be whole on its own, and
 * its last record is completed there. */
static void test_decompress_origins(void **state)
{
	static const char a[] = "in a\nno newline", b[] = "in b\n";
	struct buf za = zdeflate(a, sizeof a - 1, 6, 31);
	struct buf zb = zdeflate(b, sizeof b - 1, 6, 31);
	struct harness h;
	struct outq q = { 0 };
	struct err e = { 0 };
	struct buf out = { 0 };
	struct batch *ba = batch_new(FRAMING_CHUNK, 0, 0), *bb = batch_new(FRAMING_CHUNK, 0, 0);

	batch_add(ba, za.p, za.len, 0);
	ba->origin = "a.gz";
	batch_add(bb, zb.p, zb.len, 0);
	bb->origin = "b.gz";
	bb->seq = 1;
	h_init(&h, &kind_decompress, "{}", 1);
	assert_int_equal(kind_decompress.process(&h.w[0], ba, &q, &e), 0);
	assert_int_equal(kind_decompress.process(&h.w[0], bb, &q, &e), 0);
	assert_int_equal(kind_decompress.flush(&h.w[0], &q, &e), 0);
	h_done(&h);
	assert_non_null(q.head);
	assert_string_equal(q.head->origin, "a.gz");
	for (struct batch *o = q.head; o; o = o->next)
		collect(&out, o);
	free_list(q.head);
	assert_string_equal(buf_cstr(&out), "in a\nno newline\nin b\n");
	buf_free(&out);

	/* a.gz cut short, then b.gz: the error names a.gz */
	ba = batch_new(FRAMING_CHUNK, 0, 0);
	bb = batch_new(FRAMING_CHUNK, 0, 0);
	batch_add(ba, za.p, za.len - 3, 0);
	ba->origin = "a.gz";
	batch_add(bb, zb.p, zb.len, 0);
	bb->origin = "b.gz";
	memset(&q, 0, sizeof q);
	h_init(&h, &kind_decompress, "{}", 1);
	assert_int_equal(kind_decompress.process(&h.w[0], ba, &q, &e), 0);
	assert_int_equal(kind_decompress.process(&h.w[0], bb, &q, &e), -1);
	h_done(&h);
	/* What a.gz held before its cut goes out, whole records only: its
	 * last line, unterminated, would be torn.  Nothing of b.gz. */
	for (struct batch *o = q.head; o; o = o->next)
		collect(&out, o);
	free_list(q.head);
	assert_string_equal(buf_cstr(&out), "in a\n");
	buf_free(&out);
	{
		char want[128];

		snprintf(want, sizeof want,
			 "truncated gzip data in a.gz: stream ends at byte %zu", za.len - 3);
		assert_string_equal(e.msg, want);
	}
	buf_free(&za);
	buf_free(&zb);
}

/* No origin: the stream is named after the stage that fed it. */
static void test_decompress_no_origin_names_feeder(void **state)
{
	static const unsigned char bad[] = { 'h', 'e', 'l', 'l', 'o' };
	struct dres r = run_decompress("{}", bad, sizeof bad, NULL, NULL);

	assert_int_equal(r.rc, -1);
	assert_string_equal(r.e.msg,
			    "corrupt compressed data in feeder at byte 0: not in gzip, zlib, zstd, xz or bzip2 format");
	assert_int_equal(r.out.len, 0);
	buf_free(&r.out);
	r = run_decompress("{format: zlib}", bad, sizeof bad, tiny, "x");
	assert_string_equal(r.e.msg, "corrupt zlib data in x at byte 0: not in zlib format");
	buf_free(&r.out);
	r = run_decompress("{format: gzip}", bad, 1, NULL, "x");
	assert_string_equal(r.e.msg, "truncated gzip data in x: stream ends at byte 1");
	buf_free(&r.out);
}

static void test_decompress_corrupt_block(void **state)
{
	/* A gzip header, then a block of type 3 (reserved). */
	static const unsigned char bad[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x07, 0, 0 };

	for (int split = 0; split < 2; split++) {
		struct dres r = run_decompress("{}", bad, sizeof bad,
					       split ? tiny : NULL, "app.log.gz");

		assert_int_equal(r.rc, -1);
		assert_string_equal(r.e.msg,
				    "corrupt gzip data in app.log.gz at byte 11: invalid block type");
		assert_int_equal(r.out.len, 0);
	}
}

/* A wrong CRC is found at the end: whatever went out before the error is
 * whole records, a prefix of the data; the records the framer still held
 * (the last, unfinished batch) do not go out. */
static void test_decompress_bad_crc_whole_records(void **state)
{
	struct buf data = logs();
	struct buf z = zdeflate(data.p, data.len, 6, 31);
	struct dres r;
	char want[128];
	size_t whole = data.len;

	z.p[z.len - 6] ^= 0x55;   /* inside CRC32 */
	r = run_decompress("{}", z.p, z.len, NULL, "app.log.gz");
	assert_int_equal(r.rc, -1);
	snprintf(want, sizeof want,
		 "corrupt gzip data in app.log.gz at byte %zu: incorrect data check",
		 z.len - 4);
	assert_string_equal(r.e.msg, want);
	/* Found after the last byte: every whole record went out first, as
	 * zcat writes them; an unterminated last one would be torn. */
	while (whole > 0 && data.p[whole - 1] != '\n')
		whole--;
	assert_true(whole > 0);
	assert_int_equal(r.out.len, whole);
	assert_memory_equal(r.out.p, data.p, whole);
	buf_free(&r.out);

	/* The length is checked too. */
	z.p[z.len - 6] ^= 0x55;
	z.p[z.len - 1] ^= 1;
	r = run_decompress("{}", z.p, z.len, tiny, "app.log.gz");
	snprintf(want, sizeof want,
		 "corrupt gzip data in app.log.gz at byte %zu: incorrect length check",
		 z.len);
	assert_string_equal(r.e.msg, want);
	buf_free(&r.out);
	buf_free(&z);
	buf_free(&data);
}

/* Run one input through the stage with each inflate engine: results,
 * messages and output must be the same. */
static void same_with_zlib(const struct buf *in, const size_t *pieces)
{
	struct dres a, b;

	assert_int_equal(setenv("CSPIPE_INFLATE", "zlib", 1), 0);
	a = run_decompress("{}", in->p, in->len, pieces, "in.gz");
	assert_int_equal(unsetenv("CSPIPE_INFLATE"), 0);
	b = run_decompress("{}", in->p, in->len, pieces, "in.gz");
	assert_int_equal(a.rc, b.rc);
	assert_string_equal(a.e.msg, b.e.msg);
	assert_int_equal(a.out.len, b.out.len);
	assert_memory_equal(a.out.p, b.out.p, a.out.len);
	buf_free(&a.out);
	buf_free(&b.out);
}

/*
 * The fast decoder reads ahead: a member's trailer, the member after it,
 * zero padding and trailing bytes must still be found where zlib finds
 * them, whichever way the input is cut into batches, and a bad trailer is
 * reported as zlib reports it.
 */
static void test_decompress_engines_agree(void **state)
{
	static const size_t ones[] = { 1, 0 }, sevens[] = { 7, 0 }, odd[] = { 13, 4093, 0 };
	static const size_t *const cuts[] = { NULL, ones, sevens, odd, tiny };
	struct buf data = logs();
	struct buf z = zdeflate(data.p, 20000, 6, 31);
	struct buf two = { 0 };

	buf_append(&two, z.p, z.len);
	buf_append(&two, z.p, z.len);
	for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
		const size_t *pc = cuts[c] == ones ? NULL : cuts[c];
		struct buf t = { 0 };

		/* two members; then padding; then a stray byte after it */
		same_with_zlib(&two, cuts[c]);
		buf_append(&t, two.p, two.len);
		buf_append(&t, "\0\0\0", 3);
		same_with_zlib(&t, cuts[c]);
		buf_append(&t, "x", 1);
		same_with_zlib(&t, cuts[c]);
		buf_free(&t);
		/* each byte of the first trailer and the header after it wrong */
		for (size_t i = z.len - 8; i < z.len + 4; i++) {
			two.p[i] ^= 0x21;
			same_with_zlib(&two, pc);
			two.p[i] ^= 0x21;
		}
		/* cut inside the trailer or the second header */
		for (size_t n = z.len - 9; n < z.len + 12; n++) {
			struct buf cut = { 0 };

			buf_append(&cut, two.p, n);
			same_with_zlib(&cut, pc);
			buf_free(&cut);
		}
	}
	buf_free(&two);
	buf_free(&z);
	buf_free(&data);
}

static void test_decompress_truncated(void **state)
{
	static const char text[] = "one\ntwo\nthree\n";
	struct buf z = zdeflate(text, sizeof text - 1, 6, 31);
	size_t cuts[] = { 1, 5, 10, 12, z.len - 8, z.len - 1 };

	for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
		struct dres r = run_decompress("{}", z.p, cuts[i], tiny, "stdin");
		char want[128];

		snprintf(want, sizeof want,
			 "truncated gzip data in stdin: stream ends at byte %zu", cuts[i]);
		assert_int_equal(r.rc, -1);
		assert_string_equal(r.e.msg, want);
		/* What was inflated went out, in whole records: a prefix of
		 * the text ending with a newline; all of it once only the
		 * trailer is cut. */
		assert_true(r.out.len <= sizeof text - 1);
		if (r.out.len > 0) {
			assert_memory_equal(r.out.p, text, r.out.len);
			assert_int_equal(r.out.p[r.out.len - 1], '\n');
		}
		if (cuts[i] >= z.len - 8)
			assert_int_equal(r.out.len, sizeof text - 1);
		buf_free(&r.out);
	}
	buf_free(&z);
}

static void test_decompress_trailing_garbage(void **state)
{
	static const char text[] = "data\n";
	struct buf z = zdeflate(text, sizeof text - 1, 6, 31);
	struct buf cat = { 0 };
	static const char zeros[4];
	struct dres r;
	char want[128];

	buf_append(&cat, z.p, z.len);
	buf_append(&cat, zeros, sizeof zeros);
	buf_append(&cat, "xyz", 3);
	r = run_decompress("{}", cat.p, cat.len, tiny, "stdin");
	snprintf(want, sizeof want,
		 "trailing garbage after gzip data in stdin at byte %zu", z.len + 4);
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.e.msg, want);
	buf_free(&r.out);

	/* one stray byte at the end */
	cat.len = z.len;
	buf_append(&cat, "\x1f", 1);
	r = run_decompress("{}", cat.p, cat.len, NULL, "stdin");
	snprintf(want, sizeof want,
		 "trailing garbage after gzip data in stdin at byte %zu", z.len);
	assert_string_equal(r.e.msg, want);
	buf_free(&r.out);

	/* raw deflate has no members: anything after the end is garbage */
	buf_free(&z);
	z = zdeflate(text, sizeof text - 1, 6, -15);
	cat.len = 0;
	buf_append(&cat, z.p, z.len);
	buf_append(&cat, z.p, z.len);
	r = run_decompress("{format: deflate}", cat.p, cat.len, NULL, "stdin");
	snprintf(want, sizeof want,
		 "trailing garbage after deflate data in stdin at byte %zu", z.len);
	assert_string_equal(r.e.msg, want);
	buf_free(&r.out);
	buf_free(&cat);
	buf_free(&z);
}

/* Compressed bytes that came framed as lines (a source that knows nothing
 * of them): split at every newline byte, with the newline a source adds
 * at the end when the input lacked one.  Nothing is lost or added. */
static void test_decompress_lines_framed_input(void **state)
{
	struct buf data = logs();
	struct buf z = zdeflate(data.p, data.len, 6, 31);
	struct batch **in;
	size_t n = make_batches(z.p, z.len, FRAMING_LINES, 5000, &in);
	struct harness h;
	struct buf out = { 0 };
	struct err e = { 0 };

	assert_true(z.p[z.len - 1] != '\n');
	h_init(&h, &kind_decompress, "{}", 1);
	for (size_t i = 0; i < n; i++) {
		struct outq q = { 0 };

		assert_int_equal(kind_decompress.process(&h.w[0], in[i], &q, &e), 0);
		for (struct batch *o = q.head; o; o = o->next)
			collect(&out, o);
		free_list(q.head);
	}
	{
		struct outq q = { 0 };

		assert_int_equal(kind_decompress.flush(&h.w[0], &q, &e), 0);
		for (struct batch *o = q.head; o; o = o->next)
			collect(&out, o);
		free_list(q.head);
	}
	h_done(&h);
	assert_int_equal(out.len, data.len);
	assert_memory_equal(out.p, data.p, data.len);
	buf_free(&out);
	free(in);
	buf_free(&z);
	buf_free(&data);
}

static void test_decompress_empty(void **state)
{
	struct dres r = run_decompress("{}", "", 0, NULL, "stdin");

	assert_int_equal(r.rc, 0);
	assert_int_equal(r.out.len, 0);
	assert_int_equal(r.batches, 0);
	/* an empty gzip stream gives no records */
	struct buf z = zdeflate("", 0, 6, 31);
	r = run_decompress("{}", z.p, z.len, NULL, "stdin");
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.out.len, 0);
	buf_free(&z);
}

struct sink {
	size_t batches, bytes, records;
	int stop_after;        /* refuse from this batch on (0: never) */
};

/* The engine's send for one worker: the batch goes on at once. */
static int sink_send(void *arg, struct batch *b)
{
	struct sink *s = arg;

	s->batches++;
	s->bytes += b->len;
	s->records += b->n;
	batch_free(b);
	/* as the engine refuses: CSP_CLOSED, a negative code */
	return s->stop_after && (int)s->batches >= s->stop_after ? -1 : 0;
}

/* Many times more output than input: batches leave while the input batch
 * is being inflated, never piling up; a stopped output stops the stage. */
static void test_decompress_bomb_bounded(void **state)
{
	const size_t total = 32u << 20;
	struct buf line = { 0 }, z = { 0 };
	z_stream zs = { 0 };
	struct harness h;
	struct sink s = { 0 };
	struct outq q = { .send = sink_send, .arg = &s };
	struct err e = { 0 };
	struct batch *b;
	unsigned char tmp[65536];

	for (int i = 0; i < 1023; i++)
		buf_putc(&line, 'a');
	buf_putc(&line, '\n');
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	for (size_t done = 0; done < total; done += line.len) {
		zs.next_in = (Bytef *)line.p;
		zs.avail_in = (uInt)line.len;
		do {
			zs.next_out = tmp;
			zs.avail_out = sizeof tmp;
			deflate(&zs, done + line.len == total ? Z_FINISH : Z_NO_FLUSH);
			buf_append(&z, tmp, sizeof tmp - zs.avail_out);
		} while (zs.avail_out == 0);
	}
	deflateEnd(&zs);
	assert_true(z.len < total / 200);

	h_init(&h, &kind_decompress, "{}", 1);
	b = batch_new(FRAMING_CHUNK, z.len, 1);
	batch_add(b, z.p, z.len, 0);
	assert_int_equal(kind_decompress.process(&h.w[0], b, &q, &e), 0);
	assert_string_equal(e.msg, "");
	assert_int_equal(kind_decompress.flush(&h.w[0], &q, &e), 0);
	h_done(&h);
	assert_null(q.head);
	assert_int_equal(s.bytes, total);
	assert_int_equal(s.records, total / 1024);
	assert_true(s.batches >= total / BATCH_DATA);

	/* The reader goes away after 3 batches: the stage stops at once. */
	memset(&s, 0, sizeof s);
	s.stop_after = 3;
	h_init(&h, &kind_decompress, "{}", 1);
	b = batch_new(FRAMING_CHUNK, z.len, 1);
	batch_add(b, z.p, z.len, 0);
	assert_int_equal(kind_decompress.process(&h.w[0], b, &q, &e), STAGE_STOP);
	assert_int_equal(s.batches, 3);
	assert_int_equal(kind_decompress.flush(&h.w[0], &q, &e), 0);
	assert_int_equal(s.batches, 3);
	h_done(&h);
	buf_free(&z);
	buf_free(&line);
}

/* A record longer than max_record is an error, not unbounded growth. */
static void test_decompress_max_record(void **state)
{
	struct buf zeros = { 0 }, z;
	struct dres r;

	buf_reserve(&zeros, 3u << 20);
	memset(zeros.p, 0, 3u << 20);
	zeros.len = 3u << 20;
	z = zdeflate(zeros.p, zeros.len, 6, 31);
	r = run_decompress("{max_record: 1MiB}", z.p, z.len, NULL, "big.gz");
	assert_int_equal(r.rc, -1);
	assert_string_equal(r.e.msg, "big.gz:1: record longer than max_record (1MiB)");
	assert_int_equal(r.out.len, 0);
	/* as NUL-framed records they are fine */
	r = run_decompress("{framing: nul, max_record: 1MiB}", z.p, z.len, NULL, "big.gz");
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.out.len, zeros.len);
	buf_free(&r.out);
	buf_free(&z);
	buf_free(&zeros);
}

/* compress then decompress through the stages alone, several workers,
 * every format. */
static void test_stages_round_trip(void **state)
{
	struct buf data = logs();
	static const char *const c[] = { "{format: gzip}", "{format: zlib}", "{format: deflate}" };
	static const char *const d[] = { "{format: auto}", "{format: auto}", "{format: deflate}" };

	for (int fmt = 0; fmt < 3; fmt++) {
		struct buf z = round_trip(c[fmt], fmt, &data, FRAMING_LINES, 40000, 4,
					  THREADS_IN_ORDER);
		struct dres r = run_decompress(d[fmt], z.p, z.len, NULL, NULL);

		gave_back(&r, &data);
		buf_free(&z);
	}
	buf_free(&data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compress_logs_sequential),
		cmocka_unit_test(test_compress_threads_same_stream),
		cmocka_unit_test(test_compress_threads_reversed),
		cmocka_unit_test(test_compress_binary_chunks),
		cmocka_unit_test(test_compress_levels),
		cmocka_unit_test(test_compress_formats),
		cmocka_unit_test(test_compress_window_broken_is_an_error),
		cmocka_unit_test(test_compress_empty),
		cmocka_unit_test(test_compress_empty_batches),
		cmocka_unit_test(test_compress_gathers),
		cmocka_unit_test(test_decompress_round_trip),
		cmocka_unit_test(test_decompress_formats),
		cmocka_unit_test(test_decompress_chunks),
		cmocka_unit_test(test_decompress_nul_and_last_record),
		cmocka_unit_test(test_decompress_multi_member),
		cmocka_unit_test(test_decompress_origins),
		cmocka_unit_test(test_decompress_no_origin_names_feeder),
		cmocka_unit_test(test_decompress_corrupt_block),
		cmocka_unit_test(test_decompress_bad_crc_whole_records),
		cmocka_unit_test(test_decompress_truncated),
		cmocka_unit_test(test_decompress_trailing_garbage),
		cmocka_unit_test(test_decompress_engines_agree),
		cmocka_unit_test(test_decompress_lines_framed_input),
		cmocka_unit_test(test_decompress_empty),
		cmocka_unit_test(test_decompress_bomb_bounded),
		cmocka_unit_test(test_decompress_max_record),
		cmocka_unit_test(test_stages_round_trip),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	batch_pool_drain();
	return rc;
}
