/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fd-util.h"
#include "macro.h"
#include "rtnl-util.h"
#include "time-util.h"

#define RTNL_RECV_SIZE 8192u
#define RTNL_TIMEOUT_MS 5000

int rtnl_msg_init(
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

int rtnl_msg_attr(void *buf, size_t size, uint16_t type, const void *data, size_t dlen) {
        struct nlmsghdr *n = buf;
        size_t off = NLMSG_ALIGN(n->nlmsg_len);
        struct rtattr *a;

        if (dlen > UINT16_MAX - RTA_LENGTH(0) || off + RTA_SPACE(dlen) > size)
                return -ENOBUFS;
        a = (struct rtattr *) ((uint8_t *) buf + off);
        memset(a, 0, RTA_SPACE(dlen));
        a->rta_type = type;
        a->rta_len = (unsigned short) RTA_LENGTH(dlen);
        if (dlen > 0)
                memcpy(RTA_DATA(a), data, dlen);
        n->nlmsg_len = (uint32_t) (off + RTA_ALIGN(a->rta_len));
        return (int) off;
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

        r = rtnl_msg_init(buf, size, RTM_NEWLINK, 0, seq, &ifi, sizeof(ifi));
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
        r = rtnl_msg_init(buf, size, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, seq, &ifa, sizeof(ifa));
        if (r < 0)
                return r;
        r = rtnl_msg_attr(buf, size, IFA_LOCAL, addr, alen);
        if (r < 0)
                return r;
        r = rtnl_msg_attr(buf, size, IFA_ADDRESS, addr, alen);
        if (r < 0)
                return r;
        if (family == AF_INET && prefixlen < 31) {
                uint32_t a, brd;

                memcpy(&a, addr, sizeof(a));
                brd = a | htonl(UINT32_MAX >> prefixlen);
                r = rtnl_msg_attr(buf, size, IFA_BROADCAST, &brd, sizeof(brd));
                if (r < 0)
                        return r;
        }
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
        r = rtnl_msg_init(buf, size, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, seq, &rtm, sizeof(rtm));
        if (r < 0)
                return r;
        r = rtnl_msg_attr(buf, size, RTA_GATEWAY, gw, alen);
        if (r < 0)
                return r;
        r = rtnl_msg_attr(buf, size, RTA_OIF, &oif, sizeof(oif));
        if (r < 0)
                return r;
        return (int) ((struct nlmsghdr *) buf)->nlmsg_len;
}

void rtnl_msg_nest_end(void *buf, int nest_offset) {
        struct nlmsghdr *n = buf;
        struct rtattr *a = (struct rtattr *) ((uint8_t *) buf + nest_offset);

        a->rta_len = (unsigned short) (n->nlmsg_len - (uint32_t) nest_offset);
}

int rtnl_build_bridge(void *buf, size_t size, uint32_t seq, const char *name) {
        struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
        int r, linkinfo;

        r = rtnl_msg_init(buf, size, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, seq, &ifi, sizeof(ifi));
        if (r < 0)
                return r;
        r = rtnl_msg_attr(buf, size, IFLA_IFNAME, name, strlen(name) + 1);
        if (r < 0)
                return r;
        linkinfo = rtnl_msg_attr(buf, size, IFLA_LINKINFO, NULL, 0);
        if (linkinfo < 0)
                return linkinfo;
        r = rtnl_msg_attr(buf, size, IFLA_INFO_KIND, "bridge", sizeof("bridge"));
        if (r < 0)
                return r;
        rtnl_msg_nest_end(buf, linkinfo);
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

int rtnl_call(int fd, const void *msg, size_t len, uint32_t seq) {
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        _cleanup_free_ uint8_t *rbuf = NULL;

        if (sendto(fd, msg, len, 0, (struct sockaddr *) &kernel, sizeof(kernel)) < 0)
                return -errno;
        rbuf = malloc(RTNL_RECV_SIZE);
        if (!rbuf)
                return -ENOMEM;
        for (;;) {
                struct sockaddr_nl from = {};
                socklen_t fl = sizeof(from);
                ssize_t n;
                int r;

                /* Each answer (not the whole exchange) gets RTNL_TIMEOUT_MS. */
                r = fd_wait_until(fd, POLLIN, (int64_t) now_msec(CLOCK_MONOTONIC) + RTNL_TIMEOUT_MS);
                if (r < 0)
                        return r;
                n = recvfrom(fd, rbuf, RTNL_RECV_SIZE, MSG_TRUNC, (struct sockaddr *) &from, &fl);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if ((size_t) n > RTNL_RECV_SIZE)
                        return -EMSGSIZE;
                if (from.nl_pid != 0) /* only the kernel answers */
                        continue;
                r = rtnl_parse_ack(rbuf, (size_t) n, seq);
                if (r != -EAGAIN)
                        return r;
        }
}
