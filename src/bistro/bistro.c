/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bistro: the Terminal. Starts concierge when needed, the VM termina, creates the container
 * penguin from the debian image on first use, then opens a shell in it through vsh (or runs one
 * command). Exit status: 0 ok, 1 failure, 2 usage; with a command or a shell, vsh's (the remote
 * command's) exit status. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "concierge-client.h"
#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "message-type.h"
#include "proto-validate.h"
#include "string-util.h"

#define EXIT_USAGE 2
#define CALL_TIMEOUT_MS (300 * 1000)      /* silence bound of one concierge call */
#define VM_WAIT_SEC 300                   /* a VM someone else is starting or stopping */
#define VSH_SETUP_TIMEOUT_SEC 120         /* user creation, the non-interactive check */
#define IMAGE_BUILD_TIMEOUT_SEC (45 * 60) /* debootstrap */
#define DEFAULT_IMAGE "debian"

static const char *arg_vm = "termina";
static const char *arg_container = "penguin";
static const char *arg_user = NULL;
static char **arg_command = NULL;

typedef struct Progress {
        bool tty;   /* stderr is a terminal: one redrawn line */
        bool shown; /* a redrawn line is on screen */
        char stage[129];
        int last_decile;
} Progress;

static void announce(const char *fmt, ...) _printf_(1, 2);
static void announce(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static void on_spawn(void *userdata) {
        announce("Starting concierge…");
}

static void progress_end(Progress *p) {
        if (p->shown)
                fputc('\n', stderr);
        p->shown = false;
}

static int on_progress(const Bistro__Concierge__Progress *e, void *userdata) {
        Progress *p = userdata;
        bool bar = e->total > 0 && e->operation != BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM;
        bool new_stage = !streq(p->stage, e->stage);

        if (startswith(e->stage, "warning:")) {
                progress_end(p);
                announce("bistro: %s", e->stage);
                return 0;
        }
        if (new_stage) {
                strscpy(p->stage, e->stage, sizeof(p->stage));
                p->last_decile = -1;
        }
        if (p->tty) {
                if (bar) {
                        int pct = (int) (e->done * 100 / e->total), w = pct / 4;
                        char done[32], total[32];

                        format_bytes(e->done, done, sizeof(done));
                        format_bytes(e->total, total, sizeof(total));
                        fprintf(stderr, "\r  %-12.40s [%.*s%*s] %3d%% %s / %s   ", e->stage, w,
                                "=========================", 25 - w, "", pct, done, total);
                } else
                        fprintf(stderr, "\r  %-60.100s", e->stage);
                p->shown = true;
                return 0;
        }
        /* Not a terminal: a line per stage and per 10% (no carriage returns in logs). */
        if (bar) {
                int decile = (int) (e->done * 10 / e->total);

                if (decile != p->last_decile) {
                        char done[32], total[32];

                        format_bytes(e->done, done, sizeof(done));
                        format_bytes(e->total, total, sizeof(total));
                        announce("  %s: %d%% (%s / %s)", e->stage, decile * 10, done, total);
                        p->last_decile = decile;
                }
        } else if (new_stage)
                announce("  %s", e->stage);
        return 0;
}

/* One call to concierge on its own connection (starting concierge when nothing listens).
 * Prints failures unless the error is in quiet (a list of errnos ending with 0). */
static int call(
        uint32_t type,
        const ProtobufCMessage *req,
        const char *what,
        const int *quiet,
        ProtobufCMessage **ret) {
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int fd = -EBADF;
        Progress p = { .tty = isatty(STDERR_FILENO), .last_decile = -1 };
        int r;

        fd = concierge_connect(BUILD_ROOT, on_spawn, NULL);
        if (fd == -EINVAL)
                return log_error_errno(
                        fd, "$XDG_RUNTIME_DIR is not set (or not absolute): it holds concierge's socket.");
        if (fd == -ETIMEDOUT)
                return log_error_errno(
                        fd, "concierge did not come up within %d s (see %s/bistro/concierge.log).",
                        CONCIERGE_SPAWN_TIMEOUT_MS / 1000, getenv("XDG_RUNTIME_DIR"));
        if (fd < 0)
                return log_error_errno(fd, "Cannot reach concierge: %m");
        r = concierge_call(fd, type, req, CALL_TIMEOUT_MS, on_progress, &p, ret, &error);
        progress_end(&p);
        if (r >= 0)
                return 0;
        for (const int *q = quiet; q && *q; q++)
                if (r == -*q)
                        return r;
        if (error)
                fprintf(stderr, "bistro: %s: %s\n", what, error);
        else if (r == -ETIMEDOUT)
                log_error_errno(
                        r, "%s: concierge did not answer within %d s.", what, CALL_TIMEOUT_MS / 1000);
        else
                log_error_errno(r, "%s: %m", what);
        return r;
}

/* The VM's state; STOPPED when concierge does not know it yet. */
static int vm_state(int *ret) {
        Bistro__Concierge__ListVmsRequest req = BISTRO__CONCIERGE__LIST_VMS_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        const Bistro__Concierge__ListVmsResponse *l;
        int r;

        r = call(BISTRO__MESSAGE_TYPE__LIST_VMS_REQUEST, &req.base, "list VMs", NULL, &resp);
        if (r < 0)
                return r;
        l = (const void *) resp;
        *ret = BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPED;
        for (size_t i = 0; i < l->n_vms; i++)
                if (streq(l->vms[i]->name, arg_vm))
                        *ret = l->vms[i]->state;
        return 0;
}

static void sleep_ms(long ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        (void) nanosleep(&ts, NULL);
}

/* Makes sure the VM runs: starts it, or waits (bounded) for whoever is starting or stopping it. */
static int ensure_vm(bool *ret_started) {
        time_t deadline = time(NULL) + VM_WAIT_SEC;
        bool waited = false;
        int state, r;

        *ret_started = false;
        for (;;) {
                r = vm_state(&state);
                if (r < 0)
                        return r;
                if (state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING)
                        return 0;
                if (state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPED ||
                    state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_FAILED ||
                    state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_UNKNOWN) {
                        Bistro__Concierge__StartVmRequest req = BISTRO__CONCIERGE__START_VM_REQUEST__INIT;
                        static const int quiet[] = { EEXIST, EBUSY, 0 };

                        announce("Starting VM %s…", arg_vm);
                        req.name = (char *) arg_vm;
                        r = call(BISTRO__MESSAGE_TYPE__START_VM_REQUEST, &req.base, "start VM", quiet, NULL);
                        if (r >= 0 || r == -EEXIST) {
                                *ret_started = r >= 0;
                                return 0;
                        }
                        if (r != -EBUSY)
                                return r;
                        /* Someone else is starting it (or a previous one is still going away). */
                }
                if (time(NULL) > deadline)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(ETIMEDOUT), "VM %s stayed '%s' for %d s; see 'vmc logs %s'.",
                                arg_vm, concierge_vm_state_to_string(state), VM_WAIT_SEC, arg_vm);
                if (!waited)
                        announce("Waiting for VM %s (%s)…", arg_vm, concierge_vm_state_to_string(state));
                waited = true;
                sleep_ms(500);
        }
}

/* The container's info (a copy owned by the caller in *ret), or NULL when it does not exist. */
static int find_container(ProtobufCMessage **ret_list, const Bistro__Concierge__ContainerInfo **ret) {
        Bistro__Concierge__ListContainersRequest req = BISTRO__CONCIERGE__LIST_CONTAINERS_REQUEST__INIT;
        const Bistro__Concierge__ListContainersResponse *l;
        int r;

        *ret = NULL;
        req.vm_name = (char *) arg_vm;
        r = call(
                BISTRO__MESSAGE_TYPE__LIST_CONTAINERS_REQUEST, &req.base, "list containers", NULL, ret_list);
        if (r < 0)
                return r;
        l = (const void *) *ret_list;
        for (size_t i = 0; i < l->n_containers; i++)
                if (streq(l->containers[i]->name, arg_container))
                        *ret = l->containers[i];
        return 0;
}

static bool in_build_tree(void) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

        if (n <= 0)
                return false;
        self[n] = 0;
        return startswith(self, BUILD_ROOT "/");
}

static int image_store(char **ret) {
        const char *e = getenv("BISTRO_IMAGE_STORE"), *data = getenv("XDG_DATA_HOME"), *home;
        int r;

        if (e && e[0])
                r = asprintf(ret, "%s", e);
        else if (data && data[0] == '/')
                r = asprintf(ret, "%s/bistro/images/containers", data);
        else if ((home = getenv("HOME")) && home[0] == '/')
                r = asprintf(ret, "%s/.local/share/bistro/images/containers", home);
        else
                return log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL),
                        "Cannot find the image store: set $BISTRO_IMAGE_STORE, $XDG_DATA_HOME or $HOME.");
        return r < 0 ? log_oom() : 0;
}

static bool image_present(const char *store) {
        _cleanup_free_ char *tar = NULL, *json = NULL;

        if (asprintf(&tar, "%s/%s.tar.zst", store, DEFAULT_IMAGE) < 0 ||
            asprintf(&json, "%s/%s.json", store, DEFAULT_IMAGE) < 0)
                return false;
        return access(tar, R_OK) >= 0 && access(json, R_OK) >= 0;
}

/* Waits for pid at most timeout_sec (SIGTERM, then SIGKILL after 5 s). Returns its exit status
 * (128+N for a signal) or -ETIMEDOUT. */
static int wait_bounded(pid_t pid, int timeout_sec) {
        struct timespec start, now;
        bool termed = false;
        int status;

        (void) clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                pid_t p = waitpid(pid, &status, WNOHANG);

                if (p == pid)
                        break;
                if (p < 0 && errno != EINTR)
                        return -errno;
                (void) clock_gettime(CLOCK_MONOTONIC, &now);
                if (!termed && now.tv_sec - start.tv_sec >= timeout_sec) {
                        (void) kill(pid, SIGTERM);
                        termed = true;
                } else if (termed && now.tv_sec - start.tv_sec >= timeout_sec + 5)
                        (void) kill(pid, SIGKILL);
                sleep_ms(20);
        }
        if (termed)
                return -ETIMEDOUT;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs argv with stdin /dev/null and stdout to out_fd, stderr inherited; bounded. */
static int run_bounded(char *const argv[], int out_fd, int timeout_sec) {
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return log_error_errno(errno, "fork: %m");
        if (pid == 0) {
                int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

                if (fd < 0 || dup2(fd, STDIN_FILENO) < 0)
                        _exit(127);
                if (dup2(out_fd >= 0 ? out_fd : fd, STDOUT_FILENO) < 0)
                        _exit(127);
                execv(argv[0], argv);
                fprintf(stderr, "bistro: cannot run %s: %m\n", argv[0]);
                _exit(127);
        }
        return wait_bounded(pid, timeout_sec);
}

/* One line of the image builder's output. debootstrap's "I: Verb thing..." lines are condensed:
 * on a terminal into one redrawn status line, otherwise into one line per verb; everything else
 * (the builder's steps, warnings, errors) is shown as it is. */
static void builder_line(Progress *p, const char *line) {
        size_t verb = strcspn(line + MIN(strlen(line), 3), " ");

        if (!startswith(line, "I: ")) {
                progress_end(p);
                announce("%s", line);
                return;
        }
        if (p->tty) {
                fprintf(stderr, "\r  %-76.76s", line + 3);
                p->shown = true;
                return;
        }
        if (verb >= sizeof(p->stage) || (strneq(p->stage, line + 3, verb) && p->stage[verb] == 0))
                return;
        memcpy(p->stage, line + 3, verb);
        p->stage[verb] = 0;
        announce("  %s", line + 3);
}

/* Runs the image builder with its stdout and stderr through builder_line(); bounded. */
static int run_builder(char *const argv[], int timeout_sec) {
        Progress p = { .tty = isatty(STDERR_FILENO) };
        _cleanup_close_ int rfd = -EBADF;
        char buf[4096];
        size_t have = 0;
        time_t deadline = time(NULL) + timeout_sec;
        int pipefd[2];
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return log_error_errno(errno, "pipe: %m");
        pid = fork();
        if (pid < 0) {
                safe_close(pipefd[0]);
                safe_close(pipefd[1]);
                return log_error_errno(errno, "fork: %m");
        }
        if (pid == 0) {
                int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

                if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 || dup2(pipefd[1], STDOUT_FILENO) < 0 ||
                    dup2(pipefd[1], STDERR_FILENO) < 0)
                        _exit(127);
                execv(argv[0], argv);
                fprintf(stderr, "bistro: cannot run %s: %m\n", argv[0]);
                _exit(127);
        }
        safe_close(pipefd[1]);
        rfd = pipefd[0];
        for (;;) {
                struct pollfd pfd = { .fd = rfd, .events = POLLIN };
                ssize_t n;
                char *nl;

                if (time(NULL) > deadline)
                        break;
                if (poll(&pfd, 1, 1000) <= 0)
                        continue;
                n = read(rfd, buf + have, sizeof(buf) - 1 - have);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                have += (size_t) n;
                buf[have] = 0;
                while ((nl = strchr(buf, '\n'))) {
                        *nl = 0;
                        builder_line(&p, buf);
                        have -= (size_t) (nl + 1 - buf);
                        memmove(buf, nl + 1, have + 1);
                }
                if (have == sizeof(buf) - 1) { /* a very long line: show what we have */
                        builder_line(&p, buf);
                        have = 0;
                }
        }
        if (have > 0) {
                buf[have] = 0;
                builder_line(&p, buf);
        }
        progress_end(&p);
        /* EOF (or the deadline): the builder is exiting, or gets what is left of its time. */
        return wait_bounded(pid, (int) MAX(deadline - time(NULL), 1));
}

static int build_script(char **ret) {
        if (in_build_tree())
                *ret = strdup(SOURCE_ROOT "/image/containers/build-debian.sh");
        else
                *ret = strdup(BISTRO_DATADIR "/containers/build-debian.sh");
        return *ret ? 0 : log_oom();
}

/* The debian image in the host store, building it (debootstrap, as root) when missing. */
static int ensure_image(void) {
        _cleanup_free_ char *store = NULL, *script = NULL;
        int r;

        r = image_store(&store);
        if (r < 0)
                return r;
        if (image_present(store))
                return 0;
        r = build_script(&script);
        if (r < 0)
                return r;
        if (access(script, X_OK) < 0)
                return log_error_errno(
                        errno, "The %s image is not in %s and its builder %s is missing: %m", DEFAULT_IMAGE,
                        store, script);
        if (geteuid() != 0) {
                fprintf(stderr,
                        "bistro: the %s image is not in %s, and building it needs root (debootstrap).\n"
                        "Build it once with:\n  sudo %s %s\nthen run bistro again.\n",
                        DEFAULT_IMAGE, store, script, store);
                return -EPERM;
        }
        announce(
                "Building the %s image into %s (debootstrap; takes minutes the first time)…", DEFAULT_IMAGE,
                store);
        {
                char *argv[] = { script, store, NULL };

                r = run_builder(argv, IMAGE_BUILD_TIMEOUT_SEC);
        }
        if (r == -ETIMEDOUT)
                return log_error_errno(
                        r, "Building the %s image took more than %d minutes; stopped it.", DEFAULT_IMAGE,
                        IMAGE_BUILD_TIMEOUT_SEC / 60);
        if (r != 0)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EIO), "Building the %s image failed (exit status %d, see above).",
                        DEFAULT_IMAGE, r);
        if (!image_present(store))
                return log_error_errno(
                        SYNTHETIC_ERRNO(ENOENT), "%s finished but %s/%s.tar.zst is missing.", script, store,
                        DEFAULT_IMAGE);
        return 0;
}

static int ensure_container(bool *ret_created, bool *ret_started, char **ret_address) {
        _cleanup_message_ ProtobufCMessage *list = NULL, *resp = NULL;
        const Bistro__Concierge__ContainerInfo *ci;
        int r;

        *ret_created = *ret_started = false;
        r = find_container(&list, &ci);
        if (r < 0)
                return r;
        if (!ci) {
                Bistro__Concierge__CreateContainerRequest req =
                        BISTRO__CONCIERGE__CREATE_CONTAINER_REQUEST__INIT;
                static const int quiet[] = { EEXIST, 0 };

                r = ensure_image();
                if (r < 0)
                        return r;
                announce("Creating container %s from image %s…", arg_container, DEFAULT_IMAGE);
                req.vm_name = (char *) arg_vm;
                req.name = (char *) arg_container;
                req.image = (char *) DEFAULT_IMAGE;
                r =
                        call(BISTRO__MESSAGE_TYPE__CREATE_CONTAINER_REQUEST, &req.base, "create container",
                             quiet, NULL);
                if (r < 0 && r != -EEXIST)
                        return r;
                *ret_created = r >= 0;
        }
        if (!ci || ci->state != BISTRO__CONCIERGE__CONTAINER_STATE__CONTAINER_STATE_RUNNING) {
                Bistro__Concierge__StartContainerRequest req =
                        BISTRO__CONCIERGE__START_CONTAINER_REQUEST__INIT;
                static const int quiet[] = { EEXIST, 0 };

                announce("Starting container %s…", arg_container);
                req.vm_name = (char *) arg_vm;
                req.name = (char *) arg_container;
                r =
                        call(BISTRO__MESSAGE_TYPE__START_CONTAINER_REQUEST, &req.base, "start container",
                             quiet, &resp);
                if (r < 0 && r != -EEXIST)
                        return r;
                *ret_started = r >= 0;
                if (r >= 0) {
                        const Bistro__Concierge__ContainerInfoResponse *i = (const void *) resp;

                        *ret_address = strdup(i->container->ipv4_address);
                        return 0;
                }
        }
        *ret_address = strdup(ci ? ci->ipv4_address : "");
        return 0;
}

static int vsh_binary(char **ret) {
        const char *e = getenv("BISTRO_VSH");
        char self[PATH_MAX], *slash;
        ssize_t n;

        if (e && e[0])
                *ret = strdup(e);
        else if (in_build_tree())
                *ret = strdup(BUILD_ROOT "/src/vsh/vsh");
        else {
                /* Installed: vsh sits next to bistro. */
                n = readlink("/proc/self/exe", self, sizeof(self) - 1);
                if (n <= 0)
                        return log_error_errno(errno, "Cannot find myself: %m");
                self[n] = 0;
                slash = strrchr(self, '/');
                *slash = 0;
                if (asprintf(ret, "%s/vsh", self) < 0)
                        *ret = NULL;
        }
        if (!*ret)
                return log_oom();
        if (access(*ret, X_OK) < 0)
                return log_error_errno(errno, "vsh is missing (%s): %m", *ret);
        return 0;
}

/* A user name we create in the container: what Debian's useradd accepts by default, and safe
 * to put in a shell script unquoted. */
static bool user_name_ok(const char *s) {
        size_t l = strlen(s);

        if (l == 0 || l > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
                return false;
        for (size_t i = 1; i < l; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
                      s[i] == '-'))
                        return false;
        return true;
}

/* Creates the user in the container on first use: uid 1000 when free, a home, bash, the sudo
 * group and sudo without a password (the user has no password: like Crostini's). */
static int ensure_user(const char *vsh, const char *user) {
        _cleanup_free_ char *script = NULL;
        int r;

        if (streq(user, "root"))
                return 0;
        if (asprintf(
                    &script,
                    "if getent passwd %1$s >/dev/null; then\n"
                    "  u=$(id -u %1$s); [ \"$u\" -ge 1000 ] && [ \"$u\" -lt 60000 ] && exit 0; exit 11\n"
                    "fi\n"
                    "uid=; getent passwd 1000 >/dev/null || uid='-u 1000'\n"
                    "useradd -m -s /bin/bash $uid -G sudo -c %1$s %1$s || exit 1\n"
                    "passwd -d %1$s >/dev/null || exit 1\n"
                    "echo '%1$s ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/bistro-%1$s || exit 1\n"
                    "chmod 0440 /etc/sudoers.d/bistro-%1$s || exit 1\n"
                    "exit 10\n",
                    user) < 0)
                return log_oom();
        {
                char *argv[] = { (char *) vsh,
                                 (char *) "--user",
                                 (char *) "root",
                                 (char *) "-T",
                                 (char *) arg_vm,
                                 (char *) arg_container,
                                 (char *) "--",
                                 (char *) "/bin/sh",
                                 (char *) "-c",
                                 script,
                                 NULL };

                r = run_bounded(argv, -1, VSH_SETUP_TIMEOUT_SEC);
        }
        if (r == 0)
                return 0;
        if (r == 10) {
                announce(
                        "Created user %s in %s (home /home/%s, bash, sudo without a password).", user,
                        arg_container, user);
                return 0;
        }
        if (r == 11)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EEXIST),
                        "%s is a system account in %s (uid below 1000 or from 60000); pick a user name with --user.",
                        user, arg_container);
        if (r == -ETIMEDOUT)
                return log_error_errno(
                        r, "Creating user %s in %s did not finish within %d s.", user, arg_container,
                        VSH_SETUP_TIMEOUT_SEC);
        return log_error_errno(
                SYNTHETIC_ERRNO(EIO), "Creating user %s in %s failed (exit status %d).", user, arg_container,
                r);
}

static int help(void) {
        printf("Usage: bistro [OPTIONS] [-- COMMAND [ARGS...]]\n"
               "The Terminal: a shell (or COMMAND) in the container penguin of the VM termina.\n"
               "Starts concierge when it is not running, the VM, and creates the container from\n"
               "the debian image on first use (building that image needs root, once).\n\n"
               "  --vm NAME         VM (default termina)\n"
               "  --container NAME  container (default penguin)\n"
               "  --user USER       user in the container (default: yours, root when run as root;\n"
               "                    created on first use)\n"
               "  -h --help         this help\n"
               "     --version      version\n\n"
               "Without a terminal on stdin and without COMMAND, bistro sets everything up, runs\n"
               "a short check in the container and exits. Exit status: COMMAND's (or the shell's);\n"
               "1 when bistro failed, 2 for bad usage.\n");
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VM = 0x100,
                ARG_CONTAINER,
                ARG_USER,
                ARG_VERSION
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "vm", required_argument, NULL, ARG_VM },
                { "container", required_argument, NULL, ARG_CONTAINER },
                { "user", required_argument, NULL, ARG_USER },
                {},
        };
        int c;

        /* '+': stop at the first non-option, so "bistro -- ls -l" and "bistro ls -l" keep -l. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help();
                case ARG_VERSION:
                        printf("bistro %s\n", BISTRO_VERSION);
                        return 0;
                case ARG_VM:
                        arg_vm = optarg;
                        break;
                case ARG_CONTAINER:
                        arg_container = optarg;
                        break;
                case ARG_USER:
                        arg_user = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (!proto_name_ok(arg_vm) || !proto_name_ok(arg_container)) {
                fprintf(stderr,
                        "bistro: invalid %s name '%s': 1-64 characters of A-Z a-z 0-9 . _ -, not starting with '.' or '-'\n",
                        proto_name_ok(arg_vm) ? "container" : "VM",
                        proto_name_ok(arg_vm) ? arg_container : arg_vm);
                return -EINVAL;
        }
        if (arg_user && !user_name_ok(arg_user)) {
                fprintf(stderr,
                        "bistro: invalid user name '%s' (1-32 characters of a-z 0-9 _ -, starting with a letter or _)\n",
                        arg_user);
                return -EINVAL;
        }
        if (optind < argc)
                arg_command = argv + optind;
        return 1;
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char *vsh = NULL, *address = NULL, *user_buf = NULL;
        bool vm_started, created, started, interactive;
        const char *user;
        int r;

        log_set_ident("bistro");
        log_parse_environment();
        (void) signal(SIGPIPE, SIG_IGN);

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;

        if (arg_user)
                user = arg_user;
        else if (geteuid() == 0)
                user = "root";
        else {
                struct passwd *pw = getpwuid(geteuid());

                if (!pw)
                        return log_error_errno(
                                       SYNTHETIC_ERRNO(ENOENT),
                                       "Cannot find my user name (uid %u); use --user.",
                                       (unsigned) geteuid()),
                               EXIT_FAILURE;
                user_buf = strdup(pw->pw_name);
                if (!user_buf)
                        return log_oom(), EXIT_FAILURE;
                if (!user_name_ok(user_buf)) {
                        fprintf(stderr,
                                "bistro: your user name '%s' cannot be used in the container; pick one with --user\n",
                                user_buf);
                        return EXIT_USAGE;
                }
                user = user_buf;
        }
        interactive = !arg_command && isatty(STDIN_FILENO);

        r = vsh_binary(&vsh);
        if (r < 0)
                return EXIT_FAILURE;
        r = ensure_vm(&vm_started);
        if (r < 0)
                return EXIT_FAILURE;
        r = ensure_container(&created, &started, &address);
        if (r < 0)
                return EXIT_FAILURE;
        r = ensure_user(vsh, user);
        if (r < 0)
                return EXIT_FAILURE;

        if (!arg_command && !interactive) {
                char *check[] = { vsh,           (char *) "--user", (char *) user,
                                  (char *) "-T", (char *) arg_vm,   (char *) arg_container,
                                  (char *) "--", (char *) "cat",    (char *) "/etc/os-release",
                                  NULL };

                printf("VM %s: %s. Container %s: %s%s%s. User: %s.\n", arg_vm,
                       vm_started ? "started" : "was running", arg_container,
                       created   ? "created from image " DEFAULT_IMAGE " and started"
                       : started ? "started"
                                 : "was running",
                       address && address[0] ? ", address " : "", address ?: "", user);
                printf("Check: cat /etc/os-release in %s:\n", arg_container);
                fflush(stdout);
                r = run_bounded(check, STDOUT_FILENO, VSH_SETUP_TIMEOUT_SEC);
                if (r != 0) {
                        log_error(
                                "The check in %s failed (%s %d).", arg_container,
                                r == -ETIMEDOUT ? "timed out after" : "exit status",
                                r == -ETIMEDOUT ? VSH_SETUP_TIMEOUT_SEC : r);
                        return EXIT_FAILURE;
                }
                printf("No terminal on stdin: not opening a shell. Run 'bistro' in a terminal for a shell "
                       "in %s, or 'bistro -- COMMAND' to run one command.\n",
                       arg_container);
                return EXIT_SUCCESS;
        }

        {
                size_t n = 0, extra = 0;
                char **args;

                while (arg_command && arg_command[extra])
                        extra++;
                args = calloc(8 + extra, sizeof(char *));
                if (!args)
                        return log_oom(), EXIT_FAILURE;
                args[n++] = vsh;
                args[n++] = (char *) "--user";
                args[n++] = (char *) user;
                args[n++] = (char *) arg_vm;
                args[n++] = (char *) arg_container;
                if (arg_command) {
                        args[n++] = (char *) "--";
                        for (size_t i = 0; i < extra; i++)
                                args[n++] = arg_command[i];
                }
                args[n] = NULL;
                (void) fflush(NULL);
                execv(vsh, args);
                log_error_errno(errno, "Cannot run %s: %m", vsh);
                free(args);
        }
        return EXIT_FAILURE;
}
