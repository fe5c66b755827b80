/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#define BISTRO_FILES_DEFAULT_CONTAINER "penguin"

typedef struct FilesArgs {
        const char *vm, *container; /* valid names (proto_name_ok()) */
        const char *mountpoint;     /* NULL: the default; else normalized and absolute */
        bool unmount;
} FilesArgs;

/* argv[0] is "files". 1 with *ret to go on, 0 after --help, -EUSAGE (logged) for bad usage. Strings
 * point into argv. */
int bistro_files_parse_argv(int argc, char *argv[], FilesArgs *ret);
