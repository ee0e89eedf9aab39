/* SPDX-License-Identifier: MIT */
/*
 * clock.c - monotonic time.  (Sleeping is parking on no channel: csp_sleep
 * is in chan.c.)
 */
#include "csp/clock.h"

#include <time.h>

int64_t csp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * CSP_NS_PER_S + ts.tv_nsec;
}
