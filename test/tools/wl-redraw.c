/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* wl-redraw: the GUI tests' and bench/gui-bench.py's Wayland client. Static and libc-only (the raw
 * wire protocol, no libwayland), so the same binary runs on the host and in any container.
 *
 *   wl-redraw [--full|--small] [--frames N] [--seconds S] [--timeout S] [--title T]
 *
 * Connects to $WAYLAND_DISPLAY (relative to $XDG_RUNTIME_DIR, or absolute), maps a 1024x768 xdg_toplevel
 * (app_id "bistro-wl-redraw") and redraws it on every wl_surface.frame callback: --full changes and
 * damages the whole buffer, --small a 64x64 square. Stops after N frames (default 300) or S seconds,
 * whichever comes first, and prints one JSON line: first_frame_s (connect -> first frame callback),
 * frames, seconds (after the first frame), fps, and first_frame_at / end_at (CLOCK_MONOTONIC seconds,
 * so that a relay on the same machine can count the bytes of exactly the measured frames). Every wait ends
 * after --timeout seconds (default 10). Exit 0 done (also when the compositor closes the window), 1 protocol
 * error, closed connection or timeout, 2 usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define WIDTH 1024
#define HEIGHT 768
#define STRIDE (WIDTH * 4)
#define BUF_SIZE (STRIDE * HEIGHT)
#define SMALL 64
#define APP_ID "bistro-wl-redraw"

/* Our objects have fixed ids, in the order the requests create them (the server wants new ids without
 * gaps); frame callbacks take fresh ids from ID_NEXT on. */
enum {
        ID_DISPLAY = 1,
        ID_REGISTRY,
        ID_SYNC,
        ID_COMPOSITOR,
        ID_SHM,
        ID_WM_BASE,
        ID_POOL,
        ID_BUFFER0,
        ID_BUFFER1,
        ID_SURFACE,
        ID_XDG_SURFACE,
        ID_TOPLEVEL,
        ID_NEXT,
};

static int sock = -1;
static int timeout_ms = 10000;
static uint8_t out[65536];
static size_t out_len;
static uint8_t in[65536];
static size_t in_len;

static uint32_t global_name[3], global_version[3]; /* compositor, shm, xdg_wm_base */
static uint32_t next_id = ID_NEXT, frame_cb, configure_serial;
static bool configured, closed, busy[2];
static unsigned frames_done;

static _Noreturn void die(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        fputs("wl-redraw: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(1);
}

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void wait_fd(short events) {
        struct pollfd p = { .fd = sock, .events = events };
        int r;

        do
                r = poll(&p, 1, timeout_ms);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                die("poll: %m");
        if (r == 0)
                die("timed out after %d ms waiting for the compositor", timeout_ms);
}

static void dispatch(uint32_t id, uint16_t opcode, const uint32_t *body, size_t nwords);

/* After a failed send: the compositor's last words (a wl_display.error) are usually still in the
 * socket; dispatch them so the error is what gets reported. */
static void drain_error(void) {
        ssize_t n = recv(sock, in + in_len, sizeof(in) - in_len, MSG_DONTWAIT);

        if (n <= 0)
                return;
        in_len += (size_t) n;
        for (size_t off = 0; in_len - off >= 8;) {
                uint32_t hdr[2], body[sizeof(in) / 4];

                memcpy(hdr, in + off, 8);
                if ((hdr[1] >> 16) < 8 || (hdr[1] >> 16) % 4 || (hdr[1] >> 16) > in_len - off)
                        return;
                memcpy(body, in + off + 8, (hdr[1] >> 16) - 8);
                if (hdr[0] == ID_DISPLAY && (hdr[1] & 0xffff) == 0)
                        dispatch(hdr[0], 0, body, ((hdr[1] >> 16) - 8) / 4);
                off += hdr[1] >> 16;
        }
}

/* Sends out[], with fd (if >= 0) attached to its first byte. */
static void flush_out(int fd) {
        size_t off = 0;

        while (off < out_len) {
                struct iovec iov = { .iov_base = out + off, .iov_len = out_len - off };
                union {
                        struct cmsghdr h;
                        char b[CMSG_SPACE(sizeof(int))];
                } c = {};
                struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
                ssize_t n;

                if (fd >= 0) {
                        m.msg_control = c.b;
                        m.msg_controllen = sizeof(c.b);
                        c.h.cmsg_level = SOL_SOCKET;
                        c.h.cmsg_type = SCM_RIGHTS;
                        c.h.cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(&c.h), &fd, sizeof(int));
                }
                n = sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                        wait_fd(POLLOUT);
                        continue;
                }
                if (n < 0) {
                        int e = errno;

                        drain_error();
                        errno = e;
                        die("connection to the compositor lost: %m");
                }
                off += (size_t) n;
                fd = -1;
        }
        out_len = 0;
}

/* Marshals one request; fmt: 'u' uint/int/new_id/object, 's' string. */
static void req(uint32_t id, uint16_t opcode, const char *fmt, ...) {
        uint32_t msg[256];
        size_t n = 2;
        va_list ap;

        va_start(ap, fmt);
        for (const char *f = fmt; *f; f++) {
                if (*f == 'u') {
                        msg[n++] = va_arg(ap, uint32_t);
                        continue;
                }
                const char *s = va_arg(ap, const char *);
                size_t len = strlen(s) + 1;

                if (len > 512)
                        die("string argument too long");
                msg[n++] = (uint32_t) len;
                memset(&msg[n], 0, (len + 3) & ~(size_t) 3);
                memcpy(&msg[n], s, len);
                n += (len + 3) / 4;
        }
        va_end(ap);
        msg[0] = id;
        msg[1] = (uint32_t) (n * 4) << 16 | opcode;
        if (out_len + n * 4 > sizeof(out))
                flush_out(-1);
        memcpy(out + out_len, msg, n * 4);
        out_len += n * 4;
}

/* A string argument at body[*pos] (in 32-bit words of a message of nwords); NULL when malformed. */
static const char *arg_string(const uint32_t *body, size_t nwords, size_t *pos) {
        uint32_t len;
        const char *s;

        if (*pos >= nwords)
                return NULL;
        len = body[(*pos)++];
        if (len == 0 || len > (nwords - *pos) * 4)
                return NULL;
        s = (const char *) &body[*pos];
        if (s[len - 1] != '\0')
                return NULL;
        *pos += (len + 3) / 4;
        return s;
}

static void on_global(const uint32_t *body, size_t nwords) {
        static const char *const wanted[3] = { "wl_compositor", "wl_shm", "xdg_wm_base" };
        size_t pos = 1;
        const char *iface;

        if (nwords < 1)
                die("malformed wl_registry.global");
        iface = arg_string(body, nwords, &pos);
        if (!iface || pos >= nwords)
                die("malformed wl_registry.global");
        for (int i = 0; i < 3; i++)
                if (strcmp(iface, wanted[i]) == 0) {
                        global_name[i] = body[0];
                        global_version[i] = body[pos];
                }
}

static void dispatch(uint32_t id, uint16_t opcode, const uint32_t *body, size_t nwords) {
        if (id == ID_DISPLAY && opcode == 0) { /* error(object, code, message) */
                size_t pos = 2;
                const char *msg = nwords >= 2 ? arg_string(body, nwords, &pos) : NULL;

                die("protocol error on object %u, code %u: %s", nwords >= 1 ? body[0] : 0,
                    nwords >= 2 ? body[1] : 0, msg ? msg : "(malformed)");
        } else if (id == ID_REGISTRY && opcode == 0)
                on_global(body, nwords);
        else if (id == ID_WM_BASE && opcode == 0) { /* ping(serial) */
                if (nwords < 1)
                        die("malformed xdg_wm_base.ping");
                req(ID_WM_BASE, 3, "u", body[0]);
        } else if (id == ID_XDG_SURFACE && opcode == 0) { /* configure(serial) */
                if (nwords < 1)
                        die("malformed xdg_surface.configure");
                configure_serial = body[0];
                configured = true;
        } else if (id == ID_TOPLEVEL && opcode == 1) /* close */
                closed = true;
        else if ((id == ID_BUFFER0 || id == ID_BUFFER1) && opcode == 0) /* release */
                busy[id - ID_BUFFER0] = false;
        else if (id == frame_cb && id != 0 && opcode == 0) { /* wl_callback.done */
                frame_cb = 0;
                frames_done++;
        }
        /* Everything else (wl_shm.format, delete_id, surface enter/leave, toplevel configure) is not
         * needed: the window is always 1024x768. */
}

/* Reads what is available (waiting up to the timeout when nothing is) and dispatches every whole
 * message. fds the compositor sends are closed unread. */
static void read_events(void) {
        union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(int) * 28)];
        } c;
        struct iovec iov = { .iov_base = in + in_len, .iov_len = sizeof(in) - in_len };
        struct msghdr m = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b, .msg_controllen = sizeof(c.b)
        };
        ssize_t n;
        size_t off = 0;

        flush_out(-1);
        for (;;) {
                n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (n >= 0 || (errno != EAGAIN && errno != EINTR))
                        break;
                wait_fd(POLLIN);
        }
        if (n < 0)
                die("connection to the compositor lost: %m");
        if (n == 0)
                die("the compositor closed the connection");
        for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
                if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
                        for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                                int fd;

                                memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
                                close(fd);
                        }
        in_len += (size_t) n;
        while (in_len - off >= 8) {
                uint32_t hdr[2], size, body[sizeof(in) / 4];

                memcpy(hdr, in + off, 8);
                size = hdr[1] >> 16;
                if (size < 8 || size % 4 != 0)
                        die("malformed message from the compositor (size %u)", size);
                if (in_len - off < size)
                        break;
                memcpy(body, in + off + 8, size - 8);
                dispatch(hdr[0], (uint16_t) (hdr[1] & 0xffff), body, (size - 8) / 4);
                off += size;
        }
        memmove(in, in + off, in_len - off);
        in_len -= off;
}

static void connect_display(void) {
        const char *name = getenv("WAYLAND_DISPLAY"), *dir = getenv("XDG_RUNTIME_DIR");
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int n;

        if (!name || !*name)
                name = "wayland-0";
        if (name[0] == '/')
                n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", name);
        else if (dir && dir[0] == '/')
                n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, name);
        else
                die("XDG_RUNTIME_DIR is not set and WAYLAND_DISPLAY is not an absolute path");
        if (n < 0 || (size_t) n >= sizeof(sa.sun_path))
                die("Wayland socket path too long");
        sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (sock < 0 || connect(sock, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                die("cannot connect to %s: %m", sa.sun_path);
}

/* Pixel (x, y) of frame f: a diagonal gradient that moves, so every frame changes every pixel. */
static void draw(uint32_t *px, unsigned f, bool full) {
        if (full) {
                for (unsigned y = 0; y < HEIGHT; y++)
                        for (unsigned x = 0; x < WIDTH; x++)
                                px[y * WIDTH + x] = ((x + f * 4) & 0xff) << 16 | ((y + f * 2) & 0xff) << 8 |
                                                    ((x + y + f) & 0xff);
                return;
        }
        for (unsigned y = 0; y < SMALL; y++)
                for (unsigned x = 0; x < SMALL; x++)
                        px[(y + 32) * WIDTH + x + 32] = ((f * 7) & 0xff) << 16 | (x * 4) << 8 | (y * 4);
}

static void usage(void) {
        fputs("usage: wl-redraw [--full|--small] [--frames N] [--seconds S] [--timeout S] [--title T]\n",
              stderr);
        exit(2);
}

static double number_arg(const char *s) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > 1e6)
                usage();
        return v;
}

int main(int argc, char **argv) {
        const char *title = "Bistro redraw test";
        bool full = true;
        unsigned max_frames = 300, f;
        double max_seconds = 1e6, t0, t_first = 0, t_end;
        uint32_t *pixels;
        int memfd;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--full") == 0)
                        full = true;
                else if (strcmp(argv[i], "--small") == 0)
                        full = false;
                else if (i + 1 >= argc)
                        usage();
                else if (strcmp(argv[i], "--frames") == 0)
                        max_frames = (unsigned) number_arg(argv[++i]);
                else if (strcmp(argv[i], "--seconds") == 0)
                        max_seconds = number_arg(argv[++i]);
                else if (strcmp(argv[i], "--timeout") == 0)
                        timeout_ms = (int) (number_arg(argv[++i]) * 1000);
                else if (strcmp(argv[i], "--title") == 0)
                        title = argv[++i];
                else
                        usage();
        }
        if (max_frames == 0 || timeout_ms <= 0)
                usage();

        t0 = now_s();
        connect_display();
        req(ID_DISPLAY, 1, "u", ID_REGISTRY);        /* get_registry */
        req(ID_DISPLAY, 0, "u", frame_cb = ID_SYNC); /* sync: its done ends the globals */
        while (frame_cb != 0)
                read_events();
        frames_done = 0;
        for (int i = 0; i < 3; i++)
                if (global_name[i] == 0)
                        die("the compositor has no %s", i == 0   ? "wl_compositor"
                                                        : i == 1 ? "wl_shm"
                                                                 : "xdg_wm_base");
        global_version[0] = global_version[0] < 4 ? global_version[0] : 4;
        req(ID_REGISTRY, 0, "usuu", global_name[0], "wl_compositor", global_version[0], ID_COMPOSITOR);
        req(ID_REGISTRY, 0, "usuu", global_name[1], "wl_shm", 1, ID_SHM);
        req(ID_REGISTRY, 0, "usuu", global_name[2], "xdg_wm_base", 1, ID_WM_BASE);

        memfd = memfd_create("wl-redraw", MFD_CLOEXEC);
        if (memfd < 0 || ftruncate(memfd, 2 * BUF_SIZE) < 0)
                die("memfd: %m");
        pixels = mmap(NULL, 2 * BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
        if (pixels == MAP_FAILED)
                die("mmap: %m");
        flush_out(-1);
        req(ID_SHM, 0, "uu", ID_POOL, 2 * BUF_SIZE); /* create_pool(id, fd, size): the fd goes out of band */
        flush_out(memfd);
        close(memfd);
        for (int b = 0; b < 2; b++) /* create_buffer(id, offset, w, h, stride, XRGB8888) */
                req(ID_POOL, 0, "uuuuuu", ID_BUFFER0 + b, b * BUF_SIZE, WIDTH, HEIGHT, STRIDE, 1);

        req(ID_COMPOSITOR, 0, "u", ID_SURFACE);               /* create_surface */
        req(ID_WM_BASE, 2, "uu", ID_XDG_SURFACE, ID_SURFACE); /* get_xdg_surface */
        req(ID_XDG_SURFACE, 1, "u", ID_TOPLEVEL);             /* get_toplevel */
        req(ID_TOPLEVEL, 2, "s", title);                      /* set_title */
        req(ID_TOPLEVEL, 3, "s", APP_ID);                     /* set_app_id */
        req(ID_SURFACE, 6, "");                               /* commit: ask for the first configure */
        while (!configured && !closed)
                read_events();

        for (f = 0; !closed; f++) {
                int b = busy[0] ? 1 : 0;
                uint32_t *px = pixels + (size_t) b * (BUF_SIZE / 4);

                if (f == 0) /* both buffers start with the same background */
                        for (int i = 0; i < 2; i++)
                                draw(pixels + (size_t) i * (BUF_SIZE / 4), 0, true);
                else if (full)
                        draw(px, f, true);
                if (!full)
                        draw(px, f, false);
                if (configured) {
                        req(ID_XDG_SURFACE, 4, "u", configure_serial); /* ack_configure */
                        configured = false;
                }
                req(ID_SURFACE, 1, "uuu", ID_BUFFER0 + b, 0, 0); /* attach */
                if (f == 0 || full)
                        req(ID_SURFACE, global_version[0] >= 4 ? 9 : 2, "uuuu", 0, 0, WIDTH, HEIGHT);
                else
                        req(ID_SURFACE, global_version[0] >= 4 ? 9 : 2, "uuuu", 32, 32, SMALL, SMALL);
                req(ID_SURFACE, 3, "u", frame_cb = next_id++); /* frame */
                req(ID_SURFACE, 6, "");                        /* commit */
                busy[b] = true;
                while (frame_cb != 0 && !closed)
                        read_events();
                if (frames_done == 1)
                        t_first = now_s();
                if (frames_done > max_frames || now_s() - t_first >= max_seconds)
                        break;
                while (busy[0] && busy[1] && !closed) /* a free buffer to draw the next frame in */
                        read_events();
        }
        t_end = now_s();
        if (frames_done == 0)
                die("the window was closed before its first frame");
        printf("{\"mode\": \"%s\", \"first_frame_s\": %.6f, \"frames\": %u, \"seconds\": %.6f, \"fps\": %.3f, "
               "\"closed\": %s, \"first_frame_at\": %.6f, \"end_at\": %.6f}\n",
               full ? "full" : "small", t_first - t0, frames_done - 1, t_end - t_first,
               t_end > t_first ? (frames_done - 1) / (t_end - t_first) : 0.0, closed ? "true" : "false",
               t_first, t_end);
        return 0;
}
