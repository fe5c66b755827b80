/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "share-open.h"

/* File types whose usual host handler runs them rather than shows them: a container must not be
 * able to make the host execute something by asking to "open" it. */
static bool name_runs_when_opened(const char *path) {
        static const char *const suffixes[] = {
                ".desktop",  ".exe", ".msi", ".bat",  ".cmd", ".com", ".scr", ".lnk",        ".jar",
                ".appimage", ".run", ".sh",  ".bash", ".py",  ".pl",  ".rb",  ".flatpakref", ".flatpak",
        };
        size_t n = strlen(path);

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t k = strlen(suffixes[i]);

                if (n > k && strcasecmp(path + n - k, suffixes[i]) == 0)
                        return true;
        }
        return false;
}

int share_host_path(const char *root, const char *rest, char **ret) {
        _cleanup_close_ int rfd = -EBADF, fd = -EBADF;
        struct stat st;
        char *p;

        rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rfd < 0)
                return -errno;
        /* No O_NOFOLLOW: a trailing symlink is then -ELOOP too. */
        fd = openat2_fd(
                rfd, rest[0] ? rest : ".", O_PATH,
                RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISREG(st.st_mode)) {
                if ((st.st_mode & 0111) || name_runs_when_opened(rest))
                        return -EACCES;
        } else if (!S_ISDIR(st.st_mode))
                return -EPERM;
        if (asprintf(&p, "%s%s%s", root, rest[0] ? "/" : "", rest) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}
