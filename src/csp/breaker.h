/* SPDX-License-Identifier: MIT */
/*
 * breaker.h - circuit breaker.
 *
 * Closed: calls go through; `failures` consecutive failures open it.
 * Open: calls are refused (CSP_OPEN) until `cooldown` has passed, then it is
 * half-open.  Half-open: up to `probes` calls go through; if that many
 * succeed it closes, and any failure opens it again for another cooldown.
 * (probes calls in all per half-open period, so also at most probes in
 * flight.)  Values below 1 for failures or probes count as 1.
 *
 * Outcomes are matched to the state they were admitted in by a generation
 * number that changes on every transition: a report from a call admitted
 * before the breaker last changed state is ignored, as gobreaker does.
 * breaker_allow/breaker_done cannot carry it, so breaker_done applies to the
 * current state (ignored while open); concurrent callers should use the
 * _gen pair.  The change callback runs outside the breaker's lock, once per
 * transition and in transition order, on one of the threads using the
 * breaker (not necessarily the one that caused it); it may call back into
 * the breaker.
 */
#ifndef CSP_BREAKER_H
#define CSP_BREAKER_H

#include <stdint.h>
#include "clock.h"

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker;
typedef void (*breaker_change_fn)(void *arg, enum breaker_state from,
				  enum breaker_state to);

struct breaker *breaker_new(int failures, int64_t cooldown_ns, int probes);
void breaker_free(struct breaker *b);
void breaker_set_clock(struct breaker *b, csp_clock_fn clock, void *arg);
void breaker_on_change(struct breaker *b, breaker_change_fn fn, void *arg);

/* Ask to make a call: CSP_OK (then report its outcome with breaker_done) or
 * CSP_OPEN when refused. */
int breaker_allow(struct breaker *b);
void breaker_done(struct breaker *b, int success);
/* The same, with the generation the call was admitted in. */
int breaker_allow_gen(struct breaker *b, uint64_t *gen);
void breaker_done_gen(struct breaker *b, uint64_t gen, int success);
enum breaker_state breaker_state(struct breaker *b);
const char *breaker_state_name(enum breaker_state s);

#endif
