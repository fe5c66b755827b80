/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: the VM command line; talks to concierge over $XDG_RUNTIME_DIR/bistro/concierge.sock and
 * starts concierge when nothing listens there. This file parses the options and dispatches to the
 * verbs (vmc-*.c). Exit status: 0 ok, 1 failure, 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli-util.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "string-util.h"
#include "vmc.h"

bool arg_json = false;
bool arg_quiet = false;
bool arg_force = false;
bool arg_yes = false;
uint32_t arg_cpus = 0;
int arg_host_loopback = -1;
uint64_t arg_mem_mib = 0;
uint64_t arg_disk_size = 0;
const char *arg_image = NULL;
const char *arg_host_port = NULL;
bool arg_udp = false;
bool arg_remove = false;
const char *arg_container = NULL;
const char *arg_share_name = NULL;
bool arg_read_only = false;
bool arg_list = false;

typedef struct Verb {
        const char *name;
        const char *args;
        const char *help;
        int min_args, max_args;
        int (*run)(char **args);
} Verb;

static const Verb verbs[] = {
        { "start", "[VM]",
          "Start a VM (default 'termina'); creates its disk on first start.\n"
          "  --cpus N --mem SIZE --disk-size SIZE (disk size only on creation), --json\n"
          "  --host-loopback: let the VM and its containers reach the host's 127.0.0.1 and ::1\n"
          "  (kept for later starts; --no-host-loopback turns it off again)",
          0, 1, verb_start },
        { "stop", "[VM]",
          "Stop a VM gracefully (maitred, then power button, then kill).\n  --force: kill at once", 0, 1,
          verb_stop },
        { "list", "", "List VMs.  --json, -q (names only)", 0, 0, verb_list },
        { "ls", "", "Same as list.", 0, 0, verb_list },
        { "info", "[VM]", "Show a VM.  --json", 0, 1, verb_info },
        { "destroy", "VM", "Delete a stopped VM's disk and configuration.  --yes: do not ask", 1, 1,
          verb_destroy },
        { "logs", "[VM]", "Print the tail of the VM's console log (control characters escaped).", 0, 1,
          verb_logs },
        { "export", "VM FILE",
          "Write the VM's disk to FILE (zstd) and FILE.sha256.\n  --force: export a running VM", 2, 2,
          verb_export },
        { "import", "FILE VM", "Create VM from an export (checked against FILE.sha256).", 2, 2,
          verb_import },
        { "resize", "VM SIZE", "Grow the VM's disk (live when running); shrinking is refused.", 2, 2,
          verb_resize },
        { "sync-time", "", "Push the host clock into every running VM.", 0, 0, verb_sync_time },
        { "container", "VM NAME",
          "Start container NAME in VM (and the VM), creating it first when missing.\n"
          "  --image IMAGE|FILE: image of the host store (default 'debian') or any rootfs tarball\n"
          "  (tar, tar.zst, tar.gz, tar.xz) to create it from.  --json, -q",
          2, 2, verb_container },
        { "container-stop", "VM NAME",
          "Stop a container cleanly (killed after 10 s).\n  --force: kill at once", 2, 2,
          verb_container_stop },
        { "container-delete", "VM NAME", "Delete a stopped container and its files.  --yes: do not ask", 2,
          2, verb_container_delete },
        { "container-list", "[VM]", "List the containers of a running VM (default 'termina').  --json, -q",
          0, 1, verb_container_list },
        { "ports", "[VM]",
          "List port forwards (all running VMs by default): automatic and manual, with state.  --json, -q",
          0, 1, verb_ports },
        { "port-forward", "VM CONTAINER PORT",
          "Forward localhost:PORT (or --host-port H) to a container's PORT; --udp for UDP.\n"
          "  --remove: remove the manual forward of that host port and protocol",
          3, 3, verb_port_forward },
        { "share", "VM HOSTDIR",
          "Share a host folder into a container at /mnt/shared/NAME (at once when running, and at every\n"
          "  start).  --container NAME (default 'penguin'), --name N (default: the folder's name),\n"
          "  --read-only, --json",
          2, 2, verb_share },
        { "unshare", "VM NAME", "Remove a share (files open in the container stay usable until closed).", 2,
          2, verb_unshare },
        { "shares", "[VM]", "List a VM's shares (default 'termina').  --json, -q", 0, 1, verb_shares },
        { "apps", "[VM] [CONTAINER]",
          "List the containers' applications in the host's launcher (no daemon needed).  --json, -q", 0, 2,
          verb_apps },
        { "app-scale", "VM CONTAINER APP [FACTOR|reset]",
          "Show or set an application's scale (0.5 to 4: 1.5, 2, 150%) from its next launch; 'reset'\n"
          "  removes it. APP is its desktop file id, as 'vmc apps' lists it (\".desktop\" optional).\n"
          "  --list: every scale set.  --json, -q",
          0, 4, verb_app_scale },
        { "window-mark", "[title|app-id|none]",
          "Show or set how the host marks windows of containers: ' (CONTAINER)' after the title\n"
          "  (default), app_id 'bistro.CONTAINER.APP', or not at all.  --json",
          0, 1, verb_window_mark },
};

static int help(const Verb *v) {
        if (v) {
                printf("Usage: vmc %s %s\n%s\n", v->name, v->args, v->help);
                return 0;
        }
        printf("Usage: vmc [-q] [--json] VERB [ARGS]\nManage Bistro VMs and their containers (through concierge).\n\nVerbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-16s %-8s %.*s\n", verbs[i].name, verbs[i].args,
                       (int) strcspn(verbs[i].help, "\n"), verbs[i].help);
        printf("\n'vmc VERB --help' for a verb's options. Exit status: 0 ok, 1 failed, 2 usage.\n");
        return 0;
}

static const Verb *find_verb(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(name, verbs[i].name))
                        return &verbs[i];
        return NULL;
}

static int run(int argc, char *argv[]) {
        enum {
                ARG_JSON = 0x100,
                ARG_CPUS,
                ARG_MEM,
                ARG_DISK,
                ARG_FORCE,
                ARG_YES,
                ARG_IMAGE,
                ARG_HOST_PORT,
                ARG_UDP,
                ARG_REMOVE,
                ARG_HOST_LOOPBACK,
                ARG_NO_HOST_LOOPBACK,
                ARG_CONTAINER,
                ARG_SHARE_NAME,
                ARG_READ_ONLY,
                ARG_LIST,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, ARG_JSON },
                { "quiet", no_argument, NULL, 'q' },
                { "cpus", required_argument, NULL, ARG_CPUS },
                { "mem", required_argument, NULL, ARG_MEM },
                { "disk-size", required_argument, NULL, ARG_DISK },
                { "force", no_argument, NULL, ARG_FORCE },
                { "yes", no_argument, NULL, ARG_YES },
                { "image", required_argument, NULL, ARG_IMAGE },
                { "host-port", required_argument, NULL, ARG_HOST_PORT },
                { "udp", no_argument, NULL, ARG_UDP },
                { "remove", no_argument, NULL, ARG_REMOVE },
                { "host-loopback", no_argument, NULL, ARG_HOST_LOOPBACK },
                { "no-host-loopback", no_argument, NULL, ARG_NO_HOST_LOOPBACK },
                { "container", required_argument, NULL, ARG_CONTAINER },
                { "name", required_argument, NULL, ARG_SHARE_NAME },
                { "read-only", no_argument, NULL, ARG_READ_ONLY },
                { "list", no_argument, NULL, ARG_LIST },
                {},
        };
        const Verb *verb;
        char *args[5] = {}; /* NULL after the last */
        int c, n = 0;
        bool want_help = false;

        cli_setup("vmc");
        (void) signal(SIGPIPE, SIG_IGN);
        /* Options may come before or after the verb. Our messages, not getopt's (which has no prefix
         * of ours). */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "hqy", options, NULL)) >= 0) {
                uint64_t v;

                switch (c) {
                case 'h':
                        want_help = true;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case 'q':
                        arg_quiet = true;
                        break;
                case ARG_CPUS:
                        if (safe_atou64(optarg, &v) < 0 || v < 1 || v > 256)
                                return log_usage_error("invalid --cpus '%s' (1-256)", optarg);
                        arg_cpus = (uint32_t) v;
                        break;
                case ARG_MEM:
                        if (parse_size(optarg, &v) < 0 || (v >> 20) < 64 || (v >> 20) > 1024 * 1024)
                                return log_usage_error("invalid --mem '%s' (64M to 1T)", optarg);
                        arg_mem_mib = v >> 20;
                        break;
                case ARG_DISK:
                        if (parse_size(optarg, &v) < 0 || v < (UINT64_C(1) << 30) ||
                            v > (UINT64_C(64) << 40))
                                return log_usage_error("invalid --disk-size '%s' (1G to 64T)", optarg);
                        arg_disk_size = v;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        break;
                case 'y':
                case ARG_YES:
                        arg_yes = true;
                        break;
                case ARG_IMAGE:
                        arg_image = optarg;
                        break;
                case ARG_HOST_PORT:
                        arg_host_port = optarg;
                        break;
                case ARG_UDP:
                        arg_udp = true;
                        break;
                case ARG_REMOVE:
                        arg_remove = true;
                        break;
                case ARG_HOST_LOOPBACK:
                        arg_host_loopback = 1;
                        break;
                case ARG_NO_HOST_LOOPBACK:
                        arg_host_loopback = 0;
                        break;
                case ARG_CONTAINER:
                        arg_container = optarg;
                        break;
                case ARG_SHARE_NAME:
                        arg_share_name = optarg;
                        break;
                case ARG_READ_ONLY:
                        arg_read_only = true;
                        break;
                case ARG_LIST:
                        arg_list = true;
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        }
        if (optind >= argc) {
                if (want_help)
                        return help(NULL);
                return log_usage_error("missing verb");
        }
        verb = find_verb(argv[optind]);
        if (!verb)
                return log_usage_error("unknown verb '%s'", argv[optind]);
        if (want_help)
                return help(verb);
        for (int i = optind + 1; i < argc; i++) {
                if (n >= verb->max_args)
                        return log_usage_error(
                                "%s: too many arguments (usage: vmc %s %s)", verb->name, verb->name,
                                verb->args);
                args[n++] = argv[i];
        }
        if (n < verb->min_args)
                return log_usage_error(
                        "%s: missing arguments (usage: vmc %s %s)", verb->name, verb->name, verb->args);
        return verb->run(args);
}

DEFINE_MAIN_FUNCTION(run);
