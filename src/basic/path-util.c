/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <limits.h>
#include <sys/stat.h>

#include "macro.h"
#include "path-util.h"

char *path_join(const char *a, const char *b) {
        size_t la = strlen(a);
        char *p;

        while (la > 1 && a[la - 1] == '/')
                la--;
        while (b[0] == '/')
                b++;
        if (asprintf(&p, "%.*s%s%s", (int) la, a, la > 0 && a[la - 1] == '/' ? "" : "/", b) < 0)
                return NULL;
        return p;
}

int self_exe_path(char **ret) {
        char buf[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

        if (n < 0)
                return -errno;
        if ((size_t) n >= sizeof(buf) - 1)
                return -ENAMETOOLONG;
        buf[n] = 0;
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

int self_exe_dir(char **ret) {
        char *p, *slash;
        int r;

        r = self_exe_path(&p);
        if (r < 0)
                return r;
        slash = strrchr(p, '/');
        if (slash == p)
                slash[1] = 0;
        else if (slash)
                *slash = 0;
        *ret = p;
        return 0;
}

static bool is_executable_file(const char *p) {
        struct stat st;

        return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

int find_executable(const char *name, char **ret) {
        const char *path, *s;

        if (!name[0])
                return -EINVAL;
        if (strchr(name, '/')) {
                if (!is_executable_file(name))
                        return -ENOENT;
                *ret = strdup(name);
                return *ret ? 0 : -ENOMEM;
        }
        path = getenv("PATH");
        if (!path)
                path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        for (s = path;; s++) {
                const char *e = strchrnul(s, ':');
                _cleanup_free_ char *dir = NULL, *p = NULL;

                if (e > s) {
                        dir = strndup(s, e - s);
                        if (!dir)
                                return -ENOMEM;
                        p = path_join(dir, name);
                        if (!p)
                                return -ENOMEM;
                        if (is_executable_file(p)) {
                                *ret = TAKE_PTR(p);
                                return 0;
                        }
                }
                if (!*e)
                        break;
                s = e;
        }
        return -ENOENT;
}

bool path_is_normalized_absolute(const char *path) {
        const char *p = path;

        if (path[0] != '/')
                return false;
        while (*p) {
                const char *e;
                size_t n;

                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                if (p[-1] == '/' && p - path >= 2 && p[-2] == '/')
                        return false;
                e = strchrnul(p, '/');
                n = e - p;
                if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                p = e;
        }
        return !strstr(path, "//");
}

int readlink_malloc(const char *path, char **ret) {
        char buf[PATH_MAX];
        ssize_t n;
        char *s;

        n = readlink(path, buf, sizeof(buf));
        if (n < 0)
                return -errno;
        if ((size_t) n >= sizeof(buf))
                return -ENAMETOOLONG;
        s = strndup(buf, (size_t) n);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}
