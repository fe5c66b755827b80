/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Host suspend and clock changes, seen as jumps between clocks: across a suspend CLOCK_BOOTTIME
 * advances and CLOCK_MONOTONIC does not; a settimeofday() moves CLOCK_REALTIME alone. */

#include <stdbool.h>
#include <stdint.h>

typedef struct ClockSample {
        uint64_t monotonic_usec, boottime_usec, realtime_usec;
} ClockSample;

void clock_sample(ClockSample *ret);
/* True when boottime or realtime moved against monotonic by more than threshold_usec between
 * the two samples (in either direction for realtime). */
bool clock_jumped(const ClockSample *before, const ClockSample *after, uint64_t threshold_usec);
