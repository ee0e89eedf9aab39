/* SPDX-License-Identifier: MIT */
/*
 * csp.c - result names and the out-of-memory policy.
 */
#include "csp/csp.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *csp_strerror(int result)
{
	switch (result) {
	case CSP_OK: return "ok";
	case CSP_CLOSED: return "closed";
	case CSP_CANCELED: return "context canceled";
	case CSP_DEADLINE: return "deadline exceeded";
	case CSP_WOULDBLOCK: return "would block";
	case CSP_INVALID: return "invalid operation";
	case CSP_OPEN: return "circuit breaker open";
	}
	return "unknown result";
}

static void (*_Atomic oom_handler)(void);

void csp_on_oom(void (*handler)(void))
{
	oom_handler = handler;
}

/* The runtime has no partial-failure paths for allocation: a process that
 * cannot get a few hundred bytes cannot drain a pipeline cleanly either.
 * It ends as a runtime error (exit 1), not with SIGABRT: out of memory is
 * a condition of the machine, not a bug. */
_Noreturn void csp_oom(void)
{
	static const char msg[] = "cspipe: out of memory\n";
	void (*h)(void) = oom_handler;

	if (h)
		h();
	else    /* stdio could itself allocate; a bare write cannot. */
		(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
	_exit(1);
}

void *csp_malloc(unsigned long size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		csp_oom();
	return p;
}

void *csp_calloc(unsigned long n, unsigned long size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		csp_oom();
	return p;
}

void *csp_realloc(void *p, unsigned long size)
{
	void *q = realloc(p, size ? size : 1);

	if (!q)
		csp_oom();
	return q;
}

char *csp_strdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(csp_malloc(n), s, n);
}
