/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Container operations (docs/design/containers.md). They run in a worker process per connection. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <lxc/lxccontainer.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "proto-validate.h"
#include "string-util.h"
#include "tar-extract.h"
#include "tremplin-container.h"
#include "tremplin-network.h"
#include "wire.h"

#define META_FILE "bistro-meta"
#define STATEFUL_MOUNT "/mnt/stateful"
#define LOCK_FILE LXC_PATH "/.lock"
#define LXC_LOG_DIR "/run/bistro/lxc"
#define CHUNK_TIMEOUT_MS 60000
#define START_TIMEOUT_S 30
#define STOP_CLEAN_S 10
#define IMAGE_BYTES_MIN (UINT64_C(16) << 20) /* bound when unpacked_size is tiny */
#define IMAGE_BYTES_MAX (UINT64_C(64) << 30) /* bound when it is unknown (0) */
#define CREATE_TIME_MAX_MS (3000u * 1000u)

static void set_err(char *err, size_t size, const char *fmt, ...) _printf_(3, 4);
static void set_err(char *err, size_t size, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(err, size, fmt, ap);
        va_end(ap);
}

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

int container_meta_parse(const char *text, ContainerMeta *ret) {
        ContainerMeta m = {};
        const char *p = text;

        while (p && *p) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);
                char line[256];

                if (len < sizeof(line)) {
                        memcpy(line, p, len);
                        line[len] = 0;
                        if (startswith(line, "image=") && proto_image_name_ok(line + 6))
                                strscpy(m.image, line + 6, sizeof(m.image));
                        else if (startswith(line, "slot=")) {
                                uint32_t s;

                                if (safe_atou32(line + 5, &s) >= 0 && s >= 1 && s <= CONTAINERS_MAX)
                                        m.slot = s;
                        }
                }
                p = nl ? nl + 1 : NULL;
        }
        if (m.slot == 0)
                return -EBADMSG;
        *ret = m;
        return 0;
}

static int meta_read_at(int dfd, const char *dir, ContainerMeta *ret) {
        _cleanup_close_ int fd = -EBADF;
        char buf[1024];
        ssize_t n;
        char path[PROTO_NAME_MAX + 32];

        (void) snprintf(path, sizeof(path), "%s/" META_FILE, dir);
        fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        n = loop_read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return (int) n;
        buf[n] = 0;
        return container_meta_parse(buf, ret);
}

static int meta_read_name(const char *name, ContainerMeta *ret) {
        _cleanup_close_ int lfd = open(LXC_PATH, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (lfd < 0)
                return -errno;
        return meta_read_at(lfd, name, ret);
}

/* Containers live on the stateful disk only: never on the root's tmpfs before the mount. */
static int check_stateful(char *err, size_t err_size) {
        struct statfs sf;

        if (statfs(STATEFUL_MOUNT, &sf) < 0 || sf.f_type != BTRFS_SUPER_MAGIC) {
                set_err(err, err_size, "the VM's stateful disk is not mounted at " STATEFUL_MOUNT);
                return -ENOMEDIUM;
        }
        return 0;
}

static int lock_lxc(void) {
        int fd, r;

        r = mkdir_p(LXC_PATH, 0711);
        if (r < 0)
                return r;
        fd = open(LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX) < 0) {
                r = -errno;
                safe_close(fd);
                return r;
        }
        return fd;
}

/* Removes everything below dfd (never following a symlink), then the directory itself is the
 * caller's business. */
static int rm_rf_children(int dfd) {
        DIR *d;
        struct dirent *de;
        int r = 0;

        d = fdopendir(dfd);
        if (!d) {
                safe_close(dfd);
                return -errno;
        }
        while ((de = readdir(d))) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        int cfd = openat(
                                dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                        if (cfd >= 0)
                                (void) rm_rf_children(cfd);
                        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && r == 0)
                                r = -errno;
                } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && r == 0)
                        r = -errno;
        }
        closedir(d);
        return r;
}

/* Deletes dir/name: a btrfs subvolume through SNAP_DESTROY, else recursively. */
static int remove_tree_at(int dfd, const char *name) {
        struct btrfs_ioctl_vol_args args = {};
        struct stat st;
        int cfd;

        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return RET_NERRNO(unlinkat(dfd, name, 0));
        if (st.st_ino == 256 && strlen(name) < sizeof(args.name)) { /* BTRFS_FIRST_FREE_OBJECTID */
                strscpy(args.name, name, sizeof(args.name));
                if (ioctl(dfd, BTRFS_IOC_SNAP_DESTROY, &args) >= 0)
                        return 0;
                log_debug_errno(errno, "SNAP_DESTROY of '%s' failed, removing file by file: %m", name);
        }
        cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0)
                return -errno;
        (void) rm_rf_children(cfd);
        return RET_NERRNO(unlinkat(dfd, name, AT_REMOVEDIR));
}

/* A create or delete in progress holds a flock on its .new-* / .del-* directory: with
 * only_if_unlocked, such a directory is left alone (-EBUSY). */
static int remove_container_dir(const char *dirname, bool only_if_unlocked) {
        _cleanup_close_ int lfd = -EBADF, dfd = -EBADF;
        int r;

        lfd = open(LXC_PATH, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lfd < 0)
                return -errno;
        dfd = openat(lfd, dirname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (only_if_unlocked && flock(dfd, LOCK_EX | LOCK_NB) < 0)
                return -EBUSY;
        r = remove_tree_at(dfd, "rootfs");
        if (r < 0)
                log_warning_errno(r, "Cannot remove %s/%s/rootfs: %m", LXC_PATH, dirname);
        (void) rm_rf_children(TAKE_FD(dfd));
        return RET_NERRNO(unlinkat(lfd, dirname, AT_REMOVEDIR));
}

void containers_cleanup_leftovers(void) {
        _cleanup_close_ int lock = -EBADF;
        char err[128];
        struct dirent *de;
        DIR *d;

        /* Under the global lock: a create makes and flocks its .new-* dir while holding it. */
        if (check_stateful(err, sizeof(err)) < 0 || access(LXC_PATH, F_OK) < 0)
                return;
        lock = lock_lxc();
        if (lock < 0)
                return;
        d = opendir(LXC_PATH);
        if (!d)
                return;
        while ((de = readdir(d))) {
                int r;

                if (!startswith(de->d_name, ".new-") && !startswith(de->d_name, ".del-"))
                        continue;
                r = remove_container_dir(de->d_name, true);
                if (r == -EBUSY)
                        continue;
                if (r < 0)
                        log_warning_errno(r, "Cannot remove leftover %s/%s: %m", LXC_PATH, de->d_name);
                else
                        log_info("Removed leftover %s/%s.", LXC_PATH, de->d_name);
        }
        closedir(d);
}

/* Slots of every container, including creations in progress. */
static unsigned pick_slot(void) {
        bool used[CONTAINERS_MAX + 1] = {};
        DIR *d = opendir(LXC_PATH);
        struct dirent *de;

        if (d) {
                while ((de = readdir(d))) {
                        ContainerMeta m;

                        if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                                continue;
                        if (meta_read_at(dirfd(d), de->d_name, &m) >= 0)
                                used[m.slot] = true;
                }
                closedir(d);
        }
        for (unsigned s = 1; s <= CONTAINERS_MAX; s++)
                if (!used[s])
                        return s;
        return 0;
}

static int write_meta(const char *dir, const ContainerMeta *m) {
        char path[PATH_MAX + 32], text[256];

        (void) snprintf(path, sizeof(path), "%s/" META_FILE, dir);
        (void) snprintf(text, sizeof(text), "image=%s\nslot=%u\n", m->image, m->slot);
        return write_file_atomic(path, text, 0644);
}

/* /sbin/init inside the rootfs (resolved inside it) is an executable file. */
static int stat_in_root(int rootfs_fd, const char *path, struct stat *ret) {
        struct open_how how = { .flags = O_PATH | O_CLOEXEC,
                                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        _cleanup_close_ int fd = -EBADF;

        fd = (int) syscall(SYS_openat2, rootfs_fd, path, &how, sizeof(how));
        if (fd < 0 || fstat(fd, ret) < 0)
                return -errno;
        return 0;
}

typedef enum InitKind {
        INIT_NONE,    /* use bistro-init */
        INIT_OTHER,   /* busybox, sysvinit...: LXC's default halt signal, SIGPWR */
        INIT_SYSTEMD, /* halts on SIGRTMIN+3 */
} InitKind;

static InitKind rootfs_init(int rootfs_fd) {
        struct stat st, sd;

        if (stat_in_root(rootfs_fd, "sbin/init", &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
                return INIT_NONE;
        if ((stat_in_root(rootfs_fd, "lib/systemd/systemd", &sd) >= 0 ||
             stat_in_root(rootfs_fd, "usr/lib/systemd/systemd", &sd) >= 0) &&
            sd.st_dev == st.st_dev && sd.st_ino == st.st_ino)
                return INIT_SYSTEMD;
        return INIT_OTHER;
}

/* The LXC config, rewritten at each start (and at create). It goes to writedir/config and names
 * dir (the container's final directory). */
static int write_config(
        const char *writedir, const char *dir, const char *name, const ContainerMeta *m, int rootfs_fd) {
        char path[PATH_MAX], tmp[PATH_MAX + 8];
        _cleanup_fclose_ FILE *f = NULL;
        uint32_t base = slot_id_base(m->slot);
        int r;

        (void) snprintf(path, sizeof(path), "%s/config", writedir);
        (void) snprintf(tmp, sizeof(tmp), "%s/.config.new", writedir);
        f = fopen(tmp, "we");
        if (!f)
                return -errno;
        fprintf(f,
                "# Written by tremplin at each start; edits are lost.\n"
                "lxc.include = /usr/share/lxc/config/common.conf\n"
                "lxc.include = /usr/share/lxc/config/userns.conf\n"
                "lxc.uts.name = %s\n"
                "lxc.rootfs.path = dir:%s/rootfs\n"
                "lxc.idmap = u 0 %" PRIu32 " %u\n"
                "lxc.idmap = g 0 %" PRIu32 " %u\n"
                /* The Termina root has no AppArmor profiles (etc/apparmor.d is pruned) and loading
                 * one costs seconds per boot; the container is confined by its user namespace,
                 * LXC's default seccomp policy (common.conf) and the capability drops. */
                "lxc.apparmor.profile = unconfined\n"
                "lxc.mount.entry = " OPT_BISTRO " opt/bistro none bind,ro,create=dir 0 0\n"
                "lxc.mount.entry = " TOKEN_DIR "/%s dev/.container_token none bind,ro,create=file 0 0\n"
                "lxc.log.file = " LXC_LOG_DIR "/%s.log\n"
                "lxc.log.level = WARN\n",
                name, dir, base, ID_COUNT, base, ID_COUNT, name, name);
        switch (rootfs_fd >= 0 ? rootfs_init(rootfs_fd) : INIT_OTHER) {
        case INIT_NONE:
                fprintf(f, "# No executable /sbin/init in the rootfs.\nlxc.init.cmd = " BISTRO_INIT "\n");
                break;
        case INIT_SYSTEMD:
                fprintf(f, "lxc.signal.halt = SIGRTMIN+3\n");
                break;
        case INIT_OTHER:
                break;
        }
        r = network_write_lxc_config(f, m->slot);
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

static int subvol_create(int dfd, const char *name) {
        struct btrfs_ioctl_vol_args args = {};

        strscpy(args.name, name, sizeof(args.name));
        if (ioctl(dfd, BTRFS_IOC_SUBVOL_CREATE, &args) >= 0)
                return 0;
        if (errno != ENOTTY && errno != EOPNOTSUPP && errno != EINVAL)
                return -errno;
        /* Not btrfs (a test VM without a stateful disk): a plain directory. */
        log_warning("%s is not on btrfs: the rootfs is a plain directory.", LXC_PATH);
        return RET_NERRNO(mkdirat(dfd, name, 0755));
}

static void fill_info(
        Bistro__Tremplin__ContainerInfo *info,
        const char *name,
        const ContainerMeta *m,
        struct lxc_container *c) {
        NetworkAddresses a = {};
        const char *state = NULL;

        bistro__tremplin__container_info__init(info);
        info->name = strdup(name);
        info->image = strdup(m->image);
        info->id_base = slot_id_base(m->slot);
        info->state = BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_STOPPED;
        if (c)
                state = c->state(c);
        if (state) {
                if (streq(state, "RUNNING") || streq(state, "FROZEN") || streq(state, "FREEZING") ||
                    streq(state, "THAWED"))
                        info->state = BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_RUNNING;
                else if (streq(state, "STARTING"))
                        info->state = BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_STARTING;
                else if (streq(state, "STOPPING") || streq(state, "ABORTING"))
                        info->state = BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_STOPPING;
        }
        if (info->state == BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_RUNNING) {
                pid_t pid = c->init_pid(c);

                info->init_pid = pid > 0 ? pid : 0;
        }
        if (network_slot_addresses(m->slot, &a) >= 0 &&
            info->state == BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_RUNNING) {
                info->ipv4_address = strdup(a.ipv4);
                info->ipv6_address = strdup(a.ipv6);
        } else {
                info->ipv4_address = strdup("");
                info->ipv6_address = strdup("");
        }
        if (!info->name || !info->image || !info->ipv4_address || !info->ipv6_address) {
                container_info_done(info);
                bistro__tremplin__container_info__init(info);
                info->name = strdup(name);
                info->image = strdup("");
                info->ipv4_address = strdup("");
                info->ipv6_address = strdup("");
        }
}

void container_info_done(Bistro__Tremplin__ContainerInfo *info) {
        if (!info)
                return;
        free(info->name);
        free(info->image);
        free(info->ipv4_address);
        free(info->ipv6_address);
        info->name = info->image = info->ipv4_address = info->ipv6_address = NULL;
}

void container_infos_free(Bistro__Tremplin__ContainerInfo **l, size_t n) {
        for (size_t i = 0; i < n; i++) {
                container_info_done(l[i]);
                free(l[i]);
        }
        free(l);
}

static struct lxc_container *container_open(const char *name) {
        return lxc_container_new(name, LXC_PATH);
}

int container_get_info(const char *name, Bistro__Tremplin__ContainerInfo *info, char *err, size_t err_size) {
        struct lxc_container *c;
        ContainerMeta m;
        int r;

        r = meta_read_name(name, &m);
        if (r < 0) {
                set_err(err, err_size, "no container '%s'", name);
                return -ENOENT;
        }
        c = container_open(name);
        fill_info(info, name, &m, c);
        if (c)
                lxc_container_put(c);
        return 0;
}

int container_list(Bistro__Tremplin__ContainerInfo ***ret, size_t *ret_n, char *err, size_t err_size) {
        Bistro__Tremplin__ContainerInfo **l = NULL;
        size_t n = 0;
        DIR *d;
        struct dirent *de;
        int r;

        r = check_stateful(err, err_size);
        if (r < 0)
                return r;
        containers_cleanup_leftovers();
        d = opendir(LXC_PATH);
        if (!d) {
                if (errno == ENOENT) {
                        *ret = NULL;
                        *ret_n = 0;
                        return 0;
                }
                set_err(err, err_size, "cannot read %s: %s", LXC_PATH, strerror(errno));
                return -errno;
        }
        l = calloc(CONTAINERS_MAX + 1, sizeof(*l));
        if (!l) {
                closedir(d);
                return -ENOMEM;
        }
        while ((de = readdir(d)) && n < CONTAINERS_MAX) {
                struct lxc_container *c;
                ContainerMeta m;

                if (de->d_name[0] == '.' || !proto_name_ok(de->d_name))
                        continue;
                if (meta_read_at(dirfd(d), de->d_name, &m) < 0)
                        continue;
                l[n] = malloc(sizeof(*l[n]));
                if (!l[n])
                        break;
                c = container_open(de->d_name);
                fill_info(l[n], de->d_name, &m, c);
                if (c)
                        lxc_container_put(c);
                n++;
        }
        closedir(d);
        *ret = l;
        *ret_n = n;
        return 0;
}

int container_create(
        int fd,
        uint64_t req_id,
        const Bistro__Tremplin__CreateContainerRequest *req,
        Bistro__Tremplin__ContainerInfo *info,
        char *err,
        size_t err_size) {
        char newdir[PATH_MAX], final[PATH_MAX], newname[PROTO_NAME_MAX + 8];
        _cleanup_close_ int lock = -EBADF, lfd = -EBADF, dfd = -EBADF, rootfs = -EBADF;
        _cleanup_(tar_extract_freep) TarExtract *t = NULL;
        ContainerMeta m = {};
        uint64_t bound, got = 0, deadline;
        struct stat st;
        int r;

        (void) snprintf(newname, sizeof(newname), ".new-%s", req->name);
        (void) snprintf(newdir, sizeof(newdir), LXC_PATH "/%s", newname);
        (void) snprintf(final, sizeof(final), LXC_PATH "/%s", req->name);
        strscpy(m.image, req->image, sizeof(m.image));

        r = check_stateful(err, err_size);
        if (r < 0)
                return r;
        containers_cleanup_leftovers();
        lock = lock_lxc();
        if (lock < 0) {
                set_err(err, err_size, "cannot lock %s: %s", LXC_PATH, strerror(-lock));
                return lock;
        }
        if (lstat(final, &st) >= 0) {
                set_err(err, err_size, "container '%s' exists already", req->name);
                return -EEXIST;
        }
        if (lstat(newdir, &st) >= 0) {
                set_err(err, err_size, "container '%s' is being created", req->name);
                return -EBUSY;
        }
        m.slot = pick_slot();
        if (m.slot == 0) {
                set_err(err, err_size, "too many containers (at most %u)", CONTAINERS_MAX);
                return -ENOSPC;
        }
        if (mkdir(newdir, 0711) < 0) {
                r = -errno;
                set_err(err, err_size, "cannot create %s: %s", newdir, strerror(-r));
                return r;
        }
        /* Held until the worker ends: the leftover cleanup leaves a create in progress alone. */
        dfd = open(newdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0 || flock(dfd, LOCK_EX) < 0) {
                r = -errno;
                lock = safe_close(lock);
                set_err(err, err_size, "cannot open %s: %s", newdir, strerror(-r));
                goto fail;
        }
        r = write_meta(newdir, &m);
        lock = safe_close(lock);
        if (r < 0) {
                set_err(err, err_size, "cannot write %s/" META_FILE ": %s", newdir, strerror(-r));
                goto fail;
        }
        r = subvol_create(dfd, "rootfs");
        if (r < 0) {
                set_err(err, err_size, "cannot create the rootfs subvolume: %s", strerror(-r));
                goto fail;
        }
        rootfs = openat(dfd, "rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (rootfs < 0) {
                r = -errno;
                set_err(err, err_size, "cannot open the rootfs: %s", strerror(-r));
                goto fail;
        }
        /* The container's root owns its /. */
        if (fchown(rootfs, slot_id_base(m.slot), slot_id_base(m.slot)) < 0) {
                r = -errno;
                set_err(err, err_size, "cannot chown the rootfs: %s", strerror(-r));
                goto fail;
        }
        r = tar_extract_new(
                rootfs, &(TarExtractOptions){ .id_shift = slot_id_base(m.slot), .id_count = ID_COUNT }, &t);
        if (r < 0) {
                set_err(err, err_size, "cannot start the extractor: %s", strerror(-r));
                goto fail;
        }

        /* Unknown size (an imported tarball): only the protocol's cap. */
        bound = req->unpacked_size ? MAX(req->unpacked_size * 2, IMAGE_BYTES_MIN) : IMAGE_BYTES_MAX;
        /* Time: 2 minutes plus 1 s per MiB, at most CREATE_TIME_MAX_MS. */
        deadline = now_ms() + MIN(120000u + bound / 2 / 1024u, CREATE_TIME_MAX_MS);
        log_info(
                "Creating container '%s' (image '%s', slot %u, %llu bytes expected).", req->name, req->image,
                m.slot, (unsigned long long) req->unpacked_size);
        for (;;) {
                _cleanup_message_ ProtobufCMessage *msg = NULL;
                const Bistro__Tremplin__ImageChunk *chunk;
                FrameHeader h;
                uint64_t now = now_ms();

                if (now >= deadline) {
                        r = -ETIMEDOUT;
                        set_err(err, err_size, "the image did not arrive in time");
                        goto fail;
                }
                r = wire_recv_sync(fd, (int) MIN(deadline - now, (uint64_t) CHUNK_TIMEOUT_MS), &h, &msg);
                if (r < 0) {
                        set_err(err, err_size, "receiving the image: %s", strerror(-r));
                        goto fail;
                }
                if (h.type != BISTRO__MESSAGE_TYPE__TREMPLIN_IMAGE_CHUNK || h.id != req_id) {
                        r = -EBADMSG;
                        set_err(err, err_size, "unexpected frame in the image stream");
                        goto fail;
                }
                chunk = (const Bistro__Tremplin__ImageChunk *) msg;
                got += chunk->data.len;
                if (got > bound) {
                        r = -EFBIG;
                        set_err(err, err_size, "the image is larger than announced (%llu bytes)",
                                (unsigned long long) req->unpacked_size);
                        goto fail;
                }
                if (chunk->data.len > 0) {
                        r = tar_extract_feed(t, chunk->data.data, chunk->data.len);
                        if (r < 0) {
                                set_err(err, err_size, "bad image: %s", tar_extract_error(t));
                                goto fail;
                        }
                }
                if (chunk->eof)
                        break;
        }
        r = tar_extract_finish(t);
        if (r < 0) {
                set_err(err, err_size, "bad image: %s", tar_extract_error(t));
                goto fail;
        }
        r = write_config(newdir, final, req->name, &m, rootfs);
        if (r < 0) {
                set_err(err, err_size, "cannot write the container config: %s", strerror(-r));
                goto fail;
        }
        (void) syncfs(dfd);

        lock = lock_lxc();
        if (lock < 0 || rename(newdir, final) < 0) {
                r = lock < 0 ? lock : -errno;
                set_err(err, err_size, "cannot move the container into place: %s", strerror(-r));
                goto fail;
        }
        lfd = open(LXC_PATH, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lfd >= 0)
                (void) fsync(lfd);
        log_info(
                "Container '%s' created: %llu entries, %llu bytes of tar.", req->name,
                (unsigned long long) tar_extract_entries(t), (unsigned long long) got);
        fill_info(info, req->name, &m, NULL);
        return 0;
fail:
        log_warning("Creating container '%s' failed: %s", req->name, err);
        t = tar_extract_free(t);
        rootfs = safe_close(rootfs);
        dfd = safe_close(dfd);
        (void) remove_container_dir(newname, false);
        return r;
}

static int write_token(const char *name, const char *token, uint32_t base) {
        char path[PATH_MAX], tmp[PATH_MAX + 8];
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = mkdir_p(TOKEN_DIR, 0711);
        if (r < 0)
                return r;
        (void) snprintf(path, sizeof(path), TOKEN_DIR "/%s", name);
        (void) snprintf(tmp, sizeof(tmp), TOKEN_DIR "/.%s.new", name);
        (void) unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, token, strlen(token));
        /* Readable by the container's root only. */
        if (r >= 0 && fchown(fd, base, base) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

/* The tail of the container's LXC log, for an error message. */
static void log_tail(const char *name, char *buf, size_t size) {
        char path[PATH_MAX];
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        ssize_t n;
        off_t off;

        buf[0] = 0;
        (void) snprintf(path, sizeof(path), LXC_LOG_DIR "/%s.log", name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0 || size < 2)
                return;
        off = st.st_size > (off_t) (size - 1) ? st.st_size - (off_t) (size - 1) : 0;
        n = pread(fd, buf, size - 1, off);
        if (n <= 0)
                return;
        buf[n] = 0;
        for (char *p = buf; *p; p++)
                if ((unsigned char) *p < 0x20 && *p != '\n')
                        *p = ' ';
}

static void check_cgroup(const char *name, pid_t pid) {
        char path[64], *text = NULL;

        (void) snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        if (read_file(path, 4096, &text, NULL) < 0)
                return;
        text[strcspn(text, "\n")] = 0;
        if (streq(text, "0::/") || !strstr(text, "lxc"))
                log_warning(
                        "Container '%s' is not in its own cgroup (%s): limits do not apply.", name, text);
        else
                log_debug("Container '%s' cgroup: %s", name, text);
        free(text);
}

int container_start(
        const char *name,
        const char *token,
        Bistro__Tremplin__ContainerInfo *info,
        char *err,
        size_t err_size) {
        char dir[PATH_MAX], tail[600];
        _cleanup_close_ int rootfs = -EBADF;
        struct lxc_container *c = NULL;
        ContainerMeta m;
        int r;

        r = check_stateful(err, err_size);
        if (r < 0)
                return r;
        r = meta_read_name(name, &m);
        if (r < 0) {
                set_err(err, err_size, "no container '%s'", name);
                return -ENOENT;
        }
        c = container_open(name);
        if (!c) {
                set_err(err, err_size, "liblxc cannot load container '%s'", name);
                return -EIO;
        }
        if (c->is_running(c)) {
                fill_info(info, name, &m, c);
                lxc_container_put(c);
                return 0;
        }
        lxc_container_put(c);
        c = NULL;

        (void) snprintf(dir, sizeof(dir), LXC_PATH "/%s", name);
        rootfs = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfs >= 0) {
                int fd = openat(rootfs, "rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

                safe_close(rootfs);
                rootfs = fd;
        }
        if (rootfs < 0) {
                r = -errno;
                set_err(err, err_size, "container '%s' has no rootfs: %s", name, strerror(-r));
                return r;
        }
        r = write_token(name, token, slot_id_base(m.slot));
        if (r < 0) {
                set_err(err, err_size, "cannot write the token: %s", strerror(-r));
                return r;
        }
        (void) network_setup();
        r = network_write_resolv_conf(rootfs);
        if (r < 0)
                log_warning_errno(r, "Cannot write resolv.conf of '%s', continuing: %m", name);
        r = write_config(dir, dir, name, &m, rootfs);
        if (r < 0) {
                set_err(err, err_size, "cannot write the container config: %s", strerror(-r));
                return r;
        }
        (void) mkdir_p(LXC_LOG_DIR, 0700);
        {
                char logpath[PATH_MAX];

                (void) snprintf(logpath, sizeof(logpath), LXC_LOG_DIR "/%s.log", name);
                if (truncate(logpath, 0) < 0 && errno != ENOENT)
                        log_debug_errno(errno, "Cannot truncate %s: %m", logpath);
        }

        c = container_open(name);
        if (!c) {
                set_err(err, err_size, "liblxc cannot load container '%s'", name);
                return -EIO;
        }
        c->want_daemonize(c, true);
        c->want_close_all_fds(c, true);
        log_info("Starting container '%s' (slot %u).", name, m.slot);
        if (!c->start(c, 0, NULL) || !c->wait(c, "RUNNING", START_TIMEOUT_S)) {
                log_tail(name, tail, sizeof(tail));
                log_error("Container '%s' failed to start: %s", name, tail);
                set_err(err, err_size, "container '%s' failed to start: %s", name,
                        tail[0] ? tail : "see the VM log");
                if (c->is_running(c))
                        (void) c->stop(c);
                lxc_container_put(c);
                return -EIO;
        }
        fill_info(info, name, &m, c);
        if (info->init_pid > 0)
                check_cgroup(name, info->init_pid);
        log_info("Container '%s' is running (init pid %d).", name, (int) info->init_pid);
        lxc_container_put(c);
        return 0;
}

int container_stop(const char *name, bool force, char *err, size_t err_size) {
        struct lxc_container *c;
        ContainerMeta m;
        bool ok;

        if (meta_read_name(name, &m) < 0) {
                set_err(err, err_size, "no container '%s'", name);
                return -ENOENT;
        }
        c = container_open(name);
        if (!c) {
                set_err(err, err_size, "liblxc cannot load container '%s'", name);
                return -EIO;
        }
        if (!c->is_running(c)) {
                lxc_container_put(c);
                return 0;
        }
        log_info("Stopping container '%s'%s.", name, force ? " (force)" : "");
        ok = !force && c->shutdown(c, STOP_CLEAN_S);
        if (!ok) {
                if (!force)
                        log_warning(
                                "Container '%s' did not stop within %d s; killing it.", name, STOP_CLEAN_S);
                ok = c->stop(c);
        }
        if (!ok && c->is_running(c)) {
                set_err(err, err_size, "cannot stop container '%s'", name);
                lxc_container_put(c);
                return -EIO;
        }
        lxc_container_put(c);
        (void) sync();
        log_info("Container '%s' stopped.", name);
        return 0;
}

int container_delete(const char *name, char *err, size_t err_size) {
        _cleanup_close_ int lock = -EBADF, dfd = -EBADF;
        char dir[PATH_MAX], del[PATH_MAX], delname[PROTO_NAME_MAX + 8], token[PATH_MAX];
        struct lxc_container *c;
        ContainerMeta m;
        int r;

        r = check_stateful(err, err_size);
        if (r < 0)
                return r;
        if (meta_read_name(name, &m) < 0) {
                set_err(err, err_size, "no container '%s'", name);
                return -ENOENT;
        }
        lock = lock_lxc();
        if (lock < 0) {
                set_err(err, err_size, "cannot lock %s: %s", LXC_PATH, strerror(-lock));
                return lock;
        }
        c = container_open(name);
        if (c && c->is_running(c)) {
                lxc_container_put(c);
                set_err(err, err_size, "container '%s' is running; stop it first", name);
                return -EBUSY;
        }
        if (c)
                lxc_container_put(c);
        (void) snprintf(dir, sizeof(dir), LXC_PATH "/%s", name);
        (void) snprintf(delname, sizeof(delname), ".del-%s", name);
        (void) snprintf(del, sizeof(del), LXC_PATH "/%s", delname);
        if (rename(dir, del) < 0) {
                r = -errno;
                set_err(err, err_size, "cannot delete '%s': %s", name, strerror(-r));
                return r;
        }
        dfd = open(del, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd >= 0 && flock(dfd, LOCK_EX) < 0)
                log_debug_errno(errno, "Cannot lock %s: %m", del);
        lock = safe_close(lock);
        r = remove_container_dir(delname, false);
        if (r < 0)
                log_warning_errno(
                        r, "Leftovers of '%s' stay in %s (removed at the next start): %m", name, del);
        (void) snprintf(token, sizeof(token), TOKEN_DIR "/%s", name);
        (void) unlink(token);
        (void) sync();
        log_info("Container '%s' deleted.", name);
        return 0;
}

void containers_stop_all(int timeout_ms) {
        struct lxc_container **cs = NULL;
        char **names = NULL;
        int n;
        uint64_t deadline = now_ms() + (uint64_t) timeout_ms;

        n = list_active_containers(LXC_PATH, &names, &cs);
        if (n <= 0)
                return;
        log_info("Stopping %d running container(s).", n);
        for (int i = 0; i < n; i++)
                (void) cs[i]->shutdown(cs[i], 0);
        for (;;) {
                bool any = false;

                for (int i = 0; i < n; i++)
                        if (cs[i]->is_running(cs[i]))
                                any = true;
                if (!any || now_ms() >= deadline)
                        break;
                (void) poll(NULL, 0, 100);
        }
        for (int i = 0; i < n; i++) {
                if (cs[i]->is_running(cs[i])) {
                        log_warning("Container '%s' did not stop in time; killing it.", names[i]);
                        (void) cs[i]->stop(cs[i]);
                }
                lxc_container_put(cs[i]);
                free(names[i]);
        }
        free(cs);
        free(names);
        sync();
}
