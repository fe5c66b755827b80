/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <limits.h>

#include "time-util.h"

usec_t timespec_load_usec(const struct timespec *ts) {
        if (ts->tv_sec < 0 || ts->tv_nsec < 0)
                return 0;
        if ((uint64_t) ts->tv_sec > (UINT64_MAX - 1) / USEC_PER_SEC)
                return USEC_INFINITY;
        return (usec_t) ts->tv_sec * USEC_PER_SEC + (usec_t) ts->tv_nsec / NSEC_PER_USEC;
}

struct timespec *timespec_store_usec(struct timespec *ts, usec_t u) {
        ts->tv_sec = (time_t) (u / USEC_PER_SEC);
        ts->tv_nsec = (long) ((u % USEC_PER_SEC) * NSEC_PER_USEC);
        return ts;
}

usec_t now_usec(clockid_t clock) {
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return timespec_load_usec(&ts);
}

uint64_t now_msec(clockid_t clock) {
        return now_usec(clock) / USEC_PER_MSEC;
}

int deadline_poll_timeout_ms(usec_t deadline) {
        usec_t n = now_usec(CLOCK_MONOTONIC), left;

        if (deadline == USEC_INFINITY)
                return -1;
        if (deadline <= n)
                return 0;
        left = (deadline - n + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
        return left > INT_MAX ? INT_MAX : (int) left;
}

usec_t restart_backoff_next(const RestartBackoff *b, usec_t previous, usec_t ran) {
        if (ran >= b->stable || previous < b->min)
                return b->min;
        if (previous >= b->max / 2)
                return b->max;
        return previous * 2;
}
