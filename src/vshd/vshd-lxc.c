/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sessions in a container: liblxc's attach (the container's namespaces, cgroup, LSM, idmap), then
 * vshd_exec_child() inside it. */
#include <errno.h>
#include <lxc/attach_options.h>
#include <lxc/lxccontainer.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "vshd.h"

static int attach_exec(void *payload) {
        vshd_exec_child(payload);
}

static double now(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int vshd_spawn_container(const VshdExec *x, pid_t *ret_pid, char *err, size_t err_size) {
        lxc_attach_options_t opts = LXC_ATTACH_OPTIONS_DEFAULT;
        const char *name = x->setup->container;
        struct lxc_container *c;
        pid_t pid = -1;
        double t0 = now(), t1, t2;
        int r;

        c = lxc_container_new(name, VSHD_LXC_PATH);
        if (!c) {
                (void) snprintf(err, err_size, "cannot open container '%s'", name);
                return -ENOMEM;
        }
        if (!c->is_defined(c)) {
                (void) snprintf(err, err_size, "no such container '%s'", name);
                r = -ENOENT;
                goto out;
        }
        /* Whether it runs is asked only when the attach fails: the question costs a round trip
         * to the container's monitor process, which on a busy TCG vCPU shows. */
        t1 = now();
        /* We build the whole environment ourselves (vshd_exec_child()). */
        opts.env_policy = LXC_ATTACH_CLEAR_ENV;
        opts.stdin_fd = x->stdio[0];
        opts.stdout_fd = x->stdio[1];
        opts.stderr_fd = x->stdio[2];
        r = c->attach(c, attach_exec, (void *) x, &opts, &pid);
        t2 = now();
        log_debug("Container %s: open and checks %.3f s, attach %.3f s.", name, t1 - t0, t2 - t1);
        if (r < 0 || pid <= 0) {
                if (!c->is_running(c)) {
                        (void) snprintf(err, err_size, "container '%s' is not running", name);
                        r = -ESRCH;
                } else {
                        (void) snprintf(err, err_size, "cannot attach to container '%s'", name);
                        r = -EIO;
                }
                goto out;
        }
        *ret_pid = pid;
        r = 0;
out:
        lxc_container_put(c);
        return r;
}
