/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "maitred-process.h"
#include "maitred-service.h"
#include "socket-util.h"

#define SERVICE_CONF_MAX (64u * 1024u)

const ServiceSocketSpec service_sockets_default[SERVICE_SOCKETS_DEFAULT_N] = {
        { .name = "tremplin", .port = TREMPLIN_PORT, .backlog = 16 },
        { .name = "vshd", .port = VSHD_PORT, .backlog = 64 },
        { .name = "port-listener", .port = PORT_LISTENER_PORT, .backlog = 128 },
};

static void service_exited(Manager *m, pid_t pid, const siginfo_t *si, void *userdata);

/* Connections to a service that will not serve them: closed at once, so the host sees the end of
 * the stream rather than a connection that hangs. */
static int on_refuse(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        ServiceSocket *ss = userdata;

        for (unsigned i = 0; i < 64; i++) {
                int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (c >= 0) {
                        safe_close(c);
                        continue;
                }
                if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                        return 0;
                /* Level-triggered: a lasting error (EMFILE) would spin PID 1. The next change of
                 * the service's state turns refusing on again. */
                log_warning_errno(
                        errno, "Cannot refuse connections on vsock port %u, pausing: %m", ss->port);
                (void) sd_event_source_set_enabled(src, SD_EVENT_OFF);
                return 0;
        }
        return 0;
}

static void service_socket_update(ServiceSocket *ss) {
        bool refuse =
                !ss->service || ss->service->state == SERVICE_EXITED || ss->service->state == SERVICE_FAILED;

        if (ss->refuse_source)
                (void) sd_event_source_set_enabled(ss->refuse_source, refuse ? SD_EVENT_ON : SD_EVENT_OFF);
        if (refuse && !ss->refusing && ss->service && !ss->manager->shutting_down)
                log_notice(
                        "Service '%s' is not running: refusing connections to vsock port %u.", ss->name,
                        ss->port);
        ss->refusing = refuse;
}

static void service_set_state(Service *s, ServiceState state) {
        s->state = state;
        if (s->socket)
                service_socket_update(s->socket);
}

/* The socket named like the service, when no live service holds it (one given up or ended hands
 * it over, so a service started again by LaunchProcess serves its port). */
static void service_claim_socket(Service *s) {
        for (size_t i = 0; i < s->manager->n_sockets; i++) {
                ServiceSocket *ss = &s->manager->sockets[i];
                Service *old = ss->service;

                if (ss->fd < 0 || !streq(ss->name, s->name))
                        continue;
                if (old && old->state != SERVICE_EXITED && old->state != SERVICE_FAILED)
                        return;
                if (old)
                        old->socket = NULL;
                ss->service = s;
                s->socket = ss;
                return;
        }
}

static void service_release_socket(Service *s) {
        if (!s->socket)
                return;
        if (s->socket->service == s) {
                s->socket->service = NULL;
                service_socket_update(s->socket);
        }
        s->socket = NULL;
}

static int service_spawn(Service *s) {
        pid_t pid;
        int r;

        r = process_spawn_full(s->argv, s->envp, s->socket ? s->socket->fd : -EBADF, &pid);
        if (r < 0)
                return r;
        r = manager_watch_pid(s->manager, pid, service_exited, s);
        if (r < 0) {
                /* Unwatched, it is still reaped as an orphan; we only lose supervision. */
                service_set_state(s, SERVICE_FAILED);
                return log_error_errno(r, "Service '%s' runs unsupervised: %m", s->name);
        }
        s->pid = pid;
        service_set_state(s, SERVICE_RUNNING);
        return 0;
}

static void service_respawn(Service *s) {
        int r;

        s->respawn_timer = sd_event_source_disable_unref(s->respawn_timer);
        if (s->manager->shutting_down) {
                service_set_state(s, SERVICE_EXITED);
                return;
        }
        s->n_respawns++;
        r = service_spawn(s);
        if (r < 0) {
                service_set_state(s, SERVICE_FAILED);
                log_error_errno(r, "Failed to respawn service '%s', giving up: %m", s->name);
                return;
        }
        log_info("Service '%s' respawned (pid %d, respawn %u).", s->name, (int) s->pid, s->n_respawns);
}

static int on_respawn_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        service_respawn(userdata);
        return 0;
}

static void service_exited(Manager *m, pid_t pid, const siginfo_t *si, void *userdata) {
        Service *s = userdata;
        uint64_t now = 0;
        int r;

        s->pid = 0;
        if (si->si_code == CLD_EXITED)
                log_full(
                        si->si_status == 0 ? LOG_INFO : LOG_WARNING,
                        "Service '%s' (pid %d) exited with status %d.", s->name, (int) pid, si->si_status);
        else
                log_warning(
                        "Service '%s' (pid %d) killed by signal %s.", s->name, (int) pid,
                        strsignal(si->si_status));
        /* One state change: its socket refuses only when no respawn is coming. */
        if (!s->respawn || m->shutting_down) {
                service_set_state(s, SERVICE_EXITED);
                return;
        }

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (!ratelimit_test(&s->ratelimit, now)) {
                log_error(
                        "Service '%s' respawned %u times in %u s, giving up.", s->name,
                        SERVICE_RESPAWN_BURST, SERVICE_RESPAWN_INTERVAL_USEC / 1000000u);
                service_set_state(s, SERVICE_FAILED);
                return;
        }
        service_set_state(s, SERVICE_RESPAWNING);
        r = sd_event_add_time_relative(
                m->event, &s->respawn_timer, CLOCK_MONOTONIC, SERVICE_RESPAWN_DELAY_USEC, 0,
                on_respawn_timer, s);
        if (r < 0)
                service_respawn(s); /* no timer: at once rather than never */
}

static Service *service_free(Service *s) {
        if (!s)
                return NULL;
        if (s->pid > 0)
                manager_unwatch_pid(s->manager, s->pid);
        service_release_socket(s);
        sd_event_source_disable_unref(s->respawn_timer);
        free(s->name);
        strv_free(s->argv);
        strv_free(s->envp);
        free(s);
        return NULL;
}

int service_start_new(
        Manager *m, const char *name, char *const *argv, char *const *envp, bool respawn, Service **ret) {
        Service *s;
        int r;

        if (m->n_services >= SERVICES_MAX)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EMFILE), "Too many services, not starting '%s'.", name);
        s = calloc(1, sizeof(*s));
        if (!s)
                return log_oom();
        *s = (Service){
                .manager = m,
                .name = strdup(name),
                .argv = strv_copy_n(argv, strv_length(argv)),
                .envp = strv_copy_n(envp, strv_length(envp)),
                .respawn = respawn,
                .ratelimit = RATELIMIT_INIT(SERVICE_RESPAWN_INTERVAL_USEC, SERVICE_RESPAWN_BURST),
        };
        if (!s->name || !s->argv || !s->envp) {
                service_free(s);
                return log_oom();
        }
        service_claim_socket(s);
        r = service_spawn(s);
        if (r < 0) {
                log_error_errno(r, "Failed to start service '%s' (%s): %m", name, argv[0]);
                service_free(s);
                return r;
        }
        s->next = m->services;
        m->services = s;
        m->n_services++;
        log_info(
                "Started service '%s' (pid %d%s%s).", s->name, (int) s->pid, respawn ? ", respawn" : "",
                s->socket ? ", with its vsock socket" : "");
        if (ret)
                *ret = s;
        return 0;
}

static int name_cmp(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

int manager_load_services(Manager *m, const char *conf_dir) {
        _cleanup_free_ char *dir = NULL;
        struct dirent **list = NULL;
        int n;

        if (asprintf(&dir, "%s/services", conf_dir) < 0)
                return log_oom();
        n = scandir(dir, &list, NULL, name_cmp);
        if (n < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_warning_errno(errno, "Cannot read '%s', no services: %m", dir);
        }
        for (int i = 0; i < n; i++) {
                _cleanup_(service_config_done) ServiceConfig c = {};
                _cleanup_strv_free_ char **envp = NULL;
                _cleanup_free_ char *name = NULL, *path = NULL, *text = NULL;
                static char *const defaults[] = { (char *) "PATH=" MAITRED_DEFAULT_PATH,
                                                  (char *) "HOME=/root", (char *) "TERM=linux", NULL };
                unsigned line = 0;
                int r;

                name = service_name_from_filename(list[i]->d_name);
                if (!name)
                        goto next;
                if (asprintf(&path, "%s/%s", dir, list[i]->d_name) < 0) {
                        log_oom();
                        goto next;
                }
                r = read_file(path, SERVICE_CONF_MAX, &text, NULL);
                if (r < 0) {
                        log_error_errno(r, "Cannot read '%s', skipping: %m", path);
                        goto next;
                }
                r = service_config_parse(text, &c, &line);
                if (r < 0) {
                        log_error_errno(r, "%s:%u: invalid service file, skipping: %m", path, line);
                        goto next;
                }
                r = env_merge(c.env, strv_length(c.env), defaults, &envp);
                if (r < 0) {
                        log_oom();
                        goto next;
                }
                (void) service_start_new(m, name, c.argv, envp, c.respawn, NULL);
next:
                free(list[i]);
        }
        free(list);
        return 0;
}

void manager_free_services(Manager *m) {
        while (m->services) {
                Service *s = m->services;

                m->services = s->next;
                service_free(s);
        }
        m->n_services = 0;
}

int manager_open_service_sockets(Manager *m, const ServiceSocketSpec *specs, size_t n) {
        m->sockets = calloc(n, sizeof(ServiceSocket));
        if (!m->sockets)
                return log_oom();
        m->n_sockets = n;
        for (size_t i = 0; i < n; i++) {
                ServiceSocket *ss = &m->sockets[i];
                int r;

                *ss = (ServiceSocket){ .manager = m,
                                       .name = specs[i].name,
                                       .port = specs[i].port,
                                       .fd = -EBADF,
                                       .refusing = true };
                ss->fd = vsock_listen(specs[i].port, specs[i].backlog);
                if (ss->fd < 0) {
                        log_warning_errno(
                                ss->fd,
                                "Cannot listen on vsock port %u for service '%s', it listens itself: %m",
                                ss->port, ss->name);
                        continue;
                }
                /* Accepting in PID 1 must never block. The flag is shared with the service, whose
                 * accept loop takes EAGAIN. */
                r = fd_nonblock(ss->fd, true);
                if (r >= 0)
                        r = sd_event_add_io(m->event, &ss->refuse_source, ss->fd, EPOLLIN, on_refuse, ss);
                if (r < 0)
                        /* The port stays ours all the same; only the refusing is lost. */
                        log_warning_errno(
                                r, "Cannot watch vsock port %u, connections wait while '%s' is down: %m",
                                ss->port, ss->name);
        }
        return 0;
}

void manager_close_service_sockets(Manager *m) {
        for (Service *s = m->services; s; s = s->next)
                s->socket = NULL;
        for (size_t i = 0; i < m->n_sockets; i++) {
                m->sockets[i].refuse_source = sd_event_source_disable_unref(m->sockets[i].refuse_source);
                m->sockets[i].fd = safe_close(m->sockets[i].fd);
        }
        free(m->sockets);
        m->sockets = NULL;
        m->n_sockets = 0;
}
