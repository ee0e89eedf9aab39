/* SPDX-License-Identifier: MIT */
/*
 * test_unpack - the zstd, xz and bzip2 decoders behind records/unpack.h:
 * magic bytes, several frames or streams fed in pieces of every size,
 * xz's padding, zstd's skippable frames, and the offsets that truncated
 * and trailing data are reported at.  Inputs are made by the libraries'
 * own encoders, so the test needs no command.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <bzlib.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "base/util.h"
#include "records/batch.h"
#include "records/framer.h"
#include "records/unpack.h"

/* Text with structure, as logs have: lines of words and numbers. */
static struct buf text(size_t lines)
{
	struct buf b = { 0 };
	char line[128];

	for (size_t i = 0; i < lines; i++) {
		int n = snprintf(line, sizeof line, "081109 %06zu %zu INFO dfs.DataNode: block blk_%zu "
				 "of size %zu from /10.250.%zu.%zu\n", i * 7 % 240000, i % 1000,
				 i * 2654435761u % 100000, i * 31 % 67108864, i % 250, i * 13 % 250);
		buf_append(&b, line, (size_t)n);
	}
	return b;
}

/* One frame or stream of format f holding p[0..n), appended to out. */
static void encode(int f, const struct buf *in, struct buf *out)
{
	size_t cap = in->len + in->len / 2 + 1024, got = 0;

	buf_reserve(out, cap);
	if (f == UNPACK_ZSTD) {
		got = ZSTD_compress(out->p + out->len, cap, in->p, in->len, 3);
		assert_false(ZSTD_isError(got));
	} else if (f == UNPACK_XZ) {
		size_t pos = 0;

		assert_int_equal(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC64, NULL,
							 (const uint8_t *)in->p, in->len,
							 (uint8_t *)out->p + out->len, &pos, cap),
				 LZMA_OK);
		got = pos;
	} else {
		unsigned int len = (unsigned int)cap;

		assert_int_equal(BZ2_bzBuffToBuffCompress(out->p + out->len, &len, in->p,
							  (unsigned int)in->len, 1, 0, 0),
				 BZ_OK);
		got = len;
	}
	out->len += got;
}

static int collect(void *arg, struct batch *b)
{
	struct buf *out = arg;

	for (uint32_t i = 0; i < b->n; i++)
		buf_append(out, rec_ptr(b, i), b->recs[i].len + batch_term_len(b));
	batch_free(b);
	return 0;
}

/* Decode z in pieces whose sizes cycle through `pieces` (0-terminated).
 * Returns unpack_feed's or unpack_end's first non-zero result, or 0;
 * *u keeps the stream's state for the caller's checks. */
static int decode(int f, const struct buf *z, const size_t *pieces, struct buf *out,
		  struct unpack *u)
{
	struct framer fr;
	struct err e = { 0 };
	size_t off = 0, k = 0;
	int rc = 0;

	framer_init(&fr, FRAMING_LINES, 0, 1 << 20, "test", collect, out);
	unpack_init(u, f);
	while (rc == 0 && off < z->len) {
		size_t n = pieces[k] < z->len - off ? pieces[k] : z->len - off;

		if (!pieces[++k])
			k = 0;
		rc = unpack_feed(u, (const unsigned char *)z->p + off, n, &fr, &e);
		off += n;
	}
	if (rc == 0)
		rc = unpack_end(u);
	if (rc == 0)
		rc = framer_finish(&fr, &e);
	framer_discard(&fr);
	unpack_fini(u);
	return rc;
}

static const size_t tiny[] = { 1, 2, 3, 5, 7, 1, 1, 4096, 0 };
static const size_t whole[] = { (size_t)1 << 30, 0 };

static void test_sniff(void **state)
{
	static const struct {
		const char *bytes;
		size_t n;
		int want;
	} cases[] = {
		{ "\x28\xb5\x2f\xfd", 4, UNPACK_ZSTD },
		{ "\x28\xb5\x2f", 3, -1 },
		{ "\x5e\x2a\x4d\x18", 4, UNPACK_ZSTD },      /* skippable */
		{ "\xfd" "7zXZ\0", 6, UNPACK_XZ },
		{ "\xfd" "7zX", 4, -1 },
		{ "BZh91AY&SY", 10, UNPACK_BZIP2 },
		{ "BZh1\x17\x72\x45\x38\x50\x90", 10, UNPACK_BZIP2 }, /* empty stream */
		{ "BZh91AY&S", 9, -1 },
		{ "BZh0" "1AY&SY", 10, UNPACK_NONE },        /* no block size 0 */
		{ "BZh9 is text", 12, UNPACK_NONE },
		{ "\x1f\x8b", 2, UNPACK_NONE },              /* gzip is not ours */
		{ "plain text\n", 11, UNPACK_NONE },
		{ "", 0, -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		assert_int_equal(unpack_sniff((const unsigned char *)cases[i].bytes, cases[i].n),
				 cases[i].want);
}

/* Two frames (streams), in pieces of every size: both come out. */
static void test_frames_in_pieces(void **state)
{
	struct buf t = text(20000), want = { 0 };

	(void)state;
	buf_append(&want, t.p, t.len);
	buf_append(&want, t.p, t.len);
	for (int f = UNPACK_ZSTD; f <= UNPACK_BZIP2; f++) {
		struct buf z = { 0 };

		encode(f, &t, &z);
		encode(f, &t, &z);
		assert_int_equal(unpack_sniff((const unsigned char *)z.p, z.len), f);
		for (int p = 0; p < 2; p++) {
			struct buf out = { 0 };
			struct unpack u;

			assert_int_equal(decode(f, &z, p ? tiny : whole, &out, &u), 0);
			assert_int_equal(u.frames, 2);
			assert_int_equal(out.len, want.len);
			assert_memory_equal(out.p, want.p, want.len);
			buf_free(&out);
		}
		buf_free(&z);
	}
	buf_free(&want);
	buf_free(&t);
}

/* xz's stream padding (zero bytes in fours) between and after streams,
 * and a zstd skippable frame, are passed over as the commands do. */
static void test_padding_and_skippable(void **state)
{
	struct buf t = text(100), z = { 0 }, out = { 0 };
	struct unpack u;

	(void)state;
	encode(UNPACK_XZ, &t, &z);
	buf_append(&z, "\0\0\0\0\0\0\0\0", 8);
	encode(UNPACK_XZ, &t, &z);
	buf_append(&z, "\0\0\0\0", 4);
	assert_int_equal(decode(UNPACK_XZ, &z, tiny, &out, &u), 0);
	assert_int_equal(out.len, 2 * t.len);
	buf_free(&out);
	z.len = 0;
	buf_append(&z, "\x50\x2a\x4d\x18\x03\x00\x00\x00" "abc", 11);
	encode(UNPACK_ZSTD, &t, &z);
	assert_int_equal(decode(UNPACK_ZSTD, &z, tiny, &out, &u), 0);
	assert_int_equal(out.len, t.len);
	assert_memory_equal(out.p, t.p, t.len);
	buf_free(&out);
	buf_free(&z);
	buf_free(&t);
}

/* Cut anywhere inside: truncated, at the cut; garbage after a complete
 * stream: trailing garbage, where it begins; a damaged byte: corrupt. */
static void test_truncated_garbage_corrupt(void **state)
{
	struct buf t = text(5000);

	(void)state;
	for (int f = UNPACK_ZSTD; f <= UNPACK_BZIP2; f++) {
		struct buf z = { 0 }, out = { 0 };
		struct unpack u;
		size_t full;

		encode(f, &t, &z);
		full = z.len;
		for (size_t cut = 1; cut < full; cut += full / 7) {
			struct buf c = { 0 };

			buf_append(&c, z.p, cut);
			assert_int_equal(decode(f, &c, tiny, &out, &u), -1);
			assert_int_equal(u.fail, UNPACK_TRUNCATED);
			assert_int_equal(u.fail_at, cut);
			out.len = 0;
			buf_free(&c);
		}
		buf_append(&z, "garbage\n", 8);
		assert_int_equal(decode(f, &z, tiny, &out, &u), -1);
		assert_int_equal(u.fail, UNPACK_GARBAGE);
		assert_int_equal(u.fail_at, full);
		out.len = 0;
		z.len = full;
		z.p[full / 2] ^= 0x55;
		assert_int_equal(decode(f, &z, whole, &out, &u), -1);
		assert_int_equal(u.fail, UNPACK_CORRUPT);
		assert_non_null(u.fail_msg);
		buf_free(&out);
		buf_free(&z);
	}
	buf_free(&t);
}

/* The messages, in both of the callers' styles. */
static void test_messages(void **state)
{
	struct unpack u = { .format = UNPACK_XZ, .fail = UNPACK_TRUNCATED, .fail_at = 42 };
	struct err e = { 0 };

	(void)state;
	unpack_error(&u, "a.xz", 0, &e);
	assert_string_equal(e.msg, "a.xz: truncated xz data (the stream ends at byte 42)");
	unpack_error(&u, "a.xz", 1, &e);
	assert_string_equal(e.msg, "truncated xz data in a.xz: stream ends at byte 42");
	u.format = UNPACK_BZIP2;
	u.fail = UNPACK_GARBAGE;
	unpack_error(&u, "b", 1, &e);
	assert_string_equal(e.msg, "trailing garbage after bzip2 data in b at byte 42");
	u.format = UNPACK_ZSTD;
	u.fail = UNPACK_CORRUPT;
	u.fail_msg = "Data corruption detected";
	unpack_error(&u, "c.zst", 0, &e);
	assert_string_equal(e.msg, "c.zst: corrupt zstd data at byte 42: Data corruption detected");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_frames_in_pieces),
		cmocka_unit_test(test_padding_and_skippable),
		cmocka_unit_test(test_truncated_garbage_corrupt),
		cmocka_unit_test(test_messages),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	batch_pool_drain();
	return rc;
}
