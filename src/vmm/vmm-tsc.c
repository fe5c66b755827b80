/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "fd-util.h"
#include "macro.h"
#include "string-util.h"
#include "vmm-tsc.h"

/* Plausible TSC rates: 100 MHz .. 20 GHz. */
#define TSC_KHZ_MIN 100000U
#define TSC_KHZ_MAX 20000000U
#define SAMPLE_NS (50 * 1000 * 1000ULL)

int tsc_parse_khz(const char *s, uint32_t *ret) {
        char buf[32];
        size_t l;
        uint32_t v;
        int r;

        if (!s)
                return -EINVAL;
        l = strlen(s);
        while (l > 0 && (s[l - 1] == '\n' || s[l - 1] == ' '))
                l--;
        if (l == 0 || l >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, l);
        buf[l] = 0;
        r = safe_atou32(buf, &v);
        if (r < 0)
                return r;
        if (v < TSC_KHZ_MIN || v > TSC_KHZ_MAX)
                return -ERANGE;
        *ret = v;
        return 0;
}

int tsc_khz_from_sample(uint64_t cycles, uint64_t ns, uint32_t *ret) {
        unsigned __int128 khz;

        if (ns == 0)
                return -EINVAL;
        /* cycles/ns GHz = cycles * 1e6 / ns kHz, rounded. */
        khz = ((unsigned __int128) cycles * 1000000U + ns / 2) / ns;
        if (khz < TSC_KHZ_MIN || khz > TSC_KHZ_MAX)
                return -ERANGE;
        *ret = (uint32_t) khz;
        return 0;
}

static uint64_t ts_ns(const struct timespec *ts) {
        return (uint64_t) ts->tv_sec * 1000000000ULL + (uint64_t) ts->tv_nsec;
}

/* One (tsc, ns) pair; reading the clock between two rdtsc bounds the error, keep the tightest. */
static void sample(uint64_t *ret_tsc, uint64_t *ret_ns) {
        uint64_t best = UINT64_MAX;

        for (int i = 0; i < 16; i++) {
                struct timespec ts;
                uint64_t a, b;

                a = __rdtsc();
                (void) clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
                b = __rdtsc();
                if (b - a < best) {
                        best = b - a;
                        *ret_tsc = a + (b - a) / 2;
                        *ret_ns = ts_ns(&ts);
                }
        }
}

int tsc_host_khz(uint32_t *ret) {
        _cleanup_free_ char *s = NULL;
        struct timespec req = { .tv_nsec = SAMPLE_NS };
        uint64_t t0, n0, t1, n1;

        if (read_file("/sys/devices/system/cpu/cpu0/tsc_freq_khz", 64, &s, NULL) >= 0 &&
            tsc_parse_khz(s, ret) >= 0)
                return 0;

        sample(&t0, &n0);
        while (nanosleep(&req, &req) < 0 && errno == EINTR)
                ;
        sample(&t1, &n1);
        if (t1 <= t0 || n1 <= n0)
                return -EIO;
        return tsc_khz_from_sample(t1 - t0, n1 - n0, ret);
}
