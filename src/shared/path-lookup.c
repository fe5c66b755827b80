/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "fd-util.h"
#include "macro.h"
#include "path-lookup.h"
#include "path-util.h"
#include "string-util.h"
#include "waypipe-bundle.h"

#ifndef BISTRO_BUILD_ROOT
#        error "BISTRO_BUILD_ROOT must be defined by the build"
#endif

static int env_absolute(const char *name, const char **ret) {
        const char *e = getenv(name);

        if (!e || !e[0])
                return -ENOENT;
        if (e[0] != '/')
                return -EINVAL;
        *ret = e;
        return 0;
}

/* $<env>, else $HOME/<fallback>. */
static int xdg_dir(const char *env, const char *fallback, char **ret) {
        const char *e;
        char *p;

        if (env_absolute(env, &e) >= 0)
                p = strdup(e);
        else if (env_absolute("HOME", &e) >= 0)
                p = path_join(e, fallback);
        else
                return -EINVAL;
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int xdg_data_home(char **ret) {
        return xdg_dir("XDG_DATA_HOME", ".local/share", ret);
}

int xdg_config_home(char **ret) {
        return xdg_dir("XDG_CONFIG_HOME", ".config", ret);
}

int bistro_config_dir(char **ret) {
        _cleanup_free_ char *home = NULL;
        int r;

        r = xdg_config_home(&home);
        if (r < 0)
                return r;
        *ret = path_join(home, "bistro");
        return *ret ? 0 : -ENOMEM;
}

int bistro_files_mountpoint(const char *vm, const char *container, char **ret) {
        _cleanup_free_ char *name = NULL, *dir = NULL;
        const char *home;
        char *p;

        if (env_absolute("HOME", &home) < 0)
                return -EINVAL;
        if (streq(vm, "termina"))
                name = strdup(container);
        else if (asprintf(&name, "%s@%s", container, vm) < 0)
                name = NULL;
        if (!name)
                return -ENOMEM;
        dir = path_join(home, "Bistro");
        p = dir ? path_join(dir, name) : NULL;
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int bistro_data_dir(char **ret) {
        _cleanup_free_ char *home = NULL;
        char *p;
        int r;

        r = xdg_data_home(&home);
        if (r < 0)
                return r;
        p = path_join(home, "bistro");
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int bistro_runtime_dir(char **ret) {
        _cleanup_free_ char *p = NULL;
        const char *e;
        struct stat st;

        if (env_absolute("XDG_RUNTIME_DIR", &e) < 0)
                return -EINVAL;
        p = path_join(e, "bistro");
        if (!p)
                return -ENOMEM;
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (lstat(p, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
                return -EPERM;
        *ret = TAKE_PTR(p);
        return 0;
}

int host_wayland_socket(char **ret) {
        const char *d = getenv("WAYLAND_DISPLAY"), *rt;
        char *p;

        if (!d || !d[0])
                return -ENXIO;
        if (d[0] == '/')
                p = strdup(d);
        else {
                if (env_absolute("XDG_RUNTIME_DIR", &rt) < 0 || strchr(d, '/'))
                        return -EINVAL;
                p = path_join(rt, d);
        }
        if (!p)
                return -ENOMEM;
        if (strlen(p) >= sizeof(((struct sockaddr_un *) NULL)->sun_path)) {
                free(p);
                return -ENAMETOOLONG;
        }
        *ret = p;
        return 0;
}

int bistro_image_store(char **ret) {
        _cleanup_free_ char *data = NULL;
        const char *e;
        int r;

        r = env_absolute("BISTRO_IMAGE_STORE", &e);
        if (r == -EINVAL)
                return r;
        if (r >= 0) {
                *ret = strdup(e);
                return *ret ? 0 : -ENOMEM;
        }
        r = bistro_data_dir(&data);
        if (r < 0)
                return r;
        *ret = path_join(data, "images/containers");
        return *ret ? 0 : -ENOMEM;
}

int bistro_running_from_build_tree(void) {
        _cleanup_free_ char *self = NULL;

        if (self_exe_path(&self) < 0)
                return 0;
        return startswith(self, BISTRO_BUILD_ROOT "/");
}

int bistro_build_path(const char *rel, char **ret) {
        if (!bistro_running_from_build_tree())
                return -ENOENT;
        *ret = path_join(BISTRO_BUILD_ROOT, rel);
        return *ret ? 0 : -ENOMEM;
}

/* The program's path: the environment's, the build tree's, else installed_dir's (NULL: our own). */
static int find_program(const char *name, const char *env, const char *installed_dir, char **ret) {
        _cleanup_free_ char *p = NULL, *self_dir = NULL;
        const char *e = env ? getenv(env) : NULL;
        int r;

        if (e && e[0])
                p = strdup(e);
        else if (bistro_running_from_build_tree()) {
                if (asprintf(&p, "%s/src/%s/%s", BISTRO_BUILD_ROOT, name, name) < 0)
                        p = NULL;
        } else {
                if (!installed_dir) {
                        r = self_exe_dir(&self_dir);
                        if (r < 0)
                                return r;
                        installed_dir = self_dir;
                }
                p = path_join(installed_dir, name);
        }
        if (!p)
                return -ENOMEM;
        if (access(p, X_OK) < 0)
                return -errno;
        *ret = TAKE_PTR(p);
        return 0;
}

int bistro_find_program(const char *name, const char *env, char **ret) {
        return find_program(name, env, BISTRO_LIBEXECDIR, ret);
}

int bistro_find_command(const char *name, const char *env, char **ret) {
        return find_program(name, env, NULL, ret);
}

int bistro_find_waypipe_bundle(char **ret_dir) {
        _cleanup_free_ char *dir = NULL, *loader = NULL, *waypipe = NULL;
        const char *e;
        int r;

        r = env_absolute("BISTRO_WAYPIPE_BUNDLE", &e);
        if (r == -EINVAL)
                return r;
        if (r >= 0)
                dir = strdup(e);
        else if (bistro_running_from_build_tree())
                dir = path_join(BISTRO_BUILD_ROOT, "image/waypipe/bundle");
        else
                dir = strdup(BISTRO_WAYPIPE_BUNDLE_DIR);
        if (!dir)
                return -ENOMEM;
        loader = path_join(dir, WAYPIPE_BUNDLE_LOADER);
        waypipe = path_join(dir, WAYPIPE_BUNDLE_PROGRAM);
        if (!loader || !waypipe)
                return -ENOMEM;
        /* The loader runs waypipe, which only needs to be readable. */
        if (access(loader, X_OK) < 0 || access(waypipe, R_OK) < 0)
                return errno == ENOENT || errno == EACCES ? -ENOENT : -errno;
        *ret_dir = TAKE_PTR(dir);
        return 0;
}
