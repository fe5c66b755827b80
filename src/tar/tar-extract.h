/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A streaming tar extractor (ustar, GNU 'L'/'K' long names and base-256 numbers, pax 'x'/'g')
 * that writes only inside a root directory and shifts owners into a container's id range.
 *
 * Every byte of the stream is treated as hostile: header checksums, numeric fields, sizes and
 * names are checked; every filesystem operation is relative to the root directory fd (the parent
 * is opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), the last component is never
 * followed), so a symlink in the archive can never redirect a write outside the root.
 *
 * Entry types: regular file, hard link, symlink, directory, fifo. Character and block devices
 * are skipped (counted, not created). pax "SCHILY.xattr.user.*" xattrs are applied, other xattrs
 * are skipped. Existing non-directories are unlinked before being replaced (like GNU tar).
 * Directory modes and mtimes are applied at tar_extract_finish(). */

#include <stddef.h>
#include <stdint.h>

#include "idmap-util.h"
#include "macro.h"

typedef struct TarExtractOptions {
        uint32_t id_shift; /* added to every owner uid/gid */
        uint32_t id_count; /* owner ids >= id_count are refused (-EBADMSG) */
        /* When set (both), they replace id_shift: an owner the map does not have is refused. The
         * maps must outlive the extractor. */
        const IdMap *uid_map, *gid_map;
} TarExtractOptions;

typedef struct TarExtract TarExtract;

/* Dups root_fd; never writes outside it. */
int tar_extract_new(int root_fd, const TarExtractOptions *o, TarExtract **ret);

/* Feeds the next n bytes of the stream (any split, down to 1 byte). Returns 0 or a negative
 * errno; an error is sticky (every later call returns it). */
int tar_extract_feed(TarExtract *t, const void *buf, size_t n);

/* End of stream: -EBADMSG when it ends inside an entry; applies deferred directory modes and
 * mtimes. Returns 0 or a negative errno. */
int tar_extract_finish(TarExtract *t);

/* A human message for the last error ("etc/passwd: ..."); never NULL ("" without error). */
const char *tar_extract_error(const TarExtract *t);

/* Entries seen so far (all types, including skipped devices). */
uint64_t tar_extract_entries(const TarExtract *t);

/* Entries skipped (devices, unsupported types). */
uint64_t tar_extract_skipped(const TarExtract *t);

TarExtract *tar_extract_free(TarExtract *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(TarExtract *, tar_extract_free);
