/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* chunneld's forwards and their reconciliation (docs/design/ports.md): the pure part, so the unit
 * tests drive it with fake listeners. The listeners themselves are opened and closed through ops. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message-type.h"
#include "ports.pb-c.h"

#define FWD_REASON_MAX 256u
#define FWD_TABLE_MAX 4096u
#define FWD_UNPRIVILEGED_MIN 1024u

typedef struct Fwd {
        char container[PROTO_NAME_MAX + 1];
        int protocol; /* BISTRO__PORTS__PROTOCOL__* */
        uint16_t container_port, host_port;
        bool manual;
        bool guest_ipv4, guest_ipv6; /* automatic: what the guest reported */
        int state;                   /* BISTRO__PORTS__FORWARD_STATE__* */
        char reason[FWD_REASON_MAX + 1];
        bool bound4, bound6; /* set by ops->open */
        void *listener;      /* ops' own, NULL when closed */
        bool seen;           /* scratch for fwd_table_update() */
} Fwd;

typedef struct FwdOps {
        /* Binds 127.0.0.1 and [::1] at f->host_port for f->protocol. At least one family bound: 0
         * with f->bound4/bound6 and f->listener set. None: -EADDRINUSE when a family was in use,
         * else the first error. */
        int (*open)(Fwd *f, void *userdata);
        void (*close)(Fwd *f, void *userdata);
} FwdOps;

typedef struct FwdTable {
        Fwd **items; /* in order of arrival: the first of two containers with one port keeps it */
        size_t n;
        const FwdOps *ops;
        void *userdata;
} FwdTable;

/* A guest report, as in PortsUpdate. */
typedef struct FwdPort {
        const char *container;
        uint32_t port;
        bool ipv4, ipv6;
} FwdPort;

void fwd_table_init(FwdTable *t, const FwdOps *ops, void *userdata);
/* Closes every listener and frees the table. */
void fwd_table_done(FwdTable *t);

/* Applies a complete list from the guest: automatic forwards that went away are closed, new ones
 * appended, then every automatic forward that is not ACTIVE is tried again (fwd_table_retry()).
 * Ports below 1024 are listed FAILED and never bound. -ENOMEM (the table is then still
 * consistent). */
int fwd_table_update(FwdTable *t, const FwdPort *ports, size_t n);
/* Tries every BUSY or SHADOWED automatic forward again, in order. Returns how many became ACTIVE. */
unsigned fwd_table_retry(FwdTable *t);

/* A manual forward; host_port 0 means container_port. -EEXIST: a manual forward of that protocol and
 * host port exists; -EADDRINUSE: the port is another forward's or another program's; -EINVAL: host
 * port below 1024; other errors of ops->open. *reterr_message (may be NULL) says why. */
int fwd_table_add_manual(
        FwdTable *t,
        const char *container,
        int protocol,
        uint32_t container_port,
        uint32_t host_port,
        char **reterr_message);
/* -ENOENT when there is no manual forward of that protocol and host port. */
int fwd_table_remove_manual(FwdTable *t, int protocol, uint32_t host_port);

/* The forward listening on that protocol and host port (ACTIVE), or NULL. */
Fwd *fwd_table_find_active(const FwdTable *t, int protocol, uint32_t host_port);

/* "127.0.0.1,::1", "127.0.0.1", "::1" or "" for what f has bound. */
const char *fwd_host_addresses(const Fwd *f);
