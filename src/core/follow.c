/* SPDX-License-Identifier: MIT */
/*
 * follow.c - follow files as `tail -F` does, and checkpoint how far the
 * sinks got (see follow.h).  The reading and watching are here; the
 * checkpoint file is follow_checkpoint.c, the state both share
 * follow_int.h.
 *
 * One thread (the source's) does everything but the checkpoint writes: it
 * reads every followed file to its end, then sleeps in poll(2) on an
 * inotify descriptor watching the files' folders and on the eventfd that
 * the stage's cancellation writes, so an idle follow costs no CPU.  Where
 * inotify cannot watch (no such folder yet, a pattern with wildcards in its
 * folder part, inotify unavailable) or poll_interval asks for it, it looks
 * every poll_interval (default 1s) instead.  After any change it rescans:
 * the patterns are expanded, the files found are matched to those followed
 * by device and inode, and each followed file is read to its end.
 *
 * Checkpoint.  With a checkpoint file, each batch sent carries an ack
 * token (records/ack.h) whose user is the file and the offset just past
 * its last record; the ordered group calls back, in the order the batches
 * were sent, once the sinks have made a batch durable (or filtered it),
 * and the callback, on the thread of the sink that finished it, records
 * the file's new offset and rewrites the checkpoint (temporary file,
 * fsync, rename) before that sink goes on.  So after kill -9 the
 * checkpoint is at most the batches a sink had written but not yet
 * acknowledged behind: with one sink worker, the one batch it was
 * writing.  Those records are read and written again after a restart;
 * nothing is lost.
 *
 * The checkpoint is text:
 *     cspipe-checkpoint 1
 *     DEV INO FPLEN FP OFFSET PATH
 * one line per file: its device and inode, a 64-bit FNV-1a hash (hex) of
 * its first FPLEN bytes (at most 256), and how many bytes of it are
 * durable.  At start a file resumes from its entry when the device, inode
 * and fingerprint match (an inode reused by another file does not); a
 * file shorter than its offset is read from the start with a warning.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csp/csp.h"
#include "core/follow.h"
#include "core/follow_int.h"
#include "core/stage.h"
#include "records/ack.h"
#include "records/framer.h"
#include "base/util.h"

#define POLL_DEFAULT_NS (1000 * CSP_NS_PER_MS)


/* ---- reading --------------------------------------------------------------- */

/* The framer's batch is complete: tag it and send it on. */
static int emit(void *arg, struct batch *b)
{
	struct ffile *f = arg;
	struct follower *fl = f->fl;
	/* A terminator framer_finish added is not in the file. */
	uint64_t end = b->offset + b->len - (f->fr.missing_term ? 1 : 0);

	if (fl->acks) {
		struct span *s = csp_malloc(sizeof *s);
		s->f = f;
		s->end = end;
		pthread_mutex_lock(&fl->mu);
		s->gen = f->gen;
		pthread_mutex_unlock(&fl->mu);
		batch_ack(b, ack_token_new(fl->acks, fl->next_id++, s));
	}
	fl->sent = io_send(fl->io, b);
	return fl->sent == CSP_OK ? 0 : 1;
}

static int holds_partial(const struct ffile *f)
{
	return f->fr.cur && f->fr.cur->len > f->fr.rec_start;
}

/* Send the unterminated tail as a record (the file ended, or the tail
 * waited flush_partial_after).  Returns as framer_finish. */
static int send_partial(struct ffile *f, struct err *e)
{
	int rc;

	f->fr.missing_term = 0;
	rc = framer_finish(&f->fr, e);
	f->fr.missing_term = 0;
	f->fr.offset = f->off;
	f->partial_since = 0;
	return rc;
}

/* Read f to its end, then send the complete records held.  0, 1 when the
 * run must stop (readers gone), -1 with e set. */
static int read_more(struct follower *fl, struct ffile *f, struct err *e)
{
	int rc;

	for (;;) {
		size_t room;
		char *dst;
		ssize_t got;

		if (ctx_err(io_ctx(fl->io)))
			return 0;
		dst = framer_space(&f->fr, BATCH_DATA, &room);
		got = read(f->fd, dst, room);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err_set(e, "%s: read error: %s", f->path, strerror(errno));
			return -1;
		}
		if (got == 0)
			break;
		f->off += (uint64_t)got;
		if ((rc = framer_commit(&f->fr, (size_t)got, e)) != 0)
			return rc < 0 ? -1 : 1;
	}
	if ((rc = framer_flush(&f->fr)) != 0)
		return 1;
	if (f->fplen < FP_MAX && f->off > f->fplen) {
		uint32_t n = f->off < FP_MAX ? (uint32_t)f->off : FP_MAX;
		uint64_t fp;
		if (follow_fingerprint(f->fd, n, &fp) == 0) {
			pthread_mutex_lock(&fl->mu);
			f->fplen = n;
			f->fp = fp;
			pthread_mutex_unlock(&fl->mu);
		}
	}
	if (!holds_partial(f))
		f->partial_since = 0;
	else if (!f->partial_since)
		f->partial_since = csp_now();
	return 0;
}

/* f left the set of files followed (renamed away, deleted): read what is
 * left, send its unterminated tail, close it. */
static int finish_file(struct follower *fl, struct ffile *f, struct err *e)
{
	int rc = read_more(fl, f, e);

	if (rc == 0 && !ctx_err(io_ctx(fl->io)))
		rc = send_partial(f, e) < 0 ? -1 : fl->sent != CSP_OK;
	framer_discard(&f->fr);
	pthread_mutex_lock(&fl->mu);
	close(f->fd);
	f->fd = -1;
	pthread_mutex_unlock(&fl->mu);
	return rc;
}

/* Start following the file open on fd as path: from its checkpoint entry
 * when one matches, else from its start. */
static void track(struct follower *fl, const char *path, int fd, const struct stat *sb)
{
	struct ffile *f = csp_calloc(1, sizeof *f);
	uint64_t start = 0;

	f->fl = fl;
	f->path = csp_strdup(path);
	f->fd = fd;
	f->dev = sb->st_dev;
	f->ino = sb->st_ino;
	f->fplen = sb->st_size < FP_MAX ? (uint32_t)sb->st_size : FP_MAX;
	if (follow_fingerprint(fd, f->fplen, &f->fp))
		f->fplen = 0, f->fp = follow_fnv1a(NULL, 0);
	for (size_t i = 0; i < fl->nck; i++) {
		struct ckentry *c = &fl->ck[i];
		uint64_t fp;
		if (c->used || c->dev != sb->st_dev || c->ino != sb->st_ino ||
		    follow_fingerprint(fd, c->fplen, &fp) || fp != c->fp)
			continue;
		c->used = 1;
		if ((uint64_t)sb->st_size < c->off)
			fprintf(stderr, "cspipe: warning: %s: shorter than at the checkpoint "
				"(truncated?): reading it from its start\n", path);
		else
			start = c->off;
		break;
	}
	if (start && lseek(fd, (off_t)start, SEEK_SET) < 0)
		start = 0;
	f->off = start;
	f->durable = start;
	framer_init(&f->fr, (enum framing)fl->o.in.format, fl->o.in.chunk_size,
		    fl->o.in.max_record, f->path, emit, f);
	f->fr.offset = start;
	pthread_mutex_lock(&fl->mu);
	fl->files = csp_realloc(fl->files, (fl->nfiles + 1) * sizeof *fl->files);
	fl->files[fl->nfiles++] = f;
	pthread_mutex_unlock(&fl->mu);
	f->seen = 1;
}

static int has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* A path the patterns match now: followed already (perhaps under another
 * name), or new. */
static void found(struct follower *fl, const char *path)
{
	struct stat sb;
	int fd;

	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		return;
	for (size_t i = 0; i < fl->nfiles; i++) {
		struct ffile *f = fl->files[i];
		if (f->fd >= 0 && f->dev == sb.st_dev && f->ino == sb.st_ino) {
			if (!f->seen && strcmp(f->path, path)) {
				/* Renamed, still matched: go on under the new name. */
				pthread_mutex_lock(&fl->mu);
				free(f->path);
				f->path = csp_strdup(path);
				pthread_mutex_unlock(&fl->mu);
			}
			f->seen = 1;
			return;
		}
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;   /* gone again, or unreadable: looked at next time */
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return;
	}
	track(fl, path, fd, &sb);
}

/*
 * Expand the patterns, match what they find with the files followed, and
 * read every file to its end: files that left are finished first (they
 * come earlier in the list than the files that replaced them), a file
 * shorter than what was read of it starts over.  0, 1 to stop, -1 with e
 * set.
 */
static int scan(struct follower *fl, struct err *e)
{
	int rc;

	for (size_t i = 0; i < fl->nfiles; i++)
		fl->files[i]->seen = 0;
	for (size_t p = 0; p < fl->o.npatterns; p++) {
		const char *pat = fl->o.patterns[p];
		if (has_glob(pat)) {
			glob_t g;
			if (glob(pat, 0, NULL, &g) == 0)
				for (size_t k = 0; k < g.gl_pathc; k++)
					found(fl, g.gl_pathv[k]);
			globfree(&g);
		} else {
			found(fl, pat);
		}
	}
	for (size_t i = 0; i < fl->nfiles; i++) {
		struct ffile *f = fl->files[i];
		struct stat sb;

		if (f->fd < 0)
			continue;
		if (!f->seen) {
			if ((rc = finish_file(fl, f, e)) != 0)
				return rc;
			continue;
		}
		if (fstat(f->fd, &sb) == 0 && (uint64_t)sb.st_size < f->off) {
			fprintf(stderr, "cspipe: warning: %s: file truncated: reading it "
				"again from its start\n", f->path);
			if (holds_partial(f) && send_partial(f, e) != 0)
				return fl->sent != CSP_OK ? 1 : -1;
			framer_discard(&f->fr);
			framer_init(&f->fr, (enum framing)fl->o.in.format, fl->o.in.chunk_size,
				    fl->o.in.max_record, f->path, emit, f);
			lseek(f->fd, 0, SEEK_SET);
			f->off = 0;
			f->partial_since = 0;
			pthread_mutex_lock(&fl->mu);
			f->gen++;
			f->durable = 0;
			f->fplen = 0;
			f->fp = follow_fnv1a(NULL, 0);
			pthread_mutex_unlock(&fl->mu);
		}
		if ((rc = read_more(fl, f, e)) != 0)
			return rc;
	}
	return 0;
}

/* ---- watching --------------------------------------------------------------- */

/* Watch the folder of every pattern; where that cannot be done, poll. */
static void watch_setup(struct follower *fl)
{
	if (fl->o.poll_interval) {
		fl->must_poll = 1;
		return;
	}
	fl->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fl->ifd < 0) {
		fl->must_poll = 1;
		return;
	}
	for (size_t p = 0; p < fl->o.npatterns; p++) {
		char *copy = csp_strdup(fl->o.patterns[p]);
		const char *dir = dirname(copy);
		int wd = -1;

		if (!has_glob(dir))
			wd = inotify_add_watch(fl->ifd, dir, IN_CREATE | IN_MOVED_TO |
					       IN_MOVED_FROM | IN_DELETE | IN_MODIFY |
					       IN_CLOSE_WRITE);
		if (wd < 0) {
			fl->must_poll = 1;
		} else {
			fl->watches = csp_realloc(fl->watches,
						  (fl->nwatches + 1) * sizeof *fl->watches);
			fl->watches[fl->nwatches++] = (struct watch){ wd, p };
		}
		free(copy);
	}
}

/* Read the pending events; 1 when one concerns a pattern (or the queue
 * overflowed), so a rescan is due. */
static int watch_events(struct follower *fl)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	int relevant = 0;

	for (;;) {
		ssize_t n = read(fl->ifd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				relevant = 1;
			for (size_t w = 0; w < fl->nwatches && !relevant; w++) {
				char *copy;
				if (fl->watches[w].wd != ev->wd || !ev->len)
					continue;
				copy = csp_strdup(fl->o.patterns[fl->watches[w].pattern]);
				relevant = fnmatch(basename(copy), ev->name, FNM_PERIOD) == 0;
				free(copy);
			}
			p += sizeof *ev + ev->len;
		}
	}
	return relevant;
}

/*
 * Follow: see follow.h.  On cancellation the complete records held are
 * sent and an unterminated tail is dropped (it is read again after a
 * restart from the checkpoint).
 */
int follow_run(struct follower *fl, struct stage_io *io, struct err *e)
{
	struct fdwait fw;
	int rc = 0;

	fl->io = io;
	if (fdwait_init(&fw, io_ctx(io))) {
		err_set(e, "follow: %s", strerror(errno));
		return STAGE_ERROR;
	}
	watch_setup(fl);
	for (;;) {
		int64_t timeout = -1, now;
		struct pollfd p[2] = { { fw.efd, POLLIN, 0 }, { fl->ifd, POLLIN, 0 } };

		if ((rc = scan(fl, e)) != 0 || ctx_err(io_ctx(io)))
			break;
		now = csp_now();
		if (fl->o.flush_partial_after)
			for (size_t i = 0; i < fl->nfiles; i++) {
				struct ffile *f = fl->files[i];
				int64_t due;
				if (f->fd < 0 || !f->partial_since)
					continue;
				due = f->partial_since + fl->o.flush_partial_after;
				if (due <= now) {
					if (send_partial(f, e) != 0) {
						rc = fl->sent != CSP_OK ? 1 : -1;
						goto out;
					}
					continue;
				}
				if (timeout < 0 || due - now < timeout)
					timeout = due - now;
			}
		if (fl->must_poll) {
			int64_t every = fl->o.poll_interval ? fl->o.poll_interval : POLL_DEFAULT_NS;
			if (timeout < 0 || every < timeout)
				timeout = every;
		}
		for (;;) {
			int ms = timeout < 0 ? -1 : (int)((timeout + CSP_NS_PER_MS - 1) / CSP_NS_PER_MS);
			int r = poll(p, fl->ifd >= 0 ? 2 : 1, ms);
			if (r < 0 && errno == EINTR)
				continue;
			if (ctx_err(io_ctx(io)))
				goto out;
			/* Events about other files of the folders sleep on. */
			if (r > 0 && !(p[0].revents) && (p[1].revents & POLLIN) &&
			    !watch_events(fl))
				continue;
			break;
		}
	}
out:
	if (rc >= 0)
		for (size_t i = 0; i < fl->nfiles; i++)
			if (fl->files[i]->fd >= 0 && fl->sent == CSP_OK)
				framer_stop(&fl->files[i]->fr);
	for (size_t i = 0; i < fl->nfiles; i++)
		framer_discard(&fl->files[i]->fr);
	fdwait_fini(&fw);
	if (rc < 0)
		return STAGE_ERROR;
	return fl->sent == CSP_CLOSED ? STAGE_STOP : STAGE_OK;
}

/* ---- life ------------------------------------------------------------------- */

struct follower *follow_new(const struct follow_opts *o, struct err *e)
{
	struct follower *fl = csp_calloc(1, sizeof *fl);

	fl->o = *o;
	fl->ifd = -1;
	fl->sent = CSP_OK;
	pthread_mutex_init(&fl->mu, NULL);
	if (o->checkpoint) {
		if (follow_ck_load(fl, e)) {
			follow_free(fl);
			return NULL;
		}
		fl->acks = ack_group_new(follow_acked, fl, 1);
	}
	return fl;
}

int follow_close(struct follower *fl, struct err *e)
{
	int rc = 0;

	if (!fl || !fl->o.checkpoint)
		return 0;
	pthread_mutex_lock(&fl->mu);
	follow_ck_write_locked(fl);
	if (fl->ckerr[0]) {
		err_set(e, "%s", fl->ckerr);
		rc = -1;
	}
	pthread_mutex_unlock(&fl->mu);
	return rc;
}

void follow_free(struct follower *fl)
{
	if (!fl)
		return;
	ack_group_free(fl->acks);
	for (size_t i = 0; i < fl->nfiles; i++) {
		struct ffile *f = fl->files[i];
		if (f->fd >= 0)
			close(f->fd);
		framer_discard(&f->fr);
		free(f->path);
		free(f);
	}
	free(fl->files);
	for (size_t i = 0; i < fl->nck; i++)
		free(fl->ck[i].path);
	free(fl->ck);
	free(fl->watches);
	if (fl->ifd >= 0)
		close(fl->ifd);
	pthread_mutex_destroy(&fl->mu);
	free(fl);
}
