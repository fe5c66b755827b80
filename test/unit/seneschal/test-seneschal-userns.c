/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* seneschal's id mapping: /etc/subuid lookup (by name or uid, the range big enough, malformed and
 * short lines skipped) and the three map lines (the user at 1000, subordinate ids around it), and the
 * control request parser at its edges. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "macro.h"
#include "seneschal-control.h"
#include "seneschal-userns.h"

static void test_subid_find(void **state) {
        SubidRange r;

        assert_int_equal(subid_find("alice:100000:65536\n", "alice", 1000, &r), 0);
        assert_int_equal(r.start, 100000);
        assert_int_equal(r.count, 65536);
        /* By uid too, and the first matching line with enough ids wins. */
        assert_int_equal(
                subid_find("bob:1:65536\n1000:200000:65535\nalice:300000:65536\n", "alice", 1000, &r), 0);
        assert_int_equal(r.start, 200000);
        /* One id short, a malformed line, another user: none. */
        assert_int_equal(subid_find("alice:100000:65534\n", "alice", 1000, &r), -ENOENT);
        assert_int_equal(subid_find("alice:x:65536\nalice\nalice:1\n", "alice", 1000, &r), -ENOENT);
        assert_int_equal(subid_find("alicia:100000:65536\n", "alice", 1000, &r), -ENOENT);
        assert_int_equal(subid_find("", "alice", 1000, &r), -ENOENT);
        /* A range that would wrap past 2^32. */
        assert_int_equal(subid_find("alice:4294967000:65536\n", "alice", 1000, &r), -ENOENT);
        /* No name (no passwd entry): the uid still works. */
        assert_int_equal(subid_find("1000:100000:65536\n", NULL, 1000, &r), 0);
}

static void test_map_format(void **state) {
        SubidRange r = { .start = 100000, .count = 65536 };
        char *s;

        s = userns_map_format(1000, &r);
        assert_non_null(s);
        assert_string_equal(s, "0 100000 1000\n1000 1000 1\n1001 101000 64535\n");
        free(s);
        /* Root: the user is host uid 0, the rest a block nobody uses. */
        r.start = USERNS_ROOT_SUBID_BASE;
        s = userns_map_format(0, &r);
        assert_non_null(s);
        assert_string_equal(s, "0 2130706432 1000\n1000 0 1\n1001 2130707432 64535\n");
        free(s);
}

static void fill(SeneschalRequest *r, uint32_t op, uint32_t flags, const char *name) {
        memset(r, 0, sizeof(*r));
        r->op = op;
        r->flags = flags;
        memcpy(r->name, name, strlen(name));
}

static void test_request_parse(void **state) {
        SeneschalRequest r, out;

        fill(&r, SENESCHAL_OP_ADD, SENESCHAL_FLAG_READ_ONLY, "project");
        assert_int_equal(seneschal_request_parse(&r, sizeof(r), &out), 0);
        assert_string_equal(out.name, "project");
        assert_int_equal(seneschal_request_parse(&r, sizeof(r) - 1, &out), -EBADMSG);
        assert_int_equal(seneschal_request_parse(NULL, 0, &out), -EBADMSG);
        /* The longest name, and one past it (no terminator left). */
        fill(&r, SENESCHAL_OP_ADD, 0, "");
        memset(r.name, 'a', SHARE_NAME_MAX);
        assert_int_equal(seneschal_request_parse(&r, sizeof(r), &out), 0);
        memset(r.name, 'a', SHARE_NAME_MAX + 1);
        assert_int_equal(seneschal_request_parse(&r, sizeof(r), &out), -EBADMSG);
        fill(&r, SENESCHAL_OP_ADD, 0, "..");
        assert_int_equal(seneschal_request_parse(&r, sizeof(r), &out), -EBADMSG);
        fill(&r, SENESCHAL_OP_ADD, 0, "a/b");
        assert_int_equal(seneschal_request_parse(&r, sizeof(r), &out), -EBADMSG);
        fill(&r, SENESCHAL_OP_ADD, 0, "");
        assert_int_equal(seneschal_request_parse(&r, sizeof(r), &out), -EBADMSG);
        fill(&r, SENESCHAL_OP_REMOVE, SENESCHAL_FLAG_READ_ONLY, "x");
        assert_int_equal(seneschal_request_parse(&r, sizeof(r), &out), -EBADMSG);
        fill(&r, SENESCHAL_OP_ADD, 2, "x");
        assert_int_equal(seneschal_request_parse(&r, sizeof(r), &out), -EBADMSG);
        fill(&r, 0, 0, "x");
        assert_int_equal(seneschal_request_parse(&r, sizeof(r), &out), -EBADMSG);
        fill(&r, SENESCHAL_OP_REMOVE, 0, "x");
        r.reserved[2] = 1;
        assert_int_equal(seneschal_request_parse(&r, sizeof(r), &out), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_subid_find),
                cmocka_unit_test(test_map_format),
                cmocka_unit_test(test_request_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
