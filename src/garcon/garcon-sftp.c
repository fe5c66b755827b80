/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "garcon-sftp.h"
#include "macro.h"
#include "spawn-util.h"
#include "string-util.h"
#include "time-util.h"

#define START_TIMEOUT_MS 5000
#define CHDIR_FAILED 100000 /* an errno past this is the chdir's, not the exec's */

/* Debian and Ubuntu; Arch; Alpine (openssh-sftp-server); Fedora and openSUSE. */
static const char *const sftp_servers[] = {
        "/usr/lib/openssh/sftp-server",
        "/usr/lib/sftp-server",
        "/usr/libexec/sftp-server",
        "/usr/libexec/openssh/sftp-server",
};

int garcon_sftp_find_server(const char **ret) {
        for (size_t i = 0; i < ELEMENTSOF(sftp_servers); i++) {
                struct stat st;

                if (stat(sftp_servers[i], &st) >= 0 && S_ISREG(st.st_mode) &&
                    access(sftp_servers[i], X_OK) >= 0) {
                        *ret = sftp_servers[i];
                        return 0;
                }
        }
        return -ENOENT;
}

/* name=value from our environment, or NULL when unset or not a plain value. */
static char *env_copy(const char *name) {
        const char *v = getenv(name);
        char *s = NULL;

        if (!v || !v[0] || strchr(v, '\n'))
                return NULL;
        if (asprintf(&s, "%s=%s", name, v) < 0)
                return NULL;
        return s;
}

int garcon_sftp_start(int fd, char **reterr) {
        _cleanup_free_ char *home = NULL, *user = NULL, *logname = NULL;
        _cleanup_close_ int err_fd = -EBADF;
        const char *server, *dir = getenv("HOME");
        int p[2], r, child_err = 0;
        pid_t pid;
        ssize_t n;

        /* root in the container is root over all its files: "Linux files" are the user's files. */
        if (getuid() == 0 || geteuid() == 0)
                return set_error_message(
                        reterr, -EPERM,
                        "garcon runs as root: files are served only as the container's user");
        r = garcon_sftp_find_server(&server);
        if (r < 0)
                return set_error_message(
                        reterr, r, "the container has no sftp-server (install openssh-sftp-server)");
        if (!dir || dir[0] != '/')
                return set_error_message(reterr, -ENOENT, "garcon has no home directory ($HOME)");
        home = env_copy("HOME");
        user = env_copy("USER");
        logname = env_copy("LOGNAME");
        if (!home)
                return set_error_message(reterr, -ENOMEM, "out of memory");
        char *envp[5] = { (char *) "PATH=/usr/local/bin:/usr/bin:/bin", home }, **e = envp + 2;
        if (user)
                *e++ = user;
        if (logname)
                *e++ = logname;
        *e = NULL;

        r = fd_nonblock(fd, false);
        if (r < 0)
                return set_error_message(reterr, r, "cannot make the connection blocking: %m");
        err_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        if (pipe2(p, O_CLOEXEC) < 0)
                return set_error_message(reterr, -errno, "pipe2(): %m");
        int keep[] = { fd, p[1], err_fd };
        r = safe_fork_full(
                "sftp-server", FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_NEW_SESSION | FORK_NULL_STDIO,
                keep, err_fd >= 0 ? 3 : 2, &pid);
        if (r < 0) {
                safe_close(p[0]);
                safe_close(p[1]);
                return set_error_message(reterr, r, "fork: %m");
        }
        if (r == 0) {
                char *argv[] = { (char *) server, NULL };

                if (dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
                    (err_fd >= 0 && dup2(err_fd, STDERR_FILENO) < 0)) {
                        child_err = -errno;
                        (void) !write(p[1], &child_err, sizeof(child_err));
                        _exit(127);
                }
                if (chdir(dir) < 0) {
                        child_err = -errno - CHDIR_FAILED;
                        (void) !write(p[1], &child_err, sizeof(child_err));
                        _exit(127);
                }
                execve(server, argv, envp);
                child_err = -errno;
                (void) !write(p[1], &child_err, sizeof(child_err));
                _exit(127);
        }
        safe_close(p[1]);
        /* The CLOEXEC pipe closes at the exec: EOF means it runs. */
        r = fd_wait_until(p[0], POLLIN, (int64_t) now_msec(CLOCK_MONOTONIC) + START_TIMEOUT_MS);
        if (r < 0) {
                safe_close(p[0]);
                return set_error_message(reterr, r, "%s did not start: %m", server);
        }
        n = read(p[0], &child_err, sizeof(child_err));
        safe_close(p[0]);
        if (n == sizeof(child_err) && child_err <= -CHDIR_FAILED)
                return set_error_message(
                        reterr, child_err + CHDIR_FAILED, "cannot change to the home directory %s: %m", dir);
        if (n == sizeof(child_err) && child_err < 0)
                return set_error_message(reterr, child_err, "cannot run %s: %m", server);
        return (int) pid;
}
