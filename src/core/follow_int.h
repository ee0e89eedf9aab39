/* SPDX-License-Identifier: MIT */
/*
 * follow_int.h - the follower's state, shared by follow.c (reading and
 * watching) and follow_checkpoint.c (the checkpoint file and the
 * acknowledgements that move it); private to those two files.
 */
#ifndef CSPIPE_FOLLOW_INT_H
#define CSPIPE_FOLLOW_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/follow.h"
#include "records/framer.h"

#define FP_MAX 256

struct follower;

/* One followed file. */
struct ffile {
	struct follower *fl;
	char *path;                  /* the name it was last seen under */
	int fd;                      /* -1 once finished */
	dev_t dev;
	ino_t ino;
	uint64_t off;                /* bytes read from it */
	uint64_t durable;            /* bytes the sinks made durable (under fl->mu) */
	uint32_t gen;                /* bumped at truncation (under fl->mu) */
	uint32_t fplen;
	uint64_t fp;
	int failed;                  /* a batch failed: its offset stays (under fl->mu) */
	int seen;                    /* found by the current scan */
	int64_t partial_since;       /* an unterminated tail held since, or 0 */
	struct framer fr;
};

/* What a token stands for: the file, and the offset past its records. */
struct span {
	struct ffile *f;
	uint64_t end;
	uint32_t gen;
};

/* An entry of the checkpoint read at start. */
struct ckentry {
	dev_t dev;
	ino_t ino;
	uint32_t fplen;
	uint64_t fp;
	uint64_t off;
	char *path;
	int used;                    /* taken by a followed file */
};

struct watch {
	int wd;
	size_t pattern;
};

struct follower {
	struct follow_opts o;
	struct ffile **files;
	size_t nfiles;
	struct ckentry *ck;
	size_t nck;
	pthread_mutex_t mu;          /* files' durable/gen/failed, the checkpoint */
	struct ack_group *acks;
	uint64_t next_id;
	struct stage_io *io;
	int sent;                    /* io_send's last result */
	int ifd;                     /* inotify, -1: none */
	struct watch *watches;
	size_t nwatches;
	int must_poll;
	char ckerr[512];             /* the first failed checkpoint write */
};

/* FNV-1a over n bytes (the fingerprint of a file's first bytes). */
uint64_t follow_fnv1a(const unsigned char *p, size_t n);
/* The fingerprint of the first n bytes of fd; -1 when it is shorter. */
int follow_fingerprint(int fd, uint32_t n, uint64_t *fp);
/* Read the checkpoint at o.checkpoint into fl->ck (a missing file is an
 * empty checkpoint).  0, or -1 with e set. */
int follow_ck_load(struct follower *fl, struct err *e);
/* Write the checkpoint atomically; fl->mu held.  A failure is kept in
 * fl->ckerr and said once. */
void follow_ck_write_locked(struct follower *fl);
/* The ack group's callback: the sinks are done with a batch (ok) or it
 * failed; arg is the follower, user its struct span. */
void follow_acked(void *arg, uint64_t id, void *user, int ok);

#endif
