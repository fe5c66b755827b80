/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Container lifecycle (docs/design/containers.md): start, stop, delete, info, list. They run in a
 * worker process per connection. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lxc/lxccontainer.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "dirent-util.h"
#include "fd-util.h"
#include "log.h"
#include "lxc-util.h"
#include "macro.h"
#include "proto-validate.h"
#include "spawn-util.h"
#include "string-util.h"
#include "time-util.h"
#include "tremplin-container.h"
#include "tremplin-error.h"
#include "tremplin-idmap.h"
#include "tremplin-layout.h"
#include "tremplin-lock.h"
#include "tremplin-lxc-config.h"
#include "tremplin-meta.h"
#include "tremplin-network.h"
#include "tremplin-rootfs.h"
#include "tremplin-share.h"
#include "tremplin-subvol.h"
#include "tremplin-timezone.h"
#include "tremplin-token.h"
#include "tremplin-user.h"

#define START_TIMEOUT_S 30
#define STOP_CLEAN_S 10
#define LINGER_TIMEOUT_USEC (10 * USEC_PER_SEC)

/* info for the state (a CONTAINER_STATE_*), with the addresses of a running container. */
static int fill_info(
        Bistro__Tremplin__ContainerInfo *info,
        const char *name,
        const ContainerMeta *m,
        int state,
        pid_t pid) {
        NetworkAddresses a = {};
        bool running = state == BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_RUNNING;

        bistro__tremplin__container_info__init(info);
        info->id_base = slot_id_base(m->slot);
        info->state = state;
        info->init_pid = running && pid > 0 ? pid : 0;
        if (!(running && network_slot_addresses(m->slot, &a) >= 0))
                a = (NetworkAddresses){};
        info->name = strdup(name);
        info->image = strdup(m->image);
        info->ipv4_address = strdup(a.ipv4);
        info->ipv6_address = strdup(a.ipv6);
        if (!info->name || !info->image || !info->ipv4_address || !info->ipv6_address) {
                container_info_done(info);
                return -ENOMEM;
        }
        return 0;
}

int container_fill_info(
        Bistro__Tremplin__ContainerInfo *info,
        const char *name,
        const ContainerMeta *m,
        struct lxc_container *c) {
        int state = BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_STOPPED;
        const char *s = c ? c->state(c) : NULL;
        pid_t pid = 0;

        if (s) {
                if (streq(s, "RUNNING") || streq(s, "FROZEN") || streq(s, "FREEZING") || streq(s, "THAWED"))
                        state = BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_RUNNING;
                else if (streq(s, "STARTING"))
                        state = BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_STARTING;
                else if (streq(s, "STOPPING") || streq(s, "ABORTING"))
                        state = BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_STOPPING;
        }
        if (state == BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_RUNNING)
                pid = c->init_pid(c);
        return fill_info(info, name, m, state, pid);
}

int container_fill_running_info(
        Bistro__Tremplin__ContainerInfo *info, const char *name, const ContainerMeta *m, pid_t init_pid) {
        return fill_info(
                info, name, m, BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_RUNNING, init_pid);
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
        return lxc_container_new(name, STATEFUL_LXC_PATH);
}

static int no_container(char **reterr_message, const char *name) {
        return set_error_message(reterr_message, -ENOENT, "no container '%s'", name);
}

int container_get_info(const char *name, Bistro__Tremplin__ContainerInfo *info, char **reterr_message) {
        _cleanup_lxc_container_put_ struct lxc_container *c = NULL;
        ContainerMeta m;

        if (meta_read_name(name, &m) < 0)
                return no_container(reterr_message, name);
        c = container_open(name);
        return container_fill_info(info, name, &m, c);
}

int container_list(Bistro__Tremplin__ContainerInfo ***ret, size_t *ret_n, char **reterr_message) {
        _cleanup_closedir_ DIR *d = NULL;
        Bistro__Tremplin__ContainerInfo **l = NULL;
        size_t n = 0;
        int r;

        r = check_stateful(reterr_message);
        if (r < 0)
                return r;
        containers_cleanup_leftovers();
        d = opendir(STATEFUL_LXC_PATH);
        if (!d) {
                if (errno == ENOENT) {
                        *ret = NULL;
                        *ret_n = 0;
                        return 0;
                }
                return set_error_message(reterr_message, -errno, "cannot read %s: %m", STATEFUL_LXC_PATH);
        }
        l = new0(Bistro__Tremplin__ContainerInfo *, CONTAINERS_MAX + 1);
        if (!l)
                return -ENOMEM;
        FOREACH_DIRENT(de, d) {
                _cleanup_lxc_container_put_ struct lxc_container *c = NULL;
                ContainerMeta m;

                if (n >= CONTAINERS_MAX)
                        break;
                if (de->d_name[0] == '.' || !proto_name_ok(de->d_name))
                        continue;
                if (meta_read_at(dirfd(d), de->d_name, &m) < 0)
                        continue;
                l[n] = new0(Bistro__Tremplin__ContainerInfo, 1);
                if (!l[n])
                        goto oom;
                c = container_open(de->d_name);
                r = container_fill_info(l[n], de->d_name, &m, c);
                if (r < 0) {
                        free(l[n]);
                        l[n] = NULL;
                        goto oom;
                }
                n++;
        }
        *ret = l;
        *ret_n = n;
        return 0;
oom:
        container_infos_free(l, n);
        return -ENOMEM;
}

const char *log_tail_lines(const char *text, size_t n, size_t max) {
        const char *p;

        if (n <= max)
                return text;
        p = text + (n - max);
        /* Start at a line: the first one is cut, unless what is left is one long line. */
        for (const char *q = p; q < text + n; q++)
                if (q[0] == '\n' && q + 1 < text + n)
                        return q + 1;
        return p;
}

/* The tail of the container's LXC log, for an error message: NULL when there is none. */
static char *lxc_log_tail(const char *name) {
        _cleanup_free_ char *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        char path[PATH_MAX];
        struct stat st;
        size_t size = LXC_LOG_TAIL_MAX * 2;
        off_t off;
        ssize_t n;

        (void) snprintf(path, sizeof(path), LXC_LOG_DIR "/%s.log", name);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return NULL;
        text = malloc(size + 1);
        if (!text)
                return NULL;
        off = st.st_size > (off_t) size ? st.st_size - (off_t) size : 0;
        n = pread(fd, text, size, off);
        if (n <= 0)
                return NULL;
        text[n] = 0;
        /* A NUL inside ends the text there: the log is text. */
        n = (ssize_t) strlen(text);
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
                text[--n] = 0;
        if (n == 0)
                return NULL;
        /* Cut on a character boundary, controls replaced: it goes to the user's terminal. */
        return error_text_sanitize(log_tail_lines(text, (size_t) n, LXC_LOG_TAIL_MAX), LXC_LOG_TAIL_MAX);
}

static void check_cgroup(const char *name, pid_t pid) {
        _cleanup_free_ char *text = NULL;
        char path[64];

        (void) snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        if (read_file(path, 4096, &text, NULL) < 0)
                return;
        text[strcspn(text, "\n")] = 0;
        if (streq(text, "0::/") || !strstr(text, "lxc"))
                log_warning(
                        "Container '%s' is not in its own cgroup (%s): limits do not apply.", name, text);
        else
                log_debug("Container '%s' cgroup: %s", name, text);
}

/* Rewrites the meta of name with m's tz/tzfile, under the lock (another start may have changed
 * the rest meanwhile). */
static int meta_record_timezone(const char *name, const ContainerMeta *m) {
        _cleanup_close_ int lock = -EBADF;
        char dir[PATH_MAX];
        ContainerMeta now;
        int r;

        lock = lock_lxc();
        if (lock < 0)
                return lock;
        (void) snprintf(dir, sizeof(dir), STATEFUL_LXC_PATH "/%s", name);
        r = meta_read_name(name, &now);
        if (r < 0)
                return r;
        if (streq(now.tz, m->tz) && streq(now.tzfile, m->tzfile))
                return 0;
        strscpy(now.tz, m->tz, sizeof(now.tz));
        strscpy(now.tzfile, m->tzfile, sizeof(now.tzfile));
        return meta_write(dir, &now);
}

/* Puts the zone (name, tzif) in the rootfs of container name when it is tremplin's to set. */
static void apply_timezone(
        int rootfs, const char *name, ContainerMeta *m, const char *tz, const void *tzif, size_t len) {
        int r;

        r = timezone_apply(rootfs, slot_id_base(m->slot), tz, tzif, len, m);
        if (r < 0) {
                log_warning_errno(r, "Cannot set the zone %s in '%s': %m", tz, name);
                return;
        }
        if (r == TIMEZONE_SKIP) {
                log_debug("Container '%s' keeps its own zone.", name);
                return;
        }
        log_debug("Container '%s': zone %s (%s).", name, tz, r == TIMEZONE_LINK ? "link" : "TZif file");
        r = meta_record_timezone(name, m);
        if (r < 0)
                log_warning_errno(r, "Cannot record the zone in the meta of '%s': %m", name);
}

/* The zone tremplin was last sent, applied to a container about to start. */
static void apply_saved_timezone(int rootfs, const char *name, ContainerMeta *m) {
        _cleanup_free_ void *tzif = NULL;
        char tz[PROTO_TIMEZONE_MAX + 1];
        size_t len = 0;
        int r;

        r = timezone_load(TIMEZONE_STATE_PATH, tz, sizeof(tz), &tzif, &len);
        if (r == -ENOENT)
                return;
        if (r < 0) {
                log_warning_errno(r, "Cannot read " TIMEZONE_STATE_PATH ": %m");
                return;
        }
        apply_timezone(rootfs, name, m, tz, tzif, len);
}

int containers_set_timezone(const char *tz, const void *tzif, size_t len, char **reterr_message) {
        _cleanup_closedir_ DIR *d = NULL;
        int r;

        r = timezone_save(TIMEZONE_STATE_PATH, tz, tzif, len);
        if (r < 0)
                return set_error_message(
                        reterr_message, r, "cannot write " TIMEZONE_STATE_PATH ": %s", strerror(-r));
        log_info("Timezone %s (%zu bytes of TZif) for the containers.", tz, len);
        /* Before the stateful disk is mounted there is no container: the start applies it. */
        if (check_stateful(NULL) < 0)
                return 0;
        d = opendir(STATEFUL_LXC_PATH);
        if (!d)
                return 0;
        FOREACH_DIRENT(de, d) {
                _cleanup_lxc_container_put_ struct lxc_container *c = NULL;
                _cleanup_close_ int dfd = -EBADF, rootfs = -EBADF;
                ContainerMeta m;

                if (de->d_name[0] == '.' || !proto_name_ok(de->d_name) ||
                    meta_read_at(dirfd(d), de->d_name, &m) < 0)
                        continue;
                c = container_open(de->d_name);
                if (!c || !c->is_running(c))
                        continue;
                dfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd >= 0)
                        rootfs = openat(dfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (rootfs < 0)
                        continue;
                apply_timezone(rootfs, de->d_name, &m, tz, tzif, len);
        }
        return 0;
}

/* Runs argv in the running container c (as its root, a clean environment with a PATH, stdio on
 * /dev/null) and waits for it, bounded by LINGER_TIMEOUT_USEC. Returns its exit status (or < 0 from
 * the wait, -ETIMEDOUT), -ECHILD when it could not be attached at all. */
static int attach_run(struct lxc_container *c, char *argv[]) {
        lxc_attach_options_t opts = LXC_ATTACH_OPTIONS_DEFAULT;
        lxc_attach_command_t cmd = { .program = argv[0], .argv = argv };
        char *env[] = { (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        pid_t pid = -1;
        int r;

        opts.env_policy = LXC_ATTACH_CLEAR_ENV;
        opts.extra_env_vars = env;
        opts.stdin_fd = opts.stdout_fd = opts.stderr_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        r = c->attach(c, lxc_attach_run_command, &cmd, &opts, &pid);
        safe_close(opts.stdin_fd);
        if (r < 0 || pid <= 0)
                return -ECHILD;
        return wait_for_terminate_timeout(pid, LINGER_TIMEOUT_USEC);
}

/* systemd containers: user's manager runs from the boot on (lingering), now too, and garcon is
 * one of the default user's services (the first user the meta remembers; m was read before this
 * start recorded user). Failures are logged: the shell works without them. */
static void setup_user_services(
        struct lxc_container *c, const char *name, const ContainerMeta *m, const char *user) {
        _cleanup_close_ int dfd = -EBADF, rootfs = -EBADF;
        char dir[PATH_MAX], uidbuf[16];
        uid_t uid;
        gid_t gid;
        int r;

        (void) snprintf(dir, sizeof(dir), STATEFUL_LXC_PATH "/%s", name);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                rootfs = openat(dfd, "rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (rootfs < 0 || rootfs_init(rootfs) != INIT_SYSTEMD)
                return;
        r = rootfs_user_ids(rootfs, user, &uid, &gid);
        if (r <= 0) {
                log_warning_errno(r < 0 ? r : ENOENT, "No uid for %s in '%s', no lingering: %m", user, name);
                return;
        }
        r = rootfs_install_garcon_unit(
                rootfs, slot_id_base(m->slot), m->n_users > 0 ? m->users[0] : user,
                access(GARCON_PATH, X_OK) == 0);
        if (r < 0)
                log_warning_errno(r, "Cannot install " GARCON_UNIT " in '%s': %m", name);
        r = rootfs_enable_linger(rootfs, slot_id_base(m->slot), user);
        if (r < 0) {
                log_warning_errno(r, "Cannot enable lingering of %s in '%s': %m", user, name);
                return;
        }
        /* Lingering already: logind starts the manager at each boot, nothing to ask. */
        if (r == 0)
                return;

        /* logind starts lingering users' managers when it starts; when it already runs, ask it
         * (or systemd, when the bus is not up yet). Bounded: a container that hangs here only
         * delays the user's manager. */
        (void) snprintf(uidbuf, sizeof(uidbuf), "%u", (unsigned) uid);
        {
                char *argv[] = { (char *) "/bin/sh",
                                 (char *) "-c",
                                 (char *) "loginctl enable-linger \"$1\" 2>/dev/null || "
                                          "systemctl start --no-block \"user@$2.service\"",
                                 (char *) "sh",
                                 (char *) user,
                                 uidbuf,
                                 NULL };

                r = attach_run(c, argv);
        }
        if (r == -ECHILD) {
                log_warning("Cannot attach to '%s' to start the manager of %s.", name, user);
                return;
        }
        if (r != 0)
                log_warning(
                        "Starting the manager of %s in '%s' failed (%d), probably as systemd is still starting; logind starts it from the linger file when it comes up.",
                        user, name, r);
        else
                log_info("User %s in '%s' lingers; its manager runs.", user, name);
}

/* Makes sure of the user in the running container c, once: the meta remembers it. */
static int start_ensure_user(
        struct lxc_container *c,
        const char *name,
        const ContainerMeta *m,
        const char *user,
        uint32_t uid,
        StartResult *res,
        char **reterr_message) {
        _cleanup_close_ int lock = -EBADF;
        char dir[PATH_MAX];
        ContainerMeta now;
        bool created = false;
        int r;

        if (streq(user, "root") || container_meta_has_user(m, user)) {
                res->user_ready = true;
                return 0;
        }
        r = container_ensure_user(c, user, uid, &created, reterr_message);
        if (r < 0) {
                log_warning(
                        "Setting up user %s in '%s' failed: %s", user, name,
                        reterr_message && *reterr_message ? *reterr_message : strerror(-r));
                return r;
        }
        res->user_ready = true;
        res->user_created = created;
        log_info("User %s in '%s' %s.", user, name, created ? "created" : "exists");

        /* Reread under the lock: another start may have recorded a user meanwhile. */
        lock = lock_lxc();
        if (lock < 0) {
                log_warning_errno(
                        lock, "Cannot lock %s, user %s not remembered: %m", STATEFUL_LXC_PATH, user);
                return 0;
        }
        (void) snprintf(dir, sizeof(dir), STATEFUL_LXC_PATH "/%s", name);
        r = meta_read_name(name, &now);
        if (r >= 0)
                r = container_meta_add_user(&now, user);
        if (r >= 0)
                r = meta_write(dir, &now);
        if (r < 0)
                log_warning_errno(r, "Cannot record user %s in the meta of '%s': %m", user, name);
        return 0;
}

/* A container of an older tremplin (no idmap in its meta) gets the default user's passthrough:
 * what that user owns in the rootfs moves to SHARE_OWNER_ID once, recorded in the meta. *m gets
 * the new map even when the walk or the record failed part way: the next start redoes both (the
 * walk from the old map is idempotent). */
static void start_ensure_idmap(const char *name, int rootfs, ContainerMeta *m) {
        _cleanup_close_ int lock = -EBADF;
        IdMap from_uid, from_gid, to_uid, to_gid;
        ContainerMeta want = *m, now;
        RemapStats st = {};
        char dir[PATH_MAX];
        usec_t t0;
        uid_t uid;
        gid_t gid;
        int r;

        if (m->idmap_uid != 0)
                return;
        garcon_ids(rootfs, m, &uid, &gid);
        want.idmap_uid = uid > 0 && uid < ID_COUNT ? uid : USER_UID_DEFAULT;
        want.idmap_gid = gid > 0 && gid < ID_COUNT ? gid : USER_UID_DEFAULT;
        container_idmaps(m, &from_uid, &from_gid);
        container_idmaps(&want, &to_uid, &to_gid);
        t0 = now_usec(CLOCK_MONOTONIC);
        r = rootfs_remap_ids(rootfs, &from_uid, &from_gid, &to_uid, &to_gid, &st);
        *m = want;
        if (r < 0) {
                log_warning_errno(
                        r,
                        "Moving the ids of '%s' to the shared-folder map failed part way (retried at the next start): %m",
                        name);
                return;
        }
        log_info(
                "Container '%s': uid %u and gid %u are now the VM's %u (%llu entries, %llu changed, %llu skipped, %llu ms).",
                name, (unsigned) want.idmap_uid, (unsigned) want.idmap_gid, SHARE_OWNER_ID, st.entries,
                st.changed, st.skipped,
                (unsigned long long) ((now_usec(CLOCK_MONOTONIC) - t0) / USEC_PER_MSEC));
        lock = lock_lxc();
        if (lock < 0) {
                log_warning_errno(
                        lock, "Cannot lock %s, id map of '%s' not recorded: %m", STATEFUL_LXC_PATH, name);
                return;
        }
        (void) snprintf(dir, sizeof(dir), STATEFUL_LXC_PATH "/%s", name);
        r = meta_read_name(name, &now);
        if (r >= 0) {
                now.idmap_uid = want.idmap_uid;
                now.idmap_gid = want.idmap_gid;
                r = meta_write(dir, &now);
        }
        if (r < 0)
                log_warning_errno(r, "Cannot record the id map in the meta of '%s': %m", name);
}

/* mnt/shared in the rootfs and a fresh carrier with the requested shares: whether the config
 * binds the carrier. A share that cannot be bound is logged and left out; the container starts. */
static bool start_prepare_shares(
        const Bistro__Tremplin__StartContainerRequest *req, const char *name, int rootfs, uid_t owner) {
        int r;

        r = share_prepare_target(rootfs, owner);
        if (r < 0) {
                log_warning_errno(
                        r, "Container '%s' gets no shares: its /mnt/shared is not a plain directory: %m",
                        name);
                return false;
        }
        r = share_carrier_setup(name);
        if (r < 0) {
                log_warning_errno(r, "Container '%s' gets no shares: cannot mount its carrier: %m", name);
                return false;
        }
        for (size_t i = 0; i < req->n_shares; i++) {
                const Bistro__Tremplin__ShareMount *s = req->shares[i];

                r = share_bind(name, s->name, s->read_only);
                if (r < 0)
                        log_warning_errno(r, "Share '%s' not bound into '%s': %m", s->name, name);
                else
                        log_info("Share '%s' in '%s'%s.", s->name, name, s->read_only ? " (read-only)" : "");
        }
        return true;
}

/* Writes what a start needs (token, resolv.conf, config), then starts and waits for RUNNING. */
static int start_stopped(
        const Bistro__Tremplin__StartContainerRequest *req,
        const ContainerMeta *m,
        struct lxc_container **ret,
        char **reterr_message) {
        _cleanup_lxc_container_put_ struct lxc_container *c = NULL;
        _cleanup_close_ int dfd = -EBADF, rootfs = -EBADF;
        const char *name = req->name;
        char dir[PATH_MAX], logpath[PATH_MAX];
        ContainerMeta tzm = *m, cur = *m;
        bool shares;
        int r;

        (void) snprintf(dir, sizeof(dir), STATEFUL_LXC_PATH "/%s", name);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                rootfs = openat(dfd, "rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (rootfs < 0)
                return set_error_message(reterr_message, -errno, "container '%s' has no rootfs: %m", name);
        r = token_write(name, req->token, slot_id_base(m->slot));
        if (r < 0)
                return set_error_message(reterr_message, r, "cannot write the token: %s", strerror(-r));
        (void) network_setup();
        r = network_write_resolv_conf(rootfs);
        if (r < 0)
                log_warning_errno(r, "Cannot write resolv.conf of '%s', continuing: %m", name);
        apply_saved_timezone(rootfs, name, &tzm);
        if (rootfs_init(rootfs) == INIT_SYSTEMD) {
                r = rootfs_install_garcon_unit(
                        rootfs, slot_id_base(m->slot), m->n_users > 0 ? m->users[0] : NULL,
                        access(GARCON_PATH, X_OK) == 0);
                if (r < 0)
                        log_warning_errno(r, "Cannot install " GARCON_UNIT " in '%s', continuing: %m", name);
        }
        start_ensure_idmap(name, rootfs, &cur);
        shares = start_prepare_shares(req, name, rootfs, slot_id_base(m->slot));
        r = write_lxc_config(dir, dir, name, &cur, rootfs, shares);
        if (r < 0)
                return set_error_message(
                        reterr_message, r, "cannot write the container config: %s", strerror(-r));
        (void) mkdir_p(LXC_LOG_DIR, 0700);
        (void) snprintf(logpath, sizeof(logpath), LXC_LOG_DIR "/%s.log", name);
        if (truncate(logpath, 0) < 0 && errno != ENOENT)
                log_debug_errno(errno, "Cannot truncate %s: %m", logpath);

        c = container_open(name);
        if (!c)
                return set_error_message(reterr_message, -EIO, "liblxc cannot load container '%s'", name);
        c->want_daemonize(c, true);
        c->want_close_all_fds(c, true);
        log_info("Starting container '%s' (slot %u).", name, m->slot);
        if (!c->start(c, 0, NULL) || !c->wait(c, "RUNNING", START_TIMEOUT_S)) {
                _cleanup_free_ char *tail = lxc_log_tail(name);

                log_error("Container '%s' failed to start: %s", name, tail ?: "no LXC log");
                if (c->is_running(c))
                        (void) c->stop(c);
                return set_error_message(
                        reterr_message, -EIO, "container '%s' failed to start:\n%s", name,
                        tail ?: "(LXC logged nothing; see the VM log)");
        }
        *ret = TAKE_PTR(c);
        return 1;
}

/* Containers with an init of their own (busybox, OpenRC...): bistro-init --supervise keeps garcon
 * running as the default user, started through an attach at each start of the container (the
 * container's init knows nothing of it; it goes when the container stops). Bounded, logged. */
static void start_garcon_supervisor(struct lxc_container *c, const char *name, const ContainerMeta *m) {
        _cleanup_close_ int dfd = -EBADF, rootfs = -EBADF;
        char dir[PATH_MAX], uidbuf[16], gidbuf[16];
        uid_t uid;
        gid_t gid;
        int r;

        if (access(GARCON_PATH, X_OK) < 0)
                return;
        (void) snprintf(dir, sizeof(dir), STATEFUL_LXC_PATH "/%s", name);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                rootfs = openat(dfd, "rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (rootfs < 0 || rootfs_init(rootfs) != INIT_OTHER)
                return;
        garcon_ids(rootfs, m, &uid, &gid);
        (void) snprintf(uidbuf, sizeof(uidbuf), "%u", (unsigned) uid);
        (void) snprintf(gidbuf, sizeof(gidbuf), "%u", (unsigned) gid);
        {
                char *argv[] = { (char *) BISTRO_INIT,
                                 (char *) "--supervise",
                                 (char *) "--garcon-uid",
                                 uidbuf,
                                 (char *) "--garcon-gid",
                                 gidbuf,
                                 NULL };

                r = attach_run(c, argv);
        }
        if (r == -ECHILD) {
                log_warning("Cannot attach to '%s' to start garcon.", name);
                return;
        }
        if (r != 0)
                log_warning("Starting garcon's supervisor in '%s' failed (%d).", name, r);
        else
                log_info(
                        "garcon runs in '%s' as %u:%u (supervised by bistro-init).", name, (unsigned) uid,
                        (unsigned) gid);
}

int container_start(
        const Bistro__Tremplin__StartContainerRequest *req,
        Bistro__Tremplin__ContainerInfo *info,
        StartResult *ret_result,
        char **reterr_message) {
        _cleanup_lxc_container_put_ struct lxc_container *c = NULL;
        const char *name = req->name, *user = req->user ?: "";
        StartResult res = {};
        bool started = false;
        ContainerMeta m;
        int r;

        r = check_stateful(reterr_message);
        if (r < 0)
                return r;
        if (meta_read_name(name, &m) < 0)
                return no_container(reterr_message, name);
        c = container_open(name);
        if (!c)
                return set_error_message(reterr_message, -EIO, "liblxc cannot load container '%s'", name);
        if (!c->is_running(c)) {
                lxc_container_putp(&c);
                r = start_stopped(req, &m, &c, reterr_message);
                if (r < 0)
                        return r;
                started = true;
        }
        r = container_fill_info(info, name, &m, c);
        if (r < 0)
                return r;
        if (started) {
                if (info->init_pid > 0)
                        check_cgroup(name, info->init_pid);
                log_info("Container '%s' is running (init pid %d).", name, (int) info->init_pid);
                start_garcon_supervisor(c, name, &m);
        }
        if (user[0]) {
                r = start_ensure_user(c, name, &m, user, req->uid, &res, reterr_message);
                if (r < 0) {
                        container_info_done(info);
                        return r;
                }
                /* At a boot or a new user: the fast path answers the rest. */
                if (!streq(user, "root") &&
                    (started || res.user_created || !container_meta_has_user(&m, user)))
                        setup_user_services(c, name, &m, user);
        }
        res.started = started;
        if (ret_result)
                *ret_result = res;
        return 0;
}

int container_stop(const char *name, bool force, char **reterr_message) {
        _cleanup_lxc_container_put_ struct lxc_container *c = NULL;
        ContainerMeta m;
        bool ok;

        if (meta_read_name(name, &m) < 0)
                return no_container(reterr_message, name);
        c = container_open(name);
        if (!c)
                return set_error_message(reterr_message, -EIO, "liblxc cannot load container '%s'", name);
        if (!c->is_running(c))
                return 0;
        log_info("Stopping container '%s'%s.", name, force ? " (force)" : "");
        ok = !force && c->shutdown(c, STOP_CLEAN_S);
        if (!ok) {
                if (!force)
                        log_warning(
                                "Container '%s' did not stop within %d s; killing it.", name, STOP_CLEAN_S);
                ok = c->stop(c);
        }
        if (!ok && c->is_running(c))
                return set_error_message(reterr_message, -EIO, "cannot stop container '%s'", name);
        (void) sync();
        log_info("Container '%s' stopped.", name);
        return 0;
}

/* The running container name, or -ESRCH (with the message). */
static int open_running(const char *name, struct lxc_container **ret, char **reterr_message) {
        _cleanup_lxc_container_put_ struct lxc_container *c = NULL;
        ContainerMeta m;

        if (meta_read_name(name, &m) < 0)
                return no_container(reterr_message, name);
        c = container_open(name);
        if (!c || !c->is_running(c))
                return set_error_message(reterr_message, -ESRCH, "container '%s' is not running", name);
        *ret = TAKE_PTR(c);
        return 0;
}

int container_add_share(const Bistro__Tremplin__AddShareRequest *req, char **reterr_message) {
        _cleanup_lxc_container_put_ struct lxc_container *c = NULL;
        const char *name = req->container, *share = req->share->name;
        int r;

        r = open_running(name, &c, reterr_message);
        if (r < 0)
                return r;
        r = share_check_container(c->init_pid(c), name);
        if (r == -ENOTCONN)
                return set_error_message(
                        reterr_message, -ENOTCONN,
                        "container '%s' was started without shares; restart it to get them", name);
        if (r == -ENOTDIR)
                return set_error_message(
                        reterr_message, -ENOTDIR,
                        "/mnt/shared in container '%s' is not the shares' mount (unmounted or replaced in the container); nothing bound",
                        name);
        if (r < 0)
                return set_error_message(
                        reterr_message, r, "cannot look at /mnt/shared in container '%s': %s", name,
                        strerror(-r));
        r = share_bind(name, share, req->share->read_only);
        if (r == -ENOENT)
                return set_error_message(reterr_message, r, "the VM has no share '%s'", share);
        if (r == -ELOOP || r == -ENOTDIR)
                return set_error_message(
                        reterr_message, r, "share '%s' is not a directory of " SHARES_MOUNT, share);
        if (r < 0)
                return set_error_message(
                        reterr_message, r, "cannot bind share '%s' into '%s': %s", share, name,
                        strerror(-r));
        log_info("Share '%s' in '%s'%s.", share, name, req->share->read_only ? " (read-only)" : "");
        return 0;
}

int container_remove_share(const Bistro__Tremplin__RemoveShareRequest *req, char **reterr_message) {
        _cleanup_lxc_container_put_ struct lxc_container *c = NULL;
        int r;

        r = open_running(req->container, &c, reterr_message);
        if (r < 0)
                return r;
        r = share_unbind(req->container, req->name);
        if (r < 0)
                return set_error_message(
                        reterr_message, r, "cannot detach share '%s' from '%s': %s", req->name,
                        req->container, strerror(-r));
        log_info("Share '%s' detached from '%s'.", req->name, req->container);
        return 0;
}

int container_delete(const char *name, char **reterr_message) {
        _cleanup_close_ int lock = -EBADF, dfd = -EBADF;
        char dir[PATH_MAX], del[PATH_MAX], delname[PROTO_NAME_MAX + 8];
        ContainerMeta m;
        int r;

        r = check_stateful(reterr_message);
        if (r < 0)
                return r;
        if (meta_read_name(name, &m) < 0)
                return no_container(reterr_message, name);
        lock = lock_lxc();
        if (lock < 0)
                return set_error_message(
                        reterr_message, lock, "cannot lock %s: %s", STATEFUL_LXC_PATH, strerror(-lock));
        {
                _cleanup_lxc_container_put_ struct lxc_container *c = container_open(name);

                if (c && c->is_running(c))
                        return set_error_message(
                                reterr_message, -EBUSY, "container '%s' is running; stop it first", name);
        }
        (void) snprintf(dir, sizeof(dir), STATEFUL_LXC_PATH "/%s", name);
        (void) snprintf(delname, sizeof(delname), ".del-%s", name);
        (void) snprintf(del, sizeof(del), STATEFUL_LXC_PATH "/%s", delname);
        if (rename(dir, del) < 0)
                return set_error_message(reterr_message, -errno, "cannot delete '%s': %m", name);
        dfd = open(del, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd >= 0 && flock(dfd, LOCK_EX) < 0)
                log_debug_errno(errno, "Cannot lock %s: %m", del);
        lock = safe_close(lock);
        r = remove_container_dir(delname, false);
        if (r < 0)
                log_warning_errno(
                        r, "Leftovers of '%s' stay in %s (removed at the next start): %m", name, del);
        token_remove(name);
        share_carrier_remove(name);
        (void) sync();
        log_info("Container '%s' deleted.", name);
        return 0;
}

void containers_stop_all(int timeout_ms) {
        struct lxc_container **cs = NULL;
        char **names = NULL;
        int n;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + (usec_t) timeout_ms * USEC_PER_MSEC;

        n = list_active_containers(STATEFUL_LXC_PATH, &names, &cs);
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
                if (!any || now_usec(CLOCK_MONOTONIC) >= deadline)
                        break;
                (void) poll(NULL, 0, 100);
        }
        for (int i = 0; i < n; i++)
                if (cs[i]->is_running(cs[i])) {
                        log_warning("Container '%s' did not stop in time; killing it.", names[i]);
                        (void) cs[i]->stop(cs[i]);
                }
        lxc_containers_free(cs, names, n);
        sync();
}
