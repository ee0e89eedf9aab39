/* SPDX-License-Identifier: MIT */
/*
 * progress.c - the live view: one line per stage, redrawn in place.
 *
 * Rates are differences between two reports, so drawing costs nothing on
 * the workers' side: they only keep the counters they keep anyway.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csp/csp.h"
#include "core/progress.h"
#include "core/stage.h"
#include "core/stats.h"

struct progress {
	FILE *f;
	int lines;              /* lines drawn last time */
	double last_t;
	size_t n;
	uint64_t *last_in, *last_out, *last_bin, *last_bout;
};

struct progress *progress_new(FILE *f, int force)
{
	struct progress *pg;

	if (!force && !isatty(fileno(f)))
		return NULL;
	pg = csp_calloc(1, sizeof *pg);
	pg->f = f;
	return pg;
}

static void rate(char *out, size_t n, double v, const char *unit)
{
	if (v >= 1e9)
		snprintf(out, n, "%.1fG%s", v / 1e9, unit);
	else if (v >= 1e6)
		snprintf(out, n, "%.1fM%s", v / 1e6, unit);
	else if (v >= 1e3)
		snprintf(out, n, "%.1fk%s", v / 1e3, unit);
	else
		snprintf(out, n, "%.0f%s", v, unit);
}

/* Draw r over what was drawn before. */
void progress_draw(struct progress *pg, const struct run_report *r)
{
	double dt;
	size_t w = 5;

	if (!pg)
		return;
	if (pg->n != r->n) {
		free(pg->last_in);
		free(pg->last_out);
		free(pg->last_bin);
		free(pg->last_bout);
		pg->n = r->n;
		pg->last_in = csp_calloc(r->n, sizeof *pg->last_in);
		pg->last_out = csp_calloc(r->n, sizeof *pg->last_out);
		pg->last_bin = csp_calloc(r->n, sizeof *pg->last_bin);
		pg->last_bout = csp_calloc(r->n, sizeof *pg->last_bout);
		pg->last_t = 0;
	}
	dt = r->elapsed_s - pg->last_t;
	if (dt <= 0)
		dt = 1e-3;
	for (size_t i = 0; i < r->n; i++) {
		size_t l = strlen(r->stages[i].st->name);
		if (l > w)
			w = l;
	}
	if (pg->lines)
		fprintf(pg->f, "\r\033[%dA", pg->lines);
	fprintf(pg->f, "\r\033[K%-*s %-10s %9s %9s %9s %9s %5s  %-12s %.1fs\n", (int)w, "stage",
		"kind", "rec/s in", "B/s in", "rec/s out", "B/s out", "busy", "output",
		r->elapsed_s);
	for (size_t i = 0; i < r->n; i++) {
		const struct stage_report *s = &r->stages[i];
		char ri[16], bi[16], ro[16], bo[16], bar[16];
		int fill = s->out_cap ? (int)(10 * s->out_len / s->out_cap) : (s->out_len ? 10 : 0);

		rate(ri, sizeof ri, (double)(s->rec_in - pg->last_in[i]) / dt, "");
		rate(bi, sizeof bi, (double)(s->bytes_in - pg->last_bin[i]) / dt, "B");
		rate(ro, sizeof ro, (double)(s->rec_out - pg->last_out[i]) / dt, "");
		rate(bo, sizeof bo, (double)(s->bytes_out - pg->last_bout[i]) / dt, "B");
		for (int k = 0; k < 10; k++)
			bar[k] = k < fill ? '#' : '.';
		bar[10] = '\0';
		fprintf(pg->f, "\033[K%-*s %-10s %9s %9s %9s %9s %2d/%-2d%s [%s] %s\n", (int)w,
			s->st->name, s->st->kind->name, ri, bi, ro, bo, s->busy_workers, s->workers,
			s->workers_auto ? "a" : " ",
			s->st->kind->role == ROLE_SINK ? "    sink  " : bar,
			s->bottleneck ? "<- bottleneck" : "");
		pg->last_in[i] = s->rec_in;
		pg->last_out[i] = s->rec_out;
		pg->last_bin[i] = s->bytes_in;
		pg->last_bout[i] = s->bytes_out;
	}
	pg->lines = (int)r->n + 1;
	pg->last_t = r->elapsed_s;
	fflush(pg->f);
}

/* Remove the view, leaving the cursor where it was before the first draw. */
void progress_clear(struct progress *pg)
{
	if (!pg || !pg->lines)
		return;
	fprintf(pg->f, "\r\033[%dA\033[J", pg->lines);
	fflush(pg->f);
	pg->lines = 0;
}

void progress_free(struct progress *pg)
{
	if (!pg)
		return;
	free(pg->last_in);
	free(pg->last_out);
	free(pg->last_bin);
	free(pg->last_bout);
	free(pg);
}
