/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* app-entries: the host's desktop entries and icons of the containers' applications. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "app-entries.h"
#include "fd-util.h"
#include "fileio.h"
#include "macro.h"
#include "path-util.h"
#include "rm-rf.h"
#include "spawn-util.h"
#include "strv.h"
#include "string-util.h"

static char home[] = "/tmp/test-app-entries-XXXXXX";

static int setup(void **state) {
        assert_non_null(mkdtemp(home));
        assert_int_equal(setenv("XDG_DATA_HOME", home, 1), 0);
        return 0;
}

static int teardown(void **state) {
        (void) rm_rf(home);
        return 0;
}

static char *path_of(const char *rel) {
        char *p = NULL;

        assert_true(asprintf(&p, "%s/%s", home, rel) > 0);
        return p;
}

static char *read_all(const char *path) {
        char *s = NULL;

        assert_int_equal(read_file(path, 1 << 20, &s, NULL), 0);
        return s;
}

static void put_be32(uint8_t *p, uint32_t v) {
        p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

/* A minimal PNG: signature, IHDR (w x h, depth, colour type), an empty IDAT, IEND. */
static size_t make_png(uint8_t *b, uint32_t w, uint32_t h, uint8_t depth, uint8_t ct) {
        static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
        size_t n = 0;

        memcpy(b, sig, 8);
        n = 8;
        put_be32(b + n, 13);
        memcpy(b + n + 4, "IHDR", 4);
        put_be32(b + n + 8, w);
        put_be32(b + n + 12, h);
        b[n + 16] = depth;
        b[n + 17] = ct;
        b[n + 18] = b[n + 19] = b[n + 20] = 0;
        put_be32(b + n + 21, 0 /* CRC: not checked */);
        n += 25;
        put_be32(b + n, 0);
        memcpy(b + n + 4, "IDAT", 4);
        put_be32(b + n + 8, 0);
        n += 12;
        put_be32(b + n, 0);
        memcpy(b + n + 4, "IEND", 4);
        put_be32(b + n + 8, 0);
        return n + 12;
}

static const AppInfo gedit = {
        .id = "org.gnome.gedit",
        .name = "Text Editor",
        .comment = "Edit\\text",
        .mime_types = (char *[]){ (char *) "text/plain", (char *) "text/x-c", NULL },
        .n_mime_types = 2,
        .startup_wm_class = "gedit",
};

static void test_format(void **state) {
        _cleanup_free_ char *t = NULL;
        const AppInfo plain = { .id = "xterm", .name = "XTerm", .no_display = true };

        assert_int_equal(app_entry_format("termina", "penguin", &gedit, "/usr/bin/bistro", true, &t), 0);
        assert_string_equal(
                t, "[Desktop Entry]\n"
                   "Type=Application\n"
                   "Name=Text Editor (penguin)\n"
                   "Comment=Edit\\\\text\n"
                   "Exec=/usr/bin/bistro --app org.gnome.gedit --vm termina --container penguin %U\n"
                   "Icon=bistro-termina-penguin-org.gnome.gedit\n"
                   "MimeType=text/plain;text/x-c;\n"
                   "StartupWMClass=gedit\n"
                   "Terminal=false\n"
                   "X-Bistro-VM=termina\n"
                   "X-Bistro-Container=penguin\n"
                   "X-Bistro-App=org.gnome.gedit\n");
        free(t);
        t = NULL;
        /* A path with reserved characters is quoted, with \ " ` $ escaped, then \ doubled as a value. */
        assert_int_equal(app_entry_format("vm", "c", &plain, "/opt/my apps/$bi\"stro%", false, &t), 0);
        assert_non_null(strstr(
                t, "\nExec=\"/opt/my apps/\\\\$bi\\\\\"stro%%\" --app xterm --vm vm --container c %U\n"));
        assert_non_null(strstr(t, "\nNoDisplay=true\n"));
        assert_non_null(strstr(t, "\nStartupWMClass=xterm\n"));
        assert_null(strstr(t, "Icon="));
        assert_null(strstr(t, "MimeType="));
        assert_null(strstr(t, "Comment="));
}

static void test_window_mark_wm_class(void **state) {
        _cleanup_free_ char *t = NULL, *wm = NULL;
        AppInfo a = gedit, plain = { .id = "xterm", .name = "XTerm" };

        /* title and none: the container's class, unchanged. */
        a.window_mark = WINDOW_MARK_NONE;
        assert_int_equal(app_entry_wm_class("penguin", &a, &wm), 0);
        assert_string_equal(wm, "gedit");
        free(TAKE_PTR(wm));
        /* app-id: the app_id the gate gives the windows, from StartupWMClass or else the id. */
        a.window_mark = WINDOW_MARK_APP_ID;
        assert_int_equal(app_entry_wm_class("penguin", &a, &wm), 0);
        assert_string_equal(wm, "bistro.penguin.gedit");
        free(TAKE_PTR(wm));
        plain.window_mark = WINDOW_MARK_APP_ID;
        assert_int_equal(app_entry_wm_class("dev-box", &plain, &wm), 0);
        assert_string_equal(wm, "bistro.dev-box.xterm");
        free(TAKE_PTR(wm));
        assert_int_equal(app_entry_format("termina", "penguin", &a, "/usr/bin/bistro", false, &t), 0);
        assert_non_null(strstr(t, "\nStartupWMClass=bistro.penguin.gedit\n"));
        assert_non_null(strstr(t, "\nName=Text Editor (penguin)\n"));
        free(TAKE_PTR(t));
        a.window_mark = WINDOW_MARK_TITLE;
        assert_int_equal(app_entry_format("termina", "penguin", &a, "/usr/bin/bistro", false, &t), 0);
        assert_non_null(strstr(t, "\nStartupWMClass=gedit\n"));
        /* A bad class or container is refused, whatever the mark. */
        a.window_mark = WINDOW_MARK_APP_ID;
        a.startup_wm_class = "a b";
        assert_int_equal(app_entry_wm_class("penguin", &a, &wm), -EINVAL);
        a.startup_wm_class = "gedit";
        assert_int_equal(app_entry_wm_class("../x", &a, &wm), -EINVAL);
}

/* A changed mark reaches the entries on disk at once; the rest of each entry is kept. */
static void test_apply_window_mark(void **state) {
        _cleanup_free_ char *ge = path_of("applications/bistro-mark-pen-org.gnome.gedit.desktop");
        _cleanup_free_ char *xt = path_of("applications/bistro-mark-pen-xterm.desktop");
        _cleanup_free_ char *before = NULL, *t = NULL, *expected = NULL;
        const AppInfo plain = { .id = "xterm", .name = "XTerm" };
        AppInfo marked = gedit;

        assert_int_equal(app_entry_write("mark", "pen", &gedit, "/usr/bin/bistro", false), 1);
        assert_int_equal(app_entry_write("mark", "pen", &plain, "/usr/bin/bistro", false), 1);
        before = read_all(ge);

        assert_int_equal(app_entries_apply_window_mark(WINDOW_MARK_APP_ID), 2);
        assert_int_equal(app_entries_apply_window_mark(WINDOW_MARK_APP_ID), 0);
        /* Byte for byte what cicerone writes with that mark. */
        marked.window_mark = WINDOW_MARK_APP_ID;
        assert_int_equal(app_entry_format("mark", "pen", &marked, "/usr/bin/bistro", false, &expected), 0);
        t = read_all(ge);
        assert_string_equal(t, expected);
        free(TAKE_PTR(t));
        t = read_all(xt);
        assert_non_null(strstr(t, "\nStartupWMClass=bistro.pen.xterm\n"));
        free(TAKE_PTR(t));

        assert_int_equal(app_entries_apply_window_mark(WINDOW_MARK_NONE), 2);
        assert_int_equal(app_entries_apply_window_mark(WINDOW_MARK_TITLE), 0);
        t = read_all(ge);
        assert_string_equal(t, before);
        assert_int_equal(app_entries_remove("mark", NULL), 2);
}

static void test_hostile_names(void **state) {
        _cleanup_free_ char *t = NULL;
        AppInfo a = gedit;

        assert_int_equal(app_entry_format("../vm", "penguin", &gedit, "/b", false, &t), -EINVAL);
        assert_int_equal(app_entry_format("vm", "pen/guin", &gedit, "/b", false, &t), -EINVAL);
        assert_int_equal(app_entry_format("vm", "", &gedit, "/b", false, &t), -EINVAL);
        a.id = "../../etc/x";
        assert_int_equal(app_entry_write("vm", "c", &a, "/b", false), -EINVAL);
        a.id = "a;rm -rf ~";
        assert_int_equal(app_entry_write("vm", "c", &a, "/b", false), -EINVAL);
        a.id = "-x";
        assert_int_equal(app_entry_write("vm", "c", &a, "/b", false), -EINVAL);
        a.id = "ok";
        a.startup_wm_class = "x y";
        assert_int_equal(app_entry_write("vm", "c", &a, "/b", false), -EINVAL);
        a.startup_wm_class = NULL;
        a.mime_types = (char *[]){ (char *) "text/plain;x=y" };
        a.n_mime_types = 1;
        assert_int_equal(app_entry_write("vm", "c", &a, "/b", false), -EINVAL);
        /* Controls in the name are escaped or dropped: the entry stays one key per line. */
        a.mime_types = NULL;
        a.n_mime_types = 0;
        a.name = "a\nExec=/bin/sh\x1b";
        assert_int_equal(app_entry_format("vm", "c", &a, "/b", false, &t), 0);
        assert_non_null(strstr(t, "\nName=a\\nExec=/bin/sh (c)\n"));
        assert_null(strstr(t, "\nExec=/bin/sh"));
        assert_int_equal(app_icon_write("vm", "c", "../x", 0, "<svg/>", 6), -EINVAL);
}

static void test_write_validate_and_symlinks(void **state) {
        _cleanup_free_ char *e = path_of("applications/bistro-termina-penguin-org.gnome.gedit.desktop");
        _cleanup_free_ char *target = path_of("target");
        _cleanup_free_ char *icon =
                path_of("icons/hicolor/48x48/apps/bistro-termina-penguin-org.gnome.gedit.png");
        _cleanup_free_ char *icondir = path_of("icons/hicolor/48x48/apps");
        _cleanup_free_ char *text = NULL, *t2 = NULL, *tool = NULL;
        uint8_t png[128];
        size_t n = make_png(png, 48, 48, 8, 6);
        struct stat st;

        assert_int_equal(write_string_file(target, "precious", WRITE_STRING_FILE_CREATE), 0);
        assert_int_equal(app_entry_write("termina", "penguin", &gedit, "/usr/bin/bistro", false), 1);
        assert_int_equal(
                app_entry_write("termina", "penguin", &gedit, "/usr/bin/bistro", false), 0); /* same */
        /* A symlink planted at the final name is replaced, not followed. */
        assert_int_equal(unlink(e), 0);
        assert_int_equal(symlink(target, e), 0);
        assert_int_equal(app_entry_write("termina", "penguin", &gedit, "/usr/bin/bistro", false), 1);
        assert_int_equal(lstat(e, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal((int) (st.st_mode & 0777), 0644);
        text = read_all(target);
        assert_string_equal(text, "precious");

        assert_int_equal(mkdir_p(icondir, 0755), 0);
        assert_int_equal(symlink(target, icon), 0);
        assert_false(app_icon_exists("termina", "penguin", "org.gnome.gedit")); /* a symlink is no icon */
        assert_int_equal(app_icon_write("termina", "penguin", "org.gnome.gedit", 48, png, n), 0);
        assert_int_equal(lstat(icon, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        t2 = read_all(target);
        assert_string_equal(t2, "precious");
        assert_true(app_icon_exists("termina", "penguin", "org.gnome.gedit"));
        assert_int_equal(app_entry_write("termina", "penguin", &gedit, "/usr/bin/bistro", true), 1);

        if (find_executable("desktop-file-validate", &tool) < 0) {
                print_message("desktop-file-validate not installed: entry not validated by it\n");
                return;
        }
        assert_int_equal(
                spawn_capture(STRV_MAKE(tool, e), &(SpawnOptions){ .stdin_fd = -1, .stdout_fd = -1 }, NULL),
                0);
}

static void test_symlinked_dir_not_followed(void **state) {
        _cleanup_free_ char *apps = path_of("applications");
        _cleanup_free_ char *elsewhere = path_of("elsewhere");
        _cleanup_free_ char *planted = path_of("elsewhere/bistro-vm-c-x.desktop");
        AppInfo a = { .id = "x", .name = "X" };

        (void) rm_rf(apps);
        assert_int_equal(mkdir(elsewhere, 0755), 0);
        assert_int_equal(symlink(elsewhere, apps), 0);
        assert_true(app_entry_write("vm", "c", &a, "/b", false) < 0);
        assert_int_equal(access(planted, F_OK), -1);
        assert_int_equal(unlink(apps), 0);
}

static void test_png_svg_checks(void **state) {
        uint8_t png[128];
        size_t n;
        static const char svg[] = "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" "
                                  "xmlns:xlink=\"http://www.w3.org/1999/xlink\"><use xlink:href=\"#a\"/>"
                                  "<image href=\"data:image/png;base64,AAAA\"/></svg>";

        n = make_png(png, 48, 48, 8, 6);
        assert_int_equal(app_icon_check(48, png, n), 0);
        assert_int_equal(app_icon_check(64, png, n), -EBADMSG);      /* size differs */
        assert_int_equal(app_icon_check(0, png, n), -EBADMSG);       /* a PNG is no SVG */
        assert_int_equal(app_icon_check(48, png, n - 12), -EBADMSG); /* no IEND */
        assert_int_equal(app_icon_check(48, png, 20), -EBADMSG);     /* truncated */
        n = make_png(png, 48, 32, 8, 6);
        assert_int_equal(app_icon_check(48, png, n), -EBADMSG); /* not square */
        n = make_png(png, 48, 48, 3, 6);
        assert_int_equal(app_icon_check(48, png, n), -EBADMSG); /* bad depth */
        n = make_png(png, 48, 48, 8, 5);
        assert_int_equal(app_icon_check(48, png, n), -EBADMSG); /* bad colour type */
        n = make_png(png, 8, 8, 8, 6);
        assert_int_equal(app_icon_check(8, png, n), -EBADMSG); /* below 16 */
        png[0] = 'G';
        assert_int_equal(app_icon_check(8, png, n), -EBADMSG);

        assert_int_equal(app_icon_check(0, svg, strlen(svg)), 0);
        assert_int_equal(app_icon_check(0, "<html/>", 7), -EBADMSG);
        assert_int_equal(app_icon_check(0, "<svg>\0</svg>", 12), -EBADMSG);
        assert_int_equal(app_icon_check(0, "<svg>\xff</svg>", 12), -EBADMSG);
        const char *bad[] = {
                "<!DOCTYPE svg [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><svg>&x;</svg>",
                "<svg><image xlink:href=\"file:///etc/passwd\"/></svg>",
                "<svg><image href=\"/etc/passwd\"/></svg>",
                "<svg><image href='https://evil.example/x.png'/></svg>",
                "<svg><rect style=\"fill:url(http://evil/x)\"/></svg>",
                "<svg><script>alert(1)</script></svg>",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(app_icon_check(0, bad[i], strlen(bad[i])), -EBADMSG);
        {
                size_t big = APP_ICON_BYTES_MAX + 1;
                _cleanup_free_ char *b = malloc(big);

                assert_non_null(b);
                memset(b, ' ', big);
                memcpy(b, "<svg>", 5);
                assert_int_equal(app_icon_check(0, b, big), -EBADMSG);
        }
}

static void test_list_and_remove(void **state) {
        _cleanup_free_ char *svgpath = path_of("icons/hicolor/scalable/apps/bistro-vm-b-c-app-1.svg");
        _cleanup_free_ char *foreign = path_of("applications/bistro-vm-b-c-forged.desktop");
        AppInfo a = { .id = "app-1", .name = "One" }, b = { .id = "app-2", .name = "Two" };
        AppEntry *v = NULL;
        size_t n = 0;

        AppInfo c1 = { .id = "c-app-1", .name = "Squatter" }, d = { .id = "app-3", .name = "Three" };

        /* "vm-b"/"c" and "vm"/"b-c" give file names with the same prefix: the keys tell them apart. */
        assert_int_equal(app_entry_write("vm-b", "c", &a, "/b", false), 1);
        assert_int_equal(app_entry_write("vm-b", "c", &b, "/b", false), 1);
        assert_int_equal(app_entry_write("vm", "b-c", &d, "/b", false), 1);
        assert_int_equal(app_entry_write("other", "c", &a, "/b", false), 1);
        assert_int_equal(app_icon_write("vm-b", "c", "app-1", 0, "<svg/>", 6), 0);
        /* The same file name for another VM/container/id: the first owner keeps it. */
        assert_int_equal(app_entry_write("vm", "b-c", &a, "/b", false), -EEXIST);
        assert_int_equal(app_entry_write("vm", "b", &c1, "/b", false), -EEXIST);
        assert_int_equal(app_icon_write("vm", "b-c", "app-1", 0, "<svg/>", 6), -EEXIST);
        assert_int_equal(app_icon_write("vm", "b-c", "nope", 0, "<svg/>", 6), -ENOENT);
        assert_int_equal(app_icons_remove("vm", "b-c", "app-1"), -EEXIST);
        assert_int_equal(app_entry_remove("vm", "b-c", "app-2"), 0); /* vm-b/c's file: left alone */
        assert_true(app_icon_exists("vm-b", "c", "app-1"));
        /* A file with our prefix but bad keys is ignored. */
        assert_int_equal(
                write_string_file(
                        foreign,
                        "[Desktop Entry]\nName=x\nX-Bistro-VM=../x\nX-Bistro-Container=c\nX-Bistro-App=f\n",
                        WRITE_STRING_FILE_CREATE),
                0);

        assert_int_equal(app_entries_list(NULL, NULL, &v, &n), 0);
        assert_int_equal(n, 4);
        app_entries_free(v, n);
        assert_int_equal(app_entries_list("vm-b", NULL, &v, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(v[0].id, "app-1");
        assert_string_equal(v[0].name, "One (c)");
        assert_string_equal(v[0].container, "c");
        assert_non_null(strstr(v[0].path, "/applications/bistro-vm-b-c-app-1.desktop"));
        assert_string_equal(v[1].id, "app-2");
        app_entries_free(v, n);

        /* Replacing an app's icons starts with removing them. */
        assert_int_equal(app_icons_remove("vm-b", "c", "app-1"), 0);
        assert_false(app_icon_exists("vm-b", "c", "app-1"));
        assert_int_equal(app_icon_write("vm-b", "c", "app-1", 0, "<svg/>", 6), 0);
        /* Reconcile: keep app-2 only. */
        assert_int_equal(app_entries_remove_except("vm-b", "c", (const char *[]){ "app-2" }, 1), 1);
        assert_int_equal(access(svgpath, F_OK), -1);
        assert_int_equal(app_entries_list("vm-b", "c", &v, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(v[0].id, "app-2");
        app_entries_free(v, n);
        /* The other VM's look-alike stays. */
        assert_int_equal(app_entries_list("vm", "b-c", &v, &n), 0);
        assert_int_equal(n, 1);
        app_entries_free(v, n);

        assert_int_equal(app_entries_remove("vm-b", NULL), 1);
        assert_int_equal(app_entries_list("vm-b", NULL, &v, &n), 0);
        assert_int_equal(n, 0);
        app_entries_free(v, n);
        assert_int_equal(app_entries_remove("vm", "b-c"), 1);
        assert_int_equal(app_entry_remove("other", "c", "app-1"), 0);
        assert_int_equal(app_entries_list("other", NULL, &v, &n), 0);
        assert_int_equal(n, 0);
        app_entries_free(v, n);
        assert_int_equal(access(foreign, F_OK), 0);
        assert_int_equal(app_entries_remove("../x", NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_window_mark_wm_class),
                cmocka_unit_test(test_apply_window_mark),
                cmocka_unit_test(test_hostile_names),
                cmocka_unit_test(test_write_validate_and_symlinks),
                cmocka_unit_test(test_symlinked_dir_not_followed),
                cmocka_unit_test(test_png_svg_checks),
                cmocka_unit_test(test_list_and_remove),
        };

        srandom(1);
        return cmocka_run_group_tests(tests, setup, teardown);
}
