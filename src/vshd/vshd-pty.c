/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pty of a container session comes from the container's own devpts instance, so that inside it
 * the process's terminal is /dev/pts/N of its /dev/pts (tty, ttyname(), who, script work). The
 * master stays in vshd; the container only ever holds the slave. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "string-util.h"
#include "vshd.h"

#ifndef TIOCGPTPEER
#        define TIOCGPTPEER _IO('T', 0x41)
#endif

/* /dev/pts/ptmx: the character device 5:2, on devpts. */
#define PTMX_MAJOR 5
#define PTMX_MINOR 2

int vshd_pty_open_in(int devpts_fd, const struct winsize *w, int *ret_master, int *ret_slave) {
        _cleanup_close_ int master = -EBADF, slave = -EBADF;
        struct statfs sfs;
        struct stat st;
        int unlock = 0;

        /* One component, never a symlink: the instance's own ptmx node. */
        master = openat(devpts_fd, "ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW);
        if (master < 0)
                return -errno;
        if (fstatfs(master, &sfs) < 0 || fstat(master, &st) < 0)
                return -errno;
        if (sfs.f_type != DEVPTS_SUPER_MAGIC || !S_ISCHR(st.st_mode) ||
            st.st_rdev != makedev(PTMX_MAJOR, PTMX_MINOR))
                return -ENOTTY;
        if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
                return -errno;
        /* The slave through the master (the kernel finds it in the master's devpts instance), not
         * by a path another namespace could have changed. */
        slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
                return -errno;
        /* The size is there before the process starts. */
        if (ioctl(master, TIOCSWINSZ, w) < 0)
                return -errno;
        *ret_master = TAKE_FD(master);
        *ret_slave = TAKE_FD(slave);
        return 0;
}

/* One "u|g NSID HOSTID RANGE" line of n bytes at p. */
static int parse_idmap_line(const char *p, size_t n, char *ret_kind, uint32_t ret_v[static 3]) {
        char line[128], *f[4], *save = NULL;
        size_t k = 0;
        int r;

        if (n >= sizeof(line))
                return -EBADMSG;
        memcpy(line, p, n);
        line[n] = 0;
        for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
                if (k == ELEMENTSOF(f))
                        return -EBADMSG;
                f[k++] = t;
        }
        if (k != ELEMENTSOF(f) || strlen(f[0]) != 1 || (f[0][0] != 'u' && f[0][0] != 'g'))
                return -EBADMSG;
        for (size_t i = 0; i < 3; i++) {
                r = safe_atou32(f[i + 1], &ret_v[i]);
                if (r < 0)
                        return -EBADMSG;
        }
        *ret_kind = f[0][0];
        return 0;
}

int vshd_idmap_lookup(const char *idmap, char kind, uint32_t id, uint32_t *ret_host_id) {
        bool any = false, found = false;
        uint32_t host = 0;

        /* Every line is checked, also after the one that answers. */
        for (const char *p = idmap; p && *p;) {
                size_t n = strcspn(p, "\n");
                uint32_t v[3]; /* nsid, hostid, range */
                char k;
                int r;

                if (n > 0) {
                        r = parse_idmap_line(p, n, &k, v);
                        if (r < 0)
                                return r;
                        if ((uint64_t) v[0] + v[2] > (uint64_t) UINT32_MAX + 1 ||
                            (uint64_t) v[1] + v[2] > (uint64_t) UINT32_MAX + 1)
                                return -EBADMSG;
                        if (k == kind) {
                                any = true;
                                if (!found && id >= v[0] && id - v[0] < v[2]) {
                                        host = v[1] + (id - v[0]);
                                        found = true;
                                }
                        }
                }
                p += n;
                if (*p == '\n')
                        p++;
        }
        if (!any)
                /* No map of this kind: the container shares the VM's ids. */
                host = id;
        else if (!found)
                return -ESRCH;
        *ret_host_id = host;
        return 0;
}
