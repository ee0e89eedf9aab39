/* SPDX-License-Identifier: MIT */
/*
 * bench_runtime.c - microbenchmarks of the runtime's channels, select and
 * contexts; bench.go runs the same operations on Go's, and bench/runtime/run
 * prints the two side by side.
 *
 *     bench_runtime [OP...]        (default: every op)
 *
 * Each op runs for about BENCH_TIME seconds (default 0.3) after a
 * calibration, three times; the median is printed as "OP<TAB>NS_PER_OP".
 * Values are 8-byte integers, as `chan int64` in Go.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"

#define BATCH 64
#define CAP 1024

typedef int64_t value;

static void die(const char *what, int r)
{
	fprintf(stderr, "bench_runtime: %s: %s\n", what, csp_strerror(r));
	exit(1);
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int err = csp_thread_start(&t, fn, arg, 0);

	if (err != 0) {
		fprintf(stderr, "bench_runtime: cannot start a thread: %s\n",
			strerror(err));
		exit(1);
	}
	return t;
}

struct job {
	struct chan *a, *b;
	int64_t n;
};

/* --- unbuffered ping-pong: one op is a round trip --- */

static void *pong(void *p)
{
	struct job *j = p;
	value v;
	int64_t i;
	int r;

	for (i = 0; i < j->n; i++) {
		if ((r = chan_recv(j->a, &v, NULL)) != CSP_OK)
			die("pong recv", r);
		if ((r = chan_send(j->b, &v, NULL)) != CSP_OK)
			die("pong send", r);
	}
	return NULL;
}

static void op_pingpong(int64_t n)
{
	struct job j = { chan_new(sizeof(value), 0), chan_new(sizeof(value), 0), n };
	pthread_t t = spawn(pong, &j);
	value v = 0;
	int64_t i;
	int r;

	for (i = 0; i < n; i++) {
		v = i;
		if ((r = chan_send(j.a, &v, NULL)) != CSP_OK)
			die("ping send", r);
		if ((r = chan_recv(j.b, &v, NULL)) != CSP_OK)
			die("ping recv", r);
	}
	pthread_join(t, NULL);
	chan_free(j.a);
	chan_free(j.b);
}

/* --- the floor: the same round trip between two threads spinning on one
 * atomic flag, with no channel, lock or sleep: what one exchange of a
 * cache line between the two cores costs, there and back --- */

struct flag_job {
	_Atomic int64_t flag;
	int64_t n;
};

static void *flag_pong(void *p)
{
	struct flag_job *j = p;

	for (int64_t i = 1; i <= j->n; i++) {
		while (atomic_load_explicit(&j->flag, memory_order_acquire) != 2 * i - 1)
			;
		atomic_store_explicit(&j->flag, 2 * i, memory_order_release);
	}
	return NULL;
}

static void op_floor(int64_t n)
{
	struct flag_job j = { 0, n };
	pthread_t t = spawn(flag_pong, &j);

	for (int64_t i = 1; i <= n; i++) {
		atomic_store_explicit(&j.flag, 2 * i - 1, memory_order_release);
		while (atomic_load_explicit(&j.flag, memory_order_acquire) != 2 * i)
			;
	}
	pthread_join(t, NULL);
}

/* --- buffered, one producer and one consumer: one op is a value --- */

static void *produce(void *p)
{
	struct job *j = p;
	value v;
	int64_t i;
	int r;

	for (i = 0; i < j->n; i++) {
		v = i;
		if ((r = chan_send(j->a, &v, NULL)) != CSP_OK)
			die("send", r);
	}
	return NULL;
}

static void *consume(void *p)
{
	struct job *j = p;
	value v;

	while (chan_recv(j->a, &v, NULL) == CSP_OK)
		;
	return NULL;
}

static void op_buffered(int64_t n)
{
	struct job j = { chan_new(sizeof(value), CAP), NULL, n };
	pthread_t t = spawn(consume, &j);

	produce(&j);
	chan_close(j.a);
	pthread_join(t, NULL);
	chan_free(j.a);
}

/* --- two producers, two consumers, one buffered channel --- */

static void op_mpmc(int64_t n)
{
	struct job j = { chan_new(sizeof(value), CAP), NULL, n / 2 };
	struct job k = { j.a, NULL, n - n / 2 };
	pthread_t p1 = spawn(produce, &j), p2 = spawn(produce, &k);
	pthread_t c1 = spawn(consume, &j), c2 = spawn(consume, &j);

	pthread_join(p1, NULL);
	pthread_join(p2, NULL);
	chan_close(j.a);
	pthread_join(c1, NULL);
	pthread_join(c2, NULL);
	chan_free(j.a);
}

/* --- select over two channels: one op is a select --- */

static void *produce_two(void *p)
{
	struct job *j = p;
	value v;
	int64_t i;
	int r;

	for (i = 0; i < j->n; i++) {
		v = i;
		if ((r = chan_send(i & 1 ? j->b : j->a, &v, NULL)) != CSP_OK)
			die("send", r);
	}
	return NULL;
}

static void op_select(int64_t n)
{
	struct job j = { chan_new(sizeof(value), CAP), chan_new(sizeof(value), CAP), n };
	pthread_t t = spawn(produce_two, &j);
	value v1, v2;
	struct sel_case cases[2] = {
		{ j.a, SEL_RECV, &v1, 0 },
		{ j.b, SEL_RECV, &v2, 0 },
	};
	int64_t i;
	int r;

	for (i = 0; i < n; i++)
		if ((r = chan_select(cases, 2, 0, NULL)) < 0)
			die("select", r);
	pthread_join(t, NULL);
	chan_free(j.a);
	chan_free(j.b);
}

/* --- context create and cancel --- */

static void op_ctx(int64_t n)
{
	struct ctx *c;
	int64_t i;

	for (i = 0; i < n; i++) {
		c = ctx_with_cancel(NULL);
		ctx_cancel(c);
		ctx_release(c);
	}
}

/* --- batches of 64 values, one producer and one consumer: one op is a
 * value --- */

static void *produce_batches(void *p)
{
	struct job *j = p;
	value v[BATCH];
	size_t moved, k, want;
	int64_t sent = 0;
	int r;

	while (sent < j->n) {
		want = j->n - sent < BATCH ? (size_t)(j->n - sent) : BATCH;
		for (k = 0; k < want; k++)
			v[k] = sent + (int64_t)k;
		for (k = 0; k < want; k += moved)
			if ((r = chan_send_n(j->a, v + k, want - k, &moved, NULL)) != CSP_OK)
				die("send_n", r);
		sent += (int64_t)want;
	}
	return NULL;
}

static void op_batch(int64_t n)
{
	struct job j = { chan_new(sizeof(value), CAP), NULL, n };
	pthread_t t = spawn(produce_batches, &j);
	value v[BATCH];
	size_t moved;
	int64_t got = 0;
	int r;

	while (got < n) {
		if ((r = chan_recv_n(j.a, v, BATCH, &moved, NULL)) != CSP_OK)
			die("recv_n", r);
		got += (int64_t)moved;
	}
	pthread_join(t, NULL);
	chan_free(j.a);
}

static const struct op {
	const char *name;
	void (*run)(int64_t n);
} ops[] = {
	{ "floor", op_floor },
	{ "pingpong", op_pingpong },
	{ "buffered", op_buffered },
	{ "mpmc", op_mpmc },
	{ "select", op_select },
	{ "ctx", op_ctx },
	{ "batch64", op_batch },
};

static int64_t timed(const struct op *o, int64_t n)
{
	int64_t start = csp_now();

	o->run(n);
	return csp_now() - start;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Grow n until a run takes a tenth of the target, scale it to the target,
 * then take the median of three runs. */
static double measure(const struct op *o, double seconds)
{
	int64_t target = (int64_t)(seconds * 1e9), n = 1000, t;
	double ns[3];
	int i;

	for (;;) {
		t = timed(o, n);
		if (t >= target / 10 || n >= (INT64_C(1) << 40))
			break;
		n *= 4;
	}
	if (t > 0)
		n = (int64_t)((double)n * (double)target / (double)t);
	if (n < 1000)
		n = 1000;
	for (i = 0; i < 3; i++)
		ns[i] = (double)timed(o, n) / (double)n;
	qsort(ns, 3, sizeof ns[0], cmp_double);
	return ns[1];
}

int main(int argc, char **argv)
{
	const char *env = getenv("BENCH_TIME");
	double seconds = env ? atof(env) : 0.3;
	size_t i;
	int a, want;

	if (seconds <= 0)
		seconds = 0.3;
	for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		want = argc < 2;
		for (a = 1; a < argc; a++)
			if (strcmp(argv[a], ops[i].name) == 0)
				want = 1;
		if (!want)
			continue;
		printf("%s\t%.1f\n", ops[i].name, measure(&ops[i], seconds));
		fflush(stdout);
	}
	return 0;
}
