/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The /proc/net/tcp and tcp6 line parser of port-listener (pure: bytes in, sockets out). The
 * input comes from a container's network namespace, so every field is checked; a line that does
 * not parse is counted and skipped, never fatal. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The kernel pads tcp lines to 149 bytes and tcp6 lines are about 170: anything much longer is
 * not a socket line. */
#define PROC_NET_LINE_MAX 512u
#define PROC_NET_STATE_LISTEN 0x0Au

typedef struct ProcNetSocket {
        uint8_t addr[16]; /* local address, network byte order; IPv4 uses the first 4 bytes */
        bool ipv6;        /* the line had a 16-byte address (tcp6) */
        uint16_t port;    /* local port */
        uint8_t state;    /* TCP_* (0x0A: LISTEN) */
} ProcNetSocket;

/* Parses one line without its '\n'. Returns 1 with *ret set, 0 for the header line ("  sl
 * local_address ..."), -EBADMSG for anything else. */
int proc_net_parse_line(const char *line, size_t len, ProcNetSocket *ret);

#define PROC_NET_IPV4 1u
#define PROC_NET_IPV6 2u
/* Which families a LISTEN socket reaches from the container's loopback: PROC_NET_IPV4 for 0.0.0.0,
 * 127.0.0.1 (and their IPv4-mapped forms), PROC_NET_IPV6 for ::1, both for :: (/proc does not
 * show IPV6_V6ONLY). 0 for any other address or any other state. */
unsigned proc_net_listener_families(const ProcNetSocket *s);

/* Called for each socket line; a negative return stops the parser and is returned. */
typedef int (*ProcNetSocketFunc)(const ProcNetSocket *s, void *userdata);

/* Incremental line splitter: the file may arrive in any pieces. */
typedef struct ProcNetParser {
        char line[PROC_NET_LINE_MAX];
        size_t len;
        bool overlong;        /* dropping the rest of a line longer than PROC_NET_LINE_MAX */
        unsigned n_malformed; /* lines skipped */
        unsigned n_sockets;   /* lines parsed */
} ProcNetParser;

#define PROC_NET_PARSER_INIT \
        { .len = 0 }

int proc_net_feed(ProcNetParser *p, const char *buf, size_t n, ProcNetSocketFunc f, void *userdata);
/* End of input: parses a last line that has no '\n' (a truncated one is counted as malformed). */
int proc_net_finish(ProcNetParser *p, ProcNetSocketFunc f, void *userdata);
