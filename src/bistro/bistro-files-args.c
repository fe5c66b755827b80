/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bistro files' command line (pure: parsing and checks only, for the unit test). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "bistro-files-args.h"
#include "main-func.h"
#include "path-util.h"
#include "proto-validate.h"
#include "string-util.h"

static int help(void) {
        printf("Usage: bistro files [--vm NAME] [--container NAME] [--mountpoint DIR] [--unmount]\n"
               "\"Linux files\": mounts the container's home directory, as its default user, at\n"
               "~/Bistro/CONTAINER (~/Bistro/CONTAINER@VM for a VM other than termina) through sshfs.\n"
               "Starts concierge, the VM and the container when needed. The mount goes away when the\n"
               "VM or the container stops; run bistro files again to bring it back.\n\n"
               "  --vm NAME          VM (default termina)\n"
               "  --container NAME   container (default penguin)\n"
               "  --mountpoint DIR   mount there instead (created when missing)\n"
               "  --unmount          remove the mount (fusermount3 -u)\n"
               "  -h --help          this help\n\n"
               "Needs sshfs and fusermount3 (Debian packages sshfs and fuse3) and a usable /dev/fuse.\n"
               "Exit status: 0 mounted (or already mounted) or unmounted, 1 failure, 2 bad usage.\n");
        return 0;
}

int bistro_files_parse_argv(int argc, char *argv[], FilesArgs *ret) {
        enum {
                ARG_VM = 0x100,
                ARG_CONTAINER,
                ARG_MOUNTPOINT,
                ARG_UNMOUNT,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "vm", required_argument, NULL, ARG_VM },
                { "container", required_argument, NULL, ARG_CONTAINER },
                { "mountpoint", required_argument, NULL, ARG_MOUNTPOINT },
                { "unmount", no_argument, NULL, ARG_UNMOUNT },
                {},
        };
        int c;

        *ret = (FilesArgs){ .vm = "termina", .container = BISTRO_FILES_DEFAULT_CONTAINER };
        opterr = 0;
        optind = 0; /* a full getopt reset: the unit test parses several times */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help();
                case ARG_VM:
                        ret->vm = optarg;
                        break;
                case ARG_CONTAINER:
                        ret->container = optarg;
                        break;
                case ARG_MOUNTPOINT:
                        ret->mountpoint = optarg;
                        break;
                case ARG_UNMOUNT:
                        ret->unmount = true;
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("bistro files takes no arguments ('%s')", argv[optind]);
        if (!proto_name_ok(ret->vm) || !proto_name_ok(ret->container))
                return log_usage_error(
                        "invalid %s name '%s': 1-64 characters of A-Z a-z 0-9 . _ -, not starting with '.' or '-'",
                        proto_name_ok(ret->vm) ? "container" : "VM",
                        proto_name_ok(ret->vm) ? ret->container : ret->vm);
        /* As mountinfo will show it, so that the mount is found again. */
        if (ret->mountpoint &&
            (!path_is_normalized_absolute(ret->mountpoint) || streq(ret->mountpoint, "/") ||
             ret->mountpoint[strlen(ret->mountpoint) - 1] == '/'))
                return log_usage_error(
                        "--mountpoint wants a normalized absolute path (no '.', '..', '//' or trailing '/'): '%s'",
                        ret->mountpoint);
        return 1;
}
