/* SPDX-License-Identifier: MIT */
/*
 * file - the sink that writes a file.
 *
 * The records go to a temporary file beside the target, renamed over it
 * only when the run ends well (or after a deadline or signal once the
 * drain finished): an error leaves the target as it was, and a reader
 * never sees half a file.  With append, the file is extended in place and
 * cut back to its old length on error.
 *
 * The target is where a shell's `>` would write: a symbolic link is
 * followed (the file it names is replaced, the link stays), and a target
 * that exists and is not a regular file (/dev/null, a terminal, a FIFO)
 * is opened and written as it is, since it cannot be replaced.
 *
 * Acknowledgements (stage.h): with append and sync, each batch is
 * fdatasync'ed once written and its source input is then done (so a
 * source such as nats_in acks it); what was synced stays in the file even
 * when the run later aborts.  Otherwise the records are durable only once
 * the run commits, and their acks are released in close().
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csp/csp.h"
#include "core/fdio.h"
#include "core/oom.h"
#include "core/stage.h"

struct file_conf {
	char *path;
	int append;
	int sync;
	char *mode;
	struct output_conf out;
};

static const struct option file_options[] = {
	{ .name = "path", .type = OPT_STRING, .offset = offsetof(struct file_conf, path),
	  .flags = OPT_REQUIRED, .doc = "the file to write" },
	{ .name = "append", .type = OPT_BOOL, .offset = offsetof(struct file_conf, append),
	  .def = "false", .doc = "add to the end of the file instead of replacing it" },
	{ .name = "sync", .type = OPT_BOOL, .offset = offsetof(struct file_conf, sync),
	  .def = "false", .doc = "fdatasync after each batch; with append, what a source "
		 "such as nats_in acks is what was synced" },
	{ .name = "mode", .type = OPT_STRING, .offset = offsetof(struct file_conf, mode),
	  .doc = "permissions in octal, e.g. 0640 (default: those of the file replaced, "
		 "else 0666 less the umask)" },
	OUTPUT_OPTIONS(struct file_conf),
	{ .name = NULL },
};

struct file_state {
	int fd;
	char *temp;          /* NULL when appending or writing in place */
	char *target;        /* the path with symbolic links followed */
	int in_place;        /* a device, FIFO or socket: written as it is */
	off_t old_size;      /* append: where to cut back to */
	int created;         /* append: the file did not exist */
	mode_t mode;
	int have_mode;
	struct ackset *held;  /* acks of what is written, until the commit */
	struct writer w;
};

static int file_check(struct stage *st, struct diags *d)
{
	struct file_conf *c = st->conf;
	struct file_state *fs;
	struct pos at = stage_opt_pos(st, "mode");

	if (!c->path || !*c->path) {
		diag_at(d, stage_pos(st), "file: empty path");
		return -1;
	}
	fs = csp_calloc(1, sizeof *fs);
	fs->fd = -1;
	st->priv = fs;
	if (output_check(st, &c->out, d))
		return -1;
	if (c->mode) {
		char *end;
		unsigned long m = strtoul(c->mode, &end, 8);
		if (!*c->mode || *end || m > 07777) {
			diag_at(d, at.file ? at : st->pos, "file: mode: expected permissions in octal "
				 "like 0644, got '%s'", c->mode);
			return -1;
		}
		fs->mode = (mode_t)m;
		fs->have_mode = 1;
	}
	return 0;
}

/* The file a chain of symbolic links ends at (the path itself when it is
 * not a link), whether that file exists or not; a relative link is taken
 * from the folder of the link.  After 40 links the path is returned as it
 * stands, and opening it reports the loop.  Owned by the caller. */
static char *follow_links(const char *path)
{
	char *p = csp_strdup(path);

	for (int hops = 0; hops < 40; hops++) {
		struct stat sb;
		char link[PATH_MAX];
		ssize_t n;

		if (lstat(p, &sb) || !S_ISLNK(sb.st_mode) ||
		    (n = readlink(p, link, sizeof link - 1)) < 0)
			break;
		link[n] = '\0';
		if (link[0] == '/') {
			free(p);
			p = csp_strdup(link);
		} else {
			char *dup = csp_strdup(p);
			const char *dir = dirname(dup);
			size_t len = strlen(dir) + strlen(link) + 2;
			char *q = csp_malloc(len);

			snprintf(q, len, "%s/%s", dir, link);
			free(dup);
			free(p);
			p = q;
		}
	}
	return p;
}

/*
 * The file this sink writes, canonical: the end of its chain of links,
 * with its folder resolved by realpath(3), so that "out", "./out",
 * "d/../out" and a link to out are one file.  NULL for a target that
 * exists and is not a regular file (/dev/null is written by any number
 * of sinks).  A folder that does not exist yet is compared as written.
 */
static char *file_writes(const struct stage *st)
{
	const struct file_conf *c = st->conf;
	struct stat sb;
	char *target, *d, *b, *dir, *folder, *name, *out;
	size_t len;

	if (!c->path || !*c->path)
		return NULL;
	target = follow_links(c->path);
	if (stat(target, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		free(target);
		return NULL;
	}
	d = csp_strdup(target);
	b = csp_strdup(target);
	folder = dirname(d);
	dir = realpath(folder, NULL);
	name = basename(b);
	len = strlen(dir ? dir : folder) + strlen(name) + 2;
	out = csp_malloc(len);
	snprintf(out, len, "%s/%s", dir ? dir : folder, name);
	free(dir);
	free(d);
	free(b);
	free(target);
	return out;
}

/* Open the temporary file (or the target, to append or to write in place)
 * before the run, so that an unwritable folder is an error before
 * anything is read. */
static int file_start(struct stage *st, struct err *e)
{
	struct file_conf *c = st->conf;
	struct file_state *fs = st->priv;
	struct stat sb;
	mode_t mask = umask(0);

	umask(mask);
	if (c->append) {
		int existed = stat(c->path, &sb) == 0;
		fs->fd = open(c->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			      fs->have_mode ? fs->mode : 0666);
		if (fs->fd < 0) {
			err_set(e, "cannot open %s: %s", c->path, strerror(errno));
			return -1;
		}
		if (fstat(fs->fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			err_set(e, "%s: is a directory", c->path);
			return -1;
		}
		fs->old_size = existed ? sb.st_size : 0;
		fs->created = !existed;
		if (fs->have_mode && fchmod(fs->fd, fs->mode)) {
			err_set(e, "cannot set the mode of %s: %s", c->path, strerror(errno));
			return -1;
		}
	} else if (stat(c->path, &sb) == 0 && !S_ISREG(sb.st_mode) &&
		   !S_ISDIR(sb.st_mode)) {
		fs->in_place = 1;
		fs->fd = open(c->path, O_WRONLY | O_CLOEXEC);
		if (fs->fd < 0) {
			err_set(e, "cannot open %s: %s", c->path, strerror(errno));
			return -1;
		}
	} else {
		char *dup, *dup2;
		const char *dir, *base;
		size_t n;
		mode_t mode = fs->have_mode ? fs->mode : (mode_t)(0666 & ~mask);

		fs->target = follow_links(c->path);
		dup = csp_strdup(fs->target);
		dup2 = csp_strdup(fs->target);
		dir = dirname(dup);
		base = basename(dup2);
		n = strlen(dir) + strlen(base) + 32;
		if (stat(fs->target, &sb) == 0) {
			if (S_ISDIR(sb.st_mode)) {
				err_set(e, "%s: is a directory", c->path);
				free(dup);
				free(dup2);
				return -1;
			}
			if (!fs->have_mode)
				mode = sb.st_mode & 07777;
		}
		fs->temp = csp_malloc(n);
		snprintf(fs->temp, n, "%s/.%s.cspipe-XXXXXX", dir, base);
		free(dup);
		free(dup2);
		fs->fd = mkostemp(fs->temp, O_CLOEXEC);
		if (fs->fd < 0) {
			err_set(e, "cannot create a temporary file beside %s: %s", c->path,
				strerror(errno));
			free(fs->temp);
			fs->temp = NULL;
			return -1;
		}
		/* Out of memory, it goes as on any other error. */
		oom_remember(fs->temp);
		if (fchmod(fs->fd, mode)) {
			err_set(e, "cannot set the mode of %s: %s", fs->temp, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void *file_worker_new(struct stage *st, int index)
{
	struct file_state *fs = st->priv;
	struct file_conf *c = st->conf;

	(void)index;
	writer_init(&fs->w, fs->fd, c->path, stage_ctx(st));
	writer_set_codec(&fs->w, &c->out);
	return fs;
}

static int file_process(struct worker *w, struct batch *in, struct outq *out, struct err *e)
{
	struct file_state *fs = w->state;
	struct file_conf *c = w->stage->conf;
	int rc = writer_batch(&fs->w, in, w->stats, e);

	if (rc == STAGE_OK && c->sync && fdatasync(fs->fd) && errno != EINVAL) {
		/* EINVAL: a device or FIFO, which has nothing to sync. */
		err_set(e, "cannot sync %s: %s", c->path, strerror(errno));
		rc = STAGE_ERROR;
	}
	if (rc == STAGE_OK && c->sync && c->append) {
		/* Durable now: an abort keeps it, and the source may let go
		 * of it. */
		fs->old_size += (off_t)batch_bytes(in);
		fs->created = 0;
		batch_acks_done(in);
	} else if (rc == STAGE_OK && in->acks) {
		ackset_move(&fs->held, batch_take_acks(in));
	}
	batch_free(in);
	(void)out;
	/* STAGE_STOP: a write cancelled by an abort (the engine knows why),
	 * or a pipe or FIFO whose reader went away (-o /dev/stdout | head),
	 * which stops this sink quietly, as it stops stdout. */
	return rc;
}

static int file_flush(struct worker *w, struct outq *out, struct err *e)
{
	struct file_state *fs = w->state;

	(void)out;
	return writer_flush(&fs->w, e);
}

static void file_worker_free(struct stage *st, void *state)
{
	struct file_state *fs = state;

	(void)st;
	writer_fini(&fs->w);
}

/*
 * Commit or roll back.  OK: the temporary file becomes the target (a
 * failure to close or rename is an error).  Aborted: the temporary file
 * goes, an appended file is cut back to its old length (or removed if the
 * run created it), and STAGE_DISCARDED says so; a device or FIFO keeps
 * what went out.
 */
static int file_close(struct stage *st, enum stage_outcome outcome, struct err *e)
{
	struct file_conf *c = st->conf;
	struct file_state *fs = st->priv;
	int rc = 0;

	if (!fs || fs->fd < 0)
		return 0;
	if (outcome == OUTCOME_OK) {
		if (c->sync && fdatasync(fs->fd) && errno != EINVAL) {
			err_set(e, "cannot sync %s: %s", c->path, strerror(errno));
			rc = -1;
		} else if (close(fs->fd)) {
			err_set(e, "write error on %s: %s", c->path, strerror(errno));
			rc = -1;
		} else if (fs->temp && (oom_forget(fs->temp), rename(fs->temp, fs->target))) {
			err_set(e, "cannot rename %s to %s: %s", fs->temp, fs->target,
				strerror(errno));
			rc = -1;
		}
		fs->fd = -1;
		if (rc == 0) {
			ackset_release(fs->held, 1);
			fs->held = NULL;
			return 0;
		}
	}
	ackset_release(fs->held, 0);
	fs->held = NULL;
	if (rc == 0 && !fs->in_place)
		rc = STAGE_DISCARDED;
	if (fs->temp) {
		if (fs->fd >= 0)
			close(fs->fd);
		oom_forget(fs->temp);
		unlink(fs->temp);
	} else if (fs->in_place) {
		/* What went out is gone: a device or a FIFO has no old state. */
		if (fs->fd >= 0)
			close(fs->fd);
	} else if (fs->created) {
		close(fs->fd);
		unlink(c->path);
	} else {
		if (fs->fd >= 0) {
			if (ftruncate(fs->fd, fs->old_size)) {
				/* Nothing better to do: the error that aborted
				 * the run is what the user sees. */
			}
			close(fs->fd);
		}
	}
	fs->fd = -1;
	return rc;
}

static void file_free(struct stage *st)
{
	struct file_state *fs = st->priv;

	ackset_release(fs->held, 0);
	fs->held = NULL;
	if (fs->fd >= 0) {
		struct err e = { 0 };
		file_close(st, OUTCOME_ABORTED, &e);
	}
	if (fs->temp)
		oom_forget(fs->temp);
	free(fs->temp);
	free(fs->target);
	free(fs);
	output_conf_free(&((struct file_conf *)st->conf)->out);
	st->priv = NULL;
}

const struct stage_kind kind_file = {
	.name = "file",
	.summary = "write records to a file, replaced atomically when the run ends well",
	.role = ROLE_SINK,
	.flags = KIND_BYTES_IN | KIND_TAKES_ACKS,
	.options = file_options,
	.conf_size = sizeof(struct file_conf),
	.shorthand = "path",
	.example = "- file: {path: errors.log.gz}",
	.worker_mem = 64 * 1024,
	.check = file_check,
	.writes = file_writes,
	.start = file_start,
	.worker_new = file_worker_new,
	.process = file_process,
	.flush = file_flush,
	.worker_free = file_worker_free,
	.close = file_close,
	.free = file_free,
};
