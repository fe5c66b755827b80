/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* garcon's desktop-entry path on any bytes, as a hostile container can write them: parse (with
 * and without a locale), filter, expand the Exec line with files and URLs, and build the
 * application the host gets. Whatever the input, an app garcon would send must pass the real
 * validator of UpdateApplicationListRequest, and an expanded argv must be well formed. */
#include <stdlib.h>
#include <string.h>

#include "desktop-entry.h"
#include "fuzz.h"
#include "garcon-apps.h"
#include "message-type.h"
#include "strv.h"

static void check_argv(char **argv) {
        size_t n = 0;

        if (!argv || !argv[0] || !argv[0][0])
                abort();
        while (argv[n])
                n++;
        if (n > EXEC_ARGS_MAX)
                abort();
}

static void one(const uint8_t *data, size_t size, const char *lang) {
        static char *files[] = { (char *) "/home/user/a b;c.txt", (char *) "/tmp/$(x)", NULL };
        static char *uris[] = { (char *) "https://example.org/?a=`b`", NULL };
        _cleanup_(desktop_entry_freep) DesktopEntry *e = NULL;
        _cleanup_(garcon_app_freep) GarconApp *a = NULL;
        int r;

        r = desktop_entry_parse((const char *) data, size, lang, &e);
        if (r == -EBADMSG)
                return;
        if (r < 0)
                abort();
        (void) desktop_entry_verdict_to_string(desktop_entry_verdict(e, "/nonexistent"));
        if (e->exec) {
                _cleanup_strv_free_ char **argv = NULL;

                r = exec_line_expand(
                        e->exec, files, 2, uris, 1, e->icon, e->name ?: "", "/x.desktop", &argv);
                if (r >= 0)
                        check_argv(argv);
                else if (r != -EINVAL && r != -E2BIG)
                        abort();
        }
        if (!e->exec)
                return;
        /* The app is built for any entry (as if it passed the filters), with no icon lookup. */
        r = garcon_app_from_entry("fuzz.app", "/x.desktop", e, NULL, &a);
        if (r >= 0) {
                GarconApp *apps[] = { a };
                GarconAppList l = { .apps = apps, .n = 1 };
                AppListMessage m;

                if (app_list_message_build(&l, "0123456789abcdef", &m) < 0)
                        abort();
                if (m.req.n_apps != 1 ||
                    message_validate(BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_LIST_REQUEST, &m.req.base) !=
                            0)
                        abort();
                app_list_message_done(&m);
        } else if (r != -EINVAL && r != -ENOMEM)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 256 * 1024)
                return 0;
        one(data, size, NULL);
        one(data, size, "de_DE.UTF-8@euro");
        return 0;
}
