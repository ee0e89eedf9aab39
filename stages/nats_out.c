/* SPDX-License-Identifier: MIT */
/*
 * nats_out - a sink that publishes each record as one message to a NATS
 * JetStream subject, asynchronously, with at most max_pending messages
 * waiting for the server's ack.
 *
 * A record counts as written only when its publish ack came back; a
 * batch's acknowledgement references (stage.h) are released when every
 * record of it is acked, so that a nats_in upstream acks its own messages
 * only once they are stored here.  A publish the server refuses or does
 * not answer within ack_timeout fails the run.  With msg_id, each message
 * carries an id that the stream's de-duplication window uses to drop a
 * second copy (a redelivered input published again).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "core/stage.h"
#include "records/pattern.h"
#include "records/template.h"
#include "records/jedit.h"
#include "records/json_doc.h"
#include "nats.h"

struct nats_out_conf {
	struct nats_conf nc;
	char *subject;
	int64_t max_pending;
	int64_t ack_timeout;
	char *msg_id;
	char *msg_id_pattern;
};

static const struct option nats_out_options[] = {
	NATS_OPTIONS(struct nats_out_conf),
	{ .name = "subject", .type = OPT_STRING, .offset = offsetof(struct nats_out_conf, subject),
	  .flags = OPT_REQUIRED, .doc = "the subject each record is published to; $.path takes a field of the record" },
	{ .name = "max_pending", .type = OPT_INT,
	  .offset = offsetof(struct nats_out_conf, max_pending), .def = "4096", .min = 1,
	  .max = 1048576, .doc = "most messages published and not yet acked" },
	{ .name = "ack_timeout", .type = OPT_DURATION,
	  .offset = offsetof(struct nats_out_conf, ack_timeout), .def = "10s", .min = 1000000,
	  .max = INT64_MAX, .doc = "how long a publish may wait for its ack before the run fails" },
	{ .name = "msg_id", .type = OPT_STRING, .offset = offsetof(struct nats_out_conf, msg_id),
	  .doc = "template of a message id for JetStream de-duplication ($0: the record, "
		 "$1.. groups of msg_id_pattern)" },
	{ .name = "msg_id_pattern", .type = OPT_STRING,
	  .offset = offsetof(struct nats_out_conf, msg_id_pattern),
	  .doc = "pattern whose groups msg_id names; a record it does not match is an error" },
	{ .name = NULL },
};

/* One input batch while its messages wait for their acks. */
struct pub_batch {
	struct ackset *acks;
	uint64_t records, bytes;
	uint32_t left;        /* messages not acked, +1 while still publishing */
	int failed;
};

struct slot {
	natsMsg *m;
	struct pub_batch *pb;
};

struct nats_out {
	struct nats_link link;
	struct pattern *pat;
	struct tmpl *id;
	struct jedits subject;       /* a subject with $.path: its template, n = 1 */
	struct sem *room;            /* max_pending permits */
	pthread_mutex_t mu;          /* slots, pending batches, err */
	struct slot *slots;          /* messages in flight, by address */
	size_t mask;
	size_t live;
	int failed;
	char err[512];
	_Atomic uint64_t written, written_bytes, lost, published, duplicates;
};

struct nats_out_worker {
	struct pattern_match *m;
	struct buf idbuf;
	struct jdoc *doc;            /* a subject template's record */
	struct buf subj;             /* its subject, NUL-terminated */
	uint64_t counted, counted_bytes, counted_lost;  /* moved into its stats */
};

static int nats_out_check(struct stage *st, struct diags *d)
{
	struct nats_out_conf *c = st->conf;
	struct nats_out *no;
	struct pos at = stage_pos(st);
	char msg[256];
	size_t off = 0;

	if (nats_conf_check(&c->nc, st, d))
		return -1;
	if (!*c->subject || strpbrk(c->subject, "*> \t")) {
		diag_at(d, at, "nats_out: subject '%s': a subject to publish to has no "
			 "wildcard or blank", c->subject);
		return -1;
	}
	if (c->msg_id_pattern && !c->msg_id) {
		diag_at(d, at, "nats_out: msg_id_pattern without msg_id");
		return -1;
	}
	no = csp_calloc(1, sizeof *no);
	st->priv = no;
	pthread_mutex_init(&no->mu, NULL);
	if (strchr(c->subject, '$')) {
		struct jedit *ed = no->subject.v = csp_calloc(1, sizeof *ed);
		no->subject.n = 1;
		if (jedit_value(ed, c->subject, strlen(c->subject), 0, msg, sizeof msg, &off)) {
			diag_at(d, at, "nats_out: subject '%s': %s at offset %zu", c->subject, msg,
				off);
			return -1;
		}
	}
	if (!c->msg_id)
		return 0;
	no->pat = c->msg_id_pattern
		? pattern_compile(c->msg_id_pattern, strlen(c->msg_id_pattern), 0, msg, sizeof msg, &off)
		: pattern_compile("(?s)^.*", 7, 0, msg, sizeof msg, &off);
	if (!no->pat) {
		diag_at(d, at, "nats_out: msg_id_pattern: %s at offset %zu", msg, off);
		return -1;
	}
	no->id = tmpl_compile(c->msg_id, strlen(c->msg_id), no->pat, 0, msg, sizeof msg, &off);
	if (!no->id) {
		diag_at(d, at, "nats_out: msg_id: bad template: %s at offset %zu", msg, off);
		return -1;
	}
	return 0;
}

static size_t slot_of(const struct nats_out *no, const natsMsg *m)
{
	uint64_t h = (uint64_t)(uintptr_t)m >> 4;

	return (size_t)((h * 0x9E3779B97F4A7C15ull) >> 20) & no->mask;
}

/* Under mu: remember that m belongs to pb. */
static void slot_put(struct nats_out *no, natsMsg *m, struct pub_batch *pb)
{
	size_t i = slot_of(no, m);

	while (no->slots[i].m)
		i = (i + 1) & no->mask;
	no->slots[i].m = m;
	no->slots[i].pb = pb;
	no->live++;
}

/* Under mu: forget m and return its batch (NULL when m is not known:
 * close gave it up already).  Linear probing with backward-shift
 * deletion, so no tombstones pile up. */
static struct pub_batch *slot_take(struct nats_out *no, const natsMsg *m)
{
	size_t i = slot_of(no, m), j;
	struct pub_batch *pb;

	while (no->slots[i].m && no->slots[i].m != m)
		i = (i + 1) & no->mask;
	if (!no->slots[i].m)
		return NULL;
	pb = no->slots[i].pb;
	j = i;
	for (;;) {
		j = (j + 1) & no->mask;
		if (!no->slots[j].m)
			break;
		size_t k = slot_of(no, no->slots[j].m);
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		no->slots[i] = no->slots[j];
		i = j;
	}
	no->slots[i].m = NULL;
	no->slots[i].pb = NULL;
	no->live--;
	return pb;
}

/* Under mu: the first error is the one reported. */
static void set_failed(struct nats_out *no, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_failed(struct nats_out *no, const char *fmt, ...)
{
	va_list ap;

	if (no->failed)
		return;
	no->failed = 1;
	va_start(ap, fmt);
	vsnprintf(no->err, sizeof no->err, fmt, ap);
	va_end(ap);
}

/* Under mu: n more of pb's messages are settled; the last one releases
 * its acks (done when none failed) and counts its records written. */
static void settle(struct nats_out *no, struct pub_batch *pb, uint32_t n)
{
	pb->left -= n;
	if (pb->left)
		return;
	if (!pb->failed) {
		atomic_fetch_add(&no->written, pb->records);
		atomic_fetch_add(&no->written_bytes, pb->bytes);
	} else {
		atomic_fetch_add(&no->lost, pb->records);
	}
	ackset_release(pb->acks, !pb->failed);
	free(pb);
}

/* The server's answer to one publish (on the library's thread). */
static void on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *arg)
{
	struct stage *st = arg;
	struct nats_out *no = st->priv;
	struct pub_batch *pb;

	(void)js;
	pthread_mutex_lock(&no->mu);
	pb = slot_take(no, msg);
	if (pb) {
		if (pae) {
			pb->failed = 1;
			if (pae->Err == NATS_NO_RESPONDERS)
				set_failed(no, "no stream at %s takes subject '%s'", no->link.urls,
					   natsMsg_GetSubject(msg));
			else if (pae->Err == NATS_TIMEOUT)
				set_failed(no, "no ack from %s within ack_timeout for a message "
					   "to '%s'", no->link.urls, natsMsg_GetSubject(msg));
			else
				set_failed(no, "publish to '%s' at %s: %s", natsMsg_GetSubject(msg),
					   no->link.urls, pae->ErrText ? pae->ErrText :
					   natsStatus_GetText(pae->Err));
		} else if (pa && pa->Duplicate) {
			atomic_fetch_add_explicit(&no->duplicates, 1, memory_order_relaxed);
		}
		settle(no, pb, 1);
	}
	pthread_mutex_unlock(&no->mu);
	if (pb)
		sem_release(no->room);
	natsMsg_Destroy(msg);
}

static int nats_out_start(struct stage *st, struct err *e)
{
	struct nats_out_conf *c = st->conf;
	struct nats_out *no = st->priv;
	jsOptions jo;
	size_t cap = 16;

	while (cap < 2 * (size_t)c->max_pending)
		cap *= 2;
	no->slots = csp_calloc(cap, sizeof *no->slots);
	no->mask = cap - 1;
	no->room = sem_new((size_t)c->max_pending);
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = c->max_pending + 1;
	jo.PublishAsync.AckHandler = on_puback;
	jo.PublishAsync.AckHandlerClosure = st;
	jo.Wait = c->ack_timeout / 1000000;
	return nats_link_open(&no->link, &c->nc, &jo, e);
}

static void *nats_out_worker_new(struct stage *st, int index)
{
	struct nats_out *no = st->priv;
	struct nats_out_worker *w = csp_calloc(1, sizeof *w);

	(void)index;
	if (no->pat)
		w->m = pattern_match_new(no->pat);
	if (no->subject.n)
		w->doc = jdoc_new();
	return w;
}

static void nats_out_worker_free(struct stage *st, void *state)
{
	struct nats_out_worker *w = state;

	(void)st;
	pattern_match_free(w->m);
	buf_free(&w->idbuf);
	jdoc_free(w->doc);
	buf_free(&w->subj);
	free(w);
}

/* Move what was acked (or lost) since the last call into the worker's
 * counts: the stage has one worker, whose stats are its own to write. */
static void count_written(struct nats_out *no, struct worker *w)
{
	struct nats_out_worker *nw = w->state;
	uint64_t r = atomic_load(&no->written), b = atomic_load(&no->written_bytes);
	uint64_t l = atomic_load(&no->lost);

	wstat_add(&w->stats->rec_out, r - nw->counted);
	wstat_add(&w->stats->bytes_out, b - nw->counted_bytes);
	wstat_add(&w->stats->dropped, l - nw->counted_lost);
	nw->counted = r;
	nw->counted_bytes = b;
	nw->counted_lost = l;
}

/* The message id of record i of b, NUL-terminated in nw->idbuf; -1 after
 * err_set when the record does not match msg_id_pattern. */
static int make_id(struct nats_out *no, struct nats_out_worker *nw, const struct batch *b,
		   uint32_t i, struct err *e)
{
	const char *s = rec_ptr(b, i);
	size_t len = b->recs[i].len;
	int r = pattern_exec(no->pat, nw->m, s, len, 0);

	if (r != 1) {
		err_set(e, "record %" PRIu64 " of %s: %s", b->first_rec ? b->first_rec + i : i + 1,
			b->origin ? b->origin : "input",
			r == 0 ? "does not match msg_id_pattern" : pattern_errtext(nw->m));
		return -1;
	}
	const size_t *ov = pattern_ovector(nw->m);
	nw->idbuf.len = 0;
	buf_reserve(&nw->idbuf, tmpl_size(no->id, ov, 0) + 1);
	nw->idbuf.len = tmpl_expand(no->id, nw->idbuf.p, s, ov, 0);
	nw->idbuf.p[nw->idbuf.len] = '\0';
	return 0;
}

/* What a field of a subject can be wrong with (jedit_render's check). */
enum { SUBJECT_MISSING = 1, SUBJECT_BAD };

static int subject_field(const struct jval *v, const char *text, size_t len, void *arg)
{
	(void)arg;
	if (v->type == JT_NULL)
		return SUBJECT_MISSING;
	if (len == 0)
		return SUBJECT_BAD;
	for (size_t k = 0; k < len; k++)
		if (text[k] == '\0' || strchr("*> \t\r\n", text[k]))
			return SUBJECT_BAD;
	return 0;
}

/*
 * The subject of record i of b from the subject template, NUL-terminated
 * in nw->subj: the fields' text (a string's bytes, another value's JSON).
 * -1 after err_set when the record is not JSON, or a field makes no
 * subject (missing or null, empty, or with a blank or wildcard).
 */
static int make_subject(struct nats_out *no, struct nats_out_worker *nw,
			const struct batch *b, uint32_t i, struct err *e)
{
	const char *s = rec_ptr(b, i);
	size_t len = b->recs[i].len;
	size_t room = s >= b->data && s < b->data + b->cap
		? (size_t)(b->data + b->cap - (s + len)) : 0;
	uint64_t rec = b->first_rec ? b->first_rec + i : i + 1;
	const char *origin = b->origin ? b->origin : "input";
	struct jval root;

	if (jdoc_parse(nw->doc, s, len, room) != 0) {
		err_set(e, "record %" PRIu64 " of %s: the subject's fields cannot be read: it is "
			"not JSON (%s)", rec, origin, jdoc_error(nw->doc));
		return -1;
	}
	jdoc_root(nw->doc, &root);
	nw->subj.len = 0;
	switch (jedit_render(no->subject.v, &root, &nw->subj, subject_field, NULL)) {
	case SUBJECT_MISSING:
		err_set(e, "record %" PRIu64 " of %s: no subject: a field of the subject "
			"is missing or null", rec, origin);
		return -1;
	case SUBJECT_BAD:
		err_set(e, "record %" PRIu64 " of %s: no subject: a field of the subject "
			"is empty or holds a blank or a wildcard", rec, origin);
		return -1;
	}
	buf_cstr(&nw->subj);
	return 0;
}

/*
 * Publish every record of `in` (one message each), waiting for room when
 * max_pending messages are out.  The batch's acks go with its messages
 * and are released by the last ack.  Returns STAGE_OK, or STAGE_ERROR
 * after err_set (an earlier publish failed, the server refused this one,
 * a record without an id, or the run was cancelled while waiting).
 */
static int nats_out_process(struct worker *w, struct batch *in, struct outq *out, struct err *e)
{
	struct stage *st = w->stage;
	struct nats_out_conf *c = st->conf;
	struct nats_out *no = st->priv;
	struct nats_out_worker *nw = w->state;
	struct pub_batch *pb = csp_calloc(1, sizeof *pb);
	uint32_t i = 0;
	int rc = STAGE_OK;

	(void)out;
	pb->acks = batch_take_acks(in);
	pb->records = in->records;
	pb->bytes = batch_bytes(in);
	pb->left = in->n + 1;
	for (; i < in->n; i++) {
		natsMsg *m = NULL;
		jsPubOptions po;
		natsStatus s;

		if (no->id && make_id(no, nw, in, i, e)) {
			rc = STAGE_ERROR;
			break;
		}
		if (no->subject.n && make_subject(no, nw, in, i, e)) {
			rc = STAGE_ERROR;
			break;
		}
		if (sem_acquire(no->room, w->ctx) != CSP_OK) {
			err_set(e, "stopped while waiting for acks from %s", no->link.urls);
			rc = STAGE_ERROR;
			break;
		}
		s = natsMsg_Create(&m, no->subject.n ? nw->subj.p : c->subject, NULL,
				   rec_ptr(in, i), (int)in->recs[i].len);
		pthread_mutex_lock(&no->mu);
		if (no->failed) {
			err_set(e, "%s", no->err);
			rc = STAGE_ERROR;
		} else if (s == NATS_OK) {
			slot_put(no, m, pb);
		}
		pthread_mutex_unlock(&no->mu);
		if (rc != STAGE_OK || s != NATS_OK) {
			if (rc == STAGE_OK)
				err_set(e, "%s", nats_errtext(s));
			natsMsg_Destroy(m);
			sem_release(no->room);
			rc = STAGE_ERROR;
			break;
		}
		jsPubOptions_Init(&po);
		po.MaxWait = c->ack_timeout / 1000000;
		po.MsgId = no->id ? nw->idbuf.p : NULL;
		natsMsg *send = m;
		s = js_PublishMsgAsync(no->link.js, &send, &po);
		if (s != NATS_OK) {
			/* Still ours: forget it.  The settle below counts it
			 * with the records not sent, unless its ack handler
			 * has settled it already. */
			pthread_mutex_lock(&no->mu);
			if (!slot_take(no, m))
				i++;
			pthread_mutex_unlock(&no->mu);
			natsMsg_Destroy(send);
			sem_release(no->room);
			err_set(e, "publish to '%s' at %s: %s", natsMsg_GetSubject(m),
				no->link.urls, nats_errtext(s));
			rc = STAGE_ERROR;
			break;
		}
		atomic_fetch_add_explicit(&no->published, 1, memory_order_relaxed);
	}
	pthread_mutex_lock(&no->mu);
	if (rc != STAGE_OK)
		pb->failed = 1;
	settle(no, pb, 1 + (in->n - i));
	pthread_mutex_unlock(&no->mu);
	count_written(no, w);
	batch_free(in);
	return rc;
}

/* End of input: wait for every ack (all the permits back), then count. */
static int nats_out_flush(struct worker *w, struct outq *out, struct err *e)
{
	struct stage *st = w->stage;
	struct nats_out_conf *c = st->conf;
	struct nats_out *no = st->priv;
	int64_t got = 0;
	int rc = STAGE_OK;

	(void)out;
	for (; got < c->max_pending; got++)
		if (sem_acquire(no->room, w->ctx) != CSP_OK) {
			err_set(e, "stopped while waiting for acks from %s", no->link.urls);
			rc = STAGE_ERROR;
			break;
		}
	while (got-- > 0)
		sem_release(no->room);
	pthread_mutex_lock(&no->mu);
	if (rc == STAGE_OK && no->failed) {
		err_set(e, "%s", no->err);
		rc = STAGE_ERROR;
	}
	pthread_mutex_unlock(&no->mu);
	count_written(no, w);
	return rc;
}

/* After the run: messages still without an ack are given up (their
 * batches' acks released failed), so that nothing waits on them. */
static int nats_out_close(struct stage *st, enum stage_outcome outcome, struct err *e)
{
	struct nats_out *no = st->priv;

	(void)outcome;
	(void)e;
	if (!no || !no->slots)
		return 0;
	pthread_mutex_lock(&no->mu);
	for (size_t i = 0; i <= no->mask; i++)
		if (no->slots[i].m) {
			struct pub_batch *pb = no->slots[i].pb;
			no->slots[i].m = NULL;
			no->slots[i].pb = NULL;
			no->live--;
			pb->failed = 1;
			settle(no, pb, 1);
		}
	pthread_mutex_unlock(&no->mu);
	return 0;
}

static void nats_out_free(struct stage *st)
{
	struct nats_out *no = st->priv;
	struct err e = { 0 };

	if (!no)
		return;
	nats_out_close(st, OUTCOME_ABORTED, &e);
	nats_link_close(&no->link);
	free(no->slots);
	sem_free(no->room);
	tmpl_free(no->id);
	jedits_free(&no->subject);
	pattern_free(no->pat);
	pthread_mutex_destroy(&no->mu);
	free(no);
	st->priv = NULL;
}

static size_t nats_out_counters(const struct stage *st, struct stage_counter *out)
{
	struct nats_out *no = st->priv;

	out[0] = (struct stage_counter){ "published", atomic_load(&no->published) };
	out[1] = (struct stage_counter){ "acked", atomic_load(&no->written) };
	out[2] = (struct stage_counter){ "duplicates", atomic_load(&no->duplicates) };
	out[3] = (struct stage_counter){ "reconnects", atomic_load(&no->link.reconnects) };
	return 4;
}

const struct stage_kind kind_nats_out = {
	.name = "nats_out",
	.summary = "publish each record to a NATS JetStream subject, written once acked",
	.role = ROLE_SINK,
	.flags = KIND_ONE_WORKER | KIND_TAKES_ACKS,
	.options = nats_out_options,
	.conf_size = sizeof(struct nats_out_conf),
	.shorthand = "subject",
	.example = "- nats_out: {url: 'nats://127.0.0.1:4222', subject: errors}",
	.worker_mem = 0,
	.check = nats_out_check,
	.start = nats_out_start,
	.worker_new = nats_out_worker_new,
	.process = nats_out_process,
	.flush = nats_out_flush,
	.worker_free = nats_out_worker_free,
	.close = nats_out_close,
	.free = nats_out_free,
	.counters = nats_out_counters,
};
