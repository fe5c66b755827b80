/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* ConfigureNetwork: eth0 through rtnetlink (the guest has no iproute2), resolv.conf and the
 * hostname. The builders and the reply parser are pure so unit tests run them. */

#include <stddef.h>
#include <stdint.h>

#include "maitred.pb-c.h"
#include "rtnl-util.h"

#define NETWORK_IFNAME "eth0"
#define RESOLV_CONF_PATH "/run/resolv.conf"

/* resolv.conf text; *ret is malloc()ed. */
int resolv_conf_format(
        char *const *nameservers, size_t n_ns, char *const *search, size_t n_search, char **ret);

/* Applies req (validated by the wire layer). IPv4, DNS and the hostname first, IPv6 last, so an
 * IPv6 failure leaves IPv4 working. On failure *ret_step names what failed. */
int network_configure(const Bistro__Maitred__ConfigureNetworkRequest *req, const char **ret_step);
