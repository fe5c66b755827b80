/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "spawn-util.h"
#include "string-util.h"
#include "time-util.h"
#include "vmm-supervise.h"

#define DEVICE_READY_TIMEOUT_MS 10000
#define QUIT_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define TERMINATE_TIMEOUT_USEC (3 * USEC_PER_SEC)
#define VSOCKD_EXIT_GRACE_USEC (5 * USEC_PER_SEC)

static void child_done(Child *c) {
        c->source = sd_event_source_disable_unref(c->source);
        c->pidfd = safe_close(c->pidfd);
}

static void child_signal(Child *c, int sig) {
        if (c->pid <= 0 || c->exited || c->pidfd < 0)
                return;
        if (syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0) < 0 && errno != ESRCH)
                log_warning_errno(errno, "Cannot send signal %d to %s, ignoring: %m", sig, c->name);
}

/* Synchronous teardown for paths outside the event loop (setup failures). */
static void child_kill_and_reap(Child *c) {
        if (c->pid <= 0 || c->exited)
                return;
        child_signal(c, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        c->exited = true;
}

void vmm_child_kill_and_reap(Child *c) {
        child_kill_and_reap(c);
        child_done(c);
}

static void describe_exit(const siginfo_t *si, char *buf, size_t size) {
        if (si->si_code == CLD_EXITED)
                (void) snprintf(buf, size, "exited with status %d", si->si_status);
        else
                (void) snprintf(
                        buf, size, "was killed by signal %s%s", sigabbrev_np(si->si_status) ?: "?",
                        si->si_code == CLD_DUMPED ? " (core dumped)" : "");
}

static bool exited_cleanly(const siginfo_t *si) {
        return si->si_code == CLD_EXITED && si->si_status == 0;
}

static bool child_gone(const Child *c) {
        return c->pid <= 0 || c->exited;
}

static void vmm_maybe_exit(Vmm *v) {
        if (child_gone(&v->qemu) && child_gone(&v->vsockd) && child_gone(&v->net) && child_gone(&v->shares))
                (void) sd_event_exit(v->event, v->exit_status);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void vmm_arm_timer(Vmm *v, uint64_t usec) {
        int r;

        v->timer = sd_event_source_disable_unref(v->timer);
        r = sd_event_add_time_relative(v->event, &v->timer, CLOCK_MONOTONIC, usec, 0, on_timer, v);
        if (r < 0) {
                /* Without a timer we could wait forever: kill now instead. */
                log_error_errno(r, "Cannot arm timer, killing the VM: %m");
                child_signal(&v->qemu, SIGKILL);
                child_signal(&v->vsockd, SIGKILL);
                child_signal(&v->net, SIGKILL);
                child_signal(&v->shares, SIGKILL);
        }
}

/* The VM is over: make every remaining process go away, bounded in time. */
static void vmm_terminate(Vmm *v, int status) {
        if (v->exit_status == 0)
                v->exit_status = status;
        v->phase = STOP_TERMINATE;
        child_signal(&v->qemu, SIGKILL);
        child_signal(&v->vsockd, SIGTERM);
        child_signal(&v->net, SIGTERM);
        child_signal(&v->shares, SIGTERM);
        vmm_arm_timer(v, TERMINATE_TIMEOUT_USEC);
        vmm_maybe_exit(v);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Vmm *v = userdata;

        switch (v->phase) {
        case STOP_POWERDOWN:
                log_warning("The guest did not power off in time, sending quit.");
                v->phase = STOP_QUIT;
                if (qmp_execute(v->qmp, "quit") < 0)
                        child_signal(&v->qemu, SIGTERM);
                vmm_arm_timer(v, QUIT_TIMEOUT_USEC);
                break;
        case STOP_QUIT:
                log_warning("QEMU did not quit in time, killing it.");
                v->phase = STOP_KILL;
                child_signal(&v->qemu, SIGKILL);
                vmm_arm_timer(v, TERMINATE_TIMEOUT_USEC);
                break;
        case STOP_NONE:
                /* A device process left cleanly but QEMU did not follow. */
                log_error("QEMU kept running after a device process exited, killing it.");
                vmm_terminate(v, EXIT_VSOCKD_DIED);
                break;
        case STOP_KILL:
        case STOP_TERMINATE:
                if (!child_gone(&v->vsockd))
                        log_warning("vsockd did not exit in time, killing it.");
                if (!child_gone(&v->net))
                        log_warning("slirpd did not exit in time, killing it.");
                if (!child_gone(&v->shares))
                        log_warning("seneschal did not exit in time, killing it.");
                child_signal(&v->qemu, SIGKILL);
                child_signal(&v->vsockd, SIGKILL);
                child_signal(&v->net, SIGKILL);
                child_signal(&v->shares, SIGKILL);
                break;
        }
        return 0;
}

static int on_qemu_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Vmm *v = userdata;
        char how[64];
        int status;

        v->qemu.exited = true;
        child_done(&v->qemu);
        describe_exit(si, how, sizeof(how));

        if (v->phase == STOP_TERMINATE)
                status = v->exit_status;
        else if (exited_cleanly(si) && v->guest_reset) {
                log_error(
                        "The guest rebooted or panicked (%s); QEMU (pid %d) exited. See '%s'.",
                        v->shutdown_reason, (int) v->qemu.pid, v->console_path);
                status = EXIT_GUEST_RESET;
        } else if (exited_cleanly(si) && (v->guest_shutdown || v->phase == STOP_POWERDOWN)) {
                log_info("The guest powered off; QEMU (pid %d) exited.", (int) v->qemu.pid);
                status = 0;
        } else if (v->phase == STOP_QUIT || v->phase == STOP_KILL) {
                log_warning("Forced stop: QEMU (pid %d) %s.", (int) v->qemu.pid, how);
                status = EXIT_FORCED_STOP;
        } else {
                log_error("QEMU (pid %d) %s unexpectedly; stopping the VM.", (int) v->qemu.pid, how);
                status = EXIT_QEMU_DIED;
        }
        vmm_terminate(v, status);
        return 0;
}

/* vsockd, slirpd or seneschal. They exit 0 when QEMU hangs up at shutdown; anything else ends the VM. */
static int on_device_exit(Vmm *v, Child *c, const siginfo_t *si) {
        char how[64];

        c->exited = true;
        child_done(c);
        describe_exit(si, how, sizeof(how));

        if (v->qemu.exited || v->phase == STOP_TERMINATE) {
                log_debug("%s (pid %d) %s.", c->name, (int) c->pid, how);
                vmm_maybe_exit(v);
                return 0;
        }
        if (exited_cleanly(si)) {
                log_info("%s (pid %d) exited; waiting for QEMU.", c->name, (int) c->pid);
                if (v->phase == STOP_NONE)
                        vmm_arm_timer(v, VSOCKD_EXIT_GRACE_USEC);
                return 0;
        }
        log_error("%s (pid %d) %s unexpectedly; killing QEMU.", c->name, (int) c->pid, how);
        vmm_terminate(v, EXIT_VSOCKD_DIED);
        return 0;
}

static int on_vsockd_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Vmm *v = userdata;
        return on_device_exit(v, &v->vsockd, si);
}

static int on_net_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Vmm *v = userdata;
        return on_device_exit(v, &v->net, si);
}

static int on_shares_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Vmm *v = userdata;
        return on_device_exit(v, &v->shares, si);
}

void vmm_on_qmp_event(Qmp *q, const char *event, const char *line, void *userdata) {
        Vmm *v = userdata;

        if (streq(event, "SHUTDOWN")) {
                if (qmp_line_get_string(line, "reason", v->shutdown_reason, sizeof(v->shutdown_reason)) < 0)
                        strscpy(v->shutdown_reason, "unknown", sizeof(v->shutdown_reason));
                /* A guest reboot or panic (panic=-1) ends QEMU too, because of -no-reboot. */
                if (streq(v->shutdown_reason, "guest-reset") || streq(v->shutdown_reason, "guest-panic"))
                        v->guest_reset = true;
                else if (streq(v->shutdown_reason, "guest-shutdown"))
                        v->guest_shutdown = true;
                log_info("QEMU reports shutdown (%s).", v->shutdown_reason);
        } else
                log_debug("QMP event %s", event);
}

static int on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Vmm *v = userdata;

        switch (v->phase) {
        case STOP_NONE:
                log_info(
                        "Got %s, asking the guest to power off.",
                        sigabbrev_np((int) si->ssi_signo) ?: "signal");
                v->phase = STOP_POWERDOWN;
                if (qmp_execute(v->qmp, "system_powerdown") < 0) {
                        v->phase = STOP_QUIT;
                        child_signal(&v->qemu, SIGTERM);
                        vmm_arm_timer(v, QUIT_TIMEOUT_USEC);
                        break;
                }
                vmm_arm_timer(v, v->stop_timeout_usec);
                break;
        case STOP_POWERDOWN:
        case STOP_QUIT:
                /* A second request: escalate now. */
                (void) on_timer(v->timer, 0, v);
                break;
        default:
                break;
        }
        return 0;
}

void vmm_done(Vmm *v) {
        child_kill_and_reap(&v->qemu);
        child_kill_and_reap(&v->vsockd);
        child_kill_and_reap(&v->net);
        child_kill_and_reap(&v->shares);
        child_done(&v->qemu);
        child_done(&v->vsockd);
        child_done(&v->net);
        child_done(&v->shares);
        if (v->console) {
                console_log_drain(v->console);
                v->console = console_log_free(v->console);
        }
        v->qmp = qmp_free(v->qmp);
        v->timer = sd_event_source_disable_unref(v->timer);
        v->event = sd_event_unref(v->event);
        /* Our sockets go; console.log stays for post-mortems. */
        if (v->vsock_path)
                (void) unlink(v->vsock_path);
        if (v->vhost_user_path)
                (void) unlink(v->vhost_user_path);
        if (v->qmp_path)
                (void) unlink(v->qmp_path);
        if (v->virtiofs_path)
                (void) unlink(v->virtiofs_path);
        if (v->seneschal_path)
                (void) unlink(v->seneschal_path);
        free(v->virtiofs_path);
        free(v->seneschal_path);
        free(v->vsock_path);
        free(v->vhost_user_path);
        free(v->qmp_path);
        free(v->console_path);
}

int vmm_spawn_device(const char *name, char **argv, const int *fds, size_t n_fds, Child *ret) {
        _cleanup_sigkill_wait_ pid_t pid = 0;
        int pidfd, r;

        assert(n_fds <= VMM_DEVICE_FDS_MAX);
        r = safe_fork_full(
                name, FORK_RESET_SIGNALS | FORK_DEATHSIG | FORK_NULL_STDIN | FORK_CLOSE_ALL_FDS, fds, n_fds,
                &pid);
        if (r < 0)
                return r;
        if (r == 0) {
                int moved[VMM_DEVICE_FDS_MAX];

                /* Out of the way first, then into place; dup2 clears CLOEXEC on the result. */
                for (size_t i = 0; i < n_fds; i++)
                        if ((moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64)) < 0)
                                _exit(127);
                for (size_t i = 0; i < n_fds; i++)
                        if (dup2(moved[i], 3 + (int) i) < 0)
                                _exit(127);
                execv(argv[0], argv);
                _exit(127);
        }
        /* The child cannot be reaped behind our back (SIGCHLD is blocked, not ignored), so the pid
         * still names it here. */
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0)
                return -errno;
        *ret = (Child){ .name = name, .pid = TAKE_GENERIC(pid, pid_t, 0), .pidfd = pidfd };
        return 0;
}

/* Waits for "READY\n" on rfd, or the device's death, or the timeout. */
int vmm_wait_device_ready(int rfd, Child *c) {
        char buf[16];
        size_t len = 0;

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = rfd, .events = POLLIN },
                        { .fd = c->pidfd, .events = POLLIN },
                };
                int n = poll(p, 2, DEVICE_READY_TIMEOUT_MS);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return log_error_errno(errno, "poll: %m");
                if (n == 0)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(ETIMEDOUT), "%s did not report READY in time.", c->name);
                if (p[0].revents) {
                        ssize_t k = read(rfd, buf + len, sizeof(buf) - 1 - len);
                        if (k > 0) {
                                len += (size_t) k;
                                buf[len] = 0;
                                if (strstr(buf, "READY\n"))
                                        return 0;
                                if (len < sizeof(buf) - 1)
                                        continue;
                        }
                        if (k < 0 && errno == EINTR)
                                continue;
                        /* EOF or junk: wait for the exit status if it died. */
                        if (k <= 0 && poll(&p[1], 1, 1000) > 0)
                                p[1].revents = POLLIN;
                        else
                                return log_error_errno(
                                        SYNTHETIC_ERRNO(EPROTO), "%s closed its ready fd without READY.",
                                        c->name);
                }
                if (p[1].revents) {
                        siginfo_t si = {};
                        char how[64];

                        if (waitid(P_PIDFD, (id_t) c->pidfd, &si, WEXITED) < 0)
                                return log_error_errno(errno, "waitid(%s): %m", c->name);
                        c->exited = true;
                        describe_exit(&si, how, sizeof(how));
                        return log_error_errno(
                                SYNTHETIC_ERRNO(ECHILD), "%s (pid %d) %s before it was ready.", c->name,
                                (int) c->pid, how);
                }
        }
}

void vmm_block_signals(void) {
        sigset_t mask;

        /* Queued until the event loop handles them; children reset their mask. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGPIPE);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        /* If whoever started us dies, we stop the VM rather than orphan it. */
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
}

int vmm_watch(Vmm *v) {
        int r;

        r = sd_event_add_child_pidfd(v->event, &v->qemu.source, v->qemu.pidfd, WEXITED, on_qemu_exit, v);
        if (r >= 0 && v->vsockd.pid > 0)
                r = sd_event_add_child_pidfd(
                        v->event, &v->vsockd.source, v->vsockd.pidfd, WEXITED, on_vsockd_exit, v);
        if (r >= 0 && v->net.pid > 0)
                r = sd_event_add_child_pidfd(
                        v->event, &v->net.source, v->net.pidfd, WEXITED, on_net_exit, v);
        if (r >= 0 && v->shares.pid > 0 && !v->shares.exited)
                r = sd_event_add_child_pidfd(
                        v->event, &v->shares.source, v->shares.pidfd, WEXITED, on_shares_exit, v);
        if (r >= 0 && v->console)
                r = console_log_attach(v->console, v->event);
        if (r >= 0)
                r = sd_event_add_signal(v->event, NULL, SIGTERM, on_stop_signal, v);
        if (r >= 0)
                r = sd_event_add_signal(v->event, NULL, SIGINT, on_stop_signal, v);
        if (r >= 0)
                r = sd_event_add_signal(v->event, NULL, SIGHUP, on_stop_signal, v);
        return r;
}
