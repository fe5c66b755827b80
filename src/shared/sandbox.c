/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "fileio.h"
#include "macro.h"
#include "path-util.h"
#include "sandbox.h"
#include "string-util.h"

#ifndef SECBIT_NOROOT
#        define SECBIT_NOROOT (1 << 0)
#        define SECBIT_NOROOT_LOCKED (1 << 1)
#        define SECBIT_NO_SETUID_FIXUP (1 << 2)
#        define SECBIT_NO_SETUID_FIXUP_LOCKED (1 << 3)
#        define SECBIT_KEEP_CAPS_LOCKED (1 << 5)
#        define SECBIT_NO_CAP_AMBIENT_RAISE (1 << 6)
#        define SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED (1 << 7)
#endif

/* Sanitizer runtimes define these; weak references are NULL otherwise (minijail's trick). */
extern void __asan_init(void) __attribute__((weak));
extern void __ubsan_handle_add_overflow(void *, void *, void *) __attribute__((weak));

bool sandbox_sanitizer_build(void) {
        return __asan_init || __ubsan_handle_add_overflow;
}

/* Any directory that exists everywhere; only our private mount namespace sees the tmpfs on it. */
#define NEW_ROOT "/tmp"

#define SANDBOX_FILES_MAX 8u

static void close_fds(int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                fds[i] = safe_close(fds[i]);
}

/* Opens each of o->files (following symlinks: the target's content is what gets bound) before the
 * tmpfs hides anything; -EBADF for one that does not exist. */
static int open_files(const SandboxOptions *o, int *fds, char **reterr_message) {
        for (size_t i = 0; i < o->n_files; i++) {
                struct stat st;

                fds[i] = open(o->files[i], O_PATH | O_CLOEXEC);
                if (fds[i] < 0) {
                        if (errno == ENOENT)
                                continue;
                        return set_error_message(reterr_message, -errno, "opening '%s' failed", o->files[i]);
                }
                if (fstat(fds[i], &st) < 0)
                        return set_error_message(reterr_message, -errno, "stat of '%s' failed", o->files[i]);
                if (!S_ISREG(st.st_mode))
                        return set_error_message(
                                reterr_message, -EINVAL, "'%s' is not a regular file", o->files[i]);
        }
        return 0;
}

/* mkdir -p of the parents of path (below the new root, so relative to NEW_ROOT) and an empty file to
 * mount on. */
static int make_mount_point(const char *path, char **reterr_message) {
        char p[256];
        int fd;

        if (snprintf(p, sizeof(p), NEW_ROOT "%s", path) >= (int) sizeof(p))
                return set_error_message(reterr_message, -ENAMETOOLONG, "path '%s' too long", path);
        for (char *s = p + strlen(NEW_ROOT) + 1; (s = strchr(s, '/')); s++) {
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return set_error_message(reterr_message, -errno, "mkdir '%s' failed", p);
                *s = '/';
        }
        fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
        if (fd < 0)
                return set_error_message(reterr_message, -errno, "creating '%s' failed", p);
        safe_close(fd);
        return 0;
}

static int bind_files(const SandboxOptions *o, const int *fds, char **reterr_message) {
        for (size_t i = 0; i < o->n_files; i++) {
                char fd_path[64], target[256];
                int r;

                if (fds[i] < 0)
                        continue;
                r = make_mount_point(o->files[i], reterr_message);
                if (r < 0)
                        return r;
                (void) snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fds[i]);
                (void) snprintf(target, sizeof(target), NEW_ROOT "%s", o->files[i]);
                if (mount(fd_path, target, NULL, MS_BIND, NULL) < 0)
                        return set_error_message(
                                reterr_message, -errno, "bind-mounting '%s' failed", o->files[i]);
                if (mount(NULL, target, NULL,
                          MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                        return set_error_message(
                                reterr_message, -errno, "remounting '%s' read-only failed", o->files[i]);
        }
        return 0;
}

static int check_options(const SandboxOptions *o, char *inner, size_t inner_size, char **reterr_message) {
        if (o->dir && (!o->inner_dir || o->inner_dir[0] != '/' ||
                       snprintf(inner, inner_size, NEW_ROOT "%s", o->inner_dir) >= (int) inner_size))
                return set_error_message(
                        reterr_message, -EINVAL, "invalid directory '%s'", o->inner_dir ?: "(null)");
        if (o->exec_dir &&
            (!o->exec_inner_dir || !path_is_normalized_absolute(o->exec_inner_dir) ||
             streq(o->exec_inner_dir, "/") || (o->dir && streq(o->exec_inner_dir, o->inner_dir))))
                return set_error_message(
                        reterr_message, -EINVAL, "invalid directory '%s'", o->exec_inner_dir ?: "(null)");
        if (o->n_files > SANDBOX_FILES_MAX)
                return set_error_message(reterr_message, -E2BIG, "too many files (%zu)", o->n_files);
        for (size_t i = 0; i < o->n_files; i++)
                /* Normalized, so that no ".." climbs out of the new root, and not "/" itself. */
                if (!o->files[i] || !path_is_normalized_absolute(o->files[i]) || streq(o->files[i], "/") ||
                    strlen(o->files[i]) + strlen(NEW_ROOT) >= 256)
                        return set_error_message(
                                reterr_message, -EINVAL, "invalid file '%s'", o->files[i] ?: "(null)");
        return 0;
}

/* Binds the directory open as fd at inner (below NEW_ROOT), then makes it nosuid and nodev, read-only
 * unless writable, and noexec unless exec. */
static int bind_dir(
        int fd, const char *what, const char *inner, bool writable, bool exec, char **reterr_message) {
        char fd_path[64];

        (void) snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
        if (mkdir(inner, 0755) < 0)
                return set_error_message(reterr_message, -errno, "mkdir failed");
        if (mount(fd_path, inner, NULL, MS_BIND | MS_REC, NULL) < 0)
                return set_error_message(reterr_message, -errno, "bind-mounting '%s' failed", what);
        /* Read-only is fine for sockets: connect() needs no write access to the file system, only to
         * the socket inode, which is not subject to MS_RDONLY. */
        if (mount(NULL, inner, NULL,
                  MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (writable ? 0 : MS_RDONLY) |
                          (exec ? 0 : MS_NOEXEC),
                  NULL) < 0)
                return set_error_message(reterr_message, -errno, "remounting '%s' failed", what);
        return 0;
}

static int enter_namespaces(const SandboxOptions *o, char **reterr_message) {
        _cleanup_close_ int dir_fd = -EBADF, exec_fd = -EBADF;
        char exec_inner[256] = "";
        int file_fds[SANDBOX_FILES_MAX];
        char map[64], inner[256] = "";
        uid_t uid = getuid();
        gid_t gid = getgid();
        int r;

        for (size_t i = 0; i < ELEMENTSOF(file_fds); i++)
                file_fds[i] = -EBADF;
        r = check_options(o, inner, sizeof(inner), reterr_message);
        if (r < 0)
                return r;
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
                    (o->keep_network ? 0 : CLONE_NEWNET)) < 0)
                return set_error_message(reterr_message, -errno, "unshare() failed");

        /* Map only ourselves: the same ids inside, so the socket files stay accessible. */
        r = write_string_file("/proc/self/setgroups", "deny", 0);
        if (r < 0)
                return set_error_message(reterr_message, r, "writing setgroups failed");
        (void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) uid, (unsigned) uid);
        r = write_string_file("/proc/self/uid_map", map, 0);
        if (r < 0)
                return set_error_message(reterr_message, r, "writing uid_map failed");
        (void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) gid, (unsigned) gid);
        r = write_string_file("/proc/self/gid_map", map, 0);
        if (r < 0)
                return set_error_message(reterr_message, r, "writing gid_map failed");

        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return set_error_message(reterr_message, -errno, "making mounts private failed");

        /* Opened in the new namespace (a mount of another one cannot be bound) but before the tmpfs
         * covers /tmp, where dir (or a file) may lie. */
        if (o->dir) {
                dir_fd = open(o->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (dir_fd < 0)
                        return set_error_message(reterr_message, -errno, "opening '%s' failed", o->dir);
        }
        if (o->exec_dir) {
                exec_fd = open(o->exec_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (exec_fd < 0)
                        return set_error_message(reterr_message, -errno, "opening '%s' failed", o->exec_dir);
                (void) snprintf(exec_inner, sizeof(exec_inner), NEW_ROOT "%s", o->exec_inner_dir);
        }
        r = open_files(o, file_fds, reterr_message);
        if (r >= 0 &&
            mount("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=16k") < 0)
                r = set_error_message(reterr_message, -errno, "mounting a tmpfs root failed");
        if (r >= 0)
                r = bind_files(o, file_fds, reterr_message);
        close_fds(file_fds, o->n_files);
        if (r < 0)
                return r;
        if (o->dir) {
                r = bind_dir(dir_fd, o->dir, inner, o->dir_writable, false, reterr_message);
                if (r < 0)
                        return r;
        }
        if (o->exec_dir) {
                r = bind_dir(exec_fd, o->exec_dir, exec_inner, false, true, reterr_message);
                if (r < 0)
                        return r;
        }
        if (sandbox_sanitizer_build()) {
                /* LeakSanitizer reads /proc/<pid>/task and maps at exit. */
                if (mkdir(NEW_ROOT "/proc", 0755) < 0 ||
                    mount("/proc", NEW_ROOT "/proc", NULL, MS_BIND | MS_REC, NULL) < 0)
                        return set_error_message(reterr_message, -errno, "bind-mounting /proc failed");
        }
        if (mount(NULL, NEW_ROOT, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=16k") < 0)
                return set_error_message(reterr_message, -errno, "remounting the root read-only failed");
        if (chdir(NEW_ROOT) < 0)
                return set_error_message(reterr_message, -errno, "chdir failed");
        /* pivot_root(".", ".") stacks the old root on top of the new one; detach it. */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return set_error_message(reterr_message, -errno, "pivot_root failed");
        if (umount2(".", MNT_DETACH) < 0)
                return set_error_message(reterr_message, -errno, "detaching the old root failed");
        if (o->chdir_inner && o->dir ? chdir(o->inner_dir) < 0 : chdir("/") < 0)
                return set_error_message(
                        reterr_message, -errno, "chdir('%s') failed",
                        o->chdir_inner && o->dir ? o->inner_dir : "/");
        return 0;
}

static int drop_capabilities(char **reterr_message) {
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2] = {};

        for (int cap = 0; cap <= 63; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        return set_error_message(
                                reterr_message, -errno,
                                "dropping capability %d from the bounding set failed", cap);
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                return set_error_message(reterr_message, -errno, "clearing ambient capabilities failed");
        if (prctl(PR_SET_SECUREBITS,
                  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                          SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                          SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
                  0, 0, 0) < 0)
                return set_error_message(reterr_message, -errno, "locking securebits failed");
        if (syscall(SYS_capset, &hdr, data) < 0)
                return set_error_message(reterr_message, -errno, "capset() failed");
        return 0;
}

/* Loads the filter unless building it failed (error < 0), and releases it either way. */
static int load_filter(scmp_filter_ctx ctx, int error, char **reterr_message) {
        if (error >= 0)
                error = seccomp_load(ctx);
        seccomp_release(ctx);
        if (error < 0)
                return set_error_message(reterr_message, error, "building the seccomp filter failed");
        return 0;
}

int sandbox_seccomp(const SandboxOptions *o, char **reterr_message) {
        bool relaxed = sandbox_sanitizer_build();
        scmp_filter_ctx ctx;
        int r;

        /* Sanitizer runtimes (stack unwinding, LeakSanitizer's ptrace, symbolizer) need many more
         * calls: there the default is to log, but the rules that matter still kill. */
        ctx = seccomp_init(relaxed ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
        if (!ctx)
                return set_error_message(reterr_message, -ENOMEM, "seccomp_init() failed");

        for (size_t i = 0; i < o->n_syscalls; i++) {
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, o->syscalls[i], 0);
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < o->n_socket_families; i++) {
                r = seccomp_rule_add(
                        ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                        SCMP_A0(SCMP_CMP_EQ, o->socket_families[i]));
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < o->n_refused_socket_families; i++) {
                r = seccomp_rule_add(
                        ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                        SCMP_A0(SCMP_CMP_EQ, o->refused_socket_families[i]));
                if (r < 0)
                        goto fail;
        }
        for (size_t i = 0; i < o->n_ioctls; i++) {
                r = seccomp_rule_add(
                        ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, o->ioctls[i]));
                if (r < 0)
                        goto fail;
        }
        /* Never executable memory. */
        r = seccomp_rule_add(
                ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        if (r < 0)
                goto fail;
        r = seccomp_rule_add(
                ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        if (r < 0)
                goto fail;
        if (relaxed) {
                /* (libseccomp refuses rules whose action equals the default, hence only here; and one
                 * rule cannot say "none of several families", hence only for one.) */
                r = 0;
                if (o->n_socket_families == 1)
                        r = seccomp_rule_add(
                                ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(socket), 1,
                                SCMP_A0(SCMP_CMP_NE, o->socket_families[0]));
                if (r >= 0)
                        r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(execve), 0);
                if (r >= 0)
                        r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(execveat), 0);
                if (r < 0)
                        goto fail;
        }
        return load_filter(ctx, 0, reterr_message);
fail:
        return load_filter(ctx, r, reterr_message);
}

/* What every sandbox does before its filter: the namespaces and the empty root, no capabilities. */
static int enter_namespaces_without_caps(const SandboxOptions *o, char **reterr_message) {
        int r;

        r = enter_namespaces(o, reterr_message);
        if (r < 0)
                return r;
        return drop_capabilities(reterr_message);
}

static int set_no_new_privs(char **reterr_message) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return set_error_message(reterr_message, -errno, "PR_SET_NO_NEW_PRIVS failed");
        return 0;
}

int sandbox_enter_filter(const SandboxOptions *o, char **reterr_message) {
        int r;

        r = set_no_new_privs(reterr_message);
        if (r < 0)
                return r;
        return sandbox_seccomp(o, reterr_message);
}

int sandbox_enter(const SandboxOptions *o, char **reterr_message) {
        int r;

        r = enter_namespaces_without_caps(o, reterr_message);
        if (r < 0)
                return r;
        return sandbox_enter_filter(o, reterr_message);
}

/* What sandbox_enter_exec() kills on. */
static const int exec_denied_syscalls[] = {
        SCMP_SYS(add_key),
        SCMP_SYS(bpf),
        SCMP_SYS(delete_module),
        SCMP_SYS(finit_module),
        SCMP_SYS(fsconfig),
        SCMP_SYS(fsmount),
        SCMP_SYS(fsopen),
        SCMP_SYS(init_module),
        SCMP_SYS(io_uring_enter),
        SCMP_SYS(io_uring_register),
        SCMP_SYS(io_uring_setup),
        SCMP_SYS(kexec_file_load),
        SCMP_SYS(kexec_load),
        SCMP_SYS(keyctl),
        SCMP_SYS(mount),
        SCMP_SYS(mount_setattr),
        SCMP_SYS(move_mount),
        SCMP_SYS(name_to_handle_at),
        SCMP_SYS(open_by_handle_at),
        SCMP_SYS(open_tree),
        SCMP_SYS(perf_event_open),
        SCMP_SYS(pivot_root),
        SCMP_SYS(process_vm_readv),
        SCMP_SYS(process_vm_writev),
        SCMP_SYS(ptrace),
        SCMP_SYS(request_key),
        SCMP_SYS(setns),
        SCMP_SYS(umount2),
        SCMP_SYS(unshare),
        SCMP_SYS(userfaultfd),
};

static int exec_seccomp(char **reterr_message) {
        scmp_filter_ctx ctx;
        int r;

        ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return set_error_message(reterr_message, -ENOMEM, "seccomp_init() failed");
        for (size_t i = 0; i < ELEMENTSOF(exec_denied_syscalls); i++) {
                r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, exec_denied_syscalls[i], 0);
                if (r < 0)
                        goto fail;
        }
        /* No new namespaces through clone() either (threads are fine). */
        r = seccomp_rule_add(
                ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 1,
                SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
        if (r >= 0) /* clone3 passes its flags in memory, out of the filter's reach: glibc falls back. */
                r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
        if (r >= 0)
                r = seccomp_rule_add(
                        ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                        SCMP_A0(SCMP_CMP_NE, AF_UNIX));
        if (r >= 0)
                r = seccomp_rule_add(
                        ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
                        SCMP_A0(SCMP_CMP_NE, AF_UNIX));
        if (r < 0)
                goto fail;
        return load_filter(ctx, 0, reterr_message);
fail:
        return load_filter(ctx, r, reterr_message);
}

int sandbox_enter_exec(const SandboxOptions *o, char **reterr_message) {
        int r;

        if (!o->exec_dir)
                return set_error_message(reterr_message, -EINVAL, "no directory to execute from");
        r = enter_namespaces_without_caps(o, reterr_message);
        if (r >= 0)
                r = set_no_new_privs(reterr_message);
        if (r < 0)
                return r;
        return exec_seccomp(reterr_message);
}
