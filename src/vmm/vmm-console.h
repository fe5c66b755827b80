/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The serial console log, bounded. QEMU writes the guest's ttyS0 into a socket; vmm copies it to
 * console.log, and when that file reaches half the cap it becomes console.log.1 (replacing the older
 * one) and a new console.log starts: the two files together never exceed the cap. A guest writing
 * faster than we copy is slowed down by the socket (QEMU's serial waits), nothing is buffered
 * without bound. See docs/design/vmm.md, "The console log". */

#include <stdint.h>
#include <systemd/sd-event.h>

#define CONSOLE_LOG_MAX_DEFAULT (UINT64_C(8) << 20)
#define CONSOLE_LOG_MAX_MIN (UINT64_C(8) << 10)
#define CONSOLE_LOG_ROTATED_SUFFIX ".1"

typedef struct ConsoleLog ConsoleLog;

/* Creates (truncates) path, removes an old path.1, and returns in *ret_qemu_fd the socket end for
 * QEMU's `-chardev socket,fd=`. Does not log. */
int console_log_new(const char *path, uint64_t max_bytes, ConsoleLog **ret, int *ret_qemu_fd);
/* Starts copying from the event loop. */
int console_log_attach(ConsoleLog *c, sd_event *e);
/* Copies whatever is still queued in the socket (QEMU is gone), without blocking. */
void console_log_drain(ConsoleLog *c);
ConsoleLog *console_log_free(ConsoleLog *c);
static inline void console_log_freep(ConsoleLog **c) {
        if (*c)
                console_log_free(*c);
}
