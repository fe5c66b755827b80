/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "fd-util.h"
#include "kmod-util.h"
#include "log.h"
#include "macro.h"
#include "path-util.h"
#include "string-util.h"
#include "strv.h"

#define MODULES_DEP_MAX (4u * 1024u * 1024u)

int module_name_normalize(const char *s, char **ret) {
        const char *b = strrchr(s, '/');
        static const char *const suffixes[] = { ".ko.xz", ".ko.zst", ".ko.gz", ".ko" };
        size_t n;
        char *name;

        b = b ? b + 1 : s;
        n = strlen(b);
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t k = strlen(suffixes[i]);

                if (n > k && streq(b + n - k, suffixes[i])) {
                        n -= k;
                        break;
                }
        }
        if (n == 0)
                return -EINVAL;
        name = strndup(b, n);
        if (!name)
                return -ENOMEM;
        for (char *p = name; *p; p++)
                if (*p == '-')
                        *p = '_';
        *ret = name;
        return 0;
}

/* The modules.dep line of a module: "path: dep dep ...". Returns the line, or NULL. */
static const char *dep_find(const char *dep_text, const char *name, const char **ret_end) {
        for (const char *line = dep_text; *line;) {
                const char *end = strchr(line, '\n'), *colon;

                if (!end)
                        end = line + strlen(line);
                colon = memchr(line, ':', end - line);
                if (colon) {
                        _cleanup_free_ char *path = strndup(line, colon - line), *n = NULL;

                        if (path && module_name_normalize(path, &n) >= 0 && streq(n, name)) {
                                *ret_end = end;
                                return line;
                        }
                }
                line = *end ? end + 1 : end;
        }
        return NULL;
}

static int dep_visit(const char *dep_text, const char *name, char ***order, char ***stack, unsigned depth) {
        const char *line, *end, *colon;
        _cleanup_free_ char *path = NULL;
        int r;

        if (depth > 64)
                return -ELOOP;
        line = dep_find(dep_text, name, &end);
        if (!line)
                return -ENOENT;
        colon = memchr(line, ':', end - line);
        path = strndup(line, colon - line);
        if (!path)
                return -ENOMEM;
        if (strv_contains(*order, path))
                return 0;
        if (strv_contains(*stack, path))
                return -ELOOP;
        r = strv_extend(stack, path);
        if (r < 0)
                return r;
        for (const char *p = colon + 1; p < end;) {
                const char *w;
                _cleanup_free_ char *dep = NULL, *dn = NULL;

                while (p < end && (*p == ' ' || *p == '\t'))
                        p++;
                w = p;
                while (p < end && *p != ' ' && *p != '\t')
                        p++;
                if (p == w)
                        break;
                dep = strndup(w, p - w);
                if (!dep)
                        return -ENOMEM;
                r = module_name_normalize(dep, &dn);
                if (r < 0)
                        return r;
                r = dep_visit(dep_text, dn, order, stack, depth + 1);
                if (r < 0)
                        return r;
        }
        return strv_consume(order, TAKE_PTR(path));
}

int modules_dep_resolve(const char *dep_text, const char *name, char ***ret) {
        _cleanup_strv_free_ char **order = NULL, **stack = NULL;
        _cleanup_free_ char *n = NULL;
        int r;

        r = module_name_normalize(name, &n);
        if (r < 0)
                return r;
        r = dep_visit(dep_text, n, &order, &stack, 0);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(order);
        return 0;
}

static int load_module_file(const char *path) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int load_module(const char *dir, const char *dep, const char *name, char ***loaded) {
        _cleanup_strv_free_ char **paths = NULL;
        int r;

        if (name[0] == '/') {
                r = load_module_file(name);
                if (r < 0)
                        return log_error_errno(r, "Failed to load module '%s': %m", name);
                return 0;
        }
        r = dep ? modules_dep_resolve(dep, name, &paths) : -ENOENT;
        if (r < 0) {
                /* Built into the kernel: nothing to load. */
                _cleanup_free_ char *sys = NULL, *n = NULL;

                if (module_name_normalize(name, &n) >= 0 && (sys = path_join("/sys/module", n)) &&
                    access(sys, F_OK) >= 0)
                        return 0;
                return log_error_errno(r, "Cannot resolve module '%s': %m", name);
        }
        for (char **p = paths; *p; p++) {
                _cleanup_free_ char *full = NULL;

                if (strv_contains(*loaded, *p))
                        continue;
                full = path_join(dir, *p);
                if (!full)
                        return -ENOMEM;
                r = load_module_file(full);
                if (r < 0)
                        return log_error_errno(r, "Failed to load module '%s': %m", full);
                if (strv_extend(loaded, *p) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int read_modules_dep(const char *kernel_release, char **ret_dir, char **ret_dep) {
        _cleanup_free_ char *dir = NULL, *dep_path = NULL;
        int r;

        dir = path_join("/lib/modules", kernel_release);
        if (!dir)
                return -ENOMEM;
        dep_path = path_join(dir, "modules.dep");
        if (!dep_path)
                return -ENOMEM;
        r = read_file(dep_path, MODULES_DEP_MAX, ret_dep, NULL);
        if (r < 0) {
                log_warning_errno(r, "Cannot read '%s', loading modules by path only: %m", dep_path);
                *ret_dep = NULL;
        }
        *ret_dir = TAKE_PTR(dir);
        return 0;
}

int modules_load(char *const *names) {
        _cleanup_free_ char *dir = NULL, *dep = NULL;
        _cleanup_strv_free_ char **loaded = NULL;
        struct utsname u;
        int r;

        if (uname(&u) < 0)
                return -errno;
        r = read_modules_dep(u.release, &dir, &dep);
        if (r < 0)
                return r;
        for (char *const *n = names; *n; n++) {
                r = load_module(dir, dep, *n, &loaded);
                if (r < 0)
                        return r;
        }
        return 0;
}
