/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Input: u16 length + that many bytes of guest memory, then a vhost-user message stream as QEMU would
 * send it: header + payload, fds made up by the harness
 * (memfds for memory tables, eventfds for rings; bit 8 of flags gives one fd too many). After each
 * message the device runs its queues, so rings placed in the mapped memory are exercised too. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "macro.h"
#include "vsock-dev.h"

#define MEMFD_SIZE (1u << 20)

static int memfd = -1;

static int make_fd(bool mem) {
        if (mem)
                return fcntl(memfd, F_DUPFD_CLOEXEC, 3);
        return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static VsockDev dev;
        unsigned n_msgs = 0;

        log_set_target(LOG_TARGET_NULL); /* guest-triggered warnings are expected here */

        if (memfd < 0) {
                memfd = memfd_create("fuzz-ram", MFD_CLOEXEC);
                if (memfd < 0 || ftruncate(memfd, MEMFD_SIZE) < 0)
                        abort();
        }
        /* Fresh zeroed guest memory, then the first bytes of the input as its contents. */
        if (ftruncate(memfd, 0) < 0 || ftruncate(memfd, MEMFD_SIZE) < 0)
                abort();
        if (size >= 2) {
                size_t l = MIN((size_t) (data[0] | data[1] << 8), size - 2);

                if (l > 0 && pwrite(memfd, data + 2, l, 0) != (ssize_t) l)
                        abort();
                data += 2 + l;
                size -= 2 + l;
        }
        if (vsock_dev_init(&dev, -1, 3, "/nonexistent/v.sock", true) < 0)
                return 0;

        while (size >= VHOST_USER_HDR_SIZE && n_msgs++ < 64) {
                VhostUserMsg m = {}, reply;
                unsigned want = 0;

                memcpy(&m, data, VHOST_USER_HDR_SIZE);
                data += VHOST_USER_HDR_SIZE;
                size -= VHOST_USER_HDR_SIZE;
                if (vhost_user_hdr_check(m.request, m.flags, m.size) < 0)
                        break;
                if (m.size > size)
                        break;
                memcpy(&m.payload, data, m.size);
                data += m.size;
                size -= m.size;

                if (m.request == VHOST_USER_SET_MEM_TABLE && m.size >= 4)
                        want = MIN(m.payload.mem.nregions, VHOST_USER_MAX_FDS);
                else if (
                        (m.request == VHOST_USER_SET_VRING_KICK || m.request == VHOST_USER_SET_VRING_CALL ||
                         m.request == VHOST_USER_SET_VRING_ERR) &&
                        m.size >= 8 && !(m.payload.u64 & VHOST_USER_VRING_NOFD))
                        want = 1;
                if ((m.flags & 0x100) && want < VHOST_USER_MAX_FDS)
                        want++;
                for (unsigned i = 0; i < want; i++) {
                        int fd = make_fd(m.request == VHOST_USER_SET_MEM_TABLE);
                        if (fd < 0)
                                break;
                        m.fds[m.n_fds++] = fd;
                }

                if (vhost_user_handle(&dev.vu, &m, &reply) < 0)
                        break;
                vsock_dev_process(&dev);
        }
        vsock_dev_done(&dev);
        return 0;
}
