/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "proc-net.h"
#include "string-util.h"

/* Exactly n hex digits (n <= 8) at *p, advancing it. */
static int parse_hex(const char **p, const char *end, size_t n, uint32_t *ret) {
        uint32_t v = 0;

        if ((size_t) (end - *p) < n)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                int d = unhexchar((*p)[i]);

                if (d < 0)
                        return -EBADMSG;
                v = v << 4 | (uint32_t) d;
        }
        *p += n;
        *ret = v;
        return 0;
}

static void skip_spaces(const char **p, const char *end) {
        while (*p < end && **p == ' ')
                (*p)++;
}

/* "ADDR:PORT": ADDR is 8 or 32 hex digits, each group of 8 the kernel's %08X of a 32-bit word of
 * the address in host byte order (so the word's memory image is the address bytes). */
static int parse_endpoint(
        const char **p, const char *end, uint8_t addr[static 16], bool *ret_ipv6, uint16_t *ret_port) {
        const char *colon = memchr(*p, ':', end - *p);
        size_t ndigits;
        uint32_t w, port;

        if (!colon)
                return -EBADMSG;
        ndigits = colon - *p;
        if (ndigits != 8 && ndigits != 32)
                return -EBADMSG;
        memset(addr, 0, 16);
        for (size_t i = 0; i < ndigits / 8; i++) {
                if (parse_hex(p, colon, 8, &w) < 0)
                        return -EBADMSG;
                memcpy(addr + 4 * i, &w, 4);
        }
        (*p)++; /* ':' */
        if (parse_hex(p, end, 4, &port) < 0)
                return -EBADMSG;
        if (*p < end && **p != ' ')
                return -EBADMSG;
        *ret_ipv6 = ndigits == 32;
        *ret_port = (uint16_t) port;
        return 0;
}

int proc_net_parse_line(const char *line, size_t len, ProcNetSocket *ret) {
        const char *p = line, *end = line + len;
        uint8_t raddr[16];
        bool ripv6;
        uint16_t rport;
        uint32_t state;
        size_t digits = 0;

        skip_spaces(&p, end);
        if ((size_t) (end - p) >= 3 && memcmp(p, "sl ", 3) == 0)
                return 0;
        /* "N:" the slot number */
        while (p < end && *p >= '0' && *p <= '9' && digits < 10) {
                p++;
                digits++;
        }
        if (digits == 0 || p >= end || *p != ':')
                return -EBADMSG;
        p++;
        skip_spaces(&p, end);
        if (parse_endpoint(&p, end, ret->addr, &ret->ipv6, &ret->port) < 0)
                return -EBADMSG;
        skip_spaces(&p, end);
        if (parse_endpoint(&p, end, raddr, &ripv6, &rport) < 0 || ripv6 != ret->ipv6)
                return -EBADMSG;
        skip_spaces(&p, end);
        if (parse_hex(&p, end, 2, &state) < 0 || (p < end && *p != ' '))
                return -EBADMSG;
        ret->state = (uint8_t) state;
        return 1;
}

static bool all_zero(const uint8_t *b, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (b[i] != 0)
                        return false;
        return true;
}

static unsigned ipv4_families(const uint8_t a[static 4]) {
        static const uint8_t loopback[4] = { 127, 0, 0, 1 };

        return all_zero(a, 4) || memcmp(a, loopback, 4) == 0 ? PROC_NET_IPV4 : 0;
}

unsigned proc_net_listener_families(const ProcNetSocket *s) {
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

        if (s->state != PROC_NET_STATE_LISTEN || s->port == 0)
                return 0;
        if (!s->ipv6)
                return ipv4_families(s->addr);
        if (all_zero(s->addr, 16))
                return PROC_NET_IPV4 | PROC_NET_IPV6;
        if (all_zero(s->addr, 15) && s->addr[15] == 1)
                return PROC_NET_IPV6;
        if (memcmp(s->addr, mapped, sizeof(mapped)) == 0)
                return ipv4_families(s->addr + 12);
        return 0;
}

static int line_done(ProcNetParser *p, ProcNetSocketFunc f, void *userdata) {
        ProcNetSocket s;
        int r;

        if (p->overlong) {
                p->n_malformed++;
                p->overlong = false;
                p->len = 0;
                return 0;
        }
        r = proc_net_parse_line(p->line, p->len, &s);
        p->len = 0;
        if (r < 0) {
                p->n_malformed++;
                return 0;
        }
        if (r == 0)
                return 0;
        p->n_sockets++;
        return f ? f(&s, userdata) : 0;
}

int proc_net_feed(ProcNetParser *p, const char *buf, size_t n, ProcNetSocketFunc f, void *userdata) {
        while (n > 0) {
                const char *nl = memchr(buf, '\n', n);
                size_t take = nl ? (size_t) (nl - buf) : n;
                int r;

                if (!p->overlong) {
                        if (take > sizeof(p->line) - p->len)
                                p->overlong = true;
                        else {
                                memcpy(p->line + p->len, buf, take);
                                p->len += take;
                        }
                }
                if (!nl)
                        return 0;
                r = line_done(p, f, userdata);
                if (r < 0)
                        return r;
                buf += take + 1;
                n -= take + 1;
        }
        return 0;
}

int proc_net_finish(ProcNetParser *p, ProcNetSocketFunc f, void *userdata) {
        if (p->len == 0 && !p->overlong)
                return 0;
        return line_done(p, f, userdata);
}
