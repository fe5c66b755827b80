/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* vsock ports, one purpose each, shared by the host and the guest code (Crostini's numbers where it
 * has one, see docs/design/wire.md). A guest connect to host port P reaches the unix socket
 * "<vm socket>_P" on the host (hybrid vsock). Header-only and in src/basic so that libproto's
 * validators (which cannot include src/shared) use the same numbers. */

#define MAITRED_PORT 8888u       /* guest: maitred's RPCs */
#define MAITRED_READY_PORT 7777u /* host: maitred reports VmReady here */
#define TREMPLIN_PORT 8890u      /* guest: tremplin, containers */
#define CICERONE_PORT 8889u      /* host: cicerone, garcon's peer */
#define WAYLAND_PORT 7100u       /* host: the Wayland gate, sommelier's peer (one stream per client) */
#define VSHD_PORT 9001u          /* guest: vshd, shells */
#define PORT_LISTENER_PORT 9002u /* guest: port-listener, container ports and forwarded connections */
#define GARCON_PORT_MIN 10000u   /* guest: garcon's listener, one per container */
#define GARCON_PORT_MAX 19999u

/* The guest's btrfs stateful disk, mounted by maitred, used by tremplin. */
#define STATEFUL_MOUNT "/mnt/stateful"
/* LXC's path on it: container NAME lives in STATEFUL_LXC_PATH/NAME (tremplin, vshd). */
#define STATEFUL_LXC_PATH STATEFUL_MOUNT "/lxc"
/* The host folders shared into the VM: the virtio-fs tag, mounted by concierge (maitred's Mount)
 * at SHARES_MOUNT; share NAME is SHARES_MOUNT/NAME, bound by tremplin into containers at the same
 * path (docs/design/containers.md, "Shares"). */
#define SHARES_TAG "bistro-shares"
#define SHARES_MOUNT "/mnt/shared"
