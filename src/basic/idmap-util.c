/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "idmap-util.h"

static void add(IdMap *m, uint32_t inner, uint32_t outer, uint32_t count) {
        if (count > 0)
                m->ranges[m->n++] = (IdMapRange){ .inner = inner, .outer = outer, .count = count };
}

void idmap_shift(IdMap *ret, uint32_t base, uint32_t count) {
        *ret = (IdMap){};
        add(ret, 0, base, count);
}

int idmap_shift_except(IdMap *ret, uint32_t base, uint32_t count, uint32_t one, uint32_t to) {
        if (one == 0 || one >= count)
                return -EINVAL;
        *ret = (IdMap){};
        add(ret, 0, base, one);
        add(ret, one, to, 1);
        add(ret, one + 1, base + one + 1, count - one - 1);
        return 0;
}

int idmap_to_outer(const IdMap *m, uint32_t inner, uint32_t *ret) {
        for (unsigned i = 0; i < m->n && i < IDMAP_RANGES_MAX; i++) {
                const IdMapRange *r = &m->ranges[i];

                if (inner >= r->inner && inner - r->inner < r->count) {
                        *ret = r->outer + (inner - r->inner);
                        return 0;
                }
        }
        return -ERANGE;
}

int idmap_to_inner(const IdMap *m, uint32_t outer, uint32_t *ret) {
        for (unsigned i = 0; i < m->n && i < IDMAP_RANGES_MAX; i++) {
                const IdMapRange *r = &m->ranges[i];

                if (outer >= r->outer && outer - r->outer < r->count) {
                        *ret = r->inner + (outer - r->outer);
                        return 0;
                }
        }
        return -ERANGE;
}

bool idmap_equal(const IdMap *a, const IdMap *b) {
        if (a->n != b->n)
                return false;
        for (unsigned i = 0; i < a->n && i < IDMAP_RANGES_MAX; i++)
                if (a->ranges[i].inner != b->ranges[i].inner || a->ranges[i].outer != b->ranges[i].outer ||
                    a->ranges[i].count != b->ranges[i].count)
                        return false;
        return true;
}
