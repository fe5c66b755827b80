/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "fileio.h"
#include "macro.h"
#include "seneschal-userns.h"
#include "spawn-util.h"
#include "string-util.h"

#define IDMAP_TOOL_TIMEOUT_USEC (10 * USEC_PER_SEC)

int subid_find(const char *text, const char *name, uid_t uid, SubidRange *ret) {
        _cleanup_free_ char *copy = NULL;
        char uidstr[16], *line, *save = NULL;

        copy = strdup(text);
        if (!copy)
                return -ENOMEM;
        (void) snprintf(uidstr, sizeof(uidstr), "%u", (unsigned) uid);
        for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *who = line, *start, *count;
                uint32_t s, c;

                start = strchr(who, ':');
                if (!start)
                        continue;
                *start++ = 0;
                count = strchr(start, ':');
                if (!count)
                        continue;
                *count++ = 0;
                if (!(name && streq(who, name)) && !streq(who, uidstr))
                        continue;
                if (safe_atou32(start, &s) < 0 || safe_atou32(count, &c) < 0)
                        continue;
                if (c < USERNS_SUBIDS || (uint64_t) s + USERNS_SUBIDS > UINT32_MAX)
                        continue;
                *ret = (SubidRange){ .start = s, .count = c };
                return 0;
        }
        return -ENOENT;
}

char *userns_map_format(uint32_t outer_id, const SubidRange *sub) {
        char *s;

        if (asprintf(
                    &s, "0 %" PRIu32 " %u\n%u %" PRIu32 " 1\n%u %" PRIu32 " %u\n", sub->start,
                    USERNS_USER_ID, USERNS_USER_ID, outer_id, USERNS_USER_ID + 1,
                    sub->start + USERNS_USER_ID, USERNS_IDS - USERNS_USER_ID - 1) < 0)
                return NULL;
        return s;
}

static int subid_lookup(
        const char *file, const char *name, uid_t id, SubidRange *ret, char **reterr_message) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = read_file(file, 1024 * 1024, &text, NULL);
        if (r >= 0)
                r = subid_find(text, name, id, ret);
        if (r < 0)
                return set_error_message(
                        reterr_message, r,
                        "no subordinate id range of %u ids for '%s' (uid %u) in %s: shares need one (add "
                        "e.g. '%s:100000:65536')",
                        USERNS_SUBIDS, name ?: "?", (unsigned) id, file, name ?: "USER");
        return 0;
}

/* Runs newuidmap or newgidmap on pid with our three ranges. */
static int run_idmap_tool(const char *tool, pid_t pid, uint32_t outer, const SubidRange *sub) {
        char a[7][16];
        char *argv[12];
        int r;

        (void) snprintf(a[0], sizeof(a[0]), "%d", (int) pid);
        (void) snprintf(a[1], sizeof(a[1]), "%" PRIu32, sub->start);
        (void) snprintf(a[2], sizeof(a[2]), "%u", USERNS_USER_ID);
        (void) snprintf(a[3], sizeof(a[3]), "%" PRIu32, outer);
        (void) snprintf(a[4], sizeof(a[4]), "%u", USERNS_USER_ID + 1);
        (void) snprintf(a[5], sizeof(a[5]), "%" PRIu32, sub->start + USERNS_USER_ID);
        (void) snprintf(a[6], sizeof(a[6]), "%u", USERNS_IDS - USERNS_USER_ID - 1);
        argv[0] = (char *) tool;
        argv[1] = a[0];
        argv[2] = (char *) "0";
        argv[3] = a[1];
        argv[4] = a[2];
        argv[5] = a[2];
        argv[6] = a[3];
        argv[7] = (char *) "1";
        argv[8] = a[4];
        argv[9] = a[5];
        argv[10] = a[6];
        argv[11] = NULL;
        r = spawn_capture(
                argv,
                &(SpawnOptions){ .stdin_fd = -1,
                                 .stdout_fd = -1,
                                 .merge_stderr = true,
                                 .timeout = IDMAP_TOOL_TIMEOUT_USEC },
                NULL);
        if (r < 0)
                return r;
        return r == 0 ? 0 : -EPERM;
}

static int write_maps(pid_t pid, uid_t uid, gid_t gid, const SubidRange *su, const SubidRange *sg) {
        _cleanup_free_ char *um = NULL, *gm = NULL;
        char path[64];
        int r;

        if (uid != 0) {
                r = run_idmap_tool("newuidmap", pid, uid, su);
                if (r < 0)
                        return r;
                return run_idmap_tool("newgidmap", pid, gid, sg);
        }
        /* Root in the host namespace may write the maps itself. */
        um = userns_map_format(uid, su);
        gm = userns_map_format(gid, sg);
        if (!um || !gm)
                return -ENOMEM;
        (void) snprintf(path, sizeof(path), "/proc/%d/uid_map", (int) pid);
        r = write_string_file(path, um, 0);
        if (r < 0)
                return r;
        (void) snprintf(path, sizeof(path), "/proc/%d/gid_map", (int) pid);
        return write_string_file(path, gm, 0);
}

int userns_enter(char **reterr_message) {
        _cleanup_close_ int go_r = -EBADF, go_w = -EBADF;
        _cleanup_sigkill_wait_ pid_t helper = 0;
        uid_t uid = getuid();
        gid_t gid = getgid();
        SubidRange su, sg;
        pid_t self = getpid();
        int p[2], r;

        if (uid == 0)
                su = sg = (SubidRange){ .start = USERNS_ROOT_SUBID_BASE, .count = USERNS_SUBIDS };
        else {
                struct passwd *pw = getpwuid(uid);
                struct group *gr = getgrgid(gid);

                r = subid_lookup("/etc/subuid", pw ? pw->pw_name : NULL, uid, &su, reterr_message);
                if (r < 0)
                        return r;
                r = subid_lookup(
                        "/etc/subgid",
                        gr   ? gr->gr_name
                        : pw ? pw->pw_name
                             : NULL,
                        gid, &sg, reterr_message);
                if (r < 0)
                        return r;
        }

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        go_r = p[0];
        go_w = p[1];
        /* The maps of a namespace are written from its parent namespace: a helper forked before we
         * unshare writes ours once we have. */
        r = safe_fork("seneschal-idmap", FORK_DEATHSIG, &helper);
        if (r < 0)
                return set_error_message(reterr_message, r, "cannot fork the id map helper");
        if (r == 0) {
                char c;

                go_w = safe_close(go_w);
                if (read(go_r, &c, 1) != 1)
                        _exit(EXIT_FAILURE);
                _exit(write_maps(self, uid, gid, &su, &sg) < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
        }
        go_r = safe_close(go_r);
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                return set_error_message(reterr_message, -errno, "unshare(CLONE_NEWUSER|CLONE_NEWNS)");
        if (write(go_w, "x", 1) != 1)
                return set_error_message(reterr_message, -errno, "cannot wake the id map helper");
        r = wait_for_terminate(TAKE_GENERIC(helper, pid_t, 0));
        if (r != 0)
                return set_error_message(
                        reterr_message, r < 0 ? r : -EPERM,
                        uid == 0
                                ? "cannot write the user namespace's id maps"
                                : "newuidmap/newgidmap failed (package uidmap; /etc/subuid and /etc/subgid)");
        if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0)
                return set_error_message(reterr_message, -errno, "cannot become root in the user namespace");
        return 0;
}
