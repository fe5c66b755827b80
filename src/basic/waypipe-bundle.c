/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "macro.h"
#include "path-util.h"
#include "strv.h"
#include "waypipe-bundle.h"

int waypipe_bundle_argv(const char *dir, char *const *args, char ***ret) {
        _cleanup_strv_free_ char **argv = NULL;
        int r;

        if (!dir || dir[0] != '/')
                return -EINVAL;
        r = strv_consume(&argv, path_join(dir, WAYPIPE_BUNDLE_LOADER));
        if (r >= 0)
                r = strv_extend(&argv, "--library-path");
        if (r >= 0)
                r = strv_extend(&argv, dir);
        if (r >= 0)
                r = strv_consume(&argv, path_join(dir, WAYPIPE_BUNDLE_PROGRAM));
        for (char *const *a = args; r >= 0 && a && *a; a++)
                r = strv_extend(&argv, *a);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(argv);
        return 0;
}
