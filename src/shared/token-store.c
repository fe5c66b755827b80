/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "dirent-util.h"
#include "fd-util.h"
#include "path-lookup.h"
#include "path-util.h"
#include "proto-validate.h"
#include "rm-rf.h"
#include "string-util.h"
#include "token-store.h"

int token_store_dir(char **ret) {
        _cleanup_free_ char *runtime = NULL;
        char *p;
        int r;

        r = bistro_runtime_dir(&runtime);
        if (r < 0)
                return r;
        p = path_join(runtime, "tokens");
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static int token_path(const char *dir, const char *vm, const char *container, char **ret) {
        char *p;

        /* Names are checked here, not trusted: they become path components. */
        if (!proto_name_ok(vm) || (container && !proto_name_ok(container)))
                return -EINVAL;
        if (container ? asprintf(&p, "%s/%s/%s", dir, vm, container) < 0
                      : asprintf(&p, "%s/%s", dir, vm) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static int read_token_at(int dfd, const char *name, TokenBuf ret) {
        _cleanup_close_ int fd = -EBADF;
        char buf[PROTO_TOKEN_MAX + 2];
        ssize_t n;

        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        n = loop_read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return (int) n;
        buf[n] = 0;
        if (!proto_token_ok(buf))
                return -EBADMSG;
        memcpy(ret, buf, (size_t) n + 1);
        return 0;
}

int token_store_get(const char *dir, const char *vm, const char *container, TokenBuf ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = token_path(dir, vm, container, &path);
        if (r < 0)
                return r;
        return read_token_at(AT_FDCWD, path, ret);
}

int token_store_put(const char *dir, const char *vm, const char *container, const char *token) {
        _cleanup_free_ char *vm_dir = NULL, *path = NULL;
        int r;

        if (!proto_token_ok(token))
                return -EINVAL;
        r = token_path(dir, vm, NULL, &vm_dir);
        if (r < 0)
                return r;
        r = token_path(dir, vm, container, &path);
        if (r < 0)
                return r;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (mkdir(vm_dir, 0700) < 0 && errno != EEXIST)
                return -errno;
        return write_file_atomic(path, token, 0600);
}

int token_store_remove(const char *dir, const char *vm, const char *container) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = token_path(dir, vm, container, &path);
        if (r < 0)
                return r;
        r = container ? (unlink(path) < 0 ? -errno : 0) : rm_rf(path);
        return r == -ENOENT ? 0 : r;
}

bool token_equal(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        unsigned char d = la != lb;

        for (size_t i = 0; i < la; i++)
                d |= (unsigned char) (a[i] ^ b[i < lb ? i : 0]);
        return d == 0;
}

int token_store_find(const char *dir, const char *vm, const char *token, NameBuf ret_container) {
        _cleanup_free_ char *vm_dir = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        if (!proto_token_ok(token))
                return -EINVAL;
        r = token_path(dir, vm, NULL, &vm_dir);
        if (r < 0)
                return r;
        d = opendir(vm_dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                TokenBuf t;

                if (!proto_name_ok(de->d_name))
                        continue; /* ".", "..", temp files */
                if (read_token_at(dirfd(d), de->d_name, t) < 0)
                        continue;
                if (token_equal(t, token)) {
                        strscpy(ret_container, de->d_name, sizeof(NameBuf));
                        return 0;
                }
        }
        return -ENOENT;
}
