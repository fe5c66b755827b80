/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gui-env.h"
#include "macro.h"

static const char *find(const char *name) {
        size_t l = strlen(name);

        for (const char *const *e = gui_env; *e; e++)
                if (strncmp(*e, name, l) == 0 && (*e)[l] == '=')
                        return *e + l + 1;
        return NULL;
}

static void test_list(void **state) {
        size_t n = 0;

        assert_string_equal(find("WAYLAND_DISPLAY"), "wayland-0");
        assert_string_equal(find("GDK_BACKEND"), "wayland,x11");
        assert_string_equal(find("QT_QPA_PLATFORM"), "wayland;xcb");
        assert_string_equal(find("SDL_VIDEODRIVER"), "wayland,x11");
        assert_string_equal(find("MOZ_ENABLE_WAYLAND"), "1");
        assert_null(find("XDG_RUNTIME_DIR"));             /* per user, not in the list */
        assert_null(find("_JAVA_AWT_WM_NONREPARENTING")); /* X11 only: no X server here */
        /* every entry NAME=value, each name once */
        for (const char *const *e = gui_env; *e; e++, n++) {
                const char *eq = strchr(*e, '=');

                assert_non_null(eq);
                assert_true(eq > *e);
                for (const char *const *f = e + 1; *f; f++)
                        assert_false(strncmp(*e, *f, (size_t) (eq - *e) + 1) == 0);
        }
        assert_true(n > 0 && n < 16);
}

static void test_runtime_dir(void **state) {
        char b[GUI_RUNTIME_DIR_MAX];

        gui_runtime_dir(1000, b);
        assert_string_equal(b, "/run/user/1000");
        gui_runtime_dir(4294967294u, b);
        assert_string_equal(b, "/run/user/4294967294");
}

static void check(uint32_t percent, const char *gdk, const char *dpi, const char *qt, const char *cursor) {
        GuiScaleEnv e;

        assert_int_equal(gui_scale_env(percent, &e), 0);
        assert_int_equal(e.n, 5);
        assert_string_equal(e.entries[0], gdk);
        assert_string_equal(e.entries[1], dpi);
        assert_string_equal(e.entries[2], qt);
        assert_memory_equal(e.entries[3], "ELM_SCALE=", 10);
        assert_string_equal(e.entries[3] + 10, strchr(qt, '=') + 1);
        assert_string_equal(e.entries[4], cursor);
}

static void test_scale(void **state) {
        GuiScaleEnv e;

        assert_int_equal(gui_scale_env(0, &e), 0);
        assert_int_equal(e.n, 0);
        assert_int_equal(gui_scale_env(49, &e), -EINVAL);
        assert_int_equal(gui_scale_env(401, &e), -EINVAL);
        assert_int_equal(e.n, 0);
        /* GTK's window scale is whole; the rest goes to its text. */
        check(100, "GDK_SCALE=1", "GDK_DPI_SCALE=1", "QT_SCALE_FACTOR=1", "XCURSOR_SIZE=24");
        check(150, "GDK_SCALE=1", "GDK_DPI_SCALE=1.5", "QT_SCALE_FACTOR=1.5", "XCURSOR_SIZE=36");
        check(200, "GDK_SCALE=2", "GDK_DPI_SCALE=1", "QT_SCALE_FACTOR=2", "XCURSOR_SIZE=48");
        check(250, "GDK_SCALE=2", "GDK_DPI_SCALE=1.25", "QT_SCALE_FACTOR=2.5", "XCURSOR_SIZE=60");
        check(50, "GDK_SCALE=1", "GDK_DPI_SCALE=0.5", "QT_SCALE_FACTOR=0.5", "XCURSOR_SIZE=12");
        check(75, "GDK_SCALE=1", "GDK_DPI_SCALE=0.75", "QT_SCALE_FACTOR=0.75", "XCURSOR_SIZE=18");
        check(125, "GDK_SCALE=1", "GDK_DPI_SCALE=1.25", "QT_SCALE_FACTOR=1.25", "XCURSOR_SIZE=30");
        /* 350 / 300, rounded to 1/1000 */
        check(350, "GDK_SCALE=3", "GDK_DPI_SCALE=1.167", "QT_SCALE_FACTOR=3.5", "XCURSOR_SIZE=84");
        check(400, "GDK_SCALE=4", "GDK_DPI_SCALE=1", "QT_SCALE_FACTOR=4", "XCURSOR_SIZE=96");
        check(333, "GDK_SCALE=3", "GDK_DPI_SCALE=1.11", "QT_SCALE_FACTOR=3.33", "XCURSOR_SIZE=80");
        check(101, "GDK_SCALE=1", "GDK_DPI_SCALE=1.01", "QT_SCALE_FACTOR=1.01", "XCURSOR_SIZE=24");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_list),
                cmocka_unit_test(test_runtime_dir),
                cmocka_unit_test(test_scale),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
