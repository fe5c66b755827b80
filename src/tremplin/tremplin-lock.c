/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/statfs.h>

#include "fd-util.h"
#include "macro.h"
#include "tremplin-error.h"
#include "tremplin-layout.h"
#include "tremplin-lock.h"

int check_stateful(char **reterr_message) {
        struct statfs sf;

        if (statfs(STATEFUL_MOUNT, &sf) < 0 || sf.f_type != BTRFS_SUPER_MAGIC)
                return set_error_message(
                        reterr_message, -ENOMEDIUM,
                        "the VM's stateful disk is not mounted at " STATEFUL_MOUNT);
        return 0;
}

int lock_lxc(void) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = mkdir_p(STATEFUL_LXC_PATH, 0711);
        if (r < 0)
                return r;
        fd = open(LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX) < 0)
                return -errno;
        return TAKE_FD(fd);
}
