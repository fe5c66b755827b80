/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gui-env.h"
#include "init-garcon.h"

usec_t garcon_next_backoff(usec_t previous, usec_t ran) {
        static const RestartBackoff b = {
                .min = GARCON_BACKOFF_MIN_USEC,
                .max = GARCON_BACKOFF_MAX_USEC,
                .stable = GARCON_STABLE_USEC,
        };

        return restart_backoff_next(&b, previous, ran);
}

int garcon_parse_id(const char *s, unsigned *ret) {
        unsigned long v;
        char *e;

        if (!s || !*s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &e, 10);
        if (errno != 0 || *e != 0 || v >= 0x80000000ul)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

int garcon_passwd_home(const char *passwd, unsigned uid, char *home, size_t size) {
        for (const char *p = passwd; p && *p;) {
                const char *end = strchr(p, '\n'), *f[7];
                size_t n = 0;

                if (!end)
                        end = p + strlen(p);
                f[n++] = p;
                for (const char *q = p; q < end && n < 7; q++)
                        if (*q == ':')
                                f[n++] = q + 1;
                if (n == 7) {
                        char *e;
                        unsigned long v;

                        errno = 0;
                        v = strtoul(f[2], &e, 10);
                        if (errno == 0 && e == f[3] - 1 && e > f[2] && v == uid) {
                                size_t len = (size_t) (f[6] - 1 - f[5]);

                                if (len == 0 || f[5][0] != '/' || len >= size)
                                        return 0;
                                memcpy(home, f[5], len);
                                home[len] = 0;
                                return 1;
                        }
                }
                p = *end ? end + 1 : end;
        }
        return 0;
}

static void read_home(unsigned uid, char *home, size_t size) {
        static char buf[1 << 20];
        ssize_t n = 0, k;
        int fd;

        (void) snprintf(home, size, "/");
        fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return;
        while ((size_t) n < sizeof(buf) - 1 && (k = read(fd, buf + n, sizeof(buf) - 1 - (size_t) n)) > 0)
                n += k;
        close(fd);
        buf[n] = 0;
        if (garcon_passwd_home(buf, uid, home, size) <= 0)
                (void) snprintf(home, size, "/");
}

/* The user's runtime directory, as pam_systemd makes it where systemd runs: sommelier's sockets
 * go there, and vshd tells the user's sessions about it. Only made when missing: one that exists
 * and is not the user's is refused by its users. */
static void make_runtime_dir(const char *dir, unsigned uid, unsigned gid) {
        (void) mkdir("/run/user", 0755);
        if (mkdir(dir, 0700) < 0)
                return;
        if (chown(dir, (uid_t) uid, (gid_t) gid) < 0 || chmod(dir, 0700) < 0)
                (void) rmdir(dir);
}

pid_t garcon_spawn(const char *path, unsigned uid, unsigned gid) {
        char home[GARCON_HOME_MAX], home_env[GARCON_HOME_MAX + 8];
        char runtime_dir[GUI_RUNTIME_DIR_MAX], runtime_env[GUI_RUNTIME_DIR_MAX + 32];
        sigset_t none;
        pid_t pid;

        read_home(uid, home, sizeof(home));
        pid = fork();
        if (pid != 0)
                return pid < 0 ? -errno : pid;

        /* The child: no signal blocked, its own session, the user's ids, a clean environment. */
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) setsid();
        gui_runtime_dir((uid_t) uid, runtime_dir);
        if (geteuid() == 0)
                make_runtime_dir(runtime_dir, uid, gid);
        (void) snprintf(runtime_env, sizeof(runtime_env), "XDG_RUNTIME_DIR=%s", runtime_dir);
        if (setgroups(0, NULL) < 0 && errno != EPERM)
                _exit(126);
        if (setgid((gid_t) gid) < 0 || setuid((uid_t) uid) < 0)
                _exit(126);
        if (chdir(home) < 0 && chdir("/") < 0)
                _exit(126);
        (void) snprintf(home_env, sizeof(home_env), "HOME=%s", home);
        {
                int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

                if (fd >= 0) {
                        (void) dup2(fd, STDIN_FILENO);
                        if (fd > STDERR_FILENO)
                                close(fd);
                }
        }
        char *argv[] = { (char *) path, (char *) "--server", NULL };
        char *envp[] = { home_env,
                         (char *) "PATH=/usr/local/bin:/usr/bin:/bin",
                         (char *) "XDG_DATA_DIRS=/usr/local/share:/usr/share",
                         (char *) "BROWSER=/opt/bistro/bin/bistro-open",
                         (char *) "LANG=C.UTF-8",
                         runtime_env,
                         NULL };
        execve(path, argv, envp);
        _exit(127);
}
