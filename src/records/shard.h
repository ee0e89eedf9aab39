/* SPDX-License-Identifier: MIT */
/*
 * shard.h - shard_by: split a batch so that records with the same key go
 * to the same worker, and put the workers' results back in input order.
 */
#ifndef CSPIPE_SHARD_H
#define CSPIPE_SHARD_H

#include <stddef.h>
#include <stdint.h>

struct batch;
struct pattern;
struct pattern_match;
struct field_reader;

/* shard_by: which worker a record goes to. */
struct jpath;
struct shard_key {
	int field;               /* 1-based field number, 0: not by field */
	char *delimiter;         /* NULL: runs of blanks */
	struct pattern *pattern; /* first capture group, or the whole match */
	struct jpath *path;      /* a structured record's field (field: .path) */
};

/* Split in (freed) into n new batches, parts[i] for worker i, each record
 * copied to the part its key hashes to, keeping its tag; every part gets
 * in's seq, origin and first record number, even when empty.  m is the
 * caller's match data for a pattern key, fr its field reader for a path
 * key (NULL otherwise). */
void shard_split(const struct shard_key *k, struct pattern_match *m,
		 struct field_reader *fr, struct batch *in, struct batch **parts, uint32_t n);

/* Join the results of the n workers for one input batch (each a list of
 * batches linked by next, possibly NULL) into one list in input order:
 * per output port, records merged by tag (tags grow within a batch, and a
 * record keeps the tag it came in with).  With by_tag 0 (a kind whose
 * output records are new), the parts are concatenated in worker order.
 * Takes the parts; never fails. */
struct batch *shard_merge(struct batch **parts, uint32_t n, size_t nports, int by_tag);

#endif
