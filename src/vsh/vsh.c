/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsh: a shell or a command in a VM or in one of its containers (docs/design/vsh.md). Talks to
 * vshd (guest vsock port 9001) through the VM's hybrid vsock socket; no daemon in the data path.
 *
 *   vsh [OPTIONS] VM [CONTAINER] [-- CMD [ARGS...]]
 *
 * Exit status: the remote one; 128+N when the remote process was killed by signal N; 255 when the
 * session could not be set up or the connection was lost. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "bistro-ports.h"
#include "cli-util.h"
#include "config.h"
#include "fd-util.h"
#include "frame.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "message-type.h"
#include "path-lookup.h"
#include "path-util.h"
#include "proto-validate.h"
#include "string-util.h"
#include "vsock-hybrid.h"
#include "wire.h"

#define EXIT_VSH 255
#define CONNECT_TIMEOUT_MS 10000
#define SETUP_TIMEOUT_MS 60000
#define OUT_HIGH (128u * 1024u)
#define ENV_MAX 256u

static const char *arg_user = "";
static const char *arg_cwd = "";
static char *arg_env[ENV_MAX];
static size_t arg_n_env;
static int arg_tty = -1; /* -1: when stdin is a terminal */

static struct termios saved_termios;
static bool termios_saved;
static int signal_pipe[2] = { -EBADF, -EBADF };

static void restore_terminal(void) {
        if (termios_saved) {
                (void) tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
                termios_saved = false;
        }
}

static void on_signal(int sig) {
        int saved = errno;
        unsigned char c = (unsigned char) sig;

        if (write(signal_pipe[1], &c, 1) < 0) {
                /* The pipe is full: the loop has signals to read anyway. */
        }
        errno = saved;
}

static int help(void) {
        printf("vsh [OPTIONS] VM [CONTAINER] [-- CMD [ARGS...]]\n\n"
               "Runs a login shell, or CMD, in the VM (no CONTAINER) or in one of its containers.\n"
               "The VM must be running (vmc start VM); the container too (vmc container VM NAME).\n\n"
               "  --user USER      run as USER (default: in a container the user with uid 1000,\n"
               "                   else root; in the VM root)\n"
               "  --cwd DIR        start in DIR (absolute; default: the user's home)\n"
               "  --env KEY=VALUE  set a variable (repeatable); TERM and LANG are passed by default\n"
               "  -t               use a pty even when stdin is not a terminal\n"
               "  -T               no pty: pipes, stdout and stderr kept apart\n"
               "  -h, --help       this help\n"
               "      --version    the version\n\n"
               "A pty is used when stdin is a terminal. The exit status is the remote one (128+N\n"
               "when the remote process was killed by signal N), 255 when the session could not be\n"
               "set up or the connection was lost. In pipe mode SIGINT, SIGTERM and SIGHUP are\n"
               "passed on to the remote process.\n");
        return 0;
}

static int add_env(const char *kv) {
        size_t l;

        if (!proto_env_ok(kv))
                return log_usage_error("invalid --env '%s' (expected KEY=VALUE).", kv);
        l = strcspn(kv, "=") + 1;
        /* A later entry replaces an earlier one with the same key. */
        for (size_t i = 0; i < arg_n_env; i++)
                if (strneq(arg_env[i], kv, l)) {
                        arg_env[i] = (char *) kv;
                        return 0;
                }
        if (arg_n_env >= ENV_MAX)
                return log_usage_error("too many --env (at most %u).", ENV_MAX);
        arg_env[arg_n_env++] = (char *) kv;
        return 0;
}

/* Splits at the first "--": options and VM [CONTAINER] before it, the command after it. */
static int parse_argv(
        int argc, char *argv[], char **ret_vm, char **ret_container, char ***ret_cmd, size_t *ret_n_cmd) {
        enum {
                ARG_VERSION = 0x100,
                ARG_USER,
                ARG_CWD,
                ARG_ENV
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "user", required_argument, NULL, ARG_USER },
                { "cwd", required_argument, NULL, ARG_CWD },
                { "env", required_argument, NULL, ARG_ENV },
                {},
        };
        int n_opts = argc, c, r;
        char *pos[2];
        int n_pos = 0;

        for (int i = 1; i < argc; i++)
                if (streq(argv[i], "--")) {
                        n_opts = i;
                        break;
                }
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(n_opts, argv, "htT", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("vsh %s\n", BISTRO_VERSION);
                        return 0;
                case ARG_USER:
                        if (!proto_user_ok(optarg))
                                return log_usage_error("invalid user name '%s'.", optarg);
                        arg_user = optarg;
                        break;
                case ARG_CWD:
                        if (!proto_abs_path_ok(optarg, false))
                                return log_usage_error("--cwd needs an absolute path, not '%s'.", optarg);
                        arg_cwd = optarg;
                        break;
                case ARG_ENV:
                        r = add_env(optarg);
                        if (r < 0)
                                return r;
                        break;
                case 't':
                        arg_tty = 1;
                        break;
                case 'T':
                        arg_tty = 0;
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        for (int i = optind; i < n_opts; i++) {
                if (n_pos >= 2)
                        return log_usage_error(
                                "unexpected argument '%s' (put the command after --).", argv[i]);
                pos[n_pos++] = argv[i];
        }
        if (n_pos == 0)
                return log_usage_error("which VM? Usage: vsh [OPTIONS] VM [CONTAINER] [-- CMD [ARGS...]]");
        if (!name_is_valid(pos[0], PROTO_NAME_MAX))
                return log_usage_error("invalid VM name '%s'.", pos[0]);
        if (n_pos == 2 && !proto_name_ok(pos[1]))
                return log_usage_error("invalid container name '%s'.", pos[1]);
        *ret_vm = pos[0];
        *ret_container = n_pos == 2 ? pos[1] : (char *) "";
        *ret_cmd = n_opts < argc ? argv + n_opts + 1 : NULL;
        *ret_n_cmd = n_opts < argc ? (size_t) (argc - n_opts - 1) : 0;
        if (n_opts < argc && *ret_n_cmd == 0)
                return log_usage_error("no command after --.");
        if (*ret_n_cmd > PROTO_ARGV_MAX)
                return log_usage_error("too many arguments (at most %u).", PROTO_ARGV_MAX);
        for (size_t i = 0; i < *ret_n_cmd; i++)
                if (!proto_text_ok((*ret_cmd)[i], PROTO_ARG_MAX, true))
                        return log_usage_error(
                                "argument %zu is longer than %u bytes, not UTF-8 or holds control "
                                "characters other than newline and tab.",
                                i + 1, PROTO_ARG_MAX);
        return 1;
}

static void window_size(uint32_t *rows, uint32_t *cols) {
        struct winsize w = {};

        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &w) < 0 || w.ws_row == 0)
                if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) < 0 || w.ws_row == 0)
                        w = (struct winsize){ .ws_row = 24, .ws_col = 80 };
        *rows = MIN(MAX(w.ws_row, 1u), 1000u);
        *cols = MIN(MAX(w.ws_col, 1u), 1000u);
}

typedef struct Client {
        int sock;
        bool tty;
        FrameDecoder dec;
        uint8_t rbuf[64 * 1024];
        size_t rlen, roff;
        uint8_t *obuf;
        size_t olen, ooff, oalloc;
        /* One chunk of output waiting for stdout or stderr. */
        uint8_t pbuf[PROTO_VSH_DATA_MAX];
        size_t plen, poff;
        int pfd;
        bool stdin_open;
        bool have_status;
        int exit_code;
} Client;

static int queue_frame(Client *c, const ProtobufCMessage *m) {
        _cleanup_free_ uint8_t *f = NULL;
        size_t n;
        int r;

        r = frame_encode(BISTRO__MESSAGE_TYPE__HOST_MESSAGE, FRAME_EVENT, 0, m, &f, &n);
        if (r < 0)
                return r;
        if (c->ooff > 0) {
                memmove(c->obuf, c->obuf + c->ooff, c->olen - c->ooff);
                c->olen -= c->ooff;
                c->ooff = 0;
        }
        if (c->olen + n > c->oalloc) {
                size_t a = MAX(c->oalloc * 2, c->olen + n);
                uint8_t *p = realloc(c->obuf, a);

                if (!p)
                        return -ENOMEM;
                c->obuf = p;
                c->oalloc = a;
        }
        memcpy(c->obuf + c->olen, f, n);
        c->olen += n;
        return 0;
}

static int send_stdin(Client *c, const uint8_t *p, size_t n, bool eof) {
        Bistro__Vsh__HostMessage h = BISTRO__VSH__HOST_MESSAGE__INIT;
        Bistro__Vsh__DataMessage d = BISTRO__VSH__DATA_MESSAGE__INIT;

        d.stream = BISTRO__VSH__STREAM__STREAM_STDIN;
        d.data.data = (uint8_t *) p;
        d.data.len = n;
        d.eof = eof;
        h.msg_case = BISTRO__VSH__HOST_MESSAGE__MSG_DATA;
        h.data = &d;
        return queue_frame(c, &h.base);
}

static int send_resize(Client *c) {
        Bistro__Vsh__HostMessage h = BISTRO__VSH__HOST_MESSAGE__INIT;
        Bistro__Vsh__WindowResize w = BISTRO__VSH__WINDOW_RESIZE__INIT;

        window_size(&w.rows, &w.cols);
        h.msg_case = BISTRO__VSH__HOST_MESSAGE__MSG_RESIZE;
        h.resize = &w;
        return queue_frame(c, &h.base);
}

static int send_signal(Client *c, int sig) {
        Bistro__Vsh__HostMessage h = BISTRO__VSH__HOST_MESSAGE__INIT;
        Bistro__Vsh__SignalMessage s = BISTRO__VSH__SIGNAL_MESSAGE__INIT;

        s.signal = (Bistro__Vsh__Signal) sig; /* the enum's values are the signal numbers */
        h.msg_case = BISTRO__VSH__HOST_MESSAGE__MSG_SIGNAL;
        h.signal = &s;
        return queue_frame(c, &h.base);
}

/* Handles decoded frames until the buffer is used up or output waits for stdout/stderr. */
static int process_input(Client *c) {
        while (c->roff < c->rlen && c->plen == 0 && !c->have_status) {
                _cleanup_message_ ProtobufCMessage *m = NULL;
                const Bistro__Vsh__GuestMessage *g;
                Frame f = {};
                size_t used = 0;
                int r;

                r = frame_decoder_feed(&c->dec, c->rbuf + c->roff, c->rlen - c->roff, &used, &f);
                c->roff += used;
                if (r < 0)
                        return log_error_errno(r, "bad data from vshd: %m");
                if (r == 0)
                        break;
                if (f.header.type != BISTRO__MESSAGE_TYPE__GUEST_MESSAGE) {
                        frame_done(&f);
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EBADMSG), "unexpected message type %u from vshd.",
                                f.header.type);
                }
                r = wire_unpack(f.header.type, f.payload, f.header.length, &m);
                frame_done(&f);
                if (r < 0)
                        return log_error_errno(r, "invalid message from vshd: %m");
                g = (const Bistro__Vsh__GuestMessage *) m;
                if (g->msg_case == BISTRO__VSH__GUEST_MESSAGE__MSG_STATUS) {
                        c->have_status = true;
                        if (g->status->result_case == BISTRO__VSH__EXIT_STATUS__RESULT_KILLED_BY_SIGNAL)
                                c->exit_code = 128 + (int) g->status->killed_by_signal;
                        else
                                c->exit_code = (int) g->status->exit_code;
                } else if (g->data->data.len > 0) {
                        memcpy(c->pbuf, g->data->data.data, g->data->data.len);
                        c->plen = g->data->data.len;
                        c->poff = 0;
                        c->pfd = g->data->stream == BISTRO__VSH__STREAM__STREAM_STDERR ? STDERR_FILENO
                                                                                       : STDOUT_FILENO;
                }
        }
        if (c->roff == c->rlen)
                c->roff = c->rlen = 0;
        return 0;
}

static int write_pending(Client *c) {
        ssize_t n = write(c->pfd, c->pbuf + c->poff, c->plen - c->poff);

        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN)
                        return 0;
                return -errno;
        }
        c->poff += (size_t) n;
        if (c->poff == c->plen)
                c->plen = c->poff = 0;
        return 0;
}

static int relay(Client *c) {
        int r;

        for (;;) {
                struct pollfd p[4];
                enum {
                        P_SOCK,
                        P_STDIN,
                        P_OUT,
                        P_SIG
                };

                r = process_input(c);
                if (r < 0)
                        return r;
                if (c->have_status && c->plen == 0)
                        return 0;

                p[P_SOCK] = (struct pollfd){ .fd = c->sock };
                if (c->plen == 0 && c->rlen == 0 && !c->have_status)
                        p[P_SOCK].events |= POLLIN;
                if (c->ooff < c->olen)
                        p[P_SOCK].events |= POLLOUT;
                p[P_STDIN] =
                        (struct pollfd){ .fd = c->stdin_open && c->olen - c->ooff < OUT_HIGH ? STDIN_FILENO
                                                                                             : -1,
                                         .events = POLLIN };
                p[P_OUT] = (struct pollfd){ .fd = c->plen > 0 ? c->pfd : -1, .events = POLLOUT };
                p[P_SIG] = (struct pollfd){ .fd = signal_pipe[0], .events = POLLIN };

                r = poll(p, ELEMENTSOF(p), -1);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "poll: %m");
                }

                if (p[P_SIG].revents & POLLIN) {
                        unsigned char sigs[16];
                        ssize_t n = read(signal_pipe[0], sigs, sizeof(sigs));

                        for (ssize_t i = 0; i < n; i++) {
                                int sig = sigs[i];

                                if (sig == SIGWINCH) {
                                        if (c->tty)
                                                (void) send_resize(c);
                                } else if (c->tty) {
                                        /* Our terminal went away or we were told to stop: the
                                         * remote session is hung up when we close. */
                                        restore_terminal();
                                        return -(128 + sig);
                                } else
                                        (void) send_signal(c, sig);
                        }
                }

                if (p[P_SOCK].revents & POLLOUT) {
                        ssize_t n = send(
                                c->sock, c->obuf + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL | MSG_DONTWAIT);

                        if (n < 0 && errno != EAGAIN && errno != EINTR)
                                return -ECONNRESET;
                        if (n > 0)
                                c->ooff += (size_t) n;
                }
                if (p[P_SOCK].events & POLLIN && p[P_SOCK].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t n = recv(c->sock, c->rbuf, sizeof(c->rbuf), MSG_DONTWAIT);

                        if (n < 0 && errno != EAGAIN && errno != EINTR)
                                return -ECONNRESET;
                        if (n == 0)
                                return -ECONNRESET;
                        if (n > 0) {
                                c->rlen = (size_t) n;
                                c->roff = 0;
                        }
                } else if (p[P_SOCK].revents & POLLERR)
                        return -ECONNRESET;

                if (p[P_OUT].revents) {
                        r = write_pending(c);
                        if (r == -EPIPE)
                                return -(128 + SIGPIPE);
                        if (r < 0)
                                return log_error_errno(r, "cannot write output: %m");
                }

                if (p[P_STDIN].revents) {
                        uint8_t buf[PROTO_VSH_DATA_MAX];
                        ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

                        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (n <= 0) {
                                c->stdin_open = false;
                                r = send_stdin(c, NULL, 0, true);
                        } else
                                r = send_stdin(c, buf, (size_t) n, false);
                        if (r < 0)
                                return log_error_errno(r, "%m");
                }
        }
}

/* A message from vshd: guest text, shown escaped. */
static void log_guest_error(const char *m) {
        _cleanup_free_ char *e = escape_for_terminal(m, strlen(m), true);

        log_error("%s", e ?: "(out of memory)");
}

static int connect_vm(const char *vm) {
        _cleanup_free_ char *rt = NULL, *path = NULL;
        int fd;

        fd = bistro_runtime_dir(&rt);
        if (fd == -EINVAL)
                return log_error_errno(fd, "$XDG_RUNTIME_DIR is not set (or not absolute).");
        if (fd == -EPERM)
                return log_error_errno(
                        fd, "$XDG_RUNTIME_DIR/bistro is not a directory of ours with mode 0700.");
        if (fd < 0)
                return log_error_errno(fd, "Cannot use $XDG_RUNTIME_DIR/bistro: %m");
        if (asprintf(&path, "%s/vms/%s/vsock.sock", rt, vm) < 0)
                return log_oom();
        fd = vsock_hybrid_connect(path, VSHD_PORT, CONNECT_TIMEOUT_MS);
        if (fd == -ENOENT || fd == -ECONNREFUSED)
                return log_error_errno(fd, "VM '%s' is not running; start it with: vmc start %s", vm, vm);
        if (fd == -ECONNABORTED)
                return log_error_errno(
                        fd, "vshd does not answer in VM '%s' (is the VM still starting?)", vm);
        if (fd < 0)
                return log_error_errno(fd, "cannot connect to VM '%s': %m", vm);
        return fd;
}

static int run(int argc, char *argv[]) {
        Bistro__Vsh__SetupConnectionRequest req = BISTRO__VSH__SETUP_CONNECTION_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        const Bistro__Vsh__SetupConnectionResponse *sr;
        char *vm = NULL, *container = NULL, **cmd = NULL, *env[ENV_MAX + 2], term[256], lang[256];
        size_t n_cmd = 0, n_env = 0;
        Client c = { .sock = -EBADF, .dec = FRAME_DECODER_INIT, .stdin_open = true };
        uint32_t rtype = 0;
        const char *e;
        int r;

        cli_setup("vsh");

        r = parse_argv(argc, argv, &vm, &container, &cmd, &n_cmd);
        if (r <= 0)
                return r;

        c.tty = arg_tty >= 0 ? arg_tty : isatty(STDIN_FILENO);
        /* TERM and LANG from here unless --env sets them. */
        e = getenv("TERM");
        if (e && snprintf(term, sizeof(term), "TERM=%s", e) < (int) sizeof(term) && proto_env_ok(term))
                env[n_env++] = term;
        e = getenv("LANG");
        if (e && snprintf(lang, sizeof(lang), "LANG=%s", e) < (int) sizeof(lang) && proto_env_ok(lang))
                env[n_env++] = lang;
        for (size_t i = 0; i < arg_n_env; i++) {
                bool replaced = false;
                size_t l = strcspn(arg_env[i], "=") + 1;

                for (size_t j = 0; j < n_env; j++)
                        if (strneq(env[j], arg_env[i], l)) {
                                env[j] = arg_env[i];
                                replaced = true;
                        }
                if (!replaced) {
                        if (n_env >= ENV_MAX)
                                return log_usage_error("too many variables (at most %u).", ENV_MAX);
                        env[n_env++] = arg_env[i];
                }
        }

        req.container = container;
        req.user = (char *) arg_user;
        req.cwd = (char *) arg_cwd;
        req.argv = cmd;
        req.n_argv = n_cmd;
        req.env = env;
        req.n_env = n_env;
        req.tty = c.tty;
        if (c.tty)
                window_size(&req.window_rows, &req.window_cols);

        if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                return log_error_errno(errno, "pipe: %m"), EXIT_VSH;
        (void) signal(SIGPIPE, SIG_IGN);

        c.sock = connect_vm(vm);
        if (c.sock < 0)
                return EXIT_VSH;

        r = wire_call_sync(
                c.sock, BISTRO__MESSAGE_TYPE__SETUP_CONNECTION_REQUEST, &req.base,
                BISTRO__MESSAGE_TYPE__SETUP_CONNECTION_RESPONSE, SETUP_TIMEOUT_MS, &rtype, &resp);
        if (r < 0) {
                if (rtype == BISTRO__MESSAGE_TYPE__ERROR_REPLY)
                        log_guest_error(wire_error_message(resp) ?: strerror(-r));
                else if (r == -ECONNRESET)
                        log_error(
                                "vshd in VM '%s' closed the connection during setup (see: vmc logs %s)", vm,
                                vm);
                else
                        log_error_errno(r, "session setup failed: %m");
                return EXIT_VSH;
        }
        if (rtype != BISTRO__MESSAGE_TYPE__SETUP_CONNECTION_RESPONSE)
                return log_error("unexpected answer from vshd (type %u).", rtype), EXIT_VSH;
        sr = (const Bistro__Vsh__SetupConnectionResponse *) resp;
        if (sr->status != BISTRO__VSH__CONNECTION_STATUS__CONNECTION_STATUS_READY)
                return log_guest_error(sr->error), EXIT_VSH;

        /* Signals become messages (pipe mode) or end the session (pty mode); never kill us with the
         * terminal in raw mode. No SA_RESTART: a blocked write returns and the loop sees them. */
        struct sigaction sa = { .sa_handler = on_signal };
        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);
        (void) sigaction(SIGHUP, &sa, NULL);
        (void) sigaction(SIGWINCH, &sa, NULL);

        if (c.tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_termios) >= 0) {
                struct termios raw = saved_termios;

                termios_saved = true;
                (void) atexit(restore_terminal);
                cfmakeraw(&raw);
                (void) tcsetattr(STDIN_FILENO, TCSADRAIN, &raw);
        }
        (void) fd_nonblock(c.sock, true);

        r = relay(&c);
        restore_terminal();
        frame_decoder_done(&c.dec);
        free(c.obuf);
        safe_close(c.sock);
        if (r <= -128)
                return -r;
        if (r < 0) {
                if (r == -ECONNRESET)
                        log_error("connection to VM '%s' lost before the exit status.", vm);
                return EXIT_VSH;
        }
        return c.exit_code;
}

DEFINE_MAIN_FUNCTION(run);
