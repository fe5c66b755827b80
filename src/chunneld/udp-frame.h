/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* UDP over a ForwardConnect stream (proto/ports.proto): each datagram is a 2-byte little-endian
 * length followed by that many bytes, both ways. */

#include <stddef.h>
#include <stdint.h>

#define UDP_FRAME_HEADER 2u
#define UDP_DATAGRAM_MAX 65535u

/* Writes the header for a datagram of len bytes into out. -EMSGSIZE above UDP_DATAGRAM_MAX. */
int udp_frame_header(size_t len, uint8_t out[static UDP_FRAME_HEADER]);

/* Splits a stream into datagrams: the bytes not yet consumed are kept in buf. */
typedef struct UdpFrameDecoder {
        uint8_t buf[UDP_FRAME_HEADER + UDP_DATAGRAM_MAX];
        size_t len;
} UdpFrameDecoder;

/* Where the next bytes from the stream go and how many fit (never 0). */
uint8_t *udp_frame_decoder_space(UdpFrameDecoder *d, size_t *ret_size);
/* n bytes were written at the space. */
void udp_frame_decoder_advance(UdpFrameDecoder *d, size_t n);
/* The next complete datagram: 1 with *ret_data (pointing into d, valid until the next call to any
 * decoder function) and *ret_len, 0 when more bytes are needed. Call udp_frame_decoder_pop() after
 * using it. */
int udp_frame_decoder_next(const UdpFrameDecoder *d, const uint8_t **ret_data, size_t *ret_len);
void udp_frame_decoder_pop(UdpFrameDecoder *d);
