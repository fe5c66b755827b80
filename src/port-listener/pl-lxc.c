/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <lxc/lxccontainer.h>

#include "bistro-ports.h"
#include "lxc-util.h"
#include "port-listener.h"

int pl_container_init_pid(const char *name, pid_t *ret_pid) {
        _cleanup_lxc_container_put_ struct lxc_container *c = NULL;
        pid_t pid;

        c = lxc_container_new(name, STATEFUL_LXC_PATH);
        if (!c)
                return -ENOMEM;
        if (!c->is_defined(c))
                return -ENOENT;
        pid = c->init_pid(c);
        if (pid <= 0)
                return -ESRCH;
        *ret_pid = pid;
        return 0;
}

int pl_container_init_pidfd(const char *name) {
        _cleanup_lxc_container_put_ struct lxc_container *c = NULL;
        int fd;

        c = lxc_container_new(name, STATEFUL_LXC_PATH);
        if (!c)
                return -ENOMEM;
        if (!c->is_defined(c))
                return -ENOENT;
        fd = c->init_pidfd(c);
        return fd >= 0 ? fd : -ESRCH;
}
