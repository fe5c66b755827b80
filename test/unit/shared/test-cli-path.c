/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cli-util and path-lookup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "cli-util.h"
#include "macro.h"
#include "main-func.h"
#include "alloc-util.h"
#include "path-lookup.h"
#include "string-util.h"

static void test_escape(void **state) {
        /* OSC 52 (clipboard write) and a C1 CSI must be shown, not obeyed. */
        const char in[] = "a\x1b]52;c;SGVsbG8=\x07 b\xc2\x9b"
                          "2J c\xc2\xa0\xe2\x82\xac\n\t\x7f\xff";
        _cleanup_free_ char *e = escape_for_terminal(in, sizeof(in) - 1, true);
        _cleanup_free_ char *f = escape_for_terminal(in, sizeof(in) - 1, false);

        assert_string_equal(
                e, "a\\x1b]52;c;SGVsbG8=\\x07 b\\xc2\\x9b2J c\xc2\xa0\xe2\x82\xac\n\t\\x7f\\xff");
        assert_string_equal(
                f, "a\\x1b]52;c;SGVsbG8=\\x07 b\\xc2\\x9b2J c\xc2\xa0\xe2\x82\xac\\x0a\\x09\\x7f\\xff");
        /* The C1 range at its edges: U+0080 and U+009F escaped, U+00A0 kept; a truncated sequence. */
        free(e);
        e = escape_for_terminal("\xc2\x80\xc2\x9f\xc2\xa0\xe2\x82", 8, false);
        assert_string_equal(e, "\\xc2\\x80\\xc2\\x9f\xc2\xa0\\xe2\\x82");
        free(f);
        f = escape_for_terminal("x\0y", 3, false); /* NUL inside */
        assert_string_equal(f, "x\\x00y");
}

static void test_json(void **state) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);

        json_write_string(f, "a\"b\\c\nd\x01");
        fclose(f);
        assert_string_equal(buf, "\"a\\\"b\\\\c\\nd\\u0001\"");
        free(buf);
}

static void test_exit_status(void **state) {
        assert_int_equal(main_exit_status(0), 0);
        assert_int_equal(main_exit_status(-EINVAL), 1);
        assert_int_equal(main_exit_status(-EUSAGE), 2);
        assert_int_equal(main_exit_status(42), 42);
        assert_int_equal(main_exit_status(256), 1);
}

static void test_paths(void **state) {
        char tmp[] = "/tmp/test-cli-path.XXXXXX";
        char *p = NULL, *q = NULL;

        assert_non_null(mkdtemp(tmp));
        setenv("XDG_RUNTIME_DIR", tmp, 1);
        assert_int_equal(bistro_runtime_dir(&p), 0);
        assert_true(startswith(p, tmp));
        free(p);
        p = NULL;
        /* Not ours to use: group-accessible. */
        assert_true(asprintf(&q, "%s/bistro", tmp) > 0);
        assert_int_equal(chmod(q, 0750), 0);
        assert_int_equal(bistro_runtime_dir(&p), -EPERM);
        assert_int_equal(rmdir(q), 0);
        /* A symlink planted where the directory should be. */
        assert_int_equal(symlink("/tmp", q), 0);
        assert_int_equal(bistro_runtime_dir(&p), -EPERM);
        assert_int_equal(unlink(q), 0);
        setenv("XDG_RUNTIME_DIR", "relative", 1);
        assert_int_equal(bistro_runtime_dir(&p), -EINVAL);
        unsetenv("XDG_RUNTIME_DIR");
        assert_int_equal(bistro_runtime_dir(&p), -EINVAL);

        setenv("XDG_DATA_HOME", "/d", 1);
        assert_int_equal(bistro_data_dir(&p), 0);
        assert_string_equal(p, "/d/bistro");
        free(p);
        unsetenv("BISTRO_IMAGE_STORE");
        assert_int_equal(bistro_image_store(&p), 0);
        assert_string_equal(p, "/d/bistro/images/containers");
        free(p);
        setenv("BISTRO_IMAGE_STORE", "rel/store", 1);
        assert_int_equal(bistro_image_store(&p), -EINVAL);
        setenv("BISTRO_IMAGE_STORE", "/s", 1);
        assert_int_equal(bistro_image_store(&p), 0);
        assert_string_equal(p, "/s");
        free(p);
        unsetenv("XDG_DATA_HOME");
        setenv("HOME", "/h", 1);
        assert_int_equal(bistro_data_dir(&p), 0);
        assert_string_equal(p, "/h/.local/share/bistro");
        free(p);
        assert_int_equal(bistro_files_mountpoint("termina", "penguin", &p), 0);
        assert_string_equal(p, "/h/Bistro/penguin");
        free(p);
        /* Another VM: a name no termina container can have. */
        assert_int_equal(bistro_files_mountpoint("dev", "penguin", &p), 0);
        assert_string_equal(p, "/h/Bistro/penguin@dev");
        free(p);
        unsetenv("XDG_CONFIG_HOME");
        assert_int_equal(bistro_config_dir(&p), 0);
        assert_string_equal(p, "/h/.config/bistro");
        free(p);
        setenv("XDG_CONFIG_HOME", "relative", 1); /* ignored, as the XDG spec says */
        assert_int_equal(bistro_config_dir(&p), 0);
        assert_string_equal(p, "/h/.config/bistro");
        free(p);
        setenv("XDG_CONFIG_HOME", "/c", 1);
        assert_int_equal(bistro_config_dir(&p), 0);
        assert_string_equal(p, "/c/bistro");
        free(p);
        unsetenv("XDG_CONFIG_HOME");
        unsetenv("HOME");
        assert_int_equal(bistro_data_dir(&p), -EINVAL);
        assert_int_equal(bistro_config_dir(&p), -EINVAL);
        assert_int_equal(bistro_files_mountpoint("termina", "penguin", &p), -EINVAL);

        /* The environment override must name an executable. */
        setenv("BISTRO_TEST_PROG", "/bin/sh", 1);
        assert_int_equal(bistro_find_program("whatever", "BISTRO_TEST_PROG", &p), 0);
        assert_string_equal(p, "/bin/sh");
        free(p);
        setenv("BISTRO_TEST_PROG", "/etc/passwd", 1);
        assert_int_equal(bistro_find_program("whatever", "BISTRO_TEST_PROG", &p), -EACCES);
        /* This test runs from the build tree: programs resolve there. */
        assert_true(bistro_running_from_build_tree());
        assert_int_equal(bistro_find_program("vmm", NULL, &p), 0);
        assert_true(strstr(p, "/src/vmm/vmm") != NULL);
        free(p);
        assert_int_equal(bistro_find_program("no-such", NULL, &p), -ENOENT);
        assert_int_equal(rmdir(tmp), 0);
        free(q);
}

static void test_waypipe_bundle(void **state) {
        char tmp[] = "/tmp/test-waypipe-bundle.XXXXXX";
        _cleanup_free_ char *loader = NULL, *waypipe = NULL;
        char *p = NULL;
        FILE *f;

        assert_non_null(mkdtemp(tmp));
        assert_true(asprintf(&loader, "%s/ld-linux-x86-64.so.2", tmp) > 0);
        assert_true(asprintf(&waypipe, "%s/waypipe", tmp) > 0);
        setenv("BISTRO_WAYPIPE_BUNDLE", tmp, 1);
        /* An empty directory is no bundle; nor is one whose loader cannot be executed. */
        assert_int_equal(bistro_find_waypipe_bundle(&p), -ENOENT);
        assert_non_null(f = fopen(loader, "w"));
        fclose(f);
        assert_non_null(f = fopen(waypipe, "w"));
        fclose(f);
        assert_int_equal(bistro_find_waypipe_bundle(&p), -ENOENT);
        assert_int_equal(chmod(loader, 0755), 0);
        assert_int_equal(bistro_find_waypipe_bundle(&p), 0);
        assert_string_equal(p, tmp);
        free(p);
        p = NULL;
        assert_int_equal(unlink(waypipe), 0);
        assert_int_equal(bistro_find_waypipe_bundle(&p), -ENOENT);
        assert_int_equal(unlink(loader), 0);
        assert_int_equal(rmdir(tmp), 0);
        setenv("BISTRO_WAYPIPE_BUNDLE", "rel/bundle", 1);
        assert_int_equal(bistro_find_waypipe_bundle(&p), -EINVAL);
        assert_null(p);
        /* From the build tree: the bundle image/waypipe builds (by default, before the tests run). */
        unsetenv("BISTRO_WAYPIPE_BUNDLE");
        assert_int_equal(bistro_find_waypipe_bundle(&p), 0);
        assert_true(strlen(p) > 21 && streq(p + strlen(p) - 21, "/image/waypipe/bundle"));
        free(p);
}

/* The compositor the Wayland gate connects to. */
static void test_host_wayland_socket(void **state) {
        char *p = NULL;

        unsetenv("WAYLAND_DISPLAY");
        assert_int_equal(host_wayland_socket(&p), -ENXIO);
        setenv("WAYLAND_DISPLAY", "", 1);
        assert_int_equal(host_wayland_socket(&p), -ENXIO);
        setenv("WAYLAND_DISPLAY", "/run/user/1000/wayland-1", 1);
        assert_int_equal(host_wayland_socket(&p), 0);
        assert_string_equal(p, "/run/user/1000/wayland-1");
        p = mfree(p);
        setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
        setenv("WAYLAND_DISPLAY", "wayland-0", 1);
        assert_int_equal(host_wayland_socket(&p), 0);
        assert_string_equal(p, "/run/user/1000/wayland-0");
        p = mfree(p);
        setenv("WAYLAND_DISPLAY", "sub/wayland-0", 1);
        assert_int_equal(host_wayland_socket(&p), -EINVAL);
        setenv("XDG_RUNTIME_DIR", "relative", 1);
        setenv("WAYLAND_DISPLAY", "wayland-0", 1);
        assert_int_equal(host_wayland_socket(&p), -EINVAL);
        unsetenv("XDG_RUNTIME_DIR");
        assert_int_equal(host_wayland_socket(&p), -EINVAL);
        setenv("WAYLAND_DISPLAY",
               "/x/"
               "0123456789012345678901234567890123456789012345678901234567890123456789"
               "0123456789012345678901234567890123456789",
               1);
        assert_int_equal(host_wayland_socket(&p), -ENAMETOOLONG);
        assert_null(p);
        unsetenv("WAYLAND_DISPLAY");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_escape),         cmocka_unit_test(test_json),
                cmocka_unit_test(test_exit_status),    cmocka_unit_test(test_paths),
                cmocka_unit_test(test_waypipe_bundle), cmocka_unit_test(test_host_wayland_socket),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
