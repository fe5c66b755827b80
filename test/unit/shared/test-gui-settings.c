/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gui-settings: gui.conf (per-app scale, window mark), the factor parser, concurrent writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "gui-settings.h"
#include "macro.h"
#include "rm-rf.h"

static char home[] = "/tmp/test-gui-settings-XXXXXX";
static char conf[sizeof(home) + 32];

static int setup(void **state) {
        assert_non_null(mkdtemp(home));
        assert_int_equal(setenv("XDG_CONFIG_HOME", home, 1), 0);
        snprintf(conf, sizeof(conf), "%s/bistro/gui.conf", home);
        return 0;
}

static int teardown(void **state) {
        (void) rm_rf(home);
        return 0;
}

static void test_factor(void **state) {
        char buf[16];
        unsigned p;

        assert_int_equal(scale_factor_parse("1.5", &p), 0);
        assert_int_equal(p, 150);
        assert_int_equal(scale_factor_parse("2", &p), 0);
        assert_int_equal(p, 200);
        assert_int_equal(scale_factor_parse("150%", &p), 0);
        assert_int_equal(p, 150);
        assert_int_equal(scale_factor_parse("0.5", &p), 0);
        assert_int_equal(p, 50);
        assert_int_equal(scale_factor_parse("1.25", &p), 0);
        assert_int_equal(p, 125);
        assert_int_equal(scale_factor_parse("4", &p), 0);
        assert_int_equal(p, 400);
        assert_int_equal(scale_factor_parse("4.00", &p), 0);
        assert_int_equal(p, 400);
        assert_int_equal(scale_factor_parse("50%", &p), 0);
        assert_int_equal(p, 50);

        assert_int_equal(scale_factor_parse("4.01", &p), -ERANGE);
        assert_int_equal(scale_factor_parse("0.49", &p), -ERANGE);
        assert_int_equal(scale_factor_parse("0", &p), -ERANGE);
        assert_int_equal(scale_factor_parse("401%", &p), -ERANGE);
        assert_int_equal(scale_factor_parse("99999999999999999999", &p), -ERANGE);
        assert_int_equal(scale_factor_parse("99999999%", &p), -ERANGE);
        assert_int_equal(scale_factor_parse("1.255", &p), -EINVAL);
        assert_int_equal(scale_factor_parse("1.", &p), -EINVAL);
        assert_int_equal(scale_factor_parse(".5", &p), -EINVAL);
        assert_int_equal(scale_factor_parse("1,5", &p), -EINVAL);
        assert_int_equal(scale_factor_parse("-1", &p), -EINVAL);
        assert_int_equal(scale_factor_parse("+2", &p), -EINVAL);
        assert_int_equal(scale_factor_parse("1.5%", &p), -EINVAL);
        assert_int_equal(scale_factor_parse("%", &p), -EINVAL);
        assert_int_equal(scale_factor_parse("", &p), -EINVAL);
        assert_int_equal(scale_factor_parse(" 2", &p), -EINVAL);
        assert_int_equal(scale_factor_parse("2x", &p), -EINVAL);

        scale_factor_format(150, buf, sizeof(buf));
        assert_string_equal(buf, "1.5");
        scale_factor_format(200, buf, sizeof(buf));
        assert_string_equal(buf, "2");
        scale_factor_format(125, buf, sizeof(buf));
        assert_string_equal(buf, "1.25");
        scale_factor_format(105, buf, sizeof(buf));
        assert_string_equal(buf, "1.05");
        scale_factor_format(50, buf, sizeof(buf));
        assert_string_equal(buf, "0.5");
}

static void test_window_mark_names(void **state) {
        WindowMark m;

        assert_int_equal(window_mark_from_string("app-id", &m), 0);
        assert_int_equal(m, WINDOW_MARK_APP_ID);
        assert_int_equal(window_mark_from_string("none", &m), 0);
        assert_int_equal(m, WINDOW_MARK_NONE);
        assert_int_equal(window_mark_from_string("title", &m), 0);
        assert_int_equal(m, WINDOW_MARK_TITLE);
        assert_int_equal(window_mark_from_string("Title", &m), -EINVAL);
        assert_int_equal(window_mark_from_string(NULL, &m), -EINVAL);
        assert_string_equal(window_mark_to_string(WINDOW_MARK_APP_ID), "app-id");
        assert_null(window_mark_to_string((WindowMark) 7));
}

static void test_app_id(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        assert_int_equal(gui_app_id_normalize("org.gnome.gedit.desktop", &a), 0);
        assert_string_equal(a, "org.gnome.gedit");
        assert_int_equal(gui_app_id_normalize("org.gnome.gedit", &b), 0);
        assert_string_equal(b, "org.gnome.gedit");
        assert_int_equal(gui_app_id_normalize(".desktop", &a), -EINVAL);
        assert_int_equal(gui_app_id_normalize("a/b", &a), -EINVAL);
        assert_int_equal(gui_app_id_normalize("", &a), -EINVAL);
}

static void check_parse_error(const char *text, const char *message) {
        _cleanup_free_ char *m = NULL;
        GuiSettings s = GUI_SETTINGS_INIT;

        assert_int_equal(gui_settings_parse(text, strlen(text), &s, &m), -EBADMSG);
        assert_non_null(m);
        if (!streq(m, message))
                fail_msg("'%s': got '%s', expected '%s'", text, m, message);
}

static void test_parse(void **state) {
        static const char text[] = "# mine\n"
                                   "\n"
                                   "  app-scale termina/penguin/org.gnome.gedit\t=  150  \n"
                                   "window-mark=app-id\n"
                                   "app-scale dev/box/foot = 200\n"
                                   "app-scale dev/box/Alacritty = 50"; /* no final newline */
        _cleanup_(gui_settings_done) GuiSettings s = GUI_SETTINGS_INIT;
        _cleanup_free_ char *m = NULL, *out = NULL;

        assert_int_equal(gui_settings_parse(text, strlen(text), &s, &m), 0);
        assert_null(m);
        assert_int_equal(s.window_mark, WINDOW_MARK_APP_ID);
        assert_int_equal(s.n_scales, 3);
        assert_int_equal(gui_settings_find_scale(&s, "termina", "penguin", "org.gnome.gedit"), 150);
        assert_int_equal(gui_settings_find_scale(&s, "termina", "penguin", "org.gnome.gedit.desktop"), 150);
        assert_int_equal(gui_settings_find_scale(&s, "dev", "box", "foot"), 200);
        assert_int_equal(gui_settings_find_scale(&s, "dev", "box", "Alacritty"), 50);
        assert_int_equal(gui_settings_find_scale(&s, "dev", "box", "alacritty"), 0);
        assert_int_equal(gui_settings_find_scale(&s, "termina", "box", "foot"), 0);
        assert_int_equal(gui_settings_find_scale(&s, "dev", "box", "bad/id"), 0);

        /* The canonical form is sorted and parses back to the same. */
        assert_int_equal(gui_settings_format(&s, &out), 0);
        assert_non_null(
                strstr(out, "window-mark = app-id\n"
                            "app-scale dev/box/Alacritty = 50\n"
                            "app-scale dev/box/foot = 200\n"
                            "app-scale termina/penguin/org.gnome.gedit = 150\n"));
        {
                _cleanup_(gui_settings_done) GuiSettings t = GUI_SETTINGS_INIT;

                assert_int_equal(gui_settings_parse(out, strlen(out), &t, NULL), 0);
                assert_int_equal(t.n_scales, 3);
                assert_int_equal(t.window_mark, WINDOW_MARK_APP_ID);
        }

        /* Empty: the defaults. */
        {
                _cleanup_(gui_settings_done) GuiSettings t = GUI_SETTINGS_INIT;

                assert_int_equal(gui_settings_parse("", 0, &t, NULL), 0);
                assert_int_equal(t.window_mark, WINDOW_MARK_TITLE);
                assert_int_equal(t.n_scales, 0);
        }
}

static void test_parse_errors(void **state) {
        _cleanup_free_ char *m = NULL;
        GuiSettings s = GUI_SETTINGS_INIT;

        check_parse_error("window-mark = title\nwindow-mark = none\n", "line 2: window-mark is set twice");
        check_parse_error(
                "\n\nwindow-mark = Title\n", "line 3: invalid window-mark 'Title' (title, app-id or none)");
        check_parse_error("scale = 2\n", "line 1: unknown setting 'scale'");
        check_parse_error("app-scales a/b/c = 150\n", "line 1: unknown setting 'app-scales a/b/c'");
        check_parse_error("window-mark\n", "line 1: expected 'KEY = VALUE'");
        check_parse_error(
                "app-scale a/b = 150\n", "line 1: expected 'app-scale VM/CONTAINER/APP = PERCENT'");
        check_parse_error(
                "app-scale a/b/c/d = 150\n",
                "line 1: invalid application id 'c/d' (a desktop file id without .desktop)");
        check_parse_error(
                "app-scale a/b/c.desktop = 150\n",
                "line 1: invalid application id 'c.desktop' (a desktop file id without .desktop)");
        check_parse_error("app-scale ../b/c = 150\n", "line 1: invalid VM name '..'");
        check_parse_error("app-scale a//c = 150\n", "line 1: invalid container name ''");
        check_parse_error(
                "app-scale a/b/c = 1.5\n", "line 1: invalid scale '1.5' (a whole percent, 50 to 400)");
        check_parse_error(
                "app-scale a/b/c = 401\n", "line 1: invalid scale '401' (a whole percent, 50 to 400)");
        check_parse_error(
                "app-scale a/b/c = 49\n", "line 1: invalid scale '49' (a whole percent, 50 to 400)");
        check_parse_error("app-scale a/b/c = \n", "line 1: invalid scale '' (a whole percent, 50 to 400)");
        check_parse_error(
                "app-scale a/b/c = 100\napp-scale a/b/c = 200\n", "line 2: app-scale a/b/c is set twice");
        check_parse_error("window-mark = title\r\n", "line 1: control character");
        check_parse_error("# \x1b[2J\n", "line 1: control character");
        check_parse_error("# \xff\n", "line 1: invalid UTF-8");
        assert_int_equal(gui_settings_parse("a\0b", 3, &s, &m), -EBADMSG);
        assert_string_equal(m, "contains a NUL byte");
}

static void test_put(void **state) {
        _cleanup_(gui_settings_done) GuiSettings s = GUI_SETTINGS_INIT;

        assert_int_equal(gui_settings_put_scale(&s, "vm", "c", "b.desktop", 150), 1);
        assert_int_equal(gui_settings_put_scale(&s, "vm", "c", "a", 200), 1);
        assert_int_equal(gui_settings_put_scale(&s, "vm", "c", "b", 150), 0);
        assert_int_equal(gui_settings_put_scale(&s, "vm", "c", "b", 175), 1);
        assert_int_equal(s.n_scales, 2);
        assert_string_equal(s.scales[0].app, "a");
        assert_string_equal(s.scales[1].app, "b");
        assert_int_equal(s.scales[1].percent, 175);
        assert_int_equal(gui_settings_put_scale(&s, "vm", "c", "a", 0), 1);
        assert_int_equal(gui_settings_put_scale(&s, "vm", "c", "a", 0), 0);
        assert_int_equal(s.n_scales, 1);
        assert_int_equal(gui_settings_put_scale(&s, "vm", "c", "a", 49), -EINVAL);
        assert_int_equal(gui_settings_put_scale(&s, "vm", "c", "a", 401), -EINVAL);
        assert_int_equal(gui_settings_put_scale(&s, "v/m", "c", "a", 100), -EINVAL);
        assert_int_equal(gui_settings_put_scale(&s, "vm", "c", "a b", 100), -EINVAL);
}

static void test_file(void **state) {
        _cleanup_free_ char *m = NULL, *text = NULL;
        WindowMark mark;
        unsigned p = 1;
        struct stat st;

        /* No file: the defaults. */
        assert_int_equal(gui_settings_window_mark(&mark), 0);
        assert_int_equal(mark, WINDOW_MARK_TITLE);
        assert_int_equal(gui_settings_app_scale("termina", "penguin", "foot", &p), 0);
        assert_int_equal(p, 0);

        assert_int_equal(gui_settings_set_scale("termina", "penguin", "foot.desktop", 150, &m), 1);
        assert_int_equal(gui_settings_set_scale("termina", "penguin", "foot", 150, &m), 0);
        assert_int_equal(gui_settings_set_window_mark(WINDOW_MARK_APP_ID, &m), 1);
        assert_int_equal(gui_settings_set_window_mark(WINDOW_MARK_APP_ID, &m), 0);
        assert_null(m);
        assert_int_equal(gui_settings_app_scale("termina", "penguin", "foot", &p), 0);
        assert_int_equal(p, 150);
        assert_int_equal(gui_settings_window_mark(&mark), 0);
        assert_int_equal(mark, WINDOW_MARK_APP_ID);
        assert_int_equal(stat(conf, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0644);
        assert_int_equal(gui_settings_set_scale("termina", "penguin", "foot", 0, &m), 1);
        assert_int_equal(gui_settings_app_scale("termina", "penguin", "foot", &p), 0);
        assert_int_equal(p, 0);
        assert_int_equal(gui_settings_set_scale("termina", "penguin", "foot", 30, &m), -EINVAL);

        /* A broken file is reported with its path and line, and never overwritten. */
        assert_int_equal(write_file_atomic(conf, "window-mark = none\nbogus\n", 0644), 0);
        assert_int_equal(gui_settings_window_mark(&mark), -EBADMSG);
        assert_int_equal(gui_settings_set_window_mark(WINDOW_MARK_TITLE, &m), -EBADMSG);
        assert_non_null(m);
        assert_non_null(strstr(m, "/bistro/gui.conf: line 2: expected 'KEY = VALUE'"));
        assert_int_equal(read_file(conf, 4096, &text, NULL), 0);
        assert_string_equal(text, "window-mark = none\nbogus\n");
        assert_int_equal(unlink(conf), 0);

        /* Not a regular file: refused, not read (a FIFO would block). */
        assert_int_equal(mkfifo(conf, 0600), 0);
        assert_int_equal(gui_settings_window_mark(&mark), -EBADF);
        assert_int_equal(unlink(conf), 0);
}

/* Writers in several processes at once: every entry survives (the lock serialises the
 * read-modify-write; without it, a writer rewrites the file from a stale read). */
static void test_concurrent_writers(void **state) {
        _cleanup_(gui_settings_done) GuiSettings s = GUI_SETTINGS_INIT;
        enum {
                WRITERS = 8,
                EACH = 25
        };
        pid_t pids[WRITERS];

        (void) unlink(conf);
        for (int w = 0; w < WRITERS; w++) {
                pids[w] = fork();
                assert_true(pids[w] >= 0);
                if (pids[w] == 0) {
                        for (int i = 0; i < EACH; i++) {
                                char app[32];

                                snprintf(app, sizeof(app), "app-%d-%d", w, i);
                                if (gui_settings_set_scale("vm", "c", app, 100 + (unsigned) i, NULL) != 1)
                                        _exit(1);
                        }
                        _exit(0);
                }
        }
        for (int w = 0; w < WRITERS; w++) {
                int status;

                assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
                assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        assert_int_equal(gui_settings_load(&s, NULL), 0);
        assert_int_equal(s.n_scales, WRITERS * EACH);
        for (int w = 0; w < WRITERS; w++)
                for (int i = 0; i < EACH; i++) {
                        char app[32];

                        snprintf(app, sizeof(app), "app-%d-%d", w, i);
                        assert_int_equal(gui_settings_find_scale(&s, "vm", "c", app), 100 + i);
                }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_factor),       cmocka_unit_test(test_window_mark_names),
                cmocka_unit_test(test_app_id),       cmocka_unit_test(test_parse),
                cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_put),
                cmocka_unit_test(test_file),         cmocka_unit_test(test_concurrent_writers),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
