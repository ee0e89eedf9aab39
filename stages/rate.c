/* SPDX-License-Identifier: MIT */
/*
 * rate.c - the `rate` stage: pass records no faster than a rate, counted
 * in records or in bytes, with a token bucket (the runtime's limiter).
 *
 *   rate: 1000/s                       shorthand: COUNT/PER
 *   rate: {records: 1000, per: 1s, burst: 100}
 *   rate: {bytes: 1MiB, per: 1s}
 *
 * The bucket holds `burst` tokens (default: the number per `per`) and
 * starts full, so the first burst passes at once; after that records leave
 * at the rate.  Within a batch records leave in pieces as tokens come: a
 * piece is at most what the rate allows in PIECE_NS, so the output is
 * smooth (one record every 10 ms at 100/s) rather than a burst per second,
 * while a high rate still moves thousands of records per piece.  A batch
 * whose tokens are all there already passes whole, without a copy.
 *
 * With bytes, a record costs its length plus its terminator; a record
 * larger than the burst still passes, after burst-sized waits.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csp/csp.h"
#include "core/stage.h"

/* The most time one piece of output stands for at the steady rate. */
#define PIECE_NS (10 * CSP_NS_PER_MS)

/* The shorthand, parsed: COUNT/PER. */
struct rate_limit {
	uint64_t count;
	int bytes;          /* COUNT had a size unit */
	int64_t per;        /* ns */
};

struct rate_conf {
	struct rate_limit *limit;
	int64_t records;
	uint64_t bytes;
	int64_t per;
	uint64_t burst;     /* 0: the number per `per` */
};

static void limit_free(void *dst)
{
	free(*(struct rate_limit **)dst);
	*(struct rate_limit **)dst = NULL;
}

/*
 * Parse `COUNT/PER`.  COUNT is a whole number of records (1000) or a size
 * in bytes with its unit (64KiB, 1.5MB, 100B); PER is a duration (1s,
 * 100ms, 1.5s, 1m30s) or a bare unit meaning one of it (s, ms, m, h, us,
 * ns).  So 1000/s, 500/ms, 10/m, 100/1.5s and 1MiB/s.  Returns 0, or -1
 * after a diagnostic at v.
 */
static int limit_parse(const struct optval *v, void *dst, struct diags *d)
{
	static const char *const units[] = { "ns", "us", "µs", "ms", "s", "m", "h" };
	struct rate_limit *l;
	const char *slash, *why;
	char count[64], per[64];
	size_t len;
	const char *str = optval_str(v, &len);
	struct pos at = optval_pos(v);
	int64_t n;

	if (optval_type(v) != OPTVAL_SCALAR || optval_is_null(v)) {
		diag_at(d, at, "limit: expected COUNT/PER (e.g. 1000/s), got %s",
			 optval_type(v) == OPTVAL_SCALAR ? "nothing" : optval_type(v) == OPTVAL_LIST ? "a list"
			 : "a mapping");
		return -1;
	}
	slash = memchr(str, '/', len);
	if (!slash || (size_t)(slash - str) >= sizeof count ||
	    strlen(slash + 1) >= sizeof per) {
		diag_at(d, at, "bad rate '%s': expected COUNT/PER (e.g. 1000/s, 10/100ms, "
			 "1MiB/s)", str);
		return -1;
	}
	memcpy(count, str, (size_t)(slash - str));
	count[slash - str] = '\0';
	snprintf(per, sizeof per, "%s", slash + 1);
	l = csp_calloc(1, sizeof *l);
	if (parse_int(count, &n, &why) == 0) {
		if (n < 1) {
			diag_at(d, at, "bad rate '%s': the count must be 1 or more", str);
			goto fail;
		}
		l->count = (uint64_t)n;
	} else if (parse_size(count, &l->count, &why) == 0) {
		if (l->count == 0) {
			diag_at(d, at, "bad rate '%s': the size must be 1 byte or more", str);
			goto fail;
		}
		l->bytes = 1;
	} else {
		diag_at(d, at, "bad rate '%s': '%s' is neither a number of records nor a "
			 "size (e.g. 1000 or 64KiB)", str, count);
		goto fail;
	}
	for (size_t i = 0; i < sizeof units / sizeof *units; i++)
		if (!strcmp(per, units[i])) {
			/* A bare unit is one of it. */
			memmove(per + 1, per, strlen(per) + 1);
			per[0] = '1';
			break;
		}
	if (parse_duration(per, &l->per, &why)) {
		diag_at(d, at, "bad rate '%s': bad duration '%s': %s", str, slash + 1, why);
		goto fail;
	}
	if (l->per == 0) {
		diag_at(d, at, "bad rate '%s': the duration must be more than 0", str);
		goto fail;
	}
	*(struct rate_limit **)dst = l;
	return 0;
fail:
	free(l);
	return -1;
}

static const struct option rate_options[] = {
	{ .name = "limit", .type = OPT_CUSTOM, .offset = offsetof(struct rate_conf, limit),
	  .parse = limit_parse, .free = limit_free, .type_name = "COUNT/PER",
	  .doc = "records or bytes per duration in one string: 1000/s, 10/100ms, 1MiB/s" },
	{ .name = "records", .type = OPT_INT, .offset = offsetof(struct rate_conf, records),
	  .min = 1, .max = INT64_MAX, .doc = "records allowed per `per`" },
	{ .name = "bytes", .type = OPT_SIZE, .offset = offsetof(struct rate_conf, bytes),
	  .min = 1, .max = INT64_MAX, .doc = "bytes allowed per `per` (terminators count)" },
	{ .name = "per", .type = OPT_DURATION, .offset = offsetof(struct rate_conf, per),
	  .def = "1s", .min = 1, .max = INT64_MAX, .doc = "the period records or bytes count over" },
	{ .name = "burst", .type = OPT_SIZE, .offset = offsetof(struct rate_conf, burst),
	  .min = 1, .max = INT_MAX,
	  .doc = "tokens the bucket holds: records or bytes that may pass at once "
		 "(default: the number per `per`)" },
	{ .name = NULL },
};

/* What check settles: the rate in tokens per second and the burst. */
struct rate_state {
	double per_second;
	int burst;
	int bytes;
	int64_t piece;       /* most tokens one piece takes */
};

static void rate_free(struct stage *st)
{
	free(st->priv);
	st->priv = NULL;
}

/*
 * Settle the rate from exactly one of limit, records and bytes (per goes
 * with the latter two).  Returns 0, or -1 after a positioned diagnostic.
 */
static int rate_check(struct stage *st, struct diags *d)
{
	const struct rate_conf *c = st->conf;
	struct pos at = stage_pos(st), per_at = stage_opt_pos(st, "per");
	struct rate_state *rs;
	uint64_t count;
	int64_t per;
	int given = !!c->limit + !!c->records + !!c->bytes;

	if (given != 1) {
		if (given == 0)
			diag_at(d, at, "rate: give one of limit, records and bytes "
				 "(e.g. rate: 1000/s)");
		else
			diag_at(d, at, "rate: give only one of limit, records and bytes");
		return -1;
	}
	if (c->limit && per_at.file) {
		diag_at(d, per_at, "per: goes with records or bytes; the limit "
			 "names its own period");
		return -1;
	}
	if (c->limit) {
		count = c->limit->count;
		per = c->limit->per;
	} else {
		count = c->records ? (uint64_t)c->records : c->bytes;
		per = c->per;
	}
	rs = csp_calloc(1, sizeof *rs);
	rs->bytes = c->limit ? c->limit->bytes : c->bytes != 0;
	rs->per_second = (double)count * 1e9 / (double)per;
	rs->burst = c->burst ? (int)c->burst : count > INT_MAX ? INT_MAX : (int)count;
	rs->piece = (int64_t)floor(rs->per_second * (double)PIECE_NS / 1e9);
	if (rs->piece < 1)
		rs->piece = 1;
	if (rs->piece > rs->burst)
		rs->piece = rs->burst;
	rate_free(st);
	st->priv = rs;
	return 0;
}

static void *rate_worker_new(struct stage *st, int index)
{
	const struct rate_state *rs = st->priv;

	(void)index;
	return limiter_new(rs->per_second, rs->burst);
}

static void rate_worker_free(struct stage *st, void *state)
{
	(void)st;
	limiter_free(state);
}

/* Records [from, to) of b as a new batch (tags kept). */
static struct batch *piece_of(const struct batch *b, uint32_t from, uint32_t to)
{
	size_t bytes = 0;
	struct batch *p;

	for (uint32_t i = from; i < to; i++)
		bytes += b->recs[i].len + 1;
	p = batch_new((enum framing)b->framing, bytes, to - from);
	p->origin = b->origin;
	p->first_rec = b->first_rec;
	p->offset = b->offset;
	for (uint32_t i = from; i < to; i++)
		batch_add(p, rec_ptr(b, i), b->recs[i].len, b->recs[i].tag);
	return p;
}

/* Take n tokens, in waits of at most the burst.  CSP_OK or the context's
 * error (the limiter gave back what it had not yet granted). */
static int take(struct limiter *l, int64_t n, int burst, struct ctx *ctx)
{
	while (n > 0) {
		int k = n > burst ? burst : (int)n;
		int r = limiter_wait_n(l, k, ctx);
		if (r != CSP_OK)
			return r;
		n -= k;
	}
	return CSP_OK;
}

/*
 * Pass b on at the rate.  Takes ownership of b.  Returns STAGE_OK, or
 * STAGE_STOP when the output is gone.  When the context ends while it
 * waits it returns at once, counting the records not yet passed as
 * filtered (the stage was stopped: its readers have gone) or dropped (the
 * run is aborting).  Once the run is stopping (a signal, a deadline) it
 * no longer paces: what it holds and what is still to drain passes at
 * once, so that the drain finishes within shutdown_timeout.  This can't
 * fail.
 */
static int rate_process(struct worker *w, struct batch *b, struct outq *out, struct err *e)
{
	const struct rate_state *rs = w->stage->priv;
	struct limiter *l = w->state;
	size_t term = batch_term_len(b);
	uint32_t i = 0;
	int64_t all = rs->bytes ? (int64_t)batch_bytes(b) : (int64_t)b->n;
	struct ctx *pace = stage_pace_ctx(w->stage);
	int rc = STAGE_OK;

	(void)e;
	/* Every token there already, or the run stopping: the batch passes
	 * as it is. */
	if ((ctx_err(pace) && !ctx_err(w->ctx)) ||
	    (all <= rs->burst && limiter_tokens(l) >= (double)all &&
	     take(l, all, rs->burst, pace) == CSP_OK)) {
		if (b->n == 0) {
			batch_free(b);
			return STAGE_OK;
		}
		return outq_push(out, b) ? STAGE_STOP : STAGE_OK;
	}
	while (i < b->n) {
		uint32_t j = i + 1;
		int64_t cost = rs->bytes ? (int64_t)(b->recs[i].len + term) : 1;

		/* A piece: one record, then as many as fit in a piece's
		 * tokens. */
		while (j < b->n) {
			int64_t more = rs->bytes ? (int64_t)(b->recs[j].len + term) : 1;
			if (cost + more > rs->piece)
				break;
			cost += more;
			j++;
		}
		int took = take(l, cost, rs->burst, pace);
		if (took != CSP_OK && !ctx_err(w->ctx)) {
			/* The run is stopping: the rest passes unpaced. */
			rc = outq_push(out, piece_of(b, i, b->n)) ? STAGE_STOP : STAGE_OK;
			break;
		}
		if (took != CSP_OK) {
			/* Stopped (every reader gone): nobody wants the rest.
			 * Otherwise the run is aborting. */
			int stopped = ctx_cause(w->ctx, NULL) == STAGE_CAUSE_STOPPED;
			wstat_add(stopped ? &w->stats->filtered : &w->stats->dropped, b->n - i);
			rc = stopped ? STAGE_STOP : STAGE_OK;
			break;
		}
		if (i == 0 && j == b->n) {
			/* The whole batch in one piece: no copy. */
			rc = outq_push(out, b) ? STAGE_STOP : STAGE_OK;
			return rc;
		}
		if (outq_push(out, piece_of(b, i, j))) {
			wstat_add(out->stopped == CSP_CLOSED ? &w->stats->filtered
				  : &w->stats->dropped, b->n - j);
			rc = STAGE_STOP;
			break;
		}
		i = j;
	}
	batch_free(b);
	return rc;
}

const struct stage_kind kind_rate = {
	.name = "rate",
	.summary = "pass records no faster than a rate, in records or bytes per duration",
	.role = ROLE_TRANSFORM,
	.flags = KIND_ONE_WORKER | KIND_NO_SHARD,
	.options = rate_options,
	.conf_size = sizeof(struct rate_conf),
	.shorthand = "limit",
	.example = "rate: 1000/s",
	.check = rate_check,
	.worker_new = rate_worker_new,
	.worker_free = rate_worker_free,
	.process = rate_process,
	.free = rate_free,
};
