/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "vsock-pkt.h"

static uint64_t get64(const uint8_t *p) {
        uint64_t v;
        memcpy(&v, p, sizeof(v));
        return le64toh(v);
}

static uint32_t get32(const uint8_t *p) {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return le32toh(v);
}

static uint16_t get16(const uint8_t *p) {
        uint16_t v;
        memcpy(&v, p, sizeof(v));
        return le16toh(v);
}

static void put64(uint8_t *p, uint64_t v) {
        v = htole64(v);
        memcpy(p, &v, sizeof(v));
}

static void put32(uint8_t *p, uint32_t v) {
        v = htole32(v);
        memcpy(p, &v, sizeof(v));
}

static void put16(uint8_t *p, uint16_t v) {
        v = htole16(v);
        memcpy(p, &v, sizeof(v));
}

int vsock_hdr_parse(const void *buf, size_t n, VsockHdr *ret) {
        const uint8_t *p = buf;
        VsockHdr h;

        if (!buf || n < VSOCK_HDR_SIZE)
                return -EBADMSG;

        h = (VsockHdr){
                .src_cid = get64(p + 0),
                .dst_cid = get64(p + 8),
                .src_port = get32(p + 16),
                .dst_port = get32(p + 20),
                .len = get32(p + 24),
                .type = get16(p + 28),
                .op = get16(p + 30),
                .flags = get32(p + 32),
                .buf_alloc = get32(p + 36),
                .fwd_cnt = get32(p + 40),
        };

        if (h.type != VSOCK_TYPE_STREAM)
                return -EPROTONOSUPPORT;
        if (h.op == VSOCK_OP_INVALID || h.op >= _VSOCK_OP_MAX)
                return -EBADMSG;
        if (h.len > VSOCK_MAX_PAYLOAD)
                return -EBADMSG;
        if (h.op != VSOCK_OP_RW && h.len != 0)
                return -EBADMSG;
        if (h.op == VSOCK_OP_SHUTDOWN && (h.flags & ~VSOCK_SHUTDOWN_MASK) != 0)
                return -EBADMSG;

        *ret = h;
        return 0;
}

void vsock_hdr_encode(const VsockHdr *h, uint8_t out[static VSOCK_HDR_SIZE]) {
        put64(out + 0, h->src_cid);
        put64(out + 8, h->dst_cid);
        put32(out + 16, h->src_port);
        put32(out + 20, h->dst_port);
        put32(out + 24, h->len);
        put16(out + 28, h->type);
        put16(out + 30, h->op);
        put32(out + 32, h->flags);
        put32(out + 36, h->buf_alloc);
        put32(out + 40, h->fwd_cnt);
}

const char *vsock_op_to_string(uint16_t op) {
        static const char *const names[_VSOCK_OP_MAX] = {
                [VSOCK_OP_INVALID] = "invalid",
                [VSOCK_OP_REQUEST] = "request",
                [VSOCK_OP_RESPONSE] = "response",
                [VSOCK_OP_RST] = "rst",
                [VSOCK_OP_SHUTDOWN] = "shutdown",
                [VSOCK_OP_RW] = "rw",
                [VSOCK_OP_CREDIT_UPDATE] = "credit-update",
                [VSOCK_OP_CREDIT_REQUEST] = "credit-request",
        };
        return op < _VSOCK_OP_MAX ? names[op] : "unknown";
}
