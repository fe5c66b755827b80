/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "guest-mem.h"

static bool range_ok(uint64_t start, uint64_t size) {
        return size > 0 && start + size - 1 >= start;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen) {
        /* Both ranges are known not to wrap. */
        return a <= b + blen - 1 && b <= a + alen - 1;
}

int guest_mem_add(
        GuestMem *m,
        uint64_t gpa,
        uint64_t size,
        uint64_t uva,
        void *host,
        void *map_base,
        size_t map_size) {
        if (m->n_regions >= GUEST_MEM_MAX_REGIONS)
                return -E2BIG;
        if (!host || !range_ok(gpa, size) || !range_ok(uva, size))
                return -EINVAL;
        if ((uint64_t) (uintptr_t) host + size - 1 < (uint64_t) (uintptr_t) host)
                return -EINVAL;
        for (unsigned i = 0; i < m->n_regions; i++) {
                const GuestRegion *r = &m->regions[i];
                if (ranges_overlap(gpa, size, r->gpa, r->size) || ranges_overlap(uva, size, r->uva, r->size))
                        return -EINVAL;
        }
        m->regions[m->n_regions++] = (GuestRegion){
                .gpa = gpa,
                .size = size,
                .uva = uva,
                .host = host,
                .map_base = map_base,
                .map_size = map_size,
        };
        return 0;
}

void guest_mem_clear(GuestMem *m) {
        for (unsigned i = 0; i < m->n_regions; i++)
                if (m->regions[i].map_base)
                        (void) munmap(m->regions[i].map_base, m->regions[i].map_size);
        memset(m, 0, sizeof(*m));
}

static void *translate(const GuestMem *m, bool by_gpa, uint64_t addr, uint64_t len, uint64_t *ret_len) {
        for (unsigned i = 0; i < m->n_regions; i++) {
                const GuestRegion *r = &m->regions[i];
                uint64_t start = by_gpa ? r->gpa : r->uva, off, avail;

                if (addr < start || addr - start >= r->size)
                        continue;
                off = addr - start;
                avail = r->size - off;
                if (ret_len)
                        *ret_len = len < avail ? len : avail;
                else if (len > avail)
                        return NULL;
                return r->host + off;
        }
        return NULL;
}

void *guest_mem_gpa(const GuestMem *m, uint64_t gpa, uint64_t len) {
        return translate(m, true, gpa, len, NULL);
}

void *guest_mem_uva(const GuestMem *m, uint64_t uva, uint64_t len) {
        return translate(m, false, uva, len, NULL);
}

void *guest_mem_gpa_partial(const GuestMem *m, uint64_t gpa, uint64_t len, uint64_t *ret_len) {
        return translate(m, true, gpa, len, ret_len);
}
