/* SPDX-License-Identifier: MIT */
/*
 * signal.c - contexts cancelled by SIGINT and SIGTERM; signals delivered
 * to channels (Go's signal.Notify).
 *
 * The signals asked for are blocked in the thread that asks (main, before
 * it starts workers, which inherit the mask) and consumed by one runtime
 * thread in sigwaitinfo: no handler ever runs, so no async-signal-safety
 * rules reach the rest of the runtime.  On SIGINT or SIGTERM the thread
 * counts the signal and cancels every context registered so far, then
 * forgets them: a context registered later sees only later signals.
 *
 * The thread waits for the signals asked for plus SIGTERM, which is also
 * how the runtime nudges it (a queued SIGTERM with a value of our own) to
 * re-read its set or to stop.  It blocks every signal, so
 * a signal nobody asked for still finds another thread and its default
 * action.
 *
 * The signals must be sent to the process (kill, a terminal's ^C), not to
 * one thread: raise() in a thread that blocks them leaves them pending on
 * that thread, out of the runtime thread's reach.
 */
#include "csp/ctx.h"
#include "csp/chan.h"
#include "csp/csp.h"
#include "csp/wait.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Starting and stopping the thread.  Held across the join, so never taken
 * by the signal thread itself. */
static pthread_mutex_t life_mu = PTHREAD_MUTEX_INITIALIZER;
static int running;
static pthread_t sig_thread;
static sigset_t saved_mask;
static atomic_int stopping;

/* What the thread serves, under reg_mu. */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static sigset_t wanted;        /* signals asked for */
static int cancel_wanted;      /* SIGINT/SIGTERM cancel registered contexts */
/* Contexts to cancel at the next SIGINT/SIGTERM, each holding a reference
 * so that a concurrent release cannot free one under the thread. */
static struct ctx **reg;
static size_t nreg, capreg;
static atomic_size_t reg_count; /* nreg, readable without the lock */
/* Channels that signals are delivered to. */
struct notify {
	struct chan *ch;
	int sig;
};
static struct notify *notes;
static size_t nnotes, capnotes;

static atomic_uint sig_count;

/* The value that marks the runtime's own nudge (see nudge()). */
#define NUDGE 0x63737021

static int is_nudge(const siginfo_t *info)
{
	return info->si_code == SI_QUEUE && info->si_pid == getpid() &&
	       info->si_value.sival_int == NUDGE;
}

/* Take the whole registry: the caller owns the array and its references. */
static struct ctx **reg_take(size_t *n)
{
	struct ctx **list = reg;

	*n = nreg;
	reg = NULL;
	nreg = capreg = 0;
	atomic_store_explicit(&reg_count, 0, memory_order_relaxed);
	return list;
}

/* Handle one signal: deliver it to the channels that asked (dropped where
 * a channel is full, as Go does) and, for SIGINT/SIGTERM, cancel the
 * registered contexts outside the lock. */
static void deliver(int sig)
{
	struct ctx **list = NULL;
	size_t n = 0;

	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < nnotes; i++)
		if (notes[i].sig == sig)
			chan_try_send(notes[i].ch, &sig);
	if (cancel_wanted && (sig == SIGINT || sig == SIGTERM)) {
		atomic_fetch_add(&sig_count, 1);
		list = reg_take(&n);
	}
	pthread_mutex_unlock(&reg_mu);
	for (size_t i = 0; i < n; i++) {
		ctx_cancel_cause(list[i], CSP_CANCELED, sig,
				 sig == SIGINT ? "interrupted" : "terminated");
		ctx_unref(list[i]);
	}
	free(list);
}

static void *signal_main(void *arg)
{
	siginfo_t info;
	sigset_t set;

	(void)arg;
	while (!atomic_load(&stopping)) {
		pthread_mutex_lock(&reg_mu);
		set = wanted;
		pthread_mutex_unlock(&reg_mu);
		sigaddset(&set, SIGTERM);
		if (sigwaitinfo(&set, &info) < 0 || is_nudge(&info))
			continue;
		/* A signal racing with csp_signal_shutdown goes unhandled,
		 * as it would a moment later. */
		if (!atomic_load(&stopping))
			deliver(info.si_signo);
	}
	return NULL;
}

/* Block sigs in the calling thread and make sure the thread runs and
 * waits for them.  life_mu is held. */
static void serve(const sigset_t *sigs)
{
	sigset_t all, old;

	if (!running) {
		pthread_sigmask(SIG_BLOCK, sigs, &saved_mask);
		atomic_store(&stopping, 0);
		pthread_mutex_lock(&reg_mu);
		sigemptyset(&wanted);
		pthread_mutex_unlock(&reg_mu);
		/* The thread starts with every signal blocked. */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		if (pthread_create(&sig_thread, NULL, signal_main, NULL) != 0) {
			fputs("cspipe: cannot start the signal thread\n",
			      stderr);
			abort();
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		running = 1;
	} else {
		pthread_sigmask(SIG_BLOCK, sigs, NULL);
	}
}

/* Have the thread re-read its set (it may be waiting on an older one) or
 * see that it must stop.  A queued signal carries a value that no kill(1)
 * or terminal can forge (pthread_kill's si_code varies between kernels). */
static void nudge(void)
{
	union sigval v = { .sival_int = NUDGE };

	pthread_sigqueue(sig_thread, SIGTERM, v);
}

static void signal_forget(struct ctx *c);

/*
 * A child of parent cancelled (CSP_CANCELED, code = the signal number,
 * message "interrupted" or "terminated") by the next SIGINT or SIGTERM.
 * Blocks both signals in the calling thread; the first call also starts
 * the signal thread, which aborts the process if it cannot.  Never NULL;
 * release it with ctx_release.
 */
struct ctx *ctx_with_signals(struct ctx *parent)
{
	struct ctx *c = ctx_with_cancel(parent);
	sigset_t sigs;
	int changed = 0;

	ctx_on_release(c, signal_forget);

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_mutex_lock(&life_mu);
	serve(&sigs);
	pthread_mutex_lock(&reg_mu);
	if (!cancel_wanted) {
		cancel_wanted = changed = 1;
		sigaddset(&wanted, SIGINT);
		sigaddset(&wanted, SIGTERM);
	}
	if (nreg == capreg) {
		capreg = capreg ? 2 * capreg : 4;
		reg = csp_realloc(reg, capreg * sizeof *reg);
	}
	ctx_ref(c);
	reg[nreg++] = c;
	atomic_store_explicit(&reg_count, nreg, memory_order_relaxed);
	pthread_mutex_unlock(&reg_mu);
	if (changed)
		nudge();
	pthread_mutex_unlock(&life_mu);
	return c;
}

/*
 * From now on each sig the process receives is sent to ch as an int,
 * without blocking (dropped when ch is full).  Blocks sig in the calling
 * thread (call it from main before starting workers) and starts the
 * signal thread if needed.  ch must carry ints and outlive the
 * registration (csp_signal_stop).
 */
void csp_signal_notify(struct chan *ch, int sig)
{
	sigset_t sigs;
	int changed;

	sigemptyset(&sigs);
	sigaddset(&sigs, sig);
	pthread_mutex_lock(&life_mu);
	serve(&sigs);
	pthread_mutex_lock(&reg_mu);
	changed = !sigismember(&wanted, sig);
	sigaddset(&wanted, sig);
	if (nnotes == capnotes) {
		capnotes = capnotes ? 2 * capnotes : 4;
		notes = csp_realloc(notes, capnotes * sizeof *notes);
	}
	notes[nnotes++] = (struct notify){ ch, sig };
	pthread_mutex_unlock(&reg_mu);
	if (changed)
		nudge();
	pthread_mutex_unlock(&life_mu);
}

/* No signal is sent to ch once this returns; the signals stay blocked
 * (and are discarded) until csp_signal_shutdown. */
void csp_signal_stop(struct chan *ch)
{
	size_t i = 0;

	pthread_mutex_lock(&reg_mu);
	while (i < nnotes) {
		if (notes[i].ch == ch)
			notes[i] = notes[--nnotes];
		else
			i++;
	}
	pthread_mutex_unlock(&reg_mu);
}

unsigned csp_signal_count(void)
{
	return atomic_load(&sig_count);
}

/* Called by ctx_release for a context ctx_with_signals made (its
 * ctx_on_release hook): drop it from the registry. */
static void signal_forget(struct ctx *c)
{
	int found = 0;

	if (!atomic_load_explicit(&reg_count, memory_order_relaxed))
		return;
	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < nreg; i++) {
		if (reg[i] == c) {
			reg[i] = reg[--nreg];
			atomic_store_explicit(&reg_count, nreg,
					      memory_order_relaxed);
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&reg_mu);
	if (found)
		ctx_unref(c);
}

/*
 * Stop and join the signal thread, forget the registered contexts (they
 * stay valid, and are no longer cancelled by signals) and channels, and
 * restore the calling thread's signal mask as it was before the first
 * registration; call it from that thread.  A later registration starts
 * over.  Harmless when nothing runs.
 */
void csp_signal_shutdown(void)
{
	struct ctx **list = NULL;
	size_t n = 0;

	pthread_mutex_lock(&life_mu);
	if (running) {
		atomic_store(&stopping, 1);
		nudge();
		pthread_join(sig_thread, NULL);
		pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
		running = 0;
		pthread_mutex_lock(&reg_mu);
		list = reg_take(&n);
		free(notes);
		notes = NULL;
		nnotes = capnotes = 0;
		sigemptyset(&wanted);
		cancel_wanted = 0;
		pthread_mutex_unlock(&reg_mu);
	}
	pthread_mutex_unlock(&life_mu);
	for (size_t i = 0; i < n; i++)
		ctx_unref(list[i]);
	free(list);
}
