/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc app-scale, vmc window-mark: the user's GUI settings (gui-settings.h, gui.conf); a host file, no
 * daemon. cicerone reads the scale at each launch, the Wayland gate the mark for each new window. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc-util.h"
#include "app-entries.h"
#include "cli-util.h"
#include "gui-settings.h"
#include "log.h"
#include "main-func.h"
#include "vmc.h"

/* Reports a settings error with its message (which quotes the user's file: escaped). */
static int settings_error(int r, const char *what, const char *message) {
        _cleanup_free_ char *m = message ? escape_for_terminal(message, strlen(message), false) : NULL;

        errno = -r;
        if (m)
                return log_error_errno(r, "Cannot %s: %s", what, m);
        return log_error_errno(r, "Cannot %s: %m", what);
}

static int load(GuiSettings *ret) {
        _cleanup_free_ char *m = NULL;
        int r;

        r = gui_settings_load(ret, &m);
        if (r < 0)
                return settings_error(r, "read the GUI settings", m);
        return 0;
}

static int list_scales(void) {
        _cleanup_(gui_settings_done) GuiSettings s = GUI_SETTINGS_INIT;
        char f[16];
        int r;

        r = load(&s);
        if (r < 0)
                return r;
        if (arg_json) {
                putchar('[');
                for (size_t i = 0; i < s.n_scales; i++) {
                        const AppScale *a = &s.scales[i];

                        scale_factor_format(a->percent, f, sizeof(f));
                        fputs(i ? ",{\"vm\":" : "{\"vm\":", stdout);
                        json_write_string(stdout, a->vm);
                        fputs(",\"container\":", stdout);
                        json_write_string(stdout, a->container);
                        fputs(",\"app\":", stdout);
                        json_write_string(stdout, a->app);
                        printf(",\"scale\":%s,\"percent\":%u}", f, a->percent);
                }
                printf("]\n");
                return 0;
        }
        if (!arg_quiet)
                printf("%-16s %-16s %-32s %s\n", "VM", "CONTAINER", "APP", "SCALE");
        for (size_t i = 0; i < s.n_scales; i++) {
                const AppScale *a = &s.scales[i];

                scale_factor_format(a->percent, f, sizeof(f));
                printf("%-16s %-16s %-32s %s\n", a->vm, a->container, a->app, f);
        }
        return 0;
}

/* A scale for an app the launcher does not know is kept (its entry may come later), with a note:
 * most often it is a typo. */
static void warn_unknown_app(const char *vm, const char *container, const char *app) {
        AppEntry *v = NULL;
        size_t n = 0;
        bool found = false;

        if (app_entries_list(vm, container, &v, &n) < 0)
                return;
        for (size_t i = 0; i < n && !found; i++)
                found = streq(v[i].id, app);
        app_entries_free(v, n);
        if (!found)
                log_warning(
                        "note: no launcher entry of %s/%s has the id '%s' (yet); see 'vmc apps %s %s'.", vm,
                        container, app, vm, container);
}

int verb_app_scale(char **args) {
        _cleanup_free_ char *app = NULL, *m = NULL;
        unsigned percent = 0;
        char f[16];
        int r;

        if (arg_list) {
                if (args[0])
                        return log_usage_error("app-scale: --list takes no arguments");
                return list_scales();
        }
        if (!args[2])
                return log_usage_error(
                        "app-scale: missing arguments (usage: vmc app-scale VM CONTAINER APP [FACTOR|reset], "
                        "or vmc app-scale --list)");
        r = vmc_check_vm_and_container(args[0], args[1]);
        if (r < 0)
                return r;
        if (gui_app_id_normalize(args[2], &app) < 0)
                return log_usage_error(
                        "invalid application id '%s' (a desktop file id, as 'vmc apps' lists them)",
                        args[2]);

        if (!args[3]) {
                _cleanup_(gui_settings_done) GuiSettings s = GUI_SETTINGS_INIT;

                r = load(&s);
                if (r < 0)
                        return r;
                percent = gui_settings_find_scale(&s, args[0], args[1], app);
                if (arg_json) {
                        fputs("{\"vm\":", stdout);
                        json_write_string(stdout, args[0]);
                        fputs(",\"container\":", stdout);
                        json_write_string(stdout, args[1]);
                        fputs(",\"app\":", stdout);
                        json_write_string(stdout, app);
                        scale_factor_format(percent, f, sizeof(f));
                        printf(",\"scale\":%s,\"percent\":%u}\n", percent ? f : "null", percent);
                } else if (percent == 0)
                        printf("none\n");
                else {
                        scale_factor_format(percent, f, sizeof(f));
                        printf("%s\n", f);
                }
                return 0;
        }

        if (!streq(args[3], "reset")) {
                r = scale_factor_parse(args[3], &percent);
                if (r < 0)
                        return log_usage_error(
                                "invalid scale factor '%s': %s (0.5 to 4, e.g. 1.5, 2 or 150%%; 'reset' removes it)",
                                args[3], r == -ERANGE ? "out of range" : "not a number");
        }
        r = gui_settings_set_scale(args[0], args[1], app, percent, &m);
        if (r < 0)
                return settings_error(r, "change the GUI settings", m);
        if (percent > 0)
                warn_unknown_app(args[0], args[1], app);
        if (!arg_quiet) {
                scale_factor_format(percent, f, sizeof(f));
                if (percent > 0)
                        printf("%s/%s/%s: scale %s (%u%%) from its next launch.\n", args[0], args[1], app, f,
                               percent);
                else
                        printf("%s/%s/%s: no scale of its own from its next launch.\n", args[0], args[1],
                               app);
        }
        return 0;
}

int verb_window_mark(char **args) {
        _cleanup_free_ char *m = NULL;
        WindowMark mark;
        int r;

        if (!args[0]) {
                _cleanup_(gui_settings_done) GuiSettings s = GUI_SETTINGS_INIT;

                r = load(&s);
                if (r < 0)
                        return r;
                mark = s.window_mark;
                if (arg_json) {
                        fputs("{\"window_mark\":", stdout);
                        json_write_string(stdout, window_mark_to_string(mark));
                        printf("}\n");
                } else
                        printf("%s\n", window_mark_to_string(mark));
                return 0;
        }
        if (window_mark_from_string(args[0], &mark) < 0)
                return log_usage_error("invalid window mark '%s' (title, app-id or none)", args[0]);
        r = gui_settings_set_window_mark(mark, &m);
        if (r < 0)
                return settings_error(r, "change the GUI settings", m);
        /* The launcher entries follow at once (windows opened from now on are marked anew). */
        r = app_entries_apply_window_mark(mark);
        if (r < 0)
                return log_error_errno(r, "Cannot update the launcher entries' StartupWMClass: %m");
        if (r > 0 && !arg_quiet)
                printf("%d launcher %s updated.\n", r, r == 1 ? "entry" : "entries");
        return 0;
}
