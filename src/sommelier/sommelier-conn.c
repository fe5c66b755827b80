/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bistro-ports.h"
#include "container.pb-c.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "sommelier-conn.h"
#include "socket-util.h"
#include "stream-relay.h"
#include "wire-client.h"

/* To the parent, which logs each distinct message once a minute: a client retrying in a loop
 * must not flood the log. */
static int report(int refusal_fd, int error, const char *what) {
        char msg[256];
        int n;

        n = snprintf(
                msg, sizeof(msg), "%s%s%s", what, error < 0 ? ": " : "", error < 0 ? strerror(-error) : "");
        if (n > 0)
                (void) !write(refusal_fd, msg, MIN((size_t) n, sizeof(msg) - 1));
        return error;
}

static int host_connect(void) {
        const char *path = getenv("SOMMELIER_HOST_SOCKET");

        if (path && path[0])
                return unix_connect(path);
        return vsock_connect(VMADDR_CID_HOST, WAYLAND_PORT);
}

int sommelier_conn_serve(int client, const char *token, int refusal_fd) {
        Bistro__Container__WaylandConnectRequest m = BISTRO__CONTAINER__WAYLAND_CONNECT_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *reply = NULL;
        _cleanup_close_ int host = -EBADF;
        uint32_t type;
        int r;

        /* a peer gone mid-write is an EPIPE to end on, not a signal */
        (void) signal(SIGPIPE, SIG_IGN);
        host = host_connect();
        if (host < 0)
                return report(refusal_fd, host, "cannot reach the host's Wayland gate");
        m.token = (char *) token;
        r = wire_call_sync(
                host, BISTRO__MESSAGE_TYPE__WAYLAND_CONNECT_REQUEST, &m.base, BISTRO__MESSAGE_TYPE__EMPTY,
                SOMMELIER_CONNECT_TIMEOUT_MS, &type, &reply);
        if (r < 0 && reply && type == BISTRO__MESSAGE_TYPE__ERROR_REPLY) {
                _cleanup_free_ char *text = NULL;

                (void) wire_error_reply_to_errno((const Bistro__ErrorReply *) reply, &text);
                return report(refusal_fd, r, text ?: "refused");
        }
        if (r < 0)
                return report(refusal_fd, r, "no answer from the host's Wayland gate");
        r = stream_relay(client, host);
        if (r < 0)
                return log_debug_errno(r, "Wayland stream ended: %m");
        return 0;
}
