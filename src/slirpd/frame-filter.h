/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What slirpd refuses to hand to libslirp, whatever its configuration. libslirp connects to a
 * guest packet's destination address as it is; only its own virtual addresses (10.0.2.2, fec0::/64)
 * are subject to disable_host_loopback. A guest that writes raw frames could otherwise address the
 * host's loopback directly: 127.0.0.0/8, ::1, the IPv4-mapped ::ffff:127.0.0.0/104, or the
 * unspecified 0.0.0.0 / :: (connect() takes those to mean the local host). Pure, no I/O. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when the Ethernet frame carries an IPv4 or IPv6 packet for one of the addresses above (also
 * 0.0.0.0/8 and the IPv4-compatible ::/96 as a whole). Frames too short to tell are passed: libslirp
 * drops those itself. */
bool frame_targets_host_loopback(const uint8_t *frame, size_t len);
