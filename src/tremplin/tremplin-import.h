/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* CreateContainer: a new container from the image stream (IMAGE_CHUNK events with the request's
 * id, read from fd), extracted into a fresh rootfs subvolume with the container's id shift. */

#include <stdint.h>

#include "message-type.h"

int container_create(
        int fd,
        uint64_t req_id,
        const Bistro__Tremplin__CreateContainerRequest *req,
        Bistro__Tremplin__ContainerInfo *info,
        char **reterr_message);
