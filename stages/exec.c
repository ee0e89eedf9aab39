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
 * A process's life (run_attempt).  Two pipes, both ends close-on-exec, and
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
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csp/csp.h"
#include "core/fdio.h"
#include "records/framer.h"
#include "core/stage.h"

extern char **environ;

#define KILL_GRACE (1 * CSP_NS_PER_S)   /* SIGTERM to SIGKILL */
#define WAIT_TICK (10 * CSP_NS_PER_MS)  /* polling where nothing can wake us */
#define READ_WANT 65536
#define WHY_MAX 320                     /* a failure's cause, for messages */

/* The command: argv (NULL-terminated) and how messages show it. */
struct exec_cmd {
	char **argv;
	char *show;      /* the words joined by spaces, or the shell string */
};

/* Exit statuses that count as success: a bitmap of 0..255. */
struct exit_set {
	unsigned char ok[32];
};

/* Given or not: failures is 1 or more when the mapping is given, 0 when
 * the breaker is off. */
struct breaker_conf {
	int64_t failures;
	int64_t cooldown;
	int64_t probes;
};

struct exec_conf {
	struct exec_cmd command;
	int64_t timeout;
	int64_t retries;
	struct breaker_conf breaker;
	struct exit_set success;
	uint64_t max_record;
	uint64_t max_output;
};

/* Stage-wide: the breaker the workers share. */
struct exec_stage {
	struct breaker *brk;
	int64_t cooldown;
	_Atomic int64_t opened_at;      /* csp_now() of the latest opening */
	atomic_uint changes;            /* transitions seen so far */
	pthread_mutex_t mu;             /* guards last */
	char last[WHY_MAX];             /* the latest failure, for the open message */
};

struct exec_worker {
	struct fdwait fw;
	int fw_errno;                   /* why fw could not be made (fw.efd < 0) */
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

static int exit_item(const struct optval *v, size_t item, struct exit_set *s,
		     struct diags *d)
{
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
	int rc = 0;

	memset(s, 0, sizeof *s);
	if (optval_type(v) == OPTVAL_LIST) {
		if (optval_count(v) == 0) {
			diag_at(d, optval_pos(v), "success_status: the list is empty");
			return -1;
		}
		for (size_t i = 0; i < optval_count(v); i++)
			rc |= exit_item(optval_item(v, i), i + 1, s, d);
	} else {
		rc = exit_item(v, 0, s, d);
	}
	if (rc)
		memset(s, 0, sizeof *s);
	return rc;
}

static int exit_ok(const struct exit_set *s, int status)
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

/* ---- one process --------------------------------------------------- */

enum { ATT_OK, ATT_FAILED, ATT_FATAL, ATT_CANCELED };
enum { KILL_NONE, KILL_TIMEOUT, KILL_CANCEL, KILL_FATAL, KILL_IO };

struct proc {
	pid_t pid;
	int pidfd;            /* -1: none (tick instead) */
	int in_fd, out_fd;    /* our pipe ends; -1 once closed */
	int exited;           /* it has ended; not reaped until the end, so
				 * that its pid, which names its group, stays
				 * ours to signal */
	int status;
	int kill_why;         /* KILL_*: why we are killing it */
	int64_t term_at;      /* when SIGTERM went */
	int killed;           /* SIGKILL went */
};

/* Where the output of one attempt goes until its verdict. */
struct held {
	struct batch *head, **tail;
	uint64_t bytes;
};

static int held_emit(void *arg, struct batch *b)
{
	struct held *h = arg;

	b->next = NULL;
	*h->tail = b;
	h->tail = &b->next;
	return 0;
}

static void held_free(struct held *h)
{
	while (h->head) {
		struct batch *next = h->head->next;
		batch_free(h->head);
		h->head = next;
	}
	h->tail = &h->head;
}

/* A descriptor above 2, so that the child's dup2 onto 0 and 1 cannot
 * clobber one another; close-on-exec kept.  Returns it, or -1 (errno). */
static int fd_high(int fd)
{
	int nfd;

	if (fd < 0 || fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int pidfd_of(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * Start the command with its stdin and stdout on two new pipes.  Returns
 * 0 with p filled; a positive errno value when the program could not be
 * run (posix_spawn's error: glibc reports a failed exec there, so ENOENT
 * means "not found"); a negative one when the pipes could not be made.
 * Nothing is left open on failure.
 */
static int spawn(const struct exec_cmd *cmd, struct proc *p)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int err = 0;

	memset(p, 0, sizeof *p);
	p->pidfd = p->in_fd = p->out_fd = -1;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		err = -errno;
		goto fail;
	}
	for (int i = 0; i < 2; i++) {
		in[i] = fd_high(in[i]);
		out[i] = fd_high(out[i]);
	}
	if (in[0] < 0 || in[1] < 0 || out[0] < 0 || out[1] < 0) {
		err = -errno;
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/* Whatever else is open here (inherited, or opened by another thread
	 * without close-on-exec) stays out of the child. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				 POSIX_SPAWN_SETPGROUP);
	err = posix_spawnp(&p->pid, cmd->argv[0], &fa, &at, cmd->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (err) {
		p->pid = 0;
		goto fail;
	}
	close(in[0]);
	close(out[1]);
	p->in_fd = in[1];
	p->out_fd = out[0];
	fcntl(p->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	/* Only we reap it, so the pid is still the child's here even if it
	 * has exited. */
	p->pidfd = pidfd_of(p->pid);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&out[i]);
	}
	return err ? err : -EIO;
}

static void signal_group(struct proc *p, int sig)
{
	/* The group, so that a shell's children go too.  The leader is not
	 * reaped yet, so the group's id cannot belong to anyone else. */
	if (kill(-p->pid, sig) < 0 && errno == ESRCH)
		kill(p->pid, sig);
}

static void begin_kill(struct proc *p, int why)
{
	if (p->kill_why != KILL_NONE)
		return;
	p->kill_why = why;
	p->term_at = csp_now();
	signal_group(p, SIGTERM);
	/* Its input no longer matters, and an EOF helps it go. */
	close_fd(&p->in_fd);
}

/* Has it ended?  Looks without reaping (WNOWAIT). */
static void check_exit(struct proc *p)
{
	siginfo_t si;

	if (p->exited)
		return;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	    si.si_pid == p->pid) {
		p->exited = 1;
		close_fd(&p->pidfd);
	}
}

/* Reap it, killing its group first if it is still running: the last step
 * of every path, so nothing outlives run_attempt.  Sets p->status, or -1
 * when the status was lost (someone set SIGCHLD to SIG_IGN). */
static void reap(struct proc *p)
{
	pid_t r;

	if (!p->exited)
		signal_group(p, SIGKILL);
	do
		r = waitpid(p->pid, &p->status, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		p->status = -1;
	p->exited = 1;
	close_fd(&p->pidfd);
}

/* The input batch as runs of adjacent records (terminators included). */
struct feed {
	const struct batch *b;
	uint32_t next;       /* record that starts the next run */
	size_t pos, end;     /* the current run: [pos, end) of b->data */
};

static int feed_more(struct feed *f)
{
	const struct batch *b = f->b;
	size_t t = batch_term_len(b);

	if (f->pos < f->end)
		return 1;
	if (f->next >= b->n)
		return 0;
	f->pos = b->recs[f->next].off;
	f->end = f->pos + b->recs[f->next].len + t;
	for (f->next++; f->next < b->n && b->recs[f->next].off == f->end; f->next++)
		f->end += b->recs[f->next].len + t;
	return 1;
}

static int poll_ms(int64_t ns)
{
	if (ns <= 0)
		return 0;
	ns = (ns + CSP_NS_PER_MS - 1) / CSP_NS_PER_MS;
	return ns > INT_MAX ? INT_MAX : (int)ns;
}

/* Signal names without strsignal's static buffer. */
static void signal_text(char *out, size_t n, int sig)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev) {
		snprintf(out, n, "SIG%s", abbrev);
		return;
	}
#endif
	snprintf(out, n, "signal %d", sig);
}

/* The framer's message numbers records within one batch's output, which
 * would mislead; say it in the command's terms. */
static void too_long(struct err *e, const struct exec_conf *c)
{
	char size[32];

	format_size(size, sizeof size, c->max_record);
	err_set(e, "'%s' wrote a record longer than max_record (%s)", c->command.show, size);
}

/*
 * Run the command once on batch `in`.  Its output records go to h (the
 * caller frees them whatever the result).  Returns ATT_OK; ATT_FAILED
 * with why set to the cause ("'cmd' exited with status 3"); ATT_FATAL
 * with e set (an output error, or no pipe could be made); or
 * ATT_CANCELED when the worker's context was cancelled.  The process is
 * reaped and every descriptor it used closed, whatever the result.
 */
static int run_attempt(struct exec_worker *xw, const struct exec_conf *c,
		       const struct batch *in, struct held *h, char *why, size_t nwhy,
		       struct err *e)
{
	const char *show = c->command.show;
	struct fdwait *fw = &xw->fw;
	struct feed feed = { in, 0, 0, 0 };
	struct framer fr;
	struct proc p;
	size_t chunk = 0;
	int64_t deadline = 0;
	int io_errno = 0, rc, err;

	if (in->framing == FRAMING_CHUNK)
		for (uint32_t i = 0; i < in->n; i++)
			if (in->recs[i].len > chunk)
				chunk = in->recs[i].len;
	if (ctx_err(fw->ctx))
		return ATT_CANCELED;
	framer_init(&fr, (enum framing)in->framing, chunk, (size_t)c->max_record,
		    show, held_emit, h);
	err = spawn(&c->command, &p);
	if (err < 0) {
		err_set(e, "cannot make pipes for '%s': %s", show, strerror(-err));
		return ATT_FATAL;
	}
	if (err > 0) {
		char prog[96];
		util_show(prog, sizeof prog, c->command.argv[0], strlen(c->command.argv[0]));
		snprintf(why, nwhy, "cannot run '%s': %s", prog, strerror(err));
		return ATT_FAILED;
	}
	if (c->timeout > 0)
		deadline = csp_now() + c->timeout;
	if (!feed_more(&feed))
		close_fd(&p.in_fd);

	for (;;) {
		struct pollfd pf[4];
		int nfd = 0, i_in = -1, i_out = -1, i_efd = -1, i_pid = -1;
		int64_t now = csp_now(), wait = -1;

		if (p.kill_why == KILL_NONE && ctx_err(fw->ctx))
			begin_kill(&p, KILL_CANCEL);
		if (p.kill_why == KILL_NONE && deadline && now >= deadline)
			begin_kill(&p, KILL_TIMEOUT);
		if (p.kill_why != KILL_NONE && !p.killed && now >= p.term_at + KILL_GRACE) {
			signal_group(&p, SIGKILL);
			p.killed = 1;
		}
		check_exit(&p);
		if (p.exited && p.kill_why == KILL_NONE && p.out_fd < 0)
			break;
		if (p.exited && p.kill_why != KILL_NONE) {
			/* The leader is gone; what is left of its group
			 * (a shell's children) has no one to wait for. */
			if (!p.killed)
				signal_group(&p, SIGKILL);
			p.killed = 1;
			break;
		}

		if (p.in_fd >= 0) {
			i_in = nfd;
			pf[nfd++] = (struct pollfd){ p.in_fd, POLLOUT, 0 };
		}
		if (p.out_fd >= 0) {
			i_out = nfd;
			pf[nfd++] = (struct pollfd){ p.out_fd, POLLIN, 0 };
		}
		if (p.kill_why == KILL_NONE) {
			/* Once killing, cancellation changes nothing, and the
			 * eventfd would stay readable. */
			i_efd = nfd;
			pf[nfd++] = (struct pollfd){ fw->efd, POLLIN, 0 };
			if (deadline)
				wait = deadline - now;
		} else if (!p.killed) {
			wait = p.term_at + KILL_GRACE - now;
		}
		if (!p.exited && p.pidfd >= 0) {
			i_pid = nfd;
			pf[nfd++] = (struct pollfd){ p.pidfd, POLLIN, 0 };
		} else if (!p.exited && (p.out_fd < 0 || p.kill_why != KILL_NONE) &&
			   (wait < 0 || wait > WAIT_TICK)) {
			wait = WAIT_TICK;
		}

		if (poll(pf, (nfds_t)nfd, wait < 0 ? -1 : poll_ms(wait)) < 0) {
			if (errno == EINTR)
				continue;
			io_errno = errno;
			begin_kill(&p, KILL_IO);
			break;
		}
		if (i_efd >= 0 && pf[i_efd].revents)
			begin_kill(&p, KILL_CANCEL);
		if (i_pid >= 0 && pf[i_pid].revents)
			check_exit(&p);

		if (i_out >= 0 && pf[i_out].revents && p.out_fd >= 0) {
			char scratch[4096], *dst = scratch;
			size_t room = sizeof scratch;
			ssize_t got;

			if (p.kill_why == KILL_NONE)
				dst = framer_space(&fr, READ_WANT, &room);
			got = read(p.out_fd, dst, room);
			if (got == 0) {
				close_fd(&p.out_fd);
			} else if (got < 0 && errno != EAGAIN && errno != EINTR) {
				io_errno = errno;
				close_fd(&p.out_fd);
				begin_kill(&p, KILL_IO);
			} else if (got > 0 && p.kill_why == KILL_NONE) {
				h->bytes += (uint64_t)got;
				if (h->bytes > c->max_output) {
					char size[32];
					format_size(size, sizeof size, c->max_output);
					err_set(e, "'%s' wrote more than max_output (%s) for one batch",
						show, size);
					begin_kill(&p, KILL_FATAL);
				} else if (framer_commit(&fr, (size_t)got, e) < 0) {
					too_long(e, c);
					begin_kill(&p, KILL_FATAL);
				}
			}
		}
		if (i_in >= 0 && pf[i_in].revents && p.in_fd >= 0) {
			ssize_t put = write(p.in_fd, in->data + feed.pos, feed.end - feed.pos);

			if (put > 0) {
				feed.pos += (size_t)put;
				if (!feed_more(&feed))
					close_fd(&p.in_fd);
			} else if (put < 0 && errno == EPIPE) {
				/* It stopped reading (head -1): its exit status
				 * decides. */
				close_fd(&p.in_fd);
			} else if (put < 0 && errno != EAGAIN && errno != EINTR) {
				io_errno = errno;
				begin_kill(&p, KILL_IO);
			}
		}
	}
	close_fd(&p.in_fd);
	close_fd(&p.out_fd);
	reap(&p);

	switch (p.kill_why) {
	case KILL_CANCEL:
		rc = ATT_CANCELED;
		break;
	case KILL_FATAL:
		rc = ATT_FATAL;
		break;
	case KILL_TIMEOUT: {
		char d[32];
		format_duration(d, sizeof d, c->timeout);
		snprintf(why, nwhy, "'%s' timed out after %s", show, d);
		rc = ATT_FAILED;
		break;
	}
	case KILL_IO:
		snprintf(why, nwhy, "'%s': pipe error: %s", show, strerror(io_errno));
		rc = ATT_FAILED;
		break;
	default:
		if (p.status == -1) {
			snprintf(why, nwhy, "'%s' ended with an unknown status", show);
			rc = ATT_FAILED;
		} else if (WIFEXITED(p.status) && exit_ok(&c->success, WEXITSTATUS(p.status))) {
			rc = ATT_OK;
			if (framer_finish(&fr, e) < 0) {
				too_long(e, c);
				rc = ATT_FATAL;
			}
		} else if (WIFEXITED(p.status)) {
			snprintf(why, nwhy, "'%s' exited with status %d", show,
				 WEXITSTATUS(p.status));
			rc = ATT_FAILED;
		} else {
			char sig[32];
			signal_text(sig, sizeof sig, WIFSIGNALED(p.status) ? WTERMSIG(p.status) : 0);
			snprintf(why, nwhy, "'%s' was killed by %s", show, sig);
			rc = ATT_FAILED;
		}
		break;
	}
	framer_discard(&fr);
	return rc;
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
		unsigned long long first = b->first_rec + b->recs[0].tag;
		unsigned long long last = b->first_rec + b->recs[b->n - 1].tag;
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
				if (breaker_wait(xs, seen, w->ctx) != CSP_OK)
					goto canceled;
				continue;
			}
		}
		left--;
		runs++;
		held_free(&h);
		h.bytes = 0;
		r = run_attempt(xw, c, in, &h, why, sizeof why, e);
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
	held_free(&h);
	batch_free(in);
	return rc;
}

const struct stage_kind kind_exec = {
	.name = "exec",
	.summary = "run a command per batch: the batch on its stdin, its stdout as records",
	.role = ROLE_TRANSFORM,
	.flags = KIND_REFRAMES,
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
