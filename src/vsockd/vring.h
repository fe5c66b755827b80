/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Split virtqueue (virtio 1.x, 2.7): the device side. The rings live in guest memory and the guest
 * may rewrite them at any time, so every index and descriptor is read once into a local copy and
 * validated there. Indirect descriptors are not offered and are refused. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest-mem.h"

#define VRING_MAX_SIZE 32768u
/* A chain longer than this many iovecs or bytes is refused (the guest posts 1-2 descriptors). */
#define VRING_MAX_IOV 64u
#define VRING_MAX_CHAIN_BYTES (1u << 20)

#define VRING_DESC_F_NEXT 1u
#define VRING_DESC_F_WRITE 2u
#define VRING_DESC_F_INDIRECT 4u
#define VRING_AVAIL_F_NO_INTERRUPT 1u

typedef struct Vring {
        /* configuration from vhost-user */
        uint16_t num;
        uint64_t desc_uva, avail_uva, used_uva;
        bool addr_set;
        bool enabled;
        bool event_idx;
        int kick_fd;
        int call_fd;

        /* translated ring pointers, valid while the memory table is */
        uint8_t *desc;
        uint8_t *avail;
        uint8_t *used;

        uint16_t last_avail_idx;
        uint16_t used_idx;       /* shadow of used->idx, published by vring_flush() */
        uint16_t signalled_used; /* used->idx at the last flush */
        bool broken;             /* the guest broke the ring; stop touching it */

        /* statistics, logged at exit */
        uint64_t n_pushed, n_flushes, n_signals;
} Vring;

typedef struct VringChain {
        uint16_t head;
        unsigned n_out, n_in; /* device-readable, device-writable */
        struct iovec out[VRING_MAX_IOV];
        struct iovec in[VRING_MAX_IOV];
        size_t out_len, in_len;
} VringChain;

void vring_init(Vring *vr);
/* Translates the ring addresses through m; -EINVAL when a ring does not fit or is misaligned. */
int vring_map(Vring *vr, const GuestMem *m);
void vring_unmap(Vring *vr);
bool vring_ready(const Vring *vr);

/* Takes the next available chain. Returns 1 and fills *ret, 0 when the ring is empty, -EBADMSG
 * when that chain was malformed (it is returned to the guest as used with length 0, the caller
 * just goes on), -EIO when the ring itself is broken (the ring stops). */
int vring_pop(Vring *vr, const GuestMem *m, VringChain *ret);
/* Gives back the last n popped chains, not yet pushed, in reverse order. */
void vring_unpop(Vring *vr, unsigned n);
/* Number of chains the guest has made available (0 when the ring is broken). */
unsigned vring_avail_count(Vring *vr);
/* Marks a chain used; becomes visible to the guest at vring_flush(). */
void vring_push(Vring *vr, uint16_t head, uint32_t len);
/* Publishes used->idx and signals call_fd when the guest wants an interrupt. */
void vring_flush(Vring *vr);
