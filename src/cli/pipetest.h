/* SPDX-License-Identifier: MIT */
/*
 * pipetest.h - `cspipe test`: a pipeline file's tests: cases.
 */
#ifndef CSPIPE_PIPETEST_H
#define CSPIPE_PIPETEST_H

#include <stddef.h>

struct node;
struct pipeline;
struct diags;
struct tcase;
struct stage_registry;

/* Check root's tests: section against p (positioned diagnostics); with
 * cases non-NULL, also return the cases (free the array).  0, or -1. */
int pipetest_check(const struct node *root, const struct pipeline *p,
		   struct tcase **cases, size_t *ncases, struct diags *d);

/* Run every case of every file, with these stage kinds; returns the
 * exit status. */
int pipetest_main(const struct stage_registry *kinds, const char *const *files,
		  size_t nfiles);

#endif
