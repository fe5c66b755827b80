/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Real vshd sessions (the VM target, i.e. a process on this machine as the current user) on a
 * socketpair: setup, pipes and pty, stdin and its EOF, exit codes and signals, resize, failures,
 * large output; and the passwd lookup the container target uses. */
#include <errno.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "frame.h"
#include "macro.h"
#include "message-type.h"
#include "vshd.h"
#include "wire.h"

typedef struct Result {
        char *out, *err;
        size_t n_out, n_err;
        int exit_code;    /* -1 when killed */
        int signal;       /* 0 when exited */
        char error[1100]; /* FAILED */
} Result;

static pid_t start_session(int *ret_fd) {
        int sp[2];
        pid_t pid;

        assert_return_code(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), errno);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(sp[0]);
                _exit(vshd_session_run(sp[1]));
        }
        close(sp[1]);
        *ret_fd = sp[0];
        return pid;
}

static void send_host(int fd, Bistro__Vsh__HostMessage *h) {
        assert_int_equal(
                wire_send_sync(fd, BISTRO__MESSAGE_TYPE__HOST_MESSAGE, FRAME_EVENT, 0, &h->base, 5000), 0);
}

static void send_stdin(int fd, const char *s, bool eof) {
        Bistro__Vsh__HostMessage h = BISTRO__VSH__HOST_MESSAGE__INIT;
        Bistro__Vsh__DataMessage d = BISTRO__VSH__DATA_MESSAGE__INIT;

        d.stream = BISTRO__VSH__STREAM__STREAM_STDIN;
        d.data.data = (uint8_t *) s;
        d.data.len = s ? strlen(s) : 0;
        d.eof = eof;
        h.msg_case = BISTRO__VSH__HOST_MESSAGE__MSG_DATA;
        h.data = &d;
        send_host(fd, &h);
}

static void send_signal(int fd, Bistro__Vsh__Signal sig) {
        Bistro__Vsh__HostMessage h = BISTRO__VSH__HOST_MESSAGE__INIT;
        Bistro__Vsh__SignalMessage s = BISTRO__VSH__SIGNAL_MESSAGE__INIT;

        s.signal = sig;
        h.msg_case = BISTRO__VSH__HOST_MESSAGE__MSG_SIGNAL;
        h.signal = &s;
        send_host(fd, &h);
}

static void send_resize(int fd, uint32_t rows, uint32_t cols) {
        Bistro__Vsh__HostMessage h = BISTRO__VSH__HOST_MESSAGE__INIT;
        Bistro__Vsh__WindowResize w = BISTRO__VSH__WINDOW_RESIZE__INIT;

        w.rows = rows;
        w.cols = cols;
        h.msg_case = BISTRO__VSH__HOST_MESSAGE__MSG_RESIZE;
        h.resize = &w;
        send_host(fd, &h);
}

/* Sends the setup; returns true when READY (else r->error is set). */
static bool setup(int fd, char **argv, bool tty, const char *cwd, Result *r) {
        Bistro__Vsh__SetupConnectionRequest req = BISTRO__VSH__SETUP_CONNECTION_REQUEST__INIT;
        ProtobufCMessage *m = NULL;
        const Bistro__Vsh__SetupConnectionResponse *resp;
        char *env[] = { (char *) "TERM=dumb", (char *) "VSH_TEST=yes" };
        FrameHeader h;
        size_t n = 0;
        bool ok;

        while (argv[n])
                n++;
        memset(r, 0, sizeof(*r));
        req.container = (char *) "";
        req.user = (char *) "";
        req.cwd = (char *) (cwd ?: "");
        req.argv = argv;
        req.n_argv = n;
        req.env = env;
        req.n_env = ELEMENTSOF(env);
        req.tty = tty;
        req.window_rows = tty ? 33 : 0;
        req.window_cols = tty ? 77 : 0;
        assert_int_equal(
                wire_send_sync(
                        fd, BISTRO__MESSAGE_TYPE__SETUP_CONNECTION_REQUEST, FRAME_REQUEST, 7, &req.base,
                        5000),
                0);
        assert_int_equal(wire_recv_sync(fd, 30000, &h, &m), 0);
        assert_int_equal(h.type, BISTRO__MESSAGE_TYPE__SETUP_CONNECTION_RESPONSE);
        assert_int_equal(h.id, 7);
        resp = (const void *) m;
        ok = resp->status == BISTRO__VSH__CONNECTION_STATUS__CONNECTION_STATUS_READY;
        if (ok)
                assert_true(resp->pid > 0);
        else
                snprintf(r->error, sizeof(r->error), "%s", resp->error);
        message_free(m);
        return ok;
}

static void append(char **buf, size_t *n, const uint8_t *p, size_t len) {
        *buf = realloc(*buf, *n + len + 1);
        assert_non_null(*buf);
        memcpy(*buf + *n, p, len);
        *n += len;
        (*buf)[*n] = 0;
}

/* Reads output until the exit status; the session then closes. */
static void collect(int fd, Result *r) {
        for (;;) {
                ProtobufCMessage *m = NULL;
                const Bistro__Vsh__GuestMessage *g;
                FrameHeader h;

                assert_int_equal(wire_recv_sync(fd, 30000, &h, &m), 0);
                assert_int_equal(h.type, BISTRO__MESSAGE_TYPE__GUEST_MESSAGE);
                g = (const void *) m;
                if (g->msg_case == BISTRO__VSH__GUEST_MESSAGE__MSG_STATUS) {
                        if (g->status->result_case == BISTRO__VSH__EXIT_STATUS__RESULT_EXIT_CODE)
                                r->exit_code = (int) g->status->exit_code;
                        else {
                                r->exit_code = -1;
                                r->signal = (int) g->status->killed_by_signal;
                        }
                        message_free(m);
                        break;
                }
                assert_true(g->data->data.len <= PROTO_VSH_DATA_MAX);
                if (g->data->stream == BISTRO__VSH__STREAM__STREAM_STDERR)
                        append(&r->err, &r->n_err, g->data->data.data, g->data->data.len);
                else
                        append(&r->out, &r->n_out, g->data->data.data, g->data->data.len);
                message_free(m);
        }
        if (!r->out)
                append(&r->out, &r->n_out, (const uint8_t *) "", 0);
        if (!r->err)
                append(&r->err, &r->n_err, (const uint8_t *) "", 0);
}

static void finish(int fd, pid_t pid, Result *r) {
        int st;

        close(fd);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        free(r->out);
        free(r->err);
}

static void run(char **argv, bool tty, Result *r) {
        int fd;
        pid_t pid = start_session(&fd);

        assert_true(setup(fd, argv, tty, NULL, r));
        collect(fd, r);
        close(fd);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void test_exit_codes(void **state) {
        char *a0[] = { (char *) "/bin/sh", (char *) "-c", (char *) "echo out; echo err >&2; exit 42", NULL };
        char *a1[] = { (char *) "/bin/sh", (char *) "-c", (char *) "kill -9 $$", NULL };
        char *a2[] = { (char *) "true", NULL }; /* found through PATH */
        Result r;

        run(a0, false, &r);
        assert_int_equal(r.exit_code, 42);
        assert_string_equal(r.out, "out\n");
        assert_string_equal(r.err, "err\n");
        free(r.out), free(r.err);

        run(a1, false, &r);
        assert_int_equal(r.exit_code, -1);
        assert_int_equal(r.signal, 9);
        free(r.out), free(r.err);

        run(a2, false, &r);
        assert_int_equal(r.exit_code, 0);
        free(r.out), free(r.err);
}

static void test_environment(void **state) {
        char *a[] = { (char *) "/bin/sh", (char *) "-c", (char *) "echo $VSH_TEST $TERM $HOME; pwd", NULL };
        struct passwd *pw = getpwuid(getuid());
        char want[4200];
        Result r;

        run(a, false, &r);
        snprintf(want, sizeof(want), "yes dumb %s\n", pw->pw_dir);
        assert_true(strncmp(r.out, want, strlen(want)) == 0);
        free(r.out), free(r.err);
}

static void test_stdin_eof(void **state) {
        char *a[] = { (char *) "/bin/sh", (char *) "-c",
                      (char *) "while read l; do echo got $l; done; echo end", NULL };
        Result r;
        int fd;
        pid_t pid = start_session(&fd);

        assert_true(setup(fd, a, false, NULL, &r));
        send_stdin(fd, "a\nb\n", false);
        send_stdin(fd, NULL, true);
        collect(fd, &r);
        assert_string_equal(r.out, "got a\ngot b\nend\n");
        assert_int_equal(r.exit_code, 0);
        finish(fd, pid, &r);
}

static void test_signal(void **state) {
        char *a[] = { (char *) "/bin/sh", (char *) "-c", (char *) "echo ready; while :; do sleep 1; done",
                      NULL };
        Result r;
        int fd;
        pid_t pid = start_session(&fd);
        ProtobufCMessage *m = NULL;
        FrameHeader h;

        assert_true(setup(fd, a, false, NULL, &r));
        assert_int_equal(wire_recv_sync(fd, 30000, &h, &m), 0); /* "ready" */
        message_free(m);
        send_signal(fd, BISTRO__VSH__SIGNAL__SIGNAL_TERM);
        collect(fd, &r);
        assert_int_equal(r.signal, SIGTERM);
        finish(fd, pid, &r);
}

/* Reads output frames until it contains want (pty mode: all on stdout). */
static void wait_for(int fd, Result *r, const char *want) {
        while (!r->out || !strstr(r->out, want)) {
                ProtobufCMessage *m = NULL;
                const Bistro__Vsh__GuestMessage *g;
                FrameHeader h;

                assert_int_equal(wire_recv_sync(fd, 30000, &h, &m), 0);
                g = (const void *) m;
                assert_int_equal(g->msg_case, BISTRO__VSH__GUEST_MESSAGE__MSG_DATA);
                append(&r->out, &r->n_out, g->data->data.data, g->data->data.len);
                message_free(m);
        }
}

static void test_pty(void **state) {
        char *a[] = { (char *) "/bin/sh", (char *) "-c",
                      (char *) "stty size; read x; stty size; tty >/dev/null && echo tty", NULL };
        Result r;
        int fd;
        pid_t pid = start_session(&fd);

        assert_true(setup(fd, a, true, NULL, &r));
        /* The first size is the setup's, there before the process started. */
        wait_for(fd, &r, "33 77\r\n");
        send_resize(fd, 50, 120);
        send_stdin(fd, "go\n", false);
        collect(fd, &r);
        assert_non_null(strstr(r.out, "50 120\r\n"));
        assert_non_null(strstr(r.out, "tty\r\n"));
        assert_int_equal(r.exit_code, 0);
        finish(fd, pid, &r);
}

static void test_pty_eof(void **state) {
        char *a[] = { (char *) "/bin/sh", (char *) "-c", (char *) "cat; echo done", NULL };
        Result r;
        int fd;
        pid_t pid = start_session(&fd);

        assert_true(setup(fd, a, true, NULL, &r));
        send_stdin(fd, "x\n", false);
        send_stdin(fd, NULL, true); /* VEOF ends cat */
        collect(fd, &r);
        assert_non_null(strstr(r.out, "done"));
        assert_int_equal(r.exit_code, 0);
        finish(fd, pid, &r);
}

static void test_pty_ctrl_c(void **state) {
        char *a[] = { (char *) "/bin/sh", (char *) "-c", (char *) "echo ready; exec sleep 100", NULL };
        Result r;
        int fd;
        pid_t pid = start_session(&fd);

        assert_true(setup(fd, a, true, NULL, &r));
        wait_for(fd, &r, "ready");
        /* ^C through the pty interrupts the foreground job (sh and its sleep). */
        send_stdin(fd, "\003", false);
        collect(fd, &r);
        assert_int_equal(r.signal, SIGINT);
        finish(fd, pid, &r);
}

static void test_large_output(void **state) {
        char *a[] = { (char *) "/bin/sh", (char *) "-c",
                      (char *) "head -c 5000000 /dev/zero; head -c 100000 /dev/zero >&2", NULL };
        Result r;

        run(a, false, &r);
        assert_int_equal(r.n_out, 5000000);
        assert_int_equal(r.n_err, 100000);
        assert_int_equal(r.exit_code, 0);
        free(r.out), free(r.err);
}

static void test_failures(void **state) {
        char *a[] = { (char *) "/nonexistent/program", NULL };
        char *b[] = { (char *) "true", NULL };
        Result r;
        int fd;
        pid_t pid;

        pid = start_session(&fd);
        assert_false(setup(fd, a, false, NULL, &r));
        assert_non_null(strstr(r.error, "cannot execute /nonexistent/program"));
        finish(fd, pid, &r);

        pid = start_session(&fd);
        assert_false(setup(fd, b, false, "/nonexistent-dir", &r));
        assert_non_null(strstr(r.error, "cannot change directory to /nonexistent-dir"));
        finish(fd, pid, &r);
}

static void test_garbage_and_hangup(void **state) {
        int fd, st;
        pid_t pid;
        char *a[] = { (char *) "/bin/sh", (char *) "-c", (char *) "sleep 100", NULL };
        Result r;

        /* Not a frame: the session ends without a response. */
        pid = start_session(&fd);
        assert_int_equal(write(fd, "GET / HTTP/1.0\r\n\r\n\0\0\0\0\0\0", 24), 24);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
        close(fd);

        /* The client goes away: the session hangs its process up and ends. */
        pid = start_session(&fd);
        assert_true(setup(fd, a, false, NULL, &r));
        close(fd);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
}

static void test_lookup_user(void **state) {
        char path[] = "/tmp/test-vshd-passwd-XXXXXX", buf[1024];
        struct passwd pw;
        FILE *f;
        int fd = mkstemp(path);

        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        fputs("root:x:0:0:root:/root:/bin/bash\n"
              "daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
              "broken line\n"
              "alice:x:1000:1000:Alice:/home/alice:/bin/zsh\n",
              f);
        fclose(f);

        assert_int_equal(vshd_lookup_user(path, "", true, 0, &pw, buf, sizeof(buf)), 0);
        assert_string_equal(pw.pw_name, "alice");
        assert_string_equal(pw.pw_dir, "/home/alice");
        assert_string_equal(pw.pw_shell, "/bin/zsh");
        assert_int_equal(pw.pw_uid, 1000);
        assert_int_equal(vshd_lookup_user(path, "", false, 0, &pw, buf, sizeof(buf)), 0);
        assert_string_equal(pw.pw_name, "root");
        assert_int_equal(vshd_lookup_user(path, "daemon", true, 0, &pw, buf, sizeof(buf)), 0);
        assert_int_equal(pw.pw_uid, 1);
        assert_int_equal(vshd_lookup_user(path, "bob", true, 0, &pw, buf, sizeof(buf)), -ESRCH);
        assert_int_equal(vshd_lookup_user(path, "alice", true, 0, &pw, buf, 8), -ENAMETOOLONG);

        f = fopen(path, "w");
        fputs("root:x:0:0:root:/root:/bin/sh\n", f);
        fclose(f);
        assert_int_equal(vshd_lookup_user(path, "", true, 0, &pw, buf, sizeof(buf)), 0);
        assert_string_equal(pw.pw_name, "root");
        assert_int_equal(vshd_lookup_user(path, "", true, 5, &pw, buf, sizeof(buf)), -ESRCH);
        unlink(path);
        assert_int_equal(vshd_lookup_user(path, "", true, 0, &pw, buf, sizeof(buf)), -ENOENT);
}

static void test_data_frame_prefix(void **state) {
        static uint8_t data[PROTO_VSH_DATA_MAX];
        size_t sizes[] = { VSHD_DATA_FAST_MIN, 20000, PROTO_VSH_DATA_MAX - 1, PROTO_VSH_DATA_MAX };

        for (size_t i = 0; i < ELEMENTSOF(sizes); i++)
                for (uint32_t st = BISTRO__VSH__STREAM__STREAM_STDOUT;
                     st <= BISTRO__VSH__STREAM__STREAM_STDERR; st++) {
                        Bistro__Vsh__GuestMessage g = BISTRO__VSH__GUEST_MESSAGE__INIT;
                        Bistro__Vsh__DataMessage d = BISTRO__VSH__DATA_MESSAGE__INIT;
                        uint8_t prefix[VSHD_DATA_PREFIX], *f = NULL;
                        size_t n = 0;

                        d.stream = st;
                        d.data.data = data;
                        d.data.len = sizes[i];
                        g.msg_case = BISTRO__VSH__GUEST_MESSAGE__MSG_DATA;
                        g.data = &d;
                        assert_int_equal(
                                frame_encode(
                                        BISTRO__MESSAGE_TYPE__GUEST_MESSAGE, FRAME_EVENT, 0, &g.base, &f,
                                        &n),
                                0);
                        vshd_data_frame_prefix(prefix, st, sizes[i]);
                        assert_int_equal(n, VSHD_DATA_PREFIX + sizes[i]);
                        assert_memory_equal(f, prefix, VSHD_DATA_PREFIX);
                        free(f);
                }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exit_codes),  cmocka_unit_test(test_environment),
                cmocka_unit_test(test_stdin_eof),   cmocka_unit_test(test_signal),
                cmocka_unit_test(test_pty),         cmocka_unit_test(test_pty_eof),
                cmocka_unit_test(test_pty_ctrl_c),  cmocka_unit_test(test_large_output),
                cmocka_unit_test(test_failures),    cmocka_unit_test(test_garbage_and_hangup),
                cmocka_unit_test(test_lookup_user), cmocka_unit_test(test_data_frame_prefix),
        };

        /* Sessions are children of this process: ignore nothing, reap explicitly. */
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
