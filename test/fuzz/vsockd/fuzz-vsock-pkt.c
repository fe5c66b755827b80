/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsock packet headers and the connection state machine. The input is a list of records:
 *   'P' + 44-byte header + payload (as much as the header's len claims)   a packet from the guest
 *   'C' + line length byte + line                                          a host client connects
 *   'W' + conn byte + length byte + bytes                                  a host client writes
 *   'X' + conn byte                                                        a host client closes
 *   'E' + conn byte + events byte                                          epoll events on a conn
 *   'D'                                                                    deadlines are checked
 * Host sockets are real (socketpairs, and listeners for guest ports 1 and 2), and the RX ring is a
 * fake one the harness refills, so control and data packets really flow to the "guest". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "fuzz.h"
#include "log.h"
#include "macro.h"
#include "socket-util.h"
#include "vsock-dev.h"

#define NUM 64u
#define GPA 0x100000u
#define UVA 0x7f0000000000ull
#define DESC_OFF 0x0u
#define AVAIL_OFF 0x400u
#define USED_OFF 0x1000u
#define BUF_OFF 0x2000u
#define BUF_SIZE 4096u
#define MAX_CLIENTS 16u

static uint8_t ram[BUF_OFF + NUM * BUF_SIZE] __attribute__((aligned(4096)));
static char base[128];
static int listeners[2] = { -1, -1 };

static void put16(unsigned off, uint16_t v) {
        memcpy(ram + off, &v, 2);
}

static char dir[] = "/tmp/fuzz-vsock-pkt.XXXXXX";

/* The listeners' socket files and their directory go with the process (each replay and each
 * libFuzzer run would leave one behind otherwise). */
static void cleanup_dir(void) {
        char p[160];

        for (unsigned i = 0; i < 2; i++) {
                snprintf(p, sizeof(p), "%s_%u", base, i + 1);
                (void) unlink(p);
        }
        (void) rmdir(dir);
}

static void setup_once(void) {
        char p[160];

        if (listeners[0] >= 0)
                return;
        if (!mkdtemp(dir))
                abort();
        snprintf(base, sizeof(base), "%s/v.sock", dir);
        (void) atexit(cleanup_dir);
        for (unsigned i = 0; i < 2; i++) {
                snprintf(p, sizeof(p), "%s_%u", base, i + 1);
                listeners[i] = unix_listen(p, 4096, 0600);
                if (listeners[i] < 0 || fd_nonblock(listeners[i], true) < 0)
                        abort();
        }
        /* Writable 4 KiB RX buffers, one descriptor each, as Linux posts them. */
        for (unsigned i = 0; i < NUM; i++) {
                uint64_t addr = GPA + BUF_OFF + (uint64_t) i * BUF_SIZE;
                uint32_t len = BUF_SIZE;
                uint16_t flags = 2; /* VRING_DESC_F_WRITE */

                memcpy(ram + DESC_OFF + 16 * i, &addr, 8);
                memcpy(ram + DESC_OFF + 16 * i + 8, &len, 4);
                memcpy(ram + DESC_OFF + 16 * i + 12, &flags, 2);
                put16(AVAIL_OFF + 4 + 2 * i, (uint16_t) i);
        }
}

static void drain_listeners(void) {
        for (unsigned i = 0; i < 2; i++)
                for (;;) {
                        int fd = accept4(listeners[i], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                        if (fd < 0)
                                break;
                        safe_close(fd);
                }
}

/* The guest takes everything we wrote and posts all buffers again. */
static void refill(VsockDev *d) {
        Vring *rx = &d->vu.vrings[VSOCK_RX_QUEUE];

        put16(AVAIL_OFF + 2, (uint16_t) (rx->last_avail_idx + NUM));
}

static VsockConn *conn_by_index(VsockDev *d, uint8_t i) {
        VsockConn *c = d->all_head;

        for (unsigned k = 0; c && k < i % 8; k++)
                c = c->all_next;
        return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static VsockDev dev;
        int clients[MAX_CLIENTS];
        unsigned n_clients = 0, steps = 0;
        Vring *rx;

        log_set_target(LOG_TARGET_NULL); /* guest-triggered warnings are expected here */

        setup_once();
        if (vsock_dev_init(&dev, -1, 3, base, true) < 0)
                return 0;
        (void) guest_mem_add(&dev.vu.mem, GPA, sizeof(ram), UVA, ram, NULL, 0);
        rx = &dev.vu.vrings[VSOCK_RX_QUEUE];
        rx->num = NUM;
        rx->desc_uva = UVA + DESC_OFF;
        rx->avail_uva = UVA + AVAIL_OFF;
        rx->used_uva = UVA + USED_OFF;
        rx->addr_set = true;
        rx->enabled = true;
        rx->event_idx = true;
        rx->kick_fd = eventfd(0, EFD_CLOEXEC);
        put16(AVAIL_OFF + 2, 0);
        put16(USED_OFF + 2, 0);
        if (vring_map(rx, &dev.vu.mem) < 0)
                abort();

        while (size > 0 && steps++ < 256) {
                uint8_t op = data[0];
                VsockConn *c;

                data++;
                size--;
                switch (op) {
                case 'P': {
                        VsockHdr h;
                        struct iovec iov;
                        size_t plen;

                        if (size < VSOCK_HDR_SIZE)
                                goto out;
                        if (vsock_hdr_parse(data, VSOCK_HDR_SIZE, &h) < 0) {
                                data += VSOCK_HDR_SIZE;
                                size -= VSOCK_HDR_SIZE;
                                break;
                        }
                        data += VSOCK_HDR_SIZE;
                        size -= VSOCK_HDR_SIZE;
                        plen = MIN((size_t) h.len, size);
                        h.len = (uint32_t) plen;
                        iov = (struct iovec){ .iov_base = (void *) data, .iov_len = plen };
                        vsock_dev_handle_pkt(&dev, &h, &iov, plen ? 1 : 0);
                        data += plen;
                        size -= plen;
                        break;
                }
                case 'C': {
                        int sp[2];
                        size_t l;

                        if (size < 1)
                                goto out;
                        l = MIN((size_t) data[0], size - 1);
                        if (n_clients >= MAX_CLIENTS ||
                            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0) {
                                data += 1 + l;
                                size -= 1 + l;
                                break;
                        }
                        if (l > 0)
                                (void) !send(sp[1], data + 1, l, MSG_NOSIGNAL);
                        clients[n_clients++] = sp[1];
                        if (vsock_dev_add_host_client(&dev, sp[0]) == 0)
                                vsock_dev_conn_event(&dev, dev.all_head, EPOLLIN);
                        data += 1 + l;
                        size -= 1 + l;
                        break;
                }
                case 'W': {
                        size_t l;

                        if (size < 2)
                                goto out;
                        l = MIN((size_t) data[1] * 64, size - 2);
                        if (n_clients > 0)
                                (void) !send(
                                        clients[data[0] % n_clients], data + 2, l,
                                        MSG_NOSIGNAL | MSG_DONTWAIT);
                        c = conn_by_index(&dev, data[0]);
                        if (c)
                                vsock_dev_conn_event(&dev, c, EPOLLIN);
                        data += 2 + l;
                        size -= 2 + l;
                        break;
                }
                case 'X':
                        if (size < 1)
                                goto out;
                        if (n_clients > 0) {
                                unsigned i = data[0] % n_clients;
                                clients[i] = safe_close(clients[i]);
                                clients[i] = clients[--n_clients];
                        }
                        data++;
                        size--;
                        break;
                case 'E':
                        if (size < 2)
                                goto out;
                        c = conn_by_index(&dev, data[0]);
                        if (c)
                                vsock_dev_conn_event(
                                        &dev, c,
                                        (data[1] & 1 ? EPOLLIN : 0) | (data[1] & 2 ? EPOLLOUT : 0) |
                                                (data[1] & 4 ? EPOLLRDHUP : 0) |
                                                (data[1] & 8 ? EPOLLHUP : 0) |
                                                (data[1] & 16 ? EPOLLERR : 0));
                        data += 2;
                        size -= 2;
                        break;
                case 'D':
                        (void) vsock_dev_check_deadlines(&dev);
                        break;
                default:
                        break;
                }
                vsock_dev_process(&dev);
                refill(&dev);
        }
out:
        vsock_dev_process(&dev);
        vsock_dev_done(&dev);
        for (unsigned i = 0; i < n_clients; i++)
                safe_close(clients[i]);
        drain_listeners();
        return 0;
}
