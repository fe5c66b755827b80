/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>

#include "alloc-util.h"
#include "macro.h"
#include "strv.h"
#include "vmm-net.h"

int slirpd_build_argv(const SlirpdConfig *c, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        char fd[16];
        int r;

        if (!c->binary || c->fd < 0)
                return -EINVAL;
        (void) snprintf(fd, sizeof(fd), "%d", c->fd);
        r = strv_extend(&v, c->binary);
        if (r >= 0)
                r = strv_extend(&v, "--fd");
        if (r >= 0)
                r = strv_extend(&v, fd);
        /* By default the gateway is just another address: nothing maps it to the host's loopback. */
        if (r >= 0 && c->host_loopback)
                r = strv_extend(&v, "--host-loopback");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}
