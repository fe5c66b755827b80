/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bistro: the Terminal. Starts concierge when needed, the VM termina, creates the container
 * penguin from the debian image on first use, then opens a shell in it through vsh (or runs one
 * command). The image builder runner is in bistro-image-build.c. Exit status: 0 ok, 1 failure, 2
 * usage; with a command or a shell, vsh's (the remote command's) exit status. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "bistro-image-build.h"
#include "cli-util.h"
#include "concierge-client.h"
#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "main-func.h"
#include "message-type.h"
#include "path-lookup.h"
#include "path-util.h"
#include "proto-validate.h"
#include "spawn-util.h"
#include "string-util.h"
#include "time-util.h"

#define CALL_TIMEOUT_MS (300 * 1000)                /* silence bound of one concierge call */
#define VM_WAIT_USEC (300 * USEC_PER_SEC)           /* a VM someone else is starting or stopping */
#define VSH_SETUP_TIMEOUT_USEC (120 * USEC_PER_SEC) /* user creation, the non-interactive check */

static const char *arg_vm = "termina";
static const char *arg_container = "penguin";
static const char *arg_user = NULL;
static char **arg_command = NULL;

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

static int on_progress(const Bistro__Concierge__Progress *e, void *userdata) {
        CliProgress *p = userdata;

        if (startswith(e->stage, "warning:")) {
                _cleanup_free_ char *m = NULL;

                if (asprintf(&m, "bistro: %s", e->stage) >= 0)
                        cli_progress_message(p, m);
                return 0;
        }
        /* Booting reports steps, not bytes: no bar for it. */
        cli_progress_update(
                p, e->stage, e->done, e->total,
                e->operation != BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM);
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
        CliProgress p;
        int r;

        fd = concierge_connect(on_spawn, NULL, &error);
        if (fd < 0)
                return log_error_errno(fd, "%s", error ?: "Cannot reach concierge.");
        cli_progress_init(&p, "  ", false);
        r = concierge_call(fd, type, req, CALL_TIMEOUT_MS, on_progress, &p, ret, &error);
        cli_progress_end(&p);
        if (r >= 0)
                return 0;
        for (const int *q = quiet; q && *q; q++)
                if (r == -*q)
                        return r;
        if (error) {
                _cleanup_free_ char *e = escape_for_terminal(error, strlen(error), true);

                return log_error_errno(r, "%s: %s", what, e ?: "?");
        }
        if (r == -ETIMEDOUT)
                return log_error_errno(
                        r, "%s: concierge did not answer within %d s.", what, CALL_TIMEOUT_MS / 1000);
        return log_error_errno(r, "%s: %m", what);
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

/* Makes sure the VM runs: starts it, or waits (bounded) for whoever is starting or stopping it. */
static int ensure_vm(bool *ret_started) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + VM_WAIT_USEC;
        bool waited = false;
        int state, r;

        *ret_started = false;
        for (;;) {
                struct timespec ts;

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
                if (now_usec(CLOCK_MONOTONIC) > deadline)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(ETIMEDOUT),
                                "VM %s stayed '%s' for %llu s; see 'vmc logs %s'.", arg_vm,
                                concierge_vm_state_to_string(state),
                                (unsigned long long) (VM_WAIT_USEC / USEC_PER_SEC), arg_vm);
                if (!waited)
                        announce("Waiting for VM %s (%s)…", arg_vm, concierge_vm_state_to_string(state));
                waited = true;
                (void) nanosleep(timespec_store_usec(&ts, 500 * USEC_PER_MSEC), NULL);
        }
}

/* The container's info (borrowed from *ret_list), or NULL when it does not exist. */
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

                r = bistro_ensure_image();
                if (r < 0)
                        return r;
                announce("Creating container %s from image %s…", arg_container, BISTRO_DEFAULT_IMAGE);
                req.vm_name = (char *) arg_vm;
                req.name = (char *) arg_container;
                req.image = (char *) BISTRO_DEFAULT_IMAGE;
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
                        return *ret_address ? 0 : log_oom();
                }
        }
        *ret_address = strdup(ci ? ci->ipv4_address : "");
        return *ret_address ? 0 : log_oom();
}

/* vsh: $BISTRO_VSH, the build tree's, or (installed) the one next to bistro. */
static int vsh_binary(char **ret) {
        _cleanup_free_ char *p = NULL, *dir = NULL;
        int r;

        if (getenv("BISTRO_VSH") || bistro_running_from_build_tree()) {
                r = bistro_find_program("vsh", "BISTRO_VSH", &p);
                if (r == -ENOMEM)
                        return log_oom();
        } else {
                r = self_exe_dir(&dir);
                if (r < 0)
                        return log_error_errno(r, "Cannot find myself: %m");
                p = path_join(dir, "vsh");
                if (!p)
                        return log_oom();
                r = access(p, X_OK) < 0 ? -errno : 0;
        }
        if (r < 0)
                return log_error_errno(r, "vsh is missing (%s): %m", p ?: getenv("BISTRO_VSH") ?: "vsh");
        *ret = TAKE_PTR(p);
        return 0;
}

/* Runs argv with stdin /dev/null and stdout to out_fd (< 0: /dev/null), stderr inherited; bounded. */
static int run_bounded(char *const argv[], int out_fd, usec_t timeout) {
        _cleanup_free_ char *output = NULL;
        int r;

        r = spawn_capture(
                argv, &(SpawnOptions){ .stdin_fd = -EBADF, .stdout_fd = out_fd, .timeout = timeout },
                out_fd >= 0 ? NULL : &output);
        if (r == 127)
                log_error("Cannot run %s.", argv[0]);
        return r;
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

                r = run_bounded(argv, STDERR_FILENO, VSH_SETUP_TIMEOUT_USEC);
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
                        r, "Creating user %s in %s did not finish within %llu s.", user, arg_container,
                        (unsigned long long) (VSH_SETUP_TIMEOUT_USEC / USEC_PER_SEC));
        if (r < 0)
                return log_error_errno(r, "Creating user %s in %s failed: %m", user, arg_container);
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

        /* '+': stop at the first non-option, so "bistro -- ls -l" and "bistro ls -l" keep -l. Our
         * messages, not getopt's. */
        opterr = 0;
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
                        if (optopt > 0 && optopt < 0x100)
                                return log_usage_error("invalid option or missing argument: -%c", optopt);
                        return log_usage_error(
                                "unrecognized option or missing argument: '%s'", argv[optind - 1]);
                }
        if (!proto_name_ok(arg_vm) || !proto_name_ok(arg_container))
                return log_usage_error(
                        "invalid %s name '%s': 1-64 characters of A-Z a-z 0-9 . _ -, not starting with '.' or '-'",
                        proto_name_ok(arg_vm) ? "container" : "VM",
                        proto_name_ok(arg_vm) ? arg_container : arg_vm);
        if (arg_user && !proto_user_ok(arg_user))
                return log_usage_error(
                        "invalid user name '%s' (1-32 characters of a-z 0-9 _ -, starting with a letter or _)",
                        arg_user);
        if (optind < argc)
                arg_command = argv + optind;
        return 1;
}

/* The user in the container: --user, root when we are root, else our own name. */
static int pick_user(char **ret) {
        struct passwd *pw;

        if (arg_user)
                return free_and_strdup(ret, arg_user) < 0 ? log_oom() : 0;
        if (geteuid() == 0)
                return free_and_strdup(ret, "root") < 0 ? log_oom() : 0;
        pw = getpwuid(geteuid());
        if (!pw)
                return log_error_errno(
                        SYNTHETIC_ERRNO(ENOENT), "Cannot find my user name (uid %u); use --user.",
                        (unsigned) geteuid());
        if (!proto_user_ok(pw->pw_name))
                return log_usage_error(
                        "your user name '%s' cannot be used in the container; pick one with --user",
                        pw->pw_name);
        return free_and_strdup(ret, pw->pw_name) < 0 ? log_oom() : 0;
}

/* No terminal and no command: report what was set up, run a short check and exit. */
static int check_and_exit(
        const char *vsh,
        const char *user,
        bool vm_started,
        bool created,
        bool started,
        const char *address) {
        char *check[] = { (char *) vsh,  (char *) "--user", (char *) user,
                          (char *) "-T", (char *) arg_vm,   (char *) arg_container,
                          (char *) "--", (char *) "cat",    (char *) "/etc/os-release",
                          NULL };
        int r;

        printf("VM %s: %s. Container %s: %s%s%s. User: %s.\n", arg_vm,
               vm_started ? "started" : "was running", arg_container,
               created   ? "created from image " BISTRO_DEFAULT_IMAGE " and started"
               : started ? "started"
                         : "was running",
               address && address[0] ? ", address " : "", address ?: "", user);
        printf("Check: cat /etc/os-release in %s:\n", arg_container);
        fflush(stdout);
        r = run_bounded(check, STDOUT_FILENO, VSH_SETUP_TIMEOUT_USEC);
        if (r != 0)
                return log_error_errno(
                        r < 0 ? r : SYNTHETIC_ERRNO(EIO), "The check in %s failed (%s %d).", arg_container,
                        r == -ETIMEDOUT ? "timed out after" : "exit status",
                        r == -ETIMEDOUT ? (int) (VSH_SETUP_TIMEOUT_USEC / USEC_PER_SEC) : r);
        printf("No terminal on stdin: not opening a shell. Run 'bistro' in a terminal for a shell "
               "in %s, or 'bistro -- COMMAND' to run one command.\n",
               arg_container);
        return 0;
}

/* Replaces us with vsh: a shell, or the command. */
static int exec_vsh(const char *vsh, const char *user) {
        _cleanup_free_ char **args = NULL;
        size_t n = 0, extra = 0;

        while (arg_command && arg_command[extra])
                extra++;
        args = new0(char *, 8 + extra);
        if (!args)
                return log_oom();
        args[n++] = (char *) vsh;
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
        return log_error_errno(errno, "Cannot run %s: %m", vsh);
}

static int run(int argc, char *argv[]) {
        _cleanup_free_ char *vsh = NULL, *address = NULL, *user = NULL;
        bool vm_started, created, started;
        int r;

        cli_setup("bistro");
        (void) signal(SIGPIPE, SIG_IGN);

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        r = pick_user(&user);
        if (r < 0)
                return r;
        r = vsh_binary(&vsh);
        if (r < 0)
                return r;
        r = ensure_vm(&vm_started);
        if (r < 0)
                return r;
        r = ensure_container(&created, &started, &address);
        if (r < 0)
                return r;
        r = ensure_user(vsh, user);
        if (r < 0)
                return r;
        if (!arg_command && !isatty(STDIN_FILENO))
                return check_and_exit(vsh, user, vm_started, created, started, address);
        return exec_vsh(vsh, user);
}

DEFINE_MAIN_FUNCTION(run);
