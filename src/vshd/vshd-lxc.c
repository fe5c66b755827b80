/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sessions in a container: liblxc's attach (the container's namespaces, cgroup, LSM, idmap), then
 * vshd_exec_child() inside it. A pty comes from the container's own devpts instance. */
#include <errno.h>
#include <fcntl.h>
#include <lxc/attach_options.h>
#include <lxc/lxccontainer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "lxc-util.h"
#include "time-util.h"
#include "vshd.h"

#define TTY_GID 5 /* devpts' gid=5, as LXC mounts the container's instance */

static int attach_exec(void *payload) {
        const VshdExec *x = payload;

        /* Nothing of the session's goes on into the container but stdio and the error pipe: not
         * the pty master, not the connection to the host (they are close-on-exec, but this
         * process runs in the container before it execs). */
        if (x->error_fd > 3)
                (void) close_range(3, (unsigned) x->error_fd - 1, 0);
        (void) close_range((unsigned) MAX(x->error_fd + 1, 3), ~0U, 0);
        vshd_exec_child(x);
}

static int not_running(struct lxc_container *c, char **reterr_message) {
        return set_error_message(reterr_message, -ESRCH, "container '%s' is not running", c->name);
}

/* The container's root and tty group in the VM's ids, from the container's idmap. */
static int container_tty_owner(struct lxc_container *c, uid_t *ret_uid, gid_t *ret_gid) {
        _cleanup_free_ char *idmap = NULL;
        uint32_t uid, gid;
        int n, r;

        n = c->get_config_item(c, "lxc.idmap", NULL, 0);
        if (n < 0)
                return -EIO;
        idmap = malloc((size_t) n + 1);
        if (!idmap)
                return -ENOMEM;
        idmap[0] = 0;
        if (n > 0 && c->get_config_item(c, "lxc.idmap", idmap, n + 1) != n)
                return -EIO;
        r = vshd_idmap_lookup(idmap, 'u', 0, &uid);
        if (r < 0)
                return r;
        r = vshd_idmap_lookup(idmap, 'g', TTY_GID, &gid);
        if (r == -ESRCH)
                r = vshd_idmap_lookup(idmap, 'g', 0, &gid);
        if (r < 0)
                return r;
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

/* A pty from the devpts instance LXC mounted on the container's /dev/pts, through the mount fd
 * the container's monitor keeps (what lxc-attach uses): no container path is looked up, and the
 * master is opened here, in the VM, never in the container. */
static int container_pty(
        struct lxc_container *c,
        const VshSetup *req,
        int *ret_master,
        int *ret_slave,
        char **reterr_message) {
        _cleanup_close_ int devpts = -EBADF, master = -EBADF, slave = -EBADF;
        struct winsize w = { .ws_row = (unsigned short) req->window_rows,
                             .ws_col = (unsigned short) req->window_cols };
        uid_t uid;
        gid_t gid;
        int r;

        devpts = c->devpts_fd(c);
        if (devpts < 0) {
                if (!c->is_running(c))
                        return not_running(c, reterr_message);
                return set_error_message(
                        reterr_message, -ENODEV, "container '%s' has no devpts instance for a pty", c->name);
        }
        (void) fd_cloexec(devpts, true);
        r = vshd_pty_open_in(devpts, &w, &master, &slave);
        if (r < 0)
                return set_error_message(
                        reterr_message, r, "cannot allocate a pty in container '%s': %s", c->name,
                        strerror(-r));
        /* Opened by us, the slave is the VM's root's, an id the container does not have: nobody
         * there could chown it. Its root gets it (group tty); the session's process, still that
         * root, gives it to the user (vshd_exec_child()). */
        r = container_tty_owner(c, &uid, &gid);
        if (r < 0)
                return set_error_message(
                        reterr_message, r, "cannot map the ids of container '%s': %s", c->name,
                        strerror(-r));
        if (fchown(slave, uid, gid) < 0)
                return set_error_message(
                        reterr_message, -errno, "cannot chown the pty of container '%s': %m", c->name);
        *ret_master = TAKE_FD(master);
        *ret_slave = TAKE_FD(slave);
        return 0;
}

int vshd_spawn_container(const VshdExec *x, int *ret_master, pid_t *ret_pid, char **reterr_message) {
        _cleanup_lxc_container_put_ struct lxc_container *c = NULL;
        _cleanup_close_ int master = -EBADF, slave = -EBADF;
        lxc_attach_options_t opts = LXC_ATTACH_OPTIONS_DEFAULT;
        const char *name = x->setup->container;
        VshdExec y = *x;
        pid_t pid = -1;
        usec_t t0 = now_usec(CLOCK_MONOTONIC), t1, t2;
        int r;

        c = lxc_container_new(name, STATEFUL_LXC_PATH);
        if (!c)
                return set_error_message(reterr_message, -ENOMEM, "cannot open container '%s'", name);
        if (!c->is_defined(c))
                return set_error_message(reterr_message, -ENOENT, "no such container '%s'", name);
        if (x->tty) {
                /* A round trip to the container's monitor: it also tells that it runs. */
                r = container_pty(c, x->setup, &master, &slave, reterr_message);
                if (r < 0)
                        return r;
                y.stdio[0] = y.stdio[1] = y.stdio[2] = slave;
        }
        /* Otherwise whether it runs is asked only when the attach fails: the question costs a
         * round trip to the container's monitor process, which on a busy TCG vCPU shows. */
        t1 = now_usec(CLOCK_MONOTONIC);
        /* We build the whole environment ourselves (vshd_exec_child()). */
        opts.env_policy = LXC_ATTACH_CLEAR_ENV;
        opts.stdin_fd = y.stdio[0];
        opts.stdout_fd = y.stdio[1];
        opts.stderr_fd = y.stdio[2];
        r = c->attach(c, attach_exec, &y, &opts, &pid);
        t2 = now_usec(CLOCK_MONOTONIC);
        log_debug(
                "Container %s: open, checks%s %.3f s, attach %.3f s.", name, x->tty ? " and pty" : "",
                (double) (t1 - t0) / USEC_PER_SEC, (double) (t2 - t1) / USEC_PER_SEC);
        if (r < 0 || pid <= 0) {
                if (!c->is_running(c))
                        return not_running(c, reterr_message);
                return set_error_message(reterr_message, -EIO, "cannot attach to container '%s'", name);
        }
        if (ret_master)
                *ret_master = TAKE_FD(master);
        *ret_pid = pid;
        return 0;
}
