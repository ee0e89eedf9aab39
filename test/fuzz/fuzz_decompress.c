/* SPDX-License-Identifier: MIT */
/*
 * fuzz_decompress - arbitrary bytes through the decompress stage's process
 * and flush, in batches of varying sizes, under every format and framing.
 * It must never crash, leak or hang, and every batch it sends must hold
 * whole records: offsets inside the data, terminators where they belong,
 * chunks of the chunk size, nothing longer than max_record.
 *
 * Input: byte 0 picks format (auto, gzip, zlib, deflate), framing (lines,
 * nul, chunk) and small or default sizes; byte 1 seeds the batch sizes;
 * the rest is the compressed stream.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records/batch.h"
#include "pipeline/config.h"
#include "csp/csp.h"
#include "pipeline/spec.h"
#include "core/stage.h"
#include "base/util.h"

extern const struct stage_kind kind_decompress;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 4 formats x 3 framings x 2 size sets, loaded once. */
#define NCONF 24
#define SMALL_CHUNK 7
#define SMALL_RECORD 1024
/* Output past this stops the stage the way a reader that went away does,
 * so a zip bomb is a quick input, not a slow one. */
#define BUDGET (256u << 10)

static void *confs[NCONF];

static void *conf_for(unsigned i)
{
	static const char *const fmt[] = { "auto", "gzip", "zlib", "deflate" };
	static const char *const fr[] = { "lines", "nul", "chunk" };
	char yaml[160];
	struct diags d = { 0 };
	struct spec *s;

	if (confs[i])
		return confs[i];
	snprintf(yaml, sizeof yaml, "{format: %s, framing: %s%s}", fmt[i % 4],
		 fr[i / 4 % 3], i / 12 ? ", chunk_size: 7, max_record: 1KiB" : "");
	s = spec_load_string("fuzz", yaml, strlen(yaml), &d);
	confs[i] = calloc(1, kind_decompress.conf_size);
	if (!s || !confs[i] || config_load(kind_decompress.options, confs[i],
					   spec_root(s), &d) != 0)
		abort();
	spec_free(s);
	diags_free(&d);
	return confs[i];
}

struct sink {
	enum framing framing;
	size_t chunk, max_record;
	size_t bytes;
	const char *origin;    /* of the stream the last batch came from */
	int short_chunk;       /* its chunk shorter than chunk was seen */
};

static int check(void *arg, struct batch *b)
{
	struct sink *s = arg;
	size_t t = batch_term_len(b);

	if (b->framing != s->framing || b->n == 0 || b->records != b->n || !b->origin)
		abort();
	if (b->origin != s->origin) {
		/* a new origin is a new stream */
		s->origin = b->origin;
		s->short_chunk = 0;
	}
	for (uint32_t i = 0; i < b->n; i++) {
		const struct rec *r = &b->recs[i];

		if ((size_t)r->off + r->len + t > b->len)
			abort();
		if (t && b->data[r->off + r->len] != (char)framing_term(s->framing))
			abort();
		if (t && memchr(b->data + r->off, framing_term(s->framing), r->len))
			abort();   /* torn: two records in one */
		if (t && r->len > s->max_record)
			abort();
		if (!t) {
			/* Only the stream's last chunk may be short. */
			if (s->short_chunk || r->len > s->chunk || r->len == 0)
				abort();
			s->short_chunk = r->len < s->chunk;
		}
	}
	s->bytes += b->len;
	batch_free(b);
	return s->bytes > BUDGET ? CSP_CLOSED : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum framing framings[] = { FRAMING_LINES, FRAMING_NUL, FRAMING_CHUNK };
	struct stage st = { 0 };
	struct wstats ws = { 0 };
	struct worker w = { 0 };
	struct sink sink = { 0 };
	struct outq q = { 0 };
	struct err e = { 0 };
	uint32_t rng;
	unsigned ci;
	size_t off = 0;
	uint64_t seq = 0;
	const char *origin = "fuzz";
	int rc = 0;

	if (size < 2)
		return 0;
	ci = data[0] % NCONF;
	rng = (uint32_t)data[1] * 2654435761u + 1;
	data += 2;
	size -= 2;

	st.kind = &kind_decompress;
	st.name = (char *)"decompress";
	st.conf = conf_for(ci);
	st.workers = 1;
	w.stage = &st;
	w.stats = &ws;
	w.state = kind_decompress.worker_new(&st, 0);
	sink.framing = framings[ci / 4 % 3];
	sink.chunk = ci / 12 ? SMALL_CHUNK : 65536;
	sink.max_record = ci / 12 ? SMALL_RECORD : (64u << 20);
	q.send = check;
	q.arg = &sink;

	while (rc == 0 && off < size) {
		size_t n;
		struct batch *b;

		rng = rng * 1103515245u + 12345u;
		n = (rng >> 16) % 4 == 0 ? 1 : (rng >> 16) % 3000 + 1;
		if (n > size - off)
			n = size - off;
		b = batch_new(FRAMING_CHUNK, n, 1);
		batch_add(b, data + off, n, 0);
		b->seq = seq++;
		/* now and then another origin: a new stream */
		if ((rng >> 8) % 61 == 0)
			origin = origin ? NULL : "fuzz";
		b->origin = origin;
		off += n;
		rc = kind_decompress.process(&w, b, &q, &e);
	}
	if (rc == 0)
		rc = kind_decompress.flush(&w, &q, &e);
	if (rc < 0 && !e.msg[0])
		abort();   /* an error always says why */
	if (rc == 0 && e.msg[0])
		abort();
	kind_decompress.worker_free(&st, w.state);
	batch_pool_drain();
	return 0;
}
