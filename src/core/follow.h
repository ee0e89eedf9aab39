/* SPDX-License-Identifier: MIT */
/*
 * follow.h - reading files as they grow, as `tail -F` does, and recording
 * in a checkpoint how far the sinks have durably written.
 *
 * The files source hands its paths (and glob patterns) here when `follow`
 * is true.  Files are read to their end, then watched: appends are read
 * as they come, a file renamed away (rotation) is finished and the new
 * file at its path read from its start, a truncated file is read again
 * from its start (with a warning), a deleted file is finished and a file
 * created later at its path, or matching a pattern, is read.  A file is
 * known by its device and inode, not its name, so a rotated file that a
 * pattern still matches goes on being followed under its new name.
 */
#ifndef CSPIPE_FOLLOW_H
#define CSPIPE_FOLLOW_H

#include <stddef.h>
#include <stdint.h>

#include "core/fdio.h"

struct err;
struct stage_io;
struct follower;

struct follow_opts {
	char **patterns;             /* paths and glob patterns as given */
	size_t npatterns;
	struct input_opts in;        /* framing (gunzip is not used) */
	int64_t flush_partial_after; /* ns: send an unterminated last line after
					this long (0: hold it until its terminator) */
	int64_t poll_interval;       /* ns: look for changes this often instead
					of waiting for inotify (0: inotify, or
					every second where it is unavailable) */
	const char *checkpoint;      /* file to record progress in, or NULL */
};

/* The checkpoint read (when it exists).  NULL with e set when it cannot
 * be read or is not a checkpoint. */
struct follower *follow_new(const struct follow_opts *o, struct err *e);

/* Follow until the stage's context is done: STAGE_OK, STAGE_STOP (every
 * reader gone) or STAGE_ERROR with e set. */
int follow_run(struct follower *f, struct stage_io *io, struct err *e);

/* The run is over (every batch has been released): write the last
 * checkpoint.  0, or -1 with e set. */
int follow_close(struct follower *f, struct err *e);

void follow_free(struct follower *f);

#endif
