/* SPDX-License-Identifier: MIT */
/*
 * observe.c - the stats file and the metrics server (see observe.h).
 *
 * The server is libmicrohttpd with one internal thread: scrapes are rare
 * and small, and one thread keeps the run's own threads undisturbed.  The
 * listening socket is made here, before the run starts, so that a port in
 * use is an error before anything is read, and so that port 0 can be
 * asked for (the bound address is printed).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <microhttpd.h>

#include "csp/csp.h"
#include "core/graph.h"
#include "core/observe.h"
#include "core/stage.h"
#include "core/stats.h"
#include "base/util.h"

/* How long the server waits at shutdown for the requests it has. */
#define OBSERVE_DRAIN_NS (1000 * CSP_NS_PER_MS)

struct observer {
	struct observe_opts o;
	int64_t next;                /* next periodic write, 0: none */
	int warned;                  /* a periodic write failed: said once */
	int fd;                      /* the listening socket, -1: none */
	char addr[128];              /* as bound, for messages */
	struct MHD_Daemon *mhd;
	observe_snapshot_fn snap;
	void *arg;
	atomic_int draining;
};

/* ---- the stats file ------------------------------------------------------ */

/*
 * Write r's JSON to a temporary file beside path, flush it to the disk,
 * and rename it over path, so that a reader sees the old file or the new
 * one, never a torn one, even when the machine stops.  0, or -1 with e set
 * (the temporary file removed).
 */
int stats_write_file(const char *path, const struct run_report *r, struct err *e)
{
	size_t n = strlen(path) + 32;
	char *tmp = csp_malloc(n);
	FILE *f = NULL;
	int fd, rc = -1;

	snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		err_set(e, "--stats file %s: cannot create %s: %s", path, tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	stats_print_json(f, r);
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
		err_set(e, "--stats file %s: cannot write: %s", path, strerror(errno));
		fclose(f);
		unlink(tmp);
		goto out;
	}
	if (fclose(f) != 0) {
		err_set(e, "--stats file %s: cannot write: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) != 0) {
		err_set(e, "--stats file %s: cannot rename %s: %s", path, tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	return rc;
}

int64_t observe_next(const struct observer *ob)
{
	return ob ? ob->next : 0;
}

/* The run so far, its outcome "draining" once the drain has begun. */
static void snapshot(struct observer *ob, struct run_report *r)
{
	ob->snap(ob->arg, r);
	if (atomic_load(&ob->draining) && !strcmp(r->outcome, "running"))
		r->outcome = "draining";
}

void observe_tick(struct observer *ob)
{
	struct run_report r;
	struct err e = { 0 };

	if (!ob || !ob->next || csp_now() < ob->next)
		return;
	snapshot(ob, &r);
	if (stats_write_file(ob->o.stats_file, &r, &e) && !ob->warned) {
		fprintf(stderr, "cspipe: warning: %s\n", e.msg);
		ob->warned = 1;
	}
	report_free(&r);
	ob->next = csp_now() + ob->o.stats_interval;
}

int observe_finish(struct observer *ob, const struct run_report *r, struct err *e)
{
	if (!ob || !ob->o.stats_file)
		return 0;
	ob->next = 0;
	return stats_write_file(ob->o.stats_file, r, e);
}

/* ---- Prometheus text ----------------------------------------------------- */

/* A label value: backslash, quote and newline escaped. */
static void label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

enum { M_COUNTER, M_GAUGE };

/* One per-stage metric: its name, help, type and where its value is. */
struct stage_metric {
	const char *name, *help;
	int type;
	double (*get)(const struct stage_report *s);
};

static double g_rec_in(const struct stage_report *s) { return (double)s->rec_in; }
static double g_rec_out(const struct stage_report *s) { return (double)s->rec_out; }
static double g_bytes_in(const struct stage_report *s) { return (double)s->bytes_in; }
static double g_bytes_out(const struct stage_report *s) { return (double)s->bytes_out; }
static double g_filtered(const struct stage_report *s) { return (double)s->filtered; }
static double g_dropped(const struct stage_report *s) { return (double)s->dropped; }
static double g_created(const struct stage_report *s) { return (double)s->created; }
static double g_batches(const struct stage_report *s) { return (double)s->batches; }
static double g_busy(const struct stage_report *s) { return (double)s->busy_ns / 1e9; }
static double g_wait_in(const struct stage_report *s) { return (double)s->wait_in_ns / 1e9; }
static double g_wait_out(const struct stage_report *s) { return (double)s->wait_out_ns / 1e9; }
static double g_chan_len(const struct stage_report *s) { return (double)s->out_len; }
static double g_chan_cap(const struct stage_report *s) { return (double)s->out_cap; }
static double g_workers(const struct stage_report *s) { return s->workers; }
static double g_busy_workers(const struct stage_report *s) { return s->busy_workers; }
static double g_bottleneck(const struct stage_report *s) { return s->bottleneck; }

static const struct stage_metric stage_metrics[] = {
	{ "cspipe_stage_records_in_total", "Records the stage took in.", M_COUNTER, g_rec_in },
	{ "cspipe_stage_records_out_total", "Records the stage sent on (a sink: wrote).",
	  M_COUNTER, g_rec_out },
	{ "cspipe_stage_bytes_in_total", "Bytes of the records the stage took in.",
	  M_COUNTER, g_bytes_in },
	{ "cspipe_stage_bytes_out_total", "Bytes of the records the stage sent on or wrote.",
	  M_COUNTER, g_bytes_out },
	{ "cspipe_stage_records_filtered_total", "Records the stage removed on purpose.",
	  M_COUNTER, g_filtered },
	{ "cspipe_stage_records_dropped_total",
	  "Records lost to an error policy (on_error: drop) or an abort.", M_COUNTER, g_dropped },
	{ "cspipe_stage_records_created_total", "Records the stage made beyond those taken in.",
	  M_COUNTER, g_created },
	{ "cspipe_stage_batches_total", "Batches the stage took in.", M_COUNTER, g_batches },
	{ "cspipe_stage_busy_seconds_total", "Time the stage's workers spent working, summed.",
	  M_COUNTER, g_busy },
	{ "cspipe_stage_wait_input_seconds_total", "Time the stage waited for input.",
	  M_COUNTER, g_wait_in },
	{ "cspipe_stage_wait_output_seconds_total",
	  "Time the stage waited for room in its output channels.", M_COUNTER, g_wait_out },
	{ "cspipe_stage_channel_batches", "Batches queued in the stage's output channels.",
	  M_GAUGE, g_chan_len },
	{ "cspipe_stage_channel_capacity", "Capacity of the stage's output channels, in batches.",
	  M_GAUGE, g_chan_cap },
	{ "cspipe_stage_workers", "Workers of the stage.", M_GAUGE, g_workers },
	{ "cspipe_stage_busy_workers", "Workers inside their work right now.", M_GAUGE,
	  g_busy_workers },
	{ "cspipe_stage_bottleneck", "1 for the stage that limits throughput, else 0.",
	  M_GAUGE, g_bottleneck },
};

/*
 * The text exposition format (version 0.0.4): a HELP and a TYPE line per
 * metric family, then one sample per stage labelled with its name and
 * kind; then the run's own figures.  Can't fail (f may).
 */
void stats_print_prometheus(FILE *f, const struct run_report *r)
{
	static const char *const types[] = { "counter", "gauge" };

	for (size_t m = 0; m < sizeof stage_metrics / sizeof *stage_metrics; m++) {
		const struct stage_metric *sm = &stage_metrics[m];
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", sm->name, sm->help, sm->name,
			types[sm->type]);
		for (size_t i = 0; i < r->n; i++) {
			fprintf(f, "%s{stage=\"", sm->name);
			label(f, r->stages[i].st->name);
			double v = sm->get(&r->stages[i]);
			/* Counts as integers, to the last record; times in
			 * microseconds. */
			fprintf(f, v == (double)(uint64_t)v ? "\",kind=\"%s\"} %.0f\n" :
				"\",kind=\"%s\"} %.6f\n", r->stages[i].st->kind->name, v);
		}
	}
	fprintf(f, "# HELP cspipe_uptime_seconds Time since the run started.\n"
		"# TYPE cspipe_uptime_seconds gauge\ncspipe_uptime_seconds %.6f\n",
		r->elapsed_s);
	fprintf(f, "# HELP cspipe_records_read_total Records the sources read.\n"
		"# TYPE cspipe_records_read_total counter\ncspipe_records_read_total %llu\n",
		(unsigned long long)r->read);
	fprintf(f, "# HELP cspipe_records_written_total Records the sinks wrote.\n"
		"# TYPE cspipe_records_written_total counter\ncspipe_records_written_total %llu\n",
		(unsigned long long)r->written);
	fprintf(f, "# HELP cspipe_records_filtered_total Records removed on purpose.\n"
		"# TYPE cspipe_records_filtered_total counter\n"
		"cspipe_records_filtered_total %llu\n", (unsigned long long)r->filtered);
	fprintf(f, "# HELP cspipe_records_dropped_total Records lost to errors or an abort.\n"
		"# TYPE cspipe_records_dropped_total counter\n"
		"cspipe_records_dropped_total %llu\n", (unsigned long long)r->dropped);
	fprintf(f, "# HELP cspipe_info The pipeline, its state and its bottleneck stage "
		"(\"\" when none stands out).\n# TYPE cspipe_info gauge\ncspipe_info{pipeline=\"");
	label(f, r->p->name ? r->p->name : "");
	fprintf(f, "\",state=\"%s\",bottleneck=\"", r->outcome);
	label(f, r->bottleneck ? r->bottleneck : "");
	fprintf(f, "\"} 1\n");
}

/* ---- the server ----------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
			     char *body, size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result rc;

	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static char *text(const char *s, size_t *len)
{
	*len = strlen(s);
	return csp_strdup(s);
}

/*
 * One request: GET (or HEAD) of /metrics, /healthz or /stats; 405 for
 * other methods, 404 for other paths.  The figures are taken afresh for
 * each request.
 */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version,
			      const char *upload_data, size_t *upload_data_size,
			      void **con_cls)
{
	struct observer *ob = cls;
	struct run_report r;
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     text("only GET\n", &len), len);
	if (!strcmp(url, "/healthz")) {
		int draining = atomic_load(&ob->draining);
		return reply(c, draining ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
			     "text/plain", text(draining ? "draining\n" : "ok\n", &len), len);
	}
	if (strcmp(url, "/metrics") && strcmp(url, "/stats"))
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain",
			     text("not found (try /metrics, /healthz, /stats)\n", &len), len);
	snapshot(ob, &r);
	f = open_memstream(&body, &len);
	if (!f) {
		report_free(&r);
		return MHD_NO;
	}
	if (!strcmp(url, "/metrics"))
		stats_print_prometheus(f, &r);
	else
		stats_print_json(f, &r);
	fclose(f);
	report_free(&r);
	return reply(c, MHD_HTTP_OK, !strcmp(url, "/metrics") ?
		     "text/plain; version=0.0.4; charset=utf-8" : "application/json",
		     body, len);
}

/* Split HOST:PORT ([V6]:PORT too); an empty HOST means every address. */
static int split_addr(const char *addr, char *host, size_t hn, const char **port)
{
	const char *colon = strrchr(addr, ':');
	const char *h = addr;
	size_t l;

	if (!colon || !colon[1])
		return -1;
	l = (size_t)(colon - addr);
	if (l >= 2 && addr[0] == '[' && addr[l - 1] == ']') {
		h++;
		l -= 2;
	}
	if (l >= hn)
		return -1;
	memcpy(host, h, l);
	host[l] = '\0';
	*port = colon + 1;
	return 0;
}

/* Make the listening socket for ob->o.metrics_addr.  0, or -1 with e set. */
static int listen_on(struct observer *ob, struct err *e)
{
	const char *addr = ob->o.metrics_addr, *port;
	char host[128], hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int fd = -1, gai, saved = 0, one = 1;

	if (split_addr(addr, host, sizeof host, &port)) {
		err_set(e, "metrics: bad address '%s' (expected HOST:PORT, e.g. 127.0.0.1:9100)",
			addr);
		return -1;
	}
	/* getaddrinfo takes 99999 and keeps its low 16 bits: another port. */
	if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
	    atoi(port) > 65535) {
		err_set(e, "metrics: bad address '%s' (the port is a number, 0 to 65535)", addr);
		return -1;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (gai) {
		err_set(e, "metrics: bad address '%s': %s", addr, gai_strerror(gai));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		err_set(e, "metrics: cannot listen on %s: %s", addr, strerror(saved));
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, hbuf, sizeof hbuf, pbuf, sizeof pbuf,
			NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(ob->addr, sizeof ob->addr, strchr(hbuf, ':') ? "[%s]:%s" : "%s:%s",
			 hbuf, pbuf);
	else
		snprintf(ob->addr, sizeof ob->addr, "%s", addr);
	ob->fd = fd;
	return 0;
}

struct observer *observe_new(const struct observe_opts *o, struct err *e)
{
	struct observer *ob = csp_calloc(1, sizeof *ob);

	ob->o = *o;
	ob->fd = -1;
	if (o->metrics_addr) {
		if (listen_on(ob, e)) {
			free(ob);
			return NULL;
		}
		/* Tests and supervisors read this line to find port 0's choice. */
		fprintf(stderr, "cspipe: metrics: listening on http://%s/metrics\n", ob->addr);
	}
	return ob;
}

int observe_serve(struct observer *ob, observe_snapshot_fn fn, void *arg, struct err *e)
{
	ob->snap = fn;
	ob->arg = arg;
	if (ob->o.stats_file && ob->o.stats_interval)
		ob->next = csp_now() + ob->o.stats_interval;
	if (ob->fd < 0)
		return 0;
	ob->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0, NULL, NULL,
				   handle, ob, MHD_OPTION_LISTEN_SOCKET, ob->fd,
				   MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				   MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_END);
	if (!ob->mhd) {
		err_set(e, "metrics: cannot start the server on %s", ob->addr);
		return -1;
	}
	return 0;
}

void observe_draining(struct observer *ob)
{
	if (ob)
		atomic_store(&ob->draining, 1);
}

/* Hand the connections waiting in the listening socket's queue to the
 * server; how many there were. */
static int take_queued(struct observer *ob, int s)
{
	int n = 0;

	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int c = accept4(s, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR)
				continue;
			return n;
		}
		/* On failure MHD has closed it. */
		(void)MHD_add_connection(ob->mhd, c, (struct sockaddr *)&ss, sl);
		n++;
	}
}

void observe_free(struct observer *ob)
{
	if (!ob)
		return;
	atomic_store(&ob->draining, 1);
	if (ob->mhd) {
		/* Stop accepting, but take over the listening socket: the
		 * connections already in its queue are handed to the server
		 * and answered like the others (closing it with them queued
		 * would reset them), and it is closed only when its queue is
		 * empty, so a client gets a whole answer or a refusal. */
		MHD_socket s = MHD_quiesce_daemon(ob->mhd);
		int64_t until = csp_now() + OBSERVE_DRAIN_NS;
		int taken;

		if (s != MHD_INVALID_SOCKET)
			fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
		do {
			taken = s != MHD_INVALID_SOCKET ? take_queued(ob, s) : 0;
			for (;;) {
				const union MHD_DaemonInfo *info = MHD_get_daemon_info(
					ob->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
				if (!info || info->num_connections == 0 || csp_now() >= until)
					break;
				csp_sleep(5 * CSP_NS_PER_MS, NULL);
			}
		} while (taken && csp_now() < until);
		if (s != MHD_INVALID_SOCKET)
			close(s);
		MHD_stop_daemon(ob->mhd);
		ob->fd = -1;
	}
	if (ob->fd >= 0)
		close(ob->fd);
	free(ob);
}
