/* SPDX-License-Identifier: MIT */
/*
 * fuzz_framer - cut arbitrary bytes into records with every framing, fed
 * in pieces of arbitrary sizes, and check the result is the input: every
 * byte accounted for, records never torn, terminators where they belong.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "records/framer.h"
#include "base/util.h"

struct sink {
	struct buf out;   /* records re-joined with their terminators */
	enum framing framing;
};

static int collect(void *arg, struct batch *b)
{
	struct sink *s = arg;
	size_t t = batch_term_len(b);

	for (uint32_t i = 0; i < b->n; i++) {
		const char *p = b->data + b->recs[i].off;
		if (t && p[b->recs[i].len] != (char)framing_term(s->framing))
			abort();   /* the terminator invariant */
		if (b->recs[i].tag != i)
			abort();
		buf_append(&s->out, p, b->recs[i].len + t);
	}
	batch_free(b);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct framer f;
	struct sink s = { { 0 }, FRAMING_LINES };
	struct err e = { 0 };
	size_t pos, step, max_record, chunk;
	int rc = 0;

	if (size < 3)
		return 0;
	s.framing = (enum framing)(data[0] % 3);
	step = (size_t)data[1] * 37 + 1;
	max_record = (size_t)data[2] * 97 + 1;
	chunk = (size_t)data[2] % 200 + 1;
	data += 3;
	size -= 3;
	framer_init(&f, s.framing, chunk, max_record, "fuzz", collect, &s);
	for (pos = 0; pos < size && rc == 0;) {
		size_t room, n;
		char *dst = framer_space(&f, step, &room);
		n = size - pos < room ? size - pos : room;
		if (n > step)
			n = step;
		memcpy(dst, data + pos, n);
		pos += n;
		rc = framer_commit(&f, n, &e);
	}
	if (rc == 0)
		rc = framer_finish(&f, &e);
	if (rc == 0) {
		/* Everything came back, plus one terminator if the input
		 * lacked its last. */
		size_t extra = s.framing != FRAMING_CHUNK && size > 0 &&
			       data[size - 1] != (uint8_t)framing_term(s.framing);
		if (s.out.len != size + extra || (size && memcmp(s.out.p, data, size)))
			abort();
	} else if (rc < 0 && !strstr(e.msg, "longer than max_record")) {
		abort();
	}
	framer_discard(&f);
	buf_free(&s.out);
	batch_pool_drain();
	return 0;
}
