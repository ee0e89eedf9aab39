/* SPDX-License-Identifier: MIT */
/*
 * fdio.c - descriptors under a context; the sources' reading loop and the
 * sinks' writer.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "csp/csp.h"
#include "base/inflate.h"
#include "core/fdio.h"
#include "records/framer.h"
#include "records/unpack.h"
#include "core/stage.h"

const char *const input_format_names[] = { "lines", "nul", "chunk", NULL };
const char *const input_gunzip_names[] = { "auto", "true", "false", NULL };

/* ---- waiting under a context ---------------------------------------- */

static void wake(void *arg)
{
	struct fdwait *w = arg;
	uint64_t one = 1;
	ssize_t r = write(w->efd, &one, sizeof one);
	(void)r;
}

/* Make w able to wait on descriptors until ctx is done.  Returns 0, or -1
 * with errno when no eventfd could be made. */
int fdwait_init(struct fdwait *w, struct ctx *ctx)
{
	w->ctx = ctx;
	w->fn = NULL;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->efd < 0)
		return -1;
	if (ctx)
		w->fn = ctx_after_func(ctx, wake, w);
	return 0;
}

void fdwait_fini(struct fdwait *w)
{
	if (w->efd < 0)
		return;
	if (w->fn)
		ctx_stop_func(w->ctx, w->fn);
	w->fn = NULL;
	close(w->efd);
	w->efd = -1;
}

/* Wait until fd is ready for events or the context is done: 0 ready, -2
 * done, -1 error. */
static int wait_fd(struct fdwait *w, int fd, short events)
{
	for (;;) {
		struct pollfd p[2] = { { fd, events, 0 }, { w->efd, POLLIN, 0 } };
		if (w->ctx && ctx_err(w->ctx))
			return -2;
		int r = poll(p, 2, -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p[1].revents)
			return -2;
		if (p[0].revents)
			return 0;
	}
}

static int is_regular(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

ssize_t fd_read(struct fdwait *w, int fd, void *buf, size_t n)
{
	for (;;) {
		if (w->ctx && ctx_err(w->ctx))
			return -2;
		int r = wait_fd(w, fd, POLLIN);
		if (r)
			return r;
		ssize_t got = read(fd, buf, n);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		return got;
	}
}

int fd_write_all(struct fdwait *w, int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		if (w->ctx && ctx_err(w->ctx))
			return -2;
		int r = wait_fd(w, fd, POLLOUT);
		if (r)
			return r;
		ssize_t put = write(fd, p, n);
		if (put < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		p += put;
		n -= (size_t)put;
	}
	return 0;
}

/* ---- sources ---------------------------------------------------------- */

struct input {
	struct stage_io *io;
	struct framer fr;
	struct fdwait fw;
	int fd;
	int regular;
	int sent;            /* io_send's last result */
	const char *origin;
	struct decoder *dec; /* NULL for text */
	struct err *e;
	int failed;          /* the decoder refused a record: e says why */
};

static int send_batch(void *arg, struct batch *b)
{
	struct input *in = arg;
	int r;

	if (in->dec) {
		b = decoder_batch(in->dec, b, io_stats(in->io), in->e);
		if (in->e->set) {
			/* The records before the bad one go on. */
			in->failed = 1;
			if (b)
				in->sent = io_send(in->io, b);
			return 1;
		}
		if (!b)
			return 0;
	}
	r = io_send(in->io, b);

	in->sent = r;
	return r == CSP_OK ? 0 : 1;
}

/* read(2) for a source: regular files are never waited on. */
static ssize_t source_read(struct input *in, void *buf, size_t n)
{
	if (in->regular) {
		ssize_t r;
		if (ctx_err(in->fw.ctx))
			return -2;
		do
			r = read(in->fd, buf, n);
		while (r < 0 && errno == EINTR);
		return r;
	}
	return fd_read(&in->fw, in->fd, buf, n);
}

/* After a short read from a pipe or terminal: when nothing more is there
 * right now, send the complete records held, so that a slow writer (tail
 * -f) is followed record by record instead of a batch at a time. */
static int idle_flush(struct input *in, ssize_t got, size_t asked)
{
	struct pollfd p = { in->fd, POLLIN, 0 };

	if (in->regular || (size_t)got >= asked || poll(&p, 1, 0) != 0)
		return 0;
	return framer_flush(&in->fr);
}

/*
 * The input fails here, e says why (a read error, corrupt or truncated
 * compressed data, a record too long): the complete records before the
 * failure go on, as zcat and grep write everything before it, and the
 * unfinished one, which would be torn, is not sent.  Returns STAGE_ERROR,
 * with e replaced when one of those records is refused by the decoder
 * (that error comes first), or STAGE_STOP when the readers have gone.
 */
static int fail_here(struct input *in, struct err *e)
{
	struct err why;

	if (in->failed)
		return STAGE_ERROR;
	why = *e;
	e->set = 0;
	if (framer_stop(&in->fr) > 0 && !in->failed && in->sent == CSP_CLOSED)
		return STAGE_STOP;
	if (!in->failed)
		*e = why;
	return STAGE_ERROR;
}

/* What a framer result means for the source. */
static int framed(struct input *in, int rc)
{
	if (in->failed)
		return STAGE_ERROR;
	if (rc < 0)
		return fail_here(in, in->e);
	if (rc == 0)
		return STAGE_OK;
	return in->sent == CSP_CLOSED ? STAGE_STOP : STAGE_OK;
}

/* A failed source_read (got < 0) as the source's result: cancelled (-2),
 * what was complete goes on; else a read error. */
static int read_failed(struct input *in, ssize_t got, struct err *e)
{
	if (got == -2)
		return framed(in, framer_stop(&in->fr));
	err_set(e, "%s: read error: %s", in->origin, strerror(errno));
	return fail_here(in, e);
}

static int read_plain(struct input *in, const char *first, size_t nfirst, struct err *e)
{
	int rc;

	while (nfirst > 0) {
		size_t room;
		char *dst = framer_space(&in->fr, nfirst, &room);
		size_t n = room < nfirst ? room : nfirst;
		memcpy(dst, first, n);
		if ((rc = framer_commit(&in->fr, n, e)) != 0)
			return framed(in, rc);
		first += n;
		nfirst -= n;
		if (nfirst == 0 && (rc = idle_flush(in, (ssize_t)n, BATCH_DATA)) != 0)
			return framed(in, rc);
	}
	for (;;) {
		size_t room;
		char *dst = framer_space(&in->fr, BATCH_DATA, &room);
		ssize_t got = source_read(in, dst, room);
		if (got < 0)
			return read_failed(in, got, e);
		if (got == 0)
			return framed(in, framer_finish(&in->fr, e));
		if ((rc = framer_commit(&in->fr, (size_t)got, e)) != 0 ||
		    (rc = idle_flush(in, got, room)) != 0)
			return framed(in, rc);
	}
}

/*
 * Decompress gzip input (every member of a multi-member file) into the
 * framer.  raw holds what was read so far.  Corrupt and truncated data are
 * errors naming the byte offset in the compressed input.
 */
static int read_gzip(struct input *in, char *raw, size_t rawcap, size_t nraw, struct err *e)
{
	struct infl z;
	uint64_t consumed = 0;   /* compressed bytes before raw[0] */
	int rc = STAGE_OK, zr, eof = 0, member_done = 0, quiet = 0;
	int padding = 0;         /* zero bytes seen after a member */

	infl_init(&z, INFL_GZIP);
	z.next_in = (unsigned char *)raw;
	z.avail_in = nraw;
	for (;;) {
		size_t room;
		char *dst;
		int r;

		if (z.avail_in == 0 && !eof) {
			ssize_t got = source_read(in, raw, rawcap);
			if (got < 0) {
				rc = read_failed(in, got, e);
				goto out;
			}
			consumed += (uint64_t)((const char *)z.next_in - raw);
			z.next_in = (unsigned char *)raw;
			z.avail_in = (size_t)got;
			if (got == 0)
				eof = 1;
			else
				quiet = (size_t)got < rawcap;
		}
		if (z.avail_in == 0 && eof) {
			if (!member_done) {
				err_set(e, "%s: truncated gzip data (the stream ends at byte %llu)",
					in->origin, (unsigned long long)consumed);
				rc = fail_here(in, e);
				goto out;
			}
			rc = framed(in, framer_finish(&in->fr, e));
			goto out;
		}
		if (member_done) {
			/* Another member follows: gzip(1) reads concatenated
			 * members as one stream.  Zero bytes to the end are
			 * padding (a tape's blocks), which gzip ignores too.
			 * Anything else is an error, not silently ignored
			 * data. */
			uint64_t at;
			if (padding || z.next_in[0] == 0) {
				while (z.avail_in > 0 && z.next_in[0] == 0) {
					z.next_in++;
					z.avail_in--;
				}
				padding = 1;
				if (z.avail_in == 0)
					continue;
			}
			at = consumed + (uint64_t)((const char *)z.next_in - raw);
			if (padding || z.next_in[0] != 0x1f) {
				err_set(e, "%s: trailing garbage after gzip data at byte %llu",
					in->origin, (unsigned long long)at);
				rc = fail_here(in, e);
				goto out;
			}
			infl_reset(&z, INFL_GZIP);
			member_done = 0;
		}
		dst = framer_space(&in->fr, BATCH_DATA, &room);
		z.next_out = (unsigned char *)dst;
		z.avail_out = room;
		zr = infl_run(&z);
		if (zr == INFL_ERROR) {
			uint64_t at = consumed + (uint64_t)((const char *)z.next_in - raw) -
				      infl_behind(&z);
			err_set(e, "%s: corrupt gzip data at byte %llu: %s", in->origin,
				(unsigned long long)at, z.msg);
			rc = fail_here(in, e);
			goto out;
		}
		if (zr == INFL_END)
			member_done = 1;
		r = framer_commit(&in->fr, room - z.avail_out, e);
		if (!r && quiet && z.avail_in == 0) {
			r = idle_flush(in, 0, 1);
			quiet = 0;
		}
		if (r) {
			rc = framed(in, r);
			goto out;
		}
	}
out:
	infl_end(&z);
	return rc;
}

/*
 * Decompress zstd, xz or bzip2 input (every frame or stream of it) into
 * the framer, as read_gzip does gzip.  raw holds the nraw bytes read so
 * far.  Corrupt, truncated and trailing data are errors naming the byte
 * offset in the compressed input.
 */
static int read_unpack(struct input *in, int format, char *raw, size_t rawcap,
		       size_t nraw, struct err *e)
{
	struct unpack u;
	ssize_t got = (ssize_t)nraw;
	int rc, r;

	unpack_init(&u, format);
	for (;;) {
		r = unpack_feed(&u, (const unsigned char *)raw, (size_t)got, &in->fr, e);
		if (r == 0 && (size_t)got < rawcap)
			r = idle_flush(in, 0, 1);
		if (r != 0) {
			if (r < 0 && u.fail)
				unpack_error(&u, in->origin, 0, e);
			rc = framed(in, r);
			goto out;
		}
		got = source_read(in, raw, rawcap);
		if (got < 0) {
			rc = read_failed(in, got, e);
			goto out;
		}
		if (got == 0)
			break;
	}
	if (unpack_end(&u) != 0) {
		unpack_error(&u, in->origin, 0, e);
		rc = fail_here(in, e);
		goto out;
	}
	rc = framed(in, framer_finish(&in->fr, e));
out:
	unpack_fini(&u);
	return rc;
}

/*
 * Read fd into batches: see fdio.h.  The first read decides whether the
 * input is compressed (gzip, zstd, xz or bzip2, by its magic bytes);
 * plain input is then read straight into the batches.  The first read
 * goes on only while what came so far could still be a magic, so that a
 * slow writer's first short line is not held back.
 */
int input_read(struct stage_io *io, int fd, const char *origin,
	       const struct input_opts *o, struct err *e)
{
	struct input in = { .io = io, .fd = fd, .origin = origin, .e = e };
	size_t rawcap = BATCH_DATA;
	char *raw = NULL;
	ssize_t got;
	size_t have = 0;
	int rc, gunzip, fmt;

	gunzip = o->gunzip == GUNZIP_YES ||
		 (o->gunzip == GUNZIP_AUTO && o->format != FRAMING_CHUNK);
	framer_init(&in.fr, (enum framing)o->format, o->chunk_size, o->max_record, origin,
		    send_batch, &in);
	if (fdwait_init(&in.fw, io_ctx(io))) {
		err_set(e, "%s: %s", origin, strerror(errno));
		return STAGE_ERROR;
	}
	in.regular = is_regular(fd);
	in.dec = decoder_new((enum codec)o->codec, o->on_error, o->cols);
	raw = csp_malloc(rawcap);
	/* Enough bytes to see the magic, or the end. */
	while (have < 2 || (gunzip && have < UNPACK_MAGIC_MAX &&
			    unpack_sniff((unsigned char *)raw, have) < 0)) {
		got = source_read(&in, raw + have, rawcap - have);
		if (got == -2) {
			rc = STAGE_OK;
			goto out;
		}
		if (got < 0) {
			err_set(e, "%s: read error: %s", origin, strerror(errno));
			rc = STAGE_ERROR;
			goto out;
		}
		if (got == 0)
			break;
		have += (size_t)got;
	}
	if (gunzip && have >= 2 && (unsigned char)raw[0] == 0x1f && (unsigned char)raw[1] == 0x8b)
		rc = read_gzip(&in, raw, rawcap, have, e);
	else if (gunzip && (fmt = unpack_sniff((unsigned char *)raw, have)) > 0)
		rc = read_unpack(&in, fmt, raw, rawcap, have, e);
	else
		rc = read_plain(&in, raw, have, e);
	if (rc == STAGE_OK && in.dec && !ctx_err(io_ctx(io)) &&
	    decoder_finish(in.dec, origin, e) != 0)
		rc = STAGE_ERROR;
out:
	decoder_free(in.dec);
	framer_discard(&in.fr);
	fdwait_fini(&in.fw);
	free(raw);
	return rc;
}

/* ---- sinks ------------------------------------------------------------ */

#define WRITE_BIG 16384     /* a batch this large is written in place;
				       smaller ones are gathered into one write */

int writer_init(struct writer *w, int fd, const char *name, struct ctx *ctx)
{
	memset(w, 0, sizeof *w);
	w->fd = fd;
	w->name = name;
	return fdwait_init(&w->fw, ctx);
}

static int write_err(struct writer *w, int r, struct err *e)
{
	w->cancelled = r == -2;
	if (r == -2)
		return STAGE_STOP;   /* cancelled: the engine knows why */
	if (errno == EPIPE)
		return STAGE_STOP;
	err_set(e, "write error on %s: %s", w->name, strerror(errno));
	return STAGE_ERROR;
}

int writer_flush(struct writer *w, struct err *e)
{
	int r;

	if (w->pending.len == 0)
		return STAGE_OK;
	r = fd_write_all(&w->fw, w->fd, w->pending.p, w->pending.len);
	if (r)
		return write_err(w, r, e);
	w->written += w->pending.len;
	w->pending.len = 0;
	return STAGE_OK;
}

/* writev all of iov[0..n), resuming after short writes. */
static int writev_all(struct writer *w, struct iovec *iov, int n)
{
	while (n > 0) {
		if (w->fw.ctx && ctx_err(w->fw.ctx))
			return -2;
		ssize_t put = writev(w->fd, iov, n > IOV_MAX ? IOV_MAX : n);
		if (put < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int r = wait_fd(&w->fw, w->fd, POLLOUT);
				if (r)
					return r;
				continue;
			}
			return -1;
		}
		w->written += (uint64_t)put;
		while (n > 0 && (size_t)put >= iov->iov_len) {
			put -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + put;
			iov->iov_len -= (size_t)put;
		}
	}
	return 0;
}

/*
 * Write the records of b, each followed by its terminator.  Runs of
 * adjacent records are one piece (the terminators are already in place:
 * batch.h's invariant); a batch with little to write is gathered into the
 * pending buffer, a large one goes out with one writev.
 */
static int write_records(struct writer *w, const struct batch *b, struct wstats *ws,
			 struct err *e)
{
	size_t t = batch_term_len(b);
	size_t total = 0, runs = 0;
	int r;

	for (uint32_t i = 0; i < b->n; i++) {
		total += b->recs[i].len + t;
		if (i == 0 || b->recs[i].off != b->recs[i - 1].off + b->recs[i - 1].len + t)
			runs++;
	}
	if (total < WRITE_BIG) {
		buf_reserve(&w->pending, total);
		for (uint32_t i = 0; i < b->n;) {
			uint32_t j = i + 1;
			while (j < b->n && b->recs[j].off == b->recs[j - 1].off + b->recs[j - 1].len + t)
				j++;
			size_t span = b->recs[j - 1].off + b->recs[j - 1].len + t - b->recs[i].off;
			memcpy(w->pending.p + w->pending.len, b->data + b->recs[i].off, span);
			w->pending.len += span;
			i = j;
		}
		/* Written now, not held for the next batch: a batch is small
		 * only when its input trickles (or a filter kept little), and
		 * then what was kept should be seen at once. */
		if ((r = writer_flush(w, e)) != STAGE_OK)
			goto stopped;
	} else {
		struct iovec stack[64], *iov = runs <= 64 ? stack : csp_malloc(runs * sizeof *iov);
		int n = 0;
		if ((r = writer_flush(w, e)) != STAGE_OK) {
			if (iov != stack)
				free(iov);
			goto stopped;
		}
		for (uint32_t i = 0; i < b->n;) {
			uint32_t j = i + 1;
			while (j < b->n && b->recs[j].off == b->recs[j - 1].off + b->recs[j - 1].len + t)
				j++;
			iov[n].iov_base = b->data + b->recs[i].off;
			iov[n].iov_len = b->recs[j - 1].off + b->recs[j - 1].len + t - b->recs[i].off;
			n++;
			i = j;
		}
		int wr = writev_all(w, iov, n);
		if (iov != stack)
			free(iov);
		if (wr) {
			r = write_err(w, wr, e);
			goto stopped;
		}
	}
	wstat_add(&ws->rec_out, b->records);
	wstat_add(&ws->bytes_out, total);
	return STAGE_OK;
stopped:
	/* The reader going away is the end the user asked for (| head);
	 * records cut off by an abort are lost. */
	if (r == STAGE_STOP)
		wstat_add(w->cancelled ? &ws->dropped : &ws->filtered, b->records);
	return r;
}

/* Write b's records, encoded first when the sink has a codec. */
int writer_batch(struct writer *w, const struct batch *b, struct wstats *ws, struct err *e)
{
	struct batch *enc;
	int r;

	if (!w->enc)
		return write_records(w, b, ws, e);
	struct err bad = { .set = 0 };
	enc = encoder_batch(w->enc, b, w->name, &bad);
	r = write_records(w, enc, ws, e);
	batch_free(enc);
	if (bad.set && r == STAGE_OK) {
		/* The records before the one that could not be encoded are
		 * written; the run stops at it. */
		*e = bad;
		return STAGE_ERROR;
	}
	return r;
}

void writer_set_codec(struct writer *w, const struct output_conf *c)
{
	encoder_free(w->enc);
	w->enc = encoder_new((enum codec)c->codec, &c->cols, (_Atomic int *)&c->header_claim);
}

void writer_fini(struct writer *w)
{
	encoder_free(w->enc);
	w->enc = NULL;
	fdwait_fini(&w->fw);
	buf_free(&w->pending);
}

/* ---- codec options of sources and sinks -------------------------------- */

/* Compile the columns of a source or sink with codec `codec`.  Returns 0,
 * or -1 after a positioned diagnostic. */
static int check_columns(struct stage *st, int codec, const struct strlist *l,
			 struct columns *cols, struct diags *d)
{
	char msg[128];
	size_t bad = 0, at = 0;

	columns_free(cols);
	if (l->n && codec != CODEC_CSV) {
		diag_at(d, l->at && l->at[0].file ? l->at[0] : stage_pos(st),
			"columns: only codec csv takes columns");
		return -1;
	}
	if (columns_compile(cols, l->v, l->n, msg, sizeof msg, &bad, &at)) {
		diag_at(d, l->at && l->at[bad].file ? l->at[bad] : stage_pos(st),
			"columns: item %zu: bad path '%s': %s at column %zu", bad + 1,
			l->v[bad], msg, at + 1);
		return -1;
	}
	return 0;
}

/*
 * Compile a source's columns and check that its codec and framing go
 * together.  Returns 0, or -1 after a positioned diagnostic.
 */
int input_check(struct stage *st, struct input_conf *c, struct diags *d)
{
	if (c->codec != CODEC_TEXT && c->format != FRAMING_LINES) {
		diag_at(d, stage_pos(st), "codec %s reads lines: it cannot be used with format %s",
			codec_names[c->codec], input_format_names[c->format]);
		return -1;
	}
	return check_columns(st, c->codec, &c->columns, &c->cols, d);
}

void input_conf_free(struct input_conf *c)
{
	columns_free(&c->cols);
}

/*
 * Compile a sink's columns.  Returns 0, or -1 after a positioned
 * diagnostic.
 */
int output_check(struct stage *st, struct output_conf *c, struct diags *d)
{
	return check_columns(st, c->codec, &c->columns, &c->cols, d);
}

void output_conf_free(struct output_conf *c)
{
	columns_free(&c->cols);
}
