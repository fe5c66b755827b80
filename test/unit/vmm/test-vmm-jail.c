/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU jail's argument building (what gets bound where, read-only or not, what QEMU is then
 * told) against a fake QEMU installation made of symlinks to real ELF files, so ld.so --list runs
 * for real; and the jail itself, run with /bin/sh inside, when user namespaces are available. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "path-util.h"
#include "rm-rf.h"
#include "string-util.h"
#include "strv.h"
#include "vmm-jail.h"
#include "vmm-qemu.h"

#define TRUE_BINARY "/usr/bin/true"
#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

typedef struct Fake {
        char root[PATH_MAX];
        char qemu[PATH_MAX], tcg[PATH_MAX], datadir[PATH_MAX];
        char kernel[PATH_MAX], initrd[PATH_MAX], raw[PATH_MAX], qcow2[PATH_MAX];
} Fake;

static void mkpath(const Fake *f, char *out, const char *rel) {
        assert_true(snprintf(out, PATH_MAX, "%s/%s", f->root, rel) < PATH_MAX);
}

static void put_file(const char *path, const void *data, size_t n) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, n), (ssize_t) n);
}

static void mkdirs(const Fake *f, const char *rel) {
        char p[PATH_MAX];

        mkpath(f, p, rel);
        for (char *s = p + strlen(f->root) + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
                        *s = '/';
                }
        assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
}

/* <root>/usr/bin/qemu-system-x86_64 -> /usr/bin/true, the TCG module -> libc (any shared object
 * does for ld.so), two of the three firmware files (linuxboot_dma.bin is missing on purpose). */
static Fake *fake_new(bool with_datadir) {
        Fake *f = calloc(1, sizeof(Fake));
        char p[PATH_MAX];

        assert_non_null(f);
        strscpy(f->root, "/tmp/test-vmm-jail.XXXXXX", sizeof(f->root));
        assert_non_null(mkdtemp(f->root));
        mkdirs(f, "usr/bin");
        mkdirs(f, "usr/lib/x86_64-linux-gnu/qemu");
        mkpath(f, f->qemu, "usr/bin/qemu-system-x86_64");
        assert_int_equal(symlink(TRUE_BINARY, f->qemu), 0);
        mkpath(f, f->tcg, "usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so");
        assert_int_equal(symlink(LIBC, f->tcg), 0);
        if (with_datadir) {
                mkdirs(f, "usr/share/qemu");
                mkpath(f, p, "usr/share/qemu/bios-microvm.bin");
                put_file(p, "bios", 4);
                mkpath(f, p, "usr/share/qemu/pvh.bin");
                put_file(p, "pvh", 3);
                assert_non_null(realpath(f->root, p));
                assert_true(snprintf(f->datadir, PATH_MAX, "%s/usr/share/qemu", p) < PATH_MAX);
        }
        mkpath(f, f->kernel, "vmlinuz");
        put_file(f->kernel, "kernel", 6);
        mkpath(f, f->initrd, "initrd.img");
        put_file(f->initrd, "initrd", 6);
        mkpath(f, f->raw, "raw.img");
        put_file(f->raw, "\0\0\0\0\0\0\0\0", 8);
        mkpath(f, f->qcow2, "disk.qcow2");
        put_file(f->qcow2, "QFI\xfb\0\0\0\3", 8);
        return f;
}

static void fake_free(Fake *f) {
        assert_int_equal(rm_rf(f->root), 0);
        free(f);
}

static const JailBind *bind_of(const Jail *j, const char *dst) {
        const JailBind *b = jail_find_dst(j, dst);

        if (!b)
                fail_msg("no bind for '%s'", dst);
        return b;
}

static void assert_bind(const Jail *j, const char *dst, const char *src, bool writable) {
        const JailBind *b = bind_of(j, dst);
        char real[PATH_MAX];

        assert_non_null(realpath(src, real));
        assert_string_equal(b->src, real);
        assert_int_equal(b->writable, writable);
}

static void test_build_tcg(void **state) {
        Fake *f = fake_new(true);
        _cleanup_(jail_done) Jail j = {};
        QemuDisk host[] = {
                { .path = f->raw, .read_only = true },
                { .path = f->qcow2, .read_only = false },
        };
        QemuDisk disks[2] = {};
        char fw[PATH_MAX + 32];
        char **argv = NULL;
        size_t expected = 0;

        assert_int_equal(
                jail_build_qemu(
                        &j,
                        &(JailQemuSpec){
                                .qemu = f->qemu,
                                .accel = ACCEL_TCG,
                                .kernel = f->kernel,
                                .initrd = f->initrd,
                                .disks = host,
                                .n_disks = 2,
                        },
                        disks),
                0);
        assert_false(j.share_net);

        /* The binary and what ld.so loads for it and for the TCG module, all read-only. */
        assert_bind(&j, f->qemu, TRUE_BINARY, false);
        assert_bind(&j, f->tcg, LIBC, false);
        assert_bind(&j, LIBC, LIBC, false);
        assert_bind(&j, "/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2", false);
        expected += 4;
        /* Firmware that exists, at its resolved path; the missing one is not invented. */
        (void) snprintf(fw, sizeof(fw), "%s/bios-microvm.bin", f->datadir);
        assert_bind(&j, fw, fw, false);
        (void) snprintf(fw, sizeof(fw), "%s/pvh.bin", f->datadir);
        assert_bind(&j, fw, fw, false);
        (void) snprintf(fw, sizeof(fw), "%s/linuxboot_dma.bin", f->datadir);
        assert_false(jail_has_dst(&j, fw));
        expected += 2;
        assert_bind(&j, "/dev/null", "/dev/null", false);
        assert_bind(&j, "/dev/urandom", "/dev/urandom", false);
        assert_false(jail_has_dst(&j, "/dev/kvm"));
        assert_false(jail_has_dst(&j, "/etc/resolv.conf"));
        expected += 2;
        assert_bind(&j, "/vm/kernel", f->kernel, false);
        assert_bind(&j, "/vm/initrd", f->initrd, false);
        /* The console is a socket to vmm (fd), not a file in the jail. */
        assert_false(jail_has_dst(&j, "/vm/console.log"));
        assert_bind(&j, "/vm/disk0", f->raw, false);
        assert_bind(&j, "/vm/disk1", f->qcow2, true);
        expected += 4;
        /* Nothing else: linux-vdso.so.1 (no path) and repeated libraries are not bound. */
        assert_int_equal(j.n_binds, expected);

        assert_string_equal(disks[0].path, "/vm/disk0");
        assert_true(disks[0].read_only);
        assert_false(disks[0].qcow2);
        assert_string_equal(disks[1].path, "/vm/disk1");
        assert_false(disks[1].read_only);
        assert_true(disks[1].qcow2);

        /* What QEMU is then told: only paths inside the jail. */
        assert_int_equal(
                qemu_build_argv(
                        &(QemuConfig){
                                .binary = f->qemu,
                                .kernel = "/vm/kernel",
                                .initrd = "/vm/initrd",
                                .mem_bytes = 512ULL << 20,
                                .cpus = 1,
                                .accel = ACCEL_TCG,
                                .tb_size_mib = 16,
                                .console_fd = 6,
                                .qmp_private_fd = 3,
                                .qmp_listen_fd = 4,
                                .vhost_user_fd = -1,
                                .disks = disks,
                                .n_disks = 2,
                        },
                        &argv),
                0);
        assert_true(
                strv_contains(argv, "if=none,id=disk0,file=/vm/disk0,format=raw,readonly=on,discard=unmap"));
        assert_true(strv_contains(
                argv, "if=none,id=disk1,file=/vm/disk1,format=qcow2,readonly=off,discard=unmap"));
        assert_false(strv_contains(argv, "-netdev"));
        assert_false(strv_contains(argv, "vhost-user-vsock-device,chardev=vsock0"));
        strv_free(argv);
        fake_free(f);
}

static void test_build_net_user_no_initrd(void **state) {
        Fake *f = fake_new(true);
        _cleanup_(jail_done) Jail j = {};

        assert_int_equal(
                jail_build_qemu(
                        &j,
                        &(JailQemuSpec){
                                .qemu = f->qemu,
                                .accel = ACCEL_TCG,
                                .kernel = f->kernel,
                                .net_user = true,
                        },
                        NULL),
                0);
        assert_true(j.share_net);
        assert_false(jail_has_dst(&j, "/vm/initrd"));
        assert_false(jail_has_dst(&j, "/vm/disk0"));
        if (access("/etc/resolv.conf", R_OK) == 0)
                assert_bind(&j, "/etc/resolv.conf", "/etc/resolv.conf", false);
        fake_free(f);
}

static void test_build_kvm(void **state) {
        Fake *f = fake_new(true);
        _cleanup_(jail_done) Jail j = {};
        int r;

        r = jail_build_qemu(
                &j,
                &(JailQemuSpec){
                        .qemu = f->qemu,
                        .accel = ACCEL_KVM,
                        .kernel = f->kernel,
                },
                NULL);
        if (access("/dev/kvm", F_OK) < 0) {
                /* Asked for KVM without the device: an error, not a jail without it. */
                assert_int_equal(r, -ENOENT);
        } else {
                assert_int_equal(r, 0);
                assert_bind(&j, "/dev/kvm", "/dev/kvm", true);
        }
        /* No TCG module under KVM. */
        assert_false(jail_has_dst(&j, f->tcg));
        fake_free(f);
}

static void test_build_errors(void **state) {
        Fake *f = fake_new(false);
        _cleanup_(jail_done) Jail j = {}, j2 = {};
        QemuDisk host = { .path = "/nonexistent/disk.img" }, disk;
        Fake *g;

        /* No <bindir>/../share/qemu: refused, QEMU could not find its firmware. */
        assert_int_equal(
                jail_build_qemu(
                        &j,
                        &(JailQemuSpec){
                                .qemu = f->qemu,
                                .accel = ACCEL_TCG,
                                .kernel = f->kernel,
                        },
                        NULL),
                -ENOENT);
        fake_free(f);

        g = fake_new(true);
        assert_int_equal(
                jail_build_qemu(
                        &j2,
                        &(JailQemuSpec){
                                .qemu = g->qemu,
                                .accel = ACCEL_TCG,
                                .kernel = g->kernel,
                                .disks = &host,
                                .n_disks = 1,
                        },
                        &disk),
                -ENOENT);
        fake_free(g);
}

static void test_add_bind_rules(void **state) {
        _cleanup_(jail_done) Jail j = {};
        char dst[64];

        assert_int_equal(jail_add_bind(&j, "dev/null", "/x", false), -EINVAL);
        assert_int_equal(jail_add_bind(&j, "/dev/null", "x", false), -EINVAL);
        assert_int_equal(jail_add_bind(&j, "/dev/null", "/", false), -EINVAL);
        assert_int_equal(jail_add_bind(&j, "/dev/null", "/a/..", false), -EINVAL);
        assert_int_equal(jail_add_bind(&j, "/dev/null", "/a/../b", false), -EINVAL);
        assert_int_equal(jail_add_bind(&j, "/dev/null", "/a/./b", false), -EINVAL);
        assert_int_equal(jail_add_bind(&j, "/dev/null", "/a//b", false), -EINVAL);
        assert_int_equal(jail_add_bind(&j, "/nonexistent/file", "/a", false), -ENOENT);
        assert_int_equal(j.n_binds, 0u);

        assert_int_equal(jail_add_bind(&j, "/dev/null", "/a/..b", false), 0);
        /* The first bind of a dst wins; a second one is not an error and changes nothing. */
        assert_int_equal(jail_add_bind(&j, "/dev/zero", "/a/..b", true), 0);
        assert_int_equal(j.n_binds, 1u);
        assert_string_equal(j.binds[0].src, "/dev/null");
        assert_false(j.binds[0].writable);

        /* Exactly JAIL_BINDS_MAX fit; one more does not. */
        for (size_t i = j.n_binds; i < JAIL_BINDS_MAX; i++) {
                (void) snprintf(dst, sizeof(dst), "/n/%zu", i);
                assert_int_equal(jail_add_bind(&j, "/dev/null", dst, false), 0);
        }
        assert_int_equal(j.n_binds, JAIL_BINDS_MAX);
        assert_int_equal(jail_add_bind(&j, "/dev/null", "/one/more", false), -E2BIG);
        /* An existing dst is still fine at the limit. */
        assert_int_equal(jail_add_bind(&j, "/dev/null", "/n/7", false), 0);
}

static int wait_pid(pid_t pid) {
        int status;

        assert_int_equal(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The jail for real: only what was bound is there, and it is read-only unless asked otherwise. */
static void test_spawn(void **state) {
        _cleanup_(jail_done) Jail j = {};
        char dir[] = "/tmp/test-vmm-jail-spawn.XXXXXX", ro[64], rw[64];
        const char *step = NULL;
        int pidfd = -EBADF, pid;
        char *argv[] = {
                (char *) "/bin/sh",
                (char *) "-c",
                /* test and echo are dash builtins; grep is called by the path it is bound at. */
                (char *) "test -e /vm/ro && test -e /vm/rw && ! test -e /etc/passwd && ! test -e /home && "
                         "! test -e /oldroot && ! echo x 2>/dev/null >/vm/ro && echo ok >/vm/rw && "
                         "! echo x 2>/dev/null >/new && "
                         "/bin/grep -q '^CapEff:[[:space:]]*0000000000000000$' /proc/self/status",
                NULL,
        };

        if (access("/bin/sh", X_OK) < 0 || access("/bin/grep", X_OK) < 0)
                skip();
        assert_non_null(mkdtemp(dir));
        (void) snprintf(ro, sizeof(ro), "%s/ro", dir);
        (void) snprintf(rw, sizeof(rw), "%s/rw", dir);
        put_file(ro, "ro\n", 3);
        put_file(rw, "", 0);

        assert_int_equal(jail_add_elf_closure(&j, "/bin/sh", (char *[]){ (char *) "/bin/grep", NULL }), 0);
        assert_int_equal(jail_add_bind(&j, "/dev/null", NULL, false), 0);
        assert_int_equal(jail_add_bind(&j, ro, "/vm/ro", false), 0);
        assert_int_equal(jail_add_bind(&j, rw, "/vm/rw", true), 0);

        pid = jail_spawn(&j, argv, NULL, 0, &pidfd, &step);
        if (pid == -EPERM || pid == -EINVAL || pid == -ENOSPC) {
                /* No user namespaces here (sysctl or container policy). */
                (void) rm_rf(dir);
                skip();
        }
        assert_true(pid > 0);
        assert_null(step);
        safe_close(pidfd);
        assert_int_equal(wait_pid(pid), 0);
        {
                char buf[8] = {};
                _cleanup_close_ int fd = open(rw, O_RDONLY | O_CLOEXEC);

                assert_true(fd >= 0);
                assert_int_equal(read(fd, buf, sizeof(buf) - 1), 3);
                assert_string_equal(buf, "ok\n");
        }

        /* Fails closed: a bind whose source went away between building and spawning is reported
         * with its step (the jail path), and no child is left. */
        assert_int_equal(unlink(ro), 0);
        pid = jail_spawn(&j, argv, NULL, 0, &pidfd, &step);
        assert_int_equal(pid, -ENOENT);
        assert_non_null(step);
        assert_string_equal(step, "/vm/ro");
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
        assert_int_equal(rm_rf(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_build_tcg),      cmocka_unit_test(test_build_net_user_no_initrd),
                cmocka_unit_test(test_build_kvm),      cmocka_unit_test(test_build_errors),
                cmocka_unit_test(test_add_bind_rules), cmocka_unit_test(test_spawn),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
