/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bistro: the Terminal. Starts concierge when needed, the VM termina, creates the container
 * penguin from the debian image on first use, then opens a shell in it through vsh (or runs one
 * command). The container start is bistro-start.c (shared with --app and `bistro files`,
 * bistro-files.c); the image builder runner is in bistro-image-build.c. Exit status: 0 ok, 1
 * failure, 2 usage; with a command or a shell, vsh's (the remote command's) exit status. */
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
#include "bistro-app.h"
#include "bistro-files.h"
#include "bistro-image-build.h"
#include "bistro-start.h"
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

#define VSH_SETUP_TIMEOUT_USEC (120 * USEC_PER_SEC) /* user creation, the non-interactive check */

static const char *arg_vm = "termina";
static const char *arg_container = "penguin";
static const char *arg_user = NULL;
static char **arg_command = NULL;
static const char *arg_app = NULL;

/* vsh: $BISTRO_VSH, the build tree's, or (installed) the one next to bistro. */
static int vsh_binary(char **ret) {
        int r = bistro_find_command("vsh", "BISTRO_VSH", ret);

        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(
                        r, "vsh is missing (%s): %m", getenv("BISTRO_VSH") ?: "next to bistro");
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

static int help(void) {
        printf("Usage: bistro [OPTIONS] [-- COMMAND [ARGS...]]\n"
               "       bistro --app ID [--vm NAME] [--container NAME] [URL...]\n"
               "       bistro files [--vm NAME] [--container NAME] [--mountpoint DIR] [--unmount]\n"
               "The Terminal: a shell (or COMMAND) in the container penguin of the VM termina.\n"
               "Starts concierge when it is not running, the VM, and creates the container from\n"
               "the debian image on first use (building that image needs root, once).\n\n"
               "  --vm NAME         VM (default termina)\n"
               "  --container NAME  container (default penguin)\n"
               "  --user USER       user in the container (default: yours, root when run as root;\n"
               "                    created on first use)\n"
               "  --app ID          launch the container's application ID (the desktop file id that\n"
               "                    'vmc apps' lists), with URLs (http, https, mailto) for it to open;\n"
               "                    what the host's launcher entries of container apps run. Starts\n"
               "                    concierge, the VM and the container when needed; returns once the\n"
               "                    app runs; failures also go to a desktop notification\n"
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
                ARG_APP,
                ARG_VERSION
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "vm", required_argument, NULL, ARG_VM },
                { "container", required_argument, NULL, ARG_CONTAINER },
                { "user", required_argument, NULL, ARG_USER },
                { "app", required_argument, NULL, ARG_APP },
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
                case ARG_APP:
                        arg_app = optarg;
                        break;
                default:
                        return log_usage_bad_option(argv);
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
        if (arg_app) {
                if (!name_is_valid(arg_app, 255))
                        return log_usage_error(
                                "invalid application id '%s' (as 'vmc apps' lists them: A-Z a-z 0-9 . _ -)",
                                arg_app);
                int r = bistro_check_app_args(arg_command);

                if (r < 0)
                        return r;
        }
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

/* --app: the container, then cicerone asks its garcon. */
static int run_app(const char *user) {
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_free_ char *err = NULL;
        StartProgress sp = {};
        int r;

        r = bistro_ensure_container(arg_vm, arg_container, user, true, &sp, &resp);
        if (r < 0) {
                if (asprintf(
                            &err,
                            "Container %s of VM %s did not start; run 'bistro --vm %s --container %s' in a "
                            "terminal to see why.",
                            arg_container, arg_vm, arg_vm, arg_container) >= 0)
                        bistro_notify_failure(arg_app, err);
                return r;
        }
        r = bistro_launch_app(arg_vm, arg_container, arg_app, arg_command, &err);
        if (r < 0)
                bistro_notify_failure(arg_app, err ?: strerror(-r));
        return r;
}

static int run(int argc, char *argv[]) {
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_free_ char *vsh = NULL, *user = NULL;
        const Bistro__Concierge__ContainerInfoResponse *info;
        StartProgress sp = {};
        int r;

        cli_setup("bistro");
        (void) signal(SIGPIPE, SIG_IGN);

        /* "bistro files ...": a command of its own ("bistro -- files" runs a program named files). */
        if (argc >= 2 && streq(argv[1], "files")) {
                r = pick_user(&user);
                if (r < 0)
                        return r;
                return bistro_files_run(argc - 1, argv + 1, user);
        }
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        r = pick_user(&user);
        if (r < 0)
                return r;
        if (arg_app)
                return run_app(user);
        r = vsh_binary(&vsh);
        if (r < 0)
                return r;
        /* One concierge call, then one vsh session: everything else happens inside concierge. */
        r = bistro_ensure_container(arg_vm, arg_container, user, true, &sp, &resp);
        if (r < 0)
                return r;
        info = (const void *) resp;
        if (info->started)
                bistro_announce("Started container %s.", arg_container);
        if (info->user_created)
                bistro_announce(
                        "Created user %s in %s (home /home/%s, bash, sudo without a password).", user,
                        arg_container, user);
        if (!arg_command && !isatty(STDIN_FILENO))
                return check_and_exit(
                        vsh, user, sp.vm_started, info->created, info->started,
                        info->container->ipv4_address);
        return exec_vsh(vsh, user);
}

DEFINE_MAIN_FUNCTION(run);
