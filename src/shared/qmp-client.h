/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* QMP, QEMU's JSON monitor protocol, on json-c (docs/design/qmp.md). QEMU runs the guest and is
 * jailed, but what it sends is still untrusted: every line is bounded (QMP_LINE_MAX), must be valid
 * UTF-8 without NUL and one JSON object of a known shape, and is parsed by a real parser, never
 * matched as text. Three layers:
 *
 * - QmpReader splits a byte stream into lines (for the blocking client here and vmm's
 *   asynchronous one, src/vmm/vmm-qmp.c);
 * - qmp_json_parse() and qmp_message_parse() turn one line into a json-c object and classify it:
 *   greeting, return, error or event;
 * - QmpClient is a blocking client: handshake, then one command at a time with a deadline.
 *
 * Nothing here logs above debug. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "json-util.h"

/* The longest line accepted, without its "\n" (QEMU's query-* answers are far shorter). */
#define QMP_LINE_MAX (1024u * 1024u)
/* Event and error class names: [A-Za-z0-9_-], 1..QMP_NAME_MAX bytes. */
#define QMP_NAME_MAX 64u

typedef struct QmpReader {
        char *buf; /* QMP_LINE_MAX + 1 bytes, allocated on first use */
        size_t start, len;
        bool skipping; /* inside a line that was too long: dropping it up to its newline */
} QmpReader;

#define QMP_READER_INIT ((QmpReader){})

void qmp_reader_done(QmpReader *r);
/* Where to put the next bytes read from the peer (call qmp_reader_next() until it returns 0
 * first, so there is always room), then qmp_reader_advance() by how many arrived. */
int qmp_reader_space(QmpReader *r, char **ret_ptr, size_t *ret_size);
void qmp_reader_advance(QmpReader *r, size_t n);
/* The next complete line: returns 1 with *ret_line (NUL-terminated in place, "\r\n" or "\n"
 * stripped, valid until the next call) and *ret_len; 0 when more bytes are needed; -EMSGSIZE
 * once for a line longer than QMP_LINE_MAX, whose rest is then dropped up to its newline. */
int qmp_reader_next(QmpReader *r, char **ret_line, size_t *ret_len);

/* One line as a JSON object: json_parse_object() with QMP_LINE_MAX. */
int qmp_json_parse(const char *line, size_t len, json_object **ret);

typedef enum QmpKind {
        QMP_KIND_GREETING, /* {"QMP": {...}} */
        QMP_KIND_RETURN,   /* {"return": ..., "id": ...} */
        QMP_KIND_ERROR,    /* {"error": {"class": ..., "desc": ...}, "id": ...} */
        QMP_KIND_EVENT,    /* {"event": ..., "data": {...}, "timestamp": {...}} */
} QmpKind;

typedef struct QmpMessage {
        QmpKind kind;
        json_object *root; /* owned */
        /* Borrowed from root: the greeting's "QMP" object, the "return" value, or the event's
         * "data" (NULL when it has none). */
        json_object *value;
        json_object *id;  /* the "id" of a return or error, NULL when absent */
        const char *name; /* the event name or the error class: a QMP_NAME_MAX identifier */
        const char *desc; /* the error's description: any JSON string (not sanitised) */
} QmpMessage;

/* Parses and classifies one line; -EBADMSG for anything else than the four kinds, with the fields
 * above of the right JSON types. Call qmp_message_done() after success. */
int qmp_message_parse(const char *line, size_t len, QmpMessage *ret);
void qmp_message_done(QmpMessage *m);

/* The errno for a QMP error class: CommandNotFound -EOPNOTSUPP, DeviceNotFound and
 * DeviceNotActive -ENODEV, KVMMissingCap -EOPNOTSUPP, GenericError and anything else -EIO. */
int qmp_error_class_to_errno(const char *error_class);

/* Blocking client on a connected stream socket (timeout_ms < 0: no timeout). */
typedef struct QmpClient QmpClient;

/* Takes fd (also on failure), reads the greeting and negotiates capabilities. */
int qmp_client_new(int fd, int timeout_ms, QmpClient **ret);
/* Connects to a QMP unix socket and does the same. */
int qmp_client_connect(const char *path, int timeout_ms, QmpClient **ret);
QmpClient *qmp_client_free(QmpClient *c);
static inline void qmp_client_freep(QmpClient **c) {
        qmp_client_free(*c);
}

/* Runs command with arguments (a JSON object or NULL; borrowed) and waits for its answer,
 * skipping events. The deadline is fixed when the call starts: events do not extend it. Returns 0
 * and, when ret_return is given, the "return" value (a new reference, json_object_put()); or, on
 * a QMP error, qmp_error_class_to_errno() of its class and, when reterr_message is given, a
 * malloc'd "Class: desc" text that passes proto_text_ok() in *reterr_message (replacing what it
 * held, as set_error_message() does; NULL on OOM). *reterr_message is left alone on success and
 * on the other failures: -ETIMEDOUT, -ECONNRESET (EOF), -EBADMSG (an invalid line, a second
 * greeting, an answer to another id), -EMSGSIZE (a line over QMP_LINE_MAX), -EINVAL (arguments
 * not an object). */
int qmp_client_execute(
        QmpClient *c,
        const char *command,
        json_object *arguments,
        int timeout_ms,
        json_object **ret_return,
        char **reterr_message);
