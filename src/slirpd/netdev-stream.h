/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* QEMU's stream netdev (-netdev stream, QEMU >= 7.2): every Ethernet frame is a 4-byte big-endian
 * length followed by the frame, both ways. Pure: no I/O, so that unit tests and fuzzers use the real
 * code. The bytes from QEMU are the guest's: hostile. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETDEV_STREAM_HEADER 4u
/* The largest frame either way: an Ethernet header (14) and an 802.1Q tag (4) around an MTU of 1500.
 * The stream netdev has no vnet header, so QEMU's virtio-net offers the guest no TSO/GSO/UFO and
 * QEMU sends every frame as the guest queued it: with eth0's MTU at 1500 nothing larger comes. */
#define NETDEV_FRAME_MAX 1518u
/* Frames queued towards QEMU while it does not read (the guest is slow or stopped): beyond this, whole
 * frames are dropped, as a full NIC queue drops them, and TCP retransmits. */
#define NETDEV_OUTBOX_MAX (256u * 1024u)

/* Writes the header for a frame of len bytes. -EMSGSIZE for 0 or above NETDEV_FRAME_MAX. */
int netdev_stream_header(size_t len, uint8_t out[static NETDEV_STREAM_HEADER]);

typedef struct NetdevStreamReader {
        uint8_t buf[NETDEV_STREAM_HEADER + NETDEV_FRAME_MAX]; /* a frame that came in pieces */
        size_t len;                                           /* bytes of it in buf */
        bool broken;                                          /* a bad length was seen: no way back */
        uint32_t bad_length;                                  /* that length, for the message */
} NetdevStreamReader;

/* Called for each complete frame; frame is valid only during the call. A negative return stops the
 * reader and is passed on. */
typedef int (*NetdevFrameFn)(const uint8_t *frame, size_t len, void *userdata);

/* Takes the next n bytes of the stream, in chunks of any size, and calls fn for every frame they
 * complete, in order (frames that lie whole in data are not copied). Returns 0; -EBADMSG when a header
 * announces 0 bytes or more than NETDEV_FRAME_MAX: the stream cannot be resynchronized, so every later
 * call fails the same way (r->bad_length says what came); or fn's negative return, after which the
 * reader must not be fed again. */
int netdev_stream_feed(
        NetdevStreamReader *r, const uint8_t *data, size_t n, NetdevFrameFn fn, void *userdata);

/* Frames waiting to go to QEMU, already framed. Never holds part of a frame that was not accepted
 * whole, so a write of the pending bytes can stop anywhere without desynchronizing the stream. */
typedef struct NetdevStreamOutbox {
        uint8_t buf[NETDEV_OUTBOX_MAX];
        size_t start; /* first pending byte */
        size_t len;   /* pending bytes */
} NetdevStreamOutbox;

/* Appends the header and the frame. -EMSGSIZE for a bad length, -ENOBUFS when it does not fit (the
 * frame is dropped whole); 0 otherwise. */
int netdev_stream_outbox_queue(NetdevStreamOutbox *o, const uint8_t *frame, size_t len);
/* The pending bytes (*ret_data valid until the next call that changes o); 0 when there are none. */
size_t netdev_stream_outbox_pending(const NetdevStreamOutbox *o, const uint8_t **ret_data);
/* n of the pending bytes were written. */
void netdev_stream_outbox_consume(NetdevStreamOutbox *o, size_t n);
