/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Bytes both ways between a host TCP client and a guest stream, on sd-event: bounded buffers (a
 * side whose peer's buffer is full is not read: backpressure), half-close (EOF on one side becomes
 * shutdown(SHUT_WR) on the other once its buffer is written) and resets (an error on either side
 * closes both, the TCP client with a RST). */

#include <stddef.h>
#include <systemd/sd-event.h>

#define RELAY_BUFFER_SIZE (256u * 1024u)

typedef struct Relay Relay;

/* Both directions are done or one side failed: the relay is freed after the call. */
typedef void (*RelayDone)(void *userdata);

/* Takes both fds on success. client is the TCP side (reset with SO_LINGER {1, 0}). */
int relay_start(sd_event *e, int client, int guest, RelayDone done, void *userdata, Relay **ret);
/* Closes both fds without calling done. */
Relay *relay_free(Relay *r);
/* Closes the TCP side with a reset, so a client sees the failure (and frees nothing else). */
void tcp_reset_close(int fd);
