/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "unaligned.h"
#include "vring.h"

/* Offsets inside the split rings (virtio 2.7.5-2.7.8). */
#define DESC_SIZE 16u
#define AVAIL_FLAGS 0u
#define AVAIL_IDX 2u
#define AVAIL_RING 4u
#define USED_FLAGS 0u
#define USED_IDX 2u
#define USED_RING 4u
#define USED_ELEM_SIZE 8u

static uint16_t load16(const uint8_t *p) {
        uint16_t v;
        /* The guest writes concurrently: read exactly once. */
        __atomic_load(((const uint16_t *) (const void *) p), &v, __ATOMIC_RELAXED);
        return le16toh(v);
}

static void store16(uint8_t *p, uint16_t v) {
        uint16_t le = htole16(v);
        __atomic_store(((uint16_t *) (void *) p), &le, __ATOMIC_RELAXED);
}

void vring_init(Vring *vr) {
        *vr = (Vring){
                .kick_fd = -EBADF,
                .call_fd = -EBADF,
        };
}

void vring_unmap(Vring *vr) {
        vr->desc = vr->avail = vr->used = NULL;
}

int vring_map(Vring *vr, const GuestMem *m) {
        uint64_t n = vr->num;

        vring_unmap(vr);
        if (!vr->addr_set || n == 0 || n > VRING_MAX_SIZE || (n & (n - 1)) != 0)
                return -EINVAL;
        if (vr->desc_uva % 16 != 0 || vr->avail_uva % 2 != 0 || vr->used_uva % 4 != 0)
                return -EINVAL;
        vr->desc = guest_mem_uva(m, vr->desc_uva, DESC_SIZE * n);
        vr->avail = guest_mem_uva(m, vr->avail_uva, AVAIL_RING + 2 * n + 2);
        vr->used = guest_mem_uva(m, vr->used_uva, USED_RING + USED_ELEM_SIZE * n + 2);
        if (!vr->desc || !vr->avail || !vr->used) {
                vring_unmap(vr);
                return -EINVAL;
        }
        vr->broken = false;
        return 0;
}

bool vring_ready(const Vring *vr) {
        return vr->desc && vr->enabled && !vr->broken && vr->kick_fd >= 0;
}

unsigned vring_avail_count(Vring *vr) {
        uint16_t n;

        if (!vr->desc || vr->broken)
                return 0;
        n = (uint16_t) (load16(vr->avail + AVAIL_IDX) - vr->last_avail_idx);
        if (n > vr->num) {
                /* The guest claims more new entries than the ring holds. */
                vr->broken = true;
                return 0;
        }
        return n;
}

static void set_avail_event(Vring *vr) {
        if (vr->event_idx)
                store16(vr->used + USED_RING + USED_ELEM_SIZE * vr->num, vr->last_avail_idx);
}

static int add_iov(const GuestMem *m, VringChain *c, bool writable, uint64_t addr, uint32_t len) {
        while (len > 0) {
                uint64_t got;
                void *p = guest_mem_gpa_partial(m, addr, len, &got);
                unsigned *n = writable ? &c->n_in : &c->n_out;
                struct iovec *iov = writable ? c->in : c->out;

                if (!p || got == 0)
                        return -EFAULT;
                if (*n >= VRING_MAX_IOV)
                        return -E2BIG;
                iov[(*n)++] = (struct iovec){ .iov_base = p, .iov_len = got };
                if (writable)
                        c->in_len += got;
                else
                        c->out_len += got;
                addr += got;
                len -= (uint32_t) got;
        }
        return 0;
}

static int walk_chain(Vring *vr, const GuestMem *m, uint16_t head, VringChain *c) {
        uint64_t total = 0;
        uint16_t i = head;

        c->head = head;
        c->n_out = c->n_in = 0;
        c->out_len = c->in_len = 0;

        /* A chain visits each descriptor at most once, so more than num steps means a loop. */
        for (unsigned steps = 0;; steps++) {
                const uint8_t *d;
                uint64_t addr;
                uint32_t len;
                uint16_t flags, next;
                int r;

                if (steps >= vr->num || i >= vr->num)
                        return -ELOOP;
                d = vr->desc + (size_t) i * DESC_SIZE;
                /* Each field read once: the guest may change the descriptor meanwhile. */
                addr = unaligned_read_le64(d);
                len = unaligned_read_le32(d + 8);
                flags = unaligned_read_le16(d + 12);
                next = unaligned_read_le16(d + 14);

                if (flags & VRING_DESC_F_INDIRECT)
                        return -EOPNOTSUPP;
                total += len;
                if (total > VRING_MAX_CHAIN_BYTES)
                        return -E2BIG;
                if (flags & VRING_DESC_F_WRITE) {
                        r = add_iov(m, c, true, addr, len);
                } else {
                        /* Device-readable descriptors must all come before writable ones. */
                        if (c->n_in > 0)
                                return -EBADMSG;
                        r = add_iov(m, c, false, addr, len);
                }
                if (r < 0)
                        return r;
                if (!(flags & VRING_DESC_F_NEXT))
                        return 0;
                i = next;
        }
}

int vring_pop(Vring *vr, const GuestMem *m, VringChain *ret) {
        uint16_t head;
        unsigned n;
        int r;

        if (!vr->desc || vr->broken)
                return -EIO;
        n = vring_avail_count(vr);
        if (n == 0) {
                if (vr->broken)
                        return -EIO;
                if (!vr->event_idx)
                        return 0;
                /* Ask for a kick at the next entry, then look again: the guest may have added one
                 * after our check and before it saw the new avail_event. */
                set_avail_event(vr);
                __atomic_thread_fence(__ATOMIC_SEQ_CST);
                n = vring_avail_count(vr);
                if (n == 0)
                        return vr->broken ? -EIO : 0;
        }
        /* Read the ring entry only after seeing the index that covers it. */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        head = load16(vr->avail + AVAIL_RING + 2 * (vr->last_avail_idx % vr->num));
        if (head >= vr->num) {
                vr->broken = true;
                return -EIO;
        }
        vr->last_avail_idx++;

        r = walk_chain(vr, m, head, ret);
        if (r < 0) {
                vring_push(vr, head, 0);
                return -EBADMSG;
        }
        return 1;
}

void vring_unpop(Vring *vr, unsigned n) {
        vr->last_avail_idx -= (uint16_t) n;
}

void vring_push(Vring *vr, uint16_t head, uint32_t len) {
        uint8_t *e;
        if (!vr->used || vr->broken)
                return;
        e = vr->used + USED_RING + USED_ELEM_SIZE * (vr->used_idx % vr->num);
        unaligned_write_le32(e, head);
        unaligned_write_le32(e + 4, len);
        vr->used_idx++;
        vr->n_pushed++;
}

static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old) {
        return (uint16_t) (new_idx - event - 1) < (uint16_t) (new_idx - old);
}

void vring_flush(Vring *vr) {
        uint16_t old = vr->signalled_used;
        bool notify;

        if (!vr->used || vr->broken || old == vr->used_idx)
                return;
        /* Used elements must be visible before the index that publishes them. */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        store16(vr->used + USED_IDX, vr->used_idx);
        vr->signalled_used = vr->used_idx;
        /* Order the index store before reading the guest's suppression hints. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);

        if (vr->event_idx)
                notify = need_event(load16(vr->avail + AVAIL_RING + 2 * vr->num), vr->used_idx, old);
        else
                notify = !(load16(vr->avail + AVAIL_FLAGS) & VRING_AVAIL_F_NO_INTERRUPT);

        vr->n_flushes++;
        if (notify && vr->call_fd >= 0) {
                uint64_t one = 1;

                vr->n_signals++;
                (void) !write(vr->call_fd, &one, sizeof(one));
        }
}
