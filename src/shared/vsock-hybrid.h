/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Host side of a hybrid vsock (docs/design/vsockd.md): connects to the VM's unix socket
 * (.../vms/VM/vsock.sock), sends "CONNECT <port>\n" and waits for "OK <host port>\n". The bytes
 * after that line belong to the guest's stream. Does not log.
 *
 * Returns the connected (blocking) fd, or:
 *   -ENOENT, -ECONNREFUSED  nobody listens on path (the VM is not running)
 *   -ECONNABORTED           the VM is up but nothing listens on the guest port ("ERR ...")
 *   -ETIMEDOUT              no answer within timeout_ms
 *   -EBADMSG                an answer that is neither "OK" nor "ERR"
 *   other -errno            from socket(), connect(), read(), write() */
#include <stdint.h>

int vsock_hybrid_connect(const char *path, uint32_t port, int timeout_ms);
