/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* WatchPorts: every 500 ms, the LISTEN sockets of each running container, read from its init
 * process's /proc/PID/net/tcp{,6}; a PORTS_UPDATE goes out when the list changed. */
#include <errno.h>
#include <fcntl.h>
#include <lxc/lxccontainer.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bistro-ports.h"
#include "log.h"
#include "lxc-util.h"
#include "macro.h"
#include "port-listener.h"
#include "proc-net.h"
#include "proto-validate.h"
#include "time-util.h"
#include "wire.h"

#define POLL_USEC (500 * USEC_PER_MSEC)
#define PORTS_MAX 4096u
#define CACHE_MAX 1024u
#define PROC_READ_MAX (16u * 1024u * 1024u) /* listeners come first in the file: a cap loses none */

typedef struct Entry {
        char *container;
        uint16_t port;
        uint8_t families;
} Entry;

typedef struct List {
        Entry *entries;
        size_t n;
} List;

/* liblxc's init_pid() is a round trip to the container's monitor: cached, and re-validated by
 * the process's start time, which a reused pid does not have. */
typedef struct Cached {
        char *name;
        pid_t pid;
        unsigned long long start;
} Cached;

typedef struct Watch {
        Cached cache[CACHE_MAX];
        size_t n_cache;
        uint8_t families[65536];
        bool truncated_logged;
} Watch;

static void list_done(List *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->entries[i].container);
        free(l->entries);
        *l = (List){};
}

static bool list_equal(const List *a, const List *b) {
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (a->entries[i].port != b->entries[i].port ||
                    a->entries[i].families != b->entries[i].families ||
                    !streq(a->entries[i].container, b->entries[i].container))
                        return false;
        return true;
}

/* Field 22 of /proc/PID/stat, read through the /proc/PID directory fd. */
static int read_start_time(int dfd, unsigned long long *ret) {
        char buf[1024], *p;
        _cleanup_close_ int fd = -EBADF;
        ssize_t n;

        fd = openat(dfd, "stat", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        p = strrchr(buf, ')'); /* comm may contain anything */
        if (!p)
                return -EBADMSG;
        p++;
        for (int field = 2; field < 22; field++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return -EBADMSG;
        }
        if (sscanf(p, " %llu", ret) != 1)
                return -EBADMSG;
        return 0;
}

static int add_socket(const ProcNetSocket *s, void *userdata) {
        Watch *w = userdata;

        w->families[s->port] |= (uint8_t) proc_net_listener_families(s);
        return 0;
}

static int read_net_file(Watch *w, int dfd, const char *path) {
        ProcNetParser p = PROC_NET_PARSER_INIT;
        _cleanup_close_ int fd = -EBADF;
        char buf[64 * 1024];
        size_t total = 0;

        fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno; /* tcp6 is absent without IPv6 */
        while (total < PROC_READ_MAX) {
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                total += (size_t) n;
                (void) proc_net_feed(&p, buf, (size_t) n, add_socket, w);
        }
        (void) proc_net_finish(&p, add_socket, w);
        if (p.n_malformed > 0)
                log_debug("%s: %u malformed lines skipped.", path, p.n_malformed);
        return 0;
}

static Cached *cache_find(Watch *w, const char *name) {
        for (size_t i = 0; i < w->n_cache; i++)
                if (streq(w->cache[i].name, name))
                        return &w->cache[i];
        return NULL;
}

static void cache_drop(Watch *w, Cached *c) {
        free(c->name);
        *c = w->cache[--w->n_cache];
}

/* Opens /proc/PID of the container's init (the fd pins that process: a dead one fails lookups). */
static int container_proc_dir(Watch *w, const char *name) {
        Cached *c = cache_find(w, name);
        unsigned long long start;
        char path[64];
        pid_t pid;
        int dfd, r;

        if (c) {
                (void) snprintf(path, sizeof(path), "/proc/%d", (int) c->pid);
                dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0 && read_start_time(dfd, &start) >= 0 && start == c->start)
                        return dfd;
                safe_close(dfd);
                cache_drop(w, c);
        }
        r = pl_container_init_pid(name, &pid);
        if (r < 0)
                return r;
        (void) snprintf(path, sizeof(path), "/proc/%d", (int) pid);
        dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        r = read_start_time(dfd, &start);
        if (r < 0) {
                safe_close(dfd);
                return r;
        }
        if (w->n_cache < CACHE_MAX) {
                char *n = strdup(name);

                if (n)
                        w->cache[w->n_cache++] = (Cached){ .name = n, .pid = pid, .start = start };
        }
        return dfd;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int collect(Watch *w, List *ret) {
        char **names = NULL;
        List l = {};
        int n, r = 0;

        n = list_active_containers(STATEFUL_LXC_PATH, &names, NULL);
        if (n < 0) {
                n = 0;
                names = NULL;
        }
        if (n > 0)
                qsort(names, (size_t) n, sizeof(char *), cmp_names);
        /* Forget containers that stopped. */
        for (size_t i = 0; i < w->n_cache;) {
                bool found = false;

                for (int j = 0; j < n && !found; j++)
                        found = streq(names[j], w->cache[i].name);
                if (found)
                        i++;
                else
                        cache_drop(w, &w->cache[i]);
        }
        l.entries = calloc(PORTS_MAX, sizeof(Entry));
        if (!l.entries) {
                r = -ENOMEM;
                goto finish;
        }
        for (int j = 0; j < n && l.n < PORTS_MAX; j++) {
                _cleanup_close_ int dfd = -EBADF;

                /* Names come from the VM's abstract sockets: keep only those the protocol allows. */
                if (!proto_name_ok(names[j]) || (j > 0 && streq(names[j], names[j - 1])))
                        continue;
                dfd = container_proc_dir(w, names[j]);
                if (dfd < 0) {
                        log_debug_errno(dfd, "Container %s: %m", names[j]);
                        continue;
                }
                memset(w->families, 0, sizeof(w->families));
                (void) read_net_file(w, dfd, "net/tcp");
                (void) read_net_file(w, dfd, "net/tcp6");
                for (unsigned p = 1; p < 65536; p++) {
                        if (!w->families[p])
                                continue;
                        if (l.n >= PORTS_MAX) {
                                if (!w->truncated_logged)
                                        log_warning(
                                                "More than %u listening ports: the rest is not reported.",
                                                PORTS_MAX);
                                w->truncated_logged = true;
                                break;
                        }
                        l.entries[l.n].container = strdup(names[j]);
                        if (!l.entries[l.n].container) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        l.entries[l.n].port = (uint16_t) p;
                        l.entries[l.n].families = w->families[p];
                        l.n++;
                }
        }
        *ret = l;
        l = (List){};
finish:
        list_done(&l);
        lxc_containers_free(NULL, names, n);
        return r;
}

static int send_update(int fd, uint64_t id, const List *l) {
        Bistro__Ports__PortsUpdate u = BISTRO__PORTS__PORTS_UPDATE__INIT;
        _cleanup_free_ Bistro__Ports__ListeningPort *ports = NULL;
        _cleanup_free_ Bistro__Ports__ListeningPort **ptrs = NULL;

        if (l->n > 0) {
                ports = calloc(l->n, sizeof(*ports));
                ptrs = calloc(l->n, sizeof(*ptrs));
                if (!ports || !ptrs)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < l->n; i++) {
                bistro__ports__listening_port__init(&ports[i]);
                ports[i].container = l->entries[i].container;
                ports[i].port = l->entries[i].port;
                ports[i].ipv4 = l->entries[i].families & PROC_NET_IPV4;
                ports[i].ipv6 = l->entries[i].families & PROC_NET_IPV6;
                ptrs[i] = &ports[i];
        }
        u.n_ports = l->n;
        u.ports = ptrs;
        return wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__PORTS_UPDATE, FRAME_EVENT, id, &u.base, PL_REPLY_TIMEOUT_MS);
}

/* Waits until the deadline; > 0 when the host hung up (or broke the protocol by sending). */
static int wait_tick(int fd, usec_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int r = poll(&p, 1, deadline_poll_timeout_ms(deadline));
                char c;

                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r == 0)
                        return 0;
                if (r > 0) {
                        ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

                        if (n == 0)
                                return 1;
                        if (n > 0) {
                                log_debug("The watcher sent data: closing.");
                                return 1;
                        }
                        if (errno != EAGAIN && errno != EINTR)
                                return -errno;
                }
        }
}

int pl_watch_run(int fd, uint64_t id) {
        _cleanup_free_ Watch *w = NULL;
        List last = {};
        bool first = true;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return log_oom(), EXIT_FAILURE;
        r = pl_reply_empty(fd, id);
        if (r < 0)
                return EXIT_FAILURE;
        for (;;) {
                usec_t deadline = now_usec(CLOCK_MONOTONIC) + POLL_USEC;
                List cur = {};

                r = collect(w, &cur);
                if (r < 0)
                        log_warning_errno(r, "Cannot list the containers' ports: %m");
                else if (first || !list_equal(&cur, &last)) {
                        r = send_update(fd, id, &cur);
                        if (r < 0) {
                                log_debug_errno(r, "Cannot send an update: %m");
                                list_done(&cur);
                                break;
                        }
                        first = false;
                        list_done(&last);
                        last = cur;
                        cur = (List){};
                }
                list_done(&cur);
                r = wait_tick(fd, deadline);
                if (r != 0)
                        break;
        }
        list_done(&last);
        for (size_t i = 0; i < w->n_cache; i++)
                free(w->cache[i].name);
        return EXIT_SUCCESS;
}
