/* SPDX-License-Identifier: MIT */
/*
 * progress.h - the live view on a terminal (--progress).
 */
#ifndef CSPIPE_PROGRESS_H
#define CSPIPE_PROGRESS_H

#include <stdio.h>

#include "csp/clock.h"

struct run_report;
struct progress;

/* Redraw period. */
#define PROGRESS_INTERVAL (200 * CSP_NS_PER_MS)

/* A view on f; NULL when f is not a terminal and force is 0. */
struct progress *progress_new(FILE *f, int force);
void progress_draw(struct progress *pg, const struct run_report *r);
void progress_clear(struct progress *pg);   /* remove what was drawn */
void progress_free(struct progress *pg);

#endif
