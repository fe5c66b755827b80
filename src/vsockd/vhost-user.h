/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* vhost-user backend side for virtio-vsock (QEMU docs/interop/vhost-user.rst). Only what
 * vhost-user-vsock needs: features, memory table, two vrings (0 RX, 1 TX), GET_CONFIG. */

#include <stdbool.h>
#include <stdint.h>

#include "guest-mem.h"
#include "vring.h"

enum {
        VHOST_USER_GET_FEATURES = 1,
        VHOST_USER_SET_FEATURES = 2,
        VHOST_USER_SET_OWNER = 3,
        VHOST_USER_RESET_OWNER = 4,
        VHOST_USER_SET_MEM_TABLE = 5,
        VHOST_USER_SET_LOG_BASE = 6,
        VHOST_USER_SET_LOG_FD = 7,
        VHOST_USER_SET_VRING_NUM = 8,
        VHOST_USER_SET_VRING_ADDR = 9,
        VHOST_USER_SET_VRING_BASE = 10,
        VHOST_USER_GET_VRING_BASE = 11,
        VHOST_USER_SET_VRING_KICK = 12,
        VHOST_USER_SET_VRING_CALL = 13,
        VHOST_USER_SET_VRING_ERR = 14,
        VHOST_USER_GET_PROTOCOL_FEATURES = 15,
        VHOST_USER_SET_PROTOCOL_FEATURES = 16,
        VHOST_USER_GET_QUEUE_NUM = 17,
        VHOST_USER_SET_VRING_ENABLE = 18,
        VHOST_USER_GET_CONFIG = 24,
        VHOST_USER_SET_CONFIG = 25,
        _VHOST_USER_MAX = 64,
};

#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_FLAG_REPLY (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3)
#define VHOST_USER_VRING_IDX_MASK 0xffu
#define VHOST_USER_VRING_NOFD (1u << 8)

#define VIRTIO_RING_F_EVENT_IDX 29
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VIRTIO_F_VERSION_1 32
#define VHOST_USER_PROTOCOL_F_CONFIG 9

#define VHOST_USER_HDR_SIZE 12u
#define VHOST_USER_MAX_PAYLOAD 512u
#define VHOST_USER_MAX_FDS 8u
#define VHOST_USER_NUM_QUEUES 2u
#define VHOST_USER_CONFIG_MAX 256u

typedef struct VhostUserMsg {
        uint32_t request;
        uint32_t flags;
        uint32_t size;
        union {
                uint8_t raw[VHOST_USER_MAX_PAYLOAD];
                uint64_t u64;
                struct {
                        uint32_t index;
                        uint32_t num;
                } state;
                struct {
                        uint32_t index;
                        uint32_t flags;
                        uint64_t desc;
                        uint64_t used;
                        uint64_t avail;
                        uint64_t log;
                } addr;
                struct {
                        uint32_t nregions;
                        uint32_t padding;
                        struct {
                                uint64_t gpa;
                                uint64_t size;
                                uint64_t uva;
                                uint64_t mmap_offset;
                        } regions[GUEST_MEM_MAX_REGIONS];
                } mem;
                struct {
                        uint32_t offset;
                        uint32_t size;
                        uint32_t flags;
                        uint8_t data[VHOST_USER_CONFIG_MAX];
                } config;
        } payload;
        int fds[VHOST_USER_MAX_FDS];
        unsigned n_fds;
} VhostUserMsg;

typedef struct VhostUser VhostUser;
typedef struct VhostUserOps {
        /* A vring's kick fd, mapping or enable state changed: re-arm it. */
        void (*vring_changed)(VhostUser *vu, unsigned idx, void *userdata);
} VhostUserOps;

struct VhostUser {
        uint64_t guest_cid;
        uint64_t features_offered;
        uint64_t features;
        uint64_t protocol_features;
        bool owner;
        GuestMem mem;
        Vring vrings[VHOST_USER_NUM_QUEUES];
        const VhostUserOps *ops;
        void *userdata;
};

void vhost_user_init(
        VhostUser *vu, uint64_t guest_cid, bool event_idx, const VhostUserOps *ops, void *userdata);
void vhost_user_done(VhostUser *vu);

/* Checks a header read off the wire: version, size within our cap. -EBADMSG otherwise. */
int vhost_user_hdr_check(uint32_t request, uint32_t flags, uint32_t size);
/* Handles one message. Consumes every fd in msg (keeps or closes them). Fills *reply and returns 1
 * when a reply must be sent, 0 when not, -errno when the message is invalid (the caller drops the
 * connection: a master that sends garbage cannot be trusted further). */
int vhost_user_handle(VhostUser *vu, VhostUserMsg *msg, VhostUserMsg *reply);
/* Closes any fds still in msg. */
void vhost_user_msg_close_fds(VhostUserMsg *msg);
