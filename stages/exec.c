/* SPDX-License-Identifier: MIT */
/*
 * exec.c - the `exec` stage: run a command per batch, as `parallel --pipe`
 * does.  Each input batch is written to the stdin of a fresh process and
 * what the process writes to stdout becomes the batch's output records,
 * cut with the input's framing.
 *
 * The command.  A list is an argv, run directly (PATH searched); a string
 * is a shell command, run as `/bin/sh -c STRING`, as make and Docker's
 * shell form do.
 *
 * A process's life (exec_run_attempt, in exec_child.c).  Two pipes, both ends close-on-exec, and
 * posix_spawn with stdin and stdout dup'ed onto them: the dup'ed
 * descriptors are the only ones that lose close-on-exec, and every
 * descriptor from 3 up is closed in the child as well, so that it
 * inherits exactly 0, 1 and 2 (stderr is ours: the user sees the command's
 * errors) whatever other threads or the caller left open.  The child gets
 * an empty signal mask and default dispositions (the runtime blocks
 * SIGINT/SIGTERM in our threads and we ignore SIGPIPE; neither should
 * reach a command), and its own process group, so that a kill reaches a
 * whole `sh -c` pipeline and a terminal's ^C reaches cspipe alone, which
 * then drains: the batches already running finish.  Our pipe ends are
 * non-blocking; one poll loop writes the batch, reads the output and
 * watches the worker's cancellation eventfd and a pidfd (a 10 ms tick
 * where the kernel has none), so a command that writes before it has
 * read all its input cannot deadlock us.  A command that exits without
 * reading all its stdin (head -1) is not failed for it: EPIPE (SIGPIPE is
 * ignored by the process) ends the writing, the exit status decides.
 *
 * Killing and reaping.  A timeout, the worker's cancellation (the run
 * aborts, or the stage stops because nobody reads it any more) or an
 * output error sends SIGTERM to the process group, then SIGKILL to the
 * group one second later, or as soon as the leader has exited (what is
 * left of its group has nobody to wait for).  The leader's exit is seen
 * without reaping it (waitid WNOWAIT); it is reaped at the end of
 * run_attempt, on every path, so that its pid, which names the group,
 * cannot pass to another process while we may still signal the group,
 * and no zombie outlives the attempt.  After a normal exit the loop still
 * reads stdout to its end, because a grandchild may hold it (`cmd &`);
 * the timeout covers a grandchild that never lets go.
 *
 * Output.  A batch's output is held until its command has exited, then
 * sent on as a whole, or, if the command failed, discarded as a whole: a
 * retried batch never yields torn or duplicated records.  max_output
 * bounds what one batch may produce (the memory held), max_record one
 * record.  A batch with no records runs no command.  Records are new
 * (KIND_REFRAMES): the engine balances the accounting.
 *
 * Failure, retries and the breaker.  A non-zero exit (one not listed in
 * success_status), death by a signal, a timeout or a command that cannot
 * be started is a failed attempt; the batch is tried again, with the same
 * input, up to `retries` times, and when none is left the stage fails the
 * run naming the command, the cause and the batch's records.  Output
 * errors (a record longer than max_record, more than max_output) fail the
 * stage at once: running the command again would give the same output.
 * The optional breaker is shared by the stage's workers: every attempt
 * asks it first and reports its outcome; `failures` consecutive failed
 * attempts open it.  An attempt refused by an open circuit starts no
 * process but uses up one of the batch's attempts; if the batch has one
 * left, it waits (under the worker's context) until the circuit changes
 * state and is no longer open (the cooldown has passed and a probe may
 * run, or a probe closed it), then asks again; if none is left, the stage
 * fails with "circuit open after N consecutive failures of 'CMD'".  So
 * every batch makes at most retries + 1 attempts, started or refused.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "core/fdio.h"
#include "records/framer.h"
#include "core/stage.h"
#include "exec_int.h"

/* Stage-wide: the breaker the workers share. */
struct exec_stage {
	struct breaker *brk;
	int64_t cooldown;
	_Atomic int64_t opened_at;      /* csp_now() of the latest opening */
	atomic_uint changes;            /* transitions seen so far */
	pthread_mutex_t mu;             /* guards last */
	char last[WHY_MAX];             /* the latest failure, for the open message */
};

/* ---- options ----------------------------------------------------------- */

static void command_free(void *dst)
{
	struct exec_cmd *c = dst;

	if (c->argv)
		for (size_t i = 0; c->argv[i]; i++)
			free(c->argv[i]);
	free(c->argv);
	free(c->show);
	c->argv = NULL;
	c->show = NULL;
}

/* A word of the command: a string without NUL bytes.  Returns 0, or -1
 * after a diagnostic naming the item (0: not a list item). */
static int command_word(const struct optval *v, size_t item, struct diags *d)
{
	char at[32] = "";
	size_t len;
	const char *s = optval_str(v, &len);

	if (item)
		snprintf(at, sizeof at, "item %zu: ", item);
	if (optval_type(v) != OPTVAL_SCALAR) {
		diag_at(d, optval_pos(v), "command: %sexpected a string, got a %s", at,
			optval_type_name(v));
		return -1;
	}
	if (optval_is_null(v)) {
		diag_at(d, optval_pos(v), "command: %smissing value (expected a string)", at);
		return -1;
	}
	if (memchr(s, '\0', len)) {
		diag_at(d, optval_pos(v), "command: %sa NUL byte cannot be passed to a "
			"command", at);
		return -1;
	}
	return 0;
}

/*
 * OPT_CUSTOM parse for `command`: a list of words (the argv) or one
 * string (run by /bin/sh -c).  Returns 0, or -1 after diagnostics with
 * nothing stored.
 */
static int command_parse(const struct optval *v, void *dst, struct diags *d)
{
	struct exec_cmd *c = dst;
	struct buf show = { 0 };
	char cut[96];
	size_t argc, len;
	const char *s;

	if (optval_type(v) == OPTVAL_TABLE || optval_is_null(v)) {
		diag_at(d, optval_pos(v), "command: expected a list of words (run "
			"directly) or a string (run by sh -c), got %s",
			optval_is_null(v) ? "nothing" : "a mapping");
		return -1;
	}
	if (optval_type(v) == OPTVAL_SCALAR) {
		if (command_word(v, 0, d) < 0)
			return -1;
		s = optval_str(v, &len);
		if (len == 0) {
			diag_at(d, optval_pos(v), "command: the command is empty");
			return -1;
		}
		c->argv = csp_calloc(4, sizeof *c->argv);
		c->argv[0] = csp_strdup("/bin/sh");
		c->argv[1] = csp_strdup("-c");
		c->argv[2] = csp_strdup(s);
		buf_append(&show, s, len);
	} else {
		int bad = 0;

		argc = optval_count(v);
		if (argc == 0) {
			diag_at(d, optval_pos(v), "command: the list is empty (give the "
				"program and its arguments)");
			return -1;
		}
		for (size_t i = 0; i < argc; i++)
			bad |= command_word(optval_item(v, i), i + 1, d);
		if (bad)
			return -1;
		if (optval_len(optval_item(v, 0)) == 0) {
			diag_at(d, optval_pos(optval_item(v, 0)), "command: the program name "
				"is empty");
			return -1;
		}
		c->argv = csp_calloc(argc + 1, sizeof *c->argv);
		for (size_t i = 0; i < argc; i++) {
			s = optval_str(optval_item(v, i), &len);
			c->argv[i] = csp_strdup(s);
			if (i)
				buf_putc(&show, ' ');
			buf_append(&show, s, len);
		}
	}
	util_show(cut, sizeof cut, show.p, show.len);
	c->show = csp_strdup(cut);
	buf_free(&show);
	return 0;
}

static void exits_free(void *dst)
{
	memset(dst, 0, sizeof(struct exit_set));
}

/* optval_each's step for `success_status`: add one status (item 0: the
 * option's only value) to the set arg. */
static int exit_item(const struct optval *v, size_t item, void *arg, struct diags *d)
{
	struct exit_set *s = arg;
	char at[32] = "", show[96];
	const char *why, *text;
	size_t len;
	int64_t n;

	if (item)
		snprintf(at, sizeof at, "item %zu: ", item);
	if (optval_type(v) != OPTVAL_SCALAR || optval_is_null(v)) {
		diag_at(d, optval_pos(v), "success_status: %sexpected an exit status "
			"0..255, got %s%s", at, optval_is_null(v) ? "nothing" : "a ",
			optval_is_null(v) ? "" : optval_type_name(v));
		return -1;
	}
	text = optval_str(v, &len);
	util_show(show, sizeof show, text, len);
	if (parse_int(text, &n, &why) < 0 || n < 0 || n > 255) {
		diag_at(d, optval_pos(v), "success_status: %sexpected an exit status "
			"0..255, got '%s'", at, show);
		return -1;
	}
	s->ok[n / 8] |= (unsigned char)(1u << (n % 8));
	return 0;
}

/* OPT_CUSTOM parse for `success_status`: one status or a list of them. */
static int exits_parse(const struct optval *v, void *dst, struct diags *d)
{
	struct exit_set *s = dst;
	int rc;

	memset(s, 0, sizeof *s);
	if (optval_type(v) == OPTVAL_LIST && optval_count(v) == 0) {
		diag_at(d, optval_pos(v), "success_status: the list is empty");
		return -1;
	}
	rc = optval_each(v, exit_item, s, d);
	if (rc)
		memset(s, 0, sizeof *s);
	return rc;
}

int exec_exit_ok(const struct exit_set *s, int status)
{
	return status >= 0 && status <= 255 && (s->ok[status / 8] >> (status % 8)) & 1;
}

static const struct option breaker_options[] = {
	{ .name = "failures", .type = OPT_INT,
	  .offset = offsetof(struct breaker_conf, failures), .def = "5",
	  .doc = "consecutive failed attempts that open the circuit",
	  .min = 1, .max = 1000000 },
	{ .name = "cooldown", .type = OPT_DURATION,
	  .offset = offsetof(struct breaker_conf, cooldown), .def = "10s",
	  .doc = "how long the circuit stays open before a probe may run" },
	{ .name = "probes", .type = OPT_INT,
	  .offset = offsetof(struct breaker_conf, probes), .def = "1",
	  .doc = "attempts let through half-open; as many successes close it",
	  .min = 1, .max = 1000 },
	{ .name = NULL },
};

static const struct option exec_options[] = {
	{ .name = "command", .type = OPT_CUSTOM,
	  .offset = offsetof(struct exec_conf, command),
	  .doc = "the command: a list (program and arguments) or a string for sh -c",
	  .parse = command_parse, .free = command_free,
	  .type_name = "list of words, or string", .flags = OPT_REQUIRED },
	{ .name = "timeout", .type = OPT_DURATION,
	  .offset = offsetof(struct exec_conf, timeout),
	  .doc = "time limit of one batch's process (killed past it); none by default" },
	{ .name = "retries", .type = OPT_INT,
	  .offset = offsetof(struct exec_conf, retries), .def = "0",
	  .doc = "times a failed batch is run again before the stage fails",
	  .min = 0, .max = 1000000 },
	{ .name = "breaker", .type = OPT_TABLE,
	  .offset = offsetof(struct exec_conf, breaker),
	  .doc = "circuit breaker: {failures: N, cooldown: DURATION, probes: N}",
	  .table = breaker_options, .example = "{failures: 5, cooldown: 10s}" },
	{ .name = "success_status", .type = OPT_CUSTOM,
	  .offset = offsetof(struct exec_conf, success), .def = "0",
	  .doc = "exit statuses that count as success (e.g. [0, 1] for grep)",
	  .parse = exits_parse, .free = exits_free,
	  .type_name = "exit status or list" },
	{ .name = "max_record", .type = OPT_SIZE,
	  .offset = offsetof(struct exec_conf, max_record), .def = "64MiB",
	  .doc = "longest output record (lines, nul); a longer one is an error",
	  .min = 1, .max = (int64_t)1 << 30 },
	{ .name = "max_output", .type = OPT_SIZE,
	  .offset = offsetof(struct exec_conf, max_output), .def = "256MiB",
	  .doc = "most output one batch's command may write (it is held until it exits)",
	  .min = 1, .max = (int64_t)1 << 40 },
	{ .name = NULL },
};

/* ---- stage and workers ---------------------------------------------- */

static void on_change(void *arg, enum breaker_state from, enum breaker_state to)
{
	struct exec_stage *xs = arg;

	(void)from;
	if (to == BREAKER_OPEN)
		atomic_store(&xs->opened_at, csp_now());
	atomic_fetch_add(&xs->changes, 1);
}

/* The stage-wide breaker, when one is configured.  Cannot fail. */
static int exec_start(struct stage *st, struct err *e)
{
	const struct exec_conf *c = st->conf;
	struct exec_stage *xs = csp_calloc(1, sizeof *xs);

	(void)e;
	pthread_mutex_init(&xs->mu, NULL);
	if (c->breaker.failures > 0) {
		xs->cooldown = c->breaker.cooldown;
		xs->brk = breaker_new((int)c->breaker.failures, c->breaker.cooldown,
				      (int)c->breaker.probes);
		breaker_on_change(xs->brk, on_change, xs);
	}
	st->priv = xs;
	return 0;
}

static void exec_free(struct stage *st)
{
	struct exec_stage *xs = st->priv;

	if (!xs)
		return;
	breaker_free(xs->brk);
	pthread_mutex_destroy(&xs->mu);
	free(xs);
	st->priv = NULL;
}

/* Each worker waits on its pipes together with an eventfd that the
 * stage's cancellation signals.  Cannot fail: a missing eventfd is
 * reported by the first process call. */
static void *exec_worker_new(struct stage *st, int index)
{
	struct exec_worker *xw = csp_calloc(1, sizeof *xw);

	(void)index;
	if (fdwait_init(&xw->fw, stage_ctx(st)) < 0) {
		xw->fw_errno = errno;
		xw->fw.efd = -1;
	}
	return xw;
}

static void exec_worker_free(struct stage *st, void *state)
{
	struct exec_worker *xw = state;

	(void)st;
	if (!xw)
		return;
	fdwait_fini(&xw->fw);
	free(xw);
}

/* ---- batches -------------------------------------------------------- */

/* " on records A-B of ORIGIN": the batch, for messages. */
static void batch_where(char *out, size_t n, const struct batch *b)
{
	const char *origin = b->origin ? b->origin : "the input";

	if (b->n == 0) {
		snprintf(out, n, " on an empty batch of %s", origin);
	} else if (b->first_rec == 0) {
		snprintf(out, n, " on a batch of %u records of %s", b->n, origin);
	} else {
		unsigned long long first = batch_rec_number(b, 0);
		unsigned long long last = batch_rec_number(b, b->n - 1);
		if (first == last)
			snprintf(out, n, " on record %llu of %s", first, origin);
		else
			snprintf(out, n, " on records %llu-%llu of %s", first, last, origin);
	}
}

/*
 * After a refusal seen at change count `seen`: wait until the breaker has
 * changed state since and is not open (its cooldown passed, or a probe
 * closed it).  Returns CSP_OK, or the context's error.
 */
static int breaker_wait(struct exec_stage *xs, unsigned seen, struct ctx *ctx)
{
	int r;

	for (;;) {
		/* Looking moves an open breaker whose cooldown passed to
		 * half-open (a change). */
		enum breaker_state s = breaker_state(xs->brk);
		int64_t wait = WAIT_TICK;

		if (s != BREAKER_OPEN && atomic_load(&xs->changes) != seen)
			return CSP_OK;
		if (s == BREAKER_OPEN) {
			int64_t left = atomic_load(&xs->opened_at) + xs->cooldown - csp_now();
			if (left > wait)
				wait = left;
		}
		r = csp_sleep(wait, ctx);
		if (r != CSP_OK)
			return r;
	}
}

/* The cause code the engine cancels a stage's context with when the stage
 * stops on purpose (nobody reads it any more), which is not an abort. */

/* Remember the latest failure, for the breaker's message. */
static void note_failure(struct exec_stage *xs, const char *why)
{
	pthread_mutex_lock(&xs->mu);
	snprintf(xs->last, sizeof xs->last, "%s", why);
	pthread_mutex_unlock(&xs->mu);
}

/* The breaker refused and the batch has no attempt left. */
static void circuit_open(struct exec_stage *xs, const struct exec_conf *c,
			 const struct batch *in, struct err *e)
{
	char last[sizeof xs->last], where[256];

	pthread_mutex_lock(&xs->mu);
	memcpy(last, xs->last, sizeof last);
	pthread_mutex_unlock(&xs->mu);
	batch_where(where, sizeof where, in);
	err_set(e, "circuit open after %lld consecutive failures of '%s' (last: %s); "
		"not run%s", (long long)c->breaker.failures, c->command.show,
		last[0] ? last : "unknown", where);
}

/*
 * Run the command on one batch, with retries and the breaker, and push
 * the output of the attempt that succeeded.  Takes ownership of in.
 * Returns STAGE_OK, also after a cancellation (the engine knows why it
 * stopped), or STAGE_ERROR with e set; the input's records are counted
 * dropped when they are lost to an error or an abort.
 */
static int exec_process(struct worker *w, struct batch *in, struct outq *out,
			struct err *e)
{
	const struct exec_conf *c = w->stage->conf;
	struct exec_stage *xs = w->stage->priv;
	struct exec_worker *xw = w->state;
	struct held h = { NULL, &h.head, 0 };
	char why[WHY_MAX] = "", where[256];
	int64_t left = c->retries + 1, runs = 0, refused = 0;
	int rc = STAGE_OK, lost = 0, r = ATT_FAILED;

	if (in->n == 0)
		goto out;   /* nothing to run the command on */
	if (xw->fw.efd < 0) {
		err_set(e, "cannot wait for '%s': %s", c->command.show, strerror(xw->fw_errno));
		goto fail;
	}
	while (left > 0) {
		uint64_t gen = 0;

		if (xs->brk) {
			unsigned seen = atomic_load(&xs->changes);

			if (breaker_allow_gen(xs->brk, &gen) == CSP_OPEN) {
				if (--left == 0) {
					circuit_open(xs, c, in, e);
					goto fail;
				}
				refused++;
				/* Once the run is stopping, a cooldown would
				 * only hold up the drain: the batch, which
				 * cannot run now, is dropped. */
				if (breaker_wait(xs, seen, stage_pace_ctx(w->stage)) != CSP_OK)
					goto canceled;
				continue;
			}
		}
		left--;
		runs++;
		exec_held_free(&h);
		h.bytes = 0;
		r = exec_run_attempt(xw, c, in, &h, why, sizeof why, e);
		if (xs->brk && r != ATT_CANCELED)
			breaker_done_gen(xs->brk, gen, r == ATT_OK);
		if (r != ATT_FAILED)
			break;
		if (xs->brk)
			note_failure(xs, why);
	}
	switch (r) {
	case ATT_OK:
		break;
	case ATT_CANCELED:
		goto canceled;
	case ATT_FATAL: {
		size_t len = strlen(e->msg);
		batch_where(e->msg + len, sizeof e->msg - len, in);
		goto fail;
	}
	default:
		batch_where(where, sizeof where, in);
		if (refused)
			err_set(e, "%s%s (%lld attempts, %lld refused by the breaker)", why,
				where, (long long)(runs + refused), (long long)refused);
		else if (runs > 1)
			err_set(e, "%s%s (%lld attempts)", why, where, (long long)runs);
		else
			err_set(e, "%s%s", why, where);
		goto fail;
	}

	/* The records are new, and none has a place in an origin (the framer
	 * numbered them within this batch's output). */
	while (h.head) {
		struct batch *b = h.head;

		h.head = b->next;
		b->next = NULL;
		b->first_rec = 0;
		b->offset = 0;
		/* Stopped or aborted: the engine knows which; what was not
		 * sent is accounted for by its balance. */
		if (outq_push(out, b) != 0)
			break;
	}
	goto out;

canceled:
	/* Records nobody wants any more are not lost (the balance files
	 * them as filtered); those of an abort are. */
	lost = ctx_cause(w->ctx, NULL) != STAGE_CAUSE_STOPPED;
	goto out;
fail:
	rc = STAGE_ERROR;
	lost = 1;
out:
	if (lost)
		wstat_add(&w->stats->dropped, in->records);
	exec_held_free(&h);
	batch_free(in);
	return rc;
}

const struct stage_kind kind_exec = {
	.name = "exec",
	.summary = "run a command per batch: the batch on its stdin, its stdout as records",
	.role = ROLE_TRANSFORM,
	.flags = KIND_REFRAMES | KIND_WAITS,
	.options = exec_options,
	.conf_size = sizeof(struct exec_conf),
	.shorthand = "command",
	.example = "exec: {command: [tr, a-z, A-Z], timeout: 10s, retries: 2}",
	.worker_mem = 256 * 1024,
	.start = exec_start,
	.worker_new = exec_worker_new,
	.worker_free = exec_worker_free,
	.process = exec_process,
	.free = exec_free,
};
