/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "maitred-network.h"

/* Finds attribute type in the message's attributes after a header of hlen bytes. */
static const struct rtattr *find_attr(const void *buf, size_t hlen, unsigned short type) {
        const struct nlmsghdr *n = buf;
        const struct rtattr *a = (const void *) ((const uint8_t *) buf + NLMSG_LENGTH(NLMSG_ALIGN(hlen)));
        int len = (int) n->nlmsg_len - (int) NLMSG_LENGTH(NLMSG_ALIGN(hlen));

        for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
                if (a->rta_type == type)
                        return a;
        return NULL;
}

static void test_link_up(void **state) {
        uint8_t buf[256];
        const struct nlmsghdr *n = (const void *) buf;
        const struct ifinfomsg *ifi = NLMSG_DATA(n);
        int r = rtnl_build_link_up(buf, sizeof(buf), 7, 2);

        assert_int_equal(r, NLMSG_LENGTH(sizeof(*ifi)));
        assert_int_equal(n->nlmsg_type, RTM_NEWLINK);
        assert_int_equal(n->nlmsg_seq, 7);
        assert_true(n->nlmsg_flags & NLM_F_ACK);
        assert_int_equal(ifi->ifi_index, 2);
        assert_int_equal(ifi->ifi_flags & IFF_UP, IFF_UP);
        assert_int_equal(ifi->ifi_change, IFF_UP);
}

static void test_addr_ipv4(void **state) {
        uint8_t buf[256];
        struct in_addr a;
        const struct nlmsghdr *n = (const void *) buf;
        const struct ifaddrmsg *ifa = NLMSG_DATA(n);
        const struct rtattr *at;
        int r;

        assert_int_equal(inet_pton(AF_INET, "10.0.2.15", &a), 1);
        r = rtnl_build_addr(buf, sizeof(buf), 3, AF_INET, 2, &a, 24);
        assert_int_equal(r, (int) n->nlmsg_len);
        assert_int_equal(n->nlmsg_type, RTM_NEWADDR);
        assert_int_equal(ifa->ifa_prefixlen, 24);
        assert_int_equal(ifa->ifa_index, 2);
        at = find_attr(buf, sizeof(*ifa), IFA_LOCAL);
        assert_non_null(at);
        assert_int_equal(RTA_PAYLOAD(at), 4);
        assert_memory_equal(RTA_DATA(at), &a, 4);
        assert_non_null(find_attr(buf, sizeof(*ifa), IFA_ADDRESS));
        at = find_attr(buf, sizeof(*ifa), IFA_BROADCAST);
        assert_non_null(at);
        assert_int_equal(*(const uint32_t *) RTA_DATA(at), a.s_addr | htonl(0xffu));
        /* A prefix longer than the address, an unknown family: refused. */
        assert_int_equal(rtnl_build_addr(buf, sizeof(buf), 3, AF_INET, 2, &a, 33), -EINVAL);
        assert_int_equal(rtnl_build_addr(buf, sizeof(buf), 3, AF_UNIX, 2, &a, 8), -EINVAL);
}

static void test_bridge(void **state) {
        uint8_t buf[256];
        const struct nlmsghdr *n = (const void *) buf;
        const struct rtattr *at, *kind;
        int r = rtnl_build_bridge(buf, sizeof(buf), 4, "bistrobr0");

        assert_int_equal(r, (int) n->nlmsg_len);
        assert_int_equal(n->nlmsg_type, RTM_NEWLINK);
        assert_true(n->nlmsg_flags & NLM_F_CREATE);
        at = find_attr(buf, sizeof(struct ifinfomsg), IFLA_IFNAME);
        assert_non_null(at);
        assert_string_equal(RTA_DATA(at), "bistrobr0");
        at = find_attr(buf, sizeof(struct ifinfomsg), IFLA_LINKINFO);
        assert_non_null(at);
        /* The nest covers exactly its one attribute, the kind. */
        kind = RTA_DATA(at);
        assert_int_equal(at->rta_len, RTA_LENGTH(RTA_ALIGN(kind->rta_len)));
        assert_int_equal(kind->rta_type, IFLA_INFO_KIND);
        assert_string_equal(RTA_DATA(kind), "bridge");
        assert_int_equal(rtnl_build_bridge(buf, 40, 4, "bistrobr0"), -ENOBUFS);
}

static void test_route_ipv6(void **state) {
        uint8_t buf[256], gw[16];
        const struct nlmsghdr *n = (const void *) buf;
        const struct rtmsg *rtm = NLMSG_DATA(n);
        const struct rtattr *at;
        int r;

        assert_int_equal(inet_pton(AF_INET6, "fec0::2", gw), 1);
        r = rtnl_build_default_route(buf, sizeof(buf), 9, AF_INET6, 2, gw);
        assert_int_equal(r, (int) n->nlmsg_len);
        assert_int_equal(n->nlmsg_type, RTM_NEWROUTE);
        assert_int_equal(rtm->rtm_family, AF_INET6);
        assert_int_equal(rtm->rtm_dst_len, 0);
        assert_int_equal(rtm->rtm_table, RT_TABLE_MAIN);
        at = find_attr(buf, sizeof(*rtm), RTA_GATEWAY);
        assert_non_null(at);
        assert_int_equal(RTA_PAYLOAD(at), 16);
        assert_memory_equal(RTA_DATA(at), gw, 16);
        at = find_attr(buf, sizeof(*rtm), RTA_OIF);
        assert_non_null(at);
        assert_int_equal(*(const uint32_t *) RTA_DATA(at), 2);
}

static void test_build_too_small(void **state) {
        uint8_t buf[40], gw[16] = {};

        assert_int_equal(rtnl_build_link_up(buf, 8, 1, 2), -ENOBUFS);
        assert_int_equal(rtnl_build_addr(buf, sizeof(buf), 1, AF_INET6, 2, gw, 64), -ENOBUFS);
        assert_int_equal(rtnl_build_default_route(buf, sizeof(buf), 1, AF_INET6, 2, gw), -ENOBUFS);
}

static size_t put_error(uint8_t *p, uint32_t seq, int error, uint32_t len) {
        struct nlmsghdr h = { .nlmsg_len = len, .nlmsg_type = NLMSG_ERROR, .nlmsg_seq = seq };
        struct nlmsgerr e = { .error = error };

        memcpy(p, &h, sizeof(h));
        memcpy(p + NLMSG_HDRLEN, &e, sizeof(e));
        return NLMSG_ALIGN(len);
}

static void test_parse_ack(void **state) {
        uint8_t buf[256] = {};
        uint32_t full = NLMSG_LENGTH(sizeof(struct nlmsgerr));
        size_t off;

        off = put_error(buf, 5, 0, full);
        assert_int_equal(rtnl_parse_ack(buf, off, 5), 0);
        assert_int_equal(rtnl_parse_ack(buf, off, 6), -EAGAIN);

        /* The second message answers seq 6, with an error. */
        off += put_error(buf + off, 6, -EEXIST, full);
        assert_int_equal(rtnl_parse_ack(buf, off, 6), -EEXIST);
        assert_int_equal(rtnl_parse_ack(buf, off, 5), 0);
}

static void test_parse_malformed(void **state) {
        uint8_t buf[256] = {};
        uint32_t full = NLMSG_LENGTH(sizeof(struct nlmsgerr));
        size_t off;

        /* Shorter than a header, a length beyond the datagram, a length below the header. */
        assert_int_equal(rtnl_parse_ack(buf, 4, 1), -EBADMSG);
        off = put_error(buf, 1, 0, full);
        assert_int_equal(rtnl_parse_ack(buf, off - 4, 1), -EBADMSG);
        (void) put_error(buf, 1, 0, 8);
        assert_int_equal(rtnl_parse_ack(buf, 64, 1), -EBADMSG);
        /* An error message too short for its error code. */
        (void) put_error(buf, 1, 0, NLMSG_HDRLEN + 2);
        assert_int_equal(rtnl_parse_ack(buf, NLMSG_HDRLEN + 4, 1), -EBADMSG);
        /* Positive or absurd error codes are not errnos. */
        off = put_error(buf, 1, 5, full);
        assert_int_equal(rtnl_parse_ack(buf, off, 1), -EBADMSG);
        off = put_error(buf, 1, -100000, full);
        assert_int_equal(rtnl_parse_ack(buf, off, 1), -EBADMSG);
        assert_int_equal(rtnl_parse_ack(buf, 0, 1), -EAGAIN);
}

static void test_resolv_conf(void **state) {
        char *ns[] = { (char *) "10.0.2.3", (char *) "fec0::3" };
        char *search[] = { (char *) "example.org", (char *) "lan" };
        _cleanup_free_ char *s = NULL, *t = NULL;

        assert_int_equal(resolv_conf_format(ns, 2, search, 2, &s), 0);
        assert_non_null(strstr(s, "\nnameserver 10.0.2.3\nnameserver fec0::3\nsearch example.org lan\n"));
        assert_int_equal(resolv_conf_format(ns, 0, search, 0, &t), 0);
        assert_null(strstr(t, "nameserver"));
        assert_null(strstr(t, "search"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_link_up),         cmocka_unit_test(test_addr_ipv4),
                cmocka_unit_test(test_bridge),          cmocka_unit_test(test_route_ipv6),
                cmocka_unit_test(test_build_too_small), cmocka_unit_test(test_parse_ack),
                cmocka_unit_test(test_parse_malformed), cmocka_unit_test(test_resolv_conf),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
