/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "desktop-entry.h"
#include "string-util.h"
#include "strv.h"

/* Elements kept of one list value (MimeType has far fewer valid ones on the wire anyway). */
#define LIST_MAX 1024u
/* Bytes of one expanded argv in all (the kernel's ARG_MAX is about this). */
#define EXEC_BYTES_MAX (2u * 1024u * 1024u)

DesktopEntry *desktop_entry_free(DesktopEntry *e) {
        if (!e)
                return NULL;
        free(e->type);
        free(e->name);
        free(e->comment);
        free(e->exec);
        free(e->try_exec);
        free(e->icon);
        free(e->path);
        free(e->startup_wm_class);
        strv_free(e->mime_types);
        strv_free(e->only_show_in);
        strv_free(e->not_show_in);
        free(e);
        return NULL;
}

typedef struct Locale {
        char lang[32];
        char country[32];
        char modifier[32];
} Locale;

/* Splits "lang_COUNTRY.ENCODING@MODIFIER" (any part after lang optional). Returns false for no
 * usable locale ("C", "POSIX", empty, absurd). */
static bool locale_split(const char *s, size_t n, Locale *ret) {
        const char *end = s + n, *p = s;
        char *dst;
        size_t k;

        *ret = (Locale){};
        /* lang: up to '_', '.', '@' */
        for (dst = ret->lang, k = 0; p < end && !strchr("_.@", *p); p++) {
                if (k + 1 >= sizeof(ret->lang))
                        return false;
                dst[k++] = *p;
        }
        if (k == 0)
                return false;
        if (p < end && *p == '_') {
                p++;
                for (dst = ret->country, k = 0; p < end && !strchr(".@", *p); p++) {
                        if (k + 1 >= sizeof(ret->country))
                                return false;
                        dst[k++] = *p;
                }
                if (k == 0)
                        return false;
        }
        if (p < end && *p == '.')
                while (p < end && *p != '@')
                        p++;
        if (p < end && *p == '@') {
                p++;
                for (dst = ret->modifier, k = 0; p < end; p++) {
                        if (k + 1 >= sizeof(ret->modifier))
                                return false;
                        dst[k++] = *p;
                }
                if (k == 0)
                        return false;
        }
        return !streq(ret->lang, "C") && !streq(ret->lang, "POSIX");
}

/* How well a key's locale matches ours: 4 lang_COUNTRY@MODIFIER, 3 lang_COUNTRY, 2 lang@MODIFIER,
 * 1 lang, -1 no match. */
static int locale_score(const char *s, size_t n, const Locale *ours) {
        Locale k;

        if (!ours || !locale_split(s, n, &k))
                return -1;
        if (!streq(k.lang, ours->lang))
                return -1;
        if (k.country[0] && !streq(k.country, ours->country))
                return -1;
        if (k.modifier[0] && !streq(k.modifier, ours->modifier))
                return -1;
        return 1 + (k.country[0] ? 2 : 0) + (k.modifier[0] ? 1 : 0);
}

const char *desktop_entry_locale_from_env(void) {
        static const char *const vars[] = { "LC_ALL", "LC_MESSAGES", "LANG" };

        for (size_t i = 0; i < ELEMENTSOF(vars); i++) {
                const char *v = getenv(vars[i]);

                if (v && v[0])
                        return v;
        }
        return NULL;
}

/* The string escapes of the spec: \s \n \t \r \\; any other backslash stays as it is (the Exec
 * key has its own second level of quoting). Stops at a NUL byte: strings end there. */
static char *unescape_string(const char *s, size_t n) {
        char *r = malloc(n + 1), *d = r;

        if (!r)
                return NULL;
        for (size_t i = 0; i < n && s[i]; i++) {
                if (s[i] == '\\' && i + 1 < n) {
                        char c = s[i + 1], o = 0;

                        switch (c) {
                        case 's':
                                o = ' ';
                                break;
                        case 'n':
                                o = '\n';
                                break;
                        case 't':
                                o = '\t';
                                break;
                        case 'r':
                                o = '\r';
                                break;
                        case '\\':
                                o = '\\';
                                break;
                        default:
                                break;
                        }
                        if (o) {
                                *d++ = o;
                                i++;
                                continue;
                        }
                }
                *d++ = s[i];
        }
        *d = 0;
        return r;
}

/* A ';'-separated list; "\;" is a ';' in an element; empty elements are skipped. */
static int parse_list(const char *s, size_t n, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *cur = malloc(n + 1);
        size_t k = 0, count = 0;

        if (!cur)
                return -ENOMEM;
        l = new0(char *, 1);
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i <= n; i++) {
                if (i < n && s[i] == 0)
                        n = i; /* strings end at a NUL */
                if (i < n && s[i] == '\\' && i + 1 < n && s[i + 1] == ';') {
                        cur[k++] = ';';
                        i++;
                        continue;
                }
                if (i < n && s[i] == '\\' && i + 1 < n) {
                        /* keep other escapes for unescape_string() */
                        cur[k++] = s[i++];
                        cur[k++] = s[i];
                        continue;
                }
                if (i < n && s[i] != ';') {
                        cur[k++] = s[i];
                        continue;
                }
                if (k > 0 && count < LIST_MAX) {
                        char *e = unescape_string(cur, k);

                        if (!e)
                                return -ENOMEM;
                        if (strv_consume(&l, e) < 0)
                                return -ENOMEM;
                        count++;
                }
                k = 0;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static bool parse_bool(const char *s, size_t n) {
        return (n == 4 && memcmp(s, "true", 4) == 0) || (n == 1 && s[0] == '1');
}

static bool key_char(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static bool key_is(const char *k, size_t n, const char *want) {
        return strlen(want) == n && memcmp(k, want, n) == 0;
}

static int set_string(char **field, const char *v, size_t n) {
        if (*field)
                return 0; /* the first one wins */
        *field = unescape_string(v, n);
        return *field ? 0 : -ENOMEM;
}

static int set_list(char ***field, const char *v, size_t n) {
        if (*field)
                return 0;
        return parse_list(v, n, field);
}

static int set_localized(char **field, int *score, const char *v, size_t n, int s) {
        char *u;

        if (*field && s <= *score)
                return 0;
        u = unescape_string(v, n);
        if (!u)
                return -ENOMEM;
        free(*field);
        *field = u;
        *score = s;
        return 0;
}

static int handle_key(
        DesktopEntry *e,
        const char *key,
        size_t klen,
        const char *loc,
        size_t loclen,
        const char *v,
        size_t vlen,
        const Locale *ours) {

        if (loc) {
                int s;

                if (!key_is(key, klen, "Name") && !key_is(key, klen, "Comment"))
                        return 0;
                s = locale_score(loc, loclen, ours);
                if (s < 0)
                        return 0;
                if (key_is(key, klen, "Name"))
                        return set_localized(&e->name, &e->name_score, v, vlen, s);
                return set_localized(&e->comment, &e->comment_score, v, vlen, s);
        }
        if (key_is(key, klen, "Name"))
                return e->name ? 0 : set_localized(&e->name, &e->name_score, v, vlen, 0);
        if (key_is(key, klen, "Comment"))
                return e->comment ? 0 : set_localized(&e->comment, &e->comment_score, v, vlen, 0);
        if (key_is(key, klen, "Type"))
                return set_string(&e->type, v, vlen);
        if (key_is(key, klen, "Exec"))
                return set_string(&e->exec, v, vlen);
        if (key_is(key, klen, "TryExec"))
                return set_string(&e->try_exec, v, vlen);
        if (key_is(key, klen, "Icon"))
                return set_string(&e->icon, v, vlen);
        if (key_is(key, klen, "Path"))
                return set_string(&e->path, v, vlen);
        if (key_is(key, klen, "StartupWMClass"))
                return set_string(&e->startup_wm_class, v, vlen);
        if (key_is(key, klen, "MimeType"))
                return set_list(&e->mime_types, v, vlen);
        if (key_is(key, klen, "OnlyShowIn"))
                return set_list(&e->only_show_in, v, vlen);
        if (key_is(key, klen, "NotShowIn"))
                return set_list(&e->not_show_in, v, vlen);
        if (key_is(key, klen, "Hidden"))
                e->hidden = e->hidden || parse_bool(v, vlen);
        else if (key_is(key, klen, "NoDisplay"))
                e->no_display = e->no_display || parse_bool(v, vlen);
        else if (key_is(key, klen, "Terminal"))
                e->terminal = e->terminal || parse_bool(v, vlen);
        return 0;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

int desktop_entry_parse(const char *buf, size_t n, const char *lang, DesktopEntry **ret) {
        _cleanup_(desktop_entry_freep) DesktopEntry *e = NULL;
        Locale ours;
        bool have_locale = lang && locale_split(lang, strlen(lang), &ours);
        bool in_group = false, seen_group = false;
        const char *end = buf + n;

        e = new0(DesktopEntry, 1);
        if (!e)
                return -ENOMEM;

        for (const char *p = buf; p < end;) {
                const char *eol = memchr(p, '\n', (size_t) (end - p));
                const char *line = p, *le = eol ? eol : end;
                const char *key, *kend, *loc = NULL, *eq;
                size_t loclen = 0;
                int r;

                p = eol ? eol + 1 : end;
                if (le > line && le[-1] == '\r')
                        le--;
                while (line < le && is_blank(*line))
                        line++;
                if (line == le || *line == '#')
                        continue;
                if (*line == '[') {
                        const char *close = le;

                        while (close > line && is_blank(close[-1]))
                                close--;
                        if (close - line < 2 || close[-1] != ']')
                                continue; /* malformed header: not a group */
                        /* Only the first [Desktop Entry] group counts; a repeated one is invalid
                         * and ignored with its keys. */
                        in_group = !seen_group && close - line - 2 == (ptrdiff_t) strlen("Desktop Entry") &&
                                   memcmp(line + 1, "Desktop Entry", strlen("Desktop Entry")) == 0;
                        seen_group = seen_group || in_group;
                        continue;
                }
                if (!in_group)
                        continue;
                eq = memchr(line, '=', (size_t) (le - line));
                if (!eq)
                        continue;
                key = line;
                kend = eq;
                while (kend > key && is_blank(kend[-1]))
                        kend--;
                if (kend > key && kend[-1] == ']') {
                        const char *open = memchr(key, '[', (size_t) (kend - key));

                        if (!open || open == key || kend - open < 3)
                                continue;
                        loc = open + 1;
                        loclen = (size_t) (kend - 1 - loc);
                        kend = open;
                        bool ok = true;

                        for (size_t i = 0; i < loclen && ok; i++)
                                ok = key_char(loc[i]) || strchr("_.@", loc[i]);
                        if (!ok)
                                continue;
                }
                if (kend == key)
                        continue;
                for (const char *k = key; k < kend; k++)
                        if (!key_char(*k))
                                goto next;
                eq++;
                while (eq < le && is_blank(*eq))
                        eq++;
                r = handle_key(
                        e, key, (size_t) (kend - key), loc, loclen, eq, (size_t) (le - eq),
                        have_locale ? &ours : NULL);
                if (r < 0)
                        return r;
next:;
        }
        if (!seen_group)
                return -EBADMSG;
        *ret = TAKE_PTR(e);
        return 0;
}

static bool executable_file(const char *path) {
        struct stat st;

        return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static bool try_exec_found(const char *name, const char *search_path) {
        const char *p;

        if (name[0] == '/')
                return executable_file(name);
        if (strchr(name, '/'))
                return false; /* relative paths have no meaning here */
        p = search_path ?: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        for (;;) {
                const char *c = strchrnul(p, ':');
                size_t n = (size_t) (c - p);

                if (n > 0 && p[0] == '/') {
                        _cleanup_free_ char *f = malloc(n + 1 + strlen(name) + 1);

                        if (!f)
                                return false;
                        memcpy(f, p, n);
                        f[n] = '/';
                        strcpy(f + n + 1, name);
                        if (executable_file(f))
                                return true;
                }
                if (!*c)
                        return false;
                p = c + 1;
        }
}

DesktopEntryVerdict desktop_entry_verdict(const DesktopEntry *e, const char *search_path) {
        _cleanup_strv_free_ char **argv = NULL;

        if (!e->type || !streq(e->type, "Application"))
                return DESKTOP_ENTRY_NOT_APPLICATION;
        if (e->hidden)
                return DESKTOP_ENTRY_HIDDEN;
        if (!e->exec || exec_line_expand(e->exec, NULL, 0, NULL, 0, e->icon, "", "", &argv) < 0)
                return DESKTOP_ENTRY_NO_EXEC;
        if (e->no_display && !(e->mime_types && e->mime_types[0]))
                return DESKTOP_ENTRY_NO_DISPLAY;
        /* We have no terminal handler on the host yet; garcon skips these too. */
        if (e->terminal)
                return DESKTOP_ENTRY_TERMINAL;
        /* The desktop the host shows our apps in is treated as GNOME, as garcon does. */
        if (e->only_show_in && !strv_contains(e->only_show_in, "GNOME"))
                return DESKTOP_ENTRY_ONLY_SHOW_IN;
        if (e->not_show_in && strv_contains(e->not_show_in, "GNOME"))
                return DESKTOP_ENTRY_NOT_SHOW_IN;
        if (e->try_exec && e->try_exec[0] && !try_exec_found(e->try_exec, search_path))
                return DESKTOP_ENTRY_TRY_EXEC;
        return DESKTOP_ENTRY_SHOW;
}

const char *desktop_entry_verdict_to_string(DesktopEntryVerdict v) {
        static const char *const table[_DESKTOP_ENTRY_VERDICT_MAX] = {
                [DESKTOP_ENTRY_SHOW] = "shown",
                [DESKTOP_ENTRY_NOT_APPLICATION] = "not Type=Application",
                [DESKTOP_ENTRY_HIDDEN] = "Hidden=true",
                [DESKTOP_ENTRY_NO_EXEC] = "no usable Exec",
                [DESKTOP_ENTRY_NO_DISPLAY] = "NoDisplay=true without MimeType",
                [DESKTOP_ENTRY_TERMINAL] = "Terminal=true",
                [DESKTOP_ENTRY_ONLY_SHOW_IN] = "OnlyShowIn without GNOME",
                [DESKTOP_ENTRY_NOT_SHOW_IN] = "NotShowIn with GNOME",
                [DESKTOP_ENTRY_TRY_EXEC] = "TryExec not found",
        };

        return (unsigned) v < _DESKTOP_ENTRY_VERDICT_MAX ? table[v] : "?";
}

int desktop_id_from_path(const char *rel, char **ret) {
        static const char suffix[] = ".desktop";
        size_t n = strlen(rel), s = strlen(suffix);
        _cleanup_free_ char *id = NULL;

        if (n <= s || !streq(rel + n - s, suffix))
                return -EINVAL;
        id = memdup_str(rel, n - s);
        if (!id)
                return -ENOMEM;
        for (char *c = id; *c; c++)
                if (*c == '/')
                        *c = '-';
        if (!name_is_valid(id, 255))
                return -EINVAL;
        *ret = TAKE_PTR(id);
        return 0;
}

typedef struct Buf {
        char *s;
        size_t n, cap;
} Buf;

static int buf_append(Buf *b, const char *s, size_t n, size_t *total) {
        if (*total + n > EXEC_BYTES_MAX)
                return -E2BIG;
        if (b->n + n + 1 > b->cap) {
                size_t cap = MAX(b->cap * 2, b->n + n + 64);
                char *p = realloc(b->s, cap);

                if (!p)
                        return -ENOMEM;
                b->s = p;
                b->cap = cap;
        }
        memcpy(b->s + b->n, s, n);
        b->n += n;
        b->s[b->n] = 0;
        *total += n;
        return 0;
}

typedef struct Argv {
        char **v;
        size_t n;
} Argv;

static int argv_push(Argv *a, const char *s, size_t *total) {
        char **p;

        if (a->n >= EXEC_ARGS_MAX)
                return -E2BIG;
        if (*total + 1 > EXEC_BYTES_MAX)
                return -E2BIG;
        p = reallocarray_safe(a->v, a->n + 2, sizeof(char *));
        if (!p)
                return -ENOMEM;
        a->v = p;
        a->v[a->n] = strdup(s);
        if (!a->v[a->n])
                return -ENOMEM;
        a->v[++a->n] = NULL;
        (*total)++;
        return 0;
}

int exec_line_expand(
        const char *exec,
        char *const *files,
        size_t n_files,
        char *const *uris,
        size_t n_uris,
        const char *icon,
        const char *name,
        const char *location,
        char ***ret_argv) {

        _cleanup_free_ char *cur_s = NULL;
        Argv a = {};
        Buf cur = {};
        size_t total = 0;
        bool keep = false;
        enum {
                PLAIN,
                DOUBLE,
                SINGLE
        } q = PLAIN;
        char *const *u = n_uris > 0 ? uris : files;
        size_t n_u = n_uris > 0 ? n_uris : n_files;
        int r = 0;

        for (const char *p = exec;; p++) {
                char c = *p;

                if (c == 0 || (q == PLAIN && (c == ' ' || c == '\t' || c == '\n'))) {
                        if (c == 0 && q != PLAIN) {
                                r = -EINVAL; /* unterminated quote */
                                goto fail;
                        }
                        if (keep) {
                                r = argv_push(&a, cur.s ?: "", &total);
                                if (r < 0)
                                        goto fail;
                        }
                        cur.n = 0;
                        if (cur.s)
                                cur.s[0] = 0;
                        keep = false;
                        if (c == 0)
                                break;
                        continue;
                }
                if (q == PLAIN && c == '"') {
                        q = DOUBLE;
                        keep = true;
                        continue;
                }
                if (q == PLAIN && c == '\'') {
                        q = SINGLE;
                        keep = true;
                        continue;
                }
                if ((q == DOUBLE && c == '"') || (q == SINGLE && c == '\'')) {
                        q = PLAIN;
                        continue;
                }
                if (c == '\\' && q != SINGLE) {
                        char nx = p[1];

                        if (nx == 0) {
                                r = -EINVAL;
                                goto fail;
                        }
                        if (q == PLAIN || strchr("\"`$\\", nx)) {
                                r = buf_append(&cur, &nx, 1, &total);
                                if (r < 0)
                                        goto fail;
                                keep = true;
                                p++;
                                continue;
                        }
                        /* inside double quotes other backslashes are literal */
                }
                if (c == '%') {
                        char code = p[1];
                        const char *v = NULL;
                        bool whole;

                        if (code == 0) /* a lone '%' at the end: dropped */
                                continue;
                        /* p[2] exists: p[1] is not the terminating NUL (found by the fuzzer) */
                        whole = q == PLAIN && !keep && (p[2] == 0 || strchr(" \t\n", p[2]));
                        p++;
                        if (whole && (code == 'F' || code == 'U' || code == 'i')) {
                                if (code == 'i') {
                                        if (icon && icon[0]) {
                                                r = argv_push(&a, "--icon", &total);
                                                if (r >= 0)
                                                        r = argv_push(&a, icon, &total);
                                        }
                                } else {
                                        char *const *l = code == 'F' ? files : u;
                                        size_t k = code == 'F' ? n_files : n_u;

                                        for (size_t i = 0; i < k && r >= 0; i++)
                                                r = argv_push(&a, l[i], &total);
                                }
                                if (r < 0)
                                        goto fail;
                                continue;
                        }
                        switch (code) {
                        case '%':
                                v = "%";
                                break;
                        case 'f':
                        case 'F':
                                v = n_files > 0 ? files[0] : NULL;
                                break;
                        case 'u':
                        case 'U':
                                v = n_u > 0 ? u[0] : NULL;
                                break;
                        case 'i':
                                v = icon;
                                break;
                        case 'c':
                                v = name;
                                break;
                        case 'k':
                                v = location;
                                break;
                        default:
                                /* %d %D %n %N %v %m (deprecated) and unknown codes: dropped */
                                break;
                        }
                        if (v && v[0]) {
                                r = buf_append(&cur, v, strlen(v), &total);
                                if (r < 0)
                                        goto fail;
                                keep = true;
                        }
                        continue;
                }
                r = buf_append(&cur, &c, 1, &total);
                if (r < 0)
                        goto fail;
                keep = true;
        }
        cur_s = cur.s;
        if (a.n == 0 || !a.v[0][0]) {
                strv_free(a.v);
                return -EINVAL;
        }
        *ret_argv = a.v;
        return 0;
fail:
        free(cur.s);
        strv_free(a.v);
        return r;
}
