/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "vsock-pkt.h"

static VsockHdr sample(uint16_t op, uint32_t len) {
        return (VsockHdr){
                .src_cid = 3,
                .dst_cid = 2,
                .src_port = 1234,
                .dst_port = 5678,
                .len = len,
                .type = VSOCK_TYPE_STREAM,
                .op = op,
                .buf_alloc = 262144,
                .fwd_cnt = 99,
        };
}

static int parse(const VsockHdr *h, VsockHdr *out) {
        uint8_t raw[VSOCK_HDR_SIZE];

        vsock_hdr_encode(h, raw);
        return vsock_hdr_parse(raw, sizeof(raw), out);
}

static void test_roundtrip(void **state) {
        VsockHdr h = sample(VSOCK_OP_RW, 4096), out;
        uint8_t raw[VSOCK_HDR_SIZE];

        vsock_hdr_encode(&h, raw);
        /* Little endian on the wire, fixed offsets. */
        assert_int_equal(raw[0], 3);
        assert_int_equal(raw[8], 2);
        assert_int_equal(raw[16], 1234 & 0xff);
        assert_int_equal(raw[30], VSOCK_OP_RW);
        assert_int_equal(vsock_hdr_parse(raw, sizeof(raw), &out), 0);
        assert_int_equal(out.src_cid, h.src_cid);
        assert_int_equal(out.dst_cid, h.dst_cid);
        assert_int_equal(out.src_port, h.src_port);
        assert_int_equal(out.dst_port, h.dst_port);
        assert_int_equal(out.len, h.len);
        assert_int_equal(out.type, h.type);
        assert_int_equal(out.op, h.op);
        assert_int_equal(out.flags, h.flags);
        assert_int_equal(out.buf_alloc, h.buf_alloc);
        assert_int_equal(out.fwd_cnt, h.fwd_cnt);
}

static void test_short(void **state) {
        uint8_t raw[VSOCK_HDR_SIZE] = {};
        VsockHdr out;

        assert_int_equal(vsock_hdr_parse(raw, VSOCK_HDR_SIZE - 1, &out), -EBADMSG);
        assert_int_equal(vsock_hdr_parse(NULL, 0, &out), -EBADMSG);
}

static void test_type(void **state) {
        VsockHdr h = sample(VSOCK_OP_REQUEST, 0), out;

        h.type = 2; /* SEQPACKET */
        assert_int_equal(parse(&h, &out), -EPROTONOSUPPORT);
        h.type = 0;
        assert_int_equal(parse(&h, &out), -EPROTONOSUPPORT);
}

static void test_op_range(void **state) {
        VsockHdr h = sample(VSOCK_OP_INVALID, 0), out;

        assert_int_equal(parse(&h, &out), -EBADMSG);
        h.op = _VSOCK_OP_MAX;
        assert_int_equal(parse(&h, &out), -EBADMSG);
        h.op = 0xffff;
        assert_int_equal(parse(&h, &out), -EBADMSG);
        for (uint16_t op = VSOCK_OP_REQUEST; op < _VSOCK_OP_MAX; op++) {
                h = sample(op, 0);
                assert_int_equal(parse(&h, &out), 0);
        }
}

static void test_len(void **state) {
        VsockHdr h = sample(VSOCK_OP_RW, VSOCK_MAX_PAYLOAD), out;

        assert_int_equal(parse(&h, &out), 0);
        h.len = VSOCK_MAX_PAYLOAD + 1;
        assert_int_equal(parse(&h, &out), -EBADMSG);
        h.len = UINT32_MAX;
        assert_int_equal(parse(&h, &out), -EBADMSG);
        /* Only RW carries payload. */
        h = sample(VSOCK_OP_CREDIT_UPDATE, 1);
        assert_int_equal(parse(&h, &out), -EBADMSG);
}

static void test_shutdown_flags(void **state) {
        VsockHdr h = sample(VSOCK_OP_SHUTDOWN, 0), out;

        h.flags = VSOCK_SHUTDOWN_MASK;
        assert_int_equal(parse(&h, &out), 0);
        assert_int_equal(out.flags, 3);
        h.flags = 4;
        assert_int_equal(parse(&h, &out), -EBADMSG);
}

static void test_op_names(void **state) {
        assert_string_equal(vsock_op_to_string(VSOCK_OP_RST), "rst");
        assert_string_equal(vsock_op_to_string(999), "unknown");
}

static void test_limits(void **state) {
        VsockHdr h = sample(VSOCK_OP_RW, 0), out;
        uint8_t raw[VSOCK_HDR_SIZE + 1];

        /* Exactly a header, and a header with a byte after it (the payload's first). */
        vsock_hdr_encode(&h, raw);
        raw[VSOCK_HDR_SIZE] = 0xee;
        assert_int_equal(vsock_hdr_parse(raw, VSOCK_HDR_SIZE, &out), 0);
        assert_int_equal(vsock_hdr_parse(raw, sizeof(raw), &out), 0);
        /* RW may be empty. */
        assert_int_equal(out.len, 0);
        /* The last op is valid, the one after it is not, and so are their names. */
        h = sample(_VSOCK_OP_MAX - 1, 0);
        assert_int_equal(parse(&h, &out), 0);
        assert_string_not_equal(vsock_op_to_string(_VSOCK_OP_MAX - 1), "unknown");
        assert_string_equal(vsock_op_to_string(_VSOCK_OP_MAX), "unknown");
        assert_string_equal(vsock_op_to_string(VSOCK_OP_INVALID), "invalid");
        /* Each shutdown bit alone. */
        h = sample(VSOCK_OP_SHUTDOWN, 0);
        h.flags = 1;
        assert_int_equal(parse(&h, &out), 0);
        h.flags = 2;
        assert_int_equal(parse(&h, &out), 0);
        h.flags = 1u << 31;
        assert_int_equal(parse(&h, &out), -EBADMSG);
        /* Flags on another op are not shutdown flags. */
        h = sample(VSOCK_OP_RW, 1);
        h.flags = 4;
        assert_int_equal(parse(&h, &out), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_short),
                cmocka_unit_test(test_type),      cmocka_unit_test(test_op_range),
                cmocka_unit_test(test_len),       cmocka_unit_test(test_shutdown_flags),
                cmocka_unit_test(test_op_names),  cmocka_unit_test(test_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
