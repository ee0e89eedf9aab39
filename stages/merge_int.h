/* SPDX-License-Identifier: MIT */
/*
 * merge_int.h - what the merge stage's two files share: merge.c (the
 * stage, its options, reading the inputs, interleave and concat) and
 * merge_sorted.c (the sorted mode: keys, comparison, the heap).  Private
 * to those two.
 */
#ifndef CSPIPE_MERGE_INT_H
#define CSPIPE_MERGE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/stage.h"
#include "records/jpath.h"
#include "records/pattern.h"

enum merge_mode { MODE_INTERLEAVE, MODE_CONCAT, MODE_SORTED };
enum { UNSORTED_FAIL, UNSORTED_WARN };

/* PCRE2_UNSET (a group that took no part), without pcre2.h. */
#define GROUP_UNSET (~(size_t)0)

/* How a mode's loop ends, besides a context's error (the runtime's
 * negative codes): every input ended, every reader went, or an error was
 * set. */
enum { M_END = 1, M_GONE = 2, M_FAILED = 3 };

/* The sort key: a field, a pattern's capture, or the whole record. */
struct merge_key {
	int64_t field;          /* 1-based; 0: not by field */
	struct jpath *path;     /* a structured record's field, or NULL */
	int delimiter;          /* the field separator byte; with has_delim */
	int has_delim;          /* 0: fields are separated by blanks, as sort's */
	char *pattern;          /* the source, for messages */
	struct pattern *re;     /* compiled from pattern, or NULL */
	int numeric;            /* compare as sort -n */
	int reverse;            /* descending, as sort -r */
};

struct merge_conf {
	int mode;
	struct merge_key *key;  /* NULL: the whole record, bytewise */
	int on_unsorted;
};

/* The stage-wide state start makes. */
struct merge_state {
	int *coupled;     /* per input: shares an upstream stage with another */
	int warned;       /* on_unsorted: warn said so already */
};

struct input {
	struct batch *b;                 /* current batch (sorted); NULL: none */
	uint32_t i;                      /* its head record */
	const char *key;                 /* the head's key */
	size_t klen;
	uint64_t nrec;                   /* records taken so far: the head's number */
	struct batch *queue, **qtail;    /* taken early (coupled inputs) */
	int closed;                      /* its channel has ended */
	/* A path key: two readers, used in turn, so that the previous head's
	 * key stays valid while the next one's is read. */
	struct field_reader *fr[2];
	int which;
	uint64_t acked_into;             /* sorted: the output batch (by number)
					    that holds references to b's acks */
};

struct merger {
	struct stage *st;
	const struct merge_conf *c;
	struct merge_state *ms;
	struct stage_io *io;
	struct ctx *ctx;
	struct wstats *ws;
	struct input *in;
	size_t n;
	struct pattern_match *m;
	uint64_t taken, given;           /* records received / handed to io_send */
	struct sel_case *cases;
	size_t *idx;
};

/* merge.c: the name of input i as `from` wrote it ("route.errors"). */
const char *merge_input_name(const struct stage *st, size_t i);
/* Count a batch taken from an input. */
void merge_taken(struct merger *mg, const struct batch *b);
/* The next batch of input i into *out: 0, M_END at its end, or a
 * context's error. */
int merge_next_batch(struct merger *mg, size_t i, struct batch **out);
/* Hand b on: 0, M_GONE when every reader went, or a context's error. */
int merge_give(struct merger *mg, struct batch *b);

/* merge_sorted.c: the sorted mode's loop (0, M_GONE, M_FAILED with e
 * set, or a context's error). */
int merge_run_sorted(struct merger *mg, struct err *e);

#endif
