/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A user namespace id map, as /proc/PID/uid_map and lxc.idmap write it: ranges of ids inside (the
 * container) mapped to ids outside (the VM). Pure functions, no I/O. */

#include <stdbool.h>
#include <stdint.h>

#define IDMAP_RANGES_MAX 3u

typedef struct IdMapRange {
        uint32_t inner, outer, count;
} IdMapRange;

typedef struct IdMap {
        IdMapRange ranges[IDMAP_RANGES_MAX];
        unsigned n;
} IdMap;

/* inner 0..count-1 -> outer base..base+count-1. */
void idmap_shift(IdMap *ret, uint32_t base, uint32_t count);
/* As idmap_shift() except inner id `one` maps to `to`: three ranges (below one, one, above it).
 * -EINVAL when one is 0 or >= count (the container's root is never passed through). */
int idmap_shift_except(IdMap *ret, uint32_t base, uint32_t count, uint32_t one, uint32_t to);
/* 0 and *ret when inner is mapped, -ERANGE otherwise. */
int idmap_to_outer(const IdMap *m, uint32_t inner, uint32_t *ret);
/* 0 and *ret when outer is the image of an inner id, -ERANGE otherwise. */
int idmap_to_inner(const IdMap *m, uint32_t outer, uint32_t *ret);
bool idmap_equal(const IdMap *a, const IdMap *b);
