/* SPDX-License-Identifier: MIT */
/*
 * files - the source that reads files (and `-` for standard input) in
 * order; glob patterns expand in sorted order.  With follow: true it reads
 * them as they grow (core/follow.c), and with checkpoint: records how far
 * the sinks have durably written.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csp/csp.h"
#include "core/fdio.h"
#include "core/follow.h"
#include "core/stage.h"

struct files_conf {
	struct input_conf in;
	struct strlist paths;
	int glob;                /* expand patterns (INPUT arguments: never) */
	int follow;
	int64_t flush_partial_after;
	int64_t poll_interval;
	char *checkpoint;
};

static const struct option files_options[] = {
	{ .name = "paths", .type = OPT_STRLIST, .offset = offsetof(struct files_conf, paths),
	  .flags = OPT_REQUIRED,
	  .doc = "files to read, in order; glob patterns expand sorted; - is standard input" },
	{ .name = "glob", .type = OPT_BOOL, .offset = offsetof(struct files_conf, glob),
	  .def = "true", .doc = "expand *, ? and [...] in paths (false: take each path literally)" },
	INPUT_OPTIONS(struct files_conf),
	{ .name = "follow", .type = OPT_BOOL, .offset = offsetof(struct files_conf, follow),
	  .def = "false", .doc = "read the files as they grow, as tail -F does, until "
		 "stopped (rotation, truncation, new files matching a pattern)" },
	{ .name = "flush_partial_after", .type = OPT_DURATION,
	  .offset = offsetof(struct files_conf, flush_partial_after), .def = "0s",
	  .doc = "follow: send an unterminated last line after it waited this long "
		 "(0s: wait for its terminator)" },
	{ .name = "poll_interval", .type = OPT_DURATION,
	  .offset = offsetof(struct files_conf, poll_interval), .def = "0s",
	  .doc = "follow: look for changes this often instead of using inotify "
		 "(0s: inotify, polling every second where it cannot watch)" },
	{ .name = "checkpoint", .type = OPT_STRING,
	  .offset = offsetof(struct files_conf, checkpoint),
	  .doc = "follow: file recording how far the sinks have durably written; "
		 "a restart resumes there" },
	{ .name = NULL },
};

/* The expanded list, made at start; or the follower. */
struct files_state {
	char **paths;
	size_t n;
	struct follower *follow;
};

static int has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

static void add_path(struct files_state *fs, const char *p)
{
	fs->paths = csp_realloc(fs->paths, (fs->n + 1) * sizeof *fs->paths);
	fs->paths[fs->n++] = csp_strdup(p);
}

static int files_check(struct stage *st, struct diags *d)
{
	struct files_conf *c = st->conf;

	for (size_t i = 0; i < c->paths.n; i++)
		if (c->paths.v[i][0] == '\0') {
			diag_at(d, c->paths.at[i], "files: empty path");
			return -1;
		}
	if (c->paths.n == 0) {
		diag_at(d, stage_pos(st), "files: no paths given");
		return -1;
	}
	if (!c->follow) {
		const char *k = c->checkpoint ? "checkpoint" :
				c->flush_partial_after ? "flush_partial_after" :
				c->poll_interval ? "poll_interval" : NULL;
		if (k) {
			diag_at(d, stage_opt_pos(st, k), "files: %s needs follow: true", k);
			return -1;
		}
	} else {
		for (size_t i = 0; i < c->paths.n; i++)
			if (!strcmp(c->paths.v[i], "-")) {
				diag_at(d, c->paths.at[i], "files: cannot follow standard input (-)");
				return -1;
			}
		if (c->checkpoint && !c->checkpoint[0]) {
			diag_at(d, stage_opt_pos(st, "checkpoint"), "files: empty checkpoint path");
			return -1;
		}
	}
	/* Made here, filled by start: free then runs after a validate too,
	 * and releases the compiled columns. */
	if (!st->priv)
		st->priv = csp_calloc(1, sizeof(struct files_state));
	return input_check(st, &c->in, d);
}

/* follow: files need not exist yet (tail -F waits for them); say so.  A
 * path that is there must be a regular file: the follower reads files by
 * their size and passes over anything else, which would be silence. */
static int follow_start(struct stage *st, struct files_state *fs, struct err *e)
{
	struct files_conf *c = st->conf;
	struct follow_opts o = { c->paths.v, c->paths.n, input_opts_of(&c->in),
				 c->flush_partial_after, c->poll_interval, c->checkpoint };
	struct stat sb;

	for (size_t i = 0; i < c->paths.n; i++) {
		const char *p = c->paths.v[i];
		if (has_glob(p))
			continue;
		if (stat(p, &sb) != 0) {
			fprintf(stderr, "cspipe: warning: %s: %s: following it from when it "
				"appears\n", p, strerror(errno));
		} else if (S_ISDIR(sb.st_mode)) {
			err_set(e, "%s: is a directory", p);
			return -1;
		} else if (!S_ISREG(sb.st_mode)) {
			err_set(e, "%s: not a regular file: follow reads regular files (read "
				"a FIFO or a device without follow)", p);
			return -1;
		}
	}
	fs->follow = follow_new(&o, e);
	return fs->follow ? 0 : -1;
}

/*
 * Expand globs and check every input before anything runs, so that a
 * missing file, a directory or a pattern matching nothing stops the run
 * before it writes a byte.
 */
static int files_start(struct stage *st, struct err *e)
{
	struct files_conf *c = st->conf;
	struct files_state *fs = st->priv;

	if (c->follow)
		return follow_start(st, fs, e);
	for (size_t i = 0; i < c->paths.n; i++) {
		const char *p = c->paths.v[i];
		if (!strcmp(p, "-")) {
			add_path(fs, p);
			continue;
		}
		if (c->glob && has_glob(p)) {
			glob_t g;
			int r = glob(p, 0, NULL, &g);
			if (r == GLOB_NOMATCH) {
				err_set(e, "%s: no file matches this pattern", p);
				return -1;
			}
			if (r != 0) {
				err_set(e, "%s: cannot expand the pattern", p);
				return -1;
			}
			for (size_t k = 0; k < g.gl_pathc; k++)
				add_path(fs, g.gl_pathv[k]);
			globfree(&g);
		} else {
			add_path(fs, p);
		}
	}
	for (size_t i = 0; i < fs->n; i++) {
		struct stat sb;
		const char *p = fs->paths[i];
		if (!strcmp(p, "-"))
			continue;
		if (stat(p, &sb) != 0) {
			err_set(e, "%s: %s", p, strerror(errno));
			return -1;
		}
		if (S_ISDIR(sb.st_mode)) {
			err_set(e, "%s: is a directory", p);
			return -1;
		}
		if (access(p, R_OK) != 0) {
			err_set(e, "%s: %s", p, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int files_run(struct stage *st, struct stage_io *io, struct err *e)
{
	struct files_conf *c = st->conf;
	struct files_state *fs = st->priv;
	struct input_opts o = input_opts_of(&c->in);

	if (fs->follow)
		return follow_run(fs->follow, io, e);
	for (size_t i = 0; i < fs->n; i++) {
		const char *p = fs->paths[i];
		int fd = strcmp(p, "-") ? open(p, O_RDONLY | O_CLOEXEC) : 0;
		int rc;

		if (fd < 0) {
			err_set(e, "%s: %s", p, strerror(errno));
			return STAGE_ERROR;
		}
		rc = input_read(io, fd, strcmp(p, "-") ? p : "stdin", &o, e);
		if (fd != 0)
			close(fd);
		if (rc != STAGE_OK || ctx_err(io_ctx(io)))
			return rc;
	}
	return STAGE_OK;
}

/* The sinks closed first: record where they got. */
static int files_close(struct stage *st, enum stage_outcome outcome, struct err *e)
{
	struct files_state *fs = st->priv;

	(void)outcome;
	return fs ? follow_close(fs->follow, e) : 0;
}

static void files_free(struct stage *st)
{
	struct files_state *fs = st->priv;
	struct files_conf *c = st->conf;

	input_conf_free(&c->in);
	follow_free(fs->follow);
	for (size_t i = 0; i < fs->n; i++)
		free(fs->paths[i]);
	free(fs->paths);
	free(fs);
	st->priv = NULL;
}

static struct input_conf *files_input(struct stage *st)
{
	return &((struct files_conf *)st->conf)->in;
}

const struct stage_kind kind_files = {
	.name = "files",
	.summary = "read records from files in order (gzip, zstd, xz, bzip2 detected and decompressed)",
	.role = ROLE_SOURCE,
	.flags = KIND_READS_BYTES,
	.input = files_input,
	.options = files_options,
	.conf_size = sizeof(struct files_conf),
	.shorthand = "paths",
	.example = "- files: [app.log, old.log.gz]",
	.worker_mem = 192 * 1024,
	.check = files_check,
	.start = files_start,
	.run = files_run,
	.close = files_close,
	.free = files_free,
};
