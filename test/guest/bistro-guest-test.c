/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bistro-guest-test: the guest side of the vsock and network tests (protocol in
 * docs/design/vmm.md and notes/interfaces.md). Static, libc only, one thread per connection. It
 * also runs on the host (--no-vsock --tcp-base PORT) so the protocol can be checked without a VM. */

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/input.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"

#define PORT_ECHO 5000
#define PORT_SINK 5001
#define PORT_SOURCE 5002
#define PORT_CONTROL 5003
#define PORT_STALL 5004
#define HOST_READY_PORT 7777
#define LINE_MAX_LEN 128
#define BUF_SIZE (64 * 1024)
#define STALL_SECONDS 600
#define THREAD_STACK (256 * 1024)

typedef enum Service {
        SERVICE_ECHO,
        SERVICE_SINK,
        SERVICE_SOURCE,
        SERVICE_CONTROL,
        SERVICE_STALL,
        _SERVICE_MAX,
} Service;

typedef struct Conn {
        int fd;
        Service service;
} Conn;

static uint64_t fnv1a64_update(uint64_t h, const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}
#define FNV1A64_INIT UINT64_C(0xcbf29ce484222325)

/* stream(seed): xorshift64*, 8 little-endian bytes per step. */
typedef struct Stream {
        uint64_t x;
} Stream;

static void stream_init(Stream *s, uint64_t seed) {
        s->x = seed ? seed : 1;
}

/* Fills n bytes; n must be a multiple of 8 except for the last call. */
static void stream_fill(Stream *s, uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i += 8) {
                uint64_t v;

                s->x ^= s->x >> 12;
                s->x ^= s->x << 25;
                s->x ^= s->x >> 27;
                v = s->x * UINT64_C(0x2545F4914F6CDD1D);
                for (size_t j = 0; j < 8 && i + j < n; j++)
                        p[i + j] = (uint8_t) (v >> (8 * j));
        }
}

static int write_all(int fd, const void *buf, size_t n) {
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static _printf_(2, 3) int write_line(int fd, const char *fmt, ...) {
        char line[LINE_MAX_LEN * 2];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= sizeof(line))
                return -EINVAL;
        return write_all(fd, line, (size_t) n);
}

/* Reads one '\n'-terminated line byte by byte (nothing past it is consumed). */
static int read_line(int fd, char *buf, size_t size) {
        size_t n = 0;

        for (;;) {
                char c;
                ssize_t k = read(fd, &c, 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EPIPE;
                if (c == '\n')
                        break;
                if (n + 1 >= size)
                        return -E2BIG;
                buf[n++] = c;
        }
        buf[n] = 0;
        return 0;
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end != 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Splits "a b c" into at most max words in place; returns the count. */
static size_t split_words(char *s, char **words, size_t max) {
        size_t n = 0;
        char *save = NULL;

        for (char *w = strtok_r(s, " ", &save); w && n < max; w = strtok_r(NULL, " ", &save))
                words[n++] = w;
        return n;
}

static void serve_echo(int fd) {
        _cleanup_free_ uint8_t *buf = malloc(BUF_SIZE);

        if (!buf)
                return;
        for (;;) {
                ssize_t k = read(fd, buf, BUF_SIZE);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (write_all(fd, buf, (size_t) k) < 0)
                        return;
        }
        (void) shutdown(fd, SHUT_WR);
}

static void serve_sink(int fd) {
        _cleanup_free_ uint8_t *buf = malloc(BUF_SIZE);
        uint64_t h = FNV1A64_INIT, total = 0;

        if (!buf)
                return;
        for (;;) {
                ssize_t k = read(fd, buf, BUF_SIZE);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return;
                if (k == 0)
                        break;
                h = fnv1a64_update(h, buf, (size_t) k);
                total += (uint64_t) k;
        }
        (void) write_line(fd, "%" PRIu64 " %016" PRIx64 "\n", total, h);
}

static int send_stream(int fd, uint64_t bytes, uint64_t seed) {
        _cleanup_free_ uint8_t *buf = malloc(BUF_SIZE);
        Stream s;
        int r;

        if (!buf)
                return -ENOMEM;
        stream_init(&s, seed);
        while (bytes > 0) {
                size_t n = (size_t) MIN(bytes, (uint64_t) BUF_SIZE);
                stream_fill(&s, buf, n);
                r = write_all(fd, buf, n);
                if (r < 0)
                        return r;
                bytes -= n;
        }
        return 0;
}

static void serve_source(int fd) {
        char line[LINE_MAX_LEN], *w[3];
        uint64_t bytes, seed;

        if (read_line(fd, line, sizeof(line)) < 0)
                return;
        if (split_words(line, w, 3) != 2 || parse_u64(w[0], &bytes) < 0 || parse_u64(w[1], &seed) < 0) {
                (void) write_line(fd, "ERR %d bad request\n", EINVAL);
                return;
        }
        (void) send_stream(fd, bytes, seed);
}

/* DIAL: sends and receives at the same time, so a host peer that echoes never deadlocks us. */
static int dial(uint32_t port, uint64_t bytes, uint64_t seed, uint64_t *ret_count, uint64_t *ret_hash) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *out = malloc(BUF_SIZE), *in = malloc(BUF_SIZE);
        struct sockaddr_vm sa = {
                .svm_family = AF_VSOCK,
                .svm_cid = VMADDR_CID_HOST,
                .svm_port = port,
        };
        uint64_t h = FNV1A64_INIT, count = 0;
        size_t out_len = 0, out_off = 0;
        bool eof = false, wr_done = false;
        Stream s;

        if (!out || !in)
                return -ENOMEM;
        fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
                return -errno;
        {
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                int err = 0;
                socklen_t len = sizeof(err);

                if (poll(&p, 1, 30 * 1000) <= 0)
                        return -ETIMEDOUT;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        return -errno;
                if (err != 0)
                        return -err;
        }
        stream_init(&s, seed);
        while (!eof) {
                struct pollfd p = { .fd = fd, .events = POLLIN | (wr_done ? 0 : POLLOUT) };

                if (poll(&p, 1, 120 * 1000) <= 0)
                        return -ETIMEDOUT;
                if (!wr_done && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
                        if (out_off == out_len && bytes > 0) {
                                out_len = (size_t) MIN(bytes, (uint64_t) BUF_SIZE);
                                stream_fill(&s, out, out_len);
                                bytes -= out_len;
                                out_off = 0;
                        }
                        if (out_off < out_len) {
                                ssize_t k = send(fd, out + out_off, out_len - out_off, MSG_NOSIGNAL);
                                if (k < 0 && errno != EAGAIN && errno != EINTR)
                                        return -errno;
                                if (k > 0)
                                        out_off += (size_t) k;
                        }
                        if (out_off == out_len && bytes == 0) {
                                if (shutdown(fd, SHUT_WR) < 0)
                                        return -errno;
                                wr_done = true;
                        }
                }
                if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
                        ssize_t k = recv(fd, in, BUF_SIZE, 0);
                        if (k < 0 && errno != EAGAIN && errno != EINTR)
                                return -errno;
                        if (k == 0)
                                eof = true;
                        if (k > 0) {
                                h = fnv1a64_update(h, in, (size_t) k);
                                count += (uint64_t) k;
                        }
                }
        }
        *ret_count = count;
        *ret_hash = h;
        return 0;
}

static void serve_control(int fd) {
        char line[LINE_MAX_LEN], *w[5];
        size_t n;

        if (read_line(fd, line, sizeof(line)) < 0)
                return;
        n = split_words(line, w, 5);
        if (n == 1 && streq(w[0], "POWEROFF")) {
                (void) write_line(fd, "OK\n");
                sync();
                (void) reboot(RB_POWER_OFF);
                (void) write_line(fd, "ERR %d %s\n", errno, strerror(errno));
                return;
        }
        if (n == 4 && streq(w[0], "DIAL")) {
                uint64_t port, bytes, seed, count = 0, h = 0;
                int r;

                if (parse_u64(w[1], &port) < 0 || port > UINT32_MAX || parse_u64(w[2], &bytes) < 0 ||
                    parse_u64(w[3], &seed) < 0) {
                        (void) write_line(fd, "ERR %d bad request\n", EINVAL);
                        return;
                }
                r = dial((uint32_t) port, bytes, seed, &count, &h);
                if (r < 0)
                        (void) write_line(fd, "ERR %d %s\n", -r, strerror(-r));
                else
                        (void) write_line(fd, "OK %" PRIu64 " %016" PRIx64 "\n", count, h);
                return;
        }
        (void) write_line(fd, "ERR %d unknown command\n", EINVAL);
}

static void serve_stall(int fd) {
        struct timespec end, now;

        /* Never reads; sleeps out signals until the deadline. */
        (void) clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += STALL_SECONDS;
        do {
                struct timespec left;

                (void) clock_gettime(CLOCK_MONOTONIC, &now);
                left.tv_sec = end.tv_sec - now.tv_sec;
                left.tv_nsec = 0;
                if (left.tv_sec <= 0)
                        break;
                (void) nanosleep(&left, NULL);
        } while (true);
}

static void *conn_thread(void *p) {
        Conn *c = p;

        switch (c->service) {
        case SERVICE_ECHO:
                serve_echo(c->fd);
                break;
        case SERVICE_SINK:
                serve_sink(c->fd);
                break;
        case SERVICE_SOURCE:
                serve_source(c->fd);
                break;
        case SERVICE_CONTROL:
                serve_control(c->fd);
                break;
        case SERVICE_STALL:
                serve_stall(c->fd);
                break;
        default:
                break;
        }
        safe_close(c->fd);
        free(c);
        return NULL;
}

static void spawn_conn(int fd, Service service) {
        pthread_attr_t attr;
        pthread_t t;
        Conn *c;

        c = malloc(sizeof(*c));
        if (!c) {
                safe_close(fd);
                return;
        }
        *c = (Conn){ .fd = fd, .service = service };
        (void) pthread_attr_init(&attr);
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        (void) pthread_attr_setstacksize(&attr, THREAD_STACK);
        if (pthread_create(&t, &attr, conn_thread, c) != 0) {
                safe_close(fd);
                free(c);
        }
        (void) pthread_attr_destroy(&attr);
}

static int listen_vsock(uint32_t port) {
        struct sockaddr_vm sa = {
                .svm_family = AF_VSOCK,
                .svm_cid = VMADDR_CID_ANY,
                .svm_port = port,
        };
        int fd;

        fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 256) < 0) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        return fd;
}

static int listen_tcp(uint16_t port, bool loopback) {
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_port = htons(port),
                .sin_addr.s_addr = htonl(loopback ? INADDR_LOOPBACK : INADDR_ANY),
        };
        int fd, one = 1;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 256) < 0) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        return fd;
}

static bool startswith_event(const char *s) {
        return strncmp(s, "event", 5) == 0;
}

static void *announce_thread(void *p) {
        struct timespec ts;
        char line[64];
        int fd, n;
        struct sockaddr_vm sa = {
                .svm_family = AF_VSOCK,
                .svm_cid = VMADDR_CID_HOST,
                .svm_port = HOST_READY_PORT,
        };

        (void) clock_gettime(CLOCK_BOOTTIME, &ts);
        n = snprintf(
                line, sizeof(line), "READY %lld\n", (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return NULL;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                (void) write_all(fd, line, (size_t) n);
        safe_close(fd);
        return NULL;
}

/* ACPI power button (QMP system_powerdown): power off cleanly, as a real init would. The devices
 * are opened before "ready" is printed: evdev drops events that come before the open. */
typedef struct PowerButtons {
        struct pollfd pfd[8];
        size_t n;
} PowerButtons;

static void power_buttons_open(PowerButtons *pb) {
        DIR *d;

        pb->n = 0;
        d = opendir("/dev/input");
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d)) && pb->n < ELEMENTSOF(pb->pfd);) {
                char path[300];
                int fd;

                if (!startswith_event(de->d_name))
                        continue;
                (void) snprintf(path, sizeof(path), "/dev/input/%s", de->d_name);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd >= 0)
                        pb->pfd[pb->n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
        }
        (void) closedir(d);
}

static void *power_button_thread(void *p) {
        PowerButtons *pb = p;

        while (pb->n > 0) {
                if (poll(pb->pfd, pb->n, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                for (size_t i = 0; i < pb->n; i++) {
                        struct input_event ev;

                        if (!(pb->pfd[i].revents & POLLIN))
                                continue;
                        if (read(pb->pfd[i].fd, &ev, sizeof(ev)) != (ssize_t) sizeof(ev))
                                continue;
                        if (ev.type == EV_KEY && ev.code == KEY_POWER && ev.value == 1) {
                                printf("bistro-guest-test: power button, powering off\n");
                                sync();
                                (void) reboot(RB_POWER_OFF);
                        }
                }
        }
        return NULL;
}

static _noreturn_ void usage(int status) {
        fprintf(status ? stderr : stdout,
                "Usage: bistro-guest-test serve [--no-vsock] [--tcp-base PORT] [--loopback]\n"
                "  echo 5000, sink 5001, source 5002 (vsock and TCP), control 5003, stall 5004 (vsock)\n");
        exit(status);
}

int main(int argc, char *argv[]) {
        struct pollfd pfd[2 * _SERVICE_MAX];
        Service svc[2 * _SERVICE_MAX];
        bool use_vsock = true, loopback = false;
        uint64_t tcp_base = PORT_ECHO;
        size_t n = 0;

        if (argc < 2 || !streq(argv[1], "serve"))
                usage(argc >= 2 && (streq(argv[1], "--help") || streq(argv[1], "-h")) ? 0 : 2);
        for (int i = 2; i < argc; i++) {
                if (streq(argv[i], "--no-vsock"))
                        use_vsock = false;
                else if (streq(argv[i], "--loopback"))
                        loopback = true;
                else if (streq(argv[i], "--tcp-base") && i + 1 < argc) {
                        if (parse_u64(argv[++i], &tcp_base) < 0 || tcp_base == 0 || tcp_base > 65533)
                                usage(2);
                } else
                        usage(2);
        }

        (void) signal(SIGPIPE, SIG_IGN);
        setvbuf(stdout, NULL, _IOLBF, 0);

        if (use_vsock)
                for (Service s = 0; s < _SERVICE_MAX; s++) {
                        int fd = listen_vsock(PORT_ECHO + s);
                        if (fd < 0) {
                                fprintf(stderr, "bistro-guest-test: vsock port %d: %s\n", PORT_ECHO + s,
                                        strerror(-fd));
                                use_vsock = false;
                                break;
                        }
                        pfd[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
                        svc[n++] = s;
                }
        for (Service s = SERVICE_ECHO; s <= SERVICE_SOURCE; s++) {
                int fd = listen_tcp((uint16_t) (tcp_base + s), loopback);
                if (fd < 0) {
                        fprintf(stderr, "bistro-guest-test: tcp port %d: %s\n", (int) (tcp_base + s),
                                strerror(-fd));
                        return 1;
                }
                pfd[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
                svc[n++] = s;
        }

        /* Only in the guest (pid 1's child): on the host, the power button is not ours. */
        if (getppid() == 1) {
                static PowerButtons pb;
                pthread_t t;

                power_buttons_open(&pb);
                if (pthread_create(&t, NULL, power_button_thread, &pb) == 0)
                        (void) pthread_detach(t);
        }

        printf("bistro-guest-test: ready\n");
        if (use_vsock) {
                pthread_t t;
                if (pthread_create(&t, NULL, announce_thread, NULL) == 0)
                        (void) pthread_detach(t);
        }

        for (;;) {
                if (poll(pfd, n, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "bistro-guest-test: poll: %m\n");
                        return 1;
                }
                for (size_t i = 0; i < n; i++) {
                        int fd;

                        if (!(pfd[i].revents & POLLIN))
                                continue;
                        fd = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
                        if (fd < 0) {
                                if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
                                        fprintf(stderr, "bistro-guest-test: accept: %m\n");
                                if (errno == EMFILE || errno == ENFILE)
                                        (void) usleep(100 * 1000);
                                continue;
                        }
                        spawn_conn(fd, svc[i]);
                }
        }
}
