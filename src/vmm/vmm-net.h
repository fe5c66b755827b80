/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The VM's network: one slirpd per VM (docs/design/network.md), connected to QEMU by a socketpair
 * (QEMU's "-netdev stream" end needs no socket path and no host network). */

#include <stdbool.h>

/* The guest's static addressing, fixed in slirpd. concierge's ConfigureNetwork
 * (src/concierge/guest.c) sends the same: slirpd and maitred must agree, as no DHCP runs. */
#define NET_GATEWAY_IPV4 "10.0.2.2"
#define NET_GATEWAY_IPV6 "fec0::2"

typedef struct SlirpdConfig {
        const char *binary;
        int fd;             /* slirpd's end of the socketpair, as slirpd sees it */
        bool host_loopback; /* the gateway addresses reach the host's 127.0.0.1 and ::1 */
} SlirpdConfig;

/* slirpd's argv (pure; free with strv_free()). -EINVAL for a negative fd or no binary. */
int slirpd_build_argv(const SlirpdConfig *c, char ***ret);
