/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "frame.h"
#include "macro.h"

static uint8_t *encode_start_vm(const char *name, uint64_t id, size_t *ret_size) {
        Bistro__Concierge__StartVmRequest req = BISTRO__CONCIERGE__START_VM_REQUEST__INIT;
        uint8_t *buf = NULL;

        req.name = (char *) name;
        req.cpus = 2;
        req.memory_mib = 1024;
        assert_int_equal(
                frame_encode(
                        BISTRO__MESSAGE_TYPE__START_VM_REQUEST, FRAME_REQUEST, id, &req.base, &buf,
                        ret_size),
                0);
        return buf;
}

static void check_start_vm(const Frame *f, const char *name, uint64_t id) {
        _cleanup_message_ ProtobufCMessage *m = NULL;
        Bistro__Concierge__StartVmRequest *req;

        assert_int_equal(f->header.type, BISTRO__MESSAGE_TYPE__START_VM_REQUEST);
        assert_int_equal(f->header.flags, FRAME_REQUEST);
        assert_true(f->header.id == id);
        assert_int_equal(wire_unpack(f->header.type, f->payload, f->header.length, &m), 0);
        req = (Bistro__Concierge__StartVmRequest *) m;
        assert_string_equal(req->name, name);
        assert_int_equal(req->cpus, 2);
        assert_true(req->memory_mib == 1024);
}

static void test_roundtrip(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        FrameDecoder d = FRAME_DECODER_INIT;
        Frame f = {};
        size_t size, used;

        buf = encode_start_vm("termina", 0x1122334455667788ULL, &size);
        /* The header is little-endian, magic first. */
        assert_int_equal(buf[0], 'B');
        assert_int_equal(buf[1], 'I');
        assert_int_equal(buf[2], 'S');
        assert_int_equal(buf[3], 1);
        assert_int_equal(buf[8], 0x88);
        assert_int_equal(buf[15], 0x11);
        assert_int_equal(frame_decoder_feed(&d, buf, size, &used, &f), 1);
        assert_int_equal(used, size);
        check_start_vm(&f, "termina", 0x1122334455667788ULL);
        frame_done(&f);
        assert_int_equal(frame_decoder_eof(&d), 0);
        frame_decoder_done(&d);
}

static void test_byte_by_byte(void **state) {
        _cleanup_free_ uint8_t *a = NULL, *b = NULL, *both = NULL;
        FrameDecoder d = FRAME_DECODER_INIT;
        size_t sa, sb, used;
        unsigned frames = 0;

        a = encode_start_vm("one", 1, &sa);
        b = encode_start_vm("two", 2, &sb);
        both = malloc(sa + sb);
        memcpy(both, a, sa);
        memcpy(both + sa, b, sb);

        for (size_t i = 0; i < sa + sb; i++) {
                Frame f = {};
                int r;

                assert_true(frame_decoder_wanted(&d) > 0);
                r = frame_decoder_feed(&d, both + i, 1, &used, &f);
                assert_int_equal(used, 1);
                if (i == sa - 1 || i == sa + sb - 1) {
                        assert_int_equal(r, 1);
                        check_start_vm(&f, frames == 0 ? "one" : "two", frames + 1);
                        frame_done(&f);
                        frames++;
                } else {
                        assert_int_equal(r, 0);
                        assert_true(frame_decoder_busy(&d));
                }
        }
        assert_int_equal(frames, 2);

        /* Both frames in one buffer: the decoder stops after the first and reports what it used. */
        Frame f = {};
        assert_int_equal(frame_decoder_feed(&d, both, sa + sb, &used, &f), 1);
        assert_int_equal(used, sa);
        frame_done(&f);
        assert_int_equal(frame_decoder_feed(&d, both + sa, sb, &used, &f), 1);
        assert_int_equal(used, sb);
        frame_done(&f);
        frame_decoder_done(&d);
}

static void make_header(uint8_t out[FRAME_HEADER_SIZE], uint32_t type, uint32_t flags, uint32_t length) {
        frame_header_pack(&(FrameHeader){ .type = type, .flags = flags, .id = 7, .length = length }, out);
}

static int feed_header(const uint8_t hdr[FRAME_HEADER_SIZE], FrameDecoder *d) {
        Frame f = {};
        size_t used;

        return frame_decoder_feed(d, hdr, FRAME_HEADER_SIZE, &used, &f);
}

static void test_oversized(void **state) {
        uint8_t hdr[FRAME_HEADER_SIZE];
        FrameDecoder d = FRAME_DECODER_INIT;
        Frame f = {};
        size_t used;

        /* 0xFFFFFFFF: refused on the last header byte, nothing allocated. */
        make_header(hdr, BISTRO__MESSAGE_TYPE__START_VM_REQUEST, FRAME_REQUEST, UINT32_MAX);
        for (size_t i = 0; i < FRAME_HEADER_SIZE - 1; i++)
                assert_int_equal(frame_decoder_feed(&d, hdr + i, 1, &used, &f), 0);
        assert_int_equal(frame_decoder_feed(&d, hdr + FRAME_HEADER_SIZE - 1, 1, &used, &f), -EMSGSIZE);
        assert_null(d.payload);
        /* Sticky. */
        assert_int_equal(frame_decoder_feed(&d, hdr, 1, &used, &f), -EMSGSIZE);
        assert_int_equal(used, 0);
        assert_int_equal(frame_decoder_eof(&d), -EMSGSIZE);
        frame_decoder_done(&d);

        /* Above the global cap and above the per-type cap (4 KiB for StartVm). */
        make_header(hdr, BISTRO__MESSAGE_TYPE__LIST_VMS_RESPONSE, FRAME_RESPONSE, MESSAGE_SIZE_MAX + 1);
        assert_int_equal(feed_header(hdr, &d), -EMSGSIZE);
        frame_decoder_done(&d);
        make_header(hdr, BISTRO__MESSAGE_TYPE__START_VM_REQUEST, FRAME_REQUEST, 4097);
        assert_int_equal(feed_header(hdr, &d), -EMSGSIZE);
        assert_null(d.payload);
        frame_decoder_done(&d);
        make_header(hdr, BISTRO__MESSAGE_TYPE__START_VM_REQUEST, FRAME_REQUEST, 4096);
        assert_int_equal(feed_header(hdr, &d), 0);
        assert_true(frame_decoder_wanted(&d) == 4096);
        assert_null(d.payload); /* memory follows the bytes received, not the announced length */
        frame_decoder_done(&d);
        make_header(hdr, BISTRO__MESSAGE_TYPE__LIST_VMS_RESPONSE, FRAME_RESPONSE, 1024 * 1024);
        assert_int_equal(feed_header(hdr, &d), 0);
        assert_int_equal(frame_decoder_feed(&d, hdr, 10, &used, &f), 0);
        assert_true(d.payload_alloc >= 10 && d.payload_alloc < 1024 * 1024);
        frame_decoder_done(&d);
}

static void test_bad_headers(void **state) {
        uint8_t hdr[FRAME_HEADER_SIZE];
        FrameDecoder d = FRAME_DECODER_INIT;
        static const uint32_t bad_flags[] = {
                0, FRAME_REQUEST | FRAME_RESPONSE, 0x8, 0x80000001, FRAME_RESPONSE, FRAME_EVENT
        };

        make_header(hdr, BISTRO__MESSAGE_TYPE__START_VM_REQUEST, FRAME_REQUEST, 0);
        hdr[0] ^= 0xFF;
        assert_int_equal(feed_header(hdr, &d), -EBADMSG);
        frame_decoder_done(&d);

        /* Unknown types. */
        make_header(hdr, 0, FRAME_REQUEST, 0);
        assert_int_equal(feed_header(hdr, &d), -EBADMSG);
        frame_decoder_done(&d);
        make_header(hdr, 99999, FRAME_REQUEST, 0);
        assert_int_equal(feed_header(hdr, &d), -EBADMSG);
        frame_decoder_done(&d);

        /* No kind, two kinds, unknown bits, a kind the type does not travel as. */
        for (size_t i = 0; i < ELEMENTSOF(bad_flags); i++) {
                make_header(hdr, BISTRO__MESSAGE_TYPE__START_VM_REQUEST, bad_flags[i], 0);
                assert_int_equal(feed_header(hdr, &d), -EBADMSG);
                frame_decoder_done(&d);
        }
        make_header(hdr, BISTRO__MESSAGE_TYPE__ERROR_REPLY, FRAME_REQUEST, 0);
        assert_int_equal(feed_header(hdr, &d), -EBADMSG);
        frame_decoder_done(&d);

        /* Garbage. */
        uint8_t junk[64];
        Frame f = {};
        size_t used;
        for (size_t i = 0; i < sizeof(junk); i++)
                junk[i] = (uint8_t) (i * 37 + 11);
        assert_int_equal(frame_decoder_feed(&d, junk, sizeof(junk), &used, &f), -EBADMSG);
        assert_int_equal(used, FRAME_HEADER_SIZE);
        frame_decoder_done(&d);
}

static void test_truncated(void **state) {
        _cleanup_free_ uint8_t *buf = NULL;
        FrameDecoder d = FRAME_DECODER_INIT;
        Frame f = {};
        size_t size, used;

        buf = encode_start_vm("termina", 3, &size);
        assert_int_equal(frame_decoder_eof(&d), 0);
        assert_int_equal(frame_decoder_feed(&d, buf, 5, &used, &f), 0);
        assert_int_equal(frame_decoder_eof(&d), -EBADMSG); /* inside the header */
        frame_decoder_done(&d);
        assert_int_equal(frame_decoder_feed(&d, buf, size - 1, &used, &f), 0);
        assert_int_equal(frame_decoder_wanted(&d), 1);
        assert_int_equal(frame_decoder_eof(&d), -EBADMSG); /* inside the payload */
        frame_decoder_done(&d);
}

static void test_encode_refuses(void **state) {
        Bistro__Concierge__StartVmRequest req = BISTRO__CONCIERGE__START_VM_REQUEST__INIT;
        Bistro__Maitred__LaunchProcessRequest lp = BISTRO__MAITRED__LAUNCH_PROCESS_REQUEST__INIT;
        static char arg[4000];
        char *argv[PROTO_ARGV_MAX];
        uint8_t *buf = NULL;
        size_t size;

        req.name = (char *) "../x";
        assert_int_equal(
                frame_encode(
                        BISTRO__MESSAGE_TYPE__START_VM_REQUEST, FRAME_REQUEST, 1, &req.base, &buf, &size),
                -EINVAL);
        req.name = (char *) "ok";
        /* Wrong descriptor for the type, wrong kind, unknown type. */
        assert_int_equal(
                frame_encode(
                        BISTRO__MESSAGE_TYPE__STOP_VM_REQUEST, FRAME_REQUEST, 1, &req.base, &buf, &size),
                -EINVAL);
        assert_int_equal(
                frame_encode(
                        BISTRO__MESSAGE_TYPE__START_VM_REQUEST, FRAME_RESPONSE, 1, &req.base, &buf, &size),
                -EINVAL);
        assert_int_equal(frame_encode(12345, FRAME_REQUEST, 1, &req.base, &buf, &size), -EINVAL);
        assert_null(buf);

        /* Valid but larger than the type's cap (256 KiB). */
        memset(arg, 'a', sizeof(arg) - 1);
        arg[0] = '/';
        for (size_t i = 0; i < ELEMENTSOF(argv); i++)
                argv[i] = arg;
        lp.argv = argv;
        lp.n_argv = ELEMENTSOF(argv);
        assert_int_equal(
                frame_encode(
                        BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_REQUEST, FRAME_REQUEST, 1, &lp.base, &buf,
                        &size),
                -EMSGSIZE);
        lp.n_argv = 2;
        assert_int_equal(
                frame_encode(
                        BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_REQUEST, FRAME_REQUEST, 1, &lp.base, &buf,
                        &size),
                0);
        free(buf);
}

static void test_unpack_garbage(void **state) {
        static const uint8_t junk[] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 };
        static const uint8_t huge_len[] = { 0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 'x' };
        ProtobufCMessage *m = NULL;

        assert_int_equal(
                wire_unpack(BISTRO__MESSAGE_TYPE__START_VM_REQUEST, junk, sizeof(junk), &m), -EBADMSG);
        assert_int_equal(
                wire_unpack(BISTRO__MESSAGE_TYPE__START_VM_REQUEST, huge_len, sizeof(huge_len), &m),
                -EBADMSG);
        assert_int_equal(wire_unpack(777, junk, sizeof(junk), &m), -EBADMSG);
        /* An empty StartVm has no name: decodes, fails validation. */
        assert_int_equal(wire_unpack(BISTRO__MESSAGE_TYPE__START_VM_REQUEST, NULL, 0, &m), -EBADMSG);
        /* An empty ListVms is valid. */
        assert_int_equal(wire_unpack(BISTRO__MESSAGE_TYPE__LIST_VMS_REQUEST, NULL, 0, &m), 0);
        assert_non_null(m);
        message_free(m);
        assert_string_equal(
                message_type_to_string(BISTRO__MESSAGE_TYPE__VM_READY_REQUEST), "VM_READY_REQUEST");
        assert_null(message_type_to_string(3));
}

/* Limits: each cap at its value and one past it. */

static void test_type_cap_limits(void **state) {
        const MessageTypeInfo *info = message_type_lookup(BISTRO__MESSAGE_TYPE__LIST_VMS_RESPONSE);
        uint8_t hdr[FRAME_HEADER_SIZE];
        FrameDecoder d = FRAME_DECODER_INIT;

        assert_non_null(info);
        assert_true(info->max_size <= MESSAGE_SIZE_MAX);
        make_header(hdr, BISTRO__MESSAGE_TYPE__LIST_VMS_RESPONSE, FRAME_RESPONSE, info->max_size);
        assert_int_equal(feed_header(hdr, &d), 0);
        assert_true(frame_decoder_wanted(&d) == info->max_size);
        frame_decoder_done(&d);
        make_header(hdr, BISTRO__MESSAGE_TYPE__LIST_VMS_RESPONSE, FRAME_RESPONSE, info->max_size + 1);
        assert_int_equal(feed_header(hdr, &d), -EMSGSIZE);
        frame_decoder_done(&d);
        /* A zero-length payload is a complete frame at once, with no buffer. */
        {
                Frame f = {};
                size_t used;
                make_header(hdr, BISTRO__MESSAGE_TYPE__LIST_VMS_REQUEST, FRAME_REQUEST, 0);
                assert_int_equal(frame_decoder_feed(&d, hdr, FRAME_HEADER_SIZE, &used, &f), 1);
                assert_null(f.payload);
                assert_int_equal(f.header.length, 0);
                frame_done(&f);
                frame_decoder_done(&d);
        }
}

/* A frame of len payload bytes (not a valid message: the decoder only frames), fed in pieces of
 * step bytes; every payload byte must arrive where it was sent. */
static void check_payload_of(uint32_t len, size_t step) {
        _cleanup_free_ uint8_t *buf = malloc(FRAME_HEADER_SIZE + len + 1);
        FrameDecoder d = FRAME_DECODER_INIT;
        Frame f = {};
        size_t off = 0, used;
        int r = 0;

        assert_non_null(buf);
        make_header(buf, BISTRO__MESSAGE_TYPE__LIST_VMS_RESPONSE, FRAME_RESPONSE, len);
        for (uint32_t i = 0; i < len; i++)
                buf[FRAME_HEADER_SIZE + i] = (uint8_t) (i * 131 + 7);
        buf[FRAME_HEADER_SIZE + len] = 0x42; /* the next frame's first byte: not ours */
        while (off < FRAME_HEADER_SIZE + len + 1) {
                size_t n = MIN(step, FRAME_HEADER_SIZE + len + 1 - off);
                r = frame_decoder_feed(&d, buf + off, n, &used, &f);
                assert_true(r >= 0);
                off += used;
                if (r == 1)
                        break;
                assert_int_equal(used, n);
        }
        assert_int_equal(r, 1);
        assert_int_equal(off, FRAME_HEADER_SIZE + len);
        assert_int_equal(f.header.length, len);
        assert_memory_equal(f.payload, buf + FRAME_HEADER_SIZE, len);
        assert_false(frame_decoder_busy(&d));
        frame_done(&f);
        frame_decoder_done(&d);
}

static void test_payload_chunk_limits(void **state) {
        /* The decoder grows its buffer in 64 KiB steps: around a step, and the type's cap. */
        const uint32_t chunk = 64 * 1024, cap = 1024 * 1024;

        check_payload_of(1, 1);
        check_payload_of(chunk - 1, 4096);
        check_payload_of(chunk, 4096);
        check_payload_of(chunk + 1, 4096);
        check_payload_of(chunk + 1, chunk + FRAME_HEADER_SIZE);
        check_payload_of(2 * chunk + 1, 7777);
        check_payload_of(cap, 100000);
        check_payload_of(cap, (size_t) cap + FRAME_HEADER_SIZE + 1);
}

static void test_encode_at_cap(void **state) {
        const MessageTypeInfo *info = message_type_lookup(BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_REQUEST);
        Bistro__Maitred__LaunchProcessRequest lp = BISTRO__MAITRED__LAUNCH_PROCESS_REQUEST__INIT;
        static char args[PROTO_ARGV_MAX][PROTO_ARG_MAX];
        char *argv[PROTO_ARGV_MAX];
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t *none = NULL;
        FrameDecoder d = FRAME_DECODER_INIT;
        Frame f = {};
        ProtobufCMessage *m = NULL;
        size_t size, used, n, last;

        assert_non_null(info);
        /* Arguments of 3000 bytes until the message passes the cap, then the last one shortened
         * until it is exactly at it (the length prefix stays 2 bytes throughout). */
        lp.argv = argv;
        for (n = 0; n < PROTO_ARGV_MAX; n++) {
                memset(args[n], 'a', 3000);
                args[n][0] = '/';
                args[n][3000] = 0;
                argv[n] = args[n];
                lp.n_argv = n + 1;
                if (protobuf_c_message_get_packed_size(&lp.base) > info->max_size)
                        break;
        }
        assert_true(n < PROTO_ARGV_MAX);
        last = 3000 - (protobuf_c_message_get_packed_size(&lp.base) - info->max_size);
        assert_true(last > 200);
        args[n][last] = 0;
        assert_int_equal(protobuf_c_message_get_packed_size(&lp.base), info->max_size);

        assert_int_equal(
                frame_encode(
                        BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_REQUEST, FRAME_REQUEST, 9, &lp.base, &buf,
                        &size),
                0);
        assert_int_equal(size, FRAME_HEADER_SIZE + info->max_size);
        /* What we send at the cap, we read back. */
        assert_int_equal(frame_decoder_feed(&d, buf, size, &used, &f), 1);
        assert_int_equal(used, size);
        assert_int_equal(wire_unpack(f.header.type, f.payload, f.header.length, &m), 0);
        message_free(m);
        frame_done(&f);
        frame_decoder_done(&d);

        /* One byte more. */
        args[n][last] = 'a';
        args[n][last + 1] = 0;
        assert_int_equal(protobuf_c_message_get_packed_size(&lp.base), info->max_size + 1);
        assert_int_equal(
                frame_encode(
                        BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_REQUEST, FRAME_REQUEST, 9, &lp.base, &none,
                        &size),
                -EMSGSIZE);
        assert_null(none);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip),
                cmocka_unit_test(test_byte_by_byte),
                cmocka_unit_test(test_oversized),
                cmocka_unit_test(test_bad_headers),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_encode_refuses),
                cmocka_unit_test(test_unpack_garbage),
                cmocka_unit_test(test_type_cap_limits),
                cmocka_unit_test(test_payload_chunk_limits),
                cmocka_unit_test(test_encode_at_cap),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
