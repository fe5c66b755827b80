/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seccomp.h>
#include <sys/socket.h>

#include "chunneld.h"
#include "log.h"
#include "macro.h"
#include "sandbox.h"

/* After start-up: the event loop (its timerfds and signalfd exist already), loopback listeners,
 * hybrid vsock connections, logging. */
static const int allowed_syscalls[] = {
        SCMP_SYS(accept4),         SCMP_SYS(bind),         SCMP_SYS(brk),        SCMP_SYS(clock_gettime),
        SCMP_SYS(close),           SCMP_SYS(connect),      SCMP_SYS(epoll_ctl),  SCMP_SYS(epoll_pwait),
        SCMP_SYS(epoll_wait),      SCMP_SYS(exit),         SCMP_SYS(exit_group), SCMP_SYS(fcntl),
        SCMP_SYS(fstat),           SCMP_SYS(getpid),       SCMP_SYS(getrandom),  SCMP_SYS(getsockname),
        SCMP_SYS(getpeername),     SCMP_SYS(getsockopt),   SCMP_SYS(gettid),     SCMP_SYS(getuid),
        SCMP_SYS(geteuid),         SCMP_SYS(gettimeofday), SCMP_SYS(listen),     SCMP_SYS(madvise),
        SCMP_SYS(mremap),          SCMP_SYS(munmap),       SCMP_SYS(newfstatat), SCMP_SYS(read),
        SCMP_SYS(readv),           SCMP_SYS(recvfrom),     SCMP_SYS(recvmsg),    SCMP_SYS(restart_syscall),
        SCMP_SYS(rt_sigprocmask),  SCMP_SYS(rt_sigreturn), SCMP_SYS(sendmsg),    SCMP_SYS(sendto),
        SCMP_SYS(setsockopt),      SCMP_SYS(shutdown),     SCMP_SYS(signalfd4),  SCMP_SYS(timerfd_settime),
        SCMP_SYS(timerfd_gettime), SCMP_SYS(write),        SCMP_SYS(writev),
};
static const int allowed_families[] = { AF_UNIX, AF_INET, AF_INET6 };

int chunneld_sandbox_enter(const char *dir) {
        /* The host's network namespace: chunneld binds the host's loopback. Relative paths from here
         * on ("vsock.sock"): the runtime dir is the working directory. */
        const SandboxOptions o = {
                .dir = dir,
                .inner_dir = "/vm",
                .keep_network = true,
                .chdir_inner = true,
                .syscalls = allowed_syscalls,
                .n_syscalls = ELEMENTSOF(allowed_syscalls),
                .socket_families = allowed_families,
                .n_socket_families = ELEMENTSOF(allowed_families),
        };
        _cleanup_free_ char *msg = NULL;
        int r;

        r = sandbox_enter(&o, &msg);
        if (r < 0)
                return log_error_errno(r, "sandbox: %s: %m", msg ?: "setting up failed");
        return 0;
}
