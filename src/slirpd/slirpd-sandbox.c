/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "log.h"
#include "macro.h"
#include "sandbox.h"
#include "slirpd.h"

/* After slirp_new(), derived with strace from test/integration/test_slirpd.py (TCP, UDP, ICMP echo
 * through a ping socket, IPv4 and IPv6, DNS through a loopback resolver, EOF, SIGTERM):
 *   the loop: poll, read (QEMU), sendto (QEMU, and libslirp's send() on TCP), getpid + writev (log.c);
 *   libslirp's sockets: socket (families below), fcntl (O_NONBLOCK), setsockopt, getsockopt (SO_ERROR of
 *   a connect in progress), connect, recvfrom, recvmsg (MSG_ERRQUEUE of UDP sockets), ioctl (FIONREAD,
 *   below), getpeername, shutdown (half-close), close;
 *   /etc/resolv.conf at the first DNS query, and again when it changed: openat, newfstatat, read, close;
 *   malloc: mmap/munmap (PROT_EXEC is refused by sandbox.c whatever this list says);
 *   the end: exit_group.
 * Not seen in those runs but on paths that are legitimate: brk, mremap and madvise (malloc growing,
 * reallocating and trimming: libslirp's socket buffers are 128 KiB and up), lseek (fclose() of
 * resolv.conf before its end: libslirp stops after 4 nameservers), futex (glib's locks), write
 * (stdio, abort messages), rt_sigprocmask and rt_sigreturn (abort(), signals), clock_gettime and
 * gettimeofday (when the vDSO is not used), restart_syscall, exit. */
static const int allowed_syscalls[] = {
        SCMP_SYS(brk),
        SCMP_SYS(clock_gettime),
        SCMP_SYS(close),
        SCMP_SYS(connect),
        SCMP_SYS(exit),
        SCMP_SYS(exit_group),
        SCMP_SYS(fcntl),
        SCMP_SYS(futex),
        SCMP_SYS(getpeername),
        SCMP_SYS(getpid),
        SCMP_SYS(getsockopt),
        SCMP_SYS(gettimeofday),
        SCMP_SYS(lseek),
        SCMP_SYS(madvise),
        SCMP_SYS(mremap),
        SCMP_SYS(munmap),
        SCMP_SYS(newfstatat),
        SCMP_SYS(openat),
        SCMP_SYS(poll),
        SCMP_SYS(read),
        SCMP_SYS(recvfrom),
        SCMP_SYS(recvmsg),
        SCMP_SYS(restart_syscall),
        SCMP_SYS(rt_sigprocmask),
        SCMP_SYS(rt_sigreturn),
        SCMP_SYS(sendto),
        SCMP_SYS(setsockopt),
        SCMP_SYS(shutdown),
        SCMP_SYS(write),
        SCMP_SYS(writev),
};
static const int allowed_families[] = { AF_INET, AF_INET6 };
/* if_nametoindex() (a "nameserver fe80::1%eth0" line in resolv.conf) tries AF_UNIX first: refused
 * with an error, it goes on to AF_INET and SIOCGIFINDEX. */
static const int refused_families[] = { AF_UNIX, AF_NETLINK };
/* FIONREAD: libslirp sizes each UDP datagram before it reads it. */
static const unsigned long allowed_ioctls[] = { FIONREAD, SIOCGIFINDEX };
static const char *const files[] = { "/etc/resolv.conf" };

int slirpd_sandbox_enter(void) {
        /* The host's network namespace: opening the guest's connections there is slirpd's job. */
        const SandboxOptions o = {
                .keep_network = true,
                .files = files,
                .n_files = ELEMENTSOF(files),
                .syscalls = allowed_syscalls,
                .n_syscalls = ELEMENTSOF(allowed_syscalls),
                .socket_families = allowed_families,
                .n_socket_families = ELEMENTSOF(allowed_families),
                .refused_socket_families = refused_families,
                .n_refused_socket_families = ELEMENTSOF(refused_families),
                .ioctls = allowed_ioctls,
                .n_ioctls = ELEMENTSOF(allowed_ioctls),
        };
        _cleanup_free_ char *msg = NULL;
        int r;

        r = sandbox_enter(&o, &msg);
        if (r < 0)
                return log_error_errno(r, "sandbox: %s: %m", msg ?: "setting up failed");
        return 0;
}
