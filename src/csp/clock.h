/* SPDX-License-Identifier: MIT */
/*
 * clock.h - monotonic time in nanoseconds.
 */
#ifndef CSP_CLOCK_H
#define CSP_CLOCK_H

#include <stdint.h>

#define CSP_NS_PER_US 1000LL
#define CSP_NS_PER_MS 1000000LL
#define CSP_NS_PER_S 1000000000LL

/* Nanoseconds on CLOCK_MONOTONIC.  Can't fail. */
int64_t csp_now(void);

/* A clock that tests can replace: rate limiters and breakers read time
 * through one of these; NULL means csp_now. */
typedef int64_t (*csp_clock_fn)(void *arg);

#endif
