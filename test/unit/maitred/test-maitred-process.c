/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Real processes: spawning, exit reporting, orphan reaping (as a child subreaper, which is what
 * PID 1 is) and the respawn limit of a crashing service on a real sd-event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "macro.h"
#include "maitred-process.h"
#include "maitred-service.h"
#include "maitred.h"

static char *const env[] = { (char *) "PATH=/usr/bin:/bin", NULL };

typedef struct Exit {
        bool done;
        int code;
        int status;
        pid_t pid;
} Exit;

static void on_exit_cb(Manager *m, pid_t pid, const siginfo_t *si, void *userdata) {
        Exit *e = userdata;

        e->done = true;
        e->code = si->si_code;
        e->status = si->si_status;
        e->pid = pid;
}

static void sleep_ms(unsigned ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

        (void) nanosleep(&ts, NULL);
}

static void reap_until(Manager *m, bool *flag) {
        for (unsigned i = 0; i < 2000 && !*flag; i++) {
                manager_reap(m);
                if (!*flag)
                        sleep_ms(5);
        }
}

static void test_spawn_exit_codes(void **state) {
        char *exit3[] = { (char *) "/bin/sh", (char *) "-c", (char *) "exit 3", NULL };
        char *killed[] = { (char *) "/bin/sh", (char *) "-c", (char *) "kill -9 $$", NULL };
        char *path_search[] = { (char *) "true", NULL };
        Manager m = {};
        Exit a = {}, b = {}, c = {};
        pid_t pid;

        assert_int_equal(process_spawn(exit3, env, &pid), 0);
        assert_int_equal(manager_watch_pid(&m, pid, on_exit_cb, &a), 0);
        reap_until(&m, &a.done);
        assert_true(a.done);
        assert_int_equal(a.pid, pid);
        assert_int_equal(a.code, CLD_EXITED);
        assert_int_equal(a.status, 3);

        assert_int_equal(process_spawn(killed, env, &pid), 0);
        assert_int_equal(manager_watch_pid(&m, pid, on_exit_cb, &b), 0);
        reap_until(&m, &b.done);
        assert_int_equal(b.code, CLD_KILLED);
        assert_int_equal(b.status, SIGKILL);

        assert_int_equal(process_spawn(path_search, env, &pid), 0);
        assert_int_equal(manager_watch_pid(&m, pid, on_exit_cb, &c), 0);
        reap_until(&m, &c.done);
        assert_int_equal(c.status, 0);
        assert_null(m.watches);
}

static void test_spawn_failure_reported(void **state) {
        char *missing[] = { (char *) "/nonexistent/binary", NULL };
        char *notexec[] = { (char *) "/etc/passwd", NULL };
        pid_t pid = 0;

        assert_int_equal(process_spawn(missing, env, &pid), -ENOENT);
        assert_int_equal(process_spawn(notexec, env, &pid), -EACCES);
        assert_int_equal(pid, 0);
        /* The failed children were reaped already. */
        assert_false(manager_has_children());
}

static void test_spawn_clean_state(void **state) {
        /* Blocked signals and open fds of the parent must not leak into the child. */
        char *check[] = { (char *) "/bin/sh", (char *) "-c",
                          (char *) "grep -q '^SigBlk:[[:space:]]*0*$' /proc/self/status && "
                                   "[ \"$(ls /proc/self/fd | wc -l)\" -le 4 ] && "
                                   "[ \"$(cut -d' ' -f6 /proc/self/stat)\" = \"$$\" ]",
                          NULL };
        sigset_t mask, old;
        Manager m = {};
        Exit e = {};
        pid_t pid;
        int leak;

        leak = dup(STDIN_FILENO); /* no CLOEXEC on purpose */
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGTERM);
        (void) sigprocmask(SIG_BLOCK, &mask, &old);
        assert_int_equal(process_spawn(check, env, &pid), 0);
        (void) sigprocmask(SIG_SETMASK, &old, NULL);
        safe_close(leak);
        assert_int_equal(manager_watch_pid(&m, pid, on_exit_cb, &e), 0);
        reap_until(&m, &e.done);
        assert_int_equal(e.code, CLD_EXITED);
        assert_int_equal(e.status, 0);
}

static void test_orphans_reaped(void **state) {
        char *orphan[] = { (char *) "/bin/sh", (char *) "-c", (char *) "sleep 0.2 & exit 0", NULL };
        Manager m = {};
        Exit e = {};
        pid_t pid;

        /* PID 1 inherits orphans; a subreaper does too. */
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
        assert_int_equal(process_spawn(orphan, env, &pid), 0);
        assert_int_equal(manager_watch_pid(&m, pid, on_exit_cb, &e), 0);
        reap_until(&m, &e.done);
        assert_true(e.done);
        /* The sleep is ours now; reaping must collect it without anyone watching it. */
        for (unsigned i = 0; i < 2000 && manager_has_children(); i++) {
                sleep_ms(5);
                manager_reap(&m);
        }
        assert_false(manager_has_children());
        (void) prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

static int on_sigchld(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        manager_reap(userdata);
        return 0;
}

typedef struct Watch {
        Service *service;
        bool done;
        bool timed_out;
} Watch;

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Watch *w = userdata;

        if (w->service->state == SERVICE_FAILED || w->service->state == SERVICE_EXITED) {
                w->done = true;
                return 0;
        }
        (void) sd_event_source_set_time_relative(s, 10000);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        ((Watch *) userdata)->timed_out = true;
        return 0;
}

static void run_service(Manager *m, char **argv, bool respawn, Watch *w) {
        sd_event_source *tick = NULL, *deadline = NULL;

        assert_int_equal(service_start_new(m, "t", argv, env, respawn, &w->service), 0);
        assert_int_equal(
                sd_event_add_time_relative(m->event, &tick, CLOCK_MONOTONIC, 10000, 0, on_tick, w), 0);
        assert_int_equal(
                sd_event_add_time_relative(
                        m->event, &deadline, CLOCK_MONOTONIC, 60 * 1000000ull, 0, on_deadline, w),
                0);
        while (!w->done && !w->timed_out)
                assert_true(sd_event_run(m->event, UINT64_MAX) >= 0);
        sd_event_source_disable_unref(tick);
        sd_event_source_disable_unref(deadline);
}

static void test_service_respawn_limit(void **state) {
        char *crash[] = { (char *) "/bin/sh", (char *) "-c", (char *) "exit 1", NULL };
        char *once[] = { (char *) "/bin/true", NULL };
        Manager m = {};
        Watch w = {}, w2 = {};
        sigset_t mask;

        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGCHLD);
        assert_int_equal(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
        assert_int_equal(sd_event_new(&m.event), 0);
        assert_int_equal(sd_event_add_signal(m.event, &m.sigchld, SIGCHLD, on_sigchld, &m), 0);

        run_service(&m, crash, true, &w);
        assert_false(w.timed_out);
        assert_int_equal(w.service->state, SERVICE_FAILED);
        assert_int_equal(w.service->n_respawns, SERVICE_RESPAWN_BURST);
        assert_int_equal(w.service->pid, 0);

        /* Without respawn a service that ends stays ended. */
        run_service(&m, once, false, &w2);
        assert_false(w2.timed_out);
        assert_int_equal(w2.service->state, SERVICE_EXITED);
        assert_int_equal(w2.service->n_respawns, 0);

        manager_free_services(&m);
        sd_event_source_disable_unref(m.sigchld);
        sd_event_unref(m.event);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spawn_exit_codes),      cmocka_unit_test(test_spawn_failure_reported),
                cmocka_unit_test(test_spawn_clean_state),     cmocka_unit_test(test_orphans_reaped),
                cmocka_unit_test(test_service_respawn_limit),
        };

        process_set_output("/dev/null");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
