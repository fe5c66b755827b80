/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The whole extractor, into a fresh temporary directory removed after each input. The input is
 * fed in two pieces split at an odd offset, so state carried across feeds is exercised too.
 * Whatever the archive does, nothing may be written outside the directory: its parent is checked
 * to hold only the directory afterwards. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "macro.h"
#include "tar-extract.h"

static void rm_rf_at(int dir_fd, const char *name) {
        struct stat st;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return;
        if (S_ISDIR(st.st_mode)) {
                int fd;
                DIR *d;

                if (fchmodat(dir_fd, name, 0700, 0) < 0)
                        return;
                fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0) {
                        d = fdopendir(fd);
                        if (d) {
                                struct dirent *de;

                                while ((de = readdir(d)))
                                        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                                                rm_rf_at(dirfd(d), de->d_name);
                                closedir(d);
                        } else
                                close(fd);
                }
                if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0)
                        abort();
        } else if (unlinkat(dir_fd, name, 0) < 0)
                abort();
}

static size_t count_entries(const char *path) {
        DIR *d = opendir(path);
        size_t n = 0;
        struct dirent *de;

        if (!d)
                abort();
        while ((de = readdir(d)))
                n++;
        closedir(d);
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char outer[] = "/tmp/fuzz-tar-XXXXXX", root[64];
        TarExtract *t = NULL;
        int fd, r;

        if (!mkdtemp(outer))
                abort();
        snprintf(root, sizeof(root), "%s/root", outer);
        if (mkdir(root, 0755) < 0)
                abort();
        fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                abort();

        if (tar_extract_new(fd, &(TarExtractOptions){ .id_shift = 100000, .id_count = 65536 }, &t) < 0)
                abort();
        size_t split = size / 3 + (size > 0);
        if (split > size)
                split = size;
        r = tar_extract_feed(t, data, split);
        if (r >= 0)
                r = tar_extract_feed(t, data + split, size - split);
        if (r >= 0)
                r = tar_extract_finish(t);
        if (r > 0 || (r < 0 && strlen(tar_extract_error(t)) == 0))
                abort();
        (void) tar_extract_entries(t);
        tar_extract_free(t);

        /* only "." ".." "root" in the outer directory: nothing escaped */
        if (count_entries(outer) != 3)
                abort();

        int outer_fd = open(outer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (outer_fd < 0)
                abort();
        rm_rf_at(outer_fd, "root");
        close(outer_fd);
        close(fd);
        if (rmdir(outer) < 0)
                abort();
        return 0;
}
