/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The session's process from fork (or lxc attach) to exec: everything here runs in the child. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gui-env.h"
#include "macro.h"
#include "string-util.h"
#include "vshd.h"

#define GROUPS_MAX 256
/* HOME, USER, LOGNAME, SHELL, PATH, XDG_RUNTIME_DIR and the GUI list (gui-env.h) */
#define ENV_BASE 24

static bool isempty(const char *s) {
        return !s || !*s;
}

static int copy_passwd(const struct passwd *pw, struct passwd *ret, char *buf, size_t buf_size) {
        size_t a = strlen(pw->pw_name) + 1, b = strlen(pw->pw_dir) + 1, c = strlen(pw->pw_shell) + 1;

        /* The next fgetpwent() overwrites the strings. */
        if (a + b + c > buf_size)
                return -ENAMETOOLONG;
        *ret = *pw;
        ret->pw_name = memcpy(buf, pw->pw_name, a);
        ret->pw_dir = memcpy(buf + a, pw->pw_dir, b);
        ret->pw_shell = memcpy(buf + a + b, pw->pw_shell, c);
        ret->pw_passwd = (char *) "x";
        ret->pw_gecos = (char *) "";
        return 0;
}

int vshd_lookup_user(
        const char *path,
        const char *name,
        bool prefer_1000,
        uid_t fallback_uid,
        struct passwd *ret,
        char *buf,
        size_t buf_size) {
        _cleanup_fclose_ FILE *f = NULL;
        struct passwd *pw;
        bool have = false;
        int r;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        while ((pw = fgetpwent(f))) {
                if (!pw->pw_name || !pw->pw_dir || !pw->pw_shell)
                        continue;
                if (!isempty(name)) {
                        if (streq(pw->pw_name, name))
                                return copy_passwd(pw, ret, buf, buf_size);
                        continue;
                }
                if (prefer_1000 && pw->pw_uid == 1000)
                        return copy_passwd(pw, ret, buf, buf_size);
                if (pw->pw_uid == fallback_uid && !have) {
                        r = copy_passwd(pw, ret, buf, buf_size);
                        if (r < 0)
                                return r;
                        have = true;
                        if (!prefer_1000)
                                return 0;
                }
        }
        return have ? 0 : -ESRCH;
}

_noreturn_ _printf_(2, 3) static void fail(const VshdExec *x, const char *format, ...) {
        char msg[VSHD_ERROR_MAX];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        /* The session turns this into a FAILED response; when the pipe did not survive (liblxc
         * closed it), the user still sees it on stderr. */
        if (x->error_fd < 0 || write(x->error_fd, msg, strlen(msg)) < 0)
                (void) dprintf(STDERR_FILENO, "vshd: %s\r\n", msg);
        _exit(127);
}

static int user_groups(const char *user, gid_t primary, gid_t *list, size_t max) {
        _cleanup_fclose_ FILE *f = NULL;
        struct group *g;
        size_t n = 0;

        list[n++] = primary;
        f = fopen("/etc/group", "re");
        if (!f)
                return (int) n;
        while ((g = fgetgrent(f)) && n < max) {
                if (g->gr_gid == primary || !g->gr_mem)
                        continue;
                for (char **m = g->gr_mem; *m; m++)
                        if (streq(*m, user)) {
                                list[n++] = g->gr_gid;
                                break;
                        }
        }
        return (int) n;
}

static const char *setup_env_get(const VshSetup *s, const char *key) {
        size_t l = strlen(key);

        /* The last one wins, as in the environment built below. */
        for (size_t i = s->n_env; i > 0; i--)
                if (strneq(s->env[i - 1], key, l) && s->env[i - 1][l] == '=')
                        return s->env[i - 1];
        return NULL;
}

static void env_put(char **env, size_t *n, char *entry) {
        const char *eq = strchr(entry, '=');
        size_t l = eq ? (size_t) (eq - entry) + 1 : strlen(entry);

        for (size_t i = 0; i < *n; i++)
                if (strneq(env[i], entry, l)) {
                        env[i] = entry;
                        return;
                }
        env[(*n)++] = entry;
}

/* The user vshd picks when none is named (uid 1000, else root): garcon's, so sommelier's. */
static bool is_default_user(const VshSetup *s, const struct passwd *pw) {
        char buf[8192];
        struct passwd def;

        if (isempty(s->user))
                return true;
        return vshd_lookup_user("/etc/passwd", NULL, true, 0, &def, buf, sizeof(buf)) >= 0 &&
               def.pw_uid == pw->pw_uid;
}

_noreturn_ void vshd_exec_child(const VshdExec *x) {
        const VshSetup *s = x->setup;
        char pwbuf[8192], home[4200], user[64], logname[64], shell[4200], argv0[256];
        char runtime_dir[GUI_RUNTIME_DIR_MAX], runtime_env[GUI_RUNTIME_DIR_MAX + 32];
        const char *path;
        char *env[ENV_BASE + PROTO_ARGV_MAX + 1], *argv[PROTO_ARGV_MAX + 1];
        struct passwd pw;
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t none;
        size_t n_env = 0;
        int r;

        /* Nothing of the session's signal setup may leak into the user's process. */
        for (int sig = 1; sig < _NSIG; sig++)
                (void) sigaction(sig, &sa, NULL);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);

        /* liblxc's attach has already put stdio on 0-2 (and closed the originals). */
        for (int i = 0; i < 3 && !x->in_container; i++)
                if (x->stdio[i] != i && dup2(x->stdio[i], i) < 0)
                        fail(x, "cannot set up stdio: %s", strerror(errno));
        if (setsid() < 0 && errno != EPERM)
                fail(x, "setsid: %s", strerror(errno));
        if (x->tty && ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0)
                fail(x, "cannot make the pty the controlling terminal: %s", strerror(errno));

        r = vshd_lookup_user(
                "/etc/passwd", s->user, x->in_container, x->in_container ? 0 : getuid(), &pw, pwbuf,
                sizeof(pwbuf));
        if (r == -ESRCH) {
                if (isempty(s->user))
                        fail(x, "no default user (no uid 1000 or 0) in /etc/passwd");
                if (x->in_container)
                        fail(x, "no such user '%s' in container '%s'", s->user, s->container);
                fail(x, "no such user '%s' in the VM", s->user);
        }
        if (r < 0)
                fail(x, "cannot read /etc/passwd: %s", strerror(-r));

        /* A container's pty is its root's until here (vshd_spawn_container()); liblxc's attach
         * has made it 0600. Now the user's, with the group devpts gave it (tty) and mode 0620, as
         * login does. A pty from the VM's devpts stays as it is. */
        if (x->tty && x->in_container && geteuid() == 0 &&
            (fchown(STDIN_FILENO, pw.pw_uid, (gid_t) -1) < 0 || fchmod(STDIN_FILENO, 0620) < 0))
                fail(x, "cannot give the pty to '%s': %s", pw.pw_name, strerror(errno));

        if (geteuid() == 0) {
                gid_t groups[GROUPS_MAX];
                int n = user_groups(pw.pw_name, pw.pw_gid, groups, ELEMENTSOF(groups));

                if (setgroups((size_t) n, groups) < 0 && errno != EPERM)
                        fail(x, "setgroups: %s", strerror(errno));
                if (setgid(pw.pw_gid) < 0)
                        fail(x, "setgid(%u): %s", (unsigned) pw.pw_gid, strerror(errno));
                if (setuid(pw.pw_uid) < 0)
                        fail(x, "setuid(%u): %s", (unsigned) pw.pw_uid, strerror(errno));
        } else if (pw.pw_uid != getuid())
                fail(x, "cannot run as '%s': vshd is not root", pw.pw_name);

        if (!isempty(s->cwd)) {
                if (chdir(s->cwd) < 0)
                        fail(x, "cannot change directory to %s: %s", s->cwd, strerror(errno));
        } else if (chdir(pw.pw_dir) < 0)
                if (chdir("/") < 0)
                        fail(x, "cannot change directory to /: %s", strerror(errno));

        path = pw.pw_uid == 0 ? "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                              : "PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games";
        (void) snprintf(home, sizeof(home), "HOME=%s", pw.pw_dir);
        (void) snprintf(user, sizeof(user), "USER=%s", pw.pw_name);
        (void) snprintf(logname, sizeof(logname), "LOGNAME=%s", pw.pw_name);
        (void) snprintf(shell, sizeof(shell), "SHELL=%s", isempty(pw.pw_shell) ? "/bin/sh" : pw.pw_shell);
        env[n_env++] = home;
        env[n_env++] = user;
        env[n_env++] = logname;
        env[n_env++] = shell;
        env[n_env++] = (char *) path;
        /* vsh sessions bypass PAM: the runtime directory systemd or bistro-init made for the user
         * (only root can make it, so it is theirs when they own it) and, for the default user
         * (whose garcon runs sommelier), the GUI list. The session's own variables still win. */
        gui_runtime_dir(pw.pw_uid, runtime_dir);
        /* Right after the container starts the directory may not be there yet (systemd's
         * user-runtime-dir makes it moments later): the default user's session gets it anyway, or a
         * terminal opened at once could never show a window. */
        if (x->in_container &&
            (gui_runtime_dir_is_users(runtime_dir, pw.pw_uid) ||
             (is_default_user(s, &pw) && access(runtime_dir, F_OK) < 0 && errno == ENOENT))) {
                (void) snprintf(runtime_env, sizeof(runtime_env), "XDG_RUNTIME_DIR=%s", runtime_dir);
                env[n_env++] = runtime_env;
                if (is_default_user(s, &pw))
                        for (const char *const *e = gui_env; *e && n_env < ENV_BASE; e++)
                                env[n_env++] = (char *) *e;
        }
        for (size_t i = 0; i < s->n_env; i++)
                env_put(env, &n_env, s->env[i]);
        env[n_env] = NULL;
        path = setup_env_get(s, "PATH") ?: path;

        if (s->n_argv > 0) {
                /* protobuf-c's arrays are not NULL-terminated. */
                for (size_t i = 0; i < s->n_argv && i < PROTO_ARGV_MAX; i++)
                        argv[i] = s->argv[i];
                argv[MIN(s->n_argv, (size_t) PROTO_ARGV_MAX)] = NULL;
        } else {
                const char *sh = isempty(pw.pw_shell) ? "/bin/sh" : pw.pw_shell, *base = strrchr(sh, '/');

                (void) snprintf(argv0, sizeof(argv0), "-%s", base ? base + 1 : sh);
                argv[0] = argv0;
                argv[1] = NULL;
                (void) execve(sh, argv, env);
                fail(x, "cannot execute the login shell %s: %s", sh, strerror(errno));
        }
        /* execvpe() searches the caller's PATH: make it the session's. */
        (void) setenv("PATH", path + strlen("PATH="), 1);
        (void) execvpe(argv[0], argv, env);
        fail(x, "cannot execute %s: %s", argv[0], strerror(errno));
}
