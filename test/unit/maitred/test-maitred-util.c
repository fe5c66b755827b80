/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/mount.h>

#include "macro.h"
#include "maitred-util.h"
#include "proto-validate.h"

#define SEC 1000000ull

static void test_ratelimit_burst_then_refuse(void **state) {
        RateLimit rl = RATELIMIT_INIT(30 * SEC, 10);

        for (unsigned i = 0; i < 10; i++)
                assert_true(ratelimit_test(&rl, 100 * SEC + i * SEC));
        /* The 11th inside the 30 s window is refused, and refusing records nothing. */
        assert_false(ratelimit_test(&rl, 100 * SEC + 10 * SEC));
        assert_false(ratelimit_test(&rl, 100 * SEC + 29 * SEC));
        /* Once the oldest event is 30 s old, one more fits. */
        assert_true(ratelimit_test(&rl, 130 * SEC));
        assert_false(ratelimit_test(&rl, 130 * SEC));
        assert_true(ratelimit_test(&rl, 131 * SEC));
}

static void test_ratelimit_slow_crashes_never_limited(void **state) {
        RateLimit rl = RATELIMIT_INIT(30 * SEC, 10);

        /* One crash every 4 s: at most 8 in any 30 s window. */
        for (unsigned i = 0; i < 1000; i++)
                assert_true(ratelimit_test(&rl, i * 4 * SEC));
}

static void test_ratelimit_burst_one(void **state) {
        RateLimit rl = RATELIMIT_INIT(5 * SEC, 1);

        assert_true(ratelimit_test(&rl, 0));
        assert_false(ratelimit_test(&rl, 4 * SEC));
        assert_true(ratelimit_test(&rl, 5 * SEC));
}

static void test_split_quoted(void **state) {
        char **w = NULL;

        assert_int_equal(split_quoted("  /bin/sh -c 'echo a  b'  x\"y z\"\\ q ", 16, &w), 0);
        assert_int_equal(strv_length(w), 4);
        assert_string_equal(w[0], "/bin/sh");
        assert_string_equal(w[1], "-c");
        assert_string_equal(w[2], "echo a  b");
        assert_string_equal(w[3], "xy z q");
        w = strv_free(w);

        assert_int_equal(split_quoted("\"a \\\"b\\\" \\$c \\n\"", 16, &w), 0);
        assert_int_equal(strv_length(w), 1);
        assert_string_equal(w[0], "a \"b\" $c \\n");
        w = strv_free(w);

        assert_int_equal(split_quoted("", 16, &w), 0);
        assert_int_equal(strv_length(w), 0);
        w = strv_free(w);

        assert_int_equal(split_quoted("a 'b", 16, &w), -EINVAL);
        assert_int_equal(split_quoted("a \"b", 16, &w), -EINVAL);
        assert_int_equal(split_quoted("a b\\", 16, &w), -EINVAL);
        assert_int_equal(split_quoted("a b c", 2, &w), -E2BIG);
        assert_null(w);
}

static void test_env_merge(void **state) {
        char *env[] = { (char *) "PATH=/x", (char *) "FOO=1" };
        char *defaults[] = { (char *) "PATH=/usr/bin", (char *) "HOME=/root", NULL };
        _cleanup_strv_free_ char **l = NULL, **d = NULL;

        assert_int_equal(env_merge(env, 2, defaults, &l), 0);
        assert_int_equal(strv_length(l), 3);
        assert_string_equal(l[0], "PATH=/x");
        assert_string_equal(l[1], "FOO=1");
        assert_string_equal(l[2], "HOME=/root");

        assert_int_equal(env_merge(NULL, 0, defaults, &d), 0);
        assert_int_equal(strv_length(d), 2);
}

static void test_service_config(void **state) {
        ServiceConfig c = {};
        unsigned line = 0;

        assert_int_equal(
                service_config_parse(
                        "# vshd\n\n exec = /usr/sbin/vshd --port 9001 \n"
                        "respawn = no\nenv = A=1\nenv=B=x y\n",
                        &c, &line),
                0);
        assert_int_equal(strv_length(c.argv), 3);
        assert_string_equal(c.argv[0], "/usr/sbin/vshd");
        assert_string_equal(c.argv[2], "9001");
        assert_false(c.respawn);
        assert_int_equal(strv_length(c.env), 2);
        assert_string_equal(c.env[1], "B=x y");
        service_config_done(&c);

        assert_int_equal(service_config_parse("exec=/bin/true\n", &c, NULL), 0);
        assert_true(c.respawn); /* the default */
        service_config_done(&c);

        assert_int_equal(service_config_parse("exec=/bin/true\nrespwan=yes\n", &c, &line), -EINVAL);
        assert_int_equal(line, 2);
        assert_int_equal(service_config_parse("exec = bin/true\n", &c, &line), -EINVAL);
        assert_int_equal(line, 1);
        assert_int_equal(service_config_parse("exec = /a\nexec = /b\n", &c, &line), -EINVAL);
        assert_int_equal(service_config_parse("exec = /a\nrespawn = maybe\n", &c, &line), -EINVAL);
        assert_int_equal(service_config_parse("exec = /a\nenv = 1X=2\n", &c, &line), -EINVAL);
        assert_int_equal(service_config_parse("exec = /a\nenv = NOVALUE\n", &c, &line), -EINVAL);
        assert_int_equal(service_config_parse("exec = /a 'unterminated\n", &c, &line), -EINVAL);
        assert_int_equal(service_config_parse("respawn = yes\n", &c, &line), -EINVAL);
        assert_int_equal(service_config_parse("garbage line\n", &c, &line), -EINVAL);
        assert_null(c.argv);
}

static void test_service_name(void **state) {
        char *n = service_name_from_filename("vshd.conf");

        assert_string_equal(n, "vshd");
        free(n);
        assert_null(service_name_from_filename(".conf"));
        assert_null(service_name_from_filename("vshd.conf~"));
        assert_null(service_name_from_filename(".hidden.conf"));
        assert_null(service_name_from_filename("README"));
}

static void test_timezone(void **state) {
        char *p = NULL;

        assert_true(proto_timezone_ok("UTC"));
        assert_true(proto_timezone_ok("Europe/Paris"));
        assert_true(proto_timezone_ok("America/Argentina/Buenos_Aires"));
        assert_true(proto_timezone_ok("Etc/GMT+5"));
        assert_false(proto_timezone_ok(""));
        assert_false(proto_timezone_ok(NULL));
        assert_false(proto_timezone_ok("/etc/passwd"));
        assert_false(proto_timezone_ok("../../etc/shadow"));
        assert_false(proto_timezone_ok("Europe/../../x"));
        assert_false(proto_timezone_ok("Europe/./Paris"));
        assert_false(proto_timezone_ok("Europe//Paris"));
        assert_false(proto_timezone_ok("Europe/"));
        assert_false(proto_timezone_ok("Europe/Paris\n"));
        assert_false(proto_timezone_ok("Europe Paris"));
        assert_false(proto_timezone_ok("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));

        assert_int_equal(timezone_path("/usr/share/zoneinfo", "Europe/Paris", &p), 0);
        assert_string_equal(p, "/usr/share/zoneinfo/Europe/Paris");
        free(p);
        assert_int_equal(timezone_path("/usr/share/zoneinfo", "..", &p), -EINVAL);
}

static void test_image_version(void **state) {
        char *v = NULL;

        assert_int_equal(image_version_parse("  2026.11.29-1 \nsecond line\n", 64, &v), 0);
        assert_string_equal(v, "2026.11.29-1");
        free(v);
        assert_int_equal(image_version_parse("\n", 64, &v), 0);
        assert_string_equal(v, "dev");
        free(v);
        assert_int_equal(
                image_version_parse(
                        "a\x01"
                        "b",
                        64, &v),
                -EINVAL);
        assert_int_equal(image_version_parse("caf\xc3\xa9", 64, &v), -EINVAL);
        assert_int_equal(image_version_parse("12345", 4, &v), -EINVAL);
}

static void test_mount_flags(void **state) {
        char *s = NULL;

        assert_int_equal(mount_flags_to_string(MS_RDONLY | MS_NOSUID | MS_NODEV, &s), 0);
        assert_string_equal(s, "rdonly,nosuid,nodev");
        free(s);
        assert_int_equal(mount_flags_to_string(0, &s), 0);
        assert_string_equal(s, "none");
        free(s);
        assert_int_equal(mount_flags_to_string(MS_BIND | MS_REMOUNT, &s), 0);
        assert_string_equal(s, "bind,0x20");
        free(s);

        assert_true(mount_flags_allowed() & MS_BIND);
        assert_true(mount_flags_allowed() & MS_RDONLY);
        assert_false(mount_flags_allowed() & MS_REMOUNT);
        assert_false(mount_flags_allowed() & MS_MOVE);
        assert_false(mount_flags_allowed() & MS_SHARED);
}

static void test_fs_probe(void **state) {
        uint8_t *buf = calloc(1, FS_PROBE_SIZE);

        assert_non_null(buf);
        assert_null(fs_probe(buf, FS_PROBE_SIZE));
        buf[1080] = 0x53;
        buf[1081] = 0xEF;
        assert_string_equal(fs_probe(buf, FS_PROBE_SIZE), "ext4");
        /* Too short to hold the magic. */
        assert_null(fs_probe(buf, 1081));
        memset(buf, 0, FS_PROBE_SIZE);
        memcpy(buf + 65536 + 64, "_BHRfS_M", 8);
        assert_string_equal(fs_probe(buf, FS_PROBE_SIZE), "btrfs");
        assert_null(fs_probe(buf, 65536));
        memset(buf, 0, FS_PROBE_SIZE);
        memcpy(buf, "XFSB", 4);
        assert_string_equal(fs_probe(buf, FS_PROBE_SIZE), "xfs");
        memset(buf, 0, FS_PROBE_SIZE);
        memcpy(buf + 4086, "SWAPSPACE2", 10);
        assert_string_equal(fs_probe(buf, FS_PROBE_SIZE), "swap");
        assert_null(fs_probe(buf, 0));
        free(buf);
}

static void test_mkfs_argv(void **state) {
        _cleanup_strv_free_ char **a = NULL;

        assert_int_equal(mkfs_argv("btrfs", "/dev/vdb", &a), 0);
        assert_int_equal(strv_length(a), 2);
        assert_string_equal(a[0], "mkfs.btrfs");
        assert_string_equal(a[1], "/dev/vdb");
        assert_int_equal(mkfs_argv("../../bin/sh", "/dev/vdb", &a), -EINVAL);
        assert_int_equal(mkfs_argv("", "/dev/vdb", &a), -EINVAL);
        assert_int_equal(mkfs_argv("ext4", "vdb", &a), -EINVAL);
        assert_int_equal(mkfs_argv("Ext4", "/dev/vdb", &a), -EINVAL);
}

static void test_modules(void **state) {
        const char *dep = "kernel/drivers/virtio/virtio.ko:\n"
                          "kernel/drivers/virtio/virtio_ring.ko:\n"
                          "kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko "
                          "kernel/drivers/virtio/virtio_ring.ko\n"
                          "kernel/net/vmw_vsock/vsock.ko:\n"
                          "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko: "
                          "kernel/net/vmw_vsock/vsock.ko\n"
                          "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko: "
                          "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko "
                          "kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko "
                          "kernel/net/vmw_vsock/vsock.ko\n"
                          "kernel/a/loop-a.ko: kernel/a/loop_b.ko\n"
                          "kernel/a/loop_b.ko: kernel/a/loop-a.ko\n";
        _cleanup_strv_free_ char **l = NULL;
        char *n = NULL;

        assert_int_equal(module_name_normalize("kernel/fs/btrfs/btrfs.ko.xz", &n), 0);
        assert_string_equal(n, "btrfs");
        free(n);
        assert_int_equal(module_name_normalize("snd-hda-intel", &n), 0);
        assert_string_equal(n, "snd_hda_intel");
        free(n);

        assert_int_equal(modules_dep_resolve(dep, "vmw_vsock_virtio_transport", &l), 0);
        assert_int_equal(strv_length(l), 5);
        /* Every module comes after everything it depends on. */
        assert_string_equal(l[4], "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko");
        {
                int common = -1, vsock = -1;

                for (int i = 0; l[i]; i++) {
                        if (streq(l[i], "kernel/net/vmw_vsock/vsock.ko"))
                                vsock = i;
                        if (streq(l[i], "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko"))
                                common = i;
                }
                assert_true(vsock >= 0 && common > vsock);
        }
        l = strv_free(l);

        assert_int_equal(modules_dep_resolve(dep, "virtio-mmio", &l), 0);
        assert_int_equal(strv_length(l), 3);
        assert_string_equal(l[2], "kernel/drivers/virtio/virtio_mmio.ko");
        l = strv_free(l);

        assert_int_equal(modules_dep_resolve(dep, "nonexistent", &l), -ENOENT);
        assert_int_equal(modules_dep_resolve(dep, "loop_a", &l), -ELOOP);
        assert_null(l);
}

static void test_cmdline(void **state) {
        const char *c = "console=ttyS0 bistro.no_services panic=-1 xbistro.debug\n";

        assert_true(proc_cmdline_has(c, "bistro.no_services"));
        assert_true(proc_cmdline_has(c, "console=ttyS0"));
        assert_false(proc_cmdline_has(c, "bistro.debug"));
        assert_false(proc_cmdline_has(c, "bistro.no"));
        assert_false(proc_cmdline_has("", "bistro.debug"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ratelimit_burst_then_refuse),
                cmocka_unit_test(test_ratelimit_slow_crashes_never_limited),
                cmocka_unit_test(test_ratelimit_burst_one),
                cmocka_unit_test(test_split_quoted),
                cmocka_unit_test(test_env_merge),
                cmocka_unit_test(test_service_config),
                cmocka_unit_test(test_service_name),
                cmocka_unit_test(test_timezone),
                cmocka_unit_test(test_image_version),
                cmocka_unit_test(test_mount_flags),
                cmocka_unit_test(test_fs_probe),
                cmocka_unit_test(test_mkfs_argv),
                cmocka_unit_test(test_modules),
                cmocka_unit_test(test_cmdline),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
