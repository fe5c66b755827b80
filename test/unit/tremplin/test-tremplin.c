/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tremplin's parsers and checks, each at its limits: the meta file, the error text that goes to
 * the user, the LXC log tail, the user plan from a container's passwd/group, and the validator of
 * StartContainerRequest's user fields. */
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
#include <unistd.h>

#include "macro.h"
#include "message-type.h"
#include "tremplin-container.h"
#include "tremplin-error.h"
#include "tremplin-layout.h"
#include "tremplin-meta.h"
#include "tremplin-user.h"

static char *repeat(char c, size_t n) {
        char *s = malloc(n + 1);

        assert_non_null(s);
        memset(s, c, n);
        s[n] = 0;
        return s;
}

static int parse(const char *text) {
        ContainerMeta m;

        return container_meta_parse(text, &m);
}

static void test_meta_basic(void **state) {
        ContainerMeta m;

        assert_int_equal(container_meta_parse("image=debian\nslot=3\n", &m), 0);
        assert_string_equal(m.image, "debian");
        assert_int_equal(m.slot, 3);
        assert_int_equal(m.n_users, 0);
        /* No trailing newline, empty lines, unknown keys of a newer tremplin. */
        assert_int_equal(container_meta_parse("\nslot=1\n\nfuture=x\nimage=", &m), 0);
        assert_int_equal(m.slot, 1);
        assert_string_equal(m.image, "");
}

static void test_meta_missing_and_junk(void **state) {
        assert_int_equal(parse(""), -EBADMSG);
        assert_int_equal(parse("image=debian\n"), -EBADMSG); /* no slot */
        assert_int_equal(parse("slot=1\njunk\n"), -EBADMSG); /* no '=' */
        assert_int_equal(parse("slot=1\n=x\n"), -EBADMSG);   /* no key */
        assert_int_equal(parse("slot=\n"), -EBADMSG);
        assert_int_equal(parse("slot=1x\n"), -EBADMSG);
        assert_int_equal(parse("slot=-1\n"), -EBADMSG);
        assert_int_equal(parse("slot=1\nimage=../etc\n"), -EBADMSG);
        assert_int_equal(parse("slot=1\nimage=a b\n"), -EBADMSG);
        assert_int_equal(parse("slot=1\nuser=Root\n"), -EBADMSG);
        assert_int_equal(parse("slot=1\nuser=\n"), -EBADMSG);
        assert_int_equal(container_meta_parse(NULL, &(ContainerMeta){}), -EINVAL);
}

static void test_meta_slot_limits(void **state) {
        char buf[64];

        assert_int_equal(parse("slot=0\n"), -EBADMSG);
        assert_int_equal(parse("slot=1\n"), 0);
        (void) snprintf(buf, sizeof(buf), "slot=%u\n", CONTAINERS_MAX);
        assert_int_equal(parse(buf), 0);
        (void) snprintf(buf, sizeof(buf), "slot=%u\n", CONTAINERS_MAX + 1);
        assert_int_equal(parse(buf), -EBADMSG);
        assert_int_equal(parse("slot=4294967296\n"), -EBADMSG);
}

static void test_meta_duplicates(void **state) {
        assert_int_equal(parse("slot=1\nslot=1\n"), -EBADMSG);
        assert_int_equal(parse("slot=1\nslot=2\n"), -EBADMSG);
        assert_int_equal(parse("slot=1\nimage=a\nimage=a\n"), -EBADMSG);
        assert_int_equal(parse("slot=1\nimage=\nimage=a\n"), -EBADMSG);
        assert_int_equal(parse("slot=1\nuser=alice\nuser=alice\n"), -EBADMSG);
        assert_int_equal(parse("slot=1\nuser=alice\nuser=bob\n"), 0);
}

static void test_meta_field_lengths(void **state) {
        _cleanup_free_ char *img_max = repeat('i', PROTO_IMAGE_NAME_MAX),
                            *img_over = repeat('i', PROTO_IMAGE_NAME_MAX + 1),
                            *user_max = repeat('u', META_USER_MAX),
                            *user_over = repeat('u', META_USER_MAX + 1);
        char buf[512];
        ContainerMeta m;

        (void) snprintf(buf, sizeof(buf), "image=%s\nslot=1\n", img_max);
        assert_int_equal(container_meta_parse(buf, &m), 0);
        assert_string_equal(m.image, img_max);
        (void) snprintf(buf, sizeof(buf), "image=%s\nslot=1\n", img_over);
        assert_int_equal(container_meta_parse(buf, &m), -EBADMSG);

        (void) snprintf(buf, sizeof(buf), "slot=1\nuser=%s\n", user_max);
        assert_int_equal(container_meta_parse(buf, &m), 0);
        assert_string_equal(m.users[0], user_max);
        (void) snprintf(buf, sizeof(buf), "slot=1\nuser=%s\n", user_over);
        assert_int_equal(container_meta_parse(buf, &m), -EBADMSG);
}

static void test_meta_users_limit(void **state) {
        char buf[1024];
        size_t o = 0;
        ContainerMeta m;

        o += (size_t) snprintf(buf + o, sizeof(buf) - o, "slot=2\n");
        for (unsigned i = 0; i < META_USERS_MAX; i++)
                o += (size_t) snprintf(buf + o, sizeof(buf) - o, "user=u%u\n", i);
        assert_int_equal(container_meta_parse(buf, &m), 0);
        assert_int_equal(m.n_users, META_USERS_MAX);
        (void) snprintf(buf + o, sizeof(buf) - o, "user=u%u\n", META_USERS_MAX);
        assert_int_equal(container_meta_parse(buf, &m), -EBADMSG);
}

static void test_meta_text_limit(void **state) {
        /* Padding through an unknown key: exactly META_TEXT_MAX bytes parse, one more does not. */
        static const char head[] = "slot=1\npad=";
        _cleanup_free_ char *text = repeat('x', META_TEXT_MAX + 1);

        memcpy(text, head, strlen(head));
        text[META_TEXT_MAX] = 0;
        assert_int_equal(parse(text), 0);
        text[META_TEXT_MAX] = 'x';
        assert_int_equal(parse(text), -EFBIG);
}

static void test_meta_roundtrip_and_users(void **state) {
        ContainerMeta m = { .image = "debian", .slot = 7 }, back;
        _cleanup_free_ char *text = NULL;

        assert_int_equal(container_meta_add_user(&m, "alice"), 0);
        assert_int_equal(container_meta_add_user(&m, "alice"), 0);
        assert_int_equal(m.n_users, 1);
        assert_int_equal(container_meta_add_user(&m, "Bad"), -EINVAL);
        for (unsigned i = 0; i < META_USERS_MAX; i++) {
                char u[16];

                (void) snprintf(u, sizeof(u), "u%u", i);
                assert_int_equal(container_meta_add_user(&m, u), 0);
        }
        /* Full: the oldest (alice) went. */
        assert_int_equal(m.n_users, META_USERS_MAX);
        assert_false(container_meta_has_user(&m, "alice"));
        assert_true(container_meta_has_user(&m, "u0"));
        assert_true(container_meta_has_user(&m, "u7"));

        assert_int_equal(container_meta_format(&m, &text), 0);
        assert_int_equal(container_meta_parse(text, &back), 0);
        assert_string_equal(back.image, "debian");
        assert_int_equal(back.slot, 7);
        assert_int_equal(back.n_users, META_USERS_MAX);
        for (unsigned i = 0; i < META_USERS_MAX; i++)
                assert_string_equal(back.users[i], m.users[i]);
}

static void test_meta_read_file(void **state) {
        char dir[] = "/tmp/test-tremplin-XXXXXX", path[128];
        _cleanup_close_ int dfd = -EBADF;
        ContainerMeta m;
        int fd;

        assert_non_null(mkdtemp(dir));
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        assert_int_equal(mkdirat(dfd, "c", 0700), 0);

        (void) snprintf(path, sizeof(path), "%s/c", dir);
        assert_int_equal(meta_write(path, &(ContainerMeta){ .image = "busybox", .slot = 5 }), 0);
        assert_int_equal(meta_read_at(dfd, "c", &m), 0);
        assert_int_equal(m.slot, 5);
        assert_string_equal(m.image, "busybox");

        /* A NUL inside is junk. */
        (void) snprintf(path, sizeof(path), "%s/c/" META_FILE, dir);
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "slot=1\n\0x", 9), 9);
        close(fd);
        assert_int_equal(meta_read_at(dfd, "c", &m), -EBADMSG);

        /* A symlink is not followed. */
        assert_int_equal(unlink(path), 0);
        assert_int_equal(symlink("/etc/passwd", path), 0);
        assert_int_equal(meta_read_at(dfd, "c", &m), -ELOOP);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(meta_read_at(dfd, "c", &m), -ENOENT);

        (void) snprintf(path, sizeof(path), "%s/c", dir);
        assert_int_equal(rmdir(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

static void test_error_text(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL, *f = NULL;

        a = error_text_sanitize("line 1\nline\t2", 100);
        assert_string_equal(a, "line 1\nline\t2");
        /* C0 (ESC, CR), DEL and C1 (U+009B CSI, U+0085) become one '?' each; bad UTF-8 one '?'
         * per byte: a lone continuation, an overlong '/' (2), a surrogate (3), a truncated € (2). */
        b = error_text_sanitize("\x1b[31m\r\x7f\xc2\x9b\xc2\x85\x80\xc0\xaf\xed\xa0\x80x\xe2\x82", 100);
        assert_string_equal(b, "?[31m??????????x??");
        /* Valid multibyte text stays: U+00A0 (just past C1), é, €, U+1F600. */
        c = error_text_sanitize("\xc2\xa0\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 100);
        assert_string_equal(c, "\xc2\xa0\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
        /* The bound: exactly max bytes, and a character is never cut. */
        d = error_text_sanitize("abcdef", 6);
        assert_string_equal(d, "abcdef");
        e = error_text_sanitize("abcdef", 5);
        assert_string_equal(e, "abcde");
        f = error_text_sanitize("ab\xe2\x82\xac", 4);
        assert_string_equal(f, "ab");
}

static void test_error_text_limit(void **state) {
        _cleanup_free_ char *big = repeat('a', ERROR_TEXT_MAX + 1), *out = NULL, *out2 = NULL;

        out = error_text_sanitize(big, ERROR_TEXT_MAX);
        assert_int_equal(strlen(out), ERROR_TEXT_MAX);
        big[ERROR_TEXT_MAX] = 0;
        out2 = error_text_sanitize(big, ERROR_TEXT_MAX);
        assert_string_equal(out2, big);
}

static void test_tremplin_error(void **state) {
        _cleanup_free_ char *msg = NULL;

        assert_int_equal(set_error_message(NULL, -EIO, "x"), -EIO);
        assert_int_equal(set_error_message(&msg, -ENOENT, "no container '%s'", "c"), -ENOENT);
        assert_string_equal(msg, "no container 'c'");
        assert_int_equal(set_error_message(&msg, -EBUSY, "again"), -EBUSY);
        assert_string_equal(msg, "again");
}

static void test_log_tail(void **state) {
        const char *t = "first line\nsecond\nthird\n";

        assert_ptr_equal(log_tail_lines(t, strlen(t), strlen(t)), t);
        /* One byte short: the cut first line goes. */
        assert_string_equal(log_tail_lines(t, strlen(t), strlen(t) - 1), "second\nthird\n");
        assert_string_equal(log_tail_lines(t, strlen(t), 7), "third\n");
        /* One long line: its end. */
        assert_string_equal(log_tail_lines("abcdefgh", 8, 3), "fgh");
}

static const char passwd[] = "root:x:0:0:root:/root:/bin/bash\n"
                             "daemon:x:1:1::/:/usr/sbin/nologin\n"
                             "broken line without fields\n"
                             "nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n"
                             "alice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
                             "edge:x:59999:59999::/home/edge:/bin/sh\n"
                             "over:x:60000:60000::/home/over:/bin/sh\n"
                             "low:x:999:999::/home/low:/bin/sh\n"
                             "junkuid:x:12ab:1::/:/bin/sh";
static const char group[] = "root:x:0:\nsudo:x:27:alice\nusers:x:100:\n";

static void test_user_db(void **state) {
        uint32_t uid;

        assert_int_equal(user_db_find(passwd, "alice", &uid), 1);
        assert_int_equal(uid, 1000);
        assert_int_equal(user_db_find(passwd, "alic", &uid), 0);
        assert_int_equal(user_db_find(passwd, "alicee", &uid), 0);
        assert_int_equal(user_db_find(passwd, "junkuid", &uid), 1);
        assert_int_equal(uid, UINT32_MAX);
        assert_int_equal(user_db_find("", "root", &uid), 0);
        assert_int_equal(user_db_find(NULL, "root", &uid), 0);
        assert_true(user_db_uid_taken(passwd, 1000));
        assert_false(user_db_uid_taken(passwd, 1001));
        assert_true(group_db_has(group, "sudo"));
        assert_false(group_db_has(group, "sud"));
        assert_false(group_db_has("sudoers:x:1:\n", "sudo"));
}

static void test_user_plan(void **state) {
        UserPlan p;

        assert_int_equal(user_plan(passwd, group, "alice", 0, true, &p), 0);
        assert_int_equal(p.action, USER_EXISTS);
        /* The uid range at its limits: 999 and 60000 are system accounts, 59999 is fine. */
        assert_int_equal(user_plan(passwd, group, "edge", 0, true, &p), 0);
        assert_int_equal(p.action, USER_EXISTS);
        assert_int_equal(user_plan(passwd, group, "over", 0, true, &p), -EEXIST);
        assert_int_equal(user_plan(passwd, group, "low", 0, true, &p), -EEXIST);
        assert_int_equal(user_plan(passwd, group, "daemon", 0, true, &p), -EEXIST);
        assert_int_equal(user_plan(passwd, group, "junkuid", 0, true, &p), -EEXIST);

        /* A new user: 1000 is taken, so useradd picks; bash and sudo as present. */
        assert_int_equal(user_plan(passwd, group, "bob", 0, true, &p), 0);
        assert_int_equal(p.action, USER_CREATE);
        assert_int_equal(p.uid, 0);
        assert_true(p.bash);
        assert_true(p.sudo_group);
        /* In an empty container: the default uid, no bash, no sudo group. */
        assert_int_equal(user_plan("", "", "bob", 0, false, &p), 0);
        assert_int_equal(p.uid, USER_UID_DEFAULT);
        assert_false(p.bash);
        assert_false(p.sudo_group);
        /* The requested uid, at its limits. */
        assert_int_equal(user_plan("", "", "bob", 1001, false, &p), 0);
        assert_int_equal(p.uid, 1001);
        assert_int_equal(user_plan("", "", "bob", USER_UID_END - 1, false, &p), 0);
        assert_int_equal(p.uid, USER_UID_END - 1);
        assert_int_equal(user_plan("", "", "bob", USER_UID_END, false, &p), -EINVAL);
        assert_int_equal(user_plan("", "", "bob", USER_UID_MIN - 1, false, &p), -EINVAL);
        assert_int_equal(user_plan("", "", "bob", USER_UID_MIN, false, &p), 0);

        /* Names: root needs nothing, others must be login names. */
        assert_int_equal(user_plan(passwd, group, "root", 0, true, &p), -EINVAL);
        assert_int_equal(user_plan(passwd, group, "Bob", 0, true, &p), -EINVAL);
        assert_int_equal(user_plan(passwd, group, "-bob", 0, true, &p), -EINVAL);
        assert_int_equal(user_plan(passwd, group, "", 0, true, &p), -EINVAL);
}

static int validate_start(const char *user, uint32_t uid) {
        Bistro__Tremplin__StartContainerRequest r = BISTRO__TREMPLIN__START_CONTAINER_REQUEST__INIT;

        r.name = (char *) "penguin";
        r.token = (char *) "0123456789abcdef0123";
        r.user = (char *) user;
        r.uid = uid;
        return message_validate(BISTRO__MESSAGE_TYPE__TREMPLIN_START_CONTAINER_REQUEST, &r.base);
}

static void test_validate_start_user(void **state) {
        _cleanup_free_ char *u32 = repeat('a', 32), *u33 = repeat('a', 33);

        assert_int_equal(validate_start("", 0), 0);
        assert_int_equal(validate_start("alice", 0), 0);
        assert_int_equal(validate_start("root", 0), 0);
        assert_int_equal(validate_start(u32, 0), 0);
        assert_int_equal(validate_start(u33, 0), -EBADMSG);
        assert_int_equal(validate_start("Alice", 0), -EBADMSG);
        assert_int_equal(validate_start("a b", 0), -EBADMSG);
        assert_int_equal(validate_start("alice", 1000), 0);
        assert_int_equal(validate_start("alice", 999), -EBADMSG);
        assert_int_equal(validate_start("alice", 59999), 0);
        assert_int_equal(validate_start("alice", 60000), -EBADMSG);
        /* A uid without a user means nothing: refused. */
        assert_int_equal(validate_start("", 1000), -EBADMSG);
}

static void test_validate_info_response_user(void **state) {
        Bistro__Tremplin__ContainerInfoResponse r = BISTRO__TREMPLIN__CONTAINER_INFO_RESPONSE__INIT;
        Bistro__Tremplin__ContainerInfo i = BISTRO__TREMPLIN__CONTAINER_INFO__INIT;

        i.name = (char *) "penguin";
        i.state = BISTRO__TREMPLIN__CONTAINER_STATE__CONTAINER_STATE_RUNNING;
        r.container = &i;
        assert_int_equal(
                message_validate(BISTRO__MESSAGE_TYPE__TREMPLIN_CONTAINER_INFO_RESPONSE, &r.base), 0);
        r.user_ready = true;
        r.user_created = true;
        assert_int_equal(
                message_validate(BISTRO__MESSAGE_TYPE__TREMPLIN_CONTAINER_INFO_RESPONSE, &r.base), 0);
        r.user_ready = false;
        assert_int_equal(
                message_validate(BISTRO__MESSAGE_TYPE__TREMPLIN_CONTAINER_INFO_RESPONSE, &r.base), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_meta_basic),
                cmocka_unit_test(test_meta_missing_and_junk),
                cmocka_unit_test(test_meta_slot_limits),
                cmocka_unit_test(test_meta_duplicates),
                cmocka_unit_test(test_meta_field_lengths),
                cmocka_unit_test(test_meta_users_limit),
                cmocka_unit_test(test_meta_text_limit),
                cmocka_unit_test(test_meta_roundtrip_and_users),
                cmocka_unit_test(test_meta_read_file),
                cmocka_unit_test(test_error_text),
                cmocka_unit_test(test_error_text_limit),
                cmocka_unit_test(test_tremplin_error),
                cmocka_unit_test(test_log_tail),
                cmocka_unit_test(test_user_db),
                cmocka_unit_test(test_user_plan),
                cmocka_unit_test(test_validate_start_user),
                cmocka_unit_test(test_validate_info_response_user),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
