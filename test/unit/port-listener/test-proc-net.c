/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* port-listener's /proc/net/tcp{,6} parser at its limits. The input comes from a container's
 * network namespace: a line that does not parse is skipped, never fatal. Addresses are written
 * the way the kernel prints them (each 32-bit word in host order, %08X), so the tests hold on
 * either endianness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "proc-net.h"

/* The kernel's rendering of an address: %08X of each 32-bit word as it sits in memory. */
static void kaddr(const char *text, bool v6, char *out) {
        uint8_t b[16] = {};
        uint32_t w;

        assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, text, b), 1);
        out[0] = 0;
        for (int i = 0; i < (v6 ? 4 : 1); i++) {
                memcpy(&w, b + 4 * i, 4);
                sprintf(out + strlen(out), "%08X", w);
        }
}

static char *line(const char *addr, bool v6, unsigned port, const char *state) {
        static char buf[512];
        char a[40], z[40];

        kaddr(addr, v6, a);
        kaddr(v6 ? "::" : "0.0.0.0", v6, z);
        snprintf(
                buf, sizeof(buf),
                "   0: %s:%04X %s:0000 %s 00000000:00000000 00:00000000 00000000     0        0 12345 1 "
                "0000000000000000 100 0 0 10 0",
                a, port, z, state);
        return buf;
}

static int parse(const char *l, ProcNetSocket *s) {
        return proc_net_parse_line(l, strlen(l), s);
}

static unsigned families(const char *addr, bool v6, unsigned port, const char *state) {
        ProcNetSocket s;

        assert_int_equal(parse(line(addr, v6, port, state), &s), 1);
        return proc_net_listener_families(&s);
}

static void test_ports(void **state) {
        ProcNetSocket s;

        assert_int_equal(parse(line("127.0.0.1", false, 1, "0A"), &s), 1);
        assert_int_equal(s.port, 1);
        assert_false(s.ipv6);
        assert_int_equal(s.state, 0x0A);
        assert_memory_equal(s.addr, ((uint8_t[]){ 127, 0, 0, 1 }), 4);
        assert_int_equal(parse(line("0.0.0.0", false, 65535, "0A"), &s), 1);
        assert_int_equal(s.port, 65535);
        /* Port 0 parses but is never a listener to forward. */
        assert_int_equal(parse(line("0.0.0.0", false, 0, "0A"), &s), 1);
        assert_int_equal(s.port, 0);
        assert_int_equal(proc_net_listener_families(&s), 0);
        assert_int_equal(families("0.0.0.0", false, 8000, "0A"), PROC_NET_IPV4);
        assert_int_equal(families("127.0.0.1", false, 8000, "0A"), PROC_NET_IPV4);
}

static void test_addresses(void **state) {
        assert_int_equal(families("10.0.3.5", false, 8000, "0A"), 0);
        assert_int_equal(families("127.0.0.2", false, 8000, "0A"), 0);
        assert_int_equal(families("::", true, 8000, "0A"), PROC_NET_IPV4 | PROC_NET_IPV6);
        assert_int_equal(families("::1", true, 8000, "0A"), PROC_NET_IPV6);
        assert_int_equal(families("::ffff:127.0.0.1", true, 8000, "0A"), PROC_NET_IPV4);
        assert_int_equal(families("::ffff:0.0.0.0", true, 8000, "0A"), PROC_NET_IPV4);
        assert_int_equal(families("::ffff:10.0.3.5", true, 8000, "0A"), 0);
        assert_int_equal(families("fd42:b157:3::5", true, 8000, "0A"), 0);
        assert_int_equal(families("::2", true, 8000, "0A"), 0);
        assert_int_equal(families("1::", true, 8000, "0A"), 0);
        /* Not LISTEN: ESTABLISHED, TIME_WAIT, CLOSE. */
        assert_int_equal(families("127.0.0.1", false, 8000, "01"), 0);
        assert_int_equal(families("0.0.0.0", false, 8000, "06"), 0);
        assert_int_equal(families("::", true, 8000, "07"), 0);
}

static void test_hex_case(void **state) {
        ProcNetSocket s;

        assert_int_equal(parse("  1: 0100007f:1f90 00000000:0000 0a 0", &s), 1);
        assert_int_equal(s.port, 0x1F90);
        assert_int_equal(s.state, 0x0A);
        assert_int_equal(parse("  1: 0100007F:1F90 00000000:0000 0A", &s), 1);
        assert_int_equal(s.port, 0x1F90);
        assert_int_equal(parse("  1: 0100007F:1f9O 00000000:0000 0A", &s), -EBADMSG);
}

static void test_header_and_malformed(void **state) {
        ProcNetSocket s;

        assert_int_equal(
                parse("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
                      &s),
                0);
        assert_int_equal(
                parse("  sl  local_address                         remote_address                        st tx_queue",
                      &s),
                0);
        static const char *const bad[] = {
                "",
                "   ",
                "0 0100007F:1F90 00000000:0000 0A",                          /* no ':' after the slot */
                ": 0100007F:1F90 00000000:0000 0A",                          /* no slot */
                "0: 0100007F:1F90 00000000:0000",                            /* no state */
                "0: 0100007F:1F90 00000000:0000 A",                          /* one-digit state */
                "0: 0100007F:1F90 00000000:0000 0AB",                        /* three-digit state */
                "0: 100007F:1F90 00000000:0000 0A",                          /* 7 digits */
                "0: 00100007F:1F90 00000000:0000 0A",                        /* 9 digits */
                "0: 0100007F:1F9 00000000:0000 0A",                          /* 3-digit port */
                "0: 0100007F:1F900 00000000:0000 0A",                        /* 5-digit port */
                "0: 0100007F1F90 00000000:0000 0A",                          /* no ':' */
                "0: 0100007F:1F90 00000000000000000000000000000000:0000 0A", /* mixed families */
                "0: 0100007F:-F90 00000000:0000 0A",
                "0: 0100007F:1F90",
                "0:",
                "12345678901: 0100007F:1F90 00000000:0000 0A", /* slot number too long */
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(parse(bad[i], &s), -EBADMSG);
}

typedef struct Seen {
        unsigned n;
        uint16_t ports[16];
} Seen;

static int collect(const ProcNetSocket *s, void *userdata) {
        Seen *seen = userdata;

        if (seen->n < ELEMENTSOF(seen->ports))
                seen->ports[seen->n] = s->port;
        seen->n++;
        return 0;
}

static void test_stream(void **state) {
        char file[4096];
        Seen seen = {};
        ProcNetParser p = PROC_NET_PARSER_INIT;
        char big[PROC_NET_LINE_MAX + 100];
        size_t l;

        memset(big, 'x', sizeof(big));
        snprintf(
                file, sizeof(file), "  sl  local_address rem_address   st\n%s\n",
                line("0.0.0.0", false, 80, "0A"));
        strcat(file, "garbage\n");
        l = strlen(file);
        memcpy(file + l, big, sizeof(big));
        file[l + sizeof(big)] = '\n';
        file[l + sizeof(big) + 1] = 0;
        strcat(file, line("127.0.0.1", false, 8000, "0A"));
        strcat(file, "\n");
        /* Truncated last line (no '\n', cut inside the state). */
        strcat(file, "   5: 0100007F:1F91 00000000:0000 0");

        /* One byte at a time: any split of the input gives the same result. */
        for (size_t i = 0; i < strlen(file); i++)
                assert_int_equal(proc_net_feed(&p, file + i, 1, collect, &seen), 0);
        assert_int_equal(proc_net_finish(&p, collect, &seen), 0);
        assert_int_equal(seen.n, 2);
        assert_int_equal(seen.ports[0], 80);
        assert_int_equal(seen.ports[1], 8000);
        assert_int_equal(p.n_malformed, 3); /* garbage, the overlong line, the truncated one */
        assert_int_equal(p.n_sockets, 2);

        /* The same in one piece; a complete last line without '\n' counts. */
        p = (ProcNetParser) PROC_NET_PARSER_INIT;
        seen = (Seen){};
        snprintf(file, sizeof(file), "%s\n", line("::", true, 443, "0A"));
        strcat(file, line("::1", true, 444, "0A"));
        assert_int_equal(proc_net_feed(&p, file, strlen(file), collect, &seen), 0);
        assert_int_equal(seen.n, 1);
        assert_int_equal(proc_net_finish(&p, collect, &seen), 0);
        assert_int_equal(seen.n, 2);
        assert_int_equal(seen.ports[1], 444);
        assert_int_equal(p.n_malformed, 0);
        /* A line of exactly PROC_NET_LINE_MAX bytes is kept, one more is dropped. */
        p = (ProcNetParser) PROC_NET_PARSER_INIT;
        seen = (Seen){};
        snprintf(file, sizeof(file), "%s", line("0.0.0.0", false, 22, "0A"));
        memset(file + strlen(file), ' ', PROC_NET_LINE_MAX - strlen(file));
        file[PROC_NET_LINE_MAX] = '\n';
        assert_int_equal(proc_net_feed(&p, file, PROC_NET_LINE_MAX + 1, collect, &seen), 0);
        assert_int_equal(seen.n, 1);
        file[PROC_NET_LINE_MAX] = ' ';
        file[PROC_NET_LINE_MAX + 1] = '\n';
        assert_int_equal(proc_net_feed(&p, file, PROC_NET_LINE_MAX + 2, collect, &seen), 0);
        assert_int_equal(seen.n, 1);
        assert_int_equal(p.n_malformed, 1);
        assert_int_equal(proc_net_finish(&p, collect, &seen), 0);
        assert_int_equal(p.n_malformed, 1);
}

static int stop(const ProcNetSocket *s, void *userdata) {
        return -ECANCELED;
}

static void test_callback_error(void **state) {
        ProcNetParser p = PROC_NET_PARSER_INIT;
        char file[1024];

        snprintf(file, sizeof(file), "%s\n", line("0.0.0.0", false, 80, "0A"));
        assert_int_equal(proc_net_feed(&p, file, strlen(file), stop, NULL), -ECANCELED);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ports),    cmocka_unit_test(test_addresses),
                cmocka_unit_test(test_hex_case), cmocka_unit_test(test_header_and_malformed),
                cmocka_unit_test(test_stream),   cmocka_unit_test(test_callback_error),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
