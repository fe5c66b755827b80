/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tremplin's timezone rules (tremplin-timezone.h) and the rootfs writes behind them: a missing
 * /etc/localtime or tremplin's own is replaced, the user's is kept; zoneinfo inside the rootfs is
 * linked, else the TZif bytes are written; nothing is followed out of the rootfs; the meta records
 * what was set and reads it back. Also the garcon unit and lingering files, and bistro-init's
 * garcon helpers (src/container-init/init-garcon.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "init-garcon.h"
#include "tremplin-meta.h"
#include "tremplin-rootfs.h"
#include "tremplin-timezone.h"

static char tzif_paris[64], tzif_tokyo[64];

static void fill_tzif(char *b, size_t n, char tag) {
        memset(b, tag, n);
        memcpy(b, "TZif2", 5);
}

static void test_plan_rules(void **state) {
        LocaltimeState missing = { .kind = LOCALTIME_MISSING }, link = { .kind = LOCALTIME_LINK },
                       file = { .kind = LOCALTIME_FILE }, other = { .kind = LOCALTIME_OTHER };

        /* Missing: always ours. */
        assert_true(timezone_managed(&missing, "", ""));
        assert_true(timezone_managed(&missing, "Europe/Paris", ""));
        /* Something tremplin never set (the image's UTC link): the container's. */
        strcpy(link.target, "/usr/share/zoneinfo/Etc/UTC");
        assert_false(timezone_managed(&link, "", ""));
        /* Our link. */
        strcpy(link.target, "/usr/share/zoneinfo/Europe/Paris");
        assert_true(timezone_managed(&link, "Europe/Paris", ""));
        /* timedatectl writes a relative link, ln -sf another zone: the user's. */
        strcpy(link.target, "../usr/share/zoneinfo/America/New_York");
        assert_false(timezone_managed(&link, "Europe/Paris", ""));
        strcpy(link.target, "/usr/share/zoneinfo/America/New_York");
        assert_false(timezone_managed(&link, "Europe/Paris", ""));
        /* A link where we wrote a file: the user's. */
        strcpy(link.target, "/usr/share/zoneinfo/Europe/Paris");
        assert_false(timezone_managed(&link, "Europe/Paris", "40:0011223344556677"));
        /* Our file, and a file changed since. */
        timezone_file_id(tzif_paris, sizeof(tzif_paris), file.fileid);
        assert_true(timezone_managed(&file, "Europe/Paris", file.fileid));
        {
                char other_id[META_TZFILE_MAX + 1];

                timezone_file_id(tzif_tokyo, sizeof(tzif_tokyo), other_id);
                assert_string_not_equal(other_id, file.fileid);
                assert_false(timezone_managed(&file, "Europe/Paris", other_id));
        }
        assert_false(timezone_managed(&file, "", ""));
        assert_false(timezone_managed(&other, "Europe/Paris", ""));

        assert_int_equal(timezone_plan(false, true, 100), TIMEZONE_SKIP);
        assert_int_equal(timezone_plan(true, true, 100), TIMEZONE_LINK);
        assert_int_equal(timezone_plan(true, true, 0), TIMEZONE_LINK);
        assert_int_equal(timezone_plan(true, false, 100), TIMEZONE_FILE);
        assert_int_equal(timezone_plan(true, false, 0), TIMEZONE_SKIP);
}

static void test_meta_tz_roundtrip(void **state) {
        ContainerMeta m, back;
        char *text = NULL;

        assert_int_equal(container_meta_parse("image=debian\nslot=2\nuser=alice\ntz=Europe/Paris\n", &m), 0);
        assert_string_equal(m.tz, "Europe/Paris");
        assert_string_equal(m.tzfile, "");
        strcpy(m.tzfile, "2c:00112233aabbccdd");
        assert_int_equal(container_meta_format(&m, &text), 0);
        assert_non_null(strstr(text, "tz=Europe/Paris\ntzfile=2c:00112233aabbccdd\n"));
        assert_int_equal(container_meta_parse(text, &back), 0);
        assert_string_equal(back.tz, "Europe/Paris");
        assert_string_equal(back.tzfile, "2c:00112233aabbccdd");
        free(text);
        /* Bad values and repeats are refused. */
        assert_int_equal(container_meta_parse("slot=1\ntz=../../etc/passwd\n", &m), -EBADMSG);
        assert_int_equal(container_meta_parse("slot=1\ntz=/etc\n", &m), -EBADMSG);
        assert_int_equal(container_meta_parse("slot=1\ntz=UTC\ntz=UTC\n", &m), -EBADMSG);
        assert_int_equal(container_meta_parse("slot=1\ntzfile=XYZ\n", &m), -EBADMSG);
        assert_int_equal(container_meta_parse("slot=1\ntzfile=\n", &m), -EBADMSG);
}

/* A fake rootfs in a temp dir. */
static char root[64];

static int rootfs_setup(void **state) {
        char cmd[512];

        strcpy(root, "/tmp/test-tremplin-tz.XXXXXX");
        assert_non_null(mkdtemp(root));
        (void) snprintf(cmd, sizeof(cmd), "mkdir -p %s/etc %s/usr/share/zoneinfo/Europe", root, root);
        assert_int_equal(system(cmd), 0);
        return 0;
}

static int rootfs_teardown(void **state) {
        char cmd[512];

        (void) snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
        assert_int_equal(system(cmd), 0);
        return 0;
}

static void put(const char *rel, const void *data, size_t n) {
        char p[512];
        FILE *f;

        (void) snprintf(p, sizeof(p), "%s/%s", root, rel);
        f = fopen(p, "we");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, n, f), n);
        fclose(f);
}

static void link_target(const char *rel, char *buf, size_t size) {
        char p[512];
        ssize_t n;

        (void) snprintf(p, sizeof(p), "%s/%s", root, rel);
        n = readlink(p, buf, size - 1);
        assert_true(n > 0);
        buf[n] = 0;
}

static void test_apply(void **state) {
        ContainerMeta m = { .slot = 1 };
        int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char target[256], p[512], text[64];
        struct stat st;
        FILE *f;

        assert_true(rfd >= 0);
        put("usr/share/zoneinfo/Europe/Paris", tzif_paris, sizeof(tzif_paris));
        /* Missing: linked to the rootfs' zoneinfo, /etc/timezone written, recorded. */
        assert_int_equal(
                timezone_apply(rfd, getuid(), "Europe/Paris", tzif_paris, sizeof(tzif_paris), &m),
                TIMEZONE_LINK);
        link_target("etc/localtime", target, sizeof(target));
        assert_string_equal(target, "/usr/share/zoneinfo/Europe/Paris");
        assert_string_equal(m.tz, "Europe/Paris");
        assert_string_equal(m.tzfile, "");
        (void) snprintf(p, sizeof(p), "%s/etc/timezone", root);
        f = fopen(p, "re");
        assert_non_null(f);
        assert_non_null(fgets(text, sizeof(text), f));
        fclose(f);
        assert_string_equal(text, "Europe/Paris\n");

        /* No zoneinfo for Asia/Tokyo in the rootfs: the TZif bytes as a regular file. */
        assert_int_equal(
                timezone_apply(rfd, getuid(), "Asia/Tokyo", tzif_tokyo, sizeof(tzif_tokyo), &m),
                TIMEZONE_FILE);
        (void) snprintf(p, sizeof(p), "%s/etc/localtime", root);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_size, sizeof(tzif_tokyo));
        assert_string_equal(m.tz, "Asia/Tokyo");
        assert_string_not_equal(m.tzfile, "");
        /* Our file: replaced by the next zone. */
        assert_int_equal(
                timezone_apply(rfd, getuid(), "Europe/Paris", tzif_paris, sizeof(tzif_paris), &m),
                TIMEZONE_LINK);
        assert_int_equal(
                timezone_apply(rfd, getuid(), "Europe/Paris", tzif_paris, sizeof(tzif_paris), &m),
                TIMEZONE_LINK);

        /* The user's own zone (timedatectl's relative link): left alone from now on. */
        assert_int_equal(unlink(p), 0);
        assert_int_equal(symlink("../usr/share/zoneinfo/America/New_York", p), 0);
        assert_int_equal(
                timezone_apply(rfd, getuid(), "Asia/Tokyo", tzif_tokyo, sizeof(tzif_tokyo), &m),
                TIMEZONE_SKIP);
        link_target("etc/localtime", target, sizeof(target));
        assert_string_equal(target, "../usr/share/zoneinfo/America/New_York");
        assert_string_equal(m.tz, "Europe/Paris");

        /* A file the user wrote there: kept too. */
        assert_int_equal(unlink(p), 0);
        put("etc/localtime", tzif_tokyo, sizeof(tzif_tokyo) - 1);
        assert_int_equal(
                timezone_apply(rfd, getuid(), "Asia/Tokyo", tzif_tokyo, sizeof(tzif_tokyo), &m),
                TIMEZONE_SKIP);
        assert_int_equal(unlink(p), 0);
        close(rfd);
}

static void test_apply_hostile(void **state) {
        ContainerMeta m = { .slot = 1 };
        char p[512], outside[300], target[256];
        int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct stat st;

        assert_true(rfd >= 0);
        /* etc is a symlink out of the rootfs: resolved inside it, the outside is untouched. */
        (void) snprintf(outside, sizeof(outside), "%s.outside", root);
        assert_int_equal(mkdir(outside, 0755), 0);
        (void) snprintf(p, sizeof(p), "%s/etc", root);
        {
                char cmd[1024];

                (void) snprintf(cmd, sizeof(cmd), "rm -rf %s/etc", root);
                assert_int_equal(system(cmd), 0);
        }
        assert_int_equal(symlink(outside, p), 0);
        /* Refused: etc resolves (inside the rootfs) to nothing, and the link is not followed. */
        assert_true(timezone_apply(rfd, getuid(), "Asia/Tokyo", tzif_tokyo, sizeof(tzif_tokyo), &m) < 0);
        (void) snprintf(p, sizeof(p), "%s/localtime", outside);
        assert_int_equal(lstat(p, &st), -1);
        assert_int_equal(rmdir(outside), 0);

        /* zoneinfo that is a symlink to a host file: resolved inside the rootfs, so not there. */
        {
                char cmd[2048];

                (void) snprintf(
                        cmd, sizeof(cmd), "rm -rf %s/etc %s/usr && mkdir -p %s/etc %s/usr/share", root, root,
                        root, root);
                assert_int_equal(system(cmd), 0);
        }
        (void) snprintf(p, sizeof(p), "%s/usr/share/zoneinfo", root);
        assert_int_equal(symlink("/usr/share/zoneinfo", p), 0); /* absolute: inside the rootfs */
        m = (ContainerMeta){ .slot = 1 };
        assert_int_equal(
                timezone_apply(rfd, getuid(), "UTC", tzif_tokyo, sizeof(tzif_tokyo), &m), TIMEZONE_FILE);
        /* A name that would climb out is refused before anything. */
        assert_int_equal(
                timezone_apply(rfd, getuid(), "../../etc/passwd", tzif_tokyo, sizeof(tzif_tokyo), &m),
                -EINVAL);
        (void) target;
        close(rfd);
}

static void test_save_load(void **state) {
        char path[300], name[80];
        void *tzif = NULL;
        size_t len = 0;

        (void) snprintf(path, sizeof(path), "%s/timezone", root);
        assert_int_equal(timezone_load(path, name, sizeof(name), &tzif, &len), -ENOENT);
        assert_int_equal(timezone_save(path, "Asia/Tokyo", tzif_tokyo, sizeof(tzif_tokyo)), 0);
        assert_int_equal(timezone_load(path, name, sizeof(name), &tzif, &len), 0);
        assert_string_equal(name, "Asia/Tokyo");
        assert_int_equal(len, sizeof(tzif_tokyo));
        assert_memory_equal(tzif, tzif_tokyo, len);
        free(tzif);
        assert_int_equal(timezone_save(path, "UTC", NULL, 0), 0);
        assert_int_equal(timezone_load(path, name, sizeof(name), &tzif, &len), 0);
        assert_string_equal(name, "UTC");
        assert_int_equal(len, 0);
        assert_null(tzif);
        assert_int_equal(timezone_save(path, "bad name", NULL, 0), -EINVAL);
}

static void test_garcon_unit_and_linger(void **state) {
        int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char p[512], target[256];
        char *text = garcon_unit_text("alice");
        struct stat st;

        assert_non_null(text);
        assert_non_null(strstr(text, "ExecStart=/opt/bistro/bin/garcon --server\n"));
        assert_non_null(strstr(text, "Restart=always\n"));
        assert_non_null(strstr(text, "ConditionUser=alice\n"));
        assert_non_null(strstr(text, "WantedBy=default.target\n"));
        free(text);
        text = garcon_unit_text(NULL);
        assert_null(strstr(text, "ConditionUser"));
        free(text);

        assert_int_equal(rootfs_install_garcon_unit(rfd, getuid(), "alice", true), 0);
        (void) snprintf(p, sizeof(p), "%s/etc/systemd/user/bistro-garcon.service", root);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        link_target("etc/systemd/user/default.target.wants/bistro-garcon.service", target, sizeof(target));
        assert_string_equal(target, "/etc/systemd/user/bistro-garcon.service");
        /* Without garcon in the VM: both go. */
        assert_int_equal(rootfs_install_garcon_unit(rfd, getuid(), "alice", false), 0);
        assert_int_equal(lstat(p, &st), -1);

        assert_int_equal(rootfs_enable_linger(rfd, getuid(), "alice"), 1);
        assert_int_equal(rootfs_enable_linger(rfd, getuid(), "alice"), 0);
        (void) snprintf(p, sizeof(p), "%s/var/lib/systemd/linger/alice", root);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(rootfs_enable_linger(rfd, getuid(), "../x"), -EINVAL);
        {
                uid_t u;
                gid_t g;

                put("etc/passwd",
                    "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1001:Alice:/home/alice:/bin/bash\n",
                    strlen("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1001:Alice:/home/alice:/bin/bash\n"));
                assert_int_equal(rootfs_user_ids(rfd, "alice", &u, &g), 1);
                assert_int_equal(u, 1000);
                assert_int_equal(g, 1001);
                assert_int_equal(rootfs_user_ids(rfd, "alic", &u, &g), 0);
                assert_int_equal(rootfs_user_ids(rfd, "bob", &u, &g), 0);
        }
        close(rfd);
}

static void test_init_garcon(void **state) {
        char home[64];
        unsigned v;
        usec_t b = 0;

        /* 1 s, doubling, capped at 30 s; back to 1 s after a long run. */
        b = garcon_next_backoff(b, 0);
        assert_int_equal(b, GARCON_BACKOFF_MIN_USEC);
        b = garcon_next_backoff(b, 0);
        assert_int_equal(b, 2 * USEC_PER_SEC);
        for (int i = 0; i < 10; i++)
                b = garcon_next_backoff(b, USEC_PER_SEC);
        assert_int_equal(b, GARCON_BACKOFF_MAX_USEC);
        assert_int_equal(garcon_next_backoff(b, GARCON_STABLE_USEC), GARCON_BACKOFF_MIN_USEC);

        assert_int_equal(garcon_parse_id("1000", &v), 0);
        assert_int_equal(v, 1000);
        assert_int_equal(garcon_parse_id("0", &v), 0);
        assert_int_equal(garcon_parse_id("", &v), -EINVAL);
        assert_int_equal(garcon_parse_id("-1", &v), -EINVAL);
        assert_int_equal(garcon_parse_id("10x", &v), -EINVAL);
        assert_int_equal(garcon_parse_id("4294967296", &v), -EINVAL);

        assert_int_equal(
                garcon_passwd_home(
                        "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000:A:/home/alice:/bin/bash\n", 1000, home,
                        sizeof(home)),
                1);
        assert_string_equal(home, "/home/alice");
        assert_int_equal(
                garcon_passwd_home("alice:x:10000:1000:A:/home/alice:/bin/bash\n", 1000, home, sizeof(home)),
                0);
        assert_int_equal(
                garcon_passwd_home("alice:x:1000:1000:A:relative:/bin/bash\n", 1000, home, sizeof(home)), 0);
        assert_int_equal(
                garcon_passwd_home("alice:x:1000:1000:A:/home/alice\n", 1000, home, sizeof(home)), 0);
        assert_int_equal(garcon_passwd_home("", 1000, home, sizeof(home)), 0);
        assert_int_equal(garcon_passwd_home("bob:x:1000:1000::/h:/bin/sh", 1000, home, sizeof(home)), 1);
        assert_string_equal(home, "/h");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_plan_rules),
                cmocka_unit_test(test_meta_tz_roundtrip),
                cmocka_unit_test_setup_teardown(test_apply, rootfs_setup, rootfs_teardown),
                cmocka_unit_test_setup_teardown(test_apply_hostile, rootfs_setup, rootfs_teardown),
                cmocka_unit_test_setup_teardown(test_save_load, rootfs_setup, rootfs_teardown),
                cmocka_unit_test_setup_teardown(test_garcon_unit_and_linger, rootfs_setup, rootfs_teardown),
                cmocka_unit_test(test_init_garcon),
        };

        fill_tzif(tzif_paris, sizeof(tzif_paris), 'p');
        fill_tzif(tzif_tokyo, sizeof(tzif_tokyo), 't');
        return cmocka_run_group_tests(tests, NULL, NULL);
}
