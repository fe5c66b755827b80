/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "forward-table.h"
#include "macro.h"

#define S(x) BISTRO__PORTS__FORWARD_STATE__FORWARD_STATE_##x
#define TCP BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP
#define UDP BISTRO__PORTS__PROTOCOL__PROTOCOL_UDP

/* Fake host: which (protocol, port) are taken by "other programs", which are bound by us. */
typedef struct Host {
        bool taken[3][65536];
        bool no_ipv6;
        bool bound[3][65536];
        unsigned opens, closes;
} Host;

static int fake_open(Fwd *f, void *userdata) {
        Host *h = userdata;

        h->opens++;
        if (h->taken[f->protocol][f->host_port])
                return -EADDRINUSE;
        /* Two listeners on one port in one process fail like the kernel does. */
        assert_false(h->bound[f->protocol][f->host_port]);
        h->bound[f->protocol][f->host_port] = true;
        f->bound4 = true;
        f->bound6 = !h->no_ipv6;
        f->listener = h;
        return 0;
}

static void fake_close(Fwd *f, void *userdata) {
        Host *h = userdata;

        h->closes++;
        assert_true(h->bound[f->protocol][f->host_port]);
        h->bound[f->protocol][f->host_port] = false;
}

static const FwdOps ops = { .open = fake_open, .close = fake_close };

static Fwd *find(FwdTable *t, const char *container, uint32_t port, bool manual) {
        for (size_t i = 0; i < t->n; i++)
                if (streq(t->items[i]->container, container) && t->items[i]->container_port == port &&
                    t->items[i]->manual == manual)
                        return t->items[i];
        return NULL;
}

static void test_add_remove(void **state) {
        Host *h = calloc(1, sizeof(Host));
        FwdTable t;
        FwdPort p[] = { { "web", 8080, true, true }, { "web", 3000, true, false } };

        fwd_table_init(&t, &ops, h);
        assert_int_equal(fwd_table_update(&t, p, 2), 0);
        assert_int_equal(t.n, 2);
        assert_int_equal(find(&t, "web", 8080, false)->state, S(ACTIVE));
        assert_string_equal(fwd_host_addresses(find(&t, "web", 8080, false)), "127.0.0.1,::1");
        assert_true(h->bound[TCP][8080] && h->bound[TCP][3000]);
        /* The same list again changes nothing (no close/open churn). */
        assert_int_equal(fwd_table_update(&t, p, 2), 0);
        assert_int_equal(h->opens, 2);
        /* 3000 goes away: closed at once. */
        assert_int_equal(fwd_table_update(&t, p, 1), 0);
        assert_int_equal(t.n, 1);
        assert_false(h->bound[TCP][3000]);
        assert_int_equal(h->closes, 1);
        assert_int_equal(fwd_table_update(&t, NULL, 0), 0);
        assert_int_equal(t.n, 0);
        assert_false(h->bound[TCP][8080]);
        fwd_table_done(&t);
        free(h);
}

static void test_shadow_order(void **state) {
        Host *h = calloc(1, sizeof(Host));
        FwdTable t;
        FwdPort first[] = { { "a", 8000, true, false } };
        FwdPort both[] = { { "b", 8000, true, false }, { "a", 8000, true, false } };
        FwdPort only_b[] = { { "b", 8000, true, false } };
        Fwd *b;

        fwd_table_init(&t, &ops, h);
        assert_int_equal(fwd_table_update(&t, first, 1), 0);
        /* b comes first in the list but second in time: a keeps the port. */
        assert_int_equal(fwd_table_update(&t, both, 2), 0);
        assert_int_equal(find(&t, "a", 8000, false)->state, S(ACTIVE));
        b = find(&t, "b", 8000, false);
        assert_int_equal(b->state, S(SHADOWED));
        assert_non_null(strstr(b->reason, "container a"));
        assert_string_equal(fwd_host_addresses(b), "");
        /* a goes away: b gets the port in the same update. */
        assert_int_equal(fwd_table_update(&t, only_b, 1), 0);
        assert_int_equal(t.n, 1);
        assert_int_equal(find(&t, "b", 8000, false)->state, S(ACTIVE));
        assert_true(h->bound[TCP][8000]);
        fwd_table_done(&t);
        assert_false(h->bound[TCP][8000]);
        free(h);
}

static void test_busy_then_free(void **state) {
        Host *h = calloc(1, sizeof(Host));
        FwdTable t;
        FwdPort p[] = { { "web", 9000, true, true } };
        Fwd *f;

        h->taken[TCP][9000] = true;
        fwd_table_init(&t, &ops, h);
        assert_int_equal(fwd_table_update(&t, p, 1), 0);
        f = find(&t, "web", 9000, false);
        assert_int_equal(f->state, S(BUSY));
        assert_string_equal(f->reason, "host port 9000 is in use");
        assert_int_equal(fwd_table_retry(&t), 0);
        h->taken[TCP][9000] = false;
        assert_int_equal(fwd_table_retry(&t), 1);
        assert_int_equal(f->state, S(ACTIVE));
        assert_string_equal(f->reason, "");
        fwd_table_done(&t);
        free(h);
}

static void test_privileged_and_ipv4_only(void **state) {
        Host *h = calloc(1, sizeof(Host));
        FwdTable t;
        FwdPort p[] = { { "web", 80, true, true }, { "web", 8443, true, false } };
        Fwd *f;

        h->no_ipv6 = true;
        fwd_table_init(&t, &ops, h);
        assert_int_equal(fwd_table_update(&t, p, 2), 0);
        f = find(&t, "web", 80, false);
        assert_int_equal(f->state, S(FAILED));
        assert_non_null(strstr(f->reason, "privileged"));
        assert_false(h->bound[TCP][80]);
        assert_string_equal(fwd_host_addresses(find(&t, "web", 8443, false)), "127.0.0.1");
        fwd_table_done(&t);
        free(h);
}

static void test_manual(void **state) {
        Host *h = calloc(1, sizeof(Host));
        FwdTable t;
        FwdPort p[] = { { "web", 8080, true, true } };
        _cleanup_free_ char *err = NULL;
        Fwd *f;

        fwd_table_init(&t, &ops, h);
        /* Privileged container port to an unprivileged host port. */
        assert_int_equal(fwd_table_add_manual(&t, "web", TCP, 80, 8081, NULL), 0);
        assert_true(h->bound[TCP][8081]);
        assert_int_equal(fwd_table_add_manual(&t, "db", TCP, 81, 8081, &err), -EEXIST);
        free(err);
        err = NULL;
        /* Same port, other protocol: fine. */
        assert_int_equal(fwd_table_add_manual(&t, "dns", UDP, 5353, 0, NULL), 0);
        assert_true(h->bound[UDP][5353]);
        assert_int_equal(fwd_table_add_manual(&t, "web", TCP, 80, 0, &err), -EINVAL);
        free(err);
        err = NULL;
        h->taken[TCP][9999] = true;
        assert_int_equal(fwd_table_add_manual(&t, "web", TCP, 9999, 0, &err), -EADDRINUSE);
        assert_string_equal(err, "host port 9999 is in use");
        free(err);
        err = NULL;
        /* An automatic forward on the manual one's host port is BUSY, and gets it back on removal. */
        assert_int_equal(fwd_table_add_manual(&t, "other", TCP, 1234, 8080, NULL), 0);
        assert_int_equal(fwd_table_update(&t, p, 1), 0);
        f = find(&t, "web", 8080, false);
        assert_int_equal(f->state, S(BUSY));
        assert_non_null(strstr(f->reason, "other:1234"));
        /* A manual forward onto an automatic one's port is refused. */
        assert_int_equal(fwd_table_remove_manual(&t, TCP, 8080), 0);
        assert_int_equal(f->state, S(ACTIVE));
        assert_int_equal(fwd_table_add_manual(&t, "other", TCP, 1234, 8080, &err), -EADDRINUSE);
        assert_non_null(strstr(err, "web:8080"));
        assert_int_equal(fwd_table_remove_manual(&t, TCP, 8080), -ENOENT);
        assert_int_equal(fwd_table_remove_manual(&t, UDP, 5353), 0);
        assert_false(h->bound[UDP][5353]);
        /* Manual forwards survive any guest update. */
        assert_int_equal(fwd_table_update(&t, NULL, 0), 0);
        assert_non_null(find(&t, "web", 80, true));
        assert_int_equal(t.n, 1);
        fwd_table_done(&t);
        assert_false(h->bound[TCP][8081]);
        free(h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_add_remove),     cmocka_unit_test(test_shadow_order),
                cmocka_unit_test(test_busy_then_free), cmocka_unit_test(test_privileged_and_ipv4_only),
                cmocka_unit_test(test_manual),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
