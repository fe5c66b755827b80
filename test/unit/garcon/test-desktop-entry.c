/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* garcon's desktop-entry parser, filters, desktop ids and Exec expansion. The files come from a
 * container: escapes, locales, groups, comments, bad UTF-8, huge lines, and Exec lines meant for
 * a shell must all come out as data, never as a command. */
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

#include "desktop-entry.h"
#include "macro.h"
#include "strv.h"

static DesktopEntry *parse_lang(const char *s, const char *lang) {
        DesktopEntry *e = NULL;

        assert_int_equal(desktop_entry_parse(s, strlen(s), lang, &e), 0);
        assert_non_null(e);
        return e;
}

static DesktopEntry *parse(const char *s) {
        return parse_lang(s, NULL);
}

static void test_basic(void **state) {
        _cleanup_(desktop_entry_freep) DesktopEntry *e = parse("# comment\n"
                                                               "\n"
                                                               "[Desktop Entry]\n"
                                                               "Type=Application\n"
                                                               "Name = Text Editor \n"
                                                               "Comment=Edit\\stext\\nfiles\\t\\r\\\\ \\q\n"
                                                               "Exec=gedit %U\n"
                                                               "Icon=org.gnome.gedit\n"
                                                               "  # indented comment\n"
                                                               "MimeType=text/plain;text/x-c\\;evil;;\n"
                                                               "NoDisplay=false\n"
                                                               "Terminal=true\r\n"
                                                               "StartupWMClass=gedit\n"
                                                               "[Desktop Action new]\n"
                                                               "Name=Other group\n"
                                                               "Exec=rm -rf /\n");

        assert_string_equal(e->type, "Application");
        assert_string_equal(e->name, "Text Editor "); /* only the blanks after '=' go */
        assert_string_equal(e->comment, "Edit text\nfiles\t\r\\ \\q");
        assert_string_equal(e->exec, "gedit %U");
        assert_string_equal(e->icon, "org.gnome.gedit");
        assert_string_equal(e->startup_wm_class, "gedit");
        assert_int_equal(strv_length(e->mime_types), 2);
        assert_string_equal(e->mime_types[0], "text/plain");
        assert_string_equal(e->mime_types[1], "text/x-c;evil");
        assert_false(e->no_display);
        assert_true(e->terminal);
}

static void test_groups(void **state) {
        DesktopEntry *e = NULL;
        const char *none = "[Other]\nType=Application\nName=x\nExec=x\n";
        const char *twice = "[Desktop Entry]\nName=first\n[Desktop Entry]\nName=second\nExec=evil\n";
        const char *before = "Name=outside\n[Desktop Entry]\nName=inside\n";

        assert_int_equal(desktop_entry_parse(none, strlen(none), NULL, &e), -EBADMSG);
        assert_int_equal(desktop_entry_parse("", 0, NULL, &e), -EBADMSG);
        assert_int_equal(desktop_entry_parse("[Desktop Entry", 14, NULL, &e), -EBADMSG);

        e = parse(twice);
        assert_string_equal(e->name, "first");
        assert_null(e->exec); /* a repeated group is ignored with its keys */
        desktop_entry_free(e);

        e = parse(before);
        assert_string_equal(e->name, "inside");
        desktop_entry_free(e);

        /* the first key wins; malformed lines are skipped */
        e = parse(
                "[Desktop Entry]\nExec=a\nExec=b\nnot a key line\n=novalue\nBad Key=x\nKey[=x\n[broken\nType=Application\n");
        assert_string_equal(e->exec, "a");
        assert_string_equal(e->type, "Application");
        desktop_entry_free(e);
}

static void test_locale(void **state) {
        const char *s = "[Desktop Entry]\n"
                        "Name[de_DE@euro]=de_DE@euro\n"
                        "Name=plain\n"
                        "Name[de]=de\n"
                        "Name[de_DE]=de_DE\n"
                        "Name[de@euro]=de@euro\n"
                        "Name[fr]=fr\n"
                        "Name[bad locale]=bad\n"
                        "Comment[de]=Kommentar\n"
                        "Comment=comment\n"
                        "Icon[de]=not-localized\n";
        DesktopEntry *e;

        e = parse_lang(s, "de_DE.UTF-8@euro");
        assert_string_equal(e->name, "de_DE@euro");
        assert_string_equal(e->comment, "Kommentar");
        assert_null(e->icon);
        desktop_entry_free(e);
        e = parse_lang(s, "de_DE.UTF-8");
        assert_string_equal(e->name, "de_DE");
        desktop_entry_free(e);
        e = parse_lang(s, "de_AT");
        assert_string_equal(e->name, "de");
        desktop_entry_free(e);
        e = parse_lang(s, "de_AT@euro");
        assert_string_equal(e->name, "de@euro");
        desktop_entry_free(e);
        e = parse_lang(s, "C.UTF-8");
        assert_string_equal(e->name, "plain");
        assert_string_equal(e->comment, "comment");
        desktop_entry_free(e);
        e = parse_lang(s, NULL);
        assert_string_equal(e->name, "plain");
        desktop_entry_free(e);
        e = parse_lang(s, "ja_JP");
        assert_string_equal(e->name, "plain");
        desktop_entry_free(e);
}

static void test_hostile_bytes(void **state) {
        /* NUL bytes, bad UTF-8 and a huge line: parsed as data, no crash, no overrun */
        static const char nul[] = "[Desktop Entry]\nName=ab\0cd\nExec=x\0y\n";
        size_t big = 256 * 1024;
        _cleanup_free_ char *huge = malloc(big + 64);
        DesktopEntry *e = NULL;
        int n;

        assert_int_equal(desktop_entry_parse(nul, sizeof(nul) - 1, NULL, &e), 0);
        assert_string_equal(e->name, "ab");
        assert_string_equal(e->exec, "x");
        desktop_entry_free(e);

        e = parse("[Desktop Entry]\nName=\xff\xfe\xc2\x9b[31m\nMimeType=\xc3(\n");
        assert_string_equal(e->name, "\xff\xfe\xc2\x9b[31m"); /* kept: cleaned when sent */
        desktop_entry_free(e);

        assert_non_null(huge);
        n = snprintf(huge, 64, "[Desktop Entry]\nName=");
        memset(huge + n, 'A', big);
        memcpy(huge + n + big, "\nExec=x\n", 9);
        assert_int_equal(desktop_entry_parse(huge, strlen(huge), NULL, &e), 0);
        assert_int_equal(strlen(e->name), big);
        assert_string_equal(e->exec, "x");
        desktop_entry_free(e);

        /* a list of thousands of elements is capped */
        {
                size_t k = 5000;
                _cleanup_free_ char *l = malloc(32 + k * 4);
                size_t o = (size_t) sprintf(l, "[Desktop Entry]\nMimeType=");

                for (size_t i = 0; i < k; i++)
                        o += (size_t) sprintf(l + o, "a/b;");
                assert_int_equal(desktop_entry_parse(l, o, NULL, &e), 0);
                assert_int_equal(strv_length(e->mime_types), 1024);
                desktop_entry_free(e);
        }
}

static DesktopEntryVerdict verdict_of(const char *extra) {
        _cleanup_free_ char *s = NULL;
        _cleanup_(desktop_entry_freep) DesktopEntry *e = NULL;

        assert_true(asprintf(&s, "[Desktop Entry]\nName=App\n%s", extra) > 0);
        e = parse(s);
        return desktop_entry_verdict(e, "/nonexistent:/bin:/usr/bin");
}

static void test_filters(void **state) {
        assert_int_equal(verdict_of("Type=Application\nExec=app\n"), DESKTOP_ENTRY_SHOW);
        assert_int_equal(verdict_of("Exec=app\n"), DESKTOP_ENTRY_NOT_APPLICATION);
        assert_int_equal(verdict_of("Type=Link\nExec=app\n"), DESKTOP_ENTRY_NOT_APPLICATION);
        assert_int_equal(verdict_of("Type=application\nExec=app\n"), DESKTOP_ENTRY_NOT_APPLICATION);
        assert_int_equal(verdict_of("Type=Application\nExec=app\nHidden=true\n"), DESKTOP_ENTRY_HIDDEN);
        assert_int_equal(verdict_of("Type=Application\nExec=app\nHidden=false\n"), DESKTOP_ENTRY_SHOW);
        assert_int_equal(verdict_of("Type=Application\n"), DESKTOP_ENTRY_NO_EXEC);
        assert_int_equal(verdict_of("Type=Application\nExec=\n"), DESKTOP_ENTRY_NO_EXEC);
        assert_int_equal(verdict_of("Type=Application\nExec=\"unterminated\n"), DESKTOP_ENTRY_NO_EXEC);
        assert_int_equal(
                verdict_of("Type=Application\nExec=app\nNoDisplay=true\n"), DESKTOP_ENTRY_NO_DISPLAY);
        assert_int_equal(
                verdict_of("Type=Application\nExec=app\nNoDisplay=true\nMimeType=text/plain;\n"),
                DESKTOP_ENTRY_SHOW);
        assert_int_equal(verdict_of("Type=Application\nExec=app\nTerminal=true\n"), DESKTOP_ENTRY_TERMINAL);
        assert_int_equal(verdict_of("Type=Application\nExec=app\nTerminal=false\n"), DESKTOP_ENTRY_SHOW);
        assert_int_equal(
                verdict_of("Type=Application\nExec=app\nOnlyShowIn=KDE;XFCE;\n"),
                DESKTOP_ENTRY_ONLY_SHOW_IN);
        assert_int_equal(
                verdict_of("Type=Application\nExec=app\nOnlyShowIn=KDE;GNOME;\n"), DESKTOP_ENTRY_SHOW);
        assert_int_equal(
                verdict_of("Type=Application\nExec=app\nNotShowIn=GNOME;\n"), DESKTOP_ENTRY_NOT_SHOW_IN);
        assert_int_equal(verdict_of("Type=Application\nExec=app\nNotShowIn=KDE;\n"), DESKTOP_ENTRY_SHOW);
        assert_int_equal(verdict_of("Type=Application\nExec=app\nTryExec=sh\n"), DESKTOP_ENTRY_SHOW);
        assert_int_equal(verdict_of("Type=Application\nExec=app\nTryExec=/bin/sh\n"), DESKTOP_ENTRY_SHOW);
        assert_int_equal(
                verdict_of("Type=Application\nExec=app\nTryExec=no-such-program-xyz\n"),
                DESKTOP_ENTRY_TRY_EXEC);
        assert_int_equal(
                verdict_of("Type=Application\nExec=app\nTryExec=/etc/passwd\n"), DESKTOP_ENTRY_TRY_EXEC);
        assert_int_equal(verdict_of("Type=Application\nExec=app\nTryExec=/tmp\n"), DESKTOP_ENTRY_TRY_EXEC);
        assert_int_equal(verdict_of("Type=Application\nExec=app\nTryExec=bin/sh\n"), DESKTOP_ENTRY_TRY_EXEC);
        for (int v = 0; v < _DESKTOP_ENTRY_VERDICT_MAX; v++)
                assert_non_null(desktop_entry_verdict_to_string(v));
}

static void test_desktop_id(void **state) {
        char *id = NULL;

        assert_int_equal(desktop_id_from_path("org.gnome.gedit.desktop", &id), 0);
        assert_string_equal(id, "org.gnome.gedit");
        free(id);
        assert_int_equal(desktop_id_from_path("kde4/kate.desktop", &id), 0);
        assert_string_equal(id, "kde4-kate");
        free(id);
        assert_int_equal(desktop_id_from_path("a/b/c.desktop", &id), 0);
        assert_string_equal(id, "a-b-c");
        free(id);
        assert_int_equal(desktop_id_from_path(".desktop", &id), -EINVAL);
        assert_int_equal(desktop_id_from_path("foo.txt", &id), -EINVAL);
        assert_int_equal(desktop_id_from_path("my app.desktop", &id), -EINVAL);
        assert_int_equal(desktop_id_from_path(".hidden.desktop", &id), -EINVAL);
        assert_int_equal(desktop_id_from_path("-x.desktop", &id), -EINVAL);
        assert_int_equal(desktop_id_from_path("a;b.desktop", &id), -EINVAL);
        assert_int_equal(desktop_id_from_path("\xc3\xa9.desktop", &id), -EINVAL);
        {
                char longname[300];

                memset(longname, 'a', 256);
                strcpy(longname + 256, ".desktop");
                assert_int_equal(desktop_id_from_path(longname, &id), -EINVAL);
                strcpy(longname + 255, ".desktop");
                assert_int_equal(desktop_id_from_path(longname, &id), 0);
                assert_int_equal(strlen(id), 255);
                free(id);
        }
}

static void expect_argv(char **argv, const char *const *want) {
        size_t n = 0;

        for (; want[n]; n++) {
                assert_non_null(argv[n]);
                assert_string_equal(argv[n], want[n]);
        }
        assert_null(argv[n]);
}

#define EXPAND_OK(exec, files, nf, uris, nu, ...)                                                       \
        do {                                                                                            \
                _cleanup_strv_free_ char **_a = NULL;                                                   \
                assert_int_equal(                                                                       \
                        exec_line_expand(                                                               \
                                exec, files, nf, uris, nu, "icon-name", "App Name", "/x.desktop", &_a), \
                        0);                                                                             \
                expect_argv(_a, (const char *const[]){ __VA_ARGS__, NULL });                            \
        } while (0)

static void test_exec_quoting(void **state) {
        char **argv = NULL;

        EXPAND_OK("app", NULL, 0, NULL, 0, "app");
        EXPAND_OK("  app   a\tb  ", NULL, 0, NULL, 0, "app", "a", "b");
        EXPAND_OK("\"/opt/my app/bin\" --x", NULL, 0, NULL, 0, "/opt/my app/bin", "--x");
        /* in double quotes \" \` \$ \\ are the character, other backslashes stay */
        EXPAND_OK("app \"a\\\"b\\`c\\$d\\\\e\\qf\"", NULL, 0, NULL, 0, "app", "a\"b`c$d\\e\\qf");
        EXPAND_OK("app \"\"", NULL, 0, NULL, 0, "app", "");
        EXPAND_OK("app 'single \"quoted\" $x'", NULL, 0, NULL, 0, "app", "single \"quoted\" $x");
        EXPAND_OK("app a\\ b", NULL, 0, NULL, 0, "app", "a b");
        EXPAND_OK("app pre\"mid dle\"post", NULL, 0, NULL, 0, "app", "premid dlepost");
        assert_int_equal(exec_line_expand("app \"open", NULL, 0, NULL, 0, NULL, "", "", &argv), -EINVAL);
        assert_int_equal(exec_line_expand("app 'open", NULL, 0, NULL, 0, NULL, "", "", &argv), -EINVAL);
        assert_int_equal(exec_line_expand("app \\", NULL, 0, NULL, 0, NULL, "", "", &argv), -EINVAL);
        assert_int_equal(exec_line_expand("", NULL, 0, NULL, 0, NULL, "", "", &argv), -EINVAL);
        assert_int_equal(exec_line_expand("   ", NULL, 0, NULL, 0, NULL, "", "", &argv), -EINVAL);
        assert_int_equal(exec_line_expand("%f", NULL, 0, NULL, 0, NULL, "", "", &argv), -EINVAL);
        assert_int_equal(exec_line_expand("\"\" x", NULL, 0, NULL, 0, NULL, "", "", &argv), -EINVAL);
}

static void test_exec_codes(void **state) {
        char *files[] = { (char *) "/home/u/a b.txt", (char *) "/home/u/c;rm -rf ~.txt", NULL };
        char *uris[] = { (char *) "https://example.org/?q=$(id)", (char *) "mailto:x@y", NULL };

        EXPAND_OK("app %f", files, 2, NULL, 0, "app", "/home/u/a b.txt");
        EXPAND_OK("app %F", files, 2, NULL, 0, "app", "/home/u/a b.txt", "/home/u/c;rm -rf ~.txt");
        EXPAND_OK("app %f", NULL, 0, NULL, 0, "app");
        EXPAND_OK("app %F --end", NULL, 0, NULL, 0, "app", "--end");
        EXPAND_OK("app %u", NULL, 0, uris, 2, "app", "https://example.org/?q=$(id)");
        EXPAND_OK("app %U", NULL, 0, uris, 2, "app", "https://example.org/?q=$(id)", "mailto:x@y");
        EXPAND_OK("app %U", files, 2, NULL, 0, "app", "/home/u/a b.txt", "/home/u/c;rm -rf ~.txt");
        EXPAND_OK("app %f", NULL, 0, uris, 2, "app"); /* URLs are not files */
        EXPAND_OK("app --file=%f", files, 1, NULL, 0, "app", "--file=/home/u/a b.txt");
        EXPAND_OK("app --files=%F", files, 2, NULL, 0, "app", "--files=/home/u/a b.txt");
        EXPAND_OK("app %i", NULL, 0, NULL, 0, "app", "--icon", "icon-name");
        EXPAND_OK("app %c %k", NULL, 0, NULL, 0, "app", "App Name", "/x.desktop");
        EXPAND_OK("app 100%% \"%%d\"", NULL, 0, NULL, 0, "app", "100%", "%d");
        EXPAND_OK("app %d %D %n %N %v %m %z x%", NULL, 0, NULL, 0, "app", "x");
        EXPAND_OK("app \"%f\"", NULL, 0, NULL, 0, "app", "");
        EXPAND_OK("app \"%F\"", files, 2, NULL, 0, "app", "/home/u/a b.txt");
        {
                _cleanup_strv_free_ char **a = NULL;

                assert_int_equal(exec_line_expand("app %i", NULL, 0, NULL, 0, NULL, "n", "/k", &a), 0);
                expect_argv(a, (const char *const[]){ "app", NULL });
        }
}

static void test_exec_hostile(void **state) {
        char *files[] = { (char *) "/tmp/$(reboot)`id`;x|y", NULL };

        /* No shell, ever: metacharacters are bytes of one argument. */
        EXPAND_OK("sh -c \"echo hi; rm -rf /\"", NULL, 0, NULL, 0, "sh", "-c", "echo hi; rm -rf /");
        EXPAND_OK(
                "app; rm -rf / $(reboot) `id` | tee > /etc/x &", NULL, 0, NULL, 0, "app;", "rm", "-rf", "/",
                "$(reboot)", "`id`", "|", "tee", ">", "/etc/x", "&");
        EXPAND_OK("app %f", files, 1, NULL, 0, "app", "/tmp/$(reboot)`id`;x|y");
        EXPAND_OK("app \"%f\"", files, 1, NULL, 0, "app", "/tmp/$(reboot)`id`;x|y");
        /* a substituted value is never parsed again: quotes in it stay */
        {
                char *q[] = { (char *) "/tmp/a\" b 'c", NULL };

                EXPAND_OK("app %F", q, 1, NULL, 0, "app", "/tmp/a\" b 'c");
        }
        /* bounds: too many arguments, too many bytes */
        {
                size_t n = 5000;
                _cleanup_free_ char *s = malloc(n * 2 + 8);
                _cleanup_strv_free_ char **a = NULL;

                strcpy(s, "app");
                for (size_t i = 0; i < n; i++)
                        strcat(s, " x");
                assert_int_equal(exec_line_expand(s, NULL, 0, NULL, 0, NULL, "", "", &a), -E2BIG);
        }
        {
                size_t n = 8000;
                _cleanup_free_ char *s = malloc(n * 2 + 8);
                _cleanup_free_ char *big = malloc(4000);
                _cleanup_strv_free_ char **a = NULL;
                char *f[] = { big, NULL };

                memset(big, 'a', 3999);
                big[0] = '/';
                big[3999] = 0;
                strcpy(s, "app ");
                for (size_t i = 0; i < n / 2; i++)
                        strcat(s, "%f");
                assert_int_equal(exec_line_expand(s, f, 1, NULL, 0, NULL, "", "", &a), -E2BIG);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_basic),        cmocka_unit_test(test_groups),
                cmocka_unit_test(test_locale),       cmocka_unit_test(test_hostile_bytes),
                cmocka_unit_test(test_filters),      cmocka_unit_test(test_desktop_id),
                cmocka_unit_test(test_exec_quoting), cmocka_unit_test(test_exec_codes),
                cmocka_unit_test(test_exec_hostile),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
