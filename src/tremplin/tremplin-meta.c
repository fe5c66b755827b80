/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "proto-validate.h"
#include "string-util.h"
#include "tremplin-layout.h"
#include "tremplin-meta.h"

/* One line, NUL-terminated, without its '\n'. */
static int meta_parse_line(char *line, ContainerMeta *m, bool *have_image) {
        char *eq = strchr(line, '=');
        const char *value;

        if (!eq || eq == line)
                return -EBADMSG;
        *eq = 0;
        value = eq + 1;
        if (streq(line, "image")) {
                if (*have_image || strlen(value) > PROTO_IMAGE_NAME_MAX ||
                    (value[0] && !proto_image_name_ok(value)))
                        return -EBADMSG;
                strscpy(m->image, value, sizeof(m->image));
                *have_image = true;
        } else if (streq(line, "slot")) {
                uint32_t s;

                if (m->slot != 0 || safe_atou32(value, &s) < 0 || s < 1 || s > CONTAINERS_MAX)
                        return -EBADMSG;
                m->slot = s;
        } else if (streq(line, "user")) {
                if (!proto_user_ok(value) || container_meta_has_user(m, value) ||
                    m->n_users >= META_USERS_MAX)
                        return -EBADMSG;
                strscpy(m->users[m->n_users++], value, META_USER_MAX + 1);
        } else if (streq(line, "tz")) {
                if (m->tz[0] || !proto_timezone_ok(value))
                        return -EBADMSG;
                strscpy(m->tz, value, sizeof(m->tz));
        } else if (streq(line, "tzfile")) {
                if (m->tzfile[0] || !value[0] || strlen(value) > META_TZFILE_MAX ||
                    strspn(value, "0123456789abcdef:") != strlen(value))
                        return -EBADMSG;
                strscpy(m->tzfile, value, sizeof(m->tzfile));
        } else if (streq(line, "idmap")) {
                const char *colon = strchr(value, ':');
                char u[16];
                uint32_t uid, gid;

                if (m->idmap_uid != 0 || !colon || (size_t) (colon - value) >= sizeof(u))
                        return -EBADMSG;
                memcpy(u, value, colon - value);
                u[colon - value] = 0;
                if (safe_atou32(u, &uid) < 0 || safe_atou32(colon + 1, &gid) < 0 || uid == 0 ||
                    uid >= ID_COUNT || gid == 0 || gid >= ID_COUNT)
                        return -EBADMSG;
                m->idmap_uid = uid;
                m->idmap_gid = gid;
        }
        /* else: a key of a newer tremplin */
        return 0;
}

int container_meta_parse(const char *text, ContainerMeta *ret) {
        ContainerMeta m = {};
        bool have_image = false;
        size_t n;

        if (!text || !ret)
                return -EINVAL;
        n = strnlen(text, META_TEXT_MAX + 1);
        if (n > META_TEXT_MAX)
                return -EFBIG;
        for (const char *p = text; *p;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);
                char line[META_TEXT_MAX + 1];
                int r;

                memcpy(line, p, len);
                line[len] = 0;
                if (len > 0) {
                        r = meta_parse_line(line, &m, &have_image);
                        if (r < 0)
                                return r;
                }
                p = nl ? nl + 1 : p + len;
        }
        if (m.slot == 0)
                return -EBADMSG;
        *ret = m;
        return 0;
}

int container_meta_format(const ContainerMeta *m, char **ret) {
        char buf[META_TEXT_MAX + 1];
        size_t o;
        int k;

        k = snprintf(buf, sizeof(buf), "image=%s\nslot=%u\n", m->image, m->slot);
        if (k < 0 || (size_t) k >= sizeof(buf))
                return -EINVAL;
        o = (size_t) k;
        for (unsigned i = 0; i < m->n_users && i < META_USERS_MAX; i++) {
                k = snprintf(buf + o, sizeof(buf) - o, "user=%s\n", m->users[i]);
                if (k < 0 || (size_t) k >= sizeof(buf) - o)
                        return -EINVAL;
                o += (size_t) k;
        }
        if (m->tz[0]) {
                k = snprintf(buf + o, sizeof(buf) - o, "tz=%s\n", m->tz);
                if (k < 0 || (size_t) k >= sizeof(buf) - o)
                        return -EINVAL;
                o += (size_t) k;
        }
        if (m->tz[0] && m->tzfile[0]) {
                k = snprintf(buf + o, sizeof(buf) - o, "tzfile=%s\n", m->tzfile);
                if (k < 0 || (size_t) k >= sizeof(buf) - o)
                        return -EINVAL;
                o += (size_t) k;
        }
        if (m->idmap_uid != 0) {
                k = snprintf(
                        buf + o, sizeof(buf) - o, "idmap=%u:%u\n", (unsigned) m->idmap_uid,
                        (unsigned) m->idmap_gid);
                if (k < 0 || (size_t) k >= sizeof(buf) - o)
                        return -EINVAL;
                o += (size_t) k;
        }
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

bool container_meta_has_user(const ContainerMeta *m, const char *user) {
        for (unsigned i = 0; i < m->n_users && i < META_USERS_MAX; i++)
                if (streq(m->users[i], user))
                        return true;
        return false;
}

int container_meta_add_user(ContainerMeta *m, const char *user) {
        if (!proto_user_ok(user))
                return -EINVAL;
        if (container_meta_has_user(m, user))
                return 0;
        if (m->n_users >= META_USERS_MAX) {
                memmove(m->users[0], m->users[1], sizeof(m->users[0]) * (META_USERS_MAX - 1));
                m->n_users = META_USERS_MAX - 1;
        }
        strscpy(m->users[m->n_users++], user, META_USER_MAX + 1);
        return 0;
}

int meta_read_at(int dfd, const char *dir, ContainerMeta *ret) {
        _cleanup_close_ int fd = -EBADF;
        char buf[META_TEXT_MAX + 2];
        char path[PROTO_NAME_MAX + 32];
        ssize_t n;

        if (snprintf(path, sizeof(path), "%s/" META_FILE, dir) >= (int) sizeof(path))
                return -ENAMETOOLONG;
        fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        n = loop_read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return (int) n;
        if ((size_t) n > META_TEXT_MAX)
                return -EFBIG;
        buf[n] = 0;
        if (strlen(buf) != (size_t) n) /* a NUL inside */
                return -EBADMSG;
        return container_meta_parse(buf, ret);
}

int meta_read_name(const char *name, ContainerMeta *ret) {
        _cleanup_close_ int lfd = open(STATEFUL_LXC_PATH, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (lfd < 0)
                return -errno;
        return meta_read_at(lfd, name, ret);
}

int meta_write(const char *dir, const ContainerMeta *m) {
        _cleanup_free_ char *text = NULL;
        char path[PATH_MAX];
        int r;

        if (snprintf(path, sizeof(path), "%s/" META_FILE, dir) >= (int) sizeof(path))
                return -ENAMETOOLONG;
        r = container_meta_format(m, &text);
        if (r < 0)
                return r;
        return write_file_atomic(path, text, 0644);
}
