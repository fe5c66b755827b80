/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Cleanup helpers for liblxc (header only: only the programs that link liblxc include it). */

#include <lxc/lxccontainer.h>

#include "macro.h"

static inline void lxc_container_putp(struct lxc_container **c) {
        if (*c)
                (void) lxc_container_put(*c);
        *c = NULL;
}
#define _cleanup_lxc_container_put_ _cleanup_(lxc_container_putp)

/* The array list_active_containers() and friends return: each container put, each name freed. */
static inline void lxc_containers_free(struct lxc_container **cs, char **names, int n) {
        for (int i = 0; i < n; i++) {
                if (cs)
                        (void) lxc_container_put(cs[i]);
                if (names)
                        free(names[i]);
        }
        free(cs);
        free(names);
}
