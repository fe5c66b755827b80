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
#include "log.h"
#include "macro.h"
#include "maitred-network.h"

#define NL_BUF_SIZE 512u
#define NL_RECV_SIZE 8192u
#define NL_TIMEOUT_MS 5000

static int nl_init(
        void *buf, size_t size, uint16_t type, uint16_t flags, uint32_t seq, const void *hdr, size_t hlen) {
        struct nlmsghdr *n = buf;
        size_t len = NLMSG_LENGTH(hlen);

        if (size < NLMSG_ALIGN(len))
                return -ENOBUFS;
        memset(buf, 0, NLMSG_ALIGN(len));
        n->nlmsg_len = (uint32_t) len;
        n->nlmsg_type = type;
        n->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        n->nlmsg_seq = seq;
        memcpy(NLMSG_DATA(n), hdr, hlen);
        return 0;
}

static int nl_attr(void *buf, size_t size, uint16_t type, const void *data, size_t dlen) {
        struct nlmsghdr *n = buf;
        size_t off = NLMSG_ALIGN(n->nlmsg_len);
        struct rtattr *a;

        if (dlen > UINT16_MAX - RTA_LENGTH(0) || off + RTA_SPACE(dlen) > size)
                return -ENOBUFS;
        a = (struct rtattr *) ((uint8_t *) buf + off);
        memset(a, 0, RTA_SPACE(dlen));
        a->rta_type = type;
        a->rta_len = (unsigned short) RTA_LENGTH(dlen);
        memcpy(RTA_DATA(a), data, dlen);
        n->nlmsg_len = (uint32_t) (off + RTA_ALIGN(a->rta_len));
        return 0;
}

static size_t addr_len(int family) {
        return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

int rtnl_build_link_up(void *buf, size_t size, uint32_t seq, int ifindex) {
        struct ifinfomsg ifi = {
                .ifi_family = AF_UNSPEC,
                .ifi_index = ifindex,
                .ifi_flags = IFF_UP,
                .ifi_change = IFF_UP,
        };
        int r;

        r = nl_init(buf, size, RTM_NEWLINK, 0, seq, &ifi, sizeof(ifi));
        if (r < 0)
                return r;
        return (int) ((struct nlmsghdr *) buf)->nlmsg_len;
}

int rtnl_build_addr(
        void *buf,
        size_t size,
        uint32_t seq,
        int family,
        int ifindex,
        const void *addr,
        unsigned prefixlen) {
        size_t alen = addr_len(family);
        struct ifaddrmsg ifa = {
                .ifa_family = (uint8_t) family,
                .ifa_prefixlen = (uint8_t) prefixlen,
                /* No duplicate address detection: a tentative address cannot carry the default
                 * route we add next, and QEMU's user network has no other hosts. */
                .ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0,
                .ifa_scope = RT_SCOPE_UNIVERSE,
                .ifa_index = (uint32_t) ifindex,
        };
        int r;

        if (alen == 0 || prefixlen > alen * 8)
                return -EINVAL;
        r = nl_init(buf, size, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, seq, &ifa, sizeof(ifa));
        if (r < 0)
                return r;
        r = nl_attr(buf, size, IFA_LOCAL, addr, alen);
        if (r < 0)
                return r;
        r = nl_attr(buf, size, IFA_ADDRESS, addr, alen);
        if (r < 0)
                return r;
        return (int) ((struct nlmsghdr *) buf)->nlmsg_len;
}

int rtnl_build_default_route(void *buf, size_t size, uint32_t seq, int family, int ifindex, const void *gw) {
        size_t alen = addr_len(family);
        struct rtmsg rtm = {
                .rtm_family = (uint8_t) family,
                .rtm_table = RT_TABLE_MAIN,
                .rtm_protocol = RTPROT_BOOT,
                .rtm_scope = RT_SCOPE_UNIVERSE,
                .rtm_type = RTN_UNICAST,
        };
        uint32_t oif = (uint32_t) ifindex;
        int r;

        if (alen == 0)
                return -EINVAL;
        r = nl_init(buf, size, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, seq, &rtm, sizeof(rtm));
        if (r < 0)
                return r;
        r = nl_attr(buf, size, RTA_GATEWAY, gw, alen);
        if (r < 0)
                return r;
        r = nl_attr(buf, size, RTA_OIF, &oif, sizeof(oif));
        if (r < 0)
                return r;
        return (int) ((struct nlmsghdr *) buf)->nlmsg_len;
}

int rtnl_parse_ack(const void *buf, size_t len, uint32_t seq) {
        const uint8_t *p = buf;

        while (len > 0) {
                struct nlmsghdr h;
                size_t step;

                if (len < sizeof(h))
                        return -EBADMSG;
                memcpy(&h, p, sizeof(h));
                if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len)
                        return -EBADMSG;
                if (h.nlmsg_seq == seq && h.nlmsg_type == NLMSG_ERROR) {
                        struct nlmsgerr e;

                        if (h.nlmsg_len < NLMSG_LENGTH(sizeof(e.error)))
                                return -EBADMSG;
                        memcpy(&e.error, p + NLMSG_HDRLEN, sizeof(e.error));
                        if (e.error > 0 || e.error < -4095)
                                return -EBADMSG;
                        return e.error;
                }
                step = NLMSG_ALIGN(h.nlmsg_len);
                if (step >= len)
                        break;
                p += step;
                len -= step;
        }
        return -EAGAIN;
}

static int rtnl_call(int fd, void *msg, size_t len, uint32_t seq) {
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        _cleanup_free_ uint8_t *rbuf = NULL;

        if (sendto(fd, msg, len, 0, (struct sockaddr *) &kernel, sizeof(kernel)) < 0)
                return -errno;
        rbuf = malloc(NL_RECV_SIZE);
        if (!rbuf)
                return -ENOMEM;
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                struct sockaddr_nl from = {};
                socklen_t fl = sizeof(from);
                ssize_t n;
                int r;

                r = poll(&pfd, 1, NL_TIMEOUT_MS);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        return -ETIMEDOUT;
                n = recvfrom(fd, rbuf, NL_RECV_SIZE, MSG_TRUNC, (struct sockaddr *) &from, &fl);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if ((size_t) n > NL_RECV_SIZE)
                        return -EMSGSIZE;
                if (from.nl_pid != 0) /* only the kernel answers */
                        continue;
                r = rtnl_parse_ack(rbuf, (size_t) n, seq);
                if (r != -EAGAIN)
                        return r;
        }
}

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
        uint8_t buf[NL_BUF_SIZE];
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

int network_configure(const Bistro__Maitred__ConfigureNetworkRequest *req, const char **ret_step) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *resolv = NULL;
        uint8_t buf[NL_BUF_SIZE];
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
