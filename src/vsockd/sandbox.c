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
#include "log.h"
#include "macro.h"
#include "sandbox.h"

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

static int enter_namespaces(const char *dir) {
        _cleanup_close_ int dir_fd = -EBADF;
        char fd_path[64];
        uid_t uid = getuid();
        gid_t gid = getgid();
        char map[64];
        int r;

        if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
                return log_error_errno(errno, "sandbox: unshare() failed: %m");

        /* Map only ourselves: the same ids inside, so the socket files stay accessible. */
        r = write_string_file("/proc/self/setgroups", "deny", 0);
        if (r < 0)
                return log_error_errno(r, "sandbox: writing setgroups failed: %m");
        (void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) uid, (unsigned) uid);
        r = write_string_file("/proc/self/uid_map", map, 0);
        if (r < 0)
                return log_error_errno(r, "sandbox: writing uid_map failed: %m");
        (void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) gid, (unsigned) gid);
        r = write_string_file("/proc/self/gid_map", map, 0);
        if (r < 0)
                return log_error_errno(r, "sandbox: writing gid_map failed: %m");

        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return log_error_errno(errno, "sandbox: making mounts private failed: %m");

        /* The new root is an empty tmpfs, built on top of /tmp in our private mount namespace; the
         * socket directory is reached through an O_PATH fd, as it may itself live below /tmp. */
        dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return log_error_errno(errno, "sandbox: opening '%s' failed: %m", dir);
        (void) snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", dir_fd);
        if (mount("tmpfs", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=16k") < 0)
                return log_error_errno(errno, "sandbox: mounting a tmpfs root failed: %m");
        if (mkdir(NEW_ROOT SANDBOX_SOCKET_DIR, 0755) < 0)
                return log_error_errno(errno, "sandbox: mkdir failed: %m");
        if (mount(fd_path, NEW_ROOT SANDBOX_SOCKET_DIR, NULL, MS_BIND | MS_REC, NULL) < 0)
                return log_error_errno(errno, "sandbox: bind-mounting '%s' failed: %m", dir);
        /* Read-only is fine: connect() needs no write access to the file system, only to the
         * socket inode, which is not subject to MS_RDONLY. */
        if (mount(NULL, NEW_ROOT SANDBOX_SOCKET_DIR, NULL,
                  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                return log_error_errno(errno, "sandbox: remounting '%s' read-only failed: %m", dir);
        if (sandbox_sanitizer_build()) {
                /* LeakSanitizer reads /proc/<pid>/task and maps at exit. */
                if (mkdir(NEW_ROOT "/proc", 0755) < 0 ||
                    mount("/proc", NEW_ROOT "/proc", NULL, MS_BIND | MS_REC, NULL) < 0)
                        return log_error_errno(errno, "sandbox: bind-mounting /proc failed: %m");
        }
        if (mount(NULL, NEW_ROOT, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=16k") < 0)
                return log_error_errno(errno, "sandbox: remounting the root read-only failed: %m");
        if (chdir(NEW_ROOT) < 0)
                return log_error_errno(errno, "sandbox: chdir failed: %m");
        /* pivot_root(".", ".") stacks the old root on top of the new one; detach it. */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return log_error_errno(errno, "sandbox: pivot_root failed: %m");
        if (umount2(".", MNT_DETACH) < 0)
                return log_error_errno(errno, "sandbox: detaching the old root failed: %m");
        if (chdir("/") < 0)
                return log_error_errno(errno, "sandbox: chdir('/') failed: %m");
        return 0;
}

static int drop_capabilities(void) {
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2] = {};

        for (int cap = 0; cap <= 63; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        return log_error_errno(
                                errno, "sandbox: dropping capability %d from the bounding set failed: %m",
                                cap);
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                return log_error_errno(errno, "sandbox: clearing ambient capabilities failed: %m");
        if (prctl(PR_SET_SECUREBITS,
                  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                          SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                          SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
                  0, 0, 0) < 0)
                return log_error_errno(errno, "sandbox: locking securebits failed: %m");
        if (syscall(SYS_capset, &hdr, data) < 0)
                return log_error_errno(errno, "sandbox: capset() failed: %m");
        return 0;
}

/* What vsockd does after start-up: event loop, sockets, guest memory, logging. */
static const int allowed_syscalls[] = {
        SCMP_SYS(accept4),         SCMP_SYS(brk),          SCMP_SYS(clock_gettime),
        SCMP_SYS(close),           SCMP_SYS(connect),      SCMP_SYS(epoll_ctl),
        SCMP_SYS(epoll_pwait),     SCMP_SYS(epoll_wait),   SCMP_SYS(exit),
        SCMP_SYS(exit_group),      SCMP_SYS(fstat),        SCMP_SYS(getpid),
        SCMP_SYS(gettimeofday),    SCMP_SYS(madvise),      SCMP_SYS(mremap),
        SCMP_SYS(munmap),          SCMP_SYS(newfstatat),   SCMP_SYS(read),
        SCMP_SYS(readv),           SCMP_SYS(recvfrom),     SCMP_SYS(recvmsg),
        SCMP_SYS(restart_syscall), SCMP_SYS(rt_sigreturn), SCMP_SYS(sendmsg),
        SCMP_SYS(sendto),          SCMP_SYS(shutdown),     SCMP_SYS(write),
        SCMP_SYS(writev),
};

int sandbox_seccomp(void) {
        bool relaxed = sandbox_sanitizer_build();
        scmp_filter_ctx ctx;
        int r;

        /* Sanitizer runtimes (stack unwinding, LeakSanitizer's ptrace, symbolizer) need many more
         * calls: there the default is to log, but the rules that matter still kill. */
        ctx = seccomp_init(relaxed ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
        if (!ctx)
                return log_error_errno(SYNTHETIC_ERRNO(ENOMEM), "sandbox: seccomp_init() failed");

        for (size_t i = 0; i < ELEMENTSOF(allowed_syscalls); i++) {
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed_syscalls[i], 0);
                if (r < 0)
                        goto fail;
        }
        /* Only unix sockets, never executable memory. */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
        if (r < 0)
                goto fail;
        r = seccomp_rule_add(
                ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        if (r < 0)
                goto fail;
        r = seccomp_rule_add(
                ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        if (r < 0)
                goto fail;
        if (relaxed) {
                /* (libseccomp refuses rules whose action equals the default, hence only here.) */
                r = seccomp_rule_add(
                        ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX));
                if (r >= 0)
                        r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(execve), 0);
                if (r >= 0)
                        r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(execveat), 0);
                if (r < 0)
                        goto fail;
        }
        r = seccomp_load(ctx);
        if (r < 0)
                goto fail;
        seccomp_release(ctx);
        return 0;
fail:
        seccomp_release(ctx);
        return log_error_errno(r, "sandbox: building the seccomp filter failed: %m");
}

int sandbox_enter(const char *dir) {
        int r;

        r = enter_namespaces(dir);
        if (r < 0)
                return r;
        r = drop_capabilities();
        if (r < 0)
                return r;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return log_error_errno(errno, "sandbox: PR_SET_NO_NEW_PRIVS failed: %m");
        return sandbox_seccomp();
}
