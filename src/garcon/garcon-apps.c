/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "desktop-entry.h"
#include "dirent-util.h"
#include "fd-util.h"
#include "hash-util.h"
#include "garcon-apps.h"
#include "path-util.h"
#include "png-util.h"
#include "proto-validate.h"
#include "string-util.h"
#include "strv.h"

#define WATCH_MASK                                                                          \
        (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | \
         IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define WATCH_MASK_DIR_ONLY (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR)

GarconApp *garcon_app_free(GarconApp *a) {
        if (!a)
                return NULL;
        free(a->id);
        free(a->file);
        free(a->name);
        free(a->comment);
        strv_free(a->mime_types);
        free(a->startup_wm_class);
        free(a->exec);
        free(a->work_dir);
        free(a->icon);
        free(a);
        return NULL;
}

GarconAppList *garcon_app_list_free(GarconAppList *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n; i++)
                garcon_app_free(l->apps[i]);
        free(l->apps);
        free(l);
        return NULL;
}

const GarconApp *garcon_app_list_find(const GarconAppList *l, const char *id) {
        size_t lo = 0, hi = l ? l->n : 0;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(id, l->apps[mid]->id);

                if (c == 0)
                        return l->apps[mid];
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

int garcon_data_dirs_from_env(char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        const char *home = getenv("XDG_DATA_HOME"), *dirs = getenv("XDG_DATA_DIRS");
        _cleanup_free_ char *copy = NULL;
        char *save = NULL;

        l = new0(char *, 1);
        if (!l)
                return -ENOMEM;
        if (home && home[0] == '/') {
                if (strv_extend(&l, home) < 0)
                        return -ENOMEM;
        } else {
                const char *h = getenv("HOME");

                if (h && h[0] == '/') {
                        char *p = path_join(h, ".local/share");

                        if (!p || strv_consume(&l, p) < 0)
                                return -ENOMEM;
                }
        }
        copy = strdup(dirs && dirs[0] ? dirs : "/usr/local/share:/usr/share");
        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
                if (t[0] != '/' || strv_contains(l, t) || strv_length(l) >= 64)
                        continue;
                if (strv_extend(&l, t) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int garcon_clean_text(const char *s, size_t max, char **ret) {
        /* proto_text_sanitize() replaces each bad byte by one '?', so the length never grows;
         * it cuts at a character boundary. Leading/trailing blanks go. */
        size_t n = strlen(s);
        char *c;

        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
                n--;
        while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
                s++;
                n--;
        }
        c = memdup_str(s, MIN(n, max + 8));
        if (!c)
                return -ENOMEM;
        proto_text_sanitize(c, max, false);
        *ret = c;
        return 0;
}

typedef struct Candidate {
        char *id;
        char *path;
        size_t order; /* discovery order: data dir priority first, then sorted names */
} Candidate;

typedef struct Scan {
        const GarconScanOptions *o;
        GarconScanStats stats;
        Candidate *c;
        size_t n_c, cap_c;
} Scan;

static bool wd_dir_only(const GarconScanStats *st, int wd) {
        for (size_t i = 0; i < st->n_dir_only_wds; i++)
                if (st->dir_only_wds[i] == wd)
                        return true;
        return false;
}

/* IN_MASK_ADD: a directory watched twice (as a target and as an ancestor) keeps both masks. A
 * full watch also takes its wd off the dir-only list. */
static void watch_dir_full(Scan *s, const char *path, bool dir_only) {
        int wd;

        if (s->o->inotify_fd < 0)
                return;
        wd = inotify_add_watch(
                s->o->inotify_fd, path, (dir_only ? WATCH_MASK_DIR_ONLY : WATCH_MASK) | IN_MASK_ADD);
        if (wd < 0)
                return;
        s->stats.watches++;
        if (!dir_only) {
                for (size_t i = 0; i < s->stats.n_dir_only_wds; i++)
                        if (s->stats.dir_only_wds[i] == wd)
                                s->stats.dir_only_wds[i] = -1;
        } else if (!wd_dir_only(&s->stats, wd) && s->stats.n_dir_only_wds < GARCON_DIR_ONLY_WATCHES_MAX)
                s->stats.dir_only_wds[s->stats.n_dir_only_wds++] = wd;
}

bool garcon_scan_event_matters(const GarconScanStats *st, int wd, uint32_t mask) {
        if (mask & IN_Q_OVERFLOW)
                return true;
        return !wd_dir_only(st, wd) || (mask & IN_ISDIR);
}

static void watch_dir(Scan *s, const char *path) {
        watch_dir_full(s, path, false);
}

/* Watches path, or its deepest existing ancestor not above stop, so that its creation is seen.
 * An ancestor (and path itself with dir_only) is watched for directory events only: a data dir
 * such as ~/.local/share sees many file writes (recently-used.xbel) that must not cause scans. */
static void watch_nearest(Scan *s, const char *path, const char *stop, bool dir_only) {
        _cleanup_free_ char *p = strdup(path);
        struct stat st;

        if (!p || s->o->inotify_fd < 0)
                return;
        for (bool target = true;; target = false) {
                char *slash;

                if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
                        watch_dir_full(s, p, dir_only || !target);
                        return;
                }
                if (stop && streq(p, stop))
                        return;
                slash = strrchr(p, '/');
                if (!slash || slash == p)
                        return;
                *slash = 0;
        }
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int add_candidate(Scan *s, const char *path, const char *rel) {
        _cleanup_free_ char *id = NULL, *p = NULL;

        if (desktop_id_from_path(rel, &id) < 0) {
                s->stats.skipped++;
                return 0; /* an id we could not send: the file is left out */
        }
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        if (s->n_c >= s->cap_c) {
                size_t cap = MAX(64u, s->cap_c * 2);
                Candidate *c = reallocarray_safe(s->c, cap, sizeof(Candidate));

                if (!c)
                        return -ENOMEM;
                s->c = c;
                s->cap_c = cap;
        }
        s->c[s->n_c] = (Candidate){ .id = TAKE_PTR(id), .path = TAKE_PTR(p), .order = s->n_c };
        s->n_c++;
        return 0;
}

static bool endswith_desktop(const char *name) {
        size_t n = strlen(name);

        return n > strlen(".desktop") && streq(name + n - strlen(".desktop"), ".desktop");
}

static int walk(Scan *s, int fd, const char *path, const char *rel, unsigned depth) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0, cap = 0;
        int r;

        watch_dir(s, path);
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return 0;
        }
        FOREACH_DIRENT(de, d) {
                if (s->stats.files >= GARCON_SCAN_FILES_MAX) {
                        s->stats.truncated = true;
                        break;
                }
                s->stats.files++;
                if (n + 1 >= cap) {
                        size_t nc = MAX(16u, cap * 2);
                        char **p = reallocarray_safe(names, nc, sizeof(char *));

                        if (!p)
                                return -ENOMEM;
                        names = p;
                        cap = nc;
                }
                names[n] = strdup(de->d_name);
                if (!names[n])
                        return -ENOMEM;
                names[++n] = NULL;
        }
        if (n == 0)
                return 0;
        qsort(names, n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *child = path_join(path, names[i]), *crel = NULL;
                struct stat st;

                if (!child)
                        return -ENOMEM;
                if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        int cfd;

                        if (depth >= GARCON_SCAN_DEPTH_MAX)
                                continue;
                        cfd =
                                openat(dirfd(d), names[i],
                                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
                        if (cfd < 0)
                                continue;
                        crel = rel[0] ? path_join(rel, names[i]) : strdup(names[i]);
                        if (!crel) {
                                safe_close(cfd);
                                return -ENOMEM;
                        }
                        r = walk(s, cfd, child, crel, depth + 1);
                        if (r < 0)
                                return r;
                        continue;
                }
                /* Files may be symlinks (alternatives do that); directories are never followed. */
                if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
                        continue;
                if (!endswith_desktop(names[i]))
                        continue;
                s->stats.desktop_files++;
                crel = rel[0] ? path_join(rel, names[i]) : strdup(names[i]);
                if (!crel)
                        return -ENOMEM;
                r = add_candidate(s, child, crel);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int cmp_candidate(const void *a, const void *b) {
        const Candidate *x = a, *y = b;
        int c = strcmp(x->id, y->id);

        if (c != 0)
                return c;
        return x->order < y->order ? -1 : x->order > y->order;
}

int garcon_app_from_entry(
        const char *id, const char *path, DesktopEntry *e, char *const *data_dirs, GarconApp **ret) {
        _cleanup_(garcon_app_freep) GarconApp *a = NULL;
        IconFile *icons = NULL;
        size_t n_icons = 0;
        int r;

        if (!e->name)
                return -EINVAL; /* Name is required */
        a = new0(GarconApp, 1);
        if (!a)
                return -ENOMEM;
        a->id = strdup(id);
        a->file = strdup(path);
        a->exec = strdup(e->exec);
        a->startup_wm_class = strdup(
                e->startup_wm_class && name_is_valid(e->startup_wm_class, 255) ? e->startup_wm_class : "");
        a->mime_types = new0(char *, 1);
        if (!a->id || !a->file || !a->exec || !a->startup_wm_class || !a->mime_types)
                return -ENOMEM;
        r = garcon_clean_text(e->name, GARCON_APP_NAME_MAX, &a->name);
        if (r < 0)
                return r;
        if (!a->name[0])
                return -EINVAL;
        r = garcon_clean_text(e->comment ?: "", GARCON_APP_COMMENT_MAX, &a->comment);
        if (r < 0)
                return r;
        for (size_t i = 0; e->mime_types && e->mime_types[i] && a->n_mime_types < GARCON_MIME_TYPES_MAX;
             i++) {
                if (!proto_mime_type_ok(e->mime_types[i]) || strv_contains(a->mime_types, e->mime_types[i]))
                        continue; /* dropped, the rest is kept */
                if (strv_extend(&a->mime_types, e->mime_types[i]) < 0)
                        return -ENOMEM;
                a->n_mime_types++;
        }
        a->no_display = e->no_display;
        if (e->path && e->path[0] == '/') {
                a->work_dir = strdup(e->path);
                if (!a->work_dir)
                        return -ENOMEM;
        }
        if (e->icon && e->icon[0]) {
                a->icon = strdup(e->icon);
                if (!a->icon)
                        return -ENOMEM;
                r = icon_find(a->icon, data_dirs, &icons, &n_icons, &a->icon_sig);
                if (r < 0)
                        return r;
                icon_files_free(icons, n_icons);
        }
        *ret = TAKE_PTR(a);
        return 0;
}

int garcon_scan(const GarconScanOptions *o, GarconAppList **ret, GarconScanStats *ret_stats) {
        _cleanup_(garcon_app_list_freep) GarconAppList *l = NULL;
        Scan s = { .o = o };
        int r = 0;

        l = new0(GarconAppList, 1);
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; o->data_dirs && o->data_dirs[i]; i++) {
                _cleanup_free_ char *apps = path_join(o->data_dirs[i], "applications");
                int fd;

                if (!apps) {
                        r = -ENOMEM;
                        goto finish;
                }
                /* The data dir is watched too (or its nearest existing ancestor), so that a new
                 * applications/ directory is noticed. */
                watch_nearest(&s, o->data_dirs[i], NULL, true);
                static const char *const icon_dirs[] = {
                        "icons/hicolor/48x48/apps",    "icons/hicolor/64x64/apps",
                        "icons/hicolor/128x128/apps",  "icons/hicolor/256x256/apps",
                        "icons/hicolor/scalable/apps",
                };
                for (size_t k = 0; k < ELEMENTSOF(icon_dirs); k++) {
                        _cleanup_free_ char *d = path_join(o->data_dirs[i], icon_dirs[k]);

                        if (d)
                                watch_nearest(&s, d, o->data_dirs[i], false);
                }
                fd = open(apps, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
                if (fd < 0)
                        continue;
                r = walk(&s, fd, apps, "", 1);
                if (r < 0)
                        goto finish;
        }
        watch_nearest(&s, "/usr/share/pixmaps", "/usr/share", false);

        qsort(s.c, s.n_c, sizeof(Candidate), cmp_candidate);
        l->apps = new0(GarconApp *, s.n_c);
        if (!l->apps) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < s.n_c; i++) {
                _cleanup_(desktop_entry_freep) DesktopEntry *e = NULL;
                _cleanup_free_ char *buf = NULL;
                GarconApp *a = NULL;
                size_t len;

                if (i > 0 && streq(s.c[i].id, s.c[i - 1].id))
                        continue; /* the first file of an id wins */
                if (read_regular_file(s.c[i].path, DESKTOP_ENTRY_SIZE_MAX, &buf, &len) < 0 ||
                    desktop_entry_parse(buf, len, o->lang, &e) < 0 ||
                    desktop_entry_verdict(e, o->search_path) != DESKTOP_ENTRY_SHOW) {
                        s.stats.skipped++;
                        continue;
                }
                r = garcon_app_from_entry(s.c[i].id, s.c[i].path, e, o->data_dirs, &a);
                if (r == -ENOMEM)
                        goto finish;
                if (r < 0) {
                        s.stats.skipped++;
                        r = 0;
                        continue;
                }
                l->apps[l->n++] = a;
        }
        if (ret_stats)
                *ret_stats = s.stats;
        *ret = TAKE_PTR(l);
finish:
        for (size_t i = 0; i < s.n_c; i++) {
                free(s.c[i].id);
                free(s.c[i].path);
        }
        free(s.c);
        return r;
}

static size_t varint_size(size_t v) {
        size_t n = 1;

        while (v >= 0x80) {
                v >>= 7;
                n++;
        }
        return n;
}

int app_list_message_build(const GarconAppList *l, const char *token, AppListMessage *ret) {
        size_t n = MIN(l->n, (size_t) GARCON_APPS_MAX), used, k = 0;

        *ret = (AppListMessage){};
        bistro__container__update_application_list_request__init(&ret->req);
        ret->req.token = (char *) token;
        ret->apps = new0(Bistro__Container__Application, n);
        ret->ptrs = new0(Bistro__Container__Application *, n);
        if (!ret->apps || !ret->ptrs) {
                app_list_message_done(ret);
                return -ENOMEM;
        }
        used = protobuf_c_message_get_packed_size(&ret->req.base);
        for (size_t i = 0; i < n; i++) {
                const GarconApp *a = l->apps[i];
                Bistro__Container__Application *m = &ret->apps[k];
                size_t sz;

                bistro__container__application__init(m);
                m->desktop_file_id = a->id;
                m->name = a->name;
                m->comment = a->comment;
                m->mime_types = a->mime_types;
                m->n_mime_types = a->n_mime_types;
                m->no_display = a->no_display;
                m->startup_wm_class = a->startup_wm_class;
                sz = protobuf_c_message_get_packed_size(&m->base);
                sz += 1 + varint_size(sz);
                if (used + sz > GARCON_APP_LIST_BYTES_MAX)
                        break; /* the rest does not fit the message: left out */
                used += sz;
                ret->ptrs[k++] = m;
        }
        ret->req.apps = ret->ptrs;
        ret->req.n_apps = k;
        return 0;
}

void app_list_message_done(AppListMessage *m) {
        m->apps = mfree(m->apps);
        m->ptrs = mfree(m->ptrs);
        m->req.apps = NULL;
        m->req.n_apps = 0;
}

void icon_files_free(IconFile *f, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(f[i].path);
        free(f);
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);

        return n > k && strcasecmp(s + n - k, suffix) == 0;
}

static int icon_add(IconFile *f, size_t *n, const char *path, bool svg, uint64_t *sig) {
        struct stat st;

        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                return 0;
        f[*n].path = strdup(path);
        if (!f[*n].path)
                return -ENOMEM;
        f[*n].svg = svg;
        (*n)++;
        *sig = fnv1a64(*sig, path, strlen(path) + 1);
        *sig = fnv1a64(*sig, &st.st_size, sizeof(st.st_size));
        *sig = fnv1a64(*sig, &st.st_mtim, sizeof(st.st_mtim));
        *sig = fnv1a64(*sig, &st.st_ino, sizeof(st.st_ino));
        *sig = fnv1a64(*sig, &st.st_dev, sizeof(st.st_dev));
        return 0;
}

int icon_find(const char *icon, char *const *data_dirs, IconFile **ret, size_t *ret_n, uint64_t *ret_sig) {
        static const unsigned sizes[] = { 48, 64, 128, 256 };
        IconFile *f = new0(IconFile, GARCON_ICONS_MAX);
        _cleanup_free_ char *name = NULL;
        uint64_t sig = FNV1A64_INIT;
        size_t n = 0;
        int r = 0;

        if (!f)
                return -ENOMEM;
        if (icon[0] == '/') {
                if (has_suffix(icon, ".png") || has_suffix(icon, ".svg"))
                        r = icon_add(f, &n, icon, has_suffix(icon, ".svg"), &sig);
                goto done;
        }
        /* A themed name: no path components. "name.png" is tolerated (deprecated form). */
        name = strdup(icon);
        if (!name) {
                r = -ENOMEM;
                goto done;
        }
        if (has_suffix(name, ".png") || has_suffix(name, ".svg") || has_suffix(name, ".xpm"))
                name[strlen(name) - 4] = 0;
        if (!name[0] || name[0] == '.' || strchr(name, '/') || strlen(name) > 255)
                goto done;
        for (size_t s = 0; s < ELEMENTSOF(sizes) && r >= 0; s++)
                for (size_t i = 0; data_dirs && data_dirs[i]; i++) {
                        char p[PATH_MAX];
                        size_t before = n;

                        if (snprintf(
                                    p, sizeof(p), "%s/icons/hicolor/%ux%u/apps/%s.png", data_dirs[i],
                                    sizes[s], sizes[s], name) >= (int) sizeof(p))
                                continue;
                        r = icon_add(f, &n, p, false, &sig);
                        if (r < 0 || n > before)
                                break;
                }
        for (size_t i = 0; data_dirs && data_dirs[i] && r >= 0; i++) {
                char p[PATH_MAX];
                size_t before = n;

                if (snprintf(p, sizeof(p), "%s/icons/hicolor/scalable/apps/%s.svg", data_dirs[i], name) >=
                    (int) sizeof(p))
                        continue;
                r = icon_add(f, &n, p, true, &sig);
                if (n > before)
                        break;
        }
        if (n == 0 && r >= 0) {
                char p[PATH_MAX];

                if (snprintf(p, sizeof(p), "/usr/share/pixmaps/%s.png", name) < (int) sizeof(p))
                        r = icon_add(f, &n, p, false, &sig);
                if (n == 0 && r >= 0 &&
                    snprintf(p, sizeof(p), "/usr/share/pixmaps/%s.svg", name) < (int) sizeof(p))
                        r = icon_add(f, &n, p, true, &sig);
        }
done:
        if (r < 0) {
                icon_files_free(f, n);
                return r;
        }
        *ret = f;
        *ret_n = n;
        *ret_sig = n > 0 ? (sig ?: 1) : 0;
        return 0;
}

bool png_square_size(const uint8_t *d, size_t n, uint32_t *ret_size) {
        uint32_t w, h;

        /* The host's rule (app_icon_check()): a well-formed PNG, square, in the size range. */
        if (!png_header_ok(d, n, &w, &h))
                return false;
        if (w != h || w < GARCON_ICON_PIXELS_MIN || w > GARCON_ICON_PIXELS_MAX)
                return false;
        *ret_size = w;
        return true;
}

int icon_load(const IconFile *f, uint8_t **ret, size_t *ret_len, uint32_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        uint32_t size = 0;
        size_t len;
        int r;

        r = read_regular_file(f->path, GARCON_ICON_BYTES_MAX, &buf, &len);
        if (r < 0)
                return r;
        if (len == 0)
                return -EBADMSG;
        if (f->svg) {
                if (!memmem(buf, MIN(len, (size_t) 4096), "<svg", 4))
                        return -EBADMSG;
        } else if (!png_square_size((const uint8_t *) buf, len, &size))
                return -EBADMSG;
        *ret = (uint8_t *) TAKE_PTR(buf);
        *ret_len = len;
        *ret_size = size;
        return 0;
}

int icons_message_build(const GarconApp *a, char *const *data_dirs, const char *token, IconsMessage *ret) {
        IconFile *files = NULL;
        size_t n_files = 0, k = 0, n_png = 0;
        uint64_t sig;
        int r;

        *ret = (IconsMessage){};
        bistro__container__update_application_icons_request__init(&ret->req);
        ret->req.token = (char *) token;
        ret->req.desktop_file_id = a->id;
        ret->req.icons = ret->ptrs;
        if (!a->icon)
                return 0;
        r = icon_find(a->icon, data_dirs, &files, &n_files, &sig);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_files && k < GARCON_ICONS_MAX; i++) {
                uint8_t *data;
                size_t len;
                uint32_t size;
                bool dup = false;

                if (icon_load(&files[i], &data, &len, &size) < 0)
                        continue;
                for (size_t j = 0; j < k; j++)
                        dup = dup || ret->icons[j].size == size;
                if (dup || (size > 0 && n_png >= 4)) {
                        free(data);
                        continue;
                }
                n_png += size > 0;
                bistro__container__icon__init(&ret->icons[k]);
                ret->icons[k].size = size;
                ret->icons[k].data.data = data;
                ret->icons[k].data.len = len;
                ret->ptrs[k] = &ret->icons[k];
                k++;
        }
        ret->req.n_icons = k;
        icon_files_free(files, n_files);
        return 0;
}

void icons_message_done(IconsMessage *m) {
        for (size_t i = 0; i < m->req.n_icons; i++)
                m->icons[i].data.data = mfree(m->icons[i].data.data);
        m->req.n_icons = 0;
}
