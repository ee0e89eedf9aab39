/* SPDX-License-Identifier: MIT */
/*
 * stats.c - the --stats table and JSON, and the bottleneck verdict.
 */
#include <stdlib.h>
#include <string.h>

#include "core/pipeline.h"
#include "core/stage.h"
#include "core/stats.h"

/*
 * The stage that limits throughput is the one whose workers are busiest
 * (time in process over workers times elapsed) while the stages around it
 * wait on it: its writers blocked on its full input, or its readers on its
 * empty output.  With nobody waiting, nothing limits the others, and the
 * verdict is the busiest stage only if it was busy most of the run.
 */
void report_verdict(struct run_report *r)
{
	double best = 0;
	size_t besti = 0;

	r->bottleneck = NULL;
	if (r->elapsed_s <= 0)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct stage_report *s = &r->stages[i];
		double util = (double)s->busy_ns / 1e9 / (s->workers * r->elapsed_s);
		double waited = 0;

		s->bottleneck = 0;
		for (size_t j = 0; j < r->n; j++) {
			const struct stage *o = r->stages[j].st;
			for (size_t k = 0; k < o->ninputs; k++)
				if (o->inputs[k] == s->st)
					waited += (double)r->stages[j].wait_in_ns / 1e9;
			for (size_t k = 0; k < s->st->ninputs; k++)
				if (s->st->inputs[k] == o)
					waited += (double)r->stages[j].wait_out_ns / 1e9;
		}
		double score = util * (1.0 + waited / r->elapsed_s);
		if (score > best) {
			best = score;
			besti = i;
		}
	}
	if (best >= 0.5) {
		r->stages[besti].bottleneck = 1;
		r->bottleneck = r->stages[besti].st->name;
	}
}

/* The table: one line per stage, then the totals and the verdict. */
void stats_print_table(FILE *f, const struct run_report *r)
{
	size_t w = 5;

	for (size_t i = 0; i < r->n; i++) {
		size_t l = strlen(r->stages[i].st->name);
		if (l > w)
			w = l;
	}
	fprintf(f, "%-*s %-10s %4s %11s %11s %10s %8s %10s %10s %8s %8s %8s\n", (int)w,
		"stage", "kind", "wrk", "rec in", "rec out", "filtered", "dropped", "bytes in",
		"bytes out", "busy", "wait in", "wait out");
	for (size_t i = 0; i < r->n; i++) {
		const struct stage_report *s = &r->stages[i];
		char bi[32], bo[32];
		format_size_human(bi, sizeof bi, s->bytes_in, 0);
		format_size_human(bo, sizeof bo, s->bytes_out, 0);
		fprintf(f, "%-*s %-10s %4d %11llu %11llu %10llu %8llu %10s %10s %7.2fs %7.2fs %7.2fs%s\n",
			(int)w, s->st->name, s->st->kind->name, s->workers,
			(unsigned long long)s->rec_in, (unsigned long long)s->rec_out,
			(unsigned long long)s->filtered, (unsigned long long)s->dropped, bi, bo,
			(double)s->busy_ns / 1e9, (double)s->wait_in_ns / 1e9,
			(double)s->wait_out_ns / 1e9, s->bottleneck ? "  <- bottleneck" : "");
		if (s->workers_auto) {
			fprintf(f, "%-*s   workers: auto, 1", (int)w, "");
			for (int k = 0; k < s->nchanges; k++)
				fprintf(f, ", %d at %.2fs", s->changes[k].workers, s->changes[k].at_s);
			if (s->nchanges_all > s->nchanges)
				fprintf(f, ", ... (%d changes), %d at the end", s->nchanges_all,
					s->workers);
			fprintf(f, "\n");
		}
		if (s->nworker_recs > 1) {
			fprintf(f, "%-*s   records per worker:", (int)w, "");
			for (int k = 0; k < s->nworker_recs && k < 64; k++)
				fprintf(f, " %llu", (unsigned long long)s->worker_recs[k]);
			fprintf(f, s->nworker_recs > 64 ? " ...\n" : "\n");
		}
		if (s->nextra) {
			fprintf(f, "%-*s  ", (int)w, "");
			for (size_t k = 0; k < s->nextra; k++)
				fprintf(f, " %s %llu%s", s->extra[k].name,
					(unsigned long long)s->extra[k].value,
					k + 1 < s->nextra ? "," : "\n");
		}
	}
	fprintf(f, "total: read %llu, written %llu, filtered %llu, dropped %llu, created %llu; "
		"%.3f s; %s%s\n", (unsigned long long)r->read, (unsigned long long)r->written,
		(unsigned long long)r->filtered, (unsigned long long)r->dropped,
		(unsigned long long)r->created, r->elapsed_s, r->bottleneck ? "bottleneck: " :
		"no bottleneck", r->bottleneck ? r->bottleneck : "");
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* One JSON object on one line; every field is documented in cspipe(1). */
void stats_print_json(FILE *f, const struct run_report *r)
{
	fprintf(f, "{\"pipeline\":");
	json_string(f, r->p->name ? r->p->name : "");
	fprintf(f, ",\"outcome\":\"%s\",\"exit_code\":%d,\"elapsed_s\":%.6f,"
		"\"records_read\":%llu,\"records_written\":%llu,\"records_filtered\":%llu,"
		"\"records_dropped\":%llu,\"records_created\":%llu,\"bottleneck\":",
		r->outcome, r->exit_code, r->elapsed_s, (unsigned long long)r->read,
		(unsigned long long)r->written, (unsigned long long)r->filtered,
		(unsigned long long)r->dropped, (unsigned long long)r->created);
	if (r->bottleneck)
		json_string(f, r->bottleneck);
	else
		fprintf(f, "null");
	fprintf(f, ",\"stages\":[");
	for (size_t i = 0; i < r->n; i++) {
		const struct stage_report *s = &r->stages[i];
		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_string(f, s->st->name);
		fprintf(f, ",\"kind\":\"%s\",\"workers\":%d,\"buffer\":%lld,\"implicit\":%s,"
			"\"records_in\":%llu,\"records_out\":%llu,\"filtered\":%llu,"
			"\"dropped\":%llu,\"created\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
			"\"batches\":%llu,\"busy_s\":%.6f,\"wait_input_s\":%.6f,"
			"\"wait_output_s\":%.6f,\"bottleneck\":%s,\"from\":[",
			s->st->kind->name, s->workers, (long long)s->st->buffer,
			s->st->implicit ? "true" : "false",
			(unsigned long long)s->rec_in, (unsigned long long)s->rec_out,
			(unsigned long long)s->filtered, (unsigned long long)s->dropped,
			(unsigned long long)s->created, (unsigned long long)s->bytes_in,
			(unsigned long long)s->bytes_out, (unsigned long long)s->batches,
			(double)s->busy_ns / 1e9, (double)s->wait_in_ns / 1e9,
			(double)s->wait_out_ns / 1e9, s->bottleneck ? "true" : "false");
		for (size_t k = 0; k < s->st->ninputs; k++) {
			const struct stage *in = s->st->inputs[k];
			int port = s->st->input_ports[k];
			fprintf(f, "%s", k ? "," : "");
			if (in->nports) {
				char ref[512];
				snprintf(ref, sizeof ref, "%s.%s", in->name, in->ports[port]);
				json_string(f, ref);
			} else {
				json_string(f, in->name);
			}
		}
		fprintf(f, "],\"worker_records\":[");
		for (int k = 0; k < s->nworker_recs; k++)
			fprintf(f, "%s%llu", k ? "," : "", (unsigned long long)s->worker_recs[k]);
		fprintf(f, "],\"workers_auto\":%s,\"worker_changes\":[",
			s->workers_auto ? "true" : "false");
		for (int k = 0; k < s->nchanges; k++)
			fprintf(f, "%s{\"at_s\":%.3f,\"workers\":%d}", k ? "," : "",
				s->changes[k].at_s, s->changes[k].workers);
		fprintf(f, "],\"worker_changes_total\":%d", s->nchanges_all);
		if (s->nextra) {
			fprintf(f, ",\"counters\":{");
			for (size_t k = 0; k < s->nextra; k++) {
				fprintf(f, "%s", k ? "," : "");
				json_string(f, s->extra[k].name);
				fprintf(f, ":%llu", (unsigned long long)s->extra[k].value);
			}
			fprintf(f, "}");
		}
		fprintf(f, "}");
	}
	fprintf(f, "]}\n");
}

void report_free(struct run_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->stages[i].worker_recs);
		free(r->stages[i].changes);
		free(r->stages[i].extra);
	}
	free(r->stages);
	r->stages = NULL;
	r->n = 0;
}
