/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The real static garcon --server against a fake cicerone on a unix socket ($GARCON_HOST_SOCKET)
 * and a temporary XDG tree, without a VM: ContainerReady with the token and a port in range, the
 * list, the icons, a new desktop file reaching "the host" within 5 s, a hostile one cleaned, the
 * reconnect after the host goes away (everything sent again), ContainerShutdown on SIGTERM. The
 * fake reads every frame with the real validators (wire_recv_sync()), so anything garcon sends
 * that cicerone would refuse fails here. Also: a vsock connection that does not come from the
 * host (CID 1, loopback, when the kernel has it) is closed unanswered. Skipped when garcon cannot
 * listen on vsock here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "frame.h"
#include "garcon-test-util.h"
#include "macro.h"
#include "rm-rf.h"
#include "socket-util.h"
#include "time-util.h"
#include "wire-client.h"

#define TOKEN "garcon-test-token_0123456789"

static char root[] = "/tmp/test-garcon-server.XXXXXX";
static int listen_fd = -EBADF;
static pid_t garcon_pid;

static void put(const char *rel, const void *content, size_t n) {
        test_put_file(root, rel, content, n);
}

static void put_s(const char *rel, const char *s) {
        put(rel, s, strlen(s));
}

/* Accepts the next connection of garcon, or -1 when garcon exited (or none came in time). */
static int accept_garcon(int timeout_ms) {
        int64_t deadline = (int64_t) now_msec(CLOCK_MONOTONIC) + timeout_ms;

        while ((int64_t) now_msec(CLOCK_MONOTONIC) < deadline) {
                struct pollfd p = { .fd = listen_fd, .events = POLLIN };
                int status;

                if (poll(&p, 1, 100) > 0)
                        return accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (garcon_pid > 0 && waitpid(garcon_pid, &status, WNOHANG) == garcon_pid) {
                        garcon_pid = 0;
                        return -1;
                }
        }
        return -1;
}

/* Receives one request of the given type (validated) and answers EMPTY. */
static ProtobufCMessage *expect(int fd, uint32_t type, int timeout_ms) {
        Bistro__Empty e = BISTRO__EMPTY__INIT;
        ProtobufCMessage *m = NULL;
        FrameHeader h;

        assert_int_equal(wire_recv_sync(fd, timeout_ms, &h, &m), 0);
        if (h.type != type)
                fail_msg(
                        "expected %s, got %s", message_type_to_string(type), message_type_to_string(h.type));
        assert_true(h.flags & FRAME_REQUEST);
        assert_int_equal(
                wire_send_sync(fd, BISTRO__MESSAGE_TYPE__EMPTY, FRAME_RESPONSE, h.id, &e.base, 1000), 0);
        return m;
}

static uint32_t expect_ready(int fd) {
        Bistro__Container__ContainerReadyRequest *r =
                (void *) expect(fd, BISTRO__MESSAGE_TYPE__CONTAINER_READY_REQUEST, 10000);
        uint32_t port = r->garcon_port;

        assert_string_equal(r->token, TOKEN);
        assert_true(port >= 10000 && port <= 19999);
        assert_int_equal(r->sftp_port, 0);
        message_free(&r->base);
        return port;
}

static Bistro__Container__UpdateApplicationListRequest *expect_list(int fd, int timeout_ms) {
        Bistro__Container__UpdateApplicationListRequest *l =
                (void *) expect(fd, BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_LIST_REQUEST, timeout_ms);

        assert_string_equal(l->token, TOKEN);
        return l;
}

static void expect_icons(int fd, const char *id, uint32_t size) {
        Bistro__Container__UpdateApplicationIconsRequest *i =
                (void *) expect(fd, BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_ICONS_REQUEST, 10000);

        assert_string_equal(i->desktop_file_id, id);
        assert_int_equal(i->n_icons, 1);
        assert_int_equal(i->icons[0]->size, size);
        message_free(&i->base);
}

static const char *app_name(const Bistro__Container__UpdateApplicationListRequest *l, const char *id) {
        for (size_t i = 0; i < l->n_apps; i++)
                if (strcmp(l->apps[i]->desktop_file_id, id) == 0)
                        return l->apps[i]->name;
        return NULL;
}

static void png48(const char *rel) {
        uint8_t d[64] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R' };

        d[19] = 48;
        d[23] = 48;
        d[24] = 8; /* depth 8, RGBA */
        d[25] = 6;
        memcpy(d + sizeof(d) - 8, "IEND", 4); /* an empty IEND chunk last */
        put(rel, d, sizeof(d));
}

/* A vsock connection from this machine (CID 1, loopback) is not the host: garcon closes it
 * without an answer. Returns false when vsock loopback is not available here. */
static bool foreign_peer_refused(uint32_t port) {
        Bistro__Container__GarconHelloRequest hello = BISTRO__CONTAINER__GARCON_HELLO_REQUEST__INIT;
        _cleanup_close_ int fd = vsock_connect(VMADDR_CID_LOCAL, port);
        ProtobufCMessage *m = NULL;
        FrameHeader h;
        int r;

        if (fd < 0)
                return false;
        (void) wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__GARCON_HELLO_REQUEST, FRAME_REQUEST, 1, &hello.base, 1000);
        r = wire_recv_sync(fd, 5000, &h, &m);
        assert_true(r < 0 && r != -ETIMEDOUT); /* closed, never answered */
        return true;
}

static bool wait_file(const char *path, bool want) {
        for (int i = 0; i < 100; i++) {
                if ((access(path, F_OK) == 0) == want)
                        return true;
                usleep(50 * 1000);
        }
        return false;
}

static int launch_scaled(
        int fd, const char *id, char **files, size_t n_files, uint32_t scale_percent, char **ret_message) {
        Bistro__Container__LaunchApplicationRequest m = BISTRO__CONTAINER__LAUNCH_APPLICATION_REQUEST__INIT;
        ProtobufCMessage *reply = NULL;
        uint32_t type;
        int r;

        m.desktop_file_id = (char *) id;
        m.scale_percent = scale_percent;
        m.files = files;
        m.n_files = n_files;
        r = wire_call_sync(
                fd, BISTRO__MESSAGE_TYPE__LAUNCH_APPLICATION_REQUEST, &m.base, BISTRO__MESSAGE_TYPE__EMPTY,
                10000, &type, &reply);
        if (ret_message)
                *ret_message = r < 0 && reply && type == BISTRO__MESSAGE_TYPE__ERROR_REPLY
                                       ? strdup(((Bistro__ErrorReply *) reply)->message)
                                       : NULL;
        message_free(reply);
        return r;
}

static int launch(int fd, const char *id, char **files, size_t n_files, char **ret_message) {
        return launch_scaled(fd, id, files, n_files, 0, ret_message);
}

/* The launched app's environment (as dumped by the "envdump" app): has "NAME=value" as a line. */
static bool env_has(const char *dump, const char *entry) {
        size_t l = strlen(entry);

        for (const char *p = dump; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, entry, l) == 0 && (p[l] == '\n' || p[l] == 0))
                        return true;
        return false;
}

/* Apps run in the GUI environment (gui-env.h), with the per-app scale when one is asked. */
static void test_launch_env(int fd) {
        char dump[4096], *text = NULL;
        size_t size;

        snprintf(dump, sizeof(dump), "%s/env-dump", root);
        assert_int_equal(launch_scaled(fd, "envdump", NULL, 0, 150, NULL), 0);
        assert_true(wait_file(dump, true));
        usleep(200 * 1000); /* the redirection creates the file before env writes it */
        assert_int_equal(read_file(dump, 65536, &text, &size), 0);
        assert_true(env_has(text, "WAYLAND_DISPLAY=wayland-0"));
        assert_true(env_has(text, "GDK_BACKEND=wayland,x11"));
        assert_true(env_has(text, "QT_QPA_PLATFORM=wayland;xcb"));
        assert_true(env_has(text, "GDK_SCALE=1"));
        assert_true(env_has(text, "GDK_DPI_SCALE=1.5"));
        assert_true(env_has(text, "QT_SCALE_FACTOR=1.5"));
        assert_true(env_has(text, "XCURSOR_SIZE=36"));
        /* the user's own choice of toolkit backend is kept */
        assert_true(env_has(text, "SDL_VIDEODRIVER=x11"));
        free(text);
        assert_int_equal(unlink(dump), 0);
        /* no scale asked: none set */
        assert_int_equal(launch(fd, "envdump", NULL, 0, NULL), 0);
        assert_true(wait_file(dump, true));
        usleep(200 * 1000);
        assert_int_equal(read_file(dump, 65536, &text, &size), 0);
        assert_true(env_has(text, "WAYLAND_DISPLAY=wayland-0"));
        assert_null(strstr(text, "GDK_SCALE="));
        free(text);
}

static int open_sftp(int fd, char **ret_message) {
        Bistro__Container__GarconOpenSftpRequest m = BISTRO__CONTAINER__GARCON_OPEN_SFTP_REQUEST__INIT;
        ProtobufCMessage *reply = NULL;
        uint32_t type;
        int r;

        r = wire_call_sync(
                fd, BISTRO__MESSAGE_TYPE__GARCON_OPEN_SFTP_REQUEST, &m.base, BISTRO__MESSAGE_TYPE__EMPTY,
                10000, &type, &reply);
        *ret_message = r < 0 && reply && type == BISTRO__MESSAGE_TYPE__ERROR_REPLY
                               ? strdup(((Bistro__ErrorReply *) reply)->message)
                               : NULL;
        message_free(reply);
        return r;
}

/* GarconOpenSftp: refused before GarconHello; as root refused; else the connection speaks SFTP. */
static void test_sftp(const char *path) {
        Bistro__Container__GarconHelloRequest hello = BISTRO__CONTAINER__GARCON_HELLO_REQUEST__INIT;
        _cleanup_close_ int fd = unix_connect(path), fd2 = unix_connect(path);
        ProtobufCMessage *reply = NULL;
        const uint8_t init[] = { 0, 0, 0, 5, 1 /* SSH_FXP_INIT */, 0, 0, 0, 3 };
        uint8_t version[5];
        char *msg = NULL;
        uint32_t type;
        int r;

        assert_true(fd >= 0 && fd2 >= 0);
        assert_int_equal(open_sftp(fd, &msg), -EPERM);
        assert_non_null(strstr(msg, "GarconHello"));
        free(msg);

        assert_int_equal(
                wire_call_sync(
                        fd2, BISTRO__MESSAGE_TYPE__GARCON_HELLO_REQUEST, &hello.base,
                        BISTRO__MESSAGE_TYPE__GARCON_HELLO_RESPONSE, 5000, &type, &reply),
                0);
        message_free(reply);
        {
                /* The rule: nothing after the request until garcon's answer. */
                Bistro__Container__GarconOpenSftpRequest m =
                        BISTRO__CONTAINER__GARCON_OPEN_SFTP_REQUEST__INIT;
                _cleanup_close_ int fd3 = unix_connect(path);
                uint8_t *buf = NULL, both[256];
                FrameHeader h;
                size_t n;

                assert_true(fd3 >= 0);
                assert_int_equal(
                        wire_send_sync(
                                fd3, BISTRO__MESSAGE_TYPE__GARCON_HELLO_REQUEST, FRAME_REQUEST, 1,
                                &hello.base, 5000),
                        0);
                assert_int_equal(wire_recv_sync(fd3, 5000, &h, &reply), 0);
                message_free(reply);
                assert_int_equal(
                        frame_encode(
                                BISTRO__MESSAGE_TYPE__GARCON_OPEN_SFTP_REQUEST, FRAME_REQUEST, 2, &m.base,
                                &buf, &n),
                        0);
                assert_true(n + sizeof(init) <= sizeof(both));
                memcpy(both, buf, n);
                memcpy(both + n, init, sizeof(init));
                free(buf);
                assert_int_equal(loop_write(fd3, both, n + sizeof(init)), 0);
                assert_int_equal(wire_recv_sync(fd3, 5000, &h, &reply), 0);
                assert_int_equal(h.type, BISTRO__MESSAGE_TYPE__ERROR_REPLY);
                assert_int_equal(((Bistro__ErrorReply *) reply)->error, -EBADMSG);
                message_free(reply);
        }
        r = open_sftp(fd2, &msg);
        if (geteuid() == 0) {
                assert_int_equal(r, -EPERM);
                assert_non_null(strstr(msg, "root"));
                print_message("# GarconOpenSftp as root: %s\n", msg);
                free(msg);
                return;
        }
        if (access("/usr/lib/openssh/sftp-server", X_OK) < 0 &&
            access("/usr/libexec/openssh/sftp-server", X_OK) < 0) {
                print_message("# no sftp-server on this host: %s\n", msg ?: "?");
                assert_int_equal(r, -ENOENT);
                free(msg);
                return;
        }
        assert_int_equal(r, 0);
        assert_int_equal(loop_write(fd2, init, sizeof(init)), 0);
        assert_int_equal(fd_wait_until(fd2, POLLIN, (int64_t) now_msec(CLOCK_MONOTONIC) + 10000), 0);
        assert_int_equal(loop_read(fd2, version, sizeof(version)), (ssize_t) sizeof(version));
        assert_int_equal(version[4], 2); /* SSH_FXP_VERSION */
}

/* GarconHello and LaunchApplication on the test listener (a unix socket: the vsock one only
 * takes CID 2, the host). */
static void test_requests(const char *path) {
        Bistro__Container__GarconHelloRequest hello = BISTRO__CONTAINER__GARCON_HELLO_REQUEST__INIT;
        _cleanup_close_ int fd = unix_connect(path);
        ProtobufCMessage *reply = NULL;
        char a[4096], b[4096], evil[4096], pwned[4096];
        char *files[] = { a, b };
        char *msg = NULL;
        uint32_t type;

        assert_true(fd >= 0);
        assert_int_equal(
                wire_call_sync(
                        fd, BISTRO__MESSAGE_TYPE__GARCON_HELLO_REQUEST, &hello.base,
                        BISTRO__MESSAGE_TYPE__GARCON_HELLO_RESPONSE, 5000, &type, &reply),
                0);
        assert_string_equal(((Bistro__Container__GarconHelloResponse *) reply)->token, TOKEN);
        message_free(reply);

        /* %F: both files, as two arguments, one with a space */
        snprintf(a, sizeof(a), "%s/launched-a", root);
        snprintf(b, sizeof(b), "%s/launched b", root);
        assert_int_equal(launch(fd, "touch", files, 2, NULL), 0);
        assert_true(wait_file(a, true));
        assert_true(wait_file(b, true));

        /* shell metacharacters in the Exec line are one literal argument */
        snprintf(evil, sizeof(evil), "%s/x;touch y$(id)`id`|z", root);
        snprintf(pwned, sizeof(pwned), "%s/x", root);
        assert_int_equal(launch(fd, "evil", NULL, 0, NULL), 0);
        assert_true(wait_file(evil, true));
        assert_true(wait_file(pwned, false));

        assert_int_equal(launch(fd, "no-such-app", NULL, 0, &msg), -ENOENT);
        assert_non_null(msg);
        assert_non_null(strstr(msg, "unknown application"));
        free(msg);
        assert_int_equal(launch(fd, "missing", NULL, 0, &msg), -ENOENT);
        assert_non_null(msg);
        print_message("# launching a missing program: %s\n", msg);
        free(msg);
        /* Path= that does not exist: the exec never happens, the error comes back */
        assert_int_equal(launch(fd, "badpath", NULL, 0, &msg), -ENOENT);
        print_message("# a bad Path=: %s\n", msg);
        free(msg);
        test_launch_env(fd);
}

static pid_t sommelier_pid;

/* garcon keeps sommelier running: restarted 1 s, then 2 s after quick exits; left running once it
 * stays. The stand-in started with garcon, so the first start is seconds old by now. */
static void test_sommelier_supervised(void) {
        char log[4096], *text = NULL;
        double t[8];
        size_t size, n = 0;

        snprintf(log, sizeof(log), "%s/sommelier-starts", root);
        put_s("stay", "");
        /* the restarts are at most 30 s apart: wait for the one that stays */
        for (int i = 0; i < 400; i++) {
                free(text);
                text = NULL;
                n = 0;
                if (read_file(log, 65536, &text, &size) == 0)
                        for (char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                                unsigned pid;
                                double when;

                                if (sscanf(p, "%u %lf", &pid, &when) != 2)
                                        continue;
                                sommelier_pid = (pid_t) pid;
                                if (n < ELEMENTSOF(t))
                                        t[n] = when;
                                n++;
                        }
                /* alive 1.5 s after its start was logged: it stays */
                if (n > 0 && kill(sommelier_pid, 0) == 0) {
                        usleep(1500 * 1000);
                        if (kill(sommelier_pid, 0) == 0)
                                break;
                }
                usleep(100 * 1000);
        }
        free(text);
        assert_true(n >= 2);
        print_message("# sommelier stand-in started %zu times\n", n);
        assert_true(t[1] - t[0] > 0.8 && t[1] - t[0] < 1.9);
        if (n >= 3)
                assert_true(t[2] - t[1] > 1.8 && t[2] - t[1] < 2.9);
        assert_int_equal(kill(sommelier_pid, 0), 0);
}

static void test_server(void **state) {
        const char *bin = getenv("GARCON_BINARY");
        Bistro__Container__UpdateApplicationListRequest *l;
        char sock[4096], home[4096], dirs[4096], tok[4096], gsock[4096], entry[8192], somm[4096];
        int fd, status;
        uint32_t port;
        usec_t t0;

        if (!bin)
                skip();
        assert_non_null(mkdtemp(root));
        snprintf(sock, sizeof(sock), "%s/cicerone.sock", root);
        snprintf(home, sizeof(home), "%s/home", root);
        snprintf(dirs, sizeof(dirs), "%s/usr/share:%s/usr/local/share", root, root);
        snprintf(tok, sizeof(tok), "%s/token", root);
        snprintf(gsock, sizeof(gsock), "%s/garcon.sock", root);
        listen_fd = unix_listen(sock, 8, 0600);
        assert_true(listen_fd >= 0);
        put_s("token", TOKEN "\n");
        put_s("usr/share/applications/org.example.Foo.desktop",
              "[Desktop Entry]\nType=Application\nName=Foo\nExec=foo %U\nIcon=foo\n");
        put_s("usr/share/applications/hidden.desktop",
              "[Desktop Entry]\nType=Application\nName=H\nExec=h\nHidden=true\n");
        png48("usr/share/icons/hicolor/48x48/apps/foo.png");
        put_s("usr/share/applications/touch.desktop",
              "[Desktop Entry]\nType=Application\nName=Touch\nExec=touch %F\n");
        snprintf(
                entry, sizeof(entry),
                "[Desktop Entry]\nType=Application\nName=Evil\nExec=touch \"%s/x;touch y\\\\$(id)\\\\`id\\\\`|z\" "
                "%%f\n",
                root);
        put_s("usr/share/applications/evil.desktop", entry);
        put_s("usr/share/applications/missing.desktop",
              "[Desktop Entry]\nType=Application\nName=Missing\nExec=/nonexistent/program\n");
        put_s("usr/share/applications/badpath.desktop",
              "[Desktop Entry]\nType=Application\nName=Bad path\nExec=true\nPath=/nonexistent/dir\n");
        snprintf(
                entry, sizeof(entry),
                "[Desktop Entry]\nType=Application\nName=Env\nExec=/bin/sh -c \"env > %s/env-dump\"\n",
                root);
        put_s("usr/share/applications/envdump.desktop", entry);
        /* a stand-in sommelier: records each start; stays once "stay" exists */
        snprintf(
                entry, sizeof(entry),
                "#!/bin/sh\necho \"$$ $(date +%%s.%%N)\" >> %s/sommelier-starts\n[ -e %s/stay ] && exec sleep 1000\nexit 1\n",
                root, root);
        put_s("sommelier", entry);
        snprintf(somm, sizeof(somm), "%s/sommelier", root);
        assert_int_equal(chmod(somm, 0755), 0);

        garcon_pid = fork();
        assert_true(garcon_pid >= 0);
        if (garcon_pid == 0) {
                setenv("GARCON_HOST_SOCKET", sock, 1);
                setenv("GARCON_TOKEN_FILE", tok, 1);
                setenv("GARCON_TEST_LISTEN_SOCKET", gsock, 1);
                setenv("GARCON_SOMMELIER", somm, 1);
                setenv("SDL_VIDEODRIVER", "x11", 1);
                unsetenv("WAYLAND_DISPLAY");
                unsetenv("GDK_BACKEND");
                unsetenv("QT_QPA_PLATFORM");
                setenv("HOME", home, 1);
                unsetenv("XDG_DATA_HOME");
                setenv("XDG_DATA_DIRS", dirs, 1);
                execl(bin, "garcon", "--server", NULL);
                _exit(127);
        }

        fd = accept_garcon(10000);
        if (fd < 0) {
                print_message("# garcon exited before connecting (no vsock listener here?): skipped\n");
                skip();
        }
        port = expect_ready(fd);
        l = expect_list(fd, 10000);
        assert_int_equal(l->n_apps, 6);
        assert_string_equal(app_name(l, "org.example.Foo"), "Foo");
        message_free(&l->base);
        expect_icons(fd, "org.example.Foo", 48);
        test_requests(gsock);
        test_sftp(gsock);

        /* a new desktop file reaches the host within 5 s; a hostile name arrives cleaned */
        t0 = now_usec(CLOCK_MONOTONIC);
        put_s("usr/local/share/applications/bar.desktop",
              "[Desktop Entry]\nType=Application\nName=Bar\x1b[2J\xc2\x9b\nExec=bar; rm -rf / $(x)\n");
        l = expect_list(fd, 5000);
        print_message(
                "# new desktop file listed after %llu ms\n",
                (unsigned long long) ((now_usec(CLOCK_MONOTONIC) - t0) / USEC_PER_MSEC));
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 < 5 * USEC_PER_SEC);
        assert_int_equal(l->n_apps, 7);
        assert_string_equal(app_name(l, "bar"), "Bar?[2J?");
        message_free(&l->base);

        /* removing it sends the list again, without it */
        snprintf(tok, sizeof(tok), "%s/usr/local/share/applications/bar.desktop", root);
        assert_int_equal(unlink(tok), 0);
        l = expect_list(fd, 5000);
        assert_int_equal(l->n_apps, 6);
        message_free(&l->base);

        if (!foreign_peer_refused(port))
                print_message("# no vsock loopback here: the CID check is not exercised\n");

        /* the host goes away: garcon reconnects and sends everything again */
        safe_close(fd);
        fd = accept_garcon(10000);
        assert_true(fd >= 0);
        assert_int_equal(expect_ready(fd), port);
        l = expect_list(fd, 10000);
        assert_int_equal(l->n_apps, 6);
        message_free(&l->base);
        expect_icons(fd, "org.example.Foo", 48);

        test_sommelier_supervised();

        /* SIGTERM: ContainerShutdown on a fresh connection, exit 0 */
        assert_int_equal(kill(garcon_pid, SIGTERM), 0);
        {
                _cleanup_close_ int sfd = accept_garcon(5000);
                Bistro__Container__ContainerShutdownRequest *m;

                assert_true(sfd >= 0);
                m = (void *) expect(sfd, BISTRO__MESSAGE_TYPE__CONTAINER_SHUTDOWN_REQUEST, 5000);
                assert_string_equal(m->token, TOKEN);
                message_free(&m->base);
        }
        assert_int_equal(waitpid(garcon_pid, &status, 0), garcon_pid);
        garcon_pid = 0;
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        safe_close(fd);
        /* garcon stopped its sommelier */
        assert_true(kill(sommelier_pid, 0) < 0 && errno == ESRCH);
}

/* garcon --url's exit status for one argument, as bistro-open: refused before any host contact
 * (no token file, no host socket here), so only the argument decides. */
static int url_status(const char *bin, const char *arg) {
        pid_t pid;
        int status;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

                if (null >= 0)
                        (void) dup2(null, STDERR_FILENO);
                (void) setenv("GARCON_TOKEN_FILE", "/nonexistent/token", 1);
                execl(bin, "bistro-open", "--", arg, (char *) NULL);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void test_url_refusals(void **state) {
        const char *bin = getenv("GARCON_BINARY");

        if (!bin)
                skip();
        /* Other schemes and files outside /mnt/shared: usage errors (2), never looked up as paths. */
        assert_int_equal(url_status(bin, "javascript:alert(1)"), 2);
        assert_int_equal(url_status(bin, "ftp://example.org/x"), 2);
        assert_int_equal(url_status(bin, "file:///etc/passwd"), 2);
        assert_int_equal(url_status(bin, "/etc/passwd"), 2);
        assert_int_equal(url_status(bin, "mailto:"), 2);
        /* A file that does not exist cannot be resolved: a failure (1), not a usage error. */
        assert_int_equal(url_status(bin, "/nonexistent/report.pdf"), 1);
        /* Allowed: it goes on to the token, which is missing here (1). */
        assert_int_equal(url_status(bin, "https://example.org/"), 1);
}

static int teardown(void **state) {
        if (garcon_pid > 0) {
                (void) kill(garcon_pid, SIGKILL);
                (void) waitpid(garcon_pid, NULL, 0);
        }
        safe_close(listen_fd);
        (void) rm_rf(root);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_server, teardown),
                cmocka_unit_test(test_url_refusals),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
