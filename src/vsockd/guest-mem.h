/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Guest memory as announced by VHOST_USER_SET_MEM_TABLE: up to 8 regions, each known by its
 * guest-physical address (descriptor addresses) and by QEMU's virtual address (ring addresses).
 * Every translation checks that the whole range lies inside one region, with overflow checks. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 8u

typedef struct GuestRegion {
        uint64_t gpa;
        uint64_t size;
        uint64_t uva;
        uint8_t *host;  /* first byte of the region in our address space */
        void *map_base; /* what to munmap(), NULL when not ours */
        size_t map_size;
} GuestRegion;

typedef struct GuestMem {
        GuestRegion regions[GUEST_MEM_MAX_REGIONS];
        unsigned n_regions;
} GuestMem;

/* Adds a region backed by host[0..size). Refuses empty or wrapping ranges and overlaps in either
 * address space. Takes ownership of map_base/map_size only on success. */
int guest_mem_add(
        GuestMem *m, uint64_t gpa, uint64_t size, uint64_t uva, void *host, void *map_base, size_t map_size);
/* Unmaps what we mapped and empties the table. */
void guest_mem_clear(GuestMem *m);

/* Host pointer for [addr, addr+len) when it lies entirely in one region, else NULL. */
void *guest_mem_gpa(const GuestMem *m, uint64_t gpa, uint64_t len);
void *guest_mem_uva(const GuestMem *m, uint64_t uva, uint64_t len);
/* Host pointer for gpa and in *ret_len how many bytes (<= len) are contiguous from there; NULL when gpa
 * is not mapped. Lets a descriptor span two adjacent regions. */
void *guest_mem_gpa_partial(const GuestMem *m, uint64_t gpa, uint64_t len, uint64_t *ret_len);
