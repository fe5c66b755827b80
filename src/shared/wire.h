/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The wire layer (docs/design/wire.md): the umbrella header for its three modules. */

#include "wire-client.h" /* the blocking client (wire_send_sync(), wire_call_sync(), ...) */
#include "wire-conn.h"   /* asynchronous connections on sd-event */
#include "wire-server.h" /* listening sockets that hand out WireConns */
