/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "frame-filter.h"

#define ETH_HEADER 14u
#define ETHERTYPE_IPV4 0x0800u
#define ETHERTYPE_IPV6 0x86ddu
#define IPV4_DST_OFFSET 16u
#define IPV6_DST_OFFSET 24u

static bool ipv4_is_local(const uint8_t a[4]) {
        /* 0.0.0.0/8 ("this network"; 0.0.0.0 itself is the local host to connect()) and 127.0.0.0/8. */
        return a[0] == 0 || a[0] == 127;
}

static bool ipv6_is_local(const uint8_t a[16]) {
        static const uint8_t zero[12] = {};
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

        /* ::/96 holds ::, ::1 and the deprecated IPv4-compatible addresses; ::ffff:0:0/96 maps IPv4,
         * and a v4-mapped destination on an AF_INET6 socket reaches the IPv4 address. */
        if (memcmp(a, zero, sizeof(zero)) == 0)
                return true;
        return memcmp(a, mapped, sizeof(mapped)) == 0 && ipv4_is_local(a + 12);
}

bool frame_targets_host_loopback(const uint8_t *frame, size_t len) {
        unsigned type;

        if (len < ETH_HEADER)
                return false;
        type = (unsigned) frame[12] << 8 | frame[13];
        if (type == ETHERTYPE_IPV4 && len >= ETH_HEADER + IPV4_DST_OFFSET + 4)
                return ipv4_is_local(frame + ETH_HEADER + IPV4_DST_OFFSET);
        if (type == ETHERTYPE_IPV6 && len >= ETH_HEADER + IPV6_DST_OFFSET + 16)
                return ipv6_is_local(frame + ETH_HEADER + IPV6_DST_OFFSET);
        return false;
}
