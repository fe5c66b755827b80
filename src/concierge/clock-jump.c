/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <time.h>

#include "clock-jump.h"
#include "time-util.h"

void clock_sample(ClockSample *ret) {
        ret->monotonic_usec = now_usec(CLOCK_MONOTONIC);
        ret->boottime_usec = now_usec(CLOCK_BOOTTIME);
        ret->realtime_usec = now_usec(CLOCK_REALTIME);
}

bool clock_jumped(const ClockSample *before, const ClockSample *after, uint64_t threshold_usec) {
        /* Offsets between clocks stay constant while nothing jumps; unsigned wrap cancels out. */
        uint64_t boot_before = before->boottime_usec - before->monotonic_usec;
        uint64_t boot_after = after->boottime_usec - after->monotonic_usec;
        uint64_t real_before = before->realtime_usec - before->monotonic_usec;
        uint64_t real_after = after->realtime_usec - after->monotonic_usec;

        int64_t d_boot = (int64_t) (boot_after - boot_before);
        int64_t d_real = (int64_t) (real_after - real_before);

        return d_boot > (int64_t) threshold_usec || d_real > (int64_t) threshold_usec ||
               d_real < -(int64_t) threshold_usec;
}
