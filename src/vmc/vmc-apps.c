/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc apps: the containers' applications on the host (app-entries.h); reads the files, no daemon. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc-util.h"
#include "app-entries.h"
#include "cli-util.h"
#include "log.h"
#include "vmc.h"

int verb_apps(char **args) {
        AppEntry *v = NULL;
        size_t n = 0;
        int r;

        if (args[0]) {
                r = args[1] ? vmc_check_vm_and_container(args[0], args[1]) : vmc_check_vm_name(args[0]);
                if (r < 0)
                        return r;
        }
        r = app_entries_list(args[0], args[0] ? args[1] : NULL, &v, &n);
        if (r < 0)
                return log_error_errno(r, "Cannot list the applications: %m");
        if (arg_json) {
                putchar('[');
                for (size_t i = 0; i < n; i++) {
                        fputs(i ? ",{\"vm\":" : "{\"vm\":", stdout);
                        json_write_string(stdout, v[i].vm);
                        fputs(",\"container\":", stdout);
                        json_write_string(stdout, v[i].container);
                        fputs(",\"app\":", stdout);
                        json_write_string(stdout, v[i].id);
                        fputs(",\"name\":", stdout);
                        json_write_string(stdout, v[i].name);
                        fputs(",\"path\":", stdout);
                        json_write_string(stdout, v[i].path);
                        putchar('}');
                }
                printf("]\n");
        } else if (arg_quiet) {
                for (size_t i = 0; i < n; i++)
                        printf("%s\n", v[i].id);
        } else {
                printf("%-16s %-16s %-32s %s\n", "VM", "CONTAINER", "APP", "NAME");
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *name = escape_for_terminal(v[i].name, strlen(v[i].name), false);

                        printf("%-16s %-16s %-32s %s\n", v[i].vm, v[i].container, v[i].id, name ?: "?");
                }
        }
        app_entries_free(v, n);
        return 0;
}
