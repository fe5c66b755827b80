/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Descriptor chains over guest memory the fuzzer writes: loops, out-of-range addresses, huge
 * lengths, wrong directions, broken indexes. Input: 4 config bytes, then the memory image. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "guest-mem.h"
#include "vring.h"

#define GPA 0x40000u
#define UVA 0x7f1234560000ull
#define RAM_SIZE (64u * 1024u)
#define RAM2_SIZE 4096u

static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096)));
static uint8_t ram2[RAM2_SIZE] __attribute__((aligned(4096)));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        GuestMem mem = {};
        Vring vr;
        VringChain c;
        uint8_t cfg[4] = {};
        unsigned popped = 0;

        log_set_target(LOG_TARGET_NULL); /* guest-triggered warnings are expected here */

        if (size < sizeof(cfg))
                return 0;
        memcpy(cfg, data, sizeof(cfg));
        data += sizeof(cfg);
        size -= sizeof(cfg);

        memset(ram, 0, sizeof(ram));
        memcpy(ram, data, size < sizeof(ram) ? size : sizeof(ram));
        if (size > sizeof(ram))
                memcpy(ram2, data + sizeof(ram),
                       size - sizeof(ram) < sizeof(ram2) ? size - sizeof(ram) : sizeof(ram2));

        (void) guest_mem_add(&mem, GPA, sizeof(ram), UVA, ram, NULL, 0);
        /* A second region right behind the first, so chains may straddle the boundary. */
        (void) guest_mem_add(&mem, GPA + sizeof(ram), sizeof(ram2), UVA + 0x100000, ram2, NULL, 0);

        vring_init(&vr);
        vr.num = (uint16_t) (1u << (cfg[0] % 9)); /* 1..256 */
        vr.event_idx = cfg[1] & 1;
        vr.enabled = true;
        vr.addr_set = true;
        /* Ring placement from the config, sometimes misaligned or out of range on purpose. */
        vr.desc_uva = UVA + (uint64_t) (cfg[2] & 0x7) * 0x1000 + ((cfg[1] & 2) ? 8 : 0);
        vr.avail_uva = UVA + 0x8000 + (uint64_t) (cfg[3] & 0xf) * 2;
        vr.used_uva = UVA + 0xa000 + ((cfg[3] & 0x80) ? 0x6000 : 0);
        if (vring_map(&vr, &mem) < 0)
                return 0;
        vr.last_avail_idx = (uint16_t) (cfg[2] >> 3);

        for (unsigned i = 0; i < 4096; i++) {
                int r = vring_pop(&vr, &mem, &c);

                if (r == -EBADMSG)
                        continue;
                if (r <= 0)
                        break;
                /* Touch every byte we were given, as the device would. */
                for (unsigned k = 0; k < c.n_out; k++)
                        if (c.out[k].iov_len)
                                ((volatile uint8_t *) c.out[k].iov_base)[c.out[k].iov_len - 1];
                for (unsigned k = 0; k < c.n_in; k++)
                        if (c.in[k].iov_len)
                                memset(c.in[k].iov_base, 0xaa, c.in[k].iov_len);
                popped++;
                if ((cfg[1] & 4) && popped % 3 == 0) {
                        vring_unpop(&vr, 1);
                        continue;
                }
                vring_push(&vr, c.head, (uint32_t) c.in_len);
                if (popped % 7 == 0)
                        vring_flush(&vr);
        }
        vring_flush(&vr);
        return 0;
}
