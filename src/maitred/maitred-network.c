/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "maitred-network.h"
#include "rtnl-util.h"

int resolv_conf_format(
        char *const *nameservers, size_t n_ns, char *const *search, size_t n_search, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&s, &size);
        if (!f)
                return -ENOMEM;
        fputs("# Written by maitred (ConfigureNetwork).\n", f);
        for (size_t i = 0; i < n_ns; i++)
                fprintf(f, "nameserver %s\n", nameservers[i]);
        if (n_search > 0) {
                fputs("search", f);
                for (size_t i = 0; i < n_search; i++)
                        fprintf(f, " %s", search[i]);
                fputc('\n', f);
        }
        if (fclose(f) != 0 || !s)
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        return 0;
}

static int configure_addr_route(
        int fd, uint32_t *seq, int family, int ifindex, const void *addr, unsigned plen, const void *gw) {
        uint8_t buf[RTNL_BUF_SIZE];
        int r;

        r = rtnl_build_addr(buf, sizeof(buf), ++*seq, family, ifindex, addr, plen);
        if (r < 0)
                return r;
        r = rtnl_call(fd, buf, (size_t) r, *seq);
        if (r < 0)
                return r;
        if (!gw)
                return 0;
        r = rtnl_build_default_route(buf, sizeof(buf), ++*seq, family, ifindex, gw);
        if (r < 0)
                return r;
        return rtnl_call(fd, buf, (size_t) r, *seq);
}

static const struct {
        const char *name, *value;
} ipv6_knobs[] = {
        { "accept_ra", "0" },
        { "autoconf", "0" },
        { "use_oif_addrs_only", "1" },
};

int network_configure(const Bistro__Maitred__ConfigureNetworkRequest *req, const char **ret_step) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *resolv = NULL;
        uint8_t buf[RTNL_BUF_SIZE];
        uint32_t seq = 0;
        int ifindex, r;

        *ret_step = "netlink socket";
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;

        *ret_step = "finding " NETWORK_IFNAME;
        ifindex = (int) if_nametoindex(NETWORK_IFNAME);
        if (ifindex <= 0)
                return errno > 0 ? -errno : -ENODEV;

        /* Configured statically: no router advertisements, no SLAAC address beside ours. And the
         * source of what leaves through eth0 (ours or masqueraded from the containers) is eth0's
         * own address: the kernel would otherwise prefer the bridge's ULA (global scope) over
         * fec0::15 (site-local), an address the host's slirpd cannot resolve with NDP, so replies
         * would never come. No IPv6 at all leaves no files: fine. */
        *ret_step = "IPv6 settings of " NETWORK_IFNAME;
        for (size_t i = 0; i < ELEMENTSOF(ipv6_knobs); i++) {
                char path[96];

                (void) snprintf(
                        path, sizeof(path), "/proc/sys/net/ipv6/conf/" NETWORK_IFNAME "/%s",
                        ipv6_knobs[i].name);
                r = write_string_file(path, ipv6_knobs[i].value, 0);
                if (r < 0 && r != -ENOENT)
                        return r;
        }

        *ret_step = "bringing " NETWORK_IFNAME " up";
        r = rtnl_build_link_up(buf, sizeof(buf), ++seq, ifindex);
        if (r < 0)
                return r;
        r = rtnl_call(fd, buf, (size_t) r, seq);
        if (r < 0)
                return r;

        *ret_step = "IPv4 address or default route";
        r = configure_addr_route(
                fd, &seq, AF_INET, ifindex, &req->ipv4_address, req->ipv4_prefix_len,
                req->ipv4_gateway != 0 ? &req->ipv4_gateway : NULL);
        if (r < 0)
                return r;

        *ret_step = "writing " RESOLV_CONF_PATH;
        r = resolv_conf_format(
                req->nameservers, req->n_nameservers, req->search_domains, req->n_search_domains, &resolv);
        if (r < 0)
                return r;
        r = write_file_atomic(RESOLV_CONF_PATH, resolv, 0644);
        if (r < 0)
                return r;

        if (req->hostname && req->hostname[0]) {
                *ret_step = "sethostname";
                if (sethostname(req->hostname, strlen(req->hostname)) < 0)
                        return -errno;
        }

        if (req->ipv6_address.len == 16) {
                *ret_step = "IPv6 address or default route";
                r = configure_addr_route(
                        fd, &seq, AF_INET6, ifindex, req->ipv6_address.data, req->ipv6_prefix_len,
                        req->ipv6_gateway.len == 16 ? req->ipv6_gateway.data : NULL);
                if (r < 0)
                        return r;
        }
        *ret_step = NULL;
        return 0;
}
