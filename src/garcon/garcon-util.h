/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What both of garcon's modes need: the connection to cicerone, the URL check (the token is in
 * container-token.h). Nothing here logs. */

#include <stdbool.h>
#include <stdint.h>

#include "message-type.h"

/* A non-blocking stream socket connecting to cicerone: AF_VSOCK CID 2 (the host) port 8889, or
 * the unix socket $GARCON_HOST_SOCKET (for tests). The connect may be in progress (poll for
 * POLLOUT, then SO_ERROR). Returns the fd or -errno. */
int garcon_host_connect_start(void);

/* The same, finished within timeout_ms; the fd stays non-blocking (wire_call_sync() polls). */
int garcon_host_connect(int timeout_ms);

/* 1 when url may go to the host, with *ret what to send: an http, https or mailto link (bytes <= 0x20
 * and >= 0x7f percent-encoded), or a file in a share (a path or a file:// URL, resolved here: a
 * share URL, share-url.h); 0 when neither; -E2BIG when too long; -ENOENT etc. when the file cannot be
 * resolved; -ENOMEM. */
int garcon_url_prepare(const char *url, char **ret);
