/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Clocks and durations. Every program reads time through these; nothing else calls clock_gettime(). */

#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;

#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define NSEC_PER_USEC ((uint64_t) 1000)
#define USEC_PER_MSEC ((usec_t) 1000)
#define USEC_PER_SEC ((usec_t) 1000000)
#define MSEC_PER_SEC ((uint64_t) 1000)

/* The clock in microseconds (0 if the clock is unavailable, which cannot happen for MONOTONIC). */
usec_t now_usec(clockid_t clock);
/* The clock in milliseconds. */
uint64_t now_msec(clockid_t clock);

usec_t timespec_load_usec(const struct timespec *ts);
struct timespec *timespec_store_usec(struct timespec *ts, usec_t u);

/* How long to wait before restarting a supervised process: min the first time (previous < min) and
 * after a run of stable or longer, else twice the previous delay, at most max. */
typedef struct RestartBackoff {
        usec_t min, max, stable;
} RestartBackoff;
usec_t restart_backoff_next(const RestartBackoff *b, usec_t previous, usec_t ran);

/* Milliseconds left until the monotonic deadline (in usec), clamped to [0, INT32_MAX]: for poll(). */
int deadline_poll_timeout_ms(usec_t deadline);
