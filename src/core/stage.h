/* SPDX-License-Identifier: MIT */
/*
 * stage.h - the one interface every stage kind implements.
 *
 * A stage kind is one file in stages/ that exports one struct stage_kind
 * (kind_NAME): its name, a one-line summary, an options table (config.h)
 * and callbacks.  configure.py's STAGES lists every kind, and the registry
 * (struct stage_registry) is generated from it.  The same table drives YAML
 * validation, `cspipe stages` and the check that the man page documents
 * every option.
 *
 * Lifecycle, as the engine drives it:
 *
 *   config_load(kind->options)      the YAML, validated           (validate)
 *   check(st)                       compile patterns, set ports   (validate)
 *   start(st)                       open files, runtime state     (run)
 *   worker_new(st, i) per worker
 *     sources and run-style stages: run(st, io)  on one thread
 *     the others:      process(w, batch) per input batch, then flush(w)
 *   emit(st, batch)   serially, in output order, as each batch leaves
 *   finish(st)        serially, after the last batch left (trailers)
 *   worker_free(st, ws) per worker
 *   close(st, outcome)  commit or roll back (rename or remove a temp file)
 *   free(st)            release what check and start made
 *
 * process() owns its input batch: it frees it, or passes it on through the
 * outq, whatever it returns.
 *
 * Options reach a kind loaded into its config struct (st->conf); it never
 * sees the pipeline file's tree.  A check that finds a bad value positions
 * its message with diag_at at stage_opt_pos(st, "key") (where the stage's
 * mapping wrote the key), stage_pos(st) (the kind's value) or st->pos.
 *
 * Errors: a callback that fails returns -1 after err_set(e, ...) with the
 * cause; the engine prefixes the stage name.  Return STAGE_STOP to say
 * "this stage has what it wants" (head reached, stdout's reader gone): the
 * engine stops feeding it and cancels what is upstream of it, which is not
 * an error.
 *
 * End-to-end acknowledgements (records/ack.h).  A source that must know
 * when its input is safe (nats_in acks messages) makes an ack group and
 * hands each batch it sends a token (batch_ack); the callback of the
 * group tells it, per token, once every record made from it has been
 * made durable by every sink that got one, or filtered, or that some
 * record failed.  The engine carries the references, so that most kinds
 * need do nothing:
 *
 *   - broadcast clones and shard_by's parts take their own references;
 *   - a worker's outputs (outq_push) take references to its input's
 *     tokens, which are released when process returns: done, or failed
 *     when it returned an error (or when a sink returned STAGE_STOP, its
 *     reader gone).  So a filter that drops a whole batch, or head that
 *     cuts one, counts those records done;
 *   - a KIND_REFRAMES stage's outputs cannot be traced to its inputs:
 *     each worker holds its inputs' tokens under one chain token whose
 *     references its outputs carry, and lets go after flush (at the end
 *     of the stream), so acks through decompress or exec come at the end;
 *   - run-style stages (merge) pass batches on with their references, or
 *     add them (ackset_add) to the batches they build;
 *   - a batch freed holding records releases its references failed, one
 *     freed empty releases them done;
 *   - a sink is done when process returns, which is right for one that
 *     has written its records (stdout); a kind with KIND_TAKES_ACKS
 *     (file, nats_out) takes its batches' references itself
 *     (batch_take_acks) and releases them when its records are durable:
 *     nats_out when the publish acks came back, file with sync after
 *     fdatasync, file otherwise after the rename in close().
 *
 * close() is called downstream first (sinks before sources), so that a
 * source's close sees every token its sinks released in theirs.
 */
#ifndef CSPIPE_STAGE_H
#define CSPIPE_STAGE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "records/ack.h"
#include "records/batch.h"
#include "records/shard.h"
#include "records/wstats.h"
#include "pipeline/config.h"
#include "base/util.h"

struct ctx;
struct chan;
struct diags;
struct stage;
struct stage_io;
struct input_conf;

enum { STAGE_OK = 0, STAGE_ERROR = -1, STAGE_STOP = 1, STAGE_DISCARDED = 2 };

/* The cause codes (ctx_cause) the engine cancels contexts with.  A worker
 * whose context says STAGE_CAUSE_STOPPED was stopped on purpose (head
 * reached, every reader gone) rather than the run aborted: what is in hand
 * may be thrown away quietly.  A signal cancels the sources' context with
 * the signal's number. */
enum stage_cause {
	STAGE_CAUSE_ERROR = 1,     /* a stage failed: the run stops, and what
				      lies past the failure is dropped */
	STAGE_CAUSE_STOPPED = 2,   /* this stage stopped on purpose */
	STAGE_CAUSE_ABORT = 3,     /* the drain was cut short (second signal,
				      shutdown_timeout) */
	STAGE_CAUSE_CUT = 4,       /* a drain ran short of shutdown_timeout and
				      this stage, one that waits by design
				      (KIND_WAITS), was cut: what it holds is
				      dropped */
};

enum stage_role { ROLE_SOURCE, ROLE_TRANSFORM, ROLE_SINK };

/* Kind flags. */
#define KIND_SHORTHAND_ANY (1u << 0) /* the kind's value always goes to the shorthand option (map: a list or one operation) */
#define KIND_ONE_WORKER    (1u << 1) /* state spans batches: workers must be 1 */
#define KIND_BYTES_OUT     (1u << 2) /* output is an encoded byte stream (compress) */
#define KIND_BYTES_IN      (1u << 3) /* may read an encoded byte stream (decompress, sinks) */
#define KIND_MULTI_IN      (1u << 4) /* reads several inputs itself (merge) */
#define KIND_ORDERED       (1u << 5) /* output order is part of its meaning (compress) */
#define KIND_NO_SHARD      (1u << 6) /* shard_by makes no sense for it */
#define KIND_READS_BYTES   (1u << 8) /* a source that may gunzip: its .input
					gives its struct input_conf (fdio.h) */
#define KIND_WAITS         (1u << 9) /* waits on something outside (exec's command):
					when a drain has used three quarters of
					shutdown_timeout, the engine cuts it */
#define KIND_REFRAMES      (1u << 7) /* its output records are not its input records
					(decompress, exec): the engine balances the
					accounting at its end (fewer out: filtered,
					more: created) */
#define KIND_TAKES_ACKS    (1u << 10) /* a sink that releases its batches' ack
					references itself (when durable) */

/* Outcome given to close(). */
enum stage_outcome {
	OUTCOME_OK,        /* ran to the end, or stopped by a deadline or signal after a drain */
	OUTCOME_ABORTED,   /* an error (here or elsewhere) ended the run */
};

/* One worker of a stage, as a kind sees it. */
struct worker {
	struct stage *stage;
	void *state;             /* what worker_new returned */
	int index;               /* 0 .. workers-1 */
	struct wstats *stats;
	struct ctx *ctx;         /* cancelled when the worker must stop at once */
};

/* Where process/flush/finish put their output: batches in order, each
 * tagged with its port (b->port, 0 unless the stage has branches).  Where
 * order allows (one worker), the engine sends each batch on at once, so a
 * stage that makes much output from little input (decompress) stays in
 * bounded memory.  outq_push returns 0, or non-zero when the batch could
 * not go on because the stage must stop (every reader gone, cancelled): then
 * the stage should return promptly; the engine already freed the batch. */
struct outq {
	struct batch *head, *tail;
	size_t n;
	int (*send)(void *arg, struct batch *b);  /* engine's: NULL to queue */
	void *arg;
	int stopped;                              /* last non-zero send result */
	struct ackset *acks;                      /* engine's: the input's ack
						     references, which every
						     batch pushed takes */
};
int outq_push(struct outq *q, struct batch *b);

/* For a stage that writes new records for those of an input batch (map,
 * parse): batches of the standard size, made like `in` (framing, origin,
 * first record), pushed on q as they fill.  Start with *o = NULL.
 * outq_add appends one record (keeping tag); outq_done pushes the last
 * batch, or frees it when the stage stopped.  Both return 0, or non-zero
 * when the batch could not go on (the stage must stop; *o is then NULL). */
int outq_add(struct outq *q, struct batch **o, const struct batch *in, const void *p,
	     size_t len, uint32_t tag);
int outq_done(struct outq *q, struct batch **o, int stopped);

/* A figure of a kind's own for --stats (nats_in: redelivered). */
struct stage_counter {
	const char *name;
	uint64_t value;
};
#define STAGE_COUNTERS_MAX 8

struct stage_kind {
	const char *name;
	const char *summary;         /* one line */
	enum stage_role role;
	unsigned flags;
	const struct option *options;
	size_t conf_size;
	const char *shorthand;       /* option a scalar (or list) value sets */
	const char *example;         /* a one-line YAML stage, for docs and tests */
	size_t worker_mem;           /* most memory a worker holds besides the
					batches in its hands (zlib state, JIT
					stack, scratch buffers): for the bound
					`cspipe validate` prints */

	/* Why the stage may hold more than the bound `cspipe validate` prints
	 * (memory that grows with the input), or NULL.  Optional. */
	const char *(*unbounded)(const struct stage *st);
	/* KIND_READS_BYTES: the reading options (struct input_conf, fdio.h)
	 * inside st->conf, which the loader may adjust (no gunzip for a
	 * source only decompress reads). */
	struct input_conf *(*input)(struct stage *st);
	int (*check)(struct stage *st, struct diags *d);
	/* The regular file the stage replaces or extends, as a canonical
	 * path (links followed, "." and ".." resolved; the caller frees
	 * it), or NULL.  Two stages may not write one file.  Optional. */
	char *(*writes)(const struct stage *st);
	int (*start)(struct stage *st, struct err *e);
	void *(*worker_new)(struct stage *st, int index);
	void (*worker_free)(struct stage *st, void *state);
	int (*run)(struct stage *st, struct stage_io *io, struct err *e);
	int (*process)(struct worker *w, struct batch *in, struct outq *out,
		       struct err *e);
	int (*flush)(struct worker *w, struct outq *out, struct err *e);
	int (*emit)(struct stage *st, struct batch *b, struct err *e);
	int (*finish)(struct stage *st, struct outq *out, struct err *e);
	/* Commit or roll back the stage's output: 0, -1 with e set, or
	 * STAGE_DISCARDED when what it wrote was taken back (its records
	 * then count as dropped). */
	int (*close)(struct stage *st, enum stage_outcome outcome, struct err *e);
	void (*free)(struct stage *st);
	/* The kind's own figures for --stats, at most STAGE_COUNTERS_MAX;
	 * returns how many.  Called while the run goes on (SIGUSR1) and
	 * after it, before free: read atomics.  Optional. */
	size_t (*counters)(const struct stage *st, struct stage_counter *out);
};

/* A stage of a pipeline.  The kind reads the public part; the engine keeps
 * its own state behind rt. */
struct stage {
	const struct stage_kind *kind;
	char *name;
	int index;                   /* 1-based position in the file */
	size_t id;                   /* position in the pipeline's list (0-based,
					implicit stages included) */
	struct pos pos;              /* where it is defined (for messages) */
	struct pos name_pos;         /* its name key's value (file NULL: none) */
	struct pos kind_pos;         /* its kind key's value (file NULL: none) */
	struct pos *opt_pos;         /* per option of kind->options, where its
					value was written in the stage's mapping
					(file NULL: not there; see stage_opt_pos) */
	void *conf;                  /* the kind's config struct, loaded */
	void *priv;                  /* the kind's own stage-wide state */

	/* Common keys. */
	int workers;                 /* with workers_auto: the most it may have */
	int workers_auto;            /* workers: auto (the engine sizes it) */
	int64_t buffer;              /* output channel capacity, in batches */
	int ordered;
	int64_t timeout;             /* ns, 0: none */
	struct shard_key *shard;     /* NULL: round robin */

	/* Graph. */
	struct stage **inputs;       /* the stages it reads, and from which port */
	int *input_ports;
	size_t ninputs;
	char **from;                 /* names as written (branch as "route.name") */
	struct pos *from_at;
	size_t nfrom;
	char **ports;                /* output port names; NULL/0: one unnamed port */
	size_t nports;
	int implicit;                /* added by the engine (stdin, stdout, merge) */

	struct stage_rt *rt;         /* engine-private */
};

/* How many input batches the stage can hold at once between taking them
 * from its input and emitting their output: 1 with one worker; with
 * ordered workers the engine never lets more than this many be in flight
 * (the reorder window), so a kind may keep per-batch state in a ring of
 * this size indexed by b->seq (compress keeps each block's dictionary so).
 * Input batches of a stage carry seq 0, 1, 2, ... in the order they were
 * taken from its input, and ordered workers take them in that order (a
 * turnstile), each processing what it took at once.  Valid from start()
 * on. */
int stage_window(const struct stage *st);

/* The context the stage's workers block under (worker->ctx), for
 * worker_new and start to hand to what they make.  Valid from worker_new
 * on. */
struct ctx *stage_ctx(const struct stage *st);

/* The context a stage that paces its output (rate, a breaker's cooldown)
 * waits under: it ends with the worker's context, and also once the run
 * is stopping (a signal, a deadline), when pacing would only hold up the
 * drain.  A stage that finds it ended while stage_ctx has not passes what
 * it holds on without waiting.  Valid from worker_new on. */
struct ctx *stage_pace_ctx(const struct stage *st);
/* Where the stage's mapping wrote option `name` (file NULL when it did
 * not: a default, or a shorthand value, which is at st->kind_pos). */
struct pos stage_opt_pos(const struct stage *st, const char *name);
/* Where a message about the stage's options goes: its kind key's value,
 * or the stage when it has none. */
struct pos stage_pos(const struct stage *st);

/* Set output ports (route's branches) during check; names are copied. */
void stage_set_ports(struct stage *st, const char *const *names, size_t n);

/* For run-style stages (sources, merge): the stage's channels.  Every call
 * here blocks under the stage's context. */
struct stage_io;
struct sel_case;
struct ctx *io_ctx(struct stage_io *io);   /* cancelled when the stage must stop */
struct wstats *io_stats(struct stage_io *io);
/* Send a batch out of a port (b->port).  The engine sets b->seq.  Returns
 * CSP_OK, CSP_CLOSED when every reader has gone (stop quietly; the batch
 * was freed) or the context's error (the batch was freed). */
int io_send(struct stage_io *io, struct batch *b);
size_t io_ninputs(struct stage_io *io);
/* The channel of input i, for io_select; it carries struct batch pointers. */
struct chan *io_input(struct stage_io *io, size_t i);
/* chan_select (blocking) under the stage's context; the time it waits is
 * not counted as the stage's busy time. */
int io_select(struct stage_io *io, struct sel_case *cases, int n);
/* Around a wait outside the runtime (nats_in's fetch from the network):
 * the time between is not counted as the stage's busy time. */
void io_wait_begins(struct stage_io *io);
void io_wait_ends(struct stage_io *io);

/* A set of stage kinds, in the order `cspipe stages` lists them.  The
 * pipeline loader, dot and `cspipe stages` are handed one; none of them
 * knows where it comes from. */
struct stage_registry {
	const struct stage_kind *const *kinds;
	size_t n;
};
/* The kind named name in r, or NULL. */
const struct stage_kind *registry_find(const struct stage_registry *r, const char *name);
/* The position of k in r (r->n when it is not there). */
size_t registry_index(const struct stage_registry *r, const struct stage_kind *k);

/* Every kind cspipe has (generated by configure.py from STAGES): main
 * hands it down. */
extern const struct stage_registry stage_registry;

#endif
