/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Real processes: spawning, exit reporting, orphan reaping (as a child subreaper, which is what
 * PID 1 is) and the respawn limit of a crashing service on a real sd-event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "fd-util.h"
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

/* The socket a service gets: on fd 3 whatever fd it was on in maitred (3 itself included), with
 * LISTEN_FDS=1 and LISTEN_PID=<the service's pid>, and nothing else above stderr. */
static void spawn_with_listen_fd(int fd) {
        char script[512], *argv[] = { (char *) "/bin/sh", (char *) "-c", script, NULL };
        char *const envp[] = { (char *) "PATH=/usr/bin:/bin", (char *) "LISTEN_PID=1",
                               (char *) "LISTEN_FDNAMES=x", NULL };
        struct stat st;
        Manager m = {};
        Exit e = {};
        pid_t pid;

        assert_int_equal(fstat(fd, &st), 0);
        (void) snprintf(
                script, sizeof(script),
                "[ \"$LISTEN_FDS\" = 1 ] && [ \"$LISTEN_PID\" = $$ ] && [ -z \"${LISTEN_FDNAMES+x}\" ] && "
                "[ \"$(readlink /proc/$$/fd/3)\" = \"socket:[%lu]\" ] && "
                "[ \"$(ls /proc/self/fd | wc -l)\" -le 5 ]",
                (unsigned long) st.st_ino);
        assert_int_equal(process_spawn_full(argv, envp, fd, &pid), 0);
        assert_int_equal(manager_watch_pid(&m, pid, on_exit_cb, &e), 0);
        reap_until(&m, &e.done);
        assert_int_equal(e.code, CLD_EXITED);
        assert_int_equal(e.status, 0);
        /* The parent's copy is untouched: still close-on-exec. */
        assert_int_equal(fcntl(fd, F_GETFD), FD_CLOEXEC);
}

static void test_spawn_listen_fd(void **state) {
        int fd, base, high;

        base = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(base >= 0);
        fd = fcntl(base, F_DUPFD_CLOEXEC, 10);
        assert_true(fd >= 10);
        safe_close(base);
        /* From a high fd, with something else on fd 3 in the parent. */
        (void) close(3);
        assert_int_equal(open("/dev/null", O_RDONLY | O_CLOEXEC), 3);
        high = fcntl(fd, F_DUPFD_CLOEXEC, 20);
        assert_true(high >= 20);
        spawn_with_listen_fd(high);
        safe_close(high);
        /* From fd 3 itself. */
        (void) close(3);
        assert_int_equal(fcntl(fd, F_DUPFD_CLOEXEC, 3), 3);
        spawn_with_listen_fd(3);
        (void) close(3);
        safe_close(fd);
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

static bool refusing(const ServiceSocket *ss) {
        int enabled = SD_EVENT_OFF;

        assert_int_equal(sd_event_source_get_enabled(ss->refuse_source, &enabled), 1);
        return enabled == SD_EVENT_ON;
}

/* Each line of path: what a run of the service saw on its fd 3. */
static unsigned count_lines_equal(const char *path, const char *line) {
        _cleanup_free_ char *text = NULL;
        unsigned n = 0;
        size_t len = strlen(line);

        assert_int_equal(read_file(path, 1 << 20, &text, NULL), 0);
        for (char *p = text; *p;) {
                char *nl = strchr(p, '\n');

                assert_non_null(nl);
                if ((size_t) (nl - p) != len || !strneq(p, line, len))
                        fail_msg("a run saw '%.*s', not '%s'", (int) (nl - p), p, line);
                n++;
                p = nl + 1;
        }
        return n;
}

static void test_service_socket_across_respawns(void **state) {
        static const ServiceSocketSpec specs[] = { { .name = "t", .port = VMADDR_PORT_ANY, .backlog = 4 } };
        char log_path[] = "/tmp/test-maitred-socket-XXXXXX", script[256], expect[64];
        char *crash[] = { (char *) "/bin/sh", (char *) "-c", script, NULL };
        struct sockaddr_vm before = {}, after = {};
        socklen_t len = sizeof(before);
        Manager m = {};
        Watch w = {}, w2 = {};
        ServiceSocket *ss;
        struct stat st;
        sigset_t mask;
        int fd;

        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGCHLD);
        assert_int_equal(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
        assert_int_equal(sd_event_new(&m.event), 0);
        assert_int_equal(sd_event_add_signal(m.event, &m.sigchld, SIGCHLD, on_sigchld, &m), 0);
        fd = mkstemp(log_path);
        assert_true(fd >= 0);
        safe_close(fd);

        assert_int_equal(manager_open_service_sockets(&m, specs, ELEMENTSOF(specs)), 0);
        ss = &m.sockets[0];
        if (ss->fd < 0)
                fail_msg("no AF_VSOCK on this machine (load the vsock module): the test cannot run");
        assert_int_equal(getsockname(ss->fd, (struct sockaddr *) &before, &len), 0);
        /* Nobody serves it yet: connections are refused. */
        assert_null(ss->service);
        assert_true(refusing(ss));

        /* Every run of a crashing service, the first and 10 respawns, gets the same socket. */
        assert_int_equal(fstat(ss->fd, &st), 0);
        (void) snprintf(expect, sizeof(expect), "socket:[%lu]", (unsigned long) st.st_ino);
        (void) snprintf(
                script, sizeof(script),
                "readlink /proc/$$/fd/3 >> %s; [ \"$LISTEN_PID\" = $$ ] || echo pid >> %s; exit 1", log_path,
                log_path);
        run_service(&m, crash, true, &w);
        assert_false(w.timed_out);
        assert_int_equal(w.service->state, SERVICE_FAILED);
        assert_int_equal(count_lines_equal(log_path, expect), 1 + SERVICE_RESPAWN_BURST);
        /* Given up: refused, the port still maitred's. */
        assert_true(refusing(ss));

        /* Started again by name (LaunchProcess with respawn): the new service takes the socket over. */
        assert_int_equal(truncate(log_path, 0), 0);
        (void) snprintf(script, sizeof(script), "readlink /proc/$$/fd/3 >> %s", log_path);
        run_service(&m, crash, false, &w2);
        assert_int_equal(w2.service->state, SERVICE_EXITED);
        assert_ptr_equal(ss->service, w2.service);
        assert_ptr_equal(w2.service->socket, ss);
        assert_null(w.service->socket);
        assert_int_equal(count_lines_equal(log_path, expect), 1);
        assert_true(refusing(ss));

        len = sizeof(after);
        assert_int_equal(getsockname(ss->fd, (struct sockaddr *) &after, &len), 0);
        assert_int_equal(after.svm_port, before.svm_port);

        manager_free_services(&m);
        assert_null(ss->service);
        manager_close_service_sockets(&m);
        assert_null(m.sockets);
        (void) unlink(log_path);
        sd_event_source_disable_unref(m.sigchld);
        sd_event_unref(m.event);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_spawn_exit_codes),
                cmocka_unit_test(test_spawn_failure_reported),
                cmocka_unit_test(test_spawn_clean_state),
                cmocka_unit_test(test_orphans_reaped),
                cmocka_unit_test(test_service_respawn_limit),
                cmocka_unit_test(test_spawn_listen_fd),
                cmocka_unit_test(test_service_socket_across_respawns),
        };

        process_set_output("/dev/null");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
