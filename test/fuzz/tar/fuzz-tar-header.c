/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tar header and pax parsers alone (no disk): tremplin runs them on a tarball from the host,
 * which must be treated as hostile. The first 512 bytes are a header block, everything (and the
 * bytes after the block) is also parsed as a pax extended header. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tar-header.h"

static void check_pax(const uint8_t *data, size_t size) {
        TarPax pax = {};
        const char *msg = NULL;
        int r = tar_pax_parse(data, size, &pax, &msg);

        if (r == -EBADMSG && !msg)
                abort();
        if (r >= 0) {
                if (pax.path && (strlen(pax.path) == 0 || strlen(pax.path) > TAR_PATH_MAX))
                        abort();
                if (pax.linkpath && (strlen(pax.linkpath) == 0 || strlen(pax.linkpath) > TAR_PATH_MAX))
                        abort();
                if (pax.n_xattrs > TAR_PAX_XATTR_MAX || pax.mtime_nsec >= 1000000000u)
                        abort();
                for (size_t i = 0; i < pax.n_xattrs; i++)
                        if (strlen(pax.xattrs[i].name) == 0 || pax.xattrs[i].size > TAR_XATTR_VALUE_MAX)
                                abort();
        }
        tar_pax_done(&pax);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size >= TAR_BLOCK_SIZE) {
                TarHeader h;
                const char *msg = NULL;
                int r = tar_header_parse(data, &h, &msg);

                if (r == TAR_HEADER_ENTRY) {
                        if (strlen(h.name) > 256 || strlen(h.linkname) > 100 || h.mode > 07777 ||
                            h.typeflag == 0)
                                abort();
                        if (h.size > (uint64_t) INT64_MAX || h.uid > (uint64_t) INT64_MAX)
                                abort();
                } else if (r < 0 && !msg)
                        abort();
                check_pax(data + TAR_BLOCK_SIZE, size - TAR_BLOCK_SIZE);
        }
        check_pax(data, size);
        return 0;
}
