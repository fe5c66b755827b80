/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <endian.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "macro.h"
#include "vhost-user.h"

static VhostUser vu;
static unsigned changed[VHOST_USER_NUM_QUEUES];

static void on_changed(VhostUser *v, unsigned idx, void *userdata) {
        changed[idx]++;
}

static const VhostUserOps ops = { .vring_changed = on_changed };

static int setup(void **state) {
        vhost_user_init(&vu, 3, true, &ops, NULL);
        memset(changed, 0, sizeof(changed));
        return 0;
}

static int teardown(void **state) {
        vhost_user_done(&vu);
        return 0;
}

static VhostUserMsg msg(uint32_t request, uint32_t size) {
        return (VhostUserMsg){ .request = request, .flags = VHOST_USER_VERSION, .size = size };
}

static void test_features(void **state) {
        VhostUserMsg m = msg(VHOST_USER_GET_FEATURES, 0), reply = {};

        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 1);
        assert_int_equal(reply.size, 8);
        assert_true(reply.flags & VHOST_USER_FLAG_REPLY);
        assert_true(reply.payload.u64 & (1ull << VIRTIO_F_VERSION_1));
        assert_true(reply.payload.u64 & (1ull << VHOST_USER_F_PROTOCOL_FEATURES));

        m = msg(VHOST_USER_SET_FEATURES, 8);
        m.payload.u64 = 1ull << 40; /* never offered */
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        m.payload.u64 = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX);
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        assert_true(vu.vrings[0].event_idx);

        m = msg(VHOST_USER_GET_PROTOCOL_FEATURES, 0);
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 1);
        assert_int_equal(reply.payload.u64, 1ull << VHOST_USER_PROTOCOL_F_CONFIG);
        m = msg(VHOST_USER_SET_PROTOCOL_FEATURES, 8);
        m.payload.u64 = 1ull << 3; /* REPLY_ACK, not offered */
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
}

static void test_header_check(void **state) {
        assert_int_equal(vhost_user_hdr_check(VHOST_USER_GET_FEATURES, 1, 0), 0);
        assert_int_equal(vhost_user_hdr_check(VHOST_USER_GET_FEATURES, 2, 0), -EBADMSG);
        assert_int_equal(
                vhost_user_hdr_check(VHOST_USER_GET_FEATURES, 1 | VHOST_USER_FLAG_REPLY, 0), -EBADMSG);
        assert_int_equal(vhost_user_hdr_check(0, 1, 0), -EBADMSG);
        assert_int_equal(
                vhost_user_hdr_check(VHOST_USER_SET_MEM_TABLE, 1, VHOST_USER_MAX_PAYLOAD + 1), -EBADMSG);
}

static void test_config(void **state) {
        VhostUserMsg m = msg(VHOST_USER_GET_CONFIG, 12 + 8), reply = {};
        uint64_t cid;

        m.payload.config.size = 8;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 1);
        assert_int_equal(reply.size, 20);
        memcpy(&cid, reply.payload.config.data, 8);
        assert_int_equal(le64toh(cid), 3);

        m.payload.config.size = 4; /* size disagrees with the message */
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        m = msg(VHOST_USER_GET_CONFIG, 12 + 4);
        m.payload.config.offset = 9;
        m.payload.config.size = 4;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        m = msg(VHOST_USER_GET_CONFIG, 12 + 300);
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
}

static int make_memfd(size_t size) {
        int fd = memfd_create("test-ram", MFD_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) size), 0);
        return fd;
}

static void test_mem_table(void **state) {
        VhostUserMsg m = msg(VHOST_USER_SET_MEM_TABLE, 8 + 2 * 32), reply = {};
        uint8_t *p;

        m.payload.mem.nregions = 2;
        m.payload.mem.regions[0].gpa = 0;
        m.payload.mem.regions[0].size = 0x10000;
        m.payload.mem.regions[0].uva = 0x7f0000000000;
        m.payload.mem.regions[0].mmap_offset = 0;
        m.payload.mem.regions[1].gpa = 0x100000;
        m.payload.mem.regions[1].size = 0x10000;
        m.payload.mem.regions[1].uva = 0x7f0000100000;
        m.payload.mem.regions[1].mmap_offset = 0x10000; /* second half of the same file */
        m.fds[0] = make_memfd(0x20000);
        m.fds[1] = fcntl(m.fds[0], F_DUPFD_CLOEXEC, 3);
        assert_int_equal(pwrite(m.fds[0], "\x5a", 1, 0x10000), 1);
        m.n_fds = 2;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        assert_int_equal(m.n_fds, 0);
        assert_int_equal(vu.mem.n_regions, 2);
        p = guest_mem_gpa(&vu.mem, 0x100000, 16);
        assert_non_null(p);
        assert_ptr_equal(p, guest_mem_uva(&vu.mem, 0x7f0000100000, 16));
        /* mmap_offset applied: byte 0x10000 of the file. */
        assert_int_equal(p[0], 0x5a);
        assert_null(guest_mem_gpa(&vu.mem, 0x20000, 1));
}

static void test_mem_table_bad(void **state) {
        VhostUserMsg m = msg(VHOST_USER_SET_MEM_TABLE, 8 + 32), reply = {};

        /* Region beyond the end of the file: would SIGBUS on access. */
        m.payload.mem.nregions = 1;
        m.payload.mem.regions[0].size = 0x20000;
        m.fds[0] = make_memfd(0x10000);
        m.n_fds = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EINVAL);
        assert_int_equal(m.n_fds, 0);

        /* Offset + size wraps. */
        m = msg(VHOST_USER_SET_MEM_TABLE, 8 + 32);
        m.payload.mem.nregions = 1;
        m.payload.mem.regions[0].size = 0x1000;
        m.payload.mem.regions[0].mmap_offset = UINT64_MAX - 0x10;
        m.fds[0] = make_memfd(0x10000);
        m.n_fds = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EINVAL);

        /* fd count does not match the regions. */
        m = msg(VHOST_USER_SET_MEM_TABLE, 8 + 64);
        m.payload.mem.nregions = 2;
        m.fds[0] = make_memfd(0x10000);
        m.n_fds = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);

        /* Too many regions. */
        m = msg(VHOST_USER_SET_MEM_TABLE, 8 + 32);
        m.payload.mem.nregions = 9;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        assert_int_equal(vu.mem.n_regions, 0);
}

static void test_vring_setup(void **state) {
        VhostUserMsg m = msg(VHOST_USER_SET_FEATURES, 8), reply = {};
        int call1, call2;

        m.payload.u64 = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        m = msg(VHOST_USER_SET_MEM_TABLE, 8 + 32);
        m.payload.mem.nregions = 1;
        m.payload.mem.regions[0].gpa = 0;
        m.payload.mem.regions[0].size = 0x10000;
        m.payload.mem.regions[0].uva = 0x5000000;
        m.fds[0] = make_memfd(0x10000);
        m.n_fds = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);

        m = msg(VHOST_USER_SET_VRING_NUM, 8);
        m.payload.state.index = 1;
        m.payload.state.num = 100; /* not a power of two */
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        m.payload.state.num = 128;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        m.payload.state.index = 2; /* the event queue stays in QEMU */
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);

        m = msg(VHOST_USER_SET_VRING_ADDR, 40);
        m.payload.addr.index = 1;
        m.payload.addr.desc = 0x5000000;
        m.payload.addr.avail = 0x5001000;
        m.payload.addr.used = 0x5002000;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        m.payload.addr.used = 0x500f000 + 0xff0; /* used ring would run past the region */
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        m.payload.addr.used = 0x5002000;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);

        m = msg(VHOST_USER_SET_VRING_BASE, 8);
        m.payload.state.index = 1;
        m.payload.state.num = 42;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);

        /* SET_VRING_CALL arrives several times: the last fd counts, earlier ones are closed. */
        call1 = eventfd(0, EFD_CLOEXEC);
        call2 = eventfd(0, EFD_CLOEXEC);
        m = msg(VHOST_USER_SET_VRING_CALL, 8);
        m.payload.u64 = 1;
        m.fds[0] = call1;
        m.n_fds = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        m.fds[0] = call2;
        m.n_fds = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        assert_int_equal(vu.vrings[1].call_fd, call2);
        assert_int_equal(fcntl(call1, F_GETFD), -1);

        /* A kick message claiming an fd but carrying none. */
        m = msg(VHOST_USER_SET_VRING_KICK, 8);
        m.payload.u64 = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        m.fds[0] = eventfd(0, EFD_CLOEXEC);
        m.n_fds = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        /* With VHOST_USER_F_PROTOCOL_FEATURES a ring waits for SET_VRING_ENABLE. */
        assert_false(vring_ready(&vu.vrings[1]));

        m = msg(VHOST_USER_SET_VRING_ENABLE, 8);
        m.payload.state.index = 1;
        m.payload.state.num = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        assert_true(vring_ready(&vu.vrings[1]));
        assert_true(changed[1] > 0);

        m = msg(VHOST_USER_GET_VRING_BASE, 8);
        m.payload.state.index = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 1);
        assert_int_equal(reply.payload.state.num, 42);
        assert_false(vring_ready(&vu.vrings[1])); /* stopped */

        /* New memory table without the ring's memory: the ring stops. */
        m = msg(VHOST_USER_SET_MEM_TABLE, 8 + 32);
        m.payload.mem.nregions = 1;
        m.payload.mem.regions[0].gpa = 0;
        m.payload.mem.regions[0].size = 0x1000;
        m.payload.mem.regions[0].uva = 0x9000000;
        m.fds[0] = make_memfd(0x1000);
        m.n_fds = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        assert_null(vu.vrings[1].desc);
}

static void test_fds_on_wrong_message(void **state) {
        VhostUserMsg m = msg(VHOST_USER_GET_FEATURES, 0), reply = {};
        int fd = eventfd(0, EFD_CLOEXEC);

        m.fds[0] = fd;
        m.n_fds = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed, not leaked */
}

/* Limits: each bound at its value and one past it. */

static void test_header_limits(void **state) {
        assert_int_equal(vhost_user_hdr_check(_VHOST_USER_MAX - 1, 1, 0), 0);
        assert_int_equal(vhost_user_hdr_check(_VHOST_USER_MAX, 1, 0), -EBADMSG);
        assert_int_equal(vhost_user_hdr_check(1, 1, 0), 0);
        assert_int_equal(vhost_user_hdr_check(VHOST_USER_SET_MEM_TABLE, 1, VHOST_USER_MAX_PAYLOAD), 0);
        assert_int_equal(
                vhost_user_hdr_check(VHOST_USER_SET_MEM_TABLE, 1, VHOST_USER_MAX_PAYLOAD + 1), -EBADMSG);
        /* Version 1 with NEED_REPLY is a request; the version bits must be exactly 1. */
        assert_int_equal(vhost_user_hdr_check(1, 1 | VHOST_USER_FLAG_NEED_REPLY, 0), 0);
        assert_int_equal(vhost_user_hdr_check(1, 3, 0), -EBADMSG);
}

static VhostUserMsg mem_table(unsigned n, size_t file_size, uint64_t size) {
        VhostUserMsg m = msg(VHOST_USER_SET_MEM_TABLE, 8 + 32 * n);

        m.payload.mem.nregions = n;
        for (unsigned i = 0; i < n; i++) {
                m.payload.mem.regions[i].gpa = 0x100000ull * i;
                m.payload.mem.regions[i].size = size;
                m.payload.mem.regions[i].uva = 0x7f0000000000ull + 0x100000ull * i;
                m.fds[i] = make_memfd(file_size);
        }
        m.n_fds = n;
        return m;
}

static void test_mem_table_limits(void **state) {
        VhostUserMsg m, reply = {};

        /* The most regions we keep, each exactly as large as its file. */
        m = mem_table(GUEST_MEM_MAX_REGIONS, 0x1000, 0x1000);
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        assert_int_equal(vu.mem.n_regions, GUEST_MEM_MAX_REGIONS);

        /* One byte past the end of the file. */
        m = mem_table(1, 0x1000, 0x1001);
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EINVAL);
        assert_int_equal(m.n_fds, 0);

        /* An offset that ends exactly at the end of the file, and one byte later. */
        m = mem_table(1, 0x2000, 0x1000);
        m.payload.mem.regions[0].mmap_offset = 0x1000;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        m = mem_table(1, 0x2000, 0x1000);
        m.payload.mem.regions[0].mmap_offset = 0x1001;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EINVAL);

        /* A message one byte too short for its region count. */
        m = mem_table(2, 0x1000, 0x1000);
        m.size = 8 + 32 * 2 - 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        assert_int_equal(m.n_fds, 0); /* closed */
        m = msg(VHOST_USER_SET_MEM_TABLE, 7);
        m.payload.mem.nregions = 0;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        m = msg(VHOST_USER_SET_MEM_TABLE, 8);
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG); /* no region */

        /* One region more than we keep. */
        m = msg(VHOST_USER_SET_MEM_TABLE, 8 + 32 * (GUEST_MEM_MAX_REGIONS + 1));
        m.payload.mem.nregions = GUEST_MEM_MAX_REGIONS + 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        /* More fds than a message can carry. */
        m = msg(VHOST_USER_SET_MEM_TABLE, 8 + 32);
        m.payload.mem.nregions = 1;
        m.n_fds = VHOST_USER_MAX_FDS + 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        /* The last good table is still in place. */
        assert_int_equal(vu.mem.n_regions, 1);
}

static int handle_state(uint32_t request, uint32_t index, uint32_t num) {
        VhostUserMsg m = msg(request, 8), reply = {};

        m.payload.state.index = index;
        m.payload.state.num = num;
        return vhost_user_handle(&vu, &m, &reply);
}

static void test_vring_state_limits(void **state) {
        assert_int_equal(handle_state(VHOST_USER_SET_VRING_NUM, 1, VRING_MAX_SIZE), 0);
        assert_int_equal(vu.vrings[1].num, VRING_MAX_SIZE);
        assert_int_equal(handle_state(VHOST_USER_SET_VRING_NUM, 1, VRING_MAX_SIZE * 2), -EBADMSG);
        assert_int_equal(handle_state(VHOST_USER_SET_VRING_NUM, 1, VRING_MAX_SIZE + 1), -EBADMSG);
        assert_int_equal(vu.vrings[1].num, VRING_MAX_SIZE);
        assert_int_equal(handle_state(VHOST_USER_SET_VRING_NUM, 1, 1), 0);
        assert_int_equal(handle_state(VHOST_USER_SET_VRING_NUM, 1, 0), -EBADMSG);
        assert_int_equal(handle_state(VHOST_USER_SET_VRING_NUM, VHOST_USER_NUM_QUEUES - 1, 2), 0);
        assert_int_equal(handle_state(VHOST_USER_SET_VRING_NUM, VHOST_USER_NUM_QUEUES, 2), -EBADMSG);

        assert_int_equal(handle_state(VHOST_USER_SET_VRING_BASE, 0, UINT16_MAX), 0);
        assert_int_equal(vu.vrings[0].last_avail_idx, UINT16_MAX);
        assert_int_equal(handle_state(VHOST_USER_SET_VRING_BASE, 0, UINT16_MAX + 1u), -EBADMSG);
        assert_int_equal(vu.vrings[0].last_avail_idx, UINT16_MAX);
        assert_int_equal(handle_state(VHOST_USER_SET_VRING_BASE, VHOST_USER_NUM_QUEUES, 0), -EBADMSG);

        assert_int_equal(handle_state(VHOST_USER_SET_VRING_ENABLE, 0, 1), 0);
        assert_true(vu.vrings[0].enabled);
        assert_int_equal(handle_state(VHOST_USER_SET_VRING_ENABLE, 0, 2), -EBADMSG);
        assert_int_equal(handle_state(VHOST_USER_SET_VRING_ENABLE, 0, 0), 0);
        assert_false(vu.vrings[0].enabled);

        /* A state message of the wrong size. */
        {
                VhostUserMsg m = msg(VHOST_USER_SET_VRING_NUM, 7), reply = {};
                m.payload.state.index = 0;
                m.payload.state.num = 2;
                assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
                m = msg(VHOST_USER_SET_VRING_ADDR, 39);
                assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        }
}

static void test_vring_fd_limits(void **state) {
        VhostUserMsg m, reply = {};
        int fd = eventfd(0, EFD_CLOEXEC);

        /* The last queue index takes an fd; the next one is refused and the fd closed. */
        m = msg(VHOST_USER_SET_VRING_CALL, 8);
        m.payload.u64 = VHOST_USER_NUM_QUEUES - 1;
        m.fds[0] = eventfd(0, EFD_CLOEXEC);
        m.n_fds = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        m = msg(VHOST_USER_SET_VRING_CALL, 8);
        m.payload.u64 = VHOST_USER_NUM_QUEUES;
        m.fds[0] = fd;
        m.n_fds = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        assert_int_equal(fcntl(fd, F_GETFD), -1);
        /* NOFD is the only flag beside the index; the next bit is not. */
        m = msg(VHOST_USER_SET_VRING_CALL, 8);
        m.payload.u64 = VHOST_USER_VRING_NOFD;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 0);
        m.payload.u64 = VHOST_USER_VRING_NOFD << 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
}

static void test_config_limits(void **state) {
        VhostUserMsg m, reply = {};
        uint64_t cid;

        /* The largest config read; the CID first, zeros after it. */
        m = msg(VHOST_USER_GET_CONFIG, 12 + VHOST_USER_CONFIG_MAX);
        m.payload.config.size = VHOST_USER_CONFIG_MAX;
        memset(reply.payload.config.data, 0xaa, sizeof(reply.payload.config.data));
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 1);
        memcpy(&cid, reply.payload.config.data, 8);
        assert_int_equal(le64toh(cid), 3);
        assert_int_equal(reply.payload.config.data[VHOST_USER_CONFIG_MAX - 1], 0);
        m = msg(VHOST_USER_GET_CONFIG, 12 + VHOST_USER_CONFIG_MAX + 1);
        m.payload.config.size = VHOST_USER_CONFIG_MAX + 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);

        /* Offsets up to the end of the 8-byte config; one more is refused. */
        m = msg(VHOST_USER_GET_CONFIG, 12 + 1);
        m.payload.config.offset = 7;
        m.payload.config.size = 1;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 1);
        assert_int_equal(reply.payload.config.data[0], 0); /* the CID's top byte */
        m.payload.config.offset = 0;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 1);
        assert_int_equal(reply.payload.config.data[0], 3);
        m = msg(VHOST_USER_GET_CONFIG, 12);
        m.payload.config.offset = 8;
        m.payload.config.size = 0;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), 1);
        m.payload.config.offset = 9;
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
        m = msg(VHOST_USER_GET_CONFIG, 11);
        assert_int_equal(vhost_user_handle(&vu, &m, &reply), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_features, setup, teardown),
                cmocka_unit_test(test_header_check),
                cmocka_unit_test_setup_teardown(test_config, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mem_table, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mem_table_bad, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vring_setup, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fds_on_wrong_message, setup, teardown),
                cmocka_unit_test(test_header_limits),
                cmocka_unit_test_setup_teardown(test_mem_table_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vring_state_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vring_fd_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_config_limits, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
