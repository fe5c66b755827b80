/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "forward-table.h"
#include "macro.h"
#include "string-util.h"

#define STATE(x) BISTRO__PORTS__FORWARD_STATE__FORWARD_STATE_##x
#define TCP BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP

void fwd_table_init(FwdTable *t, const FwdOps *ops, void *userdata) {
        *t = (FwdTable){ .ops = ops, .userdata = userdata };
}

static void fwd_close(FwdTable *t, Fwd *f) {
        if (f->listener)
                t->ops->close(f, t->userdata);
        f->listener = NULL;
        f->bound4 = f->bound6 = false;
}

void fwd_table_done(FwdTable *t) {
        for (size_t i = 0; i < t->n; i++) {
                fwd_close(t, t->items[i]);
                free(t->items[i]);
        }
        free(t->items);
        t->items = NULL;
        t->n = 0;
}

const char *fwd_host_addresses(const Fwd *f) {
        return f->bound4 && f->bound6 ? "127.0.0.1,::1" : f->bound4 ? "127.0.0.1" : f->bound6 ? "::1" : "";
}

Fwd *fwd_table_find_active(const FwdTable *t, int protocol, uint32_t host_port) {
        for (size_t i = 0; i < t->n; i++) {
                Fwd *f = t->items[i];

                if (f->listener && f->protocol == protocol && f->host_port == host_port)
                        return f;
        }
        return NULL;
}

/* *ret = a formatted message, or NULL on OOM; nothing when ret is NULL. */
static void set_state(Fwd *f, int state, const char *format, ...) _printf_(3, 4);
static void set_state(Fwd *f, int state, const char *format, ...) {
        va_list ap;

        f->state = state;
        f->reason[0] = 0;
        if (!format)
                return;
        va_start(ap, format);
        (void) vsnprintf(f->reason, sizeof(f->reason), format, ap);
        va_end(ap);
}

/* Binds f unless its host port is another forward's. Returns 1 when ACTIVE. */
static int fwd_try(FwdTable *t, Fwd *f) {
        Fwd *owner;
        int r;

        if (f->listener)
                return 1;
        if (!f->manual && f->container_port < FWD_UNPRIVILEGED_MIN) {
                set_state(f, STATE(FAILED), "privileged port: use vmc port-forward --host-port");
                return 0;
        }
        owner = fwd_table_find_active(t, f->protocol, f->host_port);
        if (owner) {
                if (!owner->manual && !f->manual)
                        set_state(
                                f, STATE(SHADOWED), "container %s has host port %u", owner->container,
                                f->host_port);
                else
                        set_state(
                                f, STATE(BUSY), "host port %u is forwarded to %s:%u", f->host_port,
                                owner->container, owner->container_port);
                return 0;
        }
        r = t->ops->open(f, t->userdata);
        if (r == -EADDRINUSE) {
                set_state(f, STATE(BUSY), "host port %u is in use", f->host_port);
                return 0;
        }
        if (r < 0) {
                set_state(f, STATE(FAILED), "cannot listen on host port %u: %s", f->host_port, strerror(-r));
                return 0;
        }
        set_state(f, STATE(ACTIVE), NULL);
        return 1;
}

unsigned fwd_table_retry(FwdTable *t) {
        unsigned n = 0;

        for (size_t i = 0; i < t->n; i++) {
                Fwd *f = t->items[i];

                if (!f->manual && !f->listener && f->container_port >= FWD_UNPRIVILEGED_MIN &&
                    fwd_try(t, f) > 0)
                        n++;
        }
        return n;
}

static void fwd_remove_at(FwdTable *t, size_t i) {
        fwd_close(t, t->items[i]);
        free(t->items[i]);
        memmove(t->items + i, t->items + i + 1, (t->n - i - 1) * sizeof(Fwd *));
        t->n--;
}

static int fwd_append(FwdTable *t, Fwd *f) {
        Fwd **a;

        if (t->n >= FWD_TABLE_MAX)
                return -E2BIG;
        a = reallocarray(t->items, t->n + 1, sizeof(Fwd *));
        if (!a)
                return -ENOMEM;
        t->items = a;
        t->items[t->n++] = f;
        return 0;
}

static Fwd *find_auto(FwdTable *t, const char *container, uint32_t port) {
        for (size_t i = 0; i < t->n; i++) {
                Fwd *f = t->items[i];

                if (!f->manual && f->container_port == port && streq(f->container, container))
                        return f;
        }
        return NULL;
}

int fwd_table_update(FwdTable *t, const FwdPort *ports, size_t n) {
        int r = 0;

        for (size_t i = 0; i < t->n; i++)
                t->items[i]->seen = false;
        for (size_t k = 0; k < n; k++) {
                Fwd *f = find_auto(t, ports[k].container, ports[k].port);

                if (f) {
                        f->seen = true;
                        f->guest_ipv4 = ports[k].ipv4;
                        f->guest_ipv6 = ports[k].ipv6;
                }
        }
        /* Closed first, so that a port that moves from one container to another is free again. */
        for (size_t i = t->n; i > 0; i--)
                if (!t->items[i - 1]->manual && !t->items[i - 1]->seen)
                        fwd_remove_at(t, i - 1);
        for (size_t k = 0; k < n; k++) {
                Fwd *f;

                if (ports[k].port < 1 || ports[k].port > 65535 ||
                    strlen(ports[k].container) > PROTO_NAME_MAX ||
                    find_auto(t, ports[k].container, ports[k].port))
                        continue;
                f = new0(Fwd, 1);
                if (!f) {
                        r = -ENOMEM;
                        break;
                }
                strscpy(f->container, ports[k].container, sizeof(f->container));
                f->protocol = TCP;
                f->container_port = f->host_port = (uint16_t) ports[k].port;
                f->guest_ipv4 = ports[k].ipv4;
                f->guest_ipv6 = ports[k].ipv6;
                f->state = STATE(FAILED);
                f->seen = true;
                r = fwd_append(t, f);
                if (r < 0) {
                        free(f);
                        break;
                }
        }
        (void) fwd_table_retry(t);
        /* Forwards never tried (a privileged port) get their state from fwd_try() too. */
        for (size_t i = 0; i < t->n; i++)
                if (!t->items[i]->manual && t->items[i]->container_port < FWD_UNPRIVILEGED_MIN)
                        (void) fwd_try(t, t->items[i]);
        return r;
}

int fwd_table_add_manual(
        FwdTable *t,
        const char *container,
        int protocol,
        uint32_t container_port,
        uint32_t host_port,
        char **reterr_message) {
        _cleanup_free_ Fwd *f = NULL;
        Fwd *owner;
        int r;

        if (host_port == 0)
                host_port = container_port;
        if (host_port < FWD_UNPRIVILEGED_MIN || host_port > 65535 || container_port < 1 ||
            container_port > 65535 || strlen(container) > PROTO_NAME_MAX) {
                return set_error_message(
                        reterr_message, -EINVAL, "host port %u is privileged (use --host-port 1024-65535)",
                        host_port);
        }
        for (size_t i = 0; i < t->n; i++)
                if (t->items[i]->manual && t->items[i]->protocol == protocol &&
                    t->items[i]->host_port == host_port) {
                        return set_error_message(
                                reterr_message, -EEXIST,
                                "a manual forward of host port %u exists already (to %s:%u)", host_port,
                                t->items[i]->container, t->items[i]->container_port);
                }
        owner = fwd_table_find_active(t, protocol, host_port);
        if (owner) {
                return set_error_message(
                        reterr_message, -EADDRINUSE, "host port %u is forwarded to %s:%u already", host_port,
                        owner->container, owner->container_port);
        }
        f = new0(Fwd, 1);
        if (!f)
                return -ENOMEM;
        strscpy(f->container, container, sizeof(f->container));
        f->protocol = protocol;
        f->container_port = (uint16_t) container_port;
        f->host_port = (uint16_t) host_port;
        f->manual = true;
        r = t->ops->open(f, t->userdata);
        if (r < 0) {
                if (r == -EADDRINUSE)
                        return set_error_message(reterr_message, r, "host port %u is in use", host_port);
                return set_error_message(reterr_message, r, "cannot listen on host port %u: %m", host_port);
        }
        set_state(f, STATE(ACTIVE), NULL);
        r = fwd_append(t, f);
        if (r < 0) {
                fwd_close(t, f);
                return r;
        }
        TAKE_PTR(f);
        return 0;
}

int fwd_table_remove_manual(FwdTable *t, int protocol, uint32_t host_port) {
        for (size_t i = 0; i < t->n; i++)
                if (t->items[i]->manual && t->items[i]->protocol == protocol &&
                    t->items[i]->host_port == host_port) {
                        fwd_remove_at(t, i);
                        /* An automatic forward waiting for that port may have it now. */
                        (void) fwd_table_retry(t);
                        return 0;
                }
        return -ENOENT;
}
