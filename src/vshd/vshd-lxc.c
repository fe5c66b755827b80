/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sessions in a container: liblxc's attach (the container's namespaces, cgroup, LSM, idmap), then
 * vshd_exec_child() inside it. */
#include <errno.h>
#include <lxc/attach_options.h>
#include <lxc/lxccontainer.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "lxc-util.h"
#include "time-util.h"
#include "vshd.h"

static int attach_exec(void *payload) {
        vshd_exec_child(payload);
}

int vshd_spawn_container(const VshdExec *x, pid_t *ret_pid, char **reterr_message) {
        _cleanup_lxc_container_put_ struct lxc_container *c = NULL;
        lxc_attach_options_t opts = LXC_ATTACH_OPTIONS_DEFAULT;
        const char *name = x->setup->container;
        pid_t pid = -1;
        usec_t t0 = now_usec(CLOCK_MONOTONIC), t1, t2;
        int r;

        c = lxc_container_new(name, STATEFUL_LXC_PATH);
        if (!c)
                return set_error_message(reterr_message, -ENOMEM, "cannot open container '%s'", name);
        if (!c->is_defined(c))
                return set_error_message(reterr_message, -ENOENT, "no such container '%s'", name);
        /* Whether it runs is asked only when the attach fails: the question costs a round trip
         * to the container's monitor process, which on a busy TCG vCPU shows. */
        t1 = now_usec(CLOCK_MONOTONIC);
        /* We build the whole environment ourselves (vshd_exec_child()). */
        opts.env_policy = LXC_ATTACH_CLEAR_ENV;
        opts.stdin_fd = x->stdio[0];
        opts.stdout_fd = x->stdio[1];
        opts.stderr_fd = x->stdio[2];
        r = c->attach(c, attach_exec, (void *) x, &opts, &pid);
        t2 = now_usec(CLOCK_MONOTONIC);
        log_debug(
                "Container %s: open and checks %.3f s, attach %.3f s.", name,
                (double) (t1 - t0) / USEC_PER_SEC, (double) (t2 - t1) / USEC_PER_SEC);
        if (r < 0 || pid <= 0) {
                if (!c->is_running(c))
                        return set_error_message(
                                reterr_message, -ESRCH, "container '%s' is not running", name);
                return set_error_message(reterr_message, -EIO, "cannot attach to container '%s'", name);
        }
        *ret_pid = pid;
        return 0;
}
