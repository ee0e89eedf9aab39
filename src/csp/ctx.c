/* SPDX-License-Identifier: MIT */
/*
 * ctx.c - contexts: a tree of cancellation, deadlines and values.
 *
 * Each context has a small lock that guards its list of children, the
 * lazy creation of its done channel and the moment it is cancelled.  Its
 * error is an atomic written once under that lock (after the cause), so
 * that ctx_err and the channel calls read it without locking.
 *
 * Lifetime is a reference count: the caller's handle (dropped by
 * ctx_release), one for being in the parent's list of children, and one
 * that every child holds on its parent for its whole life, so that a
 * child's parent pointer, deadline owner and inherited cause message stay
 * valid however the two are released.  Cancelling walks the subtree with
 * an explicit work list, holding one lock at a time, so neither a wide nor
 * a deep tree costs stack.  ctx_cancel returns once every descendant is
 * cancelled; meanwhile, as in Go, another thread may see a context's done
 * channel closed a moment before its children's.
 */
#include "csp/ctx.h"
#include "csp/chan.h"
#include "csp/clock.h"
#include "csp/csp.h"
#include "csp/wait.h"

#include <sched.h>
#include <stdlib.h>

static const char msg_canceled[] = "context canceled";
static const char msg_deadline[] = "context deadline exceeded";

struct ctx {
	struct csp_lock lock;
	atomic_int err;             /* 0 while live; set once, under lock */
	atomic_int refs;
	int code;                   /* the cause, written before err */
	const char *msg;            /* own_msg, a static default or an ancestor's */
	char *own_msg;
	struct chan *_Atomic done;  /* created on first use, under lock */
	struct ctx *parent;         /* NULL under the background */
	struct ctx *dl_owner;       /* the context whose deadline `deadline` is */
	int64_t deadline;           /* earliest in the ancestry; 0: none */
	const void *key;
	void *value;
	int has_value;
	/* Children in the list each hold one reference, the list's. */
	struct ctx *children;
	size_t nchildren;
	struct ctx *sib_prev, *sib_next; /* guarded by the parent's lock */
	int linked;                 /* in the parent's list; parent's lock */
	struct ctx *cancel_next;    /* work list of the cancel that unlinked it */
	struct ctx_func *funcs;     /* ctx_after_func's, not yet run; under lock */
	void (*on_release)(struct ctx *c);  /* ctx_on_release's, or NULL */
};

/*
 * A function to call on cancellation.  Two references: the context's list
 * (handed to the canceller when it takes the list) and the caller's handle
 * (dropped by ctx_stop_func).  state says whether fn may still run, so
 * that a stop racing a cancel decides exactly once.
 */
enum { FUNC_PENDING, FUNC_RUNNING, FUNC_DONE, FUNC_STOPPED };
struct ctx_func {
	void (*fn)(void *);
	void *arg;
	atomic_int state;
	atomic_int refs;
	int linked;                 /* in the context's list; its lock */
	struct ctx_func *next, *prev;
};

/* Never cancelled, never freed; its zero fields say so. */
static struct ctx background;

int ctx_is_background(struct ctx *c)
{
	return !c || c == &background;
}

struct ctx *ctx_background(void)
{
	return &background;
}

void ctx_ref(struct ctx *c)
{
	if (!ctx_is_background(c))
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

/* Drop n references; the last frees c and drops c's reference on its
 * parent, and so on up (a loop, not recursion: chains may be long). */
static void ctx_unref_n(struct ctx *c, int n)
{
	struct ctx *parent;

	while (!ctx_is_background(c)) {
		if (atomic_fetch_sub_explicit(&c->refs, n,
					      memory_order_acq_rel) != n)
			return;
		parent = c->parent;
		chan_free(atomic_load_explicit(&c->done, memory_order_relaxed));
		while (c->funcs) {
			struct ctx_func *f = c->funcs;
			c->funcs = f->next;
			free(f);
		}
		free(c->own_msg);
		free(c);
		c = parent;
		n = 1;
	}
}

void ctx_unref(struct ctx *c)
{
	ctx_unref_n(c, 1);
}

int ctx_err_fast(struct ctx *c)
{
	return c ? atomic_load_explicit(&c->err, memory_order_acquire) : 0;
}

/* Set c's cause and error and close its done channel; c's lock is held
 * and c is live. */
static void mark_canceled(struct ctx *c, int err, int code, const char *msg)
{
	struct chan *done;

	c->code = code;
	c->msg = msg;
	atomic_store_explicit(&c->err, err, memory_order_release);
	done = atomic_load_explicit(&c->done, memory_order_relaxed);
	if (done)
		chan_close(done);
}

/* Take c's after-functions (c locked): the caller runs them unlocked. */
static struct ctx_func *take_funcs(struct ctx *c)
{
	struct ctx_func *list = c->funcs;

	for (struct ctx_func *f = list; f; f = f->next)
		f->linked = 0;
	c->funcs = NULL;
	return list;
}

static void func_unref(struct ctx_func *f)
{
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
		free(f);
}

/* Run the functions of a cancelled context, unless stopped meanwhile. */
static void run_funcs(struct ctx_func *f)
{
	while (f) {
		struct ctx_func *next = f->next;
		int expect = FUNC_PENDING;
		if (atomic_compare_exchange_strong(&f->state, &expect, FUNC_RUNNING)) {
			f->fn(f->arg);
			atomic_store_explicit(&f->state, FUNC_DONE, memory_order_release);
		}
		func_unref(f);
		f = next;
	}
}

/* Move c's children (c locked) onto the work list, with the list's
 * reference on each: from now on only the caller touches their links. */
static struct ctx *take_children(struct ctx *c, struct ctx *work)
{
	struct ctx *k, *next;

	for (k = c->children; k; k = next) {
		next = k->sib_next;
		k->sib_prev = k->sib_next = NULL;
		k->linked = 0;
		k->cancel_next = work;
		work = k;
	}
	c->children = NULL;
	c->nchildren = 0;
	return work;
}

/*
 * Cancel root and its whole subtree with one cause.  The first
 * cancellation of a context wins; a later one does nothing to it.  msg is
 * copied when copy is set (else it must be static).  Descendants share
 * root's message: they hold references up to root, so it outlives them.
 */
static void cancel_tree(struct ctx *root, int err, int code, const char *msg,
			int copy)
{
	struct ctx *work, *c;
	struct ctx_func *funcs;
	char *own;

	/* err is never reset: a context already cancelled needs no lock. */
	if (atomic_load_explicit(&root->err, memory_order_relaxed))
		return;
	own = copy ? csp_strdup(msg) : NULL;
	csp_lock(&root->lock);
	if (atomic_load_explicit(&root->err, memory_order_relaxed)) {
		csp_unlock(&root->lock);
		free(own);
		return;
	}
	if (own)
		root->own_msg = own;
	msg = own ? own : msg;
	mark_canceled(root, err, code, msg);
	work = take_children(root, NULL);
	funcs = take_funcs(root);
	csp_unlock(&root->lock);
	run_funcs(funcs);

	while ((c = work) != NULL) {
		work = c->cancel_next;
		csp_lock(&c->lock);
		if (!atomic_load_explicit(&c->err, memory_order_relaxed))
			mark_canceled(c, err, code, msg);
		work = take_children(c, work);
		funcs = take_funcs(c);
		csp_unlock(&c->lock);
		run_funcs(funcs);
		ctx_unref(c);
	}
}

/* A new context under parent, not yet in its list (see attach). */
static struct ctx *ctx_new(struct ctx *parent)
{
	struct ctx *c = csp_calloc(1, sizeof *c);

	atomic_init(&c->refs, 1);
	if (ctx_is_background(parent))
		return c;
	c->parent = parent;
	c->deadline = parent->deadline;
	c->dl_owner = parent->dl_owner;
	ctx_ref(parent);
	return c;
}

/* Put c in its parent's list, or cancel it at once with the parent's
 * cause if the parent is already cancelled.  Returns c. */
static struct ctx *attach(struct ctx *c)
{
	struct ctx *p = c->parent;
	int err;

	if (!p)
		return c;
	csp_lock(&p->lock);
	err = atomic_load_explicit(&p->err, memory_order_relaxed);
	if (err) {
		/* Nobody else can see c yet: no need for its lock. */
		c->code = p->code;
		c->msg = p->msg;
		atomic_store_explicit(&c->err, err, memory_order_release);
	} else {
		c->sib_next = p->children;
		if (p->children)
			p->children->sib_prev = c;
		p->children = c;
		p->nchildren++;
		c->linked = 1;
		/* Nobody else holds c yet: a plain store of both references
		 * (the caller's and the list's), published by the unlock. */
		atomic_store_explicit(&c->refs, 2, memory_order_relaxed);
	}
	csp_unlock(&p->lock);
	return c;
}

/* The ctx_with_* calls never return NULL (out of memory aborts); the
 * caller owns the result and must ctx_release it. */
struct ctx *ctx_with_cancel(struct ctx *parent)
{
	return attach(ctx_new(parent));
}

struct ctx *ctx_with_deadline(struct ctx *parent, int64_t deadline)
{
	struct ctx *c = ctx_new(parent);

	if (!c->deadline || deadline < c->deadline) {
		c->deadline = deadline;
		c->dl_owner = c;
	}
	attach(c);
	if (c->dl_owner == c && csp_now() >= deadline)
		cancel_tree(c, CSP_DEADLINE, CSP_DEADLINE, msg_deadline, 0);
	return c;
}

struct ctx *ctx_with_timeout(struct ctx *parent, int64_t timeout_ns)
{
	return ctx_with_deadline(parent, csp_now() + timeout_ns);
}

struct ctx *ctx_with_value(struct ctx *parent, const void *key, void *value)
{
	struct ctx *c = ctx_new(parent);

	c->key = key;
	c->value = value;
	c->has_value = 1;
	return attach(c);
}

void ctx_cancel(struct ctx *c)
{
	if (!ctx_is_background(c))
		cancel_tree(c, CSP_CANCELED, CSP_CANCELED, msg_canceled, 0);
}

/* err other than CSP_DEADLINE counts as CSP_CANCELED; msg NULL takes the
 * default text for err.  Nothing happens to the background. */
void ctx_cancel_cause(struct ctx *c, int err, int code, const char *msg)
{
	if (ctx_is_background(c))
		return;
	if (err != CSP_DEADLINE)
		err = CSP_CANCELED;
	if (msg)
		cancel_tree(c, err, code, msg, 1);
	else
		cancel_tree(c, err, code,
			    err == CSP_DEADLINE ? msg_deadline : msg_canceled,
			    0);
}

/*
 * Cancel c (CSP_CANCELED, unless it already ended), take it out of its
 * parent's list and drop the caller's handle.  c's memory lives on while
 * a child still refers to it; the caller must not use c again.
 */
void ctx_on_release(struct ctx *c, void (*fn)(struct ctx *c))
{
	c->on_release = fn;
}

void ctx_release(struct ctx *c)
{
	struct ctx *p;
	int unlinked = 0;

	if (ctx_is_background(c))
		return;
	if (c->on_release)
		c->on_release(c);
	ctx_cancel(c);
	p = c->parent;
	if (p) {
		csp_lock(&p->lock);
		if (c->linked) {
			if (c->sib_prev)
				c->sib_prev->sib_next = c->sib_next;
			else
				p->children = c->sib_next;
			if (c->sib_next)
				c->sib_next->sib_prev = c->sib_prev;
			c->sib_prev = c->sib_next = NULL;
			c->linked = 0;
			p->nchildren--;
			unlinked = 1;
		}
		csp_unlock(&p->lock);
	}
	ctx_unref_n(c, unlinked ? 2 : 1);
}

/*
 * A wait under c reached its deadline (or a caller saw it pass): cancel
 * the context that owns the deadline, which cancels c too.  If another
 * thread's cancellation of an ancestor is still on its way down to c,
 * cancel c now with the owner's cause rather than report it live.
 * Returns c's error (never 0 for a context with a deadline).
 */
int ctx_expire(struct ctx *c)
{
	struct ctx *owner;
	int err;

	if (ctx_is_background(c) || !c->dl_owner)
		return ctx_err_fast(c);
	owner = c->dl_owner;
	cancel_tree(owner, CSP_DEADLINE, CSP_DEADLINE, msg_deadline, 0);
	err = atomic_load_explicit(&c->err, memory_order_acquire);
	if (!err && c != owner) {
		err = atomic_load_explicit(&owner->err, memory_order_acquire);
		cancel_tree(c, err, owner->code, owner->msg, 1);
		err = atomic_load_explicit(&c->err, memory_order_acquire);
	}
	return err;
}

static int deadline_passed(struct ctx *c)
{
	return c->deadline && csp_now() >= c->deadline;
}

int ctx_err(struct ctx *c)
{
	int err;

	if (ctx_is_background(c))
		return 0;
	err = atomic_load_explicit(&c->err, memory_order_acquire);
	if (!err && deadline_passed(c))
		err = ctx_expire(c);
	return err;
}

/* Returns the cause code, 0 while live (or when the canceller gave 0);
 * *msg is NULL while live. */
int ctx_cause(struct ctx *c, const char **msg)
{
	if (msg)
		*msg = NULL;
	if (!ctx_err(c))
		return 0;
	if (msg)
		*msg = c->msg;
	return c->code;
}

/* Created on first use, already closed if c has ended.  The channel
 * belongs to c: never close or free it. */
struct chan *ctx_done(struct ctx *c)
{
	struct chan *done;

	if (ctx_is_background(c))
		return NULL;
	if (!atomic_load_explicit(&c->err, memory_order_relaxed) &&
	    deadline_passed(c))
		ctx_expire(c);
	done = atomic_load_explicit(&c->done, memory_order_acquire);
	if (done)
		return done;
	csp_lock(&c->lock);
	done = atomic_load_explicit(&c->done, memory_order_relaxed);
	if (!done) {
		done = chan_new(0, 0);
		if (atomic_load_explicit(&c->err, memory_order_relaxed))
			chan_close(done);
		atomic_store_explicit(&c->done, done, memory_order_release);
	}
	csp_unlock(&c->lock);
	return done;
}

int64_t ctx_deadline(struct ctx *c)
{
	return ctx_is_background(c) ? 0 : c->deadline;
}

void *ctx_value(struct ctx *c, const void *key)
{
	for (; !ctx_is_background(c); c = c->parent)
		if (c->has_value && c->key == key)
			return c->value;
	return NULL;
}

size_t ctx_child_count(struct ctx *c)
{
	size_t n;

	if (ctx_is_background(c))
		return 0;
	csp_lock(&c->lock);
	n = c->nchildren;
	csp_unlock(&c->lock);
	return n;
}

/*
 * Go's context.AfterFunc; see ctx.h.  Never fails (out of memory aborts).
 * For the background, fn never runs and the handle only waits to be
 * stopped.
 */
struct ctx_func *ctx_after_func(struct ctx *c, void (*fn)(void *), void *arg)
{
	struct ctx_func *f = csp_calloc(1, sizeof *f);

	f->fn = fn;
	f->arg = arg;
	atomic_init(&f->state, FUNC_PENDING);
	atomic_init(&f->refs, 2);
	if (ctx_is_background(c))
		return f;
	if (!ctx_err(c)) {
		csp_lock(&c->lock);
		if (!atomic_load_explicit(&c->err, memory_order_relaxed)) {
			f->next = c->funcs;
			if (c->funcs)
				c->funcs->prev = f;
			c->funcs = f;
			f->linked = 1;
			csp_unlock(&c->lock);
			return f;
		}
		csp_unlock(&c->lock);
	}
	free(f);
	fn(arg);
	return NULL;
}

/*
 * Stop f from running; see ctx.h.  Returns 1 if fn will never run, 0 if
 * it ran (having waited for it to return when it was running).
 */
int ctx_stop_func(struct ctx *c, struct ctx_func *f)
{
	int expect = FUNC_PENDING;
	int stopped;

	if (!f)
		return 0;
	if (!ctx_is_background(c)) {
		csp_lock(&c->lock);
		if (f->linked) {
			if (f->prev)
				f->prev->next = f->next;
			else
				c->funcs = f->next;
			if (f->next)
				f->next->prev = f->prev;
			f->linked = 0;
			csp_unlock(&c->lock);
			free(f);
			return 1;
		}
		csp_unlock(&c->lock);
	} else {
		free(f);
		return 1;
	}
	/* A canceller holds it: decide with the state, then let go. */
	stopped = atomic_compare_exchange_strong(&f->state, &expect, FUNC_STOPPED);
	if (!stopped)
		while (atomic_load_explicit(&f->state, memory_order_acquire) != FUNC_DONE)
			sched_yield();
	func_unref(f);
	return stopped;
}
