/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

/* vmm's own QMP connection (a socketpair end QEMU got as a monitor chardev), on sd-event.
 * Commands are sent fire-and-forget; we only need events (SHUTDOWN, POWERDOWN) and to know the
 * session is up. QEMU is jailed but still untrusted: every line goes through the shared QMP parser
 * (qmp-client.h: bounded, valid UTF-8, json-c), and a line that fails it is dropped. */

typedef struct Qmp Qmp;
typedef void (*qmp_event_handler_t)(Qmp *q, const char *event, const char *line, void *userdata);

int qmp_new(sd_event *e, int fd, qmp_event_handler_t on_event, void *userdata, Qmp **ret);
Qmp *qmp_free(Qmp *q);
static inline void qmp_freep(Qmp **q) {
        qmp_free(*q);
}
/* Queues {"execute": cmd}; sent once the greeting and qmp_capabilities are done. */
int qmp_execute(Qmp *q, const char *cmd);
bool qmp_is_ready(const Qmp *q);

/* Parses one QMP line (qmp_json_parse()) and copies the string value of "key" (at the top level,
 * else in its "data" object) into buf: -ENOENT if absent, -EBADMSG if the line is no JSON object or
 * the value is not a non-empty [A-Za-z0-9_-] identifier that fits. Pure. */
int qmp_line_get_string(const char *line, const char *key, char *buf, size_t size);
/* The value of "event". */
int qmp_line_event(const char *line, char *buf, size_t size);
