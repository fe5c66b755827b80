/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* listen_fd_take_vsock(): the service side of maitred's socket passing. Real sockets put on fd 3
 * and real LISTEN_* variables, as maitred leaves them after the exec. */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "bistro-ports.h"
#include "listen-fds.h"
#include "macro.h"

/* A vsock stream socket bound to a free port (the host's vsock ports are shared by every test
 * running on the machine: never a fixed one), listening or not. */
static int vsock_bound(bool listening, int type, uint32_t *ret_port) {
        struct sockaddr_vm sa = { .svm_family = AF_VSOCK,
                                  .svm_cid = VMADDR_CID_ANY,
                                  .svm_port = VMADDR_PORT_ANY };
        socklen_t len = sizeof(sa);
        int fd;

        fd = socket(AF_VSOCK, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || (listening && listen(fd, 4) < 0) ||
            getsockname(fd, (struct sockaddr *) &sa, &len) < 0) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        *ret_port = sa.svm_port;
        return fd;
}

static int vsock_listener(uint32_t *ret_port) {
        int fd = vsock_bound(true, SOCK_STREAM, ret_port);

        if (fd == -EAFNOSUPPORT)
                fail_msg("no AF_VSOCK on this machine (load the vsock module): the test cannot run");
        assert_true(fd >= 0);
        return fd;
}

/* Moves fd to fd 3, inheritable, as maitred's child finds it. */
static void put_on_fd3(int fd) {
        if (fd == LISTEN_FDS_START) {
                assert_int_equal(fcntl(fd, F_SETFD, 0), 0);
                return;
        }
        assert_int_equal(dup2(fd, LISTEN_FDS_START), LISTEN_FDS_START);
        safe_close(fd);
}

static void set_env(const char *pid, const char *fds) {
        char buf[32];

        if (pid && streq(pid, "self")) {
                (void) snprintf(buf, sizeof(buf), "%d", (int) getpid());
                pid = buf;
        }
        if (pid)
                assert_int_equal(setenv("LISTEN_PID", pid, 1), 0);
        else
                assert_int_equal(unsetenv("LISTEN_PID"), 0);
        if (fds)
                assert_int_equal(setenv("LISTEN_FDS", fds, 1), 0);
        else
                assert_int_equal(unsetenv("LISTEN_FDS"), 0);
        assert_int_equal(setenv("LISTEN_FDNAMES", "x", 1), 0);
}

static void assert_env_gone(void) {
        assert_null(getenv("LISTEN_PID"));
        assert_null(getenv("LISTEN_FDS"));
        assert_null(getenv("LISTEN_FDNAMES"));
}

/* Runs the take for port; returns its result, checks what every outcome promises. */
static int take(uint32_t port, const char *expect_in_message) {
        _cleanup_free_ char *why = NULL;
        int fd = -1, r;

        r = listen_fd_take_vsock(port, &fd, &why);
        assert_env_gone();
        if (r > 0) {
                assert_int_equal(fd, LISTEN_FDS_START);
                assert_int_equal(fcntl(fd, F_GETFD), FD_CLOEXEC);
        } else
                assert_int_equal(fd, -1); /* untouched */
        if (r < 0) {
                assert_non_null(why);
                if (expect_in_message && !strstr(why, expect_in_message))
                        fail_msg("message '%s' lacks '%s'", why, expect_in_message);
        }
        return r;
}

static int teardown(void **state) {
        (void) close(LISTEN_FDS_START);
        (void) unsetenv("LISTEN_PID");
        (void) unsetenv("LISTEN_FDS");
        (void) unsetenv("LISTEN_FDNAMES");
        return 0;
}

static void test_good(void **state) {
        uint32_t port;
        int fd = vsock_listener(&port);

        put_on_fd3(fd);
        set_env("self", "1");
        assert_int_equal(take(port, NULL), 1);
        /* Still the listener, still open. */
        assert_int_equal(fcntl(LISTEN_FDS_START, F_GETFD), FD_CLOEXEC);
}

static void test_nothing_passed(void **state) {
        uint32_t port;

        /* No variables: listen yourself, fd 3 is left alone. */
        set_env(NULL, NULL);
        assert_int_equal(take(1234, NULL), 0);
        set_env("self", NULL);
        assert_int_equal(take(1234, NULL), 0);
        set_env(NULL, "1");
        assert_int_equal(take(1234, NULL), 0);

        /* LISTEN_FDS=0 for us. */
        set_env("self", "0");
        assert_int_equal(take(1234, NULL), 0);

        /* Meant for another process (say our parent, whose environment we inherited): not ours, even
         * with a good socket on fd 3, which stays inheritable-as-is (not ours to touch). */
        put_on_fd3(vsock_listener(&port));
        set_env("1", "1");
        assert_int_equal(take(port, NULL), 0);
        assert_int_equal(fcntl(LISTEN_FDS_START, F_GETFD), 0);
}

static void test_garbage(void **state) {
        static const char *const bad[] = { "", "x", "-1", "1x", " 1", "99999999999999999999" };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                set_env("self", bad[i]);
                assert_int_equal(take(1234, "LISTEN_FDS="), -EINVAL);
                set_env(bad[i], "1");
                assert_int_equal(take(1234, "LISTEN_PID="), -EINVAL);
        }
        set_env("0", "1");
        assert_int_equal(take(1234, "LISTEN_PID="), -EINVAL);
}

static void test_two_fds(void **state) {
        uint32_t port;

        put_on_fd3(vsock_listener(&port));
        set_env("self", "2");
        assert_int_equal(take(port, "LISTEN_FDS=2"), -E2BIG);
}

static void test_wrong_family(void **state) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, p[2];

        /* A listening unix socket (abstract, so nothing to clean up). */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        (void) snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "test-listen-fds-%d", (int) getpid());
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 4), 0);
        put_on_fd3(fd);
        set_env("self", "1");
        assert_int_equal(take(VSHD_PORT, "not AF_VSOCK"), -EAFNOSUPPORT);
        (void) close(LISTEN_FDS_START);

        /* Not a socket at all. */
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        safe_close(p[1]);
        put_on_fd3(p[0]);
        set_env("self", "1");
        assert_int_equal(take(VSHD_PORT, "not a socket"), -ENOTSOCK);
        (void) close(LISTEN_FDS_START);

        /* Nothing on fd 3. */
        set_env("self", "1");
        assert_int_equal(take(VSHD_PORT, "not open"), -EBADF);
}

static void test_wrong_port(void **state) {
        char expect[64];
        uint32_t port;

        put_on_fd3(vsock_listener(&port));
        set_env("self", "1");
        (void) snprintf(expect, sizeof(expect), "port %u, not %u", port, port + 1);
        assert_int_equal(take(port + 1, expect), -EADDRNOTAVAIL);
}

static void test_not_listening(void **state) {
        uint32_t port;
        int fd;

        fd = vsock_bound(false, SOCK_STREAM, &port);
        assert_true(fd >= 0);
        put_on_fd3(fd);
        set_env("self", "1");
        assert_int_equal(take(port, "not listening"), -EINVAL);
}

static void test_wrong_type(void **state) {
        uint32_t port;
        int fd;

        /* SOCK_SEQPACKET vsock needs a transport that has it; without one there is nothing to test. */
        fd = vsock_bound(true, SOCK_SEQPACKET, &port);
        if (fd < 0) {
                printf("# no listening vsock SOCK_SEQPACKET socket here (%s), case not run\n",
                       strerror(-fd));
                return;
        }
        put_on_fd3(fd);
        set_env("self", "1");
        assert_int_equal(take(port, "not SOCK_STREAM"), -ESOCKTNOSUPPORT);
}

/* The Wayland gate's listener: an AF_UNIX SOCK_STREAM socket, listening. */
static void test_unix(void **state) {
        int fd, ret_fd = -1, p[2];

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(
                bind(fd, (struct sockaddr *) &(struct sockaddr_un){ .sun_family = AF_UNIX },
                     sizeof(sa_family_t)),
                0);
        assert_int_equal(listen(fd, 4), 0);
        put_on_fd3(fd);
        set_env("self", "1");
        assert_int_equal(listen_fd_take_unix(&ret_fd, NULL), 1);
        assert_int_equal(ret_fd, LISTEN_FDS_START);
        assert_int_equal(fcntl(LISTEN_FDS_START, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        assert_null(getenv("LISTEN_FDS"));
        (void) close(LISTEN_FDS_START);

        /* A unix socket that does not listen, and a vsock listener, are refused. */
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p), 0);
        safe_close(p[1]);
        put_on_fd3(p[0]);
        set_env("self", "1");
        assert_int_equal(listen_fd_take_unix(&ret_fd, NULL), -EINVAL);
        (void) close(LISTEN_FDS_START);
        {
                uint32_t port;
                int v = vsock_listener(&port);

                if (v >= 0) {
                        put_on_fd3(v);
                        set_env("self", "1");
                        assert_int_equal(listen_fd_take_unix(&ret_fd, NULL), -EAFNOSUPPORT);
                        (void) close(LISTEN_FDS_START);
                }
        }
        set_env("self", "0");
        assert_int_equal(listen_fd_take_unix(&ret_fd, NULL), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_good, teardown),
                cmocka_unit_test_teardown(test_nothing_passed, teardown),
                cmocka_unit_test_teardown(test_garbage, teardown),
                cmocka_unit_test_teardown(test_two_fds, teardown),
                cmocka_unit_test_teardown(test_wrong_family, teardown),
                cmocka_unit_test_teardown(test_wrong_port, teardown),
                cmocka_unit_test_teardown(test_not_listening, teardown),
                cmocka_unit_test_teardown(test_wrong_type, teardown),
                cmocka_unit_test_teardown(test_unix, teardown),
        };

        /* fd 3 is the test's to use. */
        (void) close(LISTEN_FDS_START);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
