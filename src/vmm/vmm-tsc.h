/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* The host TSC frequency, passed to TCG guests as tsc_early_khz= (see docs/design/vmm.md: without
 * it, microvm guests under TCG hang calibrating the TSC against a PIT they do not have). */

/* Parses the content of /sys/devices/system/cpu/cpu0/tsc_freq_khz ("2445424\n"). */
int tsc_parse_khz(const char *s, uint32_t *ret);
/* kHz from a measurement: cycles counted during ns nanoseconds, rounded to nearest. */
int tsc_khz_from_sample(uint64_t cycles, uint64_t ns, uint32_t *ret);
/* sysfs when the kernel exposes it, else rdtsc measured against CLOCK_MONOTONIC_RAW (~50 ms). */
int tsc_host_khz(uint32_t *ret);
