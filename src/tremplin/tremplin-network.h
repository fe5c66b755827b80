/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The containers' network in the VM (docs/design/containers.md): the bridge bistrobr0 with
 * 10.0.3.1/24 and fd42:b157:3::1/64, forwarding, and nft tables "ip bistro" / "ip6 bistro"
 * masquerading the containers out of eth0. Container slot N gets 10.0.3.(N+1) and
 * fd42:b157:3::(N+1) (hex). */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#define NETWORK_BRIDGE "bistrobr0"
#define NETWORK_SLOT_MAX 250u

typedef struct NetworkAddresses {
        char ipv4[INET_ADDRSTRLEN];
        char ipv6[INET6_ADDRSTRLEN];
} NetworkAddresses;

/* Idempotent: bridge up with its addresses, forwarding sysctls, nft NAT. Logs. */
int network_setup(void);

/* 10.0.3.(slot+1), fd42:b157:3::<hex slot+1>; -EINVAL outside 1..NETWORK_SLOT_MAX. */
int network_slot_addresses(unsigned slot, NetworkAddresses *ret);

/* Appends lxc.net.0.* lines: a veth on the bridge, static IPv4/IPv6 with gateways, a stable MAC
 * derived from the slot. */
int network_write_lxc_config(FILE *f, unsigned slot);

/* Rewrites etc/resolv.conf inside the rootfs (nameserver 10.0.2.3, and fec0::3 when the VM has
 * IPv6). Never follows a symlink out of the rootfs: a symlink resolv.conf is replaced by a file. */
int network_write_resolv_conf(int rootfs_fd);
