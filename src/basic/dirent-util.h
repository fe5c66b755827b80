/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <dirent.h>
#include <stdbool.h>

#include "macro.h"

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

static inline bool dot_or_dot_dot(const char *name) {
        return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0));
}

/* Iterates over the entries of d, skipping "." and "..". */
#define FOREACH_DIRENT(de, d)                        \
        for (struct dirent * de; (de = readdir(d));) \
                if (dot_or_dot_dot(de->d_name))      \
                        continue;                    \
                else
