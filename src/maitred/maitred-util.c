/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#include "unaligned.h"
#include "macro.h"
#include "maitred-util.h"
#include "proto-validate.h"
#include "string-util.h"

int split_quoted(const char *s, size_t max_words, char ***ret) {
        _cleanup_strv_free_ char **words = NULL;
        size_t n = 0;
        int r;

        for (const char *p = s;;) {
                _cleanup_free_ char *w = NULL;
                size_t len = 0;

                while (*p == ' ' || *p == '\t')
                        p++;
                if (!*p)
                        break;
                /* A word is never longer than the rest of the input. */
                w = malloc(strlen(p) + 1);
                if (!w)
                        return -ENOMEM;
                while (*p && *p != ' ' && *p != '\t') {
                        if (*p == '\'') {
                                const char *end = strchr(p + 1, '\'');

                                if (!end)
                                        return -EINVAL;
                                memcpy(w + len, p + 1, end - p - 1);
                                len += end - p - 1;
                                p = end + 1;
                        } else if (*p == '"') {
                                for (p++; *p != '"'; p++) {
                                        if (!*p)
                                                return -EINVAL;
                                        if (*p == '\\' && p[1] && strchr("\"\\$", p[1]))
                                                p++;
                                        w[len++] = *p;
                                }
                                p++;
                        } else if (*p == '\\') {
                                if (!p[1])
                                        return -EINVAL;
                                w[len++] = p[1];
                                p += 2;
                        } else
                                w[len++] = *p++;
                }
                w[len] = 0;
                if (++n > max_words)
                        return -E2BIG;
                r = strv_consume(&words, TAKE_PTR(w));
                if (r < 0)
                        return r;
        }
        if (!words) {
                words = calloc(1, sizeof(char *));
                if (!words)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(words);
        return 0;
}

static size_t env_key_len(const char *e) {
        const char *eq = strchr(e, '=');

        return eq ? (size_t) (eq - e) : strlen(e);
}

static bool env_has_key(char *const *env, size_t n_env, const char *key, size_t key_len) {
        for (size_t i = 0; i < n_env; i++)
                if (env_key_len(env[i]) == key_len && strneq(env[i], key, key_len))
                        return true;
        return false;
}

int env_merge(char *const *env, size_t n_env, char *const *defaults, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        l = strv_copy_n(env, n_env);
        if (!l)
                return -ENOMEM;
        for (char *const *d = defaults; d && *d; d++) {
                if (env_has_key(env, n_env, *d, env_key_len(*d)))
                        continue;
                r = strv_extend(&l, *d);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

bool ratelimit_test(RateLimit *rl, uint64_t now_usec) {
        unsigned burst = MIN(MAX(rl->burst, 1u), RATELIMIT_BURST_MAX);

        if (rl->n < burst) {
                rl->events[rl->n++] = now_usec;
                return true;
        }
        /* The oldest of the last burst events must be outside the window. */
        if (now_usec >= rl->events[rl->head] && now_usec - rl->events[rl->head] < rl->interval_usec)
                return false;
        rl->events[rl->head] = now_usec;
        rl->head = (rl->head + 1) % burst;
        return true;
}

void service_config_done(ServiceConfig *c) {
        c->argv = strv_free(c->argv);
        c->env = strv_free(c->env);
}

static char *strip(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                *--e = 0;
        return s;
}

static bool env_entry_ok(const char *e) {
        size_t k = env_key_len(e);

        if (k == 0 || !e[k] || isdigit((unsigned char) e[0]))
                return false;
        for (size_t i = 0; i < k; i++)
                if (!(isalnum((unsigned char) e[i]) || e[i] == '_'))
                        return false;
        return true;
}

int service_config_parse(const char *text, ServiceConfig *ret, unsigned *ret_line) {
        _cleanup_(service_config_done) ServiceConfig c = { .respawn = true };
        _cleanup_free_ char *copy = NULL;
        unsigned line = 0;
        int r;

        copy = strdup(text);
        if (!copy)
                return -ENOMEM;
        for (char *l = copy, *next; l; l = next) {
                char *key, *value, *eq;

                next = strchr(l, '\n');
                if (next)
                        *next++ = 0;
                line++;
                l = strip(l);
                if (!*l || *l == '#')
                        continue;
                r = -EINVAL;
                eq = strchr(l, '=');
                if (!eq)
                        goto fail;
                *eq = 0;
                key = strip(l);
                value = strip(eq + 1);
                if (streq(key, "exec")) {
                        if (c.argv)
                                goto fail;
                        r = split_quoted(value, 256, &c.argv);
                        if (r < 0)
                                goto fail;
                        r = -EINVAL;
                        if (!c.argv[0] || c.argv[0][0] != '/')
                                goto fail;
                } else if (streq(key, "respawn")) {
                        if (streq(value, "yes") || streq(value, "true") || streq(value, "1"))
                                c.respawn = true;
                        else if (streq(value, "no") || streq(value, "false") || streq(value, "0"))
                                c.respawn = false;
                        else
                                goto fail;
                } else if (streq(key, "env")) {
                        if (!env_entry_ok(value))
                                goto fail;
                        r = strv_extend(&c.env, value);
                        if (r < 0)
                                goto fail;
                } else
                        goto fail;
        }
        if (!c.argv) {
                r = -EINVAL;
                line = 0;
                goto fail;
        }
        *ret = c;
        c = (ServiceConfig){};
        return 0;
fail:
        if (ret_line)
                *ret_line = line;
        return r;
}

char *service_name_from_filename(const char *fn) {
        size_t n = strlen(fn);
        char *name;

        if (n <= 5 || !streq(fn + n - 5, ".conf"))
                return NULL;
        name = strndup(fn, n - 5);
        if (name && !name_is_valid(name, 64)) {
                free(name);
                return NULL;
        }
        return name;
}

int timezone_path(const char *zoneinfo_dir, const char *name, char **ret) {
        char *p;

        if (!proto_timezone_ok(name))
                return -EINVAL;
        if (asprintf(&p, "%s/%s", zoneinfo_dir, name) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int image_version_parse(const char *text, size_t max, char **ret) {
        const char *s = text, *e;
        char *v;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s;
        while (*e && *e != '\n')
                e++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                e--;
        if ((size_t) (e - s) > max)
                return -EINVAL;
        for (const char *p = s; p < e; p++)
                if (*p < 0x20 || *p > 0x7e)
                        return -EINVAL;
        v = e == s ? strdup("dev") : strndup(s, e - s);
        if (!v)
                return -ENOMEM;
        *ret = v;
        return 0;
}

static const struct {
        uint64_t flag;
        const char *name;
} mount_flag_names[] = {
        { MS_RDONLY, "rdonly" },
        { MS_NOSUID, "nosuid" },
        { MS_NODEV, "nodev" },
        { MS_NOEXEC, "noexec" },
        { MS_SYNCHRONOUS, "sync" },
        { MS_NOATIME, "noatime" },
        { MS_NODIRATIME, "nodiratime" },
        { MS_BIND, "bind" },
        { MS_REC, "rec" },
        { MS_RELATIME, "relatime" },
        { MS_STRICTATIME, "strictatime" },
};

uint64_t mount_flags_allowed(void) {
        uint64_t a = 0;

        for (size_t i = 0; i < ELEMENTSOF(mount_flag_names); i++)
                a |= mount_flag_names[i].flag;
        return a;
}

int mount_flags_to_string(uint64_t flags, char **ret) {
        char buf[256] = "";
        size_t len = 0;

        for (size_t i = 0; i < ELEMENTSOF(mount_flag_names); i++) {
                if (!(flags & mount_flag_names[i].flag))
                        continue;
                len += snprintf(
                        buf + len, sizeof(buf) - len, "%s%s", len ? "," : "", mount_flag_names[i].name);
                flags &= ~mount_flag_names[i].flag;
        }
        if (flags)
                len += snprintf(
                        buf + len, sizeof(buf) - len, "%s0x%llx", len ? "," : "",
                        (unsigned long long) flags);
        if (len == 0)
                strscpy(buf, "none", sizeof(buf));
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

const char *fs_probe(const uint8_t *buf, size_t n) {
        /* Offsets from each filesystem's on-disk superblock definition. */
        if (n >= 1082 && unaligned_read_le16(buf + 1080) == 0xEF53)
                return "ext4";
        if (n >= 65536 + 72 && memcmp(buf + 65536 + 64, "_BHRfS_M", 8) == 0)
                return "btrfs";
        if (n >= 4 && memcmp(buf, "XFSB", 4) == 0)
                return "xfs";
        if (n >= 4 && memcmp(buf, "hsqs", 4) == 0)
                return "squashfs";
        if (n >= 6 && memcmp(buf, "LUKS\xba\xbe", 6) == 0)
                return "crypto_LUKS";
        if (n >= 1028 && unaligned_read_le32(buf + 1024) == 0xF2F52010)
                return "f2fs";
        if (n >= 4096 && memcmp(buf + 4086, "SWAPSPACE2", 10) == 0)
                return "swap";
        if (n >= 512 && buf[510] == 0x55 && buf[511] == 0xAA &&
            (memcmp(buf + 54, "FAT", 3) == 0 || memcmp(buf + 82, "FAT32", 5) == 0))
                return "vfat";
        return NULL;
}

int mkfs_argv(const char *fstype, const char *source, char ***ret) {
        _cleanup_strv_free_ char **a = NULL;
        char *tool;
        int r;

        if (!fstype || !*fstype || strlen(fstype) > 31 || !source || source[0] != '/')
                return -EINVAL;
        for (const char *p = fstype; *p; p++)
                if (!(islower((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '.' || *p == '_'))
                        return -EINVAL;
        if (asprintf(&tool, "mkfs.%s", fstype) < 0)
                return -ENOMEM;
        r = strv_consume(&a, tool);
        if (r < 0)
                return r;
        r = strv_extend(&a, source);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(a);
        return 0;
}

bool proc_cmdline_has(const char *cmdline, const char *word) {
        size_t n = strlen(word);

        for (const char *p = cmdline; (p = strstr(p, word)); p += n)
                if ((p == cmdline || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ' || p[n] == '\n'))
                        return true;
        return false;
}
