/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "alloc-util.h"
#include "app-entries.h"
#include "fd-util.h"
#include "gui-settings.h"
#include "macro.h"
#include "path-lookup.h"
#include "path-util.h"
#include "proto-validate.h"
#include "string-util.h"

#define GUI_SETTINGS_NAME "gui.conf"
#define GUI_SETTINGS_LOCK ".gui.conf.lock"
#define DESKTOP_SUFFIX ".desktop"

static void app_scale_done(AppScale *a) {
        free(a->vm);
        free(a->container);
        free(a->app);
}

void gui_settings_done(GuiSettings *s) {
        for (size_t i = 0; i < s->n_scales; i++)
                app_scale_done(&s->scales[i]);
        free(s->scales);
        *s = GUI_SETTINGS_INIT;
}

static const char *const window_mark_names[] = {
        [WINDOW_MARK_TITLE] = "title",
        [WINDOW_MARK_APP_ID] = "app-id",
        [WINDOW_MARK_NONE] = "none",
};

const char *window_mark_to_string(WindowMark m) {
        if ((unsigned) m >= ELEMENTSOF(window_mark_names))
                return NULL;
        return window_mark_names[m];
}

int window_mark_from_string(const char *s, WindowMark *ret) {
        for (size_t i = 0; s && i < ELEMENTSOF(window_mark_names); i++)
                if (streq(s, window_mark_names[i])) {
                        *ret = (WindowMark) i;
                        return 0;
                }
        return -EINVAL;
}

int scale_factor_parse(const char *s, unsigned *ret) {
        uint64_t whole = 0, percent;
        size_t n, digits;
        const char *p;

        if (!s || !s[0])
                return -EINVAL;
        n = strlen(s);
        if (s[n - 1] == '%') {
                /* Whole percent: "150%". */
                if (n > 6)
                        return -ERANGE;
                for (p = s; p < s + n - 1; p++) {
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        whole = whole * 10 + (uint64_t) (*p - '0');
                }
                if (n == 1)
                        return -EINVAL;
                percent = whole;
        } else {
                /* A factor: digits, then at most two decimals ("1", "1.5", "0.75"). */
                for (p = s, digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
                        if (digits >= 4)
                                return -ERANGE;
                        whole = whole * 10 + (uint64_t) (*p - '0');
                }
                if (digits == 0)
                        return -EINVAL;
                percent = whole * 100;
                if (*p == '.') {
                        p++;
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        percent += (uint64_t) (*p++ - '0') * 10;
                        if (*p >= '0' && *p <= '9')
                                percent += (uint64_t) (*p++ - '0');
                        if (*p >= '0' && *p <= '9')
                                return -EINVAL; /* finer than a percent */
                }
                if (*p)
                        return -EINVAL;
        }
        if (percent < GUI_SCALE_PERCENT_MIN || percent > GUI_SCALE_PERCENT_MAX)
                return -ERANGE;
        *ret = (unsigned) percent;
        return 0;
}

void scale_factor_format(unsigned percent, char *buf, size_t size) {
        if (percent % 100 == 0)
                (void) snprintf(buf, size, "%u", percent / 100);
        else if (percent % 10 == 0)
                (void) snprintf(buf, size, "%u.%u", percent / 100, percent % 100 / 10);
        else
                (void) snprintf(buf, size, "%u.%02u", percent / 100, percent % 100);
}

/* The length of app without a ".desktop" suffix. */
static size_t app_id_len(const char *app) {
        size_t n = strlen(app), k = strlen(DESKTOP_SUFFIX);

        if (n > k && streq(app + n - k, DESKTOP_SUFFIX))
                return n - k;
        return n;
}

int gui_app_id_normalize(const char *app, char **ret) {
        _cleanup_free_ char *id = NULL;

        if (!app)
                return -EINVAL;
        id = strndup(app, app_id_len(app));
        if (!id)
                return -ENOMEM;
        if (!app_id_ok(id))
                return -EINVAL;
        *ret = TAKE_PTR(id);
        return 0;
}

static int scale_cmp(const char *vm, const char *container, const char *app, const AppScale *b) {
        int c = strcmp(vm, b->vm);

        if (c == 0)
                c = strcmp(container, b->container);
        if (c == 0)
                c = strcmp(app, b->app);
        return c;
}

/* Binary search: the index of the entry, or of where it would go; *ret_found says which. */
static size_t scale_index(
        const GuiSettings *s, const char *vm, const char *container, const char *app, bool *ret_found) {
        size_t lo = 0, hi = s->n_scales;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = scale_cmp(vm, container, app, &s->scales[mid]);

                if (c == 0) {
                        *ret_found = true;
                        return mid;
                }
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        *ret_found = false;
        return lo;
}

unsigned gui_settings_find_scale(
        const GuiSettings *s, const char *vm, const char *container, const char *app) {
        _cleanup_free_ char *id = NULL;
        bool found;
        size_t i;

        if (!vm || !container || gui_app_id_normalize(app, &id) < 0)
                return 0;
        i = scale_index(s, vm, container, id, &found);
        return found ? s->scales[i].percent : 0;
}

/* Inserts or replaces; -EEXIST instead of replacing when unique. Takes nothing: copies the names. */
static int scale_put(
        GuiSettings *s,
        const char *vm,
        const char *container,
        const char *app,
        unsigned percent,
        bool unique) {
        AppScale a = {}, *grown;
        bool found;
        size_t i;

        i = scale_index(s, vm, container, app, &found);
        if (found) {
                if (unique)
                        return -EEXIST;
                if (percent == 0) {
                        app_scale_done(&s->scales[i]);
                        memmove(s->scales + i, s->scales + i + 1, (s->n_scales - i - 1) * sizeof(AppScale));
                        s->n_scales--;
                        return 1;
                }
                if (s->scales[i].percent == percent)
                        return 0;
                s->scales[i].percent = percent;
                return 1;
        }
        if (percent == 0)
                return 0;
        if (s->n_scales >= GUI_SETTINGS_SCALES_MAX)
                return -E2BIG;
        grown = reallocarray(s->scales, s->n_scales + 1, sizeof(AppScale));
        if (!grown)
                return -ENOMEM;
        s->scales = grown;
        a.vm = strdup(vm);
        a.container = strdup(container);
        a.app = strdup(app);
        a.percent = percent;
        if (!a.vm || !a.container || !a.app) {
                app_scale_done(&a);
                return -ENOMEM;
        }
        memmove(s->scales + i + 1, s->scales + i, (s->n_scales - i) * sizeof(AppScale));
        s->scales[i] = a;
        s->n_scales++;
        return 1;
}

int gui_settings_put_scale(
        GuiSettings *s, const char *vm, const char *container, const char *app, unsigned percent) {
        _cleanup_free_ char *id = NULL;
        int r;

        if (!proto_name_ok(vm) || !proto_name_ok(container))
                return -EINVAL;
        if (percent != 0 && (percent < GUI_SCALE_PERCENT_MIN || percent > GUI_SCALE_PERCENT_MAX))
                return -EINVAL;
        r = gui_app_id_normalize(app, &id);
        if (r < 0)
                return r;
        return scale_put(s, vm, container, id, percent, false);
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* "<vm>/<container>/<app>" = "<percent>" into s; a message (without the line) on error. */
static int parse_scale(GuiSettings *s, char *spec, const char *value, char **reterr_message) {
        char *vm = spec, *container, *app;
        uint32_t percent;
        int r;

        container = strchr(vm, '/');
        app = container ? strchr(container + 1, '/') : NULL;
        if (!app)
                return set_error_message(
                        reterr_message, -EBADMSG, "expected 'app-scale VM/CONTAINER/APP = PERCENT'");
        *container++ = 0;
        *app++ = 0;
        if (!proto_name_ok(vm))
                return set_error_message(reterr_message, -EBADMSG, "invalid VM name '%s'", vm);
        if (!proto_name_ok(container))
                return set_error_message(reterr_message, -EBADMSG, "invalid container name '%s'", container);
        if (!app_id_ok(app) || app_id_len(app) != strlen(app))
                return set_error_message(
                        reterr_message, -EBADMSG,
                        "invalid application id '%s' (a desktop file id without .desktop)", app);
        if (safe_atou32(value, &percent) < 0 || percent < GUI_SCALE_PERCENT_MIN ||
            percent > GUI_SCALE_PERCENT_MAX)
                return set_error_message(
                        reterr_message, -EBADMSG, "invalid scale '%s' (a whole percent, %u to %u)", value,
                        GUI_SCALE_PERCENT_MIN, GUI_SCALE_PERCENT_MAX);
        r = scale_put(s, vm, container, app, percent, true);
        if (r == -EEXIST)
                return set_error_message(
                        reterr_message, -EBADMSG, "app-scale %s/%s/%s is set twice", vm, container, app);
        if (r == -E2BIG)
                return set_error_message(
                        reterr_message, r, "more than %u app-scale entries", GUI_SETTINGS_SCALES_MAX);
        return r < 0 ? set_error_message(reterr_message, r, "%m") : 0;
}

/* One line (NUL-terminated, no newline) into s; *seen_mark tracks a repeated window-mark. */
static int parse_line(GuiSettings *s, char *line, bool *seen_mark, char **reterr_message) {
        char *key, *value, *eq, *end;

        for (char *p = line; *p; p++)
                if (((unsigned char) *p < 0x20 && *p != '\t') || *p == 0x7f)
                        return set_error_message(reterr_message, -EBADMSG, "control character");
        if (!utf8_is_valid(line))
                return set_error_message(reterr_message, -EBADMSG, "invalid UTF-8");
        key = line + strspn(line, " \t");
        if (!*key || *key == '#')
                return 0;
        eq = strchr(key, '=');
        if (!eq)
                return set_error_message(reterr_message, -EBADMSG, "expected 'KEY = VALUE'");
        value = eq + 1;
        value += strspn(value, " \t");
        for (end = value + strlen(value); end > value && is_blank(end[-1]); end--)
                ;
        *end = 0;
        for (end = eq; end > key && is_blank(end[-1]); end--)
                ;
        *end = 0;

        if (streq(key, "window-mark")) {
                if (*seen_mark)
                        return set_error_message(reterr_message, -EBADMSG, "window-mark is set twice");
                if (window_mark_from_string(value, &s->window_mark) < 0)
                        return set_error_message(
                                reterr_message, -EBADMSG, "invalid window-mark '%s' (title, app-id or none)",
                                value);
                *seen_mark = true;
                return 0;
        }
        if (startswith(key, "app-scale") && is_blank(key[strlen("app-scale")])) {
                char *spec = key + strlen("app-scale");

                spec += strspn(spec, " \t");
                return parse_scale(s, spec, value, reterr_message);
        }
        return set_error_message(reterr_message, -EBADMSG, "unknown setting '%s'", key);
}

int gui_settings_parse(const char *text, size_t len, GuiSettings *ret, char **reterr_message) {
        _cleanup_(gui_settings_done) GuiSettings s = GUI_SETTINGS_INIT;
        _cleanup_free_ char *copy = NULL;
        bool seen_mark = false;
        unsigned line_no = 0;
        char *p, *nl;
        int r;

        if (len > GUI_SETTINGS_FILE_MAX)
                return set_error_message(
                        reterr_message, -E2BIG, "larger than %u bytes", GUI_SETTINGS_FILE_MAX);
        if (memchr(text, 0, len))
                return set_error_message(reterr_message, -EBADMSG, "contains a NUL byte");
        copy = strndup(text, len);
        if (!copy)
                return -ENOMEM;
        for (p = copy; *p; p = nl ? nl + 1 : p + strlen(p)) {
                _cleanup_free_ char *m = NULL;

                line_no++;
                nl = strchr(p, '\n');
                if (nl)
                        *nl = 0;
                r = parse_line(&s, p, &seen_mark, &m);
                if (r < 0)
                        return set_error_message(reterr_message, r, "line %u: %s", line_no, m ?: "invalid");
        }
        *ret = s;
        s = GUI_SETTINGS_INIT;
        return 0;
}

int gui_settings_format(const GuiSettings *s, char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        fputs("# Bistro's GUI settings for container apps: written by 'vmc app-scale' and\n"
              "# 'vmc window-mark' (comments are not kept).\n",
              f);
        fprintf(f, "window-mark = %s\n", window_mark_to_string(s->window_mark) ?: "title");
        for (size_t i = 0; i < s->n_scales; i++)
                fprintf(f, "app-scale %s/%s/%s = %u\n", s->scales[i].vm, s->scales[i].container,
                        s->scales[i].app, s->scales[i].percent);
        if (fclose(f) != 0 || !text)
                return -ENOMEM;
        *ret = TAKE_PTR(text);
        return 0;
}

int gui_settings_path(char **ret) {
        _cleanup_free_ char *dir = NULL;
        int r;

        r = bistro_config_dir(&dir);
        if (r < 0)
                return r;
        *ret = path_join(dir, GUI_SETTINGS_NAME);
        return *ret ? 0 : -ENOMEM;
}

static int load_from(const char *path, GuiSettings *ret, char **reterr_message) {
        _cleanup_free_ char *text = NULL, *m = NULL;
        size_t len = 0;
        int r;

        r = read_regular_file(path, GUI_SETTINGS_FILE_MAX, &text, &len);
        if (r == -ENOENT) {
                *ret = GUI_SETTINGS_INIT;
                return 0;
        }
        if (r < 0)
                return set_error_message(reterr_message, r, "cannot read %s: %m", path);
        r = gui_settings_parse(text, len, ret, &m);
        if (r < 0)
                return set_error_message(reterr_message, r, "%s: %s", path, m ?: "invalid");
        return 0;
}

int gui_settings_load(GuiSettings *ret, char **reterr_message) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = gui_settings_path(&path);
        if (r < 0)
                return set_error_message(reterr_message, r, "cannot find the settings directory: %m");
        return load_from(path, ret, reterr_message);
}

typedef int (*GuiSettingsEdit)(GuiSettings *s, const void *userdata);

/* Locks, loads, edits and (when edit returns > 0) atomically rewrites gui.conf. */
static int gui_settings_modify(GuiSettingsEdit edit, const void *userdata, char **reterr_message) {
        _cleanup_(gui_settings_done) GuiSettings s = GUI_SETTINGS_INIT;
        _cleanup_free_ char *dir = NULL, *path = NULL, *lock = NULL, *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = bistro_config_dir(&dir);
        if (r < 0)
                return set_error_message(reterr_message, r, "cannot find the settings directory: %m");
        path = path_join(dir, GUI_SETTINGS_NAME);
        lock = path_join(dir, GUI_SETTINGS_LOCK);
        if (!path || !lock)
                return -ENOMEM;
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return set_error_message(reterr_message, r, "cannot create %s: %m", dir);
        /* A lock file beside it, not gui.conf itself: the rename replaces gui.conf's inode. */
        fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return set_error_message(reterr_message, -errno, "cannot open %s: %m", lock);
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return set_error_message(reterr_message, -errno, "cannot lock %s: %m", lock);
        r = load_from(path, &s, reterr_message);
        if (r < 0)
                return r;
        r = edit(&s, userdata);
        if (r <= 0)
                return r == -E2BIG ? set_error_message(
                                             reterr_message, r, "%s holds %u app-scale entries already",
                                             path, GUI_SETTINGS_SCALES_MAX)
                                   : r;
        r = gui_settings_format(&s, &text);
        if (r < 0)
                return r;
        r = write_file_atomic(path, text, 0644);
        if (r < 0)
                return set_error_message(reterr_message, r, "cannot write %s: %m", path);
        return 1; /* the lock goes with fd */
}

typedef struct ScaleEdit {
        const char *vm, *container, *app;
        unsigned percent;
} ScaleEdit;

static int edit_scale(GuiSettings *s, const void *userdata) {
        const ScaleEdit *e = userdata;

        return gui_settings_put_scale(s, e->vm, e->container, e->app, e->percent);
}

int gui_settings_set_scale(
        const char *vm, const char *container, const char *app, unsigned percent, char **reterr_message) {
        ScaleEdit e = { vm, container, app, percent };
        _cleanup_free_ char *id = NULL;

        if (!proto_name_ok(vm) || !proto_name_ok(container) || gui_app_id_normalize(app, &id) < 0 ||
            (percent != 0 && (percent < GUI_SCALE_PERCENT_MIN || percent > GUI_SCALE_PERCENT_MAX)))
                return -EINVAL;
        return gui_settings_modify(edit_scale, &e, reterr_message);
}

static int edit_window_mark(GuiSettings *s, const void *userdata) {
        const WindowMark *m = userdata;

        if (s->window_mark == *m)
                return 0;
        s->window_mark = *m;
        return 1;
}

int gui_settings_set_window_mark(WindowMark m, char **reterr_message) {
        if (!window_mark_to_string(m))
                return -EINVAL;
        return gui_settings_modify(edit_window_mark, &m, reterr_message);
}

int gui_settings_app_scale(const char *vm, const char *container, const char *app, unsigned *ret) {
        _cleanup_(gui_settings_done) GuiSettings s = GUI_SETTINGS_INIT;
        int r;

        r = gui_settings_load(&s, NULL);
        if (r < 0)
                return r;
        *ret = gui_settings_find_scale(&s, vm, container, app);
        return 0;
}

int gui_settings_window_mark(WindowMark *ret) {
        _cleanup_(gui_settings_done) GuiSettings s = GUI_SETTINGS_INIT;
        int r;

        r = gui_settings_load(&s, NULL);
        if (r < 0)
                return r;
        *ret = s.window_mark;
        return 0;
}
