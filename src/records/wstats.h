/* SPDX-License-Identifier: MIT */
/*
 * wstats.h - the per-worker record counters a stage's worker keeps and the
 * code it calls (codecs, stages) adds to; the engine reads and sums them.
 * Below core so that records-level code can count without the stage
 * interface.
 */
#ifndef CSPIPE_WSTATS_H
#define CSPIPE_WSTATS_H

#include <stdatomic.h>
#include <stdint.h>

/* Per-worker counters: written by their worker only, read by the progress
 * view and summed at the end (relaxed atomics: no locked instruction on the
 * hot path). */
struct wstats {
	_Atomic uint64_t rec_in, rec_out, bytes_in, bytes_out;
	_Atomic uint64_t filtered;  /* removed on purpose (filter, head, route without default) */
	_Atomic uint64_t dropped;   /* lost to an error policy (on_error: drop) or an abort */
	_Atomic uint64_t created;   /* records made here beyond those taken in */
	_Atomic uint64_t batches;
	_Atomic int64_t busy_ns;    /* time spent in process/run */
	_Atomic int busy;           /* 1 while inside process (live view) */
};

static inline void wstat_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
			      memory_order_relaxed);
}

#endif
