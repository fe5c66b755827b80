/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsock_hybrid_connect() against a fake vsockd: a child process listening on a unix socket that
 * checks the CONNECT line and answers with whatever the test scripts. */
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

#include "fd-util.h"
#include "macro.h"
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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ok_and_stream_follows),
                cmocka_unit_test(test_err),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_line_length_limit),
                cmocka_unit_test(test_eof),
                cmocka_unit_test(test_timeout),
                cmocka_unit_test(test_no_listener),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
