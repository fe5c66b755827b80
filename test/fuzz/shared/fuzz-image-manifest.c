/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The image manifest, signature and public key parsers: the host runs them on files anyone who
 * can write the image directory controls. */

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "image-manifest.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *err = NULL, *cmdline = NULL;
        ImageManifest m;
        ImageSignature sig;
        ImageKey key;

        if (image_manifest_parse((const char *) data, size, &m, &err) >= 0) {
                if (image_manifest_kernel_cmdline(&m, &cmdline) < 0)
                        abort();
                if (strlen(m.image_version) == 0 || m.verity_hash_offset != m.verity_data_blocks * 4096)
                        abort();
        }
        free(err);
        err = NULL;
        (void) image_signature_parse((const char *) data, size, &sig, &err);
        free(err);
        err = NULL;
        (void) image_key_parse((const char *) data, size, &key, &err);
        return 0;
}
