/* SPDX-License-Identifier: MIT */
/*
 * follow_checkpoint.c - the checkpoint of follow (see follow.c's first
 * comment for its format and guarantees): reading it at start, rewriting
 * it atomically as the sinks acknowledge batches, and the fingerprints
 * that tell a file from another that took its inode.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csp/csp.h"
#include "base/util.h"
#include "core/follow.h"
#include "core/follow_int.h"

#define CK_MAGIC "cspipe-checkpoint 1"

uint64_t follow_fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* The fingerprint of the first n bytes of fd; -1 when it is shorter. */
int follow_fingerprint(int fd, uint32_t n, uint64_t *fp)
{
	unsigned char buf[FP_MAX];
	size_t have = 0;

	while (have < n) {
		ssize_t r = pread(fd, buf + have, n - have, (off_t)have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
	*fp = follow_fnv1a(buf, n);
	return 0;
}

/*
 * Read the checkpoint at o->checkpoint into fl->ck.  A missing file is an
 * empty checkpoint (the first run).  0, or -1 with e set.
 */
int follow_ck_load(struct follower *fl, struct err *e)
{
	FILE *f = fopen(fl->o.checkpoint, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, rc = -1;

	if (!f) {
		if (errno == ENOENT)
			return 0;
		err_set(e, "checkpoint %s: %s", fl->o.checkpoint, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		unsigned long long dev, ino, off, fp;
		unsigned fplen;
		int pos = 0;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (lineno == 1) {
			if (strcmp(line, CK_MAGIC))
				goto bad;
			continue;
		}
		if (sscanf(line, "%llu %llu %u %llx %llu %n", &dev, &ino, &fplen, &fp, &off,
			   &pos) != 5 || pos == 0 || fplen > FP_MAX)
			goto bad;
		fl->ck = csp_realloc(fl->ck, (fl->nck + 1) * sizeof *fl->ck);
		fl->ck[fl->nck++] = (struct ckentry){ (dev_t)dev, (ino_t)ino, fplen, fp, off,
						      csp_strdup(line + pos), 0 };
	}
	if (ferror(f)) {
		err_set(e, "checkpoint %s: %s", fl->o.checkpoint, strerror(errno));
		goto out;
	}
	if (lineno == 0)
		goto bad;
	rc = 0;
	goto out;
bad:
	err_set(e, "checkpoint %s:%d: not a cspipe checkpoint (remove it to start over)",
		fl->o.checkpoint, lineno);
out:
	free(line);
	fclose(f);
	return rc;
}

/*
 * Write the checkpoint: every followed file still open at its durable
 * offset, and the entries read at start that no file took (a file that is
 * away for now keeps its place).  Atomic: a temporary file beside it,
 * fsync'ed, renamed.  Called with fl->mu held.  A failure is kept in
 * fl->ckerr (the first one, reported at close) and said once now.
 */
void follow_ck_write_locked(struct follower *fl)
{
	size_t n = strlen(fl->o.checkpoint) + 16;
	char *tmp = csp_malloc(n);
	FILE *f;
	int ok;

	snprintf(tmp, n, "%s.tmp", fl->o.checkpoint);
	f = fopen(tmp, "w");
	if (!f)
		goto fail;
	fprintf(f, "%s\n", CK_MAGIC);
	for (size_t i = 0; i < fl->nfiles; i++) {
		const struct ffile *ff = fl->files[i];
		if (ff->fd < 0)
			continue;
		fprintf(f, "%llu %llu %u %016llx %llu %s\n", (unsigned long long)ff->dev,
			(unsigned long long)ff->ino, ff->fplen, (unsigned long long)ff->fp,
			(unsigned long long)ff->durable, ff->path);
	}
	for (size_t i = 0; i < fl->nck; i++) {
		const struct ckentry *c = &fl->ck[i];
		if (c->used)
			continue;
		fprintf(f, "%llu %llu %u %016llx %llu %s\n", (unsigned long long)c->dev,
			(unsigned long long)c->ino, c->fplen, (unsigned long long)c->fp,
			(unsigned long long)c->off, c->path);
	}
	ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, fl->o.checkpoint) != 0) {
		unlink(tmp);
		goto fail;
	}
	free(tmp);
	return;
fail:
	if (!fl->ckerr[0]) {
		snprintf(fl->ckerr, sizeof fl->ckerr, "checkpoint %s: cannot write: %s",
			 fl->o.checkpoint, strerror(errno));
		fprintf(stderr, "cspipe: warning: %s\n", fl->ckerr);
	}
	free(tmp);
}

/* The sinks are done with a batch (ok), or it failed.  Batches come in
 * the order they were sent. */
void follow_acked(void *arg, uint64_t id, void *user, int ok)
{
	struct follower *fl = arg;
	struct span *s = user;

	(void)id;
	pthread_mutex_lock(&fl->mu);
	if (!ok)
		s->f->failed = 1;
	else if (!s->f->failed && s->gen == s->f->gen) {
		s->f->durable = s->end;
		follow_ck_write_locked(fl);
	}
	pthread_mutex_unlock(&fl->mu);
	free(s);
}
