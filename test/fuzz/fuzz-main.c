/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Corpus replay driver: runs every file below the given paths through LLVMFuzzerTestOneInput, so
 * each regular build (and the sanitizer build) re-checks the seeds and every crash ever found. */
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "fuzz.h"
#include "macro.h"

#define FUZZ_INPUT_MAX (16u * 1024u * 1024u)

static int run_file(const char *path) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        int r;

        r = read_file(path, FUZZ_INPUT_MAX, &buf, &n);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
                return r;
        }
        (void) LLVMFuzzerTestOneInput((const uint8_t *) buf, n);
        return 1;
}

static int run_path(const char *path) {
        struct stat st;
        DIR *d;
        struct dirent *de;
        int count = 0;

        if (stat(path, &st) < 0) {
                fprintf(stderr, "%s: %m\n", path);
                return -errno;
        }
        if (!S_ISDIR(st.st_mode))
                return run_file(path);

        d = opendir(path);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                int r;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&p, "%s/%s", path, de->d_name) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
                r = run_path(p);
                if (r < 0) {
                        closedir(d);
                        return r;
                }
                count += r;
        }
        closedir(d);
        return count;
}

int main(int argc, char **argv) {
        int total = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                int r = run_path(argv[i]);
                if (r < 0)
                        return 1;
                total += r;
        }
        /* An empty corpus proves nothing: fail rather than pass vacuously. */
        if (total == 0) {
                fprintf(stderr, "no corpus inputs found\n");
                return 1;
        }
        printf("replayed %d inputs\n", total);
        return 0;
}
