/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <protobuf-c/protobuf-c.h>

#include "cli-util.h"
#include "macro.h"

/* What one StartContainer call did, as far as its progress events tell. */
typedef struct StartProgress {
        CliProgress bar;
        const char *vm, *container;
        bool create;     /* create the container when missing */
        bool vm_started; /* concierge started the VM for us */
        bool creating;   /* concierge is creating the container */
} StartProgress;

/* A status line on stderr ("Starting VM termina…"). */
void bistro_announce(const char *fmt, ...) _printf_(1, 2);

/* StartContainer (user "root" asks for no user), retried while the VM is busy stopping (bounded).
 * With create, a missing container is created from the default image, which is built first when the
 * image store lacks it; without, it is an error. *ret is the ContainerInfoResponse. Logs its errors. */
int bistro_ensure_container(
        const char *vm,
        const char *container,
        const char *user,
        bool create,
        StartProgress *sp,
        ProtobufCMessage **ret);
