/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "build-id.h"
#include "concierge-manager.h"
#include "concierge-util.h"
#include "concierge-vm.h"
#include "fd-util.h"
#include "image-verify.h"
#include "log.h"
#include "path-lookup.h"
#include "path-util.h"
#include "string-util.h"
#include "time-util.h"

#define EXIT_BOUND_USEC (60 * USEC_PER_SEC) /* exiting: every VM is gone within this */
#define LOCK_CONTENT_MAX 4096u

unsigned manager_vms_running(const Manager *m) {
        unsigned n = 0;

        for (size_t i = 0; i < m->n_vms; i++)
                if (vm_is_up(m->vms[i]))
                        n++;
        return n;
}

static int on_flush_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        manager_check_exit(userdata);
        return 0;
}

void manager_check_exit(Manager *m) {
        if (!m->exiting)
                return;
        for (size_t i = 0; i < m->n_vms; i++)
                if (vm_is_up(m->vms[i]))
                        return;
        /* Replies are written from the loop: let the ExitRequest's answer out first (bounded by
         * the exit timer). */
        if (m->exit_conn && !wire_conn_is_closed(m->exit_conn) &&
            wire_conn_get_write_queued(m->exit_conn) > 0) {
                m->flush_timer = sd_event_source_disable_unref(m->flush_timer);
                if (sd_event_add_time_relative(
                            m->event, &m->flush_timer, CLOCK_MONOTONIC, 10 * USEC_PER_MSEC, 0,
                            on_flush_timer, m) >= 0)
                        return;
        }
        log_info("All VMs stopped; exiting.");
        (void) sd_event_exit(m->event, 0);
}

static int on_exit_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        for (size_t i = 0; i < m->n_vms; i++)
                if (vm_is_active(m->vms[i])) {
                        log_error("VM '%s' did not stop in time; killing it.", m->vms[i]->name);
                        (void) kill(m->vms[i]->vmm_pid, SIGKILL);
                }
        /* The child sources reap them; vmm's children die with it (PR_SET_PDEATHSIG). */
        return 0;
}

void manager_begin_exit(Manager *m) {
        if (m->exiting)
                return;
        log_info("Stopping every VM, then exiting.");
        m->exiting = true;
        (void) sd_notify(false, "STOPPING=1");
        for (size_t i = 0; i < m->n_vms; i++)
                (void) vm_stop(m->vms[i], NULL, 0, false);
        (void) sd_event_add_time_relative(
                m->event, &m->exit_timer, CLOCK_MONOTONIC, EXIT_BOUND_USEC, 0, on_exit_timer, m);
        manager_check_exit(m);
}

int manager_lock_data_dir(Manager *m, const char *socket, char **ret_holder) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        ssize_t n;

        path = path_join(m->state_root, CONCIERGE_LOCK_FILE);
        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int r = errno == EWOULDBLOCK ? -EBUSY : -errno;

                if (r == -EBUSY && ret_holder) {
                        char buf[LOCK_CONTENT_MAX + 1];

                        n = pread(fd, buf, LOCK_CONTENT_MAX, 0);
                        if (n > 0) {
                                buf[n] = 0;
                                buf[strcspn(buf, "\n")] = 0;
                                /* Written by another concierge of ours, but still only text. */
                                *ret_holder = utf8_is_valid(buf) && buf[0] ? strdup(buf) : NULL;
                        } else
                                *ret_holder = NULL;
                }
                return r;
        }
        if (ftruncate(fd, 0) < 0)
                return -errno;
        if (asprintf(&text, "%s\npid=%d\n", socket[0] ? socket : "(socket-activated)", (int) getpid()) < 0)
                return -ENOMEM;
        if (loop_write(fd, text, strlen(text)) < 0)
                return -EIO;
        m->lock_fd = TAKE_FD(fd);
        return 0;
}

int manager_init(Manager *m, const char *image_dir, const char *trust_dir) {
        const char *e;
        int r;

        m->lock_fd = -EBADF;
        r = bistro_data_dir(&m->state_root);
        if (r < 0)
                return log_error_errno(r, "Neither $XDG_DATA_HOME nor $HOME is set to an absolute path.");
        r = bistro_runtime_dir(&m->runtime_root);
        if (r == -EPERM)
                return log_error_errno(
                        r,
                        "$XDG_RUNTIME_DIR/bistro is not a private directory of ours (mode 0700, not a symlink).");
        if (r < 0)
                return log_error_errno(r, "$XDG_RUNTIME_DIR is not set (or not absolute): %m");
        m->tokens_dir = path_join(m->runtime_root, "tokens");
        if (!m->tokens_dir)
                return log_oom();
        m->vms_dir = path_join(m->state_root, "vms");
        if (!m->vms_dir)
                return log_oom();
        r = mkdir_p(m->vms_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create %s: %m", m->vms_dir);

        e = image_dir ?: getenv("BISTRO_TERMINA_IMAGE");
        if (e)
                m->image_dir = strdup(e);
        else {
                char *p = path_join(m->state_root, "images/termina");

                if (!p)
                        return log_oom();
                if (access(p, F_OK) >= 0)
                        m->image_dir = p;
                else {
                        free(p);
                        r = bistro_build_path("image/termina", &m->image_dir);
                        if (r == -ENOENT)
                                return log_error_errno(
                                        r,
                                        "No Termina image: not in %s/images/termina, and not running from a build tree (use --image-dir).",
                                        m->state_root);
                        if (r < 0)
                                return log_error_errno(r, "Cannot find the Termina image: %m");
                }
        }
        e = trust_dir ?: getenv("BISTRO_TRUSTED_KEYS_DIR");
        if (e)
                m->trust_dir = strdup(e);
        else {
                r = image_trusted_keys_dir(&m->trust_dir);
                if (r < 0)
                        return log_error_errno(r, "Cannot determine the trusted image key directory: %m");
        }
        r = bistro_find_program("vmm", "BISTRO_VMM", &m->vmm_path);
        if (r < 0)
                return log_error_errno(r, "Cannot find vmm (set $BISTRO_VMM): %m");
        if (!m->image_dir || !m->trust_dir)
                return log_oom();
        r = build_id_self(&m->build_id);
        if (r < 0)
                return log_error_errno(r, "Cannot compute our build id: %m");
        m->ready_timeout_usec = 120 * USEC_PER_SEC;
        e = getenv("BISTRO_READY_TIMEOUT");
        if (e) {
                uint32_t s;

                if (safe_atou32(e, &s) < 0 || s == 0 || s > 3600)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EINVAL), "Bad $BISTRO_READY_TIMEOUT '%s'.", e);
                m->ready_timeout_usec = s * USEC_PER_SEC;
        }
        log_info(
                "State %s, runtime %s, image %s, keys %s, vmm %s, build %s.", m->state_root, m->runtime_root,
                m->image_dir, m->trust_dir, m->vmm_path, m->build_id);
        return 0;
}

void manager_done(Manager *m) {
        for (size_t i = 0; i < m->n_vms; i++)
                vm_free(m->vms[i]);
        m->n_vms = 0;
        m->server = wire_server_free(m->server);
        m->exit_timer = sd_event_source_disable_unref(m->exit_timer);
        m->clock_timer = sd_event_source_disable_unref(m->clock_timer);
        m->flush_timer = sd_event_source_disable_unref(m->flush_timer);
        m->exit_conn = wire_conn_unref(m->exit_conn);
        m->event = sd_event_unref(m->event);
        free(m->state_root);
        free(m->vms_dir);
        free(m->runtime_root);
        free(m->socket_path);
        free(m->image_dir);
        free(m->trust_dir);
        free(m->vmm_path);
        free(m->build_id);
        /* Closing the fd drops the lock; the file stays (removing it would race a new concierge). */
        m->lock_fd = safe_close(m->lock_fd);
        free(m->tokens_dir);
}
