/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The container's id map (docs/design/containers.md, "Ids and shares"). Every container id i is the
 * VM's slot_id_base + i, except the default user's uid and gid (normally 1000), which are the VM's
 * SHARE_OWNER_ID: virtiofsd presents the host user's files as that id, so the default user owns
 * them in every container, as in Crostini. Which container ids pass through is in the meta
 * (idmap=U:G); a container of an older tremplin has none until its next start migrates it. */

#include <stdio.h>
#include <sys/types.h>

#include "idmap-util.h"
#include "tremplin-meta.h"

#define SHARE_OWNER_ID 1000u

/* The uid and gid maps of the container (legacy: one shifted range when the meta has no idmap). */
void container_idmaps(const ContainerMeta *m, IdMap *ret_uid, IdMap *ret_gid);
/* The lxc.idmap lines of the container's maps. */
int lxc_idmap_write(FILE *f, const ContainerMeta *m);

typedef struct RemapStats {
        unsigned long long entries, changed, skipped; /* skipped: too deep, or vanished */
} RemapStats;

/* Changes every owner in the tree below rootfs_fd (the rootfs itself included) from the VM id the
 * from map gives a container id to the one the to map gives it; owners outside the from maps are
 * left alone. Never follows a symlink (lchown), keeps setuid/setgid bits and file capabilities
 * (chown clears them). Not idempotent in general: run it on a stopped container, record the new
 * map when it returned 0. From a single shifted range to a map with a passthrough it is (the
 * passthrough target is outside the shifted range), so an interrupted migration is redone. */
int rootfs_remap_ids(
        int rootfs_fd,
        const IdMap *from_uid,
        const IdMap *from_gid,
        const IdMap *to_uid,
        const IdMap *to_gid,
        RemapStats *ret_stats);
