/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* rtnetlink requests without iproute2 (the guest has none): builders that write one request
 * (NLM_F_REQUEST|NLM_F_ACK) into a caller's buffer and return its length or -ENOBUFS, the ack
 * parser, and a blocking call. Used by maitred (eth0) and tremplin (the container bridge). The
 * builders and the parser are pure, so unit tests run them. */

#include <stddef.h>
#include <stdint.h>

/* Enough for every request built here. */
#define RTNL_BUF_SIZE 512u

/* A message header plus hlen bytes of family header; then attributes one by one.
 * rtnl_msg_attr() returns the attribute's offset (for nesting: pass it to rtnl_msg_nest_end()
 * after the nested attributes) or -ENOBUFS. data may be NULL when dlen is 0. */
int rtnl_msg_init(
        void *buf, size_t size, uint16_t type, uint16_t flags, uint32_t seq, const void *hdr, size_t hlen);
int rtnl_msg_attr(void *buf, size_t size, uint16_t type, const void *data, size_t dlen);
void rtnl_msg_nest_end(void *buf, int nest_offset);

int rtnl_build_link_up(void *buf, size_t size, uint32_t seq, int ifindex);
/* IPv4 addresses with a prefix below 31 also get their broadcast address. */
int rtnl_build_addr(
        void *buf, size_t size, uint32_t seq, int family, int ifindex, const void *addr, unsigned prefixlen);
int rtnl_build_default_route(void *buf, size_t size, uint32_t seq, int family, int ifindex, const void *gw);
/* A new bridge device (fails with EEXIST when name exists). */
int rtnl_build_bridge(void *buf, size_t size, uint32_t seq, const char *name);

/* Looks through one datagram for the ack of seq: 0 for an ack, the negative errno of an error,
 * -EAGAIN when it is not there, -EBADMSG when the datagram is malformed. */
int rtnl_parse_ack(const void *buf, size_t len, uint32_t seq);

/* Sends msg (len bytes, sequence seq) on a NETLINK_ROUTE socket and waits up to 5 s for the
 * kernel's ack: 0 or the kernel's negative errno. */
int rtnl_call(int fd, const void *msg, size_t len, uint32_t seq);
