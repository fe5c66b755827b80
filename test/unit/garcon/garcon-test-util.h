/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers shared by the garcon unit tests (include after cmocka.h). */

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "fd-util.h"
#include "macro.h"

/* Writes n bytes of content to root/rel, creating the directories on the way. */
static inline void test_put_file(const char *root, const char *rel, const void *content, size_t n) {
        char p[4096];
        _cleanup_close_ int fd = -EBADF;

        snprintf(p, sizeof(p), "%s/%s", root, rel);
        *strrchr(p, '/') = 0;
        assert_int_equal(mkdir_p(p, 0755), 0);
        snprintf(p, sizeof(p), "%s/%s", root, rel);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, content, n), 0);
}
