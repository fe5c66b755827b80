/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Writes the seed corpora of the wire fuzzers: one valid frame per message type, a stream of all
 * of them, and a few invalid streams. Usage: gen-corpus CORPUS_ROOT (test/fuzz/corpus). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "frame.h"
#include "macro.h"
#include "proto-samples.h"

static int write_blob(const char *root, const char *dir, const char *name, const uint8_t *p, size_t n) {
        _cleanup_free_ char *d = NULL, *path = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (asprintf(&d, "%s/%s", root, dir) < 0 || asprintf(&path, "%s/%s", d, name) < 0)
                return -ENOMEM;
        (void) mkdir_p(d, 0755);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        return loop_write(fd, p, n);
}

static uint32_t first_kind(uint32_t kinds) {
        return kinds & -kinds;
}

/* Appends the frame of table[i]'s sample to *stream; returns its size. */
static size_t sample_frame(const MessageTypeInfo *info, uint64_t id, uint8_t **ret) {
        _cleanup_free_ uint8_t *payload = NULL;
        size_t n;
        uint8_t *buf;

        if (proto_sample_pack(info->type, &payload, &n) < 0) {
                fprintf(stderr, "no sample for %s\n", info->name);
                exit(1);
        }
        buf = malloc(FRAME_HEADER_SIZE + n + 1);
        if (!buf)
                exit(1);
        frame_header_pack(
                &(FrameHeader){ .type = info->type,
                                .flags = first_kind(info->kinds),
                                .id = id,
                                .length = (uint32_t) n },
                buf);
        memcpy(buf + FRAME_HEADER_SIZE, payload, n);
        *ret = buf;
        return FRAME_HEADER_SIZE + n;
}

static void gen_file(
        const char *root, const char *dir, const MessageTypeInfo *table, size_t count, bool extras) {
        _cleanup_free_ uint8_t *stream = NULL;
        size_t stream_len = 0;

        for (size_t i = 0; i < count; i++) {
                _cleanup_free_ uint8_t *f = NULL;
                size_t n = sample_frame(&table[i], i + 1, &f);

                if (write_blob(root, dir, table[i].name, f, n) < 0)
                        exit(1);
                stream = realloc(stream, stream_len + n);
                memcpy(stream + stream_len, f, n);
                stream_len += n;

                if (i == 0 && extras) {
                        /* Field 1 as a length-delimited string of invalid UTF-8. */
                        static const uint8_t bad_field[] = { 0x0A, 0x02, 0xFF, 0xFE };
                        _cleanup_free_ uint8_t *g = malloc(n + sizeof(bad_field));
                        FrameHeader h;

                        memcpy(g, f, n);
                        memcpy(g + n, bad_field, sizeof(bad_field));
                        (void) frame_header_parse(g, &h);
                        h.length += sizeof(bad_field);
                        frame_header_pack(&h, g);
                        write_blob(root, dir, "invalid-field", g, n + sizeof(bad_field));
                        write_blob(root, dir, "invalid-truncated", f, n - 1);
                        f[0] ^= 0xFF;
                        write_blob(root, dir, "invalid-magic", f, n);
                        f[0] ^= 0xFF;
                        f[20] = f[21] = f[22] = f[23] = 0xFF;
                        write_blob(root, dir, "invalid-oversized", f, FRAME_HEADER_SIZE);
                }
        }
        if (extras)
                write_blob(root, dir, "stream-all", stream, stream_len);
}

static void gen_frame(const char *root) {
        const MessageTypeInfo *picks[] = { &concierge_message_types[0], &maitred_message_types[0],
                                           &vsh_message_types[2], &container_message_types[3],
                                           &common_message_types[0] };

        for (size_t i = 0; i < ELEMENTSOF(picks); i++) {
                _cleanup_free_ uint8_t *f = NULL, *g = NULL;
                size_t n = sample_frame(picks[i], 100 + i, &f);
                char name[64];

                /* First byte: chunk size selector of fuzz-frame. */
                g = malloc(n + 1);
                g[0] = (uint8_t) (i * 7);
                memcpy(g + 1, f, n);
                snprintf(name, sizeof(name), "valid-%s", picks[i]->name);
                write_blob(root, "fuzz-frame", name, g, n + 1);
                if (i == 0) {
                        write_blob(root, "fuzz-frame", "invalid-truncated", g, n);
                        g[5] = 0xEE; /* type */
                        write_blob(root, "fuzz-frame", "invalid-type", g, n + 1);
                        g[5] = f[4];
                        g[17] = 0x03; /* flags: two kinds */
                        write_blob(root, "fuzz-frame", "invalid-flags", g, n + 1);
                        g[17] = f[16];
                        g[21] = g[22] = g[23] = g[24] = 0xFF;
                        write_blob(root, "fuzz-frame", "invalid-oversized", g, FRAME_HEADER_SIZE + 1);
                }
        }
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS_ROOT\n", argv[0]);
                return 2;
        }
        static const struct {
                const char *dir;
                const MessageTypeInfo *table;
                const size_t *count;
        } files[] = {
                { "fuzz-wire-concierge", concierge_message_types, &concierge_message_types_count },
                { "fuzz-wire-maitred", maitred_message_types, &maitred_message_types_count },
                { "fuzz-wire-vsh", vsh_message_types, &vsh_message_types_count },
                { "fuzz-wire-container", container_message_types, &container_message_types_count },
                { "fuzz-wire-tremplin", tremplin_message_types, &tremplin_message_types_count },
                { "fuzz-wire-ports", ports_message_types, &ports_message_types_count },
                { "fuzz-wire-cicerone", cicerone_message_types, &cicerone_message_types_count },
        };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                gen_file(argv[1], files[i].dir, files[i].table, *files[i].count, true);
                /* Every connection may carry ErrorReply and Empty. */
                gen_file(argv[1], files[i].dir, common_message_types, common_message_types_count, false);
        }
        gen_frame(argv[1]);
        return 0;
}
