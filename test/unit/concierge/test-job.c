/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "job.h"

typedef struct Result {
        int error;
        char message[256];
        unsigned n_progress;
        uint64_t last_done;
        bool done;
} Result;

static int job_ok(Job *j, void *userdata) {
        for (uint64_t i = 1; i <= 3; i++)
                job_progress(j, i, 3, "step");
        job_set_message(j, "all %s", "good");
        return 0;
}

static int job_fails(Job *j, void *userdata) {
        job_set_message(j, "disk on fire");
        return -EIO;
}

static int job_hangs(Job *j, void *userdata) {
        pause();
        return 0;
}

static int job_dies(Job *j, void *userdata) {
        _exit(3);
}

static void on_progress(Job *j, uint64_t done, uint64_t total, const char *stage, void *userdata) {
        Result *r = userdata;

        r->n_progress++;
        r->last_done = done;
        assert_string_equal(stage, "step");
        assert_int_equal(total, 3);
}

static void on_done(Job *j, int error, const char *message, void *userdata) {
        Result *r = userdata;

        r->error = error;
        r->done = true;
        strncpy(r->message, message, sizeof(r->message) - 1);
}

static Result run_job(JobFn fn, bool kill_it) {
        sd_event *e = NULL;
        Result res = {};
        Job *j = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(job_start(e, "test", fn, on_progress, on_done, &res, &j), 0);
        assert_true(job_pid(j) > 0);
        if (kill_it)
                job_kill(j);
        while (!res.done)
                assert_true(sd_event_run(e, 10 * 1000000) >= 0);
        sd_event_unref(e);
        return res;
}

static void test_success(void **state) {
        Result r = run_job(job_ok, false);

        assert_int_equal(r.error, 0);
        assert_string_equal(r.message, "all good");
        assert_int_equal(r.n_progress, 3);
        assert_int_equal(r.last_done, 3);
}

static void test_failure(void **state) {
        Result r = run_job(job_fails, false);

        assert_int_equal(r.error, -EIO);
        assert_string_equal(r.message, "disk on fire");
}

static void test_killed(void **state) {
        Result r = run_job(job_hangs, true);

        assert_int_equal(r.error, -ECANCELED);
}

static void test_died(void **state) {
        Result r = run_job(job_dies, false);

        assert_int_equal(r.error, -EIO);
        assert_non_null(strstr(r.message, "status 3"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_success),
                cmocka_unit_test(test_failure),
                cmocka_unit_test(test_killed),
                cmocka_unit_test(test_died),
        };
        sigset_t mask;

        /* sd-event child sources need SIGCHLD blocked, as in concierge. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
