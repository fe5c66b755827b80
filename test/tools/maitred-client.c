/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* maitred-client: drives a guest's maitred from the host through vsockd's hybrid socket, for
 * tests and benchmarks (notes in docs/design/maitred.md).
 *
 *   maitred-client wait-ready --vsock PATH [--timeout S]
 *   maitred-client call --vsock PATH [--timeout S] VERB [ARGS]
 *   maitred-client call --vsock PATH configure-network 10.0.2.15/24 --gateway 10.0.2.2 ...
 *
 * Exit status: 0 success, 1 maitred answered with an error, 2 usage, 3 transport failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "socket-util.h"
#include "string-util.h"
#include "wire.h"

#define EXIT_PEER_ERROR 1
#define EXIT_USAGE 2
#define EXIT_TRANSPORT 3

static const char *arg_vsock = NULL;
static int arg_timeout_ms = 30000;

static uint64_t now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static int usage(void) {
        fprintf(stderr,
                "Usage: maitred-client wait-ready --vsock PATH [--timeout S]\n"
                "       maitred-client call --vsock PATH [--timeout S] VERB [ARGS]\n"
                "Verbs: get-kernel-version | set-time SECONDS [NANOS] | set-timezone NAME |\n"
                "       mount SOURCE TARGET FSTYPE [--flags a,b|N] [--data S] [--mkfs] |\n"
                "       launch [--wait] [--respawn] [--env K=V]... -- ARGV... | shutdown |\n"
                "       configure-network A.B.C.D/N [--gateway A.B.C.D] [--ipv6 ADDR/N]\n"
                "         [--gateway6 ADDR] [--nameserver IP]... [--search NAME]... [--hostname H]\n");
        return EXIT_USAGE;
}

static int wait_ready(void) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int lfd = -EBADF, fd = -EBADF;
        _cleanup_message_ ProtobufCMessage *msg = NULL;
        Bistro__Empty empty = BISTRO__EMPTY__INIT;
        const Bistro__Maitred__VmReadyRequest *req;
        struct pollfd p;
        FrameHeader h;
        uint64_t start = now_ms();
        int r;

        if (asprintf(&path, "%s_%u", arg_vsock, 7777u) < 0) {
                log_error("Out of memory.");
                return EXIT_TRANSPORT;
        }
        lfd = unix_listen(path, 4, 0600);
        if (lfd < 0) {
                log_error_errno(lfd, "Cannot listen on '%s': %m", path);
                return EXIT_TRANSPORT;
        }
        p = (struct pollfd){ .fd = lfd, .events = POLLIN };
        r = poll(&p, 1, arg_timeout_ms);
        if (r <= 0) {
                log_error_errno(r < 0 ? errno : ETIMEDOUT, "No VmReady connection on '%s': %m", path);
                (void) unlink(path);
                return EXIT_TRANSPORT;
        }
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        (void) unlink(path);
        if (fd < 0) {
                log_error_errno(errno, "accept failed: %m");
                return EXIT_TRANSPORT;
        }
        r = wire_recv_sync(fd, arg_timeout_ms, &h, &msg);
        if (r < 0) {
                log_error_errno(r, "No valid VmReady frame: %m");
                return EXIT_TRANSPORT;
        }
        if (h.type != BISTRO__MESSAGE_TYPE__VM_READY_REQUEST || h.flags != FRAME_REQUEST) {
                log_error("Expected VM_READY_REQUEST, got %s.", message_type_to_string(h.type) ?: "?");
                return EXIT_TRANSPORT;
        }
        req = (const Bistro__Maitred__VmReadyRequest *) msg;
        r = wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__EMPTY, FRAME_RESPONSE, h.id, &empty.base, arg_timeout_ms);
        if (r < 0) {
                log_error_errno(r, "Cannot answer VmReady: %m");
                return EXIT_TRANSPORT;
        }
        /* Validated: printable text without spaces is not guaranteed, but no control bytes. */
        printf("READY kernel=%s image=%s ms=%llu\n", req->kernel_version, req->image_version,
               (unsigned long long) (now_ms() - start));
        fflush(stdout);
        return 0;
}

static int connect_guest(uint32_t port) {
        _cleanup_close_ int fd = -EBADF;
        char cmd[32], line[64];
        size_t n = 0;
        int r;

        fd = unix_connect(arg_vsock);
        if (fd < 0)
                return log_error_errno(fd, "Cannot connect to '%s': %m", arg_vsock);
        (void) snprintf(cmd, sizeof(cmd), "CONNECT %u\n", port);
        r = loop_write(fd, cmd, strlen(cmd));
        if (r < 0)
                return log_error_errno(r, "Cannot write CONNECT: %m");
        /* One byte at a time: nothing after the line may be consumed here. */
        while (n < sizeof(line) - 1) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t k;

                r = poll(&p, 1, arg_timeout_ms);
                if (r <= 0)
                        return log_error_errno(r < 0 ? errno : ETIMEDOUT, "No CONNECT answer: %m");
                k = read(fd, line + n, 1);
                if (k <= 0)
                        return log_error_errno(k < 0 ? errno : ECONNRESET, "CONNECT %u refused: %m", port);
                if (line[n++] == '\n')
                        break;
        }
        line[n] = 0;
        if (!startswith(line, "OK "))
                return log_error_errno(
                        SYNTHETIC_ERRNO(ECONNREFUSED), "CONNECT %u failed: '%.*s'", port,
                        (int) strcspn(line, "\n"), line);
        return TAKE_FD(fd);
}

static const struct {
        const char *name;
        uint64_t flag;
} flag_names[] = {
        { "rdonly", MS_RDONLY },     { "ro", MS_RDONLY },
        { "nosuid", MS_NOSUID },     { "nodev", MS_NODEV },
        { "noexec", MS_NOEXEC },     { "sync", MS_SYNCHRONOUS },
        { "noatime", MS_NOATIME },   { "nodiratime", MS_NODIRATIME },
        { "bind", MS_BIND },         { "rec", MS_REC },
        { "relatime", MS_RELATIME }, { "strictatime", MS_STRICTATIME },
};

static int parse_flags(const char *s, uint64_t *ret) {
        _cleanup_free_ char *copy = strdup(s);
        uint64_t f = 0;
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        if (safe_atou64(s, ret) >= 0)
                return 0;
        for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
                size_t i;

                for (i = 0; i < ELEMENTSOF(flag_names); i++)
                        if (streq(w, flag_names[i].name))
                                break;
                if (i == ELEMENTSOF(flag_names))
                        return -EINVAL;
                f |= flag_names[i].flag;
        }
        *ret = f;
        return 0;
}

/* "ADDR/N" into family-sized bytes and a prefix length. */
static int parse_prefix(const char *s, int family, void *addr, uint32_t *plen) {
        _cleanup_free_ char *copy = strdup(s);
        char *slash;

        if (!copy)
                return -ENOMEM;
        slash = strchr(copy, '/');
        if (!slash)
                return -EINVAL;
        *slash = 0;
        if (inet_pton(family, copy, addr) != 1 || safe_atou32(slash + 1, plen) < 0)
                return -EINVAL;
        return 0;
}

static int parse_configure_network(
        int argc,
        char **argv,
        Bistro__Maitred__ConfigureNetworkRequest *cn,
        uint8_t v6[static 16],
        uint8_t gw6[static 16]) {
        struct in_addr a;

        if (argc < 2 || parse_prefix(argv[1], AF_INET, &a, &cn->ipv4_prefix_len) < 0)
                return -EINVAL;
        cn->ipv4_address = a.s_addr;
        for (int i = 2; i < argc; i++) {
                if (i + 1 >= argc)
                        return -EINVAL;
                if (streq(argv[i], "--gateway")) {
                        if (inet_pton(AF_INET, argv[++i], &a) != 1)
                                return -EINVAL;
                        cn->ipv4_gateway = a.s_addr;
                } else if (streq(argv[i], "--ipv6")) {
                        if (parse_prefix(argv[++i], AF_INET6, v6, &cn->ipv6_prefix_len) < 0)
                                return -EINVAL;
                        cn->ipv6_address = (ProtobufCBinaryData){ .len = 16, .data = v6 };
                } else if (streq(argv[i], "--gateway6")) {
                        if (inet_pton(AF_INET6, argv[++i], gw6) != 1)
                                return -EINVAL;
                        cn->ipv6_gateway = (ProtobufCBinaryData){ .len = 16, .data = gw6 };
                } else if (streq(argv[i], "--nameserver"))
                        cn->nameservers[cn->n_nameservers++] = argv[++i];
                else if (streq(argv[i], "--search"))
                        cn->search_domains[cn->n_search_domains++] = argv[++i];
                else if (streq(argv[i], "--hostname"))
                        cn->hostname = argv[++i];
                else
                        return -EINVAL;
        }
        return 0;
}

static int do_call(int argc, char **argv) {
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *verb = argv[0];
        Bistro__Maitred__SetTimeRequest st = BISTRO__MAITRED__SET_TIME_REQUEST__INIT;
        Bistro__Maitred__SetTimezoneRequest tz = BISTRO__MAITRED__SET_TIMEZONE_REQUEST__INIT;
        Bistro__Maitred__MountRequest mr = BISTRO__MAITRED__MOUNT_REQUEST__INIT;
        Bistro__Maitred__LaunchProcessRequest lp = BISTRO__MAITRED__LAUNCH_PROCESS_REQUEST__INIT;
        Bistro__Maitred__ShutdownRequest sd = BISTRO__MAITRED__SHUTDOWN_REQUEST__INIT;
        Bistro__Maitred__GetKernelVersionRequest gk = BISTRO__MAITRED__GET_KERNEL_VERSION_REQUEST__INIT;
        Bistro__Maitred__ConfigureNetworkRequest cn = BISTRO__MAITRED__CONFIGURE_NETWORK_REQUEST__INIT;
        _cleanup_free_ char **env = NULL, **ns = NULL, **search = NULL;
        uint8_t v6[16], gw6[16];
        const ProtobufCMessage *req;
        uint32_t type, rtype = 0;
        int r;

        if (streq(verb, "get-kernel-version") && argc == 1) {
                type = BISTRO__MESSAGE_TYPE__GET_KERNEL_VERSION_REQUEST;
                req = &gk.base;
        } else if (streq(verb, "shutdown") && argc == 1) {
                type = BISTRO__MESSAGE_TYPE__SHUTDOWN_REQUEST;
                req = &sd.base;
        } else if (streq(verb, "set-time") && (argc == 2 || argc == 3)) {
                uint64_t s;
                int n = 0;

                if (safe_atou64(argv[1], &s) < 0 || s > INT64_MAX ||
                    (argc == 3 && safe_atoi(argv[2], &n) < 0))
                        return usage();
                st.seconds = (int64_t) s;
                st.nanos = n;
                type = BISTRO__MESSAGE_TYPE__SET_TIME_REQUEST;
                req = &st.base;
        } else if (streq(verb, "set-timezone") && argc == 2) {
                tz.name = argv[1];
                type = BISTRO__MESSAGE_TYPE__SET_TIMEZONE_REQUEST;
                req = &tz.base;
        } else if (streq(verb, "mount") && argc >= 4) {
                mr.source = argv[1];
                mr.target = argv[2];
                mr.fstype = argv[3];
                for (int i = 4; i < argc; i++) {
                        if (streq(argv[i], "--mkfs"))
                                mr.mkfs_if_needed = true;
                        else if (streq(argv[i], "--flags") && i + 1 < argc) {
                                if (parse_flags(argv[++i], &mr.flags) < 0)
                                        return usage();
                        } else if (streq(argv[i], "--data") && i + 1 < argc)
                                mr.data = argv[++i];
                        else
                                return usage();
                }
                type = BISTRO__MESSAGE_TYPE__MOUNT_REQUEST;
                req = &mr.base;
        } else if (streq(verb, "configure-network")) {
                /* Sized by argc so the validator, not this parser, enforces the limits. */
                ns = calloc(argc, sizeof(char *));
                search = calloc(argc, sizeof(char *));
                if (!ns || !search) {
                        log_error("Out of memory.");
                        return EXIT_TRANSPORT;
                }
                cn.nameservers = ns;
                cn.search_domains = search;
                if (parse_configure_network(argc, argv, &cn, v6, gw6) < 0)
                        return usage();
                type = BISTRO__MESSAGE_TYPE__CONFIGURE_NETWORK_REQUEST;
                req = &cn.base;
        } else if (streq(verb, "launch")) {
                int i;

                env = calloc(argc, sizeof(char *));
                if (!env) {
                        log_error("Out of memory.");
                        return EXIT_TRANSPORT;
                }
                lp.env = env;
                for (i = 1; i < argc && !streq(argv[i], "--"); i++) {
                        if (streq(argv[i], "--wait"))
                                lp.wait_for_exit = true;
                        else if (streq(argv[i], "--respawn"))
                                lp.respawn = true;
                        else if (streq(argv[i], "--env") && i + 1 < argc)
                                env[lp.n_env++] = argv[++i];
                        else
                                return usage();
                }
                if (i + 1 >= argc)
                        return usage();
                lp.argv = argv + i + 1;
                lp.n_argv = argc - i - 1;
                type = BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_REQUEST;
                req = &lp.base;
        } else
                return usage();

        r = message_validate(type, req);
        if (r < 0) {
                log_error("The %s request is invalid (maitred would refuse it).", verb);
                return EXIT_USAGE;
        }
        fd = connect_guest(8888);
        if (fd < 0)
                return EXIT_TRANSPORT;
        r = wire_call_sync(fd, type, req, message_response_type(type), arg_timeout_ms, &rtype, &resp);
        if (r < 0 && rtype == BISTRO__MESSAGE_TYPE__ERROR_REPLY) {
                fprintf(stderr, "maitred-client: %s failed: error %d (%s): %s\n", verb, r, strerror(-r),
                        wire_error_message(resp) ?: "");
                return EXIT_PEER_ERROR;
        }
        if (r < 0) {
                log_error_errno(r, "%s: %m", verb);
                return EXIT_TRANSPORT;
        }
        switch (rtype) {
        case BISTRO__MESSAGE_TYPE__GET_KERNEL_VERSION_RESPONSE: {
                const Bistro__Maitred__GetKernelVersionResponse *k = (const void *) resp;

                printf("release=%s\nversion=%s\n", k->kernel_release, k->kernel_version);
                break;
        }
        case BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_RESPONSE: {
                const Bistro__Maitred__LaunchProcessResponse *l = (const void *) resp;
                const char *s =
                        l->status == BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_LAUNCHED ? "launched"
                        : l->status == BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_EXITED ? "exited"
                                                                                              : "signaled";

                printf("status=%s pid=%d code=%d\n", s, (int) l->pid, (int) l->code);
                break;
        }
        case BISTRO__MESSAGE_TYPE__EMPTY:
                printf("ok\n");
                break;
        default:
                log_error("Unexpected response %s.", message_type_to_string(rtype) ?: "?");
                return EXIT_TRANSPORT;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "vsock", required_argument, NULL, 'v' },
                { "timeout", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *cmd;
        int c;

        log_set_ident("maitred-client");
        if (argc < 2)
                return usage();
        cmd = argv[1];
        optind = 2;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'v':
                        arg_vsock = optarg;
                        break;
                case 't': {
                        uint32_t s;

                        if (safe_atou32(optarg, &s) < 0 || s > 3600)
                                return usage();
                        arg_timeout_ms = (int) s * 1000;
                        break;
                }
                default:
                        return usage();
                }
        if (!arg_vsock)
                return usage();
        if (streq(cmd, "wait-ready") && optind == argc)
                return wait_ready();
        if (streq(cmd, "call") && optind < argc)
                return do_call(argc - optind, argv + optind);
        return usage();
}
