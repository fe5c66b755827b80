/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* garcon's scan of a container's applications on a real directory tree, and the messages built
 * from it: every message goes through the real validators of src/proto (message_validate()), so
 * whatever the container holds, garcon only sends what cicerone accepts. Also the bounds: 10,000
 * entries, a 10 MiB icon, a FIFO named like a desktop file, 2,048 apps, the 1 MiB list cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "garcon-apps.h"
#include "garcon-test-util.h"
#include "macro.h"
#include "message-type.h"
#include "proto-validate.h"
#include "rm-rf.h"
#include "string-util.h"
#include "strv.h"

#define TOKEN "0123456789abcdef0123456789abcdef"

static char root[] = "/tmp/test-garcon-apps.XXXXXX";
static char *dirs[3];

static void put(const char *rel, const char *content, size_t n) {
        test_put_file(root, rel, content, n);
}

static void puts_(const char *rel, const char *content) {
        put(rel, content, strlen(content));
}

static void png(const char *rel, uint32_t w, uint32_t h, size_t total) {
        size_t n = MAX(total, (size_t) 45);
        _cleanup_free_ uint8_t *d = calloc(1, n);
        static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

        /* signature, IHDR (depth 8, RGBA), then zeros, and an empty IEND chunk last */
        assert_non_null(d);
        memcpy(d, sig, 8);
        memcpy(d + 8, "\0\0\0\x0dIHDR", 8);
        for (int i = 0; i < 4; i++) {
                d[16 + i] = (uint8_t) (w >> (24 - 8 * i));
                d[20 + i] = (uint8_t) (h >> (24 - 8 * i));
        }
        d[24] = 8;
        d[25] = 6;
        memcpy(d + n - 8, "IEND", 4);
        put(rel, (const char *) d, n);
}

static int setup(void **state) {
        assert_non_null(mkdtemp(root));
        assert_true(asprintf(&dirs[0], "%s/home/.local/share", root) > 0);
        assert_true(asprintf(&dirs[1], "%s/usr/share", root) > 0);
        dirs[2] = NULL;
        return 0;
}

static int teardown(void **state) {
        (void) rm_rf(root);
        free(dirs[0]);
        free(dirs[1]);
        return 0;
}

static void clear_tree(void) {
        char p[4096];

        snprintf(p, sizeof(p), "%s/home", root);
        (void) rm_rf(p);
        snprintf(p, sizeof(p), "%s/usr", root);
        (void) rm_rf(p);
}

static GarconAppList *scan(GarconScanStats *st) {
        GarconAppList *l = NULL;

        assert_int_equal(
                garcon_scan(
                        &(GarconScanOptions){
                                .data_dirs = dirs, .search_path = "/bin:/usr/bin", .inotify_fd = -1 },
                        &l, st),
                0);
        return l;
}

static void validate_list(const GarconAppList *l, size_t *ret_sent) {
        AppListMessage m;

        assert_int_equal(app_list_message_build(l, TOKEN, &m), 0);
        assert_int_equal(
                message_validate(BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_LIST_REQUEST, &m.req.base), 0);
        assert_true(protobuf_c_message_get_packed_size(&m.req.base) <= 1024 * 1024);
        if (ret_sent)
                *ret_sent = m.req.n_apps;
        app_list_message_done(&m);
}

#define APP(extra) "[Desktop Entry]\nType=Application\nExec=app %U\n" extra
#define APPF(extra) "[Desktop Entry]\nType=Application\nExec=app %%U\n" extra

static void test_scan_rules(void **state) {
        _cleanup_(garcon_app_list_freep) GarconAppList *l = NULL;
        _cleanup_free_ char *comment = NULL, *entry = NULL, *big = NULL;
        GarconScanStats st = {};
        const GarconApp *a;
        char p[4096];
        size_t sent;

        clear_tree();
        puts_("usr/share/applications/org.example.A.desktop",
              APP("Name=A\nMimeType=text/plain;bad;a/b/c;image/png;\nStartupWMClass=a-app\n"));
        puts_("usr/share/applications/kde/b.desktop", APP("Name=B\nStartupWMClass=bad class\n"));
        puts_("usr/share/applications/hidden.desktop", APP("Name=H\nHidden=true\n"));
        /* ~/.local/share wins for an id, even when it hides the entry */
        puts_("usr/share/applications/c.desktop", APP("Name=C system\n"));
        puts_("home/.local/share/applications/c.desktop", APP("Name=C\nHidden=true\n"));
        puts_("usr/share/applications/d.desktop", APP("Name=D system\n"));
        puts_("home/.local/share/applications/d.desktop", APP("Name=D user\n"));
        puts_("usr/share/applications/nodisplay.desktop", APP("Name=N\nNoDisplay=true\n"));
        puts_("usr/share/applications/handler.desktop",
              APP("Name=Handler\nNoDisplay=true\nMimeType=x-scheme-handler/http;\n"));
        puts_("usr/share/applications/term.desktop", APP("Name=T\nTerminal=true\n"));
        puts_("usr/share/applications/noname.desktop", APP(""));
        puts_("usr/share/applications/ctl.desktop", APP("Name=\x1b]0;owned\x07\xc2\x9b"
                                                        "31m\xff ok\n"));
        puts_("usr/share/applications/blank.desktop", APP("Name=   \n"));
        puts_("usr/share/applications/bad id.desktop", APP("Name=bad id\n"));
        puts_("usr/share/applications/notdesktop.txt", APP("Name=txt\n"));
        puts_("usr/share/applications/link.desktop", "[Desktop Entry]\nType=Link\nName=L\nURL=http://x\n");
        /* a comment of 2000 bytes of 2-byte characters: cut at a character boundary */
        comment = malloc(2001);
        for (int i = 0; i < 1000; i++)
                memcpy(comment + 2 * i, "\xc3\xa9", 2);
        comment[2000] = 0;
        assert_true(asprintf(&entry, APPF("Name=Long\nComment=%s\n"), comment) > 0);
        puts_("usr/share/applications/long.desktop", entry);
        /* a FIFO named like a desktop file: skipped without blocking */
        snprintf(p, sizeof(p), "%s/usr/share/applications/fifo.desktop", root);
        assert_int_equal(mkfifo(p, 0644), 0);
        /* a file over 64 KiB is skipped */
        big = malloc(70 * 1024);
        memset(big, '#', 70 * 1024);
        memcpy(big, APP("Name=Big\n"), strlen(APP("Name=Big\n")));
        big[strlen(APP("Name=Big\n"))] = '\n';
        put("usr/share/applications/big.desktop", big, 70 * 1024);
        /* a symlinked directory is not followed; a symlinked file is */
        snprintf(p, sizeof(p), "%s/usr/share/applications/loop", root);
        assert_int_equal(symlink("..", p), 0);
        snprintf(p, sizeof(p), "%s/usr/share/applications/alias.desktop", root);
        assert_int_equal(symlink("org.example.A.desktop", p), 0);
        /* depth: applications/1/2/.../9/deep.desktop is below the bound */
        puts_("usr/share/applications/1/2/3/4/5/6/7/8/9/deep.desktop", APP("Name=Deep\n"));
        puts_("usr/share/applications/1/2/3/4/5/6/7/shallow.desktop", APP("Name=Shallow\n"));

        l = scan(&st);
        for (size_t i = 0; i < l->n; i++)
                printf("# %s: '%s'\n", l->apps[i]->id, l->apps[i]->name);
        assert_false(st.truncated);

        a = garcon_app_list_find(l, "org.example.A");
        assert_non_null(a);
        assert_string_equal(a->name, "A");
        assert_int_equal(a->n_mime_types, 2);
        assert_string_equal(a->mime_types[0], "text/plain");
        assert_string_equal(a->mime_types[1], "image/png");
        assert_string_equal(a->startup_wm_class, "a-app");
        assert_string_equal(a->comment, "");
        assert_non_null(garcon_app_list_find(l, "alias"));
        a = garcon_app_list_find(l, "kde-b");
        assert_non_null(a);
        assert_string_equal(a->startup_wm_class, "");
        assert_null(garcon_app_list_find(l, "hidden"));
        assert_null(garcon_app_list_find(l, "c"));
        a = garcon_app_list_find(l, "d");
        assert_non_null(a);
        assert_string_equal(a->name, "D user");
        assert_null(garcon_app_list_find(l, "nodisplay"));
        a = garcon_app_list_find(l, "handler");
        assert_non_null(a);
        assert_true(a->no_display);
        assert_null(garcon_app_list_find(l, "term"));
        assert_null(garcon_app_list_find(l, "noname"));
        assert_null(garcon_app_list_find(l, "blank"));
        assert_null(garcon_app_list_find(l, "link"));
        assert_null(garcon_app_list_find(l, "fifo"));
        assert_null(garcon_app_list_find(l, "big"));
        assert_null(garcon_app_list_find(l, "loop-applications-d"));
        assert_null(garcon_app_list_find(l, "1-2-3-4-5-6-7-8-9-deep"));
        assert_non_null(garcon_app_list_find(l, "1-2-3-4-5-6-7-shallow"));
        a = garcon_app_list_find(l, "ctl");
        assert_non_null(a);
        assert_true(proto_text_nonempty_ok(a->name, GARCON_APP_NAME_MAX));
        assert_null(strchr(a->name, '\x1b'));
        a = garcon_app_list_find(l, "long");
        assert_non_null(a);
        assert_int_equal(strlen(a->comment), 1024);
        assert_true(utf8_is_valid(a->comment));

        validate_list(l, &sent);
        assert_int_equal(sent, l->n);
}

static void test_text_and_mime(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        char longname[600];

        assert_int_equal(garcon_clean_text("  x\ty  \n", 256, &a), 0);
        assert_string_equal(a, "x?y");
        memset(longname, 'n', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = 0;
        assert_int_equal(garcon_clean_text(longname, 256, &b), 0);
        assert_int_equal(strlen(b), 256);
        assert_int_equal(garcon_clean_text("\xe2\x82", 256, &c), 0);
        assert_true(proto_text_ok(c, 256, false));

        assert_true(proto_mime_type_ok("text/plain"));
        assert_true(proto_mime_type_ok("application/vnd.oasis.opendocument.text+xml"));
        assert_true(proto_mime_type_ok("x-scheme-handler/https"));
        assert_false(proto_mime_type_ok("text"));
        assert_false(proto_mime_type_ok("/plain"));
        assert_false(proto_mime_type_ok("text/"));
        assert_false(proto_mime_type_ok("a/b/c"));
        assert_false(proto_mime_type_ok("text/pl ain"));
        assert_false(proto_mime_type_ok("text/\xc3\xa9"));
        memset(longname, 'a', 200);
        longname[3] = '/';
        longname[200] = 0;
        assert_false(proto_mime_type_ok(longname));
}

static void test_png(void **state) {
        /* signature, IHDR (13 bytes: width, height, depth 8, colour type 6, 0, 0, 0; CRC), IEND */
        uint8_t d[45] = {
                0x89, 'P', 'N', 'G', '\r', '\n',     0x1a,     '\n',       0,          0,          0,
                13,   'I', 'H', 'D', 'R',  [24] = 8, [25] = 6, [37] = 'I', [38] = 'E', [39] = 'N', [40] = 'D'
        };
        uint32_t size;

        d[19] = 48;
        d[23] = 48;
        assert_true(png_square_size(d, sizeof(d), &size));
        assert_int_equal(size, 48);
        assert_false(png_square_size(d, 28, &size)); /* truncated */
        d[23] = 64;
        assert_false(png_square_size(d, sizeof(d), &size)); /* not square */
        d[19] = 8;
        d[23] = 8;
        assert_false(png_square_size(d, sizeof(d), &size)); /* too small */
        d[18] = 2;
        d[19] = 1;
        d[22] = 2;
        d[23] = 1;
        assert_false(png_square_size(d, sizeof(d), &size)); /* 513 */
        d[19] = 0;
        d[23] = 0;
        assert_true(png_square_size(d, sizeof(d), &size)); /* 512 */
        assert_int_equal(size, 512);
        d[12] = 'X';
        assert_false(png_square_size(d, sizeof(d), &size));
        d[12] = 'I';
        d[25] = 5; /* no such colour type */
        assert_false(png_square_size(d, sizeof(d), &size));
        d[25] = 6;
        assert_false(png_square_size(d, sizeof(d) - 1, &size)); /* IEND not last */
        d[0] = 0;
        assert_false(png_square_size(d, sizeof(d), &size));
}

static void test_icons(void **state) {
        _cleanup_(garcon_app_list_freep) GarconAppList *l = NULL, *l2 = NULL;
        const GarconApp *a;
        IconsMessage m;
        char p[4096];
        uint64_t sig;

        clear_tree();
        puts_("usr/share/applications/ic.desktop", APP("Name=Icons\nIcon=ic\n"));
        png("usr/share/icons/hicolor/48x48/apps/ic.png", 48, 48, 100);
        png("home/.local/share/icons/hicolor/64x64/apps/ic.png", 48, 48, 100); /* says 48: a duplicate */
        png("usr/share/icons/hicolor/64x64/apps/ic.png", 64, 64, 100); /* shadowed by the one above */
        png("usr/share/icons/hicolor/128x128/apps/ic.png", 128, 128, 100);
        png("usr/share/icons/hicolor/256x256/apps/ic.png", 256, 256, 10 * 1024 * 1024); /* 10 MiB */
        puts_("usr/share/icons/hicolor/scalable/apps/ic.svg", "<?xml version=\"1.0\"?><svg xmlns=\"x\"/>");

        puts_("usr/share/applications/abs.desktop", APP("Name=Abs\nIcon=/opt/x/abs.png\n"));
        puts_("usr/share/applications/fifoicon.desktop", APP("Name=Fifo\nIcon=fifo\n"));
        snprintf(p, sizeof(p), "%s/usr/share/icons/hicolor/48x48/apps/fifo.png", root);
        assert_int_equal(mkfifo(p, 0644), 0);
        puts_("usr/share/applications/badsvg.desktop", APP("Name=Bad\nIcon=bad\n"));
        puts_("usr/share/icons/hicolor/scalable/apps/bad.svg", "not an image");
        puts_("usr/share/applications/trav.desktop", APP("Name=Trav\nIcon=../../../../etc/passwd\n"));

        l = scan(NULL);
        a = garcon_app_list_find(l, "ic");
        assert_non_null(a);
        assert_true(a->icon_sig != 0);
        assert_int_equal(icons_message_build(a, dirs, TOKEN, &m), 0);
        assert_int_equal(m.req.n_icons, 3); /* 48, 128, svg */
        assert_int_equal(m.icons[0].size, 48);
        assert_int_equal(m.icons[1].size, 128);
        assert_int_equal(m.icons[2].size, 0);
        assert_int_equal(
                message_validate(BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_ICONS_REQUEST, &m.req.base), 0);
        icons_message_done(&m);

        a = garcon_app_list_find(l, "fifoicon");
        assert_non_null(a);
        assert_int_equal(a->icon_sig, 0); /* not a regular file: not found */
        assert_int_equal(icons_message_build(a, dirs, TOKEN, &m), 0);
        assert_int_equal(m.req.n_icons, 0);
        assert_int_equal(
                message_validate(BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_ICONS_REQUEST, &m.req.base), 0);
        icons_message_done(&m);

        a = garcon_app_list_find(l, "badsvg");
        assert_int_equal(icons_message_build(a, dirs, TOKEN, &m), 0);
        assert_int_equal(m.req.n_icons, 0);
        icons_message_done(&m);

        a = garcon_app_list_find(l, "trav");
        assert_int_equal(a->icon_sig, 0);
        a = garcon_app_list_find(l, "abs");
        assert_int_equal(a->icon_sig, 0);

        /* a changed icon file changes the signature */
        sig = garcon_app_list_find(l, "ic")->icon_sig;
        png("usr/share/icons/hicolor/128x128/apps/ic.png", 128, 128, 200);
        l2 = scan(NULL);
        assert_true(garcon_app_list_find(l2, "ic")->icon_sig != sig);
}

static void test_bounds(void **state) {
        _cleanup_(garcon_app_list_freep) GarconAppList *l = NULL;
        GarconScanStats st = {};
        size_t sent;
        char name[128];

        /* 10,000 valid entries: all found, 2,048 sent */
        clear_tree();
        for (int i = 0; i < 10000; i++) {
                snprintf(name, sizeof(name), "usr/share/applications/app%05d.desktop", i);
                puts_(name, APP("Name=Some app\n"));
        }
        l = scan(&st);
        assert_int_equal(l->n, 10000);
        assert_false(st.truncated);
        validate_list(l, &sent);
        assert_int_equal(sent, GARCON_APPS_MAX);
        l = garcon_app_list_free(l);

        /* past 20,000 entries the scan stops */
        for (int i = 0; i < 10005; i++) {
                snprintf(name, sizeof(name), "usr/share/applications/junk%05d", i);
                puts_(name, "");
        }
        l = scan(&st);
        assert_true(st.truncated);
        assert_int_equal(st.files, GARCON_SCAN_FILES_MAX);
        l = garcon_app_list_free(l);

        /* large apps: the list stays under the 1 MiB cap */
        clear_tree();
        {
                _cleanup_free_ char *mimes = malloc(64 * 130 + 1), *comment = malloc(1100), *entry = NULL;

                mimes[0] = 0;
                for (int i = 0; i < 64; i++)
                        sprintf(mimes + strlen(mimes), "application/x-%0112d;", i);
                memset(comment, 'c', 1099);
                comment[1099] = 0;
                assert_true(
                        asprintf(&entry, APPF("Name=%0300d\nComment=%s\nMimeType=%s\n"), 7, comment, mimes) >
                        0);
                for (int i = 0; i < 300; i++) {
                        snprintf(name, sizeof(name), "usr/share/applications/big%03d.desktop", i);
                        puts_(name, entry);
                }
        }
        l = scan(&st);
        assert_int_equal(l->n, 300);
        assert_int_equal(l->apps[0]->n_mime_types, 64);
        validate_list(l, &sent);
        assert_true(sent > 50 && sent < 300);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scan_rules), cmocka_unit_test(test_text_and_mime),
                cmocka_unit_test(test_png),        cmocka_unit_test(test_icons),
                cmocka_unit_test(test_bounds),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
