/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shares and the id map: the validators of AddShare, RemoveShare and StartContainer's shares, the
 * meta's idmap line, the lxc.idmap lines, the mount target made in a rootfs (symlinks refused) and
 * the one-time owner migration on a real tree (as root: chown needs it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "message-type.h"
#include "rm-rf.h"
#include "tremplin-idmap.h"
#include "tremplin-layout.h"
#include "tremplin-lxc-config.h"
#include "tremplin-meta.h"
#include "tremplin-share.h"

static int validate_add(const char *container, const char *name) {
        Bistro__Tremplin__AddShareRequest r = BISTRO__TREMPLIN__ADD_SHARE_REQUEST__INIT;
        Bistro__Tremplin__ShareMount s = BISTRO__TREMPLIN__SHARE_MOUNT__INIT;

        s.name = (char *) name;
        r.container = (char *) container;
        r.share = name ? &s : NULL;
        return message_validate(BISTRO__MESSAGE_TYPE__TREMPLIN_ADD_SHARE_REQUEST, &r.base);
}

static int validate_remove(const char *container, const char *name) {
        Bistro__Tremplin__RemoveShareRequest r = BISTRO__TREMPLIN__REMOVE_SHARE_REQUEST__INIT;

        r.container = (char *) container;
        r.name = (char *) name;
        return message_validate(BISTRO__MESSAGE_TYPE__TREMPLIN_REMOVE_SHARE_REQUEST, &r.base);
}

static void test_share_names(void **state) {
        char n64[65], n65[66];

        memset(n64, 'a', 64);
        n64[64] = 0;
        memset(n65, 'a', 65);
        n65[65] = 0;
        assert_int_equal(validate_add("penguin", "projects"), 0);
        assert_int_equal(validate_add("penguin", "My_Files-2.0"), 0);
        assert_int_equal(validate_add("penguin", n64), 0);
        assert_int_equal(validate_add("penguin", n65), -EBADMSG);
        assert_int_equal(validate_add("penguin", ""), -EBADMSG);
        assert_int_equal(validate_add("penguin", "."), -EBADMSG);
        assert_int_equal(validate_add("penguin", ".."), -EBADMSG);
        assert_int_equal(validate_add("penguin", ".hidden"), -EBADMSG);
        assert_int_equal(validate_add("penguin", "-o"), -EBADMSG);
        assert_int_equal(validate_add("penguin", "a/b"), -EBADMSG);
        assert_int_equal(validate_add("penguin", "a b"), -EBADMSG);
        assert_int_equal(validate_add("penguin", "caf\xc3\xa9"), -EBADMSG);
        assert_int_equal(validate_add("penguin", NULL), -EBADMSG); /* no share at all */
        assert_int_equal(validate_add("-bad", "projects"), -EBADMSG);
        assert_int_equal(validate_remove("penguin", "projects"), 0);
        assert_int_equal(validate_remove("penguin", "../etc"), -EBADMSG);
        assert_int_equal(validate_remove("", "projects"), -EBADMSG);
}

static void test_start_shares(void **state) {
        Bistro__Tremplin__StartContainerRequest r = BISTRO__TREMPLIN__START_CONTAINER_REQUEST__INIT;
        Bistro__Tremplin__ShareMount s[PROTO_SHARES_MAX + 1];
        Bistro__Tremplin__ShareMount *p[PROTO_SHARES_MAX + 1];
        char names[PROTO_SHARES_MAX + 1][8];

        r.name = (char *) "penguin";
        r.token = (char *) "0123456789abcdef0123456789abcdef";
        r.user = (char *) "";
        for (size_t i = 0; i <= PROTO_SHARES_MAX; i++) {
                bistro__tremplin__share_mount__init(&s[i]);
                (void) snprintf(names[i], sizeof(names[i]), "s%zu", i);
                s[i].name = names[i];
                p[i] = &s[i];
        }
        r.shares = p;
        r.n_shares = PROTO_SHARES_MAX;
        assert_int_equal(
                message_validate(BISTRO__MESSAGE_TYPE__TREMPLIN_START_CONTAINER_REQUEST, &r.base), 0);
        r.n_shares = PROTO_SHARES_MAX + 1;
        assert_int_equal(
                message_validate(BISTRO__MESSAGE_TYPE__TREMPLIN_START_CONTAINER_REQUEST, &r.base), -EBADMSG);
        /* The same name twice. */
        r.n_shares = 3;
        s[2].name = names[0];
        assert_int_equal(
                message_validate(BISTRO__MESSAGE_TYPE__TREMPLIN_START_CONTAINER_REQUEST, &r.base), -EBADMSG);
        s[2].name = (char *) "..";
        assert_int_equal(
                message_validate(BISTRO__MESSAGE_TYPE__TREMPLIN_START_CONTAINER_REQUEST, &r.base), -EBADMSG);
        s[2].name = names[2];
        p[1] = NULL;
        assert_int_equal(
                message_validate(BISTRO__MESSAGE_TYPE__TREMPLIN_START_CONTAINER_REQUEST, &r.base), -EBADMSG);
}

static void test_meta_idmap(void **state) {
        ContainerMeta m;
        _cleanup_free_ char *text = NULL;

        assert_int_equal(container_meta_parse("slot=1\n", &m), 0);
        assert_int_equal(m.idmap_uid, 0);
        assert_int_equal(container_meta_parse("slot=1\nidmap=1000:1001\n", &m), 0);
        assert_int_equal(m.idmap_uid, 1000);
        assert_int_equal(m.idmap_gid, 1001);
        assert_int_equal(container_meta_format(&m, &text), 0);
        assert_non_null(strstr(text, "idmap=1000:1001\n"));
        assert_int_equal(container_meta_parse("slot=1\nidmap=65535:1\n", &m), 0);
        assert_int_equal(container_meta_parse("slot=1\nidmap=0:1000\n", &m), -EBADMSG);
        assert_int_equal(container_meta_parse("slot=1\nidmap=1000:65536\n", &m), -EBADMSG);
        assert_int_equal(container_meta_parse("slot=1\nidmap=1000\n", &m), -EBADMSG);
        assert_int_equal(container_meta_parse("slot=1\nidmap=:1000\n", &m), -EBADMSG);
        assert_int_equal(container_meta_parse("slot=1\nidmap=1000:1000x\n", &m), -EBADMSG);
        assert_int_equal(container_meta_parse("slot=1\nidmap=-1:1000\n", &m), -EBADMSG);
        assert_int_equal(container_meta_parse("slot=1\nidmap=1000:1000\nidmap=1000:1000\n", &m), -EBADMSG);
}

static char *idmap_text(const ContainerMeta *m) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);

        assert_non_null(f);
        assert_int_equal(lxc_idmap_write(f, m), 0);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static void test_lxc_idmap(void **state) {
        ContainerMeta m = { .slot = 2 };
        _cleanup_free_ char *legacy = NULL, *pass = NULL;

        legacy = idmap_text(&m);
        assert_string_equal(legacy, "lxc.idmap = u 0 165536 65536\nlxc.idmap = g 0 165536 65536\n");
        m.idmap_uid = 1000;
        m.idmap_gid = 1000;
        pass = idmap_text(&m);
        assert_string_equal(
                pass, "lxc.idmap = u 0 165536 1000\n"
                      "lxc.idmap = u 1000 1000 1\n"
                      "lxc.idmap = u 1001 166537 64535\n"
                      "lxc.idmap = g 0 165536 1000\n"
                      "lxc.idmap = g 1000 1000 1\n"
                      "lxc.idmap = g 1001 166537 64535\n");
}

static char *make_tmp(void) {
        char *d = strdup("/tmp/test-tremplin-share-XXXXXX");

        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static void test_prepare_target(void **state) {
        _cleanup_free_ char *d = make_tmp();
        _cleanup_close_ int fd = -EBADF;
        char p[PATH_MAX];
        struct stat st;

        fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        /* Made when missing, twice is fine. */
        assert_int_equal(share_prepare_target(fd, getuid()), 0);
        assert_int_equal(share_prepare_target(fd, getuid()), 0);
        (void) snprintf(p, sizeof(p), "%s/mnt/shared", d);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        /* The container made /mnt/shared a symlink to /etc: refused, nothing made through it. */
        assert_int_equal(rmdir(p), 0);
        assert_int_equal(symlink("/etc", p), 0);
        assert_int_equal(share_prepare_target(fd, getuid()), -ELOOP);
        /* ... or /mnt, to a directory inside the rootfs. */
        assert_int_equal(unlink(p), 0);
        (void) snprintf(p, sizeof(p), "%s/mnt", d);
        assert_int_equal(rmdir(p), 0);
        assert_int_equal(mkdirat(fd, "elsewhere", 0755), 0);
        assert_int_equal(symlink("elsewhere", p), 0);
        assert_int_equal(share_prepare_target(fd, getuid()), -ELOOP);
        assert_int_equal(fstatat(fd, "elsewhere/shared", &st, AT_SYMLINK_NOFOLLOW), -1);
        /* A file there. */
        assert_int_equal(unlink(p), 0);
        assert_int_equal(mkdirat(fd, "mnt", 0755), 0);
        (void) snprintf(p, sizeof(p), "%s/mnt/shared", d);
        assert_int_equal(write_file_atomic(p, "x", 0644), 0);
        assert_int_equal(share_prepare_target(fd, getuid()), -ENOTDIR);
        assert_int_equal(rm_rf(d), 0);
}

static void owner_is(int dfd, const char *path, uid_t uid, gid_t gid) {
        struct stat st;

        assert_int_equal(fstatat(dfd, path, &st, path[0] ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH), 0);
        if (st.st_uid != uid || st.st_gid != gid)
                fail_msg(
                        "%s: %u:%u, wanted %u:%u", path, (unsigned) st.st_uid, (unsigned) st.st_gid,
                        (unsigned) uid, (unsigned) gid);
}

/* A legacy container (slot 1: ids 100000 + i) migrated to the passthrough of 1000:1000. */
static void test_remap(void **state) {
        const uint32_t base = slot_id_base(1), U = base + 1000;
        ContainerMeta legacy = { .slot = 1 }, now = { .slot = 1, .idmap_uid = 1000, .idmap_gid = 1000 };
        IdMap fu, fg, tu, tg;
        _cleanup_free_ char *d = NULL;
        _cleanup_close_ int fd = -EBADF;
        RemapStats st = {};
        struct stat s;
        char caps[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x20 }; /* v2, cap_net_raw permitted */

        if (geteuid() != 0)
                skip();
        d = make_tmp();
        fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fchown(fd, base, base), 0);
        assert_int_equal(mkdirat(fd, "home", 0755), 0);
        assert_int_equal(mkdirat(fd, "home/alice", 0700), 0);
        assert_int_equal(fchownat(fd, "home", base, base, 0), 0);
        assert_int_equal(fchownat(fd, "home/alice", U, U, 0), 0);
        assert_int_equal(close(openat(fd, "home/alice/notes", O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
        assert_int_equal(fchownat(fd, "home/alice/notes", U, base + 27, 0), 0); /* group sudo */
        assert_int_equal(close(openat(fd, "home/alice/tool", O_CREAT | O_WRONLY | O_CLOEXEC, 0755)), 0);
        assert_int_equal(fchownat(fd, "home/alice/tool", U, U, 0), 0);
        assert_int_equal(fchmodat(fd, "home/alice/tool", 06755, 0), 0);
        /* File capabilities go with chown: the walk puts them back (when the file system has them). */
        bool have_caps;
        {
                char p[PATH_MAX];

                (void) snprintf(p, sizeof(p), "%s/home/alice/tool", d);
                have_caps = lsetxattr(p, "security.capability", caps, sizeof(caps), 0) == 0;
        }
        assert_int_equal(symlinkat("/etc/shadow", fd, "home/alice/link"), 0);
        assert_int_equal(fchownat(fd, "home/alice/link", U, U, AT_SYMLINK_NOFOLLOW), 0);
        assert_int_equal(linkat(fd, "home/alice/notes", fd, "home/hard", 0), 0);
        assert_int_equal(close(openat(fd, "rootfile", O_CREAT | O_WRONLY | O_CLOEXEC, 04755)), 0);
        assert_int_equal(fchownat(fd, "rootfile", base, base, 0), 0);
        assert_int_equal(fchmodat(fd, "rootfile", 04755, 0), 0);
        /* Something not of this container (another slot's, the VM's): left alone. */
        assert_int_equal(close(openat(fd, "foreign", O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
        assert_int_equal(fchownat(fd, "foreign", 0, 1000, 0), 0);

        container_idmaps(&legacy, &fu, &fg);
        container_idmaps(&now, &tu, &tg);
        assert_int_equal(rootfs_remap_ids(fd, &fu, &fg, &tu, &tg, &st), 0);
        owner_is(fd, "", base, base);
        owner_is(fd, "home", base, base);
        owner_is(fd, "home/alice", 1000, 1000);
        owner_is(fd, "home/alice/notes", 1000, base + 27);
        owner_is(fd, "home/hard", 1000, base + 27);
        owner_is(fd, "home/alice/tool", 1000, 1000);
        owner_is(fd, "home/alice/link", 1000, 1000);
        owner_is(fd, "rootfile", base, base);
        owner_is(fd, "foreign", 0, 1000);
        assert_int_equal(fstatat(fd, "home/alice/tool", &s, 0), 0);
        assert_int_equal(s.st_mode & 07777, 06755);
        assert_int_equal(fstatat(fd, "rootfile", &s, 0), 0);
        assert_int_equal(s.st_mode & 07777, 04755);
        if (have_caps) {
                char p[PATH_MAX], got[20];

                (void) snprintf(p, sizeof(p), "%s/home/alice/tool", d);
                assert_int_equal(lgetxattr(p, "security.capability", got, sizeof(got)), sizeof(caps));
                assert_memory_equal(got, caps, sizeof(caps));
        }
        /* The symlink was not followed. */
        assert_int_equal(stat("/etc/shadow", &s), 0);
        assert_int_equal(s.st_uid, 0);
        assert_true(st.entries >= 8);
        assert_int_equal(st.changed, 4); /* the directory alice, notes (one inode, two names), tool, link */
        /* Interrupted and redone: nothing moves twice. */
        assert_int_equal(rootfs_remap_ids(fd, &fu, &fg, &tu, &tg, &st), 0);
        assert_int_equal(st.changed, 0);
        owner_is(fd, "home/alice/notes", 1000, base + 27);
        assert_int_equal(rm_rf(d), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_share_names),    cmocka_unit_test(test_start_shares),
                cmocka_unit_test(test_meta_idmap),     cmocka_unit_test(test_lxc_idmap),
                cmocka_unit_test(test_prepare_target), cmocka_unit_test(test_remap),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
