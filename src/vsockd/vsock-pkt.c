/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "unaligned.h"
#include "vsock-pkt.h"

int vsock_hdr_parse(const void *buf, size_t n, VsockHdr *ret) {
        const uint8_t *p = buf;
        VsockHdr h;

        if (!buf || n < VSOCK_HDR_SIZE)
                return -EBADMSG;

        h = (VsockHdr){
                .src_cid = unaligned_read_le64(p + 0),
                .dst_cid = unaligned_read_le64(p + 8),
                .src_port = unaligned_read_le32(p + 16),
                .dst_port = unaligned_read_le32(p + 20),
                .len = unaligned_read_le32(p + 24),
                .type = unaligned_read_le16(p + 28),
                .op = unaligned_read_le16(p + 30),
                .flags = unaligned_read_le32(p + 32),
                .buf_alloc = unaligned_read_le32(p + 36),
                .fwd_cnt = unaligned_read_le32(p + 40),
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
        unaligned_write_le64(out + 0, h->src_cid);
        unaligned_write_le64(out + 8, h->dst_cid);
        unaligned_write_le32(out + 16, h->src_port);
        unaligned_write_le32(out + 20, h->dst_port);
        unaligned_write_le32(out + 24, h->len);
        unaligned_write_le16(out + 28, h->type);
        unaligned_write_le16(out + 30, h->op);
        unaligned_write_le32(out + 32, h->flags);
        unaligned_write_le32(out + 36, h->buf_alloc);
        unaligned_write_le32(out + 40, h->fwd_cnt);
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
