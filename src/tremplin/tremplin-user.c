/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <lxc/attach_options.h>
#include <lxc/lxccontainer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "fileio.h"
#include "log.h"
#include "proto-validate.h"
#include "spawn-util.h"
#include "string-util.h"
#include "tremplin-error.h"
#include "tremplin-user.h"

#define USER_SETUP_TIMEOUT_USEC (120 * USEC_PER_SEC)
#define USER_TOOL_TIMEOUT_USEC (60 * USEC_PER_SEC)
#define USER_TOOL_OUTPUT_MAX 2048u
#define USER_MSG_MAX 3072u
#define EXIT_USER_CREATED 10
#define EXIT_USER_SYSTEM 11

/* The field-th (0-based) ':'-separated field of the line [p, end) into buf; false when missing or
 * longer than size-1. */
static bool line_field(const char *p, const char *end, unsigned field, char *buf, size_t size) {
        for (unsigned i = 0; i < field; i++) {
                const char *c = memchr(p, ':', (size_t) (end - p));

                if (!c)
                        return false;
                p = c + 1;
        }
        const char *c = memchr(p, ':', (size_t) (end - p));
        size_t len = (size_t) ((c ? c : end) - p);

        if (len >= size)
                return false;
        memcpy(buf, p, len);
        buf[len] = 0;
        return true;
}

/* Calls cb for each line with its name and third field (uid or gid); stops when cb returns
 * non-zero and returns that. */
static int db_foreach(const char *text, int (*cb)(const char *name, const char *id, void *u), void *u) {
        for (const char *p = text ?: ""; *p;) {
                const char *nl = strchr(p, '\n');
                const char *end = nl ?: p + strlen(p);
                char name[256], id[16];

                if (line_field(p, end, 0, name, sizeof(name)) && line_field(p, end, 2, id, sizeof(id))) {
                        int r = cb(name, id, u);

                        if (r != 0)
                                return r;
                }
                p = nl ? nl + 1 : end;
        }
        return 0;
}

typedef struct FindArgs {
        const char *name;
        uint32_t uid;
        bool found;
} FindArgs;

static int find_name_cb(const char *name, const char *id, void *u) {
        FindArgs *a = u;
        uint32_t v;

        if (!streq(name, a->name))
                return 0;
        /* A matching name with a junk uid: treat it as taken by something we do not understand. */
        a->uid = safe_atou32(id, &v) >= 0 ? v : UINT32_MAX;
        a->found = true;
        return 1;
}

int user_db_find(const char *text, const char *name, uint32_t *ret_uid) {
        FindArgs a = { .name = name };

        (void) db_foreach(text, find_name_cb, &a);
        if (!a.found)
                return 0;
        if (ret_uid)
                *ret_uid = a.uid;
        return 1;
}

static int find_uid_cb(const char *name, const char *id, void *u) {
        uint32_t v;

        return safe_atou32(id, &v) >= 0 && v == *(uint32_t *) u;
}

bool user_db_uid_taken(const char *text, uint32_t uid) {
        return db_foreach(text, find_uid_cb, &uid) != 0;
}

static int find_group_cb(const char *name, const char *id, void *u) {
        return streq(name, (const char *) u);
}

bool group_db_has(const char *text, const char *name) {
        return db_foreach(text, find_group_cb, (void *) name) != 0;
}

int user_plan(
        const char *passwd,
        const char *group,
        const char *user,
        uint32_t want_uid,
        bool have_bash,
        UserPlan *ret) {
        uint32_t uid;

        if (!user || !proto_user_ok(user) || streq(user, "root") || !ret)
                return -EINVAL;
        if (want_uid != 0 && (want_uid < USER_UID_MIN || want_uid >= USER_UID_END))
                return -EINVAL;
        if (user_db_find(passwd, user, &uid) > 0) {
                if (uid < USER_UID_MIN || uid >= USER_UID_END)
                        return -EEXIST;
                *ret = (UserPlan){ .action = USER_EXISTS, .uid = uid };
                return 0;
        }
        if (want_uid == 0)
                want_uid = USER_UID_DEFAULT;
        *ret = (UserPlan){
                .action = USER_CREATE,
                .uid = user_db_uid_taken(passwd, want_uid) ? 0 : want_uid,
                .bash = have_bash,
                .sudo_group = group_db_has(group, "sudo"),
        };
        return 0;
}

/* ---- inside the container (attached: its namespaces, its root) ---- */

typedef struct SetupArgs {
        const char *user;
        uint32_t uid;
        int msg_fd;
} SetupArgs;

static void child_message(const SetupArgs *a, const char *fmt, ...) _printf_(2, 3);
static void child_message(const SetupArgs *a, const char *fmt, ...) {
        char buf[USER_MSG_MAX];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n > 0)
                (void) loop_write(a->msg_fd, buf, MIN((size_t) n, sizeof(buf) - 1));
}

static bool is_executable(const char *path) {
        struct stat st;

        return stat(path, &st) >= 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

static const char *first_executable(const char *const *paths) {
        for (; *paths; paths++)
                if (is_executable(*paths))
                        return *paths;
        return NULL;
}

/* Runs argv with a bound; on failure reports it (with the tool's output) and returns -1. */
static int run_tool(const SetupArgs *a, char *const *argv) {
        static char *const envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *) "LC_ALL=C",
                                      NULL };
        _cleanup_free_ char *out = NULL;
        int r;

        r = spawn_capture(
                argv,
                &(SpawnOptions){ .stdin_fd = -1,
                                 .stdout_fd = -1,
                                 .merge_stderr = true,
                                 .timeout = USER_TOOL_TIMEOUT_USEC,
                                 .max_output = USER_TOOL_OUTPUT_MAX,
                                 .envp = envp },
                &out);
        if (r == 0)
                return 0;
        if (r < 0)
                child_message(a, "running %s failed: %s", argv[0], strerror(-r));
        else
                child_message(
                        a, "%s failed (exit status %d)%s%s", argv[0], r, out && out[0] ? ": " : "",
                        out ?: "");
        return -1;
}

static int setup_child(void *payload) {
        static const char *const useradd_paths[] = { "/usr/sbin/useradd", "/sbin/useradd", NULL };
        static const char *const passwd_paths[] = { "/usr/bin/passwd", "/bin/passwd", NULL };
        static const char *const busybox_paths[] = { "/bin/busybox", "/usr/bin/busybox", NULL };
        const SetupArgs *a = payload;
        _cleanup_free_ char *passwd = NULL, *group = NULL, *sudoers = NULL;
        const char *useradd, *passwd_tool, *busybox = NULL;
        char uidbuf[16], sudoers_path[64];
        UserPlan plan;
        struct stat st;
        int r;

        r = read_file("/etc/passwd", USER_DB_MAX, &passwd, NULL);
        if (r < 0 && r != -ENOENT) {
                child_message(a, "cannot read /etc/passwd: %s", strerror(-r));
                return 1;
        }
        r = read_file("/etc/group", USER_DB_MAX, &group, NULL);
        if (r < 0 && r != -ENOENT) {
                child_message(a, "cannot read /etc/group: %s", strerror(-r));
                return 1;
        }
        r = user_plan(passwd, group, a->user, a->uid, is_executable("/bin/bash"), &plan);
        if (r == -EEXIST) {
                child_message(
                        a, "%s is a system account (uid below %u or from %u)", a->user, USER_UID_MIN,
                        USER_UID_END);
                return EXIT_USER_SYSTEM;
        }
        if (r < 0) {
                child_message(a, "cannot set up user %s: %s", a->user, strerror(-r));
                return 1;
        }
        if (plan.action == USER_EXISTS)
                return 0;

        (void) snprintf(uidbuf, sizeof(uidbuf), "%u", plan.uid);
        useradd = first_executable(useradd_paths);
        if (!useradd)
                busybox = first_executable(busybox_paths);
        if (useradd) {
                char *argv[16];
                size_t n = 0;

                argv[n++] = (char *) useradd;
                argv[n++] = (char *) "-m";
                argv[n++] = (char *) "-s";
                argv[n++] = (char *) (plan.bash ? "/bin/bash" : "/bin/sh");
                if (plan.uid != 0) {
                        argv[n++] = (char *) "-u";
                        argv[n++] = uidbuf;
                }
                if (plan.sudo_group) {
                        argv[n++] = (char *) "-G";
                        argv[n++] = (char *) "sudo";
                }
                argv[n++] = (char *) "-c";
                argv[n++] = (char *) a->user;
                argv[n++] = (char *) "--";
                argv[n++] = (char *) a->user;
                argv[n] = NULL;
                if (run_tool(a, argv) < 0)
                        return 1;
        } else if (busybox) {
                char *argv[16];
                size_t n = 0;

                argv[n++] = (char *) busybox;
                argv[n++] = (char *) "adduser";
                argv[n++] = (char *) "-D";
                argv[n++] = (char *) "-s";
                argv[n++] = (char *) (plan.bash ? "/bin/bash" : "/bin/sh");
                argv[n++] = (char *) "-g";
                argv[n++] = (char *) a->user;
                if (plan.uid != 0) {
                        argv[n++] = (char *) "-u";
                        argv[n++] = uidbuf;
                }
                argv[n++] = (char *) a->user;
                argv[n] = NULL;
                if (run_tool(a, argv) < 0)
                        return 1;
                if (plan.sudo_group) {
                        char *g[] = { (char *) busybox, (char *) "addgroup", (char *) a->user,
                                      (char *) "sudo", NULL };

                        if (run_tool(a, g) < 0)
                                return 1;
                }
        } else {
                child_message(a, "the container has no useradd (nor busybox) to create user %s", a->user);
                return 1;
        }

        /* No password (like Crostini's): the user logs in through vsh only. */
        passwd_tool = first_executable(passwd_paths);
        if (passwd_tool) {
                char *argv[] = { (char *) passwd_tool, (char *) "-d", (char *) a->user, NULL };

                if (run_tool(a, argv) < 0)
                        return 1;
        } else if (busybox) {
                char *argv[] = { (char *) busybox, (char *) "passwd", (char *) "-d", (char *) a->user,
                                 NULL };

                if (run_tool(a, argv) < 0)
                        return 1;
        }

        /* sudo without a password, when sudo is installed. */
        if (stat("/etc/sudoers.d", &st) >= 0 && S_ISDIR(st.st_mode)) {
                (void) snprintf(sudoers_path, sizeof(sudoers_path), "/etc/sudoers.d/bistro-%s", a->user);
                if (asprintf(&sudoers, "%s ALL=(ALL) NOPASSWD:ALL\n", a->user) < 0) {
                        child_message(a, "out of memory");
                        return 1;
                }
                r = write_string_file(
                        sudoers_path, sudoers, WRITE_STRING_FILE_CREATE | WRITE_STRING_FILE_NOFOLLOW);
                if (r >= 0 && chmod(sudoers_path, 0440) < 0)
                        r = -errno;
                if (r < 0) {
                        child_message(a, "cannot write %s: %s", sudoers_path, strerror(-r));
                        return 1;
                }
        }
        return EXIT_USER_CREATED;
}

int container_ensure_user(
        struct lxc_container *c, const char *user, uint32_t uid, bool *ret_created, char **reterr_message) {
        lxc_attach_options_t opts = LXC_ATTACH_OPTIONS_DEFAULT;
        _cleanup_close_ int msg_r = -EBADF, msg_w = -EBADF;
        char msg[USER_MSG_MAX] = "";
        SetupArgs a = { .user = user, .uid = uid };
        pid_t pid = -1;
        ssize_t n;
        int p[2], r;

        if (pipe2(p, O_CLOEXEC) < 0)
                return set_error_message(reterr_message, -errno, "cannot create a pipe: %m");
        msg_r = p[0];
        msg_w = p[1];
        a.msg_fd = msg_w;
        opts.env_policy = LXC_ATTACH_CLEAR_ENV;
        /* The message pipe must survive into the attached process; liblxc closes nothing it is not
         * told to, and the write end is close-on-exec only. */
        r = c->attach(c, setup_child, &a, &opts, &pid);
        msg_w = safe_close(msg_w);
        if (r < 0 || pid <= 0)
                return set_error_message(
                        reterr_message, -EIO, "cannot attach to the container to set up user %s", user);
        r = wait_for_terminate_timeout(pid, USER_SETUP_TIMEOUT_USEC);
        /* Every writer is gone now: this read cannot block for long. */
        (void) fd_nonblock(msg_r, true);
        n = loop_read(msg_r, msg, sizeof(msg) - 1);
        msg[n > 0 ? (size_t) n : 0] = 0;
        if (r == -ETIMEDOUT)
                return set_error_message(
                        reterr_message, r, "setting up user %s did not finish within %llu s", user,
                        (unsigned long long) (USER_SETUP_TIMEOUT_USEC / USEC_PER_SEC));
        if (r < 0)
                return set_error_message(
                        reterr_message, r, "waiting for the user setup failed: %s", strerror(-r));
        if (r == 0 || r == EXIT_USER_CREATED) {
                *ret_created = r == EXIT_USER_CREATED;
                return 0;
        }
        if (r == EXIT_USER_SYSTEM)
                return set_error_message(
                        reterr_message, -EEXIST, "%s; pick another user name",
                        msg[0] ? msg : "the user is a system account");
        return set_error_message(
                reterr_message, -EIO, "setting up user %s failed: %s", user,
                msg[0] ? msg : "no reason given (see the VM log)");
}
