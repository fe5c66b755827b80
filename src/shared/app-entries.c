/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "app-entries.h"
#include "path-lookup.h"
#include "dirent-util.h"
#include "fd-util.h"
#include "macro.h"
#include "png-util.h"
#include "proto-validate.h"
#include "string-util.h"

#define APP_ID_MAX 255u
#define ENTRY_FILE_MAX (64u * 1024u)
#define ENTRIES_MAX 65536u

bool app_id_ok(const char *id) {
        return id && name_is_valid(id, APP_ID_MAX);
}

static bool names_ok(const char *vm, const char *container, const char *id) {
        return proto_name_ok(vm) && proto_name_ok(container) && (!id || app_id_ok(id));
}

/* "bistro-<vm>-<container>-<id>" */
static int base_name(const char *vm, const char *container, const char *id, char **ret) {
        if (!names_ok(vm, container, id) || !id)
                return -EINVAL;
        if (asprintf(ret, "bistro-%s-%s-%s", vm, container, id) < 0)
                return -ENOMEM;
        return 0;
}

/* Opens data_home/rel (components separated by '/') without following a symlink below data_home,
 * creating missing directories 0755 when create is set. */
static int open_dir(const char *rel, bool create) {
        _cleanup_free_ char *home = NULL, *copy = NULL;
        _cleanup_close_ int fd = -EBADF;
        char *p, *save = NULL;
        int r;

        r = xdg_data_home(&home);
        if (r < 0)
                return r;
        if (create)
                (void) mkdir_p(home, 0755);
        fd = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        copy = strdup(rel);
        if (!copy)
                return -ENOMEM;
        for (p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
                int sub;

                sub = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0 && errno == ENOENT && create) {
                        if (mkdirat(fd, p, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        sub = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (sub < 0)
                        return errno == ELOOP ? -ENOTDIR : -errno;
                safe_close(fd);
                fd = sub;
        }
        return TAKE_FD(fd);
}

/* A hidden temp file in dfd, then renamed over name: a symlink at name is replaced, not followed. */
static int write_at(int dfd, const char *name, const void *data, size_t len) {
        char tmp[NAME_MAX + 1];
        _cleanup_close_ int fd = -EBADF;
        int r;

        for (unsigned attempt = 0;; attempt++) {
                if ((size_t) snprintf(tmp, sizeof(tmp), ".#%.200s.%08x", name, (unsigned) random()) >=
                    sizeof(tmp))
                        return -ENAMETOOLONG;
                fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || attempt >= 16)
                        return -errno;
        }
        r = loop_write(fd, data, len);
        if (r >= 0 && fchmod(fd, 0644) < 0)
                r = -errno;
        if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dfd, tmp, 0);
        return r;
}

/* ---- formatting ---- */

typedef struct Buf {
        char *p;
        size_t n, cap;
        bool oom;
} Buf;

static void buf_add(Buf *b, const char *s, size_t n) {
        if (b->oom)
                return;
        if (b->n + n + 1 > b->cap) {
                size_t cap = MAX(b->cap * 2, b->n + n + 1 + 256);
                char *p = realloc(b->p, cap);

                if (!p) {
                        b->oom = true;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->n, s, n);
        b->n += n;
        b->p[b->n] = '\0';
}

static void buf_puts(Buf *b, const char *s) {
        buf_add(b, s, strlen(s));
}

/* A value as the Desktop Entry Specification escapes it: \\ \n \t \r; other controls dropped. */
static void buf_value(Buf *b, const char *s) {
        for (; *s; s++)
                switch (*s) {
                case '\\':
                        buf_puts(b, "\\\\");
                        break;
                case '\n':
                        buf_puts(b, "\\n");
                        break;
                case '\t':
                        buf_puts(b, "\\t");
                        break;
                case '\r':
                        buf_puts(b, "\\r");
                        break;
                default:
                        if ((unsigned char) *s >= 0x20 && *s != 0x7f)
                                buf_add(b, s, 1);
                }
}

static void buf_key(Buf *b, const char *key, const char *value) {
        buf_puts(b, key);
        buf_puts(b, "=");
        buf_value(b, value);
        buf_puts(b, "\n");
}

/* One Exec argument: quoted when it holds a reserved character, with ", `, $ and \ escaped inside
 * the quotes (Desktop Entry Specification, "The Exec key"); the result is then escaped as any value. */
static int exec_arg(const char *s, char **ret) {
        static const char reserved[] = " \t\n\"'\\><~|&;$*?#()`";
        Buf b = {};

        if (!s[0] || strpbrk(s, reserved)) {
                buf_puts(&b, "\"");
                for (const char *p = s; *p; p++) {
                        if (strchr("\"`$\\", *p))
                                buf_puts(&b, "\\");
                        if (*p == '%')
                                buf_puts(&b, "%"); /* a literal % is %% */
                        buf_add(&b, p, 1);
                }
                buf_puts(&b, "\"");
        } else
                for (const char *p = s; *p; p++)
                        buf_add(&b, *p == '%' ? "%%" : p, *p == '%' ? 2 : 1);
        if (b.oom) {
                free(b.p);
                return -ENOMEM;
        }
        *ret = b.p;
        return 0;
}

int app_entry_wm_class(const char *container, const AppInfo *app, char **ret) {
        const char *wm;

        if (!app || !proto_name_ok(container))
                return -EINVAL;
        wm = app->startup_wm_class && app->startup_wm_class[0] ? app->startup_wm_class : app->id;
        if (!app_id_ok(wm))
                return -EINVAL;
        if (app->window_mark != WINDOW_MARK_APP_ID)
                *ret = strdup(wm);
        else if (asprintf(ret, "bistro.%s.%s", container, wm) < 0)
                *ret = NULL;
        return *ret ? 0 : -ENOMEM;
}

int app_entry_format(
        const char *vm,
        const char *container,
        const AppInfo *app,
        const char *exec,
        bool with_icon,
        char **ret) {
        _cleanup_free_ char *base = NULL, *quoted = NULL, *name = NULL, *line = NULL, *wm = NULL;
        Buf b = {};
        int r;

        if (!app || !exec || !exec[0] || !app->name || !app->name[0])
                return -EINVAL;
        r = base_name(vm, container, app->id, &base);
        if (r < 0)
                return r;
        r = app_entry_wm_class(container, app, &wm);
        if (r < 0)
                return r;
        for (size_t i = 0; i < app->n_mime_types; i++) {
                const char *m = app->mime_types[i];

                if (!m || !m[0] || !strchr(m, '/') || strpbrk(m, ";\\=") || !proto_text_ok(m, 127, false))
                        return -EINVAL;
        }
        r = exec_arg(exec, &quoted);
        if (r < 0)
                return r;
        if (asprintf(&name, "%s (%s)", app->name, container) < 0 ||
            asprintf(&line, "%s --app %s --vm %s --container %s %%U", quoted, app->id, vm, container) < 0)
                return -ENOMEM;

        buf_puts(&b, "[Desktop Entry]\nType=Application\n");
        buf_key(&b, "Name", name);
        if (app->comment && app->comment[0])
                buf_key(&b, "Comment", app->comment);
        buf_key(&b, "Exec", line);
        if (with_icon)
                buf_key(&b, "Icon", base);
        if (app->n_mime_types > 0) {
                buf_puts(&b, "MimeType=");
                for (size_t i = 0; i < app->n_mime_types; i++) {
                        buf_puts(&b, app->mime_types[i]);
                        buf_puts(&b, ";");
                }
                buf_puts(&b, "\n");
        }
        if (app->no_display)
                buf_puts(&b, "NoDisplay=true\n");
        buf_key(&b, "StartupWMClass", wm);
        buf_puts(&b, "Terminal=false\n");
        buf_key(&b, "X-Bistro-VM", vm);
        buf_key(&b, "X-Bistro-Container", container);
        buf_key(&b, "X-Bistro-App", app->id);
        if (b.oom) {
                free(b.p);
                return -ENOMEM;
        }
        *ret = b.p;
        return 0;
}

static char *entry_get(const char *text, const char *key);

/* Whether an existing entry's keys name vm, container and id. The file name format is ambiguous
 * ("bistro-a-b-c-d" is VM a, container b, id c-d or container b-c, id d): the first writer owns a
 * name, and another container's entry or icons are never replaced. */
static bool entry_owned(const char *text, const char *vm, const char *container, const char *id) {
        _cleanup_free_ char *v = entry_get(text, "X-Bistro-VM"), *c = entry_get(text, "X-Bistro-Container"),
                            *i = entry_get(text, "X-Bistro-App");

        return v && c && i && streq(v, vm) && streq(c, container) && streq(i, id);
}

/* Opens applications/ (creating it with create) and reads the entry file of vm/container/id:
 * returns the directory fd or a negative errno; *ret_file gets the file name, *ret_read the result
 * of reading it (-ENOENT, -ELOOP for a symlink, ...) and *ret_text its text when that is 0. */
static int entry_read(
        const char *vm,
        const char *container,
        const char *id,
        bool create,
        char **ret_file,
        int *ret_read,
        char **ret_text) {
        _cleanup_free_ char *base = NULL, *file = NULL;
        int r, dfd;

        r = base_name(vm, container, id, &base);
        if (r < 0)
                return r;
        if (asprintf(&file, "%s.desktop", base) < 0)
                return -ENOMEM;
        dfd = open_dir("applications", create);
        if (dfd < 0)
                return dfd;
        *ret_read = read_regular_file_at(dfd, file, /* nofollow= */ true, ENTRY_FILE_MAX, ret_text, NULL);
        *ret_file = TAKE_PTR(file);
        return dfd;
}

int app_entry_write(
        const char *vm, const char *container, const AppInfo *app, const char *exec, bool with_icon) {
        _cleanup_free_ char *text = NULL, *file = NULL, *old = NULL;
        _cleanup_close_ int dfd = -EBADF;
        int r;

        r = app_entry_format(vm, container, app, exec, with_icon, &text);
        if (r < 0)
                return r;
        dfd = entry_read(vm, container, app->id, true, &file, &r, &old);
        if (dfd < 0)
                return dfd;
        if (r >= 0 && streq(old, text))
                return 0;
        if (r >= 0 && !entry_owned(old, vm, container, app->id))
                return -EEXIST;
        r = write_at(dfd, file, text, strlen(text));
        return r < 0 ? r : 1;
}

/* ---- icons ---- */

static int png_check(unsigned size, const uint8_t *d, size_t len) {
        uint32_t w, h;

        if (!png_header_ok(d, len, &w, &h) || w != size || h != size)
                return -EBADMSG;
        return 0;
}

static const char *find_ci(const char *s, size_t n, const char *needle) {
        size_t k = strlen(needle);

        for (size_t i = 0; i + k <= n; i++)
                if (strncasecmp(s + i, needle, k) == 0)
                        return s + i;
        return NULL;
}

/* Every href / url( value must be a local fragment ("#id") or inline data ("data:"). */
static bool svg_refs_ok(const char *s, size_t n, const char *what) {
        const char *end = s + n, *p = s;

        while ((p = find_ci(p, (size_t) (end - p), what))) {
                p += strlen(what);
                while (p < end && strchr(" \t\r\n=\"'", *p))
                        p++;
                if (p >= end)
                        return false;
                if (*p == '#' || ((size_t) (end - p) >= 5 && strncasecmp(p, "data:", 5) == 0))
                        continue;
                return false;
        }
        return true;
}

static int svg_check(const char *s, size_t len) {
        if (len == 0 || len > APP_ICON_BYTES_MAX || memchr(s, '\0', len) || !utf8_is_valid_n(s, len))
                return -EBADMSG;
        if (!find_ci(s, len, "<svg"))
                return -EBADMSG;
        if (find_ci(s, len, "<!ENTITY") || find_ci(s, len, "<script") ||
            find_ci(s, len, "<?xml-stylesheet") || find_ci(s, len, "<foreignObject"))
                return -EBADMSG;
        if (!svg_refs_ok(s, len, "href") || !svg_refs_ok(s, len, "url("))
                return -EBADMSG;
        return 0;
}

int app_icon_check(unsigned size, const void *data, size_t len) {
        if (!data || len == 0 || len > APP_ICON_BYTES_MAX)
                return -EBADMSG;
        if (size == 0)
                return svg_check(data, len);
        if (size < APP_ICON_PIXELS_MIN || size > APP_ICON_PIXELS_MAX)
                return -EBADMSG;
        return png_check(size, data, len);
}

/* 0 when the entry of vm/container/id exists and is theirs (see entry_owned()), -EEXIST when that
 * file name belongs to another VM/container/id, -ENOENT when there is none. */
static int entry_check_owner(const char *vm, const char *container, const char *id) {
        _cleanup_free_ char *file = NULL, *entry = NULL;
        _cleanup_close_ int dfd = -EBADF;
        int r;

        dfd = entry_read(vm, container, id, false, &file, &r, &entry);
        if (dfd < 0)
                return dfd;
        if (r < 0)
                return r == -ELOOP ? -ENOENT : r;
        return entry_owned(entry, vm, container, id) ? 0 : -EEXIST;
}

int app_icon_write(
        const char *vm, const char *container, const char *id, unsigned size, const void *data, size_t len) {
        _cleanup_free_ char *base = NULL, *file = NULL, *rel = NULL;
        _cleanup_close_ int dfd = -EBADF;
        int r;

        r = base_name(vm, container, id, &base);
        if (r < 0)
                return r;
        r = app_icon_check(size, data, len);
        if (r < 0)
                return r;
        /* Only for an entry of this container (see entry_owned()). */
        r = entry_check_owner(vm, container, id);
        if (r < 0)
                return r;
        if (size == 0)
                r = asprintf(&rel, "icons/hicolor/scalable/apps");
        else
                r = asprintf(&rel, "icons/hicolor/%ux%u/apps", size, size);
        if (r < 0 || asprintf(&file, "%s.%s", base, size == 0 ? "svg" : "png") < 0)
                return -ENOMEM;
        dfd = open_dir(rel, true);
        if (dfd < 0)
                return dfd;
        return write_at(dfd, file, data, len);
}

/* Calls f on every icons/hicolor/<size>/apps directory; stops at the first f() < 0 or > 0. */
static int foreach_icon_dir(
        int (*f)(int dfd, const char *base, void *userdata), const char *base, void *userdata) {
        _cleanup_close_ int hfd = -EBADF;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        hfd = open_dir("icons/hicolor", false);
        if (hfd == -ENOENT)
                return 0;
        if (hfd < 0)
                return hfd;
        d = fdopendir(hfd);
        if (!d)
                return -errno;
        TAKE_FD(hfd);
        while ((de = readdir(d))) {
                _cleanup_close_ int sfd = -EBADF, afd = -EBADF;
                int r;

                if (de->d_name[0] == '.')
                        continue;
                sfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sfd < 0)
                        continue;
                afd = openat(sfd, "apps", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (afd < 0)
                        continue;
                r = f(afd, base, userdata);
                if (r != 0)
                        return r;
        }
        return 0;
}

static int icon_exists_in(int dfd, const char *base, void *userdata) {
        char name[NAME_MAX + 1];
        struct stat st;

        for (int i = 0; i < 2; i++) {
                if ((size_t) snprintf(name, sizeof(name), "%s.%s", base, i ? "svg" : "png") >= sizeof(name))
                        return 0;
                if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISREG(st.st_mode))
                        return 1;
        }
        return 0;
}

bool app_icon_exists(const char *vm, const char *container, const char *id) {
        _cleanup_free_ char *base = NULL;

        if (base_name(vm, container, id, &base) < 0)
                return false;
        return foreach_icon_dir(icon_exists_in, base, NULL) > 0;
}

static int icon_remove_in(int dfd, const char *base, void *userdata) {
        char name[NAME_MAX + 1];

        for (int i = 0; i < 2; i++)
                if ((size_t) snprintf(name, sizeof(name), "%s.%s", base, i ? "svg" : "png") < sizeof(name))
                        (void) unlinkat(dfd, name, 0);
        return 0;
}

/* ---- listing and removal ---- */

/* The value of key in an entry's text (unescaped), or NULL. */
static char *entry_get(const char *text, const char *key) {
        size_t k = strlen(key);

        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                const char *v, *e;
                Buf b = {};

                if (strncmp(l, key, k) != 0 || l[k] != '=')
                        continue;
                v = l + k + 1;
                e = v + strcspn(v, "\n");
                for (const char *p = v; p < e; p++) {
                        if (*p == '\\' && p + 1 < e) {
                                p++;
                                buf_add(&b, *p == 'n' ? "\n" : *p == 't' ? "\t" : *p == 'r' ? "\r" : p, 1);
                        } else
                                buf_add(&b, p, 1);
                }
                if (b.oom || !b.p) {
                        free(b.p);
                        return b.oom ? NULL : strdup("");
                }
                return b.p;
        }
        return NULL;
}

static void app_entry_done(AppEntry *e) {
        free(e->vm);
        free(e->container);
        free(e->id);
        free(e->name);
        free(e->path);
}

void app_entries_free(AppEntry *e, size_t n) {
        for (size_t i = 0; i < n; i++)
                app_entry_done(&e[i]);
        free(e);
}

static int entry_cmp(const void *a, const void *b) {
        const AppEntry *x = a, *y = b;
        int c;

        c = strcmp(x->vm, y->vm);
        if (c == 0)
                c = strcmp(x->container, y->container);
        if (c == 0)
                c = strcmp(x->id, y->id);
        return c;
}

/* Reads the entries of the applications dir; each one's keys validated. dfd stays ours. */
static int list_in(
        int dfd, const char *dir, const char *vm, const char *container, AppEntry **ret, size_t *ret_n) {
        _cleanup_closedir_ DIR *d = NULL;
        AppEntry *v = NULL;
        size_t n = 0;
        struct dirent *de;
        int fd;

        fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return -errno;
        }
        while ((de = readdir(d)) && n < ENTRIES_MAX) {
                _cleanup_free_ char *text = NULL;
                AppEntry e = {};
                size_t l = strlen(de->d_name);
                AppEntry *nv;

                if (!startswith(de->d_name, "bistro-") || l < 8 || !streq(de->d_name + l - 8, ".desktop"))
                        continue;
                if (read_regular_file_at(
                            dfd, de->d_name, /* nofollow= */ true, ENTRY_FILE_MAX, &text, NULL) < 0)
                        continue;
                e.vm = entry_get(text, "X-Bistro-VM");
                e.container = entry_get(text, "X-Bistro-Container");
                e.id = entry_get(text, "X-Bistro-App");
                e.name = entry_get(text, "Name");
                if (asprintf(&e.path, "%s/%s", dir, de->d_name) < 0)
                        e.path = NULL;
                if (!e.vm || !e.container || !e.id || !e.name || !e.path ||
                    !names_ok(e.vm, e.container, e.id) || !utf8_is_valid(e.name) ||
                    (vm && !streq(vm, e.vm)) || (container && !streq(container, e.container))) {
                        app_entry_done(&e);
                        continue;
                }
                nv = reallocarray(v, n + 1, sizeof(*v));
                if (!nv) {
                        app_entry_done(&e);
                        app_entries_free(v, n);
                        return -ENOMEM;
                }
                v = nv;
                v[n++] = e;
        }
        if (n > 0)
                qsort(v, n, sizeof(*v), entry_cmp);
        *ret = v;
        *ret_n = n;
        return 0;
}

int app_entries_list(const char *vm, const char *container, AppEntry **ret, size_t *ret_n) {
        _cleanup_free_ char *home = NULL, *dir = NULL;
        _cleanup_close_ int dfd = -EBADF;
        int r;

        r = xdg_data_home(&home);
        if (r < 0)
                return r;
        if (asprintf(&dir, "%s/applications", home) < 0)
                return -ENOMEM;
        dfd = open_dir("applications", false);
        if (dfd == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (dfd < 0)
                return dfd;
        return list_in(dfd, dir, vm, container, ret, ret_n);
}

static int remove_one(int dfd, const AppEntry *e) {
        _cleanup_free_ char *base = NULL;
        const char *file;
        int r;

        r = base_name(e->vm, e->container, e->id, &base);
        if (r < 0)
                return r;
        file = strrchr(e->path, '/');
        file = file ? file + 1 : e->path;
        if (unlinkat(dfd, file, 0) < 0 && errno != ENOENT)
                return -errno;
        return foreach_icon_dir(icon_remove_in, base, NULL);
}

int app_entry_remove(const char *vm, const char *container, const char *id) {
        AppEntry e = { .vm = (char *) vm, .container = (char *) container, .id = (char *) id };
        _cleanup_free_ char *base = NULL, *file = NULL;
        _cleanup_close_ int dfd = -EBADF;
        int r;

        r = base_name(vm, container, id, &base);
        if (r < 0)
                return r;
        if (asprintf(&file, "%s.desktop", base) < 0)
                return -ENOMEM;
        r = entry_check_owner(vm, container, id);
        if (r == -ENOENT || r == -EEXIST)
                return 0; /* nothing of theirs */
        if (r < 0)
                return r;
        dfd = open_dir("applications", false);
        if (dfd < 0)
                return dfd;
        e.path = file;
        return remove_one(dfd, &e);
}

int app_icons_remove(const char *vm, const char *container, const char *id) {
        _cleanup_free_ char *base = NULL;
        int r;

        r = entry_check_owner(vm, container, id);
        if (r < 0)
                return r;
        r = base_name(vm, container, id, &base);
        if (r < 0)
                return r;
        return foreach_icon_dir(icon_remove_in, base, NULL);
}

int app_entries_remove_except(
        const char *vm, const char *container, const char *const *keep, size_t n_keep) {
        _cleanup_close_ int dfd = -EBADF;
        AppEntry *v = NULL;
        size_t n = 0;
        int r, removed = 0;

        if (!proto_name_ok(vm) || (container && !proto_name_ok(container)))
                return -EINVAL;
        dfd = open_dir("applications", false);
        if (dfd == -ENOENT)
                return 0;
        if (dfd < 0)
                return dfd;
        r = list_in(dfd, "applications", vm, container, &v, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                bool kept = false;

                for (size_t j = 0; j < n_keep && !kept; j++)
                        kept = streq(keep[j], v[i].id);
                if (kept)
                        continue;
                r = remove_one(dfd, &v[i]);
                if (r >= 0)
                        removed++;
        }
        app_entries_free(v, n);
        return removed;
}

/* One entry's StartupWMClass as mark wants it: 1 when rewritten, 0 when it already was. The
 * container's own class is the current one without a "bistro.<container>." prefix (that prefix is
 * ours: a container that names its class so only confuses its own grouping). */
static int entry_apply_window_mark(const AppEntry *e, WindowMark mark) {
        _cleanup_free_ char *file = NULL, *text = NULL, *cur = NULL, *prefix = NULL, *want = NULL;
        _cleanup_free_ char *out = NULL;
        _cleanup_close_ int dfd = -EBADF;
        const char *line, *end, *own;
        AppInfo a;
        int rd, r;

        dfd = entry_read(e->vm, e->container, e->id, false, &file, &rd, &text);
        if (dfd < 0)
                return dfd;
        if (rd < 0)
                return rd == -ENOENT ? 0 : rd;
        if (!entry_owned(text, e->vm, e->container, e->id))
                return 0;
        cur = entry_get(text, "StartupWMClass");
        if (!cur)
                return -EBADMSG;
        if (asprintf(&prefix, "bistro.%s.", e->container) < 0)
                return -ENOMEM;
        own = startswith(cur, prefix) ? cur + strlen(prefix) : cur;
        a = (AppInfo){ .id = e->id, .startup_wm_class = own, .window_mark = mark };
        r = app_entry_wm_class(e->container, &a, &want);
        if (r < 0)
                return r;
        if (streq(want, cur))
                return 0;
        for (line = text; line && !startswith(line, "StartupWMClass=");)
                line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL;
        if (!line)
                return -EBADMSG;
        end = line + strcspn(line, "\n");
        if (asprintf(&out, "%.*sStartupWMClass=%s%s", (int) (line - text), text, want, end) < 0)
                return -ENOMEM;
        r = write_at(dfd, file, out, strlen(out));
        return r < 0 ? r : 1;
}

int app_entries_apply_window_mark(WindowMark mark) {
        AppEntry *v = NULL;
        size_t n = 0;
        int r, changed = 0, first_error = 0;

        r = app_entries_list(NULL, NULL, &v, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = entry_apply_window_mark(&v[i], mark);
                if (r < 0 && first_error == 0)
                        first_error = r;
                else if (r > 0)
                        changed++;
        }
        app_entries_free(v, n);
        return first_error < 0 ? first_error : changed;
}
