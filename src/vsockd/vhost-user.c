/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "macro.h"
#include "unaligned.h"
#include "vhost-user.h"

#define BIT(n) (UINT64_C(1) << (n))

void vhost_user_init(
        VhostUser *vu, uint64_t guest_cid, bool event_idx, const VhostUserOps *ops, void *userdata) {
        *vu = (VhostUser){
                .guest_cid = guest_cid,
                .features_offered = BIT(VIRTIO_F_VERSION_1) | BIT(VHOST_USER_F_PROTOCOL_FEATURES) |
                                    (event_idx ? BIT(VIRTIO_RING_F_EVENT_IDX) : 0),
                .ops = ops,
                .userdata = userdata,
        };
        for (unsigned i = 0; i < VHOST_USER_NUM_QUEUES; i++)
                vring_init(&vu->vrings[i]);
}

static void vring_reset(Vring *vr) {
        safe_close(vr->kick_fd);
        safe_close(vr->call_fd);
        vring_init(vr);
}

void vhost_user_done(VhostUser *vu) {
        for (unsigned i = 0; i < VHOST_USER_NUM_QUEUES; i++)
                vring_reset(&vu->vrings[i]);
        guest_mem_clear(&vu->mem);
}

void vhost_user_msg_close_fds(VhostUserMsg *msg) {
        for (unsigned i = 0; i < msg->n_fds && i < VHOST_USER_MAX_FDS; i++)
                msg->fds[i] = safe_close(msg->fds[i]);
        msg->n_fds = 0;
}

int vhost_user_hdr_check(uint32_t request, uint32_t flags, uint32_t size) {
        if ((flags & 0x3u) != VHOST_USER_VERSION)
                return -EBADMSG;
        if (flags & VHOST_USER_FLAG_REPLY)
                return -EBADMSG;
        if (request == 0 || request >= _VHOST_USER_MAX)
                return -EBADMSG;
        if (size > VHOST_USER_MAX_PAYLOAD)
                return -EBADMSG;
        return 0;
}

static bool request_takes_fds(uint32_t request) {
        return request == VHOST_USER_SET_MEM_TABLE || request == VHOST_USER_SET_VRING_KICK ||
               request == VHOST_USER_SET_VRING_CALL || request == VHOST_USER_SET_VRING_ERR ||
               request == VHOST_USER_SET_LOG_BASE || request == VHOST_USER_SET_LOG_FD;
}

static void notify(VhostUser *vu, unsigned idx) {
        if (vu->ops && vu->ops->vring_changed)
                vu->ops->vring_changed(vu, idx, vu->userdata);
}

static void remap_vrings(VhostUser *vu) {
        for (unsigned i = 0; i < VHOST_USER_NUM_QUEUES; i++) {
                Vring *vr = &vu->vrings[i];
                if (vr->addr_set && vring_map(vr, &vu->mem) < 0)
                        log_warning("vring %u does not fit the new memory table, stopping it", i);
                notify(vu, i);
        }
}

static int set_mem_table(VhostUser *vu, VhostUserMsg *msg) {
        uint32_t n = msg->payload.mem.nregions;
        GuestMem mem = {};
        int r;

        if (msg->size < 8 || n == 0 || n > GUEST_MEM_MAX_REGIONS || msg->size < 8 + 32 * n)
                return -EBADMSG;
        if (msg->n_fds != n)
                return -EBADMSG;

        for (uint32_t i = 0; i < n; i++) {
                uint64_t gpa = msg->payload.mem.regions[i].gpa, size = msg->payload.mem.regions[i].size,
                         uva = msg->payload.mem.regions[i].uva,
                         off = msg->payload.mem.regions[i].mmap_offset;
                struct stat st;
                uint8_t *p;

                /* The mapping must lie within the file: touching pages beyond its end is SIGBUS. */
                if (fstat(msg->fds[i], &st) < 0) {
                        r = -errno;
                        goto fail;
                }
                if (size == 0 || off + size < off || off + size > (uint64_t) st.st_size ||
                    off + size > SIZE_MAX) {
                        r = -EINVAL;
                        goto fail;
                }
                p =
                        mmap(NULL, off + size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                             msg->fds[i], 0);
                if (p == MAP_FAILED) {
                        r = -errno;
                        goto fail;
                }
                r = guest_mem_add(&mem, gpa, size, uva, p + off, p, off + size);
                if (r < 0) {
                        (void) munmap(p, off + size);
                        goto fail;
                }
        }
        vhost_user_msg_close_fds(msg);
        guest_mem_clear(&vu->mem);
        vu->mem = mem;
        remap_vrings(vu);
        return 0;
fail:
        guest_mem_clear(&mem);
        return r;
}

static Vring *vring_by_index(VhostUser *vu, uint32_t index) {
        if (index >= VHOST_USER_NUM_QUEUES)
                return NULL;
        return &vu->vrings[index];
}

static int set_vring_fd(VhostUser *vu, VhostUserMsg *msg) {
        uint64_t v = msg->payload.u64;
        unsigned idx = (unsigned) (v & VHOST_USER_VRING_IDX_MASK);
        bool nofd = v & VHOST_USER_VRING_NOFD;
        Vring *vr;
        int fd = -EBADF;

        if (msg->size != 8)
                return -EBADMSG;
        if ((v & ~(uint64_t) (VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD)) != 0)
                return -EBADMSG;
        if (msg->n_fds != (nofd ? 0u : 1u))
                return -EBADMSG;
        vr = vring_by_index(vu, idx);
        if (!vr)
                return -EBADMSG;
        if (!nofd) {
                fd = msg->fds[0];
                msg->fds[0] = -EBADF;
                msg->n_fds = 0;
        }
        switch (msg->request) {
        case VHOST_USER_SET_VRING_KICK:
                safe_close(vr->kick_fd);
                vr->kick_fd = fd;
                /* Without protocol features a ring starts with its kick fd. */
                if (!(vu->features & BIT(VHOST_USER_F_PROTOCOL_FEATURES)))
                        vr->enabled = true;
                notify(vu, idx);
                break;
        case VHOST_USER_SET_VRING_CALL:
                /* Sent several times per queue; the last one counts. */
                safe_close(vr->call_fd);
                vr->call_fd = fd;
                break;
        default: /* SET_VRING_ERR: we never report errors that way. */
                safe_close(fd);
                break;
        }
        return 0;
}

static int reply_u64(VhostUserMsg *msg, VhostUserMsg *reply, uint64_t v) {
        reply->request = msg->request;
        reply->flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
        reply->size = 8;
        reply->payload.u64 = v;
        return 1;
}

int vhost_user_handle(VhostUser *vu, VhostUserMsg *msg, VhostUserMsg *reply) {
        Vring *vr;
        int r;

        r = vhost_user_hdr_check(msg->request, msg->flags, msg->size);
        if (r < 0)
                goto out;
        if (msg->n_fds > VHOST_USER_MAX_FDS) {
                r = -EBADMSG;
                goto out;
        }
        /* Only these carry fds; anything else with fds is malformed. */
        if (msg->n_fds > 0 && !request_takes_fds(msg->request)) {
                r = -EBADMSG;
                goto out;
        }

        switch (msg->request) {
        case VHOST_USER_GET_FEATURES:
                r = reply_u64(msg, reply, vu->features_offered);
                break;
        case VHOST_USER_SET_FEATURES:
                if (msg->size != 8 || (msg->payload.u64 & ~vu->features_offered)) {
                        r = -EBADMSG;
                        break;
                }
                vu->features = msg->payload.u64;
                for (unsigned i = 0; i < VHOST_USER_NUM_QUEUES; i++)
                        vu->vrings[i].event_idx = vu->features & BIT(VIRTIO_RING_F_EVENT_IDX);
                r = 0;
                break;
        case VHOST_USER_GET_PROTOCOL_FEATURES:
                r = reply_u64(msg, reply, BIT(VHOST_USER_PROTOCOL_F_CONFIG));
                break;
        case VHOST_USER_SET_PROTOCOL_FEATURES:
                if (msg->size != 8 || (msg->payload.u64 & ~BIT(VHOST_USER_PROTOCOL_F_CONFIG))) {
                        r = -EBADMSG;
                        break;
                }
                vu->protocol_features = msg->payload.u64;
                r = 0;
                break;
        case VHOST_USER_GET_QUEUE_NUM:
                r = reply_u64(msg, reply, VHOST_USER_NUM_QUEUES);
                break;
        case VHOST_USER_SET_OWNER:
                vu->owner = true;
                r = 0;
                break;
        case VHOST_USER_RESET_OWNER:
                r = 0;
                break;
        case VHOST_USER_SET_MEM_TABLE:
                r = set_mem_table(vu, msg);
                break;
        case VHOST_USER_SET_VRING_NUM:
                vr = msg->size == 8 ? vring_by_index(vu, msg->payload.state.index) : NULL;
                if (!vr || msg->payload.state.num == 0 || msg->payload.state.num > VRING_MAX_SIZE ||
                    (msg->payload.state.num & (msg->payload.state.num - 1)) != 0) {
                        r = -EBADMSG;
                        break;
                }
                vr->num = (uint16_t) msg->payload.state.num;
                if (vr->addr_set)
                        (void) vring_map(vr, &vu->mem);
                notify(vu, msg->payload.state.index);
                r = 0;
                break;
        case VHOST_USER_SET_VRING_ADDR:
                vr = msg->size == 40 ? vring_by_index(vu, msg->payload.addr.index) : NULL;
                if (!vr) {
                        r = -EBADMSG;
                        break;
                }
                vr->desc_uva = msg->payload.addr.desc;
                vr->used_uva = msg->payload.addr.used;
                vr->avail_uva = msg->payload.addr.avail;
                vr->addr_set = true;
                r = vring_map(vr, &vu->mem);
                if (r < 0) {
                        r = -EBADMSG;
                        break;
                }
                /* Continue from where the guest's used ring stands. */
                vr->used_idx = vr->signalled_used = unaligned_read_le16(vr->used + 2);
                notify(vu, msg->payload.addr.index);
                break;
        case VHOST_USER_SET_VRING_BASE:
                vr = msg->size == 8 ? vring_by_index(vu, msg->payload.state.index) : NULL;
                if (!vr || msg->payload.state.num > UINT16_MAX) {
                        r = -EBADMSG;
                        break;
                }
                vr->last_avail_idx = (uint16_t) msg->payload.state.num;
                r = 0;
                break;
        case VHOST_USER_GET_VRING_BASE:
                vr = msg->size == 8 ? vring_by_index(vu, msg->payload.state.index) : NULL;
                if (!vr) {
                        r = -EBADMSG;
                        break;
                }
                {
                        uint32_t idx = msg->payload.state.index;
                        uint16_t base = vr->last_avail_idx;

                        /* This stops the ring (vhost-user.rst "Starting and stopping rings"). */
                        vring_flush(vr);
                        safe_close(vr->kick_fd);
                        vr->kick_fd = -EBADF;
                        vr->enabled = false;
                        notify(vu, idx);
                        reply->request = msg->request;
                        reply->flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
                        reply->size = 8;
                        reply->payload.state.index = idx;
                        reply->payload.state.num = base;
                        r = 1;
                }
                break;
        case VHOST_USER_SET_VRING_KICK:
        case VHOST_USER_SET_VRING_CALL:
        case VHOST_USER_SET_VRING_ERR:
                r = set_vring_fd(vu, msg);
                break;
        case VHOST_USER_SET_VRING_ENABLE:
                vr = msg->size == 8 ? vring_by_index(vu, msg->payload.state.index) : NULL;
                if (!vr || msg->payload.state.num > 1) {
                        r = -EBADMSG;
                        break;
                }
                vr->enabled = msg->payload.state.num;
                notify(vu, msg->payload.state.index);
                r = 0;
                break;
        case VHOST_USER_GET_CONFIG: {
                uint32_t off = msg->payload.config.offset, sz = msg->payload.config.size;
                uint64_t cid = htole64(vu->guest_cid);

                if (msg->size < 12 || sz > VHOST_USER_CONFIG_MAX || msg->size != 12 + sz || off > 8) {
                        r = -EBADMSG;
                        break;
                }
                reply->request = msg->request;
                reply->flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
                reply->size = msg->size;
                reply->payload.config.offset = off;
                reply->payload.config.size = sz;
                reply->payload.config.flags = 0;
                memset(reply->payload.config.data, 0, sz);
                /* struct virtio_vsock_config { le64 guest_cid; }, the rest reads as zero. */
                memcpy(reply->payload.config.data, (const uint8_t *) &cid + off,
                       MIN((uint32_t) (8 - off), sz));
                r = 1;
                break;
        }
        case VHOST_USER_SET_CONFIG:
                /* The guest CID is ours to decide. */
                r = 0;
                break;
        default:
                /* Never negotiated, so never needing a reply: ignore rather than drop QEMU. */
                log_debug("vhost-user request %u not supported, ignoring", msg->request);
                r = 0;
                break;
        }
out:
        vhost_user_msg_close_fds(msg);
        return r;
}
