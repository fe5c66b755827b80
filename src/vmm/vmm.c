/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm: starts and supervises one VM: vsockd (the vhost-user vsock device) and a jailed QEMU
 * microvm. See docs/design/vmm.md for the sandbox, the exit statuses and the runtime dir. */

#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/kvm.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "socket-util.h"
#include "string-util.h"
#include "vmm-jail.h"
#include "vmm-qemu.h"
#include "vmm-qmp.h"
#include "vmm-tsc.h"

/* Exit statuses (docs/design/vmm.md). */
#define EXIT_SETUP 1       /* bad arguments or setup failed before the VM ran */
#define EXIT_QEMU_DIED 2   /* QEMU exited or was killed without a guest poweroff */
#define EXIT_VSOCKD_DIED 3 /* the device process died; QEMU was killed */
#define EXIT_FORCED_STOP 4 /* asked to stop, the guest did not power off in time: quit/killed */
#define EXIT_GUEST_RESET 5 /* the guest rebooted or panicked (-no-reboot turns that into an exit) */

#define GUEST_CID 3
#define VSOCKD_READY_TIMEOUT_MS 10000
#define QUIT_TIMEOUT_USEC (5 * 1000000ULL)
#define TERMINATE_TIMEOUT_USEC (3 * 1000000ULL)
#define VSOCKD_EXIT_GRACE_USEC (5 * 1000000ULL)

static const char *arg_name = NULL;
static const char *arg_kernel = NULL;
static const char *arg_initrd = NULL;
static const char *arg_append = NULL;
static uint64_t arg_mem = 512ULL << 20;
static unsigned arg_cpus = 1;
static const char *arg_runtime_dir = NULL;
static const char *arg_vsockd = NULL;
static bool arg_vsock = true;
static bool arg_net_user = false;
static Accel arg_accel = ACCEL_AUTO;
static unsigned arg_tb_size = QEMU_TB_SIZE_DEFAULT_MIB;
static const char *arg_qemu = NULL;
static uint64_t arg_stop_timeout_usec = 20 * 1000000ULL;
static struct {
        char *path;
        bool read_only;
} arg_disks[QEMU_DISKS_MAX];
static size_t arg_n_disks = 0;
static QemuHostfwd arg_hostfwds[QEMU_HOSTFWDS_MAX];
static size_t arg_n_hostfwds = 0;

typedef enum StopPhase {
        STOP_NONE,
        STOP_POWERDOWN, /* system_powerdown sent, waiting for the guest */
        STOP_QUIT,      /* quit sent */
        STOP_KILL,      /* SIGKILL sent */
        STOP_TERMINATE, /* VM is over (or broken): reaping the remaining processes */
} StopPhase;

typedef struct Child {
        const char *name;
        pid_t pid;
        int pidfd;
        sd_event_source *source;
        bool exited;
} Child;

typedef struct Vmm {
        sd_event *event;
        Qmp *qmp;
        Child qemu, vsockd;
        sd_event_source *timer;
        StopPhase phase;
        bool guest_shutdown;
        bool guest_reset;
        char shutdown_reason[32];
        int exit_status;
        char *vsock_path, *vhost_user_path, *qmp_path, *console_path;
} Vmm;

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

static void vmm_maybe_exit(Vmm *v) {
        if ((v->qemu.pid <= 0 || v->qemu.exited) && (v->vsockd.pid <= 0 || v->vsockd.exited))
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
        }
}

/* The VM is over: make every remaining process go away, bounded in time. */
static void vmm_terminate(Vmm *v, int status) {
        if (v->exit_status == 0)
                v->exit_status = status;
        v->phase = STOP_TERMINATE;
        child_signal(&v->qemu, SIGKILL);
        child_signal(&v->vsockd, SIGTERM);
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
                /* vsockd left cleanly but QEMU did not follow. */
                log_error("QEMU kept running after vsockd exited, killing it.");
                vmm_terminate(v, EXIT_VSOCKD_DIED);
                break;
        case STOP_KILL:
        case STOP_TERMINATE:
                if (!v->vsockd.exited && v->vsockd.pid > 0)
                        log_warning("vsockd did not exit in time, killing it.");
                child_signal(&v->qemu, SIGKILL);
                child_signal(&v->vsockd, SIGKILL);
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

static int on_vsockd_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Vmm *v = userdata;
        char how[64];

        v->vsockd.exited = true;
        child_done(&v->vsockd);
        describe_exit(si, how, sizeof(how));

        if (v->qemu.exited || v->phase == STOP_TERMINATE) {
                log_debug("vsockd (pid %d) %s.", (int) v->vsockd.pid, how);
                vmm_maybe_exit(v);
                return 0;
        }
        if (exited_cleanly(si)) {
                /* vsockd exits 0 when QEMU hangs up at shutdown: expect QEMU to follow shortly. */
                log_info("vsockd (pid %d) exited; waiting for QEMU.", (int) v->vsockd.pid);
                if (v->phase == STOP_NONE)
                        vmm_arm_timer(v, VSOCKD_EXIT_GRACE_USEC);
                return 0;
        }
        log_error("vsockd (pid %d) %s unexpectedly; killing QEMU.", (int) v->vsockd.pid, how);
        vmm_terminate(v, EXIT_VSOCKD_DIED);
        return 0;
}

static void on_qmp_event(Qmp *q, const char *event, const char *line, void *userdata) {
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
                vmm_arm_timer(v, arg_stop_timeout_usec);
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

static void vmm_done(Vmm *v) {
        child_kill_and_reap(&v->qemu);
        child_kill_and_reap(&v->vsockd);
        child_done(&v->qemu);
        child_done(&v->vsockd);
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
        free(v->vsock_path);
        free(v->vhost_user_path);
        free(v->qmp_path);
        free(v->console_path);
}

static bool kvm_device_usable(void) {
        _cleanup_close_ int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

        return fd >= 0 && ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
}

/* For "auto": KVM with hardware virtualization. A /dev/kvm served only by kvm_pvm (pagetable-based
 * KVM, found inside some cloud VMs) runs PVM-aware guest kernels only; Debian's does not boot. */
static bool kvm_usable(void) {
        if (!kvm_device_usable())
                return false;
        if (access("/sys/module/kvm_pvm", F_OK) == 0 && access("/sys/module/kvm_intel", F_OK) < 0 &&
            access("/sys/module/kvm_amd", F_OK) < 0) {
                log_info("/dev/kvm is kvm_pvm, which needs PVM-aware guests: using TCG.");
                return false;
        }
        return true;
}

static char *path_join(const char *a, const char *b) {
        char *s;

        if (asprintf(&s, "%s/%s", a, b) < 0)
                OOM();
        return s;
}

static char *exe_dir(void) {
        char buf[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

        if (n <= 0)
                return NULL;
        buf[n] = 0;
        return xstrdup(dirname(buf));
}

/* --vsockd, else $BISTRO_LIBEXECDIR/vsockd, else next to vmm, else the install dir. */
static char *find_vsockd(void) {
        _cleanup_free_ char *dir = exe_dir();
        const char *env = getenv("BISTRO_LIBEXECDIR");
        char *p;

        if (arg_vsockd)
                return access(arg_vsockd, X_OK) == 0 ? xstrdup(arg_vsockd) : NULL;
        if (env) {
                p = path_join(env, "vsockd");
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        if (dir) {
                /* Build tree (src/vmm/vmm, src/vsockd/vsockd), then installed side by side. */
                p = path_join(dir, "../vsockd/vsockd");
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
                p = path_join(dir, "vsockd");
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        p = path_join(BISTRO_LIBEXECDIR, "vsockd");
        if (access(p, X_OK) == 0)
                return p;
        free(p);
        return NULL;
}

static char *find_in_path(const char *name) {
        _cleanup_free_ char *path = xstrdup(getenv("PATH") ?: "/usr/bin:/bin");

        for (char *save = NULL, *d = strtok_r(path, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                char *p = path_join(d, name);
                if (d[0] == '/' && access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

/* clone3 + CLONE_PIDFD, no namespaces: vsockd sandboxes itself. fds[i] become 3+i. */
static int spawn_vsockd(const char *path, const char *uds_path, const int fds[3], Child *ret) {
        int pidfd = -EBADF;
        struct clone_args args = {
                .flags = CLONE_PIDFD,
                .pidfd = (uint64_t) (uintptr_t) &pidfd,
                .exit_signal = SIGCHLD,
        };
        pid_t parent = getpid();
        long pid;

        pid = syscall(SYS_clone3, &args, sizeof(args));
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                char cid[16];
                sigset_t none;
                int moved[3], null_fd;

                if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
                        _exit(127);
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                for (int i = 0; i < 3; i++)
                        if ((moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64)) < 0)
                                _exit(127);
                for (int i = 0; i < 3; i++)
                        if (dup2(moved[i], 3 + i) < 0)
                                _exit(127);
                null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0)
                        _exit(127);
                (void) snprintf(cid, sizeof(cid), "%d", GUEST_CID);
                execl(path, path, "--vhost-user-fd", "3", "--listen-fd", "4", "--uds-path", uds_path,
                      "--guest-cid", cid, "--ready-fd", "5", (char *) NULL);
                _exit(127);
        }
        *ret = (Child){ .name = "vsockd", .pid = (pid_t) pid, .pidfd = pidfd };
        return 0;
}

/* Waits for "READY\n" on rfd, or vsockd's death, or the timeout. */
static int wait_vsockd_ready(int rfd, Child *c) {
        char buf[16];
        size_t len = 0;

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = rfd, .events = POLLIN },
                        { .fd = c->pidfd, .events = POLLIN },
                };
                int n = poll(p, 2, VSOCKD_READY_TIMEOUT_MS);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return log_error_errno(errno, "poll: %m");
                if (n == 0)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(ETIMEDOUT), "vsockd did not report READY in time.");
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
                                        SYNTHETIC_ERRNO(EPROTO),
                                        "vsockd closed its ready fd without READY.");
                }
                if (p[1].revents) {
                        siginfo_t si = {};
                        char how[64];

                        if (waitid(P_PIDFD, (id_t) c->pidfd, &si, WEXITED) < 0)
                                return log_error_errno(errno, "waitid(vsockd): %m");
                        c->exited = true;
                        describe_exit(&si, how, sizeof(how));
                        return log_error_errno(
                                SYNTHETIC_ERRNO(ECHILD), "vsockd (pid %d) %s before it was ready.",
                                (int) c->pid, how);
                }
        }
}

static bool file_is_qcow2(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint8_t magic[4];

        return fd >= 0 && read(fd, magic, 4) == 4 && memcmp(magic, "QFI\xfb", 4) == 0;
}

static int build_jail(
        Jail *j,
        const char *qemu,
        Accel accel,
        const char *kernel,
        const char *initrd,
        const char *console,
        QemuDisk *disks) {
        static const char *const firmware[] = { "bios-microvm.bin", "linuxboot_dma.bin", "pvh.bin" };
        _cleanup_free_ char *tmp = xstrdup(qemu), *moddir = NULL, *datadir = NULL, *tcg = NULL;
        char *extra[2] = {};
        const char *bindir = dirname(tmp);
        int r;

        /* QEMU looks for modules and firmware relative to its binary; bind them at the resolved
         * paths, which is where "<bindir>/../lib" and "<bindir>/../share" lead inside the jail too. */
        {
                _cleanup_free_ char *m = path_join(bindir, "../lib/x86_64-linux-gnu/qemu");
                _cleanup_free_ char *d = path_join(bindir, "../share/qemu");
                moddir = realpath(m, NULL);
                datadir = realpath(d, NULL);
        }
        if (!datadir)
                return log_error_errno(
                        SYNTHETIC_ERRNO(ENOENT), "QEMU's data directory next to '%s' is missing.", qemu);
        /* Debian builds TCG as a module; it is the only module a microvm needs. */
        if (accel == ACCEL_TCG && moddir) {
                tcg = path_join(moddir, "accel-tcg-x86_64.so");
                if (access(tcg, R_OK) == 0)
                        extra[0] = tcg;
        }
        r = jail_add_elf_closure(j, qemu, extra);
        if (r < 0)
                return log_error_errno(r, "Cannot collect QEMU's libraries: %m");
        for (size_t i = 0; i < ELEMENTSOF(firmware); i++) {
                _cleanup_free_ char *src = path_join(datadir, firmware[i]);

                if (access(src, R_OK) < 0)
                        continue;
                r = jail_add_bind(j, src, NULL, false);
                if (r < 0)
                        return log_error_errno(r, "Cannot bind '%s': %m", src);
        }
        r = jail_add_bind(j, "/dev/null", NULL, false);
        if (r >= 0)
                r = jail_add_bind(j, "/dev/urandom", NULL, false);
        if (r >= 0 && accel == ACCEL_KVM)
                r = jail_add_bind(j, "/dev/kvm", NULL, true);
        if (r < 0)
                return log_error_errno(r, "Cannot bind device nodes: %m");
        /* libslirp forwards the guest's DNS (10.0.2.3) to the resolvers in /etc/resolv.conf;
         * without the file in the jail it asks 127.0.0.1 and the guest gets no answer. */
        if (arg_net_user && access("/etc/resolv.conf", R_OK) == 0) {
                r = jail_add_bind(j, "/etc/resolv.conf", NULL, false);
                if (r < 0)
                        log_warning_errno(r, "Cannot bind /etc/resolv.conf, the guest will have no DNS: %m");
        }
        r = jail_add_bind(j, kernel, "/vm/kernel", false);
        if (r < 0)
                return log_error_errno(r, "Cannot bind kernel '%s': %m", kernel);
        if (initrd) {
                r = jail_add_bind(j, initrd, "/vm/initrd", false);
                if (r < 0)
                        return log_error_errno(r, "Cannot bind initrd '%s': %m", initrd);
        }
        r = jail_add_bind(j, console, "/vm/console.log", true);
        if (r < 0)
                return log_error_errno(r, "Cannot bind console log: %m");
        for (size_t i = 0; i < arg_n_disks; i++) {
                char dst[32];

                (void) snprintf(dst, sizeof(dst), "/vm/disk%zu", i);
                r = jail_add_bind(j, arg_disks[i].path, dst, !arg_disks[i].read_only);
                if (r < 0)
                        return log_error_errno(r, "Cannot bind disk '%s': %m", arg_disks[i].path);
                disks[i] = (QemuDisk){
                        .path = j->binds[j->n_binds - 1].dst,
                        .read_only = arg_disks[i].read_only,
                        .qcow2 = file_is_qcow2(arg_disks[i].path),
                };
        }
        return 0;
}

static void help(void) {
        printf("Usage: vmm --name NAME --kernel FILE [--initrd FILE] --runtime-dir DIR [OPTIONS]\n"
               "Starts one VM: vsockd and a jailed QEMU microvm; runs until the VM stops.\n\n"
               "  --append ARGS        extra kernel command line\n"
               "  --mem SIZE           guest RAM (default 512M)\n"
               "  --cpus N             vCPUs (default 1)\n"
               "  --disk ro:PATH|rw:PATH  a virtio-blk disk (raw or qcow2), repeatable\n"
               "  --net user|none      QEMU user networking (default none)\n"
               "  --hostfwd tcp:H:G    forward 127.0.0.1:H to guest TCP port G (needs --net user)\n"
               "  --accel auto|kvm|tcg (env BISTRO_ACCEL overrides; default auto)\n"
               "  --tb-size MIB        TCG translation cache size (default %u)\n"
               "  --vsockd PATH        the vsockd binary\n"
               "  --no-vsock           no vsock device (and no vsockd)\n"
               "  --qemu PATH          QEMU binary (env BISTRO_QEMU; default qemu-system-x86_64)\n"
               "  --stop-timeout SEC   how long SIGTERM waits for a guest poweroff (default 20)\n",
               QEMU_TB_SIZE_DEFAULT_MIB);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_NAME = 0x100,
                ARG_KERNEL,
                ARG_INITRD,
                ARG_APPEND,
                ARG_MEM,
                ARG_CPUS,
                ARG_RUNTIME_DIR,
                ARG_DISK,
                ARG_NET,
                ARG_HOSTFWD,
                ARG_ACCEL,
                ARG_VSOCKD,
                ARG_NO_VSOCK,
                ARG_TB_SIZE,
                ARG_QEMU,
                ARG_STOP_TIMEOUT,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "name", required_argument, NULL, ARG_NAME },
                { "kernel", required_argument, NULL, ARG_KERNEL },
                { "initrd", required_argument, NULL, ARG_INITRD },
                { "append", required_argument, NULL, ARG_APPEND },
                { "mem", required_argument, NULL, ARG_MEM },
                { "cpus", required_argument, NULL, ARG_CPUS },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "disk", required_argument, NULL, ARG_DISK },
                { "net", required_argument, NULL, ARG_NET },
                { "hostfwd", required_argument, NULL, ARG_HOSTFWD },
                { "accel", required_argument, NULL, ARG_ACCEL },
                { "vsockd", required_argument, NULL, ARG_VSOCKD },
                { "no-vsock", no_argument, NULL, ARG_NO_VSOCK },
                { "tb-size", required_argument, NULL, ARG_TB_SIZE },
                { "qemu", required_argument, NULL, ARG_QEMU },
                { "stop-timeout", required_argument, NULL, ARG_STOP_TIMEOUT },
                {},
        };
        const char *env;
        uint32_t u;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_NAME:
                        if (!name_is_valid(optarg, 64))
                                return log_error_errno(
                                        SYNTHETIC_ERRNO(EINVAL), "Invalid VM name '%s'.", optarg);
                        arg_name = optarg;
                        break;
                case ARG_KERNEL:
                        arg_kernel = optarg;
                        break;
                case ARG_INITRD:
                        arg_initrd = optarg;
                        break;
                case ARG_APPEND:
                        arg_append = optarg;
                        break;
                case ARG_MEM:
                        r = parse_size(optarg, &arg_mem);
                        if (r < 0 || arg_mem < QEMU_MEM_MIN || arg_mem > QEMU_MEM_MAX || arg_mem % (1 << 20))
                                return log_error_errno(
                                        SYNTHETIC_ERRNO(EINVAL), "Invalid --mem '%s' (whole MiB, 64M..1T).",
                                        optarg);
                        break;
                case ARG_CPUS:
                        if (safe_atou32(optarg, &u) < 0 || u < 1 || u > QEMU_CPUS_MAX)
                                return log_error_errno(
                                        SYNTHETIC_ERRNO(EINVAL), "Invalid --cpus '%s'.", optarg);
                        arg_cpus = u;
                        break;
                case ARG_RUNTIME_DIR:
                        arg_runtime_dir = optarg;
                        break;
                case ARG_DISK:
                        if (arg_n_disks >= QEMU_DISKS_MAX)
                                return log_error_errno(SYNTHETIC_ERRNO(E2BIG), "Too many disks.");
                        if (startswith(optarg, "ro:"))
                                arg_disks[arg_n_disks].read_only = true;
                        else if (!startswith(optarg, "rw:"))
                                return log_error_errno(
                                        SYNTHETIC_ERRNO(EINVAL), "--disk needs ro:PATH or rw:PATH.");
                        arg_disks[arg_n_disks++].path = optarg + 3;
                        break;
                case ARG_NET:
                        if (streq(optarg, "user"))
                                arg_net_user = true;
                        else if (streq(optarg, "none"))
                                arg_net_user = false;
                        else
                                return log_error_errno(
                                        SYNTHETIC_ERRNO(EINVAL), "Invalid --net '%s'.", optarg);
                        break;
                case ARG_HOSTFWD:
                        if (arg_n_hostfwds >= QEMU_HOSTFWDS_MAX)
                                return log_error_errno(SYNTHETIC_ERRNO(E2BIG), "Too many --hostfwd.");
                        if (qemu_parse_hostfwd(optarg, &arg_hostfwds[arg_n_hostfwds]) < 0)
                                return log_error_errno(
                                        SYNTHETIC_ERRNO(EINVAL), "Invalid --hostfwd '%s'.", optarg);
                        arg_n_hostfwds++;
                        break;
                case ARG_ACCEL:
                        arg_accel = accel_from_string(optarg);
                        if (arg_accel < 0)
                                return log_error_errno(
                                        SYNTHETIC_ERRNO(EINVAL), "Invalid --accel '%s'.", optarg);
                        break;
                case ARG_VSOCKD:
                        arg_vsockd = optarg;
                        break;
                case ARG_NO_VSOCK:
                        arg_vsock = false;
                        break;
                case ARG_TB_SIZE:
                        if (safe_atou32(optarg, &u) < 0 || u < 1 || u > 4096)
                                return log_error_errno(
                                        SYNTHETIC_ERRNO(EINVAL), "Invalid --tb-size '%s'.", optarg);
                        arg_tb_size = u;
                        break;
                case ARG_QEMU:
                        arg_qemu = optarg;
                        break;
                case ARG_STOP_TIMEOUT:
                        if (safe_atou32(optarg, &u) < 0 || u > 3600)
                                return log_error_errno(
                                        SYNTHETIC_ERRNO(EINVAL), "Invalid --stop-timeout '%s'.", optarg);
                        arg_stop_timeout_usec = (uint64_t) u * 1000000ULL;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Unexpected argument '%s'.", argv[optind]);
        if (!arg_name || !arg_kernel || !arg_runtime_dir)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "--name, --kernel and --runtime-dir are required.");
        if (arg_n_hostfwds > 0 && !arg_net_user)
                return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--hostfwd needs --net user.");
        env = getenv("BISTRO_ACCEL");
        if (env && *env) {
                arg_accel = accel_from_string(env);
                if (arg_accel < 0)
                        return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "Invalid $BISTRO_ACCEL '%s'.", env);
        }
        if (!arg_qemu)
                arg_qemu = getenv("BISTRO_QEMU");
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_free_ char *kernel = NULL, *initrd = NULL, *qemu = NULL, *vsockd = NULL;
        _cleanup_close_ int vu_listen = -EBADF, vs_listen = -EBADF, qmp_listen = -EBADF, vu_client = -EBADF;
        _cleanup_close_ int qmp_peer = -EBADF, ready_r = -EBADF, ready_w = -EBADF, dir_lock = -EBADF;
        _cleanup_(strv_freep) char **qemu_argv = NULL;
        _cleanup_(jail_done) Jail jail = {};
        QemuDisk disks[QEMU_DISKS_MAX] = {};
        Vmm v = { .qemu = { .name = "qemu", .pidfd = -EBADF },
                  .vsockd = { .name = "vsockd", .pidfd = -EBADF } };
        uint32_t tsc_khz = 0;
        const char *step;
        sigset_t mask;
        int sp[2], fds[3], n_fds, pid, r;

        log_set_ident("vmm");
        log_parse_environment();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_SETUP : 0;

        /* Queue these until the event loop handles them; children reset their mask. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGPIPE);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        /* If whoever started us dies, we stop the VM rather than orphan it. */
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);

        kernel = realpath(arg_kernel, NULL);
        if (!kernel)
                return log_error_errno(errno, "Kernel '%s': %m", arg_kernel), EXIT_SETUP;
        if (arg_initrd) {
                initrd = realpath(arg_initrd, NULL);
                if (!initrd)
                        return log_error_errno(errno, "Initrd '%s': %m", arg_initrd), EXIT_SETUP;
        }
        qemu = arg_qemu ? realpath(arg_qemu, NULL) : find_in_path("qemu-system-x86_64");
        if (!qemu)
                return log_error_errno(
                               SYNTHETIC_ERRNO(ENOENT),
                               "qemu-system-x86_64 not found (Debian package qemu-system-x86)."),
                       EXIT_SETUP;
        if (arg_vsock) {
                vsockd = find_vsockd();
                if (!vsockd)
                        return log_error_errno(
                                       SYNTHETIC_ERRNO(ENOENT),
                                       "vsockd not found: pass --vsockd PATH, set BISTRO_LIBEXECDIR, or --no-vsock."),
                               EXIT_SETUP;
        }

        if (arg_accel == ACCEL_AUTO)
                arg_accel = kvm_usable() ? ACCEL_KVM : ACCEL_TCG;
        else if (arg_accel == ACCEL_KVM && !kvm_device_usable())
                return log_error_errno(SYNTHETIC_ERRNO(ENODEV), "--accel kvm: /dev/kvm is not usable."),
                       EXIT_SETUP;
        if (arg_accel == ACCEL_TCG) {
                r = tsc_host_khz(&tsc_khz);
                if (r < 0)
                        return log_error_errno(
                                       r, "Cannot determine the host TSC frequency (needed under TCG): %m"),
                               EXIT_SETUP;
        }

        r = mkdir_p(arg_runtime_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create runtime dir '%s': %m", arg_runtime_dir), EXIT_SETUP;
        /* One vmm per runtime dir: a second one would take over the first one's sockets. The lock
         * lives as long as this fd, i.e. as long as we do. */
        dir_lock = open(arg_runtime_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_lock < 0)
                return log_error_errno(errno, "Cannot open runtime dir '%s': %m", arg_runtime_dir),
                       EXIT_SETUP;
        if (flock(dir_lock, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return log_error_errno(
                                       SYNTHETIC_ERRNO(EBUSY), "Runtime dir '%s' is in use by another vmm.",
                                       arg_runtime_dir),
                               EXIT_SETUP;
                return log_error_errno(errno, "Cannot lock runtime dir '%s': %m", arg_runtime_dir),
                       EXIT_SETUP;
        }
        v.vsock_path = path_join(arg_runtime_dir, "vsock.sock");
        v.vhost_user_path = path_join(arg_runtime_dir, "vhost-user.sock");
        v.qmp_path = path_join(arg_runtime_dir, "qmp.sock");
        v.console_path = path_join(arg_runtime_dir, "console.log");

        r = write_file_atomic(v.console_path, "", 0600);
        if (r < 0) {
                log_error_errno(r, "Cannot create '%s': %m", v.console_path);
                goto fail;
        }
        qmp_listen = unix_listen(v.qmp_path, 4, 0600);
        if (qmp_listen < 0) {
                log_error_errno(qmp_listen, "Cannot listen on '%s': %m", v.qmp_path);
                goto fail;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
                log_error_errno(errno, "socketpair: %m");
                goto fail;
        }
        qmp_peer = sp[1];

        r = sd_event_default(&v.event);
        if (r < 0) {
                log_error_errno(r, "sd_event: %m");
                goto fail;
        }
        r = qmp_new(v.event, sp[0], on_qmp_event, &v, &v.qmp);
        if (r < 0) {
                safe_close(sp[0]);
                log_error_errno(r, "QMP: %m");
                goto fail;
        }

        if (arg_vsock) {
                int p[2];

                vu_listen = unix_listen(v.vhost_user_path, 1, 0600);
                if (vu_listen < 0) {
                        log_error_errno(vu_listen, "Cannot listen on '%s': %m", v.vhost_user_path);
                        goto fail;
                }
                vs_listen = unix_listen(v.vsock_path, 128, 0600);
                if (vs_listen < 0) {
                        log_error_errno(vs_listen, "Cannot listen on '%s': %m", v.vsock_path);
                        goto fail;
                }
                if (pipe2(p, O_CLOEXEC) < 0) {
                        log_error_errno(errno, "pipe: %m");
                        goto fail;
                }
                ready_r = p[0];
                ready_w = p[1];
                r = spawn_vsockd(vsockd, v.vsock_path, (int[]){ vu_listen, vs_listen, ready_w }, &v.vsockd);
                if (r < 0) {
                        log_error_errno(r, "Cannot start vsockd: %m");
                        goto fail;
                }
                ready_w = safe_close(ready_w);
                vu_listen = safe_close(vu_listen);
                vs_listen = safe_close(vs_listen);
                if (wait_vsockd_ready(ready_r, &v.vsockd) < 0)
                        goto fail;
                /* Connect for QEMU: it gets a connected fd, so the socket need not be in its jail. */
                vu_client = unix_connect(v.vhost_user_path);
                if (vu_client < 0) {
                        log_error_errno(vu_client, "Cannot connect to '%s': %m", v.vhost_user_path);
                        goto fail;
                }
        }

        jail.share_net = arg_net_user;
        if (build_jail(&jail, qemu, arg_accel, kernel, initrd, v.console_path, disks) < 0)
                goto fail;

        n_fds = 0;
        fds[n_fds++] = qmp_peer;
        fds[n_fds++] = qmp_listen;
        if (vu_client >= 0)
                fds[n_fds++] = vu_client;
        {
                QemuConfig c = {
                        .binary = qemu,
                        .kernel = "/vm/kernel",
                        .initrd = initrd ? "/vm/initrd" : NULL,
                        .append = arg_append,
                        .mem_bytes = arg_mem,
                        .cpus = arg_cpus,
                        .accel = arg_accel,
                        .tb_size_mib = arg_tb_size,
                        .tsc_khz = tsc_khz,
                        .console_path = "/vm/console.log",
                        .qmp_private_fd = 3,
                        .qmp_listen_fd = 4,
                        .vhost_user_fd = vu_client >= 0 ? 5 : -1,
                        .disks = disks,
                        .n_disks = arg_n_disks,
                        .net_user = arg_net_user,
                        .hostfwds = arg_hostfwds,
                        .n_hostfwds = arg_n_hostfwds,
                };
                r = qemu_build_argv(&c, &qemu_argv);
                if (r < 0) {
                        log_error_errno(r, "Cannot build the QEMU command line: %m");
                        goto fail;
                }
        }

        pid = jail_spawn(&jail, qemu_argv, fds, (size_t) n_fds, &v.qemu.pidfd, &step);
        if (pid < 0) {
                log_error_errno(pid, "Cannot start QEMU in its jail (%s): %m", step ?: "?");
                goto fail;
        }
        v.qemu.pid = pid;
        qmp_peer = safe_close(qmp_peer);
        qmp_listen = safe_close(qmp_listen);
        vu_client = safe_close(vu_client);
        if (arg_accel == ACCEL_TCG)
                log_info(
                        "VM '%s': QEMU pid %d, accel tcg (tb-size %u MiB, host TSC %" PRIu32
                        " kHz), %" PRIu64 " MiB, %u vCPU%s, vsock %s.",
                        arg_name, pid, arg_tb_size, tsc_khz, arg_mem >> 20, arg_cpus,
                        arg_cpus > 1 ? "s" : "", arg_vsock ? "on" : "off");
        else
                log_info(
                        "VM '%s': QEMU pid %d, accel kvm, %" PRIu64 " MiB, %u vCPU%s, vsock %s.", arg_name,
                        pid, arg_mem >> 20, arg_cpus, arg_cpus > 1 ? "s" : "", arg_vsock ? "on" : "off");

        r = sd_event_add_child_pidfd(v.event, &v.qemu.source, v.qemu.pidfd, WEXITED, on_qemu_exit, &v);
        if (r >= 0 && v.vsockd.pid > 0)
                r = sd_event_add_child_pidfd(
                        v.event, &v.vsockd.source, v.vsockd.pidfd, WEXITED, on_vsockd_exit, &v);
        if (r >= 0)
                r = sd_event_add_signal(v.event, NULL, SIGTERM, on_stop_signal, &v);
        if (r >= 0)
                r = sd_event_add_signal(v.event, NULL, SIGINT, on_stop_signal, &v);
        if (r >= 0)
                r = sd_event_add_signal(v.event, NULL, SIGHUP, on_stop_signal, &v);
        if (r < 0) {
                log_error_errno(r, "Cannot set up the event loop: %m");
                goto fail;
        }
        (void) sd_notifyf(false, "READY=1\nSTATUS=VM %s running", arg_name);

        r = sd_event_loop(v.event);
        if (r < 0) {
                log_error_errno(r, "Event loop failed: %m");
                r = EXIT_SETUP;
        }
        vmm_done(&v);
        return r;

fail:
        vmm_done(&v);
        return EXIT_SETUP;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
