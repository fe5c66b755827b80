/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Credit accounting and the connection state machine, driven with packets as the guest would send
 * them and real unix sockets on the host side (no rings: control packets stay queued). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "macro.h"
#include "socket-util.h"
#include "vsock-dev.h"

static char tmpdir[] = "/tmp/test-vsock-conn.XXXXXX";
static char base[256];
static VsockDev dev;

static int setup(void **state) {
        snprintf(base, sizeof(base), "%s/v.sock", tmpdir);
        assert_int_equal(vsock_dev_init(&dev, -EBADF, 3, base, true), 0);
        return 0;
}

static int teardown(void **state) {
        vsock_dev_done(&dev);
        return 0;
}

static int listen_port(uint32_t port) {
        char p[300];
        snprintf(p, sizeof(p), "%s_%" PRIu32, base, port);
        return unix_listen(p, 16, 0600);
}

static void pkt(
        uint16_t op,
        uint32_t guest_port,
        uint32_t host_port,
        const void *data,
        uint32_t len,
        uint32_t flags) {
        struct iovec iov = { .iov_base = (void *) data, .iov_len = len };
        VsockHdr h = {
                .src_cid = 3,
                .dst_cid = 2,
                .src_port = guest_port,
                .dst_port = host_port,
                .len = len,
                .type = VSOCK_TYPE_STREAM,
                .op = op,
                .flags = flags,
                .buf_alloc = 65536,
                .fwd_cnt = 0,
        };
        vsock_dev_handle_pkt(&dev, &h, &iov, len ? 1 : 0);
}

static void test_credit_math(void **state) {
        VsockConn c = {};

        vsock_conn_update_peer_credit(&c, 1000, 0);
        assert_int_equal(vsock_conn_peer_credit(&c), 1000);
        c.rx_cnt = 600;
        assert_int_equal(vsock_conn_peer_credit(&c), 400);
        c.rx_cnt = 1000;
        assert_int_equal(vsock_conn_peer_credit(&c), 0);
        /* Counters wrap. */
        c.rx_cnt = 100;
        vsock_conn_update_peer_credit(&c, 1000, UINT32_MAX - 99);
        assert_int_equal(vsock_conn_peer_credit(&c), 800);
        /* A guest that shrinks its buffer below what is in flight gets nothing, not 4 GiB. */
        vsock_conn_update_peer_credit(&c, 10, 0);
        assert_int_equal(vsock_conn_peer_credit(&c), 0);

        c.tx_cnt = 0;
        c.fwd_cnt = 0;
        assert_true(vsock_conn_tx_fits(&c, CONN_BUF_ALLOC));
        assert_false(vsock_conn_tx_fits(&c, CONN_BUF_ALLOC + 1));
        c.tx_cnt = 5000;
        c.fwd_cnt = 1000;
        assert_true(vsock_conn_tx_fits(&c, CONN_BUF_ALLOC - 4000));
        assert_false(vsock_conn_tx_fits(&c, CONN_BUF_ALLOC - 3999));
        c.tx_cnt = 3;
        c.fwd_cnt = UINT32_MAX - 2; /* 6 bytes held across the wrap */
        assert_true(vsock_conn_tx_fits(&c, CONN_BUF_ALLOC - 6));
        assert_false(vsock_conn_tx_fits(&c, CONN_BUF_ALLOC - 5));

        c.fwd_cnt = c.fwd_cnt_sent = 0;
        assert_false(vsock_conn_want_credit_update(&c));
        c.fwd_cnt = CONN_BUF_ALLOC / 2 - 1;
        assert_false(vsock_conn_want_credit_update(&c));
        c.fwd_cnt = CONN_BUF_ALLOC / 2;
        assert_true(vsock_conn_want_credit_update(&c));
}

static void test_conn_buffer(void **state) {
        VsockConn c = {};
        static uint8_t data[CONN_BUF_ALLOC];
        struct iovec in[2] = { { data, 100 }, { data + 100, 100 } }, out[2];

        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (uint8_t) i;
        assert_int_equal(vsock_conn_buf_append(&c, in, 2, 50, 120), 0);
        assert_int_equal(c.buf_used, 120);
        assert_int_equal(vsock_conn_buf_peek(&c, out), 1);
        assert_memory_equal(out[0].iov_base, data + 50, 120);
        vsock_conn_buf_consume(&c, 20);
        /* Fill to the brim so the ring wraps. */
        in[0] = (struct iovec){ data, CONN_BUF_ALLOC - 100 };
        assert_int_equal(vsock_conn_buf_append(&c, in, 1, 0, CONN_BUF_ALLOC - 100), 0);
        assert_int_equal(vsock_conn_buf_append(&c, in, 1, 0, 1), -ENOBUFS);
        assert_int_equal(vsock_conn_buf_peek(&c, out), 2);
        assert_int_equal(out[0].iov_len + out[1].iov_len, CONN_BUF_ALLOC);
        assert_memory_equal(out[0].iov_base, data + 70, 100);
        vsock_conn_buf_consume(&c, CONN_BUF_ALLOC);
        assert_null(c.buf);
        assert_int_equal(vsock_conn_buf_peek(&c, out), 0);
}

static void test_request_refused(void **state) {
        pkt(VSOCK_OP_REQUEST, 1111, 4321, NULL, 0, 0);
        assert_int_equal(dev.n_conns, 0);
        assert_int_equal(dev.rst_n, 1);
        assert_int_equal(dev.rst_queue[0].op, VSOCK_OP_RST);
        assert_int_equal(dev.rst_queue[0].src_port, 4321);
        assert_int_equal(dev.rst_queue[0].dst_port, 1111);
        assert_int_equal(dev.rst_queue[0].dst_cid, 3);
}

static void test_spoofed_and_misrouted(void **state) {
        VsockHdr h = { .src_cid = 7, .dst_cid = 2, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_REQUEST };

        vsock_dev_handle_pkt(&dev, &h, NULL, 0);
        assert_int_equal(dev.rst_n, 0); /* not from our guest: silently dropped */
        h.src_cid = 3;
        h.dst_cid = 4; /* guest to guest */
        vsock_dev_handle_pkt(&dev, &h, NULL, 0);
        assert_int_equal(dev.rst_n, 1);
        assert_int_equal(dev.n_conns, 0);
        /* Data for a connection that does not exist. */
        pkt(VSOCK_OP_RW, 1, 2, "x", 1, 0);
        assert_int_equal(dev.rst_n, 2);
        /* Never answer an RST with an RST. */
        pkt(VSOCK_OP_RST, 1, 2, NULL, 0, 0);
        assert_int_equal(dev.rst_n, 2);
}

static void test_guest_connect_data_shutdown(void **state) {
        _cleanup_close_ int l = listen_port(1234), s = -EBADF;
        char buf[64];

        assert_true(l >= 0);
        pkt(VSOCK_OP_REQUEST, 50000, 1234, NULL, 0, 0);
        assert_int_equal(dev.n_conns, 1);
        assert_non_null(dev.ctl_head);
        assert_int_equal(dev.ctl_head->pending, PEND_RESPONSE);
        s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        assert_true(s >= 0);

        pkt(VSOCK_OP_RW, 50000, 1234, "hello", 5, 0);
        assert_int_equal(recv(s, buf, sizeof(buf), 0), 5);
        assert_memory_equal(buf, "hello", 5);
        assert_int_equal(dev.ctl_head->fwd_cnt, 5);

        /* Guest half-closes: the host reads EOF, the connection stays for the other direction. */
        pkt(VSOCK_OP_SHUTDOWN, 50000, 1234, NULL, 0, VSOCK_SHUTDOWN_SEND);
        assert_int_equal(recv(s, buf, sizeof(buf), 0), 0);
        assert_int_equal(dev.n_conns, 1);
        assert_int_equal(dev.ctl_head->state, CONN_ESTABLISHED);
        /* Data after SHUTDOWN(SEND) is a protocol violation: reset. */
        pkt(VSOCK_OP_RW, 50000, 1234, "late", 4, 0);
        assert_int_equal(dev.ctl_head->state, CONN_CLOSED);
        assert_int_equal(dev.ctl_head->pending, PEND_RST);
}

static void test_guest_full_close(void **state) {
        _cleanup_close_ int l = listen_port(1235), s = -EBADF;
        char buf[8];

        pkt(VSOCK_OP_REQUEST, 50001, 1235, NULL, 0, 0);
        s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        pkt(VSOCK_OP_SHUTDOWN, 50001, 1235, NULL, 0, VSOCK_SHUTDOWN_MASK);
        /* Linux waits for our RST after a full shutdown. */
        assert_int_equal(dev.ctl_head->state, CONN_CLOSED);
        assert_true(dev.ctl_head->pending & PEND_RST);
        assert_int_equal(recv(s, buf, sizeof(buf), 0), 0);
        /* Further packets for it are ignored until the RST went out. */
        pkt(VSOCK_OP_RW, 50001, 1235, "x", 1, 0);
        assert_int_equal(dev.rst_n, 0);
        /* A new REQUEST on the same ports replaces it. */
        pkt(VSOCK_OP_REQUEST, 50001, 1235, NULL, 0, 0);
        assert_int_equal(dev.n_conns, 1);
        assert_int_equal(dev.ctl_head->state, CONN_ESTABLISHED);
}

static void test_guest_rst(void **state) {
        _cleanup_close_ int l = listen_port(1236), s = -EBADF;
        char buf[8];

        pkt(VSOCK_OP_REQUEST, 50002, 1236, NULL, 0, 0);
        s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        pkt(VSOCK_OP_RST, 50002, 1236, NULL, 0, 0);
        assert_int_equal(dev.n_conns, 0);
        assert_null(dev.ctl_head);
        assert_int_equal(recv(s, buf, sizeof(buf), 0), 0);
}

static void test_credit_violation(void **state) {
        _cleanup_close_ int l = listen_port(1237), s = -EBADF;
        static uint8_t chunk[VSOCK_MAX_PAYLOAD];
        VsockConn *c;
        unsigned i;

        pkt(VSOCK_OP_REQUEST, 50003, 1237, NULL, 0, 0);
        s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        c = dev.ctl_head;
        /* The host never reads: the socket fills, then our buffer, then the guest overruns the credit we
         * advertised and gets reset. */
        for (i = 0; i < 1000 && c->state == CONN_ESTABLISHED; i++)
                pkt(VSOCK_OP_RW, 50003, 1237, chunk, sizeof(chunk), 0);
        assert_true(i < 1000);
        assert_int_equal(c->state, CONN_CLOSED);
        assert_int_equal(c->pending, PEND_RST);
}

static void test_buffered_flush(void **state) {
        _cleanup_close_ int l = listen_port(1238), s = -EBADF;
        static uint8_t chunk[VSOCK_MAX_PAYLOAD], sink[1 << 20];
        VsockConn *c;
        size_t total = 0, got = 0;
        ssize_t n;

        pkt(VSOCK_OP_REQUEST, 50004, 1238, NULL, 0, 0);
        s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        c = dev.ctl_head;
        while (c->buf_used == 0) {
                pkt(VSOCK_OP_RW, 50004, 1238, chunk, sizeof(chunk), 0);
                total += sizeof(chunk);
        }
        assert_false(c->writable);
        /* The host drains; EPOLLOUT flushes what we held. */
        while ((n = recv(s, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
                got += (size_t) n;
        vsock_dev_conn_event(&dev, c, EPOLLOUT);
        while ((n = recv(s, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
                got += (size_t) n;
        assert_int_equal(got, total);
        assert_int_equal(c->buf_used, 0);
        assert_int_equal(c->fwd_cnt, (uint32_t) total);
        assert_true(c->pending & PEND_CREDIT_UPDATE);
}

static void test_host_connect(void **state) {
        int sp[2];
        char buf[64];
        VsockConn *c;
        uint32_t local;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp), 0);
        assert_int_equal(vsock_dev_add_host_client(&dev, sp[0]), 0);
        c = dev.all_head;
        assert_int_equal(c->state, CONN_HANDSHAKE);
        /* Partial line: wait. */
        assert_int_equal(send(sp[1], "CONNECT 50", 10, 0), 10);
        vsock_dev_conn_event(&dev, c, EPOLLIN);
        assert_int_equal(c->state, CONN_HANDSHAKE);
        /* The rest, with data right behind the line: that stays for the guest. */
        assert_int_equal(send(sp[1], "00\nearly", 8, 0), 8);
        vsock_dev_conn_event(&dev, c, EPOLLIN);
        assert_int_equal(c->state, CONN_CONNECTING);
        assert_int_equal(c->peer_port, 5000);
        assert_int_equal(c->pending, PEND_REQUEST);
        local = c->local_port;
        assert_true(local >= (1u << 30));
        assert_int_equal(recv(c->fd, buf, sizeof(buf), MSG_PEEK), 5);

        pkt(VSOCK_OP_RESPONSE, 5000, local, NULL, 0, 0);
        assert_int_equal(c->state, CONN_ESTABLISHED);
        assert_int_equal(recv(sp[1], buf, sizeof(buf), 0), snprintf(NULL, 0, "OK %" PRIu32 "\n", local));
        assert_true(c->in_ready); /* "early" waits to be moved into the RX ring */

        pkt(VSOCK_OP_RST, 5000, local, NULL, 0, 0);
        assert_int_equal(dev.n_conns, 0);
        /* Closed with "early" unread: the client sees a reset, as with TCP. */
        assert_int_equal(recv(sp[1], buf, sizeof(buf), 0), -1);
        assert_int_equal(errno, ECONNRESET);
        safe_close(sp[1]);
}

static void test_host_connect_refused(void **state) {
        int sp[2];
        char buf[64];
        VsockConn *c;
        ssize_t n;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp), 0);
        assert_int_equal(vsock_dev_add_host_client(&dev, sp[0]), 0);
        c = dev.all_head;
        assert_int_equal(send(sp[1], "CONNECT 6000\n", 13, 0), 13);
        vsock_dev_conn_event(&dev, c, EPOLLIN);
        /* Nobody listens in the guest: it answers RST. */
        pkt(VSOCK_OP_RST, 6000, c->local_port, NULL, 0, 0);
        assert_int_equal(dev.n_conns, 0);
        n = recv(sp[1], buf, sizeof(buf) - 1, 0);
        assert_true(n > 0);
        buf[n] = 0;
        assert_true(strncmp(buf, "ERR", 3) == 0);
        assert_int_equal(recv(sp[1], buf, sizeof(buf), 0), 0);
        safe_close(sp[1]);
}

static void test_host_bad_line(void **state) {
        int sp[2];
        char buf[64];
        static const char junk[100] =
                "CONNECT 99999999999999999999999999999999999999999999999999999999999999999";

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp), 0);
        assert_int_equal(vsock_dev_add_host_client(&dev, sp[0]), 0);
        assert_int_equal(
                send(sp[1], junk, sizeof(junk), 0), (ssize_t) sizeof(junk)); /* no newline in 64 bytes */
        vsock_dev_conn_event(&dev, dev.all_head, EPOLLIN);
        assert_int_equal(dev.n_conns, 0);
        assert_true(recv(sp[1], buf, sizeof(buf), 0) > 0);
        safe_close(sp[1]);

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp), 0);
        assert_int_equal(vsock_dev_add_host_client(&dev, sp[0]), 0);
        assert_int_equal(send(sp[1], "CONNECT -1\n", 11, 0), 11);
        vsock_dev_conn_event(&dev, dev.all_head, EPOLLIN);
        assert_int_equal(dev.n_conns, 0);
        safe_close(sp[1]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_credit_math),
                cmocka_unit_test(test_conn_buffer),
                cmocka_unit_test_setup_teardown(test_request_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spoofed_and_misrouted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_guest_connect_data_shutdown, setup, teardown),
                cmocka_unit_test_setup_teardown(test_guest_full_close, setup, teardown),
                cmocka_unit_test_setup_teardown(test_guest_rst, setup, teardown),
                cmocka_unit_test_setup_teardown(test_credit_violation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_buffered_flush, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_connect, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_connect_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_bad_line, setup, teardown),
        };
        int r;

        if (!mkdtemp(tmpdir))
                return 1;
        r = cmocka_run_group_tests(tests, NULL, NULL);
        {
                char cmd[128];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
                (void) !system(cmd);
        }
        return r;
}
