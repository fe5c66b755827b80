/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <endian.h>
#include <string.h>
#include <sys/eventfd.h>

#include "macro.h"
#include "vring.h"

/* A fake guest: 64 KiB of "RAM" at guest-physical 0x10000, which QEMU would see at 0x7f0000000000. */
#define GPA 0x10000u
#define UVA 0x7f0000000000ull
#define NUM 8u
#define DESC_OFF 0x0u
#define AVAIL_OFF 0x200u
#define USED_OFF 0x400u
#define DATA_OFF 0x1000u

static uint8_t ram[65536] __attribute__((aligned(16)));
static GuestMem mem;
static Vring vr;

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
        uint8_t *d = ram + DESC_OFF + 16 * i;
        uint64_t a = htole64(addr);
        uint32_t l = htole32(len);
        uint16_t f = htole16(flags), n = htole16(next);

        memcpy(d, &a, 8);
        memcpy(d + 8, &l, 4);
        memcpy(d + 12, &f, 2);
        memcpy(d + 14, &n, 2);
}

static uint16_t get16(unsigned off) {
        uint16_t v;
        memcpy(&v, ram + off, 2);
        return le16toh(v);
}

static void put16(unsigned off, uint16_t v) {
        v = htole16(v);
        memcpy(ram + off, &v, 2);
}

static void avail_add(uint16_t head) {
        uint16_t idx = get16(AVAIL_OFF + 2);
        put16(AVAIL_OFF + 4 + 2 * (idx % NUM), head);
        put16(AVAIL_OFF + 2, idx + 1);
}

static int setup(void **state) {
        memset(ram, 0, sizeof(ram));
        memset(&mem, 0, sizeof(mem));
        assert_int_equal(guest_mem_add(&mem, GPA, sizeof(ram), UVA, ram, NULL, 0), 0);
        vring_init(&vr);
        vr.num = NUM;
        vr.desc_uva = UVA + DESC_OFF;
        vr.avail_uva = UVA + AVAIL_OFF;
        vr.used_uva = UVA + USED_OFF;
        vr.addr_set = true;
        vr.enabled = true;
        assert_int_equal(vring_map(&vr, &mem), 0);
        return 0;
}

static void test_simple_chain(void **state) {
        VringChain c;

        set_desc(0, GPA + DATA_OFF, 44, VRING_DESC_F_NEXT, 1);
        set_desc(1, GPA + DATA_OFF + 100, 1000, 0, 0);
        avail_add(0);
        assert_int_equal(vring_avail_count(&vr), 1);
        assert_int_equal(vring_pop(&vr, &mem, &c), 1);
        assert_int_equal(c.head, 0);
        assert_int_equal(c.n_out, 2);
        assert_int_equal(c.n_in, 0);
        assert_int_equal(c.out_len, 1044);
        assert_ptr_equal(c.out[0].iov_base, ram + DATA_OFF);
        assert_ptr_equal(c.out[1].iov_base, ram + DATA_OFF + 100);
        assert_int_equal(vring_pop(&vr, &mem, &c), 0);

        vring_push(&vr, c.head, 7);
        assert_int_equal(get16(USED_OFF + 2), 0); /* not yet published */
        vring_flush(&vr);
        assert_int_equal(get16(USED_OFF + 2), 1);
        assert_int_equal(ram[USED_OFF + 4], 0);
        assert_int_equal(ram[USED_OFF + 8], 7);
}

static void test_readable_then_writable(void **state) {
        VringChain c;

        set_desc(3, GPA + DATA_OFF, 16, VRING_DESC_F_NEXT, 4);
        set_desc(4, GPA + DATA_OFF + 16, 4096, VRING_DESC_F_WRITE, 0);
        avail_add(3);
        assert_int_equal(vring_pop(&vr, &mem, &c), 1);
        assert_int_equal(c.head, 3);
        assert_int_equal(c.out_len, 16);
        assert_int_equal(c.in_len, 4096);
}

static void assert_bad_chain_returned(void) {
        VringChain c;

        assert_int_equal(vring_pop(&vr, &mem, &c), -EBADMSG);
        /* The bad chain went back to the guest as used, length 0; the ring keeps working. */
        vring_flush(&vr);
        assert_int_equal(get16(USED_OFF + 2), 1);
        assert_false(vr.broken);
}

static void test_wrong_direction(void **state) {
        set_desc(0, GPA + DATA_OFF, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
        set_desc(1, GPA + DATA_OFF + 16, 16, 0, 0);
        avail_add(0);
        assert_bad_chain_returned();
}

static void test_loop(void **state) {
        set_desc(0, GPA + DATA_OFF, 16, VRING_DESC_F_NEXT, 1);
        set_desc(1, GPA + DATA_OFF, 16, VRING_DESC_F_NEXT, 0);
        avail_add(0);
        assert_bad_chain_returned();
}

static void test_self_loop(void **state) {
        set_desc(2, GPA + DATA_OFF, 0, VRING_DESC_F_NEXT, 2);
        avail_add(2);
        assert_bad_chain_returned();
}

static void test_next_out_of_range(void **state) {
        set_desc(0, GPA + DATA_OFF, 16, VRING_DESC_F_NEXT, NUM + 5);
        avail_add(0);
        assert_bad_chain_returned();
}

static void test_address_out_of_range(void **state) {
        set_desc(0, GPA + sizeof(ram) - 8, 16, 0, 0); /* crosses the end of RAM */
        avail_add(0);
        assert_bad_chain_returned();
}

static void test_address_wraps(void **state) {
        set_desc(0, UINT64_MAX - 4, 16, 0, 0);
        avail_add(0);
        assert_bad_chain_returned();
}

static void test_huge_length(void **state) {
        set_desc(0, GPA, UINT32_MAX, 0, 0);
        avail_add(0);
        assert_bad_chain_returned();
}

static void test_total_length_cap(void **state) {
        static uint8_t big[256 * 1024];

        /* Each descriptor is in range, but the chain adds up beyond the cap. */
        assert_int_equal(guest_mem_add(&mem, 0x1000000, sizeof(big), UVA + 0x1000000, big, NULL, 0), 0);
        for (unsigned i = 0; i < NUM; i++)
                set_desc(i, 0x1000000, sizeof(big), i + 1 < NUM ? VRING_DESC_F_NEXT : 0, i + 1);
        avail_add(0);
        assert_bad_chain_returned();
}

static void test_indirect_refused(void **state) {
        set_desc(0, GPA + DATA_OFF, 64, VRING_DESC_F_INDIRECT, 0);
        avail_add(0);
        assert_bad_chain_returned();
}

static void test_bad_head_breaks_ring(void **state) {
        VringChain c;

        put16(AVAIL_OFF + 4, NUM); /* head index out of range */
        put16(AVAIL_OFF + 2, 1);
        assert_int_equal(vring_pop(&vr, &mem, &c), -EIO);
        assert_true(vr.broken);
        assert_false(vring_ready(&vr));
        assert_int_equal(vring_pop(&vr, &mem, &c), -EIO);
}

static void test_avail_idx_jump_breaks_ring(void **state) {
        VringChain c;

        put16(AVAIL_OFF + 2, NUM + 1);
        assert_int_equal(vring_pop(&vr, &mem, &c), -EIO);
        assert_true(vr.broken);
}

static void test_spans_regions(void **state) {
        static uint8_t ram2[4096];
        VringChain c;

        assert_int_equal(
                guest_mem_add(&mem, GPA + sizeof(ram), sizeof(ram2), UVA + 0x100000, ram2, NULL, 0), 0);
        set_desc(0, GPA + sizeof(ram) - 100, 300, 0, 0);
        avail_add(0);
        assert_int_equal(vring_pop(&vr, &mem, &c), 1);
        assert_int_equal(c.n_out, 2);
        assert_int_equal(c.out[0].iov_len, 100);
        assert_ptr_equal(c.out[1].iov_base, ram2);
        assert_int_equal(c.out[1].iov_len, 200);
}

static void test_event_idx(void **state) {
        VringChain c;
        int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        uint64_t v = 0;

        vr.event_idx = true;
        vr.call_fd = efd;
        set_desc(0, GPA + DATA_OFF, 16, 0, 0);
        avail_add(0);
        avail_add(0);
        assert_int_equal(vring_pop(&vr, &mem, &c), 1);
        assert_int_equal(vring_pop(&vr, &mem, &c), 1);
        assert_int_equal(vring_pop(&vr, &mem, &c), 0);
        /* Empty: we asked for a kick at the next new entry. */
        assert_int_equal(get16(USED_OFF + 4 + 8 * NUM), 2);

        /* used_event = 0: the guest wants an interrupt once entry 0 is used. */
        put16(AVAIL_OFF + 4 + 2 * NUM, 0);
        vring_push(&vr, 0, 0);
        vring_flush(&vr);
        assert_int_equal(read(efd, &v, sizeof(v)), 8);
        /* Entry 1 is past what it asked for: no interrupt. */
        vring_push(&vr, 0, 0);
        vring_flush(&vr);
        assert_int_equal(read(efd, &v, sizeof(v)), -1);
        safe_close(efd);
        vr.call_fd = -EBADF;
}

static void test_no_interrupt_flag(void **state) {
        int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        uint64_t v = 0;

        vr.call_fd = efd;
        put16(AVAIL_OFF, VRING_AVAIL_F_NO_INTERRUPT);
        vring_push(&vr, 0, 0);
        vring_flush(&vr);
        assert_int_equal(read(efd, &v, sizeof(v)), -1);
        put16(AVAIL_OFF, 0);
        vring_push(&vr, 0, 0);
        vring_flush(&vr);
        assert_int_equal(read(efd, &v, sizeof(v)), 8);
        safe_close(efd);
        vr.call_fd = -EBADF;
}

static void test_unpop(void **state) {
        VringChain c;

        set_desc(0, GPA + DATA_OFF, 16, VRING_DESC_F_WRITE, 0);
        set_desc(1, GPA + DATA_OFF, 32, VRING_DESC_F_WRITE, 0);
        avail_add(0);
        avail_add(1);
        assert_int_equal(vring_pop(&vr, &mem, &c), 1);
        assert_int_equal(vring_pop(&vr, &mem, &c), 1);
        vring_unpop(&vr, 1);
        assert_int_equal(vring_pop(&vr, &mem, &c), 1);
        assert_int_equal(c.head, 1);
}

static void test_map_checks(void **state) {
        Vring v;

        vring_init(&v);
        v.num = NUM;
        v.addr_set = true;
        v.desc_uva = UVA + 8; /* misaligned */
        v.avail_uva = UVA + AVAIL_OFF;
        v.used_uva = UVA + USED_OFF;
        assert_int_equal(vring_map(&v, &mem), -EINVAL);
        v.desc_uva = UVA + sizeof(ram) - 16; /* table runs past the region */
        assert_int_equal(vring_map(&v, &mem), -EINVAL);
        v.desc_uva = UVA;
        v.num = 6; /* not a power of two */
        assert_int_equal(vring_map(&v, &mem), -EINVAL);
        v.num = NUM;
        v.used_uva = 0x1000; /* not guest memory */
        assert_int_equal(vring_map(&v, &mem), -EINVAL);
}

static void test_guest_mem_overlap(void **state) {
        GuestMem m = {};
        static uint8_t b[4096];

        assert_int_equal(guest_mem_add(&m, 0x1000, 4096, 0x10000, b, NULL, 0), 0);
        assert_int_equal(guest_mem_add(&m, 0x1800, 4096, 0x90000, b, NULL, 0), -EINVAL);
        assert_int_equal(guest_mem_add(&m, 0x9000, 4096, 0x10800, b, NULL, 0), -EINVAL);
        assert_int_equal(guest_mem_add(&m, UINT64_MAX - 10, 4096, 0x90000, b, NULL, 0), -EINVAL);
        assert_int_equal(guest_mem_add(&m, 0x9000, 0, 0x90000, b, NULL, 0), -EINVAL);
        assert_null(guest_mem_gpa(&m, 0x1000, 4097));
        assert_non_null(guest_mem_gpa(&m, 0x1000, 4096));
        assert_null(guest_mem_gpa(&m, 0xfff, 1));
        assert_null(guest_mem_uva(&m, 0x10fff, 2));
}

/* Limits: each bound is tested at its value and one past it. */

static void test_next_at_limit(void **state) {
        VringChain c;

        /* next = NUM - 1 is the last descriptor: fine. */
        set_desc(0, GPA + DATA_OFF, 16, VRING_DESC_F_NEXT, NUM - 1);
        set_desc(NUM - 1, GPA + DATA_OFF, 16, 0, 0);
        avail_add(0);
        assert_int_equal(vring_pop(&vr, &mem, &c), 1);
        assert_int_equal(c.n_out, 2);
        vring_push(&vr, c.head, 0);
        vring_flush(&vr);

        /* next = NUM is one past the table. */
        set_desc(0, GPA + DATA_OFF, 16, VRING_DESC_F_NEXT, NUM);
        avail_add(0);
        assert_int_equal(vring_pop(&vr, &mem, &c), -EBADMSG);
        vring_flush(&vr);
        assert_int_equal(get16(USED_OFF + 2), 2);
        assert_false(vr.broken);
}

static void test_chain_of_ring_size(void **state) {
        VringChain c;

        /* Every descriptor once, NUM in all: the longest chain that is not a loop. */
        for (unsigned i = 0; i < NUM; i++)
                set_desc(i, GPA + DATA_OFF + 16 * i, 16, i + 1 < NUM ? VRING_DESC_F_NEXT : 0, i + 1);
        avail_add(0);
        assert_int_equal(vring_pop(&vr, &mem, &c), 1);
        assert_int_equal(c.n_out, NUM);
        assert_int_equal(c.out_len, 16 * NUM);
}

static void test_head_at_limit(void **state) {
        VringChain c;

        set_desc(NUM - 1, GPA + DATA_OFF, 16, 0, 0);
        avail_add(NUM - 1);
        assert_int_equal(vring_pop(&vr, &mem, &c), 1);
        assert_int_equal(c.head, NUM - 1);
        assert_false(vr.broken);
        avail_add(NUM);
        assert_int_equal(vring_pop(&vr, &mem, &c), -EIO);
        assert_true(vr.broken);
}

static void test_avail_count_at_limit(void **state) {
        VringChain c;

        /* Exactly NUM new entries: a full ring, not a lie. */
        set_desc(0, GPA + DATA_OFF, 16, 0, 0);
        for (unsigned i = 0; i < NUM; i++)
                avail_add(0);
        assert_int_equal(vring_avail_count(&vr), NUM);
        assert_false(vr.broken);
        for (unsigned i = 0; i < NUM; i++)
                assert_int_equal(vring_pop(&vr, &mem, &c), 1);
        assert_int_equal(vring_pop(&vr, &mem, &c), 0);
        /* Now NUM + 1 ahead of what we consumed. */
        put16(AVAIL_OFF + 2, (uint16_t) (NUM + NUM + 1));
        assert_int_equal(vring_avail_count(&vr), 0);
        assert_true(vr.broken);
}

static uint8_t big[(1u << 20) + 4096] __attribute__((aligned(16)));
#define BIG_GPA 0x1000000u
#define BIG_UVA (UVA + 0x1000000u)

static void test_chain_bytes_at_limit(void **state) {
        VringChain c;

        assert_int_equal(guest_mem_add(&mem, BIG_GPA, sizeof(big), BIG_UVA, big, NULL, 0), 0);
        /* Two descriptors adding up to exactly the cap. */
        set_desc(0, BIG_GPA, VRING_MAX_CHAIN_BYTES - 100, VRING_DESC_F_NEXT, 1);
        set_desc(1, BIG_GPA, 100, 0, 0);
        avail_add(0);
        assert_int_equal(vring_pop(&vr, &mem, &c), 1);
        assert_int_equal(c.out_len, VRING_MAX_CHAIN_BYTES);
        vring_push(&vr, c.head, 0);

        /* One byte more. */
        set_desc(1, BIG_GPA, 101, 0, 0);
        avail_add(0);
        assert_int_equal(vring_pop(&vr, &mem, &c), -EBADMSG);
        assert_false(vr.broken);
}

static void test_iov_count_at_limit(void **state) {
        /* A ring of 128 so a chain can have more descriptors than VRING_MAX_IOV. */
        enum {
                N = 128,
                D = 0x2000,
                A = 0x3000,
                U = 0x3400,
                DATA = 0x4000
        };
        Vring v;
        VringChain c;

        vring_init(&v);
        v.num = N;
        v.desc_uva = UVA + D;
        v.avail_uva = UVA + A;
        v.used_uva = UVA + U;
        v.addr_set = true;
        assert_int_equal(vring_map(&v, &mem), 0);
        for (unsigned i = 0; i < N; i++) {
                uint8_t *d = ram + D + 16 * i;
                uint64_t a = htole64(GPA + DATA + i);
                uint32_t l = htole32(1);
                uint16_t f = htole16(VRING_DESC_F_NEXT), n = htole16((uint16_t) (i + 1));
                memcpy(d, &a, 8);
                memcpy(d + 8, &l, 4);
                memcpy(d + 12, &f, 2);
                memcpy(d + 14, &n, 2);
        }
        /* Chain from 0 to VRING_MAX_IOV - 1: exactly VRING_MAX_IOV iovecs. */
        {
                uint16_t f = 0;
                memcpy(ram + D + 16 * (VRING_MAX_IOV - 1) + 12, &f, 2);
        }
        put16(A + 4, 0);
        put16(A + 4 + 2, 0);
        put16(A + 2, 2);
        assert_int_equal(vring_pop(&v, &mem, &c), 1);
        assert_int_equal(c.n_out, VRING_MAX_IOV);
        /* Again from 0, now through descriptor VRING_MAX_IOV: one iovec more than fits. */
        {
                uint16_t f = htole16(VRING_DESC_F_NEXT);
                memcpy(ram + D + 16 * (VRING_MAX_IOV - 1) + 12, &f, 2);
                f = 0;
                memcpy(ram + D + 16 * VRING_MAX_IOV + 12, &f, 2);
        }
        assert_int_equal(vring_pop(&v, &mem, &c), -EBADMSG);
        assert_false(v.broken);
}

static void test_map_limits(void **state) {
        Vring v;

        vring_init(&v);
        v.addr_set = true;
        v.num = NUM;
        v.desc_uva = UVA;
        v.avail_uva = UVA + AVAIL_OFF;
        v.used_uva = UVA + USED_OFF;
        assert_int_equal(vring_map(&v, &mem), 0);
        v.num = 0;
        assert_int_equal(vring_map(&v, &mem), -EINVAL);
        v.num = 1;
        assert_int_equal(vring_map(&v, &mem), 0);
        v.num = NUM;

        /* Each table may end exactly at the end of guest memory, not a byte later. */
        v.desc_uva = UVA + sizeof(ram) - 16 * NUM;
        assert_int_equal(vring_map(&v, &mem), 0);
        v.desc_uva += 16;
        assert_int_equal(vring_map(&v, &mem), -EINVAL);
        v.desc_uva = UVA;

        /* avail: flags, idx, ring[NUM], used_event. */
        v.avail_uva = UVA + sizeof(ram) - (4 + 2 * NUM + 2);
        assert_int_equal(vring_map(&v, &mem), 0);
        v.avail_uva += 2;
        assert_int_equal(vring_map(&v, &mem), -EINVAL);
        v.avail_uva = UVA + AVAIL_OFF + 1; /* misaligned */
        assert_int_equal(vring_map(&v, &mem), -EINVAL);
        v.avail_uva = UVA + AVAIL_OFF;

        /* used: flags, idx, ring[NUM] of 8 bytes, avail_event; 4-aligned, so 2 bytes spare. */
        v.used_uva = UVA + sizeof(ram) - (4 + 8 * NUM + 2) - 2;
        assert_int_equal(vring_map(&v, &mem), 0);
        v.used_uva += 4;
        assert_int_equal(vring_map(&v, &mem), -EINVAL);
        v.used_uva = UVA + USED_OFF + 2; /* misaligned */
        assert_int_equal(vring_map(&v, &mem), -EINVAL);
        v.used_uva = UVA + USED_OFF;
        v.desc_uva = UVA + 8;
        assert_int_equal(vring_map(&v, &mem), -EINVAL);
}

static uint8_t huge[16u * VRING_MAX_SIZE + 4 + 2 * VRING_MAX_SIZE + 2 + 8 + 8 * VRING_MAX_SIZE + 8]
        __attribute__((aligned(16)));
#define HUGE_UVA (UVA + 0x10000000u)

static void test_map_max_size(void **state) {
        Vring v;

        assert_int_equal(guest_mem_add(&mem, 0x10000000u, sizeof(huge), HUGE_UVA, huge, NULL, 0), 0);
        vring_init(&v);
        v.addr_set = true;
        v.desc_uva = HUGE_UVA;
        v.avail_uva = HUGE_UVA + 16u * VRING_MAX_SIZE;
        v.used_uva = (v.avail_uva + 4 + 2 * VRING_MAX_SIZE + 2 + 3) & ~(uint64_t) 3;
        v.num = VRING_MAX_SIZE;
        assert_int_equal(vring_map(&v, &mem), 0);
        /* num is 16 bits, so the next power of two cannot reach here; vhost-user refuses it. */
        v.num = VRING_MAX_SIZE / 2;
        assert_int_equal(vring_map(&v, &mem), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_simple_chain, setup),
                cmocka_unit_test_setup(test_readable_then_writable, setup),
                cmocka_unit_test_setup(test_wrong_direction, setup),
                cmocka_unit_test_setup(test_loop, setup),
                cmocka_unit_test_setup(test_self_loop, setup),
                cmocka_unit_test_setup(test_next_out_of_range, setup),
                cmocka_unit_test_setup(test_address_out_of_range, setup),
                cmocka_unit_test_setup(test_address_wraps, setup),
                cmocka_unit_test_setup(test_huge_length, setup),
                cmocka_unit_test_setup(test_total_length_cap, setup),
                cmocka_unit_test_setup(test_indirect_refused, setup),
                cmocka_unit_test_setup(test_bad_head_breaks_ring, setup),
                cmocka_unit_test_setup(test_avail_idx_jump_breaks_ring, setup),
                cmocka_unit_test_setup(test_spans_regions, setup),
                cmocka_unit_test_setup(test_event_idx, setup),
                cmocka_unit_test_setup(test_no_interrupt_flag, setup),
                cmocka_unit_test_setup(test_unpop, setup),
                cmocka_unit_test_setup(test_map_checks, setup),
                cmocka_unit_test(test_guest_mem_overlap),
                cmocka_unit_test_setup(test_next_at_limit, setup),
                cmocka_unit_test_setup(test_chain_of_ring_size, setup),
                cmocka_unit_test_setup(test_head_at_limit, setup),
                cmocka_unit_test_setup(test_avail_count_at_limit, setup),
                cmocka_unit_test_setup(test_chain_bytes_at_limit, setup),
                cmocka_unit_test_setup(test_iov_count_at_limit, setup),
                cmocka_unit_test_setup(test_map_limits, setup),
                cmocka_unit_test_setup(test_map_max_size, setup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
