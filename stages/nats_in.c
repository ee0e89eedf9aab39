/* SPDX-License-Identifier: MIT */
/*
 * nats_in - a source that reads a NATS JetStream stream through a durable
 * pull consumer, and acks each message only once every record made from
 * it is durable (stage.h, "End-to-end acknowledgements").
 *
 * Any number of processes on any machines that name the same durable
 * share its messages: each fetches up to `batch` at a time.  A message
 * fetched and never acked (the process was killed, a sink failed) goes to
 * another consumer after ack_wait, or at once when we know it failed (a
 * negative ack): at-least-once delivery.  The consumer is made when
 * missing, with explicit acks; one with ack-all or ack-none is refused,
 * since ack-all lets one process's ack cover another's unfinished
 * messages.
 *
 * A message is one record (one trailing newline of its data dropped, as a
 * line reader would); with `meta: prefix` the record begins with the
 * message's stream sequence and subject, and with `meta: json` it is an
 * object of them, the delivery count and the data, so that a redelivered
 * duplicate can be recognised downstream.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "core/stage.h"
#include "records/jpath.h"
#include "nats.h"

enum { META_NONE, META_PREFIX, META_JSON };
static const char *const meta_names[] = { "none", "prefix", "json", NULL };

struct nats_in_conf {
	struct nats_conf nc;
	char *stream;
	char *subject;
	char *durable;
	int64_t batch;
	int64_t fetch_timeout;
	int64_t ack_wait;
	int64_t max_ack_pending;
	int64_t max_deliver;
	int meta;
	int64_t exit_idle;
};

static const struct option nats_in_options[] = {
	NATS_OPTIONS(struct nats_in_conf),
	{ .name = "stream", .type = OPT_STRING, .offset = offsetof(struct nats_in_conf, stream),
	  .flags = OPT_REQUIRED, .doc = "the JetStream stream to read" },
	{ .name = "subject", .type = OPT_STRING, .offset = offsetof(struct nats_in_conf, subject),
	  .def = ">", .doc = "the subjects of the stream to read (wildcards * and >)" },
	{ .name = "durable", .type = OPT_STRING, .offset = offsetof(struct nats_in_conf, durable),
	  .def = "cspipe", .doc = "the consumer's name: processes that share it share the work" },
	{ .name = "batch", .type = OPT_INT, .offset = offsetof(struct nats_in_conf, batch),
	  .def = "512", .min = 1, .max = 65536, .doc = "most messages fetched at a time" },
	{ .name = "fetch_timeout", .type = OPT_DURATION,
	  .offset = offsetof(struct nats_in_conf, fetch_timeout), .def = "1s", .min = 1000000,
	  .max = INT64_MAX, .doc = "how long one fetch waits for messages" },
	{ .name = "ack_wait", .type = OPT_DURATION, .offset = offsetof(struct nats_in_conf, ack_wait),
	  .def = "30s", .min = 1000000, .max = INT64_MAX,
	  .doc = "how long the server waits for an ack before it redelivers (when the consumer is made)" },
	{ .name = "max_ack_pending", .type = OPT_INT,
	  .offset = offsetof(struct nats_in_conf, max_ack_pending), .def = "8192", .min = 1,
	  .max = INT32_MAX, .doc = "most messages out and unacked, over all processes (when the "
	  "consumer is made); at least batch" },
	{ .name = "max_deliver", .type = OPT_INT, .offset = offsetof(struct nats_in_conf, max_deliver),
	  .def = "0", .min = 0, .max = INT32_MAX,
	  .doc = "how many times a message is delivered before the server gives up (0: no limit)" },
	{ .name = "meta", .type = OPT_ENUM, .offset = offsetof(struct nats_in_conf, meta),
	  .def = "none", .choices = meta_names,
	  .doc = "prefix: each record begins with the stream sequence and the subject; "
		 "json: each record is {seq, subject, delivered, data}" },
	{ .name = "exit_idle", .type = OPT_DURATION, .offset = offsetof(struct nats_in_conf, exit_idle),
	  .def = "0", .min = 0, .max = INT64_MAX,
	  .doc = "end the stream once no message came for this long (0: run until stopped)" },
	{ .name = NULL },
};

/* What one fetch brought: acked or nak'ed together when its token ends. */
struct fetched {
	struct nats_in *ni;
	natsMsgList list;
};

struct nats_in {
	struct nats_link link;
	natsSubscription *sub;
	struct ack_group *acks;
	_Atomic uint64_t fetched, redelivered, acked, nacked;
	int64_t max_pending;   /* the durable's max_ack_pending, 0: none */
	int64_t ack_wait;      /* the durable's ack_wait, ns */
};

static int nats_in_check(struct stage *st, struct diags *d)
{
	struct nats_in_conf *c = st->conf;
	struct pos at = stage_pos(st);

	if (nats_conf_check(&c->nc, st, d))
		return -1;
	if (c->max_ack_pending < c->batch) {
		diag_at(d, at, "nats_in: max_ack_pending (%" PRId64 ") is smaller than batch "
			 "(%" PRId64 "): a fetch could never be filled", c->max_ack_pending, c->batch);
		return -1;
	}
	if (!*c->durable || strpbrk(c->durable, ".*> \t")) {
		diag_at(d, at, "nats_in: durable '%s': a consumer name has no '.', '*', '>' "
			 "or blank", c->durable);
		return -1;
	}
	if (!*c->stream || strpbrk(c->stream, ".*> \t")) {
		diag_at(d, at, "nats_in: stream '%s': a stream name has no '.', '*', '>' "
			 "or blank", c->stream);
		return -1;
	}
	return 0;
}

/*
 * Find the durable, or make it (explicit acks, our settings), and bind a
 * pull subscription to it.  Returns 0, or -1 after err_set: no such
 * stream, a consumer that acks all or none, or one that reads other
 * subjects, or smaller max_ack_pending than our batch.
 */
static int bind_consumer(struct nats_in *ni, const struct nats_in_conf *c, struct err *e)
{
	jsConsumerInfo *ci = NULL;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;
	int rc = -1;

	s = js_GetStreamInfo(&si, ni->link.js, c->stream, NULL, &jerr);
	if (s != NATS_OK) {
		if (jerr == JSStreamNotFoundErr || s == NATS_NOT_FOUND)
			err_set(e, "%s has no stream '%s'", ni->link.urls, c->stream);
		else
			err_set(e, "%s: stream '%s': %s", ni->link.urls, c->stream, nats_errtext(s));
		goto out;
	}
	s = js_GetConsumerInfo(&ci, ni->link.js, c->stream, c->durable, NULL, &jerr);
	if (s != NATS_OK && (jerr == JSConsumerNotFoundErr || s == NATS_NOT_FOUND)) {
		jsConsumerConfig cc;
		jsConsumerConfig_Init(&cc);
		cc.Durable = c->durable;
		cc.AckPolicy = js_AckExplicit;
		cc.AckWait = c->ack_wait;
		cc.MaxDeliver = c->max_deliver ? c->max_deliver : -1;
		cc.MaxAckPending = c->max_ack_pending;
		cc.FilterSubject = strcmp(c->subject, ">") ? c->subject : NULL;
		s = js_AddConsumer(&ci, ni->link.js, c->stream, &cc, NULL, &jerr);
		if (s != NATS_OK)   /* another process made it first */
			s = js_GetConsumerInfo(&ci, ni->link.js, c->stream, c->durable, NULL,
					       &jerr);
	}
	if (s != NATS_OK) {
		err_set(e, "%s: stream '%s', durable '%s': %s", ni->link.urls, c->stream,
			c->durable, nats_errtext(s));
		goto out;
	}
	if (ci->Config->AckPolicy != js_AckExplicit) {
		err_set(e, "durable '%s' of stream '%s' acks %s: two processes sharing it could "
			"lose messages; give a durable with explicit acks", c->durable, c->stream,
			ci->Config->AckPolicy == js_AckAll ? "all" : "none");
		goto out;
	}
	if (ci->Config->MaxAckPending > 0 && ci->Config->MaxAckPending < c->batch) {
		err_set(e, "durable '%s' of stream '%s' has max_ack_pending %" PRId64 ", smaller "
			"than batch %" PRId64, c->durable, c->stream, ci->Config->MaxAckPending,
			c->batch);
		goto out;
	}
	ni->max_pending = ci->Config->MaxAckPending > 0 ? ci->Config->MaxAckPending : 0;
	ni->ack_wait = ci->Config->AckWait > 0 ? ci->Config->AckWait : 30 * CSP_NS_PER_S;
	{
		const char *have = ci->Config->FilterSubject && *ci->Config->FilterSubject ?
			ci->Config->FilterSubject : ">";
		if (strcmp(have, c->subject)) {
			err_set(e, "durable '%s' of stream '%s' reads subject '%s', not '%s'",
				c->durable, c->stream, have, c->subject);
			goto out;
		}
	}
	{
		jsSubOptions so;
		jsSubOptions_Init(&so);
		so.Stream = c->stream;
		so.Consumer = c->durable;
		s = js_PullSubscribe(&ni->sub, ni->link.js, c->subject, c->durable, NULL, &so, &jerr);
		if (s != NATS_OK) {
			err_set(e, "%s: cannot subscribe to durable '%s' of stream '%s': %s",
				ni->link.urls, c->durable, c->stream, nats_errtext(s));
			goto out;
		}
	}
	rc = 0;
out:
	jsConsumerInfo_Destroy(ci);
	jsStreamInfo_Destroy(si);
	return rc;
}

/* A fetch's token ended: ack its messages when every record made from
 * them is durable, else nak them so that another consumer gets them now.
 * Runs on whichever thread let go last. */
static void on_done(void *arg, uint64_t id, void *user, int ok)
{
	struct fetched *f = user;
	struct nats_in *ni = f->ni;

	(void)arg;
	(void)id;
	for (int i = 0; i < f->list.Count; i++) {
		if (ok)
			natsMsg_Ack(f->list.Msgs[i], NULL);
		else
			natsMsg_Nak(f->list.Msgs[i], NULL);
	}
	atomic_fetch_add(ok ? &ni->acked : &ni->nacked, (uint64_t)f->list.Count);
	natsMsgList_Destroy(&f->list);
	free(f);
}

static int nats_in_start(struct stage *st, struct err *e)
{
	struct nats_in_conf *c = st->conf;
	struct nats_in *ni = csp_calloc(1, sizeof *ni);

	st->priv = ni;
	if (nats_link_open(&ni->link, &c->nc, NULL, e))
		return -1;
	if (bind_consumer(ni, c, e))
		return -1;
	ni->acks = ack_group_new(on_done, ni, 0);
	return 0;
}

/* The delivery count and stream sequence from a JetStream reply subject:
 * $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>,
 * or with domain and account hash before the stream (12 tokens).  Returns
 * 0, or -1 for a subject of another shape. */
static int parse_reply(const char *r, uint64_t *delivered, uint64_t *sseq)
{
	const char *tok[13];
	int n = 0;

	if (!r || strncmp(r, "$JS.ACK.", 8))
		return -1;
	for (const char *p = r; n < 13; n++) {
		tok[n] = p;
		p = strchr(p, '.');
		if (!p) {
			n++;
			break;
		}
		p++;
	}
	int at = n == 9 ? 4 : n >= 11 ? 6 : -1;
	if (at < 0)
		return -1;
	*delivered = strtoull(tok[at], NULL, 10);
	*sseq = strtoull(tok[at + 1], NULL, 10);
	return 0;
}

/*
 * Put the messages of f into batches (one record each), each with a
 * reference to f's token, and only then send them on: once the first
 * batch has left, f's token may end on any thread and free the messages,
 * so none of them is read after an io_send.  Returns what io_send
 * returned (the batches not sent are freed, their references released
 * failed).
 */
static int send_fetched(struct stage *st, struct stage_io *io, struct fetched *f,
			struct ack_token *t, uint64_t *made)
{
	struct nats_in_conf *c = st->conf;
	struct nats_in *ni = st->priv;
	struct batch *head = NULL, *b = NULL;
	struct buf rec = { 0 };   /* a record with its meta */
	int r = CSP_OK;

	for (int i = 0; i < f->list.Count; i++) {
		natsMsg *m = f->list.Msgs[i];
		const char *data = natsMsg_GetData(m);
		size_t len = (size_t)natsMsg_GetDataLength(m);
		uint64_t delivered = 1, sseq = 0;
		const char *subj = natsMsg_GetSubject(m);
		const char *src = data;

		if (len && data[len - 1] == '\n')
			len--;
		parse_reply(natsMsg_GetReply(m), &delivered, &sseq);
		if (delivered > 1)
			atomic_fetch_add_explicit(&ni->redelivered, 1, memory_order_relaxed);
		if (c->meta == META_PREFIX) {
			rec.len = 0;
			buf_printf(&rec, "%" PRIu64 " %s ", sseq, subj);
			buf_append(&rec, data, len);
		} else if (c->meta == META_JSON) {
			rec.len = 0;
			buf_printf(&rec, "{\"seq\":%" PRIu64 ",\"subject\":", sseq);
			json_put_string(&rec, subj, strlen(subj));
			buf_printf(&rec, ",\"delivered\":%" PRIu64 ",\"data\":", delivered);
			json_put_string(&rec, data, len);
			buf_putc(&rec, '}');
		}
		if (c->meta != META_NONE) {
			src = rec.p;
			len = rec.len;
		}
		size_t need = len;
		if (!b || (b->n && (b->len + need + 1 > BATCH_DATA || b->n >= BATCH_RECS))) {
			struct batch *nb = batch_new(FRAMING_LINES, 0, 0);
			nb->origin = st->name;
			nb->first_rec = *made + 1;
			ack_token_ref(t);
			batch_ack(nb, t);
			if (b)
				b->next = nb;
			else
				head = nb;
			b = nb;
		}
		char *dst = batch_begin_rec(b, need);
		if (need)
			memcpy(dst, src, need);
		batch_end_rec(b, need, b->n);
		(*made)++;
	}
	buf_free(&rec);
	/* From here on f's messages are not touched. */
	while (head) {
		b = head;
		head = b->next;
		b->next = NULL;
		if (r == CSP_OK)
			r = io_send(io, b);
		else
			batch_free(b);
	}
	return r;
}

/* Whether the server holds back messages because max_ack_pending of
 * ours wait for their acknowledgement. */
static int at_max_pending(struct nats_in *ni)
{
	uint64_t settled = atomic_load(&ni->acked) + atomic_load(&ni->nacked);
	return ni->max_pending &&
	       atomic_load(&ni->fetched) - settled >= (uint64_t)ni->max_pending;
}

/*
 * Whether the run can no longer move: messages fetched wait for their
 * acknowledgement and none was settled for ack_wait.  Then the sinks hold
 * their acknowledgements until the run ends (a file without append and
 * sync, records behind exec or decompress), the server sends nothing more
 * once max_ack_pending wait, and it delivers those again, to this process
 * too, which would write them twice.  That is an error (err_set) that says
 * what to change, not a quiet wait.  *settled and *since track the last
 * progress.
 */
static int stalled(struct nats_in *ni, uint64_t *settled, int64_t *since, struct err *e)
{
	uint64_t now_settled = atomic_load(&ni->acked) + atomic_load(&ni->nacked);
	int64_t now = csp_now();
	char d[32];

	if (now_settled != *settled || atomic_load(&ni->fetched) == now_settled ||
	    atomic_load(&ni->link.down_since)) {
		*settled = now_settled;
		*since = now;
		return 0;
	}
	if (now - *since < ni->ack_wait)
		return 0;
	format_duration(d, sizeof d, ni->ack_wait);
	err_set(e, "%" PRIu64 " messages wait for their acknowledgement and none came for "
		"ack_wait %s: a sink holds them until the run ends (a file without append: "
		"true and sync: true, or records behind exec or decompress); write with "
		"append and sync, or drain with exit_idle and max_ack_pending above the "
		"messages to read", atomic_load(&ni->fetched) - now_settled, d);
	return 1;
}

/* Cancellation ends a fetch that is waiting for messages at once. */
static void interrupt_fetch(void *arg)
{
	natsSubscription_Unsubscribe(arg);
}

/*
 * Fetch until cancelled (a signal, the deadline, a stop from downstream),
 * idle for exit_idle, or an error.  A failed fetch is retried with a
 * growing pause while the server is away, until reconnect_timeout.
 */
static int nats_in_run(struct stage *st, struct stage_io *io, struct err *e)
{
	struct nats_in_conf *c = st->conf;
	struct nats_in *ni = st->priv;
	struct ctx *ctx = io_ctx(io);
	struct ctx_func *cf = ctx_after_func(ctx, interrupt_fetch, ni->sub);
	int64_t last = csp_now(), failing_since = 0, pause = 0, settled_at = last;
	uint64_t made = 0, id = 0, settled = 0;
	int rc = STAGE_OK;

	while (!ctx_err(ctx)) {
		natsMsgList list = { 0 };
		jsErrCode jerr = 0;
		if (stalled(ni, &settled, &settled_at, e)) {
			rc = STAGE_ERROR;
			break;
		}
		io_wait_begins(io);
		natsStatus s = natsSubscription_Fetch(&list, ni->sub, (int)c->batch,
						      c->fetch_timeout / 1000000, &jerr);
		io_wait_ends(io);
		if (ctx_err(ctx)) {
			/* Not ours any more: whoever comes next gets them now. */
			for (int i = 0; i < list.Count; i++)
				natsMsg_Nak(list.Msgs[i], NULL);
			atomic_fetch_add(&ni->nacked, (uint64_t)list.Count);
			natsMsgList_Destroy(&list);
			break;
		}
		if (s == NATS_TIMEOUT && list.Count == 0) {
			/* Nothing came; while the server is away, fetches time
			 * out too. */
			if (nats_link_gone(&ni->link, e)) {
				rc = STAGE_ERROR;
				break;
			}
			failing_since = 0;
			if (c->exit_idle && csp_now() - last >= c->exit_idle &&
			    !atomic_load(&ni->link.down_since) && !at_max_pending(ni))
				break;
			continue;
		}
		if (s != NATS_OK && list.Count == 0) {
			int64_t now = csp_now();
			if (nats_link_gone(&ni->link, e)) {
				rc = STAGE_ERROR;
				break;
			}
			if (!failing_since) {
				failing_since = now;
				pause = 50 * CSP_NS_PER_MS;
			} else if (c->nc.reconnect_timeout &&
				   now - failing_since > c->nc.reconnect_timeout) {
				char d[32];
				format_duration(d, sizeof d, c->nc.reconnect_timeout);
				err_set(e, "fetching from durable '%s' of stream '%s' at %s failed "
					"for reconnect_timeout %s: %s", c->durable, c->stream,
					ni->link.urls, d, nats_errtext(s));
				rc = STAGE_ERROR;
				break;
			}
			csp_sleep(pause, ctx);
			if (pause < CSP_NS_PER_S)
				pause *= 2;
			continue;
		}
		failing_since = 0;
		last = csp_now();
		atomic_fetch_add_explicit(&ni->fetched, (uint64_t)list.Count, memory_order_relaxed);

		struct fetched *f = csp_calloc(1, sizeof *f);
		f->ni = ni;
		f->list = list;
		struct ack_token *t = ack_token_new(ni->acks, id++, f);
		ack_token_keep(t);
		int r = send_fetched(st, io, f, t, &made);
		/* The batches hold their references now (or have released
		 * them failed). */
		ack_token_let_go(t, 1);
		if (r == CSP_CLOSED) {
			rc = STAGE_STOP;
			break;
		}
		if (r != CSP_OK)
			break;
	}
	ctx_stop_func(ctx, cf);
	return rc;
}

/* Every batch is gone by now (close runs after the threads are joined,
 * downstream first): flush the acks to the server, then close. */
static int nats_in_close(struct stage *st, enum stage_outcome outcome, struct err *e)
{
	struct nats_in *ni = st->priv;

	(void)outcome;
	(void)e;
	if (!ni || !ni->link.nc)
		return 0;
	natsConnection_FlushTimeout(ni->link.nc, 5000);
	return 0;
}

static void nats_in_free(struct stage *st)
{
	struct nats_in *ni = st->priv;

	if (!ni)
		return;
	natsSubscription_Destroy(ni->sub);
	if (ni->acks && ack_group_pending(ni->acks) == 0)
		ack_group_free(ni->acks);
	nats_link_close(&ni->link);
	free(ni);
	st->priv = NULL;
}

static size_t nats_in_counters(const struct stage *st, struct stage_counter *out)
{
	struct nats_in *ni = st->priv;

	out[0] = (struct stage_counter){ "fetched", atomic_load(&ni->fetched) };
	out[1] = (struct stage_counter){ "redelivered", atomic_load(&ni->redelivered) };
	out[2] = (struct stage_counter){ "acked", atomic_load(&ni->acked) };
	out[3] = (struct stage_counter){ "nacked", atomic_load(&ni->nacked) };
	out[4] = (struct stage_counter){ "reconnects", atomic_load(&ni->link.reconnects) };
	return 5;
}

const struct stage_kind kind_nats_in = {
	.name = "nats_in",
	.summary = "read a NATS JetStream stream through a durable pull consumer, "
		   "acking what is durable",
	.role = ROLE_SOURCE,
	.options = nats_in_options,
	.conf_size = sizeof(struct nats_in_conf),
	.example = "- nats_in: {url: 'nats://127.0.0.1:4222', stream: LOGS, "
		   "subject: 'logs.>', durable: cspipe}",
	.worker_mem = 0,
	.check = nats_in_check,
	.start = nats_in_start,
	.run = nats_in_run,
	.close = nats_in_close,
	.free = nats_in_free,
	.counters = nats_in_counters,
};
