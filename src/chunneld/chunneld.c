/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chunneld: one per running VM, on the host. Listens on the host's loopback for the ports the
 * containers listen on (port-listener reports them) and for manual forwards, and carries each
 * connection over its own hybrid vsock stream to port-listener. See docs/design/ports.md. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "bistro-ports.h"
#include "chunneld.h"
#include "fd-util.h"
#include "forward-table.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "path-util.h"
#include "relay.h"
#include "socket-util.h"
#include "string-util.h"
#include "time-util.h"
#include "udp-frame.h"
#include "vsock-hybrid.h"
#include "wire.h"

#define TCP BISTRO__PORTS__PROTOCOL__PROTOCOL_TCP
#define UDP BISTRO__PORTS__PROTOCOL__PROTOCOL_UDP
#define DIAL_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define WATCH_RETRY_USEC (1 * USEC_PER_SEC)
#define BUSY_RETRY_USEC (2 * USEC_PER_SEC)
#define VSOCK_GONE_USEC (10 * USEC_PER_SEC) /* vsock.sock absent this long: the VM is gone */
#define CONNS_MAX 4096u
#define CONTROL_CLIENTS_MAX 16u
#define UDP_FLOWS_MAX 64u /* per forward */
#define UDP_IDLE_USEC (60 * USEC_PER_SEC)
#define UDP_SWEEP_USEC (10 * USEC_PER_SEC)
#define UDP_QUEUE_MAX (256u * 1024u) /* framed datagrams waiting for the guest; beyond: dropped */

static const char *arg_vm = NULL;
static const char *arg_vsock = NULL;
static const char *arg_control = NULL;
static bool arg_sandbox = true;

typedef struct Chunneld Chunneld;
typedef struct Listener Listener;

typedef struct UdpFlow {
        Listener *l;
        int sock_fd; /* the listener's socket the client used (borrowed) */
        struct sockaddr_storage addr;
        socklen_t addr_len;
        VsockHybridDial *dial;
        int fd; /* the guest stream, once connected */
        sd_event_source *src;
        uint8_t *out; /* framed datagrams for the guest */
        size_t out_len;
        UdpFrameDecoder *in;
        uint64_t last_used;
} UdpFlow;

struct Listener {
        Chunneld *c;
        Fwd *f;
        int fd[2]; /* 0: 127.0.0.1, 1: ::1 */
        sd_event_source *src[2];
        UdpFlow *flows[UDP_FLOWS_MAX];
        size_t n_flows;
};

/* One forwarded TCP connection: dialing, then relaying. */
typedef struct Conn {
        Chunneld *c;
        struct Conn *prev, *next;
        int client;
        VsockHybridDial *dial;
        Relay *relay;
} Conn;

struct Chunneld {
        sd_event *event;
        FwdTable table;
        WireServer *control;
        WireConn *watch;
        VsockHybridDial *watch_dial;
        uint64_t watch_id;
        sd_event_source *watch_timer, *busy_timer, *udp_timer;
        uint64_t vsock_gone_since; /* 0: reachable (or not known to be gone) */
        Conn *conns;
        unsigned n_conns;
        const char *vsock_path;
};

/* ---- listeners ---- */

static int bind_one(int family, int type, uint16_t port) {
        _cleanup_close_ int fd = -EBADF;
        int one = 1;

        fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (family == AF_INET6) {
                struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
                                           .sin6_port = htons(port),
                                           .sin6_addr = IN6ADDR_LOOPBACK_INIT };

                (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
                if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        return -errno;
        } else {
                struct sockaddr_in sa = { .sin_family = AF_INET,
                                          .sin_port = htons(port),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

                if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        return -errno;
        }
        if (type == SOCK_STREAM && listen(fd, 128) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static void udp_flow_free(UdpFlow *fl);
static int on_tcp_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static int on_udp_datagram(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static void listener_free(Listener *l) {
        if (!l)
                return;
        while (l->n_flows > 0)
                udp_flow_free(l->flows[l->n_flows - 1]);
        for (int i = 0; i < 2; i++) {
                sd_event_source_disable_unref(l->src[i]);
                safe_close(l->fd[i]);
        }
        free(l);
}

static int fwd_open(Fwd *f, void *userdata) {
        Chunneld *c = userdata;
        Listener *l;
        int err[2];

        l = new0(Listener, 1);
        if (!l)
                return -ENOMEM;
        l->c = c;
        l->f = f;
        for (int i = 0; i < 2; i++) {
                l->fd[i] = bind_one(
                        i == 0 ? AF_INET : AF_INET6, f->protocol == UDP ? SOCK_DGRAM : SOCK_STREAM,
                        f->host_port);
                err[i] = l->fd[i] < 0 ? l->fd[i] : 0;
                if (l->fd[i] >= 0 && sd_event_add_io(
                                             c->event, &l->src[i], l->fd[i], EPOLLIN,
                                             f->protocol == UDP ? on_udp_datagram : on_tcp_accept, l) < 0)
                        l->fd[i] = safe_close(l->fd[i]);
        }
        if (l->fd[0] < 0 && l->fd[1] < 0) {
                listener_free(l);
                return err[0] == -EADDRINUSE || err[1] == -EADDRINUSE ? -EADDRINUSE : err[0] ?: err[1] ?: -EIO;
        }
        f->bound4 = l->fd[0] >= 0;
        f->bound6 = l->fd[1] >= 0;
        f->listener = l;
        log_debug(
                "Listening on %s port %u (%s) for %s:%u.", fwd_host_addresses(f), f->host_port,
                f->protocol == UDP ? "udp" : "tcp", f->container, f->container_port);
        return 0;
}

static void fwd_close_listener(Fwd *f, void *userdata) {
        log_debug("Closing host port %u (%s).", f->host_port, f->protocol == UDP ? "udp" : "tcp");
        listener_free(f->listener);
}

static const FwdOps fwd_ops = { .open = fwd_open, .close = fwd_close_listener };

/* ---- TCP connections ---- */

static void conn_free(Conn *conn) {
        Chunneld *c = conn->c;

        if (conn->prev)
                conn->prev->next = conn->next;
        else
                c->conns = conn->next;
        if (conn->next)
                conn->next->prev = conn->prev;
        c->n_conns--;
        vsock_hybrid_dial_cancel(conn->dial);
        relay_free(conn->relay);
        safe_close(conn->client);
        free(conn);
}

static void on_relay_done(void *userdata) {
        Conn *conn = userdata;

        conn->relay = NULL; /* freed by the relay */
        conn_free(conn);
}

static void on_conn_dialed(int fd, int error, const char *message, void *userdata) {
        Conn *conn = userdata;
        int r;

        conn->dial = NULL;
        if (error < 0) {
                log_debug_errno(
                        error, "Forwarded connection refused by the guest: %s", message ?: strerror(-error));
                tcp_reset_close(conn->client);
                conn->client = -EBADF;
                conn_free(conn);
                return;
        }
        r = relay_start(conn->c->event, conn->client, fd, on_relay_done, conn, &conn->relay);
        if (r < 0) {
                safe_close(fd);
                tcp_reset_close(conn->client);
                conn->client = -EBADF;
                conn_free(conn);
                return;
        }
        conn->client = -EBADF;
}

static int on_tcp_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Listener *l = userdata;
        Chunneld *c = l->c;
        Bistro__Ports__ForwardConnectRequest req = BISTRO__PORTS__FORWARD_CONNECT_REQUEST__INIT;
        _cleanup_close_ int cfd = -EBADF;
        Conn *conn;
        int r;

        cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0)
                return 0;
        if (c->n_conns >= CONNS_MAX) {
                tcp_reset_close(TAKE_FD(cfd));
                return 0;
        }
        conn = new0(Conn, 1);
        if (!conn)
                return 0;
        conn->c = c;
        conn->client = TAKE_FD(cfd);
        conn->next = c->conns;
        if (c->conns)
                c->conns->prev = conn;
        c->conns = conn;
        c->n_conns++;
        req.container = l->f->container;
        req.protocol = TCP;
        req.port = l->f->container_port;
        req.ipv6 = fd == l->fd[1];
        r = vsock_hybrid_dial_start(
                c->event, c->vsock_path, PORT_LISTENER_PORT, BISTRO__MESSAGE_TYPE__FORWARD_CONNECT_REQUEST,
                &req.base, DIAL_TIMEOUT_USEC, on_conn_dialed, conn, &conn->dial);
        if (r < 0) {
                log_debug_errno(r, "Cannot reach the guest for a forwarded connection: %m");
                tcp_reset_close(conn->client);
                conn->client = -EBADF;
                conn_free(conn);
        }
        return 0;
}

/* ---- UDP ---- */

static void udp_flow_free(UdpFlow *fl) {
        Listener *l = fl->l;

        for (size_t i = 0; i < l->n_flows; i++)
                if (l->flows[i] == fl) {
                        l->flows[i] = l->flows[--l->n_flows];
                        break;
                }
        vsock_hybrid_dial_cancel(fl->dial);
        sd_event_source_disable_unref(fl->src);
        safe_close(fl->fd);
        free(fl->out);
        free(fl->in);
        free(fl);
}

static void udp_flow_update(UdpFlow *fl) {
        (void) sd_event_source_set_io_events(fl->src, EPOLLIN | (fl->out_len > 0 ? EPOLLOUT : 0));
}

static int udp_flow_flush(UdpFlow *fl) {
        while (fl->fd >= 0 && fl->out_len > 0) {
                ssize_t n = send(fl->fd, fl->out, fl->out_len, MSG_NOSIGNAL);

                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                memmove(fl->out, fl->out + n, fl->out_len - (size_t) n);
                fl->out_len -= (size_t) n;
        }
        return 0;
}

static int on_udp_guest(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        UdpFlow *fl = userdata;

        if (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP))
                if (udp_flow_flush(fl) < 0)
                        goto gone;
        if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                const uint8_t *data;
                size_t space, len;
                uint8_t *p = udp_frame_decoder_space(fl->in, &space);
                ssize_t n = read(fd, p, space);

                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        goto gone;
                if (n == 0)
                        goto gone;
                if (n > 0) {
                        udp_frame_decoder_advance(fl->in, (size_t) n);
                        fl->last_used = now_usec(CLOCK_MONOTONIC);
                }
                while (udp_frame_decoder_next(fl->in, &data, &len) > 0) {
                        /* UDP: a datagram the client cannot take now is lost, as on any network. */
                        (void) sendto(
                                fl->sock_fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                                (struct sockaddr *) &fl->addr, fl->addr_len);
                        udp_frame_decoder_pop(fl->in);
                }
        }
        udp_flow_update(fl);
        return 0;
gone:
        udp_flow_free(fl);
        return 0;
}

static void on_udp_dialed(int fd, int error, const char *message, void *userdata) {
        UdpFlow *fl = userdata;

        fl->dial = NULL;
        if (error < 0) {
                log_debug_errno(error, "UDP flow refused by the guest: %s", message ?: strerror(-error));
                udp_flow_free(fl);
                return;
        }
        fl->fd = fd;
        if (sd_event_add_io(fl->l->c->event, &fl->src, fd, EPOLLIN, on_udp_guest, fl) < 0 ||
            udp_flow_flush(fl) < 0) {
                udp_flow_free(fl);
                return;
        }
        udp_flow_update(fl);
}

static UdpFlow *udp_flow_get(Listener *l, int sock_fd, const struct sockaddr_storage *sa, socklen_t sl) {
        Bistro__Ports__ForwardConnectRequest req = BISTRO__PORTS__FORWARD_CONNECT_REQUEST__INIT;
        UdpFlow *fl;
        size_t oldest = 0;

        for (size_t i = 0; i < l->n_flows; i++) {
                if (l->flows[i]->sock_fd == sock_fd && l->flows[i]->addr_len == sl &&
                    memcmp(&l->flows[i]->addr, sa, sl) == 0)
                        return l->flows[i];
                if (l->flows[i]->last_used < l->flows[oldest]->last_used)
                        oldest = i;
        }
        if (l->n_flows >= UDP_FLOWS_MAX)
                udp_flow_free(l->flows[oldest]);
        fl = new0(UdpFlow, 1);
        if (!fl)
                return NULL;
        fl->l = l;
        fl->sock_fd = sock_fd;
        fl->fd = -EBADF;
        memcpy(&fl->addr, sa, sl);
        fl->addr_len = sl;
        fl->in = new0(UdpFrameDecoder, 1);
        fl->out = malloc(UDP_QUEUE_MAX);
        if (!fl->in || !fl->out) {
                free(fl->in);
                free(fl->out);
                free(fl);
                return NULL;
        }
        l->flows[l->n_flows++] = fl;
        req.container = l->f->container;
        req.protocol = UDP;
        req.port = l->f->container_port;
        req.ipv6 = sock_fd == l->fd[1];
        if (vsock_hybrid_dial_start(
                    l->c->event, l->c->vsock_path, PORT_LISTENER_PORT,
                    BISTRO__MESSAGE_TYPE__FORWARD_CONNECT_REQUEST, &req.base, DIAL_TIMEOUT_USEC,
                    on_udp_dialed, fl, &fl->dial) < 0) {
                udp_flow_free(fl);
                return NULL;
        }
        return fl;
}

static int on_udp_datagram(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Listener *l = userdata;
        static uint8_t buf[UDP_DATAGRAM_MAX];

        /* A bounded batch per wake-up, so one busy client cannot starve the loop. */
        for (int k = 0; k < 64; k++) {
                struct sockaddr_storage sa;
                socklen_t sl = sizeof(sa);
                ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *) &sa, &sl);
                UdpFlow *fl;

                if (n < 0)
                        return 0;
                fl = udp_flow_get(l, fd, &sa, sl);
                if (!fl)
                        continue;
                fl->last_used = now_usec(CLOCK_MONOTONIC);
                if (fl->out_len + UDP_FRAME_HEADER + (size_t) n > UDP_QUEUE_MAX)
                        continue; /* the guest does not keep up: drop, as a full link would */
                (void) udp_frame_header((size_t) n, fl->out + fl->out_len);
                memcpy(fl->out + fl->out_len + UDP_FRAME_HEADER, buf, (size_t) n);
                fl->out_len += UDP_FRAME_HEADER + (size_t) n;
                if (fl->fd >= 0) {
                        if (udp_flow_flush(fl) < 0) {
                                udp_flow_free(fl);
                                continue;
                        }
                        udp_flow_update(fl);
                }
        }
        return 0;
}

static int on_udp_sweep(sd_event_source *s, uint64_t usec, void *userdata) {
        Chunneld *c = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        for (size_t i = 0; i < c->table.n; i++) {
                Listener *l = c->table.items[i]->listener;

                if (!l)
                        continue;
                for (size_t k = l->n_flows; k > 0; k--)
                        if (l->flows[k - 1]->last_used + UDP_IDLE_USEC < now)
                                udp_flow_free(l->flows[k - 1]);
        }
        (void) sd_event_source_set_time_relative(s, UDP_SWEEP_USEC);
        return 0;
}

/* ---- WatchPorts ---- */

static void watch_schedule(Chunneld *c);

static void apply_update(Chunneld *c, const Bistro__Ports__PortsUpdate *u) {
        _cleanup_free_ FwdPort *ports = NULL;
        size_t n = u ? u->n_ports : 0;

        ports = new0(FwdPort, n);
        if (!ports) {
                log_oom();
                return;
        }
        for (size_t i = 0; i < n; i++)
                ports[i] = (FwdPort){ .container = u->ports[i]->container,
                                      .port = u->ports[i]->port,
                                      .ipv4 = u->ports[i]->ipv4,
                                      .ipv6 = u->ports[i]->ipv6 };
        if (fwd_table_update(&c->table, ports, n) < 0)
                log_oom();
}

static int on_watch_message(
        WireConn *conn,
        uint32_t type,
        uint32_t flags,
        uint64_t id,
        const ProtobufCMessage *msg,
        void *userdata) {
        Chunneld *c = userdata;

        if (type != BISTRO__MESSAGE_TYPE__PORTS_UPDATE || flags != FRAME_EVENT)
                return -EBADMSG;
        apply_update(c, (const void *) msg);
        return 0;
}

static void watch_lost(Chunneld *c) {
        WireConn *w = TAKE_PTR(c->watch);

        /* Taken first: on_watch_close() then leaves the reference to us. */
        if (w) {
                wire_conn_close(w, 0);
                wire_conn_unref(w);
        }
        /* Without the guest's list, its ports are unknown: close them; they come back with the next
         * connection's first update. */
        apply_update(c, NULL);
        watch_schedule(c);
}

static void on_watch_close(WireConn *conn, int reason, void *userdata) {
        Chunneld *c = userdata;

        log_debug_errno(reason, "WatchPorts connection closed: %m");
        /* on_close runs inside the connection: drop it from a fresh stack frame. */
        if (c->watch == conn) {
                c->watch = NULL;
                wire_conn_unref(conn);
        }
        apply_update(c, NULL);
        watch_schedule(c);
}

static void on_watch_reply(
        WireConn *conn, int error, uint32_t type, const ProtobufCMessage *msg, void *userdata) {
        Chunneld *c = userdata;

        if (error < 0) {
                log_debug_errno(
                        error, "WatchPorts refused: %s", wire_error_message(msg) ?: strerror(-error));
                if (c->watch == conn)
                        watch_lost(c);
        }
}

static void on_watch_dialed(int fd, int error, const char *message, void *userdata) {
        Chunneld *c = userdata;
        Bistro__Ports__WatchPortsRequest req = BISTRO__PORTS__WATCH_PORTS_REQUEST__INIT;
        int r;

        c->watch_dial = NULL;
        if (error < 0) {
                uint64_t now = now_usec(CLOCK_MONOTONIC);

                if (error == -ENOENT || error == -ECONNREFUSED) {
                        if (c->vsock_gone_since == 0)
                                c->vsock_gone_since = now;
                        else if (now - c->vsock_gone_since >= VSOCK_GONE_USEC) {
                                log_info("The VM's vsock socket is gone: exiting.");
                                (void) sd_event_exit(c->event, 0);
                                return;
                        }
                } else
                        c->vsock_gone_since = 0;
                log_debug_errno(error, "Cannot reach port-listener yet: %m");
                watch_schedule(c);
                return;
        }
        c->vsock_gone_since = 0;
        r = wire_conn_new(c->event, fd, &c->watch);
        if (r < 0) {
                safe_close(fd);
                watch_schedule(c);
                return;
        }
        wire_conn_set_handlers(c->watch, on_watch_message, on_watch_close, c);
        r = wire_call(
                c->watch, BISTRO__MESSAGE_TYPE__WATCH_PORTS_REQUEST, &req.base, DIAL_TIMEOUT_USEC,
                on_watch_reply, c, &c->watch_id);
        if (r < 0)
                watch_lost(c);
        else
                log_info("Watching the ports of VM '%s'.", arg_vm);
}

static int on_watch_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Chunneld *c = userdata;
        int r;

        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (c->watch || c->watch_dial)
                return 0;
        r = vsock_hybrid_dial_start(
                c->event, c->vsock_path, PORT_LISTENER_PORT, 0, NULL, DIAL_TIMEOUT_USEC, on_watch_dialed, c,
                &c->watch_dial);
        if (r < 0)
                on_watch_dialed(-EBADF, r, NULL, c);
        return 0;
}

static void watch_schedule(Chunneld *c) {
        (void) sd_event_source_set_time_relative(c->watch_timer, WATCH_RETRY_USEC);
        (void) sd_event_source_set_enabled(c->watch_timer, SD_EVENT_ONESHOT);
}

static int on_busy_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Chunneld *c = userdata;

        /* A program on the host may have freed a port a container wants. */
        (void) fwd_table_retry(&c->table);
        (void) sd_event_source_set_time_relative(s, BUSY_RETRY_USEC);
        return 0;
}

/* ---- control socket ---- */

static int handle_list(Chunneld *c, WireConn *conn, uint64_t id) {
        Bistro__Ports__ListForwardsResponse resp = BISTRO__PORTS__LIST_FORWARDS_RESPONSE__INIT;
        _cleanup_free_ Bistro__Ports__Forward *fw = NULL;
        _cleanup_free_ Bistro__Ports__Forward **ptrs = NULL;
        size_t n = c->table.n;

        fw = new0(Bistro__Ports__Forward, n);
        ptrs = new0(Bistro__Ports__Forward *, n);
        if (!fw || !ptrs)
                return wire_reply_error(conn, id, -ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
                Fwd *f = c->table.items[i];

                bistro__ports__forward__init(&fw[i]);
                fw[i].container = f->container;
                fw[i].protocol = f->protocol;
                fw[i].container_port = f->container_port;
                fw[i].host_port = f->host_port;
                fw[i].manual = f->manual;
                fw[i].state = f->state;
                fw[i].reason = f->reason;
                fw[i].host_addresses = (char *) fwd_host_addresses(f);
                ptrs[i] = &fw[i];
        }
        resp.forwards = ptrs;
        resp.n_forwards = n;
        return wire_reply(conn, id, BISTRO__MESSAGE_TYPE__LIST_FORWARDS_RESPONSE, &resp.base);
}

static int on_control_message(
        WireConn *conn,
        uint32_t type,
        uint32_t flags,
        uint64_t id,
        const ProtobufCMessage *msg,
        void *userdata) {
        Chunneld *c = userdata;
        Bistro__Empty empty = BISTRO__EMPTY__INIT;
        int r;

        if (flags != FRAME_REQUEST)
                return -EBADMSG;
        switch (type) {
        case BISTRO__MESSAGE_TYPE__LIST_FORWARDS_REQUEST:
                return handle_list(c, conn, id);
        case BISTRO__MESSAGE_TYPE__ADD_FORWARD_REQUEST: {
                const Bistro__Ports__AddForwardRequest *req = (const void *) msg;
                _cleanup_free_ char *err = NULL;

                r = fwd_table_add_manual(
                        &c->table, req->container, req->protocol, req->container_port, req->host_port, &err);
                if (r < 0)
                        return wire_reply_error(conn, id, r, "%s", err ?: strerror(-r));
                log_info(
                        "Manual forward: host port %u (%s) to %s:%u.", req->host_port ?: req->container_port,
                        req->protocol == UDP ? "udp" : "tcp", req->container, req->container_port);
                return wire_reply(conn, id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
        }
        case BISTRO__MESSAGE_TYPE__REMOVE_FORWARD_REQUEST: {
                const Bistro__Ports__RemoveForwardRequest *req = (const void *) msg;

                r = fwd_table_remove_manual(&c->table, req->protocol, req->host_port);
                if (r < 0)
                        return wire_reply_error(
                                conn, id, r, "no manual %s forward of host port %u",
                                req->protocol == UDP ? "UDP" : "TCP", req->host_port);
                return wire_reply(conn, id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
        }
        default:
                return wire_reply_error(
                        conn, id, -EOPNOTSUPP, "chunneld does not handle %s",
                        message_type_to_string(type) ?: "this request");
        }
}

static int on_control_accept(WireServer *s, WireConn *conn, void *userdata) {
        uid_t uid;

        if (unix_peer_uid(wire_conn_get_fd(conn), &uid) < 0 || uid != getuid())
                return -EPERM;
        return 0;
}

/* ---- main ---- */

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Chunneld *c = userdata;

        (void) sd_event_exit(c->event, 0);
        return 0;
}

static int help(void) {
        printf("Usage: chunneld --vm NAME --vsock PATH --control PATH [--no-sandbox]\n"
               "Forwards the host's loopback ports to the containers of one VM (docs/design/ports.md).\n\n"
               "  --vm NAME        the VM (for messages)\n"
               "  --vsock PATH     the VM's hybrid vsock socket (<runtime dir>/vsock.sock)\n"
               "  --control PATH   our control socket (<runtime dir>/chunneld.sock), same directory\n"
               "  --no-sandbox     do not confine the process (debugging)\n");
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VM = 0x100,
                ARG_VSOCK,
                ARG_CONTROL,
                ARG_NO_SANDBOX
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "vm", required_argument, NULL, ARG_VM },
                { "vsock", required_argument, NULL, ARG_VSOCK },
                { "control", required_argument, NULL, ARG_CONTROL },
                { "no-sandbox", no_argument, NULL, ARG_NO_SANDBOX },
                {},
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VM:
                        arg_vm = optarg;
                        break;
                case ARG_VSOCK:
                        arg_vsock = optarg;
                        break;
                case ARG_CONTROL:
                        arg_control = optarg;
                        break;
                case ARG_NO_SANDBOX:
                        arg_sandbox = false;
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("unexpected argument '%s'", argv[optind]);
        if (!arg_vm || !arg_vsock || !arg_control)
                return log_usage_error("--vm, --vsock and --control are required");
        return 1;
}

static int run(int argc, char *argv[]) {
        Chunneld c = {};
        _cleanup_free_ char *dir = NULL, *vsock_dir = NULL, *vsock_base = NULL;
        const char *rundir;
        int fd, r;
        sigset_t mask;

        log_set_ident("chunneld");
        log_parse_environment();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        dir = strdup(arg_control);
        vsock_dir = strdup(arg_vsock);
        if (!dir || !vsock_dir)
                return log_oom();
        rundir = dirname(dir);
        if (!streq(rundir, dirname(vsock_dir)))
                return log_usage_error(
                        "--vsock and --control must be in the same directory (the VM's runtime dir)");
        vsock_base = strdup(strrchr(arg_vsock, '/') ? strrchr(arg_vsock, '/') + 1 : arg_vsock);
        if (!vsock_base)
                return log_oom();

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask failed: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        (void) umask(0077);

        r = sd_event_new(&c.event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");
        fwd_table_init(&c.table, &fwd_ops, &c);
        /* Every source (and so every timerfd and the signalfd) exists before the sandbox. */
        (void) sd_event_add_signal(c.event, NULL, SIGTERM, on_term, &c);
        (void) sd_event_add_signal(c.event, NULL, SIGINT, on_term, &c);
        r = sd_event_add_time_relative(c.event, &c.watch_timer, CLOCK_MONOTONIC, 0, 0, on_watch_timer, &c);
        if (r >= 0)
                r = sd_event_add_time_relative(
                        c.event, &c.busy_timer, CLOCK_MONOTONIC, BUSY_RETRY_USEC, 0, on_busy_timer, &c);
        if (r >= 0)
                r = sd_event_add_time_relative(
                        c.event, &c.udp_timer, CLOCK_MONOTONIC, UDP_SWEEP_USEC, 0, on_udp_sweep, &c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c.watch_timer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_source_set_enabled(c.busy_timer, SD_EVENT_ON);
        if (r >= 0)
                r = sd_event_source_set_enabled(c.udp_timer, SD_EVENT_ON);
        if (r < 0) {
                log_error_errno(r, "Cannot set up timers: %m");
                goto finish;
        }

        fd = unix_listen(arg_control, 16, 0600);
        if (fd < 0) {
                r = log_error_errno(fd, "Cannot listen on %s: %m", arg_control);
                goto finish;
        }
        r = wire_server_new(c.event, fd, CONTROL_CLIENTS_MAX, &c.control);
        if (r < 0) {
                safe_close(fd);
                log_error_errno(r, "Cannot serve %s: %m", arg_control);
                goto finish;
        }
        wire_server_set_handlers(c.control, on_control_accept, on_control_message, NULL, &c);
        wire_server_set_timeouts(c.control, 60 * USEC_PER_SEC, 10 * USEC_PER_SEC);

        /* One idle iteration arms the timers: sd-event reads the boot id then (a file open). */
        r = sd_event_run(c.event, 0);
        if (r < 0) {
                log_error_errno(r, "Event loop failed: %m");
                goto finish;
        }
        if (arg_sandbox) {
                r = chunneld_sandbox_enter(rundir);
                if (r < 0)
                        goto finish;
        } else if (chdir(rundir) < 0) {
                r = log_error_errno(errno, "Cannot enter %s: %m", rundir);
                goto finish;
        }
        /* Relative from here: the runtime dir is the working directory, sandboxed or not. */
        c.vsock_path = vsock_base;
        (void) sd_event_source_set_enabled(c.watch_timer, SD_EVENT_ONESHOT);
        log_info("Forwarding ports of VM '%s'%s.", arg_vm, arg_sandbox ? " (sandboxed)" : "");
        r = sd_event_loop(c.event);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");
finish:
        while (c.conns)
                conn_free(c.conns);
        vsock_hybrid_dial_cancel(c.watch_dial);
        if (c.watch) {
                WireConn *w = TAKE_PTR(c.watch);

                wire_conn_close(w, 0);
                wire_conn_unref(w);
        }
        fwd_table_done(&c.table);
        wire_server_free(c.control);
        sd_event_source_disable_unref(c.watch_timer);
        sd_event_source_disable_unref(c.busy_timer);
        sd_event_source_disable_unref(c.udp_timer);
        sd_event_unref(c.event);
        return r < 0 ? r : 0;
}

DEFINE_MAIN_FUNCTION(run);
