/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* virtio-vsock packet header (virtio spec 5.10.6): 44 bytes, little endian, packed. */

#include <stddef.h>
#include <stdint.h>

#define VSOCK_HDR_SIZE 44u
#define VSOCK_CID_HOST 2u
/* Largest payload one packet may carry (Linux VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define VSOCK_MAX_PAYLOAD (64u * 1024u)

#define VSOCK_TYPE_STREAM 1u

typedef enum VsockOp {
        VSOCK_OP_INVALID = 0,
        VSOCK_OP_REQUEST = 1,
        VSOCK_OP_RESPONSE = 2,
        VSOCK_OP_RST = 3,
        VSOCK_OP_SHUTDOWN = 4,
        VSOCK_OP_RW = 5,
        VSOCK_OP_CREDIT_UPDATE = 6,
        VSOCK_OP_CREDIT_REQUEST = 7,
        _VSOCK_OP_MAX,
} VsockOp;

#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u
#define VSOCK_SHUTDOWN_MASK 3u

typedef struct VsockHdr {
        uint64_t src_cid;
        uint64_t dst_cid;
        uint32_t src_port;
        uint32_t dst_port;
        uint32_t len;
        uint16_t type;
        uint16_t op;
        uint32_t flags;
        uint32_t buf_alloc;
        uint32_t fwd_cnt;
} VsockHdr;

/* Decodes and validates a header from the guest: STREAM only, op in range, len capped, no payload
 * on anything but RW, flags only on SHUTDOWN. Returns 0 or -EBADMSG/-EPROTONOSUPPORT. */
int vsock_hdr_parse(const void *buf, size_t n, VsockHdr *ret);
void vsock_hdr_encode(const VsockHdr *h, uint8_t out[static VSOCK_HDR_SIZE]);
const char *vsock_op_to_string(uint16_t op);
