/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Jobs: a real forked worker, the real frame channel. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "job.h"

typedef struct Result {
        int error;
        char *message;
        unsigned n_progress;
        uint64_t last_done;
        uint32_t result_type;
        char *cmdline;
        bool done;
} Result;

static int job_ok(Job *j, void *userdata) {
        Bistro__Concierge__JobResult res = BISTRO__CONCIERGE__JOB_RESULT__INIT;

        for (uint64_t i = 1; i <= 3; i++)
                job_progress(j, i, 3, "step");
        res.kernel_cmdline = (char *) "console=hvc0";
        res.warning = (char *) "";
        return job_set_result(j, BISTRO__MESSAGE_TYPE__JOB_RESULT, &res.base);
}

static int job_empty(Job *j, void *userdata) {
        return 0;
}

static int job_fails(Job *j, void *userdata) {
        return job_fail(j, -EIO, "disk on %s", "fire");
}

/* A message far beyond the old 240-byte report: kept whole up to PROTO_ERROR_MESSAGE_MAX. */
static int job_fails_long(Job *j, void *userdata) {
        char *m = malloc(PROTO_ERROR_MESSAGE_MAX + 100);
        int r;

        memset(m, 'x', PROTO_ERROR_MESSAGE_MAX + 99);
        m[PROTO_ERROR_MESSAGE_MAX + 99] = 0;
        m[PROTO_ERROR_MESSAGE_MAX - 1] = 'E'; /* the last byte that fits */
        m[PROTO_ERROR_MESSAGE_MAX] = 'F';     /* the first one that does not */
        r = job_fail(j, -ENOENT, "%s", m);
        free(m);
        return r;
}

/* Exactly the limit: not cut. */
static int job_fails_at_limit(Job *j, void *userdata) {
        char *m = malloc(PROTO_ERROR_MESSAGE_MAX + 1);
        int r;

        memset(m, 'y', PROTO_ERROR_MESSAGE_MAX);
        m[PROTO_ERROR_MESSAGE_MAX - 1] = 'Z';
        m[PROTO_ERROR_MESSAGE_MAX] = 0;
        r = job_fail(j, -EPERM, "%s", m);
        free(m);
        return r;
}

static int job_fails_controls(Job *j, void *userdata) {
        return job_fail(j, -EIO, "lxc said:\n\x1b]52;c;AAAA\x07 tail\t\xc2\x9b end");
}

static int job_hangs(Job *j, void *userdata) {
        pause();
        return 0;
}

static int job_dies(Job *j, void *userdata) {
        _exit(3);
}

static void on_progress(Job *j, const Bistro__Concierge__Progress *p, void *userdata) {
        Result *r = userdata;

        r->n_progress++;
        r->last_done = p->done;
        assert_string_equal(p->stage, "step");
        assert_int_equal(p->total, 3);
        assert_int_equal(p->operation, BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM);
}

static void on_done(
        Job *j,
        int error,
        const char *message,
        uint32_t type,
        const ProtobufCMessage *result,
        void *userdata) {
        Result *r = userdata;

        r->error = error;
        r->done = true;
        r->result_type = type;
        if (error < 0) {
                assert_non_null(message);
                assert_null(result);
                r->message = strdup(message);
        } else {
                assert_non_null(result);
                if (type == BISTRO__MESSAGE_TYPE__JOB_RESULT)
                        r->cmdline = strdup(((const Bistro__Concierge__JobResult *) result)->kernel_cmdline);
        }
}

static Result run_job(JobFn fn, bool kill_it) {
        sd_event *e = NULL;
        Result res = {};
        Job *j = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(
                job_start(
                        e, "test", BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM, fn, on_progress,
                        on_done, &res, &j),
                0);
        assert_true(job_pid(j) > 0);
        if (kill_it)
                job_kill(j);
        while (!res.done)
                assert_true(sd_event_run(e, 10 * 1000000) >= 0);
        sd_event_unref(e);
        return res;
}

static void result_done(Result *r) {
        free(r->message);
        free(r->cmdline);
}

static void test_success(void **state) {
        Result r = run_job(job_ok, false);

        assert_int_equal(r.error, 0);
        assert_int_equal(r.result_type, BISTRO__MESSAGE_TYPE__JOB_RESULT);
        assert_string_equal(r.cmdline, "console=hvc0");
        assert_int_equal(r.n_progress, 3);
        assert_int_equal(r.last_done, 3);
        result_done(&r);
}

static void test_empty(void **state) {
        Result r = run_job(job_empty, false);

        assert_int_equal(r.error, 0);
        assert_int_equal(r.result_type, BISTRO__MESSAGE_TYPE__EMPTY);
        result_done(&r);
}

static void test_failure(void **state) {
        Result r = run_job(job_fails, false);

        assert_int_equal(r.error, -EIO);
        assert_string_equal(r.message, "disk on fire");
        result_done(&r);
}

static void test_failure_long(void **state) {
        Result r = run_job(job_fails_long, false);

        assert_int_equal(r.error, -ENOENT);
        assert_int_equal(strlen(r.message), PROTO_ERROR_MESSAGE_MAX);
        assert_int_equal(r.message[PROTO_ERROR_MESSAGE_MAX - 1], 'E');
        result_done(&r);
}

static void test_failure_at_limit(void **state) {
        Result r = run_job(job_fails_at_limit, false);

        assert_int_equal(r.error, -EPERM);
        assert_int_equal(strlen(r.message), PROTO_ERROR_MESSAGE_MAX);
        assert_int_equal(r.message[PROTO_ERROR_MESSAGE_MAX - 1], 'Z');
        result_done(&r);
}

static void test_failure_controls(void **state) {
        Result r = run_job(job_fails_controls, false);

        assert_int_equal(r.error, -EIO);
        assert_string_equal(r.message, "lxc said:\n?]52;c;AAAA? tail\t?? end");
        result_done(&r);
}

static void test_killed(void **state) {
        Result r = run_job(job_hangs, true);

        assert_int_equal(r.error, -ECANCELED);
        result_done(&r);
}

static void test_died(void **state) {
        Result r = run_job(job_dies, false);

        assert_int_equal(r.error, -EIO);
        assert_non_null(strstr(r.message, "status 3"));
        result_done(&r);
}

static void test_sanitize(void **state) {
        char cut[] = "ab\xc3\xa9"; /* "abé": a cut at 3 bytes must not split the é */
        char bad[] = "ok \xff\xfe";
        char keep[] = "caf\xc3\xa9 \xe2\x9c\x93\n\tend";

        job_text_sanitize(cut, 3);
        assert_string_equal(cut, "ab");
        job_text_sanitize(bad, 100);
        assert_string_equal(bad, "ok ??");
        job_text_sanitize(keep, sizeof(keep) - 1);
        assert_string_equal(keep, "caf\xc3\xa9 \xe2\x9c\x93\n\tend");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_success),          cmocka_unit_test(test_empty),
                cmocka_unit_test(test_failure),          cmocka_unit_test(test_failure_long),
                cmocka_unit_test(test_failure_at_limit), cmocka_unit_test(test_failure_controls),
                cmocka_unit_test(test_killed),           cmocka_unit_test(test_died),
                cmocka_unit_test(test_sanitize),
        };
        sigset_t mask;

        /* sd-event child sources need SIGCHLD blocked, as in concierge. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
