/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirent-util.h"
#include "fd-util.h"
#include "macro.h"
#include "log.h"
#include "string-util.h"
#include "tar-extract.h"
#include "time-util.h"
#include "tremplin-container.h"
#include "tremplin-error.h"
#include "tremplin-idmap.h"
#include "tremplin-import.h"
#include "tremplin-layout.h"
#include "tremplin-lock.h"
#include "tremplin-lxc-config.h"
#include "tremplin-meta.h"
#include "tremplin-subvol.h"
#include "tremplin-user.h"
#include "wire.h"

#define CHUNK_TIMEOUT_MS 60000
#define IMAGE_BYTES_MIN (UINT64_C(16) << 20) /* bound when unpacked_size is tiny */
#define IMAGE_BYTES_MAX (UINT64_C(64) << 30) /* bound when it is unknown (0) */
#define CREATE_TIME_MAX_MS (3000u * 1000u)

/* Slots of every container, including creations in progress. */
static unsigned pick_slot(void) {
        bool used[CONTAINERS_MAX + 1] = {};
        _cleanup_closedir_ DIR *d = opendir(STATEFUL_LXC_PATH);

        if (d) {
                FOREACH_DIRENT(de, d) {
                        ContainerMeta m;

                        if (meta_read_at(dirfd(d), de->d_name, &m) >= 0)
                                used[m.slot] = true;
                }
        }
        for (unsigned s = 1; s <= CONTAINERS_MAX; s++)
                if (!used[s])
                        return s;
        return 0;
}

/* Reads the IMAGE_CHUNK stream into the extractor until eof, within bound bytes and the
 * deadline. */
static int receive_image(
        int fd,
        uint64_t req_id,
        TarExtract *t,
        uint64_t bound,
        uint64_t announced,
        uint64_t *ret_bytes,
        char **reterr_message) {
        uint64_t got = 0;
        /* Time: 2 minutes plus 1 s per MiB, at most CREATE_TIME_MAX_MS. */
        uint64_t deadline = now_msec(CLOCK_MONOTONIC) + MIN(120000u + bound / 2 / 1024u, CREATE_TIME_MAX_MS);
        int r;

        for (;;) {
                _cleanup_message_ ProtobufCMessage *msg = NULL;
                const Bistro__Tremplin__ImageChunk *chunk;
                FrameHeader h;
                uint64_t now = now_msec(CLOCK_MONOTONIC);

                if (now >= deadline)
                        return set_error_message(
                                reterr_message, -ETIMEDOUT, "the image did not arrive in time");
                r = wire_recv_sync(fd, (int) MIN(deadline - now, (uint64_t) CHUNK_TIMEOUT_MS), &h, &msg);
                if (r < 0)
                        return set_error_message(reterr_message, r, "receiving the image: %s", strerror(-r));
                if (h.type != BISTRO__MESSAGE_TYPE__TREMPLIN_IMAGE_CHUNK || h.id != req_id)
                        return set_error_message(
                                reterr_message, -EBADMSG, "unexpected frame in the image stream");
                chunk = (const Bistro__Tremplin__ImageChunk *) msg;
                got += chunk->data.len;
                if (got > bound)
                        return set_error_message(
                                reterr_message, -EFBIG, "the image is larger than announced (%llu bytes)",
                                (unsigned long long) announced);
                if (chunk->data.len > 0) {
                        r = tar_extract_feed(t, chunk->data.data, chunk->data.len);
                        if (r < 0)
                                return set_error_message(
                                        reterr_message, r, "bad image: %s", tar_extract_error(t));
                }
                if (chunk->eof)
                        break;
        }
        r = tar_extract_finish(t);
        if (r < 0)
                return set_error_message(reterr_message, r, "bad image: %s", tar_extract_error(t));
        *ret_bytes = got;
        return 0;
}

int container_create(
        int fd,
        uint64_t req_id,
        const Bistro__Tremplin__CreateContainerRequest *req,
        Bistro__Tremplin__ContainerInfo *info,
        char **reterr_message) {
        char newdir[PATH_MAX], final[PATH_MAX], newname[PROTO_NAME_MAX + 8];
        _cleanup_close_ int lock = -EBADF, lfd = -EBADF, dfd = -EBADF, rootfs = -EBADF;
        _cleanup_(tar_extract_freep) TarExtract *t = NULL;
        ContainerMeta m = {};
        IdMap uid_map, gid_map;
        uint64_t bound, got = 0;
        struct stat st;
        int r;

        (void) snprintf(newname, sizeof(newname), ".new-%s", req->name);
        (void) snprintf(newdir, sizeof(newdir), STATEFUL_LXC_PATH "/%s", newname);
        (void) snprintf(final, sizeof(final), STATEFUL_LXC_PATH "/%s", req->name);
        strscpy(m.image, req->image, sizeof(m.image));
        /* A new container gets the default user's passthrough at once (tremplin-idmap.h). */
        m.idmap_uid = m.idmap_gid = USER_UID_DEFAULT;

        r = check_stateful(reterr_message);
        if (r < 0)
                return r;
        containers_cleanup_leftovers();
        lock = lock_lxc();
        if (lock < 0)
                return set_error_message(
                        reterr_message, lock, "cannot lock %s: %s", STATEFUL_LXC_PATH, strerror(-lock));
        if (lstat(final, &st) >= 0)
                return set_error_message(
                        reterr_message, -EEXIST, "container '%s' exists already", req->name);
        if (lstat(newdir, &st) >= 0)
                return set_error_message(
                        reterr_message, -EBUSY, "container '%s' is being created", req->name);
        m.slot = pick_slot();
        if (m.slot == 0)
                return set_error_message(
                        reterr_message, -ENOSPC, "too many containers (at most %u)", CONTAINERS_MAX);
        if (mkdir(newdir, 0711) < 0)
                return set_error_message(reterr_message, -errno, "cannot create %s: %m", newdir);
        /* Held until the worker ends: the leftover cleanup leaves a create in progress alone. */
        dfd = open(newdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0 || flock(dfd, LOCK_EX) < 0) {
                r = set_error_message(reterr_message, -errno, "cannot open %s: %m", newdir);
                lock = safe_close(lock);
                goto fail;
        }
        r = meta_write(newdir, &m);
        lock = safe_close(lock);
        if (r < 0) {
                set_error_message(
                        reterr_message, r, "cannot write %s/" META_FILE ": %s", newdir, strerror(-r));
                goto fail;
        }
        r = subvol_create(dfd, "rootfs");
        if (r < 0) {
                set_error_message(reterr_message, r, "cannot create the rootfs subvolume: %s", strerror(-r));
                goto fail;
        }
        rootfs = openat(dfd, "rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (rootfs < 0) {
                r = set_error_message(reterr_message, -errno, "cannot open the rootfs: %m");
                goto fail;
        }
        /* The container's root owns its /. */
        if (fchown(rootfs, slot_id_base(m.slot), slot_id_base(m.slot)) < 0) {
                r = set_error_message(reterr_message, -errno, "cannot chown the rootfs: %m");
                goto fail;
        }
        container_idmaps(&m, &uid_map, &gid_map);
        r = tar_extract_new(
                rootfs,
                &(TarExtractOptions){ .id_count = ID_COUNT, .uid_map = &uid_map, .gid_map = &gid_map }, &t);
        if (r < 0) {
                set_error_message(reterr_message, r, "cannot start the extractor: %s", strerror(-r));
                goto fail;
        }

        /* Unknown size (an imported tarball): only the protocol's cap. */
        bound = req->unpacked_size ? MAX(req->unpacked_size * 2, IMAGE_BYTES_MIN) : IMAGE_BYTES_MAX;
        log_info(
                "Creating container '%s' (image '%s', slot %u, %llu bytes expected).", req->name, req->image,
                m.slot, (unsigned long long) req->unpacked_size);
        r = receive_image(fd, req_id, t, bound, req->unpacked_size, &got, reterr_message);
        if (r < 0)
                goto fail;
        r = write_lxc_config(newdir, final, req->name, &m, rootfs, false);
        if (r < 0) {
                set_error_message(reterr_message, r, "cannot write the container config: %s", strerror(-r));
                goto fail;
        }
        (void) syncfs(dfd);

        lock = lock_lxc();
        if (lock < 0 || rename(newdir, final) < 0) {
                r = lock < 0 ? lock : -errno;
                set_error_message(
                        reterr_message, r, "cannot move the container into place: %s", strerror(-r));
                goto fail;
        }
        lfd = open(STATEFUL_LXC_PATH, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lfd >= 0)
                (void) fsync(lfd);
        log_info(
                "Container '%s' created: %llu entries, %llu bytes of tar.", req->name,
                (unsigned long long) tar_extract_entries(t), (unsigned long long) got);
        return container_fill_info(info, req->name, &m, NULL);
fail:
        log_warning(
                "Creating container '%s' failed: %s", req->name,
                reterr_message && *reterr_message ? *reterr_message : strerror(-r));
        t = tar_extract_free(t);
        rootfs = safe_close(rootfs);
        dfd = safe_close(dfd);
        (void) remove_container_dir(newname, false);
        return r;
}
