/* SPDX-License-Identifier: MIT */
/*
 * oom.c - the one out-of-memory policy, for every layer: the thread that
 * could not allocate prints "cspipe: STAGE: out of memory", the temporary
 * files of file outputs are removed (the targets were never touched), and
 * the process exits 1, a runtime error like any other.  Nothing here
 * allocates: the handler runs when nothing can.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "core/oom.h"
#include "csp/csp.h"

#define OOM_FILES 256

static _Thread_local const char *stage_name;
static _Atomic(const char *) temp_files[OOM_FILES];

static void put(const char *s)
{
	(void)!write(STDERR_FILENO, s, strlen(s));
}

/* Runs on the thread that failed; the others go on until _exit, which the
 * caller does next.  write and unlink do not allocate. */
static void oom_handler(void)
{
	const char *name = stage_name;

	put("cspipe: ");
	if (name) {
		put(name);
		put(": ");
	}
	put("out of memory\n");
	for (size_t i = 0; i < OOM_FILES; i++) {
		const char *p = atomic_load(&temp_files[i]);
		if (p)
			unlink(p);
	}
}

void oom_install(void)
{
	csp_on_oom(oom_handler);
}

void oom_set_stage(const char *name)
{
	stage_name = name;
}

int oom_remember(const char *path)
{
	for (size_t i = 0; i < OOM_FILES; i++) {
		const char *none = NULL;
		if (atomic_compare_exchange_strong(&temp_files[i], &none, path))
			return 0;
	}
	return -1;
}

void oom_forget(const char *path)
{
	for (size_t i = 0; i < OOM_FILES; i++) {
		const char *p = path;
		if (atomic_compare_exchange_strong(&temp_files[i], &p, NULL))
			return;
	}
}
