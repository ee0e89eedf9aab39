/* SPDX-License-Identifier: MIT */
/*
 * exec_child.c - one attempt of the exec stage: a child process spawned
 * with exactly stdin, stdout and stderr, fed one batch and read to its
 * end in one poll loop, killed by group on a timeout or a cancellation,
 * and always reaped.  exec.c's first comment tells the whole story.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "csp/csp.h"
#include "records/framer.h"
#include "exec_int.h"

extern char **environ;

/* ---- one process --------------------------------------------------- */

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

void exec_held_free(struct held *h)
{
	while (h->head) {
		struct batch *next = h->head->next;
		batch_free(h->head);
		h->head = next;
	}
	h->tail = &h->head;
}

static int held_emit(void *arg, struct batch *b)
{
	struct held *h = arg;

	b->next = NULL;
	*h->tail = b;
	h->tail = &b->next;
	return 0;
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
int exec_run_attempt(struct exec_worker *xw, const struct exec_conf *c,
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
		} else if (WIFEXITED(p.status) && exec_exit_ok(&c->success, WEXITSTATUS(p.status))) {
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
