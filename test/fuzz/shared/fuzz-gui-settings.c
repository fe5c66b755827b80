/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* gui.conf (gui-settings.h): parse; what parses formats to text that parses to the same settings. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gui-settings.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(gui_settings_done) GuiSettings s = GUI_SETTINGS_INIT, t = GUI_SETTINGS_INIT;
        _cleanup_free_ char *m = NULL, *text = NULL;
        int r;

        r = gui_settings_parse((const char *) data, size, &s, &m);
        if (r < 0) {
                if (r != -ENOMEM && !m)
                        abort(); /* every refusal says why */
                return 0;
        }
        if (gui_settings_format(&s, &text) < 0)
                return 0;
        if (gui_settings_parse(text, strlen(text), &t, NULL) < 0)
                abort();
        if (t.window_mark != s.window_mark || t.n_scales != s.n_scales)
                abort();
        for (size_t i = 0; i < s.n_scales; i++)
                if (!streq(s.scales[i].vm, t.scales[i].vm) ||
                    !streq(s.scales[i].container, t.scales[i].container) ||
                    !streq(s.scales[i].app, t.scales[i].app) || s.scales[i].percent != t.scales[i].percent ||
                    gui_settings_find_scale(&t, s.scales[i].vm, s.scales[i].container, s.scales[i].app) !=
                            s.scales[i].percent)
                        abort();
        return 0;
}
