/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* concierge-client: the socket path and its checks, the spawn lock, and calls against a fake concierge
 * (a child on a real unix socket that answers with PROGRESS events, a response or an ErrorReply). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "common.pb-c.h"
#include "concierge-client.h"
#include "fd-util.h"
#include "frame.h"
#include "macro.h"
#include "message-type.h"
#include "rm-rf.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "wire.h"

static char tmpdir[] = "/tmp/test-concierge-client-XXXXXX";

static int setup(void **state) {
        assert_non_null(mkdtemp(tmpdir));
        assert_int_equal(setenv("XDG_RUNTIME_DIR", tmpdir, 1), 0);
        return 0;
}

static int teardown(void **state) {
        (void) rm_rf(tmpdir);
        return 0;
}

static void test_socket_path(void **state) {
        _cleanup_free_ char *p = NULL, *expect = NULL;

        assert_int_equal(concierge_socket_path(&p), 0);
        assert_true(asprintf(&expect, "%s/bistro/concierge.sock", tmpdir) > 0);
        assert_string_equal(p, expect);
}

static void test_socket_path_errors(void **state) {
        _cleanup_free_ char *p = NULL, *msg = NULL, *dir = NULL;

        assert_int_equal(unsetenv("XDG_RUNTIME_DIR"), 0);
        assert_int_equal(concierge_socket_path(&p), -EINVAL);
        assert_int_equal(concierge_connect(NULL, NULL, NULL, &msg), -EINVAL);
        assert_non_null(msg);
        assert_non_null(strstr(msg, "XDG_RUNTIME_DIR is not set"));
        free(msg);
        msg = NULL;

        assert_int_equal(setenv("XDG_RUNTIME_DIR", "relative/dir", 1), 0);
        assert_int_equal(concierge_socket_path(&p), -EINVAL);

        /* A runtime dir that others may read is refused: the socket would be theirs to use. */
        assert_int_equal(setenv("XDG_RUNTIME_DIR", tmpdir, 1), 0);
        assert_true(asprintf(&dir, "%s/bistro", tmpdir) > 0);
        (void) mkdir(dir, 0700);
        assert_int_equal(chmod(dir, 0755), 0);
        assert_int_equal(concierge_socket_path(&p), -EPERM);
        assert_int_equal(concierge_connect(NULL, NULL, NULL, &msg), -EPERM);
        assert_non_null(msg);
        assert_non_null(strstr(msg, "mode 0700"));
        /* Exactly 0700 is fine. */
        assert_int_equal(chmod(dir, 0700), 0);
        assert_int_equal(concierge_socket_path(&p), 0);
}

static void test_socket_path_symlink(void **state) {
        _cleanup_free_ char *dir = NULL, *real = NULL, *p = NULL;

        assert_true(asprintf(&dir, "%s/bistro", tmpdir) > 0);
        assert_true(asprintf(&real, "%s/elsewhere", tmpdir) > 0);
        (void) rm_rf(dir);
        assert_int_equal(mkdir(real, 0700), 0);
        assert_int_equal(symlink(real, dir), 0);
        assert_int_equal(concierge_socket_path(&p), -EPERM);
        assert_int_equal(unlink(dir), 0);
        assert_int_equal(mkdir(dir, 0700), 0);
}

static void test_spawn_lock(void **state) {
        _cleanup_close_ int a = -EBADF, b = -EBADF;
        usec_t t0;

        a = concierge_lock_spawn(USEC_PER_SEC);
        assert_true(a >= 0);
        /* A second holder (another open file description) waits, then gives up. */
        t0 = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(concierge_lock_spawn(100 * USEC_PER_MSEC), -ETIMEDOUT);
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 >= 100 * USEC_PER_MSEC);
        a = safe_close(a);
        b = concierge_lock_spawn(USEC_PER_SEC);
        assert_true(b >= 0);
}

static void test_no_binary(void **state) {
        _cleanup_free_ char *msg = NULL;

        assert_int_equal(setenv("BISTRO_CONCIERGE", "/nonexistent/concierge", 1), 0);
        assert_int_equal(concierge_connect(NULL, NULL, NULL, &msg), -ENOENT);
        assert_non_null(msg);
        assert_non_null(strstr(msg, "Cannot find concierge"));
        assert_int_equal(unsetenv("BISTRO_CONCIERGE"), 0);
}

typedef enum FakeMode {
        FAKE_PROGRESS_THEN_LIST, /* two PROGRESS events, then ListVmsResponse */
        FAKE_ERROR,              /* ErrorReply -EEXIST "it exists" */
        FAKE_CLOSE,              /* closes without an answer */
} FakeMode;

/* The fake concierge: a child listening on the real socket path, serving one connection. */
static pid_t fake_concierge(FakeMode mode) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int l = -EBADF;
        pid_t pid;
        int r;

        assert_int_equal(concierge_socket_path(&path), 0);
        (void) unlink(path);
        l = unix_listen(path, 4, 0600);
        assert_true(l >= 0);
        r = safe_fork_full("fake-concierge", FORK_DEATHSIG | FORK_CLOSE_ALL_FDS, &l, 1, &pid);
        assert_true(r >= 0);
        if (r == 0) {
                _cleanup_message_ ProtobufCMessage *req = NULL;
                FrameHeader h;
                int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);

                if (c < 0 || wire_recv_sync(c, 5000, &h, &req) < 0)
                        _exit(1);
                if (h.type != BISTRO__MESSAGE_TYPE__LIST_VMS_REQUEST)
                        _exit(2);
                if (mode == FAKE_PROGRESS_THEN_LIST) {
                        Bistro__Concierge__Progress p = BISTRO__CONCIERGE__PROGRESS__INIT;
                        Bistro__Concierge__ListVmsResponse resp = BISTRO__CONCIERGE__LIST_VMS_RESPONSE__INIT;

                        p.operation = BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM;
                        p.stage = (char *) "booting";
                        p.done = 1;
                        p.total = 2;
                        if (wire_send_sync(
                                    c, BISTRO__MESSAGE_TYPE__PROGRESS, FRAME_EVENT, h.id, &p.base, 5000) < 0)
                                _exit(3);
                        p.done = 2;
                        if (wire_send_sync(
                                    c, BISTRO__MESSAGE_TYPE__PROGRESS, FRAME_EVENT, h.id, &p.base, 5000) < 0)
                                _exit(3);
                        if (wire_send_sync(
                                    c, BISTRO__MESSAGE_TYPE__LIST_VMS_RESPONSE, FRAME_RESPONSE, h.id,
                                    &resp.base, 5000) < 0)
                                _exit(4);
                } else if (mode == FAKE_ERROR) {
                        Bistro__ErrorReply e = BISTRO__ERROR_REPLY__INIT;

                        e.error = -EEXIST;
                        e.message = (char *) "it exists";
                        if (wire_send_sync(
                                    c, BISTRO__MESSAGE_TYPE__ERROR_REPLY, FRAME_RESPONSE, h.id, &e.base,
                                    5000) < 0)
                                _exit(4);
                }
                (void) close(c);
                _exit(0);
        }
        return pid;
}

static int count_progress(const Bistro__Concierge__Progress *p, void *userdata) {
        int *n = userdata;

        assert_string_equal(p->stage, "booting");
        assert_true(p->done == (uint64_t) *n + 1);
        (*n)++;
        return 0;
}

static void call_fake(FakeMode mode, int expect, const char *expect_msg, int expect_events) {
        Bistro__Concierge__ListVmsRequest req = BISTRO__CONCIERGE__LIST_VMS_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_free_ char *msg = NULL;
        _cleanup_close_ int fd = -EBADF;
        pid_t pid = fake_concierge(mode);
        int n = 0;

        /* Something listens: no concierge is started (BISTRO_CONCIERGE would fail if it were). */
        assert_int_equal(setenv("BISTRO_CONCIERGE", "/nonexistent/concierge", 1), 0);
        fd = concierge_connect(NULL, NULL, NULL, &msg);
        assert_true(fd >= 0);
        assert_null(msg);
        assert_int_equal(
                concierge_call(
                        fd, BISTRO__MESSAGE_TYPE__LIST_VMS_REQUEST, &req.base, 5000, count_progress, &n,
                        &resp, &msg),
                expect);
        assert_int_equal(n, expect_events);
        if (expect_msg)
                assert_string_equal(msg, expect_msg);
        else
                assert_null(msg);
        assert_true((expect == 0) == (resp != NULL));
        assert_int_equal(wait_for_terminate(pid), 0);
        assert_int_equal(unsetenv("BISTRO_CONCIERGE"), 0);
}

static void test_call_progress_and_response(void **state) {
        call_fake(FAKE_PROGRESS_THEN_LIST, 0, NULL, 2);
}

static void test_call_error_reply(void **state) {
        call_fake(FAKE_ERROR, -EEXIST, "it exists", 0);
}

static void test_call_closed(void **state) {
        call_fake(FAKE_CLOSE, -ECONNRESET, NULL, 0);
}

static void test_state_words(void **state) {
        assert_string_equal(
                concierge_vm_state_to_string(BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING), "running");
        assert_string_equal(concierge_vm_state_to_string(5), "failed");
        assert_string_equal(concierge_vm_state_to_string(6), "unknown");
        assert_string_equal(concierge_vm_state_to_string(-1), "unknown");
        assert_string_equal(concierge_container_state_to_string(1), "stopped");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_socket_path),
                cmocka_unit_test(test_socket_path_errors),
                cmocka_unit_test(test_socket_path_symlink),
                cmocka_unit_test(test_spawn_lock),
                cmocka_unit_test(test_no_binary),
                cmocka_unit_test(test_call_progress_and_response),
                cmocka_unit_test(test_call_error_reply),
                cmocka_unit_test(test_call_closed),
                cmocka_unit_test(test_state_words),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
