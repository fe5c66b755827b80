/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* seneschal: the host folders shared into one VM (docs/design/shares.md). In its own user and mount
 * namespace it keeps the export directory (a read-only tmpfs with one bind mount per share), runs
 * virtiofsd on it for QEMU's vhost-user-fs device, and adds and removes shares at runtime through
 * its control socket. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "seneschal-control.h"
#include "seneschal-export.h"
#include "seneschal-userns.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "string-util.h"

#define VIRTIOFSD_DEFAULT "/usr/lib/qemu/virtiofsd"
#define CONTROL_TIMEOUT_MS 5000

static int arg_vhost_user_fd = -EBADF;
static int arg_control_fd = -EBADF;
static int arg_ready_fd = -EBADF;
static const char *arg_export = NULL;
static const char *arg_virtiofsd = NULL;

static void help(void) {
        printf("seneschal --vhost-user-fd FD --control-fd FD --export DIR [--ready-fd FD]\n"
               "          [--virtiofsd PATH]\n\n"
               "Serves a VM's shared host folders through virtiofsd (tag " SHARES_TAG ") from its own\n"
               "user and mount namespace. FD: the listening vhost-user socket, the listening\n"
               "SOCK_SEQPACKET control socket. env: BISTRO_VIRTIOFSD (default " VIRTIOFSD_DEFAULT ").\n");
}

static int parse_argv(int argc, char **argv) {
        enum {
                ARG_VHOST_USER_FD = 0x100,
                ARG_CONTROL_FD,
                ARG_READY_FD,
                ARG_EXPORT,
                ARG_VIRTIOFSD,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "vhost-user-fd", required_argument, NULL, ARG_VHOST_USER_FD },
                { "control-fd", required_argument, NULL, ARG_CONTROL_FD },
                { "ready-fd", required_argument, NULL, ARG_READY_FD },
                { "export", required_argument, NULL, ARG_EXPORT },
                { "virtiofsd", required_argument, NULL, ARG_VIRTIOFSD },
                {},
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VHOST_USER_FD:
                        if (parse_fd(optarg, &arg_vhost_user_fd) < 0)
                                return log_usage_error("Invalid fd '%s'.", optarg);
                        break;
                case ARG_CONTROL_FD:
                        if (parse_fd(optarg, &arg_control_fd) < 0)
                                return log_usage_error("Invalid fd '%s'.", optarg);
                        break;
                case ARG_READY_FD:
                        if (parse_fd(optarg, &arg_ready_fd) < 0)
                                return log_usage_error("Invalid fd '%s'.", optarg);
                        break;
                case ARG_EXPORT:
                        if (optarg[0] != '/' || strchr(optarg, ','))
                                return log_usage_error("--export needs an absolute path without ','.");
                        arg_export = optarg;
                        break;
                case ARG_VIRTIOFSD:
                        arg_virtiofsd = optarg;
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("Unexpected argument '%s'.", argv[optind]);
        if (arg_vhost_user_fd < 0 || arg_control_fd < 0 || !arg_export)
                return log_usage_error("--vhost-user-fd, --control-fd and --export are required.");
        if (!arg_virtiofsd)
                arg_virtiofsd = getenv("BISTRO_VIRTIOFSD");
        if (!arg_virtiofsd || !arg_virtiofsd[0])
                arg_virtiofsd = VIRTIOFSD_DEFAULT;
        return 1;
}

/* virtiofsd with the vhost-user listener as its fd 3. Options (docs/design/shares.md, "virtiofsd"):
 * its own namespace sandbox pivoted into the export; cache=auto (the host side changes files too:
 * the guest revalidates after 1 s); no xattrs (nothing sets security.capability or an ACL the host
 * would honour); no remote locks; RLIMIT_NOFILE as we set it (a user namespace cannot raise the hard
 * limit, which virtiofsd would try and fail at). */
static int spawn_virtiofsd(pid_t *ret_pid, int *ret_pidfd) {
        _cleanup_sigkill_wait_ pid_t pid = 0;
        char source[PATH_MAX + 16];
        int pidfd, r;

        (void) snprintf(source, sizeof(source), "source=%s", arg_export);
        r = safe_fork_full(
                "virtiofsd", FORK_RESET_SIGNALS | FORK_DEATHSIG | FORK_NULL_STDIN | FORK_CLOSE_ALL_FDS,
                &arg_vhost_user_fd, 1, &pid);
        if (r < 0)
                return r;
        if (r == 0) {
                if (dup2(arg_vhost_user_fd, 3) < 0)
                        _exit(127);
                execl(arg_virtiofsd, "virtiofsd", "--fd=3", "-o", source, "-o", "sandbox=namespace", "-o",
                      "cache=auto", "-o", "no_xattr", "-o", "no_posix_lock", "-o", "no_flock",
                      "--rlimit-nofile=0", (char *) NULL);
                _exit(127);
        }
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0)
                return -errno;
        *ret_pidfd = pidfd;
        *ret_pid = TAKE_GENERIC(pid, pid_t, 0);
        return 0;
}

static int handle_request(const SeneschalRequest *req, int dir_fd) {
        int r;

        if (req->op == SENESCHAL_OP_ADD) {
                if (dir_fd < 0)
                        return -EBADMSG;
                r = export_add(arg_export, req->name, dir_fd, req->flags & SENESCHAL_FLAG_READ_ONLY);
                if (r < 0)
                        log_warning_errno(r, "Cannot share '%s': %m", req->name);
                else
                        log_info(
                                "Shared '%s'%s.", req->name,
                                req->flags & SENESCHAL_FLAG_READ_ONLY ? " read-only" : "");
                return r;
        }
        r = export_remove(arg_export, req->name);
        if (r < 0)
                log_warning_errno(r, "Cannot unshare '%s': %m", req->name);
        else
                log_info("Unshared '%s'.", req->name);
        return r;
}

/* Requests until the client hangs up, each bounded in time. */
static void serve_connection(int fd) {
        if (socket_set_timeouts(fd, CONTROL_TIMEOUT_MS) < 0)
                return;
        for (;;) {
                _cleanup_close_ int dir_fd = -EBADF;
                SeneschalRequest req;
                char buf[sizeof(SeneschalRequest) + 1];
                int32_t reply;
                ssize_t n;

                n = recv_with_fd(fd, buf, sizeof(buf), &dir_fd);
                if (n == -EMSGSIZE)
                        reply = -EBADMSG; /* longer than a request: cut, and refused */
                else if (n <= 0)
                        return;
                else
                        reply = seneschal_request_parse(buf, (size_t) n, &req);
                if (reply >= 0)
                        reply = handle_request(&req, dir_fd);
                if (send(fd, &reply, sizeof(reply), MSG_NOSIGNAL) < 0)
                        return;
        }
}

static void raise_nofile(void) {
        struct rlimit rl;

        /* virtiofsd holds an O_PATH fd per inode the guest knows. */
        if (getrlimit(RLIMIT_NOFILE, &rl) >= 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

static int run(int argc, char *argv[]) {
        _cleanup_free_ char *message = NULL;
        _cleanup_close_ int pidfd = -EBADF;
        pid_t pid;
        int r;

        log_set_ident("seneschal");
        log_parse_environment();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        if (access(arg_virtiofsd, X_OK) < 0)
                return log_error_errno(
                        errno, "virtiofsd '%s': %m (Debian package qemu-system-common); shares are off.",
                        arg_virtiofsd);

        r = userns_enter(&message);
        if (r < 0)
                return log_error_errno(r, "Shares are off for this VM: %s: %m", message ?: "user namespace");
        r = export_setup(arg_export);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the export directory '%s': %m", arg_export);
        raise_nofile();
        /* Nothing we or virtiofsd run may gain privileges through exec. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return log_error_errno(errno, "PR_SET_NO_NEW_PRIVS: %m");
        r = spawn_virtiofsd(&pid, &pidfd);
        if (r < 0)
                return log_error_errno(r, "Cannot start virtiofsd: %m");
        arg_vhost_user_fd = safe_close(arg_vhost_user_fd);
        if (arg_ready_fd >= 0) {
                (void) loop_write(arg_ready_fd, "READY\n", 6);
                arg_ready_fd = safe_close(arg_ready_fd);
        }

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = arg_control_fd, .events = POLLIN },
                        { .fd = pidfd, .events = POLLIN },
                };

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "poll: %m");
                }
                if (p[1].revents) {
                        siginfo_t si = {};

                        if (waitid(P_PIDFD, (id_t) pidfd, &si, WEXITED) < 0)
                                return log_error_errno(errno, "waitid(virtiofsd): %m");
                        if (si.si_code == CLD_EXITED && si.si_status == 0) {
                                log_info("virtiofsd exited.");
                                return 0;
                        }
                        return log_error_errno(
                                SYNTHETIC_ERRNO(ECHILD), "virtiofsd (pid %d) %s %d.", (int) pid,
                                si.si_code == CLD_EXITED ? "exited with status" : "was killed by signal",
                                si.si_status);
                }
                if (p[0].revents) {
                        _cleanup_close_ int fd = accept4(arg_control_fd, NULL, NULL, SOCK_CLOEXEC);

                        if (fd >= 0)
                                serve_connection(fd);
                }
        }
}

DEFINE_MAIN_FUNCTION(run);
