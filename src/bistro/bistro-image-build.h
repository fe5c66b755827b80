/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* bistro's image builder runner: the default container image in the host image store, built with
 * debootstrap (as root) when it is missing. */

#include <stdbool.h>

#define BISTRO_DEFAULT_IMAGE "debian"

/* Whether image (tarball and manifest) is in the host image store. Logs on failure to find the store. */
int bistro_image_present(const char *image, bool *ret);

/* Makes sure the default image is in the store: runs image/containers/build-debian.sh when it is
 * missing (only as root; otherwise says how to build it and fails with -EPERM). Logs. */
int bistro_ensure_image(void);
