/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsock_hybrid_connect() and the non-blocking vsock_hybrid_dial_start() against a fake vsockd: a
 * child process listening on a unix socket that checks the CONNECT line and answers with whatever
 * the test scripts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "alloc-util.h"
#include "common.pb-c.h"
#include "fd-util.h"
#include "frame.h"
#include "macro.h"
#include "message-type.h"
#include "ports.pb-c.h"
#include "socket-util.h"
#include "vsock-hybrid.h"

#define PORT 5123u
/* The reply buffer holds 64 bytes with the NUL: the longest line accepted is 63 bytes. */
#define LINE_MAX_ACCEPTED 63

static char dir[] = "/tmp/test-vsock-hybrid-XXXXXX";
static char sock_path[128];

static int setup(void **state) {
        if (!mkdtemp(dir))
                return -1;
        (void) snprintf(sock_path, sizeof(sock_path), "%s/vsock.sock", dir);
        return 0;
}

static int teardown(void **state) {
        (void) unlink(sock_path);
        return rmdir(dir);
}

typedef struct Peer {
        pid_t pid;
} Peer;

/* The child: accept one connection, require exactly "CONNECT <PORT>\n", send reply (len bytes),
 * then either close at once or hold the connection open until the client closes. Exit status 0
 * when the CONNECT line was right. */
static _Noreturn void peer_main(int l, const char *reply, size_t len, bool hold) {
        char want[32], got[32];
        size_t n = 0;
        int c;

        c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
                _exit(10);
        (void) snprintf(want, sizeof(want), "CONNECT %u\n", PORT);
        while (n < sizeof(got) - 1) {
                if (read(c, got + n, 1) != 1)
                        _exit(11);
                if (got[n++] == '\n')
                        break;
        }
        got[n] = 0;
        if (strcmp(got, want) != 0)
                _exit(12);
        if (len > 0 && loop_write(c, reply, len) < 0)
                _exit(13);
        if (hold) {
                char b;
                while (read(c, &b, 1) > 0)
                        ;
        }
        _exit(0);
}

static Peer peer_start(const char *reply, size_t len, bool hold) {
        _cleanup_close_ int l = unix_listen(sock_path, 1, 0600);
        Peer p;

        assert_true(l >= 0);
        p.pid = fork();
        assert_true(p.pid >= 0);
        if (p.pid == 0)
                peer_main(l, reply, len, hold);
        return p;
}

static void peer_finish(Peer *p) {
        int status = -1;

        assert_int_equal(waitpid(p->pid, &status, 0), p->pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static int connect_with_reply(const char *reply, size_t len, bool hold) {
        Peer p = peer_start(reply, len, hold);
        int fd = vsock_hybrid_connect(sock_path, PORT, 5000);

        if (fd >= 0 && hold)
                /* The caller checks the stream and closes; here only errors end the peer. */
                return fd;
        peer_finish(&p);
        return fd;
}

static void test_ok_and_stream_follows(void **state) {
        static const char reply[] = "OK 1024\nguest bytes";
        Peer p = peer_start(reply, strlen(reply), true);
        _cleanup_close_ int fd = vsock_hybrid_connect(sock_path, PORT, 5000);
        char buf[32] = {};

        assert_true(fd >= 0);
        /* Nothing after the line was eaten: it is the guest's stream. */
        assert_int_equal(read(fd, buf, 11), 11);
        assert_string_equal(buf, "guest bytes");
        fd = safe_close(fd);
        peer_finish(&p);
}

static void test_err(void **state) {
        static const char reply[] = "ERR no listener on port\n";

        assert_int_equal(connect_with_reply(reply, strlen(reply), false), -ECONNABORTED);
}

static void test_garbage(void **state) {
        static const char *const bad[] = {
                "HELLO\n", "OK\n", /* "OK" needs its port */
                "ok 1\n",  "\n",   " OK 1\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(connect_with_reply(bad[i], strlen(bad[i]), false), -EBADMSG);
}

static void test_line_length_limit(void **state) {
        char line[LINE_MAX_ACCEPTED + 2];
        int fd;

        /* Exactly the longest line: accepted. */
        memset(line, '9', sizeof(line));
        memcpy(line, "OK ", 3);
        line[LINE_MAX_ACCEPTED - 1] = '\n';
        fd = connect_with_reply(line, LINE_MAX_ACCEPTED, true);
        assert_true(fd >= 0);
        safe_close(fd);
        /* peer held the connection: it ends now that we closed. */
        {
                int status;
                assert_true(wait(&status) > 0);
                assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }

        /* One byte longer: refused without reading further. */
        memset(line, '9', sizeof(line));
        memcpy(line, "OK ", 3);
        line[LINE_MAX_ACCEPTED] = '\n';
        assert_int_equal(connect_with_reply(line, LINE_MAX_ACCEPTED + 1, false), -EBADMSG);

        /* No newline at all in a long answer. */
        memset(line, 'x', sizeof(line));
        assert_int_equal(connect_with_reply(line, sizeof(line), false), -EBADMSG);
}

static void test_eof(void **state) {
        /* Closed before a byte: the VM's vsockd refused the port. */
        assert_int_equal(connect_with_reply("", 0, false), -ECONNABORTED);
        /* Closed inside the line: a broken answer. */
        assert_int_equal(connect_with_reply("OK 12", 5, false), -EBADMSG);
}

static int64_t mono_ms(void) {
        struct timespec ts;

        assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_timeout(void **state) {
        Peer p;
        int64_t t0, dt;
        int fd;

        /* A peer that never answers: the deadline ends the wait, not the peer. */
        p = peer_start("", 0, true);
        t0 = mono_ms();
        fd = vsock_hybrid_connect(sock_path, PORT, 300);
        dt = mono_ms() - t0;
        assert_int_equal(fd, -ETIMEDOUT);
        assert_true(dt >= 290);
        assert_true(dt < 3000);
        /* Our side was closed on the way out, so the peer sees EOF and exits. */
        peer_finish(&p);

        /* Half a line, then silence: still a timeout. */
        p = peer_start("OK 1", 4, true);
        fd = vsock_hybrid_connect(sock_path, PORT, 300);
        assert_int_equal(fd, -ETIMEDOUT);
        peer_finish(&p);
}

static void test_no_listener(void **state) {
        char path[160];

        (void) snprintf(path, sizeof(path), "%s/nothing.sock", dir);
        assert_int_equal(vsock_hybrid_connect(path, PORT, 1000), -ENOENT);
        /* A socket file left behind by a dead vsockd. */
        {
                int l = unix_listen(path, 1, 0600);
                assert_true(l >= 0);
                safe_close(l);
        }
        assert_int_equal(vsock_hybrid_connect(path, PORT, 1000), -ECONNREFUSED);
        (void) unlink(path);
}

/* ---- the non-blocking dial ---- */

typedef struct DialResult {
        bool called;
        int fd, error;
        char *message;
} DialResult;

static void on_dialed(int fd, int error, const char *message, void *userdata) {
        DialResult *res = userdata;

        res->called = true;
        res->fd = fd;
        res->error = error;
        res->message = message ? strdup(message) : NULL;
}

/* Dials the peer already started; with_request sends a ForwardConnect and waits for its answer. */
static DialResult dial(bool with_request, uint64_t timeout_usec) {
        Bistro__Ports__ForwardConnectRequest req = BISTRO__PORTS__FORWARD_CONNECT_REQUEST__INIT;
        DialResult res = { .fd = -EBADF };
        sd_event *e = NULL;

        req.container = (char *) "penguin";
        req.protocol = BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP;
        req.port = 80;
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(
                vsock_hybrid_dial_start(
                        e, sock_path, PORT, with_request ? BISTRO__MESSAGE_TYPE__FORWARD_CONNECT_REQUEST : 0,
                        with_request ? &req.base : NULL, timeout_usec, on_dialed, &res, NULL),
                0);
        while (!res.called)
                assert_true(sd_event_run(e, UINT64_MAX) >= 0);
        sd_event_unref(e);
        return res;
}

/* "OK" and then, when msg is set, the answer to the request as a response frame, then extra. */
static size_t make_reply(
        uint8_t *buf, size_t size, uint32_t type, const ProtobufCMessage *msg, const char *extra) {
        _cleanup_free_ uint8_t *frame = NULL;
        size_t n = strlen("OK 1024\n"), len = 0;

        memcpy(buf, "OK 1024\n", n);
        if (msg) {
                assert_int_equal(frame_encode(type, FRAME_RESPONSE, 1, msg, &frame, &len), 0);
                assert_true(n + len + strlen(extra) <= size);
                memcpy(buf + n, frame, len);
                n += len;
        }
        memcpy(buf + n, extra, strlen(extra));
        return n + strlen(extra);
}

static void test_dial_ok_and_stream_follows(void **state) {
        Bistro__Empty empty = BISTRO__EMPTY__INIT;
        uint8_t reply[256];
        char buf[32] = {};

        for (int with_request = 0; with_request <= 1; with_request++) {
                size_t len = make_reply(
                        reply, sizeof(reply), BISTRO__MESSAGE_TYPE__EMPTY, with_request ? &empty.base : NULL,
                        "guest bytes");
                Peer p = peer_start((const char *) reply, len, true);
                DialResult res = dial(with_request, 5 * 1000000u);

                assert_int_equal(res.error, 0);
                assert_true(res.fd >= 0);
                /* Nothing after the line (and the answer) was eaten: it is the guest's stream. */
                memset(buf, 0, sizeof(buf));
                assert_int_equal(read(res.fd, buf, 11), 11);
                assert_string_equal(buf, "guest bytes");
                safe_close(res.fd);
                peer_finish(&p);
        }
}

static void test_dial_error_reply(void **state) {
        Bistro__ErrorReply err = BISTRO__ERROR_REPLY__INIT;
        uint8_t reply[256];
        size_t len;
        Peer p;
        DialResult res;

        err.error = -ECONNREFUSED;
        err.message = (char *) "nothing listens on 80";
        len = make_reply(reply, sizeof(reply), BISTRO__MESSAGE_TYPE__ERROR_REPLY, &err.base, "");
        p = peer_start((const char *) reply, len, true);
        res = dial(true, 5 * 1000000u);
        assert_int_equal(res.fd, -EBADF);
        assert_int_equal(res.error, -ECONNREFUSED);
        assert_string_equal(res.message, "nothing listens on 80");
        free(res.message);
        peer_finish(&p);
}

static void test_dial_refused(void **state) {
        static const struct {
                const char *reply;
                int error;
        } cases[] = {
                { "ERR no listener on port\n", -ECONNABORTED },
                { "HELLO\n", -EBADMSG },
                { "OK\n", -EBADMSG },
                { "", -ECONNABORTED },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Peer p = peer_start(cases[i].reply, strlen(cases[i].reply), false);
                DialResult res = dial(false, 5 * 1000000u);

                assert_int_equal(res.fd, -EBADF);
                assert_int_equal(res.error, cases[i].error);
                peer_finish(&p);
        }
}

static void test_dial_timeout(void **state) {
        Peer p = peer_start("", 0, true);
        int64_t t0 = mono_ms();
        DialResult res = dial(false, 300 * 1000u);
        int64_t dt = mono_ms() - t0;

        assert_int_equal(res.error, -ETIMEDOUT);
        assert_non_null(res.message);
        assert_true(dt >= 290);
        assert_true(dt < 3000);
        free(res.message);
        /* Our side was closed on the way out, so the peer sees EOF and exits. */
        peer_finish(&p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ok_and_stream_follows),
                cmocka_unit_test(test_err),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_line_length_limit),
                cmocka_unit_test(test_eof),
                cmocka_unit_test(test_timeout),
                cmocka_unit_test(test_no_listener),
                cmocka_unit_test(test_dial_ok_and_stream_follows),
                cmocka_unit_test(test_dial_error_reply),
                cmocka_unit_test(test_dial_refused),
                cmocka_unit_test(test_dial_timeout),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
