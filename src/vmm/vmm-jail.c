/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "path-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "vmm-jail.h"

#define LDSO "/lib64/ld-linux-x86-64.so.2"
#define LDSO_OUTPUT_MAX (256 * 1024)
#define LDSO_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define FD_BASE 3

void jail_done(Jail *j) {
        for (size_t i = 0; i < j->n_binds; i++) {
                free(j->binds[i].src);
                free(j->binds[i].dst);
        }
        free(j->binds);
        *j = (Jail){};
}

const JailBind *jail_find_dst(const Jail *j, const char *dst) {
        for (size_t i = 0; i < j->n_binds; i++)
                if (streq(j->binds[i].dst, dst))
                        return &j->binds[i];
        return NULL;
}

bool jail_has_dst(const Jail *j, const char *dst) {
        return jail_find_dst(j, dst);
}

int jail_add_bind(Jail *j, const char *src, const char *dst, bool writable) {
        _cleanup_free_ char *real = NULL, *copy = NULL;
        JailBind *b;

        if (!src || src[0] != '/')
                return -EINVAL;
        dst = dst ?: src;
        /* The child creates dst's parents in the new root: no way out of it through "..". */
        if (!path_is_normalized_absolute(dst) || streq(dst, "/"))
                return -EINVAL;
        if (jail_has_dst(j, dst))
                return 0;
        if (j->n_binds >= JAIL_BINDS_MAX)
                return -E2BIG;
        real = realpath(src, NULL);
        if (!real)
                return -errno;
        copy = strdup(dst);
        if (!copy)
                return -ENOMEM;
        b = reallocarray_safe(j->binds, j->n_binds + 1, sizeof(JailBind));
        if (!b)
                return -ENOMEM;
        j->binds = b;
        j->binds[j->n_binds++] = (JailBind){
                .src = TAKE_PTR(real),
                .dst = TAKE_PTR(copy),
                .writable = writable,
        };
        return 0;
}

/* Runs "ld.so --list OBJ" and binds every absolute path it prints. Simpler and more faithful
 * than resolving DT_NEEDED ourselves: it is the loader that will run in the jail. */
static int add_ldso_list(Jail *j, const char *object) {
        _cleanup_free_ char *out = NULL;
        int r;

        /* One byte more than we accept, to tell "exactly at the limit" from "cut off". */
        r = spawn_capture(
                (char *[]){ (char *) LDSO, (char *) "--list", (char *) object, NULL },
                &(SpawnOptions){
                        .stdin_fd = -EBADF,
                        .stdout_fd = -EBADF,
                        .timeout = LDSO_TIMEOUT_USEC,
                        .max_output = LDSO_OUTPUT_MAX + 1,
                },
                &out);
        if (r < 0)
                return r;
        if (r != 0)
                return -ENOEXEC;
        if (strlen(out) > LDSO_OUTPUT_MAX)
                return -E2BIG;

        /* Lines: "\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" or "\t/lib64/ld-linux... (0x...)".
         */
        for (char *save = NULL, *line = strtok_r(out, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                char *path = strstr(line, "=> ");
                char *end;

                path = path ? path + 3 : line;
                while (*path == '\t' || *path == ' ')
                        path++;
                if (*path != '/')
                        continue;
                end = strstr(path, " (");
                if (end)
                        *end = 0;
                r = jail_add_bind(j, path, NULL, false);
                if (r < 0)
                        return r;
        }
        return 0;
}

int jail_add_elf_closure(Jail *j, const char *binary, char *const *extra) {
        int r;

        r = jail_add_bind(j, binary, NULL, false);
        if (r < 0)
                return r;
        r = add_ldso_list(j, binary);
        if (r < 0)
                return r;
        for (char *const *e = extra; e && *e; e++) {
                r = jail_add_bind(j, *e, NULL, false);
                if (r < 0)
                        return r;
                r = add_ldso_list(j, *e);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool file_is_qcow2(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint8_t magic[4];

        return fd >= 0 && read(fd, magic, 4) == 4 && memcmp(magic, "QFI\xfb", 4) == 0;
}

int jail_build_qemu(Jail *j, const JailQemuSpec *spec, QemuDisk *ret_disks) {
        static const char *const firmware[] = { "bios-microvm.bin", "linuxboot_dma.bin", "pvh.bin" };
        _cleanup_free_ char *tmp = NULL, *moddir = NULL, *datadir = NULL, *tcg = NULL;
        char *extra[2] = {};
        const char *bindir;
        int r;

        tmp = strdup(spec->qemu);
        if (!tmp)
                return log_oom();
        bindir = dirname(tmp);
        j->share_net = spec->net_user;

        /* QEMU looks for modules and firmware relative to its binary; bind them at the resolved
         * paths, which is where "<bindir>/../lib" and "<bindir>/../share" lead inside the jail too. */
        {
                _cleanup_free_ char *m = path_join(bindir, "../lib/x86_64-linux-gnu/qemu");
                _cleanup_free_ char *d = path_join(bindir, "../share/qemu");

                if (!m || !d)
                        return log_oom();
                moddir = realpath(m, NULL);
                datadir = realpath(d, NULL);
        }
        if (!datadir)
                return log_error_errno(
                        SYNTHETIC_ERRNO(ENOENT), "QEMU's data directory next to '%s' is missing.",
                        spec->qemu);
        /* Debian builds TCG as a module; it is the only module a microvm needs. */
        if (spec->accel == ACCEL_TCG && moddir) {
                tcg = path_join(moddir, "accel-tcg-x86_64.so");
                if (!tcg)
                        return log_oom();
                if (access(tcg, R_OK) == 0)
                        extra[0] = tcg;
        }
        r = jail_add_elf_closure(j, spec->qemu, extra);
        if (r < 0)
                return log_error_errno(r, "Cannot collect QEMU's libraries: %m");
        for (size_t i = 0; i < ELEMENTSOF(firmware); i++) {
                _cleanup_free_ char *src = path_join(datadir, firmware[i]);

                if (!src)
                        return log_oom();
                if (access(src, R_OK) < 0)
                        continue;
                r = jail_add_bind(j, src, NULL, false);
                if (r < 0)
                        return log_error_errno(r, "Cannot bind '%s': %m", src);
        }
        r = jail_add_bind(j, "/dev/null", NULL, false);
        if (r >= 0)
                r = jail_add_bind(j, "/dev/urandom", NULL, false);
        if (r >= 0 && spec->accel == ACCEL_KVM)
                r = jail_add_bind(j, "/dev/kvm", NULL, true);
        if (r < 0)
                return log_error_errno(r, "Cannot bind device nodes: %m");
        /* libslirp forwards the guest's DNS (10.0.2.3) to the resolvers in /etc/resolv.conf;
         * without the file in the jail it asks 127.0.0.1 and the guest gets no answer. */
        if (spec->net_user && access("/etc/resolv.conf", R_OK) == 0) {
                r = jail_add_bind(j, "/etc/resolv.conf", NULL, false);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        log_warning_errno(r, "Cannot bind /etc/resolv.conf, the guest will have no DNS: %m");
        }
        r = jail_add_bind(j, spec->kernel, "/vm/kernel", false);
        if (r < 0)
                return log_error_errno(r, "Cannot bind kernel '%s': %m", spec->kernel);
        if (spec->initrd) {
                r = jail_add_bind(j, spec->initrd, "/vm/initrd", false);
                if (r < 0)
                        return log_error_errno(r, "Cannot bind initrd '%s': %m", spec->initrd);
        }
        for (size_t i = 0; i < spec->n_disks; i++) {
                const QemuDisk *d = &spec->disks[i];
                const JailBind *b;
                char dst[32];

                (void) snprintf(dst, sizeof(dst), "/vm/disk%zu", i);
                r = jail_add_bind(j, d->path, dst, !d->read_only);
                if (r < 0)
                        return log_error_errno(r, "Cannot bind disk '%s': %m", d->path);
                b = jail_find_dst(j, dst);
                assert(b);
                ret_disks[i] = (QemuDisk){
                        .path = b->dst,
                        .read_only = d->read_only,
                        .qcow2 = file_is_qcow2(d->path),
                };
        }
        return 0;
}

/* ---- Child side: runs between clone and exec. No allocation, no logging; errors go to the pipe. */

typedef struct ChildError {
        int error;
        char step[64];
} ChildError;

static _noreturn_ void child_fail(int errfd, int error, const char *step) {
        ChildError e = { .error = error < 0 ? -error : error };

        strscpy(e.step, step, sizeof(e.step));
        (void) !write(errfd, &e, sizeof(e));
        _exit(127);
}

/* mkdir -p of the parents of path, inside the new root. path is absolute and short. */
static int mkdir_parents(const char *path) {
        char buf[PATH_MAX];

        if (strlen(path) >= sizeof(buf))
                return -ENAMETOOLONG;
        strscpy(buf, path, sizeof(buf));
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        return 0;
}

static unsigned long statvfs_to_mount_flags(unsigned long f) {
        unsigned long m = 0;

        /* Flags the kernel locks on mounts inherited into a user namespace must be kept on remount. */
        if (f & ST_NOSUID)
                m |= MS_NOSUID;
        if (f & ST_NODEV)
                m |= MS_NODEV;
        if (f & ST_NOEXEC)
                m |= MS_NOEXEC;
        if (f & ST_NOATIME)
                m |= MS_NOATIME;
        if (f & ST_NODIRATIME)
                m |= MS_NODIRATIME;
        if (f & ST_RELATIME)
                m |= MS_RELATIME;
        if (f & ST_RDONLY)
                m |= MS_RDONLY;
        return m;
}

static int bind_one(const JailBind *b) {
        char src[PATH_MAX];
        struct statvfs sv;
        struct stat st;
        unsigned long flags;
        int r;

        if (snprintf(src, sizeof(src), "/oldroot%s", b->src) >= (int) sizeof(src))
                return -ENAMETOOLONG;
        if (stat(src, &st) < 0)
                return -errno;
        r = mkdir_parents(b->dst);
        if (r < 0)
                return r;
        if (S_ISDIR(st.st_mode)) {
                if (mkdir(b->dst, 0755) < 0 && errno != EEXIST)
                        return -errno;
        } else {
                int fd = open(b->dst, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (fd < 0)
                        return -errno;
                safe_close(fd);
        }
        if (mount(src, b->dst, NULL, MS_BIND | MS_REC, NULL) < 0)
                return -errno;
        if (statvfs(b->dst, &sv) < 0)
                return -errno;
        flags = statvfs_to_mount_flags(sv.f_flag) | MS_BIND | MS_REMOUNT | MS_NOSUID;
        if (!b->writable)
                flags |= MS_RDONLY;
        if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
                flags |= MS_NODEV;
        if (mount(NULL, b->dst, NULL, flags, NULL) < 0)
                return -errno;
        return 0;
}

int jail_drop_capabilities(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};

        for (unsigned long c = 0; c < 64; c++)
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
                        return -errno;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return -errno;
        /* uid 0 in the jail's user namespace must not get capabilities back at exec. */
        if (prctl(PR_SET_SECUREBITS,
                  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                          SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                          SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
                  0, 0, 0) < 0)
                return -errno;
        if (syscall(SYS_capset, &h, d) < 0)
                return -errno;
        return 0;
}

static _noreturn_ void child_run(
        const Jail *j, char *const *argv, const int *fds, size_t n_fds, int errfd, uid_t uid, gid_t gid) {
        static const char base[] = "/tmp";
        char map[64];
        int moved[16], null_fd, r;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                child_fail(errfd, errno, "PR_SET_PDEATHSIG");

        /* Map our own ids only: root stays root (without capabilities), a user stays that user. */
        r = write_string_file("/proc/self/setgroups", "deny", 0);
        if (r < 0)
                child_fail(errfd, r, "setgroups deny");
        (void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) gid, (unsigned) gid);
        r = write_string_file("/proc/self/gid_map", map, 0);
        if (r < 0)
                child_fail(errfd, r, "gid_map");
        (void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) uid, (unsigned) uid);
        r = write_string_file("/proc/self/uid_map", map, 0);
        if (r < 0)
                child_fail(errfd, r, "uid_map");

        /* The new root: a tmpfs mounted over /tmp and pivoted to; the old root stays reachable at
         * /oldroot until the binds are done (the tmpfs moves away, so /oldroot/tmp is the real one). */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                child_fail(errfd, errno, "make / private");
        if (mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m,nr_inodes=4096") < 0)
                child_fail(errfd, errno, "mount tmpfs root");
        if (chdir(base) < 0 || mkdir("oldroot", 0700) < 0)
                child_fail(errfd, errno, "mkdir oldroot");
        if (syscall(SYS_pivot_root, ".", "oldroot") < 0)
                child_fail(errfd, errno, "pivot_root");
        if (chdir("/") < 0)
                child_fail(errfd, errno, "chdir /");
        for (size_t i = 0; i < j->n_binds; i++) {
                r = bind_one(&j->binds[i]);
                if (r < 0)
                        child_fail(errfd, r, j->binds[i].dst);
        }
        /* A proc of our own pid namespace (QEMU finds its data directory through /proc/self/exe);
         * it shows nothing of the host. */
        if (mkdir("/proc", 0555) < 0 ||
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") < 0)
                child_fail(errfd, errno, "mount /proc");
        if (umount2("/oldroot", MNT_DETACH) < 0)
                child_fail(errfd, errno, "umount oldroot");
        if (rmdir("/oldroot") < 0)
                child_fail(errfd, errno, "rmdir oldroot");
        if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
                child_fail(errfd, errno, "remount / read-only");

        /* fds: move out of the way first, then into place; dup2 clears CLOEXEC on the result. */
        if (n_fds > ELEMENTSOF(moved))
                child_fail(errfd, E2BIG, "fds");
        for (size_t i = 0; i < n_fds; i++) {
                moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64);
                if (moved[i] < 0)
                        child_fail(errfd, errno, "dup fd");
        }
        for (size_t i = 0; i < n_fds; i++)
                if (dup2(moved[i], FD_BASE + (int) i) < 0)
                        child_fail(errfd, errno, "dup2 fd");
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0)
                child_fail(errfd, errno, "stdin /dev/null");
        /* Everything else we hold is CLOEXEC; errfd must stay open until exec. */

        r = jail_drop_capabilities();
        if (r < 0)
                child_fail(errfd, r, "drop capabilities");
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail(errfd, errno, "PR_SET_NO_NEW_PRIVS");

        execve(argv[0], argv, (char *[]){ (char *) "PATH=/usr/bin", (char *) "LC_ALL=C", NULL });
        child_fail(errfd, errno, "execve");
}

int jail_spawn(
        const Jail *j,
        char *const *argv,
        const int *fds,
        size_t n_fds,
        int *ret_pidfd,
        const char **ret_step) {
        static char step[sizeof(((ChildError *) NULL)->step) + 1];
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF, pidfd = -EBADF;
        struct clone_args args = {
                .flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
                         CLONE_NEWCGROUP | CLONE_PIDFD | (j->share_net ? 0 : CLONE_NEWNET),
                .exit_signal = SIGCHLD,
        };
        uid_t uid = geteuid();
        gid_t gid = getegid();
        ChildError e;
        ssize_t k;
        long pid;
        int p[2];

        *ret_step = "pipe";
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        rfd = p[0];
        wfd = p[1];
        args.pidfd = (uint64_t) (uintptr_t) &pidfd;

        /* clone3, not safe_fork(): the child is born in its namespaces (a fork() then unshare()
         * could not enter a new pid namespace itself), and the pidfd comes with it, race-free. */
        *ret_step = "clone3";
        pid = syscall(SYS_clone3, &args, sizeof(args));
        if (pid < 0)
                return -errno;
        if (pid == 0)
                child_run(j, argv, fds, n_fds, wfd, uid, gid);

        wfd = safe_close(wfd);
        /* EOF: exec happened (the pipe was CLOEXEC). Data: the child failed before exec. */
        do
                k = read(rfd, &e, sizeof(e));
        while (k < 0 && errno == EINTR);
        if (k != 0) {
                (void) kill((pid_t) pid, SIGKILL);
                (void) waitpid((pid_t) pid, NULL, 0);
                if (k == (ssize_t) sizeof(e)) {
                        e.step[sizeof(e.step) - 1] = 0;
                        strscpy(step, e.step, sizeof(step));
                        *ret_step = step;
                        return e.error > 0 ? -e.error : -EIO;
                }
                *ret_step = "reading the child's status";
                return -EIO;
        }
        *ret_step = NULL;
        *ret_pidfd = TAKE_FD(pidfd);
        return (int) pid;
}
