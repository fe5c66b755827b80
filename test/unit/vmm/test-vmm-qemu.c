/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "macro.h"
#include "strv.h"
#include "vmm-net.h"
#include "vmm-qemu.h"
#include "vmm-qmp.h"
#include "vmm-tsc.h"

static QemuConfig base_config(void) {
        return (QemuConfig){
                .binary = "/usr/bin/qemu-system-x86_64",
                .kernel = "/vm/kernel",
                .initrd = "/vm/initrd",
                .mem_bytes = 256ULL << 20,
                .cpus = 2,
                .accel = ACCEL_TCG,
                .tb_size_mib = 32,
                .tsc_khz = 2445424,
                .console_fd = 6,
                .qmp_private_fd = 3,
                .qmp_listen_fd = 4,
                .vhost_user_fd = 5,
        };
}

/* The value following the n-th occurrence of opt, or NULL. */
static const char *opt_value(char **argv, const char *opt, unsigned n) {
        for (char **a = argv; *a; a++)
                if (streq(*a, opt) && a[1] && n-- == 0)
                        return a[1];
        return NULL;
}

static bool has_arg(char **argv, const char *s) {
        for (char **a = argv; *a; a++)
                if (streq(*a, s))
                        return true;
        return false;
}

static void test_argv_tcg(void **state) {
        QemuConfig c = base_config();
        char **argv = NULL;

        assert_int_equal(qemu_build_argv(&c, &argv), 0);
        assert_string_equal(argv[0], "/usr/bin/qemu-system-x86_64");
        assert_true(has_arg(argv, "-nodefaults"));
        assert_true(has_arg(argv, "-no-user-config"));
        assert_true(has_arg(argv, "-no-reboot"));
        assert_string_equal(opt_value(argv, "-M", 0), "microvm,memory-backend=mem,isa-serial=on");
        assert_string_equal(opt_value(argv, "-accel", 0), "tcg,tb-size=32");
        assert_string_equal(opt_value(argv, "-m", 0), "256M");
        assert_string_equal(opt_value(argv, "-smp", 0), "2");
        assert_string_equal(opt_value(argv, "-object", 0), "memory-backend-memfd,id=mem,size=256M,share=on");
        assert_string_equal(
                opt_value(argv, "-append", 0),
                "console=ttyS0 earlyprintk=ttyS0 panic=-1 tsc_early_khz=2445424 tsc=reliable");
        assert_string_equal(
                opt_value(argv, "-sandbox", 0),
                "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
        assert_string_equal(opt_value(argv, "-chardev", 0), "socket,id=console,fd=6");
        assert_string_equal(opt_value(argv, "-chardev", 1), "socket,id=qmp-vmm,fd=3");
        assert_string_equal(opt_value(argv, "-chardev", 2), "socket,id=qmp,fd=4,server=on,wait=off");
        assert_string_equal(opt_value(argv, "-chardev", 3), "socket,id=vsock0,fd=5");
        assert_string_equal(opt_value(argv, "-device", 0), "vhost-user-vsock-device,chardev=vsock0");
        /* No network unless asked for, no shares unless asked for. */
        assert_false(has_arg(argv, "-netdev"));
        assert_null(opt_value(argv, "-device", 1));
        /* virtiofsd's libvhost-user refuses legacy mmio devices; every device is modern. */
        assert_string_equal(opt_value(argv, "-global", 0), "virtio-mmio.force-legacy=false");
        strv_free(argv);
}

static void test_argv_shares(void **state) {
        QemuConfig c = base_config();
        char **argv = NULL;

        c.vhost_user_fs_fd = 7;
        assert_int_equal(qemu_build_argv(&c, &argv), 0);
        assert_string_equal(opt_value(argv, "-chardev", 4), "socket,id=fs0,fd=7");
        assert_string_equal(
                opt_value(argv, "-device", 1), "vhost-user-fs-device,chardev=fs0,tag=bistro-shares");
        /* vhost-user needs guest RAM in a shared memfd. */
        assert_string_equal(opt_value(argv, "-object", 0), "memory-backend-memfd,id=mem,size=256M,share=on");
        strv_free(argv);
}

static void test_argv_kvm_disks_net(void **state) {
        QemuDisk disks[] = {
                { .path = "/vm/disk0", .read_only = true },
                { .path = "/vm/disk1", .read_only = false, .qcow2 = true },
        };
        QemuHostfwd fwd[] = { { 2222, 22 }, { 8080, 80 } };
        QemuConfig c = base_config();
        char **argv = NULL;

        c.accel = ACCEL_KVM;
        c.vhost_user_fd = -1;
        c.qmp_listen_fd = -1;
        c.append = "quiet init=/sbin/x";
        c.disks = disks;
        c.n_disks = 2;
        c.net_user = true;
        c.hostfwds = fwd;
        c.n_hostfwds = 2;
        assert_int_equal(qemu_build_argv(&c, &argv), 0);
        assert_string_equal(opt_value(argv, "-accel", 0), "kvm");
        assert_string_equal(opt_value(argv, "-cpu", 0), "host");
        /* No TSC parameters under KVM. */
        assert_string_equal(
                opt_value(argv, "-append", 0),
                "console=ttyS0 earlyprintk=ttyS0 panic=-1 quiet init=/sbin/x");
        assert_string_equal(
                opt_value(argv, "-drive", 0),
                "if=none,id=disk0,file=/vm/disk0,format=raw,readonly=on,discard=unmap");
        assert_string_equal(
                opt_value(argv, "-drive", 1),
                "if=none,id=disk1,file=/vm/disk1,format=qcow2,readonly=off,discard=unmap");
        assert_string_equal(opt_value(argv, "-device", 0), "virtio-blk-device,drive=disk0");
        assert_string_equal(opt_value(argv, "-device", 1), "virtio-blk-device,drive=disk1");
        assert_string_equal(
                opt_value(argv, "-netdev", 0),
                "user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:8080-:80");
        assert_string_equal(opt_value(argv, "-device", 2), "virtio-net-device,netdev=net0");
        assert_null(opt_value(argv, "-device", 3));
        assert_null(opt_value(argv, "-chardev", 2));
        strv_free(argv);
}

static void test_argv_rejects(void **state) {
        QemuConfig c;
        QemuDisk bad_disk = { .path = "/vm/a,b" };
        QemuHostfwd fwd = { 1, 2 };
        char **argv = NULL;

        c = base_config();
        c.mem_bytes = 1 << 20;
        assert_int_equal(qemu_build_argv(&c, &argv), -EINVAL);
        c = base_config();
        c.mem_bytes = (256ULL << 20) + 1;
        assert_int_equal(qemu_build_argv(&c, &argv), -EINVAL);
        c = base_config();
        c.cpus = 0;
        assert_int_equal(qemu_build_argv(&c, &argv), -EINVAL);
        c = base_config();
        c.accel = ACCEL_AUTO;
        assert_int_equal(qemu_build_argv(&c, &argv), -EINVAL);
        /* A ',' would inject QEMU options. */
        c = base_config();
        c.kernel = "/vm/kernel,readonly=off";
        assert_int_equal(qemu_build_argv(&c, &argv), -EINVAL);
        c = base_config();
        c.disks = &bad_disk;
        c.n_disks = 1;
        assert_int_equal(qemu_build_argv(&c, &argv), -EINVAL);
        c = base_config();
        c.append = "a\nb";
        assert_int_equal(qemu_build_argv(&c, &argv), -EINVAL);
        c = base_config();
        c.hostfwds = &fwd;
        c.n_hostfwds = 1; /* without net_user */
        assert_int_equal(qemu_build_argv(&c, &argv), -EINVAL);
        assert_null(argv);
}

static void test_argv_net_stream(void **state) {
        QemuConfig c = base_config();
        char **argv = NULL;

        c.net_stream = true;
        c.net_stream_fd = 6;
        assert_int_equal(qemu_build_argv(&c, &argv), 0);
        assert_string_equal(
                opt_value(argv, "-netdev", 0), "stream,id=net0,server=off,addr.type=fd,addr.str=6");
        assert_string_equal(opt_value(argv, "-device", 1), "virtio-net-device,netdev=net0");
        assert_null(opt_value(argv, "-netdev", 1));
        strv_free(argv);
        argv = NULL;

        /* One network only, and a real fd. */
        c.net_user = true;
        assert_int_equal(qemu_build_argv(&c, &argv), -EINVAL);
        c.net_user = false;
        c.net_stream_fd = -1;
        assert_int_equal(qemu_build_argv(&c, &argv), -EINVAL);
        assert_null(argv);
}

static void test_slirpd_argv(void **state) {
        char **argv = NULL;

        assert_int_equal(slirpd_build_argv(&(SlirpdConfig){ .binary = "/x/slirpd", .fd = 3 }, &argv), 0);
        /* The default: the gateway is not the host's loopback. */
        assert_int_equal(strv_length(argv), 3);
        assert_string_equal(argv[0], "/x/slirpd");
        assert_string_equal(argv[1], "--fd");
        assert_string_equal(argv[2], "3");
        strv_free(argv);
        argv = NULL;

        assert_int_equal(
                slirpd_build_argv(
                        &(SlirpdConfig){ .binary = "slirpd", .fd = 7, .host_loopback = true }, &argv),
                0);
        assert_int_equal(strv_length(argv), 4);
        assert_string_equal(argv[2], "7");
        assert_string_equal(argv[3], "--host-loopback");
        strv_free(argv);
        argv = NULL;

        assert_int_equal(slirpd_build_argv(&(SlirpdConfig){ .binary = "slirpd", .fd = -1 }, &argv), -EINVAL);
        assert_int_equal(slirpd_build_argv(&(SlirpdConfig){ .fd = 3 }, &argv), -EINVAL);
        assert_null(argv);
}

static void test_hostfwd_parse(void **state) {
        QemuHostfwd f;

        assert_int_equal(qemu_parse_hostfwd("tcp:8080:80", &f), 0);
        assert_int_equal(f.host_port, 8080);
        assert_int_equal(f.guest_port, 80);
        assert_int_equal(qemu_parse_hostfwd("udp:1:2", &f), -EINVAL);
        assert_int_equal(qemu_parse_hostfwd("tcp:1", &f), -EINVAL);
        assert_int_equal(qemu_parse_hostfwd("tcp:0:2", &f), -ERANGE);
        assert_int_equal(qemu_parse_hostfwd("tcp:1:65536", &f), -ERANGE);
        assert_int_equal(qemu_parse_hostfwd("tcp:-1:2", &f), -EINVAL);
        assert_int_equal(qemu_parse_hostfwd("tcp:1:2:3", &f), -EINVAL);
        assert_int_equal(qemu_parse_hostfwd(NULL, &f), -EINVAL);
}

static void test_accel_names(void **state) {
        assert_int_equal(accel_from_string("kvm"), ACCEL_KVM);
        assert_int_equal(accel_from_string("tcg"), ACCEL_TCG);
        assert_int_equal(accel_from_string("auto"), ACCEL_AUTO);
        assert_int_equal(accel_from_string("hvf"), _ACCEL_INVALID);
        assert_int_equal(accel_from_string(NULL), _ACCEL_INVALID);
        assert_string_equal(accel_to_string(ACCEL_TCG), "tcg");
        assert_null(accel_to_string(_ACCEL_MAX));
}

static void test_tsc_parse(void **state) {
        uint32_t khz = 0;

        assert_int_equal(tsc_parse_khz("2445424\n", &khz), 0);
        assert_int_equal(khz, 2445424);
        assert_int_equal(tsc_parse_khz("3000000", &khz), 0);
        assert_int_equal(khz, 3000000);
        assert_int_equal(tsc_parse_khz("", &khz), -EINVAL);
        assert_int_equal(tsc_parse_khz("\n", &khz), -EINVAL);
        assert_int_equal(tsc_parse_khz("12abc", &khz), -EINVAL);
        assert_int_equal(tsc_parse_khz("-5", &khz), -EINVAL);
        assert_int_equal(tsc_parse_khz("99999", &khz), -ERANGE);
        assert_int_equal(tsc_parse_khz("99999999999", &khz), -ERANGE);
        assert_int_equal(tsc_parse_khz(NULL, &khz), -EINVAL);
        assert_int_equal(khz, 3000000);
}

static void test_tsc_sample(void **state) {
        uint32_t khz = 0;

        /* 2445424 kHz for 50 ms = 122271200 cycles. */
        assert_int_equal(tsc_khz_from_sample(122271200ULL, 50000000ULL, &khz), 0);
        assert_int_equal(khz, 2445424);
        /* Rounds to nearest. */
        assert_int_equal(tsc_khz_from_sample(2999999600ULL, 1000000000ULL, &khz), 0);
        assert_int_equal(khz, 3000000);
        assert_int_equal(tsc_khz_from_sample(1, 0, &khz), -EINVAL);
        assert_int_equal(tsc_khz_from_sample(1000, 1000000000ULL, &khz), -ERANGE);
        /* Large products do not overflow. */
        assert_int_equal(tsc_khz_from_sample(UINT64_MAX / 2, UINT64_MAX / 1000, &khz), -ERANGE);
}

static void test_tsc_host(void **state) {
        uint32_t khz = 0;

        assert_int_equal(tsc_host_khz(&khz), 0);
        assert_true(khz >= 100000 && khz <= 20000000);
}

static void test_qmp_line_event(void **state) {
        char ev[32];

        assert_int_equal(
                qmp_line_event(
                        "{\"timestamp\": {\"seconds\": 1}, \"event\": \"SHUTDOWN\", \"data\": {}}", ev,
                        sizeof(ev)),
                0);
        assert_string_equal(ev, "SHUTDOWN");
        assert_int_equal(qmp_line_event("{\"event\":\"POWERDOWN\"}", ev, sizeof(ev)), 0);
        assert_string_equal(ev, "POWERDOWN");
        assert_int_equal(qmp_line_event("{\"return\": {}}", ev, sizeof(ev)), -ENOENT);
        assert_int_equal(qmp_line_event("{\"event\": 5}", ev, sizeof(ev)), -EBADMSG);
        assert_int_equal(qmp_line_event("{\"event\": \"UNTERMINATED", ev, sizeof(ev)), -EBADMSG);
        assert_int_equal(qmp_line_event("{\"event\": \"\"}", ev, sizeof(ev)), -EBADMSG);
        assert_int_equal(qmp_line_event("{\"event\": \"a\\\"b\"}", ev, sizeof(ev)), -EBADMSG);
        assert_int_equal(
                qmp_line_event("{\"event\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", ev, sizeof(ev)),
                -EBADMSG);
}

static void test_qmp_line_get_string(void **state) {
        char buf[32];

        assert_int_equal(
                qmp_line_get_string(
                        "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-reset\"}}",
                        "reason", buf, sizeof(buf)),
                0);
        assert_string_equal(buf, "guest-reset");
        assert_int_equal(
                qmp_line_get_string(
                        "{\"data\": {\"reason\": \"guest-shutdown\"}}", "reason", buf, sizeof(buf)),
                0);
        assert_string_equal(buf, "guest-shutdown");
        assert_int_equal(qmp_line_get_string("{\"data\": {}}", "reason", buf, sizeof(buf)), -ENOENT);
        assert_int_equal(qmp_line_get_string("{\"reason\": \"a b\"}", "reason", buf, sizeof(buf)), -EBADMSG);
        assert_int_equal(qmp_line_get_string("{\"reason\": \"x\"}", "reason", buf, 1), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_argv_tcg),
                cmocka_unit_test(test_argv_shares),
                cmocka_unit_test(test_argv_kvm_disks_net),
                cmocka_unit_test(test_argv_rejects),
                cmocka_unit_test(test_hostfwd_parse),
                cmocka_unit_test(test_argv_net_stream),
                cmocka_unit_test(test_slirpd_argv),
                cmocka_unit_test(test_accel_names),
                cmocka_unit_test(test_tsc_parse),
                cmocka_unit_test(test_tsc_sample),
                cmocka_unit_test(test_tsc_host),
                cmocka_unit_test(test_qmp_line_event),
                cmocka_unit_test(test_qmp_line_get_string),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
