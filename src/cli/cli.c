/* SPDX-License-Identifier: MIT */
/*
 * cli.c - the command line: parse argv, pick the subcommand.
 *
 *   cspipe run [-o FILE] [-s STAGE.KEY=VALUE]... [-t DURATION]
 *              [--stats[=json|=json:FILE]] [--stats-interval DURATION]
 *              [--metrics-addr HOST:PORT]
 *              [--progress[=always]] PIPELINE|-e YAML [INPUT...]
 *   cspipe validate [--max-memory SIZE] PIPELINE|-e YAML
 *   cspipe graph [--stats=FILE.json] PIPELINE|-e YAML
 *   cspipe test PIPELINE...
 *   cspipe stages [KIND]
 *   cspipe --version | --help | help COMMAND
 *
 * Usage errors exit 2 with one line saying what was wrong.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/pipetest.h"
#include "csp/csp.h"
#include "core/dot.h"
#include "core/engine.h"
#include "core/graph.h"
#include "pipeline/spec.h"
#include "core/stage.h"
#include "base/util.h"

#ifndef CSPIPE_VERSION
#define CSPIPE_VERSION "0.1.0"
#endif

static const char usage_main[] =
	"usage: cspipe COMMAND [ARGS]\n"
	"\n"
	"Run pipelines of stages joined by channels, described in YAML.\n"
	"\n"
	"commands:\n"
	"  run PIPELINE [INPUT...]   run a pipeline (INPUT files replace its source)\n"
	"  validate PIPELINE         check a pipeline file; print its memory bound\n"
	"  graph PIPELINE            print the stage graph as Graphviz DOT\n"
	"  test PIPELINE...          run the pipeline files' tests: cases\n"
	"  stages [KIND]             list the stage kinds, or one kind's options\n"
	"  help COMMAND              show a command's options\n"
	"\n"
	"  --version                 print the version\n"
	"  --help                    print this help\n"
	"\n"
	"See cspipe(1) and cspipe-pipeline(5).\n";

static const char usage_run[] =
	"usage: cspipe run [OPTIONS] PIPELINE [INPUT...]\n"
	"       cspipe run [OPTIONS] -e YAML [INPUT...]\n"
	"\n"
	"  -e YAML              run an inline pipeline instead of a file\n"
	"  -o FILE              write to FILE instead of the pipeline's sink\n"
	"  -s STAGE.KEY=VALUE   set an option of a stage (VALUE is YAML);\n"
	"                       -s KEY=VALUE sets a top-level key\n"
	"  -t DURATION          deadline for the run (e.g. 30s), exit 124 when it passes\n"
	"  --stats              print per-stage statistics on stderr at exit\n"
	"  --stats=json         the same as one JSON object\n"
	"  --stats=json:FILE    write the JSON object to FILE (atomically), whatever\n"
	"                       the outcome\n"
	"  --stats-interval DURATION  rewrite that FILE this often during the run\n"
	"  --metrics-addr HOST:PORT   serve /metrics (Prometheus), /healthz and /stats\n"
	"                       (port 0: any free port, printed on stderr)\n"
	"  --progress           live view on stderr when it is a terminal\n"
	"  --progress=always    live view even when stderr is not a terminal\n";

static const char usage_validate[] =
	"usage: cspipe validate [--max-memory SIZE] PIPELINE\n"
	"       cspipe validate [--max-memory SIZE] -e YAML\n"
	"\n"
	"Check the file (exit 0, or 2 with every error positioned) and print the\n"
	"most memory the pipeline can hold; warn when it exceeds SIZE (default 1GiB).\n"
	"  -s STAGE.KEY=VALUE   as for run\n";

static const char usage_graph[] =
	"usage: cspipe graph [--stats=FILE.json] PIPELINE\n"
	"       cspipe graph -e YAML\n"
	"\n"
	"Print the stage graph as Graphviz DOT (render with dot -Tsvg).\n"
	"  --stats=FILE.json    draw a finished run's figures (from run --stats=json)\n";

static const char usage_test[] =
	"usage: cspipe test PIPELINE...\n"
	"\n"
	"Run each file's tests: cases (input records in, expected records out,\n"
	"in memory: sinks write nothing); print a diff for each failing case and\n"
	"'N passed, N failed' last.  Exit 0 when every case passed, 1 when one\n"
	"failed, 2 when a file has errors.  A PIPELINE of - is read from stdin.\n";

static const char usage_stages[] =
	"usage: cspipe stages [KIND]\n"
	"\n"
	"List the stage kinds, or the options of one kind with type, default and\n"
	"description.\n";

static int usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cspipe: %s%s", cmd ? cmd : "", cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'cspipe help%s%s'.\n", cmd ? " " : "", cmd ? cmd : "");
	return EXIT_USAGE;
}

/* Options shared by run, validate and graph. */
struct args {
	const char *cmd;
	const char *file;            /* PIPELINE, or NULL with -e */
	const char *inline_yaml;     /* -e */
	const char *output;          /* -o */
	struct override *ov;
	size_t nov;
	int64_t timeout;
	int timeout_set;
	enum stats_mode stats;
	int progress;
	const char *stats_file;      /* graph --stats=FILE; run --stats=json:FILE */
	int64_t stats_interval;      /* run --stats-interval */
	const char *metrics_addr;    /* run --metrics-addr */
	uint64_t max_memory;
	const char **inputs;
	size_t ninputs;
	const struct stage_registry *kinds;
};

static void args_free(struct args *a)
{
	for (size_t i = 0; i < a->nov; i++) {
		free((char *)a->ov[i].stage);
		free((char *)a->ov[i].key);
	}
	free(a->ov);
	free(a->inputs);
}

static int add_override(struct args *a, const char *arg)
{
	const char *eq = strchr(arg, '=');
	const char *dot;
	struct override *o;

	if (!eq || eq == arg)
		return usage_error(a->cmd, "-s expects STAGE.KEY=VALUE, got '%s'", arg);
	a->ov = csp_realloc(a->ov, (a->nov + 1) * sizeof *a->ov);
	o = &a->ov[a->nov++];
	dot = memchr(arg, '.', (size_t)(eq - arg));
	if (dot) {
		o->stage = util_memdup(arg, (size_t)(dot - arg));
		o->key = util_memdup(dot + 1, (size_t)(eq - dot - 1));
	} else {
		o->stage = NULL;
		o->key = util_memdup(arg, (size_t)(eq - arg));
	}
	o->value = eq + 1;
	if (!*o->key || (o->stage && !*o->stage))
		return usage_error(a->cmd, "-s expects STAGE.KEY=VALUE, got '%s'", arg);
	return 0;
}

/*
 * Parse the arguments of run / validate / graph.  Options may come before
 * or after the pipeline, as GNU tools allow; `--` ends them.  Returns 0 or
 * EXIT_USAGE after printing why.
 */
static int parse_args(struct args *a, int argc, char **argv)
{
	int opts_done = 0;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		const char *val = NULL;

		if (opts_done || arg[0] != '-' || !strcmp(arg, "-")) {
			if (!a->file && !a->inline_yaml)
				a->file = arg;
			else {
				a->inputs = csp_realloc(a->inputs, (a->ninputs + 1) * sizeof *a->inputs);
				a->inputs[a->ninputs++] = arg;
			}
			continue;
		}
		if (!strcmp(arg, "--")) {
			opts_done = 1;
			continue;
		}
#define NEEDS_VALUE()                                                                  \
	do {                                                                             \
		if (arg[2]) {                                                            \
			val = arg + 2;                                                   \
		} else if (i + 1 < argc) {                                               \
			val = argv[++i];                                                 \
		} else {                                                                 \
			return usage_error(a->cmd, "option %s needs a value", arg);     \
		}                                                                        \
	} while (0)
		if (!strncmp(arg, "-e", 2) && strcmp(a->cmd, "stages")) {
			NEEDS_VALUE();
			if (a->inline_yaml)
				return usage_error(a->cmd, "-e given twice");
			a->inline_yaml = val;
			if (a->file) {
				/* What looked like the pipeline is an input. */
				a->inputs = csp_realloc(a->inputs, (a->ninputs + 1) * sizeof *a->inputs);
				memmove(a->inputs + 1, a->inputs, a->ninputs * sizeof *a->inputs);
				a->inputs[0] = a->file;
				a->ninputs++;
				a->file = NULL;
			}
		} else if (!strncmp(arg, "-o", 2) && !strcmp(a->cmd, "run")) {
			NEEDS_VALUE();
			a->output = val;
		} else if (!strncmp(arg, "-s", 2) && strcmp(a->cmd, "graph")) {
			NEEDS_VALUE();
			if (add_override(a, val))
				return EXIT_USAGE;
		} else if (!strncmp(arg, "-t", 2) && !strcmp(a->cmd, "run")) {
			const char *why = NULL;
			NEEDS_VALUE();
			/* 0 means no deadline, as in the file and for
			 * timeout(1). */
			if (parse_duration(val, &a->timeout, &why))
				return usage_error(a->cmd, "-t: bad duration '%s': %s", val, why);
			a->timeout_set = 1;
		} else if (!strcmp(arg, "--stats") && !strcmp(a->cmd, "run")) {
			a->stats = STATS_TABLE;
		} else if (!strncmp(arg, "--stats=", 8) && !strcmp(a->cmd, "run")) {
			if (!strcmp(arg + 8, "json"))
				a->stats = STATS_JSON;
			else if (!strncmp(arg + 8, "json:", 5) && arg[13])
				a->stats_file = arg + 13;
			else if (!strcmp(arg + 8, "table"))
				a->stats = STATS_TABLE;
			else
				return usage_error(a->cmd, "--stats takes 'json', 'json:FILE' or "
						   "'table', got '%s'", arg + 8);
		} else if (!strncmp(arg, "--stats", 7) && (arg[7] == '=' || arg[7] == '\0') &&
			   !strcmp(a->cmd, "graph")) {
			/* graph's --stats always names a file: --stats FILE too. */
			if (arg[7] == '=')
				a->stats_file = arg + 8;
			else if (i + 1 < argc)
				a->stats_file = argv[++i];
			else
				return usage_error(a->cmd, "option --stats needs a file");
		} else if (!strncmp(arg, "--stats-interval", 16) &&
			   (arg[16] == '=' || arg[16] == '\0') && !strcmp(a->cmd, "run")) {
			const char *why = NULL;
			if (arg[16] == '=')
				val = arg + 17;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return usage_error(a->cmd, "option --stats-interval needs a value");
			if (parse_duration(val, &a->stats_interval, &why) || a->stats_interval <= 0)
				return usage_error(a->cmd, "--stats-interval: bad duration '%s': %s",
						   val, a->stats_interval <= 0 && !why ?
						   "must be more than 0" : why);
		} else if (!strncmp(arg, "--metrics-addr", 14) &&
			   (arg[14] == '=' || arg[14] == '\0') && !strcmp(a->cmd, "run")) {
			if (arg[14] == '=')
				a->metrics_addr = arg + 15;
			else if (i + 1 < argc)
				a->metrics_addr = argv[++i];
			else
				return usage_error(a->cmd, "option --metrics-addr needs HOST:PORT");
		} else if (!strcmp(arg, "--progress") && !strcmp(a->cmd, "run")) {
			a->progress = 1;
		} else if (!strcmp(arg, "--progress=always") && !strcmp(a->cmd, "run")) {
			a->progress = 2;
		} else if (!strncmp(arg, "--max-memory", 12) && !strcmp(a->cmd, "validate")) {
			const char *why = NULL;
			if (arg[12] == '=')
				val = arg + 13;
			else if (arg[12] == '\0' && i + 1 < argc)
				val = argv[++i];
			else
				return usage_error(a->cmd, "option --max-memory needs a value");
			if (parse_size(val, &a->max_memory, &why))
				return usage_error(a->cmd, "--max-memory: bad size '%s': %s", val, why);
		} else if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			return -1;
		} else {
			return usage_error(a->cmd, "unknown option '%s'", arg);
		}
#undef NEEDS_VALUE
	}
	if (a->stats_interval && !a->stats_file)
		return usage_error(a->cmd, "--stats-interval needs --stats=json:FILE");
	if (!a->file && !a->inline_yaml)
		return usage_error(a->cmd, "no pipeline given (a file, or -e YAML)");
	if (strcmp(a->cmd, "run") && strcmp(a->cmd, "test") && a->ninputs)
		return usage_error(a->cmd, "unexpected argument '%s'", a->inputs[0]);
	return 0;
}

/* Load and validate the pipeline of a; NULL after printing diagnostics. */
static struct pipeline *load(struct args *a, struct spec **specp)
{
	struct diags d = { 0 };
	struct spec *spec;
	struct pipeline *p = NULL;
	struct graph_opts go = { 0 };

	if (a->inline_yaml)
		spec = spec_load_string("-e", a->inline_yaml, strlen(a->inline_yaml), &d);
	else
		spec = spec_load_file(a->file, &d);
	if (spec) {
		go.kinds = a->kinds;
		go.inputs = a->inputs;
		go.ninputs = a->ninputs;
		go.output = a->output;
		go.overrides = a->ov;
		go.noverrides = a->nov;
		go.timeout = a->timeout;
		go.timeout_set = a->timeout_set;
		p = pipeline_load(spec, &go, &d);
		if (p && pipetest_check(spec_root(spec), p, NULL, NULL, &d)) {
			pipeline_free(p);
			p = NULL;
		}
	}
	diag_print(&d);
	diags_free(&d);
	if (!p) {
		spec_free(spec);
		return NULL;
	}
	*specp = spec;
	return p;
}

/* The source of p that reads standard input (a stdin stage, or a path
 * '-' of a source's paths), or NULL. */
static const struct stage *stdin_reader(const struct pipeline *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct stage *st = p->stages[i];
		const struct option *o = st->kind->options;

		if (st->kind->role != ROLE_SOURCE)
			continue;
		if (!strcmp(st->kind->name, "stdin"))
			return st;
		for (; o && o->name; o++) {
			if (o->type != OPT_STRLIST || strcmp(o->name, "paths"))
				continue;
			const struct strlist *l = (const void *)((const char *)st->conf + o->offset);
			for (size_t j = 0; j < l->n; j++)
				if (!strcmp(l->v[j], "-"))
					return st;
		}
	}
	return NULL;
}

static int cmd_run(struct args *a)
{
	struct spec *spec = NULL;
	struct pipeline *p;
	struct run_opts o = { 0 };
	int code;

	/* Before any thread exists, so that every thread inherits the mask. */
	engine_setup(&o);
	p = load(a, &spec);
	if (!p) {
		code = EXIT_USAGE;
		goto out;
	}
	/* The pipeline took standard input whole: a source reading it too
	 * would get nothing, and the run would write nothing and exit 0. */
	const struct stage *in = a->file && !strcmp(a->file, "-") ? stdin_reader(p) : NULL;
	if (in) {
		code = usage_error(a->cmd, "the pipeline is read from standard input, so the "
				   "stage '%s' cannot read records from it: give INPUT files "
				   "or use -e", in->name);
		pipeline_free(p);
		spec_free(spec);
		goto out;
	}
	o.stats = a->stats;
	o.progress = a->progress;
	o.stats_file = a->stats_file;
	o.stats_interval = a->stats_interval;
	o.metrics_addr = a->metrics_addr ? a->metrics_addr : p->metrics_addr;
	code = engine_run(p, &o);
	pipeline_free(p);
	spec_free(spec);
out:
	engine_teardown(&o);
	return code;
}

static int cmd_validate(struct args *a)
{
	struct spec *spec = NULL;
	struct pipeline *p = load(a, &spec);
	uint64_t bound, limit = a->max_memory ? a->max_memory : (uint64_t)1 << 30;
	char b[32], l[32];
	const char *name = !a->file ? "-e" : strcmp(a->file, "-") ? a->file : "stdin";

	if (!p)
		return EXIT_USAGE;
	bound = engine_memory_bound(p);
	format_size_human(b, sizeof b, bound, 1);
	format_size_human(l, sizeof l, limit, 1);
	printf("%s: ok: %zu stages, memory bound %s\n", name, p->n, b);
	if (bound > limit)
		fprintf(stderr, "cspipe: warning: %s: the pipeline can hold up to %s, more than "
			"--max-memory %s\n", name, b, l);
	for (size_t i = 0; i < p->n; i++) {
		const struct stage *st = p->stages[i];
		const char *why = st->kind->unbounded ? st->kind->unbounded(st) : NULL;
		if (why)
			fprintf(stderr, "cspipe: warning: %s: %s: not within the memory bound: "
				"%s\n", name, st->name, why);
	}
	pipeline_free(p);
	spec_free(spec);
	return EXIT_OK;
}

static int cmd_graph(struct args *a)
{
	struct spec *spec = NULL;
	struct pipeline *p = load(a, &spec);
	struct err e = { 0 };
	int rc;

	if (!p)
		return EXIT_USAGE;
	rc = dot_write(stdout, p, a->kinds, a->stats_file, &e);
	if (rc)
		fprintf(stderr, "cspipe: graph: %s\n", e.msg);
	pipeline_free(p);
	spec_free(spec);
	return rc ? EXIT_USAGE : EXIT_OK;
}

static int cmd_test(struct args *a)
{
	const char **files = csp_calloc(a->ninputs + 1, sizeof *files);
	int code;

	if (a->inline_yaml || a->output || a->nov) {
		free(files);
		return usage_error(a->cmd, "takes pipeline files only (no -e, -o, -s)");
	}
	files[0] = a->file;
	for (size_t i = 0; i < a->ninputs; i++)
		files[i + 1] = a->inputs[i];
	code = pipetest_main(a->kinds, files, a->ninputs + 1);
	free(files);
	return code;
}

static void print_options(const struct option *opts)
{
	size_t w = 8;

	for (size_t i = 0; opts[i].name; i++)
		if (strlen(opts[i].name) > w)
			w = strlen(opts[i].name);
	for (size_t i = 0; opts[i].name; i++) {
		char type[128];
		config_type_text(&opts[i], type, sizeof type);
		printf("  %-*s  %s", (int)w, opts[i].name, type);
		if (opts[i].flags & OPT_REQUIRED)
			printf(", required");
		else if (opts[i].def)
			printf(", default %s", opts[i].def[0] ? opts[i].def : "''");
		printf("\n  %-*s  %s\n", (int)w, "", opts[i].doc);
	}
}

static int cmd_stages(const struct stage_registry *kinds, int argc, char **argv)
{
	if (argc > 1)
		return usage_error("stages", "too many arguments");
	if (argc == 0) {
		for (size_t i = 0; i < kinds->n; i++) {
			const struct stage_kind *k = kinds->kinds[i];
			const char *role = k->role == ROLE_SOURCE ? "source" :
					   k->role == ROLE_SINK ? "sink" : "";
			printf("%-11s %-7s %s\n", k->name, role, k->summary);
		}
		printf("\nEvery stage also takes: name, from, workers (a number or auto), buffer,"
		       "\n  ordered, timeout, shard_by.\nSee 'cspipe stages KIND' for a kind's"
		       " options.\n");
		return EXIT_OK;
	}
	const struct stage_kind *k = registry_find(kinds, argv[0]);
	if (!k) {
		const char *names[64];
		size_t n = 0;
		for (; n < kinds->n && n < 64; n++)
			names[n] = kinds->kinds[n]->name;
		const char *dym = did_you_mean(argv[0], names, n);
		return usage_error("stages", "unknown stage kind '%s'%s%s%s", argv[0],
				   DYM_ARGS(dym));
	}
	printf("%s - %s\n", k->name, k->summary);
	if (k->shorthand)
		printf("shorthand: '%s: VALUE' sets %s\n", k->name, k->shorthand);
	if (k->example)
		printf("example:   %s\n", k->example);
	printf("\noptions:\n");
	if (!k->options[0].name)
		printf("  (none)\n");
	print_options(k->options);
	return EXIT_OK;
}

static int help(const char *cmd)
{
	if (!cmd) {
		fputs(usage_main, stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "run"))
		fputs(usage_run, stdout);
	else if (!strcmp(cmd, "validate"))
		fputs(usage_validate, stdout);
	else if (!strcmp(cmd, "graph"))
		fputs(usage_graph, stdout);
	else if (!strcmp(cmd, "stages"))
		fputs(usage_stages, stdout);
	else if (!strcmp(cmd, "test"))
		fputs(usage_test, stdout);
	else if (!strcmp(cmd, "help"))
		fputs("usage: cspipe help COMMAND\n", stdout);
	else
		return usage_error(NULL, "unknown command '%s'", cmd);
	return EXIT_OK;
}

/* Flush stdout and report a failure (a full disk) rather than lose it. */
static int finish_stdout(int code)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE) {
			fprintf(stderr, "cspipe: write error on stdout: %s\n", strerror(errno));
			return code ? code : EXIT_RUNTIME;
		}
	}
	return code;
}

int cli_main(int argc, char **argv, const struct stage_registry *kinds)
{
	struct args a = { 0 };
	const char *cmd;
	int code;

	if (argc < 2) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("cspipe %s\n", CSPIPE_VERSION);
		return finish_stdout(EXIT_OK);
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h"))
		return finish_stdout(help(NULL));
	if (!strcmp(cmd, "help"))
		return finish_stdout(argc > 3 ? usage_error("help", "too many arguments")
					      : help(argc > 2 ? argv[2] : NULL));
	if (!strcmp(cmd, "stages"))
		return finish_stdout(cmd_stages(kinds, argc - 2, argv + 2));
	if (strcmp(cmd, "run") && strcmp(cmd, "validate") && strcmp(cmd, "graph") &&
	    strcmp(cmd, "test")) {
		static const char *const cmds[] = { "run", "validate", "graph", "stages", "help",
						    "test" };
		const char *dym = did_you_mean(cmd, cmds, 6);
		if (cmd[0] == '-')
			return usage_error(NULL, "unknown option '%s'", cmd);
		return usage_error(NULL, "unknown command '%s'%s%s%s", cmd,
				   DYM_ARGS(dym));
	}
	a.cmd = cmd;
	a.kinds = kinds;
	code = parse_args(&a, argc - 2, argv + 2);
	if (code == -1) {
		args_free(&a);
		return finish_stdout(help(cmd));
	}
	if (code) {
		args_free(&a);
		return code;
	}
	if (!strcmp(cmd, "run"))
		code = cmd_run(&a);
	else if (!strcmp(cmd, "validate"))
		code = cmd_validate(&a);
	else if (!strcmp(cmd, "test"))
		code = cmd_test(&a);
	else
		code = cmd_graph(&a);
	args_free(&a);
	return finish_stdout(code);
}
