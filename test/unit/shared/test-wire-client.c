/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The blocking wire client against a fake maitred: a forked child on a socketpair that answers a
 * LaunchProcessRequest the way a hostile guest would. Run under ASan in CI (build-asan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "frame.h"
#include "macro.h"
#include "proto-validate.h"
#include "wire.h"

typedef enum Behaviour {
        ANSWER_RIGHT,       /* LaunchProcessResponse */
        ANSWER_WRONG_TYPE,  /* Empty, 0 bytes, to a LaunchProcess */
        ANSWER_EVENT_FLOOD, /* PROGRESS events every 5 ms, never a response */
        ANSWER_OVERSIZED,   /* a header announcing MESSAGE_SIZE_MAX + 1 bytes */
        ANSWER_OVER_TYPE_CAP,
        ANSWER_HOSTILE_ERRNO, /* ErrorReply with error INT_MIN, packed by hand */
        ANSWER_ERROR,         /* a well-formed ErrorReply -ENOSPC */
        ANSWER_OTHER_ID,
        ANSWER_REQUEST, /* the guest sends a request of its own instead */
        ANSWER_SILENCE,
} Behaviour;

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_raw(
        int fd, uint32_t type, uint32_t flags, uint64_t id, const ProtobufCMessage *m, uint32_t length) {
        uint8_t hdr[FRAME_HEADER_SIZE], payload[256];
        FrameHeader h = { .type = type, .flags = flags, .id = id, .length = length };
        size_t n = 0;

        if (m) {
                n = protobuf_c_message_get_packed_size(m);
                if (n > sizeof(payload))
                        _exit(10);
                (void) protobuf_c_message_pack(m, payload);
                h.length = (uint32_t) n;
        }
        frame_header_pack(&h, hdr);
        if (loop_write(fd, hdr, sizeof(hdr)) < 0 || (n > 0 && loop_write(fd, payload, n) < 0))
                _exit(11);
}

static _noreturn_ void fake_maitred(int fd, Behaviour b) {
        _cleanup_message_ ProtobufCMessage *msg = NULL;
        FrameHeader h;

        (void) signal(SIGPIPE, SIG_IGN);
        if (wire_recv_sync(fd, 5000, &h, &msg) < 0 ||
            h.type != BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_REQUEST || h.flags != FRAME_REQUEST)
                _exit(20);

        switch (b) {
        case ANSWER_RIGHT: {
                Bistro__Maitred__LaunchProcessResponse r = BISTRO__MAITRED__LAUNCH_PROCESS_RESPONSE__INIT;

                r.pid = 42;
                r.status = BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_EXITED;
                r.code = 7;
                if (wire_send_sync(
                            fd, BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_RESPONSE, FRAME_RESPONSE, h.id, &r.base,
                            1000) < 0)
                        _exit(21);
                break;
        }
        case ANSWER_WRONG_TYPE: {
                Bistro__Empty e = BISTRO__EMPTY__INIT;

                if (wire_send_sync(fd, BISTRO__MESSAGE_TYPE__EMPTY, FRAME_RESPONSE, h.id, &e.base, 1000) < 0)
                        _exit(21);
                break;
        }
        case ANSWER_EVENT_FLOOD:
                for (;;) {
                        Bistro__Concierge__Progress p = BISTRO__CONCIERGE__PROGRESS__INIT;

                        p.operation = BISTRO__CONCIERGE__OPERATION__OPERATION_EXPORT_VM;
                        p.stage = (char *) "still working";
                        if (wire_send_sync(
                                    fd, BISTRO__MESSAGE_TYPE__PROGRESS, FRAME_EVENT, h.id, &p.base, 1000) <
                            0)
                                _exit(0); /* the client gave up and closed */
                        (void) usleep(5000);
                }
        case ANSWER_OVERSIZED:
                send_raw(
                        fd, BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_RESPONSE, FRAME_RESPONSE, h.id, NULL,
                        MESSAGE_SIZE_MAX + 1);
                break;
        case ANSWER_OVER_TYPE_CAP: {
                const MessageTypeInfo *info =
                        message_type_lookup(BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_RESPONSE);

                send_raw(fd, info->type, FRAME_RESPONSE, h.id, NULL, info->max_size + 1);
                break;
        }
        case ANSWER_HOSTILE_ERRNO: {
                Bistro__ErrorReply e = BISTRO__ERROR_REPLY__INIT;

                e.error = INT_MIN;
                e.message = (char *) "pwned";
                send_raw(fd, BISTRO__MESSAGE_TYPE__ERROR_REPLY, FRAME_RESPONSE, h.id, &e.base, 0);
                break;
        }
        case ANSWER_ERROR: {
                Bistro__ErrorReply e = BISTRO__ERROR_REPLY__INIT;

                e.error = -ENOSPC;
                e.message = (char *) "disk full";
                if (wire_send_sync(
                            fd, BISTRO__MESSAGE_TYPE__ERROR_REPLY, FRAME_RESPONSE, h.id, &e.base, 1000) < 0)
                        _exit(21);
                break;
        }
        case ANSWER_OTHER_ID: {
                Bistro__Maitred__LaunchProcessResponse r = BISTRO__MAITRED__LAUNCH_PROCESS_RESPONSE__INIT;

                r.pid = 42;
                r.status = BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_LAUNCHED;
                if (wire_send_sync(
                            fd, BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_RESPONSE, FRAME_RESPONSE, h.id + 1,
                            &r.base, 1000) < 0)
                        _exit(21);
                break;
        }
        case ANSWER_REQUEST: {
                Bistro__Maitred__ShutdownRequest s = BISTRO__MAITRED__SHUTDOWN_REQUEST__INIT;

                if (wire_send_sync(
                            fd, BISTRO__MESSAGE_TYPE__SHUTDOWN_REQUEST, FRAME_REQUEST, h.id, &s.base, 1000) <
                    0)
                        _exit(21);
                break;
        }
        case ANSWER_SILENCE:
                break;
        }
        /* Wait for the client to close, so it never sees an EOF it did not cause. */
        {
                char c;

                while (read(fd, &c, 1) > 0)
                        ;
        }
        _exit(0);
}

typedef struct Result {
        int r;
        uint32_t type;
        ProtobufCMessage *msg;
        int64_t elapsed_ms;
} Result;

static Result call(Behaviour b, int timeout_ms, int idle_ms) {
        Bistro__Maitred__LaunchProcessRequest lp = BISTRO__MAITRED__LAUNCH_PROCESS_REQUEST__INIT;
        char *argv[] = { (char *) "/bin/true", NULL };
        Result res = {};
        int fds[2], status;
        int64_t start;
        pid_t pid;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                safe_close(fds[0]);
                fake_maitred(fds[1], b);
        }
        safe_close(fds[1]);
        lp.argv = argv;
        lp.n_argv = 1;
        lp.wait_for_exit = true;
        start = now_ms();
        res.r = wire_call_sync_full(
                fds[0], BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_REQUEST, &lp.base,
                message_response_type(BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_REQUEST), timeout_ms, idle_ms,
                NULL, NULL, &res.type, &res.msg);
        res.elapsed_ms = now_ms() - start;
        safe_close(fds[0]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        return res;
}

static void test_right_type(void **state) {
        Result res = call(ANSWER_RIGHT, 5000, 0);

        assert_int_equal(res.r, 0);
        assert_int_equal(res.type, BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_RESPONSE);
        assert_int_equal(((Bistro__Maitred__LaunchProcessResponse *) res.msg)->code, 7);
        message_free(res.msg);
}

static void test_wrong_type(void **state) {
        Result res = call(ANSWER_WRONG_TYPE, 5000, 0);
        const char *m;

        /* Never the 0-byte Empty cast to a LaunchProcessResponse: a local error that says so. */
        assert_int_equal(res.r, -EBADMSG);
        assert_int_equal(res.type, BISTRO__MESSAGE_TYPE__ERROR_REPLY);
        m = wire_error_message(res.msg);
        assert_non_null(m);
        assert_non_null(
                strstr(m, "LAUNCH_PROCESS_REQUEST answered with EMPTY instead of LAUNCH_PROCESS_RESPONSE"));
        assert_int_equal(message_validate(BISTRO__MESSAGE_TYPE__ERROR_REPLY, res.msg), 0);
        message_free(res.msg);
}

static void test_event_flood(void **state) {
        /* 5 ms apart: 60 events within the 300 ms, each of which used to restart the timeout. */
        Result res = call(ANSWER_EVENT_FLOOD, 300, 0);

        assert_int_equal(res.r, -ETIMEDOUT);
        assert_null(res.msg);
        assert_true(res.elapsed_ms >= 300);
        assert_true(res.elapsed_ms < 1500);

        /* A silence bound does not help a flood either: the total deadline still holds. */
        res = call(ANSWER_EVENT_FLOOD, 300, 100);
        assert_int_equal(res.r, -ETIMEDOUT);
        assert_true(res.elapsed_ms >= 300);
        assert_true(res.elapsed_ms < 1500);
}

static void test_silence(void **state) {
        Result res = call(ANSWER_SILENCE, 200, 0);

        assert_int_equal(res.r, -ETIMEDOUT);
        assert_true(res.elapsed_ms >= 200 && res.elapsed_ms < 1500);

        /* No total deadline, but the silence bound. */
        res = call(ANSWER_SILENCE, -1, 150);
        assert_int_equal(res.r, -ETIMEDOUT);
        assert_true(res.elapsed_ms >= 150 && res.elapsed_ms < 1500);
}

static void test_oversized(void **state) {
        Result res = call(ANSWER_OVERSIZED, 5000, 0);

        /* Refused from the header, before allocating anything. */
        assert_int_equal(res.r, -EMSGSIZE);
        assert_null(res.msg);
        res = call(ANSWER_OVER_TYPE_CAP, 5000, 0);
        assert_int_equal(res.r, -EMSGSIZE);
        assert_null(res.msg);
}

static void test_hostile_errno(void **state) {
        Result res = call(ANSWER_HOSTILE_ERRNO, 5000, 0);

        /* INT_MIN never becomes the call's result: the ErrorReply itself is invalid. */
        assert_int_equal(res.r, -EBADMSG);
        assert_null(res.msg);

        res = call(ANSWER_ERROR, 5000, 0);
        assert_int_equal(res.r, -ENOSPC);
        assert_int_equal(res.type, BISTRO__MESSAGE_TYPE__ERROR_REPLY);
        assert_string_equal(wire_error_message(res.msg), "disk full");
        message_free(res.msg);
}

static void test_other_id_and_request(void **state) {
        Result res = call(ANSWER_OTHER_ID, 5000, 0);

        assert_int_equal(res.r, -EBADMSG);
        assert_non_null(
                strstr(wire_error_message(res.msg), "expected the response to LAUNCH_PROCESS_REQUEST"));
        message_free(res.msg);
        res = call(ANSWER_REQUEST, 5000, 0);
        assert_int_equal(res.r, -EBADMSG);
        assert_non_null(strstr(wire_error_message(res.msg), "a request SHUTDOWN_REQUEST"));
        message_free(res.msg);
}

static void test_bad_arguments(void **state) {
        Bistro__Maitred__ShutdownRequest s = BISTRO__MAITRED__SHUTDOWN_REQUEST__INIT;
        ProtobufCMessage *m = NULL;
        uint32_t type = 0;

        assert_int_equal(
                wire_call_sync(0, BISTRO__MESSAGE_TYPE__SHUTDOWN_REQUEST, &s.base, 0, 100, &type, &m),
                -EINVAL);
        assert_int_equal(
                wire_call_sync(
                        0, BISTRO__MESSAGE_TYPE__SHUTDOWN_REQUEST, &s.base,
                        BISTRO__MESSAGE_TYPE__ERROR_REPLY, 100, &type, &m),
                -EINVAL);
}

static void test_error_reply_to_errno(void **state) {
        static const struct {
                int in, out;
        } cases[] = {
                { INT_MIN, -EIO },
                { -WIRE_ERRNO_MAX - 1, -EIO },
                { -WIRE_ERRNO_MAX, -WIRE_ERRNO_MAX },
                { -ENOENT, -ENOENT },
                { -1, -1 },
                { 0, -EIO },
                { 1, -EIO },
                { INT_MAX, -EIO },
        };
        Bistro__ErrorReply e = BISTRO__ERROR_REPLY__INIT;
        Bistro__Empty empty = BISTRO__EMPTY__INIT;
        char *m = NULL;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                e.error = cases[i].in;
                e.message = (char *) "boom";
                assert_int_equal(wire_error_reply_to_errno(&e, &m), cases[i].out);
                assert_string_equal(m, "boom");
                free(m);
                m = NULL;
                assert_int_equal(wire_error_reply_to_errno(&e, NULL), cases[i].out);
        }

        /* The message is validated text: C1 controls (here CSI, U+009B), C0, invalid UTF-8. */
        e.error = -EPERM;
        e.message = (char *) "a\xC2\x9B"
                             "31mb\x1B[0m\xFF";
        assert_int_equal(wire_error_reply_to_errno(&e, &m), -EPERM);
        assert_true(proto_text_ok(m, PROTO_ERROR_MESSAGE_MAX, true));
        free(m);
        m = NULL;
        e.message = (char *) "caf\xC3\xA9 \xC2\x9D"
                             "52;c;x\x07";
        assert_int_equal(wire_error_reply_to_errno(&e, &m), -EPERM);
        assert_string_equal(m, "caf\xC3\xA9 ?52;c;x?");
        free(m);
        m = NULL;

        /* Empty message: strerror(). */
        e.message = (char *) "";
        assert_int_equal(wire_error_reply_to_errno(&e, &m), -EPERM);
        assert_string_equal(m, strerror(EPERM));
        free(m);
        m = NULL;

        /* Not an ErrorReply at all. */
        assert_int_equal(wire_error_reply_to_errno(NULL, &m), -EIO);
        assert_null(m);
        assert_int_equal(wire_error_reply_to_errno((const Bistro__ErrorReply *) (void *) &empty, &m), -EIO);
        assert_null(m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_right_type),
                cmocka_unit_test(test_wrong_type),
                cmocka_unit_test(test_event_flood),
                cmocka_unit_test(test_silence),
                cmocka_unit_test(test_oversized),
                cmocka_unit_test(test_hostile_errno),
                cmocka_unit_test(test_other_id_and_request),
                cmocka_unit_test(test_bad_arguments),
                cmocka_unit_test(test_error_reply_to_errno),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
