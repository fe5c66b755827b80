/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "mountinfo-util.h"
#include "string-util.h"
#include "strv.h"

/* The next blank-separated field of *p, its \ooo escapes undone in place; NULL at the end. */
static char *next_field(char **p) {
        char *s = *p, *start, *out;

        while (*s == ' ')
                s++;
        if (!*s)
                return NULL;
        start = out = s;
        while (*s && *s != ' ') {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
                    s[3] >= '0' && s[3] <= '7') {
                        *out++ = (char) (((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
                        s += 4;
                } else
                        *out++ = *s++;
        }
        if (*s)
                s++;
        *out = '\0';
        *p = s;
        return start;
}

int mountinfo_find(const char *mountinfo, const char *path, char **ret_fstype, char **ret_source) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL, *fstype = NULL, *source = NULL;
        size_t size = 0;
        int found = 0;

        f = fopen(mountinfo ?: "/proc/self/mountinfo", "re");
        if (!f)
                return -errno;
        /* Later lines are mounted on top of earlier ones: the last match is what path shows. */
        while (getline(&line, &size, f) >= 0) {
                char *p = line, *mnt, *fs, *src, *sep;

                line[strcspn(line, "\n")] = '\0';
                for (int i = 0; i < 4; i++)
                        if (!next_field(&p))
                                return -EBADMSG;
                mnt = next_field(&p);
                if (!mnt || !next_field(&p)) /* the mount options */
                        return -EBADMSG;
                /* optional fields, up to the lone "-" */
                do
                        sep = next_field(&p);
                while (sep && !streq(sep, "-"));
                fs = sep ? next_field(&p) : NULL;
                src = fs ? next_field(&p) : NULL;
                if (!src)
                        return -EBADMSG;
                if (!streq(mnt, path))
                        continue;
                if (free_and_strdup(&fstype, fs) < 0 || free_and_strdup(&source, src) < 0)
                        return -ENOMEM;
                found = 1;
        }
        if (ferror(f))
                return -EIO;
        if (found) {
                if (ret_fstype)
                        *ret_fstype = TAKE_PTR(fstype);
                if (ret_source)
                        *ret_source = TAKE_PTR(source);
        }
        return found;
}

int mountinfo_targets(const char *text, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        int r;

        l = new0(char *, 1);
        if (!l)
                return -ENOMEM;
        for (const char *line = text; line && *line;) {
                size_t len = strcspn(line, "\n");
                _cleanup_free_ char *copy = strndup(line, len);
                char *p = copy, *mnt = NULL;

                if (!copy)
                        return -ENOMEM;
                for (int i = 0; i < 4 && p; i++)
                        if (!next_field(&p))
                                p = NULL;
                if (p)
                        mnt = next_field(&p);
                if (mnt) {
                        r = strv_extend(&l, mnt);
                        if (r < 0)
                                return r;
                }
                line += len;
                if (*line)
                        line++;
        }
        *ret = TAKE_PTR(l);
        return 0;
}
