/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "maitred-init.h"
#include "maitred-util.h"
#include "maitred.h"
#include "string-util.h"

#define MODULES_LIST_MAX (64u * 1024u)

typedef struct MountEntry {
        const char *what;
        const char *where;
        const char *type;
        unsigned long flags;
        const char *options;
} MountEntry;

static const MountEntry mount_table[] = {
        { "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
        { "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL },
        { "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666" },
        { "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
        { "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
        { "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" },
        { "tmpfs", "/var", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
        /* Mount targets (the stateful disk, shares) are created here on a read-only root. */
        { "tmpfs", "/mnt", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755" },
        { "cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "nsdelegate" },
};

/* A mount point has another device than its parent. Good enough for the fixed list above. */
static bool is_mount_point(const char *path) {
        _cleanup_free_ char *parent = NULL;
        struct stat a, b;

        if (asprintf(&parent, "%s/..", path) < 0)
                return false;
        if (stat(path, &a) < 0 || stat(parent, &b) < 0)
                return false;
        return a.st_dev != b.st_dev;
}

static int mount_one(const MountEntry *e) {
        if (mkdir(e->where, 0755) < 0 && errno != EEXIST)
                log_debug_errno(errno, "mkdir '%s' failed, trying anyway: %m", e->where);
        if (is_mount_point(e->where))
                return 0;
        if (mount(e->what, e->where, e->type, e->flags, e->options) < 0)
                return log_error_errno(
                        errno, "Failed to mount %s on '%s', continuing: %m", e->type, e->where);
        return 0;
}

void init_console(void) {
        static const MountEntry dev = { "devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_STRICTATIME,
                                        "mode=0755" };
        int fd;

        (void) mount_one(&dev);
        if (fcntl(STDIN_FILENO, F_GETFD) >= 0 && fcntl(STDOUT_FILENO, F_GETFD) >= 0 &&
            fcntl(STDERR_FILENO, F_GETFD) >= 0)
                return;
        fd = open("/dev/console", O_RDWR | O_NOCTTY);
        if (fd < 0)
                fd = open("/dev/null", O_RDWR | O_NOCTTY);
        if (fd < 0)
                return;
        for (int i = 0; i < 3; i++)
                if (fcntl(i, F_GETFD) < 0)
                        (void) dup2(fd, i);
        if (fd > 2)
                safe_close(fd);
}

void init_mounts(void) {
        static const char *const dirs[] = { MAITRED_RUN_DIR, "/run/lock", "/var/log",
                                            "/var/lib",      "/var/tmp",  "/var/cache" };
        static const char *const links[][2] = {
                { "/proc/self/fd", "/dev/fd" },
                { "/proc/self/fd/0", "/dev/stdin" },
                { "/proc/self/fd/1", "/dev/stdout" },
                { "/proc/self/fd/2", "/dev/stderr" },
        };

        for (size_t i = 0; i < ELEMENTSOF(mount_table); i++)
                (void) mount_one(&mount_table[i]);
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                if (mkdir(dirs[i], 0755) < 0 && errno != EEXIST)
                        log_warning_errno(errno, "Cannot create '%s', ignoring: %m", dirs[i]);
        for (size_t i = 0; i < ELEMENTSOF(links); i++)
                if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST)
                        log_debug_errno(errno, "Cannot create '%s', ignoring: %m", links[i][1]);
}

void init_hostname(const char *conf_dir) {
        _cleanup_free_ char *text = NULL, *path = NULL;
        const char *name = "termina";
        char *nl;

        if (asprintf(&path, "%s/hostname", conf_dir) >= 0 && read_file(path, 256, &text, NULL) >= 0) {
                nl = strchr(text, '\n');
                if (nl)
                        *nl = 0;
                if (name_is_valid(text, 63))
                        name = text;
                else
                        log_warning("Invalid hostname in '%s', using '%s'.", path, name);
        }
        if (sethostname(name, strlen(name)) < 0)
                log_warning_errno(errno, "Failed to set the hostname, ignoring: %m");
}

void init_kmsg(void) {
        _cleanup_close_ int fd = open("/proc/sys/kernel/printk_devkmsg", O_WRONLY | O_CLOEXEC);

        if (fd < 0 || loop_write(fd, "on\n", 3) < 0)
                log_debug_errno(errno, "Cannot turn off /dev/kmsg rate limiting: %m");
}

/* Always overcommit: waypipe mirrors each shared-memory pool of a GUI app with one allocation of the
 * pool's full size, and apps such as foot map pools of 512 MiB of which they touch a few MiB. The
 * default heuristic refuses any single allocation above RAM + swap, so in a 512 MiB VM such an app
 * could never open a window. The guest's OOM killer stays the bound on what is really used. */
void init_overcommit(void) {
        int r = write_string_file("/proc/sys/vm/overcommit_memory", "1", 0);

        if (r < 0)
                log_warning_errno(
                        r, "Cannot set vm.overcommit_memory, GUI apps with large buffers may fail: %m");
}

int init_modules(const char *conf_dir, const char *kernel_release) {
        _cleanup_free_ char *list = NULL, *dep = NULL, *list_path = NULL, *dir = NULL;
        _cleanup_strv_free_ char **loaded = NULL;
        int failures = 0, r;

        if (asprintf(&list_path, "%s/modules", conf_dir) < 0)
                return log_oom();
        r = read_file(list_path, MODULES_LIST_MAX, &list, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Cannot read '%s': %m", list_path);
        r = read_modules_dep(kernel_release, &dir, &dep);
        if (r < 0)
                return log_oom();

        for (char *line = list, *next; line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                line += strspn(line, " \t");
                line[strcspn(line, " \t\r#")] = 0;
                if (!*line)
                        continue;
                r = load_module(dir, dep, line, &loaded);
                if (r == -ENOMEM)
                        (void) log_oom(); /* the only failure load_module() leaves to us */
                if (r < 0)
                        failures++;
        }
        log_info("Loaded %zu modules (%d failures).", strv_length(loaded), failures);
        return failures;
}

void init_device_modes(void) {
        /* The kernel makes it 0600 (devtmpfs); every distribution's udev rules make it 0666: FUSE
         * checks the mounter's rights itself (fusermount3, user namespaces). */
        if (chmod("/dev/fuse", 0666) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Cannot make /dev/fuse usable by everyone, ignoring: %m");
}

static bool filesystem_known(const char *fstype) {
        _cleanup_free_ char *text = NULL;
        size_t n = strlen(fstype);

        if (read_file("/proc/filesystems", 64 * 1024, &text, NULL) < 0)
                return false;
        /* Lines are "[nodev]\t<name>". */
        for (char *p = text; (p = strstr(p, fstype)); p += n)
                if (p > text && p[-1] == '\t' && (p[n] == '\n' || p[n] == 0))
                        return true;
        return false;
}

int modules_load_filesystem(const char *kernel_release, const char *fstype) {
        _cleanup_free_ char *dir = NULL, *dep = NULL;
        _cleanup_strv_free_ char **loaded = NULL;
        int r;

        if (!*fstype || filesystem_known(fstype))
                return 0;
        r = read_modules_dep(kernel_release, &dir, &dep);
        if (r < 0)
                return log_oom();
        r = load_module(dir, dep, fstype, &loaded);
        if (r == -ENOMEM)
                return log_oom(); /* the only failure load_module() leaves to us */
        if (r >= 0)
                log_info("Loaded the '%s' filesystem (%zu modules).", fstype, strv_length(loaded));
        return r;
}
