/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The Wayland message filter the host's gate puts between a container's waypipe client and the
 * user's compositor (docs/design/sommelier.md, "The host's Wayland filter"). One per Wayland
 * connection. It hides the globals a container must not have, refuses binds to them, and marks
 * the container's windows; every other message passes byte for byte. The client's bytes come
 * from the container and are hostile.
 *
 * File descriptors are not the filter's business: the gate passes them on untouched, in order,
 * with the bytes they came with (or, when those bytes produced no output, with the next bytes it
 * sends that way). That is correct because no message the filter drops, rewrites or injects has a
 * file descriptor argument, and libwayland queues descriptors apart from message boundaries. */

#include <stdbool.h>
#include <stddef.h>

#include "buffer.h"
#include "macro.h"
#include "window-mark.h"

/* Wire limits of libwayland 1.21 (connection.c): a message is at most 4096 bytes. */
#define WAYLAND_MESSAGE_MAX 4096u
/* Client-chosen ids are below this; the compositor's own start here. */
#define WAYLAND_SERVER_ID_START 0xff000000u
/* The most objects one connection may have tracked at once (registries, xdg_wm_base, xdg_surface
 * and xdg_toplevel objects), and the most globals it remembers: far above any real client. */
#define WAYLAND_FILTER_OBJECTS_MAX 4096u
#define WAYLAND_FILTER_GLOBALS_MAX 1024u
/* A container name's limit, PROTO_NAME_MAX (the unit test checks they agree; the filter does
 * not link the protobuf code). */
#define WAYLAND_FILTER_CONTAINER_MAX 64u
/* The most bytes of a client's own title or app_id kept before the mark is added. */
#define WAYLAND_FILTER_TEXT_MAX 1024u

typedef struct WaylandFilter WaylandFilter;

/* container: the container's name (name_is_valid() with WAYLAND_FILTER_CONTAINER_MAX), used in marks.
 * Returns 0, -EINVAL (a bad name or mark) or -ENOMEM. */
int wayland_filter_new(const char *container, WindowMark mark, WaylandFilter **ret);
WaylandFilter *wayland_filter_free(WaylandFilter *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(WaylandFilter *, wayland_filter_free);

/* Bytes read from one side; what must go to the other side is appended to *out. A message split
 * across calls is kept until it is complete. Returns 0, -ENOMEM, or -EPROTO on a protocol
 * violation (by either side): the filter then refuses everything and the gate closes both sides.
 * Neither function logs. */
int wayland_filter_client(WaylandFilter *f, const void *data, size_t size, Buffer *out);
int wayland_filter_server(WaylandFilter *f, const void *data, size_t size, Buffer *out);
/* Why the filter refused the stream (a static string, for the gate's log), or NULL. */
const char *wayland_filter_violation(const WaylandFilter *f);

/* The globals a container may bind, sorted by name; NULL-terminated. For docs and tests. */
extern const char *const wayland_filter_allowed_interfaces[];
bool wayland_filter_interface_allowed(const char *interface);
