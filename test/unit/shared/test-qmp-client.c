/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QMP parser and blocking client, against a fake QMP server: a forked child on a socketpair
 * that reads each command (and checks it is the JSON we mean) and answers from a script. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "proto-validate.h"
#include "qmp-client.h"
#include "string-util.h"

#define GREETING                                                                                       \
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": " \
        "\"Debian 1:7.2+dfsg-7\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define EVENT                                                                                         \
        "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1}, \"event\": \"RTC_CHANGE\", " \
        "\"data\": {\"offset\": 0, \"qom-path\": \"/machine/unattached/device[8]\"}}\r\n"

static int64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads one command line and checks it executes `command` with the id the client must use. */
static void expect_command(int fd, const char *command, uint64_t id) {
        char line[4096];
        size_t n = 0;
        json_object *o = NULL, *v;

        for (;;) {
                if (n + 1 >= sizeof(line) || read(fd, line + n, 1) != 1)
                        _exit(30);
                if (line[n++] == '\n')
                        break;
        }
        if (qmp_json_parse(line, n, &o) < 0)
                _exit(31);
        if (!json_object_object_get_ex(o, "execute", &v) || !streq(json_object_get_string(v), command))
                _exit(32);
        if (!json_object_object_get_ex(o, "id", &v) || json_object_get_uint64(v) != id)
                _exit(33);
        if (streq(command, "block_resize") &&
            (!json_object_object_get_ex(o, "arguments", &v) || !json_object_object_get_ex(v, "size", &v) ||
             json_object_get_int64(v) != 1073741824))
                _exit(34);
        json_object_put(o);
}

static void say(int fd, const char *s) {
        if (loop_write(fd, s, strlen(s)) < 0)
                _exit(0); /* the client went away: fine for the flood */
}

typedef void (*Script)(int fd);

static void serve_greeting(int fd) {
        say(fd, GREETING);
        expect_command(fd, "qmp_capabilities", 1);
        say(fd, "{\"return\": {}, \"id\": 1}\r\n");
}

static void script_ok(int fd) {
        serve_greeting(fd);
        expect_command(fd, "query-status", 2);
        say(fd, EVENT EVENT "{\"event\": \"STOP\"}\n");
        say(fd, "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": 2}\r\n");
        expect_command(fd, "block_resize", 3);
        say(fd, "{\"return\": {}, \"id\": 3}\r\n");
}

static void script_errors(int fd) {
        serve_greeting(fd);
        expect_command(fd, "device_del", 2);
        say(fd,
            "{\"id\": 2, \"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'x' not found\"}}\n");
        expect_command(fd, "nope", 3);
        say(fd,
            "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nope has not been found\"}, "
            "\"id\": 3}\n");
        expect_command(fd, "query-status", 4);
        /* An unknown class, and a description with C1 (OSC, U+009D) and C0 controls. */
        say(fd,
            "{\"error\": {\"class\": \"Whatever\", \"desc\": \"\\u009d52;c;AAAA\\u0007 and \\u001b[2J\"}, "
            "\"id\": 4}\n");
}

static void script_no_greeting(int fd) {
        say(fd, "{\"return\": {}}\n");
}

static void script_flood(int fd) {
        serve_greeting(fd);
        expect_command(fd, "query-status", 2);
        for (;;) {
                say(fd, EVENT);
                (void) usleep(5000);
        }
}

static void script_silence(int fd) {
        serve_greeting(fd);
        expect_command(fd, "query-status", 2);
}

/* A return line of exactly QMP_LINE_MAX bytes, then one of QMP_LINE_MAX + 1. */
static void send_padded_return(int fd, uint64_t id, size_t total) {
        char head[64];
        char *line;
        int n;

        n = snprintf(head, sizeof(head), "{\"return\": {}, \"id\": %" PRIu64 "}", id);
        line = malloc(total + 1);
        if (!line)
                _exit(40);
        memcpy(line, head, (size_t) n);
        memset(line + n, ' ', total - (size_t) n);
        line[total] = '\n';
        if (loop_write(fd, line, total + 1) < 0)
                _exit(41);
        free(line);
}

static void script_long_lines(int fd) {
        serve_greeting(fd);
        expect_command(fd, "query-status", 2);
        send_padded_return(fd, 2, QMP_LINE_MAX);
        expect_command(fd, "query-status", 3);
        send_padded_return(fd, 3, QMP_LINE_MAX + 1);
}

static void script_bad_bytes(int fd) {
        serve_greeting(fd);
        expect_command(fd, "query-status", 2);
        say(fd, "{\"return\": {\"s\": \"\xC3\x28\"}, \"id\": 2}\n");
}

static void script_nul(int fd) {
        static const char line[] = "{\"return\": {}, \"id\": 2}\0\n";

        serve_greeting(fd);
        expect_command(fd, "query-status", 2);
        if (loop_write(fd, line, sizeof(line) - 1) < 0)
                _exit(41);
}

static void script_other_id(int fd) {
        serve_greeting(fd);
        expect_command(fd, "query-status", 2);
        say(fd, "{\"return\": {}, \"id\": 7}\n");
}

static void script_eof(int fd) {
        serve_greeting(fd);
        expect_command(fd, "query-status", 2);
        say(fd, "{\"return\": {}, \"id\"");
        _exit(0);
}

static pid_t start_server(Script script, int *ret_fd) {
        int fds[2];
        pid_t pid;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char c;

                (void) signal(SIGPIPE, SIG_IGN);
                safe_close(fds[0]);
                script(fds[1]);
                while (read(fds[1], &c, 1) > 0)
                        ;
                _exit(0);
        }
        safe_close(fds[1]);
        *ret_fd = fds[0];
        return pid;
}

static void finish_server(pid_t pid) {
        int status;

        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_session(void **state) {
        static char untouched[] = "untouched";
        QmpClient *c = NULL;
        json_object *ret = NULL, *v, *args;
        char *msg = untouched;
        int fd;
        pid_t pid = start_server(script_ok, &fd);

        assert_int_equal(qmp_client_new(fd, 5000, &c), 0);
        /* Three events come before the return: skipped. */
        assert_int_equal(qmp_client_execute(c, "query-status", NULL, 5000, &ret, NULL), 0);
        assert_true(json_object_object_get_ex(ret, "status", &v));
        assert_string_equal(json_object_get_string(v), "running");
        json_object_put(ret);

        args = json_object_new_object();
        json_object_object_add(args, "device", json_object_new_string("stateful"));
        json_object_object_add(args, "size", json_object_new_int64(1073741824));
        /* *reterr_message is set only for a QMP error: left alone on success. */
        assert_int_equal(qmp_client_execute(c, "block_resize", args, 5000, NULL, &msg), 0);
        assert_ptr_equal(msg, untouched);
        json_object_put(args);

        /* Arguments must be an object (no message either). */
        args = json_object_new_array();
        assert_int_equal(qmp_client_execute(c, "block_resize", args, 5000, NULL, &msg), -EINVAL);
        assert_ptr_equal(msg, untouched);
        json_object_put(args);
        qmp_client_free(c);
        finish_server(pid);
}

static void test_error_classes(void **state) {
        QmpClient *c = NULL;
        char *err = NULL;
        int fd;
        pid_t pid = start_server(script_errors, &fd);

        assert_int_equal(qmp_client_new(fd, 5000, &c), 0);
        assert_int_equal(qmp_client_execute(c, "device_del", NULL, 5000, NULL, &err), -ENODEV);
        assert_string_equal(err, "DeviceNotFound: Device 'x' not found");
        /* *reterr_message is replaced (the old one freed), as set_error_message() does. */
        assert_int_equal(qmp_client_execute(c, "nope", NULL, 5000, NULL, &err), -EOPNOTSUPP);
        assert_string_equal(err, "CommandNotFound: The command nope has not been found");
        free(err);
        err = NULL;
        assert_int_equal(qmp_client_execute(c, "query-status", NULL, 5000, NULL, &err), -EIO);
        assert_true(proto_text_ok(err, PROTO_ERROR_MESSAGE_MAX, true));
        assert_string_equal(err, "Whatever: ?52;c;AAAA? and ?[2J");
        free(err);
        qmp_client_free(c);
        finish_server(pid);

        assert_int_equal(qmp_error_class_to_errno("GenericError"), -EIO);
        assert_int_equal(qmp_error_class_to_errno("DeviceNotActive"), -ENODEV);
        assert_int_equal(qmp_error_class_to_errno("KVMMissingCap"), -EOPNOTSUPP);
        assert_int_equal(qmp_error_class_to_errno(NULL), -EIO);
}

static void test_no_greeting(void **state) {
        QmpClient *c = NULL;
        int fd;
        pid_t pid = start_server(script_no_greeting, &fd);

        assert_int_equal(qmp_client_new(fd, 5000, &c), -EBADMSG);
        assert_null(c);
        finish_server(pid);
}

static void test_timeout(void **state) {
        QmpClient *c = NULL;
        int64_t start;
        int fd;
        pid_t pid = start_server(script_flood, &fd);

        /* Events every 5 ms never extend the deadline. */
        assert_int_equal(qmp_client_new(fd, 5000, &c), 0);
        start = now_ms();
        assert_int_equal(qmp_client_execute(c, "query-status", NULL, 300, NULL, NULL), -ETIMEDOUT);
        assert_true(now_ms() - start >= 300 && now_ms() - start < 1500);
        qmp_client_free(c);
        finish_server(pid);

        pid = start_server(script_silence, &fd);
        assert_int_equal(qmp_client_new(fd, 5000, &c), 0);
        start = now_ms();
        assert_int_equal(qmp_client_execute(c, "query-status", NULL, 200, NULL, NULL), -ETIMEDOUT);
        assert_true(now_ms() - start >= 200 && now_ms() - start < 1500);
        qmp_client_free(c);
        finish_server(pid);
}

static void test_line_limit(void **state) {
        QmpClient *c = NULL;
        int fd;
        pid_t pid = start_server(script_long_lines, &fd);

        assert_int_equal(qmp_client_new(fd, 5000, &c), 0);
        assert_int_equal(qmp_client_execute(c, "query-status", NULL, 5000, NULL, NULL), 0);
        assert_int_equal(qmp_client_execute(c, "query-status", NULL, 5000, NULL, NULL), -EMSGSIZE);
        qmp_client_free(c);
        finish_server(pid);
}

static void run_failing(Script script, int expected) {
        QmpClient *c = NULL;
        int fd;
        pid_t pid = start_server(script, &fd);

        assert_int_equal(qmp_client_new(fd, 5000, &c), 0);
        assert_int_equal(qmp_client_execute(c, "query-status", NULL, 5000, NULL, NULL), expected);
        qmp_client_free(c);
        finish_server(pid);
}

static void test_hostile_lines(void **state) {
        run_failing(script_bad_bytes, -EBADMSG);
        run_failing(script_nul, -EBADMSG);
        run_failing(script_other_id, -EBADMSG);
        run_failing(script_eof, -ECONNRESET);
}

static void test_parse(void **state) {
        static const char *const bad[] = {
                "",
                "[]",
                "\"QMP\"",
                "{\"QMP\": 1}",
                "{\"return\": {}} {\"return\": {}}",
                "{\"return\": {}",
                "{\"return\": {},}",
                "{\"event\": 5}",
                "{\"event\": \"\"}",
                "{\"event\": \"a b\"}",
                "{\"event\": \"X\\u0000Y\"}",
                "{\"event\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", /* 65
                                                                                                       */
                "{\"event\": \"STOP\", \"data\": 1}",
                "{\"error\": {\"class\": \"GenericError\"}}",
                "{\"error\": {\"desc\": \"x\"}}",
                "{\"error\": \"x\"}",
                "{\"error\": {\"class\": 1, \"desc\": \"x\"}}",
                "{\"something\": {}}",
                "{\"return\": \"\xC0\xAF\"}",
        };
        QmpMessage m;
        char deep[200];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (qmp_message_parse(bad[i], strlen(bad[i]), &m) >= 0)
                        fail_msg("accepted: %s", bad[i]);
        }

        assert_int_equal(qmp_message_parse(GREETING, strlen(GREETING), &m), 0);
        assert_int_equal(m.kind, QMP_KIND_GREETING);
        qmp_message_done(&m);
        assert_int_equal(qmp_message_parse(EVENT, strlen(EVENT), &m), 0);
        assert_int_equal(m.kind, QMP_KIND_EVENT);
        assert_string_equal(m.name, "RTC_CHANGE");
        assert_non_null(m.value);
        qmp_message_done(&m);
        /* 64 bytes: the limit. */
        {
                const char *s =
                        "{\"event\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}";

                assert_int_equal(qmp_message_parse(s, strlen(s), &m), 0);
                assert_int_equal(strlen(m.name), QMP_NAME_MAX);
                qmp_message_done(&m);
        }
        {
                const char *s = "{\"return\": 18446744073709551616999, \"id\": -1}";

                assert_int_equal(qmp_message_parse(s, strlen(s), &m), 0);
                assert_int_equal(m.kind, QMP_KIND_RETURN);
                qmp_message_done(&m);
        }

        /* Nesting: JSON_DEPTH_MAX levels parse, one more does not. */
        for (int depth = JSON_DEPTH_MAX; depth <= JSON_DEPTH_MAX + 1; depth++) {
                json_object *o = NULL;
                size_t n = 0;

                for (int i = 0; i < depth - 1; i++)
                        n += (size_t) snprintf(deep + n, sizeof(deep) - n, "{\"a\":");
                n += (size_t) snprintf(deep + n, sizeof(deep) - n, "{}");
                for (int i = 0; i < depth - 1; i++)
                        deep[n++] = '}';
                deep[n] = 0;
                assert_int_equal(qmp_json_parse(deep, n, &o), depth <= JSON_DEPTH_MAX ? 0 : -EBADMSG);
                json_object_put(o);
        }
}

static void test_reader(void **state) {
        static const char input[] = "{\"a\":1}\r\n\n{\"b\":2}\n{\"c\"";
        QmpReader r = QMP_READER_INIT;
        char *line, *p;
        size_t len, size;

        /* One byte at a time: every split of the stream works. */
        for (size_t i = 0; i < sizeof(input) - 1; i++) {
                assert_int_equal(qmp_reader_space(&r, &p, &size), 0);
                assert_true(size >= 1);
                *p = input[i];
                qmp_reader_advance(&r, 1);
                if (input[i] != '\n')
                        continue;
                assert_int_equal(qmp_reader_next(&r, &line, &len), 1);
                assert_int_equal(strlen(line), len);
                assert_true(streq(line, "{\"a\":1}") || streq(line, "") || streq(line, "{\"b\":2}"));
                assert_int_equal(qmp_reader_next(&r, &line, &len), 0);
        }
        assert_int_equal(qmp_reader_next(&r, &line, &len), 0);

        /* Exactly QMP_LINE_MAX bytes and its newline fit; one more byte does not, and the rest of
         * that line is dropped up to its newline. */
        qmp_reader_done(&r);
        for (int extra = 0; extra <= 1; extra++) {
                size_t want = QMP_LINE_MAX + (size_t) extra, fed = 0;
                int got = 0;

                while (fed < want) {
                        assert_int_equal(qmp_reader_space(&r, &p, &size), 0);
                        size = MIN(size, want - fed);
                        memset(p, 'x', size);
                        qmp_reader_advance(&r, size);
                        fed += size;
                        got = qmp_reader_next(&r, &line, &len);
                        if (got != 0)
                                break;
                }
                if (extra == 0) {
                        assert_int_equal(got, 0);
                        assert_int_equal(qmp_reader_space(&r, &p, &size), 0);
                        *p = '\n';
                        qmp_reader_advance(&r, 1);
                        assert_int_equal(qmp_reader_next(&r, &line, &len), 1);
                        assert_int_equal(len, QMP_LINE_MAX);
                } else {
                        assert_int_equal(got, -EMSGSIZE);
                        assert_int_equal(qmp_reader_space(&r, &p, &size), 0);
                        memcpy(p, "yyy\n{}\n", 7);
                        qmp_reader_advance(&r, 7);
                        assert_int_equal(qmp_reader_next(&r, &line, &len), 1);
                        assert_string_equal(line, "{}");
                }
        }
        qmp_reader_done(&r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),       cmocka_unit_test(test_reader),
                cmocka_unit_test(test_session),     cmocka_unit_test(test_error_classes),
                cmocka_unit_test(test_no_greeting), cmocka_unit_test(test_timeout),
                cmocka_unit_test(test_line_limit),  cmocka_unit_test(test_hostile_lines),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
