/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The wire layer over real socketpairs and unix sockets, driven by a real sd-event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "fd-util.h"
#include "frame.h"
#include "macro.h"
#include "socket-util.h"
#include "string-util.h"
#include "wire.h"

typedef struct Peer {
        WireConn *conn;
        int closed; /* on_close calls */
        int close_reason;
        unsigned n_messages;
        uint64_t deferred[4];
        unsigned n_deferred;
        uint64_t silent_id;
} Peer;

typedef struct Reply {
        bool done;
        int error;
        uint32_t type;
        char name[64];
        char message[128];
} Reply;

static void run_until(sd_event *e, const bool *flag) {
        for (unsigned i = 0; i < 2000 && !*flag; i++)
                assert_true(sd_event_run(e, 100 * 1000) >= 0);
        assert_true(*flag);
}

static bool closed_flag(const Peer *p) {
        return p->closed > 0;
}

static int reply_vm(WireConn *c, uint64_t id, const char *name) {
        Bistro__Concierge__VmInfo vm = BISTRO__CONCIERGE__VM_INFO__INIT;
        Bistro__Concierge__VmInfoResponse rsp = BISTRO__CONCIERGE__VM_INFO_RESPONSE__INIT;

        vm.name = (char *) name;
        vm.state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING;
        vm.cpus = 1;
        rsp.vm = &vm;
        return wire_reply(c, id, BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, &rsp.base);
}

static int reply_vm_sync(int fd, uint64_t id) {
        Bistro__Concierge__VmInfo vm = BISTRO__CONCIERGE__VM_INFO__INIT;
        Bistro__Concierge__VmInfoResponse rsp = BISTRO__CONCIERGE__VM_INFO_RESPONSE__INIT;

        vm.name = (char *) "raw";
        vm.state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING;
        vm.cpus = 1;
        rsp.vm = &vm;
        return wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, FRAME_RESPONSE, id, &rsp.base, 10000);
}

/* A tiny concierge: GetVmInfo answers with the name, "fail" with ENOENT, "d*" once two arrived
 * (in reverse order), "silent" never, "progress" with an event first. */
static int server_message(
        WireConn *c,
        uint32_t type,
        uint32_t flags,
        uint64_t id,
        const ProtobufCMessage *msg,
        void *userdata) {
        Peer *p = userdata;
        const Bistro__Concierge__GetVmInfoRequest *req = (const void *) msg;

        p->n_messages++;
        if (type != BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST)
                return wire_reply_error(c, id, -EOPNOTSUPP, "unexpected");
        if (streq(req->name, "fail"))
                return wire_reply_error(c, id, -ENOENT, "no VM '%s'", req->name);
        if (streq(req->name, "silent")) {
                p->silent_id = id;
                return 0;
        }
        if (streq(req->name, "progress")) {
                Bistro__Concierge__Progress ev = BISTRO__CONCIERGE__PROGRESS__INIT;
                int r;

                ev.operation = BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM;
                ev.done = 1;
                ev.total = 2;
                ev.stage = (char *) "booting";
                r = wire_send_event(c, BISTRO__MESSAGE_TYPE__PROGRESS, id, &ev.base);
                if (r < 0)
                        return r;
                return reply_vm(c, id, req->name);
        }
        if (streq(req->name, "pass-fd")) {
                Bistro__Concierge__VmInfo vm = BISTRO__CONCIERGE__VM_INFO__INIT;
                Bistro__Concierge__VmInfoResponse rsp = BISTRO__CONCIERGE__VM_INFO_RESPONSE__INIT;
                int pipe_fds[2], r;

                assert_int_equal(pipe2(pipe_fds, O_CLOEXEC), 0);
                assert_int_equal(write(pipe_fds[1], "through", 7), 7);
                safe_close(pipe_fds[1]);
                vm.name = (char *) req->name;
                vm.state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING;
                vm.cpus = 1;
                rsp.vm = &vm;
                r = wire_reply_fd(c, id, BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, &rsp.base, pipe_fds[0]);
                safe_close(pipe_fds[0]); /* the connection holds its own copy until sent */
                return r;
        }
        if (req->name[0] == 'd') {
                p->deferred[p->n_deferred++] = id;
                if (p->n_deferred == 2) {
                        assert_int_equal(reply_vm(c, p->deferred[1], "d2"), 0);
                        assert_int_equal(reply_vm(c, p->deferred[0], "d1"), 0);
                }
                return 0;
        }
        return reply_vm(c, id, req->name);
}

static void peer_close(WireConn *c, int reason, void *userdata) {
        Peer *p = userdata;

        p->closed++;
        p->close_reason = reason;
}

static void on_reply(WireConn *c, int error, uint32_t type, const ProtobufCMessage *msg, void *userdata) {
        Reply *r = userdata;

        assert_false(r->done); /* exactly once */
        r->done = true;
        r->error = error;
        r->type = type;
        if (msg && type == BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE)
                strscpy(r->name, ((const Bistro__Concierge__VmInfoResponse *) msg)->vm->name,
                        sizeof(r->name));
        if (wire_error_message(msg))
                strscpy(r->message, wire_error_message(msg), sizeof(r->message));
}

static int call_info(WireConn *c, const char *name, uint64_t timeout_usec, Reply *r) {
        Bistro__Concierge__GetVmInfoRequest req = BISTRO__CONCIERGE__GET_VM_INFO_REQUEST__INIT;

        req.name = (char *) name;
        *r = (Reply){};
        return wire_call(
                c, BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, &req.base, timeout_usec, on_reply, r, NULL);
}

typedef struct Pair {
        sd_event *e;
        WireConn *client, *server;
        Peer cp, sp;
} Pair;

static void pair_setup(Pair *p) {
        int fds[2];

        *p = (Pair){};
        assert_int_equal(sd_event_new(&p->e), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(wire_conn_new(p->e, fds[0], &p->client), 0);
        assert_int_equal(wire_conn_new(p->e, fds[1], &p->server), 0);
        wire_conn_set_handlers(p->client, NULL, peer_close, &p->cp);
        wire_conn_set_handlers(p->server, server_message, peer_close, &p->sp);
}

static void pair_done(Pair *p) {
        wire_conn_unref(p->client);
        wire_conn_unref(p->server);
        sd_event_unref(p->e);
}

static void test_call_reply(void **state) {
        Pair p;
        Reply r1, r2;

        pair_setup(&p);
        assert_int_equal(call_info(p.client, "termina", 0, &r1), 0);
        assert_int_equal(call_info(p.client, "fail", 0, &r2), 0);
        run_until(p.e, &r2.done);
        run_until(p.e, &r1.done);
        assert_int_equal(r1.error, 0);
        assert_int_equal(r1.type, BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE);
        assert_string_equal(r1.name, "termina");
        assert_int_equal(r2.error, -ENOENT);
        assert_int_equal(r2.type, BISTRO__MESSAGE_TYPE__ERROR_REPLY);
        assert_string_equal(r2.message, "no VM 'fail'");
        assert_int_equal(p.cp.closed + p.sp.closed, 0);

        /* Clean close: the peer sees reason 0, pending calls fail with -ECONNRESET. */
        assert_int_equal(call_info(p.server, "x", 0, &r1), 0);
        wire_conn_close(p.client, 0);
        run_until(p.e, &r1.done);
        assert_int_equal(r1.error, -ECONNRESET);
        assert_int_equal(p.sp.closed, 1);
        assert_int_equal(p.sp.close_reason, 0);
        assert_int_equal(call_info(p.client, "x", 0, &r1), -ENOTCONN);
        pair_done(&p);
}

static void test_out_of_order(void **state) {
        Pair p;
        Reply r1, r2;

        pair_setup(&p);
        assert_int_equal(call_info(p.client, "d1", 0, &r1), 0);
        assert_int_equal(call_info(p.client, "d2", 0, &r2), 0);
        run_until(p.e, &r1.done);
        run_until(p.e, &r2.done);
        assert_int_equal(r1.error, 0);
        assert_int_equal(r2.error, 0);
        assert_string_equal(r1.name, "d1");
        assert_string_equal(r2.name, "d2");
        pair_done(&p);
}

static void test_timeout(void **state) {
        Pair p;
        Reply r1, r2;

        pair_setup(&p);
        assert_int_equal(call_info(p.client, "silent", 20 * 1000, &r1), 0);
        run_until(p.e, &r1.done);
        assert_int_equal(r1.error, -ETIMEDOUT);
        assert_true(p.sp.silent_id != 0);

        /* The late answer is dropped without killing the connection. */
        assert_int_equal(reply_vm(p.server, p.sp.silent_id, "late"), 0);
        assert_int_equal(call_info(p.client, "next", 0, &r2), 0);
        run_until(p.e, &r2.done);
        assert_int_equal(r2.error, 0);
        assert_string_equal(r2.name, "next");
        assert_int_equal(p.cp.closed, 0);
        pair_done(&p);
}

static void test_unknown_response_id(void **state) {
        Pair p;
        Reply r1;

        pair_setup(&p);
        assert_int_equal(call_info(p.client, "silent", 0, &r1), 0);
        assert_int_equal(reply_vm(p.server, 999, "bogus"), 0);
        run_until(p.e, &r1.done);
        assert_int_equal(r1.error, -EBADMSG);
        assert_int_equal(p.cp.closed, 1);
        assert_int_equal(p.cp.close_reason, -EBADMSG);
        pair_done(&p);
}

/* Writes raw bytes into a WireConn and returns the close reason it reports. */
static int raw_into_conn(const void *data, size_t n, bool shut) {
        sd_event *e = NULL;
        WireConn *c = NULL;
        Peer peer = {};
        bool closed = false;
        int fds[2];

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(wire_conn_new(e, fds[0], &c), 0);
        wire_conn_set_handlers(c, server_message, peer_close, &peer);
        assert_int_equal(write(fds[1], data, n), (ssize_t) n);
        if (shut)
                assert_int_equal(shutdown(fds[1], SHUT_WR), 0);
        for (unsigned i = 0; i < 2000 && !closed; i++) {
                assert_true(sd_event_run(e, 100 * 1000) >= 0);
                closed = closed_flag(&peer);
        }
        assert_true(closed);
        assert_int_equal(peer.closed, 1);
        assert_int_equal(peer.n_messages, 0);
        wire_conn_unref(c);
        safe_close(fds[1]);
        sd_event_unref(e);
        return peer.close_reason;
}

static size_t raw_frame(uint8_t *out, uint32_t type, uint32_t flags, const ProtobufCMessage *m) {
        size_t len = protobuf_c_message_pack(m, out + FRAME_HEADER_SIZE);

        frame_header_pack(
                &(FrameHeader){ .type = type, .flags = flags, .id = 1, .length = (uint32_t) len }, out);
        return FRAME_HEADER_SIZE + len;
}

static void test_bad_input(void **state) {
        Bistro__Concierge__GetVmInfoRequest req = BISTRO__CONCIERGE__GET_VM_INFO_REQUEST__INIT;
        uint8_t buf[256];
        size_t n;

        assert_int_equal(raw_into_conn("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, false), -EBADMSG);

        /* A well-formed frame whose payload fails validation. */
        req.name = (char *) "../x";
        n = raw_frame(buf, BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, FRAME_REQUEST, &req.base);
        assert_int_equal(raw_into_conn(buf, n, false), -EBADMSG);
        req.name = (char *) "ok\x01";
        n = raw_frame(buf, BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, FRAME_REQUEST, &req.base);
        assert_int_equal(raw_into_conn(buf, n, false), -EBADMSG);

        /* A valid payload under the wrong type, and a response type sent as a request. */
        req.name = (char *) "ok";
        n = raw_frame(buf, BISTRO__MESSAGE_TYPE__OPEN_URL_REQUEST, FRAME_REQUEST, &req.base);
        assert_int_equal(raw_into_conn(buf, n, false), -EBADMSG);
        n = raw_frame(buf, BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, FRAME_REQUEST, &req.base);
        assert_int_equal(raw_into_conn(buf, n, false), -EBADMSG);
        n = raw_frame(buf, 4242, FRAME_REQUEST, &req.base);
        assert_int_equal(raw_into_conn(buf, n, false), -EBADMSG);

        /* Truncated, then EOF. */
        n = raw_frame(buf, BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, FRAME_REQUEST, &req.base);
        assert_int_equal(raw_into_conn(buf, n - 1, true), -EBADMSG);
        assert_int_equal(raw_into_conn(buf, 10, true), -EBADMSG);
        /* Length beyond every cap. */
        frame_header_pack(
                &(FrameHeader){
                        .type = BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST,
                        .flags = FRAME_REQUEST,
                        .id = 1,
                        .length = UINT32_MAX,
                },
                buf);
        assert_int_equal(raw_into_conn(buf, FRAME_HEADER_SIZE, false), -EMSGSIZE);
        /* EOF at a frame boundary is a clean close. */
        assert_int_equal(raw_into_conn("", 0, true), 0);
}

static void test_timeouts(void **state) {
        sd_event *e = NULL;
        WireConn *c = NULL;
        Peer peer = {};
        bool closed = false;
        int fds[2];

        assert_int_equal(sd_event_new(&e), 0);
        /* A frame that never completes. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(wire_conn_new(e, fds[0], &c), 0);
        wire_conn_set_handlers(c, server_message, peer_close, &peer);
        assert_int_equal(wire_conn_set_timeouts(c, 0, 20 * 1000), 0);
        assert_int_equal(write(fds[1], "BIS", 3), 3);
        for (unsigned i = 0; i < 2000 && !closed; i++) {
                assert_true(sd_event_run(e, 100 * 1000) >= 0);
                closed = closed_flag(&peer);
        }
        assert_true(closed);
        assert_int_equal(peer.close_reason, -ETIMEDOUT);
        c = wire_conn_unref(c);
        safe_close(fds[1]);

        /* A silent peer. */
        peer = (Peer){};
        closed = false;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(wire_conn_new(e, fds[0], &c), 0);
        wire_conn_set_handlers(c, server_message, peer_close, &peer);
        assert_int_equal(wire_conn_set_timeouts(c, 20 * 1000, 0), 0);
        for (unsigned i = 0; i < 2000 && !closed; i++) {
                assert_true(sd_event_run(e, 100 * 1000) >= 0);
                closed = closed_flag(&peer);
        }
        assert_true(closed);
        assert_int_equal(peer.close_reason, -ETIMEDOUT);
        wire_conn_unref(c);
        safe_close(fds[1]);
        sd_event_unref(e);
}

static void test_write_queue_cap(void **state) {
        static uint8_t data[PROTO_VSH_DATA_MAX];
        Bistro__Vsh__DataMessage dm = BISTRO__VSH__DATA_MESSAGE__INIT;
        Bistro__Vsh__HostMessage hm = BISTRO__VSH__HOST_MESSAGE__INIT;
        sd_event *e = NULL;
        WireConn *c = NULL;
        int fds[2], r = 0;
        unsigned sent = 0;

        dm.stream = BISTRO__VSH__STREAM__STREAM_STDIN;
        dm.data.data = data;
        dm.data.len = sizeof(data);
        hm.msg_case = BISTRO__VSH__HOST_MESSAGE__MSG_DATA;
        hm.data = &dm;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(wire_conn_new(e, fds[0], &c), 0);
        wire_conn_set_write_queue_max(c, 256 * 1024);
        /* The peer never reads: once the socket buffer is full the queue must stop growing. */
        for (unsigned i = 0; i < 10000; i++) {
                r = wire_send_event(c, BISTRO__MESSAGE_TYPE__HOST_MESSAGE, 0, &hm.base);
                if (r < 0)
                        break;
                sent++;
                assert_true(sd_event_run(e, 0) >= 0);
        }
        assert_int_equal(r, -ENOBUFS);
        assert_true(sent > 0);
        assert_true(wire_conn_get_write_queued(c) <= 256 * 1024);
        assert_false(wire_conn_is_closed(c));
        wire_conn_unref(c);
        safe_close(fds[1]);
        sd_event_unref(e);
}

typedef struct ServerState {
        Peer peer; /* shared by all connections of the server: counts closes */
        unsigned accepted;
} ServerState;

static int server_accept(WireServer *s, WireConn *c, void *userdata) {
        ServerState *st = userdata;

        st->accepted++;
        wire_conn_set_userdata(c, &st->peer);
        return 0;
}

static void test_server_isolation(void **state) {
        _cleanup_free_ char *path = NULL;
        char dir[] = "/tmp/test-wire-XXXXXX";
        ServerState st = {};
        sd_event *e = NULL;
        WireServer *s = NULL;
        WireConn *good = NULL;
        Peer gp = {};
        Reply r1;
        int lfd, bad, extra1, extra2;
        bool closed = false;

        assert_non_null(mkdtemp(dir));
        assert_true(asprintf(&path, "%s/sock", dir) > 0);
        assert_int_equal(sd_event_new(&e), 0);
        lfd = unix_listen(path, 16, 0600);
        assert_true(lfd >= 0);
        assert_int_equal(wire_server_new(e, lfd, 2, &s), 0);
        wire_server_set_handlers(s, server_accept, server_message, peer_close, &st);

        assert_int_equal(wire_conn_new(e, unix_connect(path), &good), 0);
        wire_conn_set_handlers(good, NULL, peer_close, &gp);
        bad = unix_connect(path);
        assert_true(bad >= 0);
        assert_int_equal(write(bad, "garbage garbage garbage garbage", 31), 31);
        for (unsigned i = 0; i < 2000 && !closed; i++) {
                assert_true(sd_event_run(e, 100 * 1000) >= 0);
                closed = closed_flag(&st.peer);
        }
        assert_true(closed);
        assert_int_equal(st.peer.close_reason, -EBADMSG);
        assert_int_equal(st.accepted, 2);

        /* The good connection still works. */
        assert_int_equal(call_info(good, "termina", 0, &r1), 0);
        run_until(e, &r1.done);
        assert_int_equal(r1.error, 0);
        assert_string_equal(r1.name, "termina");
        assert_int_equal(wire_server_get_n_conns(s), 1);

        /* Cap of 2: one more fits, the next is accepted and closed at once. */
        extra1 = unix_connect(path);
        assert_int_equal(call_info(good, "again", 0, &r1), 0);
        run_until(e, &r1.done);
        for (unsigned i = 0; i < 2000 && st.accepted < 3; i++)
                assert_true(sd_event_run(e, 100 * 1000) >= 0);
        assert_int_equal(wire_server_get_n_conns(s), 2);
        extra2 = unix_connect(path);
        for (unsigned i = 0; i < 50; i++)
                assert_true(sd_event_run(e, 10 * 1000) >= 0);
        struct pollfd pf = { .fd = extra2, .events = POLLIN };
        assert_int_equal(poll(&pf, 1, 5000), 1);
        char ch;
        assert_int_equal(read(extra2, &ch, 1), 0); /* EOF: refused */
        assert_int_equal(st.accepted, 3);
        assert_int_equal(wire_server_get_n_conns(s), 2);

        wire_server_free(s);
        assert_int_equal(gp.closed, 0);
        run_until(e, &(bool){ true });
        wire_conn_unref(good);
        safe_close(bad);
        safe_close(extra1);
        safe_close(extra2);
        sd_event_unref(e);
        unlink(path);
        rmdir(dir);
}

static WireServer *free_me;

static void close_frees_server(WireConn *c, int reason, void *userdata) {
        bool *done = userdata;

        /* Closes the other connection (which runs this again, with free_me already NULL) from
         * inside on_close. */
        wire_server_free(TAKE_PTR(free_me));
        *done = true;
}

static void test_server_free_from_close(void **state) {
        _cleanup_free_ char *path = NULL;
        char dir[] = "/tmp/test-wire-XXXXXX";
        sd_event *e = NULL;
        bool done = false;
        int lfd, a, b;

        assert_non_null(mkdtemp(dir));
        assert_true(asprintf(&path, "%s/sock", dir) > 0);
        assert_int_equal(sd_event_new(&e), 0);
        lfd = unix_listen(path, 16, 0600);
        assert_true(lfd >= 0);
        assert_int_equal(wire_server_new(e, lfd, 4, &free_me), 0);
        wire_server_set_handlers(free_me, NULL, server_message, close_frees_server, &done);
        a = unix_connect(path);
        b = unix_connect(path);
        for (unsigned i = 0; i < 2000 && wire_server_get_n_conns(free_me) < 2; i++)
                assert_true(sd_event_run(e, 100 * 1000) >= 0);
        assert_int_equal(wire_server_get_n_conns(free_me), 2);
        safe_close(a);
        run_until(e, &done);
        assert_null(free_me);
        char ch;
        assert_int_equal(read(b, &ch, 1), 0); /* the other connection was closed with the server */
        safe_close(b);
        sd_event_unref(e);
        unlink(path);
        rmdir(dir);
}

static void serve_child(int fd) {
        sd_event *e = NULL;
        WireConn *c = NULL;
        Peer p = {};

        if (sd_event_new(&e) < 0 || wire_conn_new(e, fd, &c) < 0)
                _exit(2);
        wire_conn_set_handlers(c, server_message, peer_close, &p);
        while (p.closed == 0)
                if (sd_event_run(e, UINT64_MAX) < 0)
                        _exit(3);
        _exit(p.close_reason == 0 ? 0 : 4);
}

static int count_event(uint32_t type, uint64_t id, const ProtobufCMessage *msg, void *userdata) {
        unsigned *n = userdata;

        assert_int_equal(type, BISTRO__MESSAGE_TYPE__PROGRESS);
        (*n)++;
        return 0;
}

static void test_call_sync(void **state) {
        Bistro__Concierge__GetVmInfoRequest req = BISTRO__CONCIERGE__GET_VM_INFO_REQUEST__INIT;
        ProtobufCMessage *m = NULL;
        uint32_t type = 0;
        unsigned events = 0;
        int fds[2], status;
        pid_t pid;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                safe_close(fds[0]);
                serve_child(fds[1]);
        }
        safe_close(fds[1]);

        req.name = (char *) "termina";
        assert_int_equal(
                wire_call_sync(
                        fds[0], BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, &req.base,
                        BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, 10000, &type, &m),
                0);
        assert_int_equal(type, BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE);
        assert_string_equal(((Bistro__Concierge__VmInfoResponse *) m)->vm->name, "termina");
        m = message_free(m);

        req.name = (char *) "fail";
        assert_int_equal(
                wire_call_sync(
                        fds[0], BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, &req.base,
                        BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, 10000, &type, &m),
                -ENOENT);
        assert_int_equal(type, BISTRO__MESSAGE_TYPE__ERROR_REPLY);
        assert_string_equal(wire_error_message(m), "no VM 'fail'");
        m = message_free(m);

        req.name = (char *) "progress";
        assert_int_equal(
                wire_call_sync_full(
                        fds[0], BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, &req.base,
                        BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, 10000, 0, count_event, &events, &type, &m),
                0);
        assert_int_equal(events, 1);
        m = message_free(m);

        req.name = (char *) "silent";
        assert_int_equal(
                wire_call_sync(
                        fds[0], BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, &req.base,
                        BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, 50, &type, &m),
                -ETIMEDOUT);
        assert_null(m);

        /* Invalid requests are refused before sending. */
        req.name = (char *) "";
        assert_int_equal(
                wire_call_sync(
                        fds[0], BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, &req.base,
                        BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, 50, &type, &m),
                -EINVAL);

        safe_close(fds[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* wire_reply_fd() -> wire_call_sync_fd(): the descriptor arrives with the response, works, and a
 * response without one, or an error, gives none. */
static void test_pass_fd(void **state) {
        Bistro__Concierge__GetVmInfoRequest req = BISTRO__CONCIERGE__GET_VM_INFO_REQUEST__INIT;
        ProtobufCMessage *m = NULL;
        uint32_t type = 0;
        int fds[2], status, passed = -EBADF;
        char buf[16] = {};
        pid_t pid;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                safe_close(fds[0]);
                serve_child(fds[1]);
        }
        safe_close(fds[1]);

        req.name = (char *) "pass-fd";
        assert_int_equal(
                wire_call_sync_fd(
                        fds[0], BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, &req.base,
                        BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, 10000, &passed, &type, &m),
                0);
        assert_true(passed >= 0);
        assert_true(fcntl(passed, F_GETFD) & FD_CLOEXEC);
        assert_int_equal(read(passed, buf, sizeof(buf)), 7);
        assert_string_equal(buf, "through");
        assert_int_equal(read(passed, buf, sizeof(buf)), 0); /* the server's copies are closed */
        passed = safe_close(passed);
        m = message_free(m);

        /* The same call answered without a descriptor: a protocol error, not a success. */
        req.name = (char *) "termina";
        assert_int_equal(
                wire_call_sync_fd(
                        fds[0], BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, &req.base,
                        BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, 10000, &passed, &type, &m),
                -EBADMSG);
        assert_int_equal(passed, -EBADF);
        assert_int_equal(type, BISTRO__MESSAGE_TYPE__ERROR_REPLY);
        m = message_free(m);

        req.name = (char *) "fail";
        assert_int_equal(
                wire_call_sync_fd(
                        fds[0], BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, &req.base,
                        BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, 10000, &passed, &type, &m),
                -ENOENT);
        assert_int_equal(passed, -EBADF);
        m = message_free(m);

        /* A plain call still works after (the stream stayed in step), and ignores no fd. */
        req.name = (char *) "pass-fd";
        assert_int_equal(
                wire_call_sync(
                        fds[0], BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, &req.base,
                        BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, 10000, &type, &m),
                0);
        m = message_free(m);

        safe_close(fds[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void on_detach_reply(
        WireConn *c, int error, uint32_t type, const ProtobufCMessage *msg, void *userdata) {
        int *fd = userdata;

        assert_int_equal(error, 0);
        *fd = wire_conn_detach_fd(c);
}

/* wire_conn_detach_fd() from the reply handler: the socket goes on carrying raw bytes. */
static void test_detach_fd(void **state) {
        Bistro__Concierge__GetVmInfoRequest req = BISTRO__CONCIERGE__GET_VM_INFO_REQUEST__INIT;
        ProtobufCMessage *m = NULL;
        sd_event *e = NULL;
        WireConn *c = NULL;
        FrameHeader h;
        Peer p = {};
        int fds[2], detached = INT_MIN;
        char buf[8] = {};

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(wire_conn_new(e, fds[0], &c), 0);
        wire_conn_set_handlers(c, NULL, peer_close, &p);
        req.name = (char *) "raw";
        assert_int_equal(
                wire_call(
                        c, BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, &req.base, 0, on_detach_reply,
                        &detached, NULL),
                0);
        /* What is queued but unsent cannot be detached. */
        assert_int_equal(wire_conn_detach_fd(c), -EBUSY);
        for (unsigned i = 0; i < 100 && wire_conn_get_write_queued(c) > 0; i++)
                assert_true(sd_event_run(e, 100 * 1000) >= 0);
        assert_int_equal(wire_recv_sync(fds[1], 10000, &h, &m), 0);
        m = message_free(m);
        assert_int_equal(reply_vm_sync(fds[1], h.id), 0);
        for (unsigned i = 0; i < 100 && detached == INT_MIN; i++)
                assert_true(sd_event_run(e, 100 * 1000) >= 0);
        assert_true(detached >= 0);
        assert_int_equal(p.closed, 1);
        assert_int_equal(p.close_reason, 0);
        assert_true(wire_conn_is_closed(c));
        assert_int_equal(wire_conn_detach_fd(c), -ENOTCONN);
        assert_int_equal(write(fds[1], "raw", 3), 3);
        assert_int_equal(fd_wait_until(detached, POLLIN, -1), 0);
        assert_int_equal(read(detached, buf, sizeof(buf)), 3);
        assert_string_equal(buf, "raw");
        safe_close(detached);
        safe_close(fds[1]);
        wire_conn_unref(c);
        sd_event_unref(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pass_fd),
                cmocka_unit_test(test_detach_fd),
                cmocka_unit_test(test_call_reply),
                cmocka_unit_test(test_out_of_order),
                cmocka_unit_test(test_timeout),
                cmocka_unit_test(test_unknown_response_id),
                cmocka_unit_test(test_bad_input),
                cmocka_unit_test(test_timeouts),
                cmocka_unit_test(test_write_queue_cap),
                cmocka_unit_test(test_server_isolation),
                cmocka_unit_test(test_server_free_from_close),
                cmocka_unit_test(test_call_sync),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
