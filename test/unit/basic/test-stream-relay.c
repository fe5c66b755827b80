/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* stream_relay() on real socket pairs, in a child per relay (as sommelier uses it). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "fd-util.h"
#include "macro.h"
#include "stream-relay.h"

/* client <-> [a | relay | b] <-> server (unix stream sockets: the splice path); returns the
 * relay's pid. */
static pid_t start(int *client, int *server) {
        int ca[2], bs[2];
        pid_t pid;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ca), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, bs), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(ca[0]);
                close(bs[1]);
                _exit(stream_relay(ca[1], bs[0]) == 0 ? 0 : 1);
        }
        close(ca[1]);
        close(bs[0]);
        *client = ca[0];
        *server = bs[1];
        return pid;
}

static int wait_exit(pid_t pid, int timeout_s) {
        int status;

        for (int i = 0; i < timeout_s * 100; i++) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                usleep(10000);
        }
        kill(pid, SIGKILL);
        (void) waitpid(pid, &status, 0);
        return -ETIMEDOUT;
}

static size_t read_all(int fd, char *buf, size_t max) {
        size_t n = 0;
        ssize_t k;

        while (n < max && (k = read(fd, buf + n, max - n)) > 0)
                n += (size_t) k;
        return n;
}

/* Bytes both ways, in order and complete (more than a pipe holds), then half-closes: EOF from the
 * client reaches the server while the server can still answer; the relay exits 0. */
static void test_both_ways_and_half_close(void **state) {
        size_t big = 3u * 1024u * 1024u;
        char *out = malloc(big), *in = malloc(big), reply[16];
        int client, server;
        pid_t pid, writer;

        for (size_t i = 0; i < big; i++)
                out[i] = (char) (i * 7 + i / 4096);
        pid = start(&client, &server);
        writer = fork();
        if (writer == 0) {
                _exit(loop_write(client, out, big) == 0 && shutdown(client, SHUT_WR) == 0 ? 0 : 1);
        }
        assert_int_equal(read_all(server, in, big), big);
        assert_memory_equal(in, out, big);
        assert_int_equal(read(server, reply, 1), 0); /* EOF: the client shut down writing */
        assert_int_equal(wait_exit(writer, 10), 0);
        assert_int_equal(loop_write(server, "answer", 6), 0);
        assert_int_equal(shutdown(server, SHUT_WR), 0);
        assert_int_equal(read_all(client, reply, sizeof(reply)), 6);
        assert_memory_equal(reply, "answer", 6);
        assert_int_equal(wait_exit(pid, 10), 0);
        close(client);
        close(server);
        free(out);
        free(in);
}

/* A server that stops reading does not stop the other direction. */
static void test_stalled_reader(void **state) {
        char chunk[65536] = {}, buf[8];
        int client, server;
        pid_t pid;

        pid = start(&client, &server);
        assert_int_equal(fd_nonblock(client, true), 0);
        /* Fill the client->server path until it pushes back. */
        for (int i = 0; i < 4096; i++) {
                ssize_t n = write(client, chunk, sizeof(chunk));

                if (n < 0) {
                        assert_int_equal(errno, EAGAIN);
                        break;
                }
                if (i == 4095)
                        fail_msg("no backpressure after 256 MiB");
                usleep(100);
        }
        assert_int_equal(loop_write(server, "hello", 5), 0);
        assert_int_equal(fd_nonblock(client, false), 0);
        assert_int_equal(read(client, buf, 5), 5);
        assert_memory_equal(buf, "hello", 5);
        /* The server goes away: the relay ends (an error), never hangs. */
        close(server);
        assert_true(wait_exit(pid, 10) >= 0);
        close(client);
}

/* A side that closes: the other sees EOF, and once it closes too the relay is done. */
static void test_reset_ends_both(void **state) {
        int client, server;
        char b;
        pid_t pid;

        pid = start(&client, &server);
        close(server);
        assert_int_equal(read(client, &b, 1), 0);
        close(client);
        assert_int_equal(wait_exit(pid, 10), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_both_ways_and_half_close),
                cmocka_unit_test(test_stalled_reader),
                cmocka_unit_test(test_reset_ends_both),
        };
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
