/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "listen-fds.h"
#include "macro.h"
#include "string-util.h"

static void unset_environment(void) {
        (void) unsetenv("LISTEN_PID");
        (void) unsetenv("LISTEN_FDS");
        (void) unsetenv("LISTEN_FDNAMES");
}

/* How many fds were passed to us: 0 when the variables are unset or meant for another process. */
static int listen_fds_count(uint32_t *ret, char **reterr_message) {
        const char *e_pid = getenv("LISTEN_PID"), *e_fds = getenv("LISTEN_FDS");
        uint32_t pid, n;

        if (!e_pid || !e_fds) {
                *ret = 0;
                return 0;
        }
        if (safe_atou32(e_pid, &pid) < 0 || pid == 0)
                return set_error_message(reterr_message, -EINVAL, "LISTEN_PID='%s' is not a pid", e_pid);
        if (safe_atou32(e_fds, &n) < 0)
                return set_error_message(reterr_message, -EINVAL, "LISTEN_FDS='%s' is not a number", e_fds);
        /* systemd's rule: fds passed to another process (our parent, say) are not ours. */
        *ret = (pid_t) pid == getpid() ? n : 0;
        return 0;
}

/* fd is a listening SOCK_STREAM socket of family, on vsock port when family is AF_VSOCK. */
static int listener_check(int fd, int family, uint32_t port, char **reterr_message) {
        struct sockaddr_vm sa = {};
        socklen_t len = sizeof(int), salen = sizeof(sa);
        int domain = 0, type = 0, listening = 0;

        if (fcntl(fd, F_GETFD) < 0)
                return set_error_message(reterr_message, -EBADF, "fd %d is not open", fd);
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
                return set_error_message(
                        reterr_message, errno == ENOTSOCK ? -ENOTSOCK : negative_errno(),
                        "fd %d is not a socket", fd);
        if (domain != family)
                return set_error_message(
                        reterr_message, -EAFNOSUPPORT, "fd %d is a socket of family %d, not %s", fd, domain,
                        family == AF_VSOCK ? "AF_VSOCK" : "AF_UNIX");
        len = sizeof(int);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
                return set_error_message(
                        reterr_message, -ESOCKTNOSUPPORT, "fd %d is a socket of type %d, not SOCK_STREAM",
                        fd, type);
        len = sizeof(int);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening)
                return set_error_message(
                        reterr_message, -EINVAL, "fd %d is a socket that is not listening", fd);
        if (family != AF_VSOCK)
                return 0;
        if (getsockname(fd, (struct sockaddr *) &sa, &salen) < 0)
                return set_error_message(
                        reterr_message, negative_errno(), "getsockname() on fd %d failed", fd);
        if (sa.svm_port != port)
                return set_error_message(
                        reterr_message, -EADDRNOTAVAIL, "fd %d listens on vsock port %u, not %u", fd,
                        (unsigned) sa.svm_port, (unsigned) port);
        return 0;
}

static int listen_fd_take(int family, uint32_t port, int *ret_fd, char **reterr_message) {
        uint32_t n = 0;
        int r;

        r = listen_fds_count(&n, reterr_message);
        unset_environment();
        if (r < 0)
                return r;
        if (n == 0)
                return 0;
        if (n != 1)
                return set_error_message(
                        reterr_message, -E2BIG, "LISTEN_FDS=%u, expected one listener", (unsigned) n);
        r = listener_check(LISTEN_FDS_START, family, port, reterr_message);
        if (r < 0)
                return r;
        /* Passed inheritable; nothing we start may inherit it. */
        r = fd_cloexec(LISTEN_FDS_START, true);
        if (r < 0)
                return set_error_message(
                        reterr_message, r, "Cannot make fd %d close-on-exec", LISTEN_FDS_START);
        *ret_fd = LISTEN_FDS_START;
        return 1;
}

int listen_fd_take_vsock(uint32_t port, int *ret_fd, char **reterr_message) {
        return listen_fd_take(AF_VSOCK, port, ret_fd, reterr_message);
}

int listen_fd_take_unix(int *ret_fd, char **reterr_message) {
        return listen_fd_take(AF_UNIX, 0, ret_fd, reterr_message);
}
